"""Estimator parameters: the constructor's, routed ones (``optimizer__learning_rate``)
and keyword arguments of the model builder, in one flat scikit-learn ``get_params``.

:class:`ParameterMixin` gives :class:`~skkeras.wrappers.BaseWrapper` its
``get_params``/``set_params``/``clone`` behaviour; :mod:`skkeras.routing` splits the
flat dict by destination.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import keras

from .routing import (
    ROUTING_PREFIXES,
    accepts_var_keyword,
    route_params,
    routing_prefix,
    signature_parameters,
)


class ParameterMixin:
    """Parameters beyond the signature: routed names and builder keywords, kept in
    ``_extra_params``; a constructor argument a subclass does not store keeps its default."""

    _extra_params: dict[str, Any]

    def _extra_param_names(self) -> list[str]:
        """Routed and builder keyword parameters held beyond the signature's."""
        return sorted(self._extra_params)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn reads the signature on every get_params call (about 0.15 ms);
        # a search calls it thousands of times, and a class's signature never changes.
        return list(constructor_parameter_names(cls))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, routed ones included. A constructor argument the subclass's
        ``__init__`` does not store (``optimizer__learning_rate=0.001``) has its default."""
        defaults = signature_defaults(type(self))
        params = {}
        for name in self._get_param_names():
            if name in self.__dict__:
                value = self.__dict__[name]
            elif name in self._extra_params:
                value = self._extra_params[name]
            elif name in defaults:
                value = defaults[name]
            else:
                value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            params[name] = value
        params.update(self._extra_params)
        return params

    def set_params(self, **params: Any) -> Any:
        """Set parameters, including routed ones (``optimizer__learning_rate``) and
        keyword arguments of the model builder that were never given before."""
        valid = self.get_params(deep=False)
        declared = set(self._get_param_names())
        for name, value in params.items():
            if name in declared:
                setattr(self, name, value)
                continue
            if name in valid or routing_prefix(name) or self._builder_accepts(name):
                self._extra_params[name] = value
                continue
            raise ValueError(
                f"Invalid parameter {name} for estimator {type(self).__name__}: it is not "
                "a parameter of the estimator, not routed with a prefix "
                f"({', '.join(p + '__' for p in ROUTING_PREFIXES)}) and not an argument "
                "of the model builder. This issue can likely be resolved by setting this "
                f"parameter in the constructor: `{type(self).__name__}({name}=...)`. Valid "
                f"parameters: {sorted(valid)}."
            )
        return self

    def __sklearn_clone__(self) -> Any:
        # clone deep-copies parameters; Keras objects of unregistered custom classes
        # (a loss, a metric) deep-copy only inside a scope that names their classes.
        from .custom_objects import custom_object_references, resolve_references

        refs = custom_object_references(list(self.get_params(deep=False).values()))
        with keras.saving.custom_object_scope(resolve_references(refs)):
            return super().__sklearn_clone__()

    def _builder_accepts(self, name: str) -> bool:
        try:
            spec = self._model_spec()
        except ValueError:
            return False
        if isinstance(spec, keras.Model) or not callable(spec):
            return False
        return name in signature_parameters(spec) or accepts_var_keyword(spec)

    def _routed(self, destination: str) -> dict[str, Any]:
        return route_params(self.get_params(deep=False), destination)

    def _routed_flat(self, destination: str) -> dict[str, Any]:
        """Routed arguments of one constructor: ``optimizer__a__b`` (routed further,
        to nothing skkeras knows) is left out, as scikeras does."""
        return {k: v for k, v in self._routed(destination).items() if "__" not in k}


def _constructors(cls: type) -> Iterator[Any]:
    """The ``__init__`` of ``cls`` and, while each takes ``**kwargs`` and so passes
    them on, those of its bases."""
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        yield init
        if not accepts_var_keyword(init):
            return


@functools.cache
def constructor_parameter_names(cls: type) -> tuple[str, ...]:
    """The estimator parameters of ``cls``: its constructor's named arguments, and those
    of the base constructors its ``**kwargs`` reach (a subclass that declares only its
    own parameters keeps the inherited ones)."""
    names = {
        name for init in _constructors(cls) for name in signature_parameters(init)
        if name != "self"
    }
    return tuple(sorted(names))


@functools.cache
def signature_defaults(cls: type) -> dict[str, Any]:
    """Default values of the parameters :func:`constructor_parameter_names` lists
    (the nearest constructor's default wins)."""
    defaults: dict[str, Any] = {}
    for init in _constructors(cls):
        for name, parameter in signature_parameters(init).items():
            if parameter.default is not parameter.empty:
                defaults.setdefault(name, parameter.default)
    return defaults

"""Pickling Keras models that use unregistered custom objects, without patching Keras.

A Keras 3 model pickles itself as its ``.keras`` serialization, which names custom
classes and functions (a loss, a metric, a layer, a ``Model`` subclass) only by
their registered name; unpickling fails unless they were registered with
``keras.saving.register_keras_serializable``. scikeras worked around this by
replacing ``keras.Model.__reduce__`` for everyone on import.

The same holds for every Keras object that pickles through Keras's saving
(``KerasSaveable``: models, layers, losses, metrics, optimizers), given as an
estimator parameter (``loss=MyLoss()``) or fitted (``model_``). Here each is
pickled inside a :class:`Portable`, which also records where each custom object
it uses is defined (``module`` and qualified name). Unpickling imports them and
loads the object inside a ``keras.saving.custom_object_scope`` that lasts only
for that load; :func:`scoped_deepcopy` does the same for ``copy.deepcopy``
(which ``sklearn.base.clone`` applies to parameters). Objects must be
importable by the unpickling process: defined at module level in an importable
module (or in ``__main__`` when unpickled by the same script); objects defined
inside a function cannot be found again and are left to Keras's own error.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
from collections.abc import Mapping
from typing import Any

import keras

#: Keras objects that pickle (and deep-copy) through Keras's saving.
_SAVEABLE = (keras.layers.Layer, keras.losses.Loss, keras.metrics.Metric, keras.optimizers.Optimizer)

__all__ = [
    "Portable", "custom_object_references", "portable", "resolve_references", "scoped_deepcopy",
]


def _is_keras_owned(module: str | None) -> bool:
    return module is None or module == "keras" or module.startswith(("keras.", "tensorflow", "jax"))


def _reference(obj: Any) -> tuple[str, tuple[str, str]] | None:
    """(the name Keras looks the object up by, (module, qualified name)), or None for
    Keras's own objects, registered ones, and objects that cannot be imported again."""
    if inspect.isfunction(obj) or inspect.isclass(obj):
        target = obj
    elif isinstance(obj, keras.layers.Layer | keras.losses.Loss | keras.metrics.Metric
                    | keras.optimizers.Optimizer | keras.initializers.Initializer
                    | keras.regularizers.Regularizer | keras.constraints.Constraint):
        target = type(obj)
    else:
        return None
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if _is_keras_owned(module) or "<locals>" in qualname or "<lambda>" in qualname:
        return None
    if inspect.isclass(target):
        name = keras.saving.get_registered_name(target)
        if name != target.__name__:  # registered under a package name: Keras finds it itself
            return None
    else:
        name = target.__name__
    return name, (module, qualname)


def _held(obj: Any) -> list[Any]:
    """Functions, initializers, regularizers and constraints an object holds as attributes."""
    return [value for value in vars(obj).values()
            if inspect.isfunction(value) or isinstance(
                value, keras.initializers.Initializer | keras.regularizers.Regularizer
                | keras.constraints.Constraint)]


def _objects_of(model: Any) -> list[Any]:
    """The object; for a layer or model its layers, the objects they hold and the
    compile arguments."""
    found: list[Any] = [model, *_held(model)]
    if not isinstance(model, keras.layers.Layer):
        return found
    for layer in model._flatten_layers(include_self=False, recursive=True):
        found.append(layer)
        found.extend(_held(layer))
    compile_config = getattr(model, "_compile_config", None)
    config = getattr(compile_config, "config", None)
    if isinstance(config, Mapping):
        for value in config.values():
            found.extend(_flatten(value))
    for name in ("loss", "optimizer"):
        found.extend(_flatten(getattr(model, name, None)))
    return found


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in _flatten(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _flatten(item)]
    return [] if value is None or isinstance(value, str) else [value]


def custom_object_references(value: Any) -> dict[str, tuple[str, str]]:
    """Where the unregistered custom objects a Keras object (or a list or dict of them)
    uses are defined: ``{name Keras looks up: (module, qualified name)}``."""
    references: dict[str, tuple[str, str]] = {}
    for item in _flatten(value):
        if isinstance(item, _SAVEABLE):
            for obj in _objects_of(item):
                found = _reference(obj)
                if found is not None:
                    references.setdefault(*found)
    return references


def resolve_references(references: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The objects named by :func:`custom_object_references`, imported; names that no
    longer import are left out (Keras then reports what it cannot find)."""
    objects = {}
    for name, (module_name, qualname) in references.items():
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            continue
        objects[name] = obj
    return objects


def _restore(payload: bytes, references: Mapping[str, tuple[str, str]]) -> Any:
    with keras.saving.custom_object_scope(resolve_references(references)):
        return pickle.loads(payload)


class Portable:
    """A Keras object that pickles with the references of its custom objects; it
    unpickles as the object itself (not as a :class:`Portable`)."""

    def __init__(self, obj: Any, references: dict[str, tuple[str, str]]) -> None:
        self.obj = obj
        self.references = references

    def __reduce__(self) -> tuple[Any, tuple[bytes, dict[str, tuple[str, str]]]]:
        with keras.saving.custom_object_scope(resolve_references(self.references)):
            payload = pickle.dumps(self.obj, protocol=pickle.HIGHEST_PROTOCOL)
        return _restore, (payload, self.references)


def portable(value: Any) -> Any:
    """``value`` ready for pickling: each Keras object in it (it may be a list, tuple or
    dict of them) that uses unregistered custom objects is wrapped in a
    :class:`Portable`; anything else is returned as it is."""
    if isinstance(value, _SAVEABLE):
        references = custom_object_references(value)
        return Portable(value, references) if references else value
    if type(value) in (list, tuple):
        items = [portable(item) for item in value]
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return type(value)(items) if changed else value
    if type(value) is dict:
        items = {key: portable(item) for key, item in value.items()}
        changed = any(items[key] is not value[key] for key in value)
        return items if changed else value
    return value


def scoped_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy(value)`` with the custom objects it uses in scope, so that Keras
    objects of unregistered classes (which deep-copy through Keras's saving) copy."""
    references = custom_object_references(value)
    if not references:
        return copy.deepcopy(value, memo)
    with keras.saving.custom_object_scope(resolve_references(references)):
        return copy.deepcopy(value, memo)

"""Routing of estimator parameters to the places that consume them.

An estimator's parameters are a flat dict (scikit-learn's ``get_params``). Some of
them belong to Keras objects: ``optimizer__learning_rate`` configures the
optimizer, ``fit__validation_freq`` goes to ``Model.fit`` and so on. This module
names the prefixes and splits a flat dict into the group for one destination.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

#: Every prefix a routed parameter may carry, and what it configures.
ROUTING_PREFIXES: dict[str, str] = {
    "model": "keyword arguments of the model builder",
    "optimizer": "the optimizer's constructor",
    "loss": "the loss's constructor",
    "metrics": "the metrics' constructors",
    "callbacks": "the callbacks' constructors",
    "fit": "keras.Model.fit",
    "predict": "keras.Model.predict",
    "compile": "keras.Model.compile",
}


def routing_prefix(name: str) -> str | None:
    """The routing prefix of a parameter name, or None for a plain name.

    ``"optimizer__learning_rate"`` has prefix ``"optimizer"``;
    ``"optimizer"`` and ``"learning_rate"`` have none.
    """
    head, sep, _ = name.partition("__")
    if sep and head in ROUTING_PREFIXES:
        return head
    return None


def route_params(params: Mapping[str, Any], destination: str) -> dict[str, Any]:
    """The parameters addressed to ``destination``, with the prefix removed.

    ``route_params({"optimizer__learning_rate": 0.1, "epochs": 5}, "optimizer")``
    gives ``{"learning_rate": 0.1}``. Nested names keep their inner prefixes:
    ``callbacks__stop__patience`` routed to ``callbacks`` is ``stop__patience``.
    """
    prefix = destination + "__"
    return {
        name[len(prefix) :]: value
        for name, value in params.items()
        if name.startswith(prefix)
    }


def signature_parameters(func: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The named parameters of ``func`` (``*args``/``**kwargs`` excluded)."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins and C callables have no signature
        return {}
    return {
        name: p
        for name, p in parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def accepts_var_keyword(func: Callable[..., Any]) -> bool:
    """Whether ``func`` takes ``**kwargs``."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


def check_routed_arguments(func: Callable[..., Any], kwargs: Mapping[str, Any], prefix: str) -> None:
    """Raise a ValueError naming the routed ``prefix__*`` arguments ``func`` does not take
    (Python would raise a TypeError, far from the parameter at fault)."""
    if not kwargs or accepts_var_keyword(func):
        return
    accepted = signature_parameters(func)
    unknown = sorted(name for name in kwargs if name not in accepted)
    if unknown:
        name = getattr(func, "__qualname__", getattr(func, "__name__", repr(func)))
        raise ValueError(
            f"{prefix}__ parameter(s) {unknown} are not arguments of {name}; "
            f"it takes {sorted(accepted)}."
        )

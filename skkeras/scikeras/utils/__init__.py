"""scikeras's ``scikeras.utils``: the full snake-case names of Keras losses and metrics."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import keras

__all__ = ["loss_name", "metric_name"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _resolve(value: Any, kind: str, base: type, get: Callable[[Any], Any]) -> Any:
    if inspect.isclass(value):
        value = value()
    if not (isinstance(value, str | base) or callable(value)):
        raise TypeError(
            f"``{kind}`` must be a string, a function, an instance of "
            f"``keras.{kind}es.{base.__name__}`` or a subclass of it, got {value!r}."
            if kind == "loss" else
            f"``{kind}`` must be a string, a function, an instance of "
            f"``keras.metrics.Metric`` or a subclass of it, got {value!r}."
        )
    return get(value)


def loss_name(loss: str | keras.losses.Loss | type | Callable[..., Any]) -> str:
    """The full snake-case name of a Keras loss: ``loss_name("mse")`` is
    ``"mean_squared_error"``, and so is the name of the class or function.

    Raises
    ------
    TypeError
        If ``loss`` is not a string, a loss function, a ``keras.losses.Loss``
        instance or a subclass of it.
    ValueError
        If Keras does not know the string.
    """
    resolved = _resolve(loss, "loss", keras.losses.Loss, keras.losses.get)
    if isinstance(resolved, keras.losses.Loss):
        return _snake(type(resolved).__name__)
    name = getattr(resolved, "__name__", None)
    return _snake(name) if name is not None else resolved


def metric_name(metric: str | keras.metrics.Metric | type | Callable[..., Any]) -> str:
    """The full name of a Keras metric: snake case for a ``Metric`` class or
    instance (``"binary_crossentropy"`` for ``BinaryCrossentropy``), a function's
    own name otherwise (``metric_name("mse")`` is ``"mean_squared_error"``).

    Raises
    ------
    TypeError
        If ``metric`` is not a string, a function, a ``keras.metrics.Metric``
        instance or a subclass of it.
    ValueError
        If Keras does not know the string.
    """
    resolved = _resolve(metric, "metric", keras.metrics.Metric, keras.metrics.get)
    if isinstance(resolved, keras.metrics.Metric):
        return _snake(type(resolved).__name__)
    return getattr(resolved, "__name__", resolved)

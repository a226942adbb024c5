"""The estimators' parameter constraints, and the settings of one fit.

:data:`PARAMETER_CONSTRAINTS` declares what each estimator parameter accepts, in
scikit-learn's ``_parameter_constraints`` form: ``fit`` checks them before any
work (a ValueError names the parameter and what it accepts).

:class:`FitSettings` resolves the training settings of one fit from three
places, as scikeras does: an argument of ``fit()`` beats the routed parameter
``fit__name``, which beats the plain parameter ``name``. ``batch_size=-1`` (and
``validation_batch_size=-1``) mean the whole data as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import keras
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from .routing import route_params

_BATCH_SIZE = [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1}), None]

#: What each parameter of :class:`~skkeras.wrappers.BaseWrapper` accepts.
PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    # model/build_fn: checked when building, where the message can say more
    "model": "no_validation",
    "build_fn": "no_validation",
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "optimizer": "no_validation",
    "loss": "no_validation",
    "metrics": "no_validation",
    "batch_size": _BATCH_SIZE,
    "validation_batch_size": _BATCH_SIZE,
    "verbose": ["verbose", StrOptions({"auto"})],
    "callbacks": [list, tuple, Mapping, keras.callbacks.Callback, type, None],
    "validation_split": [Interval(Real, 0, 1, closed="left")],
    "shuffle": ["boolean"],
    "run_eagerly": ["boolean"],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "inputs": [Mapping, None],
    "engine": [StrOptions({"auto", "fast", "keras"})],
}

#: The classifier's own parameters.
CLASSIFIER_CONSTRAINTS: dict[str, list[Any]] = {
    "class_weight": [Mapping, StrOptions({"balanced"}), None],
    "threshold": [Interval(Real, 0, 1, closed="both"), None],
}

#: Training settings that ``fit()`` arguments and ``fit__`` parameters may override.
FIT_SETTINGS = ("epochs", "batch_size", "verbose", "shuffle", "validation_split", "validation_batch_size")


@dataclass
class FitSettings:
    """How one fit trains, once ``fit()`` arguments, ``fit__*`` and plain parameters
    are resolved. ``fit_kwargs`` are what is left for ``keras.Model.fit``."""

    epochs: int
    batch_size: int | None
    verbose: Any
    shuffle: bool
    validation_split: float
    validation_batch_size: int | None
    validation_data: Any = None
    #: Callbacks given as ``fit__callbacks`` or ``fit(callbacks=...)``, added to ``callbacks``.
    extra_callbacks: Any = None
    fit_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls, estimator: Any, call_kwargs: Mapping[str, Any], epochs: int | None = None,
    ) -> FitSettings:
        """The settings of a fit of ``estimator`` called with ``call_kwargs``;
        ``epochs`` (partial_fit's one epoch, initialize's none) beats them all."""
        call_kwargs = dict(call_kwargs)
        if epochs is not None:  # partial_fit (initialize takes no arguments)
            for name in ("epochs", "initial_epoch"):
                if name in call_kwargs:
                    raise InvalidParameterError(  # a ValueError and, as scikeras, a TypeError
                        f"Invalid argument `{name}` to `partial_fit`: `partial_fit` always "
                        "trains for 1 epoch, from the current one. Use fit(X, y, epochs=...) "
                        "to train for several."
                    )
        routed = route_params(estimator.get_params(deep=False), "fit")
        values = {}
        for name in FIT_SETTINGS:
            where, value = f"the parameter {name!r}", getattr(estimator, name)
            if name in routed:
                where, value = f"the parameter 'fit__{name}'", routed.pop(name)
            if name in call_kwargs:
                where, value = f"fit({name}=...)", call_kwargs.pop(name)
            if where != f"the parameter {name!r}":
                _check(name, value, where, type(estimator).__name__)
            values[name] = value
        if epochs is not None:
            values["epochs"] = epochs
        validation_data = call_kwargs.pop("validation_data", routed.pop("validation_data", None))
        extra_callbacks = call_kwargs.pop("callbacks", routed.pop("callbacks", None))
        return cls(
            **values, validation_data=validation_data, extra_callbacks=extra_callbacks,
            fit_kwargs={**routed, **call_kwargs},
        )

    def batch_size_for(self, n_samples: int, default: Callable[[int], int]) -> int:
        """Samples per step for ``n_samples`` rows: -1 is all of them, None the default."""
        if self.batch_size == -1:
            return max(1, n_samples)
        return int(self.batch_size) if self.batch_size is not None else default(n_samples)

    def validation_batch_size_for(self, n_samples: int) -> int | None:
        if self.validation_batch_size == -1:
            return max(1, n_samples)
        return self.validation_batch_size


def _check(name: str, value: Any, where: str, owner: str) -> None:
    """Validate a per-call or routed setting as its parameter is validated."""
    try:
        validate_parameter_constraints(
            {name: PARAMETER_CONSTRAINTS[name]}, {name: value}, caller_name=owner
        )
    except ValueError as error:
        raise type(error)(f"{where}: {error}") from None

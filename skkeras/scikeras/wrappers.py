"""scikeras's ``scikeras.wrappers`` with scikeras 0.13's defaults.

The classes are skkeras's estimators with the defaults of scikeras's signatures:
``epochs=1``, ``optimizer="rmsprop"``, ``verbose=1``, and ``batch_size=None``
meaning Keras's own default of 32 samples (skkeras's classes default to 200
epochs, Adam, quiet training and ``min(200, n_samples)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from .. import wrappers as _skkeras

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor"]

#: Keras's batch size when ``Model.fit`` is given none; scikeras's ``batch_size=None``.
KERAS_DEFAULT_BATCH_SIZE = 32


class BaseWrapper(_skkeras.BaseWrapper):
    """skkeras's :class:`~skkeras.wrappers.BaseWrapper` with scikeras's defaults.

    Parameters are those of :class:`skkeras.wrappers.BaseWrapper`; the defaults
    that differ are ``optimizer="rmsprop"``, ``verbose=1``, ``epochs=1`` and
    ``batch_size=None`` meaning 32.
    """

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | keras.Model | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 1,
        callbacks: Sequence[Any] | Mapping[str, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 1,
        inputs: Any = None,
        engine: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, build_fn=build_fn, warm_start=warm_start, random_state=random_state,
            optimizer=optimizer, loss=loss, metrics=metrics, batch_size=batch_size,
            validation_batch_size=validation_batch_size, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split, shuffle=shuffle,
            run_eagerly=run_eagerly, epochs=epochs, inputs=inputs, engine=engine, **kwargs,
        )

    def _default_batch_size(self, n_samples: int) -> int:
        return KERAS_DEFAULT_BATCH_SIZE


class KerasClassifier(_skkeras.KerasClassifier, BaseWrapper):
    """skkeras's :class:`~skkeras.wrappers.KerasClassifier` with scikeras's defaults
    (see :class:`BaseWrapper`); ``class_weight`` as in skkeras."""

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | keras.Model | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 1,
        callbacks: Sequence[Any] | Mapping[str, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 1,
        class_weight: Mapping[Any, float] | str | None = None,
        inputs: Any = None,
        engine: str = "auto",
        threshold: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, build_fn=build_fn, warm_start=warm_start, random_state=random_state,
            optimizer=optimizer, loss=loss, metrics=metrics, batch_size=batch_size,
            validation_batch_size=validation_batch_size, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split, shuffle=shuffle,
            run_eagerly=run_eagerly, epochs=epochs, inputs=inputs, engine=engine,
            class_weight=class_weight, threshold=threshold, **kwargs,
        )


class KerasRegressor(_skkeras.KerasRegressor, BaseWrapper):
    """skkeras's :class:`~skkeras.wrappers.KerasRegressor` with scikeras's defaults
    (see :class:`BaseWrapper`)."""

"""The training loop: skkeras's own seeded batch order, fed to ``keras.Model.fit``.

skkeras decides the order of samples in every epoch (see
:func:`skkeras.seeding.epoch_permutation`), instead of letting Keras shuffle, so
that fits repeat exactly and a short fit is the prefix of a longer one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from . import engine as fast_engine
from .inputs import n_rows, take_rows
from .seeding import epoch_permutation

#: Keras ``fit`` arguments that skkeras sets itself; users set them as estimator params.
RESERVED_FIT_ARGUMENTS = frozenset(
    {"x", "y", "batch_size", "epochs", "sample_weight", "shuffle", "steps_per_epoch",
     "class_weight", "initial_epoch"}
)


def default_batch_size(n_samples: int) -> int:
    """scikit-learn's MLP default: ``min(200, n_samples)``."""
    return max(1, min(200, n_samples))


class EpochBatches(keras.utils.PyDataset):
    """All batches of a fit, epoch after epoch, as one indexable sequence.

    Batch ``i`` is batch ``i % n_batches`` of epoch ``first_epoch + i // n_batches``;
    it depends on nothing but its index, so Keras may read batches in any order or
    more than once (it peeks to learn shapes) without changing the training order.
    """

    def __init__(
        self,
        x: np.ndarray | Mapping[str, np.ndarray],
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        *,
        batch_size: int,
        epochs: int,
        first_epoch: int,
        seed: int,
        shuffle: bool,
    ) -> None:
        super().__init__()
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = batch_size
        self.epochs = epochs
        self.first_epoch = first_epoch
        self.seed = seed
        self.shuffle = shuffle
        self.n_samples = n_rows(x)
        self.batches_per_epoch = -(-self.n_samples // batch_size)
        self._order_cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.batches_per_epoch * self.epochs

    def epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n_samples)
        if self._order_cache is None or self._order_cache[0] != epoch:
            self._order_cache = (epoch, epoch_permutation(self.seed, epoch, self.n_samples))
        return self._order_cache[1]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        epoch, batch = divmod(index, self.batches_per_epoch)
        order = self.epoch_order(self.first_epoch + epoch)
        rows = order[batch * self.batch_size : (batch + 1) * self.batch_size]
        if self.sample_weight is None:
            return take_rows(self.x, rows), self.y[rows]
        return take_rows(self.x, rows), self.y[rows], self.sample_weight[rows]


def train_with_fit(
    model: keras.Model,
    x: np.ndarray | Mapping[str, np.ndarray],
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    first_epoch: int,
    seed: int,
    shuffle: bool,
    callbacks: Sequence[keras.callbacks.Callback],
    validation_data: tuple[Any, ...] | None,
    validation_batch_size: int | None,
    verbose: int,
    fit_kwargs: Mapping[str, Any],
) -> dict[str, list[float]]:
    """Train with ``keras.Model.fit`` over skkeras's batch order; return the history."""
    reserved = RESERVED_FIT_ARGUMENTS & set(fit_kwargs)
    if reserved:
        raise ValueError(
            f"fit__{sorted(reserved)[0]} is set by skkeras; use the estimator parameter "
            "(epochs, batch_size, shuffle, class_weight, or fit's sample_weight) instead."
        )
    batches = EpochBatches(
        x, y, sample_weight, batch_size=batch_size, epochs=epochs,
        first_epoch=first_epoch, seed=seed, shuffle=shuffle,
    )
    history = model.fit(
        batches,
        epochs=epochs,
        steps_per_epoch=batches.batches_per_epoch,
        shuffle=False,
        callbacks=list(callbacks),
        validation_data=validation_data,
        validation_batch_size=validation_batch_size,
        verbose=verbose,
        **fit_kwargs,
    )
    return {name: [float(v) for v in values] for name, values in history.history.items()}


#: Values of the estimators' ``engine`` parameter.
ENGINES = ("auto", "fast", "keras")


def train(
    model: keras.Model,
    x: np.ndarray | Mapping[str, np.ndarray],
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    engine: str = "auto",
    jit_compile: bool | None = None,
    fit_kwargs: Mapping[str, Any],
    callbacks: Sequence[keras.callbacks.Callback],
    **settings: Any,
) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch history.

    ``engine="auto"`` takes the compiled fast path (:mod:`skkeras.engine`) where it
    applies and ``keras.Model.fit`` elsewhere; ``"fast"`` insists on the fast path
    (an error says what prevents it); ``"keras"`` always uses ``Model.fit``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    reasons = fast_engine.blockers(
        model, callbacks, fit_kwargs, n_samples=n_rows(x), batch_size=settings["batch_size"]
    ) if engine != "keras" else []
    if engine == "fast" and reasons:
        raise ValueError("engine='fast' cannot train this model: " + "; ".join(reasons) + ".")
    if engine == "keras" or reasons:
        return train_with_fit(
            model, x, y, sample_weight, fit_kwargs=fit_kwargs, callbacks=callbacks, **settings
        )
    if jit_compile is None:
        jit_compile = bool(model.jit_compile) if fast_engine.backend_name() == "tensorflow" else True
    return fast_engine.train_fast(
        model, x, y, sample_weight, callbacks=callbacks, jit_compile=jit_compile, **settings
    )

"""The training loop: skkeras's own seeded batch order, fed to ``keras.Model.fit``.

skkeras decides the order of samples in every epoch (see
:func:`skkeras.seeding.epoch_permutation`), instead of letting Keras shuffle, so
that fits repeat exactly and a short fit is the prefix of a longer one.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import keras
import numpy as np

from . import engine as fast_engine
from .inputs import n_rows, take_rows
from .routing import check_routed_arguments
from .seeding import epoch_permutation, seeded_torch_dropout

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


def train_with_fit(job: TrainingJob) -> dict[str, list[float]]:
    """Train with ``keras.Model.fit`` over skkeras's batch order; return the history."""
    reserved = RESERVED_FIT_ARGUMENTS & set(job.fit_kwargs)
    if reserved:
        raise ValueError(
            f"fit__{sorted(reserved)[0]} is set by skkeras; use the estimator parameter "
            "(epochs, batch_size, shuffle, class_weight, or fit's sample_weight) instead."
        )
    job.reset_model()
    batches = EpochBatches(
        job.x, job.y, job.sample_weight, batch_size=job.batch_size, epochs=job.epochs,
        first_epoch=job.first_epoch, seed=job.seed, shuffle=job.shuffle,
    )
    with seeded_torch_dropout(job.seed, job.first_epoch) as seeding_callbacks:
        history = job.model.fit(
            batches,
            epochs=job.epochs,
            steps_per_epoch=batches.batches_per_epoch,
            shuffle=False,
            callbacks=[*seeding_callbacks, *job.callbacks],
            validation_data=job.validation_data,
            validation_batch_size=job.validation_batch_size,
            verbose=job.verbose,
            **job.fit_kwargs,
        )
    return {name: [float(v) for v in values] for name, values in history.history.items()}


#: Values of the estimators' ``engine`` parameter.
ENGINES = ("auto", "fast", "keras")


def train(job: TrainingJob) -> dict[str, list[float]]:
    """Train the job's model for its epochs and return the per-epoch history.

    ``engine="auto"`` takes the compiled fast path (:mod:`skkeras.engine`) where it
    applies and ``keras.Model.fit`` elsewhere; ``"fast"`` insists on the fast path
    (an error says what prevents it); ``"keras"`` always uses ``Model.fit``.
    """
    if job.engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {job.engine!r}.")
    check_routed_arguments(job.model.fit, job.fit_kwargs, "fit")
    reasons = fast_engine.blockers(
        job.model, job.callbacks, job.fit_kwargs, n_samples=n_rows(job.x),
        batch_size=job.batch_size,
    ) if job.engine != "keras" else []
    if job.engine == "fast" and reasons:
        raise ValueError("engine='fast' cannot train this model: " + "; ".join(reasons) + ".")
    if job.engine == "keras" or reasons:
        return train_with_fit(job)
    return fast_engine.train_fast(job)


@dataclass
class TrainedState:
    """A model's variables after training, and the history that led there."""

    trainable: list[np.ndarray]
    non_trainable: list[np.ndarray]
    optimizer: list[np.ndarray]
    history: dict[str, list[float]]

    @classmethod
    def of(cls, model: keras.Model, history: Mapping[str, Sequence[float]]) -> TrainedState:
        def values(variables):
            return [keras.ops.convert_to_numpy(v).copy() for v in variables]

        return cls(
            values(model.trainable_variables), values(model.non_trainable_variables),
            values(model.optimizer.variables),
            {name: [float(v) for v in h] for name, h in history.items()},
        )

    def apply_to(self, model: keras.Model) -> dict[str, list[float]]:
        groups = (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables)
        for variables, values in zip(groups, (self.trainable, self.non_trainable, self.optimizer), strict=True):
            fast_engine.assign_values(variables, values)
        return {name: list(h) for name, h in self.history.items()}


@dataclass
class TrainingJob:
    """One fit's training: the built model, its encoded data, and how to train it.

    The estimators build a job and run it; a search builds the jobs of many fits
    first, trains them together (:mod:`skkeras.packing`), and lets each fit find
    its result by :meth:`fingerprint`.
    """

    model: keras.Model
    x: np.ndarray | Mapping[str, np.ndarray]
    y: np.ndarray
    sample_weight: np.ndarray | None
    epochs: int
    batch_size: int
    first_epoch: int
    seed: int
    shuffle: bool
    callbacks: list[keras.callbacks.Callback] = field(default_factory=list)
    validation_data: tuple[Any, ...] | None = None
    validation_batch_size: int | None = None
    verbose: int = 0
    fit_kwargs: Mapping[str, Any] = field(default_factory=dict)
    engine: str = "auto"
    #: XLA for the fast path: None lets skkeras choose (see engine.default_jit_compile).
    jit_compile: bool | None = None
    #: (batches, rows per batch) of the compiled program's batch plan, when runs with
    #: different batch sizes share one program (:func:`skkeras.packing.share_programs`);
    #: None: this job's own (its batch size, and the batches its rows need).
    slots: tuple[int, int] | None = None
    #: The values training starts from, for a model reused across fits
    #: (:mod:`skkeras.reuse`); None starts from the model's current values.
    initial: TrainedState | None = None

    def run(self) -> dict[str, list[float]]:
        """Train the model; return the history."""
        return train(self)

    def reset_model(self) -> None:
        """Put the starting values into the model, if the job has its own."""
        if self.initial is not None:
            self.initial.apply_to(self.model)


def fit_keys(estimator: Any, X: Any, y: Any, weights: Any, epochs: int) -> tuple[str, str] | None:
    """Keys that identify a fit for results trained ahead: (this fit, its run).

    A fit is determined by the estimator's class and parameters, its validated
    data and weights, given an integer ``random_state``; the second key leaves out
    ``epochs``, so fits differing only in epochs share one run (an epoch path).
    None when the fit cannot be identified: a ``random_state`` that is not an int
    draws a new seed per fit, and parameters that do not hash cannot be compared.
    """
    params = estimator.get_params(deep=False)
    if not isinstance(params.get("random_state"), int | np.integer):
        return None
    params.pop("epochs", None)
    for noise in ("verbose",):
        params.pop(noise, None)
    try:
        run = joblib.hash((type(estimator).__qualname__, params, X, y, weights))
    except Exception:  # a lambda builder or an unpicklable callback
        return None
    return joblib.hash((run, int(epochs))), run


# Results trained ahead by a search, by fit key, and the batch plans its runs
# shared, by program group; innermost context last. A context variable: searches
# in different threads (or asyncio tasks) never see each other's results.
_TRAINED_AHEAD: contextvars.ContextVar[
    tuple[tuple[dict[str, TrainedState], dict[str, tuple[int, int]]], ...]
] = contextvars.ContextVar("skkeras_trained_ahead", default=())


@contextlib.contextmanager
def trained_ahead(
    results: dict[str, TrainedState], shared_slots: dict[str, tuple[int, int]] | None = None
) -> Iterator[None]:
    """Within the block, a fit whose key is in ``results`` takes that result instead
    of training. Each result serves one fit (it is removed from ``results``), and
    results added to the dict while the block runs are found too. A fit trained
    in the block (the refit) uses the batch plan ``shared_slots`` gives its program
    group, so it runs on the program the search compiled."""
    context = (results, shared_slots if shared_slots is not None else {})
    token = _TRAINED_AHEAD.set((*_TRAINED_AHEAD.get(), context))
    try:
        yield
    finally:
        _TRAINED_AHEAD.reset(token)


def lookup_trained_ahead(key: str) -> TrainedState | None:
    """The result trained ahead for the fit with ``key``, removed so it serves once."""
    contexts = _TRAINED_AHEAD.get()
    return contexts[-1][0].pop(key, None) if contexts else None


def slots_shared_in_search() -> dict[str, tuple[int, int]]:
    """The batch plans the runs of the current search shared, by program group."""
    contexts = _TRAINED_AHEAD.get()
    return contexts[-1][1] if contexts else {}

"""Training dispatch: the fast engine or ``keras.Model.fit``, and the checks after it.

:func:`choose_path` says how a job trains (the compiled fast path of
:mod:`skkeras.engine`, or ``Model.fit`` and why); :func:`train` runs it;
:func:`check_divergence` turns a non-finite loss or weight into an error, as
scikit-learn's MLP does. On either path skkeras decides the order of samples in
every epoch (see :func:`skkeras.seeding.epoch_permutation`), instead of letting
Keras shuffle, so that fits repeat exactly and a short fit is the prefix of a
longer one.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import joblib
import keras
import numpy as np

from . import _numpy_train, sparse
from . import engine as fast_engine
from .inputs import n_rows, take_rows
from .job import TrainedState, TrainingJob
from .routing import check_routed_arguments
from .seeding import epoch_permutation, seeded_torch_dropout

__all__ = [
    "ENGINES", "TrainedState", "TrainingJob", "check_divergence", "choose_path", "describe_path",
    "default_batch_size", "fit_keys", "search_active", "train",
]

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
        y = None if self.y is None else take_rows(self.y, rows)
        x = take_rows(self.x, rows)
        # several inputs or outputs: Keras's dataset adapters want tuples, not lists
        x, y = (tuple(x) if isinstance(x, list) else x), (tuple(y) if isinstance(y, list) else y)
        if self.sample_weight is None:
            return (x,) if y is None else (x, y)
        return x, y, self.sample_weight[rows]


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


#: choose_path's reason for a model whose ``fit`` is its own (a subclass or a wrapper).
OWN_FIT = "keras: the model's own fit method (called with the arrays, as scikeras does)"


def train_with_own_fit(job: TrainingJob) -> dict[str, list[float]]:
    """Call a model's own ``fit`` (overridden in its class, or replaced on the instance
    to watch the call) with the arrays and every argument, as scikeras calls it.
    Keras then shuffles with its own generator, not skkeras's seeded order."""
    history = job.model.fit(
        x=job.x, y=job.y, sample_weight=job.sample_weight, batch_size=job.batch_size,
        epochs=job.first_epoch + job.epochs, initial_epoch=job.first_epoch, shuffle=job.shuffle,
        callbacks=list(job.callbacks), validation_data=job.validation_data,
        validation_batch_size=job.validation_batch_size, verbose=job.verbose,
        **job.fit_kwargs,
    )
    return {name: [float(v) for v in values] for name, values in history.history.items()}


#: Values of the estimators' ``engine`` parameter.
ENGINES = ("auto", "fast", "keras")


def _structure_blockers(job: TrainingJob) -> list[str]:
    """Reasons in the job's data (not its model) that keep it off the fast path."""
    if job.y is None:
        return ["no targets (y=None)"]
    targets = keras.tree.flatten(job.y)
    if not all(isinstance(t, np.ndarray) and len(t) == n_rows(job.x) for t in targets):
        return [f"targets as a {type(job.y).__name__} that is not arrays of one row each"]
    if isinstance(job.x, list | tuple):
        return [f"inputs as a {type(job.x).__name__} of arrays"]
    return []


def choose_path(job: TrainingJob) -> str:
    """How ``job`` trains: ``"numpy"``, ``"fast"``, or ``"keras: <why>"`` for ``keras.Model.fit``.

    ``engine="auto"`` trains a small job of a small dense network in NumPy
    (:mod:`skkeras._numpy_train`, chosen from the job's size alone, never from what
    is compiled already), others on the compiled fast path (:mod:`skkeras.engine`)
    where it applies and ``Model.fit`` elsewhere; ``"fast"`` insists on the compiled
    fast path (a ValueError says what prevents it); ``"keras"`` always uses ``Model.fit``.
    """
    if job.engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {job.engine!r}.")
    if "fit" in vars(job.model) or type(job.model).fit is not keras.Model.fit:
        return OWN_FIT
    if job.engine == "keras":
        return "keras: engine='keras'"
    reasons = _structure_blockers(job) or fast_engine.sparse_blockers(job.x) or fast_engine.blockers(
        job.model, job.callbacks, job.fit_kwargs, n_samples=n_rows(job.x),
        batch_size=job.batch_size,
    )
    if job.engine == "fast" and reasons:
        raise ValueError("engine='fast' cannot train this model: " + "; ".join(reasons) + ".")
    if reasons:
        return "keras: " + "; ".join(reasons)
    # The NumPy executor takes dense arrays only: sparse X trains compiled (its rows
    # stay sparse on the device, made dense one batch at a time).
    if job.engine == "auto" and not sparse.is_sparse_input(job.x) and _numpy_train.use_numpy(job)[0]:
        return "numpy"
    return "fast"


def describe_path(path: str) -> str:
    """:func:`choose_path`'s answer in words, for the ``verbose`` line of a fit."""
    if path == "numpy":
        return "NumPy (a small job: compiling would cost more than it saves)"
    if path.startswith("fast"):
        return "the fast path" + path.removeprefix("fast")
    return "keras.Model.fit (" + path.removeprefix("keras: ") + ")"


def train(job: TrainingJob, path: str | None = None) -> dict[str, list[float]]:
    """Train the job's model for its epochs and return the per-epoch history.

    ``path`` is :func:`choose_path`'s answer, if the caller already asked.
    """
    check_routed_arguments(job.model.fit, job.fit_kwargs, "fit")
    if path is None:
        path = choose_path(job)
    if path == "fast":
        return fast_engine.train_fast(job)
    if path == "numpy":
        return _numpy_train.train_numpy(job)
    if path == OWN_FIT:
        return train_with_own_fit(job)
    if sparse.is_sparse_input(job.x):
        return sparse.fit_on_batches(job)
    return train_with_fit(job)


def check_divergence(
    history: Mapping[str, Sequence[float]], variables: Sequence[Any] = (), *,
    first_epoch: int = 0,
) -> None:
    """Raise a ValueError if training diverged: a non-finite ``loss`` in ``history``
    or a non-finite value among ``variables`` (arrays or Keras variables).

    The message names the first epoch (counted from 1 over the estimator's whole
    training, ``first_epoch`` epochs having run before this history) and suggests
    the usual remedies, as scikit-learn's MLP does.
    """
    losses = list(history.get("loss", []))
    bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
    if bad is None:
        for variable in variables:
            values = keras.ops.convert_to_numpy(variable) if not isinstance(variable, np.ndarray) else variable
            if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values)):
                bad = max(len(losses) - 1, 0)
                what = "the model's weights became non-finite (NaN or inf)"
                break
        else:
            return
    else:
        what = f"the loss became {losses[bad]}"
    raise ValueError(
        f"Training diverged at epoch {first_epoch + bad + 1}: {what}. Scale the inputs "
        "(e.g. with sklearn.preprocessing.StandardScaler in a Pipeline) or lower the "
        "learning rate (optimizer__learning_rate=...)."
    )


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
    for name in ("epochs", "fit__epochs", "verbose", "fit__verbose"):  # epochs: given; verbose: noise
        params.pop(name, None)
    try:
        run = joblib.hash((type(estimator).__qualname__, params, X, y, weights))
    except Exception:  # a lambda builder or an unpicklable callback
        return None
    return joblib.hash((run, int(epochs))), run


def search_active() -> bool:
    """Whether a search is training fits ahead (see :func:`trained_ahead`): only then
    does a fit need its keys, which hash its data."""
    return bool(_TRAINED_AHEAD.get())


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

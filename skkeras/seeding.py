"""Seeds for repeatable fits that leave the caller's global random state alone.

Keras draws the seeds of initializers and dropout layers from Python's ``random``
module when a layer is created, and unseeded ``keras.random`` calls use a global
SeedGenerator. :func:`scoped_seed` sets both for the duration of a block and
restores them afterwards, so seeding a fit never leaks into the user's program
(scikeras leaves TensorFlow's determinism flag on; we never touch it).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from . import _keras_compat, _runtime

_MAX_SEED = 2**31 - 1


def resolve_seed(random_state: int | np.random.RandomState | None) -> int:
    """One integer seed for a fit, following scikit-learn's ``random_state`` rules.

    An int is used as it is; a RandomState (or None, meaning NumPy's global one)
    is drawn from, so successive fits differ, as in scikit-learn.
    """
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        return int(random_state) % (_MAX_SEED + 1)
    return int(check_random_state(random_state).randint(_MAX_SEED))


def derive_seed(seed: int, purpose: str) -> int:
    """An independent seed for one use (weights, shuffling, validation split...)."""
    words = [seed] + [ord(c) for c in purpose]
    return int(np.random.SeedSequence(words).generate_state(1)[0]) % _MAX_SEED


def epoch_permutation(seed: int, epoch: int, n_samples: int) -> np.ndarray:
    """The sample order of one epoch.

    It depends only on the seed and the epoch's number, never on how many epochs
    the fit runs: a 10-epoch fit is the exact prefix of a 100-epoch fit.
    """
    return np.random.default_rng([seed, epoch]).permutation(n_samples)


@contextlib.contextmanager
def scoped_seed(seed: int) -> Iterator[None]:
    """Seed Python's ``random`` and Keras's global seed generator inside the block only.

    Keras draws its default seeds from its own private ``random.Random(seed)`` in
    the block, not from the module that every thread shares: another thread
    drawing from ``random`` meanwhile (a Dask worker's event loop does) would
    otherwise shift the seeds of the layers built here. Blocks in different
    threads take turns (:data:`skkeras._runtime.BUILD_LOCK`): the state they set
    is the process's.
    """
    with _runtime.BUILD_LOCK:
        yield from _scoped_seed(seed)


def _scoped_seed(seed: int) -> Iterator[None]:
    python_state = random.getstate()
    random.seed(seed)  # for builders that draw from random themselves
    try:
        with _keras_compat.keras_seed_scope(seed):
            yield
    finally:
        random.setstate(python_state)


@contextlib.contextmanager
def seeded_torch_dropout(seed: int, first_epoch: int) -> Iterator[list[Any]]:
    """On the PyTorch backend, make ``Model.fit``'s dropout masks follow the seed; the
    callbacks to add to the fit (none on other backends).

    Keras's PyTorch backend draws the masks of a Dropout layer without an explicit
    seed from torch's global generator (torch cannot seed its fused dropout), so
    a seeded fit would not repeat. Inside the block that generator is reseeded
    before each batch from the seed, the epoch's number and the batch's (so a
    short fit stays the prefix of a long one, and a warm start continues the
    sequence, whatever else draws from the generator between batches), and the
    caller's generator state is put back afterwards.
    """
    import keras

    if keras.backend.backend() != "torch":
        yield []
        return
    import torch

    class BatchSeed(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = first_epoch + epoch

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            torch.manual_seed(derive_seed(seed, f"torch dropout, epoch {self.epoch}, batch {batch}"))

    with torch.random.fork_rng():
        yield [BatchSeed()]

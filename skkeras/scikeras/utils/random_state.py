"""scikeras's :func:`tensorflow_random_state`, backend-neutral."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator

import numpy as np


@contextlib.contextmanager
def tensorflow_random_state(seed: int) -> Iterator[None]:
    """Seed Python's ``random``, NumPy's global generator and Keras for the block.

    Layers built and random numbers drawn inside the block repeat from one run
    to the next; on leaving it, the previous states of ``random``, NumPy and
    Keras's global seed generator are put back, so nothing leaks out. If the
    program has imported TensorFlow, its global seed is set for the block too
    (so unseeded ``tf.random`` ops repeat) and put back after; TensorFlow is
    never imported here, so the block works on JAX and PyTorch without it.
    Unlike scikeras, TensorFlow's op-determinism flag and the
    ``TF_DETERMINISTIC_OPS`` variable are left alone.

    Parameters
    ----------
    seed : int
        The seed for the block.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {seed!r}.")
    from ...seeding import scoped_seed

    seed = int(seed)
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    tensorflow = _tensorflow_seed()
    np.random.seed(seed % 2**32)
    if tensorflow is not None:
        tensorflow[0](seed)
    try:
        with scoped_seed(seed):
            yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
        if tensorflow is not None:
            tensorflow[0](tensorflow[1])


def _tensorflow_seed():
    """TensorFlow's global seed setter and current seed, if TensorFlow is imported."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    try:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops

        current = context.global_seed() if context.executing_eagerly() else (
            ops.get_default_graph().seed)
    except (ImportError, AttributeError):  # private names moved: seed TensorFlow no further
        return None
    return tf.random.set_seed, current

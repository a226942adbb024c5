"""Batch plans: the arrays that drive a compiled epoch (row indices, loss and
metric weights, padding masks), padded data, and the variables a fit creates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import scipy.sparse

from .. import _keras_compat, _runtime
from .._jax_init import numpy_initializers
from ..inputs import n_rows
from ..seeding import epoch_permutation
from ..sparse import dense_rows, is_sparse_input
from .sparse_rows import sparse_rows

if TYPE_CHECKING:
    pass

#: Rows of the training arrays are padded up to a multiple of this, so folds of
#: slightly different sizes share one compiled program.
ROW_BUCKET = 256


# ----------------------------------------------------------------- batching
def pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` with zero rows appended up to ``rows``."""
    if len(a) == rows:
        return a
    return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), dtype=a.dtype)])


def row_bucket(n: int) -> int:
    """Rows rounded up to the bucket, so near-equal folds share compiled shapes."""
    return -(-n // ROW_BUCKET) * ROW_BUCKET


def padded_data(x: Any, y: Any, rows: int) -> tuple[Any, Any]:
    """``x`` and ``y`` (arrays, or dicts/lists of them) padded with zero rows up to ``rows``."""
    if is_sparse_input(x):
        raise ValueError("sparse X has no padded dense form: the fast path keeps its rows "
                         "sparse on the device (skkeras.engine.sparse_rows).")
    return keras.tree.map_structure(lambda a: pad_rows(np.asarray(a), rows), (x, y))


def _device_data(x: Any, y: Any, rows: int) -> tuple[Any, Any]:
    """``x`` and ``y`` padded up to ``rows`` on the device; sparse parts of ``x`` as
    :class:`~skkeras.engine.sparse_rows.SparseRows`, made dense a batch at a time."""
    def part(a: Any) -> Any:
        if a is None:
            return None
        if scipy.sparse.issparse(a):
            return keras.tree.map_structure(keras.ops.convert_to_tensor, sparse_rows(a, rows))
        if isinstance(a, Mapping):
            return {name: part(value) for name, value in a.items()}
        if isinstance(a, list | tuple):
            return type(a)(part(value) for value in a)
        return keras.ops.convert_to_tensor(pad_rows(np.asarray(a), rows))

    return part(x), part(y)


def epoch_plan(
    order: np.ndarray,
    weights: np.ndarray | None,
    batch_size: int,
    max_batches: int,
    width: int | None = None,
) -> tuple[tuple[np.ndarray, ...], int]:
    """The arrays that drive one epoch: row indices, weights, padding mask, rows per batch.

    ``order`` lists the rows in training order. Batches of ``batch_size`` rows are
    cut from it into ``width`` slots (default: the batch size; wider when models
    with different batch sizes train together); unused slots are masked, and the
    real rows' loss weights are scaled by ``width / rows`` so that Keras's
    ``sum_over_batch_size`` reduction gives each batch the mean of its real rows.
    """
    plans, n_batches = epoch_plans(np.asarray(order)[None], weights, batch_size, max_batches, width)
    return tuple(a[0] for a in plans), n_batches


def epoch_plans(
    orders: np.ndarray,
    weights: np.ndarray | None,
    batch_size: int,
    max_batches: int,
    width: int | None = None,
) -> tuple[tuple[np.ndarray, ...], int]:
    """:func:`epoch_plan` for several epochs at once: ``orders`` is (epochs, rows) and
    every array gains a leading epoch axis; the batch count is every epoch's."""
    width = width or batch_size
    n_epochs, n = orders.shape
    n_batches = -(-n // batch_size)
    padded_orders = np.zeros((n_epochs, n_batches * batch_size), dtype=np.int32)
    padded_orders[:, :n] = orders
    real = np.zeros(n_batches * batch_size, dtype=np.float32)
    real[:n] = 1.0
    shape = (n_epochs, max_batches, width)
    index = np.zeros(shape, dtype=np.int32)
    mask = np.zeros(shape, dtype=np.float32)
    index[:, :n_batches, :batch_size] = padded_orders.reshape(n_epochs, n_batches, batch_size)
    mask[:, :n_batches, :batch_size] = real.reshape(n_batches, batch_size)
    metric_weight = mask.copy()
    if weights is not None:
        real_slots = mask > 0
        metric_weight[real_slots] *= weights[index[real_slots]]
    rows = mask.sum(axis=-1)
    loss_weight = (metric_weight * (width / np.maximum(rows, 1))[..., None]).astype(np.float32)
    return (index, loss_weight, metric_weight, mask, rows), n_batches


def _epoch_order(seed: int, epoch: int, n: int, shuffle: bool) -> np.ndarray:
    return epoch_permutation(seed, epoch, n) if shuffle else np.arange(n)


def call_plans(
    seed: int, shuffle: bool, n: int, weights: np.ndarray | None, batch_size: int,
    max_batches: int, width: int, epochs: range, per_call: int,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The batch plans of ``epochs`` for one compiled call of several epochs: each
    :func:`epoch_plan` array with a leading epoch axis padded to ``per_call`` (one
    compiled shape), and each epoch's batch count (0 for the padding)."""
    orders = np.stack([_epoch_order(seed, epoch, n, shuffle) for epoch in epochs])
    plans, n_batches = epoch_plans(orders, weights, batch_size, max_batches, width)
    counts = np.full(len(epochs), n_batches, dtype=np.int32)
    return tuple(pad_rows(a, per_call) for a in plans), pad_rows(counts, per_call)


def _to_device(plan: tuple[np.ndarray, ...], n_batches: int) -> tuple[tuple[Any, ...], Any]:
    """The plan and its batch count as device tensors. A tensor count, not a Python
    int: tf.function would retrace for every new int value."""
    arrays = tuple(keras.ops.convert_to_tensor(a) for a in plan)
    return arrays, keras.ops.convert_to_tensor(np.int32(n_batches))


# ----------------------------------------------------------------- training
def assign_values(variables: Sequence[Any], values: Sequence[Any]) -> None:
    """Assign ``values`` to ``variables``, one to one (and note that weights changed:
    prediction's snapshots on TensorFlow are read again). NumPy values are cast in NumPy
    to the dtype the variable stores (int64 is int32 on JAX without x64): the backend's
    cast would compile a program on JAX."""
    for variable, value in zip(variables, values, strict=True):
        if isinstance(value, np.ndarray):
            value = value.astype(keras.backend.standardize_dtype(variable.value.dtype), copy=False)
        variable.assign(value)
    _runtime.bump_weights_generation()


def prepare(model: keras.Model, x: Any, y: Any, batch_size: int, *, symbolic: bool = True) -> None:
    """Create the optimizer, loss and metric variables fit would create (``y``: an array,
    or a dict/list of arrays for a model with several outputs). With ``symbolic=False``,
    the optimizer's alone: Keras's symbolic pass over a batch, which builds the compiled
    loss and metrics, is left to whoever needs them built."""
    with numpy_initializers():  # zeros without compiling, on JAX (skkeras._jax_init)
        if symbolic:
            first = (dense_rows(x, slice(0, batch_size)),
                     keras.tree.map_structure(lambda a: a[:batch_size], y))
            sample = (*first, np.ones(min(batch_size, n_rows(x)), dtype=np.float32))
            _keras_compat.symbolic_build(model, sample)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)

"""Sparse X on the fast path: the rows of a scipy sparse matrix on the device in
a fixed-shape form, made dense one batch at a time inside the compiled epoch.

The compiled epoch gathers each batch's rows by index from arrays that stay on
the device (see :func:`skkeras.engine.programs._take_batch`). A sparse matrix
goes there row-padded ("ELL"): for each row, the column indices and values of its
nonzeros, padded to ``K``, the most nonzeros of any row, with column 0 and value
0 (``K`` rounded up to a power of two, so that folds share a compiled program).
That is ``rows x K`` indices and values, usually far less than the dense
matrix (beyond 64 MB, the fast path takes it only while it is no larger than the
dense matrix and at most 4 times the stored entries: see :func:`blockers`); a
batch's rows of both are gathered and added into zeros of the batch's dense
shape ``(batch, F)``. Padding entries add 0 to column 0, and duplicate entries of a
non-canonical matrix add up, as ``toarray`` gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import keras
import numpy as np
import scipy.sparse

__all__ = [
    "SparseRows", "blockers", "densify", "ell_width", "longest_row", "signature", "sparse_rows",
    "take",
]


class SparseRows(NamedTuple):
    """A sparse matrix's rows in ELL form (NumPy arrays, or tensors on the device).

    ``width`` is an empty ``(0, F)`` array: its static shape carries the dense
    width ``F`` into compiled code, where a Python number would be traced.
    """

    columns: Any  # (rows, K) int32
    values: Any  # (rows, K), the dtype of the dense batches
    width: Any  # (0, F)


def _csr(matrix: Any) -> scipy.sparse.csr_matrix:
    if isinstance(matrix, scipy.sparse.csr_matrix | scipy.sparse.csr_array):
        return matrix
    return scipy.sparse.csr_matrix(matrix)


def longest_row(matrix: Any) -> int:
    """The most stored entries in one row of ``matrix``."""
    counts = np.diff(_csr(matrix).indptr)
    return int(counts.max()) if counts.size else 0


def ell_width(matrix: Any) -> int:
    """``K``: :func:`longest_row` rounded up to a power of two (at most the matrix's
    width, at least 1), so that the folds of a data set, whose longest rows differ a
    little, share one compiled program."""
    return min(matrix.shape[1], 1 << max(0, longest_row(matrix) - 1).bit_length()) or 1


def value_dtype(matrix: Any) -> np.dtype:
    """The dtype of the dense batches: float matrices in Keras's float type, others
    their own (as :func:`skkeras.sparse.dense_rows` gives them)."""
    dtype = np.dtype(matrix.dtype)
    return np.dtype(keras.backend.floatx()) if dtype.kind == "f" else dtype


def signature(matrix: Any) -> str:
    """What a compiled program depends on: the dense width, ``K`` and the dtype."""
    return f"sparse(F={matrix.shape[1]}, K={ell_width(matrix)}, {value_dtype(matrix)})"


#: Row-padded forms up to this size always train on the fast path; beyond it, only
#: while they stay no larger than the dense matrix and at most :data:`MAX_PADDING`
#: times the stored entries (else one long row would pad every row to its length).
SMALL_BYTES = 64 * 2**20
MAX_PADDING = 4


def blockers(x: Any) -> list[str]:
    """Reasons the fast path does not train on sparse inputs ``x``; empty if it can."""
    parts = x.items() if isinstance(x, Mapping) and not scipy.sparse.issparse(x) else [("X", x)]
    reasons = []
    for name, part in parts:
        if not scipy.sparse.issparse(part):
            continue
        label = "X" if name == "X" else f"X[{name!r}]"
        if len(part.shape) != 2:
            reasons.append(f"the sparse {label} is not 2-D")
            continue
        (n, width), k, longest = part.shape, ell_width(part), longest_row(part)
        entry = 4 + value_dtype(part).itemsize  # a column index and a value
        padded = n * k * entry
        if padded <= SMALL_BYTES:
            continue
        k = longest
        if 2 * k > width:
            reasons.append(
                f"sparse {label} with a row of {k} stored entries out of {width} columns "
                f"(its rows padded to {k} or more entries, {padded / 2**20:.0f} MB, would outweigh "
                "the dense matrix)")
        elif padded > MAX_PADDING * max(1, part.nnz) * entry:
            reasons.append(
                f"sparse {label} with a row of {k} stored entries where rows average "
                f"{part.nnz / max(1, n):.1f} (every row padded to {k} or more entries would take "
                f"{padded / 2**20:.0f} MB)")
    return [f"{reason}; densified one batch at a time on Model.fit" for reason in reasons]


def sparse_rows(matrix: Any, rows: int, k: int | None = None) -> SparseRows:
    """``matrix`` in ELL form (NumPy arrays), with empty rows appended up to ``rows``
    and entries padded to ``k`` (default: :func:`ell_width`; at least that)."""
    csr = _csr(matrix)
    n, width = csr.shape
    k = max(ell_width(csr), k or 1)
    counts = np.diff(csr.indptr)
    row_of = np.repeat(np.arange(n), counts)
    slot = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], counts)
    columns = np.zeros((rows, k), dtype=np.int32)
    values = np.zeros((rows, k), dtype=value_dtype(csr))
    columns[row_of, slot] = csr.indices
    values[row_of, slot] = csr.data
    return SparseRows(columns, values, np.zeros((0, width), dtype=values.dtype))


def densify(part: SparseRows) -> Any:
    """The dense ``(rows, F)`` tensor of ELL rows (inside compiled code)."""
    columns, values = part.columns, part.values
    shape = (columns.shape[0], part.width.shape[1])
    if keras.backend.backend() == "jax":
        import jax.numpy as jnp

        rows = jnp.arange(shape[0], dtype=columns.dtype)[:, None]
        return jnp.zeros(shape, values.dtype).at[rows, columns].add(values)
    import tensorflow as tf

    # Static sizes where tracing knows them (the model's layers want a static width).
    shape = tuple(tf.shape(a)[axis] if size is None else size
                  for a, axis, size in ((columns, 0, shape[0]), (part.width, 1, shape[1])))
    rows = tf.broadcast_to(tf.range(shape[0], dtype=columns.dtype)[:, None], tf.shape(columns))
    return tf.tensor_scatter_nd_add(
        tf.zeros(shape, values.dtype), tf.stack([rows, columns], axis=-1), values)


def take(data: Any, index: Any = None) -> Any:
    """The rows ``index`` (default: all) of device data (tensors, :class:`SparseRows`,
    or dicts and lists of them), every sparse part made dense."""
    def rows(a: Any) -> Any:
        return a if index is None else keras.ops.take(a, index, axis=0)

    if isinstance(data, SparseRows):
        return densify(SparseRows(rows(data.columns), rows(data.values), data.width))
    if isinstance(data, Mapping):
        return {name: take(part, index) for name, part in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(take(part, index) for part in data)
    return rows(data)

"""Sparse X (scipy.sparse): densified one batch at a time, never as a whole.

A ``TfidfVectorizer`` or a ``OneHotEncoder`` of many categories before the network
gives a matrix whose dense form may not fit in memory. Keras layers take dense
tensors, so each batch is made dense just before the model sees it:

- on the fast path (:mod:`skkeras.engine`), the matrix's rows go to the device in
  a fixed-shape sparse form (:mod:`skkeras.engine.sparse_rows`: per row, the column
  indices and values of its nonzeros) and the compiled epoch makes each batch
  dense as it draws it; ``fit_path_`` says ``"fast"``. Not when that form is
  large (over 64 MB) and would outweigh the dense matrix or pad one long row's
  length onto every row (see :func:`skkeras.engine.sparse_rows.blockers`), nor
  for inputs given as a list, nor where the fast path does not apply to the model:
- there training runs on ``keras.Model.fit`` over :class:`SparseBatches`, a
  ``keras.utils.PyDataset`` that densifies each batch on the host (same seeded
  batch order), and ``fit_path_`` names the reason;
- :func:`predict_batches` runs the model forward batch by batch (compiled, with
  each batch's rows sent in the same sparse form and made dense on the device);
- :func:`dense_rows` is the densifying counterpart of
  :func:`skkeras.inputs.take_rows`.

Dicts of inputs may mix sparse and dense arrays, on either path. The NumPy
executor (``engine="auto"``'s choice for small dense jobs) does not take sparse X.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import scipy.sparse

from . import _runtime
from .seeding import epoch_permutation

__all__ = [
    "SparseBatches", "dense_rows", "fit_on_batches", "is_sparse_input", "predict_batches",
]


def _parts(x: Any) -> list[Any]:
    if isinstance(x, Mapping):
        return list(x.values())
    if isinstance(x, list | tuple):
        return list(x)
    return [x]


def is_sparse_input(x: Any) -> bool:
    """Whether model inputs (one array, or a dict or list of them) hold a sparse matrix."""
    return any(scipy.sparse.issparse(part) for part in _parts(x))


def _densify(a: Any) -> Any:
    if scipy.sparse.issparse(a):
        return np.asarray(a.toarray(), dtype=keras.backend.floatx() if a.dtype.kind == "f"
                          else a.dtype)
    return a


def dense_rows(x: Any, rows: np.ndarray | slice) -> Any:
    """The given rows of model inputs, with any sparse part made dense (those rows only)."""
    if x is None:
        return None
    if isinstance(x, Mapping):
        return {name: _densify(_rows(a, rows)) for name, a in x.items()}
    if isinstance(x, list | tuple):
        return [_densify(_rows(a, rows)) for a in x]
    return _densify(_rows(x, rows))


def _rows(a: Any, rows: np.ndarray | slice) -> Any:
    if scipy.sparse.issparse(a) and not isinstance(a, scipy.sparse.csr_matrix | scipy.sparse.csr_array):
        a = a.tocsr()  # row slicing is only cheap on CSR
    return a[rows]


def _n_rows(x: Any) -> int:
    return _parts(x)[0].shape[0]


class SparseBatches(keras.utils.PyDataset):
    """Batches of (x, y[, sample_weight]) for ``Model.fit``, dense one at a time.

    Parameters
    ----------
    x : sparse matrix, array, or dict/list of them
    y : array, dict or list of arrays, or None
    sample_weight : array or None
    batch_size : int
    shuffle : bool, default=False
        Draw a new order of the samples every epoch, from ``seed`` and the
        epoch's number (the same orders as skkeras's fast engine).
    seed : int, default=0
    epochs : int, default=1
        The epochs this sequence serves: batch ``i`` is batch ``i % n_batches`` of epoch
        ``first_epoch + i // n_batches``, so it depends on nothing but its index (Keras
        peeks at batches and calls ``on_epoch_end`` when it likes; neither moves the order).
    first_epoch : int, default=0
        The number of the first epoch (a continuing fit goes on with the next orders).
    """

    def __init__(
        self, x: Any, y: Any, sample_weight: Any = None, *, batch_size: int,
        shuffle: bool = False, seed: int = 0, epochs: int = 1, first_epoch: int = 0,
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        n = _n_rows(x)
        if batch_size == -1:
            batch_size = n
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or -1, got {batch_size!r}.")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, seed
        self.n = n
        self.epochs, self.first_epoch = epochs, first_epoch
        self.batches_per_epoch = max(1, -(-n // self.batch_size))
        self._order_cache: tuple[int, np.ndarray] | None = None

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        if self._order_cache is None or self._order_cache[0] != epoch:
            self._order_cache = (epoch, epoch_permutation(self.seed, epoch, self.n))
        return self._order_cache[1]

    def __len__(self) -> int:
        return self.batches_per_epoch * self.epochs

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        epoch, batch = divmod(index, self.batches_per_epoch)
        order = self._epoch_order(self.first_epoch + epoch)
        rows = np.sort(order[batch * self.batch_size:(batch + 1) * self.batch_size])
        batch_data = (dense_rows(self.x, rows), _take(self.y, rows))
        if self.sample_weight is not None:
            batch_data += (np.asarray(self.sample_weight)[rows],)
        return batch_data


def _take(y: Any, rows: np.ndarray) -> Any:
    if y is None:
        return None
    if isinstance(y, Mapping):
        return {name: np.asarray(a)[rows] for name, a in y.items()}
    if isinstance(y, list | tuple):
        return [np.asarray(a)[rows] for a in y]
    return np.asarray(y)[rows]


def fit_on_batches(job: Any) -> dict[str, list[float]]:
    """Train ``job.model`` on sparse inputs with ``Model.fit`` and per-batch densifying.

    ``job`` is a :class:`skkeras.training.TrainingJob` (read for ``model``, ``x``,
    ``y``, ``sample_weight``, ``epochs``, ``batch_size``, ``shuffle``, ``seed``,
    ``first_epoch``, ``callbacks``, ``validation_data``, ``validation_batch_size``,
    ``verbose`` and ``fit_kwargs``). Returns the per-epoch history.
    """
    data = SparseBatches(
        job.x, job.y, job.sample_weight, batch_size=job.batch_size, shuffle=job.shuffle,
        seed=job.seed, epochs=job.epochs, first_epoch=job.first_epoch,
    )
    validation = None
    if job.validation_data is not None:
        x_val, y_val, *rest = job.validation_data
        validation = SparseBatches(
            x_val, y_val, rest[0] if rest else None,
            batch_size=job.validation_batch_size or job.batch_size,
        )
    # Batching, order and weights are the dataset's; Keras refuses them beside a PyDataset.
    kwargs = {k: v for k, v in dict(job.fit_kwargs).items()
              if k not in ("batch_size", "shuffle", "sample_weight", "validation_batch_size",
                           "validation_split", "steps_per_epoch")}
    # shuffle=False: the dataset already orders rows by skkeras's seed; Keras would
    # otherwise shuffle the batches of a PyDataset with its own, unseeded, order.
    history = job.model.fit(
        data, epochs=job.epochs, verbose=job.verbose, callbacks=list(job.callbacks or []),
        validation_data=validation, shuffle=False, steps_per_epoch=data.batches_per_epoch,
        **kwargs,
    )
    return {name: [float(v) for v in values] for name, values in history.history.items()}


#: Values of dense batches per forward call (8 MB of float32). Larger buffers are fresh
#: memory from the OS at each call (glibc maps blocks beyond about 32 MB anew), whose page
#: faults cost more than the forward pass: with 200,000 columns on 2 cores, batches of 16
#: rows took 0.16 ms a row, batches of 256 rows 0.67 ms a row.
DENSE_VALUES_PER_CALL = 2**21


def predict_batches(model: keras.Model, x: Any, batch_size: int | None = None) -> Any:
    """The model's outputs for inputs that hold sparse matrices, computed batch by batch.

    Each batch's sparse rows go to the device in the fast path's row-padded form and
    are made dense there, in one compiled forward pass per model, every batch in one
    shape (the last padded), so that a row's outputs do not depend on the rows
    predicted with it; batches hold at most ``batch_size`` rows (-1: no limit) and
    :data:`DENSE_VALUES_PER_CALL` values once dense. A model that does not compile
    (``run_eagerly``, or code that cannot be traced) is called eagerly on batches
    made dense on the host. Returns one array for a single-output model, else the
    model's structure of arrays (list or dict), each concatenated over the batches.
    """
    n = _n_rows(x)
    batch_size = n if batch_size == -1 else int(batch_size or 512)
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or -1, got {batch_size!r}.")
    if not n:
        raise ValueError("Cannot predict on 0 samples.")
    size = max(1, min(batch_size, DENSE_VALUES_PER_CALL // max(1, _dense_width(x))))
    forward = None if model.run_eagerly else _compiled_forward(model)
    outputs = []
    for start in range(0, n, size):
        rows = slice(start, start + size)
        if forward is not None:
            try:
                out = forward(_device_batch(x, rows, size))
            except Exception:  # not traceable: eagerly, from the first batch
                if outputs:
                    raise
                _FORWARDS[model] = forward = None
        if forward is None:
            out = model(dense_rows(x, rows), training=False)
        count = min(size, n - start)
        outputs.append(keras.tree.map_structure(
            lambda a, count=count: keras.ops.convert_to_numpy(a)[:count], out))
    return keras.tree.map_structure(lambda *parts: np.concatenate(parts), *outputs)


def _dense_width(x: Any) -> int:
    """Values in one row of the model inputs once dense."""
    return sum(int(np.prod(part.shape[1:])) for part in _parts(x))


def _device_batch(x: Any, rows: slice, size: int) -> Any:
    """Rows of model inputs as device tensors of ``size`` rows: sparse parts in the
    fast path's row-padded form, padded to the whole matrix's widest row (one shape)."""
    from .engine.plans import pad_rows
    from .engine.sparse_rows import ell_width, sparse_rows

    def part(a: Any) -> Any:
        if scipy.sparse.issparse(a):
            ell = sparse_rows(_rows(a, rows), size, k=ell_width(a))
            return keras.tree.map_structure(keras.ops.convert_to_tensor, ell)
        return keras.ops.convert_to_tensor(pad_rows(np.asarray(a[rows]), size))

    if isinstance(x, Mapping):
        return {name: part(a) for name, a in x.items()}
    if isinstance(x, list | tuple):
        return [part(a) for a in x]
    return part(x)


#: Compiled sparse forward passes by model (held weakly), cleared by ``skkeras.clear_caches()``.
_FORWARDS: weakref.WeakKeyDictionary = _runtime.register(
    "sparse forward passes", weakref.WeakKeyDictionary())


def _compiled_forward(model: keras.Model) -> Any:
    """``model``'s inference pass over device batches with row-padded sparse parts,
    compiled once per model (``jax.jit`` of a stateless call given the current
    weights, or a ``tf.function``); None where it failed to compile before."""
    if model in _FORWARDS:
        return _FORWARDS[model]
    from .engine.programs import _training_kwargs
    from .engine.sparse_rows import take

    kwargs = _training_kwargs(model, False)
    # The functions hold the model weakly: the cache's values must not keep its keys alive.
    held = weakref.ref(model)
    if keras.backend.backend() == "jax":
        import jax

        def pure(trainable: Any, non_trainable: Any, batch: Any) -> Any:
            return held().stateless_call(trainable, non_trainable, take(batch), **kwargs)[0]

        compiled = jax.jit(pure)

        def forward(batch: Any) -> Any:
            net = held()
            return compiled([v.value for v in net.trainable_variables],
                            [v.value for v in net.non_trainable_variables], batch)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        forward = tf.function(lambda batch: held()(take(batch), **kwargs), jit_compile=True,
                              reduce_retracing=True)
    else:
        forward = None
    _FORWARDS[model] = forward
    return forward

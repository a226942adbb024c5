"""Forward passes over arrays, sized for latency as well as throughput.

``keras.Model.predict`` builds a data adapter, an epoch iterator and callbacks on
every call: about 0.2 s even for a handful of rows. Two cheaper paths give the
same numbers:

- **NumPy** (:mod:`skkeras._numpy_forward`), for models that are a chain of
  ``Dense``, activation, ``Dropout``/noise (identity in inference),
  ``BatchNormalization``, ``Normalization`` and ``Flatten`` layers: the same
  formulas on a snapshot of the weights, accumulated in float64 and rounded to
  float32 at the end. No compiled call, no lock: one row costs tens of
  microseconds, and threads predict at once.
- **Compiled** for every other model: one stateless compiled forward pass per
  architecture (``jax.jit`` or ``tf.function``), given each model's weights as
  arguments, so models of one architecture share it and threads need no lock.

Predictions do not depend on how rows are grouped. The compiled path runs
chunks of a fixed number of rows (the last padded with zeros): matrix kernels
take different code paths for different row counts, and a row's output would
otherwise differ, in its last bits, between predicting it alone and in a batch.
The NumPy path accumulates in float64, where grouping changes the sums by about
1e-16 relative, far below float32's rounding step; its outputs agree with the
compiled pass to float32 precision (a few units in the last place), not bitwise.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from . import _numpy_forward, _runtime, sparse
from .inputs import n_rows, take_rows
from .routing import check_routed_arguments
from .seeding import scoped_seed
from .training import TrainedState

#: Rows per compiled forward call (``predict__batch_size`` overrides it): large
#: enough to amortise the call, small enough that padding a single row costs little.
PREDICT_CHUNK_ROWS = 512

#: Rows per NumPy step: bounds the float64 intermediates of very large inputs.
NUMPY_CHUNK_ROWS = 65_536


def model_outputs(
    model: keras.Model,
    x: np.ndarray | Mapping[str, np.ndarray],
    predict_kwargs: Mapping[str, Any] | None = None,
    values: TrainedState | None = None,
) -> Any:
    """The model's outputs for every row of ``x``: a NumPy array, or for a model with
    several outputs their structure (list or dict) of arrays.

    ``predict__batch_size`` sets the compiled path's chunk size (-1: all rows at
    once); sparse ``x`` is densified a batch at a time (:mod:`skkeras.sparse`). Any other
    ``predict__*`` parameter switches to ``keras.Model.predict`` with those
    arguments, for models that rely on it (a custom ``predict_step``, say).
    ``values``, trained variables for a model of ``model``'s architecture, are
    used instead of ``model``'s own (a fit on a reused model, :mod:`skkeras.reuse`).
    """
    predict_kwargs = dict(predict_kwargs or {})
    batch_size = predict_kwargs.pop("batch_size", None)
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
        or not (batch_size >= 1 or batch_size == -1)
    ):
        raise ValueError(f"predict__batch_size={batch_size!r}: give a positive integer, or -1 "
                         "for every row in one batch.")
    # -1: every row in one call (scikeras's convention).
    chunk = max(1, n_rows(x)) if batch_size == -1 else int(batch_size or PREDICT_CHUNK_ROWS)
    if sparse.is_sparse_input(x):
        if values is not None:
            with _runtime.lock_for(model):
                values.apply_to(model)
        return sparse.predict_batches(model, x, chunk)
    if predict_kwargs or "predict" in vars(model):
        # predict__ arguments, or a predict replaced on the instance (a user wrapping it
        # wants it called): Keras's own predict.
        if predict_kwargs:
            check_routed_arguments(model.predict, predict_kwargs, "predict")
        with _runtime.lock_for(model):  # Keras builds its predict function once per model
            if values is not None:
                values.apply_to(model)
            # by keyword, as scikeras calls it (a replaced predict may take keywords only)
            outputs = model.predict(x=x, **{"verbose": 0, "batch_size": chunk, **predict_kwargs})
        return keras.tree.map_structure(np.asarray, outputs)
    plan = _numpy_plan(model, with_values=values is not None)
    if plan is not None and not isinstance(x, Mapping):
        weights = _weights(model, values, f64=True)
        n = len(x)
        if n <= NUMPY_CHUNK_ROWS:
            return plan(weights, x)
        return np.concatenate([
            plan(weights, x[start:start + NUMPY_CHUNK_ROWS])
            for start in range(0, n, NUMPY_CHUNK_ROWS)
        ])
    return _compiled_outputs(model, x, chunk, values)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def plain_model_inputs(estimator: Any, X: Any) -> np.ndarray | None:
    """X as the model's input, if X is a plain 2-D float array of the fitted width
    that needs no transformation; None otherwise (then validate it in full).

    scikit-learn's ``validate_data`` costs about 0.1 ms whatever the size of X
    (data-frame detection, tags, feature names): most of a one-row prediction.
    For an array that holds no surprises the checks it would make reduce to
    these, and anything else (NaN, inf, values beyond float32, a data frame, a
    list, another width, an estimator fitted with feature names or a custom
    ``feature_encoder``) takes the full validation, with its errors and warnings.
    """
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in (np.float32, np.float64):
        return None
    state = estimator.__dict__
    encoder = state.get("feature_encoder_")
    if encoder is not None and not (
        type(encoder).__name__ == "FeatureEncoder" and type(encoder).__module__ == "skkeras.inputs"
    ):
        return None
    if (
        getattr(estimator, "inputs", None) is not None
        or "feature_names_in_" in state
        or state.get("n_features_in_") != X.shape[1]
        or ("model_" not in state and "_deferred_model_" not in state)
        or not X.shape[0]
        or len(state.get("X_shape_", ())) > 2  # fitted on images or sequences
    ):
        return None
    if X.dtype == np.float64:
        if not float(np.max(np.abs(X))) <= _FLOAT32_MAX:  # NaN compares False too
            return None
        return X.astype(np.float32)
    return X if np.isfinite(X).all() else None


# ------------------------------------------------------------------ weights
class _Snapshot:
    """A model's weights as NumPy arrays, and what they were read from."""

    __slots__ = ("token", "variables", "float32", "_float64")

    def __init__(self, token: Any, float32: list[np.ndarray], variables: list[Any] | None = None) -> None:
        self.token = token
        self.variables = variables or []
        self.float32 = float32
        self._float64: list[np.ndarray] | None = None

    def float64(self) -> list[np.ndarray]:
        if self._float64 is None:
            self._float64 = [np.asarray(a, dtype=np.float64) for a in self.float32]
        return self._float64


#: Snapshots by model or by TrainedState (compared by identity).
_SNAPSHOTS = _runtime.register("weight snapshots", _runtime.IdentityWeakMap())


def _variables(model: keras.Model) -> list[Any]:
    return [*model.trainable_variables, *model.non_trainable_variables]


def _token(model: keras.Model, variables: list[Any] | None = None) -> Any:
    """What tells a snapshot of ``model``'s weights is still current.

    On JAX a variable's value is an immutable array that an assignment replaces,
    so the values themselves (compared by identity) are the token. On
    TensorFlow values change in place, and reading them costs an operation per
    variable: the token is the ``History`` of the model's last fit (a new one per
    fit, ours or ``Model.fit``) and the count of assignments skkeras made
    (:func:`skkeras._runtime.weights_generation`). After assigning weights to a
    fitted model yourself (``set_weights``), call :func:`skkeras.clear_caches`.
    """
    if keras.backend.backend() == "jax":
        return tuple(v.value for v in (variables if variables is not None else _variables(model)))
    return (getattr(model, "history", None), _runtime.weights_generation())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
    return a == b


def _weights(model: keras.Model, values: TrainedState | None, *, f64: bool = False) -> list[Any]:
    """Trainable then non-trainable weights of ``model`` (or ``values``) as NumPy arrays,
    read once per fit rather than once per call."""
    if values is not None:
        snapshot = _SNAPSHOTS.get(values)
        if snapshot is None:
            snapshot = _Snapshot(None, [*values.trainable, *values.non_trainable])
            _SNAPSHOTS[values] = snapshot
    else:
        snapshot = _SNAPSHOTS.get(model)
        # The snapshot's own list of variables: walking the layers for it costs more.
        if snapshot is None or not _same(snapshot.token, _token(model, snapshot.variables)):
            variables = _variables(model)
            arrays = [np.array(keras.ops.convert_to_numpy(v.value)) for v in variables]
            snapshot = _Snapshot(_token(model, variables), arrays, variables)
            _SNAPSHOTS[model] = snapshot
    return snapshot.float64() if f64 else snapshot.float32


# -------------------------------------------------------------- NumPy path
_PLANS: weakref.WeakKeyDictionary = _runtime.register("numpy forward plans", weakref.WeakKeyDictionary())


def _numpy_plan(model: keras.Model, *, with_values: bool) -> Any:
    """The model's NumPy forward pass (weights, x) -> outputs, or None if it has none."""
    try:
        plan = _PLANS[model]
    except KeyError:
        plan = _numpy_forward.plan(model, _variables(model))
        _PLANS[model] = plan
    if plan is None or (with_values and not plan.reads_variables_only):
        return None
    return plan


# ------------------------------------------------------------ compiled path
_ARCHITECTURES: weakref.WeakKeyDictionary = _runtime.register(
    "architecture keys", weakref.WeakKeyDictionary())
#: One compiled forward pass per architecture, shared by every model of it.
_FORWARDS = _runtime.register("compiled forward passes", _runtime.BoundedCache(32))


def _compiled_outputs(model: keras.Model, x: Any, chunk: int, values: TrainedState | None) -> Any:
    """Outputs chunk by chunk: one array for a single-output model, else the model's
    output structure (list or dict) of arrays."""
    n = n_rows(x)
    forward = _compiled_forward(model, values)
    parts = []
    for start in range(0, n, chunk):
        real = min(chunk, n - start)
        outputs = forward(_padded(take_rows(x, slice(start, start + chunk)), chunk))
        parts.append(keras.tree.map_structure(
            lambda a, real=real: keras.ops.convert_to_numpy(a)[:real], outputs))
    if len(parts) == 1:
        return parts[0]
    return keras.tree.map_structure(lambda *arrays: np.concatenate(arrays, axis=0), *parts)


def _compiled_forward(model: keras.Model, values: TrainedState | None = None) -> Any:
    """``x -> model(x, training=False)``, as one compiled call.

    Eager calls dispatch every operation separately (about 20 ms for a small MLP
    on 512 rows on JAX, 5 ms on TensorFlow). A compiled function takes a fraction
    of that, and models of one architecture share it: it is traced once on a
    private clone, and each call passes the weights in as arguments (Keras's
    stateless call), so no thread waits for another. Models that cannot be
    cloned, and other backends, run eagerly.
    """
    from . import engine

    backend = keras.backend.backend()
    if model not in _ARCHITECTURES:
        _ARCHITECTURES[model] = engine.architecture_key(model)
    key = _ARCHITECTURES[model]
    forward = None
    if key is not None and backend in ("jax", "tensorflow"):
        forward = _FORWARDS.get_or_create(key, lambda: _new_forward(model))
    if forward is None:
        if values is not None:
            with _runtime.lock_for(model):
                values.apply_to(model)
        return lambda x: model(x, training=False)
    if values is not None:
        trainable, non_trainable = values.trainable, values.non_trainable
    elif backend == "jax":
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
    else:
        weights = _weights(model, None)
        split = len(model.trainable_variables)
        trainable, non_trainable = weights[:split], weights[split:]
    return lambda x: forward(trainable, non_trainable, x)


def _new_forward(model: keras.Model) -> Any:
    from . import _keras_compat, building

    try:
        with scoped_seed(0), building.without_tensorflow_lookup():
            template = keras.models.clone_model(model)
    except Exception:  # clone_model cannot copy it
        return None
    kwargs = {"training": False} if _keras_compat.call_has_training_arg(template) else {}

    def stateless_forward(trainable, non_trainable, x):
        return template.stateless_call(trainable, non_trainable, x, **kwargs)[0]

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(stateless_forward)
    import tensorflow as tf

    return tf.function(stateless_forward, reduce_retracing=True)


def _padded(x: Any, rows: int) -> Any:
    """x (an array, a dict or a list of arrays) with zero rows appended up to ``rows``."""
    if isinstance(x, Mapping):
        return {name: _padded(a, rows) for name, a in x.items()}
    if isinstance(x, list | tuple):
        return [_padded(a, rows) for a in x]
    missing = rows - len(x)
    if missing <= 0:
        return x
    return np.concatenate([x, np.zeros((missing, *x.shape[1:]), dtype=x.dtype)])

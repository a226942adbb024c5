"""Forward passes over arrays, without Keras's per-call dataset machinery.

``keras.Model.predict`` builds a data adapter, an epoch iterator and callbacks on
every call: about 0.2 s even for a handful of rows. Calling the model on chunks of
the array directly gives the same numbers for a fraction of the cost.

Every chunk has the same number of rows (the last is padded with zeros): matrix
kernels take different code paths for different row counts, so a row's output
would otherwise depend, in its last bits, on how many rows it was predicted with.
With fixed chunks, predicting one row, a subset or a permutation gives bitwise
the same values as predicting the whole array.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from .inputs import n_rows, take_rows
from .routing import check_routed_arguments
from .seeding import scoped_seed
from .training import TrainedState

#: Rows per forward call (``predict__batch_size`` overrides it): large enough to
#: amortise the call, small enough that padding a single row costs little.
PREDICT_CHUNK_ROWS = 512


def model_outputs(
    model: keras.Model,
    x: np.ndarray | Mapping[str, np.ndarray],
    predict_kwargs: Mapping[str, Any] | None = None,
    values: TrainedState | None = None,
) -> np.ndarray:
    """The model's outputs for every row of ``x``, as a NumPy array.

    ``predict__batch_size`` sets the chunk size; any other ``predict__*``
    parameter switches to ``keras.Model.predict`` with those arguments, for
    models that rely on it (a custom ``predict_step``, say). ``values``, trained
    variables for a model of ``model``'s architecture, are used instead of
    ``model``'s own (a fit on a reused model, :mod:`skkeras.reuse`).
    """
    predict_kwargs = dict(predict_kwargs or {})
    chunk = int(predict_kwargs.pop("batch_size", None) or PREDICT_CHUNK_ROWS)
    if predict_kwargs:
        check_routed_arguments(model.predict, predict_kwargs, "predict")
        return np.asarray(model.predict(x, **{"verbose": 0, "batch_size": chunk, **predict_kwargs}))
    n = n_rows(x)
    forward = _compiled_forward(model, values)
    parts = [
        keras.ops.convert_to_numpy(forward(_padded(take_rows(x, slice(start, start + chunk)), chunk)))[: min(chunk, n - start)]
        for start in range(0, n, chunk)
    ]
    return np.concatenate(parts, axis=0)


# One compiled forward pass per architecture, shared by every model of it.
_FORWARDS: dict[str, tuple[keras.Model, Any]] = {}
_ARCHITECTURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_forward(model: keras.Model, values: TrainedState | None = None) -> Any:
    """``x -> model(x, training=False)``, as one compiled call.

    Eager calls dispatch every operation separately (about 20 ms for a small MLP
    on 512 rows on JAX, 5 ms on TensorFlow). A compiled function takes a fraction
    of that, and models of one architecture share it: it is traced once on a
    private clone, which is given each model's variable values (JAX: as
    arguments of a stateless call; TensorFlow: assigned to the clone's
    variables). Models that cannot be cloned stay eager.
    """
    from . import building, engine

    if model not in _ARCHITECTURES:
        _ARCHITECTURES[model] = engine.architecture_key(model)
    key = _ARCHITECTURES[model]
    if key is not None and key not in _FORWARDS:
        try:
            with scoped_seed(0), building.without_tensorflow_lookup():
                template = keras.models.clone_model(model)
        except Exception:  # clone_model cannot copy it
            key = None
        else:
            _FORWARDS[key] = (template, _compile_forward(template))
    if values is not None and (key is None or engine.backend_name() not in ("jax", "tensorflow")):
        values.apply_to(model)  # no compiled forward: run the model itself with the values
    if key is None or engine.backend_name() not in ("jax", "tensorflow"):
        return lambda x: model(x, training=False)
    template, forward = _FORWARDS[key]
    if values is not None:
        trainable, non_trainable = values.trainable, values.non_trainable
    else:
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
    if engine.backend_name() == "jax":
        return lambda x: forward(trainable, non_trainable, x)
    engine.assign_values(template.trainable_variables, trainable)
    engine.assign_values(template.non_trainable_variables, non_trainable)
    return forward


def _compile_forward(template: keras.Model) -> Any:
    from . import engine

    kwargs = {"training": False} if template._call_has_training_arg else {}
    if engine.backend_name() == "jax":
        import jax

        def stateless_forward(trainable, non_trainable, x):
            return template.stateless_call(trainable, non_trainable, x, **kwargs)[0]

        return jax.jit(stateless_forward)
    if engine.backend_name() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: template(x, **kwargs), reduce_retracing=True)
    return None


def _padded(x: np.ndarray | Mapping[str, np.ndarray], rows: int) -> np.ndarray | dict[str, np.ndarray]:
    """x with zero rows appended up to ``rows``."""
    if isinstance(x, Mapping):
        return {name: _padded(a, rows) for name, a in x.items()}
    missing = rows - len(x)
    if missing <= 0:
        return x
    return np.concatenate([x, np.zeros((missing, *x.shape[1:]), dtype=x.dtype)])

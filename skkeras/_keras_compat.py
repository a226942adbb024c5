"""The one module that touches Keras's private names.

skkeras's fast paths need a few things Keras does not publish: whether a model's
``call`` takes ``training``, its layers flattened, its loss tracker and compiled
metrics, the symbolic build ``fit`` runs, the global seed state, the loaders of
its file formats. Each is read here, behind a function with a documented meaning,
so that a Keras release that moves one of them breaks one function (and its
test, ``tests/test_keras_compat.py``), not the package. That test also fails if a
private Keras name appears anywhere else in ``skkeras/``.

Supported: Keras 3.13.1 up to (not including) 4 (``pyproject.toml``).
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import keras


# ------------------------------------------------------------------ models
def call_has_training_arg(model: keras.Layer) -> bool:
    """Whether ``model.call`` accepts a ``training`` argument."""
    return bool(model._call_has_training_arg)


def flatten_layers(
    model: keras.Layer, *, include_self: bool = False, recursive: bool = True
) -> list[keras.Layer]:
    """Every layer of ``model``, nested ones included (depth first)."""
    return list(model._flatten_layers(include_self=include_self, recursive=recursive))


def model_supports_jit(model: keras.Model) -> bool:
    """Whether Keras would compile ``model``'s training step with XLA by default."""
    from keras.src.trainers.trainer import model_supports_jit as supports

    return bool(supports(model))


def symbolic_build(model: keras.Model, data_batch: tuple[Any, ...]) -> None:
    """Build the model, its compiled loss and metrics for a batch like ``data_batch``,
    as ``fit`` does before its first step."""
    model._symbolic_build(data_batch=data_batch)


def compute_loss(model: keras.Model, **kwargs: Any) -> Any:
    """The model's loss for a batch (``x``, ``y``, ``y_pred``, ``sample_weight``,
    ``training``), regularisation included, without the loss tracker update that
    the public ``compute_loss`` makes."""
    return model._compute_loss(**kwargs)


def set_losses_override(model: keras.Model, losses: Sequence[Any]) -> None:
    """Make ``compute_loss`` add ``losses`` (activity regularisation returned by a
    stateless call) instead of reading the layers' own."""
    model._losses_override = list(losses)


def loss_tracker(model: keras.Model) -> Any:
    """The ``Mean`` metric behind the ``loss`` entry of ``fit``'s logs."""
    return model._loss_tracker


def has_compiled_metrics(model: keras.Model) -> bool:
    """Whether the model was compiled with metrics (built or not yet)."""
    return getattr(model, "_compile_metrics", None) is not None


def compiled_metrics(model: keras.Model) -> tuple[Any, list[Any], list[Any]] | None:
    """The compiled metrics container, its plain and its weighted metrics (None when
    the model was compiled without metrics)."""
    compiled = model._compile_metrics
    if compiled is None:
        return None
    return compiled, list(compiled._flat_metrics), list(compiled._flat_weighted_metrics)


def flat_targets(compiled: Any, y: Any) -> list[Any]:
    """``y`` as one entry per model output, in the order of the compiled metrics' lists
    (a dict of targets is ordered by the output names, as Keras orders it)."""
    flatten = getattr(compiled, "_flatten_y", None)
    return list(flatten(y)) if flatten is not None else keras.tree.flatten(y)


def compile_config_holder(model: keras.Model) -> Any:
    """The object in which a compiled model keeps its compile configuration."""
    return getattr(model, "_compile_config", None)


def set_compile_config_holder(model: keras.Model, holder: Any) -> None:
    """Replace the object that :func:`compile_config_holder` returns."""
    model._compile_config = holder


def callback_model(callback: keras.callbacks.Callback) -> Any:
    """The model a callback was last given (None if none), without raising."""
    return getattr(callback, "_model", None)


def detach_callback_model(callback: keras.callbacks.Callback) -> None:
    """Forget the model a callback was given (Keras sets it again at every fit)."""
    callback._model = None


# ------------------------------------------------------------------ random
@contextlib.contextmanager
def keras_seed_scope(seed: int) -> Iterator[None]:
    """Inside the block, Keras draws the default seeds of new layers from its own
    ``random.Random(seed)``, and unseeded ``keras.random`` calls from a fresh global
    seed generator; both are put back afterwards."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    keras_random = seed_generator.python_random
    generator_key = seed_generator.GLOBAL_SEED_GENERATOR
    previous_generator = global_state.get_global_attribute(generator_key)
    seed_generator.python_random = random.Random(seed)
    global_state.set_global_attribute(generator_key, None)
    try:
        yield
    finally:
        seed_generator.python_random = keras_random
        global_state.set_global_attribute(generator_key, previous_generator)


# ---------------------------------------------------------------- imports
@contextlib.contextmanager
def tensorflow_lookup_disabled() -> Iterator[None]:
    """Tell Keras that TensorFlow is unavailable for the block, unless it is imported
    already (Keras imports it to check configuration values for its types)."""
    from keras.src.utils import module_utils

    tensorflow = module_utils.tensorflow
    # vars(): the lazy module's own attributes, since a missing one would import TensorFlow.
    if "tensorflow" in sys.modules or vars(tensorflow).get("_available", True) is not None:
        yield
        return
    tensorflow._available = False
    try:
        yield
    finally:
        tensorflow._available = None


# ------------------------------------------------------------------ saving
def safe_mode_scope(safe_mode: bool) -> contextlib.AbstractContextManager:
    """Keras's deserialisation safe mode (``Lambda`` and other code objects refused)
    set for the block."""
    from keras.src.saving.serialization_lib import SafeModeScope

    return SafeModeScope(safe_mode)


def saving_lib() -> ModuleType:
    """Keras's ``.keras`` archive reader and writer (its public ``load_model`` insists
    on the ``.keras`` suffix)."""
    from keras.src.saving import saving_lib as module

    return module


def legacy_h5_format() -> ModuleType:
    """Keras's HDF5 (``.h5``) model reader and writer."""
    from keras.src.legacy.saving import legacy_h5_format as module

    return module


def legacy_saving_utils() -> ModuleType:
    """Helpers of Keras's HDF5 format (compile arguments from a training config)."""
    from keras.src.legacy.saving import saving_utils as module

    return module


# ------------------------------------------------------------------ optimizers, metrics
def optimizer_slots(optimizer: Any, name: str) -> list[Any]:
    """An optimizer's slot variables of one kind (``"_momentums"``, ``"_velocities"``,
    ``"_velocity_hats"``, ``"_average_gradients"``, ``"_accumulators"``, SGD's
    ``"momentums"``), one per trainable variable in the order it was built with."""
    return list(getattr(optimizer, name))


def weight_decay_exclusions(optimizer: Any) -> bool:
    """Whether ``exclude_from_weight_decay`` excluded any variable or name pattern."""
    return bool(getattr(optimizer, "_exclude_from_weight_decay", None)
                or getattr(optimizer, "_exclude_from_weight_decay_pattern", None))


def metric_function(metric: Any) -> tuple[Any, dict[str, Any]]:
    """The function and keyword arguments a ``MeanMetricWrapper`` metric applies per
    sample; (None, {}) for other metrics."""
    return getattr(metric, "_fn", None), dict(getattr(metric, "_fn_kwargs", None) or {})


def compile_loss_weights(model: keras.Model) -> Any:
    """The ``loss_weights`` the model was compiled with (None if none)."""
    holder = compile_config_holder(model)
    config = getattr(holder, "config", None) or {}
    return config.get("loss_weights")


def jax_backend_modules() -> tuple[ModuleType, ModuleType]:
    """Keras's JAX backend modules ``random`` and ``numpy`` (their ``uniform``, ``zeros``
    and ``ones`` are what initialisers call, see :mod:`skkeras._jax_init`)."""
    from keras.src.backend.jax import numpy as jax_numpy
    from keras.src.backend.jax import random as jax_random

    return jax_random, jax_numpy


def jax_variable_conversion(replacement: Any = None) -> Any:
    """The method of Keras's JAX ``Variable`` that turns a variable's initial value
    into an array (``JaxVariable._convert_to_tensor``, see :mod:`skkeras._jax_init`);
    with ``replacement``, that function takes its place. Returns the one in place before."""
    from keras.src.backend.jax.core import JaxVariable

    current = JaxVariable._convert_to_tensor
    if replacement is not None:
        JaxVariable._convert_to_tensor = replacement
    return current

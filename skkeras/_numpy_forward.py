"""Inference of simple Keras models in NumPy, with Keras's own formulas.

A model qualifies when it is a ``keras.Sequential`` or a functional model whose
layers form one chain (one input, one output, each layer feeding the next), every
layer computes in float32 and is one of: ``InputLayer``, ``Dense`` (not
quantized, no LoRA), ``Activation``, ``ReLU``/``LeakyReLU``/``Softmax``/``ELU``,
the noise and dropout layers (identities in inference), ``BatchNormalization``,
``Normalization`` and ``Flatten``; and every activation is one of Keras's own
(:data:`ACTIVATIONS`). Anything else gets no plan, and the caller compiles.

Values pass between steps in float32, as in Keras, and each step rounds its
result to float32 as Keras's float32 ops round theirs: a ``Dense`` layer's
product is summed in float64 and rounded, then its bias is added in float32,
then its activation applied (exact ones such as ``relu`` in float32, the others
in float64 and rounded). A layer of one input unit thus gives Keras's numbers bit
for bit; wider sums are correctly rounded where Keras's float32 accumulation may
differ in the last bit. Float64 sums are too precise for the order of
accumulation (which BLAS chooses by the number of rows) to show in the float32
result, so a row's prediction does not depend on which rows it is predicted with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import numpy as np
from scipy import special

Step = Callable[[list[np.ndarray], np.ndarray], np.ndarray]


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

#: Keras activations by name, in NumPy (their default arguments, as in a layer's config).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "sigmoid": special.expit,
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x)),
    "silu": lambda x: x * special.expit(x),
    "swish": lambda x: x * special.expit(x),
    "gelu": lambda x: 0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0))),
    "exponential": np.exp,
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
}

_IDENTITY_LAYERS = (
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "InputLayer",
)


def keras_activation_name(function: Any, names: Iterable[str]) -> str | None:
    """The first of ``names`` that Keras resolves to ``function`` (None if none does)."""
    for name in names:
        try:
            if keras.activations.get(name) is function:
                return name
        except ValueError:  # not in this Keras version
            continue
    return None


#: Activations whose float32 result is exact (no rounding of their own): run in float32.
_EXACT_IN_FLOAT32 = frozenset({"linear", "relu", "relu6", "leaky_relu"})


def _activation(function: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """The NumPy activation Keras resolves ``function`` to, from float32 to float32."""
    name = keras_activation_name(function, ACTIVATIONS)
    if name is None:
        return None
    if name == "linear":
        return _as_float32
    activation = ACTIVATIONS[name]
    if name in _EXACT_IN_FLOAT32:
        return lambda h: _as_float32(activation(h))
    return lambda h: _as_float32(activation(h.astype(np.float64)))


class Plan:
    """A chain of NumPy steps over the model's weights (trainable, then non-trainable)."""

    def __init__(self, steps: Sequence[Step], reads_variables_only: bool) -> None:
        self.steps = list(steps)
        #: False when a step reads a layer's state outside its variables (the mean
        #: of an adapted ``Normalization``), so values given for another model do not apply.
        self.reads_variables_only = reads_variables_only

    def __call__(self, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        for step in self.steps:
            h = _as_float32(step(weights, h))
        return h


def plan(model: keras.Model, variables: Sequence[Any]) -> Plan | None:
    """The NumPy forward pass of ``model`` (whose variables are ``variables``, in the
    order its weights will be given), or None if the model does not qualify."""
    try:
        layers = _chain(model)
        if layers is None:
            return None
        index = {id(v): i for i, v in enumerate(variables)}
        steps: list[Step] = []
        only_variables = True
        for layer in layers:
            if getattr(layer, "dtype_policy", None) is None or layer.dtype_policy.name != "float32":
                return None
            step = _step(layer, index)
            if step is None:
                return None
            if step is not _SKIP:
                steps.append(step)
            if type(layer).__name__ == "Normalization":
                only_variables = False
        return Plan(steps, only_variables)
    except Exception:  # an unexpected layer state: compile instead
        return None


def _chain(model: keras.Model) -> list[Any] | None:
    kind = type(model).__name__
    if not type(model).__module__.startswith("keras.") or kind not in ("Sequential", "Functional"):
        return None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers:
        return None
    if kind == "Functional":
        previous = model.inputs[0]
        for layer in layers:
            if layer.input is not previous:
                return None
            previous = layer.output
        if previous is not model.outputs[0]:
            return None
    return layers


def _as_float32(a: np.ndarray) -> np.ndarray:
    """``a`` rounded to float32 (no copy if it is float32 already)."""
    return a.astype(np.float32, copy=False)


def _SKIP(weights: list[np.ndarray], h: np.ndarray) -> np.ndarray:  # noqa: N802
    return h


def _step(layer: Any, index: dict[int, int]) -> Step | None:
    kind = type(layer).__name__
    if not type(layer).__module__.startswith("keras."):
        return None
    if kind in _IDENTITY_LAYERS:
        return _SKIP
    if kind == "Dense":
        return _dense(layer, index)
    if kind == "Activation":
        return _with_activation(None, layer.activation)
    if kind == "ReLU":
        if layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0:
            return _with_activation(None, keras.activations.relu)
        return None
    if kind == "LeakyReLU":
        slope = float(layer.negative_slope)
        return lambda w, h: np.where(h >= 0, h, slope * h)
    if kind == "ELU":
        alpha = float(layer.alpha)
        return lambda w, h: np.where(h > 0, h, alpha * np.expm1(h.astype(np.float64)))
    if kind == "Softmax":
        axis = layer.axis
        return lambda w, h: _softmax(h.astype(np.float64), axis=axis)
    if kind == "Flatten":
        return lambda w, h: h.reshape(len(h), -1)
    if kind == "BatchNormalization":
        return _batch_normalization(layer, index)
    if kind == "Normalization":
        return _normalization(layer)
    return None


def _with_activation(step: Step | None, function: Any) -> Step | None:
    activation = _activation(function)
    if activation is None:
        return None
    if step is None:
        return lambda w, h: activation(h)
    return lambda w, h: activation(step(w, h))


def _dense(layer: Any, index: dict[int, int]) -> Step | None:
    if getattr(layer, "quantization_mode", None) is not None or getattr(layer, "lora_enabled", False):
        return None
    kernel = index[id(layer.kernel)]
    bias = index[id(layer.bias)] if layer.use_bias else None

    def affine(w: list[np.ndarray], h: np.ndarray) -> np.ndarray:
        # Summed in float64 and rounded before the bias, as Keras's matmul rounds.
        out = _as_float32(h.astype(np.float64) @ w[kernel].astype(np.float64))
        return out if bias is None else out + _as_float32(w[bias])

    return _with_activation(affine, layer.activation)


def _batch_normalization(layer: Any, index: dict[int, int]) -> Step | None:
    axis, epsilon = layer.axis, float(layer.epsilon)
    mean, variance = index[id(layer.moving_mean)], index[id(layer.moving_variance)]
    gamma = index[id(layer.gamma)] if layer.scale else None
    beta = index[id(layer.beta)] if layer.center else None

    def normalise(w: list[np.ndarray], h: np.ndarray) -> np.ndarray:
        shape = [1] * h.ndim
        shape[axis] = -1
        inv = 1.0 / np.sqrt(w[variance].reshape(shape) + epsilon)
        if gamma is not None:
            inv = inv * w[gamma].reshape(shape)
        shift = -w[mean].reshape(shape) * inv
        if beta is not None:
            shift = shift + w[beta].reshape(shape)
        return h * inv + shift

    return normalise


def _normalization(layer: Any) -> Step | None:
    if layer.invert or layer.mean is None:
        return None
    cached: list[Any] = [None, None, None]  # the layer's mean tensor, then NumPy mean and std

    def normalise(w: list[np.ndarray], h: np.ndarray) -> np.ndarray:
        if cached[0] is not layer.mean:  # adapting again replaces the tensor
            mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), dtype=np.float64)
            variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), dtype=np.float64)
            cached[:] = [layer.mean, mean, np.maximum(np.sqrt(variance), keras.config.epsilon())]
        return (h - cached[1]) / cached[2]

    return normalise

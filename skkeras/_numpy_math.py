"""Keras's formulas in NumPy, float32: activations and their derivatives, losses and
their gradients, metrics, and the optimizers' update rules (for :mod:`skkeras._numpy_train`).

Each follows Keras 3's own code for the backend in use: a crossentropy after a sigmoid or
softmax output is computed from the logits on TensorFlow (Keras's TensorFlow backend
recovers them) and from the clipped probabilities on JAX; the optimizers' updates are
written as Keras writes them, so their float32 rounding matches to a unit or two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from scipy import special

from . import _keras_compat
from ._numpy_forward import keras_activation_name

_EPS = np.float32(keras.config.epsilon())
F32 = np.float32


def _clip(x: np.ndarray, low: np.float32, high: np.float32) -> np.ndarray:
    """``np.clip`` (the same values) without its Python wrapper, a few microseconds
    a call that a step of a small net feels."""
    return np.minimum(np.maximum(x, low), high)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return special.expit(z)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_backward(s: np.ndarray, g: np.ndarray) -> np.ndarray:
    return s * (g - np.sum(g * s, axis=-1, keepdims=True))


_SELU_ALPHA, _SELU_SCALE = F32(1.6732632423543772848170429916717), F32(1.0507009873554804934193349852946)

#: name -> (forward(z), backward(z, a, g)): Keras's activations and their derivatives.
_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "linear": (lambda z: z, lambda z, a, g: g),
    "relu": (lambda z: np.maximum(z, F32(0)), lambda z, a, g: g * (z > 0)),
    "sigmoid": (_sigmoid, lambda z, a, g: g * (a * (F32(1) - a))),
    "tanh": (np.tanh, lambda z, a, g: g * (F32(1) - a * a)),
    "softmax": (_softmax, lambda z, a, g: _softmax_backward(a, g)),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(z)), lambda z, a, g: g * np.where(z > 0, F32(1), np.exp(z))),
    "selu": (lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(z)),
             lambda z, a, g: g * _SELU_SCALE * np.where(z > 0, F32(1), _SELU_ALPHA * np.exp(z))),
    "softplus": (lambda z: np.logaddexp(F32(0), z), lambda z, a, g: g * _sigmoid(z)),
    "swish": (lambda z: z * _sigmoid(z),
              lambda z, a, g: g * (_sigmoid(z) * (F32(1) + z * (F32(1) - _sigmoid(z))))),
}
_ACTIVATIONS["silu"] = _ACTIVATIONS["swish"]


def _activation_name(function: Any) -> str | None:
    return keras_activation_name(function, _ACTIVATIONS)


#: Keras metric functions the executor computes: name -> per-row values(y, y_pred).
def _binary_accuracy(y, p):
    return (y == (p > F32(0.5)).astype(F32)).astype(F32).mean(axis=-1)


def _categorical_accuracy(y, p):
    return (np.argmax(y, axis=-1) == np.argmax(p, axis=-1)).astype(F32)


def _sparse_categorical_accuracy(y, p):
    labels = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
    return (labels.astype(np.int64) == np.argmax(p, axis=-1)).astype(F32)


_METRICS: dict[str, Callable] = {
    "binary_accuracy": _binary_accuracy,
    "categorical_accuracy": _categorical_accuracy,
    "sparse_categorical_accuracy": _sparse_categorical_accuracy,
    "mean_squared_error": lambda y, p: np.square(p - y).mean(axis=-1),
    "mean_absolute_error": lambda y, p: np.abs(p - y).mean(axis=-1),
}

_LOSSES = {
    "binary_crossentropy": "bce", "BinaryCrossentropy": "bce",
    "categorical_crossentropy": "cce", "CategoricalCrossentropy": "cce",
    "sparse_categorical_crossentropy": "scce", "SparseCategoricalCrossentropy": "scce",
    "mean_squared_error": "mse", "MeanSquaredError": "mse", "mse": "mse",
    "mean_absolute_error": "mae", "MeanAbsoluteError": "mae", "mae": "mae",
}

_OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")


def _flat(values: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(v, F32).ravel() for v in values]).astype(F32)



# ---------------------------------------------------------------- the optimizer
class Optimizer:
    """Keras's update formula for one optimizer configuration, over a stack of flat
    parameter vectors (runs x parameters): each run keeps its own slots and iteration
    count (see :mod:`skkeras._numpy_runs`)."""

    def __init__(self, optimizers: Sequence[Any], net: Any,
                 values: Sequence[Callable[[Any], np.ndarray]]) -> None:
        """``optimizers``: each run's Keras optimizer (one configuration); ``values``:
        each run's reader of its starting values."""
        optimizer, value = optimizers[0], values[0]
        self.optimizers, self.kind = list(optimizers), type(optimizer).__name__
        config = optimizer.get_config()
        self.config = config
        self.lr = F32(value(optimizer.learning_rate))
        self.iterations = np.array([int(read(o.iterations)) for o, read in zip(optimizers, values, strict=True)],
                                   dtype=np.int64)
        self.wd = F32(config["weight_decay"]) if config.get("weight_decay") else None
        self.slots = {
            name: np.stack([_flat([read(v) for v in _keras_compat.optimizer_slots(o, name)])
                            for o, read in zip(optimizers, values, strict=True)])
            for name in self._slot_names()
        }
        self._alphas: tuple[int, np.ndarray] = (0, np.zeros((0, 1), F32))
        self._epoch_alphas = np.zeros((0, len(optimizers), 1), F32)
        self._slot_views: dict[int, dict[str, np.ndarray]] = {}  # the first k runs' slots
        if self.kind in ("Adam", "AdamW"):  # Keras's float32 constants, computed once
            self._adam = (F32(1 - config["beta_1"]), F32(1 - config["beta_2"]), F32(config["epsilon"]))

    def _slot_names(self) -> list[str]:
        c = self.config
        if self.kind == "SGD":
            return ["momentums"] if c["momentum"] != 0 else []
        if self.kind in ("Adam", "AdamW"):
            return ["_momentums", "_velocities"] + (["_velocity_hats"] if c["amsgrad"] else [])
        if self.kind == "RMSprop":
            return (["_velocities"] + (["_momentums"] if c["momentum"] > 0 else [])
                    + (["_average_gradients"] if c["centered"] else []))
        return ["_accumulators"]

    def write_back(self, net: Any, run: int = 0) -> list[tuple[Any, np.ndarray]]:
        """(variable, value) pairs of run ``run``'s optimizer."""
        optimizer = self.optimizers[run]
        pairs = [(optimizer.iterations, np.asarray(self.iterations[run], dtype="int64"))]
        for name, flat in self.slots.items():
            variables = _keras_compat.optimizer_slots(optimizer, name)
            pairs += [(v, a[0]) for v, a in
                      zip(variables, net.views(flat[run:run + 1]), strict=True)]
        return pairs

    def reserve(self, steps: int) -> None:
        """Prepare for up to ``steps`` more updates of each run: Adam's step sizes
        ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` (float32) at every iteration
        ``t`` the runs reach, as a column to index by run."""
        if self.kind not in ("Adam", "AdamW"):
            return
        c, lr = self.config, self.lr
        start = int(self.iterations.min())
        t = (np.arange(int(self.iterations.max()) - start + steps + 1) + start + 1).astype(F32)
        b1, b2 = F32(c["beta_1"]), F32(c["beta_2"])
        self._alphas = (start, (lr * np.sqrt(F32(1) - b2 ** t) / (F32(1) - b1 ** t))[:, None])

    def begin_epoch(self, batches: int) -> None:
        """Before an epoch of up to ``batches`` steps: Adam's step size of each run at
        each step, (batch, run, 1), from the table :meth:`reserve` made."""
        if self.kind in ("Adam", "AdamW"):
            start, alphas = self._alphas
            self._epoch_alphas = alphas[(self.iterations - start)[None, :] + np.arange(batches)[:, None]]

    def end_epoch(self, steps: np.ndarray) -> None:
        """After an epoch in which the runs took ``steps`` steps each."""
        self.iterations += steps

    def step(self, w: np.ndarray, g: np.ndarray, k: int, batch: int) -> None:
        """The update at position ``batch`` of the epoch (:meth:`begin_epoch`) of the
        first ``k`` runs (``w``, ``g``: their flat values and gradients)."""
        c, lr = self.config, self.lr
        s = self._slot_views.get(k)
        if s is None:
            s = self._slot_views[k] = {name: flat[:k] for name, flat in self.slots.items()}
        if self.wd is not None:
            w -= w * self.wd * lr
        if self.kind == "SGD":
            if "momentums" in s:
                m = s["momentums"]
                momentum = F32(c["momentum"])
                m[:] = m * momentum - g * lr
                if c["nesterov"]:
                    w += m * momentum - g * lr
                else:
                    w += m
            else:
                w -= g * lr
        elif self.kind in ("Adam", "AdamW"):
            alpha = self._epoch_alphas[batch, :k]  # each run's, as a (k, 1) column
            one_minus_beta_1, one_minus_beta_2, epsilon = self._adam
            m, v = s["_momentums"], s["_velocities"]
            m += (g - m) * one_minus_beta_1
            v += (np.square(g) - v) * one_minus_beta_2
            if "_velocity_hats" in s:
                np.maximum(s["_velocity_hats"], v, out=s["_velocity_hats"])
                v = s["_velocity_hats"]
            w -= (m * alpha) / (np.sqrt(v) + epsilon)
        elif self.kind == "RMSprop":
            rho = F32(c["rho"])
            v = s["_velocities"]
            v[:] = rho * v + F32(1 - c["rho"]) * np.square(g)
            if "_average_gradients" in s:
                a = s["_average_gradients"]
                a[:] = rho * a + F32(1 - c["rho"]) * g
                denominator = v - np.square(a) + F32(c["epsilon"])
            else:
                denominator = v + F32(c["epsilon"])
            increment = (lr * g) / np.sqrt(denominator)
            if "_momentums" in s:
                mo = s["_momentums"]
                mo[:] = F32(c["momentum"]) * mo + increment
                w -= mo
            else:
                w -= increment
        else:  # Adagrad
            acc = s["_accumulators"]
            acc += np.square(g)
            w -= (lr * g) / np.sqrt(acc + F32(c["epsilon"]))


# ---------------------------------------------------------------- the loss
class Loss:
    """The loss per row and its gradient at the output (at the logits when ``fused``)."""

    def __init__(self, spec: tuple[str, bool], last: tuple | None) -> None:
        """``spec``: (kind, from_logits); ``last``: the network's last step."""
        self.kind, self.from_logits = spec
        wanted = {"bce": "sigmoid", "cce": "softmax", "scce": "softmax"}.get(self.kind)
        # TensorFlow's backend computes a crossentropy from the logits of a sigmoid or
        # softmax output; JAX's from the clipped probabilities.
        self.fused = (keras.backend.backend() == "tensorflow" and last is not None
                      and last[0] == "act" and last[1] == wanted)
        self.logits = self.fused or self.from_logits

    def targets(self, y: np.ndarray, width: int) -> np.ndarray:
        """``y`` as float32 in the output's shape (one-hot for sparse labels), as Keras
        casts and expands it."""
        if self.kind == "scce":
            labels = (y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y).astype(np.int64)
            one_hot = np.zeros((len(y), width), F32)
            one_hot[np.arange(len(labels)), labels] = 1
            return one_hot
        y = np.asarray(y, dtype=F32)
        return y[:, None] if y.ndim == 1 else y

    def gradient(self, y: np.ndarray, out: np.ndarray, z: np.ndarray) -> np.ndarray:
        """d loss_row / d output (``z``: the last activation's input, for ``fused``)."""
        kind, k = self.kind, F32(out.shape[-1])
        if kind == "mse":
            return (out - y) * (F32(2) / k)
        if kind == "mae":
            return np.sign(out - y) / k
        if kind == "bce":  # (dividing by a width of 1 changes no bit: skipped)
            if self.fused:
                return out - y if k == 1 else (out - y) / k
            if self.from_logits:
                return (_sigmoid(out) - y) / k
            p = _clip(out, _EPS, F32(1) - _EPS)
            inside = p == out  # the clip's gradient: 1 where it kept the value
            g = ((F32(1) - y) / (F32(1) - p) - y / p) * inside
            return g if k == 1 else g / k
        if self.fused:
            return out * y.sum(axis=-1, keepdims=True) - y
        if self.from_logits:
            return _softmax(out) * y.sum(axis=-1, keepdims=True) - y
        total = out.sum(axis=-1, keepdims=True)
        q = out / total
        qc = _clip(q, _EPS, F32(1) - _EPS)
        dq = (-y / qc) * ((q >= _EPS) & (q <= F32(1) - _EPS))
        return (dq - (dq * q).sum(axis=-1, keepdims=True)) / total

    def values(self, y: np.ndarray, out: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        """The loss of each row."""
        kind = self.kind
        if kind == "mse":
            return np.square(out - y).mean(axis=-1)
        if kind == "mae":
            return np.abs(out - y).mean(axis=-1)
        logits = z if self.fused else out
        if kind == "bce":
            if self.logits:
                return (np.maximum(logits, F32(0)) - logits * y
                        + np.log1p(np.exp(-np.abs(logits)))).mean(axis=-1)
            p = _clip(out, _EPS, F32(1) - _EPS)
            return (-(y * np.log(p) + (F32(1) - y) * np.log(F32(1) - p))).mean(axis=-1)
        if self.logits:
            shifted = logits - logits.max(axis=-1, keepdims=True)
            log_prob = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            return -(y * log_prob).sum(axis=-1)
        q = _clip(out / out.sum(axis=-1, keepdims=True), _EPS, F32(1) - _EPS)
        return -(y * np.log(q)).sum(axis=-1)

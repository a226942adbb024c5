"""Whether the fast path can train a model: :func:`blockers` says why not.

Also whether it compiles with XLA (:func:`default_jit_compile`) and whether a
batch's shape changes the numbers (:func:`needs_exact_batches`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras

from .. import _keras_compat

if TYPE_CHECKING:
    pass


_BATCH_HOOKS = (
    "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
    # validation hooks: the fast path validates without calling them
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
)


def backend_name() -> str:
    return keras.backend.backend()


def default_jit_compile(model: keras.Model) -> bool:
    """Whether the compiled epochs use XLA unless the user says otherwise: yes.

    Measured on W1 (TensorFlow, 2 CPU cores, 45 fits): 25.6 s without XLA, 11.9 s
    with it. XLA costs about 1.5 s more to compile a program, and saves about a
    hundred microseconds per optimizer step of a small MLP; since programs are
    cached by architecture and run several epochs per call, it pays from a few
    thousand steps, which any search or cross-validation reaches. JAX always
    compiles with XLA. ``compile__jit_compile=False`` opts out on TensorFlow.

    Not for models with random layers on TensorFlow: its stateless random ops draw
    other numbers under XLA, and the fast path must give ``Model.fit``'s numbers.
    """
    if backend_name() == "jax":
        return True
    return _keras_compat.model_supports_jit(model) and not has_random_layers(model)


# --------------------------------------------------------------------- blockers
def _overrides(obj: Any, name: str, base: type) -> bool:
    method = getattr(obj, name, None)
    return getattr(method, "__func__", method) is not getattr(base, name)


def _per_batch_callback(callback: keras.callbacks.Callback) -> bool:
    if isinstance(callback, keras.callbacks.ModelCheckpoint):
        return callback.save_freq != "epoch"
    if isinstance(callback, keras.callbacks.History | keras.callbacks.ProgbarLogger):
        return False
    return any(_overrides(callback, hook, keras.callbacks.Callback) for hook in _BATCH_HOOKS)


def _loss_reduction(model: keras.Model) -> str:
    loss = model.loss
    if isinstance(loss, keras.losses.Loss):
        return str(loss.reduction)
    return "sum_over_batch_size"


def has_random_layers(model: keras.Model) -> bool:
    """Whether a layer draws random numbers in training (Dropout, GaussianNoise...).

    Recurrent layers and cells (LSTM, GRU, SimpleRNN) hold a seed generator for
    their dropout: they count only when ``dropout`` or ``recurrent_dropout`` is set.
    """
    return any(
        isinstance(getattr(layer, "seed_generator", None), keras.random.SeedGenerator)
        and not _recurrent_without_dropout(layer)
        for layer in _keras_compat.flatten_layers(model)
    )


def _recurrent_without_dropout(layer: keras.Layer) -> bool:
    recurrent = isinstance(layer, keras.layers.RNN) or hasattr(layer, "recurrent_dropout")
    return recurrent and not getattr(layer, "dropout", 0) and not getattr(layer, "recurrent_dropout", 0)


def needs_exact_batches(model: keras.Model) -> bool:
    """Whether a batch's shape or padding rows change the numbers: random layers draw
    noise for the shape, batch normalisation averages over the rows, and on JAX a model
    with several outputs weighs each output's loss tracker by the batch's static row
    count (on TensorFlow, ``fit``'s batch dimension is unknown when traced, so every
    batch weighs the same there, as padded batches do)."""
    several_outputs = len(getattr(model, "outputs", None) or ()) > 1
    return has_random_layers(model) or (several_outputs and backend_name() == "jax") or any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in _keras_compat.flatten_layers(model)
    )


def blockers(
    model: keras.Model,
    callbacks: Sequence[keras.callbacks.Callback],
    fit_kwargs: Mapping[str, Any],
    *,
    n_samples: int | None = None,
    batch_size: int | None = None,
    packed: bool = False,
) -> list[str]:
    """Reasons the fast path cannot train this model; empty if it can.

    :func:`train_fast` trains a short last batch in its own shape where the shape
    matters (random layers, batch normalisation), so these train on the fast path.
    ``packed=True`` asks about a pack (:mod:`skkeras.packing`), whose members pad
    their batches: there batch normalisation would count the padding rows, and with
    ``n_samples`` and ``batch_size``, a random layer would draw its noise for the
    padded shape of a short last batch.
    """
    reasons = []
    short_last_batch = bool(n_samples and batch_size and n_samples % batch_size)
    if backend_name() not in ("tensorflow", "jax"):
        reasons.append(f"the {backend_name()} backend (the fast path needs TensorFlow or JAX)")
    if _overrides(model, "train_step", keras.Model) or _overrides(model, "test_step", keras.Model):
        reasons.append(f"{type(model).__name__} defines its own train_step/test_step")
    if model.run_eagerly:
        reasons.append("run_eagerly=True")
    if backend_name() == "jax" and model.jit_compile is False:
        reasons.append("jit_compile=False on JAX")
    if getattr(model.optimizer, "gradient_accumulation_steps", None):
        reasons.append("gradient accumulation")
    for layer in _keras_compat.flatten_layers(model):
        if getattr(layer, "stateful", False):
            reasons.append(f"the stateful layer {layer.name!r}")
        if packed and isinstance(layer, keras.layers.BatchNormalization):
            reasons.append(f"batch normalization ({layer.name!r}) would count padding rows")
    if packed and short_last_batch and has_random_layers(model):
        reasons.append("a random layer (Dropout...) with a short last batch: its noise "
                       "would be drawn for the padded batch shape")
    reduction = _loss_reduction(model)
    if reduction != "sum_over_batch_size":
        reasons.append(f"the loss reduction {reduction!r}")
    for callback in callbacks:
        if _per_batch_callback(callback):
            reasons.append(f"the per-batch callback {type(callback).__name__}")
    if fit_kwargs:
        reasons.append(f"fit arguments {sorted(fit_kwargs)}")
    return reasons

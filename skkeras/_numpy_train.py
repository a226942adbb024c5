"""Training small dense networks in NumPy, with Keras's formulas, where compiling costs more.

A fresh process pays about a second of compiling (TensorFlow's XLA, JAX's jit) before
the compiled fast path (:mod:`skkeras.engine`) runs its first step, and again for each
new batch size; a step of a small MLP then takes tens of microseconds. For a job of a
few thousand steps of a small net, running the steps in NumPy takes less than the
compile alone. :func:`use_numpy` decides from the job alone (steps times weights,
:data:`WORK_LIMIT`), never from what is compiled already, so a fit always takes the
same path.

Scope (everything else is declined, :func:`blockers` says why, and the compiled path
trains): a ``Sequential`` or one-chain functional model of ``Dense`` (no
regularisers, constraints, quantisation or LoRA), ``Activation``/``ReLU`` layers and
``Dropout(0)``, in float32, with the activations in :data:`_ACTIVATIONS`; the losses
binary, categorical and sparse categorical crossentropy (no label smoothing), mean
squared and mean absolute error, ``sum_over_batch_size`` reduction; the metrics in
:data:`_METRICS`; the optimizers SGD (momentum, Nesterov), Adam (AMSGrad), AdamW,
RMSprop (momentum, centred) and Adagrad with a constant learning rate, no clipping,
EMA or loss scaling; no callbacks.

A search's runs train together (:func:`train_numpy_runs`): those that share an
architecture, optimizer configuration, batch size and epoch count step as one stack on a
leading run axis (:mod:`skkeras._numpy_runs`), with the numbers each gets alone.

The arithmetic is Keras's, in float32, step by step: the same seeded batch order as
the compiled path (:func:`skkeras.engine.call_plans`), the loss weighted per batch as
``fit`` weighs it, sample weights on the loss and ``weighted_metrics`` only, the loss
tracker weighted by rows, the optimizer's update formula and iteration count. On
TensorFlow a crossentropy after a sigmoid or softmax output is computed from the
logits, as Keras's TensorFlow backend does; on JAX from the clipped probabilities.
The results agree with the compiled path's to float32 rounding (about 1e-6), not
bit for bit. The trained values go back into the model's variables and its
optimizer's, so a warm start continues from them on either path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from . import _keras_compat
from ._numpy_forward import _chain
from ._numpy_math import _LOSSES, _METRICS, _OPTIMIZERS, F32, Loss, _activation_name
from ._numpy_runs import Net, Runs, stack_key
from .inputs import n_rows

if TYPE_CHECKING:
    from .job import TrainingJob

#: Jobs whose optimizer steps times (weights + batch rows x width) stay under this
#: train in NumPy (see :func:`use_numpy`). Measured on the project's 2-core machine:
#: a NumPy step of a 12-8-1 net on 20 rows takes about 60 us, the compiled path's
#: first program about 1-2 s to compile; at this limit a NumPy fit takes about 1 s.
WORK_LIMIT = 2_000_000

# ---------------------------------------------------------------- the checks
def blockers(job: TrainingJob) -> list[str]:
    """Reasons the NumPy executor cannot train ``job``; empty if it can."""
    model = job.model
    reasons: list[str] = []
    if job.callbacks:
        reasons.append("callbacks look at the model between epochs")
    if job.fit_kwargs:
        reasons.append(f"fit arguments {sorted(job.fit_kwargs)}")
    if isinstance(job.x, dict) or not isinstance(job.x, np.ndarray) or job.x.ndim != 2:
        reasons.append("inputs other than one 2-D array")
    if not isinstance(job.y, np.ndarray):
        reasons.append("targets other than one array")
    layers = _chain(model)
    if layers is None:
        return [*reasons, "not a single chain of layers"]
    for layer in layers:
        reasons += _layer_blockers(layer)
    if not model.trainable_variables:
        reasons.append("no trainable weights")
    reasons += _loss_blockers(model) + _optimizer_blockers(model.optimizer)
    if model.losses:
        reasons.append("added losses")
    return reasons


def _layer_blockers(layer: Any) -> list[str]:
    kind = type(layer).__name__
    if not type(layer).__module__.startswith("keras."):
        return [f"the custom layer {layer.name!r}"]
    if getattr(layer, "dtype_policy", None) is None or layer.dtype_policy.name != "float32":
        return [f"the layer {layer.name!r} does not compute in float32"]
    if not layer.trainable and layer.weights:
        return [f"the frozen layer {layer.name!r}"]
    if kind == "Dense":
        if (layer.kernel_regularizer or layer.bias_regularizer or layer.activity_regularizer
                or layer.kernel_constraint or layer.bias_constraint
                or getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False)):
            return [f"regularisation, constraints or quantisation on {layer.name!r}"]
        if _activation_name(layer.activation) is None:
            return [f"the activation of {layer.name!r}"]
        return []
    if kind == "Activation":
        return [] if _activation_name(layer.activation) else [f"the activation of {layer.name!r}"]
    if kind == "ReLU":
        plain = layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
        return [] if plain else [f"the ReLU arguments of {layer.name!r}"]
    if kind == "Dropout" and float(layer.rate) == 0:
        return []
    return [f"the {kind} layer {layer.name!r}"]


def _loss_spec(model: keras.Model) -> tuple[str, bool] | None:
    """(kind, from_logits) of the model's loss, or None if not supported."""
    loss = model.loss
    if isinstance(loss, str):
        kind = _LOSSES.get(loss)
        return None if kind is None else (kind, False)
    if isinstance(loss, keras.losses.Loss):
        if type(loss).__module__.startswith("keras.") and type(loss).__name__ in _LOSSES:
            config = loss.get_config()
            if config.get("label_smoothing") or config.get("ignore_class") is not None:
                return None
            if config.get("axis", -1) != -1:
                return None
            return _LOSSES[type(loss).__name__], bool(config.get("from_logits", False))
        return None
    name = getattr(loss, "__name__", None)
    if callable(loss) and name in _LOSSES and getattr(keras.losses, name, None) is loss:
        return _LOSSES[name], False
    return None


def _loss_blockers(model: keras.Model) -> list[str]:
    if _loss_spec(model) is None:
        return [f"the loss {model.loss!r}"]
    if isinstance(model.loss, keras.losses.Loss) and str(model.loss.reduction) != "sum_over_batch_size":
        return [f"the loss reduction {model.loss.reduction!r}"]
    if _keras_compat.compile_loss_weights(model) is not None:
        return ["loss weights"]
    return []


def _optimizer_blockers(optimizer: Any) -> list[str]:
    kind = type(optimizer).__name__
    if kind not in _OPTIMIZERS or not type(optimizer).__module__.startswith("keras."):
        return [f"the optimizer {kind}"]
    config = optimizer.get_config()
    reasons = []
    if not isinstance(config.get("learning_rate"), int | float):
        reasons.append("a learning-rate schedule")
    for name in ("clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor",
                 "gradient_accumulation_steps"):
        if config.get(name):
            reasons.append(name)
    if config.get("use_ema"):
        reasons.append("use_ema")
    if config.get("weight_decay") and _keras_compat.weight_decay_exclusions(optimizer):
        reasons.append("weight decay with excluded variables")
    return reasons


def metric_plan(model: keras.Model) -> list[tuple[str, Callable, bool]] | None:
    """(log name, per-row function, weighted) of each compiled metric, or None when one is
    not computable here. Call after the model's metrics are built."""
    found = _keras_compat.compiled_metrics(model)
    if found is None:
        return []
    _, plain, weighted = found
    plan = []
    for metrics, is_weighted in ((plain, False), (weighted, True)):
        for metric in _unwrapped(metrics):
            function, kwargs = _keras_compat.metric_function(metric)
            name = getattr(function, "__name__", None)
            if kwargs not in ({}, {"threshold": 0.5}) or name not in _METRICS or getattr(keras.metrics, name, None) is not function:
                return None
            plan.append((metric.name, _METRICS[name], is_weighted))
    return plan


def _unwrapped(metrics: Sequence[Any]) -> list[Any]:
    """The metrics, with Keras's per-output ``MetricsList`` containers opened."""
    found = []
    for metric in metrics:
        if not metric:
            continue
        inner = getattr(metric, "metrics", None) if type(metric).__name__ == "MetricsList" else None
        found += list(inner) if inner is not None else [metric]
    return found


def prepare(model: keras.Model, x: Any, y: Any, batch_size: int) -> None:
    """Build what the NumPy executor reads: the optimizer's variables, and the compiled
    metrics when there are any (:func:`skkeras.engine.prepare`, as ``fit`` would).

    A built model compiled with one loss and no metrics skips Keras's symbolic pass over
    a batch: it would only build the compiled loss, which holds no state for one loss
    (0.04 s, the first time in a TensorFlow process). The compiled path and
    ``Model.fit`` build it when they run.
    """
    from .engine import prepare as prepare_all

    loss_only = (model.built and not _keras_compat.has_compiled_metrics(model)
                 and not keras.tree.is_nested(model.loss))
    prepare_all(model, x, y, batch_size, symbolic=not loss_only)


def work(job: TrainingJob) -> int:
    """The job's size for :func:`use_numpy`: optimizer steps x (weights + batch rows x
    the widest layer)."""
    n = n_rows(job.x)
    steps = job.epochs * -(-n // job.batch_size)
    weights = sum(int(np.prod(v.shape)) for v in job.model.trainable_variables)
    widths = [int(v.shape[-1]) for v in job.model.trainable_variables] or [1]
    return steps * (weights + min(job.batch_size, n) * max(widths))


def use_numpy(job: TrainingJob) -> tuple[bool, str]:
    """Whether ``engine="auto"`` trains ``job`` in NumPy, and why (or why not)."""
    if job.slots is not None:  # runs of a search sharing compiled programs
        return False, "its search shares compiled programs"
    size = work(job)
    if size >= WORK_LIMIT:
        return False, f"a large job ({size:,} >= {WORK_LIMIT:,} step-weights)"
    reasons = blockers(job)
    if reasons:
        return False, "; ".join(reasons)
    prepare(job.model, job.x, job.y, job.batch_size)
    if metric_plan(job.model) is None:
        return False, "a compiled metric the NumPy executor does not compute"
    return True, f"a small job ({size:,} < {WORK_LIMIT:,} step-weights)"


# ---------------------------------------------------------------- training
def train_numpy(job: TrainingJob, snapshots: dict[int, Any] | None = None) -> dict[str, list[float]]:
    """Train ``job`` (which :func:`use_numpy` accepts) in NumPy; return the history.

    ``snapshots``, a dict whose keys are epoch counts, receives the model's
    :class:`~skkeras.job.TrainedState` after each of those epochs (as
    :func:`skkeras.engine.train_fast` gives them to a search's epoch paths).
    """
    from .engine import assign_values

    model = job.model
    runs = _runs([job])
    validation = _validation(job, runs.loss, runs.width)
    callback_list = keras.callbacks.CallbackList(
        [], add_history=True, add_progbar=job.verbose != 0, model=model,
        verbose=job.verbose, epochs=job.epochs, steps=runs.max_batches,
    )
    history = next(c for c in callback_list.callbacks if isinstance(c, keras.callbacks.History))
    model.stop_training = False
    callback_list.on_train_begin()
    try:
        with np.errstate(all="ignore"):
            for epoch in range(job.epochs):
                callback_list.on_epoch_begin(epoch)
                logs = runs.train_epoch(epoch)[0]
                if validation is not None:
                    logs.update({"val_" + k: v for k, v in runs.evaluate(0, *validation).items()})
                callback_list.on_epoch_end(epoch, logs)
                if snapshots is not None and epoch + 1 in snapshots:
                    snapshots[epoch + 1] = runs.snapshot(0, history.history)
    finally:
        pairs, _ = runs.values(0)
        assign_values([v for v, _ in pairs], [value for _, value in pairs])
    callback_list.on_train_end()
    return {name: [float(v) for v in values] for name, values in history.history.items()}


def train_numpy_runs(jobs: Sequence[TrainingJob], stops: Sequence[Collection[int]]) -> list[dict[int, Any]]:
    """Train the runs of a search (each accepted by :func:`use_numpy`) in NumPy, to the
    largest of its ``stops``; for each, its :class:`~skkeras.job.TrainedState` at each
    of its stops. The models' variables are left as they are: the states carry the
    results. Runs of one :func:`skkeras._numpy_runs.stack_key` train as one stack,
    each with the numbers it gets alone."""
    jobs = [replace(job, epochs=max(s)) for job, s in zip(jobs, stops, strict=True)]
    groups: dict[Any, list[int]] = {}
    for i, job in enumerate(jobs):
        key = _stack_key(job)
        groups.setdefault(("alone", i) if key is None else key, []).append(i)
    results: list[dict[int, Any]] = [{} for _ in jobs]
    for key, group in groups.items():
        if key[0] == "alone":  # validation data or a progress bar: the estimators' own path
            snapshots: dict[int, Any] = dict.fromkeys(stops[group[0]])
            train_numpy(jobs[group[0]], snapshots)
            results[group[0]] = {e: s for e, s in snapshots.items() if s is not None}
            continue
        model, features = jobs[group[0]].model, jobs[group[0]].x.shape[1]
        width = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else 1
        run_bytes = 4 * max(n_rows(jobs[i].x) for i in group) * (features + 3 * width + 1)
        size = max(1, STACK_BYTES // run_bytes)
        for start in range(0, len(group), size):
            _train_stack(jobs, stops, group[start:start + size], results)
    return results


#: The most memory a stack's arrays of one epoch (inputs, targets, outputs, loss
#: weights) take: a group of runs needing more trains as several stacks.
STACK_BYTES = 64 * 2**20


def _train_stack(jobs: Sequence[TrainingJob], stops: Sequence[Collection[int]], members: list[int],
                 results: list[dict[int, Any]]) -> None:
    """Train ``jobs[members]`` (of one stack key) as one stack into ``results``."""
    runs = _runs([jobs[i] for i in members])
    histories: list[dict[str, list[float]]] = [{} for _ in members]
    with np.errstate(all="ignore"):
        for epoch in range(jobs[members[0]].epochs):
            for position, logs in enumerate(runs.train_epoch(epoch)):
                for name, value in logs.items():
                    histories[position].setdefault(name, []).append(value)
                if epoch + 1 in stops[members[position]]:
                    results[members[position]][epoch + 1] = runs.snapshot(position, histories[position])


def _stack_key(job: TrainingJob) -> tuple | None:
    prepare(job.model, job.x, job.y, job.batch_size)
    metrics = metric_plan(job.model)
    return None if metrics is None else stack_key(job, Net(job.model), metrics, _loss_spec(job.model))


def _runs(jobs: Sequence[TrainingJob]) -> Runs:
    """The jobs (of one stack key) as a :class:`~skkeras._numpy_runs.Runs`."""
    for job in jobs:
        prepare(job.model, job.x, job.y, job.batch_size)
    metrics = metric_plan(jobs[0].model)
    if metrics is None:
        raise ValueError("a compiled metric the NumPy executor cannot compute")
    return Runs(jobs, _loss_spec(jobs[0].model), metrics)


def _validation(job: TrainingJob, loss: Loss, width: int) -> tuple[Any, ...] | None:
    if job.validation_data is None:
        return None
    x_val, y_val, *rest = job.validation_data
    weights = None if not rest or rest[0] is None else np.asarray(rest[0], F32)
    return (np.asarray(x_val, F32), loss.targets(np.asarray(y_val), width), weights,
            job.validation_batch_size or job.batch_size)

"""The compiled programs: a train and an evaluation epoch (or several epochs per
call) for one architecture and batch plan, on JAX or TensorFlow, cached by key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from .. import _keras_compat, _runtime
from ..building import without_tensorflow_lookup
from ..seeding import scoped_seed
from .eligibility import backend_name
from .keys import _input_signature, architecture_key
from .plans import assign_values, prepare
from .sparse_rows import take

#: Compiled programs kept for reuse (least recently used dropped first).
PROGRAM_CACHE_SIZE = 16


_PROGRAMS: _runtime.BoundedCache = _runtime.register(
    "compiled programs", _runtime.BoundedCache(PROGRAM_CACHE_SIZE))


def clear_program_cache() -> None:
    """Forget every compiled program (they are rebuilt on demand)."""
    _PROGRAMS.clear()


def _variable_shapes(model: keras.Model) -> list[tuple[int, ...]]:
    groups = (model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables)
    return [tuple(v.shape) for group in groups for v in group]


def _program_for(
    model: keras.Model, key: str | None, jit_compile: bool, sample: tuple[Any, ...], short: int = 0
) -> _Program:
    if key is None:
        return _compile_program(model, jit_compile, short)
    shapes = _variable_shapes(model)
    with _PROGRAMS.creating(key):  # two threads needing one program compile it once
        program = _PROGRAMS.get(key)
        if program is not None and _variable_shapes(program.template) == shapes:
            return program
        template = _private_template(model, sample)
        if template is None:  # not reusable: a program for this model alone
            return _compile_program(model, jit_compile, short)
        program = _compile_program(template, jit_compile, short)
        _PROGRAMS.put(key, program)
        return program


def _private_template(model: keras.Model, sample: tuple[Any, ...]) -> keras.Model | None:
    """A copy of ``model`` for a cached program to own, or None if it cannot be made.

    A cached program outlives the fit that created it, so it must not hold the
    user's model: on TensorFlow it runs on its template's variables, which would
    otherwise overwrite an earlier estimator's fitted weights.
    """
    try:
        # A clone's layers draw default seeds from Python's random: keep it out of
        # the caller's random state (the clone's own seeds are overwritten on load).
        with scoped_seed(0), without_tensorflow_lookup():
            template = keras.models.clone_model(model)
            template.compile_from_config(model.get_compile_config())
        prepare(template, *sample)
    except Exception:  # custom objects that do not serialise: no reuse
        return None
    return template


def jax_program_for(model: keras.Model, x: Any, y: np.ndarray, batch_size: int) -> _JaxProgram:
    """The (cached) JAX program for models like ``model``: its pure functions serve packs."""
    key = architecture_key(model)
    if key is not None:
        key += f"|{_input_signature(x)}|y{_input_signature(y)}|pure"
    return _program_for(model, key, True, (x, y, batch_size))


# ------------------------------------------------------------ the programs
def _update_metrics(template: keras.Model, loss, rows, y, y_pred, mask, weight) -> None:
    """Update the loss tracker and compiled metrics the way ``fit`` does for a short batch.

    ``fit`` weighs the loss tracker by the batch's rows, applies sample weights to
    ``weighted_metrics`` only, and leaves plain ``metrics`` unweighted; padding
    rows are masked out of both.
    """
    _keras_compat.loss_tracker(template).update_state(loss, sample_weight=rows)
    found = _keras_compat.compiled_metrics(template)
    if found is None:
        return
    compiled = found[0]
    if not compiled.built:
        compiled.build(y, y_pred)
        found = _keras_compat.compiled_metrics(template)
    _, plain, weighted = found
    # One metrics list per model output, as Keras's CompileMetrics pairs them.
    targets, predictions = _keras_compat.flat_targets(compiled, y), keras.tree.flatten(y_pred)
    for metric, y_true, y_out in zip(plain, targets, predictions, strict=False):
        if metric:
            metric.update_state(y_true, y_out, sample_weight=mask)
    for metric, y_true, y_out in zip(weighted, targets, predictions, strict=False):
        if metric:
            metric.update_state(y_true, y_out, sample_weight=weight)


def _take_batch(data, plan, b):
    x_all, y_all = data
    index, loss_weight, metric_weight, mask, rows = plan
    rows_b = index[b]
    x, y = take(x_all, rows_b), take(y_all, rows_b)  # sparse parts of x made dense here
    return x, y, loss_weight[b], metric_weight[b], mask[b], rows[b]


def _short_batch(batch, rows: int):
    """The first ``rows`` rows of a batch from :func:`_take_batch`, as ``fit`` would give
    a last batch of that many rows: its real shape, and the loss weighted by the sample
    weights alone (no ``batch_size / rows`` scaling: the reduction divides by ``rows``)."""
    x, y, _, metric_weight, mask, n = batch
    x, y = keras.tree.map_structure(lambda a: a[:rows], (x, y))
    return x, y, metric_weight[:rows], metric_weight[:rows], mask[:rows], n


def _training_kwargs(model: keras.Model, training: bool) -> dict[str, bool]:
    return {"training": training} if _keras_compat.call_has_training_arg(model) else {}


class _Program:
    """Compiled train and evaluation epochs for one architecture and batch shape.

    ``load`` takes a model's variables in, ``train_epoch``/``evaluate`` run one
    compiled call each and return the metric logs, ``store`` writes the trained
    variables back into a model.
    """

    def __init__(self, template: keras.Model) -> None:
        self.template = template

    def _groups(self, model: keras.Model) -> list[list[Any]]:
        return [model.trainable_variables, model.non_trainable_variables,
                model.optimizer.variables, model.metrics_variables]


class _JaxProgram(_Program):
    """JAX: pure functions of the variable values, through Keras's stateless API."""

    def __init__(self, template: keras.Model, jit_compile: bool, short: int = 0) -> None:
        import jax

        super().__init__(template)
        self.state: list[Any] = []

        def forward_loss(trainable, non_trainable, metrics_vars, optimizer_vars, x, y, weight, training):
            y_pred, non_trainable, losses = template.stateless_call(
                trainable, non_trainable, x, return_losses=True,
                **_training_kwargs(template, training),
            )
            if losses:  # activity regularisation from the forward pass reaches compute_loss
                _keras_compat.set_losses_override(template, losses)
            loss, (_, non_trainable, metrics_vars) = template.stateless_compute_loss(
                trainable, non_trainable, metrics_vars, x=x, y=y, y_pred=y_pred,
                sample_weight=weight, training=training,
            )
            if losses:
                _keras_compat.set_losses_override(template, [])
            unscaled = loss
            if training:
                mapping = list(zip(template.optimizer.variables, optimizer_vars, strict=True))
                with keras.StatelessScope(state_mapping=mapping):
                    loss = template.optimizer.scale_loss(loss)
            return loss, (unscaled, y_pred, non_trainable, metrics_vars)

        grad_fn = jax.value_and_grad(
            lambda trainable, *args: forward_loss(trainable, *args, training=True), has_aux=True
        )

        def metrics_after(metrics_vars, loss, rows, y, y_pred, mask, weight):
            mapping = list(zip(template.metrics_variables, metrics_vars, strict=True))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                _update_metrics(template, loss, rows, y, y_pred, mask, weight)
            return [
                scope.get_current_value(v) if scope.get_current_value(v) is not None else v.value
                for v in template.metrics_variables
            ]

        def train_batch(state, batch):
            trainable, non_trainable, optimizer_vars, metrics_vars = state
            x, y, loss_weight, metric_weight, mask, rows = batch
            (_, (loss, y_pred, non_trainable, metrics_vars)), grads = grad_fn(
                trainable, non_trainable, metrics_vars, optimizer_vars, x, y, loss_weight
            )
            trainable, optimizer_vars = template.optimizer.stateless_apply(
                optimizer_vars, grads, trainable
            )
            metrics_vars = metrics_after(metrics_vars, loss, rows, y, y_pred, mask, metric_weight)
            return [trainable, non_trainable, optimizer_vars, metrics_vars]

        def train_epoch(state, data, plan, n_batches):
            def step(b, state):
                return train_batch(state, _take_batch(data, plan, b))

            if not short:
                return jax.lax.fori_loop(0, n_batches, step, state)
            # The last batch in its own shape (random layers, batch normalisation).
            state = jax.lax.fori_loop(0, n_batches - 1, step, state)
            return train_batch(state, _short_batch(_take_batch(data, plan, n_batches - 1), short))

        def evaluate(state, data, plan, n_batches):
            def step(b, state):
                trainable, non_trainable, metrics_vars = state
                x, y, loss_weight, metric_weight, mask, rows = _take_batch(data, plan, b)
                _, (loss, y_pred, non_trainable, metrics_vars) = forward_loss(
                    trainable, non_trainable, metrics_vars, None, x, y, loss_weight, training=False
                )
                metrics_vars = metrics_after(metrics_vars, loss, rows, y, y_pred, mask, metric_weight)
                return [trainable, non_trainable, metrics_vars]

            return jax.lax.fori_loop(0, n_batches, step, state)

        def results(metrics_vars):
            mapping = list(zip(template.metrics_variables, metrics_vars, strict=True))
            with keras.StatelessScope(state_mapping=mapping):
                return template.get_metrics_result()

        def train_epochs(state, data, plans, n_batches, n_epochs, fresh_metrics):
            """Several epochs in one call; each epoch's metric results, stacked."""
            names = list(jax.eval_shape(results, fresh_metrics))
            logs = {name: jax.numpy.zeros(len(n_batches)) for name in names}

            def epoch(e, carry):
                state, logs = carry
                plan = tuple(p[e] for p in plans)
                state = train_epoch([*state[:3], fresh_metrics], data, plan, n_batches[e])
                values = results(state[3])
                logs = {k: logs[k].at[e].set(values[k]) for k in names}
                return state, logs

            return jax.lax.fori_loop(0, n_epochs, epoch, (state, logs))

        # The pure function, for skkeras.packing to vectorise over many models.
        self.pure_train_epochs = train_epochs
        self._vectorised: Any = None
        self._train_epoch = jax.jit(train_epoch)
        self._train_epochs = jax.jit(train_epochs)
        self._evaluate = jax.jit(evaluate)

    def vectorised(self) -> Any:
        """:meth:`train_epochs` vectorised over a leading model axis (every argument but
        the epoch count), compiled once per program, so once per architecture, for packs."""
        if self._vectorised is None:
            import jax

            self._vectorised = jax.jit(jax.vmap(self.pure_train_epochs, in_axes=(0, 0, 0, 0, None, 0)))
        return self._vectorised

    def load(self, model: keras.Model) -> None:
        self.state = [[v.value for v in group] for group in self._groups(model)]

    def store(self, model: keras.Model) -> None:
        for group, values in zip(self._groups(model)[:3], self.state[:3], strict=True):
            assign_values(group, values)

    def train_epoch(self, data, plan, n_batches, fresh_metrics) -> dict[str, float]:
        self.state[3] = fresh_metrics
        self.state = list(self._train_epoch(self.state, data, plan, n_batches))
        return _logs(self.template, self.state[3])

    def train_epochs(self, data, plans, n_batches, n_epochs, fresh_metrics) -> list[dict[str, float]]:
        state, logs = self._train_epochs(self.state, data, plans, n_batches, n_epochs, fresh_metrics)
        self.state = list(state)
        return _per_epoch(logs, int(n_epochs))

    def evaluate(self, data, plan, n_batches, fresh_metrics) -> dict[str, float]:
        _, _, metrics_vars = self._evaluate(
            [self.state[0], self.state[1], fresh_metrics], data, plan, n_batches
        )
        return _logs(self.template, metrics_vars, prefix="val_")


class _TensorFlowProgram(_Program):
    """TensorFlow: a ``tf.function`` over the template's own variables, as ``fit``'s.

    TensorFlow's optimizers refuse ``stateless_apply``, so the compiled loop
    updates the template model's variables in place; ``load`` and ``store`` copy
    a fit's values in and out, which lets every fit of the architecture reuse it.
    """

    def __init__(self, template: keras.Model, jit_compile: bool, short: int = 0) -> None:
        import tensorflow as tf

        super().__init__(template)
        optimizer = template.optimizer

        def train_batch(batch):
            x, y, loss_weight, metric_weight, mask, rows = batch
            with tf.GradientTape() as tape:
                y_pred = template(x, **_training_kwargs(template, True))
                loss = _keras_compat.compute_loss(template,
                    x=x, y=y, y_pred=y_pred, sample_weight=loss_weight, training=True
                )
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, template.trainable_weights)
            optimizer.apply(grads, template.trainable_weights)
            _update_metrics(template, loss, rows, y, y_pred, mask, metric_weight)

        # Explicit tf.while_loop rather than autograph's `for ... in tf.range`: nested
        # in the multi-epoch loop, autograph left a Range op XLA cannot compile.
        def train_epoch(data, plan, n_batches):
            def step(b):
                train_batch(_take_batch(data, plan, b))
                return (b + 1,)

            full = n_batches - 1 if short else n_batches
            done = tf.while_loop(lambda b: b < full, step, (tf.constant(0),))[0]
            if not short:
                return done
            # The last batch in its own shape (random layers, batch normalisation).
            with tf.control_dependencies([done]):
                train_batch(_short_batch(_take_batch(data, plan, n_batches - 1), short))
                return done + 1

        def train_epochs(data, plans, n_batches, n_epochs, fresh_metrics):
            """Several epochs in one call; each epoch's metric results, stacked."""
            names = list(template.get_metrics_result())

            def epoch(e, *logs):
                for variable, value in zip(template.metrics_variables, fresh_metrics, strict=True):
                    variable.assign(value)
                with tf.control_dependencies([train_epoch(data, tuple(p[e] for p in plans), n_batches[e])]):
                    values = template.get_metrics_result()
                    logs = [log.write(e, tf.cast(values[name], tf.float32))
                            for log, name in zip(logs, names, strict=True)]
                return (e + 1, *logs)

            logs = [tf.TensorArray(tf.float32, size=n_batches.shape[0]) for _ in names]
            logs = tf.while_loop(lambda e, *_: e < n_epochs, epoch, (tf.constant(0), *logs))[1:]
            return {name: log.stack() for log, name in zip(logs, names, strict=True)}

        def evaluate(data, plan, n_batches):
            for b in tf.range(n_batches):
                x, y, loss_weight, metric_weight, mask, rows = _take_batch(data, plan, b)
                y_pred = template(x, **_training_kwargs(template, False))
                loss = _keras_compat.compute_loss(template,
                    x=x, y=y, y_pred=y_pred, sample_weight=loss_weight, training=False
                )
                _update_metrics(template, loss, rows, y, y_pred, mask, metric_weight)
            return tf.constant(0)

        self._train_epoch = tf.function(train_epoch, jit_compile=jit_compile, reduce_retracing=True)
        self._train_epochs = tf.function(train_epochs, jit_compile=jit_compile, reduce_retracing=True)
        self._evaluate = tf.function(evaluate, jit_compile=jit_compile, reduce_retracing=True)

    def load(self, model: keras.Model) -> None:
        if model is not self.template:
            for source, target in zip(self._groups(model)[:3], self._groups(self.template)[:3], strict=True):
                assign_values(target, [v.value for v in source])

    def store(self, model: keras.Model) -> None:
        if model is not self.template:
            for source, target in zip(self._groups(self.template)[:3], self._groups(model)[:3], strict=True):
                assign_values(target, [v.value for v in source])

    def train_epoch(self, data, plan, n_batches, fresh_metrics) -> dict[str, float]:
        assign_values(self.template.metrics_variables, fresh_metrics)
        self._train_epoch(data, plan, n_batches)
        return _logs(self.template)

    def train_epochs(self, data, plans, n_batches, n_epochs, fresh_metrics) -> list[dict[str, float]]:
        logs = self._train_epochs(data, plans, n_batches, n_epochs, fresh_metrics)
        return _per_epoch(logs, int(n_epochs))

    def evaluate(self, data, plan, n_batches, fresh_metrics) -> dict[str, float]:
        assign_values(self.template.metrics_variables, fresh_metrics)
        self._evaluate(data, plan, n_batches)
        return _logs(self.template, prefix="val_")


def _per_epoch(logs: Mapping[str, Any], n_epochs: int) -> list[dict[str, float]]:
    """Stacked per-epoch results -> one logs dict per epoch."""
    columns = {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in logs.items()}
    return [{name: float(values[e]) for name, values in columns.items()} for e in range(n_epochs)]


def _compile_program(template: keras.Model, jit_compile: bool, short: int = 0) -> _Program:
    """The compiled epochs of ``template``; ``short``: the rows of each epoch's last
    batch when it is trained in its own shape (0: padded like the others)."""
    if backend_name() == "jax":
        return _JaxProgram(template, jit_compile, short)
    return _TensorFlowProgram(template, jit_compile, short)


def _logs(template: keras.Model, metrics_vars: Sequence[Any] | None = None, prefix: str = "") -> dict[str, float]:
    if metrics_vars is not None:
        assign_values(template.metrics_variables, metrics_vars)
    return {
        prefix + name: float(keras.ops.convert_to_numpy(value))
        for name, value in template.get_metrics_result().items()
    }

"""The fast training path: a whole epoch of optimizer steps as one compiled call.

``keras.Model.fit`` pays for adapters, iterators and callbacks on every call and
dispatches each optimizer step separately; on small tabular data that overhead
is nearly all of the time. Here one compiled program runs every step of an
epoch, drawing batches from arrays that stay on the device, and it is cached by
architecture, so a grid search compiles once per distinct configuration rather
than once per fit.

The program is built on Keras's stateless API (``stateless_call``,
``stateless_compute_loss``, ``optimizer.stateless_apply``), so the numbers are
those of ``Model.fit``: same loss, same regularisation, same optimizer update,
same metrics. Each epoch's batches follow skkeras's seeded order. The last,
short batch is padded to the full batch shape with rows of weight zero, and
its real rows are weighted ``batch_size / rows`` so that Keras's
``sum_over_batch_size`` reduction gives the short batch's mean, as ``fit`` does:
one compiled shape serves every fold, where a fold one row longer would
otherwise recompile.

Where an assumption fails (a custom ``train_step``, per-batch callbacks,
stateful layers, another loss reduction, ``fit__`` arguments), :func:`blockers`
says why, and the caller falls back to ``Model.fit``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from . import _keras_compat, _runtime
from ._jax_init import numpy_initializers
from .building import without_tensorflow_lookup
from .compilation_cache import enable_from_environment
from .inputs import n_rows
from .seeding import epoch_permutation, scoped_seed

if TYPE_CHECKING:
    from .training import TrainingJob

# SKKERAS_COMPILATION_CACHE asks for the persistent cache from the first compilation on.
enable_from_environment()

#: Rows of the training arrays are padded up to a multiple of this, so folds of
#: slightly different sizes share one compiled program.
ROW_BUCKET = 256

#: Compiled programs kept for reuse (least recently used dropped first).
PROGRAM_CACHE_SIZE = 16


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """The scope of one fit or search in this thread.

    There is no process-wide lock: fits in threads (joblib's threading backend, a
    threaded Dask worker) run at once. Each shared object locks itself while a
    thread uses it: a compiled program for the length of a training (see
    :func:`train_fast`), a model build for the seeds it draws
    (:func:`skkeras.seeding.scoped_seed`), and a reused model
    (:func:`skkeras.reuse.workbench`) from the moment a fit takes it until this
    scope ends, so the fit's trained values are read before another fit trains it.
    """
    with _runtime.checkout_scope():
        yield


_BATCH_HOOKS = (
    "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
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
    noise for the shape, batch normalisation averages over the rows."""
    return has_random_layers(model) or any(
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


# ------------------------------------------------------------- program cache
def architecture_key(model: keras.Model, *, with_learning_rate: bool = False) -> str | None:
    """The architecture and compile configuration as JSON, names made positional.

    Two builds of one architecture get different layer names (dense_3, dense_7),
    and metric objects made per build different metric names (auc_3, auc_7);
    mapping names to positions makes their configurations equal (the logs are
    renamed back per fit, see :func:`log_renames`). A constant learning rate is
    left out by default: it lives in an optimizer variable, so one compiled
    program serves every rate.
    """
    configs = _configurations(model, with_learning_rate)
    return None if configs is None else _positional_text(model, configs)


def _positional_text(model: keras.Model, configs: tuple[dict, dict]) -> str:
    """The configurations as JSON, with the layer and metric names replaced by
    their positions.

    A name that also occurs as a value (a layer called "relu") keeps its text:
    replacing the value too could make two different configurations equal.
    """
    text = "".join(json.dumps(config, sort_keys=True, default=repr) for config in configs)
    values = _plain_values(configs)
    layers = (layer.name for layer in _keras_compat.flatten_layers(model, include_self=True))
    names = dict.fromkeys([*layers, *metric_names(configs[1])])
    for position, name in enumerate(names):
        if name not in values:
            text = text.replace(json.dumps(name), f'"L{position}"')
    return text


def _plain_values(config: Any) -> set[str]:
    """The strings in a configuration other than names: values of keys other than
    ``name``, and list items other than a layer reference's ``[name, node, index]``."""
    found: set[str] = set()

    def walk(value: Any, key: Any = None) -> None:
        if isinstance(value, str):
            if key != "name":
                found.add(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list | tuple):
            reference = len(value) == 3 and isinstance(value[0], str) and all(
                isinstance(v, int) for v in value[1:])
            for v in value[1:] if reference else value:
                walk(v)

    walk(config)
    return found


def metric_names(compile_config: Mapping[str, Any]) -> list[str]:
    """The names of the metric objects in a compile configuration, in order
    (metrics given as strings are named by Keras the same way every build)."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict) and "class_name" in value:
            name = (value.get("config") or {}).get("name")
            if isinstance(name, str):
                names.append(name)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk([compile_config.get("metrics"), compile_config.get("weighted_metrics")])
    return names


def log_renames(template: keras.Model, model: keras.Model) -> dict[str, str]:
    """Log names of a program's template mapped to ``model``'s own, for metric
    objects that are named differently in the two builds (``auc_3`` and ``auc_7``)."""
    if template is model:
        return {}
    with without_tensorflow_lookup():
        pairs = zip(metric_names(template.get_compile_config() or {}),
                    metric_names(model.get_compile_config() or {}), strict=False)
    renames = {ours: theirs for ours, theirs in pairs if ours != theirs}
    return {**renames, **{f"val_{k}": f"val_{v}" for k, v in renames.items()}}


def renamed(logs: Mapping[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    """``logs`` with keys renamed by :func:`log_renames`."""
    return {renames.get(name, name): value for name, value in logs.items()}


def _configurations(model: keras.Model, with_learning_rate: bool = False) -> tuple[dict, dict] | None:
    """The model's configuration and compile configuration; None if it has none."""
    try:
        with without_tensorflow_lookup():
            config = model.get_config()
            compile_config = model.get_compile_config() or {}
    except Exception:  # a subclassed model without get_config: no reuse
        return None
    optimizer = compile_config.get("optimizer")
    if isinstance(optimizer, dict):
        settings = dict(optimizer.get("config", {}))
        settings.pop("name", None)
        if not with_learning_rate and isinstance(settings.get("learning_rate"), int | float):
            settings.pop("learning_rate")
        compile_config = {**compile_config, "optimizer": {**optimizer, "config": settings}}
    return config, compile_config


def exportable_key(model: keras.Model) -> str | None:
    """:func:`architecture_key` if the model is made of Keras's own classes and
    functions only, so that its configuration determines its traced programs
    (see :func:`skkeras.compilation_cache.lowered`); None otherwise.

    A custom layer, loss, metric or activation could change its code under the
    same configuration, and a ``Lambda`` layer's function can read globals. The
    metric names stay in the key as they are: a saved program returns its logs
    under the names it was traced with.
    """
    configs = _configurations(model)
    if not type(model).__module__.startswith("keras.") or configs is None or not _keras_only(configs):
        return None
    return f"{_positional_text(model, configs)}|metrics{json.dumps(metric_names(configs[1]))}"


def _keras_only(config: Any) -> bool:
    if isinstance(config, tuple | list):
        return all(_keras_only(value) for value in config)
    if isinstance(config, dict):
        if "module" in config:
            module = config["module"]
            if not isinstance(module, str) or not (module == "keras" or module.startswith("keras.")):
                return False
            if config.get("registered_name") is not None or config.get("class_name") == "Lambda":
                return False
        return all(_keras_only(value) for value in config.values())
    return True


def _input_signature(x: Any) -> str:
    if isinstance(x, Mapping):
        return repr(sorted((k, a.shape[1:], str(a.dtype)) for k, a in x.items()))
    return repr((x.shape[1:], str(x.dtype)))


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
        key += f"|{_input_signature(x)}|y{y.shape[1:]}{y.dtype}|pure"
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
    for metric in plain:
        if metric:
            metric.update_state(y, y_pred, sample_weight=mask)
    for metric in weighted:
        if metric:
            metric.update_state(y, y_pred, sample_weight=weight)


def _take_batch(data, plan, b):
    x_all, y_all = data
    index, loss_weight, metric_weight, mask, rows = plan
    rows_b = index[b]
    x = keras.tree.map_structure(lambda a: keras.ops.take(a, rows_b, axis=0), x_all)
    y = keras.ops.take(y_all, rows_b, axis=0)
    return x, y, loss_weight[b], metric_weight[b], mask[b], rows[b]


def _short_batch(batch, rows: int):
    """The first ``rows`` rows of a batch from :func:`_take_batch`, as ``fit`` would give
    a last batch of that many rows: its real shape, and the loss weighted by the sample
    weights alone (no ``batch_size / rows`` scaling: the reduction divides by ``rows``)."""
    x, y, _, metric_weight, mask, n = batch
    x = keras.tree.map_structure(lambda a: a[:rows], x)
    return x, y[:rows], metric_weight[:rows], metric_weight[:rows], mask[:rows], n


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


# ----------------------------------------------------------------- batching
def pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` with zero rows appended up to ``rows``."""
    if len(a) == rows:
        return a
    return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), dtype=a.dtype)])


def row_bucket(n: int) -> int:
    """Rows rounded up to the bucket, so near-equal folds share compiled shapes."""
    return -(-n // ROW_BUCKET) * ROW_BUCKET


def padded_data(x: Any, y: np.ndarray, rows: int) -> tuple[Any, np.ndarray]:
    return keras.tree.map_structure(lambda a: pad_rows(a, rows), x), pad_rows(y, rows)


def _device_data(x: Any, y: np.ndarray, rows: int) -> tuple[Any, Any]:
    return keras.tree.map_structure(keras.ops.convert_to_tensor, padded_data(x, y, rows))


def epoch_plan(
    order: np.ndarray,
    weights: np.ndarray | None,
    batch_size: int,
    max_batches: int,
    width: int | None = None,
) -> tuple[tuple[np.ndarray, ...], int]:
    """The arrays that drive one epoch: row indices, weights, padding mask, rows per batch.

    ``order`` lists the rows in training order. Batches of ``batch_size`` rows are
    cut from it into ``width`` slots (default: the batch size; wider when models
    with different batch sizes train together); unused slots are masked, and the
    real rows' loss weights are scaled by ``width / rows`` so that Keras's
    ``sum_over_batch_size`` reduction gives each batch the mean of its real rows.
    """
    plans, n_batches = epoch_plans(np.asarray(order)[None], weights, batch_size, max_batches, width)
    return tuple(a[0] for a in plans), n_batches


def epoch_plans(
    orders: np.ndarray,
    weights: np.ndarray | None,
    batch_size: int,
    max_batches: int,
    width: int | None = None,
) -> tuple[tuple[np.ndarray, ...], int]:
    """:func:`epoch_plan` for several epochs at once: ``orders`` is (epochs, rows) and
    every array gains a leading epoch axis; the batch count is every epoch's."""
    width = width or batch_size
    n_epochs, n = orders.shape
    n_batches = -(-n // batch_size)
    padded_orders = np.zeros((n_epochs, n_batches * batch_size), dtype=np.int32)
    padded_orders[:, :n] = orders
    real = np.zeros(n_batches * batch_size, dtype=np.float32)
    real[:n] = 1.0
    shape = (n_epochs, max_batches, width)
    index = np.zeros(shape, dtype=np.int32)
    mask = np.zeros(shape, dtype=np.float32)
    index[:, :n_batches, :batch_size] = padded_orders.reshape(n_epochs, n_batches, batch_size)
    mask[:, :n_batches, :batch_size] = real.reshape(n_batches, batch_size)
    metric_weight = mask.copy()
    if weights is not None:
        real_slots = mask > 0
        metric_weight[real_slots] *= weights[index[real_slots]]
    rows = mask.sum(axis=-1)
    loss_weight = (metric_weight * (width / np.maximum(rows, 1))[..., None]).astype(np.float32)
    return (index, loss_weight, metric_weight, mask, rows), n_batches


def _epoch_order(seed: int, epoch: int, n: int, shuffle: bool) -> np.ndarray:
    return epoch_permutation(seed, epoch, n) if shuffle else np.arange(n)


def call_plans(
    seed: int, shuffle: bool, n: int, weights: np.ndarray | None, batch_size: int,
    max_batches: int, width: int, epochs: range, per_call: int,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The batch plans of ``epochs`` for one compiled call of several epochs: each
    :func:`epoch_plan` array with a leading epoch axis padded to ``per_call`` (one
    compiled shape), and each epoch's batch count (0 for the padding)."""
    orders = np.stack([_epoch_order(seed, epoch, n, shuffle) for epoch in epochs])
    plans, n_batches = epoch_plans(orders, weights, batch_size, max_batches, width)
    counts = np.full(len(epochs), n_batches, dtype=np.int32)
    return tuple(pad_rows(a, per_call) for a in plans), pad_rows(counts, per_call)


def _to_device(plan: tuple[np.ndarray, ...], n_batches: int) -> tuple[tuple[Any, ...], Any]:
    """The plan and its batch count as device tensors. A tensor count, not a Python
    int: tf.function would retrace for every new int value."""
    arrays = tuple(keras.ops.convert_to_tensor(a) for a in plan)
    return arrays, keras.ops.convert_to_tensor(np.int32(n_batches))


# ----------------------------------------------------------------- training
def assign_values(variables: Sequence[Any], values: Sequence[Any]) -> None:
    """Assign ``values`` to ``variables``, one to one (and note that weights changed:
    prediction's snapshots on TensorFlow are read again)."""
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    _runtime.bump_weights_generation()


def prepare(model: keras.Model, x: Any, y: np.ndarray, batch_size: int) -> None:
    """Create the optimizer, loss and metric variables fit would create."""
    sample = (
        keras.tree.map_structure(lambda a: a[:batch_size], x), y[:batch_size],
        np.ones(min(batch_size, len(y)), dtype=np.float32),
    )
    with numpy_initializers():  # zeros without compiling, on JAX (skkeras._jax_init)
        _keras_compat.symbolic_build(model, sample)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _logs(template: keras.Model, metrics_vars: Sequence[Any] | None = None, prefix: str = "") -> dict[str, float]:
    if metrics_vars is not None:
        assign_values(template.metrics_variables, metrics_vars)
    return {
        prefix + name: float(keras.ops.convert_to_numpy(value))
        for name, value in template.get_metrics_result().items()
    }


def train_fast(job: TrainingJob, snapshots: dict[int, Any] | None = None) -> dict[str, list[float]]:
    """Train ``job`` like ``model.fit`` over skkeras's batch order, in compiled calls of
    one epoch (when callbacks or validation look at the model between epochs) or up
    to :data:`EPOCHS_PER_CALL` epochs.

    ``snapshots``, a dict whose keys are epoch counts, receives the model's
    :class:`~skkeras.training.TrainedState` after each of those epochs.
    """
    model, x, y, batch_size = job.model, job.x, job.y, job.batch_size
    jit_compile = default_jit_compile(model) if job.jit_compile is None else job.jit_compile
    n = n_rows(x)
    rows = row_bucket(n)
    prepare(model, x, y, batch_size)
    job.reset_model()
    # The job's own batch plan, unless runs of a search share a wider one: never
    # what happens to be compiled already, so a fit's numbers do not depend on
    # what the process ran before.
    exact = needs_exact_batches(model)
    max_batches, width = (job.slots if job.slots and not exact else None) or (
        -(-rows // batch_size), batch_size)
    # Random layers and batch normalisation see a batch's shape and rows: the last,
    # short batch then trains in its own shape, as in fit.
    short = n % batch_size if exact else 0
    key = architecture_key(model)
    if key is not None:
        key += (f"|{_input_signature(x)}|y{y.shape[1:]}{y.dtype}|plan{max_batches}x{width}"
                f"|rows{rows}|xla{jit_compile}|short{short}")
    program = _program_for(model, key, jit_compile, (x, y, batch_size), short)
    # A program is shared by the fits of one architecture (on TensorFlow it trains
    # its template's variables): one fit at a time trains on it.
    with _runtime.lock_for(program):
        return _train_on(program, job, snapshots, n, rows, max_batches, width)


def _train_on(
    program: _Program, job: TrainingJob, snapshots: dict[int, Any] | None,
    n: int, rows: int, max_batches: int, width: int,
) -> dict[str, list[float]]:
    model, x, y, sample_weight = job.model, job.x, job.y, job.sample_weight
    epochs, batch_size, first_epoch = job.epochs, job.batch_size, job.first_epoch
    seed, shuffle, callbacks, verbose = job.seed, job.shuffle, job.callbacks, job.verbose
    renames = log_renames(program.template, model)
    data = _device_data(x, y, rows)
    validation = _validation_inputs(job.validation_data, job.validation_batch_size or batch_size)

    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=verbose != 0, model=model,
        verbose=verbose, epochs=epochs, steps=-(-n // batch_size),
    )
    history = next(c for c in callback_list.callbacks if isinstance(c, keras.callbacks.History))
    # Only callbacks beyond History look at the model between epochs.
    interactive = validation is not None or len(callback_list.callbacks) > 1
    model.stop_training = False
    model.reset_metrics()
    # Copies: on TensorFlow a variable's .value is the live variable, not a snapshot.
    fresh_metrics = [keras.ops.convert_to_numpy(v) for v in model.metrics_variables]
    callback_list.on_train_begin()
    program.load(model)

    # Without callbacks that look at the model, several epochs run per call (a
    # fixed number, so one compiled shape serves every fit), up to each snapshot.
    per_call = 1 if interactive else epochs_per_call(max_batches * width)
    stops = sorted(snapshots) if snapshots else []
    try:
        epoch = 0
        while per_call > 1 and epoch < epochs:
            count = min(per_call, epochs - epoch, *[s - epoch for s in stops if s > epoch])
            stacked, counts = call_plans(
                seed, shuffle, n, sample_weight, batch_size, max_batches, width,
                range(first_epoch + epoch, first_epoch + epoch + count), per_call,
            )
            all_logs = program.train_epochs(
                data, tuple(keras.ops.convert_to_tensor(a) for a in stacked),
                keras.ops.convert_to_tensor(counts), keras.ops.convert_to_tensor(np.int32(count)),
                fresh_metrics,
            )
            for offset, logs in enumerate(all_logs):
                callback_list.on_epoch_begin(epoch + offset)
                callback_list.on_epoch_end(epoch + offset, renamed(logs, renames))
            epoch += count
            if snapshots is not None and epoch in snapshots:
                from .training import TrainedState

                program.store(model)
                snapshots[epoch] = TrainedState.of(model, history.history)
        for one in range(epoch, epochs):  # one compiled call per epoch
            epoch = one
            callback_list.on_epoch_begin(epoch)
            order = _epoch_order(seed, first_epoch + epoch, n, shuffle)
            plan, n_batches = epoch_plan(order, sample_weight, batch_size, max_batches, width)
            logs = program.train_epoch(data, *_to_device(plan, n_batches), fresh_metrics)
            if validation is not None:
                logs.update(program.evaluate(*validation, fresh_metrics))
            if interactive:
                program.store(model)
            callback_list.on_epoch_end(epoch, renamed(logs, renames))
            if snapshots is not None and epoch + 1 in snapshots:
                from .training import TrainedState

                if not interactive:
                    program.store(model)
                snapshots[epoch + 1] = TrainedState.of(model, history.history)
            if interactive:  # callbacks may change the model (ReduceLROnPlateau: the rate)
                program.load(model)
            if model.stop_training:
                break
    finally:
        if not interactive:
            program.store(model)
    callback_list.on_train_end()
    return {name: [float(v) for v in values] for name, values in history.history.items()}


#: Epochs run per compiled call when nothing looks at the model between epochs,
#: bounded so the stacked batch plans stay small (about 64 MB at most).
EPOCHS_PER_CALL = 16
_PLAN_SLOTS_PER_CALL = 4_000_000


def epochs_per_call(slots_per_epoch: int) -> int:
    """Epochs per compiled call for plans of ``slots_per_epoch`` batch slots."""
    return max(1, min(EPOCHS_PER_CALL, _PLAN_SLOTS_PER_CALL // max(1, slots_per_epoch)))


def _validation_inputs(validation_data: tuple[Any, ...] | None, batch_size: int):
    if validation_data is None:
        return None
    x_val, y_val, *rest = validation_data
    weights = rest[0] if rest else None
    n = n_rows(x_val)
    rows = row_bucket(n)
    plan, n_batches = epoch_plan(np.arange(n), weights, batch_size, -(-rows // batch_size))
    return (_device_data(x_val, np.asarray(y_val), rows), *_to_device(plan, n_batches))

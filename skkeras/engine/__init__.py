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

The package: :mod:`.eligibility` (what the fast path can train), :mod:`.keys`
(program keys), :mod:`.programs` (the compiled epochs on JAX and TensorFlow, and
their cache), :mod:`.plans` (batch plans and padding), :mod:`.sparse_rows` (sparse X
kept sparse on the device, made dense a batch at a time); this module runs a fit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from .. import _runtime
from ..compilation_cache import enable_from_environment
from ..inputs import n_rows
from .eligibility import (
    backend_name,
    blockers,
    default_jit_compile,
    has_random_layers,
    needs_exact_batches,
)
from .keys import (
    _input_signature,
    architecture_key,
    exportable_key,
    log_renames,
    metric_names,
    renamed,
)
from .plans import (
    ROW_BUCKET,
    _device_data,
    _epoch_order,
    _to_device,
    assign_values,
    call_plans,
    epoch_plan,
    epoch_plans,
    pad_rows,
    padded_data,
    prepare,
    row_bucket,
)
from .programs import (
    _PROGRAMS as _PROGRAMS,  # the cache itself, for tests and clear_caches
)
from .programs import (
    PROGRAM_CACHE_SIZE,
    _Program,
    _program_for,
    clear_program_cache,
    jax_program_for,
)
from .sparse_rows import blockers as sparse_blockers

if TYPE_CHECKING:
    from ..training import TrainingJob

__all__ = [
    "EPOCHS_PER_CALL",
    "PROGRAM_CACHE_SIZE",
    "ROW_BUCKET",
    "architecture_key",
    "assign_values",
    "backend_name",
    "blockers",
    "call_plans",
    "clear_program_cache",
    "default_jit_compile",
    "epoch_plan",
    "epoch_plans",
    "epochs_per_call",
    "exclusive",
    "exportable_key",
    "has_random_layers",
    "jax_program_for",
    "log_renames",
    "metric_names",
    "needs_exact_batches",
    "pad_rows",
    "padded_data",
    "prepare",
    "renamed",
    "row_bucket",
    "sparse_blockers",
    "train_fast",
]

# SKKERAS_COMPILATION_CACHE asks for the persistent cache from the first compilation on.
enable_from_environment()

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
        key += (f"|{_input_signature(x)}|y{_input_signature(y)}|plan{max_batches}x{width}"
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
                from ..training import TrainedState

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
                from ..training import TrainedState

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
    y_val = keras.tree.map_structure(np.asarray, y_val)
    return (_device_data(x_val, y_val, rows), *_to_device(plan, n_batches))

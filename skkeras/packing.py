"""Training many models of one architecture at once, each exactly as it would train alone.

A grid search with cross-validation trains dozens of copies of one small network,
on different folds, with different learning rates or weights. Their optimizer
steps are independent (Adam and the other Keras optimizers update each weight
from its own gradient), so on JAX they can run as one program vectorised over a
leading "member" axis with ``jax.vmap``: each member keeps its own weights,
optimizer state, random-layer seeds and metrics, and follows the trajectory it
would follow alone.

Members step in lockstep over batch positions; a member with fewer batches in an
epoch simply stops updating (vmap of a loop with per-member bounds). Members may
even differ in batch size when the model has no random layers: every batch is laid
into the widest member's slots, masked, with loss weights scaled so the loss is
each member's own batch mean (see :func:`skkeras.engine.epoch_plan`).

Epoch paths: skkeras draws each epoch's order from the seed alone, so a fit of 10
epochs is the prefix of a fit of 100. A member runs to the largest epoch count
asked of it, and its state is snapshotted at the smaller ones.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from . import engine
from .inputs import n_rows
from .training import TrainedState, TrainingJob


def packing_available() -> bool:
    """Packs need JAX's vmap: on other backends, runs train one after another."""
    return engine.backend_name() == "jax"


def packable(job: TrainingJob) -> bool:
    """Whether a job can train in a pack: the fast path applies and nothing between
    epochs (callbacks, validation) needs to see one model alone."""
    return (
        packing_available()
        and job.engine != "keras"
        and job.first_epoch == 0
        and not job.callbacks
        and job.validation_data is None
        and not job.verbose
        and not engine.blockers(job.model, job.callbacks, job.fit_kwargs)
    )


def pack_key(job: TrainingJob) -> str | None:
    """Jobs with equal keys can share one vectorised program."""
    architecture = engine.architecture_key(job.model)
    if architecture is None:
        return None
    x = job.x
    inputs = (
        sorted((k, a.shape[1:], str(a.dtype)) for k, a in x.items()) if isinstance(x, dict)
        else (x.shape[1:], str(x.dtype))
    )
    # Random layers draw noise for the batch's shape, so their members must share it.
    batch = job.batch_size if engine.has_random_layers(job.model) else "any"
    return f"{architecture}|{inputs}|y{job.y.shape[1:]}{job.y.dtype}|batch{batch}|shuffle{job.shuffle}"


def train_pack(
    jobs: Sequence[TrainingJob], stops: Sequence[Collection[int]]
) -> list[dict[int, TrainedState]]:
    """Train ``jobs`` (one pack key) together; for each, its state after each epoch
    count in its ``stops`` (the largest is how long it trains)."""

    template_job = jobs[0]
    for job in jobs:
        engine.prepare(job.model, job.x, job.y, job.batch_size)
    program = engine.jax_program_for(template_job.model, template_job.x, template_job.y, template_job.batch_size)
    width = max(job.batch_size for job in jobs)
    rows = max(engine.row_bucket(n_rows(job.x)) for job in jobs)
    max_batches = max(-(-rows // job.batch_size) for job in jobs)
    data = _stack([engine.padded_data(job.x, job.y, rows) for job in jobs])
    state = _stack([_starting_values(job) for job in jobs])
    for job in jobs:
        job.model.reset_metrics()
    fresh_metrics = _stack([[keras.ops.convert_to_numpy(v) for v in job.model.metrics_variables] for job in jobs])

    train_epochs = program.vectorised()
    epochs = max(max(s) for s in stops)
    # Several epochs per compiled call, a fixed number (one compiled shape), each
    # call ending at the next snapshot.
    per_call = engine.epochs_per_call(len(jobs) * max_batches * width)
    every_stop = sorted(set().union(*stops))
    histories: list[dict[str, list[float]]] = [{} for _ in jobs]
    snapshots: list[dict[int, TrainedState]] = [{} for _ in jobs]
    epoch = 0
    while epoch < epochs:
        count = min(per_call, *[s - epoch for s in every_stop if s > epoch])
        plans, n_batches = _member_plans(jobs, range(epoch, epoch + count), per_call, max_batches, width)
        state, logs = train_epochs(state, data, plans, n_batches, np.int32(count), fresh_metrics)
        state = list(state)
        logs = {name: np.asarray(values) for name, values in logs.items()}
        epoch += count
        stopping = [m for m in range(len(jobs)) if epoch in stops[m]]
        # One transfer per variable, then NumPy slicing: indexing device arrays
        # member by member would compile a slicing program per shape.
        host = [[np.asarray(v) for v in group] for group in state[:3]] if stopping else []
        for m in range(len(jobs)):
            for name, values in logs.items():
                histories[m].setdefault(name, []).extend(float(v) for v in values[m, :count])
            if m in stopping:
                snapshots[m][epoch] = TrainedState(
                    *[[v[m].copy() for v in group] for group in host],
                    history={k: list(v) for k, v in histories[m].items()},
                )
    return snapshots


def _member_plans(
    jobs: Sequence[TrainingJob], epochs: range, per_call: int, max_batches: int, width: int
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Each member's :func:`skkeras.engine.call_plans`, stacked on a leading member axis."""
    member_plans = [
        engine.call_plans(job.seed, job.shuffle, n_rows(job.x), job.sample_weight, job.batch_size,
                          max_batches, width, epochs, per_call)
        for job in jobs
    ]
    return _stack([plans for plans, _ in member_plans]), np.stack([counts for _, counts in member_plans])


def share_programs(
    jobs: Sequence[TrainingJob], record: dict[str, tuple[int, int]] | None = None
) -> list[TrainingJob]:
    """The jobs, with one batch plan shape per architecture, so that runs with
    different batch sizes share one compiled program instead of one each.

    Each batch is laid into the widest batch's slots, masked, with loss weights
    that keep its loss its own mean (see :func:`skkeras.engine.epoch_plan`); not
    for models with random layers, whose noise is drawn for the batch's shape.
    ``record`` receives each group's plan, for fits trained later in the search.
    """
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        key = program_group(job)
        if key is not None:
            groups.setdefault(key, []).append(i)
    shared = list(jobs)
    for key, members in groups.items():
        group = [jobs[i] for i in members]
        rows = engine.row_bucket(n_rows(group[0].x))
        slots = (max(-(-rows // job.batch_size) for job in group), max(job.batch_size for job in group))
        for i in members:
            shared[i] = replace(jobs[i], slots=slots)
        if record is not None:
            record[key] = slots
    return shared


def program_group(job: TrainingJob) -> str | None:
    """Jobs with equal groups can share one program with a common batch plan; None
    for models with random layers, whose noise is drawn for the batch's shape."""
    key = pack_key(job)
    if key is None or engine.has_random_layers(job.model):
        return None
    return f"{key}|rows{engine.row_bucket(n_rows(job.x))}"


def with_shared_slots(job: TrainingJob, shared: Mapping[str, tuple[int, int]]) -> TrainingJob:
    """``job`` on the batch plan its group shared in a search, if that plan holds it."""
    if not shared or job.slots is not None:
        return job
    slots = shared.get(program_group(job) or "")
    rows = engine.row_bucket(n_rows(job.x))
    if slots is None or job.batch_size > slots[1] or -(-rows // job.batch_size) > slots[0]:
        return job
    return replace(job, slots=slots)


def _starting_values(job: TrainingJob) -> list[list[np.ndarray]]:
    """The variable groups a member starts from: the job's own initial values (a
    reused model, shared by several jobs) or else its model's."""
    start = job.initial or TrainedState.of(job.model, {})
    metrics = [keras.ops.convert_to_numpy(v) for v in job.model.metrics_variables]
    return [start.trainable, start.non_trainable, start.optimizer, metrics]


def train_epoch_path(job: TrainingJob, stops: Collection[int]) -> dict[int, TrainedState]:
    """Train one job to its largest stop on the fast path, snapshotting at each stop."""
    snapshots: dict[int, Any] = dict.fromkeys(stops)
    engine.train_fast(replace(job, epochs=max(stops)), snapshots)
    return {epoch: state for epoch, state in snapshots.items() if state is not None}


def epoch_path_safe(job: TrainingJob) -> bool:
    """Whether a shorter fit of this job is the prefix of a longer one: the fast path
    applies and no callback can act on the epoch count (EarlyStopping would stop
    the long run where a short one never gets)."""
    return (
        job.engine != "keras" and job.first_epoch == 0 and not job.callbacks
        and not engine.blockers(job.model, job.callbacks, job.fit_kwargs,
                                n_samples=n_rows(job.x), batch_size=job.batch_size)
    )


def _stack(items: Sequence[Any]) -> Any:
    """Stack a list of identically structured pytrees along a new leading axis."""
    return keras.tree.map_structure(lambda *leaves: np.stack(leaves), *items)

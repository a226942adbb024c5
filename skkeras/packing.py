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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from . import compilation_cache, engine, sparse
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
        and isinstance(job.y, np.ndarray)  # one target array (packs stack them per member)
        and not isinstance(job.x, list | tuple)
        and not sparse.is_sparse_input(job.x)  # members' padded sparse rows differ in width
        and not engine.blockers(job.model, job.callbacks, job.fit_kwargs, packed=True,
                                n_samples=n_rows(job.x), batch_size=job.batch_size)
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
    jobs: Sequence[TrainingJob], stops: Sequence[Collection[int]], max_pack: int
) -> list[dict[int, TrainedState]]:
    """Train ``jobs`` (one pack key) together; for each, its state after each epoch
    count in its ``stops`` (the largest is how long it trains).

    The jobs are split into chunks of at most ``max_pack`` members (see
    :func:`plan_chunks`), all of one shape so that they share one compiled
    program, and on CPU the chunks run in threads, one per core.
    """
    template_job = jobs[0]
    for job in jobs:
        engine.prepare(job.model, job.x, job.y, job.batch_size)
    program = engine.jax_program_for(template_job.model, template_job.x, template_job.y, template_job.batch_size)
    rows = max(engine.row_bucket(n_rows(job.x)) for job in jobs)
    lengths = [(max(s), -(-n_rows(job.x) // job.batch_size)) for job, s in zip(jobs, stops, strict=True)]
    accelerated = _accelerated()
    workers = 1 if accelerated else _cores()
    chunks = plan_chunks(lengths, max_pack, workers=workers,
                         step_overhead=None if accelerated else CPU_STEP_OVERHEAD)
    size = len(chunks[0])
    width = max(job.batch_size for job in jobs)
    max_batches = max(-(-rows // job.batch_size) for job in jobs)
    layout = _Layout(width, max_batches, rows, engine.epochs_per_call(size * max_batches * width))
    # Everything that reads the Keras models happens here, in this thread; the
    # chunks' threads only run the compiled program on arrays.
    members = [_Member(job, set(s), *_member_arrays(job, rows), engine.log_renames(program.template, job.model))
               for job, s in zip(jobs, stops, strict=True)]
    first = [members[i] for i in chunks[0]]
    model_key = engine.exportable_key(program.template)  # the model the program is traced from
    compiled = compilation_cache.lowered(
        program.vectorised(), _first_call_arguments(first, layout),
        None if model_key is None else {"program": "pack", "model": model_key},
    ).compile()

    def train(chunk: list[int]) -> list[dict[int, TrainedState]]:
        return _train_chunk(compiled, [members[i] for i in chunk], layout)

    if min(workers, len(chunks)) > 1:
        with ThreadPoolExecutor(min(workers, len(chunks)), thread_name_prefix="skkeras-pack") as pool:
            trained = list(pool.map(train, chunks))
    else:
        trained = [train(chunk) for chunk in chunks]
    results: dict[int, dict[int, TrainedState]] = {}
    for chunk, snapshots in zip(chunks, trained, strict=True):
        for i, states in zip(chunk, snapshots, strict=True):
            results.setdefault(i, states)  # a chunk filled with copies repeats a member
    return [results[i] for i in range(len(jobs))]


#: On CPU, the cost of one step of a pack that does not grow with its members, in
#: units of one member's step. Measured on W1's Dense 12-8-1 (2 cores, 96
#: epochs of 77 steps): 3 members 0.16 s, 6 members 0.29 s, 18 members 0.74 s,
#: that is about 0.04 s per member and 0.05 s besides. On accelerators members
#: cost next to nothing, so packs stay whole.
CPU_STEP_OVERHEAD = 1.3
#: The cost of one compiled call of a chunk, in the same units: about a
#: millisecond of Python (batch plans, dispatch, logs) that threads take turns at.
#: Measured on W1, 2 cores: chunks of 6 (0.42 s) beat chunks of 3 (0.46 s).
CPU_CALL_OVERHEAD = 200.0


def plan_chunks(
    lengths: Sequence[tuple[int, int]], max_pack: int, *, workers: int = 1,
    step_overhead: float | None = CPU_STEP_OVERHEAD,
) -> list[list[int]]:
    """Split a pack's members into chunks of one size, to train as separate calls of
    one compiled program: the member indices of each chunk, the longest first.

    ``lengths`` are the members' (epochs, batches per epoch). A chunk steps in
    lockstep, as long as its longest member; on CPU a step costs about
    ``step_overhead + members``, so members of different lengths are better
    trained in separate chunks, and ``workers`` chunks can run at once, while
    each chunk's calls cost :data:`CPU_CALL_OVERHEAD` more, one thread at a time.
    The size is the one whose chunks, dealt longest first to the least loaded
    worker, finish soonest; with ``step_overhead`` None (accelerators), the
    largest. A last chunk that falls short is filled with copies of its first
    member, so that every chunk has the one compiled shape.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i][0] * lengths[i][1])
    largest = max(1, min(len(order), int(max_pack)))

    def chunked(size: int) -> list[list[int]]:
        chunks = [order[start : start + size] for start in range(0, len(order), size)]
        chunks[-1] += [chunks[-1][0]] * (size - len(chunks[-1]))
        return chunks

    if step_overhead is None:
        return chunked(largest)

    def finish(size: int) -> float:
        loads = [0.0] * max(1, workers)
        calls = 0
        for chunk in chunked(size):
            epochs = max(lengths[i][0] for i in chunk)
            loads[loads.index(min(loads))] += (step_overhead + size) * epochs * max(lengths[i][1] for i in chunk)
            calls += -(-epochs // engine.EPOCHS_PER_CALL) + 1
        return max(loads) + calls * CPU_CALL_OVERHEAD

    # Ties go to the larger size: fewer calls.
    return chunked(min(range(largest, 0, -1), key=finish))


@dataclass(frozen=True)
class _Layout:
    """The shape every chunk of a pack shares: batch slots, padded rows, epochs per call."""

    width: int
    max_batches: int
    rows: int
    per_call: int


@dataclass
class _Member:
    """One job of a pack, with the arrays it enters the compiled program with."""

    job: TrainingJob
    stops: set[int]
    data: tuple[Any, np.ndarray]
    start: list[list[np.ndarray]]
    fresh_metrics: list[np.ndarray]
    log_renames: dict[str, str]


def _member_arrays(job: TrainingJob, rows: int) -> tuple[Any, list[list[np.ndarray]], list[np.ndarray]]:
    """A member's padded data, starting values and reset metric values."""
    start = _starting_values(job)
    job.model.reset_metrics()
    fresh_metrics = [keras.ops.convert_to_numpy(v) for v in job.model.metrics_variables]
    return engine.padded_data(job.x, job.y, rows), start, fresh_metrics


def _stacked(members: Sequence[_Member]) -> tuple[Any, Any, Any]:
    """The members' starting values, data and reset metrics, on a leading member axis."""
    return (_stack([m.start for m in members]), _stack([m.data for m in members]),
            _stack([m.fresh_metrics for m in members]))


def _first_call_arguments(members: Sequence[_Member], layout: _Layout) -> tuple[Any, ...]:
    """Arguments shaped like every call of the pack's compiled program."""
    state, data, fresh_metrics = _stacked(members)
    plans, n_batches = _member_plans(members, range(0, 1), layout)
    return state, data, plans, n_batches, np.int32(1), fresh_metrics


def _train_chunk(
    compiled: Any, members: Sequence[_Member], layout: _Layout
) -> list[dict[int, TrainedState]]:
    """Train one chunk to its longest member's last stop, one compiled call after another."""
    state, data, fresh_metrics = _stacked(members)
    epochs = max(max(m.stops) for m in members)
    # Several epochs per compiled call, a fixed number (one compiled shape), each
    # call ending at the next snapshot.
    every_stop = sorted(set().union(*(m.stops for m in members)))
    histories: list[dict[str, list[float]]] = [{} for _ in members]
    snapshots: list[dict[int, TrainedState]] = [{} for _ in members]
    epoch = 0
    while epoch < epochs:
        count = min(layout.per_call, *[s - epoch for s in every_stop if s > epoch])
        plans, n_batches = _member_plans(members, range(epoch, epoch + count), layout)
        state, logs = compiled(state, data, plans, n_batches, np.int32(count), fresh_metrics)
        state = list(state)
        logs = {name: np.asarray(values) for name, values in logs.items()}
        epoch += count
        stopping = [i for i, m in enumerate(members) if epoch in m.stops]
        # One transfer per variable, then NumPy slicing: indexing device arrays
        # member by member would compile a slicing program per shape.
        host = [[np.asarray(v) for v in group] for group in state[:3]] if stopping else []
        for i, member in enumerate(members):
            for name, values in engine.renamed(logs, member.log_renames).items():
                histories[i].setdefault(name, []).extend(float(v) for v in values[i, :count])
            if i in stopping:
                snapshots[i][epoch] = TrainedState(
                    *[[v[i].copy() for v in group] for group in host],
                    history={k: list(v) for k, v in histories[i].items()},
                )
    return snapshots


def _member_plans(
    members: Sequence[_Member], epochs: range, layout: _Layout
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Each member's :func:`skkeras.engine.call_plans`, stacked on a leading member axis."""
    member_plans = [
        engine.call_plans(m.job.seed, m.job.shuffle, n_rows(m.job.x), m.job.sample_weight,
                          m.job.batch_size, layout.max_batches, layout.width, epochs, layout.per_call)
        for m in members
    ]
    return _stack([plans for plans, _ in member_plans]), np.stack([counts for _, counts in member_plans])


def _accelerated() -> bool:
    """Whether JAX computes on an accelerator (GPU, TPU) rather than the CPU."""
    import jax

    return jax.default_backend() != "cpu"


def _cores() -> int:
    """CPU cores this process may use: joblib's count, which also honours CPU
    affinity and a container's CPU quota (a Dask worker's or CI's cgroup)."""
    import joblib

    return joblib.cpu_count()


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
        and job.y is not None and not isinstance(job.x, list | tuple)
        and not engine.blockers(job.model, job.callbacks, job.fit_kwargs,
                                n_samples=n_rows(job.x), batch_size=job.batch_size)
    )


def _stack(items: Sequence[Any]) -> Any:
    """Stack a list of identically structured pytrees along a new leading axis."""
    return keras.tree.map_structure(lambda *leaves: np.stack(leaves), *items)

"""Several NumPy training runs as one program, on a leading run axis.

:mod:`skkeras._numpy_train` trains a small network in NumPy, one optimizer step
after another; a step of a 12-8-1 net costs tens of microseconds, most of it
Python calling NumPy, not arithmetic. A search trains many such runs (the folds
of a candidate, the refits, candidates with other epoch counts): :class:`Runs`
stacks runs that share an architecture, loss, optimizer configuration, metrics,
batch size and epoch count (:func:`stack_key`) into arrays with a leading run
axis, so that one NumPy call steps every run at once (batched ``matmul``) and the
Python overhead is paid once per step for all of them.

Each run keeps its own data, sample weights, seeded batch order, starting values,
optimizer state and iteration count. Runs may differ in rows, so in batches per
epoch: they are ordered by their batch count, longest first, and at batch
position ``j`` only the runs that have a batch ``j`` step (a prefix of the stack,
so every array operand is a view). Every batch is laid into ``batch_size`` rows;
a short last batch is padded with zero rows whose loss weight is zero. A run
alone goes through this same code with one run on the axis, and NumPy's batched
``matmul`` computes each run's slice as it computes one matrix product, so a run's
numbers are the same, bit for bit, stacked or alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from ._numpy_forward import _chain
from ._numpy_math import _ACTIVATIONS, F32, Loss, Optimizer, _activation_name, _flat
from .seeding import epoch_permutation

if TYPE_CHECKING:
    from .job import TrainedState, TrainingJob


class Net:
    """The model as NumPy steps over a stack of flat float32 parameter vectors."""

    def __init__(self, model: keras.Model) -> None:
        self.variables = list(model.trainable_variables)
        self.shapes = [tuple(int(d) for d in v.shape) for v in self.variables]
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.offsets = np.cumsum([0, *sizes])
        self.size = int(self.offsets[-1])
        index = {id(v): i for i, v in enumerate(self.variables)}
        self.ops: list[tuple] = []  # ("dense", kernel, bias) or ("act", name)
        for layer in _chain(model) or []:
            kind = type(layer).__name__
            if kind == "Dense":
                self.ops.append(("dense", index[id(layer.kernel)],
                                 index[id(layer.bias)] if layer.use_bias else None))
                name = _activation_name(layer.activation)
                if name != "linear":
                    self.ops.append(("act", name))
            elif kind == "Activation":
                self.ops.append(("act", _activation_name(layer.activation)))
            elif kind == "ReLU":
                self.ops.append(("act", "relu"))

    def views(self, flat: np.ndarray, *, broadcast: bool = False) -> list[np.ndarray]:
        """Each variable's values in ``flat`` (runs x parameters), as (runs, *shape)
        views; with ``broadcast``, vectors as (runs, 1, size), to add to a batch."""
        return [flat[:, a:b].reshape(len(flat), *((1, *shape) if broadcast and len(shape) == 1 else shape))
                for a, b, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)]

    def forward(self, w: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list]:
        """``x`` (runs, rows, features) through the network with weights ``w`` (views
        with ``broadcast``)."""
        tape, h = [], x
        for op in self.ops:
            if op[0] == "dense":
                out = h @ w[op[1]]
                if op[2] is not None:
                    out += w[op[2]]
            else:
                out = _ACTIVATIONS[op[1]][0](h)
            tape.append((h, out))
            h = out
        return h, tape

    def backward(self, w: list[np.ndarray], g_w: list[np.ndarray], tape: list, g: np.ndarray,
                 skip_last_activation: bool) -> None:
        """Gradients into ``g_w`` (views of the flat gradients, with ``broadcast``) from
        ``g`` at the output (at the last activation's input when ``skip_last_activation``)."""
        ops = self.ops[:-1] if skip_last_activation else self.ops
        tape = tape[:len(ops)]
        for position in range(len(ops) - 1, -1, -1):
            op, (h, out) = ops[position], tape[position]
            if op[0] == "act":
                g = _ACTIVATIONS[op[1]][1](h, out, g)
                continue
            np.matmul(h.swapaxes(1, 2), g, out=g_w[op[1]])
            if op[2] is not None:
                np.add.reduce(g, axis=1, keepdims=True, out=g_w[op[2]])
            if position:  # the input's gradient is not needed
                g = g @ w[op[1]].swapaxes(1, 2)


def stack_key(job: TrainingJob, net: Net, metrics: list, loss_spec: tuple) -> tuple | None:
    """Jobs with equal keys train as one stack; None for a job that trains alone (one
    with validation data or a progress bar)."""
    if job.validation_data is not None or job.verbose:
        return None
    optimizer = job.model.optimizer
    config = {k: v for k, v in optimizer.get_config().items() if k != "name"}
    return (tuple(net.shapes), tuple(net.ops), loss_spec, type(optimizer).__name__,
            repr(sorted(config.items())), tuple((name, f, w) for name, f, w in metrics),
            job.batch_size, job.epochs, job.x.shape[1:])


def start_values(job: TrainingJob) -> Callable[[Any], np.ndarray]:
    """Where a run starts: the job's initial values (a reused model), read without
    putting them into the model first, or else the model's variables."""
    if job.initial is None:
        return lambda variable: np.asarray(keras.ops.convert_to_numpy(variable))
    model = job.model
    known = {id(v): a for v, a in zip(model.trainable_variables, job.initial.trainable, strict=True)}
    known.update((id(v), a) for v, a in zip(model.optimizer.variables, job.initial.optimizer,
                                             strict=True))
    return lambda variable: np.asarray(known[id(variable)])


class _Run:
    """One job's data and identity in a stack."""

    def __init__(self, job: TrainingJob, loss: Loss, width: int) -> None:
        self.job = job
        self.x = np.asarray(job.x, dtype=F32)
        self.y = loss.targets(np.asarray(job.y), width)
        self.weights = None if job.sample_weight is None else np.asarray(job.sample_weight, F32)
        self.n, bs = len(self.x), job.batch_size
        self.batches = -(-self.n // bs)
        #: The rows of each row's batch (bs, but fewer in a short last batch).
        self.counts = np.repeat(np.minimum(np.arange(bs, self.n + bs, bs), self.n)
                                - np.arange(0, self.n, bs), bs)[:self.n].astype(F32)
        self.inverse_counts = F32(1) / self.counts
        self.value = start_values(job)


class Runs:
    """Jobs of one :func:`stack_key` (or one job alone), trained epoch by epoch together."""

    def __init__(self, jobs: Sequence[TrainingJob], loss_spec: tuple, metrics: list) -> None:
        model = jobs[0].model
        self.net = Net(model)
        self.metrics = metrics
        self.loss = Loss(loss_spec, self.net.ops[-1] if self.net.ops else None)
        self.width = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else 1
        self.batch_size = jobs[0].batch_size
        # The longest runs first: at batch position j the runs that step are a prefix.
        self.order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].y))
        self.runs = [_Run(jobs[i], self.loss, self.width) for i in self.order]
        runs = self.runs
        self.flat = np.stack([_flat([r.value(v) for v in r.job.model.trainable_variables]) for r in runs])
        self.grad = np.zeros_like(self.flat)
        self.optimizer = Optimizer([r.job.model.optimizer for r in runs], self.net,
                                   [r.value for r in runs])
        self.max_batches = runs[0].batches
        self.optimizer.reserve(max(r.job.epochs for r in runs) * self.max_batches)
        self.active = [sum(r.batches > j for r in runs) for j in range(self.max_batches)]
        self.steps = np.array([r.batches for r in runs], dtype=np.int64)  # each run's, per epoch
        self._stacks = {k: self._views(k) for k in set(self.active)}

    def _views(self, k: int) -> tuple:
        flat, grad = self.flat[:k], self.grad[:k]
        return self.net.views(flat, broadcast=True), self.net.views(grad, broadcast=True), flat, grad, k

    def train_epoch(self, epoch: int) -> list[dict[str, float]]:
        """One epoch of every run (its ``first_epoch + epoch``); each run's logs, in
        the jobs' order."""
        runs, bs = self.runs, self.batch_size
        rows = self.max_batches * bs
        x = np.zeros((len(runs), rows, runs[0].x.shape[1]), F32)
        y = np.zeros((len(runs), rows, self.width), F32)
        scale = np.zeros((len(runs), rows), F32)
        orders, weights = [], []
        for i, run in enumerate(runs):
            job, n = run.job, run.n
            order = (epoch_permutation(job.seed, job.first_epoch + epoch, n) if job.shuffle
                     else np.arange(n))
            x[i, :n], y[i, :n] = run.x[order], run.y[order]
            w = None if run.weights is None else run.weights[order]
            # each row's loss weight: 1 / its batch's rows (fit's batch mean), times its weight
            scale[i, :n] = run.inverse_counts if w is None else w / run.counts
            orders.append(order)
            weights.append(w)
        outs = np.empty(y.shape, F32)
        logits = np.empty(y.shape, F32) if self.loss.fused else None
        net, loss, optimizer = self.net, self.loss, self.optimizer
        optimizer.begin_epoch(self.max_batches)
        for j, k in enumerate(self.active):
            w, g_w, flat, grad, _ = self._stacks[k]
            batch = slice(j * bs, (j + 1) * bs)
            out, tape = net.forward(w, x[:k, batch])
            outs[:k, batch] = out
            if logits is not None:
                logits[:k, batch] = tape[-1][0]
            g = loss.gradient(y[:k, batch], out, tape)
            g *= scale[:k, batch, None]
            net.backward(w, g_w, tape, g, loss.fused)
            optimizer.step(flat, grad, k, j)
        optimizer.end_epoch(self.steps)
        logs = [epoch_logs(loss, self.metrics, y[i, :r.n], outs[i, :r.n],
                           None if logits is None else logits[i, :r.n], weights[i], bs)
                for i, r in enumerate(runs)]
        return self._in_job_order(logs)

    def evaluate(self, position: int, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                 batch_size: int) -> dict[str, float]:
        """The logs of the run at ``position`` (in the jobs' order) on ``x``, ``y``
        (targets as :meth:`Loss.targets` gives them), in batches of ``batch_size``."""
        i = self.order.index(position)
        w = self.net.views(self.flat[i:i + 1], broadcast=True)
        outs = np.empty(y.shape, F32)
        logits = np.empty(y.shape, F32) if self.loss.fused else None
        for start in range(0, len(x), batch_size):
            stop = min(start + batch_size, len(x))
            out, tape = self.net.forward(w, x[None, start:stop])
            outs[start:stop] = out[0]
            if logits is not None:
                logits[start:stop] = tape[-1][0][0]
        return epoch_logs(self.loss, self.metrics, y, outs, logits, weights, batch_size)

    def _in_job_order(self, items: list) -> list:
        placed = [None] * len(items)
        for i, item in zip(self.order, items, strict=True):
            placed[i] = item
        return placed

    def values(self, position: int) -> tuple[list[tuple[Any, np.ndarray]], list[np.ndarray]]:
        """The run at ``position``'s (variable, value) pairs to write into its model,
        and its trainable values alone (views)."""
        i = self.order.index(position)
        run = self.runs[i]
        weights = [v[i] for v in self.net.views(self.flat)]
        pairs = list(zip(run.job.model.trainable_variables, weights, strict=True))
        return pairs + self.optimizer.write_back(self.net, i), weights

    def snapshot(self, position: int, history: dict[str, list[float]]) -> TrainedState:
        """The run at ``position``'s state now, as a :class:`~skkeras.job.TrainedState`,
        without touching its model's variables."""
        from .job import TrainedState

        i = self.order.index(position)
        run = self.runs[i]
        model = run.job.model
        _, weights = self.values(position)
        written = {id(v): np.array(a) for v, a in self.optimizer.write_back(self.net, i)}
        non_trainable = (list(run.job.initial.non_trainable) if run.job.initial is not None else
                         [np.asarray(keras.ops.convert_to_numpy(v)).copy()
                          for v in model.non_trainable_variables])
        return TrainedState(
            [w.copy() for w in weights], non_trainable,
            [written[id(v)] if id(v) in written else np.array(run.value(v))
             for v in model.optimizer.variables],
            {name: [float(x) for x in values] for name, values in history.items()},
        )


def epoch_logs(loss: Loss, metrics: list, y: np.ndarray, outs: np.ndarray, logits: np.ndarray | None,
               weights: np.ndarray | None, batch_size: int) -> dict[str, float]:
    """The epoch's logs from the outputs of its batches (``fit``'s values: the loss
    weighted per batch, the tracker weighted by rows)."""
    n = len(y)
    starts = np.arange(0, n, batch_size)
    rows = np.minimum(starts + batch_size, n) - starts
    values = loss.values(y, outs, logits)
    weighted = values if weights is None else values * weights
    batch_losses = np.add.reduceat(weighted, starts).astype(F32) / rows.astype(F32)
    logs = {"loss": float(np.sum(batch_losses * rows, dtype=F32) / F32(n))}
    for name, function, is_weighted in metrics:
        per_row = function(y if loss.kind != "scce" else np.argmax(y, axis=-1), outs)
        if is_weighted and weights is not None:
            total, count = np.sum(per_row * weights, dtype=F32), np.sum(weights, dtype=F32)
        else:
            total, count = np.sum(per_row, dtype=F32), F32(n)
        logs[name] = float(total / count) if count else 0.0
    return logs

"""Reuse instead of rebuild: one built model per recipe, reset to its first values for each fit.

Building a Keras model is most of the cost of a small fit: on TensorFlow each
variable is created by eager operations, a few milliseconds each, and
compiling, building the optimizer and tracing the metrics cost as much again.
Profiled on W1 (45 fits of a Dense 12-8-1), building took 13 of 20 seconds.
A grid search builds the same model again and again; this module builds it once.

A *recipe* is everything a build depends on: the estimator's class, its
parameters (those the builder can see), the facts about the data (``meta``)
that the build reads, the weights seed, and Keras's backend and dtype
settings. The build is handed a :class:`FactsRead` in place of ``meta``, which
notes what it reads: a builder that reads only ``n_features_in_`` makes one
recipe of every fold of a cross-validation, where ``X_shape_`` differs by a row
or two between folds and the refit. Fits with equal
recipes start from the same model with the same initial values, so one private
model per recipe, its :class:`Workbench`, serves them all: each fit puts the
initial values back, trains it on the fast path, and keeps only the trained
values, in a :class:`DeferredModel`. The estimator builds its ``model_`` from
the recipe, and gives it those values, only when someone asks for it;
prediction, scoring and searches never do.

Recipes are compared exactly, or not at all: only with an integer
``random_state``, and only when every parameter is a plain value (numbers,
strings, arrays and containers of them) or a function or class, which are
compared by identity, so a builder edited and redefined in a notebook is a new
recipe. A builder is assumed to depend on nothing but its arguments; one that
reads global state changed between fits needs ``engine="keras"``, which builds
for every fit.
"""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from . import _runtime
from .training import TrainedState

#: Workbenches kept (least recently used dropped first); each holds one built model.
MAX_WORKBENCHES = 8

@dataclass
class Workbench:
    """The private model of one recipe, and the values it was built with."""

    model: keras.Model
    #: Variables right after building (weights, optimizer slots), once prepared.
    initial: TrainedState | None = None
    #: Functions and classes the recipe names by identity, kept alive so that
    #: their ids are not reused by other objects while the workbench exists.
    referents: list[Any] = field(default_factory=list)


@dataclass
class DeferredModel:
    """A trained model not built yet: its recipe, its trained values, and the
    workbench whose architecture predicts with those values meanwhile."""

    build: Callable[[], keras.Model]
    state: TrainedState
    workbench: Workbench
    #: One row of inputs and encoded targets, to build the loss, metrics and optimizer.
    sample: tuple[Any, np.ndarray]

    def materialize(self) -> keras.Model:
        """The estimator's own model: built from the recipe, given the trained values."""
        from .engine import prepare

        model = self.build()
        prepare(model, *self.sample, 1)
        self.state.apply_to(model)
        return model


_WORKBENCHES: OrderedDict[Hashable, Workbench] = _runtime.register("workbenches", OrderedDict())
#: Guards the two registries above and below (not the builds, nor the training).
_LOCK = threading.RLock()


class FactsRead(dict):
    """``meta`` as a build sees it: a dict that notes which facts were read.

    Reading a key (``[]``, ``get``, ``in``) notes that key; reading them all
    (iterating, ``keys``, ``items``, ``values``, copying, comparing, printing)
    notes every fact.
    """

    def __init__(self, facts: Mapping[str, Any]) -> None:
        super().__init__(facts)
        self.read: set[str] = set()
        self.read_all = False

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(key)  # type: ignore[arg-type]
        return super().__contains__(key)

    def _all(self) -> FactsRead:
        self.read_all = True
        return self

    def __iter__(self):
        return super(FactsRead, self._all()).__iter__()

    def keys(self):
        return super(FactsRead, self._all()).keys()

    def items(self):
        return super(FactsRead, self._all()).items()

    def values(self):
        return super(FactsRead, self._all()).values()

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        return super(FactsRead, self._all()).__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return super(FactsRead, self._all()).__repr__()

    def reads(self) -> frozenset[str] | None:
        """The facts read so far; None for all of them."""
        return None if self.read_all else frozenset(self.read)


#: For each recipe, the sets of facts its builds have read (None: all of them).
_READS: OrderedDict[Hashable, list[frozenset[str] | None]] = _runtime.register(
    "facts read by builds", OrderedDict())


def workbench(
    key: tuple[Hashable, list[Any]] | None,
    meta: Mapping[str, Any],
    build: Callable[[Mapping[str, Any]], keras.Model],
) -> Workbench | None:
    """The workbench of recipe ``key`` and the facts of ``meta`` that its build reads,
    built by ``build(facts)`` on first use; None without a key.

    A build depends only on what it reads, and reads the same facts again when
    they hold the same values, so a workbench built from other data serves
    this fit when they agree on those facts.

    The workbench is taken for this thread until the current
    :func:`skkeras.engine.exclusive` scope ends (the fit's); while another thread
    has it, this returns None and the fit builds a model of its own (same numbers).
    """
    if key is None or MAX_WORKBENCHES <= 0:
        return None
    recipe, referents = key
    try:
        with _LOCK:
            for reads in list(_READS.get(recipe, [])):
                full = (recipe, _facts_token(meta, reads, referents))
                if full in _WORKBENCHES:
                    _WORKBENCHES.move_to_end(full)
                    bench = _WORKBENCHES[full]
                    return bench if _runtime.checkout(bench.model) else None
        facts = FactsRead(meta)
        bench = Workbench(build(facts), referents=referents)
        reads = facts.reads()
        full = (recipe, _facts_token(meta, reads, referents))
    except _NotComparable:  # a fact that cannot be compared exactly: no reuse
        return None
    _runtime.checkout(bench.model)  # new: nobody else has it
    with _LOCK:
        known = _READS.setdefault(recipe, [])
        if reads not in known:
            known.append(reads)
        _READS.move_to_end(recipe)
        while len(_READS) > 4 * MAX_WORKBENCHES:
            _READS.popitem(last=False)
        _WORKBENCHES[full] = bench
        while len(_WORKBENCHES) > MAX_WORKBENCHES:
            _WORKBENCHES.popitem(last=False)
    return bench


def _facts_token(meta: Mapping[str, Any], reads: frozenset[str] | None, referents: list[Any]) -> Hashable:
    names = sorted(meta) if reads is None else sorted(reads)
    return _token({name: meta.get(name, _Missing) for name in names}, referents)


class _Missing:
    """A fact the build asked for that ``meta`` does not have."""


def clear_workbenches() -> None:
    """Forget every workbench (the next fit of each recipe builds again)."""
    with _LOCK:
        _WORKBENCHES.clear()
        _READS.clear()


class _NotComparable(Exception):
    pass


def recipe_key(parts: Any) -> tuple[Hashable, list[Any]] | None:
    """A hashable key for ``parts`` and the objects it names by identity, or None
    if some part cannot be compared exactly (see the module docstring)."""
    referents: list[Any] = []
    try:
        token = _token(parts, referents)
    except _NotComparable:
        return None
    settings = (keras.backend.backend(), keras.config.floatx(), keras.config.dtype_policy().name)
    return (settings, token), referents


_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_BY_IDENTITY = (type, types.FunctionType, types.BuiltinFunctionType)


def _token(value: Any, referents: list[Any]) -> Hashable:
    """``value`` as nested tuples that compare equal exactly when the values do."""
    if isinstance(value, _PLAIN):
        return (type(value).__name__, value)
    if isinstance(value, np.generic):
        return ("numpy", value.dtype.str, value.tobytes())
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            items = tuple(_token(v, referents) for v in value.ravel().tolist())
            return ("objects", value.shape, items)
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(_token(v, referents) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((_token(k, referents), _token(v, referents)) for k, v in value.items()))
    if isinstance(value, _BY_IDENTITY):
        referents.append(value)
        return ("object", id(value))
    raise _NotComparable(type(value).__name__)

"""The one owner of skkeras's process state: caches, locks and context.

Every cache skkeras keeps for the life of the process registers here, so that
:func:`clear_caches` forgets all of them at once; each is bounded (a least
recently used :class:`BoundedCache`, or a weak dictionary that lets go of an
entry with its model). Locks are as narrow as the data they guard: a lock per
shared object (a compiled program, a reused model), taken with :func:`lock_for`,
so that predictions and independent fits in different threads run at once.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTRY: dict[str, Any] = {}
_REGISTRY_LOCK = threading.Lock()


def register(name: str, cache: T) -> T:
    """Register ``cache`` (anything with ``clear()``) under ``name``; returns it."""
    with _REGISTRY_LOCK:
        _REGISTRY[name] = cache
    return cache


def caches() -> dict[str, Any]:
    """The registered caches by name (for tests and diagnostics)."""
    with _REGISTRY_LOCK:
        return dict(_REGISTRY)


def clear_caches() -> None:
    """Forget every compiled program, reused model, weight snapshot and forward
    pass skkeras keeps between calls; they are rebuilt on demand.

    Fitted estimators keep working. Call it to free memory, or on TensorFlow
    after assigning weights to a fitted estimator's ``model_`` yourself
    (``set_weights``), since predictions read a snapshot of the weights taken
    once per fit.
    """
    bump_weights_generation()
    for cache in caches().values():
        cache.clear()


class BoundedCache:
    """A thread-safe least-recently-used mapping of at most ``maxsize`` entries.

    :meth:`get_or_create` builds a missing entry once, even when several threads
    ask for it at the same moment (each key has its own creation lock, so
    entries of different keys are built in parallel).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._creating: dict[Hashable, tuple[threading.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[Hashable]:
        with self._lock:
            return iter(list(self._entries))

    @contextlib.contextmanager
    def creating(self, key: Hashable) -> Iterator[None]:
        """Hold the creation lock of ``key``: threads that need the same missing entry
        wait for the first to build it (entries of other keys are built meanwhile)."""
        with self._lock:
            lock, users = self._creating.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._creating[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._creating[key]
                if users == 1:
                    del self._creating[key]
                else:
                    self._creating[key] = (lock, users - 1)

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key not in self._entries:
                return default
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            return self._entries.pop(key, default)

    def get_or_create(self, key: Hashable, create: Callable[[], Any]) -> Any:
        missing = object()
        value = self.get(key, missing)
        if value is not missing:
            return value
        with self.creating(key):
            value = self.get(key, missing)
            if value is missing:
                value = create()
                self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class IdentityWeakMap:
    """A mapping keyed by object identity that drops an entry when its key is
    garbage collected; for keys that are not hashable (dataclasses)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, Any]] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        entry = self._entries.get(id(key))
        if entry is None or entry[0]() is not key:
            return default
        return entry[1]

    def __setitem__(self, key: Any, value: Any) -> None:
        ident = id(key)
        entries = self._entries

        def forget(_: Any) -> None:
            entries.pop(ident, None)

        entries[ident] = (weakref.ref(key, forget), value)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


# -------------------------------------------------------------------- locks
_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def lock_for(obj: Any) -> threading.RLock:
    """The reentrant lock of one shared object (a compiled program, a reused model,
    a Keras model whose state a call changes); it lives as long as the object."""
    with _LOCKS_LOCK:
        lock = _LOCKS.get(obj)
        if lock is None:
            lock = _LOCKS[obj] = threading.RLock()
        return lock


_SCOPES = threading.local()


@contextlib.contextmanager
def checkout_scope() -> Iterator[None]:
    """A scope (one fit, one search) in which :func:`checkout` takes shared objects;
    those taken in it are released when it ends. Scopes nest."""
    stack = _SCOPES.__dict__.setdefault("stack", [])
    taken: list[threading.RLock] = []
    stack.append(taken)
    try:
        yield
    finally:
        stack.pop()
        for lock in reversed(taken):
            lock.release()


def checkout(obj: Any) -> bool:
    """Take ``obj`` for this thread until the innermost :func:`checkout_scope` ends;
    False (nothing taken) if another thread has it, or outside any scope when
    another thread holds its lock. A thread may take what it already holds."""
    lock = lock_for(obj)
    if not lock.acquire(blocking=False):
        return False
    stack = getattr(_SCOPES, "stack", None)
    if stack:
        stack[-1].append(lock)
    else:  # no scope to release it: only check that it is free
        lock.release()
    return True


#: Held while a thread builds a model: Keras draws the seeds of new layers from
#: process-wide state (see :func:`skkeras.seeding.scoped_seed`), so two builds
#: at once would shift each other's seeds. Building is short; training is not
#: under it.
BUILD_LOCK = threading.RLock()


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Hold :data:`BUILD_LOCK` for the block."""
    with BUILD_LOCK:
        yield


# ------------------------------------------------------- weight generations
_GENERATION = itertools.count(1)
_generation = 0


def bump_weights_generation() -> None:
    """Note that skkeras assigned weights to some model (snapshots taken before are stale)."""
    global _generation
    _generation = next(_GENERATION)


def weights_generation() -> int:
    """A number that changes whenever skkeras assigns weights to a model."""
    return _generation

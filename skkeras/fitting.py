"""Pieces of a fit that the estimators' steps share: what a fit prepared before
training (:class:`PreparedFit`), the rollback of a failed fit, the validation rows,
and the parameter bookkeeping of :class:`~skkeras.wrappers.BaseWrapper`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from . import reuse
from .job import TrainedState, TrainingJob
from .routing import accepts_var_keyword, signature_parameters
from .seeding import derive_seed
from .settings import FitSettings

#: Parameters that only steer training: a builder that does not ask for them
#: builds the same model whatever their values.
TRAINING_SETTINGS = (
    "epochs", "batch_size", "verbose", "callbacks", "validation_split", "validation_batch_size",
    "shuffle", "warm_start", "engine", "class_weight", "threshold",
)
TRAINING_ROUTES = ("fit", "predict", "callbacks")

#: The facts in ``meta`` that describe the target, which every build depends on.
TARGET_FACTS = ("target_type_", "classes_", "n_classes_", "n_outputs_", "n_outputs_expected_")


@dataclass
class PreparedFit:
    """What a fit prepared before training: its seed, the facts about its data, the
    model and the job that trains it (None: nothing to train, as in ``initialize``)."""

    continuing: bool
    seed: int
    settings: FitSettings | None = None
    meta: dict[str, Any] | None = None
    model: keras.Model | None = None
    job: TrainingJob | None = None
    #: (this fit's key, the key of its run regardless of epochs), see training.fit_keys
    keys: tuple[str, str] | None = None
    #: The result a search trained ahead for this fit, if any.
    trained_ahead: TrainedState | None = None
    #: The reused model this fit trains (see skkeras.reuse), if any.
    workbench: reuse.Workbench | None = None
    #: Builds this fit's own model (on demand, when trained on a workbench).
    build: Callable[[], keras.Model] | None = None


@dataclass
class FitResult:
    """What a successful fit (or ``from_model``, or ``load``) leaves on the estimator:
    see :meth:`skkeras.wrappers.BaseWrapper._commit`."""

    model: keras.Model | None
    seed: int
    history: dict[str, list[float]] = field(default_factory=dict)
    #: Fitted attributes to set (facts about the data, the fitted encoders...).
    attributes: dict[str, Any] = field(default_factory=dict)
    #: A fit on a reused model keeps only its trained values (see skkeras.reuse).
    deferred: reuse.DeferredModel | None = None
    #: How it trained: "fast" or "keras: <why>" (None: not trained).
    fit_path: str | None = None
    #: A warm start or partial_fit: the history is appended to.
    continuing: bool = False


@contextlib.contextmanager
def keep_fitted_state_on_error(estimator: Any) -> Iterator[None]:
    """If a fit fails or is interrupted, the estimator's fitted state stays as it was.

    A continuing fit (warm start, partial_fit) trains ``model_`` in place, so its
    variables, optimizer state included, are copied first and put back on failure.
    A model that is not compiled has no optimizer state to keep.
    """
    saved = {name: value for name, value in vars(estimator).items() if name.endswith("_")}
    model = saved.get("model_")
    variables = list(model.variables) if model is not None else []
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    values = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
    try:
        yield
    except BaseException:
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        for name in [n for n in vars(estimator) if n.endswith("_")]:
            delattr(estimator, name)
        for name, value in saved.items():
            setattr(estimator, name, value)
        raise


def validation_rows(
    n: int, stratify: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(training rows, validation rows or None) for ``validation_split=fraction``,
    stratified by ``stratify`` where every class can be, drawn from ``seed``."""
    rows = np.arange(n)
    if not fraction:
        return rows, None
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {fraction}.")
    kwargs = {"test_size": fraction, "random_state": derive_seed(seed, "validation")}
    try:
        return train_test_split(rows, stratify=stratify, **kwargs)
    except ValueError:  # a class too small to stratify: split without it
        return train_test_split(rows, **kwargs)


def with_weights(x: Any, y: Any, weights: np.ndarray | None) -> tuple[Any, ...]:
    return (x, y) if weights is None else (x, y, weights)


def _constructors(cls: type) -> Iterator[Any]:
    """The ``__init__`` of ``cls`` and, while each takes ``**kwargs`` and so passes
    them on, those of its bases."""
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        yield init
        if not accepts_var_keyword(init):
            return


@functools.cache
def constructor_parameter_names(cls: type) -> tuple[str, ...]:
    """The estimator parameters of ``cls``: its constructor's named arguments, and those
    of the base constructors its ``**kwargs`` reach (a subclass that declares only its
    own parameters keeps the inherited ones)."""
    names = {
        name for init in _constructors(cls) for name in signature_parameters(init)
        if name != "self"
    }
    return tuple(sorted(names))


@functools.cache
def signature_defaults(cls: type) -> dict[str, Any]:
    """Default values of the parameters :func:`constructor_parameter_names` lists
    (the nearest constructor's default wins)."""
    defaults: dict[str, Any] = {}
    for init in _constructors(cls):
        for name, parameter in signature_parameters(init).items():
            if parameter.default is not parameter.empty:
                defaults.setdefault(name, parameter.default)
    return defaults

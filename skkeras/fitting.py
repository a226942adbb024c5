"""Pieces of a fit that the estimators' steps share: what a fit prepared before
training (:class:`PreparedFit`) and left (:class:`FitResult`), the rollback of a
failed fit, the training job (rows, batches, validation data), and the reuse of a
built model across fits (:mod:`skkeras.reuse`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from . import _numpy_train, building, reuse
from .engine import prepare as prepare_for_training
from .inputs import n_rows, take_rows
from .job import TrainedState, TrainingJob
from .routing import accepts_var_keyword, routing_prefix, signature_parameters
from .seeding import derive_seed
from .settings import FitSettings
from .training import choose_path

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
    #: How it trained: "numpy", "fast" or "keras: <why>" (None: not trained).
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
        pass
    try:
        return train_test_split(rows, **kwargs)
    except ValueError:
        raise ValueError(
            f"validation_split={fraction} of {n} rows leaves no row to train on or none to "
            "validate on: use a fraction that keeps at least one of each."
        ) from None


def with_weights(x: Any, y: Any, weights: np.ndarray | None) -> tuple[Any, ...]:
    return (x, y) if weights is None else (x, y, weights)


def cast_targets(y: Any) -> Any:
    """float64 targets as float32, the models' dtype (arrays, or dicts/lists of them)."""
    if isinstance(y, Mapping):
        return {k: cast_targets(v) for k, v in y.items()}
    if isinstance(y, list | tuple):
        return [cast_targets(v) for v in y]
    y = np.asarray(y)
    return y.astype(np.float32) if y.dtype == np.float64 else y


def make_training_job(estimator: Any, fit: PreparedFit, x: Any, y: Any, y_encoded: Any,
                  weights: np.ndarray | None) -> TrainingJob:
    """The training of this fit: rows, batches, callbacks and validation data."""
    settings = fit.settings
    train_rows, val_rows = validation_rows(
        n_rows(x), estimator._stratify_labels(y), settings.validation_split, fit.seed)
    validation_data = settings.validation_data
    if val_rows is not None:
        validation_data = with_weights(
            take_rows(x, val_rows), take_rows(y_encoded, val_rows),
            None if weights is None else weights[val_rows],
        )
    elif validation_data is not None:
        validation_data = estimator._encode_validation_data(validation_data)
    n_val = n_rows(validation_data[0]) if validation_data is not None else 0
    callbacks = building.make_callbacks(estimator.callbacks, estimator._routed("callbacks"))
    callbacks += building.make_callbacks(settings.extra_callbacks, {})
    return TrainingJob(
        model=fit.model, x=take_rows(x, train_rows), y=take_rows(y_encoded, train_rows),
        sample_weight=None if weights is None else weights[train_rows],
        epochs=int(settings.epochs),
        batch_size=settings.batch_size_for(len(train_rows), estimator._default_batch_size),
        first_epoch=estimator.current_epoch if fit.continuing else 0,
        seed=derive_seed(fit.seed, "shuffle"), shuffle=settings.shuffle,
        callbacks=callbacks, validation_data=validation_data,
        validation_batch_size=settings.validation_batch_size_for(n_val),
        verbose=settings.verbose, fit_kwargs=settings.fit_kwargs, engine=estimator.engine,
        jit_compile=estimator._routed("compile").get("jit_compile"),
    )


def recipe_key(estimator: Any, meta: dict[str, Any], seed: int) -> Any:
    """What the built model depends on besides the facts in ``meta`` that the build
    reads, for :func:`skkeras.reuse.workbench`: the target's facts always, since
    the build also sees the target itself (the default loss, the output width)."""
    if not isinstance(estimator.random_state, int | np.integer) or isinstance(estimator.random_state, bool):
        return None
    spec = estimator._model_spec()
    if isinstance(spec, keras.Model) or not callable(spec):
        return None
    params = estimator.get_params(deep=False)
    seen = signature_parameters(spec)
    if "params" not in seen and not accepts_var_keyword(spec):
        # Training settings the builder cannot see do not change the model.
        for name in [*TRAINING_SETTINGS, *(n for n in params if routing_prefix(n) in TRAINING_ROUTES)]:
            if name not in seen:
                params.pop(name, None)
    target_facts = {name: meta.get(name) for name in TARGET_FACTS}
    return reuse.recipe_key((type(estimator), spec, params, target_facts, seed))


def job_on_workbench(estimator: Any, job: TrainingJob, bench: reuse.Workbench, build_model: Callable[[], keras.Model]) -> tuple[TrainingJob, reuse.Workbench | None]:
    """The job, set to start the reused model from its initial values; or, if
    the fast (or NumPy) path cannot train that model, the job on a model of its own."""

    model = bench.model
    try:
        path = choose_path(replace(job, engine="auto"))
    except ValueError:
        path = None
    if path not in ("fast", "numpy"):
        model = build_model()
        estimator._match_target(model)
        return replace(job, model=model), None
    if bench.initial is None:
        # (the optimizer's initial values; the compiled path builds the rest when it runs)
        prepare = _numpy_train.prepare if path == "numpy" else prepare_for_training
        prepare(model, job.x, job.y, job.batch_size)
        bench.initial = TrainedState.of(model, {})
    return replace(job, initial=bench.initial), bench


def without_loss(model: keras.Model) -> bool:
    """Whether training this model has nothing to minimise: no compiled loss, no
    added losses, and Keras's own train_step."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, Mapping):
        loss = list(loss.values())
    if isinstance(loss, list | tuple):
        loss = [item for item in loss if item is not None]
    return not loss and not model.losses and type(model).train_step is keras.Model.train_step

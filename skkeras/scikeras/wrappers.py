"""scikeras's ``scikeras.wrappers`` with scikeras 0.13's defaults.

The classes are skkeras's estimators with the defaults of scikeras's signatures:
``epochs=1``, ``optimizer="rmsprop"``, ``verbose=1``, and ``batch_size=None``
meaning Keras's own default of 32 samples (skkeras's classes default to 200
epochs, Adam, quiet training and ``min(200, n_samples)``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from .. import wrappers as _skkeras
from ..building import make_callbacks
from ..fitting import without_loss
from ..params import signature_defaults
from ..seeding import resolve_seed
from ._targets import ScikerasClassificationEncoder
from .utils import loss_name, metric_name

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor"]

#: Keras's batch size when ``Model.fit`` is given none; scikeras's ``batch_size=None``.
KERAS_DEFAULT_BATCH_SIZE = 32


class BaseWrapper(_skkeras.BaseWrapper):
    """skkeras's :class:`~skkeras.wrappers.BaseWrapper` with scikeras's defaults.

    Parameters are those of :class:`skkeras.wrappers.BaseWrapper`; the defaults
    that differ are ``optimizer="rmsprop"``, ``verbose=1``, ``epochs=1`` and
    ``batch_size=None`` meaning 32.
    """

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | keras.Model | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 1,
        callbacks: Sequence[Any] | Mapping[str, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 1,
        inputs: Any = None,
        engine: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, build_fn=build_fn, warm_start=warm_start, random_state=random_state,
            optimizer=optimizer, loss=loss, metrics=metrics, batch_size=batch_size,
            validation_batch_size=validation_batch_size, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split, shuffle=shuffle,
            run_eagerly=run_eagerly, epochs=epochs, inputs=inputs, engine=engine, **kwargs,
        )

    #: The names scikeras routes to ``keras.Model.fit``, ``compile`` and ``predict``
    #: (class attributes scikeras's users and tests read).
    _fit_kwargs = frozenset({
        "batch_size", "epochs", "verbose", "validation_split", "shuffle", "class_weight",
        "sample_weight", "initial_epoch", "validation_steps", "validation_batch_size",
        "validation_freq",
    })
    _predict_kwargs = frozenset({"batch_size", "verbose", "steps"})
    # skkeras.wrappers makes the compile arguments with ``_compile_arguments``; its former
    # name ``_compile_kwargs`` is scikeras's set here.
    _compile_kwargs = frozenset({  # type: ignore[assignment]
        "optimizer", "loss", "metrics", "loss_weights", "weighted_metrics", "run_eagerly",
    })

    @property
    def __name__(self) -> str:
        """The class's name, on instances too (scikeras's tests pass ``estimator.__name__``)."""
        return type(self).__name__

    def _default_batch_size(self, n_samples: int) -> int:
        return KERAS_DEFAULT_BATCH_SIZE

    def _fit_seed(self) -> int:
        """scikeras's seed: a RandomState gives the same seed on every fit (drawn from a
        copy of its state, which is left as it is); an int or None as in skkeras."""
        if isinstance(self.random_state, np.random.RandomState):
            copy = np.random.RandomState()
            copy.set_state(self.random_state.get_state())
            return resolve_seed(copy)
        return super()._fit_seed()

    def _check_continuing_dtypes(self, X: Any, y: Any) -> None:
        """scikeras's check: a continuing fit refuses X or y that cannot be cast safely
        to the first fit's dtypes (float64 X after float32 X)."""
        name = type(self).__name__
        dtype = self.__dict__.get("X_dtype_")
        if isinstance(X, np.ndarray) and isinstance(dtype, np.dtype) and not np.can_cast(X.dtype, dtype):
            raise ValueError(f"Got X with dtype {X.dtype}, but this {name} expected {dtype} "
                             f"and casting from {X.dtype} to {dtype} is not safe.")
        expected = self.__dict__.get("y_dtype_")
        if y is None or expected is None or np.can_cast(y.dtype, expected) or (
            y.dtype.kind in "OUS" and expected.kind in "OUS"
        ):
            return
        raise ValueError(f"Got y with dtype {y.dtype}, but this {name} expected {expected} "
                         f"and casting from {y.dtype} to {expected} is not safe.")

    def _weights_seed(self, seed: int) -> int:
        """scikeras builds the model under ``random.seed(random_state)`` itself, so a
        model without explicit seeds starts from scikeras's initial weights (on
        TensorFlow; Keras's default seeds come from Python's ``random``)."""
        return seed

    def _commit(self, *args: Any, **kwargs: Any) -> Any:
        """skkeras's commit step, then ``history_`` under scikeras's names: a metric's
        full name (``"mae"`` -> ``"mean_absolute_error"``), other keys as they are."""
        committed = super()._commit(*args, **kwargs)
        history = getattr(self, "history_", None)
        if isinstance(history, dict):
            renamed: dict[str, list[Any]] = {}
            for key, values in history.items():
                renamed.setdefault(_scikeras_history_key(key), []).extend(values)
            self.history_ = renamed
        return committed

    def _check_builder(self) -> None:
        """scikeras has no built-in model: ``model=None`` needs a ``_keras_build_fn``;
        ``build_fn`` warns, as in scikeras, that ``model`` is its new name."""
        if self.model is None and self.build_fn is not None:
            warnings.warn(
                "``build_fn`` will be renamed to ``model`` in a future release, at which point "
                "use of ``build_fn`` will raise an Error instead.",
                UserWarning, stacklevel=3,
            )
        if self.model is None and self.build_fn is None and not _defines_build_fn(self):
            raise ValueError(
                "If not using the ``build_fn`` or ``model`` param, you must implement "
                "``_keras_build_fn`` (skkeras.scikeras has no built-in model; "
                "skkeras.KerasClassifier/KerasRegressor have one)."
            )

    def _default_loss(self, target_type: Any, n_output_units: int | None) -> Any:
        """scikeras has no default loss: ``loss=None`` leaves the loss to the builder
        (``compile_kwargs["loss"]`` is None), which must compile the model with one."""
        return None

    def _compile_arguments(self, target_type: Any, n_output_units: int | None) -> dict[str, Any]:
        """skkeras's compile arguments, except that ``optimizer=None`` stays None (scikeras
        then requires the builder to compile the model with an optimizer)."""
        kwargs = super()._compile_arguments(target_type, n_output_units)
        if self.optimizer is None:
            kwargs["optimizer"] = None
        return kwargs

    def _ensure_compiled_model(self, model: keras.Model, sample_inputs: Any, target_type: Any = None) -> None:
        """skkeras's compile step, then scikeras's checks for a model to train: it has a
        loss and an optimizer, and the loss the user gave (if not the signature's default)
        is the one the builder compiled with."""
        super()._ensure_compiled_model(model, sample_inputs, target_type)
        if self.__dict__.get("_initializing_only"):  # scikeras checks when training only
            return
        if without_loss(model):
            raise ValueError(
                "No loss to train with: provide a loss (loss=...) or compile the model with "
                "one in its builder (scikeras: 'You must provide a loss or a compiled model')."
            )
        if getattr(model, "optimizer", None) is None:
            raise ValueError(
                "You must provide an optimizer or a compiled model: optimizer=None needs a "
                "builder that compiles the model with an optimizer."
            )
        _check_compiled_loss(self.loss, model.loss, signature_defaults(type(self)).get("loss"))

    def _get_metadata(self) -> dict[str, Any]:
        """``meta`` with scikeras's keys: the facts about the data and the fitted
        encoders (``target_encoder_``, ``feature_encoder_``); ``feature_names_in_`` only
        for DataFrames, and none of skkeras's own (``input_shapes_``, ``named_inputs_``)."""
        meta = super()._get_metadata()
        for name in ("input_shapes_", "named_inputs_"):
            meta.pop(name, None)
        if meta.get("feature_names_in_") is None:
            meta.pop("feature_names_in_", None)
        for name in ("target_encoder_", "feature_encoder_"):
            if name in self.__dict__:
                meta[name] = self.__dict__[name]
        return meta

    def _validate_data(self, X: Any, y: Any = None, reset: bool = False) -> tuple[Any, Any]:
        """skkeras's validation; a continuing fit's y must also have the number of
        columns of the first fit's (scikeras's target encoders check it)."""
        X, y = super()._validate_data(X, y, reset=reset)
        if y is not None:
            width = 1 if np.ndim(y) == 1 else int(np.shape(y)[1])
            first = self.__dict__.get("_y_width_")
            if reset or first is None:
                self._y_width_ = width
            elif width != first:
                raise ValueError(
                    f"Detected ``y`` to have {width} outputs (columns, the target's features) "
                    f"with ``y.shape = {np.shape(y)}``, but this {type(self).__name__} was "
                    f"fitted on y with {first}: a continuing fit needs y of the same width."
                )
        return X, y

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> BaseWrapper:
        """skkeras's fit; with ``warm_start`` the model continues training but, as in
        scikeras, ``history_`` (and so ``current_epoch``) starts again from this fit."""
        self._check_builder()
        history = self.__dict__.get("history_") if self.warm_start else None
        before = {key: len(values) for key, values in (history or {}).items()}
        super().fit(X, y, sample_weight=sample_weight, **kwargs)
        if before:  # the fit continued: drop the epochs of the fits before it
            self.history_ = {key: values[before.get(key, 0):] for key, values in self.history_.items()}
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> BaseWrapper:
        self._check_builder()
        return super().partial_fit(X, y, sample_weight=sample_weight, **kwargs)

    def _train(self, fit: Any) -> Any:
        """skkeras's training step; ``batch_size=-1`` (or ``validation_batch_size=-1``)
        needs model inputs with a ``shape``, as in scikeras (skkeras's own classes also
        take -1 for a list or dict of arrays)."""
        settings = fit.settings
        if fit.job is not None and not hasattr(fit.job.x, "shape"):
            for name in ("batch_size", "validation_batch_size"):
                if getattr(settings, name) == -1:
                    raise ValueError(_needs_shape(name, fit.job.x))
        return super()._train(fit)

    def _routed(self, destination: str) -> dict[str, Any]:
        """Routed parameters; as in scikeras, a plain ``batch_size`` also sets the batch
        size of ``predict`` unless ``predict__batch_size`` is given, and the ``callbacks``
        that define predict hooks (``on_predict_begin``...) also watch ``predict``."""
        routed = super()._routed(destination)
        if destination != "predict":
            return routed
        if "batch_size" not in routed and self.batch_size is not None:
            routed["batch_size"] = self.batch_size
        # scikeras's ``callbacks`` also see predict: those with predict hooks are passed on.
        watching = [callback for callback in make_callbacks(self.callbacks, super()._routed("callbacks"))
                    if any(_overrides_hook(callback, hook) for hook in _PREDICT_HOOKS)]
        if watching:
            own = routed.get("callbacks")
            own = [] if own is None else list(own) if isinstance(own, list | tuple) else [own]
            routed["callbacks"] = watching + own
        return routed

    def _outputs(self, X: Any) -> Any:
        if self._routed("predict").get("batch_size") == -1:
            x = self._model_inputs(X) if self.initialized_ else None
            if x is not None and not hasattr(x, "shape"):
                raise ValueError(_needs_shape("predict__batch_size", x))
        return super()._outputs(X)

    def initialize(self, X: Any, y: Any = None) -> BaseWrapper:
        """skkeras's ``initialize``; as in scikeras, a model without a loss or an optimizer
        is accepted here (it can predict), and refused when training."""
        self._check_builder()
        self._initializing_only = True
        try:
            return super().initialize(X, y)
        finally:
            self.__dict__.pop("_initializing_only", None)


@contextlib.contextmanager
def _predict_kwargs_for_call(estimator: Any, kwargs: Mapping[str, Any]) -> Iterator[None]:
    """``predict__`` parameters set from ``kwargs`` for one call, then put back as they
    were (the estimator is changed during the call: not for concurrent predictions
    with different arguments)."""
    if not kwargs:
        yield
        return
    routed = {f"predict__{name}": value for name, value in kwargs.items()}
    current = estimator.get_params(deep=False)
    previous = {name: current[name] for name in routed if name in current}
    estimator.set_params(**routed)
    try:
        yield
    finally:
        extra = estimator.__dict__.get("_extra_params", {})
        for name in routed:
            if name not in previous:
                extra.pop(name, None)
        if previous:
            estimator.set_params(**previous)


def _scikeras_history_key(key: str) -> str:
    """scikeras's name for a history key: the metric's full name where Keras knows the
    key as a metric (``"mae"``), the key itself otherwise (``"loss"``, ``"val_mae"``)."""
    try:
        return metric_name(key)
    except ValueError:
        return key


_PREDICT_HOOKS = ("on_predict_begin", "on_predict_end", "on_predict_batch_begin",
                  "on_predict_batch_end")


def _overrides_hook(callback: Any, hook: str) -> bool:
    method = getattr(type(callback), hook, None)
    return method is not None and method is not getattr(keras.callbacks.Callback, hook)


def _needs_shape(name: str, x: Any) -> str:
    return (f"`{name}=-1` requires that `X` implement `shape` (scikeras's rule, kept by "
            f"skkeras.scikeras); the feature encoder made a {type(x).__name__}. Give a batch "
            "size, or use skkeras's own classes, which take -1 for any inputs.")


def _check_compiled_loss(given: Any, compiled: Any, default: Any) -> None:
    """scikeras's check that a ``loss`` the user set is the one the model was compiled
    with (both plain losses: strings, ``Loss`` instances or classes)."""
    plain = (str, keras.losses.Loss, type)
    if given is None or not isinstance(given, plain) or not isinstance(compiled, plain):
        return
    try:
        names = [loss_name(given), loss_name(compiled)]
        default_name = None if default is None else loss_name(default)
    except (TypeError, ValueError):  # a loss Keras does not know by name
        return
    if names[0] != default_name and names[0] != names[1]:
        raise ValueError(
            f"loss={given!r} but model compiled with {compiled!r}. Data may not match loss "
            "function! Set loss= to the loss the builder compiles with, or leave it unset."
        )


def _defines_build_fn(estimator: Any) -> bool:
    """Whether the estimator's class defines a ``_keras_build_fn`` of its own (skkeras's
    base class may define one that falls back to the built-in model)."""
    method = getattr(type(estimator), "_keras_build_fn", None)
    return method is not None and method is not getattr(_skkeras.BaseWrapper, "_keras_build_fn", None)


class KerasClassifier(_skkeras.KerasClassifier, BaseWrapper):
    """skkeras's :class:`~skkeras.wrappers.KerasClassifier` with scikeras's defaults
    (see :class:`BaseWrapper`); ``class_weight`` as in skkeras."""

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | keras.Model | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 1,
        callbacks: Sequence[Any] | Mapping[str, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 1,
        class_weight: Mapping[Any, float] | str | None = None,
        inputs: Any = None,
        engine: str = "auto",
        threshold: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, build_fn=build_fn, warm_start=warm_start, random_state=random_state,
            optimizer=optimizer, loss=loss, metrics=metrics, batch_size=batch_size,
            validation_batch_size=validation_batch_size, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split, shuffle=shuffle,
            run_eagerly=run_eagerly, epochs=epochs, inputs=inputs, engine=engine,
            class_weight=class_weight, threshold=threshold, **kwargs,
        )

    _default_loss = BaseWrapper._default_loss

    def __sklearn_tags__(self):
        """skkeras's tags, with scikeras's ``poor_score``: with scikeras's default of one
        epoch a classifier is not expected to score well on scikit-learn's toy data."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    @property
    def target_encoder(self) -> Any:
        """skkeras's classification encoder, which here also fits a y with a single
        class (scikeras trains on it and predicts that class; skkeras's own classifier
        raises scikit-learn's "only one class" error). Override to customise."""
        return ScikerasClassificationEncoder(classes=self.__dict__.get("classes_"))

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> KerasClassifier:
        self._check_builder()
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None,
                    **kwargs: Any) -> KerasClassifier:
        self._check_builder()
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight, **kwargs)

    def initialize(self, X: Any, y: Any = None) -> KerasClassifier:
        self._check_builder()
        return super().initialize(X, y)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Labels; ``kwargs`` (``batch_size``, ``verbose``) apply to this call only, as
        scikeras's ``predict(X, **kwargs)``."""
        with _predict_kwargs_for_call(self, kwargs):
            return super().predict(X)

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Class probabilities; ``kwargs`` apply to this call only (see ``predict``)."""
        with _predict_kwargs_for_call(self, kwargs):
            return super().predict_proba(X)


class KerasRegressor(_skkeras.KerasRegressor, BaseWrapper):
    """skkeras's :class:`~skkeras.wrappers.KerasRegressor` with scikeras's defaults
    (see :class:`BaseWrapper`); predictions are in Keras's float type (float32), as
    in scikeras, where skkeras's own regressor returns float64 as scikit-learn does."""

    _default_loss = BaseWrapper._default_loss

    def __sklearn_tags__(self):
        """skkeras's tags, with scikeras's ``poor_score``: with scikeras's default of one
        epoch a regressor is not expected to score well on scikit-learn's toy data."""
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> KerasRegressor:
        self._check_builder()
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Predictions in Keras's float type; ``kwargs`` (``batch_size``, ``verbose``)
        apply to this call only, as scikeras's ``predict(X, **kwargs)``."""
        with _predict_kwargs_for_call(self, kwargs):
            predictions = super().predict(X)
        return np.asarray(predictions).astype(keras.backend.floatx(), copy=False)

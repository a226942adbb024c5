"""The scikit-learn estimators: :class:`BaseWrapper`, :class:`KerasClassifier`, :class:`KerasRegressor`.

A fit is a sequence of named steps, each a method a subclass may override (the
names are scikeras's where scikeras has one):

1. ``_validate_params`` (scikit-learn's, from ``_parameter_constraints``) and
   :meth:`BaseWrapper._validate_data`;
2. :meth:`~BaseWrapper._fit_encoders`: ``target_encoder`` and ``feature_encoder``
   (properties returning scikit-learn transformers) fitted as ``target_encoder_``
   and ``feature_encoder_``, their ``get_metadata()`` added to ``meta``;
3. :meth:`~BaseWrapper._build_keras_model`: ``_keras_build_fn`` if the subclass
   defines it, else ``model=``/``build_fn=``, else the built-in MLP; then
   :meth:`~BaseWrapper._ensure_compiled_model` compiles it unless the builder did
   (``_initialize`` runs steps 1-3, as in scikeras);
4. :meth:`~BaseWrapper._train`: the fast engine or ``keras.Model.fit``
   (:mod:`skkeras.training` says which, in ``fit_path_``), then a divergence check;
5. :meth:`~BaseWrapper._commit`: the fitted attributes, set in one place.

Steps 1-2 are :class:`~skkeras.data_steps.DataStepsMixin`'s, step 3
:class:`~skkeras.model_building.ModelBuildingMixin`'s, steps 4-5
:class:`~skkeras.training_steps.TrainingStepsMixin`'s, the planning of a fit (``_initialize``,
``_prepare_fit``, ``fit_key``, ``training_job``) :class:`~skkeras.fit_planning.FitPlanningMixin`'s, parameters
:class:`~skkeras.params.ParameterMixin`'s; this module orchestrates. The mechanics
live in :mod:`~skkeras.inputs` (X), :mod:`~skkeras.targets` (y), :mod:`~skkeras.weights`,
:mod:`~skkeras.building`, :mod:`~skkeras.fitting` (the job, the rollback),
:mod:`~skkeras.training` and :mod:`~skkeras.prediction`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from .data_steps import DataStepsMixin, if_target_encoder_has
from .engine import exclusive
from .fit_planning import FitPlanningMixin
from .fitting import (
    keep_fitted_state_on_error,
)
from .inputs import (
    FeatureEncoder,
    InputColumns,
)
from .model_building import ModelBuildingMixin
from .params import ParameterMixin
from .persistence import PersistenceMixin
from .prediction import model_outputs, plain_model_inputs
from .settings import CLASSIFIER_CONSTRAINTS, PARAMETER_CONSTRAINTS
from .targets import (
    ClassificationEncoder,
    RegressionEncoder,
    default_classification_loss,
)
from .training_steps import TrainingStepsMixin
from .weights import class_sample_weight


class BaseWrapper(
    FitPlanningMixin, ParameterMixin, DataStepsMixin, ModelBuildingMixin, TrainingStepsMixin,
    PersistenceMixin, BaseEstimator,
):
    """A Keras model as a scikit-learn estimator; the base of :class:`KerasClassifier`
    and :class:`KerasRegressor`, and of your own (a transformer, an autoencoder).

    Parameters
    ----------
    model : callable, keras.Model or None, default=None
        How to make the Keras model. A callable returning a compiled or uncompiled
        model; it is called with the arguments its signature names, among
        ``meta`` (facts about the data: ``n_features_in_``, ``classes_``,
        ``n_outputs_expected_``...), ``compile_kwargs``, ``params`` and its own
        hyperparameters (set as ``model__name=`` or plainly as ``name=``). A
        ``keras.Model`` instance is cloned, with its compile configuration, on
        every fit; ``initialize`` uses it as it is, trained weights included.
        None uses the subclass's ``_keras_build_fn`` method if it has one, else
        the built-in MLP (:func:`skkeras.building.build_mlp`).
        Fits with the same builder, arguments and integer ``random_state`` reuse
        one built model (:mod:`skkeras.reuse`); ``model_`` is then built when
        first accessed.
    build_fn : callable, default=None
        The Keras 2 name of ``model``. Its keyword arguments may be given to the
        estimator directly, and set later by ``set_params`` or a grid search.
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit`` instead of rebuilding.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, dropout, the validation split and the
        order of samples in each epoch. An int makes fits repeatable without
        changing any global random state.
    optimizer : str, class, instance or None, default=None
        Used when the builder returns an uncompiled model; None means ``"adam"``.
        Configure it with ``optimizer__learning_rate=...`` and so on. A builder
        that names an ``optimizer`` argument receives it only when set, so its
        own default stands otherwise (the Keras 2 convention).
    loss : str, class, instance, callable or None, default=None
        None chooses one from the target (cross-entropy for classifiers, mean
        squared error for regressors, none for ``BaseWrapper``). Configure with ``loss__*``.
    metrics : list or None, default=None
        Keras metrics, reported in ``history_``. Configure with ``metrics__*``.
    batch_size : int or None, default=None
        Samples per gradient step; None means ``min(200, n_samples)``, as in
        scikit-learn's MLP; -1 means all of them in one batch.
    validation_batch_size : int or None, default=None
        Samples per validation step; -1 means all of them.
    verbose : int, default=0
        Keras's progress output; quiet by default, as cross-validation wants. From 1
        on, each fit also says whether it trains on the fast path, or why not.
    callbacks : list, dict or None, default=None
        Keras callbacks (instances or classes); configure classes with
        ``callbacks__*``.
    validation_split : float, default=0.0
        Fraction of the training data held out (stratified for classifiers)
        to report validation metrics, e.g. for EarlyStopping.
    shuffle : bool, default=True
        Shuffle the samples every epoch, in an order drawn from ``random_state``.
    run_eagerly : bool, default=False
    epochs : int, default=200
        Passes over the data per ``fit`` (at least 1).
    inputs : dict or None, default=None
        For models with several named inputs: ``{input_name: columns}`` splits
        the columns of a 2-D X (indices, or names for DataFrames) among them.
    engine : {"auto", "fast", "keras"}, default="auto"
        How to train. ``"fast"`` runs each epoch as one compiled program that is
        reused across fits of the same architecture (:mod:`skkeras.engine`);
        ``"keras"`` calls ``keras.Model.fit``; ``"auto"`` trains a small job of a
        small dense network in NumPy with Keras's formulas (``fit_path_ == "numpy"``),
        takes the fast path wherever else it applies and ``Model.fit`` elsewhere (a
        custom ``train_step``, per-batch or validation callbacks, stateful layers,
        ``fit__`` arguments Keras must see). All give the same numbers for the same
        seed, to float32 rounding.
    **kwargs
        Routed parameters (``model__*``, ``optimizer__*``, ``loss__*``,
        ``metrics__*``, ``callbacks__*``, ``fit__*``, ``predict__*``,
        ``compile__*``) and keyword arguments of the model builder.
        ``fit__epochs``, ``fit__batch_size``, ``fit__shuffle``, ``fit__verbose``,
        ``fit__validation_split`` and ``fit__validation_batch_size`` override the
        plain parameter, and an argument of ``fit()`` overrides both.

    Attributes
    ----------
    model_ : keras.Model
    history_ : dict of lists
        Per-epoch loss and metrics, appended across warm starts.
    current_epoch : int
        Epochs trained so far (``len(history_["loss"])``).
    initialized_ : bool
        Whether the estimator has a model (fitted, or ``initialize``-d).
    fit_path_ : str
        How the last fit trained: ``"numpy"``, ``"fast"`` or ``"keras: <why>"``.
    target_encoder_, feature_encoder_ : transformers
        The fitted ``target_encoder`` and ``feature_encoder``.
    n_features_in_, feature_names_in_, X_shape_, X_dtype_, y_dtype_, y_ndim_, target_type_
        Facts about the data of the first fit, as builders see them in ``meta``.
    """

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = None,
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 0,
        callbacks: Sequence[Any] | Mapping[str, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 200,
        inputs: InputColumns | None = None,
        engine: str = "auto",
        **kwargs: Any,
    ) -> None:
        self.model = model
        self.build_fn = build_fn
        self.warm_start = warm_start
        self.random_state = random_state
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.batch_size = batch_size
        self.validation_batch_size = validation_batch_size
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.run_eagerly = run_eagerly
        self.epochs = epochs
        self.inputs = inputs
        self.engine = engine
        # Routed (``optimizer__learning_rate``) and builder keyword parameters: kept
        # untouched, in one private dict, since their names are not in the signature.
        self._extra_params = dict(kwargs)

    # ---------------------------------------------------------------- params
    def __getattr__(self, name: str) -> Any:
        if name == "model_" and "_deferred_model_" in self.__dict__:
            # A fit on a reused model kept only the trained values: build the
            # estimator's own model now that it is asked for (see skkeras.reuse).
            model = self.__dict__.pop("_deferred_model_").materialize()
            self.model_ = model
            return model
        # Read access to extra parameters as attributes, as scikeras users expect.
        if not name.startswith("_"):
            extra = self.__dict__.get("_extra_params", {})
            if name in extra:
                return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        tags.input_tags.dict = True
        tags.non_deterministic = False
        return tags

    # ---------------------------------------------------------- fitted state
    @property
    def initialized_(self) -> bool:
        """Whether the estimator has a model to predict with (fitted or initialized)."""
        return "model_" in self.__dict__ or "_deferred_model_" in self.__dict__

    @property
    def X_ndim_(self) -> int | dict[str, int]:  # noqa: N802 (scikit-learn's fitted-attribute style)
        """Dimensions of the X of the first fit (per input for a dict X)."""
        shape = self.__dict__.get("X_shape_")
        if shape is None:
            raise AttributeError(f"{type(self).__name__!r} is not fitted: it has no 'X_ndim_'.")
        return {k: len(v) for k, v in shape.items()} if isinstance(shape, Mapping) else len(shape)

    @property
    def current_epoch(self) -> int:
        """Epochs trained so far, across warm starts and ``partial_fit`` calls."""
        history = self.__dict__.get("history_") or {}
        return len(history.get("loss", next(iter(history.values()), [])))

    # -------------------------------------------------------------- encoders
    @property
    def target_encoder(self) -> Any:
        """The transformer for y (override to customise): fitted per fit as
        ``target_encoder_``; ``transform`` makes what Keras trains on, and
        ``inverse_transform`` turns model outputs into predictions. Its
        ``get_metadata()``, if any, adds facts to ``meta``. Default: identity."""
        return FunctionTransformer()

    @property
    def feature_encoder(self) -> Any:
        """The transformer for X (override to customise): fitted per fit as
        ``feature_encoder_``; ``transform`` makes the model's inputs. Default: X (cast
        to float32 for training and prediction), split into named inputs by ``inputs=``
        (:class:`skkeras.inputs.FeatureEncoder`)."""
        return FeatureEncoder(self.inputs, getattr(self, "feature_names_in_", None))

    # --------------------------------------------------------------- the steps
    # ------------------------------------------------------------ public steps
    def _fit(self, X: Any, y: Any, sample_weight: Any, *, warm: bool, classes: Any = None,
             one_epoch: bool = False, train_model: bool = True, **call_kwargs: Any) -> BaseWrapper:
        with exclusive(), keep_fitted_state_on_error(self):
            fit = self._prepare_fit(
                X, y, sample_weight, warm=warm, classes=classes, epochs=1 if one_epoch else None,
                train_model=train_model, call_kwargs=call_kwargs,
            )
            self._commit(self._train(fit))
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> BaseWrapper:
        """Build (or, with ``warm_start``, reuse) the model and train it on X, y.

        Parameters
        ----------
        X : array-like, DataFrame or dict of arrays
        y : array-like, or None for a model trained without targets
        sample_weight : array-like of shape (n_samples,), default=None
            Multiplied by the class weights; zero excludes a sample.
        **kwargs
            ``validation_data=(X_val, y_val)``; per-call values of ``epochs``,
            ``batch_size``, ``verbose``, ``shuffle``, ``validation_split``,
            ``validation_batch_size`` and ``callbacks`` (added to the parameter's);
            anything else goes to ``keras.Model.fit``.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, warm=self.warm_start, **kwargs)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None, **kwargs: Any) -> BaseWrapper:
        """Train for one epoch, continuing from the current state (building it on first call)."""
        return self._fit(X, y, sample_weight, warm=True, one_epoch=True, **kwargs)

    @_fit_context(prefer_skip_nested_validation=True)
    def initialize(self, X: Any, y: Any = None) -> BaseWrapper:
        """Build and compile the model for data like X, y without training it. A
        ``keras.Model`` given as ``model=`` is used as it is, trained weights included."""
        return self._fit(X, y, None, warm=False, train_model=False)

    # ------------------------------------------------------------ predicting
    @staticmethod
    def scorer(y_true: Any, y_pred: Any, **kwargs: Any) -> float:
        """The score ``score`` reports; BaseWrapper has none: define it in a subclass."""
        raise NotImplementedError(
            "Scoring is not implemented on BaseWrapper: define a `scorer(y_true, y_pred, "
            "**kwargs)` staticmethod (or `score`) in your subclass."
        )

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """``scorer(y, predict(X))``: accuracy for classifiers, R² for regressors."""
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return self.scorer(y, self.predict(X), **kwargs)

    def predict(self, X: Any) -> Any:
        """The model's outputs for X, through ``target_encoder_.inverse_transform``."""
        return self._fitted_target_encoder().inverse_transform(self._outputs(X))

    def _outputs(self, X: Any) -> np.ndarray:
        x = plain_model_inputs(self, X)  # a plain float array: checked in microseconds
        if x is None:
            check_is_fitted(self)
            x = self._model_inputs(X)  # validated, then through feature_encoder_
        predict_kwargs = self._routed("predict")
        deferred = self.__dict__.get("_deferred_model_")
        # No lock: the forward passes read snapshots of the weights (see skkeras.prediction).
        if deferred is not None and set(predict_kwargs) <= {"batch_size"}:
            # The reused model's architecture, with this fit's trained values.
            return model_outputs(deferred.workbench.model, x, predict_kwargs, values=deferred.state)
        return model_outputs(self.model_, x, predict_kwargs)


class KerasClassifier(ClassifierMixin, BaseWrapper):
    """A Keras model as a scikit-learn classifier.

    Binary, multiclass and multilabel targets; labels may be strings, ints,
    bools or floats. Parameters are those of :class:`BaseWrapper`, plus:

    Parameters
    ----------
    class_weight : dict, "balanced" or None, default=None
        Weights per class, multiplied into the per-sample weights Keras receives.
    threshold : float or None, default=None
        For binary targets, ``predict`` returns the positive class where its
        probability exceeds this (None: the most probable class).

    Attributes
    ----------
    model_ : keras.Model
    history_ : dict of lists
        Per-epoch loss and metrics, appended across warm starts.
    classes_, n_classes_, target_type_, n_outputs_, n_outputs_expected_
    n_features_in_, feature_names_in_, X_shape_, X_dtype_, y_dtype_, y_ndim_
    target_encoder_, feature_encoder_, current_epoch, initialized_, fit_path_
    """

    _parameter_constraints: dict = {**PARAMETER_CONSTRAINTS, **CLASSIFIER_CONSTRAINTS}

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = None,
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 0,
        callbacks: Sequence[Any] | Mapping[str, Any] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 200,
        inputs: InputColumns | None = None,
        engine: str = "auto",
        class_weight: Mapping[Any, float] | str | None = None,
        threshold: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, build_fn=build_fn, warm_start=warm_start, random_state=random_state,
            optimizer=optimizer, loss=loss, metrics=metrics, batch_size=batch_size,
            validation_batch_size=validation_batch_size, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split, shuffle=shuffle,
            run_eagerly=run_eagerly, epochs=epochs, inputs=inputs, engine=engine, **kwargs,
        )
        self.class_weight = class_weight
        self.threshold = threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    @property
    def target_encoder(self) -> Any:
        """Labels to what Keras trains on (:class:`skkeras.targets.ClassificationEncoder`);
        override to customise. During a fit ``classes_`` holds partial_fit's ``classes``."""
        return ClassificationEncoder(classes=self.__dict__.get("classes_"))

    def _set_classes_hint(self, classes: Any) -> None:
        self.classes_ = classes

    def _default_loss(self, target_type, n_output_units):
        return default_classification_loss(target_type, n_output_units)

    def _validate_data(self, X: Any, y: Any = None, reset: bool = False) -> tuple[Any, Any]:
        """Step 1; ``threshold`` is refused for a multiclass target, which would ignore it."""
        X, y = super()._validate_data(X, y, reset=reset)
        if self.threshold is not None and self.__dict__.get("target_type_") == "multiclass":
            raise ValueError(f"threshold={self.threshold!r} applies to binary and multilabel "
                             "targets, but y is multiclass: set threshold=None.")
        return X, y

    def _class_weight_vector(self, y):
        if y is None:
            return None
        return class_sample_weight(self.class_weight, np.asarray(y), getattr(self, "classes_", None))

    def _stratify_labels(self, y):
        y = np.asarray(y)
        return y if y.ndim == 1 else None

    @staticmethod
    def scorer(y_true: Any, y_pred: Any, **kwargs: Any) -> float:
        """Accuracy (override to score otherwise)."""
        return accuracy_score(y_true, y_pred, **kwargs)

    score = BaseWrapper.score

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None, **kwargs: Any) -> KerasClassifier:
        """Train for one epoch. ``classes`` lists every label, needed on the first call
        when a batch may not contain them all."""
        return self._fit(X, y, sample_weight, warm=True, one_epoch=True, classes=classes, **kwargs)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes)."""
        encoder = self._fitted_target_encoder()
        if hasattr(encoder, "predict_proba"):
            return encoder.predict_proba(self._outputs(X))
        return encoder.inverse_transform(self._outputs(X), return_proba=True)

    def predict(self, X: Any) -> np.ndarray:
        """Labels, in the form the classifier was trained on."""
        encoder = self._fitted_target_encoder()
        if isinstance(encoder, ClassificationEncoder):
            return encoder.target_.labels(self.predict_proba(X), self.threshold)
        return encoder.inverse_transform(self._outputs(X))

    @if_target_encoder_has("decision_function")
    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of the positive class (binary), or log-probabilities per class."""
        return self._fitted_target_encoder().decision_function(self._outputs(X))


class KerasRegressor(RegressorMixin, BaseWrapper):
    """A Keras model as a scikit-learn regressor, with one or several outputs.

    Parameters are those of :class:`BaseWrapper`. ``score`` is R².
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @property
    def target_encoder(self) -> Any:
        """Targets as float32 columns and back (:class:`skkeras.targets.RegressionEncoder`);
        override to customise."""
        return RegressionEncoder()

    def _default_loss(self, target_type, n_output_units):
        return "mean_squared_error"

    @staticmethod
    def scorer(y_true: Any, y_pred: Any, **kwargs: Any) -> float:
        """R² (override to score otherwise)."""
        return r2_score(y_true, y_pred, **kwargs)

    score = BaseWrapper.score

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values: shape (n_samples,) for a 1-D y, else (n_samples, n_outputs)."""
        return self._fitted_target_encoder().inverse_transform(self._outputs(X))

"""The scikit-learn estimators: :class:`KerasClassifier` and :class:`KerasRegressor`.

This module only orchestrates. Each step of a fit lives in its own module:
:mod:`~skkeras.inputs` validates X, :mod:`~skkeras.targets` encodes y,
:mod:`~skkeras.weights` merges weights, :mod:`~skkeras.building` makes the
compiled model, :mod:`~skkeras.training` trains it and
:mod:`~skkeras.prediction` runs it forward.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_regressor
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_array, check_is_fitted

from . import building, packing, reuse
from .engine import blockers as fast_path_blockers
from .engine import exclusive
from .engine import prepare as prepare_for_training
from .inputs import (
    InputColumns,
    n_rows,
    split_inputs,
    take_rows,
    validate_features,
    validate_features_and_target,
)
from .persistence import PersistenceMixin
from .prediction import model_outputs, plain_model_inputs
from .routing import (
    ROUTING_PREFIXES,
    accepts_var_keyword,
    route_params,
    routing_prefix,
    signature_parameters,
)
from .seeding import derive_seed, resolve_seed, scoped_seed
from .targets import ClassificationTarget, RegressionTarget, default_classification_loss
from .training import (
    TrainedState,
    TrainingJob,
    default_batch_size,
    fit_keys,
    lookup_trained_ahead,
    slots_shared_in_search,
)
from .weights import check_sample_weight, class_sample_weight, combine_weights

# Parameters that only steer training: a builder that does not ask for them
# builds the same model whatever their values.
_TRAINING_SETTINGS = (
    "epochs", "batch_size", "verbose", "callbacks", "validation_split", "validation_batch_size",
    "shuffle", "warm_start", "engine", "class_weight", "threshold",
)
_TRAINING_ROUTES = ("fit", "predict", "callbacks")

# Arguments of fit() that override the estimator parameter of the same name for one call.
_PER_CALL_OVERRIDES = (
    "epochs", "batch_size", "verbose", "shuffle", "validation_split", "validation_batch_size",
)


class BaseWrapper(PersistenceMixin, BaseEstimator):
    """Shared machinery of :class:`KerasClassifier` and :class:`KerasRegressor`.

    Parameters
    ----------
    model : callable, keras.Model or None, default=None
        How to make the Keras model. A callable returning a compiled or uncompiled
        model; it is called with the arguments its signature names, among
        ``meta`` (facts about the data: ``n_features_in_``, ``classes_``,
        ``n_outputs_expected_``...), ``compile_kwargs``, ``params`` and its own
        hyperparameters (set as ``model__name=`` or plainly as ``name=``). A
        ``keras.Model`` instance is cloned, with its compile configuration, on
        every fit. None uses the built-in MLP (:func:`skkeras.building.build_mlp`).
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
        squared error for regressors). Configure with ``loss__*``.
    metrics : list or None, default=None
        Keras metrics, reported in ``history_``. Configure with ``metrics__*``.
    batch_size : int or None, default=None
        Samples per gradient step; None means ``min(200, n_samples)``, as in
        scikit-learn's MLP.
    validation_batch_size : int or None, default=None
    verbose : int, default=0
        Keras's progress output; quiet by default, as cross-validation wants.
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
        Passes over the data per ``fit``.
    inputs : dict or None, default=None
        For models with several named inputs: ``{input_name: columns}`` splits
        the columns of a 2-D X (indices, or names for DataFrames) among them.
    engine : {"auto", "fast", "keras"}, default="auto"
        How to train. ``"fast"`` runs each epoch as one compiled program that is
        reused across fits of the same architecture (:mod:`skkeras.engine`);
        ``"keras"`` calls ``keras.Model.fit``; ``"auto"`` takes the fast path
        wherever it applies and ``Model.fit`` elsewhere (a custom ``train_step``,
        per-batch callbacks, stateful layers, ``fit__`` arguments). Both give the
        same numbers for the same seed.
    **kwargs
        Routed parameters (``model__*``, ``optimizer__*``, ``loss__*``,
        ``metrics__*``, ``callbacks__*``, ``fit__*``, ``predict__*``,
        ``compile__*``) and keyword arguments of the model builder.
    """

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

    def _extra_param_names(self) -> list[str]:
        """Routed and builder keyword parameters held beyond the signature's."""
        return sorted(self._extra_params)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn reads the signature on every get_params call (about 0.15 ms);
        # a search calls it thousands of times, and a class's signature never changes.
        return list(_constructor_parameter_names(cls))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update(self._extra_params)
        return params

    def set_params(self, **params: Any) -> BaseWrapper:
        """Set parameters, including routed ones (``optimizer__learning_rate``) and
        keyword arguments of the model builder that were never given before."""
        valid = self.get_params(deep=False)
        declared = set(self._get_param_names())
        for name, value in params.items():
            if name in declared:
                setattr(self, name, value)
                continue
            if name in valid or routing_prefix(name) or self._builder_accepts(name):
                self._extra_params[name] = value
                continue
            raise ValueError(
                f"Invalid parameter {name!r} for estimator {type(self).__name__}: it is not "
                "a parameter of the estimator, not routed with a prefix "
                f"({', '.join(p + '__' for p in ROUTING_PREFIXES)}) and not an argument "
                "of the model builder. Valid parameters: "
                f"{sorted(valid)}."
            )
        return self

    def _builder_accepts(self, name: str) -> bool:
        spec = self.model if self.model is not None else self.build_fn
        if spec is None:
            spec = building.build_mlp
        if isinstance(spec, keras.Model) or not callable(spec):
            return False
        return name in signature_parameters(spec) or accepts_var_keyword(spec)

    def _routed(self, destination: str) -> dict[str, Any]:
        return route_params(self.get_params(deep=False), destination)

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.input_tags.dict = True
        tags.non_deterministic = False
        return tags

    # -------------------------------------------------------------- fitting
    def _target_from_y(self, y: np.ndarray, classes: Any = None) -> Any:
        raise NotImplementedError

    def _class_weight_vector(self, y: np.ndarray) -> np.ndarray | None:
        return None

    def _stratify_labels(self, y: np.ndarray) -> np.ndarray | None:
        return None

    def _default_loss(self, target: Any, n_output_units: int | None) -> Any:
        raise NotImplementedError

    def _meta(self, X: Any, target: Any) -> dict[str, Any]:
        """Facts about the data, for builders that size the model from them."""
        if isinstance(X, Mapping):
            input_shapes = {name: tuple(a.shape[1:]) for name, a in X.items()}
            x_shape = {name: tuple(a.shape) for name, a in X.items()}
            x_dtype = {name: a.dtype for name, a in X.items()}
        else:
            x_shape, x_dtype = tuple(X.shape), X.dtype
            if self.inputs is None:
                input_shapes = {"features": tuple(X.shape[1:])}
            else:
                split = split_inputs(X[:1], self.inputs, getattr(self, "feature_names_in_", None))
                input_shapes = {name: tuple(a.shape[1:]) for name, a in split.items()}
        classes = getattr(target, "classes", None)
        return {
            "n_features_in_": getattr(self, "n_features_in_", None),
            "feature_names_in_": getattr(self, "feature_names_in_", None),
            "X_shape_": x_shape,
            "X_dtype_": x_dtype,
            "input_shapes_": input_shapes,
            # True when the model is fed a dict of named inputs (dict X, or inputs=)
            "named_inputs_": isinstance(X, Mapping) or self.inputs is not None,
            "target_type_": target.target_type,
            "classes_": classes,
            "n_classes_": None if classes is None else len(classes),
            "n_outputs_": target.n_outputs,
            "n_outputs_expected_": getattr(target, "n_outputs_expected", target.n_outputs),
        }

    def _compile_kwargs(self, target: Any, n_output_units: int | None) -> dict[str, Any]:
        loss = self.loss if self.loss is not None else self._default_loss(target, n_output_units)
        kwargs = {
            "optimizer": building.make_optimizer(
                "adam" if self.optimizer is None else self.optimizer, self._routed("optimizer")
            ),
            "loss": building.make_loss(loss, self._routed("loss")),
            "run_eagerly": self.run_eagerly,
        }
        metrics = building.make_metrics(self.metrics, self._routed("metrics"))
        if metrics is not None:
            kwargs["metrics"] = metrics
        kwargs.update(self._routed("compile"))
        return kwargs

    def _build_model(self, meta: dict[str, Any], sample_inputs: Any, target: Any, seed: int) -> keras.Model:
        """A new compiled model for this fit, built under the fit's seed."""
        spec = building.resolve_builder(self.model, self.build_fn)
        with scoped_seed(derive_seed(seed, "weights")):
            if isinstance(spec, keras.Model):
                model = building.clone_model_instance(spec)
            else:
                params = self.get_params(deep=False)
                extra = {
                    name: params[name] for name in self._extra_param_names()
                    if routing_prefix(name) is None
                }
                wrapper_params = {k: v for k, v in params.items() if k not in extra}
                provided = {
                    "meta": meta,
                    "compile_kwargs": self._compile_kwargs(target, meta["n_outputs_expected_"]),
                    "params": params,
                }
                arguments = building.builder_arguments(
                    spec,
                    routed=self._routed("model"),
                    extra=extra,
                    wrapper_params=wrapper_params,
                    wrapper_defaults=_signature_defaults(type(self)),
                    provided=provided,
                )
                model = building.call_builder(spec, arguments)
            width = building.output_width(model, sample_inputs)
            routed = [
                name for name in self._extra_param_names()
                if routing_prefix(name) in ("optimizer", "loss", "metrics", "compile")
            ]
            building.compile_model(model, self._compile_kwargs(target, width), routed)
        return model

    def _prepare_target(self, model: keras.Model, target: Any, sample_inputs: Any) -> None:
        """Hook: fix the target encoding once the model is known."""

    def _validation_rows(self, n: int, y: np.ndarray, fraction: float, seed: int):
        rows = np.arange(n)
        if not fraction:
            return rows, None
        if not 0 < fraction < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {fraction}.")
        kwargs = {"test_size": fraction, "random_state": derive_seed(seed, "validation")}
        try:
            return train_test_split(rows, stratify=self._stratify_labels(y), **kwargs)
        except ValueError:  # a class too small to stratify: split without it
            return train_test_split(rows, **kwargs)

    @contextlib.contextmanager
    def _keep_fitted_state_on_error(self) -> Iterator[None]:
        """If a fit fails or is interrupted, the previous fitted state stays as it was.

        A continuing fit (warm start, partial_fit) trains ``model_`` in place, so its
        variables, optimizer state included, are copied first and put back on failure.
        """
        saved = {name: value for name, value in vars(self).items() if name.endswith("_")}
        model = saved.get("model_")
        variables = list(model.variables) + list(model.optimizer.variables) if (
            model is not None and model.optimizer is not None
        ) else []
        values = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
        try:
            yield
        except BaseException:
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
            for name in [n for n in vars(self) if n.endswith("_")]:
                delattr(self, name)
            for name, value in saved.items():
                setattr(self, name, value)
            raise

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        *,
        warm: bool,
        classes: Any = None,
        epochs: int | None = None,
        train_model: bool = True,
        **call_kwargs: Any,
    ) -> BaseWrapper:
        with exclusive(), self._keep_fitted_state_on_error():
            plan = self._plan_fit(
                X, y, sample_weight, warm=warm, classes=classes, epochs=epochs,
                train_model=train_model, call_kwargs=call_kwargs,
            )
            if plan.workbench is not None:
                self._commit_fit(plan, *self._train_on_workbench(plan))
            elif plan.trained_ahead is not None:
                self._commit_fit(plan, plan.trained_ahead.apply_to(plan.model))
            else:
                self._commit_fit(plan, plan.job.run() if plan.job is not None else {})
        return self

    def _train_on_workbench(self, plan: _FitPlan) -> tuple[dict[str, list[float]], reuse.DeferredModel]:
        """Train the recipe's reused model (or take the result a search trained ahead)
        and keep the trained values for a model built on demand."""
        if plan.trained_ahead is not None:
            state = plan.trained_ahead
        else:
            state = TrainedState.of(plan.model, plan.job.run())
        job = plan.job
        sample = (take_rows(job.x, slice(0, 1)), job.y[:1])
        return dict(state.history), reuse.DeferredModel(plan.build, state, plan.workbench, sample)

    def _plan_fit(
        self, X, y, sample_weight, *, warm=False, classes=None, epochs=None,
        train_model=True, call_kwargs=None, build=True,
    ) -> _FitPlan:
        """Validate the data, build the model and describe its training, without training.

        Fitted attributes that validation records (``n_features_in_``...) are set;
        the rest wait for :meth:`_commit_fit`. With ``build=False`` the plan stops
        before building the model: a search planning its fits only needs their keys.
        """
        call_kwargs = dict(call_kwargs or {})
        continuing = warm and hasattr(self, "model_")
        overrides = {k: call_kwargs.pop(k) for k in _PER_CALL_OVERRIDES if k in call_kwargs}
        validation_data = call_kwargs.pop("validation_data", None)
        settings = {k: overrides.get(k, getattr(self, k)) for k in _PER_CALL_OVERRIDES}
        epochs = settings["epochs"] if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}.")

        if continuing:
            X = validate_features(self, X, reset=False)
            y = check_array(
                y, ensure_2d=False, dtype="numeric" if is_regressor(self) else None, input_name="y"
            )
            if len(y) != n_rows(X):
                raise ValueError(f"X has {n_rows(X)} rows but y has {len(y)}: they must match.")
            target = self.target_
        else:
            X, y = validate_features_and_target(self, X, y, y_numeric=is_regressor(self))
            target = self._target_from_y(y, classes)
        n = n_rows(X)
        weights = combine_weights(check_sample_weight(sample_weight, n), self._class_weight_vector(y))

        seed = self.seed_ if continuing else resolve_seed(self.random_state)
        keys = None
        if not continuing and train_model and not call_kwargs and validation_data is None:
            keys = fit_keys(self, X, y, weights, epochs)
        if not build:
            return _FitPlan(continuing, seed, target, None, None, None, keys)
        trained = lookup_trained_ahead(keys[0]) if keys is not None else None
        x = split_inputs(X, self.inputs, getattr(self, "feature_names_in_", None))
        meta = build_model = bench = None
        if continuing:
            model = self.model_
        else:
            meta = self._meta(X, target)
            sample = take_rows(x, slice(0, 1))
            # Frozen parameters: a model built on demand later must be this fit's.
            frozen = type(self)(**self.get_params(deep=False))
            build_from = functools.partial(frozen._build_model, sample_inputs=sample, target=target, seed=seed)
            build_model = functools.partial(build_from, meta)
            if train_model and epochs > 0 and self._may_reuse_model(settings, call_kwargs):
                bench = reuse.workbench(self._recipe_key(meta, seed), meta, build_from)
            model = bench.model if bench is not None else build_model()
            self._prepare_target(model, target, sample)
        y_encoded = target.encode(y)

        job = None
        if train_model and epochs > 0:
            train_rows, val_rows = self._validation_rows(n, y, settings["validation_split"], seed)
            if val_rows is not None:
                validation_data = _with_weights(
                    take_rows(x, val_rows), y_encoded[val_rows],
                    None if weights is None else weights[val_rows],
                )
            elif validation_data is not None:
                validation_data = self._encode_validation_data(validation_data, target)
            batch_size = settings["batch_size"] or default_batch_size(len(train_rows))
            job = TrainingJob(
                model=model,
                x=take_rows(x, train_rows),
                y=y_encoded[train_rows],
                sample_weight=None if weights is None else weights[train_rows],
                epochs=int(epochs),
                batch_size=int(batch_size),
                first_epoch=len(next(iter(self.history_.values()), [])) if continuing else 0,
                seed=derive_seed(seed, "shuffle"),
                shuffle=settings["shuffle"],
                callbacks=building.make_callbacks(self.callbacks, self._routed("callbacks")),
                validation_data=validation_data,
                validation_batch_size=settings["validation_batch_size"],
                verbose=settings["verbose"],
                fit_kwargs={**self._routed("fit"), **call_kwargs},
                engine=self.engine,
                jit_compile=self._routed("compile").get("jit_compile"),
            )
        if bench is not None:
            job, bench = self._job_on_workbench(job, bench, build_model, target)
            model = job.model
        if job is not None and trained is None and not continuing:
            # The refit of a search runs on the program its runs shared.
            job = packing.with_shared_slots(job, slots_shared_in_search())
        if trained is not None and bench is None:
            prepare_for_training(model, job.x, job.y, job.batch_size)
        return _FitPlan(continuing, seed, target, meta, model, job, keys, trained, bench, build_model)

    def _may_reuse_model(self, settings: Mapping[str, Any], call_kwargs: Mapping[str, Any]) -> bool:
        """Whether this fit may train a reused model: nothing outside the fast path
        sees the model (no callbacks, no ``fit__`` arguments), and it can be rebuilt."""
        return (
            self.engine != "keras" and not self.callbacks and not self._routed("callbacks")
            and not self._routed("fit") and not call_kwargs and not settings["verbose"]
        )

    def _recipe_key(self, meta: dict[str, Any], seed: int):
        """What the built model depends on besides the facts in ``meta`` that the build
        reads, for :func:`skkeras.reuse.workbench`: the target's facts always, since
        the build also sees the target itself (the default loss, the output width)."""
        if not isinstance(self.random_state, int | np.integer) or isinstance(self.random_state, bool):
            return None
        spec = building.resolve_builder(self.model, self.build_fn)
        if isinstance(spec, keras.Model) or not callable(spec):
            return None
        params = self.get_params(deep=False)
        seen = signature_parameters(spec)
        if "params" not in seen and not accepts_var_keyword(spec):
            # Training settings the builder cannot see do not change the model.
            for name in [*_TRAINING_SETTINGS, *(n for n in params if routing_prefix(n) in _TRAINING_ROUTES)]:
                if name not in seen:
                    params.pop(name, None)
        target_facts = {name: meta[name] for name in _TARGET_FACTS}
        return reuse.recipe_key((type(self), spec, params, target_facts, seed))

    def _job_on_workbench(self, job, bench, build_model, target):
        """The job, set to start the reused model from its initial values; or, if
        the fast path cannot train that model, the job on a model of its own."""
        model = bench.model
        if fast_path_blockers(model, job.callbacks, job.fit_kwargs,
                              n_samples=n_rows(job.x), batch_size=job.batch_size):
            model = build_model()
            self._prepare_target(model, target, take_rows(job.x, slice(0, 1)))
            return replace(job, model=model), None
        if bench.initial is None:
            prepare_for_training(model, job.x, job.y, job.batch_size)
            bench.initial = TrainedState.of(model, {})
        return replace(job, initial=bench.initial), bench

    def _commit_fit(
        self, plan: _FitPlan, history: Mapping[str, list[float]],
        deferred: reuse.DeferredModel | None = None,
    ) -> None:
        """Record the fitted attributes once training has succeeded."""
        if not plan.continuing:
            self.seed_ = plan.seed
            self.target_ = plan.target
            self.X_shape_ = plan.meta["X_shape_"]
            self.X_dtype_ = plan.meta["X_dtype_"]
            self.target_type_ = plan.target.target_type
            self.n_outputs_ = plan.target.n_outputs
            self._set_target_attributes(plan.target)
            self.history_ = {}
        for name, values in history.items():
            self.history_.setdefault(name, []).extend(values)
        if deferred is not None:
            self.__dict__.pop("model_", None)
            self._deferred_model_ = deferred
        else:
            self.__dict__.pop("_deferred_model_", None)
            self.model_ = plan.model

    def _set_target_attributes(self, target: Any) -> None:
        """Hook: public fitted attributes that describe the target."""

    def _encode_validation_data(self, validation_data: Any, target: Any) -> tuple[Any, ...]:
        if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val).")
        X_val, y_val, *rest = validation_data
        X_val = validate_features(self, X_val, reset=False)
        x_val = split_inputs(X_val, self.inputs, getattr(self, "feature_names_in_", None))
        weights = check_sample_weight(rest[0], n_rows(X_val)) if rest else None
        return _with_weights(x_val, target.encode(np.asarray(y_val)), weights)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> BaseWrapper:
        """Build (or, with ``warm_start``, reuse) the model and train it on X, y.

        Parameters
        ----------
        X : array-like, DataFrame or dict of arrays
        y : array-like
        sample_weight : array-like of shape (n_samples,), default=None
            Multiplied by the class weights; zero excludes a sample.
        **kwargs
            ``validation_data=(X_val, y_val)``; per-call values of ``epochs``,
            ``batch_size``, ``verbose``, ``shuffle``, ``validation_split``,
            ``validation_batch_size``; anything else goes to ``keras.Model.fit``.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, warm=self.warm_start, **kwargs)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> BaseWrapper:
        """Train for one epoch, continuing from the current state (building it on first call)."""
        return self._fit(X, y, sample_weight, warm=True, epochs=1, **kwargs)

    def initialize(self, X: Any, y: Any) -> BaseWrapper:
        """Build and compile the model for data like X, y without training it."""
        return self._fit(X, y, None, warm=False, train_model=False)

    # ------------------------------------------------------------ predicting
    def _outputs(self, X: Any) -> np.ndarray:
        x = plain_model_inputs(self, X)  # a plain float array: checked in microseconds
        if x is None:
            check_is_fitted(self)
            X = validate_features(self, X, reset=False)
            x = split_inputs(X, self.inputs, getattr(self, "feature_names_in_", None))
        predict_kwargs = self._routed("predict")
        deferred = self.__dict__.get("_deferred_model_")
        # No lock: the forward passes read snapshots of the weights (see skkeras.prediction).
        if deferred is not None and set(predict_kwargs) <= {"batch_size"}:
            # The reused model's architecture, with this fit's trained values.
            return model_outputs(deferred.workbench.model, x, predict_kwargs, values=deferred.state)
        return model_outputs(self.model_, x, predict_kwargs)


@dataclass
class _FitPlan:
    """What a fit prepared before training: the model, its target and its job."""

    continuing: bool
    seed: int
    target: Any
    meta: dict[str, Any] | None
    model: keras.Model | None
    job: TrainingJob | None
    #: (this fit's key, the key of its run regardless of epochs), see training.fit_keys
    keys: tuple[str, str] | None = None
    #: The result a search trained ahead for this fit, if any.
    trained_ahead: TrainedState | None = None
    #: The reused model this fit trains (see skkeras.reuse), if any.
    workbench: reuse.Workbench | None = None
    #: Builds this fit's own model (on demand, when trained on a workbench).
    build: Callable[[], keras.Model] | None = None


def _with_weights(x: Any, y: np.ndarray, weights: np.ndarray | None) -> tuple[Any, ...]:
    return (x, y) if weights is None else (x, y, weights)


@functools.cache
def _constructor_parameter_names(cls: type) -> tuple[str, ...]:
    return tuple(BaseEstimator._get_param_names.__func__(cls))


#: The facts in ``meta`` that describe the target, which every build depends on.
_TARGET_FACTS = ("target_type_", "classes_", "n_classes_", "n_outputs_", "n_outputs_expected_")


def _signature_defaults(cls: type) -> dict[str, Any]:
    return {
        name: p.default for name, p in signature_parameters(cls.__init__).items()
        if p.default is not p.empty
    }


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
    n_features_in_, feature_names_in_
    """

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

    def _target_from_y(self, y, classes=None):
        return ClassificationTarget.from_y(y, classes)

    def _default_loss(self, target, n_output_units):
        return default_classification_loss(target.target_type, n_output_units)

    def _prepare_target(self, model, target, sample_inputs):
        width = building.output_width(model, sample_inputs)
        target.encoding = target.choose_encoding(model.loss, width)

    def _class_weight_vector(self, y):
        return class_sample_weight(self.class_weight, np.asarray(y))

    def _stratify_labels(self, y):
        y = np.asarray(y)
        return y if y.ndim == 1 else None

    def _set_target_attributes(self, target: ClassificationTarget) -> None:
        self.classes_ = target.classes
        self.n_classes_ = target.n_classes
        self.n_outputs_expected_ = target.n_outputs_expected

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None, **kwargs: Any) -> KerasClassifier:
        """Train for one epoch. ``classes`` lists every label, needed on the first call
        when a batch may not contain them all."""
        return self._fit(X, y, sample_weight, warm=True, epochs=1, classes=classes, **kwargs)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes)."""
        outputs = self._outputs(X)
        return self.target_.probabilities(outputs)

    def predict(self, X: Any) -> np.ndarray:
        """Labels, in the form the classifier was trained on."""
        probabilities = self.predict_proba(X)
        return self.target_.labels(probabilities, self.threshold)

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of the positive class (binary), or log-probabilities per class."""
        probabilities = self.predict_proba(X)
        return self.target_.decision(probabilities)


class KerasRegressor(RegressorMixin, BaseWrapper):
    """A Keras model as a scikit-learn regressor, with one or several outputs.

    Parameters are those of :class:`BaseWrapper`. ``score`` is R².
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _target_from_y(self, y, classes=None):
        return RegressionTarget.from_y(y)

    def _default_loss(self, target, n_output_units):
        return "mean_squared_error"

    def _prepare_target(self, model, target, sample_inputs):
        width = building.output_width(model, sample_inputs)
        if width != target.n_outputs:
            raise ValueError(
                f"The model outputs {width} values per sample but y has {target.n_outputs} "
                f"target(s): the output layer needs {target.n_outputs} unit(s)."
            )

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values: shape (n_samples,) for a 1-D y, else (n_samples, n_outputs)."""
        outputs = self._outputs(X)
        return self.target_.decode(outputs)

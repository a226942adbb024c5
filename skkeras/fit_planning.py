"""Planning a fit: steps 1-3 (validate, encoders, build) and the training job, without training.

:class:`FitPlanningMixin` gives :class:`~skkeras.wrappers.BaseWrapper` scikeras's
``_initialize`` hook, ``_prepare_fit`` (what ``fit``, ``partial_fit`` and ``initialize``
run before training) and the two public steps :mod:`skkeras.model_selection` plans
searches with, :meth:`~FitPlanningMixin.fit_key` and :meth:`~FitPlanningMixin.training_job`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from . import packing
from .building import same_value
from .engine import prepare as prepare_for_training
from .fitting import (
    TRAINING_ROUTES,
    TRAINING_SETTINGS,
    PreparedFit,
    cast_targets,
    job_on_workbench,
    make_training_job,
    without_loss,
)
from .inputs import n_rows
from .job import TrainingJob
from .routing import routing_prefix
from .seeding import resolve_seed
from .settings import FitSettings
from .training import (
    default_batch_size,
    lookup_trained_ahead,
    search_active,
    slots_shared_in_search,
)


class FitPlanningMixin:
    """Steps 1-3 of a fit and its training job (see :mod:`skkeras.wrappers`)."""

    def _default_batch_size(self, n_samples: int) -> int:
        """The batch size when ``batch_size=None``: scikit-learn's MLP's ``min(200, n)``."""
        return default_batch_size(n_samples)

    def _fit_seed(self) -> int:
        """The seed of a fresh fit, from ``random_state`` by scikit-learn's rules: an int
        is used as it is, a RandomState (or None) is drawn from, so successive fits differ."""
        return resolve_seed(self.random_state)

    def _set_classes_hint(self, classes: Any) -> None:
        """Hook: before the encoders are fitted (classifiers note partial_fit's classes)."""

    def _initialize(self, X: Any, y: Any = None) -> tuple[Any, Any]:
        """Steps 1-3 for a fresh fit (scikeras's hook): validate, fit the encoders,
        build and compile ``model_``. Returns the validated (X, y). A subclass may
        override it (``X, y = super()._initialize(X, y)``, then its own work)."""
        X, y = self._validate_data(X, y, reset=True)
        self._fit_encoders(X, y)
        self.model_ = self._build_keras_model(use_instance=getattr(self, "_initializing", False))
        self._match_target(self.model_)
        return X, y

    def _prepare_fit(
        self, X: Any, y: Any, sample_weight: Any, *, warm: bool = False, classes: Any = None,
        epochs: int | None = None, train_model: bool = True,
        call_kwargs: Mapping[str, Any] | None = None, build: bool = True,
    ) -> PreparedFit:
        """Steps 1-3 and the training job, without training. With ``build=False`` it
        stops before building, with the fit's keys (all a search's planning needs)."""
        settings = FitSettings.resolve(self, call_kwargs or {}, epochs)
        continuing = warm and self.initialized_
        model = None
        if continuing:
            X, y = self._validate_data(X, y, reset=False)
            self._warn_if_model_params_changed()
            model = self.model_
        else:
            self.seed_ = self._fit_seed()
            self._set_classes_hint(classes)
            if type(self)._initialize is not FitPlanningMixin._initialize:
                self._initializing = not train_model
                X, y = self._initialize(X, y)  # a subclass's own: it builds model_
                model = self.model_
            else:
                X, y = self._validate_data(X, y, reset=True)
                self._fit_encoders(X, y)
        seed, n = self.seed_, n_rows(X)
        weights = self._sample_weights(y, sample_weight, n)
        keys = None
        if train_model and not continuing and (not build or search_active()):
            keys = self._fit_keys(X, y, weights, settings)
        if not build:
            return PreparedFit(continuing, seed, settings, keys=keys)
        x = self._training_inputs(self.feature_encoder_.transform(X), model)
        meta = None if continuing else self._get_metadata()
        fit = PreparedFit(continuing, seed, settings, meta, model, keys=keys)
        fit.trained_ahead = lookup_trained_ahead(keys[0]) if keys is not None else None
        if fit.model is None:
            self._choose_model(fit, train_model)
        y_encoded = None if y is None else cast_targets(self.target_encoder_.transform(y))
        if train_model:
            if without_loss(fit.model):
                raise ValueError(
                    "No loss to train with: provide a loss (loss=...) or compile the model "
                    "with one in its builder."
                )
            fit.job = make_training_job(self, fit, x, y, y_encoded, weights)
        if fit.workbench is not None:
            fit.job, fit.workbench = job_on_workbench(self, fit.job, fit.workbench, fit.build)
            fit.model = fit.job.model
        if fit.job is not None and fit.trained_ahead is None and not continuing:
            # The refit of a search runs on the program its runs shared.
            fit.job = packing.with_shared_slots(fit.job, slots_shared_in_search())
        if fit.trained_ahead is not None and fit.workbench is None:
            prepare_for_training(fit.model, fit.job.x, fit.job.y, fit.job.batch_size)
        return fit

    def _model_param_values(self) -> dict[str, Any]:
        """The parameters that shape the model and its compilation (all but the training
        settings), as they are: a continuing fit keeps the model they built."""
        return {
            name: value for name, value in self.get_params(deep=False).items()
            if name not in TRAINING_SETTINGS and name != "random_state"
            and routing_prefix(name) not in TRAINING_ROUTES
        }

    def _warn_if_model_params_changed(self) -> None:
        """A warm start or ``partial_fit`` trains the model it has: say which parameters
        changed since it was built and so do nothing (rather than ignore them silently)."""
        built = self.__dict__.get("_model_params")
        if built is None:
            return
        now = self._model_param_values()
        changed = sorted(name for name in built.keys() | now.keys()
                         if not same_value(built.get(name), now.get(name)))
        if changed:
            warnings.warn(
                f"{type(self).__name__} continues training the model it built before (warm_start "
                f"or partial_fit): {changed} changed since then and have no effect on it. Set "
                "warm_start=False, or fit a clone, to build a new model with them.",
                UserWarning, stacklevel=4,
            )

    def fit_key(self, X: Any, y: Any, sample_weight: Any = None) -> tuple[str, str] | None:
        """The keys that identify a fit of this estimator on X, y (see
        :func:`skkeras.training.fit_keys`), without building anything; None when the
        fit cannot be identified. :mod:`skkeras.model_selection` plans searches with it."""
        return self._prepare_fit(X, y, sample_weight, build=False).keys

    def training_job(self, X: Any, y: Any, sample_weight: Any = None) -> TrainingJob | None:
        """Steps 1-3 of a fit on X, y, returning its :class:`~skkeras.job.TrainingJob`
        instead of running it: :mod:`skkeras.model_selection` trains many together."""
        return self._prepare_fit(X, y, sample_weight).job

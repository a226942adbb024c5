"""The training steps of a fit: choose the model to train (its own, or one reused
across fits), train it, check it did not diverge, and commit the fitted state.

:class:`TrainingStepsMixin` gives :class:`~skkeras.wrappers.BaseWrapper` these steps
as methods a subclass may override; :mod:`skkeras.training` dispatches the
training itself (fast engine or ``keras.Model.fit``).
"""

from __future__ import annotations

from typing import Any

from . import reuse
from .fitting import FitResult, PreparedFit, recipe_key
from .inputs import take_rows
from .job import TrainedState
from .settings import FitSettings
from .targets import ClassificationEncoder, ClassificationTarget, RegressionEncoder
from .training import check_divergence, choose_path, describe_path, fit_keys


class TrainingStepsMixin:
    """Steps 4 and 5 of a fit (see :mod:`skkeras.wrappers`)."""

    def _fit_keys(self, X: Any, y: Any, weights: Any, settings: FitSettings) -> tuple[str, str] | None:
        if settings.fit_kwargs or settings.validation_data is not None or settings.extra_callbacks:
            return None
        return fit_keys(self, X, y, weights, settings.epochs)

    def _choose_model(self, fit: PreparedFit, train_model: bool) -> None:
        """The model a fresh fit trains: its own, or a reused one (skkeras.reuse)."""
        sample = self._inputs_["sample"]
        fit.build = lambda: self._build_keras_model(fit.meta)
        if train_model and self._may_reuse_model(fit.settings):
            key = recipe_key(self, fit.meta, fit.seed)
            if key is not None:
                frozen = type(self)(**self.get_params(deep=False))  # later set_params cannot reach it
                build_from = lambda meta: frozen._build_keras_model(  # noqa: E731
                    meta, seed=fit.seed, sample_inputs=sample)
                fit.build = lambda: build_from(fit.meta)
                fit.workbench = reuse.workbench(key, fit.meta, build_from)
        fit.model = fit.workbench.model if fit.workbench is not None else \
            self._build_keras_model(fit.meta, use_instance=not train_model)
        self._match_target(fit.model)

    def _may_reuse_model(self, settings: FitSettings) -> bool:
        """Whether this fit may train a reused model: nothing outside the fast path
        sees the model (no callbacks, no ``fit__`` arguments), and it can be rebuilt."""
        return (
            self.engine != "keras" and not self.callbacks and not self._routed("callbacks")
            and not settings.fit_kwargs and not settings.extra_callbacks and not settings.verbose
        )

    def _train(self, fit: PreparedFit) -> FitResult:
        """Step 4: train (or take what a search trained ahead), then check that the
        training did not diverge."""
        result = FitResult(fit.model, fit.seed, continuing=fit.continuing)
        job = fit.job
        if job is None:
            return result
        if fit.trained_ahead is not None:
            state, result.fit_path = fit.trained_ahead, "fast (trained ahead by the search)"
        else:
            result.fit_path = choose_path(job)
            if fit.settings.verbose:
                print(f"[skkeras] {type(self).__name__} trains on "
                      f"{describe_path(result.fit_path)}.")
            state = None
            history = job.run()
        if fit.workbench is not None:
            state = state or TrainedState.of(fit.model, history)
            sample = (take_rows(job.x, slice(0, 1)), take_rows(job.y, slice(0, 1)))
            result.deferred = reuse.DeferredModel(fit.build, state, fit.workbench, sample)
            history, variables = dict(state.history), state.trainable
        else:
            history = state.apply_to(fit.model) if state is not None else history
            variables = fit.model.trainable_variables
        check_divergence(history, variables, first_epoch=job.first_epoch)
        result.history = history
        return result

    def _commit(self, result: FitResult) -> None:
        """Step 5: record the fitted state, once training succeeded. ``from_model``
        and loading use it too (the facts about the data go in ``result.attributes``)."""
        for name, value in result.attributes.items():
            setattr(self, name, value)
        self.seed_ = result.seed
        if not result.continuing:
            self.history_ = {}
            self._model_params = self._model_param_values()  # what a warm start compares
        for name, values in result.history.items():
            self.history_.setdefault(name, []).extend(values)
        if result.fit_path is not None:
            self.fit_path_ = result.fit_path
        if result.deferred is not None:
            self.__dict__.pop("model_", None)
            self._deferred_model_ = result.deferred
        elif result.model is not None:
            self.__dict__.pop("_deferred_model_", None)
            self.model_ = result.model
        self.__dict__.pop("_initializing", None)

    def _set_target_attributes(self, target: Any) -> None:
        """The target encoder and its facts for a known target (``from_model``, loading)."""
        encoder = (ClassificationEncoder if isinstance(target, ClassificationTarget)
                   else RegressionEncoder).from_target(target)
        self.target_, self.target_encoder_ = target, encoder
        self.feature_encoder_ = self.feature_encoder
        for name, value in encoder.get_metadata().items():
            setattr(self, name, value)

"""Searches and cross-validation that train many Keras models at once, with the same results.

:class:`GridSearchCV`, :class:`RandomizedSearchCV` and :func:`cross_validate` are
scikit-learn's, with one step added. Before scikit-learn fits the (candidate, fold)
pairs one by one, skkeras plans those fits, trains them ahead together, and
scikit-learn's own fitting then finds each result ready instead of training it:
everything else (``cv_results_``, refit, scoring, ``error_score``, ...) is
scikit-learn's code, unchanged.

What is shared:

- Epoch paths: candidates that differ only in ``epochs`` run once, to the largest
  value, with the state snapshotted at the others (skkeras's seeded epoch order
  makes a short fit the exact prefix of a long one).
- Packing (JAX backend): fits with one architecture, input width and compile
  configuration (different folds, learning rates, class or sample weights, and
  batch sizes when the model has no random layers) train as one vectorised
  program (:mod:`skkeras.packing`), at most ``max_pack`` models at a time.
- NumPy stacks: a search of small jobs (:data:`SEARCH_WORK_LIMIT`) trains its runs in
  NumPy, and runs with one architecture, optimizer configuration, batch size and epoch
  count (the folds of a candidate, and on JAX the refits) step together on a leading
  run axis (:mod:`skkeras._numpy_runs`), each with the numbers it gets alone.
- Pipelines: the steps before the Keras estimator are fitted per fold as usual;
  only the Keras step is trained ahead. A ``TransformedTargetRegressor`` (with a
  ``transformer``) around it is looked through: its transformer is fitted per fold.

What falls back to ordinary fitting, per fit, without failing: fits the fast path
cannot train (custom train steps, per-batch callbacks, stateful layers...), fits
with callbacks or validation data (an EarlyStopping run is not a prefix of a
longer one), estimators that are not skkeras's, ``n_jobs`` other than 1 (results
trained ahead live in this process), and any fit whose preparation raises
(scikit-learn then reports the error as usual). ``verbose`` says what was shared.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn import model_selection as sk
from sklearn.base import clone, is_classifier
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples, check_array

from . import _numpy_train, engine, packing
from .job import TrainedState, TrainingJob
from .training import trained_ahead
from .wrappers import BaseWrapper

#: Default limit on models trained in one pack (memory grows with it).
MAX_PACK = 64


def _split_estimator(estimator: Any) -> tuple[Any, BaseWrapper | None, str]:
    """(preprocessing steps or None, the skkeras estimator or None, its fit-param prefix)."""
    if isinstance(estimator, BaseWrapper):
        return None, estimator, ""
    if isinstance(estimator, Pipeline) and isinstance(estimator.steps[-1][1], BaseWrapper):
        return estimator[:-1], estimator.steps[-1][1], estimator.steps[-1][0] + "__"
    return None, None, ""


def _transformed_target(estimator: Any, y: Any) -> tuple[Any, Any]:
    """(the regressor, y as it receives it) for a TransformedTargetRegressor with a
    ``transformer`` (fitted on y, as its own fit does); else (estimator, y)."""
    if not isinstance(estimator, TransformedTargetRegressor) or estimator.transformer is None:
        return estimator, y
    y = check_array(y, input_name="y", ensure_2d=False, dtype="numeric", allow_nd=True)
    y_2d = y.reshape(-1, 1) if y.ndim == 1 else y
    y_trans = clone(estimator.transformer).fit(y_2d).transform(y_2d)
    if y_trans.ndim == 2 and y_trans.shape[1] == 1:
        y_trans = y_trans.squeeze(axis=1)
    return estimator.regressor, y_trans


def _plan_fit(estimator, params, X, y, train, fit_params):
    """The skkeras step of one (candidate, split) fit, its training data and its keys,
    or None if the fit cannot be trained ahead. A TransformedTargetRegressor around
    the skkeras step (or its Pipeline) is looked through when it has no fit params."""
    estimator = clone(estimator).set_params(**params)
    X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
    if isinstance(estimator, TransformedTargetRegressor):
        if fit_params:
            return None
        estimator, y_train = _transformed_target(estimator, y_train)
    preprocessing, net, prefix = _split_estimator(estimator)
    if net is None or set(fit_params) - {prefix + "sample_weight"}:
        return None
    weights = fit_params.get(prefix + "sample_weight")
    if weights is not None:
        weights = _safe_indexing(weights, train)
    if preprocessing is not None:
        X_train = preprocessing.fit_transform(X_train, y_train)
    keys = net.fit_key(X_train, y_train, weights)
    if keys is None:
        return None
    return net, (X_train, y_train, weights), keys


class _Plan:
    """The fits of a search, grouped into runs (fits that differ only in epochs) and
    runs into packs (runs that can train as one program)."""

    def __init__(self) -> None:
        # run key -> (estimator, its training data, {epochs: key of the fit that stops there})
        self.runs: dict[str, tuple[BaseWrapper, tuple[Any, ...], dict[int, str]]] = {}
        self.left_alone = 0

    def add(self, planned) -> None:
        if planned is None:
            self.left_alone += 1
            return
        net, data, (fit_key, run_key) = planned
        _, _, stops = self.runs.setdefault(run_key, (net, data, {}))
        stops[int(net.epochs)] = fit_key

    def _jobs(self) -> list[tuple[TrainingJob, dict[int, str]]]:
        jobs = []
        for net, data, stops in self.runs.values():
            try:
                job = net.training_job(*data)
            except Exception:  # the fit itself will raise it, where scikit-learn expects
                job = None
            if job is None or not packing.epoch_path_safe(job):
                self.left_alone += len(stops)
                continue
            jobs.append((job, stops))
        return jobs

    def train(
        self, max_pack: int, verbose: int, shared_slots: dict[str, tuple[int, int]] | None = None
    ) -> dict[str, TrainedState]:
        start = time.perf_counter()
        groups: dict[str, list[tuple[TrainingJob, dict[int, str]]]] = defaultdict(list)
        alone = []
        jobs = self._jobs()
        results: dict[str, TrainedState] = {}
        in_numpy = _numpy_runs(jobs)
        if in_numpy:
            trained = _numpy_train.train_numpy_runs([job for job, _ in in_numpy],
                                                    [stops for _, stops in in_numpy])
            for (_, stops), states in zip(in_numpy, trained, strict=True):
                results.update({stops[e]: state for e, state in states.items()})
            jobs = []
        for job, stops in jobs:
            # (pack keys read each compile configuration: a fresh process's first costs 0.2 s)
            key = packing.pack_key(job) if packing.packable(job) else None
            (groups[key] if key is not None else alone).append((job, stops))
        packs = 0
        for members in groups.values():
            packs += 1
            snapshots = packing.train_pack(
                [job for job, _ in members], [stops for _, stops in members], max_pack
            )
            for (_, stops), states in zip(members, snapshots, strict=True):
                results.update({stops[e]: state for e, state in states.items()})
        shared = packing.share_programs([job for job, _ in alone], record=shared_slots)
        for job, (_, stops) in zip(shared, alone, strict=True):
            states = packing.train_epoch_path(job, stops)
            results.update({stops[e]: state for e, state in states.items()})
        if verbose:
            where = f"{len(in_numpy)} runs in NumPy, " if in_numpy else ""
            print(
                f"[skkeras] trained {len(results)} fits ahead in "
                f"{time.perf_counter() - start:.1f}s: {where}{len(jobs)} runs (epoch paths), "
                f"{packs} packs, {len(alone)} runs alone; {self.left_alone} fits left to "
                "ordinary fitting."
            )
        return results


#: A search whose runs are all small jobs (:func:`skkeras._numpy_train.use_numpy`) and
#: whose total work (steps x (weights + batch rows x width)) stays below this trains
#: its runs in NumPy: about 1.5 s of NumPy on 2 cores, against 2-5 s of compiling the
#: packs' programs in a fresh process. Decided from the jobs alone, never from what
#: is compiled already.
SEARCH_WORK_LIMIT = 10_000_000


def _numpy_runs(
    jobs: Sequence[tuple[TrainingJob, dict[int, str]]],
) -> list[tuple[TrainingJob, dict[int, str]]]:
    """The runs, if the search trains them all in NumPy; else none."""
    runs = [(replace(job, epochs=max(stops)), stops) for job, stops in jobs]
    if not runs or any(job.engine != "auto" or not _numpy_train.use_numpy(job)[0] for job, _ in runs):
        return []
    if sum(_numpy_train.work(job) for job, _ in runs) >= SEARCH_WORK_LIMIT:
        return []
    return jobs


def train_ahead(
    estimator: Any,
    candidates: Sequence[Mapping[str, Any]],
    X: Any,
    y: Any,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    fit_params: Mapping[str, Any],
    *,
    max_pack: int = MAX_PACK,
    verbose: int = 0,
    shared_slots: dict[str, tuple[int, int]] | None = None,
) -> dict[str, TrainedState]:
    """Train the Keras step of every (candidate, split) fit together, where possible.

    Returns results by fit key, for :func:`skkeras.training.trained_ahead`;
    ``shared_slots`` receives the batch plans that runs shared, by program group.
    A fit that cannot be planned is left out: fitting it normally will train it,
    or raise its error where scikit-learn expects it.
    """
    inner = estimator.regressor if isinstance(estimator, TransformedTargetRegressor) else estimator
    if _split_estimator(inner)[1] is None:
        return {}
    plan = _Plan()
    for params in candidates:
        for train, _ in splits:
            try:
                planned = _plan_fit(estimator, params, X, y, train, fit_params)
            except Exception:  # the fit itself will raise it, where scikit-learn expects
                planned = None
            plan.add(planned)
    with engine.exclusive():
        return plan.train(max_pack, verbose, shared_slots)


class _TrainAheadMixin:
    """Adds training ahead to a scikit-learn search (see the module docstring)."""

    def fit(self, X: Any, y: Any = None, **params: Any):
        # Filled when the candidates are known; alive through the refit, which
        # scikit-learn runs after the search.
        self._trained_ahead = {}
        self._shared_slots = {}
        self._train_ahead_inputs = (X, y, params)
        try:
            with trained_ahead(self._trained_ahead, self._shared_slots):
                return super().fit(X, y, **params)
        finally:
            del self._train_ahead_inputs, self._trained_ahead, self._shared_slots

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        # scikit-learn >= 1.9 passes callback_ctx; earlier versions do not.
        context = {"callback_ctx": callback_ctx} if callback_ctx is not None else {}
        X, y, params = self._train_ahead_inputs
        if self.n_jobs not in (None, 1):
            return super()._run_search(evaluate_candidates, **context)

        def evaluate_trained_ahead(candidate_params, *args, **kwargs):
            candidate_params = list(candidate_params)
            cv = args[0] if args else kwargs.get("cv")
            cv = check_cv(cv or self.cv, y, classifier=is_classifier(self.estimator))
            groups = params.get("groups")
            splits = list(cv.split(X, y, groups))
            if self.refit and packing.packing_available():
                # In a pack, the refit of every candidate costs little and spares the
                # one refit a program of its own; sequentially it would cost more.
                splits.append((np.arange(_num_samples(X)), np.arange(0)))
            fit_params = {k: v for k, v in params.items() if k != "groups"}
            self._trained_ahead.update(train_ahead(
                self.estimator, candidate_params, X, y, splits, fit_params,
                max_pack=self.max_pack, verbose=self.verbose, shared_slots=self._shared_slots,
            ))
            return evaluate_candidates(candidate_params, *args, **kwargs)

        return super()._run_search(evaluate_trained_ahead, **context)


class GridSearchCV(_TrainAheadMixin, sk.GridSearchCV):
    """scikit-learn's GridSearchCV, training skkeras models ahead, together.

    Same parameters, attributes and ``cv_results_`` as
    :class:`sklearn.model_selection.GridSearchCV`, plus ``max_pack``: the most
    models trained in one vectorised program.
    """

    def __init__(
        self, estimator, param_grid, *, scoring=None, n_jobs=None, refit=True, cv=None,
        verbose=0, pre_dispatch="2*n_jobs", error_score=np.nan, return_train_score=False,
        max_pack: int = MAX_PACK,
    ):
        super().__init__(
            estimator, param_grid, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
            verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
            return_train_score=return_train_score,
        )
        self.max_pack = max_pack


class RandomizedSearchCV(_TrainAheadMixin, sk.RandomizedSearchCV):
    """scikit-learn's RandomizedSearchCV, training skkeras models ahead, together.

    Same parameters and attributes as
    :class:`sklearn.model_selection.RandomizedSearchCV`, plus ``max_pack``.
    """

    def __init__(
        self, estimator, param_distributions, *, n_iter=10, scoring=None, n_jobs=None,
        refit=True, cv=None, verbose=0, pre_dispatch="2*n_jobs", random_state=None,
        error_score=np.nan, return_train_score=False, max_pack: int = MAX_PACK,
    ):
        super().__init__(
            estimator, param_distributions, n_iter=n_iter, scoring=scoring, n_jobs=n_jobs,
            refit=refit, cv=cv, verbose=verbose, pre_dispatch=pre_dispatch,
            random_state=random_state, error_score=error_score,
            return_train_score=return_train_score,
        )
        self.max_pack = max_pack


def cross_validate(
    estimator: Any, X: Any, y: Any = None, *, groups: Any = None, scoring: Any = None,
    cv: Any = None, n_jobs: int | None = None, verbose: int = 0,
    params: Mapping[str, Any] | None = None, pre_dispatch: str = "2*n_jobs",
    return_train_score: bool = False, return_estimator: bool = False,
    return_indices: bool = False, error_score: Any = np.nan, max_pack: int = MAX_PACK,
) -> dict[str, Any]:
    """scikit-learn's cross_validate, with the folds' Keras models trained together.

    Same signature and result as :func:`sklearn.model_selection.cross_validate`,
    plus ``max_pack``.
    """
    results: dict[str, TrainedState] = {}
    if n_jobs in (None, 1):
        splits = list(check_cv(cv, y, classifier=is_classifier(estimator)).split(X, y, groups))
        results = train_ahead(
            estimator, [{}], X, y, splits, dict(params or {}), max_pack=max_pack, verbose=verbose
        )
    with trained_ahead(dict(results)):
        return sk.cross_validate(
            estimator, X, y, groups=groups, scoring=scoring, cv=cv, n_jobs=n_jobs,
            verbose=verbose, params=params, pre_dispatch=pre_dispatch,
            return_train_score=return_train_score, return_estimator=return_estimator,
            return_indices=return_indices, error_score=error_score,
        )

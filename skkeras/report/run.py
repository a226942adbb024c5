"""Running the report: the network and its baselines, on the same folds.

:func:`cross_validated_report` checks the data (:func:`~skkeras.report.data_checks.check_data`),
wraps the network (the built-in MLP, a user's builder, or a user's estimator) in
the report's preprocessing, cross-validates it (every candidate of a grid) with
skkeras's own :class:`~skkeras.model_selection.GridSearchCV` or
:func:`~skkeras.model_selection.cross_validate`, so that folds and candidates
train together and share compiled programs, then cross-validates the baselines
on the same folds and compares fold scores pairwise
(:func:`~skkeras.report.compare.corrected_ttest`).

One scorer records every fold's out-of-fold predictions and the network's
``history_``, so nothing is fitted twice.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import KFold, ParameterGrid, StratifiedKFold
from threadpoolctl import threadpool_limits

from .compare import comparison
from .data_checks import check_data, check_target, prepare_table
from .facts import (
    best_candidate_facts,
    curve_facts,
    dataset_facts,
    environment,
    model_facts,
    search_facts,
)
from .models import (
    BASELINE_TITLES,
    _check_grid_params,
    _find_net,
    _grid_to_params,
    _make_network,
    _Network,
    make_baselines,
)
from .render import REPORT_FORMAT_VERSION, Report, describe_estimator
from .spec import (
    DEFAULT_CV,
    DEFAULT_HIDDEN,
    DEFAULT_RANDOM_STATE,
    ReportError,
    infer_task,
    parse_baselines,
    parse_grid,
)

__all__ = ["cross_validated_report"]

#: Metrics by task; the first selects among grid candidates and is compared pairwise.
METRICS = {
    "classification": ("accuracy", "balanced_accuracy", "roc_auc", "f1"),
    "regression": ("r2", "rmse", "mae"),
}

# ------------------------------------------------------------------------- results
@dataclass
class FoldResult:
    """What one fold of one model left behind (the fitted model itself is dropped)."""

    scores: dict[str, float]
    score_time: float
    n_train: int
    n_test: int
    history: dict[str, list[float]]
    test_index: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None = None  # class probabilities (classification)


@dataclass
class Candidate:
    """One model's folds: a point of the network's grid, or a baseline."""

    params: dict[str, Any]
    folds: list[FoldResult] = field(default_factory=list)
    name: str = "net"

    def metric(self, name: str) -> np.ndarray:
        return np.array([f.scores[name] for f in self.folds], dtype=float)


def fold_scores(
    task: str, classes: np.ndarray | None, y_true: np.ndarray, y_pred: np.ndarray,
    y_score: np.ndarray | None,
) -> dict[str, float]:
    """The report's metrics of one fold, from its predictions (RMSE and MAE positive)."""
    if task == "regression":
        return {"r2": float(r2_score(y_true, y_pred)),
                "rmse": float(root_mean_squared_error(y_true, y_pred)),
                "mae": float(mean_absolute_error(y_true, y_pred))}
    binary = len(classes) == 2
    try:
        auc = (roc_auc_score(y_true == classes[1], y_score[:, 1]) if binary else
               roc_auc_score(y_true, y_score, multi_class="ovr", labels=classes))
    except ValueError:  # one class only in this fold
        auc = float("nan")
    f1 = (f1_score(y_true, y_pred, pos_label=classes[1]) if binary
          else f1_score(y_true, y_pred, average="macro", labels=classes))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "roc_auc": float(auc), "f1": float(f1)}


class _Recorder:
    """A multi-metric scorer that keeps each fold's predictions and history.

    scikit-learn calls it with every fitted (candidate, fold) model and its test
    rows, whose index (0..n-1) names the fold; the candidate is found from the
    model's parameters.
    """

    def __init__(self, task: str, classes: np.ndarray | None, n_samples: int) -> None:
        self.task, self.classes, self.n_samples = task, classes, n_samples
        self.records: list[tuple[Any, FoldResult]] = []

    def __call__(self, estimator: Any, X: pd.DataFrame, y: Any) -> dict[str, float]:
        started = time.perf_counter()
        y_true = np.asarray(y)
        y_pred = np.asarray(estimator.predict(X))
        y_score = None
        if self.task == "classification":
            proba = np.asarray(estimator.predict_proba(X), dtype=float)
            order = [list(estimator.classes_).index(c) for c in self.classes]
            y_score = proba[:, order]
        scores = fold_scores(self.task, self.classes, y_true, y_pred, y_score)
        history: dict[str, list[float]] = {}
        from ..plotting import find_keras_estimator

        try:
            network = find_keras_estimator(estimator)
        except ValueError:
            network = None
        if network is not None:
            history = {k: [float(v) for v in vs] for k, vs in network.history_.items()}
        self.records.append((estimator, FoldResult(
            scores=scores, score_time=time.perf_counter() - started,
            n_train=self.n_samples - len(y_true), n_test=len(y_true), history=history,
            test_index=X.index.to_numpy(), y_pred=y_pred, y_score=y_score,
        )))
        return scores

    def collect(self, candidates: list[Candidate], splits: list) -> None:
        """Put the records into the candidates' fold lists, in fold order."""
        fold_of = {np.asarray(test).tobytes(): k for k, (_, test) in enumerate(splits)}
        slots: list[list[FoldResult | None]] = [[None] * len(splits) for _ in candidates]
        for i, (estimator, result) in enumerate(self.records):
            k = fold_of[np.asarray(result.test_index).tobytes()]
            if len(candidates) == 1:
                c = 0
            else:
                params = estimator.get_params()
                # scikit-learn fits candidate after candidate, fold after fold: that order
                # serves for values it cloned (which no longer compare equal).
                c = next((j for j, cand in enumerate(candidates)
                          if all(_same(params.get(n), v) for n, v in cand.params.items())),
                         i // len(splits))
            slots[c][k] = result
        for candidate, folds in zip(candidates, slots, strict=True):
            candidate.folds = [f for f in folds if f is not None]
        self.records = []


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and the like
        return a is b


# ------------------------------------------------------------------------ running
def _progress(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr, or a stand-in that does nothing."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm missing: no bar, nothing else changes
            pass
        else:
            return tqdm(total=total, desc="cross-validating", unit="model", file=sys.stderr,
                        leave=False, dynamic_ncols=True)
    return _NoProgress()


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _ranks(means: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest mean, ties sharing the lower rank; NaN ranks last."""
    filled = np.where(np.isnan(means), -np.inf, means)
    return np.array([1 + int(np.sum(filled > m)) for m in filled])


def _run_net(network: _Network, candidates: list[Candidate], X, y, splits, recorder) -> float:
    """Cross-validate every candidate through skkeras's search; return the wall time."""
    from .. import model_selection

    started = time.perf_counter()
    if len(candidates) == 1:
        estimator = clone(network.estimator).set_params(**candidates[0].params)
        model_selection.cross_validate(estimator, X, y, cv=splits, scoring=recorder,
                                       error_score="raise")
    else:
        grid = [{k: [v] for k, v in c.params.items()} for c in candidates]
        search = model_selection.GridSearchCV(network.estimator, grid, cv=splits,
                                              scoring=recorder, refit=False, error_score="raise")
        search.fit(X, y)
    recorder.collect(candidates, splits)
    return time.perf_counter() - started


def _compile_once(network: _Network, params: Mapping[str, Any], X, y, train) -> float:
    """Build and compile the first candidate's program with a one-epoch fit on the first
    training fold, so that no fold's time includes it; return its wall time."""
    if network.prefix is None:
        return 0.0
    started = time.perf_counter()
    warm = clone(network.estimator).set_params(**params)
    warm.set_params(**{network.prefix + "epochs": 1})
    warm.fit(X.iloc[train], y[train])
    return time.perf_counter() - started


def cross_validated_report(
    model: Any,
    X: Any,
    y: Any,
    *,
    name: str = "data",
    task: str = "auto",
    cv: int = DEFAULT_CV,
    grid: str | Mapping[str, Sequence[Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    validation_split: float | None = None,
    baselines: str | Sequence[str] | None = "default",
    parse_dates: bool = True,
    random_state: int | None = DEFAULT_RANDOM_STATE,
    progress: bool = False,
    notes: Sequence[str] = (),
) -> Report:
    """Cross-validate a network (or a grid of its variants) and baselines on a table.

    Parameters
    ----------
    model : None, callable, keras.Model or estimator
        None: the built-in MLP (``hidden`` sets its layers). A function that
        returns a Keras model (a builder: ``params`` and ``grid`` reach its
        keyword arguments) or a ``keras.Model``: wrapped in a
        ``KerasClassifier``/``KerasRegressor``. A skkeras estimator: used as
        configured. In these three cases the report adds its preprocessing
        (impute, scale, one-hot) and, for regression, standardises the target.
        Any other estimator (a Pipeline of your own) is used as it is.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features; numeric and categorical columns are told apart by dtype.
        Dates, ID-like and constant columns are handled as
        :func:`~skkeras.report.data_checks.check_data` says.
    y : array-like of shape (n_samples,)
        Target. Rows where it is missing are dropped (and noted).
    name : str, default="data"
        Shown in the report's title.
    task : {"auto", "classification", "regression"}, default="auto"
    cv : int, default=5
        Folds: stratified for classification, plain for regression; both
        shuffled with ``random_state``. Every model sees the same folds.
    grid : str, dict or None, default=None
        A grid search over the network's parameters: the text of ``--grid``
        (see :func:`~skkeras.report.spec.parse_grid`) or a dict of value lists.
    params : dict or None, default=None
        Fixed parameters of the network (a builder's keyword arguments too).
    epochs : int or None, default=None
        None: 50 for the built-in MLP and builders, an estimator's own otherwise.
    batch_size : int or None, default=None
        None: :func:`skkeras.training.default_batch_size` of the training rows.
    hidden : sequence of int, default=(32, 16)
        Hidden layers of the built-in MLP.
    validation_split : float or None, default=None
        Share of each training fold held out for validation loss curves (0.1 is
        a good value; they cost time on TensorFlow). None: 0 for the built-in
        MLP and builders, an estimator's own otherwise.
    baselines : "default", "none" or sequence of str, default="default"
        Baselines cross-validated on the same folds (see
        :data:`~skkeras.report.spec.BASELINES`).
    parse_dates : bool, default=True
        Turn date columns into numeric features; False drops them.
    random_state : int or None, default=0
        Seeds the folds, the networks and the baselines.
    progress : bool, default=False
        Show a progress bar on stderr.
    notes : sequence of str, default=()
        Remarks about the data to print in the report.

    Returns
    -------
    Report
        Prints as a table (``str(report)``), renders in a notebook, and has
        ``to_json()``, ``to_html()`` and ``save(directory)``.

    Raises
    ------
    ReportError
        For data or settings the report cannot use (a ValueError).
    """
    from .. import wrappers  # noqa: F401  (Keras is imported before the clock starts)
    from ..training import default_batch_size

    started = time.perf_counter()
    X, y_series, notes = prepare_table(X, y, list(notes))
    y_values = y_series.to_numpy()
    if task == "auto":
        task = infer_task(y_values)
    if task not in ("classification", "regression"):
        raise ReportError(f"task must be 'auto', 'classification' or 'regression', got {task!r}.")
    if validation_split is not None and not 0 <= validation_split < 1:
        raise ReportError(f"validation_split must be in [0, 1), got {validation_split!r}.")
    baseline_names = parse_baselines(baselines, task)
    X, checks = check_data(X, y_series, task, parse_dates=parse_dates)
    classes = check_target(X, y_values, task, cv)
    if task == "regression":
        y_values = y_values.astype(np.float64)

    network = _make_network(
        model, task, epochs=epochs, batch_size=batch_size, hidden=hidden,
        random_state=random_state, validation_split=validation_split, params=dict(params or {}),
    )
    if isinstance(grid, str):
        grid = parse_grid(grid)
    params_grid = _grid_to_params(grid, network) if grid else {}
    if params_grid:
        _check_grid_params(network.estimator, params_grid, "--grid")
    candidates = [Candidate(dict(p)) for p in ParameterGrid(params_grid)]
    splitter = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=cv, shuffle=True, random_state=random_state
    )
    splits = list(splitter.split(X, y_values))

    net_settings = _net_settings(network)
    if net_settings.get("batch_size") is None and net_settings.get("epochs") is not None:
        n_train = min(len(train) for train, _ in splits)
        n_fit = n_train - math.ceil(n_train * (net_settings.get("validation_split") or 0.0))
        net_settings["batch_size_resolved"] = default_batch_size(n_fit)

    bar = _progress(1 + len(baseline_names), progress)
    recorder = _Recorder(task, classes, len(y_values))
    timing: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            # A category absent from a training fold is encoded as all zeros, by design.
            warnings.filterwarnings("ignore", message="Found unknown categories")
            bar.set_postfix_str("compiling the network")
            timing["compile_s"] = _compile_once(
                network, candidates[0].params, X, y_values, splits[0][0])
            bar.set_postfix_str("network" + (f", {len(candidates)} candidates"
                                             if len(candidates) > 1 else ""))
            timing["net_s"] = _run_net(network, candidates, X, y_values, splits, recorder)
            bar.update(1)
            from .. import model_selection

            others = []
            timing["baselines_s"] = {}
            for baseline_name, estimator in make_baselines(
                    baseline_names, task, random_state).items():
                bar.set_postfix_str(BASELINE_TITLES[baseline_name])
                candidate = Candidate({}, name=baseline_name)
                begun = time.perf_counter()
                # One OpenMP thread: beside TensorFlow's thread pools, scikit-learn's OpenMP
                # threads wait on each other (HistGradientBoosting: 20 s instead of 1 s on Pima).
                with threadpool_limits(1, user_api="openmp"):
                    model_selection.cross_validate(estimator, X, y_values, cv=splits,
                                                   scoring=recorder, error_score="raise")
                recorder.collect([candidate], splits)
                timing["baselines_s"][baseline_name] = time.perf_counter() - begun
                others.append(candidate)
                bar.update(1)
    finally:
        bar.close()

    metrics = list(METRICS[task])
    ranks = _ranks(np.array([c.metric(metrics[0]).mean() for c in candidates]))
    best = candidates[int(np.argmin(ranks))]
    if len(candidates) > 1:
        notes.append("The best candidate is chosen on the same folds that score it, so its "
                     "scores are optimistic; use nested cross-validation for an unbiased estimate.")
    validation = net_settings.get("validation_split") or 0.0
    if validation and others:
        notes.append(f"The network trains on {1 - validation:.0%} of each training fold and "
                     f"validates on the rest (its loss curves); the baselines train on all of it.")
    timing.update(
        total_s=time.perf_counter() - started,
        n_fits=sum(len(c.folds) for c in candidates) + len(others) * len(splits),
    )
    data = {
        "format_version": REPORT_FORMAT_VERSION,
        "dataset": dataset_facts(X, y_series, y_values, name, task),
        "data_checks": checks,
        "settings": {
            "cv": int(cv), "splitter": repr(splitter), **net_settings,
            "hidden": list(hidden) if model is None else None,
            "random_state": random_state,
            "grid": None if not grid else {k: list(v) for k, v in grid.items()},
            "params": {k: v for k, v in (params or {}).items()},
            "baselines": list(baseline_names),
        },
        "model": {
            "estimator": type(_find_net(network.estimator)).__name__,
            "network": network.description,
            "description": describe_estimator(network.estimator),
        },
        "notes": notes,
        "metrics": metrics,
        **best_candidate_facts(best, metrics),
        "search": search_facts(candidates, ranks, metrics, dict(zip(params_grid, grid or {},
                                                                    strict=True)))
        if params_grid else None,
        "models": [model_facts(best, "net", network.description, timing["net_s"], metrics)] + [
            model_facts(c, "baseline", BASELINE_TITLES[c.name], timing["baselines_s"][c.name],
                         metrics) for c in others],
        "comparison": comparison(best, others, metrics) if others else None,
        "curves": curve_facts(best, y_values, classes),
        "timing": timing,
        "environment": environment(),
    }
    return Report(data=data, candidates=candidates, best=best, baselines=others, y=y_values,
                  classes=classes)


def _net_settings(network: _Network) -> dict[str, Any]:
    if network.prefix is None:
        return {}
    params = network.estimator.get_params()
    return {k: params.get(network.prefix + k) for k in ("epochs", "batch_size", "validation_split")}

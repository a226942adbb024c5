"""The workloads W1-W4, each in a full and a ``--quick`` size.

A workload's ``run`` function is called in a fresh subprocess (see
:mod:`benchmarks.child`) with the system, the configuration and the data
folder; it returns ``{"metrics": {...}, "details": {...}}``: ``metrics`` are the
flat numbers and strings that the report shows (``Workload.timed`` and
``Workload.extras`` name them), ``details`` what only the JSON keeps.

Only the named section of each workload is timed (``time.perf_counter``),
never the imports or the data loading; the runner also records each
subprocess's whole wall time and peak RSS.

- **W1** Pima, ``Pipeline(StandardScaler, Dense 12-8-1)``, ``GridSearchCV`` over
  epochs {10, 50, 100} × batch size {10, 20, 40} with ``StratifiedKFold(5,
  shuffle=True, random_state=0)``: 45 fits and the refit. Timed: ``search.fit``.
- **W2** California housing, ``ColumnTransformer`` (median imputation and
  scaling of the numeric columns, one-hot ``ocean_proximity``) and Dense
  64-32-1, 5-fold ``cross_validate`` (``KFold(5, shuffle=True, random_state=0)``),
  20 epochs, batch size 64; the target in units of $100,000. Timed:
  ``cross_validate``.
- **W3** ``predict_proba`` of a fitted W1 pipeline on 1, 100 and 10,000 rows:
  the median latency of many calls per size, after warm-up calls; then the rows
  per second of 4 threads each predicting one row per call (a threaded server).
  The fit is not timed.
- **W4** 200 sequential fits, in one process, of a fresh clone of a small Pima
  classifier: the loop's wall time, fit 10 against fit 200 (single fits and
  medians of 10-fit windows) and the RSS growth from fit 10 to fit 200.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import data
from benchmarks.models import SEED
from benchmarks.systems import System

Config = Mapping[str, Any]
Result = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    """A number (or text) that a workload reports.

    ``label`` may name configuration keys in braces (``"fit {ref_fit} s"``).
    ``fmt`` is a format spec for numbers; text is shown as it is.
    """

    key: str
    label: str
    fmt: str = ".3g"

    def title(self, config: Config) -> str:
        """The label with the configuration's values filled in."""
        return self.label.format(**config)


@dataclass(frozen=True)
class Workload:
    """One benchmark: its code, its two sizes, and what the report shows of it."""

    name: str
    title: str
    timed_section: str
    run: Callable[[System, Config, Path], Result]
    full: Config
    quick: Config
    #: Times (lower is better): median/min/max over repeats, and skkeras's speed-up.
    timed: tuple[Metric, ...]
    #: Other results: median over repeats (numbers) or the first repeat's (text).
    extras: tuple[Metric, ...] = field(default_factory=tuple)

    def config(self, quick: bool) -> Config:
        """The configuration for the chosen size."""
        return self.quick if quick else self.full


# ----------------------------------------------------------------- helpers
def subsample(
    X: Any, y: Any, n_rows: int | None, *, stratify: bool
) -> tuple[Any, Any]:
    """The first ``n_rows`` of a seeded permutation (stratified for classification); all if None."""
    n = len(y)
    if n_rows is None or n_rows >= n:
        return X, y
    from sklearn.model_selection import train_test_split

    X_sub, _, y_sub, _ = train_test_split(
        X, y, train_size=n_rows, random_state=SEED, stratify=y if stratify else None
    )
    return X_sub, y_sub


def current_rss_mib() -> float:
    """The resident set size of this process now, in MiB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - psutil is in the bench extra
        import os

        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pima_pipeline(system: System, epochs: int, batch_size: int) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("net", system.classifier(epochs, batch_size))])


# ---------------------------------------------------------------------- W1
def run_w1(system: System, config: Config, data_dir: Path) -> Result:
    """W1: the Pima grid search. Timed: ``GridSearchCV.fit`` (all fits and the refit)."""
    from sklearn.model_selection import StratifiedKFold

    X, y = subsample(*data.load_pima(data_dir), config["n_rows"], stratify=True)
    epochs, batch_sizes = list(config["epochs"]), list(config["batch_sizes"])

    def new_search() -> Any:
        return system.grid_search_class()(
            _pima_pipeline(system, epochs[0], batch_sizes[0]),
            system.epoch_grid(epochs, batch_sizes),
            scoring="accuracy",
            cv=StratifiedKFold(config["folds"], shuffle=True, random_state=SEED),
            refit=True,
            error_score="raise",
        )

    search = new_search()
    start = time.perf_counter()
    search.fit(X, y)
    elapsed = time.perf_counter() - start
    split = {}
    if system.compiles:
        # The same search again in this process finds every program compiled: its
        # time is the run time, and the difference the compile time.
        again = time.perf_counter()
        new_search().fit(X, y)
        rerun = time.perf_counter() - again
        split = {"rerun_s": rerun, "compile_s": elapsed - rerun}

    best = system.best_params(search.best_params_)
    results = search.cv_results_
    grid = [
        {
            **system.best_params(params),
            "mean_accuracy": float(mean),
            "std_accuracy": float(std),
            "mean_fit_time_s": float(fit_time),
        }
        for params, mean, std, fit_time in zip(
            results["params"], results["mean_test_score"], results["std_test_score"],
            results["mean_fit_time"], strict=True,
        )
    ]
    return {
        "metrics": {
            "time_s": elapsed,
            "best_score": float(search.best_score_),
            "best_params": f"epochs={best['epochs']}, batch_size={best['batch_size']}",
            "best_epochs": best["epochs"],
            "best_batch_size": best["batch_size"],
            "n_fits": len(grid) * int(config["folds"]) + 1,
            "n_rows": len(y),
            **split,
        },
        "details": {"grid": grid},
    }


# ---------------------------------------------------------------------- W2
def run_w2(system: System, config: Config, data_dir: Path) -> Result:
    """W2: California housing, 5-fold ``cross_validate``. Timed: ``cross_validate``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = data.load_housing(data_dir)
    X, y = subsample(X, y, config["n_rows"], stratify=False)
    y = np.asarray(y, dtype=np.float64) / 1e5  # $100,000 units: a well-scaled target
    categorical = ["ocean_proximity"]
    numeric = [c for c in X.columns if c not in categorical]
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    pipe = Pipeline([("prep", prep), ("net", system.regressor(epochs, batch_size))])
    start = time.perf_counter()
    scores = system.cross_validate()(
        pipe, X, y,
        cv=KFold(config["folds"], shuffle=True, random_state=SEED),
        scoring="r2",
        params=system.fit_params(epochs, batch_size),
        error_score="raise",
    )
    elapsed = time.perf_counter() - start
    r2 = [float(v) for v in scores["test_score"]]
    return {
        "metrics": {
            "time_s": elapsed,
            "r2_mean": float(np.mean(r2)),
            "r2_std": float(np.std(r2)),
            "n_rows": len(y),
        },
        "details": {
            "fold_r2": r2,
            "fit_time_s": [float(v) for v in scores["fit_time"]],
            "score_time_s": [float(v) for v in scores["score_time"]],
        },
    }


# ---------------------------------------------------------------------- W3
def run_w3(system: System, config: Config, data_dir: Path) -> Result:
    """W3: per-call ``predict_proba`` latency of a fitted W1 pipeline (the fit is not timed)."""
    X_all, y_all = data.load_pima(data_dir)
    X, y = subsample(X_all, y_all, config["n_rows"], stratify=True)
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    pipe = _pima_pipeline(system, epochs, batch_size)
    start = time.perf_counter()
    pipe.fit(X, y, **system.fit_params(epochs, batch_size))
    fit_s = time.perf_counter() - start

    proba = system.proba(pipe, X)
    fit_accuracy = float(np.mean(np.argmax(proba, axis=1) == np.asarray(y)))

    sizes = [int(s) for s in config["sizes"]]
    rng = np.random.default_rng(SEED)
    X_pred = X_all[rng.integers(0, len(X_all), size=max(sizes))]
    metrics: dict[str, Any] = {}
    calls: dict[str, Any] = {}
    for size in sizes:
        rows = X_pred[:size]
        for _ in range(int(config["warmup"])):
            system.proba(pipe, rows)
        latencies: list[float] = []
        section = time.perf_counter()
        while len(latencies) < int(config["max_calls"]) and (
            len(latencies) < int(config["min_calls"])
            or time.perf_counter() - section < float(config["budget_s"])
        ):
            t0 = time.perf_counter()
            out = system.proba(pipe, rows)
            latencies.append(time.perf_counter() - t0)
        out = np.asarray(out)
        shape = list(out.shape)
        if out.size == 2 * size:
            # scikeras 0.13 returns shape (2,), not (1, 2), for a single row.
            out = out.reshape(size, 2)
        if out.shape != (size, 2) or not np.all((out >= 0) & (out <= 1)):
            raise AssertionError(
                f"{system.name}: probabilities of shape {shape} or outside [0, 1] for {size} rows"
            )
        metrics[f"latency_{size}_ms"] = 1e3 * statistics.median(latencies)
        calls[str(size)] = {
            "calls": len(latencies),
            "median_ms": 1e3 * statistics.median(latencies),
            "min_ms": 1e3 * min(latencies),
            "max_ms": 1e3 * max(latencies),
            "output_shape": shape,
        }
    n_threads = int(config.get("threads", 0))
    if n_threads:
        rows_per_s = _threaded_rows_per_s(
            lambda: system.proba(pipe, X_pred[:1]), n_threads, float(config["thread_s"])
        )
        metrics[f"threads_{n_threads}_rows_per_s"] = rows_per_s
    metrics.update({"fit_s": fit_s, "fit_accuracy": fit_accuracy, "n_rows": len(y)})
    return {"metrics": metrics, "details": {"calls": calls}}


def _threaded_rows_per_s(predict_one: Callable[[], Any], n_threads: int, seconds: float) -> float:
    """Rows per second that ``n_threads`` threads, each predicting one row per call in a
    loop for ``seconds``, achieve together (what a threaded web server sees)."""
    import threading

    counts = [0] * n_threads
    start = threading.Barrier(n_threads + 1)
    stop_at: list[float] = []

    def work(i: int) -> None:
        start.wait()
        while time.perf_counter() < stop_at[0]:
            predict_one()
            counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at.append(began + seconds)
    start.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


# ---------------------------------------------------------------------- W4
def run_w4(system: System, config: Config, data_dir: Path) -> Result:
    """W4: many sequential fits of fresh clones in one process; time and RSS per fit."""
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    X, y = subsample(*data.load_pima(data_dir), config["n_rows"], stratify=True)
    X = StandardScaler().fit_transform(X)
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    template = system.classifier(epochs, batch_size)
    fit_params = system.fit_params(epochs, batch_size, step="")
    n_fits, ref, window = int(config["n_fits"]), int(config["ref_fit"]), int(config["window"])

    fit_times: list[float] = []
    rss: list[float] = []
    start = time.perf_counter()
    for _ in range(n_fits):
        estimator = clone(template)
        t0 = time.perf_counter()
        estimator.fit(X, y, **fit_params)
        fit_times.append(time.perf_counter() - t0)
        rss.append(current_rss_mib())
    elapsed = time.perf_counter() - start

    early = statistics.median(fit_times[ref - 1 : ref - 1 + window])
    late = statistics.median(fit_times[-window:])
    return {
        "metrics": {
            "time_s": elapsed,
            "fit_ref_s": fit_times[ref - 1],
            "fit_last_s": fit_times[-1],
            "early_median_s": early,
            "late_median_s": late,
            "slowdown": late / early,
            "rss_ref_mib": rss[ref - 1],
            "rss_last_mib": rss[-1],
            "rss_growth_mib": rss[-1] - rss[ref - 1],
            "n_fits": n_fits,
        },
        "details": {
            "fit_times_s": [round(t, 6) for t in fit_times],
            "rss_mib": [round(r, 2) for r in rss],
        },
    }


# -------------------------------------------------------------- registry
WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="W1",
            title="Pima grid search: Pipeline(StandardScaler, Dense 12-8-1), "
            "GridSearchCV epochs × batch_size, StratifiedKFold",
            timed_section="GridSearchCV.fit (every fit and the refit)",
            run=run_w1,
            full={"n_rows": None, "epochs": [10, 50, 100], "batch_sizes": [10, 20, 40], "folds": 5},
            quick={"n_rows": 200, "epochs": [5, 10], "batch_sizes": [32], "folds": 2},
            timed=(Metric("time_s", "grid search s"),),
            extras=(
                Metric("best_params", "best params"),
                Metric("best_score", "best CV accuracy", ".3f"),
                Metric("rerun_s", "same search again in-process s"),
                Metric("compile_s", "compile s (first − again)"),
            ),
        ),
        Workload(
            name="W2",
            title="California housing: ColumnTransformer + Dense 64-32-1, cross_validate",
            timed_section="cross_validate (every fit and score)",
            run=run_w2,
            full={"n_rows": None, "folds": 5, "epochs": 20, "batch_size": 64},
            quick={"n_rows": 4000, "folds": 2, "epochs": 5, "batch_size": 64},
            timed=(Metric("time_s", "cross_validate s"),),
            extras=(Metric("r2_mean", "mean R²", ".3f"),),
        ),
        Workload(
            name="W3",
            title="predict_proba latency of a fitted W1 pipeline (median per call)",
            timed_section="each predict_proba call, after warm-up calls (the fit is not timed)",
            run=run_w3,
            full={
                "n_rows": None, "epochs": 10, "batch_size": 10, "sizes": [1, 100, 10_000],
                "warmup": 3, "min_calls": 10, "max_calls": 200, "budget_s": 5.0,
                "threads": 4, "thread_s": 2.0,
            },
            quick={
                "n_rows": 200, "epochs": 5, "batch_size": 32, "sizes": [1, 100, 10_000],
                "warmup": 1, "min_calls": 3, "max_calls": 10, "budget_s": 0.5,
                "threads": 4, "thread_s": 0.3,
            },
            timed=(
                Metric("latency_1_ms", "1 row ms"),
                Metric("latency_100_ms", "100 rows ms"),
                Metric("latency_10000_ms", "10,000 rows ms"),
            ),
            extras=(
                Metric("threads_4_rows_per_s", "4 threads, rows/s", ".0f"),
                Metric("fit_accuracy", "training accuracy", ".3f"),
            ),
        ),
        Workload(
            name="W4",
            title="Sequential fits of fresh clones of a small Pima classifier, in one process",
            timed_section="the loop of clone + fit",
            run=run_w4,
            full={
                "n_rows": None, "n_fits": 200, "epochs": 2, "batch_size": 32,
                "ref_fit": 10, "window": 10,
            },
            quick={
                "n_rows": 200, "n_fits": 15, "epochs": 1, "batch_size": 64,
                "ref_fit": 5, "window": 5,
            },
            timed=(Metric("time_s", "{n_fits} fits s"),),
            extras=(
                Metric("fit_ref_s", "fit {ref_fit} s"),
                Metric("fit_last_s", "fit {n_fits} s"),
                Metric("slowdown", "median fit s, last {window} ÷ from fit {ref_fit}", ".2f"),
                Metric("rss_growth_mib", "RSS growth fit {ref_fit}→{n_fits} MiB", ".0f"),
            ),
        ),
    )
}


from benchmarks.runtime_workloads import RUNTIME_WORKLOADS  # noqa: E402 (it imports this module)

WORKLOADS.update((w.name, w) for w in RUNTIME_WORKLOADS)


def resolve_workload(name: str) -> Workload:
    """The workload called ``name`` (case-insensitive: ``w1`` or ``W1``)."""
    key = name.strip().upper()
    if key not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose among {', '.join(WORKLOADS)}")
    return WORKLOADS[key]

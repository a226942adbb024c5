"""The runtime workloads W5-W7 (registered in :data:`benchmarks.workloads.WORKLOADS`).

- **W5** Threads: ``n_fits`` independent fits of clones of the W4 classifier
  (seeds 0, 1, ...) one after another, then the same fits in ``threads`` threads
  at once; each estimator predicts the whole data set after its fit. Timed: both
  loops; the report shows the speed-up threads give.
- **W6** An LSTM text classifier: random token sequences (vocabulary 50, length
  20) labelled by whether token 1 occurs more often than token 2; ``Embedding(16)
  + LSTM(16) + Dense(1)``; one fit, timed, and the training accuracy.
- **W7** A Conv2D digits model: scikit-learn's bundled ``load_digits`` (8×8
  images, 10 classes), ``Conv2D(8, 3) + MaxPooling2D + Flatten + Dense(10)``; one
  fit, timed, and the training accuracy.

- **W8** Cold start: in a fresh process (imports excluded), the first fit of the
  W1 pipeline (10 epochs, batch 20), then a fit with a new batch size (40), then
  the first fit again (warm). Timed: each fit.
- **W9** The issue-15 grid in a fresh process: W1's search over epochs {10, 50} ×
  batch {20, 40}, StratifiedKFold 5 and the refit (W1's code: ``time_s`` is the
  cold search, ``rerun_s`` the same search again in the process).

W6 and W7 run on the Keras systems (skkeras, scikeras, keras.wrappers) with one
builder each, from :mod:`benchmarks.models`'s conventions: Adam, Keras's defaults.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import data
from benchmarks.models import SEED
from benchmarks.systems import System
from benchmarks.workloads import Config, Metric, Result, Workload, run_w1, subsample


# ---------------------------------------------------------------------- W5
def run_w5(system: System, config: Config, data_dir: Path) -> Result:
    """W5: independent fits, one after another and then in threads."""
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    X, y = subsample(*data.load_pima(data_dir), config["n_rows"], stratify=True)
    X = StandardScaler().fit_transform(X)
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    template = system.classifier(epochs, batch_size)
    fit_params = system.fit_params(epochs, batch_size, step="")
    seeds = list(range(int(config["n_fits"])))

    def fit_one(seed: int) -> np.ndarray:
        estimator = clone(template)
        if "random_state" in estimator.get_params():
            estimator.set_params(random_state=SEED + seed)
        estimator.fit(X, y, **fit_params)
        return np.asarray(system.proba(estimator, X))

    fit_one(0)  # warm-up: compiling is not what this workload measures
    start = time.perf_counter()
    sequential = [fit_one(seed) for seed in seeds]
    sequential_s = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(int(config["threads"])) as pool:
        threaded = list(pool.map(fit_one, seeds))
    threaded_s = time.perf_counter() - start
    same = all(np.array_equal(a, b) for a, b in zip(sequential, threaded, strict=True))
    return {
        "metrics": {
            "sequential_s": sequential_s,
            "threaded_s": threaded_s,
            "thread_speedup": sequential_s / threaded_s,
            "same_results": "yes" if same else "no",
        },
        "details": {},
    }


# ---------------------------------------------------------------------- W6
def text_data(n_rows: int, length: int = 20, vocabulary: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences labelled by whether token 1 occurs more often than token 2."""
    rng = np.random.default_rng(SEED)
    X = rng.integers(1, vocabulary, size=(n_rows, length)).astype(np.int32)
    y = ((X == 1).sum(axis=1) > (X == 2).sum(axis=1)).astype(np.int32)
    return X, y


def lstm_net(meta: Mapping[str, Any] | None = None, vocabulary: int = 50, length: int = 20) -> Any:
    import keras

    model = keras.Sequential([
        keras.Input((length,), dtype="int32"),
        keras.layers.Embedding(vocabulary, 16),
        keras.layers.LSTM(16),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def conv_net(meta: Mapping[str, Any] | None = None) -> Any:
    import keras

    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Reshape((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _fit_model(system: System, builder: Any, X: np.ndarray, y: np.ndarray, config: Config) -> Result:
    epochs, batch_size = int(config["epochs"]), int(config["batch_size"])
    estimator = system.custom_classifier(builder, epochs, batch_size)
    start = time.perf_counter()
    estimator.fit(X, y, **system.fit_params(epochs, batch_size, step=""))
    fit_s = time.perf_counter() - start
    accuracy = float(np.mean(np.asarray(estimator.predict(X)).ravel() == y))
    path = getattr(estimator, "fit_path_", None)
    return {"metrics": {"fit_s": fit_s, "accuracy": accuracy, "path": str(path or "")}, "details": {}}


def run_w6(system: System, config: Config, data_dir: Path) -> Result:
    """W6: one fit of the LSTM text classifier."""
    X, y = text_data(int(config["n_rows"]))
    return _fit_model(system, lstm_net, X, y, config)


def run_w7(system: System, config: Config, data_dir: Path) -> Result:
    """W7: one fit of the Conv2D digits model."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    if config["n_rows"]:
        X, y = X[: int(config["n_rows"])], y[: int(config["n_rows"])]
    return _fit_model(system, conv_net, X, y, config)


# ---------------------------------------------------------------------- W8
def run_w8(system: System, config: Config, data_dir: Path) -> Result:
    """W8: the first fits of a fresh process: cold, a new batch size, then warm."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = subsample(*data.load_pima(data_dir), config["n_rows"], stratify=True)
    epochs = int(config["epochs"])
    times, paths = {}, {}
    for name, batch_size in (("first", config["batch_size"]), ("new_batch", config["new_batch_size"]),
                             ("warm", config["batch_size"])):
        pipeline = Pipeline([("scale", StandardScaler()),
                             ("net", system.classifier(epochs, int(batch_size)))])
        fit_params = system.fit_params(epochs, int(batch_size), step="net__")
        start = time.perf_counter()
        pipeline.fit(X, y, **fit_params)
        times[name] = time.perf_counter() - start
        paths[name] = str(getattr(pipeline[-1], "fit_path_", "-"))
    return {
        "metrics": {f"{name}_s": value for name, value in times.items()} | {"path": paths["first"]},
        "details": {"paths": paths},
    }


RUNTIME_WORKLOADS: tuple[Workload, ...] = (
    Workload(
        name="W5",
        title="Independent fits of a small Pima classifier, one after another and in threads",
        timed_section="the fits and predictions, sequential loop and thread pool (after one warm-up fit)",
        run=run_w5,
        full={"n_rows": None, "n_fits": 8, "threads": 4, "epochs": 20, "batch_size": 32},
        quick={"n_rows": 200, "n_fits": 4, "threads": 2, "epochs": 2, "batch_size": 64},
        timed=(Metric("sequential_s", "sequential s"), Metric("threaded_s", "threads s")),
        extras=(
            Metric("thread_speedup", "speed-up from threads", ".2f"),
            Metric("same_results", "same predictions"),
        ),
    ),
    Workload(
        name="W6",
        title="LSTM text classifier (Embedding 16, LSTM 16), one fit",
        timed_section="fit",
        run=run_w6,
        full={"n_rows": 2000, "epochs": 5, "batch_size": 32},
        quick={"n_rows": 200, "epochs": 1, "batch_size": 32},
        timed=(Metric("fit_s", "fit s"),),
        extras=(Metric("accuracy", "training accuracy", ".3f"), Metric("path", "path")),
    ),
    Workload(
        name="W7",
        title="Conv2D on scikit-learn's 8x8 digits, one fit",
        timed_section="fit",
        run=run_w7,
        full={"n_rows": None, "epochs": 10, "batch_size": 32},
        quick={"n_rows": 300, "epochs": 1, "batch_size": 32},
        timed=(Metric("fit_s", "fit s"),),
        extras=(Metric("accuracy", "training accuracy", ".3f"), Metric("path", "path")),
    ),
    Workload(
        name="W8",
        title="Cold start: the first fits of a fresh process (Pima, Dense 12-8-1, 10 epochs)",
        timed_section="each fit (imports excluded)",
        run=run_w8,
        full={"n_rows": None, "epochs": 10, "batch_size": 20, "new_batch_size": 40},
        quick={"n_rows": 200, "epochs": 2, "batch_size": 20, "new_batch_size": 40},
        timed=(Metric("first_s", "first fit s"), Metric("new_batch_s", "new batch size s")),
        extras=(Metric("warm_s", "warm fit s"), Metric("path", "path")),
    ),
    Workload(
        name="W9",
        title="The 4-candidate grid in a fresh process: epochs {10, 50} x batch {20, 40}, "
        "StratifiedKFold 5 and the refit",
        timed_section="GridSearchCV.fit (every fit and the refit), first in the process",
        run=run_w1,
        full={"n_rows": None, "epochs": [10, 50], "batch_sizes": [20, 40], "folds": 5},
        quick={"n_rows": 200, "epochs": [2, 4], "batch_sizes": [20, 40], "folds": 2},
        timed=(Metric("time_s", "cold grid s"),),
        extras=(
            Metric("rerun_s", "same search again in-process s"),
            Metric("best_score", "best CV accuracy", ".3f"),
        ),
    ),
)

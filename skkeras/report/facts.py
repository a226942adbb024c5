"""The numbers of the report (``Report.data``, what ``report.json`` holds), from the folds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .data_checks import label
from .render import display_params

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from .run import Candidate


def dataset_facts(X: pd.DataFrame, y_series: pd.Series, y: np.ndarray, name: str,
                   task: str) -> dict[str, Any]:
    numeric = [str(c) for c in X.select_dtypes(include=np.number).columns]
    facts: dict[str, Any] = {
        "name": name, "task": task,
        "target": str(y_series.name) if y_series.name is not None else "target",
        "n_samples": len(y), "n_features": int(X.shape[1]),
        "feature_names": [str(c) for c in X.columns], "numeric_features": numeric,
        "categorical_features": [str(c) for c in X.columns if str(c) not in numeric],
    }
    if task == "classification":
        labels, counts = np.unique(y, return_counts=True)
        facts["target_type"] = "binary" if len(labels) == 2 else "multiclass"
        facts["classes"] = [label(c) for c in labels]
        facts["class_counts"] = {str(label(c)): int(n) for c, n in zip(labels, counts, strict=True)}
    else:
        facts["target_type"] = "continuous"
        facts["target_summary"] = {"min": float(np.min(y)), "max": float(np.max(y)),
                                   "mean": float(np.mean(y)), "std": float(np.std(y))}
    return facts


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def best_candidate_facts(best: Candidate, metrics: Sequence[str]) -> dict[str, Any]:
    folds = [
        {"fold": k, "n_train": f.n_train, "n_test": f.n_test, "scores": f.scores,
         "score_time": f.score_time, "epochs_run": len(f.history.get("loss", [])),
         "final_loss": (f.history.get("loss") or [float("nan")])[-1],
         "final_val_loss": (f.history.get("val_loss") or [float("nan")])[-1]}
        for k, f in enumerate(best.folds, start=1)
    ]
    return {"folds": folds, "summary": {m: _stats(best.metric(m)) for m in metrics}}


def model_facts(c: Candidate, kind: str, title: str, seconds: float, metrics) -> dict[str, Any]:
    return {"name": c.name, "kind": kind, "title": title, "seconds": seconds,
            "scores": {m: {"folds": c.metric(m).tolist(), **_stats(c.metric(m))} for m in metrics}}


def search_facts(candidates: Sequence[Candidate], ranks: np.ndarray, metrics,
                  names: Mapping[str, str]) -> dict[str, Any]:
    best_index = int(np.argmin(ranks))
    return {
        "selection_metric": metrics[0],
        "best_index": best_index,
        "best_params": display_params(candidates[best_index].params, names),
        "candidates": [
            {"params": display_params(c.params, names), "rank": int(rank),
             "scores": {m: {"folds": c.metric(m).tolist(), **_stats(c.metric(m))} for m in metrics}}
            for c, rank in zip(candidates, ranks, strict=True)
        ],
    }


def curve_facts(best: Candidate, y: np.ndarray, classes: np.ndarray | None) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    curves: dict[str, Any] = {"loss": [f.history for f in best.folds]}
    order = np.concatenate([f.test_index for f in best.folds])
    predicted = np.concatenate([f.y_pred for f in best.folds])
    if classes is not None:
        matrix = confusion_matrix(y[order], predicted, labels=classes)
        curves["confusion_matrix"] = {"labels": [label(c) for c in classes],
                                      "matrix": matrix.tolist(), "rows": "true class",
                                      "columns": "predicted class"}
    else:
        residuals = y[order] - predicted
        curves["residuals"] = {**_stats(residuals), "quantiles": {
            str(q): float(np.quantile(residuals, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}}
    return curves


def environment() -> dict[str, str]:
    import platform

    import keras
    import sklearn

    from .. import __version__

    return {"skkeras": __version__, "keras": keras.__version__,
            "keras_backend": keras.backend.backend(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__,
            "python": platform.python_version()}

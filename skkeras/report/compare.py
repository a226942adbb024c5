"""Paired comparison of fold scores: Nadeau and Bengio's corrected resampled t-test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["corrected_ttest"]

#: Metrics for which lower is better.
LOWER_IS_BETTER = frozenset({"rmse", "mae"})

TTEST_NAME = "Nadeau and Bengio's corrected resampled t-test"
TTEST_CAVEAT = (
    "Fold scores share training rows, so they are not independent: the corrected t-test "
    "widens the variance by n_test/n_train for that, but it was derived for repeated random "
    "splits and is only approximate for one k-fold run, and with few folds it has little "
    "power. Read its p-values as a guide, not a proof."
)


# ------------------------------------------------------------------ the comparison
def corrected_ttest(
    scores_a: Sequence[float], scores_b: Sequence[float], n_train: int, n_test: int
) -> dict[str, float]:
    """Nadeau and Bengio's corrected resampled t-test of paired fold scores.

    With the differences ``d = a - b`` over ``k`` folds, the variance of their
    mean is taken as ``(1/k + n_test/n_train) * var(d)`` (sample variance)
    instead of ``var(d)/k``, since folds share training rows; the statistic has
    ``k - 1`` degrees of freedom (Nadeau & Bengio, 2003, "Inference for the
    generalization error").

    Parameters
    ----------
    scores_a, scores_b : sequence of float
        Scores of two models on the same folds.
    n_train, n_test : int
        Rows in a training and a test fold.

    Returns
    -------
    dict
        ``mean_difference``, ``std_difference`` (sample std), ``t`` and
        ``p_value`` (two-sided); NaN where undefined (fewer than 2 folds).
    """
    from scipy import stats

    d = np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float)
    k = len(d)
    mean = float(np.mean(d)) if k else float("nan")
    if k < 2 or not np.all(np.isfinite(d)):
        return {"mean_difference": mean, "std_difference": float("nan"),
                "t": float("nan"), "p_value": float("nan")}
    var = float(np.var(d, ddof=1))
    corrected = (1.0 / k + n_test / n_train) * var
    if corrected == 0:
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / math.sqrt(corrected)
        p = float(2 * stats.t.sf(abs(t), df=k - 1))
    return {"mean_difference": mean, "std_difference": math.sqrt(var), "t": float(t),
            "p_value": p}


def comparison(net: Any, baselines: Sequence[Any], metrics: Sequence[str]) -> dict:
    n_train = int(np.mean([f.n_train for f in net.folds]))
    n_test = int(np.mean([f.n_test for f in net.folds]))
    rows = []
    for baseline in baselines:
        for metric in metrics:
            test = corrected_ttest(net.metric(metric), baseline.metric(metric), n_train, n_test)
            better = test["mean_difference"] < 0 if metric in LOWER_IS_BETTER else (
                test["mean_difference"] > 0)
            if not test["p_value"] < 0.05:
                verdict = "no clear difference"
            else:
                verdict = "network better" if better else "network worse"
            rows.append({"baseline": baseline.name, "metric": metric, **test, "verdict": verdict})
    return {"test": TTEST_NAME, "metric": metrics[0], "alpha": 0.05, "caveat": TTEST_CAVEAT,
            "n_train": n_train, "n_test": n_test, "rows": rows}



"""The paired comparison: Nadeau and Bengio's corrected resampled t-test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from skkeras.report import corrected_ttest
from skkeras.report.compare import comparison


def test_corrected_ttest_against_a_hand_computed_example():
    # Differences 0.02, 0.04, 0.01, 0.03, 0.05 over 5 folds (test:train = 1:4):
    # mean 0.03, sample variance 0.001/4 = 0.00025, corrected by (1/5 + 1/4) = 0.45:
    # 0.0001125, so t = 0.03 / sqrt(0.0001125) = 2*sqrt(2) with 4 degrees of freedom.
    # For 4 degrees of freedom Student's CDF has a closed form:
    # F(t) = 1/2 + (3/4) x (1 - x**2 / 3), with x = t / sqrt(4 + t**2); p = 2 (1 - F(t)).
    a = [0.82, 0.84, 0.81, 0.83, 0.85]
    b = [0.80] * 5
    result = corrected_ttest(a, b, n_train=400, n_test=100)
    assert result["mean_difference"] == pytest.approx(0.03)
    assert result["std_difference"] == pytest.approx(math.sqrt(0.00025))
    assert result["t"] == pytest.approx(2 * math.sqrt(2))
    t = 2 * math.sqrt(2)
    x = t / math.sqrt(4 + t * t)
    p_by_hand = 2 * (1 - (0.5 + 0.75 * x * (1 - x * x / 3)))
    assert p_by_hand == pytest.approx(0.0474, abs=1e-4)
    assert result["p_value"] == pytest.approx(p_by_hand, rel=1e-9)


def test_the_correction_widens_the_plain_paired_t_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.80, 0.02, 10), rng.normal(0.79, 0.02, 10)
    plain = stats.ttest_rel(a, b)
    corrected = corrected_ttest(a, b, n_train=900, n_test=100)
    assert corrected["t"] == pytest.approx(plain.statistic / math.sqrt(1 + 10 * 100 / 900))
    assert corrected["p_value"] > plain.pvalue


def test_degenerate_cases():
    equal = corrected_ttest([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 20, 10)
    assert equal["t"] == 0 and equal["p_value"] == 1
    constant_gap = corrected_ttest([0.6, 0.6], [0.5, 0.5], 20, 10)
    assert constant_gap["t"] == math.inf and constant_gap["p_value"] == 0
    one_fold = corrected_ttest([0.6], [0.5], 20, 10)
    assert math.isnan(one_fold["p_value"]) and one_fold["mean_difference"] == pytest.approx(0.1)


class _Folds:
    def __init__(self, name, scores, n_train=80, n_test=20):
        self.name = name
        self.scores = scores
        self.folds = [type("F", (), {"n_train": n_train, "n_test": n_test})()
                      for _ in next(iter(scores.values()))]

    def metric(self, name):
        return np.asarray(self.scores[name], dtype=float)


def test_verdicts_follow_each_metrics_direction():
    net = _Folds("net", {"r2": [0.9, 0.91, 0.92, 0.9, 0.91], "rmse": [1.0, 1.1, 1.0, 1.05, 1.0]})
    worse = _Folds("dummy", {"r2": [0.0, -0.01, 0.0, -0.02, 0.0], "rmse": [5.0, 5.2, 5.1, 5.0, 5.3]})
    result = comparison(net, [worse], ["r2", "rmse"])
    verdicts = {r["metric"]: r["verdict"] for r in result["rows"]}
    assert verdicts == {"r2": "network better", "rmse": "network better"}  # lower RMSE is better
    close = _Folds("ridge", {"r2": [0.91, 0.9, 0.91, 0.91, 0.9], "rmse": [1.0, 1.1, 1.0, 1.0, 1.1]})
    assert {r["verdict"] for r in comparison(net, [close], ["r2", "rmse"])["rows"]} == {
        "no clear difference"}
    assert result["metric"] == "r2" and "approximate" in result["caveat"]

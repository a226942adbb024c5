"""Tests for skkeras.report: the cross-validated report behind ``skkeras report``.

Two small reports are computed once per module (a 2-candidate grid on a toy
classification table, and plain CV on a housing subsample) and inspected by
several tests; everything else runs without training.
"""

from __future__ import annotations

import json
import math
import re
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score

from skkeras import KerasClassifier, KerasRegressor
from skkeras.datasets import load_california_housing
from skkeras.report import (
    Report,
    ReportError,
    _grid_to_params,
    _json_safe,
    _progress,
    _ranks,
    cross_validated_report,
    default_batch_size,
    default_estimator,
    infer_task,
    parse_grid,
    parse_hidden,
)


def toy_classification_frame(n: int = 120) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric and categorical columns, missing values in both, string labels."""
    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0,
                               random_state=0)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame.loc[rng.choice(n, 5, replace=False), "b"] = np.nan
    frame["colour"] = rng.choice(["red", "green", "blue"], size=n).astype(object)
    frame.loc[rng.choice(n, 4, replace=False), "colour"] = None
    labels = pd.Series(np.where(y == 1, "pos", "neg"), name="label", dtype=object)
    return frame, labels


@pytest.fixture(scope="module")
def classification_report() -> Report:
    X, y = toy_classification_frame()
    y.iloc[[0, 1, 2]] = None  # rows without a target are dropped, and noted
    return cross_validated_report(
        X, y, name="toy", cv=2, grid="epochs=1,2", batch_size=32, hidden=(4,), random_state=0,
    )


@pytest.fixture(scope="module")
def regression_report() -> Report:
    X, y = load_california_housing(return_X_y=True, as_frame=True)
    X, y = X.sample(160, random_state=0), y.sample(160, random_state=0)
    return cross_validated_report(X, y, name="housing", cv=2, epochs=2, hidden=(4,))


# ------------------------------------------------------------------ parsing settings
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("epochs=10,50;batch_size=16,32", {"epochs": [10, 50], "batch_size": [16, 32]}),
        (" epochs = 5 ; ", {"epochs": [5]}),
        ("optimizer=adam,rmsprop", {"optimizer": ["adam", "rmsprop"]}),
        ("learning_rate=1e-3,0.01", {"optimizer__learning_rate": [0.001, 0.01]}),
        ("hidden=(32,16),(64,),8", {"model__hidden_layer_sizes": [(32, 16), (64,), 8]}),
        ("model__dropout=0.0,0.2;init='he normal'", {"model__dropout": [0.0, 0.2],
                                                     "init": ["he normal"]}),
    ],
)
def test_parse_grid(text, expected):
    assert parse_grid(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("epochs", "cannot parse 'epochs'"),
        ("epochs=", "cannot parse"),
        ("=10", "cannot parse"),
        ("epochs=10,,50", "empty value"),
        ("epochs=10;epochs=20", "given twice"),
        ("hidden=(32,16", "unbalanced"),
        ("epochs=ten", "positive integers"),
        ("batch_size=0", "positive integers"),
        ("optimizer=a b", "cannot read value"),
    ],
)
def test_parse_grid_errors_are_one_line(text, message):
    with pytest.raises(ReportError, match=re.escape(message)) as info:
        parse_grid(text)
    assert "\n" not in str(info.value)


def test_parse_hidden():
    assert parse_hidden("32,16") == (32, 16)
    assert parse_hidden(" 8 ") == (8,)
    for bad in ("", "a,b", "32,0", "-1"):
        with pytest.raises(ReportError, match="positive layer sizes"):
            parse_hidden(bad)


@pytest.mark.parametrize(
    ("y", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 1, 0], "classification"),
        ([0.0, 1.0, 2.0, 1.0], "classification"),
        (np.arange(100), "regression"),
        ([0.5, 1.25, 3.0], "regression"),
        (pd.Series(["x", "y"], dtype="category"), "classification"),
    ],
)
def test_infer_task(y, task):
    assert infer_task(y) == task


def test_default_batch_size():
    assert default_batch_size(614) == 32
    assert default_batch_size(16512) == 256


def test_default_estimator_shapes_and_grid_names():
    classifier = default_estimator("classification", epochs=3, batch_size=8, hidden=(5, 2))
    assert [name for name, _ in classifier.steps] == ["preprocess", "net"]
    net = classifier["net"]
    assert isinstance(net, KerasClassifier)
    assert (net.epochs, net.batch_size, net.random_state) == (3, 8, 0)
    assert net.get_params()["model__hidden_layer_sizes"] == (5, 2)

    regressor = default_estimator("regression")
    assert isinstance(regressor, TransformedTargetRegressor)
    assert isinstance(regressor.regressor["net"], KerasRegressor)
    assert _grid_to_params({"epochs": [1], "preprocess__numeric__impute__strategy": ["mean"]},
                           "regression") == {
        "regressor__net__epochs": [1],
        "regressor__preprocess__numeric__impute__strategy": ["mean"],
    }


def test_ranks_and_json_safety():
    np.testing.assert_array_equal(_ranks(np.array([0.5, 0.7, 0.5, np.nan])), [2, 1, 2, 4])
    safe = _json_safe({"a": np.float32(1.5), "b": [np.nan, np.inf], "c": np.arange(2), "d": (1,)})
    assert safe == {"a": 1.5, "b": [None, None], "c": [0, 1], "d": [1]}
    json.dumps(safe, allow_nan=False)


def test_progress_bar_only_when_enabled(capsys):
    bar = _progress(2, enabled=False)
    bar.update(1)
    bar.close()
    assert capsys.readouterr().err == ""
    bar = _progress(2, enabled=True)
    bar.set_postfix_str("fold 1/2")
    bar.update(2)
    bar.close()
    assert "cross-validating" in capsys.readouterr().err


# ------------------------------------------------------------------ errors, no training
def test_one_class_target_is_an_error():
    X, _ = toy_classification_frame(20)
    with pytest.raises(ReportError, match=r"only one class \('pos'\)"):
        cross_validated_report(X, ["pos"] * 20, cv=2)


def test_class_smaller_than_folds_is_an_error():
    X, _ = toy_classification_frame(20)
    y = ["a"] * 18 + ["b"] * 2
    with pytest.raises(ReportError, match="Class 'b' has 2 rows, fewer than the 5 folds"):
        cross_validated_report(X, y, cv=5)


def test_other_data_errors():
    X, y = toy_classification_frame(20)
    with pytest.raises(ReportError, match="constant"):
        cross_validated_report(X, np.full(20, 3.5), cv=2)
    with pytest.raises(ReportError, match="missing in every row"):
        cross_validated_report(X, [None] * 20, cv=2)
    with pytest.raises(ReportError, match="at least 2"):
        cross_validated_report(X, y, cv=1)
    with pytest.raises(ReportError, match="needs at least 50 rows"):
        cross_validated_report(X, y, cv=50)
    with pytest.raises(ReportError, match="no feature columns"):
        cross_validated_report(X[[]], y, cv=2)
    with pytest.raises(ReportError, match="task must be"):
        cross_validated_report(X, y, cv=2, task="clustering")


def test_unknown_grid_parameter_fails_before_training(monkeypatch):
    import skkeras.report as report_module

    monkeypatch.setattr(report_module, "_run_fold", pytest.fail)
    X, y = toy_classification_frame(20)
    with pytest.raises(ReportError, match="unknown parameter 'no_such_thing'"):
        cross_validated_report(X, y, cv=2, grid="no_such_thing=1,2")


# ------------------------------------------------------------------ a classification report
def test_classification_report_numbers(classification_report):
    data = classification_report.data
    assert data["dataset"]["task"] == "classification"
    assert data["dataset"]["n_samples"] == 117
    assert data["dataset"]["classes"] == ["neg", "pos"]
    assert data["dataset"]["numeric_features"] == ["a", "b", "c", "d"]
    assert data["dataset"]["categorical_features"] == ["colour"]
    assert any("3 rows without a target" in note for note in data["notes"])
    assert data["metrics"] == ["accuracy", "balanced_accuracy", "roc_auc", "f1"]
    assert len(data["folds"]) == 2
    for fold in data["folds"]:
        assert set(fold["scores"]) == set(data["metrics"])
        assert all(0.0 <= v <= 1.0 for v in fold["scores"].values())
        assert fold["fit_time"] > 0 and fold["score_time"] > 0
    for metric in data["metrics"]:
        values = [f["scores"][metric] for f in data["folds"]]
        assert data["summary"][metric]["mean"] == pytest.approx(np.mean(values))
        assert data["summary"][metric]["std"] == pytest.approx(np.std(values))
    assert data["timing"]["n_fits"] == 4


def test_fold_scores_match_the_out_of_fold_predictions(classification_report):
    report = classification_report
    for fold, result in zip(report.data["folds"], report.best.folds, strict=True):
        truth = report.y[result.test_index]
        assert fold["scores"]["accuracy"] == pytest.approx(accuracy_score(truth, result.y_pred))
        assert result.y_score.shape == (len(truth), 2)
        np.testing.assert_allclose(result.y_score.sum(axis=1), 1.0, atol=1e-6)
    matrix = np.array(report.data["curves"]["confusion_matrix"]["matrix"])
    assert matrix.sum() == report.data["dataset"]["n_samples"]


def test_grid_search_ranks_candidates_and_reports_the_best(classification_report):
    search = classification_report.data["search"]
    assert search["selection_metric"] == "accuracy"
    assert [c["params"] for c in search["candidates"]] == [{"epochs": 1}, {"epochs": 2}]
    best = min(search["candidates"], key=lambda c: c["rank"])
    assert search["best_params"] == best["params"]
    means = [c["scores"]["accuracy"]["mean"] for c in search["candidates"]]
    assert best["scores"]["accuracy"]["mean"] == max(means)
    assert classification_report.data["folds"][0]["epochs_run"] == best["params"]["epochs"]
    assert [len(h["loss"]) for h in classification_report.data["curves"]["loss"]] == [
        best["params"]["epochs"]
    ] * 2


def test_terminal_table(classification_report):
    table = classification_report.format_table()
    assert table.startswith("skkeras report: toy")
    assert "binary classification of 'label' (neg: " in table
    assert "Grid search: 2 candidates, best by mean accuracy" in table
    assert "Best params: epochs=" in table
    assert "epochs from the grid" in table
    fold_lines = [line for line in table.splitlines() if re.match(r"[12]\s+0\.\d{3}", line)]
    assert len(fold_lines) == 2
    assert re.search(r"mean ± std\s+0\.\d{3} ± 0\.\d{3}", table)
    assert "positive class 'pos'" in table


def test_json_holds_every_number(classification_report, tmp_path):
    paths = classification_report.write(tmp_path / "out", plots=False)
    text = paths["json"].read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data == _json_safe(classification_report.data)
    assert data["format_version"] == 1
    assert data["settings"]["grid"] == {"epochs": [1, 2]}
    assert data["settings"]["splitter"].startswith("StratifiedKFold(n_splits=2")
    assert len(data["search"]["candidates"][0]["scores"]["roc_auc"]["folds"]) == 2
    assert {"total_s", "fit_s", "score_s", "n_fits"} <= set(data["timing"])
    assert data["environment"]["keras_backend"]


def test_html_is_self_contained_with_every_section(classification_report, tmp_path):
    pytest.importorskip("matplotlib")
    paths = classification_report.write(tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for section in ("data", "settings", "search", "scores", "confusion-matrix-table", "plots",
                    "loss-curves", "confusion-matrix", "roc-curve", "environment"):
        assert f'id="{section}"' in page, section
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert all(len(image) > 1000 for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    assert "Best params" in page and "mean ± std" in page


def test_html_without_matplotlib_says_how_to_get_plots(classification_report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = classification_report.to_html()
    assert "skkeras[plot]" in page
    assert "data:image/png" not in page


# ------------------------------------------------------------------ a regression report
def test_regression_report(regression_report):
    data = regression_report.data
    assert data["dataset"]["task"] == "regression"
    assert data["dataset"]["categorical_features"] == ["ocean_proximity"]
    assert data["metrics"] == ["r2", "rmse", "mae"]
    assert data["search"] is None
    assert data["settings"]["splitter"].startswith("KFold(n_splits=2")
    for fold, result in zip(data["folds"], regression_report.best.folds, strict=True):
        truth = regression_report.y[result.test_index]
        assert fold["scores"]["r2"] == pytest.approx(r2_score(truth, result.y_pred))
        assert fold["scores"]["mae"] == pytest.approx(mean_absolute_error(truth, result.y_pred))
        assert fold["scores"]["rmse"] >= fold["scores"]["mae"] > 1000  # dollars, not scaled
    assert math.isfinite(data["curves"]["residuals"]["std"])
    table = regression_report.format_table()
    assert "regression of 'median_house_value'" in table
    assert "RMSE and MAE in the units of 'median_house_value'" in table


def test_regression_html_sections(regression_report):
    pytest.importorskip("matplotlib")
    page = regression_report.to_html()
    for section in ("scores", "loss-curves", "predicted-vs-actual", "residuals"):
        assert f'id="{section}"' in page, section
    assert 'id="search"' not in page and 'id="roc-curve"' not in page

"""Tests for skkeras.report: the cross-validated report behind ``skkeras report``.

Small reports are computed once per module (a 2-candidate grid on a toy
classification table with every baseline, and plain CV on a housing subsample)
and inspected by several tests; the rest runs without training or with tiny nets.
"""

from __future__ import annotations

import json
import math
import re
import sys

import keras
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
    cross_validated_report,
    default_estimator,
    infer_task,
    parse_baselines,
    parse_grid,
    parse_hidden,
    parse_params,
)
from skkeras.report import figures as figures_module
from skkeras.report import run as run_module
from skkeras.report.render import _json_safe
from skkeras.report.run import _progress, _ranks


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


BUILT_WITH_UNITS: list[int] = []


def small_builder(meta, units=3):
    """A user's builder: its keyword argument comes from --param or the grid."""
    BUILT_WITH_UNITS.append(units)
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


@pytest.fixture(scope="module")
def classification_report() -> Report:
    X, y = toy_classification_frame()
    y.iloc[[0, 1, 2]] = None  # rows without a target are dropped, and noted
    return cross_validated_report(
        None, X, y, name="toy", cv=2, grid="epochs=1,2", batch_size=32, hidden=(4,),
        random_state=0, validation_split=0.1,
    )


@pytest.fixture(scope="module")
def regression_report() -> Report:
    X, y = load_california_housing(return_X_y=True, as_frame=True)
    X, y = X.sample(160, random_state=0), y.sample(160, random_state=0)
    return cross_validated_report(None, X, y, name="housing", cv=2, epochs=2, hidden=(4,),
                                  baselines="ridge,dummy")


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


def test_parse_params_and_baselines():
    assert parse_params(["units=32", "learning_rate=1e-3", "activation=tanh"]) == {
        "units": 32, "optimizer__learning_rate": 0.001, "activation": "tanh"}
    for bad, message in ((["units"], "expected name=value"), (["a=1", "a=2"], "given twice"),
                         (["epochs=0"], "positive integers"), (["x=a b"], "cannot parse")):
        with pytest.raises(ReportError, match=message):
            parse_params(bad)
    assert parse_baselines("default", "classification") == (
        "logistic", "hist_gradient_boosting", "dummy")
    assert parse_baselines("none", "regression") == ()
    assert parse_baselines("dummy, ridge", "regression") == ("dummy", "ridge")
    with pytest.raises(ReportError, match="unknown baseline 'ridge' for classification"):
        parse_baselines("ridge", "classification")


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


def test_default_estimator_shapes():
    classifier = default_estimator("classification", epochs=3, batch_size=8, hidden=(5, 2))
    assert [name for name, _ in classifier.steps] == ["preprocess", "net"]
    net = classifier["net"]
    assert isinstance(net, KerasClassifier)
    assert (net.epochs, net.batch_size, net.random_state, net.validation_split) == (3, 8, 0, 0.0)
    assert net.get_params()["model__hidden_layer_sizes"] == (5, 2)
    assert default_estimator("classification")["net"].batch_size is None  # the estimators' own
    regressor = default_estimator("regression")
    assert isinstance(regressor, TransformedTargetRegressor)
    assert isinstance(regressor.regressor["net"], KerasRegressor)


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
    bar.set_postfix_str("network")
    bar.update(2)
    bar.close()
    assert "cross-validating" in capsys.readouterr().err


# ------------------------------------------------------------------ errors, no training
def test_one_class_target_is_an_error():
    X, _ = toy_classification_frame(20)
    with pytest.raises(ReportError, match=r"only one class \('pos'\)"):
        cross_validated_report(None, X, ["pos"] * 20, cv=2)


def test_class_smaller_than_folds_is_an_error():
    X, _ = toy_classification_frame(20)
    y = ["a"] * 18 + ["b"] * 2
    with pytest.raises(ReportError, match="Class 'b' has 2 rows, fewer than the 5 folds"):
        cross_validated_report(None, X, y, cv=5)


def test_other_data_errors():
    X, y = toy_classification_frame(20)
    with pytest.raises(ReportError, match="constant"):
        cross_validated_report(None, X, np.full(20, 3.5), cv=2)
    with pytest.raises(ReportError, match="missing in every row"):
        cross_validated_report(None, X, [None] * 20, cv=2)
    with pytest.raises(ReportError, match="at least 2"):
        cross_validated_report(None, X, y, cv=1)
    with pytest.raises(ReportError, match="needs at least 50 rows"):
        cross_validated_report(None, X, y, cv=50)
    with pytest.raises(ReportError, match="no feature columns"):
        cross_validated_report(None, X[[]], y, cv=2)
    with pytest.raises(ReportError, match="task must be"):
        cross_validated_report(None, X, y, cv=2, task="clustering")
    with pytest.raises(ReportError, match="model must be None, a function"):
        cross_validated_report(42, X, y, cv=2)
    with pytest.raises(ReportError, match=r"validation_split must be in \[0, 1\)"):
        cross_validated_report(None, X, y, cv=2, validation_split=1.5)


def test_unknown_grid_parameter_fails_before_training(monkeypatch):
    monkeypatch.setattr(run_module, "_run_net", pytest.fail)
    X, y = toy_classification_frame(20)
    with pytest.raises(ReportError, match="unknown parameter 'no_such_thing'"):
        cross_validated_report(None, X, y, cv=2, grid="no_such_thing=1,2")


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
    for metric in data["metrics"]:
        values = [f["scores"][metric] for f in data["folds"]]
        assert data["summary"][metric]["mean"] == pytest.approx(np.mean(values))
        assert data["summary"][metric]["std"] == pytest.approx(np.std(values))
    assert data["timing"]["n_fits"] == 4 + 3 * 2  # 2 candidates and 3 baselines, 2 folds each
    assert data["timing"]["compile_s"] > 0 and data["timing"]["net_s"] > 0


def test_fold_scores_match_the_out_of_fold_predictions(classification_report):
    report = classification_report
    for fold, result in zip(report.data["folds"], report.best.folds, strict=True):
        truth = report.y[result.test_index]
        assert fold["scores"]["accuracy"] == pytest.approx(accuracy_score(truth, result.y_pred))
        assert result.y_score.shape == (len(truth), 2)
        np.testing.assert_allclose(result.y_score.sum(axis=1), 1.0, atol=1e-6)
    matrix = np.array(report.data["curves"]["confusion_matrix"]["matrix"])
    assert matrix.sum() == report.data["dataset"]["n_samples"]


def test_baselines_run_on_the_same_folds(classification_report):
    report = classification_report
    models = report.data["models"]
    assert [m["name"] for m in models] == ["net", "logistic", "hist_gradient_boosting", "dummy"]
    net_tests = [tuple(np.sort(f.test_index)) for f in report.best.folds]
    for baseline in report.baselines:
        assert [tuple(np.sort(f.test_index)) for f in baseline.folds] == net_tests
    dummy = next(b for b in report.baselines if b.name == "dummy")
    assert dummy.metric("roc_auc") == pytest.approx([0.5, 0.5])
    assert dummy.metric("balanced_accuracy") == pytest.approx([0.5, 0.5])
    comparison = report.data["comparison"]
    rows = [r for r in comparison["rows"] if r["metric"] == "accuracy"]
    assert [r["baseline"] for r in rows] == ["logistic", "hist_gradient_boosting", "dummy"]
    for row, baseline in zip(rows, report.baselines, strict=True):
        differences = report.best.metric("accuracy") - baseline.metric("accuracy")
        assert row["mean_difference"] == pytest.approx(differences.mean())
    assert "not independent" in comparison["caveat"]


def test_grid_search_ranks_candidates_and_reports_the_best(classification_report):
    search = classification_report.data["search"]
    assert search["selection_metric"] == "accuracy"
    assert [c["params"] for c in search["candidates"]] == [{"epochs": 1}, {"epochs": 2}]
    best = min(search["candidates"], key=lambda c: c["rank"])
    assert search["best_params"] == best["params"]
    means = [c["scores"]["accuracy"]["mean"] for c in search["candidates"]]
    assert best["scores"]["accuracy"]["mean"] == max(means)
    assert classification_report.data["folds"][0]["epochs_run"] == best["params"]["epochs"]
    losses = classification_report.data["curves"]["loss"]
    assert [len(h["loss"]) for h in losses] == [best["params"]["epochs"]] * 2
    assert all(len(h["val_loss"]) == best["params"]["epochs"] for h in losses)  # validation curves


def test_terminal_table_has_every_note_of_the_html(classification_report):
    table = classification_report.format_table()
    assert table == str(classification_report)
    assert table.startswith("skkeras report: toy")
    assert "binary classification of 'label' (neg: " in table
    assert "Grid search: 2 candidates, best by mean accuracy" in table
    assert "Best params: epochs=" in table and "epochs from the grid" in table
    assert re.search(r"mean ± std\s+0\.\d{3} ± 0\.\d{3}", table)
    assert "positive class 'pos'" in table
    assert "LogisticRegression" in table and "Paired comparison of accuracy" in table
    assert "optimistic" in table  # the grid's note, in the terminal as in the HTML
    page = classification_report.to_html(plots=False)
    notes = re.findall(r'<p class="(?:note|warning)">(.*?)</p>', page, flags=re.S)
    assert len(notes) >= 3
    for note in notes:
        text = note.replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&")
        if "Plots were not drawn" in text:
            continue  # plots=False here; the CLI prints its own hint
        assert text in table, text


def test_json_holds_every_number(classification_report, tmp_path):
    paths = classification_report.save(tmp_path / "out", plots=False)
    text = paths["json"].read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data == json.loads(classification_report.to_json())
    assert data["format_version"] == 2
    assert data["settings"]["grid"] == {"epochs": [1, 2]}
    assert data["settings"]["splitter"].startswith("StratifiedKFold(n_splits=2")
    assert len(data["search"]["candidates"][0]["scores"]["roc_auc"]["folds"]) == 2
    assert {"total_s", "compile_s", "net_s", "baselines_s", "n_fits"} <= set(data["timing"])
    assert data["environment"]["keras_backend"]
    assert data["data_checks"]["missing"] == {"b": 5, "colour": 4}


def test_html_is_self_contained_with_every_section(classification_report, tmp_path):
    page = classification_report.to_html()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for section in ("data", "notes", "settings", "search", "scores", "baselines",
                    "confusion-matrix-table", "plots", "loss-curves", "fold-scores",
                    "confusion-matrix", "roc-curves", "environment"):
        assert f'id="{section}"' in page, section
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4 and all(len(image) > 1000 for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    assert "of the best candidate (epochs=" in page  # the grid's loss plot says whose it is
    assert "validation loss on the held-out part" in page
    fragment = classification_report._repr_html_()  # a notebook shows the page's body
    assert fragment.startswith('<div class="skkeras-report">') and "<html" not in fragment


def test_without_matplotlib_the_page_says_how_to_get_plots(classification_report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert "pip install matplotlib" in classification_report.plot_hint()
    page = classification_report.to_html()
    assert "Plots were not drawn" in page and "data:image/png" not in page


# ------------------------------------------------------------------ a regression report
def test_regression_report(regression_report):
    data = regression_report.data
    assert data["dataset"]["task"] == "regression"
    assert data["dataset"]["categorical_features"] == ["ocean_proximity"]
    assert data["metrics"] == ["r2", "rmse", "mae"]
    assert data["search"] is None
    assert data["settings"]["splitter"].startswith("KFold(n_splits=2")
    assert [m["title"] for m in data["models"]] == [data["model"]["network"], "Ridge", "Dummy"]
    for fold, result in zip(data["folds"], regression_report.best.folds, strict=True):
        truth = regression_report.y[result.test_index]
        assert fold["scores"]["r2"] == pytest.approx(r2_score(truth, result.y_pred))
        assert fold["scores"]["mae"] == pytest.approx(mean_absolute_error(truth, result.y_pred))
        assert fold["scores"]["rmse"] >= fold["scores"]["mae"] > 1000  # dollars, not scaled
    assert math.isfinite(data["curves"]["residuals"]["std"])
    dummy = regression_report.baselines[-1]
    assert np.all(dummy.metric("r2") <= 0.0)
    table = regression_report.format_table()
    assert "regression of 'median_house_value'" in table
    assert "RMSE and MAE in the units of 'median_house_value'" in table


def test_regression_plots_say_when_they_subsample(regression_report, monkeypatch):
    page = regression_report.to_html()
    for section in ("scores", "loss-curves", "predicted-vs-actual", "residuals", "fold-scores"):
        assert f'id="{section}"' in page, section
    assert 'id="search"' not in page and 'id="roc-curves"' not in page
    assert "random subsample" not in page  # 160 points: all drawn
    monkeypatch.setattr(figures_module, "MAX_POINTS", 50)
    figures = regression_report.figures()
    assert "50 of 160 points are shown, a random subsample" in figures["Predicted vs actual"][1]


# ------------------------------------------------------------------ the user's own network
def test_a_users_builder_with_params_and_grid():
    X, y = toy_classification_frame(60)
    BUILT_WITH_UNITS.clear()
    report = cross_validated_report(
        small_builder, X, y, cv=2, epochs=2, params={"units": 2}, baselines="none",
        validation_split=0.0,
    )
    assert set(BUILT_WITH_UNITS) == {2}
    assert report.data["model"]["network"] == "small_builder from tests.test_report" or \
        report.data["model"]["network"].startswith("small_builder from ")
    assert report.data["comparison"] is None and len(report.data["models"]) == 1
    assert "Against baselines" not in report.format_table()
    BUILT_WITH_UNITS.clear()
    report = cross_validated_report(small_builder, X, y, cv=2, epochs=1, grid="units=4,5",
                                    baselines="none")
    assert set(BUILT_WITH_UNITS) == {4, 5}  # units=2 was built above: reused
    assert [c["params"] for c in report.data["search"]["candidates"]] == [
        {"units": 4}, {"units": 5}]


def test_a_users_estimator_keeps_its_own_settings():
    X, y = toy_classification_frame(60)
    net = KerasClassifier(model__hidden_layer_sizes=(3,), epochs=2, random_state=1)
    report = cross_validated_report(net, X, y, cv=2, baselines="dummy")
    assert report.data["settings"]["epochs"] == 2
    assert report.data["settings"]["validation_split"] == 0.0  # the estimator's own
    assert report.data["folds"][0]["epochs_run"] == 2
    assert [m["name"] for m in report.data["models"]] == ["net", "dummy"]

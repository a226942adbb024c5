"""Tests for skkeras.plotting: Display objects and report plots, rendered with Agg."""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace

import matplotlib  # a dependency of skkeras
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skkeras import KerasClassifier, plotting  # noqa: E402
from skkeras.plotting import LossCurveDisplay  # noqa: E402

HISTORY = {"loss": [0.9, 0.6, 0.5, 0.45], "val_loss": [1.0, 0.7, 0.65, 0.66]}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_png_drawn(png: bytes) -> None:
    """A real PNG, with more than one colour in it (something was drawn)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 2000
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01


def render(figure) -> bytes:
    return plotting.figure_to_png(figure)


def test_loss_curve_display_from_history_sets_attributes():
    display = LossCurveDisplay.from_history(HISTORY)
    assert display.ax_.figure is display.figure_
    assert len(display.lines_) == 2
    assert display.line_ is display.lines_[0]
    np.testing.assert_allclose(display.line_.get_ydata(), HISTORY["loss"])
    np.testing.assert_array_equal(display.line_.get_xdata(), [1, 2, 3, 4])
    assert display.lines_[1].get_linestyle() == "--"
    assert display.ax_.get_xlabel() == "epoch"
    assert_png_drawn(render(display.figure_))


def test_loss_curve_display_plot_on_given_axes_and_metric_selection():
    figure, ax = plotting.new_figure()
    display = LossCurveDisplay([HISTORY]).plot(ax=ax, metrics="val_loss", log_scale=True)
    assert display.ax_ is ax and display.figure_ is figure
    assert [line.get_label() for line in display.lines_] == ["val_loss"]
    assert ax.get_yscale() == "log"
    assert_png_drawn(render(figure))


def test_loss_curve_display_several_runs_are_named():
    histories = [{"loss": [1.0, 0.5]}, {"loss": [0.8, 0.4]}, {"loss": [0.9, 0.3]}]
    display = LossCurveDisplay(histories, names=["fold 1", "fold 2", "fold 3"]).plot()
    assert [line.get_label() for line in display.lines_] == [
        "fold 1 loss", "fold 2 loss", "fold 3 loss"
    ]
    assert len({line.get_color() for line in display.lines_}) == 3


def test_loss_curve_display_from_cv_results_one_line_per_fold():
    fake = [SimpleNamespace(history_={"loss": [1.0, 0.5 + i / 10]}) for i in range(3)]
    display = LossCurveDisplay.from_cv_results({"estimator": fake})
    assert [line.get_label() for line in display.lines_] == [
        "fold 1 loss", "fold 2 loss", "fold 3 loss"
    ]
    with pytest.raises(ValueError, match="return_estimator=True"):
        LossCurveDisplay.from_cv_results({"test_score": [0.5]})


def test_loss_curve_display_errors():
    with pytest.raises(ValueError, match="not in history_"):
        LossCurveDisplay.from_history(HISTORY, metrics=["accuracy"])
    with pytest.raises(ValueError, match="Nothing to plot"):
        LossCurveDisplay([{}]).plot()
    with pytest.raises(ValueError, match="names has 1 entries"):
        LossCurveDisplay([HISTORY, HISTORY], names=["only one"])


def test_find_keras_estimator_looks_inside_meta_estimators():
    net = SimpleNamespace(history_=HISTORY)
    pipeline = SimpleNamespace(steps=[("scale", object()), ("net", net)])
    assert plotting.find_keras_estimator(net) is net
    assert plotting.find_keras_estimator(pipeline) is net
    assert plotting.find_keras_estimator(SimpleNamespace(regressor_=pipeline)) is net
    assert plotting.find_keras_estimator(SimpleNamespace(best_estimator_=pipeline)) is net
    with pytest.raises(ValueError, match="fit it first"):
        plotting.find_keras_estimator(TransformedTargetRegressor())


def test_loss_curve_display_from_fitted_pipeline(binary_data):
    X, y = binary_data
    net = KerasClassifier(
        model__hidden_layer_sizes=(4,), epochs=3, batch_size=64, validation_split=0.25,
        random_state=0,
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("net", net)]).fit(X, y)
    display = LossCurveDisplay.from_estimator(pipeline, name="mlp")
    assert [line.get_label() for line in display.lines_] == ["mlp loss", "mlp val_loss"]
    np.testing.assert_allclose(display.line_.get_ydata(), net.history_["loss"])
    assert_png_drawn(render(display.figure_))


def test_confusion_matrix_and_roc_curves_render():
    rng = np.random.default_rng(0)
    y = np.array(["no", "yes"] * 30)
    score = np.clip((y == "yes") * 0.4 + rng.random(60) * 0.6, 0, 1)
    predicted = np.where(score > 0.5, "yes", "no")

    figure, ax = plotting.new_figure()
    display = plotting.plot_confusion_matrix(y, predicted, labels=["no", "yes"], ax=ax)
    assert display.confusion_matrix.sum() == 60
    assert_png_drawn(render(figure))

    figure, ax = plotting.new_figure()
    folds = [slice(0, 30), slice(30, 60)]
    displays = plotting.plot_roc_curves(
        [y[f] for f in folds], [score[f] for f in folds], ["no", "yes"], ax=ax
    )
    assert len(displays) == 2 and all(0.5 < d.roc_auc <= 1 for d in displays)
    assert_png_drawn(render(figure))


def test_multiclass_roc_curves_one_per_class():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 20)
    proba = rng.dirichlet([1, 1, 1], size=60)
    figure, ax = plotting.new_figure()
    displays = plotting.plot_roc_curves(y, proba, ["a", "b", "c"], ax=ax)
    assert [d.name for d in displays] == ["a vs rest", "b vs rest", "c vs rest"]
    assert_png_drawn(render(figure))


@pytest.mark.parametrize("kind", ["actual_vs_predicted", "residual_vs_predicted"])
def test_prediction_error_renders(kind):
    rng = np.random.default_rng(0)
    y = rng.normal(size=200) * 1000
    figure, ax = plotting.new_figure()
    display = plotting.plot_prediction_error(y, y + rng.normal(size=200) * 100, kind=kind, ax=ax)
    assert display.ax_.get_title().endswith("(out-of-fold)")  # every point drawn
    assert_png_drawn(render(figure))


def test_prediction_error_says_when_it_subsamples():
    rng = np.random.default_rng(0)
    y = rng.normal(size=1500)
    figure, ax = plotting.new_figure()
    display = plotting.plot_prediction_error(y, y + rng.normal(size=1500), ax=ax, subsample=1000)
    assert "(1,000 of 1,500 points, a random subsample)" in display.ax_.get_title()
    assert len(display.scatter_.get_offsets()) == 1000


def test_fold_scores_join_each_fold_across_models():
    figure, ax = plotting.new_figure()
    scores = {"network": [0.8, 0.7, 0.75], "logistic": [0.78, 0.72, 0.7], "dummy": [0.6] * 3}
    plotting.plot_fold_scores(scores, metric="accuracy", ax=ax)
    fold_lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
    assert len(fold_lines) == 3  # one per fold, through the three models
    np.testing.assert_allclose(fold_lines[1].get_ydata(), [0.7, 0.72, 0.6])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(scores)
    assert ax.get_ylabel() == "accuracy"
    assert_png_drawn(render(figure))
    with pytest.raises(ValueError, match="same number of fold scores"):
        plotting.plot_fold_scores({"a": [1, 2], "b": [1]}, ax=ax)
    with pytest.raises(ValueError, match="scores is empty"):
        plotting.plot_fold_scores({}, ax=ax)


def test_roc_comparison_one_curve_per_model():
    rng = np.random.default_rng(0)
    y = np.array(["no", "yes"] * 50)
    good = np.where(y == "yes", 0.7, 0.3) + rng.normal(scale=0.2, size=100)
    figure, ax = plotting.new_figure()
    displays = plotting.plot_roc_comparison(
        {"network": (y, good), "dummy": (y, np.full(100, 0.5))}, pos_label="yes", ax=ax)
    assert [d.name for d in displays] == ["network", "dummy"]
    assert displays[0].roc_auc > 0.8 and displays[1].roc_auc == pytest.approx(0.5)
    assert "positive class: yes" in ax.get_title()
    assert_png_drawn(render(figure))


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib"):
        LossCurveDisplay.from_history(HISTORY)
    with pytest.raises(ImportError, match=r"skkeras\[plot\]"):
        plotting.new_figure()

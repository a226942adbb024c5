"""Out-of-fold evaluation plots: thin wrappers around scikit-learn's Display objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._matplotlib import _pyplot, _require_matplotlib

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    from matplotlib.axes import Axes


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    ax: Axes | None = None,
) -> Any:
    """Confusion matrix of predictions (e.g. out-of-fold, pooled over folds).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : sequence or None, default=None
        The classes, in the order of the rows and columns.
    ax : matplotlib.axes.Axes or None, default=None

    Returns
    -------
    sklearn.metrics.ConfusionMatrixDisplay
    """
    _require_matplotlib()
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, ax=ax, colorbar=False, cmap="Blues",
        display_labels=None if labels is None else [str(c) for c in labels],
    )
    display.ax_.set_title("Confusion matrix (out-of-fold predictions)")
    return display


def plot_roc_curves(
    y_true: Sequence[Any],
    y_score: Sequence[Any],
    classes: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> list[Any]:
    """ROC curves of probabilistic predictions, one per fold or per class.

    For two classes, ``y_true`` and ``y_score`` are lists with one entry per
    fold (labels, and the probability of ``classes[1]``); one curve per fold.
    For more classes, pooled arrays: labels and an ``(n, n_classes)``
    probability matrix; one one-vs-rest curve per class.

    Parameters
    ----------
    y_true : list of array-like or array-like
    y_score : list of array-like or array-like
    classes : sequence
        The class labels, in the order of the probability columns.
    names : sequence of str or None, default=None
        Curve names for the binary case ("fold 1"... by default).
    ax : matplotlib.axes.Axes or None, default=None

    Returns
    -------
    list of sklearn.metrics.RocCurveDisplay
    """
    if len(classes) == 2:
        names = names or [f"fold {i + 1}" for i in range(len(y_true))]
        curves = [(name, truth, score, classes[1])
                  for name, truth, score in zip(names, y_true, y_score, strict=True)]
        title = f"ROC curve per fold (positive class: {classes[1]})"
        return _roc_curves(curves, title, ax)
    truth = np.asarray(y_true)
    score = np.asarray(y_score)
    curves = [(f"{label} vs rest", truth == label, score[:, i], True)
              for i, label in enumerate(classes)]
    return _roc_curves(curves, "ROC curves, one class vs rest (out-of-fold)", ax)


def plot_prediction_error(
    y_true: Any,
    y_pred: Any,
    *,
    kind: str = "actual_vs_predicted",
    ax: Axes | None = None,
    subsample: int | None = 1000,
    random_state: int | None = 0,
) -> Any:
    """Predicted against actual values, or residuals against predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    kind : {"actual_vs_predicted", "residual_vs_predicted"}
    ax : matplotlib.axes.Axes or None, default=None
    subsample : int or None, default=1000
        Points drawn at most (a random subset); None draws all.
    random_state : int or None, default=0
        Seeds the subsample.

    Returns
    -------
    sklearn.metrics.PredictionErrorDisplay
    """
    _require_matplotlib()
    from sklearn.metrics import PredictionErrorDisplay

    display = PredictionErrorDisplay.from_predictions(
        y_true, y_pred, kind=kind, ax=ax, subsample=subsample, random_state=random_state,
        scatter_kwargs={"alpha": 0.4, "s": 10},
    )
    title = "Predicted vs actual" if kind == "actual_vs_predicted" else "Residuals vs predicted"
    n = len(np.asarray(y_true))
    shown = f"\n({subsample:,} of {n:,} points, a random subsample)" if (
        subsample is not None and subsample < n) else ""
    display.ax_.set_title(f"{title} (out-of-fold){shown}")
    return display


def plot_fold_scores(
    scores: Mapping[str, Sequence[float]], *, metric: str = "score", ax: Axes | None = None
) -> Axes:
    """Each model's score on each fold; a line joins the same fold across models.

    Parameters
    ----------
    scores : dict
        Model name to its scores, fold by fold (the same folds for every model).
    metric : str, default="score"
        The y axis label.
    ax : matplotlib.axes.Axes or None, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    _require_matplotlib()
    if ax is None:
        _, ax = _pyplot().subplots()
    names = list(scores)
    if not names:
        raise ValueError("scores is empty: give at least one model's fold scores.")
    rows = [np.asarray(scores[n], dtype=float).ravel() for n in names]
    if len({len(r) for r in rows}) != 1:
        raise ValueError("Every model needs the same number of fold scores, one per fold.")
    table = np.array(rows)
    positions = np.arange(len(names))
    for k in range(table.shape[1]):
        ax.plot(positions, table[:, k], color="0.75", linewidth=0.8, zorder=1)
    for i in positions:
        ax.scatter(np.full(table.shape[1], i), table[i], color=f"C{i % 10}", zorder=2, s=22)
        ax.hlines(np.nanmean(table[i]), i - 0.25, i + 0.25, color=f"C{i % 10}", linewidth=2)
    ax.set_xticks(positions, names, rotation=15, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per fold (bar: mean)")
    return ax


def plot_roc_comparison(
    predictions: Mapping[str, tuple[Any, Any]], *, pos_label: Any, ax: Axes | None = None
) -> list[Any]:
    """One ROC curve per model, from its (labels, positive-class probabilities).

    Parameters
    ----------
    predictions : dict
        Model name to ``(y_true, y_score)``: out-of-fold labels and
        probabilities of ``pos_label``.
    pos_label : label
    ax : matplotlib.axes.Axes or None, default=None

    Returns
    -------
    list of sklearn.metrics.RocCurveDisplay
    """
    curves = [(name, truth, score, pos_label) for name, (truth, score) in predictions.items()]
    return _roc_curves(curves, f"ROC curves, out-of-fold (positive class: {pos_label})", ax)


def _roc_curves(curves: Sequence[tuple[str, Any, Any, Any]], title: str, ax: Axes | None) -> list[Any]:
    """One ROC curve per ``(name, y_true, y_score, pos_label)``, the chance line drawn once."""
    _require_matplotlib()
    from sklearn.metrics import RocCurveDisplay

    if ax is None:
        _, ax = _pyplot().subplots()
    displays = [
        RocCurveDisplay.from_predictions(
            truth, score, pos_label=pos_label, name=name, ax=ax,
            plot_chance_level=i == len(curves) - 1,
        )
        for i, (name, truth, score, pos_label) in enumerate(curves)
    ]
    ax.set_xlabel("False Positive Rate")
    ax.set_ylabel("True Positive Rate")
    ax.set_title(title)
    return displays

"""Plots for fitted skkeras estimators and for cross-validated reports.

matplotlib is a dependency of skkeras, imported inside the functions, so that
``import skkeras.plotting`` stays cheap (and works where matplotlib was removed:
only drawing needs it).

- :class:`LossCurveDisplay`: per-epoch loss (and validation loss) from
  ``history_``, in the style of scikit-learn's Display objects
  (``from_estimator``, ``plot``, ``ax_``, ``figure_``, ``lines_``).
- :func:`plot_fold_scores` and :func:`plot_roc_comparison`: several models
  cross-validated on the same folds, side by side.
- :func:`plot_confusion_matrix`, :func:`plot_roc_curves` and
  :func:`plot_prediction_error`: thin wrappers around scikit-learn's
  ``ConfusionMatrixDisplay``, ``RocCurveDisplay`` and
  ``PredictionErrorDisplay`` for out-of-fold predictions, as the report
  draws them.
- :func:`new_figure` and :func:`figure_to_png`: figures that do not go through
  ``pyplot`` (no GUI backend, nothing left open), rendered to PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "LossCurveDisplay",
    "figure_to_png",
    "find_keras_estimator",
    "new_figure",
    "plot_confusion_matrix",
    "plot_fold_scores",
    "plot_prediction_error",
    "plot_roc_comparison",
    "plot_roc_curves",
]

_INSTALL_HINT = (
    "skkeras.plotting needs matplotlib, which is not installed: `pip install matplotlib` "
    "(or the `plot` extra, `pip install \"skkeras[plot]\"`)."
)


def _require_matplotlib() -> Any:
    """Import and return :mod:`matplotlib`, or raise an ImportError naming the extra."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return matplotlib


def _pyplot() -> Any:
    """Import and return :mod:`matplotlib.pyplot` (for plots drawn without an ``ax``)."""
    _require_matplotlib()
    import matplotlib.pyplot as plt

    return plt


def new_figure(figsize: tuple[float, float] = (6.4, 4.2)) -> tuple[Figure, Axes]:
    """A figure with one axes, made without :mod:`matplotlib.pyplot`.

    Such a figure needs no GUI backend and is not registered with pyplot, so
    it is freed when it goes out of scope: the report uses it to draw many
    figures in a row.

    Parameters
    ----------
    figsize : tuple of float, default=(6.4, 4.2)
        Width and height in inches.

    Returns
    -------
    figure : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def figure_to_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    dpi : int, default=100

    Returns
    -------
    bytes
        The PNG file's content.
    """
    _require_matplotlib()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def find_keras_estimator(estimator: Any) -> Any:
    """The fitted skkeras estimator inside ``estimator``.

    Looks through Pipelines (last step), ``TransformedTargetRegressor``
    (``regressor_``), searches (``best_estimator_``) and other meta-estimators
    with a fitted ``estimator_``.

    Parameters
    ----------
    estimator : estimator
        A fitted skkeras estimator, or a fitted meta-estimator holding one.

    Returns
    -------
    estimator
        The object that has ``history_``.

    Raises
    ------
    ValueError
        If no fitted estimator with a ``history_`` is found.
    """
    seen = estimator
    for _ in range(16):  # nesting depth bound; real pipelines are shallow
        if hasattr(seen, "history_"):
            return seen
        if hasattr(seen, "steps"):  # Pipeline
            seen = seen.steps[-1][1]
        elif hasattr(seen, "regressor_"):  # TransformedTargetRegressor
            seen = seen.regressor_
        elif hasattr(seen, "best_estimator_"):  # GridSearchCV, RandomizedSearchCV
            seen = seen.best_estimator_
        elif hasattr(seen, "estimator_"):
            seen = seen.estimator_
        else:
            break
    raise ValueError(
        f"No fitted skkeras estimator with a history_ was found in {type(estimator).__name__}: "
        "fit it first (a KerasClassifier, a KerasRegressor, or a Pipeline, "
        "TransformedTargetRegressor or search that ends in one)."
    )


class LossCurveDisplay:
    """Loss curves: the per-epoch values in ``history_``, one line per metric and run.

    Build it with :meth:`from_estimator` (one fitted estimator),
    :meth:`from_history` (a ``history_`` dict) or :meth:`from_cv_results`
    (every fold of ``cross_validate(..., return_estimator=True)``), then
    :meth:`plot` draws it. This follows scikit-learn's Display objects.

    Parameters
    ----------
    histories : sequence of mapping
        One ``history_`` dict (metric name to per-epoch values) per run.
    names : sequence of str or None, default=None
        A name per run, used in the legend ("fold 1"...). None: no run name
        for a single run, "run 1", "run 2"... for several.

    Attributes
    ----------
    ax_ : matplotlib.axes.Axes
        The axes drawn on.
    figure_ : matplotlib.figure.Figure
        The figure holding ``ax_``.
    lines_ : list of matplotlib.lines.Line2D
        Every line drawn, in order: for each run, one line per metric.
    line_ : matplotlib.lines.Line2D
        The first line (the training loss of the first run).

    Examples
    --------
    >>> from skkeras import KerasClassifier  # doctest: +SKIP
    >>> from skkeras.plotting import LossCurveDisplay  # doctest: +SKIP
    >>> clf = KerasClassifier(epochs=20, validation_split=0.2).fit(X, y)  # doctest: +SKIP
    >>> LossCurveDisplay.from_estimator(clf)  # doctest: +SKIP
    """

    def __init__(
        self,
        histories: Sequence[Mapping[str, Sequence[float]]],
        *,
        names: Sequence[str] | None = None,
    ) -> None:
        if isinstance(histories, Mapping):  # a single history_ given directly
            histories = [histories]
        self.histories = [dict(h) for h in histories]
        if names is not None and len(names) != len(self.histories):
            raise ValueError(
                f"names has {len(names)} entries but there are {len(self.histories)} histories."
            )
        self.names = None if names is None else [str(n) for n in names]

    def _metrics(self, metrics: Sequence[str] | str | None) -> list[str]:
        if isinstance(metrics, str):
            metrics = [metrics]
        if metrics is None:
            available = set().union(*self.histories) if self.histories else set()
            return [m for m in ("loss", "val_loss") if m in available]
        return list(metrics)

    def plot(
        self,
        ax: Axes | None = None,
        *,
        metrics: Sequence[str] | str | None = None,
        log_scale: bool = False,
        line_kwargs: Mapping[str, Any] | None = None,
    ) -> LossCurveDisplay:
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or None, default=None
            Axes to draw on; None makes a new figure with pyplot.
        metrics : str, list of str or None, default=None
            Keys of ``history_`` to draw. None: ``loss`` and, when recorded,
            ``val_loss`` (dashed).
        log_scale : bool, default=False
            Use a logarithmic y axis.
        line_kwargs : dict or None, default=None
            Extra keyword arguments for every ``Axes.plot`` call.

        Returns
        -------
        self : LossCurveDisplay
            With ``ax_``, ``figure_``, ``lines_`` and ``line_`` set.

        Raises
        ------
        ValueError
            If there is nothing to draw, or a requested metric is in no history.
        """
        _require_matplotlib()
        metrics = self._metrics(metrics)
        if not self.histories or not metrics:
            raise ValueError(
                "Nothing to plot: the histories are empty (was the estimator fitted with "
                "epochs > 0?)."
            )
        missing = [m for m in metrics if not any(m in h for h in self.histories)]
        if missing:
            known = sorted(set().union(*self.histories))
            raise ValueError(f"Metrics {missing} are not in history_; it records {known}.")
        if ax is None:
            _, ax = _pyplot().subplots()

        several = len(self.histories) > 1
        names = self.names or ([f"run {i + 1}" for i in range(len(self.histories))] if several else None)
        colors = [f"C{i % 10}" for i in range(len(self.histories))]
        styles = ["-", "--", ":", "-."]
        lines = []
        for run, history in enumerate(self.histories):
            for k, metric in enumerate(metrics):
                values = history.get(metric)
                if not values:
                    continue
                epochs = np.arange(1, len(values) + 1)
                label = metric if names is None else f"{names[run]} {metric}"
                kwargs = {"color": colors[run], "linestyle": styles[k % len(styles)], "label": label}
                kwargs.update(line_kwargs or {})
                (line,) = ax.plot(epochs, values, **kwargs)
                lines.append(line)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metrics[0] if len(metrics) == 1 else "loss")
        if log_scale:
            ax.set_yscale("log")
        ax.legend(fontsize="small", ncols=2 if len(lines) > 6 else 1)
        self.ax_ = ax
        self.figure_ = ax.figure
        self.lines_ = lines
        self.line_ = lines[0]
        return self

    @classmethod
    def from_history(
        cls,
        history: Mapping[str, Sequence[float]],
        *,
        ax: Axes | None = None,
        metrics: Sequence[str] | str | None = None,
        name: str | None = None,
        log_scale: bool = False,
        line_kwargs: Mapping[str, Any] | None = None,
    ) -> LossCurveDisplay:
        """Plot one ``history_`` dict.

        Parameters
        ----------
        history : mapping
            Metric name to per-epoch values, like an estimator's ``history_``.
        ax, metrics, log_scale, line_kwargs
            As in :meth:`plot`.
        name : str or None, default=None
            Prefix for the legend labels.

        Returns
        -------
        LossCurveDisplay
        """
        display = cls([history], names=None if name is None else [name])
        return display.plot(ax=ax, metrics=metrics, log_scale=log_scale, line_kwargs=line_kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        ax: Axes | None = None,
        metrics: Sequence[str] | str | None = None,
        name: str | None = None,
        log_scale: bool = False,
        line_kwargs: Mapping[str, Any] | None = None,
    ) -> LossCurveDisplay:
        """Plot the ``history_`` of a fitted estimator.

        Parameters
        ----------
        estimator : estimator
            A fitted :class:`~skkeras.KerasClassifier` or
            :class:`~skkeras.KerasRegressor`, or a fitted Pipeline,
            ``TransformedTargetRegressor`` or search ending in one.
        ax, metrics, log_scale, line_kwargs
            As in :meth:`plot`.
        name : str or None, default=None
            Prefix for the legend labels.

        Returns
        -------
        LossCurveDisplay
        """
        history = find_keras_estimator(estimator).history_
        return cls.from_history(
            history, ax=ax, metrics=metrics, name=name, log_scale=log_scale,
            line_kwargs=line_kwargs,
        )

    @classmethod
    def from_cv_results(
        cls,
        cv_results: Mapping[str, Any],
        *,
        ax: Axes | None = None,
        metrics: Sequence[str] | str | None = None,
        log_scale: bool = False,
        line_kwargs: Mapping[str, Any] | None = None,
    ) -> LossCurveDisplay:
        """One curve per fold, from ``cross_validate(..., return_estimator=True)``.

        Parameters
        ----------
        cv_results : dict
            The result of :func:`sklearn.model_selection.cross_validate`
            called with ``return_estimator=True``.
        ax, metrics, log_scale, line_kwargs
            As in :meth:`plot`.

        Returns
        -------
        LossCurveDisplay
        """
        if "estimator" not in cv_results:
            raise ValueError(
                "cv_results has no 'estimator' entry: call cross_validate with "
                "return_estimator=True."
            )
        estimators = list(cv_results["estimator"])
        histories = [find_keras_estimator(e).history_ for e in estimators]
        names = [f"fold {i + 1}" for i in range(len(histories))]
        return cls(histories, names=names).plot(
            ax=ax, metrics=metrics, log_scale=log_scale, line_kwargs=line_kwargs
        )


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
    _require_matplotlib()
    from sklearn.metrics import RocCurveDisplay

    if ax is None:
        _, ax = _pyplot().subplots()
    displays = []
    if len(classes) == 2:
        names = names or [f"fold {i + 1}" for i in range(len(y_true))]
        for i, (truth, score) in enumerate(zip(y_true, y_score, strict=True)):
            displays.append(RocCurveDisplay.from_predictions(
                truth, score, pos_label=classes[1], name=names[i], ax=ax,
                plot_chance_level=i == len(y_true) - 1,
            ))
        title = f"ROC curve per fold (positive class: {classes[1]})"
    else:
        truth = np.asarray(y_true)
        score = np.asarray(y_score)
        for i, label in enumerate(classes):
            displays.append(RocCurveDisplay.from_predictions(
                truth == label, score[:, i], pos_label=True, name=f"{label} vs rest", ax=ax,
                plot_chance_level=i == len(classes) - 1,
            ))
        title = "ROC curves, one class vs rest (out-of-fold)"
        ax.set_xlabel("False Positive Rate")
        ax.set_ylabel("True Positive Rate")
    ax.set_title(title)
    return displays


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
    _require_matplotlib()
    from sklearn.metrics import RocCurveDisplay

    if ax is None:
        _, ax = _pyplot().subplots()
    displays = []
    for i, (name, (truth, score)) in enumerate(predictions.items()):
        displays.append(RocCurveDisplay.from_predictions(
            truth, score, pos_label=pos_label, name=name, ax=ax,
            plot_chance_level=i == len(predictions) - 1,
        ))
    ax.set_title(f"ROC curves, out-of-fold (positive class: {pos_label})")
    return displays

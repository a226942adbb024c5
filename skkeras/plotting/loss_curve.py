"""Loss curves of fitted estimators, in the style of scikit-learn's Display objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._matplotlib import _pyplot, _require_matplotlib

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    from matplotlib.axes import Axes


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

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

from ._matplotlib import figure_to_png, new_figure
from .evaluation import (
    plot_confusion_matrix,
    plot_fold_scores,
    plot_prediction_error,
    plot_roc_comparison,
    plot_roc_curves,
)
from .loss_curve import LossCurveDisplay, find_keras_estimator

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

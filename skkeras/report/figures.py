"""The report's plots, drawn from its out-of-fold predictions and histories."""

from __future__ import annotations

from typing import Any

import numpy as np

from .render import MAX_POINTS, METRIC_LABELS, _format_params


def draw_figures(report: Any) -> dict[str, tuple[bytes, str]]:
    """(PNG bytes, caption) by title; ImportError without matplotlib."""
    from .. import plotting

    d = report.data
    ds, best = d["dataset"], report.best
    out: dict[str, tuple[bytes, str]] = {}
    regression = ds["task"] == "regression"

    histories = [f.history for f in best.folds]
    if any(h.get("loss") for h in histories):
        figure, ax = plotting.new_figure()
        plotting.LossCurveDisplay(
            histories, names=[f"fold {i + 1}" for i in range(len(histories))]).plot(ax=ax)
        which = ""
        if d["search"] is not None:
            which = f" of the best candidate ({_format_params(d['search']['best_params'])})"
        ax.set_title("Loss per fold" + (" (standardised target)" if regression else ""))
        validated = any(h.get("val_loss") for h in histories)
        caption = (f"Training loss per epoch{which}, solid, and validation loss on the held-out "
                   "part of each training fold, dashed." if validated else
                   f"Training loss per epoch{which} (--validation-split adds validation loss).")
        if regression:
            caption += " The network fits a standardised target, so losses are in its units."
        out["Loss curves"] = (plotting.figure_to_png(figure), caption)

    metric = d["metrics"][0]
    models = [(best, "network")] + [(b, _title(d, b.name)) for b in report.baselines]
    if len(models) > 1:
        figure, ax = plotting.new_figure((6.4, 4.2))
        plotting.plot_fold_scores({title: c.metric(metric) for c, title in models},
                                  metric=METRIC_LABELS[metric], ax=ax)
        out["Fold scores"] = (plotting.figure_to_png(figure),
                              f"{METRIC_LABELS[metric]} of every model on each fold; lines join "
                              "the same fold, which the paired comparison compares.")

    order = np.concatenate([f.test_index for f in best.folds])
    y_true = report.y[order]
    y_pred = np.concatenate([f.y_pred for f in best.folds])
    if not regression:
        classes = report.classes
        figure, ax = plotting.new_figure((5.2, 4.6))
        plotting.plot_confusion_matrix(y_true, y_pred, labels=classes, ax=ax)
        out["Confusion matrix"] = (plotting.figure_to_png(figure),
                                   "The network's out-of-fold predictions, pooled over folds.")
        figure, ax = plotting.new_figure((5.6, 5.0))
        if len(classes) == 2:
            scores = {}
            for c, title in models:
                idx = np.concatenate([f.test_index for f in c.folds])
                proba = np.concatenate([f.y_score[:, 1] for f in c.folds])
                scores[title] = (report.y[idx], proba)
            plotting.plot_roc_comparison(scores, pos_label=classes[1], ax=ax)
            caption = ("ROC curve of each model's out-of-fold probabilities, pooled over folds "
                       f"(positive class {classes[1]!r}).")
        else:
            plotting.plot_roc_curves(y_true, np.concatenate([f.y_score for f in best.folds]),
                                     classes, ax=ax)
            caption = "The network's one-vs-rest ROC curves, out-of-fold, pooled over folds."
        out["ROC curves"] = (plotting.figure_to_png(figure), caption)
    else:
        shown = min(len(y_true), MAX_POINTS)
        sampled = (f" {shown:,} of {len(y_true):,} points are shown, a random subsample."
                   if shown < len(y_true) else "")
        for title, kind in (("Predicted vs actual", "actual_vs_predicted"),
                            ("Residuals", "residual_vs_predicted")):
            figure, ax = plotting.new_figure((5.6, 5.0))
            plotting.plot_prediction_error(y_true, y_pred, kind=kind, ax=ax, subsample=MAX_POINTS)
            out[title] = (plotting.figure_to_png(figure),
                          f"The network's out-of-fold predictions.{sampled}")
    return out


def _title(d: dict[str, Any], name: str) -> str:
    return next(m["title"] for m in d["models"] if m["name"] == name)

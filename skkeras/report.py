"""A cross-validated report for a tabular problem: the engine of ``skkeras report``.

:func:`cross_validated_report` takes a table (a DataFrame) and a target, and

1. chooses classification or regression from the target (:func:`infer_task`);
2. builds a default model (:func:`default_estimator`): a Pipeline that imputes
   and scales numeric columns, imputes and one-hot encodes categorical ones, and
   ends in the built-in MLP; a regressor also standardises the target
   (``TransformedTargetRegressor``), so targets in raw units (dollars) train well;
3. cross-validates it with scikit-learn's :func:`~sklearn.model_selection.cross_validate`
   (``return_estimator=True`` keeps each fold's ``history_`` and out-of-fold
   predictions), over every candidate of an optional grid (:func:`parse_grid`),
   choosing the best candidate by its mean score;
4. returns a :class:`Report`, which prints as a terminal table and writes
   ``report.json`` (every number) and ``report.html`` (self-contained, plots
   embedded as PNG).

User mistakes (a grid that does not parse, a target with one class, too many
folds for the data) raise :class:`ReportError`, whose message is one line.
"""

from __future__ import annotations

import ast
import base64
import html
import json
import math
import platform
import re
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.metrics import confusion_matrix, f1_score, make_scorer
from sklearn.model_selection import KFold, ParameterGrid, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "Report",
    "ReportError",
    "cross_validated_report",
    "default_batch_size",
    "default_estimator",
    "infer_task",
    "parse_grid",
    "parse_hidden",
]

#: Version of the layout of ``report.json``; bumped when keys change meaning.
REPORT_FORMAT_VERSION = 1

#: Defaults of the report, chosen so that the bundled Pima data (768 rows, 5 folds)
#: reports in well under a minute on 2 CPU cores.
DEFAULT_CV = 5
DEFAULT_EPOCHS = 50
DEFAULT_HIDDEN = (32, 16)
DEFAULT_RANDOM_STATE = 0

#: An integer-valued numeric target with more distinct values than this is
#: treated as a regression target by :func:`infer_task`.
MAX_AUTO_CLASSES = 20

#: Grid-key shorthands.
GRID_ALIASES = {"hidden": "model__hidden_layer_sizes", "learning_rate": "optimizer__learning_rate"}

#: Names of the Pipeline's steps; grid keys that start with one of them are
#: taken relative to the Pipeline rather than to the network.
STEP_NAMES = ("preprocess", "net")

#: Column titles of the metrics (keys as in report.json).
METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced acc.",
    "roc_auc": "ROC AUC",
    "f1": "F1",
    "r2": "R²",
    "rmse": "RMSE",
    "mae": "MAE",
}


class ReportError(ValueError):
    """A mistake in the report's input or settings; the message is one line."""


# --------------------------------------------------------------------------- settings
def infer_task(y: Any) -> str:
    """Classification or regression, from the target's values.

    Non-numeric targets (strings, booleans, categories) are class labels.
    Numeric targets with non-integer values are regression targets. Integer
    valued numeric targets are class labels when they have at most
    :data:`MAX_AUTO_CLASSES` distinct values, regression targets otherwise.

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    {"classification", "regression"}
    """
    values = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    kind = type_of_target(values.to_numpy())
    if kind in ("binary", "multiclass") and values.nunique() <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer sizes from ``"32,16"``.

    Parameters
    ----------
    text : str
        Comma-separated positive integers.

    Returns
    -------
    tuple of int

    Raises
    ------
    ReportError
        If an entry is not a positive integer.
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ReportError(
            f"--hidden {text!r}: expected comma-separated positive layer sizes, like 32,16."
        )
    return sizes


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or depth:
        raise ReportError(f"--grid: unbalanced brackets or quotes in {text!r}.")
    parts.append("".join(current))
    return parts


def _grid_value(text: str) -> Any:
    """A Python literal (``16``, ``1e-3``, ``(32, 16)``, ``None``) or a bare word."""
    text = text.strip()
    if not text:
        raise ValueError("empty value")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[A-Za-z_][\w.\-]*", text):
            return text  # adam, glorot_uniform, he_normal...
        raise ValueError(f"cannot read value {text!r}") from None


def parse_grid(text: str) -> dict[str, list[Any]]:
    """Parameter grid from ``"epochs=10,50;batch_size=16,32"``.

    Parameters are separated by ``;``, values by ``,``. Values are Python
    literals (``16``, ``0.001``, ``(32, 16)``, ``None``, ``'a b'``) or bare
    words (``adam``). Keys are parameters of the network
    (``epochs``, ``batch_size``, ``optimizer``, ``optimizer__learning_rate``,
    ``model__dropout``...), with the shorthands ``hidden`` for
    ``model__hidden_layer_sizes`` and ``learning_rate`` for
    ``optimizer__learning_rate``; keys starting with ``preprocess__`` reach the
    preprocessing step.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
        Parameter name (as given, aliases resolved) to its list of values.

    Raises
    ------
    ReportError
        If the text does not parse.
    """
    usage = 'expected name=value,value;name=value,... like "epochs=10,50;batch_size=16,32"'
    grid: dict[str, list[Any]] = {}
    entries = [e for e in _split_top_level(text, ";") if e.strip()]
    if not entries:
        raise ReportError(f"--grid {text!r} is empty: {usage}.")
    for entry in entries:
        key, sep, values = entry.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            raise ReportError(f"--grid: cannot parse {entry.strip()!r}: {usage}.")
        key = GRID_ALIASES.get(key, key)
        if key in grid:
            raise ReportError(f"--grid: {key!r} is given twice.")
        try:
            grid[key] = [_grid_value(v) for v in _split_top_level(values, ",")]
        except ValueError as exc:
            raise ReportError(f"--grid: cannot parse {entry.strip()!r} ({exc}): {usage}.") from None
        for value in grid[key]:
            if key in ("epochs", "batch_size") and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ReportError(f"--grid: {key} values must be positive integers, got {value!r}.")
    return grid


def default_batch_size(n_train: int) -> int:
    """The report's batch size when none is given: 32, or 256 above 5,000 training rows.

    Parameters
    ----------
    n_train : int
        Rows in a training fold.

    Returns
    -------
    int
    """
    return 32 if n_train <= 5000 else 256


def default_estimator(
    task: str,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = 32,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    random_state: int | None = DEFAULT_RANDOM_STATE,
) -> Any:
    """The report's model for a DataFrame: preprocessing and the built-in MLP.

    Numeric columns: median imputation, then standard scaling. Other columns
    (strings, categories, booleans): most-frequent imputation, then one-hot
    encoding (categories unseen in a training fold are ignored). Regressors
    are wrapped in a ``TransformedTargetRegressor`` that standardises y.

    Parameters
    ----------
    task : {"classification", "regression"}
    epochs, batch_size : int
    hidden : sequence of int
        Units of the hidden layers (``model__hidden_layer_sizes``).
    random_state : int or None

    Returns
    -------
    estimator
        A ``Pipeline`` with steps ``preprocess`` and ``net`` (classification),
        or a ``TransformedTargetRegressor`` around one (regression).
    """
    from .wrappers import KerasClassifier, KerasRegressor

    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
    ])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    preprocess = ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include=np.number)),
            ("categorical", categorical, make_column_selector(dtype_exclude=np.number)),
        ],
        sparse_threshold=0.0,
    )
    network = KerasClassifier if task == "classification" else KerasRegressor
    net = network(
        model__hidden_layer_sizes=tuple(int(h) for h in hidden), epochs=int(epochs),
        batch_size=int(batch_size), random_state=random_state,
    )
    pipeline = Pipeline([("preprocess", preprocess), ("net", net)])
    if task == "classification":
        return pipeline
    return TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())


def _param_prefix(task: str) -> str:
    """Where the Pipeline sits inside the estimator of :func:`default_estimator`."""
    return "" if task == "classification" else "regressor__"


def _grid_to_params(grid: Mapping[str, Sequence[Any]], task: str) -> dict[str, list[Any]]:
    """Grid keys as given (network parameters) to full parameter names of the estimator."""
    prefix = _param_prefix(task)
    full = {}
    for key, values in grid.items():
        relative = key if key.split("__", 1)[0] in STEP_NAMES else f"net__{key}"
        full[prefix + relative] = list(values)
    return full


def _short_param(name: str) -> str:
    """``regressor__net__epochs`` -> ``epochs``, for display (aliases shown as aliases)."""
    for prefix in ("regressor__", "net__"):
        name = name.removeprefix(prefix)
    return _ALIAS_OF.get(name, name)


_ALIAS_OF = {full: alias for alias, full in GRID_ALIASES.items()}


def _check_grid_params(estimator: Any, params: Mapping[str, Sequence[Any]]) -> None:
    """Raise ReportError naming the first grid key the estimator does not take."""
    for name, values in params.items():
        try:
            clone(estimator).set_params(**{name: values[0]})
        except ValueError:
            raise ReportError(
                f"--grid: unknown parameter {_short_param(name)!r}; use parameters of the network "
                "(epochs, batch_size, optimizer, ...), routed ones (optimizer__learning_rate, "
                "model__dropout, ...) or the shorthand hidden."
            ) from None


# ------------------------------------------------------------------------- the report
@dataclass
class FoldResult:
    """What one fold of one candidate left behind (the model itself is dropped)."""

    scores: dict[str, float]
    fit_time: float
    score_time: float
    n_train: int
    n_test: int
    history: dict[str, list[float]]
    test_index: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None = None  # class probabilities (classification)


@dataclass
class Candidate:
    """One point of the grid (the only one without ``--grid``) and its folds."""

    params: dict[str, Any]
    folds: list[FoldResult] = field(default_factory=list)

    def metric(self, name: str) -> np.ndarray:
        return np.array([f.scores[name] for f in self.folds], dtype=float)


@dataclass
class Report:
    """The result of :func:`cross_validated_report`.

    Attributes
    ----------
    data : dict
        Every number of the report, JSON-ready (what ``report.json`` holds).
    candidates : list of Candidate
        Per-fold details, histories and out-of-fold predictions.
    best : Candidate
        The selected candidate (the only one without a grid).
    y : ndarray
        The target, as cross-validated (for the plots).
    classes : ndarray or None
        The class labels (classification), in the order of ``predict_proba``.
    """

    data: dict[str, Any]
    candidates: list[Candidate]
    best: Candidate
    y: np.ndarray
    classes: np.ndarray | None = None

    # ............................................................ terminal
    def format_table(self) -> str:
        """The report as plain text for a terminal.

        Returns
        -------
        str
        """
        d = self.data
        ds, st = d["dataset"], d["settings"]
        metrics = d["metrics"]
        lines = [f"skkeras report: {ds['name']}"]
        if ds["task"] == "classification":
            counts = ", ".join(f"{k}: {v}" for k, v in ds["class_counts"].items())
            lines.append(f"  {ds['target_type']} classification of {ds['target']!r} ({counts})")
        else:
            lines.append(f"  regression of {ds['target']!r}")
        lines.append(
            f"  {ds['n_samples']} samples, {ds['n_features']} features "
            f"({len(ds['numeric_features'])} numeric, {len(ds['categorical_features'])} categorical)"
        )
        searched = set(d["search"]["best_params"]) if d["search"] else set()

        def setting(key: str, text: str) -> str:
            return f"{key} from the grid" if key in searched else text

        lines.append(
            f"  {d['model']['estimator']}: MLP "
            + ", ".join([
                setting("hidden", f"hidden {tuple(st['hidden'])}"),
                setting("epochs", f"{st['epochs']} epochs"),
                setting("batch_size", f"batch size {st['batch_size']}"),
                f"random_state {st['random_state']}",
            ])
        )
        lines.append(f"  cv: {st['splitter']}")
        for note in d["notes"]:
            lines.append(f"  note: {note}")
        lines.append("")

        search = d["search"]
        if search is not None:
            primary = search["selection_metric"]
            lines.append(f"Grid search: {len(search['candidates'])} candidates, "
                         f"best by mean {METRIC_LABELS[primary]}")
            rows = [["rank", "params", f"{METRIC_LABELS[primary]}", "fit s"]]
            for c in sorted(search["candidates"], key=lambda c: c["rank"]):
                s = c["scores"][primary]
                rows.append([
                    str(c["rank"]), _format_params(c["params"]),
                    _mean_std(s), f"{c['fit_time_mean']:.1f}",
                ])
            lines += _table(rows, align="rlrr")
            lines.append(f"Best params: {_format_params(search['best_params'])}")
            lines.append("")
            lines.append("Best candidate, per fold:")

        rows = [["fold", *[METRIC_LABELS[m] for m in metrics], "fit s", "score s"]]
        for fold in d["folds"]:
            rows.append([
                str(fold["fold"]), *[_fmt(fold["scores"][m]) for m in metrics],
                f"{fold['fit_time']:.1f}", f"{fold['score_time']:.2f}",
            ])
        summary = d["summary"]
        rows.append([
            "mean ± std", *[_mean_std(summary[m]) for m in metrics],
            f"{summary['fit_time']['mean']:.1f}", f"{summary['score_time']['mean']:.2f}",
        ])
        lines += _table(rows, align="l" + "r" * (len(rows[0]) - 1), rule_before_last=True)
        if ds["task"] == "classification" and ds["target_type"] == "binary":
            lines.append(f"ROC AUC and F1 for the positive class {ds['classes'][1]!r}.")
        elif ds["task"] == "classification":
            lines.append("ROC AUC: one-vs-rest, macro average; F1: macro average.")
        else:
            lines.append(f"RMSE and MAE in the units of {ds['target']!r}.")
        t = d["timing"]
        lines.append(
            f"Time: {t['total_s']:.1f} s in all ({t['n_fits']} fits: "
            f"fit {t['fit_s']:.1f} s, score {t['score_s']:.1f} s)."
        )
        return "\n".join(lines)

    # ............................................................ files
    def to_json(self) -> str:
        """``report.json``'s content: every number, NaN written as null.

        Returns
        -------
        str
        """
        return json.dumps(_json_safe(self.data), indent=2, ensure_ascii=False) + "\n"

    def write(self, out_dir: str | Path, *, plots: bool = True) -> dict[str, Path]:
        """Write ``report.json`` and ``report.html`` into ``out_dir`` (created if needed).

        Parameters
        ----------
        out_dir : str or Path
        plots : bool, default=True
            Draw the plots into the HTML (needs matplotlib; without it the
            HTML says how to get them).

        Returns
        -------
        dict
            ``{"json": path, "html": path}``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        json_path = out / "report.json"
        html_path = out / "report.html"
        json_path.write_text(self.to_json(), encoding="utf-8")
        html_path.write_text(self.to_html(plots=plots), encoding="utf-8")
        return {"json": json_path, "html": html_path}

    def figures(self) -> dict[str, bytes]:
        """The report's plots as PNG bytes, by section title.

        Returns
        -------
        dict
            Title to PNG content. Raises ImportError without matplotlib.
        """
        from . import plotting

        ds = self.data["dataset"]
        best = self.best
        pngs: dict[str, bytes] = {}

        figure, ax = plotting.new_figure()
        display = plotting.LossCurveDisplay(
            [f.history for f in best.folds], names=[f"fold {i + 1}" for i in range(len(best.folds))]
        )
        if any(display.histories):
            display.plot(ax=ax)
            ax.set_title("Training loss per fold" + (
                " (scaled target)" if ds["task"] == "regression" else ""))
            pngs["Loss curves"] = plotting.figure_to_png(figure)

        order = np.concatenate([f.test_index for f in best.folds])
        y_true = self.y[order]
        y_pred = np.concatenate([f.y_pred for f in best.folds])
        if ds["task"] == "classification":
            classes = self.classes
            figure, ax = plotting.new_figure((5.2, 4.6))
            plotting.plot_confusion_matrix(y_true, y_pred, labels=classes, ax=ax)
            pngs["Confusion matrix"] = plotting.figure_to_png(figure)
            figure, ax = plotting.new_figure((5.6, 5.0))
            if len(classes) == 2:
                plotting.plot_roc_curves(
                    [self.y[f.test_index] for f in best.folds],
                    [f.y_score[:, 1] for f in best.folds], classes, ax=ax,
                )
            else:
                scores = np.concatenate([f.y_score for f in best.folds])
                plotting.plot_roc_curves(y_true, scores, classes, ax=ax)
            pngs["ROC curve"] = plotting.figure_to_png(figure)
        else:
            for title, kind in (("Predicted vs actual", "actual_vs_predicted"),
                                ("Residuals", "residual_vs_predicted")):
                figure, ax = plotting.new_figure((5.6, 5.0))
                plotting.plot_prediction_error(y_true, y_pred, kind=kind, ax=ax)
                pngs[title] = plotting.figure_to_png(figure)
        return pngs

    def to_html(self, *, plots: bool = True) -> str:
        """``report.html``'s content: one self-contained page, images embedded.

        Parameters
        ----------
        plots : bool, default=True

        Returns
        -------
        str
        """
        return _render_html(self, plots=plots)


def _fmt(value: float | None, like: float | None = None) -> str:
    """A score for display: 3 decimals, or thousands without decimals for large values.

    ``like`` picks the format from another value (a mean, for its std).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    scale = abs(value if like is None or math.isnan(like) else like)
    if scale >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _mean_std(stats: Mapping[str, float]) -> str:
    return f"{_fmt(stats['mean'])} ± {_fmt(stats['std'], like=stats['mean'])}"


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{_short_param(k)}={v!r}" for k, v in params.items()) or "(defaults)"


def _table(rows: list[list[str]], *, align: str, rule_before_last: bool = False) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(w) if a == "r" else cell.ljust(w)
            for cell, w, a in zip(row, widths, align, strict=True)
        ]
        return "  ".join(cells).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    for i, row in enumerate(rows[1:], start=1):
        if rule_before_last and i == len(rows) - 1:
            out.append("  ".join("-" * w for w in widths))
        out.append(line(row))
    return out


def _json_safe(value: Any) -> Any:
    """Plain JSON types: NumPy scalars and arrays unwrapped, NaN and inf as None."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _label(value: Any) -> Any:
    """A class label as a JSON/display-friendly Python value."""
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------- running it
def _scorers(task: str, classes: np.ndarray) -> dict[str, Any]:
    if task == "regression":
        return {"r2": "r2", "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error"}
    if len(classes) == 2:
        f1 = make_scorer(f1_score, pos_label=classes[1])
        auc = "roc_auc"
    else:
        f1, auc = "f1_macro", "roc_auc_ovr"
    return {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "roc_auc": auc, "f1": f1}


def _progress(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr, or a stand-in that does nothing."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm missing: no bar, nothing else changes
            pass
        else:
            return tqdm(total=total, desc="cross-validating", unit="fit", file=sys.stderr,
                        leave=False, dynamic_ncols=True)
    return _NoProgress()


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _check_data(X: pd.DataFrame, y: np.ndarray, task: str, cv: int) -> np.ndarray | None:
    """Raise ReportError for data the report cannot cross-validate; return the classes."""
    n = len(y)
    if X.shape[1] == 0:
        raise ReportError("The data has no feature columns besides the target.")
    if isinstance(cv, bool) or not isinstance(cv, int | np.integer) or cv < 2:
        raise ReportError(f"--cv must be an integer of at least 2, got {cv!r}.")
    if n < cv:
        raise ReportError(f"--cv {cv} needs at least {cv} rows, but the data has {n}.")
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(pd.Series(y)):
            raise ReportError("The target is not numeric, so it cannot be a regression target.")
        if np.nanstd(y.astype(float)) == 0:
            raise ReportError(f"The target is constant ({y[0]!r}): there is nothing to predict.")
        return None
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ReportError(
            f"The target has only one class ({_label(classes[0])!r}): a classifier needs at least two."
        )
    if counts.min() < cv:
        rare = _label(classes[np.argmin(counts)])
        raise ReportError(
            f"Class {rare!r} has {counts.min()} rows, fewer than the {cv} folds of --cv {cv}: "
            "use fewer folds or drop the rare class."
        )
    return classes


def cross_validated_report(
    X: Any,
    y: Any,
    *,
    name: str = "data",
    task: str = "auto",
    cv: int = DEFAULT_CV,
    grid: str | Mapping[str, Sequence[Any]] | None = None,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int | None = None,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    random_state: int | None = DEFAULT_RANDOM_STATE,
    progress: bool = False,
    notes: Sequence[str] = (),
) -> Report:
    """Cross-validate the default model (or a grid of its variants) on a table.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features; numeric and categorical columns are told apart by dtype.
    y : array-like of shape (n_samples,)
        Target. Rows where it is missing are dropped (and noted).
    name : str, default="data"
        Shown in the report's title.
    task : {"auto", "classification", "regression"}, default="auto"
        "auto" uses :func:`infer_task`.
    cv : int, default=5
        Folds: stratified for classification, plain for regression; both
        shuffled with ``random_state``.
    grid : str, dict or None, default=None
        A grid search over network parameters: the text of ``--grid``
        (see :func:`parse_grid`) or a dict of value lists with the same keys.
    epochs : int, default=50
    batch_size : int or None, default=None
        None: :func:`default_batch_size` of the training fold size.
    hidden : sequence of int, default=(32, 16)
    random_state : int or None, default=0
        Seeds the folds and the networks.
    progress : bool, default=False
        Show a tqdm progress bar on stderr (the CLI turns it on for terminals).
    notes : sequence of str, default=()
        Remarks about the data to print in the report.

    Returns
    -------
    Report

    Raises
    ------
    ReportError
        For data or settings the report cannot use.
    """
    from . import wrappers  # noqa: F401  (Keras is imported before the clock starts)

    started = time.perf_counter()
    X, y_series, notes = _prepare_table(X, y, list(notes))
    y_values = y_series.to_numpy()
    if task == "auto":
        task = infer_task(y_values)
    if task not in ("classification", "regression"):
        raise ReportError(f"task must be 'auto', 'classification' or 'regression', got {task!r}.")
    classes = _check_data(X, y_values, task, cv)
    if task == "regression":
        y_values = y_values.astype(np.float64)

    splitter = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=cv, shuffle=True, random_state=random_state
    )
    splits = list(splitter.split(X, y_values))
    if batch_size is None:
        batch_size = default_batch_size(min(len(train) for train, _ in splits))
    hidden = tuple(int(h) for h in hidden)
    estimator = default_estimator(
        task, epochs=epochs, batch_size=batch_size, hidden=hidden, random_state=random_state
    )
    if isinstance(grid, str):
        grid = parse_grid(grid)
    params_grid = _grid_to_params(grid, task) if grid else {}
    if params_grid:
        _check_grid_params(estimator, params_grid)
    candidates = [Candidate(dict(p)) for p in ParameterGrid(params_grid)]

    scoring = _scorers(task, classes)
    metrics = list(scoring)
    bar = _progress(len(candidates) * len(splits), progress)
    try:
        for c, candidate in enumerate(candidates, start=1):
            for k, (train, test) in enumerate(splits, start=1):
                where = f"fold {k}/{len(splits)}"
                if len(candidates) > 1:
                    where = f"candidate {c}/{len(candidates)}, {where}"
                bar.set_postfix_str(where)
                candidate.folds.append(
                    _run_fold(estimator, candidate.params, X, y_values, train, test, scoring, task)
                )
                bar.update(1)
    finally:
        bar.close()

    ranks = _ranks(np.array([c.metric(metrics[0]).mean() for c in candidates]))
    best = candidates[int(np.argmin(ranks))]
    data = {
        "format_version": REPORT_FORMAT_VERSION,
        "dataset": _dataset_facts(X, y_series, y_values, name, task),
        "settings": {
            "cv": int(cv),
            "splitter": repr(splitter),
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "hidden": list(hidden),
            "random_state": random_state,
            "grid": None if not grid else {k: list(v) for k, v in grid.items()},
        },
        "model": {
            "estimator": type(_keras_part(estimator)).__name__,
            "description": _describe_estimator(estimator),
        },
        "notes": notes,
        "metrics": metrics,
        **_best_candidate_facts(best, metrics),
        "search": _search_facts(candidates, ranks, metrics) if params_grid else None,
        "curves": _curve_facts(best, y_values, classes),
        "timing": {
            "total_s": time.perf_counter() - started,
            "n_fits": sum(len(c.folds) for c in candidates),
            "fit_s": float(sum(f.fit_time for c in candidates for f in c.folds)),
            "score_s": float(sum(f.score_time for c in candidates for f in c.folds)),
        },
        "environment": _environment(),
    }
    return Report(data=data, candidates=candidates, best=best, y=y_values, classes=classes)


def _prepare_table(X: Any, y: Any, notes: list[str]) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """X as a DataFrame and y as a Series, without the rows that lack a target."""
    if not isinstance(X, pd.DataFrame):
        array = np.asarray(X)
        if array.ndim != 2:
            raise ReportError(f"X must be a 2-D table, got shape {array.shape}.")
        X = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])]).infer_objects()
    if len(y) != len(X):
        raise ReportError(f"X has {len(X)} rows but y has {len(y)}.")
    y_series = pd.Series(
        y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y), index=X.index,
        name=getattr(y, "name", None),
    )
    missing = y_series.isna().to_numpy()
    if missing.all():
        raise ReportError("The target is missing in every row.")
    if missing.any():
        notes.append(f"{int(missing.sum())} rows without a target value were dropped.")
        X, y_series = X.loc[~missing], y_series.loc[~missing]
    if y_series.dtype == object and len({type(v) for v in y_series}) > 1:
        y_series = y_series.astype(str)  # mixed label types cannot be sorted: compare as text
    return X.reset_index(drop=True), y_series.reset_index(drop=True), notes


def _dataset_facts(
    X: pd.DataFrame, y_series: pd.Series, y: np.ndarray, name: str, task: str
) -> dict[str, Any]:
    numeric = [str(c) for c in X.select_dtypes(include=np.number).columns]
    facts: dict[str, Any] = {
        "name": name,
        "task": task,
        "target": str(y_series.name) if y_series.name is not None else "target",
        "n_samples": len(y),
        "n_features": int(X.shape[1]),
        "feature_names": [str(c) for c in X.columns],
        "numeric_features": numeric,
        "categorical_features": [str(c) for c in X.columns if str(c) not in numeric],
    }
    if task == "classification":
        labels, counts = np.unique(y, return_counts=True)
        facts["target_type"] = "binary" if len(labels) == 2 else "multiclass"
        facts["classes"] = [_label(c) for c in labels]
        facts["class_counts"] = {
            str(_label(c)): int(n) for c, n in zip(labels, counts, strict=True)
        }
    else:
        facts["target_type"] = "continuous"
        facts["target_summary"] = {
            "min": float(np.min(y)), "max": float(np.max(y)),
            "mean": float(np.mean(y)), "std": float(np.std(y)),
        }
    return facts


def _best_candidate_facts(best: Candidate, metrics: Sequence[str]) -> dict[str, Any]:
    """``folds`` and ``summary`` of the report: the selected candidate's numbers."""
    folds = [
        {
            "fold": k, "n_train": f.n_train, "n_test": f.n_test, "scores": f.scores,
            "fit_time": f.fit_time, "score_time": f.score_time,
            "epochs_run": len(f.history.get("loss", [])),
            "final_loss": (f.history.get("loss") or [float("nan")])[-1],
        }
        for k, f in enumerate(best.folds, start=1)
    ]
    summary: dict[str, Any] = {m: _stats(best.metric(m)) for m in metrics}
    for key in ("fit_time", "score_time"):
        summary[key] = _stats(np.array([getattr(f, key) for f in best.folds]))
    return {"folds": folds, "summary": summary}


def _search_facts(
    candidates: Sequence[Candidate], ranks: np.ndarray, metrics: Sequence[str]
) -> dict[str, Any]:
    best_index = int(np.argmin(ranks))
    return {
        "selection_metric": metrics[0],
        "best_index": best_index,
        "best_params": _display_params(candidates[best_index].params),
        "note": "The best candidate is chosen on the same folds that score it, so its "
                "scores are optimistic; use nested cross-validation for an unbiased estimate.",
        "candidates": [
            {
                "params": _display_params(c.params),
                "rank": int(rank),
                "scores": {m: {"folds": c.metric(m).tolist(), **_stats(c.metric(m))} for m in metrics},
                "fit_time_mean": float(np.mean([f.fit_time for f in c.folds])),
            }
            for c, rank in zip(candidates, ranks, strict=True)
        ],
    }


def _curve_facts(best: Candidate, y: np.ndarray, classes: np.ndarray | None) -> dict[str, Any]:
    """Numbers behind the plots: loss histories, confusion matrix or residuals."""
    curves: dict[str, Any] = {"loss": [f.history for f in best.folds]}
    order = np.concatenate([f.test_index for f in best.folds])
    predicted = np.concatenate([f.y_pred for f in best.folds])
    if classes is not None:
        matrix = confusion_matrix(y[order], predicted, labels=classes)
        curves["confusion_matrix"] = {
            "labels": [_label(c) for c in classes], "matrix": matrix.tolist(),
            "rows": "true class", "columns": "predicted class",
        }
    else:
        residuals = y[order] - predicted
        curves["residuals"] = {
            **_stats(residuals),
            "quantiles": {
                str(q): float(np.quantile(residuals, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)
            },
        }
    return curves


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _run_fold(
    estimator: Any,
    params: Mapping[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    scoring: Mapping[str, Any],
    task: str,
) -> FoldResult:
    """Fit and score one candidate on one fold with :func:`cross_validate`."""
    model = clone(estimator).set_params(**params)
    with warnings.catch_warnings():
        # A category absent from a training fold is encoded as all zeros, by design.
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        result = cross_validate(
            model, X, y, cv=[(train, test)], scoring=dict(scoring), return_estimator=True,
            error_score="raise",
        )
        fitted = result["estimator"][0]
        X_test = X.iloc[test]
        y_pred = np.asarray(fitted.predict(X_test))
        y_score = (
            np.asarray(fitted.predict_proba(X_test), dtype=float)
            if task == "classification" else None
        )
    scores = {}
    for metric in scoring:
        value = float(result[f"test_{metric}"][0])
        scores[metric] = -value if metric in ("rmse", "mae") else value
    network = _keras_part(fitted)
    history = {k: [float(v) for v in vs] for k, vs in getattr(network, "history_", {}).items()}
    return FoldResult(
        scores=scores, fit_time=float(result["fit_time"][0]),
        score_time=float(result["score_time"][0]), n_train=len(train), n_test=len(test),
        history=history, test_index=np.asarray(test), y_pred=y_pred, y_score=y_score,
    )


def _keras_part(estimator: Any) -> Any:
    """The (fitted or not) Keras estimator at the end of a Pipeline or target transformer."""
    for _ in range(16):
        if hasattr(estimator, "regressor_"):
            estimator = estimator.regressor_
        elif hasattr(estimator, "regressor"):
            estimator = estimator.regressor
        elif hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        else:
            break
    return estimator


def _describe_estimator(estimator: Any) -> str:
    """One line naming the model's parts: ``TransformedTargetRegressor(Pipeline(...))``."""
    if hasattr(estimator, "steps"):
        inner = ", ".join(f"{n}={_describe_estimator(s)}" for n, s in estimator.steps)
        return f"Pipeline({inner})"
    if hasattr(estimator, "regressor"):
        return f"{type(estimator).__name__}({_describe_estimator(estimator.regressor)})"
    if hasattr(estimator, "transformers"):
        return f"{type(estimator).__name__}(" + ", ".join(
            f"{n}={_describe_estimator(t)}" for n, t, _ in estimator.transformers) + ")"
    return type(estimator).__name__


def _display_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {_short_param(k): v for k, v in params.items()}


def _ranks(means: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest mean, ties sharing the lower rank; NaN ranks last."""
    filled = np.where(np.isnan(means), -np.inf, means)
    return np.array([1 + int(np.sum(filled > m)) for m in filled])


def _environment() -> dict[str, str]:
    import keras
    import sklearn

    from . import __version__

    return {
        "skkeras": __version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


# ------------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 60rem; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
tr.summary td { font-weight: 600; background: #fafafa; }
figure { display: inline-block; margin: 0.5rem 1rem 1rem 0; vertical-align: top; }
figcaption { font-size: 0.9rem; color: #555; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""


def _html_table(
    rows: list[list[str]], *, left: Sequence[int] = (), summary_last: bool = False,
    header: bool = True,
) -> str:
    """An HTML table; ``left`` lists left-aligned columns, ``header`` makes row 0 the head."""

    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="l"' if i in left else ""
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    head, body = (rows[0], rows[1:]) if header else (None, rows)
    out = ["<table>"]
    if head is not None:
        out.append("<tr>" + "".join(cell("th", i, h) for i, h in enumerate(head)) + "</tr>")
    for r, row in enumerate(body):
        cls = ' class="summary"' if summary_last and r == len(body) - 1 else ""
        tag = "th" if not header else "td"
        out.append(f"<tr{cls}>" + "".join(
            cell(tag if i == 0 else "td", i, c) for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _render_html(report: Report, *, plots: bool) -> str:
    d = report.data
    ds, st, metrics = d["dataset"], d["settings"], d["metrics"]
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>skkeras report: {esc(ds['name'])}</title>", f"<style>{_CSS}</style>", "</head>",
        "<body>", f"<h1>skkeras report: {esc(ds['name'])}</h1>",
    ]

    parts.append('<section id="data"><h2>Data</h2>')
    rows = [["task", f"{ds['target_type']} {ds['task']}"], ["target", ds["target"]],
            ["samples", str(ds["n_samples"])],
            ["numeric features", ", ".join(ds["numeric_features"]) or "none"],
            ["categorical features", ", ".join(ds["categorical_features"]) or "none"]]
    if ds["task"] == "classification":
        rows.append(["classes", ", ".join(f"{k} ({v})" for k, v in ds["class_counts"].items())])
    else:
        s = ds["target_summary"]
        rows.append(["target range", f"{_fmt(s['min'])} to {_fmt(s['max'])}, mean {_fmt(s['mean'])}"])
    parts.append(_html_table(rows, left=(0, 1), header=False))
    for note in d["notes"]:
        parts.append(f'<p class="note">{esc(note)}</p>')
    parts.append("</section>")

    parts.append('<section id="settings"><h2>Model and settings</h2>')
    rows = [["model", d["model"]["description"]],
            ["network", f"{d['model']['estimator']}, built-in MLP, hidden layers {tuple(st['hidden'])}"],
            ["epochs", str(st["epochs"])], ["batch size", str(st["batch_size"])],
            ["random_state", str(st["random_state"])], ["cross-validation", st["splitter"]]]
    if st["grid"]:
        rows.append(["grid", "; ".join(f"{k}={v}" for k, v in st["grid"].items())])
    parts.append(_html_table(rows, left=(0, 1), header=False))
    parts.append("</section>")

    search = d["search"]
    if search is not None:
        primary = search["selection_metric"]
        parts.append('<section id="search"><h2>Grid search</h2>')
        parts.append(f"<p>Best params: <code>{esc(_format_params(search['best_params']))}</code> "
                     f"(by mean {esc(METRIC_LABELS[primary])}).</p>")
        rows = [["rank", "params", *[METRIC_LABELS[m] for m in metrics], "fit s"]]
        for c in sorted(search["candidates"], key=lambda c: c["rank"]):
            rows.append([
                str(c["rank"]), _format_params(c["params"]),
                *[_mean_std(c["scores"][m]) for m in metrics], f"{c['fit_time_mean']:.2f}",
            ])
        parts.append(_html_table(rows, left=(1,)))
        parts.append(f'<p class="note">{esc(search["note"])}</p></section>')

    parts.append('<section id="scores"><h2>Scores per fold</h2>')
    rows = [["fold", "train", "test", *[METRIC_LABELS[m] for m in metrics], "fit s", "score s"]]
    for f in d["folds"]:
        rows.append([str(f["fold"]), str(f["n_train"]), str(f["n_test"]),
                     *[_fmt(f["scores"][m]) for m in metrics],
                     f"{f['fit_time']:.2f}", f"{f['score_time']:.3f}"])
    s = d["summary"]
    rows.append(["mean ± std", "", "", *[_mean_std(s[m]) for m in metrics],
                 f"{s['fit_time']['mean']:.2f}", f"{s['score_time']['mean']:.3f}"])
    parts.append(_html_table(rows, summary_last=True))
    t = d["timing"]
    parts.append(f'<p class="note">Total time {t["total_s"]:.1f} s for {t["n_fits"]} fits '
                 f'(fit {t["fit_s"]:.1f} s, score {t["score_s"]:.1f} s).</p></section>')

    if "confusion_matrix" in d["curves"]:
        cm = d["curves"]["confusion_matrix"]
        parts.append('<section id="confusion-matrix-table"><h2>Confusion matrix (counts)</h2>')
        rows = [["true \\ predicted", *[str(c) for c in cm["labels"]]]]
        rows += [[str(c), *[str(v) for v in row]] for c, row in zip(cm["labels"], cm["matrix"], strict=True)]
        parts.append(_html_table(rows, left=(0,)) + "</section>")

    parts.append('<section id="plots"><h2>Plots</h2>')
    if plots:
        try:
            figures = report.figures()
        except ImportError as exc:
            parts.append(f'<p class="note">{esc(str(exc))}</p>')
        else:
            for title, png in figures.items():
                encoded = base64.b64encode(png).decode("ascii")
                anchor = re.sub(r"\W+", "-", title.lower()).strip("-")
                parts.append(
                    f'<figure id="{anchor}"><img alt="{esc(title)}" '
                    f'src="data:image/png;base64,{encoded}"><figcaption>{esc(title)}</figcaption></figure>'
                )
    else:
        parts.append('<p class="note">Plots were not drawn.</p>')
    parts.append("</section>")

    env = d["environment"]
    parts.append('<section id="environment"><h2>Environment</h2><p class="note">'
                 + esc(", ".join(f"{k} {v}" for k, v in env.items())) + "</p></section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"

"""What the report runs on: its options, parsed, and the data, checked.

Options: :func:`infer_task`, :func:`parse_hidden`, :func:`parse_grid`,
:func:`parse_params`, :func:`parse_baselines` and :func:`load_model` (a
``module:name`` a user gives on the command line). Data: :func:`check_data`
turns a table into the features every model of the report sees, and says what
it changed and what looks wrong (dates, ID-like, constant and high-cardinality
columns, duplicate rows, class imbalance, missing values).

Nothing here imports Keras: the command line parses its options with it first.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BASELINES",
    "ReportError",
    "check_data",
    "infer_task",
    "load_model",
    "parse_baselines",
    "parse_grid",
    "parse_hidden",
    "parse_params",
]

#: Defaults of the report, chosen so that the bundled Pima data (768 rows, 5 folds)
#: reports in seconds on 2 CPU cores.
DEFAULT_CV = 5
DEFAULT_EPOCHS = 50
DEFAULT_HIDDEN = (32, 16)
DEFAULT_RANDOM_STATE = 0
#: Share of each training fold held out for the network's validation loss curves.
#: 0 by default: on TensorFlow, validating every epoch makes the compiled training
#: run one epoch per call (Pima: 8 s instead of 1.3 s); ``--validation-split 0.1`` asks for them.
DEFAULT_VALIDATION_SPLIT = 0.0

#: An integer-valued numeric target with more distinct values than this is
#: treated as a regression target by :func:`infer_task`.
MAX_AUTO_CLASSES = 20

#: Grid-key shorthands.
GRID_ALIASES = {"hidden": "model__hidden_layer_sizes", "learning_rate": "optimizer__learning_rate"}

#: Baselines by task, in display order (names as ``--baselines`` takes them).
BASELINES = {
    "classification": ("logistic", "hist_gradient_boosting", "dummy"),
    "regression": ("ridge", "hist_gradient_boosting", "dummy"),
}

#: A categorical column with more levels than this (and than a tenth of the rows)
#: is reported as high-cardinality.
HIGH_CARDINALITY = 20

#: The smallest class below this share of the largest is reported as imbalance.
IMBALANCE_RATIO = 0.25

_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|index)$|^(id|uuid)([_\s-]|$)", re.IGNORECASE)
#: Text that looks like a date: a four-digit year first or last (2021-03-04, 04/03/2021).
_DATE_TEXT = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\b")


class ReportError(ValueError):
    """A mistake in the report's input or settings; the message is one line."""


# --------------------------------------------------------------------------- options
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
    from sklearn.utils.multiclass import type_of_target

    values = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    kind = type_of_target(values.to_numpy())
    if kind in ("binary", "multiclass") and values.nunique() <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer sizes from ``"32,16"``.

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


def _split_top_level(text: str, separator: str, option: str = "--grid") -> list[str]:
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
        raise ReportError(f"{option}: unbalanced brackets or quotes in {text!r}.")
    parts.append("".join(current))
    return parts


def parse_value(text: str) -> Any:
    """A Python literal (``16``, ``1e-3``, ``(32, 16)``, ``None``) or a bare word (``adam``)."""
    text = text.strip()
    if not text:
        raise ValueError("empty value")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[A-Za-z_][\w.\-]*", text):
            return text  # adam, glorot_uniform, he_normal...
        raise ValueError(f"cannot read value {text!r}") from None


def _check_training_value(option: str, key: str, value: Any) -> None:
    if key in ("epochs", "batch_size") and (
        isinstance(value, bool) or not isinstance(value, int) or value < 1
    ):
        raise ReportError(f"{option}: {key} values must be positive integers, got {value!r}.")


def parse_grid(text: str) -> dict[str, list[Any]]:
    """Parameter grid from ``"epochs=10,50;batch_size=16,32"``.

    Parameters are separated by ``;``, values by ``,``. Values are Python
    literals (``16``, ``0.001``, ``(32, 16)``, ``None``, ``'a b'``) or bare
    words (``adam``). Keys are parameters of the network (``epochs``,
    ``batch_size``, ``optimizer``, ``optimizer__learning_rate``,
    ``model__dropout``...) or keyword arguments of a user's builder, with the
    shorthands ``hidden`` for ``model__hidden_layer_sizes`` and
    ``learning_rate`` for ``optimizer__learning_rate``; keys starting with
    ``preprocess__`` reach the preprocessing step.

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
            grid[key] = [parse_value(v) for v in _split_top_level(values, ",")]
        except ValueError as exc:
            raise ReportError(f"--grid: cannot parse {entry.strip()!r} ({exc}): {usage}.") from None
        for value in grid[key]:
            _check_training_value("--grid", key, value)
    return grid


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """Fixed parameters from ``["units=32", "dropout=0.1"]`` (repeated ``--param``).

    Values read as in :func:`parse_grid`; the same shorthands apply.

    Raises
    ------
    ReportError
        If an item is not ``name=value`` or a name is given twice.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            raise ReportError(f"--param: cannot parse {item!r}: expected name=value, like units=32.")
        key = GRID_ALIASES.get(key, key)
        if key in params:
            raise ReportError(f"--param: {key!r} is given twice.")
        try:
            params[key] = parse_value(value)
        except ValueError as exc:
            raise ReportError(f"--param: cannot parse {item!r} ({exc}).") from None
        _check_training_value("--param", key, params[key])
    return params


def parse_baselines(text: str | Sequence[str] | None, task: str) -> tuple[str, ...]:
    """The baselines to run: ``"default"`` (all of the task's), ``"none"``, or a list.

    Parameters
    ----------
    text : str, sequence of str or None
        ``"default"`` or None: every baseline of :data:`BASELINES` for the
        task; ``"none"``: no baseline; otherwise comma-separated names.
    task : {"classification", "regression"}

    Raises
    ------
    ReportError
        For a name the task has no baseline for.
    """
    known = BASELINES[task]
    if text is None or (isinstance(text, str) and text.strip().lower() in ("default", "all")):
        return known
    names = [p.strip().lower().replace("-", "_") for p in (
        text.split(",") if isinstance(text, str) else text) if p.strip()]
    if names == ["none"] or not names:
        return ()
    for name in names:
        if name not in known:
            raise ReportError(
                f"--baselines: unknown baseline {name!r} for {task}; choose from "
                f"{', '.join(known)}, or default or none."
            )
    return tuple(dict.fromkeys(names))


def load_model(spec: str) -> Any:
    """The object ``module:name`` names: a Keras builder or an estimator.

    The module is imported from the current directory or ``sys.path``, as the
    user asked on the command line.

    Raises
    ------
    ReportError
        If the text is not ``module:name``, the module cannot be imported, or
        it has no such name.
    """
    module_name, sep, attribute = str(spec).partition(":")
    if not sep or not module_name or not re.fullmatch(r"[A-Za-z_][\w.]*", attribute):
        raise ReportError(
            f"--model {spec!r}: expected module:name, like my_module:build_model "
            "(a function returning a Keras model, or an estimator)."
        )
    import os
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReportError(f"--model {spec!r}: cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ReportError(f"--model {spec!r}: {module_name!r} has no {attribute!r}.")
        target = getattr(target, part)
    if not callable(target) and not hasattr(target, "fit"):
        raise ReportError(
            f"--model {spec!r} is a {type(target).__name__}, not a builder or an estimator."
        )
    return target


# ------------------------------------------------------------------------------ data
def prepare_table(X: Any, y: Any, notes: list[str]) -> tuple[pd.DataFrame, pd.Series, list[str]]:
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
    X = X.reset_index(drop=True)
    X.columns = [str(c) for c in X.columns]
    return X, y_series.reset_index(drop=True), notes


def check_target(X: pd.DataFrame, y: np.ndarray, task: str, cv: Any) -> np.ndarray | None:
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
            f"The target has only one class ({label(classes[0])!r}): a classifier needs at least two."
        )
    if counts.min() < cv:
        rare = label(classes[np.argmin(counts)])
        raise ReportError(
            f"Class {rare!r} has {counts.min()} rows, fewer than the {cv} folds of --cv {cv}: "
            "use fewer folds or drop the rare class."
        )
    return classes


def label(value: Any) -> Any:
    """A class label as a JSON/display-friendly Python value."""
    return value.item() if isinstance(value, np.generic) else value


def _as_dates(column: pd.Series) -> pd.Series | None:
    """The column as datetimes, if it holds dates (a datetime dtype, or text in which
    nine in ten values look like and parse as dates); None otherwise."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.tz_localize(None) if getattr(column.dt, "tz", None) else column
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    values = column.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.iloc[:200]):
        return None
    if values.astype(str).str.match(_DATE_TEXT).mean() < 0.9:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(column, errors="coerce", format="mixed")
    if parsed.notna().sum() < 0.9 * len(values):
        return None
    return parsed.dt.tz_localize(None) if getattr(parsed.dt, "tz", None) else parsed


def _date_features(name: str, dates: pd.Series) -> pd.DataFrame:
    parts = {
        "year": dates.dt.year, "month": dates.dt.month, "day": dates.dt.day,
        "dayofweek": dates.dt.day_of_week, "dayofyear": dates.dt.day_of_year,
    }
    times = dates.dropna()
    if len(times) and ((times.dt.hour != 0) | (times.dt.minute != 0)).any():
        parts["hour"] = dates.dt.hour
    return pd.DataFrame({f"{name}_{k}": v.astype("float64") for k, v in parts.items()})


def _id_like(name: str, column: pd.Series, n: int) -> bool:
    """A different value in every row, of text or integers (integers only when the
    name says id/key/index or the values run nearly consecutively)."""
    values = column.dropna()
    if n < 20 or len(values) < n or values.nunique() < n:
        return False
    if pd.api.types.is_integer_dtype(column):
        span = float(values.max()) - float(values.min()) + 1
        return bool(_ID_NAME.search(name)) or span <= 1.1 * n
    return not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def check_data(
    X: pd.DataFrame, y: pd.Series, task: str, *, parse_dates: bool = True
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The features every model of the report sees, and what was changed or looks wrong.

    - date columns (a datetime dtype, or text that parses as dates) become
      numeric features (year, month, day, day of week, day of year, and hour
      when times vary), or are dropped with ``parse_dates=False``; one-hot
      encoding them would give one level per row, which a network memorises;
    - ID-like columns (text or integers with a different value in every row)
      and constant columns are dropped;
    - high-cardinality categorical columns, duplicate rows, class imbalance and
      missing values are reported.

    Parameters
    ----------
    X : DataFrame
    y : Series
    task : {"classification", "regression"}
    parse_dates : bool, default=True

    Returns
    -------
    X : DataFrame
        The features, changed as above.
    summary : dict
        ``columns`` (per input column: kind, missing, unique, action),
        ``missing`` (counts of the columns that have any), ``duplicate_rows``,
        ``dropped`` and ``warnings`` (one sentence each).
    """
    n = len(X)
    columns: list[dict[str, Any]] = []
    kept: list[pd.DataFrame | pd.Series] = []
    warn: list[str] = []
    dates_parsed, dates_dropped, ids, constants, wide = [], [], [], [], []
    for name in X.columns:
        column = X[name]
        info = {"name": name, "missing": int(column.isna().sum()),
                "unique": int(column.nunique(dropna=True))}
        dates = _as_dates(column)
        if dates is not None:
            if parse_dates:
                features = _date_features(name, dates)
                kept.append(features)
                info.update(kind="date", action="parsed into " + ", ".join(features.columns))
                dates_parsed.append(name)
            else:
                info.update(kind="date", action="dropped")
                dates_dropped.append(name)
        elif info["unique"] <= 1:
            info.update(kind="constant", action="dropped")
            constants.append(name)
        elif _id_like(name, column, n):
            info.update(kind="ID-like", action="dropped")
            ids.append(name)
        else:
            numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            info.update(kind="numeric" if numeric else "categorical", action="kept")
            if not numeric and info["unique"] > max(HIGH_CARDINALITY, 0.1 * n):
                wide.append(f"{name!r} ({info['unique']} levels)")
            kept.append(column)
        columns.append(info)

    def quoted(names: list[str]) -> str:
        return ", ".join(repr(c) for c in names)

    if dates_parsed:
        warn.append(f"date column{'s' if len(dates_parsed) > 1 else ''} {quoted(dates_parsed)} "
                    "parsed into numeric features (year, month, day, day of week, day of year); "
                    "one-hot encoded they would give one level per row.")
    if dates_dropped:
        warn.append(f"date column{'s' if len(dates_dropped) > 1 else ''} {quoted(dates_dropped)} "
                    "dropped (dates are not parsed).")
    if ids:
        warn.append(f"ID-like column{'s' if len(ids) > 1 else ''} {quoted(ids)} dropped: a "
                    "different value in every row identifies rows, it does not predict.")
    if constants:
        warn.append(f"constant column{'s' if len(constants) > 1 else ''} {quoted(constants)} "
                    "dropped: one value in every row.")
    if wide:
        warn.append("high-cardinality categorical column" + ("s " if len(wide) > 1 else " ")
                    + ", ".join(wide) + ": one-hot encoding gives a column per level, which "
                    "rare levels make easy to memorise; consider grouping them.")
    out = pd.concat(kept, axis=1) if kept else X.iloc[:, :0]
    # Rows equal in every feature the models see and in the target (IDs aside).
    duplicates = int(pd.concat([out, y.rename("__target__")], axis=1).duplicated().sum())
    if duplicates:
        warn.append(f"{duplicates} duplicate row{'s' if duplicates > 1 else ''} (features and "
                    "target, dropped columns aside): copies that fall on both sides of a fold "
                    "flatter the scores.")
    if task == "classification":
        counts = y.value_counts()
        if len(counts) > 1 and counts.min() < IMBALANCE_RATIO * counts.max():
            share = counts.min() / counts.sum()
            warn.append(f"class imbalance: {label(counts.idxmin())!r} is {share:.0%} of the rows; "
                        "accuracy flatters a majority vote, so read balanced accuracy and the "
                        "dummy baseline.")
    missing = {c["name"]: c["missing"] for c in columns if c["missing"]}
    if missing:
        warn.append("missing values (imputed: median for numbers, most frequent otherwise): "
                    + ", ".join(f"{k} {v}" for k, v in missing.items()) + ".")
    summary = {
        "n_rows": n, "n_columns": int(X.shape[1]), "columns": columns, "missing": missing,
        "duplicate_rows": duplicates,
        "dropped": [c["name"] for c in columns if c["action"] == "dropped"],
        "warnings": warn,
    }
    return out, summary

"""The report's data, checked: :func:`check_data` turns a table into the features every
model of the report sees, and says what it changed and what looks wrong (dates, ID-like,
constant and high-cardinality columns, duplicate rows, class imbalance, missing values).

Nothing here imports Keras.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from .spec import ReportError

__all__ = ["check_data", "check_target", "label", "prepare_table"]

#: A categorical column with more levels than this (and than a tenth of the rows)
#: is reported as high-cardinality.
HIGH_CARDINALITY = 20

#: The smallest class below this share of the largest is reported as imbalance.
IMBALANCE_RATIO = 0.25

_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|key|index)$|^(id|uuid)([_\s-]|$)", re.IGNORECASE)
#: Text that looks like a date: a four-digit year first or last (2021-03-04, 04/03/2021).
_DATE_TEXT = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\b")


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
        _check_finite_float32(y.astype(float), "The target")
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


def _check_finite_float32(values: np.ndarray, what: str) -> None:
    """Refuse infinite values and values beyond float32, which every network computes in."""
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise ReportError(
            f"{what} has infinite values in {infinite} row(s): remove them or mark them missing."
        )
    largest = float(np.nanmax(np.abs(values), initial=0.0))
    if largest > float(np.finfo(np.float32).max):
        raise ReportError(
            f"{what} has values as large as {largest:.3g}, beyond float32's range (about 3.4e38), "
            "in which the networks compute: rescale it."
        )


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
      missing values are reported;
    - a numeric column with infinite values or values beyond float32's range
      raises :class:`~skkeras.report.spec.ReportError` naming it.

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
            if numeric:
                _check_finite_float32(column.to_numpy(dtype=float, na_value=np.nan), f"Column {name!r}")
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

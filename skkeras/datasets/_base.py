"""Offline loaders for the data sets shipped inside :mod:`skkeras.datasets`.

The files live in ``skkeras/datasets/data`` (gzip-compressed CSV) and
``skkeras/datasets/descr`` (reStructuredText descriptions). They are read with
:mod:`importlib.resources`, so the loaders work from a source checkout as well
as from an installed wheel or a zipped package. Nothing is cached: every call
parses the file again and returns new arrays, so callers may mutate what they
get without affecting later calls.

pandas is only imported when ``as_frame=True``.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import Bunch

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["load_california_housing", "load_pima_diabetes"]

#: Package that holds the ``data`` and ``descr`` folders.
DATA_MODULE = "skkeras.datasets"
_DATA_DIR = "data"
_DESCR_DIR = "descr"

# --- Pima Indians Diabetes -------------------------------------------------
_PIMA_FILE = "pima-indians-diabetes.csv.gz"
_PIMA_DESCR = "pima_diabetes.rst"
_PIMA_FEATURES = (
    "Pregnancies",
    "Glucose",
    "BloodPressure",
    "SkinThickness",
    "Insulin",
    "BMI",
    "DiabetesPedigreeFunction",
    "Age",
)
_PIMA_TARGET = "Outcome"
_PIMA_CLASSES = ("tested_negative", "tested_positive")

# --- California housing (raw units, mixed types) ---------------------------
_HOUSING_FILE = "california-housing.csv.gz"
_HOUSING_DESCR = "california_housing.rst"
# Column order of the CSV file, target included.
_HOUSING_COLUMNS = (
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
    "median_house_value",
    "ocean_proximity",
)
_HOUSING_TARGET = "median_house_value"
_HOUSING_CATEGORICAL = "ocean_proximity"
_HOUSING_FEATURES = tuple(c for c in _HOUSING_COLUMNS if c != _HOUSING_TARGET)
# Levels of ``ocean_proximity``, in lexicographic order (what pandas would infer).
_OCEAN_PROXIMITY_LEVELS = ("<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN")


def _resource(folder: str, name: str) -> Traversable:
    """Return the traversable for ``folder/name`` inside :data:`DATA_MODULE`."""
    return files(DATA_MODULE) / folder / name


def _load_descr(name: str) -> str:
    """Return the text of the description file ``descr/<name>``."""
    return _resource(_DESCR_DIR, name).read_text(encoding="utf-8")


def _read_gzip_csv(name: str, expected_header: tuple[str, ...]) -> list[list[str]]:
    """Decompress and parse ``data/<name>``, returning its rows as strings.

    Parameters
    ----------
    name : str
        File name inside the ``data`` folder.
    expected_header : tuple of str
        The exact header the file must start with.

    Returns
    -------
    rows : list of list of str
        The data rows, header excluded.

    Raises
    ------
    ValueError
        If the header or the number of fields in a row is not as expected.
    """
    raw = gzip.decompress(_resource(_DATA_DIR, name).read_bytes())
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    header = tuple(next(reader))
    if header != expected_header:
        raise ValueError(
            f"Unexpected header in shipped file {name!r}: got {header}, "
            f"expected {expected_header}. The package data may be corrupted."
        )
    rows = [row for row in reader if row]
    width = len(expected_header)
    for lineno, row in enumerate(rows, start=2):
        if len(row) != width:
            raise ValueError(
                f"Line {lineno} of shipped file {name!r} has {len(row)} fields, "
                f"expected {width}. The package data may be corrupted."
            )
    return rows


def _to_float(values: tuple[str, ...] | list[str]) -> np.ndarray:
    """Convert CSV strings to a float64 array, blanks becoming NaN."""
    return np.array([v if v.strip() else "nan" for v in values], dtype=np.float64)


def _import_pandas(caller: str) -> Any:
    """Import pandas, with an error message naming the caller if it is missing."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is installed in CI
        raise ImportError(
            f"{caller}(as_frame=True) requires pandas; install it with "
            "`pip install pandas`, or call it with as_frame=False."
        ) from exc
    return pd


def load_pima_diabetes(
    *, return_X_y: bool = False, as_frame: bool = False
) -> Bunch | tuple[Any, Any]:
    """Load and return the Pima Indians Diabetes dataset (classification).

    The data are read from a compressed copy shipped inside the package; no
    network access is needed.

    =================   ==============================
    Classes                                          2
    Samples per class         500 (0), 268 (1)
    Samples total                                  768
    Dimensionality                                   8
    Features                  real, non-negative
    =================   ==============================

    Zeros in ``Glucose``, ``BloodPressure``, ``SkinThickness``, ``Insulin``
    and ``BMI`` stand for missing values. They are returned unchanged (not
    converted to NaN); see ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, returns ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=False
        If True, the data is a pandas DataFrame with float64 columns and the
        target a pandas Series of dtype int64 named ``"Outcome"``. If
        `return_X_y` is True, then (`data`, `target`) will be pandas objects
        as described. Requires pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (768, 8)
            The feature matrix, float64. If `as_frame=True`, `data` is a
            pandas DataFrame whose columns are `feature_names`.
        target : {ndarray, Series} of shape (768,)
            The binary target ``Outcome`` (int64, 0 or 1; 1 means "tested
            positive for diabetes"). If `as_frame=True`, `target` is a pandas
            Series named ``"Outcome"``.
        frame : DataFrame of shape (768, 9) or None
            Only set when `as_frame=True`: DataFrame with `data` and
            `target`, in the column order of the original CSV file.
            None otherwise.
        feature_names : list of str
            The original column names of the 8 features.
        target_names : ndarray of shape (2,)
            The names of the classes, indexed by target value:
            ``["tested_negative", "tested_positive"]``.
        DESCR : str
            The full description of the dataset.
        filename : str
            Path of the data file relative to `data_module`.
        data_module : str
            The package holding the data file, for
            :func:`importlib.resources.files`.

    (data, target) : tuple if ``return_X_y`` is True
        A float64 ndarray of shape (768, 8) and an int64 ndarray of shape
        (768,), or a DataFrame and a Series if `as_frame=True`.

    Examples
    --------
    >>> from skkeras.datasets import load_pima_diabetes
    >>> X, y = load_pima_diabetes(return_X_y=True)
    >>> X.shape, int(y.sum())
    ((768, 8), 268)
    """
    header = (*_PIMA_FEATURES, _PIMA_TARGET)
    rows = _read_gzip_csv(_PIMA_FILE, header)
    table = np.array(rows, dtype=np.float64)
    data = np.ascontiguousarray(table[:, : len(_PIMA_FEATURES)])
    target_float = table[:, len(_PIMA_FEATURES)]
    if not np.isin(target_float, (0.0, 1.0)).all():
        raise ValueError(
            f"Shipped file {_PIMA_FILE!r} has {_PIMA_TARGET} values other than 0 "
            "and 1. The package data may be corrupted."
        )
    target = target_float.astype(np.int64)
    feature_names = list(_PIMA_FEATURES)

    frame = None
    if as_frame:
        pd = _import_pandas("load_pima_diabetes")
        frame = pd.DataFrame(data, columns=feature_names)
        frame[_PIMA_TARGET] = target
        data = frame[feature_names].copy()
        target = frame[_PIMA_TARGET].copy()

    if return_X_y:
        return data, target

    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=np.array(_PIMA_CLASSES),
        DESCR=_load_descr(_PIMA_DESCR),
        filename=f"{_DATA_DIR}/{_PIMA_FILE}",
        data_module=DATA_MODULE,
    )


def load_california_housing(
    *, return_X_y: bool = False, as_frame: bool = False
) -> Bunch | tuple[Any, Any]:
    """Load and return the raw California housing dataset (regression).

    This is the mixed-type, raw-units version of the 1990 census data (block
    group totals, target in US dollars, a categorical ``ocean_proximity``
    column and 207 missing ``total_bedrooms``), **not** the pre-cleaned
    version returned by :func:`sklearn.datasets.fetch_california_housing`.
    The data are read from a compressed copy shipped inside the package; no
    network access is needed.

    ==============   ===================================
    Samples total                                  20640
    Dimensionality       9 (8 numeric, 1 categorical)
    Features          real, categorical, with NaN
    Target           real, 14999 - 500001 (US dollars)
    ==============   ===================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, returns ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=False
        If True, the data is a pandas DataFrame with float64 numeric columns
        and a ``category`` column ``ocean_proximity`` (5 levels), and the
        target a float64 pandas Series named ``"median_house_value"``. If
        `return_X_y` is True, then (`data`, `target`) will be pandas objects
        as described. Requires pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (20640, 9)
            The features, in the column order of the CSV file minus the
            target. Because the features mix numbers and strings, when
            `as_frame=False` this is a NumPy array of **dtype object**
            holding Python floats (NaN for the blanks in ``total_bedrooms``)
            and, in the last column, the ``ocean_proximity`` strings; this
            mirrors how :func:`sklearn.datasets.fetch_openml` returns mixed
            data. Select and convert the numeric columns yourself, or use
            `as_frame=True` with a :class:`~sklearn.compose.ColumnTransformer`.
            If `as_frame=True`, a DataFrame with float64 numeric columns and
            a categorical ``ocean_proximity`` column.
        target : {ndarray, Series} of shape (20640,)
            The median house value in US dollars (float64, top-coded at
            500001). If `as_frame=True`, a pandas Series named
            ``"median_house_value"``.
        frame : DataFrame of shape (20640, 10) or None
            Only set when `as_frame=True`: DataFrame with `data` and
            `target`, in the column order of the original CSV file (the
            target comes before ``ocean_proximity``). None otherwise.
        feature_names : list of str
            The names of the 9 feature columns.
        target_names : list of str
            The name of the target column, ``["median_house_value"]``.
        DESCR : str
            The full description of the dataset.
        filename : str
            Path of the data file relative to `data_module`.
        data_module : str
            The package holding the data file, for
            :func:`importlib.resources.files`.

    (data, target) : tuple if ``return_X_y`` is True
        An object ndarray of shape (20640, 9) and a float64 ndarray of shape
        (20640,), or a DataFrame and a Series if `as_frame=True`.

    Examples
    --------
    >>> from skkeras.datasets import load_california_housing
    >>> housing = load_california_housing(as_frame=True)
    >>> housing.data.shape
    (20640, 9)
    >>> housing.data["ocean_proximity"].value_counts()["ISLAND"].item()
    5
    >>> X, y = load_california_housing(return_X_y=True)
    >>> X.dtype, X[0, -1], y.dtype
    (dtype('O'), 'NEAR BAY', dtype('float64'))
    """
    rows = _read_gzip_csv(_HOUSING_FILE, _HOUSING_COLUMNS)
    columns = dict(zip(_HOUSING_COLUMNS, zip(*rows, strict=True), strict=True))
    categories = columns[_HOUSING_CATEGORICAL]
    unknown = set(categories).difference(_OCEAN_PROXIMITY_LEVELS)
    if unknown:
        raise ValueError(
            f"Shipped file {_HOUSING_FILE!r} has unexpected {_HOUSING_CATEGORICAL} "
            f"levels {sorted(unknown)}; expected {list(_OCEAN_PROXIMITY_LEVELS)}."
        )
    numeric = {
        name: _to_float(values)
        for name, values in columns.items()
        if name != _HOUSING_CATEGORICAL
    }
    target = numeric[_HOUSING_TARGET]
    feature_names = list(_HOUSING_FEATURES)
    target_names = [_HOUSING_TARGET]

    frame = None
    if as_frame:
        pd = _import_pandas("load_california_housing")
        frame = pd.DataFrame(
            {
                name: (
                    pd.Categorical(categories, categories=_OCEAN_PROXIMITY_LEVELS)
                    if name == _HOUSING_CATEGORICAL
                    else numeric[name]
                )
                for name in _HOUSING_COLUMNS
            }
        )
        data = frame[feature_names].copy()
        target = frame[_HOUSING_TARGET].copy()
    else:
        data = np.empty((len(rows), len(feature_names)), dtype=object)
        for j, name in enumerate(feature_names):
            data[:, j] = (
                np.array(categories, dtype=object)
                if name == _HOUSING_CATEGORICAL
                else numeric[name]
            )

    if return_X_y:
        return data, target

    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=target_names,
        DESCR=_load_descr(_HOUSING_DESCR),
        filename=f"{_DATA_DIR}/{_HOUSING_FILE}",
        data_module=DATA_MODULE,
    )

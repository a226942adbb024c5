"""Validation of the features ``X`` and their conversion into model inputs.

Everything a user may pass as ``X`` goes through here: NumPy arrays, lists,
pandas DataFrames, and dicts of arrays for models with several named inputs.
scikit-learn's own validation does the checking, so errors read the way
scikit-learn users expect; this module adds what Keras needs on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, validate_data

#: The dtype the models see. Keras layers default to float32.
MODEL_DTYPE = np.float32

# Column groups for multi-input models: input name -> column indices or names.
InputColumns = Mapping[str, Sequence[int] | Sequence[str] | slice]


def reject_sparse(X: Any, name: str = "X") -> None:
    """Raise a ValueError for sparse input, which Keras layers cannot consume."""
    if scipy.sparse.issparse(X):
        raise ValueError(
            f"Sparse input is not supported: {name} is a {type(X).__name__}. "
            "Convert it to a dense array first, e.g. with X.toarray()."
        )


def _is_dict_input(X: Any) -> bool:
    # scipy's dok sparse format subclasses dict, so test sparsity first
    return isinstance(X, Mapping) and not scipy.sparse.issparse(X)


def _check_dict_input(X: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not X:
        raise ValueError("X is an empty dict: give one array per model input.")
    arrays = {}
    for name, value in X.items():
        reject_sparse(value, name=f"X[{name!r}]")
        arrays[name] = check_array(
            value, ensure_2d=False, allow_nd=True, dtype=(np.float32, np.float64),
            input_name=f"X[{name!r}]",
        )
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"The arrays in X have different numbers of rows: {lengths}.")
    return arrays


def n_rows(X: np.ndarray | Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> int:
    """Number of samples in validated X (an array, or a dict or list of arrays)."""
    if isinstance(X, Mapping):
        return n_rows(next(iter(X.values())))
    if isinstance(X, list | tuple):
        return n_rows(X[0])
    return X.shape[0] if scipy.sparse.issparse(X) else len(X)


def check_float32_range(X: Any, name: str = "X") -> None:
    """Raise a ValueError if float64 values of X would overflow the models' float32."""
    if isinstance(X, Mapping):
        for key, value in X.items():
            check_float32_range(value, f"{name}[{key!r}]")
        return
    values = X.data if scipy.sparse.issparse(X) else X
    if isinstance(values, np.ndarray) and values.dtype == np.float64 and values.size:
        largest = float(np.max(np.abs(values)))
        if largest > float(np.finfo(MODEL_DTYPE).max):  # in float64: no overflow warning
            raise ValueError(
                f"{name} has values as large as {largest:.3g}, beyond float32's range "
                f"(about 3.4e38): the model computes in float32, where they become inf. "
                f"Scale {name} (e.g. with sklearn.preprocessing.StandardScaler)."
            )


def feature_dtype(X: Any) -> Any:
    """The dtype validation gives X: an integer or float array (dense or sparse) keeps
    its own, as scikeras keeps it (the model receives it so where it trains with its
    own ``fit``), and so does an object wrapping such an array; anything else (objects,
    lists, data frames) becomes float32."""
    dtype = getattr(X, "dtype", None)
    if (isinstance(X, np.ndarray) or scipy.sparse.issparse(X)) and dtype.kind in "iuf":
        return dtype
    if dtype is None and hasattr(X, "__array__") and not hasattr(X, "dtypes"):
        # A wrapper around an array (scikit-learn's NotAnArray): its array's dtype, so
        # that it fits exactly as the array itself would.
        dtype = np.asarray(X).dtype
        if dtype.kind in "iuf":
            return dtype
    return (MODEL_DTYPE, np.float64)


def as_model_dtype(x: Any) -> Any:
    """Model inputs (an array, a sparse matrix, or a dict or list of them) with their
    integer and float arrays in :data:`MODEL_DTYPE`, what skkeras's engines train on."""
    if isinstance(x, Mapping):
        return {name: as_model_dtype(a) for name, a in x.items()}
    if isinstance(x, list | tuple):
        return [as_model_dtype(a) for a in x]
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype == MODEL_DTYPE or dtype.kind not in "iufb":
        return x
    return x.astype(MODEL_DTYPE)


def validate_features(
    estimator: Any, X: Any, *, reset: bool
) -> np.ndarray | dict[str, np.ndarray]:
    """Validate X alone: for predict-time calls, or fit with a dict input.

    With ``reset=True`` this records ``n_features_in_`` and ``feature_names_in_``
    (array or DataFrame input); with ``reset=False`` it checks X against them.
    """
    if _is_dict_input(X):
        X = _check_dict_input(X)
    else:
        X = validate_data(estimator, X, reset=reset, allow_nd=True, dtype=feature_dtype(X),
                          accept_sparse="csr")
    check_float32_range(X)
    return X


def validate_features_and_target(
    estimator: Any, X: Any, y: Any, *, y_numeric: bool
) -> tuple[np.ndarray | dict[str, np.ndarray], np.ndarray]:
    """Validate X and y together at fit time, recording the feature metadata.

    ``y_numeric`` converts object targets to floats (regression); classifiers
    keep their labels as given.
    """
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    reject_sparse(y, name="y")
    if _is_dict_input(X):
        arrays = _check_dict_input(X)
        for stale in ("n_features_in_", "feature_names_in_"):
            if hasattr(estimator, stale):
                delattr(estimator, stale)
        y = check_array(y, ensure_2d=False, dtype="numeric" if y_numeric else None, input_name="y")
        if len(y) != n_rows(arrays):
            raise ValueError(
                f"X has {n_rows(arrays)} rows but y has {len(y)}: they must match."
            )
        X = arrays
    else:
        X, y = validate_data(
            estimator, X, y, reset=True, allow_nd=True, multi_output=True,
            dtype=feature_dtype(X), y_numeric=y_numeric, accept_sparse="csr",
        )
    check_float32_range(X)
    if y_numeric:
        check_float32_range(np.asarray(y), "y")
    return X, y


def _column_indices(
    columns: Sequence[int] | Sequence[str] | slice,
    feature_names: np.ndarray | None,
    input_name: str,
    n_columns: int,
) -> Any:
    if isinstance(columns, slice):
        return columns
    columns = list(columns)
    if not columns:
        raise ValueError(f"inputs[{input_name!r}] names no columns.")
    if all(isinstance(c, str) for c in columns):
        if feature_names is None:
            raise ValueError(
                f"inputs[{input_name!r}] names columns {columns}, but X has no column "
                "names: fit on a DataFrame, or give column indices."
            )
        lookup = {name: i for i, name in enumerate(feature_names)}
        missing = [c for c in columns if c not in lookup]
        if missing:
            raise ValueError(f"inputs[{input_name!r}]: columns {missing} are not in X.")
        return [lookup[c] for c in columns]
    outside = [c for c in columns if not isinstance(c, int | np.integer) or not -n_columns <= c < n_columns]
    if outside:
        raise ValueError(f"inputs[{input_name!r}]: columns {outside} are not column indices of X, "
                         f"which has {n_columns} columns (0 to {n_columns - 1}).")
    return columns


def split_inputs(
    X: np.ndarray | Mapping[str, np.ndarray],
    input_columns: InputColumns | None,
    feature_names: np.ndarray | None = None,
    *,
    keep_dtype: bool = False,
) -> np.ndarray | dict[str, np.ndarray]:
    """Turn validated X into what the Keras model is called with, as float32 (or,
    with ``keep_dtype``, in the dtype validation gave it).

    A dict stays a dict. A 2-D array with an ``inputs`` mapping becomes one array
    per named model input, taken from its column group, so that a multi-input
    model still accepts one table (and works inside Pipelines and CV).
    """
    def typed(a: Any) -> Any:
        return a if keep_dtype else as_model_dtype(a)

    if _is_dict_input(X):
        return {name: typed(np.asarray(a)) for name, a in X.items()}
    if scipy.sparse.issparse(X):  # stays sparse: densified one batch at a time (skkeras.sparse)
        X = typed(scipy.sparse.csr_matrix(X))
        if input_columns is None:
            return X
        return {name: X[:, _column_indices(columns, feature_names, name, X.shape[1])]
                for name, columns in input_columns.items()}
    if input_columns is None:
        return typed(np.asarray(X))
    if X.ndim != 2:
        raise ValueError(f"inputs= needs 2-D X to split by column, got shape {X.shape}.")
    return {
        name: typed(np.ascontiguousarray(X[:, _column_indices(columns, feature_names, name, X.shape[1])]))
        for name, columns in input_columns.items()
    }


def take_rows(X: Any, rows: np.ndarray | slice) -> Any:
    """Rows of model inputs or targets: one array, a dict or list of arrays, or None."""
    if X is None:
        return None
    if isinstance(X, Mapping):
        return {name: a[rows] for name, a in X.items()}
    if isinstance(X, list | tuple):
        return [a[rows] for a in X]
    return X[rows]


class FeatureEncoder(TransformerMixin, BaseEstimator):
    """The default ``feature_encoder``: validated X as the model's inputs, in its own
    integer or float dtype (the estimators cast it to float32 for training and prediction).

    A dict of arrays stays a dict. With ``inputs`` (``{input_name: columns}``) a
    2-D X is split into one array per named model input (see :func:`split_inputs`);
    otherwise X passes through. ``inverse_transform`` undoes the split.

    Parameters
    ----------
    inputs : dict or None, default=None
        The estimator's ``inputs`` parameter.
    feature_names : array of str or None, default=None
        Column names of X, for ``inputs`` given by name.

    Attributes
    ----------
    input_shapes_ : dict
        Shape of one sample of each model input, by input name (``"features"``
        for a single unnamed input).
    named_inputs_ : bool
        Whether the model is fed a dict of named inputs.
    """

    def __init__(self, inputs: InputColumns | None = None, feature_names: Any = None) -> None:
        self.inputs = inputs
        self.feature_names = feature_names

    def fit(self, X: Any, y: Any = None) -> FeatureEncoder:
        sample = self.transform(take_rows(X, slice(0, 1)))
        if isinstance(sample, Mapping):
            self.input_shapes_ = {name: tuple(a.shape[1:]) for name, a in sample.items()}
        else:
            self.input_shapes_ = {"features": tuple(sample.shape[1:])}
        self.named_inputs_ = isinstance(sample, Mapping)
        two_d = (isinstance(X, np.ndarray) and X.ndim == 2) or scipy.sparse.issparse(X)
        self.n_columns_ = X.shape[1] if two_d else None
        return self

    def transform(self, X: Any) -> Any:
        """X as the model's inputs, split by ``inputs``, in the dtype validation gave
        it (integer and float arrays keep theirs, as in scikeras); skkeras casts them
        to float32 for its engines and predictions (:func:`as_model_dtype`)."""
        return split_inputs(X, self.inputs, self.feature_names, keep_dtype=True)

    def inverse_transform(self, X: Any) -> Any:
        if self.inputs is None or not isinstance(X, Mapping) or self.n_columns_ is None:
            return X
        first = next(iter(X.values()))
        out = np.zeros((len(first), self.n_columns_), dtype=first.dtype)
        for name, columns in self.inputs.items():
            out[:, _column_indices(columns, self.feature_names, name, self.n_columns_)] = X[name]
        return out

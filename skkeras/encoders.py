"""Target encoders as scikit-learn transformers, with scikeras's semantics.

:class:`ClassifierLabelEncoder` turns class labels into what a Keras model is
trained on (class indices, or one-hot rows when the loss is categorical
cross-entropy) and model outputs back into labels or probabilities;
:class:`RegressorTargetEncoder` checks a regression target's width and restores
its shape. Both report, through ``get_metadata``, the facts a model builder
reads from ``meta`` (``classes_``, ``n_classes_``, ``n_outputs_``,
``n_outputs_expected_``). A ``target_encoder`` property of a subclass of the
estimators may return these, or any transformer with the same methods.

The transformers take the target alone: ``fit(y)``, ``transform(y)``,
``inverse_transform(y)``, as in scikeras (scikit-learn's own target encoders,
``LabelEncoder`` for instance, have the same one-argument form).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.utils.multiclass import type_of_target

__all__ = ["ClassifierLabelEncoder", "RegressorTargetEncoder", "TargetReshaper"]

_CATEGORICAL_NAMES = ("categorical_crossentropy", "cce", "CategoricalCrossentropy")

_UNKNOWN_LABEL_HELP = (
    "To support it, subclass the estimator and override its ``target_encoder`` "
    "property with a transformer for this label type. Target types: see "
    "sklearn.utils.multiclass.type_of_target."
)


_COLUMN_VECTOR_WARNING = (
    "A column-vector y was passed when a 1d array was expected. Please change the shape "
    "of y to (n_samples,), for example using ravel()."
)


def is_categorical_crossentropy(loss: Any) -> bool:
    """Whether ``loss`` (a name, a function, a class or an instance) is Keras's
    categorical cross-entropy, which trains on one-hot targets."""
    if isinstance(loss, str):
        return loss in _CATEGORICAL_NAMES
    if isinstance(loss, type):
        return issubclass(loss, keras.losses.CategoricalCrossentropy)
    if isinstance(loss, keras.losses.CategoricalCrossentropy):
        return True
    return getattr(loss, "__name__", None) == "categorical_crossentropy"


def _check_fitted(encoder: Any, attribute: str) -> None:
    if not hasattr(encoder, attribute):
        raise NotFittedError(
            f"This {type(encoder).__name__} is not initialized (not fitted yet): call "
            "``fit`` before ``transform`` or ``inverse_transform``."
        )


class TargetReshaper(BaseEstimator, TransformerMixin):
    """Make a 1-D target a column (for transformers that want 2-D input) and back.

    Attributes
    ----------
    ndim_ : int
        Dimensions of the y seen in ``fit``.
    """

    def fit(self, y: Any) -> TargetReshaper:
        """Record the number of dimensions of ``y``."""
        self.ndim_ = np.ndim(y)
        return self

    def transform(self, y: Any) -> np.ndarray:
        """``y`` as a column if it is 1-D, untouched otherwise."""
        y = np.asarray(y)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y: Any) -> np.ndarray:
        """Squeeze a single column back to 1-D if ``fit`` saw a 1-D y."""
        _check_fitted(self, "ndim_")
        y = np.asarray(y)
        if self.ndim_ == 1 and y.ndim == 2 and y.shape[1] == 1:
            return y[:, 0]
        return y


class ClassifierLabelEncoder(BaseEstimator, TransformerMixin):
    """Class labels to what a Keras classifier is trained on, and back.

    Binary and multiclass labels (any sortable type: ints, strings, bools,
    floats) become class indices in a column of Keras's float type, or one-hot
    rows when ``loss`` is categorical cross-entropy (multiclass only); indicator
    matrices (multilabel, or one-hot rows) and multiclass-multioutput targets
    pass through unchanged.

    Parameters
    ----------
    loss : str, keras.losses.Loss, callable or None, default=None
        The model's loss; categorical cross-entropy makes multiclass targets one-hot.
    categories : "auto" or list of one array, default="auto"
        Every class of the problem, in the order of the model's outputs (as
        ``OneHotEncoder``'s ``categories``: a list holding one array). "auto"
        takes the sorted classes found in ``y``; give them when a fit's y may
        lack some (``partial_fit`` on batches).

    Attributes
    ----------
    classes_ : ndarray or None
        The classes (column indices for indicator targets; None for
        multiclass-multioutput).
    n_classes_ : int or None
    n_outputs_ : int
        Always 1: one target (scikeras's convention).
    n_outputs_expected_ : int
        The number of model outputs expected: 1.
    """

    def __init__(self, loss: Any = None, categories: str | Sequence[Any] = "auto") -> None:
        self.loss = loss
        self.categories = categories

    def _type_of_target(self, y: np.ndarray) -> str:
        target_type = type_of_target(y)
        if target_type == "binary" and not _is_auto(self.categories):
            # Two classes seen, but the categories may name more.
            target_type = type_of_target(np.asarray(self.categories[0]))
        return target_type

    def fit(self, y: Any) -> ClassifierLabelEncoder:
        """Learn the classes and the encoding of ``y``.

        Raises
        ------
        ValueError
            For a target type the encoder does not support (continuous values,
            for instance), or labels missing from ``categories``.
        """
        y = np.asarray(y)
        target_type = self._type_of_target(y)
        if target_type not in ("binary", "multiclass", "multilabel-indicator",
                               "multiclass-multioutput"):
            raise ValueError(f"Unknown label type: {target_type}. {_UNKNOWN_LABEL_HELP}")
        self._y_shape = y.shape
        self._y_dtype = y.dtype
        if target_type in ("binary", "multiclass"):
            if y.ndim == 2:  # a column vector, as scikit-learn's classifiers warn
                warnings.warn(_COLUMN_VECTOR_WARNING, DataConversionWarning, stacklevel=2)
            column = y.reshape(-1)
            if _is_auto(self.categories):
                classes = np.unique(column)
            else:
                if len(self.categories) != 1:
                    raise ValueError(
                        "categories must be 'auto' or a list holding one array of classes, "
                        f"got {len(self.categories)} arrays."
                    )
                classes = np.asarray(self.categories[0])
            self.classes_ = classes
            self.n_classes_ = int(classes.size)
            self._one_hot = target_type == "multiclass" and is_categorical_crossentropy(self.loss)
            self._indices(column)  # unknown labels fail in fit, as in OrdinalEncoder
        elif target_type == "multilabel-indicator":
            if y.min() == 0 and (y.sum(axis=1) == 1).all():
                target_type = "multiclass-onehot"
            self.classes_ = np.arange(y.shape[1])
            self.n_classes_ = int(y.shape[1])
        else:
            self.classes_ = None
            self.n_classes_ = None
        self._target_type = target_type
        self.n_outputs_ = 1
        self.n_outputs_expected_ = 1
        return self

    def _indices(self, labels: np.ndarray) -> np.ndarray:
        classes = self.classes_
        order = np.argsort(classes, kind="stable")
        position = np.searchsorted(classes[order], labels)
        position = np.clip(position, 0, len(classes) - 1)
        indices = order[position]
        unknown = classes[indices] != labels
        if np.any(unknown):
            raise ValueError(
                f"Found unknown categories {sorted(set(labels[unknown].tolist()))[:10]} in y; "
                f"the classes are {classes.tolist()}."
            )
        return indices

    def transform(self, y: Any) -> np.ndarray:
        """The target as the model is trained on it: a column of class indices
        (Keras's float type), one-hot rows, or the indicator matrix unchanged."""
        _check_fitted(self, "_target_type")
        y = np.asarray(y)
        if self._target_type not in ("binary", "multiclass"):
            return y
        indices = self._indices(y.reshape(-1))
        dtype = np.dtype(keras.backend.floatx())
        if self._one_hot:
            return np.eye(self.n_classes_, dtype=dtype)[indices]
        return indices.astype(dtype).reshape(-1, 1)

    def inverse_transform(self, y: Any, return_proba: bool = False) -> np.ndarray:
        """Labels (or, with ``return_proba``, probabilities) from the model's outputs.

        A single sigmoid column of a binary problem becomes two columns
        ``[1 - p, p]``. Labels take the shape of the y seen in ``fit``.

        Raises
        ------
        NotImplementedError
            For labels of a multiclass-multioutput target, which have no
            defined decoding (probabilities are returned as they are).
        """
        _check_fitted(self, "_target_type")
        y = np.asarray(y)
        kind = self._target_type
        if kind == "binary" and (y.ndim == 1 or (y.shape[1] == 1 and self.n_classes_ == 2)):
            y = y.reshape(-1)
            y = np.column_stack([1 - y, y])
        if return_proba:
            return np.squeeze(y)
        if kind in ("binary", "multiclass"):
            labels = self.classes_[np.argmax(y, axis=-1)]
        elif kind == "multiclass-onehot":
            labels = np.eye(y.shape[1], dtype=int)[np.argmax(y, axis=-1)]
        elif kind == "multilabel-indicator":
            labels = np.around(y).astype(int, copy=False)
        else:
            raise NotImplementedError(
                "Class-predictions are not clearly defined for 'multiclass-multioutput' "
                "targets. "
                + _UNKNOWN_LABEL_HELP
            )
        return labels.reshape(-1, *self._y_shape[1:])

    def get_metadata(self) -> dict[str, Any]:
        """The facts a model builder reads from ``meta``."""
        _check_fitted(self, "_target_type")
        return {
            "classes_": self.classes_,
            "n_classes_": self.n_classes_,
            "n_outputs_": self.n_outputs_,
            "n_outputs_expected_": self.n_outputs_expected_,
        }


class RegressorTargetEncoder(BaseEstimator, TransformerMixin):
    """A regression target, checked for its width and given its shape back.

    Attributes
    ----------
    n_outputs_ : int
        Columns of the y seen in ``fit`` (1 for a 1-D y).
    n_outputs_expected_ : int
        The number of model outputs expected: 1 (one output with
        ``n_outputs_`` units).
    """

    def fit(self, y: Any) -> RegressorTargetEncoder:
        """Record the shape and width of ``y``."""
        y = np.asarray(y)
        self._y_dtype = y.dtype
        self._y_shape = y.shape
        self.n_outputs_ = 1 if y.ndim == 1 else int(y.shape[1])
        self.n_outputs_expected_ = 1
        return self

    def transform(self, y: Any) -> np.ndarray:
        """``y`` unchanged, once checked to have as many columns as in ``fit``.

        Raises
        ------
        ValueError
            If ``y`` has another number of columns than the y seen in ``fit``.
        """
        _check_fitted(self, "n_outputs_")
        y = np.asarray(y)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if n_outputs != self.n_outputs_:
            raise ValueError(
                f"Detected ``y`` to have {n_outputs} outputs with ``y.shape = {y.shape}``, "
                f"but this {type(self).__name__} was fitted on {self.n_outputs_} outputs."
            )
        return y

    def inverse_transform(self, y: Any) -> np.ndarray:
        """Model outputs in the shape of the y seen in ``fit``."""
        _check_fitted(self, "_y_shape")
        return np.asarray(y).reshape(-1, *self._y_shape[1:])

    def get_metadata(self) -> dict[str, Any]:
        """The facts a model builder reads from ``meta``."""
        _check_fitted(self, "n_outputs_")
        return {"n_outputs_": self.n_outputs_, "n_outputs_expected_": self.n_outputs_expected_}


def _is_auto(categories: Any) -> bool:
    return isinstance(categories, str) and categories == "auto"

"""Encoding of targets for Keras, and decoding of model outputs back to labels.

A classifier learns ``classes_`` from y; the encoding Keras trains on depends on
the loss and the width of the model's output (one sigmoid unit, a softmax over
the classes with integer or one-hot targets, or one sigmoid per label).
A regressor only fixes dtype and the number of outputs.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from .inputs import MODEL_DTYPE

Encoding = Literal["binary", "sparse", "onehot", "multilabel"]

_ONEHOT_LOSSES = {
    "categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence",
    "kld", "kullback_leibler_divergence", "categorical_hinge", "poisson",
}
_SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
_SIGMOID_LOSSES = {
    "binary_crossentropy", "bce", "binary_focal_crossentropy", "hinge",
    "squared_hinge",
}


def loss_name(loss: Any) -> str | None:
    """A snake_case name for a Keras loss given as a string, class, instance or function."""
    if loss is None:
        return None
    if isinstance(loss, list | tuple | dict) and len(loss) == 1:  # one output's loss
        return loss_name(next(iter(loss.values())) if isinstance(loss, dict) else loss[0])
    if isinstance(loss, str):
        return loss.lower()
    if hasattr(loss, "name") and isinstance(loss.name, str) and not isinstance(loss, type):
        return loss.name.lower()
    name = getattr(loss, "__name__", type(loss).__name__)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def default_classification_loss(target_type: str, n_output_units: int | None) -> str:
    """The loss used when the user gives none: the one MLPClassifier minimises."""
    if target_type == "multilabel-indicator" or n_output_units == 1:
        return "binary_crossentropy"
    return "sparse_categorical_crossentropy"


@dataclass
class ClassificationTarget:
    """What fit learned about a classification target: labels and their encoding.

    ``encoding`` is chosen once the model exists (see :meth:`choose_encoding`).
    """

    target_type: str
    classes: np.ndarray
    encoding: Encoding | None = None

    @classmethod
    def from_y(cls, y: np.ndarray, classes: np.ndarray | None = None) -> ClassificationTarget:
        y = _ravel_column(y)
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type == "multiclass-multioutput":
            raise ValueError(
                "Multiclass-multioutput targets are not supported: give a 1-D y of "
                "labels or a 2-D 0/1 indicator matrix for multilabel problems."
            )
        if target_type == "multilabel-indicator":
            found = np.arange(y.shape[1])
        else:
            found = np.unique(y)
        if classes is not None:
            classes = np.asarray(classes)
            unseen = np.setdiff1d(found, classes)
            if unseen.size:
                raise ValueError(f"y contains labels {unseen.tolist()} not in classes={classes.tolist()}.")
            found = np.unique(classes)
            if target_type != "multilabel-indicator":
                target_type = "binary" if len(found) <= 2 else "multiclass"
        if target_type != "multilabel-indicator" and len(found) < 2:
            raise ValueError(
                f"Classifier can't train when only one class is present: y has the single "
                f"class {found.tolist()}. Give at least two classes."
            )
        return cls(target_type=target_type, classes=found)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """Outputs per sample in sklearn's sense: one label, or one per multilabel column."""
        return self.n_classes if self.target_type == "multilabel-indicator" else 1

    @property
    def n_outputs_expected(self) -> int:
        """The width the model's output layer should have by default."""
        return 1 if self.target_type == "binary" else self.n_classes

    def choose_encoding(self, loss: Any, n_output_units: int) -> Encoding:
        """Pick the target encoding that matches the loss and the model's output width."""
        name = loss_name(loss)
        k = self.n_classes
        if self.target_type == "multilabel-indicator":
            if n_output_units != k:
                raise ValueError(
                    f"The model outputs {n_output_units} values per sample but y has {k} "
                    f"labels: a multilabel model needs {k} sigmoid outputs."
                )
            return "multilabel"
        if n_output_units == 1:
            if self.target_type != "binary":
                raise ValueError(
                    f"The model outputs 1 value per sample but y has {k} classes: use an "
                    f"output layer of {k} units with a softmax activation."
                )
            return "binary"
        if n_output_units != k:
            raise ValueError(
                f"The model outputs {n_output_units} values per sample but y has {k} "
                f"classes {self.classes.tolist()}: the output layer needs {k} units "
                + ("(or 1 sigmoid unit)." if k == 2 else "with a softmax activation.")
            )
        if name in _SPARSE_LOSSES:
            return "sparse"
        if name in _SIGMOID_LOSSES:
            return "onehot"  # one sigmoid per class, trained on one-hot rows
        if name in _ONEHOT_LOSSES:
            return "onehot"
        # An unknown (user) loss compares y_true and y_pred elementwise, so it
        # gets targets of the same shape as the output.
        return "onehot"

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Labels -> the array Keras trains on (requires :attr:`encoding`)."""
        if self.encoding == "multilabel":
            return np.asarray(y, dtype=MODEL_DTYPE)
        indices = self.indices(_ravel_column(y))
        if self.encoding == "binary":
            return indices.astype(MODEL_DTYPE).reshape(-1, 1)
        if self.encoding == "onehot":
            return np.eye(self.n_classes, dtype=MODEL_DTYPE)[indices]
        return indices.astype(np.int32)

    def indices(self, y: np.ndarray) -> np.ndarray:
        """Position of each label of y in ``classes``; unknown labels raise ValueError."""
        positions = np.searchsorted(self.classes, y)
        positions = np.clip(positions, 0, self.n_classes - 1)
        unknown = self.classes[positions] != y
        if np.any(unknown):
            raise ValueError(
                f"Found unknown categories: y contains labels "
                f"{np.unique(np.asarray(y)[unknown]).tolist()} unseen in the first fit; known "
                f"classes are {self.classes.tolist()}."
            )
        return positions

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs -> predict_proba, shape (n_samples, n_classes)."""
        # float64, as scikit-learn's classifiers return: lossless from float32
        outputs = np.asarray(outputs, dtype=np.float64)
        if outputs.ndim == 1:
            outputs = outputs.reshape(-1, 1)
        if self.encoding == "binary":
            positive = outputs[:, 0]
            return np.column_stack([1 - positive, positive])
        return outputs

    def labels(self, probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """predict_proba -> labels in the user's original form."""
        if self.target_type == "multilabel-indicator":
            return (probabilities > (0.5 if threshold is None else threshold)).astype(int)
        if self.target_type == "binary" and threshold is not None:
            return self.classes[(probabilities[:, 1] > threshold).astype(int)]
        return self.classes[np.argmax(probabilities, axis=1)]

    def decision(self, probabilities: np.ndarray) -> np.ndarray:
        """Log-odds scores, monotone in the probabilities (sklearn's decision_function)."""
        # Probabilities come from float32, so none lies strictly between 0 and the
        # float64 tiny: flooring there keeps scores finite without creating ties.
        p = np.asarray(probabilities, dtype=np.float64)
        tiny = np.finfo(np.float64).tiny

        def log(values: np.ndarray) -> np.ndarray:
            return np.log(np.maximum(values, tiny))

        if self.target_type == "binary":
            return log(p[:, 1]) - log(p[:, 0])
        if self.target_type == "multilabel-indicator":
            return log(p) - log(1 - p)
        return log(p)


@dataclass
class RegressionTarget:
    """What fit learned about a regression target: its number of outputs."""

    n_outputs: int
    one_dimensional: bool

    @classmethod
    def from_y(cls, y: np.ndarray) -> RegressionTarget:
        y = np.asarray(y)
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D for regression, got shape {y.shape}.")
        return cls(n_outputs=1 if y.ndim == 1 else y.shape[1], one_dimensional=y.ndim == 1)

    @property
    def target_type(self) -> str:
        return "continuous" if self.n_outputs == 1 else "continuous-multioutput"

    def encode(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=MODEL_DTYPE)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(outputs, dtype=np.float64)
        if self.one_dimensional and outputs.ndim == 2 and outputs.shape[1] == 1:
            return outputs[:, 0]
        return outputs


def _ravel_column(y: np.ndarray) -> np.ndarray:
    """A column vector y becomes 1-D, with scikit-learn's usual warning."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning, stacklevel=3,
        )
        return y[:, 0]
    return y


class ClassificationEncoder(TransformerMixin, BaseEstimator):
    """The default ``target_encoder`` of :class:`~skkeras.KerasClassifier`.

    ``fit`` learns the classes (:class:`ClassificationTarget`); once the model is
    built, :meth:`match_model` picks the encoding its loss and output width want
    (one sigmoid unit, class indices, one-hot rows, or one sigmoid per label);
    ``transform`` encodes labels for Keras and ``inverse_transform`` turns model
    outputs back into labels (or probabilities, with ``return_proba=True``).

    Parameters
    ----------
    classes : array-like or None, default=None
        Every label, when y may not show them all (``partial_fit(classes=...)``).

    Attributes
    ----------
    target_ : ClassificationTarget
    """

    def __init__(self, classes: Any = None) -> None:
        self.classes = classes

    @classmethod
    def from_target(cls, target: ClassificationTarget) -> ClassificationEncoder:
        """An encoder fitted to ``target`` (for models trained elsewhere, and loading)."""
        encoder = cls()
        encoder.target_ = target
        return encoder

    def fit(self, y: Any, X: Any = None) -> ClassificationEncoder:
        self.target_ = ClassificationTarget.from_y(np.asarray(y), self.classes)
        return self

    def get_metadata(self) -> dict[str, Any]:
        """Facts a model builder reads from ``meta``."""
        target = self.target_
        return {
            "target_type_": target.target_type, "classes_": target.classes,
            "n_classes_": target.n_classes, "n_outputs_": target.n_outputs,
            "n_outputs_expected_": target.n_outputs_expected,
        }

    def match_model(self, loss: Any, n_output_units: int) -> None:
        """Choose the encoding for a model with this loss and output width."""
        self.target_.encoding = self.target_.choose_encoding(loss, n_output_units)

    def transform(self, y: Any) -> np.ndarray:
        return self.target_.encode(np.asarray(y))

    def predict_proba(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs -> class probabilities, shape (n_samples, n_classes)."""
        return self.target_.probabilities(outputs)

    def inverse_transform(
        self, outputs: np.ndarray, return_proba: bool = False, threshold: float | None = None
    ) -> np.ndarray:
        probabilities = self.predict_proba(outputs)
        return probabilities if return_proba else self.target_.labels(probabilities, threshold)

    def decision_function(self, outputs: np.ndarray) -> np.ndarray:
        return self.target_.decision(self.predict_proba(outputs))


class RegressionEncoder(TransformerMixin, BaseEstimator):
    """The default ``target_encoder`` of :class:`~skkeras.KerasRegressor`: float32
    targets as columns for Keras, predictions back in y's shape, as float64.

    Attributes
    ----------
    target_ : RegressionTarget
    """

    @classmethod
    def from_target(cls, target: RegressionTarget) -> RegressionEncoder:
        """An encoder fitted to ``target`` (for models trained elsewhere, and loading)."""
        encoder = cls()
        encoder.target_ = target
        return encoder

    def fit(self, y: Any, X: Any = None) -> RegressionEncoder:
        self.target_ = RegressionTarget.from_y(np.asarray(y))
        return self

    def get_metadata(self) -> dict[str, Any]:
        """Facts a model builder reads from ``meta``."""
        return {
            "target_type_": self.target_.target_type, "n_outputs_": self.target_.n_outputs,
            "n_outputs_expected_": self.target_.n_outputs,
        }

    def match_model(self, loss: Any, n_output_units: int) -> None:
        """Check that the model has one output unit per target."""
        if n_output_units != self.target_.n_outputs:
            raise ValueError(
                f"The model outputs {n_output_units} values per sample but y has "
                f"{self.target_.n_outputs} target(s): the output layer needs "
                f"{self.target_.n_outputs} unit(s)."
            )

    def transform(self, y: Any) -> np.ndarray:
        return self.target_.encode(np.asarray(y))

    def inverse_transform(self, outputs: np.ndarray) -> np.ndarray:
        return self.target_.decode(outputs)

"""scikeras's classifier target rules that skkeras's own classifier does not follow.

scikeras trains a classifier on a y with a single class (its label encoder does not
refuse it) and then predicts that class; skkeras's :class:`~skkeras.KerasClassifier`
raises scikit-learn's "only one class" error instead, as ``MLPClassifier`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ..targets import ClassificationEncoder, ClassificationTarget


@dataclass
class OneClassTarget(ClassificationTarget):
    """A y with one class: the model (one sigmoid unit, or one softmax unit) trains on
    all-zero class indices; ``predict`` returns the class and ``predict_proba`` 1."""

    def choose_encoding(self, loss: Any, n_output_units: int) -> Any:
        if n_output_units != 1:
            raise ValueError(
                f"The model outputs {n_output_units} values per sample but y has the single "
                f"class {self.classes.tolist()}: use an output layer of 1 unit."
            )
        return "binary"

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return np.ones((len(outputs), 1))

    def labels(self, probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
        return np.repeat(self.classes[:1], len(probabilities))

    def decision(self, probabilities: np.ndarray) -> np.ndarray:
        return np.zeros(len(probabilities))


class ScikerasClassificationEncoder(ClassificationEncoder):
    """skkeras's classification encoder, which also fits a y with a single class
    (:class:`OneClassTarget`), as scikeras's ``ClassifierLabelEncoder`` does."""

    def fit(self, y: Any, X: Any = None) -> ScikerasClassificationEncoder:
        labels = np.asarray(y)
        column = labels.ravel() if labels.ndim == 2 and labels.shape[1] == 1 else labels
        if column.ndim == 1:
            check_classification_targets(column)
            found = np.unique(column if self.classes is None else
                              np.concatenate([column, np.asarray(self.classes).ravel()]))
            if len(found) == 1 and type_of_target(column) in ("binary", "multiclass"):
                self.target_ = OneClassTarget(target_type="binary", classes=found)
                return self
        return super().fit(y, X)

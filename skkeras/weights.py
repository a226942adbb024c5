"""Class weights and sample weights, merged into the one weight per sample Keras receives."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Validate user sample weights: 1-D, one per sample, finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    all_zero = ValueError(
        "Sample weights must contain at least one non-zero number: only zeros were "
        "passed in sample_weight, so no sample would be trained on."
    )
    try:
        weights = _check_sample_weight(
            sample_weight, np.empty((n_samples, 0)), dtype=np.float64, ensure_non_negative=True
        )
    except ValueError as error:  # scikit-learn's own all-zero message says less
        if "non-zero" in str(error):
            raise all_zero from None
        raise
    if not np.any(weights > 0):
        raise all_zero
    return weights


def class_sample_weight(
    class_weight: Mapping[Any, float] | str | None, y: np.ndarray, classes: Any = None
) -> np.ndarray | None:
    """Per-sample weights from ``class_weight``: a dict {label: weight} or "balanced".

    ``"balanced"`` weighs each class by ``n_samples / (n_classes * count)``, as
    scikit-learn does. Labels absent from the dict keep weight 1; a label in the
    dict that is not a class (of ``classes``, default: the labels in y) is an error.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight != "balanced":
        raise ValueError(
            f"class_weight={class_weight!r} is not understood: give a dict "
            "{label: weight}, 'balanced' or None."
        )
    if not isinstance(class_weight, str | Mapping):
        raise ValueError(
            f"class_weight must be a dict, 'balanced' or None, got {type(class_weight).__name__}."
        )
    if isinstance(class_weight, Mapping):
        _check_class_weight_values(class_weight)
    if isinstance(class_weight, Mapping) and y.ndim == 1:
        known = np.unique(y) if classes is None else np.asarray(classes)
        unknown = [label for label in class_weight if not np.any(known == label)]
        if unknown:
            raise ValueError(
                f"class_weight names {unknown}, which are not classes of y: the classes are "
                f"{known.tolist()}."
            )
    return compute_sample_weight(class_weight, y)


def _check_class_weight_values(class_weight: Mapping[Any, Any]) -> None:
    """Each weight a finite, non-negative number (as sample weights must be)."""
    for label, weight in class_weight.items():
        number = isinstance(weight, numbers.Real) and not isinstance(weight, bool)
        if not number or not np.isfinite(weight) or weight < 0:
            raise ValueError(
                f"class_weight[{label!r}] is {weight!r}: class weights must be finite, "
                "non-negative numbers."
            )


def combine_weights(*weights: np.ndarray | None) -> np.ndarray | None:
    """The elementwise product of the weight vectors that are given (None if none is)."""
    given = [w for w in weights if w is not None]
    if not given:
        return None
    combined = np.prod(np.vstack(given), axis=0)
    if not np.any(combined > 0):
        raise ValueError(
            "The combined sample and class weights are zero for every sample: "
            "no sample would be trained on."
        )
    return combined

"""The data steps of a fit: validate X and y, fit the target and feature encoders,
gather ``meta`` (the facts about the data that model builders read), weigh the
samples, and turn X into model inputs.

:class:`DataStepsMixin` gives :class:`~skkeras.wrappers.BaseWrapper` these steps as
methods (scikeras's names), so that a subclass may override any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from sklearn.base import is_regressor
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_is_fitted

from . import sparse
from .fitting import TARGET_FACTS, cast_targets, with_weights
from .inputs import (
    FeatureEncoder,
    as_model_dtype,
    n_rows,
    split_inputs,
    take_rows,
    validate_features,
    validate_features_and_target,
)
from .weights import check_sample_weight, combine_weights

#: Fitted attributes that describe the data, recorded by ``_validate_data`` and
#: handed to builders in ``meta``.
DATA_FACTS = ("n_features_in_", "feature_names_in_", "X_dtype_", "X_shape_", "y_dtype_", "y_ndim_",
              "target_type_")


def if_target_encoder_has(method: str) -> Any:
    """A decorator (scikit-learn's ``available_if``): the estimator's method exists only
    where its target encoder (the fitted one, else the one ``target_encoder`` makes)
    has ``method``, as a custom encoder may not (``decision_function``)."""
    def check(estimator: Any) -> bool:
        encoder = estimator.__dict__.get("target_encoder_")
        return hasattr(encoder if encoder is not None else estimator.target_encoder, method)
    return available_if(check)


class DataStepsMixin:
    """Steps 1 and 2 of a fit (see :mod:`skkeras.wrappers`)."""

    def _validate_data(self, X: Any, y: Any = None, reset: bool = False) -> tuple[Any, Any]:
        """Step 1: check X (and y, when given or required) with scikit-learn's rules;
        with ``reset``, record the facts about them (``n_features_in_``, ``X_shape_``,
        ``X_dtype_``, ``y_dtype_``, ``y_ndim_``, ``target_type_``)."""
        required = self.__sklearn_tags__().target_tags.required
        if reset and (y is not None or required):
            X, y = validate_features_and_target(self, X, y, y_numeric=is_regressor(self))
        else:
            X = validate_features(self, X, reset=reset)
            if y is not None:
                y = check_array(y, ensure_2d=False, dtype="numeric" if is_regressor(self) else None,
                                input_name="y")
                if len(y) != n_rows(X):
                    raise ValueError(f"X has {n_rows(X)} rows but y has {len(y)}: they must match.")
        if not reset:
            self._check_like_first_fit(X, y)
        if reset:
            arrays = X if isinstance(X, Mapping) else None
            self.X_shape_ = {k: a.shape for k, a in arrays.items()} if arrays else X.shape
            self.X_dtype_ = {k: a.dtype for k, a in arrays.items()} if arrays else X.dtype
            for name in ("y_dtype_", "y_ndim_", "target_type_"):
                self.__dict__.pop(name, None)
            if y is not None:
                self.y_dtype_, self.y_ndim_ = y.dtype, y.ndim
                self.target_type_ = type_of_target(y)
                classes = self.__dict__.get("classes_")  # partial_fit's classes, if given
                if self.target_type_ == "binary" and classes is not None:
                    self.target_type_ = type_of_target(np.asarray(classes))
        return X, y

    def _check_like_first_fit(self, X: Any, y: Any) -> None:
        """A continuing fit's X and y must have the dimensions of the first fit's, as
        scikeras checks; other dtypes are cast, as scikit-learn's MLP casts them
        (``skkeras.scikeras`` refuses unsafe casts, see :meth:`_check_continuing_dtypes`)."""
        name = type(self).__name__
        self._check_sample_shape(X)
        if y is not None and "y_ndim_" in self.__dict__ and y.ndim != self.y_ndim_:
            raise ValueError(f"y has {y.ndim} dimensions, but this {name} is expecting "
                             f"{self.y_ndim_} dimensions in y.")
        self._check_continuing_dtypes(X, y)

    def _check_sample_shape(self, X: Any) -> None:
        """X's samples must have the shape the first fit's had (scikit-learn's check
        covers the number of features of 2-D X; this one, images and sequences)."""
        shape, name = self.__dict__.get("X_shape_"), type(self).__name__
        if not isinstance(X, np.ndarray) or not isinstance(shape, tuple):
            return
        if X.ndim != len(shape):
            raise ValueError(f"X has {X.ndim} dimensions, but this {name} is expecting "
                             f"{len(shape)} dimensions in X.")
        if X.shape[1:] != shape[1:]:
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but this {name} was "
                             f"fitted on samples of shape {shape[1:]}.")

    def _check_continuing_dtypes(self, X: Any, y: Any) -> None:
        """Hook for a continuing fit's dtypes: skkeras accepts any it can train on."""

    def _fit_encoders(self, X: Any, y: Any) -> None:
        """Step 2: fit ``target_encoder`` and ``feature_encoder`` (as scikeras, in that
        order) and record what their ``get_metadata()`` reports."""
        self.target_encoder_ = self.target_encoder.fit(y)
        self.feature_encoder_ = self.feature_encoder.fit(X)
        for encoder in (self.target_encoder_, self.feature_encoder_):
            for name, value in getattr(encoder, "get_metadata", dict)().items():
                setattr(self, name, value)
        sample = sparse.dense_rows(
            self._typed_inputs(self.feature_encoder_.transform(take_rows(X, slice(0, 1)))),
            slice(None))
        if isinstance(sample, Mapping):
            shapes = {k: tuple(np.shape(a)[1:]) for k, a in sample.items()}
        elif isinstance(sample, list | tuple):  # several inputs, in the model's order
            shapes = {f"input_{i}": tuple(np.shape(a)[1:]) for i, a in enumerate(sample)}
        else:
            shapes = {"features": tuple(np.shape(sample)[1:])}
        self._inputs_ = {"sample": sample, "input_shapes_": shapes,
                         "named_inputs_": isinstance(sample, Mapping)}
        if hasattr(self.target_encoder_, "target_"):
            self.target_ = self.target_encoder_.target_

    def _get_metadata(self) -> dict[str, Any]:
        """``meta`` for builders: the facts about the data, the fitted encoders and
        what they report, and ``input_shapes_``/``named_inputs_`` (the model's inputs)."""
        names = [*DATA_FACTS, *TARGET_FACTS]
        # A custom encoder is itself a fact; skkeras's own are described by the facts
        # above (and kept out, so that builds reading every fact can be reused).
        names += [f"{kind}_encoder_" for kind in ("target", "feature")
                  if getattr(type(self), f"{kind}_encoder").fget.__module__ != "skkeras.wrappers"]
        for encoder in (self.__dict__.get("target_encoder_"), self.__dict__.get("feature_encoder_")):
            names += list(getattr(encoder, "get_metadata", dict)())
        meta = {name: self.__dict__[name] for name in dict.fromkeys(names) if name in self.__dict__}
        inputs = self.__dict__.get("_inputs_", {})
        meta.update({k: v for k, v in inputs.items() if k != "sample"})
        for name in ("n_features_in_", "feature_names_in_"):  # None for dict X
            meta.setdefault(name, None)
        return meta

    def _sample_weights(self, y: Any, sample_weight: Any, n: int) -> np.ndarray | None:
        """Sample weights times class weights (one weight per sample, or None)."""
        return combine_weights(check_sample_weight(sample_weight, n), self._class_weight_vector(y))

    def _class_weight_vector(self, y: Any) -> np.ndarray | None:
        return None

    def _stratify_labels(self, y: Any) -> np.ndarray | None:
        return None

    def _encode_validation_data(self, validation_data: Any) -> tuple[Any, ...]:
        if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val).")
        X_val, y_val, *rest = validation_data
        x_val = self._model_inputs(X_val)
        weights = check_sample_weight(rest[0], n_rows(x_val)) if rest else None
        y_val = cast_targets(self.target_encoder_.transform(np.asarray(y_val)))
        return with_weights(x_val, y_val, weights)

    def _model_inputs(self, X: Any) -> Any:
        """X validated against the fit and passed through ``feature_encoder_``."""
        X = validate_features(self, X, reset=False)
        self._check_sample_shape(X)
        encoder = self.__dict__.get("feature_encoder_")
        if encoder is None:
            return split_inputs(X, self.inputs, getattr(self, "feature_names_in_", None))
        return self._typed_inputs(encoder.transform(X))

    def _fitted_target_encoder(self) -> Any:
        """``target_encoder_``, once fitted (else scikit-learn's NotFittedError). Only a
        fit, ``initialize`` or loading sets it, so its presence is the check (scikit-learn's
        ``check_is_fitted`` computes the tags: a fifth of a one-row prediction)."""
        encoder = self.__dict__.get("target_encoder_")
        if encoder is not None:
            return encoder
        check_is_fitted(self)
        return self.target_encoder_

    def _typed_inputs(self, x: Any) -> Any:
        """The default ``feature_encoder_``'s output (X in its validated dtype) in
        float32, what the engines and predictions use; a custom encoder's as it is."""
        if isinstance(self.__dict__.get("feature_encoder_"), FeatureEncoder):
            return as_model_dtype(x)
        return x

    def _training_inputs(self, x: Any, model: Any) -> Any:
        """The model inputs a fit trains on: float32 (see ``_typed_inputs``), except
        for an existing model (warm start, partial_fit, a subclass's ``_initialize``)
        with its own ``fit`` (a subclass's, or one replaced on the instance), which is
        called with X in its own dtype, as scikeras calls it."""
        own_fit = model is not None and (
            "fit" in vars(model) or getattr(type(model), "fit", None) is not keras.Model.fit
        )
        return x if own_fit else self._typed_inputs(x)

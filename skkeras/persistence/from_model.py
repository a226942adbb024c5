"""Wrapping a Keras model trained elsewhere as a fitted estimator (``from_model``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from .files import check_model_path, load_keras_model


def from_model(
    cls: type, model: Any, classes: Any, *, multilabel: bool, feature_names: Any,
    safe_mode: bool, custom_objects: Mapping[str, Any] | None, params: dict[str, Any],
) -> Any:
    from sklearn.base import is_classifier

    from .. import building
    from ..seeding import resolve_seed
    from ..targets import ClassificationTarget, RegressionTarget

    if isinstance(model, str | os.PathLike):
        path = os.fspath(model)
        check_model_path(path)
        model = load_keras_model(path, safe_mode, custom_objects)
    if not isinstance(model, keras.Model):
        raise ValueError(f"from_model() needs a keras.Model or the path of a Keras file, got {type(model).__name__}.")
    inputs = _model_inputs(model)
    width = building.output_width(model, None)

    if params.get("model") is None and params.get("build_fn") is None:
        params["model"] = model  # fit() trains a fresh model of this architecture
    estimator = cls(**params)
    if is_classifier(estimator):
        target = _classification_target(ClassificationTarget, classes, multilabel, width)
    else:
        if classes is not None or multilabel:
            raise ValueError(f"{cls.__name__}.from_model() takes no classes= or multilabel=: those are for classifiers.")
        target = RegressionTarget(n_outputs=width, one_dimensional=width == 1)

    if not model.compiled:
        building.compile_model(model, estimator._compile_arguments(target, width))
    if hasattr(target, "choose_encoding"):
        target.encoding = target.choose_encoding(model.loss, width)

    shapes = {name: tuple(shape) for name, shape in inputs.items()}
    if len(shapes) == 1:
        (shape,) = shapes.values()
        if len(shape) >= 2 and shape[1] is not None:
            estimator.n_features_in_ = int(shape[1])
        estimator.X_shape_ = shape
        estimator.X_dtype_ = np.dtype(np.float32)
    else:
        estimator.X_shape_ = shapes
        estimator.X_dtype_ = {name: np.dtype(np.float32) for name in shapes}
    if feature_names is not None:
        names = np.asarray(feature_names, dtype=object)
        if names.ndim != 1 or getattr(estimator, "n_features_in_", len(names)) != len(names):
            raise ValueError(
                f"feature_names has {names.size} names but the model takes "
                f"{getattr(estimator, 'n_features_in_', '?')} features."
            )
        estimator.feature_names_in_ = names
    estimator.seed_ = resolve_seed(estimator.random_state)
    estimator.target_ = target
    estimator.target_type_ = target.target_type
    estimator.n_outputs_ = target.n_outputs
    estimator._set_target_attributes(target)
    estimator.history_ = {}
    estimator.model_ = model
    return estimator


def _model_inputs(model: Any) -> dict[str, tuple]:
    try:
        tensors = model.inputs
    except (AttributeError, ValueError):
        tensors = None
    if not tensors:
        raise ValueError(
            "from_model() needs a model whose inputs are known: a Functional or Sequential "
            "model built from keras.Input (a subclassed model has no declared inputs)."
        )
    return {getattr(t, "name", str(i)): tuple(t.shape) for i, t in enumerate(tensors)}


def _classification_target(target_cls: type, classes: Any, multilabel: bool, width: int) -> Any:
    if classes is None:
        classes = np.arange(2 if width == 1 and not multilabel else width)
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(f"classes must be 1-D, got shape {classes.shape}.")
    if multilabel:
        if len(classes) != width:
            raise ValueError(f"multilabel: the model has {width} outputs but classes has {len(classes)} labels.")
        return target_cls(target_type="multilabel-indicator", classes=classes)
    unique = np.unique(classes)
    if len(unique) != len(classes) or not np.array_equal(unique, classes):
        raise ValueError(
            f"classes must be sorted and distinct (as np.unique gives them), listing the label of "
            f"each output column; got {classes.tolist()}."
        )
    if len(classes) < 2:
        raise ValueError(f"A classifier needs at least two classes, got {classes.tolist()}.")
    expected = (1, 2) if len(classes) == 2 else (len(classes),)
    if width not in expected:
        raise ValueError(
            f"The model has {width} outputs per sample but {len(classes)} classes were given: "
            f"a classifier over {len(classes)} classes needs "
            + ("1 sigmoid or 2 softmax outputs." if len(classes) == 2 else f"{len(classes)} outputs.")
        )
    return target_cls(target_type="binary" if len(classes) == 2 else "multiclass", classes=classes)

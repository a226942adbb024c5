"""Pickling estimators whose model uses unregistered custom objects (skkeras.custom_objects)."""

from __future__ import annotations

import copy
import pickle

import custom_keras_objects as custom
import keras
import numpy as np
import pytest

from skkeras import KerasRegressor
from skkeras.custom_objects import (
    Portable,
    custom_object_references,
    portable,
    resolve_references,
    scoped_deepcopy,
)


@pytest.fixture
def data():
    X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    return X, X.sum(axis=1)


def _compiled(model, loss="mse", metrics=None):
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    return model


def _functional():
    return custom.build_functional({"n_features_in_": 3})


@pytest.mark.parametrize("make, names", [
    (lambda: _compiled(_functional(), loss=custom.squared_error), {"squared_error"}),
    (lambda: _compiled(_functional(), loss=custom.AbsoluteLoss()), {"AbsoluteLoss"}),
    (lambda: _compiled(_functional(), metrics=[custom.TotalError()]), {"TotalError"}),
    (lambda: _compiled(custom.TwoLayers(4)), {"TwoLayers"}),
])
def test_models_with_custom_objects_round_trip(data, make, names):
    X, y = data
    model = make()
    model.fit(X, y, epochs=1, verbose=0)
    references = custom_object_references(model)
    assert set(references) == names
    assert all(module == "custom_keras_objects" for module, _ in references.values())
    wrapped = portable(model)
    assert isinstance(wrapped, Portable)
    restored = pickle.loads(pickle.dumps(wrapped))
    assert isinstance(restored, keras.Model) and type(restored) is type(model)
    np.testing.assert_allclose(restored.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)
    restored.fit(X, y, epochs=1, verbose=0)  # compiled, custom loss and metrics included


def test_without_the_wrapper_keras_cannot_unpickle(data):
    # What the wrapper fixes: Keras looks unregistered classes up by name only.
    model = _compiled(_functional(), loss=custom.AbsoluteLoss())
    model.fit(*data, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="Could not locate"):
        pickle.loads(pickle.dumps(model))


def test_keras_objects_and_plain_values_pass_through():
    model = _compiled(_functional())
    assert portable(model) is model  # nothing custom
    assert portable([1, "mse"]) == [1, "mse"]
    loss = custom.AbsoluteLoss()
    wrapped = portable({"loss": loss, "metrics": [custom.TotalError(), "mae"]})
    assert isinstance(wrapped["loss"], Portable)
    assert isinstance(wrapped["metrics"][0], Portable) and wrapped["metrics"][1] == "mae"
    restored = pickle.loads(pickle.dumps(wrapped))
    assert isinstance(restored["loss"], custom.AbsoluteLoss)


def test_no_global_registration(data):
    model = _compiled(_functional(), loss=custom.AbsoluteLoss())
    pickle.loads(pickle.dumps(portable(model)))
    assert keras.saving.get_registered_object("AbsoluteLoss") is None
    assert keras.saving.get_custom_objects().get("AbsoluteLoss") is None


def test_local_objects_are_not_referenced():
    class Local(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred

    model = _compiled(_functional(), loss=Local())
    assert custom_object_references(model) == {}


def test_unimportable_references_are_left_out():
    assert resolve_references({"Gone": ("no_such_module_here", "Gone")}) == {}
    found = resolve_references({"TwoLayers": ("custom_keras_objects", "TwoLayers")})
    assert found == {"TwoLayers": custom.TwoLayers}


def test_scoped_deepcopy_of_a_custom_loss():
    loss = custom.AbsoluteLoss()
    with pytest.raises(TypeError, match="Could not locate"):
        copy.deepcopy(loss)
    assert isinstance(scoped_deepcopy(loss), custom.AbsoluteLoss)


@pytest.mark.parametrize("build, params", [
    (custom.build_functional, {"loss": custom.squared_error}),
    (custom.build_functional, {"loss": custom.AbsoluteLoss()}),
    (custom.build_functional, {"metrics": [custom.TotalError()]}),
    (custom.build_subclassed, {}),
])
def test_estimator_pickles(data, build, params):
    X, y = data
    est = KerasRegressor(build, epochs=2, random_state=0, **params).fit(X, y)
    predictions = est.predict(X)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.predict(X), predictions, rtol=1e-6)
    restored.partial_fit(X, y)

"""skkeras.encoders: scikeras's target encoders, as scikit-learn transformers."""

from __future__ import annotations

import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from skkeras.encoders import (
    ClassifierLabelEncoder,
    RegressorTargetEncoder,
    TargetReshaper,
    is_categorical_crossentropy,
)


@pytest.mark.parametrize("encoder", [ClassifierLabelEncoder(), RegressorTargetEncoder(),
                                     TargetReshaper()])
def test_sklearn_parameter_checks(encoder):
    name = type(encoder).__name__
    check_parameters_default_constructible(name, encoder)
    check_no_attributes_set_in_init(name, encoder)
    check_get_params_invariance(name, encoder)
    assert clone(encoder).get_params() == encoder.get_params()


def test_binary_strings_round_trip_as_an_index_column():
    y = np.array(["no", "yes", "no", "yes"])
    encoder = ClassifierLabelEncoder().fit(y)
    encoded = encoder.transform(y)
    assert encoded.shape == (4, 1)
    assert encoded.dtype == np.dtype(keras.backend.floatx())
    np.testing.assert_array_equal(encoded[:, 0], [0, 1, 0, 1])
    np.testing.assert_array_equal(encoder.classes_, ["no", "yes"])
    assert encoder.get_metadata() == {
        "classes_": encoder.classes_, "n_classes_": 2, "n_outputs_": 1, "n_outputs_expected_": 1,
    }
    # One sigmoid column, or two softmax columns, decode to the labels.
    np.testing.assert_array_equal(encoder.inverse_transform(np.array([0.2, 0.9, 0.4, 0.6])), y)
    probabilities = encoder.inverse_transform(np.array([[0.2], [0.9]]), return_proba=True)
    np.testing.assert_allclose(probabilities, [[0.8, 0.2], [0.1, 0.9]])


def test_multiclass_one_hot_only_for_categorical_crossentropy():
    y = np.array([3, 1, 2, 3])
    sparse = ClassifierLabelEncoder(loss="sparse_categorical_crossentropy").fit(y)
    np.testing.assert_array_equal(sparse.transform(y)[:, 0], [2, 0, 1, 2])
    one_hot = ClassifierLabelEncoder(loss=keras.losses.CategoricalCrossentropy()).fit(y)
    np.testing.assert_array_equal(one_hot.transform(y), np.eye(3)[[2, 0, 1, 2]])
    outputs = np.eye(3)[[1, 1, 0, 2]] * 0.8 + 0.05
    np.testing.assert_array_equal(one_hot.inverse_transform(outputs), [2, 2, 1, 3])
    np.testing.assert_array_equal(sparse.inverse_transform(outputs), [2, 2, 1, 3])


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "cce", "CategoricalCrossentropy",
                                  keras.losses.categorical_crossentropy,
                                  keras.losses.CategoricalCrossentropy,
                                  keras.losses.CategoricalCrossentropy()])
def test_categorical_crossentropy_in_every_form(loss):
    assert is_categorical_crossentropy(loss)


@pytest.mark.parametrize("loss", [None, "mse", "sparse_categorical_crossentropy",
                                  keras.losses.BinaryCrossentropy()])
def test_other_losses_are_not_categorical(loss):
    assert not is_categorical_crossentropy(loss)


def test_categories_name_classes_missing_from_y():
    encoder = ClassifierLabelEncoder(categories=[np.array([0, 1, 2])]).fit(np.array([0, 1, 0]))
    assert encoder.n_classes_ == 3
    assert encoder._target_type == "multiclass"  # two seen, three named
    np.testing.assert_array_equal(encoder.inverse_transform(np.eye(3)), [0, 1, 2])
    with pytest.raises(ValueError, match="unknown categories"):
        encoder.transform(np.array([5]))
    with pytest.raises(ValueError, match="unknown categories"):
        ClassifierLabelEncoder(categories=[np.array([0, 1])]).fit(np.array([0, 2]))


def test_indicator_targets_pass_through():
    one_hot = np.eye(3, dtype=int)[[0, 2, 1, 0]]
    encoder = ClassifierLabelEncoder().fit(one_hot)
    assert encoder._target_type == "multiclass-onehot"
    np.testing.assert_array_equal(encoder.transform(one_hot), one_hot)
    np.testing.assert_array_equal(encoder.inverse_transform(one_hot * 0.7), one_hot)
    multilabel = np.array([[1, 1], [0, 1], [0, 0]])
    encoder = ClassifierLabelEncoder().fit(multilabel)
    np.testing.assert_array_equal(encoder.classes_, [0, 1])
    np.testing.assert_array_equal(encoder.inverse_transform(multilabel * 0.9), multilabel)


def test_multiclass_multioutput_has_probabilities_but_no_labels():
    y = np.array([[1, 2], [3, 1], [2, 2]])
    encoder = ClassifierLabelEncoder().fit(y)
    assert encoder.classes_ is None and encoder.n_classes_ is None
    outputs = np.random.default_rng(0).random((3, 6))
    np.testing.assert_array_equal(encoder.inverse_transform(outputs, return_proba=True), outputs)
    with pytest.raises(NotImplementedError, match="not clearly defined"):
        encoder.inverse_transform(outputs)


def test_continuous_labels_are_refused():
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        ClassifierLabelEncoder().fit(np.array([0.5, 1.5, 2.25]))


@pytest.mark.parametrize("encoder", [ClassifierLabelEncoder(), RegressorTargetEncoder()])
def test_not_fitted(encoder):
    with pytest.raises(NotFittedError, match="not initialized"):
        encoder.transform(np.array([0, 1]))


def test_regressor_encoder_checks_width_and_restores_shape():
    y = np.arange(6.0).reshape(3, 2)
    encoder = RegressorTargetEncoder().fit(y)
    assert encoder.get_metadata() == {"n_outputs_": 2, "n_outputs_expected_": 1}
    np.testing.assert_array_equal(encoder.transform(y), y)
    with pytest.raises(ValueError, match="Detected ``y`` to have 1 outputs"):
        encoder.transform(np.arange(3.0))
    one_column = RegressorTargetEncoder().fit(np.arange(3.0))
    assert one_column.inverse_transform(np.ones((3, 1))).shape == (3,)


def test_target_reshaper():
    reshaper = TargetReshaper()
    with pytest.raises(NotFittedError, match="is not initialized"):
        reshaper.inverse_transform(np.ones((3, 1)))
    reshaper.fit(np.arange(3))
    assert reshaper.transform(np.arange(3)).shape == (3, 1)
    assert reshaper.inverse_transform(np.ones((3, 1))).shape == (3,)
    assert reshaper.inverse_transform(np.ones((3, 2))).shape == (3, 2)


def test_fitted_encoders_pickle():
    y = np.array(["b", "a", "c"])
    encoder = pickle.loads(pickle.dumps(ClassifierLabelEncoder().fit(y)))
    np.testing.assert_array_equal(encoder.inverse_transform(np.eye(3)), ["a", "b", "c"])

"""Targets: labels of any type, binary/multiclass/multilabel, several regression outputs.

The encoders of :mod:`skkeras.targets` alone first, then fitted estimators that must
give back labels in the form they were given (strings, bools, floats, pandas).
"""

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import DataConversionWarning

from skkeras import KerasClassifier, KerasRegressor
from skkeras.targets import (
    ClassificationTarget,
    RegressionTarget,
    default_classification_loss,
    loss_name,
)

TINY = {"model__hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}


# ------------------------------------------------------------------ the module alone
def test_classification_target_types():
    assert ClassificationTarget.from_y(np.array(["b", "a", "b"])).target_type == "binary"
    multi = ClassificationTarget.from_y(np.array([3, 1, 2, 1]))
    assert multi.target_type == "multiclass"
    assert multi.classes.tolist() == [1, 2, 3]
    assert (multi.n_classes, multi.n_outputs, multi.n_outputs_expected) == (3, 1, 3)
    label = ClassificationTarget.from_y(np.array([[1, 0, 1], [0, 1, 1]]))
    assert label.target_type == "multilabel-indicator"
    assert (label.n_classes, label.n_outputs, label.n_outputs_expected) == (3, 3, 3)


def test_classification_target_with_classes_given():
    target = ClassificationTarget.from_y(np.array([0, 0]), classes=[0, 1, 2])
    assert target.target_type == "multiclass"
    assert target.classes.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"labels \[5\] not in classes"):
        ClassificationTarget.from_y(np.array([0, 5]), classes=[0, 1])


def test_classification_target_bad_targets():
    with pytest.raises(ValueError, match="only one class"):
        ClassificationTarget.from_y(np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="Multiclass-multioutput"):
        ClassificationTarget.from_y(np.array([[0, 2], [1, 0], [2, 1]]))
    with pytest.raises(ValueError, match="Unknown label type"):
        ClassificationTarget.from_y(np.array([0.5, 1.2, 2.7, 3.1]))  # continuous


def test_column_vector_y_warns_and_is_raveled():
    with pytest.warns(DataConversionWarning):
        target = ClassificationTarget.from_y(np.array([[0], [1], [1]]))
    assert target.target_type == "binary"


@pytest.mark.parametrize(
    "loss, encoding",
    [
        ("sparse_categorical_crossentropy", "sparse"),
        (keras.losses.SparseCategoricalCrossentropy(), "sparse"),
        ("categorical_crossentropy", "onehot"),
        (keras.losses.CategoricalCrossentropy, "onehot"),
        ("binary_crossentropy", "onehot"),  # one sigmoid per class
        (lambda y_true, y_pred: y_pred, "onehot"),  # a user loss: same shape as the output
    ],
)
def test_encoding_follows_the_loss(loss, encoding):
    y = np.array(["x", "y", "z", "x"])
    target = ClassificationTarget.from_y(y)
    target.encoding = target.choose_encoding(loss, 3)
    assert target.encoding == encoding
    encoded = target.encode(y)
    if encoding == "sparse":
        assert encoded.tolist() == [0, 1, 2, 0]
    else:
        np.testing.assert_array_equal(encoded, np.eye(3)[[0, 1, 2, 0]])


def test_one_unit_is_the_binary_encoding():
    target = ClassificationTarget.from_y(np.array(["x", "y"]))
    assert target.choose_encoding("binary_crossentropy", 1) == "binary"
    assert target.choose_encoding("sparse_categorical_crossentropy", 2) == "sparse"


def test_encoding_refuses_a_width_that_cannot_match():
    multiclass = ClassificationTarget.from_y(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="outputs 1 value per sample but y has 3 classes"):
        multiclass.choose_encoding("binary_crossentropy", 1)
    with pytest.raises(ValueError, match="outputs 4 values per sample but y has 3 classes"):
        multiclass.choose_encoding("sparse_categorical_crossentropy", 4)
    label = ClassificationTarget.from_y(np.array([[1, 0], [0, 1]]))
    with pytest.raises(ValueError, match="multilabel model needs 2"):
        label.choose_encoding("binary_crossentropy", 3)


def test_binary_encoding_round_trip():
    target = ClassificationTarget.from_y(np.array(["no", "yes", "yes"]))
    target.encoding = target.choose_encoding("binary_crossentropy", 1)
    assert target.encode(np.array(["yes", "no"])).tolist() == [[1.0], [0.0]]
    proba = target.probabilities(np.array([[0.9], [0.2]], dtype=np.float32))
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba, [[0.1, 0.9], [0.8, 0.2]], rtol=1e-6)
    assert target.labels(proba).tolist() == ["yes", "no"]
    assert target.labels(proba, threshold=0.95).tolist() == ["no", "no"]
    decision = target.decision(proba)
    assert decision[0] > 0 > decision[1]
    assert np.isfinite(target.decision(np.array([[0.0, 1.0], [1.0, 0.0]]))).all()
    with pytest.raises(ValueError, match=r"Found unknown categories: .*labels \['maybe'\] unseen"):
        target.encode(np.array(["maybe"]))


def test_loss_names_and_default_loss():
    assert loss_name("Binary_Crossentropy") == "binary_crossentropy"
    assert loss_name(keras.losses.CategoricalCrossentropy) == "categorical_crossentropy"
    assert loss_name(keras.losses.CategoricalCrossentropy()) == "categorical_crossentropy"
    assert loss_name(None) is None
    assert default_classification_loss("binary", 1) == "binary_crossentropy"
    assert default_classification_loss("binary", 2) == "sparse_categorical_crossentropy"
    assert default_classification_loss("multiclass", 4) == "sparse_categorical_crossentropy"
    assert default_classification_loss("multilabel-indicator", 3) == "binary_crossentropy"


def test_regression_target():
    one = RegressionTarget.from_y(np.array([1.0, 2.0]))
    assert (one.n_outputs, one.target_type) == (1, "continuous")
    assert one.encode(np.array([1.0, 2.0])).shape == (2, 1)
    assert one.decode(np.array([[1.0], [2.0]], np.float32)).shape == (2,)
    two = RegressionTarget.from_y(np.zeros((3, 2)))
    assert (two.n_outputs, two.target_type) == (2, "continuous-multioutput")
    assert two.decode(np.zeros((3, 2), np.float32)).dtype == np.float64
    with pytest.raises(ValueError, match="1-D or 2-D"):
        RegressionTarget.from_y(np.zeros((3, 2, 2)))


# ---------------------------------------------------------------- labels end to end
@pytest.mark.parametrize(
    "labels",
    [np.array(["cat", "dog"]), np.array([False, True]), np.array([-1.0, 3.0]), np.array([3, 7])],
    ids=["str", "bool", "float", "int"],
)
def test_binary_labels_of_any_type(binary_data, labels):
    X, y01 = binary_data
    y = labels[y01]
    est = KerasClassifier(**TINY).fit(X, y)
    np.testing.assert_array_equal(est.classes_, labels)
    assert est.n_classes_ == 2
    predicted = est.predict(X)
    assert predicted.dtype == y.dtype
    assert set(predicted.tolist()) <= set(labels.tolist())
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(predicted, labels[proba.argmax(axis=1)])
    decision = est.decision_function(X)
    assert decision.shape == (len(X),)
    np.testing.assert_array_equal(decision > 0, proba[:, 1] > 0.5)
    assert 0 <= est.score(X, y) <= 1


def test_threshold_moves_binary_predictions(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    proba = est.predict_proba(X)[:, 1]
    est.set_params(threshold=float(np.median(proba)))
    assert est.predict(X).tolist() == (proba > np.median(proba)).astype(int).tolist()
    est.set_params(threshold=1.0)
    assert set(est.predict(X)) == {0}


def test_pandas_series_and_categorical_targets(multiclass_data):
    X, y = multiclass_data
    names = np.array(["low", "mid", "high"])
    series = pd.Series(names[y], name="level")
    est = KerasClassifier(**TINY).fit(X, series)
    assert est.classes_.tolist() == ["high", "low", "mid"]
    assert set(est.predict(X)) <= set(names)
    categorical = pd.Series(pd.Categorical(names[y], categories=["low", "mid", "high"]))
    est = KerasClassifier(**TINY).fit(X, categorical)
    assert sorted(est.classes_.tolist()) == ["high", "low", "mid"]
    assert set(est.predict(X)) <= set(names)
    assert 0 <= est.score(X, categorical) <= 1


def test_multiclass(multiclass_data):
    X, y = multiclass_data
    est = KerasClassifier(**TINY).fit(X, y)
    assert est.target_type_ == "multiclass"
    assert est.n_outputs_expected_ == 3
    assert est.model_.loss == "sparse_categorical_crossentropy"
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert est.decision_function(X).shape == (len(X), 3)


def test_one_hot_loss_gets_one_hot_targets(multiclass_data):
    X, y = multiclass_data
    est = KerasClassifier(loss="categorical_crossentropy", **{**TINY, "epochs": 5}).fit(X, y)
    assert est.target_.encoding == "onehot"
    # the loss is what categorical cross-entropy gives for one-hot rows: finite, falling
    assert np.isfinite(est.history_["loss"]).all()
    assert est.history_["loss"][-1] < est.history_["loss"][0]


def test_two_softmax_units_for_a_binary_target(binary_data):
    X, y = binary_data

    def two_units(meta):
        return keras.Sequential([
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(2, activation="softmax"),
        ])

    est = KerasClassifier(model=two_units, epochs=2, random_state=0).fit(X, y)
    assert est.target_.encoding == "sparse"
    assert est.predict_proba(X).shape == (len(X), 2)


def test_multilabel():
    X, Y = make_multilabel_classification(n_samples=80, n_features=5, n_classes=3, random_state=0)
    est = KerasClassifier(**TINY).fit(X, Y)
    assert est.target_type_ == "multilabel-indicator"
    assert est.n_outputs_ == 3
    assert est.model_.loss == "binary_crossentropy"
    proba = est.predict_proba(X)
    assert proba.shape == (80, 3)
    predicted = est.predict(X)
    assert predicted.shape == (80, 3) and set(np.unique(predicted)) <= {0, 1}
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))


def test_regression_with_several_outputs(regression_data):
    X, y = regression_data
    Y = np.column_stack([y, -2 * y])
    est = KerasRegressor(**{**TINY, "epochs": 5}).fit(X, Y)
    assert est.n_outputs_ == 2
    assert est.target_type_ == "continuous-multioutput"
    predicted = est.predict(X)
    assert predicted.shape == (len(X), 2) and predicted.dtype == np.float64
    assert np.isfinite(est.score(X, Y))
    one = KerasRegressor(**TINY).fit(X, y)
    assert one.predict(X).shape == (len(X),)


def test_regression_from_pandas(regression_data):
    X, y = regression_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = KerasRegressor(**TINY).fit(frame, pd.Series(y))
    assert est.predict(frame).shape == (len(X),)


# --------------------------------------------------------------- outputs vs classes
def fixed_width(units, activation="softmax"):
    def builder(meta):
        return keras.Sequential([
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(units, activation=activation),
        ])

    return builder


@pytest.mark.parametrize("units", [3, 4])
def test_classifier_output_width_must_match_the_classes(binary_data, units):
    X, y = binary_data
    with pytest.raises(ValueError, match=f"outputs {units} values per sample but y has 2 classes"):
        KerasClassifier(model=fixed_width(units), epochs=1).fit(X, y)


def test_single_unit_for_a_multiclass_target_is_an_error(multiclass_data):
    X, y = multiclass_data
    with pytest.raises(ValueError, match="output layer of 3 units"):
        KerasClassifier(model=fixed_width(1, "sigmoid"), epochs=1).fit(X, y)


def test_regressor_output_width_must_match_the_targets(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="outputs 3 values per sample but y has 1 target"):
        KerasRegressor(model=fixed_width(3, None), epochs=1).fit(X, y)

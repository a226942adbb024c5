"""Custom encoders on the data path: several model outputs or inputs, and X's dtype.

A ``target_encoder`` may turn y into a list of arrays for a model with several
outputs, and a ``feature_encoder`` may turn X into a list of arrays for a model
with several inputs (scikeras's extension API); predictions go back through
``target_encoder_.inverse_transform``. X keeps its integer or float dtype up to a
model whose own ``fit`` is called, as scikeras hands it; skkeras's engines train
on float32.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import FunctionTransformer

from skkeras import KerasClassifier, KerasRegressor
from skkeras.encoders import ClassifierLabelEncoder
from skkeras.inputs import as_model_dtype, feature_dtype
from skkeras.targets import loss_name


class ColumnsAsOutputs(TransformerMixin, BaseEstimator):
    """A 0/1 label matrix as one (n, 1) float array per column, and back."""

    def fit(self, y):
        y = np.asarray(y)
        self.n_labels_ = y.shape[1]
        return self

    def transform(self, y):
        return [column.reshape(-1, 1) for column in np.asarray(y, dtype="float32").T]

    def inverse_transform(self, outputs, return_proba=False):
        probabilities = np.column_stack([np.asarray(o).reshape(-1) for o in outputs])
        return probabilities if return_proba else (probabilities > 0.5).astype(int)

    def get_metadata(self):
        return {"n_outputs_expected_": self.n_labels_}


class PerLabelClassifier(KerasClassifier):
    """One sigmoid output per label, fed by ColumnsAsOutputs."""

    @property
    def target_encoder(self):
        return ColumnsAsOutputs()


def per_label_model(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = [keras.layers.Dense(1, activation="sigmoid", name=f"label_{i}")(hidden)
               for i in range(meta["n_outputs_expected_"])]
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), ["binary_crossentropy"] * len(outputs))
    return model


@pytest.fixture
def multilabel():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4)).astype("float32")
    y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5]).astype(int)
    return X, y


def test_target_encoder_making_a_list_trains_a_multi_output_model(multilabel):
    X, y = multilabel
    est = PerLabelClassifier(per_label_model, epochs=40, random_state=0).fit(X, y)
    assert len(est.model_.outputs) == 3
    labels = est.predict(X)
    assert labels.shape == y.shape and set(np.unique(labels)) <= {0, 1}
    assert (labels == y).mean() > 0.7
    probabilities = est.predict_proba(X)
    assert probabilities.shape == (60, 3)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # The custom encoder has no decision_function, so neither has the estimator.
    assert not hasattr(est, "decision_function")
    assert not hasattr(PerLabelClassifier(per_label_model), "decision_function")


class ColumnsAsNamedOutputs(ColumnsAsOutputs):
    """The same columns as a dict keyed by the model's output names."""

    def transform(self, y):
        return {f"label_{i}": column for i, column in enumerate(super().transform(y))}


class NamedOutputsClassifier(KerasClassifier):
    @property
    def target_encoder(self):
        return ColumnsAsNamedOutputs()


def test_target_encoder_making_a_dict_trains_the_named_outputs(multilabel):
    X, y = multilabel
    est = NamedOutputsClassifier(per_label_model, epochs=40, random_state=0).fit(X, y)
    assert est.fit_path_ == "fast"  # several targets stay on the compiled path
    assert (est.predict(X) == y).mean() > 0.7


def per_label_model_with_metrics(meta):
    model = per_label_model(meta)
    model.compile(keras.optimizers.Adam(0.05), ["binary_crossentropy"] * len(model.outputs),
                  metrics=[["accuracy"]] * len(model.outputs))
    return model


@pytest.mark.parametrize("classifier", [PerLabelClassifier, NamedOutputsClassifier])
def test_several_targets_train_on_the_fast_path_with_model_fits_numbers(multilabel, classifier):
    """A target encoder's list or dict of arrays trains on the compiled path, giving
    Model.fit's history and weights (a short last batch and sample weights included)."""
    X, y = multilabel
    weights = np.linspace(0.5, 1.5, len(X))
    fits = {}
    for engine in ("fast", "keras"):
        est = classifier(per_label_model_with_metrics, epochs=3, batch_size=16, random_state=0,
                         engine=engine)
        fits[engine] = est.fit(X, y, sample_weight=weights)
    assert fits["fast"].fit_path_ == "fast" and fits["keras"].fit_path_.startswith("keras")
    assert set(fits["fast"].history_) == set(fits["keras"].history_)
    for name, values in fits["keras"].history_.items():
        np.testing.assert_allclose(fits["fast"].history_[name], values, rtol=1e-5, err_msg=name)
    for ours, theirs in zip(fits["fast"].model_.get_weights(), fits["keras"].model_.get_weights(),
                            strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fits["fast"].predict_proba(X), fits["keras"].predict_proba(X),
                               atol=1e-5)


def test_decision_function_is_there_with_the_default_encoder(multilabel):
    X, y = multilabel
    est = KerasClassifier(epochs=2, random_state=0)
    assert hasattr(est, "decision_function")
    est.fit(X, y[:, 0])
    assert est.decision_function(X).shape == (60,)


class TwoInputClassifier(KerasClassifier):
    """The first column (1-D) and the other three as two model inputs, given as a list."""

    @property
    def feature_encoder(self):
        return FunctionTransformer(lambda X: [X[:, 0], X[:, 1:]])


def two_input_model(meta):
    first, rest = keras.Input((1,)), keras.Input((3,))
    hidden = keras.layers.Concatenate()([keras.layers.Dense(4)(first), keras.layers.Dense(4)(rest)])
    model = keras.Model([first, rest], keras.layers.Dense(meta["n_classes_"], activation="softmax")(hidden))
    model.compile("adam", ["sparse_categorical_crossentropy"])  # one output's loss, in a list
    return model


def test_feature_encoder_making_a_list_feeds_a_multi_input_model(multilabel):
    X, y = multilabel
    est = TwoInputClassifier(two_input_model, epochs=30, random_state=0).fit(X, y[:, 0])
    assert est.fit_path_.startswith("keras")
    assert est.predict(X).shape == (60,)
    assert est.score(X, y[:, 0]) > 0.6
    assert list(est._get_metadata()["input_shapes_"].values()) == [(), (3,)]


def test_a_loss_in_a_one_element_list_is_that_loss():
    assert loss_name(["sparse_categorical_crossentropy"]) == "sparse_categorical_crossentropy"
    assert loss_name({"out": keras.losses.BinaryCrossentropy()}) == "binary_crossentropy"


@pytest.mark.parametrize("dtype", ["int32", "uint8", "float64", "float32"])
def test_a_model_with_its_own_fit_gets_x_in_its_dtype(dtype):
    rng = np.random.RandomState(0)
    X = (rng.uniform(size=(30, 3)) * 10).astype(dtype)
    y = X.sum(axis=1).astype("float32")
    est = KerasRegressor(epochs=2, random_state=0).fit(X, y)
    assert est.fit_path_ in ("fast", "numpy")  # the engines train on float32
    assert est.X_dtype_ == np.dtype(dtype)
    seen = []
    original = est.model_.fit

    def watching_fit(*args, **kwargs):
        seen.append(kwargs["x"].dtype)
        return original(*args, **kwargs)

    est.model_.fit = watching_fit
    est.partial_fit(X, y)
    assert seen == [np.dtype(dtype)]
    assert est.predict(X).dtype == np.float64


def test_feature_dtype_and_model_dtype():
    assert feature_dtype(np.zeros((2, 2), "int16")) == np.dtype("int16")
    assert feature_dtype(np.zeros((2, 2), object)) == (np.float32, np.float64)
    assert feature_dtype([[1, 2]]) == (np.float32, np.float64)
    cast = as_model_dtype({"a": np.zeros(2, "int64"), "b": [np.zeros(2, "float64")]})
    assert cast["a"].dtype == np.float32 and cast["b"][0].dtype == np.float32
    strings = np.array(["x", "y"])
    assert as_model_dtype(strings) is strings


def test_object_x_becomes_float32_for_the_model():
    X = np.arange(20, dtype=float).reshape(10, 2).astype(object)
    y = np.arange(10) % 2
    est = KerasClassifier(epochs=1, random_state=0).fit(X, y)
    assert est.X_dtype_ == np.float32
    assert est.predict(X).shape == (10,)


def test_label_encoder_warns_for_a_column_vector():
    with pytest.warns(DataConversionWarning, match="column-vector"):
        encoder = ClassifierLabelEncoder().fit(np.array([[0], [1], [2]]))
    assert encoder.n_classes_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ClassifierLabelEncoder().fit(np.array([0, 1, 2]))


class LabelEncodedClassifier(KerasClassifier):
    """scikeras's encoder as the target encoder: indices for a softmax over all classes."""

    @property
    def target_encoder(self):
        classes = self.__dict__.get("classes_")
        return ClassifierLabelEncoder(categories="auto" if classes is None else [classes])


def softmax_model(meta):
    assert meta["target_type_"] == "multiclass"  # from partial_fit's classes, not y's two
    model = keras.Sequential([keras.Input((meta["n_features_in_"],)),
                              keras.layers.Dense(meta["n_classes_"], activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_partial_fit_classes_make_the_target_multiclass():
    X = np.arange(12, dtype="float32").reshape(6, 2)
    est = LabelEncodedClassifier(softmax_model, random_state=0)
    est.partial_fit(X, np.array([1, 2, 2, 1, 2, 1]), classes=np.array([1, 2, 3]))
    assert est.target_type_ == "multiclass" and est.model_.output_shape == (None, 3)
    est.partial_fit(X, np.array([3, 3, 2, 1, 3, 2]))
    assert set(est.predict(X)) <= {1, 2, 3}

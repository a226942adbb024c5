"""X: arrays, DataFrames, dicts for multi-input models, and every bad input refused."""

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier, KerasRegressor
from skkeras.inputs import n_rows, reject_sparse, split_inputs, take_rows, validate_features

TINY = {"model__hidden_layer_sizes": (4,), "epochs": 1, "random_state": 0}
COLUMNS = ["x0", "x1", "x2", "x3", "x4"]


@pytest.fixture
def five_features():
    X, y = make_classification(n_samples=100, n_features=5, n_informative=3, random_state=0)
    return X.astype(np.float32), y


# ------------------------------------------------------------------ the module alone
def test_split_inputs_by_index_name_and_slice():
    X = np.arange(10, dtype=np.float64).reshape(2, 5)
    parts = split_inputs(X, {"a": [0, 1], "b": slice(2, 5)})
    assert parts["a"].dtype == np.float32
    np.testing.assert_array_equal(parts["a"], [[0, 1], [5, 6]])
    np.testing.assert_array_equal(parts["b"], [[2, 3, 4], [7, 8, 9]])
    named = split_inputs(X, {"b": ["x4", "x2"]}, np.array(COLUMNS, dtype=object))
    np.testing.assert_array_equal(named["b"], [[4, 2], [9, 7]])
    assert split_inputs(X, None).dtype == np.float32
    as_dict = split_inputs({"a": np.ones((2, 1))}, None)
    assert as_dict["a"].dtype == np.float32


def test_split_inputs_errors():
    X = np.zeros((2, 5))
    with pytest.raises(ValueError, match="no column names"):
        split_inputs(X, {"a": ["x0"]})
    with pytest.raises(ValueError, match=r"\['nope'\] are not in X"):
        split_inputs(X, {"a": ["x0", "nope"]}, np.array(COLUMNS, dtype=object))
    with pytest.raises(ValueError, match="names no columns"):
        split_inputs(X, {"a": []})
    with pytest.raises(ValueError, match="2-D X"):
        split_inputs(np.zeros((2, 5, 1)), {"a": [0]})


def test_rows_helpers():
    parts = {"a": np.arange(6).reshape(3, 2), "b": np.arange(3)}
    assert n_rows(parts) == 3 and n_rows(np.zeros((4, 2))) == 4
    taken = take_rows(parts, np.array([2, 0]))
    assert taken["a"].tolist() == [[4, 5], [0, 1]] and taken["b"].tolist() == [2, 0]


def test_reject_sparse_names_the_input():
    reject_sparse(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Sparse input is not supported: X is a csr_matrix"):
        reject_sparse(scipy.sparse.csr_matrix(np.eye(2)))


def test_validate_features_on_dicts():
    est = KerasClassifier()
    with pytest.raises(ValueError, match="empty dict"):
        validate_features(est, {}, reset=True)
    with pytest.raises(ValueError, match="different numbers of rows"):
        validate_features(est, {"a": np.zeros((3, 2)), "b": np.zeros((2, 2))}, reset=True)
    with pytest.raises(ValueError, match=r"X\['b'\] contains NaN"):
        validate_features(est, {"a": np.zeros((2, 2)), "b": np.array([[np.nan], [0.0]])}, reset=True)


# -------------------------------------------------------------------------- pandas
def test_dataframe_sets_feature_names(five_features):
    X, y = five_features
    frame = pd.DataFrame(X, columns=COLUMNS)
    seen = {}

    def builder(meta):
        seen.update(meta)
        return keras.Sequential([keras.Input((meta["n_features_in_"],)),
                                 keras.layers.Dense(1, activation="sigmoid")])

    est = KerasClassifier(model=builder, epochs=1, random_state=0).fit(frame, pd.Series(y))
    assert est.feature_names_in_.tolist() == COLUMNS
    assert est.n_features_in_ == 5
    assert list(seen["feature_names_in_"]) == COLUMNS
    assert est.predict(frame).shape == (100,)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame.rename(columns={"x0": "renamed"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(X)
    # an array fit forgets the names
    est.fit(X, y)
    assert not hasattr(est, "feature_names_in_")


# --------------------------------------------------------------------- bad input
def bad(X, y, where, value):
    X, y = X.copy(), y.astype(np.float64)
    if where == "X":
        X[3, 1] = value
    else:
        y[3] = value
    return X, y


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")], ids=["nan", "inf"])
@pytest.mark.parametrize("where", ["X", "y"])
@pytest.mark.parametrize("Estimator", [KerasClassifier, KerasRegressor])
def test_nan_and_inf_are_refused_at_fit(binary_data, Estimator, where, value, word):
    X, y = bad(*binary_data, where, value)
    est = Estimator(**TINY)
    with pytest.raises(ValueError, match=f"Input {where} contains {word}"):
        est.fit(X, y)
    assert not hasattr(est, "model_")


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=60, n_features=6, random_state=0)
    return KerasClassifier(**TINY).fit(X, y), X.astype(np.float32), y


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (-np.inf, "infinity")], ids=["nan", "inf"])
def test_nan_and_inf_are_refused_at_predict(fitted, value, word):
    est, X, _ = fitted
    X = X.copy()
    X[0, 0] = value
    for method in (est.predict, est.predict_proba, est.decision_function):
        with pytest.raises(ValueError, match=f"Input X contains {word}"):
            method(X)


def test_sparse_x_trains_and_predicts_in_dense_batches_but_sparse_y_is_refused(binary_data):
    X, y = binary_data
    X = X.copy()
    X[np.abs(X) < 0.5] = 0.0
    sparse_est = KerasClassifier(**TINY).fit(scipy.sparse.csr_matrix(X), y)
    dense_est = KerasClassifier(**TINY).fit(X, y)
    assert sparse_est.fit_path_ == "fast"  # rows sparse on the device, dense a batch at a time
    np.testing.assert_allclose(sparse_est.predict_proba(scipy.sparse.csr_matrix(X)),
                               dense_est.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert sparse_est.predict(scipy.sparse.csc_matrix(X)).shape == y.shape
    with pytest.raises(ValueError, match="Sparse input is not supported: y"):
        KerasRegressor(**TINY).fit(X, scipy.sparse.csr_matrix(y.reshape(-1, 1).astype(float)))


def test_wrong_number_of_features_at_predict(fitted):
    est, X, _ = fitted
    with pytest.raises(ValueError, match="X has 5 features, but KerasClassifier is expecting 6"):
        est.predict(X[:, :5])
    with pytest.raises(ValueError, match="X has 7 features"):
        est.predict_proba(np.hstack([X, X[:, :1]]))


def test_length_mismatch_and_empty_x(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[120, 119\]"):
        KerasClassifier(**TINY).fit(X, y[:-1])
    with pytest.raises(ValueError, match="0 sample"):
        KerasClassifier(**TINY).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="0 feature"):
        KerasRegressor(**TINY).fit(X[:, :0], y)
    with pytest.raises(ValueError, match="requires y"):
        KerasClassifier(**TINY).fit(X, None)


def test_length_mismatch_when_continuing(fitted):
    est, X, y = fitted
    warm = KerasClassifier(**TINY).partial_fit(X, y)
    with pytest.raises(ValueError, match="60 rows but y has 59"):
        warm.partial_fit(X, y[:-1])
    assert len(warm.history_["loss"]) == 1


def test_predict_before_fit_is_a_not_fitted_error(binary_data):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        KerasClassifier().predict(binary_data[0])


# --------------------------------------------------------------------- multi-input
def two_input_model(meta):
    """A functional model with two named inputs, sized from the data."""
    shapes = meta["input_shapes_"]
    a = keras.Input(shapes["a"], name="a")
    b = keras.Input(shapes["b"], name="b")
    joined = keras.layers.Concatenate()([keras.layers.Dense(3, activation="relu")(a),
                                         keras.layers.Dense(3, activation="relu")(b)])
    out = keras.layers.Dense(1, activation="sigmoid")(joined)
    return keras.Model({"a": a, "b": b}, out)


GROUPS = {"a": [0, 1], "b": [2, 3, 4]}
NAMED_GROUPS = {"a": ["x0", "x1"], "b": ["x2", "x3", "x4"]}


@pytest.fixture(scope="module")
def multi_input_reference():
    """The two-input model fitted on a dict of arrays: the others must match it."""
    X, y = make_classification(n_samples=100, n_features=5, n_informative=3, random_state=0)
    X = X.astype(np.float32)
    as_dict = {"a": X[:, :2], "b": X[:, 2:]}
    est = KerasClassifier(model=two_input_model, epochs=2, random_state=0).fit(as_dict, y)
    return X, y, est


def test_multi_input_from_a_dict_of_arrays(multi_input_reference):
    X, y, est = multi_input_reference
    assert sorted(t.name for t in est.model_.inputs) == ["a", "b"]
    proba = est.predict_proba({"a": X[:, :2], "b": X[:, 2:]})
    assert proba.shape == (100, 2)
    assert not hasattr(est, "n_features_in_")
    with pytest.raises(ValueError, match="different numbers of rows"):
        est.predict({"a": X[:10, :2], "b": X[:9, 2:]})


def test_multi_input_from_an_array_with_inputs(multi_input_reference):
    X, y, reference = multi_input_reference
    est = KerasClassifier(model=two_input_model, inputs=GROUPS, epochs=2, random_state=0).fit(X, y)
    assert est.n_features_in_ == 5
    np.testing.assert_array_equal(
        est.predict_proba(X), reference.predict_proba({"a": X[:, :2], "b": X[:, 2:]})
    )


def test_multi_input_from_a_dataframe_with_column_names(multi_input_reference):
    X, y, reference = multi_input_reference
    frame = pd.DataFrame(X, columns=COLUMNS)
    # the columns in another order: selected by name, not by position
    shuffled = frame[["x3", "x0", "x4", "x1", "x2"]]
    est = KerasClassifier(
        model=two_input_model, inputs=NAMED_GROUPS, epochs=2, random_state=0
    ).fit(shuffled, y)
    np.testing.assert_array_equal(
        est.predict_proba(shuffled), reference.predict_proba({"a": X[:, :2], "b": X[:, 2:]})
    )
    by_index = KerasClassifier(model=two_input_model, inputs=GROUPS, epochs=2, random_state=0)
    np.testing.assert_array_equal(
        by_index.fit(frame, y).predict_proba(frame), est.predict_proba(shuffled)
    )


def test_multi_input_in_cross_validation(five_features):
    X, y = five_features
    net = KerasClassifier(model=two_input_model, inputs=GROUPS, epochs=2, random_state=0)
    scores = cross_val_score(make_pipeline(StandardScaler(), net), X, y, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_builtin_mlp_with_several_inputs(five_features):
    X, y = five_features
    est = KerasClassifier(inputs=GROUPS, **TINY).fit(X, y)
    assert sorted(t.name for t in est.model_.inputs) == ["a", "b"]
    assert est.predict(X).shape == (100,)


def test_an_array_wrapper_fits_as_its_array():
    """scikit-learn's NotAnArray (an object with only ``__array__``) keeps its array's
    float64, as the array does: a feature encoder sees the same numbers either way."""
    from sklearn.utils.estimator_checks import _NotAnArray

    X = np.random.RandomState(0).normal(size=(40, 3)) * 100
    y = X @ [1.0, 2.0, 3.0]
    plain = KerasRegressor(epochs=2, random_state=0).fit(X, y)
    wrapped = KerasRegressor(epochs=2, random_state=0).fit(_NotAnArray(X), _NotAnArray(y))
    assert wrapped.X_dtype_ == plain.X_dtype_ == np.float64
    np.testing.assert_array_equal(wrapped.predict(X), plain.predict(X))

"""Forward passes: the NumPy path gives Keras's numbers, no path depends on how rows
are grouped, snapshots follow refits, and threads predict at once."""

import threading

import keras
import numpy as np
import pytest

import skkeras
from skkeras import KerasClassifier, KerasRegressor, prediction
from skkeras import _numpy_forward as numpy_forward


def wide_net(meta):
    """Every kind of layer the NumPy path knows, in one chain."""
    normalization = keras.layers.Normalization()
    normalization.adapt(np.linspace(-3, 3, 12 * meta["n_features_in_"]).reshape(12, -1))
    layers = [
        keras.Input((meta["n_features_in_"],)),
        normalization,
        keras.layers.Dense(7, activation="gelu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(6, activation="tanh"),
        keras.layers.GaussianNoise(0.1),
        keras.layers.Dense(5, activation="selu"),
        keras.layers.LeakyReLU(0.1),
        keras.layers.Dense(5, activation="softplus"),
        keras.layers.Activation("swish"),
        keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def conv_net(meta):
    """A model outside the NumPy path (Conv1D): predicted by the compiled forward pass."""
    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Reshape((meta["n_features_in_"], 1)),
        keras.layers.Conv1D(3, 2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def test_numpy_path_gives_keras_numbers(multiclass_data):
    X, y = multiclass_data
    clf = KerasClassifier(wide_net, epochs=2, batch_size=32, random_state=0).fit(X, y)
    assert prediction._numpy_plan(clf.model_, with_values=False) is not None
    expected = keras.ops.convert_to_numpy(clf.model_(X, training=False))
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_numpy_path_rounds_each_step_as_keras_does():
    """A Dense layer on one input has no sums to order: rounding the product, then
    the bias sum, to float32 gives Keras's predictions bit for bit (computing the
    layer in float64 and rounding once differs from Keras in about a quarter of the
    rows by one unit in the last place)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 1)), rng.random(200)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mae")
    model.set_weights([np.array([[0.7301]], np.float32), np.array([0.1237], np.float32)])
    reg = KerasRegressor(model).initialize(X, y)
    assert prediction._numpy_plan(reg.model_, with_values=False) is not None
    expected = keras.ops.convert_to_numpy(model(X.astype(np.float32), training=False))[:, 0]
    np.testing.assert_array_equal(reg.predict(X), expected)


@pytest.mark.parametrize("builder", ["numpy", "compiled"])
def test_predictions_do_not_depend_on_row_grouping(binary_data, builder):
    X, y = binary_data
    if builder == "numpy":
        clf = KerasClassifier(hidden_layer_sizes=(16, 8), epochs=2, random_state=0).fit(X, y)
        assert prediction._numpy_plan(clf.model_, with_values=False) is not None
    else:
        clf = KerasClassifier(conv_net, epochs=2, random_state=0).fit(X, y)
        assert prediction._numpy_plan(clf.model_, with_values=False) is None
    whole = clf.predict_proba(X)
    one_by_one = np.concatenate([clf.predict_proba(X[i:i + 1]) for i in range(len(X))])
    np.testing.assert_array_equal(one_by_one, whole)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(clf.predict_proba(X[order]), whole[order])
    np.testing.assert_array_equal(clf.predict_proba(X[7:50]), whole[7:50])


def test_compiled_path_gives_keras_numbers(binary_data):
    X, y = binary_data
    clf = KerasClassifier(conv_net, epochs=2, random_state=0).fit(X, y)
    expected = keras.ops.convert_to_numpy(clf.model_(X, training=False))[:, 0]
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expected, rtol=1e-5, atol=1e-6)


def test_predictions_follow_refits_and_clear_caches(regression_data):
    X, y = regression_data
    reg = KerasRegressor(hidden_layer_sizes=(8,), epochs=1, random_state=0).fit(X, y)
    first = reg.predict(X)
    reg.partial_fit(X, y)  # the same model object, trained further
    second = reg.predict(X)
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(
        second, keras.ops.convert_to_numpy(reg.model_(X, training=False))[:, 0], rtol=1e-5, atol=1e-6
    )
    # Weights assigned by hand: clear_caches makes predictions read them.
    reg.model_.set_weights([np.zeros_like(w) for w in reg.model_.get_weights()])
    skkeras.clear_caches()
    np.testing.assert_array_equal(reg.predict(X), np.zeros(len(X), dtype=np.float32))


def test_which_models_get_a_numpy_plan():
    def plan_of(model):
        return numpy_forward.plan(model, [*model.trainable_variables, *model.non_trainable_variables])

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="relu")(inputs)
    chain = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    branched = keras.Model(inputs, keras.layers.Concatenate()([hidden, keras.layers.Dense(2)(inputs)]))
    custom = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation=lambda x: x * 2)])
    half = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, dtype="float16")])
    assert plan_of(chain) is not None
    assert plan_of(branched) is None
    assert plan_of(custom) is None
    assert plan_of(half) is None
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        plan_of(chain)([np.asarray(w, np.float64) for w in chain.get_weights()], x),
        keras.ops.convert_to_numpy(chain(x)), rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("builder", ["numpy", "compiled"])
def test_threads_predicting_at_once_give_the_sequential_results(binary_data, builder):
    X, y = binary_data
    settings = {"hidden_layer_sizes": (8,)} if builder == "numpy" else {"model": conv_net}
    clf = KerasClassifier(**settings, epochs=2, random_state=0).fit(X, y)
    expected = [clf.predict_proba(X[i:i + 10]) for i in range(0, len(X), 10)]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(t):
        try:
            results[t] = [clf.predict_proba(X[i:i + 10]) for i in range(0, len(X), 10) for _ in range(3)]
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for got in results.values():
        for k, value in enumerate(got):
            np.testing.assert_array_equal(value, expected[k // 3])


def test_plain_arrays_skip_full_validation_only_when_it_would_pass(binary_data):
    import pandas as pd

    X, y = binary_data
    clf = KerasClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y)
    X64 = X.astype(np.float64)
    assert prediction.plain_model_inputs(clf, X64) is not None
    np.testing.assert_array_equal(clf.predict_proba(X64), clf.predict_proba(pd.DataFrame(X64).values.tolist()))
    for bad in (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X64), X64 * np.inf,
                np.full_like(X64, 1e39), X64[:, :3], X64[:0], X64[0]):
        assert prediction.plain_model_inputs(clf, bad) is None
        with pytest.raises(ValueError):
            clf.predict_proba(bad)
    named = KerasClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(
        pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]), y)
    assert prediction.plain_model_inputs(named, X64) is None
    with pytest.warns(UserWarning, match="feature names"):
        named.predict_proba(X64)


def test_model_outputs_keeps_several_outputs_and_takes_all_rows_at_once():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="relu")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(1)(hidden), keras.layers.Dense(2)(hidden)])
    x = np.random.default_rng(0).normal(size=(70, 3)).astype(np.float32)
    expected = [keras.ops.convert_to_numpy(a) for a in model(x)]
    for batch_size in (None, 32, -1):
        outputs = prediction.model_outputs(model, x, {"batch_size": batch_size})
        assert isinstance(outputs, list) and len(outputs) == 2
        for got, want in zip(outputs, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_predict_replaced_on_the_model_is_called(binary_data):
    X, y = binary_data
    clf = KerasClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y)
    calls = []
    original = clf.model_.predict

    def predict(x, **kwargs):
        calls.append(kwargs)
        return original(x, **kwargs)

    clf.model_.predict = predict
    proba = clf.predict_proba(X)
    assert calls and calls[0]["verbose"] == 0
    del clf.model_.predict
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-6)

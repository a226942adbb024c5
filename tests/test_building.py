"""The four ways to give a model, and the helpers of :mod:`skkeras.building`.

A callable builder (compiled or not, taking ``meta``, ``compile_kwargs`` and its own
hyperparameters), a ``keras.Model`` instance (never mutated), the built-in MLP, and a
Keras 2 ``build_fn=`` with its keyword arguments given to the estimator, set later,
or searched by GridSearchCV.
"""

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from skkeras import KerasClassifier, KerasRegressor, building
from skkeras.building import (
    build_mlp,
    builder_arguments,
    call_builder,
    clone_model_instance,
    compile_model,
    make_callbacks,
    make_loss,
    make_metrics,
    make_optimizer,
    output_width,
    resolve_builder,
)


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def small_net(n_features, n_out=1, activation="sigmoid", units=4):
    return keras.Sequential([
        keras.Input((n_features,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(n_out, activation=activation),
    ])


# ------------------------------------------------------------- 1. a callable builder
def recording_builder(compile_it=False):
    """A builder that sizes itself from meta and records what it was called with.

    A closure, not an object: clone() deep-copies parameters, and a function is
    copied by reference, so the record survives cloning.
    """
    calls = []

    def builder(meta, compile_kwargs, units=3, depth=1):
        calls.append({"meta": meta, "compile_kwargs": compile_kwargs, "units": units, "depth": depth})
        layers = [keras.Input((meta["n_features_in_"],))]
        layers += [keras.layers.Dense(units, activation="relu") for _ in range(depth)]
        layers.append(keras.layers.Dense(meta["n_outputs_expected_"], activation="sigmoid"))
        model = keras.Sequential(layers)
        if compile_it:
            model.compile(optimizer=keras.optimizers.RMSprop(0.002), loss="binary_crossentropy")
        return model

    builder.calls = calls
    return builder


def test_callable_builder_gets_meta_compile_kwargs_and_its_hyperparameters(binary_data):
    X, y = binary_data
    builder = recording_builder()
    est = KerasClassifier(
        model=builder, model__units=5, depth=2, optimizer="sgd",
        optimizer__learning_rate=0.03, epochs=1, random_state=0,
    ).fit(X, y)
    (call,) = builder.calls
    assert call["units"] == 5 and call["depth"] == 2
    meta = call["meta"]
    assert meta["n_features_in_"] == 6
    assert meta["X_shape_"] == (120, 6)
    assert meta["target_type_"] == "binary"
    assert list(meta["classes_"]) == [0, 1]
    assert meta["n_classes_"] == 2
    assert meta["n_outputs_"] == 1
    assert meta["n_outputs_expected_"] == 1
    assert {"n_features_in_", "feature_names_in_", "X_shape_", "X_dtype_", "target_type_",
            "classes_", "n_classes_", "n_outputs_", "n_outputs_expected_"} <= set(meta)
    compile_kwargs = call["compile_kwargs"]
    assert isinstance(compile_kwargs["optimizer"], keras.optimizers.SGD)
    assert float(compile_kwargs["optimizer"].learning_rate) == pytest.approx(0.03)
    assert compile_kwargs["loss"] == "binary_crossentropy"
    # uncompiled: skkeras compiled it with the estimator's optimizer
    assert [layer.units for layer in est.model_.layers] == [5, 5, 1]
    assert isinstance(est.model_.optimizer, keras.optimizers.SGD)
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(0.03)
    assert est.predict_proba(X).shape == (120, 2)


def test_compiled_builder_keeps_its_own_compilation(binary_data):
    X, y = binary_data
    est = KerasClassifier(model=recording_builder(compile_it=True), epochs=1, random_state=0)
    est.fit(X, y)
    assert isinstance(est.model_.optimizer, keras.optimizers.RMSprop)
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(0.002)
    assert set(est.predict(X)) <= {0, 1}


def test_builder_compiling_with_compile_kwargs(regression_data):
    X, y = regression_data

    def builder(meta, compile_kwargs):
        model = small_net(meta["n_features_in_"], meta["n_outputs_"], activation=None)
        model.compile(**compile_kwargs)
        return model

    est = KerasRegressor(model=builder, loss="mae", epochs=2, random_state=0).fit(X, y)
    assert est.model_.loss == "mae"
    assert isinstance(est.model_.optimizer, keras.optimizers.Adam)
    assert est.predict(X).shape == (120,)


def test_builder_hyperparameter_set_later_reaches_it(binary_data):
    X, y = binary_data
    builder = recording_builder()
    est = KerasClassifier(model=builder, epochs=1)
    est.set_params(units=7)  # never given to the constructor
    assert est.get_params()["units"] == 7
    clone(est).fit(X, y)
    assert builder.calls[-1]["units"] == 7


# ------------------------------------------------------------ 2. a keras.Model instance
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "uncompiled"])
def test_model_instance_is_never_mutated(binary_data, compiled):
    X, y = binary_data
    user_model = small_net(6)
    if compiled:
        user_model.compile(optimizer=keras.optimizers.SGD(0.05), loss="binary_crossentropy")
    before = weights_of(user_model)
    est = KerasClassifier(model=user_model, epochs=2, random_state=0)
    twin = clone(est)
    est.fit(X, y)
    assert est.model_ is not user_model
    assert same_weights(before, weights_of(user_model))
    assert user_model.compiled is compiled
    if compiled:  # the compile configuration travels with the copy
        assert isinstance(est.model_.optimizer, keras.optimizers.SGD)
        assert float(est.model_.optimizer.learning_rate) == pytest.approx(0.05)
    else:  # compiled by skkeras with the estimator's optimizer
        assert isinstance(est.model_.optimizer, keras.optimizers.Adam)
    # the clone fits on its own and gives the same result for the same seed
    twin.fit(X, y)
    assert twin.model_ is not est.model_
    np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
    assert same_weights(before, weights_of(user_model))


def test_clone_model_instance_helper():
    user_model = small_net(3)
    user_model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    copy = clone_model_instance(user_model)
    assert copy is not user_model and copy.compiled
    assert copy.get_compile_config()["loss"] == "mse"
    assert copy.get_compile_config()["optimizer"]["class_name"] == "RMSprop"
    plain = clone_model_instance(small_net(3))
    assert not plain.compiled


# ---------------------------------------------------------------- 3. the built-in MLP
def test_builtin_mlp_hyperparameters(binary_data):
    X, y = binary_data
    est = KerasClassifier(
        model__hidden_layer_sizes=(6, 4),
        model__activation="tanh",
        model__dropout=0.25,
        model__l2=0.01,
        epochs=2,
        random_state=0,
    ).fit(X, y)
    dense = [layer for layer in est.model_.layers if isinstance(layer, keras.layers.Dense)]
    dropout = [layer for layer in est.model_.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.units for layer in dense] == [6, 4, 1]
    assert [layer.activation.__name__ for layer in dense] == ["tanh", "tanh", "sigmoid"]
    assert [layer.rate for layer in dropout] == [0.25, 0.25]
    assert [layer.kernel_regularizer.l2 for layer in dense[:2]] == pytest.approx([0.01, 0.01])
    assert len(est.model_.losses) == 2  # the L2 penalties take part in training
    assert est.predict_proba(X).shape == (120, 2)


@pytest.mark.parametrize("name, value, message", [
    ("hidden_layer_sizes", (0,), "hidden layer sizes are positive integers"),
    ("hidden_layer_sizes", (-3,), "hidden layer sizes are positive integers"),
    ("hidden_layer_sizes", (2.5,), "hidden layer sizes are positive integers"),
    ("hidden_layer_sizes", (True,), "hidden layer sizes are positive integers"),
    ("hidden_layer_sizes", "abc", "hidden layer sizes are positive integers"),
    ("hidden_layer_sizes", None, "hidden layer sizes are positive integers"),
    ("hidden_layer_sizes", [[3]], "hidden layer sizes are positive integers"),
    ("dropout", "x", r"dropout rate is a number in \[0, 1\)"),
    ("dropout", 1.0, r"dropout rate is a number in \[0, 1\)"),
    ("l2", -0.1, "L2 penalty is a non-negative number"),
])
def test_builtin_mlp_refuses_bad_hyperparameters_by_name(binary_data, name, value, message):
    X, y = binary_data
    est = KerasClassifier(epochs=1, random_state=0, model__hidden_layer_sizes=(3,)).fit(X, y)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match=f"model__{name}=.*{message}"):
        est.set_params(**{f"model__{name}": value}).fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_builtin_mlp_takes_sizes_as_an_int_a_list_or_an_array(binary_data):
    X, y = binary_data
    for sizes in (3, [3, 2], np.array([3, 2]), ()):
        est = KerasClassifier(epochs=1, model__hidden_layer_sizes=sizes).fit(X, y)
        dense = [layer.units for layer in est.model_.layers if isinstance(layer, keras.layers.Dense)]
        assert dense == [*np.atleast_1d(sizes).astype(int).tolist(), 1]


def test_default_classifier_is_like_mlpclassifier(multiclass_data):
    X, y = multiclass_data
    est = KerasClassifier()
    params = est.get_params()
    assert params["epochs"] == 200
    assert params["verbose"] == 0
    assert params["batch_size"] is None
    est.set_params(epochs=2).fit(X, y)
    dense = [layer for layer in est.model_.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [100, 3]
    assert dense[0].activation.__name__ == "relu"
    assert dense[-1].activation.__name__ == "softmax"
    assert est.model_.loss == "sparse_categorical_crossentropy"
    assert isinstance(est.model_.optimizer, keras.optimizers.Adam)


@pytest.mark.parametrize(
    "target_type, n_classes, n_outputs, units, activation",
    [
        ("binary", 2, 1, 1, "sigmoid"),
        ("multiclass", 4, 1, 4, "softmax"),
        ("multilabel-indicator", 3, 3, 3, "sigmoid"),
        ("continuous-multioutput", None, 2, 2, "linear"),
    ],
)
def test_build_mlp_output_follows_the_target(target_type, n_classes, n_outputs, units, activation):
    meta = {
        "input_shapes_": {"features": (5,)}, "target_type_": target_type,
        "n_classes_": n_classes, "n_outputs_": n_outputs,
    }
    model = build_mlp(meta, hidden_layer_sizes=3)
    out = model.layers[-1]
    assert out.units == units and out.activation.__name__ == activation
    assert model.layers[-2].units == 3  # an int is one hidden layer


# --------------------------------------------------------------- 4. Keras 2 build_fn=
def make_create_model(n_features, calls):
    def create_model(optimizer="rmsprop", init="glorot_uniform"):
        calls.append((optimizer, init))
        model = keras.Sequential([
            keras.Input((n_features,)),
            keras.layers.Dense(4, kernel_initializer=init, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
        return model

    return create_model


def test_build_fn_keyword_arguments_from_constructor_and_set_params(binary_data):
    X, y = binary_data
    calls = []
    est = KerasClassifier(build_fn=make_create_model(6, calls), init="he_normal", epochs=1)
    est.fit(X, y)
    assert calls[-1] == ("rmsprop", "he_normal")
    assert isinstance(est.model_.optimizer, keras.optimizers.RMSprop)
    est.set_params(init="zeros", optimizer="sgd")
    clone(est).fit(X, y)
    assert calls[-1] == ("sgd", "zeros")
    with pytest.raises(ValueError, match="not_an_argument"):
        est.set_params(not_an_argument=1)


def test_keras2_grid_search_runs_unchanged():
    """The Keras 2 grid of the issue: the builder's own arguments searched by name,
    never given to the constructor."""
    X, y = make_classification(n_samples=64, n_features=8, random_state=0)
    calls = []
    create_model = make_create_model(8, calls)
    grid = GridSearchCV(
        KerasClassifier(build_fn=create_model, verbose=0),
        {
            "optimizer": ["rmsprop", "adam"],
            "init": ["glorot_uniform", "normal"],
            "epochs": [2],
            "batch_size": [16],
        },
        cv=2,
    )
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    # every candidate's builder arguments reached create_model
    assert set(calls) == {(o, i) for o in ("rmsprop", "adam") for i in ("glorot_uniform", "normal")}
    best = grid.best_estimator_
    assert best.model_.get_layer(index=0).get_config()["kernel_initializer"]["class_name"] in (
        "GlorotUniform", "RandomNormal",
    )
    assert set(grid.predict(X)) <= {0, 1}


def test_build_fn_receives_an_optimizer_equal_to_the_estimator_default(binary_data):
    X, y = binary_data
    calls = []
    est = KerasClassifier(build_fn=make_create_model(6, calls), epochs=1)
    est.set_params(optimizer="adam")  # what GridSearchCV does for {"optimizer": ["adam"]}
    est.fit(X, y)
    assert calls[-1][0] == "adam"
    assert isinstance(est.model_.optimizer, keras.optimizers.Adam)
    # left unset, the builder's own default stands (Keras 2 behaviour)
    KerasClassifier(build_fn=make_create_model(6, calls), epochs=1).fit(X, y)
    assert calls[-1][0] == "rmsprop"


def test_builder_requiring_an_optimizer_gets_the_estimators(binary_data):
    X, y = binary_data

    def needs_optimizer(meta, optimizer):
        model = small_net(meta["n_features_in_"])
        model.compile(optimizer=optimizer, loss="binary_crossentropy")
        return model

    est = KerasClassifier(model=needs_optimizer, epochs=1).fit(X, y)
    assert isinstance(est.model_.optimizer, keras.optimizers.Adam)
    est = KerasClassifier(model=needs_optimizer, optimizer="sgd", epochs=1).fit(X, y)
    assert isinstance(est.model_.optimizer, keras.optimizers.SGD)


# ----------------------------------------------------------------------- bad builders
def test_model_and_build_fn_together_is_an_error(binary_data):
    X, y = binary_data
    est = KerasClassifier(model=recording_builder(), build_fn=recording_builder(), epochs=1)
    with pytest.raises(ValueError, match="model= and build_fn="):
        est.fit(X, y)


def test_builder_returning_no_model_is_an_error(binary_data):
    X, y = binary_data

    def not_a_builder(meta):
        return "a model, promise"

    with pytest.raises(ValueError, match="not a keras.Model"):
        KerasClassifier(model=not_a_builder, epochs=1).fit(X, y)
    assert not hasattr(KerasClassifier(model=not_a_builder), "model_")


def test_model_that_is_not_a_builder_is_an_error(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="model="):
        KerasClassifier(model="mlp", epochs=1).fit(X, y)


def test_model_with_several_outputs_is_an_error(binary_data):
    X, y = binary_data

    def two_heads(meta):
        inputs = keras.Input((meta["n_features_in_"],))
        return keras.Model(inputs, [keras.layers.Dense(1)(inputs), keras.layers.Dense(1)(inputs)])

    with pytest.raises(ValueError, match="2 outputs"):
        KerasClassifier(model=two_heads, epochs=1).fit(X, y)


# ---------------------------------------------------------------- the helpers alone
def test_resolve_builder():
    assert resolve_builder(None, None) is build_mlp
    model = small_net(2)
    assert resolve_builder(model, None) is model
    assert resolve_builder(None, small_net) is small_net
    with pytest.raises(ValueError, match="Both"):
        resolve_builder(small_net, small_net)
    with pytest.raises(ValueError, match="got int"):
        resolve_builder(3, None)


def test_builder_arguments_precedence_and_defaults():
    def builder(meta, optimizer="rmsprop", loss=None, units=2, epochs=None):
        return None

    common = {
        "wrapper_params": {"optimizer": "adam", "loss": "mse", "epochs": 5},
        "wrapper_defaults": {"optimizer": "adam", "loss": None, "epochs": 200},
        "provided": {"meta": {"m": 1}, "compile_kwargs": {}, "params": {}},
    }
    args = builder_arguments(builder, routed={"units": 4}, extra={"units": 3}, **common)
    # routed model__units wins over a plain units; meta provided; only the names
    # the builder takes; estimator params changed from their default reach it
    assert args == {"meta": {"m": 1}, "units": 4, "loss": "mse", "epochs": 5}
    with pytest.raises(ValueError, match="'unitz'"):
        builder_arguments(builder, routed={"unitz": 1}, extra={}, **common)

    def no_default(optimizer):
        return None

    args = builder_arguments(no_default, routed={}, extra={}, **common)
    assert args == {"optimizer": "adam"}  # the builder needs it: the estimator's value
    unset = {**common, "wrapper_params": {"optimizer": None}, "wrapper_defaults": {"optimizer": None}}
    assert builder_arguments(no_default, routed={}, extra={}, **unset) == {"optimizer": "adam"}
    assert builder_arguments(builder, routed={}, extra={}, **unset) == {"meta": {"m": 1}}

    def anything(**kwargs):
        return None

    args = builder_arguments(anything, routed={"x": 1}, extra={"y": 2}, **common)
    assert args["x"] == 1 and args["y"] == 2 and args["meta"] == {"m": 1}


def test_call_builder_checks_the_result():
    assert isinstance(call_builder(lambda: small_net(2), {}), keras.Model)
    with pytest.raises(ValueError, match="returned NoneType"):
        call_builder(lambda: None, {})


def test_make_optimizer_is_fresh_every_time():
    template = keras.optimizers.Adam(0.1)
    made = make_optimizer(template, {"beta_1": 0.5})
    assert made is not template and float(made.learning_rate) == pytest.approx(0.1)
    assert made.get_config()["beta_1"] == 0.5
    assert make_optimizer("adam", {}) is not make_optimizer("adam", {})
    assert isinstance(make_optimizer(None, {"learning_rate": 0.2}), keras.optimizers.Adam)
    assert isinstance(make_optimizer(keras.optimizers.SGD, {}), keras.optimizers.SGD)
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer(42, {})
    assert isinstance(make_optimizer("rmsprop", {}), keras.optimizers.RMSprop)  # Keras's names


def test_unknown_optimizer_name_is_named_with_what_is_accepted(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match=r"optimizer='nonsense' is not a Keras optimizer.*'adam'"):
        KerasClassifier(optimizer="nonsense", epochs=1).fit(X, y)


class _CountingClassifier(KerasClassifier):
    made = 0

    def _compile_arguments(self, target_type, n_output_units):
        type(self).made += 1
        return super()._compile_arguments(target_type, n_output_units)


def test_compile_arguments_are_made_for_the_builder_only_when_it_takes_them(binary_data):
    """A new optimizer and loss cost milliseconds of a first fit: the built-in MLP and
    builders without ``compile_kwargs`` get none; one that takes it gets its own."""
    X, y = binary_data
    _CountingClassifier.made = 0
    _CountingClassifier(epochs=1, hidden_layer_sizes=(3,)).fit(X, y)
    assert _CountingClassifier.made == 1  # the compile step's
    _CountingClassifier.made = 0
    builder = recording_builder()
    _CountingClassifier(model=builder, epochs=1).fit(X, y)
    assert _CountingClassifier.made == 2 and "compile_kwargs" in builder.calls[0]


def test_make_loss_by_name_class_and_instance():
    assert make_loss("mse", {}) == "mse"
    loss = make_loss("binary_crossentropy", {"label_smoothing": 0.1})
    assert isinstance(loss, keras.losses.BinaryCrossentropy)
    assert isinstance(make_loss("mse", {"name": "sq"}), keras.losses.MeanSquaredError)
    assert isinstance(make_loss(keras.losses.Huber, {"delta": 2.0}), keras.losses.Huber)
    reconfigured = make_loss(keras.losses.BinaryCrossentropy(), {"label_smoothing": 0.3})
    assert reconfigured.get_config()["label_smoothing"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="no_such_loss"):
        make_loss("no_such_loss", {"name": "x"})
    with pytest.raises(ValueError, match="smoothing"):
        make_loss(keras.losses.BinaryCrossentropy, {"smoothing": 0.1})


def test_make_metrics_and_callbacks():
    assert make_metrics(None, {"name": "x"}) is None
    metrics = make_metrics(
        ["auc", keras.metrics.Precision], {"dtype": "float32", "0__name": "a", "1__thresholds": 0.3}
    )
    assert [type(m) for m in metrics] == [keras.metrics.AUC, keras.metrics.Precision]
    assert metrics[0].name == "a" and metrics[1].thresholds == pytest.approx([0.3])

    assert make_callbacks(None, {"patience": 2}) == []
    stop = keras.callbacks.EarlyStopping(patience=9)
    made = make_callbacks({"stop": keras.callbacks.EarlyStopping, "kept": stop}, {"stop__patience": 2})
    assert made[0].patience == 2 and made[1] is stop
    with pytest.raises(ValueError, match="patiense"):
        make_callbacks([keras.callbacks.EarlyStopping], {"patiense": 2})


def test_compile_model_keeps_a_compiled_model_and_checks_names():
    model = small_net(2)
    model.compile(optimizer="sgd", loss="mse")
    compile_model(model, {"optimizer": "adam", "loss": "mae"})
    assert model.get_compile_config()["optimizer"]["class_name"] == "SGD"
    fresh = compile_model(small_net(2), {"optimizer": "adam", "loss": "mae", "jit_compile": False})
    assert fresh.compiled and fresh.get_compile_config()["loss"] == "mae"
    with pytest.raises(ValueError, match="jit_compiled"):
        compile_model(small_net(2), {"optimizer": "adam", "jit_compiled": False})


def test_output_width():
    assert output_width(small_net(3, 4, "softmax"), np.zeros((1, 3), "float32")) == 4

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(5)

        def call(self, x):
            return self.dense(x)

    assert output_width(Subclassed(), np.zeros((1, 3), "float32")) == 5
    flat = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Flatten()])
    assert output_width(flat, np.zeros((1, 3), "float32")) == 2
    sequence = keras.Sequential([keras.Input((4, 3)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\(batch, units\)"):
        output_width(sequence, np.zeros((1, 4, 3), "float32"))


def test_provided_argument_names():
    assert set(building.PROVIDED_ARGUMENTS) == {"meta", "compile_kwargs", "params"}

"""Routed parameters: each prefix reaches its destination, unknown names are refused.

The first tests call :mod:`skkeras.routing` alone; the rest fit tiny estimators and
look at the compiled model (``model_.get_compile_config()``, layers, history) to see
that ``model__``, ``optimizer__``, ``loss__``, ``metrics__``, ``callbacks__``,
``fit__``, ``predict__`` and ``compile__`` values got where they were sent.
"""

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification

from skkeras import KerasClassifier, KerasRegressor
from skkeras.routing import (
    ROUTING_PREFIXES,
    accepts_var_keyword,
    route_params,
    routing_prefix,
    signature_parameters,
)

TINY = {"model__hidden_layer_sizes": (4,), "epochs": 1, "random_state": 0}


# ------------------------------------------------------------------ the module alone
def test_every_scikeras_prefix_is_known():
    assert set(ROUTING_PREFIXES) == {
        "model", "optimizer", "loss", "metrics", "callbacks", "fit", "predict", "compile"
    }


@pytest.mark.parametrize(
    "name, prefix",
    [
        ("optimizer__learning_rate", "optimizer"),
        ("callbacks__stop__patience", "callbacks"),
        ("model__hidden_layer_sizes", "model"),
        ("compile__jit_compile", "compile"),
        ("optimizer", None),
        ("learning_rate", None),
        ("optimiser__learning_rate", None),  # a typo is not a prefix
        ("net__optimizer__learning_rate", None),  # a Pipeline path is not routed here
    ],
)
def test_routing_prefix(name, prefix):
    assert routing_prefix(name) == prefix


def test_route_params_strips_the_prefix_and_keeps_inner_ones():
    params = {
        "optimizer": "sgd",
        "optimizer__learning_rate": 0.1,
        "optimizer__momentum": 0.9,
        "callbacks__stop__patience": 3,
        "fit__validation_freq": 2,
        "epochs": 5,
    }
    assert route_params(params, "optimizer") == {"learning_rate": 0.1, "momentum": 0.9}
    assert route_params(params, "callbacks") == {"stop__patience": 3}
    assert route_params(params, "fit") == {"validation_freq": 2}
    assert route_params(params, "loss") == {}


def test_signature_helpers():
    def builder(meta, units=3, *args, **kwargs):
        return None

    def strict(units):
        return None

    assert list(signature_parameters(builder)) == ["meta", "units"]
    assert accepts_var_keyword(builder)
    assert not accepts_var_keyword(strict)
    # callables without a signature (some builtins) have no named parameters
    assert signature_parameters(max) == {}
    assert not accepts_var_keyword(max)


# ----------------------------------------------------------- each prefix, end to end
def dense_units(model):
    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]


class Recorder(keras.callbacks.Callback):
    """A callback configured by parameters; every instance is remembered."""

    made: list = []

    def __init__(self, tag="none", factor=1):
        super().__init__()
        self.tag, self.factor, self.epochs_seen = tag, factor, 0
        Recorder.made.append(self)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_seen += 1


@pytest.fixture(scope="module")
def routed():
    """One fit with a value for every prefix; the tests below each check one."""
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=0)
    Recorder.made = []
    est = KerasClassifier(
        model__hidden_layer_sizes=(5, 3),
        optimizer="sgd",
        optimizer__learning_rate=0.05,
        optimizer__momentum=0.5,
        loss__label_smoothing=0.2,
        metrics=[keras.metrics.AUC, keras.metrics.AUC],
        metrics__num_thresholds=11,  # every metric
        metrics__0__name="first_auc",  # only the first
        metrics__1__name="second_auc",
        metrics__1__num_thresholds=21,
        callbacks=[Recorder, Recorder],
        callbacks__tag="shared",  # every callback class
        callbacks__1__factor=7,  # only the second
        validation_split=0.25,
        fit__validation_freq=2,
        compile__jit_compile=False,
        compile__steps_per_execution=2,
        epochs=4,
        random_state=0,
    ).fit(X, y)
    made, Recorder.made = list(Recorder.made), []
    return est, made


def test_model_prefix_reaches_the_builder(routed):
    est, _ = routed
    assert dense_units(est.model_) == [5, 3, 1]


def test_optimizer_prefix_reaches_the_optimizer(routed):
    est, _ = routed
    assert isinstance(est.model_.optimizer, keras.optimizers.SGD)
    assert float(est.model_.optimizer.learning_rate) == pytest.approx(0.05)
    assert est.model_.get_compile_config()["optimizer"]["config"]["momentum"] == pytest.approx(0.5)


def test_loss_prefix_configures_the_default_loss(routed):
    est, _ = routed
    loss = est.model_.loss
    assert isinstance(loss, keras.losses.BinaryCrossentropy)
    assert loss.get_config()["label_smoothing"] == pytest.approx(0.2)


def test_metrics_prefix_shared_and_per_index(routed):
    est, _ = routed
    assert {"first_auc", "second_auc", "val_first_auc"} <= set(est.history_)
    metrics = {m["config"]["name"]: m["config"] for m in est.model_.get_compile_config()["metrics"]}
    assert metrics["first_auc"]["num_thresholds"] == 11
    assert metrics["second_auc"]["num_thresholds"] == 21


def test_callbacks_prefix_configures_classes(routed):
    _, made = routed
    assert [(c.tag, c.factor) for c in made] == [("shared", 1), ("shared", 7)]
    assert [c.epochs_seen for c in made] == [4, 4]


def test_fit_prefix_reaches_keras_fit(routed):
    est, _ = routed
    assert len(est.history_["loss"]) == 4
    assert len(est.history_["val_loss"]) == 2  # validated after epochs 2 and 4 only


def test_compile_prefix_reaches_compile(routed):
    est, _ = routed
    config = est.model_.get_compile_config()
    assert config["jit_compile"] is False
    assert config["steps_per_execution"] == 2


@pytest.mark.parametrize(
    "optimizer",
    [keras.optimizers.SGD, keras.optimizers.SGD(learning_rate=0.3)],
    ids=["class", "instance"],
)
def test_optimizer_prefix_with_a_class_or_instance(binary_data, optimizer):
    X, y = binary_data
    est = KerasClassifier(
        optimizer=optimizer, optimizer__learning_rate=0.05, optimizer__momentum=0.5, **TINY
    ).fit(X, y)
    config = est.model_.get_compile_config()["optimizer"]
    assert config["class_name"] == "SGD"
    assert config["config"]["learning_rate"] == pytest.approx(0.05)
    assert config["config"]["momentum"] == pytest.approx(0.5)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # the user's instance is a template, never bound to the fitted model
        assert est.model_.optimizer is not optimizer
        assert float(optimizer.learning_rate) == pytest.approx(0.3)


def test_loss_prefix_with_a_named_loss(regression_data):
    X, y = regression_data
    est = KerasRegressor(loss="huber", loss__delta=0.25, **TINY).fit(X, y)
    assert isinstance(est.model_.loss, keras.losses.Huber)
    # Huber beyond delta is delta * (|error| - delta / 2): 0.46875 for an error of 2
    value = est.model_.loss(np.zeros((1, 1), "float32"), np.full((1, 1), 2.0, "float32"))
    assert float(value) == pytest.approx(0.25 * (2 - 0.125))


def test_metrics_prefix_with_a_metric_name(binary_data):
    X, y = binary_data
    est = KerasClassifier(metrics=["auc"], metrics__name="roc", **TINY).fit(X, y)
    assert "roc" in est.history_


def test_metrics_prefix_refuses_to_guess_accuracy(binary_data):
    """Keras resolves "accuracy" from the target; configured by name it would be the
    exact-match Accuracy, wrong for probabilities, so it is refused with advice."""
    X, y = binary_data
    with pytest.raises(ValueError, match="BinaryAccuracy"):
        KerasClassifier(metrics=["accuracy"], metrics__name="acc", **TINY).fit(X, y)


def test_callbacks_prefix_with_a_dict_of_named_callbacks(binary_data):
    X, y = binary_data
    Recorder.made = []
    est = KerasClassifier(
        callbacks={"rec": Recorder, "stop": keras.callbacks.EarlyStopping},
        callbacks__rec__tag="mine",
        callbacks__stop__monitor="loss",
        callbacks__stop__patience=0,
        callbacks__stop__min_delta=100.0,  # no epoch can improve this much
        **{**TINY, "epochs": 5},
    ).fit(X, y)
    assert [c.tag for c in Recorder.made] == ["mine"]
    Recorder.made = []
    # EarlyStopping got patience=0 and the huge min_delta: it stops after epoch 2
    assert len(est.history_["loss"]) == 2


def test_callbacks_prefix_refuses_to_configure_an_instance(binary_data):
    X, y = binary_data
    est = KerasClassifier(
        callbacks=[keras.callbacks.EarlyStopping()], callbacks__0__patience=2, **TINY
    )
    with pytest.raises(ValueError, match="patience"):
        est.fit(X, y)


@pytest.mark.parametrize("callbacks, fit_kwargs, message", [
    ([5], {}, r"callbacks\[0\] is 5: a callback is a keras.callbacks.Callback"),
    ({"stop": "x"}, {}, r"callbacks\['stop'\] is 'x'"),
    (None, {"callbacks": 5}, r"callbacks\[0\] is 5"),
    ([keras.callbacks.EarlyStopping], {"callbacks__3__patience": 2},
     r"callbacks__3__\* names no callback: the callbacks are \['0'\]"),
])
def test_callbacks_must_be_callbacks(binary_data, callbacks, fit_kwargs, message):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    before = est.predict_proba(X)
    routed = {k: v for k, v in fit_kwargs.items() if "__" in k}
    est.set_params(callbacks=callbacks, **routed)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, **{k: v for k, v in fit_kwargs.items() if k not in routed})
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_fit_prefix_still_refuses_what_skkeras_sets(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="initial_epoch"):
        KerasClassifier(fit__initial_epoch=3, **TINY).fit(X, y)


@pytest.mark.parametrize("engine", ["fast", "keras"])
def test_fit_prefixed_settings_override_the_plain_parameter(binary_data, engine):
    X, y = binary_data
    routed = KerasClassifier(
        fit__epochs=3, fit__batch_size=16, fit__shuffle=False, fit__validation_split=0.25,
        fit__validation_batch_size=7, engine=engine, **TINY,
    ).fit(X, y)
    plain = KerasClassifier(
        epochs=3, batch_size=16, shuffle=False, validation_split=0.25, validation_batch_size=7,
        engine=engine, **{k: v for k, v in TINY.items() if k != "epochs"},
    ).fit(X, y)
    assert len(routed.history_["loss"]) == 3 and len(routed.history_["val_loss"]) == 3
    assert routed.fit_path_ == ("fast" if engine == "fast" else "keras: engine='keras'")
    np.testing.assert_array_equal(routed.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_allclose(routed.history_["loss"], plain.history_["loss"], rtol=1e-6)


def test_fit_argument_beats_fit_prefix_beats_plain_parameter(binary_data):
    X, y = binary_data
    est = KerasClassifier(fit__epochs=3, **TINY)  # TINY has epochs=1
    assert est.fit(X, y).current_epoch == 3
    assert est.fit(X, y, epochs=2).current_epoch == 2
    assert KerasClassifier(**TINY).fit(X, y).current_epoch == 1
    with pytest.raises(ValueError, match="fit__epochs"):
        KerasClassifier(fit__epochs=0, **TINY).fit(X, y)


def test_batch_size_minus_one_is_one_batch_of_everything(regression_data):
    X, y = regression_data
    whole = KerasRegressor(batch_size=-1, **TINY).fit(X, y)
    explicit = KerasRegressor(batch_size=len(X), **TINY).fit(X, y)
    assert whole.fit_path_ in ("fast", "numpy")  # not Model.fit
    np.testing.assert_array_equal(whole.predict(X), explicit.predict(X))
    routed = KerasRegressor(fit__batch_size=-1, validation_split=0.2, validation_batch_size=-1,
                            **TINY).fit(X, y)
    assert len(routed.history_["val_loss"]) == 1 and routed.fit_path_ in ("fast", "numpy")


def test_predict_prefix_batch_size_minus_one(regression_data):
    X, y = regression_data
    est = KerasRegressor(predict__batch_size=-1, **TINY).fit(X, y)
    reference = KerasRegressor(**TINY).fit(X, y)
    np.testing.assert_allclose(est.predict(X), reference.predict(X), rtol=1e-5)


class BatchRows(keras.layers.Layer):
    """Outputs, for every row, the number of rows in the batch it was computed with."""

    def call(self, x):
        rows = keras.ops.cast(keras.ops.shape(x)[0], x.dtype)
        return keras.ops.ones_like(x[:, :1]) * rows


def batch_reporting_model(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    trainable = keras.layers.Dense(1)(inputs)
    outputs = keras.layers.Add()([keras.layers.Lambda(lambda t: t * 0.0)(trainable), BatchRows()(inputs)])
    return keras.Model(inputs, outputs)


def test_predict_prefix_sets_the_prediction_batch_size(regression_data):
    X, y = regression_data
    est = KerasRegressor(model=batch_reporting_model, epochs=1, random_state=0).fit(X, y)
    assert est.predict(X[:20]).max() > 7  # by default all 20 rows go in one call
    est.set_params(predict__batch_size=7)
    assert est.predict(X[:20]).max() == 7
    # any other predict__ argument goes to keras.Model.predict, with the batch size
    est.set_params(predict__batch_size=6, predict__verbose=0)
    assert est.predict(X[:20]).max() == 6


def test_routed_values_are_params(binary_data):
    est = KerasClassifier(optimizer__learning_rate=0.1, fit__validation_freq=2)
    params = est.get_params()
    assert params["optimizer__learning_rate"] == 0.1
    assert params["fit__validation_freq"] == 2
    # read back as attributes, as scikeras users do
    assert est.optimizer__learning_rate == 0.1
    est.set_params(loss__label_smoothing=0.1, callbacks__patience=3)
    assert est.get_params()["loss__label_smoothing"] == 0.1
    assert est.get_params()["callbacks__patience"] == 3


# ---------------------------------------------------------------------- unknown names
def test_set_params_refuses_an_unknown_name():
    est = KerasClassifier()
    with pytest.raises(ValueError, match="Invalid parameter hiden_layer_sizes"):
        est.set_params(hiden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="Invalid parameter optimiser__learning_rate"):
        est.set_params(optimiser__learning_rate=0.1)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"hiden_layer_sizes": (3,)}, "hiden_layer_sizes"),
        ({"model__hiden_layer_sizes": (3,)}, "hiden_layer_sizes"),
        ({"optimiser__learning_rate": 0.1}, "optimiser__learning_rate"),
        ({"optimizer__learning_rat": 0.1}, "learning_rat"),
        ({"loss__smoothing": 0.1}, "smoothing"),
        ({"metrics": ["auc"], "metrics__num_threshold": 3}, "num_threshold"),
        ({"callbacks": [keras.callbacks.EarlyStopping], "callbacks__patients": 3}, "patients"),
        ({"compile__jit": False}, "jit"),
    ],
    ids=["plain", "model", "typo-prefix", "optimizer", "loss", "metrics", "callbacks", "compile"],
)
def test_unknown_routed_name_is_a_value_error_naming_it(binary_data, params, name):
    X, y = binary_data
    with pytest.raises(ValueError, match=name):
        KerasClassifier(**{**TINY, **params}).fit(X, y)


def test_unknown_fit_argument_is_a_value_error(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="validation_frequency"):
        KerasClassifier(fit__validation_frequency=2, **TINY).fit(X, y)


def test_unknown_predict_argument_is_a_value_error(binary_data):
    X, y = binary_data
    est = KerasClassifier(predict__verbosity=0, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="verbosity"):
        est.predict(X)


def test_callback_arguments_named_by_position_are_positional(binary_data):
    X, y = binary_data

    class Positional(keras.callbacks.Callback):
        def __init__(self, *args, **kwargs):
            super().__init__()
            Positional.seen = (args, kwargs)

    KerasClassifier(callbacks={"p": Positional}, callbacks__p__1="second",
                    callbacks__p__0="first", callbacks__p__name="kw", **TINY).fit(X, y)
    assert Positional.seen == (("first", "second"), {"name": "kw"})

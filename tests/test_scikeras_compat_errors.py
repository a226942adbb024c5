"""skkeras.scikeras: scikeras's errors, ``meta`` keys, builder arguments and history rules."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import skkeras
from skkeras.scikeras import wrappers as compat

X = np.random.RandomState(0).uniform(size=(24, 3)).astype("float32")
Y_CLASSES = np.arange(24) % 3
Y_REG = X.sum(axis=1)


def _mlp(meta, compile_kwargs, compile=True, n_outputs=1):
    inp = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(4, activation="relu")(inp)
    outputs = [keras.layers.Dense(1)(hidden) for _ in range(n_outputs)]
    model = keras.Model(inp, outputs if n_outputs > 1 else outputs[0])
    if compile:
        model.compile(**compile_kwargs)
    return model


def _classifier(meta, compile_kwargs):
    inp = keras.Input((meta["n_features_in_"],))
    out = keras.layers.Dense(meta["n_classes_"], activation="softmax")(inp)
    model = keras.Model(inp, out)
    model.compile(**{**compile_kwargs,
                     "loss": compile_kwargs["loss"] or "sparse_categorical_crossentropy"})
    return model


QUIET = {"verbose": 0, "random_state": 0}


@pytest.mark.parametrize("compile", [True, False])
def test_no_default_loss_builder_must_compile_with_one(compile):
    est = compat.KerasRegressor(_mlp, model__compile=compile, **QUIET)
    with pytest.raises(ValueError, match="provide a loss"):
        est.fit(X, Y_REG)
    # skkeras's own regressor chooses mean squared error
    assert skkeras.KerasRegressor(_mlp, model__compile=compile, epochs=1, **QUIET).fit(
        X, Y_REG).model_.loss == "mean_squared_error"


def test_builder_sees_loss_none_in_compile_kwargs():
    seen = {}

    def build(meta, compile_kwargs):
        seen.update(compile_kwargs)
        return _classifier(meta, compile_kwargs)

    compat.KerasClassifier(build, **QUIET).fit(X, Y_CLASSES)
    assert seen["loss"] is None and seen["optimizer"] is not None


@pytest.mark.parametrize("compile", [True, False])
def test_optimizer_none_needs_a_builder_that_compiles_with_one(compile):
    est = compat.KerasRegressor(_mlp, loss="mse", optimizer=None, model__compile=compile, **QUIET)
    with pytest.raises(ValueError, match="You must provide an optimizer"):
        est.fit(X, Y_REG)


def test_given_loss_must_be_the_compiled_one():
    def build(meta, compile_kwargs):
        model = _mlp(meta, compile_kwargs, compile=False)
        model.compile(optimizer="sgd", loss=keras.losses.MeanAbsoluteError())
        return model

    same = compat.KerasRegressor(build, loss="mean_absolute_error", **QUIET).fit(X, Y_REG)
    assert isinstance(same.model_.loss, keras.losses.MeanAbsoluteError)
    with pytest.raises(ValueError, match="but model compiled with"):
        compat.KerasRegressor(build, loss=keras.losses.CosineSimilarity(), **QUIET).fit(X, Y_REG)


def test_meta_has_scikeras_keys():
    seen = {}

    def build(meta, compile_kwargs):
        seen.update(meta)
        return _classifier(meta, compile_kwargs)

    est = compat.KerasClassifier(build, **QUIET).fit(X, Y_CLASSES)
    assert set(seen) == {
        "X_dtype_", "y_dtype_", "classes_", "target_type_", "n_classes_", "n_features_in_",
        "X_shape_", "n_outputs_expected_", "y_ndim_", "n_outputs_", "feature_encoder_",
        "target_encoder_",
    }
    assert seen["target_encoder_"] is est.target_encoder_


def test_builder_taking_kwargs_gets_its_own_arguments_first():
    order = []

    def build(**kwargs):
        order.extend(kwargs)
        kwargs.pop("params")
        kwargs.pop("width")
        return _classifier(**kwargs)

    compat.KerasClassifier(build, model__width=3, **QUIET).fit(X, Y_CLASSES)
    assert order == ["width", "meta", "compile_kwargs", "params"]


@pytest.mark.parametrize("module", [compat, skkeras])
@pytest.mark.parametrize("name", ["epochs", "initial_epoch"])
def test_partial_fit_refuses_epoch_arguments(module, name):
    est = module.KerasRegressor(_mlp, loss="mse", **QUIET)
    with pytest.raises(TypeError, match=f"Invalid argument `{name}` to `partial_fit`"):
        est.partial_fit(X, Y_REG, **{name: 2})
    with pytest.raises(ValueError):  # also a ValueError, as skkeras's bad input
        est.partial_fit(X, Y_REG, **{name: 2})


def test_continuing_fit_dtypes_scikeras_refuses_and_skkeras_casts():
    """scikeras refuses a continuing fit on X or y that does not cast safely to the first
    fit's dtypes; skkeras's own classes cast, as scikit-learn's MLP does."""
    X32, y32 = X.astype(np.float32), Y_CLASSES.astype(np.int32)
    est = compat.KerasClassifier(_classifier, loss="sparse_categorical_crossentropy",
                                 **QUIET).fit(X32, y32)
    with pytest.raises(ValueError, match="Got X with dtype float64, but this KerasClassifier "
                                         "expected float32 and casting .* is not safe"):
        est.partial_fit(X32.astype(np.float64), y32)
    with pytest.raises(ValueError, match="Got y with dtype int64, .* expected int32"):
        est.partial_fit(X32, y32.astype(np.int64))
    native = skkeras.KerasClassifier(epochs=1, model__hidden_layer_sizes=(3,)).fit(X32, y32)
    native.partial_fit(X32.astype(np.float64), y32.astype(np.int64))
    assert native.current_epoch == 2
    assert set(native.predict(X32.astype(np.float64))) <= set(y32.tolist())


def test_continuing_fit_checks_the_width_of_y():
    y = Y_REG.reshape(-1, 1)
    est = compat.KerasRegressor(_mlp, loss="mse", **QUIET).fit(X, y)
    with pytest.raises(ValueError, match="Detected ``y`` to have 2 outputs"):
        est.partial_fit(X, np.column_stack([y, y]))
    est.partial_fit(X, y)  # the same width trains on
    assert est.current_epoch == 2


def test_warm_start_fit_restarts_history_but_keeps_weights():
    est = compat.KerasRegressor(_mlp, loss="mse", epochs=2, warm_start=True, **QUIET)
    est.partial_fit(X, Y_REG).partial_fit(X, Y_REG)
    model = est.model_
    est.fit(X, Y_REG)
    assert est.model_ is model  # warm: the same model trained on
    assert est.current_epoch == 2 and len(est.history_["loss"]) == 2
    est.partial_fit(X, Y_REG)
    assert est.current_epoch == 3


def test_model_with_several_outputs_must_match_the_encoder():
    est = compat.KerasClassifier(_mlp, loss="mse", model__n_outputs=2, **QUIET)
    with pytest.raises(ValueError, match="input of size 3"):
        est.fit(X, Y_CLASSES)


def test_unknown_parameter_message_names_it():
    with pytest.raises(ValueError, match="Invalid parameter test for estimator [\\s\\S]*setting "
                       "this parameter in the constructor"):
        compat.BaseWrapper().set_params(test=1)


class _ListInputs(compat.KerasRegressor):
    """A feature encoder that hands the model a list of arrays (scikeras's multi-input form)."""

    @property
    def feature_encoder(self):
        from sklearn.preprocessing import FunctionTransformer

        return FunctionTransformer(lambda x: [x])


@pytest.mark.parametrize("param", ["batch_size", "fit__validation_batch_size"])
def test_whole_batch_needs_array_inputs(param):
    est = _ListInputs(_mlp, loss="mse", **{param: -1}, **QUIET)
    with pytest.raises(ValueError, match="requires that `X` implement `shape`"):
        est.fit(X, Y_REG)


def test_whole_batch_prediction_needs_array_inputs():
    est = _ListInputs(_mlp, loss="mse", predict__batch_size=-1, **QUIET).fit(X, Y_REG)
    with pytest.raises(ValueError, match="requires that `X` implement `shape`"):
        est.predict(X)


def test_plain_batch_size_also_sets_predictions_batch_size():
    est = compat.KerasRegressor(_mlp, loss="mse", batch_size=5, **QUIET)
    assert est._routed("predict") == {"batch_size": 5}
    assert est.set_params(predict__batch_size=7)._routed("predict") == {"batch_size": 7}
    assert skkeras.KerasRegressor(batch_size=5)._routed("predict") == {}


def test_estimators_declare_poor_score_as_scikeras():
    assert compat.KerasRegressor().__sklearn_tags__().regressor_tags.poor_score
    assert not skkeras.KerasRegressor().__sklearn_tags__().regressor_tags.poor_score
    assert compat.KerasClassifier().__sklearn_tags__().classifier_tags.poor_score
    assert not skkeras.KerasClassifier().__sklearn_tags__().classifier_tags.poor_score


def test_initial_weights_are_those_scikeras_builds_under_its_seed():
    """scikeras calls the builder under ``random.seed(random_state)``: a model without
    explicit seeds starts from the same weights here (skkeras's own classes derive
    a separate seed for the weights)."""
    import random

    est = compat.KerasRegressor(_mlp, loss="mse", random_state=3, verbose=0).initialize(X, Y_REG)
    state = random.getstate()
    random.seed(3)
    try:
        reference = _mlp({"n_features_in_": 3}, {"loss": "mse", "optimizer": "rmsprop"})
    finally:
        random.setstate(state)
    for ours, theirs in zip(est.model_.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    own = skkeras.KerasRegressor(_mlp, loss="mse", random_state=3).initialize(X, Y_REG)
    assert not np.array_equal(own.model_.get_weights()[0], reference.get_weights()[0])


@pytest.mark.parametrize("label", [0, "only"])
def test_classifier_trains_on_a_single_class_as_scikeras(label):
    def build():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(loss="binary_crossentropy")
        return model

    y = np.full(len(X), label, dtype=object if isinstance(label, str) else int)
    est = compat.KerasClassifier(build, **QUIET).fit(X, y)
    assert est.classes_.tolist() == [label] and est.n_classes_ == 1
    assert est.predict(X).tolist() == [label] * len(X)
    np.testing.assert_array_equal(est.predict_proba(X), np.ones((len(X), 1)))
    with pytest.raises(ValueError, match="only one class"):  # skkeras's own: sklearn's rule
        skkeras.KerasClassifier(build, epochs=1, **QUIET).fit(X, y)
    # two classes train as skkeras's classifier does
    two = compat.KerasClassifier(build, **QUIET).fit(X, np.arange(len(X)) % 2)
    assert two.n_classes_ == 2 and two.predict_proba(X).shape == (len(X), 2)


def test_callbacks_with_predict_hooks_also_watch_predict():
    class Counter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def on_predict_begin(self, logs=None):
            self.calls += 1

    plain, routed, quiet = Counter(), Counter(), keras.callbacks.EarlyStopping(monitor="loss")
    est = compat.KerasRegressor(_mlp, loss="mse", callbacks=[plain, quiet],
                                predict__callbacks=routed, **QUIET).fit(X, Y_REG)
    assert est._routed("predict")["callbacks"] == [plain, routed]  # EarlyStopping does not watch
    est.predict(X)
    assert plain.calls == 1 and routed.calls == 1


def test_initialize_accepts_a_model_without_loss_fit_refuses_it():
    est = compat.BaseWrapper(_mlp, model__compile=False, **QUIET).initialize(X)
    assert est.predict(X).shape == (len(X), 1)
    with pytest.raises(ValueError, match="provide a loss"):
        compat.BaseWrapper(_mlp, model__compile=False, **QUIET).fit(X, Y_REG)


def test_validation_callbacks_see_validation():
    class Watch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.tests = 0

        def on_test_begin(self, logs=None):
            self.tests += 1

    watch = Watch()
    compat.KerasRegressor(_mlp, loss="mse", epochs=2, validation_split=0.25, callbacks=[watch],
                          **QUIET).fit(X, Y_REG)
    assert watch.tests == 2  # once per epoch's validation


def test_a_replaced_predict_is_called_with_keywords():
    est = compat.KerasRegressor(_mlp, loss="mse", predict__batch_size=-1, **QUIET).fit(X, Y_REG)
    original, seen = est.model_.predict, {}

    def watching(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    est.model_.predict = watching
    est.predict(X)
    assert seen["batch_size"] == len(X) and seen["x"].shape == X.shape

"""The fast training path gives Model.fit's numbers, reuses programs, and falls back safely."""

import warnings

import keras
import numpy as np
import pytest

from skkeras import KerasClassifier, KerasRegressor, _numpy_train, engine
from skkeras.engine import epoch_plan, epoch_plans


@pytest.fixture(autouse=True)
def compiled_path_only(monkeypatch):
    """These tests are about the compiled engine: engine="auto" sends no job to the
    NumPy executor (tests/test_numpy_train.py checks that one against this one)."""
    monkeypatch.setattr(_numpy_train, "WORK_LIMIT", 0)


def small_net(meta, hidden=8, dropout=0.0, l2=0.0, metrics=("accuracy",), compiled=True):
    binary = meta["target_type_"] == "binary"
    layers = [keras.Input((meta["n_features_in_"],)),
              keras.layers.Dense(hidden, activation="relu",
                                 kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    if meta["target_type_"] in ("binary", "multiclass"):
        layers.append(keras.layers.Dense(1 if binary else meta["n_classes_"],
                                         activation="sigmoid" if binary else "softmax"))
        loss = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    else:
        layers.append(keras.layers.Dense(meta["n_outputs_"]))
        loss = "mse"
    model = keras.Sequential(layers)
    if compiled:
        model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return model


def assert_same_training(fast, plain, atol=2e-6):
    for a, b in zip(fast.model_.get_weights(), plain.model_.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=atol)
    assert fast.history_.keys() == plain.history_.keys()
    for name in plain.history_:
        np.testing.assert_allclose(fast.history_[name], plain.history_[name], rtol=1e-5, atol=1e-6)


def fit_both(make, X, y, **fit_kwargs):
    fast = make(engine="fast").fit(X, y, **fit_kwargs)
    plain = make(engine="keras").fit(X, y, **fit_kwargs)
    return fast, plain


@pytest.mark.parametrize("batch_size", [16, 37])  # 37 leaves a short last batch
def test_fast_path_matches_model_fit_binary(binary_data, batch_size):
    X, y = binary_data

    def make(**kw):
        return KerasClassifier(small_net, epochs=4, batch_size=batch_size, random_state=3, **kw)

    fast, plain = fit_both(make, X, y)
    assert_same_training(fast, plain)
    assert len(fast.history_["loss"]) == 4


def test_fast_path_matches_with_weights_dropout_regularisation_and_validation(multiclass_data):
    X, y = multiclass_data
    weights = np.random.RandomState(0).uniform(0, 2, size=len(y))

    def make(**kw):
        return KerasClassifier(
            small_net, model__dropout=0.3, model__l2=0.01, epochs=3, batch_size=20,
            random_state=1, validation_split=0.2, class_weight="balanced", **kw,
        )

    fast, plain = fit_both(make, X, y, sample_weight=weights)
    assert "val_loss" in fast.history_ and "val_accuracy" in fast.history_
    assert_same_training(fast, plain)


def test_fast_path_matches_for_regression_with_validation_data(regression_data):
    X, y = regression_data

    def make(**kw):
        return KerasRegressor(small_net, epochs=3, batch_size=25, random_state=0, **kw)

    fast, plain = fit_both(make, X[:90], y[:90], validation_data=(X[90:], y[90:]))
    assert_same_training(fast, plain)


def test_built_in_mlp_takes_the_fast_path_and_matches(binary_data):
    X, y = binary_data
    fast = KerasClassifier(epochs=3, batch_size=32, random_state=0, engine="auto").fit(X, y)
    plain = KerasClassifier(epochs=3, batch_size=32, random_state=0, engine="keras").fit(X, y)
    assert_same_training(fast, plain)


def test_a_cached_program_does_not_touch_earlier_estimators(binary_data):
    X, y = binary_data
    first = KerasClassifier(small_net, epochs=2, random_state=0).fit(X, y)
    before = first.predict_proba(X)
    KerasClassifier(small_net, epochs=5, random_state=7).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), before)


def test_programs_are_reused_across_fits_learning_rates_and_fold_sizes(binary_data):
    X, y = binary_data
    engine.clear_program_cache()
    for rows, rate in [(100, 1e-3), (101, 1e-2), (99, 1e-3)]:
        KerasClassifier(
            small_net, epochs=1, batch_size=10, optimizer__learning_rate=rate, random_state=0
        ).fit(X[:rows], y[:rows])
    assert len(engine._PROGRAMS) == 1


def test_learning_rate_reaches_a_reused_program(binary_data):
    X, y = binary_data
    engine.clear_program_cache()
    common = {"model__compiled": False, "epochs": 2, "random_state": 0}
    slow = KerasClassifier(small_net, optimizer__learning_rate=1e-4, **common).fit(X, y)
    fast = KerasClassifier(small_net, optimizer__learning_rate=1e-1, engine="keras", **common).fit(X, y)
    reused = KerasClassifier(small_net, optimizer__learning_rate=1e-1, **common).fit(X, y)
    assert len(engine._PROGRAMS) == 1
    assert_same_training(reused, fast)
    assert not np.allclose(slow.model_.get_weights()[0], reused.model_.get_weights()[0])


def test_short_fit_is_prefix_of_long_fit_on_fast_path(binary_data):
    X, y = binary_data
    short = KerasClassifier(small_net, epochs=3, random_state=5, batch_size=16).fit(X, y)
    long = KerasClassifier(small_net, epochs=6, random_state=5, batch_size=16).fit(X, y)
    assert long.history_["loss"][:3] == short.history_["loss"]


def test_early_stopping_and_reduce_lr_run_between_compiled_epochs(binary_data):
    X, y = binary_data
    net = KerasClassifier(
        small_net, model__compiled=False, epochs=50, batch_size=16, random_state=0,
        validation_split=0.25,
        optimizer__learning_rate=0.05, engine="fast",
        callbacks=[keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau],
        callbacks__monitor="val_loss", callbacks__patience=1,
    ).fit(X, y)
    assert len(net.history_["loss"]) < 50
    assert float(net.model_.optimizer.learning_rate) < 0.05


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_routed_compile_parameters_warn_when_the_builder_compiles(binary_data):
    X, y = binary_data
    with pytest.warns(UserWarning, match="optimizer__learning_rate.*no effect"):
        KerasClassifier(small_net, epochs=1, optimizer__learning_rate=0.1).fit(X, y)


def test_no_warning_when_the_builder_compiles_with_the_routed_optimizer(binary_data):
    """scikeras's builders compile with compile_kwargs["optimizer"]: the routed rate reaches it."""
    X, y = binary_data

    def builder(meta, compile_kwargs):
        model = keras.Sequential([keras.Input((meta["n_features_in_"],)),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer=compile_kwargs["optimizer"])
        return model

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no effect")
        net = KerasClassifier(builder, epochs=1, optimizer="adam",
                              optimizer__learning_rate=0.005).fit(X, y)
    assert float(net.model_.optimizer.learning_rate) == pytest.approx(0.005)


def test_per_batch_callbacks_fall_back_to_model_fit(binary_data):
    X, y = binary_data
    counter = BatchCounter()
    net = KerasClassifier(small_net, epochs=2, batch_size=40, callbacks=[counter], random_state=0)
    net.fit(X, y)
    assert counter.batches == 2 * 3


def test_forcing_the_fast_path_names_what_prevents_it(binary_data):
    X, y = binary_data
    net = KerasClassifier(small_net, epochs=1, callbacks=[BatchCounter()], engine="fast")
    with pytest.raises(ValueError, match="per-batch callback BatchCounter"):
        net.fit(X, y)
    with pytest.raises(ValueError, match="engine.*(one of|among)"):
        KerasClassifier(small_net, epochs=1, engine="turbo").fit(X, y)


def test_blockers_name_custom_train_steps_and_fit_arguments():
    class Custom(keras.Model):
        def train_step(self, data):
            return super().train_step(data)

    inputs = keras.Input((3,))
    model = Custom(inputs, keras.layers.Dense(1)(inputs))
    model.compile("adam", "mse")
    reasons = engine.blockers(model, [], {"validation_freq": 2})
    assert any("train_step" in r for r in reasons)
    assert any("validation_freq" in r for r in reasons)


def test_epoch_plan_pads_the_short_batch_so_its_loss_is_its_mean():
    order = np.array([4, 0, 3, 1, 2])
    (index, loss_weight, metric_weight, mask, rows), n_batches = epoch_plan(order, None, 2, 4)
    assert n_batches == 3
    np.testing.assert_array_equal(index[:3].ravel()[:5], order)
    np.testing.assert_array_equal(rows, [2, 2, 1, 0])
    np.testing.assert_array_equal(mask[2], [1, 0])
    # sum(loss * weight) / batch_size over the padded batch = the one real row's loss
    assert loss_weight[2].sum() / 2 == pytest.approx(1.0)
    np.testing.assert_array_equal(metric_weight[:2], np.ones((2, 2)))


def test_plans_for_many_epochs_are_each_epochs_plan():
    rng = np.random.default_rng(0)
    orders = np.stack([rng.permutation(7) for _ in range(3)])
    weights = rng.uniform(0.5, 2.0, 7)
    plans, n_batches = epoch_plans(orders, weights, 3, 5, width=4)
    for e, order in enumerate(orders):
        plan, n = epoch_plan(order, weights, 3, 5, width=4)
        assert n == n_batches == 3
        for stacked, alone in zip(plans, plan, strict=True):
            np.testing.assert_array_equal(stacked[e], alone)
    # Weighted real rows, scaled so each batch's loss is its own weighted mean.
    index, loss_weight, metric_weight, mask, rows = (a[0] for a in plans)
    np.testing.assert_allclose(metric_weight[0, :3], weights[orders[0, :3]], rtol=1e-6)
    np.testing.assert_allclose(loss_weight[2, 0], weights[orders[0, 6]] * 4 / 1, rtol=1e-6)
    assert mask[:, 3].sum() == 0 and rows.tolist() == [3, 3, 1, 0, 0]


def shape_sensitive_net(meta, kind="dropout"):
    """A net whose training depends on each batch's shape or rows."""
    middle = {
        "dropout": keras.layers.Dropout(0.5),
        "noise": keras.layers.GaussianNoise(0.3),
        "batchnorm": keras.layers.BatchNormalization(),
    }[kind]
    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(8, activation="relu"),
        middle,
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("kind", ["dropout", "noise", "batchnorm"])
def test_shape_sensitive_layers_train_on_the_fast_path_with_a_short_last_batch(binary_data, kind):
    X, y = binary_data  # 120 rows: batches of 37 leave 9

    def make(**kw):
        return KerasClassifier(shape_sensitive_net, model__kind=kind, epochs=3, batch_size=37,
                               random_state=2, **kw)

    assert not engine.blockers(make().initialize(X, y).model_, [], {}, n_samples=120, batch_size=37)
    fast, plain = fit_both(make, X, y)
    assert_same_training(fast, plain, atol=1e-5)
    with_validation, plain_validation = fit_both(
        lambda **kw: make(validation_split=0.2, **kw), X, y)
    assert_same_training(with_validation, plain_validation, atol=1e-5)


def test_packs_still_refuse_what_padding_would_change(binary_data):
    X, y = binary_data
    model = KerasClassifier(shape_sensitive_net, model__kind="batchnorm").initialize(X, y).model_
    assert any("batch normalization" in r for r in engine.blockers(model, [], {}, packed=True))
    model = KerasClassifier(shape_sensitive_net).initialize(X, y).model_
    assert engine.blockers(model, [], {}, packed=True, n_samples=120, batch_size=37)
    assert not engine.blockers(model, [], {}, packed=True, n_samples=120, batch_size=40)


def text_net(meta, dropout=0.0, cell="LSTM"):
    model = keras.Sequential([
        keras.Input((6,), dtype="int32"),
        keras.layers.Embedding(10, 4),
        getattr(keras.layers, cell)(4, dropout=dropout),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers_are_random_only_with_dropout(cell):
    assert not engine.has_random_layers(text_net(None, cell=cell))
    assert engine.has_random_layers(text_net(None, dropout=0.2, cell=cell))


def test_an_lstm_text_classifier_trains_on_the_fast_path_with_fits_numbers():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 10, size=(50, 6)).astype(np.int32)
    y = (X[:, 0] > 4).astype(int)

    def make(**kw):
        return KerasClassifier(text_net, epochs=2, batch_size=16, random_state=0, **kw)

    assert not engine.blockers(make().initialize(X, y).model_, [], {}, n_samples=50, batch_size=16)
    fast, plain = fit_both(make, X, y)
    assert_same_training(fast, plain, atol=1e-5)


@keras.saving.register_keras_serializable(package="skkeras_tests")
class FailsInTraining(keras.layers.Layer):
    """Works at inference, raises in training: the error surfaces inside the compiled epoch."""

    def call(self, inputs, training=False):
        if training:
            raise ValueError("FailsInTraining refuses to train")
        return inputs


def failing_net(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = FailsInTraining(name="picky_layer")(keras.layers.Dense(4)(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


def test_errors_inside_the_fast_path_name_the_users_layer(binary_data):
    X, y = binary_data
    with pytest.raises(Exception, match="FailsInTraining refuses to train") as raised:
        KerasClassifier(failing_net, epochs=1, engine="fast", loss="binary_crossentropy").fit(X, y)
    assert "picky_layer" in str(raised.value) or "FailsInTraining" in str(raised.value)
    assert "skkeras" not in type(raised.value).__module__


def test_a_fits_numbers_do_not_depend_on_what_the_process_compiled_before(binary_data):
    from skkeras import packing
    from skkeras.training import trained_ahead

    X, y = binary_data  # 120 rows, padded to 256

    def estimator(batch_size):
        return KerasClassifier(small_net, epochs=2, batch_size=batch_size, random_state=0)

    engine.clear_program_cache()
    first = estimator(16).fit(X, y).predict_proba(X)
    jobs = [estimator(bs).training_job(X, y) for bs in (8, 32)]
    shared_slots = {}
    for job in packing.share_programs(jobs, record=shared_slots):
        assert job.slots == (32, 32)  # 256 / 8 batches of up to 32 rows
        packing.train_epoch_path(job, {2})
    # a wider program that could hold the fit is compiled now: the fit still runs on its own
    np.testing.assert_array_equal(estimator(16).fit(X, y).predict_proba(X), first)
    # inside a search that shared that plan (its refit), the fit runs on the shared program
    n_programs = len(engine._PROGRAMS)
    with trained_ahead({}, shared_slots):
        in_search = estimator(16).fit(X, y).predict_proba(X)
    assert len(engine._PROGRAMS) == n_programs
    np.testing.assert_allclose(in_search, first, atol=1e-6)


def test_runs_with_different_batch_sizes_share_one_program_in_a_search(binary_data):
    from skkeras import model_selection

    X, y = binary_data
    engine.clear_program_cache()
    search = model_selection.GridSearchCV(
        KerasClassifier(small_net, epochs=2, random_state=0), {"batch_size": [8, 16, 32]}, cv=3
    ).fit(X, y)
    if engine.backend_name() == "tensorflow":  # JAX packs them into one vmapped program
        train_programs = [key for key in engine._PROGRAMS if "|plan" in key]
        assert len(train_programs) == 1  # the folds' runs and the refit
    alone = KerasClassifier(small_net, epochs=2, random_state=0, **search.best_params_)
    engine.clear_program_cache()
    alone.fit(X, y)
    np.testing.assert_allclose(
        search.best_estimator_.predict_proba(X), alone.predict_proba(X), atol=1e-6
    )


def test_only_models_made_of_keras_parts_have_an_exportable_key():
    def model(*middle, loss="binary_crossentropy"):
        built = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu"),
                                  *middle, keras.layers.Dense(1, activation="sigmoid")])
        built.compile(optimizer="adam", loss=loss, metrics=[keras.metrics.AUC()])
        return built

    class Twice(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    def squared_error(y, p):
        return keras.ops.mean((y - p) ** 2)

    def doubled(x):
        return 2 * x

    keras_only, again = model(), model()
    assert engine.exportable_key(keras_only).startswith(engine.architecture_key(keras_only))
    # A saved program returns logs under the metric names it was traced with (auc, auc_1).
    assert engine.architecture_key(again) == engine.architecture_key(keras_only)
    assert engine.exportable_key(again) != engine.exportable_key(keras_only)
    assert engine.exportable_key(model(keras.layers.Dropout(0.1))) is not None
    assert engine.exportable_key(model(Twice())) is None
    assert engine.exportable_key(model(keras.layers.Lambda(lambda x: x + 1))) is None
    assert engine.exportable_key(model(loss=squared_error)) is None
    assert engine.exportable_key(model(keras.layers.Dense(2, activation=keras.ops.tanh))) is not None
    assert engine.exportable_key(model(keras.layers.Dense(2, activation=doubled))) is None


def test_builds_whose_metric_objects_keras_numbered_differently_share_a_key():
    def model(**names):
        built = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, **names),
                                  keras.layers.Dense(1, activation="sigmoid")])
        built.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.AUC()])
        return built

    first, second = model(), model()
    names = [engine.metric_names(m.get_compile_config()) for m in (first, second)]
    assert names[0] != names[1]  # auc_N: Keras numbers each new metric object
    assert engine.architecture_key(first) == engine.architecture_key(second)
    # A name that is also a value elsewhere keeps its text, so that renaming it
    # cannot make two different configurations equal.
    relu = model(name="relu", activation="relu")
    tanh = model(name="tanh", activation="tanh")
    assert engine.architecture_key(relu) != engine.architecture_key(tanh)


def test_fits_sharing_a_program_keep_their_own_metric_names(binary_data):
    X, y = binary_data
    common = {"model__compiled": False, "epochs": 2, "batch_size": 16, "random_state": 0,
              "metrics": [keras.metrics.AUC], "validation_split": 0.2}

    def auc_name(estimator):
        (name,) = [name for name in estimator.history_ if name.startswith("auc")]
        assert f"val_{name}" in estimator.history_
        return name

    engine.clear_program_cache()
    first = KerasClassifier(small_net, optimizer__learning_rate=1e-2, **common).fit(X, y)
    programs = len(engine._PROGRAMS)
    shared = KerasClassifier(small_net, optimizer__learning_rate=1e-3, **common).fit(X, y)
    assert len(engine._PROGRAMS) == programs
    # Each fit's logs are named after its own metric object (auc_N), as with Model.fit.
    assert auc_name(shared) != auc_name(first)
    alone = KerasClassifier(small_net, optimizer__learning_rate=1e-3, engine="keras", **common).fit(X, y)
    for prefix in ("", "val_"):
        np.testing.assert_allclose(shared.history_[prefix + auc_name(shared)],
                                   alone.history_[prefix + auc_name(alone)], rtol=1e-5)

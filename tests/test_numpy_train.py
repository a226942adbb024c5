"""The NumPy executor for small jobs (skkeras._numpy_train) gives the compiled fast
path's numbers: history, trained weights, optimizer state and predictions."""

import keras
import numpy as np
import pytest

from skkeras import KerasClassifier, KerasRegressor, _numpy_train, engine
from skkeras.job import TrainingJob
from skkeras.training import choose_path, describe_path

D = keras.layers.Dense
RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 5)).astype("float32")
Y_BINARY = RNG.integers(0, 2, 50).astype("float32")
Y_CLASS = RNG.integers(0, 3, 50)
Y_REAL = RNG.normal(size=50).astype("float32")
WEIGHTS = RNG.uniform(0.5, 2.0, 50).astype("float32")


def _model(layers, loss, optimizer, metrics=None, weighted_metrics=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), *layers()])
    model.compile(optimizer=optimizer(), loss=loss, metrics=metrics,
                  weighted_metrics=weighted_metrics)
    return model


CASES = {
    "bce-adam-accuracy": dict(
        layers=lambda: [D(4, activation="relu"), D(1, activation="sigmoid")],
        loss="binary_crossentropy", optimizer=keras.optimizers.Adam, metrics=["accuracy"],
        y=Y_BINARY),
    "scce-nesterov-weights-validation": dict(
        layers=lambda: [D(4, activation="tanh"), D(3, activation="softmax")],
        loss="sparse_categorical_crossentropy",
        optimizer=lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        metrics=["accuracy"], y=Y_CLASS, weights=WEIGHTS, validation=True),
    "cce-rmsprop-centred": dict(
        layers=lambda: [D(4, activation="elu"), D(3, activation="softmax")],
        loss="categorical_crossentropy",
        optimizer=lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
        metrics=["accuracy"], y=np.eye(3, dtype="float32")[Y_CLASS]),
    "mse-adamw-weighted-metrics": dict(
        layers=lambda: [D(4, activation="relu"), D(1)], loss="mse",
        optimizer=lambda: keras.optimizers.AdamW(0.01), metrics=["mae"],
        weighted_metrics=["mse"], y=Y_REAL, weights=WEIGHTS),
    "mae-adagrad-no-shuffle": dict(
        layers=lambda: [D(4, activation="sigmoid"), keras.layers.Activation("softplus"), D(1)],
        loss=keras.losses.MeanAbsoluteError(), optimizer=lambda: keras.optimizers.Adagrad(0.1),
        y=Y_REAL, shuffle=False),
    "bce-logits-amsgrad-sgd-batch": dict(
        layers=lambda: [D(4, activation="swish"), D(1)],
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        optimizer=lambda: keras.optimizers.Adam(amsgrad=True), metrics=["accuracy"], y=Y_BINARY,
        batch_size=50),
}


def _job(model, case, epochs=3, first_epoch=0):
    validation = (X[:13], case["y"][:13]) if case.get("validation") else None
    return TrainingJob(model, X, case["y"], case.get("weights"), epochs,
                       case.get("batch_size", 7), first_epoch, 3, case.get("shuffle", True),
                       validation_data=validation)


def _assert_same(compiled, numpy_model, h_compiled, h_numpy):
    assert set(h_compiled) == set(h_numpy)
    for name in h_compiled:
        np.testing.assert_allclose(h_numpy[name], h_compiled[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    for a, b in zip(compiled.trainable_variables, numpy_model.trainable_variables, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    for a, b in zip(compiled.optimizer.variables, numpy_model.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6,
                                   err_msg=a.path)
    np.testing.assert_allclose(numpy_model.predict(X, verbose=0),
                               compiled.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_executor_gives_the_compiled_paths_numbers(name):
    case = CASES[name]
    spec = {k: case.get(k) for k in ("layers", "loss", "optimizer", "metrics", "weighted_metrics")}
    compiled, numpy_model = _model(**spec), _model(**spec)
    numpy_model.set_weights(compiled.get_weights())
    job = _job(numpy_model, case)
    assert _numpy_train.use_numpy(job) == (True, _numpy_train.use_numpy(job)[1])
    h_compiled = engine.train_fast(_job(compiled, case))
    h_numpy = _numpy_train.train_numpy(job)
    assert len(h_numpy["loss"]) == 3
    _assert_same(compiled, numpy_model, h_compiled, h_numpy)
    # continuing (a warm start) from the written-back weights and optimizer state
    h_compiled = engine.train_fast(_job(compiled, case, epochs=2, first_epoch=3))
    h_numpy = _numpy_train.train_numpy(_job(numpy_model, case, epochs=2, first_epoch=3))
    _assert_same(compiled, numpy_model, h_compiled, h_numpy)


@pytest.mark.parametrize("name", sorted(n for n in CASES if not CASES[n].get("validation")))
def test_stacked_runs_give_each_runs_numbers_alone(name):
    """Runs of different rows (so batch counts), seeds, first epochs and sample weights,
    trained as one stack, end where each ends alone: weights, optimizer state and
    history, at every stop."""
    case = CASES[name]
    spec = {k: case.get(k) for k in ("layers", "loss", "optimizer", "metrics", "weighted_metrics")}
    weights = case.get("weights")
    jobs = [
        TrainingJob(_model(**spec), X[:rows], case["y"][:rows],
                    None if weights is None else weights[:rows], 4,
                    case.get("batch_size", 7), first, seed, case.get("shuffle", True))
        for rows, first, seed in ((37, 0, 3), (50, 2, 4), (44, 0, 5), (50, 0, 3))
    ]
    for job in jobs:
        assert _numpy_train.use_numpy(job)[0]
    stops = [{2, 4}, {4}, {1, 4}, {3, 4}]
    stacked = _numpy_train.train_numpy_runs(jobs, stops)
    alone = [_numpy_train.train_numpy_runs([job], [s])[0] for job, s in zip(jobs, stops, strict=True)]
    for together, by_itself, job_stops in zip(stacked, alone, stops, strict=True):
        assert set(together) == set(by_itself) == job_stops
        for epoch in job_stops:
            a, b = together[epoch], by_itself[epoch]
            for x, y in zip(a.trainable + a.optimizer, b.trainable + b.optimizer, strict=True):
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
            assert a.history.keys() == b.history.keys()
            for key in a.history:
                np.testing.assert_allclose(a.history[key], b.history[key], rtol=1e-6, atol=1e-6)
    # and alone in a stack is the estimators' own path (train_numpy, written into the model)
    model = jobs[1].model
    snapshots = dict.fromkeys(stops[1])
    history = _numpy_train.train_numpy(jobs[1], snapshots)
    np.testing.assert_allclose(history["loss"], alone[1][4].history["loss"], rtol=1e-6)
    for variable, value in zip(model.trainable_variables, alone[1][4].trainable, strict=True):
        np.testing.assert_allclose(np.asarray(variable), value, rtol=1e-6, atol=1e-6)


def test_a_group_over_the_memory_limit_trains_as_several_stacks(monkeypatch, stack_sizes):
    case = CASES["bce-adam-accuracy"]
    spec = {k: case.get(k) for k in ("layers", "loss", "optimizer", "metrics", "weighted_metrics")}
    jobs = [TrainingJob(_model(**spec), X[:rows], case["y"][:rows], None, 3, 7, 0, seed, True)
            for rows, seed in ((50, 1), (44, 2), (37, 3))]
    whole = _numpy_train.train_numpy_runs(jobs, [{3}] * 3)
    assert stack_sizes == [3]
    stack_sizes.clear()
    monkeypatch.setattr(_numpy_train, "STACK_BYTES", 4 * 50 * 9 * 2)  # two runs' arrays
    split = _numpy_train.train_numpy_runs(jobs, [{3}] * 3)
    assert stack_sizes == [2, 1]
    for a, b in zip(whole, split, strict=True):
        for x, y in zip(a[3].trainable, b[3].trainable, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(("change", "reason"), [
    (dict(layers=lambda: [D(4), keras.layers.Dropout(0.5), D(1)]), "Dropout"),
    (dict(layers=lambda: [D(4, kernel_regularizer="l2"), D(1)]), "regularisation"),
    (dict(optimizer=lambda: keras.optimizers.Adam(clipnorm=1.0)), "clipnorm"),
    (dict(optimizer=lambda: keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9))), "schedule"),
    (dict(optimizer=lambda: keras.optimizers.Nadam()), "optimizer Nadam"),
    (dict(loss="huber"), "loss"),
    (dict(metrics=[keras.metrics.AUC()]), "metric"),
])
def test_declines_with_a_reason(change, reason):
    spec = dict(layers=lambda: [D(4, activation="relu"), D(1)], loss="mse",
                optimizer=keras.optimizers.Adam, metrics=None, weighted_metrics=None)
    spec.update(change)
    job = TrainingJob(_model(**spec), X, Y_REAL, None, 2, 10, 0, 0, True)
    chosen, why = _numpy_train.use_numpy(job)
    assert not chosen and reason in why
    assert choose_path(job) == "fast"


def test_callbacks_and_large_jobs_take_the_compiled_path():
    spec = dict(layers=lambda: [D(4), D(1)], loss="mse", optimizer=keras.optimizers.Adam)
    job = TrainingJob(_model(**spec), X, Y_REAL, None, 2, 10, 0, 0, True,
                      callbacks=[keras.callbacks.EarlyStopping()])
    assert "callbacks" in _numpy_train.use_numpy(job)[1]
    big = TrainingJob(_model(**spec), X, Y_REAL, None, 10**6, 10, 0, 0, True)
    chosen, why = _numpy_train.use_numpy(big)
    assert not chosen and "large job" in why and choose_path(big) == "fast"


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="compiling is JAX's cost here")
def test_a_small_first_fit_and_its_predictions_compile_nothing_on_jax(caplog):
    """Initial values, the optimizer's variables and the trained values written back
    all go through NumPy: a NumPy fit compiles no XLA program."""
    import jax

    jax.clear_caches()
    with jax.log_compiles(), caplog.at_level("DEBUG"):
        est = KerasClassifier(hidden_layer_sizes=(6,), epochs=2, random_state=0).fit(X, Y_CLASS)
        est.predict_proba(X)
    assert est.fit_path_ == "numpy"
    assert [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()] == []


def test_a_numpy_fit_leaves_a_model_keras_evaluates_and_trains_on():
    """The NumPy path skips Keras's symbolic build of the compiled loss when there are
    no metrics; Keras builds it when it needs it."""
    est = KerasRegressor(hidden_layer_sizes=(6,), epochs=2, random_state=0).fit(X, Y_REAL)
    assert est.fit_path_ == "numpy"
    model = est.model_
    before = model.evaluate(X, Y_REAL, verbose=0)
    expected = np.mean((est.predict(X) - Y_REAL) ** 2)
    np.testing.assert_allclose(before, expected, rtol=1e-4)
    model.fit(X, Y_REAL, epochs=1, verbose=0)
    assert model.evaluate(X, Y_REAL, verbose=0) != before


def test_estimators_choose_numpy_for_small_jobs_and_match_engine_fast():
    params = dict(hidden_layer_sizes=(6,), epochs=4, batch_size=8, random_state=0)
    small = KerasClassifier(**params).fit(X, Y_CLASS, sample_weight=WEIGHTS)
    compiled = KerasClassifier(engine="fast", **params).fit(X, Y_CLASS, sample_weight=WEIGHTS)
    assert small.fit_path_ == "numpy" and compiled.fit_path_ == "fast"
    for name in compiled.history_:
        np.testing.assert_allclose(small.history_[name], compiled.history_[name], rtol=1e-5)
    np.testing.assert_allclose(small.predict_proba(X), compiled.predict_proba(X), rtol=1e-5,
                               atol=1e-6)
    # partial_fit continues from the same weights and optimizer state on either path
    for est in (small, compiled):
        est.partial_fit(X, Y_CLASS)
        est.partial_fit(X, Y_CLASS)
    assert small.fit_path_ == "numpy" and len(small.history_["loss"]) == 6
    for name in compiled.history_:
        np.testing.assert_allclose(small.history_[name], compiled.history_[name], rtol=1e-5)
    np.testing.assert_allclose(small.predict_proba(X), compiled.predict_proba(X), rtol=1e-5,
                               atol=1e-6)


def test_validation_split_and_regression_match_engine_fast():
    params = dict(hidden_layer_sizes=(5, 3), epochs=3, batch_size=9, random_state=1,
                  validation_split=0.2)
    small = KerasRegressor(**params).fit(X, Y_REAL)
    compiled = KerasRegressor(engine="fast", **params).fit(X, Y_REAL)
    assert small.fit_path_ == "numpy" and "val_loss" in small.history_
    for name in compiled.history_:
        np.testing.assert_allclose(small.history_[name], compiled.history_[name], rtol=1e-5)
    np.testing.assert_allclose(small.predict(X), compiled.predict(X), rtol=1e-5, atol=1e-6)


def test_divergence_is_reported_on_the_numpy_path():
    est = KerasRegressor(hidden_layer_sizes=(4,), epochs=5, batch_size=10, random_state=0,
                         optimizer="sgd", optimizer__learning_rate=1e6)
    with pytest.raises(ValueError, match="Training diverged"):
        est.fit(X, Y_REAL * 1e3)
    assert est.__dict__.get("fit_path_") in (None, "numpy")


def test_describe_path():
    assert describe_path("numpy").startswith("NumPy")
    assert describe_path("fast") == "the fast path"
    assert describe_path("keras: engine='keras'") == "keras.Model.fit (engine='keras')"


def test_a_small_search_trains_its_runs_in_numpy_with_scikit_learns_results(capsys):
    from sklearn import model_selection as sk
    from sklearn.model_selection import StratifiedKFold

    from skkeras import model_selection as skk

    est = KerasClassifier(hidden_layer_sizes=(5,), batch_size=10, random_state=0)
    grid = {"epochs": [2, 4], "batch_size": [10, 16]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = skk.GridSearchCV(est, grid, cv=cv, verbose=1).fit(X, Y_BINARY)
    theirs = sk.GridSearchCV(est, grid, cv=cv).fit(X, Y_BINARY)
    # 2 batch sizes x 3 folds, and where packs are available (JAX) the refits too
    from skkeras.packing import packing_available

    runs = 6 + (2 if packing_available() else 0)
    assert f"{runs} runs in NumPy" in capsys.readouterr().out
    for name in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_allclose(ours.cv_results_[name], theirs.cv_results_[name], atol=1e-6)
    assert ours.best_params_ == theirs.best_params_
    # the refit: trained ahead with the runs where packs are available, else on its own
    assert ours.best_estimator_.fit_path_ in ("numpy", "fast (trained ahead by the search)")
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)

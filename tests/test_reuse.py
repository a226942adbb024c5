"""Fits of one recipe reuse one built model, and give the numbers of a model built for each fit."""

import functools
import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skkeras import KerasClassifier, KerasRegressor, reuse

BUILDS = []


def counted_net(meta, hidden=8):
    """A module-level builder (reusable), counting its calls."""
    BUILDS.append(hidden)
    binary = meta["target_type_"] == "binary"
    model = keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(1 if binary else meta["n_outputs_"],
                           activation="sigmoid" if binary else None),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy" if binary else "mse")
    return model


@pytest.fixture(autouse=True)
def fresh_workbenches():
    reuse.clear_workbenches()
    BUILDS.clear()
    yield
    reuse.clear_workbenches()


def make(**kwargs):
    settings = {"model": counted_net, "epochs": 3, "batch_size": 16, "random_state": 0}
    return KerasClassifier(**{**settings, **kwargs})


def built_each_fit(**kwargs):
    """The same estimator, with a builder that is not comparable: it builds for every fit."""
    return make(model=functools.partial(counted_net), **kwargs)


def test_fits_of_one_recipe_build_once_and_match_fits_that_build(binary_data):
    X, y = binary_data
    reused = [clone(make()).fit(X, y) for _ in range(3)]
    assert len(BUILDS) == 1
    assert all("model_" not in vars(est) for est in reused)  # nothing built per fit
    built = built_each_fit().fit(X, y)
    assert "model_" in vars(built)
    for est in reused:
        np.testing.assert_array_equal(est.predict_proba(X), built.predict_proba(X))
        assert est.history_ == built.history_


def test_model_is_built_on_demand_with_the_trained_values(binary_data):
    X, y = binary_data
    est = make().fit(X, y)
    before = est.predict_proba(X)
    state = est._deferred_model_.state
    model = est.model_  # built now
    assert len(BUILDS) == 2 and est.model_ is model
    assert "_deferred_model_" not in vars(est)
    for value, variable in zip(state.trainable, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(variable))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3 * int(np.ceil(len(y) / 16))
    np.testing.assert_array_equal(est.predict_proba(X), before)
    built = built_each_fit().fit(X, y)
    for a, b in zip(model.get_weights(), built.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_model_built_on_demand_is_the_one_fitted_not_one_of_later_params(binary_data):
    X, y = binary_data
    est = make(hidden=5).fit(X, y)
    est.set_params(hidden=11)
    assert est.model_.layers[0].units == 5


def test_a_later_fit_does_not_change_an_earlier_estimator(binary_data, multiclass_data):
    X, y = binary_data
    first = make().fit(X, y)
    expected = first.predict_proba(X)
    clone(make()).fit(X[::-1], y[::-1])  # same recipe, other data: trains the same workbench
    np.testing.assert_array_equal(first.predict_proba(X), expected)


def test_other_recipes_build_their_own_model(binary_data):
    X, y = binary_data
    make(hidden=4).fit(X, y)
    make(hidden=6).fit(X, y)
    make(hidden=4, random_state=1).fit(X, y)
    make(hidden=4, epochs=5, batch_size=8).fit(X, y)  # training settings: same model
    assert BUILDS == [4, 6, 4]


def test_a_redefined_builder_is_a_new_recipe(binary_data):
    X, y = binary_data
    make().fit(X, y)

    def counted_net(meta):  # same name, another function: its model may differ
        return globals()["counted_net"](meta, hidden=3)

    est = KerasClassifier(counted_net, epochs=3, batch_size=16, random_state=0).fit(X, y)
    assert BUILDS == [8, 3]
    assert est.model_.layers[0].units == 3


@pytest.mark.parametrize("kwargs", [
    {"random_state": None},
    {"engine": "keras"},
    {"callbacks": [keras.callbacks.TerminateOnNaN()]},
])
def test_fits_that_need_their_own_model_build_one_each(binary_data, kwargs):
    X, y = binary_data
    for _ in range(2):
        est = make(**kwargs).fit(X, y)
        assert "model_" in vars(est)
    assert len(BUILDS) == 2


def test_an_estimator_trained_on_a_reused_model_pickles_with_its_model(binary_data):
    X, y = binary_data
    est = make().fit(X, y)
    expected = est.predict_proba(X)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    assert isinstance(restored.model_, keras.Model)


def test_a_grid_search_builds_once_per_recipe(binary_data):
    X, y = binary_data
    search = GridSearchCV(make(), {"epochs": [1, 2], "batch_size": [8, 16]}, cv=3).fit(X, y)
    # 12 fits and a refit on 80 and 120 rows: the builder reads only the number of
    # features and the target's facts, so one model serves them all
    assert BUILDS == [8]
    best = search.best_estimator_
    assert "model_" not in vars(best)
    alone = built_each_fit(**search.best_params_).fit(X, y)
    np.testing.assert_array_equal(best.predict_proba(X), alone.predict_proba(X))


def shape_reading_net(meta):
    return counted_net({"target_type_": "binary", "n_features_in_": meta["X_shape_"][1]})


def meta_copying_net(meta):
    return counted_net(dict(meta))


@pytest.mark.parametrize("builder", [shape_reading_net, meta_copying_net])
def test_a_build_that_reads_the_row_count_is_rebuilt_for_another(binary_data, builder):
    X, y = binary_data
    for rows in (80, 100, 80):
        make(model=builder).fit(X[:rows], y[:rows])
    assert len(BUILDS) == 2  # 80 rows, 100 rows, then the first recipe again


def test_facts_read_notes_what_a_build_reads():
    facts = reuse.FactsRead({"a": 1, "b": 2, "c": 3})
    assert facts["a"] == 1 and facts.get("b") == 2 and "z" not in facts
    assert facts.reads() == {"a", "b", "z"}
    assert {**facts} == {"a": 1, "b": 2, "c": 3}
    assert facts.reads() is None  # a copy reads every fact


def test_a_regressor_reuses_too(regression_data):
    X, y = regression_data
    ests = [KerasRegressor(counted_net, epochs=2, batch_size=16, random_state=0).fit(X, y) for _ in range(2)]
    assert len(BUILDS) == 1
    np.testing.assert_array_equal(ests[0].predict(X), ests[1].predict(X))


def test_recipe_keys_compare_values_exactly_and_objects_by_identity():
    def f():
        pass

    assert reuse.recipe_key({"a": 1, "b": np.arange(3)})[0] == reuse.recipe_key({"a": 1, "b": np.arange(3)})[0]
    assert reuse.recipe_key([1])[0] != reuse.recipe_key([1.0])[0]
    assert reuse.recipe_key([1])[0] != reuse.recipe_key((1,))[0]
    assert reuse.recipe_key(np.arange(3))[0] != reuse.recipe_key(np.arange(3.0))[0]
    key, referents = reuse.recipe_key({"builder": f})
    assert referents == [f]
    assert reuse.recipe_key(object()) is None
    assert reuse.recipe_key({"optimizer": keras.optimizers.Adam()}) is None


def test_an_interrupted_fit_on_a_reused_model_loses_nothing(binary_data, monkeypatch):
    from skkeras.training import TrainingJob

    X, y = binary_data
    est = make().fit(X, y)
    expected = est.predict_proba(X)
    run = TrainingJob.run

    def run_then_interrupt(job):
        run(job)  # the reused model is now trained on other data
        raise KeyboardInterrupt

    monkeypatch.setattr(TrainingJob, "run", run_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X[::-1], y[::-1])
    monkeypatch.undo()
    np.testing.assert_array_equal(est.predict_proba(X), expected)
    # the next fit of the recipe starts from the initial values again
    np.testing.assert_array_equal(clone(est).fit(X, y).predict_proba(X), expected)

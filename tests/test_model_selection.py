"""Searches that train fits ahead give scikit-learn's results, fit for fit."""

import keras
import numpy as np
import pytest
from sklearn import model_selection as sk
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier, KerasRegressor, _numpy_train
from skkeras import model_selection as skk
from skkeras.packing import packing_available
from skkeras.training import TrainedState

#: The NumPy executor's limit, before the fixture below turns it off.
NUMPY_WORK_LIMIT = _numpy_train.WORK_LIMIT


@pytest.fixture(autouse=True)
def compiled_runs(monkeypatch):
    """These tests are about packs and compiled epoch paths: no job is small enough for
    the NumPy executor here (tests/test_numpy_train.py checks searches in NumPy)."""
    monkeypatch.setattr(_numpy_train, "WORK_LIMIT", 0)


def net(meta, hidden=6):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def pipeline(**params):
    return Pipeline([
        ("scale", StandardScaler()),
        ("net", KerasClassifier(net, loss="binary_crossentropy", random_state=0, **params)),
    ])


GRID = {"net__epochs": [2, 4], "net__batch_size": [16, 25],
        "net__optimizer__learning_rate": [1e-3, 1e-2]}


def test_grid_search_matches_scikit_learns_fit_for_fit(binary_data, capsys):
    X, y = binary_data
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = skk.GridSearchCV(pipeline(), GRID, cv=cv, verbose=1).fit(X, y)
    theirs = sk.GridSearchCV(pipeline(), GRID, cv=cv).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], atol=1e-6
    )
    np.testing.assert_allclose(
        ours.cv_results_["split0_test_score"], theirs.cv_results_["split0_test_score"], atol=1e-6
    )
    assert ours.best_params_ == theirs.best_params_
    assert set(ours.cv_results_) == set(theirs.cv_results_)
    printed = capsys.readouterr().out
    # 8 candidates x 3 folds; epochs 2 and 4 share runs: 12 runs. Where runs are
    # packed (JAX), every candidate's refit on all rows is trained ahead too.
    refits = 8 if packing_available() else 0
    assert f"trained {24 + refits} fits ahead" in printed
    assert f"{12 + refits // 2} runs" in printed
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6
    )


def test_fits_are_actually_trained_ahead(binary_data, monkeypatch):
    X, y = binary_data
    from skkeras import training

    trained_in_fit = []
    original = training.TrainingJob.run

    def counting_run(job):
        trained_in_fit.append(job.epochs)
        return original(job)

    monkeypatch.setattr(training.TrainingJob, "run", counting_run)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    skk.GridSearchCV(pipeline(), {"net__epochs": [1, 3]}, cv=cv, refit=False).fit(X, y)
    assert trained_in_fit == []  # every fit found its result ready


def test_an_epoch_snapshot_equals_a_separate_shorter_fit(binary_data):
    X, y = binary_data
    cv = StratifiedKFold(2, shuffle=True, random_state=1)
    search = skk.GridSearchCV(
        pipeline(batch_size=20), {"net__epochs": [2, 5]}, cv=cv, refit=False,
    ).fit(X, y)
    scores = sk.cross_validate(pipeline(batch_size=20, epochs=2), X, y, cv=cv)["test_score"]
    np.testing.assert_allclose(search.cv_results_["split0_test_score"][0], scores[0], atol=1e-6)
    np.testing.assert_allclose(search.cv_results_["split1_test_score"][0], scores[1], atol=1e-6)


def test_cross_validate_returns_the_same_estimators_as_scikit_learns(regression_data):
    X, y = regression_data
    model = KerasRegressor(epochs=3, batch_size=16, random_state=0,
                           model__hidden_layer_sizes=(8,))
    ours = skk.cross_validate(model, X, y, cv=3, return_estimator=True)
    theirs = sk.cross_validate(model, X, y, cv=3, return_estimator=True)
    np.testing.assert_allclose(ours["test_score"], theirs["test_score"], atol=1e-6)
    for a, b in zip(ours["estimator"], theirs["estimator"], strict=True):
        for wa, wb in zip(a.model_.get_weights(), b.model_.get_weights(), strict=True):
            np.testing.assert_allclose(wa, wb, atol=1e-6)
        assert a.history_["loss"] == pytest.approx(b.history_["loss"], rel=1e-5)


def test_what_cannot_be_shared_falls_back_without_failing(binary_data, capsys):
    X, y = binary_data
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    # A callback makes the run no prefix of a longer one; random_state=None draws per fit.
    with_callbacks = pipeline(callbacks=[keras.callbacks.TerminateOnNaN()])
    search = skk.GridSearchCV(with_callbacks, {"net__epochs": [1, 2]}, cv=cv, verbose=1).fit(X, y)
    assert "0 runs" in capsys.readouterr().out
    assert np.isfinite(search.best_score_)
    unseeded = skk.GridSearchCV(
        Pipeline([("net", KerasClassifier(net, epochs=1, loss="binary_crossentropy"))]),
        {"net__batch_size": [16]}, cv=cv, verbose=1,
    ).fit(X, y)
    left = 2 + (1 if packing_available() else 0)  # the folds, and the refit where packed
    assert f"{left} fits left to ordinary fitting" in capsys.readouterr().out
    assert np.isfinite(unseeded.best_score_)


def test_randomized_search_plans_the_candidates_scikit_learn_draws(binary_data):
    X, y = binary_data
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    space = {"net__epochs": [1, 2, 3], "net__batch_size": [10, 20]}
    ours = skk.RandomizedSearchCV(pipeline(), space, n_iter=3, cv=cv, random_state=0).fit(X, y)
    theirs = sk.RandomizedSearchCV(pipeline(), space, n_iter=3, cv=cv, random_state=0).fit(X, y)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], atol=1e-6
    )


def test_trained_state_round_trips_through_a_model(binary_data):
    X, y = binary_data
    fitted = KerasClassifier(net, epochs=2, random_state=0, loss="binary_crossentropy").fit(X, y)
    state = TrainedState.of(fitted.model_, fitted.history_)
    fresh = KerasClassifier(net, random_state=5, loss="binary_crossentropy").initialize(X, y)
    from skkeras.engine import prepare

    prepare(fresh.model_, X, y.reshape(-1, 1).astype("float32"), 8)
    assert state.apply_to(fresh.model_) == fitted.history_
    np.testing.assert_array_equal(fresh.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.skipif(not packing_available(), reason="packs need the JAX backend")
def test_builds_numbering_their_metric_objects_still_pack_together(binary_data, capsys):
    X, y = binary_data
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    grid = {"net__optimizer__learning_rate": [1e-3, 1e-2]}
    # A metric class: each build makes its own AUC object, named auc_N by Keras.
    ours = skk.GridSearchCV(pipeline(metrics=[keras.metrics.AUC]), grid, cv=cv, verbose=1).fit(X, y)
    assert "1 packs" in capsys.readouterr().out
    theirs = sk.GridSearchCV(pipeline(metrics=[keras.metrics.AUC]), grid, cv=cv).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], atol=1e-6
    )
    (name,) = [name for name in ours.best_estimator_[-1].history_ if name.startswith("auc")]
    (their_name,) = [name for name in theirs.best_estimator_[-1].history_ if name.startswith("auc")]
    np.testing.assert_allclose(ours.best_estimator_[-1].history_[name],
                               theirs.best_estimator_[-1].history_[their_name], rtol=1e-5)


def test_a_transformed_target_regressor_is_looked_through(capsys):
    from sklearn import model_selection as sk
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.datasets import make_regression
    from sklearn.preprocessing import StandardScaler

    from skkeras import KerasRegressor
    from skkeras.model_selection import cross_validate

    X, y = make_regression(n_samples=60, n_features=4, noise=0.1, random_state=0)
    ttr = TransformedTargetRegressor(
        Pipeline([("scale", StandardScaler()), ("net", KerasRegressor(
            model__hidden_layer_sizes=(4,), epochs=2, random_state=0))]),
        transformer=StandardScaler(),
    )
    ours = cross_validate(ttr, X, y * 1000, cv=3, verbose=1)
    assert "trained 3 fits ahead" in capsys.readouterr().out
    theirs = sk.cross_validate(ttr, X, y * 1000, cv=3)
    np.testing.assert_allclose(ours["test_score"], theirs["test_score"], rtol=1e-6)


def test_numpy_stacks_give_the_unstacked_searchs_results(binary_data, monkeypatch, stack_sizes):
    """A search small enough for NumPy trains each batch size and learning rate's runs
    (its folds, and on JAX its refits) as one stack: the same cv_results_ and refit as
    the same search with every run trained alone."""
    monkeypatch.setattr(_numpy_train, "WORK_LIMIT", NUMPY_WORK_LIMIT)
    X, y = binary_data
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    sizes = stack_sizes
    stacked = skk.GridSearchCV(pipeline(), GRID, cv=cv).fit(X, y)
    # 2 batch sizes x 2 learning rates, each a stack of 3 folds and, where the search
    # trains refits ahead (JAX), the refit (epochs 2 and 4 share runs); else the best
    # candidate's refit trains alone afterwards
    ahead = packing_available()
    assert sorted(sizes) == [3 + ahead] * 4 if ahead else sorted(sizes) == [1, 3, 3, 3, 3]
    sizes.clear()
    monkeypatch.setattr(_numpy_train, "stack_key", lambda *args: None)
    alone = skk.GridSearchCV(pipeline(), GRID, cv=cv).fit(X, y)
    assert sizes and set(sizes) == {1}
    for name in stacked.cv_results_:
        if name.startswith("split") or name in ("mean_test_score", "rank_test_score"):
            np.testing.assert_allclose(stacked.cv_results_[name], alone.cv_results_[name],
                                       atol=1e-6, err_msg=name)
    assert stacked.best_params_ == alone.best_params_
    for a, b in zip(stacked.best_estimator_[-1].model_.get_weights(),
                    alone.best_estimator_[-1].model_.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)

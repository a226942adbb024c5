"""The estimators end to end: searches in Pipelines, parameters, validation,
partial_fit, warm_start, initialize, and a failed fit leaving the fitted state alone."""

import pickle
import warnings

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier, KerasRegressor
from skkeras.fitting import validation_rows

TINY = {"model__hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}


def hidden_units(model):
    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)][:-1]


# ------------------------------------------------------------------------- basics
def test_fit_returns_self_with_fitted_attributes(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY)
    assert est.fit(X, y) is est
    assert isinstance(est.model_, keras.Model)
    assert list(est.history_) == ["loss"] and len(est.history_["loss"]) == 2
    assert est.n_features_in_ == 6
    assert est.classes_.tolist() == [0, 1] and est.n_classes_ == 2
    assert est.target_type_ == "binary" and est.n_outputs_ == 1
    assert est.n_outputs_expected_ == 1
    assert est.X_shape_ == (120, 6)
    assert est.predict(X).shape == (120,)


def test_per_call_fit_arguments_override_once(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y, epochs=3, batch_size=40)
    assert len(est.history_["loss"]) == 3
    assert est.epochs == 2 and est.batch_size is None
    with pytest.raises(ValueError, match=r"fit\(epochs=...\).*'epochs' parameter .* must be an int"):
        est.fit(X, y, epochs=1.5)


def test_in_cross_val_score(binary_data):
    X, y = binary_data
    scores = cross_val_score(KerasClassifier(**TINY), X, y, cv=2)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))


def test_regressor_score_is_r2(regression_data):
    from sklearn.metrics import r2_score

    X, y = regression_data
    est = KerasRegressor(**TINY).fit(X, y)
    assert est.score(X, y) == pytest.approx(r2_score(y, est.predict(X)))


# -------------------------------------------------------- GridSearchCV in a Pipeline
def test_grid_search_over_routed_params_in_a_pipeline():
    X, y = make_classification(n_samples=80, n_features=5, n_informative=3, random_state=0)
    X = X * 50 + 100  # the scaler matters
    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("net", KerasClassifier(random_state=0, verbose=0)),
    ])
    grid = GridSearchCV(
        pipe,
        {
            "net__epochs": [2],
            "net__batch_size": [32],
            "net__optimizer__learning_rate": [1e-3, 3e-2],
            "net__model__hidden_layer_sizes": [(4,), (3, 2)],
        },
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    best = grid.best_params_
    net = grid.best_estimator_.named_steps["net"]
    assert net.get_params()["optimizer__learning_rate"] == best["net__optimizer__learning_rate"]
    assert float(net.model_.optimizer.learning_rate) == pytest.approx(
        best["net__optimizer__learning_rate"]
    )
    assert hidden_units(net.model_) == list(best["net__model__hidden_layer_sizes"])
    assert len(net.history_["loss"]) == 2
    assert grid.predict(X).shape == (80,)


def test_early_stopping_inside_grid_search():
    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    net = KerasClassifier(
        model__hidden_layer_sizes=(4,),
        epochs=6,
        validation_split=0.25,
        callbacks=[keras.callbacks.EarlyStopping],
        callbacks__monitor="val_loss",
        callbacks__min_delta=100.0,  # nothing improves this much: stop after patience
        random_state=0,
    )
    grid = GridSearchCV(net, {"callbacks__patience": [0, 2]}, cv=2, refit=True)
    grid.fit(X, y)
    best = grid.best_estimator_
    patience = grid.best_params_["callbacks__patience"]
    # the first epoch sets the reference; the run stops `max(patience, 1)` epochs later
    assert len(best.history_["loss"]) == 1 + max(patience, 1) < 6
    assert len(best.history_["val_loss"]) == len(best.history_["loss"])


# ------------------------------------------------------- parameters and cloning
def test_get_params_set_params_and_clone_round_trip():
    callbacks = [keras.callbacks.EarlyStopping]
    est = KerasClassifier(
        model__hidden_layer_sizes=(5,), optimizer__learning_rate=0.01, loss__label_smoothing=0.1,
        callbacks=callbacks, callbacks__patience=2, fit__validation_freq=1,
        compile__jit_compile=False, predict__batch_size=64, epochs=3, class_weight="balanced",
    )
    params = est.get_params()
    for name, value in {
        "model__hidden_layer_sizes": (5,), "optimizer__learning_rate": 0.01,
        "loss__label_smoothing": 0.1, "callbacks__patience": 2, "fit__validation_freq": 1,
        "compile__jit_compile": False, "predict__batch_size": 64, "epochs": 3,
        "class_weight": "balanced",
    }.items():
        assert params[name] == value, name
    twin = clone(est)
    assert twin is not est
    assert twin.get_params().keys() == params.keys()
    assert all(
        twin.get_params()[k] == v for k, v in params.items() if k != "callbacks"
    )
    assert twin.get_params()["callbacks"] == callbacks  # deep-copied list, same classes
    assert est.set_params(optimizer__learning_rate=0.5, epochs=1) is est
    assert est.get_params()["optimizer__learning_rate"] == 0.5 and est.epochs == 1
    assert twin.get_params()["optimizer__learning_rate"] == 0.01  # the clone is independent
    assert "optimizer__learning_rate=0.5" in repr(est)


def test_set_params_on_a_pipeline_path(binary_data):
    X, y = binary_data
    pipe = Pipeline([("scale", StandardScaler()), ("net", KerasClassifier(**TINY))])
    pipe.set_params(net__optimizer__learning_rate=0.05, net__model__hidden_layer_sizes=(3,))
    assert pipe.get_params()["net__optimizer__learning_rate"] == 0.05
    twin = clone(pipe)
    assert twin.get_params()["net__optimizer__learning_rate"] == 0.05
    twin.fit(X, y)
    net = twin.named_steps["net"]
    assert float(net.model_.optimizer.learning_rate) == pytest.approx(0.05)
    assert hidden_units(net.model_) == [3]
    with pytest.raises(ValueError, match="optimiser__learning_rate"):
        pipe.set_params(net__optimiser__learning_rate=0.1)


def test_clone_of_a_fitted_estimator_is_unfitted(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    twin = clone(est)
    assert not hasattr(twin, "model_") and not hasattr(twin, "history_")
    with pytest.raises(NotFittedError):
        twin.predict(X)
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(X), est.predict_proba(X))


def test_unfitted_estimator_pickles_with_its_params():
    est = KerasClassifier(optimizer__learning_rate=0.02, units=3, model=None)
    copy = pickle.loads(pickle.dumps(est))
    assert copy.get_params()["optimizer__learning_rate"] == 0.02
    assert copy.get_params()["units"] == 3


# -------------------------------------------------------------------- validation
def test_validation_split_is_stratified_and_shuffled():
    y = np.array([0] * 90 + [1] * 10)
    train_rows, val_rows = validation_rows(100, y, 0.2, seed=0)
    assert len(val_rows) == 20 and len(train_rows) == 80
    assert np.sum(y[val_rows] == 1) == 2  # the 10% minority keeps its share
    assert set(train_rows) | set(val_rows) == set(range(100))
    assert not np.array_equal(np.sort(val_rows), np.arange(80, 100))  # not Keras's tail
    again = validation_rows(100, y, 0.2, seed=0)[1]
    np.testing.assert_array_equal(val_rows, again)
    with pytest.raises(ValueError, match="validation_split"):
        validation_rows(100, y, 1.5, seed=0)


def test_validation_split_reports_validation_metrics(binary_data):
    X, y = binary_data
    est = KerasClassifier(validation_split=0.25, metrics=["accuracy"], **TINY).fit(X, y)
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(est.history_)
    assert len(est.history_["val_loss"]) == 2


def test_fit_accepts_validation_data(binary_data):
    X, y = binary_data
    labels = np.array(["no", "yes"])[y]
    est = KerasClassifier(**TINY).fit(X[:80], labels[:80], validation_data=(X[80:], labels[80:]))
    assert len(est.history_["val_loss"]) == 2
    reference = KerasClassifier(**TINY).fit(X[:80], labels[:80])
    # validation never trains: the same network as without it
    np.testing.assert_array_equal(est.predict_proba(X), reference.predict_proba(X))
    with pytest.raises(ValueError, match="validation_data"):
        KerasClassifier(**TINY).fit(X, labels, validation_data=X)


# ------------------------------------------------------------- partial_fit & co
def test_partial_fit_with_classes_on_the_first_call(multiclass_data):
    X, y = multiclass_data
    first = y != 2
    est = KerasClassifier(**TINY)
    assert est.partial_fit(X[first], y[first], classes=[0, 1, 2]) is est
    assert est.classes_.tolist() == [0, 1, 2]
    assert est.predict_proba(X).shape == (len(X), 3)
    model = est.model_
    est.partial_fit(X, y)  # the third class, announced, is accepted
    est.partial_fit(X, y)
    assert est.model_ is model
    assert len(est.history_["loss"]) == 3  # one epoch per call
    with pytest.raises(ValueError, match=r"labels \[7\] unseen"):
        est.partial_fit(X[:5], np.array([0, 1, 7, 0, 1]))
    assert len(est.history_["loss"]) == 3


def test_partial_fit_without_classes_fixes_them_on_the_first_call(multiclass_data):
    X, y = multiclass_data
    first = y != 2
    est = KerasClassifier(**TINY).partial_fit(X[first], y[first])
    assert est.classes_.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"labels \[2\] unseen"):
        est.partial_fit(X, y)


def test_partial_fit_regressor(regression_data):
    X, y = regression_data
    est = KerasRegressor(**TINY)
    for _ in range(3):
        est.partial_fit(X, y)
    assert len(est.history_["loss"]) == 3
    with pytest.raises(ValueError, match="X has 4 features"):
        est.partial_fit(X[:, :4], y)


def test_continuing_fit_refuses_nan_targets(regression_data):
    X, y = regression_data
    est = KerasRegressor(**TINY).partial_fit(X, y)
    bad = y.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        est.partial_fit(X, bad)


def test_warm_start_says_which_model_parameters_no_longer_apply(binary_data):
    """A warm start trains the model it has; parameters that built it and changed since
    are named rather than silently ignored (training settings may change freely)."""
    X, y = binary_data
    est = KerasClassifier(**TINY, warm_start=True).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est.set_params(epochs=1, batch_size=8, verbose=0).fit(X, y)
        est.partial_fit(X, y)
    est.set_params(optimizer__learning_rate=1e6, model__hidden_layer_sizes=(7,))
    with pytest.warns(UserWarning, match=r"\['model__hidden_layer_sizes', "
                                         r"'optimizer__learning_rate'\] changed since then"):
        est.fit(X, y)
    assert [layer.units for layer in est.model_.layers[1:]] == [4, 1]
    est.set_params(warm_start=False).fit(X, y)  # a new model, with the new parameters
    assert [layer.units for layer in est.model_.layers[1:]] == [7, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est.partial_fit(X, y)


def test_warm_start_appends_history(binary_data):
    X, y = binary_data
    est = KerasClassifier(warm_start=True, **TINY).fit(X, y)
    model = est.model_
    est.fit(X, y)
    assert est.model_ is model
    assert len(est.history_["loss"]) == 4
    cold = KerasClassifier(**TINY).fit(X, y)
    model = cold.model_
    cold.fit(X, y)
    assert cold.model_ is not model
    assert len(cold.history_["loss"]) == 2


def test_initialize_builds_without_training(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY)
    assert est.initialize(X, y) is est
    assert est.history_ == {}
    assert est.model_.compiled
    proba = est.predict_proba(X)
    again = KerasClassifier(**TINY).initialize(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    est.partial_fit(X, y)  # continues from the initialised model
    assert len(est.history_["loss"]) == 1
    assert not np.array_equal(est.predict_proba(X), proba)


# ------------------------------------------------------------- interrupted fits
class FailAtEpoch(keras.callbacks.Callback):
    """Raises ``error`` at the end of epoch ``epoch`` (0-based)."""

    def __init__(self, error=KeyboardInterrupt, epoch=1):
        super().__init__()
        self.error, self.epoch = error, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise self.error("stop here")


def snapshot(est, X):
    return est.predict_proba(X), {k: list(v) for k, v in est.history_.items()}, est.model_


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_failed_refit_keeps_the_previous_fitted_state(binary_data, error):
    X, y = binary_data
    est = KerasClassifier(**{**TINY, "epochs": 3}).fit(X, y)
    proba, history, model = snapshot(est, X)
    est.set_params(callbacks=[FailAtEpoch(error)])
    with pytest.raises(error, match="stop here"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    assert est.history_ == history and est.model_ is model


def test_failed_first_fit_leaves_the_estimator_unfitted(binary_data):
    X, y = binary_data
    est = KerasClassifier(callbacks=[FailAtEpoch()], **{**TINY, "epochs": 3})
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert not hasattr(est, "model_") and not hasattr(est, "history_")
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_failed_fit_on_bad_data_keeps_the_previous_fitted_state(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    proba, history, model = snapshot(est, X)
    with pytest.raises(ValueError):
        est.fit(X[:, :3], np.full(len(y), 1))  # a single class
    assert est.n_features_in_ == 6 and est.model_ is model
    np.testing.assert_array_equal(est.predict_proba(X), proba)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_interrupted_continuation_keeps_the_previous_fitted_state(binary_data, how):
    X, y = binary_data
    est = KerasClassifier(warm_start=True, **{**TINY, "epochs": 3}).fit(X, y)
    proba, history, _ = snapshot(est, X)
    est.set_params(callbacks=[FailAtEpoch(KeyboardInterrupt, epoch=1 if how == "warm_start" else 0)])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y) if how == "warm_start" else est.partial_fit(X, y)
    assert est.history_ == history
    np.testing.assert_array_equal(est.predict_proba(X), proba)

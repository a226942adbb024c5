"""Process state has one owner: bounded, clearable caches, narrow locks, context per thread.

Threads that fit and predict at once must give the numbers of the same work done
one call after another.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone

import skkeras
from skkeras import KerasClassifier, KerasRegressor, _runtime, engine, prediction, reuse, sparse
from skkeras.training import lookup_trained_ahead, trained_ahead


def estimators():
    """Fits that share a program (same architecture), a reused model (same recipe,
    other data) or nothing."""
    return [
        KerasClassifier(hidden_layer_sizes=(8,), epochs=3, batch_size=16, random_state=0),
        KerasClassifier(hidden_layer_sizes=(8,), epochs=3, batch_size=16, random_state=1),
        KerasClassifier(hidden_layer_sizes=(8,), epochs=3, batch_size=16, random_state=0),
        KerasClassifier(hidden_layer_sizes=(5, 3), epochs=2, batch_size=32, random_state=2),
        KerasRegressor(hidden_layer_sizes=(6,), epochs=3, batch_size=16, random_state=3),
    ]


def datasets(binary_data, regression_data):
    X, y = binary_data
    Xr, yr = regression_data
    return [(X, y), (X, y), (X[:100], y[:100]), (X, y), (Xr, yr)]


def fit_and_predict(estimator, X, y):
    fitted = clone(estimator).fit(X, y)
    return fitted.predict(X), fitted


def test_threads_fitting_and_predicting_at_once_give_the_sequential_results(
    binary_data, regression_data
):
    data = datasets(binary_data, regression_data)
    skkeras.clear_caches()
    sequential = [fit_and_predict(est, X, y) for est, (X, y) in zip(estimators(), data, strict=True)]
    served = sequential[0][1]
    X0 = data[0][0]
    expected_served = served.predict_proba(X0)

    skkeras.clear_caches()
    barrier = threading.Barrier(len(data) + 1)
    served_results = []

    def fit(args):
        estimator, (X, y) = args
        barrier.wait()
        return fit_and_predict(estimator, X, y)[0]

    def serve():
        barrier.wait()
        for _ in range(20):
            served_results.append(served.predict_proba(X0))

    with ThreadPoolExecutor(len(data) + 1) as pool:
        serving = pool.submit(serve)
        concurrent = list(pool.map(fit, zip(estimators(), data, strict=True)))
        serving.result()
    for got, (want, _) in zip(concurrent, sequential, strict=True):
        np.testing.assert_array_equal(got, want)
    for got in served_results:
        np.testing.assert_array_equal(got, expected_served)


def test_clear_caches_empties_every_registered_cache(binary_data):
    X, y = binary_data
    fitted = KerasClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0,
                             engine="fast").fit(X, y)  # the compiled path: a program cached
    fitted.predict(X)
    fitted.predict(scipy.sparse.csr_matrix(X))  # a compiled sparse forward pass
    registered = _runtime.caches()
    assert {"compiled programs", "weight snapshots", "workbenches",
            "sparse forward passes"} <= set(registered)
    assert len(engine._PROGRAMS) and len(prediction._SNAPSHOTS) and len(sparse._FORWARDS)
    skkeras.clear_caches()
    assert all(len(cache) == 0 for cache in registered.values())
    assert len(reuse._WORKBENCHES) == 0


def test_bounded_cache_drops_the_least_recently_used_and_builds_once():
    cache = _runtime.BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert list(cache) == ["a", "c"]

    builds = []
    start = threading.Barrier(8)

    def build():
        builds.append(1)
        return object()

    def get():
        start.wait()
        return cache.get_or_create("shared", build)

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: get(), range(8)))
    assert len(builds) == 1 and all(v is values[0] for v in values)


def test_results_trained_ahead_stay_in_their_thread():
    seen = []
    with trained_ahead({"key": "result"}):
        thread = threading.Thread(target=lambda: seen.append(lookup_trained_ahead("key")))
        thread.start()
        thread.join()
        assert seen == [None]
        assert lookup_trained_ahead("key") == "result"
    assert lookup_trained_ahead("key") is None


def test_a_workbench_in_use_by_another_thread_is_not_shared(binary_data):
    X, y = binary_data
    reuse.clear_workbenches()
    held, release = threading.Event(), threading.Event()
    outcome = {}

    class Model:  # stands for a built Keras model
        pass

    def hold():
        with engine.exclusive():
            outcome["first"] = reuse.workbench((("recipe",), []), {"n": 1}, lambda facts: Model())
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    with engine.exclusive():
        outcome["second"] = reuse.workbench((("recipe",), []), {"n": 1}, lambda facts: Model())
    release.set()
    thread.join()
    assert outcome["first"] is not None and outcome["second"] is None
    with engine.exclusive():  # released with the first thread's scope
        assert reuse.workbench((("recipe",), []), {"n": 1}, lambda facts: Model()) is outcome["first"]


@pytest.mark.parametrize("n_threads", [2])
def test_threaded_searches_use_every_thread(binary_data, n_threads):
    """scikit-learn's threaded search runs skkeras fits at once (no process-wide lock)."""
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = binary_data
    net = KerasClassifier(hidden_layer_sizes=(4,), epochs=2, batch_size=16, random_state=0)
    grid = {"hidden_layer_sizes": [(4,), (6,)]}
    sequential = GridSearchCV(net, grid, cv=2).fit(X, y)
    with parallel_backend("threading", n_jobs=n_threads):
        threaded = GridSearchCV(net, grid, cv=2, n_jobs=n_threads).fit(X, y)
    np.testing.assert_array_equal(
        threaded.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )

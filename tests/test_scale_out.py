"""Searches in parallel: joblib's processes and threads, and a real Dask cluster."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skkeras import KerasClassifier
from skkeras import model_selection as skk

GRID = {"epochs": [5, 10], "batch_size": [16, 32]}


def search(n_jobs=None, cls=GridSearchCV):
    # the built-in MLP: Dask workers import it by name, as they would any library builder
    estimator = KerasClassifier(model__hidden_layer_sizes=(8,), random_state=0)
    # A continuous score: workers may run TensorFlow on other thread counts (Dask sets
    # OMP_NUM_THREADS=1), which changes float rounding, and an accuracy would flip
    # with any probability that sits at 0.5.
    return cls(estimator, GRID, cv=3, n_jobs=n_jobs, scoring="neg_log_loss")


@pytest.fixture(scope="module")
def sequential():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=0)
    return X.astype(np.float32), y, search().fit(X.astype(np.float32), y)


def assert_same_search(parallel, sequential_search, X):
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"], sequential_search.cv_results_["mean_test_score"],
        atol=1e-5,
    )
    assert parallel.best_params_ == sequential_search.best_params_
    np.testing.assert_allclose(
        parallel.predict_proba(X), sequential_search.predict_proba(X), atol=1e-5
    )


@pytest.mark.parametrize("cls", [GridSearchCV, skk.GridSearchCV])
def test_threads_take_turns_with_the_shared_programs_and_models(sequential, cls):
    X, y, expected = sequential
    with joblib.parallel_backend("threading", n_jobs=2):
        parallel = search(n_jobs=2, cls=cls).fit(X, y)
    assert_same_search(parallel, expected, X)


def test_a_grid_search_runs_on_a_dask_cluster(sequential):
    from dask.distributed import Client, LocalCluster

    X, y, expected = sequential
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
        joblib.parallel_backend("dask"),
    ):
        parallel = search(n_jobs=-1, cls=skk.GridSearchCV).fit(X, y)
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2
    assert_same_search(parallel, expected, X)

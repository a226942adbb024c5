"""Test settings shared by every module: quiet TensorFlow, and small, seeded data."""

import os

# Before TensorFlow is imported anywhere: keep its C++ start-up chatter out of test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402


@pytest.fixture
def binary_data():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture
def multiclass_data():
    X, y = make_classification(
        n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture
def regression_data():
    X, y = make_regression(n_samples=120, n_features=5, noise=0.1, random_state=0)
    return X.astype(np.float32), (y / 100).astype(np.float32)


@pytest.fixture
def row_limit(monkeypatch):
    """Every CSR matrix (whatever copies validation makes) refuses to become dense beyond
    ``limit["rows"]`` rows at once; ``limit["densified"]`` records each densified size."""
    limit = {"rows": 32, "densified": []}
    toarray = scipy.sparse.csr_matrix.toarray

    def guarded(self, *args, **kwargs):
        if self.shape[0] > limit["rows"]:
            raise AssertionError(f"densified {self.shape[0]} rows at once")
        limit["densified"].append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(scipy.sparse.csr_matrix, "toarray", guarded)
    return limit


@pytest.fixture
def stack_sizes(monkeypatch):
    """The number of runs in each NumPy stack trained meanwhile (each
    ``skkeras._numpy_train.Runs`` made), in order."""
    from skkeras import _numpy_train

    sizes: list[int] = []
    original = _numpy_train.Runs

    def recording(jobs, *args):
        sizes.append(len(jobs))
        return original(jobs, *args)

    monkeypatch.setattr(_numpy_train, "Runs", recording)
    return sizes

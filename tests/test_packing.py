"""Packs: how their members are split into chunks, and that the split changes no number."""

import keras
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from skkeras import KerasClassifier, _numpy_train, packing
from skkeras import model_selection as skk


@pytest.fixture(autouse=True)
def compiled_runs(monkeypatch):
    """Searches this small would train their runs in NumPy: these tests are about packs."""
    monkeypatch.setattr(_numpy_train, "WORK_LIMIT", 0)

# W1's runs: 100 epochs, 5 folds of 614 rows and the refit on 768, at batch sizes 10, 20, 40.
W1_RUNS = [(100, -(-rows // batch)) for batch in (10, 20, 40) for rows in [614] * 5 + [768]]


def test_on_cpu_runs_of_one_batch_size_share_a_chunk():
    by_batch_size = [set(range(start, start + 6)) for start in (0, 6, 12)]
    one_core = packing.plan_chunks(W1_RUNS, max_pack=64, workers=1, step_overhead=1.3)
    assert [set(chunk) for chunk in one_core] == by_batch_size
    many_cores = packing.plan_chunks(W1_RUNS, max_pack=64, workers=8, step_overhead=1.3)
    assert len(many_cores) > 3 and len({len(chunk) for chunk in many_cores}) == 1  # one shape
    assert all(any(set(chunk) <= group for group in by_batch_size) for chunk in many_cores)
    assert set().union(*many_cores) == set(range(18))


def test_chunks_are_dealt_longest_first_and_filled_with_copies():
    lengths = [(10, 5), (10, 50), (10, 20)]
    chunks = packing.plan_chunks(lengths, max_pack=2, step_overhead=None)
    assert chunks == [[1, 2], [0, 0]]


def test_on_accelerators_a_pack_stays_whole_up_to_max_pack():
    assert packing.plan_chunks(W1_RUNS, max_pack=64, workers=2, step_overhead=None) == [
        sorted(range(18), key=lambda i: -W1_RUNS[i][0] * W1_RUNS[i][1])
    ]
    chunks = packing.plan_chunks(W1_RUNS, max_pack=4, step_overhead=None)
    assert [len(chunk) for chunk in chunks] == [4] * 5


def test_more_workers_never_make_a_plan_slower_and_overhead_favours_larger_chunks():
    def finish(chunks, workers, overhead):
        loads = sorted(
            (overhead + len(c)) * max(W1_RUNS[i][0] * W1_RUNS[i][1] for i in c) for c in chunks
        )
        return max(sum(loads[w::workers]) for w in range(workers)) if workers > 1 else sum(loads)

    one = packing.plan_chunks(W1_RUNS, 64, workers=1, step_overhead=1.3)
    two = packing.plan_chunks(W1_RUNS, 64, workers=2, step_overhead=1.3)
    assert finish(two, 2, 1.3) <= finish(one, 2, 1.3)
    big_overhead = packing.plan_chunks(W1_RUNS, 64, workers=1, step_overhead=1000.0)
    assert len(big_overhead) == 1


def net(meta):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


@pytest.mark.skipif(not packing.packing_available(), reason="packs need the JAX backend")
def test_how_a_pack_is_chunked_changes_no_score(binary_data, monkeypatch):
    X, y = binary_data
    grid = {"epochs": [2, 3], "batch_size": [8, 16, 40]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)

    def search(**kwargs):
        model = KerasClassifier(net, loss="binary_crossentropy", random_state=0)
        return skk.GridSearchCV(model, grid, cv=cv, **kwargs).fit(X, y)

    planned = []
    original = packing.plan_chunks
    monkeypatch.setattr(packing, "plan_chunks", lambda *a, **k: planned.append(original(*a, **k)) or planned[-1])
    monkeypatch.setattr(packing, "CPU_STEP_OVERHEAD", 1e6)  # one core, costly steps: one chunk
    monkeypatch.setattr(packing, "_cores", lambda: 1)
    whole = search()
    alone = search(max_pack=1)
    monkeypatch.setattr(packing, "CPU_STEP_OVERHEAD", 1.3)  # calls for free: several chunks
    monkeypatch.setattr(packing, "CPU_CALL_OVERHEAD", 0.0)
    monkeypatch.setattr(packing, "_cores", lambda: 2)
    threaded = search()
    n_chunks = [len(p) for p in planned]
    assert n_chunks[:2] == [1, 12] and 1 < n_chunks[2] < 12, n_chunks
    for other in (alone, threaded):
        np.testing.assert_allclose(
            other.cv_results_["mean_test_score"], whole.cv_results_["mean_test_score"], atol=1e-6
        )
        for a, b in zip(other.best_estimator_.model_.get_weights(),
                        whole.best_estimator_.model_.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)

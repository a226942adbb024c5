"""random_state: repeatable fits on TensorFlow and JAX, and no global random state touched.

A seeded fit must not leave Python's ``random``, NumPy's global generator, Keras's
global seed generator or TensorFlow's determinism flag different from how the user
left them, and a 10-epoch fit must be the exact prefix of a longer one.
"""

import importlib.util
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.src.random import seed_generator
from sklearn.base import clone

import skkeras
from skkeras import KerasClassifier, KerasRegressor
from skkeras.seeding import derive_seed, epoch_permutation, resolve_seed, scoped_seed

# Shuffled mini-batches, dropout and a validation split: everything a seed decides.
SEEDED = {
    "model__hidden_layer_sizes": (8,),
    "model__dropout": 0.2,
    "batch_size": 16,
    "validation_split": 0.2,
    "epochs": 3,
}


# ------------------------------------------------------------------ the module alone
def test_resolve_seed():
    assert resolve_seed(42) == 42
    assert resolve_seed(np.int64(7)) == 7
    assert 0 <= resolve_seed(-1) < 2**31
    # a RandomState is drawn from, so successive fits differ, as in scikit-learn
    rng = np.random.RandomState(0)
    first, second = resolve_seed(rng), resolve_seed(rng)
    assert first != second
    assert first == resolve_seed(np.random.RandomState(0))


def test_derive_seed_and_epoch_permutation():
    assert derive_seed(1, "weights") == derive_seed(1, "weights")
    assert len({derive_seed(1, "weights"), derive_seed(1, "shuffle"), derive_seed(2, "weights")}) == 3
    order = epoch_permutation(5, 3, 10)
    assert sorted(order) == list(range(10))
    np.testing.assert_array_equal(order, epoch_permutation(5, 3, 10))
    assert not np.array_equal(order, epoch_permutation(5, 4, 10))


def test_scoped_seed_restores_python_random_and_keras_generator():
    keras.random.uniform((2,))  # make sure the global seed generator exists
    generator = seed_generator.global_seed_generator()
    generator_state = keras.ops.convert_to_numpy(generator.state).copy()
    python_state = random.getstate()
    with scoped_seed(123):
        inside = random.random()
        keras.random.uniform((2,))  # an unseeded draw inside the block
    with scoped_seed(123):
        assert random.random() == inside
    assert random.getstate() == python_state
    assert seed_generator.global_seed_generator() is generator
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(generator.state), generator_state)


# ------------------------------------------------------------- repeatable fits (TF)
def test_same_seed_gives_identical_predictions(binary_data):
    X, y = binary_data
    first = KerasClassifier(random_state=7, **SEEDED).fit(X, y)
    second = clone(first).fit(X, y)
    other = KerasClassifier(random_state=8, **SEEDED).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.history_ == second.history_
    assert not np.allclose(first.predict_proba(X), other.predict_proba(X))


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's generator: PyTorch backend only")
def test_seeded_dropout_on_torch_leaves_torchs_generator_alone(binary_data):
    import torch

    X, y = binary_data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    KerasClassifier(random_state=0, **SEEDED).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_random_state_instance_is_repeatable(regression_data):
    X, y = regression_data
    a = KerasRegressor(random_state=np.random.RandomState(3), **SEEDED).fit(X, y)
    b = KerasRegressor(random_state=np.random.RandomState(3), **SEEDED).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def global_random_state():
    """Everything global a fit could leave changed, in comparable form."""
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as tf_config

    generator = seed_generator.global_seed_generator()
    return {
        "python": random.getstate(),
        "numpy": [np.asarray(part).tolist() for part in np.random.get_state()],
        "keras_generator": (id(generator), keras.ops.convert_to_numpy(generator.state).tolist()),
        "tf_determinism": tf_config.is_op_determinism_enabled(),
        # The seed itself: tf.compat.v1.get_seed draws a new op seed on each call once
        # a global seed is set, so two reads would differ with nothing changed.
        "tf_global_seed": context.global_seed(),
    }


def seeded_fits(X, y, hidden):
    """A seeded fit, predict and partial_fit, between two snapshots of the global state."""
    keras.random.uniform((1,))  # create the global seed generator, as user code would
    random.seed(11)
    np.random.seed(11)
    before = global_random_state()
    est = KerasClassifier(random_state=0, **{**SEEDED, "model__hidden_layer_sizes": hidden})
    est.fit(X, y).predict_proba(X)
    est.partial_fit(X, y)
    return before, global_random_state()


def test_seeded_fit_leaves_numpy_keras_and_tensorflow_state_alone(binary_data):
    X, y = binary_data
    before, after = seeded_fits(X, y, hidden=(8,))
    for name in ("numpy", "keras_generator", "tf_determinism", "tf_global_seed"):
        assert after[name] == before[name], name
    # (scikeras turns TensorFlow's determinism flag on and leaves it on)


def test_first_seeded_fit_of_an_architecture_leaves_python_random_alone(binary_data):
    X, y = binary_data
    # an architecture no other test uses, so no cached training program exists yet
    before, after = seeded_fits(X, y, hidden=(13, 11))
    assert after["python"] == before["python"]


def test_seeded_fit_leaves_python_random_alone_when_nothing_new_is_built(binary_data):
    X, y = binary_data
    KerasClassifier(random_state=1, **{**SEEDED, "model__hidden_layer_sizes": (6,)}).fit(X, y)
    before, after = seeded_fits(X, y, hidden=(6,))
    assert after["python"] == before["python"]


def test_unseeded_fits_after_a_seeded_one_differ(binary_data):
    X, y = binary_data
    KerasClassifier(random_state=0, **SEEDED).fit(X, y)
    first = KerasClassifier(**SEEDED).fit(X, y).predict_proba(X)
    second = KerasClassifier(**SEEDED).fit(X, y).predict_proba(X)
    assert np.isfinite(first).all() and np.isfinite(second).all()
    assert not np.allclose(first, second)


class WeightsAtEpochEnd(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def test_short_fit_is_the_exact_prefix_of_a_long_one(binary_data):
    X, y = binary_data
    short_record, long_record = WeightsAtEpochEnd(), WeightsAtEpochEnd()
    settings = {**SEEDED, "random_state": 5}
    short = KerasClassifier(callbacks=[short_record], **{**settings, "epochs": 10}).fit(X, y)
    long = KerasClassifier(callbacks=[long_record], **{**settings, "epochs": 20}).fit(X, y)
    assert len(long.history_["loss"]) == 20
    for name, values in short.history_.items():
        assert values == long.history_[name][:10], name
    for epoch in range(10):
        for a, b in zip(short_record.weights[epoch], long_record.weights[epoch], strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(short.model_.get_weights(), long_record.weights[9], strict=True):
        np.testing.assert_array_equal(a, b)


def test_warm_start_continues_the_seeded_sequence(binary_data):
    """Two warm 5-epoch fits walk the same epochs as one 10-epoch fit."""
    X, y = binary_data
    settings = {**SEEDED, "validation_split": 0.0, "random_state": 4}
    once = KerasClassifier(**{**settings, "epochs": 10}).fit(X, y)
    twice = KerasClassifier(warm_start=True, **{**settings, "epochs": 5}).fit(X, y).fit(X, y)
    np.testing.assert_allclose(twice.history_["loss"], once.history_["loss"], rtol=1e-5)
    np.testing.assert_allclose(twice.predict_proba(X), once.predict_proba(X), rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------ JAX
JAX_SCRIPT = textwrap.dedent(
    """
    import json, random
    import keras
    import numpy as np
    from sklearn.datasets import make_classification
    from skkeras import KerasClassifier

    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    settings = dict(model__hidden_layer_sizes=(8,), model__dropout=0.2, batch_size=16,
                    validation_split=0.2)
    random.seed(1)
    np.random.seed(1)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    a = KerasClassifier(random_state=7, epochs=2, **settings).fit(X, y)
    b = KerasClassifier(random_state=7, epochs=2, **settings).fit(X, y)
    short = KerasClassifier(random_state=7, epochs=1, **settings).fit(X, y)
    c = KerasClassifier(random_state=8, epochs=1, **settings).fit(X, y)
    globals_kept = random.getstate() == python_state and all(
        np.array_equal(u, v) for u, v in zip(np.random.get_state(), numpy_state))
    unseeded = KerasClassifier(epochs=1, **settings).fit(X, y).predict_proba(X)
    print(json.dumps({
        "backend": keras.backend.backend(),
        "same": bool(np.array_equal(a.predict_proba(X), b.predict_proba(X))),
        "same_history": a.history_ == b.history_,
        "differs": bool(not np.allclose(short.predict_proba(X), c.predict_proba(X))),
        "prefix": all(v == a.history_[k][:1] for k, v in short.history_.items()),
        "globals_kept": bool(globals_kept),
        "unseeded_ok": bool(np.isfinite(unseeded).all()),
    }))
    """
)


@pytest.fixture(scope="module")
def jax_results():
    """Run JAX_SCRIPT once under KERAS_BACKEND=jax (a backend is fixed per process)."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("the jax extra is not installed")
    root = Path(skkeras.__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True,
        timeout=300, cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_jax_backend_is_repeatable(jax_results):
    assert jax_results["backend"] == "jax"
    assert jax_results["same"] and jax_results["same_history"]
    assert jax_results["differs"]
    assert jax_results["prefix"]
    assert jax_results["unseeded_ok"]


def test_jax_backend_leaves_global_random_state_alone(jax_results):
    assert jax_results["globals_kept"]


def test_weights_seeds_are_immune_to_other_threads_drawing_from_random(binary_data):
    """A Dask worker's event loop draws from ``random`` while tasks build models."""
    import functools
    import threading

    from skkeras import KerasClassifier
    from skkeras.building import build_mlp

    X, y = binary_data
    builder = functools.partial(build_mlp, hidden_layer_sizes=(8, 8))  # not reused: builds per fit

    def fit():
        return KerasClassifier(builder, random_state=0, epochs=1).fit(X, y).predict_proba(X)

    expected = fit()
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()

    thread = threading.Thread(target=draw)
    thread.start()
    try:
        results = [fit() for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)

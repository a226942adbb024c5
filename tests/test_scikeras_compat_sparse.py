"""Sparse X: densified one batch at a time (skkeras.sparse), never the whole matrix."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import scipy.sparse

from skkeras import sparse
from skkeras.seeding import epoch_permutation


class RowLimitedCSR(scipy.sparse.csr_matrix):
    """A CSR matrix that refuses to become dense beyond ``max_rows`` rows at once.

    Row slices keep the class, so every densified batch goes through this check.
    """

    max_rows = 32
    densified: list[int] = []

    def toarray(self, *args, **kwargs):
        if self.shape[0] > self.max_rows:
            raise AssertionError(f"densified {self.shape[0]} rows at once")
        RowLimitedCSR.densified.append(self.shape[0])
        return super().toarray(*args, **kwargs)


@pytest.fixture
def X():
    RowLimitedCSR.densified = []
    matrix = scipy.sparse.random(100, 30, density=0.1, format="csr", random_state=0,
                                 dtype=np.float32)
    return RowLimitedCSR(matrix)


def _model(width=30):
    model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_batches_are_dense_one_at_a_time_and_cover_every_row(X):
    y = np.arange(100.0)
    weights = np.arange(100.0) / 100
    batches = sparse.SparseBatches(X, y, weights, batch_size=32, shuffle=True, seed=3, epochs=2)
    assert len(batches) == 8  # 4 batches per epoch, 2 epochs
    batches.on_epoch_end()  # Keras calls it when it likes: the order depends on the index alone
    for epoch in range(2):
        seen = []
        for index in range(4 * epoch, 4 * epoch + 4):
            x_batch, y_batch, w_batch = batches[index]
            assert isinstance(x_batch, np.ndarray) and x_batch.shape[1] == 30
            assert x_batch.dtype == np.float32
            rows = y_batch.astype(int)
            np.testing.assert_array_equal(x_batch, X[rows].toarray())
            np.testing.assert_array_equal(w_batch, weights[rows])
            seen.extend(rows.tolist())
        assert sorted(seen) == list(range(100))
        # The same epoch orders as the fast engine's.
        expected = epoch_permutation(3, epoch, 100)[:32]
        np.testing.assert_array_equal(np.sort(batches[4 * epoch][1]).astype(int), np.sort(expected))
    assert max(RowLimitedCSR.densified) <= 32


def test_batch_size_minus_one_and_bad_sizes(X):
    assert len(sparse.SparseBatches(X, None, batch_size=-1)) == 1
    with pytest.raises(ValueError, match="batch_size must be a positive integer or -1"):
        sparse.SparseBatches(X, None, batch_size=0)


def test_dense_rows_of_mixed_inputs(X):
    inputs = {"words": X, "numbers": np.arange(200.0).reshape(100, 2)}
    rows = np.array([3, 7])
    part = sparse.dense_rows(inputs, rows)
    np.testing.assert_array_equal(part["words"], X[rows].toarray())
    np.testing.assert_array_equal(part["numbers"], inputs["numbers"][rows])
    assert sparse.is_sparse_input(inputs) and sparse.is_sparse_input([X])
    assert not sparse.is_sparse_input(np.zeros((2, 2)))
    # Other sparse formats are read through CSR.
    coo = scipy.sparse.coo_matrix(X)
    np.testing.assert_array_equal(sparse.dense_rows(coo, rows), X[rows].toarray())


def test_fit_on_batches_trains_with_model_fit(X):
    model = _model()
    y = np.asarray(X.sum(axis=1)).ravel()
    job = SimpleNamespace(
        model=model, x=X, y=y, sample_weight=None, epochs=3, batch_size=32, shuffle=True,
        seed=0, first_epoch=0, callbacks=[], validation_data=(X[:20], y[:20]),
        validation_batch_size=None, verbose=0, fit_kwargs={"batch_size": 5},
    )
    history = sparse.fit_on_batches(job)
    assert set(history) == {"loss", "val_loss"} and len(history["loss"]) == 3
    assert max(RowLimitedCSR.densified) <= 32


def test_predict_batches_equals_the_dense_forward_pass(X):
    model = _model()
    dense = scipy.sparse.csr_matrix(X).toarray()
    expected = model.predict(dense, verbose=0)
    np.testing.assert_allclose(sparse.predict_batches(model, X, 32), expected, rtol=1e-5,
                               atol=1e-6)
    RowLimitedCSR.max_rows = 100
    try:
        np.testing.assert_allclose(sparse.predict_batches(model, X, -1), expected, rtol=1e-5,
                                   atol=1e-6)
    finally:
        RowLimitedCSR.max_rows = 32
    with pytest.raises(ValueError, match="0 samples"):
        sparse.predict_batches(model, X[:0], 32)


@pytest.mark.slow
def test_jax_backend():
    script = textwrap.dedent("""
        import keras, numpy as np, scipy.sparse
        from types import SimpleNamespace
        assert keras.backend.backend() == "jax"
        from skkeras import sparse
        X = scipy.sparse.random(64, 20, density=0.1, format="csr", random_state=0,
                                dtype=np.float32)
        y = np.asarray(X.sum(axis=1)).ravel()
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        job = SimpleNamespace(model=model, x=X, y=y, sample_weight=None, epochs=2,
                              batch_size=16, shuffle=True, seed=0, first_epoch=0, callbacks=[],
                              validation_data=None, validation_batch_size=None, verbose=0,
                              fit_kwargs={})
        assert len(sparse.fit_on_batches(job)["loss"]) == 2
        out = sparse.predict_batches(model, X, 16)
        np.testing.assert_allclose(out, model.predict(X.toarray(), verbose=0), rtol=1e-5,
                                   atol=1e-6)
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_estimators_in_a_text_pipeline(row_limit):
    """A TfidfVectorizer before the net: the estimator trains and predicts on sparse
    rows densified per batch (never the whole matrix), like the same data dense."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from skkeras import KerasClassifier

    rng = np.random.default_rng(0)
    words = np.array(["red", "green", "blue", "cat", "dog", "fish", "sun", "rain"])
    texts = [" ".join(rng.choice(words, 6)) for _ in range(80)]
    y = np.array(["animal" if ("cat" in t or "dog" in t) else "other" for t in texts])
    pipe = make_pipeline(
        TfidfVectorizer(),
        KerasClassifier(hidden_layer_sizes=(8,), epochs=20, batch_size=16, random_state=0,
                        optimizer__learning_rate=0.01, predict__batch_size=20),
    ).fit(texts, y)
    assert pipe[-1].__sklearn_tags__().input_tags.sparse
    assert max(row_limit["densified"]) == 16  # training: one batch at a time
    row_limit["rows"] = 20  # predicting: batches of predict__batch_size rows
    assert pipe.score(texts, y) >= 0.95  # the majority class is 81% of the rows
    proba = pipe.predict_proba(texts)
    # The same fit on the dense matrix gives the same model (same seed and epoch orders;
    # only float32 rounding differs between Model.fit and skkeras's own paths).
    X_dense = pipe[0].transform(texts).tocoo().toarray()
    dense = KerasClassifier(hidden_layer_sizes=(8,), epochs=20, batch_size=16, random_state=0,
                            optimizer__learning_rate=0.01, engine="fast")
    np.testing.assert_allclose(dense.fit(X_dense, y).predict_proba(X_dense), proba, atol=1e-5)


def test_transformer_on_sparse_input(X, row_limit):
    from skkeras import KerasTransformer

    def autoencoder(meta):
        x = keras.Input((meta["n_features_in_"],))
        code = keras.layers.Dense(2, name="code")(x)
        return keras.Model(x, keras.layers.Dense(meta["n_features_in_"])(code))

    with pytest.raises(ValueError, match="cannot reconstruct a sparse X"):
        KerasTransformer(autoencoder, epochs=1).fit(X)
    y = X.tocoo().toarray()  # a dense target of X's width (COO: not guarded)
    embed = KerasTransformer(autoencoder, epochs=2, batch_size=16, random_state=0,
                             predict__batch_size=16).fit(X, y)
    assert max(row_limit["densified"]) == 16  # 100 rows: batches of 16 (and one of 4)
    codes = embed.transform(X)
    assert codes.shape == (100, 2)
    np.testing.assert_allclose(codes, embed.transform(y), rtol=1e-5, atol=1e-6)

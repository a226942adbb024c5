"""Sparse X on the compiled fast path: rows kept sparse on the device (ELL form) and
made dense one batch at a time inside the compiled epoch (skkeras.engine.sparse_rows).

Runs on the backend the process has (run it under KERAS_BACKEND=jax too).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import scipy.sparse

from skkeras import KerasClassifier, KerasRegressor
from skkeras import engine as fast_engine
from skkeras.engine import sparse_rows
from skkeras.job import TrainingJob


def _data(n=300, width=40, seed=0):
    matrix = scipy.sparse.random(n, width, density=0.15, format="csr", random_state=seed,
                                 dtype=np.float32)
    matrix.data *= 3
    total = np.asarray(matrix.sum(axis=1)).ravel()
    labels = np.digitize(total, np.quantile(total, [1 / 3, 2 / 3]))
    weights = np.linspace(0.2, 2.0, n)
    return matrix, total.astype(np.float32), labels, weights


def _wide(n, width, per_row, seed=0):
    """A CSR matrix of ``n`` rows of ``per_row`` ones at random columns (fewer where two
    draws meet), built directly: scipy.sparse.random is slow for wide matrices."""
    columns = np.random.default_rng(seed).integers(0, width, size=(n, per_row))
    matrix = scipy.sparse.csr_matrix(
        (np.ones(n * per_row, np.float32), columns.ravel(), np.arange(0, n * per_row + 1, per_row)),
        shape=(n, width))
    matrix.sum_duplicates()
    return matrix


def _assert_same_fit(sparse_est, dense_est):
    assert sparse_est.history_.keys() == dense_est.history_.keys()
    for name, values in dense_est.history_.items():
        np.testing.assert_allclose(sparse_est.history_[name], values, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    for ours, theirs in zip(sparse_est.model_.get_weights(), dense_est.model_.get_weights(),
                            strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("engine", ["auto", "fast"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sparse_fit_on_the_fast_path_equals_the_dense_fit(kind, engine, row_limit):
    X, total, labels, weights = _data()
    cls, y = (KerasClassifier, labels) if kind == "classifier" else (KerasRegressor, total)
    # 300 rows in batches of 32: a short last batch of 12; 20% held out for validation.
    params = dict(hidden_layer_sizes=(16,), epochs=4, batch_size=32, random_state=0,
                  optimizer__learning_rate=0.01, validation_split=0.2, engine=engine)
    if kind == "classifier":
        params["metrics"] = ["accuracy"]
    sparse_est = cls(**params).fit(X, y, sample_weight=weights)
    assert sparse_est.fit_path_ == "fast"
    # Never more than one batch dense at a time (the first batch builds the model).
    assert max(row_limit["densified"]) <= 32
    row_limit["rows"] = X.shape[0]
    dense_est = cls(**{**params, "engine": "fast"}).fit(X.toarray(), y, sample_weight=weights)
    assert dense_est.fit_path_ == "fast"
    assert "val_loss" in sparse_est.history_ and len(sparse_est.history_["loss"]) == 4
    _assert_same_fit(sparse_est, dense_est)
    np.testing.assert_allclose(sparse_est.predict(X[:50]), dense_est.predict(X[:50].toarray()),
                               rtol=1e-5, atol=1e-5)


def test_a_small_sparse_job_is_not_sent_to_numpy():
    X, _, labels, _ = _data(n=60, width=10)
    est = KerasClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, labels)
    assert est.fit_path_ == "fast"
    # The same job dense is small enough for the NumPy executor.
    assert KerasClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(
        X.toarray(), labels).fit_path_ == "numpy"


def test_sparse_validation_data_and_a_continued_fit():
    X, total, _, _ = _data()
    params = dict(hidden_layer_sizes=(8,), epochs=2, batch_size=50, random_state=1,
                  engine="fast", warm_start=True)
    sparse_est = KerasRegressor(**params)
    dense_est = KerasRegressor(**params)
    for _ in range(2):  # a warm start goes on from the previous epochs
        sparse_est.fit(X[:250], total[:250], validation_data=(X[250:], total[250:]))
        dense_est.fit(X[:250].toarray(), total[:250],
                      validation_data=(X[250:].toarray(), total[250:]))
    _assert_same_fit(sparse_est, dense_est)


def test_named_inputs_split_from_sparse_x():
    X, total, _, _ = _data(n=120)
    params = dict(inputs={"words": slice(0, 30), "rest": list(range(30, 40))},
                  hidden_layer_sizes=(8,), epochs=3, batch_size=25, random_state=0)
    sparse_est = KerasRegressor(**params).fit(X, total)
    assert sparse_est.fit_path_ == "fast"
    dense_est = KerasRegressor(**params, engine="fast").fit(X.toarray(), total)
    _assert_same_fit(sparse_est, dense_est)
    np.testing.assert_allclose(sparse_est.predict(X), dense_est.predict(X.toarray()),
                               rtol=1e-5, atol=1e-5)


class _MixedInputs(KerasRegressor):
    """A feature encoder that gives a dict of a sparse and a dense part."""

    @property
    def feature_encoder(self):
        from sklearn.preprocessing import FunctionTransformer

        return FunctionTransformer(_split_mixed, accept_sparse=True)


def _split_mixed(X):
    return {"words": X[:, :30], "extra": X[:, 30:].toarray()}


def _mixed_model(meta):
    words, extra = keras.Input((30,), name="words"), keras.Input((10,), name="extra")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([words, extra]))
    return keras.Model({"words": words, "extra": extra}, out)


def test_a_feature_encoder_mixing_sparse_and_dense_inputs():
    X, total, _, _ = _data(n=120)
    est = _MixedInputs(_mixed_model, loss="mse", epochs=2, batch_size=25, random_state=0)
    est.fit(X, total)
    assert est.fit_path_ == "fast"
    ours = est.predict(X)
    net = est.model_
    np.testing.assert_allclose(
        ours, net.predict(_split_mixed(X) | {"words": X[:, :30].toarray()}, verbose=0).ravel(),
        rtol=1e-5, atol=1e-6)


def test_mixed_sparse_and_dense_inputs_in_a_dict():
    """A dict mixing sparse and dense parts (what a custom feature_encoder may give)."""
    X, total, _, weights = _data(n=100)
    numbers = np.linspace(-1, 1, 200, dtype=np.float32).reshape(100, 2)

    def model():
        words, extra = keras.Input((40,), name="words"), keras.Input((2,), name="extra")
        hidden = keras.layers.Dense(8, activation="relu")(
            keras.layers.Concatenate()([words, extra]))
        net = keras.Model({"words": words, "extra": extra}, keras.layers.Dense(1)(hidden))
        net.compile(optimizer="adam", loss="mse")
        return net

    histories, models = [], []
    for words in (X, X.toarray()):
        keras.utils.set_random_seed(0)
        net = model()
        job = TrainingJob(model=net, x={"words": words, "extra": numbers}, y=total,
                          sample_weight=weights, epochs=3, batch_size=16, first_epoch=0,
                          seed=0, shuffle=True)
        histories.append(fast_engine.train_fast(job))
        models.append(net)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    for ours, theirs in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_ell_rows_and_their_densified_batches():
    X = scipy.sparse.csr_matrix(np.array([[0, 2, 0, 0, 1], [0, 0, 0, 0, 0], [3, 0, 0, 4, 0]],
                                         dtype=np.float64))
    rows = sparse_rows.sparse_rows(X, 4)
    assert rows.columns.shape == rows.values.shape == (4, 2)  # K = 2 nonzeros at most
    assert rows.values.dtype == np.float32 and rows.width.shape == (0, 5)
    assert sparse_rows.signature(X) == "sparse(F=5, K=2, float32)"
    # K is the longest row rounded up to a power of two (folds share programs), at most F.
    for longest, width, k in [(0, 5, 1), (3, 5, 4), (5, 5, 5), (59, 100, 64), (65, 100, 100)]:
        row = scipy.sparse.csr_matrix(np.arange(width) < longest, dtype=np.float32)
        assert (sparse_rows.longest_row(row), sparse_rows.ell_width(row)) == (longest, k)
        assert sparse_rows.sparse_rows(row, 2).columns.shape == (2, k)
    # A non-canonical matrix: duplicate entries add up, as toarray gives them.
    duplicated = scipy.sparse.csr_matrix(
        (np.array([1.0, 2.0, 5.0]), np.array([3, 3, 0]), np.array([0, 2, 3])), shape=(2, 5))
    for matrix in (X, duplicated):
        device = keras.tree.map_structure(keras.ops.convert_to_tensor,
                                          sparse_rows.sparse_rows(matrix, matrix.shape[0]))
        index = keras.ops.convert_to_tensor(np.arange(matrix.shape[0])[::-1].astype(np.int32))
        dense = keras.ops.convert_to_numpy(sparse_rows.take(device, index))
        np.testing.assert_array_equal(dense, matrix.toarray()[::-1])


@pytest.mark.parametrize("width", [1_000, 100_000])
def test_rows_padded_beyond_measure_fall_back_to_model_fit(width):
    """Row-padded, 10,000 rows of 1,000 entries (one long row) take 80 MB: more than the
    dense matrix of 1,000 columns; 100 times the stored entries for 100,000 columns."""
    from skkeras.training import choose_path

    rng = np.random.default_rng(0)
    long_row = scipy.sparse.csr_matrix(np.ones((1, 1000), np.float32), shape=(1, width))
    X = scipy.sparse.vstack([_wide(9_999, width, 5), long_row], format="csr")
    y = rng.normal(size=10_000).astype(np.float32)
    expected = ("a row of 1000 stored entries out of 1000 columns" if width == 1_000
                else "a row of 1000 stored entries where rows average 5.1")
    params = dict(hidden_layer_sizes=(2,), epochs=1, batch_size=500, random_state=0)
    if width == 1_000:  # trains (on Model.fit, a batch at a time)
        path = KerasRegressor(**params).fit(X, y).fit_path_
    else:  # 100,000 columns: only the choice (densifying batches of them takes long)
        path = choose_path(KerasRegressor(**params).training_job(X, y))
    assert path.startswith(f"keras: sparse X with {expected}")
    assert path.endswith("densified one batch at a time on Model.fit")
    with pytest.raises(ValueError, match="engine='fast' cannot train this model: sparse X"):
        choose_path(KerasRegressor(**params, engine="fast").training_job(X, y))
    # Small, the same matrix trains on the fast path however padded.
    assert KerasRegressor(**params).fit(X[:500], y[:500]).fit_path_ == "fast"


@pytest.mark.parametrize("encoder", ["tfidf", "onehot"])
def test_pipelines_with_sparse_encoders_train_on_the_fast_path(encoder):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    if encoder == "tfidf":
        words = np.array(["red", "green", "blue", "cat", "dog", "fish", "sun", "rain"])
        X = [" ".join(rng.choice(words, 6)) for _ in range(120)]
        y = np.array(["animal" if ("cat" in t or "dog" in t) else "other" for t in X])
        first = TfidfVectorizer()
    else:
        X = rng.integers(0, 30, size=(120, 3)).astype(str)
        y = np.where(np.isin(X[:, 0], ["1", "2", "3", "4", "5", "6", "7", "8"]), "a", "b")
        first = OneHotEncoder(handle_unknown="ignore")
    pipe = make_pipeline(first, KerasClassifier(hidden_layer_sizes=(16,), epochs=30,
                                                batch_size=16, random_state=0,
                                                optimizer__learning_rate=0.02))
    pipe.fit(X, y)
    assert scipy.sparse.issparse(pipe[0].transform(X[:2]))
    assert pipe[-1].fit_path_ == "fast"
    assert pipe.score(X, y) >= 0.9


def test_a_search_on_sparse_x():
    from skkeras.model_selection import GridSearchCV

    X, _, labels, _ = _data(n=240)
    search = GridSearchCV(
        KerasClassifier(hidden_layer_sizes=(8,), epochs=3, batch_size=32, random_state=0),
        {"optimizer__learning_rate": [0.01, 0.003]}, cv=3,
    ).fit(X, labels)
    assert search.best_estimator_.fit_path_ == "fast"
    # Each candidate's scores are those of plain fits of the same folds.
    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(3).split(X, labels))
    train, test = folds[0]
    plain = KerasClassifier(hidden_layer_sizes=(8,), epochs=3, batch_size=32, random_state=0,
                            optimizer__learning_rate=0.01).fit(X[train], labels[train])
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(
        plain.score(X[test], labels[test]))


@pytest.mark.slow
def test_a_matrix_too_large_to_densify_trains_and_predicts(row_limit):
    """50,000 rows x 200,000 columns, 10 nonzeros a row: 40 GB dense, 4 MB sparse."""
    n = 50_000
    X = _wide(n, 200_000, 10)
    y = np.random.default_rng(0).normal(size=n).astype(np.float32)

    def tiny(meta):
        return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])

    row_limit["rows"] = 256
    start = time.perf_counter()
    # Predictions: batches of at most sparse.DENSE_VALUES_PER_CALL values (10 rows) once dense.
    est = KerasRegressor(tiny, loss="mse", epochs=1, batch_size=256, random_state=0,
                         predict__batch_size=256).fit(X, y)
    fitted = time.perf_counter()
    assert est.fit_path_ == "fast"
    predictions = est.predict(X)
    assert predictions.shape == (n,) and np.isfinite(predictions).all()
    assert max(row_limit["densified"], default=0) <= 256
    print(f"fit {fitted - start:.1f} s, predict {time.perf_counter() - fitted:.1f} s")


def test_compiled_sparse_prediction_follows_the_weights_and_mixed_inputs(row_limit):
    from skkeras import sparse

    X, _, _, _ = _data(n=70)
    numbers = np.linspace(-1, 1, 140, dtype=np.float32).reshape(70, 2)
    words, extra = keras.Input((40,), name="words"), keras.Input((2,), name="extra")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([words, extra]))
    model = keras.Model({"words": words, "extra": extra},
                        [keras.layers.Dense(1)(hidden), keras.layers.Dense(3)(hidden)])
    inputs = {"words": X, "extra": numbers}
    for _ in range(2):  # new weights: the compiled pass reads them at each call
        ours = sparse.predict_batches(model, inputs, 32)  # batches of 32, 32 and 6 (padded)
        assert row_limit["densified"] == []  # made dense on the device, not on the host
        row_limit["rows"] = 70
        theirs = model.predict({"words": X.toarray(), "extra": numbers}, verbose=0)
        row_limit["rows"], row_limit["densified"] = 32, []
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # Every batch has one shape: a row's outputs do not depend on the rows beside it.
        alone = sparse.predict_batches(model, {"words": X[40:41], "extra": numbers[40:41]}, 32)
        for a, b in zip(alone, ours, strict=True):
            np.testing.assert_array_equal(a, b[40:41])
        model.set_weights([w + 0.1 for w in model.get_weights()])
    # An eager model gets batches made dense on the host.
    model.run_eagerly = True
    eager = sparse.predict_batches(model, inputs, 32)
    assert row_limit["densified"] == [32, 32, 6]
    row_limit["rows"] = 70
    theirs = model.predict({"words": X.toarray(), "extra": numbers}, verbose=0)
    np.testing.assert_allclose(eager[1], theirs[1], rtol=1e-5, atol=1e-6)

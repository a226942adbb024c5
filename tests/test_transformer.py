"""KerasTransformer: a trained model's layer as a Pipeline step."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skkeras import KerasTransformer


def autoencoder(meta):
    x = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(4, activation="relu", name="enc")(x)
    code = keras.layers.Dense(2, name="code")(hidden)
    hidden = keras.layers.Dense(4, activation="relu", name="dec")(code)
    return keras.Model(x, keras.layers.Dense(meta["n_features_in_"], name="out")(hidden))


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(60, 5)).astype("float32")


def test_autoencoder_transform_is_the_bottleneck(X):
    embed = KerasTransformer(autoencoder, epochs=2, random_state=0).fit(X)
    assert embed.layer_ == "code"
    assert embed.n_features_out_ == 2
    codes = embed.transform(X)
    assert codes.shape == (60, 2)
    # The same numbers as the trained model's own layer, run by Keras.
    model = embed.model_
    expected = keras.Model(model.inputs[0], model.get_layer("code").output).predict(X, verbose=0)
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-5)
    # Trained to reconstruct X: the output has X's width.
    assert embed.predict(X).shape == X.shape
    assert embed.get_feature_names_out().tolist() == ["kerastransformer0", "kerastransformer1"]


def test_set_output_pandas(X):
    embed = KerasTransformer(autoencoder, epochs=1, random_state=0).set_output(transform="pandas")
    frame = embed.fit_transform(X)
    assert list(frame.columns) == ["kerastransformer0", "kerastransformer1"]
    assert frame.shape == (60, 2)


def test_feeds_the_next_pipeline_step_and_target_X_ignores_y(X):
    y = (X[:, 0] > 0).astype(int)
    pipe = Pipeline([
        ("embed", KerasTransformer(autoencoder, target="X", epochs=2, random_state=0)),
        ("clf", LogisticRegression()),
    ]).fit(X, y)
    assert pipe[0].model_.output_shape == (None, 5)  # reconstructed X, not y
    assert pipe.predict(X).shape == (60,)
    assert pipe[-1].n_features_in_ == 2


@pytest.mark.parametrize("layer, name, width", [("enc", "enc", 4), (-2, "dec", 4), (1, "enc", 4)])
def test_layer_by_name_or_index(X, layer, name, width):
    embed = KerasTransformer(autoencoder, layer=layer, epochs=1, random_state=0).fit(X)
    assert embed.layer_ == name
    assert embed.transform(X).shape == (60, width)


def test_supervised_sequential_model(X):
    def model():
        return keras.Sequential([
            keras.Input((5,)), keras.layers.Dense(3, name="wide"),
            keras.layers.Dense(2, name="narrow"), keras.layers.Dense(1),
        ])

    embed = KerasTransformer(model, target="y", epochs=1, random_state=0).fit(X, X.sum(axis=1))
    assert embed.layer_ == "narrow"
    assert embed.transform(X).shape == (60, 2)
    assert isinstance(embed.score(X, X.sum(axis=1)), float)


def test_bad_parameters_name_themselves(X):
    with pytest.raises(ValueError, match="layer='nope' names no layer"):
        KerasTransformer(autoencoder, layer="nope", epochs=1).fit(X)
    with pytest.raises(ValueError, match="out of range"):
        KerasTransformer(autoencoder, layer=40, epochs=1).fit(X)
    with pytest.raises(ValueError, match="layer must be"):
        KerasTransformer(autoencoder, layer=1.5, epochs=1).fit(X)
    with pytest.raises(ValueError, match="target must be one of"):
        KerasTransformer(autoencoder, target="Z", epochs=1).fit(X)
    with pytest.raises(ValueError, match="but y is None"):
        KerasTransformer(autoencoder, target="y", epochs=1).fit(X)


def test_not_fitted(X):
    with pytest.raises(NotFittedError):
        KerasTransformer(autoencoder).transform(X)


def test_params_clone_and_tags():
    embed = KerasTransformer(autoencoder, layer="code", target="X", epochs=3, model__units=2)
    params = embed.get_params()
    assert params["layer"] == "code" and params["target"] == "X" and params["epochs"] == 3
    assert params["model__units"] == 2
    copy = clone(embed)
    assert copy.get_params() == params
    assert not is_regressor(embed)
    tags = embed.__sklearn_tags__()
    assert tags.transformer_tags is not None and tags.target_tags.required is False


@pytest.mark.slow
def test_jax_backend():
    script = textwrap.dedent("""
        import keras, numpy as np
        assert keras.backend.backend() == "jax"
        from skkeras import KerasTransformer
        def autoencoder(meta):
            x = keras.Input((meta["n_features_in_"],))
            code = keras.layers.Dense(2, name="code")(keras.layers.Dense(4)(x))
            return keras.Model(x, keras.layers.Dense(meta["n_features_in_"])(code))
        X = np.random.default_rng(0).normal(size=(40, 5)).astype("float32")
        embed = KerasTransformer(autoencoder, epochs=2, random_state=0).fit(X)
        assert embed.layer_ == "code" and embed.transform(X).shape == (40, 2)
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_save_and_load_keep_the_layer(X, tmp_path):
    import skkeras

    embed = KerasTransformer(autoencoder, layer="enc", epochs=1, random_state=0).fit(X)
    path = tmp_path / "embed.keras"
    skkeras.save(embed, path)
    loaded = skkeras.load(path)
    assert isinstance(loaded, KerasTransformer)
    assert (loaded.layer_, loaded.n_features_out_) == ("enc", 4)
    np.testing.assert_allclose(loaded.transform(X), embed.transform(X), rtol=1e-6)

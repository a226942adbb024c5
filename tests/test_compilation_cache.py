"""The persistent compilation cache: a second process loads what the first compiled.

Each fit runs in its own Python process on the JAX backend (whatever backend
runs the rest of the tests), since what is tested is what survives a process.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from skkeras.compilation_cache import default_cache_directory, enable_compilation_cache

# A small search on JAX; prints how many compiled programs came from the cache,
# and whether TensorFlow was imported along the way.
SEARCH = textwrap.dedent("""
    import json, sys
    import jax.export, jax.monitoring
    hits, traced = [], []
    jax.monitoring.register_event_listener(
        lambda event, **kwargs: hits.append(1) if event == "/jax/compilation_cache/cache_hits" else None
    )
    export = jax.export.export
    jax.export.export = lambda *args, **kwargs: traced.append(1) or export(*args, **kwargs)
    import keras
    from sklearn.datasets import make_classification
    from sklearn.model_selection import KFold
    from skkeras import KerasClassifier
    from skkeras.model_selection import GridSearchCV

    def net(meta):
        return keras.Sequential([keras.Input((meta["n_features_in_"],)),
                                 keras.layers.Dense(4, activation="relu"),
                                 keras.layers.Dense(1, activation="sigmoid")])

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    search = GridSearchCV(
        # engine="fast": a search this small would otherwise train in NumPy, compiling nothing
        KerasClassifier(net, loss="binary_crossentropy", random_state=0, epochs=2, engine="fast"),
        {"batch_size": [8, 16]}, cv=KFold(2),
    ).fit(X, y)
    print(json.dumps({"hits": len(hits), "traced": len(traced),
                      "tensorflow": "tensorflow" in sys.modules,
                      "scores": list(search.cv_results_["mean_test_score"])}))
""")


def run_search(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SEARCH], env={**os.environ, "KERAS_BACKEND": "jax", **env},
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_programs_the_first_compiled(tmp_path):
    cache = tmp_path / "xla"
    first = run_search({"SKKERAS_COMPILATION_CACHE": str(cache)})
    assert first["hits"] == 0
    assert any(cache.iterdir()), "nothing was written to the cache"
    second = run_search({"SKKERAS_COMPILATION_CACHE": str(cache)})
    assert second["hits"] > 0
    assert second["scores"] == first["scores"]
    # The pack's program was traced and saved by the first process, loaded by the second.
    assert first["traced"] == 1 and second["traced"] == 0
    assert len(list((cache / "skkeras-traced").glob("*.stablehlo"))) == 1
    # Keras imports TensorFlow to serialise configurations, on every backend;
    # skkeras's searches on JAX do not make it.
    assert not first["tensorflow"] and not second["tensorflow"]


def test_without_the_variable_nothing_is_cached(tmp_path):
    run = run_search({"SKKERAS_COMPILATION_CACHE": "0", "XDG_CACHE_HOME": str(tmp_path)})
    assert run["hits"] == 0 and run["traced"] == 0
    assert not (tmp_path / "skkeras").exists()


def test_a_saved_program_gives_the_numbers_of_tracing_and_a_damaged_one_is_replaced(tmp_path):
    cache = tmp_path / "xla"
    plain = run_search({"SKKERAS_COMPILATION_CACHE": "0"})
    first = run_search({"SKKERAS_COMPILATION_CACHE": str(cache)})
    assert first["scores"] == pytest.approx(plain["scores"], abs=1e-6)
    (saved,) = (cache / "skkeras-traced").glob("*.stablehlo")
    saved.write_bytes(b"not a program")
    again = run_search({"SKKERAS_COMPILATION_CACHE": str(cache)})
    assert again["traced"] == 1 and again["scores"] == first["scores"]
    assert saved.read_bytes() != b"not a program"


def test_default_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_directory() == tmp_path / "skkeras" / "xla"


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="tests the refusal on other backends")
def test_other_backends_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="JAX backend"):
        enable_compilation_cache(tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_new_folder_takes_effect_after_the_process_has_compiled(tmp_path):
    # JAX opens its cache once, at the first compilation after a folder is set: a
    # second folder must make it open again.
    script = textwrap.dedent(f"""
        import jax, jax.numpy as jnp
        import skkeras
        first = skkeras.enable_compilation_cache({str(tmp_path / "first")!r})
        jax.jit(lambda x: x * 2)(jnp.ones(3)).block_until_ready()
        second = skkeras.enable_compilation_cache({str(tmp_path / "second")!r})
        jax.jit(lambda x: jnp.sin(x) + 1)(jnp.ones(5)).block_until_ready()
        print(sum(1 for _ in first.iterdir()), sum(1 for _ in second.iterdir()))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    in_first, in_second = map(int, done.stdout.strip().splitlines()[-1].split())
    assert in_first >= 1 and in_second >= 1

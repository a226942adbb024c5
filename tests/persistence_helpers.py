"""Helpers for tests/test_persistence.py: importable model builders, small datasets, and
a fresh-process checker that loads saved estimators and writes their predictions.

The builders live in an importable module (not in the test file) so that pickles and
files refer to them by a name that a fresh Python process can resolve.

Run by the tests as ``python -c "import persistence_helpers as h; h.main()" MANIFEST OUT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from skkeras import KerasClassifier, KerasRegressor

TESTS_DIR = Path(__file__).resolve().parent

CLASSIFICATION_TASKS = ("binary", "multiclass", "multilabel", "strings")
REGRESSION_TASKS = ("regression", "multioutput")


# ------------------------------------------------------------------- datasets
def task_data(task: str, n: int = 40, n_features: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Small seeded data for one kind of target."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    score = X[:, 0] - X[:, 1]
    if task == "binary":
        y = (score > 0).astype(int)
    elif task == "multiclass":
        y = np.digitize(score, [-0.5, 0.5])
    elif task == "strings":
        y = np.array(["cat", "dog", "emu"])[np.digitize(score, [-0.5, 0.5])]
    elif task == "multilabel":
        y = (X[:, :3] > 0).astype(int)
    elif task == "regression":
        y = (score + 0.1 * X[:, 2]).astype(np.float32)
    elif task == "multioutput":
        y = np.column_stack([score, X[:, 2]]).astype(np.float32)
    else:
        raise ValueError(task)
    return X, y


# ------------------------------------------------------------------- builders
def build_model(meta: dict[str, Any], hidden: int = 8) -> Any:
    """A user builder (model= or build_fn=) that sizes its output from ``meta``."""
    import keras

    target_type = meta["target_type_"]
    if target_type in ("continuous", "continuous-multioutput"):
        units, activation = meta["n_outputs_"], "linear"
    elif target_type == "multilabel-indicator":
        units, activation = meta["n_classes_"], "sigmoid"
    else:
        units = meta["n_outputs_expected_"]
        activation = "sigmoid" if units == 1 else "softmax"
    return keras.Sequential([
        keras.Input(shape=(meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(units, activation=activation),
    ])


def model_instance(task: str, n_features: int = 4) -> Any:
    """An uncompiled keras.Model instance for ``task`` (the model= instance style)."""
    import keras

    units, activation = {
        "binary": (1, "sigmoid"), "multiclass": (3, "softmax"), "strings": (3, "softmax"),
        "multilabel": (3, "sigmoid"), "regression": (1, "linear"), "multioutput": (2, "linear"),
    }[task]
    inputs = keras.Input(shape=(n_features,))
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(hidden))


class MyClassifier(KerasClassifier):
    """A user subclass, to check that files remember the estimator's class."""


def custom_loss(y_true: Any, y_pred: Any) -> Any:
    """A user loss that is not registered with Keras."""
    import keras

    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def make_custom_callback_class() -> type:
    """A user callback class (made on demand: the test module imports Keras lazily)."""
    import keras

    class Counting(keras.callbacks.Callback):
        def __init__(self, start: int = 0) -> None:
            super().__init__()
            self.count = start

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.count += 1

    return Counting


# ------------------------------------------------------------- editing files
def read_state(path: Path) -> dict[str, Any]:
    """The JSON skkeras state inside a .keras or .h5 file."""
    path = Path(path)
    if path.suffix == ".keras":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("skkeras.json"))
    import h5py

    with h5py.File(path, "r") as f:
        return json.loads(f["skkeras_state"][()])


def write_state(source: Path, target: Path, state: dict[str, Any], member: str = "skkeras.json") -> None:
    """Copy ``source`` to ``target`` with its state (or, for .keras, another JSON member) replaced,
    as an attacker editing a real file would."""
    import shutil

    source, target = Path(source), Path(target)
    if source.suffix == ".keras":
        import zipfile

        with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
            for info in old.infolist():
                if info.filename != member:
                    new.writestr(info, old.read(info.filename))
            new.writestr(member, json.dumps(state))
        return
    import h5py

    shutil.copyfile(source, target)
    with h5py.File(target, "a") as f:
        if member == "skkeras.json":
            del f["skkeras_state"]
            f.create_dataset("skkeras_state", data=json.dumps(state), dtype=h5py.string_dtype())
        else:
            f.attrs[member] = json.dumps(state)


def read_keras_member(path: Path, member: str) -> dict[str, Any]:
    """A JSON member of a .keras file (config.json), or a JSON attribute of an .h5 file."""
    path = Path(path)
    if path.suffix == ".keras":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(member))
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs[member]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def make_estimator(builder: str, task: str, **params: Any) -> Any:
    """An unfitted estimator: ``builder`` is mlp, callable, instance or build_fn."""
    cls = KerasRegressor if task in REGRESSION_TASKS else KerasClassifier
    common = {"epochs": 2, "random_state": 0, "run_eagerly": True, **params}
    if builder == "mlp":
        return cls(model__hidden_layer_sizes=(8,), **common)
    if builder == "callable":
        return cls(model=build_model, hidden=6, **common)
    if builder == "instance":
        return cls(model=model_instance(task), **common)
    if builder == "build_fn":
        return cls(build_fn=build_model, hidden=5, **common)
    raise ValueError(builder)


def predictions(estimator: Any, X: Any) -> dict[str, np.ndarray]:
    """Everything an estimator predicts for X, by method name."""
    outputs = {"predict": np.asarray(estimator.predict(X))}
    for method in ("predict_proba", "decision_function"):
        if hasattr(estimator, method):
            outputs[method] = np.asarray(getattr(estimator, method)(X))
    return outputs


# -------------------------------------------------------------- fresh process
def run_fresh(manifest: list[dict[str, Any]], workdir: Path, env: dict[str, str] | None = None,
              timeout: float = 300) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Load and predict every manifest entry in ONE new Python process.

    Returns the predictions (``"<id>::<method>"`` -> array) and the errors by id.
    """
    import skkeras

    repo_root = Path(skkeras.__file__).resolve().parent.parent
    manifest_path = workdir / f"manifest-{os.getpid()}-{len(list(workdir.iterdir()))}.json"
    out_path = manifest_path.with_suffix(".npz")
    manifest_path.write_text(json.dumps(manifest))
    child_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo_root), str(TESTS_DIR)]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import persistence_helpers as h; h.main()", str(manifest_path), str(out_path)],
        env=child_env, cwd=workdir, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"fresh process failed ({result.returncode}):\n{result.stderr[-4000:]}")
    with np.load(out_path, allow_pickle=False) as data:
        outputs = {name: data[name] for name in data.files}
    errors = json.loads(out_path.with_suffix(".errors.json").read_text())
    return outputs, errors


def _load_entry(entry: dict[str, Any]) -> Any:
    how, path = entry["how"], entry["path"]
    if how == "pickle":
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f)
    if how == "joblib":
        import joblib

        return joblib.load(path)
    if how == "skkeras":
        import skkeras.persistence

        return skkeras.persistence.load(path)
    raise ValueError(how)


def _entry_X(entry: dict[str, Any]) -> Any:
    X = np.load(entry["X"], allow_pickle=False)
    if entry.get("columns"):
        import pandas as pd

        return pd.DataFrame(X, columns=entry["columns"])
    return X


def main(argv: list[str] | None = None) -> None:
    """Fresh-process side: load each entry, predict, save the outputs (and errors)."""
    manifest_path, out_path = (argv or sys.argv[1:])[:2]
    import keras

    manifest = json.loads(Path(manifest_path).read_text())
    outputs: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for entry in manifest:
        try:
            loaded = _load_entry(entry)
            X = _entry_X(entry)
            if entry.get("kind") == "cv_results":
                estimators = loaded["estimator"]
                outputs[f"{entry['id']}::predict"] = np.concatenate([e.predict(X) for e in estimators])
            else:
                for method, values in predictions(loaded, X).items():
                    outputs[f"{entry['id']}::{method}"] = values
            outputs[f"{entry['id']}::backend"] = np.array(keras.backend.backend())
        except Exception:  # noqa: BLE001 - reported to the test
            errors[entry["id"]] = traceback.format_exc()
    np.savez(out_path, **outputs)
    Path(out_path).with_suffix(".errors.json").write_text(json.dumps(errors))


if __name__ == "__main__":
    main()

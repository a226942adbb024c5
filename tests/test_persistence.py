"""Persistence: pickle/joblib/deepcopy, skkeras.save/load to .h5 and .keras, from_model.

Round trips are checked bitwise in a fresh Python process; every estimator, Pipeline and
search under test is written first and then read back by ONE subprocess (importing
TensorFlow costs seconds), whose predictions the parametrized tests compare.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import importlib.util
import json
import os
import pickle
import stat
import sys
import warnings
import zipfile
from pathlib import Path

import h5py
import joblib
import keras
import numpy as np
import pandas as pd
import persistence_helpers as helpers
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skkeras import KerasClassifier, KerasRegressor, persistence
from skkeras.persistence import ModelFileError, UnrestoredParam, files, load, save
from skkeras.persistence import state as state_module

FORMATS = ("pickle", "joblib", "h5", "keras")

# Every target kind through the built-in MLP, and every other builder style on a
# classifier and a regressor task.
CASES = [
    ("mlp", "binary"), ("mlp", "multiclass"), ("mlp", "multilabel"), ("mlp", "strings"),
    ("mlp", "regression"), ("mlp", "multioutput"),
    ("callable", "multiclass"), ("callable", "multioutput"),
    ("instance", "binary"), ("instance", "regression"),
    ("build_fn", "strings"), ("build_fn", "multilabel"),
]
CASE_IDS = [f"{builder}-{task}" for builder, task in CASES]
COMPOSITES = ("pipeline", "grid_search", "cross_validate")


def write_artifact(obj, path: Path, how: str) -> str:
    if how == "pickle":
        path.write_bytes(pickle.dumps(obj))
        return "pickle"
    if how == "joblib":
        joblib.dump(obj, path)
        return "joblib"
    save(obj, path)
    return "skkeras"


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.dtype.kind in "biuf":
        assert actual.tobytes() == expected.tobytes(), f"{what}: values differ"
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def as_json(config):
    """A Keras config with tuples as lists, as it reads back from JSON."""
    return json.loads(json.dumps(config))


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------- the fresh-process batch
@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Fit every case, write it in every format, read all back in one fresh process."""
    workdir = tmp_path_factory.mktemp("fresh")
    expected, manifest, originals = {}, [], {}
    for (builder, task), case_id in zip(CASES, CASE_IDS, strict=True):
        X, y = helpers.task_data(task)
        columns = None
        if task == "strings":  # also carries feature names through the round trip
            columns = [f"f{i}" for i in range(X.shape[1])]
            X = pd.DataFrame(X, columns=columns)
        estimator = helpers.make_estimator(builder, task).fit(X, y)
        originals[case_id] = estimator
        np.save(workdir / f"{case_id}-X.npy", np.asarray(X))
        expected[case_id] = helpers.predictions(estimator, X)
        for fmt in FORMATS:
            suffix = {"pickle": ".pkl", "joblib": ".joblib"}.get(fmt, f".{fmt}")
            path = workdir / f"{case_id}{suffix}"
            how = write_artifact(estimator, path, fmt)
            manifest.append({"id": f"{case_id}/{fmt}", "how": how, "path": str(path),
                             "X": str(workdir / f"{case_id}-X.npy"), "columns": columns})

    X, y = helpers.task_data("multiclass")
    np.save(workdir / "composite-X.npy", X)
    composites = {
        "pipeline": make_pipeline(StandardScaler(), helpers.make_estimator("mlp", "multiclass")).fit(X, y),
        "grid_search": GridSearchCV(
            helpers.make_estimator("callable", "multiclass"), {"hidden": [3, 5]}, cv=2
        ).fit(X, y),
        "cross_validate": cross_validate(
            helpers.make_estimator("mlp", "binary"), X, y % 2, cv=KFold(2), return_estimator=True
        ),
    }
    for name, obj in composites.items():
        if name == "cross_validate":
            expected[name] = {"predict": np.concatenate([e.predict(X) for e in obj["estimator"]])}
        else:
            expected[name] = helpers.predictions(obj, X)
        for fmt in ("pickle", "joblib"):
            path = workdir / f"{name}.{fmt}"
            write_artifact(obj, path, fmt)
            manifest.append({"id": f"{name}/{fmt}", "how": fmt, "path": str(path),
                             "X": str(workdir / "composite-X.npy"),
                             "kind": "cv_results" if name == "cross_validate" else "estimator"})
    outputs, errors = helpers.run_fresh(manifest, workdir)
    return {"expected": expected, "outputs": outputs, "errors": errors,
            "originals": originals, "workdir": workdir}


def check_fresh(fresh, case_id: str, fmt: str) -> None:
    entry = f"{case_id}/{fmt}"
    assert entry not in fresh["errors"], fresh["errors"].get(entry)
    for method, values in fresh["expected"][case_id].items():
        actual = fresh["outputs"][f"{entry}::{method}"]
        assert_bitwise_equal(actual, values, f"{entry} {method}")
    assert str(fresh["outputs"][f"{entry}::backend"]) == keras.backend.backend()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_round_trip_in_fresh_process_is_bitwise(fresh, case_id, fmt):
    check_fresh(fresh, case_id, fmt)


@pytest.mark.parametrize("fmt", ("pickle", "joblib"))
@pytest.mark.parametrize("name", COMPOSITES)
def test_pipelines_and_searches_pickle_in_fresh_process(fresh, name, fmt):
    check_fresh(fresh, name, fmt)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_files_restore_params_and_fitted_attributes(fresh, case_id):
    original = fresh["originals"][case_id]
    for suffix in (".h5", ".keras"):
        # The builders are the test's own functions: trusted by name, as a user would.
        loaded = load(fresh["workdir"] / f"{case_id}{suffix}", trusted=[helpers.build_model])
        assert type(loaded) is type(original)
        _assert_same_target(loaded.target_, original.target_)
        for name in ("classes_", "n_classes_", "n_features_in_", "feature_names_in_", "n_outputs_",
                     "target_type_", "seed_", "X_shape_", "X_dtype_", "history_"):
            if hasattr(original, name):
                got, want = getattr(loaded, name), getattr(original, name)
                if isinstance(want, np.ndarray):
                    assert_bitwise_equal(got, want, name)
                else:
                    assert got == want and type(got) is type(want), name
        params, loaded_params = original.get_params(), loaded.get_params()
        assert set(params) == set(loaded_params)
        for name, value in params.items():
            if isinstance(value, keras.Model):  # a fresh instance of the same architecture
                assert as_json(loaded_params[name].get_config()) == as_json(value.get_config())
            else:
                assert loaded_params[name] == value, name


def _assert_same_target(loaded, original):
    assert type(loaded) is type(original)
    for field, want in vars(original).items():
        got = getattr(loaded, field)
        if isinstance(want, np.ndarray):
            assert_bitwise_equal(got, want, field)
        else:
            assert got == want, field


# ---------------------------------------------------------------- cross backend
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="writes under TensorFlow")
def test_files_written_under_tensorflow_load_under_jax(fresh):
    manifest = [
        {"id": f"{case_id}/{fmt}", "how": "skkeras",
         "path": str(fresh["workdir"] / f"{case_id}.{fmt}"),
         "X": str(fresh["workdir"] / f"{case_id}-X.npy"),
         "columns": [f"f{i}" for i in range(4)] if case_id.endswith("strings") else None}
        for case_id in ("build_fn-strings",)  # JAX compiles per shape: one model keeps it quick
        for fmt in ("h5", "keras")
    ]
    outputs, errors = helpers.run_fresh(manifest, fresh["workdir"], env={"KERAS_BACKEND": "jax"})
    assert not errors, errors
    for entry in manifest:
        case_id = entry["id"].split("/")[0]
        assert str(outputs[f"{entry['id']}::backend"]) == "jax"
        for method, values in fresh["expected"][case_id].items():
            actual = outputs[f"{entry['id']}::{method}"]
            if values.dtype.kind == "f":
                np.testing.assert_allclose(actual, values, rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(actual, values)


# ---------------------------------------------------------- pickling in process
def test_unfitted_estimators_pickle_deepcopy_and_clone():
    estimator = KerasClassifier(
        model=helpers.model_instance("binary"), random_state=np.random.RandomState(3),
        callbacks=[keras.callbacks.EarlyStopping], callbacks__patience=2, epochs=3,
        class_weight={0: 1.0, 1: 2.0}, optimizer__learning_rate=0.01,
    )
    for twin in (pickle.loads(pickle.dumps(estimator)), copy.deepcopy(estimator), clone(estimator)):
        params, twin_params = estimator.get_params(), twin.get_params()
        assert set(params) == set(twin_params)
        assert as_json(twin_params["model"].get_config()) == as_json(params["model"].get_config())
        assert twin_params["callbacks"] == [keras.callbacks.EarlyStopping]
        assert twin_params["class_weight"] == {0: 1.0, 1: 2.0}
        assert twin_params["optimizer__learning_rate"] == 0.01
        assert not hasattr(twin, "model_")


def test_fitted_deepcopy_predicts_the_same_and_is_independent():
    X, y = helpers.task_data("binary")
    estimator = helpers.make_estimator("mlp", "binary").fit(X, y)
    expected = estimator.predict_proba(X)
    twin = copy.deepcopy(estimator)
    assert twin.model_ is not estimator.model_
    assert_bitwise_equal(twin.predict_proba(X), expected)
    twin.partial_fit(X, y)
    assert_bitwise_equal(estimator.predict_proba(X), expected)


class OpenFileCallback(keras.callbacks.Callback):
    """A callback holding an open file: it cannot be pickled."""

    def __init__(self, path):
        super().__init__()
        self.handle = open(path, "a")  # noqa: SIM115 - held open on purpose

    def on_epoch_end(self, epoch, logs=None):
        self.handle.write(f"{epoch}\n")


def test_unpicklable_callbacks_do_not_break_pickling(tmp_path):
    X, y = helpers.task_data("binary")
    csv_logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    open_file = OpenFileCallback(tmp_path / "epochs.txt")
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    estimator = helpers.make_estimator("mlp", "binary", callbacks=[csv_logger, open_file, stopper]).fit(X, y)
    with pytest.raises(TypeError):
        pickle.dumps(csv_logger)

    for restored in (pickle.loads(pickle.dumps(estimator)), copy.deepcopy(estimator),
                     joblib.load(_joblib_dump(estimator, tmp_path / "est.joblib"))):
        assert_bitwise_equal(restored.predict_proba(X), estimator.predict_proba(X))
        kept = restored.callbacks
        assert isinstance(kept[0], UnrestoredParam) and "CSVLogger" in repr(kept[0])
        assert isinstance(kept[1], UnrestoredParam) and "OpenFileCallback" in repr(kept[1])
        assert isinstance(kept[2], keras.callbacks.EarlyStopping) and kept[2].patience == 5
        assert kept[2]._model is None  # the model is not pickled a second time
        with pytest.raises(ValueError, match=r"callbacks\[0\].*set_params\(callbacks=") as info:
            restored.fit(X, y)
        assert "could not be pickled" in str(info.value)
        restored.set_params(callbacks=None).fit(X, y)  # given again, training works
    # the original estimator is untouched
    assert estimator.callbacks[0] is csv_logger and estimator.callbacks[2].model is estimator.model_
    open_file.handle.close()


def _joblib_dump(obj, path):
    joblib.dump(obj, path)
    return path


@pytest.mark.parametrize("run_eagerly", (True, False), ids=("eager", "compiled"))
@pytest.mark.parametrize("fmt", FORMATS)
def test_training_continues_after_load(tmp_path, fmt, run_eagerly):
    """Optimizer state, seed and epoch count survive: continuing after a load is bitwise
    the same as continuing without it (warm_start fit and partial_fit)."""
    X, y = helpers.task_data("multiclass")
    original = helpers.make_estimator("mlp", "multiclass", warm_start=True, run_eagerly=run_eagerly).fit(X, y)
    path = tmp_path / f"est.{'pkl' if fmt == 'pickle' else fmt}"
    write_artifact(original, path, fmt)
    restored = {"pickle": lambda: pickle.loads(path.read_bytes()), "joblib": lambda: joblib.load(path)}.get(
        fmt, lambda: load(path))()
    for estimator in (original, restored):
        estimator.fit(X, y)
        estimator.partial_fit(X, y)
    assert_bitwise_equal(restored.predict_proba(X), original.predict_proba(X))
    assert restored.history_ == original.history_ and len(original.history_["loss"]) == 5


# --------------------------------------------------------------------- save/load
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    X, y = helpers.task_data("strings")
    estimator = helpers.make_estimator("callable", "strings").fit(X, y)
    return estimator, X, y


def test_method_and_classmethod_forms(fitted, tmp_path):
    estimator, X, _ = fitted
    estimator.save(tmp_path / "m.keras")
    estimator.save(str(tmp_path / "m.h5"))
    estimator.save(tmp_path / "M.KERAS")
    for path in ("m.keras", "m.h5", "M.KERAS"):
        loaded = KerasClassifier.load(tmp_path / path)
        assert_bitwise_equal(loaded.predict_proba(X), estimator.predict_proba(X))
        with pytest.raises(ModelFileError, match="classifier.*KerasRegressor.load"):
            KerasRegressor.load(tmp_path / path)


def test_loading_never_unpickles(fitted, tmp_path, monkeypatch):
    estimator, X, _ = fitted
    save(estimator, tmp_path / "m.h5")
    save(estimator, tmp_path / "m.keras")

    def refuse(*args, **kwargs):
        raise AssertionError("loading a file must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    for name in ("m.h5", "m.keras"):
        loaded = load(tmp_path / name)
        assert_bitwise_equal(loaded.predict(X), estimator.predict(X))


def test_files_open_with_plain_keras_and_h5py(fitted, tmp_path):
    estimator, X, _ = fitted
    for name in ("m.h5", "m.keras"):
        save(estimator, tmp_path / name)
        model = keras.saving.load_model(tmp_path / name)
        assert_bitwise_equal(
            keras.ops.convert_to_numpy(model(X)), keras.ops.convert_to_numpy(estimator.model_(X)), name
        )
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert "model_config" in f.attrs and "model_weights" in f
        assert f.attrs["skkeras_format_version"] == persistence.FORMAT_VERSION
        state = json.loads(f["skkeras_state"][()])
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert json.loads(archive.read("skkeras.json")) == state
    assert state["estimator"] == {"class": "skkeras.wrappers:KerasClassifier", "kind": "classifier"}
    assert set(state["versions"]) >= {"skkeras", "keras", "backend"}
    assert state["params"]["model"] == {"__skkeras__": "import", "name": "persistence_helpers:build_model"}
    assert state["fitted"]["classes_"]["data"] == ["cat", "dog", "emu"]


def test_json_params_round_trip(tmp_path):
    X, y = helpers.task_data("binary")
    random_state = np.random.RandomState(7)
    estimator = KerasClassifier(
        model__hidden_layer_sizes=(4, 3), model__dropout=np.float32(0.25),
        optimizer=keras.optimizers.Adam(learning_rate=0.02), loss=keras.losses.BinaryCrossentropy(),
        metrics=["accuracy", keras.metrics.AUC(name="auc")], class_weight={0: 1.0, 1: 3.0},
        callbacks=[keras.callbacks.TerminateOnNaN], inputs={"a": slice(0, 2), "b": [2, 3]},
        random_state=random_state, epochs=2, run_eagerly=True, threshold=0.4,
    ).fit(X, y)
    state_before = copy.deepcopy(random_state.get_state())
    for name in ("m.h5", "m.keras"):
        save(estimator, tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # everything is restorable: no warning
            loaded = load(tmp_path / name)
        params = loaded.get_params()
        assert params["model__hidden_layer_sizes"] == (4, 3)
        assert type(params["model__dropout"]) is np.float32 and params["model__dropout"] == 0.25
        assert params["optimizer"].get_config() == estimator.optimizer.get_config()
        assert isinstance(params["loss"], keras.losses.BinaryCrossentropy)
        assert params["metrics"][0] == "accuracy" and params["metrics"][1].name == "auc"
        assert params["class_weight"] == {0: 1.0, 1: 3.0}
        assert params["callbacks"] == [keras.callbacks.TerminateOnNaN]
        assert params["inputs"] == {"a": slice(0, 2), "b": [2, 3]}
        assert params["threshold"] == 0.4
        restored_state = params["random_state"].get_state()
        assert restored_state[0] == state_before[0] and np.array_equal(restored_state[1], state_before[1])
        assert_bitwise_equal(loaded.predict_proba(X), estimator.predict_proba(X))
        loaded.fit(X, y)  # all restored: a full refit works


def test_params_that_cannot_be_restored_load_for_prediction(tmp_path, monkeypatch):
    X, y = helpers.task_data("binary")

    def local_builder(meta):
        return helpers.build_model(meta, hidden=3)

    estimator = KerasClassifier(model=local_builder, callbacks=[keras.callbacks.TerminateOnNaN()], epochs=2,
                                random_state=0, run_eagerly=True, warm_start=True).fit(X, y)
    with pytest.warns(UserWarning, match="(?=.*local_builder)(?=.*callback instances)"):
        save(estimator, tmp_path / "m.keras")
    with pytest.warns(UserWarning, match=r"(?=.*model= \(the function)(?=.*callbacks\[0\]= \(a TerminateOnNaN)"):
        loaded = load(tmp_path / "m.keras")
    assert isinstance(loaded.model, UnrestoredParam)
    assert_bitwise_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    with pytest.raises(ValueError, match=r"callbacks\[0\]= held a TerminateOnNaN callback instance"):
        loaded.fit(X, y)
    loaded.set_params(callbacks=None).fit(X, y)  # warm start: the builder is not needed
    loaded.set_params(warm_start=False)
    with pytest.raises(ValueError, match=r"model= held the function .*local_builder.*set_params\(model="):
        loaded.fit(X, y)


def test_builders_are_looked_up_only_in_imported_modules(fitted, tmp_path, monkeypatch):
    estimator, X, y = fitted
    save(estimator, tmp_path / "m.h5")
    monkeypatch.delitem(sys.modules, "persistence_helpers")
    with pytest.warns(UserWarning, match="persistence_helpers.*is not imported"):
        loaded = load(tmp_path / "m.h5")
    assert "persistence_helpers" not in sys.modules
    assert isinstance(loaded.model, UnrestoredParam)
    assert_bitwise_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    with pytest.raises(ValueError, match=r"trusted=\['persistence_helpers:build_model'\]"):
        loaded.fit(X, y)
    named = load(tmp_path / "m.h5", trusted=["persistence_helpers:build_model"])  # imports it
    assert named.model.__module__ == "persistence_helpers" and named.model.__name__ == "build_model"
    monkeypatch.delitem(sys.modules, "persistence_helpers")
    trusted = load(tmp_path / "m.h5", safe_mode=False)  # trusting the file allows the import
    assert trusted.model.__module__ == "persistence_helpers" and trusted.model.__name__ == "build_model"


def test_files_remember_the_estimator_class(tmp_path, monkeypatch):
    X, y = helpers.task_data("binary")
    estimator = helpers.MyClassifier(epochs=1, random_state=0, run_eagerly=True).fit(X, y)
    save(estimator, tmp_path / "m.keras")
    assert type(load(tmp_path / "m.keras", trusted=[helpers.MyClassifier])) is helpers.MyClassifier
    assert type(helpers.MyClassifier.load(tmp_path / "m.keras")) is helpers.MyClassifier
    # A user's class runs its own code at fit: loaded only when trusted.
    with pytest.warns(UserWarning, match=r"MyClassifier.*not trusted.*loading it as a KerasClassifier"):
        assert type(load(tmp_path / "m.keras")) is KerasClassifier
    monkeypatch.delitem(sys.modules, "persistence_helpers")
    with pytest.warns(UserWarning, match="MyClassifier.*not imported.*loading it as a KerasClassifier"):
        fallback = load(tmp_path / "m.keras")
    assert type(fallback) is KerasClassifier
    assert_bitwise_equal(fallback.predict_proba(X), estimator.predict_proba(X))


def _lambda_model(meta):
    inputs = keras.Input(shape=(meta["n_features_in_"],))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(doubled))


@pytest.mark.parametrize("suffix", (".h5", ".keras"))
def test_lambda_layers_are_refused_unless_trusted(tmp_path, suffix):
    X, y = helpers.task_data("binary")
    estimator = KerasClassifier(model=_lambda_model, epochs=1, random_state=0, run_eagerly=True).fit(X, y)
    path = tmp_path / f"m{suffix}"
    save(estimator, path)
    with pytest.raises(ModelFileError, match=r"Lambda.*safe_mode=False") as info:
        load(path)
    assert str(path) in str(info.value)
    trusted = load(path, safe_mode=False)
    assert_bitwise_equal(trusted.predict_proba(X), estimator.predict_proba(X))


# ---------------------------------------------------------------- atomic writes
def _fail(error):
    def fail(*args, **kwargs):
        raise error
    return fail


def _after(real, error):
    """Run the real writer, then fail: the temporary file is complete but unpublished."""
    def wrapper(*args, **kwargs):
        real(*args, **kwargs)
        raise error
    return wrapper


def _injections(suffix):
    from keras.src.legacy.saving import legacy_h5_format

    disk_full = OSError(errno.ENOSPC, "No space left on device")
    points = {
        "cannot-create-temp": (os, "open", _fail(PermissionError(errno.EACCES, "Permission denied"))),
        "fsync-disk-full": (os, "fsync", _fail(disk_full)),
        "rename-permission": (os, "replace", _fail(PermissionError(errno.EACCES, "Permission denied"))),
    }
    writer = files.write_h5 if suffix == ".h5" else files.write_keras
    points["interrupted"] = (files, writer.__name__, _after(writer, KeyboardInterrupt()))
    if suffix == ".h5":
        points["keras-writer"] = (legacy_h5_format, "save_model_to_hdf5",
                                  _after(legacy_h5_format.save_model_to_hdf5, RuntimeError("boom")))
        points["state-dataset"] = (h5py.Group, "create_dataset",
                                   _wrap_state_write(h5py.Group.create_dataset, disk_full))
    else:
        points["keras-writer"] = (keras.saving, "save_model", _after(keras.saving.save_model, RuntimeError("boom")))
        points["state-member"] = (zipfile.ZipFile, "writestr", _fail(disk_full))
    return points


def _wrap_state_write(real, error):
    def create_dataset(self, name, *args, **kwargs):
        if name == persistence.H5_STATE_DATASET:
            raise error
        return real(self, name, *args, **kwargs)
    return create_dataset


@pytest.mark.parametrize("suffix", (".h5", ".keras"))
def test_failed_writes_leave_the_existing_file_untouched(fitted, tmp_path, monkeypatch, suffix):
    estimator, X, _ = fitted
    path = tmp_path / f"model{suffix}"
    save(estimator, path)
    digest = file_digest(path)
    for point, (owner, name, replacement) in _injections(suffix).items():
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, replacement)
            with pytest.raises((OSError, RuntimeError, KeyboardInterrupt)):
                save(estimator, path)
        assert file_digest(path) == digest, point
        assert sorted(os.listdir(tmp_path)) == [path.name], point
    assert_bitwise_equal(load(path).predict(X), estimator.predict(X))


def test_successful_write_replaces_the_file_with_normal_permissions(fitted, tmp_path):
    estimator, X, y = fitted
    path = tmp_path / "model.keras"
    path.write_bytes(b"old contents")
    save(estimator, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]
    assert_bitwise_equal(load(path).predict(X), estimator.predict(X))


def test_save_refuses_unfitted_estimators_and_unknown_suffixes(fitted, tmp_path):
    with pytest.raises(NotFittedError, match="pickle/joblib"):
        save(KerasClassifier(), tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"suffix '.pkl'.*\.h5.*\.keras"):
        save(fitted[0], tmp_path / "m.pkl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(fitted[0], tmp_path / "missing" / "m.h5")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- broken files
@pytest.fixture(scope="module")
def good_files(fitted, tmp_path_factory):
    directory = tmp_path_factory.mktemp("good")
    paths = {}
    for suffix in (".h5", ".keras"):
        paths[suffix] = directory / f"m{suffix}"
        save(fitted[0], paths[suffix])
    return paths


def _truncated(data):
    return data[: len(data) // 2]


def _corrupted(data):
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def _bad_superblock(data):
    return data[:8] + b"\x00" * 56 + data[64:]


# HDF5 keeps no checksum of its data: bytes flipped inside the weights of an .h5 go
# unnoticed (by Keras and h5py too), so only the zip format is tested for them.
@pytest.mark.parametrize("suffix, damage", [
    (".h5", _truncated), (".h5", _bad_superblock),
    (".keras", _truncated), (".keras", _bad_superblock), (".keras", _corrupted),
], ids=("h5-truncated", "h5-header", "keras-truncated", "keras-header", "keras-corrupted"))
def test_damaged_files_raise_one_clear_error(good_files, tmp_path, suffix, damage):
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(damage(good_files[suffix].read_bytes()))
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert any(word in str(info.value) for word in ("truncated", "corrupted", "HDF5", "zip"))


@pytest.mark.parametrize("contents, problem", [
    (b"", "empty"),
    (b"this is not a model" * 10, "neither an HDF5"),
])
def test_files_of_other_kinds_are_refused(tmp_path, contents, problem):
    path = tmp_path / "model.h5"
    path.write_bytes(contents)
    with pytest.raises(ModelFileError, match=problem):
        load(path)


def test_plain_keras_and_foreign_files_are_refused_with_advice(tmp_path):
    model = helpers.model_instance("binary")
    for name in ("plain.h5", "plain.keras"):
        keras.saving.save_model(model, tmp_path / name)
        with pytest.raises(ModelFileError, match=r"Keras model without skkeras .*from_model"):
            load(tmp_path / name)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.arange(3)
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    for name in ("other.h5", "other.keras"):
        with pytest.raises(ModelFileError, match="not written by skkeras.save"):
            load(tmp_path / name)


def test_newer_format_versions_are_refused(fitted, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(state_module, "FORMAT_VERSION", persistence.FORMAT_VERSION + 1)
        patch.setattr(files, "FORMAT_VERSION", persistence.FORMAT_VERSION + 1)
        for suffix in (".h5", ".keras"):
            save(fitted[0], tmp_path / f"new{suffix}")
    for suffix in (".h5", ".keras"):
        with pytest.raises(ModelFileError, match=r"format version 2.*Upgrade skkeras"):
            load(tmp_path / f"new{suffix}")


@pytest.mark.parametrize("state, problem", [
    ("{not json", "not valid JSON"),
    ('{"format": "other"}', "not a skkeras estimator description"),
    ('{"format": "skkeras", "format_version": 1}', "lacks the 'estimator' section"),
    ('{"format": "skkeras", "format_version": 1, "estimator": {"kind": "classifier"}, "params": '
     '{"model": {"__skkeras__": "exec"}}, "fitted": {}, "keras": {}}', "parameter 'model'.*value of type 'exec'"),
])
def test_bad_states_are_refused(good_files, tmp_path, state, problem):
    path = tmp_path / "m.h5"
    path.write_bytes(good_files[".h5"].read_bytes())
    with h5py.File(path, "a") as f:
        del f[persistence.H5_STATE_DATASET]
        f.create_dataset(persistence.H5_STATE_DATASET, data=state, dtype=h5py.string_dtype())
    with pytest.raises(ModelFileError, match=problem):
        load(path)


# ------------------------------------------------------------------ from_model
def test_from_model_wraps_trained_models(tmp_path):
    X, y = helpers.task_data("strings")
    source = helpers.make_estimator("instance", "strings").fit(X, y)
    keras.saving.save_model(source.model_, tmp_path / "plain.h5")

    wrapped = KerasClassifier.from_model(source.model_, classes=["cat", "dog", "emu"])
    from_file = KerasClassifier.from_model(tmp_path / "plain.h5", classes=["cat", "dog", "emu"])
    for estimator in (wrapped, from_file):
        assert_bitwise_equal(estimator.predict_proba(X), source.predict_proba(X))
        assert_bitwise_equal(estimator.predict(X), source.predict(X))
        assert estimator.score(X, y) == source.score(X, y) and estimator.n_features_in_ == 4
    pipeline = make_pipeline(StandardScaler(), wrapped)
    pipeline.steps[0][1].fit(X)
    assert pipeline.predict(X).shape == (len(X),)
    wrapped.partial_fit(X, y)  # continues training the wrapped model

    save(wrapped, tmp_path / "wrapped.keras")
    loaded = load(tmp_path / "wrapped.keras")
    assert loaded.model is loaded.model_
    assert_bitwise_equal(loaded.predict_proba(X), wrapped.predict_proba(X))


def test_from_model_target_kinds():
    X, y = helpers.task_data("binary")
    binary = KerasClassifier.from_model(helpers.model_instance("binary"))
    assert binary.classes_.tolist() == [0, 1] and binary.predict_proba(X).shape == (40, 2)
    multilabel = KerasClassifier.from_model(helpers.model_instance("multilabel"), multilabel=True)
    assert multilabel.predict(X).shape == (40, 3)
    regressor = KerasRegressor.from_model(helpers.model_instance("regression"))
    assert regressor.predict(X).shape == (40,)
    multi = KerasRegressor.from_model(helpers.model_instance("multioutput"), feature_names=list("abcd"))
    assert multi.predict(pd.DataFrame(X, columns=list("abcd"))).shape == (40, 2)
    regressor.partial_fit(X, y.astype(np.float32))  # an uncompiled model is compiled for training


def test_from_model_explains_mismatches():
    with pytest.raises(ValueError, match="sorted and distinct"):
        KerasClassifier.from_model(helpers.model_instance("multiclass"), classes=["b", "a", "c"])
    with pytest.raises(ValueError, match="3 outputs per sample but 2 classes"):
        KerasClassifier.from_model(helpers.model_instance("multiclass"), classes=["a", "b"])
    with pytest.raises(ValueError, match="takes no classes"):
        KerasRegressor.from_model(helpers.model_instance("regression"), classes=[0, 1])
    with pytest.raises(ValueError, match="keras.Model or the path"):
        KerasRegressor.from_model(object())

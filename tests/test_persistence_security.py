"""Hostile files: skkeras.load must run no code a file names (issue 13).

Each test edits the JSON state of a real file written by skkeras.save (the zip member
skkeras.json of a .keras file, the dataset skkeras_state of an .h5 file) the way an
attacker would, then loads it and uses the estimator (predict, score, fit, partial_fit,
pickling, garbage collection). A payload that ran would create a marker file; none may
appear, and the error or warning must name the offending entry.
"""

from __future__ import annotations

import copy
import gc
import pickle
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import persistence_helpers as helpers
import pytest

from skkeras import KerasClassifier, KerasRegressor
from skkeras.persistence import ModelFileError, UnrestoredParam, load, save, untrusted_references

EVIL_MODULE = "skkeras_evil_payload"


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """ONE tiny fitted classifier, saved in both formats; tests copy and edit its files."""
    directory = tmp_path_factory.mktemp("honest")
    X, y = helpers.task_data("binary", n=24, n_features=3)
    estimator = KerasClassifier(
        model=helpers.build_model, hidden=2, epochs=1, batch_size=12, random_state=0,
        callbacks=[keras.callbacks.EarlyStopping], callbacks__monitor="loss",
    ).fit(X, y)
    files = {}
    for suffix in (".keras", ".h5"):
        files[suffix] = directory / f"honest{suffix}"
        save(estimator, files[suffix])
    # A module that is not imported yet and would leave a marker when imported.
    import_marker = directory / "imported"
    (directory / f"{EVIL_MODULE}.py").write_text(
        f"open({str(import_marker)!r}, 'w').close()\n"
        "def build(*args, **kwargs):\n"
        f"    open({str(import_marker)!r}, 'w').close()\n"
    )
    sys.path.insert(0, str(directory))
    yield {"files": files, "X": X, "y": y, "estimator": estimator, "import_marker": import_marker}
    sys.path.remove(str(directory))


def hostile(honest, tmp_path, suffix, edit, member="skkeras.json"):
    """A copy of the honest file whose state (or another JSON member) ``edit`` changed."""
    source = honest["files"][suffix]
    state = helpers.read_state(source) if member == "skkeras.json" else helpers.read_keras_member(source, member)
    edit(state)
    target = tmp_path / f"hostile{suffix}"
    helpers.write_state(source, target, state, member)
    return target


def ref(name):
    return {"__skkeras__": "import", "name": name}


def exercise(estimator, honest, fit_raises=True):
    """Everything a user does with a loaded estimator; training may refuse, nothing may run."""
    X, y = honest["X"], honest["y"]
    estimator.predict(X)
    estimator.predict_proba(X)
    estimator.score(X, y)
    if fit_raises:
        with pytest.raises(ValueError):
            estimator.fit(X, y)
    else:
        try:
            estimator.fit(X, y)
        except ValueError:
            pass
    try:
        estimator.partial_fit(X, y)
    except ValueError:
        pass
    copy.deepcopy(estimator)
    pickle.loads(pickle.dumps(estimator)).predict(X)


def assert_nothing_ran(honest, marker):
    gc.collect()
    assert not Path(marker).exists(), "a payload from the file ran"
    assert not honest["import_marker"].exists(), "a module named by the file was imported"
    assert EVIL_MODULE not in sys.modules


# ------------------------------------------------------------ references to code
# Each reference with the keyword arguments that would make it leave the marker.
PAYLOADS = {
    "os:system": lambda m: {"command": f"touch {m}"},
    "subprocess:Popen": lambda m: {"args": ["touch", str(m)]},
    "builtins:eval": lambda m: {"source": f"open({str(m)!r}, 'w')"},
    "builtins:exec": lambda m: {"source": f"open({str(m)!r}, 'w')"},
    "importlib:import_module": lambda m: {"name": EVIL_MODULE},
    f"{EVIL_MODULE}:build": lambda m: {"path": str(m)},
    "zipfile:ZipFile": lambda m: {"file": str(m), "mode": "w"},  # a stdlib gadget: creates its file
    # Public Keras objects that are not trusted by default: they touch files.
    "keras.src.utils.file_utils:get_file": lambda m: {"fname": str(m), "origin": f"file://{__file__}"},
    "keras.src.callbacks.csv_logger:CSVLogger": lambda m: {"filename": str(m)},
    # A skkeras function that is not a parameter value (it writes files).
    "skkeras.persistence.loading:save": lambda m: {"path": str(m)},
}


def _slot(params, slot, reference, kwargs):
    """Put ``reference`` where parameter ``slot`` holds code, with routed arguments.
    Returns the name the warning gives the parameter."""
    if slot in ("model", "build_fn"):
        params["model"], params["build_fn"] = None, None
        params[slot] = ref(reference)
        params.update({f"model__{k}": v for k, v in kwargs.items()})
        return f"{slot}="
    if slot in ("optimizer", "loss"):
        params[slot] = ref(reference)
        params.update({f"{slot}__{k}": v for k, v in kwargs.items()})
        return f"{slot}="
    if slot == "metrics":
        params["metrics"] = [ref(reference)]
        params.update({f"metrics__0__{k}": v for k, v in kwargs.items()})
        return "metrics[0]="
    if slot == "callbacks":
        params["callbacks"] = [ref(reference)]
        params.update({f"callbacks__{k}": v for k, v in kwargs.items()})
        return "callbacks[0]="
    if slot == "callbacks-dict":
        params["callbacks"] = {"evil": ref(reference)}
        params.update({f"callbacks__evil__{k}": v for k, v in kwargs.items()})
        return "callbacks['evil']="
    if slot in ("fit__callbacks", "compile__loss"):
        params[slot] = [ref(reference)] if slot == "fit__callbacks" else ref(reference)
        return f"{slot}"
    raise ValueError(slot)


SLOTS = ("model", "build_fn", "optimizer", "loss", "metrics", "callbacks", "callbacks-dict",
         "fit__callbacks", "compile__loss")
# Every reference through the callbacks (a class called with the file's arguments), and two
# references through every slot; .h5 files through every slot once.
CASES = sorted(
    {(".keras", "callbacks", name) for name in PAYLOADS}
    | {(".keras", slot, name) for slot in SLOTS for name in ("subprocess:Popen", "zipfile:ZipFile")}
    | {(".h5", slot, "os:system") for slot in SLOTS}
)


@pytest.mark.parametrize("suffix, slot, reference", CASES, ids=["-".join(c) for c in CASES])
def test_references_to_code_stay_placeholders(honest, tmp_path, suffix, slot, reference):
    marker = tmp_path / "pwned"
    shown = {}

    def edit(state):
        shown["name"] = _slot(state["params"], slot, reference, PAYLOADS[reference](marker))

    path = hostile(honest, tmp_path, suffix, edit)
    assert reference in untrusted_references(path)
    with pytest.warns(UserWarning, match="not restored") as record:
        estimator = load(path)
    message = " ".join(str(w.message) for w in record)
    assert shown["name"] in message and reference in message
    assert "trusted=" in message
    exercise(estimator, honest)
    del estimator
    assert_nothing_ran(honest, marker)


@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_references_that_reach_through_modules_are_refused(honest, tmp_path, suffix):
    """A reference must be the object's own name: skkeras.persistence.files:os.system
    reaches os.system through a module attribute, keras.src...:os through Keras."""
    marker = tmp_path / "pwned"
    names = ["skkeras.persistence.files:os.system", "keras.src.saving.saving_lib:os.system",
             "keras.src.layers.core.dense:Dense.__init__.__globals__", "keras.layers:Dense"]

    def edit(state):
        state["params"]["callbacks"] = [ref(name) for name in names]
        state["params"]["callbacks__command"] = f"touch {marker}"

    with pytest.warns(UserWarning) as record:
        estimator = load(hostile(honest, tmp_path, suffix, edit))
    message = " ".join(str(w.message) for w in record)
    for i in range(len(names)):
        assert isinstance(estimator.callbacks[i], UnrestoredParam), names[i]
        assert f"callbacks[{i}]=" in message
    exercise(estimator, honest)
    assert_nothing_ran(honest, marker)


# ------------------------------------------------------- the fitted section's names
FITTED_ATTACKS = {
    "__class__": ref("zipfile:ZipFile"),
    "__dict__": {"fp": None, "_fileRefCnt": 1},
    "predict_proba": ref("os:system"),
    "decision_function": ref("builtins:eval"),
    "score": 1,
    "_private": 1,
    "_extra_params": {"model": ref("os:system")},
    "_deferred_model_": 1,
    "model_": 1,
    "classes_": ref("subprocess:Popen"),
    "history_": {"__skkeras__": "keras", "config": {"module": "os", "class_name": "system", "config": {}}},
    "n_features_in_": "three",
    "target_": {"__skkeras__": "dataclass", "class": "skkeras.training:TrainingJob", "fields": {}},
    "not_fitted": 1,
}


@pytest.mark.parametrize("suffix", (".keras", ".h5"))
@pytest.mark.parametrize("name", FITTED_ATTACKS)
def test_fitted_names_outside_the_schema_are_refused(honest, tmp_path, suffix, name):
    def edit(state):
        state["fitted"][name] = FITTED_ATTACKS[name]

    with pytest.raises(ModelFileError, match=f"fitted attribute '{name}'"):
        load(hostile(honest, tmp_path, suffix, edit))
    assert_nothing_ran(honest, tmp_path / "pwned")


def test_stdlib_gadget_through_class_and_private_attributes_is_refused(honest, tmp_path):
    """__class__ set to zipfile.ZipFile with the private attributes its finaliser reads."""
    marker = tmp_path / "pwned"

    def edit(state):
        state["fitted"].update({
            "__class__": ref("zipfile:ZipFile"), "_fileRefCnt": 1, "_filePassed": 0,
            "fp": None, "filename": str(marker), "mode": "w", "_didModify": True,
        })

    with pytest.raises(ModelFileError, match="__class__"):
        load(hostile(honest, tmp_path, ".keras", edit))
    assert_nothing_ran(honest, marker)


def test_unknown_public_fitted_names_are_ignored_with_a_warning(honest, tmp_path):
    def edit(state):
        state["fitted"]["added_by_a_newer_skkeras_"] = 3

    with pytest.warns(UserWarning, match="added_by_a_newer_skkeras_.*ignored"):
        estimator = load(hostile(honest, tmp_path, ".keras", edit))
    assert not hasattr(estimator, "added_by_a_newer_skkeras_")
    estimator.predict(honest["X"])


def test_subclasses_declare_their_fitted_attributes(honest, tmp_path):
    class WithVocabulary(KerasClassifier):
        _fitted_schema = {"vocabulary_": np.ndarray}

    def edit(state):
        state["fitted"]["vocabulary_"] = {"__skkeras__": "ndarray", "dtype": "<U1", "shape": [2], "data": ["a", "b"]}

    path = hostile(honest, tmp_path, ".keras", edit)
    loaded = WithVocabulary.load(path, trusted=[helpers.build_model])
    assert loaded.vocabulary_.tolist() == ["a", "b"]

    def wrong(state):
        state["fitted"]["vocabulary_"] = "ab"

    with pytest.raises(ModelFileError, match="'vocabulary_' holds str, but must be ndarray"):
        WithVocabulary.load(hostile(honest, tmp_path, ".keras", wrong))


# --------------------------------------------------------------- parameter names
@pytest.mark.parametrize("name, problem", [
    ("__class__", "not a parameter name"),
    ("_extra_params", "not a parameter name"),
    ("predict_proba", "method or attribute"),
    ("fit", "method or attribute"),
    ("no_such_parameter", "Invalid parameter"),
])
def test_parameter_names_are_validated_like_set_params(honest, tmp_path, name, problem):
    def edit(state):
        state["params"][name] = ref("os:system")

    # The builder's signature (trusted here) says which extra names it takes.
    with pytest.raises(ModelFileError, match=f"(?s)'{name}'.*{problem}"):
        load(hostile(honest, tmp_path, ".keras", edit), trusted=[helpers.build_model])


# ------------------------------------------------------- Keras configs in the state
KERAS_CONFIGS = {
    "os": {"module": "os", "class_name": "system", "config": {"command": "touch {m}"}},
    "subprocess": {"module": "subprocess", "class_name": "Popen", "config": {"args": ["touch", "{m}"]}},
    "builtins": {"module": "builtins", "class_name": "function", "config": "eval"},
    "importlib": {"module": "importlib", "class_name": "function", "config": "import_module",
                  "registered_name": "import_module"},
    "keras-non-modelling": {"module": "keras.utils", "class_name": "function", "config": "get_file"},
}


def _with_marker(config, marker):
    import json

    return json.loads(json.dumps(config).replace("{m}", str(marker)))


@pytest.mark.parametrize("kind", KERAS_CONFIGS)
def test_keras_configs_in_parameters_cannot_import_or_call(honest, tmp_path, kind):
    marker = tmp_path / "pwned"
    config = _with_marker(KERAS_CONFIGS[kind], marker)

    def edit(state):
        state["params"]["optimizer"] = {"__skkeras__": "keras", "config": config}
        state["params"]["loss"] = {"__skkeras__": "keras", "config": config}
        state["params"]["metrics"] = [{"__skkeras__": "keras", "config": config}]

    with pytest.warns(UserWarning, match=r"(?=.*optimizer=)(?=.*loss=)(?=.*metrics\[0\]=)"):
        estimator = load(hostile(honest, tmp_path, ".keras", edit))
    assert isinstance(estimator.optimizer, UnrestoredParam)
    exercise(estimator, honest)
    assert_nothing_ran(honest, marker)


@pytest.mark.parametrize("suffix", (".keras", ".h5"))
@pytest.mark.parametrize("kind", ("os", "subprocess", "builtins"))
def test_compile_configs_cannot_import_or_call(honest, tmp_path, suffix, kind):
    """The compile configuration Keras reads (config.json of a .keras file, the state of an .h5)."""
    marker = tmp_path / "pwned"
    config = _with_marker(KERAS_CONFIGS[kind], marker)
    if suffix == ".keras":
        def edit(model_config):
            model_config["compile_config"]["optimizer"] = config
            model_config["compile_config"]["loss"] = config

        path = hostile(honest, tmp_path, suffix, edit, member="config.json")
    else:
        def edit(state):
            state["keras"]["compile_config"]["optimizer"] = config
            state["keras"]["compile_config"]["loss"] = config

        path = hostile(honest, tmp_path, suffix, edit)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        estimator = load(path)
    assert any("could not be compiled" in str(w.message) or "compil" in str(w.message) for w in record)
    exercise(estimator, honest)
    assert_nothing_ran(honest, marker)


# ------------------------------------------------------------ the estimator section
@pytest.mark.parametrize("section, problem", [
    ({"class": "subprocess:Popen"}, "not a skkeras estimator"),
    ({"class": "skkeras.persistence.loading:save", "kind": "classifier"}, "not a skkeras estimator"),
    ({"class": "skkeras.wrappers:KerasRegressor", "kind": "classifier"}, "is not a classifier"),
    ({"class": "skkeras.wrappers:KerasClassifier", "kind": "classifier", "module": "os"}, "unknown entry 'module'"),
    ({"class": ["os", "system"], "kind": "classifier"}, "'class' holds list"),
    ({"class": "skkeras.wrappers:KerasClassifier", "kind": "trojan"}, "kind 'trojan' is unknown"),
])
def test_estimator_section_is_validated(honest, tmp_path, section, problem):
    def edit(state):
        state["estimator"] = section

    with pytest.raises(ModelFileError, match=problem):
        load(hostile(honest, tmp_path, ".keras", edit))


def test_untrusted_estimator_classes_fall_back_to_the_skkeras_class(honest, tmp_path):
    def edit(state):
        state["estimator"]["class"] = f"{EVIL_MODULE}:Estimator"

    path = hostile(honest, tmp_path, ".keras", edit)
    assert f"{EVIL_MODULE}:Estimator" in untrusted_references(path)
    with pytest.warns(UserWarning, match=f"{EVIL_MODULE}:Estimator.*not imported.*KerasClassifier"):
        estimator = load(path)
    assert type(estimator) is KerasClassifier
    assert_nothing_ran(honest, tmp_path / "pwned")


@pytest.mark.parametrize("section, problem", [
    ({"compile_config": "os:system"}, "'compile_config' holds str"),
    ({"optimizer_built": True, "loader": "os:system"}, "unknown entry 'loader'"),
])
def test_keras_section_is_validated(honest, tmp_path, section, problem):
    def edit(state):
        state["keras"] = section

    with pytest.raises(ModelFileError, match=problem):
        load(hostile(honest, tmp_path, ".h5", edit))


# ----------------------------------------------------------------------- trusting
def test_trusted_restores_exactly_what_it_names(honest, tmp_path):
    counting = helpers.make_custom_callback_class()
    helpers.Counting = counting  # importable as persistence_helpers:Counting
    counting.__qualname__ = "Counting"
    X, y = honest["X"], honest["y"]
    estimator = KerasClassifier(model=helpers.build_model, hidden=2, epochs=1, random_state=0,
                                callbacks=[counting, keras.callbacks.CSVLogger],
                                callbacks__1__filename=str(tmp_path / "log.csv")).fit(X, y)
    path = tmp_path / "m.keras"
    save(estimator, path)
    (tmp_path / "log.csv").unlink()
    assert untrusted_references(path) == [
        "keras.src.callbacks.csv_logger:CSVLogger", "persistence_helpers:Counting",
        "persistence_helpers:build_model",
    ]
    assert untrusted_references(path, trusted=[helpers.build_model]) == [
        "keras.src.callbacks.csv_logger:CSVLogger", "persistence_helpers:Counting",
    ]
    with pytest.warns(UserWarning, match=r"(?=.*callbacks\[0\]=)(?=.*callbacks\[1\]=)"):
        partly = load(path, trusted=[helpers.build_model])
    assert partly.model is helpers.build_model
    assert all(isinstance(cb, UnrestoredParam) for cb in partly.callbacks)
    with pytest.raises(ValueError, match="callback"):
        partly.fit(X, y)
    with pytest.raises(ValueError, match="persistence_helpers:Counting"):
        # (callbacks__1__filename stays set, so a second callback must stay too)
        partly.set_params(callbacks=[partly.callbacks[0], keras.callbacks.CSVLogger]).fit(X, y)
    assert not (tmp_path / "log.csv").exists()  # the untrusted CSVLogger wrote nothing

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = KerasClassifier.load(path, trusted=[helpers.build_model, "persistence_helpers:Counting",
                                                   keras.callbacks.CSVLogger])
    assert full.callbacks == [counting, keras.callbacks.CSVLogger]
    full.fit(X, y)
    assert (tmp_path / "log.csv").exists()
    everything = load(path, safe_mode=False)  # for files you wrote: every reference is trusted
    assert everything.callbacks == [counting, keras.callbacks.CSVLogger]
    del helpers.Counting


def test_keras_registered_objects_are_trusted(honest, tmp_path):
    X, y = helpers.task_data("regression", n=24, n_features=3)

    @keras.saving.register_keras_serializable(package="skkeras_tests")
    def registered_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)

    registered_loss.__module__, registered_loss.__qualname__ = "persistence_helpers", "registered_loss"
    estimator = KerasRegressor(model__hidden_layer_sizes=(2,), loss=registered_loss, epochs=1,
                               random_state=0)
    helpers.registered_loss = registered_loss
    try:
        estimator.fit(X, y)
        save(estimator, tmp_path / "m.h5")
        assert untrusted_references(tmp_path / "m.h5") == []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = load(tmp_path / "m.h5")
        assert loaded.loss is registered_loss
        loaded.fit(X, y)
    finally:
        del helpers.registered_loss


@pytest.mark.parametrize("trusted, problem", [
    ("persistence_helpers:build_model", "must be a list"),
    (["not a reference"], "is not a reference"),
    ([42], "give functions, classes"),
])
def test_trusted_is_checked(honest, trusted, problem):
    with pytest.raises(ValueError, match=problem):
        load(honest["files"][".keras"], trusted=trusted)


def test_schema_holds_even_for_files_you_trust(honest, tmp_path):
    """safe_mode=False trusts references, never names: the schema still applies."""
    def edit(state):
        state["fitted"]["predict_proba"] = ref("os:system")

    with pytest.raises(ModelFileError, match="fitted attribute 'predict_proba'"):
        load(hostile(honest, tmp_path, ".h5", edit), safe_mode=False)


def test_from_model_refuses_code_in_an_h5_training_config(tmp_path):
    import json

    import h5py

    marker = tmp_path / "pwned"
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    path = tmp_path / "plain.h5"
    keras.saving.save_model(model, path)
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["training_config"])
        config["loss"] = _with_marker(KERAS_CONFIGS["os"], marker)
        config["optimizer_config"] = _with_marker(KERAS_CONFIGS["subprocess"], marker)
        f.attrs["training_config"] = json.dumps(config)
    with pytest.raises(ModelFileError, match=str(path)):
        KerasRegressor.from_model(path)
    gc.collect()
    assert not marker.exists()


def test_skkeras_estimator_classes_are_trusted_and_private_modules_are_not(honest, tmp_path):
    def public(state):
        state["estimator"]["class"] = "skkeras.scikeras.wrappers:KerasClassifier"

    loaded = load(hostile(honest, tmp_path, ".keras", public), trusted=[helpers.build_model])
    assert type(loaded).__module__ == "skkeras.scikeras.wrappers"

    def private(state):
        state["estimator"]["class"] = "skkeras.persistence.trust:_static_lookup"

    with pytest.warns(UserWarning, match="_static_lookup.*not trusted.*loading it as a KerasClassifier"):
        assert type(load(hostile(honest, tmp_path, ".keras", private))) is KerasClassifier


@pytest.mark.parametrize("obj, trusted", [
    (keras.layers.Dense, True), (keras.Model, True), (keras.optimizers.Adam, True),
    (keras.optimizers.schedules.ExponentialDecay, True), (keras.losses.mean_squared_error, True),
    (keras.losses.BinaryCrossentropy, True), (keras.callbacks.EarlyStopping, True),
    (keras.layers.Lambda, False), (keras.layers.TFSMLayer, False), (keras.losses.deserialize, False),
    (keras.layers.deserialize, False), (keras.utils.get_file, False), (keras.saving.load_model, False),
    (keras.config.enable_unsafe_deserialization, False), (keras.callbacks.CSVLogger, False),
    (keras.callbacks.ModelCheckpoint, False), (keras.callbacks.BackupAndRestore, False),
    (keras.callbacks.TensorBoard, False), (keras.callbacks.RemoteMonitor, False),
    (keras.callbacks.LambdaCallback, False), (eval, False), (pickle.loads, False),
    (helpers.build_model, False), (KerasClassifier, False),
], ids=lambda value: getattr(value, "__qualname__", str(value)))
def test_what_is_trusted_by_default(obj, trusted):
    from skkeras.building import build_mlp
    from skkeras.persistence.trust import Trust

    assert Trust().is_trusted(obj) is trusted
    assert Trust().is_trusted(build_mlp)
    assert Trust(trusted=[obj]).is_trusted(obj)
    assert Trust(safe_mode=False).is_trusted(obj)

"""Hostile files that try to reach past the trust list, read other files or exhaust memory.

Found by a red-team pass over skkeras.load: each test makes the file the way the attack
did (editing a real file written by skkeras.save), then checks that loading refuses it,
or loads it with the offending value as a placeholder, without doing what it asks.
"""

from __future__ import annotations

import os
import resource
import zipfile

import h5py
import numpy as np
import persistence_helpers as helpers
import pytest

from skkeras import KerasClassifier
from skkeras.persistence import ModelFileError, UnrestoredParam, load, save, untrusted_references


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """One tiny fitted classifier with a trained optimizer, saved in both formats."""
    directory = tmp_path_factory.mktemp("honest")
    X, y = helpers.task_data("binary", n=24, n_features=3)
    estimator = KerasClassifier(model__hidden_layer_sizes=(4,), epochs=2, batch_size=12,
                                random_state=0).fit(X, y)
    files = {suffix: directory / f"honest{suffix}" for suffix in (".keras", ".h5")}
    for path in files.values():
        save(estimator, path)
    return {"files": files, "X": X, "y": y}


def edited(honest, tmp_path, suffix, edit):
    state = helpers.read_state(honest["files"][suffix])
    edit(state)
    target = tmp_path / f"hostile{suffix}"
    helpers.write_state(honest["files"][suffix], target, state)
    return target


def peak_rss_grows_by(megabytes: float):
    """A check that the process's peak memory grew by less than ``megabytes``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < megabytes


# ------------------------------------------------------ Keras configs in parameters
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_a_keras_function_config_cannot_smuggle_in_a_callback_class(honest, tmp_path, suffix):
    """Keras's "function" configs reach any public Keras name: CSVLogger, given a file to
    write, must not arrive as a trusted class through them."""
    victim = tmp_path / "victim.txt"

    def edit(state):
        state["params"]["callbacks"] = [{"__skkeras__": "keras", "config": {
            "module": "keras.callbacks", "class_name": "function", "config": "CSVLogger",
            "registered_name": None}}]
        state["params"]["callbacks__filename"] = str(victim)

    with pytest.warns(UserWarning, match=r"callbacks\[0\]=.*this config makes the class .*CSVLogger"):
        loaded = load(edited(honest, tmp_path, suffix, edit))
    assert isinstance(loaded.callbacks[0], UnrestoredParam)
    loaded.predict(honest["X"])
    with pytest.raises(ValueError, match="was not restored"):
        loaded.fit(honest["X"], honest["y"])
    assert not victim.exists()


@pytest.mark.parametrize("dtype", ["S2000000000", "U500000000", "O"])
def test_arrays_in_keras_configs_must_hold_numbers(honest, tmp_path, dtype):
    def edit(state):
        state["params"]["loss"] = {"__skkeras__": "keras", "config": {
            "class_name": "__numpy__", "config": {"value": ["a"], "dtype": dtype}}}

    small = peak_rss_grows_by(500)
    with pytest.warns(UserWarning, match="loss= .*holds an array of dtype"):
        loaded = load(edited(honest, tmp_path, ".keras", edit))
    assert isinstance(loaded.loss, UnrestoredParam) and small()


# ------------------------------------------------------ arrays in the state
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_a_string_dtype_cannot_declare_gigabytes(honest, tmp_path, suffix):
    def edit(state):
        state["fitted"]["classes_"] = {"__skkeras__": "ndarray", "dtype": "S2000000000",
                                       "shape": [2], "data": ["a", "b"]}

    small = peak_rss_grows_by(500)
    with pytest.raises(ModelFileError, match="classes_.*wider than 65536 bytes an element"):
        load(edited(honest, tmp_path, suffix, edit))
    assert small()


def test_the_states_arrays_share_one_memory_budget(honest, tmp_path):
    """Each string type allowed (64 KiB an element), but 5,000 of them would take 320 MB."""
    def edit(state):
        state["fitted"]["classes_"] = {"__skkeras__": "ndarray", "dtype": "<U16384",
                                       "shape": [5000], "data": ["a"] * 5000}

    small = peak_rss_grows_by(200)
    with pytest.raises(ModelFileError, match="arrays take more than 268435456 bytes"):
        load(edited(honest, tmp_path, ".keras", edit))
    assert small()


# ------------------------------------------------------ HDF5: data from elsewhere
def optimizer_dataset(f):
    names = [n.decode() if isinstance(n, bytes) else n
             for n in f["optimizer_weights"].attrs["weight_names"]]
    return next(n for n in names if f["optimizer_weights"][n].ndim == 2)


def test_h5_optimizer_values_cannot_come_from_another_file(honest, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"SECRET-KEY-MATERIAL-" * 100)
    target = tmp_path / "hostile.h5"
    target.write_bytes(honest["files"][".h5"].read_bytes())
    with h5py.File(target, "a") as f:
        group = f["optimizer_weights"]
        name = optimizer_dataset(f)
        shape = group[name].shape
        del group[name]
        group.create_dataset(name, shape=shape, dtype="<f4",
                             external=[(str(secret), 0, 4 * int(np.prod(shape)))])
    with pytest.warns(UserWarning, match="takes its values from another file"):
        loaded = load(target)
    resaved = tmp_path / "resaved.keras"
    save(loaded, resaved)
    with zipfile.ZipFile(resaved) as archive:
        assert b"SECRET-KEY" not in archive.read("model.weights.h5")


def test_h5_optimizer_values_are_checked_before_they_are_read(honest, tmp_path):
    """A dataset that declares 60,000 x 60,000 floats (14 GB), with nothing stored."""
    target = tmp_path / "hostile.h5"
    target.write_bytes(honest["files"][".h5"].read_bytes())
    with h5py.File(target, "a") as f:
        name = optimizer_dataset(f)
        del f["optimizer_weights"][name]
        f["optimizer_weights"].create_dataset(name, shape=(60_000, 60_000), dtype="<f4")
    small = peak_rss_grows_by(500)
    with pytest.warns(UserWarning, match="declares 14400000000 bytes"):
        load(target).predict(honest["X"])
    assert small()


@pytest.mark.parametrize("link", ["external", "fifo", "soft"])
def test_h5_state_must_be_stored_in_the_file(honest, tmp_path, link):
    """An external link could read another file's state, or block on a FIFO forever."""
    other = tmp_path / "other.h5"
    other.write_bytes(honest["files"][".h5"].read_bytes())
    target = tmp_path / "hostile.h5"
    target.write_bytes(honest["files"][".h5"].read_bytes())
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with h5py.File(target, "a") as f:
        del f["skkeras_state"]
        if link == "soft":
            f["skkeras_state"] = h5py.SoftLink("/optimizer_weights")
        else:
            f["skkeras_state"] = h5py.ExternalLink(str(other if link == "external" else fifo),
                                                   "/skkeras_state")
    for read in (load, untrusted_references):
        with pytest.raises(ModelFileError, match="'skkeras_state' is a link"):
            read(target)


def test_h5_state_of_another_type_is_a_model_file_error(honest, tmp_path):
    target = tmp_path / "hostile.h5"
    target.write_bytes(honest["files"][".h5"].read_bytes())
    with h5py.File(target, "a") as f:
        del f["skkeras_state"]
        f.create_dataset("skkeras_state", data=f["optimizer_weights"].ref,
                         dtype=h5py.ref_dtype)
    for read in (load, untrusted_references):
        with pytest.raises(ModelFileError, match="skkeras_state is not a JSON string"):
            read(target)


# ------------------------------------------------------ zip members
def test_keras_config_members_have_a_size_limit(honest, tmp_path):
    """Keras reads config.json whole (up to 4 GiB); 80 MB of spaces compress to 80 kB."""
    source = honest["files"][".keras"]
    target = tmp_path / "hostile.keras"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename == "config.json":
                data = data + b" " * (80 * 2**20)
            new.writestr(info.filename, data)
    assert target.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="'config.json' declares more than 67108864 bytes"):
        load(target)
    with pytest.raises(ModelFileError, match="'config.json' declares more than"):
        KerasClassifier.from_model(target)
    assert untrusted_references(target) == []  # the state names nothing; config.json unread


# ------------------------------------------------------ saving over a file
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_saving_over_a_file_keeps_its_permissions(honest, tmp_path, suffix):
    target = tmp_path / f"private{suffix}"
    target.write_bytes(b"old")
    target.chmod(0o600)
    save(load(honest["files"][suffix]), target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert load(target).get_params()["epochs"] == 2


@pytest.mark.parametrize("where", ["directory", "/dev/null"])
def test_from_model_refuses_what_is_not_a_regular_file(tmp_path, where):
    path = tmp_path if where == "directory" else where
    with pytest.raises(ModelFileError, match="it is not a regular file"):
        KerasClassifier.from_model(path)
    with pytest.raises(FileNotFoundError):
        KerasClassifier.from_model(tmp_path / "missing.keras")

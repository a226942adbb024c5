"""Files on disk: interrupted saves, full disks, and files written by the previous release."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import resource
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import persistence_helpers as helpers
import pytest

from skkeras import KerasClassifier, KerasRegressor
from skkeras.persistence import ModelFileError, atomic, load, save

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "persistence"


@pytest.fixture(scope="module")
def estimator():
    """A small fitted classifier."""
    X, y = helpers.task_data("multiclass", n=24, n_features=3)
    return KerasClassifier(model__hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y)


def _written_by_newer_keras() -> str | None:
    import keras
    from packaging.version import Version

    writer = helpers.read_state(FIXTURES / "classifier.keras")["versions"]["keras"]
    return writer if Version(keras.__version__) < Version(writer) else None


def temp_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if atomic.TEMP_MARK in name)


# ---------------------------------------------------------- the previous release
@pytest.mark.skipif(_written_by_newer_keras() is not None,
                    reason="the fixtures were written by a newer Keras, whose configs older Keras "
                    "releases cannot read (Keras files are not forward compatible)")
@pytest.mark.parametrize("name", ("classifier", "regressor"))
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_files_written_before_issue_13_still_load_and_predict(name, suffix):
    X = np.load(FIXTURES / "X.npy")
    with np.load(FIXTURES / "expected.npz") as data:
        expected = {key: data[key] for key in data.files}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an honest, built-in-only file loads without a warning
        loaded = load(FIXTURES / f"{name}{suffix}")
    assert type(loaded) is (KerasClassifier if name == "classifier" else KerasRegressor)
    for method in ("predict", "predict_proba"):
        key = f"{name}{suffix}::{method}"
        if key in expected:
            got = np.asarray(getattr(loaded, method)(X))
            if got.dtype.kind in "US":
                np.testing.assert_array_equal(got, expected[key])
            else:  # one float32 ulp may differ between prediction paths
                np.testing.assert_allclose(got, expected[key], rtol=1e-6, atol=1e-6)
    assert loaded.n_features_in_ == 3 and loaded.history_["loss"]
    loaded.partial_fit(X, loaded.predict(X))  # the optimizer state came back too


# ------------------------------------------------------------- interrupted saves
@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked writers")
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_writers_killed_mid_save_leave_no_temporary_files_behind(estimator, tmp_path, suffix):
    """Ten writers, each saving in a loop, are SIGKILLed at random moments; temporary files
    never pile up (each save removes those of dead writers) and one more save leaves none."""
    target = tmp_path / f"model{suffix}"
    save(estimator, target)
    rng = random.Random(13)
    seen_left_behind = 0
    for _ in range(10):
        pid = os.fork()
        if pid == 0:  # the writer: save until killed
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    while True:
                        save(estimator, target)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.05, 0.5))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        left = temp_files(tmp_path)
        seen_left_behind += bool(left)
        assert len(left) <= 2, f"temporary files pile up: {left}"
    assert seen_left_behind, "no kill landed mid-save: the test proved nothing"
    save(estimator, target)
    assert temp_files(tmp_path) == []
    assert os.listdir(tmp_path) == [target.name]
    load(target).predict(helpers.task_data("multiclass", n=24, n_features=3)[0])


def test_stale_temporary_files_are_those_of_dead_or_old_writers(tmp_path):
    target = tmp_path / "model.keras"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    live = os.getppid()
    names = {
        "dead": f".model.keras{atomic.TEMP_MARK}{finished.pid}-aa.keras",
        "live": f".model.keras{atomic.TEMP_MARK}{live}-bb.keras",
        "live-but-old": f".model.keras{atomic.TEMP_MARK}{live}-cc.keras",
        "other-target": f".other.keras{atomic.TEMP_MARK}{finished.pid}-dd.keras",
        "not-ours": ".model.keras.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    old = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(tmp_path / names["live-but-old"], (old, old))
    removed = atomic.remove_stale_temp_files(target)
    assert sorted(removed) == sorted([names["dead"], names["live-but-old"]])
    assert sorted(os.listdir(tmp_path)) == sorted([names["live"], names["other-target"], names["not-ours"]])
    with pytest.raises(ModelFileError, match="temporary file of an interrupted skkeras.save"):
        load(tmp_path / names["live"])


# -------------------------------------------------------------------- full disk
@contextlib.contextmanager
def tiny_filesystem(directory: Path, size: str = "16k"):
    """A tmpfs of ``size`` at ``directory`` (needs root and mount rights)."""
    directory.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); "
                    "test_file_size_limit_says_file_too_large covers the writer side")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False)


@pytest.mark.parametrize("suffix", (".h5", ".keras"))
def test_a_full_disk_says_no_space_left_with_the_path(estimator, tmp_path, suffix):
    with tiny_filesystem(tmp_path / "full") as full:
        target = full / f"model{suffix}"
        with pytest.raises(OSError) as info:
            save(estimator, target)
        assert info.value.errno == errno.ENOSPC
        assert "no space left on device" in str(info.value) and str(target) in str(info.value)
        assert os.listdir(full) == []  # no temporary file left on the full disk


@pytest.mark.skipif(not hasattr(os, "fork"), reason="sets a file size limit in a forked child")
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
@pytest.mark.parametrize("limit", (4096, 8192, 12288))
def test_file_size_limit_says_file_too_large(estimator, tmp_path, suffix, limit):
    """RLIMIT_FSIZE (no root needed) makes writes fail with EFBIG, mapped like ENOSPC.
    At some limits libhdf5 writing the file itself crashed the process (in h5py's flush):
    the .h5 file is now built in memory and written by Python. A crash of the forked
    child reports nothing, which fails the test."""
    target = tmp_path / f"model{suffix}"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        outcome = "saved"
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            save(estimator, target)
        except OSError as error:
            outcome = f"{error.errno}|{error}"
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            outcome = f"other|{type(error).__name__}: {error}"
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    outcome = os.read(read, 100_000).decode()
    os.close(read)
    code, _, message = outcome.partition("|")
    assert code == str(errno.EFBIG), outcome
    assert "file too large" in message and str(target) in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("error", [
    # h5py's own words when HDF5 hits a full disk: the cause is only in the chain or the text.
    "context", "hdf5-text",
])
def test_hdf5_disk_errors_are_recognised(tmp_path, error):
    target = tmp_path / "model.h5"
    if error == "context":
        try:
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                raise RuntimeError("Can't destroy cache (slist already enabled?)")  # noqa: B904
        except RuntimeError as raised:
            failure = raised
    else:
        failure = RuntimeError("Can't decrement id ref count (file write failed: errno = 28, "
                               "error message = 'No space left on device')")
    mapped = atomic.disk_full_error(failure, target, tmp_path)
    assert mapped is not None and mapped.errno == errno.ENOSPC
    assert "no space left on device" in str(mapped) and str(target) in str(mapped)
    assert atomic.disk_full_error(RuntimeError("boom"), target, tmp_path) is None


# ---------------------------------------------------- refit after an uncompiled load
def test_fit_after_loading_an_h5_with_an_unregistered_loss(tmp_path):
    """The compile configuration names a custom loss that is neither registered nor trusted:
    the model predicts; continuing its training says which object to register or trust; a
    plain fit rebuilds from the (trusted) builder, and refuses the untrusted loss by name."""
    X, y = helpers.task_data("regression", n=24, n_features=3)
    original = KerasRegressor(model=helpers.build_model, hidden=2, loss=helpers.custom_loss,
                              epochs=1, random_state=0).fit(X, y)
    save(original, tmp_path / "m.h5")
    with pytest.warns(UserWarning, match="could not be compiled"):
        loaded = load(tmp_path / "m.h5", trusted=[helpers.build_model])
    np.testing.assert_allclose(loaded.predict(X), original.predict(X), rtol=1e-6)
    with pytest.raises(ValueError, match="persistence_helpers:custom_loss.*register"):
        loaded.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"loss= held persistence_helpers:custom_loss.*trusted="):
        loaded.fit(X, y)
    loaded.predict(X)  # the failed fits kept the fitted state

    trusted = load(tmp_path / "m.h5", trusted=[helpers.build_model, helpers.custom_loss])
    assert trusted.loss is helpers.custom_loss
    trusted.partial_fit(X, y)  # compiled from the file's configuration, custom loss included
    assert len(trusted.history_["loss"]) == 2
    trusted.fit(X, y)
    assert trusted.model_.loss is helpers.custom_loss

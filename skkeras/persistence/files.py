"""Reading and writing ``.h5`` and ``.keras`` files.

Writes go through :func:`.atomic.atomic_write` (a temporary file renamed over the
target); reads refuse those temporary files, check the format's signature, and
hand the skkeras state to :mod:`.state`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .atomic import TEMP_MARK, PathLike, is_temp_file
from .guards import (
    MAX_CONFIG_BYTES,
    check_zip_member,
    h5_stored_dataset,
    h5_stored_node,
    zip_member,
)
from .state import FORMAT_NAME, FORMAT_VERSION, ModelFileError, keras_safe_mode, parse_state

#: Where the estimator state lives in each kind of file.
H5_STATE_DATASET = "skkeras_state"
KERAS_STATE_MEMBER = "skkeras.json"

H5_SUFFIXES = (".h5", ".hdf5")
KERAS_SUFFIX = ".keras"

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
_MAX_STATE_BYTES = 256 * 2**20  # a state member larger than this is not ours



# ---------------------------------------------------------------------- writing
def writer_for(path: PathLike) -> tuple[Path, Callable[[Any, str, str], None]]:
    target = Path(os.path.realpath(os.fspath(path)))
    suffix = target.suffix.lower()
    if suffix in H5_SUFFIXES:
        return target, write_h5
    if suffix == KERAS_SUFFIX:
        return target, write_keras
    raise ValueError(
        f"Cannot save to {os.fspath(path)!r}: the suffix {target.suffix!r} names no format. "
        "Use .h5 (Keras's HDF5 layout) or .keras (Keras's zip format); for whole Pipelines "
        "use joblib.dump."
    )


def write_h5(model: Any, state_json: str, tmp: str) -> None:
    """The HDF5 file is built in memory and written in one Python write: libhdf5 writing
    to a disk that fills up can crash the process (seen in h5py's flush), where Python's
    write raises ``OSError(ENOSPC)``."""
    import h5py

    from .._keras_compat import legacy_h5_format

    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        with compile_config_protected(model):
            legacy_h5_format().save_model_to_hdf5(model, f, include_optimizer=True)
        f.create_dataset(H5_STATE_DATASET, data=state_json, dtype=h5py.string_dtype("utf-8"))
        f.attrs["skkeras_format"] = FORMAT_NAME
        f.attrs["skkeras_format_version"] = FORMAT_VERSION
    with open(tmp, "wb") as out:
        out.write(image.getbuffer())


def write_keras(model: Any, state_json: str, tmp: str) -> None:
    keras.saving.save_model(model, tmp)
    with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(KERAS_STATE_MEMBER, state_json)


def repair_compile_config(model: Any) -> None:
    """Put the optimizer back into a compile config that Keras's HDF5 writer emptied.

    ``keras.saving.save_model(model, "x.h5")`` pops "optimizer" from the model's
    own compile config (keras/src/legacy/saving/saving_utils.py, ``model_metadata``),
    after which the model pickles and saves as ``.keras`` with a default RMSprop
    and no optimizer state. The optimizer the model was compiled with is still
    ``model.optimizer``.
    """
    from .._keras_compat import compile_config_holder

    config = getattr(compile_config_holder(model), "config", None)
    optimizer = getattr(model, "optimizer", None)
    if isinstance(config, dict) and "optimizer" not in config and optimizer is not None and model.compiled:
        config["optimizer"] = optimizer


@contextlib.contextmanager
def compile_config_protected(model: Any) -> Iterator[None]:
    """Keras's HDF5 writer pops "optimizer" from the model's own compile config
    (keras/src/legacy/saving/saving_utils.py, ``model_metadata``), so a later
    ``.keras`` save or pickle would lose the optimizer: let it pop from a copy."""
    from .._keras_compat import compile_config_holder, set_compile_config_holder

    holder = compile_config_holder(model)
    if holder is None or not isinstance(getattr(holder, "config", None), dict):
        yield
        return
    shadow = copy.copy(holder)
    shadow.config = dict(holder.config)
    set_compile_config_holder(model, shadow)
    try:
        yield
    finally:
        set_compile_config_holder(model, holder)


# ---------------------------------------------------------------------- reading
def check_model_path(path: str) -> None:
    """A missing file is ``FileNotFoundError``; a directory, FIFO or device, ``ModelFileError``."""
    if not os.path.isfile(path):
        if os.path.exists(path):
            raise ModelFileError(path, "it is not a regular file.")
        raise FileNotFoundError(f"No such file: {path!r}")


def read_state_and_model(
    path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None
) -> tuple[dict, Any, bool]:
    """``(parsed state, Keras model, whether the model is compiled)`` from a skkeras file."""
    if is_temp_file(path):
        raise ModelFileError(
            path, "it is the temporary file of an interrupted skkeras.save (its name has "
            f"{TEMP_MARK!r}); load the file it was written for, or save again.",
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_SIGNATURE):
        return _read_h5(path, safe_mode, custom_objects)
    if head.startswith(ZIP_SIGNATURE):
        return _read_keras(path, safe_mode, custom_objects)
    if not head:
        raise ModelFileError(path, "the file is empty.")
    raise ModelFileError(
        path, "it is neither an HDF5 (.h5) nor a Keras zip (.keras) file; skkeras.load "
        "reads files written by skkeras.save (use joblib.load for joblib files).",
    )


def read_state(path: str) -> dict:
    """The parsed state alone, without building the Keras model."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_SIGNATURE):
        import h5py

        try:
            f = h5py.File(path, "r")
        except Exception as error:  # noqa: BLE001
            raise ModelFileError(path, f"it cannot be read as HDF5 (truncated or corrupted?): {error}") from None
        with f:
            return parse_state(path, _h5_state_bytes(path, f))
    if head.startswith(ZIP_SIGNATURE):
        return parse_state(path, _zip_state_bytes(path))
    raise ModelFileError(path, "it is neither an HDF5 (.h5) nor a Keras zip (.keras) file.")


def not_skkeras(path: str, is_keras_model: bool) -> ModelFileError:
    if is_keras_model:
        return ModelFileError(
            path, "it is a Keras model without skkeras estimator state. Wrap it with "
            "KerasClassifier.from_model(path, classes=...) or KerasRegressor.from_model(path).",
        )
    return ModelFileError(path, "it holds no skkeras estimator state: it was not written by skkeras.save.")


def keras_error(path: str, error: Exception) -> ModelFileError:
    text = str(error)
    if "safe_mode" in text or ("Lambda" in text and "unsafe" in text.lower()):
        return ModelFileError(
            path, "the model holds something Keras's safe mode refuses: Python code (a Lambda "
            "layer or function), which loading would run, or a layer that reads other files "
            "(TFSMLayer, a lookup layer's vocabulary file). If you trust the file, load it with "
            f"skkeras.load(path, safe_mode=False). Keras said: {text}",
        )
    return ModelFileError(path, f"Keras could not rebuild the model from it (corrupted, or custom "
                                f"objects missing: pass custom_objects=... or trusted=[...]): "
                                f"{type(error).__name__}: {text}")


def _h5_state_bytes(path: str, f: Any) -> Any:
    import h5py

    try:
        if f.get(H5_STATE_DATASET, getlink=True) is None:  # ``in`` would follow a link
            raise not_skkeras(path, "model_config" in f.attrs)
        dataset = h5_stored_dataset(f, H5_STATE_DATASET, _MAX_STATE_BYTES)
        if dataset.shape != () or h5py.check_string_dtype(dataset.dtype) is None:
            raise ValueError(f"{H5_STATE_DATASET} is not a JSON string")
        if dataset.id.get_storage_size() > _MAX_STATE_BYTES:
            raise ValueError("the state dataset is implausibly large")
        return dataset[()]
    except ModelFileError:
        raise
    except Exception as error:  # noqa: BLE001
        raise ModelFileError(path, f"its skkeras state cannot be read (corrupted?): {error}") from None


def _read_h5(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> tuple[dict, Any, bool]:
    import h5py

    from .._keras_compat import legacy_h5_format

    try:
        f = h5py.File(path, "r")
    except Exception as error:  # noqa: BLE001 - h5py raises OSError for truncated files
        raise ModelFileError(path, f"it cannot be read as HDF5 (truncated or corrupted?): {error}") from None
    with f:
        state = parse_state(path, _h5_state_bytes(path, f))
        try:
            model = legacy_h5_format().load_model_from_hdf5(
                f, custom_objects=dict(custom_objects or {}), compile=False, safe_mode=safe_mode
            )
        except Exception as error:  # noqa: BLE001
            raise keras_error(path, error) from error
        compiled = _compile_h5_model(path, model, f, state, safe_mode, custom_objects)
    return state, model, compiled


def _compile_h5_model(
    path: str, model: Any, f: Any, state: dict, safe_mode: bool, custom_objects: Mapping[str, Any] | None
) -> bool:
    """Compile the model as it was and restore its optimizer variables; False if it cannot be.

    Keras's own HDF5 loader builds the optimizer for the model's own trainable
    variables list (empty for a Functional model), so its optimizer state is dropped and further
    training fails; skkeras compiles from the compile config it stored and sets
    the optimizer variables from the file's ``optimizer_weights`` group itself.
    """
    compile_config = state["keras"].get("compile_config")
    if not compile_config:
        return False
    try:
        with keras_safe_mode(safe_mode), keras.saving.custom_object_scope(dict(custom_objects or {})):
            model.compile_from_config(compile_config)
    except Exception as error:  # noqa: BLE001
        warnings.warn(
            f"{path}: the model could not be compiled as it was ({error}); it predicts, but "
            "training it further needs the custom objects it names: register them with "
            "keras.saving.register_keras_serializable, or load with custom_objects=... or "
            "trusted=[...].",
            UserWarning, stacklevel=5,
        )
        return False
    if state["keras"].get("optimizer_built"):
        restore_h5_optimizer(path, model, f)
    return True


def restore_h5_optimizer(path: str, model: Any, f: Any) -> None:
    """Set the optimizer's variables from the ``optimizer_weights`` group of a Keras HDF5 file."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer_weights" not in f:
        return
    try:
        group = h5_stored_node(f, "optimizer_weights")
        names = [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        if len(names) <= 2 and not optimizer.built:
            return  # saved before its first step: only iterations and learning rate, nothing learnt
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        variables = list(optimizer.variables)
        if len(variables) != len(names):
            raise ValueError(f"{len(names)} saved values for {len(variables)} optimizer variables")
        # Each dataset checked (stored in this file, the variable's shape) before it is read.
        datasets = [h5_stored_dataset(group, name, 8 * max(1, math.prod(v.shape)))
                    for name, v in zip(names, variables, strict=True)]
        if any(tuple(v.shape) != d.shape for v, d in zip(variables, datasets, strict=True)):
            raise ValueError("the saved optimizer values do not have the variables' shapes")
        for variable, dataset in zip(variables, datasets, strict=True):
            variable.assign(np.asarray(dataset))
    except Exception as error:  # noqa: BLE001
        warnings.warn(
            f"{path}: the optimizer's state could not be restored ({error}); training "
            "continues from a fresh optimizer.", UserWarning, stacklevel=6,
        )


def load_keras_model(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> Any:
    """A model from a plain Keras file (for ``from_model``).

    HDF5 files are compiled from their training configuration with the optimizer
    state restored, which Keras's own HDF5 loader drops (see :func:`_compile_h5_model`).
    """
    with open(path, "rb") as f:
        head = f.read(8)
    custom = dict(custom_objects or {})
    if not head.startswith(HDF5_SIGNATURE):
        _check_keras_members(path)
    try:
        if not head.startswith(HDF5_SIGNATURE):
            return _load_keras_zip(path, safe_mode, custom_objects)
        import h5py

        from .._keras_compat import legacy_h5_format, legacy_saving_utils

        with h5py.File(path, "r") as f:
            model = legacy_h5_format().load_model_from_hdf5(
                f, custom_objects=custom, compile=False, safe_mode=safe_mode
            )
            training_config = f.attrs.get("training_config")
            if training_config is None:
                return model
            if isinstance(training_config, bytes):
                training_config = training_config.decode("utf-8")
            with keras_safe_mode(safe_mode):
                model.compile(**legacy_saving_utils().compile_args_from_training_config(
                    json.loads(training_config), custom
                ))
            restore_h5_optimizer(path, model, f)
            return model
    except Exception as error:  # noqa: BLE001
        raise keras_error(path, error) from error


def _zip_state_bytes(path: str) -> bytes:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelFileError(path, f"it is not a readable zip archive (truncated or corrupted?): {error}") from None
    with archive:
        names = archive.namelist()
        if KERAS_STATE_MEMBER not in names:
            raise not_skkeras(path, "config.json" in names)
        try:  # only the members read, as they are read (testzip would inflate every one)
            raw = zip_member(archive, KERAS_STATE_MEMBER, _MAX_STATE_BYTES)
        except Exception as error:  # noqa: BLE001
            raise ModelFileError(path, f"it is corrupted: {error}") from None
    return raw


def _check_keras_members(path: str) -> None:
    """Keras reads ``config.json`` and ``metadata.json`` whole (up to 4 GiB): refuse more."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in ("config.json", "metadata.json"):
                check_zip_member(archive, name, MAX_CONFIG_BYTES)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelFileError(path, f"it is refused: {error}") from None


def _read_keras(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> tuple[dict, Any, bool]:
    state = parse_state(path, _zip_state_bytes(path))
    _check_keras_members(path)
    try:
        model = _load_keras_zip(path, safe_mode, custom_objects)
    except Exception as error:  # noqa: BLE001
        try:  # the compile configuration may be what fails (a custom loss not registered)
            model = _load_keras_zip(path, safe_mode, custom_objects, compile=False)
        except Exception:  # noqa: BLE001 - the model itself cannot be rebuilt
            raise keras_error(path, error) from error
        warnings.warn(
            f"{path}: the model could not be compiled as it was ({error}); it predicts, but "
            "training it further needs the custom objects its compile configuration names: "
            "register them with keras.saving.register_keras_serializable, or load with "
            "custom_objects=... or trusted=[...].",
            UserWarning, stacklevel=5,
        )
        return state, model, False
    compiled = bool(getattr(model, "compiled", False)) and getattr(model, "optimizer", None) is not None
    return state, model, compiled


def _load_keras_zip(
    path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None, compile: bool = True
) -> Any:
    """Keras's loader for its zip format, compiled (which restores the optimizer state)."""
    custom = dict(custom_objects or {})
    if path.endswith(KERAS_SUFFIX):
        return keras.saving.load_model(path, custom_objects=custom, compile=compile, safe_mode=safe_mode)
    from .._keras_compat import saving_lib  # the public loader insists on the suffix ".keras"

    with open(path, "rb") as f:
        return saving_lib().load_model(f, custom_objects=custom, compile=compile, safe_mode=safe_mode)

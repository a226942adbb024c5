"""Pickling, and saving to / loading from ``.h5`` and ``.keras`` files.

Two ways to keep a fitted estimator:

* ``pickle`` / ``joblib`` / ``copy.deepcopy`` work on estimators, and on whole
  Pipelines and searches that contain them, with no patching of Keras classes:
  Keras 3 models pickle themselves (through their own ``.keras`` serialization),
  and :meth:`PersistenceMixin.__getstate__` only sets aside callbacks that cannot
  be pickled (an open log file, a TensorBoard writer). Unpickling runs code named
  in the file: use it for files you made yourself.
* :func:`save` / :func:`load` write and read one file that Keras itself can open:
  ``.h5`` (Keras's HDF5 layout, plus a JSON dataset ``skkeras_state``) or
  ``.keras`` (Keras's zip format, plus a JSON member ``skkeras.json``). The JSON
  holds the estimator's class, its parameters, its fitted attributes, a format
  version and the versions that wrote it. Loading never unpickles, never imports
  a module named in the file unless told to, and keeps Keras's ``safe_mode``, so a
  file from elsewhere cannot run code.

Writes are atomic: the file is written under a temporary name in the target
directory and renamed over the target only once complete.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import pickle
import platform
import secrets
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

#: Version of the skkeras state written into files; bumped when the layout changes.
#: Files with a larger version are refused (written by a newer skkeras).
FORMAT_VERSION = 1
FORMAT_NAME = "skkeras"

#: Where the estimator state lives in each kind of file.
H5_STATE_DATASET = "skkeras_state"
KERAS_STATE_MEMBER = "skkeras.json"

H5_SUFFIXES = (".h5", ".hdf5")
KERAS_SUFFIX = ".keras"

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_MAX_STATE_BYTES = 256 * 2**20  # a state member larger than this is not ours
_TAG = "__skkeras__"

PathLike = str | os.PathLike


class ModelFileError(ValueError):
    """A file that :func:`load` cannot read: truncated, corrupted, not written by
    skkeras, written by a newer skkeras, or holding code that safe mode refuses."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"Cannot load {self.path!r}: {problem}")


class UnrestoredParam(keras.callbacks.Callback):
    """Stands in for a parameter value that could not be kept.

    It appears in ``get_params()`` of an estimator loaded from a file (a builder
    function from a module that was not imported, a callback instance, which
    files cannot hold) or unpickled (a callback that could not be pickled).
    Prediction and scoring never touch it; the training step that needs the value
    raises a ``ValueError`` that says what to set, e.g.
    ``est.set_params(callbacks=[...])``.
    """

    def __init__(self, name: str, description: str, reason: str, needed_for: str = "training") -> None:
        super().__init__()
        self.name = name
        self.description = description
        self.reason = reason
        self.needed_for = needed_for

    def message(self) -> str:
        return (
            f"The parameter {self.name}= held {self.description}, which was not restored "
            f"({self.reason}). It is needed for {self.needed_for}: set it again with "
            f"est.set_params({self.name.split('[')[0]}=...) first. Prediction and scoring "
            "do not need it."
        )

    def __repr__(self) -> str:
        return f"UnrestoredParam({self.description!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(self.message())

    def set_model(self, model: Any) -> None:
        raise ValueError(self.message())

    def on_train_begin(self, logs: Any = None) -> None:
        raise ValueError(self.message())


# --------------------------------------------------------------------- pickling
def _callback_items(callbacks: Any) -> tuple[str, list[tuple[Any, Any]]]:
    """The callbacks parameter as (kind, [(key, callback)]), kind in list/tuple/dict/single."""
    if isinstance(callbacks, Mapping):
        return "dict", list(callbacks.items())
    if isinstance(callbacks, list | tuple):
        return "tuple" if isinstance(callbacks, tuple) else "list", list(enumerate(callbacks))
    return "single", [(0, callbacks)]


def _rebuild_callbacks(kind: str, items: list[tuple[Any, Any]], original: Any) -> Any:
    if kind == "dict":
        return type(original)(items) if isinstance(original, dict) else dict(items)
    values = [value for _, value in items]
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    return values[0]


def _picklable_callback(name: str, callback: Any) -> Any:
    """A picklable stand-in for one callback: itself (without its model), or a placeholder."""
    if callback is None or isinstance(callback, type | UnrestoredParam):
        return callback
    detached = callback
    if getattr(callback, "_model", None) is not None:
        # Keras sets the model again at every fit; pickling it here would store a second copy.
        detached = copy.copy(callback)
        detached._model = None
    try:
        pickle.dumps(detached, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - any failure means "cannot be pickled"
        return UnrestoredParam(
            name, f"a {type(callback).__name__} callback instance",
            f"it could not be pickled: {type(error).__name__}: {error}",
        )
    return detached


class PersistenceMixin:
    """Persistence methods shared by the estimators: pickling support,
    :meth:`save`, :meth:`load` and :meth:`from_model`."""

    def __getstate__(self) -> dict[str, Any]:
        """The instance dict for pickle and deepcopy.

        Everything is kept as it is (the Keras model pickles itself, optimizer
        state included) except callback instances given in ``callbacks=``: each is
        pickled without its reference to the model (Keras sets it again at every
        fit) and one that cannot be pickled (an open file, a TensorBoard writer) is
        replaced by an :class:`UnrestoredParam` that explains, on the next training,
        that it must be given again. Callbacks given as classes are always kept.
        """
        if "_deferred_model_" in self.__dict__:
            self.model_  # noqa: B018 (a model trained on a reused one is built to be pickled)
        state = dict(super().__getstate__())  # type: ignore[misc]
        if state.get("model_") is not None:
            _repair_compile_config(state["model_"])
        callbacks = state.get("callbacks")
        if callbacks is not None:
            kind, items = _callback_items(callbacks)
            kept = [(key, _picklable_callback(_callback_name(kind, key), cb)) for key, cb in items]
            state["callbacks"] = _rebuild_callbacks(kind, kept, callbacks)
        return state

    def save(self, path: PathLike) -> None:
        """Save the fitted estimator to ``path`` (``.h5`` or ``.keras``); see :func:`save`."""
        save(self, path)

    @classmethod
    def load(
        cls,
        path: PathLike,
        *,
        safe_mode: bool = True,
        custom_objects: Mapping[str, Any] | None = None,
    ) -> Any:
        """Load an estimator of this class from a file written by :func:`save`; see :func:`load`."""
        return _load(path, cls, safe_mode=safe_mode, custom_objects=custom_objects)

    @classmethod
    def from_model(
        cls,
        model: keras.Model | PathLike,
        classes: Any = None,
        *,
        multilabel: bool = False,
        feature_names: Any = None,
        safe_mode: bool = True,
        custom_objects: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Any:
        """Wrap a Keras model trained elsewhere as a fitted estimator.

        ``KerasClassifier.from_model(model, classes=["cat", "dog"])`` and
        ``KerasRegressor.from_model(model)`` return estimators that predict,
        score and sit in Pipelines without being fitted. ``fit`` later trains a new
        model of the same architecture from scratch (it is kept as ``model=``);
        ``partial_fit`` or ``warm_start`` continue training this one.

        Parameters
        ----------
        model : keras.Model or path
            A model with known inputs (Functional or Sequential) and one output of
            shape (batch, units), or the path of a Keras ``.h5``/``.keras`` file,
            loaded with ``keras.saving.load_model`` (in ``safe_mode``). The model
            is used as it is, not copied; an uncompiled one is compiled with the
            estimator's ``optimizer``/``loss`` so that it can be trained further.
        classes : array-like, default=None
            Classifiers only: the labels of the model's output columns, sorted
            (as ``np.unique`` sorts). None means ``[0, 1]`` for one sigmoid output,
            else ``0 .. units-1``.
        multilabel : bool, default=False
            Classifiers only: the outputs are independent labels (one sigmoid
            each), predicted as an indicator matrix.
        feature_names : array-like of str, default=None
            Column names, checked against DataFrames given to ``predict``.
        safe_mode, custom_objects
            Passed to ``keras.saving.load_model`` when ``model`` is a path.
        **params
            Estimator parameters (``random_state``, ``threshold``, ``epochs``...).
        """
        return _from_model(
            cls, model, classes, multilabel=multilabel, feature_names=feature_names,
            safe_mode=safe_mode, custom_objects=custom_objects, params=params,
        )


def _callback_name(kind: str, key: Any) -> str:
    return "callbacks" if kind == "single" else f"callbacks[{key!r}]"


# --------------------------------------------------------------- JSON encoding
class _Encoder:
    """Turns parameter and attribute values into JSON-safe data, noting what it cannot keep."""

    def __init__(self, fitted_model: Any = None) -> None:
        self.fitted_model = fitted_model
        self.problems: dict[str, str] = {}

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return {_TAG: "float", "value": repr(value)}
        if isinstance(value, UnrestoredParam):
            return {_TAG: "unrestorable", "description": value.description, "reason": value.reason}
        if isinstance(value, np.generic) and value.dtype.kind in "biufUS":
            return {_TAG: "scalar", "dtype": value.dtype.str, "value": self.encode(value.item(), where)}
        if isinstance(value, np.dtype):
            return {_TAG: "dtype", "value": value.str}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple) and type(value) is tuple:
            return {_TAG: "tuple", "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict) and type(value) is dict:
            if all(isinstance(k, str) for k in value) and _TAG not in value:
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {_TAG: "dict", "items": [
                [self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]}
        if isinstance(value, slice):
            return {_TAG: "slice", "items": [self.encode(v, where) for v in (value.start, value.stop, value.step)]}
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
            return {_TAG: "random_state", "state": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
        if self.fitted_model is not None and value is self.fitted_model:
            return {_TAG: "fitted_model"}
        if dataclasses.is_dataclass(value) and not isinstance(value, type) and _own_class(type(value)):
            return {_TAG: "dataclass", "class": _qualified_name(type(value)), "fields": {
                f.name: self.encode(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)
            }}
        if isinstance(value, _KERAS_SERIALIZABLE):
            return self._keras_object(value, where)
        if isinstance(value, keras.callbacks.Callback):
            return self._unrestorable(
                value, where, "files cannot hold callback instances; give the callback's class "
                "and callbacks__* parameters to make it restorable",
            )
        if isinstance(value, type) or callable(value):
            name = _importable_name(value)
            if name is not None:
                return {_TAG: "import", "name": name}
            return self._unrestorable(
                value, where, "it cannot be imported by name (a lambda, a function defined "
                "inside another, or a callable object)",
            )
        return self._unrestorable(value, where, f"{type(value).__name__} values cannot be written as JSON")

    def _array(self, value: np.ndarray, where: str) -> Any:
        kind = value.dtype.kind
        if kind in "biufUS":
            data = value.tolist()
            if kind == "f" and not np.all(np.isfinite(value)):
                data = self.encode(data, where)  # tags the non-finite values
            return {_TAG: "ndarray", "dtype": value.dtype.str, "shape": list(value.shape), "data": data}
        if kind == "O":
            items = value.ravel().tolist()
            if all(v is None or isinstance(v, str | bool | int | float) for v in items):
                return {_TAG: "ndarray", "dtype": "object", "shape": list(value.shape),
                        "data": [self.encode(v, where) for v in items]}
        return self._unrestorable(value, where, f"arrays of dtype {value.dtype} cannot be written as JSON")

    def _keras_object(self, value: Any, where: str) -> Any:
        try:
            config = keras.saving.serialize_keras_object(value)
            json.dumps(config, allow_nan=False)
        except Exception as error:  # noqa: BLE001
            return self._unrestorable(value, where, f"Keras could not serialize it ({error})")
        return {_TAG: "keras", "config": config}

    def _unrestorable(self, value: Any, where: str, reason: str) -> dict[str, Any]:
        description = _describe_value(value)
        self.problems[where] = f"{description}: {reason}"
        return {_TAG: "unrestorable", "description": description, "reason": reason}


_KERAS_SERIALIZABLE = (
    keras.layers.Layer,  # models too
    keras.optimizers.Optimizer,
    keras.losses.Loss,
    keras.metrics.Metric,
    keras.initializers.Initializer,
    keras.regularizers.Regularizer,
    keras.constraints.Constraint,
    keras.optimizers.schedules.LearningRateSchedule,
)


def _describe_value(value: Any) -> str:
    if isinstance(value, type):
        return f"the class {_qualified_name(value)}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"the function {getattr(value, '__module__', '?')}.{value.__qualname__}"
    if isinstance(value, keras.callbacks.Callback):
        return f"a {type(value).__name__} callback instance"
    return f"a {type(value).__name__} object"


def _qualified_name(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _own_class(cls: type) -> bool:
    return cls.__module__ == "skkeras" or cls.__module__.startswith("skkeras.")


def _importable_name(obj: Any) -> str | None:
    """``"module:qualname"`` if that name leads back to ``obj``, else None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if "<" in qualname:  # <lambda>, <locals>
        return None
    try:
        found = _walk(sys.modules[module], qualname)
    except (KeyError, AttributeError):
        return None
    return f"{module}:{qualname}" if found is obj else None


def _walk(root: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        root = getattr(root, part)
    return root


#: The tags a state may use; anything else marks a malformed (or hostile) file.
_DECODED_TAGS = frozenset({
    "float", "scalar", "dtype", "ndarray", "tuple", "dict", "slice", "random_state",
    "fitted_model", "dataclass", "keras", "import", "unrestorable",
})


class _Decoder:
    """The inverse of :class:`_Encoder`; values it cannot restore become placeholders.

    It calls nothing named by the file except the constructors of skkeras's own
    dataclasses and Keras's deserializer (in safe mode unless told otherwise).
    """

    def __init__(self, *, safe_mode: bool, custom_objects: Mapping[str, Any] | None, fitted_model: Any) -> None:
        self.safe_mode = safe_mode
        self.custom_objects = dict(custom_objects or {})
        self.fitted_model = fitted_model
        self.unrestored: dict[str, UnrestoredParam] = {}

    def decode(self, data: Any, where: str) -> Any:
        if isinstance(data, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(data)]
        if not isinstance(data, dict):
            return data
        tag = data.get(_TAG)
        if tag is None:
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in data.items()}
        if tag not in _DECODED_TAGS:
            raise _StateError(f"unknown value type {tag!r} in {where}")
        return getattr(self, f"_decode_{tag}")(data, where)

    def _decode_float(self, data: dict, where: str) -> float:
        return float(data["value"])

    def _decode_scalar(self, data: dict, where: str) -> Any:
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in "biufUS":
            raise _StateError(f"scalar dtype {dtype} in {where}")
        return dtype.type(self.decode(data["value"], where))

    def _decode_dtype(self, data: dict, where: str) -> np.dtype:
        return np.dtype(data["value"])

    def _decode_ndarray(self, data: dict, where: str) -> np.ndarray:
        values = self.decode(data["data"], where)
        if data["dtype"] == "object":
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array.reshape(data["shape"])
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in "biufUS":
            raise _StateError(f"array dtype {dtype} in {where}")
        return np.array(values, dtype=dtype).reshape(data["shape"])

    def _decode_tuple(self, data: dict, where: str) -> tuple:
        return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(data["items"]))

    def _decode_dict(self, data: dict, where: str) -> dict:
        return {self._hashable(self.decode(k, where)): self.decode(v, f"{where}[{k!r}]") for k, v in data["items"]}

    @staticmethod
    def _hashable(key: Any) -> Any:
        return tuple(key) if isinstance(key, list) else key

    def _decode_slice(self, data: dict, where: str) -> slice:
        return slice(*(self.decode(v, where) for v in data["items"]))

    def _decode_random_state(self, data: dict, where: str) -> np.random.RandomState:
        name, keys, pos, has_gauss, cached = data["state"]
        state = np.random.RandomState()
        state.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        return state

    def _decode_fitted_model(self, data: dict, where: str) -> Any:
        return self.fitted_model

    def _decode_dataclass(self, data: dict, where: str) -> Any:
        module, _, qualname = data["class"].partition(":")
        own_module = module == "skkeras" or module.startswith("skkeras.")
        cls = _walk(sys.modules[module], qualname) if own_module and module in sys.modules else None
        if not isinstance(cls, type) or not _own_class(cls) or not dataclasses.is_dataclass(cls):
            raise _StateError(f"{where} names {data['class']!r}, which is not a skkeras dataclass")
        fields = {name: self.decode(v, f"{where}.{name}") for name, v in data["fields"].items()}
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: v for k, v in fields.items() if k in known})

    def _decode_keras(self, data: dict, where: str) -> Any:
        try:
            with _keras_safe_mode(self.safe_mode):
                return keras.saving.deserialize_keras_object(
                    data["config"], custom_objects=self.custom_objects, safe_mode=self.safe_mode
                )
        except Exception as error:  # noqa: BLE001
            name = data["config"].get("class_name", "?") if isinstance(data["config"], dict) else "?"
            return self._placeholder(where, f"a Keras {name}", f"Keras could not rebuild it: {error}")

    def _decode_import(self, data: dict, where: str) -> Any:
        name = data["name"]
        module, _, qualname = name.partition(":")
        if module not in sys.modules and not self.safe_mode:
            try:
                __import__(module)
            except Exception as error:  # noqa: BLE001
                return self._placeholder(where, name, f"importing {module} failed: {error}")
        if module not in sys.modules:
            return self._placeholder(
                where, name,
                f"its module {module!r} was not imported when the file was loaded; skkeras.load "
                f"imports no module named by a file: import {module} before loading, or load "
                "with safe_mode=False if you trust the file",
            )
        try:
            return _walk(sys.modules[module], qualname)
        except AttributeError:
            return self._placeholder(where, name, f"{module} has no attribute {qualname!r}")

    def _decode_unrestorable(self, data: dict, where: str) -> UnrestoredParam:
        return self._placeholder(where, data.get("description", "?"), data.get("reason", "unknown"))

    def _placeholder(self, where: str, description: str, reason: str) -> UnrestoredParam:
        needed_for = (
            "fitting a new model (fit without warm_start); partial_fit and warm_start "
            "continue training without it"
            if where in ("model", "build_fn") else "training"
        )
        placeholder = UnrestoredParam(where, description, reason, needed_for)
        self.unrestored[where] = placeholder
        return placeholder


class _StateError(Exception):
    """A malformed skkeras state; reported as :class:`ModelFileError`."""


@contextlib.contextmanager
def _keras_safe_mode(safe_mode: bool) -> Iterator[None]:
    """Keras's safe-mode scope, for Keras calls that take no ``safe_mode`` argument."""
    from keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(safe_mode):
        yield


# ------------------------------------------------------------------ the state
def _estimator_kind(estimator: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    if is_regressor(estimator):
        return "regressor"
    return "estimator"


def _versions() -> dict[str, str]:
    import sklearn

    from . import __version__

    return {
        "skkeras": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def _estimator_state(estimator: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON-safe state of a fitted estimator, and what could not be kept (where: why)."""
    model = estimator.model_
    encoder = _Encoder(fitted_model=model)
    params = {
        name: encoder.encode(value, name)
        for name, value in estimator.get_params(deep=False).items()
    }
    fitted = {
        name: encoder.encode(value, name)
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_") and name not in ("model_",)
    }
    try:
        compile_config = model.get_compile_config() if model.compiled else None
        json.dumps(compile_config, allow_nan=False)
    except Exception as error:  # noqa: BLE001
        encoder.problems["model_ (compile configuration)"] = str(error)
        compile_config = None
    state = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "estimator": {
            "class": _qualified_name(type(estimator)),
            "kind": _estimator_kind(estimator),
        },
        "versions": _versions(),
        "params": params,
        "fitted": fitted,
        "keras": {
            "compile_config": compile_config,
            "optimizer_built": bool(
                model.compiled and getattr(model, "optimizer", None) is not None and model.optimizer.built
            ),
        },
    }
    return state, encoder.problems


def _state_json(estimator: Any) -> str:
    state, problems = _estimator_state(estimator)
    if problems:
        listing = "; ".join(f"{where}: {why}" for where, why in problems.items())
        warnings.warn(
            f"Saving {type(estimator).__name__}: some values cannot be stored in the file "
            f"and will have to be set again after loading before training ({listing}). "
            "Prediction from the file is not affected.",
            UserWarning, stacklevel=3,
        )
    return json.dumps(state, allow_nan=False, separators=(",", ":"))


def _parse_state(path: PathLike, raw: bytes | str) -> dict[str, Any]:
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        state = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelFileError(path, f"its skkeras state is not valid JSON (corrupted?): {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise ModelFileError(path, "its skkeras state is not a skkeras estimator description.")
    version = state.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(path, f"its skkeras format version {version!r} is not an integer (corrupted?).")
    if version > FORMAT_VERSION:
        from . import __version__

        writer = (state.get("versions") or {}).get("skkeras", "a newer skkeras")
        raise ModelFileError(
            path,
            f"it was written by skkeras {writer} in file format version {version}, but this "
            f"skkeras ({__version__}) reads versions up to {FORMAT_VERSION}. Upgrade skkeras to load it.",
        )
    for key, kind in (("estimator", dict), ("params", dict), ("fitted", dict), ("keras", dict)):
        if not isinstance(state.get(key), kind):
            raise ModelFileError(path, f"its skkeras state lacks the {key!r} section (corrupted?).")
    return state


# ---------------------------------------------------------------------- saving
def save(estimator: Any, path: PathLike) -> None:
    """Save a fitted estimator to one file that Keras can read too.

    The suffix chooses the format:

    * ``.h5`` (or ``.hdf5``): Keras's HDF5 layout (``keras.saving.load_model``
      and ``h5py`` read it), with the estimator state as the JSON string dataset
      ``skkeras_state`` and the attributes ``skkeras_format`` and
      ``skkeras_format_version`` at the root.
    * ``.keras``: Keras's zip format, with the state as the member ``skkeras.json``.

    The state holds the estimator's class, parameters (values JSON cannot hold
    are stored by importable name, or as Keras configs; others are named in a
    warning and must be set again before training after loading), the fitted
    attributes (``classes_``, ``n_features_in_``, ``feature_names_in_``, the
    target encoding, ``history_``...), the format version and the versions of
    skkeras, Keras, its backend, NumPy, scikit-learn and Python. The Keras file
    keeps the optimizer's state, so ``partial_fit`` and ``warm_start`` continue
    after :func:`load`.

    The write is atomic: an existing file at ``path`` is replaced only once the
    new one is complete, and an error leaves it untouched and no temporary file.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_", msg=(
        "This %(name)s is not fitted: save() writes a trained model. Fit it first, or "
        "pickle/joblib the unfitted estimator."
    ))
    target, writer = _writer_for(path)
    _repair_compile_config(estimator.model_)
    state_json = _state_json(estimator)
    _atomic_write(target, lambda tmp: writer(estimator.model_, state_json, tmp))


def _writer_for(path: PathLike) -> tuple[Path, Callable[[Any, str, str], None]]:
    target = Path(os.path.realpath(os.fspath(path)))
    suffix = target.suffix.lower()
    if suffix in H5_SUFFIXES:
        return target, _write_h5
    if suffix == KERAS_SUFFIX:
        return target, _write_keras
    raise ValueError(
        f"Cannot save to {os.fspath(path)!r}: the suffix {target.suffix!r} names no format. "
        "Use .h5 (Keras's HDF5 layout) or .keras (Keras's zip format); for whole Pipelines "
        "use joblib.dump."
    )


def _write_h5(model: Any, state_json: str, tmp: str) -> None:
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(tmp, "w") as f:
        with _compile_config_protected(model):
            legacy_h5_format.save_model_to_hdf5(model, f, include_optimizer=True)
        f.create_dataset(H5_STATE_DATASET, data=state_json, dtype=h5py.string_dtype("utf-8"))
        f.attrs["skkeras_format"] = FORMAT_NAME
        f.attrs["skkeras_format_version"] = FORMAT_VERSION


def _repair_compile_config(model: Any) -> None:
    """Put the optimizer back into a compile config that Keras's HDF5 writer emptied.

    ``keras.saving.save_model(model, "x.h5")`` pops "optimizer" from the model's
    own compile config (keras/src/legacy/saving/saving_utils.py, ``model_metadata``),
    after which the model pickles and saves as ``.keras`` with a default RMSprop
    and no optimizer state. The optimizer the model was compiled with is still
    ``model.optimizer``.
    """
    config = getattr(getattr(model, "_compile_config", None), "config", None)
    optimizer = getattr(model, "optimizer", None)
    if isinstance(config, dict) and "optimizer" not in config and optimizer is not None and model.compiled:
        config["optimizer"] = optimizer


@contextlib.contextmanager
def _compile_config_protected(model: Any) -> Iterator[None]:
    """Keras's HDF5 writer pops "optimizer" from the model's own compile config
    (keras/src/legacy/saving/saving_utils.py, ``model_metadata``), so a later
    ``.keras`` save or pickle would lose the optimizer: let it pop from a copy."""
    holder = getattr(model, "_compile_config", None)
    if holder is None or not isinstance(getattr(holder, "config", None), dict):
        yield
        return
    shadow = copy.copy(holder)
    shadow.config = dict(holder.config)
    model._compile_config = shadow
    try:
        yield
    finally:
        model._compile_config = holder


def _write_keras(model: Any, state_json: str, tmp: str) -> None:
    keras.saving.save_model(model, tmp)
    with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(KERAS_STATE_MEMBER, state_json)


def _atomic_write(target: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp_path)`` to a temporary file next to ``target``, then rename."""
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"Cannot save to {str(target)!r}: the directory {str(directory)!r} does not exist.")
    if target.is_dir():
        raise IsADirectoryError(f"Cannot save to {str(target)!r}: it is a directory.")
    # The temporary name keeps the suffix, which Keras's writers check.
    tmp = str(directory / f".{target.stem}.{secrets.token_hex(6)}.tmp{target.suffix.lower()}")
    try:
        # Reserve the name (O_EXCL) with the permissions a new file normally gets.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # durability of the rename, where the OS allows it
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _fsync(path: str) -> None:
    with open(path, "rb+") as f:
        f.flush()
        os.fsync(f.fileno())


# --------------------------------------------------------------------- loading
def load(
    path: PathLike,
    *,
    safe_mode: bool = True,
    custom_objects: Mapping[str, Any] | None = None,
) -> Any:
    """Load an estimator saved by :func:`save`, without unpickling anything.

    The format is recognised from the file's content. The Keras model is read
    with Keras's ``safe_mode``: a file holding Python code (a ``Lambda`` layer) is
    refused. Parameters stored by importable name (a builder function, a
    callback class) are looked up only in modules already imported; the others
    load as :class:`UnrestoredParam` placeholders, named in a warning, which
    prediction never needs and training asks to be set again.

    Parameters
    ----------
    path : str or path-like
    safe_mode : bool, default=True
        False trusts the file: Keras may deserialize Lambda layers (running their
        code), and modules named in the file are imported.
    custom_objects : dict, default=None
        Custom Keras layers, losses... by name, as for ``keras.saving.load_model``.

    Returns
    -------
    The estimator, of the class that was saved when it is importable (else the
    skkeras class of the same kind), fitted.

    Raises
    ------
    ModelFileError
        (a ValueError) for a truncated, corrupted, non-skkeras or newer-format
        file, or one that safe mode refuses; the message names the file.
    """
    return _load(path, None, safe_mode=safe_mode, custom_objects=custom_objects)


def _load(
    path: PathLike, cls: type | None, *, safe_mode: bool, custom_objects: Mapping[str, Any] | None
) -> Any:
    path = os.fspath(path)
    if not os.path.isfile(path):
        if os.path.exists(path):
            raise ModelFileError(path, "it is not a regular file.")
        raise FileNotFoundError(f"No such file: {path!r}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(_HDF5_SIGNATURE):
        state, model = _read_h5(path, safe_mode, custom_objects)
    elif head.startswith(_ZIP_SIGNATURE):
        state, model = _read_keras(path, safe_mode, custom_objects)
    elif not head:
        raise ModelFileError(path, "the file is empty.")
    else:
        raise ModelFileError(
            path, "it is neither an HDF5 (.h5) nor a Keras zip (.keras) file; skkeras.load "
            "reads files written by skkeras.save (use joblib.load for joblib files).",
        )
    return _estimator_from_state(path, state, model, cls, safe_mode=safe_mode, custom_objects=custom_objects)


def _not_skkeras(path: str, is_keras_model: bool) -> ModelFileError:
    if is_keras_model:
        return ModelFileError(
            path, "it is a Keras model without skkeras estimator state. Wrap it with "
            "KerasClassifier.from_model(path, classes=...) or KerasRegressor.from_model(path).",
        )
    return ModelFileError(path, "it holds no skkeras estimator state: it was not written by skkeras.save.")


def _keras_error(path: str, error: Exception) -> ModelFileError:
    text = str(error)
    if "safe_mode" in text or ("Lambda" in text and "unsafe" in text.lower()):
        return ModelFileError(
            path, "the model holds Python code (a Lambda layer or function), which loading "
            "would run, so safe mode refuses it. If you trust the file, load it with "
            f"skkeras.load(path, safe_mode=False). Keras said: {text}",
        )
    return ModelFileError(path, f"Keras could not rebuild the model from it (corrupted, or custom "
                                f"objects missing: pass custom_objects=...): {type(error).__name__}: {text}")


def _read_h5(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> tuple[dict, Any]:
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    try:
        f = h5py.File(path, "r")
    except Exception as error:  # noqa: BLE001 - h5py raises OSError for truncated files
        raise ModelFileError(path, f"it cannot be read as HDF5 (truncated or corrupted?): {error}") from None
    with f:
        try:
            if H5_STATE_DATASET not in f:
                raise _not_skkeras(path, "model_config" in f.attrs)
            dataset = f[H5_STATE_DATASET]
            if not isinstance(dataset, h5py.Dataset) or dataset.shape != () or dataset.dtype.kind not in "OS":
                raise ValueError(f"{H5_STATE_DATASET} is not a JSON string")
            raw = dataset[()]
        except ModelFileError:
            raise
        except Exception as error:  # noqa: BLE001
            raise ModelFileError(path, f"its skkeras state cannot be read (corrupted?): {error}") from None
        state = _parse_state(path, raw)
        try:
            model = legacy_h5_format.load_model_from_hdf5(
                f, custom_objects=dict(custom_objects or {}), compile=False, safe_mode=safe_mode
            )
        except Exception as error:  # noqa: BLE001
            raise _keras_error(path, error) from error
        _compile_h5_model(path, model, f, state, safe_mode, custom_objects)
    return state, model


def _compile_h5_model(
    path: str, model: Any, f: Any, state: dict, safe_mode: bool, custom_objects: Mapping[str, Any] | None
) -> None:
    """Compile the model as it was and restore its optimizer variables.

    Keras's own HDF5 loader builds the optimizer for ``model._trainable_variables``
    (empty for a Functional model), so its optimizer state is dropped and further
    training fails; skkeras compiles from the compile config it stored and sets
    the optimizer variables from the file's ``optimizer_weights`` group itself.
    """
    compile_config = state["keras"].get("compile_config")
    if not compile_config:
        return
    try:
        with _keras_safe_mode(safe_mode), keras.saving.custom_object_scope(dict(custom_objects or {})):
            model.compile_from_config(compile_config)
    except Exception as error:  # noqa: BLE001
        warnings.warn(
            f"{path}: the model could not be compiled as it was ({error}); it predicts, but "
            "partial_fit and warm_start need it compiled (pass custom_objects=...).",
            UserWarning, stacklevel=4,
        )
        return
    if state["keras"].get("optimizer_built"):
        _restore_h5_optimizer(path, model, f)


def _restore_h5_optimizer(path: str, model: Any, f: Any) -> None:
    """Set the optimizer's variables from the ``optimizer_weights`` group of a Keras HDF5 file."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer_weights" not in f:
        return
    try:
        group = f["optimizer_weights"]
        names = [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        values = [np.asarray(group[name]) for name in names]
        if len(values) <= 2 and not optimizer.built:
            return  # saved before its first step: only iterations and learning rate, nothing learnt
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        variables = list(optimizer.variables)
        if len(variables) != len(values) or any(
            tuple(v.shape) != a.shape for v, a in zip(variables, values, strict=True)
        ):
            raise ValueError(f"{len(values)} saved values for {len(variables)} optimizer variables")
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
    except Exception as error:  # noqa: BLE001
        warnings.warn(
            f"{path}: the optimizer's state could not be restored ({error}); training "
            "continues from a fresh optimizer.", UserWarning, stacklevel=5,
        )


def _load_keras_model(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> Any:
    """A model from a plain Keras file (for :meth:`PersistenceMixin.from_model`).

    HDF5 files are compiled from their training configuration with the optimizer
    state restored, which Keras's own HDF5 loader drops (see :func:`_compile_h5_model`).
    """
    with open(path, "rb") as f:
        head = f.read(8)
    custom = dict(custom_objects or {})
    try:
        if not head.startswith(_HDF5_SIGNATURE):
            return _load_keras_zip(path, safe_mode, custom_objects)
        import h5py
        from keras.src.legacy.saving import legacy_h5_format, saving_utils

        with h5py.File(path, "r") as f:
            model = legacy_h5_format.load_model_from_hdf5(
                f, custom_objects=custom, compile=False, safe_mode=safe_mode
            )
            training_config = f.attrs.get("training_config")
            if training_config is None:
                return model
            if isinstance(training_config, bytes):
                training_config = training_config.decode("utf-8")
            with _keras_safe_mode(safe_mode):
                model.compile(**saving_utils.compile_args_from_training_config(
                    json.loads(training_config), custom
                ))
            _restore_h5_optimizer(path, model, f)
            return model
    except Exception as error:  # noqa: BLE001
        raise _keras_error(path, error) from error


def _read_keras(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> tuple[dict, Any]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelFileError(path, f"it is not a readable zip archive (truncated or corrupted?): {error}") from None
    with archive:
        names = archive.namelist()
        if KERAS_STATE_MEMBER not in names:
            raise _not_skkeras(path, "config.json" in names)
        try:
            if archive.getinfo(KERAS_STATE_MEMBER).file_size > _MAX_STATE_BYTES:
                raise ValueError("the state member is implausibly large")
            raw = archive.read(KERAS_STATE_MEMBER)
            bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"the member {bad!r} fails its checksum")
        except Exception as error:  # noqa: BLE001
            raise ModelFileError(path, f"it is corrupted: {error}") from None
    state = _parse_state(path, raw)
    try:
        model = _load_keras_zip(path, safe_mode, custom_objects)
    except Exception as error:  # noqa: BLE001
        raise _keras_error(path, error) from error
    return state, model


def _load_keras_zip(path: str, safe_mode: bool, custom_objects: Mapping[str, Any] | None) -> Any:
    """Keras's loader for its zip format, compiled (which restores the optimizer state)."""
    custom = dict(custom_objects or {})
    if path.endswith(KERAS_SUFFIX):
        return keras.saving.load_model(path, custom_objects=custom, compile=True, safe_mode=safe_mode)
    from keras.src.saving import saving_lib  # the public loader insists on the suffix ".keras"

    with open(path, "rb") as f:
        return saving_lib.load_model(f, custom_objects=custom, compile=True, safe_mode=safe_mode)


def _estimator_class(path: str, state: dict, requested: type | None) -> type:
    from .wrappers import BaseWrapper, KerasClassifier, KerasRegressor

    info = state["estimator"]
    kind = info.get("kind")
    name = str(info.get("class", "?"))
    base = {"classifier": KerasClassifier, "regressor": KerasRegressor}.get(kind)
    if requested is not None:
        if base is not None and not issubclass(requested, base):
            raise ModelFileError(
                path, f"it holds a {kind} ({name.split(':')[-1]}), which {requested.__name__}.load "
                f"cannot load: use {base.__name__}.load or skkeras.load.",
            )
        return requested
    module, _, qualname = name.partition(":")
    if module in sys.modules:
        with contextlib.suppress(AttributeError):
            found = _walk(sys.modules[module], qualname)
            if isinstance(found, type) and issubclass(found, BaseWrapper):
                return found
    if base is None:
        raise ModelFileError(path, f"its estimator class {name!r} is not a skkeras estimator.")
    if module and module != "?":
        warnings.warn(
            f"{path}: the estimator class {name!r} is not importable here (its module is not "
            f"imported); loading it as a {base.__name__}. Import it first, or use "
            f"{qualname}.load(path), to get that class.", UserWarning, stacklevel=4,
        )
    return base


def _estimator_from_state(
    path: str, state: dict, model: Any, requested: type | None, *, safe_mode: bool,
    custom_objects: Mapping[str, Any] | None,
) -> Any:
    cls = _estimator_class(path, state, requested)
    decoder = _Decoder(safe_mode=safe_mode, custom_objects=custom_objects, fitted_model=model)
    lost: list[str] = []
    try:
        params = {name: decoder.decode(value, name) for name, value in state["params"].items()}
        unrestored = dict(decoder.unrestored)
        fitted = {}
        for name, value in state["fitted"].items():
            before = len(decoder.unrestored)
            decoded = decoder.decode(value, name)
            if len(decoder.unrestored) > before:
                lost.append(f"fitted attribute {name} ({list(decoder.unrestored.values())[-1].reason})")
            else:
                fitted[name] = decoded
    except Exception as error:  # noqa: BLE001 - malformed state: KeyError, TypeError, _StateError...
        raise ModelFileError(
            path, f"its skkeras state is malformed (corrupted?): {type(error).__name__}: {error}"
        ) from None
    try:
        estimator = cls(**params)
    except TypeError as error:
        raise ModelFileError(path, f"its parameters do not fit {cls.__name__}: {error}") from None
    for name, value in fitted.items():
        setattr(estimator, name, value)
    estimator.model_ = model
    if unrestored or lost:
        parts = [f"{name}= ({p.description}: {p.reason})" for name, p in unrestored.items()] + lost
        warnings.warn(
            f"Loaded {cls.__name__} from {path} for prediction, but some values were not "
            f"restored: {'; '.join(parts)}. Prediction and scoring work; set them again "
            "with set_params(...) before training.",
            UserWarning, stacklevel=4,
        )
    return estimator


# ------------------------------------------------------------------ from_model
def _from_model(
    cls: type, model: Any, classes: Any, *, multilabel: bool, feature_names: Any,
    safe_mode: bool, custom_objects: Mapping[str, Any] | None, params: dict[str, Any],
) -> Any:
    from sklearn.base import is_classifier

    from . import building
    from .seeding import resolve_seed
    from .targets import ClassificationTarget, RegressionTarget

    if isinstance(model, str | os.PathLike):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such file: {path!r}")
        model = _load_keras_model(path, safe_mode, custom_objects)
    if not isinstance(model, keras.Model):
        raise ValueError(f"from_model() needs a keras.Model or the path of a Keras file, got {type(model).__name__}.")
    inputs = _model_inputs(model)
    width = building.output_width(model, None)

    if params.get("model") is None and params.get("build_fn") is None:
        params["model"] = model  # fit() trains a fresh model of this architecture
    estimator = cls(**params)
    if is_classifier(estimator):
        target = _classification_target(ClassificationTarget, classes, multilabel, width)
    else:
        if classes is not None or multilabel:
            raise ValueError(f"{cls.__name__}.from_model() takes no classes= or multilabel=: those are for classifiers.")
        target = RegressionTarget(n_outputs=width, one_dimensional=width == 1)

    if not model.compiled:
        building.compile_model(model, estimator._compile_kwargs(target, width))
    if hasattr(target, "choose_encoding"):
        target.encoding = target.choose_encoding(model.loss, width)

    shapes = {name: tuple(shape) for name, shape in inputs.items()}
    if len(shapes) == 1:
        (shape,) = shapes.values()
        if len(shape) >= 2 and shape[1] is not None:
            estimator.n_features_in_ = int(shape[1])
        estimator.X_shape_ = shape
        estimator.X_dtype_ = np.dtype(np.float32)
    else:
        estimator.X_shape_ = shapes
        estimator.X_dtype_ = {name: np.dtype(np.float32) for name in shapes}
    if feature_names is not None:
        names = np.asarray(feature_names, dtype=object)
        if names.ndim != 1 or getattr(estimator, "n_features_in_", len(names)) != len(names):
            raise ValueError(
                f"feature_names has {names.size} names but the model takes "
                f"{getattr(estimator, 'n_features_in_', '?')} features."
            )
        estimator.feature_names_in_ = names
    estimator.seed_ = resolve_seed(estimator.random_state)
    estimator.target_ = target
    estimator.target_type_ = target.target_type
    estimator.n_outputs_ = target.n_outputs
    estimator._set_target_attributes(target)
    estimator.history_ = {}
    estimator.model_ = model
    return estimator


def _model_inputs(model: Any) -> dict[str, tuple]:
    try:
        tensors = model.inputs
    except (AttributeError, ValueError):
        tensors = None
    if not tensors:
        raise ValueError(
            "from_model() needs a model whose inputs are known: a Functional or Sequential "
            "model built from keras.Input (a subclassed model has no declared inputs)."
        )
    return {getattr(t, "name", str(i)): tuple(t.shape) for i, t in enumerate(tensors)}


def _classification_target(target_cls: type, classes: Any, multilabel: bool, width: int) -> Any:
    if classes is None:
        classes = np.arange(2 if width == 1 and not multilabel else width)
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(f"classes must be 1-D, got shape {classes.shape}.")
    if multilabel:
        if len(classes) != width:
            raise ValueError(f"multilabel: the model has {width} outputs but classes has {len(classes)} labels.")
        return target_cls(target_type="multilabel-indicator", classes=classes)
    unique = np.unique(classes)
    if len(unique) != len(classes) or not np.array_equal(unique, classes):
        raise ValueError(
            f"classes must be sorted and distinct (as np.unique gives them), listing the label of "
            f"each output column; got {classes.tolist()}."
        )
    if len(classes) < 2:
        raise ValueError(f"A classifier needs at least two classes, got {classes.tolist()}.")
    expected = (1, 2) if len(classes) == 2 else (len(classes),)
    if width not in expected:
        raise ValueError(
            f"The model has {width} outputs per sample but {len(classes)} classes were given: "
            f"a classifier over {len(classes)} classes needs "
            + ("1 sigmoid or 2 softmax outputs." if len(classes) == 2 else f"{len(classes)} outputs.")
        )
    return target_cls(target_type="binary" if len(classes) == 2 else "multiclass", classes=classes)

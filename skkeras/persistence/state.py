"""The estimator state a file holds, and its codec: JSON in, allow-listed values out.

A state is a JSON object with the sections ``estimator`` (class and kind),
``params`` (constructor and routed parameters), ``fitted`` (fitted attributes),
``keras`` (the compile configuration) and ``versions``. Loading reads it into fixed
shapes and never sets an attribute whose name the file chose:

* ``fitted`` is read through a *schema*, a mapping from attribute name to expected
  type. :data:`BASE_FITTED_SCHEMA` covers every estimator, :data:`CLASSIFIER_FITTED_SCHEMA`
  adds the classifiers' names, and a class may declare more in a ``_fitted_schema``
  class attribute (merged over the MRO, subclasses last), e.g.
  ``_fitted_schema = {"vocabulary_": np.ndarray}``. A type spec is a type, a tuple of
  types or a :class:`FittedType`. Dunder and private names, names of methods or other
  class attributes, and known names holding the wrong type make a
  :class:`ModelFileError`; unknown public names ending in ``_`` (a newer skkeras may
  add some) are ignored with a warning.
* fitted values are data only (numbers, strings, arrays, dtypes, tuples, dicts and
  the skkeras dataclasses in :data:`CODEC_DATACLASSES`): a reference to code there
  is an error.
* parameter values are data too, except references to functions and classes, which
  resolve through :mod:`.trust`, and Keras objects stored as Keras configs, which
  Keras deserializes in safe mode with only the caller's custom objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np

from .trust import Trust, UnrestoredParam, importable_name, qualified_name

#: Version of the skkeras state written into files; bumped when the layout changes.
#: Files with a larger version are refused (written by a newer skkeras).
FORMAT_VERSION = 1
FORMAT_NAME = "skkeras"

_TAG = "__skkeras__"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

PathLike = str | os.PathLike


class ModelFileError(ValueError):
    """A file that :func:`load` cannot read: truncated, corrupted, not written by
    skkeras, written by a newer skkeras, or holding what loading refuses (code that
    safe mode refuses, names or values outside the estimator's schema)."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"Cannot load {self.path!r}: {problem}")


class StateError(Exception):
    """A malformed or refused state; reported as :class:`ModelFileError`."""


# ------------------------------------------------------------------- the schema
@dataclasses.dataclass(frozen=True)
class FittedType:
    """A type spec for a fitted attribute that a plain type cannot express."""

    description: str
    check: Callable[[Any], bool]

    def __call__(self, value: Any) -> bool:
        return bool(self.check(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_shape(value: Any) -> bool:
    return isinstance(value, tuple) and all(v is None or _is_int(v) for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _dict_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and all(
        isinstance(k, str) and check(v) for k, v in value.items()
    )


def _codec_instance(value: Any) -> bool:
    return qualified_name(type(value)) in CODEC_DATACLASSES


INT = FittedType("an integer", _is_int)
SHAPES = FittedType(
    "a shape tuple, or a dict of them by input name",
    lambda v: _is_shape(v) or _dict_of(_is_shape)(v),
)
DTYPES = FittedType(
    "a NumPy dtype, or a dict of them by input name",
    lambda v: isinstance(v, np.dtype) or _dict_of(lambda d: isinstance(d, np.dtype))(v),
)
HISTORY = FittedType(
    "a dict of lists of numbers",
    _dict_of(lambda v: isinstance(v, list) and all(_is_number(x) for x in v)),
)
LABELS = FittedType(
    "a 1-D array of labels",
    lambda v: isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "biufUSO",
)
NAMES = FittedType(
    "a 1-D array of strings",
    lambda v: isinstance(v, np.ndarray) and v.ndim == 1
    and all(isinstance(x, str) for x in v.tolist()),
)
CODEC_OBJECT = FittedType("a skkeras dataclass the file codec knows", _codec_instance)
TARGET = FittedType(
    "a ClassificationTarget or RegressionTarget",
    lambda v: qualified_name(type(v)) in (
        "skkeras.targets:ClassificationTarget", "skkeras.targets:RegressionTarget"
    ),
)

#: The fitted attributes of every estimator, with their types.
BASE_FITTED_SCHEMA: dict[str, Any] = {
    "seed_": INT,
    "target_": TARGET,
    "X_shape_": SHAPES,
    "X_dtype_": DTYPES,
    "target_type_": str,
    "n_outputs_": INT,
    "n_outputs_expected_": INT,
    "history_": HISTORY,
    "n_features_in_": INT,
    "feature_names_in_": NAMES,
    "y_dtype_": np.dtype,
    "y_ndim_": INT,
    "fit_path_": str,
    "target_encoder_": CODEC_OBJECT,
    "feature_encoder_": CODEC_OBJECT,
}
#: The fitted attributes classifiers add.
CLASSIFIER_FITTED_SCHEMA: dict[str, Any] = {
    "classes_": FittedType(f"{LABELS.description} or None", lambda v: v is None or LABELS(v)),
    "n_classes_": FittedType("an integer or None", lambda v: v is None or _is_int(v)),
}
#: Attributes that loading sets itself.
RESERVED_FITTED = frozenset({"model_"})


def fitted_schema(cls: type, kind: str) -> dict[str, Any]:
    """The fitted attributes a file may give an estimator of class ``cls``."""
    schema = dict(BASE_FITTED_SCHEMA)
    if kind == "classifier":
        schema.update(CLASSIFIER_FITTED_SCHEMA)
    for klass in reversed(cls.__mro__):
        declared = vars(klass).get("_fitted_schema")
        if isinstance(declared, Mapping):
            schema.update(declared)
    for name in RESERVED_FITTED:
        schema.pop(name, None)
    return schema


def matches(value: Any, spec: Any) -> bool:
    if isinstance(spec, FittedType):
        return spec(value)
    for kind in spec if isinstance(spec, tuple) else (spec,):
        if kind is int:
            if _is_int(value):
                return True
        elif kind is float:
            if _is_number(value):
                return True
        elif kind is bool:
            if isinstance(value, bool | np.bool_):
                return True
        elif isinstance(value, kind):
            return True
    return False


def describe_spec(spec: Any) -> str:
    if isinstance(spec, FittedType):
        return spec.description
    if isinstance(spec, tuple):
        return " or ".join(t.__name__ for t in spec)
    return getattr(spec, "__name__", repr(spec))


def check_fitted(cls: type, kind: str, fitted: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(values by schema name, ignored names)``; raises :class:`StateError` naming the entry."""
    schema = fitted_schema(cls, kind)
    accepted: dict[str, Any] = {}
    ignored: list[str] = []
    for name, value in fitted.items():
        where = f"fitted attribute {name!r}"
        if not isinstance(name, str) or not _NAME.match(name) or name.startswith("_"):
            raise StateError(f"{where}: private, dunder or malformed names are refused")
        if name in schema:
            spec = schema[name]
            if not matches(value, spec):
                raise StateError(
                    f"{where} holds {type(value).__name__}, but must be {describe_spec(spec)}"
                )
            accepted[name] = value
            continue
        if name in RESERVED_FITTED:
            raise StateError(f"{where} is set by loading itself, not read from a file")
        if _class_attribute(cls, name):
            raise StateError(
                f"{where} is a method or attribute of {cls.__name__}; files may not replace it"
            )
        if not name.endswith("_"):
            raise StateError(f"{where} is not a fitted attribute (their names end with '_')")
        ignored.append(name)
    return {name: accepted[name] for name in schema if name in accepted}, ignored


def _class_attribute(cls: type, name: str) -> bool:
    return any(name in vars(klass) for klass in cls.__mro__)


# ------------------------------------------------------------ codec dataclasses
#: skkeras dataclasses a file may hold, with the types of their fields.
CODEC_DATACLASSES: dict[str, dict[str, Any]] = {
    "skkeras.targets:ClassificationTarget": {
        "target_type": str, "classes": LABELS, "encoding": (str, type(None)),
    },
    "skkeras.targets:RegressionTarget": {"n_outputs": INT, "one_dimensional": bool},
}


def _codec_class(name: str) -> type | None:
    if name not in CODEC_DATACLASSES:
        return None
    import importlib

    module, _, qualname = name.partition(":")
    cls = getattr(importlib.import_module(module), qualname, None)
    return cls if isinstance(cls, type) and dataclasses.is_dataclass(cls) else None


# --------------------------------------------------------------------- encoding
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


class Encoder:
    """Turns parameter and attribute values into JSON-safe data, noting what it cannot keep."""

    def __init__(self, fitted_model: Any = None) -> None:
        self.fitted_model = fitted_model
        self.problems: dict[str, str] = {}

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | str | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
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
        if type(value) is tuple:
            return {_TAG: "tuple", "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if type(value) is dict:
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
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if qualified_name(type(value)) in CODEC_DATACLASSES:
                return {_TAG: "dataclass", "class": qualified_name(type(value)), "fields": {
                    f.name: self.encode(getattr(value, f.name), f"{where}.{f.name}")
                    for f in dataclasses.fields(value)
                }}
        if isinstance(value, _KERAS_SERIALIZABLE):
            return self._keras_object(value, where)
        if isinstance(value, keras.callbacks.Callback):
            return self.unrestorable(
                value, where, "files cannot hold callback instances; give the callback's class "
                "and callbacks__* parameters to make it restorable",
            )
        if isinstance(value, type) or callable(value):
            name = importable_name(value)
            if name is not None:
                return {_TAG: "import", "name": name}
            return self.unrestorable(
                value, where, "it cannot be imported by name (a lambda, a function defined "
                "inside another, or a callable object)",
            )
        return self.unrestorable(value, where, f"{type(value).__name__} values cannot be written to files")

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
        return self.unrestorable(value, where, f"arrays of dtype {value.dtype} cannot be written to files")

    def _keras_object(self, value: Any, where: str) -> Any:
        try:
            config = keras.saving.serialize_keras_object(value)
            json.dumps(config, allow_nan=False)
        except Exception as error:  # noqa: BLE001
            return self.unrestorable(value, where, f"Keras could not serialize it ({error})")
        return {_TAG: "keras", "config": config}

    def unrestorable(self, value: Any, where: str, reason: str) -> dict[str, Any]:
        description = describe_value(value)
        self.problems[where] = f"{description}: {reason}"
        return {_TAG: "unrestorable", "description": description, "reason": reason}


def describe_value(value: Any) -> str:
    if isinstance(value, type):
        return f"the class {qualified_name(value)}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"the function {getattr(value, '__module__', '?')}.{value.__qualname__}"
    if isinstance(value, keras.callbacks.Callback):
        return f"a {type(value).__name__} callback instance"
    return f"a {type(value).__name__} object"


# --------------------------------------------------------------------- decoding
#: Tags that may appear anywhere, and those only parameters may hold.
DATA_TAGS = frozenset({"float", "scalar", "dtype", "ndarray", "tuple", "dict", "dataclass", "unrestorable"})
PARAM_TAGS = DATA_TAGS | {"slice", "random_state", "fitted_model", "keras", "import"}
_MAX_DEPTH = 32


class Decoder:
    """The inverse of :class:`Encoder`, producing allow-listed values only.

    It calls nothing a file names except the constructors of the dataclasses in
    :data:`CODEC_DATACLASSES` (with type-checked fields), objects :class:`~.trust.Trust`
    trusts, and Keras's deserializer in safe mode (unless the caller turned it off).
    References it does not trust, and values it cannot rebuild, become
    :class:`UnrestoredParam` placeholders, listed in :attr:`unrestored`.
    """

    def __init__(self, trust: Trust, *, fitted_model: Any = None) -> None:
        self.trust = trust
        self.fitted_model = fitted_model
        self.unrestored: dict[str, UnrestoredParam] = {}

    def decode_param(self, data: Any, where: str) -> Any:
        return self._decode(data, where, PARAM_TAGS, 0)

    def decode_data(self, data: Any, where: str) -> Any:
        return self._decode(data, where, DATA_TAGS, 0)

    def _decode(self, data: Any, where: str, tags: frozenset[str], depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise StateError(f"{where} is nested too deeply")
        if isinstance(data, list):
            return [self._decode(v, f"{where}[{i}]", tags, depth + 1) for i, v in enumerate(data)]
        if not isinstance(data, dict):
            return data
        tag = data.get(_TAG)
        if tag is None:
            return {k: self._decode(v, f"{where}[{k!r}]", tags, depth + 1) for k, v in data.items()}
        if tag not in tags:
            kind = "a reference to code" if tag in ("import", "keras") else f"a value of type {tag!r}"
            raise StateError(f"{where} holds {kind}, which is not allowed there")
        return getattr(self, f"_decode_{tag}")(data, where, tags, depth + 1)

    def _decode_float(self, data: dict, where: str, tags: frozenset[str], depth: int) -> float:
        if data["value"] not in ("nan", "inf", "-inf"):
            raise StateError(f"{where}: {data['value']!r} is not a non-finite float")
        return float(data["value"])

    def _decode_scalar(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        dtype = _plain_dtype(data["dtype"], where)
        value = self._decode(data["value"], where, tags, depth)
        if not isinstance(value, bool | int | float | str):
            raise StateError(f"{where}: a scalar holds {type(value).__name__}")
        return dtype.type(value)

    def _decode_dtype(self, data: dict, where: str, tags: frozenset[str], depth: int) -> np.dtype:
        return _plain_dtype(data["value"], where, allow_object=True)

    def _decode_ndarray(self, data: dict, where: str, tags: frozenset[str], depth: int) -> np.ndarray:
        shape = data["shape"]
        if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
            raise StateError(f"{where}: the array shape {shape!r} is not a list of sizes")
        values = self._decode(data["data"], where, frozenset({"float"}), depth)
        if data["dtype"] == "object":
            if not isinstance(values, list) or not all(
                v is None or isinstance(v, str | bool | int | float) for v in values
            ):
                raise StateError(f"{where}: an object array may hold only strings, numbers and None")
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array.reshape(shape)
        return np.array(values, dtype=_plain_dtype(data["dtype"], where)).reshape(shape)

    def _decode_tuple(self, data: dict, where: str, tags: frozenset[str], depth: int) -> tuple:
        return tuple(self._decode(v, f"{where}[{i}]", tags, depth) for i, v in enumerate(data["items"]))

    def _decode_dict(self, data: dict, where: str, tags: frozenset[str], depth: int) -> dict:
        result = {}
        for key, value in data["items"]:
            key = self._decode(key, f"{where} key", DATA_TAGS - {"dataclass", "unrestorable"}, depth)
            key = tuple(key) if isinstance(key, list) else key
            result[key] = self._decode(value, f"{where}[{key!r}]", tags, depth)
        return result

    def _decode_slice(self, data: dict, where: str, tags: frozenset[str], depth: int) -> slice:
        items = data["items"]
        if not isinstance(items, list) or len(items) != 3 or not all(v is None or _is_int(v) for v in items):
            raise StateError(f"{where}: a slice holds three integers or None")
        return slice(*items)

    def _decode_random_state(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        name, keys, pos, has_gauss, cached = data["state"]
        state = np.random.RandomState()
        state.set_state((str(name), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
        return state

    def _decode_fitted_model(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        if where not in ("model", "build_fn"):
            raise StateError(f"{where} refers to the fitted model, which only model= may hold")
        return self.fitted_model

    def _decode_dataclass(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        name = data["class"]
        cls = _codec_class(name) if isinstance(name, str) else None
        if cls is None:
            raise StateError(f"{where} names {name!r}, which is not a dataclass files may hold")
        fields = data["fields"]
        if not isinstance(fields, dict):
            raise StateError(f"{where}: the fields of {name} are not a mapping")
        spec = CODEC_DATACLASSES[name]
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        values = {}
        for field, raw in fields.items():
            if field not in known or field not in spec:
                raise StateError(f"{where}: {name} has no field {field!r}")
            value = self._decode(raw, f"{where}.{field}", DATA_TAGS - {"dataclass"}, depth)
            if not matches(value, spec[field]):
                raise StateError(
                    f"{where}.{field} holds {type(value).__name__}, but must be {describe_spec(spec[field])}"
                )
            values[field] = value
        try:
            return cls(**values)
        except TypeError as error:
            raise StateError(f"{where}: {name} cannot be made from the file's fields: {error}") from None

    def _decode_keras(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        config = data["config"]
        try:
            with keras_safe_mode(not self.trust.trust_all):
                return keras.saving.deserialize_keras_object(
                    config, custom_objects=self.trust.keras_custom_objects(),
                    safe_mode=not self.trust.trust_all,
                )
        except Exception as error:  # noqa: BLE001
            name = config.get("class_name", "?") if isinstance(config, dict) else "?"
            return self.placeholder(where, f"a Keras {name}", f"Keras could not rebuild it: {error}")

    def _decode_import(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        name = data["name"]
        found, problem = self.trust.resolve(name)
        if problem is not None:
            return self.placeholder(where, str(name)[:200], problem)
        return found

    def _decode_unrestorable(self, data: dict, where: str, tags: frozenset[str], depth: int) -> Any:
        return self.placeholder(where, str(data.get("description", "?"))[:200], str(data.get("reason", "unknown"))[:500])

    def placeholder(self, where: str, description: str, reason: str) -> UnrestoredParam:
        needed_for = (
            "fitting a new model (fit without warm_start); partial_fit and warm_start "
            "continue training without it"
            if where in ("model", "build_fn") else "training"
        )
        placeholder = UnrestoredParam(where, description, reason, needed_for)
        self.unrestored[where] = placeholder
        return placeholder


def _plain_dtype(spec: Any, where: str, allow_object: bool = False) -> np.dtype:
    if not isinstance(spec, str) or len(spec) > 16:
        raise StateError(f"{where}: {spec!r} is not a dtype name")
    try:
        dtype = np.dtype(spec)
    except TypeError:
        raise StateError(f"{where}: {spec!r} is not a dtype name") from None
    if dtype.kind not in "biufUS" and not (allow_object and dtype.kind == "O"):
        raise StateError(f"{where}: dtype {dtype} is not allowed")
    return dtype


@contextlib.contextmanager
def keras_safe_mode(safe_mode: bool) -> Iterator[None]:
    """Keras's safe-mode scope, for Keras calls that take no ``safe_mode`` argument."""
    from keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(safe_mode):
        yield


# -------------------------------------------------------------------- the state
def estimator_kind(estimator: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    if is_regressor(estimator):
        return "regressor"
    return "estimator"


def _versions() -> dict[str, str]:
    import platform

    import sklearn

    from .. import __version__

    return {
        "skkeras": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def estimator_state(estimator: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON-safe state of a fitted estimator, and what could not be kept (where: why).

    Fitted attributes outside the class's schema are not written (with a warning),
    nor are fitted values that are not data.
    """
    model = estimator.model_
    encoder = Encoder(fitted_model=model)
    params = {
        name: encoder.encode(value, name)
        for name, value in estimator.get_params(deep=False).items()
    }
    schema = fitted_schema(type(estimator), estimator_kind(estimator))
    fitted = {}
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_") or name in RESERVED_FITTED:
            continue
        if name in DERIVED_ENCODERS and qualified_name(type(value)) not in CODEC_DATACLASSES:
            if not _own_object(value):
                encoder.problems[f"fitted attribute {name}"] = (
                    f"a {type(value).__name__} transformer is not data a file may hold; loading "
                    "rebuilds the default encoder from target_"
                )
            continue  # skkeras's own encoders: loading rebuilds them from target_
        if name not in schema:
            encoder.problems[f"fitted attribute {name}"] = (
                f"it is not in {type(estimator).__name__}'s fitted schema; declare it in a "
                "_fitted_schema class attribute to keep it"
            )
            continue
        data_encoder = Encoder()
        encoded = data_encoder.encode(value, name)
        if _holds_code(encoded) or data_encoder.problems:
            reason = "" if not data_encoder.problems else ": " + "; ".join(data_encoder.problems.values())
            encoder.problems[f"fitted attribute {name}"] = (
                f"a {type(value).__name__} is not data a file may hold (files keep only skkeras "
                f"dataclasses the codec knows){reason}"
            )
            continue
        fitted[name] = encoded
    try:
        compile_config = model.get_compile_config() if model.compiled else None
        json.dumps(compile_config, allow_nan=False)
    except Exception as error:  # noqa: BLE001
        encoder.problems["model_ (compile configuration)"] = str(error)
        compile_config = None
    state = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "estimator": {"class": qualified_name(type(estimator)), "kind": estimator_kind(estimator)},
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


#: Fitted encoders that loading derives from ``target_`` when the file does not hold them.
DERIVED_ENCODERS = ("target_encoder_", "feature_encoder_")


def _own_object(value: Any) -> bool:
    module = type(value).__module__
    return module == "skkeras" or module.startswith("skkeras.")


def _holds_code(encoded: Any) -> bool:
    if isinstance(encoded, list):
        return any(_holds_code(v) for v in encoded)
    if isinstance(encoded, dict):
        if encoded.get(_TAG) in ("import", "keras", "fitted_model", "unrestorable", "random_state", "slice"):
            return True
        return any(_holds_code(v) for v in encoded.values())
    return False


def state_json(estimator: Any) -> str:
    state, problems = estimator_state(estimator)
    if problems:
        listing = "; ".join(f"{where}: {why}" for where, why in problems.items())
        warnings.warn(
            f"Saving {type(estimator).__name__}: some values cannot be stored in the file "
            f"and will have to be set again after loading before training ({listing}). "
            "Prediction from the file is not affected.",
            UserWarning, stacklevel=4,
        )
    return json.dumps(state, allow_nan=False, separators=(",", ":"))


_ESTIMATOR_KEYS = {"class": str, "kind": str}
_KERAS_KEYS = {"compile_config": (dict, type(None)), "optimizer_built": bool}


def parse_state(path: PathLike, raw: bytes | str) -> dict[str, Any]:
    """The state's JSON, checked section by section (not yet decoded)."""
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        state = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelFileError(path, f"its skkeras state is not valid JSON (corrupted?): {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise ModelFileError(path, "its skkeras state is not a skkeras estimator description.")
    version = state.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(path, f"its skkeras format version {version!r} is not an integer (corrupted?).")
    if version > FORMAT_VERSION:
        from .. import __version__

        versions = state.get("versions")
        writer = versions.get("skkeras") if isinstance(versions, dict) else None
        writer = writer if isinstance(writer, str) else "a newer skkeras"
        raise ModelFileError(
            path,
            f"it was written by skkeras {writer[:40]} in file format version {version}, but this "
            f"skkeras ({__version__}) reads versions up to {FORMAT_VERSION}. Upgrade skkeras to load it.",
        )
    for key in ("estimator", "params", "fitted", "keras"):
        if not isinstance(state.get(key), dict):
            raise ModelFileError(path, f"its skkeras state lacks the {key!r} section (corrupted?).")
    for section, keys in (("estimator", _ESTIMATOR_KEYS), ("keras", _KERAS_KEYS)):
        for key, value in state[section].items():
            if key not in keys:
                raise ModelFileError(path, f"its {section!r} section holds the unknown entry {key!r}.")
            if not isinstance(value, keys[key]):
                raise ModelFileError(
                    path, f"its {section!r} section entry {key!r} holds {type(value).__name__}, "
                    f"but must be {describe_spec(keys[key])}.",
                )
    if state["estimator"].get("kind") not in ("classifier", "regressor", "estimator", None):
        raise ModelFileError(path, f"its estimator kind {state['estimator']['kind']!r} is unknown.")
    return state

"""The codec of a file's state: values to JSON and back, allow-listed.

Fitted values are data only (numbers, strings, arrays, dtypes, tuples, dicts and the
skkeras dataclasses in :data:`~.schema.CODEC_DATACLASSES`): a reference to code there is
an error. Parameter values are data too, except references to functions and classes,
which resolve through :mod:`.trust`, and Keras objects stored as Keras configs, which
Keras deserializes in safe mode with only the caller's custom objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from .schema import CODEC_DATACLASSES, StateError, _codec_class, _is_int, describe_spec, matches
from .trust import Trust, UnrestoredParam, importable_name, qualified_name

TAG = "__skkeras__"
_TAG = TAG  # the key that marks a tagged value in the JSON


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
#: Memory all the arrays of one file's state may take, and the widest string type.
_MAX_ARRAY_BYTES = 256 * 2**20
_MAX_ITEMSIZE = 2**16


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
        self._array_bytes_left = _MAX_ARRAY_BYTES

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
        dtype = np.dtype(object) if data["dtype"] == "object" else _plain_dtype(data["dtype"], where)
        self._array_bytes_left -= dtype.itemsize * math.prod(shape)  # before allocating
        if self._array_bytes_left < 0:
            raise StateError(f"{where}: the file's arrays take more than {_MAX_ARRAY_BYTES} bytes")
        if data["dtype"] == "object":
            if not isinstance(values, list) or not all(
                v is None or isinstance(v, str | bool | int | float) for v in values
            ):
                raise StateError(f"{where}: an object array may hold only strings, numbers and None")
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array.reshape(shape)
        if dtype.kind in "US":  # as wide as the data needs, then the declared width
            array = np.array(values)
            if array.size != math.prod(shape):
                raise StateError(f"{where}: {array.size} values for the shape {shape}")
            return array.astype(dtype).reshape(shape)
        return np.array(values, dtype=dtype).reshape(shape)

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
        """A Keras object (an optimizer, loss, metric, layer... instance, the only kinds
        :class:`Encoder` writes so): a config that makes anything else (a class or
        function, which Keras's "function" configs reach in any public Keras module,
        ``CSVLogger`` included) or holds arrays of other than numbers is refused."""
        config = data["config"]
        name = config.get("class_name", "?") if isinstance(config, dict) else "?"
        problem = _keras_config_problem(config)
        if problem is not None:
            return self.placeholder(where, f"a Keras {name}", problem)
        try:
            with keras_safe_mode(not self.trust.trust_all):
                made = keras.saving.deserialize_keras_object(
                    config, custom_objects=self.trust.keras_custom_objects(),
                    safe_mode=not self.trust.trust_all,
                )
        except Exception as error:  # noqa: BLE001
            return self.placeholder(where, f"a Keras {name}", f"Keras could not rebuild it: {error}")
        if not isinstance(made, _KERAS_SERIALIZABLE):
            return self.placeholder(
                where, f"a Keras {name}", f"files hold Keras objects as instances, but this "
                f"config makes {describe_value(made)}; a class or function is stored by name "
                "and must be trusted",
            )
        return made

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


def _keras_config_problem(config: Any) -> str | None:
    """Why a Keras config may not be rebuilt, or None: arrays in it (Keras's
    ``__numpy__``/``__tensor__`` entries) must be of numbers, so their size is the
    file's; a string dtype could declare gigabytes per element."""
    pending, seen = [config], 0
    while pending:
        node = pending.pop()
        seen += 1
        if seen > 100_000:
            return "its config is implausibly large"
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            if node.get("class_name") in ("__numpy__", "__tensor__"):
                inner = node.get("config")
                dtype = inner.get("dtype") if isinstance(inner, dict) else None
                try:
                    kind = np.dtype(dtype).kind if isinstance(dtype, str) and len(dtype) <= 16 else None
                except TypeError:
                    kind = None
                if kind is None or kind not in "biuf":
                    return f"it holds an array of dtype {str(dtype)[:40]!r}; only numbers are read"
            pending.extend(node.values())
    return None


def _plain_dtype(spec: Any, where: str, allow_object: bool = False) -> np.dtype:
    if not isinstance(spec, str) or len(spec) > 16:
        raise StateError(f"{where}: {spec!r} is not a dtype name")
    try:
        dtype = np.dtype(spec)
    except TypeError:
        raise StateError(f"{where}: {spec!r} is not a dtype name") from None
    if dtype.kind not in "biufUS" and not (allow_object and dtype.kind == "O"):
        raise StateError(f"{where}: dtype {dtype} is not allowed")
    if dtype.itemsize > _MAX_ITEMSIZE:
        raise StateError(f"{where}: dtype {spec!r} is wider than {_MAX_ITEMSIZE} bytes an element")
    return dtype


@contextlib.contextmanager
def keras_safe_mode(safe_mode: bool) -> Iterator[None]:
    """Keras's safe-mode scope, for Keras calls that take no ``safe_mode`` argument."""
    from .._keras_compat import safe_mode_scope

    with safe_mode_scope(safe_mode):
        yield

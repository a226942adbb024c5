"""The fitted-attribute schema: which names a file may set on an estimator, with which types.

:data:`BASE_FITTED_SCHEMA` covers every estimator, :data:`CLASSIFIER_FITTED_SCHEMA` adds
the classifiers' names, and a class may declare more in a ``_fitted_schema`` class
attribute (merged over the MRO, subclasses last), e.g.
``_fitted_schema = {"vocabulary_": np.ndarray}``. A type spec is a type, a tuple of
types or a :class:`FittedType`. Dunder and private names, names of methods or other class
attributes, and known names holding the wrong type are refused (:class:`StateError`,
reported as ``ModelFileError``); unknown public names ending in ``_`` (a newer skkeras
may add some) are ignored with a warning. :data:`CODEC_DATACLASSES` lists the skkeras
dataclasses a file may hold, with the types of their fields.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .trust import qualified_name

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class StateError(Exception):
    """A malformed or refused state; reported as ``ModelFileError``."""


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

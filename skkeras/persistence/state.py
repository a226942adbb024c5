"""The estimator state a file holds: written from an estimator, read and checked section by section.

A state is a JSON object with the sections ``estimator`` (class and kind), ``params``
(constructor and routed parameters), ``fitted`` (fitted attributes), ``keras`` (the
compile configuration) and ``versions``. Loading reads it into fixed shapes and never
sets an attribute whose name the file chose: the fitted section through the schema
(:mod:`.schema`), values through the codec (:mod:`.codec`).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import keras
import numpy as np

from .codec import TAG as _TAG
from .codec import Encoder, keras_safe_mode
from .schema import (
    CODEC_DATACLASSES,
    RESERVED_FITTED,
    StateError,
    check_fitted,
    describe_spec,
    fitted_schema,
)
from .trust import qualified_name

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "StateError", "check_fitted",
           "estimator_state", "keras_safe_mode", "parse_state", "state_json"]

#: Version of the skkeras state written into files; bumped when the layout changes.
#: Files with a larger version are refused (written by a newer skkeras).
FORMAT_VERSION = 1
FORMAT_NAME = "skkeras"

PathLike = str | os.PathLike


class ModelFileError(ValueError):
    """A file that :func:`load` cannot read: truncated, corrupted, not written by
    skkeras, written by a newer skkeras, or holding what loading refuses (code that
    safe mode refuses, names or values outside the estimator's schema)."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"Cannot load {self.path!r}: {problem}")


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

"""``save``, ``load`` and ``untrusted_references``: an estimator to a file and back."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import keras

from .atomic import atomic_write
from .codec import Decoder as _Decoder
from .files import (
    check_model_path,
    read_state,
    read_state_and_model,
    repair_compile_config,
    writer_for,
)
from .guards import MAX_CONFIG_BYTES, zip_member
from .state import (
    ModelFileError,
    StateError,
    check_fitted,
    state_json,
)
from .trust import (
    Trust,
    TrustedSpec,
    UnrestoredParam,
    importable_name,
    is_reference,
)

PathLike = str | os.PathLike


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
    attributes of the class's schema (``classes_``, ``n_features_in_``,
    ``feature_names_in_``, the target encoding, ``history_``...; others are left
    out with a warning), the format version and the versions of skkeras, Keras, its
    backend, NumPy, scikit-learn and Python. The Keras file keeps the optimizer's
    state, so ``partial_fit`` and ``warm_start`` continue after :func:`load`.

    The write is atomic: an existing file at ``path`` is replaced only once the new
    one is complete, an error leaves it untouched and no temporary file, and the
    temporary files of earlier saves to ``path`` that were killed are removed. A
    full disk raises ``OSError`` (``errno.ENOSPC``) saying so, with the path.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_", msg=(
        "This %(name)s is not fitted: save() writes a trained model. Fit it first, or "
        "pickle/joblib the unfitted estimator."
    ))
    target, writer = writer_for(path)
    repair_compile_config(estimator.model_)
    data = state_json(estimator)
    atomic_write(target, lambda tmp: writer(estimator.model_, data, tmp))


# --------------------------------------------------------------------- loading
def load(
    path: PathLike,
    *,
    safe_mode: bool = True,
    custom_objects: Mapping[str, Any] | None = None,
    trusted: TrustedSpec = None,
) -> Any:
    """Load an estimator saved by :func:`save`, running no code the file names.

    The format is recognised from the file's content. Nothing is unpickled. The
    Keras model is read with Keras's ``safe_mode`` (a ``Lambda`` layer is refused),
    the estimator's fitted attributes are read into the class's fixed schema (names
    outside it are an error), and a function or class the file references (a model
    builder, a loss, a callback class) is used only if it is a public Keras object,
    skkeras's ``build_mlp``, registered with Keras
    (``keras.saving.register_keras_serializable``), given in ``custom_objects``, or
    named in ``trusted``. Other references load as :class:`UnrestoredParam`
    placeholders, named in a warning: prediction and scoring never need them, and
    training raises a ``ValueError`` that says how to trust or set them. See
    :func:`untrusted_references` to list what a file names before trusting it.

    Parameters
    ----------
    path : str or path-like
    safe_mode : bool, default=True
        False is for files you wrote: Keras may deserialize Lambda layers (running
        their code), and every reference the file makes is trusted and its module
        imported.
    custom_objects : dict, default=None
        Custom Keras layers, losses... by name, as for ``keras.saving.load_model``;
        they are trusted.
    trusted : list of functions, classes or "module:qualname" strings, default=None
        References the file may make beyond the defaults, e.g.
        ``trusted=[my_module.build_model, "my_module:MyCallback"]``. A module named
        only by string is imported. Trusted objects are also given to Keras as
        custom objects.

    Returns
    -------
    The estimator, fitted: of the class that was saved when that is a skkeras
    class or trusted, else the skkeras class of the same kind.

    Raises
    ------
    ModelFileError
        (a ValueError) for a truncated, corrupted, non-skkeras or newer-format file,
        one that safe mode refuses, or a state outside the estimator's schema
        (a private or method name, a value of the wrong type); the message names
        the file and the offending entry.
    """
    return load_estimator(path, None, safe_mode=safe_mode, custom_objects=custom_objects, trusted=trusted)


def untrusted_references(path: PathLike, *, trusted: TrustedSpec = None) -> list[str]:
    """The functions and classes a file names that :func:`load` would not trust.

    Reads the file's skkeras state only (no model is built, no module imported) and
    lists, as ``"module:qualname"`` strings ready for ``load(path, trusted=[...])``:
    references held by parameters (builders, optimizer/loss/metric/callback classes
    and functions), the estimator class, and custom objects that the Keras configs
    in the file name (parameters, compile configuration, model). Review them before
    you trust them: trusting a name lets the file call it with arguments it chose.
    """
    path = os.fspath(path)
    check_model_path(path)
    trust = Trust(trusted)
    state = read_state(path)
    found: set[str] = set()
    _collect_references(state["params"], found)
    keras_names: set[str] = set()
    _collect_keras_objects(state["params"], keras_names)
    _collect_keras_objects(state["keras"].get("compile_config"), keras_names)
    _collect_keras_objects(_model_config(path), keras_names)
    untrusted = {name for name in found if trust.untrusted(name)}
    untrusted |= {name for name in keras_names if trust.untrusted(name)}
    estimator_class = state["estimator"].get("class")
    if isinstance(estimator_class, str) and not _skkeras_public(estimator_class) and trust.untrusted(estimator_class):
        untrusted.add(estimator_class)
    return sorted(untrusted)


def _collect_references(data: Any, found: set[str]) -> None:
    if isinstance(data, list):
        for item in data:
            _collect_references(item, found)
    elif isinstance(data, dict):
        if data.get("__skkeras__") == "import":
            found.add(str(data.get("name")))
            return
        if data.get("__skkeras__") == "keras":
            return
        for value in data.values():
            _collect_references(value, found)


def _collect_keras_objects(data: Any, found: set[str]) -> None:
    """``module:class_name`` for every object a Keras config names outside Keras."""
    if isinstance(data, list):
        for item in data:
            _collect_keras_objects(item, found)
    elif isinstance(data, dict):
        module, name = data.get("module"), data.get("class_name")
        if isinstance(module, str) and isinstance(name, str) and module not in ("builtins", "keras") \
                and not module.startswith("keras."):
            if name == "function" and isinstance(data.get("config"), str):
                name = data["config"]
            found.add(f"{module}:{name}")
        for value in data.values():
            _collect_keras_objects(value, found)


def _model_config(path: str) -> Any:
    import json
    import zipfile

    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"PK\x03\x04":
            with zipfile.ZipFile(path) as archive:
                return json.loads(zip_member(archive, "config.json", MAX_CONFIG_BYTES))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except Exception:  # noqa: BLE001 - no readable model config: nothing listed from it
        return None


def load_estimator(
    path: PathLike, cls: type | None, *, safe_mode: bool, custom_objects: Mapping[str, Any] | None,
    trusted: TrustedSpec,
) -> Any:
    path = os.fspath(path)
    trust = Trust(trusted, safe_mode=safe_mode, custom_objects=custom_objects)
    check_model_path(path)
    state, model, compiled = read_state_and_model(path, safe_mode, trust.keras_custom_objects())
    return _estimator_from_state(path, state, model, compiled, cls, trust)


def _skkeras_public(name: str) -> bool:
    module = name.partition(":")[0]
    return (module == "skkeras" or module.startswith("skkeras.")) and not any(
        part.startswith("_") for part in name.replace(":", ".").split(".")
    )


def _own_module(module: str) -> bool:
    """Import one of skkeras's own public modules (our code only) if it exists; True if imported."""
    import importlib
    import importlib.util

    if module not in sys.modules:
        try:
            if importlib.util.find_spec(module) is None:
                return False
            importlib.import_module(module)
        except (ImportError, ValueError):
            return False
    return True


def _estimator_class(path: str, state: dict, requested: type | None, trust: Trust) -> type:
    from ..wrappers import BaseWrapper, KerasClassifier, KerasRegressor

    info = state["estimator"]
    kind = info.get("kind")
    name = info.get("class", "?")
    base = {"classifier": KerasClassifier, "regressor": KerasRegressor}.get(kind)
    if requested is not None:
        if base is not None and not issubclass(requested, base):
            raise ModelFileError(
                path, f"it holds a {kind} ({name.split(':')[-1]}), which {requested.__name__}.load "
                f"cannot load: use {base.__name__}.load or skkeras.load.",
            )
        return requested
    found, problem = None, "it is not a valid 'module:qualname' reference"
    if is_reference(name):
        module = name.partition(":")[0]
        if _skkeras_public(name) and _own_module(module):
            from .trust import _static_lookup

            found = _static_lookup(sys.modules[module], name.partition(":")[2])
            found = found if importable_name(found) == name else None
            problem = "skkeras has no such estimator class"
        else:
            found, problem = trust.resolve(name)
    if isinstance(found, type) and issubclass(found, BaseWrapper):
        if base is not None and not issubclass(found, base):
            raise ModelFileError(path, f"its estimator class {name!r} is not a {kind}.")
        return found
    if found is not None:
        raise ModelFileError(path, f"its estimator class {name!r} is not a skkeras estimator.")
    if base is None:
        raise ModelFileError(path, f"its estimator class {name!r} is not a skkeras estimator ({problem}).")
    warnings.warn(
        f"{path}: the estimator class {name!r} was not used ({problem}); loading it as a "
        f"{base.__name__}. To get that class, use {name.split(':')[-1]}.load(path) or "
        f"skkeras.load(path, trusted=[{name!r}]).", UserWarning, stacklevel=4,
    )
    return base


def _estimator_from_state(
    path: str, state: dict, model: Any, compiled: bool, requested: type | None, trust: Trust,
) -> Any:
    cls = _estimator_class(path, state, requested, trust)
    kind = state["estimator"].get("kind") or "estimator"
    decoder = _Decoder(trust, fitted_model=model)
    entry = "?"
    try:
        params = {}
        for name, value in state["params"].items():
            entry = f"parameter {name!r}"
            _check_param_name(name)
            params[name] = decoder.decode_param(value, name)
        unrestored = dict(decoder.unrestored)
        fitted, lost = {}, []
        for name, value in state["fitted"].items():
            entry = f"fitted attribute {name!r}"
            before = len(decoder.unrestored)
            decoded = decoder.decode_data(value, name)
            if len(decoder.unrestored) > before:
                lost.append(f"fitted attribute {name} ({list(decoder.unrestored.values())[-1].reason})")
            else:
                fitted[name] = decoded
        entry = "fitted section"
        fitted, ignored = check_fitted(cls, kind, fitted)
    except StateError as error:
        raise ModelFileError(path, f"its skkeras state is refused at the {entry}: {error}.") from None
    except Exception as error:  # noqa: BLE001 - malformed state: KeyError, TypeError...
        raise ModelFileError(
            path, f"its skkeras state is malformed at the {entry} (corrupted?): {type(error).__name__}: {error}"
        ) from None
    estimator = _construct(path, cls, params)
    if "target_" in fitted and hasattr(estimator, "_set_target_attributes"):
        # The default encoders and the facts they report, derived from the target.
        estimator._set_target_attributes(fitted["target_"])
    for name in fitted:  # names from the class's schema, never the file's own strings
        setattr(estimator, name, fitted[name])
    estimator.model_ = model
    if not compiled:
        _compile_for_refusal(estimator, model, state)
    if ignored:
        warnings.warn(
            f"{path}: the fitted attributes {sorted(ignored)} are not in {cls.__name__}'s schema "
            "(written by a newer skkeras, or by a subclass that does not declare them in "
            "_fitted_schema) and were ignored.", UserWarning, stacklevel=4,
        )
    if unrestored or lost:
        parts = [f"{name}= ({p.description}: {p.reason})" for name, p in unrestored.items()] + lost
        warnings.warn(
            f"Loaded {cls.__name__} from {path} for prediction, but some values were not "
            f"restored: {'; '.join(parts)}. Prediction and scoring work; set them again "
            "with set_params(...), or trust them when loading, before training.",
            UserWarning, stacklevel=4,
        )
    return estimator


def _check_param_name(name: Any) -> None:
    import re

    if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name) or name.endswith("__"):
        raise StateError(f"the parameter name {name!r} is not a parameter name")


def _construct(path: str, cls: type, params: dict[str, Any]) -> Any:
    """The estimator with the file's parameters, validated as ``set_params`` validates them."""
    from ..routing import routing_prefix

    declared = set(cls._get_param_names()) if hasattr(cls, "_get_param_names") else set()
    own = {name: value for name, value in params.items() if name in declared}
    extra = {name: value for name, value in params.items() if name not in declared}
    try:
        estimator = cls(**own)
    except (TypeError, ValueError) as error:
        raise ModelFileError(path, f"its parameters do not fit {cls.__name__}: {error}") from None
    for name, value in extra.items():
        if routing_prefix(name) is None and hasattr(type(estimator), name):
            raise ModelFileError(
                path, f"its parameter {name!r} is a method or attribute of {cls.__name__}, not a parameter."
            )
        try:
            estimator.set_params(**{name: value})
        except ValueError as error:
            raise ModelFileError(path, f"its parameter {name!r} is refused: {error}") from None
    return estimator


@keras.saving.register_keras_serializable(package="skkeras")
class UncompiledModel(UnrestoredParam):
    """The loss of a loaded model whose compile configuration could not be rebuilt:
    training it further (``partial_fit``, ``warm_start``) says what to register."""

    def message(self) -> str:
        return (
            f"The loaded model could not be compiled: its compile configuration names "
            f"{self.description}, which was not restored ({self.reason}). Training it further "
            "(partial_fit, warm_start) needs it: register it with "
            "keras.saving.register_keras_serializable, or load again with "
            "custom_objects={...} or trusted=[...]. A fit without warm_start builds a new "
            "model from the estimator's parameters instead."
        )


def _compile_for_refusal(estimator: Any, model: Any, state: dict) -> None:
    """Compile a model whose own compile configuration failed with a loss that refuses
    to train, so that continuing its training says what is missing (and the model
    has an optimizer, like every fitted model)."""
    names = set()
    _collect_keras_objects(state["keras"].get("compile_config"), names)
    for name in ("loss", "metrics", "optimizer"):  # what the estimator's own parameters lost
        value = getattr(estimator, name, None)
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, UnrestoredParam):
                names.add(item.description)
    description = ", ".join(sorted(names)) or "custom objects"
    placeholder = UncompiledModel("loss", description, "they are not registered with Keras nor trusted")
    try:
        model.compile(optimizer=keras.optimizers.Adam(), loss=placeholder, run_eagerly=bool(
            getattr(estimator, "run_eagerly", False)))
    except Exception:  # noqa: BLE001 - stays uncompiled; Keras then says compile() is needed
        pass

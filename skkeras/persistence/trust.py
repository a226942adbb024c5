"""What a file may reference: the trust policy of :func:`skkeras.load`.

A file names functions and classes (a model builder, an optimizer, loss, metric or
callback class) as ``"module:qualname"``. Loading resolves such a reference only if
the object is

(a) a *public Keras object*: a class reachable as ``keras.<namespace>.<name>`` for
    the modelling namespaces in :data:`KERAS_NAMESPACES` (layers, losses, metrics,
    optimizers and their schedules, activations, initializers, regularizers,
    constraints), or a function of ``keras.losses``, ``keras.metrics`` or
    ``keras.activations``, or one of the callbacks in :data:`KERAS_CALLBACKS`
    (an allow-list: the others write files, reach the network or call functions);
    except the layers in :data:`KERAS_EXCLUDED`, which run code or load files
    (``Lambda``, ``TFSMLayer``), and the ``get``/``serialize``/``deserialize``
    helpers of each namespace;
(b) a skkeras object made to be a parameter value (:data:`SKKERAS_TRUSTED`);
(c) registered with Keras (``keras.saving.register_keras_serializable``), or given
    to :func:`~skkeras.load` in ``custom_objects``;
(d) named by the caller: ``trusted=[my_module.build, "my_module:MyCallback"]``.

The file's spelling of the object is checked against the object: the reference
must be the object's own ``__module__`` and ``__qualname__`` (no reaching
``os.system`` through ``some_module:os.system``), and, unless the caller trusted
it by name, its module must already be imported (loading imports nothing a file
names). ``safe_mode=False`` trusts every reference and imports its module.

Everything else loads as an :class:`UnrestoredParam` placeholder that prediction
never touches and training refuses with a message saying how to trust it.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import keras

#: Keras namespaces whose classes are trusted by default (see the module docstring).
KERAS_NAMESPACES = (
    "layers", "losses", "metrics", "optimizers", "optimizers.schedules", "activations",
    "initializers", "regularizers", "constraints",
)
#: The Keras callbacks trusted by default: they neither touch files nor the network nor
#: call functions a file could choose (CSVLogger, ModelCheckpoint, BackupAndRestore,
#: OrbaxCheckpoint, TensorBoard, RemoteMonitor and LambdaCallback need ``trusted=``).
KERAS_CALLBACKS = ("Callback", "EarlyStopping", "History", "LearningRateScheduler", "ProgbarLogger",
                   "ReduceLROnPlateau", "SwapEMAWeights", "TerminateOnNaN")
#: Namespaces whose plain functions (not only classes) are trusted: pure maths.
KERAS_FUNCTION_NAMESPACES = ("losses", "metrics", "activations")
#: Top-level Keras classes trusted by default.
KERAS_TOP_LEVEL = ("Model", "Sequential", "Layer", "Loss", "Metric", "Optimizer", "Initializer",
                   "Regularizer", "Constraint")
#: Public Keras names never trusted by default: called with arguments from a file, they
#: would run code or load files.
KERAS_EXCLUDED = frozenset({"layers.Lambda", "layers.TFSMLayer"})
_HELPER_NAMES = frozenset({"get", "serialize", "deserialize"})

#: skkeras objects a file may name without being trusted: those made to be parameter values.
SKKERAS_TRUSTED = ("skkeras.building:build_mlp",)

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*$")

TrustedSpec = Iterable[Callable[..., Any] | type | str] | None


@keras.saving.register_keras_serializable(package="skkeras")
class UnrestoredParam(keras.callbacks.Callback):
    """Stands in for a parameter value that could not be kept.

    It appears in ``get_params()`` of an estimator loaded from a file (a builder
    function that is not trusted or whose module was not imported, a callback
    instance, which files cannot hold) or unpickled (a callback that could not be
    pickled). Prediction and scoring never touch it; the training step that needs
    the value raises a ``ValueError`` that says what to set, e.g.
    ``est.set_params(callbacks=[...])``, or how to trust it when loading.
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

    def get_config(self) -> dict[str, str]:
        """Keras serializes a placeholder that stands in a compiled model's loss (it
        calls nothing when rebuilt: every use raises its message)."""
        return {"name": self.name, "description": self.description, "reason": self.reason,
                "needed_for": self.needed_for}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UnrestoredParam:
        return cls(**{k: str(config.get(k, "?"))[:500] for k in ("name", "description", "reason", "needed_for")})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(self.message())

    def set_model(self, model: Any) -> None:
        raise ValueError(self.message())

    def on_train_begin(self, logs: Any = None) -> None:
        raise ValueError(self.message())


def qualified_name(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def is_reference(name: Any) -> bool:
    """Whether ``name`` is spelled as a reference, ``"package.module:Class.attr"``."""
    return isinstance(name, str) and len(name) < 500 and bool(_REFERENCE.match(name))


def importable_name(obj: Any) -> str | None:
    """``"module:qualname"`` if that name leads back to ``obj``, else None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    found = _static_lookup(sys.modules.get(module), qualname)
    return f"{module}:{qualname}" if found is obj else None


def _static_lookup(root: Any, qualname: str) -> Any:
    """``root.a.b`` for ``qualname`` "a.b", reading only the namespaces' own dicts, so
    that no module ``__getattr__`` (a lazy import) or descriptor runs."""
    if root is None:
        return None
    for part in qualname.split("."):
        try:
            namespace = vars(root)
        except TypeError:
            return None
        if part not in namespace:
            return None
        root = namespace[part]
        if isinstance(root, staticmethod | classmethod):
            root = root.__func__
    return root


def _keras_public_name(obj: Any) -> str | None:
    """``"layers.Dense"`` if ``obj`` is a trusted public Keras object, else None."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or name.startswith("_") or name in _HELPER_NAMES:
        return None
    if isinstance(obj, type) and name in KERAS_TOP_LEVEL and getattr(keras, name, None) is obj:
        return name
    if name in KERAS_CALLBACKS and getattr(keras.callbacks, name, None) is obj:
        return f"callbacks.{name}"
    for namespace in KERAS_NAMESPACES:
        module = _static_lookup(keras, namespace)
        if module is None or getattr(module, name, None) is not obj:
            continue
        public = f"{namespace}.{name}"
        if public in KERAS_EXCLUDED:
            return None
        if isinstance(obj, type) or namespace in KERAS_FUNCTION_NAMESPACES:
            return public
    return None


def _registered_with_keras(obj: Any) -> bool:
    try:
        registered = keras.saving.get_registered_name(obj)
        return registered != getattr(obj, "__name__", None) and \
            keras.saving.get_registered_object(registered) is obj
    except Exception:  # noqa: BLE001 - not registrable: not registered
        return False


class Trust:
    """Resolves the references of one file under the caller's trust.

    Parameters
    ----------
    trusted : iterable of objects or ``"module:qualname"`` strings, default=None
    safe_mode : bool, default=True
        False trusts every reference (and imports its module).
    custom_objects : mapping, default=None
        Objects the caller gave Keras; trusted as given.
    """

    def __init__(self, trusted: TrustedSpec = None, *, safe_mode: bool = True,
                 custom_objects: Mapping[str, Any] | None = None) -> None:
        self.trust_all = not safe_mode
        self.names: set[str] = set()
        self.objects: list[Any] = []
        if isinstance(trusted, str) or (trusted is not None and not isinstance(trusted, Iterable)):
            raise ValueError(
                "trusted must be a list of functions, classes or 'module:qualname' strings, "
                f"got {trusted!r}."
            )
        for item in trusted or ():
            if isinstance(item, str):
                if not is_reference(item):
                    raise ValueError(
                        f"trusted={item!r} is not a reference: name objects as 'module:qualname' "
                        "(e.g. 'my_package.models:build_model'), or pass the object itself."
                    )
                self.names.add(item)
            elif callable(item):
                self.objects.append(item)
                name = importable_name(item)
                if name is not None:
                    self.names.add(name)
            else:
                raise ValueError(
                    f"trusted holds {item!r}: give functions, classes or 'module:qualname' strings."
                )
        self.custom_objects = dict(custom_objects or {})
        self.objects.extend(v for v in self.custom_objects.values() if callable(v))

    def keras_custom_objects(self) -> dict[str, Any]:
        """What Keras's deserializer may use beyond its own: the caller's custom
        objects and the trusted objects, by name and by registered name."""
        found = {}
        named = []
        for name in sorted(self.names):
            obj, problem = self.resolve(name)
            if problem is None:
                named.append(obj)
        for obj in [*self.objects, *named]:
            for name in (getattr(obj, "__name__", None), _safe_registered_name(obj)):
                if isinstance(name, str):
                    found.setdefault(name, obj)
        return {**found, **self.custom_objects}

    def is_trusted(self, obj: Any) -> bool:
        """Whether a resolved object may be used (called at fit) without the caller's say."""
        return (
            self.trust_all
            or any(obj is trusted for trusted in self.objects)
            or importable_name(obj) in self.names
            or _keras_public_name(obj) is not None
            or importable_name(obj) in SKKERAS_TRUSTED
            or _registered_with_keras(obj)
        )

    def resolve(self, name: str) -> tuple[Any, str | None]:
        """``(object, None)``, or ``(None, why not)`` for a reference that stays a placeholder."""
        if not is_reference(name):
            return None, "it is not a valid 'module:qualname' reference"
        module, _, qualname = name.partition(":")
        if any(part.startswith("__") for part in qualname.split(".")):
            return None, "it names a dunder attribute"
        named_by_caller = self.trust_all or name in self.names
        if module not in sys.modules:
            if not named_by_caller:
                return None, (
                    f"its module {module!r} is not imported and skkeras.load imports no module a "
                    f"file names; {how_to_trust(name)}"
                )
            try:
                importlib.import_module(module)
            except Exception as error:  # noqa: BLE001 - reported in the placeholder
                return None, f"importing {module} failed: {type(error).__name__}: {error}"
        found = _static_lookup(sys.modules.get(module), qualname)
        if found is None:
            return None, f"{module} has no attribute {qualname!r}"
        if importable_name(found) != name:
            return None, (
                f"{name} is not the object's own name (it is "
                f"{getattr(found, '__module__', '?')}:{getattr(found, '__qualname__', '?')}); "
                f"files name objects where they are defined; {how_to_trust(name)}"
            )
        if not self.is_trusted(found):
            return None, f"it is not trusted; {how_to_trust(name)}"
        return found, None

    def untrusted(self, name: str) -> bool:
        """Whether ``name`` would stay a placeholder, importing nothing."""
        if self.trust_all or name in self.names:
            return False
        if not is_reference(name):
            return True
        module, _, qualname = name.partition(":")
        found = _static_lookup(sys.modules.get(module), qualname)
        return found is None or importable_name(found) != name or not self.is_trusted(found)


def how_to_trust(name: str) -> str:
    return (
        f"if you trust it, load with trusted=[{name!r}] (which imports its module) or register it "
        "with keras.saving.register_keras_serializable; skkeras.persistence.untrusted_references"
        "(path) lists what a file names"
    )


def _safe_registered_name(obj: Any) -> str | None:
    try:
        return keras.saving.get_registered_name(obj)
    except Exception:  # noqa: BLE001
        return None

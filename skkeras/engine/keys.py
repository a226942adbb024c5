"""Keys of compiled programs: an architecture and compile configuration, names made
positional, so that two builds of one architecture share a program."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import keras
import scipy.sparse

from .. import _keras_compat
from ..building import without_tensorflow_lookup
from .sparse_rows import signature

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------- program cache
def architecture_key(model: keras.Model, *, with_learning_rate: bool = False) -> str | None:
    """The architecture and compile configuration as JSON, names made positional.

    Two builds of one architecture get different layer names (dense_3, dense_7),
    and metric objects made per build different metric names (auc_3, auc_7);
    mapping names to positions makes their configurations equal (the logs are
    renamed back per fit, see :func:`log_renames`). A constant learning rate is
    left out by default: it lives in an optimizer variable, so one compiled
    program serves every rate.
    """
    configs = _configurations(model, with_learning_rate)
    return None if configs is None else _positional_text(model, configs)


def _positional_text(model: keras.Model, configs: tuple[dict, dict]) -> str:
    """The configurations as JSON, with the layer and metric names replaced by
    their positions.

    A name that also occurs as a value (a layer called "relu") keeps its text:
    replacing the value too could make two different configurations equal.
    """
    text = "".join(json.dumps(config, sort_keys=True, default=repr) for config in configs)
    values = _plain_values(configs)
    layers = (layer.name for layer in _keras_compat.flatten_layers(model, include_self=True))
    names = dict.fromkeys([*layers, *metric_names(configs[1])])
    for position, name in enumerate(names):
        if name not in values:
            text = text.replace(json.dumps(name), f'"L{position}"')
    return text


def _plain_values(config: Any) -> set[str]:
    """The strings in a configuration other than names: values of keys other than
    ``name``, and list items other than a layer reference's ``[name, node, index]``."""
    found: set[str] = set()

    def walk(value: Any, key: Any = None) -> None:
        if isinstance(value, str):
            if key != "name":
                found.add(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list | tuple):
            reference = len(value) == 3 and isinstance(value[0], str) and all(
                isinstance(v, int) for v in value[1:])
            for v in value[1:] if reference else value:
                walk(v)

    walk(config)
    return found


def metric_names(compile_config: Mapping[str, Any]) -> list[str]:
    """The names of the metric objects in a compile configuration, in order
    (metrics given as strings are named by Keras the same way every build)."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict) and "class_name" in value:
            name = (value.get("config") or {}).get("name")
            if isinstance(name, str):
                names.append(name)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk([compile_config.get("metrics"), compile_config.get("weighted_metrics")])
    return names


def log_renames(template: keras.Model, model: keras.Model) -> dict[str, str]:
    """Log names of a program's template mapped to ``model``'s own, for metric
    objects that are named differently in the two builds (``auc_3`` and ``auc_7``)."""
    if template is model:
        return {}
    with without_tensorflow_lookup():
        pairs = zip(metric_names(template.get_compile_config() or {}),
                    metric_names(model.get_compile_config() or {}), strict=False)
    renames = {ours: theirs for ours, theirs in pairs if ours != theirs}
    return {**renames, **{f"val_{k}": f"val_{v}" for k, v in renames.items()}}


def renamed(logs: Mapping[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    """``logs`` with keys renamed by :func:`log_renames`."""
    return {renames.get(name, name): value for name, value in logs.items()}


def _configurations(model: keras.Model, with_learning_rate: bool = False) -> tuple[dict, dict] | None:
    """The model's configuration and compile configuration; None if it has none."""
    try:
        with without_tensorflow_lookup():
            config = model.get_config()
            compile_config = model.get_compile_config() or {}
    except Exception:  # a subclassed model without get_config: no reuse
        return None
    optimizer = compile_config.get("optimizer")
    if isinstance(optimizer, dict):
        settings = dict(optimizer.get("config", {}))
        settings.pop("name", None)
        if not with_learning_rate and isinstance(settings.get("learning_rate"), int | float):
            settings.pop("learning_rate")
        compile_config = {**compile_config, "optimizer": {**optimizer, "config": settings}}
    return config, compile_config


def exportable_key(model: keras.Model) -> str | None:
    """:func:`architecture_key` if the model is made of Keras's own classes and
    functions only, so that its configuration determines its traced programs
    (see :func:`skkeras.compilation_cache.lowered`); None otherwise.

    A custom layer, loss, metric or activation could change its code under the
    same configuration, and a ``Lambda`` layer's function can read globals. The
    metric names stay in the key as they are: a saved program returns its logs
    under the names it was traced with.
    """
    configs = _configurations(model)
    if not type(model).__module__.startswith("keras.") or configs is None or not _keras_only(configs):
        return None
    return f"{_positional_text(model, configs)}|metrics{json.dumps(metric_names(configs[1]))}"


def _keras_only(config: Any) -> bool:
    if isinstance(config, tuple | list):
        return all(_keras_only(value) for value in config)
    if isinstance(config, dict):
        if "module" in config:
            module = config["module"]
            if not isinstance(module, str) or not (module == "keras" or module.startswith("keras.")):
                return False
            if config.get("registered_name") is not None or config.get("class_name") == "Lambda":
                return False
        return all(_keras_only(value) for value in config.values())
    return True


def _input_signature(x: Any) -> str:
    """Shapes (without rows) and dtypes of an array, or of a dict or list of arrays; for a
    sparse matrix, its dense width, ELL width and dtype (:func:`.sparse_rows.signature`)."""
    if isinstance(x, Mapping) and not scipy.sparse.issparse(x):
        return repr(sorted((k, _one_signature(a)) for k, a in x.items()))
    if isinstance(x, list | tuple):
        return repr([_one_signature(a) for a in x])
    return repr(_one_signature(x))


def _one_signature(a: Any) -> Any:
    return signature(a) if scipy.sparse.issparse(a) else (a.shape[1:], str(a.dtype))

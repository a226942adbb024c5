"""What the report runs with: its options, parsed, and its defaults.

Options: :func:`infer_task`, :func:`parse_hidden`, :func:`parse_grid`,
:func:`parse_params`, :func:`parse_baselines` and :func:`load_model` (a
``module:name`` a user gives on the command line), and the report's defaults.
The data is checked in :mod:`.data_checks`.

Nothing here imports Keras: the command line parses its options with it first.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BASELINES",
    "ReportError",
    "infer_task",
    "load_model",
    "parse_baselines",
    "parse_grid",
    "parse_hidden",
    "parse_params",
]

#: Defaults of the report, chosen so that the bundled Pima data (768 rows, 5 folds)
#: reports in seconds on 2 CPU cores.
DEFAULT_CV = 5
DEFAULT_EPOCHS = 50
DEFAULT_HIDDEN = (32, 16)
DEFAULT_RANDOM_STATE = 0
#: Share of each training fold held out for the network's validation loss curves.
#: 0 by default: on TensorFlow, validating every epoch makes the compiled training
#: run one epoch per call (Pima: 8 s instead of 1.3 s); ``--validation-split 0.1`` asks for them.
DEFAULT_VALIDATION_SPLIT = 0.0

#: An integer-valued numeric target with more distinct values than this is
#: treated as a regression target by :func:`infer_task`.
MAX_AUTO_CLASSES = 20

#: Grid-key shorthands.
GRID_ALIASES = {"hidden": "model__hidden_layer_sizes", "learning_rate": "optimizer__learning_rate"}

#: Baselines by task, in display order (names as ``--baselines`` takes them).
BASELINES = {
    "classification": ("logistic", "hist_gradient_boosting", "dummy"),
    "regression": ("ridge", "hist_gradient_boosting", "dummy"),
}

class ReportError(ValueError):
    """A mistake in the report's input or settings; the message is one line."""


# --------------------------------------------------------------------------- options
def infer_task(y: Any) -> str:
    """Classification or regression, from the target's values.

    Non-numeric targets (strings, booleans, categories) are class labels.
    Numeric targets with non-integer values are regression targets. Integer
    valued numeric targets are class labels when they have at most
    :data:`MAX_AUTO_CLASSES` distinct values, regression targets otherwise.

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    {"classification", "regression"}
    """
    from sklearn.utils.multiclass import type_of_target

    values = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    kind = type_of_target(values.to_numpy())
    if kind in ("binary", "multiclass") and values.nunique() <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer sizes from ``"32,16"``.

    Raises
    ------
    ReportError
        If an entry is not a positive integer.
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ReportError(
            f"--hidden {text!r}: expected comma-separated positive layer sizes, like 32,16."
        )
    return sizes


def _split_top_level(text: str, separator: str, option: str = "--grid") -> list[str]:
    """Split on ``separator`` outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or depth:
        raise ReportError(f"{option}: unbalanced brackets or quotes in {text!r}.")
    parts.append("".join(current))
    return parts


def parse_value(text: str) -> Any:
    """A Python literal (``16``, ``1e-3``, ``(32, 16)``, ``None``) or a bare word (``adam``)."""
    text = text.strip()
    if not text:
        raise ValueError("empty value")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[A-Za-z_][\w.\-]*", text):
            return text  # adam, glorot_uniform, he_normal...
        raise ValueError(f"cannot read value {text!r}") from None


def _check_training_value(option: str, key: str, value: Any) -> None:
    if key in ("epochs", "batch_size") and (
        isinstance(value, bool) or not isinstance(value, int) or value < 1
    ):
        raise ReportError(f"{option}: {key} values must be positive integers, got {value!r}.")


def parse_grid(text: str) -> dict[str, list[Any]]:
    """Parameter grid from ``"epochs=10,50;batch_size=16,32"``.

    Parameters are separated by ``;``, values by ``,``. Values are Python
    literals (``16``, ``0.001``, ``(32, 16)``, ``None``, ``'a b'``) or bare
    words (``adam``). Keys are parameters of the network (``epochs``,
    ``batch_size``, ``optimizer``, ``optimizer__learning_rate``,
    ``model__dropout``...) or keyword arguments of a user's builder, with the
    shorthands ``hidden`` for ``model__hidden_layer_sizes`` and
    ``learning_rate`` for ``optimizer__learning_rate``; keys starting with
    ``preprocess__`` reach the preprocessing step.

    Raises
    ------
    ReportError
        If the text does not parse.
    """
    usage = 'expected name=value,value;name=value,... like "epochs=10,50;batch_size=16,32"'
    grid: dict[str, list[Any]] = {}
    entries = [e for e in _split_top_level(text, ";") if e.strip()]
    if not entries:
        raise ReportError(f"--grid {text!r} is empty: {usage}.")
    for entry in entries:
        key, sep, values = entry.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            raise ReportError(f"--grid: cannot parse {entry.strip()!r}: {usage}.")
        key = GRID_ALIASES.get(key, key)
        if key in grid:
            raise ReportError(f"--grid: {key!r} is given twice.")
        try:
            grid[key] = [parse_value(v) for v in _split_top_level(values, ",")]
        except ValueError as exc:
            raise ReportError(f"--grid: cannot parse {entry.strip()!r} ({exc}): {usage}.") from None
        for value in grid[key]:
            _check_training_value("--grid", key, value)
    return grid


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """Fixed parameters from ``["units=32", "dropout=0.1"]`` (repeated ``--param``).

    Values read as in :func:`parse_grid`; the same shorthands apply.

    Raises
    ------
    ReportError
        If an item is not ``name=value`` or a name is given twice.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            raise ReportError(f"--param: cannot parse {item!r}: expected name=value, like units=32.")
        key = GRID_ALIASES.get(key, key)
        if key in params:
            raise ReportError(f"--param: {key!r} is given twice.")
        try:
            params[key] = parse_value(value)
        except ValueError as exc:
            raise ReportError(f"--param: cannot parse {item!r} ({exc}).") from None
        _check_training_value("--param", key, params[key])
    return params


def parse_baselines(text: str | Sequence[str] | None, task: str) -> tuple[str, ...]:
    """The baselines to run: ``"default"`` (all of the task's), ``"none"``, or a list.

    Parameters
    ----------
    text : str, sequence of str or None
        ``"default"`` or None: every baseline of :data:`BASELINES` for the
        task; ``"none"``: no baseline; otherwise comma-separated names.
    task : {"classification", "regression"}

    Raises
    ------
    ReportError
        For a name the task has no baseline for.
    """
    known = BASELINES[task]
    if text is None or (isinstance(text, str) and text.strip().lower() in ("default", "all")):
        return known
    names = [p.strip().lower().replace("-", "_") for p in (
        text.split(",") if isinstance(text, str) else text) if p.strip()]
    if names == ["none"] or not names:
        return ()
    for name in names:
        if name not in known:
            raise ReportError(
                f"--baselines: unknown baseline {name!r} for {task}; choose from "
                f"{', '.join(known)}, or default or none."
            )
    return tuple(dict.fromkeys(names))


def load_model(spec: str) -> Any:
    """The object ``module:name`` names: a Keras builder or an estimator.

    The module is imported from the current directory or ``sys.path``, as the
    user asked on the command line.

    Raises
    ------
    ReportError
        If the text is not ``module:name``, the module cannot be imported, or
        it has no such name.
    """
    module_name, sep, attribute = str(spec).partition(":")
    if not sep or not module_name or not re.fullmatch(r"[A-Za-z_][\w.]*", attribute):
        raise ReportError(
            f"--model {spec!r}: expected module:name, like my_module:build_model "
            "(a function returning a Keras model, or an estimator)."
        )
    import os
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReportError(f"--model {spec!r}: cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ReportError(f"--model {spec!r}: {module_name!r} has no {attribute!r}.")
        target = getattr(target, part)
    if not callable(target) and not hasattr(target, "fit"):
        raise ReportError(
            f"--model {spec!r} is a {type(target).__name__}, not a builder or an estimator."
        )
    return target

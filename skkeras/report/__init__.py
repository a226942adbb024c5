"""A cross-validated report for a tabular problem: the engine of ``skkeras report``.

:func:`cross_validated_report` takes a network (the built-in MLP, a Keras
builder, or an estimator) and a table, checks the data (:mod:`.spec`),
cross-validates the network and baselines on the same folds through skkeras's
own searches (:mod:`.run`), and returns a :class:`Report` that prints as a
terminal table, renders in a notebook, and writes ``report.json`` and a
self-contained ``report.html`` (:mod:`.render`).

User mistakes raise :class:`ReportError`, a ValueError whose message is one line.
"""

import importlib
from typing import Any

from .data_checks import check_data
from .spec import (
    BASELINES,
    DEFAULT_CV,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_RANDOM_STATE,
    DEFAULT_VALIDATION_SPLIT,
    ReportError,
    infer_task,
    load_model,
    parse_baselines,
    parse_grid,
    parse_hidden,
    parse_params,
)

# Imported on first use, so that the command line's --help, --version and usage
# errors do not pay for scikit-learn's estimators and Keras.
_LAZY = {
    "REPORT_FORMAT_VERSION": "render", "Report": "render", "corrected_ttest": "compare",
    "default_estimator": "models", "default_preprocessor": "models", "make_baselines": "models",
    "cross_validated_report": "run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BASELINES",
    "DEFAULT_CV",
    "DEFAULT_EPOCHS",
    "DEFAULT_HIDDEN",
    "DEFAULT_RANDOM_STATE",
    "DEFAULT_VALIDATION_SPLIT",
    "REPORT_FORMAT_VERSION",
    "Report",
    "ReportError",
    "check_data",
    "corrected_ttest",
    "cross_validated_report",
    "default_estimator",
    "default_preprocessor",
    "infer_task",
    "load_model",
    "make_baselines",
    "parse_baselines",
    "parse_grid",
    "parse_hidden",
    "parse_params",
]

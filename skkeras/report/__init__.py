"""A cross-validated report for a tabular problem: the engine of ``skkeras report``.

:func:`cross_validated_report` takes a network (the built-in MLP, a Keras
builder, or an estimator) and a table, checks the data (:mod:`.spec`),
cross-validates the network and baselines on the same folds through skkeras's
own searches (:mod:`.run`), and returns a :class:`Report` that prints as a
terminal table, renders in a notebook, and writes ``report.json`` and a
self-contained ``report.html`` (:mod:`.render`).

User mistakes raise :class:`ReportError`, a ValueError whose message is one line.
"""

from .compare import corrected_ttest
from .models import default_estimator, default_preprocessor, make_baselines
from .render import REPORT_FORMAT_VERSION, Report
from .run import cross_validated_report
from .spec import (
    BASELINES,
    DEFAULT_CV,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_RANDOM_STATE,
    DEFAULT_VALIDATION_SPLIT,
    ReportError,
    check_data,
    infer_task,
    load_model,
    parse_baselines,
    parse_grid,
    parse_hidden,
    parse_params,
)

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

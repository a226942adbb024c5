"""The ``skkeras`` command (also ``python -m skkeras``).

::

    skkeras report --dataset pima-diabetes
    skkeras report --dataset california-housing --out housing-report
    skkeras report --csv data.csv --target label --cv 5 --grid "epochs=10,50;batch_size=16,32"
    skkeras report --csv data.csv --target label --model my_module:build_model --param units=32

``report`` cross-validates a network (the built-in MLP, or ``--model``) and
baselines on the same folds (see :mod:`skkeras.report`) and prints a table;
``--out DIR`` also writes ``report.html`` and ``report.json``. Mistakes a user
can make (an unknown dataset, a missing file, a target column that is not
there, a grid that does not parse, a target with one class) end with one line on
stderr and exit status 2, without a traceback.

TensorFlow prints C++ log lines while it is imported, before it reads
``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow 2.21); the command sets that variable
before anything imports TensorFlow, imports Keras itself with those lines
filtered out of file descriptor 2, and only then runs the report.
"""

from __future__ import annotations

import os

# Before anything imports TensorFlow (the user may still ask for its logs by setting them).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import difflib  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

from . import __version__  # noqa: E402
from .report.spec import (  # noqa: E402
    DEFAULT_CV,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_RANDOM_STATE,
    DEFAULT_VALIDATION_SPLIT,
    ReportError,
    load_model,
    parse_grid,
    parse_hidden,
    parse_params,
)

__all__ = ["DATASETS", "build_parser", "load_dataset", "load_csv", "main", "quiet_native_logs"]

#: Exit status for every mistake in the command line or the data.
USAGE_ERROR = 2

#: Pima columns in which a zero stands for a missing measurement (see the data set's DESCR).
PIMA_ZERO_MEANS_MISSING = ("Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI")


#: Lines native libraries print to stderr while TensorFlow and Keras are imported.
_NATIVE_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_platform|cuda_dnn|cuda_fft|cuda_blas|cuInit|"
    r"cuda drivers|cpu_feature_guard|rebuild TensorFlow with the appropriate compiler flags|"
    r"^To enable the following instructions|computation placer|TF-TRT Warning|"
    r"oneDNN custom operations|^[IWE]\d{4} [\d:. ]+\d+ \w+\.(cc|h):\d+\]"
)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Filter native libraries' start-up lines out of file descriptor 2 during the block.

    What C++ code writes to stderr bypasses ``sys.stderr``; the block's output
    goes to a temporary file instead, and every line that is not start-up noise
    (:data:`_NATIVE_NOISE`) is written back to stderr afterwards.
    """
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded): nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not _NATIVE_NOISE.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _import_keras_quietly() -> None:
    """Import Keras (and TensorFlow, on its backend) with start-up noise filtered."""
    if "keras" in sys.modules:
        return
    with quiet_native_logs():
        import keras  # noqa: F401


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _load_pima() -> tuple[Any, Any, list[str]]:
    from .datasets import load_pima_diabetes

    bunch = load_pima_diabetes(as_frame=True)
    X = bunch.data.copy()
    for column in PIMA_ZERO_MEANS_MISSING:
        X[column] = X[column].mask(X[column] == 0)
    y = bunch.target.map(dict(enumerate(bunch.target_names))).rename(bunch.target.name)
    note = (
        "zeros in " + ", ".join(PIMA_ZERO_MEANS_MISSING[:-1]) + f" and {PIMA_ZERO_MEANS_MISSING[-1]}"
        + " mean 'not measured' (see DESCR): imputed."
    )
    return X, y, [note]


def _load_housing() -> tuple[Any, Any, list[str]]:
    from .datasets import load_california_housing

    X, y = load_california_housing(return_X_y=True, as_frame=True)
    return X, y, []


#: Bundled data sets, by the name ``--dataset`` takes.
DATASETS = {"pima-diabetes": _load_pima, "california-housing": _load_housing}


def load_dataset(name: str) -> tuple[Any, Any, list[str]]:
    """Features, target and notes of a bundled data set.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (underscores and case are forgiven).

    Returns
    -------
    X : DataFrame
    y : Series
    notes : list of str
        Remarks about how the data were prepared.

    Raises
    ------
    ReportError
        For an unknown name.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ReportError(
            f"unknown dataset {name!r}; choose {' or '.join(DATASETS)}, or give --csv FILE --target COLUMN."
        )
    return DATASETS[key]()


def load_csv(path: str | Path, target: str | None) -> tuple[Any, Any]:
    """Features and target from a CSV file with a header row.

    Parameters
    ----------
    path : str or Path
    target : str
        Name of the target column.

    Returns
    -------
    X : DataFrame
        Every other column.
    y : Series

    Raises
    ------
    ReportError
        If the file is missing or unreadable, or the column is not in it.
    """
    import pandas as pd

    if not target:
        raise ReportError("--csv needs --target COLUMN, the name of the column to predict.")
    path = Path(path)
    if not path.exists():
        raise ReportError(f"CSV file not found: {str(path)!r}.")
    if path.is_dir():
        raise ReportError(f"{str(path)!r} is a directory, not a CSV file.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ReportError(f"CSV file {str(path)!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportError(f"cannot read CSV file {str(path)!r}: {first_line}") from None
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        close = difflib.get_close_matches(target, columns, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(repr(c) for c in columns[:20]) + (", ..." if len(columns) > 20 else "")
        raise ReportError(
            f"target column {target!r} is not in {str(path)!r}.{hint} Its columns are {shown}."
        )
    if frame.empty:
        raise ReportError(f"CSV file {str(path)!r} has a header but no rows.")
    frame.columns = columns
    return frame.drop(columns=[target]), frame[target]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        return parse_hidden(text)
    except ReportError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes like 32,16, got {text!r}"
        ) from None


def _random_state(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**32 - 1, or none, got {text!r}")
    return seed


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``skkeras`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = _Parser(
        prog="skkeras",
        description="Keras models as scikit-learn estimators: command-line tools.",
    )
    parser.add_argument("--version", action="version", version=f"skkeras {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report = commands.add_parser(
        "report",
        help="cross-validate a Keras network and baselines on a table and report the scores",
        description=(
            "Cross-validate a Keras network (the built-in MLP, or your own builder with --model), "
            "with imputation, scaling and one-hot encoding, on a bundled data set or a CSV file, "
            "next to baselines on the same folds; print per-fold and mean scores and a paired "
            "comparison. Classification or regression is chosen from the target."
        ),
        epilog=(
            'example: skkeras report --dataset pima-diabetes --grid "epochs=10,50" --out pima-report'
        ),
    )
    source = report.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dataset", metavar="NAME", help=f"a bundled data set: {', '.join(DATASETS)}",
    )
    source.add_argument("--csv", metavar="FILE", help="a CSV file with a header row")
    report.add_argument("--target", metavar="COLUMN", help="the column to predict (with --csv)")
    report.add_argument(
        "--model", metavar="MODULE:NAME",
        help="your network: a function returning a Keras model (or an estimator), imported "
             "from MODULE (the current directory is searched); default: the built-in MLP",
    )
    report.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter of the network or a keyword argument of --model's function "
             "(repeat it: --param units=32 --param dropout=0.1)",
    )
    report.add_argument(
        "--task", choices=("auto", "classification", "regression"), default="auto",
        help="default: auto (class labels if the target is text or has at most 20 integer values)",
    )
    report.add_argument(
        "--cv", type=_positive_int, default=DEFAULT_CV, metavar="K",
        help=f"number of cross-validation folds (default: {DEFAULT_CV})",
    )
    report.add_argument(
        "--grid", metavar="SPEC",
        help='grid search, e.g. "epochs=10,50;batch_size=16,32" or "hidden=(32,16),(64,)"',
    )
    report.add_argument(
        "--baselines", default="default", metavar="LIST",
        help="baselines on the same folds: default (logistic or ridge, hist_gradient_boosting, "
             "dummy), none, or a comma-separated list of those names",
    )
    report.add_argument(
        "--epochs", type=_positive_int, default=None,
        help=f"training epochs per fit (default: {DEFAULT_EPOCHS}; an estimator's own with --model)",
    )
    report.add_argument(
        "--batch-size", type=_positive_int, default=None, metavar="N",
        help="samples per gradient step (default: min(200, training rows))",
    )
    report.add_argument(
        "--hidden", type=_hidden, default=DEFAULT_HIDDEN, metavar="SIZES",
        help="hidden layer sizes of the built-in MLP (default: "
             + ",".join(map(str, DEFAULT_HIDDEN)) + ")",
    )
    report.add_argument(
        "--validation-split", type=_fraction, default=None, metavar="F",
        help=f"share of each training fold held out for validation loss curves, e.g. 0.1 "
             f"(default: {DEFAULT_VALIDATION_SPLIT}, no curves: on TensorFlow they slow "
             "training down)",
    )
    report.add_argument(
        "--drop-dates", action="store_true",
        help="drop date columns instead of parsing them into numeric features",
    )
    report.add_argument(
        "--random-state", type=_random_state, default=DEFAULT_RANDOM_STATE, metavar="SEED",
        help=f"seed for the folds and the models, or none (default: {DEFAULT_RANDOM_STATE})",
    )
    report.add_argument(
        "--out", metavar="DIR", help="also write report.html and report.json into DIR",
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check_writable_directory(out: Path) -> None:
    """``--out`` is a directory, or can be made as one, that this user may write in."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {str(out)!r} exists and is not a directory.")
    existing = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ReportError(f"--out {str(out)!r}: {str(existing)!r} is not a directory this user may write in.")


def _run_report(args: argparse.Namespace) -> int:
    if args.grid is not None:
        parse_grid(args.grid)  # fail on a bad grid before loading anything
    params = parse_params(args.param)
    if args.out is not None:
        _check_writable_directory(Path(args.out))  # before the fits, not after them
    if args.dataset is not None:
        if args.target is not None:
            raise ReportError("--target is for --csv; a bundled data set has its own target.")
        X, y, notes = load_dataset(args.dataset)
        name = args.dataset.strip().lower().replace("_", "-")
    else:
        X, y = load_csv(args.csv, args.target)
        notes, name = [], Path(args.csv).name
    _import_keras_quietly()
    model = load_model(args.model) if args.model is not None else None

    from . import report as report_module  # looked up per call, so tests can stub it

    report = report_module.cross_validated_report(
        model, X, y, name=name, task=args.task, cv=args.cv, grid=args.grid, params=params,
        epochs=args.epochs, batch_size=args.batch_size, hidden=args.hidden,
        validation_split=args.validation_split, baselines=args.baselines,
        parse_dates=not args.drop_dates, random_state=args.random_state,
        progress=not args.quiet and sys.stderr.isatty(), notes=notes,
    )
    print(report.format_table())
    if args.out is not None:
        try:
            paths = report.save(args.out)
        except OSError as exc:
            raise ReportError(f"cannot write the report into {args.out!r}: {exc.strerror or exc}") from None
        print(f"\nWrote {paths['html']} and {paths['json']}.")
        hint = report.plot_hint()
        if hint is not None:
            print(hint)
    else:
        print("Plots (loss curves, fold scores, ROC or residuals) and every number: "
              "add --out DIR for report.html and report.json.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skkeras`` command.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status: 0, or 2 for a mistake in the arguments or the data.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    # A command-line tool prints its own results: keep TensorFlow's Python-side
    # warnings (retracing notices and the like) out of them, for this call only.
    tf_logger = logging.getLogger("tensorflow")
    saved_level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        if args.command == "report":
            return _run_report(args)
    except ValueError as exc:  # ReportError, and a parameter or the data refused on the way
        print(f"skkeras {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"skkeras {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        tf_logger.setLevel(saved_level)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse checks it

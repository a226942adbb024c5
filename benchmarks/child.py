"""One benchmark run in a fresh process: ``python -m benchmarks.child``.

The runner starts this module once per (workload, system, repeat), one at a
time, with ``KERAS_BACKEND`` already set. It runs the workload and writes a JSON
result file (``--result``); on failure the file holds the error instead, and the
exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from benchmarks.systems import resolve_system
from benchmarks.workloads import resolve_workload


def peak_rss_self_mib() -> float:
    """This process's peak resident set size so far, in MiB (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if platform.system() == "Darwin" else peak / 2**10


def _keras_backend() -> str | None:
    """The Keras backend in use, if this process imported Keras."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    try:
        return str(keras.backend.backend())
    except Exception:  # pragma: no cover - defensive: the report must still be written
        return None


def _quiet() -> None:
    """Silence the warnings every fit would repeat (they are not what is measured)."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def _import_frameworks() -> None:
    """Import Keras, and TensorFlow where installed, before any timed section.

    Timed sections exclude imports. Keras imports TensorFlow lazily, on every
    backend, the first time it serialises a configuration (to check for TF
    types); without this, whichever system first touched a config would pay a
    multi-second import inside its timing.
    """
    import importlib.util

    import keras  # noqa: F401

    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow  # noqa: F401


def run(workload: str, system: str, data_dir: Path, quick: bool) -> dict[str, Any]:
    """Run one workload on one system; the result as a JSON-ready dict."""
    started = time.perf_counter()
    spec = resolve_workload(workload)
    competitor = resolve_system(system)
    config = spec.config(quick)
    if competitor.uses_keras:
        _import_frameworks()
    record: dict[str, Any] = {
        "workload": spec.name,
        "system": competitor.name,
        "quick": quick,
        "config": dict(config),
        "pid": os.getpid(),
    }
    try:
        _quiet()
        outcome = spec.run(competitor, config, data_dir)
        record.update(status="ok", metrics=outcome["metrics"], details=outcome["details"])
    except Exception as exc:  # reported in the results; the suite goes on
        record.update(
            status="error",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    record.update(
        keras_backend=_keras_backend(),
        tensorflow_imported="tensorflow" in sys.modules,
        jax_imported="jax" in sys.modules,
        peak_rss_self_mib=peak_rss_self_mib(),
        child_wall_s=time.perf_counter() - started,
    )
    return record


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, write ``--result``; exit status 0 on success, 1 on error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True)
    parser.add_argument("--system", required=True)
    parser.add_argument("--data", required=True, type=Path, help="folder prepared by benchmarks.data")
    parser.add_argument("--result", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    record = run(args.workload, args.system, args.data, args.quick)
    tmp = args.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    tmp.replace(args.result)
    if record["status"] != "ok":
        print(record.get("traceback", record.get("error")), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

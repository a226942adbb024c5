"""Every script in examples/ runs with ``--quick`` and exits 0, so the examples never rot.

All examples run in ONE subprocess (each through :func:`runpy.run_path` as
``__main__``, with ``sys.argv = [path, "--quick"]``), so TensorFlow is imported
once; each example then gets its own test with its own result and output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

DRIVER = r"""
import contextlib, io, json, runpy, sys, time, traceback

results_file, paths = sys.argv[1], sys.argv[2:]
results = {}
for path in paths:
    sys.argv = [path, "--quick"]
    output = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            runpy.run_path(path, run_name="__main__")
        code, error = 0, None
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        error = None if code == 0 else f"SystemExit({exc.code!r})"
    except BaseException:
        code, error = 1, traceback.format_exc()
    results[path] = {"exit": code, "error": error, "output": output.getvalue(),
                     "seconds": time.perf_counter() - start}
with open(results_file, "w", encoding="utf-8") as f:
    json.dump(results, f)
"""


@pytest.fixture(scope="module")
def example_results(tmp_path_factory) -> dict[str, dict]:
    workdir = tmp_path_factory.mktemp("examples")  # examples that write files write here
    results_file = workdir / "results.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    process = subprocess.run(
        [sys.executable, "-c", DRIVER, str(results_file), *map(str, EXAMPLES)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )
    if not results_file.exists():
        pytest.fail(f"the example driver crashed (exit {process.returncode}):\n{process.stderr[-4000:]}")
    return json.loads(results_file.read_text(encoding="utf-8"))


def test_examples_exist():
    names = {path.name for path in EXAMPLES}
    assert {"pima_quickstart.py", "pima_gridsearch.py", "housing_pipeline.py",
            "iris_multiclass.py", "functional_multi_input.py", "imbalanced_class_weight.py",
            "scikeras_migration.py"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_quick(example_results, path):
    result = example_results[str(path)]
    assert result["exit"] == 0, (
        f"{path.name} --quick failed:\n{result['error']}\n--- output ---\n{result['output'][-3000:]}"
    )
    assert result["output"].strip(), f"{path.name} printed nothing"

"""Tests for the ``skkeras`` command: arguments, user errors, output and files."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import skkeras.cli as cli
from skkeras.cli import USAGE_ERROR, build_parser, load_dataset, main


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """40 rows: two numeric columns, one text column, a 0/1 target named 'outcome'."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "x1": rng.normal(size=40),
        "x2": rng.normal(size=40),
        "kind": rng.choice(["u", "v"], size=40),
        "outcome": np.tile([0, 1], 20),
    })
    frame.loc[3, "x2"] = np.nan
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the command in this process; SystemExit (argparse) counts as a return."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == USAGE_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "error:" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ------------------------------------------------------------------ user errors
def test_unknown_dataset(capsys):
    code, out, err = run(capsys, "report", "--dataset", "iris-flowers")
    assert_one_line_error(code, err, "unknown dataset 'iris-flowers'", "pima-diabetes")
    assert out == ""


def test_missing_csv(capsys, tmp_path):
    code, _, err = run(capsys, "report", "--csv", str(tmp_path / "nope.csv"), "--target", "y")
    assert_one_line_error(code, err, "CSV file not found", "nope.csv")


def test_target_column_not_found(capsys, small_csv):
    code, _, err = run(capsys, "report", "--csv", str(small_csv), "--target", "Outcome")
    assert_one_line_error(code, err, "target column 'Outcome' is not in", "Did you mean 'outcome'?")


def test_csv_without_target_option(capsys, small_csv):
    code, _, err = run(capsys, "report", "--csv", str(small_csv))
    assert_one_line_error(code, err, "--csv needs --target")


def test_empty_and_directory_csv(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run(capsys, "report", "--csv", str(empty), "--target", "y")
    assert_one_line_error(code, err, "is empty")
    code, _, err = run(capsys, "report", "--csv", str(tmp_path), "--target", "y")
    assert_one_line_error(code, err, "is a directory")


@pytest.mark.parametrize("grid", ["epochs", "epochs=10;;batch_size=", "hidden=(1,2"])
def test_grid_that_does_not_parse(capsys, grid):
    code, _, err = run(capsys, "report", "--dataset", "pima-diabetes", "--grid", grid)
    assert_one_line_error(code, err, "--grid")


def test_one_class_target(capsys, tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(10), "y": ["same"] * 10}).to_csv(path, index=False)
    code, _, err = run(capsys, "report", "--csv", str(path), "--target", "y", "--cv", "2")
    assert_one_line_error(code, err, "only one class ('same')")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["report"], "one of the arguments --dataset --csv is required"),
        (["report", "--dataset", "pima-diabetes", "--csv", "x.csv"], "not allowed with"),
        (["report", "--dataset", "pima-diabetes", "--cv", "two"], "argument --cv"),
        (["report", "--dataset", "pima-diabetes", "--hidden", "32,x"], "argument --hidden"),
        (["report", "--dataset", "pima-diabetes", "--epochs", "0"], "argument --epochs"),
        (["report", "--dataset", "pima-diabetes", "--target", "Outcome"], "--target is for --csv"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_argument_errors_are_one_line(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, fragment)


def test_out_must_be_a_directory(capsys, small_csv):
    code, _, err = run(capsys, "report", "--csv", str(small_csv), "--target", "outcome",
                       "--out", str(small_csv))
    assert_one_line_error(code, err, "is not a directory")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--model", "no_colon"], "expected module:name"),
        (["--model", "no_such_module_xyz:build"], "cannot import 'no_such_module_xyz'"),
        (["--model", "json:no_such_function"], "'json' has no 'no_such_function'"),
        (["--model", "json:__doc__"], "not a builder or an estimator"),
        (["--param", "units"], "--param: cannot parse 'units'"),
        (["--baselines", "forest"], "unknown baseline 'forest' for classification"),
        (["--validation-split", "1"], "argument --validation-split"),
        (["--random-state", "-1"], "argument --random-state"),
        (["--param", "model__dropout=7"], "model__dropout=7: the dropout rate"),
        (["--param", "bogus=1"], "Invalid parameter bogus"),
        (["--model", "os:getcwd"], "returned str, not a keras.Model"),
        (["--grid", "hidden=(0,),(-3,)"], "model__hidden_layer_sizes=(0,)"),
    ],
)
def test_model_param_and_baseline_errors_are_one_line(capsys, small_csv, argv, fragment):
    code, _, err = run(capsys, "report", "--csv", str(small_csv), "--target", "outcome",
                       "--cv", "2", "--epochs", "1", *argv)
    assert_one_line_error(code, err, fragment)


def test_out_is_checked_before_the_fits(capsys, small_csv, monkeypatch):
    monkeypatch.setattr(cli, "load_csv", lambda *a: pytest.fail("read the data"))
    code, _, err = run(capsys, "report", "--csv", str(small_csv), "--target", "outcome",
                       "--out", str(small_csv / "sub"))
    assert_one_line_error(code, err, "is not a directory this user may write in")


@pytest.mark.parametrize(("column", "value", "task", "fragment"), [
    ("x1", np.inf, "classification", "Column 'x1' has infinite values in 1 row(s)"),
    ("x1", 1e300, "classification", "Column 'x1' has values as large as 1e+300"),
    ("outcome", 1e300, "regression", "The target has values as large as 1e+300"),
    ("outcome", -np.inf, "regression", "The target has infinite values"),
])
def test_values_beyond_float32_are_named(capsys, small_csv, column, value, task, fragment):
    frame = pd.read_csv(small_csv)
    if task == "regression":
        frame["outcome"] = np.linspace(0.0, 1.0, len(frame))
    frame.loc[5, column] = value
    frame.to_csv(small_csv, index=False)
    code, _, err = run(capsys, "report", "--csv", str(small_csv), "--target", "outcome",
                       "--task", task, "--cv", "2", "--epochs", "1")
    assert_one_line_error(code, err, fragment)


def test_version(capsys):
    from skkeras import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"skkeras {__version__}"


def test_native_log_lines_are_filtered_at_the_file_descriptor(capfd):
    with cli.quiet_native_logs():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n")
        os.write(2, b"I0000 00:00:1796114225.609422    5040 cudart_stub.cc:31] Could not find "
                    b"cuda drivers on your machine, GPU will not be used.\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_a_usage_error_after_importing_keras_is_one_line_in_a_fresh_process(tmp_path):
    """The console entry point, as a user runs it: TensorFlow's start-up lines are gone."""
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(10), "y": ["same"] * 10}).to_csv(path, index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "ABSL"))}
    result = subprocess.run(
        [sys.executable, "-m", "skkeras", "report", "--csv", str(path), "--target", "y",
         "--cv", "2"], capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == USAGE_ERROR
    assert result.stderr.splitlines() == [
        "skkeras report: error: The target has only one class ('same'): a classifier needs "
        "at least two."], result.stderr


# ------------------------------------------------------------------ arguments reach the report
class FakeReport:
    def format_table(self) -> str:
        return "TABLE"

    def save(self, out_dir):
        return {"html": Path(out_dir) / "report.html", "json": Path(out_dir) / "report.json"}

    def plot_hint(self):
        return "Plots were not drawn: HINT"


@pytest.fixture
def captured(monkeypatch):
    calls = []

    def fake_report(model, X, y, **kwargs):
        calls.append({"model": model, "X": X, "y": y, **kwargs})
        return FakeReport()

    monkeypatch.setattr("skkeras.report.cross_validated_report", fake_report)
    return calls


def test_options_reach_the_report(capsys, captured, tmp_path):
    code, out, _ = run(
        capsys, "report", "--dataset", "california_housing", "--cv", "3", "--epochs", "7",
        "--batch-size", "64", "--hidden", "8,4", "--random-state", "none", "--grid",
        "epochs=1,2", "--task", "regression", "--baselines", "none", "--validation-split", "0",
        "--drop-dates", "--out", str(tmp_path),
    )
    assert code == 0 and out.splitlines()[0] == "TABLE"
    assert "Plots were not drawn: HINT" in out  # the terminal has the page's hint too
    (call,) = captured
    assert call["name"] == "california-housing" and call["model"] is None
    assert call["X"].shape == (20640, 9) and call["y"].name == "median_house_value"
    assert (call["cv"], call["epochs"], call["batch_size"], call["hidden"]) == (3, 7, 64, (8, 4))
    assert call["random_state"] is None and call["grid"] == "epochs=1,2"
    assert call["task"] == "regression" and call["baselines"] == "none"
    assert call["validation_split"] == 0.0 and call["parse_dates"] is False


def test_defaults_and_pima_preparation(capsys, captured):
    code, out, _ = run(capsys, "report", "--dataset", "pima-diabetes")
    assert code == 0
    assert "add --out DIR for report.html" in out  # where the plots are
    (call,) = captured
    assert (call["cv"], call["epochs"], call["batch_size"], call["hidden"]) == (5, None, None, (32, 16))
    assert call["random_state"] == 0 and call["grid"] is None and call["params"] == {}
    assert call["baselines"] == "default" and call["validation_split"] is None
    assert set(call["y"]) == {"tested_negative", "tested_positive"}
    assert call["X"]["Glucose"].isna().sum() == 5  # documented zeros marked missing
    assert any("imputed" in note for note in call["notes"])


BUILDER_MODULE = """
import keras


def build_model(meta, units=4):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
"""


@pytest.fixture
def builder_module(tmp_path, monkeypatch):
    """my_builders.py in the current directory, as a user would have it."""
    (tmp_path / "my_builders.py").write_text(BUILDER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_builders"
    sys.modules.pop("my_builders", None)


def test_model_and_params_reach_the_report(capsys, captured, builder_module):
    code, _, _ = run(capsys, "report", "--dataset", "pima-diabetes", "--model",
                     f"{builder_module}:build_model", "--param", "units=8", "--param",
                     "learning_rate=0.01")
    assert code == 0
    (call,) = captured
    assert call["model"].__name__ == "build_model"
    assert call["params"] == {"units": 8, "optimizer__learning_rate": 0.01}


def test_a_users_builder_end_to_end(capsys, small_csv, builder_module, tmp_path):
    code, out, err = run(
        capsys, "report", "--csv", str(small_csv), "--target", "outcome", "--cv", "2",
        "--epochs", "2", "--model", f"{builder_module}:build_model", "--param", "units=3",
        "--baselines", "logistic", "--out", str(tmp_path / "out"),
    )
    assert code == 0, err
    assert "network: KerasClassifier, build_model from my_builders" in out
    assert "units=3" in out and "LogisticRegression" in out
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["settings"]["params"] == {"units": 3}
    assert [m["name"] for m in data["models"]] == ["net", "logistic"]


def test_progress_bar_only_on_a_terminal_and_not_quiet(capsys, captured, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    run(capsys, "report", "--dataset", "pima-diabetes")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    run(capsys, "report", "--dataset", "pima-diabetes")
    run(capsys, "report", "--dataset", "pima-diabetes", "--quiet")
    assert [call["progress"] for call in captured] == [False, True, False]


def test_bundled_datasets_load():
    for name in cli.DATASETS:
        X, y, notes = load_dataset(name)
        assert len(X) == len(y) > 700 and isinstance(notes, list)


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["report", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--csv", "--target", "--model", "--param", "--cv", "--grid",
                   "--baselines", "--epochs", "--batch-size", "--hidden", "--validation-split",
                   "--drop-dates", "--random-state", "--out", "--quiet"):
        assert option in text


# ------------------------------------------------------------------ a real run
def test_report_end_to_end(capsys, small_csv, tmp_path):
    out_dir = tmp_path / "report"
    code, out, err = run(
        capsys, "report", "--csv", str(small_csv), "--target", "outcome", "--cv", "2",
        "--epochs", "2", "--hidden", "4", "--baselines", "dummy", "--out", str(out_dir),
    )
    assert code == 0, err
    assert out.startswith("skkeras report: small.csv")
    assert "binary classification of 'outcome' (0: 20, 1: 20)" in out
    assert "mean ± std" in out and "ROC AUC" in out
    assert f"Wrote {out_dir / 'report.html'}" in out
    assert "cross-validating" not in err and "\r" not in err  # no bar when stderr is no terminal
    data = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert data["dataset"]["categorical_features"] == ["kind"]
    assert data["settings"]["epochs"] == 2 and len(data["folds"]) == 2
    assert (out_dir / "report.html").stat().st_size > 1000


def test_python_dash_m_entry_point(capsys, monkeypatch):
    """``python -m skkeras`` (run in this process): exit status and one line, no traceback."""
    monkeypatch.setattr(sys, "argv", ["skkeras", "report", "--dataset", "nope"])
    monkeypatch.delitem(sys.modules, "skkeras.__main__", raising=False)
    with pytest.raises(SystemExit) as info:
        runpy.run_module("skkeras", run_name="__main__", alter_sys=True)
    assert info.value.code == USAGE_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "skkeras report: error: unknown dataset 'nope'; choose pima-diabetes or " \
        "california-housing, or give --csv FILE --target COLUMN.\n"


def test_help_and_version_import_neither_keras_nor_sklearns_estimators():
    code = ("import sys, skkeras.cli; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'sklearn.base', 'matplotlib') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_first_screen_command_on_pima_in_a_fresh_process(tmp_path):
    """The README's main job, as a user runs it: baselines, comparison, clean stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "ABSL"))}
    result = subprocess.run(
        [sys.executable, "-m", "skkeras", "report", "--dataset", "pima-diabetes", "--out",
         str(tmp_path)], capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for fragment in ("LogisticRegression", "HistGradientBoosting", "Dummy",
                     "Paired comparison of accuracy", "building and compiling the network once"):
        assert fragment in result.stdout, fragment
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["summary"]["accuracy"]["mean"] > 0.7
    assert data["comparison"]["rows"][0]["baseline"] == "logistic"

"""The benchmark harness (benchmarks/) must not rot: a quick smoke run and its report.

The smoke run (W1 and W3, skkeras and sklearn's MLP, one repeat, ``--quick``)
takes well under a minute on an idle 2-core machine; most of it is importing
TensorFlow in the fresh subprocesses. The other tests here need no subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import ParameterGrid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.run import parse_options  # noqa: E402
from benchmarks.systems import SYSTEMS, resolve_system  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def _finite_positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


# ------------------------------------------------------------ smoke run
@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--repeat", "1",
         "--workloads", "W1,W3", "--systems", "skkeras,mlp", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    results = json.loads((out / "results.json").read_text())
    markdown = (out / "results.md").read_text()
    return results, markdown, out


def test_smoke_json_has_sane_numbers(smoke: tuple[dict[str, Any], str, Path]) -> None:
    results, _, _ = smoke
    assert results["schema"] == report.SCHEMA
    assert results["quick"] is True and results["repeat"] == 1
    assert results["backend"] == "tensorflow"
    assert results["systems"] == ["skkeras", "mlp"]
    assert results["failures"] == []
    assert set(results["workloads"]) == {"W1", "W3"}

    w1 = results["workloads"]["W1"]
    quick = WORKLOADS["W1"].quick
    for system in ("skkeras", "mlp"):
        (run,) = w1["runs"][system]
        assert run["status"] == "ok", run.get("error")
        metrics = run["metrics"]
        assert _finite_positive(metrics["time_s"])
        assert 0.0 <= metrics["best_score"] <= 1.0
        assert metrics["best_epochs"] in quick["epochs"]
        assert metrics["best_batch_size"] in quick["batch_sizes"]
        assert metrics["n_fits"] == len(quick["epochs"]) * len(quick["batch_sizes"]) * quick["folds"] + 1
        assert len(run["details"]["grid"]) == len(quick["epochs"]) * len(quick["batch_sizes"])
        # Peak RSS of the child: more than an empty interpreter, less than 16 GiB.
        assert 20 < run["peak_rss_mib"] < 16 * 1024
        assert run["process_s"] >= metrics["time_s"]
        summary = w1["summary"][system]
        assert summary["ok"] == 1 and summary["timed"]["time_s"]["median"] == metrics["time_s"]

    # Only the Keras system imported TensorFlow; the MLP child stayed light.
    assert w1["runs"]["skkeras"][0]["tensorflow_imported"] is True
    assert w1["runs"]["skkeras"][0]["keras_backend"] == "tensorflow"
    assert w1["runs"]["mlp"][0]["tensorflow_imported"] is False
    assert w1["runs"]["mlp"][0]["peak_rss_mib"] < w1["runs"]["skkeras"][0]["peak_rss_mib"]

    ratio = w1["speedups"]["time_s"]["mlp"]
    expected = w1["summary"]["mlp"]["timed"]["time_s"]["median"] / w1["runs"]["skkeras"][0]["metrics"]["time_s"]
    assert _finite_positive(ratio) and ratio == pytest.approx(expected)

    w3 = results["workloads"]["W3"]
    for system in ("skkeras", "mlp"):
        (run,) = w3["runs"][system]
        assert run["status"] == "ok", run.get("error")
        for size in WORKLOADS["W3"].quick["sizes"]:
            latency = run["metrics"][f"latency_{size}_ms"]
            assert _finite_positive(latency) and latency < 60_000
            assert run["details"]["calls"][str(size)]["calls"] >= WORKLOADS["W3"].quick["min_calls"]
        assert 0.0 <= run["metrics"]["fit_accuracy"] <= 1.0
        assert set(w3["speedups"]) == {"latency_1_ms", "latency_100_ms", "latency_10000_ms"}


def test_smoke_markdown_and_logs(smoke: tuple[dict[str, Any], str, Path]) -> None:
    results, markdown, out = smoke
    assert markdown.startswith("# skkeras benchmarks")
    assert "## Speed-up of skkeras" in markdown
    assert "## W1:" in markdown and "## W3:" in markdown
    assert "| skkeras |" in markdown and "| sklearn MLP |" in markdown
    assert "vs sklearn MLP" in markdown
    best = results["workloads"]["W1"]["summary"]["skkeras"]["extras"]["best_params"]
    assert best in markdown
    assert (out / "logs" / "W1-skkeras-r1.log").is_file()
    # The report renders again from the saved JSON alone.
    assert report.render_markdown(results) + "\n" == markdown


# ---------------------------------------------------------- no subprocess
def test_script_entry_point_help() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--backend" in proc.stdout


def test_options_defaults_aliases_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse_options([])
    assert [w.name for w in options.workloads] == ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9"]
    # Every system whose extra modules are installed (skorch needs torch and skorch).
    installed = [name for name, system in SYSTEMS.items()
                 if all(importlib.util.find_spec(m) is not None for m in system.requires)]
    assert [s.name for s in options.systems] == installed
    assert {"skkeras", "scikeras", "mlp"} <= set(installed) and "skorch" in SYSTEMS
    assert options.repeat == 3 and not options.quick and options.backend == "tensorflow"
    assert options.out == Path("bench-results")

    options = parse_options(["--workloads", "w3,W1,w3", "--systems", "sklearn,keras.wrappers",
                             "--backend", "jax", "--repeat", "2", "--quick"])
    assert [w.name for w in options.workloads] == ["W3", "W1"]
    assert [s.name for s in options.systems] == ["mlp", "keras"]
    assert options.backend == "jax" and options.repeat == 2 and options.quick

    for bad in (["--workloads", "W99"], ["--systems", "torch"], ["--repeat", "0"],
                ["--backend", "theano"]):
        with pytest.raises(SystemExit) as excinfo:
            parse_options(bad)
        assert excinfo.value.code == 2
    assert "unknown" in capsys.readouterr().err


def test_grids_map_to_the_same_configurations() -> None:
    epochs, batches = [10, 50], [10, 40]
    expected = sorted((e, b) for e in epochs for b in batches)
    for system in SYSTEMS.values():
        grid = system.epoch_grid(epochs, batches)
        seen = sorted(
            tuple(system.best_params(p).values()) for p in ParameterGrid(grid)
        )
        assert seen == expected, system.name
    assert resolve_system("keras.wrappers").fit_params(5, 8) == {
        "net__epochs": 5, "net__batch_size": 8, "net__verbose": 0,
    }
    assert resolve_system("mlp").fit_params(5, 8) == {}


def test_summaries_and_speedups() -> None:
    metrics = {"timed": [{"key": "time_s", "label": "t", "fmt": ".3g"}],
               "extras": [{"key": "score", "label": "s", "fmt": ".3f"},
                          {"key": "best", "label": "b", "fmt": ".3g"}]}
    runs = {
        "skkeras": [
            {"status": "ok", "metrics": {"time_s": t, "score": 0.7, "best": "e=10"},
             "peak_rss_mib": 800.0, "process_s": t + 5}
            for t in (2.0, 1.0, 3.0)
        ],
        "scikeras": [
            {"status": "ok", "metrics": {"time_s": 30.0, "score": 0.8, "best": "e=50"},
             "peak_rss_mib": 900.0, "process_s": 35.0},
            {"status": "error", "error": "boom", "peak_rss_mib": 100.0, "process_s": 1.0},
        ],
    }
    summaries = {name: report.summarize(rs, metrics) for name, rs in runs.items()}
    assert summaries["skkeras"]["timed"]["time_s"] == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert summaries["skkeras"]["extras"] == {"score": 0.7, "best": "e=10"}
    assert summaries["scikeras"]["ok"] == 1 and summaries["scikeras"]["errors"] == ["boom"]
    assert report.speedups(summaries, ["time_s"], "skkeras") == {"time_s": {"scikeras": 15.0}}
    assert report.speedups(summaries, ["time_s"], "mlp") == {"time_s": {}}
    assert report.stats([None, float("nan")]) is None
    assert report.fmt_stats(summaries["skkeras"]["timed"]["time_s"]) == "2.00 (1.00–3.00)"
    assert report.fmt_ratio(15.0) == "15.0×" and report.fmt_ratio(0.0123) == "0.012×"


def test_scores_over_seeds_show_their_spread() -> None:
    metrics = {"timed": [{"key": "time_s", "label": "t", "fmt": ".3g"}],
               "extras": [{"key": "score", "label": "s", "fmt": ".3f"}]}
    over_seeds = report.summarize(
        [{"status": "ok", "metrics": {"time_s": 1.0, "score": s}} for s in (0.762, 0.771, 0.766)], metrics
    )
    one_seed = report.summarize([{"status": "ok", "metrics": {"time_s": 1.0, "score": 0.77}}] * 3, metrics)
    assert over_seeds["extras"]["score"] == 0.766
    assert report._fmt_extra(over_seeds, metrics["extras"][0]) == "0.766 (0.762–0.771)"
    assert report._fmt_extra(one_seed, metrics["extras"][0]) == "0.770"
    assert report._seeds_text({"seed": 0, "seeds": [0, 1, 2]}) == "seeds: 0–2, one per repeat"
    assert report._seeds_text({"seed": 4}) == "seed: 4"  # results written before --seed-per-repeat


def test_only_cached_systems_get_a_compilation_cache_and_their_warm_up_is_reported(
    tmp_path: Path,
) -> None:
    from benchmarks.run import compilation_cache_env

    w1 = WORKLOADS["W1"]
    cached = compilation_cache_env(w1, resolve_system("skkeras-search-cached"), tmp_path)
    assert cached == {"SKKERAS_COMPILATION_CACHE": str(tmp_path / "compilation-cache" / "W1-skkeras-search-cached")}
    assert compilation_cache_env(w1, resolve_system("skkeras-search"), tmp_path) == {}

    metrics = {"timed": [{"key": "time_s", "label": "grid search s", "fmt": ".3g"}], "extras": []}
    run = {"status": "ok", "metrics": {"time_s": 2.0}, "peak_rss_mib": 800.0, "process_s": 9.0}
    results = {
        "systems": ["skkeras-search-cached"], "baseline": "skkeras-search-cached",
        "system_labels": {"skkeras-search-cached": "cached"},
        "workloads": {"W1": {
            "title": "t", "timed_section": "fit", "config": {}, "metrics": metrics,
            "summary": {"skkeras-search-cached": report.summarize([run], metrics)},
            "runs": {"skkeras-search-cached": [run]},
            "warm_ups": {"skkeras-search-cached": {**run, "metrics": {"time_s": 3.7}}},
        }},
    }
    assert "- cached: its untimed warm-up run, which started with an empty compilation cache " \
           "and filled it: grid search s 3.70." in report.render_markdown(results)


def test_seed_reaches_the_subprocesses() -> None:
    from benchmarks.run import child_env

    assert parse_options([]).seed == 0
    assert parse_options(["--seed", "3"]).seed == 3
    from benchmarks.run import repeat_seed

    varied = parse_options(["--seed", "3", "--seed-per-repeat"])
    assert [repeat_seed(varied, r) for r in (0, 1, 2, 3)] == [3, 3, 4, 5]
    assert [repeat_seed(parse_options(["--seed", "3"]), r) for r in (0, 1, 2)] == [3, 3, 3]
    env = child_env("jax", 3)
    proc = subprocess.run(
        [sys.executable, "-c", "from benchmarks.models import SEED; print(SEED)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.stdout.strip() == "3", proc.stderr


def test_seed_comparison_runs_both_trainers() -> None:
    # A subprocess: Keras's side seeds the process-wide generators (set_random_seed).
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.seeds", "--epochs", "1", "--batch-size", "64", "--seeds", "1"],
        cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("W1 network, 1 epochs of batch 64")
    for line, name in zip(lines[1:], ("skkeras", "keras Model.fit"), strict=True):
        assert line.strip().startswith(name + ":")
        score = float(line.split("mean")[1])
        assert 0.3 < score <= 1.0


def test_skorch_competitor_trains_the_same_layers_in_a_pipeline() -> None:
    """The skorch system (an optional competitor: torch and skorch are not skkeras's
    dependencies) fits a scaled pipeline, searches its epochs, and gives two-column
    probabilities and a 1-D regression like scikit-learn's estimators."""
    pytest.importorskip("torch")
    pytest.importorskip("skorch")
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    system = resolve_system("skorch")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] > 0).astype(int)
    pipe = Pipeline([("scale", StandardScaler()), ("net", system.classifier(3, 16))])
    pipe = clone(pipe).set_params(**{"net__max_epochs": 2}).fit(X, y)
    proba = system.proba(pipe, X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert len(pipe[-1].history) == 2  # max_epochs epochs, no hold-out split
    assert [tuple(p.shape) for p in pipe[-1].module_.parameters()] == [
        (12, 5), (12,), (8, 12), (8,), (1, 8), (1,)]
    reg = system.regressor(2, 16).fit(X, X[:, 1])
    assert reg.predict(X).shape == (60,)

"""Run the benchmark suite: skkeras side by side with scikeras, keras.wrappers and sklearn's MLP.

    python -m benchmarks                      # every workload and system, 3 repeats
    python -m benchmarks --quick --repeat 1   # shrunk workloads: a smoke test
    python -m benchmarks --workloads W1,W3 --systems skkeras,scikeras --backend jax
    python benchmarks/run.py ...              # the same

Every (workload, system, repeat) runs in a fresh Python subprocess
(:mod:`benchmarks.child`), strictly one after another, so that imports, graph
caches and memory start from nothing for each system and two runs never share
the CPU. Repeats are interleaved (repeat 1 of every system, then repeat 2...),
so a change in the machine's load touches every system alike. The runner
measures each subprocess's wall time and peak RSS (``os.wait4``'s resource
usage of the child); the child times its own workload section.

Writes ``results.json`` (everything, per run) and ``results.md`` (the tables)
to ``--out`` (default ``bench-results/``), with one log per subprocess in
``--out/logs/``, and prints the markdown. The exit status is 0 when every run
succeeded, 1 otherwise (the report is written either way).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import data, report  # noqa: E402
from benchmarks.models import SEED_VARIABLE  # noqa: E402
from benchmarks.systems import SYSTEMS, System, resolve_system  # noqa: E402
from benchmarks.workloads import WORKLOADS, Workload, resolve_workload  # noqa: E402

#: The repository root: the folder that holds the ``benchmarks`` package.
ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax")
#: Distributions whose versions the report shows.
VERSIONED = (
    "skkeras", "keras", "tensorflow", "jax", "jaxlib", "scikit-learn", "scikeras", "numpy",
    "pandas", "psutil", "torch", "skorch",
)


# --------------------------------------------------------------- options
def _csv(value: str) -> list[str]:
    return [v for v in (part.strip() for part in value.split(",")) if v]


def build_parser() -> argparse.ArgumentParser:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run skkeras's benchmark workloads side by side with its peers.",
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS),
        help=f"comma-separated workloads (default: all: {','.join(WORKLOADS)})",
    )
    installed = [name for name, system in SYSTEMS.items() if system.available()]
    parser.add_argument(
        "--systems", default=",".join(installed),
        help=f"comma-separated systems (default: all installed: {','.join(installed)}; "
        f"all: {','.join(SYSTEMS)}; also keras.wrappers, sklearn; skorch needs "
        "`pip install torch skorch`)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per system and workload (default 3)")
    parser.add_argument(
        "--quick", action="store_true",
        help="shrink every workload (tiny grid, few epochs, subsampled data): a smoke test",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="tensorflow",
        help="KERAS_BACKEND of the subprocesses (default tensorflow; sklearn's MLP ignores it)",
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="the seed of every system's weights, shuffling and CV splits (default 0)",
    )
    parser.add_argument(
        "--seed-per-repeat", action="store_true",
        help="repeat r runs with seed SEED+r-1, so that scores are compared over several "
        "seeds rather than one draw (times are unaffected: every seed does the same work)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results"),
        help="folder for results.json, results.md and logs/ (default bench-results)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0,
        help="seconds before one subprocess is killed (default 3600)",
    )
    parser.add_argument(
        "--baseline", default="skkeras",
        help="the system whose speed-up over the others is reported (default skkeras)",
    )
    return parser


@dataclass(frozen=True)
class Options:
    """Validated options."""

    workloads: list[Workload]
    systems: list[System]
    repeat: int
    quick: bool
    backend: str
    seed: int
    seed_per_repeat: bool
    out: Path
    timeout: float
    baseline: str


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse and check the command line; errors exit with status 2 and a message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        workloads = list({w.name: w for w in map(resolve_workload, _csv(args.workloads))}.values())
        systems = list({s.name: s for s in map(resolve_system, _csv(args.systems))}.values())
        baseline = resolve_system(args.baseline).name
    except ValueError as exc:
        parser.error(str(exc))
    missing = [f"{s.name} (needs {', '.join(s.requires)})" for s in systems if not s.available()]
    if missing:
        parser.error(f"--systems: not installed: {'; '.join(missing)}")
    if not workloads or not systems:
        parser.error("give at least one workload and one system")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return Options(
        workloads=workloads, systems=systems, repeat=args.repeat, quick=args.quick,
        backend=args.backend, seed=args.seed, seed_per_repeat=args.seed_per_repeat, out=args.out,
        timeout=args.timeout, baseline=baseline,
    )


# ----------------------------------------------------------- environment
def machine_info() -> dict[str, Any]:
    """CPU model, CPU counts, memory, OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        import psutil

        memory_gib = psutil.virtual_memory().total / 2**30
    except ImportError:
        try:
            memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        except (ValueError, OSError, AttributeError):
            pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that matter, without importing them."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: Path) -> str | None:
    """``<short commit>`` of the source tree, with ``+dirty`` if it has changes; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def child_env(backend: str, seed: int = 0) -> dict[str, str]:
    """The environment of every subprocess: the chosen Keras backend and seed, quiet
    TensorFlow, a fixed hash seed, and the repository on ``PYTHONPATH`` so
    ``benchmarks`` imports."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env[SEED_VARIABLE] = str(seed)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def repeat_seed(options: Options, repeat: int) -> int:
    """The seed of repeat ``repeat`` (1, 2, ...; 0 is a warm-up run, seeded like repeat 1)."""
    return options.seed + max(repeat - 1, 0) if options.seed_per_repeat else options.seed


# ----------------------------------------------------------- subprocesses
@dataclass(frozen=True)
class Outcome:
    """How a subprocess ended."""

    returncode: int
    wall_s: float
    peak_rss_mib: float | None
    timed_out: bool


def run_subprocess(
    cmd: Sequence[str], env: Mapping[str, str], log: Path, timeout: float
) -> Outcome:
    """Run ``cmd`` to completion (output to ``log``) and measure its wall time and peak RSS.

    The peak RSS comes from ``os.wait4``, which reports the resource usage of
    exactly this child (``ru_maxrss``), unlike ``RUSAGE_CHILDREN``, which keeps
    the maximum over every child so far.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=str(ROOT)
        )
        timed_out = False
        if not hasattr(os, "wait4"):  # pragma: no cover - non-POSIX fallback
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.kill()
                proc.wait()
            return Outcome(proc.returncode, time.perf_counter() - start, None, timed_out)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if not timed_out and time.perf_counter() - start > timeout:
                timed_out = True
                proc.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports KiB, macOS bytes.
    scale = 2**20 if platform.system() == "Darwin" else 2**10
    return Outcome(proc.returncode, wall, usage.ru_maxrss / scale, timed_out)


def prepare_data(data_dir: Path, backend: str, log_dir: Path, timeout: float) -> None:
    """Cache the data sets in ``data_dir`` (see :mod:`benchmarks.data`), in a subprocess.

    It runs with Keras's light ``numpy`` backend (it only reads files); if that
    fails, once more with the chosen backend.
    """
    cmd = [sys.executable, "-m", "benchmarks.data", str(data_dir)]
    for attempt, keras_backend in enumerate(("numpy", backend)):
        log = log_dir / f"data-{attempt}.log"
        outcome = run_subprocess(cmd, child_env(keras_backend), log, timeout)
        if outcome.returncode == 0 and data.is_prepared(data_dir):
            return
    raise RuntimeError(f"could not prepare the data sets; see {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def compilation_cache_env(workload: Workload, system: System, scratch: Path) -> dict[str, str]:
    """``SKKERAS_COMPILATION_CACHE`` for a system that keeps one: a folder per workload,
    new in each invocation of the suite, so the warm-up run always starts it empty."""
    if not system.compilation_cache:
        return {}
    return {"SKKERAS_COMPILATION_CACHE": str(scratch / "compilation-cache" / f"{workload.name}-{system.name}")}


def run_one(
    workload: Workload, system: System, repeat: int, options: Options, data_dir: Path,
    scratch: Path,
) -> dict[str, Any]:
    """Run one (workload, system, repeat) in a fresh subprocess; its record, never raising.
    Repeat 0 is the warm-up run of a system with a compilation cache."""
    stem = f"{workload.name}-{system.name}-" + (f"r{repeat}" if repeat else "warm-up")
    result_file = scratch / f"{stem}.json"
    log = options.out / "logs" / f"{stem}.log"
    cmd = [
        sys.executable, "-m", "benchmarks.child", "--workload", workload.name,
        "--system", system.name, "--data", str(data_dir), "--result", str(result_file),
    ] + (["--quick"] if options.quick else [])
    seed = repeat_seed(options, repeat)
    backend = system.backend or options.backend
    env = {**child_env(backend, seed), **compilation_cache_env(workload, system, scratch)}
    outcome = run_subprocess(cmd, env, log, options.timeout)
    try:
        record: dict[str, Any] = json.loads(result_file.read_text())
    except (OSError, ValueError):
        record = {"workload": workload.name, "system": system.name, "status": "error"}
        if outcome.timed_out:
            record["error"] = f"timed out after {options.timeout:g} s"
        else:
            record["error"] = (
                f"subprocess exited with status {outcome.returncode} and no result: "
                + (_tail(log, 3).replace("\n", " ") or "no output")
            )
    record.update(
        repeat=repeat,
        seed=seed,
        returncode=outcome.returncode,
        process_s=outcome.wall_s,
        peak_rss_mib=outcome.peak_rss_mib or record.get("peak_rss_self_mib"),
        log=str(log),
    )
    return record


# -------------------------------------------------------------------- main
def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_suite(options: Options, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every selected (workload, repeat, system), one subprocess at a time; the results dict."""
    started = time.perf_counter()
    options.out.mkdir(parents=True, exist_ok=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "schema": report.SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks " + shlex.join(argv) if argv else "python -m benchmarks",
        "quick": options.quick,
        "backend": options.backend,
        "repeat": options.repeat,
        "seed": options.seed,
        "seeds": sorted({repeat_seed(options, r) for r in range(1, options.repeat + 1)}),
        "baseline": options.baseline,
        "systems": [s.name for s in options.systems],
        "system_labels": {s.name: s.label for s in options.systems},
        "system_notes": {s.name: s.note for s in options.systems},
        "machine": machine_info(),
        "versions": package_versions(),
        "git": git_state(ROOT),
        "workloads": {},
        "failures": [],
    }
    total = len(options.workloads) * options.repeat * len(options.systems)
    done = 0
    with tempfile.TemporaryDirectory(prefix="skkeras-bench-") as tmp:
        scratch = Path(tmp)
        data_dir = scratch / "data"
        _progress("preparing the data sets...")
        prepare_data(data_dir, options.backend, options.out / "logs", options.timeout)
        for workload in options.workloads:
            config = workload.config(options.quick)
            metrics = report.metric_table(workload, config)
            runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in options.systems}
            warm_ups: dict[str, dict[str, Any]] = {}
            for system in options.systems:
                if system.compilation_cache:
                    _progress(f"{workload.name} {system.label}: warm-up run, filling the cache...")
                    record = warm_ups[system.name] = run_one(workload, system, 0, options, data_dir, scratch)
                    if record.get("status") != "ok":
                        _progress(f"    FAILED: {record.get('error')} (log: {record['log']})")
                        results["failures"].append({
                            "workload": workload.name, "system": system.name, "repeat": 0,
                            "error": record.get("error"), "log": record["log"],
                        })
            for repeat in range(1, options.repeat + 1):
                for system in options.systems:
                    done += 1
                    _progress(
                        f"[{done}/{total}] {workload.name} {system.label} "
                        f"repeat {repeat}/{options.repeat}..."
                    )
                    record = run_one(workload, system, repeat, options, data_dir, scratch)
                    runs[system.name].append(record)
                    if record.get("status") == "ok":
                        shown = ", ".join(
                            f"{m['label']} {report.fmt_number(record['metrics'].get(m['key']), m['fmt'])}"
                            for m in metrics["timed"] + metrics["extras"]
                        )
                        _progress(
                            f"    {shown}; process {record['process_s']:.1f} s, "
                            f"peak RSS {report.fmt_number(record.get('peak_rss_mib'), '.0f')} MiB"
                        )
                    else:
                        _progress(f"    FAILED: {record.get('error')} (log: {record['log']})")
                        results["failures"].append({
                            "workload": workload.name, "system": system.name,
                            "repeat": repeat, "error": record.get("error"), "log": record["log"],
                        })
            summaries = {name: report.summarize(rs, metrics) for name, rs in runs.items()}
            results["workloads"][workload.name] = {
                "title": workload.title,
                "timed_section": workload.timed_section,
                "config": dict(config),
                "metrics": metrics,
                "summary": summaries,
                "speedups": report.speedups(
                    summaries, [m["key"] for m in metrics["timed"]], options.baseline
                ),
                "runs": runs,
                "warm_ups": warm_ups,
            }
    results["total_wall_s"] = time.perf_counter() - started
    return results


def write_results(results: Mapping[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` to ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    md_path.write_text(report.render_markdown(results) + "\n")
    return json_path, md_path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite from the command line; 0 if every run succeeded, else 1."""
    options = parse_options(argv)
    results = run_suite(options, argv)
    json_path, md_path = write_results(results, options.out)
    print(md_path.read_text())
    _progress(
        f"wrote {md_path} and {json_path} in {results['total_wall_s']:.0f} s"
        + (f"; {len(results['failures'])} run(s) failed" if results["failures"] else "")
    )
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

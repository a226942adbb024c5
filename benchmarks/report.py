"""Summaries over repeats, skkeras's speed-ups, and the markdown report.

Everything here works on plain dicts (what ``results.json`` holds), so a report
can be rendered again from a saved JSON file::

    python -m benchmarks.report bench-results/results.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Schema tag of ``results.json``.
SCHEMA = "skkeras-benchmarks/1"


# ------------------------------------------------------------- summaries
def stats(values: Iterable[float | None]) -> dict[str, float] | None:
    """Median, min, max and count of the finite values; None if there are none."""
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return None
    return {
        "median": statistics.median(finite),
        "min": min(finite),
        "max": max(finite),
        "n": len(finite),
    }


def _combine(values: Sequence[Any]) -> Any:
    """Numbers: their median. Anything else: the common value, or all distinct values joined."""
    if not values:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return statistics.median(values)
    distinct = list(dict.fromkeys(str(v) for v in values))
    return distinct[0] if len(distinct) == 1 else " | ".join(distinct)


def summarize(runs: Sequence[Mapping[str, Any]], metrics: Mapping[str, Sequence[Mapping[str, str]]]) -> dict[str, Any]:
    """Summary of one system's repeats of one workload.

    ``metrics`` is ``{"timed": [{"key": ...}, ...], "extras": [...]}`` (see
    :func:`metric_table`). Timed metrics get median/min/max over the successful
    repeats; extras the median (numbers) or the common value (text), and numeric
    extras their median/min/max too, under ``extras_stats`` (scores over seeds).
    """
    ok = [r for r in runs if r.get("status") == "ok"]
    return {
        "runs": len(runs),
        "ok": len(ok),
        "errors": [str(r.get("error")) for r in runs if r.get("status") != "ok"],
        "timed": {
            m["key"]: stats(r["metrics"].get(m["key"]) for r in ok) for m in metrics["timed"]
        },
        "extras": {
            m["key"]: _combine([r["metrics"][m["key"]] for r in ok if m["key"] in r["metrics"]])
            for m in metrics["extras"]
        },
        "extras_stats": {
            m["key"]: stats(r["metrics"].get(m["key"]) for r in ok) for m in metrics["extras"]
        },
        "peak_rss_mib": stats(r.get("peak_rss_mib") for r in runs),
        "process_s": stats(r.get("process_s") for r in runs),
    }


def speedups(
    summaries: Mapping[str, Mapping[str, Any]], timed_keys: Iterable[str], baseline: str
) -> dict[str, dict[str, float]]:
    """``{metric: {peer: peer median ÷ baseline median}}``: how many times faster the baseline is."""
    base = summaries.get(baseline)
    out: dict[str, dict[str, float]] = {}
    for key in timed_keys:
        base_stats = base["timed"].get(key) if base else None
        out[key] = {}
        if not base_stats or base_stats["median"] <= 0:
            continue
        for system, summary in summaries.items():
            peer = summary["timed"].get(key)
            if system != baseline and peer:
                out[key][system] = peer["median"] / base_stats["median"]
    return out


def metric_table(workload: Any, config: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """A workload's metrics as JSON-ready dicts, labels filled in from ``config``."""
    return {
        group: [
            {"key": m.key, "label": m.title(config), "fmt": m.fmt}
            for m in getattr(workload, group)
        ]
        for group in ("timed", "extras")
    }


# ------------------------------------------------------------ formatting
def fmt_number(value: Any, spec: str = ".3g") -> str:
    """A number for a table: ``.3g`` means three significant digits without exponents."""
    if value is None:
        return "—"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if spec != ".3g":
        return format(value, spec)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(ratio: float | None) -> str:
    """A speed-up such as ``12.3×``."""
    if ratio is None or not math.isfinite(ratio):
        return "—"
    if ratio >= 100:
        return f"{ratio:,.0f}×"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    if ratio >= 1:
        return f"{ratio:.2f}×"
    return f"{ratio:.2g}×"


def fmt_stats(summary: Mapping[str, float] | None, spec: str = ".3g") -> str:
    """``median (min–max)``; just the median for a single value."""
    if not summary:
        return "—"
    median = fmt_number(summary["median"], spec)
    if summary["n"] == 1:
        return median
    return f"{median} ({fmt_number(summary['min'], spec)}–{fmt_number(summary['max'], spec)})"


def _fmt_extra(summary: Mapping[str, Any], metric: Mapping[str, str]) -> str:
    """A numeric extra as ``median (min–max)`` where the repeats differ (different seeds),
    else its one value."""
    spread = summary.get("extras_stats", {}).get(metric["key"])
    if spread and spread["min"] != spread["max"]:
        return fmt_stats(spread, metric["fmt"])
    return fmt_number(summary["extras"].get(metric["key"]), metric["fmt"])


def _seeds_text(results: Mapping[str, Any]) -> str:
    seeds = results.get("seeds") or [results.get("seed", 0)]
    if len(seeds) == 1:
        return f"seed: {seeds[0]}"
    return f"seeds: {seeds[0]}–{seeds[-1]}, one per repeat"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [_row(header), _row(["---"] * len(header))]
    lines += [_row(r) for r in rows]
    return lines


# -------------------------------------------------------------- markdown
def render_markdown(results: Mapping[str, Any]) -> str:
    """The markdown report of a ``results.json`` dict."""
    labels: Mapping[str, str] = results.get("system_labels", {})
    baseline = results.get("baseline", "skkeras")
    systems: list[str] = list(results.get("systems", []))
    peers = [s for s in systems if s != baseline]
    mode = "quick (shrunk workloads: a smoke test, not a measurement)" if results.get("quick") else "full"

    machine = results.get("machine", {})
    versions = results.get("versions", {})
    lines = [
        "# skkeras benchmarks",
        "",
        f"- Command: `{results.get('command', '')}`",
        f"- Date: {results.get('created', '')}; mode: {mode}; Keras backend: "
        f"{results.get('backend', '')}; {_seeds_text(results)}; repeats: {results.get('repeat', '')} per system, "
        "each run in a fresh subprocess, one at a time.",
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('logical_cpus', '?')} logical CPUs "
        f"({machine.get('usable_cpus', '?')} usable), {fmt_number(machine.get('memory_gib'))} GiB "
        f"memory, {machine.get('os', '?')}; Python {machine.get('python', '?')}.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ".",
    ]
    if results.get("git"):
        lines.append(f"- skkeras source: git {results['git']}.")
    lines += [
        "",
        f"Times are medians over repeats (min–max in brackets) of the timed section only "
        f"(imports and data loading excluded). Speed-up = the peer's median ÷ {labels.get(baseline, baseline)}'s "
        f"median: above 1, {labels.get(baseline, baseline)} is faster. Peak RSS is the whole "
        "subprocess's (`getrusage` of the child: imports included), in MiB.",
        "",
    ]

    workloads: Mapping[str, Any] = results.get("workloads", {})
    if baseline in systems and peers:
        lines += [f"## Speed-up of {labels.get(baseline, baseline)}", ""]
        header = ["workload", "measure", f"{labels.get(baseline, baseline)}"]
        header += [f"vs {labels.get(p, p)}" for p in peers]
        rows = []
        for name, entry in workloads.items():
            for metric in entry["metrics"]["timed"]:
                base = entry["summary"].get(baseline, {}).get("timed", {}).get(metric["key"])
                ratios = entry.get("speedups", {}).get(metric["key"], {})
                rows.append(
                    [name, metric["label"], fmt_stats(base, metric["fmt"])]
                    + [fmt_ratio(ratios.get(p)) for p in peers]
                )
        lines += _table(header, rows) + [""]

    for name, entry in workloads.items():
        lines += [f"## {name}: {entry['title']}", ""]
        lines.append(f"Timed: {entry['timed_section']}. Configuration: `{json.dumps(entry['config'])}`.")
        lines.append("")
        timed = entry["metrics"]["timed"]
        extras = entry["metrics"]["extras"]
        show_speedup = baseline in systems and peers
        header = ["system"] + [m["label"] for m in timed]
        if show_speedup:
            header += [
                f"{labels.get(baseline, baseline)} speed-up"
                + (f", {m['label']}" if len(timed) > 1 else "")
                for m in timed
            ]
        header += [m["label"] for m in extras] + ["peak RSS MiB", "runs ok"]
        rows = []
        notes = []
        for system in systems:
            summary = entry["summary"].get(system)
            if summary is None:
                continue
            row = [labels.get(system, system)]
            row += [fmt_stats(summary["timed"].get(m["key"]), m["fmt"]) for m in timed]
            if show_speedup:
                row += [
                    "—" if system == baseline
                    else fmt_ratio(entry.get("speedups", {}).get(m["key"], {}).get(system))
                    for m in timed
                ]
            row += [_fmt_extra(summary, m) for m in extras]
            row += [fmt_stats(summary["peak_rss_mib"], ".0f"), f"{summary['ok']}/{summary['runs']}"]
            rows.append(row)
            for error in dict.fromkeys(summary["errors"]):
                notes.append(f"- {labels.get(system, system)} failed: {error}")
        for system, record in entry.get("warm_ups", {}).items():
            measured = ", ".join(
                f"{m['label']} {fmt_number(record.get('metrics', {}).get(m['key']), m['fmt'])}"
                for m in timed
            ) if record.get("status") == "ok" else f"failed: {record.get('error')}"
            notes.append(
                f"- {labels.get(system, system)}: its untimed warm-up run, which started with "
                f"an empty compilation cache and filled it: {measured}."
            )
        lines += _table(header, rows)
        lines += ([""] + notes if notes else []) + [""]

    notes_by_system: Mapping[str, str] = results.get("system_notes", {})
    if notes_by_system:
        lines += [
            "## Systems",
            "",
            "Every Keras system trains the same compiled network from one builder "
            "(`benchmarks/models.py`: Dense 12-8-1 sigmoid or Dense 64-32-1 linear, "
            f"Glorot-uniform weights, Adam with learning rate 1e-3), with the same seed for every system ({_seeds_text(results)}), "
            "epochs and batch size.",
            "",
        ]
        lines += [f"- {labels.get(s, s)}: {notes_by_system[s]}" for s in systems if s in notes_by_system]
        lines.append("")

    failures = results.get("failures", [])
    if failures:
        lines += ["## Failed runs", ""]
        lines += [
            f"- {f['workload']} {labels.get(f['system'], f['system'])} repeat {f['repeat']}: "
            f"{f['error']} (log: `{f.get('log', '')}`)"
            for f in failures
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report results.json``: print the markdown report of a saved run."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    if results.get("schema") != SCHEMA:
        parser.error(f"{args.results} is not a {SCHEMA} results file")
    print(render_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

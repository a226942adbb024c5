"""Showing the report: a terminal table, ``report.json`` and a self-contained HTML page.

The :class:`Report` holds every number in ``data`` (what ``report.json`` holds);
the terminal text and the HTML are both drawn from it and carry the same notes
and warnings. Plots are PNGs embedded in the HTML (matplotlib, a default
dependency; without it the page and the terminal say how to get them).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Report"]

#: Version of the layout of ``report.json``; bumped when keys change meaning.
REPORT_FORMAT_VERSION = 2

#: Column titles of the metrics (keys as in report.json).
METRIC_LABELS = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced acc.", "roc_auc": "ROC AUC",
    "f1": "F1", "r2": "R²", "rmse": "RMSE", "mae": "MAE",
}

_ALIASES = {"model__hidden_layer_sizes": "hidden", "optimizer__learning_rate": "learning_rate"}

#: Predicted-vs-actual plots draw at most this many points.
MAX_POINTS = 1000


def short_param(name: str) -> str:
    """``regressor__net__epochs`` -> ``epochs``, for display (aliases shown as aliases)."""
    for prefix in ("regressor__", "net__"):
        name = name.removeprefix(prefix)
    return _ALIASES.get(name, name)


def display_params(
    params: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Parameters by the names the user gave (``names``: full name to given name)."""
    names = names or {}
    return {short_param(names.get(k, k)): v for k, v in params.items()}


def describe_estimator(estimator: Any) -> str:
    """One line naming the model's parts: ``TransformedTargetRegressor(Pipeline(...))``."""
    if hasattr(estimator, "steps"):
        inner = ", ".join(f"{n}={describe_estimator(s)}" for n, s in estimator.steps)
        return f"Pipeline({inner})"
    if hasattr(estimator, "regressor"):
        return f"{type(estimator).__name__}({describe_estimator(estimator.regressor)})"
    if hasattr(estimator, "transformers"):
        return f"{type(estimator).__name__}(" + ", ".join(
            f"{n}={describe_estimator(t)}" for n, t, _ in estimator.transformers) + ")"
    return type(estimator).__name__


def _fmt(value: float | None, like: float | None = None) -> str:
    """3 decimals, or thousands without decimals; ``like`` picks the format from another value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    scale = abs(value if like is None or math.isnan(like) else like)
    return f"{value:,.0f}" if scale >= 1000 else f"{value:.3f}"


def _mean_std(stats: Mapping[str, float]) -> str:
    return f"{_fmt(stats['mean'])} ± {_fmt(stats['std'], like=stats['mean'])}"


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{short_param(k)}={v!r}" for k, v in params.items()) or "(defaults)"


def _p(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _table(rows: list[list[str]], *, align: str, rule_before_last: bool = False) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w)
                         for c, w, a in zip(row, widths, align, strict=True)).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    for i, row in enumerate(rows[1:], start=1):
        if rule_before_last and i == len(rows) - 1:
            out.append("  ".join("-" * w for w in widths))
        out.append(line(row))
    return out


def _json_safe(value: Any) -> Any:
    """Plain JSON types: NumPy scalars and arrays unwrapped, NaN and inf as None."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


# ---------------------------------------------------------------------- the pieces
def _settings_line(d: Mapping[str, Any]) -> str:
    st = d["settings"]
    searched = set(d["search"]["best_params"]) if d["search"] else set()
    parts = []
    if st.get("epochs") is not None:
        parts.append("epochs from the grid" if "epochs" in searched else f"{st['epochs']} epochs")
    if "batch_size" in searched:
        parts.append("batch size from the grid")
    elif st.get("batch_size") is not None:
        parts.append(f"batch size {st['batch_size']}")
    elif st.get("batch_size_resolved") is not None:
        parts.append(f"batch size {st['batch_size_resolved']} (default: min(200, rows))")
    if st.get("validation_split"):
        parts.append(f"validation split {st['validation_split']}")
    parts.append(f"random_state {st['random_state']}")
    if st.get("params"):
        parts.append(_format_params(st["params"]))
    return ", ".join(parts)


def _notes(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every remark of the report, as (kind, text): the terminal and the HTML show them all."""
    out = [("warning", w) for w in d["data_checks"]["warnings"]]
    out += [("note", n) for n in d["notes"]]
    if d.get("comparison"):
        out.append(("note", d["comparison"]["caveat"]))
    return out


def _model_rows(d: Mapping[str, Any]) -> list[list[str]]:
    metrics = d["metrics"]
    rows = [["model", *[METRIC_LABELS[m] for m in metrics], "time s"]]
    for m in d["models"]:
        title = "network" if m["kind"] == "net" else m["title"]
        rows.append([title, *[_mean_std(m["scores"][k]) for k in metrics], f"{m['seconds']:.1f}"])
    return rows


def _comparison_rows(d: Mapping[str, Any]) -> list[list[str]]:
    c = d["comparison"]
    rows = [["baseline", "mean diff.", "std diff.", "t", "p", "verdict"]]
    for r in c["rows"]:
        if r["metric"] != c["metric"]:
            continue
        t = "n/a" if r["t"] is None or math.isnan(r["t"]) else f"{r['t']:.2f}"
        rows.append([_title(d, r["baseline"]), f"{r['mean_difference']:+.3f}",
                     _fmt(r["std_difference"]), t, _p(r["p_value"]), r["verdict"]])
    return rows


def _title(d: Mapping[str, Any], name: str) -> str:
    return next(m["title"] for m in d["models"] if m["name"] == name)


def _fold_rows(d: Mapping[str, Any]) -> list[list[str]]:
    metrics = d["metrics"]
    validated = _validated(d)
    rows = [["fold", "train", "test", *[METRIC_LABELS[m] for m in metrics], "loss"]
            + (["val. loss"] if validated else [])]
    for f in d["folds"]:
        rows.append([str(f["fold"]), str(f["n_train"]), str(f["n_test"]),
                     *[_fmt(f["scores"][m]) for m in metrics],
                     _fmt(f["final_loss"]) if f["epochs_run"] else "-"]
                    + ([_fmt(f["final_val_loss"])] if validated else []))
    s = d["summary"]
    rows.append(["mean ± std", "", "", *[_mean_std(s[m]) for m in metrics], ""]
                + ([""] if validated else []))
    return rows


def _validated(d: Mapping[str, Any]) -> bool:
    return any(v is not None and not math.isnan(v) for v in (f["final_val_loss"] for f in d["folds"]))


def _metric_note(d: Mapping[str, Any]) -> str:
    ds = d["dataset"]
    if ds["task"] == "classification" and ds["target_type"] == "binary":
        return f"ROC AUC and F1 for the positive class {ds['classes'][1]!r}."
    if ds["task"] == "classification":
        return "ROC AUC: one-vs-rest, macro average; F1: macro average."
    return f"RMSE and MAE in the units of {ds['target']!r}."


def _time_line(d: Mapping[str, Any]) -> str:
    t = d["timing"]
    n_net = len(d["folds"]) * (len(d["search"]["candidates"]) if d["search"] else 1)
    parts = [f"building and compiling the network once {t['compile_s']:.1f} s",
             f"the network's {n_net} fits {t['net_s']:.1f} s (trained together)"]
    if t.get("baselines_s"):
        parts.append(f"baselines {sum(t['baselines_s'].values()):.1f} s")
    return f"Time: {t['total_s']:.1f} s in all: " + ", ".join(parts) + "."


def format_text(d: Mapping[str, Any]) -> str:
    """The report as plain text for a terminal."""
    ds, metrics = d["dataset"], d["metrics"]
    lines = [f"skkeras report: {ds['name']}"]
    if ds["task"] == "classification":
        counts = ", ".join(f"{k}: {v}" for k, v in ds["class_counts"].items())
        lines.append(f"  {ds['target_type']} classification of {ds['target']!r} ({counts})")
    else:
        lines.append(f"  regression of {ds['target']!r}")
    lines.append(f"  {ds['n_samples']} samples, {ds['n_features']} features "
                 f"({len(ds['numeric_features'])} numeric, {len(ds['categorical_features'])} "
                 "categorical)")
    lines.append(f"  network: {d['model']['estimator']}, {d['model']['network']}")
    lines.append(f"  settings: {_settings_line(d)}")
    lines.append(f"  cv: {d['settings']['splitter']}")
    lines.append("")
    search = d["search"]
    if search is not None:
        primary = search["selection_metric"]
        lines.append(f"Grid search: {len(search['candidates'])} candidates, best by mean "
                     f"{METRIC_LABELS[primary]}")
        rows = [["rank", "params", METRIC_LABELS[primary]]]
        for c in sorted(search["candidates"], key=lambda c: c["rank"]):
            rows.append([str(c["rank"]), _format_params(c["params"]),
                         _mean_std(c["scores"][primary])])
        lines += _table(rows, align="rlr")
        lines.append(f"Best params: {_format_params(search['best_params'])}")
        lines.append("")
        lines.append("Best candidate, per fold:")
    else:
        lines.append("Network, per fold:")
    lines += _table(_fold_rows(d), align="l" + "r" * (len(metrics) + 3 + _validated(d)),
                    rule_before_last=True)
    lines.append(_metric_note(d) + " Loss: the last epoch's.")
    if len(d["models"]) > 1:
        lines.append("")
        lines.append("Against baselines, on the same folds (mean ± std):")
        lines += _table(_model_rows(d), align="l" + "r" * (len(metrics) + 1))
        c = d["comparison"]
        lines.append("")
        lines.append(f"Paired comparison of {METRIC_LABELS[c['metric']]}, network − baseline per "
                     f"fold ({c['test']}):")
        lines += _table(_comparison_rows(d), align="lrrrrl")
    lines.append("")
    for kind, text in _notes(d):
        lines.append(f"{kind}: {text}")
    lines.append(_time_line(d))
    return "\n".join(lines)


# ------------------------------------------------------------------------- the report
@dataclass
class Report:
    """The result of :func:`~skkeras.report.cross_validated_report`.

    ``str(report)`` is the terminal table; in a notebook it renders as HTML.

    Attributes
    ----------
    data : dict
        Every number of the report, JSON-ready (what ``report.json`` holds).
    candidates : list of Candidate
        The network's grid points (one without a grid), each with its folds:
        scores, histories and out-of-fold predictions.
    best : Candidate
        The selected candidate.
    baselines : list of Candidate
        The baselines' folds, on the same splits.
    y : ndarray
        The target, as cross-validated.
    classes : ndarray or None
        The class labels (classification), in the order of the probability columns.
    """

    data: dict[str, Any]
    candidates: list[Any]
    best: Any
    baselines: list[Any] = field(default_factory=list)
    y: np.ndarray | None = None
    classes: np.ndarray | None = None

    def format_table(self) -> str:
        """The report as plain text for a terminal."""
        return format_text(self.data)

    def __str__(self) -> str:
        return self.format_table()

    def to_json(self) -> str:
        """``report.json``'s content: every number, NaN written as null."""
        return json.dumps(_json_safe(self.data), indent=2, ensure_ascii=False) + "\n"

    def save(self, out_dir: str | Path, *, plots: bool = True) -> dict[str, Path]:
        """Write ``report.json`` and ``report.html`` into ``out_dir`` (created if needed).

        Returns
        -------
        dict
            ``{"json": path, "html": path}``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "report.json", "html": out / "report.html"}
        paths["json"].write_text(self.to_json(), encoding="utf-8")
        paths["html"].write_text(self.to_html(plots=plots), encoding="utf-8")
        return paths

    write = save

    def plot_hint(self) -> str | None:
        """Why plots cannot be drawn and how to get them, or None when they can."""
        from ..plotting._matplotlib import _INSTALL_HINT

        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return "Plots were not drawn: " + _INSTALL_HINT
        return None

    def figures(self) -> dict[str, tuple[bytes, str]]:
        """The report's plots as (PNG bytes, caption), by title. ImportError without matplotlib."""
        from .figures import draw_figures

        return draw_figures(self)

    def to_html(self, *, plots: bool = True) -> str:
        """``report.html``'s content: one self-contained page, images embedded."""
        name = html.escape(self.data["dataset"]["name"])
        return "\n".join([
            "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>skkeras report: {name}</title>", "</head>", "<body>",
            self._body(plots=plots), "</body>", "</html>",
        ]) + "\n"

    def _repr_html_(self) -> str:
        return self._body(plots=True)

    def _body(self, *, plots: bool) -> str:
        return _render_body(self, plots=plots)


# ------------------------------------------------------------------------------ HTML
_CSS = """
.skkeras-report { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  max-width: 66rem; margin: 1.5rem auto; padding: 0 1rem; box-sizing: border-box; }
.skkeras-report h1 { font-size: 1.6rem; }
.skkeras-report h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.skkeras-report table { border-collapse: collapse; margin: 0.5rem 0 1rem; max-width: 100%;
  font-variant-numeric: tabular-nums; }
.skkeras-report th, .skkeras-report td { border: 1px solid #ddd; padding: 0.25rem 0.6rem;
  text-align: right; vertical-align: top; }
.skkeras-report th { background: #f4f4f4; }
.skkeras-report td:not(.l) { white-space: nowrap; }
.skkeras-report .l { text-align: left; }
.skkeras-report table.kv { table-layout: fixed; width: 100%; }
.skkeras-report table.kv td { overflow-wrap: anywhere; }
.skkeras-report table.kv th { width: 11rem; }
.skkeras-report .wide { overflow-x: auto; max-width: 100%; }
.skkeras-report tr.summary td { font-weight: 600; background: #fafafa; }
.skkeras-report figure { display: inline-block; margin: 0.5rem 1rem 1rem 0; vertical-align: top;
  max-width: 100%; }
.skkeras-report figcaption { font-size: 0.9rem; color: #555; max-width: 34rem; }
.skkeras-report img { max-width: 100%; height: auto; }
.skkeras-report .note { color: #444; font-size: 0.9rem; }
.skkeras-report .warning { color: #8a4b00; font-size: 0.9rem; }
.skkeras-report code { background: #f4f4f4; padding: 0 0.2rem; overflow-wrap: anywhere; }
"""


def _html_table(rows: list[list[str]], *, left: Sequence[int] = (), summary_last: bool = False,
                header: bool = True, kv: bool = False) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="l"' if i in left else ""
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    head, body = (rows[0], rows[1:]) if header else (None, rows)
    out = ['<table class="kv">' if kv else '<div class="wide"><table>']
    if head is not None:
        out.append("<tr>" + "".join(cell("th", i, h) for i, h in enumerate(head)) + "</tr>")
    for r, row in enumerate(body):
        cls = ' class="summary"' if summary_last and r == len(body) - 1 else ""
        tag = "th" if not header else "td"
        out.append(f"<tr{cls}>" + "".join(
            cell(tag if i == 0 else "td", i, c) for i, c in enumerate(row)) + "</tr>")
    out.append("</table>" if kv else "</table></div>")
    return "\n".join(out)


def _render_body(report: Report, *, plots: bool) -> str:
    d = report.data
    ds, st, metrics = d["dataset"], d["settings"], d["metrics"]
    esc = html.escape
    parts = ['<div class="skkeras-report">', f"<style>{_CSS}</style>",
             f"<h1>skkeras report: {esc(ds['name'])}</h1>"]

    parts.append('<section id="data"><h2>Data</h2>')
    rows = [["task", f"{ds['target_type']} {ds['task']}"], ["target", ds["target"]],
            ["samples", str(ds["n_samples"])],
            ["numeric features", ", ".join(ds["numeric_features"]) or "none"],
            ["categorical features", ", ".join(ds["categorical_features"]) or "none"]]
    if ds["task"] == "classification":
        rows.append(["classes", ", ".join(f"{k} ({v})" for k, v in ds["class_counts"].items())])
    else:
        s = ds["target_summary"]
        rows.append(["target range", f"{_fmt(s['min'])} to {_fmt(s['max'])}, mean {_fmt(s['mean'])}"])
    checks = d["data_checks"]
    rows.append(["duplicate rows", str(checks["duplicate_rows"])])
    parts.append(_html_table(rows, left=(0, 1), header=False, kv=True))
    column_rows = [["column", "kind", "missing", "distinct", "action"]]
    column_rows += [[c["name"], c["kind"], str(c["missing"]), str(c["unique"]), c["action"]]
                    for c in checks["columns"]]
    parts.append('<details id="columns"><summary>Columns</summary>'
                 + _html_table(column_rows, left=(0, 1, 4)) + "</details>")
    parts.append("</section>")

    parts.append('<section id="notes"><h2>Warnings and notes</h2>')
    for kind, text in _notes(d):
        parts.append(f'<p class="{kind}">{esc(kind)}: {esc(text)}</p>')
    parts.append("</section>")

    parts.append('<section id="settings"><h2>Model and settings</h2>')
    rows = [["network", f"{d['model']['estimator']}, {d['model']['network']}"],
            ["model", d["model"]["description"]], ["settings", _settings_line(d)],
            ["cross-validation", st["splitter"]]]
    if st["grid"]:
        rows.append(["grid", "; ".join(f"{k}={v}" for k, v in st["grid"].items())])
    if st["baselines"]:
        rows.append(["baselines", ", ".join(m["title"] for m in d["models"][1:])])
    parts.append(_html_table(rows, left=(0, 1), header=False, kv=True))
    parts.append("</section>")

    search = d["search"]
    if search is not None:
        parts.append('<section id="search"><h2>Grid search</h2>')
        parts.append(f"<p>Best params: <code>{esc(_format_params(search['best_params']))}</code> "
                     f"(by mean {esc(METRIC_LABELS[search['selection_metric']])}).</p>")
        rows = [["rank", "params", *[METRIC_LABELS[m] for m in metrics]]]
        for c in sorted(search["candidates"], key=lambda c: c["rank"]):
            rows.append([str(c["rank"]), _format_params(c["params"]),
                         *[_mean_std(c["scores"][m]) for m in metrics]])
        parts.append(_html_table(rows, left=(1,)) + "</section>")

    title = "Best candidate, per fold" if search is not None else "Network, per fold"
    parts.append(f'<section id="scores"><h2>{title}</h2>')
    parts.append(_html_table(_fold_rows(d), summary_last=True))
    parts.append(f"<p>{esc(_metric_note(d))} Loss: the last epoch's.</p></section>")

    if len(d["models"]) > 1:
        parts.append('<section id="baselines"><h2>Against baselines, on the same folds</h2>')
        parts.append(_html_table(_model_rows(d), left=(0,)))
        c = d["comparison"]
        parts.append(f"<p>Paired comparison of {esc(METRIC_LABELS[c['metric']])}, network − "
                     f"baseline per fold ({esc(c['test'])}):</p>")
        parts.append(_html_table(_comparison_rows(d), left=(0, 5)) + "</section>")

    if "confusion_matrix" in d["curves"]:
        cm = d["curves"]["confusion_matrix"]
        parts.append('<section id="confusion-matrix-table"><h2>Confusion matrix (counts)</h2>')
        rows = [["true \\ predicted", *[str(c) for c in cm["labels"]]]]
        rows += [[str(c), *[str(v) for v in row]]
                 for c, row in zip(cm["labels"], cm["matrix"], strict=True)]
        parts.append(_html_table(rows, left=(0,)) + "</section>")

    parts.append('<section id="plots"><h2>Plots</h2>')
    hint = report.plot_hint() if plots else "Plots were not drawn (plots=False)."
    if hint is None:
        for title, (png, caption) in report.figures().items():
            encoded = base64.b64encode(png).decode("ascii")
            anchor = re.sub(r"\W+", "-", title.lower()).strip("-")
            parts.append(f'<figure id="{anchor}"><img alt="{esc(title)}" '
                         f'src="data:image/png;base64,{encoded}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    else:
        parts.append(f'<p class="note">{esc(hint)}</p>')
    parts.append("</section>")

    parts.append(f'<section id="timing"><h2>Time</h2><p>{esc(_time_line(d))}</p></section>')
    env = d["environment"]
    parts.append('<section id="environment"><h2>Environment</h2><p>'
                 + esc(", ".join(f"{k} {v}" for k, v in env.items())) + "</p></section>")
    parts.append("</div>")
    return "\n".join(parts)

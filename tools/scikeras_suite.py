"""Run scikeras's own test suite and documentation pages against ``skkeras.scikeras``.

The judging harness of the migration guide. Given a scikeras checkout (a work tree,
or a git directory such as the mirror ``fetch`` makes), it copies the checkout's
``tests/`` and ``docs/`` byte for byte into a temporary folder and runs them there,
UNCHANGED, with ``scikeras`` and its submodules aliased to ``skkeras.scikeras`` (a
pytest plugin loaded with ``-p`` fills ``sys.modules`` before anything is
collected; the real scikeras, even if installed, is never imported: the run stops
if ``scikeras.wrappers.KerasClassifier.__module__`` is not skkeras's).

    python tools/scikeras_suite.py tests /path/to/scikeras [--out summary.md] \
        [--timeout 60] [-n 2] [-- extra pytest arguments, e.g. -k routing tests/test_api.py]
    python tools/scikeras_suite.py docs /path/to/scikeras [--out summary.md]

``tests`` writes counts (passed, failed, errors, skipped, xfailed) and the failing
test ids grouped by cause (exception type and first message line). ``docs``
extracts each documentation page's Python code (notebook cells of the jupytext
``.md`` pages, ``.. code:: python`` blocks of the ``.rst`` pages), drops shell
and IPython magic lines (``!pip``, ``%time``), runs each page in a subprocess
and reports the first failing block; pages that fail because they need the
network (dataset downloads) are reported separately.

The ``.rst`` pages (``advanced.rst``, ``migration.rst``) hold fragments, not programs:
they use names they never import and ``...`` for "your model" or "your other
arguments". They run the way a reader would run them (:data:`READER_PREAMBLE`, printed
in the summary): first a preamble with the imports and toy data the fragments assume
(``KerasClassifier``, ``keras``, ``tf``, a binary ``X, y, X_valid``, and ``Model(...)``
standing for "your model": a small uncompiled binary classifier whose ``compile``
defaults to binary cross-entropy); then, in each fragment, a ``...`` argument of
``KerasClassifier(...)``/``KerasRegressor(...)`` becomes ``model=<the preamble's
builder>`` and ``.fit(...)`` becomes ``.fit(X, y)``. A fragment that is not valid Python
as printed (a missing comma, a stray indent) is reported and skipped, not repaired.
The same rules apply to the installed scikeras in ``--reference`` runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = False  # set by --reference

#: The scikeras modules users import, and what each is aliased to.
ALIASES = {
    "scikeras": "skkeras.scikeras",
    "scikeras.wrappers": "skkeras.scikeras.wrappers",
    "scikeras.utils": "skkeras.scikeras.utils",
    "scikeras.utils.transformers": "skkeras.scikeras.utils.transformers",
    "scikeras.utils.random_state": "skkeras.scikeras.utils.random_state",
}

_ALIAS_MODULE = '''
"""Alias scikeras to skkeras.scikeras (written by tools/scikeras_suite.py)."""
import importlib
import sys

ALIASES = {aliases!r}
for _alias, _target in ALIASES.items():
    sys.modules[_alias] = importlib.import_module(_target)
    if "." in _alias:
        _parent, _, _child = _alias.rpartition(".")
        setattr(sys.modules[_parent], _child, sys.modules[_alias])
_wrappers = importlib.import_module("scikeras.wrappers")
if not _wrappers.KerasClassifier.__module__.startswith("skkeras."):
    raise SystemExit("the scikeras alias failed: " + _wrappers.KerasClassifier.__module__)
'''

_PLUGIN = '''
"""pytest plugin: the alias, a per-test timeout and a JSON record of outcomes."""
import json
import os
import signal

import pytest

import skkeras_scikeras_alias  # noqa: F401  (fills sys.modules first)

TIMEOUT = int(os.environ.get("SKKERAS_SUITE_TIMEOUT", "60"))
RECORD = os.environ.get("SKKERAS_SUITE_RECORD")
_outcomes = {{}}


class SuiteTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise SuiteTimeout(f"test exceeded the per-test timeout of {{TIMEOUT}} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def pytest_report_header(config):
    import scikeras.wrappers
    return "scikeras alias: scikeras.wrappers.KerasClassifier.__module__ = " + (
        scikeras.wrappers.KerasClassifier.__module__)


def _message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    if isinstance(report.longrepr, tuple):  # skips: (file, line, reason)
        return str(report.longrepr[2])
    return str(report.longrepr)[-400:]


def pytest_runtest_logreport(report):
    node = report.nodeid
    if report.when == "call" or report.outcome != "passed":
        if hasattr(report, "wasxfail"):
            outcome = "xpassed" if report.passed else "xfailed"
        elif report.failed and report.when != "call":
            outcome = "error"
        else:
            outcome = report.outcome
        if node not in _outcomes or _outcomes[node][0] == "passed":
            _outcomes[node] = (outcome, "" if outcome == "passed" else _message(report))
            if RECORD:  # progress, one line per test, readable while the run goes on
                with open(RECORD + ".progress", "a") as f:
                    f.write(json.dumps([node, *_outcomes[node]]) + "\\n")


def pytest_collectreport(report):
    if report.failed:
        text = str(report.longrepr).strip().splitlines()
        errors = [ln[2:] for ln in text if ln.startswith("E ")] or text[-1:]
        _outcomes[report.nodeid] = ("error", "collection: " + errors[-1])


def pytest_sessionfinish(session, exitstatus):
    if RECORD and not hasattr(session.config, "workerinput"):
        with open(RECORD, "w") as f:
            json.dump(_outcomes, f)
'''


def materialize(checkout: Path, into: Path) -> None:
    """Copy the checkout's tests/ and docs/ (work tree or git directory) into ``into``."""
    if (checkout / "tests").is_dir():
        for part in ("tests", "docs"):
            if (checkout / part).is_dir():
                shutil.copytree(checkout / part, into / part)
        return
    archive = subprocess.run(
        ["git", "--git-dir", str(checkout), "archive", "HEAD", "tests", "docs"],
        check=True, capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def write_alias(into: Path, reference: bool = False) -> Path:
    """The alias module and the plugin; with ``reference`` the alias does nothing, so
    the installed scikeras itself runs (the baseline of what passes on this stack)."""
    folder = into / "_alias"
    folder.mkdir()
    alias = _ALIAS_MODULE.format(aliases=ALIASES)
    if reference:
        alias = '"""No alias: the installed scikeras runs (reference mode)."""\n'
    (folder / "skkeras_scikeras_alias.py").write_text(alias)
    (folder / "skkeras_scikeras_plugin.py").write_text(_PLUGIN.format())
    return folder


def export_skkeras(revision: str, into: Path) -> Path:
    """skkeras as committed at ``revision``, so that others' edits in progress in the
    work tree do not break the run; the folder to put first on the path."""
    folder = into / "_skkeras"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "skkeras"], check=True, capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def environment(alias: Path, source: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(alias), str(source), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _cause(message: str) -> str:
    """A failure's cause, for grouping: its first line with numbers and ids masked."""
    line = next((ln for ln in message.strip().splitlines() if ln.strip()), "(no message)")
    line = re.sub(r"0x[0-9a-f]+", "0x…", line)
    line = re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", line)
    return line[:160]


def alias_check(work: Path, env: dict[str, str]) -> str:
    """What ``scikeras.wrappers.KerasClassifier`` is under the alias (skkeras's, or the run stops)."""
    completed = subprocess.run(
        [sys.executable, "-c", "import skkeras_scikeras_alias, scikeras.wrappers as w; "
         "print(w.KerasClassifier.__module__, w.__file__)"],
        cwd=work, env=env, capture_output=True, text=True,
    )
    found = completed.stdout.strip().splitlines()[-1:] or ["(nothing)"]
    expected = "scikeras." if REFERENCE else "skkeras."
    if completed.returncode or not found[0].startswith(expected):
        raise SystemExit(f"the scikeras alias does not resolve to skkeras: {completed.stderr[-2000:]}")
    return f"Alias check: scikeras.wrappers.KerasClassifier.__module__ = `{found[0]}`"


def run_tests(work: Path, env: dict[str, str], args: argparse.Namespace) -> str:
    check = alias_check(work, env)
    record = work / "outcomes.json"
    if args.progress:
        (work / "outcomes.json.progress").symlink_to(args.progress.resolve())
    env = {**env, "SKKERAS_SUITE_TIMEOUT": str(args.timeout), "SKKERAS_SUITE_RECORD": str(record)}
    command = [
        sys.executable, "-m", "pytest", "-p", "skkeras_scikeras_plugin", "-p", "no:cacheprovider",
        "--rootdir", str(work), "-q", "-rN", "--tb=no", "--no-header",
        "--continue-on-collection-errors",
    ]
    if args.n:
        command += ["-n", str(args.n)]
    paths = [a for a in args.pytest_args if a.startswith("tests")]
    command += [*args.pytest_args, *([] if paths else ["tests"])]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if completed.returncode not in (0, 1) or not record.exists():
        raise SystemExit(f"pytest wrote no record:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    outcomes = json.loads(record.read_text())
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=0))
    reference = json.loads(args.compare.read_text()) if args.compare else {}
    counts: dict[str, int] = defaultdict(int)
    groups: dict[str, list[str]] = defaultdict(list)
    also_failing: list[str] = []
    for node, (outcome, message) in sorted(outcomes.items()):
        counts[outcome] += 1
        if outcome in ("failed", "error"):
            if reference.get(node, ["passed"])[0] in ("failed", "error"):
                also_failing.append(node)
            groups[_cause(message)].append(node)
    lines = [
        "# scikeras's test suite against "
        + ("the installed scikeras (reference)" if REFERENCE else "skkeras.scikeras"),
        "",
        f"Command: `{' '.join(sys.argv)}`{_revision(args)} ({elapsed:.0f} s, pytest exit {completed.returncode})",
        "", check, "",
        "Counts: " + ", ".join(f"{k} {counts[k]}" for k in
                                 ("passed", "failed", "error", "skipped", "xfailed", "xpassed")),
        "",
    ]
    if reference:
        ref_counts: dict[str, int] = defaultdict(int)
        for outcome, _ in reference.values():
            ref_counts[outcome] += 1
        lines += [
            f"Reference run (scikeras itself, {args.compare}): "
            + ", ".join(f"{k} {ref_counts[k]}" for k in ("passed", "failed", "error", "skipped")),
            "",
            f"Of the failures and errors here, {len(also_failing)} also fail on scikeras itself; "
            f"{counts['failed'] + counts['error'] - len(also_failing)} fail only here.",
            "",
        ]
    lines += [f"## Failures and errors by cause ({len(groups)} causes)"]
    for cause, nodes in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lines += ["", f"### {len(nodes)} x {cause}", ""]
        lines += [f"- {node}" + (" (fails on scikeras too)" if node in also_failing else "")
                  for node in nodes]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- docs
_NETWORK = re.compile(
    r"URLError|HTTPError|ConnectionError|Name or service not known|Temporary failure in name"
    r"|getaddrinfo|fetch_openml|fetch_california|urlopen|socket\.gaierror|No route to host"
)


def page_blocks(path: Path) -> list[str]:
    """The Python code of one documentation page, one string per cell or block."""
    text = path.read_text()
    if path.suffix == ".md":
        blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    else:
        blocks = []
        for match in re.finditer(r"^\.\. code(?:-block)?:: python\n((?:\n|[ \t]+.*\n)+)",
                                 text, flags=re.M):
            block = textwrap.dedent(match.group(1))
            blocks.append(block)
    cleaned = []
    for block in blocks:
        # Shell and IPython magic lines become ``pass`` (a body may consist of one).
        kept = [ln[:len(ln) - len(ln.lstrip())] + "pass" if ln.lstrip().startswith(("!", "%"))
                else ln for ln in block.splitlines()]
        if any(ln.strip() not in ("", "pass") for ln in kept):
            cleaned.append("\n".join(kept) + "\n")
    return cleaned


#: What a reader of the ``.rst`` pages supplies before their fragments (see the module docstring).
READER_PREAMBLE = '''
import numpy as np
import keras
import tensorflow as tf
from sklearn.datasets import make_classification
from scikeras.wrappers import KerasClassifier, KerasRegressor

X, y = make_classification(n_samples=100, n_features=4, random_state=0)
X_valid = X[:20]


class Model(keras.Sequential):
    """``Model(...)`` in a fragment: "your model", here a small binary classifier for
    X, y. Uncompiled; compiling it without a loss uses binary cross-entropy (the
    fragments elide the loss with ``...``)."""

    def __init__(self, *args, **kwargs):
        super().__init__([keras.Input((X.shape[1],)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        super().compile(optimizer=optimizer, loss=loss or "binary_crossentropy", **kwargs)


def _reader_build_fn():
    """The builder a ``...`` argument of ``KerasClassifier(...)`` stands for."""
    return Model()
'''

_ESTIMATORS = ("KerasClassifier", "KerasRegressor")


class _ReaderFill(ast.NodeTransformer):
    """A fragment's ``...`` placeholders filled as a reader would (module docstring)."""

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        ellipsis = [a for a in node.args if isinstance(a, ast.Constant) and a.value is Ellipsis]
        if not ellipsis:
            return node
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in _ESTIMATORS:
            node.args = [a for a in node.args if a not in ellipsis]
            if not any(k.arg in ("model", "build_fn") for k in node.keywords):
                node.keywords.insert(0, ast.keyword("model", ast.Name("_reader_build_fn", ast.Load())))
        elif name == "fit" and isinstance(node.func, ast.Attribute) and node.args == ellipsis:
            node.args = [ast.Name("X", ast.Load()), ast.Name("y", ast.Load())]
        return node


def reader_fragment(code: str) -> str | None:
    """A ``.rst`` fragment with its placeholders filled; None if it is not valid Python."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    return ast.unparse(ast.fix_missing_locations(_ReaderFill().visit(tree))) + "\n"


_MNIST_STANDIN = '''
def _mnist_standin(path="mnist.npz"):
    """Offline stand-in for keras.datasets.mnist.load_data (no network here):
    scikit-learn's bundled 8x8 digits, scaled to 28x28 uint8 images."""
    import numpy as np
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.kron(digits.images / 16.0, np.ones((3, 3)))  # 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    images = (images * 255).astype("uint8")
    labels = digits.target.astype("uint8")
    return (images[:1500], labels[:1500]), (images[1500:], labels[1500:])
import keras.datasets.mnist
keras.datasets.mnist.load_data = _mnist_standin
'''

_PAGE_RUNNER = '''
import os as _os, sys as _sys, traceback as _traceback
import skkeras_scikeras_alias  # noqa: F401
import matplotlib as _matplotlib
_matplotlib.use("Agg")
if _os.environ.get("SKKERAS_SUITE_MNIST_STANDIN"):
    exec(compile({standin!r}, "<mnist stand-in>", "exec"))
_blocks = {blocks!r}
# The blocks run in __main__'s namespace, as a notebook's cells do (pickle finds their functions).
_namespace = _sys.modules["__main__"].__dict__
if {preamble!r}:
    exec(compile({preamble!r}, "<reader preamble>", "exec"), _namespace)
for _number, _code in enumerate(_blocks, 1):
    if _code is None:
        print(f"SKIPPED block {{_number}}: not valid Python as printed in the page")
        continue
    try:
        exec(compile(_code, f"<block {{_number}}>", "exec"), _namespace)
    except BaseException:
        print(f"FAILED at block {{_number}} of {{len(_blocks)}}:\\n{{_code}}", file=_sys.stderr)
        _traceback.print_exc()
        _sys.exit(1)
print(f"ran {{len(_blocks)}} blocks")
'''


def run_docs(work: Path, env: dict[str, str], args: argparse.Namespace) -> str:
    check = alias_check(work, env)
    pages = sorted((work / "docs" / "source").rglob("*.md")) + sorted(
        (work / "docs" / "source").glob("*.rst"))
    if args.pages:
        pages = [p for p in pages if any(part in p.name for part in args.pages.split(","))]
    rows, details = [], []
    for page in pages:
        blocks = page_blocks(page)
        if not blocks:
            continue
        fragments = page.suffix == ".rst"  # run as a reader would (module docstring)
        run_blocks = [reader_fragment(b) for b in blocks] if fragments else blocks
        script = work / f"_page_{page.stem}.py"
        script.write_text(_PAGE_RUNNER.format(
            blocks=run_blocks, standin=_MNIST_STANDIN,
            preamble=READER_PREAMBLE if fragments else ""))
        skipped = sum(b is None for b in run_blocks)
        uses_mnist = any("mnist" in block for block in blocks)
        notes = []
        started = time.monotonic()
        try:
            page_env = {**env, **({"SKKERAS_SUITE_MNIST_STANDIN": "1"}
                                  if args.mnist_standin and uses_mnist else {})}
            completed = subprocess.run(
                [sys.executable, str(script)], cwd=work, env=page_env, capture_output=True,
                text=True, timeout=args.page_timeout,
            )
            rc, stderr = completed.returncode, completed.stderr
        except subprocess.TimeoutExpired as error:
            rc, stderr = "timeout", (error.stderr or b"").decode(errors="replace")
        elapsed = time.monotonic() - started
        name = page.relative_to(work / "docs" / "source")
        if args.mnist_standin and uses_mnist:
            notes.append("MNIST stand-in")
        if fragments:
            notes.append("fragments with the reader preamble"
                         + (f"; {skipped} not valid Python as printed, skipped" if skipped else ""))
        if rc == 0:
            status = "ok" + (f" ({'; '.join(notes)})" if notes else "")
        elif _NETWORK.search(stderr or ""):
            status = "needs network"
        else:
            status = "FAILED" if rc != "timeout" else "timeout"
        rows.append(f"| {name} | {len(blocks)} | {status} | {elapsed:.0f} s |")
        if rc != 0:
            failed_at = re.search(r"FAILED at block (\d+)", stderr or "")
            tail = "\n".join((stderr or "").strip().splitlines()[-12:])
            details += ["", f"### {name}: {status}"
                        + (f" at block {failed_at.group(1)}" if failed_at else ""), "",
                        "```", tail, "```"]
    ok = sum(" | ok" in r for r in rows)
    lines = [
        "# scikeras's documentation pages against "
        + ("the installed scikeras (reference)" if REFERENCE else "skkeras.scikeras"), "",
        f"Command: `{' '.join(sys.argv)}`{_revision(args)}", "", check, "",
        f"{ok} of {len(rows)} pages run.", "",
        "| page | blocks | result | time |", "|---|---|---|---|", *rows, *details,
        "", "## The reader preamble of the .rst pages", "",
        "Run before their fragments; in each fragment a `...` argument of "
        "`KerasClassifier(...)`/`KerasRegressor(...)` becomes `model=_reader_build_fn` and "
        "`.fit(...)` becomes `.fit(X, y)`.", "", "```python", READER_PREAMBLE.strip(), "```",
    ]
    return "\n".join(lines) + "\n"


def _revision(args: argparse.Namespace) -> str:
    if not args.at:
        return " on the work tree"
    return f" at {args.commit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("tests", "docs"))
    parser.add_argument("checkout", type=Path, help="scikeras work tree or git directory")
    parser.add_argument("--out", type=Path, help="write the summary here (else stdout)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test")
    parser.add_argument("--page-timeout", type=int, default=900, help="seconds per docs page")
    parser.add_argument("-n", type=int, default=0, help="pytest-xdist workers (0: none)")
    parser.add_argument("--at", metavar="REV",
                        help="run skkeras as committed at REV (e.g. HEAD), not the work tree")
    parser.add_argument("--progress", type=Path,
                        help="append each test's outcome to this file as it finishes (JSON lines)")
    parser.add_argument("--reference", action="store_true",
                        help="no alias: run the installed scikeras itself, for a baseline")
    parser.add_argument("--json", type=Path, help="write each test's outcome here")
    parser.add_argument("--compare", type=Path,
                        help="a --json file of a --reference run: mark tests failing there too")
    parser.add_argument("--pages", help="docs: only pages whose file name contains one of "
                        "these comma-separated parts")
    parser.add_argument("--mnist-standin", action="store_true",
                        help="docs: pages that load MNIST (a download) get scikit-learn's bundled "
                        "digits scaled to 28x28 instead, so that their code runs offline")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.pytest_args = extra  # after --: paths, -k ... for pytest
    global REFERENCE
    REFERENCE = args.reference
    work = Path(tempfile.mkdtemp(prefix="scikeras-suite-"))
    try:
        materialize(args.checkout.resolve(), work)
        if args.at:  # the commit is fixed now: --at HEAD may move while the run goes on
            args.commit = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", args.at],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            args.at = args.commit
        source = export_skkeras(args.at, work) if args.at else REPO
        env = environment(write_alias(work, args.reference), source)
        summary = (run_tests if args.mode == "tests" else run_docs)(work, env, args)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

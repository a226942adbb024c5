"""The README's code: every ```python block runs as written, each in a fresh process.

A block that cannot run on its own (it needs a user's file, a cluster...) is
preceded by ``<!-- not-run: reason -->``; the reason must be given, and such
blocks are few. ``<!-- run-with: NAME=VALUE ... -->`` before a block sets
environment variables for it (``KERAS_BACKEND=jax``). The first screen's test
command is the one ``.ci/run`` runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -n 2'

_BLOCK = re.compile(
    r"(?:<!--\s*not-run:\s*(?P<reason>[^>]*?)\s*-->\s*\n)?"
    r"(?:<!--\s*run-with:\s*(?P<env>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```",
    re.S,
)


def python_blocks() -> list[tuple[int, str, str | None, dict[str, str]]]:
    """(line number, code, reason it is not run or None, environment) of every python block."""
    blocks = []
    for m in _BLOCK.finditer(README):
        env = dict(item.split("=", 1) for item in (m.group("env") or "").split())
        blocks.append((README.count("\n", 0, m.start("code")), m.group("code"),
                       m.group("reason"), env))
    return blocks


BLOCKS = python_blocks()


def test_blocks_are_found_and_exclusions_are_rare_and_explained():
    assert len(BLOCKS) >= 5
    skipped = [(line, reason) for line, _, reason, _ in BLOCKS if reason is not None]
    assert all(reason.strip() for _, reason in skipped), skipped
    assert len(skipped) <= len(BLOCKS) // 3, skipped


@pytest.mark.parametrize(
    ("line", "code", "extra_env"),
    [pytest.param(line, code, env, id=f"README.md:{line}")
     for line, code, reason, env in BLOCKS if reason is None],
)
def test_python_block_runs_as_written(line, code, extra_env, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra_env}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"README.md line {line}:\n{code}\n{result.stderr[-3000:]}"


def test_first_screen_gives_both_commands_and_ci_runs_the_test_command():
    first_screen = README[: README.index("\n## ")]
    assert "pip install . && skkeras report --dataset pima-diabetes" in first_screen
    assert f"```\n{TEST_COMMAND}\n```" in first_screen
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in ci.splitlines()

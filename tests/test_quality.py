"""The project's own tooling: lint and type checks pass (benchmarks: test_benchmarks.py).

ruff and mypy come with the ``test`` extra (``pip install -e '.[test]'``); both read
their configuration from pyproject.toml and run from the repository root, exactly as CI
and ``tox -e lint,type`` run them. A missing tool fails these tests: it is not a skip.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_tool(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module *args`` from the repository root with this interpreter."""
    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"{module} is not installed for {sys.executable}; install the test extra: "
            f"pip install -e '.[test]'",
            pytrace=False,
        )
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_clean(completed: subprocess.CompletedProcess[str]) -> None:
    if completed.returncode != 0:
        command = shlex.join(completed.args)
        pytest.fail(
            f"`{command}` exited with status {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}",
            pytrace=False,
        )


def test_ruff_check_passes() -> None:
    assert_clean(run_tool("ruff", "check", "."))


def test_ruff_format_is_clean() -> None:
    assert_clean(run_tool("ruff", "format", "--check", "pytest_workspace", "tests", "benchmarks"))


def test_mypy_passes() -> None:
    assert_clean(run_tool("mypy"))


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run must run exactly the README's second command: what users run is what CI runs."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) >= 2, "the README must start with two bash blocks: demo, then tests"
    demo, test_command = blocks[0].strip(), blocks[1].strip()
    assert "--workspace fixtures/" in demo
    ci_lines = (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines

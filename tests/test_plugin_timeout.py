"""pytest-timeout: its limit bounds a workspace item's call, and the worker is replaced.

A hanging job over pytest-timeout's limit fails with one clear line, its worker is
killed, and the next, healthy job of the same location passes on a new worker, whatever
``timeout_method`` is; no stack dump, no internals.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from processes import assert_no_worker_left, with_pid_recorder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Long enough for a healthy job on a loaded machine (it includes restarting the worker);
#: the hanging job hangs forever, so this is only how long the test waits for it.
LIMIT = "10"

MARK_HANGING = """
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "hanging_job":
            item.add_marker(pytest.mark.timeout({limit}))
"""


@pytest.fixture(autouse=True)
def _failing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # -r lines whole, not cut at 80 columns
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "failing", pytester.path / "failing")


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", LIMIT],
        ["--timeout", LIMIT, "-o", "timeout_method=thread"],
        ["-o", f"timeout={LIMIT}", "-o", "timeout_func_only=true"],
        ["--marked"],
    ],
    ids=["option", "thread-method", "ini-func-only", "marker"],
)
def test_a_job_over_the_limit_is_stopped_and_the_next_job_passes(
    pytester: pytest.Pytester, args: list
) -> None:
    conftest = MARK_HANGING.format(limit=LIMIT) if args == ["--marked"] else ""
    pytester.makeconftest(with_pid_recorder(conftest))
    args = [] if args == ["--marked"] else args
    result = pytester.runpytest_subprocess(
        "--workspace", "failing/workspace.yaml", "-k", "failing.py", "-rA", *args
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "FAILED failing/workspace.yaml::failing.py::failing_repository::hanging_job - "
            f"job 'hanging_job' did not finish within pytest-timeout's limit of {LIMIT}s; its "
            "worker was killed and restarts for the next item",
        ]
    )
    result.stdout.fnmatch_lines(
        ["PASSED failing/workspace.yaml::failing.py::failing_repository::healthy_after_hang_job"]
    )
    result.stdout.no_fnmatch_line("*+ Timeout +*")  # pytest-timeout's stack dump
    result.stdout.no_fnmatch_line("*Traceback*locations.py*")
    # The hanging worker never answers again: the healthy job passed on a new one.
    assert_no_worker_left(pytester.path, at_least=2)

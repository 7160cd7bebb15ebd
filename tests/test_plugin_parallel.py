"""Locations at work at once: in a session without xdist, the next locations in item
order run their jobs ahead while the items of the location before them run.

Location ``late`` comes second in item order. Each of its jobs writes a flag file as it
runs; each job of location ``early`` (first in item order) waits for the flag of a job of
``late``, which can only be there if ``late`` ran ahead of pytest: ``early_1`` waits for
``late_2``, which is sent only once ``late_1`` is done, while ``early_1`` still runs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import List

import pytest

EARLY = """
import pathlib
import time

from pytest_workspace.definitions import job, op, repository

HERE = pathlib.Path(__file__).parent
WAIT = {wait!r}


def make(name, flag):
    @op(name="op_" + name)
    def wait_for_late():
        deadline = time.monotonic() + WAIT
        while not (HERE / flag).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(flag + " was not written: location late did not run ahead")
            time.sleep(0.01)

    @job(name=name)
    def declared():
        wait_for_late()

    return declared


@repository
def repo():
    return [make("early_1", "late_2.flag"), make("early_2", "late_3.flag")]
"""

LATE = """
import os
import pathlib

from pytest_workspace.definitions import job, op, repository

HERE = pathlib.Path(__file__).parent
CRASH = {crash!r}


def make(name):
    @op(name="op_" + name)
    def record():
        with open(HERE / "late.txt", "a") as handle:
            handle.write(name + "\\n")
        (HERE / (name + ".flag")).write_text("")
        if name == CRASH:
            os._exit(3)

    @job(name=name)
    def declared():
        record()

    return declared


@repository
def repo():
    return [make("late_1"), make("late_2"), make("late_3"), make("late_4")]
"""


def session(
    pytester: pytest.Pytester, *args: str, wait: float = 60, crash: str = ""
) -> pytest.RunResult:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(early=EARLY.format(wait=wait), late=LATE.format(crash=crash))
    return pytester.runpytest_subprocess(
        "--workspace-file", "early.py", "--workspace-file", "late.py", "-p", "no:timeout", *args
    )


def lines(path: Path) -> List[str]:
    return path.read_text().split() if path.exists() else []


def test_the_next_location_runs_its_jobs_ahead(pytester: pytest.Pytester) -> None:
    result = session(pytester, "--workspace-parallel", "2", "-v")
    result.assert_outcomes(passed=6)
    # Reported in item order; each location ran its own jobs in their order.
    result.stdout.re_match_lines([r".*::early_1 PASSED", r".*::early_2 PASSED", r".*::late_1 "])
    assert lines(pytester.path / "late.txt") == ["late_1", "late_2", "late_3", "late_4"]


def test_one_location_at_a_time_runs_nothing_ahead(pytester: pytest.Pytester) -> None:
    result = session(pytester, "--workspace-parallel", "1", wait=1)
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*late_2.flag was not written: location late did not run ahead*"])


def test_nothing_runs_ahead_when_a_failure_may_stop_the_session(
    pytester: pytest.Pytester,
) -> None:
    result = session(pytester, "--workspace-parallel", "2", "-x", wait=1)
    result.assert_outcomes(failed=1)
    assert lines(pytester.path / "late.txt") == []


def test_a_crash_of_a_location_running_ahead_fails_only_its_item(
    pytester: pytest.Pytester,
) -> None:
    result = session(pytester, "--workspace-parallel", "2", crash="late_3")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        ["*late.py' (pid *) exited with status 3 during execute_job*", "FAILED *::late_3 - *"]
    )
    # late_4 ran on a new worker, started by its own item.
    assert lines(pytester.path / "late.txt") == ["late_1", "late_2", "late_3", "late_4"]


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--workspace-parallel", "none"], "", "--workspace-parallel must be * got 'none'"),
        ([], "workspace_parallel = 0", "*tox.ini: ini option workspace_parallel must be * got '0'"),
    ],
)
def test_a_count_that_is_not_one_or_more_is_refused(
    pytester: pytest.Pytester, args: List[str], ini: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(late=LATE.format(crash=""))
    result = pytester.runpytest_subprocess("--workspace-file", "late.py", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERDICT = re.compile(r"^(PASSED|FAILED|SKIPPED|ERROR) (\S+)")


def test_locations_running_ahead_give_every_item_the_verdict_it_has_alone(
    pytester: pytest.Pytester,
) -> None:
    # Every kind of failure (a location that does not load, a job that hangs past the
    # timeout, a crash...) next to healthy locations: the same verdict per item, whether
    # the locations run one at a time or ahead of pytest.
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "failing", pytester.path / "failing")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    args = [
        "--workspace",
        "failing/workspace.yaml",
        "--workspace",
        "multi_repo/multi_repo_workspace.yaml",
    ]
    verdicts = []
    for parallel in ("1", "2"):
        result = pytester.runpytest_subprocess(
            *args,
            "--workspace-timeout",
            "4",
            "-rA",
            "-p",
            "no:timeout",
            "--workspace-parallel",
            parallel,
        )
        found = {m.group(2): m.group(1) for m in map(VERDICT.match, result.stdout.lines) if m}
        verdicts.append(found)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert len(verdicts[0]) > 15
    assert verdicts[0] == verdicts[1]

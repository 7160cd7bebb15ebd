"""Prefetch: a location's next job is sent while pytest reports the job before it.

Each job appends its name to ``ran.txt`` as it runs; the inner sessions' conftest.py
looks at that file when pytest is done reporting the first job. Only what would run
anyway is sent ahead. A location running a job sent ahead gets the next one queued
behind it; each job's run config hook, asked when its run is sent, says which jobs had
finished sleeping by then (``woke.txt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

JOBS = """
import os
import pathlib
import time

from pytest_workspace.definitions import job, op, repository

HERE = pathlib.Path(__file__).parent


def make(name, fail=False, sleep=0.0, crash=False):
    @op(name="op_" + name)
    def record():
        time.sleep(sleep)
        with open(HERE / "woke.txt", "a") as handle:
            handle.write(name + "\\n")
        if crash:
            os._exit(3)
        with open(HERE / "ran.txt", "a") as handle:
            handle.write(name + "\\n")
        if fail:
            raise ValueError("failed on purpose")

    @job(name=name)
    def declared():
        record()

    return declared


@repository
def repo():
    return [make("a_first", {first}), make("b_second", {second}), make("c_third")]
"""

#: When the first job's item is reported: wait (up to 30 s) for the second job to run,
#: or (NO_WAIT) look at once, and write what ran by then to seen.txt.
CONFTEST = """
import pathlib
import time

HERE = pathlib.Path(__file__).parent
WAIT = {wait!r}


def pytest_runtest_logfinish(nodeid):
    if not nodeid.endswith("::a_first"):
        return
    ran = HERE / "ran.txt"
    deadline = time.monotonic() + (30 if WAIT else 0)
    while True:
        text = ran.read_text() if ran.exists() else ""
        if "b_second" in text or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    (HERE / "seen.txt").write_text(text)
"""


def session(
    pytester: pytest.Pytester, *args: str, fail: bool = False, wait: bool = True
) -> pytest.RunResult:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(jobs=JOBS.format(first=f"fail={fail!r}", second=""))
    pytester.makeconftest(CONFTEST.format(wait=wait))
    return pytester.runpytest_subprocess("--workspace-file", "jobs.py", "-p", "no:timeout", *args)


def lines(path: Path) -> List[str]:
    return path.read_text().split() if path.exists() else []


def test_the_next_job_runs_while_the_item_before_it_is_reported(
    pytester: pytest.Pytester,
) -> None:
    result = session(pytester)
    result.assert_outcomes(passed=3)
    # By the time pytest had reported a_first, b_second had run already (and c_third,
    # queued behind it, may have too).
    assert lines(pytester.path / "seen.txt")[:2] == ["a_first", "b_second"]
    assert lines(pytester.path / "ran.txt") == ["a_first", "b_second", "c_third"]


@pytest.mark.parametrize(
    "disable", [["--workspace-no-prefetch"], ["-o", "workspace_prefetch=false"]]
)
def test_without_prefetch_each_job_runs_only_when_its_item_does(
    pytester: pytest.Pytester, disable: List[str]
) -> None:
    result = session(pytester, *disable, wait=False)
    result.assert_outcomes(passed=3)
    assert lines(pytester.path / "seen.txt") == ["a_first"]
    assert lines(pytester.path / "ran.txt") == ["a_first", "b_second", "c_third"]


def test_nothing_is_sent_ahead_after_the_failure_that_stops_the_session(
    pytester: pytest.Pytester,
) -> None:
    result = session(pytester, "-x", fail=True, wait=False)
    result.assert_outcomes(failed=1)
    assert lines(pytester.path / "ran.txt") == ["a_first"]


def test_a_failure_does_not_stop_prefetch_when_the_session_goes_on(
    pytester: pytest.Pytester,
) -> None:
    result = session(pytester, fail=True)
    result.assert_outcomes(failed=1, passed=2)
    assert lines(pytester.path / "seen.txt")[:2] == ["a_first", "b_second"]


def test_a_job_marked_skip_is_not_sent_ahead(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        skip_second="""
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "b_second":
            item.add_marker(pytest.mark.skip(reason="not today"))
"""
    )
    pytester.syspathinsert()
    result = session(pytester, "-p", "skip_second", wait=False)
    result.assert_outcomes(passed=2, skipped=1)
    assert lines(pytester.path / "ran.txt") == ["a_first", "c_third"]


@pytest.mark.parametrize("skipped", [["c_third"], ["b_second", "c_third"]])
def test_a_run_sent_for_an_item_skipped_at_setup_does_not_stop_a_graceful_exit(
    pytester: pytest.Pytester, skipped: List[str]
) -> None:
    # The runs of the items a setup hook skips were sent ahead (c_third queued behind
    # b_second, or both queued one behind the other): their replies are never read by
    # an item. The worker still exits as asked (its atexit handlers run, as coverage.py's
    # do) once it has answered them, instead of being killed as if busy.
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        jobs=JOBS.format(first="sleep=0.5", second="sleep=0.5")
        + "\nimport atexit\n\natexit.register(lambda: (HERE / 'exited.txt').write_text(''))\n"
    )
    pytester.makeconftest(
        f"""
import pytest

def pytest_runtest_setup(item):
    if item.name in {skipped!r}:
        pytest.skip("not today")
"""
    )
    result = pytester.runpytest_subprocess("--workspace-file", "jobs.py", "-p", "no:timeout")
    result.assert_outcomes(passed=3 - len(skipped), skipped=len(skipped))
    assert lines(pytester.path / "ran.txt") == ["a_first", "b_second", "c_third"]
    assert (pytester.path / "exited.txt").exists()


#: Each job's run config hook (asked when its run is sent) says which jobs had finished
#: their sleep by then.
QUEUED_CONFTEST = """
import pathlib

HERE = pathlib.Path(__file__).parent


def pytest_workspace_run_config(job):
    woke = HERE / "woke.txt"
    done = woke.read_text().split() if woke.exists() else []
    with open(HERE / "asked.txt", "a") as handle:
        handle.write(job.name + ":" + ",".join(done) + "\\n")
    return None
"""


def queued_session(
    pytester: pytest.Pytester, *args: str, sleep: float = 0.5, crash: bool = False
) -> pytest.RunResult:
    pytester.makeini("[pytest]\n")
    first, second = f"sleep={sleep!r}, crash={crash!r}", f"sleep={sleep!r}"
    pytester.makepyfile(jobs=JOBS.format(first=first, second=second))
    pytester.makeconftest(QUEUED_CONFTEST)
    return pytester.runpytest_subprocess("--workspace-file", "jobs.py", "-p", "no:timeout", *args)


def asked(pytester: pytest.Pytester) -> List[str]:
    return lines(pytester.path / "asked.txt")


def test_the_next_run_is_queued_behind_the_run_in_flight(pytester: pytest.Pytester) -> None:
    result = queued_session(pytester)
    result.assert_outcomes(passed=3)
    # b_second's run was sent (its hooks asked) while a_first was still running, and
    # c_third's while b_second was: each queued behind the one before. They ran in
    # order, once each.
    assert asked(pytester) == ["a_first:", "b_second:", "c_third:a_first"]
    assert lines(pytester.path / "ran.txt") == ["a_first", "b_second", "c_third"]


def test_a_failure_that_may_stop_the_session_queues_nothing(pytester: pytest.Pytester) -> None:
    result = queued_session(pytester, "--maxfail", "5")
    result.assert_outcomes(passed=3)
    # Only the next item's run, sent when the one before is done.
    assert asked(pytester) == ["a_first:", "b_second:a_first", "c_third:a_first,b_second"]


def test_a_run_queued_behind_a_crash_runs_on_a_new_worker(pytester: pytest.Pytester) -> None:
    result = queued_session(pytester, "-rf", crash=True)
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(["FAILED *a_first*"])
    # b_second was queued behind a_first (asked before a_first woke up), whose worker
    # died before starting it: it ran once, on the new worker, when its item came.
    assert asked(pytester)[:2] == ["a_first:", "b_second:"]
    assert lines(pytester.path / "ran.txt") == ["b_second", "c_third"]


def test_a_queued_runs_timeout_counts_from_its_own_start(pytester: pytest.Pytester) -> None:
    # Each of a_first and b_second takes 1.2 s; b_second is queued at once. Counted from
    # when it was sent, b_second would be over the 2 s limit; from its start, it is not.
    result = queued_session(pytester, "--workspace-timeout", "2", sleep=1.2)
    result.assert_outcomes(passed=3)
    assert asked(pytester)[:2] == ["a_first:", "b_second:"]
    assert lines(pytester.path / "ran.txt") == ["a_first", "b_second", "c_third"]

"""Loading the locations shows progress, one line per location as it becomes ready, and
``--durations`` lists the loads."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import List

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PYTHON = re.escape("Python {}.{}.{}".format(*sys.version_info[:3]))
TWO_LOCATIONS = "multi_repo/multi_repo_workspace.yaml"


@pytest.fixture(autouse=True)
def _session_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")


def progress_lines(result: pytest.RunResult) -> List[str]:
    return [line for line in result.stdout.lines if line.startswith("workspace: loaded ")]


def test_each_location_has_a_line_with_its_load_time_before_the_header_line(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess("--workspace", TWO_LOCATIONS, "-p", "no:xdist")
    for name in ("cereal_package", "single_repo.py"):
        result.stdout.re_match_lines(
            [rf"workspace: loaded {re.escape(name)} \({PYTHON}\) in \d+\.\d\ds$"]
        )
    lines = result.stdout.lines
    header = lines.index(
        next(line for line in lines if line.startswith(f"workspace: {TWO_LOCATIONS}:"))
    )
    progress = [lines.index(line) for line in progress_lines(result)]
    assert len(progress) == 2 and max(progress) < header, lines
    result.assert_outcomes(passed=4)


def test_a_line_comes_as_its_location_is_ready_not_when_all_are(
    pytester: pytest.Pytester,
) -> None:
    # waits.py's import goes on only once pytest's output (the file pytester sends it
    # to) has fast.py's line: were the lines written when every location had loaded,
    # waits.py would never see it and would fail to load.
    stdout = pytester.path / "stdout"
    pytester.makepyfile(
        fast="from pytest_workspace.definitions import job, op\n\n"
        "@op\ndef one():\n    return 1\n\n@job\ndef fast_job():\n    one()\n",
        waits=f"""
import pathlib, time
from pytest_workspace.definitions import job, op

STDOUT = pathlib.Path({str(stdout)!r})
for _ in range(1200):  # the load timeout (30s) ends it first if the line never comes
    if STDOUT.exists() and "workspace: loaded fast.py" in STDOUT.read_text():
        break
    time.sleep(0.05)
else:
    raise RuntimeError("no progress line for fast.py")

@op
def two():
    return 2

@job
def waits_job():
    two()
""",
    )
    pytester.makefile(
        ".yaml", workspace="load_from:\n  - python_file: waits.py\n  - python_file: fast.py\n"
    )
    result = pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "--workspace-load-timeout", "30", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=2)
    shown = progress_lines(result)
    assert [line.split()[2] for line in shown] == ["fast.py", "waits.py"], shown


def test_a_location_that_fails_to_load_says_so_with_its_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(broken="raise ImportError('no such thing')\n")
    pytester.makefile(".yaml", workspace="load_from:\n  - python_file: broken.py\n")
    result = pytester.runpytest_subprocess("--workspace", "workspace.yaml", "-p", "no:xdist")
    result.stdout.re_match_lines(
        [rf"workspace: broken.py \({PYTHON}\) failed to load in \d+\.\d\ds$"]
    )
    result.assert_outcomes(failed=1)


@pytest.mark.parametrize("args", [["-q"], ["--co", "-q", "--no-header"]], ids=["q", "co-q"])
def test_quiet_runs_show_no_progress(pytester: pytest.Pytester, args: List[str]) -> None:
    # As pytest's own "collecting ..." line: gone under -q.
    result = pytester.runpytest_subprocess("--workspace", TWO_LOCATIONS, "-p", "no:xdist", *args)
    assert "workspace:" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_no_header_keeps_the_progress(pytester: pytest.Pytester) -> None:
    # --no-header hides the header only, as in pytest; progress is not header.
    result = pytester.runpytest_subprocess(
        "--workspace", TWO_LOCATIONS, "-p", "no:xdist", "--no-header"
    )
    assert len(progress_lines(result)) == 2
    assert f"workspace: {TWO_LOCATIONS}:" not in result.stdout.str()


def test_durations_lists_the_loads_after_pytests_own(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", TWO_LOCATIONS, "-p", "no:xdist", "--durations=0", "--durations-min=0"
    )
    result.stdout.re_match_lines(
        [
            r"=+ slowest durations =+",
            r"=+ slowest workspace location loads =+",
        ]
    )
    for nodeid in ("cereal_package", "single_repo.py"):
        result.stdout.re_match_lines(
            [rf"\d+\.\d\ds load     {re.escape(TWO_LOCATIONS)}::{re.escape(nodeid)}$"]
        )
    result.assert_outcomes(passed=4)


def test_durations_n_keeps_the_n_slowest_loads(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace",
        TWO_LOCATIONS,
        "--workspace-file",
        "multi_repo/single_repo.py",
        "-p",
        "no:xdist",
        "--durations=2",
        "--durations-min=0",
    )
    result.stdout.fnmatch_lines(["*= slowest 2 workspace location loads =*"])
    start = result.stdout.lines.index(
        next(x for x in result.stdout.lines if "workspace location loads" in x)
    )
    listed = [
        line for line in result.stdout.lines[start + 1 :] if re.match(r"\d+\.\d\ds load ", line)
    ]
    assert len(listed) == 2, result.stdout.lines[start:]


def test_without_durations_there_is_no_loads_section(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--workspace", TWO_LOCATIONS, "-p", "no:xdist")
    assert "workspace location loads" not in result.stdout.str()


def test_under_xdist_the_summary_lists_each_worker_s_loads(pytester: pytest.Pytester) -> None:
    # The controller loads nothing: each location loads on the worker that owns it, and
    # the workers' lines (with the worker) and loads come at the end.
    result = pytester.runpytest_subprocess(
        "--workspace", TWO_LOCATIONS, "-n", "2", "--durations=0", "--durations-min=0"
    )
    assert len(progress_lines(result)) == 2, result.stdout.lines
    loaded = rf"workspace: loaded (cereal_package|single_repo\.py) \({PYTHON}\) in \d+\.\d\ds"
    result.stdout.re_match_lines(
        [
            r".* workspace locations \(loaded by xdist workers\) .*",
            rf"{loaded} on gw[01]$",
            rf"{loaded} on gw[01]$",
            rf"workspace: {TWO_LOCATIONS}: cereal_package \({PYTHON}\), single_repo.py .*$",
            r".*= slowest workspace location loads =.*",
            rf"\d+\.\d\ds load +{TWO_LOCATIONS}::.*",
            rf"\d+\.\d\ds load +{TWO_LOCATIONS}::.*",
        ]
    )
    result.assert_outcomes(passed=4)


def test_locations_start_loading_before_the_session_starts(pytester: pytest.Pytester) -> None:
    # The location writes imported.txt as its code is imported; the session does not
    # start until it is there (within 60 s): only a location started while pytest is
    # still configuring gets there.
    pytester.makepyfile(
        jobs="""
        import pathlib

        from pytest_workspace.definitions import job, op, repository

        (pathlib.Path(__file__).parent / "imported.txt").write_text("")


        @op
        def noop():
            pass


        @job
        def only():
            noop()


        @repository
        def repo():
            return [only]
        """
    )
    pytester.makeconftest(
        """
        import pathlib
        import time


        def pytest_sessionstart(session):
            deadline = time.monotonic() + 60
            while not (pathlib.Path(__file__).parent / "imported.txt").exists():
                assert time.monotonic() < deadline, "the location had not started"
                time.sleep(0.01)
        """
    )
    result = pytester.runpytest_subprocess("--workspace-file", "jobs.py", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"workspace: loaded jobs\.py .* in \d+\.\d\ds$"])


#: Says, once pytest is configured, whether a location is being loaded. The location's
#: import never ends within the run, so a started load is still going on by then.
LOADING_REPORTER = """
import threading

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    names = [thread.name for thread in threading.enumerate()]
    print("loading:", "pytest-workspace-load" in names)
"""


@pytest.mark.parametrize(
    ("args", "loading"),
    [(["--help"], False), (["--markers"], False), (["--workspace-load-timeout", "1"], True)],
    ids=["help", "markers", "a-collecting-run"],
)
def test_help_and_markers_start_no_location(
    pytester: pytest.Pytester, args: List[str], loading: bool
) -> None:
    pytester.makepyfile(jobs="import time\ntime.sleep(60)\n")
    pytester.makeconftest(LOADING_REPORTER)
    result = pytester.runpytest_subprocess("--workspace-file", "jobs.py", "-s", *args)
    result.stdout.fnmatch_lines([f"loading: {loading}"])

"""Coverage of code run in code locations (SPEC section 8, issue 9 point 9).

Real pytest sessions with real pytest-cov (or ``coverage run``) on the host, against
locations in real virtualenvs: one with ``coverage`` installed (``COVERAGE_VERSION``),
one bare. What is asserted is coverage.py's own report: the measured location's file
is in it with the lines its jobs ran covered and the lines they did not run missing;
the bare location is named in the header with the reason it is not measured.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import PythonEnvFactory
from processes import assert_no_worker_left, with_pid_recorder

#: The coverage.py release installed into the measured location's virtualenv.
COVERAGE_VERSION = "7.16.2"

# One location's code: ``ran`` is called by the job's op, ``never`` by nothing.
MEASURED = """\
from pytest_workspace.definitions import job, op, repository


def ran(value):
    doubled = value * 2
    return doubled


def never():
    return "this line is never run"


@op
def compute():
    return ran(21)


@job
def measured_job():
    compute()


@repository
def measured_repository():
    return {"jobs": {"measured_job": lambda: measured_job}}
"""

BARE = """\
from pytest_workspace.definitions import job, op, repository


@op
def nothing():
    return None


@job
def bare_job():
    nothing()


@repository
def bare_repository():
    return {"jobs": {"bare_job": lambda: bare_job}}
"""


def line_of(source: str, text: str) -> int:
    """The 1-based number of the line of ``source`` that contains ``text``."""
    for number, line in enumerate(source.splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} is not in the source")


def report_row(output: str, filename: str) -> Dict[str, object]:
    """The row of ``filename`` in a ``term-missing`` report: statements, missed, lines."""
    match = re.search(
        rf"^{re.escape(filename)}\s+(\d+)\s+(\d+)\s+(?:\d+\s+\d+\s+)?\d+%\s*(.*)$",
        output,
        flags=re.M,
    )
    assert match, f"{filename} is not in the coverage report:\n{output}"
    missing: List[int] = []
    for part in filter(None, (p.strip() for p in match.group(3).split(","))):
        if "->" in part:  # a partial branch, "12->14"
            continue
        first, _, last = part.partition("-")
        missing.extend(range(int(first), int(last or first) + 1))
    return {"statements": int(match.group(1)), "missed": int(match.group(2)), "missing": missing}


@pytest.fixture(scope="module")
def coverage_python(python_env: PythonEnvFactory) -> Path:
    return python_env("3.11", name="coverage", packages=[f"coverage=={COVERAGE_VERSION}"])


@pytest.fixture(scope="module")
def bare_python(python_env: PythonEnvFactory) -> Path:
    return python_env("3.11")


@pytest.fixture
def workspace(pytester: pytest.Pytester, coverage_python: Path, bare_python: Path) -> Path:
    """A workspace file next to a test file: a measured location and a bare one."""
    pytester.makepyfile(measured_jobs=MEASURED, bare_jobs=BARE)
    pytester.makeconftest(with_pid_recorder())
    path = pytester.path / "workspace.yaml"
    path.write_text(
        "load_from:\n"
        "  - python_file:\n"
        "      relative_path: measured_jobs.py\n"
        f"      executable_path: {coverage_python}\n"
        "  - python_file:\n"
        "      relative_path: bare_jobs.py\n"
        f"      executable_path: {bare_python}\n"
    )
    return path


def assert_measured_location_covered(output: str) -> None:
    row = report_row(output, "measured_jobs.py")
    never_body = line_of(MEASURED, "this line is never run")
    assert row["missing"] == [never_body], output
    assert row["missed"] == 1, output


def test_pytest_cov_reports_the_lines_run_in_a_location(
    pytester: pytest.Pytester, workspace: Path, bare_python: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--cov=.", "--cov-report=term-missing", "--workspace", workspace.name, "-p", "no:xdist"
    )
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert_measured_location_covered(output)
    # The bare location's code was never measured: all of its statements are missing.
    bare = report_row(output, "bare_jobs.py")
    assert bare["missed"] == bare["statements"], output
    result.stdout.re_match_lines(
        [
            r"workspace: workspace.yaml: measured_jobs.py \(Python 3\.11\.\d+, measured by "
            r"coverage\), bare_jobs.py \(Python 3\.11\.\d+, not measured by coverage: coverage "
            rf"is not importable in {re.escape(str(bare_python))} \(ModuleNotFoundError.*\)\)"
        ]
    )
    # The workers' parallel data files were combined into the report, then removed.
    assert sorted(p.name for p in pytester.path.glob(".coverage*")) == [".coverage"]
    assert_no_worker_left(pytester.path, at_least=2)


def test_coverage_run_reports_the_lines_run_in_a_location(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    run = pytester.run(
        sys.executable, "-m", "coverage", "run", "--source=.", "-m", "pytest",
        "--workspace", workspace.name, "-p", "no:xdist", "-p", "no:cacheprovider",
    )  # fmt: skip
    assert run.ret == 0, run.stdout.str() + run.stderr.str()
    run.stdout.fnmatch_lines(["*2 passed*"])
    report = pytester.run(sys.executable, "-m", "coverage", "report", "-m")
    assert report.ret == 0, report.stdout.str() + report.stderr.str()
    assert_measured_location_covered(report.stdout.str())
    assert_no_worker_left(pytester.path, at_least=2)


def test_pytest_cov_under_xdist_reports_the_lines_run_in_a_location(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--cov=.", "--cov-branch", "--cov-report=term-missing", "--workspace", workspace.name,
        "-n", "2",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    assert_measured_location_covered(result.stdout.str())
    assert_no_worker_left(pytester.path, at_least=2)


#: A plugin for the inner session (``-p late_gw1``): xdist worker gw1 starts, as far as
#: pytest-cov can see, only once gw0's location has started measuring and imported its
#: code (``measured_jobs.py`` writes ``measured_imported`` as it is imported). pytest-cov
#: then starts measuring gw1 by erasing the ``.coverage.*`` files next to its data file:
#: the measured location's data must not be one of them.
LATE_GW1 = """
import os, time

if os.environ.get("PYTEST_XDIST_WORKER") == "gw1":
    deadline = time.monotonic() + 60
    while not os.path.exists("measured_imported"):
        if time.monotonic() > deadline:
            raise RuntimeError("the measured location never started in gw0")
        time.sleep(0.02)
"""


def test_under_xdist_a_worker_that_starts_late_does_not_erase_a_location_s_data(
    pytester: pytest.Pytester, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under an outer xdist run, the inner controller would inherit its worker's name.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    (pytester.path / "measured_jobs.py").write_text(
        'open("measured_imported", "w").close()\n' + MEASURED
    )
    pytester.makepyfile(late_gw1=LATE_GW1)
    result = pytester.runpytest_subprocess(
        "--cov=.", "--cov-report=term-missing", "--workspace", workspace.name,
        "-n", "2", "-p", "late_gw1",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    assert "coverage data not saved" not in output, output
    row = report_row(result.stdout.str(), "measured_jobs.py")
    # Line 1 is the marker the file writes; the rest are MEASURED's, one line down.
    assert row["missing"] == [line_of(MEASURED, "this line is never run") + 1], output
    # No data file is left in the folder but the host's own.
    assert sorted(p.name for p in pytester.path.glob(".coverage*")) == [".coverage"]
    assert_no_worker_left(pytester.path, at_least=2)


def test_without_coverage_the_header_says_nothing_of_it(
    pytester: pytest.Pytester, workspace: Path
) -> None:
    result = pytester.runpytest_subprocess("--workspace", workspace.name, "-p", "no:xdist")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines(
        [r"workspace: workspace.yaml: measured_jobs.py \(Python 3\.11\.\d+\), bare_jobs.py \(Py"]
    )
    assert "measured by coverage" not in result.stdout.str()
    assert not list(pytester.path.glob(".coverage*"))

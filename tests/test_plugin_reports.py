"""Failure reports honour --tb, and every failure has a one-line reason.

The reason is what the ``-r`` summary and ``--tb=line`` show, also when the report
travels from an xdist worker to the controller.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FAILING = "failing/workspace.yaml"
JOBS = "failing/workspace.yaml::failing.py::failing_repository"

#: The -r summary line of each failure of fixtures/failing (by node id suffix).
REASONS = {
    "broken.py::load_location": "code location 'broken.py' failed to load: "
    "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'",
    "failing_repository::failing_job": "job 'failing_job' failed in op 'invert': "
    "ZeroDivisionError: division by zero",
    "failing_repository::mismatched_job": "job 'mismatched_job' failed the name check: "
    "*JobNameMismatchError: repository 'failing_repository' declares a job under the key "
    "'mismatched_job', but the job built for it is named 'renamed_job'*",
    "scheduling_repository::schedule:raising_schedule": "schedule 'raising_schedule' failed "
    "its evaluation: RuntimeError: the schedule could not compute its run config",
}


@pytest.fixture(autouse=True)
def _failing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # -r lines whole, not cut at 80 columns
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "failing", pytester.path / "failing")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # hanging_job is left out: it is the timeout's business (test_plugin_timeout.py).
    return pytester.runpytest_subprocess("--workspace", FAILING, "-k", "not hanging", *args)


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_summary_shows_each_failure_s_reason(pytester: pytest.Pytester, extra: list) -> None:
    result = run(pytester, "-rf", "--tb=no", *extra)
    result.stdout.fnmatch_lines_random(
        [f"FAILED *{node} - {reason}" for node, reason in REASONS.items()]
    )
    result.stdout.no_fnmatch_line("*= FAILURES =*")  # --tb=no


def test_tb_line_is_one_line_per_failure_at_the_user_s_file(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--tb=line")
    result.stdout.fnmatch_lines_random(
        [
            f"{pytester.path}/failing/failing.py:*: {REASONS['failing_repository::failing_job']}",
            f"{pytester.path}/failing/workspace.yaml:*: {REASONS['broken.py::load_location']}",
            f"{pytester.path}/failing/scheduling.py:*: "
            + REASONS["scheduling_repository::schedule:raising_schedule"],
        ]
    )
    result.stdout.no_fnmatch_line("Traceback (most recent call last):")
    result.stdout.no_fnmatch_line("steps:")


def test_tb_short_shows_one_line_per_user_frame(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--tb=short", "-k", "failing_job")
    result.stdout.fnmatch_lines(
        [
            "*_ job failing_job _*",
            "job 'failing_job' failed during execution in op 'invert'",
            "",
            f"{pytester.path}/failing/failing.py:17: in invert",
            "    return [1 / n for n in numbers]",
            "*",
            "ZeroDivisionError: division by zero",
            "*- Captured stdout call -*",
        ]
    )
    result.stdout.no_fnmatch_line("Traceback (most recent call last):")
    result.stdout.no_fnmatch_line("steps:")


@pytest.mark.parametrize("style", ["auto", "long", "native"])
def test_the_long_styles_show_the_whole_report(pytester: pytest.Pytester, style: str) -> None:
    result = run(pytester, f"--tb={style}", "-k", "failing_job")
    result.stdout.fnmatch_lines(
        [
            "job 'failing_job' failed during execution in op 'invert'",
            "",
            "Traceback (most recent call last):",
            '  File "*/failing/failing.py", line 17, in invert',
            "*ZeroDivisionError: division by zero",
            "",
            "steps:",
            "  success  load_numbers*",
            "  failure  invert*",
        ]
    )


def test_a_schedule_s_or_sensor_s_report_says_what_its_tick_requested(
    pytester: pytest.Pytester,
) -> None:
    """Before: a passing schedule or sensor said nothing of its tick. Now its report
    says each run request (with the job it targets) or the skip reason, one a line."""
    result = run(pytester, "-rP", "-k", "morning or new_file or quiet")
    result.assert_outcomes(passed=3)
    for item, line in (
        ("schedule morning_schedule", "run request 0: job 'refresh_job'"),
        ("sensor new_file_sensor", "run request 0 (run_key 'file-1'): job 'refresh_job'"),
        ("sensor quiet_sensor", "skipped: no new files"),
    ):
        # Our definitions, not Dagster's: the section is the workspace's.
        result.stdout.fnmatch_lines([f"*_ {item} _*", "*Captured workspace call*", line])
    assert "Captured dagster call" not in result.stdout.str()

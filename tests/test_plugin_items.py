"""What a job, schedule or sensor item checks, and how its failures are reported."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from processes import PID_RECORDER, assert_no_worker_left, with_pid_recorder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: Long enough for every healthy location to load (and restart) on a loaded machine; the
#: hanging job hangs forever, so it is the only one stopped by it.
TIMEOUT = "4"


@pytest.fixture(autouse=True)
def _session_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")


@pytest.fixture
def failing(pytester: pytest.Pytester) -> Path:
    shutil.copytree(FIXTURES / "failing", pytester.path / "failing")
    return pytester.path / "failing" / "workspace.yaml"


ACCEPTANCE_FAILURES = [
    "broken.py::load_location",
    "failing.py::failing_repository::failing_job",
    "failing.py::failing_repository::hanging_job",
    "failing.py::failing_repository::mismatched_job",
    "scheduling.py::scheduling_repository::schedule:bad_cron_schedule",
    "scheduling.py::scheduling_repository::schedule:raising_schedule",
    "scheduling.py::scheduling_repository::sensor:garbage_sensor",
    "scheduling.py::scheduling_repository::sensor:orphan_sensor",
]
ACCEPTANCE_PASSES = [
    "healthy.py::healthy_repository::greeting_job",
    "failing.py::failing_repository::healthy_after_hang_job",
    "scheduling.py::scheduling_repository::refresh_job",
    "scheduling.py::scheduling_repository::schedule:morning_schedule",
    "scheduling.py::scheduling_repository::sensor:new_file_sensor",
    "scheduling.py::scheduling_repository::sensor:quiet_sensor",
]


def test_acceptance_run(pytester: pytest.Pytester, failing: Path) -> None:
    """Every failure once, every healthy job run, no process left behind, exit 1."""
    pytester.makeconftest(PID_RECORDER)
    result = pytester.runpytest_subprocess(
        "--workspace", str(failing), "--workspace-timeout", TIMEOUT, "-rA"
    )
    result.assert_outcomes(passed=6, failed=8, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    prefix = "failing/workspace.yaml::"
    lines = result.stdout.lines
    for node in ACCEPTANCE_FAILURES:
        assert (
            lines.count(f"FAILED {prefix}{node}")
            + sum(line.startswith(f"FAILED {prefix}{node} - ") for line in lines)
            == 1
        ), node
    for node in ACCEPTANCE_PASSES:
        assert lines.count(f"PASSED {prefix}{node}") == 1, node
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] failing/workspace.yaml:15: load_from[[]4[]]: grpc_server*",
            "SKIPPED [[]1[]] failing/healthy.py:40: job 'forecast_job' needs run config it was "
            "not given: missing forecast.city, forecast.days; supply it with the "
            "pytest_workspace_run_config hook*",
        ],
        consecutive=False,
    )
    # One header per failure: nothing is reported twice.
    assert sum("_ job hanging_job _" in line for line in lines) == 1
    # The healthy, failing (twice: restarted) and scheduling workers.
    assert_no_worker_left(pytester.path, at_least=4)


def test_failure_reports_say_which_step_failed(pytester: pytest.Pytester, failing: Path) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", str(failing), "--workspace-timeout", TIMEOUT, "-k", "failing.py"
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ job failing_job _*",
            "job 'failing_job' failed during execution in op 'invert'",
            "",
            "Traceback (most recent call last):",
            '  File "*/failing/failing.py", line 17, in invert',
            "*ZeroDivisionError: division by zero",
            "",
            "steps:",
            "  success  load_numbers*",
            "  failure  invert*",
            "*- Captured stdout call -*",
            "inverting 3 numbers",
            "*- Captured log call -*",
            "*load_numbers*loading numbers",
            "*_ job hanging_job _*",
            "job 'hanging_job' failed during execution:",
            f"execute_job in code location 'failing.py' did not finish within {TIMEOUT}s*",
            "*_ job mismatched_job _*",
            "job 'mismatched_job' failed the name check:",
            "*JobNameMismatchError: repository 'failing_repository' declares a job under the "
            "key 'mismatched_job', but the job built for it is named 'renamed_job'*",
        ]
    )
    # Remote tracebacks are trimmed to user code.
    result.stdout.no_fnmatch_line("*_worker*")
    result.stdout.no_fnmatch_line("*definitions.py*")


def test_build_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        repos="""
        from pytest_workspace.definitions import job, op, repository

        def explode():
            raise RuntimeError("cannot build this job")

        @repository
        def repo():
            return {"jobs": {"exploding_job": explode, "not_a_job": lambda: 42}}
        """
    )
    pytester.makefile(".yaml", workspace="load_from:\n  - python_file: repos.py\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "job 'exploding_job' failed to build:",
            "Traceback (most recent call last):",
            '  File "*repos.py", line 4, in explode',
            "RuntimeError: cannot build this job",
            "job 'not_a_job' failed to build:",
            "*returned an int (42) instead of a JobDefinition*",
        ]
    )


def test_passing_job_shows_output_and_logs_and_points_at_user_file(
    pytester: pytest.Pytester, failing: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace",
        str(failing),
        "-k",
        "greeting_job",
        "-rP",
        "--junitxml=report.xml",
        "-o",
        "junit_family=xunit1",
    )
    result.assert_outcomes(passed=1, deselected=15)
    result.stdout.fnmatch_lines(
        [
            "*_ job greeting_job _*",
            "*- Captured stdout call -*",
            "hello from greet",
            "*- Captured stderr call -*",
            "a note on stderr",
            "*- Captured log call -*",
            "INFO     pytest_workspace [[]greet[]]: greeting logged by the op",
            "WARNING  healthy*: python logging is captured too",
        ]
    )
    case = next(ET.parse(pytester.path / "report.xml").getroot().iter("testcase"))
    assert case.get("file") == "failing/healthy.py"
    # Where the job is declared, without building it: its entry in the repository's
    # dict (healthy.py:39, `"greeting_job": lambda: greeting_job`), stored 0-based.
    assert case.get("line") == "38"


RUN_CONFIG_CONFTEST = """
import pytest

def pytest_workspace_run_config(job):
    if job.name == "forecast_job":
        return {"ops": {"forecast": {"config": {"city": "Lyon", "days": DAYS}}}}

def pytest_workspace_should_execute(job):
    if job.name == "greeting_job":
        return False
"""


def test_hooks_supply_run_config_and_opt_out(pytester: pytest.Pytester, failing: Path) -> None:
    pytester.makeconftest(with_pid_recorder(RUN_CONFIG_CONFTEST.replace("DAYS", "3")))
    result = pytester.runpytest_subprocess("--workspace", str(failing), "-k", "healthy.py", "-rP")
    result.assert_outcomes(passed=2)
    # greeting_job was built but not executed: nothing it prints was captured.
    result.stdout.no_fnmatch_line("hello from greet")
    assert_no_worker_left(pytester.path)
    pytester.makeconftest(RUN_CONFIG_CONFTEST.replace("DAYS", '"three"'))
    result = pytester.runpytest_subprocess("--workspace", str(failing), "-k", "forecast_job")
    result.assert_outcomes(failed=1, deselected=15)
    result.stdout.fnmatch_lines(
        [
            "job 'forecast_job' failed its run config check (no op ran):",
            "*op 'forecast': config key 'days' must be int*",
        ]
    )


def test_should_execute_can_force_execution(pytester: pytest.Pytester, failing: Path) -> None:
    pytester.makeconftest(
        "def pytest_workspace_should_execute(job):\n    return job.name == 'greeting_job'\n"
    )
    result = pytester.runpytest_subprocess(
        "--workspace", str(failing), "--workspace-no-execute", "-k", "healthy.py", "-rP"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["hello from greet"])


def test_dead_worker_fails_its_item_and_the_next_item_runs(pytester: pytest.Pytester) -> None:
    shutil.copy(FIXTURES / "failing" / "crashing.py", pytester.path / "crashing.py")
    pytester.makeconftest(PID_RECORDER)
    result = pytester.runpytest_subprocess("--workspace-file", "crashing.py", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "crashing.py::crashing_repository::dying_job FAILED*",
            "crashing.py::crashing_repository::survivor_job PASSED*",
            "job 'dying_job' failed during execution:",
            "*the worker of code location 'crashing.py' (pid *) exited with status 3*",
        ]
    )
    assert_no_worker_left(pytester.path, at_least=2)  # the worker that died, its replacement


def test_schedule_and_sensor_failures(pytester: pytest.Pytester, failing: Path) -> None:
    result = pytester.runpytest_subprocess("--workspace", str(failing), "-k", "scheduling.py")
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*_ schedule bad_cron_schedule _*",
            "schedule 'bad_cron_schedule' failed its evaluation:",
            "*InvalidCronError: invalid cron schedule '61 * * * *': minute field*",
            "*_ schedule raising_schedule _*",
            '  File "*scheduling.py", line *, in raising_schedule',
            "RuntimeError: the schedule could not compute its run config",
            "*_ sensor garbage_sensor _*",
            "*InvalidEvaluationError: sensor 'garbage_sensor' returned an int (42)*",
            "*_ sensor orphan_sensor _*",
            "*InvalidTargetError: sensor 'orphan_sensor' of repository 'scheduling_repository' "
            "targets job 'job_that_does_not_exist'*",
        ]
    )

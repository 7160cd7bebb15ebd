"""The collection tree and how pytest's selection and reporting options see it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from processes import assert_no_worker_left, with_pid_recorder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

CEREAL_IDS = [
    "cereal/workspace.yaml::repos.py::hello_cereal_repository::complex_job",
    "cereal/workspace.yaml::repos.py::hello_cereal_repository::hello_cereal_job",
]

#: Builders that leave a marker file when called: proof of what was built or executed.
MARKING_REPOS = """
from pytest_workspace.definitions import job, op, repository, schedule, sensor, RunRequest

def mark(name):
    open(name, "w").close()

@op
def step_one():
    mark("executed_one")

@job
def one_job():
    step_one()

@op
def step_two():
    raise ValueError("two fails")

@job
def two_job():
    step_two()

@schedule("0 * * * *", job_name="one_job")
def hourly(context):
    mark("evaluated_hourly")
    return {}

@sensor(job_name="two_job")
def watcher(context):
    mark("evaluated_watcher")
    yield RunRequest()

def build(name, definition):
    def builder():
        mark("built_" + name)
        return definition
    return builder

@repository
def marking_repository():
    return {
        "jobs": {"one_job": build("one_job", one_job), "two_job": build("two_job", two_job)},
        "schedules": {"hourly": hourly},
        "sensors": {"watcher": watcher},
    }
"""


@pytest.fixture(autouse=True)
def _session_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")


@pytest.fixture
def cereal(pytester: pytest.Pytester) -> Path:
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    return pytester.path / "cereal" / "workspace.yaml"


@pytest.fixture
def marking(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(repos=MARKING_REPOS)
    return pytester.makefile(".yaml", workspace="load_from:\n  - python_file: repos.py\n")


def markers(pytester: pytest.Pytester) -> set:
    names = ("built_*", "executed_*", "evaluated_*")
    return {path.name for pattern in names for path in pytester.path.glob(pattern)}


def test_collect_only_tree(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess("--workspace", str(cereal), "--collect-only")
    result.stdout.fnmatch_lines(
        [
            "  <Dir cereal>",
            "    <WorkspaceFile workspace.yaml>",
            "      <LocationNode repos.py>",
            "        <RepositoryNode hello_cereal_repository>",
            "          <JobItem complex_job>",
            "          <JobItem hello_cereal_job>",
        ]
    )


def test_collect_only_quiet_node_ids(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess("--workspace", str(cereal), "--collect-only", "-q")
    result.stdout.fnmatch_lines([*CEREAL_IDS, "", "2 tests collected*"])


def test_schedule_and_sensor_node_ids(pytester: pytest.Pytester, marking: Path) -> None:
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "workspace.yaml::repos.py::marking_repository::one_job",
            "workspace.yaml::repos.py::marking_repository::two_job",
            "workspace.yaml::repos.py::marking_repository::schedule:hourly",
            "workspace.yaml::repos.py::marking_repository::sensor:watcher",
        ]
    )


def test_collection_builds_and_runs_nothing(pytester: pytest.Pytester, marking: Path) -> None:
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess("--collect-only")
    assert result.ret == 0
    assert markers(pytester) == set()
    assert_no_worker_left(pytester.path)  # a --collect-only session starts workers too
    result = pytester.runpytest_subprocess("-k", "one_job", "--workspace-no-execute")
    result.assert_outcomes(passed=1, deselected=3)
    assert markers(pytester) == {"built_one_job"}
    assert_no_worker_left(pytester.path, at_least=2)


def test_keyword_selection(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess("--workspace", str(cereal), "-k", "complex_job", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines([f"{CEREAL_IDS[0]} PASSED*"])


def test_workspace_marker(pytester: pytest.Pytester, cereal: Path) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("--strict-markers", "-m", "workspace")
    result.assert_outcomes(passed=2, deselected=1)
    result = pytester.runpytest_subprocess("--strict-markers", "-m", "not workspace")
    result.assert_outcomes(passed=1, deselected=2)


def test_node_id_as_positional_argument(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess(CEREAL_IDS[1], "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"{CEREAL_IDS[1]} PASSED*"])


def test_junitxml_names_and_classnames(pytester: pytest.Pytester, marking: Path) -> None:
    result = pytester.runpytest_subprocess("--junitxml=report.xml")
    result.assert_outcomes(passed=3, failed=1)
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    found = {(case.get("classname"), case.get("name")): case for case in cases}
    classname = "workspace.yaml.repos.py.marking_repository"
    assert set(found) == {
        (classname, "one_job"),
        (classname, "two_job"),
        (classname, "schedule:hourly"),
        (classname, "sensor:watcher"),
    }
    failure = found[classname, "two_job"].find("failure")
    assert failure is not None
    assert "ValueError: two fails" in (failure.text or "")


def test_last_failed_reruns_only_the_failed_job(pytester: pytest.Pytester, marking: Path) -> None:
    first = pytester.runpytest_subprocess()
    first.assert_outcomes(passed=3, failed=1)
    for name in markers(pytester):
        (pytester.path / name).unlink()
    again = pytester.runpytest_subprocess("--lf", "-v")
    again.assert_outcomes(failed=1, deselected=3)
    again.stdout.fnmatch_lines(["workspace.yaml::repos.py::marking_repository::two_job FAILED*"])
    assert markers(pytester) == {"built_two_job"}


def test_malformed_file_fails_alone(pytester: pytest.Pytester, cereal: Path) -> None:
    shutil.copy(FIXTURES / "broken_workspaces" / "unknown_nested_key_typo.yaml", "workspace.yaml")
    pytester.makepyfile(repos="raise SystemExit('never imported')\n")
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "workspace.yaml::load_workspace FAILED*",
            "*workspace file * is malformed; nothing of it was loaded:",
            "*workspace.yaml:*: load_from[[]*].python_file.relativ_path: unknown key*"
            "did you mean 'relative_path'?*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_location_that_fails_to_load_is_one_failed_item(
    pytester: pytest.Pytester, cereal: Path
) -> None:
    shutil.copy(FIXTURES / "failing" / "broken.py", pytester.path / "broken.py")
    pytester.makefile(
        ".yaml",
        workspace="load_from:\n  - python_file: broken.py\n  - python_file: cereal/repos.py\n",
    )
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=4, failed=1)  # cereal twice: its own file and ours
    result.stdout.fnmatch_lines(
        [
            "workspace.yaml::broken.py::load_location FAILED*",
            "*_ location broken.py _*",
            "code location 'broken.py' failed to load: *ModuleNotFoundError: "
            "No module named 'a_module_that_does_not_exist'*",
            "Traceback (most recent call last):",
            '  File "*broken.py", line 4, in <module>',
            "*Captured stdout call*",
            "broken.py starts importing",
        ]
    )
    result.stdout.no_fnmatch_line("*_worker*")
    result.stdout.no_fnmatch_line("*repos.py::load_location*")
    assert_no_worker_left(pytester.path, at_least=2)  # cereal's two locations


def test_grpc_server_entries_are_skipped(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml", workspace="load_from:\n  - grpc_server:\n      host: localhost\n      port: 4266\n"
    )
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] workspace.yaml:2: load_from[[]0[]]: grpc_server entry not loaded*"]
    )


def test_no_execute_runs_no_job_but_evaluates_schedules_and_sensors(
    pytester: pytest.Pytester, marking: Path
) -> None:
    # "No execute" is about jobs: none runs. A schedule's or sensor's check is its
    # evaluation, which runs its function and launches nothing.
    result = pytester.runpytest_subprocess("--workspace-no-execute", "-rA")
    result.assert_outcomes(passed=4)  # two_job's op would fail if it ran
    assert markers(pytester) == {
        "built_one_job",
        "built_two_job",
        "evaluated_hourly",
        "evaluated_watcher",
    }

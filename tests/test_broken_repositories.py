"""The gallery of broken repositories (``fixtures/broken_repositories/``), one error per file.

Every file is a code location of one workspace, loaded once for the module (the locations
load concurrently). Each error must surface where the user sees it (the location's load
error, building the job, or evaluating the schedule) with the names needed to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest

from pytest_workspace import (
    LocationLoadError,
    RemoteDefinitionError,
    Workspace,
    load_workspace,
)

GALLERY = Path(__file__).resolve().parent.parent / "fixtures" / "broken_repositories"


@dataclass(frozen=True)
class Case:
    #: "load" (the location fails to load), "build" (building ``member`` fails) or
    #: "evaluation" (evaluating the schedule ``member`` fails).
    surfaces: str
    error_type: str
    words: Tuple[str, ...]
    member: Optional[str] = None


CASES = {
    "bad_list_member.py": Case(
        "load",
        "InvalidDefinitionError",
        (
            "member [1] of the list returned by repository 'list_repository'",
            "is a str ('report_job')",
            "expected a JobDefinition, ScheduleDefinition or SensorDefinition",
        ),
    ),
    "duplicate_job_names.py": Case(
        "load",
        "DuplicateDefinitionError",
        (
            "repository 'duplicate_repository'",
            "two different jobs named 'nightly_job'",
            "rename one of them",
        ),
    ),
    "unknown_dict_key.py": Case(
        "load",
        "InvalidDefinitionError",
        (
            "repository 'dict_repository'",
            "unknown key 'pipelines'",
            "allowed keys are 'jobs', 'schedules' and 'sensors'",
        ),
    ),
    "schedule_missing_job.py": Case(
        "load",
        "InvalidTargetError",
        (
            "schedule 'hourly_schedule' of repository 'schedule_repository'",
            "targets job 'hourly_job'",
            "its jobs are: 'refresh_job'",
        ),
    ),
    "sensor_missing_job.py": Case(
        "load",
        "InvalidTargetError",
        (
            "sensor 'new_file_sensor' of repository 'sensor_repository'",
            "targets job 'ingest_job'",
            "its jobs are: 'refresh_job'",
        ),
    ),
    "mismatched_job_name.py": Case(
        "build",
        "JobNameMismatchError",
        (
            "repository 'mismatch_repository'",
            "under the key 'daily_job'",
            "named 'weekly_job'",
            "rename the key to 'weekly_job', or pass name='daily_job' to @job",
        ),
        member="daily_job",
    ),
    "builder_returns_non_job.py": Case(
        "build",
        "InvalidDefinitionError",
        (
            "the function declared for job 'report_job' in repository 'builder_repository'",
            "returned a dict ({'name': 'report_job'}) instead of a JobDefinition",
        ),
        member="report_job",
    ),
    "invalid_cron.py": Case(
        "evaluation",
        "InvalidCronError",
        (
            "invalid cron schedule '0 25 * * *' of schedule 'late_schedule'",
            "hour field '25'",
            "allowed: 0-23",
        ),
        member="late_schedule",
    ),
    "schedule_returns_garbage.py": Case(
        "evaluation",
        "InvalidEvaluationError",
        (
            "schedule 'garbage_schedule' returned a str ('run it please')",
            "must return a run config dict, a RunRequest, a list of RunRequests, or a SkipReason",
        ),
        member="garbage_schedule",
    ),
}


@pytest.fixture(scope="module")
def gallery() -> Iterator[Workspace]:
    files = [GALLERY / name for name in sorted(CASES)]
    with load_workspace(python_file=files, timeout=60) as workspace:
        yield workspace


def assert_says(text: str, case: Case) -> None:
    for word in case.words:
        assert word in text, (word, text)
    # Trimmed to the user's code: no frame of ours.
    assert "_worker.py" not in text and "<pytest_workspace" not in text


def test_every_file_is_checked_and_listed_in_the_readme() -> None:
    files = sorted(path.name for path in GALLERY.glob("*.py"))
    assert files == sorted(CASES)
    readme = (GALLERY / "README.md").read_text(encoding="utf-8")
    assert [name for name in files if f"| `{name}` |" not in readme] == []
    for name in files:
        first_line = (GALLERY / name).read_text(encoding="utf-8").splitlines()[0]
        assert first_line.startswith('"""Broken: '), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_error_surfaces_where_the_user_sees_it(gallery: Workspace, name: str) -> None:
    case = CASES[name]
    location = gallery.location(name)
    if case.surfaces == "load":
        error = location.load_error
        assert isinstance(error, LocationLoadError)
        text = str(error)
        assert text.startswith(f"code location {name!r} failed to load: {case.error_type}: ")
        assert_says(text, case)
        # The traceback points at the user's @repository.
        assert f'File "{GALLERY / name}", line ' in error.remote_traceback
        assert location.repositories == []
        return
    assert location.load_error is None, str(location.load_error)
    (repository,) = location.repositories
    qualified = f"{name}/{repository.name}/{case.member}"
    if case.surfaces == "build":
        assert case.member in repository.job_names  # listed without building it
        with pytest.raises(RemoteDefinitionError) as info:
            gallery.job(qualified).build()
        assert info.value.type_name.endswith("." + case.error_type)
        assert_says(str(info.value), case)
        # Executing it fails the same way, before any op runs.
        with pytest.raises(RemoteDefinitionError, match=case.error_type):
            gallery.job(qualified).execute()
    else:
        assert case.surfaces == "evaluation"
        assert repository.schedule_names == [case.member]
        with pytest.raises(RemoteDefinitionError) as info:
            repository.schedule(case.member).evaluate()
        assert info.value.type_name.endswith("." + case.error_type)
        assert_says(str(info.value), case)
        # The error is the schedule's alone: its target job is fine.
        (job_name,) = repository.job_names
        assert gallery.job(f"{name}/{repository.name}/{job_name}").execute().success


def test_each_location_fails_alone(gallery: Workspace) -> None:
    failed = sorted(loc.name for loc in gallery.locations if loc.load_error is not None)
    assert failed == sorted(name for name, case in CASES.items() if case.surfaces == "load")

"""Warnings raised by pipeline code reach pytest's warnings summary; -W error fails the item."""

from __future__ import annotations

import pytest

REPOS = """
import warnings
from pytest_workspace.definitions import job, op, repository, schedule


class PipelineWarning(UserWarning):
    pass


@op
def old_api():
    warnings.warn("old_api is deprecated, use new_api", DeprecationWarning)
    return 1


@job
def deprecated_job():
    old_api()


@op
def custom():
    warnings.warn("the custom warning", PipelineWarning)


@job
def custom_job():
    custom()


@op
def quiet():
    return 2


@job
def quiet_job():
    quiet()


@schedule("0 * * * *", job=quiet_job)
def warning_schedule(context):
    warnings.warn("the schedule warns")
    return {}


@repository
def warning_repository():
    return {
        "jobs": {"deprecated_job": deprecated_job, "custom_job": custom_job,
                 "quiet_job": quiet_job},
        "schedules": {"warning_schedule": warning_schedule},
    }
"""


@pytest.fixture(autouse=True)
def _workspace(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(repos=REPOS)
    pytester.makefile(".yaml", workspace="load_from:\n  - python_file: repos.py\n")


def test_warnings_reach_pytest_s_summary(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--workspace", "workspace.yaml")
    result.assert_outcomes(passed=4, warnings=3)
    result.stdout.fnmatch_lines_random(
        [
            "*= warnings summary =*",
            "*repos.py:*: DeprecationWarning: old_api is deprecated, use new_api",
            "*repos.py:*: PipelineWarning: the custom warning",
            "*repos.py:*: UserWarning: the schedule warns",
        ]
    )


def test_w_error_fails_the_items_that_warn(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--workspace", "workspace.yaml", "-W", "error", "-rf")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *::deprecated_job - job 'deprecated_job' raised DeprecationWarning: "
            "old_api is deprecated, use new_api",
            "FAILED *::custom_job - job 'custom_job' raised PipelineWarning: the custom warning",
            "FAILED *::schedule:warning_schedule - schedule 'warning_schedule' raised "
            "UserWarning: the schedule warns",
        ]
    )
    # A filter on one category fails only its items.
    result = pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "-W", "error::DeprecationWarning"
    )
    result.assert_outcomes(passed=3, failed=1, warnings=2)


IMPORT_WARNS = """
import warnings
from pytest_workspace.definitions import job, op, repository

warnings.warn("legacy_config is deprecated at import", DeprecationWarning)


@op
def one():
    return 1


@job
def a_job():
    one()


@job
def b_job():
    one()


@repository
def import_repository():
    return [a_job, b_job]
"""


def test_warnings_raised_while_importing_a_location_are_raised_once_on_its_first_item(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(importwarns=IMPORT_WARNS)
    pytester.makefile(".yaml", imports="load_from:\n  - python_file: importwarns.py\n")
    result = pytester.runpytest_subprocess("--workspace", "imports.yaml")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "*::a_job",
            "*importwarns.py:*: DeprecationWarning: legacy_config is deprecated at import",
        ]
    )
    # -W error: the location's first item fails with it; the others still run.
    result = pytester.runpytest_subprocess(
        "--workspace", "imports.yaml", "-W", "error::DeprecationWarning", "-rf"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED *::a_job - *DeprecationWarning: legacy_config is deprecated at import*"]
    )

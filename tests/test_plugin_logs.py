"""What a job logged, in its report: the user's lines always, the run's own chatter on -vv."""

from __future__ import annotations

import pytest

REPOS = """
import logging
from pytest_workspace.definitions import job, op

@op
def shout(context):
    context.log.info("user info line")
    context.log.debug("user debug line")
    logging.getLogger("team").warning("python logging line")
    raise ValueError("boom")

@job
def loud_job():
    shout()
"""


@pytest.mark.parametrize("verbosity", [[], ["-vv"]], ids=["default", "-vv"])
def test_failure_report_shows_user_logs_and_run_events_only_when_very_verbose(
    pytester: pytest.Pytester, verbosity: list
) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(repos=REPOS)
    result = pytester.runpytest_subprocess("--workspace-file", "repos.py", *verbosity)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured log call -*",
            "INFO     pytest_workspace: Started run * of job 'loud_job'",
            "INFO     pytest_workspace [[]shout[]]: user info line",
            "DEBUG    pytest_workspace [[]shout[]]: user debug line",
            "WARNING  team [[]shout[]]: python logging line",
            "ERROR    pytest_workspace [[]shout[]]: Op 'shout' failed after *",
        ],
        consecutive=False,
    )
    started_op = "DEBUG    pytest_workspace [shout]: Started op 'shout'"
    assert (started_op in result.stdout.lines) == bool(verbosity)

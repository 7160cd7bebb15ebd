"""Dagster items point at their definition in the user's file, not at the workspace file.

Dagster does not record where a job is declared: the item finds the line that defines
it by reading the location's file (nothing is imported or built on the host).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster_versions import NEWEST

DAGSTER_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dagster"


@pytest.fixture(scope="module")
def dagster_python(python_env) -> Path:  # type: ignore[no-untyped-def]
    return python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_dagster_items_point_at_their_definition(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    monkeypatch.setenv("COLUMNS", "400")
    pytester.makeini("[pytest]\n")
    shutil.copytree(DAGSTER_FIXTURES, pytester.path / "dagster")
    failures = pytester.path / "dagster" / "failures.py"
    result = pytester.runpytest_subprocess(
        "--workspace",
        "dagster/workspace.yaml",
        "-k",
        "failures.py and not asset",
        "--tb=line",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            f"{failures}:{line_of(failures, 'def failing_job(')}: job 'failing_job' failed *",
            # Declared under a key no function has: the repository's line.
            f"{failures}:{line_of(failures, 'def failures_repository(')}: job 'misnamed_job' *",
        ]
    )
    result.stdout.no_fnmatch_line("*workspace.yaml:1: *")

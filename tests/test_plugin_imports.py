"""The plugin costs a pytest run that uses no workspace almost nothing.

Its entry module imports no YAML parser, no execnet and none of the host machinery until
a workspace is in play: checked in the real pytest process, by what it has imported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Modules of ours that only a run with a workspace needs.
HEAVY = [
    "pytest_workspace._session",
    "pytest_workspace.checks",
    "pytest_workspace.config",
    "pytest_workspace.locations",
    "pytest_workspace.workspace",
    "yaml",
]
#: What only the workers run: the host ships their source without importing them (a
#: zygote's own code and the Dagster backend's list of imports only where one starts).
WORKER_ONLY = [
    "pytest_workspace.definitions",
    "pytest_workspace._backend",
    "pytest_workspace._backend_native",
    "pytest_workspace._backend_dagster",
    "pytest_workspace._zygote",
]

REPORTER = """
import sys

HEAVY = {heavy!r}


def pytest_sessionfinish(session):
    loaded = [name for name in HEAVY if name in sys.modules]
    print("\\nheavy modules loaded:", ",".join(loaded) or "none")
"""


@pytest.fixture(autouse=True)
def _reporter(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(REPORTER.format(heavy=HEAVY + WORKER_ONLY))
    pytester.makepyfile(test_units="def test_unit():\n    assert 1 + 1 == 2\n")


def test_a_run_without_a_workspace_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    # -p no:xdist: pytest-xdist imports execnet itself.
    result = pytester.runpytest_subprocess("-p", "no:xdist", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["heavy modules loaded: none"])
    result.stdout.fnmatch_lines(["plugins: *workspace-*"])  # the entry point was loaded


def test_a_workspace_found_by_collection_loads_the_rest(pytester: pytest.Pytester) -> None:
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    result = pytester.runpytest_subprocess("-p", "no:xdist", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["heavy modules loaded: " + ",".join(HEAVY)])


def test_a_named_workspace_loads_the_rest(pytester: pytest.Pytester) -> None:
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    result = pytester.runpytest_subprocess(
        "-p", "no:xdist", "-s", "--workspace", "cereal/workspace.yaml", "test_units.py"
    )
    result.stdout.fnmatch_lines(["heavy modules loaded: " + ",".join(HEAVY)])

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


#: Makes pytest mark this package for assertion rewriting, as it does for an installed
#: (not editable) copy: it rewrites every module of a plugin's distribution.
MARK_AS_INSTALLED = """
def pytest_addoption(parser, pluginmanager):
    pluginmanager.rewrite_hook.mark_rewrite("pytest_workspace")
"""

REWRITTEN_REPORTER = """
import sys


def pytest_sessionfinish(session):
    rewritten = sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("pytest_workspace")
        and type(getattr(module, "__loader__", None)).__name__ == "AssertionRewritingHook"
    )
    print("\\nrewritten:", ",".join(rewritten))
"""


def test_the_modules_a_workspace_run_imports_are_not_assertion_rewritten(
    pytester: pytest.Pytester,
) -> None:
    # Rewriting parses and compiles a module again whenever pytest cannot cache it
    # (PYTHONDONTWRITEBYTECODE, a read-only site-packages): only the entry module and
    # what it imports before its first hook are.
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    pytester.makepyfile(mark_as_installed=MARK_AS_INSTALLED)
    pytester.makeconftest(REWRITTEN_REPORTER)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "mark_as_installed", "-p", "no:xdist", "-s", "--workspace", "cereal/workspace.yaml"
    )
    result.assert_outcomes(passed=2)
    (line,) = [line for line in result.stdout.lines if line.startswith("rewritten:")]
    rewritten = line.partition(":")[2].strip().split(",")
    assert "pytest_workspace.plugin" in rewritten  # the mark took effect
    assert not {"pytest_workspace._session", "pytest_workspace.locations"} & set(rewritten)
    assert set(rewritten) <= {
        "pytest_workspace",
        "pytest_workspace._defaults",
        "pytest_workspace._definition_errors",
        "pytest_workspace._sources",
        "pytest_workspace.errors",
        "pytest_workspace.hooks",
        "pytest_workspace.plugin",
    }, rewritten

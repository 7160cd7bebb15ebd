"""What Dagster's own scaffolder makes today loads unchanged (SPEC section 7).

The other dg tests lay projects out as ``create-dagster`` does, by hand; here the real
``create-dagster`` (the release that goes with the newest Dagster, in a cached
virtualenv of its own) makes the workspace and the project, so that a change in what it
generates (a new table in ``pyproject.toml``, a ``deployments/`` folder, another
``definitions.py``) shows here. The project's ``.venv`` is a link to the suite's cached
Dagster virtualenv, as ``uv sync`` would have made it; the user adds one asset file with
an asset check, as ``dg scaffold defs dagster.asset`` would place it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import PythonEnvFactory
from dagster_versions import NEWEST
from processes import assert_no_worker_left, with_pid_recorder

ASSETS = """\
import dagster as dg


@dg.asset
def orders() -> int:
    return 3


@dg.asset_check(asset=orders)
def orders_positive(orders: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=orders > 0)
"""


@pytest.fixture(scope="module")
def scaffolder(python_env: PythonEnvFactory) -> Path:
    """The ``create-dagster`` command of the newest Dagster release."""
    python = python_env(
        NEWEST.python, name="create-dagster", packages=[f"create-dagster=={NEWEST.version}"]
    )
    return python.parent / "create-dagster"


@pytest.fixture
def dg_workspace(pytester: pytest.Pytester, scaffolder: Path, python_env: PythonEnvFactory) -> Path:
    """``create-dagster workspace ws`` then ``create-dagster project projects/sales`` in it,
    as the Dagster docs tell a new user to; returns the workspace folder."""
    env = dict(os.environ, DAGSTER_DISABLE_TELEMETRY="1")
    for command, cwd in (
        ([str(scaffolder), "workspace", "ws", "--no-uv-sync"], pytester.path),
        ([str(scaffolder), "project", "projects/sales", "--no-uv-sync"], pytester.path / "ws"),
    ):
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    workspace = pytester.path / "ws"
    project = workspace / "projects" / "sales"
    # What the scaffolder made, as this test relies on it (a change here is news).
    assert 'path = "projects/sales"' in (workspace / "dg.toml").read_text()
    assert 'root_module = "sales"' in (project / "pyproject.toml").read_text()
    assert "load_from_defs_folder" in (project / "src/sales/definitions.py").read_text()
    dagster_python = python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])
    (project / ".venv").symlink_to(dagster_python.parent.parent)
    (project / "src/sales/defs/assets.py").write_text(ASSETS)
    # Which conftest.py pytest loads depends on its rootdir: record pids in both.
    (workspace / "conftest.py").write_text(with_pid_recorder())
    (project / "conftest.py").write_text(with_pid_recorder())
    return workspace


def run_in(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, folder: Path, *args: str
) -> pytest.RunResult:
    monkeypatch.chdir(folder)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *args)


def test_pytest_in_a_scaffolded_workspace_runs_the_project_in_its_venv(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dg_workspace: Path
) -> None:
    result = run_in(pytester, monkeypatch, dg_workspace)
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.re_match_lines([r"workspace: dg\.toml: sales \(Python 3\.11\.\d+\)"])
    result.stdout.fnmatch_lines(
        [
            "*Captured dagster call*",
            "materialized orders",
            "check orders:orders_positive passed (ERROR)",
            "*short test summary info*",
            "PASSED dg.toml::sales::__repository__::__ASSET_JOB",
        ]
    )
    # The workspace's own deployment environment (deployments/local) is no location.
    assert "deployments" not in result.stdout.str()
    assert_no_worker_left(dg_workspace)


@pytest.mark.parametrize(
    ("folder", "named", "shown"),
    [
        (".", "projects/sales", "projects/sales/pyproject.toml"),
        (".", "projects/sales/pyproject.toml", "projects/sales/pyproject.toml"),
        ("projects/sales", ".", "pyproject.toml"),
    ],
)
def test_a_scaffolded_project_named_with_workspace_runs_alone(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    dg_workspace: Path,
    folder: str,
    named: str,
    shown: str,
) -> None:
    """pytest makes the project's folder its rootdir here (an option's path with a
    pyproject.toml); the header and the ids are shown from where pytest was run."""
    result = run_in(pytester, monkeypatch, dg_workspace / folder, "--workspace", named)
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([rf"workspace: {re.escape(shown)}: sales \(Python 3\.11\.\d+\)$"])
    result.stdout.fnmatch_lines([f"PASSED {shown}::sales::__repository__::__ASSET_JOB"])
    assert_no_worker_left(dg_workspace / "projects" / "sales")


UNIT_TEST = """\
def test_orders(workspace_job):
    result = workspace_job("__ASSET_JOB").execute()
    assert result.success
    assert result.output_for("orders") == 3
"""


def test_a_scaffolded_project_with_the_ini_option_serves_its_own_unit_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dg_workspace: Path
) -> None:
    """One line in the project's pyproject.toml (docs/workspace.md), and ``pytest`` in
    the project collects its jobs and runs the unit tests in its ``tests/`` (which
    create-dagster made) against the same location."""
    project = dg_workspace / "projects" / "sales"
    with (project / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.pytest.ini_options]\nworkspace = ["pyproject.toml"]\n')
    (project / "tests" / "test_assets.py").write_text(UNIT_TEST)
    result = run_in(pytester, monkeypatch, project)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "PASSED pyproject.toml::sales::__repository__::__ASSET_JOB",
            "PASSED tests/test_assets.py::test_orders",
        ]
    )
    assert_no_worker_left(project)

"""The oldest pytest we claim (``pytest>=8`` in pyproject.toml) runs the plugin.

The rest of the suite runs on the newest pytest (what ``.[test]`` installs); this runs
real sessions on pytest 8.0 in a cached virtualenv of its own, with our package taken
from this checkout (``PYTHONPATH``) and loaded with ``-p``, as the entry point would.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from pathlib import Path

from conftest import PythonEnvFactory

REPO_ROOT = Path(__file__).resolve().parent.parent
OLDEST_PYTEST = "8.0.2"
#: The oldest python-dotenv we claim (``python-dotenv>=1.0``): its parser reads .env files.
OLDEST_DOTENV = "1.0.0"


def run_oldest_pytest(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(REPO_ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [str(python), "-m", "pytest", "-p", "pytest_workspace.plugin"]
    return subprocess.run(
        [*command, "-p", "no:cacheprovider", *args],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_oldest_claimed_pytest_runs_a_workspace_and_its_fixtures(
    python_env: PythonEnvFactory, tmp_path: Path
) -> None:
    python = python_env(
        "3.11",
        name=f"pytest-{OLDEST_PYTEST}",
        packages=[
            f"pytest=={OLDEST_PYTEST}",
            f"pyyaml=={importlib.metadata.version('pyyaml')}",
            f"execnet=={importlib.metadata.version('execnet')}",
            f"python-dotenv=={OLDEST_DOTENV}",
        ],
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # Read with the oldest python-dotenv: a value, and a statement it cannot parse.
    (tmp_path / ".env").write_text('export CEREAL="${HOME}/cereal"\nnot a statement\n')
    (tmp_path / "repos.py").write_text((REPO_ROOT / "fixtures/cereal/repos.py").read_text())
    (tmp_path / "workspace.yaml").write_text("load_from:\n  - python_file: repos.py\n")
    (tmp_path / "test_units.py").write_text(
        "def test_job_builds(workspace_job):\n"
        "    assert workspace_job('complex_job').build().name == 'complex_job'\n"
    )
    completed = run_oldest_pytest(python, tmp_path, "--workspace", "workspace.yaml", "-v", ".")
    output = completed.stdout + completed.stderr
    assert f"pytest-{OLDEST_PYTEST}" in output, output
    assert completed.returncode == 0, output
    for line in (
        "workspace.yaml::repos.py::hello_cereal_repository::complex_job PASSED*",
        "workspace.yaml::repos.py::hello_cereal_repository::hello_cereal_job PASSED*",
        "test_units.py::test_job_builds PASSED*",
        f"  {tmp_path / '.env'}:2: UserWarning: python-dotenv cannot parse the statement*",
    ):
        assert any(got.startswith(line.rstrip("*")) for got in output.splitlines()), (
            f"{line!r} not in:\n{output}"
        )

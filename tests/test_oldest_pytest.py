"""The oldest pytest and the host Pythons we claim run the plugin.

The rest of the suite runs on the newest pytest (what ``.[test]`` installs) on the
interpreter running the suite; this runs real sessions on pytest 8.0 (``pytest>=8`` in
pyproject.toml), and on the oldest and newest host Python (``requires-python``: 3.9,
where pip gives pytest 8.4, the last pytest for it; and 3.13), each in a cached
virtualenv of its own, with our package taken from this checkout (``PYTHONPATH``) and
loaded with ``-p``, as the entry point would.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from pathlib import Path

import pytest
from conftest import PythonEnvFactory

REPO_ROOT = Path(__file__).resolve().parent.parent
OLDEST_PYTEST = "8.0.2"
#: The oldest python-dotenv we claim (``python-dotenv>=1.0``): its parser reads .env files.
OLDEST_DOTENV = "1.0.0"
#: What the host needs besides pytest, at the versions the suite runs with.
HOST_PACKAGES = ("pyyaml", "execnet", "python-dotenv", "pytest-xdist")


def run_oldest_pytest(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest`` with our plugin from this checkout and no other plugin but
    those ``args`` load with ``-p``."""
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


#: The host Pythons ``requires-python`` admits at each end, with what pip installs
#: there: on 3.9 the last releases for it (pytest 9, PyYAML 6.0.4 and python-dotenv
#: 1.2.4 need 3.10; tomllib is in the standard library from 3.11 on), on 3.13 what the
#: suite runs with.
HOST_PYTHONS = {
    "3.9": [
        "pytest==8.4.2",
        "pyyaml==6.0.3",
        "execnet==2.1.2",
        "python-dotenv==1.2.1",
        "pytest-xdist==3.8.0",
        "tomli==2.2.1",
    ],
    "3.13": [f"{name}=={importlib.metadata.version(name)}" for name in ("pytest", *HOST_PACKAGES)],
}


@pytest.mark.parametrize("version", sorted(HOST_PYTHONS))
def test_the_host_runs_on_the_oldest_and_newest_claimed_python(
    python_env: PythonEnvFactory, tmp_path: Path, version: str
) -> None:
    """A whole session on that host Python: a location in the host's interpreter and
    one in another (3.12) that reads a variable of its .env, a failing job reported,
    the fixtures, then the same under xdist, whose workers own one location each."""
    packages = HOST_PYTHONS[version]
    pytest_version = packages[0].partition("==")[2]
    python = python_env(version, name=f"host-pytest-{pytest_version}", packages=packages)
    other = python_env("3.12")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / ".env").write_text("SILO=empty\n")
    (tmp_path / "repos.py").write_text((REPO_ROOT / "fixtures/cereal/repos.py").read_text())
    (tmp_path / "broken.py").write_text(
        "import os\n"
        "from pytest_workspace.definitions import job, op, repository\n\n"
        "@op\ndef explode():\n    raise ValueError('the silo is ' + os.environ['SILO'])\n\n"
        "@job\ndef silo_job():\n    explode()\n\n"
        "@repository\ndef silo_repository():\n    return [silo_job]\n"
    )
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_file: repos.py\n"
        "  - python_file:\n"
        "      relative_path: broken.py\n"
        f"      executable_path: {other}\n"
    )
    (tmp_path / "test_units.py").write_text(
        "def test_job_builds(workspace_job):\n"
        "    assert workspace_job('complex_job').build().name == 'complex_job'\n"
    )
    for extra in ([], ["-p", "xdist.plugin", "-n", "2"]):
        args = ["--workspace", "workspace.yaml", "-v", "-rf", ".", *extra]
        completed = run_oldest_pytest(python, tmp_path, *args)
        output = completed.stdout + completed.stderr
        assert f"Python {version}." in output and f"pytest-{pytest_version}" in output, output
        assert completed.returncode == 1, output
        lines = output.splitlines()
        for nodeid, outcome in (
            ("workspace.yaml::repos.py::hello_cereal_repository::complex_job", "PASSED"),
            ("workspace.yaml::broken.py::silo_repository::silo_job", "FAILED"),
            ("test_units.py::test_job_builds", "PASSED"),
        ):  # `nodeid PASSED`, or under xdist `[gw0] PASSED nodeid`
            assert any(nodeid in got and outcome in got for got in lines), (nodeid, output)
        assert "ValueError: the silo is empty" in output, output
        assert "1 failed, 3 passed" in output, output
        assert ("created: 2/2 workers" in output) == bool(extra), output

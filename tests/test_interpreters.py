"""Code locations run in real interpreters, each in a virtualenv with nothing of ours in it.

Every environment here comes from the ``python_env`` fixture: a bare virtualenv (no pip,
no pytest-workspace) on a pyenv interpreter. What a location reports about itself is
read from a job's output, i.e. from inside the worker process, not from our own objects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from conftest import PythonEnvFactory
from interpreters import SUPPORTED_TARGETS, find_interpreter, require_interpreter
from pyenvs import MARKER, ensure_env, probe

from pytest_workspace import load_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
MULTI_ENVIRONMENT = REPO_ROOT / "fixtures" / "multi_environment"

#: Versions that must be present: a machine without them fails these tests.
REQUIRED_VERSIONS = ("3.8", "3.11", "3.12", "3.13")
#: ...and every other supported target version that happens to be installed.
VERSIONS = sorted(
    {*REQUIRED_VERSIONS, *(v for v in SUPPORTED_TARGETS if find_interpreter(v))},
    key=lambda version: tuple(map(int, version.split("."))),
)

# A code location that reports, from inside its worker, which interpreter it runs in and
# where its ``pytest_workspace`` came from. Python 3.8 syntax.
REPORTING_REPOS = """\
import os
import sys
import warnings

import pytest_workspace
from pytest_workspace.definitions import job, op, repository


@op
def interpreter():
    warnings.warn("reported from the location", DeprecationWarning)
    return {
        "version_info": list(sys.version_info[:3]),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "executable": sys.executable,
        "package_file": getattr(pytest_workspace, "__file__", None),
        "definitions_file": getattr(sys.modules["pytest_workspace.definitions"], "__file__", None),
        "job_code_file": job.__code__.co_filename,
        "copies_on_sys_path": [
            entry for entry in sys.path
            if os.path.isdir(os.path.join(entry or os.curdir, "pytest_workspace"))
        ],
    }


@job
def report_interpreter():
    interpreter()


@repository
def probe_repository():
    return {"jobs": {"report_interpreter": lambda: report_interpreter}}
"""

JOB = "report_interpreter"


def version_tuple(version: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def write_workspace(root: Path, pythons: Dict[str, Path]) -> Path:
    """A workspace with one reporting location per ``name -> python`` entry."""
    entries = []
    for name, python in pythons.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "repos.py").write_text(REPORTING_REPOS)
        entries.append(
            f"  - python_file:\n"
            f"      relative_path: {name}/repos.py\n"
            f"      location_name: {name}\n"
            f"      working_directory: {name}\n"
            f"      executable_path: {python}\n"
        )
    workspace = root / "workspace.yaml"
    workspace.write_text("load_from:\n" + "".join(entries))
    return workspace


def env_dir_of(python: Path) -> Path:
    return python.parent.parent


def assert_reports_env(report: Dict[str, Any], version: str, python: Path) -> None:
    """The worker ran ``version`` in the virtualenv of ``python``, on shipped code only."""
    assert report["version_info"][:2] == list(version_tuple(version)), report
    assert Path(report["prefix"]).resolve() == env_dir_of(python).resolve(), report
    assert report["base_prefix"] != report["prefix"], "not running in a virtualenv"
    assert report["executable"] == str(python)
    # The package is the worker's stand-in and its modules came over the gateway as text.
    assert report["package_file"] is None, report
    assert report["definitions_file"] is None, report
    assert report["job_code_file"] == "<pytest_workspace.definitions>", report
    assert report["copies_on_sys_path"] == [], report


# -- one interpreter at a time ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_location_runs_in_its_own_virtualenv(
    version: str, python_env: PythonEnvFactory, tmp_path: Path
) -> None:
    python = python_env(version)
    workspace = write_workspace(tmp_path, {"probe": python})

    with load_workspace(workspace) as ws:
        (location,) = ws.locations
        assert location.load_error is None, location.load_error
        assert location.python_version is not None
        assert location.python_version[:2] == version_tuple(version)
        assert location.executable == str(python)
        result = ws.job(JOB).execute()

    assert result.success, result.error
    report = result.output_for("interpreter")
    assert report["version_info"] == list(location.python_version)
    assert_reports_env(report, version, python)
    # One request built and ran the job, and recorded its warning, on every version.
    assert result.build is not None and result.build.op_names == ("interpreter",)
    assert [(w.category, w.message, w.lineno) for w in result.warnings] == [
        ("DeprecationWarning", "reported from the location", 11)
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_nothing_of_ours_is_installed_in_the_env(
    version: str, python_env: PythonEnvFactory, tmp_path: Path
) -> None:
    # From a neutral folder: the current directory must not be a checkout of ours.
    completed = subprocess.run(
        [str(python_env(version)), "-c", "import pytest_workspace"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )
    assert completed.returncode != 0
    assert "No module named 'pytest_workspace'" in completed.stderr


# -- several interpreters at once ------------------------------------------------------


def test_one_workspace_mixes_python_versions(python_env: PythonEnvFactory, tmp_path: Path) -> None:
    versions = {"py38": "3.8", "py311": "3.11", "py313": "3.13"}
    pythons = {name: python_env(version) for name, version in versions.items()}
    workspace = write_workspace(tmp_path, pythons)

    with load_workspace(workspace) as ws:
        assert [loc.name for loc in ws.locations] == list(versions)
        assert ws.load_errors == []
        reports = {}
        for location in ws.locations:
            assert location.python_version is not None
            assert location.python_version[:2] == version_tuple(versions[location.name])
            result = ws.job(f"{location.name}/probe_repository/{JOB}").execute()
            assert result.success, result.error
            reports[location.name] = result.output_for("interpreter")
        pids = {location.worker.pid for location in ws.locations}

    assert len(pids) == len(versions), "each location has a process of its own"
    for name, version in versions.items():
        assert_reports_env(reports[name], version, pythons[name])


# -- the multi_environment sample ------------------------------------------------------

SAMPLE_VERSIONS = {"team_a": "3.8", "team_b": "3.12"}


@pytest.fixture
def sample_env(python_env: PythonEnvFactory, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Path]:
    """The sample's interpreter variables set to bare virtualenvs, as its README says."""
    pythons = {team: python_env(version) for team, version in SAMPLE_VERSIONS.items()}
    for team, python in pythons.items():
        monkeypatch.setenv(f"{team.upper()}_PYTHON", str(python))
    return pythons


def test_multi_environment_sample_through_the_api(sample_env: Dict[str, Path]) -> None:
    with load_workspace(MULTI_ENVIRONMENT / "workspace.yaml") as ws:
        assert ws.load_errors == []
        for location in ws.locations:
            assert location.python_version is not None
            assert location.python_version[:2] == version_tuple(SAMPLE_VERSIONS[location.name])
            assert location.executable == str(sample_env[location.name])
        environments = {
            team: ws.job(f"{team}_environment").execute().output_for("python_environment")
            for team in SAMPLE_VERSIONS
        }
        revenue = ws.job("team_a_revenue").execute()
        words = ws.job("team_b_word_count").execute()

    for team, version in SAMPLE_VERSIONS.items():
        report = environments[team]
        assert report["version_info"][:2] == list(version_tuple(version))
        assert Path(report["prefix"]).resolve() == env_dir_of(sample_env[team]).resolve()
    assert revenue.output_for("revenue_by_customer") == {"ada": 49.25, "grace": 13.5}
    assert words.output_for("count_words")["the"] == 3


def test_multi_environment_sample_through_pytest(
    sample_env: Dict[str, Path], pytester: pytest.Pytester
) -> None:
    shutil.copytree(MULTI_ENVIRONMENT, pytester.path / "multi_environment")

    result = pytester.runpytest_subprocess("--workspace", "multi_environment/workspace.yaml", "-v")

    result.stdout.fnmatch_lines(
        [
            "workspace: multi_environment/workspace.yaml: "
            "team_a (Python 3.8.*), team_b (Python 3.12.*)",
            "*::team_a::team_a_repository::team_a_environment PASSED*",
            "*::team_a::team_a_repository::team_a_revenue PASSED*",
            "*::team_b::team_b_repository::team_b_environment PASSED*",
            "*::team_b::team_b_repository::team_b_word_count PASSED*",
        ]
    )
    result.assert_outcomes(passed=4)


def test_multi_environment_sample_names_a_missing_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEAM_A_PYTHON", raising=False)
    monkeypatch.delenv("TEAM_B_PYTHON", raising=False)
    shutil.copytree(MULTI_ENVIRONMENT, pytester.path / "multi_environment")

    result = pytester.runpytest_subprocess("--workspace", "multi_environment/workspace.yaml")

    result.stdout.fnmatch_lines(["*workspace.yaml:*environment variable 'TEAM_A_PYTHON'*"])
    assert result.ret != 0


# -- the python_env helper itself ------------------------------------------------------


def test_python_env_is_bare_and_cached(python_env: PythonEnvFactory) -> None:
    python = python_env("3.12")
    assert python_env("3.12") == python
    assert python.is_file()
    assert (env_dir_of(python) / MARKER).is_file()
    bare = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('pip'))"],
        cwd=env_dir_of(python),
        capture_output=True,
        text=True,
        check=True,
    )
    assert bare.stdout.strip() == "None", "the environment should not even have pip"


def test_broken_cached_env_is_recreated(tmp_path: Path) -> None:
    interpreter = require_interpreter("3.12")
    python = ensure_env(interpreter, cache_dir=tmp_path)
    python.unlink()  # e.g. the interpreter it linked to was removed and reinstalled

    assert ensure_env(interpreter, cache_dir=tmp_path) == python
    info = probe(python, tmp_path)
    assert info is not None
    assert Path(info["prefix"]).resolve() == env_dir_of(python).resolve()


def test_env_with_our_package_in_it_is_recreated(tmp_path: Path) -> None:
    interpreter = require_interpreter("3.12")
    python = ensure_env(interpreter, cache_dir=tmp_path)
    (site_packages,) = env_dir_of(python).glob("lib/python3.12/site-packages")
    (site_packages / "pytest_workspace").mkdir()
    (site_packages / "pytest_workspace" / "__init__.py").write_text("")

    ensure_env(interpreter, cache_dir=tmp_path)

    assert not (site_packages / "pytest_workspace").exists()


def test_concurrent_processes_share_one_env(tmp_path: Path) -> None:
    interpreter = require_interpreter("3.12")
    cache = tmp_path / "cache"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
        "from pyenvs import ensure_env; print(ensure_env(sys.argv[2], Path(sys.argv[3])))"
    )
    tests_dir = str(Path(__file__).parent)
    processes: List[subprocess.Popen[str]] = [
        subprocess.Popen(
            [sys.executable, "-c", script, tests_dir, interpreter, str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    (printed,) = {stdout.strip() for stdout, _ in outputs}
    assert [path for path in cache.iterdir() if path.is_dir()] == [env_dir_of(Path(printed))]

""".env files: each location's process gets the variables Dagster's tools would give it
(docs/dagster.md, "Environment variables and .env files").

Real sessions on real files: Dagster projects laid out as ``create-dagster`` lays them
out (``src/<package>/definitions.py``, ``.env`` next to ``pyproject.toml``) in a dg
workspace, a ``workspace.yaml`` with its ``definitions.py`` and ``.env``, and a location
of our own definitions API, each with the cached Dagster virtualenv where Dagster is
used. Each job prints what its process sees; the inner session's conftest writes what
the host's ``os.environ`` holds at the end, which must be what it was: nothing of any
``.env``. The parser's results are compared with python-dotenv's own ``dotenv_values``
(what Dagster calls) on the same files.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Dict, Optional

import pytest
from conftest import PythonEnvFactory
from dagster_versions import NEWEST
from processes import assert_no_worker_left, with_pid_recorder
from test_config import control_workspace

from pytest_workspace import load_workspace
from pytest_workspace._dotenv import read_env_file

#: What the locations read; none is set in the host's environment unless a test sets it.
VARIABLES = ("WAREHOUSE_API_KEY", "WAREHOUSE_REGION", "HOST_ONLY")

#: A Dagster project's definitions: the resource reads both variables with dg.EnvVar;
#: the op prints what it got, and whether the worker was forked (Dagster imported first).
DAGSTER_DEFINITIONS = """\
import os
import sys

FORKED = "dagster" in sys.modules
import dagster as dg


class Warehouse(dg.ConfigurableResource):
    api_key: str
    region: str


@dg.op
def report(warehouse: Warehouse) -> None:
    print(
        f"{NAME} sees api_key={warehouse.api_key!r} region={warehouse.region!r} "
        f"host_only={os.environ.get('HOST_ONLY')!r} forked={FORKED}"
    )


@dg.job
def report_job():
    report()


defs = dg.Definitions(
    jobs=[report_job],
    resources={
        "warehouse": Warehouse(
            api_key=dg.EnvVar("WAREHOUSE_API_KEY"), region=dg.EnvVar("WAREHOUSE_REGION")
        )
    },
)
"""

#: The inner session's conftest: what the host's environment holds once all ran.
HOST_ENVIRON = f"""
import json, os, pathlib

def pytest_sessionfinish(session):
    seen = {{key: os.environ.get(key) for key in {VARIABLES!r}}}
    (pathlib.Path(__file__).parent / "host_environ.json").write_text(json.dumps(seen))
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def definitions(name: str) -> str:
    return f"NAME = {name!r}\n" + DAGSTER_DEFINITIONS


def dagster_project(folder: Path, python: Optional[Path], dotenv: Optional[str]) -> Path:
    """A project as ``create-dagster project`` makes it, its ``.venv`` the cached
    Dagster virtualenv ``python`` (as ``uv sync`` would make it; None: no ``.venv``), with
    ``dotenv`` as its ``.env``."""
    name = folder.name
    tables = f'[project]\nname = "{name}"\n\n[tool.dg]\ndirectory_type = "project"\n'
    write(folder / "pyproject.toml", tables + f'\n[tool.dg.project]\nroot_module = "{name}"\n')
    write(folder / "src" / name / "__init__.py", "")
    write(folder / "src" / name / "definitions.py", definitions(name))
    if python is not None:
        (folder / ".venv").symlink_to(python.parent.parent, target_is_directory=True)
    if dotenv is not None:
        write(folder / ".env", dotenv)
    return folder


def host_environ(folder: Path) -> Dict[str, Optional[str]]:
    return json.loads((folder / "host_environ.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dagster_python(python_env: PythonEnvFactory) -> Path:
    return python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner sessions start with none of the variables, unless a test sets one."""
    for key in VARIABLES:
        monkeypatch.delenv(key, raising=False)


# --- dg projects ------------------------------------------------------------------------------


def test_a_dg_project_reads_its_env_file(pytester: pytest.Pytester, dagster_python: Path) -> None:
    """The create-dagster case: dg.EnvVar("X") with X only in the project's .env. Under
    ``dg dev`` it works; before, it failed under pytest with *not set*."""
    pytester.makeini("[pytest]\n")
    dagster_project(
        pytester.path / "warehouse",
        dagster_python,
        "WAREHOUSE_API_KEY=dev-key\nWAREHOUSE_REGION=eu-west-1\n",
    )
    pytester.makeconftest(with_pid_recorder(HOST_ENVIRON))
    result = pytester.runpytest_subprocess("--workspace", "warehouse", "-v", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["warehouse sees api_key='dev-key' region='eu-west-1' *"])
    assert host_environ(pytester.path) == dict.fromkeys(VARIABLES)
    assert_no_worker_left(pytester.path)


def test_projects_of_a_dg_workspace_each_see_their_own_env_file(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    """``dg dev`` in a workspace: the workspace's .env for every project, each project's
    own over it, in that project's code server only. Both projects use one interpreter
    (the ``DG_PROJECT_PYTHON_EXECUTABLE`` of their .env, as dg reads it), so both workers
    are forked from its zygote: the fork request carries each one's variables."""
    projects = ("projects/sales", "projects/billing")
    listed = "".join(f'\n[[workspace.projects]]\npath = "{path}"\n' for path in projects)
    write(pytester.path / "dg.toml", 'directory_type = "workspace"\n\n[workspace]\n' + listed)
    write(pytester.path / ".env", "WAREHOUSE_REGION=eu-west-1\nWAREHOUSE_API_KEY=shared-key\n")
    python = f"DG_PROJECT_PYTHON_EXECUTABLE={dagster_python}\n"
    sales, billing = (pytester.path / path for path in projects)
    dagster_project(sales, None, python + "WAREHOUSE_API_KEY=sales-key\n")
    dagster_project(
        billing,
        None,
        python + "# billing's warehouse is elsewhere\n"
        'export WAREHOUSE_API_KEY="billing key"\n'
        "WAREHOUSE_REGION=us-east-1  # over the workspace's\n",
    )
    pytester.makeconftest(with_pid_recorder(HOST_ENVIRON))
    result = pytester.runpytest_subprocess("--workspace", "dg.toml", "-v", "-rP")
    result.assert_outcomes(passed=2)
    text = result.stdout.str()
    assert "sales sees api_key='sales-key' region='eu-west-1' host_only=None forked=True" in text
    assert "billing sees api_key='billing key' region='us-east-1' host_only=None forked=True" in (
        text
    )
    assert host_environ(pytester.path) == dict.fromkeys(VARIABLES)
    assert_no_worker_left(pytester.path, at_least=2)


def test_a_project_whose_env_file_sets_pythonpath_is_started_not_forked(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    """``PYTHONPATH`` (any ``PYTHON*`` variable) is read when an interpreter starts; a
    worker forked from the zygote never started, so a project whose .env sets it gets
    an interpreter of its own, and imports what that path holds; the others of the
    interpreter are still forked."""
    projects = ("projects/sales", "projects/billing", "projects/ops")
    listed = "".join(f'\n[[workspace.projects]]\npath = "{path}"\n' for path in projects)
    write(pytester.path / "dg.toml", 'directory_type = "workspace"\n\n[workspace]\n' + listed)
    write(pytester.path / ".env", "WAREHOUSE_REGION=eu-west-1\nWAREHOUSE_API_KEY=shared-key\n")
    write(pytester.path / "shared" / "regions.py", "HOME_REGION = 'from-the-path'\n")
    python = f"DG_PROJECT_PYTHON_EXECUTABLE={dagster_python}\n"
    sales, billing, ops = (pytester.path / path for path in projects)
    dagster_project(sales, None, python + f"PYTHONPATH={pytester.path / 'shared'}\n")
    code = sales / "src" / "sales" / "definitions.py"
    code.write_text(
        "import regions\n"
        + code.read_text().replace(
            "host_only={os.environ.get('HOST_ONLY')!r}", "home={regions.HOME_REGION!r}"
        )
    )
    dagster_project(billing, None, python)
    dagster_project(ops, None, python)
    result = pytester.runpytest_subprocess("--workspace", "dg.toml", "-v", "-rP")
    result.assert_outcomes(passed=3)
    text = result.stdout.str()
    assert (
        "sales sees api_key='shared-key' region='eu-west-1' home='from-the-path' forked=False"
        in (text)
    )
    for name in ("billing", "ops"):
        assert (
            f"{name} sees api_key='shared-key' region='eu-west-1' host_only=None forked=True"
            in (text)
        )


# --- workspace.yaml ---------------------------------------------------------------------------


def test_a_workspace_yaml_location_reads_the_env_file_next_to_it_over_the_environment(
    pytester: pytest.Pytester, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dagster dev`` run where it finds ``workspace.yaml`` reads the ``.env`` there,
    and its values replace those already set (``WAREHOUSE_REGION`` of the host's
    environment); what the file does not set stays (``HOST_ONLY``). The ``.env`` of the
    folder pytest runs in is not the workspace's: it is not read."""
    monkeypatch.setenv("WAREHOUSE_REGION", "from-the-host")
    monkeypatch.setenv("HOST_ONLY", "kept")
    pytester.makeini("[pytest]\n")
    folder = pytester.path / "pipelines"
    write(
        folder / "workspace.yaml",
        f"""
        load_from:
          - python_file:
              relative_path: definitions.py
              executable_path: {dagster_python}
        """,
    )
    write(folder / "definitions.py", definitions("pipelines"))
    write(folder / ".env", "WAREHOUSE_API_KEY=from-the-file\nWAREHOUSE_REGION=from-the-file\n")
    write(pytester.path / ".env", "WAREHOUSE_API_KEY=from-the-current-folder\n")
    pytester.makeconftest(with_pid_recorder(HOST_ENVIRON))
    result = pytester.runpytest_subprocess("--workspace", "pipelines/workspace.yaml", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "pipelines sees api_key='from-the-file' region='from-the-file' host_only='kept' "
            "forked=False"
        ]
    )
    expected = {**dict.fromkeys(VARIABLES), "WAREHOUSE_REGION": "from-the-host"}
    assert host_environ(pytester.path) == {**expected, "HOST_ONLY": "kept"}
    # A fresh worker per job is forked from the interpreter's zygote: the same values.
    result = pytester.runpytest_subprocess(
        "--workspace", "pipelines/workspace.yaml", "-rP", "--workspace-fresh-worker"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["pipelines sees api_key='from-the-file' region='from-the-file' *forked=True"]
    )
    assert_no_worker_left(pytester.path)


#: A location of our own definitions API (no Dagster), printing what it sees.
NATIVE_JOBS = """\
import os
from pytest_workspace.definitions import job, op

@op
def show():
    for key in ("PLAIN", "QUOTED", "ESCAPED", "LINES", "EXPANDED", "DEFAULTED", "EMPTY"):
        print(f"{key}={os.environ.get(key)!r}")
    print(f"NO_VALUE set: {'NO_VALUE' in os.environ}; AFTER_BAD={os.environ.get('AFTER_BAD')!r}")

@job
def show_job():
    show()
"""

TRICKY_DOTENV = """\
# comments and blank lines set nothing

PLAIN=plain value
export QUOTED='single # not a comment'
ESCAPED="tab\\there"
LINES="first
second"
EXPANDED="${HOST_ONLY}/${PLAIN}"
DEFAULTED=${UNSET_ANYWHERE:-fallback}
EMPTY=
NO_VALUE
this line is not a statement
AFTER_BAD=still read
"""


def test_a_location_of_our_definitions_reads_it_too_and_a_bad_line_is_a_warning(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variables are the process's, whatever its code: a location of our own API
    gets them as a Dagster one does. python-dotenv's rules apply (quotes, ``export``,
    escapes, lines inside quotes, ``${VAR}`` from the file then the environment). A
    statement it cannot parse is skipped, as under Dagster, with a warning naming the
    file and the line; the statements after it are read."""
    monkeypatch.setenv("HOST_ONLY", "host")
    pytester.makeini("[pytest]\n")
    write(pytester.path / "workspace.yaml", "load_from:\n  - python_file: jobs.py\n")
    write(pytester.path / "jobs.py", NATIVE_JOBS)
    write(pytester.path / ".env", TRICKY_DOTENV)
    pytester.makeconftest(with_pid_recorder(HOST_ENVIRON))
    result = pytester.runpytest_subprocess("-rP")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "PLAIN='plain value'",
            "QUOTED='single # not a comment'",
            "ESCAPED='tab\\there'",
            "LINES='first\\nsecond'",
            "EXPANDED='host/plain value'",
            "DEFAULTED='fallback'",
            "EMPTY=''",
            "NO_VALUE set: False; AFTER_BAD='still read'",
        ]
    )
    env_file = pytester.path / ".env"
    result.stdout.fnmatch_lines(
        [
            f"*{env_file}:12: UserWarning: python-dotenv cannot parse the statement that starts "
            f"at line 12 of {env_file}: it is skipped, as Dagster skips it, and sets nothing in "
            "code location 'jobs.py'. Write it as KEY=value*",
            "    this line is not a statement",  # pytest shows the line of the file
        ]
    )
    assert host_environ(pytester.path) == {**dict.fromkeys(VARIABLES), "HOST_ONLY": "host"}
    assert_no_worker_left(pytester.path)


def test_an_env_file_that_cannot_be_read_fails_its_location_only(
    pytester: pytest.Pytester,
) -> None:
    """Dagster stops at a .env it cannot decode; here that location fails to load,
    naming the file and the line, and the control workspace beside it passes."""
    pytester.makeini("[pytest]\n")
    folder = pytester.path / "broken"
    write(folder / "workspace.yaml", "load_from:\n  - python_file: jobs.py\n")
    write(folder / "jobs.py", NATIVE_JOBS)
    (folder / ".env").write_bytes(b"PLAIN=ok\nLATIN1=caf\xe9\n")
    control_workspace(pytester.path)
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess("-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*code location 'jobs.py' failed to load: {folder / '.env'}:2: is not UTF-8 "
            "text (byte 0xe9), as python-dotenv reads it for Dagster; save it as UTF-8*",
        ]
    )
    assert_no_worker_left(pytester.path)


def test_the_python_api_gives_the_location_its_env_file(tmp_path: Path) -> None:
    """``load_workspace`` (no pytest): the same variables, and the skipped line among the
    location's load warnings."""
    write(tmp_path / "workspace.yaml", "load_from:\n  - python_file: jobs.py\n")
    write(tmp_path / "jobs.py", NATIVE_JOBS)
    write(tmp_path / ".env", "PLAIN=from the file\nnot a statement\n")
    with load_workspace(tmp_path / "workspace.yaml", timeout=60) as workspace:
        result = workspace.job("show_job").execute()
        assert result.success
        assert "PLAIN='from the file'" in result.stdout
        (warning,) = workspace.locations[0].load_warnings
        assert (warning.filename, warning.lineno) == (str(tmp_path / ".env"), 2)


def bytes_read() -> int:
    """What this process has read so far, in bytes (files and pipes: ``rchar``)."""
    with open("/proc/self/io") as handle:
        fields = dict(line.split(": ") for line in handle.read().splitlines())
    return int(fields["rchar"])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs /proc/self/io")
def test_each_start_reads_the_env_file_once(tmp_path: Path) -> None:
    """As a code server reads its .env once when it starts, a worker's start reads the
    location's once, though the load first asks whether the location can be forked
    (where the .env may set ``PYTHONPATH``); a restart reads it again. The file is big
    enough that the kernel's count of the bytes the host read tells one read from two."""
    padding = 8 << 20
    write(tmp_path / "workspace.yaml", "load_from:\n  - python_file: jobs.py\n")
    write(tmp_path / "jobs.py", NATIVE_JOBS)
    write(tmp_path / ".env", "PLAIN=from the file\n# " + "x" * padding + "\n")
    before = bytes_read()
    with load_workspace(tmp_path / "workspace.yaml", timeout=60) as workspace:
        at_load = bytes_read() - before
        assert "PLAIN='from the file'" in workspace.job("show_job").execute().stdout
        workspace.locations[0].client.kill()
        before = bytes_read()
        assert "PLAIN='from the file'" in workspace.job("show_job").execute().stdout
        at_restart = bytes_read() - before
    assert padding <= at_load < 2 * padding
    assert padding <= at_restart < 2 * padding


# --- the parser is python-dotenv's -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(TRICKY_DOTENV, id="tricky"),
        pytest.param("A=1\r\nB=${A}2\r\n", id="crlf"),
        pytest.param("A=first\nA=second\nB=${A}\n", id="a-later-value-wins"),
        pytest.param("HOST_ONLY\nB=${HOST_ONLY}\n", id="a-key-alone-hides-the-environment"),
        pytest.param("HOST_ONLY=${HOST_ONLY}-more\n", id="self-reference"),
        pytest.param("A='${HOST_ONLY}'\nB=\"${HOST_ONLY}\"\n", id="quotes-and-expansion"),
        pytest.param('A="unterminated\nB=2\n', id="unterminated-quote"),
        pytest.param("A = spaced \nexport  B=2 # comment\n", id="spaces"),
    ],
)
def test_values_are_those_of_dotenv_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """What Dagster's ``get_env_var_dict`` gets from the same file with the same
    environment: ``dotenv_values``, without the keys whose value is None."""
    from dotenv import dotenv_values

    monkeypatch.setenv("HOST_ONLY", "host")
    path = tmp_path / ".env"
    path.write_bytes(text.encode("utf-8"))
    dagster = {key: value for key, value in dotenv_values(path).items() if value is not None}
    assert read_env_file(str(path), dict(os.environ))[0] == dagster

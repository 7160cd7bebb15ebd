"""Dagster projects and dg workspaces (SPEC section 7), as real files and real sessions.

``fixtures/dg_workspace/`` is a dg workspace of two projects (one with create-dagster's
src layout). The session tests copy it and give a project its own ``.venv``: a symlink
to one of the suite's cached virtualenvs (``python_env``), on another Python version
than the host's, so the project's interpreter is proven by what its job reports from
inside the worker. Parsing tests check every default and every error on real TOML
files, without starting a process.
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Dict, Tuple

import pytest
from conftest import PythonEnvFactory
from dagster_versions import NEWEST
from processes import assert_no_worker_left, with_pid_recorder
from test_config import CONTROL_JOBS, control_workspace

from pytest_workspace import load_workspace
from pytest_workspace.config import LocationSpec, WorkspaceSpec, load_workspace_source
from pytest_workspace.errors import WorkspaceFileError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dg_workspace"

SALES_IDS = ["dg.toml::sales::sales_repository::daily_sales"]
CAMPAIGN_IDS = ["dg.toml::campaigns::marketing_repository::weekly_campaign"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def project(folder: Path, tables: str, module: str = "") -> Path:
    """A project folder: its pyproject.toml (``tables``) and, if given, a module file."""
    write(folder / "pyproject.toml", tables)
    if module:
        write(folder / module, CONTROL_JOBS)
    return folder


def only(spec: WorkspaceSpec) -> LocationSpec:
    assert len(spec.locations) == 1, spec
    return spec.locations[0]


def source_error(path: Path) -> WorkspaceFileError:
    with pytest.raises(WorkspaceFileError) as info:
        load_workspace_source(path)
    return info.value


def give_venv(project_folder: Path, python: Path) -> None:
    """Make ``python``'s virtualenv the project's ``.venv``, as ``uv sync`` would."""
    (project_folder / ".venv").symlink_to(python.parent.parent, target_is_directory=True)


@pytest.fixture
def dg_workspace(pytester: pytest.Pytester) -> Path:
    """A copy of fixtures/dg_workspace as the inner session's folder."""
    shutil.copytree(FIXTURE, pytester.path, dirs_exist_ok=True)
    return pytester.path


@pytest.fixture(scope="module")
def other_python(python_env: PythonEnvFactory) -> Path:
    """A cached virtualenv's python on a Python version other than the host's."""
    version = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    return python_env(version)


def python_line(text: str, project_name: str) -> Dict[str, str]:
    pattern = r"ran on Python (?P<version>\S+) in (?P<cwd>\S+) with prefix (?P<prefix>\S+)"
    match = re.search(rf"{project_name} {pattern}", text)
    assert match, text
    return match.groupdict()


# --- the dg workspace in real sessions --------------------------------------------------------


def test_each_project_runs_in_its_own_venv(
    pytester: pytest.Pytester, dg_workspace: Path, other_python: Path
) -> None:
    marketing = dg_workspace / "projects" / "marketing"
    give_venv(marketing, other_python)
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess("--workspace", "dg.toml", "-v", "-rP")
    result.assert_outcomes(passed=2)
    other = ".".join(map(str, other_python_version(other_python)))
    host = "{}.{}".format(*sys.version_info[:2])
    result.stdout.fnmatch_lines(
        [f"workspace: dg.toml: sales (Python {host}.*), campaigns (Python {other}.*)"]
    )
    text = result.stdout.str()
    # Reported from inside each worker: its interpreter and working directory.
    campaigns = python_line(text, "marketing")
    assert campaigns["version"] == other
    assert campaigns["cwd"] == str(marketing)
    assert Path(campaigns["prefix"]).resolve() == other_python.parent.parent.resolve()
    sales = python_line(text, "sales")
    assert sales["version"] == host
    assert sales["cwd"] == str(dg_workspace / "projects" / "sales")
    assert_no_worker_left(dg_workspace, at_least=2)


def other_python_version(python: Path) -> tuple:  # type: ignore[type-arg]
    name = python.parent.parent.name  # "3.12.1-<hash>": see tests/pyenvs.py
    return tuple(int(part) for part in name.split("-")[0].split(".")[:2])


def test_pytest_without_arguments_collects_the_dg_toml(
    pytester: pytest.Pytester, dg_workspace: Path
) -> None:
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines([*SALES_IDS, *CAMPAIGN_IDS, "", "2 tests collected*"])
    assert result.ret == 0
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    assert_no_worker_left(dg_workspace, at_least=2)


def test_dg_toml_as_a_positional_argument_and_in_the_ini_option(
    pytester: pytest.Pytester, dg_workspace: Path
) -> None:
    result = pytester.runpytest_subprocess("dg.toml", "--collect-only", "-q")
    result.stdout.fnmatch_lines([*SALES_IDS, *CAMPAIGN_IDS])
    pytester.makeini("[pytest]\nworkspace = dg.toml\n")
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)


def test_a_single_project_named_by_its_pyproject_toml(
    pytester: pytest.Pytester, dg_workspace: Path
) -> None:
    # The repository's own pytest configuration: without one, pytest would take the
    # named pyproject.toml for it (and its folder for the rootdir).
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("--workspace", "projects/sales/pyproject.toml", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "workspace: projects/sales/pyproject.toml: sales (Python *)",
            "projects/sales/pyproject.toml::sales::sales_repository::daily_sales PASSED*",
        ]
    )


def test_a_pyproject_toml_next_to_the_projects_own_dg_toml_is_that_project(
    pytester: pytest.Pytester,
) -> None:
    """A dg project may keep its dg settings in a dg.toml of its own (``directory_type =
    "project"``), its pyproject.toml holding packaging only; dg reads the dg.toml first,
    and ignores a [tool.dg] the pyproject.toml holds too. Before: naming that
    pyproject.toml (``pytest pyproject.toml``, ``--workspace``) failed with *has no
    [tool.dg] table*, and a [tool.dg] there overrode the dg.toml."""
    pytester.makeini("[pytest]\n")
    dg_toml = """\
        directory_type = "project"

        [project]
        root_module = "shop"
        code_location_name = "from-dg-toml"
        """
    packaging = '[project]\nname = "shop"\nversion = "0.1.0"\n'
    only_packaging = project(pytester.path / "only", packaging, "src/shop/definitions.py")
    write(only_packaging / "dg.toml", dg_toml)
    both = project(
        pytester.path / "both",
        packaging + '\n[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\n'
        'root_module = "shop"\ncode_location_name = "from-pyproject"\n',
        "src/shop/definitions.py",
    )
    write(both / "dg.toml", dg_toml)
    result = pytester.runpytest_subprocess(
        "only/pyproject.toml", "--workspace", "both/pyproject.toml", "-v"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["only/pyproject.toml::from-dg-toml::__repository__control_job::control_job PASSED*"]
    )
    result.stdout.fnmatch_lines(
        ["both/pyproject.toml::from-dg-toml::__repository__control_job::control_job PASSED*"]
    )
    assert "from-pyproject" not in result.stdout.str()


def test_a_project_named_by_its_folder(
    pytester: pytest.Pytester, dg_workspace: Path, other_python: Path
) -> None:
    pytester.makeini("[pytest]\n")
    marketing = dg_workspace / "projects" / "marketing"
    give_venv(marketing, other_python)
    result = pytester.runpytest_subprocess("--workspace", "projects/marketing", "-v")
    result.assert_outcomes(passed=1)
    other = ".".join(map(str, other_python_version(other_python)))
    result.stdout.fnmatch_lines(
        [
            f"workspace: projects/marketing/pyproject.toml: campaigns (Python {other}.*)",
            "projects/marketing/pyproject.toml::campaigns::marketing_repository::"
            "weekly_campaign PASSED*",
        ]
    )


def test_an_autoload_defs_project_loads_its_module_tree_with_dagster(
    pytester: pytest.Pytester, python_env: PythonEnvFactory
) -> None:
    """``autoload_defs = true``: the ``defs`` package is loaded as Dagster loads it, with
    ``load_defs`` over its submodules; its ``__init__.py`` is empty and imports nothing."""
    dagster_python = python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])
    folder = pytester.path / "warehouse"
    project(
        folder,
        """
        [project]
        name = "warehouse"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "warehouse"
        autoload_defs = true
        """,
    )
    write(folder / "src" / "warehouse" / "__init__.py", "")
    write(folder / "src" / "warehouse" / "defs" / "__init__.py", "")
    write(
        folder / "src" / "warehouse" / "defs" / "orders.py",
        """
        import dagster as dg


        @dg.asset
        def orders():
            return [1, 2, 3]


        orders_job = dg.define_asset_job("orders_job", selection=[orders])
        """,
    )
    give_venv(folder, dagster_python)
    result = pytester.runpytest_subprocess(
        "-v", "--workspace", "warehouse", "--workspace-load-timeout", "120"
    )
    result.stdout.fnmatch_lines(["*::__repository__::orders_job PASSED*"])
    result.assert_outcomes(passed=2)  # orders_job and the implicit __ASSET_JOB


def test_a_dagster_project_in_its_own_venv(
    pytester: pytest.Pytester, python_env: PythonEnvFactory
) -> None:
    dagster_python = python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])
    write(
        pytester.path / "dg.toml",
        """
        directory_type = "workspace"

        [workspace]

        [[workspace.projects]]
        path = "projects/warehouse"
        """,
    )
    folder = pytester.path / "projects" / "warehouse"
    project(
        folder,
        """
        [project]
        name = "warehouse"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "warehouse"
        """,
    )
    write(folder / "src" / "warehouse" / "__init__.py", "")
    write(
        folder / "src" / "warehouse" / "definitions.py",
        """
        import dagster as dg


        @dg.op
        def load_orders():
            return [1, 2, 3]


        @dg.op
        def count_orders(orders):
            return len(orders)


        @dg.job
        def nightly_load():
            count_orders(load_orders())


        defs = dg.Definitions(jobs=[nightly_load])
        """,
    )
    give_venv(folder, dagster_python)
    result = pytester.runpytest_subprocess("-v", "--workspace-timeout", "120")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "workspace: dg.toml: warehouse (Python 3.11.*)",
            "dg.toml::warehouse::__repository__::nightly_load PASSED*",
        ]
    )


def test_load_workspace_api_takes_a_dg_toml(dg_workspace: Path) -> None:
    with load_workspace(dg_workspace / "dg.toml", timeout=60) as ws:
        assert [loc.name for loc in ws.locations] == ["sales", "campaigns"]
        assert all(loc.load_error is None for loc in ws.locations)
        result = ws.job("daily_sales").execute()
        assert result.success
        assert result.output_for("total_sales") == 245


# --- malformed sources: one failed item each, the rest still runs ------------------------


def test_dg_toml_without_workspace_table(pytester: pytest.Pytester) -> None:
    write(pytester.path / "dg.toml", 'directory_type = "workspace"\n')
    control_workspace(pytester.path)
    result = pytester.runpytest_subprocess("-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*dg.toml: workspace: missing the [[]workspace[]] table*",
            "[[][[]workspace.projects[]][]]",
            "FAILED dg.toml::load_workspace - *",
        ]
    )
    assert result.ret == 1


def test_project_path_that_does_not_exist(pytester: pytest.Pytester, dg_workspace: Path) -> None:
    with (dg_workspace / "dg.toml").open("a") as handle:
        handle.write('\n[[workspace.projects]]\npath = "projects/finance"\n')
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "dg.toml::load_project[[]projects/finance[]] FAILED*",
            "*dg.toml:13: workspace.projects[[]2[]].path: project folder 'projects/finance' "
            "does not exist*",
        ]
    )


def test_project_without_tool_dg(pytester: pytest.Pytester, dg_workspace: Path) -> None:
    write(
        dg_workspace / "projects" / "marketing" / "pyproject.toml",
        '[project]\nname = "marketing"\n',
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "dg.toml::load_project[[]projects/marketing[]] FAILED*",
            "*projects/marketing/pyproject.toml: has no [[]tool.dg[]] table, so it is not a "
            "Dagster project*",
            "*root_module = *",
        ]
    )


@pytest.mark.parametrize("broken", ["dg.toml", "projects/sales/pyproject.toml"])
def test_toml_syntax_error_gives_its_line(
    pytester: pytest.Pytester, dg_workspace: Path, broken: str
) -> None:
    path = dg_workspace / broken
    path.write_text(path.read_text() + "\nthis is not toml\n")
    line = len(path.read_text().splitlines())
    result = pytester.runpytest_subprocess("-rf")
    result.stdout.fnmatch_lines([f"*{path}:{line}: invalid TOML: *(at line {line}, column*"])
    # A broken dg.toml loads nothing; a broken project leaves the other project running.
    if broken == "dg.toml":
        result.assert_outcomes(failed=1)
    else:
        result.assert_outcomes(passed=1, failed=1)


def test_missing_root_module(pytester: pytest.Pytester, dg_workspace: Path) -> None:
    write(
        dg_workspace / "projects" / "sales" / "pyproject.toml",
        """
        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        code_location_name = "sales"
        """,
    )
    result = pytester.runpytest_subprocess("-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*pyproject.toml:4: tool.dg.project: missing required key 'root_module'*"]
    )


# --- parsing: dg's defaults and rules ---------------------------------------------------------


class TestProjectDefaults:
    def test_fixture_projects(self) -> None:
        spec = load_workspace_source(FIXTURE / "dg.toml")
        sales, campaigns = spec.locations
        root = FIXTURE / "projects"
        assert sales == LocationSpec(
            name="sales",
            kind="python_module",
            target="sales.definitions",
            working_directory=str(root / "sales"),
            executable_path=None,
            source=str(FIXTURE / "dg.toml"),
            key_path="workspace.projects[0]",
            line=7,
            python_path=(str(root / "sales" / "src"),),
            # The workspace's .env, then the project's (the later wins), as `dg dev`.
            env_files=(str(FIXTURE / ".env"), str(root / "sales" / ".env")),
        )
        assert (campaigns.name, campaigns.target, campaigns.python_path) == (
            "campaigns",
            "marketing.pipelines",
            (),
        )
        assert campaigns.working_directory == str(root / "marketing")
        assert spec.errors == ()

    def test_folder_stands_for_its_project(self) -> None:
        folder = FIXTURE / "projects" / "sales"
        spec = load_workspace_source(folder)
        assert spec.path == str(folder / "pyproject.toml")
        assert only(spec).key_path == "tool.dg.project"
        assert only(spec).line == 10

    def test_folder_of_a_workspace_stands_for_its_dg_toml(self) -> None:
        spec = load_workspace_source(FIXTURE)
        assert spec.path == str(FIXTURE / "dg.toml")

    def test_venv_python(self, tmp_path: Path) -> None:
        folder = project(tmp_path, '[tool.dg.project]\nroot_module = "p"\n')
        assert only(load_workspace_source(folder)).executable_path is None
        (folder / ".venv" / "bin").mkdir(parents=True)
        location = only(load_workspace_source(folder))
        assert location.executable_path == str(folder / ".venv" / "bin" / "python")

    def test_dotenv_python_comes_first(self, tmp_path: Path) -> None:
        folder = project(tmp_path, '[tool.dg.project]\nroot_module = "p"\n')
        (folder / ".venv").mkdir()
        write(folder / ".env", "OTHER=1\nDG_PROJECT_PYTHON_EXECUTABLE=envs/p/bin/python\n")
        location = only(load_workspace_source(folder))
        assert location.executable_path == str(folder / "envs" / "p" / "bin" / "python")
        # Read with python-dotenv, as dg reads it: export, quotes, comments, ${VAR}.
        write(
            folder / ".env",
            'ENVS=envs\nexport DG_PROJECT_PYTHON_EXECUTABLE="${ENVS}/q/bin/python"  # q\n',
        )
        location = only(load_workspace_source(folder))
        assert location.executable_path == str(folder / "envs" / "q" / "bin" / "python")

    @pytest.mark.parametrize(
        ("tables", "expected"),
        [
            (
                'root_module = "p"\nautoload_defs = true\n',
                ("autoload_defs_module", "p.defs", "my-proj"),
            ),
            (
                'root_module = "p"\nautoload_defs = true\ndefs_module = "p.d"\n',
                ("autoload_defs_module", "p.d", "my-proj"),
            ),
            (
                'root_module = "p"\ncode_location_target_module = "p.x"\n',
                ("python_module", "p.x", "my-proj"),
            ),
        ],
    )
    def test_target_as_dg_chooses_it(
        self, tmp_path: Path, tables: str, expected: Tuple[str, str, str]
    ) -> None:
        folder = project(tmp_path / "my-proj", "[tool.dg.project]\n" + tables)
        location = only(load_workspace_source(folder))
        assert (location.kind, location.target, location.name) == expected

    @pytest.mark.parametrize(
        ("tables", "expected"),
        [
            (
                'module_name = "legacy.definitions"\ncode_location_name = "old"\n',
                ("legacy.definitions", "old"),
            ),
            ('modules = [{type = "module", name = "legacy.defs"}]\n', ("legacy.defs", "my-proj")),
        ],
    )
    def test_older_tool_dagster(
        self, tmp_path: Path, tables: str, expected: Tuple[str, str]
    ) -> None:
        folder = project(tmp_path / "my-proj", "[tool.dagster]\n" + tables)
        location = only(load_workspace_source(folder))
        assert (location.kind, location.target, location.name) == ("python_module", *expected)

    def test_project_dg_toml(self, tmp_path: Path) -> None:
        write(tmp_path / "dg.toml", 'directory_type = "project"\n[project]\nroot_module = "p"\n')
        write(tmp_path / "pyproject.toml", '[project]\nname = "ignored"\n')
        location = only(load_workspace_source(tmp_path))
        assert (location.target, location.key_path) == ("p.definitions", "project")

    def test_workspace_in_a_pyproject_toml(self, tmp_path: Path) -> None:
        project(tmp_path / "one", '[tool.dg.project]\nroot_module = "one"\n')
        write(
            tmp_path / "pyproject.toml",
            """
            [tool.dg]
            directory_type = "workspace"

            [[tool.dg.workspace.projects]]
            path = "one"
            """,
        )
        assert [loc.name for loc in load_workspace_source(tmp_path).locations] == ["one"]

    def test_settings_that_do_not_concern_a_test_run_are_accepted(self, tmp_path: Path) -> None:
        folder = project(
            tmp_path,
            """
            [tool.dg]
            directory_type = "project"

            [tool.dg.cli]
            verbose = true

            [tool.dg.project]
            root_module = "p"
            registry_modules = ["p.components.*"]
            some_future_setting = 1
            """,
        )
        assert only(load_workspace_source(folder)).target == "p.definitions"


class TestProjectErrors:
    def test_typo_of_a_known_key(self, tmp_path: Path) -> None:
        folder = project(tmp_path, '[tool.dg.project]\nroot_modul = "p"\n')
        error = source_error(folder)
        assert (error.line, error.key_path) == (2, "tool.dg.project.root_modul")
        assert "did you mean 'root_module'?" in str(error)

    def test_wrong_type(self, tmp_path: Path) -> None:
        folder = project(tmp_path, '[tool.dg.project]\nroot_module = "p"\ncode_location_name = 3\n')
        error = source_error(folder)
        assert (error.line, error.key_path) == (3, "tool.dg.project.code_location_name")
        assert "expected a string (a code location name), found an integer (3)" in str(error)

    def test_module_name_with_a_dash(self, tmp_path: Path) -> None:
        folder = project(tmp_path, '[tool.dg.project]\nroot_module = "my-project"\n')
        error = source_error(folder)
        assert "'my-project' is not a dotted Python name" in str(error)
        assert "spelt with '_'" in str(error)

    def test_autoload_with_target_module(self, tmp_path: Path) -> None:
        folder = project(
            tmp_path,
            '[tool.dg.project]\nroot_module = "p"\nautoload_defs = true\n'
            'code_location_target_module = "p.x"\n',
        )
        error = source_error(folder)
        assert error.key_path == "tool.dg.project.code_location_target_module"
        assert "autoload_defs is true" in str(error)

    def test_wrong_directory_type(self, tmp_path: Path) -> None:
        write(tmp_path / "dg.toml", 'directory_type = "workspaces"\n')
        error = source_error(tmp_path / "dg.toml")
        assert (error.line, error.key_path) == (1, "directory_type")
        assert 'expected "workspace" or "project", found a string (\'workspaces\')' in str(error)

    def test_missing_directory_type(self, tmp_path: Path) -> None:
        write(tmp_path / "dg.toml", '[[workspace.projects]]\npath = "a"\n')
        error = source_error(tmp_path / "dg.toml")
        assert "missing 'directory_type'" in str(error)

    def test_workspace_without_projects(self, tmp_path: Path) -> None:
        write(tmp_path / "dg.toml", 'directory_type = "workspace"\n[workspace]\n')
        error = source_error(tmp_path / "dg.toml")
        assert error.key_path == "workspace.projects"
        assert "lists no projects" in str(error)

    def test_project_entry_without_path(self, tmp_path: Path) -> None:
        write(
            tmp_path / "dg.toml",
            'directory_type = "workspace"\n[workspace]\n\n[[workspace.projects]]\npth = "a"\n',
        )
        error = source_error(tmp_path / "dg.toml")
        assert (error.line, error.key_path) == (4, "workspace.projects[0].pth")
        assert "did you mean 'path'?" in str(error)

    def test_project_folder_without_pyproject(self, tmp_path: Path) -> None:
        (tmp_path / "a").mkdir()
        write(
            tmp_path / "dg.toml",
            'directory_type = "workspace"\n[workspace]\n\n[[workspace.projects]]\npath = "a"\n',
        )
        spec = load_workspace_source(tmp_path / "dg.toml")
        assert spec.locations == ()
        (part,) = spec.errors
        assert (part.name, part.key_path, part.line) == ("a", "workspace.projects[0]", 4)
        assert "has no pyproject.toml" in str(part.error)

    def test_two_projects_with_one_name(self, tmp_path: Path) -> None:
        for name in ("a", "b"):
            project(
                tmp_path / name, '[tool.dg.project]\nroot_module = "p"\ncode_location_name = "x"\n'
            )
        write(
            tmp_path / "dg.toml",
            'directory_type = "workspace"\n[workspace]\n\n[[workspace.projects]]\npath = "a"\n'
            '\n[[workspace.projects]]\npath = "b"\n',
        )
        error = source_error(tmp_path / "dg.toml")
        assert error.key_path == "workspace.projects[1]"
        assert "'x' is used by both workspace.projects[0] (line 4)" in str(error)
        assert "code_location_name" in str(error)

    def test_load_workspace_raises_for_a_broken_project(self, tmp_path: Path) -> None:
        write(
            tmp_path / "dg.toml",
            'directory_type = "workspace"\n[workspace]\n\n[[workspace.projects]]\npath = "nope"\n',
        )
        with pytest.raises(WorkspaceFileError, match="project folder 'nope' does not exist"):
            load_workspace(tmp_path / "dg.toml")

    def test_deeply_nested_arrays(self, tmp_path: Path) -> None:
        write(tmp_path / "dg.toml", "x = " + "[" * 2000 + "]" * 2000 + "\n")
        assert "nested too deeply" in str(source_error(tmp_path / "dg.toml"))

    def test_not_utf8(self, tmp_path: Path) -> None:
        (tmp_path / "dg.toml").write_bytes(b'directory_type = "workspace"\n# caf\xe9\n')
        error = source_error(tmp_path / "dg.toml")
        assert error.line == 2
        assert "UTF-8" in str(error)


def test_project_folder_in_a_workspace_is_not_collected_twice(
    pytester: pytest.Pytester, dg_workspace: Path
) -> None:
    # A project's own dg.toml belongs to the workspace that lists it: walking the folder
    # collects the workspace's dg.toml only.
    sales = dg_workspace / "projects" / "sales"
    (sales / "pyproject.toml").unlink()
    write(sales / "dg.toml", 'directory_type = "project"\n\n[project]\nroot_module = "sales"\n')
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines([*SALES_IDS, *CAMPAIGN_IDS, "", "2 tests collected*"])
    # Named, it is a source of its own.
    result = pytester.runpytest_subprocess("--workspace", "projects/sales", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["projects/sales/dg.toml::sales::sales_repository::daily_sales"])


def test_under_xdist_the_outcomes_are_those_of_a_serial_run(
    pytester: pytest.Pytester, dg_workspace: Path, other_python: Path
) -> None:
    give_venv(dg_workspace / "projects" / "marketing", other_python)
    with (dg_workspace / "dg.toml").open("a") as handle:
        handle.write('\n[[workspace.projects]]\npath = "projects/finance"\n')
    pytester.makeconftest(with_pid_recorder())
    serial = pytester.runpytest_subprocess("-rA")
    parallel = pytester.runpytest_subprocess("-n", "2", "-rA")
    for result in (serial, parallel):
        result.assert_outcomes(passed=2, failed=1)
    summary = [
        "PASSED dg.toml::campaigns::marketing_repository::weekly_campaign*",
        "PASSED dg.toml::sales::sales_repository::daily_sales*",
        "FAILED dg.toml::load_project[[]projects/finance[]]*",
    ]
    for result in (serial, parallel):
        for line in summary:
            result.stdout.fnmatch_lines([line])
    assert_no_worker_left(dg_workspace, at_least=4)

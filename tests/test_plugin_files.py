"""Workspace files named the way users name them: files, not folders.

Two workspace files in one folder, a workspace file next to a test file, a conftest.py
whose hooks apply only below its folder, a workspace file inside a package folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import assert_no_worker_left, with_pid_recorder

#: A location with one job that leaves a marker file when it runs, and one that needs
#: run config (``ops.configured.config.word``).
REPOS = """
import os
from pytest_workspace.definitions import job, op, repository

@op
def mark():
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran_{name}"), "w").close()
    return "{name}"

@job
def {name}_job():
    mark()

@op(config_schema={{"word": str}})
def configured(context):
    return context.op_config["word"]

@job
def needs_config_job():
    configured()

@repository
def {name}_repository():
    return [{name}_job, needs_config_job]
"""

UNIT_TESTS = """
def test_unit():
    assert 1 + 1 == 2

def test_uses_the_workspace(workspace_job):
    assert workspace_job("{name}_repository/{name}_job").execute().output_for("mark") == "{name}"
"""


def location(folder: Path, name: str) -> None:
    """``folder/<name>.py`` and ``folder/<name>.yaml`` that loads it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(REPOS.format(name=name))
    (folder / f"{name}.yaml").write_text(f"load_from:\n  - python_file: {name}.py\n")


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(with_pid_recorder(""))


@pytest.mark.parametrize(
    "args",
    [
        ["--workspace", "project/one.yaml", "--workspace", "project/two.yaml"],
        ["project/one.yaml", "project/two.yaml"],
        ["--workspace", "project/one.yaml", "project/two.yaml"],
    ],
    ids=["options", "positional", "mixed"],
)
def test_two_workspace_files_in_one_folder(pytester: pytest.Pytester, args: list) -> None:
    location(pytester.path / "project", "one")
    location(pytester.path / "project", "two")
    result = pytester.runpytest_subprocess(*args, "-v")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "project/one.yaml::one.py::one_repository::one_job PASSED*",
            "project/two.yaml::two.py::two_repository::two_job PASSED*",
        ]
    )
    assert result.ret == pytest.ExitCode.OK
    assert (pytester.path / "project" / "ran_one").exists()
    assert (pytester.path / "project" / "ran_two").exists()
    assert_no_worker_left(pytester.path, at_least=2)


def test_a_workspace_file_next_to_a_test_file(pytester: pytest.Pytester) -> None:
    location(pytester.path / "project", "one")
    (pytester.path / "project" / "test_units.py").write_text(UNIT_TESTS.format(name="one"))
    result = pytester.runpytest_subprocess(
        "--workspace", "project/one.yaml", "project/test_units.py", "-v"
    )
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines_random(
        [
            "project/test_units.py::test_unit PASSED*",
            "project/test_units.py::test_uses_the_workspace PASSED*",
            "project/one.yaml::one.py::one_repository::one_job PASSED*",
        ]
    )
    assert_no_worker_left(pytester.path, at_least=1)


def test_the_same_file_named_twice_is_collected_once(pytester: pytest.Pytester) -> None:
    location(pytester.path / "project", "one")
    result = pytester.runpytest_subprocess(
        "--workspace",
        "project/one.yaml",
        "project/one.yaml",
        str(pytester.path / "project" / "one.yaml"),
        "--collect-only",
        "-q",
    )
    result.stdout.fnmatch_lines(
        [
            "project/one.yaml::one.py::one_repository::needs_config_job",
            "project/one.yaml::one.py::one_repository::one_job",
            "2 tests collected*",
        ]
    )


RUN_CONFIG_HOOK = """
def pytest_workspace_run_config(job):
    if job.name == "needs_config_job":
        return {"ops": {"configured": {"config": {"word": "given"}}}}

def pytest_workspace_should_execute(job):
    return False if job.name == "a_job" else None
"""


def test_conftest_hooks_apply_only_below_their_folder(pytester: pytest.Pytester) -> None:
    location(pytester.path / "a", "a")
    location(pytester.path / "b", "b")
    (pytester.path / "a" / "conftest.py").write_text(RUN_CONFIG_HOOK)
    result = pytester.runpytest_subprocess(
        "--workspace", "a/a.yaml", "--workspace", "b/b.yaml", "-v", "-rs"
    )
    result.stdout.fnmatch_lines_random(
        [
            "a/a.yaml::a.py::a_repository::needs_config_job PASSED*",
            "a/a.yaml::a.py::a_repository::a_job PASSED*",
            "b/b.yaml::b.py::b_repository::needs_config_job SKIPPED*",
            "b/b.yaml::b.py::b_repository::b_job PASSED*",
        ]
    )
    result.assert_outcomes(passed=3, skipped=1)
    # a/conftest.py said "build only" for a_job; b_job ran.
    assert not (pytester.path / "a" / "ran_a").exists()
    assert (pytester.path / "b" / "ran_b").exists()


BROKEN_INIT = """
raise ImportError("this package imports dagster, which only the location's venv has")
"""


@pytest.mark.parametrize("args", [[], ["--workspace", "pkg/one.yaml"], ["pkg/one.yaml"]])
def test_a_workspace_file_in_a_package_folder_does_not_import_the_package(
    pytester: pytest.Pytester, args: list
) -> None:
    pytester.makeini("[pytest]\nworkspace_files = one.yaml\n")
    location(pytester.path / "pkg", "one")
    (pytester.path / "pkg" / "__init__.py").write_text(BROKEN_INIT)
    result = pytester.runpytest_subprocess(*args, "-v")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["pkg/one.yaml::one.py::one_repository::one_job PASSED*"])
    result.stdout.no_fnmatch_line("*ImportError*")
    assert (pytester.path / "pkg" / "ran_one").exists()

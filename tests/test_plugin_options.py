"""Options, ini keys and discovery of the pytest plugin, through real pytest sessions."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from processes import assert_no_worker_left, with_pid_recorder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PYTHON = "Python {}.{}.{}".format(*sys.version_info[:3])

LAZY_REPOS = """
import os
from pytest_workspace.definitions import job, op, repository

@op
def record():
    open("executed_" + os.environ.get("JOB", "job"), "w").close()

@job
def marker_job():
    record()

@op
def sleep_forever():
    import time
    time.sleep(600)

@job
def sleepy_job():
    sleep_forever()

@repository
def marker_repository():
    return {"jobs": {"marker_job": lambda: marker_job, "sleepy_job": lambda: sleepy_job}}
"""


@pytest.fixture
def cereal(pytester: pytest.Pytester) -> Path:
    """The cereal workspace copied under ``cereal/``, with an ini file at the root."""
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    return pytester.path / "cereal" / "workspace.yaml"


CEREAL_IDS = [
    "cereal/workspace.yaml::repos.py::hello_cereal_repository::complex_job",
    "cereal/workspace.yaml::repos.py::hello_cereal_repository::hello_cereal_job",
]


def test_workspace_option_collects_only_that_workspace(
    pytester: pytest.Pytester, cereal: Path
) -> None:
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    pytester.mkdir("tests")
    pytester.makepyfile(**{"tests/test_other": "def test_other():\n    assert False\n"})
    result = pytester.runpytest_subprocess("--workspace", "cereal/workspace.yaml", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "configfile: tox.ini"])
    result.stdout.fnmatch_lines([f"{node} PASSED*" for node in CEREAL_IDS])
    result.stdout.no_fnmatch_line("*test_other*")
    assert result.ret == 0


def test_positional_arguments_still_run_next_to_workspace(
    pytester: pytest.Pytester, cereal: Path
) -> None:
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = pytester.runpytest_subprocess("--workspace", "cereal/workspace.yaml", "test_other.py")
    result.assert_outcomes(passed=3)


def test_workspace_outside_rootdir_gets_relative_node_ids(pytester: pytest.Pytester) -> None:
    project = pytester.mkdir("project")
    (project / "tox.ini").write_text("[pytest]\n")
    shutil.copytree(FIXTURES / "cereal", pytester.path / "elsewhere")
    target = pytester.path / "elsewhere" / "workspace.yaml"
    result = pytester.runpytest_subprocess(
        f"--workspace={target}", "--collect-only", "-q", "--rootdir", str(project)
    )
    result.stdout.fnmatch_lines(
        ["../elsewhere/workspace.yaml::repos.py::hello_cereal_repository::complex_job"]
    )
    result.stdout.no_fnmatch_line("::*")


def test_workspace_file_with_any_name_named_on_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    for args in (
        ["multi_repo/multi_repo_workspace.yaml"],
        ["--workspace", "multi_repo/multi_repo_workspace.yaml"],
    ):
        result = pytester.runpytest_subprocess(*args, "--collect-only", "-q")
        result.stdout.fnmatch_lines(
            [
                "multi_repo/multi_repo_workspace.yaml::cereal_package::cereal_repository::count_job",
                "multi_repo/multi_repo_workspace.yaml::cereal_package::cereal_repository::hello_job",
                "multi_repo/multi_repo_workspace.yaml::cereal_package::reporting_repository::report_job",
                "multi_repo/multi_repo_workspace.yaml::single_repo.py::single_file_repository::hello_job",
                "4 tests collected*",
            ]
        )


def test_file_reached_twice_is_collected_once(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace",
        "cereal/workspace.yaml",
        "--workspace",
        str(cereal),
        "cereal/workspace.yaml",
        ".",
        "--collect-only",
        "-q",
    )
    result.stdout.fnmatch_lines([*CEREAL_IDS, "2 tests collected*"])


def test_default_discovery_of_workspace_yaml(pytester: pytest.Pytester, cereal: Path) -> None:
    pytester.makefile(".yaml", other="load_from: 3\n")  # not a workspace file: ignored
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines([*CEREAL_IDS, "2 tests collected*"])


def test_ini_workspace_files_patterns(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nworkspace_files = *_workspace.yaml\n")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["multi_repo/multi_repo_workspace.yaml::*", "4 tests collected*"])
    result.stdout.no_fnmatch_line("cereal/*")


def test_ini_workspace_lists_files_next_to_test_paths(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nworkspace = cereal/workspace.yaml\n")
    shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal")
    (pytester.path / "cereal" / "workspace.yaml").rename(pytester.path / "cereal" / "ws.yml")
    pytester.makeini("[pytest]\nworkspace = cereal/ws.yml\n")
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = pytester.runpytest_subprocess("-v")
    result.stdout.fnmatch_lines(
        [f"workspace: cereal/ws.yml: repos.py ({PYTHON})", "*test_other.py::test_other PASSED*"]
    )
    result.assert_outcomes(passed=3)


def test_report_header_lists_files_and_locations(pytester: pytest.Pytester, cereal: Path) -> None:
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    result = pytester.runpytest_subprocess(
        "--workspace",
        "cereal/workspace.yaml",
        "--workspace",
        "multi_repo/multi_repo_workspace.yaml",
        "--workspace-file",
        "multi_repo/single_repo.py",
        "--collect-only",
    )
    result.stdout.fnmatch_lines(
        [
            f"workspace: cereal/workspace.yaml: repos.py ({PYTHON})",
            f"workspace: multi_repo/multi_repo_workspace.yaml: cereal_package ({PYTHON}), "
            f"single_repo.py ({PYTHON})",
            f"workspace location: single_repo.py: single_repo.py ({PYTHON})",
        ]
    )


def test_workspace_file_and_module_options(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    pytester.makepyfile(team_jobs=LAZY_REPOS)
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess(
        "--workspace-file",
        "multi_repo/single_repo.py",
        "--workspace-module",
        "team_jobs",
        "--workspace-no-execute",
        "-v",
    )
    result.stdout.fnmatch_lines(
        [
            "multi_repo/single_repo.py::single_file_repository::hello_job PASSED*",
            "team_jobs::marker_repository::marker_job PASSED*",
            "team_jobs::marker_repository::sleepy_job PASSED*",
        ]
    )
    result.assert_outcomes(passed=3)
    assert_no_worker_left(pytester.path, at_least=2)


@pytest.mark.parametrize(
    ("args", "ini"),
    [
        (["--workspace-no-execute"], ""),
        ([], "workspace_execute = false\n"),
    ],
    ids=["option", "ini"],
)
def test_no_execute_builds_only(pytester: pytest.Pytester, args: list, ini: str) -> None:
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(repos=LAZY_REPOS)
    pytester.makefile(".yaml", workspace="load_from:\n  - python_file: repos.py\n")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)  # sleepy_job would time out if it ran
    assert not list(pytester.path.glob("executed_*"))


@pytest.mark.parametrize(
    ("args", "ini"),
    # Long enough for the location to load on a loaded machine; sleepy_job sleeps 600 s.
    [(["--workspace-timeout", "4"], ""), ([], "workspace_timeout = 4\n")],
    ids=["option", "ini"],
)
def test_timeout(pytester: pytest.Pytester, args: list, ini: str) -> None:
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(repos=LAZY_REPOS)
    pytester.makefile(".yaml", workspace="load_from:\n  - python_file: repos.py\n")
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess(*args, "-k", "sleepy_job")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "job 'sleepy_job' failed during execution:",
            "execute_job in code location 'repos.py' did not finish within 4s; its worker "
            "(pid *) was killed*",
        ]
    )
    assert_no_worker_left(pytester.path)  # the worker stopped by the timeout


def test_bad_ini_timeout_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nworkspace_timeout = soon\n")
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(["*workspace_timeout must be a number of seconds*'soon'*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_disabled_plugin(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess("-p", "no:workspace")
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result = pytester.runpytest_subprocess("-p", "no:workspace", "--workspace", str(cereal))
    result.stderr.fnmatch_lines(["*unrecognized arguments: --workspace*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_no_tests_exit_code_is_not_hidden(pytester: pytest.Pytester, cereal: Path) -> None:
    result = pytester.runpytest_subprocess("--workspace", str(cereal), "-k", "no_such_job")
    result.assert_outcomes(deselected=2)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    empty = pytester.makepyfile(
        empty_repo="""
        from pytest_workspace.definitions import repository

        @repository
        def empty_repository():
            return []
        """
    )
    result = pytester.runpytest_subprocess("--workspace-file", str(empty))
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED

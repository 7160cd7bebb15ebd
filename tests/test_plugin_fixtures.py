"""The workspace, workspace_job and workspace_repository fixtures in ordinary test files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from processes import assert_no_worker_left, with_pid_recorder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def _session_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")


WORKSPACE = "multi_repo/multi_repo_workspace.yaml"


def test_fixtures_next_to_collected_items_share_the_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_jobs="""
        import pytest
        from pytest_workspace import JobHandle, RepositoryHandle, Workspace

        def test_workspace(workspace):
            assert isinstance(workspace, Workspace)
            assert [loc.name for loc in workspace.locations] == ["cereal_package", "single_repo.py"]

        @pytest.mark.parametrize("name", [
            "count_job",
            "cereal_repository/hello_job",
            "cereal_package/cereal_repository/hello_job",
            "single_file_repository/hello_job",
        ])
        def test_job_by_name(workspace_job, name):
            job = workspace_job(name)
            assert isinstance(job, JobHandle)
            assert job.name == name.rpartition("/")[2]

        def test_repository(workspace_repository):
            repo = workspace_repository("reporting_repository")
            assert isinstance(repo, RepositoryHandle)
            assert repo.job_names == ["report_job"]

        def test_same_process_as_the_items(workspace_job):
            result = workspace_job("cereal_repository/hello_job").execute()
            print("fixture pid", result.output_for("say_hello"))
        """
    )
    pytester.makeconftest(with_pid_recorder())
    result = pytester.runpytest_subprocess("--workspace", WORKSPACE, "test_jobs.py", "-rA")
    result.assert_outcomes(passed=11)
    item_pid = fixture_pid = None
    for line in result.stdout.lines:
        if "hello from pid" in line:
            item_pid = line.rsplit(" ", 1)[1]
        if line.startswith("fixture pid"):
            fixture_pid = line.rsplit(" ", 1)[1]
    assert item_pid is not None
    assert item_pid == fixture_pid
    assert_no_worker_left(pytester.path, at_least=2)


def test_unknown_and_ambiguous_names_list_the_candidates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_names="""
        def test_ambiguous_job(workspace_job):
            workspace_job("hello_job")

        def test_unknown_job(workspace_job):
            workspace_job("helo_job")

        def test_unknown_repository(workspace_repository):
            workspace_repository("cereal_repo")
        """
    )
    result = pytester.runpytest_subprocess("--workspace", WORKSPACE, "test_names.py")
    result.assert_outcomes(failed=3, passed=4)
    result.stdout.fnmatch_lines(
        [
            "*job name 'hello_job' is ambiguous: it matches "
            "cereal_package/cereal_repository/hello_job, "
            "single_repo.py/single_file_repository/hello_job*",
            "*unknown job 'helo_job'; did you mean 'hello_job'?*"
            "cereal_package/cereal_repository/count_job*",
            "*unknown repository 'cereal_repo'*cereal_package/cereal_repository*",
        ],
        consecutive=False,
    )


def test_fixture_without_workspace_fails_clearly(pytester: pytest.Pytester) -> None:
    shutil.rmtree(pytester.path / "multi_repo")
    pytester.makepyfile(test_it="def test_it(workspace_job):\n    workspace_job('a_job')\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*no workspace is configured: pass --workspace PATH (or --workspace-file*"]
    )


def test_ini_workspace_serves_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nworkspace = {WORKSPACE}\n")
    pytester.makeconftest(with_pid_recorder())
    pytester.makepyfile(
        test_it="def test_it(workspace_repository):\n"
        "    assert workspace_repository('cereal_repository').job_names\n"
    )
    result = pytester.runpytest_subprocess("test_it.py")
    result.assert_outcomes(passed=1)
    assert_no_worker_left(pytester.path, at_least=2)

"""Real Dagster code locations (SPEC section 6), on a real Dagster, with no mocks.

The locations of ``fixtures/dagster/`` run in a virtualenv with Dagster installed
(``DAGSTER_VERSION``), made once per machine by the ``python_env`` fixture and cached
under ``.venvs/``. The env has nothing of ours installed: the worker, our definitions
and the Dagster backend travel over the gateway. If the env cannot be made, the tests
fail with pip's output; they are never skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
from dagster_versions import NEWEST

from pytest_workspace import (
    RemoteDefinitionError,
    RunConfigError,
    Workspace,
    load_workspace,
)

#: The Dagster release these tests run against; ``test_dagster_today.py`` runs the
#: older supported line too (see docs/dagster.md).
DAGSTER_VERSION = NEWEST.version
DAGSTER_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dagster"
WORKSPACE = DAGSTER_FIXTURES / "workspace.yaml"


@pytest.fixture(scope="session")
def dagster_python(python_env) -> Path:  # type: ignore[no-untyped-def]
    """The python of a virtualenv with Dagster installed (and nothing of ours)."""
    return python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])


@pytest.fixture(scope="module")
def ws(dagster_python: Path) -> Iterator[Workspace]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_PYTHON", str(dagster_python))
        mp.delenv("CEREAL_BUILD_LOG", raising=False)
        with load_workspace(WORKSPACE, timeout=120) as workspace:
            yield workspace


def _single_location_workspace(tmp_path: Path, python_file: str) -> Path:
    path = tmp_path / "workspace.yaml"
    path.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {DAGSTER_FIXTURES / python_file}\n"
        "      executable_path: ${DAGSTER_PYTHON}\n"
    )
    return path


# -- listing and building ----------------------------------------------------------------


def test_locations_run_dagster_in_their_own_interpreter(
    ws: Workspace, dagster_python: Path
) -> None:
    assert [loc.name for loc in ws.locations] == [
        "cereal.py",
        "scheduled.py",
        "failures.py",
        "assets.py",
        "asset_failures.py",
    ]
    for location in ws.locations:
        assert location.load_error is None
        assert location.executable is not None
        assert Path(location.executable).parent == dagster_python.parent
        assert location.python_version is not None and location.python_version[:2] == (3, 11)
    assert [repo.name for repo in ws.location("cereal.py").repositories] == [
        "hello_cereal_repository"
    ]


def test_listing_a_lazy_dict_repository_builds_no_job(
    tmp_path: Path, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_log = tmp_path / "builds.txt"
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    monkeypatch.setenv("CEREAL_BUILD_LOG", str(build_log))
    with load_workspace(_single_location_workspace(tmp_path, "cereal.py"), timeout=120) as ws:
        repo = ws.repository("hello_cereal_repository")
        assert repo.job_names == ["hello_cereal_job", "complex_job", "protein_filter_job"]
        assert repo.constructed_job_names == []
        assert not build_log.exists(), "listing the jobs built some of them"

        ws.job("complex_job").build()
        assert build_log.read_text().split() == ["complex_job"]
        assert repo.constructed_job_names == ["complex_job"]


def test_build_reports_ops_in_order_and_their_dependencies(ws: Workspace) -> None:
    build = ws.job("complex_job").build()
    assert build.name == "complex_job"
    assert build.op_names[0] == "download_cereals"
    assert build.op_names[-1] == "display_results"
    assert set(build.op_names) == {
        "download_cereals",
        "find_highest_calorie_cereal",
        "find_highest_protein_cereal",
        "display_results",
    }
    assert build.dependencies["download_cereals"] == ()
    assert build.dependencies["find_highest_protein_cereal"] == ("download_cereals",)
    assert set(build.dependencies["display_results"]) == {
        "find_highest_calorie_cereal",
        "find_highest_protein_cereal",
    }
    assert build.description == "Find the cereals with the most calories and the most protein."


# -- executing -----------------------------------------------------------------------------


def test_execute_runs_the_job_with_dagster(ws: Workspace) -> None:
    result = ws.job("complex_job").execute()
    assert result.success, result.error
    assert result.run_id
    assert result.output_for("find_highest_protein_cereal") == "Cheerios"
    assert result.output_for("display_results") == {
        "most_calories": "Mueslix Crispy Blend",
        "most_protein": "Cheerios",
    }
    assert {step.status for step in result.step_results.values()} == {"success"}
    user_logs = [(log.level, log.op_name, log.message) for log in result.logs if log.event is None]
    assert ("INFO", "display_results", "Most protein-rich cereal: Cheerios") in user_logs
    events = [log.event for log in result.logs if log.event]
    assert events[0] == "RUN_START" and events[-1] == "RUN_SUCCESS"
    assert "STEP_SUCCESS" in events


def test_a_failing_op_reports_the_users_exception(ws: Workspace) -> None:
    result = ws.job("failing_job").execute()
    assert not result.success
    statuses = {name: step.status for name, step in result.step_results.items()}
    assert statuses == {
        "count_cereals": "success",
        "find_cereal_with_protein": "failure",
        "announce": "skipped",
    }
    assert result.failed_op == "find_cereal_with_protein"
    error = result.step_results["find_cereal_with_protein"].error
    assert error is not None
    assert error.type_name == "ValueError"
    assert error.message == "no cereal has 99 g of protein among 7"
    # The user's frame, not Dagster's wrappers.
    assert "failures.py" in error.remote_traceback
    assert "find_cereal_with_protein" in error.remote_traceback
    assert "site-packages/dagster" not in error.remote_traceback
    assert result.error is not None
    assert result.error.data.get("op") == "find_cereal_with_protein"
    assert result.error.message == "no cereal has 99 g of protein among 7"


def test_dagsters_name_mismatch_error_reaches_the_user(ws: Workspace) -> None:
    with pytest.raises(RemoteDefinitionError) as excinfo:
        ws.job("misnamed_job").build()
    message = str(excinfo.value)
    assert "'misnamed_job'" in message and "'complex_jb'" in message
    assert "failures_repository" in message
    # Dagster's own words are quoted.
    assert "name in JobDefinition does not match" in message


def test_missing_run_config_names_the_missing_key(ws: Workspace) -> None:
    job = ws.job("protein_filter_job")
    with pytest.raises(RunConfigError) as excinfo:
        job.execute()
    assert excinfo.value.missing == ["filter_cereals.min_protein"]
    assert excinfo.value.data["only_missing"] is True
    result = job.execute(run_config={"ops": {"filter_cereals": {"config": {"min_protein": 6}}}})
    assert result.success
    assert result.output_for("filter_cereals") == ["Cheerios", "Special K"]


def test_wrong_run_config_is_not_only_missing(ws: Workspace) -> None:
    with pytest.raises(RunConfigError) as excinfo:
        ws.job("protein_filter_job").execute(
            run_config={"ops": {"filter_cereals": {"config": {"min_protein": "six"}}}}
        )
    assert excinfo.value.data["only_missing"] is False
    assert "min_protein" in str(excinfo.value)


# -- Definitions objects, schedules, sensors, bare jobs -------------------------------------


def test_a_definitions_object_is_a_repository_named_as_dagster_names_it(ws: Workspace) -> None:
    # assets.py and asset_failures.py hold Definitions objects too: same repository name.
    repo = ws.repository("scheduled.py/__repository__")
    assert repo.location.name == "scheduled.py"
    assert repo.job_names == ["greeting_job"]
    assert repo.schedule_names == ["daily_greeting", "weekly_greeting"]
    assert sorted(repo.sensor_names) == ["idle_sensor", "new_names_sensor"]
    result = ws.job("greeting_job").execute()
    assert result.success
    assert result.output_for("greet") == "Hello, world!"


def test_schedules_are_evaluated_with_dagster(ws: Workspace) -> None:
    daily = ws.schedule("daily_greeting").evaluate()
    assert daily.cron_schedule == "0 6 * * *"
    assert daily.job_name == "greeting_job"
    assert daily.skip_reason is None
    [request] = daily.run_requests
    assert request["run_config"] == {"ops": {"greet": {"config": {"name": "morning"}}}}
    weekly = ws.schedule("weekly_greeting").evaluate()
    assert [r["run_key"] for r in weekly.run_requests] == ["weekly"]


def test_sensors_are_evaluated_with_dagster(ws: Workspace) -> None:
    names = ws.sensor("new_names_sensor").evaluate()
    assert names.job_name == "greeting_job"
    assert [r["run_key"] for r in names.run_requests] == ["Ada", "Grace"]
    idle = ws.sensor("idle_sensor").evaluate()
    assert idle.run_requests == ()
    assert idle.skip_reason == "no new names to greet"


def test_a_bare_dagster_job_gets_dagsters_repository_name(
    tmp_path: Path, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    with load_workspace(_single_location_workspace(tmp_path, "single_job.py"), timeout=120) as ws:
        [repo] = ws.repositories
        assert repo.name == "__repository__only_job"
        assert repo.job_names == ["only_job"]
        result = ws.job("only_job").execute()
        assert result.success and result.output_for("add_one") == 2


# -- assets ----------------------------------------------------------------------------------


def test_asset_jobs_and_the_implicit_asset_job_are_listed(ws: Workspace) -> None:
    assets = ws.repository("assets.py/__repository__")
    # Dagster's order: the implicit job that materializes every asset, then asset jobs.
    assert assets.job_names == ["__ASSET_JOB", "cereal_assets_job"]
    assert ws.repository("asset_failures.py/__repository__").job_names == [
        "__ASSET_JOB",
        "protein_rich_job",
        "report_job",
    ]
    # Without assets, Dagster's implicit asset job stays hidden.
    assert ws.repository("scheduled.py/__repository__").job_names == ["greeting_job"]
    assert "__ASSET_JOB" not in ws.repository("hello_cereal_repository").job_names


def test_an_asset_job_builds_with_the_assets_step_keys_as_ops(ws: Workspace) -> None:
    build = ws.job("cereal_assets_job").build()
    assert build.name == "cereal_assets_job"
    assert build.description == "Materialize the cereals and their protein ranking."
    # A prefixed asset key (nutrition/protein_ranking) is Dagster's op nutrition__protein_ranking.
    assert build.op_names == ("cereals", "nutrition__protein_ranking")
    assert build.dependencies == {"cereals": (), "nutrition__protein_ranking": ("cereals",)}
    implicit = ws.job("assets.py/__repository__/__ASSET_JOB").build()
    assert implicit.name == "__ASSET_JOB"
    assert implicit.op_names[0] == "cereals"
    assert set(implicit.op_names) == {"cereals", "calorie_summary", "nutrition__protein_ranking"}
    assert implicit.dependencies["calorie_summary"] == ("cereals",)


def test_an_asset_job_materializes_its_assets(ws: Workspace) -> None:
    result = ws.job("cereal_assets_job").execute()
    assert result.success, result.error
    assert {name: step.status for name, step in result.step_results.items()} == {
        "cereals": "success",
        "nutrition__protein_ranking": "success",
    }
    assert result.output_for("nutrition__protein_ranking")[:2] == ["Cheerios", "Special K"]
    materialized = [log.op_name for log in result.logs if log.event == "ASSET_MATERIALIZATION"]
    assert materialized == ["cereals", "nutrition__protein_ranking"]


def test_the_implicit_asset_job_materializes_every_asset(ws: Workspace) -> None:
    result = ws.job("assets.py/__repository__/__ASSET_JOB").execute()
    assert result.success, result.error
    assert set(result.step_results) == {"cereals", "calorie_summary", "nutrition__protein_ranking"}
    assert result.output_for("calorie_summary") == {"min": 70, "max": 160}
    materialized = {log.op_name for log in result.logs if log.event == "ASSET_MATERIALIZATION"}
    assert materialized == set(result.step_results)
    user_logs = [(log.op_name, log.message) for log in result.logs if log.event is None]
    assert ("calorie_summary", "Calories range from 70 to 160") in user_logs


def test_an_asset_needing_config_names_the_missing_key(ws: Workspace) -> None:
    with pytest.raises(RunConfigError) as excinfo:
        ws.job("protein_rich_job").execute()
    assert excinfo.value.missing == ["protein_rich.min_protein"]
    assert excinfo.value.data["only_missing"] is True
    # __ASSET_JOB runs the other assets, leaving protein_rich out, and says why.
    run = ws.job("asset_failures.py/__repository__/__ASSET_JOB").execute()
    assert [(left.asset_key, left.missing) for left in run.left_out] == [
        ("protein_rich", ("protein_rich.min_protein",))
    ]
    assert run.step_results["protein_rich"].status == "skipped"
    assert run.failed_op == "cereal_report"
    result = ws.job("protein_rich_job").execute(
        run_config={"ops": {"protein_rich": {"config": {"min_protein": 6}}}}
    )
    assert result.success, result.error
    assert result.output_for("protein_rich") == ["Cheerios", "Special K"]


def test_a_failing_asset_reports_the_users_exception(ws: Workspace) -> None:
    result = ws.job("report_job").execute()
    assert not result.success
    assert {name: step.status for name, step in result.step_results.items()} == {
        "raw_cereals": "success",
        "cereal_count": "success",
        "cereal_report": "failure",
    }
    assert result.failed_op == "cereal_report"
    error = result.step_results["cereal_report"].error
    assert error is not None
    assert error.type_name == "ValueError"
    assert error.message == "cannot write a report on 3 cereals"
    assert "asset_failures.py" in error.remote_traceback
    assert "cereal_report" in error.remote_traceback
    assert "site-packages/dagster" not in error.remote_traceback


def test_only_external_assets_list_no_implicit_asset_job(
    tmp_path: Path, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An AssetSpec alone is an external asset: nothing to materialize, so no item.
    (tmp_path / "external.py").write_text(
        "from dagster import AssetSpec, Definitions\n"
        "defs = Definitions(assets=[AssetSpec('warehouse_table')])\n"
    )
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    workspace = _single_location_workspace(tmp_path, str(tmp_path / "external.py"))
    with load_workspace(workspace, timeout=120) as ws:
        [repo] = ws.repositories
        assert repo.name == "__repository__"
        assert repo.job_names == []


def test_an_asset_needing_a_missing_resource_fails_the_locations_load(
    tmp_path: Path, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster checks resources when it resolves the Definitions, as `dagster dev` would.
    (tmp_path / "needs_db.py").write_text(
        "from dagster import Definitions, asset\n"
        "@asset(required_resource_keys={'warehouse'})\n"
        "def orders(context):\n"
        "    return []\n"
        "defs = Definitions(assets=[orders])\n"
    )
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    workspace = _single_location_workspace(tmp_path, str(tmp_path / "needs_db.py"))
    with load_workspace(workspace, timeout=120) as ws:
        [location] = ws.locations
        assert location.load_error is not None
        assert "resource with key 'warehouse' required by op 'orders'" in str(location.load_error)


# -- real pytest sessions --------------------------------------------------------------------


@pytest.fixture
def dagster_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> pytest.Pytester:
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    monkeypatch.delenv("CEREAL_BUILD_LOG", raising=False)
    pytester.makeini("[pytest]\n")
    return pytester


def test_pytest_session_collects_and_runs_dagster_items(dagster_session: pytest.Pytester) -> None:
    result = dagster_session.runpytest_subprocess(
        "--workspace", str(WORKSPACE), "-p", "no:cacheprovider", "-rs", "-v"
    )
    result.assert_outcomes(passed=9, failed=4, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*job 'failing_job' failed during execution in op 'find_cereal_with_protein'*",
            "*ValueError: no cereal has 99 g of protein among 7*",
        ]
    )
    result.stdout.fnmatch_lines(["*'misnamed_job'*'complex_jb'*"])
    result.stdout.fnmatch_lines(
        ["*job 'protein_filter_job' needs run config*missing filter_cereals.min_protein*"]
    )
    # Assets: a failing asset fails its job's item in the asset's op, with the user's error;
    # assets needing run config skip the asset jobs selecting them. Dagster's implicit
    # __ASSET_JOB runs without them, and fails in cereal_report.
    result.stdout.fnmatch_lines(
        [
            "*job 'report_job' failed during execution in op 'cereal_report'*",
            "*ValueError: cannot write a report on 3 cereals*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*job 'protein_rich_job' needs run config*missing protein_rich.min_protein*"]
    )
    result.stdout.fnmatch_lines(["*asset_failures.py::__repository__::__ASSET_JOB FAILED*"])
    result.stdout.fnmatch_lines(["*assets.py::__repository__::__ASSET_JOB PASSED*"])
    # Items are named as the collection tree nests them (what --collect-only lists too).
    result.stdout.fnmatch_lines(
        [
            "*workspace.yaml::cereal.py::hello_cereal_repository::complex_job *",
            "*workspace.yaml::cereal.py::hello_cereal_repository::hello_cereal_job *",
            "*workspace.yaml::scheduled.py::__repository__::greeting_job *",
            "*workspace.yaml::scheduled.py::__repository__::schedule:daily_greeting *",
            "*workspace.yaml::assets.py::__repository__::__ASSET_JOB *",
            "*workspace.yaml::assets.py::__repository__::cereal_assets_job *",
            "*workspace.yaml::asset_failures.py::__repository__::__ASSET_JOB *",
            "*workspace.yaml::asset_failures.py::__repository__::protein_rich_job *",
            "*workspace.yaml::asset_failures.py::__repository__::report_job *",
        ]
    )


def test_pytest_hooks_and_fixtures_work_on_dagster_jobs(dagster_session: pytest.Pytester) -> None:
    dagster_session.makeconftest(
        """
        def pytest_workspace_run_config(job):
            if job.name == "protein_filter_job":
                return {"ops": {"filter_cereals": {"config": {"min_protein": 6}}}}
            if job.name == "protein_rich_job":  # an asset job: the asset's config
                return {"ops": {"protein_rich": {"config": {"min_protein": 6}}}}
        """
    )
    dagster_session.makepyfile(
        test_cereal="""
        def test_most_protein(workspace_job):
            result = workspace_job("complex_job").execute()
            assert result.output_for("find_highest_protein_cereal") == "Cheerios"

        def test_names(workspace_repository):
            repo = workspace_repository("hello_cereal_repository")
            assert repo.job_names == ["hello_cereal_job", "complex_job", "protein_filter_job"]
        """
    )
    # A conftest's hooks apply to the workspace files below its folder: a copy of the
    # fixtures goes next to it, as a user's workspace file sits next to its conftest.py.
    shutil.copytree(DAGSTER_FIXTURES, dagster_session.path / "dagster")
    result = dagster_session.runpytest_subprocess(
        "--workspace",
        str(dagster_session.path / "dagster" / "workspace.yaml"),
        "-p",
        "no:cacheprovider",
        "-k",
        "not failing_job and not misnamed_job and not report_job"
        " and not (asset_failures.py and __ASSET_JOB)",
        "test_cereal.py",
    )
    result.assert_outcomes(passed=13)


def test_our_definitions_in_a_dagster_env_never_import_dagster(
    tmp_path: Path, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The backend travels to every worker, but uses Dagster only if the user's code
    # imported it: a location on our own definitions does not pay for it.
    (tmp_path / "ours.py").write_text(
        "import sys\n"
        "from pytest_workspace.definitions import job, op\n"
        "@op\n"
        "def dagster_loaded():\n"
        "    return 'dagster' in sys.modules\n"
        "@job\n"
        "def probe_job():\n"
        "    dagster_loaded()\n"
    )
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_file:\n"
        "      relative_path: ours.py\n"
        "      executable_path: ${DAGSTER_PYTHON}\n"
    )
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    with load_workspace(tmp_path / "workspace.yaml", timeout=60) as ws:
        assert ws.repositories[0].name == "__repository__probe_job"
        assert ws.job("probe_job").execute().output_for("dagster_loaded") is False

"""The Python API on a real workspace: locations, lookups, outputs, capture, logs, errors.

One workspace (``fixtures/api/workspace.yaml``, two locations) is loaded for the whole
module; every call goes to the location's own process.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import sys
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest
from interpreters import require_interpreter
from processes import alive, wait_gone

from pytest_workspace import (
    JobHandle,
    NameLookupError,
    RemoteDefinitionError,
    RemoteError,
    RemoteRepr,
    RemoteWarning,
    RunConfigError,
    RunResult,
    Workspace,
    load_workspace,
)
from pytest_workspace.errors import OutputNotAvailableError, WorkspaceError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
API_WORKSPACE = FIXTURES / "api" / "workspace.yaml"
API_JOBS = FIXTURES / "api" / "jobs.py"


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with load_workspace(API_WORKSPACE, timeout=30) as workspace:
        yield workspace


# -- locations ---------------------------------------------------------------------------


def test_locations_describe_their_interpreter_and_repositories(ws: Workspace) -> None:
    assert [loc.name for loc in ws.locations] == ["jobs.py", "other"]
    for location in ws.locations:
        assert location.load_error is None
        assert location.python_version == tuple(sys.version_info[:3])
        assert location.executable is not None
        assert Path(location.executable).resolve() == Path(sys.executable).resolve()
        assert location.worker.pid is not None and alive(location.worker.pid)
    jobs, other = ws.locations
    assert [repo.name for repo in jobs.repositories] == ["api_repository"]
    assert [repo.name for repo in other.repositories] == ["other_repository"]
    assert jobs.worker.pid != other.worker.pid


def test_import_time_output_is_the_locations_load_output(ws: Workspace) -> None:
    stdout, stderr = ws.location("jobs.py").load_output
    assert stdout == "importing jobs.py\n"
    assert stderr == "jobs.py says hello on stderr\n"
    assert ws.location("other").load_output == ("", "")


def test_repository_lists_names_and_where_it_is_declared(ws: Workspace) -> None:
    repo = ws.repository("api_repository")
    assert repo.job_names[:3] == ["outputs_job", "noisy_job", "failing_job"]
    assert "mismatched_job" in repo.job_names
    assert repo.schedule_names == [] and repo.sensor_names == []
    assert repo.source is not None
    assert repo.source[0].endswith("jobs.py")
    assert set(repo.constructed_job_names) <= set(repo.job_names)


# -- name lookups ------------------------------------------------------------------------


def test_a_job_is_found_by_bare_and_qualified_names(ws: Workspace) -> None:
    by_bare = ws.job("quick_job")
    assert isinstance(by_bare, JobHandle)
    assert by_bare.qualified_name == "jobs.py/api_repository/quick_job"
    assert ws.job("api_repository/quick_job") == by_bare
    assert ws.job("jobs.py/api_repository/quick_job") == by_bare
    assert by_bare.repository.name == "api_repository"
    assert by_bare.location.name == "jobs.py"


def test_an_ambiguous_job_name_lists_the_qualified_candidates(ws: Workspace) -> None:
    with pytest.raises(NameLookupError) as info:
        ws.job("shared_job")
    message = str(info.value)
    assert "ambiguous" in message
    assert "jobs.py/api_repository/shared_job" in message
    assert "other/other_repository/shared_job" in message
    assert sorted(info.value.candidates) == [
        "jobs.py/api_repository/shared_job",
        "other/other_repository/shared_job",
    ]
    # Either qualified form resolves it.
    assert ws.job("other_repository/shared_job").location.name == "other"
    assert ws.job("jobs.py/api_repository/shared_job").location.name == "jobs.py"


def test_an_unknown_job_name_lists_candidates_and_the_closest(ws: Workspace) -> None:
    with pytest.raises(NameLookupError) as info:
        ws.job("quik_job")
    message = str(info.value)
    assert "unknown job 'quik_job'" in message
    assert "did you mean 'quick_job'?" in message
    assert "other/other_repository/other_job" in message
    assert "jobs.py/api_repository/quick_job" in info.value.candidates


def test_a_qualified_name_must_match_every_part(ws: Workspace) -> None:
    with pytest.raises(NameLookupError, match="unknown job 'other_repository/quick_job'"):
        ws.job("other_repository/quick_job")
    with pytest.raises(NameLookupError, match="should be 'job', 'repository/job'"):
        ws.job("a/b/c/d")


def test_repositories_are_found_by_name_and_location(ws: Workspace) -> None:
    assert ws.repository("other_repository").location.name == "other"
    assert ws.repository("jobs.py/api_repository").name == "api_repository"
    with pytest.raises(NameLookupError) as info:
        ws.repository("other_repo")
    assert "did you mean 'other_repository'?" in str(info.value)
    assert "jobs.py/api_repository" in str(info.value)


# -- building ----------------------------------------------------------------------------


def test_build_returns_ops_and_dependencies(ws: Workspace) -> None:
    build = ws.job("failing_job").build()
    assert build.name == "failing_job"
    assert build.op_names == ("first", "explode", "never_runs")
    assert build.dependencies == {"first": (), "explode": ("first",), "never_runs": ("explode",)}


def test_a_job_built_under_another_name_is_a_definition_error(ws: Workspace) -> None:
    with pytest.raises(RemoteDefinitionError) as info:
        ws.job("mismatched_job").build()
    message = str(info.value)
    assert "'api_repository'" in message
    assert "'mismatched_job'" in message
    assert "'built_name'" in message
    assert info.value.type_name.endswith("JobNameMismatchError")
    # Executing it says the same, before any op runs.
    with pytest.raises(RemoteDefinitionError, match="built_name"):
        ws.job("mismatched_job").execute()


# -- schedules and sensors ---------------------------------------------------------------

SCHEDULING_MODULE = """
from pytest_workspace.definitions import (
    RunRequest,
    ScheduleDefinition,
    SkipReason,
    job,
    op,
    repository,
    schedule,
    sensor,
)


@op(config_schema={"day": str})
def refresh(context):
    return context.op_config["day"]


@job
def refresh_job():
    refresh()


def run_config(day):
    return {"ops": {"refresh": {"config": {"day": day}}}}


@schedule("0 6 * * *", job=refresh_job)
def config_schedule(context):
    print("evaluating config_schedule")
    return run_config("monday")


@schedule("*/15 * * * *", job_name="refresh_job")
def requests_schedule(context):
    return [
        RunRequest(run_key="first", tags={"team": "data"}),
        RunRequest(run_key="second", run_config=run_config("friday")),
    ]


@sensor(job=refresh_job)
def file_sensor(context):
    yield RunRequest(run_key="file-1", run_config=run_config("tuesday"))
    yield RunRequest(run_key="file-2", tags={"source": "s3"})


@sensor(job=refresh_job)
def quiet_sensor(context):
    return SkipReason("no new files")


bad_cron_schedule = ScheduleDefinition(
    name="bad_cron_schedule", cron_schedule="0 0 32 * *", job=refresh_job
)
orphan_schedule = ScheduleDefinition(
    name="orphan_schedule", cron_schedule="@daily", job_name="missing_job"
)


@sensor(job_name="missing_job")
def orphan_sensor(context):
    yield RunRequest()


@repository
def scheduling_repository():
    return {
        "jobs": {"refresh_job": lambda: refresh_job},
        "schedules": {
            "config_schedule": config_schedule,
            "requests_schedule": requests_schedule,
            "bad_cron_schedule": bad_cron_schedule,
            "orphan_schedule": lambda: orphan_schedule,
        },
        "sensors": {
            "file_sensor": file_sensor,
            "quiet_sensor": quiet_sensor,
            "orphan_sensor": lambda: orphan_sensor,
        },
    }
"""


@pytest.fixture(scope="module")
def scheduling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    module = tmp_path_factory.mktemp("scheduling") / "scheduling.py"
    module.write_text(SCHEDULING_MODULE)
    with load_workspace(python_file=module, timeout=30) as workspace:
        yield workspace


def day_config(day: str) -> dict:
    return {"ops": {"refresh": {"config": {"day": day}}}}


def test_schedules_and_sensors_are_listed_without_building_anything(
    scheduling: Workspace,
) -> None:
    repo = scheduling.repository("scheduling_repository")
    assert repo.schedule_names == [
        "config_schedule",
        "requests_schedule",
        "bad_cron_schedule",
        "orphan_schedule",
    ]
    assert repo.sensor_names == ["file_sensor", "quiet_sensor", "orphan_sensor"]
    assert scheduling.schedule("config_schedule") == repo.schedule("config_schedule")
    assert scheduling.sensor("scheduling_repository/file_sensor") == repo.sensor("file_sensor")
    with pytest.raises(NameLookupError, match="unknown schedule 'config_schedul'"):
        scheduling.schedule("config_schedul")


def test_a_schedule_returning_run_config_gives_one_run_request(scheduling: Workspace) -> None:
    evaluation = scheduling.schedule("config_schedule").evaluate()
    assert evaluation.name == "config_schedule"
    assert evaluation.job_name == "refresh_job"
    assert evaluation.cron_schedule == "0 6 * * *"
    assert evaluation.skip_reason is None
    assert evaluation.run_requests == (
        {"run_key": None, "run_config": day_config("monday"), "tags": {}},
    )
    assert evaluation.stdout == "evaluating config_schedule\n"
    # Evaluating checks the target's name; it does not build the job.
    assert scheduling.repository("scheduling_repository").constructed_job_names == []


def test_a_schedule_returning_run_requests_keeps_keys_config_and_tags(
    scheduling: Workspace,
) -> None:
    evaluation = scheduling.schedule("requests_schedule").evaluate()
    assert evaluation.cron_schedule == "*/15 * * * *"
    assert evaluation.run_requests == (
        {"run_key": "first", "run_config": {}, "tags": {"team": "data"}},
        {"run_key": "second", "run_config": day_config("friday"), "tags": {}},
    )


def test_a_sensor_yields_run_requests(scheduling: Workspace) -> None:
    evaluation = scheduling.sensor("file_sensor").evaluate()
    assert evaluation.name == "file_sensor" and evaluation.job_name == "refresh_job"
    assert evaluation.cron_schedule is None and evaluation.skip_reason is None
    assert evaluation.run_requests == (
        {"run_key": "file-1", "run_config": day_config("tuesday"), "tags": {}},
        {"run_key": "file-2", "run_config": {}, "tags": {"source": "s3"}},
    )


def test_a_sensor_can_skip_with_a_reason(scheduling: Workspace) -> None:
    evaluation = scheduling.sensor("quiet_sensor").evaluate()
    assert evaluation.skip_reason == "no new files"
    assert evaluation.run_requests == ()


def test_an_invalid_cron_string_is_an_error_naming_the_field(scheduling: Workspace) -> None:
    with pytest.raises(RemoteDefinitionError) as info:
        scheduling.schedule("bad_cron_schedule").evaluate()
    assert info.value.type_name.endswith("InvalidCronError")
    assert "invalid cron schedule '0 0 32 * *'" in str(info.value)
    assert "day of month field '32'" in str(info.value)


@pytest.mark.parametrize("kind", ["schedule", "sensor"])
def test_a_missing_target_job_is_an_error_naming_both(scheduling: Workspace, kind: str) -> None:
    handle = getattr(scheduling, kind)(f"orphan_{kind}")
    with pytest.raises(RemoteDefinitionError) as info:
        handle.evaluate()
    assert info.value.type_name.endswith("InvalidTargetError")
    message = str(info.value)
    assert f"{kind} 'orphan_{kind}' of repository 'scheduling_repository'" in message
    assert "targets job 'missing_job'" in message
    assert "'refresh_job'" in message  # the jobs it could target
    # The location is not disturbed: the other evaluations still work.
    assert scheduling.sensor("quiet_sensor").evaluate().skip_reason == "no new files"


# -- outputs -----------------------------------------------------------------------------


def test_plain_outputs_round_trip_and_others_come_back_as_their_repr(ws: Workspace) -> None:
    result = ws.job("outputs_job").execute()
    assert result.success, result.error
    assert result.output_for("plain_data") == {
        "name": "cereal",
        "sizes": [1, 2.5, None, True],
        "nested": {"pair": [1, "two"]},  # a tuple travels as a list
    }
    a_set = result.output_for("a_set")
    assert isinstance(a_set, RemoteRepr)
    assert a_set == "{1, 2, 3}" and a_set.type_name == "set"
    point = result.output_for("a_point")
    assert isinstance(point, RemoteRepr)
    assert point == "Point(1, 2)" and point.type_name == "jobs.Point"
    assert "remote jobs.Point" in repr(point)
    moment = result.output_for("a_datetime")
    assert isinstance(moment, RemoteRepr)
    assert moment.type_name == "datetime.datetime"
    assert moment == repr(datetime.datetime(2024, 5, 17, 12, 30))
    assert not isinstance(result.output_for("plain_data")["name"], RemoteRepr)


def test_output_for_an_unknown_op_lists_the_ops(ws: Workspace) -> None:
    result = ws.job("outputs_job").execute()
    with pytest.raises(NameLookupError) as info:
        result.output_for("a_sett")
    assert "did you mean 'a_set'?" in str(info.value)
    assert "a_datetime" in str(info.value)


# -- capture and logs --------------------------------------------------------------------


def test_what_a_job_prints_at_any_level_is_captured(ws: Workspace) -> None:
    result = ws.job("noisy_job").execute()
    assert result.success, result.error
    assert result.stdout.splitlines() == [
        "printed by noisy",
        "written to fd 1",
        "echoed by a subprocess",
    ]
    assert "printed to stderr\n" in result.stderr
    assert "written to fd 2\n" in result.stderr
    assert result.duration > 0


CAPTURE_MODULE = """\
import os
import sys

from pytest_workspace.definitions import job, op, repository


@op
def loud():
    print("x" * 200_000)  # more than one read of the scratch file
    os.write(2, b"to stderr\\n")


@job
def loud_job():
    loud()


@op
def quiet():
    return 1


@job
def quiet_job():
    quiet()


@repository
def capture_repository():
    return [loud_job, quiet_job]
"""


def test_each_call_captures_only_its_own_output(tmp_path: Path) -> None:
    module = tmp_path / "capture.py"
    module.write_text(CAPTURE_MODULE)
    with load_workspace(python_file=module, timeout=30) as ws:
        for _ in range(3):  # the worker reuses its scratch files from call to call
            loud = ws.job("loud_job").execute()
            assert loud.stdout == "x" * 200_000 + "\n"
            assert loud.stderr == "to stderr\n"
            quiet = ws.job("quiet_job").execute()
            assert (quiet.stdout, quiet.stderr) == ("", "")
            assert quiet.build is not None and quiet.build.stdout == ""


def test_logging_warnings_and_context_log_are_in_the_logs_with_op_names(
    ws: Workspace,
) -> None:
    result = ws.job("noisy_job").execute()
    user = [(r.level, r.logger, r.op_name, r.message) for r in result.logs if r.event is None]
    assert user == [
        ("WARNING", "cereal.audit", "noisy", "a warning from logging"),
        ("INFO", "pytest_workspace", "noisy", "an info from context.log"),
        ("WARNING", "pytest_workspace", "noisy", "a warning from context.log"),
    ]
    events = [r.event for r in result.logs if r.event is not None]
    assert events[0] == "RUN_START" and "STEP_START" in events
    timestamps = [r.timestamp for r in result.logs]
    assert timestamps == sorted(timestamps)


def test_debug_events_false_leaves_the_runs_debug_events_in_the_worker(ws: Workspace) -> None:
    full = ws.job("noisy_job").execute()
    short = ws.job("noisy_job").execute(debug_events=False)
    assert any(r.event is not None and r.level == "DEBUG" for r in full.logs)
    assert not any(r.event is not None and r.level == "DEBUG" for r in short.logs)

    # What the user logged stays, still attributed to its op, and so do the INFO events.
    def user(result: RunResult) -> List[Tuple[str, Optional[str], str]]:
        return [(r.level, r.op_name, r.message) for r in result.logs if r.event is None]

    assert user(short) == user(full) != []
    assert [r.event for r in short.logs if r.event is not None] == [
        r.event for r in full.logs if r.event is not None and r.level != "DEBUG"
    ]


def test_nothing_of_a_run_leaks_into_the_next(ws: Workspace) -> None:
    ws.job("noisy_job").execute()
    result = ws.job("quick_job").execute()
    assert result.stdout == "" and result.stderr == ""
    assert all(record.logger == "pytest_workspace" for record in result.logs)


# -- failures ----------------------------------------------------------------------------


def test_a_failing_op_fails_the_run_and_skips_what_is_downstream(ws: Workspace) -> None:
    result = ws.job("failing_job").execute()
    assert result.success is False
    assert result.failed_op == "explode"
    statuses = {name: step.status for name, step in result.step_results.items()}
    assert statuses == {"first": "success", "explode": "failure", "never_runs": "skipped"}
    assert result.output_for("first") == 1
    error = result.error
    assert isinstance(error, RemoteError)
    assert error.type_name == "ZeroDivisionError"
    traceback = error.remote_traceback
    assert "jobs.py" in traceback and "return value / 0" in traceback
    assert "in divide" in traceback and "in explode" in traceback
    assert "_worker.py" not in traceback and "pytest_workspace.definitions" not in traceback
    assert result.step_results["explode"].error is not None


def test_output_for_a_failed_or_skipped_op_says_why(ws: Workspace) -> None:
    result = ws.job("failing_job").execute()
    with pytest.raises(OutputNotAvailableError, match="failed with ZeroDivisionError"):
        result.output_for("explode")
    with pytest.raises(OutputNotAvailableError, match="skipped because op 'explode' failed"):
        result.output_for("never_runs")


def test_missing_run_config_raises_with_the_missing_keys(ws: Workspace) -> None:
    with pytest.raises(RunConfigError) as info:
        ws.job("config_job").execute()
    assert sorted(info.value.missing) == ["configured.count", "configured.label"]
    assert info.value.only_missing is True
    assert "count" in str(info.value)


def test_each_error_has_one_class_caught_through_every_import_path(ws: Workspace) -> None:
    import pytest_workspace
    import pytest_workspace.definitions as d
    import pytest_workspace.errors as e

    for name in ("RunConfigError", "OutputNotAvailableError"):
        assert getattr(pytest_workspace, name) is getattr(e, name) is getattr(d, name)
    assert issubclass(e.RemoteRunConfigError, e.RemoteError)
    assert issubclass(e.RemoteOutputNotAvailableError, WorkspaceError)

    # The fixture's own jobs, loaded in this process too: the definitions API raises there.
    spec = importlib.util.spec_from_file_location("api_jobs_in_process", API_JOBS)
    assert spec is not None and spec.loader is not None
    jobs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jobs)

    def run_config_errors() -> Iterator[d.RunConfigError]:
        for catch in (pytest_workspace.RunConfigError, e.RunConfigError, d.RunConfigError):
            try:  # on the host, from the location's error data
                ws.job("config_job").execute()
            except catch as remote:
                assert isinstance(remote, e.RemoteRunConfigError)
                yield remote
            try:  # in this process, raised by the definitions API itself
                jobs.config_job.execute_in_process()
            except catch as local:
                assert not isinstance(local, WorkspaceError)
                yield local

    remote, local, *others = run_config_errors()
    assert len(others) == 4
    assert remote.job_name == local.job_name == "config_job"
    assert sorted(remote.missing) == ["configured.count", "configured.label"]
    assert sorted(local.missing) == [("configured", "count"), ("configured", "label")]
    assert len(remote.problems) == len(local.problems) == 2
    assert "missing required config key 'count'" in " ".join(remote.problems)

    result = ws.job("failing_job").execute()
    for catch in (
        pytest_workspace.OutputNotAvailableError,
        e.OutputNotAvailableError,
        d.OutputNotAvailableError,
        LookupError,
    ):
        with pytest.raises(catch) as caught:
            result.output_for("never_runs")
        assert isinstance(caught.value, e.RemoteOutputNotAvailableError)
        assert (caught.value.op_name, caught.value.status) == ("never_runs", "skipped")
        with pytest.raises(catch) as caught:
            jobs.failing_job.execute_in_process(raise_on_error=False).output_for("explode")
        assert not isinstance(caught.value, WorkspaceError)
        assert (caught.value.op_name, caught.value.status) == ("explode", "failure")


def test_wrong_run_config_raises_and_good_config_runs(ws: Workspace) -> None:
    with pytest.raises(RunConfigError) as info:
        ws.job("config_job").execute({"ops": {"configured": {"config": {"count": "two"}}}})
    assert info.value.only_missing is False
    assert "'count' must be int" in str(info.value)
    result = ws.job("config_job").execute(
        {"ops": {"configured": {"config": {"count": 2, "label": "ab"}}}}
    )
    assert result.output_for("configured") == "abab"


def test_run_config_must_be_plain_data(ws: Workspace) -> None:
    with pytest.raises(TypeError, match="must be plain data"):
        ws.job("config_job").execute({"ops": {"configured": {"config": {"count": {1}}}}})


def test_execute_options_go_to_the_backend_which_refuses_unknown_ones(ws: Workspace) -> None:
    job = ws.job("config_job")
    with pytest.raises(RemoteError) as info:
        job.execute(resources={"warehouse": "fakes:warehouse"}, partition_key="2024-01-01")
    assert info.value.kind == "request"
    assert info.value.message == (
        "the definitions backend takes no execute option 'partition_key', 'resources'; "
        "it takes: none"
    )
    with pytest.raises(TypeError, match=r"execute options of job .* must be plain data"):
        job.execute(resources={"warehouse": object()})
    # The worker is fine and runs the job after the refused request.
    config = {"ops": {"configured": {"config": {"count": 1, "label": "x"}}}}
    assert job.execute(config, timeout=30).output_for("configured") == "x"


def test_sys_exit_in_an_op_is_an_error_of_the_run_not_of_the_worker(ws: Workspace) -> None:
    pid = ws.location("jobs.py").worker.pid
    result = ws.job("sys_exit_job").execute()
    assert result.success is False
    assert result.error is not None and result.error.type_name == "SystemExit"
    assert ws.location("jobs.py").worker.pid == pid


# -- threads -----------------------------------------------------------------------------


def test_concurrent_calls_to_one_location_are_answered_one_at_a_time(ws: Workspace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def run(name: str) -> bool:
        return ws.job(name).execute().success

    names = ["quick_job", "outputs_job", "other_job", "noisy_job"] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(run, names))


# -- life cycle --------------------------------------------------------------------------


def test_close_stops_every_worker_and_later_calls_say_so() -> None:
    with load_workspace(API_WORKSPACE, timeout=30) as workspace:
        pids = [loc.worker.pid for loc in workspace.locations]
        assert all(pid is not None and alive(pid) for pid in pids)
        job = workspace.job("quick_job")
    assert wait_gone([pid for pid in pids if pid is not None], timeout=10) == []
    with pytest.raises(WorkspaceError, match="closed"):
        job.execute()
    workspace.close()  # closing twice is fine


ATEXIT_MODULE = """
import atexit
import sys
import threading
import time

from pytest_workspace.definitions import job, op, repository


def goodbye():
    with open({marker!r}, "w") as handle:
        handle.write("clean-up ran")
    sys.stderr.write("bye from atexit\\n")


atexit.register(goodbye)
# A thread that never ends: closing must not wait for it.
threading.Thread(target=time.sleep, args=(3600,)).start()


@op
def one():
    return 1


@job
def quick():
    one()


@repository
def repo():
    return [quick]
"""


GC_MODULE = """
import gc

from pytest_workspace.definitions import job, op, repository

made_at_import = [object() for _ in range(1000)]


@op
def collector_state():
    return {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}


@op
def collect_own_cycle():
    cycle = []
    cycle.append(cycle)
    del cycle
    return gc.collect()


@job
def gc_job():
    collector_state()
    collect_own_cycle()


@repository
def repo():
    return [gc_job]
"""


def test_what_the_import_made_is_frozen_and_runs_collect_their_own_garbage(
    tmp_path: Path,
) -> None:
    module = tmp_path / "with_gc.py"
    module.write_text(GC_MODULE)
    with load_workspace(python_file=module, timeout=30) as workspace:
        result = workspace.job("gc_job").execute()
    assert result.success
    state = result.output_for("collector_state")
    # The collector runs again after the import, which skipped its passes...
    assert state["enabled"] is True
    # ...and what the import made sits in the permanent generation, never walked again.
    assert state["frozen"] >= 1000
    assert result.output_for("collect_own_cycle") >= 1


def test_close_runs_the_locations_atexit_handlers_and_waits_for_no_thread(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "atexit-ran.txt"
    module = tmp_path / "with_atexit.py"
    module.write_text(ATEXIT_MODULE.format(marker=str(marker)))
    with load_workspace(python_file=module, timeout=30) as workspace:
        assert workspace.job("quick").execute().success
        pid = workspace.locations[0].worker.pid
        assert pid is not None and not marker.exists()
    assert marker.read_text() == "clean-up ran"
    assert wait_gone([pid], timeout=10) == []


def test_several_paths_and_single_files_load_together() -> None:
    with load_workspace(
        [API_WORKSPACE], python_file=FIXTURES / "api" / "other.py", timeout=30
    ) as workspace:
        assert [loc.name for loc in workspace.locations] == ["jobs.py", "other", "other.py"]
        assert workspace.job("other.py/other_repository/other_job").execute().success


#: Each module records when its import starts, waits (up to a deadline) until every
#: module's import has started, and records when it ends: loaded one after another, the
#: first import would give up waiting and fail its location.
CONCURRENT_MODULE = """
import os, time
from pytest_workspace.definitions import job, op

FOLDER = {folder!r}
# The time is taken before the file appears (written aside, then renamed): whoever
# sees start_{index} knows its time is already in it.
with open(os.path.join(FOLDER, "partial_{index}"), "w") as handle:
    handle.write(repr(time.time()))
os.replace(os.path.join(FOLDER, "partial_{index}"), os.path.join(FOLDER, "start_{index}"))
deadline = time.monotonic() + 60
while len([n for n in os.listdir(FOLDER) if n.startswith("start_")]) < {count}:
    if time.monotonic() > deadline:
        raise RuntimeError("the other imports did not start while this one was in flight")
    time.sleep(0.02)
with open(os.path.join(FOLDER, "end_{index}"), "w") as handle:
    handle.write(repr(time.time()))

@op
def step():
    return {index}

@job
def slow_job_{index}():
    step()
"""


def test_locations_start_concurrently(tmp_path: Path) -> None:
    count = 4
    marks = tmp_path / "marks"
    marks.mkdir()
    files = []
    for index in range(count):
        module = tmp_path / f"slow_{index}.py"
        module.write_text(CONCURRENT_MODULE.format(folder=str(marks), index=index, count=count))
        files.append(module)
    with load_workspace(python_file=files, timeout=120) as workspace:
        assert [str(loc.load_error) for loc in workspace.locations if loc.load_error] == []
        assert workspace.job("slow_job_3").execute().output_for("step") == 3
    starts = [float((marks / f"start_{index}").read_text()) for index in range(count)]
    ends = [float((marks / f"end_{index}").read_text()) for index in range(count)]
    # All four imports were in flight at once: every one started before any one ended.
    assert max(starts) <= min(ends)


def test_a_location_runs_in_the_interpreter_it_names(tmp_path: Path) -> None:
    python38 = require_interpreter("3.8")
    workspace_file = tmp_path / "workspace.yaml"
    workspace_file.write_text(
        "load_from:\n  - python_file:\n"
        f"      relative_path: {json.dumps(str(FIXTURES / 'api' / 'other.py'))}\n"
        f"      executable_path: {json.dumps(python38)}\n"
    )
    with load_workspace(workspace_file, timeout=30) as workspace:
        (location,) = workspace.locations
        assert location.load_error is None
        assert location.python_version is not None and location.python_version[:2] == (3, 8)
        assert location.executable is not None and "3.8" in location.executable
        assert [repo.name for repo in location.repositories] == ["other_repository"]
        assert workspace.job("other_job").execute().output_for("greet") == "hello from other.py"


def test_members_say_where_they_are_declared_without_being_built() -> None:
    cereal = FIXTURES / "cereal" / "repos.py"
    lines = cereal.read_text().splitlines()
    with load_workspace(python_file=cereal, timeout=30) as workspace:
        job = workspace.job("complex_job")
        path, line = job.declared_at or ("", 0)
        assert path == str(cereal)
        # The lazy dict entry that declares it: found without building the job.
        assert '"complex_job": lambda: complex_job' in lines[line - 1]
        assert job.repository.constructed_job_names == []
        built = job.build()
        assert built.source is not None and lines[built.source[1] - 1] == "@job"


# -- one request per job, warnings ---------------------------------------------------------

WARNED_MODULE = """\
import warnings

from pytest_workspace.definitions import job, op, repository, schedule


class PipelineWarning(UserWarning):
    pass


class SilencedWarning(UserWarning):
    pass


# The user's own filter, set at import time: it still holds in later calls.
warnings.filterwarnings("ignore", category=SilencedWarning)
warnings.warn("importing warned.py", PipelineWarning)


@op
def warn_twice():
    warnings.warn("from an op", PipelineWarning)
    warnings.warn("from an op", PipelineWarning)
    warnings.warn("never recorded", SilencedWarning)
    print("op output")
    return 1


@job
def warning_job():
    warn_twice()


def build_warning_job():
    print("building warning_job")
    warnings.warn("while building", DeprecationWarning)
    return warning_job


@op(config_schema={"n": int})
def needs_n(context):
    return context.op_config["n"]


@job
def config_job():
    needs_n()


def build_broken_job():
    print("building broken_job")
    raise RuntimeError("cannot build")


@schedule("0 6 * * *", job_name="warning_job")
def warning_schedule(context):
    warnings.warn("while evaluating", PipelineWarning)
    return {}


@repository
def warned_repository():
    return {
        "jobs": {
            "warning_job": build_warning_job,
            "config_job": lambda: config_job,
            "broken_job": build_broken_job,
        },
        "schedules": {"warning_schedule": warning_schedule},
    }
"""


@pytest.fixture
def warned(tmp_path: Path) -> Iterator[Workspace]:
    module = tmp_path / "warned.py"
    module.write_text(WARNED_MODULE)
    with load_workspace(python_file=module, timeout=30) as workspace:
        assert workspace.load_errors == []
        yield workspace


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_execute_builds_and_runs_in_one_request_and_describes_the_build(
    warned: Workspace,
) -> None:
    result = warned.job("warning_job").execute()
    assert result.success
    build = result.build
    assert build is not None
    assert (build.name, build.key) == ("warning_job", "warning_job")
    assert build.op_names == ("warn_twice",)
    assert build.dependencies == {"warn_twice": ()}
    assert build.source is not None and build.source[0].endswith("warned.py")
    # What building printed is the build's; what the run printed is the run's.
    assert build.stdout == "building warning_job\n"
    assert result.stdout == "op output\n"
    # The job is built now: building again prints nothing, as build() does.
    again = warned.job("warning_job").execute()
    assert again.build is not None and again.build.stdout == ""
    assert warned.job("warning_job").build().name == "warning_job"


def test_run_reports_build_and_config_errors_that_execute_raises(warned: Workspace) -> None:
    broken = warned.job("broken_job").run()
    assert broken.build is None and broken.success is False and broken.step_results == {}
    assert broken.error is not None and broken.error.stage == "build"
    assert broken.error.type_name == "RuntimeError" and broken.error.message == "cannot build"
    assert broken.stdout == "building broken_job\n"  # a failed build's output is the run's
    with pytest.raises(RemoteError, match="cannot build") as info:
        warned.job("broken_job").execute()
    assert info.value.stage == "build"

    needs_config = warned.job("config_job").run()
    assert needs_config.build is not None and needs_config.build.name == "config_job"
    assert isinstance(needs_config.error, RunConfigError) and needs_config.error.stage == "config"
    with pytest.raises(RunConfigError):
        warned.job("config_job").execute()
    assert warned.job("config_job").execute({"ops": {"needs_n": {"config": {"n": 3}}}}).success


def test_warnings_of_each_call_are_recorded_in_the_location(
    warned: Workspace, tmp_path: Path
) -> None:
    source = (tmp_path / "warned.py").read_text()
    module_file = str(tmp_path / "warned.py")
    assert warned.locations[0].load_warnings == (
        RemoteWarning(
            "warned.PipelineWarning",
            "importing warned.py",
            module_file,
            line_of(source, '"importing warned.py"'),
        ),
    )
    result = warned.job("warning_job").execute()
    assert result.build is not None
    assert result.build.warnings == (
        RemoteWarning(
            "DeprecationWarning",
            "while building",
            module_file,
            line_of(source, '"while building"'),
        ),
    )
    # Every warning, repeats included; the user's own "ignore" filter still holds.
    first = line_of(source, '"from an op"')
    assert result.warnings == (
        RemoteWarning("warned.PipelineWarning", "from an op", module_file, first),
        RemoteWarning("warned.PipelineWarning", "from an op", module_file, first + 1),
    )
    evaluation = warned.schedule("warning_schedule").evaluate()
    assert [(w.category, w.message) for w in evaluation.warnings] == [
        ("warned.PipelineWarning", "while evaluating")
    ]
    assert warned.job("warning_job").build().warnings == ()  # built already: nothing new

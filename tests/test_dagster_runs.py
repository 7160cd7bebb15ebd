"""What a user sees of a Dagster run, once runs are made cheaper (issue 10, P4a).

A worker gathers each run's event log entries while the run runs (the instance's
listener of that run) instead of reading the whole log back from the instance after
it, imports what its instance needs with the garbage collector off, makes the instance
without Alembic's stamps, and takes a partitioned job's last key without listing its
keys. These tests
run real pytest sessions on real Dagster, one per supported Dagster line
(``dagster_versions.py``), and check what must not have changed: each run reports its
own events and ``context.log`` messages, in order and with their ops, and nothing of
another run (a second run of the same job, a run an op starts on the same instance);
failures, Python logging and Dagster's console log are reported as before; the
collector is on when user code runs; an instance user code makes is stamped as Dagster
stamps it; a partitioned job runs its last partition, which the worker now asks of the
partitions definition instead of listing every key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster_versions import SUPPORTED, DagsterLine
from processes import assert_no_worker_left, with_pid_recorder

LOCATION = '''\
"""Jobs whose runs log: events, context.log, Python logging, a run inside a run."""

import gc
import logging

import dagster as dg


@dg.op
def greet(context):
    context.log.info("hello from greet")
    logging.getLogger("shop.greeter").warning("a record of Python logging")
    return 1


@dg.op
def double(context, value):
    context.log.info(f"doubling {value}")
    return value * 2


@dg.job
def chatty():
    double(greet())


@dg.op
def explode(context):
    context.log.warning("about to fail")
    raise ValueError("the warehouse is on fire")


@dg.job
def failing():
    explode()


@dg.op
def inner_op(context):
    context.log.info("inside the inner run")
    return 7


@dg.job
def inner():
    inner_op()


@dg.op
def launch(context):
    result = inner.execute_in_process(instance=context.instance)
    context.log.info("the inner run is over")
    return [result.success, result.output_for_node("inner_op"), result.run_id]


@dg.job
def launcher():
    launch()


@dg.op
def collector_state():
    return gc.isenabled()


@dg.job
def collecting():
    collector_state()


def _stamps(instance):
    """Rows of Alembic's bookkeeping table in each in-memory storage of ``instance``."""
    import sqlalchemy as db

    rows = []
    for storage in (instance.run_storage, instance.event_log_storage):
        with storage._engine.connect() as conn:  # a shared-cache in-memory database
            if "alembic_version" not in db.inspect(conn).get_table_names():
                rows.append(0)
            else:
                rows.append(conn.execute(db.text("select count(*) from alembic_version")).scalar())
    return rows


@dg.op
def instance_state(context):
    own = dg.DagsterInstance.ephemeral()
    try:
        recorded = context.instance.get_run_by_id(context.run_id) is not None
        return [_stamps(context.instance), _stamps(own), recorded]
    finally:
        own.dispose()


@dg.job
def instances():
    instance_state()


# Time partitions with an end: their last key is known whenever the test runs.
hours = dg.HourlyPartitionsDefinition(start_date="2023-01-01-00:00", end_date="2026-01-01-00:00")


@dg.asset(partitions_def=hours)
def hourly_reading(context):
    return context.partition_key


hourly_job = dg.define_asset_job("hourly_job", selection=[hourly_reading], partitions_def=hours)

zones = dg.MultiPartitionsDefinition(
    {
        "date": dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2026-01-01"),
        "zone": dg.StaticPartitionsDefinition(["north", "south"]),
    }
)


@dg.op
def zone_reading(context):
    return str(context.partition_key)


@dg.job(partitions_def=zones)
def zones_job():
    zone_reading()


defs = dg.Definitions(
    assets=[hourly_reading],
    jobs=[chatty, failing, inner, launcher, collecting, instances, hourly_job, zones_job],
)
'''

TESTS = '''\
def _events(result):
    return [record.event for record in result.logs if record.event is not None]


def _messages(result):
    """The run's own user messages (context.log): (op, level, message)."""
    return [
        (record.op_name, record.level, record.message)
        for record in result.logs
        if record.event is None and record.logger == "dagster"
    ]


def test_each_run_reports_its_own_events(workspace_job):
    first = workspace_job("chatty").execute()
    second = workspace_job("chatty").execute()
    assert first.success and second.success
    assert first.run_id != second.run_id
    for result in (first, second):
        events = _events(result)
        assert events[0] == "RUN_START" and events[-1] == "RUN_SUCCESS"
        assert events.count("RUN_START") == 1 and events.count("RUN_SUCCESS") == 1
        assert events.count("STEP_START") == 2 and events.count("STEP_SUCCESS") == 2
        assert _messages(result) == [
            ("greet", "INFO", "hello from greet"),
            ("double", "INFO", "doubling 1"),
        ]
        steps = [r.op_name for r in result.logs if r.event == "STEP_SUCCESS"]
        assert steps == ["greet", "double"]
        python_logs = [r for r in result.logs if r.logger == "shop.greeter"]
        assert [(r.op_name, r.level, r.message) for r in python_logs] == [
            ("greet", "WARNING", "a record of Python logging")
        ]
        stamps = [record.timestamp for record in result.logs]
        assert stamps == sorted(stamps)
        assert result.output_for("double") == 2


def test_a_failed_run_reports_its_failure(workspace_job):
    result = workspace_job("failing").execute()
    assert not result.success
    events = _events(result)
    assert "STEP_FAILURE" in events and events[-1] == "RUN_FAILURE"
    assert _messages(result) == [("explode", "WARNING", "about to fail")]
    assert result.error.type_name == "ValueError"
    assert "the warehouse is on fire" in result.error.message
    assert result.step_results["explode"].status == "failure"


def test_a_run_started_by_an_op_keeps_its_events_to_itself(workspace_job):
    result = workspace_job("launcher").execute()
    assert result.success
    inner_success, inner_output, inner_run_id = result.output_for("launch")
    assert inner_success is True and inner_output == 7
    assert inner_run_id != result.run_id
    runs = [r.event for r in result.logs if r.event in ("RUN_START", "RUN_SUCCESS")]
    assert runs == ["RUN_START", "RUN_SUCCESS"]
    assert _messages(result) == [("launch", "INFO", "the inner run is over")]
    assert all("inside the inner run" not in r.message for r in result.logs)


def test_a_partitioned_job_runs_its_last_partition(workspace_job):
    hourly = workspace_job("hourly_job").execute()
    assert hourly.success and hourly.partition_key == "2025-12-31-23:00"
    assert hourly.output_for("hourly_reading") == "2025-12-31-23:00"
    assert [(a.asset_key, a.partition) for a in hourly.assets] == [
        ("hourly_reading", "2025-12-31-23:00")
    ]
    zoned = workspace_job("zones_job").execute()
    assert zoned.success and zoned.partition_key == "2025-12-31|south"
    assert zoned.output_for("zone_reading") == "2025-12-31|south"


def test_the_collector_is_on_when_jobs_run(workspace_job):
    assert workspace_job("collecting").execute().output_for("collector_state") is True


def test_the_workers_instance_is_made_without_alembic_stamps(workspace_job):
    # The worker's in-memory storages skip Alembic's stamp (nothing reads it); an
    # instance the user's code makes is stamped as Dagster stamps it; runs are recorded.
    ours, theirs, recorded = workspace_job("instances").execute().output_for("instance_state")
    assert ours == [0, 0]
    assert theirs == [1, 1]
    assert recorded is True
'''


def _session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python: Path) -> None:
    """A workspace file next to a test file, with the location's module beside them."""
    monkeypatch.setenv("DAGSTER_PYTHON", str(python))
    pytester.makeini("[pytest]\n")
    (pytester.path / "shop_runs.py").write_text(LOCATION)
    (pytester.path / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_file:\n"
        "      relative_path: shop_runs.py\n"
        "      location_name: shop\n"
        "      executable_path: ${DAGSTER_PYTHON}\n"
    )
    (pytester.path / "test_runs.py").write_text(TESTS)
    (pytester.path / "conftest.py").write_text(with_pid_recorder())


@pytest.mark.parametrize("line", SUPPORTED, ids=lambda line: f"dagster-{line.version}")
def test_runs_report_what_they_did(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    python_env,  # type: ignore[no-untyped-def]
    line: DagsterLine,
) -> None:
    python = python_env(line.python, name="dagster", packages=[line.requirement])
    _session(pytester, monkeypatch, python)
    result = pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "test_runs.py", "-p", "no:cacheprovider", "-rA"
    )
    # Nine job items (failing fails; __ASSET_JOB runs the hourly asset's last hour)
    # and the six tests.
    result.assert_outcomes(passed=14, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*job 'failing' failed during execution in op 'explode'*",
            "*ValueError: the warehouse is on fire*",
        ]
    )
    # The failed item's captured stderr holds Dagster's console log of the run.
    result.stdout.fnmatch_lines(["*Captured stderr*", "*STEP_FAILURE*"])
    result.stdout.fnmatch_lines([f"*Python {line.python}*"])
    assert_no_worker_left(pytester.path)

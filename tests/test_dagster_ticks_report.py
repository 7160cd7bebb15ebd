"""What a schedule's or sensor's tick produced or raised, as a pytest user reads it.

Each test writes a small Dagster project (``definitions.py`` next to a
``workspace.yaml``, the helpers of ``test_dagster_qa.py``), runs a real pytest session
on it with the location in a cached virtualenv of real Dagster, and checks the words
of the item's report (its ``Captured dagster call`` section, its failure) and what
``load_workspace`` users get. What was missing before is in each test's docstring.
"""

from __future__ import annotations

import pytest
from dagster_versions import DagsterLine
from processes import assert_no_worker_left
from test_dagster_qa import CUSTOMER_JOB, LINES, _project, _python, _run

from pytest_workspace import load_workspace

ASSET_EVENTS = """\
import dagster as dg


@dg.asset
def orders() -> None:
    pass


orders_job = dg.define_asset_job("orders_job", selection=[orders])
regions = dg.StaticPartitionsDefinition(["eu", "us"])


@dg.sensor(job=orders_job)
def warehouse_sensor():
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key="batch-7"),
            dg.RunRequest(asset_selection=[dg.AssetKey("orders")]),
        ],
        asset_events=[
            dg.AssetMaterialization(
                "external_table", partition="eu", metadata={"rows": 3}, description="loaded"
            ),
            dg.AssetObservation("vendor_feed", metadata={"age_minutes": 5}),
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("external_table"),
                check_name="has_rows",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="no rows in us",
            ),
        ],
    )


@dg.sensor(job=orders_job)
def feed_watcher():
    return dg.SensorResult(asset_events=[dg.AssetObservation(dg.AssetKey(["raw", "feed"]))])


@dg.sensor(job=orders_job)
def quiet_sensor():
    return dg.SkipReason("no new file in the bucket")
"""


@pytest.mark.parametrize("line", LINES)
def test_a_sensor_tick_says_the_runs_it_requests_and_the_asset_events_it_reports(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a sensor's item said nothing of what its tick did: a
    ``SensorResult(asset_events=[...])`` passed with no word of the materializations
    and observations the daemon would record (nor of the runs it asked for, or its
    skip reason), and ``Evaluation`` had no ``asset_events``. Now the item's report
    lists the tick's run requests, skip reason and asset events, one a line."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), ASSET_EVENTS)
    result = _run(pytester, workspace, "-k", "sensor or watcher")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ sensor warehouse_sensor _*",
            "*Captured dagster call*",
            "run request 0 (run_key 'batch-7'): job 'orders_job'",
            "run request 1 (assets orders): job 'orders_job'",
            "reported materialization of external_table [[]partition 'eu'[]]",
            "reported observation of vendor_feed",
            "reported check external_table:has_rows FAILED (WARN): no rows in us",
        ]
    )
    # A tick with asset events and no run request is one Dagster skips (records the events).
    result.stdout.fnmatch_lines(
        [
            "*_ sensor feed_watcher _*",
            "*Captured dagster call*",
            "skipped: Sensor function returned an empty result",
            "reported observation of raw/feed",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ sensor quiet_sensor _*",
            "*Captured dagster call*",
            "skipped: no new file in the bucket",
        ]
    )
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        evaluation = ws.sensor("warehouse_sensor").evaluate()
        watched = ws.sensor("feed_watcher").evaluate()
    assert evaluation.asset_events == (
        {
            "type": "materialization",
            "asset_key": "external_table",
            "partition": "eu",
            "description": "loaded",
            "metadata": {"rows": 3},
        },
        {
            "type": "observation",
            "asset_key": "vendor_feed",
            "partition": None,
            "description": None,
            "metadata": {"age_minutes": 5},
        },
        {
            "type": "check_evaluation",
            "asset_key": "external_table",
            "partition": None,
            "description": "no rows in us",
            "metadata": {},
            "check_name": "has_rows",
            "passed": False,
            "severity": "WARN",
        },
    )
    assert [request["run_key"] for request in evaluation.run_requests] == ["batch-7", None]
    assert [event["asset_key"] for event in watched.asset_events] == ["raw/feed"]
    assert watched.skip_reason == "Sensor function returned an empty result"


DYNAMIC_REQUESTS = (
    CUSTOMER_JOB
    + """

@dg.sensor(job=customer_job)
def onboarding_sensor():
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key="acme")],
        dynamic_partitions_requests=[
            customers.build_add_request(["acme", "bolt"]),
            customers.build_delete_request(["zeta"]),
        ],
    )


@dg.sensor(job=customer_job)
def offboarding_sensor():
    return dg.SensorResult(
        dynamic_partitions_requests=[dg.DeleteDynamicPartitionsRequest("customers", ["old"])]
    )
"""
)


@pytest.mark.parametrize("line", LINES)
def test_a_sensor_tick_says_which_dynamic_partitions_it_adds_and_deletes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: the ``dynamic_partitions_requests`` of a ``SensorResult`` were used to
    resolve its run requests, and then said nowhere: the item passed without a word of
    which keys the daemon would add to or delete from which partitions definition. Now
    the report says so, a line per request; the run request of a key the tick adds
    still resolves, and the requests are still not applied to the worker's instance."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), DYNAMIC_REQUESTS)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=2, skipped=2)  # __ASSET_JOB, customer_job: no partition yet
    result.stdout.fnmatch_lines(
        [
            "*_ sensor onboarding_sensor _*",
            "*Captured dagster call*",
            "run request 0: job 'customer_job', partition 'acme'",
            "dynamic partitions 'customers': add 'acme', 'bolt'",
            "dynamic partitions 'customers': delete 'zeta'",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ sensor offboarding_sensor _*",
            "*Captured dagster call*",
            "skipped: Sensor function returned an empty result",
            "dynamic partitions 'customers': delete 'old'",
        ]
    )
    result.stdout.fnmatch_lines(["SKIPPED*customer_job*'customers' has no partitions yet*"])
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        evaluation = ws.sensor("onboarding_sensor").evaluate()
    assert evaluation.dynamic_partitions_requests == (
        {"action": "add", "partitions_def": "customers", "partition_keys": ["acme", "bolt"]},
        {"action": "delete", "partitions_def": "customers", "partition_keys": ["zeta"]},
    )


TICK_ERRORS = """\
import dagster as dg


class CalendarError(Exception):
    pass


@dg.op
def load_calendar() -> None:
    raise CalendarError("no calendar for 2024")


@dg.job
def calendar_job():
    load_calendar()


@dg.op
def call_vendor() -> None:
    raise dg.Failure(description="the vendor API said 503", metadata={"status": 503})


@dg.job
def vendor_job():
    call_vendor()


@dg.schedule(cron_schedule="@daily", job=calendar_job)
def calendar_schedule():
    raise CalendarError("no calendar for today")


@dg.sensor(job=calendar_job)
def calendar_sensor():
    raise ValueError("bad calendar")


@dg.sensor(job=vendor_job)
def vendor_sensor():
    raise dg.Failure(
        description="the vendor API said 503",
        metadata={"status": 503, "docs": dg.MetadataValue.url("https://vendor.example/status")},
    )


@dg.schedule(cron_schedule="@hourly", job=vendor_job)
def vendor_schedule():
    raise dg.Failure(description="the vendor API is down", metadata={"retry_after": 60})
"""


@pytest.mark.parametrize("line", LINES)
def test_a_tick_that_raises_says_the_exception_as_an_op_that_raises_does(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a tick's exception of the user's module was named with its module
    (*definitions.CalendarError: no calendar for today*, *dagster._core.definitions.
    events.Failure: ...*) where an op's is named as Dagster names it (*CalendarError*,
    *Failure*); a ``dg.Failure``'s metadata was dropped (an op's follows its
    traceback); and the traceback kept Dagster's own frames (``user_code_error_boundary``,
    ``_wrapped_fn``), an op's only the user's. Now a tick's error reads like an op's."""
    monkeypatch.setenv("COLUMNS", "300")  # the summary's reasons, whole
    workspace = _project(pytester, monkeypatch, _python(python_env, line), TICK_ERRORS)
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(
        [
            "FAILED *::calendar_job - job 'calendar_job' failed in op 'load_calendar': "
            "CalendarError: no calendar for 2024",
            "FAILED *::vendor_job - job 'vendor_job' failed in op 'call_vendor': "
            "Failure: the vendor API said 503",
            "FAILED *::schedule:calendar_schedule - schedule 'calendar_schedule' failed its "
            "evaluation: CalendarError: no calendar for today",
            "FAILED *::schedule:vendor_schedule - schedule 'vendor_schedule' failed its "
            "evaluation: Failure: the vendor API is down",
            "FAILED *::sensor:calendar_sensor - sensor 'calendar_sensor' failed its "
            "evaluation: ValueError: bad calendar",
            "FAILED *::sensor:vendor_sensor - sensor 'vendor_sensor' failed its "
            "evaluation: Failure: the vendor API said 503",
        ]
    )
    # The traceback: the user's frames only, ending as the op's does.
    result.stdout.fnmatch_lines(
        [
            "*_ schedule calendar_schedule _*",
            "schedule 'calendar_schedule' failed its evaluation:",
            "Traceback (most recent call last):",
            '  File "*definitions.py", line *, in calendar_schedule',
            '    raise CalendarError("no calendar for today")',
            "definitions.CalendarError: no calendar for today",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ sensor vendor_sensor _*",
            "sensor 'vendor_sensor' failed its evaluation:",
            "Traceback (most recent call last):",
            '  File "*definitions.py", line *, in vendor_sensor',
            "*raise dg.Failure(",
            "dagster._core.definitions.events.Failure: the vendor API said 503",
            "metadata:",
            "  status: 503",
            "  docs: https://vendor.example/status",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ schedule vendor_schedule _*",
            "*",
            "dagster._core.definitions.events.Failure: the vendor API is down",
            "metadata:",
            "  retry_after: 60",
        ]
    )
    output = result.stdout.str()
    failures = output[output.index("= FAILURES =") : output.index("short test summary")]
    ticks = failures[failures.index("_ schedule calendar_schedule _") :]
    assert "user_code_error_boundary" not in ticks and "_wrapped_fn" not in ticks
    assert "evaluation: definitions." not in output and "evaluation: dagster." not in output
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        with pytest.raises(Exception) as raised:
            ws.sensor("vendor_sensor").evaluate()
        run = ws.job("vendor_job").execute()
    tick_error = raised.value
    op_error = run.step_results["call_vendor"].error
    assert op_error is not None and op_error.type_name == "Failure"
    assert tick_error.type_name == op_error.type_name  # type: ignore[attr-defined]
    assert tick_error.data["metadata"] == {  # type: ignore[attr-defined]
        "status": 503,
        "docs": "https://vendor.example/status",
    }
    assert tick_error.stage == "evaluate_sensor"  # type: ignore[attr-defined]

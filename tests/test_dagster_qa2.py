"""Dagster code as people write it today, run by pytest the way its users run it (second
round of QA, after ``test_dagster_qa.py``, whose helpers these tests share).

Each test writes a small project the way a Dagster user lays one out (``definitions.py``
next to a ``workspace.yaml`` and a ``conftest.py``), runs a real pytest session on it
(``runpytest_subprocess``) with the location in a cached virtualenv of real Dagster,
and checks the verdicts and the words a user reads. What broke before each fix is in
the test's docstring.
"""

from __future__ import annotations

import pytest
from dagster_versions import NEWEST, DagsterLine
from processes import assert_no_worker_left
from test_dagster_qa import LINES, WORKSPACE_YAML, _project, _python, _run

from pytest_workspace import AssetObservation, load_workspace

SOURCES = """\
import dagster as dg


@dg.observable_source_asset
def raw_orders_file(context) -> dg.DataVersion:
    context.log.info("looking at the orders file")
    return dg.DataVersion("v1")


@dg.multi_observable_source_asset(specs=[dg.AssetSpec("users"), dg.AssetSpec("events")])
def crm_tables():
    yield dg.ObserveResult(asset_key="users", data_version=dg.DataVersion("u9"))
    yield dg.ObserveResult(asset_key="events", data_version=dg.DataVersion("e4"))


@dg.observable_source_asset
def vendor_bucket() -> dg.DataVersion:
    raise ConnectionError("bucket vendor-drop is unreachable")


observe_orders = dg.define_asset_job("observe_orders", selection=[raw_orders_file])


@dg.sensor(job_name="__ASSET_JOB")
def orders_file_sensor():
    return dg.RunRequest(asset_selection=[dg.AssetKey("raw_orders_file")])
"""


@pytest.mark.parametrize("line", LINES)
def test_observable_source_assets_are_observed_and_a_failure_names_the_asset(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a location of observable source assets only had no ``__ASSET_JOB`` item
    (*no tests ran*): no item ran their observation functions, and a broken one went
    unnoticed. Where the job did run them (beside assets), the report said nothing of
    what was observed, and a failure named the op only. Now ``__ASSET_JOB`` observes
    them (what the UI's "Observe sources" runs), the report lists each observation with
    its data version, and a failure names the source asset."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), SOURCES)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "PASSED *::observe_orders",
            "PASSED *::sensor:orders_file_sensor",
            "FAILED *::__ASSET_JOB - *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "job '__ASSET_JOB' failed during execution in op 'vendor_bucket'",
            "*",
            "ConnectionError: bucket vendor-drop is unreachable (observing source asset "
            "'vendor_bucket')",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "observed users (op crm_tables): data version u9",
            "observed events (op crm_tables): data version e4",
        ]
    )
    result.stdout.fnmatch_lines(["observed raw_orders_file: data version v1"])
    # The job selecting the source asset observes it, and only it.
    result.stdout.fnmatch_lines(
        ["*_ job observe_orders _*", "*Captured dagster call*", "observed raw_orders_file: *"]
    )
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        run = ws.job("observe_orders").execute()
    assert run.success
    assert run.observations == (
        AssetObservation("raw_orders_file", op_name="raw_orders_file", data_version="v1"),
    )
    assert run.assets == ()


SOURCES_BESIDE_PARTITIONS = """\
import dagster as dg


@dg.observable_source_asset
def raw_orders_file() -> dg.DataVersion:
    return dg.DataVersion("v7")


@dg.asset(deps=[raw_orders_file], partitions_def=dg.DailyPartitionsDefinition("2024-01-01"))
def daily_orders() -> None:
    pass


regions = dg.StaticPartitionsDefinition(["eu", "us"])


@dg.observable_source_asset(partitions_def=regions)
def regional_files():
    return dg.DataVersionsByPartition({"eu": "e1", "us": "u1"})


@dg.asset(deps=[raw_orders_file, regional_files], partitions_def=regions)
def regional_orders() -> None:
    pass
"""


@pytest.mark.parametrize("line", LINES)
def test_materialize_all_over_several_partitions_definitions_observes_sources_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: ``__ASSET_JOB`` over assets of several partitions definitions ran one
    run per definition of the *materializable* assets only, so the source assets they
    depend on were never observed. Now the unpartitioned run observes them, first, and
    a partitioned source asset is observed in its definition's run (each partition
    its ``DataVersionsByPartition`` names, each said)."""
    workspace = _project(
        pytester, monkeypatch, _python(python_env, line), SOURCES_BESIDE_PARTITIONS
    )
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "observed raw_orders_file: data version v7",
            "materialized daily_orders [[]partition '*'[]]",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "observed raw_orders_file: data version v7",
            "observed regional_files [[]partition 'eu'[]]: data version e1",
            "observed regional_files [[]partition 'us'[]]: data version u1",
            "materialized regional_orders [[]partition 'us'[]]",
        ]
    )
    assert_no_worker_left(pytester.path)


FAILURES = """\
import dagster as dg


class ValidationError(Exception):
    pass


@dg.asset
def validated_orders() -> None:
    raise dg.Failure(
        description="3 rows failed validation",
        metadata={"bad_rows": dg.MetadataValue.int(3), "first_bad_id": "id=7"},
    )


@dg.asset
def checked_customers() -> None:
    raise ValidationError("customer 12 has no email")


@dg.asset(retry_policy=dg.RetryPolicy(max_retries=2))
def flaky_export(context: dg.AssetExecutionContext) -> None:
    if context.retry_number == 0:
        raise ConnectionError("export timed out")


@dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
def dead_export() -> None:
    raise ConnectionError("export service is down")


@dg.asset(deps=[flaky_export])
def export_summary() -> None:
    pass


@dg.asset
def polled_feed() -> None:
    try:
        raise TimeoutError("feed not ready")
    except TimeoutError as exc:
        raise dg.RetryRequested(max_retries=1) from exc


@dg.asset
def stock() -> None:
    pass


@dg.asset_check(asset=stock)
def stock_not_negative() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        description="negative stock",
        metadata={
            "bad_rows": 2,
            "sample": "pears",
            "rows": dg.MetadataValue.table(records=[dg.TableRecord({"fruit": "pears"})]),
        },
    )
"""


@pytest.mark.parametrize("line", LINES)
def test_failures_say_the_users_exception_its_metadata_and_the_retries(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: an exception class of the user's module was reported twice over
    (*ValidationError: definitions.ValidationError: customer 12 has no email*), a
    ``dg.Failure`` as *Failure: dagster._core.definitions.events.Failure: 3 rows failed
    validation* without its metadata, an asset whose ``RetryPolicy`` ran out as
    *RetryRequestedFromPolicy: Exceeded max_retries of 1* (the user's exception only in
    the traceback), and an asset that passed on a retry looked like one that never
    failed; a failed asset check's metadata was not shown either, and a check (passed
    or not) with table metadata (``MetadataValue.table``) failed the run's item in our
    own code (*Iteration is not allowed on `@record` TableRecord*). Now each reason is
    the user's exception, the metadata follows the traceback (or the check's line),
    and each retry is a warning in the item's log."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), FAILURES)
    monkeypatch.setenv("COLUMNS", "300")  # the summary's reasons, whole
    for asset in ("validated_orders", "checked_customers", "dead_export", "stock", "polled_feed"):
        job = f"only_{asset}"
        (pytester.path / "definitions.py").write_text(
            (pytester.path / "definitions.py").read_text()
            + f"\n{job} = dg.define_asset_job({job!r}, selection=[{asset!r}])\n"
        )
    result = _run(pytester, workspace, "--tb=short", "-k", "only_")
    result.assert_outcomes(failed=5)
    for reason in (
        "validated_orders': Failure: 3 rows failed validation",
        "checked_customers': ValidationError: customer 12 has no email",
        "dead_export': ConnectionError: export service is down (the last of 2 attempts: its "
        "RetryPolicy allows 1 retry)",
        "polled_feed': TimeoutError: feed not ready (the last of 2 attempts: 1 retry allowed)",
    ):
        result.stdout.fnmatch_lines([f"FAILED *::only_* - job 'only_*' failed in op '{reason}"])
    result.stdout.fnmatch_lines(
        [
            "*Failure: 3 rows failed validation",
            "metadata:",
            "  bad_rows: 3",
            "  first_bad_id: id=7",
        ]
    )
    # A failed check's metadata too.
    result.stdout.fnmatch_lines(
        [
            "AssetCheckFailed: asset check 'stock_not_negative' of asset 'stock' failed with "
            "severity ERROR: negative stock",
            "metadata:",
            "  bad_rows: 2",
            "  sample: pears",
            "  rows: TableMetadataValue(records=[[]TableRecord(data={'fruit': 'pears'})]*",
        ]
    )
    assert "RetryRequestedFromPolicy: Exceeded" not in result.stdout.str()
    result = _run(pytester, workspace, "-k", "__ASSET_JOB")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "WARNING *[[]flaky_export]: op 'flaky_export' failed with ConnectionError: export "
            "timed out, and is retried",
        ]
    )
    result.stdout.fnmatch_lines(["  success  flaky_export *", "  success  export_summary *"])
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        run = ws.job("only_validated_orders").execute()
    [step] = run.step_results.values()
    assert step.error is not None and step.error.data["metadata"] == {
        "bad_rows": 3,
        "first_bad_id": "id=7",
    }


FRESHNESS = """\
import datetime

import dagster as dg


@dg.asset
def hourly_orders() -> None:
    pass


vendor_prices = dg.AssetSpec("vendor_prices", description="loaded by the vendor")

freshness_checks = dg.build_last_update_freshness_checks(
    assets=[hourly_orders, "vendor_prices"], lower_bound_delta=datetime.timedelta(hours=1)
)
freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks)
"""


@pytest.mark.parametrize("line", LINES)
def test_a_freshness_checks_sensor_says_which_checks_it_requests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: the requests of ``build_sensor_for_freshness_checks`` were reported as
    ``asset_selection: []`` and nothing else, as if they ran nothing: they select
    checks, whose keys were dropped. Now they are ``asset_check_keys``. The checks run
    with ``__ASSET_JOB``, after the asset they watch; a check of an asset nothing has
    materialized fails with its severity (WARN by default: reported only)."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), FRESHNESS)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["materialized hourly_orders"])
    # The two checks are one op's, in an order of Dagster's choosing.
    result.stdout.fnmatch_lines(
        ["check hourly_orders:freshness_check passed (WARN): Asset is currently fresh*"]
    )
    result.stdout.fnmatch_lines(
        ["check vendor_prices:freshness_check FAILED (WARN): Asset has never been observed*"]
    )
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        evaluation = ws.sensor("freshness_checks_sensor").evaluate()
    [request] = evaluation.run_requests
    assert request["job_name"] == "__ASSET_JOB" and request["asset_selection"] == []
    assert sorted(request["asset_check_keys"]) == [
        "hourly_orders:freshness_check",
        "vendor_prices:freshness_check",
    ]


FILESYSTEM_IO_MANAGER = """\
import dagster as dg


@dg.asset
def raw_orders() -> list:
    return [3, 1, 2]


@dg.asset
def sorted_orders(raw_orders: list) -> list:
    return sorted(raw_orders)


defs = dg.Definitions(
    assets=[raw_orders, sorted_orders], resources={"io_manager": dg.FilesystemIOManager()}
)
"""


@pytest.mark.parametrize("line", LINES)
def test_a_filesystem_io_manager_without_base_dir_writes_nothing_into_the_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Not a bug, a question a user asks (docs/dagster.md, "Upstream assets"): where do
    the files of ``dg.FilesystemIOManager()`` go? Into the worker's instance's
    temporary folder, as Dagster makes it the storage directory; the downstream asset
    loads what the upstream one wrote, and the project folder is left as it was."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), FILESYSTEM_IO_MANAGER)
    result = _run(pytester, workspace, "-o", "log_level=DEBUG")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "DEBUG *[[]raw_orders]: Writing file at: /*/storage/raw_orders *",
            "DEBUG *[[]sorted_orders]: Loading file from: /*/storage/raw_orders *",
        ]
    )
    written = [path for path in pytester.path.rglob("*") if "orders" in path.name]
    assert written == [], f"the IO manager wrote into the project: {written}"
    assert str(pytester.path) not in "".join(
        line for line in result.stdout.lines if "Writing file at" in line
    )
    assert_no_worker_left(pytester.path)


SUBSETTABLE = """\
import dagster as dg


@dg.multi_asset(specs=[dg.AssetSpec("users"), dg.AssetSpec("events")], can_subset=True)
def crm_sync(context: dg.AssetExecutionContext):
    for key in sorted(context.selected_asset_keys):
        context.log.info(f"syncing {key.to_user_string()}")
        yield dg.MaterializeResult(asset_key=key)


users_job = dg.define_asset_job("users_job", selection=["users"])


@dg.sensor(target=[crm_sync])
def new_users_sensor():
    return dg.RunRequest(asset_selection=[dg.AssetKey("users")])


@dg.sensor(target=[crm_sync])
def typo_sensor():
    return dg.RunRequest(asset_selection=[dg.AssetKey("userz")])
"""


@pytest.mark.parametrize("line", LINES)
def test_a_subsettable_multi_asset_runs_the_selected_assets_only(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Not a bug: docs/dagster.md listed multi-asset subsetting (``can_subset=True``) as
    not supported, but a job selecting part of such a multi-asset runs that part only
    (``context.selected_asset_keys``), and a sensor's request for part of it is checked
    against the job subset the daemon would launch (a key the multi-asset lacks fails,
    naming the sensor)."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), SUBSETTABLE)
    result = _run(pytester, workspace)
    # __ASSET_JOB, users_job, each sensor's __anonymous_asset_job, new_users_sensor.
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ job users_job _*",
            "*Captured dagster call*",
            "materialized users (op crm_sync)",
            "*Captured log call*",
            "INFO * dagster [[]crm_sync]: syncing users",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*sensor 'typo_sensor': run request 0 (assets userz) selects assets that job*"]
    )
    result.stdout.fnmatch_lines(["PASSED *::sensor:new_users_sensor"])
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        run = ws.job("users_job").execute()
    assert [asset.asset_key for asset in run.assets] == ["users"]


GRAPH_ASSETS = """\
import dagster as dg


@dg.op
def fetch_orders() -> list:
    return [1, 2, 3]


@dg.op
def drop_small(rows: list) -> list:
    return [row for row in rows if row > 1]


@dg.op
def split_by_region(rows: list) -> list:
    raise ValueError(f"row {rows[0]} has no region")


@dg.graph_asset
def cleaned_orders() -> list:
    return drop_small(fetch_orders())


@dg.graph_multi_asset(outs={"large_orders": dg.AssetOut(), "regional_orders": dg.AssetOut()})
def order_views(cleaned_orders: list):
    large = drop_small(cleaned_orders)
    return large, split_by_region(large)


@dg.asset(pool="warehouse")
def pooled_orders(cleaned_orders: list) -> int:
    return len(cleaned_orders)
"""


@pytest.mark.parametrize("line", LINES)
def test_graph_backed_assets_report_their_ops(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Not a bug (docs/dagster.md's table): a graph-backed asset's ops are steps named
    ``asset.op``, what each asset was materialized by is said, and the failing op of a
    ``@graph_multi_asset`` fails the item, naming it, after its sibling output was
    materialized; an asset in a pool runs as any other."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), GRAPH_ASSETS)
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "job '__ASSET_JOB' failed during execution in op 'order_views.split_by_region'",
            "*",
            "ValueError: row 2 has no region",
            "*",
            "steps:",
            "  success  cleaned_orders.fetch_orders *",
            "  success  cleaned_orders.drop_small *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "materialized cleaned_orders (op cleaned_orders.drop_small)",
            "materialized *_orders*",
            "materialized *_orders*",
        ]
    )
    out = result.stdout.str()
    assert "materialized large_orders (op order_views.drop_small)" in out
    assert "materialized pooled_orders" in out
    assert "materialized regional_orders" not in out
    assert_no_worker_left(pytester.path)


BLOCKING_AND_TICKS = """\
import dagster as dg


@dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="orders", blocking=True)])
def orders():
    yield dg.Output([])
    yield dg.AssetCheckResult(check_name="has_rows", passed=False, description="no rows today")


@dg.asset(deps=[orders])
def orders_report() -> None:
    pass


@dg.schedule(cron_schedule="@daily", target=[orders_report])
def nightly_report(context: dg.ScheduleEvaluationContext):
    raise LookupError("no calendar for today")
"""


@pytest.mark.parametrize("line", LINES)
def test_a_blocking_check_and_a_failing_schedule_say_what_the_user_wrote(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a failed blocking check's item said *DagsterAssetCheckFailedError: 1
    blocking asset check failed with ERROR severity:* (its one line ending in a colon,
    the check's description nowhere in the error), and a schedule whose function raised
    said *ScheduleExecutionError: Error occurred during the evaluation of schedule
    nightly_report*, the user's exception only further down. Now each says the check's
    result, or the user's exception."""
    monkeypatch.setenv("COLUMNS", "300")
    workspace = _project(pytester, monkeypatch, _python(python_env, line), BLOCKING_AND_TICKS)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1, failed=2)  # the schedule's __anonymous_asset_job passes
    result.stdout.fnmatch_lines(
        [
            "FAILED *::__ASSET_JOB - job '__ASSET_JOB' failed in op 'orders': AssetCheckFailed: "
            "asset check 'has_rows' of asset 'orders' failed with severity ERROR: no rows "
            "today (a blocking check: the assets downstream of it did not run)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "FAILED *::schedule:nightly_report - schedule 'nightly_report' failed its "
            "evaluation: LookupError: no calendar for today",
        ]
    )
    result.stdout.fnmatch_lines(["  failure  orders *", "  skipped  orders_report *"])
    assert "ScheduleExecutionError" not in result.stdout.str()
    assert_no_worker_left(pytester.path)


MERGED_AT_MODULE_SCOPE = """\
import dagster as dg


@dg.asset
def orders() -> None:
    pass


@dg.asset
def churn_model() -> None:
    pass


analytics = dg.Definitions(assets=[orders])
ml = dg.Definitions(assets=[churn_model])
defs = dg.Definitions.merge(analytics, ml)
"""


def test_definitions_merged_at_module_scope_say_how_to_load_the_merge(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env
) -> None:  # type: ignore[no-untyped-def]
    """Before: a module that merges its parts with ``Definitions.merge`` at module scope
    (all three then are module-level ``Definitions``, which Dagster's loader refuses too)
    was told to *merge them (Definitions.merge)*, which it had done. Now the message
    names ``attribute`` with the merged one, and that way out works."""
    workspace = _project(pytester, monkeypatch, _python(python_env, NEWEST), MERGED_AT_MODULE_SCOPE)
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Found Definitions objects: definitions.analytics, definitions.ml, "
            "definitions.defs; as Dagster's loader, pytest-workspace loads one: set "
            "`attribute` to the one to load (attribute: defs), or keep only one at module "
            "scope*",
        ]
    )
    assert "merge them" not in result.stdout.str()
    workspace.write_text(
        WORKSPACE_YAML.replace(
            "      relative_path:", "      attribute: defs\n      relative_path:"
        )
    )
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["materialized churn_model", "materialized orders"])
    assert_no_worker_left(pytester.path)

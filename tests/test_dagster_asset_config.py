"""``__ASSET_JOB`` when some assets need run config the session does not give.

A location's implicit asset job (Dagster's "Materialize all") used to be skipped as a
whole as soon as one asset took a ``dg.Config`` with a required field, or used a
resource whose config is given at launch: one such asset hid every other asset of the
location from testing. Now the item materializes every asset that can run without that
config and leaves out those that need it, with what is downstream of them and their
asset checks, saying which and why; it is skipped only when no asset can run. A job
the user selected (``dg.define_asset_job``) is skipped as before.

Each test writes a small project (``definitions.py`` next to a ``workspace.yaml`` and a
``conftest.py``), runs a real pytest session on it (``runpytest_subprocess``) with the
location in the cached virtualenv of the newest supported Dagster, and checks the
verdicts and the words a user reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dagster_versions import NEWEST
from processes import assert_no_worker_left, with_pid_recorder
from test_dagster_qa import _project, _python, _run

from pytest_workspace import OutputNotAvailableError, RunConfigError, load_workspace

HINT = "supply it with the pytest_workspace_run_config hook in a conftest.py"


@pytest.fixture(scope="module")
def dagster_python(python_env) -> Path:  # type: ignore[no-untyped-def]
    """The python of a virtualenv with the newest supported Dagster (nothing of ours)."""
    return _python(python_env, NEWEST)


def _line(out: str, line: str) -> bool:
    """Whether ``line`` is a whole line of ``out``."""
    return re.search(rf"^{re.escape(line)}$", out, re.M) is not None


#: raw_orders, and tuned_report, which takes a Config with a required field.
TUNED_REPORT = """\
import dagster as dg


class TunedConfig(dg.Config):
    threshold: float


@dg.asset
def raw_orders() -> list:
    return [3, 8, 13]


@dg.asset
def tuned_report(config: TunedConfig, raw_orders: list) -> list:
    return [order for order in raw_orders if order > config.threshold]
"""

CONFIG_ASSET_AND_OTHERS = (
    TUNED_REPORT
    + """\


@dg.asset
def order_count(raw_orders: list) -> int:
    return len(raw_orders)


@dg.asset
def customers() -> list:
    return ["ada", "bob"]


@dg.asset_check(asset=raw_orders)
def raw_orders_not_empty(raw_orders: list) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bool(raw_orders))


@dg.asset_check(asset=tuned_report)
def tuned_report_small() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)
"""
)


def test_assets_that_need_no_config_run_and_the_config_asset_is_left_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    """Before: ``__ASSET_JOB`` was skipped (*needs run config it was not given: missing
    tuned_report.threshold*), so raw_orders, order_count and customers never ran."""
    workspace = _project(pytester, monkeypatch, dagster_python, CONFIG_ASSET_AND_OTHERS)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PASSED *::__ASSET_JOB"])
    out = result.stdout.str()
    for asset in ("raw_orders", "order_count", "customers"):
        assert _line(out, f"materialized {asset}"), out
    assert "materialized tuned_report" not in out
    assert _line(out, "check raw_orders:raw_orders_not_empty passed (ERROR)"), out
    # What was left out, and why: the missing key, named as the skip reason names it.
    assert _line(
        out, f"left out tuned_report: it needs run config it was not given: missing "
        f"tuned_report.threshold; {HINT}"
    ), out  # fmt: skip
    assert _line(
        out, "left out check tuned_report:tuned_report_small: its asset tuned_report is "
        "left out"
    ), out  # fmt: skip
    # The item's log says so too, as a warning.
    result.stdout.fnmatch_lines(
        ["WARNING *job '__ASSET_JOB' left out 1 asset (tuned_report) and 1 asset check "
         "(tuned_report:tuned_report_small) for run config it was not given: missing "
         f"tuned_report.threshold; {HINT}"]
    )  # fmt: skip
    assert_no_worker_left(pytester.path)

    # The Python API: a run that succeeded, with what it left out.
    with load_workspace(workspace, timeout=120) as ws:
        run = ws.job("__ASSET_JOB").execute()
        assert run.success, run.error
        assert {asset.asset_key for asset in run.assets} == {
            "raw_orders",
            "order_count",
            "customers",
        }
        assert [(left.asset_key, left.check_name, left.missing, left.upstream)
                for left in run.left_out] == [
            ("tuned_report", None, ("tuned_report.threshold",), None),
            ("tuned_report", "tuned_report_small", ("tuned_report.threshold",), "tuned_report"),
        ]  # fmt: skip
        assert run.step_results["tuned_report"].status == "skipped"
        with pytest.raises(
            OutputNotAvailableError,
            match=re.escape(
                "it was left out of the run: it needs run config it was not given: "
                "missing tuned_report.threshold"
            ),
        ):
            run.output_for("tuned_report")
        # The check's own op too: the left-out entry names the op that computes it.
        (check_op,) = [op for op in run.step_results if op.endswith("tuned_report_small")]
        with pytest.raises(
            OutputNotAvailableError,
            match="it was left out of the run: its asset tuned_report is left out",
        ):
            run.output_for(check_op)
        # Given the config, every asset runs and nothing is left out.
        config = {"ops": {"tuned_report": {"config": {"threshold": 5}}}}
        run = ws.job("__ASSET_JOB").execute(run_config=config)
        assert run.success, run.error
        assert run.left_out == ()
        assert run.output_for("tuned_report") == [8, 13]


CONFIG_ASSET_WITH_DOWNSTREAM = (
    TUNED_REPORT
    + """\


@dg.asset
def tuned_summary(tuned_report: list) -> int:
    return len(tuned_report)


@dg.asset(deps=[tuned_summary])
def tuned_dashboard() -> None:
    pass


@dg.asset(deps=[raw_orders])
def orders_dashboard() -> None:
    pass
"""
)


def test_assets_downstream_of_a_left_out_asset_are_left_out_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    """Before: the whole job was skipped. Now what is downstream of the asset needing
    config (loading its value, or only depending on it) is left out with it: it cannot
    run without it; the rest runs."""
    workspace = _project(pytester, monkeypatch, dagster_python, CONFIG_ASSET_WITH_DOWNSTREAM)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert _line(out, "materialized raw_orders"), out
    assert _line(out, "materialized orders_dashboard"), out
    for asset in ("tuned_report", "tuned_summary", "tuned_dashboard"):
        assert f"materialized {asset}" not in out
    assert _line(
        out, f"left out tuned_report: it needs run config it was not given: missing "
        f"tuned_report.threshold; {HINT}"
    ), out  # fmt: skip
    assert _line(out, "left out tuned_summary: it is downstream of tuned_report"), out
    assert _line(out, "left out tuned_dashboard: it is downstream of tuned_report"), out
    result.stdout.fnmatch_lines(
        ["WARNING *job '__ASSET_JOB' left out 3 assets (tuned_report, tuned_summary, "
         "tuned_dashboard) for run config it was not given: missing tuned_report.threshold*"]
    )  # fmt: skip
    assert_no_worker_left(pytester.path)


RESOURCE_NEEDING_CONFIG = """\
import dagster as dg


class Warehouse(dg.ConfigurableResource):
    api_key: str

    def orders(self) -> list:
        return [1, 2, 3]


@dg.asset
def warehouse_orders(warehouse: Warehouse) -> list:
    return warehouse.orders()


@dg.asset
def order_totals(warehouse_orders: list) -> int:
    return sum(warehouse_orders)


@dg.asset
def calendar() -> list:
    return ["2024-06-01"]


defs = dg.Definitions(
    assets=[warehouse_orders, order_totals, calendar],
    resources={"warehouse": Warehouse.configure_at_launch()},
)
"""


def _only_calendar_ran(pytester: pytest.Pytester, workspace: Path, **outcomes: int) -> str:
    """Run the session on :data:`RESOURCE_NEEDING_CONFIG` (or a variant): the asset that
    uses no warehouse ran, the one that does did not; returns the output."""
    result = _run(pytester, workspace)
    result.assert_outcomes(**outcomes)
    out = result.stdout.str()
    assert _line(out, "materialized calendar"), out
    assert "materialized warehouse_orders" not in out
    return out


def _every_asset_ran(pytester: pytest.Pytester, workspace: Path) -> None:
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    for asset in ("calendar", "warehouse_orders", "order_totals"):
        assert _line(out, f"materialized {asset}"), out
    assert "left out" not in out
    assert_no_worker_left(pytester.path)


FAKE_WAREHOUSE = """\
def pytest_workspace_resources(job):
    return {"warehouse": "fakes:warehouse"}
"""


def test_an_asset_using_a_resource_that_needs_config_is_left_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    """Before: the whole job was skipped for ``resources.warehouse.config.api_key``. Now
    only the assets using that resource (and what is downstream of them) are left out;
    with the resource replaced by the hook, they run."""
    workspace = _project(pytester, monkeypatch, dagster_python, RESOURCE_NEEDING_CONFIG)
    out = _only_calendar_ran(pytester, workspace, passed=1)
    assert _line(
        out, "left out warehouse_orders: it needs run config it was not given: missing "
        f"resources.warehouse.config.api_key; {HINT}"
    ), out  # fmt: skip
    assert _line(out, "left out order_totals: it is downstream of warehouse_orders"), out
    assert_no_worker_left(pytester.path)

    # The resource replaced: nothing needs config any more, every asset runs.
    (pytester.path / "fakes.py").write_text(
        "import dagster as dg\n\n"
        "class FakeWarehouse(dg.ConfigurableResource):\n"
        "    def orders(self) -> list:\n"
        "        return [5]\n\n"
        "warehouse = FakeWarehouse()\n"
    )
    (pytester.path / "conftest.py").write_text(with_pid_recorder(FAKE_WAREHOUSE))
    _every_asset_ran(pytester, workspace)


RESOURCE_READING_AN_UNSET_VARIABLE = RESOURCE_NEEDING_CONFIG.replace(
    '"warehouse": Warehouse.configure_at_launch()',
    '"warehouse": Warehouse(api_key=dg.EnvVar("WAREHOUSE_API_KEY"))',
)


def test_an_asset_whose_resource_reads_an_unset_variable_fails_after_the_rest_ran(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    """Before: Dagster refused the whole run (the variable is read as config), so no
    asset of the location was tested, and the item failed for it. Now the assets
    that do not use the resource run; the item still fails, naming the variable: a
    job that reads a variable nobody set cannot run as written (missing config only
    skips)."""
    monkeypatch.delenv("WAREHOUSE_API_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # -r lines whole, not cut at 80 columns
    workspace = _project(pytester, monkeypatch, dagster_python, RESOURCE_READING_AN_UNSET_VARIABLE)
    out = _only_calendar_ran(pytester, workspace, failed=1)
    assert _line(
        out, "left out warehouse_orders: it reads the environment variable "
        "WAREHOUSE_API_KEY (EnvVar), which is not set in the location's process"
    ), out  # fmt: skip
    assert _line(out, "left out order_totals: it is downstream of warehouse_orders"), out
    assert re.search(
        r"WARNING .*job '__ASSET_JOB' left out 2 assets \(warehouse_orders, order_totals\) "
        r"for environment variables not set: WAREHOUSE_API_KEY$",
        out,
        re.M,
    ), out
    assert re.search(
        r"^FAILED \S+::__ASSET_JOB - job '__ASSET_JOB' failed during execution: "
        r"DagsterInvalidConfigError: Error in config for job __ASSET_JOB: resource "
        r"'warehouse' \(its config field 'api_key'\) reads the environment variable "
        r"WAREHOUSE_API_KEY \(EnvVar\), which is not set",
        out,
        re.M,
    ), out
    assert_no_worker_left(pytester.path)

    # Set, as a .env next to the workspace file sets it: every asset runs and passes.
    (pytester.path / ".env").write_text("WAREHOUSE_API_KEY=secret\n")
    _every_asset_ran(pytester, workspace)


ALL_NEED_CONFIG = """\
import dagster as dg


class TunedConfig(dg.Config):
    threshold: float


@dg.asset
def tuned_report(config: TunedConfig) -> float:
    return config.threshold


@dg.asset
def tuned_summary(tuned_report: float) -> float:
    return tuned_report * 2
"""


def test_when_no_asset_can_run_the_job_is_skipped_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    workspace = _project(pytester, monkeypatch, dagster_python, ALL_NEED_CONFIG)
    result = _run(pytester, workspace)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [f"SKIPPED *job '__ASSET_JOB' needs run config it was not given: missing "
         f"tuned_report.threshold; {HINT}"]
    )  # fmt: skip
    assert_no_worker_left(pytester.path)
    with load_workspace(workspace, timeout=120) as ws:
        with pytest.raises(RunConfigError) as excinfo:
            ws.job("__ASSET_JOB").execute()
    assert excinfo.value.missing == ["tuned_report.threshold"]


USER_ASSET_JOB = (
    CONFIG_ASSET_AND_OTHERS
    + """\


orders_job = dg.define_asset_job(
    "orders_job", selection=dg.AssetSelection.assets("raw_orders", "tuned_report", "customers")
)
"""
)


def test_an_asset_job_the_user_defined_is_skipped_as_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    """The user's own selection: running part of it would not be the job they defined."""
    workspace = _project(pytester, monkeypatch, dagster_python, USER_ASSET_JOB)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["PASSED *::__ASSET_JOB"])
    result.stdout.fnmatch_lines(
        [f"SKIPPED *job 'orders_job' needs run config it was not given: missing "
         f"tuned_report.threshold; {HINT}"]
    )  # fmt: skip
    assert_no_worker_left(pytester.path)


PARTITIONED = (
    TUNED_REPORT
    + """\

daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
regions = dg.StaticPartitionsDefinition(["americas", "emea"])


@dg.asset(partitions_def=daily)
def daily_sales(context: dg.AssetExecutionContext, raw_orders: list) -> dict:
    return {"day": context.partition_key, "total": sum(raw_orders)}


@dg.asset(partitions_def=daily)
def daily_tuned(context: dg.AssetExecutionContext, tuned_report: list) -> int:
    return len(tuned_report)


class RegionConfig(dg.Config):
    currency: str


@dg.asset(partitions_def=regions)
def regional_report(context: dg.AssetExecutionContext, config: RegionConfig) -> str:
    return context.partition_key + config.currency
"""
)


def test_assets_of_several_partitions_definitions_still_run_each_at_its_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    """``__ASSET_JOB`` over several partitions definitions runs one run per definition:
    an asset needing config is left out of its run, and what is downstream of it of the
    runs after it; a definition all of whose assets need config does not run."""
    workspace = _project(pytester, monkeypatch, dagster_python, PARTITIONED)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert _line(out, "materialized raw_orders"), out
    assert re.search(r"^materialized daily_sales \[partition '\d{4}-\d\d-\d\d'\]$", out, re.M)
    for asset in ("tuned_report", "daily_tuned", "regional_report"):
        assert f"materialized {asset}" not in out
    assert _line(
        out, f"left out tuned_report: it needs run config it was not given: missing "
        f"tuned_report.threshold; {HINT}"
    ), out  # fmt: skip
    assert _line(out, "left out daily_tuned: it is downstream of tuned_report"), out
    assert _line(
        out, f"left out regional_report: it needs run config it was not given: missing "
        f"regional_report.currency; {HINT}"
    ), out  # fmt: skip
    assert_no_worker_left(pytester.path)
    # Keys from the hook: the same assets are left out of each key's runs.
    (pytester.path / "conftest.py").write_text(
        with_pid_recorder(
            'def pytest_workspace_partition_keys(job):\n    return ["emea", "2024-03-01"]\n'
        )
    )
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "partition 'emea': passed",
            "  materialized raw_orders",
            "  left out tuned_report: *",
            "  left out regional_report: *",
            "partition '2024-03-01': passed",
            "  materialized raw_orders",
            "  materialized daily_sales",
            "  left out tuned_report: *",
            "  left out daily_tuned: it is downstream of tuned_report",
        ]
    )
    assert_no_worker_left(pytester.path)

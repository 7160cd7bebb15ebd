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
from dagster_versions import DagsterLine
from processes import assert_no_worker_left
from test_dagster_qa import LINES, _project, _python, _run

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
            "observed raw_orders_file: data version v1",
        ]
    )
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


@dg.asset(deps=[raw_orders_file], partitions_def=dg.StaticPartitionsDefinition(["eu", "us"]))
def regional_orders() -> None:
    pass
"""


@pytest.mark.parametrize("line", LINES)
def test_materialize_all_over_several_partitions_definitions_observes_sources_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: ``__ASSET_JOB`` over assets of several partitions definitions ran one
    run per definition of the *materializable* assets only, so the source assets they
    depend on were never observed. Now the unpartitioned run observes them, first."""
    workspace = _project(
        pytester, monkeypatch, _python(python_env, line), SOURCES_BESIDE_PARTITIONS
    )
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "observed raw_orders_file: data version v7",
            "materialized daily_orders [[]partition '*'[]]",
            "materialized regional_orders [[]partition 'us'[]]",
        ]
    )
    assert_no_worker_left(pytester.path)

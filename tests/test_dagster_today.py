"""Dagster code as people write it today (SPEC section 6), on real Dagster, with no mocks.

The locations of ``fixtures/dagster_today/`` (a ``create-dagster`` project with
``@dg.definitions``, loose assets with checks, partitioned jobs, schedules and sensors
requesting partitions, a graph named by ``attribute``) run in cached virtualenvs with
Dagster installed, one per supported Dagster line (``dagster_versions.py``). The host
running these tests has no Dagster: the worker and the Dagster backend travel over the
gateway, and the location's interpreter has nothing of ours installed.
"""

from __future__ import annotations

import datetime
import importlib.util
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from dagster_versions import NEWEST, OLDER, DagsterLine
from processes import assert_no_worker_left, with_pid_recorder

from pytest_workspace import (
    PartitionsUnavailableError,
    RemoteDefinitionError,
    RemoteError,
    Workspace,
    load_workspace,
)
from pytest_workspace.dagster_checks import check_job_runs, run_summary

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dagster_today"
WORKSPACE = FIXTURES / "workspace.yaml"
REGIONS = ["americas", "emea", "apac"]
SEEDED = "shop.fakes:seeded_warehouse"


def _line_python(python_env, line: DagsterLine) -> Path:  # type: ignore[no-untyped-def]
    return python_env(line.python, name="dagster", packages=[line.requirement])


@pytest.fixture(scope="session")
def dagster_python(python_env) -> Path:  # type: ignore[no-untyped-def]
    """The python of a virtualenv with the newest supported Dagster (nothing of ours)."""
    return _line_python(python_env, NEWEST)


@pytest.fixture(scope="module")
def ws(dagster_python: Path) -> Iterator[Workspace]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_PYTHON", str(dagster_python))
        with load_workspace(WORKSPACE, timeout=120) as workspace:
            yield workspace


def _one_file_workspace(tmp_path: Path, source: str, attribute: str = "") -> Path:
    (tmp_path / "code.py").write_text(source)
    lines = [
        "load_from:",
        "  - python_file:",
        "      relative_path: code.py",
        "      executable_path: ${DAGSTER_PYTHON}",
    ]
    if attribute:
        lines.append(f"      attribute: {attribute}")
    (tmp_path / "workspace.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path / "workspace.yaml"


@contextmanager
def _one_file_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: Path, source: str
) -> Iterator[Workspace]:
    """The workspace of one file of Dagster code, loaded in ``python``."""
    monkeypatch.setenv("DAGSTER_PYTHON", str(python))
    with load_workspace(_one_file_workspace(tmp_path, source), timeout=120) as ws:
        yield ws


def _load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: Path, source: str,
                attribute: str = "") -> str:  # fmt: skip
    monkeypatch.setenv("DAGSTER_PYTHON", str(python))
    with load_workspace(_one_file_workspace(tmp_path, source, attribute), timeout=120) as ws:
        [location] = ws.locations
        assert location.load_error is not None, "the location loaded"
        return str(location.load_error)


# -- discovery, as Dagster's loader does it ---------------------------------------------------


def test_the_host_running_these_tests_has_no_dagster() -> None:
    # What every test here relies on: Dagster lives only in the locations' interpreters.
    assert importlib.util.find_spec("dagster") is None


def test_every_location_loads_in_the_dagster_interpreter(
    ws: Workspace, dagster_python: Path
) -> None:
    assert [loc.name for loc in ws.locations] == [
        "shop",
        "checks.py",
        "only_assets.py",
        "graphs.py:etl",
        "partitions.py",
        "dynamic.py",
    ]
    for location in ws.locations:
        assert location.load_error is None, location.load_error
        assert location.executable is not None
        assert Path(location.executable).parent == dagster_python.parent


def test_a_create_dagster_project_loads_through_its_definitions_function(ws: Workspace) -> None:
    # src/shop/definitions.py: @dg.definitions over load_from_defs_folder.
    [repo] = ws.location("shop").repositories
    assert repo.name == "__repository__"
    assert repo.job_names == ["__ASSET_JOB"]
    build = ws.job("shop/__repository__/__ASSET_JOB").build()
    # Assets and their checks, each check a step of its own.
    assert set(build.op_names) == {
        "raw_orders",
        "order_totals",
        "raw_orders_raw_orders_have_ids",
        "order_totals_no_huge_order",
    }


def test_a_module_of_loose_definitions_is_gathered_into_one_repository(ws: Workspace) -> None:
    # Assets, asset checks and an asset job at the top level, no Definitions.
    [repo] = ws.location("checks.py").repositories
    assert repo.name == "__repository__"
    assert repo.job_names == ["__ASSET_JOB", "inventory_job"]


def test_describing_asset_jobs_builds_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    # Dagster resolves asset jobs lazily; listing them must not resolve any (issue 10:
    # describe builds nothing), and building one builds that one only.
    source = (
        "import dagster as dg\n"
        "@dg.asset\ndef numbers(): return [1, 2]\n"
        "@dg.asset\ndef total(numbers): return sum(numbers)\n"
        "both_job = dg.define_asset_job('both_job', selection=['numbers', 'total'])\n"
        "numbers_job = dg.define_asset_job('numbers_job', selection=['numbers'])\n"
        "defs = dg.Definitions(assets=[numbers, total], jobs=[both_job, numbers_job])\n"
    )
    with _one_file_loaded(tmp_path, monkeypatch, dagster_python, source) as ws:
        [repo] = ws.location("code.py").repositories
        assert repo.job_names == ["__ASSET_JOB", "both_job", "numbers_job"]
        assert repo.constructed_job_names == []
        ws.job("numbers_job").build()
        assert repo.constructed_job_names == ["numbers_job"]


def test_a_module_holding_only_assets_materializes_them(ws: Workspace) -> None:
    [repo] = ws.location("only_assets.py").repositories
    assert (repo.name, repo.job_names) == ("__repository__", ["__ASSET_JOB"])
    result = ws.job("only_assets.py/__repository__/__ASSET_JOB").execute()
    assert result.success, result.error
    assert result.output_for("shout") == "HELLO!"
    assert [asset.asset_key for asset in result.assets] == ["greeting", "shout"]


def test_attribute_naming_a_graph_makes_it_a_job(ws: Workspace) -> None:
    [repo] = ws.location("graphs.py:etl").repositories
    assert repo.name == "__repository__etl"
    assert repo.job_names == ["etl"]
    result = ws.job("etl").execute()
    assert result.success, result.error
    assert result.output_for("transform") == [1, 2, 3]
    assert result.output_for("load") == 3


@pytest.mark.parametrize(
    ("source", "attribute", "dagster_words"),
    [
        pytest.param(
            "import dagster as dg\nVERSION = 1\n",
            "",
            "No Definitions, RepositoryDefinition, Job, Pipeline, Graph, or AssetsDefinition "
            'found in "code"',
            id="nothing-found",
        ),
        pytest.param(
            "import dagster as dg\n"
            "@dg.op\ndef one(): return 1\n"
            "@dg.graph\ndef first(): one()\n"
            "@dg.graph\ndef second(): one()\n",
            "",
            'More than one graph found in "code"',
            id="two-graphs",
        ),
        pytest.param(
            "import dagster as dg\n"
            "@dg.op\ndef one(): return 1\n"
            "@dg.job\ndef first(): one()\n"
            "@dg.job\ndef second(): one()\n",
            "",
            'No repository and more than one job found in "code"',
            id="two-jobs",
        ),
        pytest.param(
            "import dagster as dg\ndefs = dg.Definitions()\nother = dg.Definitions()\n",
            "",
            "Cannot have more than one Definitions object defined at module scope. "
            "Found Definitions objects: code.defs, code.other",
            id="two-definitions",
        ),
        pytest.param(
            "import dagster as dg\n"
            "@dg.definitions\ndef defs(): return dg.Definitions()\n"
            "@dg.definitions\ndef more(): return dg.Definitions()\n",
            "",
            "Cannot have more than one function decorated with @definitions",
            id="two-definitions-functions",
        ),
        pytest.param(
            "import dagster as dg\n@dg.definitions\ndef defs(): return 42\n",
            "",
            "Function must return a Definitions or RepositoryDefinition object",
            id="definitions-function-returns-garbage",
        ),
        pytest.param(
            "import dagster as dg\nTABLE = 'orders'\n",
            "TABLE",
            "not a repository or a job",
            id="attribute-not-loadable",
        ),
    ],
)
def test_load_errors_about_dagster_code_speak_dagster(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dagster_python: Path,
    source: str,
    attribute: str,
    dagster_words: str,
) -> None:
    message = _load_error(tmp_path, monkeypatch, dagster_python, source, attribute)
    assert dagster_words in message
    assert "code.py" in message
    # Never our definitions API's advice for Dagster code.
    assert "pytest_workspace.definitions" not in message


def test_attribute_naming_a_definitions_function_or_a_loose_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    source = (
        "import dagster as dg\n"
        "@dg.asset\ndef orders(): return [1, 2]\n"
        "@dg.definitions\ndef defs(): return dg.Definitions(assets=[orders])\n"
    )
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    for attribute in ("defs", "orders"):
        workspace = _one_file_workspace(tmp_path, source, attribute)
        with load_workspace(workspace, timeout=120) as ws:
            [repo] = ws.repositories
            assert (repo.name, repo.job_names) == ("__repository__", ["__ASSET_JOB"])
            assert ws.job("__ASSET_JOB").execute().output_for("orders") == [1, 2]


# -- assets and asset checks ------------------------------------------------------------------


def test_a_failed_error_check_fails_the_run_and_every_check_is_reported(ws: Workspace) -> None:
    result = ws.job("inventory_job").execute()
    assert not result.success
    assert result.failed_op == "inventory_no_negative_stock"
    assert result.error is not None
    assert result.error.type_name == "AssetCheckFailed"
    assert result.error.message == (
        "asset check 'no_negative_stock' of asset 'inventory' failed with severity ERROR: "
        "negative stock: pears"
    )
    checks = {check.check_name: (check.passed, check.severity) for check in result.asset_checks}
    assert checks == {
        "inventory_has_products": (True, "ERROR"),
        "no_negative_stock": (False, "ERROR"),
        "plenty_of_plums": (False, "WARN"),  # a warning does not fail the run
    }
    assert [asset.asset_key for asset in result.assets] == ["inventory"]


# -- resources ----------------------------------------------------------------------------------


def test_a_resource_is_replaced_in_the_locations_process(ws: Workspace) -> None:
    job = ws.job("shop/__repository__/__ASSET_JOB")
    # The production warehouse: no database here, so the first asset fails.
    unreplaced = job.execute()
    assert not unreplaced.success
    assert unreplaced.failed_op == "raw_orders"
    assert unreplaced.error is not None
    assert unreplaced.error.type_name == "OperationalError"
    # A factory (a function of the project, called with no arguments)...
    seeded = job.execute(resources={"warehouse": SEEDED})
    assert seeded.success, seeded.error
    assert seeded.output_for("order_totals") == {"count": 3, "amount": 1250}
    assert {a.asset_key for a in seeded.assets} == {"raw_orders", "order_totals"}
    warnings = [c for c in seeded.asset_checks if not c.passed]
    assert [(c.check_name, c.severity, c.metadata) for c in warnings] == [
        ("no_huge_order", "WARN", {"amount": 1250})
    ]
    # ... or a resource object.
    empty = job.execute(resources={"warehouse": "shop.fakes:empty_warehouse"})
    assert empty.success, empty.error
    assert empty.output_for("order_totals") == {"count": 0, "amount": 0}


@pytest.mark.parametrize(
    ("resources", "words"),
    [
        ({"warehouse": "shop.fakez:seeded_warehouse"}, "cannot import module 'shop.fakez'"),
        ({"warehouse": "shop.fakes:seeded_warhouse"}, "did you mean 'seeded_warehouse'?"),
        ({"warehouse": "shop.fakes.seeded_warehouse"}, "is not an import path"),
        ({"wharehouse": SEEDED}, "did you mean 'warehouse'?"),
        ({"warehouse": "shop.fakes:Warehouse"}, "needs arguments (path)"),
    ],
)
def test_a_bad_resource_path_names_the_key_and_the_path(
    ws: Workspace, resources: dict, words: str
) -> None:
    result = ws.job("shop/__repository__/__ASSET_JOB").execute(resources=resources)
    assert not result.success
    assert result.error is not None
    [key] = resources
    assert f"resource {key!r} of job '__ASSET_JOB'" in result.error.message
    assert words in result.error.message
    assert result.step_results == {}  # no op ran


# -- partitions ---------------------------------------------------------------------------------


def test_a_partitioned_job_runs_its_last_partition(ws: Workspace) -> None:
    region = ws.job("region_report_job").execute()
    assert region.success, region.error
    assert region.partition_key == "apac"  # the last key of its static partitions
    # Its op config came from the partition: the job was not skipped for run config.
    assert region.output_for("region_report") == "report of apac"

    daily = ws.job("daily_sales_job").execute()
    assert daily.success, daily.error
    assert daily.partition_key is not None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", daily.partition_key)
    assert daily.partition_key >= "2024-01-01"
    # The asset read that key from context.partition_key.
    assert daily.output_for("daily_sales")["day"] == daily.partition_key
    assert [(a.asset_key, a.partition) for a in daily.assets] == [
        ("daily_sales", daily.partition_key)
    ]


def test_a_chosen_partition_runs_and_an_unknown_one_is_refused(ws: Workspace) -> None:
    result = ws.job("region_report_job").execute(partition_key="emea")
    assert result.success and result.partition_key == "emea"
    assert result.output_for("region_report") == "report of emea"
    sales = ws.job("daily_sales_job").execute(partition_key="2024-02-29")
    assert sales.output_for("daily_sales")["day"] == "2024-02-29"
    with pytest.raises(RemoteError) as excinfo:
        ws.job("region_report_job").execute(partition_key="mars")
    assert "job 'region_report_job' has no partition 'mars'" in str(excinfo.value)
    with pytest.raises(RemoteError) as excinfo:
        ws.job("etl").execute(partition_key="2024-01-01")
    assert "job 'etl' has no partitions definition" in str(excinfo.value)


def test_a_job_over_empty_dynamic_partitions_cannot_run(ws: Workspace) -> None:
    for name in ("customer_job", "dynamic.py/__repository__/__ASSET_JOB"):
        with pytest.raises(PartitionsUnavailableError) as excinfo:
            ws.job(name).execute()
        assert "DynamicPartitionsDefinition 'customers' has no partitions yet" in str(excinfo.value)


# -- schedules and sensors, evaluated as the daemon does --------------------------------------


def test_a_schedule_built_from_a_partitioned_job_requests_a_partition(ws: Workspace) -> None:
    evaluation = ws.schedule("daily_sales_job_schedule").evaluate()
    assert evaluation.job_name == "daily_sales_job"
    [request] = evaluation.run_requests
    assert request["job_name"] == "daily_sales_job"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", request["partition_key"])
    assert request["tags"]["dagster/partition"] == request["partition_key"]


def test_a_schedule_gets_a_scheduled_time_of_now(ws: Workspace) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).date()
    evaluation = ws.schedule("every_region").evaluate()
    after = datetime.datetime.now(datetime.timezone.utc).date()
    assert [r["partition_key"] for r in evaluation.run_requests] == REGIONS
    # Each run key is "<region>-<scheduled day>": the day the tick was scheduled for.
    days = {r["run_key"][len(region) + 1 :] for r, region in zip(evaluation.run_requests, REGIONS)}
    [day] = days
    assert before.isoformat() <= day <= after.isoformat()
    # Dagster resolved each partition's run config, as the daemon does.
    assert evaluation.run_requests[1]["run_config"] == {
        "ops": {"region_report": {"config": {"region": "emea"}}}
    }


def test_a_sensor_knows_its_name_and_has_no_cursor(ws: Workspace) -> None:
    evaluation = ws.sensor("region_files").evaluate()
    assert evaluation.skip_reason is None
    assert [r["run_key"] for r in evaluation.run_requests] == [
        f"region_files:{region}" for region in REGIONS
    ]
    assert [r["partition_key"] for r in evaluation.run_requests] == REGIONS


@pytest.fixture(scope="module")
def bad_requests(dagster_python: Path) -> Iterator[Workspace]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_PYTHON", str(dagster_python))
        with load_workspace(FIXTURES / "bad_requests_workspace.yaml", timeout=120) as workspace:
            yield workspace


def test_a_request_for_an_unknown_partition_is_refused(bad_requests: Workspace) -> None:
    with pytest.raises(RemoteDefinitionError) as excinfo:
        bad_requests.sensor("unknown_region").evaluate()
    message = str(excinfo.value)
    assert "sensor 'unknown_region'" in message
    assert "Could not find a partition with key `mars`" in message


def test_a_request_with_invalid_run_config_is_refused(bad_requests: Workspace) -> None:
    with pytest.raises(RemoteDefinitionError) as excinfo:
        bad_requests.schedule("misconfigured").evaluate()
    message = str(excinfo.value)
    assert "schedule 'misconfigured': run request 0" in message
    assert "not valid for job 'count_job'" in message
    assert "root:ops:count:config:limit" in message


def test_an_asset_selection_request_for_an_unknown_partition_is_refused(
    bad_requests: Workspace,
) -> None:
    with pytest.raises(RemoteDefinitionError) as excinfo:
        bad_requests.sensor("unknown_region_of_assets").evaluate()
    message = str(excinfo.value)
    assert "sensor 'unknown_region_of_assets'" in message
    assert "Could not find a partition with key `mars`" in message
    # the control: a key of the selected assets' partitions runs the implicit asset job
    (request,) = bad_requests.sensor("known_region_of_assets").evaluate().run_requests
    assert (request["partition_key"], request["tags"]["dagster/partition"]) == ("emea", "emea")


@pytest.mark.parametrize(
    ("sensor", "job"),
    [("misconfigured_stock", "__ASSET_JOB"), ("misconfigured_subset", "shop_job")],
)
def test_an_asset_selection_request_with_invalid_run_config_is_refused(
    bad_requests: Workspace, sensor: str, job: str
) -> None:
    with pytest.raises(RemoteDefinitionError) as excinfo:
        bad_requests.sensor(sensor).evaluate()
    message = str(excinfo.value)
    assert f"sensor '{sensor}': run request 0 (run_key 'ten') (assets stock)" in message
    assert f"not valid for job '{job}' subset to its assets" in message
    assert "root:ops:stock:config:limit" in message


@pytest.mark.parametrize("sensor", ["configured_stock", "prices_of_shop_job"])
def test_an_asset_selection_request_is_checked_against_its_subset_only(
    bad_requests: Workspace, sensor: str
) -> None:
    # prices alone needs no config, although the whole job needs stock's
    requests = bad_requests.sensor(sensor).evaluate().run_requests
    assert requests[-1]["run_key"] == "prices" and requests[-1]["run_config"] == {}


# -- the instance -------------------------------------------------------------------------------


def test_no_run_reads_values_another_run_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    # downstream_job selects `total` without its upstream asset: on a fresh instance it
    # cannot load `numbers`. Materializing `numbers` first, in another item of the same
    # worker, must not change that verdict.
    source = (
        "import dagster as dg\n"
        "@dg.asset\ndef numbers(): return [1, 2, 3]\n"
        "@dg.asset\ndef total(numbers): return sum(numbers)\n"
        "downstream_job = dg.define_asset_job('downstream_job', selection=['total'])\n"
        "defs = dg.Definitions(assets=[numbers, total], jobs=[downstream_job])\n"
    )
    with _one_file_loaded(tmp_path, monkeypatch, dagster_python, source) as ws:
        alone = ws.job("downstream_job").execute()
        everything = ws.job("__ASSET_JOB").execute()
        after = ws.job("downstream_job").execute()
    assert everything.success and everything.output_for("total") == 6
    assert not alone.success and not after.success
    assert after.failed_op == alone.failed_op == "total"
    assert after.error is not None and alone.error is not None
    assert after.error.type_name == alone.error.type_name


def test_one_ephemeral_instance_per_worker_and_nothing_in_dagster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PYTHON", str(dagster_python))
    source = (FIXTURES / "instance_probe.py").read_text()
    with load_workspace(_one_file_workspace(tmp_path, source), timeout=120) as ws:
        job = ws.job("instance_probe_job")
        first = job.execute().output_for("runs_seen")
        second = job.execute().output_for("runs_seen")
        ws.job("instance_probe_job").build()
    assert first["ephemeral"] is True
    assert first["dagster_home"] == str(home)  # set, and still not used
    # The second run sees the first one: both ran on the worker's one instance.
    assert (first["runs"], second["runs"]) == (1, 2)
    assert list(home.iterdir()) == []


def test_runs_see_dagsters_import_frozen_and_their_own_garbage_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    # docs/dagster.md, "The instance": what the process held before the instance was
    # made is in the collector's permanent generation; what a run makes is collected.
    source = (
        "import gc, weakref\n"
        "import dagster as dg\n"
        "class Node: pass\n"
        "@dg.op\n"
        "def probe():\n"
        "    node = Node(); node.me = node; ref = weakref.ref(node); del node\n"
        "    gc.collect()\n"
        "    return {'frozen': gc.get_freeze_count(), 'cycle_collected': ref() is None}\n"
        "@dg.job\n"
        "def gc_probe_job(): probe()\n"
        "defs = dg.Definitions(jobs=[gc_probe_job])\n"
    )
    with _one_file_loaded(tmp_path, monkeypatch, dagster_python, source) as ws:
        result = ws.job("gc_probe_job").execute()
    assert result.success, result.error
    seen = result.output_for("probe")
    assert seen["cycle_collected"] is True
    assert seen["frozen"] > 10_000  # Dagster's import alone makes far more objects


# -- the checks, without pytest ----------------------------------------------------------------


def test_the_job_check_runs_each_partition_and_says_which_failed(ws: Workspace) -> None:
    check = check_job_runs(ws.job("region_report_job"), partition_keys=["emea", "mars", "apac"])
    assert check.failed
    assert check.reason.startswith(
        "job 'region_report_job' failed for partition 'mars' (1 of 3 partitions): "
    )
    assert "Could not find a partition with key `mars`" in check.report
    assert run_summary(check).splitlines() == [
        "partition 'emea': passed",
        "partition 'mars': failed",
        "partition 'apac': passed",
    ]
    passed = check_job_runs(
        ws.job("shop/__repository__/__ASSET_JOB"), resources={"warehouse": SEEDED}
    )
    assert passed.passed, passed.report
    assert run_summary(passed).splitlines() == [
        "materialized raw_orders",
        "materialized order_totals",
        "check raw_orders:raw_orders_have_ids passed (ERROR)",
        "check order_totals:no_huge_order FAILED (WARN)",
    ]
    nothing = check_job_runs(ws.job("daily_sales_job"), partition_keys=[])
    assert nothing.skipped and "returned no key" in nothing.reason
    skipped = check_job_runs(ws.job("customer_job"))
    assert skipped.skipped and "has no partitions yet" in skipped.reason


# -- real pytest sessions -----------------------------------------------------------------------

CONFTEST = """
def pytest_workspace_resources(job):
    if job.location.name == "shop":
        return {"warehouse": "shop.fakes:seeded_warehouse"}
"""


def _session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python: Path,
             conftest: str = CONFTEST) -> Path:  # fmt: skip
    """The fixtures copied into the session's folder, with ``conftest`` beside the
    workspace file (its hooks apply to the workspace files below it). Returns the
    workspace file."""
    monkeypatch.setenv("DAGSTER_PYTHON", str(python))
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES, pytester.path / "dagster_today")
    (pytester.path / "dagster_today" / "conftest.py").write_text(with_pid_recorder(conftest))
    return pytester.path / "dagster_today" / "workspace.yaml"


def _assert_today_session(result: pytest.RunResult) -> None:
    # shop: __ASSET_JOB; checks.py: __ASSET_JOB, inventory_job (both fail on the ERROR
    # check); only_assets.py: __ASSET_JOB; graphs.py:etl: etl; partitions.py: three jobs,
    # two schedules, a sensor; dynamic.py: two jobs, skipped.
    result.assert_outcomes(passed=9, failed=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*job 'inventory_job' failed during execution in op 'inventory_no_negative_stock'*",
            "*asset check 'no_negative_stock' of asset 'inventory' failed with severity ERROR*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*customer_job*DynamicPartitionsDefinition 'customers' has no partitions yet*"]
    )


def test_pytest_runs_todays_dagster_code(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    workspace = _session(pytester, monkeypatch, dagster_python)
    result = pytester.runpytest_subprocess(str(workspace), "-p", "no:cacheprovider", "-rA")
    _assert_today_session(result)
    # The reports list each asset materialized and each check's result, and the partition:
    # in the failure report...
    failures = result.stdout.str().split("short test summary")[0]
    assert "Captured dagster call" in failures
    result.stdout.fnmatch_lines(
        [
            "*_ job inventory_job _*",
            "*Captured dagster call*",
            "materialized inventory",
            "check inventory:inventory_has_products passed (ERROR)",
            "check inventory:no_negative_stock FAILED (ERROR): negative stock: pears",
            "check inventory:plenty_of_plums FAILED (WARN)",
        ]
    )
    # ... and for passed items under -rA (-rP).
    result.stdout.fnmatch_lines(
        [
            "*_ job __ASSET_JOB _*",
            "*Captured dagster call*",
            "materialized raw_orders",
            "materialized order_totals",
            "check raw_orders:raw_orders_have_ids passed (ERROR)",
            "check order_totals:no_huge_order FAILED (WARN)",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*_ job region_report_job _*", "*Captured dagster call*", "partition 'apac': passed"]
    )
    assert_no_worker_left(workspace.parent, at_least=6)


def test_a_session_fails_the_sensors_whose_asset_requests_the_daemon_would_refuse(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    workspace = _session(pytester, monkeypatch, dagster_python)
    result = pytester.runpytest_subprocess(
        str(workspace.with_name("bad_requests_workspace.yaml")), "-p", "no:cacheprovider",
        "-rA", "-k", "sensor",
    )  # fmt: skip
    # failed: unknown_region(_of_assets), misconfigured_stock, misconfigured_subset;
    # passed: their controls known_region_of_assets, configured_stock, prices_of_shop_job
    result.assert_outcomes(passed=3, failed=4)
    result.stdout.fnmatch_lines(
        [
            "PASSED *::sensor:configured_stock",
            "PASSED *::sensor:known_region_of_assets",
            "PASSED *::sensor:prices_of_shop_job",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*sensor 'misconfigured_stock': run request 0 (run_key 'ten') (assets stock) has "
            "run config that is not valid for job '__ASSET_JOB' subset to its assets*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*sensor 'unknown_region_of_assets' *Could not find a partition with key `mars`*"]
    )
    assert_no_worker_left(workspace.parent)


def test_the_partition_keys_hook_runs_each_key_and_names_the_failed_ones(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dagster_python: Path
) -> None:
    workspace = _session(
        pytester,
        monkeypatch,
        dagster_python,
        CONFTEST
        + """
def pytest_workspace_partition_keys(job):
    if job.name == "daily_sales_job":
        return ["2024-01-01", "2024-01-02"]
    if job.name == "region_report_job":
        return ["emea", "mars"]
    if job.name == "customer_job":
        return ["acme"]
""",
    )
    # Only the partitioned locations: a second workspace file next to the first one.
    partitioned = workspace.with_name("partitioned.yaml")
    partitioned.write_text(
        "load_from:\n"
        "  - python_file: {relative_path: partitions.py, executable_path: '${DAGSTER_PYTHON}'}\n"
        "  - python_file: {relative_path: dynamic.py, executable_path: '${DAGSTER_PYTHON}'}\n"
    )
    result = pytester.runpytest_subprocess(
        str(partitioned), "-p", "no:cacheprovider", "-rA",
        "-k", "daily_sales_job or region_report_job or customer_job",
    )  # fmt: skip
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*job 'region_report_job' failed for partition 'mars' (1 of 2 partitions)*",
            "*partition 'mars': job 'region_report_job' failed during execution*",
            "*has no partition 'mars'*Could not find a partition with key `mars`*",
            "*Captured dagster call*",
            "partition 'emea': passed",
            "partition 'mars': failed",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ job daily_sales_job _*",
            "*Captured dagster call*",
            "partition '2024-01-01': passed",
            "  materialized daily_sales",
            "partition '2024-01-02': passed",
            "  materialized daily_sales",
        ]
    )
    # A key of dynamic partitions is added to the worker's instance, then runs.
    result.stdout.fnmatch_lines(
        ["*_ job customer_job _*", "*Captured dagster call*", "partition 'acme': passed"]
    )
    # The logs of every partition's run are kept.
    result.stdout.fnmatch_lines(
        [
            "*PASSES*",
            "*_ job daily_sales_job _*",
            "*Captured log call*",
            "INFO * dagster ?daily_sales?: computing the sales of 2024-01-01",
            "INFO * dagster ?daily_sales?: computing the sales of 2024-01-02",
        ]
    )


def test_the_older_supported_dagster_line_runs_the_same_code(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    python_env,  # type: ignore[no-untyped-def]
) -> None:
    python = _line_python(python_env, OLDER)
    workspace = _session(pytester, monkeypatch, python)
    result = pytester.runpytest_subprocess(str(workspace), "-p", "no:cacheprovider", "-rA")
    _assert_today_session(result)
    result.stdout.fnmatch_lines(["*Python 3.9*"])
    assert_no_worker_left(workspace.parent, at_least=6)

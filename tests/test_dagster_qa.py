"""Dagster code as people write it today, run by pytest the way its users run it.

Each test writes a small project the way a Dagster user lays one out (``definitions.py``
next to a ``workspace.yaml`` and a ``conftest.py``), runs a real pytest session on it
(``runpytest_subprocess``) with the location in a cached virtualenv of real Dagster
(``dagster_versions.py``), and checks the verdicts and the words a user reads. Each test
here was a finding of exploratory QA: what broke before its fix is in its docstring.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from dagster_versions import NEWEST, SUPPORTED, DagsterLine
from processes import assert_no_worker_left, with_pid_recorder

from pytest_workspace import load_workspace

WORKSPACE_YAML = """\
load_from:
  - python_file:
      relative_path: definitions.py
      executable_path: ${DAGSTER_PYTHON}
"""

LINES = [pytest.param(line, id=f"dagster-{line.version}") for line in SUPPORTED]


def _python(python_env, line: DagsterLine) -> Path:  # type: ignore[no-untyped-def]
    return python_env(line.python, name="dagster", packages=[line.requirement])


def _project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    python: Path,
    definitions: str,
    conftest: str = "",
) -> Path:
    """``definitions.py``, ``workspace.yaml`` and ``conftest.py`` in the session's folder;
    returns the workspace file."""
    monkeypatch.setenv("DAGSTER_PYTHON", str(python))
    pytester.makeini("[pytest]\n")
    (pytester.path / "definitions.py").write_text(textwrap.dedent(definitions))
    (pytester.path / "conftest.py").write_text(with_pid_recorder(textwrap.dedent(conftest)))
    workspace = pytester.path / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    return workspace


def _run(pytester: pytest.Pytester, workspace: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--workspace", str(workspace), "-p", "no:cacheprovider", "-rA", *args
    )


#: An asset job over dynamic partitions ``customers``, with none added yet.
CUSTOMER_JOB = """\
import dagster as dg

customers = dg.DynamicPartitionsDefinition(name="customers")


@dg.asset(partitions_def=customers)
def customer_report() -> None:
    pass


customer_job = dg.define_asset_job("customer_job", selection=[customer_report])
"""

DYNAMIC_TICKS = (
    CUSTOMER_JOB
    + """

@dg.sensor(job=customer_job)
def new_customer_sensor(context: dg.SensorEvaluationContext):
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key="acme")],
        dynamic_partitions_requests=[customers.build_add_request(["acme"])],
    )


@dg.sensor(job=customer_job)
def unknown_customer_sensor(context: dg.SensorEvaluationContext):
    return dg.RunRequest(partition_key="zeta")


@dg.schedule(cron_schedule="0 0 * * *", job=customer_job)
def nightly_customers(context: dg.ScheduleEvaluationContext):
    for key in context.instance.get_dynamic_partitions("customers"):
        yield dg.RunRequest(partition_key=key)
    yield dg.SkipReason("no customer yet")
"""
)


@pytest.mark.parametrize("line", LINES)
def test_a_sensor_adding_dynamic_partitions_may_request_runs_of_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: every tick requesting a dynamic partition failed in Dagster's own *The
    instance is not available to load partitions* (the tick's context had no
    ``instance_ref``), even the documented ``SensorResult`` that adds the key it asks
    for; and a schedule reading ``context.instance`` failed with *no instance reference
    was provided*. Now a request is resolved as the daemon resolves it, against the
    instance plus the tick's own ``dynamic_partitions_requests``, and a schedule's
    ``context.instance`` is the worker's instance."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), DYNAMIC_TICKS)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=2, failed=1, skipped=2)  # __ASSET_JOB, customer_job
    result.stdout.fnmatch_lines(
        [
            "PASSED *::schedule:nightly_customers",
            "PASSED *::sensor:new_customer_sensor",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*sensor 'unknown_customer_sensor' requested a run of a partition its target*"
            "does not have*zeta*",
        ]
    )
    assert "not available to load partitions" not in result.stdout.str()
    # What the sensor's tick added is not written to the worker's instance: the job
    # still has no partition (no item's verdict depends on the order items ran in).
    result.stdout.fnmatch_lines(["SKIPPED*customer_job*'customers' has no partitions yet*"])
    assert_no_worker_left(pytester.path)


AUTOMATION = """\
import dagster as dg


@dg.asset(automation_condition=dg.AutomationCondition.missing())
def nightly_report() -> None:
    pass


@dg.asset(deps=[nightly_report], automation_condition=dg.AutomationCondition.eager())
def report_summary() -> None:
    pass


class TunedConfig(dg.Config):
    threshold: float


@dg.asset(automation_condition=dg.AutomationCondition.missing())
def tuned_report(config: TunedConfig) -> None:
    pass


tuned = dg.AutomationConditionSensorDefinition(
    "tuned_automation", target=dg.AssetSelection.assets("tuned_report")
)
"""


@pytest.mark.parametrize("line", LINES)
def test_declarative_automation_is_evaluated_as_its_first_tick(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: any asset with an ``automation_condition`` (``AutomationCondition.eager()``
    is in Dagster's tutorials) made Dagster's ``default_automation_condition_sensor``
    an item that always failed with *NotImplementedError: Automation condition sensors
    cannot be evaluated like regular user-space sensors*. Now it is evaluated with
    Dagster's ``evaluate_automation_conditions``, as the daemon's first tick."""
    python = _python(python_env, line)
    workspace = _project(pytester, monkeypatch, python, AUTOMATION)
    result = _run(pytester, workspace)
    # __ASSET_JOB runs without tuned_report, which needs config.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["PASSED *::sensor:default_automation_condition_sensor"])
    assert "NotImplementedError" not in result.stdout.str()
    # What a tick requests is checked as the daemon would launch it: a run of an asset
    # needing config it does not get would fail.
    result.stdout.fnmatch_lines(
        [
            "*sensor 'tuned_automation': run request 0 (assets tuned_report) has run config "
            "that is not valid for job '__ASSET_JOB' subset to its assets*",
        ]
    )
    assert_no_worker_left(pytester.path)
    # What the tick requests: the missing asset, not yet the one waiting for it.
    with load_workspace(workspace, timeout=120) as ws:
        evaluation = ws.sensor("default_automation_condition_sensor").evaluate()
    assert evaluation.skip_reason is None
    [request] = evaluation.run_requests
    assert request["asset_selection"] == ["nightly_report"]
    assert request["job_name"] == "__ASSET_JOB"
    assert request["partition_key"] is None and request["tags"] == {}


ENV_VAR_RESOURCE = """\
import dagster as dg


class WarehouseResource(dg.ConfigurableResource):
    api_key: str

    def orders(self) -> list:
        return [1, 2, 3]


@dg.asset
def orders(warehouse: WarehouseResource) -> list:
    return warehouse.orders()


defs = dg.Definitions(
    assets=[orders],
    resources={"warehouse": WarehouseResource(api_key=dg.EnvVar("WAREHOUSE_API_KEY"))},
)
"""


@pytest.mark.parametrize("line", LINES)
def test_an_unset_env_var_of_a_resource_names_the_resource_and_what_to_do(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: *Error in config for job __ASSET_JOB*, Dagster's post-processing message
    and a traceback of Dagster's config frames only, naming neither the resource nor a
    way out. Now the resource, its field and the variable come first, with what to do."""
    monkeypatch.delenv("WAREHOUSE_API_KEY", raising=False)
    python = _python(python_env, line)
    workspace = _project(pytester, monkeypatch, python, ENV_VAR_RESOURCE)
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Error in config for job __ASSET_JOB: resource 'warehouse' (its config field "
            "'api_key') reads the environment variable WAREHOUSE_API_KEY (EnvVar), which is "
            "not set in the location's process. Set it in a .env file the location reads, "
            "as Dagster reads it (its project's, or the one next to its workspace file), or "
            "in the environment pytest starts in*pytest_workspace_resources hook.",
            "Dagster says:",
            '*You have attempted to fetch the environment variable "WAREHOUSE_API_KEY"*',
        ]
    )
    assert "post_process.py" not in result.stdout.str()  # no Dagster frames
    assert_no_worker_left(pytester.path)
    # The way out the message gives: a conftest.py setting the variable.
    (pytester.path / "conftest.py").write_text(
        with_pid_recorder('import os\nos.environ["WAREHOUSE_API_KEY"] = "test-key"\n')
    )
    _run(pytester, workspace).assert_outcomes(passed=1)
    # The other: a .env next to workspace.yaml, as `dagster dev` run there reads it.
    (pytester.path / "conftest.py").write_text(with_pid_recorder())
    (pytester.path / ".env").write_text("WAREHOUSE_API_KEY=dev-key\n")
    _run(pytester, workspace).assert_outcomes(passed=1)


MIXED_PARTITIONS = """\
import dagster as dg

daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
regions = dg.StaticPartitionsDefinition(["americas", "emea"])
customers = dg.DynamicPartitionsDefinition(name="customers")


@dg.asset
def raw_orders() -> list:
    return [{"region": "emea", "amount": 3}]


@dg.asset(partitions_def=daily)
def daily_sales(context: dg.AssetExecutionContext, raw_orders: list) -> dict:
    return {"day": context.partition_key, "total": sum(o["amount"] for o in raw_orders)}


@dg.asset_check(asset=daily_sales)
def daily_sales_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset(partitions_def=regions)
def regional_report(context: dg.AssetExecutionContext) -> str:
    return context.partition_key


@dg.asset(partitions_def=customers)
def customer_report() -> None:
    pass


warehouse_orders = dg.AssetSpec("warehouse_orders")  # loaded by another tool


@dg.asset_check(asset="warehouse_orders")
def warehouse_orders_loaded() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)
"""


@pytest.mark.parametrize("line", LINES)
def test_materialize_all_runs_each_partitions_definition_at_its_latest_partition(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a module with partitioned and unpartitioned assets (the usual project) had
    an ``__ASSET_JOB`` item that ran every asset in one run without a partition, so each
    partitioned asset failed in *Cannot access partition_key for a non-partitioned run*
    although nothing was wrong with the code. Now it runs as "Materialize all" does: a
    run per partitions definition, at its last key, unpartitioned assets first."""
    python = _python(python_env, line)
    workspace = _project(pytester, monkeypatch, python, MIXED_PARTITIONS)
    result = _run(pytester, workspace)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "non-partitioned run" not in out
    # daily_sales loaded raw_orders, which the run before it stored; each partitioned
    # asset ran at the last key of its own definition.
    assert re.search(r"^materialized raw_orders$", out, re.M), out
    assert re.search(r"^materialized daily_sales \[partition '\d{4}-\d\d-\d\d'\]$", out, re.M)
    assert "materialized regional_report [partition 'emea']" in out
    assert "check daily_sales:daily_sales_positive passed (ERROR)" in out
    assert "check warehouse_orders:warehouse_orders_loaded passed (ERROR)" in out
    # The dynamic partitions definition has no key yet: its asset did not run, saying so.
    result.stdout.fnmatch_lines(
        ["WARNING *assets customer_report did not run: its DynamicPartitionsDefinition "
         "'customers' has no partitions yet*"]
    )  # fmt: skip
    assert "materialized customer_report" not in out
    # Keys from the hook run the assets whose definition has them (and the unpartitioned
    # ones); a key no definition has is refused.
    (pytester.path / "conftest.py").write_text(
        with_pid_recorder(
            'def pytest_workspace_partition_keys(job):\n    return ["emea", "2024-03-01", "mars"]\n'
        )
    )
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*job '__ASSET_JOB' failed for partition 'mars' (1 of 3 partitions)*",
            "*job '__ASSET_JOB' has no partition 'mars': none of its assets' partitions "
            "definitions has it*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "partition 'emea': passed",
            "  materialized raw_orders",
            "  materialized regional_report",
            "partition '2024-03-01': passed",
            "  materialized raw_orders",
            "  materialized daily_sales",
        ]
    )
    result.stdout.fnmatch_lines(["WARNING *assets daily_sales did not run: no partition 'emea'"])
    assert_no_worker_left(pytester.path)


BROKEN_DEFINITIONS = {
    "definitions.py": """\
import dagster as dg


@dg.asset
def orders() -> list:
    return [1, 2]


orders_job = dg.define_asset_job("orders_job", selection=["orderz"])  # a typo
daily_orders = dg.ScheduleDefinition(job=orders_job, cron_schedule="@daily")
""",
    "duplicates.py": """\
import dagster as dg


@dg.asset(name="orders")
def orders_from_api() -> None: ...


@dg.asset(name="orders")
def orders_from_files() -> None: ...


defs = dg.Definitions(assets=[orders_from_api, orders_from_files])
""",
    "healthy.py": """\
import dagster as dg


@dg.asset
def customers() -> list:
    return ["acme"]
""",
}


@pytest.mark.parametrize("line", LINES)
def test_an_asset_job_selecting_a_missing_asset_says_which_and_breaks_nothing_else(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a ``define_asset_job`` selecting a misspelt asset failed with Dagster's
    *Failed to resolve asset job orders_job* alone, which does not say what is wrong
    (Dagster says it in the exception's cause, which was dropped). Now the cause, with
    Dagster's *did you mean*, follows. A location Dagster refuses (duplicate asset keys)
    fails its own load item only."""
    monkeypatch.setenv("COLUMNS", "400")  # -r lines whole, not cut at 80 columns
    python = _python(python_env, line)
    workspace = _project(pytester, monkeypatch, python, BROKEN_DEFINITIONS["definitions.py"])
    for name in ("duplicates.py", "healthy.py"):
        (pytester.path / name).write_text(BROKEN_DEFINITIONS[name])
    workspace.write_text(
        "load_from:\n"
        + "".join(
            f"  - python_file:\n      relative_path: {name}\n"
            "      executable_path: ${DAGSTER_PYTHON}\n"
            for name in BROKEN_DEFINITIONS
        )
    )
    result = _run(pytester, workspace)
    out = result.stdout.str()
    # Dagster 1.13 raises "Failed to resolve asset job" from the subset error; 1.11 the
    # subset error itself.
    cause = (
        r"(DagsterInvalidDefinitionError: Failed to resolve asset job orders_job\n"
        r"caused by )?"
        + re.escape(
            "DagsterInvalidSubsetError: AssetKey(s) ['orderz'] were selected, but no "
            "AssetsDefinition objects supply these keys"
        )
    )
    job = "Dagster could not build job 'orders_job' of repository '__repository__': "
    assert re.search(re.escape(job) + cause, out), out
    # The schedule targeting it says so, not with a traceback of Dagster's frames.
    # (Its target is built before its tick, so that a tick that skips fails too.)
    schedule = (
        "schedule 'orders_job_schedule' targets job 'orders_job', so the daemon would "
        "launch none of its runs: " + job
    )
    assert re.search(re.escape(schedule) + cause, out), out
    assert "in resolve_unresolved_job_def" not in out
    # The one-line reason says what Dagster found wrong, not that it could not build.
    assert re.search(
        r"^FAILED \S+::orders_job - job 'orders_job' failed to build: "
        + re.escape("DagsterInvalidSubsetError: AssetKey(s) ['orderz'] were selected"),
        out,
        re.M,
    ), out
    # Nor does the report name our type as if the user should import it from us.
    assert "pytest_workspace.definitions" not in out, out
    assert re.search(
        r"^InvalidDefinitionError: Dagster could not build job 'orders_job'", out, re.M
    )
    result.stdout.fnmatch_lines(["*did you mean*", '*"orders"*'])
    result.stdout.fnmatch_lines(
        ["*code location 'duplicates.py' failed to load*Duplicate asset key*orders*"]
    )
    result.stdout.fnmatch_lines(
        [
            "PASSED *definitions.py::__repository__::__ASSET_JOB",
            "PASSED *healthy.py::__repository__::__ASSET_JOB",
        ]
    )
    # orders_job, the schedule targeting it, duplicates.py's load.
    result.assert_outcomes(passed=2, failed=3)
    assert_no_worker_left(pytester.path, at_least=2)


DG_WORKSPACE = """\
directory_type = "workspace"

[workspace]

[[workspace.projects]]
path = "projects/sales"

[[workspace.projects]]
path = "projects/marketing"
"""

DEFINITIONS_TEMPLATE = """\
from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def _create_dagster_project(root: Path, name: str, venv: Path, assets: str) -> None:
    """A project as ``create-dagster project`` lays it out, its ``.venv`` a link to
    ``venv``."""
    package = root / "projects" / name / "src" / name
    (package / "defs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS_TEMPLATE)
    (package / "defs" / "assets.py").write_text(textwrap.dedent(assets))
    (root / "projects" / name / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0.1.0"\ndependencies = ["dagster"]\n\n'
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{name}"\n'
        f'registry_modules = ["{name}.components.*"]\n'
    )
    (root / "projects" / name / ".venv").symlink_to(venv)


def test_a_project_whose_venv_has_no_dagster_says_which_interpreter(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env
) -> None:  # type: ignore[no-untyped-def]
    """Before: *raised ModuleNotFoundError: No module named 'dagster'; fix the error in
    your code* for a project whose ``.venv`` lacks Dagster (not synced yet, or the
    wrong environment): nothing in the code is wrong. Now the message names the
    interpreter and how to fix it; the other project runs."""
    dagster_venv = _python(python_env, NEWEST).parent.parent
    bare_venv = python_env(NEWEST.python).parent.parent
    _create_dagster_project(
        pytester.path,
        "sales",
        dagster_venv,
        "import dagster as dg\n\n@dg.asset\ndef orders(): ...\n",
    )
    _create_dagster_project(
        pytester.path, "marketing", bare_venv, "import dagster as dg\n\n@dg.asset\ndef ads(): ...\n"
    )
    (pytester.path / "dg.toml").write_text(DG_WORKSPACE)
    (pytester.path / "conftest.py").write_text(with_pid_recorder())
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["PASSED dg.toml::sales::__repository__::__ASSET_JOB"])
    python = pytester.path / "projects" / "marketing" / ".venv" / "bin" / "python"
    result.stdout.fnmatch_lines(
        [
            "*code location 'marketing' failed to load: importing python module "
            "marketing.definitions raised ModuleNotFoundError: No module named 'dagster': "
            f"the location's interpreter {python} does not have it installed; install it "
            "in that environment (for a dg project, `uv sync` in the project)*",
        ]
    )
    assert "fix the error in your code" not in result.stdout.str()
    assert_no_worker_left(pytester.path)


EXTERNAL_CHECKS = """\
import dagster as dg

raw_events = dg.AssetSpec("raw_events", description="loaded by Fivetran")
raw_users = dg.AssetSpec("raw_users", description="loaded by Fivetran")


@dg.asset_check(asset="raw_events")
def raw_events_fresh() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="3 days old")


@dg.asset_check(asset="raw_users")
def raw_users_have_emails() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN, description="2 without email"
    )


defs = dg.Definitions(
    assets=[raw_events, raw_users], asset_checks=[raw_events_fresh, raw_users_have_emails]
)
"""


@pytest.mark.parametrize("line", LINES)
def test_checks_of_external_assets_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: a location of data quality checks on assets another tool loads
    (``AssetSpec``s with ``@asset_check``s) had no item at all, *no tests ran*: its
    ``__ASSET_JOB`` was listed only for materializable assets, yet it is the job that
    runs those checks (the UI's "Execute checks"). Now it is an item; a failed ERROR
    check fails it, a WARN check is reported."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), EXTERNAL_CHECKS)
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssetCheckFailed: asset check 'raw_events_fresh' of asset 'raw_events' failed "
            "with severity ERROR: 3 days old",
        ]
    )
    result.stdout.fnmatch_lines(
        ["check raw_users:raw_users_have_emails FAILED (WARN): 2 without email"]
    )
    assert_no_worker_left(pytester.path)


UNREACHABLE_RESOURCE = """\
import dagster as dg


class Warehouse(dg.ConfigurableResource):
    host: str = "db.internal"

    def setup_for_execution(self, context) -> None:
        raise ConnectionRefusedError(f"cannot connect to {self.host}:5432")


@dg.asset
def orders(warehouse: Warehouse) -> None: ...


defs = dg.Definitions(assets=[orders], resources={"warehouse": Warehouse()})
"""

FAKES = """\
import dagster as dg


class FakeWarehouse(dg.ConfigurableResource):
    host: str = "fake"
"""


@pytest.mark.parametrize("line", LINES)
def test_a_resource_that_fails_to_start_is_the_error_with_the_way_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    """Before: the item's one-line reason was Dagster's wrapper, *DagsterResourceFunctionError:
    Error executing resource_fn on ResourceDefinition warehouse*. Now it is the user's
    exception, said to come from initializing that resource, with the hook that
    replaces it; replacing it makes the item pass."""
    workspace = _project(pytester, monkeypatch, _python(python_env, line), UNREACHABLE_RESOURCE)
    result = _run(pytester, workspace)
    result.assert_outcomes(failed=1)
    said = (
        "ConnectionRefusedError: cannot connect to db.internal:5432 (initializing resource "
        "'warehouse'; a test run can replace it with the pytest_workspace_resources hook)"
    )
    result.stdout.fnmatch_lines([said, "FAILED *::__ASSET_JOB*"])
    with load_workspace(workspace, timeout=120) as ws:
        error = ws.job("__ASSET_JOB").execute().error
    assert error is not None and f"{error.type_name}: {error.message}" == said
    (pytester.path / "fakes.py").write_text(FAKES)
    (pytester.path / "conftest.py").write_text(
        with_pid_recorder(
            "def pytest_workspace_resources(job):\n"
            '    return {"warehouse": "fakes:FakeWarehouse"}\n'
        )
    )
    _run(pytester, workspace).assert_outcomes(passed=1)
    assert_no_worker_left(pytester.path)

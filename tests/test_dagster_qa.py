"""Dagster code as people write it today, run by pytest the way its users run it.

Each test writes a small project the way a Dagster user lays one out (``definitions.py``
next to a ``workspace.yaml`` and a ``conftest.py``), runs a real pytest session on it
(``runpytest_subprocess``) with the location in a cached virtualenv of real Dagster
(``dagster_versions.py``), and checks the verdicts and the words a user reads. Each test
here was a finding of exploratory QA: what broke before its fix is in its docstring.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from dagster_versions import SUPPORTED, DagsterLine
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


DYNAMIC_TICKS = """\
import dagster as dg

customers = dg.DynamicPartitionsDefinition(name="customers")


@dg.asset(partitions_def=customers)
def customer_report() -> None:
    pass


customer_job = dg.define_asset_job("customer_job", selection=[customer_report])


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
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["PASSED *::sensor:default_automation_condition_sensor"])
    assert "NotImplementedError" not in result.stdout.str()
    assert_no_worker_left(pytester.path)
    # What the tick requests: the missing asset, not yet the one waiting for it.
    with load_workspace(workspace, timeout=120) as ws:
        evaluation = ws.sensor("default_automation_condition_sensor").evaluate()
    assert evaluation.skip_reason is None
    [request] = evaluation.run_requests
    assert request["asset_selection"] == ["nightly_report"]
    assert request["job_name"] == "__ASSET_JOB"


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
            "not set in the location's process*pytest_workspace_resources hook.",
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

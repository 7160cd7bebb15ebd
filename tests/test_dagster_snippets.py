"""Dagster code as Dagster's own documentation writes it (the snippets of
``examples/docs_snippets`` in Dagster's repository, and the mistakes a user makes
around them), run by pytest the way its users run it.

A sweep on 2026-12-03 ran ~150 of those snippets, each as a code location, against
``dagster definitions validate`` and plain ``execute_in_process``; each location here is
one it found mis-handled, what broke before the fix in the comment above it. One real
pytest session per supported Dagster line runs them all: every location beside the
others, so that none changes another's verdict.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict

import pytest
from dagster_versions import DagsterLine
from processes import assert_no_worker_left, with_pid_recorder
from test_dagster_qa import LINES, _python

MODULES: Dict[str, str] = {
    # A module-level *list* of assets is all the module defines (built by a factory):
    # Dagster's loader takes the list's items. Before: "No Definitions ... found".
    "assets_list.py": """\
        import dagster as dg


        def build_assets():
            @dg.asset
            def raw_orders():
                return [1, 2, 3]

            @dg.asset
            def order_count(raw_orders):
                return len(raw_orders)

            return [raw_orders, order_count]


        all_assets = build_assets()
        """,
    # An AssetSpec at module scope, reused in @multi_asset(specs=[...]): Dagster's
    # loader of a python_file does not load specs, and takes the module. Before: the
    # location failed to load, "Asset key orders is defined multiple times".
    "spec_reused.py": """\
        import dagster as dg

        orders_spec = dg.AssetSpec("orders", description="raw orders", group_name="sales")


        @dg.multi_asset(specs=[orders_spec])
        def orders():
            return None
        """,
    # Two assets of one key: Dagster refuses it once the module is imported. Before:
    # "importing python file ... raised", though the import itself went well.
    "same_key_twice.py": """\
        import dagster as dg


        @dg.asset(name="orders")
        def first():
            return 1


        @dg.asset(name="orders")
        def second():
            return 2
        """,
    # An import that raises with a message of two lines (as Dagster's "did you mean"
    # ones are). Before: the one-line reason was the message's last line alone,
    # "failed to load: see docs/setup.md", without the exception.
    "two_line_error.py": """\
        import dagster as dg

        raise ValueError("settings.toml is missing the [warehouse] table\\nsee docs/setup.md")
        """,
    # examples/experimental/assets_yaml_dsl: a private module of Dagster's that this
    # release moved. Before: "the location's interpreter does not have it installed;
    # install it", though Dagster is installed there.
    "private_import.py": """\
        from dagster._core.definitions.no_such_private_module import AssetSpec
        """,
    # An asset that raises and, in the same run, an ERROR check that fails with
    # metadata. Before: the check's "failed too" line left its metadata out.
    "two_failures.py": """\
        import dagster as dg


        @dg.asset
        def broken() -> int:
            raise ValueError("boom")


        @dg.asset
        def orders() -> list:
            return [1, -2]


        @dg.asset_check(asset=orders)
        def no_negative(orders: list) -> dg.AssetCheckResult:
            bad = [o for o in orders if o < 0]
            return dg.AssetCheckResult(passed=not bad, metadata={"bad_rows": len(bad)})
        """,
    # Dagster imported only inside a function nobody calls: nothing to load. Before:
    # the error told a Dagster user to import from pytest_workspace.definitions.
    "factory_only.py": """\
        def make_defs():
            import dagster as dg

            @dg.asset
            def my_asset():
                return 1

            return dg.Definitions(assets=[my_asset])
        """,
    # A schedule and a sensor that skip, targeting a job Dagster cannot build (a typo in
    # its selection). Before: both passed; only a tick with a run request failed.
    "unbuildable_target.py": """\
        import dagster as dg


        @dg.asset
        def orders():
            return [1]


        orders_job = dg.define_asset_job("orders_job", selection=["orderz"])


        @dg.sensor(job=orders_job)
        def quiet_sensor():
            return dg.SkipReason("nothing new")


        @dg.schedule(job=orders_job, cron_schedule="0 0 * * *")
        def quiet_schedule(context):
            return dg.SkipReason("holiday")


        defs = dg.Definitions(
            assets=[orders], jobs=[orders_job], sensors=[quiet_sensor], schedules=[quiet_schedule]
        )
        """,
    # concepts/configuration/env_vars_config.py: a resource configured in the code with
    # {"env": ...} values whose variables are not set. Before: "the config at
    # config.username", advice repeated per variable, and the advice to give run config,
    # which cannot change config fixed by .configured().
    "configured_env.py": """\
        import dagster as dg


        @dg.resource(config_schema={"username": dg.StringSource, "password": dg.StringSource})
        def database_client(context):
            return context.resource_config


        @dg.op(required_resource_keys={"database"})
        def get_one(context):
            return 1


        @dg.job(
            resource_defs={
                "database": database_client.configured(
                    {
                        "username": {"env": "SNIPPET_DB_USER"},
                        "password": {"env": "SNIPPET_DB_PASSWORD"},
                    }
                )
            }
        )
        def get_one_from_db():
            get_one()
        """,
    # concepts/ops_jobs_graphs/graph_provides_config_mapping.py, with a unit the config
    # mapping function refuses (conftest.py). Before: "failed during execution:
    # DagsterConfigMappingFunctionError: The config mapping function ... has thrown an
    # unexpected error", the user's ValueError only in Dagster's chained traceback.
    "config_mapping.py": """\
        import dagster as dg


        class AddNConfig(dg.Config):
            n: float


        @dg.op
        def add_n(config: AddNConfig, number):
            return number + config.n


        class ToFahrenheitConfig(dg.Config):
            from_unit: str


        @dg.config_mapping
        def generate_config(config_in: ToFahrenheitConfig):
            if config_in.from_unit == "celsius":
                return {"add_n": {"config": {"n": 32}}}
            raise ValueError(f"unknown unit {config_in.from_unit}")


        @dg.graph(config=generate_config)
        def to_fahrenheit(number):
            return add_n(number)


        to_fahrenheit_job = to_fahrenheit.to_job(name="to_fahrenheit")
        """,
    # guides/automate/declarative_automation: a custom AutomationCondition whose
    # evaluate raises. Before: "Exception: Error while evaluating conditions for
    # holiday_aware", the user's error only in the chained traceback.
    "custom_condition.py": """\
        import dagster as dg


        class IsCompanyHoliday(dg.AutomationCondition):
            @property
            def description(self) -> str:
                return "today is a company holiday"

            def evaluate(self, context):
                raise RuntimeError("the holiday calendar is unreachable")


        @dg.asset(automation_condition=dg.AutomationCondition.on_missing() & ~IsCompanyHoliday())
        def holiday_aware():
            return 1
        """,
}

#: A create-dagster style package named by its top module, not its definitions module.
PACKAGE = {
    "shop/__init__.py": "",
    "shop/definitions.py": """\
        import dagster as dg


        @dg.asset
        def orders():
            return [1, 2]


        defs = dg.Definitions(assets=[orders])
        """,
}

CONFTEST = """\
def pytest_workspace_run_config(job):
    if job.name == "to_fahrenheit":
        return {"ops": {"config": {"from_unit": "rankine"}}, "inputs": {"number": {"value": 10}}}
    return None
"""


def _snippets(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python: Path) -> Path:
    """Every module as a ``python_file`` location, and the package as a
    ``python_module`` one, in one workspace file next to a ``conftest.py``."""
    monkeypatch.setenv("DAGSTER_PYTHON", str(python))
    monkeypatch.delenv("SNIPPET_DB_USER", raising=False)
    monkeypatch.delenv("SNIPPET_DB_PASSWORD", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # whole -r summary lines
    pytester.makeini("[pytest]\n")
    for name, source in {**MODULES, **PACKAGE}.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    (pytester.path / "conftest.py").write_text(with_pid_recorder(CONFTEST))
    entries = "".join(
        f"  - python_file:\n      relative_path: {name}\n"
        "      executable_path: ${DAGSTER_PYTHON}\n"
        for name in MODULES
    )
    entries += (
        "  - python_module:\n      module_name: shop\n      working_directory: .\n"
        "      location_name: shop_package\n      executable_path: ${DAGSTER_PYTHON}\n"
    )
    workspace = pytester.path / "workspace.yaml"
    workspace.write_text("load_from:\n" + entries)
    return workspace


@pytest.mark.parametrize("line", LINES)
def test_dagster_documentation_snippets_load_run_and_report_as_dagster_would(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env, line: DagsterLine
) -> None:  # type: ignore[no-untyped-def]
    workspace = _snippets(pytester, monkeypatch, _python(python_env, line))
    result = pytester.runpytest_subprocess(
        "--workspace", str(workspace), "-p", "no:cacheprovider", "-rA", "--tb=short"
    )
    out = result.stdout.str()
    passed = {
        "assets_list.py::__repository__::__ASSET_JOB",
        "spec_reused.py::__repository__::__ASSET_JOB",
        "unbuildable_target.py::__repository__::__ASSET_JOB",
        "custom_condition.py::__repository__::__ASSET_JOB",
    }
    for nodeid in passed:
        assert f"PASSED workspace.yaml::{nodeid}" in out, nodeid
    result.stdout.fnmatch_lines(
        ["*_ job __ASSET_JOB _*", "*Captured dagster call*", "materialized order_count"]
    )
    failed = {
        # The list's and the spec's locations load; these do not, and say why.
        "same_key_twice.py::load_location": "failed to load: DagsterInvalidDefinitionError: "
        "Asset key orders is defined multiple times",
        "two_line_error.py::load_location": "code location 'two_line_error.py' failed to "
        "load: ValueError: settings.toml is missing the [warehouse] table",
        "private_import.py::load_location": "ModuleNotFoundError: No module named "
        "'dagster._core.definitions.no_such_private_module'",
        "two_failures.py::__repository__::__ASSET_JOB": "job '__ASSET_JOB' failed in op "
        "'broken': ValueError: boom (and in op 'orders_no_negative')",
        "factory_only.py::load_location": "defines no Definitions object (nor a function "
        "decorated with @dg.definitions), repository, assets or job at top level; define "
        "them there, or set `attribute`",
        "shop_package::load_location": "(is the location's module shop.definitions?)",
        "unbuildable_target.py::__repository__::orders_job": "DagsterInvalidSubsetError",
        "unbuildable_target.py::__repository__::schedule:quiet_schedule": "schedule "
        "'quiet_schedule' failed its evaluation: target job 'orders_job' failed to build: "
        "DagsterInvalidSubsetError: AssetKey(s) ['orderz'] were selected",
        "unbuildable_target.py::__repository__::sensor:quiet_sensor": "sensor 'quiet_sensor' "
        "failed its evaluation: target job 'orders_job' failed to build: "
        "DagsterInvalidSubsetError",
        "configured_env.py::__repository__get_one_from_db::get_one_from_db": "resource "
        "'database' (its config field 'username', fixed in the code with .configured()) "
        "reads the environment variable SNIPPET_DB_USER (EnvVar)",
        "config_mapping.py::__repository__to_fahrenheit::to_fahrenheit": "job "
        "'to_fahrenheit' failed its run config check (no op ran): ValueError: unknown unit "
        "rankine, raised by the config mapping function of job 'to_fahrenheit'",
        "custom_condition.py::__repository__::sensor:default_automation_condition_sensor": (
            "RuntimeError: the holiday calendar is unreachable (evaluating the automation "
            "condition of asset holiday_aware)"
        ),
    }
    for nodeid, reason in failed.items():
        lines = [ln for ln in out.splitlines() if ln.startswith(f"FAILED workspace.yaml::{nodeid}")]
        assert len(lines) == 1 and reason in lines[0], (nodeid, lines)
    result.assert_outcomes(passed=len(passed), failed=len(failed))
    assert "pytest_workspace.definitions" not in out
    # The report says why the daemon would launch nothing, then Dagster's words.
    result.stdout.fnmatch_lines(
        [
            "InvalidTargetError: sensor 'quiet_sensor' targets job 'orders_job', so the daemon "
            "would launch none of its runs: Dagster could not build job 'orders_job'*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*no_such_private_module': dagster is installed in *, but this release of it "
            "has no such module (a private module, which Dagster moves between releases)*"
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "op 'orders_no_negative' failed too: AssetCheckFailed: asset check 'no_negative' "
            "of asset 'orders' failed with severity ERROR",
            "metadata:",
            "  bad_rows: 1",
        ]
    )
    # The load of a module whose import went well says so.
    result.stdout.fnmatch_lines(
        ["*loading the definitions of python file */same_key_twice.py raised Dagster*"]
    )
    # Config fixed in code: one line per variable, the advice once, no run config hook.
    result.stdout.fnmatch_lines(
        [
            "RunConfigError: Error in config for job get_one_from_db: resource 'database' (its "
            "config field 'username'*SNIPPET_DB_USER*",
            "resource 'database' (its config field 'password'*SNIPPET_DB_PASSWORD*",
            "Set them in a .env file*or replace the resource with the "
            "pytest_workspace_resources hook.",
        ]
    )
    assert "pytest_workspace_run_config hook" not in out
    # The user's frame, not Dagster's wrapper, for what the config mapping raised.
    result.stdout.fnmatch_lines(
        ["*config_mapping.py:*: in generate_config", "*raise ValueError*", "ValueError: unknown*"]
    )
    assert "DagsterConfigMappingFunctionError" not in out
    assert_no_worker_left(pytester.path)

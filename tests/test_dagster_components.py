"""Dagster components in a dg project, as ``dg scaffold`` users write them today.

A project laid out as ``create-dagster project`` lays it out, its ``.venv`` a link to the
suite's cached virtualenv of the newest Dagster: a component type of the project's own
(``components/greeting.py``) instantiated twice by a ``defs.yaml`` (one instance's
attribute templated from the project's ``.env``), Dagster's own
``PythonScriptComponent`` running a script that reports through Dagster Pipes, and plain
assets next to them. What is asserted is what the user reads: the header, the assets
materialized, and the one-line reason of a run where several independent ops failed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import PythonEnvFactory
from dagster_versions import NEWEST
from processes import assert_no_worker_left, with_pid_recorder

GREETING_COMPONENT = """\
import dagster as dg


class Greeting(dg.Component, dg.Model, dg.Resolvable):
    name: str
    fail: bool = False

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        fail = self.fail

        @dg.asset(name=self.name)
        def greeting() -> str:
            if fail:
                raise ValueError(f"asked to fail")
            return "hi"

        return dg.Definitions(assets=[greeting])
"""

GREETINGS_YAML = """\
type: shop.components.greeting.Greeting
attributes:
  name: "{{ env.GREETING_NAME }}"
---
type: shop.components.greeting.Greeting
attributes:
  name: broken_greeting
  fail: true
"""

PLAIN_ASSETS = """\
import dagster as dg


@dg.asset
def orders() -> int:
    return 3


@dg.asset
def refunds() -> int:
    raise RuntimeError("refund feed is down")
"""

DEFINITIONS = """\
from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def shop(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, python_env: PythonEnvFactory
) -> Path:
    """The project folder, with its ``.venv`` and ``.env``; the session runs in it."""
    python = python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])
    root = pytester.path / "shop"
    package = root / "src" / "shop"
    write(
        root / "pyproject.toml",
        '[project]\nname = "shop"\nversion = "0.1.0"\ndependencies = ["dagster"]\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "shop"\n'
        'registry_modules = ["shop.components.*"]\n',
    )
    write(package / "__init__.py", "")
    write(package / "definitions.py", DEFINITIONS)
    write(package / "components" / "__init__.py", "")
    write(package / "components" / "greeting.py", GREETING_COMPONENT)
    write(package / "defs" / "__init__.py", "")
    write(package / "defs" / "greetings" / "defs.yaml", GREETINGS_YAML)
    write(package / "defs" / "assets.py", PLAIN_ASSETS)
    write(root / ".env", "GREETING_NAME=hello_from_env\n")
    (root / ".venv").symlink_to(python.parent.parent)
    write(root / "conftest.py", with_pid_recorder())
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "400")  # -r lines whole, not cut at 80 columns
    return root


def test_components_load_and_every_failed_op_is_named(
    pytester: pytest.Pytester, shop: Path
) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--workspace", ".")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r"workspace: pyproject.toml: shop \(Python 3\.11\.\d+\)"])
    result.stdout.fnmatch_lines(
        [
            # The first failed op's error, and the other failed op named in the report...
            "job '__ASSET_JOB' failed during execution in op 'broken_greeting'",
            "*ValueError: asked to fail",
            "op 'refunds' failed too: RuntimeError: refund feed is down",
            "steps:",
            "  failure  broken_greeting (*",
            "  success  hello_from_env (*",
            "  success  orders (*",
            "  failure  refunds (*",
            "*Captured dagster call*",
            # ...the component instance named from .env materialized...
            "materialized hello_from_env",
            "materialized orders",
            # ...and the one-line reason names both failed ops.
            "FAILED pyproject.toml::shop::__repository__::__ASSET_JOB - job '__ASSET_JOB' "
            "failed in op 'broken_greeting': ValueError: asked to fail (and in op 'refunds')",
        ]
    )
    assert_no_worker_left(shop)


SCRIPT_YAML = """\
type: dagster.PythonScriptComponent
attributes:
  execution:
    path: report.py
  assets:
    - key: scripted_orders
"""

# Run by Dagster as `python report.py`, `python` found on PATH (shutil.which).
SCRIPT = """\
from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    pipes.report_asset_materialization(metadata={"rows": 3})
"""

WHICH_PYTHON = """\
import os
import shutil
import sys

import dagster as dg


@dg.asset
def python_on_path() -> str:
    found = shutil.which("python")
    if found is None or os.path.dirname(found) != os.path.dirname(sys.executable):
        raise RuntimeError(f"python on PATH is {found}, not the location's {sys.executable}")
    return found
"""


def test_the_project_s_virtualenv_is_first_on_path_as_dagster_puts_it(
    pytester: pytest.Pytester, shop: Path
) -> None:
    """A script component runs ``python`` from PATH: the project's, as under ``dg dev``
    (Dagster puts an ``executable_path`` virtualenv's bin first on PATH), not the
    host's, which has no ``dagster_pipes``."""
    defs = shop / "src" / "shop" / "defs"
    (defs / "assets.py").unlink()
    (defs / "greetings" / "defs.yaml").unlink()
    write(defs / "script" / "defs.yaml", SCRIPT_YAML)
    write(defs / "script" / "report.py", SCRIPT)
    write(defs / "which.py", WHICH_PYTHON)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--workspace", ".")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*Captured dagster call*",
            "materialized python_on_path",
            "materialized scripted_orders (op report)",
            "PASSED pyproject.toml::shop::__repository__::__ASSET_JOB",
        ]
    )
    assert_no_worker_left(shop)


# A state-backed component, as Dagster's Tableau, Sigma, Power BI and Fivetran components
# are: its state (here, a list of tables) fetched when the code server loads the
# location (the default, LEGACY_CODE_SERVER_SNAPSHOTS), its assets built from it.
TABLES_COMPONENT = """\
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import dagster as dg
from dagster.components import DefsStateConfig, DefsStateConfigArgs, ResolvedDefsStateConfig


@dataclass
class Tables(dg.StateBackedComponent, dg.Resolvable):
    name: str
    defs_state: ResolvedDefsStateConfig = field(
        default_factory=DefsStateConfigArgs.legacy_code_server_snapshots
    )

    @property
    def defs_state_config(self) -> DefsStateConfig:
        return DefsStateConfig.from_args(self.defs_state, default_key=f"Tables[{self.name}]")

    def write_state_to_path(self, state_path: Path) -> None:
        state_path.write_text(json.dumps([f"{self.name}_orders", f"{self.name}_customers"]))

    def build_defs_from_state(
        self, context: dg.ComponentLoadContext, state_path: Optional[Path]
    ) -> dg.Definitions:
        if state_path is None:
            return dg.Definitions()
        assets = []
        for table in json.loads(state_path.read_text()):

            @dg.asset(name=table)
            def _table() -> str:
                return "synced"

            assets.append(_table)
        return dg.Definitions(assets=assets)
"""


def test_a_state_backed_component_finds_the_state_it_fetched_at_load(
    pytester: pytest.Pytester, shop: Path
) -> None:
    """Before: the location failed to load with *KeyError: 'defs-state-[Tables[crm]]'*
    where ``dagster definitions validate`` loads it: Dagster's code server sets one load
    context (INITIALIZATION) for the whole load, and without it the component's fetched
    state was looked up in another context."""
    package = shop / "src" / "shop"
    (package / "defs" / "greetings" / "defs.yaml").unlink()
    (package / "defs" / "assets.py").unlink()
    write(package / "components" / "tables.py", TABLES_COMPONENT)
    write(
        package / "defs" / "crm" / "defs.yaml",
        "type: shop.components.tables.Tables\nattributes:\n  name: crm\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--workspace", ".")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*Captured dagster call*",
            "materialized crm_customers",
            "materialized crm_orders",
            "PASSED pyproject.toml::shop::__repository__::__ASSET_JOB",
        ]
    )
    assert_no_worker_left(shop)

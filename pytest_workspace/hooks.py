"""Hook specifications a ``conftest.py`` (or plugin) can implement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

import pytest

if TYPE_CHECKING:
    from .workspace import JobHandle


@pytest.hookspec(firstresult=True)
def pytest_workspace_run_config(job: JobHandle) -> Optional[Dict[str, Any]]:
    """Return the run config to execute ``job`` with, or None to leave it to others.

    The first non-None answer wins. Run config has Dagster's shape:
    ``{"ops": {"op_name": {"config": {...}}}}``.
    """


@pytest.hookspec(firstresult=True)
def pytest_workspace_should_execute(job: JobHandle) -> Optional[bool]:
    """Return False to build ``job`` without executing it (True to force execution).

    The first non-None answer wins; without one, ``--workspace-no-execute`` and the
    ini option ``workspace_execute`` decide.
    """

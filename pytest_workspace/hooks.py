"""Hook specifications a ``conftest.py`` (or plugin) can implement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

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


@pytest.hookspec(firstresult=True)
def pytest_workspace_resources(job: JobHandle) -> Optional[Dict[str, str]]:
    """Return ``{resource_key: "module:attribute"}`` to replace a Dagster job's resources
    for this run, or None to leave it to others.

    Each import path is resolved **in the job's code location process** (on its
    ``sys.path``): the attribute is a resource object, or a class or function that makes
    one when called with no arguments. A key the job has no resource for, or a path that
    does not import, fails the item with an error naming the key and the path. The
    first non-None answer wins.
    """


@pytest.hookspec(firstresult=True)
def pytest_workspace_partition_keys(job: JobHandle) -> Optional[List[str]]:
    """Return the partition keys to run a partitioned Dagster job for, or None to leave
    it to others.

    Each key is a run of its own; the item fails if any run fails, and its report says
    which keys failed. Without an answer, the job runs the last key of its partitions
    definition (Dagster's "latest"); a job whose partitions definition has no key yet
    (dynamic partitions) is skipped. A key of a dynamic partitions definition is added
    to the worker's ephemeral instance before its run. The first non-None answer wins.
    """

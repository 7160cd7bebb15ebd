"""pytest-workspace: test every job of every repository of a Dagster-style workspace.

Each code location runs in its own Python process and interpreter; this package is the
host side. The public API: :func:`load_workspace` and what it returns, and the checks of
:mod:`pytest_workspace.checks` that the pytest plugin runs for its items.

Names are imported on first use (PEP 562), so that the pytest plugin, which lives in
this package, costs a pytest run that uses no workspace almost nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
    from .checks import (
        Check,
        CheckStep,
        EvaluationCheck,
        JobCheck,
        check,
        check_job,
        check_schedule,
        check_sensor,
    )
    from .config import LocationSpec, SkippedEntry, WorkspaceSpec
    from .errors import (
        LocationLoadError,
        NameLookupError,
        OutputNotAvailableError,
        PartitionsUnavailableError,
        RemoteDefinitionError,
        RemoteError,
        RemoteOutputNotAvailableError,
        RemoteRunConfigError,
        RunConfigError,
        WorkerCrashedError,
        WorkerError,
        WorkerRestartedWarning,
        WorkerTimeoutError,
        WorkspaceClosedError,
        WorkspaceError,
        WorkspaceFileError,
    )
    from .workspace import (
        AssetCheckResult,
        AssetMaterialization,
        AssetObservation,
        Evaluation,
        JobBuild,
        JobHandle,
        LeftOutAsset,
        Location,
        LogRecord,
        RemoteRepr,
        RemoteWarning,
        RepositoryHandle,
        RunResult,
        ScheduleHandle,
        SensorHandle,
        StepResult,
        Workspace,
        load_workspace,
    )

__version__ = "0.1.0"

#: The modules that define the public names, imported when one of their names is first used.
_HOMES = ("errors", "config", "workspace", "checks")

__all__ = [
    "AssetCheckResult",
    "AssetMaterialization",
    "AssetObservation",
    "Check",
    "CheckStep",
    "Evaluation",
    "EvaluationCheck",
    "JobBuild",
    "JobCheck",
    "JobHandle",
    "LeftOutAsset",
    "Location",
    "LocationLoadError",
    "LocationSpec",
    "LogRecord",
    "NameLookupError",
    "OutputNotAvailableError",
    "PartitionsUnavailableError",
    "RemoteDefinitionError",
    "RemoteError",
    "RemoteOutputNotAvailableError",
    "RemoteRepr",
    "RemoteRunConfigError",
    "RemoteWarning",
    "RepositoryHandle",
    "RunConfigError",
    "RunResult",
    "ScheduleHandle",
    "SensorHandle",
    "SkippedEntry",
    "StepResult",
    "WorkerCrashedError",
    "WorkerError",
    "WorkerRestartedWarning",
    "WorkerTimeoutError",
    "Workspace",
    "WorkspaceClosedError",
    "WorkspaceError",
    "WorkspaceFileError",
    "WorkspaceSpec",
    "__version__",
    "check",
    "check_job",
    "check_schedule",
    "check_sensor",
    "load_workspace",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(f".{home}", __name__)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value  # the next access is a plain lookup
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return __all__

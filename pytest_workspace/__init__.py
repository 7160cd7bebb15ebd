"""pytest-workspace: test every job of every repository of a Dagster-style workspace.

Each code location runs in its own Python process and interpreter; this package is the
host side. The public API: :func:`load_workspace` and what it returns.
"""

from .config import LocationSpec, SkippedEntry, WorkspaceSpec
from .errors import (
    LocationLoadError,
    NameLookupError,
    OutputNotAvailableError,
    PartitionsUnavailableError,
    RemoteDefinitionError,
    RemoteError,
    RunConfigError,
    WorkerCrashedError,
    WorkerError,
    WorkerTimeoutError,
    WorkspaceClosedError,
    WorkspaceError,
    WorkspaceFileError,
)
from .workspace import (
    AssetCheckResult,
    AssetMaterialization,
    Evaluation,
    JobBuild,
    JobHandle,
    Location,
    LogRecord,
    RemoteRepr,
    RepositoryHandle,
    RunResult,
    ScheduleHandle,
    SensorHandle,
    StepResult,
    Workspace,
    load_workspace,
)

__version__ = "0.1.0"

__all__ = [
    "AssetCheckResult",
    "AssetMaterialization",
    "Evaluation",
    "JobBuild",
    "JobHandle",
    "Location",
    "LocationLoadError",
    "LocationSpec",
    "LogRecord",
    "NameLookupError",
    "OutputNotAvailableError",
    "PartitionsUnavailableError",
    "RemoteDefinitionError",
    "RemoteError",
    "RemoteRepr",
    "RepositoryHandle",
    "RunConfigError",
    "RunResult",
    "ScheduleHandle",
    "SensorHandle",
    "SkippedEntry",
    "StepResult",
    "WorkerCrashedError",
    "WorkerError",
    "WorkerTimeoutError",
    "Workspace",
    "WorkspaceClosedError",
    "WorkspaceError",
    "WorkspaceFileError",
    "WorkspaceSpec",
    "__version__",
    "load_workspace",
]

"""The messages between the host and a code location's worker: plain data, versioned.

This module is shared by both sides: the host imports it, and its source travels to the
worker with the worker code, so it uses only the standard library and runs on
Python 3.8+. See ``docs/protocol.md`` for the full description.

Every request is a dict ``{"cmd": <name>, "id": <int>, **arguments}`` and every reply is
``{"id": <the request's id>, "ok": True, "result": <plain data>}`` or
``{"id": ..., "ok": False, "error": <ErrorData>}``. Requests on one channel are answered
in order, one at a time; a reply whose ``id`` is not the awaited request's is never
taken for its answer.

This is the one list of the messages: :data:`COMMANDS` maps each command to the
TypedDicts of its arguments and of its result. The host's client
(``locations.LocationWorker``) is typed with them; the worker (``_worker.py``) answers
them.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Dict, Iterable, List, Optional, Tuple, TypedDict, Union

#: Bumped whenever a message changes shape. The worker refuses a host of another
#: version, and the host a worker that answers with another.
PROTOCOL_VERSION = 8


# -- shapes -----------------------------------------------------------------------------


class ErrorData(TypedDict, total=False):
    """An exception as plain data (see :func:`error_data`)."""

    type: str
    message: str
    traceback: str
    kind: str  # user, definition, config, load, request, protocol
    stage: str  # load, build, config, execute, or the request's command
    op: str  # an op's error
    missing: List[str]  # kind "config": the op.key paths without a value
    problems: List[str]
    only_missing: bool


class WarningData(TypedDict):
    category: str
    message: str
    filename: str
    lineno: int


class LocationData(TypedDict):
    """The location to load, in ``init``."""

    kind: str  # python_file, python_module, python_package, autoload_defs_module
    target: str
    attribute: Optional[str]
    working_directory: Optional[str]
    python_path: List[str]  # after working_directory on sys.path (a project's src/)


class CoverageSettings(TypedDict):
    """How the host is measured by coverage.py, for a worker to measure itself the same
    way (``init``; see ``_coverage.py``)."""

    data_file: str  # the host's data file: the worker writes a parallel file next to it
    config_file: Union[str, bool]  # a path, True: look for one in ``cwd``, False: none
    cwd: str  # the host's folder: relative paths in the configuration are relative to it
    source: Optional[List[str]]
    source_pkgs: Optional[List[str]]
    include: Optional[List[str]]
    omit: Optional[List[str]]
    branch: bool


class CoverageState(TypedDict, total=False):
    """Whether a worker measures coverage (the ``init`` reply): ``data_file`` or why not."""

    measured: bool
    data_file: str
    reason: str


class InitArguments(TypedDict):
    protocol: int
    location: LocationData
    modules: List[List[str]]  # [name, source], each after those it imports
    coverage: Optional[CoverageSettings]  # None: the host is not measured


class InterpreterData(TypedDict):
    """The reply to ``init``."""

    protocol: int
    executable: str
    python_version: List[int]
    prefix: str
    pid: int
    coverage: Optional[CoverageState]  # None: the host asked for no coverage


class RepositoryData(TypedDict):
    name: str
    description: Optional[str]
    source: Optional[List[Any]]  # [file, line]
    jobs: List[str]
    schedules: List[str]
    sensors: List[str]
    constructed_jobs: List[str]
    #: {"files": [file, ...], "jobs": [[file index, line] or None, ...], "schedules": ...,
    #: "sensors": ...}: each list aligned with the names above
    declared_at: Dict[str, List[Any]]


class Description(TypedDict):
    """The reply to ``load`` and ``describe``."""

    repositories: List[RepositoryData]
    stdout: str
    stderr: str
    warnings: List[WarningData]
    load_error: Optional[ErrorData]


class JobArguments(TypedDict):
    repository: str
    job: str


class BuildData(TypedDict):
    """The reply to ``build_job``; also the ``build`` of a run."""

    name: str
    key: str
    description: Optional[str]
    tags: Dict[str, Any]
    op_names: List[str]
    dependencies: Dict[str, List[str]]
    source: Optional[List[Any]]
    stdout: str
    stderr: str
    warnings: List[WarningData]


class ExecuteArguments(TypedDict):
    repository: str
    job: str
    run_config: Dict[str, Any]
    options: Dict[str, Any]  # the backend's own keyword arguments
    debug_events: bool  # False: the run's own DEBUG events stay in the worker


class StepData(TypedDict):
    op: str
    status: str  # success, failure, skipped
    duration: float
    output: Any
    error: Optional[ErrorData]


class LogData(TypedDict):
    timestamp: float
    level: str
    logger: str
    op: Optional[str]
    message: str
    event: Optional[str]


class AssetData(TypedDict):
    """An asset a run materialized (Dagster)."""

    asset_key: str  # "nutrition/protein_ranking"
    op: Optional[str]
    partition: Optional[str]


class ObservationData(TypedDict):
    """An observation of a source asset in a run (Dagster)."""

    asset_key: str
    op: Optional[str]
    partition: Optional[str]
    data_version: Optional[str]  # what the observation function returned


class AssetCheckData(TypedDict):
    """An asset check's result in a run (Dagster)."""

    asset_key: str
    check_name: str
    passed: bool
    severity: str  # ERROR, WARN
    description: Optional[str]
    metadata: Dict[str, Any]
    op: Optional[str]


class LeftOutData(TypedDict):
    """An asset (or asset check) ``__ASSET_JOB`` left out for run config it lacks (Dagster)."""

    asset_key: str
    check_name: Optional[str]  # set for an asset check
    missing: List[str]  # the missing keys, named as a config error's ``missing``
    unset: List[str]  # the environment variables its EnvVars read that are not set
    upstream: Optional[str]  # None: it needs them itself; else the left-out asset above it
    op: Optional[str]  # the op (node) that computes it


class _RunData(TypedDict):
    job: str
    build: Optional[BuildData]
    success: bool
    run_id: Optional[str]
    steps: List[StepData]
    logs: List[LogData]
    stdout: str
    stderr: str
    warnings: List[WarningData]
    duration: float
    error: Optional[ErrorData]


class RunData(_RunData, total=False):
    """The reply to ``execute_job``; the keys below only from backends that have them
    (the Dagster backend), sent as the backend made them."""

    partition_key: Optional[str]
    assets: List[AssetData]
    observations: List[ObservationData]
    asset_checks: List[AssetCheckData]
    skip_reason: Optional[str]  # nothing ran: no partition to run yet
    left_out: List[LeftOutData]  # what __ASSET_JOB did not run for missing run config


class ScheduleArguments(TypedDict):
    repository: str
    schedule: str


class SensorArguments(TypedDict):
    repository: str
    sensor: str


class _RunRequestData(TypedDict):
    run_key: Optional[str]
    run_config: Dict[str, Any]
    tags: Dict[str, Any]


class RunRequestData(_RunRequestData, total=False):
    job_name: Optional[str]  # Dagster: the job the request targets
    partition_key: Optional[str]
    asset_selection: List[str]  # Dagster, a request selecting assets: their keys
    asset_check_keys: List[str]  # Dagster, a request selecting checks: "asset:check"


class _AssetEventData(TypedDict):
    type: str  # materialization, observation, check_evaluation
    asset_key: str
    partition: Optional[str]
    description: Optional[str]
    metadata: Dict[str, Any]


class AssetEventData(_AssetEventData, total=False):
    """An asset event a sensor's tick reports (Dagster's ``SensorResult.asset_events``)."""

    check_name: str  # type check_evaluation: the check's name, result and severity
    passed: bool
    severity: str


class PartitionsRequestData(TypedDict):
    """A tick's request to add keys to, or delete keys from, a dynamic partitions
    definition (Dagster's ``SensorResult.dynamic_partitions_requests``)."""

    action: str  # add, delete
    partitions_def: str
    partition_keys: List[str]


class EvaluationData(TypedDict, total=False):
    """The reply to ``evaluate_schedule`` (with ``cron_schedule``) and ``evaluate_sensor``."""

    name: str
    job_name: Optional[str]
    cron_schedule: str
    run_requests: List[RunRequestData]
    skip_reason: Optional[str]
    asset_events: List[AssetEventData]  # Dagster
    dynamic_partitions_requests: List[PartitionsRequestData]  # Dagster
    stdout: str
    stderr: str
    warnings: List[WarningData]


class NoArguments(TypedDict):
    pass


#: Every command: ``name -> (arguments, result)``, in the order a session sends them.
COMMANDS: Dict[str, Tuple[type, type]] = {
    "init": (InitArguments, InterpreterData),
    "load": (NoArguments, Description),
    "describe": (NoArguments, Description),
    "build_job": (JobArguments, BuildData),
    "execute_job": (ExecuteArguments, RunData),
    "evaluate_schedule": (ScheduleArguments, EvaluationData),
    "evaluate_sensor": (SensorArguments, EvaluationData),
}

#: Key of the marker dict that stands for a value that could not travel as plain data.
REPR_MARKER = "__pytest_workspace_repr__"

_SCALARS = (str, int, float, bool, type(None))


def is_plain(value: Any, _depth: int = 0) -> bool:
    """True if ``value`` is made only of None, bools, numbers, strings, lists and
    str-keyed dicts (tuples count as lists)."""
    if _depth > 100:
        return False
    if isinstance(value, _SCALARS):
        return True
    try:
        if isinstance(value, (list, tuple)):
            return all(is_plain(item, _depth + 1) for item in value)
        if isinstance(value, dict):
            return all(
                isinstance(key, str) and is_plain(item, _depth + 1) for key, item in value.items()
            )
    except Exception:  # a tuple subclass that refuses iteration (Dagster's records)
        return False
    return False


def to_plain(value: Any) -> Any:
    """``value`` as plain data, or a repr marker ``{REPR_MARKER: repr, "type": name}``.

    Tuples become lists. A value that is not plain as a whole is sent as its repr: we
    never send half of a structure.
    """
    if is_plain(value):
        return _lists(value)
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the run
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    return {REPR_MARKER: text, "type": qualified_name(type(value))}


def _lists(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    return value


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, without ``builtins.``."""
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", cls.__name__)
    if module in (None, "builtins", "__main__", "__channelexec__"):
        return str(name)
    return f"{module}.{name}"


def error_data(
    exc: BaseException,
    *,
    kind: str = "user",
    hidden_files: Iterable[str] = (),
    **extra: Any,
) -> Dict[str, Any]:
    """Describe an exception as plain data, with a traceback trimmed to user frames.

    Frames whose file is in ``hidden_files`` (the worker's and our shipped modules'),
    or that belong to importlib's machinery, are left out.
    """
    hidden = set(hidden_files)
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _trim(te, hidden, set())
    full = qualified_name(type(exc))
    text = "".join(te.format())
    shown = shown_type_name(full)
    if shown != full:
        lines = text.splitlines(keepends=True)
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].startswith(full + ":") or lines[index].rstrip("\n") == full:
                lines[index] = shown + lines[index][len(full) :]
                break
        text = "".join(lines)
    return error_dict(full, _safe_str(exc), text, kind=kind, **extra)


#: The package our modules are in, here and in a worker that was sent them.
_OWN_PACKAGE = __name__.partition(".")[0]


def shown_type_name(type_name: str) -> str:
    """An error's type as a report shows it: our own errors (a definition error, a
    Dagster job that does not build) by their class name alone, since
    ``pytest_workspace.definitions.InvalidDefinitionError`` in a Dagster user's report
    reads as if they should import from us; any other type as it is. The error data
    keeps the full name (``RemoteError.type_name``)."""
    if type_name.startswith(_OWN_PACKAGE + "."):
        return type_name.rpartition(".")[2]
    return type_name


def error_dict(
    type_name: str, message: str, traceback_text: str = "", *, kind: str = "user", **extra: Any
) -> Dict[str, Any]:
    """The error data shape (:class:`ErrorData`), from its parts: the one place that
    makes it, for an exception (:func:`error_data`) or an error known only as text
    (Dagster's ``SerializableErrorInfo``)."""
    data: Dict[str, Any] = {
        "type": type_name,
        "message": message,
        "traceback": traceback_text,
        "kind": kind,
    }
    data.update(extra)
    return data


def closest_name(name: str, known: Iterable[str], cutoff: float = 0.6) -> Optional[str]:
    """The known name closest to ``name`` (difflib's, at least ``cutoff`` alike), or None."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the known name closest to ``name``, or ``""``: the
    one wording of the hint, on both sides (the worker, the backends, the definitions
    API, the workspace and dg file readers)."""
    close = closest_name(name, known, cutoff)
    return f"; did you mean {close!r}?" if close else ""


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}: str() failed>"


def _trim(te: traceback.TracebackException, hidden: set[str], seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames: List[traceback.FrameSummary] = [
        frame
        for frame in te.stack
        if frame.filename not in hidden and not frame.filename.startswith("<frozen importlib")
    ]
    te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _trim(linked, hidden, seen)
    for member in getattr(te, "exceptions", None) or ():  # exception groups, 3.11+
        _trim(member, hidden, seen)


def interpreter_info() -> InterpreterData:
    """What the worker says about its interpreter in reply to ``init``."""
    import os

    return {
        "protocol": PROTOCOL_VERSION,
        "executable": sys.executable,
        "python_version": list(sys.version_info[:3]),
        "prefix": sys.prefix,
        "pid": os.getpid(),
        "coverage": None,
    }

"""The Python API: a loaded workspace and the handles that proxy into its locations.

``load_workspace`` parses workspace files into specs, starts one worker per location
(concurrently, so a workspace loads in about the time of its slowest location), and
returns a :class:`Workspace`. Handles hold only names; every call goes to the location's
own process. Nothing here imports pytest.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import execnet

from . import _coverage, protocol
from .config import (
    LocationSpec,
    SkippedEntry,
    WorkspaceSpec,
    apply_location_overrides,
    load_workspace_source,
    location_from_module,
    location_from_python_file,
)
from .errors import (
    LocationLoadError,
    NameLookupError,
    PartitionsUnavailableError,
    RemoteError,
    RemoteOutputNotAvailableError,
    WorkspaceClosedError,
)
from .locations import (
    DEFAULT_LOAD_TIMEOUT,
    DEFAULT_TIMEOUT,
    START_TIMEOUT,
    LocationWorker,
    PendingCall,
    prepare_forks,
    remote_error,
    zygote_registry,
)

PathLike = Union[str, "os.PathLike[str]"]
_T = TypeVar("_T")


class RemoteRepr(str):
    """A value that could not travel as plain data: its ``repr``, and its type's name.

    It is a ``str`` (the repr) so it prints naturally; ``type_name`` says what it was.
    """

    type_name: str

    def __new__(cls, text: str, type_name: str) -> RemoteRepr:
        value = super().__new__(cls, text)
        value.type_name = type_name
        return value

    def __repr__(self) -> str:
        return f"<remote {self.type_name}: {str.__str__(self)}>"


def from_plain(value: Any) -> Any:
    """Turn repr markers of :func:`protocol.to_plain` back into :class:`RemoteRepr`."""
    if isinstance(value, dict):
        if protocol.REPR_MARKER in value:
            return RemoteRepr(str(value[protocol.REPR_MARKER]), str(value.get("type", "?")))
        return {key: from_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class LogRecord:
    """One log line of a run: from ``context.log``, the run itself, or Python logging."""

    timestamp: float
    level: str
    message: str
    op_name: Optional[str] = None
    logger: str = "pytest_workspace"
    #: The run's own events (``STEP_START``, ``STEP_SUCCESS``...); None for user messages.
    event: Optional[str] = None


@dataclass(frozen=True)
class StepResult:
    """The outcome of one op in a run."""

    op_name: str
    status: str  # "success" | "failure" | "skipped"
    duration: float
    output: Any = None
    error: Optional[RemoteError] = None


@dataclass(frozen=True)
class RemoteWarning:
    """A warning user code raised in a location's process (load, build, run, evaluate).

    ``category`` is the warning's class, module-qualified (``UserWarning``,
    ``dagster.BetaWarning``); ``filename`` and ``lineno`` are where it was raised.
    """

    category: str
    message: str
    filename: str
    lineno: int


def _warnings(data: Mapping[str, Any]) -> Tuple[RemoteWarning, ...]:
    return tuple(
        RemoteWarning(
            category=str(entry["category"]),
            message=str(entry["message"]),
            filename=str(entry["filename"]),
            lineno=int(entry["lineno"]),
        )
        for entry in data.get("warnings") or ()
    )


@dataclass(frozen=True)
class JobBuild:
    """A job as built in its location: the answer of :meth:`JobHandle.build`, and the
    ``build`` of a :class:`RunResult`."""

    name: str
    op_names: Tuple[str, ...]
    dependencies: Dict[str, Tuple[str, ...]]
    description: Optional[str] = None
    tags: Dict[str, Any] = field(default_factory=dict)
    source: Optional[Tuple[str, int]] = None
    stdout: str = ""
    stderr: str = ""
    #: The name the job is declared under in its repository.
    key: Optional[str] = None
    warnings: Tuple[RemoteWarning, ...] = ()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> JobBuild:
        source = data.get("source")
        return cls(
            name=str(data["name"]),
            op_names=tuple(data["op_names"]),
            dependencies={op: tuple(deps) for op, deps in data["dependencies"].items()},
            description=data.get("description"),
            tags=dict(from_plain(data.get("tags") or {})),
            source=(str(source[0]), int(source[1])) if source else None,
            stdout=str(data.get("stdout", "")),
            stderr=str(data.get("stderr", "")),
            key=data.get("key"),
            warnings=_warnings(data),
        )


@dataclass(frozen=True)
class AssetMaterialization:
    """An asset a run materialized (Dagster): its key (``nutrition/protein_ranking``),
    the op (step) that did it, and the partition, if any."""

    asset_key: str
    op_name: Optional[str] = None
    partition: Optional[str] = None


@dataclass(frozen=True)
class AssetObservation:
    """A source asset a run observed (Dagster: an ``@observable_source_asset``): its key,
    the op (step) that did it, the partition, if any, and the data version its
    observation function returned."""

    asset_key: str
    op_name: Optional[str] = None
    partition: Optional[str] = None
    data_version: Optional[str] = None


#: What to do about a job that lacks run config: a skipped job's reason and a left-out
#: asset's say it.
RUN_CONFIG_HINT = "supply it with the pytest_workspace_run_config hook in a conftest.py"


@dataclass(frozen=True)
class LeftOutAsset:
    """An asset (or, with ``check_name``, an asset check) that Dagster's ``__ASSET_JOB``
    left out of its run because the run config lacks keys: ``missing`` names them (as a
    skipped job's reason does); ``upstream`` is None when it needs them itself, else the
    left-out asset it is downstream of (for a check: its asset)."""

    asset_key: str
    check_name: Optional[str] = None
    missing: Tuple[str, ...] = ()
    upstream: Optional[str] = None
    #: The environment variables it reads (``EnvVar``, in its config or its resources')
    #: that are not set in the location's process: the item then fails for them.
    unset: Tuple[str, ...] = ()
    #: The op (node) that computes it: its steps are ``op`` or, in a graph, ``op.inner``.
    op: Optional[str] = None

    @property
    def why(self) -> str:
        """Why, in the report's words: *it needs run config it was not given: missing
        tuned_report.threshold; supply it ...*, *it reads the environment variable
        WAREHOUSE_URL, which is not set*, *it is downstream of tuned_report*, or (a
        check) *its asset tuned_report is left out*."""
        if self.upstream is None:
            reasons = []
            if self.missing:
                reasons.append(
                    f"it needs run config it was not given: missing {', '.join(self.missing)}; "
                    + RUN_CONFIG_HINT
                )
            if self.unset:
                several = len(self.unset) > 1
                reasons.append(
                    f"it reads the environment variable{'s' if several else ''} "
                    f"{', '.join(self.unset)} (EnvVar), which {'are' if several else 'is'} "
                    "not set in the location's process"
                )
            return "; ".join(reasons)
        if self.check_name is not None and self.upstream == self.asset_key:
            return f"its asset {self.upstream} is left out"
        return f"it is downstream of {self.upstream}"


@dataclass(frozen=True)
class AssetCheckResult:
    """The result of one asset check in a run (Dagster). ``severity`` is ``"ERROR"`` or
    ``"WARN"``; a failed ERROR check fails the run."""

    asset_key: str
    check_name: str
    passed: bool
    severity: str = "ERROR"
    description: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    op_name: Optional[str] = None


@dataclass(frozen=True)
class RunResult:
    """The outcome of :meth:`JobHandle.execute`, as reported by the location's process.

    ``build`` describes the job as built for this run (None when it failed to build:
    then ``error`` is the build's error); ``warnings`` are those the run raised. For
    Dagster jobs also: the ``partition_key`` that ran, the ``assets`` materialized, the
    source assets observed (``observations``) and the ``asset_checks``' results, in the
    order they happened; ``skip_reason`` says why
    nothing ran (a partitioned job with no partition yet); ``left_out``: what
    ``__ASSET_JOB`` did not run for run config it was not given.
    """

    job_name: str
    success: bool
    run_id: Optional[str]
    step_results: Dict[str, StepResult]
    logs: Tuple[LogRecord, ...]
    stdout: str
    stderr: str
    duration: float
    error: Optional[RemoteError] = None
    build: Optional[JobBuild] = None
    warnings: Tuple[RemoteWarning, ...] = ()
    partition_key: Optional[str] = None
    assets: Tuple[AssetMaterialization, ...] = ()
    asset_checks: Tuple[AssetCheckResult, ...] = ()
    skip_reason: Optional[str] = None
    observations: Tuple[AssetObservation, ...] = ()
    left_out: Tuple[LeftOutAsset, ...] = ()

    def output_for(self, op_name: str) -> Any:
        """The output of ``op_name``; a value that was not plain data is a RemoteRepr.

        Raises NameLookupError for an op the job does not have, OutputNotAvailableError
        for an op that failed or was skipped.
        """
        step = self.step_results.get(op_name)
        if step is None:
            ops = list(self.step_results)
            raise NameLookupError(_unknown("op", op_name, ops, f" in job {self.job_name!r}"), ops)
        if step.status != "success":
            if step.status == "failure" and step.error is not None:
                why = f"it failed with {step.error.type_name}: {step.error.message}"
            elif step.status == "skipped":
                upstream = self.failed_op
                why = "it was skipped" + (
                    f" because op {upstream!r} failed upstream" if upstream else ""
                )
                for left in self.left_out:
                    if left.op is not None and op_name.split(".")[0] == left.op:
                        why = f"it was left out of the run: {left.why}"
                        break
            else:
                why = f"its status is {step.status!r}"
            raise RemoteOutputNotAvailableError(
                f"op {op_name!r} of job {self.job_name!r} has no output: {why}",
                op_name=op_name,
                status=step.status,
            )
        return step.output

    @property
    def failed_op(self) -> Optional[str]:
        """The first op that failed, if any."""
        failed = self.failed_ops
        return failed[0] if failed else None

    @property
    def failed_ops(self) -> List[str]:
        """Every op that failed, in the order they ran (independent ops may all fail)."""
        return [step.op_name for step in self.step_results.values() if step.status == "failure"]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> RunResult:
        steps = {}
        for step in data.get("steps", []):
            steps[step["op"]] = StepResult(
                op_name=step["op"],
                status=step["status"],
                duration=float(step["duration"] or 0.0),
                output=from_plain(step.get("output")),
                error=RemoteError(step["error"]) if step.get("error") else None,
            )
        logs = tuple(
            LogRecord(
                timestamp=float(entry["timestamp"]),
                level=str(entry["level"]),
                message=str(entry["message"]),
                op_name=entry.get("op"),
                logger=str(entry.get("logger") or "pytest_workspace"),
                event=entry.get("event"),
            )
            for entry in data.get("logs", [])
        )
        error = data.get("error")
        build = data.get("build")
        return cls(
            job_name=str(data["job"]),
            success=bool(data["success"]),
            run_id=data.get("run_id"),
            step_results=steps,
            logs=logs,
            stdout=str(data.get("stdout", "")),
            stderr=str(data.get("stderr", "")),
            duration=float(data.get("duration", 0.0)),
            error=remote_error(error) if error else None,
            build=JobBuild.from_data(build) if build else None,
            warnings=_warnings(data),
            partition_key=data.get("partition_key"),
            assets=tuple(
                AssetMaterialization(
                    asset_key=str(asset["asset_key"]),
                    op_name=asset.get("op"),
                    partition=asset.get("partition"),
                )
                for asset in data.get("assets") or ()
            ),
            asset_checks=tuple(
                AssetCheckResult(
                    asset_key=str(check["asset_key"]),
                    check_name=str(check["check_name"]),
                    passed=bool(check["passed"]),
                    severity=str(check.get("severity") or "ERROR"),
                    description=check.get("description"),
                    metadata=dict(from_plain(check.get("metadata") or {})),
                    op_name=check.get("op"),
                )
                for check in data.get("asset_checks") or ()
            ),
            skip_reason=data.get("skip_reason"),
            observations=tuple(
                AssetObservation(
                    asset_key=str(observation["asset_key"]),
                    op_name=observation.get("op"),
                    partition=observation.get("partition"),
                    data_version=observation.get("data_version"),
                )
                for observation in data.get("observations") or ()
            ),
            left_out=tuple(
                LeftOutAsset(
                    asset_key=str(left["asset_key"]),
                    check_name=left.get("check_name"),
                    missing=tuple(str(key) for key in left.get("missing") or ()),
                    unset=tuple(str(name) for name in left.get("unset") or ()),
                    upstream=left.get("upstream"),
                    op=left.get("op"),
                )
                for left in data.get("left_out") or ()
            ),
        )


@dataclass(frozen=True)
class Evaluation:
    """What a schedule or sensor evaluation returned. For Dagster sensors also: the
    ``asset_events`` the tick reports (``{"type": "materialization" | "observation" |
    "check_evaluation", "asset_key", "partition", "description", "metadata"}``) and its
    ``dynamic_partitions_requests`` (``{"action": "add" | "delete", "partitions_def",
    "partition_keys"}``), in the order the tick gave them."""

    name: str
    job_name: Optional[str]
    run_requests: Tuple[Dict[str, Any], ...]
    skip_reason: Optional[str]
    cron_schedule: Optional[str] = None
    stdout: str = ""
    stderr: str = ""
    warnings: Tuple[RemoteWarning, ...] = ()
    asset_events: Tuple[Dict[str, Any], ...] = ()
    dynamic_partitions_requests: Tuple[Dict[str, Any], ...] = ()


class Location:
    """A code location: its spec, its worker process, and its repositories."""

    def __init__(self, spec: LocationSpec, worker: LocationWorker) -> None:
        self.spec = spec
        self.worker = worker
        self.load_error: Optional[LocationLoadError] = None
        #: Seconds starting the worker and importing the code took (None: not loaded here).
        self.load_duration: Optional[float] = None
        self._repositories: List[RepositoryHandle] = []

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def executable(self) -> Optional[str]:
        """The interpreter the location runs in (as the worker reported it)."""
        info = self.worker.info
        return info.executable if info else self.spec.executable_path

    @property
    def python_version(self) -> Optional[Tuple[int, ...]]:
        """``sys.version_info[:3]`` of the location's interpreter, once started."""
        info = self.worker.info
        return info.python_version if info else None

    @property
    def coverage(self) -> Optional[str]:
        """Whether coverage.py measures the location's code, and if not why (see
        docs/plugin.md); None when the host itself is not measured."""
        return _coverage.describe(self.worker.coverage)

    @property
    def repositories(self) -> List[RepositoryHandle]:
        return list(self._repositories)

    @property
    def load_output(self) -> Tuple[str, str]:
        """What importing the location's code printed: ``(stdout, stderr)``."""
        description = self.worker.description
        if description is None:
            return "", ""
        return description["stdout"], description["stderr"]

    @property
    def load_warnings(self) -> Tuple[RemoteWarning, ...]:
        """The warnings importing the location's code raised, after those of its .env
        files (a statement python-dotenv cannot parse, skipped)."""
        description = self.worker.description
        loaded = _warnings(description) if description is not None else ()
        return _warnings({"warnings": self.worker.env_warnings}) + loaded

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            description = self.worker.start()
        except LocationLoadError as exc:
            self.load_error = exc
            return
        except Exception as exc:  # a bug of ours must not stop the other locations
            self.worker.kill()
            self.load_error = LocationLoadError(
                self.name, f"unexpected {type(exc).__name__} while starting its worker: {exc}"
            )
            return
        finally:
            self.load_duration = time.perf_counter() - started
        self._repositories = [
            RepositoryHandle(self, repo["name"], repo) for repo in description["repositories"]
        ]

    @property
    def client(self) -> LocationWorker:
        """The typed protocol client of this location's worker (see ``locations.py``).

        Raises this location's ``load_error`` if it never loaded.
        """
        if self.load_error is not None:
            raise self.load_error
        return self.worker

    def __repr__(self) -> str:
        state = "failed" if self.load_error else f"{len(self._repositories)} repositories"
        return f"<Location {self.name!r} ({state})>"


class RepositoryHandle:
    """A repository in a location's process. Names are known without building any job."""

    def __init__(self, location: Location, name: str, data: Mapping[str, Any]) -> None:
        self.location = location
        self.name = name
        self.description: Optional[str] = data.get("description")
        #: What made it: ``"dagster"`` (Dagster's API) or ``"definitions"`` (ours).
        self.backend: str = str(data.get("backend") or "definitions")
        self.job_names: List[str] = list(data.get("jobs", []))
        self.schedule_names: List[str] = list(data.get("schedules", []))
        self.sensor_names: List[str] = list(data.get("sensors", []))
        source = data.get("source")
        self.source: Optional[Tuple[str, int]] = (source[0], source[1]) if source else None
        self._declared_at: Dict[str, List[Any]] = dict(data.get("declared_at") or {})
        #: kind -> {name: place}, made on first use from the aligned lists
        self._places: Dict[str, Dict[str, Optional[List[int]]]] = {}

    def declared_at(self, kind: str, name: str) -> Optional[Tuple[str, int]]:
        """Where a ``job``/``schedule``/``sensor`` is declared (file, 1-based line), known
        without building it; else where the repository is; None if neither is known."""
        places = self._places.get(kind)
        if places is None:
            names = getattr(self, kind + "_names")
            places = dict(zip(names, self._declared_at.get(kind + "s") or ()))
            self._places[kind] = places
        place = places.get(name)
        if not place:
            return self.source
        return str(self._declared_at["files"][place[0]]), int(place[1])

    @property
    def constructed_job_names(self) -> List[str]:
        """The jobs built so far in the location's process (asks the process)."""
        description = self.location.client.describe()
        for repo in description["repositories"]:
            if repo["name"] == self.name:
                return list(repo["constructed_jobs"])
        return []

    def job(self, name: str) -> JobHandle:
        if name not in self.job_names:
            raise NameLookupError(
                _unknown("job", name, self.job_names, f" in repository {self.name!r}"),
                self.job_names,
            )
        return JobHandle(self, name)

    def schedule(self, name: str) -> ScheduleHandle:
        if name not in self.schedule_names:
            raise NameLookupError(
                _unknown("schedule", name, self.schedule_names, f" in repository {self.name!r}"),
                self.schedule_names,
            )
        return ScheduleHandle(self, name)

    def sensor(self, name: str) -> SensorHandle:
        if name not in self.sensor_names:
            raise NameLookupError(
                _unknown("sensor", name, self.sensor_names, f" in repository {self.name!r}"),
                self.sensor_names,
            )
        return SensorHandle(self, name)

    @property
    def jobs(self) -> List[JobHandle]:
        return [JobHandle(self, name) for name in self.job_names]

    @property
    def qualified_name(self) -> str:
        return f"{self.location.name}/{self.name}"

    def __repr__(self) -> str:
        return f"<RepositoryHandle {self.qualified_name!r}>"


class _MemberHandle:
    """A job, schedule or sensor of a repository, reached through its location."""

    def __init__(self, repository: RepositoryHandle, name: str) -> None:
        self.repository = repository
        self.name = name

    @property
    def location(self) -> Location:
        return self.repository.location

    #: ``job``, ``schedule`` or ``sensor``.
    kind = "member"

    @property
    def qualified_name(self) -> str:
        return f"{self.repository.qualified_name}/{self.name}"

    @property
    def declared_at(self) -> Optional[Tuple[str, int]]:
        """The user's file and line that declare this member (no job is built to know)."""
        return self.repository.declared_at(self.kind, self.name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.qualified_name!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MemberHandle) or type(other) is not type(self):
            return NotImplemented
        return other.qualified_name == self.qualified_name

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.qualified_name))


class JobHandle(_MemberHandle):
    """A job of a repository; building and executing happen in the location's process."""

    kind = "job"

    def build(self, timeout: Optional[float] = None) -> JobBuild:
        """Build the job (lazily declared jobs are built now, once) and describe it.

        Raises RemoteDefinitionError if the built job's name differs from its key.
        ``timeout`` overrides the workspace's timeout for this call.
        """
        data = self.location.client.build_job(self.repository.name, self.name, timeout=timeout)
        return JobBuild.from_data(data)

    def execute(
        self,
        run_config: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        debug_events: bool = True,
        **backend_options: Any,
    ) -> RunResult:
        """Build the job and run it in its location's process; return what happened.

        An op that fails gives ``success=False`` with ``error`` set. Build errors and
        run config errors raise (RemoteDefinitionError, RunConfigError) since no op ran,
        and so does a partitioned job with no partition to run
        (PartitionsUnavailableError: dynamic partitions not added yet); :meth:`run`
        returns them instead (``skip_reason``). A run that takes longer than ``timeout``
        (default: the workspace's) raises WorkerTimeoutError; a worker that dies raises
        WorkerCrashedError. Either way the next call starts a new worker.

        ``backend_options`` (plain data) go to the location's backend as they are (the
        Dagster backend's ``resources=``, ``partition_key=``...); a backend refuses an
        option it does not take with a RemoteError that lists those it takes.

        ``debug_events=False`` leaves the run's own DEBUG events (an op started, an op
        succeeded: what pytest's report shows only from ``-vv`` on) out of ``logs``;
        they are most of what a short run sends back. Records the job logs itself stay.
        """
        result = self.run(run_config, timeout=timeout, debug_events=debug_events, **backend_options)
        if result.error is not None and result.error.stage in ("build", "config"):
            raise result.error
        if result.skip_reason is not None:
            raise PartitionsUnavailableError(result.skip_reason)
        return result

    def run(
        self,
        run_config: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        debug_events: bool = True,
        **backend_options: Any,
    ) -> RunResult:
        """As :meth:`execute`, in one request, but a job that fails to build or whose run
        config is wrong is a result too: ``error.stage`` is ``"build"`` (then ``build``
        is None) or ``"config"``, and no op ran."""
        return self.submit_run(
            run_config, timeout=timeout, debug_events=debug_events, **backend_options
        ).result()

    def submit_run(
        self,
        run_config: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        debug_events: bool = True,
        **backend_options: Any,
    ) -> PendingRun:
        """:meth:`run`, sent to the location now: ``result()`` waits for the run (and
        raises what :meth:`run` would). ``timeout`` counts from now. The location keeps
        answering one request at a time: another call to it first waits for this run."""
        pending = self._submit_run(run_config, timeout, debug_events, backend_options)
        assert pending is not None
        return pending

    def _submit_run(
        self,
        run_config: Optional[Mapping[str, Any]],
        timeout: Optional[float],
        debug_events: bool,
        backend_options: Mapping[str, Any],
        behind: bool = False,
    ) -> Optional[PendingRun]:
        """:meth:`submit_run`; ``behind``: behind the call the location is answering now,
        which it starts as soon as it has answered that one (``timeout`` counts from
        then), or None and nothing sent unless exactly one call is in flight."""
        if run_config is not None and not isinstance(run_config, Mapping):
            raise TypeError(
                f"the run config of job {self.qualified_name!r} must be a dict like "
                f"{{'ops': {{'op_name': {{'config': {{...}}}}}}}}, not "
                f"{type(run_config).__name__}: {run_config!r:.100}"
            )
        pending = self.location.client.submit_execute_job(
            self.repository.name,
            self.name,
            run_config=_plain("run config", self.qualified_name, dict(run_config or {})),
            options=_plain("execute options", self.qualified_name, dict(backend_options)),
            debug_events=debug_events,
            timeout=timeout,
            behind=behind,
        )
        return None if pending is None else PendingRun(pending)


class PendingRun:
    """A run sent by :meth:`JobHandle.submit_run`, not read yet."""

    def __init__(self, pending: PendingCall) -> None:
        self._pending = pending

    def result(self) -> RunResult:
        return RunResult.from_data(self._pending.result())


def _plain(what: str, job: str, value: Dict[str, Any]) -> Dict[str, Any]:
    if not protocol.is_plain(value):
        raise TypeError(
            f"the {what} of job {job!r} must be plain data (dicts with str keys, lists, str, "
            f"int, float, bool, None) to travel to its location; got {value!r}"
        )
    return dict(protocol.to_plain(value))


class ScheduleHandle(_MemberHandle):
    """A schedule of a repository."""

    kind = "schedule"

    def evaluate(self, timeout: Optional[float] = None) -> Evaluation:
        """Check the cron string and the target job, run the schedule function once.

        ``timeout`` overrides the workspace's timeout for this call.
        """
        data = self.location.client.evaluate_schedule(
            self.repository.name, self.name, timeout=timeout
        )
        return _evaluation(data)


class SensorHandle(_MemberHandle):
    """A sensor of a repository."""

    kind = "sensor"

    def evaluate(self, timeout: Optional[float] = None) -> Evaluation:
        """Check the target job and run the sensor function once.

        ``timeout`` overrides the workspace's timeout for this call.
        """
        data = self.location.client.evaluate_sensor(
            self.repository.name, self.name, timeout=timeout
        )
        return _evaluation(data)


def _evaluation(data: Mapping[str, Any]) -> Evaluation:
    return Evaluation(
        name=data["name"],
        job_name=data.get("job_name"),
        run_requests=tuple(from_plain(request) for request in data.get("run_requests", [])),
        skip_reason=data.get("skip_reason"),
        cron_schedule=data.get("cron_schedule"),
        stdout=data.get("stdout", ""),
        stderr=data.get("stderr", ""),
        warnings=_warnings(data),
        asset_events=tuple(from_plain(event) for event in data.get("asset_events") or ()),
        dynamic_partitions_requests=tuple(
            from_plain(request) for request in data.get("dynamic_partitions_requests") or ()
        ),
    )


def _unknown(what: str, name: str, known: Sequence[str], where: str = "") -> str:
    return _unknown_message(what, name, sorted(known), list(known), where)


def _unknown_message(
    what: str, name: str, listed: Sequence[str], short_names: Sequence[str], where: str = ""
) -> str:
    """``unknown job 'x' in ...; did you mean 'y'? Known jobs: a, b.``"""
    message = f"unknown {what} {name!r}{where}"
    message += protocol.did_you_mean(name.rpartition("/")[2], short_names) or "."
    plural = "repositories" if what == "repository" else f"{what}s"
    message += f" Known {plural}: {', '.join(listed) or 'none'}."
    return message


class Workspace:
    """A loaded workspace: its locations, each in its own process.

    Use it as a context manager, or call :meth:`close`: no worker outlives it.
    """

    def __init__(
        self,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        start_timeout: float = START_TIMEOUT,
        load_timeout: Optional[float] = DEFAULT_LOAD_TIMEOUT,
        fresh_worker: bool = False,
        fork: bool = True,
    ) -> None:
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.load_timeout = load_timeout
        self.fresh_worker = fresh_worker
        #: Dagster locations that share an interpreter are forked from one process that
        #: imported Dagster (a zygote, docs/dagster.md); False starts each on its own.
        self.fork = fork
        self._zygotes = zygote_registry() if fork else None
        self.locations: List[Location] = []
        self.skipped: List[SkippedEntry] = []
        self._group = execnet.Group()
        self._lock = threading.Lock()
        self._closed = False
        # A workspace nobody closed is closed when the interpreter exits (a weak reference:
        # this must not keep the workspace alive). Host deaths are the workers' business.
        atexit.register(_close_at_exit, weakref.ref(self))

    def add(
        self,
        specs: Sequence[WorkspaceSpec] = (),
        locations: Sequence[LocationSpec] = (),
        start: bool = True,
        on_ready: Optional[Callable[[Location], None]] = None,
    ) -> List[Location]:
        """Add workspace files and single locations, start them all at once, return them.

        A location that fails to load is returned too, with ``load_error`` set.
        ``start=False`` adds them unstarted (:func:`load_locations` starts them). ``on_ready`` is
        called in this thread with each location as soon as it has loaded (or failed to),
        in the order they finish, while the others are still starting.
        """
        new_specs: List[LocationSpec] = []
        for spec in specs:
            self.skipped.extend(spec.skipped)
            new_specs.extend(spec.locations)
        new_specs.extend(locations)  # after the files' locations, in the order given
        added = [
            Location(
                spec,
                LocationWorker(
                    spec,
                    self._group,
                    timeout=self.timeout,
                    start_timeout=self.start_timeout,
                    load_timeout=self.load_timeout,
                    fresh_worker=self.fresh_worker,
                    zygotes=self._zygotes,
                ),
            )
            for spec in new_specs
        ]
        with self._lock:
            if self._closed:
                raise WorkspaceClosedError("this workspace is closed; load a new one")
            self.locations.extend(added)
        if not start:
            return added
        load_locations(added, on_ready)
        return added

    # -- lookups -------------------------------------------------------------------------

    def location(self, name: str) -> Location:
        for location in self.locations:
            if location.name == name:
                return location
        raise NameLookupError(
            _unknown("location", name, [loc.name for loc in self.locations]),
            [loc.name for loc in self.locations],
        )

    @property
    def repositories(self) -> List[RepositoryHandle]:
        return [repo for location in self.locations for repo in location.repositories]

    @property
    def load_errors(self) -> List[LocationLoadError]:
        return [loc.load_error for loc in self.locations if loc.load_error is not None]

    def repository(self, name: str) -> RepositoryHandle:
        """A repository by name, or ``location/repository`` when the name is ambiguous."""
        location_name, _, repo_name = name.rpartition("/")
        matches = [
            repo
            for repo in self.repositories
            if repo.name == repo_name and (not location_name or repo.location.name == location_name)
        ]
        return _single("repository", name, matches, [r.qualified_name for r in self.repositories])

    def job(self, name: str) -> JobHandle:
        """A job by ``job``, ``repository/job`` or ``location/repository/job``."""
        return self._member("job", name, lambda repo: repo.job_names, RepositoryHandle.job)

    def schedule(self, name: str) -> ScheduleHandle:
        return self._member("schedule", name, lambda r: r.schedule_names, RepositoryHandle.schedule)

    def sensor(self, name: str) -> SensorHandle:
        return self._member("sensor", name, lambda r: r.sensor_names, RepositoryHandle.sensor)

    def _member(
        self,
        what: str,
        name: str,
        names: Callable[[RepositoryHandle], List[str]],
        get: Callable[[RepositoryHandle, str], _T],
    ) -> _T:
        parts = name.split("/")
        if len(parts) > 3 or not all(parts):
            raise NameLookupError(
                f"{what} name {name!r} should be '{what}', 'repository/{what}' or "
                f"'location/repository/{what}'"
            )
        member = parts[-1]
        repo_name = parts[-2] if len(parts) >= 2 else None
        location_name = parts[-3] if len(parts) == 3 else None
        matches = [
            get(repo, member)
            for repo in self.repositories
            if (repo_name is None or repo.name == repo_name)
            and (location_name is None or repo.location.name == location_name)
            and member in names(repo)
        ]
        if len(matches) == 1:
            return matches[0]
        # Only an error lists every name (its cost grows with the workspace).
        everything = [
            f"{repo.qualified_name}/{candidate}"
            for repo in self.repositories
            for candidate in names(repo)
        ]
        return _single(what, name, matches, everything)

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop every worker process; waits for them to exit (killing if they hang)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        workers = [location.worker for location in self.locations]
        # Ask every worker to exit first, then wait: they exit in parallel.
        for worker in workers:
            worker.request_exit()
        for worker in workers:
            worker.close()
        if self._zygotes is not None:
            self._zygotes.close()
        self._group.terminate(timeout=1.0)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Workspace {[loc.name for loc in self.locations]!r}>"


def load_locations(
    locations: Sequence[Location], on_ready: Optional[Callable[[Location], None]] = None
) -> None:
    """Load locations concurrently; an interrupted wait (Ctrl-C) stops them all at once.

    Without that, the interrupt would wait for the slowest import to finish or time out.
    ``on_ready`` gets each location as it finishes loading, in this thread.
    """
    prepare_forks([location.worker for location in locations])
    if len(locations) <= 1:
        for location in locations:
            location._load()
            if on_ready is not None:
                on_ready(location)
        return
    pool = ThreadPoolExecutor(max_workers=min(len(locations), 32))
    futures: List[Future[None]] = []
    try:
        futures += [pool.submit(Location._load, location) for location in locations]
        of_future = dict(zip(futures, locations))
        for future in as_completed(futures):
            future.result()
            if on_ready is not None:
                on_ready(of_future[future])
    except BaseException:
        for future in futures:
            future.cancel()
        for location in locations:
            location.worker.close(timeout=0)
        raise
    finally:
        pool.shutdown(wait=True)


def _close_at_exit(reference: weakref.ReferenceType[Workspace]) -> None:
    workspace = reference()
    if workspace is not None:
        workspace.close()


def _single(what: str, name: str, matches: List[_T], everything: Sequence[str]) -> _T:
    if len(matches) == 1:
        return matches[0]
    if not matches:
        short = sorted({entry.rpartition("/")[2] for entry in everything})
        message = _unknown_message(what, name, list(everything), short)
        raise NameLookupError(message, list(everything))
    candidates = [str(getattr(m, "qualified_name", m)) for m in matches]
    raise NameLookupError(
        f"{what} name {name!r} is ambiguous: it matches {', '.join(candidates)}; "
        f"use one of these qualified names",
        candidates,
    )


def load_workspace(
    paths: Union[PathLike, Iterable[PathLike], None] = None,
    *,
    python_file: Union[PathLike, Iterable[PathLike], None] = None,
    module: Union[str, Iterable[str], None] = None,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    start_timeout: float = START_TIMEOUT,
    load_timeout: Optional[float] = DEFAULT_LOAD_TIMEOUT,
    fresh_worker: bool = False,
    fork: bool = True,
) -> Workspace:
    """Load workspace files and/or single files and modules, each location in its own process.

    ``paths`` are workspace sources: ``workspace.yaml`` files, ``dg.toml`` workspaces,
    Dagster projects (a ``pyproject.toml`` or its folder). A location named again in a
    later source replaces the earlier one, as in Dagster.

    Malformed workspace files raise WorkspaceFileError before any process starts. A
    location that fails to load does not raise: see ``Location.load_error``. Locations
    keep their order: the files' locations, then ``python_file``, then ``module``.

    ``timeout`` (seconds, None for no limit) bounds every call into a location (build,
    execution, evaluation); a call that exceeds it kills the worker (WorkerTimeoutError).
    ``load_timeout`` (seconds, None for no limit) bounds starting a location's process and
    importing its code, at load time and at every restart; ``start_timeout`` bounds the
    start of the interpreter alone. ``fresh_worker=True`` runs each call that runs user
    code for a job (build, execution, evaluation of a schedule or sensor) on a new
    process, stopped when the call ends (see docs/faults.md). ``fork=False`` starts every
    location's interpreter on its own, never forking Dagster locations from one process
    that imported Dagster for them all (see docs/dagster.md).
    """
    specs = [load_workspace_source(os.fspath(path)) for path in _many(paths)]
    for spec in specs:
        if spec.errors:  # a dg.toml project that could not be read
            raise spec.errors[0].error
    specs = list(apply_location_overrides(specs))
    extra = [location_from_python_file(os.fspath(path)) for path in _many(python_file)]
    extra += [location_from_module(str(name)) for name in _many(module)]
    workspace = Workspace(
        timeout=timeout,
        start_timeout=start_timeout,
        load_timeout=load_timeout,
        fresh_worker=fresh_worker,
        fork=fork,
    )
    try:
        workspace.add(specs, extra)
        return workspace
    except BaseException:
        workspace.close()
        raise


def _many(value: Any) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike)):
        return [value]
    return list(value)

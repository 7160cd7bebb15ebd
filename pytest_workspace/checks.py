"""The checks every job, schedule and sensor must pass, without pytest.

The pytest plugin runs these checks for its items and only turns their outcome into a
pytest result; a :func:`~pytest_workspace.load_workspace` user runs the same ones::

    with load_workspace("workspace.yaml") as ws:
        for job in ws.repository("my_repository").jobs:
            check = check_job(job)
            print(check.status, check.reason)

A check never raises for a failure of the user's code, a timeout or a crash: each ends
in a :class:`Check` whose ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``,
with a one-line ``reason`` and the full ``report`` text.

:class:`TargetCache` is the other half of what the plugin needs: every workspace file
and ``-f``/``-m`` target of a run, parsed and started once, in one :class:`Workspace`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._defaults import DEFAULT_LOAD_TIMEOUT
from ._sources import resolve_path
from .config import (
    LocationSpec,
    WorkspaceSpec,
    apply_location_overrides,
    load_workspace_source,
    location_from_module,
    location_from_python_file,
)
from .errors import (
    LocationLoadError,
    RemoteError,
    RemoteRunConfigError,
    WorkerError,
    WorkspaceError,
    WorkspaceFileError,
)
from .protocol import shown_type_name
from .workspace import (
    RUN_CONFIG_HINT,
    Evaluation,
    JobBuild,
    JobHandle,
    Location,
    LogRecord,
    PendingRun,
    RemoteWarning,
    RunResult,
    ScheduleHandle,
    SensorHandle,
    Workspace,
)

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"

#: What a call into a location raises when the user's code, the worker or the load failed.
_CALL_ERRORS = (RemoteError, WorkerError, LocationLoadError)


@dataclass(frozen=True)
class CheckStep:
    """One step of a check: ``build``, ``name check``, ``run config``, ``execute``, ``evaluate``."""

    name: str
    status: str  # "passed" | "failed" | "skipped"
    detail: str = ""


@dataclass(frozen=True)
class Check:
    """The outcome of checking one job, schedule or sensor.

    ``reason`` is one line (empty when passed): ``job 'x' failed in op 'y':
    ZeroDivisionError: division by zero``. ``report`` is the whole failure (or skip)
    report, with the remote traceback. ``stdout``/``stderr`` hold what every step printed.
    """

    kind: str  # "job" | "schedule" | "sensor"
    name: str
    status: str
    reason: str
    report: str
    steps: Tuple[CheckStep, ...]
    stdout: str = ""
    stderr: str = ""
    error: Optional[WorkspaceError] = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def warnings(self) -> Tuple[RemoteWarning, ...]:
        """The warnings the user's code raised in the location during this check."""
        return ()

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @property
    def skipped(self) -> bool:
        return self.status == SKIPPED


@dataclass(frozen=True)
class JobCheck(Check):
    """A job's check: ``build`` and ``result`` are what the location answered, if it did."""

    build: Optional[JobBuild] = None
    result: Optional[RunResult] = None

    @property
    def logs(self) -> Tuple[LogRecord, ...]:
        return self.result.logs if self.result is not None else ()

    @property
    def warnings(self) -> Tuple[RemoteWarning, ...]:
        """What building and then running the job raised (each once: a run that built
        the job again reports the build's warnings too)."""
        found = list(self.build.warnings if self.build is not None else ())
        if self.result is not None:
            found += [w for w in self.result.warnings if w not in found]
        return tuple(found)


@dataclass(frozen=True)
class EvaluationCheck(Check):
    """A schedule's or sensor's check, with the evaluation the location answered."""

    evaluation: Optional[Evaluation] = None

    @property
    def warnings(self) -> Tuple[RemoteWarning, ...]:
        return self.evaluation.warnings if self.evaluation is not None else ()


def check_job(
    job: JobHandle,
    *,
    execute: bool = True,
    run_config: Optional[Mapping[str, object]] = None,
    timeout: Optional[float] = None,
    prefetched: Optional[PendingRun] = None,
    **execute_options: Any,
) -> JobCheck:
    """Build ``job`` in its location, check its name, then (``execute``) run it.

    Skipped, not failed, when the run config only *lacks* keys (no key is wrong) and
    none was given: the job needs config this run does not have; also when a
    partitioned job has no partition to run. ``execute_options`` go to
    :meth:`JobHandle.execute` (the Dagster backend's ``resources``, ``partition_key``;
    see :mod:`pytest_workspace.dagster_checks`).
    ``timeout`` bounds the whole check (each call gets what is left of it); without it
    each call has the workspace's own timeout. A check over it kills the location's
    worker, which the next call restarts. ``prefetched``: this run, already sent with
    :meth:`JobHandle.submit_run` and these arguments; the check reads its reply.
    """
    name = job.name
    steps = _Steps("job", name)
    deadline = _Deadline(timeout)
    if not execute:
        try:
            build = job.build(timeout=deadline.remaining())
        except _CALL_ERRORS as exc:
            return _build_failed(steps, name, exc)
        return _name_checked(steps, name, build) or steps.outcome(PASSED)
    # One request builds and runs the job; its build, or the build's error, comes back.
    try:
        if prefetched is not None:
            result = prefetched.result()
        else:
            result = job.run(run_config=run_config, timeout=deadline.remaining(), **execute_options)
    except _CALL_ERRORS as exc:
        return steps.failed("execute", f"job {name!r} failed during execution", exc, exc)
    error = result.error
    if error is not None and error.stage == "build":
        return _build_failed(steps, name, error)
    if result.build is not None:
        mismatch = _name_checked(steps, name, result.build)
        if mismatch is not None:
            return mismatch
    if result.skip_reason is not None:
        steps.steps.append(CheckStep("execute", SKIPPED, result.skip_reason))
        return steps.outcome(SKIPPED, result.skip_reason, result.skip_reason)
    if error is not None and error.stage == "config":
        if isinstance(error, RemoteRunConfigError) and needs_more_run_config(error, run_config):
            reason = (
                f"job {name!r} needs run config it was not given: missing "
                f"{', '.join(error.missing)}; {RUN_CONFIG_HINT}"
            )
            steps.steps.append(CheckStep("run config", SKIPPED, reason))
            return steps.outcome(SKIPPED, reason, reason, error)
        headline = f"job {name!r} failed its run config check (no op ran)"
        return steps.failed("run config", headline, error, error)
    steps.result = result
    if not result.success:
        reason = _one_line(result.error) if result.error else "the run did not succeed"
        steps.add_output(result.stdout, result.stderr)
        steps.steps.append(CheckStep("execute", FAILED, reason))
        headline = f"job {name!r} failed" + (
            f" in op {result.failed_op!r}" if result.failed_op else " during execution"
        )
        report = _execution_report(name, result)
        others = _other_failed_ops(result)
        return steps.outcome(FAILED, f"{headline}: {reason}{others}", report, result.error)
    steps.passed("execute", result.stdout, result.stderr)
    return steps.outcome(PASSED)


def _build_failed(steps: _Steps, name: str, exc: WorkspaceError) -> JobCheck:
    """The job did not build: a name the worker refused, or the build's own error."""
    if isinstance(exc, RemoteError) and exc.type_name.endswith("JobNameMismatchError"):
        return steps.failed("name check", f"job {name!r} failed the name check", exc, exc)
    return steps.failed("build", f"job {name!r} failed to build", exc, exc)


def _name_checked(steps: _Steps, name: str, build: JobBuild) -> Optional[JobCheck]:
    """Record the build and check the built job's name: a failed check, or None."""
    steps.build = build
    steps.passed("build", build.stdout, build.stderr)
    if build.name != name:
        mismatch = f"it is declared as {name!r} but the built job is named {build.name!r}"
        return steps.failed("name check", f"job {name!r} failed the name check", mismatch)
    steps.passed("name check")
    return None


class _Steps:
    """The steps of one job check so far, and what they printed and answered."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        self.steps: List[CheckStep] = []
        self.stdout = ""
        self.stderr = ""
        self.build: Optional[JobBuild] = None
        self.result: Optional[RunResult] = None

    def add_output(self, stdout: str, stderr: str) -> None:
        self.stdout += stdout
        self.stderr += stderr

    def passed(self, step: str, stdout: str = "", stderr: str = "") -> None:
        self.add_output(stdout, stderr)
        self.steps.append(CheckStep(step, PASSED))

    def failed(
        self, step: str, headline: str, detail: object, error: Optional[WorkspaceError] = None
    ) -> JobCheck:
        """The check failed at ``step``: ``headline: detail`` (its first line as the reason)."""
        self.steps.append(CheckStep(step, FAILED, _one_line(detail)))
        return self.outcome(
            FAILED, f"{headline}: {_one_line(detail)}", f"{headline}:\n{detail}", error
        )

    def outcome(
        self,
        status: str,
        reason: str = "",
        report: str = "",
        error: Optional[WorkspaceError] = None,
    ) -> JobCheck:
        return JobCheck(
            kind=self.kind,
            name=self.name,
            status=status,
            reason=reason,
            report=report,
            steps=tuple(self.steps),
            stdout=self.stdout,
            stderr=self.stderr,
            error=error,
            build=self.build,
            result=self.result,
        )


def needs_more_run_config(
    error: RemoteRunConfigError, given: Optional[Mapping[str, object]]
) -> bool:
    """True when the run config only lacks keys (no key is wrong): skip, do not fail.

    The location decides it (:attr:`RemoteRunConfigError.only_missing`).
    """
    return error.only_missing


def check_schedule(schedule: ScheduleHandle, *, timeout: Optional[float] = None) -> EvaluationCheck:
    """A valid cron string, an existing target job, an evaluation that runs."""
    return _check_evaluation(schedule, timeout)


def check_sensor(sensor: SensorHandle, *, timeout: Optional[float] = None) -> EvaluationCheck:
    """An existing target job and an evaluation that runs."""
    return _check_evaluation(sensor, timeout)


def check(
    handle: Union[JobHandle, ScheduleHandle, SensorHandle], *, timeout: Optional[float] = None
) -> Check:
    """:func:`check_job`, :func:`check_schedule` or :func:`check_sensor`, by handle."""
    if isinstance(handle, JobHandle):
        return check_job(handle, timeout=timeout)
    return _check_evaluation(handle, timeout)


class _Deadline:
    """What is left of a check's time limit, for its next call (None: no limit of its own)."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.end = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> Optional[float]:
        if self.end is None:
            return None
        # Never 0 or less: a call must be sent to be timed out (and its worker killed).
        return max(self.end - time.monotonic(), 0.001)


def _check_evaluation(
    handle: Union[ScheduleHandle, SensorHandle], timeout: Optional[float]
) -> EvaluationCheck:
    kind, name = handle.kind, handle.name
    try:
        evaluation = handle.evaluate(timeout=timeout)
    except _CALL_ERRORS as exc:
        headline = f"{kind} {name!r} failed its evaluation"
        return EvaluationCheck(
            kind=kind,
            name=name,
            status=FAILED,
            reason=f"{headline}: {_one_line(exc)}",
            report=f"{headline}:\n{exc}",
            steps=(CheckStep("evaluate", FAILED, _one_line(exc)),),
            error=exc,
        )
    return EvaluationCheck(
        kind=kind,
        name=name,
        status=PASSED,
        reason="",
        report="",
        steps=(CheckStep("evaluate", PASSED),),
        stdout=evaluation.stdout,
        stderr=evaluation.stderr,
        evaluation=evaluation,
    )


def _one_line(detail: object) -> str:
    """The line that says what went wrong: an error's ``Type: message``, else its first line."""
    if isinstance(detail, RemoteError) and detail.summary:
        text = detail.summary
    elif isinstance(detail, RemoteError):
        text = f"{shown_type_name(detail.type_name)}: {detail.message}"
    elif isinstance(detail, LocationLoadError):
        text = f"code location {detail.location!r} failed to load: {detail.message}"
    else:
        text = str(detail)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text


def _other_failed_ops(result: RunResult) -> str:
    """`` (and in op 'b')`` when more ops than the first failed: the one-line reason
    quotes the first one's error, and must not let the others pass unseen."""
    others = result.failed_ops[1:]
    if not others:
        return ""
    return f" (and in op{'s' if len(others) > 1 else ''} {', '.join(map(repr, others))})"


def _execution_report(name: str, result: RunResult) -> str:
    failed = result.failed_op
    lines = [f"job {name!r} failed during execution" + (f" in op {failed!r}" if failed else "")]
    if result.error is not None:
        lines += ["", str(result.error)]
    for op_name in result.failed_ops[1:]:
        error = result.step_results[op_name].error
        said = f": {_one_line(error)}" if error is not None else ""
        lines += ["", f"op {op_name!r} failed too{said}"]
        metadata = error.data.get("metadata") if isinstance(error, RemoteError) else None
        if isinstance(metadata, dict) and metadata:
            # What a failed check or a Failure says beside its message (bad_rows: 1).
            lines += ["metadata:"] + [f"  {key}: {value}" for key, value in metadata.items()]
    lines += ["", "steps:"]
    for step in result.step_results.values():
        lines.append(f"  {step.status:<8} {step.op_name} ({step.duration:.3f}s)")
    return "\n".join(lines)


# -- the workspace files and targets of one run ------------------------------------------


_FileState = Tuple[Union[WorkspaceSpec, WorkspaceFileError], List[Location]]


class TargetCache:
    """Every workspace file and ``-f``/``-m`` target of a run, each parsed and started once.

    All of them share one :class:`Workspace` (and its processes), created on first use.
    A malformed file is remembered as its :class:`WorkspaceFileError`, raised by
    :meth:`file` each time it is asked for. A subclass gives the workspace another
    class through :meth:`_new_workspace` (an xdist worker's, which starts only the
    locations it owns).
    """

    def __init__(
        self,
        timeout: Optional[float],
        load_timeout: Optional[float] = DEFAULT_LOAD_TIMEOUT,
        fresh_worker: bool = False,
        fork: bool = True,
    ) -> None:
        self.timeout = timeout
        self.load_timeout = load_timeout
        self.fresh_worker = fresh_worker
        self.fork = fork
        self._workspace: Optional[Workspace] = None
        self.files: Dict[Path, _FileState] = {}
        self.targets: Dict[str, Location] = {}
        #: Called with each location as it finishes loading (see Workspace.add).
        self.on_ready: Optional[Callable[[Location], None]] = None

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = self._new_workspace()
        return self._workspace

    def _new_workspace(self) -> Workspace:
        return Workspace(
            timeout=self.timeout,
            load_timeout=self.load_timeout,
            fresh_worker=self.fresh_worker,
            fork=self.fork,
        )

    def start(
        self, paths: Sequence[Path], python_files: Sequence[str], modules: Sequence[str]
    ) -> None:
        """Parse the files not seen yet and start their locations and the targets at once."""
        specs = []
        for path in paths:
            path = resolve_path(path)
            if path in self.files:
                continue
            try:
                specs.append(load_workspace_source(str(path)))
            except WorkspaceFileError as exc:
                self.files[path] = (exc, [])
        # Files started together are one workspace, as for `dagster dev -w a -w b`.
        specs = list(apply_location_overrides(specs))
        targets: List[Tuple[str, LocationSpec]] = []
        for python_file in python_files:
            if python_file not in self.targets:
                targets.append((python_file, location_from_python_file(python_file)))
        for module in modules:
            if module not in self.targets:
                targets.append((module, location_from_module(module)))
        if not specs and not targets:
            return
        added = self.workspace.add(specs, [spec for _, spec in targets], on_ready=self.on_ready)
        by_spec = {id(location.spec): location for location in added}
        for spec in specs:
            started = [by_spec[id(location)] for location in spec.locations]
            self.files[resolve_path(Path(spec.path))] = (spec, started)
        for key, location_spec in targets:
            self.targets[key] = by_spec[id(location_spec)]

    def file(self, path: Path) -> Tuple[WorkspaceSpec, List[Location]]:
        """The parsed file and its started locations; raises WorkspaceFileError."""
        path = resolve_path(path)
        if path not in self.files:
            self.start([path], [], [])
        spec_or_error, locations = self.files[path]
        if isinstance(spec_or_error, WorkspaceFileError):
            raise spec_or_error
        return spec_or_error, locations

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()

"""The backend seam: what a worker asks of the code it serves.

Runs inside a code location's interpreter, shipped like ``protocol`` and ``definitions``
(standard library only, Python 3.8+). The worker (``_worker.py``) serves requests and
manages what surrounds a call: output capture, ``logging`` records, warnings, timing and
process state. Everything that depends on *what kind of code* a location holds is a
backend's: finding its repositories in the imported module (with or without
``attribute``), describing them, building and executing jobs, evaluating schedules and
sensors, and turning each result into the protocol's plain data (``docs/protocol.md``).

One backend is one module, ``pytest_workspace._backend_<name>``, that defines a subclass
of :class:`Backend` and names it ``BACKEND``; ``locations.shipped_modules`` lists the
backend modules in the order the worker asks them (the first that claims an object owns
it). The worker makes one instance of each backend per worker process, when the worker
starts (before the user's code is imported): per-worker state (a Dagster instance, a
cache) lives on that instance, created lazily, and is released by :meth:`Backend.close`
when the worker stops.

Repository, job, schedule and sensor objects are the backend's own; the worker only
keeps them and hands them back. Errors are exceptions: :class:`LoadError` (the
location's code cannot be used), :class:`RequestError` (a request names something
missing), ``definitions.RunConfigError`` (run config missing or wrong) and the other
``definitions.DefinitionError`` subclasses (a definition is wrong), :class:`ReportedError`
(the user's exception, described by the backend); anything else is the user's
exception. The worker turns them into error data, with the stage of the request.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import definitions as _definitions
from . import protocol as _protocol


class LoadError(Exception):
    """The location's code could not be found or holds no usable repository."""


class RequestError(Exception):
    """A request names something this location does not have, or an option it refuses."""


class ReportedError(Exception):
    """The user's exception, already turned into error data (``data``, see
    docs/protocol.md) by a backend that reports its library's errors its own way (the
    Dagster backend says a tick's exception as it says an op's): the worker sends
    ``data`` as it is, with the request's stage, or with ``stage`` when given (a run
    config mapping function's error, raised before any op ran: ``"config"``)."""

    def __init__(self, data: Dict[str, Any], stage: Optional[str] = None) -> None:
        super().__init__(f"{data.get('type')}: {data.get('message')}")
        self.data = data
        self.stage = stage


class Backend:
    """The interface of one kind of code (our definitions API, Dagster).

    ``worker`` gives the services of the worker that a backend may use:
    ``worker.error(exc, stage, **extra)`` turns an exception into error data (its
    traceback trimmed to the user's frames).
    """

    #: Short name, used in messages (``"definitions"``, ``"dagster"``).
    name = "backend"
    #: What ``attribute`` may name, for the error when nothing claims it
    #: (``"a @repository or a @job"``).
    attribute_targets = ""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    # -- discovery ------------------------------------------------------------------------

    def repositories_for(self, value: object) -> Optional[List[Any]]:
        """The repositories that ``value`` (named by ``attribute``) stands for, or None
        if ``value`` is not one of this backend's objects."""
        return None

    def autoload(self, module: Any, where: str) -> Optional[List[Any]]:
        """The repositories of ``module`` loaded as a whole module tree (the
        ``autoload_defs_module`` kind of location), or None if this backend cannot."""
        return None

    def scan(self, module: Any, where: str) -> Tuple[List[Any], List[Any]]:
        """``(repositories, loose_jobs)`` found at the top level of ``module``.

        The worker merges what every backend found: the repositories when there are
        any, else a single loose job (through :meth:`job_repository`), else an error.
        ``where`` names the module for messages (``file /repo/jobs.py``).
        """
        return [], []

    def job_repository(self, job: Any) -> Any:
        """A repository that holds only ``job`` (one of the loose jobs of :meth:`scan`)."""
        raise NotImplementedError

    # -- requests -------------------------------------------------------------------------

    def describe_repository(self, repo: Any) -> Dict[str, Any]:
        """A repository's entry of the location description; builds no job."""
        return {
            "name": repo.name,
            "description": getattr(repo, "description", None),
            "source": source_of(repo),
            "jobs": list(repo.job_names),
            "schedules": list(repo.schedule_names),
            "sensors": list(repo.sensor_names),
            "constructed_jobs": list(repo.constructed_job_names),
            "declared_at": declared_at(repo),
            "backend": self.name,
        }

    def build_job(self, repo: Any, key: str) -> Any:
        """Build (once) and return the job declared under ``key``."""
        return repo.get_job(key)

    def describe_job(self, repo: Any, key: str, job: Any) -> Dict[str, Any]:
        """The build description of a built job (without its output: the worker adds it)."""
        return {
            "name": job.name,
            "key": key,
            "description": getattr(job, "description", None),
            "tags": _protocol.to_plain(dict(getattr(job, "tags", None) or {})),
            "op_names": list(job.op_names),
            "dependencies": {k: list(v) for k, v in dict(job.dependencies).items()},
            "source": source_of(job),
        }

    def execute_job(
        self, repo: Any, job: Any, run_config: Mapping[str, Any], options: Mapping[str, Any]
    ) -> Dict[str, Any]:
        """Run a built job once, in this process, and report the run as plain data:

        ``{"success": bool, "run_id": str, "steps": [step], "events": [log entry],
        "error": error data or None}``; a step is ``{"op", "status", "duration",
        "output", "error"}``. ``options`` are the backend-specific keyword arguments of
        ``JobHandle.execute`` (plain data); refuse unknown ones with
        :func:`refuse_options`. Raise ``definitions.RunConfigError`` for bad run config.
        """
        raise NotImplementedError

    def evaluate_schedule(self, repo: Any, name: str) -> Dict[str, Any]:
        """Check and evaluate a schedule once: ``{"name", "cron_schedule", "job_name",
        "run_requests", "skip_reason"}``.

        By default: :meth:`check_schedule`, the target job is in the repository, then
        the schedule's ``evaluate_tick()`` (a SkipReason or a list of run requests).
        """
        schedule_def = repo.get_schedule(name)
        self.check_schedule(schedule_def)
        check_target(repo, "schedule", schedule_def)
        evaluation = {
            "name": schedule_def.name,
            "cron_schedule": schedule_def.cron_schedule,
            "job_name": schedule_def.job_name,
        }
        evaluation.update(ticks_data(schedule_def.evaluate_tick()))
        return evaluation

    def check_schedule(self, schedule: Any) -> None:
        """Raise a DefinitionError for a schedule that cannot run (a bad cron string)."""

    def evaluate_sensor(self, repo: Any, name: str) -> Dict[str, Any]:
        """Check and evaluate a sensor once: ``{"name", "job_name", "run_requests",
        "skip_reason"}``; by default as :meth:`evaluate_schedule` does."""
        sensor_def = repo.get_sensor(name)
        check_target(repo, "sensor", sensor_def)
        evaluation = {"name": sensor_def.name, "job_name": sensor_def.job_name}
        evaluation.update(ticks_data(sensor_def.evaluate_tick()))
        return evaluation

    def close(self) -> None:
        """Release per-worker state; called once when the worker stops serving."""


# -- helpers shared by the backends ---------------------------------------------------------


def refuse_options(backend: Backend, options: Mapping[str, Any], accepted: Sequence[str]) -> None:
    """Raise RequestError for an execute option ``backend`` does not take."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else "none"
        raise RequestError(
            "the {} backend takes no execute option {}; it takes: {}".format(
                backend.name, ", ".join(repr(name) for name in unknown), takes
            )
        )


def run_data(
    result: Any,
    step_error: Callable[[Any], Optional[Dict[str, Any]]],
    run_error: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """The plain data of :meth:`Backend.execute_job` for a result shaped like
    ``definitions.ExecutionResult`` (``success``, ``run_id``, ``step_results``, ``logs``).

    ``step_error(step)`` is a step's error data or None; the run's ``error`` is the first
    step's error, else ``run_error`` (a run that failed outside any op).
    """
    steps = []
    error = None
    for step in result.step_results.values():
        data = step_error(step)
        if data is not None and error is None:
            error = data
        steps.append(
            {
                "op": step.op_name,
                "status": step.status,
                "duration": step.duration,
                "output": _protocol.to_plain(step.output) if step.status == "success" else None,
                "error": data,
            }
        )
    events = [
        {
            "timestamp": entry.timestamp,
            "level": entry.level,
            "logger": entry.logger or "pytest_workspace",
            "op": entry.op_name,
            "message": entry.message,
            "event": entry.event,
        }
        for entry in result.logs
    ]
    return {
        "success": bool(result.success),
        "run_id": result.run_id,
        "steps": steps,
        "events": events,
        "error": error if error is not None else run_error,
    }


def check_target(repo: Any, what: str, definition: Any) -> None:
    """A schedule's or sensor's target job must be in its repository."""
    if definition.job_name is not None and not repo.has_job(definition.job_name):
        raise _definitions.InvalidTargetError(
            f"{what} {definition.name!r} of repository {repo.name!r} targets job "
            f"{definition.job_name!r}, which is not in the repository"
        )


def ticks_data(ticks: Any) -> Dict[str, Any]:
    """``{"run_requests", "skip_reason"}`` for a SkipReason or a list of run requests
    (objects with ``run_key``, ``run_config`` and ``tags``)."""
    if isinstance(ticks, _definitions.SkipReason):
        return {"run_requests": [], "skip_reason": ticks.message}
    to_plain = _protocol.to_plain
    return {
        "skip_reason": None,
        "run_requests": [
            {
                "run_key": request.run_key,
                "run_config": to_plain(request.run_config or {}),
                "tags": to_plain(dict(request.tags or {})),
            }
            for request in ticks
        ],
    }


def source_of(definition: object) -> Optional[List[Any]]:
    """``[file, line]`` of a definition's ``source_location``, or None."""
    location = getattr(definition, "source_location", None)
    if not location:
        return None
    return [str(location[0]), int(location[1])]


def declared_at(repo: Any) -> Dict[str, List[Any]]:
    """Where each member is declared: ``{"files": [file, ...], "jobs": [place, ...],
    "schedules": [...], "sensors": [...]}``, each list of places aligned with the
    repository's names, a place ``[index in files, line]`` or None when unknown.

    A table of files, not a path per member: 10,000 jobs of one module are 70 kB of
    places, not 1 MB of repeated paths.
    """
    lookup = getattr(repo, "declared_at", None)
    files: List[str] = []
    index: Dict[str, int] = {}
    places: Dict[str, List[Any]] = {"files": files}
    for kind, names in (
        ("job", repo.job_names),
        ("schedule", repo.schedule_names),
        ("sensor", repo.sensor_names),
    ):
        found: List[Any] = []
        for name in names:
            place = lookup(kind, name) if lookup is not None else None
            if place:
                path = str(place[0])
                if path not in index:
                    index[path] = len(files)
                    files.append(path)
                found.append([index[path], int(place[1])])
            else:
                found.append(None)
        places[kind + "s"] = found
    return places

"""The Dagster backend: real Dagster code locations (see ``_backend.py`` for the seam).

Runs inside a code location's interpreter, shipped like ``definitions`` and ``protocol``.
It imports only the standard library at import time and never imports ``dagster``
itself: it uses the ``dagster`` module that the user's code already imported (found in
``sys.modules``), so a location that does not use Dagster never pays for it, and
Dagster is never a requirement.

:class:`DagsterBackend` owns Dagster's discovery rules, building, execution and
evaluation, and turns Dagster's results and errors into the protocol's plain data. The
wrappers below give Dagster's ``RepositoryDefinition`` (the ``@repository`` list and lazy
dict forms, and what a ``Definitions`` object resolves to), ``JobDefinition``, schedules
and sensors the attributes of ``pytest_workspace.definitions``' objects, so that the
backend's shared helpers describe both alike. Listing names uses
``RepositoryDefinition.job_names``, which builds no lazily declared job.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from . import _backend, definitions

#: Dagster's name for the repository of a ``Definitions`` object
#: (``SINGLETON_REPOSITORY_NAME``); a bare job's repository adds the job's name.
SINGLETON_REPOSITORY_NAME = "__repository__"
#: Dagster's implicit asset jobs (``__ASSET_JOB`` …): only the global one is listed, and
#: only when it materializes some asset (see ``DagsterRepository.job_names``).
_IMPLICIT_JOB_PREFIX = "__ASSET_JOB"
#: Dagster's ``IMPLICIT_ASSET_JOB_NAME``: the job that materializes every asset.
IMPLICIT_ASSET_JOB_NAME = "__ASSET_JOB"
_MISSING_REASONS = ("MISSING_REQUIRED_FIELD", "MISSING_REQUIRED_FIELDS")
# Config types that an empty mapping can stand for while we look for missing leaves.
_SHAPE_TYPE_PREFIXES = ("Shape.", "Permissive.")
_FRAME_FILE = re.compile(r'\s*File "([^"]+)"')
# Dagster wraps the user's exception in one of these; the user's is their cause.
_WRAPPER_PREFIXES = ("DagsterExecution", "DagsterUserCodeExecutionError")


def loaded_dagster() -> Any:
    """The ``dagster`` module if the user's code imported it, else None."""
    return sys.modules.get("dagster")


def kind_of(value: object) -> Optional[str]:
    """``"repository"``, ``"definitions"`` or ``"job"`` for a Dagster object, else None."""
    dagster = loaded_dagster()
    if dagster is None:
        return None
    if isinstance(value, dagster.RepositoryDefinition):
        return "repository"
    if isinstance(value, dagster.Definitions):
        return "definitions"
    if isinstance(value, dagster.JobDefinition):
        return "job"
    return None


def repository_for(value: object) -> DagsterRepository:
    """Wrap a Dagster repository, ``Definitions`` or job as a repository, named as
    Dagster names it (``__repository__``, ``__repository__<job>``)."""
    dagster = loaded_dagster()
    kind = kind_of(value)
    if kind == "repository":
        return DagsterRepository(value)
    if kind == "definitions":
        return DagsterRepository(value.get_repository_def())  # type: ignore[attr-defined]
    if kind == "job":
        job_def: Any = value
        repo = dagster.repository(name=SINGLETON_REPOSITORY_NAME + job_def.name)(lambda: [job_def])
        return DagsterRepository(repo)
    raise TypeError(f"not a Dagster repository, Definitions or job: {value!r}")


class DagsterBackend(_backend.Backend):
    """Dagster's ``Definitions``, repositories and jobs, found as Dagster finds them."""

    name = "dagster"
    attribute_targets = "a Dagster Definitions object"

    def repositories_for(self, value: object) -> Optional[List[Any]]:
        if kind_of(value) is None:
            return None
        return [repository_for(value)]

    def scan(self, module: Any, where: str) -> Tuple[List[Any], List[Any]]:
        if loaded_dagster() is None:
            return [], []
        jobs: List[Any] = []
        found: Dict[str, List[Tuple[str, Any]]] = {"repository": [], "definitions": []}
        for name, value in list(vars(module).items()):
            kind = kind_of(value)
            if kind == "job" and value not in jobs:
                jobs.append(value)
            elif kind in found and all(v is not value for _, v in found[kind]):
                found[kind].append((name, value))
        # As Dagster does: one Definitions object stands for the module's Dagster code,
        # and repositories count only when there is none.
        if len(found["definitions"]) > 1:
            raise _backend.LoadError(
                "{} defines {} Dagster Definitions objects ({}); Dagster allows one per "
                "module: merge them, or set `attribute` to one".format(
                    where,
                    len(found["definitions"]),
                    ", ".join(name for name, _ in found["definitions"]),
                )
            )
        repositories = [
            repository_for(value) for _, value in found["definitions"] or found["repository"]
        ]
        return repositories, jobs

    def job_repository(self, job: Any) -> Any:
        return repository_for(job)

    def execute_job(
        self, repo: Any, job: Any, run_config: Mapping[str, Any], options: Mapping[str, Any]
    ) -> Dict[str, Any]:
        _backend.refuse_options(self, options, ())
        result = job.execute_in_process(run_config=dict(run_config) or None)
        # Dagster's step errors are error data already: it hands us no exception object.
        return _backend.run_data(result, lambda step: step.error, run_error=result.error)

    # Schedules: Dagster validated the cron string when the schedule was defined (it
    # accepts forms ours does not, such as a list of strings): no check_schedule.


BACKEND = DagsterBackend


class DagsterRepository:
    """A Dagster ``RepositoryDefinition`` with the interface of ours."""

    def __init__(self, repo_def: Any) -> None:
        self.dagster_repository = repo_def
        self.name: str = repo_def.name
        self.description: Optional[str] = getattr(repo_def, "description", None)
        self.source_location = None
        self._built: List[str] = []
        self._lists_asset_job: Optional[bool] = None

    @property
    def job_names(self) -> List[str]:
        """Names of the jobs; Dagster's ``job_names`` builds no lazily declared job.

        Dagster's implicit asset job (``__ASSET_JOB``, every asset of the repository) is
        listed when the repository has assets to materialize; other implicit jobs
        (older Dagsters' per-partitions variants, ``__ASSET_JOB_0``…) are not.
        """
        return [
            name
            for name in self.dagster_repository.job_names
            if not name.startswith(_IMPLICIT_JOB_PREFIX)
            or (name == IMPLICIT_ASSET_JOB_NAME and self._materializes_assets())
        ]

    def _materializes_assets(self) -> bool:
        """Whether the repository has assets that its ``__ASSET_JOB`` materializes (not
        only external assets), without building any job."""
        if self._lists_asset_job is None:
            repo = self.dagster_repository
            try:
                self._lists_asset_job = bool(
                    repo.has_implicit_global_asset_job_def()
                    and repo.asset_graph.materializable_asset_keys
                )
            except Exception:  # another Dagster: keep the implicit job hidden
                self._lists_asset_job = False
        return self._lists_asset_job

    @property
    def schedule_names(self) -> List[str]:
        return [schedule.name for schedule in self.dagster_repository.schedule_defs]

    @property
    def sensor_names(self) -> List[str]:
        return [sensor.name for sensor in self.dagster_repository.sensor_defs]

    @property
    def constructed_job_names(self) -> List[str]:
        """The jobs built so far: those given as job objects, and lazy ones once built."""
        index = getattr(getattr(self.dagster_repository, "_repository_data", None), "_jobs", None)
        sources = getattr(index, "_definitions", None)
        cache = getattr(index, "_definition_cache", None)
        job_class = loaded_dagster().JobDefinition
        if isinstance(sources, dict) and isinstance(cache, dict):
            return [
                name
                for name in self.job_names
                if name in cache or isinstance(sources.get(name), job_class)
            ]
        # Dagster changed its internals: fall back to what we built ourselves.
        return [name for name in self.job_names if name in self._built]

    def has_job(self, name: str) -> bool:
        return name in self.job_names

    def get_job(self, name: str) -> DagsterJob:
        """Build the job ``name`` with Dagster (only that one) and wrap it."""
        if not self.has_job(name):
            raise self._unknown("job", name, self.job_names)
        dagster = loaded_dagster()
        check_error = _check_error_class()
        try:
            job_def = self.dagster_repository.get_job(name)
        except Exception as exc:
            if isinstance(exc, dagster.DagsterError) or (
                check_error is not None and isinstance(exc, check_error)
            ):
                # Our error quotes Dagster's message; its frames are all Dagster's own.
                raise self._build_error(name, exc) from None
            raise
        if name not in self._built:
            self._built.append(name)
        return DagsterJob(job_def)

    def _build_error(self, key: str, exc: Exception) -> Exception:
        d = definitions
        text = str(exc)
        mismatch = re.search(r"does not match: got '([^']*)'", text)
        if mismatch:
            built = mismatch.group(1)
            mismatch_error: Exception = d.JobNameMismatchError(
                f"repository {self.name!r} declares a job under the key {key!r}, but the job "
                f"built for it is named {built!r}; rename the key to {built!r}, or pass "
                f"name={key!r} to @job. Dagster says: {text}",
                repository_name=self.name,
                key=key,
                built_name=built,
            )
            return mismatch_error
        invalid_error: Exception = d.InvalidDefinitionError(
            f"Dagster could not build job {key!r} of repository {self.name!r}: "
            f"{type(exc).__name__}: {text}"
        )
        return invalid_error

    def get_schedule(self, name: str) -> DagsterSchedule:
        if name not in self.schedule_names:
            raise self._unknown("schedule", name, self.schedule_names)
        return DagsterSchedule(self.dagster_repository.get_schedule_def(name))

    def get_sensor(self, name: str) -> DagsterSensor:
        if name not in self.sensor_names:
            raise self._unknown("sensor", name, self.sensor_names)
        return DagsterSensor(self.dagster_repository.get_sensor_def(name))

    def _unknown(self, kind: str, name: str, known: List[str]) -> Exception:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        error: Exception = definitions.UnknownDefinitionError(
            f"repository {self.name!r} has no {kind} {name!r}{hint} Known {kind}s: "
            f"{', '.join(known) or 'none'}",
            kind=kind,
            name=name,
            known=known,
            closest=close[0] if close else None,
        )
        return error


def _check_error_class() -> Any:
    for module_name in ("dagster_shared.check", "dagster._check"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "CheckError"):
            return module.CheckError
    return None


class DagsterJob:
    """A Dagster ``JobDefinition`` with the interface of ours.

    Ops are named by their handle: an op inside a graph is ``graph.op``, as Dagster's
    step keys are.
    """

    def __init__(self, job_def: Any) -> None:
        self.dagster_job = job_def
        self.name: str = job_def.name
        self.description: Optional[str] = job_def.description
        self.tags: Dict[str, Any] = dict(job_def.tags or {})
        self.source_location = None
        order, dependencies, _ = _flatten(job_def.graph, "", {})
        self.op_names: List[str] = order
        self.dependencies: Dict[str, List[str]] = dependencies

    def execute_in_process(
        self, run_config: Optional[Dict[str, Any]] = None, raise_on_error: bool = False
    ) -> DagsterRunResult:
        """Run the job with Dagster's ``execute_in_process`` on an ephemeral instance."""
        dagster = loaded_dagster()
        # Disposed after the run: assets stored by the default IO manager go to the
        # instance's temporary folder, removed then (outputs are read in memory).
        with dagster.DagsterInstance.ephemeral() as instance:
            try:
                result = self.dagster_job.execute_in_process(
                    run_config=run_config, instance=instance, raise_on_error=raise_on_error
                )
            except dagster.DagsterInvalidConfigError as exc:
                raise _run_config_error(self.dagster_job, run_config, exc) from None
            return DagsterRunResult(result, instance, self.op_names)


def _flatten(
    graph_def: Any, prefix: str, input_sources: Dict[str, List[str]]
) -> Tuple[List[str], Dict[str, List[str]], Dict[str, List[str]]]:
    """The ops of a graph, nested graphs included, in topological order, with the ops
    each one depends on, and the ops that produce each of the graph's outputs."""
    order: List[str] = []
    dependencies: Dict[str, List[str]] = {}
    produced_by: Dict[str, Dict[str, List[str]]] = {}  # node -> output -> ops
    structure = graph_def.dependency_structure
    for node in graph_def.nodes_in_topological_order:
        inputs: Dict[str, List[str]] = {}
        for node_input, outputs in structure.input_to_upstream_outputs_for_node(node.name).items():
            sources = inputs.setdefault(node_input.input_name, [])
            for output in outputs:
                sources.extend(produced_by.get(output.node_name, {}).get(output.output_name, []))
        for mapping in graph_def.input_mappings:
            if mapping.mapped_node_name == node.name:
                inputs.setdefault(mapping.mapped_node_input_name, []).extend(
                    input_sources.get(mapping.graph_input_name, [])
                )
        handle = prefix + node.name
        if hasattr(node.definition, "dependency_structure"):  # a nested graph
            inner_order, inner_deps, outputs_of = _flatten(node.definition, handle + ".", inputs)
            order.extend(inner_order)
            dependencies.update(inner_deps)
            produced_by[node.name] = outputs_of
        else:
            order.append(handle)
            upstream: List[str] = []
            for sources in inputs.values():
                upstream.extend(op for op in sources if op not in upstream)
            dependencies[handle] = upstream
            produced_by[node.name] = {
                output.name: [handle] for output in node.definition.output_defs
            }
    graph_outputs = {
        mapping.graph_output_name: produced_by.get(mapping.mapped_node_name, {}).get(
            mapping.mapped_node_output_name, []
        )
        for mapping in graph_def.output_mappings
    }
    return order, dependencies, graph_outputs


def _run_config_error(job_def: Any, run_config: Any, exc: Any) -> Exception:
    """Our ``RunConfigError`` for Dagster's ``DagsterInvalidConfigError``.

    Dagster reports a missing mapping (``ops`` at the root) as one missing field; to
    name the keys the user must supply, we fill missing mappings with ``{}`` and
    validate again until only missing leaves (``ops.greet.config.name``) remain.
    """
    errors = list(getattr(exc, "errors", []) or [])
    problems = [str(getattr(error, "message", error)) for error in errors]
    only_missing = bool(errors) and all(_reason(error) in _MISSING_REASONS for error in errors)
    missing: List[Any] = []
    try:
        missing = _missing_leaves(job_def, run_config, errors)
    except Exception:  # a best effort: Dagster's own message says it all anyway
        missing = []
    if only_missing and not missing:
        only_missing = False
    error: Exception = definitions.RunConfigError(
        str(exc), job_name=job_def.name, missing=missing, problems=problems
    )
    # Read by the worker: Dagster tells exactly which errors are missing fields.
    error.only_missing = only_missing  # type: ignore[attr-defined]
    return error


def _reason(error: Any) -> str:
    reason = getattr(error, "reason", None)
    return str(getattr(reason, "value", reason))


def _missing_leaves(job_def: Any, run_config: Any, errors: List[Any]) -> List[Any]:
    dagster = loaded_dagster()
    config = copy.deepcopy(run_config) if isinstance(run_config, dict) else {}
    leaves: List[Tuple[str, ...]] = []
    for _ in range(32):  # bounded: each round goes one level deeper
        to_fill: List[Tuple[str, ...]] = []
        for error in errors:
            if _reason(error) not in _MISSING_REASONS:
                continue
            path = tuple(getattr(error.stack, "levels", ()))
            data = error.error_data
            names = list(getattr(data, "field_names", None) or [data.field_name])
            snaps = list(getattr(data, "field_snaps", None) or [data.field_snap])
            for name, snap in zip(names, snaps):
                full = (*path, name)
                if str(getattr(snap, "type_key", "")).startswith(_SHAPE_TYPE_PREFIXES):
                    to_fill.append(full)
                elif full not in leaves:
                    leaves.append(full)
        if not to_fill:
            break
        for full in to_fill:
            target = config
            for part in full:
                target = target.setdefault(part, {})
        try:
            dagster.validate_run_config(job_def, config)
            break
        except dagster.DagsterInvalidConfigError as exc:
            errors = list(exc.errors)
    return [_missing_entry(leaf) for leaf in leaves]


def _missing_entry(path: Tuple[str, ...]) -> Any:
    # (op, key) pairs, as our definitions report them, when the path is an op's config.
    if len(path) >= 4 and path[0] == "ops" and path[2] == "config":
        return (path[1], ".".join(path[3:]))
    return ".".join(path)


class StepResult:
    """One op's (step's) outcome, as the worker reads it."""

    def __init__(
        self,
        op_name: str,
        status: str,
        duration: float,
        error: Optional[Dict[str, Any]],
        output: Any,
    ) -> None:
        self.op_name = op_name
        self.status = status
        self.duration = duration
        self.error = error  # error data (a dict): Dagster hands us no exception object
        self.output = output


class LogRecord:
    """One entry of a run's log."""

    def __init__(
        self, timestamp: float, level: str, op_name: Optional[str], message: str, event: Any
    ) -> None:
        self.timestamp = timestamp
        self.level = level
        self.op_name = op_name
        self.message = message
        self.event = event


class DagsterRunResult:
    """Dagster's ``ExecuteInProcessResult`` with the interface of our ``ExecutionResult``."""

    def __init__(self, result: Any, instance: Any, op_names: List[str]) -> None:
        self.success = bool(result.success)
        self.run_id: str = result.run_id
        self.error: Optional[Dict[str, Any]] = None
        self.logs: List[LogRecord] = []
        try:
            entries = list(instance.all_logs(result.run_id))
        except Exception:
            entries = []
        import logging  # Dagster has imported it; a worker without Dagster never needs it

        starts: Dict[str, float] = {}
        ends: Dict[str, Tuple[str, float]] = {}
        for entry in entries:
            event = entry.dagster_event
            event_name = event.event_type.name if event is not None else None
            self.logs.append(
                LogRecord(
                    entry.timestamp,
                    logging.getLevelName(entry.level),
                    entry.step_key,
                    entry.user_message,
                    event_name,
                )
            )
            if event_name == "STEP_START" and entry.step_key:
                starts[entry.step_key] = entry.timestamp
            elif event_name in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                ends[entry.step_key] = (event_name, entry.timestamp)
        failures = {}
        outputs_of: Dict[str, List[str]] = {}
        for event in result.all_events:
            if event.is_step_failure:
                failures[event.step_key] = event.step_failure_data.error
            elif event.event_type.name == "STEP_OUTPUT":
                outputs_of.setdefault(event.step_key, []).append(event.step_output_data.output_name)
            elif event.event_type.name == "RUN_FAILURE" and not self.success:
                data = getattr(event, "job_failure_data", None)
                if data is not None and getattr(data, "error", None) is not None:
                    self.error = error_data_from_info(data.error, stage="execute")
        steps = list(op_names) + [key for key in ends if key not in op_names]
        self.step_results: Dict[str, StepResult] = {}
        for step in steps:
            status_event, ended = ends.get(step, ("STEP_SKIPPED", 0.0))
            status = {"STEP_SUCCESS": "success", "STEP_FAILURE": "failure"}.get(
                status_event, "skipped"
            )
            duration = max(0.0, ended - starts[step]) if step in starts else 0.0
            error = None
            if step in failures and failures[step] is not None:
                error = error_data_from_info(failures[step], stage="execute", op=step)
            output = None
            if status == "success":
                output = _output(result, step, outputs_of.get(step, []))
            self.step_results[step] = StepResult(step, status, duration, error, output)


def _output(result: Any, step: str, names: List[str]) -> Any:
    try:
        if not names:
            return None
        if names == ["result"]:
            return result.output_for_node(step)
        return {name: result.output_for_node(step, name) for name in names}
    except Exception:  # dynamic outputs, custom IO managers: an output we cannot read back
        return None


def error_data_from_info(info: Any, stage: str, **extra: Any) -> Dict[str, Any]:
    """Error data (see docs/protocol.md) from Dagster's ``SerializableErrorInfo``.

    Dagster wraps the user's exception (``DagsterExecutionStepExecutionError``) and hands
    us its text, not the exception: we report the user's exception, with only the user's
    frames in its traceback.
    """
    while info.cause is not None and str(info.cls_name or "").startswith(_WRAPPER_PREFIXES):
        info = info.cause
    cls_name = str(info.cls_name or "Exception")
    message = str(info.message or "").rstrip("\n")
    if message.startswith(cls_name + ": "):
        message = message[len(cls_name) + 2 :]
    elif message == cls_name:
        message = ""
    data: Dict[str, Any] = {
        "type": cls_name,
        "message": message,
        "traceback": _format_info(info, set()),
        "kind": "user",
        "stage": stage,
    }
    data.update(extra)
    return data


def _format_info(info: Any, seen: Set[int]) -> str:
    if id(info) in seen:
        return ""
    seen.add(id(info))
    text = ""
    if getattr(info, "cause", None) is not None:
        text = (
            _format_info(info.cause, seen)
            + "\nThe above exception was the direct cause of the following exception:\n\n"
        )
    elif getattr(info, "context", None) is not None:
        text = (
            _format_info(info.context, seen)
            + "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    frames = [frame for frame in (info.stack or []) if not _is_library_frame(frame)]
    message = str(info.message or "").rstrip("\n")
    return text + "Traceback (most recent call last):\n" + "".join(frames) + message + "\n"


def _library_folders() -> List[str]:
    folders = []
    for name in ("dagster", "dagster_shared", "dagster_pipes"):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            folders.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return folders


def _is_library_frame(frame: str) -> bool:
    match = _FRAME_FILE.match(frame)
    if match is None:
        return False
    filename = match.group(1)
    if filename.startswith("<pytest_workspace") or filename.endswith(os.sep + "contextlib.py"):
        return True
    return any(filename.startswith(folder) for folder in _library_folders())


class DagsterSchedule:
    """A Dagster ``ScheduleDefinition`` with the interface of ours."""

    def __init__(self, schedule_def: Any) -> None:
        self.dagster_schedule = schedule_def
        self.name: str = schedule_def.name
        cron = schedule_def.cron_schedule
        self.cron_schedule: str = cron if isinstance(cron, str) else ", ".join(cron)
        self.job_name: Optional[str] = _job_name(schedule_def)

    def evaluate_tick(self) -> Any:
        """Run the schedule function once, with Dagster's ``build_schedule_context``."""
        dagster = loaded_dagster()
        with dagster.DagsterInstance.ephemeral() as instance:
            context = dagster.build_schedule_context(instance=instance)
            data = self.dagster_schedule.evaluate_tick(context)
        return _tick(data)


class DagsterSensor:
    """A Dagster ``SensorDefinition`` with the interface of ours."""

    def __init__(self, sensor_def: Any) -> None:
        self.dagster_sensor = sensor_def
        self.name: str = sensor_def.name
        self.job_name: Optional[str] = _job_name(sensor_def)

    def evaluate_tick(self) -> Any:
        """Run the sensor function once, with Dagster's ``build_sensor_context``."""
        dagster = loaded_dagster()
        with dagster.DagsterInstance.ephemeral() as instance:
            context = dagster.build_sensor_context(instance=instance)
            data = self.dagster_sensor.evaluate_tick(context)
        return _tick(data)


def _job_name(definition: Any) -> Optional[str]:
    try:
        name = definition.job_name
    except Exception:  # several targets, or an asset selection: no single job
        return None
    return name if isinstance(name, str) else None


def _tick(data: Any) -> Any:
    requests: Iterable[Any] = getattr(data, "run_requests", None) or []
    skip = getattr(data, "skip_message", None)
    requests = list(requests)
    if skip is not None and not requests:
        return definitions.SkipReason(skip)
    return requests

"""A small, dependency-free definitions API: ops, jobs, repositories, schedules and sensors.

The names mirror Dagster's, so that Dagster tutorial code runs after changing only its
import line. This module is shipped as source text into the interpreter of each code
location and executed there as ``pytest_workspace.definitions``; it therefore imports only
the standard library, ``pytest_workspace.protocol`` and ``pytest_workspace._definition_errors``
(both shipped before it, standard-library only too), and never uses ``__file__``.
It runs unchanged on CPython 3.8 through 3.13.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import re
import threading
import time
import types
import uuid
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NoReturn,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from pytest_workspace import protocol as _protocol
from pytest_workspace._definition_errors import (
    DefinitionError,
    OutputNotAvailableError,
    RunConfigError,
)

__all__ = [
    "DefinitionError",
    "DuplicateDefinitionError",
    "ExecutionResult",
    "InvalidCronError",
    "InvalidDefinitionError",
    "InvalidEvaluationError",
    "InvalidTargetError",
    "JobDefinition",
    "JobNameMismatchError",
    "LogEntry",
    "OpDefinition",
    "OpExecutionContext",
    "OutputNotAvailableError",
    "RepositoryDefinition",
    "RunConfigError",
    "RunRequest",
    "ScheduleDefinition",
    "ScheduleEvaluationContext",
    "SensorDefinition",
    "SensorEvaluationContext",
    "SkipReason",
    "StepResult",
    "UnknownDefinitionError",
    "build_op_context",
    "job",
    "op",
    "repository",
    "schedule",
    "sensor",
    "validate_cron_schedule",
]

F = TypeVar("F", bound=Callable[..., Any])

#: ``(filename, line)`` of the ``def`` (or its first decorator) a definition came from.
SourceLocation = Tuple[str, int]

# Dagster's rule for names: they end up in run storage, URLs and, here, pytest node ids.
_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
# First parameter names that mean "give me the context" (Dagster accepts the same ones).
_CONTEXT_PARAM_NAMES = ("context", "_context", "_")
_REPR_LIMIT = 80


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class InvalidDefinitionError(DefinitionError):
    """A definition is malformed: a wrong type, a bad list member, a builder that returned
    something other than a definition, an unknown dict key, a bad name or signature."""


class JobNameMismatchError(DefinitionError):
    """A job built for a repository key has another name than that key.

    ``repository_name``, ``key`` and ``built_name`` name the three parties.
    """

    def __init__(
        self,
        message: str,
        *,
        repository_name: Optional[str] = None,
        key: Optional[str] = None,
        built_name: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.repository_name = repository_name
        self.key = key
        self.built_name = built_name


class DuplicateDefinitionError(DefinitionError):
    """Two different definitions of one kind share a name in one repository.

    ``kind`` is ``"job"``, ``"schedule"`` or ``"sensor"``; ``name`` the shared name.
    """

    def __init__(
        self,
        message: str,
        *,
        repository_name: Optional[str] = None,
        kind: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.repository_name = repository_name
        self.kind = kind
        self.name = name


class UnknownDefinitionError(DefinitionError, LookupError):
    """A job, schedule, sensor or op was asked for by a name that does not exist.

    ``known`` lists the existing names, ``closest`` is the nearest one (or None).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: Optional[str] = None,
        name: Optional[str] = None,
        known: Sequence[str] = (),
        closest: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.known = list(known)
        self.closest = closest


class InvalidTargetError(DefinitionError):
    """A schedule or sensor targets a job that its repository does not contain."""

    def __init__(
        self,
        message: str,
        *,
        repository_name: Optional[str] = None,
        definition_name: Optional[str] = None,
        job_name: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.repository_name = repository_name
        self.definition_name = definition_name
        self.job_name = job_name


class InvalidCronError(DefinitionError):
    """A cron schedule string is malformed; ``field`` names the wrong field (or None)."""

    def __init__(
        self,
        message: str,
        *,
        cron_schedule: object = None,
        field: Optional[str] = None,
        schedule_name: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.cron_schedule = cron_schedule
        self.field = field
        self.schedule_name = schedule_name


class InvalidEvaluationError(DefinitionError):
    """A schedule or sensor function returned something that is not a valid tick result."""

    def __init__(
        self, message: str, *, definition_name: Optional[str] = None, returned: object = None
    ) -> None:
        super().__init__(message)
        self.definition_name = definition_name
        self.returned = returned


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _short_repr(value: object, limit: int = _REPR_LIMIT) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not hide the real problem
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _describe(value: object) -> str:
    """``a str ('abc')``: the type and a truncated repr, for error messages."""
    if value is None:
        return "None"
    kind = _type_name(value)
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return f"{article} {kind} ({_short_repr(value)})"


def _type_name(value: object) -> str:
    kind = type(value)
    if kind.__module__ in ("builtins", __name__):
        return kind.__name__
    return f"{kind.__module__}.{kind.__qualname__}"


def _unknown(kind: str, name: str, known: Sequence[str], where: str) -> UnknownDefinitionError:
    closest = _protocol.closest_name(name, known)
    listing = ", ".join(repr(k) for k in known) if known else "none"
    hint = _protocol.did_you_mean(name, known)
    return UnknownDefinitionError(
        f"{where} has no {kind} named {name!r}; known {kind}s: {listing}{hint}",
        kind=kind,
        name=name,
        known=known,
        closest=closest,
    )


def _check_name(name: object, kind: str) -> str:
    if not isinstance(name, str):
        raise InvalidDefinitionError(f"the name of a {kind} must be a str, got {_describe(name)}")
    if not _NAME_RE.match(name):
        raise InvalidDefinitionError(
            f"invalid {kind} name {name!r}: names may contain only letters, digits and "
            f"underscores (pass a valid name=...)"
        )
    return name


def _source_location(fn: object) -> Optional[SourceLocation]:
    code = getattr(fn, "__code__", None)
    if isinstance(code, types.CodeType):
        return (code.co_filename, code.co_firstlineno)
    return None


def _check_optional_str(value: object, what: str) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise InvalidDefinitionError(f"{what} must be a str or None, got {_describe(value)}")
    return value


def _check_str_keyed_dict(value: object, what: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidDefinitionError(f"{what} must be a dict, got {_describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidDefinitionError(f"{what} must have str keys, got key {_describe(key)}")
    return dict(value)


def _doc(fn: Callable[..., Any]) -> Optional[str]:
    return inspect.getdoc(fn)


def _takes_no_arguments(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` can be called with no arguments (unknown signatures count as yes)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind()
    except TypeError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Logs, contexts and results
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LogEntry:
    """One log record of a run.

    ``level`` is ``"DEBUG"``, ``"INFO"``, ``"WARNING"`` or ``"ERROR"``; ``op_name`` is None
    for run-level records; ``event`` is None for messages logged by user code and the
    framework event (``"STEP_START"``, ``"STEP_SUCCESS"``...) otherwise. ``logger`` names
    who recorded it: None for this API's runs and pytest-workspace's own notes (reported
    as ``pytest_workspace``), ``"dagster"`` for a Dagster run's event log.
    """

    timestamp: float
    level: str
    op_name: Optional[str]
    message: str
    event: Optional[str] = None
    logger: Optional[str] = None


class OpLogger:
    """``context.log``: records messages of an op into its run's logs."""

    def __init__(self, op_name: Optional[str], entries: Optional[List[LogEntry]] = None) -> None:
        self._op_name = op_name
        self.entries: List[LogEntry] = entries if entries is not None else []

    def _log(self, level: str, message: object) -> None:
        self.entries.append(LogEntry(time.time(), level, self._op_name, str(message)))

    def debug(self, message: object) -> None:
        """Log ``message`` at DEBUG level."""
        self._log("DEBUG", message)

    def info(self, message: object) -> None:
        """Log ``message`` at INFO level."""
        self._log("INFO", message)

    def warning(self, message: object) -> None:
        """Log ``message`` at WARNING level."""
        self._log("WARNING", message)

    warn = warning

    def error(self, message: object) -> None:
        """Log ``message`` at ERROR level."""
        self._log("ERROR", message)

    def critical(self, message: object) -> None:
        """Log ``message`` at ERROR level (there is no separate CRITICAL level)."""
        self._log("ERROR", message)


class OpExecutionContext:
    """What an op receives as ``context``: its config, name, run id, job name and logger."""

    def __init__(
        self,
        op_name: str = "op",
        op_config: Any = None,
        run_id: Optional[str] = None,
        job_name: Optional[str] = None,
        log: Optional[OpLogger] = None,
    ) -> None:
        self.op_name = op_name
        self.op_config = op_config
        self.run_id = run_id if run_id is not None else str(uuid.uuid4())
        self.job_name = job_name
        self.log = log if log is not None else OpLogger(op_name)

    def __repr__(self) -> str:
        return (
            f"OpExecutionContext(op_name={self.op_name!r}, job_name={self.job_name!r}, "
            f"run_id={self.run_id!r})"
        )


def build_op_context(op_config: Any = None, *, config: Any = None) -> OpExecutionContext:
    """A context for invoking an op directly in a test, like Dagster's ``build_op_context``.

    ``config`` is accepted as an alias of ``op_config`` for Dagster compatibility.
    """
    return OpExecutionContext(op_name="op", op_config=config if op_config is None else op_config)


@dataclasses.dataclass(frozen=True)
class StepResult:
    """The outcome of one op in a run: ``status`` is ``success``, ``failure`` or ``skipped``."""

    op_name: str
    status: str
    duration: float
    error: Optional[BaseException] = None
    output: Any = None


class ExecutionResult:
    """The result of ``JobDefinition.execute_in_process``."""

    def __init__(
        self,
        job_name: str,
        run_id: str,
        step_results: Dict[str, StepResult],
        logs: List[LogEntry],
        duration: float,
    ) -> None:
        self.job_name = job_name
        self.run_id = run_id
        #: op name -> StepResult, in execution order
        self.step_results = step_results
        self.logs = logs
        self.duration = duration

    @property
    def success(self) -> bool:
        """True when every op succeeded."""
        return all(step.status == "success" for step in self.step_results.values())

    @property
    def failed_ops(self) -> List[str]:
        """Names of the ops whose step failed, in execution order."""
        return [name for name, step in self.step_results.items() if step.status == "failure"]

    @property
    def skipped_ops(self) -> List[str]:
        """Names of the ops skipped because an upstream op did not succeed."""
        return [name for name, step in self.step_results.items() if step.status == "skipped"]

    def output_for(self, op_name: str, output_name: str = "result") -> Any:
        """The value returned by op ``op_name``; an error if it is unknown or did not succeed."""
        if op_name not in self.step_results:
            raise _unknown("op", op_name, list(self.step_results), f"job {self.job_name!r}")
        if output_name != "result":
            raise UnknownDefinitionError(
                f"op {op_name!r} has a single output named 'result', not {output_name!r}",
                kind="output",
                name=output_name,
                known=["result"],
                closest="result",
            )
        step = self.step_results[op_name]
        if step.status != "success":
            why = (
                f"it failed with {type(step.error).__name__}: {step.error}"
                if step.status == "failure"
                else "it was skipped because an upstream op did not succeed"
            )
            raise OutputNotAvailableError(
                f"op {op_name!r} of job {self.job_name!r} has no output: {why}",
                op_name=op_name,
                status=step.status,
            )
        return step.output

    def __repr__(self) -> str:
        return (
            f"ExecutionResult(job_name={self.job_name!r}, success={self.success}, "
            f"run_id={self.run_id!r})"
        )


# --------------------------------------------------------------------------------------
# Ops
# --------------------------------------------------------------------------------------


class _Trace:
    """The graph recorded while a @job body runs."""

    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self.nodes: Dict[str, _OpNode] = {}

    def node_name_for(self, op_def: OpDefinition, alias: Optional[str]) -> str:
        if alias is not None:
            if alias in self.nodes:
                raise InvalidDefinitionError(
                    f"job {self.job_name!r} already has an op named {alias!r}; "
                    f"give the alias another name"
                )
            return alias
        if op_def.name not in self.nodes:
            return op_def.name
        index = 2
        while f"{op_def.name}_{index}" in self.nodes:
            index += 1
        return f"{op_def.name}_{index}"


_tracing = threading.local()


def _current_trace() -> Optional[_Trace]:
    stack: List[_Trace] = getattr(_tracing, "stack", [])
    return stack[-1] if stack else None


class _OpNode:
    """One invocation of an op in a job: its node name and where its inputs come from."""

    def __init__(self, name: str, op_def: OpDefinition, inputs: Dict[str, str]) -> None:
        self.name = name
        self.op_def = op_def
        #: input parameter name -> upstream node name
        self.inputs = inputs


class _OutputHandle:
    """What calling an op inside a @job body returns: a reference to its future output."""

    def __init__(self, trace: _Trace, node_name: str) -> None:
        self._trace = trace
        self.node_name = node_name

    def __iter__(self) -> Iterator[Any]:
        raise InvalidDefinitionError(
            f"the output of op {self.node_name!r} in job {self._trace.job_name!r} cannot be "
            f"unpacked or iterated inside the @job body: an op has exactly one output; pass "
            f"it whole to the next op and unpack it there"
        )

    def __repr__(self) -> str:
        return f"<output of op {self.node_name!r} in job {self._trace.job_name!r}>"


class OpDefinition:
    """A unit of computation; create one with ``@op``.

    Calling it inside a ``@job`` body records an invocation; calling it anywhere else runs
    the function directly (building a context when the function takes one).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: Optional[str] = None,
        description: Optional[str] = None,
        config_schema: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if not callable(fn):
            raise InvalidDefinitionError(f"@op must decorate a function, got {_describe(fn)}")
        self.fn = fn
        self.name = _check_name(name if name is not None else fn.__name__, "op")
        self.description = _check_optional_str(description, f"description of op {self.name!r}")
        if self.description is None:
            self.description = _doc(fn)
        self.config_schema = _check_config_schema(config_schema, self.name)
        self.source_location = _source_location(fn)
        self._signature = inspect.signature(fn)
        params = list(self._signature.parameters.values())
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise InvalidDefinitionError(
                    f"op {self.name!r} has a *args or **kwargs parameter ({param.name!r}); "
                    f"declare every input as a named parameter"
                )
        self.takes_context = bool(params) and params[0].name in _CONTEXT_PARAM_NAMES
        input_params = params[1:] if self.takes_context else params
        self._input_signature = self._signature.replace(parameters=input_params)
        #: names of the op's inputs, in declaration order
        self.input_names: List[str] = [p.name for p in input_params]

    def alias(self, name: str) -> _AliasedOp:
        """Invoke this op under another node name inside a @job body: ``op.alias("x")()``."""
        return _AliasedOp(self, _check_name(name, "op alias"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        trace = _current_trace()
        if trace is not None:
            return self._record(trace, None, args, kwargs)
        return self._invoke_directly(args, kwargs)

    def _invoke_directly(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        if self.takes_context:
            context_name = self._signature_first_name()
            if args and isinstance(args[0], OpExecutionContext):
                pass
            elif context_name in kwargs:
                pass
            else:
                context = OpExecutionContext(
                    op_name=self.name, op_config={} if self.config_schema is not None else None
                )
                args = (context, *args)
        return self.fn(*args, **kwargs)

    def _signature_first_name(self) -> str:
        return next(iter(self._signature.parameters))

    def _record(
        self,
        trace: _Trace,
        alias: Optional[str],
        args: Tuple[Any, ...],
        kwargs: Dict[str, Any],
    ) -> _OutputHandle:
        where = f"op {self.name!r} in the body of job {trace.job_name!r}"
        try:
            bound = self._input_signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise InvalidDefinitionError(
                f"bad call of {where}: {exc}; its inputs are "
                f"{', '.join(self.input_names) or 'none'} (the context is passed by the job)"
            ) from None
        inputs: Dict[str, str] = {}
        for param_name, value in bound.arguments.items():
            if not isinstance(value, _OutputHandle):
                raise InvalidDefinitionError(
                    f"input {param_name!r} of {where} was given {_describe(value)}; inside a "
                    f"@job body, inputs must be results of other op calls (put constants in "
                    f"config_schema, or give the parameter a default value and leave it out)"
                )
            if value._trace is not trace:
                raise InvalidDefinitionError(
                    f"input {param_name!r} of {where} was given the output of op "
                    f"{value.node_name!r} of job {value._trace.job_name!r}; outputs can only "
                    f"be passed between ops of the same job"
                )
            inputs[param_name] = value.node_name
        for param in self._input_signature.parameters.values():
            if param.name not in inputs and param.default is param.empty:
                raise InvalidDefinitionError(
                    f"input {param.name!r} of {where} is not connected; pass the result of "
                    f"another op to it, or give the parameter a default value"
                )
        node_name = trace.node_name_for(self, alias)
        trace.nodes[node_name] = _OpNode(node_name, self, inputs)
        return _OutputHandle(trace, node_name)

    def __repr__(self) -> str:
        return f"<OpDefinition {self.name!r}>"


class _AliasedOp:
    """An op invoked under another node name (``my_op.alias("other")``)."""

    def __init__(self, op_def: OpDefinition, alias: str) -> None:
        self.op_def = op_def
        self.alias = alias

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        trace = _current_trace()
        if trace is None:
            return self.op_def._invoke_directly(args, kwargs)
        return self.op_def._record(trace, self.alias, args, kwargs)


def _check_config_schema(schema: object, op_name: str) -> Optional[Dict[str, type]]:
    if schema is None:
        return None
    if not isinstance(schema, Mapping):
        raise InvalidDefinitionError(
            f"config_schema of op {op_name!r} must be a dict of key -> Python type "
            f"(e.g. {{'url': str, 'retries': int}}), got {_describe(schema)}"
        )
    checked: Dict[str, type] = {}
    for key, kind in schema.items():
        if not isinstance(key, str):
            raise InvalidDefinitionError(
                f"config_schema of op {op_name!r} must have str keys, got {_describe(key)}"
            )
        if kind is Any:
            kind = object
        if not isinstance(kind, type):
            raise InvalidDefinitionError(
                f"config_schema[{key!r}] of op {op_name!r} must be a Python type such as "
                f"str, int, float, bool, list or dict, got {_describe(kind)}"
            )
        checked[key] = kind
    return checked


@overload
def op(fn: F) -> OpDefinition: ...


@overload
def op(
    fn: None = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    config_schema: Optional[Mapping[str, Any]] = None,
) -> Callable[[Callable[..., Any]], OpDefinition]: ...


def op(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    config_schema: Optional[Mapping[str, Any]] = None,
) -> Union[OpDefinition, Callable[[Callable[..., Any]], OpDefinition]]:
    """Declare an op: ``@op`` or ``@op(name=..., description=..., config_schema=...)``.

    A first parameter named ``context`` receives an :class:`OpExecutionContext`; the other
    parameters are inputs; the return value is the output. ``config_schema`` maps each
    config key to a Python type; every key is required in the run config (or the job's
    default ``config=``).
    """
    if fn is not None:
        return OpDefinition(fn)

    def decorate(inner: Callable[..., Any]) -> OpDefinition:
        return OpDefinition(inner, name=name, description=description, config_schema=config_schema)

    return decorate


# --------------------------------------------------------------------------------------
# Run config
# --------------------------------------------------------------------------------------


def _type_matches(value: object, kind: type) -> bool:
    if kind is object:
        return True
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_run_config(
    job_name: str,
    nodes: Mapping[str, _OpNode],
    run_config: object,
    require_all: bool,
) -> Tuple[Dict[str, Any], List[Tuple[str, str]], List[str]]:
    """Per-op config, the missing ``(op, key)`` pairs, and every problem as a sentence."""
    missing: List[Tuple[str, str]] = []
    problems: List[str] = []
    op_configs: Dict[str, Any] = {}
    if not isinstance(run_config, Mapping):
        problems.append(
            f"the run config must be a dict like {{'ops': {{'op_name': {{'config': {{...}}}}}}}}"
            f", got {_describe(run_config)}"
        )
        return op_configs, missing, problems
    for key in run_config:
        if key != "ops":
            problems.append(
                f"unknown top-level run config key {key!r}; the only allowed key is 'ops'"
            )
    ops_section = run_config.get("ops", {})
    if not isinstance(ops_section, Mapping):
        problems.append(
            f"'ops' must be a dict of op name -> {{'config': {{...}}}}, got "
            f"{_describe(ops_section)}"
        )
        ops_section = {}
    for op_name, entry in ops_section.items():
        if op_name not in nodes:
            problems.append(
                f"ops.{op_name}: job {job_name!r} has no op named {op_name!r}; its ops "
                f"are: {', '.join(nodes)}{_protocol.did_you_mean(str(op_name), nodes)}"
            )
            continue
        if not isinstance(entry, Mapping):
            problems.append(
                f"ops.{op_name} must be a dict like {{'config': {{...}}}}, got {_describe(entry)}"
            )
            continue
        for key in entry:
            if key != "config":
                problems.append(
                    f"ops.{op_name}: unknown key {key!r}; the only allowed key is 'config'"
                )
    for node_name, node in nodes.items():
        entry = ops_section.get(node_name)
        has_config = isinstance(entry, Mapping) and "config" in entry
        config = entry["config"] if has_config and isinstance(entry, Mapping) else None
        schema = node.op_def.config_schema
        if schema is None:
            op_configs[node_name] = config
            continue
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            problems.append(
                f"ops.{node_name}.config must be a dict of key -> value, got {_describe(config)}"
            )
            continue
        for key, value in config.items():
            if key not in schema:
                allowed = ", ".join(repr(k) for k in schema) or "none"
                problems.append(
                    f"op {node_name!r}: unknown config key {key!r}; its config keys "
                    f"are: {allowed}{_protocol.did_you_mean(str(key), schema)}"
                )
            elif not _type_matches(value, schema[key]):
                problems.append(
                    f"op {node_name!r}: config key {key!r} must be {schema[key].__name__}, "
                    f"got {_describe(value)}"
                )
        if require_all:
            for key, kind in schema.items():
                if key not in config:
                    missing.append((node_name, key))
                    problems.append(
                        f"op {node_name!r}: missing required config key {key!r} "
                        f"({kind.__name__}); set ops.{node_name}.config.{key} in the run "
                        f"config or in @job(config=...)"
                    )
        op_configs[node_name] = dict(config)
    return op_configs, missing, problems


# --------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------


class JobDefinition:
    """A graph of ops; create one with ``@job``.

    ``op_names`` is in topological order (the order the ops were invoked in the body);
    ``dependencies`` maps each op to the ops whose outputs it consumes.
    """

    def __init__(
        self,
        name: str,
        nodes: Sequence[_OpNode],
        description: Optional[str] = None,
        tags: Optional[Mapping[str, Any]] = None,
        config: Optional[Mapping[str, Any]] = None,
        source_location: Optional[SourceLocation] = None,
    ) -> None:
        self.name = _check_name(name, "job")
        self.description = _check_optional_str(description, f"description of job {name!r}")
        self.tags: Dict[str, Any] = _check_str_keyed_dict(tags, f"tags of job {name!r}")
        self._nodes: Dict[str, _OpNode] = {node.name: node for node in nodes}
        self.config: Dict[str, Any] = _check_str_keyed_dict(config, f"config of job {name!r}")
        self.source_location = source_location
        _, _, problems = _check_run_config(name, self._nodes, self.config, require_all=False)
        if problems:
            raise InvalidDefinitionError(
                f"the default config=... of job {name!r} is invalid:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )

    @property
    def op_names(self) -> List[str]:
        """The names of the job's ops, in topological order."""
        return list(self._nodes)

    @property
    def dependencies(self) -> Dict[str, List[str]]:
        """Op name -> names of its upstream ops (every op has an entry)."""
        result: Dict[str, List[str]] = {}
        for name, node in self._nodes.items():
            upstream: List[str] = []
            for source in node.inputs.values():
                if source not in upstream:
                    upstream.append(source)
            result[name] = upstream
        return result

    def get_op(self, op_name: str) -> OpDefinition:
        """The OpDefinition invoked under ``op_name`` (an alias like ``add_2`` works too)."""
        if op_name not in self._nodes:
            raise _unknown("op", op_name, self.op_names, f"job {self.name!r}")
        return self._nodes[op_name].op_def

    def resolve_run_config(self, run_config: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Op name -> its config, with ``run_config`` merged over the job's ``config=``.

        Raises :class:`RunConfigError` listing every missing or wrong key.
        """
        merged: object
        if run_config is None:
            merged = self.config
        elif isinstance(run_config, Mapping):
            merged = _deep_merge(self.config, run_config)
        else:
            merged = run_config
        op_configs, missing, problems = _check_run_config(
            self.name, self._nodes, merged, require_all=True
        )
        if problems:
            raise RunConfigError(
                f"invalid run config for job {self.name!r}; no op was run:\n"
                + "\n".join(f"  - {p}" for p in problems),
                job_name=self.name,
                missing=missing,
                problems=problems,
            )
        return op_configs

    def execute_in_process(
        self, run_config: Optional[Mapping[str, Any]] = None, raise_on_error: bool = True
    ) -> ExecutionResult:
        """Run the job's ops in topological order in this process.

        Config problems raise :class:`RunConfigError` before any op runs. An op downstream
        of one that did not succeed is skipped. With ``raise_on_error`` the first op's
        exception is re-raised once the run is over; otherwise ``success`` is False.
        """
        op_configs = self.resolve_run_config(run_config)
        run_id = str(uuid.uuid4())
        logs: List[LogEntry] = []

        def event(level: str, op_name: Optional[str], name: str, message: str) -> None:
            logs.append(LogEntry(time.time(), level, op_name, message, name))

        run_started = time.perf_counter()
        event("INFO", None, "RUN_START", f"Started run {run_id} of job {self.name!r}")
        steps: Dict[str, StepResult] = {}
        for name, node in self._nodes.items():
            blocked = [up for up in node.inputs.values() if steps[up].status != "success"]
            if blocked:
                steps[name] = StepResult(name, "skipped", 0.0)
                event(
                    "INFO",
                    name,
                    "STEP_SKIPPED",
                    f"Skipped op {name!r}: upstream op {blocked[0]!r} did not succeed",
                )
                continue
            context = OpExecutionContext(
                op_name=name,
                op_config=op_configs.get(name),
                run_id=run_id,
                job_name=self.name,
                log=OpLogger(name, logs),
            )
            kwargs = {param: steps[up].output for param, up in node.inputs.items()}
            args = (context,) if node.op_def.takes_context else ()
            event("DEBUG", name, "STEP_START", f"Started op {name!r}")
            started = time.perf_counter()
            try:
                output = node.op_def.fn(*args, **kwargs)
            except (Exception, SystemExit) as exc:  # sys.exit() in an op fails that op
                duration = time.perf_counter() - started
                steps[name] = StepResult(name, "failure", duration, error=exc)
                event(
                    "ERROR",
                    name,
                    "STEP_FAILURE",
                    f"Op {name!r} failed after {duration:.3f}s: {type(exc).__name__}: {exc}",
                )
                continue
            duration = time.perf_counter() - started
            steps[name] = StepResult(name, "success", duration, output=output)
            event("DEBUG", name, "STEP_SUCCESS", f"Op {name!r} succeeded in {duration:.3f}s")
        result = ExecutionResult(self.name, run_id, steps, logs, time.perf_counter() - run_started)
        if result.success:
            event("INFO", None, "RUN_SUCCESS", f"Run {run_id} of job {self.name!r} succeeded")
        else:
            event(
                "ERROR",
                None,
                "RUN_FAILURE",
                f"Run {run_id} of job {self.name!r} failed: op(s) "
                f"{', '.join(result.failed_ops)} failed",
            )
            if raise_on_error:
                error = steps[result.failed_ops[0]].error
                assert error is not None
                raise error
        return result

    def __repr__(self) -> str:
        return f"<JobDefinition {self.name!r} ops={self.op_names}>"


def _build_job(
    fn: Callable[..., Any],
    name: Optional[str],
    description: Optional[str],
    tags: Optional[Mapping[str, Any]],
    config: Optional[Mapping[str, Any]],
) -> JobDefinition:
    if isinstance(fn, OpDefinition):
        raise InvalidDefinitionError(
            f"@job decorates a function whose body calls ops, not the op {fn.name!r} itself; "
            f"write a function that calls {fn.name}() and decorate that"
        )
    if not callable(fn):
        raise InvalidDefinitionError(f"@job must decorate a function, got {_describe(fn)}")
    job_name = _check_name(name if name is not None else fn.__name__, "job")
    if not _takes_no_arguments(fn):
        raise InvalidDefinitionError(
            f"the body of job {job_name!r} must take no parameters: it only composes ops by "
            f"calling them"
        )
    trace = _Trace(job_name)
    stack: List[_Trace] = getattr(_tracing, "stack", None) or []
    _tracing.stack = stack
    stack.append(trace)
    try:
        fn()
    finally:
        stack.pop()
    if description is None:
        description = _doc(fn)
    return JobDefinition(
        job_name,
        list(trace.nodes.values()),
        description=description,
        tags=tags,
        config=config,
        source_location=_source_location(fn),
    )


@overload
def job(fn: Callable[..., Any]) -> JobDefinition: ...


@overload
def job(
    fn: None = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    tags: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
) -> Callable[[Callable[..., Any]], JobDefinition]: ...


def job(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    tags: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
) -> Union[JobDefinition, Callable[[Callable[..., Any]], JobDefinition]]:
    """Declare a job: ``@job`` or ``@job(name=..., description=..., tags=..., config=...)``.

    The body runs once, now, to record the graph: calling an op returns a handle to its
    output, and passing a handle to another op makes a dependency. ``config`` is a default
    run config (``{"ops": {"op_name": {"config": {...}}}}``) that run config is merged over.
    """
    if fn is not None:
        return _build_job(fn, None, None, None, None)

    def decorate(inner: Callable[..., Any]) -> JobDefinition:
        return _build_job(inner, name, description, tags, config)

    return decorate


# --------------------------------------------------------------------------------------
# Run requests, cron and schedules
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """A request, returned by a schedule or sensor, to run its job with ``run_config``."""

    run_key: Optional[str] = None
    run_config: Optional[Dict[str, Any]] = None
    tags: Optional[Dict[str, Any]] = None

    def __post_init__(self) -> None:
        if self.run_key is not None and not isinstance(self.run_key, str):
            raise InvalidDefinitionError(
                f"RunRequest(run_key=...) must be a str or None, got {_describe(self.run_key)}"
            )
        run_config = _check_str_keyed_dict(self.run_config, "RunRequest(run_config=...)")
        tags = _check_str_keyed_dict(self.tags, "RunRequest(tags=...)")
        object.__setattr__(self, "run_config", run_config)
        object.__setattr__(self, "tags", tags)

    __hash__ = None  # type: ignore[assignment]  # holds dicts


@dataclasses.dataclass(frozen=True)
class SkipReason:
    """What a schedule or sensor returns to say it requests no run this tick, and why."""

    message: Optional[str] = None

    def __post_init__(self) -> None:
        _check_optional_str(self.message, "SkipReason(message)")


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (field name, lowest, highest, names for lowest.. or None)
_CRON_FIELDS: Tuple[Tuple[str, int, int, Optional[Tuple[str, ...]]], ...] = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)
_CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _cron_allowed(low: int, high: int, names: Optional[Tuple[str, ...]]) -> str:
    values = f"{low}-{high}"
    if names:
        values += f" or {names[0]}-{names[-1]}"
    if names is _WEEKDAYS:
        values += " (0 and 7 are Sunday)"
    return f"allowed: {values}, '*', lists (1,15), ranges (1-5) and steps (*/15, 0-30/5)"


def _parse_cron_value(text: str, low: int, names: Optional[Tuple[str, ...]]) -> Optional[int]:
    if text.isdigit():
        return int(text)
    if names and text.upper() in names:
        return low + names.index(text.upper())
    return None


def _check_cron_field(text: str, low: int, high: int, names: Optional[Tuple[str, ...]]) -> None:
    """Raise ValueError saying what is wrong with one field of a cron expression."""
    for item in text.split(","):
        if not item:
            raise ValueError("has an empty list element")
        base, slash, step = item.partition("/")
        if slash:
            if not step.isdigit() or int(step) == 0:
                raise ValueError(f"step {step!r} in {item!r} must be a positive whole number")
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2:
            raise ValueError(f"{item!r} is not a value, range or step")
        values: List[int] = []
        for bound in bounds:
            value = _parse_cron_value(bound, low, names)
            if value is None:
                what = f"a number or a name ({names[0]}, {names[1]}...)" if names else "a number"
                raise ValueError(f"{bound!r} is not {what}")
            if not low <= value <= high:
                raise ValueError(f"{bound} is out of range")
            values.append(value)
        if len(values) == 2 and values[0] > values[1]:
            raise ValueError(f"range {base!r} runs backwards")


def validate_cron_schedule(cron_schedule: object, schedule_name: Optional[str] = None) -> None:
    """Check a standard 5-field cron expression (or an ``@daily``-style alias).

    Raises :class:`InvalidCronError` naming the wrong field and what it allows.
    """
    owner = f" of schedule {schedule_name!r}" if schedule_name else ""
    if not isinstance(cron_schedule, str):
        raise InvalidCronError(
            f"the cron schedule{owner} must be a str like '0 * * * *', got "
            f"{_describe(cron_schedule)}",
            cron_schedule=cron_schedule,
            schedule_name=schedule_name,
        )
    expression = cron_schedule.strip()
    if expression.startswith("@"):
        if expression.lower() in _CRON_ALIASES:
            return
        raise InvalidCronError(
            f"invalid cron schedule {cron_schedule!r}{owner}: unknown alias {expression!r}; "
            f"allowed aliases: {', '.join(_CRON_ALIASES)}",
            cron_schedule=cron_schedule,
            schedule_name=schedule_name,
        )
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        raise InvalidCronError(
            f"invalid cron schedule {cron_schedule!r}{owner}: it has {len(fields)} field(s), "
            f"expected 5 (minute hour day-of-month month day-of-week, e.g. '0 9 * * MON-FRI') "
            f"or one of {', '.join(_CRON_ALIASES)}",
            cron_schedule=cron_schedule,
            schedule_name=schedule_name,
        )
    for text, (field, low, high, names) in zip(fields, _CRON_FIELDS):
        try:
            _check_cron_field(text, low, high, names)
        except ValueError as exc:
            raise InvalidCronError(
                f"invalid cron schedule {cron_schedule!r}{owner}: {field} field {text!r} "
                f"{_field_problem(str(exc))}; {_cron_allowed(low, high, names)}",
                cron_schedule=cron_schedule,
                field=field,
                schedule_name=schedule_name,
            ) from None


def _field_problem(problem: str) -> str:
    return problem if problem.startswith("has ") else f"is wrong: {problem}"


class ScheduleEvaluationContext:
    """What a schedule function receives: ``scheduled_execution_time`` of the tick."""

    def __init__(self, scheduled_execution_time: Optional[datetime.datetime] = None) -> None:
        self.scheduled_execution_time = scheduled_execution_time

    def __repr__(self) -> str:
        return f"ScheduleEvaluationContext({self.scheduled_execution_time!r})"


class SensorEvaluationContext:
    """What a sensor function receives: the ``cursor`` and ``last_run_key`` of the sensor."""

    def __init__(self, cursor: Optional[str] = None, last_run_key: Optional[str] = None) -> None:
        self.cursor = cursor
        self.last_run_key = last_run_key

    def update_cursor(self, cursor: Optional[str]) -> None:
        """Set the cursor the next evaluation will see."""
        self.cursor = cursor

    def __repr__(self) -> str:
        return (
            f"SensorEvaluationContext(cursor={self.cursor!r}, last_run_key={self.last_run_key!r})"
        )


def _resolve_target(
    job_def: object, job_name: object, kind: str, name: Optional[str]
) -> Tuple[Optional[JobDefinition], str]:
    owner = f"{kind} {name!r}" if name else f"a {kind}"
    if job_def is not None and not isinstance(job_def, JobDefinition):
        raise InvalidDefinitionError(
            f"job=... of {owner} must be a JobDefinition (a function decorated with @job), "
            f"got {_describe(job_def)}"
        )
    if job_name is not None and not isinstance(job_name, str):
        raise InvalidDefinitionError(
            f"job_name=... of {owner} must be a str, got {_describe(job_name)}"
        )
    if job_def is None and job_name is None:
        raise InvalidDefinitionError(
            f"{owner} has no target: pass job=<a @job> or job_name='<name of a job in the "
            f"repository>'"
        )
    if job_def is not None and job_name is not None and job_def.name != job_name:
        raise InvalidDefinitionError(
            f"{owner} was given job={job_def.name!r} and job_name={job_name!r}; pass only one"
        )
    target = job_def.name if job_def is not None else job_name
    assert isinstance(target, str)
    return job_def, target


def _call_evaluation_fn(fn: Callable[..., Any], context: object) -> Any:
    # Like Dagster, an evaluation function may ignore its context by taking no parameter.
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(context)
    return fn(context) if params else fn()


def _invalid_evaluation(kind: str, name: str, returned: object, allowed: str) -> NoReturn:
    raise InvalidEvaluationError(
        f"{kind} {name!r} returned {_describe(returned)}; a {kind} function must return {allowed}",
        definition_name=name,
        returned=returned,
    )


def _collect_run_requests(
    kind: str, name: str, returned: object, allowed: str, accept_dicts: bool
) -> Union[List[RunRequest], SkipReason]:
    if isinstance(returned, SkipReason):
        return returned
    if isinstance(returned, RunRequest):
        return [returned]
    if accept_dicts and isinstance(returned, Mapping):
        return [RunRequest(run_config=dict(returned))]
    if not isinstance(returned, (list, tuple, types.GeneratorType)):
        _invalid_evaluation(kind, name, returned, allowed)
    items = list(returned)
    requests: List[RunRequest] = []
    skips: List[SkipReason] = []
    for index, item in enumerate(items):
        if isinstance(item, RunRequest):
            requests.append(item)
        elif isinstance(item, SkipReason):
            skips.append(item)
        else:
            raise InvalidEvaluationError(
                f"{kind} {name!r} returned or yielded {_describe(item)} at position {index}; "
                f"a {kind} function must return {allowed}",
                definition_name=name,
                returned=item,
            )
    if skips:
        if requests or len(skips) > 1:
            raise InvalidEvaluationError(
                f"{kind} {name!r} returned both RunRequests and SkipReasons (or several "
                f"SkipReasons); return either RunRequests or a single SkipReason",
                definition_name=name,
                returned=items,
            )
        return skips[0]
    return requests


class ScheduleDefinition:
    """A job run on a cron schedule, with fixed ``run_config`` or an ``execution_fn``.

    An invalid cron string does not raise here, so that one broken schedule does not break
    its repository; :meth:`validate` (or :func:`validate_cron_schedule`) reports it.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        cron_schedule: Optional[str] = None,
        job: Optional[JobDefinition] = None,
        job_name: Optional[str] = None,
        run_config: Optional[Mapping[str, Any]] = None,
        execution_fn: Optional[Callable[..., Any]] = None,
        description: Optional[str] = None,
        execution_timezone: Optional[str] = None,
    ) -> None:
        self.job, self.job_name = _resolve_target(job, job_name, "schedule", name)
        self.name = _check_name(
            name if name is not None else f"{self.job_name}_schedule", "schedule"
        )
        if cron_schedule is None:
            raise InvalidDefinitionError(
                f"schedule {self.name!r} needs a cron_schedule, e.g. '0 * * * *' or '@daily'"
            )
        if not isinstance(cron_schedule, str):
            raise InvalidDefinitionError(
                f"cron_schedule of schedule {self.name!r} must be a str like '0 * * * *', got "
                f"{_describe(cron_schedule)}"
            )
        self.cron_schedule = cron_schedule
        if run_config is not None and execution_fn is not None:
            raise InvalidDefinitionError(
                f"schedule {self.name!r} was given both run_config and execution_fn; pass "
                f"one: execution_fn returns the run config of each tick"
            )
        if execution_fn is not None and not callable(execution_fn):
            raise InvalidDefinitionError(
                f"execution_fn of schedule {self.name!r} must be a function, got "
                f"{_describe(execution_fn)}"
            )
        self.run_config = _check_str_keyed_dict(run_config, f"run_config of schedule {self.name!r}")
        self.execution_fn = execution_fn
        self.description = _check_optional_str(
            description, f"description of schedule {self.name!r}"
        )
        self.execution_timezone = _check_optional_str(
            execution_timezone, f"execution_timezone of schedule {self.name!r}"
        )
        self.source_location = _source_location(execution_fn)

    def validate(self) -> None:
        """Raise :class:`InvalidCronError` if the cron schedule is malformed."""
        validate_cron_schedule(self.cron_schedule, self.name)

    def evaluate_tick(
        self, scheduled_execution_time: Optional[datetime.datetime] = None
    ) -> Union[List[RunRequest], SkipReason]:
        """Run the schedule function for one tick (default time: now, UTC) and check it.

        Returns the run requests or the SkipReason; anything else raises
        :class:`InvalidEvaluationError`.
        """
        if self.execution_fn is None:
            return [RunRequest(run_config=dict(self.run_config))]
        if scheduled_execution_time is None:
            scheduled_execution_time = datetime.datetime.now(datetime.timezone.utc)
        context = ScheduleEvaluationContext(scheduled_execution_time)
        returned = _call_evaluation_fn(self.execution_fn, context)
        return _collect_run_requests(
            "schedule",
            self.name,
            returned,
            "a run config dict, a RunRequest, a list of RunRequests, or a SkipReason",
            accept_dicts=True,
        )

    def __repr__(self) -> str:
        return (
            f"<ScheduleDefinition {self.name!r} cron={self.cron_schedule!r} job={self.job_name!r}>"
        )


def schedule(
    cron_schedule: str,
    job: Optional[JobDefinition] = None,
    job_name: Optional[str] = None,
    name: Optional[str] = None,
    description: Optional[str] = None,
    execution_timezone: Optional[str] = None,
) -> Callable[[Callable[..., Any]], ScheduleDefinition]:
    """Declare a schedule whose function computes each tick's run config.

    The function takes a :class:`ScheduleEvaluationContext` and returns a run config dict,
    a :class:`RunRequest`, a list of them, or a :class:`SkipReason`.
    """
    if callable(cron_schedule):
        raise InvalidDefinitionError(
            "@schedule needs arguments: use @schedule('0 * * * *', job=my_job)"
        )

    def decorate(fn: Callable[..., Any]) -> ScheduleDefinition:
        return ScheduleDefinition(
            name=name if name is not None else getattr(fn, "__name__", None),
            cron_schedule=cron_schedule,
            job=job,
            job_name=job_name,
            execution_fn=fn,
            description=description if description is not None else _doc(fn),
            execution_timezone=execution_timezone,
        )

    return decorate


class SensorDefinition:
    """A function polled every ``minimum_interval_seconds`` that may request runs of a job."""

    def __init__(
        self,
        name: Optional[str] = None,
        evaluation_fn: Optional[Callable[..., Any]] = None,
        job: Optional[JobDefinition] = None,
        job_name: Optional[str] = None,
        minimum_interval_seconds: int = 30,
        description: Optional[str] = None,
    ) -> None:
        self.name = _check_name(name, "sensor")
        if evaluation_fn is None or not callable(evaluation_fn):
            raise InvalidDefinitionError(
                f"sensor {self.name!r} needs an evaluation function, got {_describe(evaluation_fn)}"
            )
        self.evaluation_fn = evaluation_fn
        self.job, self.job_name = _resolve_target(job, job_name, "sensor", self.name)
        if (
            not isinstance(minimum_interval_seconds, int)
            or isinstance(minimum_interval_seconds, bool)
            or minimum_interval_seconds <= 0
        ):
            raise InvalidDefinitionError(
                f"minimum_interval_seconds of sensor {self.name!r} must be a positive int, "
                f"got {_describe(minimum_interval_seconds)}"
            )
        self.minimum_interval_seconds = minimum_interval_seconds
        self.description = _check_optional_str(description, f"description of sensor {name!r}")
        self.source_location = _source_location(evaluation_fn)

    def evaluate_tick(
        self, cursor: Optional[str] = None, last_run_key: Optional[str] = None
    ) -> Union[List[RunRequest], SkipReason]:
        """Run the sensor function once and check what it yields or returns.

        Returning None means "skip" and gives ``SkipReason()``; anything that is not
        RunRequests or one SkipReason raises :class:`InvalidEvaluationError`.
        """
        context = SensorEvaluationContext(cursor=cursor, last_run_key=last_run_key)
        returned = _call_evaluation_fn(self.evaluation_fn, context)
        if returned is None:
            return SkipReason()
        return _collect_run_requests(
            "sensor",
            self.name,
            returned,
            "(or yield) RunRequests, a SkipReason, or None",
            accept_dicts=False,
        )

    def __repr__(self) -> str:
        return f"<SensorDefinition {self.name!r} job={self.job_name!r}>"


def sensor(
    job: Optional[JobDefinition] = None,
    job_name: Optional[str] = None,
    name: Optional[str] = None,
    minimum_interval_seconds: int = 30,
    description: Optional[str] = None,
) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Declare a sensor: its function takes a :class:`SensorEvaluationContext` and yields or
    returns :class:`RunRequest` objects, or a :class:`SkipReason` (None also skips)."""
    if job is not None and not isinstance(job, JobDefinition) and callable(job):
        raise InvalidDefinitionError(
            "@sensor needs a target: use @sensor(job=my_job) or @sensor(job_name='my_job')"
        )

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        return SensorDefinition(
            name=name if name is not None else getattr(fn, "__name__", None),
            evaluation_fn=fn,
            job=job,
            job_name=job_name,
            minimum_interval_seconds=minimum_interval_seconds,
            description=description if description is not None else _doc(fn),
        )

    return decorate


# --------------------------------------------------------------------------------------
# Repositories
# --------------------------------------------------------------------------------------

_DICT_KEYS = ("jobs", "schedules", "sensors")
_KIND_CLASSES: Dict[str, type] = {
    "job": JobDefinition,
    "schedule": ScheduleDefinition,
    "sensor": SensorDefinition,
}
_Lazy = Union[JobDefinition, ScheduleDefinition, SensorDefinition, Callable[[], Any]]


def _hint_for(value: object) -> str:
    if isinstance(value, OpDefinition):
        return " (an op must be composed into a @job first)"
    if isinstance(value, (types.FunctionType, types.MethodType)):
        return " (did you forget the @job, @schedule or @sensor decorator?)"
    return ""


def _is_kind(value: object, kind: str) -> bool:
    return isinstance(value, _KIND_CLASSES[kind])


class _Slot:
    """One named definition of a repository: built, or a builder not called yet."""

    def __init__(self, kind: str, key: str, value: _Lazy) -> None:
        self.kind = kind
        self.key = key
        self.built: Any = value if isinstance(value, _KIND_CLASSES[kind]) else None
        self.builder: Optional[Callable[[], Any]] = (
            None if self.built is not None else value  # type: ignore[assignment]
        )


class RepositoryDefinition:
    """A named collection of jobs, schedules and sensors; create one with ``@repository``.

    ``definitions`` is either a list of definitions (all built now) or a dict with keys
    among ``jobs``, ``schedules`` and ``sensors``, each mapping a name to a definition or to
    a zero-argument function that builds it when first asked for.
    """

    def __init__(
        self,
        name: str,
        definitions: object,
        description: Optional[str] = None,
        source_location: Optional[SourceLocation] = None,
    ) -> None:
        self.name = _check_name(name, "repository")
        self.description = _check_optional_str(description, f"description of repository {name!r}")
        self.source_location = source_location
        self._lock = threading.RLock()
        self._slots: Dict[str, Dict[str, _Slot]] = {"job": {}, "schedule": {}, "sensor": {}}
        self._constructed: List[str] = []
        if isinstance(definitions, (list, tuple)):
            self._load_list(definitions)
        elif isinstance(definitions, Mapping):
            self._load_dict(definitions)
        else:
            raise InvalidDefinitionError(
                f"repository {self.name!r} must return a list of definitions or a dict with "
                f"keys among 'jobs', 'schedules', 'sensors'; it returned "
                f"{_describe(definitions)}"
            )
        for kind in ("schedule", "sensor"):
            for slot in self._slots[kind].values():
                if slot.built is not None:
                    self._check_target(slot.built, kind)
        self._constructed = [
            key for key, slot in self._slots["job"].items() if slot.built is not None
        ]

    # -- construction ------------------------------------------------------------------

    def _where(self) -> str:
        return f"repository {self.name!r}"

    def _add_built(self, kind: str, definition: Any) -> None:
        slots = self._slots[kind]
        existing = slots.get(definition.name)
        if existing is None:
            slots[definition.name] = _Slot(kind, definition.name, definition)
            return
        if existing.built is definition or existing.built is None:
            return
        raise DuplicateDefinitionError(
            f"{self._where()} has two different {kind}s named {definition.name!r} "
            f"({existing.built!r} and {definition!r}); rename one of them (pass name=... to "
            f"its decorator) or include the same object only once",
            repository_name=self.name,
            kind=kind,
            name=definition.name,
        )

    def _load_list(self, definitions: Sequence[object]) -> None:
        for index, member in enumerate(definitions):
            if isinstance(member, JobDefinition):
                self._add_built("job", member)
            elif isinstance(member, (ScheduleDefinition, SensorDefinition)):
                if member.job is not None:
                    self._add_built("job", member.job)
                kind = "schedule" if isinstance(member, ScheduleDefinition) else "sensor"
                self._add_built(kind, member)
            else:
                raise InvalidDefinitionError(
                    f"member [{index}] of the list returned by {self._where()} is "
                    f"{_describe(member)}; expected a JobDefinition, ScheduleDefinition or "
                    f"SensorDefinition{_hint_for(member)}"
                )

    def _load_dict(self, definitions: Mapping[Any, Any]) -> None:
        for key in definitions:
            if key not in _DICT_KEYS:
                raise InvalidDefinitionError(
                    f"the dict returned by {self._where()} has an unknown key {key!r}; "
                    f"allowed keys are 'jobs', 'schedules' and 'sensors'"
                    f"{_protocol.did_you_mean(str(key), _DICT_KEYS)}"
                )
        for section, kind in zip(_DICT_KEYS, ("job", "schedule", "sensor")):
            entries = definitions.get(section, {})
            if not isinstance(entries, Mapping):
                raise InvalidDefinitionError(
                    f"{self._where()}: {section!r} must be a dict of name -> definition or "
                    f"zero-argument function, got {_describe(entries)}"
                )
            for key, value in entries.items():
                self._add_dict_entry(section, kind, key, value)
        # A built schedule/sensor may bring its job along, as in the list form.
        for kind in ("schedule", "sensor"):
            for slot in list(self._slots[kind].values()):
                if slot.built is not None and slot.built.job is not None:
                    self._add_built("job", slot.built.job)

    def _add_dict_entry(self, section: str, kind: str, key: object, value: object) -> None:
        if not isinstance(key, str):
            raise InvalidDefinitionError(
                f"{self._where()}: the keys of {section!r} must be names (str), got "
                f"{_describe(key)}"
            )
        if isinstance(value, _KIND_CLASSES[kind]):
            self._check_built_name(kind, key, value)
        elif isinstance(value, tuple(_KIND_CLASSES.values())) or isinstance(value, OpDefinition):
            raise InvalidDefinitionError(
                f"{self._where()}: {section}[{key!r}] is {_describe(value)}; {section!r} "
                f"takes {_KIND_CLASSES[kind].__name__}s or zero-argument functions building "
                f"one{_hint_for(value)}"
            )
        elif callable(value):
            if not _takes_no_arguments(value):
                raise InvalidDefinitionError(
                    f"{self._where()}: the function declared for {kind} {key!r} must take no "
                    f"arguments (it is called to build the {kind}); got {_short_repr(value)}"
                )
        else:
            raise InvalidDefinitionError(
                f"{self._where()}: {section}[{key!r}] is {_describe(value)}; expected a "
                f"{_KIND_CLASSES[kind].__name__} or a zero-argument function building one"
                f"{_hint_for(value)}"
            )
        self._slots[kind][key] = _Slot(kind, key, value)  # type: ignore[arg-type]

    def _check_built_name(self, kind: str, key: str, built: Any) -> None:
        if built.name == key:
            return
        fix = f"rename the key to {built.name!r}, or pass name={key!r} to @{kind}"
        if kind == "job":
            raise JobNameMismatchError(
                f"{self._where()} declares a job under the key {key!r}, but the job built "
                f"for it is named {built.name!r}; {fix}",
                repository_name=self.name,
                key=key,
                built_name=built.name,
            )
        raise InvalidDefinitionError(
            f"{self._where()} declares a {kind} under the key {key!r}, but the {kind} built "
            f"for it is named {built.name!r}; {fix}"
        )

    def _check_target(
        self, definition: Union[ScheduleDefinition, SensorDefinition], kind: str
    ) -> None:
        if definition.job_name in self._slots["job"]:
            return
        known = list(self._slots["job"])
        raise InvalidTargetError(
            f"{kind} {definition.name!r} of {self._where()} targets job "
            f"{definition.job_name!r}, which is not in the repository; its jobs are: "
            f"{', '.join(repr(k) for k in known) or 'none'}"
            f"{_protocol.did_you_mean(definition.job_name, known) or '.'} Add the job to the "
            f"repository, or pass job=<the JobDefinition> to the {kind}",
            repository_name=self.name,
            definition_name=definition.name,
            job_name=definition.job_name,
        )

    # -- building ----------------------------------------------------------------------

    def _get(self, kind: str, name: str) -> Any:
        slots = self._slots[kind]
        if not isinstance(name, str) or name not in slots:
            raise _unknown(kind, str(name), list(slots), self._where())
        slot = slots[name]
        if slot.built is not None:
            return slot.built
        with self._lock:
            if slot.built is not None:
                return slot.built
            assert slot.builder is not None
            built: Any = slot.builder()
            if not _is_kind(built, kind):
                raise InvalidDefinitionError(
                    f"the function declared for {kind} {name!r} in {self._where()} returned "
                    f"{_describe(built)} instead of a {_KIND_CLASSES[kind].__name__}"
                    f"{_hint_for(built)}; make it return the {kind} (for example "
                    f"`lambda: my_{kind}`)"
                )
            self._check_built_name(kind, name, built)
            if kind != "job":
                if built.job is not None and built.job_name not in self._slots["job"]:
                    raise InvalidTargetError(
                        f"{kind} {name!r} of {self._where()} targets job {built.job_name!r}, "
                        f"which is not declared in the repository's 'jobs'; add it there "
                        f"(a lazily built {kind} cannot add jobs to its repository)",
                        repository_name=self.name,
                        definition_name=name,
                        job_name=built.job_name,
                    )
                self._check_target(built, kind)
            slot.built = built
            slot.builder = None
            if kind == "job":
                self._constructed.append(name)
            return built

    # -- public API --------------------------------------------------------------------

    @property
    def job_names(self) -> List[str]:
        """Names of the repository's jobs, in declaration order; builds nothing."""
        return list(self._slots["job"])

    @property
    def schedule_names(self) -> List[str]:
        """Names of the repository's schedules, in declaration order; builds nothing."""
        return list(self._slots["schedule"])

    @property
    def sensor_names(self) -> List[str]:
        """Names of the repository's sensors, in declaration order; builds nothing."""
        return list(self._slots["sensor"])

    @property
    def constructed_job_names(self) -> List[str]:
        """Names of the jobs built so far, in the order they were built."""
        return list(self._constructed)

    def declared_at(self, kind: str, name: str) -> Optional[SourceLocation]:
        """Where member ``name`` of ``kind`` (``job``, ``schedule``, ``sensor``) is declared.

        The built definition's source, or else its builder's (the function in the dict
        form, e.g. ``lambda: complex_job``): this builds nothing. None when unknown.
        """
        slot = self._slots.get(kind, {}).get(name)
        if slot is None:
            return None
        if slot.built is not None:
            return slot.built.source_location  # type: ignore[no-any-return]
        return _source_location(slot.builder)

    def has_job(self, name: str) -> bool:
        """Whether the repository declares a job ``name``; builds nothing."""
        return name in self._slots["job"]

    def get_job(self, name: str) -> JobDefinition:
        """The job ``name``, built now (once) if it was declared lazily."""
        built: JobDefinition = self._get("job", name)
        return built

    def get_all_jobs(self) -> List[JobDefinition]:
        """Every job of the repository, building those not built yet."""
        return [self.get_job(name) for name in self.job_names]

    def has_schedule(self, name: str) -> bool:
        """Whether the repository declares a schedule ``name``."""
        return name in self._slots["schedule"]

    def get_schedule(self, name: str) -> ScheduleDefinition:
        """The schedule ``name``, built now (once) if it was declared lazily."""
        built: ScheduleDefinition = self._get("schedule", name)
        return built

    @property
    def schedules(self) -> List[ScheduleDefinition]:
        """Every schedule of the repository (building lazily declared ones)."""
        return [self.get_schedule(name) for name in self.schedule_names]

    def has_sensor(self, name: str) -> bool:
        """Whether the repository declares a sensor ``name``."""
        return name in self._slots["sensor"]

    def get_sensor(self, name: str) -> SensorDefinition:
        """The sensor ``name``, built now (once) if it was declared lazily."""
        built: SensorDefinition = self._get("sensor", name)
        return built

    @property
    def sensors(self) -> List[SensorDefinition]:
        """Every sensor of the repository (building lazily declared ones)."""
        return [self.get_sensor(name) for name in self.sensor_names]

    def __repr__(self) -> str:
        return f"<RepositoryDefinition {self.name!r} jobs={self.job_names}>"


def _build_repository(
    fn: Callable[..., Any], name: Optional[str], description: Optional[str]
) -> RepositoryDefinition:
    if not callable(fn):
        raise InvalidDefinitionError(f"@repository must decorate a function, got {_describe(fn)}")
    repo_name = _check_name(name if name is not None else fn.__name__, "repository")
    if not _takes_no_arguments(fn):
        raise InvalidDefinitionError(
            f"the function of repository {repo_name!r} must take no parameters"
        )
    return RepositoryDefinition(
        repo_name,
        fn(),
        description=description if description is not None else _doc(fn),
        source_location=_source_location(fn),
    )


@overload
def repository(fn: Callable[..., Any]) -> RepositoryDefinition: ...


@overload
def repository(
    fn: None = None, *, name: Optional[str] = None, description: Optional[str] = None
) -> Callable[[Callable[..., Any]], RepositoryDefinition]: ...


def repository(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
) -> Union[RepositoryDefinition, Callable[[Callable[..., Any]], RepositoryDefinition]]:
    """Declare a repository: ``@repository`` or ``@repository(name=..., description=...)``.

    The function is called once, now, and returns a list of definitions or a dict
    ``{"jobs": {...}, "schedules": {...}, "sensors": {...}}`` of definitions or
    zero-argument functions building them (jobs are then built only when asked for).
    """
    if fn is not None:
        return _build_repository(fn, None, None)

    def decorate(inner: Callable[..., Any]) -> RepositoryDefinition:
        return _build_repository(inner, name, description)

    return decorate

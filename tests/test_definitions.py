"""The definitions API: ops, jobs, repositories, schedules and sensors, and their errors."""

from __future__ import annotations

import ast
import copy
import datetime
import importlib.util
import pickle
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from pytest_workspace import definitions as d
from pytest_workspace.definitions import (
    DefinitionError,
    DuplicateDefinitionError,
    ExecutionResult,
    InvalidCronError,
    InvalidDefinitionError,
    InvalidEvaluationError,
    InvalidTargetError,
    JobDefinition,
    JobNameMismatchError,
    LogEntry,
    OpDefinition,
    OpExecutionContext,
    OutputNotAvailableError,
    RepositoryDefinition,
    RunConfigError,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    StepResult,
    UnknownDefinitionError,
    build_op_context,
    job,
    op,
    repository,
    schedule,
    sensor,
    validate_cron_schedule,
)

CEREAL = Path(__file__).resolve().parent.parent / "fixtures" / "cereal"


# -- shared little graph ------------------------------------------------------------------


@op
def numbers() -> List[int]:
    return [1, 2, 3]


@op
def total(values: List[int]) -> int:
    return sum(values)


@op
def biggest(values: List[int]) -> int:
    return max(values)


@op
def report(context: OpExecutionContext, sum_: int, max_: int) -> str:
    context.log.info(f"sum={sum_} max={max_}")
    return f"{sum_}/{max_}"


@job(description="Adds and compares.", tags={"team": "numbers"})
def numbers_job() -> None:
    values = numbers()
    report(total(values), biggest(values))


def make_job(name: str) -> JobDefinition:
    @op(name=f"{name}_op")
    def only() -> str:
        return name

    @job(name=name)
    def built() -> None:
        only()

    return built


# -- the public names ---------------------------------------------------------------------


def test_every_contract_name_is_exported() -> None:
    contract = {
        "op",
        "job",
        "repository",
        "schedule",
        "sensor",
        "OpDefinition",
        "JobDefinition",
        "RepositoryDefinition",
        "ScheduleDefinition",
        "SensorDefinition",
        "RunRequest",
        "SkipReason",
        "ExecutionResult",
        "StepResult",
        "LogEntry",
        "OpExecutionContext",
        "ScheduleEvaluationContext",
        "SensorEvaluationContext",
        "validate_cron_schedule",
        "DefinitionError",
        "JobNameMismatchError",
        "InvalidDefinitionError",
        "DuplicateDefinitionError",
        "UnknownDefinitionError",
        "InvalidTargetError",
        "RunConfigError",
        "InvalidCronError",
        "InvalidEvaluationError",
    }
    assert contract <= set(d.__all__)
    for name in d.__all__:
        assert getattr(d, name).__doc__, f"{name} has no docstring"


def test_error_hierarchy() -> None:
    for error in (
        JobNameMismatchError,
        InvalidDefinitionError,
        DuplicateDefinitionError,
        UnknownDefinitionError,
        InvalidTargetError,
        RunConfigError,
        InvalidCronError,
        InvalidEvaluationError,
        OutputNotAvailableError,
    ):
        assert issubclass(error, DefinitionError)
    assert issubclass(DefinitionError, Exception)
    assert issubclass(UnknownDefinitionError, LookupError)
    assert not issubclass(UnknownDefinitionError, KeyError)


def test_errors_can_be_raised_with_a_message_only_and_pickle_with_their_attributes() -> None:
    assert str(InvalidTargetError("plain message")) == "plain message"
    error = RunConfigError("bad", job_name="j", missing=[("o", "k")], problems=["p"])
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is RunConfigError
        assert str(clone) == "bad"
        assert (clone.job_name, clone.missing, clone.problems) == ("j", [("o", "k")], ["p"])


# -- ops ----------------------------------------------------------------------------------


def test_op_defaults_come_from_the_function() -> None:
    @op
    def load_cereals(context: OpExecutionContext, url: str, limit: int = 3) -> None:
        """Load cereals."""

    assert isinstance(load_cereals, OpDefinition)
    assert load_cereals.name == "load_cereals"
    assert load_cereals.description == "Load cereals."
    assert load_cereals.takes_context
    assert load_cereals.input_names == ["url", "limit"]
    assert load_cereals.config_schema is None


def test_op_with_arguments() -> None:
    @op(name="renamed", description="Explained.", config_schema={"n": int})
    def original() -> None:
        """Ignored docstring."""

    assert (original.name, original.description) == ("renamed", "Explained.")
    assert original.config_schema == {"n": int}


def test_context_is_detected_by_parameter_name_only() -> None:
    @op
    def first_is_input(cereals: List[str]) -> int:
        return len(cereals)

    assert not first_is_input.takes_context
    assert first_is_input.input_names == ["cereals"]


def test_direct_invocation_runs_the_function() -> None:
    assert total([1, 2, 5]) == 8


def test_direct_invocation_builds_a_context_when_none_is_given() -> None:
    seen: Dict[str, Any] = {}

    @op(config_schema={"n": int})
    def configured(context: OpExecutionContext, value: int) -> int:
        seen["op_name"] = context.op_name
        seen["config"] = context.op_config
        context.log.warning("careful")
        seen["logs"] = context.log.entries
        return value * 2

    assert configured(21) == 42
    assert seen["op_name"] == "configured"
    assert seen["config"] == {}
    assert [(e.level, e.op_name, e.message) for e in seen["logs"]] == [
        ("WARNING", "configured", "careful")
    ]


def test_direct_invocation_uses_a_given_context() -> None:
    @op
    def reads_config(context: OpExecutionContext) -> Any:
        return context.op_config["greeting"]

    assert reads_config(build_op_context({"greeting": "hi"})) == "hi"
    assert reads_config(build_op_context(config={"greeting": "hey"})) == "hey"
    context = OpExecutionContext(op_name="x", op_config={"greeting": "yo"})
    assert reads_config(context=context) == "yo"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: op(name="bad name")(numbers.fn), ["invalid op name 'bad name'"]),
        (lambda: op(lambda: None), ["invalid op name '<lambda>'", "pass a valid name="]),
        (lambda: op(config_schema=["n"])(numbers.fn), ["config_schema", "must be a dict", "list"]),
        (
            lambda: op(config_schema={"n": "int"})(numbers.fn),
            ["config_schema['n']", "Python type", "'int'"],
        ),
        (lambda: op(42), ["@op must decorate a function", "int (42)"]),
    ],
)
def test_op_definition_errors(make: Callable[[], Any], words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_op_with_varargs_is_rejected_with_its_name() -> None:
    def spread(*values: int) -> None:
        pass

    with pytest.raises(InvalidDefinitionError, match=r"op 'spread' has a \*args"):
        op(spread)


def empty_body() -> None:
    pass


# -- jobs: the graph ----------------------------------------------------------------------


def test_job_records_the_graph() -> None:
    assert isinstance(numbers_job, JobDefinition)
    assert numbers_job.name == "numbers_job"
    assert numbers_job.description == "Adds and compares."
    assert numbers_job.tags == {"team": "numbers"}
    assert numbers_job.op_names == ["numbers", "total", "biggest", "report"]
    assert numbers_job.dependencies == {
        "numbers": [],
        "total": ["numbers"],
        "biggest": ["numbers"],
        "report": ["total", "biggest"],
    }
    assert numbers_job.config == {}
    assert numbers_job.get_op("report") is report


def test_job_source_location_points_at_the_decorated_function() -> None:
    @job
    def located() -> None:
        numbers()

    assert located.source_location is not None
    filename, line = located.source_location
    assert filename == __file__
    lines = Path(__file__).read_text().splitlines()
    assert lines[line - 1].strip() == "@job"
    assert lines[line].strip().startswith("def located")


def test_job_description_defaults_to_docstring_and_tags_to_empty() -> None:
    @job
    def documented() -> None:
        """What it does."""
        numbers()

    assert documented.description == "What it does."
    assert documented.tags == {}


def test_an_op_invoked_twice_gets_dagster_style_aliases() -> None:
    @op
    def add_one(value: int) -> int:
        return value + 1

    @op
    def zero() -> int:
        return 0

    @job
    def chain() -> None:
        add_one(add_one(add_one(zero())))

    @job
    def explicit() -> None:
        add_one.alias("first")(zero())

    assert chain.op_names == ["zero", "add_one", "add_one_2", "add_one_3"]
    assert chain.dependencies["add_one_3"] == ["add_one_2"]
    assert chain.execute_in_process().output_for("add_one_3") == 3
    assert explicit.op_names == ["zero", "first"]
    assert explicit.execute_in_process().output_for("first") == 1


def test_ops_can_be_passed_by_keyword_and_optional_inputs_left_out() -> None:
    @op
    def scaled(value: int, factor: int = 10) -> int:
        return value * factor

    @op
    def one() -> int:
        return 1

    @job
    def keywords() -> None:
        scaled(value=one())

    assert keywords.dependencies == {"one": [], "scaled": ["one"]}
    assert keywords.execute_in_process().output_for("scaled") == 10


def test_constant_input_in_job_body_is_an_error_naming_input_op_and_job() -> None:
    with pytest.raises(InvalidDefinitionError) as info:

        @job
        def constants() -> None:
            total([1, 2])

    message = str(info.value)
    for word in ("input 'values'", "op 'total'", "job 'constants'", "list ([1, 2])", "config"):
        assert word in message


def test_unconnected_input_is_an_error() -> None:
    with pytest.raises(
        InvalidDefinitionError, match=r"input 'values' of op 'total'.*not connected"
    ):

        @job
        def dangling() -> None:
            total()


def test_wrong_call_in_job_body_lists_the_inputs() -> None:
    with pytest.raises(InvalidDefinitionError) as info:

        @job
        def too_many() -> None:
            values = numbers()
            total(values, values)

    assert "bad call of op 'total'" in str(info.value)
    assert "its inputs are values" in str(info.value)


def test_unpacking_an_output_handle_is_explained() -> None:
    with pytest.raises(InvalidDefinitionError, match="exactly one output"):

        @job
        def unpacks() -> None:
            _first, _second = numbers()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: job(numbers), ["not the op 'numbers' itself"]),
        (lambda: job(name="takes_x")(lambda x: None), ["job 'takes_x' must take no parameters"]),
        (lambda: job(name="has space")(empty_body), ["invalid job name 'has space'"]),
        (
            lambda: job(tags=["a"])(empty_body),
            ["tags of job 'empty_body'", "must be a dict", "list"],
        ),
        (lambda: job(tags={1: "a"})(empty_body), ["tags of job", "str keys", "int (1)"]),
        (lambda: job(description=3)(empty_body), ["description of job 'empty_body'", "int (3)"]),
    ],
)
def test_job_definition_errors(make: Callable[[], Any], words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_invalid_default_config_is_a_definition_error() -> None:
    @op(config_schema={"n": int})
    def needs_n(context: OpExecutionContext) -> None:
        pass

    with pytest.raises(InvalidDefinitionError) as info:

        @job(config={"ops": {"needs_n": {"config": {"n": "three"}}}})
        def wrong_default() -> None:
            needs_n()

    assert "default config=... of job 'wrong_default'" in str(info.value)
    assert "config key 'n' must be int, got a str ('three')" in str(info.value)


def test_user_error_in_job_body_propagates_and_leaves_no_trace_open() -> None:
    with pytest.raises(ZeroDivisionError):

        @job
        def broken_body() -> None:
            numbers()
            1 / 0  # noqa: B018

    # Outside a body, calling an op runs it again.
    assert numbers() == [1, 2, 3]


# -- jobs: execution ----------------------------------------------------------------------


def test_execute_in_process_success() -> None:
    result = numbers_job.execute_in_process()
    assert isinstance(result, ExecutionResult)
    assert result.success
    assert result.job_name == "numbers_job"
    assert uuid.UUID(result.run_id).version == 4
    assert list(result.step_results) == numbers_job.op_names
    for name, step in result.step_results.items():
        assert isinstance(step, StepResult)
        assert (step.op_name, step.status, step.error) == (name, "success", None)
        assert step.duration >= 0.0
    assert result.output_for("report") == "6/3"
    assert result.step_results["total"].output == 6
    assert result.failed_ops == []
    user_logs = [e for e in result.logs if e.event is None]
    assert [(e.level, e.op_name, e.message) for e in user_logs] == [
        ("INFO", "report", "sum=6 max=3")
    ]
    events = [(e.event, e.op_name) for e in result.logs if e.event is not None]
    assert events[0] == ("RUN_START", None)
    assert events[-1] == ("RUN_SUCCESS", None)
    assert ("STEP_START", "total") in events and ("STEP_SUCCESS", "total") in events
    assert all(isinstance(e, LogEntry) and isinstance(e.timestamp, float) for e in result.logs)
    timestamps = [e.timestamp for e in result.logs]
    assert timestamps == sorted(timestamps)


def test_each_run_gets_its_own_run_id_seen_by_the_context() -> None:
    seen: List[Any] = []

    @op
    def remember(context: OpExecutionContext) -> None:
        seen.append((context.run_id, context.job_name, context.op_name))

    @job
    def remembering() -> None:
        remember()

    first = remembering.execute_in_process()
    second = remembering.execute_in_process()
    assert first.run_id != second.run_id
    assert seen == [
        (first.run_id, "remembering", "remember"),
        (second.run_id, "remembering", "remember"),
    ]


def test_context_log_levels() -> None:
    @op
    def chatty(context: OpExecutionContext) -> None:
        context.log.debug("d")
        context.log.info("i")
        context.log.warning("w")
        context.log.error("e")

    @job
    def chatty_job() -> None:
        chatty()

    logs = chatty_job.execute_in_process().logs
    assert [(e.level, e.message) for e in logs if e.event is None] == [
        ("DEBUG", "d"),
        ("INFO", "i"),
        ("WARNING", "w"),
        ("ERROR", "e"),
    ]


def failing_graph(ran: List[str]) -> JobDefinition:
    @op
    def source() -> int:
        ran.append("source")
        return 1

    @op
    def explode(value: int) -> int:
        ran.append("explode")
        raise ValueError("the cereal box is empty")

    @op
    def after_explode(value: int) -> int:
        ran.append("after_explode")
        return value

    @op
    def independent(value: int) -> int:
        ran.append("independent")
        return value + 1

    @op
    def joins(a: int, b: int) -> int:
        ran.append("joins")
        return a + b

    @job
    def partly_failing() -> None:
        value = source()
        broken = explode(value)
        joins(after_explode(broken), independent(value))

    return partly_failing


def test_failure_skips_downstream_and_reports_without_raising() -> None:
    ran: List[str] = []
    result = failing_graph(ran).execute_in_process(raise_on_error=False)
    assert not result.success
    assert ran == ["source", "explode", "independent"]
    statuses = {name: step.status for name, step in result.step_results.items()}
    assert statuses == {
        "source": "success",
        "explode": "failure",
        "after_explode": "skipped",
        "independent": "success",
        "joins": "skipped",
    }
    error = result.step_results["explode"].error
    assert isinstance(error, ValueError) and str(error) == "the cereal box is empty"
    assert result.failed_ops == ["explode"]
    assert result.skipped_ops == ["after_explode", "joins"]
    assert result.output_for("independent") == 2
    events = [(e.event, e.level, e.op_name) for e in result.logs if e.event]
    assert ("STEP_FAILURE", "ERROR", "explode") in events
    assert ("STEP_SKIPPED", "INFO", "joins") in events
    assert events[-1] == ("RUN_FAILURE", "ERROR", None)
    failure_message = next(e.message for e in result.logs if e.event == "STEP_FAILURE")
    assert "ValueError: the cereal box is empty" in failure_message


def test_output_for_an_op_that_did_not_succeed_says_why() -> None:
    result = failing_graph([]).execute_in_process(raise_on_error=False)
    with pytest.raises(OutputNotAvailableError) as failed:
        result.output_for("explode")
    assert "op 'explode' of job 'partly_failing' has no output" in str(failed.value)
    assert "ValueError: the cereal box is empty" in str(failed.value)
    assert failed.value.status == "failure"
    with pytest.raises(OutputNotAvailableError, match=r"'joins'.*skipped"):
        result.output_for("joins")


def test_output_for_an_unknown_op_names_the_closest() -> None:
    result = numbers_job.execute_in_process()
    with pytest.raises(UnknownDefinitionError) as info:
        result.output_for("totl")
    assert "job 'numbers_job' has no op named 'totl'" in str(info.value)
    assert "did you mean 'total'?" in str(info.value)
    assert info.value.closest == "total"
    with pytest.raises(UnknownDefinitionError, match="single output named 'result'"):
        result.output_for("total", "other")


def test_raise_on_error_reraises_the_original_exception_after_the_run() -> None:
    ran: List[str] = []
    with pytest.raises(ValueError, match="the cereal box is empty"):
        failing_graph(ran).execute_in_process()
    # The independent branch ran although an earlier op had failed.
    assert ran == ["source", "explode", "independent"]


def test_keyboard_interrupt_is_not_swallowed() -> None:
    @op
    def interrupted() -> None:
        raise KeyboardInterrupt

    @job
    def interrupting() -> None:
        interrupted()

    with pytest.raises(KeyboardInterrupt):
        interrupting.execute_in_process(raise_on_error=False)


# -- run config -----------------------------------------------------------------------------


def configured_job(ran: List[str]) -> JobDefinition:
    @op(config_schema={"url": str, "retries": int, "ratio": float, "verbose": bool})
    def fetch(context: OpExecutionContext) -> Dict[str, Any]:
        ran.append("fetch")
        return dict(context.op_config)

    @op
    def free_form(context: OpExecutionContext) -> Any:
        ran.append("free_form")
        return context.op_config

    @job(config={"ops": {"fetch": {"config": {"retries": 3, "ratio": 0.5, "verbose": False}}}})
    def fetching() -> None:
        fetch()
        free_form()

    return fetching


def test_run_config_is_merged_over_the_job_default() -> None:
    fetching = configured_job([])
    result = fetching.execute_in_process(
        run_config={
            "ops": {
                "fetch": {"config": {"url": "https://example.com", "ratio": 2}},
                "free_form": {"config": {"anything": [1]}},
            }
        }
    )
    assert result.output_for("fetch") == {
        "url": "https://example.com",
        "retries": 3,
        "ratio": 2,
        "verbose": False,
    }
    assert result.output_for("free_form") == {"anything": [1]}
    # The job's default was not modified by the merge.
    assert "url" not in fetching.config["ops"]["fetch"]["config"]


def test_op_without_schema_gets_none_without_config() -> None:
    fetching = configured_job([])
    result = fetching.execute_in_process({"ops": {"fetch": {"config": {"url": "u"}}}})
    assert result.output_for("free_form") is None


def test_missing_config_raises_before_any_op_runs() -> None:
    ran: List[str] = []
    with pytest.raises(RunConfigError) as info:
        configured_job(ran).execute_in_process()
    error = info.value
    assert ran == []
    assert error.job_name == "fetching"
    assert error.missing == [("fetch", "url")]
    assert len(error.problems) == 1
    message = str(error)
    assert "invalid run config for job 'fetching'; no op was run" in message
    assert "op 'fetch': missing required config key 'url' (str)" in message
    assert "ops.fetch.config.url" in message


def test_missing_config_raises_even_without_raise_on_error() -> None:
    with pytest.raises(RunConfigError):
        configured_job([]).execute_in_process(raise_on_error=False)


@pytest.mark.parametrize(
    ("run_config", "problem"),
    [
        (
            {"ops": {"fetch": {"config": {"url": 5}}}},
            "config key 'url' must be str, got an int (5)",
        ),
        (
            {"ops": {"fetch": {"config": {"url": "u", "retries": True}}}},
            "'retries' must be int, got a bool",
        ),
        (
            {"ops": {"fetch": {"config": {"url": "u", "ratio": "1"}}}},
            "'ratio' must be float, got a str",
        ),
        (
            {"ops": {"fetch": {"config": {"url": "u", "urll": "x"}}}},
            "unknown config key 'urll'; its config keys are: 'url', 'retries', 'ratio', 'verbose'; "
            "did you mean 'url'?",
        ),
        (
            {"ops": {"fetch": {"config": {"url": "u"}}, "fetchh": {}}},
            "job 'fetching' has no op named 'fetchh'; its ops are: fetch, free_form; "
            "did you mean 'fetch'?",
        ),
        (
            {"ops": {"fetch": {"config": {"url": "u"}, "inputs": {}}}},
            "ops.fetch: unknown key 'inputs'",
        ),
        (
            {"ops": {"fetch": {"config": {"url": "u"}}}, "resources": {}},
            "unknown top-level run config key 'resources'",
        ),
        ({"ops": {"fetch": "url"}}, "ops.fetch must be a dict like {'config': {...}}, got a str"),
        ({"ops": {"fetch": {"config": ["url"]}}}, "ops.fetch.config must be a dict"),
        ({"ops": []}, "'ops' must be a dict"),
        ("ops", "the run config must be a dict"),
    ],
)
def test_wrong_run_config_names_op_and_key(run_config: Any, problem: str) -> None:
    ran: List[str] = []
    with pytest.raises(RunConfigError) as info:
        configured_job(ran).execute_in_process(run_config=run_config)
    assert ran == []
    assert any(problem in text for text in info.value.problems), info.value.problems
    assert problem in str(info.value)


def test_resolve_run_config_returns_per_op_config() -> None:
    resolved = configured_job([]).resolve_run_config({"ops": {"fetch": {"config": {"url": "u"}}}})
    assert resolved == {
        "fetch": {"url": "u", "retries": 3, "ratio": 0.5, "verbose": False},
        "free_form": None,
    }


def test_any_typed_config_accepts_everything() -> None:
    @op(config_schema={"payload": Any, "obj": object})
    def anything(context: OpExecutionContext) -> Any:
        return context.op_config

    @job
    def any_job() -> None:
        anything()

    config = {"payload": [1, {"a": None}], "obj": 3}
    result = any_job.execute_in_process({"ops": {"anything": {"config": config}}})
    assert result.output_for("anything") == config


# -- repositories: list form ----------------------------------------------------------------


def test_list_repository_is_built_eagerly() -> None:
    first, second = make_job("first"), make_job("second")

    @repository(description="Two jobs.")
    def listed() -> List[Any]:
        return [first, second, first]

    assert isinstance(listed, RepositoryDefinition)
    assert listed.name == "listed"
    assert listed.description == "Two jobs."
    assert listed.job_names == ["first", "second"]
    assert listed.constructed_job_names == ["first", "second"]
    assert listed.get_job("second") is second
    assert listed.get_all_jobs() == [first, second]
    assert listed.has_job("first") and not listed.has_job("third")
    assert listed.schedule_names == [] and listed.sensor_names == []
    assert listed.source_location is not None
    assert listed.source_location[0] == __file__


def test_repository_decorator_with_name() -> None:
    @repository(name="renamed_repository")
    def original() -> List[Any]:
        return []

    assert original.name == "renamed_repository"


def test_repository_function_is_called_exactly_once_at_decoration() -> None:
    calls: List[int] = []

    @repository
    def counted() -> List[Any]:
        calls.append(1)
        return [make_job("one")]

    assert calls == [1]
    counted.get_job("one")
    counted.get_all_jobs()
    assert calls == [1]


def test_two_different_jobs_with_one_name_are_an_error() -> None:
    with pytest.raises(DuplicateDefinitionError) as info:

        @repository
        def clashing() -> List[Any]:
            return [make_job("same"), make_job("same")]

    message = str(info.value)
    assert "repository 'clashing' has two different jobs named 'same'" in message
    assert "rename one of them" in message
    assert (info.value.repository_name, info.value.kind, info.value.name) == (
        "clashing",
        "job",
        "same",
    )


@pytest.mark.parametrize(
    ("member", "words"),
    [
        ("complex_job", ["member [1]", "is a str ('complex_job')", "expected a JobDefinition"]),
        (numbers, ["member [1]", "OpDefinition", "composed into a @job"]),
        (make_job, ["member [1]", "function", "forget the @job"]),
        (None, ["member [1]", "is None; expected"]),
    ],
)
def test_bad_list_member_names_index_and_type(member: Any, words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:

        @repository
        def bad_member() -> List[Any]:
            return [make_job("fine"), member]

    assert "repository 'bad_member'" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_repository_must_return_list_or_dict() -> None:
    with pytest.raises(InvalidDefinitionError) as info:

        @repository
        def returns_job() -> Any:
            return make_job("lonely")

    assert "repository 'returns_job' must return a list" in str(info.value)
    assert "JobDefinition" in str(info.value)


def test_repository_function_with_parameters_is_rejected() -> None:
    with pytest.raises(InvalidDefinitionError, match="repository 'takes_args' must take no"):

        @repository
        def takes_args(x: int) -> List[Any]:
            return []


# -- repositories: dict form and laziness -----------------------------------------------------


def test_lazy_repository_builds_only_the_job_asked_for_once() -> None:
    builds: Dict[str, int] = {}

    def builder(name: str) -> Callable[[], JobDefinition]:
        def build() -> JobDefinition:
            builds[name] = builds.get(name, 0) + 1
            return make_job(name)

        return build

    names = [f"job_{index:03d}" for index in range(300)]

    @repository
    def huge() -> Dict[str, Any]:
        return {"jobs": {name: builder(name) for name in names}}

    assert huge.job_names == names
    assert huge.has_job("job_123")
    assert huge.constructed_job_names == []
    assert builds == {}

    built = huge.get_job("job_123")
    assert built.name == "job_123"
    assert builds == {"job_123": 1}
    assert huge.get_job("job_123") is built
    assert builds == {"job_123": 1}
    huge.get_job("job_007")
    assert huge.constructed_job_names == ["job_123", "job_007"]
    assert sum(builds.values()) == 2

    all_jobs = huge.get_all_jobs()
    assert [j.name for j in all_jobs] == names
    assert builds == dict.fromkeys(names, 1)
    assert huge.constructed_job_names[:2] == ["job_123", "job_007"]
    assert sorted(huge.constructed_job_names) == names


def test_lazy_repository_accepts_built_definitions_too() -> None:
    eager = make_job("eager")

    @repository
    def mixed() -> Dict[str, Any]:
        return {"jobs": {"eager": eager, "lazy": lambda: make_job("lazy")}}

    assert mixed.job_names == ["eager", "lazy"]
    assert mixed.constructed_job_names == ["eager"]
    assert mixed.get_job("eager") is eager


def test_lazily_built_job_with_another_name_says_how_to_fix_it() -> None:
    @repository
    def mismatched() -> Dict[str, Any]:
        return {"jobs": {"declared_name": lambda: make_job("built_name")}}

    assert mismatched.job_names == ["declared_name"]
    with pytest.raises(JobNameMismatchError) as info:
        mismatched.get_job("declared_name")
    error = info.value
    assert (error.repository_name, error.key, error.built_name) == (
        "mismatched",
        "declared_name",
        "built_name",
    )
    message = str(error)
    for word in ("repository 'mismatched'", "'declared_name'", "'built_name'"):
        assert word in message
    assert "rename the key to 'built_name'" in message
    assert "name='declared_name'" in message
    assert mismatched.constructed_job_names == []


def test_eager_job_in_dict_with_another_name_fails_at_construction() -> None:
    with pytest.raises(JobNameMismatchError, match=r"'wrong_key'.*'real_name'"):

        @repository
        def eager_mismatch() -> Dict[str, Any]:
            return {"jobs": {"wrong_key": make_job("real_name")}}


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        ("x" * 500, ["returned a str ('xxxx", "xxx...)", "instead of a JobDefinition"]),
        (None, ["returned None instead"]),
        (numbers, ["returned an OpDefinition", "composed into a @job"]),
    ],
)
def test_builder_returning_a_non_job_says_what_it_returned(returned: Any, words: List[str]) -> None:
    @repository
    def odd_builder() -> Dict[str, Any]:
        return {"jobs": {"odd": lambda: returned}}

    with pytest.raises(InvalidDefinitionError) as info:
        odd_builder.get_job("odd")
    message = str(info.value)
    assert "the function declared for job 'odd' in repository 'odd_builder'" in message
    for word in words:
        assert word in message
    assert len(message) < 400  # the repr is truncated


def test_failing_builder_propagates_and_is_retried() -> None:
    attempts: List[int] = []

    def flaky() -> JobDefinition:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database is down")
        return make_job("flaky")

    @repository
    def retrying() -> Dict[str, Any]:
        return {"jobs": {"flaky": flaky}}

    with pytest.raises(RuntimeError, match="database is down"):
        retrying.get_job("flaky")
    assert retrying.constructed_job_names == []
    assert retrying.get_job("flaky").name == "flaky"
    assert retrying.get_job("flaky").name == "flaky"
    assert len(attempts) == 2


def test_unknown_job_lists_known_names_and_closest_match() -> None:
    @repository
    def cereal_like() -> Dict[str, Any]:
        return {
            "jobs": {
                "complex_job": lambda: make_job("complex_job"),
                "hello_cereal_job": lambda: make_job("hello_cereal_job"),
            }
        }

    with pytest.raises(UnknownDefinitionError) as info:
        cereal_like.get_job("complex_jb")
    error = info.value
    assert isinstance(error, LookupError)
    message = str(error)
    assert "repository 'cereal_like' has no job named 'complex_jb'" in message
    assert "'complex_job', 'hello_cereal_job'" in message
    assert "did you mean 'complex_job'?" in message
    assert error.known == ["complex_job", "hello_cereal_job"]
    assert error.closest == "complex_job"
    assert cereal_like.constructed_job_names == []
    with pytest.raises(UnknownDefinitionError, match="no schedule named 'nightly'"):
        cereal_like.get_schedule("nightly")
    with pytest.raises(UnknownDefinitionError, match="no sensor named 'watcher'"):
        cereal_like.get_sensor("watcher")


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        (
            {"job": {}},
            [
                "unknown key 'job'; allowed keys are 'jobs', 'schedules' and 'sensors'; "
                "did you mean 'jobs'?"
            ],
        ),
        ({"assets": {}}, ["unknown key 'assets'", "allowed keys"]),
        ({"jobs": [make_job("a")]}, ["'jobs' must be a dict", "list"]),
        ({"jobs": {"a": "a"}}, ["jobs['a'] is a str ('a')", "zero-argument function"]),
        ({"jobs": {"a": numbers}}, ["jobs['a'] is an OpDefinition", "composed into a @job"]),
        ({"jobs": {"a": lambda name: None}}, ["job 'a' must take no arguments"]),
        ({"jobs": {1: lambda: None}}, ["keys of 'jobs' must be names", "int (1)"]),
        (
            {"schedules": {"s": make_job("s")}},
            ["schedules['s'] is a JobDefinition", "ScheduleDefinitions"],
        ),
    ],
)
def test_bad_dict_repository(returned: Any, words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:

        @repository
        def bad_dict() -> Any:
            return returned

    assert "repository 'bad_dict'" in str(info.value)
    for word in words:
        assert word in str(info.value)


# -- repositories: schedules and sensors --------------------------------------------------------


def every_hour(target: Any, name: str = "hourly") -> ScheduleDefinition:
    if isinstance(target, str):
        return ScheduleDefinition(name, "0 * * * *", job_name=target)
    return ScheduleDefinition(name, "0 * * * *", job=target)


def watch(target: Any, name: str = "watcher") -> SensorDefinition:
    def evaluate(context: SensorEvaluationContext) -> None:
        return None

    if isinstance(target, str):
        return SensorDefinition(name, evaluate, job_name=target)
    return SensorDefinition(name, evaluate, job=target)


def test_schedule_targeting_a_missing_job_names_repository_schedule_and_job() -> None:
    with pytest.raises(InvalidTargetError) as info:

        @repository
        def missing_target() -> List[Any]:
            return [make_job("complex_job"), every_hour("complex_jb")]

    error = info.value
    assert (error.repository_name, error.definition_name, error.job_name) == (
        "missing_target",
        "hourly",
        "complex_jb",
    )
    message = str(error)
    assert "schedule 'hourly' of repository 'missing_target' targets job 'complex_jb'" in message
    assert "did you mean 'complex_job'?" in message


def test_sensor_targeting_a_missing_job_is_an_error_in_both_forms() -> None:
    with pytest.raises(InvalidTargetError, match=r"sensor 'watcher' of repository 'r1'.*'ghost'"):
        RepositoryDefinition("r1", [watch("ghost")])
    with pytest.raises(InvalidTargetError, match=r"sensor 'watcher' of repository 'r2'.*'ghost'"):
        RepositoryDefinition("r2", {"sensors": {"watcher": watch("ghost")}})


def test_schedules_and_sensors_bring_their_job_along() -> None:
    target = make_job("target")
    listed = RepositoryDefinition("listed", [every_hour(target), watch(target)])
    assert listed.job_names == ["target"]
    assert listed.schedule_names == ["hourly"]
    assert listed.sensor_names == ["watcher"]
    assert listed.get_job("target") is target
    assert listed.get_schedule("hourly").job is target
    assert [s.name for s in listed.schedules] == ["hourly"]
    assert [s.name for s in listed.sensors] == ["watcher"]

    mapped = RepositoryDefinition("mapped", {"schedules": {"hourly": every_hour(target)}})
    assert mapped.job_names == ["target"]


def test_schedule_job_differing_from_the_repository_job_is_a_duplicate() -> None:
    with pytest.raises(DuplicateDefinitionError, match="two different jobs named 'target'"):
        RepositoryDefinition("dup", [make_job("target"), every_hour(make_job("target"))])


def test_two_different_schedules_with_one_name_are_an_error() -> None:
    target = make_job("target")
    with pytest.raises(DuplicateDefinitionError, match="two different schedules named 'hourly'"):
        RepositoryDefinition("dup", [target, every_hour(target), every_hour(target)])


def test_lazy_schedules_and_sensors_build_no_job() -> None:
    built: List[str] = []

    def build_job() -> JobDefinition:
        built.append("job")
        return make_job("nightly_job")

    def build_schedule() -> ScheduleDefinition:
        built.append("schedule")
        return every_hour("nightly_job", name="nightly")

    @repository
    def lazy_everything() -> Dict[str, Any]:
        return {
            "jobs": {"nightly_job": build_job},
            "schedules": {"nightly": build_schedule},
            "sensors": {"watcher": lambda: watch("nightly_job")},
        }

    assert lazy_everything.schedule_names == ["nightly"]
    assert lazy_everything.sensor_names == ["watcher"]
    assert lazy_everything.has_schedule("nightly") and lazy_everything.has_sensor("watcher")
    assert built == []
    schedule_def = lazy_everything.get_schedule("nightly")
    assert schedule_def.job_name == "nightly_job"
    assert lazy_everything.get_schedule("nightly") is schedule_def
    assert lazy_everything.get_sensor("watcher").job_name == "nightly_job"
    assert built == ["schedule"]
    assert lazy_everything.constructed_job_names == []


def test_lazy_schedule_with_missing_target_fails_when_built() -> None:
    repo = RepositoryDefinition(
        "lazy_bad",
        {
            "jobs": {"real": lambda: make_job("real")},
            "schedules": {"hourly": lambda: every_hour("fake")},
        },
    )
    with pytest.raises(InvalidTargetError, match="schedule 'hourly' of repository 'lazy_bad'"):
        repo.get_schedule("hourly")


def test_lazy_schedule_with_another_name_is_explained() -> None:
    repo = RepositoryDefinition(
        "renamed", {"jobs": {"j": make_job("j")}, "schedules": {"key": lambda: every_hour("j")}}
    )
    with pytest.raises(InvalidDefinitionError, match=r"under the key 'key'.*named 'hourly'"):
        repo.get_schedule("key")


# -- cron -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "0 * * * *",
        "*/15 0-6 * * *",
        "0 9 * * MON-FRI",
        "0 0 1 JAN,jul *",
        "5,10,15 1-23/2 1-31 1-12 0-7",
        "30 2 * * sun",
        "  0 0 * * 0  ",
        "5/10 * * * *",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@midnight",
    ],
)
def test_valid_cron_schedules(expression: str) -> None:
    validate_cron_schedule(expression)


@pytest.mark.parametrize(
    ("expression", "field", "words"),
    [
        ("61 * * * *", "minute", ["61 is out of range", "allowed: 0-59"]),
        ("* 24 * * *", "hour", ["24 is out of range", "allowed: 0-23"]),
        ("* * 0 * *", "day of month", ["0 is out of range", "allowed: 1-31"]),
        ("* * * 13 *", "month", ["13 is out of range", "1-12 or JAN-DEC"]),
        ("* * * * 8", "day of week", ["8 is out of range", "0-7 or SUN-SAT"]),
        ("* * * FOO *", "month", ["'FOO' is not a number or a name (JAN, FEB...)"]),
        ("MON * * * *", "minute", ["'MON' is not a number;"]),
        ("*/0 * * * *", "minute", ["step '0'", "positive whole number"]),
        ("5-1 * * * *", "minute", ["range '5-1' runs backwards"]),
        ("1,,2 * * * *", "minute", ["has an empty list element"]),
        ("1-2-3 * * * *", "minute", ["'1-2-3' is not a value, range or step"]),
        ("* * * *", None, ["it has 4 field(s), expected 5", "minute hour day-of-month"]),
        ("* * * * * *", None, ["it has 6 field(s)"]),
        ("", None, ["it has 0 field(s)"]),
        ("@often", None, ["unknown alias '@often'", "@hourly"]),
    ],
)
def test_invalid_cron_schedules_name_the_field(
    expression: str, field: Any, words: List[str]
) -> None:
    with pytest.raises(InvalidCronError) as info:
        validate_cron_schedule(expression)
    assert info.value.field == field
    assert info.value.cron_schedule == expression
    message = str(info.value)
    assert f"invalid cron schedule {expression!r}" in message
    if field:
        assert f"{field} field" in message
    for word in words:
        assert word in message


def test_cron_schedule_of_wrong_type() -> None:
    with pytest.raises(
        InvalidCronError, match="must be a str like '0 \\* \\* \\* \\*', got an int"
    ):
        validate_cron_schedule(5)


def test_invalid_cron_fails_the_schedule_not_the_repository() -> None:
    target = make_job("target")
    broken = ScheduleDefinition("broken", "0 25 * * *", job=target)
    repo = RepositoryDefinition("still_loads", [broken])
    assert repo.schedule_names == ["broken"]
    with pytest.raises(InvalidCronError) as info:
        repo.get_schedule("broken").validate()
    assert "of schedule 'broken'" in str(info.value)
    assert "hour field '25'" in str(info.value)
    assert info.value.schedule_name == "broken"
    every_hour(target).validate()


# -- schedules --------------------------------------------------------------------------------


def test_schedule_definition_with_static_run_config() -> None:
    target = make_job("target")
    schedule_def = ScheduleDefinition(
        "static", "@daily", job=target, run_config={"ops": {}}, description="Daily."
    )
    assert (schedule_def.name, schedule_def.cron_schedule, schedule_def.job_name) == (
        "static",
        "@daily",
        "target",
    )
    assert schedule_def.description == "Daily."
    assert schedule_def.evaluate_tick() == [RunRequest(run_config={"ops": {}})]


def test_schedule_name_defaults_after_its_job() -> None:
    assert ScheduleDefinition(cron_schedule="@daily", job_name="target").name == "target_schedule"


def test_schedule_decorator_passes_the_scheduled_time() -> None:
    seen: List[Any] = []

    @schedule("0 6 * * *", job_name="target")
    def morning(context: ScheduleEvaluationContext) -> Dict[str, Any]:
        """Every morning."""
        seen.append(context.scheduled_execution_time)
        return {"ops": {"fetch": {"config": {"day": context.scheduled_execution_time.day}}}}

    assert isinstance(morning, ScheduleDefinition)
    assert (morning.name, morning.job_name, morning.description) == (
        "morning",
        "target",
        "Every morning.",
    )
    when = datetime.datetime(2024, 5, 17, 6, 0)
    assert morning.evaluate_tick(when) == [
        RunRequest(run_config={"ops": {"fetch": {"config": {"day": 17}}}})
    ]
    morning.evaluate_tick()
    assert seen[0] == when
    assert seen[1].tzinfo is datetime.timezone.utc


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (RunRequest(run_key="a"), [RunRequest(run_key="a")]),
        ([RunRequest(run_key="a"), RunRequest(run_key="b")], [RunRequest("a"), RunRequest("b")]),
        ((RunRequest(run_key="a"),), [RunRequest("a")]),
        ([], []),
        (SkipReason("holiday"), SkipReason("holiday")),
        ([SkipReason("holiday")], SkipReason("holiday")),
    ],
)
def test_schedule_results(returned: Any, expected: Any) -> None:
    @schedule("@daily", job_name="target", name="flexible")
    def flexible(context: ScheduleEvaluationContext) -> Any:
        return returned

    assert flexible.evaluate_tick() == expected


def test_schedule_function_may_yield_and_take_no_context() -> None:
    @schedule("@daily", job_name="target")
    def generating():  # type: ignore[no-untyped-def]
        yield RunRequest(run_key="one")
        yield RunRequest(run_key="two")

    assert generating.evaluate_tick() == [RunRequest("one"), RunRequest("two")]


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        (None, ["schedule 'bad_tick' returned None;", "a run config dict, a RunRequest"]),
        (42, ["returned an int (42)"]),
        ([RunRequest(), "x"], ["returned or yielded a str ('x') at position 1"]),
        ([RunRequest(), SkipReason("no")], ["both RunRequests and SkipReasons"]),
        ([{"ops": {}}], ["dict ({'ops': {}}) at position 0"]),
    ],
)
def test_invalid_schedule_results_name_the_schedule_and_the_value(
    returned: Any, words: List[str]
) -> None:
    @schedule("@daily", job_name="target")
    def bad_tick(context: ScheduleEvaluationContext) -> Any:
        return returned

    with pytest.raises(InvalidEvaluationError) as info:
        bad_tick.evaluate_tick()
    assert info.value.definition_name == "bad_tick"
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: ScheduleDefinition("s", "@daily"), ["schedule 's' has no target", "job="]),
        (lambda: ScheduleDefinition("s", job_name="j"), ["needs a cron_schedule"]),
        (
            lambda: ScheduleDefinition("s", 5, job_name="j"),
            ["cron_schedule of schedule 's'", "int (5)"],
        ),
        (
            lambda: ScheduleDefinition("s", "@daily", job="j"),
            ["job=... of schedule 's'", "JobDefinition", "str ('j')"],
        ),
        (
            lambda: ScheduleDefinition("s", "@daily", job=make_job("a"), job_name="b"),
            ["job='a' and job_name='b'"],
        ),
        (
            lambda: ScheduleDefinition(
                "s", "@daily", job_name="j", run_config={}, execution_fn=lambda: {}
            ),
            ["both run_config and execution_fn"],
        ),
        (
            lambda: ScheduleDefinition("bad-name", "@daily", job_name="j"),
            ["invalid schedule name 'bad-name'"],
        ),
        (lambda: schedule(lambda: None), ["@schedule needs arguments"]),  # type: ignore[arg-type]
    ],
)
def test_schedule_definition_errors(make: Callable[[], Any], words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:
        make()
    for word in words:
        assert word in str(info.value)


# -- sensors ----------------------------------------------------------------------------------


def test_sensor_decorator_and_yielded_run_requests() -> None:
    @sensor(job_name="target", minimum_interval_seconds=60)
    def new_files(context: SensorEvaluationContext):  # type: ignore[no-untyped-def]
        """Watches for files."""
        for name in (context.cursor or "").split(","):
            if name:
                yield RunRequest(run_key=name, run_config={"file": name}, tags={"f": name})

    assert isinstance(new_files, SensorDefinition)
    assert (new_files.name, new_files.job_name, new_files.minimum_interval_seconds) == (
        "new_files",
        "target",
        60,
    )
    assert new_files.description == "Watches for files."
    assert new_files.evaluate_tick(cursor="a.csv,b.csv") == [
        RunRequest("a.csv", {"file": "a.csv"}, {"f": "a.csv"}),
        RunRequest("b.csv", {"file": "b.csv"}, {"f": "b.csv"}),
    ]
    assert new_files.evaluate_tick() == []


def test_sensor_sees_last_run_key_and_may_update_the_cursor() -> None:
    contexts: List[SensorEvaluationContext] = []

    def remember(context: SensorEvaluationContext) -> SkipReason:
        contexts.append(context)
        context.update_cursor("next")
        return SkipReason(f"last was {context.last_run_key}")

    sensor_def = SensorDefinition("remembering", remember, job_name="target")
    assert sensor_def.minimum_interval_seconds == 30
    assert sensor_def.evaluate_tick(cursor="c", last_run_key="k") == SkipReason("last was k")
    assert contexts[0].cursor == "next"


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (None, SkipReason()),
        (SkipReason("nothing new"), SkipReason("nothing new")),
        (RunRequest(run_key="x"), [RunRequest(run_key="x")]),
        ([RunRequest(run_key="x")], [RunRequest(run_key="x")]),
    ],
)
def test_sensor_results(returned: Any, expected: Any) -> None:
    sensor_def = SensorDefinition("plain", lambda: returned, job_name="target")
    assert sensor_def.evaluate_tick() == expected


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        ({"ops": {}}, ["sensor 'picky' returned a dict", "RunRequests, a SkipReason, or None"]),
        ("run", ["returned a str ('run')"]),
        ([RunRequest(), 3], ["int (3) at position 1"]),
        ([SkipReason("a"), SkipReason("b")], ["several SkipReasons"]),
    ],
)
def test_invalid_sensor_results(returned: Any, words: List[str]) -> None:
    picky = SensorDefinition("picky", lambda context: returned, job_name="target")
    with pytest.raises(InvalidEvaluationError) as info:
        picky.evaluate_tick()
    assert info.value.definition_name == "picky"
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda: SensorDefinition("s", None, job_name="j"),
            ["sensor 's' needs an evaluation function"],
        ),
        (lambda: SensorDefinition("s", lambda: None), ["sensor 's' has no target"]),
        (
            lambda: SensorDefinition("s", lambda: None, job_name="j", minimum_interval_seconds=0),
            ["positive int", "int (0)"],
        ),
        (
            lambda: SensorDefinition(
                "s", lambda: None, job_name="j", minimum_interval_seconds=True
            ),
            ["positive int", "bool (True)"],
        ),
        (lambda: sensor(lambda: None), ["@sensor needs a target"]),  # type: ignore[arg-type]
        (
            lambda: SensorDefinition(None, lambda: None, job_name="j"),
            ["name of a sensor must be a str"],
        ),
    ],
)
def test_sensor_definition_errors(make: Callable[[], Any], words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:
        make()
    for word in words:
        assert word in str(info.value)


# -- run requests -------------------------------------------------------------------------------


def test_run_request_and_skip_reason_are_values() -> None:
    request = RunRequest(run_key="k", run_config={"ops": {}}, tags={"a": "b"})
    assert request == RunRequest("k", {"ops": {}}, {"a": "b"})
    assert request != RunRequest("other", {"ops": {}}, {"a": "b"})
    assert RunRequest() == RunRequest(run_config={}, tags={})
    assert RunRequest().run_config == {} and RunRequest().tags == {}
    assert "run_key='k'" in repr(request)
    assert SkipReason("why") == SkipReason("why") != SkipReason("other")
    assert SkipReason().message is None
    with pytest.raises(AttributeError):
        request.run_key = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: RunRequest(run_key=5), ["run_key", "int (5)"]),
        (
            lambda: RunRequest(run_config="ops"),
            ["RunRequest(run_config=...) must be a dict", "str"],
        ),
        (lambda: RunRequest(tags=["a"]), ["RunRequest(tags=...) must be a dict"]),
        (lambda: SkipReason(5), ["SkipReason(message) must be a str or None", "int (5)"]),
    ],
)
def test_run_request_validation(make: Callable[[], Any], words: List[str]) -> None:
    with pytest.raises(InvalidDefinitionError) as info:
        make()
    for word in words:
        assert word in str(info.value)


# -- the cereal fixture ---------------------------------------------------------------------------


def test_cereal_tutorial_runs_with_only_its_import_line_changed() -> None:
    source = (CEREAL / "repos.py").read_text()
    assert "from pytest_workspace.definitions import job, op, repository" in source
    assert not re.search(r"^(import|from) dagster", source, re.MULTILINE)
    assert (CEREAL / "workspace.yaml").read_text() == "load_from:\n  - python_file: repos.py\n"

    spec = importlib.util.spec_from_file_location("cereal_repos_under_test", CEREAL / "repos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    repo = module.hello_cereal_repository
    assert isinstance(repo, RepositoryDefinition)
    assert repo.job_names == ["hello_cereal_job", "complex_job"]
    assert repo.constructed_job_names == []

    complex_job = repo.get_job("complex_job")
    assert repo.constructed_job_names == ["complex_job"]
    assert len(complex_job.op_names) >= 3
    assert complex_job.dependencies["display_results"] == [
        "find_highest_calorie_cereal",
        "find_highest_protein_cereal",
    ]
    result = complex_job.execute_in_process()
    assert result.success
    assert result.output_for("display_results") == {
        "most_calories": "Mueslix Crispy Blend",
        "most_protein": "Cheerios",
    }
    messages = [e.message for e in result.logs if e.event is None]
    assert "Most protein-rich cereal: Cheerios" in messages

    hello = repo.get_job("hello_cereal_job").execute_in_process()
    assert hello.success
    assert [e.message for e in hello.logs if e.event is None] == ["Found 7 cereals"]
    assert repo.constructed_job_names == ["complex_job", "hello_cereal_job"]


def test_module_depends_only_on_the_modules_shipped_before_it() -> None:
    # It travels to workers after these two (locations.SHIPPED_MODULES), and nothing else.
    source = Path(d.__file__).read_text()
    ours = re.findall(r"^\s*(?:from|import)\s+(?:pytest_workspace|\.).*$", source, re.MULTILINE)
    assert [line.strip() for line in ours] == [
        "from pytest_workspace import protocol as _protocol",
        "from pytest_workspace._definition_errors import (",
    ]
    for module in (d._protocol, sys.modules["pytest_workspace._definition_errors"]):
        shipped_before = Path(str(module.__file__)).read_text()
        assert not re.search(r"^\s*(from|import)\s+(pytest_workspace|\.)", shipped_before, re.M)
    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    assert "__file__" not in names


def test_sys_exit_in_an_op_fails_that_op_and_skips_downstream() -> None:
    import sys as _sys

    @op
    def leaves() -> int:
        _sys.exit(3)

    @op
    def after(value: int) -> int:
        return value

    @job
    def exiting_job() -> None:
        after(leaves())

    result = exiting_job.execute_in_process(raise_on_error=False)
    assert not result.success
    assert result.step_results["leaves"].status == "failure"
    assert isinstance(result.step_results["leaves"].error, SystemExit)
    assert result.step_results["after"].status == "skipped"

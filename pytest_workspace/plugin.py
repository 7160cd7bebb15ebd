"""The pytest plugin: workspace files become collectors, jobs/schedules/sensors items.

A thin layer over :mod:`pytest_workspace.workspace`: one :class:`Workspace` per pytest
process holds every location of the run; collection asks it for names (building no
job), items ask it to build, execute or evaluate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pytest

from . import hooks
from .config import LocationSpec, WorkspaceSpec, load_workspace_file, location_from_module
from .config import location_from_python_file
from .errors import (
    NameLookupError,
    RemoteError,
    RunConfigError,
    WorkspaceError,
    WorkspaceFileError,
)
from .locations import DEFAULT_TIMEOUT
from .workspace import (
    JobHandle,
    Location,
    RepositoryHandle,
    RunResult,
    ScheduleHandle,
    SensorHandle,
    Workspace,
)

_run_key = pytest.StashKey["WorkspaceRun"]()


# -- options ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workspace", "pytest-workspace: test the jobs of a workspace")
    group.addoption(
        "--workspace",
        action="append",
        default=[],
        metavar="PATH",
        help="collect the code locations of this workspace file (repeatable).",
    )
    group.addoption(
        "--workspace-file",
        action="append",
        default=[],
        metavar="FILE",
        help="load a single Python file as a code location, like Dagster's -f (repeatable).",
    )
    group.addoption(
        "--workspace-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="load a single module as a code location, like Dagster's -m (repeatable).",
    )
    group.addoption(
        "--workspace-no-execute",
        action="store_true",
        default=None,
        help="build every job but do not execute it.",
    )
    group.addoption(
        "--workspace-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"time limit of one call into a code location (default {DEFAULT_TIMEOUT:g}; "
        "0 for none). A call over it kills the location's process.",
    )
    parser.addini("workspace", "workspace files to collect", type="paths", default=[])
    parser.addini(
        "workspace_files",
        "glob patterns of workspace files found while collecting folders",
        type="args",
        default=["workspace.yaml"],
    )
    parser.addini("workspace_execute", "execute jobs (false: build only)", type="bool", default=True)
    parser.addini(
        "workspace_timeout",
        "time limit in seconds of one call into a code location (0: none)",
        default=str(DEFAULT_TIMEOUT),
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "workspace: an item collected from a workspace (job, schedule, sensor)"
    )
    run = WorkspaceRun(config)
    config.stash[_run_key] = run
    if run.named_on_command_line and config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --workspace ws.yaml` runs that workspace, not the default test paths too.
        config.args = []


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_run_key, None)
    if run is not None:
        run.close()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # Start the named workspaces now, all at once, so the header can say their Pythons.
    # An xdist controller collects nothing: its workers start their own locations.
    if not session.config.pluginmanager.has_plugin("dsession"):
        session.config.stash[_run_key].start_named()


def pytest_report_header(config: pytest.Config) -> List[str]:
    return config.stash[_run_key].header_lines()


# -- the state of one pytest process ---------------------------------------------------


class WorkspaceRun:
    """Every workspace file and location of this pytest process, loaded once."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        invocation = Path(config.invocation_params.dir)
        cli = [invocation / p for p in config.getoption("workspace")]
        ini = [Path(p) for p in config.getini("workspace")]
        self.named_files: List[Path] = _unique([p.resolve() for p in cli + ini])
        self.file_targets: List[str] = [
            str(invocation / p) for p in config.getoption("workspace_file")
        ]
        self.module_targets: List[str] = list(config.getoption("workspace_module"))
        self.named_on_command_line = bool(cli or self.file_targets or self.module_targets)
        self.patterns: List[str] = list(config.getini("workspace_files"))
        cli_timeout = config.getoption("workspace_timeout")
        timeout = float(cli_timeout if cli_timeout is not None else config.getini("workspace_timeout"))
        self.timeout: Optional[float] = timeout if timeout > 0 else None
        no_execute = config.getoption("workspace_no_execute")
        self.execute: bool = not no_execute and bool(config.getini("workspace_execute"))
        self._workspace: Optional[Workspace] = None
        self._files: Dict[Path, Tuple[Union[WorkspaceSpec, WorkspaceFileError], List[Location]]] = {}
        self._targets: Dict[str, Location] = {}
        self.collected: set[Path] = set()

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = Workspace(timeout=self.timeout)
        return self._workspace

    @property
    def has_targets(self) -> bool:
        return bool(self.named_files or self.file_targets or self.module_targets or self._files)

    def start_named(self) -> None:
        """Parse the named files and start all their locations (and -f/-m) at once."""
        specs = []
        for path in self.named_files:
            if path in self._files:
                continue
            try:
                spec = load_workspace_file(str(path))
            except WorkspaceFileError as exc:
                self._files[path] = (exc, [])
                continue
            specs.append(spec)
        targets = self._target_specs()
        if not specs and not targets:
            return
        added = self.workspace.add(specs, [spec for _, spec in targets])
        by_spec = {id(loc.spec): loc for loc in added}
        for spec in specs:
            self._files[Path(spec.path)] = (spec, [by_spec[id(l)] for l in spec.locations])
        for key, spec in targets:
            self._targets[key] = by_spec[id(spec)]

    def _target_specs(self) -> List[Tuple[str, LocationSpec]]:
        targets = []
        for path in self.file_targets:
            if path not in self._targets:
                targets.append((path, location_from_python_file(path)))
        for module in self.module_targets:
            if module not in self._targets:
                targets.append((module, location_from_module(module)))
        return targets

    def file(self, path: Path) -> Tuple[WorkspaceSpec, List[Location]]:
        """The parsed file and its started locations; raises WorkspaceFileError."""
        path = path.resolve()
        if path not in self._files:
            try:
                spec = load_workspace_file(str(path))
            except WorkspaceFileError as exc:
                self._files[path] = (exc, [])
            else:
                self._files[path] = (spec, self.workspace.add([spec]))
        spec_or_error, locations = self._files[path]
        if isinstance(spec_or_error, WorkspaceFileError):
            raise spec_or_error
        return spec_or_error, locations

    def target(self, key: str) -> Location:
        if key not in self._targets:
            self.start_named()
        return self._targets[key]

    def header_lines(self) -> List[str]:
        lines = []
        for path, (spec, locations) in self._files.items():
            described = ", ".join(_describe_location(loc) for loc in locations)
            if isinstance(spec, WorkspaceFileError):
                described = "malformed"
            lines.append(f"workspace: {_display_path(path, self.config)}: {described or 'no locations'}")
        for key, location in self._targets.items():
            lines.append(f"workspace location: {key}: {_describe_location(location)}")
        if not lines and (self.named_files or self.file_targets or self.module_targets):
            names = [str(p) for p in self.named_files] + self.file_targets + self.module_targets
            lines.append("workspace: " + ", ".join(names))
        return lines

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


def _describe_location(location: Location) -> str:
    version = location.python_version
    python = "Python " + ".".join(map(str, version)) if version else "not loaded"
    return f"{location.name} ({python})"


def _display_path(path: Path, config: pytest.Config) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


def _unique(paths: Sequence[Path]) -> List[Path]:
    seen: List[Path] = []
    for path in paths:
        if path not in seen:
            seen.append(path)
    return seen


# -- collection ------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    run: WorkspaceRun = parent.config.stash[_run_key]
    resolved = file_path.resolve()
    if resolved in run.collected:
        return None  # a workspace file reached twice is collected once
    named = resolved in run.named_files or resolved in _arg_paths(parent.config)
    if named or any(file_path.match(pattern) for pattern in run.patterns):
        if file_path.suffix in (".yaml", ".yml") or named:
            run.collected.add(resolved)
            return WorkspaceFile.from_parent(parent, path=file_path)
    return None


def _arg_paths(config: pytest.Config) -> List[Path]:
    invocation = Path(config.invocation_params.dir)
    return [(invocation / arg.split("::")[0]).resolve() for arg in config.args]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: List[pytest.Item]
) -> None:
    # Files named with --workspace (or the ini option) that the ordinary collection did
    # not reach, and -f/-m targets, are collected here, before -k, -m and --lf filter.
    run: WorkspaceRun = config.stash[_run_key]
    extra: List[pytest.Collector] = []
    for path in run.named_files:
        if path not in run.collected:
            run.collected.add(path)
            extra.append(WorkspaceFile.from_parent(session, path=path))
    for key in run.file_targets + run.module_targets:
        name = _display_path(Path(key), config) if key in run.file_targets else key
        extra.append(TargetLocation.from_parent(session, name=name, key=key))
    for collector in extra:
        items.extend(session.genitems(collector))


class WorkspaceFile(pytest.File):
    """A workspace file: its children are its code locations."""

    def collect(self) -> Iterator[pytest.Collector]:
        run: WorkspaceRun = self.config.stash[_run_key]
        try:
            spec, locations = run.file(self.path)
        except WorkspaceFileError as exc:
            raise self.CollectError(str(exc)) from None
        for skipped in spec.skipped:
            yield SkippedEntryItem.from_parent(self, name=skipped.key_path, reason=skipped.reason)
        for location in locations:
            yield LocationNode.from_parent(self, name=location.name, location=location)


class LocationNode(pytest.Collector):
    """A code location: its repositories, or one failed item if it did not load."""

    def __init__(self, *, location: Location, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.location = location

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        yield from _location_children(self, self.location)


class TargetLocation(pytest.Collector):
    """A location named with --workspace-file or --workspace-module."""

    def __init__(self, *, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        run: WorkspaceRun = self.config.stash[_run_key]
        yield from _location_children(self, run.target(self.key))


def _location_children(
    parent: pytest.Collector, location: Location
) -> Iterator[Union[pytest.Item, pytest.Collector]]:
    if location.load_error is not None:
        yield LocationLoadItem.from_parent(parent, name="load_location", location=location)
        return
    for repository in sorted(location.repositories, key=lambda r: r.name):
        yield RepositoryNode.from_parent(parent, name=repository.name, repository=repository)


class RepositoryNode(pytest.Collector):
    """A repository: one item per job, schedule and sensor, sorted by name."""

    def __init__(self, *, repository: RepositoryHandle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repository = repository

    def collect(self) -> Iterator[pytest.Item]:
        repo = self.repository
        for name in sorted(repo.job_names):
            yield JobItem.from_parent(self, name=name, handle=repo.job(name))
        for name in sorted(repo.schedule_names):
            yield ScheduleItem.from_parent(self, name=f"schedule:{name}", handle=repo.schedule(name))
        for name in sorted(repo.sensor_names):
            yield SensorItem.from_parent(self, name=f"sensor:{name}", handle=repo.sensor(name))


# -- items -----------------------------------------------------------------------------


class ItemFailure(Exception):
    """A workspace item failed; the message is the whole report."""


class WorkspaceItem(pytest.Item):
    """Base of every workspace item: marker, xdist group, pytest-style failure reports."""

    kind = "item"

    def __init__(self, *, location: Location, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.location_ = location
        self.add_marker(pytest.mark.workspace)
        if self.config.getoption("dist", "no") == "loadgroup":
            self.add_marker(pytest.mark.xdist_group(name=location.name))

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Union[str, Any]:
        if isinstance(excinfo.value, (ItemFailure, WorkspaceError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def _source(self) -> Optional[Tuple[str, int]]:
        return None

    def reportinfo(self) -> Tuple[Union[os.PathLike[str], str], Optional[int], str]:
        source = self._source()
        if source is not None:
            return Path(source[0]), source[1] - 1, f"{self.kind} {self.name}"
        return self.path, None, f"{self.kind} {self.name}"

    def _add_output(self, when: str, stdout: str, stderr: str) -> None:
        if stdout:
            self.add_report_section(when, "stdout", stdout)
        if stderr:
            self.add_report_section(when, "stderr", stderr)


class LocationLoadItem(WorkspaceItem):
    """Stands for a code location that failed to load: it fails with the cause."""

    kind = "location"

    def runtest(self) -> None:
        error = self.location_.load_error
        assert error is not None
        stdout, stderr = self.location_.load_output
        self._add_output("call", stdout, stderr)
        raise ItemFailure(str(error))


class SkippedEntryItem(pytest.Item):
    """A workspace entry we do not load (``grpc_server``): reported as skipped."""

    def __init__(self, *, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason
        self.add_marker(pytest.mark.workspace)

    def runtest(self) -> None:
        pytest.skip(self.reason)

    def reportinfo(self) -> Tuple[Union[os.PathLike[str], str], Optional[int], str]:
        return self.path, None, f"skipped entry {self.name}"


class JobItem(WorkspaceItem):
    """A job: it must build in its own interpreter, have the right name, and run."""

    kind = "job"

    def __init__(self, *, handle: JobHandle, **kwargs: Any) -> None:
        super().__init__(location=handle.location, **kwargs)
        self.handle = handle

    def _source(self) -> Optional[Tuple[str, int]]:
        return self.handle.repository.source

    def runtest(self) -> None:
        job = self.handle
        try:
            build = job.build()
        except RemoteError as exc:
            step = "name check" if exc.type_name.endswith("JobNameMismatchError") else "build"
            raise ItemFailure(f"job {job.name!r} failed its {step}:\n{exc}") from None
        self._add_output("setup", build.stdout, build.stderr)
        if build.name != job.name:
            raise ItemFailure(
                f"job {job.name!r} failed its name check: it is declared as {job.name!r} "
                f"but the built job is named {build.name!r}"
            )
        hook = self.config.hook
        execute = hook.pytest_workspace_should_execute(job=job)
        if execute is None:
            execute = self.config.stash[_run_key].execute
        if not execute:
            return
        run_config = hook.pytest_workspace_run_config(job=job)
        try:
            result = job.execute(run_config=run_config)
        except RunConfigError as exc:
            if exc.data.get("only_missing"):
                pytest.skip(
                    f"job {job.name!r} needs run config it was not given: "
                    f"{', '.join(exc.missing)} (supply it with the "
                    f"pytest_workspace_run_config hook)"
                )
            raise ItemFailure(f"job {job.name!r} was given invalid run config:\n{exc}") from None
        except RemoteError as exc:
            raise ItemFailure(f"job {job.name!r} failed before any op ran:\n{exc}") from None
        self._add_output("call", result.stdout, result.stderr)
        if result.logs:
            self.add_report_section("call", "log", _format_logs(result))
        if not result.success:
            raise ItemFailure(_execution_failure(job, result))


def _format_logs(result: RunResult) -> str:
    lines = []
    for record in result.logs:
        where = f" [{record.op_name}]" if record.op_name else ""
        lines.append(f"{record.level:<8} {record.logger}{where}: {record.message}")
    return "\n".join(lines)


def _execution_failure(job: JobHandle, result: RunResult) -> str:
    failed = result.failed_op
    lines = [f"job {job.name!r} failed during execution" + (f" in op {failed!r}" if failed else "")]
    error = result.error
    if error is not None:
        lines += ["", str(error)]
    lines += ["", "steps:"]
    for step in result.step_results.values():
        lines.append(f"  {step.status:<8} {step.op_name} ({step.duration:.3f}s)")
    return "\n".join(lines)


class ScheduleItem(WorkspaceItem):
    """A schedule: valid cron string, existing target job, an evaluation that runs."""

    kind = "schedule"

    def __init__(self, *, handle: ScheduleHandle, **kwargs: Any) -> None:
        super().__init__(location=handle.location, **kwargs)
        self.handle = handle

    def _source(self) -> Optional[Tuple[str, int]]:
        return self.handle.repository.source

    def runtest(self) -> None:
        try:
            evaluation = self.handle.evaluate()
        except RemoteError as exc:
            raise ItemFailure(f"schedule {self.handle.name!r} failed:\n{exc}") from None
        self._add_output("call", evaluation.stdout, evaluation.stderr)


class SensorItem(WorkspaceItem):
    """A sensor: existing target job and an evaluation that runs."""

    kind = "sensor"

    def __init__(self, *, handle: SensorHandle, **kwargs: Any) -> None:
        super().__init__(location=handle.location, **kwargs)
        self.handle = handle

    def _source(self) -> Optional[Tuple[str, int]]:
        return self.handle.repository.source

    def runtest(self) -> None:
        try:
            evaluation = self.handle.evaluate()
        except RemoteError as exc:
            raise ItemFailure(f"sensor {self.handle.name!r} failed:\n{exc}") from None
        self._add_output("call", evaluation.stdout, evaluation.stderr)


# -- fixtures --------------------------------------------------------------------------


def _session_workspace(config: pytest.Config) -> Workspace:
    run: WorkspaceRun = config.stash[_run_key]
    if not run.has_targets:
        pytest.fail(
            "no workspace is configured: pass --workspace PATH (or --workspace-file / "
            "--workspace-module), or list workspace files in the ini option `workspace`",
            pytrace=False,
        )
    run.start_named()
    return run.workspace


@pytest.fixture(scope="session")
def workspace(pytestconfig: pytest.Config) -> Workspace:
    """The loaded workspace of this run: every location, each in its own process."""
    return _session_workspace(pytestconfig)


@pytest.fixture
def workspace_job(workspace: Workspace) -> Callable[[str], JobHandle]:
    """``workspace_job("complex_job")``: a JobHandle by name, ``repo/job`` or ``loc/repo/job``."""

    def get(name: str) -> JobHandle:
        try:
            return workspace.job(name)
        except NameLookupError as exc:
            pytest.fail(str(exc), pytrace=False)

    return get


@pytest.fixture
def workspace_repository(workspace: Workspace) -> Callable[[str], RepositoryHandle]:
    """``workspace_repository("hello_cereal_repository")``: a RepositoryHandle by name."""

    def get(name: str) -> RepositoryHandle:
        try:
            return workspace.repository(name)
        except NameLookupError as exc:
            pytest.fail(str(exc), pytrace=False)

    return get


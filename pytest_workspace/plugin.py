"""The pytest plugin: workspace files become collectors, jobs/schedules/sensors items.

A thin layer over :mod:`pytest_workspace.workspace`: one :class:`Workspace` per pytest
process holds every location of the run; collection asks it for names (building no
job), items ask it to build, execute or evaluate. ``docs/plugin.md`` is the reference of
every option, ini key, fixture, hook, marker and node id this module defines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

import pytest

from . import hooks
from .config import (
    COMMAND_LINE_SOURCE,
    TOML_SOURCE_NAMES,
    LocationSpec,
    SkippedEntry,
    SourceError,
    WorkspaceSpec,
    apply_location_overrides,
    is_collected_source,
    load_workspace_source,
    location_from_module,
    location_from_python_file,
    resolve_source_path,
)
from .errors import (
    LocationLoadError,
    NameLookupError,
    RemoteError,
    RunConfigError,
    WorkerError,
    WorkspaceError,
    WorkspaceFileError,
)
from .locations import DEFAULT_TIMEOUT
from .workspace import (
    JobBuild,
    JobHandle,
    Location,
    RepositoryHandle,
    RunResult,
    ScheduleHandle,
    SensorHandle,
    Workspace,
)

_run_key = pytest.StashKey["WorkspaceRun"]()

#: Name of the item that stands for a code location that failed to load.
LOAD_LOCATION_ITEM = "load_location"
#: Name of the item that stands for a malformed workspace file.
LOAD_WORKSPACE_ITEM = "load_workspace"

_YAML_SUFFIXES = (".yaml", ".yml")

_ReportInfo = Tuple[Union["os.PathLike[str]", str], Optional[int], str]


# -- options ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workspace", "pytest-workspace: test the jobs of a workspace")
    group.addoption(
        "--workspace",
        action="append",
        default=[],
        metavar="PATH",
        help="collect the code locations of this workspace file (repeatable). Without "
        "positional arguments, only the named workspaces are collected.",
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
        default=False,
        help="build every job (and check its name) but do not execute it.",
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
        default=["workspace.yaml", "dg.toml"],
    )
    parser.addini(
        "workspace_execute", "execute jobs (false: build only)", type="bool", default=True
    )
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
        # `pytest --workspace ws.yaml` runs that workspace, not the testpaths (or the
        # current folder) too.
        config.args = []
    # Named workspace files become positional arguments, so that pytest collects them
    # as it collects any argument: the folders above them, their conftest.py files,
    # node ids relative to the rootdir, --lf, --deselect... (xdist workers receive them).
    # A file inside a folder that is collected anyway is found there.
    if not run.named_on_command_line and config.args_source == pytest.Config.ArgsSource.ARGS:
        return  # `pytest test_x.py` with the ini option `workspace`: only test_x.py
    invocation = config.invocation_params.dir
    covered = [_resolve(Path(invocation, arg.split("::")[0])) for arg in config.args]
    for path in run.named_files:
        if not path.is_file() and (path.exists() or path.is_symlink()):
            continue  # a folder or a link loop: collected from the session, as a failure
        if not any(path == arg or arg in path.parents for arg in covered):
            config.args.append(str(path))


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_run_key, None)
    if run is not None:
        run.close()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # Start the named workspaces now, all at once, so the header can say their Pythons.
    # An xdist controller collects nothing: its workers start their own locations.
    if not _is_xdist_controller(session.config):
        session.config.stash[_run_key].start_named()


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


def pytest_report_header(config: pytest.Config) -> List[str]:
    return config.stash[_run_key].header_lines()


def pytest_sessionfinish(session: pytest.Session) -> None:
    # An xdist worker hands its lines to the controller, which loaded no location itself.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["pytest_workspace_locations"] = session.config.stash[_run_key].all_lines()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    run: WorkspaceRun = node.config.stash[_run_key]
    for line in getattr(node, "workeroutput", {}).get("pytest_workspace_locations", []):
        if line not in run.worker_lines:
            run.worker_lines.append(line)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash[_run_key].worker_lines
    if lines:
        terminalreporter.write_sep("-", "workspace locations (loaded by xdist workers)")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_report_collectionfinish(config: pytest.Config) -> List[str]:
    # Workspace files found while collecting folders were loaded after the header was
    # printed: they get their line here, under "collected N items".
    return config.stash[_run_key].header_lines()


# -- the state of one pytest process ---------------------------------------------------


_FileState = Tuple[Union[WorkspaceSpec, WorkspaceFileError], List[Location]]


class WorkspaceRun:
    """Every workspace file and location of this pytest process, each loaded once."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        invocation = Path(config.invocation_params.dir)
        cli = [invocation / p for p in config.getoption("workspace")]
        self.file_targets: List[str] = _unique(
            [str((invocation / p).resolve()) for p in config.getoption("workspace_file")]
        )
        self.module_targets: List[str] = _unique(list(config.getoption("workspace_module")))
        self.named_on_command_line = bool(cli or self.file_targets or self.module_targets)
        # The command line replaces the ini option, as it does for pytest's own options.
        ini = [] if self.named_on_command_line else [Path(p) for p in config.getini("workspace")]
        #: Loaded at session start (fixtures see them) and collected, like testpaths,
        #: unless positional arguments say what to collect (--workspace files always are).
        self.named_files: List[Path] = _unique(
            [_resolve(Path(resolve_source_path(p))) for p in cli + ini]
        )
        self.patterns: List[str] = list(config.getini("workspace_files"))
        self.timeout = _timeout(config)
        no_execute = bool(config.getoption("workspace_no_execute"))
        self.execute: bool = not no_execute and bool(config.getini("workspace_execute"))
        self._workspace: Optional[Workspace] = None
        self._files: Dict[Path, _FileState] = {}
        self._reported: Set[Path] = set()
        self._reported_targets: Set[str] = set()
        self.worker_lines: List[str] = []
        self._targets: Dict[str, Location] = {}
        self.collected: Set[Path] = set()
        try:  # a malformed -f/-m target is a usage error, said before anything starts
            self._target_specs()
        except WorkspaceFileError as exc:
            raise pytest.UsageError(str(exc)) from None

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
                spec = load_workspace_source(str(path))
            except WorkspaceFileError as exc:
                self._files[path] = (exc, [])
                continue
            specs.append(spec)
        # Files named together are one workspace, as for `dagster dev -w a -w b`.
        specs = list(apply_location_overrides(specs))
        targets = self._target_specs()
        if not specs and not targets:
            return
        added = self.workspace.add(specs, [spec for _, spec in targets])
        by_spec = {id(location.spec): location for location in added}
        for spec in specs:
            started = [by_spec[id(location)] for location in spec.locations]
            self._files[_resolve(Path(spec.path))] = (spec, started)
        for key, location_spec in targets:
            self._targets[key] = by_spec[id(location_spec)]

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
        path = _resolve(path)
        if path not in self._files:
            try:
                spec = load_workspace_source(str(path))
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

    def all_lines(self) -> List[str]:
        """One line per workspace file and -f/-m location loaded in this process."""
        return self._lines(set(), set())

    def header_lines(self) -> List[str]:
        """One line per workspace file (and -f/-m location) not yet reported."""
        return self._lines(self._reported, self._reported_targets)

    def _lines(self, reported: Set[Path], reported_targets: Set[str]) -> List[str]:
        lines = []
        for path, (spec, locations) in self._files.items():
            if path in reported:
                continue
            reported.add(path)
            if isinstance(spec, WorkspaceFileError):
                described = "not found" if not path.exists() else "malformed, not loaded"
            else:
                described = ", ".join(_describe_location(loc) for loc in locations)
            shown = _display_path(path, self.config)
            lines.append(f"workspace: {shown}: {described or 'no locations'}")
        for key, location in self._targets.items():
            if key in reported_targets:
                continue
            reported_targets.add(key)
            lines.append(f"workspace location: {location.name}: {_describe_location(location)}")
        if not lines and not reported and (
            self.named_files or self.file_targets or self.module_targets
        ):
            # An xdist controller: its workers load the locations.
            names = [_display_path(p, self.config) for p in self.named_files]
            names += [_display_path(Path(p), self.config) for p in self.file_targets]
            lines.append("workspace: " + ", ".join(names + self.module_targets))
        return lines

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


def _timeout(config: pytest.Config) -> Optional[float]:
    value = config.getoption("workspace_timeout")
    if value is None:
        text = config.getini("workspace_timeout")
        try:
            value = float(text)
        except ValueError:
            raise pytest.UsageError(
                f"ini option workspace_timeout must be a number of seconds, got {text!r}"
            ) from None
    return float(value) if value > 0 else None


def _describe_location(location: Location) -> str:
    version = location.python_version
    python = "Python " + ".".join(map(str, version)) if version else "not started"
    failed = ", failed to load" if location.load_error is not None else ""
    return f"{location.name} ({python}{failed})"


def _display_path(path: Path, config: pytest.Config) -> str:
    """``path`` relative to the rootdir, ``../``-style when it lies outside."""
    return os.path.relpath(path, config.rootpath).replace(os.sep, "/")


def _resolve(path: Path) -> Path:
    """``path.resolve()``, except that a symbolic link loop is kept as an absolute path
    (its error is the workspace file's, not an INTERNALERROR)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _unique(values: Sequence[Any]) -> List[Any]:
    seen: List[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


# -- collection ------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    run: WorkspaceRun = parent.config.stash[_run_key]
    resolved = _resolve(file_path)
    if resolved in run.collected:
        return None  # a workspace file reached twice is collected once
    # A positional argument is a workspace file whatever its name, if it is YAML at all
    # or a dg.toml / pyproject.toml (`pytest test_x.py` names a Python module).
    named = resolved in run.named_files or (
        (file_path.suffix in _YAML_SUFFIXES or file_path.name in TOML_SOURCE_NAMES)
        and parent.session.isinitpath(file_path)
    )
    found = any(file_path.match(pattern) for pattern in run.patterns)
    if named or (found and is_collected_source(file_path)):
        run.collected.add(resolved)
        if not file_path.is_relative_to(parent.config.rootpath):
            # pytest gives files outside the rootdir an empty node id: use ../-style.
            nodeid = _display_path(file_path, parent.config)
            return WorkspaceFile.from_parent(parent, path=file_path, nodeid=nodeid)
        return WorkspaceFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if isinstance(collector, pytest.Session) and report.passed:
        # -f/-m targets are not files pytest could collect (a Python file named on the
        # command line would be imported as a test module): they hang off the session.
        report.result.extend(_target_collectors(collector))
        report.result.extend(_unreadable_named_paths(collector))
    return report


def _target_collectors(session: pytest.Session) -> List[pytest.Collector]:
    run: WorkspaceRun = session.config.stash[_run_key]
    collectors: List[pytest.Collector] = []
    for key in run.file_targets:
        shown = _display_path(Path(key), session.config)
        collectors.append(
            TargetLocation.from_parent(session, name=shown, nodeid=shown, path=Path(key), key=key)
        )
    for key in run.module_targets:
        collectors.append(TargetLocation.from_parent(session, name=key, nodeid=key, key=key))
    return collectors


def _unreadable_named_paths(session: pytest.Session) -> List[pytest.Collector]:
    """Named workspace paths pytest cannot collect as files (a folder that is not a
    Dagster project or dg workspace, a link loop): each is one failed item."""
    run: WorkspaceRun = session.config.stash[_run_key]
    collectors: List[pytest.Collector] = []
    for path in run.named_files:
        if path.is_file() or not (path.exists() or path.is_symlink()):
            continue
        shown = _display_path(path, session.config)
        collectors.append(WorkspaceFile.from_parent(session, path=path, nodeid=shown))
    return collectors


class WorkspaceFile(pytest.File):
    """A workspace file: its children are its code locations (and skipped entries)."""

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        run: WorkspaceRun = self.config.stash[_run_key]
        try:
            spec, locations = run.file(self.path)
        except WorkspaceFileError as exc:
            # Not a collection error: pytest would then interrupt the whole session, and
            # one malformed file must not stop the other workspaces from running.
            yield MalformedFileItem.from_parent(self, name=LOAD_WORKSPACE_ITEM, error=exc)
            return
        for part in spec.errors:
            yield MalformedPartItem.from_parent(self, name=f"load_project[{part.name}]", part=part)
        for skipped in spec.skipped:
            yield SkippedEntryItem.from_parent(self, name=skipped.key_path, entry=skipped)
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
    """A location named with ``--workspace-file`` or ``--workspace-module``."""

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
        yield LocationLoadItem.from_parent(parent, name=LOAD_LOCATION_ITEM, code_location=location)
        return
    # Sorted, so that every xdist worker collects the same list.
    for repository in sorted(location.repositories, key=lambda r: r.name):
        yield RepositoryNode.from_parent(parent, name=repository.name, repository=repository)


class RepositoryNode(pytest.Collector):
    """A repository: its jobs, then ``schedule:<name>`` and ``sensor:<name>`` items."""

    def __init__(self, *, repository: RepositoryHandle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repository = repository

    def collect(self) -> Iterator[pytest.Item]:
        repo = self.repository
        for name in sorted(repo.job_names):
            yield JobItem.from_parent(self, name=name, handle=repo.job(name))
        for name in sorted(repo.schedule_names):
            handle = repo.schedule(name)
            yield ScheduleItem.from_parent(self, name=f"schedule:{name}", handle=handle)
        for name in sorted(repo.sensor_names):
            yield SensorItem.from_parent(self, name=f"sensor:{name}", handle=repo.sensor(name))


# -- items -----------------------------------------------------------------------------


class ItemFailure(Exception):
    """A workspace item failed; the message is the whole report."""


class WorkspaceItem(pytest.Item):
    """Base of every workspace item: marker, xdist group, pytest-style failure reports."""

    kind = "item"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.workspace)
        group = self._group()
        if group is not None and _loadgroup_active(self.config):
            self.add_marker(pytest.mark.xdist_group(name=group))

    def _group(self) -> Optional[str]:
        """The xdist group: the code location, whose process the item runs in."""
        return None

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, (ItemFailure, WorkspaceError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def _source(self) -> Optional[Tuple[str, int]]:
        """The user's file and 1-based line this item stands for, when known."""
        return None

    def _title(self) -> str:
        return f"{self.kind} {self.name}"

    def reportinfo(self) -> _ReportInfo:
        source = self._source()
        if source is not None:
            return Path(source[0]), max(source[1] - 1, 0), self._title()
        return self.path, 0, self._title()

    def _add_output(self, stdout: str, stderr: str) -> None:
        if stdout:
            self.add_report_section("call", "stdout", stdout)
        if stderr:
            self.add_report_section("call", "stderr", stderr)


def _loadgroup_active(config: pytest.Config) -> bool:
    # The xdist controller has --dist loadgroup; xdist rewrites its workers' options to
    # dist="no", loadgroup=True.
    return bool(config.getoption("loadgroup", False)) or (
        config.getoption("dist", "no") == "loadgroup"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, WorkspaceItem) and report.skipped and isinstance(report.longrepr, tuple):
        # A skip raised by us would point at this module; point it at the user's file.
        path, line, _ = item.reportinfo()
        report.longrepr = (os.fspath(path), (line or 0) + 1, report.longrepr[2])
    return report


class MalformedFileItem(WorkspaceItem):
    """Stands for a malformed workspace file: it fails with the parser's message."""

    kind = "workspace file"

    def __init__(self, *, error: WorkspaceFileError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def _title(self) -> str:
        return f"workspace file {self.path.name}"

    def _source(self) -> Optional[Tuple[str, int]]:
        return str(self.path), self.error.line or 1

    def runtest(self) -> None:
        raise ItemFailure(
            f"workspace file {self.path} is malformed; nothing of it was loaded:\n{self.error}"
        )


class MalformedPartItem(WorkspaceItem):
    """Stands for a part of a workspace source that could not be read (a dg.toml
    project): it fails with the parser's message; the other parts still run."""

    kind = "project"

    def __init__(self, *, part: SourceError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.part = part

    def _title(self) -> str:
        return f"project {self.part.name}"

    def _source(self) -> Optional[Tuple[str, int]]:
        error = self.part.error
        return error.path or str(self.path), error.line or 1

    def runtest(self) -> None:
        raise ItemFailure(
            f"project {self.part.name!r} ({self.part.key_path} of {self.path}) was not "
            f"loaded:\n{self.part.error}"
        )


class LocationLoadItem(WorkspaceItem):
    """Stands for a code location that failed to load: it fails with the cause."""

    kind = "location"

    def __init__(self, *, code_location: Location, **kwargs: Any) -> None:
        self.code_location = code_location
        super().__init__(**kwargs)

    def _group(self) -> Optional[str]:
        return self.code_location.name

    def _title(self) -> str:
        return f"location {self.code_location.name}"

    def _source(self) -> Optional[Tuple[str, int]]:
        spec = self.code_location.spec
        if spec.source != COMMAND_LINE_SOURCE:
            return spec.source, spec.line or 1
        if spec.kind == "python_file":
            return spec.target, 1
        return None

    def runtest(self) -> None:
        error = self.code_location.load_error
        assert error is not None
        self._add_output(*self.code_location.load_output)
        raise ItemFailure(str(error))


class SkippedEntryItem(WorkspaceItem):
    """A workspace entry we do not load (``grpc_server``): reported as skipped."""

    kind = "entry"

    def __init__(self, *, entry: SkippedEntry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry

    def _source(self) -> Optional[Tuple[str, int]]:
        return str(self.path), self.entry.line or 1

    def runtest(self) -> None:
        pytest.skip(f"{self.entry.key_path}: {self.entry.reason}")


class _MemberItem(WorkspaceItem):
    """A job, schedule or sensor of a repository."""

    handle: Union[JobHandle, ScheduleHandle, SensorHandle]

    def __init__(
        self, *, handle: Union[JobHandle, ScheduleHandle, SensorHandle], **kwargs: Any
    ) -> None:
        self.handle = handle
        super().__init__(**kwargs)

    def _group(self) -> Optional[str]:
        return self.handle.location.name

    def _title(self) -> str:
        return f"{self.kind} {self.handle.name}"

    def _source(self) -> Optional[Tuple[str, int]]:
        return self.handle.declared_at

    def _failure(self, step: str, detail: object) -> ItemFailure:
        return ItemFailure(f"{self.kind} {self.handle.name!r} failed {step}:\n{detail}")


class JobItem(_MemberItem):
    """A job: it must build in its own interpreter, have the right name, and run."""

    kind = "job"
    handle: JobHandle

    def runtest(self) -> None:
        job = self.handle
        build = self._build(job)
        stdout, stderr = build.stdout, build.stderr
        hook = self.config.hook
        execute = hook.pytest_workspace_should_execute(job=job)
        if execute is None:
            execute = self.config.stash[_run_key].execute
        if not execute:
            self._add_output(stdout, stderr)
            return
        run_config = hook.pytest_workspace_run_config(job=job)
        try:
            result = job.execute(run_config=run_config)
        except RunConfigError as exc:
            self._add_output(stdout, stderr)
            # Keys only missing (nothing wrong): the job needs config this run lacks.
            if exc.data.get("only_missing", run_config is None and bool(exc.missing)):
                pytest.skip(
                    f"job {job.name!r} needs run config it was not given: missing "
                    f"{', '.join(exc.missing)}; supply it with the "
                    f"pytest_workspace_run_config hook in a conftest.py"
                )
            raise self._failure("its run config check (no op ran)", exc) from None
        except (RemoteError, WorkerError, LocationLoadError) as exc:
            self._add_output(stdout, stderr)
            raise self._failure("during execution", exc) from None
        self._add_output(stdout + result.stdout, stderr + result.stderr)
        if result.logs:
            self.add_report_section(
                "call", "log", _format_logs(result, self.config.get_verbosity())
            )
        if not result.success:
            raise ItemFailure(_execution_failure(job, result))

    def _build(self, job: JobHandle) -> JobBuild:
        try:
            build = job.build()
        except RemoteError as exc:
            if exc.type_name.endswith("JobNameMismatchError"):
                raise self._failure("the name check", exc) from None
            raise self._failure("to build", exc) from None
        except (WorkerError, LocationLoadError) as exc:
            raise self._failure("to build", exc) from None
        if build.name != job.name:
            raise self._failure(
                "the name check",
                f"it is declared as {job.name!r} but the built job is named {build.name!r}",
            )
        return build


def _format_logs(result: RunResult, verbosity: int) -> str:
    """The run's log lines. The run's own DEBUG events (an op started, an op succeeded)
    repeat the step summary: they are shown from ``-vv`` on."""
    lines = []
    for record in result.logs:
        if record.event is not None and record.level == "DEBUG" and verbosity < 2:
            continue
        where = f" [{record.op_name}]" if record.op_name else ""
        lines.append(f"{record.level:<8} {record.logger}{where}: {record.message}")
    return "\n".join(lines)


def _execution_failure(job: JobHandle, result: RunResult) -> str:
    failed = result.failed_op
    lines = [f"job {job.name!r} failed during execution" + (f" in op {failed!r}" if failed else "")]
    if result.error is not None:
        lines += ["", str(result.error)]
    lines += ["", "steps:"]
    for step in result.step_results.values():
        lines.append(f"  {step.status:<8} {step.op_name} ({step.duration:.3f}s)")
    return "\n".join(lines)


class _EvaluatedItem(_MemberItem):
    """A schedule or sensor: its evaluation runs in the location's process and passes."""

    handle: Union[ScheduleHandle, SensorHandle]

    def runtest(self) -> None:
        try:
            evaluation = self.handle.evaluate()
        except (RemoteError, WorkerError, LocationLoadError) as exc:
            raise self._failure("its evaluation", exc) from None
        self._add_output(evaluation.stdout, evaluation.stderr)


class ScheduleItem(_EvaluatedItem):
    """A schedule: valid cron string, existing target job, an evaluation that runs."""

    kind = "schedule"


class SensorItem(_EvaluatedItem):
    """A sensor: existing target job and an evaluation that runs."""

    kind = "sensor"


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
    """The loaded workspace of this run: every location, each in its own process.

    The same object (and processes) the collected items use.
    """
    return _session_workspace(pytestconfig)


@pytest.fixture
def workspace_job(workspace: Workspace) -> Callable[[str], JobHandle]:
    """``workspace_job("complex_job")``: a JobHandle by name, ``repo/job`` or ``loc/repo/job``.

    An unknown or ambiguous name fails the test with the candidates listed.
    """

    def get(name: str) -> JobHandle:
        try:
            return workspace.job(name)
        except NameLookupError as exc:
            pytest.fail(str(exc), pytrace=False)

    return get


@pytest.fixture
def workspace_repository(workspace: Workspace) -> Callable[[str], RepositoryHandle]:
    """``workspace_repository("hello_cereal_repository")``: a RepositoryHandle by name.

    ``location/repository`` picks one of several repositories of the same name.
    """

    def get(name: str) -> RepositoryHandle:
        try:
            return workspace.repository(name)
        except NameLookupError as exc:
            pytest.fail(str(exc), pytrace=False)

    return get

"""The plugin's part for a run with a workspace in play: collectors, items, reports.

Imported and registered by :mod:`pytest_workspace.plugin` only when a workspace is
named or collection finds one. One :class:`WorkspaceRun` per pytest process holds every
location of the run (a :class:`~pytest_workspace.checks.TargetCache`); collection asks
it for names (building no job); items run the checks of :mod:`pytest_workspace.checks`
and turn their outcome into pytest results.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import os
import queue
import re
import threading
import warnings
from collections import deque
from pathlib import Path
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Generator,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    Union,
)

import pytest
from _pytest._code.code import ReprEntryNative, ReprExceptionInfo, ReprFileLocation, ReprTraceback

from . import _coverage
from ._sources import resolve_path
from .checks import Check, TargetCache, check_schedule, check_sensor
from .config import (
    COMMAND_LINE_SOURCE,
    LocationSpec,
    SkippedEntry,
    SourceError,
    WorkspaceSpec,
    is_collected_source,
)
from .dagster_checks import check_job_runs, evaluation_summary, run_summary
from .errors import WorkerTimeoutError, WorkspaceError, WorkspaceFileError
from .locations import while_waiting
from .plugin import LOADED_KEY, SLOT_KEY, SLOTS_KEY, Settings, settings, write_load_durations
from .workspace import (
    JobHandle,
    Location,
    LogRecord,
    PendingRun,
    RepositoryHandle,
    ScheduleHandle,
    SensorHandle,
    Workspace,
    load_locations,
)

_run_key = pytest.StashKey["WorkspaceRun"]()

#: Name of the item that stands for a code location that failed to load.
LOAD_LOCATION_ITEM = "load_location"
#: Name of the item that stands for a malformed workspace file.
LOAD_WORKSPACE_ITEM = "load_workspace"

_ReportInfo = Tuple[Union["os.PathLike[str]", str], Optional[int], str]


# -- session hooks ---------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # Called when this module is registered, at start-up or during collection (the
    # -f/-m targets were checked by plugin.pytest_configure).
    run = config.stash[_run_key] = WorkspaceRun(config, settings(config))
    config.pluginmanager.register(StepwiseAlike(), "workspace-stepwise")
    if _collects(config):
        # The named locations start now, while pytest configures its plugins and starts
        # the session; pytest_collection reports them (start_named).
        run.start_early()


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_run_key, None)
    if run is not None:
        run.close()
    _coverage.combine()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:
        # pytest-cov combines and reports when the loop ends (its wrapper is outside this
        # one): by then the locations' workers must have stopped, which writes their
        # coverage data, and the data must be in this process's.
        if _coverage.pending():
            session.config.stash[_run_key].close()
            _coverage.combine()


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    # Start the named workspaces, all at once, after the header: loading counts in the
    # session's time, and each file's line follows as soon as its locations are ready.
    # An xdist controller starts none (it does not even register this module, see
    # plugin.pytest_configure): each location starts on the worker that owns it.
    if _is_xdist_controller(session.config):
        return
    run: WorkspaceRun = session.config.stash[_run_key]
    run.start_named()
    reporter = _reporter(session.config)
    if reporter is not None and _shows_header(session.config):
        for line in run.header_lines():
            reporter.write_line(line)


def _collects(config: pytest.Config) -> bool:
    """Whether this run collects: not ``--help``, ``--markers``, ``--cache-show``."""
    option = config.option
    return not any(
        getattr(option, name, False) for name in ("help", "markers", "cacheshow", "version")
    )


def _reporter(config: pytest.Config) -> Any:
    return config.pluginmanager.get_plugin("terminalreporter")


def _shows_header(config: pytest.Config) -> bool:
    """Whether pytest prints its header in this run (not under -q or --no-header)."""
    return config.get_verbosity() >= 0 and not config.getoption("no_header", False)


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


@pytest.hookimpl(trylast=True)  # after -k, -m, --deselect; before pytest's --lf
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    config.stash[_run_key].select_last_failed(items)


class StepwiseAlike:
    """Registered with this module: a second ``pytest_collection_modifyitems``, before
    pytest's ``--sw`` deselects (see :meth:`WorkspaceRun.resume_alike`)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config) -> None:
        config.stash[_run_key].resume_alike()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # Once every location of the run is known, the named files' and those found in folders.
    session.config.stash[_run_key].warn_of_unknown_splits()


@pytest.hookimpl(trylast=True)  # after pytest's own "slowest durations"
def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_load_durations(terminalreporter, terminalreporter.config.stash[_run_key].loads())


def pytest_sessionfinish(session: pytest.Session) -> None:
    # An xdist worker tells the controller, which loaded no location itself, what it
    # loaded (plugin.worker_summary prints it).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[LOADED_KEY] = session.config.stash[_run_key].loaded()


def pytest_report_collectionfinish(config: pytest.Config) -> List[str]:
    # Workspace files found while collecting folders were loaded after the header was
    # printed: they get their line here, under "collected N items".
    return config.stash[_run_key].header_lines() if _shows_header(config) else []


def session_workspace(config: pytest.Config) -> Workspace:
    """The workspace of the ``workspace`` fixture: the named targets, started."""
    run: WorkspaceRun = config.stash[_run_key]
    run.start_named()
    workspace = run.cache.workspace
    if isinstance(workspace, _OwnedWorkspace):
        # An xdist worker started only the locations it owns; a test that asks for the
        # whole workspace gets the others too, started on this worker.
        workspace.start_foreign()
    return workspace


# -- the state of one pytest process ---------------------------------------------------


class WorkspaceRun:
    """Every workspace file and location of this pytest process, each loaded once."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        options: Dict[str, Any] = dict(
            timeout=settings.timeout,
            load_timeout=settings.load_timeout,
            fresh_worker=settings.fresh_worker,
            fork=settings.fork,
        )
        # An xdist worker given a slot starts only the locations it owns.
        workerinput = getattr(config, "workerinput", {})
        if SLOT_KEY in workerinput:
            ownership = Ownership(workerinput[SLOT_KEY], workerinput[SLOTS_KEY], settings.split)
            self.cache: TargetCache = _WorkerTargets(ownership, **options)
        else:
            self.cache = TargetCache(**options)
        self._reported: Set[Path] = set()
        self._reported_targets: Set[str] = set()
        #: Node ids of the workspace files whose items were made.
        self.collected: Set[str] = set()
        #: Node ids of the locations collected, owned by this process or not (xdist).
        self.location_nodeids: Set[str] = set()
        #: Locations whose import-time warnings were raised again (on their first item).
        self.warned_locations: Set[int] = set()
        # An xdist worker's output is nobody's to read (plugin.worker_summary has its lines).
        if not hasattr(config, "workerinput"):
            self.cache.on_ready = self._location_ready

    def _location_ready(self, location: Location) -> None:
        """One progress line per location as it finishes loading (not under -q)."""
        reporter = _reporter(self.config)
        if self.config.get_verbosity() >= 0 and reporter is not None:
            reporter.write_line(_progress_line(location))
            reporter.flush()  # seen as it happens, also when the output is a file

    def owns(self, location: Location) -> bool:
        """Whether this process collects (and starts) ``location``: under xdist, only
        the worker that owns it does."""
        workspace = self.cache.workspace
        return not isinstance(workspace, _OwnedWorkspace) or location not in workspace.foreign

    def loads(self) -> List[Tuple[float, str]]:
        """``(seconds, node id)`` of every location this process loaded, for --durations."""
        loads = []
        for path, (_, locations) in self.cache.files.items():
            shown = _display_path(path, self.config)
            loads += [(loc.load_duration, f"{shown}::{loc.name}") for loc in locations]
        for key, location in self.cache.targets.items():
            shown = key if key in self.settings.modules else _display_path(Path(key), self.config)
            loads.append((location.load_duration, shown))
        return [(seconds, nodeid) for seconds, nodeid in loads if seconds is not None]

    def start_early(self) -> None:
        """Start the named locations in a thread of their own; :meth:`start_named`
        waits for them and reports them as they become ready, in the main thread."""
        if not self.settings.names_a_workspace:
            return
        assert self.cache.workspace is not None  # made here, so that close() finds it
        ready: queue.SimpleQueue[Optional[Location]] = queue.SimpleQueue()
        on_ready, self.cache.on_ready = self.cache.on_ready, ready.put

        def load() -> None:
            try:
                self._start_named()
            except BaseException as exc:  # raised again by start_named, in the main thread
                self._early_error = exc
            finally:
                ready.put(None)

        self._early = (ready, on_ready)
        threading.Thread(target=load, name="pytest-workspace-load", daemon=True).start()

    #: start_early's queue of ready locations and the on_ready to report them with.
    _early: Optional[Tuple[Any, Optional[Callable[[Location], None]]]] = None
    _early_error: Optional[BaseException] = None

    def start_named(self) -> None:
        """Parse the named files and start all their locations (and -f/-m) at once; or
        wait for those :meth:`start_early` started, reporting each as it is ready."""
        if self._early is not None:
            (ready, on_ready), self._early = self._early, None
            while True:
                location = ready.get()
                if location is None:
                    break
                if on_ready is not None:
                    on_ready(location)
            self.cache.on_ready = on_ready
            error, self._early_error = self._early_error, None
            if error is not None:
                raise error
        self._start_named()

    def _start_named(self) -> None:
        s = self.settings
        self.cache.start(s.named_files, s.python_files, s.modules)

    def warn_of_unknown_splits(self) -> None:
        """A --workspace-split name that is none of the run's locations is warned of."""
        names = {location.name for location in self.cache.workspace.locations}
        for name in self.settings.split:
            if name not in names:
                warnings.warn(
                    pytest.PytestConfigWarning(
                        f"--workspace-split / workspace_split names {name!r}, which is not a "
                        f"code location of this run; its locations are "
                        f"{', '.join(sorted(names)) or 'none'}"
                    ),
                    stacklevel=2,
                )

    def select_last_failed(self, items: List[pytest.Item]) -> None:
        """``--lf`` on an xdist worker that owns locations: the same choice on every worker.

        pytest's ``--lf`` keeps only the last failures when the collection has any, and
        else runs everything. Each worker sees only the items of the locations it owns,
        so workers would choose differently and their ordinary tests differ (xdist's
        "Different tests were collected"). The choice is made here on what every worker
        knows alike: a last failure among the ordinary tests, or a job, schedule or
        sensor of a location of this run, whoever owns it, that is still there to run
        as far as any worker can tell (docs/plugin.md says which). Otherwise every item
        runs, as pytest's --lf runs everything when it finds no last failure.
        """
        cache = getattr(self.config, "cache", None)  # none under -p no:cacheprovider
        if not (
            isinstance(self.cache, _WorkerTargets)
            and self.config.getoption("lf", False)
            and cache is not None
        ):
            return
        last_failed = set(cache.get("cache/lastfailed", {}))
        under_location = {
            nodeid
            for nodeid in last_failed
            if any(nodeid.startswith(f"{scope}::") for scope in self.location_nodeids)
        }
        ordinary = {item.nodeid for item in items} - under_location
        if last_failed & ordinary or any(map(self._counts_as_selected, under_location)):
            kept = [item for item in items if item.nodeid in last_failed]
            if len(kept) < len(items):
                dropped = [item for item in items if item.nodeid not in last_failed]
                items[:] = kept
                self.config.hook.pytest_deselected(items=dropped)
            return
        # Nothing to rerun on any worker: pytest's --lf must not find the owner's
        # failures either (a worker's --lf saves nothing; the controller's does).
        plugin = self.config.pluginmanager.get_plugin("lfplugin")
        failures = getattr(plugin, "lastfailed", None)
        if isinstance(failures, dict):
            for key in [key for key in failures if str(key) in under_location]:
                del failures[key]

    def resume_alike(self) -> None:
        """``--sw`` on an xdist worker that owns locations: the same choice on every worker.

        pytest's ``--sw`` deselects the items before the last failure, where it finds
        it, and skips nothing when its item count differs from the last run's. Each
        worker sees the items of its own locations only: their counts differ, and only
        the owner finds a workspace item. So the count is not compared, and a workspace
        item that failed last makes every worker skip nothing (everything runs again,
        up to the first failure); an ordinary test that failed last is found by every
        worker, before the same ordinary tests.
        """
        if not (isinstance(self.cache, _WorkerTargets) and self.config.getoption("stepwise", 0)):
            return
        plugin: Any = self.config.pluginmanager.get_plugin("stepwiseplugin")
        if plugin is None:
            return
        info = getattr(plugin, "cached_info", plugin)  # pytest 9; older: the plugin
        if hasattr(info, "last_test_count"):
            info.last_test_count = None
        name = "last_failed" if hasattr(info, "last_failed") else "lastfailed"
        last = getattr(info, name, None)
        if last is not None and any(
            str(last).startswith(f"{scope}::") for scope in self.location_nodeids
        ):
            setattr(info, name, None)

    def _counts_as_selected(self, nodeid: str) -> bool:
        """Whether a last failure below a location counts as one of this run's items,
        for ``--lf`` under xdist, on what every worker knows: not when ``--deselect``
        names it, nor when ``-k`` or ``-m`` might have deselected it (only its owner
        can match them), nor a ``load_location`` (most often, the location was fixed
        since: its items are jobs now). Otherwise the job is taken as still there."""
        option = self.config.getoption
        deselected = tuple(option("deselect", None) or ())
        return not (
            (deselected and nodeid.startswith(deselected))
            or option("keyword", "")
            or option("markexpr", "")
            or nodeid.rsplit("::", 1)[-1] == LOAD_LOCATION_ITEM
        )

    def target(self, key: str) -> Location:
        if key not in self.cache.targets:
            self.start_named()
        return self.cache.targets[key]

    def loaded(self) -> List[Dict[str, Any]]:
        """For an xdist worker's controller (plain data): each workspace file and
        ``-f``/``-m`` location, and what of its locations this worker started."""
        sources = []
        for path, (spec, locations) in self.cache.files.items():
            error = None
            if isinstance(spec, WorkspaceFileError):
                error = "not found" if not path.exists() else "malformed, not loaded"
            shown = _display_path(path, self.config)
            title = f"workspace: {_shown_path(path, self.config)}"
            sources.append(self._loaded(title, shown, locations, error))
        for key, location in self.cache.targets.items():
            shown = key if key in self.settings.modules else _display_path(Path(key), self.config)
            title = f"workspace location: {location.name}"
            sources.append(self._loaded(title, shown, [location], None, own_node=True))
        return sources

    def _loaded(
        self,
        title: str,
        shown: str,
        locations: Sequence[Location],
        error: Optional[str],
        own_node: bool = False,
    ) -> Dict[str, Any]:
        entries = []
        for location in locations:
            started = self.owns(location) and location.load_duration is not None
            entries.append(
                {
                    "name": location.name,
                    "described": _describe_location(location) if started else None,
                    "progress": _progress_line(location),
                    "seconds": location.load_duration if started else None,
                    "nodeid": shown if own_node else f"{shown}::{location.name}",
                }
            )
        return {"title": title, "error": error, "locations": entries}

    def header_lines(self) -> List[str]:
        """One line per workspace file (and -f/-m location) not yet reported."""
        lines = []
        for path, (spec, locations) in self.cache.files.items():
            if path in self._reported:
                continue
            self._reported.add(path)
            if isinstance(spec, WorkspaceFileError):
                described = "not found" if not path.exists() else "malformed, not loaded"
            else:
                described = ", ".join(_describe_location(loc) for loc in locations)
            shown = _shown_path(path, self.config)
            lines.append(f"workspace: {shown}: {described or 'no locations'}")
        for key, location in self.cache.targets.items():
            if key in self._reported_targets:
                continue
            self._reported_targets.add(key)
            lines.append(f"workspace location: {location.name}: {_describe_location(location)}")
        return lines

    def close(self) -> None:
        self.cache.close()


class Ownership:
    """Which of the run's locations an xdist worker starts and collects.

    The controller gives each worker a slot (``plugin.pytest_configure_node``); the
    worker numbers the locations in the order the run collects them (the named files
    and their locations in order, the ``-f``/``-m`` locations, then the files found in
    folders) and owns location ``k`` when ``k % slots == slot``. Every worker collects
    the same files in the same order, so each location has exactly one owner. A worker
    that replaces a crashed one late has no slot and owns none.
    """

    def __init__(self, slot: Optional[int], slots: int, split: Sequence[str] = ()) -> None:
        self.slot = slot
        self.slots = max(slots, 1)
        #: Locations every worker owns (--workspace-split): they take no number.
        self.split = frozenset(split)
        self._numbered = 0

    def next_is_owned(self) -> bool:
        index, self._numbered = self._numbered, self._numbered + 1
        return self.slot is not None and index % self.slots == self.slot


class _OwnedWorkspace(Workspace):
    """An xdist worker's workspace: it starts only the locations it owns; the others
    are known by name (``foreign``) and start only if a test asks for the workspace."""

    def __init__(self, ownership: Ownership, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ownership = ownership
        self.foreign: List[Location] = []
        self._foreign_started = False

    def add(
        self,
        specs: Sequence[WorkspaceSpec] = (),
        locations: Sequence[LocationSpec] = (),
        start: bool = True,
        on_ready: Optional[Callable[[Location], None]] = None,
    ) -> List[Location]:
        added = super().add(specs, locations, start=False)
        owned: List[Location] = []
        for location in added:
            if location.name in self.ownership.split or self.ownership.next_is_owned():
                owned.append(location)
            else:
                self.foreign.append(location)
        if start:
            load_locations(owned, on_ready)
        return added

    def start_foreign(self) -> None:
        if not self._foreign_started:
            self._foreign_started = True
            load_locations(self.foreign)


class _WorkerTargets(TargetCache):
    """The targets of an xdist worker that owns some locations (see :class:`Ownership`)."""

    def __init__(self, ownership: Ownership, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ownership = ownership

    def _new_workspace(self) -> Workspace:
        return _OwnedWorkspace(
            self.ownership,
            timeout=self.timeout,
            load_timeout=self.load_timeout,
            fresh_worker=self.fresh_worker,
            fork=self.fork,
        )


def _progress_line(location: Location) -> str:
    seconds = location.load_duration or 0.0
    python = _python(location)
    if location.load_error is None:
        return f"workspace: loaded {location.name} ({python}) in {seconds:.2f}s"
    return f"workspace: {location.name} ({python}) failed to load in {seconds:.2f}s"


def _python(location: Location) -> str:
    version = location.python_version
    return "Python " + ".".join(map(str, version)) if version else "not started"


def _describe_location(location: Location) -> str:
    python = _python(location)
    failed = ", failed to load" if location.load_error is not None else ""
    coverage = f", {location.coverage}" if location.coverage else ""
    return f"{location.name} ({python}{failed}{coverage})"


def _display_path(path: Path, config: pytest.Config) -> str:
    """``path`` relative to the rootdir, ``../``-style when it lies outside (node ids)."""
    return os.path.relpath(path, config.rootpath).replace(os.sep, "/")


def _shown_path(path: Path, config: pytest.Config) -> str:
    """``path`` as the header shows it: relative to the folder pytest was run in, as
    pytest shows node ids (``Config.cwd_relative_nodeid``), which is the rootdir's
    unless an option's path made pytest choose another (``--workspace projects/sales``
    makes that project's folder the rootdir)."""
    return os.path.relpath(path, config.invocation_params.dir).replace(os.sep, "/")


# -- collection ------------------------------------------------------------------------


def collect_workspace_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    """The collector of a workspace file that ``parent`` (a folder) found."""
    run: WorkspaceRun = parent.config.stash[_run_key]
    named = resolve_path(file_path) in run.settings.named_files
    if not (named or parent.session.isinitpath(file_path)) and not is_collected_source(file_path):
        return None  # a project's own dg.toml: the workspace that lists it loads it
    # pytest collects a folder again for each file argument in it, and keeps only the
    # node that matches the argument: a fresh collector each time, and duplicates are
    # dropped where their items would be made (WorkspaceFile.collect).
    parent, extra = _file_parent(file_path, parent)
    return WorkspaceFile.from_parent(parent, path=file_path, **extra)


def collect_target_file(file_path: Path, parent: pytest.Collector, key: str) -> pytest.Collector:
    """The collector of a ``--workspace-file`` target that is also a positional argument
    (``pytest -f etl.py etl.py::etl_repo::daily_job``, a node id copied from ``-v``):
    pytest resolves the argument in it, instead of importing the file as a test module."""
    parent, extra = _file_parent(file_path, parent)
    return TargetFile.from_parent(parent, path=file_path, key=key, **extra)


def _file_parent(
    file_path: Path, parent: pytest.Collector
) -> Tuple[pytest.Collector, Dict[str, Any]]:
    """The parent of a file's collector and the node id it needs (if not pytest's)."""
    extra: Dict[str, Any] = {}
    if not file_path.is_relative_to(parent.config.rootpath):
        # pytest gives files outside the rootdir an empty node id: use ../-style.
        extra["nodeid"] = _display_path(file_path, parent.config)
    while isinstance(parent, pytest.Package):
        # A package's setup imports its __init__.py on the host, which may import what
        # only the location's interpreter has (dagster): hang the file off the folder
        # above it, under the same node id.
        extra.setdefault("nodeid", _display_path(file_path, parent.config))
        assert isinstance(parent.parent, pytest.Collector)
        parent = parent.parent
    return parent, extra


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
    for key in run.settings.python_files:
        if session.isinitpath(Path(key)):
            continue  # a positional argument too: collected there (collect_target_file)
        shown = _display_path(Path(key), session.config)
        collectors.append(
            TargetLocation.from_parent(session, name=shown, nodeid=shown, path=Path(key), key=key)
        )
    for key in run.settings.modules:
        collectors.append(TargetLocation.from_parent(session, name=key, nodeid=key, key=key))
    return collectors


def _unreadable_named_paths(session: pytest.Session) -> List[pytest.Collector]:
    """Named workspace paths pytest cannot collect as files (a folder that is not a
    Dagster project or dg workspace, a link loop): each is one failed item."""
    collectors: List[pytest.Collector] = []
    for path in settings(session.config).named_files:
        if path.is_file() or not (path.exists() or path.is_symlink()):
            continue
        shown = _display_path(path, session.config)
        collectors.append(WorkspaceFile.from_parent(session, path=path, nodeid=shown))
    return collectors


class WorkspaceFile(pytest.File):
    """A workspace file: its children are its code locations (and skipped entries)."""

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        run: WorkspaceRun = self.config.stash[_run_key]
        if self.nodeid in run.collected:
            return  # a workspace file reached twice (named twice, or named and found)
        run.collected.add(self.nodeid)
        try:
            spec, locations = run.cache.file(self.path)
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
        run: WorkspaceRun = self.config.stash[_run_key]
        run.location_nodeids.add(self.nodeid)
        if run.owns(self.location):
            yield from _location_children(self, self.location)
        else:
            yield from _owned_elsewhere(self, _named_below(self, (self.name,)))


class TargetLocation(pytest.Collector):
    """A location named with ``--workspace-file`` or ``--workspace-module``."""

    def __init__(self, *, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        return _target_children(self, self.key)


class TargetFile(pytest.File):
    """A ``--workspace-file`` target named as a positional argument, as pytest collects
    a file: its node id is the file's, its children are the location's repositories."""

    def __init__(self, *, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key

    def collect(self) -> Iterator[Union[pytest.Item, pytest.Collector]]:
        return _target_children(self, self.key)


def _target_children(
    node: pytest.Collector, key: str
) -> Iterator[Union[pytest.Item, pytest.Collector]]:
    run: WorkspaceRun = node.config.stash[_run_key]
    location = run.target(key)
    run.location_nodeids.add(node.nodeid)
    if run.owns(location):
        yield from _location_children(node, location)
    elif isinstance(node, pytest.File):
        yield from _owned_elsewhere(node, _named_below(node, ()))


class OwnedElsewhere(pytest.Collector):
    """Part of a node id given as an argument, under a location that another xdist
    worker owns: it matches the name, so that this worker does not stop at "not found"
    (a usage error, which ends the worker), and it collects nothing. The owner collects
    the item."""

    def __init__(self, *, below: Sequence[Tuple[str, ...]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.below = below

    def collect(self) -> Iterator[pytest.Collector]:
        return _owned_elsewhere(self, self.below)


def _named_below(node: pytest.Collector, names: Tuple[str, ...]) -> List[Tuple[str, ...]]:
    """The names that the positional arguments ask for below ``node``: the parts after
    ``names`` (the node's own, after its file) of each argument naming its file."""
    invocation = node.config.invocation_params.dir
    below = []
    for arg in node.config.args:
        path, *parts = arg.split("::")
        if parts[: len(names)] == list(names) and len(parts) > len(names):
            if resolve_path(invocation / path) == resolve_path(node.path):
                below.append(tuple(parts[len(names) :]))
    return below


def _owned_elsewhere(
    parent: pytest.Collector, below: Sequence[Tuple[str, ...]]
) -> Iterator[pytest.Collector]:
    rests: Dict[str, List[Tuple[str, ...]]] = {}
    for names in below:
        rests.setdefault(names[0].split("[")[0], []).append(names[1:])
    for name, rest in rests.items():
        yield OwnedElsewhere.from_parent(parent, name=name, below=[r for r in rest if r])


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
    """A workspace item failed: ``report`` is the whole report, ``reason`` its one line."""

    def __init__(self, report: str, reason: str = "") -> None:
        super().__init__(report)
        self.report = report
        self.reason = reason or next((ln for ln in report.splitlines() if ln.strip()), report)


class WorkspaceItem(pytest.Item):
    """Base of every workspace item: marker, xdist group, pytest-style failure reports."""

    kind = "item"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.workspace)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        failure = excinfo.value
        if isinstance(failure, WorkspaceError):
            failure = ItemFailure(str(failure))
        elif isinstance(failure, Warning) and isinstance(self, _MemberItem):
            # A warning from the location, turned into an error by a warnings filter.
            where = f"{self.kind} {self.handle.name!r} raised {type(failure).__name__}: {failure}"
            failure = ItemFailure(
                f"{where}\n(an error under this run's warnings filters, e.g. -W error)", where
            )
        if not isinstance(failure, ItemFailure):
            return super().repr_failure(excinfo, style=style)
        # A report like pytest's own: `--tb=line` and the `-r` summary show the reason
        # (reprcrash), `--tb=short` a short traceback, the rest the whole report. These
        # classes are what pytest and xdist know how to print and send between processes.
        style = self.config.getoption("tbstyle", "auto")
        text = short_report(failure.report) if style == "short" else failure.report
        lines = [] if style == "line" else [f"{line}\n" for line in text.splitlines()]
        path, line, _ = self.reportinfo()
        return ReprExceptionInfo(
            reprtraceback=ReprTraceback([ReprEntryNative(lines)] if lines else [], None, "native"),
            reprcrash=ReprFileLocation(os.fspath(path), (line or 0) + 1, failure.reason),
        )

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


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Optional[bool]:
    """pytest-timeout: a workspace item enforces the limit itself, on its calls.

    Its call into the location gets the limit, and a call over it kills the location's
    worker (the next item restarts it) and fails the item with one clear line; no
    signal interrupts the host half-way through a call, no stack dump, and
    ``timeout_method = thread`` does not end the session.
    """
    if isinstance(item, WorkspaceItem):
        if isinstance(item, _MemberItem):
            item.time_limit = float(settings.timeout)
        return True  # no timer: nothing else of a workspace item can hang
    return None


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
            f"workspace file {self.path} is malformed; nothing of it was loaded:\n{self.error}",
            f"workspace file {self.path.name} is malformed: {self.error}".splitlines()[0],
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
        # The error itself (the traceback's last line) rather than the advice around it.
        cause = (error.remote_traceback.strip() or error.message.strip()).splitlines()
        cause_line = error.summary or (cause[-1] if error.remote_traceback.strip() else cause[0])
        raise ItemFailure(
            str(error), f"code location {error.location!r} failed to load: {cause_line}"
        )


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
    #: The item pytest runs after this one (pytest_runtest_protocol's ``nextitem``).
    next_item: Optional[pytest.Item] = None

    def __init__(
        self, *, handle: Union[JobHandle, ScheduleHandle, SensorHandle], **kwargs: Any
    ) -> None:
        self.handle = handle
        super().__init__(**kwargs)

    def _title(self) -> str:
        return f"{self.kind} {self.handle.name}"

    def _source(self) -> Optional[Tuple[str, int]]:
        declared = self.handle.declared_at
        if declared is not None:
            return declared
        # The location could not say (Dagster definitions do not record where they are
        # declared): the line of the location's file that defines the name.
        spec = self.handle.location.spec
        if spec.kind == "python_file":
            line = _defining_line(spec.target, self.handle.name)
            repository = _defining_line(spec.target, self.handle.repository.name)
            return spec.target, line or repository or 1
        return None

    #: pytest-timeout's limit for this item (seconds), which the item enforces itself.
    time_limit: Optional[float] = None

    def _check_timeout(self) -> Optional[float]:
        """The time limit of this item's whole check, when pytest-timeout's is the tighter."""
        own = self.config.stash[_run_key].settings.timeout
        if self.time_limit is not None and (own is None or self.time_limit < own):
            return self.time_limit
        return None

    def _add_summary(self, summary: str) -> None:
        """What the check's run or tick did (Dagster: the partitions that ran, assets,
        checks; a tick's run requests, asset events...), as the item's section."""
        if summary:
            # "Captured dagster call" for Dagster's code; "workspace" for our definitions'.
            backend = self.handle.repository.backend
            self.add_report_section(
                "call", "dagster" if backend == "dagster" else "workspace", summary
            )

    def _finish(self, outcome: Check, logs: Sequence[LogRecord] = ()) -> None:
        """Turn a check's outcome into this item's result: output sections, skip, failure."""
        self._add_output(outcome.stdout, outcome.stderr)
        pending = list(outcome.warnings)
        location = self.handle.location
        warned = self.config.stash[_run_key].warned_locations
        if id(location) not in warned:
            # What importing the location's code warned belongs to no item: it is raised
            # on the location's first item (not at collection, where `-W error` would
            # make it a collection error that stops the session).
            warned.add(id(location))
            pending = list(location.load_warnings) + pending
        for warning in pending:
            # As if raised here: pytest's warnings summary lists it, its filters apply
            # (`-W error` raises it, which fails the item; see repr_failure).
            warnings.warn_explicit(
                warning.message, _warning_class(warning.category), warning.filename, warning.lineno
            )
        if logs:
            self.add_report_section("call", "log", _format_logs(logs, self.config.get_verbosity()))
        if outcome.skipped:
            pytest.skip(outcome.reason)
        if outcome.failed:
            limit = self._check_timeout()
            if limit is not None and isinstance(outcome.error, WorkerTimeoutError):
                reason = (
                    f"{self.kind} {self.handle.name!r} did not finish within pytest-timeout's "
                    f"limit of {limit:g}s; its worker was killed and restarts for the next item"
                )
                raise ItemFailure(f"{reason}\n\n{outcome.report}", reason)
            raise ItemFailure(outcome.report, outcome.reason)


def _defining_line(path: str, name: str) -> Optional[int]:
    """The 1-based line of ``def name`` / ``name =`` in ``path`` (read, not imported)."""
    pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\b|^{re.escape(name)}\s*=")
    for number, line in enumerate(_source_lines(path), 1):
        if pattern.match(line):
            return number
    return None


@functools.lru_cache(maxsize=64)
def _source_lines(path: str) -> Tuple[str, ...]:
    """A location file's lines, read once per run however many items point into it."""
    try:
        with open(path, encoding="utf-8", errors="replace") as source:
            return tuple(source)
    except OSError:
        return ()


_WARNING_CLASSES: Dict[str, Type[Warning]] = {}


def _warning_class(category: str) -> Type[Warning]:
    """The host's class for a location's warning category: the builtin one of that name,
    else a UserWarning subclass of the same module and name (the host may not have the
    module: `-W error::UserWarning` and `-W error` apply to it)."""
    module, _, name = category.rpartition(".")
    builtin = getattr(builtins, name, None)
    if not module and isinstance(builtin, type) and issubclass(builtin, Warning):
        return builtin
    if category not in _WARNING_CLASSES:
        made = type(name, (UserWarning,), {"__module__": module or "builtins"})
        _WARNING_CLASSES[category] = made
    return _WARNING_CLASSES[category]


def short_report(report: str) -> str:
    """``--tb=short``: the headline, one line per frame of the user's code, the error.

    The remote traceback is already trimmed to the user's frames; short drops their
    context lines and the table of steps, like pytest's own short tracebacks.
    """
    lines = report.splitlines()
    kept: List[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        frame = _FRAME.match(line)
        if frame:
            path, number, function = frame.groups()
            kept.append(f"{path}:{number}: in {function}")
            index += 1
            if index < len(lines) and lines[index].startswith("    "):
                kept.append(lines[index])  # the frame's source line
                index += 1
            while index < len(lines) and lines[index].startswith("    "):
                index += 1  # carets
            continue
        if line == "steps:":
            index += 1
            while index < len(lines) and lines[index].startswith("  "):
                index += 1
            continue
        if line != "Traceback (most recent call last):":
            kept.append(line)
        index += 1
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


_FRAME = re.compile(r'^  File "(.+)", line (\d+), in (.+)$')


class JobItem(_MemberItem):
    """A job: it must build in its own interpreter, have the right name, and run."""

    kind = "job"
    handle: JobHandle
    #: What this item's hooks answered, asked while the item before it finished.
    _answers: Optional[Dict[str, Any]] = None
    #: This item's run, sent before the item ran (see :class:`Prefetch`).
    _prefetched: Optional[PendingRun] = None

    #: This item's hooks were asked for its run, sent ahead or not (see _send_run).
    _declined = False

    def runtest(self) -> None:
        prefetch = _prefetch(self.session)
        prefetch.started(self)
        answers, self._answers = self._answers or self._hook_answers(), None
        prefetched, self._prefetched = self._prefetched, None
        outcome = check_job_runs(self.handle, **answers, prefetched=prefetched)
        prefetch.finished(self, outcome.failed)
        self._add_summary(run_summary(outcome))
        self._finish(outcome, outcome.logs)

    def _hook_answers(self) -> Dict[str, Any]:
        """The keyword arguments of this item's check: what its hooks answer."""
        job = self.handle
        # Through the item's ihook: a conftest.py's hooks apply only below its folder.
        hook = self.ihook
        execute = hook.pytest_workspace_should_execute(job=job)
        if execute is None:
            execute = self.config.stash[_run_key].settings.execute
        return {
            "execute": bool(execute),
            "run_config": hook.pytest_workspace_run_config(job=job) if execute else None,
            "resources": hook.pytest_workspace_resources(job=job) if execute else None,
            "partition_keys": hook.pytest_workspace_partition_keys(job=job) if execute else None,
            "timeout": self._check_timeout(),
            # The log section shows the run's DEBUG events from -vv on: below, they stay
            # in the worker (most of a short run's reply).
            "debug_events": self.config.get_verbosity() >= 2,
        }

    def _send_run(self, behind: bool = False) -> bool:
        """Send this item's run now (``_prefetched``), as :class:`Prefetch` decides; False
        when the item must run it itself (its hooks ask for more than one request, or
        for no run, or raise: it asks them again and reports what they raise).
        ``behind``: behind the call its location is answering now."""
        if self._declined:
            return False
        if behind and not self.handle.location.client.can_queue():
            return False  # its hooks not asked yet: asked when it is sent, or runs
        self._declined = True  # asked once: the item itself asks again if it must
        try:
            answers = self._hook_answers()
        except Exception:
            return False
        self._answers = answers
        if not answers["execute"] or answers["resources"] or answers["partition_keys"]:
            return False
        try:
            self._prefetched = self.handle._submit_run(
                answers["run_config"],
                answers["timeout"],
                answers["debug_events"],
                {},
                behind=behind,
            )
        except Exception:
            self._answers = None  # e.g. run config that is not plain data: as usual
            return False
        return self._prefetched is not None

    def _may_prefetch(self) -> bool:
        """Whether this item's run may be sent before pytest reaches it."""
        if self.handle.location.load_error is not None or _timeout_applies(self):
            return False
        marks = ("skip", "skipif", "xfail")
        return all(self.get_closest_marker(name) is None for name in marks)


class Prefetch:
    """Which jobs' runs are sent before pytest reaches their items (docs/plugin.md,
    "Prefetch"), so that locations work while pytest reports.

    Each location still answers one request at a time, in the order of its items. When an
    item starts and when its check is done, the location of the item being run is sent
    its next job's run; in a serial session, so are the next locations in the order of
    the items, up to one location at work per CPU (a location runs ahead through its own
    items while the items of the locations before it are run and reported).

    Only what would run anyway is sent: nothing once the session is to stop, only the
    next item after a failure could stop it (``-x``, ``--maxfail``, ``--sw``), no item
    marked skip, skipif or xfail, nothing under a debugger or pytest-timeout (whose limit
    is the item's own) or with a fresh worker per job, and only runs that need one
    request (no resources or partition keys from hooks). Under xdist a worker does not
    know which items it will be given: it sends only the next item's run, when that is a
    job of the same location.
    """

    def __init__(self, session: pytest.Session, settings: Settings) -> None:
        config = session.config
        self.session = session
        self.enabled = (
            settings.prefetch
            and not settings.fresh_worker
            and not config.getoption("usepdb", False)
            and not config.getoption("trace", False)
        )
        self.maxfail = int(config.getoption("maxfail", 0) or 0)
        #: Only the next item (no running ahead): its failure may stop the session, or
        #: an xdist worker does not know its items.
        self.next_only = (
            bool(self.maxfail)
            or bool(config.getoption("stepwise", False))
            or hasattr(config, "workerinput")
        )
        self.width = 1 if self.next_only else settings.parallel or _usable_cpus()
        #: Each location's items not sent nor finished, in the order pytest runs them.
        self._queues: Dict[int, Deque[_MemberItem]] = {}
        #: The locations, in the order of their first item; ``_first`` skips those done.
        self._order: List[Location] = []
        self._first = 0
        for item in session.items:
            if isinstance(item, _MemberItem):
                location = item.handle.location
                queue = self._queues.get(id(location))
                if queue is None:
                    queue = self._queues[id(location)] = deque()
                    self._order.append(location)
                queue.append(item)

    def started(self, item: _MemberItem) -> None:
        """``item`` is about to run: send its own run (and others') if they may go, and
        the next runs of locations that finish while it waits."""
        self._top_up(item, failed=False)
        if not self.next_only:
            while_waiting(functools.partial(self._top_up, item, False))

    def finished(self, item: _MemberItem, failed: bool) -> None:
        """``item``'s check is done (``failed``: it failed): send what may go next."""
        while_waiting(None)
        self.forget(item)
        self._top_up(item, failed)

    def forget(self, item: _MemberItem) -> None:
        """``item`` is done with: what follows it in its location may be sent."""
        queue = self._queues.get(id(item.handle.location))
        if queue:
            if queue[0] is item:
                queue.popleft()
            elif item in queue:  # run out of order (a plugin reordered): it is done
                queue.remove(item)

    def _may_send(self, failed: bool) -> bool:
        session = self.session
        if not self.enabled or session.shouldstop or session.shouldfail:
            return False
        return not (self.maxfail and session.testsfailed + int(failed) >= self.maxfail)

    def _top_up(self, item: _MemberItem, failed: bool) -> None:
        if not self._may_send(failed):
            return
        if self.next_only:
            self._send_head(item.handle.location, only=(item, item.next_item))
            return
        # The item's own location is at work (a schedule or sensor runs in it now).
        current = item.handle.location
        self._send_head(current)
        self._send_behind(current, item)
        order = self._order
        while self._first < len(order) and not self._queues[id(order[self._first])]:
            self._first += 1
        busy = 1
        for location in itertools.islice(order, self._first, None):
            if busy >= self.width:
                break
            if location is current:
                continue
            # A run in flight (sent ahead earlier), or one sent now.
            if not location.worker.poll() or self._send_head(location):
                busy += 1

    def _send_behind(self, location: Location, running: _MemberItem) -> bool:
        """Send the run of ``location``'s next item behind the run it is answering now
        (the ``running`` item's, sent ahead: one request), so that the location goes on
        to it without waiting for the host to read that answer. True when it was sent."""
        queue = self._queues.get(id(location))
        if not queue or queue[0] is running:
            return False  # the running item makes its own calls (maybe several): none
        head = queue[0]
        if not isinstance(head, JobItem) or not head._may_prefetch():
            return False
        if not head._send_run(behind=True):
            return False
        queue.popleft()
        return True

    def _send_head(self, location: Location, only: Tuple[Any, ...] = ()) -> bool:
        """Send the run of ``location``'s next item if the location is free for it (and
        the item is one of ``only``, when given). True when it was sent."""
        queue = self._queues.get(id(location))
        worker = location.worker
        if not queue or not worker.poll() or not worker.alive:
            return False
        head = queue[0]
        if only and head not in only:
            return False
        if not isinstance(head, JobItem) or not head._may_prefetch() or not head._send_run():
            return False  # it runs when pytest reaches it; what follows waits for it
        queue.popleft()
        return True


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the platform says)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:
            pass
    return os.cpu_count() or 1


_prefetch_key = pytest.StashKey[Prefetch]()


def _prefetch(session: pytest.Session) -> Prefetch:
    """The session's :class:`Prefetch`, made when its first workspace item runs."""
    prefetch = session.stash.get(_prefetch_key, None)
    if prefetch is None:
        settings = session.config.stash[_run_key].settings
        prefetch = session.stash[_prefetch_key] = Prefetch(session, settings)
    return prefetch


def _timeout_applies(item: pytest.Item) -> bool:
    """Whether pytest-timeout may give ``item`` a limit (it tells it only as it starts)."""
    config = item.config
    if not config.pluginmanager.hasplugin("timeout"):
        return False
    if item.get_closest_marker("timeout") is not None:
        return True
    value = (
        config.getoption("timeout", None)
        or os.environ.get("PYTEST_TIMEOUT")
        or config.getini("timeout")
    )
    try:
        return float(value or 0) > 0
    except (TypeError, ValueError):
        return True


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: Optional[pytest.Item]
) -> Generator[None, object, object]:
    if not isinstance(item, _MemberItem):
        return (yield)
    item.next_item = nextitem
    try:
        return (yield)
    finally:
        # Also an item that never ran (skipped at setup): what follows it may go.
        prefetch = item.session.stash.get(_prefetch_key, None)
        if prefetch is not None:
            while_waiting(None)
            prefetch.forget(item)


def _format_logs(logs: Sequence[LogRecord], verbosity: int) -> str:
    """The run's log lines. The run's own DEBUG events (an op started, an op succeeded)
    repeat the step summary: they are shown from ``-vv`` on."""
    lines = []
    for record in logs:
        if record.event is not None and record.level == "DEBUG" and verbosity < 2:
            continue
        where = f" [{record.op_name}]" if record.op_name else ""
        lines.append(f"{record.level:<8} {record.logger}{where}: {record.message}")
    return "\n".join(lines)


class ScheduleItem(_MemberItem):
    """A schedule: valid cron string, existing target job, an evaluation that runs."""

    kind = "schedule"
    handle: ScheduleHandle

    def runtest(self) -> None:
        prefetch = _prefetch(self.session)
        prefetch.started(self)
        outcome = check_schedule(self.handle, timeout=self._check_timeout())
        prefetch.finished(self, outcome.failed)
        self._add_summary(evaluation_summary(outcome))
        self._finish(outcome)


class SensorItem(_MemberItem):
    """A sensor: existing target job and an evaluation that runs."""

    kind = "sensor"
    handle: SensorHandle

    def runtest(self) -> None:
        prefetch = _prefetch(self.session)
        prefetch.started(self)
        outcome = check_sensor(self.handle, timeout=self._check_timeout())
        prefetch.finished(self, outcome.failed)
        self._add_summary(evaluation_summary(outcome))
        self._finish(outcome)

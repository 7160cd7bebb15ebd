"""The pytest plugin's entry point (``pytest11: workspace``): options, ini keys, hooks.

This module stays cheap to import: a pytest run that uses no workspace pays for it and
nothing else. The part that parses workspace files and starts processes,
:mod:`pytest_workspace._session`, is imported and registered only when a workspace is in
play: named at start-up (``--workspace``, ``-f``, ``-m``, the ini option ``workspace``),
or found by collection (a file matching ``workspace_files``, a YAML positional argument).
``docs/plugin.md`` is the reference of every option, ini key, fixture, hook, marker and
node id of the plugin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import pytest

from . import hooks
from ._defaults import DEFAULT_LOAD_TIMEOUT, DEFAULT_TIMEOUT
from ._sources import TOML_SOURCE_NAMES, resolve_path, resolve_source_path
from .errors import NameLookupError

if TYPE_CHECKING:
    from .workspace import JobHandle, RepositoryHandle, Workspace

#: The name the heavy part is registered under with pytest's plugin manager.
SESSION_PLUGIN = "workspace-session"
#: A positional argument with one of these suffixes is a workspace file, whatever its name.
YAML_SUFFIXES = (".yaml", ".yml")

_settings_key = pytest.StashKey["Settings"]()
_Handle = TypeVar("_Handle")


# -- options ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    _not_rewritten(pluginmanager)
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
        help="build every job (and check its name) but execute none; schedules and "
        "sensors are still evaluated (a run they request is not launched).",
    )
    group.addoption(
        "--workspace-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"time limit of one call into a code location (default {DEFAULT_TIMEOUT:g}; "
        "0 for none). A call over it kills the location's process.",
    )
    group.addoption(
        "--workspace-load-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"time limit of starting a code location and importing its code (default "
        f"{DEFAULT_LOAD_TIMEOUT:g}; 0 for none), separate from --workspace-timeout.",
    )
    group.addoption(
        "--workspace-fresh-worker",
        action="store_true",
        default=None,
        help="run each job, schedule and sensor on a new process of its location, so that "
        "no job sees what another changed in the process.",
    )
    group.addoption(
        "--workspace-no-prefetch",
        action="store_true",
        default=None,
        help="start each job only when its own item runs, not while pytest reports the "
        "item before it (same location).",
    )
    group.addoption(
        "--workspace-no-fork",
        action="store_true",
        default=None,
        help="start every location's interpreter on its own: never fork the Dagster "
        "locations of one interpreter from one process that imported Dagster.",
    )
    group.addoption(
        "--workspace-parallel",
        metavar="N",
        default=None,
        help="how many code locations may run jobs at once in a session without xdist: "
        "the location of the item being run, and the next ones in item order, running "
        "ahead (default: auto, one per CPU; 1: only the location of the item being run).",
    )
    group.addoption(
        "--workspace-split",
        metavar="LOCATION",
        action="append",
        default=[],
        help="under xdist, start this code location on every worker and spread its items "
        "over them, as ordinary tests are (repeatable; by default a location's items all "
        "run on the one worker that starts it).",
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
        type=_NUMBER_OR_TEXT[float],
        default=str(DEFAULT_TIMEOUT),
    )
    parser.addini(
        "workspace_load_timeout",
        "time limit in seconds of starting a code location and importing its code (0: none)",
        type=_NUMBER_OR_TEXT[float],
        default=str(DEFAULT_LOAD_TIMEOUT),
    )
    parser.addini(
        "workspace_fresh_worker",
        "run each job, schedule and sensor on a new process of its location",
        type="bool",
        default=False,
    )
    parser.addini(
        "workspace_prefetch",
        "start the next job of a location while pytest reports the job before it",
        type="bool",
        default=True,
    )
    parser.addini(
        "workspace_fork",
        "fork the Dagster locations of one interpreter from one process that imported Dagster",
        type="bool",
        default=True,
    )
    parser.addini(
        "workspace_split",
        "code locations whose items xdist spreads over every worker (each starts them)",
        type="args",
        default=[],
    )
    parser.addini(
        "workspace_parallel",
        "how many code locations may run jobs at once without xdist (auto: one per CPU)",
        type=_NUMBER_OR_TEXT[int],
        default="auto",
    )


#: The ini type of a key that takes a number, or a string (``"auto"``, ``"30"``): from
#: pytest 9.2 on, a union, so that ``[tool.pytest]`` in pyproject.toml (native TOML,
#: which pytest checks strictly) takes ``workspace_timeout = 30`` as well as ``"30"``;
#: an ini file's text is tried as the number first. Older pytest has no unions: a
#: string (pytest 9.0 and 9.1 then refuse a TOML number there; quote it). The value is
#: checked by :func:`_timeout` and :func:`_parallel` either way.
_NUMBER_OR_TEXT: Dict[type, Any] = (
    {float: Union[float, str], int: Union[int, str]}
    if pytest.version_tuple >= (9, 2)
    else {float: None, int: None}
)


def _not_rewritten(pluginmanager: pytest.PytestPluginManager) -> None:
    """Keep pytest's assertion rewriter off the rest of this package.

    pytest rewrites the asserts of every module of a plugin's distribution, which means
    parsing and compiling each module again in every run whose ``__pycache__`` it cannot
    write (``PYTHONDONTWRITEBYTECODE``, a read-only site-packages): ~0.2 s for the
    modules a workspace run imports, measured with the installed wheel. None of them
    asserts anything for users, so they are imported from the bytecode ``pip install``
    wrote. Only this module and the few it imports are rewritten (they are imported
    before any hook runs). The rewriter's marks are private: if they change, nothing
    does but the cost.
    """
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    cache = getattr(hook, "_marked_for_rewrite_cache", None)
    package = __package__ or "pytest_workspace"
    if isinstance(marked, set) and package in marked:
        marked.discard(package)
        if isinstance(cache, dict):
            cache.clear()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


# -- what this run asks for ------------------------------------------------------------


@dataclass
class Settings:
    """What the options and ini keys of this run ask for: plain values, nothing loaded."""

    #: Named with --workspace or the ini option ``workspace``, resolved.
    named_files: List[Path]
    #: --workspace-file paths (resolved, as text) and --workspace-module names.
    python_files: List[str]
    modules: List[str]
    #: True when --workspace, -f or -m was given (they replace the ini option).
    named_on_command_line: bool
    #: ``workspace_files`` glob patterns, matched against files found in folders.
    patterns: List[str]
    timeout: Optional[float]
    execute: bool
    #: --workspace-load-timeout / ``workspace_load_timeout``: starting and importing.
    load_timeout: Optional[float] = None
    #: --workspace-fresh-worker / ``workspace_fresh_worker``: one process per job.
    fresh_worker: bool = False
    #: --workspace-no-prefetch / ``workspace_prefetch``: the next job of a location is
    #: sent while pytest reports the one before it.
    prefetch: bool = True
    #: --workspace-no-fork / ``workspace_fork``: Dagster locations of one interpreter are
    #: forked from one process that imported Dagster (docs/dagster.md).
    fork: bool = True
    #: --workspace-parallel / ``workspace_parallel``: locations at work at once in a
    #: serial session (None: one per CPU).
    parallel: Optional[int] = None
    #: --workspace-split / ``workspace_split``: locations every xdist worker starts.
    split: List[str] = field(default_factory=list)
    #: What each xdist worker (its id) said of the locations it loaded (LOADED_KEY).
    worker_loads: List[Tuple[str, Any]] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        invocation = Path(config.invocation_params.dir)
        cli = [invocation / p for p in config.getoption("workspace")]
        python_files = _unique(
            [str((invocation / p).resolve()) for p in config.getoption("workspace_file")]
        )
        modules = _unique(list(config.getoption("workspace_module")))
        on_command_line = bool(cli or python_files or modules)
        # The command line replaces the ini option, as it does for pytest's own options.
        ini = [] if on_command_line else [Path(p) for p in config.getini("workspace")]
        no_execute = bool(config.getoption("workspace_no_execute"))
        fresh_worker = config.getoption("workspace_fresh_worker")
        if fresh_worker is None:
            fresh_worker = config.getini("workspace_fresh_worker")
        return cls(
            # A folder stands for its dg.toml or its project's pyproject.toml.
            named_files=_unique([resolve_path(Path(resolve_source_path(p))) for p in cli + ini]),
            python_files=python_files,
            modules=modules,
            named_on_command_line=on_command_line,
            patterns=list(config.getini("workspace_files")),
            timeout=_timeout(config),
            execute=not no_execute and bool(config.getini("workspace_execute")),
            load_timeout=_timeout(config, "workspace_load_timeout"),
            fresh_worker=bool(fresh_worker),
            prefetch=not config.getoption("workspace_no_prefetch")
            and bool(config.getini("workspace_prefetch")),
            fork=not config.getoption("workspace_no_fork")
            and bool(config.getini("workspace_fork")),
            parallel=_parallel(config),
            # The command line replaces the ini option.
            split=list(config.getoption("workspace_split") or config.getini("workspace_split")),
        )

    @property
    def names_a_workspace(self) -> bool:
        return bool(self.named_files or self.python_files or self.modules)

    def is_workspace_file(self, file_path: Path, parent: pytest.Collector) -> bool:
        """A file pytest reached that is a workspace file: named, or matching a pattern."""
        # A positional argument is a workspace file whatever its name, if it is YAML at
        # all or a dg.toml / pyproject.toml (`pytest test_x.py` names a Python module).
        if file_path.suffix in YAML_SUFFIXES or file_path.name in TOML_SOURCE_NAMES:
            if parent.session.isinitpath(file_path):
                return True
        if any(file_path.match(pattern) for pattern in self.patterns):
            return True
        return bool(self.named_files) and resolve_path(file_path) in self.named_files


def _timeout(config: pytest.Config, name: str = "workspace_timeout") -> Optional[float]:
    value = config.getoption(name)
    if value is None:
        text = config.getini(name)
        try:
            value = float(text)
        except ValueError:
            raise _ini_error(config, name, "a number of seconds", text) from None
    return float(value) if value > 0 else None


def _ini_error(config: pytest.Config, name: str, expected: str, value: object) -> pytest.UsageError:
    """A bad ini value: the file (as pytest names it in its own errors), the key, what
    it takes."""
    where = f"{config.inipath}: " if config.inipath is not None else ""
    return pytest.UsageError(f"{where}ini option {name} must be {expected}, got {value!r}")


def _parallel(config: pytest.Config) -> Optional[int]:
    """--workspace-parallel / ``workspace_parallel``: a count of locations, or None (auto)."""
    option = config.getoption("workspace_parallel")
    text = str(option if option is not None else config.getini("workspace_parallel")).strip()
    if text.lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        expected = "a number of code locations (1 or more) or 'auto'"
        if option is None:
            raise _ini_error(config, "workspace_parallel", expected, text)
        raise pytest.UsageError(f"--workspace-parallel must be {expected}, got {text!r}")
    return value


def _unique(values: Sequence[Any]) -> List[Any]:
    seen: List[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def settings(config: pytest.Config) -> Settings:
    return config.stash[_settings_key]


def session_plugin(config: pytest.Config) -> ModuleType:
    """The heavy part of the plugin, imported and registered on first use."""
    plugin = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if plugin is None:
        from . import _session

        plugin = _session
        config.pluginmanager.register(plugin, SESSION_PLUGIN)
    assert isinstance(plugin, ModuleType)
    return plugin


# -- start-up --------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "workspace: an item collected from a workspace (job, schedule, sensor)"
    )
    run = Settings.from_config(config)
    config.stash[_settings_key] = run
    if run.named_on_command_line and config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --workspace ws.yaml` runs that workspace, not the testpaths (or the
        # current folder) too.
        config.args = []
    if run.names_a_workspace:
        _check_targets(run)
        _check_ini_files(config, run)
        # An xdist controller runs no item and starts no location (its workers do):
        # it does without the heavy part, which would only delay starting them.
        if not _is_xdist_controller(config):
            session_plugin(config)
    # Named workspace files become positional arguments, so that pytest collects them
    # as it collects any argument: the folders above them, their conftest.py files,
    # node ids relative to the rootdir, --lf, --deselect... (xdist workers receive them).
    # A file inside a folder that is collected anyway is found there.
    if not run.named_on_command_line and config.args_source == pytest.Config.ArgsSource.ARGS:
        return  # `pytest test_x.py` with the ini option `workspace`: only test_x.py
    invocation = config.invocation_params.dir
    covered = [resolve_path(Path(invocation, arg.split("::")[0])) for arg in config.args]
    for path in run.named_files:
        if not path.is_file() and (path.exists() or path.is_symlink()):
            continue  # a folder or a link loop: collected from the session, as a failure
        if not any(path == arg or arg in path.parents for arg in covered):
            config.args.append(str(path))


def _check_targets(run: Settings) -> None:
    """A malformed -f/-m target is a usage error, said before anything starts."""
    if not (run.python_files or run.modules):
        return
    from .config import location_from_module, location_from_python_file
    from .errors import WorkspaceFileError

    try:
        for python_file in run.python_files:
            location_from_python_file(python_file)
        for module in run.modules:
            location_from_module(module)
    except WorkspaceFileError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_ini_files(config: pytest.Config, run: Settings) -> None:
    """A file the ini option ``workspace`` names that does not exist is a usage error.

    Named on the command line, pytest says "file or directory not found" itself (it is
    an argument); from the ini file it was inside the folder collected anyway, and so
    silently not collected.
    """
    shows_only = ("help", "version", "markers", "cacheshow")
    if run.named_on_command_line or any(getattr(config.option, o, 0) for o in shows_only):
        return
    for path in run.named_files:
        if not (path.exists() or path.is_symlink()):
            folder = config.inipath.parent if config.inipath else config.invocation_params.dir
            where = f"{config.inipath}: " if config.inipath is not None else ""
            raise pytest.UsageError(
                f"{where}ini option workspace names {os.path.relpath(path, folder)}, which "
                f"does not exist (its paths are relative to {folder})"
            )


def _is_xdist_controller(config: pytest.Config) -> bool:
    """Whether this process will be an xdist controller (xdist registers its session
    after this plugin's pytest_configure, on the same condition)."""
    distributes = config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))
    return (
        distributes and not config.getoption("collectonly") and not hasattr(config, "workerinput")
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    if not settings(parent.config).is_workspace_file(file_path, parent):
        return None
    collector: Optional[pytest.Collector] = session_plugin(parent.config).collect_workspace_file(
        file_path, parent
    )
    return collector


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    """A ``--workspace-file`` target given as a positional argument, or in a node id
    (``pytest -f etl.py etl.py::etl_repo::daily_job``), is the location, not a test
    module: it is never imported on the host."""
    run = settings(parent.config)
    if not run.python_files or not parent.session.isinitpath(module_path):
        return None
    key = str(module_path.resolve())
    if key not in run.python_files:
        return None
    return session_plugin(parent.config).collect_target_file(module_path, parent, key)


# -- xdist ----------------------------------------------------------------------------

#: ``--dist`` modes in which each location is owned by one worker (docs/plugin.md):
#: xdist's modes that send an item to one worker. ``each`` runs every item everywhere.
OWNED_DIST_MODES = ("load", "loadscope", "loadfile", "loadgroup", "worksteal")
#: workerinput keys: the worker's slot (None: it owns no location) and the slot count.
SLOT_KEY = "pytest_workspace_slot"
SLOTS_KEY = "pytest_workspace_slots"
#: workeroutput key: what a worker says of the workspace files and locations it loaded.
LOADED_KEY = "pytest_workspace_loaded"

_slots_key = pytest.StashKey[Any]()
_xdist_session_key = pytest.StashKey[pytest.Session]()


def _owned_by_location(config: pytest.Config) -> bool:
    return config.getvalue("dist") in OWNED_DIST_MODES


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Give the worker its slot before it collects: the locations it will own."""
    config = node.config
    if not _owned_by_location(config):
        return
    slots = config.stash.get(_slots_key, None)
    if slots is None:
        from ._xdist import Slots

        slots = config.stash[_slots_key] = Slots(node.workerinput["workercount"])
    node.workerinput[SLOT_KEY] = slots.take(node.gateway.id)
    node.workerinput[SLOTS_KEY] = slots.count


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each location's items on the one worker that owns it, the other items as xdist's
    own scheduler of this ``--dist`` would send them."""
    if not _owned_by_location(config):
        return None
    from ._xdist import location_scope, make_scheduler

    run = settings(config)
    root = config.rootpath
    targets = {_display(Path(p), root) for p in run.python_files} | set(run.modules)
    patterns = run.patterns

    def scope_of(nodeid: str) -> Optional[str]:
        return location_scope(nodeid, targets, patterns, YAML_SUFFIXES)

    session = config.stash.get(_xdist_session_key, None)
    return make_scheduler(config, log, scope_of, session, config.stash.get(_slots_key, None))


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.pluginmanager.has_plugin("dsession"):
        session.config.stash[_xdist_session_key] = session  # for xdist's item count


def _display(path: Path, root: Path) -> str:
    """``path`` as a node id: relative to the rootdir, ``../``-style outside it."""
    return os.path.relpath(path, root).replace(os.sep, "/")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    config = node.config
    slots = config.stash.get(_slots_key, None)
    if slots is not None:
        slots.down(node.gateway.id, crashed=bool(error))
    loaded = getattr(node, "workeroutput", {}).get(LOADED_KEY)
    if loaded:
        settings(config).worker_loads.append((node.gateway.id, loaded))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    # After pytest's "slowest durations" (runner.py), as the loads section that follows.
    reports = settings(config).worker_loads
    if reports:
        terminalreporter.write_sep("-", "workspace locations (loaded by xdist workers)")
        for line in worker_summary(reports):
            terminalreporter.write_line(line)
        write_load_durations(terminalreporter, worker_load_durations(config))


def write_load_durations(terminalreporter: Any, loads: List[Tuple[float, str]]) -> None:
    """``--durations``: the loads get a section of their own, after pytest's "slowest
    durations" and with the same options: they are no test's setup, call or teardown."""
    config = terminalreporter.config
    durations = config.option.durations
    if durations is None or not loads:
        return
    loads = sorted(loads, reverse=True)
    title = "slowest workspace location loads"
    if durations:
        title = f"slowest {durations} workspace location loads"
        loads = loads[:durations]
    terminalreporter.write_sep("=", title)
    minimum = config.option.durations_min
    if minimum is None:
        minimum = 0.005 if config.get_verbosity() < 2 else 0.0
    for index, (seconds, nodeid) in enumerate(loads):
        if seconds < minimum:
            terminalreporter.write_line("")
            terminalreporter.write_line(f"({len(loads) - index} loads < {minimum:g}s hidden.)")
            break
        terminalreporter.write_line(f"{seconds:02.2f}s {'load':<8} {nodeid}")


def worker_summary(reports: Sequence[Tuple[str, Any]]) -> List[str]:
    """What the xdist workers loaded: one line per location a worker started (the line a
    serial run prints as it loads, and the worker), worker by worker, then one line per
    workspace file and ``-f``/``-m`` location, as a serial run's header has them."""
    progress = []
    described: Dict[str, List[str]] = {}
    errors: Dict[str, Optional[str]] = {}
    # By worker (gw0, gw1, ... gw10), not in the order they happened to finish.
    for worker, loaded in sorted(reports, key=lambda report: (len(report[0]), report[0])):
        for source in loaded:
            title = source["title"]
            errors[title] = source["error"]
            names = [f"{loc['name']} (not reported by a worker)" for loc in source["locations"]]
            known = described.setdefault(title, names)
            for index, location in enumerate(source["locations"]):
                if location["described"] is not None:
                    known[index] = location["described"]
                    progress.append(f"{location['progress']} on {worker}")
    lines = [
        f"{title}: {errors[title] or ', '.join(known) or 'no locations'}"
        for title, known in described.items()
    ]
    return progress + lines


def worker_load_durations(config: pytest.Config) -> List[Tuple[float, str]]:
    """``(seconds, node id)`` of every location the xdist workers loaded."""
    return [
        (location["seconds"], location["nodeid"])
        for _, loaded in settings(config).worker_loads
        for source in loaded
        for location in source["locations"]
        if location is not None and location["seconds"] is not None
    ]


# -- fixtures --------------------------------------------------------------------------


def _session_workspace(config: pytest.Config) -> Workspace:
    plugin = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if plugin is None:
        pytest.fail(
            "no workspace is configured: pass --workspace PATH (or --workspace-file / "
            "--workspace-module), or list workspace files in the ini option `workspace`",
            pytrace=False,
        )
    workspace: Workspace = plugin.session_workspace(config)
    return workspace


def _looked_up(lookup: Callable[[str], _Handle], name: str) -> _Handle:
    """``lookup(name)``; an unknown or ambiguous name fails the test with the message.

    The failure is raised outside the ``except`` block: within it, pytest would show
    the message twice, the lookup error and "During handling of the above exception".
    """
    try:
        return lookup(name)
    except NameLookupError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


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
        return _looked_up(workspace.job, name)

    return get


@pytest.fixture
def workspace_repository(workspace: Workspace) -> Callable[[str], RepositoryHandle]:
    """``workspace_repository("hello_cereal_repository")``: a RepositoryHandle by name.

    ``location/repository`` picks one of several repositories of the same name.
    """

    def get(name: str) -> RepositoryHandle:
        return _looked_up(workspace.repository, name)

    return get

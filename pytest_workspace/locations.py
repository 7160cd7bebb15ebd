"""One worker process per code location: start, call, time out, restart, stop.

Each location gets an execnet gateway to a process of its own interpreter. The worker
code (``_worker.py``) and the modules it needs travel over the gateway, so the target
interpreter needs nothing of ours installed. One channel per worker carries the requests
of :mod:`pytest_workspace.protocol`, one at a time. See ``docs/protocol.md``.

We start the process ourselves (rather than with ``Group.makegateway``) for three reasons:
the bootstrap of an executable that never answers must be bounded by a timeout, the
interpreter path must not be shell-split (paths with spaces), and the worker's stderr
goes to a file whose tail explains a worker that failed to start or crashed.
"""

from __future__ import annotations

import inspect
import json
import os
import pkgutil
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import execnet
from execnet import gateway_base, gateway_bootstrap, gateway_io
from execnet.gateway_base import Message, Popen2IO

from . import (
    _coverage,
    _dotenv,
    _reaper,
    _worker,
    _zygote_host,
    protocol,
)

# Re-exported: the API's defaults live where the plugin can read them cheaply.
from ._defaults import DEFAULT_LOAD_TIMEOUT as DEFAULT_LOAD_TIMEOUT
from ._defaults import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._defaults import START_TIMEOUT as START_TIMEOUT
from ._zygote_host import UNKNOWN_EXIT, ForkedPopen, Zygotes
from .config import LocationSpec
from .errors import (
    LocationLoadError,
    RemoteDefinitionError,
    RemoteError,
    RemoteRunConfigError,
    WorkerCrashedError,
    WorkerError,
    WorkerRestartedWarning,
    WorkerTimeoutError,
    WorkspaceFileError,
)

#: How long a worker asked to exit may take before it is killed.
EXIT_GRACE = 1.0
#: ...and a worker that measures coverage, which saves its data as it exits.
COVERAGE_EXIT_GRACE = 10.0
MIN_PYTHON = (3, 8)
#: How much of a dead worker's stderr is quoted in the error.
STDERR_TAIL = 2000


#: How often a call that waits for its reply in the main thread runs the
#: :func:`while_waiting` callback.
WAIT_SLICE = 0.02
_while_waiting: Optional[Callable[[], None]] = None


def while_waiting(callback: Optional[Callable[[], None]]) -> None:
    """Run ``callback`` every :data:`WAIT_SLICE` seconds while a call waits for its reply
    in the main thread (None: no more). The plugin sends other locations their next runs
    meanwhile (``_session.Prefetch``). What it raises is ignored; it is not run again
    from within itself."""
    global _while_waiting
    _while_waiting = callback


def _receive_waiting(channel: Any, left: Optional[float]) -> Any:
    """``channel.receive(left)``, running the :func:`while_waiting` callback meanwhile."""
    global _while_waiting
    callback = _while_waiting
    if callback is None or threading.current_thread() is not threading.main_thread():
        return channel.receive(left)
    deadline = None if left is None else time.monotonic() + left
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return channel.receive(WAIT_SLICE if left is None else min(left, WAIT_SLICE))
        except channel.TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        _while_waiting = None  # not from within itself (a hook that calls a location)
        try:
            callback()
        except Exception:
            pass
        finally:
            _while_waiting = callback


#: The modules sent to every worker (of this package), each after those it imports. The
#: backends (``_backend_*``, see ``_backend.py``) come last, in the order the worker asks
#: them. The host reads their source without importing them: it runs none of them.
SHIPPED_MODULES = (
    "protocol",
    "_definition_errors",
    "definitions",
    "_reaper",
    "_backend",
    "_backend_native",
    "_backend_dagster",
)


#: Backends the worker compiles only once the library they serve is imported (by the
#: location's code, or by the backend for an ``autoload_defs_module``): a location
#: without Dagster does not pay the 14 ms of compiling the Dagster backend.
IMPORTED_WITH = {f"{__package__}._backend_dagster": "dagster"}


@lru_cache(maxsize=None)
def shipped_modules() -> List[List[Any]]:
    """The modules sent to every worker: ``[name, source]`` pairs, or ``[name, source,
    library]`` for a backend installed once ``library`` is imported (read once per
    process)."""
    modules: List[List[Any]] = []
    for short in SHIPPED_MODULES:
        name = f"{__package__}.{short}"
        entry: List[Any] = [name, _package_source(short)]
        if name in IMPORTED_WITH:
            entry.append(IMPORTED_WITH[name])
        modules.append(entry)
    return modules


def _package_source(short: str) -> str:
    """The source text of this package's module ``short``, as ``inspect.getsource`` of
    the module would give it, without importing it (also from a zipped install)."""
    data = pkgutil.get_data(__package__, f"{short}.py")
    if data is None:
        raise OSError(f"pytest-workspace is installed without the source of {short}.py")
    return data.decode("utf-8")


#: The file names execnet's bootstrap and our worker are compiled under in a worker.
GATEWAY_FILE = "<execnet.gateway_base>"
WORKER_FILE = "<pytest_workspace._worker>"


@lru_cache(maxsize=None)
def bootstrap_source() -> str:
    """What starts a worker, sent as execnet's popen bootstrap line: execnet's
    ``gateway_base``, compiled through the worker's bytecode cache
    (``_worker.compile_shipped``) instead of from source every time (12 ms), then
    served as ``gateway_bootstrap.bootstrap_exec`` serves it."""
    cache = "".join(
        _top_level_function(function)
        for function in (_worker.bytecode_folder, _worker.compile_shipped)
    )
    gateway = inspect.getsource(gateway_base)
    return "\n".join(
        [
            "import marshal, os, sys, types",
            cache,
            f"exec(compile_shipped({gateway!r}, {GATEWAY_FILE!r}), globals())",
        ]
    )


def _top_level_function(function: Any) -> str:
    """The source of a module-level function of ``_worker.py``: its lines up to the
    next line at column 0. ``inspect.getsource`` of a function tokenizes its whole
    file, 7 ms for these two, on every pytest run."""
    lines = inspect.getsource(_worker).splitlines(keepends=True)
    start = function.__code__.co_firstlineno - 1
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    return "".join(lines[start:end])


@lru_cache(maxsize=None)
def worker_source() -> str:
    """The ``remote_exec`` that runs ``_worker.py``, compiled through the same cache."""
    return (
        "import sys\n"
        "exec(sys.modules['__main__'].compile_shipped("
        f"{inspect.getsource(_worker)!r}, {WORKER_FILE!r}), globals())\n"
    )


def _bootstrap(io: Any, spec: execnet.XSpec) -> execnet.Gateway:
    """execnet's ``bootstrap_exec`` for a popen gateway, with :func:`bootstrap_source`."""
    gateway_bootstrap.sendexec(
        io,
        bootstrap_source(),
        f"execmodel = get_execmodel({spec.execmodel!r})",
        "io = init_popen_io(execmodel)",
        "io.write('1'.encode('ascii'))",
        f"serve(io, id='{spec.id}-worker')",
    )
    if io.read(1) != b"1":
        raise EOFError("the bootstrap did not answer")
    return execnet.Gateway(io, spec)


def with_virtualenv_on_path(
    executable: str, environment: Optional[Dict[str, str]]
) -> Optional[Dict[str, str]]:
    """``environment`` (None: the host's) with the virtualenv of ``executable`` first on
    PATH, as activating it would put it, when ``executable`` is another virtualenv's
    python than the host's.

    Dagster does this for a code server whose ``executable_path`` is a virtualenv's
    python (``dagster/_grpc/server.py``), and ``uv run`` for a dg project's ``.venv``:
    what the location's code starts by name (``python`` for ``PythonScriptComponent``,
    a console script such as ``dbt``) then comes from that virtualenv, not the host's.
    A virtualenv is a folder with ``bin/activate`` (Dagster's test) or ``pyvenv.cfg``.
    """
    if executable == sys.executable:
        return environment
    folder = os.path.dirname(executable)
    if not (
        os.path.exists(os.path.join(folder, "activate"))
        or os.path.exists(os.path.join(os.path.dirname(folder), "pyvenv.cfg"))
    ):
        return environment
    changed = dict(os.environ if environment is None else environment)
    current = changed.get("PATH")
    changed["PATH"] = f"{folder}{os.pathsep}{current}" if current else folder
    return changed


def resolve_executable(spec: LocationSpec) -> str:
    """The interpreter a location runs in, as an absolute path.

    Raises LocationLoadError when it does not exist or cannot be executed.
    """
    executable = spec.executable_path or sys.executable
    if os.sep not in executable and not (os.altsep and os.altsep in executable):
        found = shutil.which(executable)
        if found is None:
            raise LocationLoadError(
                spec.name,
                f"executable_path {executable!r} was not found on PATH; give the full path "
                f"of a Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ interpreter",
            )
        executable = found
    if not os.path.exists(executable):
        raise LocationLoadError(
            spec.name,
            f"executable_path {executable} does not exist; point it at a Python "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ interpreter (e.g. a virtualenv's bin/python)",
        )
    if os.path.isdir(executable) or not os.access(executable, os.X_OK):
        raise LocationLoadError(
            spec.name,
            f"executable_path {executable} is not an executable file; point it at a Python "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ interpreter",
        )
    return executable


@dataclass(frozen=True)
class InterpreterProbe:
    """What an interpreter said when asked for its version (see :func:`probe_interpreter`)."""

    #: ``X.Y.Z``, or None if it would not tell.
    version: Optional[str]
    #: What it printed on stdout before the version (a wrapper script's banner), or all
    #: it printed when it told no version.
    extra_output: str = ""


def probe_interpreter(executable: str, timeout: float = 10.0) -> InterpreterProbe:
    """Ask an interpreter for its version, keeping whatever else it printed on stdout.

    Used only to explain a worker that failed to start: it costs one more process. The
    probe runs on Python 2 too.
    """
    try:
        completed = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return InterpreterProbe(None)
    before, _, last = completed.stdout.rstrip().rpartition("\n")
    parts = last.strip().split(".")
    if completed.returncode != 0 or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return InterpreterProbe(None, completed.stdout.strip())
    return InterpreterProbe(last.strip(), before.strip())


def probe_python_version(executable: str, timeout: float = 10.0) -> Optional[str]:
    """The ``X.Y.Z`` version of an interpreter, or None if it would not tell."""
    return probe_interpreter(executable, timeout).version


def _quoted(text: str, limit: int = 1000) -> str:
    """Output of a process, indented, at most ``limit`` characters."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return "\n".join("    " + line for line in text.splitlines())


def describe_exit(returncode: Optional[int]) -> str:
    """``exited with status 3`` / ``was killed by signal SIGSEGV (Segmentation fault)``."""
    if returncode is None:
        return "stopped answering"
    if returncode == UNKNOWN_EXIT:
        return "exited (its status is unknown: the zygote that forked it is gone)"
    if returncode >= 0:
        return f"exited with status {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = str(number)
    text = signal.strsignal(number) if hasattr(signal, "strsignal") else None
    return f"was killed by signal {name}" + (f" ({text})" if text else "")


@dataclass(frozen=True)
class InterpreterInfo:
    """What a worker said about its interpreter when it started."""

    executable: str
    python_version: tuple[int, ...]
    prefix: str
    pid: int


#: Workers lead their own process group, so that stopping one also stops what its user
#: code started (a subprocess, a wrapper script's interpreter): see :func:`_kill`.
_OWN_PROCESS_GROUP = os.name == "posix"


class StartedPopen(subprocess.Popen[bytes]):
    """A worker's interpreter that we started, with its start time (:attr:`started`).

    Read while the process cannot have been reaped yet, it tells the process from
    another that gets its pid once it is reaped: the signals of ``_kill`` (its group,
    its descendants) check it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Clock ticks since boot (``_reaper.start_time``); None without ``/proc``.
        self.started = _reaper.start_time(self.pid)


#: A worker's process: started by us, or forked by a zygote (``_zygote_host.py``).
WorkerPopen = Union[StartedPopen, ForkedPopen]


#: The largest message we believe a worker sends (a job's output, logs): a header that
#: announces more is junk, not a message.
MAX_MESSAGE_BYTES = 1 << 30
_MESSAGE_CODES = frozenset(Message._types)


class _WorkerIO(gateway_io.Popen2IOMaster):
    """execnet's popen IO, with the worker's stderr sent to a file of ours.

    It also checks the frame of every message execnet reads (9 header bytes: code,
    channel, length; then the payload). Bytes that user code wrote into the pipe would be
    read as a header announcing megabytes that never come, and the call would wait for
    its timeout: a header that cannot be execnet's ends the channel at once, and
    :attr:`corruption` keeps the bytes for the error message.
    """

    def __init__(self, popen: WorkerPopen, execmodel: Any) -> None:
        self.popen = popen
        Popen2IO.__init__(self, popen.stdin, popen.stdout, execmodel=execmodel)
        assert popen.stdout is not None
        # Read with os.read, never through the buffered file: what is unread stays in the
        # pipe, where select() sees it.
        self._fd = popen.stdout.fileno()
        self._next = "ack"  # bootstrap's one-byte answer, then header/payload pairs
        #: The bytes that were not a message, if the channel was found corrupt.
        self.corruption: Optional[bytes] = None

    def read(self, numbytes: int) -> bytes:
        data = b""
        while len(data) < numbytes:
            chunk = os.read(self._fd, numbytes - len(data))
            if not chunk:
                raise EOFError(f"expected {numbytes} bytes, got {len(data)}")
            data += chunk
        expected, self._next = self._next, "payload" if self._next == "header" else "header"
        if expected == "header" and not _is_message_header(data):
            self.corruption = _junk_only(data + self._available())
            raise EOFError("the channel is corrupt: not an execnet message")
        return data

    def _available(self, limit: int = 200) -> bytes:
        """What else is in the pipe now, without waiting."""
        try:
            if select.select([self._fd], [], [], 0)[0]:
                return os.read(self._fd, limit)
        except (OSError, ValueError):
            pass
        return b""


def _is_message_header(header: bytes) -> bool:
    code, channel, length = struct.unpack("!bii", header)
    return code in _MESSAGE_CODES and channel >= 0 and 0 <= length <= MAX_MESSAGE_BYTES


def _junk_only(data: bytes) -> bytes:
    """The junk at the start of ``data``, without the worker's own message after it."""
    for start in range(1, len(data) - 8):
        header = data[start : start + 9]
        # The worker's reply: data on one of the few channels a worker has.
        if header[0] == Message.CHANNEL_DATA and _is_message_header(header):
            if struct.unpack("!i", header[1:5])[0] < 1024:
                return data[:start]
    return data


def _start_worker(
    args: List[str], stderr: IO[bytes], env: Optional[Mapping[str, str]]
) -> StartedPopen:
    """Start a worker's interpreter, stdin and stdout piped to us, as a group's leader,
    with the environment ``env`` (None: the host's)."""
    return StartedPopen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        start_new_session=_OWN_PROCESS_GROUP,
    )


class _Guardian:
    """The host's guardian process (:func:`_reaper.guard`), started with the first worker.

    It ends every worker the host told it of when the host dies, even by SIGKILL and
    even if a worker is stopped or stuck in C. It is started from a thread that lives as
    long as the host: ``PR_SET_PDEATHSIG`` fires when the *thread* that started a process
    ends, and locations are started from short-lived threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._popen: Optional[subprocess.Popen[bytes]] = None
        self._owner = 0

    def watch(self, pid: int, started: Optional[int]) -> None:
        """End ``pid`` when the host dies, if it is still the process that started at
        ``started`` (:func:`_reaper.start_time`; None: not known, never signalled)."""
        self._send(b"+%d %s\n" % (pid, b"-" if started is None else b"%d" % started))

    def forget(self, pid: int) -> None:
        self._send(b"-%d\n" % pid, start=False)

    def _send(self, line: bytes, start: bool = True) -> None:
        if not _OWN_PROCESS_GROUP:
            return
        with self._lock:
            if self._owner != os.getpid():  # never started, or we are a forked host
                if not start:
                    return
                self._popen, self._owner = self._start(), os.getpid()
            popen = self._popen
            if popen is None or popen.stdin is None:
                return
            try:
                popen.stdin.write(line)
                popen.stdin.flush()
            except (OSError, ValueError):
                pass  # the guardian is gone: the workers' own parent watch remains

    @staticmethod
    def _start() -> Optional[subprocess.Popen[bytes]]:
        started: List[Optional[subprocess.Popen[bytes]]] = []
        ready = threading.Event()

        def run() -> None:
            try:
                script = _reaper.__file__
                if not os.path.isfile(script):  # installed zipped: run its source
                    script_args = ["-c", inspect.getsource(_reaper)]
                else:
                    script_args = [script]
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-S", *script_args, str(os.getpid())],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,  # Ctrl-C in a terminal is not for it
                    )
                )
            except OSError:
                started.append(None)
            ready.set()
            threading.Event().wait()  # this thread's life is the guardian's parent

        threading.Thread(target=run, name="pytest-workspace-guardian", daemon=True).start()
        ready.wait()
        return started[0]


_guardian = _Guardian()


def zygote_registry() -> Zygotes:
    """The zygotes of a new workspace, known to this process's guardian."""
    return Zygotes(_guardian)


def prepare_forks(workers: Sequence[LocationWorker]) -> None:
    """Start the zygotes the workers about to start would fork from: one per interpreter
    that two or more of them (one, for fresh workers) would run Dagster in."""
    for registry in {id(w.zygotes): w.zygotes for w in workers if w.zygotes}.values():
        candidates = []
        fresh = False
        for worker in workers:
            if worker.zygotes is registry:
                try:
                    executable = resolve_executable(worker.spec)
                    environment = worker.prepare_environment()
                except LocationLoadError:
                    continue  # said when it starts
                if environment is not None and _zygote_host.startup_changes(
                    environment, os.environ
                ):
                    continue  # its .env sets PYTHONPATH (say): started, never forked
                candidates.append((executable, worker.spec))
                fresh = fresh or worker.fresh_worker
        registry.prepare(candidates, minimum=1 if fresh else 2)


#: A location's environment (None: the host's) and the warnings of its .env files.
_Environment = Tuple[Optional[Dict[str, str]], Tuple[protocol.WarningData, ...]]


def _read_environment(spec: LocationSpec) -> _Environment:
    """Read the location's .env files (raises WorkspaceFileError)."""
    environment, warnings = _dotenv.location_environment(spec.name, spec.env_files, os.environ)
    return environment, tuple(warnings)


class _Process:
    """One started worker process: its popen, gateway, channel and stderr file."""

    def __init__(
        self,
        popen: WorkerPopen,
        gateway: Any,
        stderr: IO[bytes],
        io: Optional[_WorkerIO] = None,
    ):
        self.popen = popen
        self.gateway = gateway
        self.stderr = stderr
        self.io = io
        self.channel: Any = None
        self._final_stderr: Optional[str] = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def close_stderr(self) -> None:
        """Keep the tail of stderr in memory and close the file."""
        if self._final_stderr is None:
            self._final_stderr = self.stderr_tail()
            try:
                self.stderr.close()
            except OSError:
                pass

    def stderr_tail(self) -> str:
        """The last lines the process wrote to its stderr (outside of captured calls)."""
        if self._final_stderr is not None:
            return self._final_stderr
        try:
            self.stderr.flush()
            size = self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, size - STDERR_TAIL))
            text = self.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        if size > STDERR_TAIL:
            text = "..." + text[text.find("\n") + 1 :] if "\n" in text else "..." + text
        return text.strip()


class PendingCall:
    """A request sent by :meth:`LocationWorker.submit`; :meth:`result` waits for its
    reply (or raises what the call raised)."""

    def __init__(
        self,
        worker: LocationWorker,
        command: str,
        arguments: Mapping[str, Any],
        request_id: int,
        timeout: Optional[float],
        deadline: Optional[float],
    ) -> None:
        self.worker = worker
        self.command = command
        self.arguments = arguments
        self.request_id = request_id
        self.timeout = timeout
        self.deadline = deadline
        self.done = False
        self.value: Any = None
        self.error: Optional[Exception] = None
        #: Sent behind another call to a process that stopped before starting it: it
        #: never ran, and :meth:`result` sends it again (to a new process).
        self.dropped = False

    def result(self) -> Any:
        return self.worker._collect(self)


class LocationWorker:
    """The process of one code location and the channel to it.

    Calls are serialised by a lock: concurrent calls from several threads wait for each
    other. A call that times out kills the process; a process that dies fails the call
    in flight (or, if it died while idle, the next call); either way the call after that
    starts a new process and loads the location's code again.
    """

    def __init__(
        self,
        spec: LocationSpec,
        group: execnet.Group,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        start_timeout: float = START_TIMEOUT,
        load_timeout: Optional[float] = DEFAULT_LOAD_TIMEOUT,
        fresh_worker: bool = False,
        zygotes: Optional[Zygotes] = None,
    ) -> None:
        self.spec = spec
        self.timeout = timeout
        self.start_timeout = start_timeout
        #: Bounds starting the process and importing the code, together (None: no limit).
        self.load_timeout = load_timeout
        #: Stop the process after each call in FRESH_WORKER_AFTER (hermetic jobs).
        self.fresh_worker = fresh_worker
        #: Where a worker may be forked from instead of started (None: always started).
        self.zygotes = zygotes
        #: The process being started, before start() knows it: kill() stops it too.
        self._launching: Optional[WorkerPopen] = None
        #: What the current process last did, to name it when the process dies idle.
        self._last_call: Optional[str] = None
        #: A request sent ahead (submit) whose reply has not been read yet.
        self._pending: Optional[PendingCall] = None
        #: A request sent behind the pending one (submit_behind): the process starts it
        #: when it has answered that one. Its timeout counts from then.
        self._queued: Optional[PendingCall] = None
        self._group = group
        self._lock = threading.RLock()
        self._process: Optional[_Process] = None
        #: Why the host itself stopped the current process, if it did (timeout, close).
        self._stop_reason: Optional[str] = None
        self.info: Optional[InterpreterInfo] = None
        #: What the worker said about measuring coverage (None: the host measures nothing).
        self.coverage: Optional[protocol.CoverageState] = None
        self.description: Optional[protocol.Description] = None
        #: The warnings of the location's .env files at the last start (skipped lines).
        self.env_warnings: Tuple[protocol.WarningData, ...] = ()
        #: What :meth:`prepare_environment` read for the next start, which takes it.
        self._prepared: Union[_Environment, WorkspaceFileError, None] = None
        self._last_id = 0
        #: A reply is being waited for (see poll).
        self._receiving = False
        self.starts = 0
        self.closed = False

    # -- life cycle ----------------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """The pid of the current worker process, if one was started and not stopped."""
        process = self._process
        return process.pid if process is not None else None

    @property
    def alive(self) -> bool:
        """True while a worker process is running for this location."""
        process = self._process
        return process is not None and process.popen.poll() is None

    def start(self) -> protocol.Description:
        """Start the worker and load the location; returns the location's description.

        Raises LocationLoadError if the process cannot start or the code cannot load.
        """
        with self._lock:
            # Taken first: what was read for this start must not serve a later one.
            prepared, self._prepared = self._prepared, None
            if self.closed:
                raise LocationLoadError(self.spec.name, "the workspace was closed")
            self._stop_process(graceful=False)
            executable = resolve_executable(self.spec)
            environment = with_virtualenv_on_path(executable, self._environment(prepared))
            self.starts += 1
            self.description = None
            self._last_call = None
            deadline = None if self.load_timeout is None else time.monotonic() + self.load_timeout
            process = self._launch(executable, self._start_limit(deadline), environment)
            self._process = process
            self._stop_reason = None
            if self.closed:  # closed by another thread while we were starting
                self._stop_process(graceful=False)
                raise LocationLoadError(self.spec.name, "the workspace was closed")
            try:
                process.channel = process.gateway.remote_exec(worker_source())
                init: protocol.InitArguments = {
                    "protocol": protocol.PROTOCOL_VERSION,
                    "location": self._location_message(),
                    "modules": shipped_modules(),
                    "coverage": _coverage.settings(),
                }
                init_id = self._send(process, "init", init)
                # Pipelined: the worker answers init, then load, in order; one round trip.
                load_id = self._send(process, "load", {})
            except (OSError, EOFError, ValueError) as exc:
                self._stop_process(graceful=False)
                raise self._start_failure(executable, process, repr(exc)) from None
            limit = self._start_limit(deadline)
            try:
                info: protocol.InterpreterData = self._receive(
                    limit, "init", init_id, _deadline(limit)
                )
            except WorkerTimeoutError:
                detail = f"it did not answer within {limit:g}s"
                raise self._start_failure(executable, process, detail) from None
            except WorkerError:
                detail = f"it {describe_exit(process.popen.returncode)} during init"
                raise self._start_failure(executable, process, detail) from None
            except RemoteError as exc:
                self._stop_process(graceful=False)
                raise LocationLoadError(self.spec.name, f"{exc.type_name}: {exc.message}") from None
            if info.get("protocol") != protocol.PROTOCOL_VERSION:
                self._stop_process(graceful=False)
                raise LocationLoadError(
                    self.spec.name,
                    f"its worker speaks protocol version {info.get('protocol')!r} but this "
                    f"host speaks version {protocol.PROTOCOL_VERSION!r}: the worker's code does "
                    f"not come from this installation of pytest-workspace; reinstall it",
                )
            self.coverage = info.get("coverage")
            _coverage.record(self.coverage)
            self.info = InterpreterInfo(
                executable=str(info["executable"]),
                python_version=tuple(int(part) for part in info["python_version"]),
                prefix=str(info["prefix"]),
                pid=int(info["pid"]),
            )
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                description: protocol.Description = self._receive(
                    remaining, "load", load_id, _deadline(remaining)
                )
            except WorkerTimeoutError:
                assert self.load_timeout is not None
                raise LocationLoadError(
                    self.spec.name,
                    f"importing its code did not finish within {self.load_timeout:g}s; its "
                    f"worker (pid {process.pid}) was killed. Raise the limit with "
                    f"--workspace-load-timeout (ini: workspace_load_timeout) or "
                    f"load_workspace(load_timeout=...) if the import needs longer",
                ) from None
            except (WorkerError, RemoteError) as exc:
                raise LocationLoadError(self.spec.name, str(exc)) from None
            self.description = description
            error = description.get("load_error")
            if error:
                # A location whose code did not load can answer nothing: free its process.
                self._stop_process(graceful=False, reason="its code failed to load")
                raise LocationLoadError(
                    self.spec.name,
                    load_error_message(self.spec, error, executable),
                    # The worker's own load errors explain themselves; their traceback
                    # would only show our frames.
                    remote_traceback=""
                    if error.get("kind") == "load"
                    else str(error.get("traceback", "")),
                    summary=load_error_summary(error),
                )
            return description

    def prepare_environment(self) -> Optional[Dict[str, str]]:
        """The environment of the location's next process (see :meth:`_environment`),
        read now for :func:`prepare_forks` and kept for that start, which then does not
        read the .env files again. Raises LocationLoadError, as the start will."""
        try:
            self._prepared = _read_environment(self.spec)
        except WorkspaceFileError as error:
            self._prepared = error
            raise LocationLoadError(self.spec.name, str(error)) from None
        return self._prepared[0]

    def _environment(
        self, prepared: Union[_Environment, WorkspaceFileError, None] = None
    ) -> Optional[Dict[str, str]]:
        """The environment of the location's next process: the host's as it is now, with
        the variables of the location's .env files (None: no file sets any). Read once
        at every start (``prepared``: what :meth:`prepare_environment` read for it), as
        Dagster reads them when a code server starts."""
        try:
            if isinstance(prepared, WorkspaceFileError):
                raise prepared
            environment, self.env_warnings = prepared or _read_environment(self.spec)
        except WorkspaceFileError as error:
            raise LocationLoadError(self.spec.name, str(error)) from None
        return environment

    def _start_limit(self, deadline: Optional[float]) -> float:
        """The time left for the interpreter to start: start_timeout, within the load's."""
        if deadline is None:
            return self.start_timeout
        return max(0.0, min(self.start_timeout, deadline - time.monotonic()))

    def _launch(
        self, executable: str, limit: float, environment: Optional[Dict[str, str]]
    ) -> _Process:
        """Start the interpreter and execnet's bootstrap in it, bounded by ``limit``, with
        ``environment`` (None: the host's)."""
        spec = execnet.XSpec(f"popen//id={self._gateway_id()}")
        # Set after parsing: an interpreter path may hold "//" or "=".
        spec.python = executable
        spec.execmodel = self._group.remote_execmodel.backend
        args = [executable, "-u", "-c", gateway_io.popen_bootstrapline]
        stderr = tempfile.TemporaryFile()
        zygote = None
        if self.zygotes is not None and _zygote_host.imports_dagster(self.spec):
            zygote = self.zygotes.get(executable)  # forked only where Dagster is wanted
            if zygote is not None and not zygote.forks_alike(environment):
                zygote = None  # a variable the interpreter reads at start differs
        forked = None
        if zygote is not None:
            forked = zygote.fork(stderr, limit, cancelled=lambda: self.closed, environ=environment)
            if forked is None and self.closed:
                stderr.close()
                raise LocationLoadError(self.spec.name, "the workspace was closed")
        try:
            io = _WorkerIO(
                forked or _start_worker(args, stderr, environment), self._group.execmodel
            )
        except OSError as exc:
            stderr.close()
            raise LocationLoadError(
                self.spec.name,
                f"could not run {executable}: {exc.strerror or exc}; point executable_path "
                f"at a Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ interpreter",
            ) from None
        popen = io.popen
        self._launching = popen
        _guardian.watch(popen.pid, popen.started)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill(popen)

        # An executable that neither answers nor exits would block the bootstrap forever.
        watchdog = threading.Timer(limit, expire)
        watchdog.daemon = True
        watchdog.start()
        gateway = None
        detail = ""
        try:
            gateway = _bootstrap(io, spec)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except BaseException:  # interrupted (Ctrl-C): no process of ours stays behind
            _kill(popen)
            _wait(popen, None)
            raise
        finally:
            watchdog.cancel()
            self._launching = None
        if gateway is None or popen.poll() is not None:
            _kill(popen)
            _wait(popen, 5.0)
            if expired.is_set():
                reason = f"it did not answer within {limit:g}s"
            elif gateway is None:
                reason = f"its bootstrap failed: {detail}"
            else:
                reason = f"it {describe_exit(popen.returncode)} at once"
            failed = _Process(popen, gateway, stderr)
            failed.close_stderr()
            raise self._start_failure(executable, failed, reason)
        self._group._register(gateway)
        return _Process(popen, gateway, stderr, io)

    def _gateway_id(self) -> str:
        safe = "".join(c if c.isalnum() else "-" for c in self.spec.name)
        return f"{safe}-{id(self):x}-{self.starts}"

    def _location_message(self) -> protocol.LocationData:
        spec = self.spec
        return {
            "kind": spec.kind,
            "target": spec.target,
            "attribute": spec.attribute,
            "working_directory": spec.working_directory,
            "python_path": list(spec.python_path),
        }

    def _start_failure(self, executable: str, process: _Process, detail: str) -> LocationLoadError:
        """Explain a worker that could not start: probe the interpreter's version."""
        tail = process.stderr_tail()
        # What did not answer at all would not answer a probe either.
        expired = detail.startswith("it did not answer")
        probe = (
            InterpreterProbe(None) if expired else probe_interpreter(executable, self.start_timeout)
        )
        version = probe.version
        if expired:
            reason = (
                f"{executable} {detail}; is it a Python interpreter? Point executable_path "
                f"at a Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ interpreter"
            )
        elif version is None:
            reason = (
                f"could not start a Python worker with {executable} ({detail}); it does not "
                f"behave like a Python interpreter: point executable_path at a Python "
                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ interpreter"
            )
            if probe.extra_output:
                reason += f"\nasked for its version, it printed:\n{_quoted(probe.extra_output)}"
        elif probe.extra_output:
            # A wrapper script that greets before it execs Python: its words reach the
            # host where the worker's first bytes are expected.
            reason = (
                f"{executable} (Python {version}) writes to stdout before Python starts, and "
                f"stdout carries the worker's protocol; it printed this on stdout before "
                f"Python answered:\n{_quoted(probe.extra_output)}\nMake the wrapper write "
                f"its messages to stderr (`echo ... >&2`), or point executable_path at the "
                f"interpreter itself"
            )
        elif tuple(int(p) for p in version.split(".")[:2]) < MIN_PYTHON:
            reason = (
                f"{executable} is Python {version}; code locations need Python "
                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer: point executable_path at a newer "
                f"interpreter"
            )
            tail = ""  # its SyntaxError in execnet's bootstrap would only confuse
        else:
            reason = f"the worker in {executable} (Python {version}) failed to start: {detail}"
        if tail:
            reason += f"\nits stderr:\n{tail}"
        return LocationLoadError(self.spec.name, reason)

    def close(self, timeout: float = EXIT_GRACE) -> None:
        """Stop the worker process for good (killing it if it does not exit in time).

        Safe to call from another thread while a call is in flight (or a start): that
        call fails.
        """
        self.closed = True
        launching = self._launching
        if launching is not None:
            _kill(launching)
        # A worker busy with a call (in another thread) cannot exit gracefully: kill it.
        idle = self._lock.acquire(blocking=False)
        try:
            if self.coverage and self.coverage.get("measured"):
                # It writes its coverage data as it exits: give it time to.
                timeout = max(timeout, COVERAGE_EXIT_GRACE)
            # A request sent ahead that nobody will read: it may finish within the grace
            # (then the worker exits as asked, its atexit handlers run); else it is a
            # call in flight, and the worker is killed.
            if idle and self._process is not None:
                first = self._pending
                self._settle(patience=timeout)
                if self._pending not in (None, first) and self._process is not None:
                    self._settle(patience=timeout)  # the one queued behind it
            graceful = idle and self._pending is None
            self._stop_process(graceful=graceful, grace=timeout, reason="the workspace was closed")
        finally:
            if idle:
                self._lock.release()

    def request_exit(self) -> None:
        """Ask an idle worker to exit, without waiting (:meth:`close` waits and reaps)."""
        self.closed = True
        if not self._lock.acquire(blocking=False):
            return  # busy: close() kills it
        try:
            if self._pending is not None and self._process is not None:
                self._settle(patience=0.0)  # a request sent ahead may have its reply here
            if self._pending is not None:
                return  # a request in flight: close() kills it
            process = self._process
            if process is not None:
                _exit_gateway(process.gateway)
        finally:
            self._lock.release()

    def kill(self, reason: str = "it was killed by the host") -> None:
        """Kill the worker process now; the next call starts a new one.

        Safe to call from another thread while a call is in flight: that call fails.
        """
        launching = self._launching
        if launching is not None:
            _kill(launching)
        self._stop_process(graceful=False, reason=reason)

    def _stop_process(
        self, graceful: bool = True, grace: float = EXIT_GRACE, reason: Optional[str] = None
    ) -> None:
        """Stop the current process (if any), reap it, and forget it."""
        queued, self._queued = self._queued, None
        if queued is not None:
            queued.dropped = True  # the process will never start it
        process, self._process = self._process, None
        if process is None:
            return
        self._stop_reason = reason
        popen = process.popen
        if graceful and popen.poll() is None:
            _exit_gateway(process.gateway)
            _wait(popen, grace)
        _kill(popen)
        _wait(popen, None)
        try:
            process.gateway.join(timeout=2)
        except Exception:
            pass
        try:
            self._group._unregister(process.gateway)
        except (ValueError, AttributeError):
            pass  # gateway.exit() unregistered it already
        process.close_stderr()

    # -- calls: the typed client of the protocol (protocol.COMMANDS) -------------------

    def describe(self, timeout: Optional[float] = None) -> protocol.Description:
        """The location's description as it is now (``constructed_jobs`` grows)."""
        description: protocol.Description = self._call("describe", timeout, {})
        return description

    def build_job(
        self, repository: str, job: str, timeout: Optional[float] = None
    ) -> protocol.BuildData:
        arguments: protocol.JobArguments = {"repository": repository, "job": job}
        build: protocol.BuildData = self._call("build_job", timeout, arguments)
        return build

    def execute_job(self, *args: Any, **kwargs: Any) -> protocol.RunData:
        """:meth:`submit_execute_job` (same arguments), waiting for the run."""
        pending = self.submit_execute_job(*args, **kwargs)
        assert pending is not None
        run: protocol.RunData = pending.result()
        return run

    def submit_execute_job(
        self,
        repository: str,
        job: str,
        run_config: Dict[str, Any],
        options: Dict[str, Any],
        debug_events: bool = True,
        timeout: Optional[float] = None,
        behind: bool = False,
    ) -> Optional[PendingCall]:
        """The ``execute_job`` request, sent now: its ``result()`` is the run, read when
        asked for (see :meth:`submit`). ``behind``: sent behind the call in flight
        (:meth:`submit_behind`), or not at all (None)."""
        arguments: protocol.ExecuteArguments = {
            "repository": repository,
            "job": job,
            "run_config": run_config,
            "options": options,
            "debug_events": debug_events,
        }
        if behind:
            return self.submit_behind("execute_job", timeout, arguments)
        return self.submit("execute_job", timeout, arguments)

    def evaluate_schedule(
        self, repository: str, schedule: str, timeout: Optional[float] = None
    ) -> protocol.EvaluationData:
        arguments: protocol.ScheduleArguments = {"repository": repository, "schedule": schedule}
        evaluation: protocol.EvaluationData = self._call("evaluate_schedule", timeout, arguments)
        return evaluation

    def evaluate_sensor(
        self, repository: str, sensor: str, timeout: Optional[float] = None
    ) -> protocol.EvaluationData:
        arguments: protocol.SensorArguments = {"repository": repository, "sensor": sensor}
        evaluation: protocol.EvaluationData = self._call("evaluate_sensor", timeout, arguments)
        return evaluation

    def _call(self, command: str, timeout: Optional[float], arguments: Mapping[str, Any]) -> Any:
        """Send one request and return its result; start the worker first if needed.

        Raises WorkerTimeoutError, WorkerCrashedError, RemoteError (and subclasses),
        or LocationLoadError when a restart fails.
        """
        return self.submit(command, timeout, arguments).result()

    def submit(
        self, command: str, timeout: Optional[float], arguments: Mapping[str, Any]
    ) -> PendingCall:
        """Send one request now and return at once; :meth:`PendingCall.result` waits for
        its reply. ``timeout`` counts from now. Requests stay one at a time: a request
        sent while another is pending first reads that one's reply (kept for it)."""
        with self._lock:
            while self._pending is not None and not self._pending.done:
                self._settle()
            if self.closed:
                raise WorkerError(
                    self.spec.name,
                    f"code location {self.spec.name!r} belongs to a closed workspace; "
                    f"load the workspace again",
                )
            process = self._process
            if process is not None and process.popen.poll() is not None:
                self._restarted_after_idle_death(process, _call_text(command, arguments))
                process = None
            if process is None:
                self.start()
                process = self._process
                assert process is not None
            try:
                request_id = self._send(process, command, arguments)
            except (OSError, EOFError, ValueError):
                raise self._crashed(command, process) from None
            limit = self.timeout if timeout is None else timeout
            pending = PendingCall(self, command, arguments, request_id, limit, _deadline(limit))
            self._pending = pending
            return pending

    def submit_behind(
        self, command: str, timeout: Optional[float], arguments: Mapping[str, Any]
    ) -> Optional[PendingCall]:
        """Send a request now, behind the one in flight, and return at once: the process
        starts it as soon as it has answered that one, so that it does not wait for the
        host to read that answer first. ``timeout`` counts from then. None (nothing
        sent) unless exactly one request is in flight on a live process. Called from
        the thread that waits for the one in flight, too (between its waits)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            process = self._process
            if process is None or not self.can_queue():
                return None
            try:
                request_id = self._send(process, command, arguments)
            except (OSError, EOFError, ValueError):
                return None  # said by the call in flight, which finds the process gone
            limit = self.timeout if timeout is None else timeout
            queued = PendingCall(self, command, arguments, request_id, limit, None)
            self._queued = queued
            return queued
        finally:
            self._lock.release()

    def can_queue(self) -> bool:
        """Whether :meth:`submit_behind` would send a request now."""
        pending = self._pending
        return (
            not self.closed
            and not self.fresh_worker
            and pending is not None
            and not pending.done
            and self._queued is None
            and self.alive
        )

    @property
    def idle(self) -> bool:
        """A live worker with no request in flight: a request sent now starts at once."""
        return self._pending is None and self.alive and not self.closed

    def poll(self) -> bool:
        """Read the pending request's reply if it has arrived, without waiting (it is kept
        for its caller). True when no request is in flight any more: :attr:`idle`, if the
        worker lives. False while a reply is awaited, or another thread is calling."""
        if self._receiving or not self._lock.acquire(blocking=False):
            return False
        try:
            self._settle(patience=0.0)
            return self._pending is None
        finally:
            self._lock.release()

    def _settle(self, patience: Optional[float] = None) -> None:
        """Read the reply of the pending request, if any, and keep it for its caller.
        ``patience``: wait at most that long for it, and then leave it pending (None:
        until the request's own deadline, which kills the worker)."""
        pending = self._pending
        if pending is None or pending.done:
            return
        try:
            pending.value = self._receive(
                pending.timeout, pending.command, pending.request_id, pending.deadline, patience
            )
        except _NotYet:
            return
        except BaseException as exc:  # kept for the caller; an interrupt also goes on
            pending.error = (
                exc
                if isinstance(exc, Exception)
                else WorkerCrashedError(
                    self.spec.name, f"{pending.command} was interrupted: {type(exc).__name__}"
                )
            )
            self._settled(pending)
            if not isinstance(exc, Exception):
                raise
            return
        self._settled(pending)

    def _settled(self, pending: PendingCall) -> None:
        pending.done = True
        self._pending = None
        self._last_call = _call_text(pending.command, pending.arguments)
        queued = self._queued
        if queued is not None:
            self._queued = None
            if self._process is None:
                queued.dropped = True  # the process stopped before starting it
            else:
                # The process starts it now: its time counts from here.
                queued.deadline = _deadline(queued.timeout)
                self._pending = queued
        if self.fresh_worker and pending.command in FRESH_WORKER_AFTER:
            self._stop_process(graceful=False, reason="a fresh worker runs each job")

    def _collect(self, pending: PendingCall) -> Any:
        with self._lock:
            while not pending.done and (pending is self._pending or pending is self._queued):
                self._settle()
        if pending.dropped and not pending.done:
            # Sent behind a call whose process stopped before starting it: run it now.
            try:
                pending.value = self.submit(
                    pending.command, pending.timeout, pending.arguments
                ).result()
            except Exception as exc:
                pending.error = exc
            pending.done = True
        if pending.error is not None:
            raise pending.error
        return pending.value

    def _restarted_after_idle_death(self, process: _Process, next_call: str) -> None:
        """A process found dead between calls: forget it and say so, naming its last call.

        Its death belongs to what ran before (a thread or process left by the last call),
        not to the call about to be made, which runs on a new process instead.
        """
        code = _wait(process.popen, 5.0)
        tail = process.stderr_tail()
        self._stop_process(graceful=False, reason="it died")
        after = f", after {self._last_call}" if self._last_call else ""
        message = (
            f"code location {self.spec.name!r}: its worker (pid {process.pid}) "
            f"{describe_exit(code)} while idle{after}; a new worker was started for "
            f"{next_call}"
        )
        if tail:
            message += f"\nits last output on stderr:\n{_without_our_frames(tail)}"
        warnings.warn(WorkerRestartedWarning(message), stacklevel=4)

    def _send(self, process: _Process, command: str, arguments: Mapping[str, Any]) -> int:
        """Send a request; returns its id, which its reply carries."""
        self._last_id += 1
        process.channel.send({"cmd": command, "id": self._last_id, **arguments})
        return self._last_id

    def _receive(
        self,
        timeout: Optional[float],
        what: str,
        request_id: int,
        deadline: Optional[float],
        patience: Optional[float] = None,
    ) -> Any:
        """The result of request ``request_id`` by ``deadline`` (``timeout`` after it was
        sent); a reply to another request is dropped (the answer to a request that timed
        out, say), never taken for this one's. With ``patience`` (seconds), raises
        :class:`_NotYet` rather than wait longer for a reply that has not arrived."""
        process = self._process
        if process is None:  # stopped from another thread (close, kill)
            raise self._stopped(what)
        channel = process.channel
        self._receiving = True  # poll() from a while_waiting callback: not this one
        try:
            until = None if patience is None else time.monotonic() + patience
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if until is not None:
                    left = max(0.0, until - time.monotonic())
                reply = self._receive_one(process, channel, left, timeout, what, until is None)
                if reply.get("id") == request_id:
                    break
        finally:
            self._receiving = False
        if reply["ok"]:
            return reply["result"]
        raise remote_error(reply["error"])

    def _receive_one(
        self,
        process: _Process,
        channel: Any,
        left: Optional[float],
        timeout: Optional[float],
        what: str,
        wait: bool = True,
    ) -> Dict[str, Any]:
        try:
            reply = _receive_waiting(channel, left) if wait else channel.receive(left)
        except channel.TimeoutError:
            if not wait:
                raise _NotYet() from None
            assert timeout is not None
            self.kill(reason=f"{what} timed out")
            raise WorkerTimeoutError(
                self.spec.name,
                f"{what} in code location {self.spec.name!r} did not finish within "
                f"{timeout:g}s; its worker (pid {process.pid}) was killed and will be "
                f"restarted by the next call. Raise the limit with --workspace-timeout "
                f"(ini: workspace_timeout) or load_workspace(timeout=...) if it needs longer",
            ) from None
        except EOFError:
            raise self._crashed(what, process) from None
        except execnet.RemoteError as exc:
            # The worker's own code failed (not the user's): its channel closed with an error.
            self.kill(reason=f"its worker failed during {what}")
            raise WorkerCrashedError(
                self.spec.name,
                f"the worker of code location {self.spec.name!r} failed during {what}; "
                f"this is a bug in pytest-workspace, please report it:\n{exc.formatted}",
            ) from None
        except BaseException:
            # The host's wait itself was interrupted (Ctrl-C, pytest-timeout's signal
            # method): the reply will never be read, so the process cannot serve again.
            self.kill(reason=f"the host's wait for {what} was interrupted")
            raise
        if isinstance(reply, str):  # JSON text, as the worker sends its replies
            try:
                reply = json.loads(reply)
            except ValueError:
                pass  # malformed: said below
        if not isinstance(reply, dict) or "ok" not in reply:
            self.kill(reason="malformed reply")
            raise WorkerCrashedError(
                self.spec.name, f"malformed reply to {what} from {self.spec.name!r}: {reply!r}"
            )
        return reply

    def _stopped(self, what: str) -> WorkerError:
        reason = self._stop_reason or "it was stopped"
        return WorkerCrashedError(
            self.spec.name,
            f"{what} in code location {self.spec.name!r} was interrupted: {reason}",
        )

    def _crashed(self, what: str, process: _Process) -> WorkerError:
        """The error for a process that died; forgets the process so the next call restarts."""
        if self._process is not process:  # stopped on purpose from another thread
            return self._stopped(what)
        junk = process.io.corruption if process.io is not None else None
        if junk is not None:
            self._stop_process(graceful=False, reason="its channel was corrupted")
            return WorkerCrashedError(
                self.spec.name,
                f"the channel of code location {self.spec.name!r} was corrupted during "
                f"{what}: something in its process (pid {process.pid}) wrote {junk!r} into "
                f"the pipe that carries the worker's replies. Its worker was killed and will "
                f"be restarted by the next call. Print to sys.stdout (it is captured), and "
                f"never write to a file descriptor your code did not open",
            )
        code = _wait(process.popen, 5.0)
        tail = process.stderr_tail()
        self._stop_process(graceful=False, reason="it died")
        message = (
            f"the worker of code location {self.spec.name!r} (pid {process.pid}) "
            f"{describe_exit(code)} during {what}; it will be restarted by the next call"
        )
        if code == _worker.PARENT_GONE_STATUS:
            message += " (it exits with this status when it loses its parent process)"
        if tail:
            message += f"\nits last output on stderr:\n{_without_our_frames(tail)}"
        return WorkerCrashedError(self.spec.name, message)


#: Calls after which a worker with ``fresh_worker`` is stopped: one job, one process.
FRESH_WORKER_AFTER = frozenset({"build_job", "execute_job", "evaluate_schedule", "evaluate_sensor"})


class _NotYet(Exception):
    """A reply looked for without waiting (:meth:`LocationWorker.poll`) has not arrived."""


def _deadline(timeout: Optional[float]) -> Optional[float]:
    """The monotonic time ``timeout`` seconds from now (None: no limit)."""
    return None if timeout is None else time.monotonic() + timeout


def _call_text(command: str, arguments: Mapping[str, Any]) -> str:
    """``execute_job of job 'x'``: a call, as messages name it."""
    for key in ("job", "schedule", "sensor"):
        if key in arguments:
            return f"{command} of {key} {arguments[key]!r}"
    return command


def _without_our_frames(text: str) -> str:
    """A faulthandler dump without the frames of the worker, execnet and definitions."""
    ours = (
        f'File "{_worker.__file__}"',
        'File "<string>"',
        'File "<pytest_workspace.',
        'File "<execnet.',
    )
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith(ours))


def _kill(popen: WorkerPopen) -> None:
    """Kill a worker and everything its user code started.

    That is its process group, and (the worker being a child subreaper) every descendant,
    also those that left the group with ``setsid``. Each is signalled only while its pid
    names the process it did when found (its start time): a forked worker is reaped by
    its zygote, ours by ``_wait``, and then its pid may be another process's.
    """
    if _OWN_PROCESS_GROUP:
        # A reaped worker has no descendants left to find, but its group may live on
        # (a pid that still names a group is never reused).
        _reaper.kill_tree(popen.pid, popen.started, with_descendants=popen.returncode is None)
    _guardian.forget(popen.pid)
    if popen.poll() is None:
        try:
            popen.kill()
        except OSError:
            pass


def _wait(popen: WorkerPopen, timeout: Optional[float]) -> Optional[int]:
    """The process's exit status, reaping it; None if it is still running after timeout.

    ``Popen.wait(timeout)`` polls with sleeps that double from 0.5 ms, so it notices an
    exit up to twice as late as it happened (a worker that exits in 16 ms is seen at
    31.5 ms, on every close). A pidfd (Linux 5.3+, Python 3.9+) wakes us at the exit.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if isinstance(popen, ForkedPopen):  # which waits on a pidfd of its own
        pidfd_open = None
    if timeout is not None and popen.returncode is None and pidfd_open is not None:
        try:
            pidfd = pidfd_open(popen.pid)
        except OSError:
            pass  # an older kernel: poll as Popen does
        else:
            try:
                exited, _, _ = select.select([pidfd], [], [], timeout)
            finally:
                os.close(pidfd)
            if not exited and popen.poll() is None:
                return None
            return popen.wait()
    try:
        return popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _exit_gateway(gateway: Any) -> None:
    try:
        gateway.exit()
    except Exception:
        pass


#: Dagster (or a dagster-* integration) missing from the location's interpreter.
#: Dagster, or one of its libraries (``dagster_dbt``), not installed at all.
_MISSING_DAGSTER = re.compile(r"No module named '(dagster|dagster_\w+)(\.[\w.]+)?'$")


def load_error_message(spec: LocationSpec, error: Mapping[str, Any], executable: str) -> str:
    """The message of a LocationLoadError for an error the worker reported while loading
    in the interpreter ``executable``."""
    kind = error.get("kind")
    type_name = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    if kind == "load":
        return message  # the worker's own explanation, which says what to do
    short_type = type_name.rpartition(".")[2]
    target = f"{spec.kind.replace('_', ' ')} {spec.target}"
    if type_name == "SystemExit":
        return (
            f"importing {target} called sys.exit({message}); code that runs a program should "
            f"sit under `if __name__ == '__main__':`"
        )
    if kind == "definition":
        return f"{short_type}: {message}"
    missing = _MISSING_DAGSTER.match(message) if short_type == "ModuleNotFoundError" else None
    if missing and missing.group(2) and error.get("has_library"):
        # dagster is there, its submodule is not: a private module this release moved.
        return (
            f"importing {target} raised {short_type}: {message}: {missing.group(1)} is "
            f"installed in {executable}, but this release of it has no such module (a "
            "private module, which Dagster moves between releases); import the name from "
            f"the public API (`import {missing.group(1)}`), or pin the release the code "
            "was written for"
        )
    if missing:
        return (
            f"importing {target} raised {short_type}: {message}: the location's interpreter "
            f"{executable} does not have it installed; install it in that environment (for a "
            "dg project, `uv sync` in the project), or point executable_path (or the "
            "project's .venv) at an interpreter that has it"
        )
    # Raised once the module was imported: while its definitions were gathered.
    doing = (
        f"loading the definitions of {target}" if error.get("imported") else f"importing {target}"
    )
    return (
        f"{doing} raised {short_type}: {message}; fix the error in your code "
        f"(the traceback below is from the location's own process)"
    )


def load_error_summary(error: Mapping[str, Any]) -> str:
    """The exception a location's code raised while loading, on one line: its class (no
    module) and its message's first line, whatever lines follow (Dagster's *did you
    mean*). Empty for the worker's own load errors, whose message is the reason."""
    if error.get("kind") == "load":
        return ""
    if error.get("summary"):
        return str(error["summary"])
    short_type = str(error.get("type", "Exception")).rpartition(".")[2]
    lines = [line.strip() for line in str(error.get("message", "")).splitlines() if line.strip()]
    return f"{short_type}: {lines[0]}" if lines else short_type


def remote_error(data: Mapping[str, Any]) -> RemoteError:
    """The host-side exception for an error reply."""
    kind = data.get("kind")
    if kind == "config":
        return RemoteRunConfigError(data)
    if kind == "definition":
        return RemoteDefinitionError(data)
    return RemoteError(data)

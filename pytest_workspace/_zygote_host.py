"""Zygotes, the host's side: one process per interpreter that imports Dagster once and
forks a worker for each Dagster location of that interpreter (``_zygote.py`` is the
zygote's own code; docs/protocol.md, "Zygotes", describes the exchange).

Ten Dagster locations of one virtualenv cost ten imports of Dagster (2-3 s of CPU
each); forked from one process that imported it, they cost one. Nothing here is needed
for a location to load: whenever a zygote cannot serve (another OS, an interpreter where
Dagster does not import, a zygote that died or stopped answering), the location's worker
is started as an interpreter of its own, as without zygotes. Linux only.
"""

from __future__ import annotations

import array
import inspect
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Callable, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Tuple

from . import _reaper
from .config import LocationSpec

#: The ``returncode`` of a forked worker whose exit status nobody can tell any more:
#: its zygote died before it (never a real status, which is -64..255).
UNKNOWN_EXIT = 1 << 16
#: How long a forked worker's exit status may take to arrive from its zygote.
REPORT_WAIT = 5.0
#: How long a live zygote may take to answer a fork request before it is given up.
FORK_WAIT = 10.0
#: How often a wait for a zygote's imports looks whether its caller gave up.
CANCEL_POLL = 0.1
#: How long a zygote asked to exit may take before it is killed.
EXIT_GRACE = 1.0


def preload() -> Tuple[str, ...]:
    """What a zygote imports: Dagster, then what a Dagster instance imports on first use
    (imported here only when a zygote starts: the backend imports the definitions API)."""
    from . import _backend_dagster

    return ("dagster", *_backend_dagster._INSTANCE_MODULES)


#: How much of a file the "does it import Dagster" guess reads.
SCAN_BYTES = 1 << 20
#: How many files of a package's folder the guess reads.
SCAN_FILES = 50
_IMPORTS_DAGSTER = re.compile(rb"^[ \t]*(?:from|import)[ \t]+dagster", re.M)


class Guardian(Protocol):
    def watch(self, pid: int, started: Optional[int]) -> None: ...

    def forget(self, pid: int) -> None: ...


def supported() -> bool:
    """Whether this host can use zygotes: Linux, with pidfds (5.3+) and ``/proc``."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "pidfd_open")
        and hasattr(signal, "pidfd_send_signal")
        and hasattr(socket, "SOCK_SEQPACKET")
        and os.path.isdir("/proc/self/task")
    )


#: The variables an interpreter reads when it starts, and not later: ``PYTHONPATH``,
#: ``PYTHONHASHSEED``, ``PYTHONWARNINGS``... A forked worker never started.
STARTUP_PREFIX = "PYTHON"


def startup_changes(environ: Mapping[str, str], before: Mapping[str, str]) -> List[str]:
    """The variables of :data:`STARTUP_PREFIX` that differ between ``before`` (a
    zygote's environment when it started) and ``environ`` (a worker's): a worker forked
    with ``environ`` would not run as one started with it."""
    names = {name for name in (*environ, *before) if name.startswith(STARTUP_PREFIX)}
    return sorted(name for name in names if environ.get(name) != before.get(name))


def imports_dagster(spec: LocationSpec) -> bool:
    """A cheap guess: would this location's code import Dagster? A dg project does;
    a file, module or package does if its source says ``import dagster``/``from
    dagster...``. A wrong "no" only loses the speed-up; a wrong "yes" costs a zygote."""
    if spec.kind == "autoload_defs_module":
        return True
    if spec.kind == "python_file":
        return _file_imports_dagster(spec.target)
    parts = spec.target.split(".")
    for folder in [spec.working_directory or os.getcwd(), *spec.python_path]:
        base = os.path.join(folder, *parts)
        if os.path.isfile(base + ".py"):
            return _file_imports_dagster(base + ".py")
        if os.path.isfile(os.path.join(base, "__init__.py")):
            try:
                names = sorted(n for n in os.listdir(base) if n.endswith(".py"))
            except OSError:
                return False
            return any(_file_imports_dagster(os.path.join(base, n)) for n in names[:SCAN_FILES])
    return False


def _file_imports_dagster(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return _IMPORTS_DAGSTER.search(handle.read(SCAN_BYTES)) is not None
    except OSError:
        return False


def zygote_source(control_fd: int, modules: Sequence[str]) -> str:
    """The line that turns execnet's popen bootstrap into a zygote of ``modules``."""
    from . import _zygote

    return ascii(f"{inspect.getsource(_zygote)}\nmain({control_fd}, {list(modules)!r})\n")


class ForkedPopen:
    """A worker forked by a zygote, with what ``subprocess.Popen`` offers the host.

    Its exit is seen through a pidfd (it is the zygote's child, not ours); its exit
    status comes from the zygote's report, or is :data:`UNKNOWN_EXIT` once the zygote
    is gone. Signals go through the pidfd, so they never reach a reused pid; those sent
    to its group and descendants check its start time (:attr:`started`).
    """

    def __init__(
        self,
        zygote: Zygote,
        pid: int,
        pidfd: Optional[int],
        stdin: IO[bytes],
        stdout: IO[bytes],
        started: Optional[int] = None,
    ) -> None:
        self.args = [zygote.executable, "(forked by its zygote)"]
        self.pid = pid
        #: When it started (``_reaper.start_time``), read once its pidfd was open.
        self.started = started
        self.returncode: Optional[int] = None
        self.stdin: Optional[IO[bytes]] = stdin
        self.stdout: Optional[IO[bytes]] = stdout
        self._zygote = zygote
        # Closed only with this object: another thread may be waiting on it.
        self._pidfd = pidfd

    def poll(self) -> Optional[int]:
        if self.returncode is None and self._exited(0.0):
            self._collect()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None:
            if not self._exited(timeout):
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._collect()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.returncode is None and self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, number)
            except OSError:
                pass  # gone already

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _exited(self, timeout: Optional[float]) -> bool:
        if self._pidfd is None:  # it was gone before we could open one
            return True
        return bool(select.select([self._pidfd], [], [], timeout)[0])

    def _collect(self) -> None:
        code = self._zygote.exit_status(self.pid, REPORT_WAIT)
        if self.returncode is None:
            self.returncode = UNKNOWN_EXIT if code is None else code

    def __del__(self) -> None:
        if self._pidfd is not None:
            try:
                os.close(self._pidfd)
            except OSError:
                pass


class Zygote:
    """One zygote process of one interpreter (see the module's docstring)."""

    def __init__(
        self, executable: str, guardian: Guardian, modules: Optional[Sequence[str]] = None
    ) -> None:
        self.executable = executable
        #: What it imports before it forks (the first one must import; None: preload()).
        self.modules = tuple(preload() if modules is None else modules)
        self._guardian = guardian
        self._changed = threading.Condition(threading.Lock())
        #: starting -> ready -> gone, or starting -> failed
        self.state = "starting"
        #: Why the zygote could not serve, when it could not.
        self.failure: Optional[str] = None
        self._popen: Optional[subprocess.Popen[bytes]] = None
        self._control: Optional[socket.socket] = None
        self._last_id = 0
        self._replies: Dict[int, Tuple[bytes, bytes]] = {}
        self._exits: Dict[int, int] = {}
        #: The host's environment when the zygote started, which the zygote has.
        self._environ: Dict[str, str] = {}

    @property
    def pid(self) -> Optional[int]:
        return self._popen.pid if self._popen is not None else None

    def start(self) -> None:
        """Start the process; it imports Dagster while the host goes on."""
        from . import _zygote

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        their_fd = theirs.fileno()  # pass_fds keeps the number in the zygote
        stderr = tempfile.TemporaryFile()
        self._environ = dict(os.environ)
        try:
            popen = subprocess.Popen(
                [self.executable, "-u", "-c", _zygote.BOOTSTRAP_LINE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=[their_fd],
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            self._fail(f"could not start {self.executable}: {exc}")
            return
        finally:
            theirs.close()
            stderr.close()  # the zygote keeps its own descriptor of the file
        self._popen, self._control = popen, ours
        self._guardian.watch(popen.pid, _reaper.start_time(popen.pid))
        assert popen.stdin is not None
        try:
            popen.stdin.write((zygote_source(their_fd, self.modules) + "\n").encode("ascii"))
            popen.stdin.close()
        except OSError as exc:
            self._fail(f"could not send the zygote its code: {exc}")
        threading.Thread(target=self._read, name="pytest-workspace-zygote", daemon=True).start()

    def _fail(self, reason: str) -> None:
        with self._changed:
            if self.state in ("starting", "ready"):
                self.state = "failed" if self.state == "starting" else "gone"
                self.failure = reason
            self._changed.notify_all()

    def _read(self) -> None:
        """Read the zygote's messages until it closes its end (it exited, or died)."""
        control = self._control
        assert control is not None
        while True:
            try:
                message = control.recv(65536)
            except OSError:
                message = b""
            if not message:
                break
            with self._changed:
                try:
                    self._take(message)
                except ValueError:  # not the zygote's message: nothing it says is trusted
                    break
                finally:
                    self._changed.notify_all()
        self._fail("the zygote exited")
        control.close()
        popen = self._popen
        if popen is not None:
            try:
                popen.wait(EXIT_GRACE)
            except subprocess.TimeoutExpired:  # it closed the socket yet lives on
                popen.kill()
                popen.wait()
            self._guardian.forget(popen.pid)

    def _take(self, message: bytes) -> None:
        kind, _, rest = message.partition(b" ")
        if kind == b"ready" and self.state == "starting":
            self.state = "ready"
        elif kind == b"error":
            self.state, self.failure = "failed", rest.decode("utf-8", "replace")
        elif kind in (b"forked", b"refused"):
            request_id, _, value = rest.partition(b" ")
            self._replies[int(request_id)] = (kind, value)
        elif kind == b"exit":
            pid, code = rest.split()
            self._exits[int(pid)] = int(code)
        else:
            raise ValueError(message)

    def wait_ready(self, timeout: float, cancelled: Callable[[], bool] = bool) -> bool:
        """Wait for the zygote's imports; False if it failed, or on ``timeout``, or once
        ``cancelled()`` (looked at every :data:`CANCEL_POLL` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.state == "starting":
                left = deadline - time.monotonic()
                if left <= 0 or cancelled():
                    return False
                self._changed.wait(min(left, CANCEL_POLL))
            return self.state == "ready"

    @property
    def serving(self) -> bool:
        return self.state in ("starting", "ready")

    def fork(
        self,
        stderr: IO[bytes],
        timeout: float,
        cancelled: Callable[[], bool] = bool,
        environ: Optional[Dict[str, str]] = None,
    ) -> Optional[ForkedPopen]:
        """A worker forked from the zygote, with the environment ``environ`` (None: the
        host's, as a started worker gets it), or None when it cannot give one (the host
        then starts the worker itself). Waits for the zygote's imports, up to ``timeout``
        or until ``cancelled()``."""
        started = time.monotonic()
        if not self.wait_ready(timeout, cancelled):
            return None
        control = self._control
        assert control is not None
        with self._changed:
            self._last_id += 1
            request_id = self._last_id
        try:
            request = json.dumps(
                {"id": request_id, "cwd": os.getcwd(), **self._environ_since(environ)}
            )
        except OSError:  # the current directory is gone: Popen would fail the same way
            return None
        stdin_read, stdin_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        fds = array.array("i", [stdin_read, stdout_write, stderr.fileno()])
        try:
            control.sendmsg(
                [b"fork " + request.encode("utf-8")],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())],
            )
        except OSError:
            os.close(stdin_write)
            os.close(stdout_read)
            return None
        finally:
            os.close(stdin_read)
            os.close(stdout_write)
        left = min(FORK_WAIT, max(0.0, timeout - (time.monotonic() - started)))
        reply = self._reply(request_id, left)
        if reply is None or reply[0] != b"forked":
            os.close(stdin_write)
            os.close(stdout_read)
            if reply is None and self.serving:  # stuck (stopped?): never ask it again
                self.stop(kill=True)
            return None
        pid = int(reply[1])
        try:
            pidfd: Optional[int] = os.pidfd_open(pid)
        except OSError:
            pidfd = None  # gone already: its exit report says how
        # Read after the pidfd pins the process: the start time is the worker's.
        start = None if pidfd is None else _reaper.start_time(pid)
        return ForkedPopen(
            self, pid, pidfd, os.fdopen(stdin_write, "wb"), os.fdopen(stdout_read, "rb"), start
        )

    def forks_alike(self, environ: Optional[Mapping[str, str]] = None) -> bool:
        """Whether a worker forked with ``environ`` (None: the host's now) is what a
        started one would be: no variable the interpreter reads at start differs from
        the zygote's (a location's .env setting ``PYTHONPATH``, say)."""
        return not startup_changes(os.environ if environ is None else environ, self._environ)

    def _environ_since(self, environ: Optional[Dict[str, str]] = None) -> Dict[str, object]:
        """How ``environ`` (default: the host's environment now; a location's is the
        host's with its .env variables) differs from the host's when the zygote started.
        The zygote's own is the one an interpreter started then got (from a wrapper
        script, say, that sets variables before it runs Python): a worker gets it with
        these changes."""
        now = dict(os.environ if environ is None else environ)
        before = self._environ
        return {
            "setenv": {key: value for key, value in now.items() if before.get(key) != value},
            "unsetenv": [key for key in before if key not in now],
        }

    def _reply(self, request_id: int, timeout: float) -> Optional[Tuple[bytes, bytes]]:
        with self._changed:
            self._changed.wait_for(
                lambda: request_id in self._replies or self.state != "ready", timeout
            )
            return self._replies.pop(request_id, None)

    def exit_status(self, pid: int, timeout: float) -> Optional[int]:
        """The exit status the zygote reported for its child ``pid`` (which has exited);
        None if the zygote is gone or does not tell within ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self.state != "ready", timeout)
            return self._exits.get(pid)

    def stop(self, kill: bool = False) -> None:
        """Close the control socket (the zygote exits), or kill the zygote (also one
        still importing, whose imports nobody waits for now); its workers are not
        touched."""
        kill = kill or self.state == "starting"
        self._fail("the zygote was stopped")
        popen, control = self._popen, self._control
        if kill and popen is not None and popen.poll() is None:
            popen.kill()
        if control is not None:
            try:
                control.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if popen is not None:
            try:
                popen.wait(EXIT_GRACE)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
            self._guardian.forget(popen.pid)


class Zygotes:
    """The zygotes of one workspace, one per interpreter, started on demand."""

    def __init__(self, guardian: Guardian) -> None:
        self._guardian = guardian
        self._lock = threading.Lock()
        self._zygotes: Dict[str, Zygote] = {}
        self._closed = False

    def prepare(self, candidates: Iterable[Tuple[str, LocationSpec]], minimum: int = 2) -> None:
        """Start a zygote for each interpreter that at least ``minimum`` of the
        locations about to start (``(executable, spec)`` pairs) would use for Dagster."""
        if not supported():
            return
        counts: Dict[str, int] = {}
        for executable, spec in candidates:
            if executable in self._zygotes or not imports_dagster(spec):
                continue
            counts[executable] = counts.get(executable, 0) + 1
        starting: List[Zygote] = []
        with self._lock:
            if self._closed:
                return
            for executable, count in counts.items():
                if count >= minimum and executable not in self._zygotes:
                    zygote = Zygote(executable, self._guardian)
                    self._zygotes[executable] = zygote
                    starting.append(zygote)
        for zygote in starting:
            zygote.start()

    def get(self, executable: str) -> Optional[Zygote]:
        """The serving zygote of an interpreter, if there is one."""
        zygote = self._zygotes.get(executable)
        return zygote if zygote is not None and zygote.serving else None

    @property
    def all(self) -> Sequence[Zygote]:
        return list(self._zygotes.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            zygotes = list(self._zygotes.values())
        for zygote in zygotes:
            zygote.stop()

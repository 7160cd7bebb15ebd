"""One worker process per code location: start, call, time out, restart, stop.

Each location gets an execnet popen gateway in its own interpreter. The worker code
(``_worker.py``) and the modules it needs travel over the gateway, so the target
interpreter needs nothing of ours installed. One channel per worker carries the
requests of :mod:`pytest_workspace.protocol`, one at a time.
"""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Optional

import execnet

from . import _worker, definitions, protocol
from .config import LocationSpec
from .errors import (
    LocationLoadError,
    RemoteDefinitionError,
    RemoteError,
    RunConfigError,
    WorkerCrashedError,
    WorkerTimeoutError,
)

#: How long one request may take by default, in seconds (``None``: no limit).
DEFAULT_TIMEOUT: Optional[float] = 300.0
#: How long a worker may take to start and answer ``init`` (interpreter start-up).
START_TIMEOUT = 60.0
MIN_PYTHON = (3, 8)


@lru_cache(maxsize=None)
def shipped_modules() -> Dict[str, str]:
    """The modules sent to every worker: name -> source text (read once per process)."""
    return {
        "pytest_workspace.protocol": inspect.getsource(protocol),
        "pytest_workspace.definitions": inspect.getsource(definitions),
    }


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
                f"of a Python interpreter",
            )
        executable = found
    if not os.path.exists(executable):
        raise LocationLoadError(
            spec.name,
            f"executable_path {executable} does not exist; point it at a Python 3.8+ "
            f"interpreter (e.g. a virtualenv's bin/python)",
        )
    if os.path.isdir(executable) or not os.access(executable, os.X_OK):
        raise LocationLoadError(
            spec.name, f"executable_path {executable} is not an executable file"
        )
    return executable


def probe_python_version(executable: str) -> Optional[str]:
    """The ``X.Y.Z`` version of an interpreter, or None if it would not tell.

    Used only to explain a worker that failed to start: it costs one more process.
    """
    try:
        completed = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = completed.stdout.strip()
    return version if completed.returncode == 0 and version else None


@dataclass(frozen=True)
class InterpreterInfo:
    """What a worker said about its interpreter when it started."""

    executable: str
    python_version: tuple[int, ...]
    prefix: str
    pid: int


class LocationWorker:
    """The process of one code location and the channel to it.

    Calls are serialised by a lock. A call that times out kills the process; a process
    that dies fails the call in flight; either way the next call starts a new process
    and loads the location's code again.
    """

    def __init__(
        self,
        spec: LocationSpec,
        group: execnet.Group,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.timeout = timeout
        self._group = group
        self._lock = threading.RLock()
        self._gateway: Any = None
        self._channel: Any = None
        self.info: Optional[InterpreterInfo] = None
        self.description: Optional[Dict[str, Any]] = None
        self.starts = 0
        self.closed = False

    # -- life cycle ----------------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """The pid of the running worker process, if any."""
        return self.info.pid if self.info is not None and self._gateway is not None else None

    @property
    def alive(self) -> bool:
        """True while a worker process is running for this location."""
        return self._gateway is not None and self._popen_returncode() is None

    def start(self) -> Dict[str, Any]:
        """Start the worker and load the location; returns the location's description.

        Raises LocationLoadError if the process cannot start or the code cannot load.
        """
        with self._lock:
            if self.closed:
                raise LocationLoadError(self.spec.name, "the workspace was closed")
            self._stop_process()
            executable = resolve_executable(self.spec)
            self.starts += 1
            try:
                gateway = self._group.makegateway(
                    execnet.XSpec(f"popen//python={executable}//id={self._gateway_id()}")
                )
            except Exception as exc:
                raise self._start_failure(executable, f"{type(exc).__name__}: {exc}") from None
            self._gateway = gateway
            self._channel = gateway.remote_exec(_worker)
            self._channel.send(
                {
                    "cmd": "init",
                    "protocol": protocol.PROTOCOL_VERSION,
                    "host_pid": os.getpid(),
                    "location": self._location_message(),
                    "modules": shipped_modules(),
                }
            )
            # Pipelined: the worker answers init, then load, in order.
            self._channel.send({"cmd": "load"})
            try:
                info = self._receive(START_TIMEOUT, "init")
            except (WorkerCrashedError, WorkerTimeoutError, RemoteError) as exc:
                self._stop_process()
                raise self._start_failure(executable, str(exc)) from None
            self.info = InterpreterInfo(
                executable=str(info["executable"]),
                python_version=tuple(int(part) for part in info["python_version"]),
                prefix=str(info["prefix"]),
                pid=int(info["pid"]),
            )
            try:
                description = self._receive(self.timeout, "load")
            except (WorkerCrashedError, WorkerTimeoutError) as exc:
                raise LocationLoadError(self.spec.name, str(exc)) from None
            self.description = description
            error = description.get("load_error")
            if error:
                raise LocationLoadError(
                    self.spec.name,
                    f"{error['type']}: {error['message']}",
                    remote_traceback=str(error.get("traceback", "")),
                )
            return description

    def _gateway_id(self) -> str:
        safe = "".join(c if c.isalnum() else "-" for c in self.spec.name)
        return f"{safe}-{id(self):x}-{self.starts}"

    def _location_message(self) -> Dict[str, Any]:
        spec = self.spec
        return {
            "name": spec.name,
            "kind": spec.kind,
            "target": spec.target,
            "attribute": spec.attribute,
            "working_directory": spec.working_directory,
        }

    def _start_failure(self, executable: str, detail: str) -> LocationLoadError:
        version = probe_python_version(executable)
        if version is None:
            reason = (
                f"could not start a Python worker with {executable} ({detail}); is it a "
                f"working Python interpreter?"
            )
        elif tuple(int(p) for p in version.split(".")[:2]) < MIN_PYTHON:
            reason = (
                f"{executable} is Python {version}; code locations need Python "
                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer"
            )
        else:
            reason = f"the worker in {executable} (Python {version}) failed to start: {detail}"
        return LocationLoadError(self.spec.name, reason)

    def close(self) -> None:
        """Stop the worker process for good."""
        with self._lock:
            self.closed = True
            self._stop_process()

    def kill(self) -> None:
        """Kill the worker process now (the next call restarts it)."""
        self._stop_process(graceful=False)

    def _stop_process(self, graceful: bool = True) -> None:
        gateway, self._gateway, self._channel = self._gateway, None, None
        if gateway is None:
            return
        popen = getattr(gateway._io, "popen", None)
        if graceful and popen is not None and popen.poll() is None:
            try:
                gateway.exit()
                popen.wait(timeout=2)
            except Exception:
                pass
        if popen is not None and popen.poll() is None:
            popen.kill()
            popen.wait()
        try:
            gateway.join(timeout=2)
        except Exception:
            pass
        try:
            self._group._unregister(gateway)
        except Exception:
            pass

    def _popen_returncode(self) -> Optional[int]:
        popen = getattr(getattr(self._gateway, "_io", None), "popen", None)
        return None if popen is None else popen.poll()

    # -- calls ---------------------------------------------------------------------------

    def call(self, command: str, timeout: Optional[float] = None, **arguments: Any) -> Any:
        """Send one request and return its result; restart the worker first if needed.

        Raises WorkerTimeoutError, WorkerCrashedError, RemoteError (and subclasses),
        or LocationLoadError when a restart fails.
        """
        with self._lock:
            if self._gateway is None or self._popen_returncode() is not None:
                self.start()
            self._channel.send({"cmd": command, **arguments})
            return self._receive(self.timeout if timeout is None else timeout, command)

    def _receive(self, timeout: Optional[float], what: str) -> Any:
        channel = self._channel
        try:
            reply = channel.receive(timeout)
        except channel.TimeoutError:
            pid = self.info.pid if self.info else None
            self.kill()
            raise WorkerTimeoutError(
                self.spec.name,
                f"{what} in code location {self.spec.name!r} did not finish within "
                f"{timeout:g}s; the worker (pid {pid}) was killed. Raise the limit with "
                f"--workspace-timeout (ini: workspace_timeout) if it needs longer",
            ) from None
        except (EOFError, OSError, execnet.RemoteError) as exc:
            raise self._crashed(what, exc) from None
        if not isinstance(reply, dict) or "ok" not in reply:
            raise WorkerCrashedError(self.spec.name, f"malformed reply to {what}: {reply!r}")
        if reply["ok"]:
            return reply["result"]
        raise remote_error(reply["error"])

    def _crashed(self, what: str, exc: BaseException) -> WorkerCrashedError:
        popen = getattr(getattr(self._gateway, "_io", None), "popen", None)
        code = None
        if popen is not None:
            try:
                code = popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        pid = self.info.pid if self.info else (popen.pid if popen is not None else None)
        self._stop_process(graceful=False)
        if code is None:
            how = f"stopped answering ({type(exc).__name__}: {exc})"
        elif code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        return WorkerCrashedError(
            self.spec.name,
            f"the worker of code location {self.spec.name!r} (pid {pid}) {how} during "
            f"{what}; it will be restarted for the next call",
        )


def remote_error(data: Dict[str, Any]) -> RemoteError:
    """The host-side exception for an error reply."""
    kind = data.get("kind")
    if kind == "config":
        return RunConfigError(data)
    if kind == "definition":
        return RemoteDefinitionError(data)
    return RemoteError(data)


def workers_alive(workers: List[LocationWorker]) -> List[int]:
    """Pids of the workers still running (used by tests and diagnostics)."""
    return [w.pid for w in workers if w.alive and w.pid is not None]

"""The zygote: one process per interpreter that imports Dagster once and forks workers.

Runs in a location's interpreter, never in the host: standard library only, Python
3.8+, Linux (``os.fork``, ``/proc``). The host starts it exactly as it starts a worker,
``python -u -c "import sys;exec(eval(sys.stdin.readline()))"`` (execnet's popen command
line), and sends this module's source followed by a call of :func:`main` as that one
line. It imports the modules it is given (Dagster), reports ``ready`` on its control
socket, and then serves requests there, single-threaded:

- ``fork <json>`` with three file descriptors (the new worker's stdin, stdout and
  stderr): it forks a child that becomes a worker as if the host had started it (its own
  session, those three descriptors, the host's current directory and environment, a
  fresh ``__main__`` running execnet's popen bootstrap line: the host's bootstrap then
  proceeds as with a started interpreter), and answers ``forked <id> <pid>`` (or
  ``refused <id> <reason>``);
- it reaps its children and reports each one's exit as ``exit <pid> <returncode>``.

It exits when the host closes the control socket or dies. See docs/protocol.md.
"""

import gc
import json
import os
import select
import signal
import socket
import sys
import types

#: The line a started worker runs first (execnet's ``gateway_io.popen_bootstrapline``).
BOOTSTRAP_LINE = "import sys;exec(eval(sys.stdin.readline()))"
#: How often the zygote looks at its parent (the host), in seconds.
WATCH_INTERVAL = 0.2
#: The largest request: its environment travels in it.
MAX_REQUEST = 1 << 20
#: The exit status of a child whose start went wrong before the bootstrap ran.
CHILD_FAILED_STATUS = 71


def main(control_fd, modules):
    """Import ``modules`` (the first must import), report ``ready``, then serve."""
    host = os.getppid()
    host_started = start_time(host)
    control = socket.socket(fileno=control_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the pipe that carried our source has nothing more for anyone
    os.close(null)
    try:
        failure = preload(modules)
    except BaseException as exc:  # SystemExit or KeyboardInterrupt of an import
        failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        control.send(b"error " + failure.encode("utf-8", "replace")[:4000])
        return
    # What the imports made lives as long as every worker: the collector never walks it
    # again, and a child's collections do not write to the pages it shares with us.
    gc.freeze()
    control.send(b"ready")
    serve(control, host, host_started)
    # Nothing of ours to clean up: tearing down what Dagster's import made takes time
    # the host would wait for at every close.
    os._exit(0)


def preload(modules):
    """Import the modules; the reason the first one failed, else None (the others may
    be missing in another version of the library). The collector is off meanwhile:
    what they make lives as long as the zygote, and its passes would free nothing."""
    import importlib

    gc.disable()
    try:
        for index, name in enumerate(modules):
            try:
                importlib.import_module(name)
            except Exception as exc:
                if index == 0:
                    return f"importing {name} failed: {type(exc).__name__}: {exc}"
    finally:
        gc.enable()
    if threads() != 1:
        return "the imports started a thread; a process with threads cannot fork safely"
    return None


def start_time(pid):
    """When ``pid`` started (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def threads():
    """The number of threads of this process (also those Python does not know of)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def serve(control, host, host_started):
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    private = (control, wake_read, wake_write)
    while True:
        readable = select.select([control, wake_read], [], [], WATCH_INTERVAL)[0]
        if wake_read in readable:
            try:
                os.read(wake_read, 4096)
            except OSError:
                pass
        report_exits(control)
        if os.getppid() != host:
            return
        if control in readable:
            try:
                message, ancillary, _, _ = control.recvmsg(
                    MAX_REQUEST, socket.CMSG_SPACE(3 * 4), getattr(socket, "MSG_CMSG_CLOEXEC", 0)
                )
            except OSError:
                return
            if not message:  # the host closed the socket (or died)
                return
            fds = received_fds(ancillary)
            try:
                answer(control, message, fds, private, (host, host_started))
            finally:
                for fd in fds:
                    os.close(fd)


def received_fds(ancillary):
    import array

    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)


def report_exits(control):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        try:
            control.send(b"exit %d %d" % (pid, code))
        except OSError:
            pass


def answer(control, message, fds, private, host):
    command, _, body = message.partition(b" ")
    try:
        request = json.loads(body.decode("utf-8"))
        request_id = int(request["id"])
    except (ValueError, KeyError, TypeError):
        return
    if command != b"fork" or len(fds) != 3:
        control.send(b"refused %d not a fork request with three descriptors" % request_id)
        return
    if threads() != 1:
        control.send(b"refused %d the zygote has threads" % request_id)
        return
    try:
        pid = os.fork()
    except OSError as exc:
        control.send(b"refused %d %s" % (request_id, str(exc).encode("utf-8", "replace")))
        return
    if pid == 0:
        status = CHILD_FAILED_STATUS
        try:
            become_worker(fds, request, private, host)
            status = 0
        except SystemExit as exc:
            status = exit_status(exc.code)
        except BaseException:
            import traceback

            traceback.print_exc()
        finish(status)
    control.send(b"forked %d %d" % (request_id, pid))


def become_worker(fds, request, private, host):
    """In the child: be what the host would have started, then run the bootstrap line."""
    os.setsid()  # a process group and session of its own, as the host gives a worker
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    control, wake_read, wake_write = private
    control.close()
    os.close(wake_read)
    os.close(wake_write)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    del fds[:]  # closed here: the caller's clean-up must not close them again
    fresh_stdio()
    os.chdir(request["cwd"])
    # Ours is what the interpreter got when it started; the host's changes since apply.
    for key in request["unsetenv"]:
        os.environ.pop(key, None)
    os.environ.update(request["setenv"])
    main_module = types.ModuleType("__main__")
    old_main = sys.modules["__main__"]
    main_module.__dict__.update(
        __builtins__=old_main.__dict__["__builtins__"],
        __loader__=old_main.__dict__.get("__loader__"),
        __spec__=None,
        # The worker's parent watch watches the host, not us (see _worker.watch_parent).
        pytest_workspace_host=host,
    )
    sys.modules["__main__"] = main_module
    exec(BOOTSTRAP_LINE, main_module.__dict__)


def fresh_stdio():
    """New ``sys.stdin``/``stdout``/``stderr`` on fds 0-2, made as the interpreter makes
    them: the zygote's own read its source line and may hold buffered state."""
    import io

    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old = getattr(sys, f"__{name}__") or getattr(sys, name)
        reading = fd == 0
        raw = io.FileIO(fd, "rb" if reading else "wb", closefd=False)
        buffered = reading or not isinstance(getattr(old, "buffer", None), io.FileIO)
        binary = raw
        if buffered:
            binary = io.BufferedReader(raw) if reading else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(
            binary,
            encoding=getattr(old, "encoding", None),
            errors=getattr(old, "errors", None),
            newline="\n",
            line_buffering=getattr(old, "line_buffering", False),
            write_through=getattr(old, "write_through", False),
        )
        try:
            raw.name = f"<{name}>"
        except AttributeError:
            pass
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:
        pass
    return 1


def finish(status):
    """End the child as the interpreter would end a started worker (it never returns
    into the zygote's loop): join non-daemon threads, run ``atexit``, flush."""
    try:
        import threading

        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(status)

"""Process trees: find and end every descendant of a worker, even one that escaped.

Standard library only, Python 3.8+: this module runs in three places.

- In the host, :func:`kill_tree` stops a worker and everything it started.
- In the worker (shipped over the gateway like ``definitions``), which makes itself a
  *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``): a process that double-forks and
  calls ``setsid`` leaves the worker's process group, but it is still re-parented to the
  worker, not to init. The worker ends what a call left running when the call ends.
- As the host's **guardian**: a tiny process (``python -c <this module>``) that the host
  starts once and tells the pid of every worker it starts. When the host dies, even by
  SIGKILL, the guardian ends every worker tree it was told of. It notices at once: its
  stdin (a pipe from the host) reaches end-of-file, and the kernel sends it SIGTERM
  (``PR_SET_PDEATHSIG``). A worker that is stopped (SIGSTOP) or stuck in a C call that
  holds the GIL cannot act for itself; the guardian acts for it.

On systems without ``/proc`` the tree is the worker's process group only.
"""

import os
import signal
import sys
from typing import Any, Collection, Dict, List, Optional, Tuple

#: ``prctl`` options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, value: int) -> bool:
    """Linux ``prctl(option, value)`` through ctypes; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (ImportError, OSError, AttributeError):
        return False


def _stat(pid: int) -> Optional[Tuple[int, str, int]]:
    """``(ppid, state, start_time)`` of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def start_time(pid: int) -> Optional[int]:
    """When a process started (clock ticks since boot): tells a pid from its reuse."""
    stat = _stat(pid)
    return None if stat is None else stat[2]


def _children(pid: int) -> List[int]:
    """The pids of ``pid``'s direct children (zombies included)."""
    children: List[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            return _children_by_scan(pid)  # a kernel without CONFIG_PROC_CHILDREN
    return children


def _children_by_scan(pid: int) -> List[int]:
    children: List[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] == pid:
                children.append(int(entry))
    return children


def has_children() -> bool:
    """Whether this process has a child (running or a zombie); True when unsure.

    ``waitid(WNOHANG | WNOWAIT)`` answers without reaping: it fails with ECHILD when
    there is no child at all. That is the worker's state after nearly every call, and
    asking costs a microsecond, where walking ``/proc`` costs ~70 us.
    """
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return True
    try:
        waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except OSError:
        return True
    return True


def descendants(pid: int) -> List[int]:
    """Every descendant of ``pid``, parents before children (empty without /proc)."""
    if pid == os.getpid() and not has_children():
        return []  # no child, so no descendant: orphans come back to a subreaper as children
    if not os.path.isdir(f"/proc/{pid}"):
        return []
    found: List[int] = []
    queue = [pid]
    while queue:
        for child in _children(queue.pop()):
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


def is_zombie(pid: int) -> bool:
    stat = _stat(pid)
    return stat is None or stat[1] == "Z"


def kill_processes(pids: Collection[int]) -> None:
    """SIGKILL each pid (what is gone already is skipped)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def kill_descendants(pid: int, spare: Collection[int] = ()) -> List[int]:
    """SIGKILL every live descendant of ``pid`` but those in ``spare``; returns them.

    Killed parents hand their children to the nearest subreaper (the worker), so the
    walk repeats until it finds nothing new alive.
    """
    killed: List[int] = []
    for _ in range(100):  # a fork bomb cannot keep us here forever
        alive = [p for p in descendants(pid) if p not in spare and not is_zombie(p)]
        if not alive:
            break
        kill_processes(alive)
        killed.extend(p for p in alive if p not in killed)
    return killed


def kill_tree(pid: int, with_descendants: bool = True) -> None:
    """End ``pid``, its process group (when it leads one) and all its descendants."""
    if with_descendants:
        kill_descendants(pid)
    if hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass  # it leads no group (any more)
    kill_processes([pid])


def reap(pids: Collection[int]) -> None:
    """Collect the exit status of those ``pids`` that are our children and have ended."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (OSError, ChildProcessError):
            pass


# -- the guardian --------------------------------------------------------------------------


def guard() -> None:
    """The guardian's main loop: ``+PID`` / ``-PID`` lines on stdin; EOF ends the host.

    A pid is remembered with its start time, so that a pid reused by an unrelated
    process after the worker was reaped is never killed.
    """
    watched: Dict[int, Optional[int]] = {}

    def end_all(*_: Any) -> None:
        for pid, started in list(watched.items()):
            if start_time(pid) == started:
                kill_tree(pid)
        os._exit(0)

    signal.signal(signal.SIGTERM, end_all)
    signal.signal(signal.SIGHUP, end_all)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    host = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != host:  # the host died before the signal was set up
        end_all()
    stdin = os.fdopen(0, "rb", buffering=0)
    pending = b""
    while True:
        try:
            chunk = stdin.read(4096)
        except OSError:
            chunk = b""
        if not chunk:
            end_all()
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            try:
                pid = int(line[1:])
            except ValueError:
                continue
            if line.startswith(b"+"):
                watched[pid] = start_time(pid)
            else:
                watched.pop(pid, None)


if __name__ == "__main__":
    guard()

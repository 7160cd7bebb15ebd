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

A pid names a process only until that process is reaped; then the kernel may give it
to another (``pid_max`` is 32768 on many systems). Every signal sent here therefore
names its process by pid *and* start time (:func:`start_time`), and is sent only while
the pid still names that process: through a pidfd where there is one (Linux 5.3+,
Python 3.9+: nothing can come between the check and the signal), else with ``kill``
just after the check. A process whose start time is not known is not signalled.

On systems without ``/proc`` the tree is the worker's process group only, and nothing
tells a pid from its reuse: a pid is signalled as it is.
"""

import os
import signal
import sys
import time
from typing import Any, Collection, Dict, List, Optional, Tuple

#: How long :func:`kill_descendants` waits at most for what it killed to exit.
KILL_WAIT = 1.0

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


#: Whether ``/proc`` tells start times (and so a process from its pid's reuse).
HAS_PROC = os.path.isdir("/proc/self")


def send_signal(pid: int, started: Optional[int], number: int = signal.SIGKILL) -> bool:
    """Send signal ``number`` to ``pid`` if it is still the process that started at
    ``started`` (:func:`start_time`); whether it was sent. Not to a process that is
    gone, nor to another that got its pid since, nor when ``started`` is None (nothing
    tells which process it was). Without ``/proc``: to ``pid``, whatever it is."""
    if not HAS_PROC:
        return _kill(pid, number)
    if started is None:
        return False
    pidfd = _pidfd(pid)
    if pidfd == -1:
        return False  # gone
    try:
        # With a pidfd opened first, a match means the pidfd is that process's.
        if start_time(pid) != started:
            return False
        if pidfd is None:
            return _kill(pid, number)
        signal.pidfd_send_signal(pidfd, number)
        return True
    except OSError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _pidfd(pid: int) -> Optional[int]:
    """A pidfd of ``pid``; -1 if there is no such process; None where pidfds are missing."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return int(pidfd_open(pid))
    except ProcessLookupError:
        return -1
    except OSError:  # an older kernel (ENOSYS), no descriptor left (EMFILE)...
        return None


def _kill(pid: int, number: int) -> bool:
    try:
        os.kill(pid, number)
    except OSError:
        return False
    return True


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


def _alive_descendants(pid: int, spare: Collection[int]) -> List[Tuple[int, Optional[int]]]:
    """``(pid, start time)`` of each live descendant of ``pid`` not in ``spare``.

    A pid listed as a child may have been reaped and reused before its start time is
    read: a process is kept only if its parent, read with that start time, is in the
    tree (orphans are the subreaper's, ``pid``'s, children).
    """
    found = descendants(pid)
    tree = {pid, *found}
    alive: List[Tuple[int, Optional[int]]] = []
    for child in found:
        if child in spare:
            continue
        stat = _stat(child)
        if stat is not None and stat[1] != "Z" and stat[0] in tree:
            alive.append((child, stat[2]))
    return alive


def kill_descendants(pid: int, spare: Collection[int] = ()) -> List[int]:
    """SIGKILL every live descendant of ``pid`` but those in ``spare``; returns them.

    Killed parents hand their children to the nearest subreaper (the worker), so the
    walk repeats until it finds nothing alive: each killed process has exited (a
    zombie, which its parent can reap at once), or :data:`KILL_WAIT` has passed.
    """
    killed: List[int] = []
    deadline = time.monotonic() + KILL_WAIT
    rounds = 0
    while time.monotonic() < deadline:  # a fork bomb cannot keep us here forever
        alive = _alive_descendants(pid, spare)
        if not alive:
            break
        for child, started in alive:
            send_signal(child, started)
        killed.extend(child for child, _ in alive if child not in killed)
        rounds += 1
        if rounds > 100:  # what is killed is slow to exit (a loaded machine): no spinning
            time.sleep(0.001)
    return killed


def kill_tree(pid: int, started: Optional[int], with_descendants: bool = True) -> None:
    """End the process ``pid`` that started at ``started`` (:func:`start_time`), its
    process group (when it leads one) and all its descendants.

    If ``pid`` names another process now (reused since), nothing is signalled: neither
    it, nor its descendants, nor a group it leads. If it is gone, its group is still
    ended: a pid that names a group is never given to a new process, so the group is
    what is left of ours. A process whose start time was not known (None) is left
    alone. Without ``/proc``, ``pid`` and its group are signalled as they are.
    """
    if HAS_PROC:
        if started is None:
            return
        now = start_time(pid)
        if now is not None and now != started:
            return
        with_descendants = with_descendants and now is not None
    if with_descendants:
        kill_descendants(pid)
    if hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass  # it leads no group (any more)
    send_signal(pid, started)


def reap(pids: Collection[int]) -> None:
    """Collect the exit status of those ``pids`` that are our children and have ended."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (OSError, ChildProcessError):
            pass


# -- the guardian --------------------------------------------------------------------------


def guard() -> None:
    """The guardian's main loop: ``+PID START`` / ``-PID`` lines on stdin; EOF ends the
    host.

    A pid comes with its start time, as the host read it when it started the process
    (not read here: the guardian may read the line once the process is gone and its
    pid another's), so that a pid reused by an unrelated process after the worker was
    reaped is never killed. ``START`` is ``-`` when the host could not read it (the
    process was gone already): such a pid is never signalled (where ``/proc`` is).
    """
    watched: Dict[int, Optional[int]] = {}

    def end_all(*_: Any) -> None:
        for pid, started in list(watched.items()):
            kill_tree(pid, started)
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
            fields = line[1:].split()
            try:
                pid = int(fields[0])
                started = None if fields[1:2] in ([], [b"-"]) else int(fields[1])
            except (ValueError, IndexError):
                continue
            if line.startswith(b"+"):
                watched[pid] = started
            else:
                watched.pop(pid, None)


if __name__ == "__main__":
    guard()

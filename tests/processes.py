"""Find worker processes by looking at the real process table (/proc), not at our objects."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Dict, Iterable, List

#: execnet starts every popen worker with this command line.
BOOTSTRAP = "import sys;exec(eval(sys.stdin.readline()))"


def process_table() -> Dict[int, str]:
    """pid -> command line of every process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        table[int(entry)] = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return table


def worker_pids() -> List[int]:
    """Pids of every execnet worker process currently alive (zombies excluded)."""
    pids = []
    for pid, cmdline in process_table().items():
        if BOOTSTRAP in cmdline and not _is_zombie(pid):
            pids.append(pid)
    return sorted(pids)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process."""
    return os.path.exists(f"/proc/{pid}") and not _is_zombie(pid)


def wait_gone(pids: Iterable[int], timeout: float = 10.0) -> List[int]:
    """Wait until none of ``pids`` is alive; return those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    remaining = [pid for pid in pids if alive(pid)]
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = [pid for pid in remaining if alive(pid)]
    return remaining


# -- inner pytest sessions (pytester) ------------------------------------------------------

#: The file, next to the inner session's conftest.py, where :data:`PID_RECORDER` writes.
PID_FILE = "worker_pids.txt"

#: A conftest.py for inner pytest sessions: records the pid of every worker process that
#: the pytest process (or xdist worker) has as a child (and the workers its zygotes
#: forked, which are the zygotes' children), once collection is done (so that
#: ``--collect-only`` sessions are covered) and after each item, in :data:`PID_FILE`. The
#: session itself is gone by the time a test checks, and its orphans would have another
#: parent: so the pids are recorded while it runs, and checked afterwards with
#: :func:`assert_no_worker_left` (only these pids: other sessions may run concurrently).
PID_RECORDER = f"""
import os as _os

def _record_worker_pids():
    parent = _os.getpid()
    pids = []
    # The workers a zygote forked (same command line) are the zygote's children.
    forked = []
    for entry in _os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read().replace(b"\\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and {BOOTSTRAP!r} in cmdline:
            pids.append(int(entry))
        elif {BOOTSTRAP!r} in cmdline:
            forked.append((int(entry), ppid))
    pids += [pid for pid, ppid in forked if ppid in pids]
    path = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), {PID_FILE!r})
    with open(path, "a") as handle:
        for pid in pids:
            handle.write("%d\\n" % pid)

def pytest_collection_finish(session):
    _record_worker_pids()

def pytest_runtest_teardown(item):
    _record_worker_pids()
"""


def with_pid_recorder(conftest: str = "") -> str:
    """The source of a conftest.py: ``conftest`` followed by :data:`PID_RECORDER`."""
    return conftest.rstrip() + "\n" + PID_RECORDER if conftest.strip() else PID_RECORDER


def recorded_pids(folder: Path) -> List[int]:
    """The worker pids :data:`PID_RECORDER` recorded in ``folder`` (its conftest's folder)."""
    path = folder / PID_FILE
    return sorted({int(line) for line in path.read_text().split()}) if path.exists() else []


def assert_no_worker_left(folder: Path, at_least: int = 1) -> List[int]:
    """Check that every worker the inner session in ``folder`` started is gone.

    ``at_least`` guards the check itself: a recorder that saw nothing proves nothing.
    Returns the pids that were recorded.
    """
    pids = recorded_pids(folder)
    assert len(pids) >= at_least, f"{len(pids)} worker pids recorded in {folder}: {pids}"
    assert wait_gone(pids) == [], f"workers left by the session in {folder}"
    return pids

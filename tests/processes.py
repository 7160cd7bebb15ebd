"""Find worker processes by looking at the real process table (/proc), not at our objects."""

from __future__ import annotations

import os
import time
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

"""Load test: a workspace of 100 locations x 100 jobs, serial and under ``-n 2``.

Run ``python benchmarks/bench_scale.py`` (``--help`` for the sizes). It generates N code
locations (``python_module`` entries, the modules of ``bench_load.py``: M lazily declared
jobs of 2 ops each) and runs, interleaved:

(a) serial: ``pytest --workspace workspace.yaml -p no:xdist``;
(b) xdist: ``pytest --workspace workspace.yaml -n 2``.

While each session runs, a sampler reads the process table (``/proc``) every 0.1 s and
records the session's process tree: how many processes it has at once (pytest, xdist's
workers, the locations' workers) and the sum of their resident memory (RSS; shared pages
count once per process, so this overstates what the tree really uses). Every session
runs with a token in its environment; after it exits, any process that still carries
the token is a leak: the script waits up to 5 s for such processes, then names them and
exits with status 1. It prints wall time, CPU, peak processes and peak memory of both
sides, and the ratios (b)/(a).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
from bench_load import generate

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Session:
    run: _common.Run
    peak_processes: int
    peak_rss: int
    leaked: List[str]


def process_stats() -> Dict[int, Tuple[int, int]]:
    """pid -> (parent pid, resident bytes) of every process we can read."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == b"Z":
            continue
        stats[int(entry)] = (int(fields[1]), int(fields[21]) * PAGE)
    return stats


def tree(root: int, stats: Dict[int, Tuple[int, int]]) -> List[int]:
    """``root`` and all its descendants in ``stats``."""
    children: Dict[int, List[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def carriers(token: str) -> List[str]:
    """``pid: command line`` of every live process whose environment holds ``token``."""
    needle = token.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle not in handle.read():
                    continue
            with open(f"/proc/{entry}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append(f"{entry}: {command[:120]}")
    return found


class Sampler(threading.Thread):
    """Records the peak process count and RSS sum of the tree of the youngest child."""

    def __init__(self, token: str) -> None:
        super().__init__(daemon=True)
        self.token = token.encode()
        self.root = 0
        self.peak_processes = 0
        self.peak_rss = 0
        self.done = threading.Event()

    def find_root(self) -> int:
        # The session is the child of this process whose environment has the token.
        for pid, (parent, _) in process_stats().items():
            if parent != os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    if self.token in handle.read():
                        return pid
            except OSError:
                continue
        return 0

    def run(self) -> None:
        while not self.done.wait(0.1):
            if not self.root:
                self.root = self.find_root()
                continue
            stats = process_stats()
            pids = tree(self.root, stats)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.peak_rss = max(self.peak_rss, sum(stats[pid][1] for pid in pids))


def main(argv: Sequence[str] = ()) -> int:
    parser = _common.parser(__doc__, repeat=1)
    parser.add_argument("--locations", type=int, default=100, help="locations (default 100)")
    parser.add_argument("--jobs", type=int, default=100, help="jobs per location (default 100)")
    args = parser.parse_args(list(argv) or None)
    if args.quick:
        args.locations, args.jobs, args.repeat = 4, 5, 1
    items = args.locations * args.jobs
    sessions: Dict[str, List[Session]] = {"serial": [], "xdist": []}

    with _common.workdir("bench-scale-", args.keep) as root:
        generated = generate(root, args.locations, args.jobs, [sys.executable])

        def session(name: str, *pytest_args: str) -> _common.Run:
            token = uuid.uuid4().hex
            env = _common.clean_env(BENCH_SCALE_TOKEN=token)
            command = _common.pytest_command(
                "-q", "--workspace", generated.workspace.name, *pytest_args
            )
            sampler = Sampler(token)
            sampler.start()
            try:
                run = _common.run_command(command, root, env)
            finally:
                sampler.done.set()
                sampler.join()
            if f"{items} passed" not in run.stdout:
                raise SystemExit(f"expected '{items} passed' from pytest:\n{run.stdout[-4000:]}")
            deadline = time.monotonic() + 5
            leaked = carriers(token)
            while leaked and time.monotonic() < deadline:
                time.sleep(0.1)
                leaked = carriers(token)
            sessions[name].append(Session(run, sampler.peak_processes, sampler.peak_rss, leaked))
            return run

        _common.interleave(
            {
                "serial": lambda: session("serial", "-p", "no:xdist"),
                "xdist": lambda: session("xdist", "-n", "2"),
            },
            args.repeat,
            warm_up=False,
        )

    def walls(name: str) -> List[float]:
        return [s.run.wall for s in sessions[name]]

    def peak(name: str, attribute: str) -> int:
        return max(getattr(s, attribute) for s in sessions[name])

    leaks = [line for runs in sessions.values() for s in runs for line in s.leaked]
    mib = 1024 * 1024
    lines = [
        _common.header(
            f"{args.locations} locations x {args.jobs} jobs = {items} items", args.repeat
        ),
        "",
        *_common.table(
            [
                ("(a) serial: wall", walls("serial")),
                ("(b) -n 2: wall", walls("xdist")),
                ("(a) serial: cpu of the process tree", [s.run.cpu for s in sessions["serial"]]),
                ("(b) -n 2: cpu of the process tree", [s.run.cpu for s in sessions["xdist"]]),
            ]
        ),
        "",
        f"  {'':<30} {'peak processes':>16} {'peak RSS sum':>14} {'RSS per process':>16}",
    ]
    for name, label in (("serial", "(a) serial"), ("xdist", "(b) -n 2")):
        processes, rss = peak(name, "peak_processes"), peak(name, "peak_rss")
        lines.append(
            f"  {label:<30} {processes:>16} {rss / mib:>10.0f} MiB "
            f"{rss / max(processes, 1) / mib:>12.1f} MiB"
        )
    lines += [
        f"  process bound for N locations and W workers (issue 10): N + W + 1 = "
        f"{args.locations + 2 + 1} under -n 2 (pytest, 2 xdist workers, N locations)",
        "",
        _common.ratio_line("(b)/(a) wall", walls("xdist"), walls("serial")),
        f"  ratio (b)/(a) peak processes: "
        f"{peak('xdist', 'peak_processes') / peak('serial', 'peak_processes'):.2f}, "
        f"peak RSS: {peak('xdist', 'peak_rss') / peak('serial', 'peak_rss'):.2f}",
        f"  processes left after the sessions: {len(leaks)}",
        *(f"    leaked {line}" for line in leaks),
        f"  median time per item under -n 2: "
        f"{statistics.median(walls('xdist')) / items * 1000:.2f} ms",
    ]
    print("\n".join(lines))
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

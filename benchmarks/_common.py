"""What the benchmark scripts share: paired timing, pytest runs, reports, the Dagster env.

Every script measures two sides of one comparison in one run, interleaved (A B, then
B A, ...), so that both meet the same machine load; each repetition gives one pair, and
the figure is the median of the pairs' ratios next to the ratio of the medians.
"""

from __future__ import annotations

import argparse
import compileall
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS = REPO_ROOT / "tests"
BENCHMARKS = REPO_ROOT / "benchmarks"


@dataclass
class Run:
    """One timed run of a command: wall seconds, CPU seconds of its whole process tree."""

    wall: float
    cpu: float
    stdout: str = ""


@dataclass
class Sides:
    """Runs of each side of a comparison, in the order they were measured."""

    names: Sequence[str]
    runs: Dict[str, List[Run]] = field(default_factory=dict)

    def walls(self, name: str) -> List[float]:
        return [run.wall for run in self.runs[name]]

    def cpus(self, name: str) -> List[float]:
        return [run.cpu for run in self.runs[name]]


def interleave(sides: Mapping[str, Callable[[], Run]], repeat: int, warm_up: bool = True) -> Sides:
    """Run each side ``repeat`` times, alternating the order (A B, B A, ...).

    An untimed warm-up round first fills the file system cache and the bytecode caches.
    """
    names = list(sides)
    result = Sides(names, {name: [] for name in names})
    if warm_up:
        for name in names:
            sides[name]()
    for index in range(repeat):
        for name in names if index % 2 == 0 else reversed(names):
            result.runs[name].append(sides[name]())
    return result


def run_command(
    command: Sequence[str],
    cwd: Path,
    env: Optional[Mapping[str, str]] = None,
    expect: Sequence[int] = (0,),
) -> Run:
    """Run ``command``; wall time, and the user + system CPU of it and its reaped children.

    ``os.wait4`` gives the resource usage of the process and of every descendant it
    waited for: the CPU of a pytest run includes its workers' once they are reaped.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    text = output.decode(errors="replace")
    if process.returncode not in expect:
        raise SystemExit(
            f"`{' '.join(command)}` (in {cwd}) exited with status {process.returncode}:\n"
            f"{text[-6000:]}"
        )
    return Run(wall, usage.ru_utime + usage.ru_stime, text)


def pytest_command(*args: str) -> List[str]:
    """``python -m pytest`` of this interpreter, without the cache and the random plugins."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]


def clean_env(**extra: str) -> Dict[str, str]:
    """This environment without what would change an inner pytest run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH", "COV_CORE_SOURCE")
    }
    env.update(extra)
    return env


@contextmanager
def workdir(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder with an empty ``pytest.ini`` (so no outer config applies)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / "pytest.ini").write_text("[pytest]\n")
    try:
        yield root
    finally:
        if keep:
            print(f"generated files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def compile_package() -> None:
    """Write the bytecode of pytest_workspace's own modules, as ``pip install`` does.

    An editable install under ``PYTHONDONTWRITEBYTECODE`` (as on CI machines) has none,
    so every pytest run would compile the plugin's 10,000 lines again, a cost no
    installed copy pays (``compileall`` writes the files whatever that variable says).
    """
    compileall.compile_dir(Path(pytest_workspace.__file__).parent, quiet=1)
    warm_worker_cache()


def warm_worker_cache() -> None:
    """Cache the bytecode of what workers are sent (``_worker.compile_shipped``), as any
    earlier run without ``PYTHONDONTWRITEBYTECODE`` leaves it: under that variable the
    workers read the cache but do not write it (docs/protocol.md)."""
    from execnet import gateway_base

    from pytest_workspace import _worker, locations

    sources = [(f"<{entry[0]}>", entry[1]) for entry in locations.shipped_modules()]
    sources.append((locations.GATEWAY_FILE, inspect.getsource(gateway_base)))
    sources.append((locations.WORKER_FILE, inspect.getsource(_worker)))
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        for filename, source in sources:
            _worker.compile_shipped(source, filename)  # type: ignore[no-untyped-call]
    finally:
        sys.dont_write_bytecode = saved


def warm_baseline_cache(python: str) -> None:
    """Fill the worker bytecode cache with what the baseline's pytest-workspace ships,
    as ``_common.warm_worker_cache`` fills it for ours (run by ``python``, outside this
    checkout, so that it imports the baseline's package): otherwise, under
    ``PYTHONDONTWRITEBYTECODE``, only side (c)'s workers would compile what they are
    sent, on every run. A baseline too old for that is said, and measured as it is."""
    code = (
        f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); "
        "import _common; _common.warm_worker_cache()"
    )
    completed = subprocess.run(
        [python, "-c", code], cwd=tempfile.gettempdir(), capture_output=True, text=True
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["?"])[-1]
        print(f"note: the baseline's worker bytecode was not cached ({last})", file=sys.stderr)


def parser(doc: str, repeat: int) -> argparse.ArgumentParser:
    """An argument parser with the options every script has (every script makes one
    first: the package's bytecode is written here, see :func:`compile_package`)."""
    compile_package()
    result = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    result.add_argument(
        "--repeat", type=int, default=repeat, help=f"timed repetitions (default {repeat})"
    )
    result.add_argument(
        "--quick",
        action="store_true",
        help="the smallest sizes, one repetition: proves the script works, measures nothing",
    )
    result.add_argument("--keep", action="store_true", help="keep the generated folder")
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def header(title: str, repeat: int) -> str:
    """The first line of a report: what was measured, where, and how busy the machine was."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    # Without bytecode caches every process compiles the generated modules (both sides).
    bytecode = ", PYTHONDONTWRITEBYTECODE set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    return (
        f"pytest-workspace {pytest_workspace.__version__}: {title}; {repeat} repetitions, "
        f"{os.cpu_count()} CPUs (load average {load:.1f} at the end), "
        f"Python {sys.version.split()[0]} on the host{bytecode}"
    )


def table(rows: Sequence[Tuple[str, List[float]]]) -> List[str]:
    """``label  median  min`` lines."""
    lines = [f"  {'measurement':<62} {'median':>12} {'min':>12}"]
    for label, values in rows:
        lines.append(f"  {label:<62} {ms(statistics.median(values))} {ms(min(values))}")
    return lines


def ratio_line(label: str, ours: List[float], theirs: List[float], target: str = "") -> str:
    """The ratio ours/theirs: median of the paired ratios, and ratio of the medians."""
    paired = statistics.median(a / b for a, b in zip(ours, theirs))
    of_medians = statistics.median(ours) / statistics.median(theirs)
    suffix = f"   (target {target})" if target else ""
    return (
        f"  ratio {label}: {paired:.2f} (median of paired ratios), "
        f"{of_medians:.2f} (ratio of medians){suffix}"
    )


def dagster_python(given: Optional[str]) -> str:
    """The python of the test suite's cached virtualenv of the newest Dagster (made if missing)."""
    if given:
        return given
    sys.path.insert(0, str(TESTS))
    try:
        from dagster_versions import NEWEST
        from interpreters import find_interpreter
        from pyenvs import ensure_env
    finally:
        sys.path.remove(str(TESTS))
    interpreter = find_interpreter(NEWEST.python)
    if interpreter is None:
        raise SystemExit(
            f"Python {NEWEST.python} is needed for the Dagster virtualenv; install it or pass "
            f"--dagster-python PATH (a python with {NEWEST.requirement})"
        )
    return str(ensure_env(interpreter, name="dagster", packages=[NEWEST.requirement]))

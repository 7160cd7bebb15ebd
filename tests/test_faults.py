"""The fault matrix: what user code can do to its worker, and what the user sees then.

Each case runs a real pytest session (or the Python API) on real files and processes: a
workspace with a faulty location, next to a healthy ``control.py`` location whose
verdict must not change. A fault job is named ``a_...`` and the job after it in the same
location ``b_...`` (a repository's items run in name order), so that "the next job runs
on a sound worker" is checked by the next item itself. Nothing here sleeps to race the
clock: the tests wait for files that user code writes, for pids, and for process states.
See docs/faults.md for what each fault looks like to the user.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional

import pytest
from processes import (
    alive,
    assert_no_worker_left,
    process_table,
    wait_gone,
    with_pid_recorder,
)
from test_config import GALLERY, control_workspace, write
from test_reaper import killed

from pytest_workspace import WorkerTimeoutError, load_workspace
from pytest_workspace.config import load_workspace_source
from pytest_workspace.errors import WorkspaceFileError

CONTROL = """
from pytest_workspace.definitions import job, op, repository

@op
def steady():
    return "steady"

@job
def control_job():
    steady()

@repository
def control_repository():
    return [control_job]
"""

#: The imports and the next job of every faulty location; a case adds its own jobs.
FAULTY_HEAD = """
import os, signal, subprocess, sys, threading, time
from pathlib import Path
from pytest_workspace.definitions import job, op, repository

HERE = Path(__file__).resolve().parent

@op
def speak():
    print("the next job speaks on stdout")
    sys.stderr.write("the next job speaks on stderr\\n")
    return "spoke"

@job
def b_next_job():
    speak()
"""

CONTROL_ID = "workspace.yaml::control.py::control_repository::control_job"
NEXT_ID = "workspace.yaml::faulty.py::faulty_repository::b_next_job"

#: ``PASSED node`` / ``FAILED node - reason`` lines of the ``-rA`` summary.
_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)(?: - (.*))?$")


def faulty_job(name: str, body: str) -> str:
    """A job ``name`` of one op ``<name>_op`` whose body is ``body``."""
    return (
        f"\n@op\ndef {name}_op():\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}\n"
        f"\n@job\ndef {name}():\n    {name}_op()\n"
    )


#: A job that starts a process (its pid in ``child.pid``), then waits.
STARTS_A_CHILD_AND_WAITS = """
child = subprocess.Popen(["sleep", "1000"])
(HERE / "child.pid").write_text(str(child.pid))
(HERE / "worker.pid").write_text(str(os.getpid()))
time.sleep(1000)
"""


def write_workspace(
    folder: Path, jobs: str, *, repository: Optional[List[str]] = None, extra: str = ""
) -> Path:
    """``workspace.yaml`` with ``control.py`` and ``faulty.py`` (``jobs`` + ``b_next_job``)."""
    names = repository or re.findall(r"^def ([ab]_\w+)\(\):", jobs + FAULTY_HEAD, re.M)
    names = [n for n in names if not n.endswith("_op")]
    (folder / "control.py").write_text(CONTROL)
    (folder / "faulty.py").write_text(
        FAULTY_HEAD
        + jobs
        + f"\n@repository\ndef faulty_repository():\n    return [{', '.join(sorted(set(names)))}]\n"
    )
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_file: control.py\n  - python_file: faulty.py\n" + extra
    )
    return workspace


def verdicts(result: pytest.RunResult) -> Dict[str, str]:
    """node id -> ``PASSED``/``FAILED``/... from the ``-rA`` short summary."""
    found = {}
    for line in result.stdout.lines:
        match = _SUMMARY.match(line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "-rA", "--workspace-timeout", "120", *args
    )


def assert_control_passed(result: pytest.RunResult) -> None:
    assert verdicts(result).get(CONTROL_ID) == "PASSED", result.stdout.str()


@pytest.fixture(autouse=True)
def _session_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(with_pid_recorder())


# -- wrong verdicts: the next job must run on a sound worker (issue 11, point 2) ---------


def test_a_job_that_closes_sys_stdout_leaves_the_next_job_a_sound_worker(
    pytester: pytest.Pytester,
) -> None:
    write_workspace(
        pytester.path,
        faulty_job("a_closes_stdout", "sys.stdout.close()\nsys.stderr.close()\nreturn 'closed'"),
    )
    result = run(pytester)
    assert verdicts(result)[NEXT_ID] == "PASSED", result.stdout.str()
    assert verdicts(result)[NEXT_ID.replace("b_next_job", "a_closes_stdout")] == "PASSED"
    # What the next job printed is its captured output, as usual.
    result.stdout.fnmatch_lines(["*Captured stdout call*", "the next job speaks on stdout"])
    result.stdout.fnmatch_lines(["*Captured stderr call*", "the next job speaks on stderr"])
    assert_control_passed(result)
    assert_no_worker_left(pytester.path, at_least=2)


def test_a_job_that_replaces_sys_stdout_leaves_the_next_job_its_output(
    pytester: pytest.Pytester,
) -> None:
    write_workspace(
        pytester.path,
        faulty_job(
            "a_replaces_stdout",
            "import io\nsys.stdout = io.StringIO()\nsys.stderr = io.StringIO()\nreturn 'gone'",
        ),
    )
    result = run(pytester)
    assert verdicts(result)[NEXT_ID] == "PASSED", result.stdout.str()
    result.stdout.fnmatch_lines(["*Captured stdout call*", "the next job speaks on stdout"])
    result.stdout.fnmatch_lines(["*Captured stderr call*", "the next job speaks on stderr"])
    assert_control_passed(result)


#: The inner session's conftest for the case of a thread that ends the worker later: once
#: the job's item is over, let the thread go and wait until the worker is dead (idle).
RELEASE_THE_THREAD = """
import os, pathlib

def pytest_runtest_logfinish(nodeid):
    if not nodeid.endswith("::a_leaves_an_exiting_thread"):
        return
    folder = pathlib.Path(__file__).parent
    (folder / "go").write_text("go")
    # The worker is this process's child: wait until it has exited, without reaping it
    # (the host's Popen reaps it and reads its status). /proc shows a zombie main thread
    # while the other threads still exit, so /proc cannot tell.
    os.waitid(os.P_PID, int((folder / "worker.pid").read_text()), os.WEXITED | os.WNOWAIT)
"""


def test_a_worker_that_dies_while_idle_is_restarted_for_the_next_job(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(with_pid_recorder(RELEASE_THE_THREAD))
    write_workspace(
        pytester.path,
        faulty_job(
            "a_leaves_an_exiting_thread",
            """
            def exit_later():
                while not (HERE / "go").exists():  # the inner conftest writes it
                    time.sleep(0.01)
                os._exit(7)
            threading.Thread(target=exit_later, daemon=True).start()
            (HERE / "worker.pid").write_text(str(os.getpid()))
            return "returned"
            """,
        ),
    )
    # Without prefetch: the next job is sent only once its own item starts, so the
    # worker is idle when the thread ends it (with prefetch it would be running it).
    result = run(pytester, "--workspace-no-prefetch")
    found = verdicts(result)
    assert found[NEXT_ID.replace("b_next_job", "a_leaves_an_exiting_thread")] == "PASSED"
    assert found[NEXT_ID] == "PASSED", result.stdout.str()
    assert_control_passed(result)
    dead = int((pytester.path / "worker.pid").read_text())
    # The death is reported, naming the job whose thread it probably was.
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            f"*WorkerRestartedWarning: code location 'faulty.py': its worker (pid {dead}) "
            "exited with status 7 while idle, after execute_job of job "
            "'a_leaves_an_exiting_thread'*",
        ]
    )
    assert result.ret == pytest.ExitCode.OK
    assert_no_worker_left(pytester.path, at_least=2)


# -- the user's own BaseException (point 3) ----------------------------------------------


def test_keyboard_interrupt_and_base_exceptions_of_user_code_are_the_users(
    pytester: pytest.Pytester,
) -> None:
    jobs = faulty_job("a_interrupts", "raise KeyboardInterrupt('from the op')") + faulty_job(
        "a_raises_a_base_exception",
        "class Stop(BaseException):\n    pass\nraise Stop('stop right there')",
    )
    workspace = write_workspace(
        pytester.path,
        jobs,
        extra="  - python_file: interrupting_import.py\n",
    )
    (workspace.parent / "interrupting_import.py").write_text(
        "raise KeyboardInterrupt('at import')\n"
    )
    result = run(pytester)
    output = result.stdout.str()
    assert "bug in pytest-workspace" not in output
    interrupts = NEXT_ID.replace("b_next_job", "a_interrupts")
    base = NEXT_ID.replace("b_next_job", "a_raises_a_base_exception")
    found = verdicts(result)
    assert found[interrupts] == "FAILED" and found[base] == "FAILED", output
    # The definitions API lets KeyboardInterrupt out of the run, as Dagster does: the job
    # fails with it, and the traceback shows the op.
    result.stdout.fnmatch_lines(
        [
            "job 'a_interrupts' failed during execution*",
            "*in a_interrupts_op",
            "*raise KeyboardInterrupt('from the op')",
            "KeyboardInterrupt: from the op",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        [
            "job 'a_raises_a_base_exception' failed during execution*",
            "*in a_raises_a_base_exception_op",
            "*Stop: stop right there",
        ],
        consecutive=False,
    )
    loading = "workspace.yaml::interrupting_import.py::load_location"
    assert found[loading] == "FAILED"
    result.stdout.fnmatch_lines(["*raised KeyboardInterrupt: at import*"])
    assert found[NEXT_ID] == "PASSED"
    assert_control_passed(result)
    # The user's KeyboardInterrupt is not a Ctrl-C: the session ran to its end.
    assert result.ret == pytest.ExitCode.TESTS_FAILED


# -- a corrupt channel (point 4) ---------------------------------------------------------


def test_junk_written_into_the_channel_is_reported_at_once(pytester: pytest.Pytester) -> None:
    jobs = faulty_job(
        "a_writes_junk",
        """
        import fcntl
        for fd in range(3, 256):
            try:
                target = os.readlink("/proc/self/fd/%d" % fd)
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            except OSError:
                continue
            if target.startswith("pipe:") and flags & os.O_ACCMODE == os.O_WRONLY:
                os.write(fd, b"junk from the op\\n")
        return "wrote"
        """,
    )
    write_workspace(pytester.path, jobs)
    # A channel read past the junk would wait for bytes that never come: the 120 s call
    # timeout would end it, with "did not finish within 120s".
    result = run(pytester)
    junk = NEXT_ID.replace("b_next_job", "a_writes_junk")
    assert verdicts(result)[junk] == "FAILED", result.stdout.str()
    output = result.stdout.str()
    assert "did not finish within" not in output
    result.stdout.fnmatch_lines(
        [
            "*the channel of code location 'faulty.py' was corrupted during execute_job: "
            "something in its process (pid *) wrote b'junk from the op\\n' into the pipe*",
        ]
    )
    assert verdicts(result)[NEXT_ID] == "PASSED"
    assert_control_passed(result)
    assert_no_worker_left(pytester.path, at_least=2)


# -- an interpreter wrapper that prints (point 11) ---------------------------------------


def test_an_interpreter_wrapper_that_prints_a_banner_shows_it(pytester: pytest.Pytester) -> None:
    wrapper = pytester.path / "team-python"
    wrapper.write_text(
        f'#!/bin/sh\necho "Welcome to the team environment"\nexec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    write_workspace(
        pytester.path,
        "",
        extra=f"  - python_file:\n      relative_path: control.py\n      location_name: wrapped\n"
        f"      executable_path: {wrapper}\n",
    )
    result = run(pytester)
    node = "workspace.yaml::wrapped::load_location"
    assert verdicts(result)[node] == "FAILED", result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*it printed this on stdout before Python answered:*",
            "*Welcome to the team environment*",
        ]
    )
    result.stdout.fnmatch_lines(["*stdout carries the worker's protocol*"])
    assert_control_passed(result)


# -- Ctrl-C (point 12) ---------------------------------------------------------------------


def start_pytest(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[str]:
    """An inner pytest session we can send signals to."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--workspace", "workspace.yaml", "-rA", *args],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_file(path: Path, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written within {timeout:g}s")


def guardians_of(host: int) -> List[int]:
    """The pids of the guardian processes of the pytest process ``host`` that are alive."""
    return [
        pid
        for pid, cmdline in process_table().items()
        if "_reaper.py" in cmdline and cmdline.endswith(f" {host}") and alive(pid)
    ]


def finish(process: subprocess.Popen[str], timeout: float = 120.0) -> str:
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        output = process.communicate()[0]
        raise AssertionError(f"pytest did not stop within {timeout:g}s:\n{output}") from None


def test_ctrl_c_while_a_location_imports_stops_the_run_at_once(
    pytester: pytest.Pytester,
) -> None:
    workspace = write_workspace(pytester.path, "")
    (pytester.path / "control.py").write_text(
        "import os\nopen('control.pid', 'w').write(str(os.getpid()))\n" + CONTROL
    )
    (pytester.path / "faulty.py").write_text(
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        "open('faulty_child.pid', 'w').write(str(child.pid))\n"
        "open('faulty.pid', 'w').write(str(os.getpid()))\n"
        "time.sleep(1000)\n"
    )
    assert workspace.exists()
    # Both limits are far beyond the test's own: only the Ctrl-C can end the run.
    process = start_pytest(
        pytester, "--workspace-timeout", "1000", "--workspace-load-timeout", "1000"
    )
    names = ("faulty.pid", "control.pid", "faulty_child.pid")
    pids = [int(wait_for_file(pytester.path / name)) for name in names]
    process.send_signal(signal.SIGINT)
    output = finish(process)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    # pytest's own report of an interrupted run: its banner and its summary line.
    assert re.search(r"!+ KeyboardInterrupt !+", output), output
    assert re.search(r"=+ no tests ran in [\d.]+s =+", output), output
    assert wait_gone(pids) == []
    assert wait_gone(guardians_of(process.pid)) == []


def test_ctrl_c_during_a_job_stops_the_run_with_the_summary(pytester: pytest.Pytester) -> None:
    """...and kills the worker with the process its job started."""
    write_workspace(pytester.path, faulty_job("a_waits", STARTS_A_CHILD_AND_WAITS))
    # a_waits may run ahead of pytest while control_job runs: interrupt once both that
    # job is running and control_job has been reported.
    pytester.makeconftest(
        """
import pathlib

def pytest_runtest_logreport(report):
    if report.when == "call" and report.nodeid.endswith("::control_job"):
        (pathlib.Path(__file__).parent / "reported.txt").write_text(report.outcome)
"""
    )
    process = start_pytest(pytester, "--workspace-timeout", "1000")
    pid = int(wait_for_file(pytester.path / "worker.pid"))
    assert wait_for_file(pytester.path / "reported.txt") == "passed"
    process.send_signal(signal.SIGINT)
    output = finish(process)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert re.search(r"=+ 1 passed in [\d.]+s", output), output  # the control job
    assert wait_gone([pid, int((pytester.path / "child.pid").read_text())]) == []
    assert wait_gone(guardians_of(process.pid)) == []


# -- the host killed while its worker cannot act (point 13) -------------------------------

#: Records each item's outcome as it happens: the session is SIGKILLed before its summary.
RECORD_OUTCOMES = """
import json, pathlib

def pytest_runtest_logreport(report):
    if report.when == "call":
        with open(pathlib.Path(__file__).parent / "outcomes.jsonl", "a") as handle:
            handle.write(json.dumps([report.nodeid, report.outcome]) + "\\n")
"""


def process_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def wait_until(predicate, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


HOLD_UP_THE_WORKER = {
    "stopped": "os.kill(os.getpid(), signal.SIGSTOP)",
    # A C call that holds the GIL: no thread of the worker runs until it returns.
    "in_a_c_call_holding_the_gil": "import ctypes\nctypes.PyDLL(None).pause()",
}


@pytest.mark.parametrize("how", sorted(HOLD_UP_THE_WORKER))
def test_a_worker_that_cannot_act_dies_with_its_killed_host(
    pytester: pytest.Pytester, how: str
) -> None:
    pytester.makeconftest(RECORD_OUTCOMES)
    write_workspace(
        pytester.path,
        faulty_job(
            "a_holds_up",
            f"""
            child = subprocess.Popen(["sleep", "1000"])
            (HERE / "child.pid").write_text(str(child.pid))
            (HERE / "worker.pid").write_text(str(os.getpid()))
            {HOLD_UP_THE_WORKER[how].replace(chr(10), chr(10) + " " * 12)}
            """,
        ),
    )
    process = start_pytest(pytester, "--workspace-timeout", "1000")
    try:
        worker = int(wait_for_file(pytester.path / "worker.pid"))
        child = int(wait_for_file(pytester.path / "child.pid"))
        guardians = guardians_of(process.pid)
        assert len(guardians) == 1  # started with the first worker
        if how == "stopped":
            wait_until(lambda: process_state(worker) == "T", "the worker stops itself")
        else:
            wchan = Path(f"/proc/{worker}/wchan")
            wait_until(lambda: "pause" in wchan.read_text(), "the worker enters pause()")
        # The control item comes first, but the faulty location runs its job ahead
        # (docs/plugin.md, "Prefetch"): its worker may hold up before the control's
        # verdict is reported. The host is killed once that verdict is out.
        wait_for_file(pytester.path / "outcomes.jsonl")
        process.kill()
        process.wait()
        assert wait_gone([worker, child, *guardians], timeout=30) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    outcomes = [
        json.loads(line)
        for line in (pytester.path / "outcomes.jsonl").read_text().split("\n")
        if line
    ]
    assert outcomes == [[CONTROL_ID, "passed"]]


#: A job that starts a process in its worker's group, says both pids, and waits (or
#: stops its worker first: ``stop``).
HOLDS_A_CHILD = """
child = subprocess.Popen(["sleep", "1000"])
(HERE / "child.pid").write_text(str(child.pid))
(HERE / "worker.pid").write_text(str(os.getpid()))
if {stop}:
    os.kill(os.getpid(), signal.SIGSTOP)
time.sleep(1000)
"""


def kill_host_once_running(pytester: pytest.Pytester, process: subprocess.Popen[str]) -> List[int]:
    """Wait until the control item is reported and the faulty job holds a child; kill
    the host (SIGKILL) then. Returns the worker's and the child's pids."""
    worker = int(wait_for_file(pytester.path / "worker.pid"))
    child = int(wait_for_file(pytester.path / "child.pid"))
    wait_for_file(pytester.path / "outcomes.jsonl")
    process.kill()
    process.wait()
    return [worker, child]


#: The inner session's conftest: once the workers started, a copy of the host (a fork)
#: holds every descriptor the host has, so the guardian's stdin never ends.
FORK_THE_HOST = (
    RECORD_OUTCOMES
    + """
import os, time

def pytest_collection_finish(session):
    copy = os.fork()
    if copy == 0:
        time.sleep(1000)
        os._exit(0)
    (pathlib.Path(__file__).parent / "copy.pid").write_text(str(copy))
"""
)


class HostWithACopy(NamedTuple):
    host: subprocess.Popen[str]
    copy: int
    worker: int
    guardian: int


@contextmanager
def host_with_a_copy(pytester: pytest.Pytester, stop: bool) -> Iterator[HostWithACopy]:
    """An inner session (:data:`FORK_THE_HOST`) whose faulty job holds a child
    (:data:`HOLDS_A_CHILD`); its host and the copy are killed at the end."""
    pytester.makeconftest(FORK_THE_HOST)
    write_workspace(pytester.path, faulty_job("a_holds_up", HOLDS_A_CHILD.format(stop=stop)))
    process = start_pytest(pytester, "--workspace-timeout", "1000")
    copy = None
    try:
        copy = int(wait_for_file(pytester.path / "copy.pid"))
        worker = int(wait_for_file(pytester.path / "worker.pid"))
        guardians = guardians_of(process.pid)
        assert len(guardians) == 1
        yield HostWithACopy(process, copy, worker, guardians[0])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if copy is not None and alive(copy):
            os.kill(copy, signal.SIGKILL)


def test_the_guardian_learns_of_its_hosts_death_from_the_kernel_too(
    pytester: pytest.Pytester,
) -> None:
    """When its stdin does not end with the host (a process the host forked holds the
    pipe), the kernel's SIGTERM (PR_SET_PDEATHSIG) tells the guardian: it ends the
    stopped worker, which cannot act for itself, and what its job started."""
    with host_with_a_copy(pytester, stop=True) as session:
        wait_until(lambda: process_state(session.worker) == "T", "the worker stops itself")
        pids = kill_host_once_running(pytester, session.host)
        assert alive(session.copy)  # the guardian's stdin is still open
        assert wait_gone([*pids, session.guardian], timeout=30) == []


def test_without_its_guardian_a_worker_ends_itself_with_its_host(
    pytester: pytest.Pytester,
) -> None:
    """The guardian killed on purpose, and the worker's pipes kept open by a copy of
    the host: the worker's own parent watch sees the host gone, and ends what the job
    started and itself."""
    with host_with_a_copy(pytester, stop=False) as session:
        os.kill(session.guardian, signal.SIGKILL)
        assert wait_gone([session.guardian]) == []
        pids = kill_host_once_running(pytester, session.host)
        assert alive(session.copy)
        assert wait_gone(pids, timeout=30) == []


#: The inner session's conftest: each pytest process (an xdist worker) says, once its
#: locations are loaded, how many guardians it has.
COUNT_GUARDIANS = """
import os, pathlib

def pytest_collection_finish(session):
    me = os.getpid()
    guardians = 0
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read().replace(b"\\0", b" ").decode().strip()
        except OSError:
            continue
        guardians += "_reaper.py" in cmdline and cmdline.endswith(" %d" % me)
    with open(pathlib.Path(__file__).parent / "guardians.txt", "a") as handle:
        handle.write("%d %d\\n" % (me, guardians))
"""


def test_each_xdist_worker_has_one_guardian(pytester: pytest.Pytester) -> None:
    """A location split over two xdist workers: each worker is a host of its own, with
    one guardian (whose command line ends with that worker's pid)."""
    pytester.makeconftest(COUNT_GUARDIANS)
    write_workspace(pytester.path, faulty_job("a_job", "return 1"))
    result = run(pytester, "-n", "2", "--workspace-split", "faulty.py")
    assert verdicts(result)[NEXT_ID] == "PASSED", result.stdout.str()
    lines = (pytester.path / "guardians.txt").read_text().split("\n")
    counts = dict(line.split() for line in lines if line)
    assert len(counts) == 2 and set(counts.values()) == {"1"}, counts


# -- processes that escape the process group (point 14) -----------------------------------

DOUBLE_FORK = """
def double_fork_with_setsid(pid_file):
    # A daemon, as the books describe it: fork, setsid, fork again, exec.
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            Path(pid_file).write_text(str(os.getpid()))
            os.execv("/bin/sleep", ["sleep", "1000"])
        os._exit(0)
    os.waitpid(first, 0)
    while not (Path(pid_file).exists() and Path(pid_file).read_text()):
        time.sleep(0.01)
    return int(Path(pid_file).read_text())
"""


def test_a_process_that_escapes_the_group_ends_with_its_call(pytester: pytest.Pytester) -> None:
    jobs = DOUBLE_FORK + faulty_job(
        "a_starts_a_daemon", "return double_fork_with_setsid(HERE / 'daemon.pid')"
    )
    jobs += faulty_job(
        "b_finds_no_daemon",
        """
        pid = int((HERE / "daemon.pid").read_text())
        try:
            with open("/proc/%d/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "gone"
        # Killed and reaped when the previous call ended: not even a zombie.
        assert state == "gone", "the daemon %d of the previous job is %s" % (pid, state)
        (HERE / "same_worker.pid").write_text(str(os.getpid()))
        return state
        """,
    )
    jobs += faulty_job(
        "a_records_its_worker", "(HERE / 'first_worker.pid').write_text(str(os.getpid()))"
    )
    write_workspace(pytester.path, jobs)
    result = run(pytester)
    found = verdicts(result)
    daemon_checked = NEXT_ID.replace("b_next_job", "b_finds_no_daemon")
    assert found[daemon_checked] == "PASSED", result.stdout.str()
    assert found[NEXT_ID.replace("b_next_job", "a_starts_a_daemon")] == "PASSED"
    # One worker for all: the daemon was ended, not the worker.
    assert (pytester.path / "first_worker.pid").read_text() == (
        pytester.path / "same_worker.pid"
    ).read_text()
    assert_control_passed(result)
    assert wait_gone([int((pytester.path / "daemon.pid").read_text())]) == []
    assert_no_worker_left(pytester.path, at_least=2)


def test_a_daemon_of_a_hanging_job_ends_with_its_killed_worker(tmp_path: Path) -> None:
    (tmp_path / "daemon_jobs.py").write_text(
        FAULTY_HEAD
        + DOUBLE_FORK
        + faulty_job(
            "a_daemon_then_hang",
            "double_fork_with_setsid(HERE / 'daemon.pid')\ntime.sleep(1000)",
        )
        + "\n@repository\ndef faulty_repository():\n    return [a_daemon_then_hang, b_next_job]\n"
    )
    (tmp_path / "control.py").write_text(CONTROL)
    with load_workspace(python_file=[tmp_path / "daemon_jobs.py", tmp_path / "control.py"]) as ws:
        with pytest.raises(WorkerTimeoutError):
            ws.job("a_daemon_then_hang").execute(timeout=3)
        assert wait_gone([int((tmp_path / "daemon.pid").read_text())]) == []
        assert ws.job("b_next_job").execute().success
        assert ws.job("control_job").execute().success


#: A job body that fails unless the daemon the import started is alive.
IMPORT_DAEMON_ALIVE = """
with open("/proc/%d/stat" % DAEMON) as handle:
    assert handle.read().rsplit(")", 1)[1].split()[0] != "Z", "the import's daemon was ended"
"""


def test_a_daemon_started_at_import_ends_with_its_worker(pytester: pytest.Pytester) -> None:
    """What the import started is the location's: the calls after it find it alive (the
    second after the first ended), and it ends with the worker."""
    jobs = faulty_job("a_sees_the_import_daemon", IMPORT_DAEMON_ALIVE)
    write_workspace(pytester.path, jobs + faulty_job("b_still_sees_it", IMPORT_DAEMON_ALIVE))
    source = (pytester.path / "faulty.py").read_text()
    (pytester.path / "faulty.py").write_text(
        source + DOUBLE_FORK + "\nDAEMON = double_fork_with_setsid(HERE / 'daemon.pid')\n"
    )
    result = run(pytester, "--workspace-no-prefetch")
    found = verdicts(result)
    for name in ("a_sees_the_import_daemon", "b_next_job", "b_still_sees_it"):
        assert found[NEXT_ID.replace("b_next_job", name)] == "PASSED", result.stdout.str()
    assert_control_passed(result)
    assert wait_gone([int((pytester.path / "daemon.pid").read_text())]) == []
    assert_no_worker_left(pytester.path, at_least=2)


def test_each_worker_leads_a_process_group_and_session_of_its_own(tmp_path: Path) -> None:
    """So that Ctrl-C in a terminal (its foreground group) reaches pytest only, and a
    worker's group holds what its code starts."""
    body = "return [os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid()]"
    write_workspace(tmp_path, faulty_job("a_tells_its_group", body))
    with load_workspace(tmp_path / "workspace.yaml", timeout=60) as ws:
        result = ws.job("a_tells_its_group").execute()
        assert result.output_for("a_tells_its_group_op") == [True, True]


#: A job that leaves a thread which, once told to (a file ``go``), starts a process.
STARTS_A_PROCESS_LATER = """
def later():
    while not (HERE / "go").exists():
        time.sleep(0.01)
    child = subprocess.Popen(["sleep", "1000"])
    (HERE / "child.pid").write_text(str(child.pid))

threading.Thread(target=later, daemon=True).start()
"""


def test_a_process_started_between_calls_ends_with_its_worker(tmp_path: Path) -> None:
    """A limit: what a thread left by a job starts while no call runs belongs to no call.
    The next call does not end it; stopping the worker does."""
    write_workspace(tmp_path, faulty_job("a_leaves_a_thread", STARTS_A_PROCESS_LATER))
    with load_workspace(tmp_path / "workspace.yaml", timeout=60) as ws:
        assert ws.job("a_leaves_a_thread").execute().success
        (tmp_path / "go").touch()
        child = int(wait_for_file(tmp_path / "child.pid"))
        assert ws.job("b_next_job").execute().success
        assert not killed(child)
    assert wait_gone([child]) == []


# -- shared process state (point 15) ------------------------------------------------------

SHARED_STATE_JOBS = (
    """
AT_IMPORT = {"cwd": os.getcwd(), "path": list(sys.path)}
COUNTER = []
"""
    + faulty_job(
        "a_changes_the_process",
        """
        (HERE / "a.pid").write_text(str(os.getpid()))
        os.chdir("/")
        sys.path.insert(0, "/nowhere/a_changes_the_process")
        os.environ["SET_BY_A"] = "yes"
        COUNTER.append(1)
        """,
    )
    + faulty_job(
        "b_sees_the_process",
        """
        assert os.getcwd() == AT_IMPORT["cwd"], os.getcwd()
        assert sys.path == AT_IMPORT["path"], sys.path
        shared = os.getpid() == int((HERE / "a.pid").read_text())
        return {"shared": shared, "env": os.environ.get("SET_BY_A"), "counter": len(COUNTER)}
        """,
    )
)


def test_cwd_and_sys_path_are_restored_after_each_call(pytester: pytest.Pytester) -> None:
    write_workspace(pytester.path, SHARED_STATE_JOBS)
    result = run(pytester)
    found = verdicts(result)
    assert found[NEXT_ID.replace("b_next_job", "b_sees_the_process")] == "PASSED", (
        result.stdout.str()
    )
    assert_control_passed(result)


def shared_state(workspace_file: Path, **options: object) -> Dict[str, object]:
    with load_workspace(workspace_file, **options) as ws:  # type: ignore[arg-type]
        ws.job("a_changes_the_process").execute()
        result = ws.job("b_sees_the_process").execute()
        assert result.success, result.error
        assert ws.job("control_job").execute().success
        return dict(result.output_for("b_sees_the_process_op"))


def test_jobs_of_a_location_share_the_rest_of_its_state_by_default(tmp_path: Path) -> None:
    workspace_file = write_workspace(tmp_path, SHARED_STATE_JOBS)
    assert shared_state(workspace_file) == {"shared": True, "env": "yes", "counter": 1}


def test_a_fresh_worker_per_job_shares_nothing(tmp_path: Path) -> None:
    workspace_file = write_workspace(tmp_path, SHARED_STATE_JOBS)
    assert shared_state(workspace_file, fresh_worker=True) == {
        "shared": False,
        "env": None,
        "counter": 0,
    }


@pytest.mark.parametrize("how", ["option", "ini"])
def test_the_plugin_runs_each_job_on_a_fresh_worker_when_asked(
    pytester: pytest.Pytester, how: str
) -> None:
    jobs = SHARED_STATE_JOBS + faulty_job(
        "b_checks_it_is_fresh",
        """
        assert os.getpid() != int((HERE / "a.pid").read_text())
        assert "SET_BY_A" not in os.environ and COUNTER == []
        """,
    )
    write_workspace(pytester.path, jobs)
    if how == "ini":
        pytester.makeini("[pytest]\nworkspace_fresh_worker = true\n")
        result = run(pytester)
    else:
        result = run(pytester, "--workspace-fresh-worker")
    found = verdicts(result)
    assert found[NEXT_ID.replace("b_next_job", "b_checks_it_is_fresh")] == "PASSED", (
        result.stdout.str()
    )
    assert found[NEXT_ID] == "PASSED"
    assert_control_passed(result)
    # Each worker of faulty.py is stopped once its job ran: the recorder, which looks
    # after each item, sees only the first; none is left.
    assert_no_worker_left(pytester.path, at_least=2)


# -- the load timeout (issue 9, point 5) --------------------------------------------------


def test_the_call_timeout_does_not_bound_importing_a_location(pytester: pytest.Pytester) -> None:
    write_workspace(pytester.path, "")
    slow = (pytester.path / "faulty.py").read_text()
    # The import takes at least 2 s, twice the call timeout.
    (pytester.path / "faulty.py").write_text("import time\ntime.sleep(2)\n" + slow)
    result = pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "--workspace-timeout", "1", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["workspace.yaml::faulty.py::faulty_repository::b_next_job"])
    assert "load_location" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("how", ["option", "ini"])
def test_the_load_timeout_bounds_starting_and_importing(
    pytester: pytest.Pytester, how: str
) -> None:
    write_workspace(pytester.path, "")
    (pytester.path / "faulty.py").write_text("import time\ntime.sleep(1000)\n")
    if how == "ini":
        pytester.makeini("[pytest]\nworkspace_load_timeout = 5\n")
        result = run(pytester)
    else:
        result = run(pytester, "--workspace-load-timeout", "5")
    node = "workspace.yaml::faulty.py::load_location"
    assert verdicts(result)[node] == "FAILED", result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*code location 'faulty.py' failed to load: importing its code did not finish "
            "within 5s*--workspace-load-timeout (ini: workspace_load_timeout)*"
        ]
    )
    assert_control_passed(result)


def test_a_bad_load_timeout_in_the_ini_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_workspace(pytester.path, "")
    pytester.makeini("[pytest]\nworkspace_load_timeout = soon\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option workspace_load_timeout must be a number of seconds, got 'soon'*"]
    )


def test_the_readme_timeout_does_not_fail_a_dagster_location(
    pytester: pytest.Pytester,
    python_env,  # type: ignore[no-untyped-def]
) -> None:
    dagster_python = python_env("3.11", name="dagster", packages=["dagster==1.13.28"])
    dagster_fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "dagster"
    write_workspace(
        pytester.path,
        "",
        extra="  - python_file:\n"
        f"      relative_path: {dagster_fixtures / 'cereal.py'}\n"
        f"      executable_path: {dagster_python}\n",
    )
    # The README's example limit; Dagster alone takes seconds to import.
    result = pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "--workspace-timeout", "2", "--collect-only", "-q"
    )
    assert "load_location" not in result.stdout.str(), result.stdout.str()
    result.stdout.fnmatch_lines(["workspace.yaml::cereal.py::*"])


def test_the_python_api_takes_a_load_timeout(tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\ntime.sleep(2)\n"
        + FAULTY_HEAD
        + "\n@repository\ndef r():\n    return [b_next_job]\n"
    )
    stuck = tmp_path / "stuck.py"
    pids = tmp_path / "stuck.pids"
    stuck.write_text(
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        f"open({str(pids)!r}, 'w').write('%d %d' % (os.getpid(), child.pid))\n"
        "time.sleep(1000)\n"
    )
    with load_workspace(python_file=[slow, stuck], timeout=1, load_timeout=10) as ws:
        assert ws.location("slow.py").load_error is None
        error = ws.location("stuck.py").load_error
        assert error is not None
        assert "did not finish within 10s" in str(error) and "load_timeout=" in str(error)
        # Killed at the limit, with what its import started, not at the close.
        assert all(killed(int(pid)) for pid in pids.read_text().split())


# -- the host's wait interrupted (issue 9, point 4, host side) ----------------------------


class Interrupted(BaseException):
    """What pytest-timeout's signal method raises inside the host's wait, in miniature."""


@pytest.fixture
def interrupting_signal() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted("the wait was interrupted")

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_an_interrupted_wait_kills_the_worker_and_the_next_call_gets_a_fresh_one(
    tmp_path: Path, interrupting_signal: None
) -> None:
    """The worker's whole tree is killed: also the process its job started."""
    write_workspace(tmp_path, faulty_job("a_waits", STARTS_A_CHILD_AND_WAITS))
    with load_workspace(tmp_path / "workspace.yaml", timeout=1000) as ws:

        def interrupt_once_the_job_runs() -> None:
            wait_for_file(tmp_path / "worker.pid")
            os.kill(os.getpid(), signal.SIGUSR1)

        threading.Thread(target=interrupt_once_the_job_runs, daemon=True).start()
        with pytest.raises(Interrupted):
            ws.job("a_waits").execute()
        worker = int((tmp_path / "worker.pid").read_text())
        assert wait_gone([worker, int((tmp_path / "child.pid").read_text())]) == []
        assert ws.job("b_next_job").execute().success
        assert ws.location("faulty.py").worker.pid not in (None, worker)
        assert ws.job("control_job").execute().success
    assert not alive(worker)


# --- replies and forked children (issue 11.1) ---------------------------------------

FORKING_MODULE = """\
import os
import time

from pytest_workspace.definitions import job, op, repository

MARKER = {marker!r}  # created by the first healthy job's op; None: the child goes on at once


@op
def fork_and_return():
    # The child does not exit: it returns into the run, as the parent does.
    child = os.fork()
    if child == 0 and MARKER:
        for _ in range(1000):  # come back while the next job runs (bounded, not timed)
            if os.path.exists(MARKER):
                break
            time.sleep(0.01)
    return child


@job
def forking_job():
    fork_and_return()


def healthy(index):
    @op(name="answer")
    def answer():
        if MARKER and index == 0:
            open(MARKER, "w").close()
        return index

    @job(name="healthy_%d" % index)
    def healthy_job():
        answer()

    return healthy_job


@repository
def forking_repository():
    return [forking_job] + [healthy(index) for index in range(6)]
"""


@pytest.mark.parametrize("child_waits", [False, True], ids=["child-at-once", "child-later"])
def test_a_forked_child_never_answers_for_the_worker(tmp_path: Path, child_waits: bool) -> None:
    module = tmp_path / "forking.py"
    marker = str(tmp_path / "next-job-started") if child_waits else None
    module.write_text(FORKING_MODULE.format(marker=marker))
    with load_workspace(python_file=module, timeout=60) as ws:
        result = ws.job("forking_job").execute()
        assert result.success and result.job_name == "forking_job"
        child = result.output_for("fork_and_return")
        assert isinstance(child, int) and child > 0
        assert wait_gone([child]) == []  # ended with the call that forked it
        # The jobs after it get their own replies, whenever the child comes back.
        for index in range(6):
            name = f"healthy_{index}"
            run = ws.job(name).execute()
            assert (run.job_name, run.success) == (name, True)
            assert run.output_for("answer") == index
            assert run.build is not None and run.build.name == name
        worker = ws.locations[0].worker.pid
        assert worker is not None
    assert wait_gone([worker, child]) == []


# --- workspace files (issue 11.5-11.10): whatever is wrong with a file is its error ---


def _nested(folder: Path) -> Path:
    return write(folder, "load_from: " + "[" * 1000 + "]" * 1000 + "\n", name="nested.yaml")


def _link_loop(folder: Path) -> Path:
    path = folder / "loop.yaml"
    path.symlink_to(path)
    return path


def _merge_bomb(folder: Path) -> Path:
    return write(folder, (GALLERY / "merge_key_bomb.yaml").read_text(), name="bomb.yaml")


def _directory(folder: Path) -> Path:
    path = folder / "somedir.yaml"
    path.mkdir()
    return path


def _text_file(folder: Path) -> Path:
    (folder / "jobs.txt").write_text("not python\n")
    return write(folder, "load_from:\n  - python_file: jobs.txt\n", name="text.yaml")


def _nul(folder: Path) -> Path:
    return write(folder, "load_from:\n  - python_file: a\0.py\n", name="nul.yaml")


FAULTS = {
    "nested_brackets": (_nested, "nested.yaml:1: lists and mappings are nested more than 50"),
    "symlink_loop": (_link_loop, "loop.yaml: is a symbolic link that leads nowhere"),
    "merge_key_bomb": (_merge_bomb, "bomb.yaml:3: k0: unknown key 'k0'"),
    "directory": (_directory, "somedir.yaml: is a directory, not a workspace file"),
    "python_file_txt": (_text_file, "'jobs.txt' is not a Python module"),
    "nul_character": (_nul, "nul.yaml:2: invalid YAML: the control character #x0000"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_faulty_workspace_file_is_one_failed_item(pytester: pytest.Pytester, fault: str) -> None:
    make, message = FAULTS[fault]
    path = make(pytester.path)
    control_workspace(pytester.path)
    result = pytester.runpytest_subprocess(
        "--workspace", path.name, "--workspace", "control/workspace.yaml", "-rf"
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"*{message}*", f"FAILED {path.name}::load_workspace*"])


def test_merge_key_bomb_with_pyyaml_6_0_1(python_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PyYAML 6.0.1 (allowed by pyyaml>=6) flattens merge keys exponentially: the parser
    must not use it. Run in a virtualenv with that PyYAML, our package on PYTHONPATH."""
    import importlib.metadata
    import subprocess

    python = python_env(
        "3.11",
        name="pyyaml-6.0.1",
        packages=["pyyaml==6.0.1", f"execnet=={importlib.metadata.version('execnet')}"],
    )
    script = (
        "import sys, yaml\n"
        "from pytest_workspace.config import load_workspace_file\n"
        "from pytest_workspace.errors import WorkspaceFileError\n"
        "assert yaml.__version__ == '6.0.1', yaml.__version__\n"
        "try:\n"
        "    load_workspace_file(sys.argv[1])\n"
        "except WorkspaceFileError as error:\n"
        "    print(error)\n"
    )
    completed = subprocess.run(
        [str(python), "-c", script, str(GALLERY / "merge_key_bomb.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        timeout=120,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert "unknown key 'k0' in the top level" in completed.stdout


def test_control_character_in_a_mapping_key_gives_its_line(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_bytes(b"load_from:\n  - python_file: a.py\n\x07oops: 1\n")
    error = parse_error_at(path)
    assert error.line == 3
    assert "#x0007" in str(error) and "position" not in str(error)


def parse_error_at(path: Path) -> WorkspaceFileError:
    with pytest.raises(WorkspaceFileError) as info:
        load_workspace_source(path)
    return info.value


def test_workspace_file_option_with_a_text_file_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "jobs.txt").write_text("not python\n")
    result = pytester.runpytest_subprocess("--workspace-file", "jobs.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: <command line>: python_file: 'jobs.txt' is not a Python*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()

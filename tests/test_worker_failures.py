"""What happens when a code location cannot load, hangs, or dies: real workers, real signals.

Every failure is reported for its own location only, with a message that says what went
wrong and what to do; the process table (``/proc``) proves that no process is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List

import execnet
import pytest
from interpreters import require_interpreter
from processes import alive, wait_gone

from pytest_workspace import (
    LocationLoadError,
    RemoteError,
    WorkerCrashedError,
    WorkerRestartedWarning,
    WorkerTimeoutError,
    Workspace,
    _worker,
    load_workspace,
    locations,
    protocol,
)
from pytest_workspace.locations import shipped_modules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "api"
LOAD_ERRORS = FIXTURES / "load_errors"


def errors_by_location(workspace: Workspace) -> Dict[str, LocationLoadError]:
    return {loc.name: loc.load_error for loc in workspace.locations if loc.load_error}


# -- load errors in user code ------------------------------------------------------------


@pytest.fixture(scope="module")
def broken() -> Iterator[Workspace]:
    with load_workspace(LOAD_ERRORS / "workspace.yaml", timeout=30) as workspace:
        yield workspace


#: location -> fragments its load error must contain (cause, and what to do).
EXPECTED_LOAD_ERRORS = {
    "import_error.py": ["raised ZeroDivisionError: division by zero", "fix the error"],
    "no_repository.py": ["defines no repository and no job", "declare a @repository"],
    "two_jobs.py": ["defines 2 jobs (first_job, second_job) and no repository", "attribute"],
    "bad_repository.py": ["unknown key 'job'", "did you mean 'jobs'?", "allowed keys"],
    "exits_at_import.py": ["called sys.exit(2)", "if __name__ == '__main__':"],
    "does_not_exist.py": ["does_not_exist.py does not exist", "fix relative_path"],
    "no_such_module_here": ["module no_such_module_here was not found", "working_directory"],
    "healthy.py:healthy_repo": [
        "no attribute 'healthy_repo'",
        "; did you mean 'healthy_repository'?",
    ],
    "healthy.py:NOT_A_REPOSITORY": ["of type int, not a repository or a job", "point `attribute`"],
    "lost_directory": ["no_such_directory does not exist", "working_directory"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_LOAD_ERRORS))
def test_a_location_that_cannot_load_reports_why(broken: Workspace, name: str) -> None:
    error = errors_by_location(broken)[name]
    assert isinstance(error, LocationLoadError)
    assert error.location == name
    text = str(error)
    assert text.startswith(f"code location {name!r} failed to load: ")
    for fragment in EXPECTED_LOAD_ERRORS[name]:
        assert fragment in text
    # No frame of ours, ever.
    assert "_worker.py" not in text and "<pytest_workspace" not in text
    assert "importlib" not in text
    with pytest.raises(LocationLoadError):
        broken.location(name).client.describe()


def test_every_broken_location_is_checked(broken: Workspace) -> None:
    assert set(errors_by_location(broken)) == set(EXPECTED_LOAD_ERRORS)


def test_the_other_locations_load_and_run(broken: Workspace) -> None:
    assert broken.job("healthy_job").execute().output_for("fine") == "fine"
    # A module with a single bare job becomes a repository of its own.
    repo = broken.repository("__repository__lonely_job")
    assert repo.job_names == ["lonely_job"]
    assert broken.job("lonely_job").execute().output_for("alone") == "alone"


def test_an_import_error_shows_the_users_frames_only(broken: Workspace) -> None:
    error = errors_by_location(broken)["import_error.py"]
    tb = error.remote_traceback
    assert tb.startswith("Traceback (most recent call last):")
    assert f'File "{LOAD_ERRORS / "import_error.py"}", line 10, in <module>' in tb
    assert "AVERAGE = average([])" in tb
    assert "line 7, in average" in tb
    assert tb.rstrip().endswith("ZeroDivisionError: division by zero")
    assert tb.count('File "') == 2


def test_a_definition_error_at_import_points_at_the_repository(broken: Workspace) -> None:
    error = errors_by_location(broken)["bad_repository.py"]
    assert "bad_repository.py" in error.remote_traceback
    assert "InvalidDefinitionError" in str(error)


def test_what_a_failing_import_printed_is_kept(broken: Workspace) -> None:
    assert broken.location("exits_at_import.py").load_output == ("running as a script\n", "")


def test_failed_locations_leave_no_process(broken: Workspace) -> None:
    # ``worker.pid`` is None once a worker is stopped: it cannot tell. The real pids are the
    # ones each worker reported when it started (its code failed to load after that).
    failed: Dict[str, int] = {}
    for location in broken.locations:
        if location.load_error is not None:
            assert location.worker.info is not None, location.name
            assert location.worker.starts == 1, location.name  # no other process to check
            failed[location.name] = location.worker.info.pid
    assert set(failed) == set(EXPECTED_LOAD_ERRORS)
    healthy = [loc.worker.pid for loc in broken.locations if loc.load_error is None]
    assert healthy and all(pid is not None and alive(pid) for pid in healthy)
    assert not set(failed.values()) & set(healthy)
    # The check sees a process that is left: the healthy workers, alive, are reported.
    assert wait_gone(healthy, timeout=0.1) == healthy
    assert wait_gone(failed.values()) == []


# -- load errors of the interpreter ------------------------------------------------------


@pytest.fixture(scope="module")
def bad_interpreters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("interpreters")
    script = folder / "not_python.sh"
    script.write_text("#!/bin/sh\necho 'I am a shell script' >&2\nexit 1\n")
    script.chmod(0o755)
    healthy = LOAD_ERRORS / "healthy.py"
    entries = {
        "python_3_7": require_interpreter("3.7"),
        "python_2_7": require_interpreter("2.7"),
        "bin_true": "/bin/true",
        "shell_script": str(script),
        "missing": str(folder / "no" / "python"),
        "not_executable": str(healthy),
        "directory": str(folder),
        "host": sys.executable,
    }
    lines = ["load_from:"]
    for name, executable in entries.items():
        lines += [
            "  - python_file:",
            f"      relative_path: {json.dumps(str(healthy))}",
            f"      location_name: {name}",
            f"      executable_path: {json.dumps(executable)}",
        ]
    workspace_file = folder / "workspace.yaml"
    workspace_file.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    with load_workspace(workspace_file, timeout=30) as workspace:
        workspace.load_seconds = time.monotonic() - started  # type: ignore[attr-defined]
        yield workspace


EXPECTED_INTERPRETER_ERRORS = {
    "python_3_7": ["is Python 3.7.", "need Python 3.8 or newer"],
    "python_2_7": ["is Python 2.7.", "need Python 3.8 or newer"],
    "bin_true": ["could not start a Python worker with /bin/true", "Python 3.8+ interpreter"],
    "shell_script": ["does not behave like a Python interpreter", "I am a shell script"],
    "missing": ["no/python does not exist", "Python 3.8+ interpreter"],
    "not_executable": ["healthy.py is not an executable file"],
    "directory": ["is not an executable file"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_INTERPRETER_ERRORS))
def test_a_location_whose_interpreter_is_unusable_reports_why(
    bad_interpreters: Workspace, name: str
) -> None:
    text = str(errors_by_location(bad_interpreters)[name])
    for fragment in EXPECTED_INTERPRETER_ERRORS[name]:
        assert fragment in text
    assert "SyntaxError" not in text  # execnet's bootstrap failing on an old Python


def test_unusable_interpreters_fail_fast_and_spare_the_others(
    bad_interpreters: Workspace,
) -> None:
    assert set(errors_by_location(bad_interpreters)) == set(EXPECTED_INTERPRETER_ERRORS)
    # Well under the 30 s start timeout: no bad interpreter was waited for until then.
    assert bad_interpreters.load_seconds < 25  # type: ignore[attr-defined]
    assert bad_interpreters.job("healthy_job").execute().success


def test_an_executable_that_never_answers_is_stopped(tmp_path: Path) -> None:
    script = tmp_path / "silent.sh"
    child_pid_file = tmp_path / "child.pid"
    # Not `exec`: the shell's own child must be stopped with it.
    script.write_text(f"#!/bin/sh\nsleep 1000 &\necho $! > {child_pid_file}\nwait\n")
    script.chmod(0o755)
    workspace_file = tmp_path / "workspace.yaml"
    workspace_file.write_text(
        "load_from:\n  - python_file:\n"
        f"      relative_path: {json.dumps(str(LOAD_ERRORS / 'healthy.py'))}\n"
        f"      executable_path: {json.dumps(str(script))}\n"
    )
    started = time.monotonic()
    with load_workspace(workspace_file, start_timeout=1) as workspace:
        elapsed = time.monotonic() - started
        error = workspace.locations[0].load_error
    assert elapsed < 60  # the script waits 1000 s: it was cut short
    assert error is not None and "did not answer within 1s" in str(error)
    assert wait_gone([int(child_pid_file.read_text())]) == []


# -- hangs: timeouts ---------------------------------------------------------------------


#: The workspace timeout of ``ws``: it also bounds every (re)start of a healthy location,
#: so it leaves room for a loaded machine; the hanging jobs sleep 1000 s.
WS_TIMEOUT = 5


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    with load_workspace(FIXTURES / "workspace.yaml", timeout=WS_TIMEOUT) as workspace:
        yield workspace


def wait_for_file(path: Path, timeout: float = 60.0) -> str:
    """Wait until a job (from inside user code) has written ``path``; return its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if text:
                return text
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written within {timeout:g}s")


def spawning_config(pid_file: Path) -> Dict[str, object]:
    """Run config of ``spawning_job``: it writes its child's pid, then sleeps 1000 s."""
    return {"ops": {"start_a_subprocess_and_hang": {"config": {"pid_file": str(pid_file)}}}}


def test_a_hanging_job_is_stopped_after_the_timeout(ws: Workspace) -> None:
    location = ws.location("jobs.py")
    ws.job("quick_job").execute()
    pid = location.worker.pid
    assert pid is not None
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError) as info:
        ws.job("hanging_job").execute(timeout=1)
    assert time.monotonic() - started < 60  # the job sleeps 1000 s: it was cut short
    message = str(info.value)
    assert "execute_job in code location 'jobs.py' did not finish within 1s" in message
    assert f"pid {pid}" in message and "--workspace-timeout" in message
    assert wait_gone([pid]) == []
    # The next call starts a fresh worker: nothing built before survives.
    assert ws.repository("api_repository").constructed_job_names == []
    assert ws.job("quick_job").execute().success
    assert location.worker.pid not in (None, pid)
    assert ws.repository("api_repository").constructed_job_names == ["quick_job"]


def test_the_workspace_timeout_applies_by_default(ws: Workspace) -> None:
    pid = current_pid(ws)
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError) as info:
        ws.job("hanging_job").execute()
    assert time.monotonic() - started < 60  # the job sleeps 1000 s: it was cut short
    assert (
        f"execute_job in code location 'jobs.py' did not finish within {WS_TIMEOUT}s; "
        f"its worker (pid {pid}) was killed"
    ) in str(info.value)


def test_a_timeout_stops_what_the_job_started_too(ws: Workspace, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    current_pid(ws)  # started: the call's timeout bounds the job alone
    with pytest.raises(WorkerTimeoutError, match="within 3s"):
        ws.job("spawning_job").execute(spawning_config(pid_file), timeout=3)
    assert wait_gone([int(pid_file.read_text())]) == []


def test_a_hanging_import_is_bounded_by_the_load_timeout(tmp_path: Path) -> None:
    module = tmp_path / "slow_import.py"
    module.write_text("import time\ntime.sleep(1000)\n")
    started = time.monotonic()
    with load_workspace(python_file=[module, FIXTURES / "other.py"], load_timeout=5) as workspace:
        elapsed = time.monotonic() - started
        slow, other = workspace.locations
        assert other.load_error is None
        assert workspace.job("other_job").execute().success
    assert elapsed < 60  # the import sleeps 1000 s: it was cut short
    assert isinstance(slow.load_error, LocationLoadError)
    assert slow.worker.info is not None
    assert (
        "code location 'slow_import.py' failed to load: importing its code did not finish "
        f"within 5s; its worker (pid {slow.worker.info.pid}) was killed"
    ) in str(slow.load_error)
    assert "--workspace-load-timeout" in str(slow.load_error)
    assert wait_gone([slow.worker.info.pid]) == []


# -- deaths: crashes and kills -----------------------------------------------------------


def assert_restarts(ws: Workspace, dead_pid: int) -> None:
    assert wait_gone([dead_pid]) == []
    assert ws.job("quick_job").execute().success
    new_pid = ws.location("jobs.py").worker.pid
    assert new_pid is not None and new_pid != dead_pid and alive(new_pid)


def current_pid(ws: Workspace) -> int:
    ws.job("quick_job").execute()  # make sure a worker runs
    pid = ws.location("jobs.py").worker.pid
    assert pid is not None
    return pid


def test_a_job_that_exits_the_process_is_reported(ws: Workspace) -> None:
    pid = current_pid(ws)
    with pytest.raises(WorkerCrashedError) as info:
        ws.job("exiting_job").execute()
    message = str(info.value)
    assert f"(pid {pid}) exited with status 3 during execute_job" in message
    assert "restarted by the next call" in message
    assert_restarts(ws, pid)


def test_a_segfault_is_reported_with_the_signal_and_the_users_frame(ws: Workspace) -> None:
    pid = current_pid(ws)
    with pytest.raises(WorkerCrashedError) as info:
        ws.job("segfault_job").execute()
    message = str(info.value)
    assert "was killed by signal SIGSEGV" in message
    assert "Segmentation fault" in message
    assert "read_address_zero" in message  # faulthandler's dump of the user's frame
    assert_restarts(ws, pid)


def test_a_worker_killed_while_idle_is_restarted_by_the_next_call(ws: Workspace) -> None:
    pid = current_pid(ws)
    os.kill(pid, signal.SIGKILL)
    # Gone from the host's point of view: reaped (a process whose threads are still
    # exiting already shows as a zombie in /proc, but cannot be waited for yet).
    deadline = time.monotonic() + 30
    while ws.location("jobs.py").worker.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid)
    # The call runs on a new worker; the death is a warning naming the last call.
    with pytest.warns(WorkerRestartedWarning) as warned:
        assert ws.job("quick_job").execute().success
    assert (
        f"its worker (pid {pid}) was killed by signal SIGKILL (Killed) while idle, after "
        "execute_job of job 'quick_job'; a new worker was started for execute_job of job "
        "'quick_job'"
    ) in str(warned[0].message)
    assert_restarts(ws, pid)


def test_a_worker_killed_during_a_call_fails_that_call(ws: Workspace, tmp_path: Path) -> None:
    pid = current_pid(ws)
    pid_file = tmp_path / "child.pid"

    def kill_once_the_job_runs() -> None:
        wait_for_file(pid_file)  # written by the op: the call is in user code now
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_once_the_job_runs, daemon=True)
    killer.start()
    # The job sleeps 1000 s and the call's timeout is 120 s: only the kill ends it.
    with pytest.raises(WorkerCrashedError) as info:
        ws.job("spawning_job").execute(spawning_config(pid_file), timeout=120)
    killer.join(60)
    assert f"(pid {pid}) was killed by signal SIGKILL (Killed) during execute_job" in str(
        info.value
    )
    # What the job started is stopped with its worker.
    assert wait_gone([int(pid_file.read_text())]) == []
    assert_restarts(ws, pid)


def test_the_other_location_is_not_disturbed(ws: Workspace) -> None:
    other = ws.location("other")
    pid = other.worker.pid
    with pytest.raises(WorkerCrashedError):
        ws.job("exiting_job").execute()
    assert ws.job("other_job").execute().success
    assert other.worker.pid == pid


def test_an_unknown_command_is_refused_with_the_known_ones(ws: Workspace) -> None:
    with pytest.raises(RemoteError) as info:
        ws.location("other").client._call("frobnicate", None, {})
    assert info.value.kind == "protocol"
    # The worker knows exactly the commands protocol.COMMANDS lists, and the host's
    # client has one method for each (init and load are sent by start()).
    requests = [name for name in protocol.COMMANDS if name != "init"]
    assert str(info.value).endswith(
        f"unknown command 'frobnicate'; this worker knows: {', '.join(requests)}"
    )
    for name in requests:
        method = "start" if name == "load" else name
        assert callable(getattr(locations.LocationWorker, method)), name


# -- no process outlives its owner -------------------------------------------------------


def test_closing_during_a_call_stops_the_worker_and_fails_the_call(tmp_path: Path) -> None:
    workspace = load_workspace(FIXTURES / "workspace.yaml", timeout=120)
    pids = [loc.worker.pid for loc in workspace.locations]
    pid_file = tmp_path / "child.pid"
    errors: List[BaseException] = []

    def run() -> None:
        try:
            workspace.job("spawning_job").execute(spawning_config(pid_file))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        child = int(wait_for_file(pid_file))  # the job is in user code, sleeping 1000 s
    finally:
        workspace.close()
    thread.join(60)  # well under the job's 1000 s and the call's 120 s timeout
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], WorkerCrashedError)
    assert "execute_job in code location 'jobs.py' was interrupted: the workspace was closed" in (
        str(errors[0])
    )
    assert wait_gone([*(pid for pid in pids if pid is not None), child]) == []


HOST_SCRIPT = """
import json, os, sys, threading, time
from pytest_workspace import load_workspace

ws = load_workspace({workspace!r}, timeout=1000)
config = {{"ops": {{"start_a_subprocess_and_hang": {{"config": {{"pid_file": {pid_file!r}}}}}}}}}
threading.Thread(target=lambda: ws.job("spawning_job").execute(config), daemon=True).start()
deadline = time.monotonic() + 60
while not (os.path.exists({pid_file!r}) and open({pid_file!r}).read()):  # written by the op
    if time.monotonic() > deadline:
        sys.exit("the job did not start within 60s")
    time.sleep(0.02)
# The jobs.py worker is now in user code, sleeping 1000 s; its child too.
child = int(open({pid_file!r}).read())
print(json.dumps([loc.worker.pid for loc in ws.locations] + [child]), flush=True)
sys.stdin.readline()  # the test has seen the workers alive
how = sys.argv[1]
if how == "os._exit":
    os._exit(0)
elif how == "return":
    pass  # a normal exit, without closing the workspace
else:
    time.sleep(1000)  # until the test kills us
"""


@pytest.mark.parametrize("how", ["SIGKILL", "os._exit", "return"])
def test_no_worker_outlives_its_host_process(tmp_path: Path, how: str) -> None:
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            HOST_SCRIPT.format(
                workspace=str(FIXTURES / "workspace.yaml"), pid_file=str(tmp_path / "child.pid")
            )
        )
    )
    host = subprocess.Popen(
        [sys.executable, str(script), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None and host.stdin is not None
        pids = json.loads(host.stdout.readline())  # two workers and the job's child
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        if how == "SIGKILL":
            host.kill()
        else:
            host.stdin.write("go\n")
            host.stdin.flush()
        host.wait(timeout=60)
        assert wait_gone(pids, timeout=30) == []
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


# -- the protocol version ----------------------------------------------------------------


def test_the_worker_refuses_a_host_of_another_protocol_version() -> None:
    assert _worker.PROTOCOL_VERSION == protocol.PROTOCOL_VERSION
    gateway = execnet.makegateway(f"popen//python={sys.executable}")
    try:
        channel = gateway.remote_exec(_worker)
        channel.send(
            {
                "cmd": "init",
                "id": 1,
                "protocol": 999,
                "location": {"kind": "python_file", "target": "/nowhere.py"},
                "modules": shipped_modules(),
            }
        )
        reply = json.loads(channel.receive(10))  # replies travel as JSON text
        assert reply["ok"] is False and reply["id"] == 1
        error = reply["error"]
        assert error["type"] == "ProtocolError" and error["kind"] == "protocol"
        assert "host speaks protocol version 999" in error["message"]
        assert f"this worker speaks version {protocol.PROTOCOL_VERSION}" in error["message"]
        assert "reinstall" in error["message"]
        channel.waitclose(10)  # the worker stops serving
    finally:
        gateway.exit()
        gateway._group.terminate(timeout=5)


def shipping_protocol_edited(monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> None:
    """Ship workers a protocol module with ``old`` replaced by ``new`` in its source, as a
    mixed installation (our modules from two versions of the package) would."""
    modules = [list(pair) for pair in shipped_modules()]
    for pair in modules:
        if pair[0] == "pytest_workspace.protocol":
            assert old in pair[1]
            pair[1] = pair[1].replace(old, new)
    monkeypatch.setattr(locations, "shipped_modules", lambda: modules)


def test_a_worker_refuses_a_protocol_module_of_another_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipping_protocol_edited(
        monkeypatch,
        f"\nPROTOCOL_VERSION = {protocol.PROTOCOL_VERSION}\n",
        "\nPROTOCOL_VERSION = 999\n",
    )
    with load_workspace(FIXTURES / "workspace.yaml") as ws:
        errors = errors_by_location(ws)
    assert set(errors) == {"jobs.py", "other"}
    for error in errors.values():
        assert (
            f"the host sent protocol module version 999 to a worker of version "
            f"{protocol.PROTOCOL_VERSION}" in str(error)
        )


def test_the_host_refuses_a_worker_that_answers_in_another_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipping_protocol_edited(
        monkeypatch, '"protocol": PROTOCOL_VERSION,', '"protocol": PROTOCOL_VERSION + 1,'
    )
    with load_workspace(python_file=FIXTURES / "other.py") as ws:
        (location,) = ws.locations
        error = location.load_error
        assert error is not None and location.worker.pid is None  # no process kept
    assert (
        f"its worker speaks protocol version {protocol.PROTOCOL_VERSION + 1} but this host "
        f"speaks version {protocol.PROTOCOL_VERSION}" in str(error)
    )


# -- replies belong to their request --------------------------------------------------------

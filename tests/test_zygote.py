"""Dagster locations forked from one zygote per interpreter (issue 10, docs/dagster.md).

Real sessions on the cached Dagster virtualenvs: two or more Dagster locations of one
interpreter are forked from one process that imported Dagster once, and run, fail and
restart as started workers do. Each job's op writes what its process is (pid, parent,
whether Dagster was imported before the location's code ran) to ``records.jsonl``; the
inner session's conftest writes the host's pid and records every worker's pid, which
must all be gone afterwards. No sleeps race the clock: the tests wait for files and pids.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Dict, Tuple

import execnet
import pytest
from conftest import PythonEnvFactory
from dagster_versions import NEWEST, OLDER
from processes import BOOTSTRAP, assert_no_worker_left, recorded_pids, wait_gone, with_pid_recorder
from test_coverage import COVERAGE_VERSION, line_of, report_row
from test_faults import DOUBLE_FORK, process_state, verdicts, wait_for_file, wait_until

from pytest_workspace import load_workspace, locations
from pytest_workspace._zygote_host import Zygote

#: A Dagster location: ``record`` writes one line of ``records.jsonl`` per op run.
DAGSTER_HEAD = """\
import gc, json, os, signal, sys, time
from pathlib import Path

PRELOADED = "dagster" in sys.modules  # before this module imports it: a forked worker
from dagster import Definitions, job, op

HERE = Path(__file__).resolve().parent


def record(job_name):
    with open("/proc/%d/cmdline" % os.getppid(), "rb") as handle:
        parent_cmdline = handle.read().replace(b"\\0", b" ").decode().strip()
    line = {
        "location": Path(__file__).name,
        "job": job_name,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "parent_cmdline": parent_cmdline,
        "preloaded": PRELOADED,
        "collecting": gc.isenabled(),
        "parent_threads": len(os.listdir("/proc/%d/task" % os.getppid())),
        "env": {key: os.environ.get(key) for key in ("WRAPPED", "BEFORE", "AFTER")},
    }
    with open(HERE / "records.jsonl", "a") as handle:
        handle.write(json.dumps(line) + "\\n")
"""

#: The inner session's conftest: the host's pid, and every worker's (``processes.py``).
HOST_PID = """
import os, pathlib

def pytest_configure(config):
    (pathlib.Path(__file__).parent / "host.pid").write_text(str(os.getpid()))
"""

NATIVE = """\
import json, os, sys
from pathlib import Path
from pytest_workspace.definitions import job, op, repository

@op
def plain_op():
    line = {"location": "plain.py", "job": "plain_job", "pid": os.getpid(),
            "ppid": os.getppid(), "preloaded": "dagster" in sys.modules}
    with open(Path(__file__).resolve().parent / "records.jsonl", "a") as handle:
        handle.write(json.dumps(line) + "\\n")

@job
def plain_job():
    plain_op()

@repository
def plain_repository():
    return [plain_job]
"""


def dagster_location(jobs: Dict[str, str]) -> str:
    """A Dagster module of one job per entry: its op runs ``body`` (which may use
    ``record(name)``)."""
    source = DAGSTER_HEAD
    for name, body in jobs.items():
        source += (
            f"\n\n@op\ndef {name}_op():\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}\n"
            f"\n\n@job\ndef {name}():\n    {name}_op()\n"
        )
    return source + f"\n\ndefs = Definitions(jobs=[{', '.join(jobs)}])\n"


def recording(name: str) -> Dict[str, str]:
    return {name: f"record({name!r})"}


def write_workspace(folder: Path, locations: Dict[str, Tuple[str, Path]]) -> Path:
    """``workspace.yaml`` of ``python_file`` entries: file name -> (source, executable)."""
    entries = []
    for file_name, (source, python) in locations.items():
        (folder / file_name).write_text(source)
        entries.append(
            f"  - python_file:\n      relative_path: {file_name}\n      executable_path: {python}\n"
        )
    (folder / "conftest.py").write_text(with_pid_recorder(HOST_PID))
    workspace = folder / "workspace.yaml"
    workspace.write_text("load_from:\n" + "".join(entries))
    return workspace


def records(folder: Path) -> Dict[str, Dict[str, object]]:
    """job name -> what its op recorded (the last run of it)."""
    found = {}
    path = folder / "records.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        entry = json.loads(line)
        found[entry["job"]] = entry
    return found


def host_pid(folder: Path) -> int:
    return int((folder / "host.pid").read_text())


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


@pytest.fixture(scope="module")
def dagster_python(python_env: PythonEnvFactory) -> Path:
    return python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])


@pytest.fixture(scope="module")
def older_dagster_python(python_env: PythonEnvFactory) -> Path:
    return python_env(OLDER.python, name="dagster", packages=[OLDER.requirement])


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The inner session, where any warning is an error (none comes from forking), and
    nothing is left for the collector to warn of when the host exits."""
    result = pytester.runpytest_subprocess(
        "--workspace", "workspace.yaml", "-rA", "-p", "no:cacheprovider", "-W", "error", *args
    )
    assert "Warning" not in result.stderr.str(), result.stderr.str()
    return result


# -- who is forked -------------------------------------------------------------------------


def test_dagster_locations_of_one_interpreter_are_forked_from_one_zygote(
    pytester: pytest.Pytester, dagster_python: Path, older_dagster_python: Path
) -> None:
    write_workspace(
        pytester.path,
        {
            "alpha.py": (dagster_location(recording("alpha_job")), dagster_python),
            "beta.py": (dagster_location(recording("beta_job")), dagster_python),
            "gamma.py": (dagster_location(recording("gamma_job")), dagster_python),
            # Same interpreter, no Dagster: started as always.
            "plain.py": (NATIVE, dagster_python),
            # Dagster, but the only location of its interpreter: started as always.
            "older.py": (dagster_location(recording("older_job")), older_dagster_python),
        },
    )
    # Dagster 1.11 itself warns while it runs a job, forked or not.
    result = run(pytester, "-W", "ignore:Support for class-based `config` is deprecated")
    result.assert_outcomes(passed=5)
    host = host_pid(pytester.path)
    seen = records(pytester.path)
    forked = [seen[name] for name in ("alpha_job", "beta_job", "gamma_job")]
    zygote = forked[0]["ppid"]
    assert zygote != host
    for entry in forked:
        # One parent, which the host started with a worker's command line...
        assert entry["ppid"] == zygote, seen
        assert BOOTSTRAP in str(entry["parent_cmdline"]), seen
        # ...and which had imported Dagster before the location's code ran, with the
        # collector off, which is on again in the worker.
        assert entry["preloaded"] is True, seen
        assert entry["collecting"] is True, seen
    assert len({entry["pid"] for entry in forked}) == 3
    for name in ("plain_job", "older_job"):
        assert seen[name]["ppid"] == host, seen
        assert seen[name]["preloaded"] is False, seen
    pids = assert_no_worker_left(pytester.path, at_least=6)  # 5 workers and the zygote
    assert zygote in pids


@pytest.fixture(scope="module")
def dagster_python_3_12(python_env: PythonEnvFactory) -> Path:
    return python_env("3.12", name="dagster", packages=[NEWEST.requirement])


def test_the_zygote_has_one_thread_on_python_3_12(
    pytester: pytest.Pytester, dagster_python_3_12: Path
) -> None:
    # Python 3.12+ warns when a process with threads forks ("This process (pid=...) is
    # multi-threaded, use of fork() may lead to deadlocks"), on its stderr (not as an
    # exception): the zygote, which imported Dagster, must have a single thread.
    write_workspace(
        pytester.path,
        {
            "alpha.py": (dagster_location(recording("alpha_job")), dagster_python_3_12),
            "beta.py": (dagster_location(recording("beta_job")), dagster_python_3_12),
        },
    )
    run(pytester).assert_outcomes(passed=2)
    alpha, beta = records(pytester.path)["alpha_job"], records(pytester.path)["beta_job"]
    assert alpha["preloaded"] is True and beta["preloaded"] is True
    assert alpha["ppid"] == beta["ppid"] != host_pid(pytester.path)
    assert alpha["parent_threads"] == beta["parent_threads"] == 1
    assert_no_worker_left(pytester.path, at_least=3)


@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_the_zygote_forks_workers_on_the_oldest_and_newest_python(
    python_env: PythonEnvFactory, version: str
) -> None:
    # Dagster is not installed for every Python: the zygote of these bare envs imports
    # modules of the standard library, and forks a worker execnet bootstraps as ever.
    python = str(python_env(version))
    zygote = Zygote(python, locations._guardian, modules=("json", "decimal"))
    zygote.start()
    group = execnet.Group()
    try:
        with tempfile.TemporaryFile() as stderr:
            popen = zygote.fork(stderr, timeout=60)
            assert popen is not None, zygote.failure
            spec = execnet.XSpec("popen//id=forked")
            spec.python = python
            spec.execmodel = group.remote_execmodel.backend
            gateway = locations._bootstrap(locations._WorkerIO(popen, group.execmodel), spec)
            group._register(gateway)
            channel = gateway.remote_exec(
                "import os, sys\n"
                "channel.send([os.getppid(), 'decimal' in sys.modules, list(sys.version_info[:2]),"
                " os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid(),"
                " sys.stdin.readable(), sys.stdout.writable()])"
            )
            parent, preloaded, running, leads_group, leads_session, *streams = channel.receive(60)
            gateway.exit()
            assert popen.wait(60) == 0
        assert parent == zygote.pid and preloaded and leads_group and leads_session
        assert all(streams)
        assert running == [int(part) for part in version.split(".")]
    finally:
        group.terminate(5)
        zygote.stop()
    assert zygote.pid is not None and wait_gone([zygote.pid]) == []


def test_no_fork_starts_every_location_on_its_own(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    write_workspace(
        pytester.path,
        {
            "alpha.py": (dagster_location(recording("alpha_job")), dagster_python),
            "beta.py": (dagster_location(recording("beta_job")), dagster_python),
        },
    )
    (pytester.path / "pytest.ini").write_text("[pytest]\nworkspace_fork = true\n")
    result = run(pytester, "--workspace-no-fork")
    result.assert_outcomes(passed=2)
    host = host_pid(pytester.path)
    for entry in records(pytester.path).values():
        assert entry["ppid"] == host and entry["preloaded"] is False, entry
    # The ini key says the same.
    (pytester.path / "records.jsonl").unlink()
    (pytester.path / "pytest.ini").write_text("[pytest]\nworkspace_fork = false\n")
    run(pytester).assert_outcomes(passed=2)
    for entry in records(pytester.path).values():
        assert entry["ppid"] == host_pid(pytester.path) and entry["preloaded"] is False
    assert_no_worker_left(pytester.path, at_least=2)


def test_each_xdist_worker_forks_the_locations_it_owns(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    names = ("alpha", "beta", "gamma", "delta")
    write_workspace(
        pytester.path,
        {f"{n}.py": (dagster_location(recording(f"{n}_job")), dagster_python) for n in names},
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=4)
    seen = records(pytester.path)
    assert all(seen[f"{n}_job"]["preloaded"] is True for n in names), seen
    # Each xdist worker owns two locations, forked from a zygote of its own.
    zygotes = {seen[f"{n}_job"]["ppid"] for n in names}
    assert len(zygotes) == 2, seen
    assert_no_worker_left(pytester.path, at_least=6)


def test_a_fresh_worker_per_job_is_forked_for_each_job(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    jobs = {**recording("a_first"), **recording("b_second")}
    write_workspace(pytester.path, {"alpha.py": (dagster_location(jobs), dagster_python)})
    result = run(pytester, "--workspace-fresh-worker")
    result.assert_outcomes(passed=2)
    seen = records(pytester.path)
    assert seen["a_first"]["pid"] != seen["b_second"]["pid"]
    assert seen["a_first"]["ppid"] == seen["b_second"]["ppid"] != host_pid(pytester.path)
    assert seen["a_first"]["preloaded"] is True and seen["b_second"]["preloaded"] is True
    assert_no_worker_left(pytester.path, at_least=2)


def test_a_forked_worker_gets_the_environment_a_started_one_would(
    tmp_path: Path, dagster_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An interpreter wrapper that sets a variable: the zygote is started through it.
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexport WRAPPED=yes\nexec "{dagster_python}" "$@"\n')
    wrapper.chmod(0o755)
    workspace = write_workspace(
        tmp_path,
        {
            "alpha.py": (dagster_location(recording("alpha_job")), wrapper),
            "beta.py": (dagster_location(recording("beta_job")), wrapper),
        },
    )
    monkeypatch.setenv("BEFORE", "set before the workspace loaded")
    monkeypatch.delenv("AFTER", raising=False)
    with load_workspace(workspace, timeout=120) as ws:
        ws.job("alpha_job").execute()
        first = records(tmp_path)["alpha_job"]
        assert first["preloaded"] is True
        assert first["env"] == {
            "WRAPPED": "yes",
            "BEFORE": "set before the workspace loaded",
            "AFTER": None,
        }
        # What the host changes later reaches the workers forked later, as it would
        # reach a started one.
        monkeypatch.setenv("AFTER", "set after")
        monkeypatch.delenv("BEFORE")
        ws.location("alpha.py").worker.kill()
        ws.job("alpha_job").execute()
        second = records(tmp_path)["alpha_job"]
    assert second["pid"] != first["pid"]
    assert second["ppid"] == first["ppid"]  # forked again, from the same zygote
    assert second["env"] == {"WRAPPED": "yes", "BEFORE": None, "AFTER": "set after"}


# -- faults of forked workers (docs/faults.md) ---------------------------------------------

FAULTY_JOBS = {
    "a_exits": "os._exit(3)",
    "a_hangs": "time.sleep(600)",
    "a_segfaults": "import ctypes\nctypes.string_at(0)",
    **recording("b_next_job"),
}


def test_a_forked_worker_that_dies_or_hangs_fails_its_item_and_is_forked_again(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    write_workspace(
        pytester.path,
        {
            "control.py": (dagster_location(recording("control_job")), dagster_python),
            "faulty.py": (dagster_location(FAULTY_JOBS), dagster_python),
        },
    )
    result = run(pytester, "--workspace-timeout", "20")
    found = verdicts(result)
    node = "workspace.yaml::faulty.py::__repository__::"
    assert found == {
        "workspace.yaml::control.py::__repository__::control_job": "PASSED",
        node + "a_exits": "FAILED",
        node + "a_hangs": "FAILED",
        node + "a_segfaults": "FAILED",
        node + "b_next_job": "PASSED",
    }, result.stdout.str()
    output = result.stdout.str()
    assert re.search(r"exited with status 3 during execute_job", output), output
    assert "did not finish within 20s" in output, output
    assert "was killed by signal SIGSEGV" in output, output
    seen = records(pytester.path)
    # The job after three restarts ran on a worker forked from the same zygote.
    assert seen["b_next_job"]["ppid"] == seen["control_job"]["ppid"] != host_pid(pytester.path)
    assert seen["b_next_job"]["preloaded"] is True
    assert_no_worker_left(pytester.path, at_least=3)


def test_a_daemon_a_forked_worker_started_ends_with_its_call(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    # The forked worker is a child subreaper: a process that double-forks and calls
    # setsid comes back to it, and is ended when the call that started it ends.
    jobs = {
        "a_starts_a_daemon": "double_fork_with_setsid(HERE / 'daemon.pid')",
        "b_finds_no_daemon": """
        cmdline = Path("/proc/%s/cmdline" % (HERE / "daemon.pid").read_text())
        # Gone, or a zombie (whose command line reads empty).
        assert not cmdline.exists() or not cmdline.read_bytes(), "the daemon is alive"
        record("b_finds_no_daemon")
        """,
    }
    source = dagster_location(jobs).replace("\n\n@op", DOUBLE_FORK + "\n\n@op", 1)
    write_workspace(
        pytester.path,
        {
            "control.py": (dagster_location(recording("control_job")), dagster_python),
            "faulty.py": (source, dagster_python),
        },
    )
    run(pytester).assert_outcomes(passed=3)
    seen = records(pytester.path)
    assert seen["b_finds_no_daemon"]["ppid"] == seen["control_job"]["ppid"]  # forked
    assert seen["b_finds_no_daemon"]["preloaded"] is True
    assert wait_gone([int((pytester.path / "daemon.pid").read_text())]) == []
    assert_no_worker_left(pytester.path, at_least=3)


def test_each_forked_location_reports_its_own_crash_at_import(
    tmp_path: Path, dagster_python: Path
) -> None:
    crash = "import ctypes\nimport dagster\n\nctypes.string_at(0)\n"
    (tmp_path / "broken_a.py").write_text(crash)
    (tmp_path / "broken_b.py").write_text(crash)
    (tmp_path / "healthy.py").write_text(dagster_location(recording("healthy_job")))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        + "".join(
            f"  - python_file:\n      relative_path: {name}\n"
            f"      executable_path: {dagster_python}\n"
            for name in ("broken_a.py", "broken_b.py", "healthy.py")
        )
    )
    with load_workspace(workspace, timeout=120) as ws:
        healthy = ws.location("healthy.py")
        assert healthy.load_error is None
        assert healthy.worker.pid is not None
        zygote = parent_of(healthy.worker.pid)
        assert zygote != os.getpid()
        for name, other in (("broken_a.py", "broken_b.py"), ("broken_b.py", "broken_a.py")):
            error = str(ws.location(name).load_error)
            assert "SIGSEGV" in error, error
            assert f'{name}", line 4 in <module>' in error, error
            assert other not in error, error
        ws.job("healthy_job").execute()
        assert records(tmp_path)["healthy_job"]["ppid"] == zygote
    assert wait_gone([zygote]) == []


def test_where_dagster_does_not_import_the_locations_start_and_say_so(
    tmp_path: Path, python_env: PythonEnvFactory
) -> None:
    bare = python_env("3.11")
    for name in ("alpha.py", "beta.py"):
        (tmp_path / name).write_text("import dagster\n")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        + "".join(
            f"  - python_file:\n      relative_path: {name}\n      executable_path: {bare}\n"
            for name in ("alpha.py", "beta.py")
        )
    )
    with load_workspace(workspace) as ws:
        assert ws._zygotes is not None
        (zygote,) = ws._zygotes.all
        assert zygote.state == "failed"
        assert "importing dagster failed: ModuleNotFoundError" in str(zygote.failure)
        # The zygote could not import Dagster: each location was started, and its own
        # import failed as it fails without zygotes.
        for location in ws.locations:
            error = str(location.load_error)
            assert "raised ModuleNotFoundError: No module named 'dagster'" in error, error
            assert location.worker.starts == 1


# -- the host and the zygote die -------------------------------------------------------------


def test_a_killed_host_leaves_neither_zygote_nor_forked_worker(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    """Both stopped, so that neither can see the host gone for itself: the guardian,
    told of both, ends them."""
    write_workspace(
        pytester.path,
        {
            "control.py": (dagster_location(recording("control_job")), dagster_python),
            "faulty.py": (
                dagster_location(
                    {
                        "a_holds_up": """
                        (HERE / "worker.pid").write_text(str(os.getpid()))
                        os.kill(os.getpid(), signal.SIGSTOP)
                        """
                    }
                ),
                dagster_python,
            ),
        },
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--workspace", "workspace.yaml", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        worker = int(wait_for_file(pytester.path / "worker.pid"))
        pids = recorded_pids(pytester.path)
        zygote = parent_of(worker)
        assert zygote in pids and worker in pids and len(pids) == 3, pids
        wait_until(lambda: process_state(worker) == "T", "the worker stops itself")
        os.kill(zygote, signal.SIGSTOP)
        process.kill()
        process.wait()
        assert wait_gone(pids, timeout=30) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_while_forked_locations_import_stops_the_run_at_once(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    hangs = 'import os, time\nimport dagster\nopen("{}.pid", "w").write(str(os.getpid()))\n'
    write_workspace(
        pytester.path,
        {
            f"{name}.py": (hangs.format(name) + "time.sleep(1000)\n", dagster_python)
            for name in ("first", "second")
        },
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--workspace", "workspace.yaml", "-p", "no:cacheprovider",
         "--workspace-load-timeout", "1000"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        workers = [int(wait_for_file(pytester.path / f"{n}.pid")) for n in ("first", "second")]
        zygote = parent_of(workers[0])
        assert parent_of(workers[1]) == zygote != process.pid
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output, output
    assert wait_gone([*workers, zygote]) == []


KILLS_ITS_ZYGOTE = """
zygote = os.getppid()
os.kill(zygote, signal.SIGKILL)
while os.getppid() == zygote:  # re-parented once the zygote is gone
    time.sleep(0.01)
record("a_kills_the_zygote")
"""


def test_a_killed_zygote_leaves_its_workers_serving_and_restarts_start_as_usual(
    pytester: pytest.Pytester, dagster_python: Path
) -> None:
    jobs = {
        "a_kills_the_zygote": KILLS_ITS_ZYGOTE,
        "a_then_exits": "os._exit(3)",
        **recording("b_next_job"),
    }
    write_workspace(
        pytester.path,
        {
            # Its items run first; then those of control.py, on the worker forked at load.
            "faulty.py": (dagster_location(jobs), dagster_python),
            "control.py": (dagster_location(recording("z_control_job")), dagster_python),
        },
    )
    result = run(pytester)
    node = "workspace.yaml::faulty.py::__repository__::"
    assert verdicts(result) == {
        "workspace.yaml::control.py::__repository__::z_control_job": "PASSED",
        node + "a_kills_the_zygote": "PASSED",
        node + "a_then_exits": "FAILED",
        node + "b_next_job": "PASSED",
    }, result.stdout.str()
    # Its zygote gone, nobody can tell a worker's exit status any more.
    assert "exited (its status is unknown: the zygote that forked it is gone)" in (
        result.stdout.str()
    )
    seen = records(pytester.path)
    host = host_pid(pytester.path)
    # The worker that killed the zygote went on serving its location...
    assert seen["a_kills_the_zygote"]["ppid"] != host
    # ...the restart after the crash started an interpreter, as without zygotes...
    assert seen["b_next_job"]["ppid"] == host
    assert seen["b_next_job"]["preloaded"] is False
    # ...and the other location's forked worker, whose zygote was gone, served its job.
    assert seen["z_control_job"]["preloaded"] is True
    assert seen["z_control_job"]["ppid"] != host
    assert_no_worker_left(pytester.path, at_least=3)


# -- coverage ------------------------------------------------------------------------------

#: A measured Dagster location: its job fails unless its worker was forked.
MEASURED = """\
import sys

PRELOADED = "dagster" in sys.modules
from dagster import Definitions, job, op


def ran(value):
    doubled = value * 2
    return doubled


def never():
    return "this line is never run"


@op
def compute():
    assert PRELOADED, "not forked"
    return ran(21)


@job
def measured_job():
    compute()


defs = Definitions(jobs=[measured_job])
"""


@pytest.fixture(scope="module")
def dagster_coverage_python(python_env: PythonEnvFactory) -> Path:
    return python_env(
        NEWEST.python,
        name="dagster-coverage",
        packages=[NEWEST.requirement, f"coverage=={COVERAGE_VERSION}"],
    )


def test_pytest_cov_measures_the_code_of_forked_workers(
    pytester: pytest.Pytester, dagster_coverage_python: Path
) -> None:
    # Four locations, starting at once in threads of their own: each asks for its data
    # file at the same moment (two of them once got two folders, one never combined).
    names = ("first.py", "second.py", "third.py", "fourth.py")
    write_workspace(pytester.path, {name: (MEASURED, dagster_coverage_python) for name in names})
    result = pytester.runpytest_subprocess(
        "--cov=.", "--cov-report=term-missing", "--workspace", "workspace.yaml",
        "-p", "no:xdist", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    output = result.stdout.str()
    never_body = line_of(MEASURED, "this line is never run")
    for name in names:
        row = report_row(output, name)
        assert row["missing"] == [never_body], output
    assert "measured by coverage" in output
    assert_no_worker_left(pytester.path, at_least=5)

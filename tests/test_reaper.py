"""A pid is a process's only until it is reaped: what pytest-workspace signals must be
the process it means (docs/faults.md, "Processes").

Real processes only. A process that got the pid of one that exited is made for real
where this test may move the kernel's pid counter (``/proc/sys/kernel/ns_last_pid``,
root in its pid namespace); elsewhere those tests are skipped, and the others name a
live process with the start time of one that exited, which is what a reused pid looks
like to the code that checks it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from typing import Iterator, List, Tuple

import pytest
from processes import alive, wait_gone

from pytest_workspace import _reaper, locations

pytestmark = pytest.mark.skipif(not _reaper.HAS_PROC, reason="start times come from /proc")

NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
SLEEP = ["sleep", "120"]
#: A group leader that starts a process in its group, says its pid, and exits.
LEADER_LEAVING_A_MEMBER = ["sh", "-c", "sleep 120 >/dev/null & echo $!"]
#: ...and one that stays.
LEADER_WITH_A_MEMBER = ["sh", "-c", "sleep 120 >/dev/null & echo $!; wait"]


@pytest.fixture
def orphans() -> Iterator[List[int]]:
    """This process adopts the orphans of its children for the test (as a worker does,
    a child subreaper), so that a group member whose leader exited is reaped once
    killed: a zombie would keep the group, and so its pid, in use (init here reaps
    nothing). Yields the list to put the orphans' pids in; they are killed and reaped."""
    if not _reaper.prctl(_reaper.PR_SET_CHILD_SUBREAPER, 1):
        pytest.skip("needs PR_SET_CHILD_SUBREAPER")
    adopted: List[int] = []
    try:
        yield adopted
    finally:
        _reaper.prctl(_reaper.PR_SET_CHILD_SUBREAPER, 0)
        for pid in adopted:
            end(pid)
            reap(pid)


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


@pytest.fixture
def spawn() -> Iterator[List[subprocess.Popen[bytes]]]:
    """Processes the test starts; whatever of them (and the pids they name) is left is
    killed at the end."""
    started: List[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start(spawn: List[subprocess.Popen[bytes]], args: List[str]) -> subprocess.Popen[bytes]:
    """A process leading a session and group of its own, as a worker does."""
    process = subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE)
    spawn.append(process)
    return process


def exited(spawn: List[subprocess.Popen[bytes]]) -> Tuple[int, int]:
    """The pid and start time of a process that ran, exited and was reaped; the next
    process starts in a later clock tick, so its start time differs."""
    process = start(spawn, SLEEP)
    started = _reaper.start_time(process.pid)
    assert started is not None
    process.kill()
    process.wait()
    time.sleep(2 / os.sysconf("SC_CLK_TCK"))
    return process.pid, started


def start_with_pid(
    spawn: List[subprocess.Popen[bytes]], pid: int, args: List[str]
) -> subprocess.Popen[bytes]:
    """A process started with ``pid``, which an exited process had: the kernel gives the
    number after the one in ns_last_pid (others' processes may take it first: again)."""
    if os.geteuid() != 0 or not os.access(NS_LAST_PID, os.W_OK):
        pytest.skip(f"needs to write {NS_LAST_PID}")
    for _ in range(50):
        try:
            with open(NS_LAST_PID, "w") as handle:
                handle.write(str(pid - 1))
        except OSError as error:
            pytest.skip(f"cannot write {NS_LAST_PID}: {error}")
        process = start(spawn, args)
        if process.pid == pid:
            return process
        process.kill()
        process.wait()
    pytest.skip(f"pid {pid} could not be had again")


def member_of(leader: subprocess.Popen[bytes], orphans: List[int]) -> int:
    """The pid of the process :data:`LEADER_LEAVING_A_MEMBER` left in its group, once
    the leader is gone (an orphan of ours: see :func:`orphans`)."""
    assert leader.stdout is not None
    member = int(leader.stdout.readline())
    orphans.append(member)
    leader.wait()
    assert alive(member) and os.getpgid(member) == leader.pid
    return member


def killed(pid: int) -> bool:
    """Whether ``pid`` was sent SIGKILL (or is gone). Decided the moment ``kill``
    returns, without waiting: the signal is pending until the process exits, and it is
    marked as exiting (``PF_EXITING``) until it is a zombie."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            status = dict(line.split(":\t", 1) for line in handle if ":\t" in line)
        with open(f"/proc/{pid}/stat") as handle:
            flags = int(handle.read().rsplit(")", 1)[1].split()[6])
    except OSError:
        return True
    pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
    return status["State"][0] in "ZX" or bool(pending & 1 << (signal.SIGKILL - 1) or flags & 4)


def end(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except OSError:
        pass


# -- send_signal --------------------------------------------------------------------------


def test_a_signal_reaches_only_the_process_that_started_then(
    spawn: List[subprocess.Popen[bytes]],
) -> None:
    _, old_start = exited(spawn)
    live = start(spawn, SLEEP)
    now = _reaper.start_time(live.pid)
    assert now is not None and now != old_start
    assert not _reaper.send_signal(live.pid, old_start)
    assert not _reaper.send_signal(live.pid, None)  # which process it was, nobody knows
    assert not killed(live.pid)
    assert _reaper.send_signal(live.pid, now)
    assert live.wait(10) == -9


def test_kill_tree_spares_a_live_process_recorded_with_another_start_time(
    spawn: List[subprocess.Popen[bytes]],
) -> None:
    """Neither the process nor the group it leads nor its children."""
    _, old_start = exited(spawn)
    live = start(spawn, LEADER_WITH_A_MEMBER)
    assert live.stdout is not None
    child = int(live.stdout.readline())
    _reaper.kill_tree(live.pid, old_start)
    _reaper.kill_tree(live.pid, old_start, with_descendants=False)
    _reaper.kill_tree(live.pid, None)
    assert not killed(live.pid) and not killed(child)
    _reaper.kill_tree(live.pid, _reaper.start_time(live.pid))
    live.wait(10)  # killed, or exited as its child was killed first
    assert wait_gone([child]) == []


# -- a pid reused for real ----------------------------------------------------------------


def test_a_reaped_workers_pid_given_to_another_process_is_not_signalled(
    spawn: List[subprocess.Popen[bytes]],
) -> None:
    """What the host does to a worker found dead (``_kill`` after ``_wait``): the pid
    of the reaped worker now names another process, which leads a group of its own."""
    with tempfile.TemporaryFile() as stderr:
        worker = locations._start_worker(SLEEP, stderr, None)
        spawn.append(worker)
        worker.kill()
        worker.wait()
    time.sleep(2 / os.sysconf("SC_CLK_TCK"))
    stranger = start_with_pid(spawn, worker.pid, SLEEP)
    locations._kill(worker)
    _reaper.kill_tree(worker.pid, worker.started)
    assert not killed(stranger.pid)


def test_the_group_of_a_gone_worker_is_ended_but_not_that_of_its_pids_next_owner(
    spawn: List[subprocess.Popen[bytes]], orphans: List[int]
) -> None:
    """A worker gone before what it left in its group: the group is ended (its id
    cannot be reused while it has a member). Once the group is gone too and the pid is
    another group leader's, neither that leader nor its group is touched."""
    ours = start(spawn, LEADER_LEAVING_A_MEMBER)
    ours_started = _reaper.start_time(ours.pid)
    left_behind = member_of(ours, orphans)
    _reaper.kill_tree(ours.pid, ours_started)
    assert wait_gone([left_behind]) == []
    reap(left_behind)
    time.sleep(2 / os.sysconf("SC_CLK_TCK"))
    stranger = start_with_pid(spawn, ours.pid, LEADER_WITH_A_MEMBER)
    assert stranger.stdout is not None
    strangers_member = int(stranger.stdout.readline())
    for with_descendants in (True, False):
        _reaper.kill_tree(ours.pid, ours_started, with_descendants)
    assert not killed(stranger.pid)
    assert not killed(strangers_member)
    _reaper.kill_tree(stranger.pid, _reaper.start_time(stranger.pid))
    assert wait_gone([strangers_member]) == []


# -- the guardian -------------------------------------------------------------------------


@pytest.fixture
def guardian() -> Iterator[locations._Guardian]:
    """A guardian as the host has one (``locations._Guardian``, this process its host),
    started by the first pid it is told of; ended at the end."""
    guardian = locations._Guardian()
    yield guardian
    if guardian._popen is not None and guardian._popen.poll() is None:
        guardian._popen.kill()
        guardian._popen.wait()


def host_dies(guardian: locations._Guardian) -> None:
    """What the guardian sees of its host's death: the end of its stdin."""
    process = guardian._popen
    assert process is not None and process.stdin is not None
    process.stdin.close()
    assert process.wait(30) == 0


def test_the_guardian_ends_what_it_was_told_of_and_nothing_that_got_its_pid(
    spawn: List[subprocess.Popen[bytes]], orphans: List[int], guardian: locations._Guardian
) -> None:
    """A worker it was told of dies with the host, but not one it was told to forget; a
    live process named with the start time of one that exited is spared, and so is
    one whose start time the host could not read (gone already: here the leader of a
    group whose member lives on)."""
    worker = start(spawn, SLEEP)
    guardian.watch(worker.pid, _reaper.start_time(worker.pid))
    forgotten = start(spawn, SLEEP)
    guardian.watch(forgotten.pid, _reaper.start_time(forgotten.pid))
    guardian.forget(forgotten.pid)
    _, old_start = exited(spawn)
    stranger = start(spawn, SLEEP)
    guardian.watch(stranger.pid, old_start)
    leader = start(spawn, LEADER_LEAVING_A_MEMBER)
    member = member_of(leader, orphans)
    guardian.watch(leader.pid, _reaper.start_time(leader.pid))
    host_dies(guardian)
    assert worker.wait(10) == -9
    assert not killed(forgotten.pid)
    assert not killed(stranger.pid)
    assert not killed(member)


def test_the_guardian_spares_a_process_that_got_a_watched_pid(
    spawn: List[subprocess.Popen[bytes]], guardian: locations._Guardian
) -> None:
    """The worker exits and is reaped while the host lives (and the host has not said so
    yet); its pid goes to another process: that one outlives the host. The host tells
    the start time with the pid: the guardian may read its stdin only after the pid was
    given again."""
    worker = start(spawn, SLEEP)
    guardian.watch(worker.pid, _reaper.start_time(worker.pid))
    worker.kill()
    worker.wait()
    time.sleep(2 / os.sysconf("SC_CLK_TCK"))
    stranger = start_with_pid(spawn, worker.pid, SLEEP)
    host_dies(guardian)
    assert not killed(stranger.pid)

"""pytest-xdist: the same outcomes as a serial run, by location, no process left."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from processes import assert_no_worker_left, recorded_pids, with_pid_recorder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OUTCOME = re.compile(r"^(PASSED|FAILED|SKIPPED|ERROR) (\S+::\S+?)(?: - .*)?$")

#: Records, in every process that runs items (pytest itself or an xdist worker), each
#: item's ``xdist_group`` marker (its name, or None): one JSON line per item.
GROUP_RECORDER = """
import json, os

def pytest_runtest_setup(item):
    marker = item.get_closest_marker("xdist_group")
    group = None
    if marker is not None:
        group = marker.kwargs.get("name", marker.args[0] if marker.args else None)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "groups.jsonl")
    with open(path, "a") as handle:
        handle.write(json.dumps([item.nodeid.partition("@")[0], group]) + "\\n")
"""


@pytest.fixture(autouse=True)
def _session_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "failing", pytester.path / "failing")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    pytester.makeconftest(with_pid_recorder(GROUP_RECORDER))


def outcomes(result: pytest.RunResult) -> Dict[str, str]:
    """Node id -> outcome, from the -rA summary (xdist's ``@group`` suffix removed)."""
    found: Dict[str, str] = {}
    for line in result.stdout.lines:
        match = OUTCOME.match(line)
        if match:
            found[match.group(2).partition("@")[0]] = match.group(1)
    return found


ARGS: List[str] = [
    "--workspace",
    "failing/workspace.yaml",
    "--workspace",
    "multi_repo/multi_repo_workspace.yaml",
    # Long enough for every healthy location to load (and restart) on a loaded machine;
    # the hanging job hangs forever, so it is the only one stopped by it.
    "--workspace-timeout",
    "4",
    "-rA",
    # Skip reasons carry no node id: count them, and compare the rest per node id.
    "-k",
    "not forecast_job",
]


def test_xdist_outcomes_match_a_serial_run(pytester: pytest.Pytester) -> None:
    serial = pytester.runpytest_subprocess(*ARGS)
    serial.assert_outcomes(passed=10, failed=8, skipped=1, deselected=1)
    expected = outcomes(serial)
    assert len(expected) == 18
    for extra in (["-n", "2"], ["-n", "2", "--dist", "loadgroup"]):
        distributed = pytester.runpytest_subprocess(*ARGS, *extra)
        distributed.assert_outcomes(passed=10, failed=8, skipped=1)  # xdist omits deselected
        assert outcomes(distributed) == expected, extra
        assert distributed.ret == serial.ret == pytest.ExitCode.TESTS_FAILED
    assert_no_worker_left(pytester.path, at_least=10)


#: The gateway id and node id of each item a -v run of xdist reports.
RAN_ON = re.compile(r"^\[(gw\d+)\] .*(?:PASSED|FAILED|SKIPPED|ERROR) (\S+)$")


def workers_by_location(result: pytest.RunResult) -> Dict[str, set]:
    """Location (``file::location``) -> the xdist workers that ran its items, from -v."""
    workers: Dict[str, set] = {}
    for line in result.stdout.lines:
        match = RAN_ON.match(line.strip())
        if match:
            path, _, rest = match.group(2).partition("::")
            workers.setdefault(f"{path}::{rest.split('::')[0]}", set()).add(match.group(1))
    return workers


FOUR_LOCATIONS = ["cereal_package", "single_repo.py", "healthy.py", "failing.py"]


@pytest.mark.parametrize(
    "workers",
    [
        ["-n", "2", "--dist", "load"],
        ["-n", "2", "--dist", "loadgroup"],
        ["-n", "2", "--dist", "loadscope"],
        ["-n", "2", "--dist", "loadfile"],
        # Explicit gateways, as for other hosts (docs/plugin.md): two popen ones here.
        ["--dist", "load", "--tx", "popen//python=" + sys.executable, "--tx", "popen"],
    ],
    ids=["load", "loadgroup", "loadscope", "loadfile", "tx-popen"],
)
def test_a_location_s_items_run_on_one_worker_and_start_its_process_once(
    pytester: pytest.Pytester, workers: List[str]
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace",
        "multi_repo/multi_repo_workspace.yaml",
        "--workspace",
        "failing/workspace.yaml",
        "-k",
        "healthy.py and not forecast or cereal_package or single_repo or failing_job",
        *workers,
        "-v",
    )
    result.assert_outcomes(passed=5, failed=1)
    workers = workers_by_location(result)
    assert sorted(key.split("::")[1] for key in workers) == sorted(FOUR_LOCATIONS)
    assert all(len(gateways) == 1 for gateways in workers.values()), workers
    # Locations are spread over the workers.
    assert set().union(*workers.values()) == {"gw0", "gw1"}, workers
    # Each worker started the locations it owns and only those, when it collected them
    # (scheduling.py too, whose items -k deselected; broken.py never started): one
    # process per location in the whole run, the controller started none.
    pids = recorded_pids(pytester.path)
    assert len(pids) == len(FOUR_LOCATIONS) + 1, pids
    assert_no_worker_left(pytester.path, at_least=len(FOUR_LOCATIONS))


def test_the_summary_has_every_location_and_the_worker_that_loaded_it(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", "multi_repo/multi_repo_workspace.yaml", "-n", "2"
    )
    # The controller loads nothing, so its header has no workspace line; the workers'
    # lines come at the end, with the line a serial run's header has.
    header = result.stdout.lines[: result.stdout.lines.index("2 workers [4 items]")]
    assert not [line for line in header if line.startswith("workspace")], header
    result.stdout.fnmatch_lines(
        [
            "*workspace locations (loaded by xdist workers)*",
            "workspace: loaded cereal_package (Python *) in *s on gw0",
            "workspace: loaded single_repo.py (Python *) in *s on gw1",
            "workspace: multi_repo/multi_repo_workspace.yaml: cereal_package (Python *), "
            "single_repo.py (Python *)",
        ]
    )
    result.assert_outcomes(passed=4)


def recorded_groups(pytester: pytest.Pytester) -> Dict[str, Optional[str]]:
    """Node id -> its xdist_group (None: no marker); forgets them."""
    path = pytester.path / "groups.jsonl"
    groups = dict(json.loads(line) for line in path.read_text().splitlines())
    path.unlink()
    return groups


@pytest.mark.parametrize(
    "extra",
    [[], ["-n", "2"], ["-n", "2", "--dist", "loadgroup"]],
    ids=["serial", "load", "loadgroup"],
)
def test_items_need_no_xdist_group_marker(pytester: pytest.Pytester, extra: List[str]) -> None:
    # Grouping is the plugin's own scheduler's: node ids stay the same in every mode and
    # on every pytest version (xdist's loadgroup appends "@group" where it still can).
    result = pytester.runpytest_subprocess(
        "--workspace", "multi_repo/multi_repo_workspace.yaml", *extra
    )
    result.assert_outcomes(passed=4)
    assert recorded_groups(pytester) == dict.fromkeys(LOCATION_OF_ITEM)
    assert_no_worker_left(pytester.path, at_least=2)


LOCATION_OF_ITEM = [
    "multi_repo/multi_repo_workspace.yaml::cereal_package::cereal_repository::count_job",
    "multi_repo/multi_repo_workspace.yaml::cereal_package::cereal_repository::hello_job",
    "multi_repo/multi_repo_workspace.yaml::cereal_package::reporting_repository::report_job",
    "multi_repo/multi_repo_workspace.yaml::single_repo.py::single_file_repository::hello_job",
]


# -- ownership: each location starts once in the whole run, on the worker that owns it ---

#: A location module that appends ``<location> <pid> <parent pid>`` to ``starts.txt``
#: when its code is imported: each line is one start of the location, anywhere.
COUNTED_LOCATION = """
import os

from pytest_workspace.definitions import job, op, repository

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "starts.txt"), "a") as f:
    f.write("{name} %d %d\\n" % (os.getpid(), os.getppid()))


@op
def work():
    return 1


@job
def first_job():
    work()


@job
def second_job():
    work()


@repository
def repo_{name}():
    return [first_job, second_job]
"""

#: Records ``<xdist worker id or "controller"> <pid>`` of each pytest process.
PYTEST_PROCESS_RECORDER = """
import os

def pytest_configure(config):
    who = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytests.txt"), "a") as f:
        f.write("%s %d\\n" % (who, os.getpid()))
"""

COUNTED = ["north", "south", "east"]


@pytest.fixture
def counted(pytester: pytest.Pytester) -> Path:
    """``counted/workspace.yaml``: three locations that count their starts, next to a
    test file of ordinary tests; a conftest.py that records the pytest processes."""
    folder = pytester.path / "counted"
    folder.mkdir()
    for name in COUNTED:
        (folder / f"{name}.py").write_text(COUNTED_LOCATION.format(name=name))
    entries = "".join(f"  - python_file: {name}.py\n" for name in COUNTED)
    (folder / "workspace.yaml").write_text("load_from:\n" + entries)
    (folder / "test_ordinary.py").write_text(
        "".join(f"def test_ordinary_{index}():\n    pass\n\n" for index in range(3))
    )
    (folder / "conftest.py").write_text(with_pid_recorder(PYTEST_PROCESS_RECORDER))
    return folder


def starts(folder: Path) -> Dict[str, List[int]]:
    """Location -> ``[pid, parent pid]`` of each of its starts (from ``starts.txt``)."""
    found: Dict[str, List[int]] = {}
    for line in (folder / "starts.txt").read_text().splitlines():
        name, pid, parent = line.split()
        found.setdefault(name, []).extend([int(pid), int(parent)])
    return found


def pytest_processes(folder: Path) -> Dict[int, str]:
    """pid -> ``gw0``, ``gw1``... or ``controller``, of the run's pytest processes."""
    lines = (folder / "pytests.txt").read_text().splitlines()
    return {int(pid): who for who, pid in (line.split() for line in lines)}


@pytest.mark.parametrize(
    "workers",
    [
        ["-n", "2"],
        ["-n", "2", "--dist", "loadscope"],
        ["-n", "2", "--dist", "loadgroup"],
        ["-n", "2", "--dist", "worksteal"],
        ["--dist", "load", "--tx", "popen//python=" + sys.executable, "--tx", "popen"],
    ],
    ids=["load", "loadscope", "loadgroup", "worksteal", "tx-popen"],
)
def test_each_location_starts_once_on_the_worker_that_owns_it(
    pytester: pytest.Pytester, counted: Path, workers: List[str]
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "counted/test_ordinary.py", *workers, "-v"
    )
    result.assert_outcomes(passed=3 * 2 + 3)
    # xdist's count is of every item once, though no worker collected them all.
    result.stdout.fnmatch_lines(["2 workers [9 items]"])
    started = starts(counted)
    processes = pytest_processes(counted)
    # N locations, N processes in the whole run (not one per worker, nor one more on the
    # controller): each started once, by an xdist worker.
    assert sorted(started) == sorted(COUNTED)
    assert all(len(pid_and_parent) == 2 for pid_and_parent in started.values()), started
    starter = {name: processes[parent] for name, (_, parent) in started.items()}
    assert "controller" not in starter.values(), starter
    # Owners are predictable: the k-th location of the run on worker k modulo 2.
    assert starter == {"north": "gw0", "south": "gw1", "east": "gw0"}, starter
    # Each location's items ran on the worker that started it, and there only.
    ran_on = workers_by_location(result)
    for name in COUNTED:
        assert ran_on[f"counted/workspace.yaml::{name}.py"] == {starter[name]}, ran_on
    assert_no_worker_left(counted, at_least=len(COUNTED))


def test_more_workers_than_locations(pytester: pytest.Pytester, counted: Path) -> None:
    # The third worker owns no location and collects no item: the run is still whole.
    result = pytester.runpytest_subprocess("--workspace", "counted/workspace.yaml", "-n", "4")
    result.assert_outcomes(passed=3 * 2)
    result.stdout.fnmatch_lines(["4 workers [6 items]"])
    assert result.ret == pytest.ExitCode.OK
    assert sorted(starts(counted)) == sorted(COUNTED)
    assert all(len(started) == 2 for started in starts(counted).values())
    assert_no_worker_left(counted, at_least=len(COUNTED))


def test_under_dist_each_every_worker_runs_every_location(
    pytester: pytest.Pytester, counted: Path
) -> None:
    # --dist each runs every item on every worker: each worker starts every location.
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "-n", "2", "--dist", "each"
    )
    result.assert_outcomes(passed=2 * 3 * 2)
    processes = pytest_processes(counted)
    for name, started in starts(counted).items():
        assert sorted(processes[parent] for parent in started[1::2]) == ["gw0", "gw1"], name
    assert_no_worker_left(counted, at_least=2 * len(COUNTED))


def test_the_workspace_fixture_has_every_location_on_every_worker(
    pytester: pytest.Pytester, counted: Path
) -> None:
    # A test that asks for the whole workspace gets it: the locations its worker does
    # not own start there too, for it.
    (counted / "test_fixture.py").write_text(
        "def test_every_job(workspace):\n"
        "    names = [repo.job_names for repo in workspace.repositories]\n"
        "    assert names == [['first_job', 'second_job']] * 3\n"
        "    assert workspace.job('repo_east/first_job').location.name == 'east.py'\n"
    )
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "counted/test_fixture.py", "-n", "2"
    )
    result.assert_outcomes(passed=3 * 2 + 1)
    assert_no_worker_left(counted, at_least=len(COUNTED))


def test_a_mismatch_among_ordinary_tests_is_reported_as_xdist_does(
    pytester: pytest.Pytester, counted: Path
) -> None:
    (counted / "test_ordinary.py").write_text(
        "import os\n\nimport pytest\n\n\n"
        "@pytest.mark.parametrize('worker', [os.environ['PYTEST_XDIST_WORKER']])\n"
        "def test_named_after_its_worker(worker):\n    pass\n"
    )
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "counted/test_ordinary.py", "-n", "2"
    )
    result.stdout.fnmatch_lines(
        [
            "Different tests were collected between gw* and gw*. The difference is:",
            "*test_named_after_its_worker[[]gw*[]]",
        ]
    )
    assert "passed" not in result.stdout.lines[-1], "nothing runs after a mismatch"
    result.assert_outcomes(errors=1)
    assert_no_worker_left(counted, at_least=len(COUNTED))


#: Kills the xdist worker (not the location) as it sets up south's first job.
CRASHER = """
import os

def pytest_runtest_setup(item):
    if item.nodeid.endswith("south.py::repo_south::first_job"):
        os._exit(1)
"""


@pytest.mark.parametrize("dist", ["load", "worksteal"])
def test_a_crashed_worker_fails_its_own_locations_items_only(
    pytester: pytest.Pytester, counted: Path, dist: str
) -> None:
    (counted / "conftest.py").write_text(with_pid_recorder(PYTEST_PROCESS_RECORDER + CRASHER))
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "counted/test_ordinary.py",
        "-n", "2", "--dist", dist, "-rA",
    )  # fmt: skip
    found = outcomes(result)
    south = "counted/workspace.yaml::south.py::repo_south::"
    # gw1 owned south alone: xdist reports the item it crashed on; its other item could
    # run nowhere else (no other worker started south) and is failed, saying why.
    assert found.pop(f"{south}first_job") == "FAILED"
    assert found.pop(f"{south}second_job") == "FAILED"
    result.stdout.fnmatch_lines(
        [f"*worker 'gw1' crashed while running '{south}first_job'*"], consecutive=False
    )
    # Everything else, on the other worker or the replacement, has its own verdict.
    assert set(found.values()) == {"PASSED"}, found
    assert len(found) == 2 * 2 + 3, found
    assert_no_worker_left(counted, at_least=len(COUNTED))


#: Kills the first gw1 as it finishes collecting, before anything is scheduled.
COLLECTION_CRASHER = """
def pytest_collection_modifyitems(config, items):
    if getattr(config, "workerinput", {}).get("workerid") == "gw1":
        os._exit(1)
"""


def test_a_worker_lost_before_scheduling_is_replaced_by_one_that_owns_its_locations(
    pytester: pytest.Pytester, counted: Path
) -> None:
    (counted / "conftest.py").write_text(
        with_pid_recorder(PYTEST_PROCESS_RECORDER + COLLECTION_CRASHER)
    )
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "counted/test_ordinary.py", "-n", "2", "-v"
    )
    result.stdout.fnmatch_lines(["*replacing crashed worker gw1*"])
    result.assert_outcomes(passed=3 * 2 + 3)
    # south was gw1's: it started there, then again on gw2, which ran its items.
    processes = pytest_processes(counted)
    south = starts(counted)["south"]
    assert sorted(processes[parent] for parent in south[1::2]) == ["gw1", "gw2"], south
    assert workers_by_location(result)["counted/workspace.yaml::south.py"] == {"gw2"}
    assert_no_worker_left(counted, at_least=len(COUNTED))


@pytest.mark.parametrize(
    "split",
    [["--workspace-split", "north.py"], ["-o", "workspace_split=north.py"]],
    ids=["option", "ini"],
)
def test_a_split_location_starts_on_every_worker_and_its_items_are_spread(
    pytester: pytest.Pytester, counted: Path, split: List[str]
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "counted/test_ordinary.py", "-n", "2", *split
    )
    result.assert_outcomes(passed=3 * 2 + 3)
    result.stdout.fnmatch_lines(["2 workers [9 items]"])
    processes = pytest_processes(counted)
    started = starts(counted)
    starter = {name: sorted(processes[p] for p in pids[1::2]) for name, pids in started.items()}
    # north on both workers; the others numbered without it, one owner each.
    assert starter == {"north": ["gw0", "gw1"], "south": ["gw0"], "east": ["gw1"]}, starter
    assert_no_worker_left(counted, at_least=len(COUNTED) + 1)


def test_a_split_name_that_is_no_location_is_warned_of(
    pytester: pytest.Pytester, counted: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", "counted/workspace.yaml", "--workspace-split", "west.py", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=3 * 2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*--workspace-split / workspace_split names 'west.py', which is not a code location "
            "of this run; its locations are east.py, north.py, south.py"
        ]
    )


def test_split_names_are_checked_against_locations_found_in_folders(
    pytester: pytest.Pytester, counted: Path
) -> None:
    # counted/workspace.yaml is found by collecting the folder, not named: its
    # locations are known only once collection is done.
    result = pytester.runpytest_subprocess("counted", "--workspace-split", "north.py", "-n", "2")
    result.assert_outcomes(passed=3 * 2 + 3)
    assert sorted(len(pids) // 2 for pids in starts(counted).values()) == [1, 1, 2]
    unknown = pytester.runpytest_subprocess(
        "counted", "--workspace-split", "west.py", "-p", "no:xdist"
    )
    unknown.assert_outcomes(passed=3 * 2 + 3, warnings=1)
    unknown.stdout.fnmatch_lines(["*names 'west.py', which is not a code location of this run*"])

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
    # The controller described every location once and stopped them; the workers
    # collected from its descriptions and started each location where its items ran:
    # one process per location that ran items, not one per location and worker.
    pids = recorded_pids(pytester.path)
    assert len(pids) == len(FOUR_LOCATIONS), pids
    assert_no_worker_left(pytester.path, at_least=len(FOUR_LOCATIONS))


def test_the_controller_header_has_every_location(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", "multi_repo/multi_repo_workspace.yaml", "-n", "2"
    )
    result.stdout.fnmatch_lines(
        [
            "workspace: multi_repo/multi_repo_workspace.yaml: cereal_package (Python *), "
            "single_repo.py (Python *)",
            "*workspace locations (loaded by xdist workers)*",
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

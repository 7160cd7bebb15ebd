"""pytest-xdist: the same outcomes as a serial run, groups by location, no process left."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from processes import assert_no_worker_left, with_pid_recorder

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


def test_loadgroup_groups_items_by_location(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace",
        "multi_repo/multi_repo_workspace.yaml",
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "-v",
    )
    result.assert_outcomes(passed=4)
    workers: Dict[str, set] = {}
    for line in result.stdout.lines:
        match = re.match(r"^\[(gw\d)\] .*PASSED (\S+)@(\S+)$", line.strip())
        if match:
            workers.setdefault(match.group(3), set()).add(match.group(1))
    assert set(workers) == {"cereal_package", "single_repo.py"}
    assert all(len(gateways) == 1 for gateways in workers.values()), workers


def recorded_groups(pytester: pytest.Pytester) -> Dict[str, Optional[str]]:
    """Node id (without xdist's ``@group``) -> its xdist_group (None: no marker); forgets them."""
    path = pytester.path / "groups.jsonl"
    groups = dict(json.loads(line) for line in path.read_text().splitlines())
    path.unlink()
    return groups


LOCATION_OF_ITEM = {
    "multi_repo/multi_repo_workspace.yaml::cereal_package::cereal_repository::count_job": (
        "cereal_package"
    ),
    "multi_repo/multi_repo_workspace.yaml::cereal_package::cereal_repository::hello_job": (
        "cereal_package"
    ),
    "multi_repo/multi_repo_workspace.yaml::cereal_package::reporting_repository::report_job": (
        "cereal_package"
    ),
    "multi_repo/multi_repo_workspace.yaml::single_repo.py::single_file_repository::hello_job": (
        "single_repo.py"
    ),
}


@pytest.mark.parametrize(
    ("extra", "grouped"),
    [([], False), (["-n", "2"], False), (["-n", "2", "--dist", "loadgroup"], True)],
    ids=["serial", "load", "loadgroup"],
)
def test_items_have_an_xdist_group_only_with_dist_loadgroup(
    pytester: pytest.Pytester, extra: List[str], grouped: bool
) -> None:
    result = pytester.runpytest_subprocess(
        "--workspace", "multi_repo/multi_repo_workspace.yaml", *extra
    )
    result.assert_outcomes(passed=4)
    expected = {node: location if grouped else None for node, location in LOCATION_OF_ITEM.items()}
    assert recorded_groups(pytester) == expected
    assert_no_worker_left(pytester.path, at_least=2)

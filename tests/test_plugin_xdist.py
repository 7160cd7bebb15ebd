"""pytest-xdist: the same outcomes as a serial run, groups by location, no process left."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Dict, List

import pytest
from processes import wait_gone
from test_plugin_items import PID_RECORDER, recorded_pids

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OUTCOME = re.compile(r"^(PASSED|FAILED|SKIPPED|ERROR) (\S+::\S+?)(?: - .*)?$")


@pytest.fixture(autouse=True)
def _quick_sessions(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hypothesis' plugin adds about a second to every inner session; nothing here uses it.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    pytester.makeini("[pytest]\n")
    shutil.copytree(FIXTURES / "failing", pytester.path / "failing")
    shutil.copytree(FIXTURES / "multi_repo", pytester.path / "multi_repo")
    pytester.makeconftest(PID_RECORDER)


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
    "--workspace-timeout",
    "1",
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
    pids = recorded_pids(pytester)
    assert len(pids) >= 10
    assert wait_gone(pids) == []


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

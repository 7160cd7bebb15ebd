"""Every benchmark script still runs, at its ``--quick`` size.

These tests measure nothing and assert no time: they prove that each script generates
its workload, runs both sides of its comparison and prints its ratio, so that the
figures of ``benchmarks/README.md`` can be measured again at any time. The Dagster
benchmark runs in the suite's cached Dagster virtualenv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest
from dagster_versions import NEWEST

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"


def run_benchmark(name: str, *args: str) -> str:
    """Run ``benchmarks/<name>.py --quick *args``; fail with its output unless it exits 0."""
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"benchmarks/{name}.py --quick exited with status {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}",
            pytrace=False,
        )
    return completed.stdout


def assert_ratios(output: str, labels: Sequence[str]) -> None:
    for label in labels:
        assert f"ratio {label}: " in output, output


def test_load_benchmark_runs() -> None:
    output = run_benchmark("bench_load")
    assert_ratios(output, ["(b)/(a)", "(c)/(b)"])
    assert "jobs built by describing the workspace: 0 of 10" in output


def test_describe_benchmark_runs_and_builds_no_job() -> None:
    output = run_benchmark("bench_describe")
    assert_ratios(output, ["(b)/(a)"])
    assert "jobs built by describing: 0 of 100 listed" in output


def test_items_benchmark_runs() -> None:
    # The baseline side (another checkout's pytest-workspace) is run by this python here.
    output = run_benchmark("bench_items", "--baseline-python", sys.executable)
    assert_ratios(output, ["(b)/(a)", "(c)/(a)", "(b)/(c)"])
    assert "20 trivial jobs" in output
    assert "(c) the same items run by --baseline-python" in output


def test_import_benchmark_runs() -> None:
    output = run_benchmark("bench_import")
    assert_ratios(output, ["(b)/(a)"])
    assert "plugin cost (b) - (a): " in output


def test_xdist_benchmark_runs() -> None:
    output = run_benchmark("bench_xdist")
    assert_ratios(output, ["(b)/(a) wall", "(b)/(a) cpu", "(c)/(a) wall", "(e)/(d) wall"])


def test_dagster_benchmark_runs(python_env) -> None:  # type: ignore[no-untyped-def]
    python = python_env(NEWEST.python, name="dagster", packages=[NEWEST.requirement])
    # The baseline side (another checkout's pytest-workspace) is run by this python here.
    output = run_benchmark(
        "bench_dagster", "--dagster-python", str(python), "--baseline-python", sys.executable
    )
    assert "P4a: 1 Dagster location(s) x 2 jobs" in output
    assert "(c) the same pytest run by --baseline-python" in output
    assert_ratios(output, ["(b)/(a)", "(c)/(a)", "(b)/(c)", "(d)/(a)", "(b)/(d)"])


def test_scale_benchmark_runs_and_leaks_no_process() -> None:
    output = run_benchmark("bench_scale")
    assert_ratios(output, ["(b)/(a) wall"])
    assert "processes left after the sessions: 0" in output

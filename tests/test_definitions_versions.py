"""``pytest_workspace.definitions`` runs unchanged on the oldest and newest supported Pythons.

Each check runs ``definitions_selfcheck.py`` in a real interpreter, isolated (``-I``) so
that nothing installed from this project can be imported: the module is loaded from its
source text, as a code location's worker loads it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
from interpreters import require_interpreter

ROOT = Path(__file__).resolve().parent.parent
SELFCHECK = Path(__file__).resolve().parent / "definitions_selfcheck.py"
PACKAGE = ROOT / "pytest_workspace"
CEREAL_REPOS = ROOT / "fixtures" / "cereal" / "repos.py"


def run_selfcheck(version: str, tmp_path: Path) -> Dict[str, Any]:
    python = require_interpreter(version)
    completed = subprocess.run(
        [python, "-I", str(SELFCHECK), str(PACKAGE), str(CEREAL_REPOS)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    summary: Dict[str, Any] = json.loads(completed.stdout)
    return summary


@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_definitions_selfcheck(version: str, tmp_path: Path) -> None:
    summary = run_selfcheck(version, tmp_path)
    assert summary["python"] == version

    # The cereal tutorial: lazy, then built and run.
    assert summary["cereal_job_names"] == ["hello_cereal_job", "complex_job"]
    assert summary["cereal_constructed_before"] == []
    assert summary["cereal_constructed_after"] == ["complex_job"]
    assert summary["complex_op_names"] == [
        "download_cereals",
        "find_highest_calorie_cereal",
        "find_highest_protein_cereal",
        "display_results",
    ]
    assert summary["complex_dependencies"]["display_results"] == [
        "find_highest_calorie_cereal",
        "find_highest_protein_cereal",
    ]
    assert summary["complex_success"] is True
    assert summary["complex_statuses"] == ["success"] * 4
    assert summary["complex_output"] == {
        "most_calories": "Mueslix Crispy Blend",
        "most_protein": "Cheerios",
    }
    assert summary["complex_user_logs"] == [
        "Most caloric cereal: Mueslix Crispy Blend",
        "Most protein-rich cereal: Cheerios",
    ]

    # 300 lazy jobs: listing builds none, asking twice builds one once.
    assert summary["lazy_names_ok"] is True
    assert summary["lazy_builds_after_listing"] == 0
    assert summary["lazy_builds_after_get"] == ["job_042"]
    assert summary["lazy_constructed"] == ["job_042"]

    # Execution: failure, skip, re-raise, config errors.
    assert summary["failure_statuses"] == {
        "configured": "success",
        "explode": "failure",
        "after": "skipped",
    }
    assert summary["failure_error"] == "ValueError('boom 2')"
    assert summary["reraised"] == {"type": "ValueError", "message": "boom 2"}
    assert summary["config_error"]["type"] == "RunConfigError"
    assert "op 'configured': config key 'n' must be int" in summary["config_error"]["message"]
    assert summary["missing"] == [["configured", "n"]]
    assert summary["pickled_missing"] == [["configured", "n"]]

    # Repository errors.
    assert summary["mismatch"]["type"] == "JobNameMismatchError"
    assert "key 'key'" in summary["mismatch"]["message"]
    assert "named 'graph'" in summary["mismatch"]["message"]
    assert summary["unknown"]["type"] == "UnknownDefinitionError"
    assert "did you mean 'complex_job'?" in summary["unknown"]["message"]
    assert summary["bad_member"]["type"] == "InvalidDefinitionError"
    assert "member [1]" in summary["bad_member"]["message"]
    assert "an int (3)" in summary["bad_member"]["message"]
    assert summary["bad_target"]["type"] == "InvalidTargetError"
    assert "schedule 's' of repository 'r' targets job 'x'" in summary["bad_target"]["message"]

    # Schedules and sensors.
    assert summary["scheduled_jobs"] == ["graph"]
    assert summary["schedule_tick"] == [{"ops": {"configured": {"config": {"n": 3}}}}]
    assert summary["sensor_tick"] == ["c1"]
    assert summary["cron_error"]["type"] == "InvalidCronError"
    assert "day of week field 'FUNDAY'" in summary["cron_error"]["message"]
    assert summary["bad_tick"]["type"] == "InvalidEvaluationError"
    assert "sensor 's' returned an int (5)" in summary["bad_tick"]["message"]

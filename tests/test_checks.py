"""The checks of ``pytest_workspace.checks`` through the Python API, without pytest items.

The same checks the plugin runs for its items, on the real ``fixtures/failing``
workspace: every outcome is a ``Check`` with a status, a one-line reason and a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from pytest_workspace import (
    JobCheck,
    Workspace,
    WorkspaceFileError,
    check,
    check_job,
    check_schedule,
    check_sensor,
    load_workspace,
)
from pytest_workspace.checks import TargetCache

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    # 5 s: long enough for any healthy call on a loaded machine; the hanging job is not run.
    with load_workspace(FIXTURES / "failing" / "workspace.yaml", timeout=5) as workspace:
        yield workspace


def steps(outcome: JobCheck) -> list:
    return [(step.name, step.status) for step in outcome.steps]


def test_a_healthy_job_passes_every_step(ws: Workspace) -> None:
    outcome = check_job(ws.job("greeting_job"))
    assert outcome.passed and outcome.status == "passed"
    assert (outcome.reason, outcome.report) == ("", "")
    assert steps(outcome) == [("build", "passed"), ("name check", "passed"), ("execute", "passed")]
    assert "hello from greet" in outcome.stdout
    assert "a note on stderr" in outcome.stderr
    assert outcome.result is not None and outcome.result.output_for("greet") == "hello"
    assert any("greeting logged by the op" in record.message for record in outcome.logs)


def test_a_failing_op_gives_a_one_line_reason_and_the_whole_report(ws: Workspace) -> None:
    outcome = check_job(ws.job("failing_job"))
    assert outcome.failed
    assert outcome.reason == (
        "job 'failing_job' failed in op 'invert': ZeroDivisionError: division by zero"
    )
    assert outcome.report.startswith("job 'failing_job' failed during execution in op 'invert'")
    assert "Traceback (most recent call last):" in outcome.report
    assert "  failure  invert" in outcome.report
    assert steps(outcome)[-1] == ("execute", "failed")
    assert "inverting 3 numbers" in outcome.stdout


def test_a_name_mismatch_fails_the_name_check(ws: Workspace) -> None:
    outcome = check(ws.job("mismatched_job"))
    assert outcome.failed
    assert outcome.reason.startswith("job 'mismatched_job' failed the name check: ")
    assert (
        "JobNameMismatchError: repository 'failing_repository' declares a job under the key "
        "'mismatched_job', but the job built for it is named 'renamed_job'"
    ) in outcome.reason
    assert "\n" not in outcome.reason
    assert [step.name for step in outcome.steps] == ["name check"]


def test_missing_run_config_skips_and_given_run_config_runs(ws: Workspace) -> None:
    job = ws.job("forecast_job")
    skipped = check_job(job)
    assert skipped.skipped
    assert "missing forecast.city, forecast.days" in skipped.reason
    assert steps(skipped)[-1] == ("run config", "skipped")
    wrong = check_job(job, run_config={"ops": {"forecast": {"config": {"city": 1, "days": 3}}}})
    assert wrong.failed
    assert wrong.reason.startswith("job 'forecast_job' failed its run config check (no op ran): ")
    given = {"ops": {"forecast": {"config": {"city": "Lyon", "days": 3}}}}
    ran = check_job(job, run_config=given)
    assert ran.passed
    assert ran.result is not None and ran.result.output_for("forecast") == "Lyon: 3 days of sun"


def test_build_only_runs_no_op(ws: Workspace) -> None:
    outcome = check_job(ws.job("failing_job"), execute=False)
    assert outcome.passed
    assert steps(outcome) == [("build", "passed"), ("name check", "passed")]
    assert outcome.result is None
    assert outcome.build is not None and outcome.build.op_names == ("load_numbers", "invert")


def test_schedules_and_sensors(ws: Workspace) -> None:
    good = check_schedule(ws.schedule("morning_schedule"))
    assert good.passed and good.evaluation is not None
    assert [(s.name, s.status) for s in good.steps] == [("evaluate", "passed")]
    raising = check_schedule(ws.schedule("raising_schedule"))
    assert raising.failed
    assert raising.reason == (
        "schedule 'raising_schedule' failed its evaluation: "
        "RuntimeError: the schedule could not compute its run config"
    )
    orphan = check_sensor(ws.sensor("orphan_sensor"))
    assert orphan.failed and orphan.kind == "sensor"
    assert "job_that_does_not_exist" in orphan.reason
    assert check(ws.sensor("quiet_sensor")).passed


def test_the_target_cache_parses_and_starts_each_file_once(tmp_path: Path) -> None:
    (tmp_path / "repo.py").write_text(
        "from pytest_workspace.definitions import job, op, repository\n"
        "@op\ndef one():\n    return 1\n"
        "@job\ndef one_job():\n    one()\n"
        "@repository\ndef repo():\n    return [one_job]\n"
    )
    good = tmp_path / "workspace.yaml"
    good.write_text("load_from:\n  - python_file: repo.py\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("load_from:\n  - python_fil: repo.py\n")
    cache = TargetCache(timeout=30)
    try:
        spec, locations = cache.file(good)
        assert spec.path == str(good)
        again = cache.file(tmp_path / "." / "workspace.yaml")
        assert again[1] == locations and again[1][0] is locations[0]
        assert len(cache.workspace.locations) == 1
        assert check_job(locations[0].repositories[0].job("one_job")).passed
        for _ in range(2):
            with pytest.raises(WorkspaceFileError, match="python_fil"):
                cache.file(bad)
        cache.start([good, bad], [str(tmp_path / "repo.py")], [])
        assert len(cache.workspace.locations) == 2  # only the -f target was new
        assert list(cache.targets) == [str(tmp_path / "repo.py")]
    finally:
        cache.close()

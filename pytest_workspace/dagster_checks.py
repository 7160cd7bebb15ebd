"""The Dagster parts of a job's check: resources, partitions, and what a run did.

A job's check (:func:`pytest_workspace.checks.check_job`) builds and runs a job once.
For Dagster jobs, :func:`check_job_runs` adds what the hooks ``pytest_workspace_resources``
and ``pytest_workspace_partition_keys`` ask for: the resources to replace (import paths
resolved in the location's process) and the partitions to run, one run per key, the
check failing when any run fails and saying which keys did. :func:`run_summary` is the
report of the runs: the partition(s) that ran, each source asset observed, each asset
materialized and each asset check's result; :func:`evaluation_summary` that of a
schedule's or sensor's tick (its run requests, skip reason, asset events and dynamic
partitions requests). Without pytest: a
:func:`~pytest_workspace.load_workspace` user runs the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .checks import FAILED, PASSED, SKIPPED, CheckStep, EvaluationCheck, JobCheck, check_job
from .workspace import (
    AssetMaterialization,
    AssetObservation,
    JobHandle,
    LeftOutAsset,
    LogRecord,
    PendingRun,
    RemoteWarning,
    RunResult,
)


@dataclass(frozen=True)
class PartitionedJobCheck(JobCheck):
    """A job's check over several partitions: ``runs`` holds each key's own check."""

    runs: Tuple[Tuple[str, JobCheck], ...] = ()

    @property
    def logs(self) -> Tuple[LogRecord, ...]:
        """The logs of every partition's run, one run after the other."""
        return tuple(record for _, run in self.runs for record in run.logs)

    @property
    def warnings(self) -> Tuple[RemoteWarning, ...]:
        """The warnings of every partition's run."""
        return tuple(warning for _, run in self.runs for warning in run.warnings)


def check_job_runs(
    job: JobHandle,
    *,
    execute: bool = True,
    run_config: Optional[Mapping[str, object]] = None,
    resources: Optional[Mapping[str, str]] = None,
    partition_keys: Optional[Sequence[str]] = None,
    timeout: Optional[float] = None,
    debug_events: bool = True,
    prefetched: Optional[PendingRun] = None,
) -> JobCheck:
    """Check ``job`` as :func:`check_job` does, with ``resources`` replaced and, when
    ``partition_keys`` is given, one run per key (None: the backend's default partition,
    the last key of a partitioned job's partitions definition). ``timeout`` bounds each
    run's check (see :func:`check_job`); ``debug_events`` as for
    :meth:`~pytest_workspace.JobHandle.execute`; ``prefetched``: the one run, already
    sent (see :func:`check_job`), for a job without partition keys."""
    options: Dict[str, Any] = {"timeout": timeout}
    if not debug_events:
        options["debug_events"] = False
    if resources is not None:
        if not isinstance(resources, Mapping) or not all(
            isinstance(key, str) and isinstance(path, str) for key, path in resources.items()
        ):
            return _refused(
                job,
                FAILED,
                "pytest_workspace_resources must return a dict of resource key to import "
                f"path ('package.module:attribute'), not {resources!r}",
            )
        if resources:
            options["resources"] = dict(resources)
    if partition_keys is None or not execute:
        return check_job(
            job, execute=execute, run_config=run_config, prefetched=prefetched, **options
        )
    if isinstance(partition_keys, str) or not all(isinstance(k, str) for k in partition_keys):
        return _refused(
            job,
            FAILED,
            "pytest_workspace_partition_keys must return a list of partition keys (str), "
            f"not {partition_keys!r}",
        )
    keys = list(dict.fromkeys(partition_keys))
    if not keys:
        return _refused(
            job, SKIPPED, "pytest_workspace_partition_keys returned no key: no partition runs"
        )
    runs = tuple(
        (key, check_job(job, run_config=run_config, partition_key=key, **options)) for key in keys
    )
    return _combined(job.name, runs)


def _refused(job: JobHandle, status: str, why: str) -> JobCheck:
    """A check that stops before any run, because of what a hook answered."""
    reason = f"job {job.name!r}: {why}"
    return JobCheck(
        kind="job",
        name=job.name,
        status=status,
        reason=reason,
        report=reason,
        steps=(CheckStep("execute", status, reason),),
    )


def _combined(name: str, runs: Tuple[Tuple[str, JobCheck], ...]) -> PartitionedJobCheck:
    """One check for the runs of several partitions: failed if any failed (naming the
    keys), skipped if all were skipped, passed otherwise."""
    failed = [(key, run) for key, run in runs if run.failed]
    skipped = [(key, run) for key, run in runs if run.skipped]
    steps: List[CheckStep] = []
    for key, run in runs:
        steps.extend(
            CheckStep(f"{step.name} [partition {key!r}]", step.status, step.detail)
            for step in run.steps
        )
    of = f"of {len(runs)} partition{'s' if len(runs) > 1 else ''}"
    if failed:
        status = FAILED
        keys = ", ".join(repr(key) for key, _ in failed)
        headline = (
            f"job {name!r} failed for partition{'s' if len(failed) > 1 else ''} {keys} "
            f"({len(failed)} {of})"
        )
        reason = f"{headline}: {failed[0][1].reason}"
        report = "\n\n".join(
            [headline] + [f"partition {key!r}: {run.report}" for key, run in failed]
        )
        error = failed[0][1].error
        result = failed[0][1].result
    elif len(skipped) == len(runs):
        status, reason, error, result = SKIPPED, skipped[0][1].reason, skipped[0][1].error, None
        report = reason
    else:
        status, reason, report, error = PASSED, "", "", None
        result = runs[-1][1].result
    return PartitionedJobCheck(
        kind="job",
        name=name,
        status=status,
        reason=reason,
        report=report,
        steps=tuple(steps),
        stdout="".join(run.stdout for _, run in runs),
        stderr="".join(run.stderr for _, run in runs),
        error=error,
        build=runs[0][1].build,
        result=result,
        runs=runs,
    )


def run_summary(check: JobCheck) -> str:
    """What the check's run(s) did, one line each: the partition that ran, each source
    asset observed, each asset materialized, each asset check's result. Empty when
    there is nothing to say (a job without partitions, assets or checks)."""
    if isinstance(check, PartitionedJobCheck):
        lines: List[str] = []
        for key, run in check.runs:
            lines.append(f"partition {key!r}: {run.status}")
            if run.result is not None:
                lines.extend("  " + line for line in _run_lines(run.result))
        return "\n".join(lines)
    if check.result is None:
        return ""
    lines = _run_lines(check.result)
    if check.result.partition_key is not None:
        lines.insert(0, f"partition {check.result.partition_key!r}: {check.status}")
    return "\n".join(lines)


def evaluation_summary(check: EvaluationCheck) -> str:
    """What a schedule's or sensor's tick produced, one line each: each run request (its
    run key, selected assets, job and partition), the skip reason, each asset event a
    sensor reports and each dynamic partitions request. Empty for a failed evaluation."""
    evaluation = check.evaluation
    if evaluation is None:
        return ""
    lines = []
    for index, request in enumerate(evaluation.run_requests):
        line = f"run request {index}"
        if request.get("run_key") is not None:
            line += f" (run_key {request['run_key']!r})"
        assets, checks = request.get("asset_selection"), request.get("asset_check_keys")
        if assets is not None:
            line += " (assets " + (", ".join(assets) or "none")
            line += ("; checks " + ", ".join(checks) if checks else "") + ")"
        job = request.get("job_name") or evaluation.job_name  # ours: the target's
        target = [f"job {job!r}"] if job else []
        if request.get("partition_key") is not None:
            target.append(f"partition {request['partition_key']!r}")
        lines.append(line + (": " + ", ".join(target) if target else ""))
    if evaluation.skip_reason is not None:
        lines.append(f"skipped: {evaluation.skip_reason}")
    lines.extend(_asset_event_line(event) for event in evaluation.asset_events)
    for request in evaluation.dynamic_partitions_requests:
        keys = ", ".join(repr(key) for key in request["partition_keys"]) or "no key"
        lines.append(
            f"dynamic partitions {request['partitions_def']!r}: {request['action']} {keys}"
        )
    return "\n".join(lines)


def _asset_event_line(event: Mapping[str, Any]) -> str:
    """``reported materialization of orders [partition 'eu']``, ``reported check
    orders:has_rows passed (ERROR)``: an asset event of a sensor's tick."""
    kind, key = event["type"], event["asset_key"]
    if kind == "check_evaluation":
        outcome = "passed" if event.get("passed") else "FAILED"
        line = f"reported check {key}:{event.get('check_name')} {outcome} ({event.get('severity')})"
    else:
        line = f"reported {kind} of {key}"
    if event.get("partition") is not None:
        line += f" [partition {event['partition']!r}]"
    if kind == "check_evaluation" and event.get("description"):
        line += f": {event['description']}"
    return line


def _run_lines(result: RunResult) -> List[str]:
    lines = []
    for observation in result.observations:
        line = _asset_line("observed", observation, result)
        if observation.data_version is not None:
            line += f": data version {observation.data_version}"
        lines.append(line)
    lines.extend(_asset_line("materialized", asset, result) for asset in result.assets)
    for check in result.asset_checks:
        outcome = "passed" if check.passed else "FAILED"
        line = f"check {check.asset_key}:{check.check_name} {outcome} ({check.severity})"
        if check.description:
            line += f": {check.description}"
        lines.append(line)
    lines.extend(_left_out_line(left) for left in result.left_out)
    return lines


def _left_out_line(left: LeftOutAsset) -> str:
    """``left out tuned_report: it needs run config it was not given: missing ...``, or
    what it is downstream of (a check: its asset)."""
    what = (
        left.asset_key if left.check_name is None else f"check {left.asset_key}:{left.check_name}"
    )
    return f"left out {what}: {left.why}"


def _asset_line(
    done: str, asset: AssetMaterialization | AssetObservation, result: RunResult
) -> str:
    """``materialized orders``, with the op when it is not the asset's own, and the
    partition when it is not the run's own (``__ASSET_JOB`` over several partitions
    definitions: a run per definition; an observation of each partition, as a
    ``DataVersionsByPartition`` returns)."""
    line = f"{done} {asset.asset_key}"
    if asset.op_name and asset.op_name != asset.asset_key.replace("/", "__"):
        line += f" (op {asset.op_name})"
    if asset.partition is not None and asset.partition != result.partition_key:
        line += f" [partition {asset.partition!r}]"
    return line

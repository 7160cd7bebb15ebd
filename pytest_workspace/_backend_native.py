"""The backend of our definitions API (``pytest_workspace.definitions``).

Runs inside a code location's interpreter, shipped like ``definitions`` (standard library
only, Python 3.8+). See ``_backend.py`` for the interface.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _backend
from . import definitions as d


class NativeBackend(_backend.Backend):
    """Repositories and jobs of ``pytest_workspace.definitions``."""

    name = "definitions"
    attribute_targets = "a @repository or a @job"

    def repositories_for(self, value: object) -> Optional[List[Any]]:
        if isinstance(value, d.RepositoryDefinition):
            return [value]
        if isinstance(value, d.JobDefinition):
            return [self.job_repository(value)]
        return None

    def scan(self, module: Any, where: str) -> Tuple[List[Any], List[Any]]:
        repositories: List[Any] = []
        jobs: List[Any] = []
        for value in list(vars(module).values()):
            if isinstance(value, d.RepositoryDefinition):
                if all(repo.name != value.name for repo in repositories):
                    repositories.append(value)
            elif isinstance(value, d.JobDefinition) and value not in jobs:
                jobs.append(value)
        return repositories, jobs

    def job_repository(self, job: Any) -> Any:
        return d.repository(name="__repository__" + job.name)(lambda: [job])

    def execute_job(
        self, repo: Any, job: Any, run_config: Mapping[str, Any], options: Mapping[str, Any]
    ) -> Dict[str, Any]:
        _backend.refuse_options(self, options, ())
        result = job.execute_in_process(run_config=dict(run_config) or None, raise_on_error=False)
        return _backend.run_data(result, self._step_error)

    def _step_error(self, step: Any) -> Optional[Dict[str, Any]]:
        if step.error is None:
            return None
        data: Dict[str, Any] = self.worker.error(step.error, stage="execute", op=step.op_name)
        return data

    def check_schedule(self, schedule: Any) -> None:
        d.validate_cron_schedule(schedule.cron_schedule, schedule.name)


BACKEND = NativeBackend

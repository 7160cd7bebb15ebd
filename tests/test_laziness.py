"""Laziness across the process boundary: describing a location builds no lazy job.

The location is generated: one repository declares 500 jobs lazily, each through a
builder that records its call in the worker process; a second, eagerly built repository
reports those records, so that what we check is what happened in the worker, not what
our own objects say.
"""

from __future__ import annotations

from typing import Iterator, List

import pytest

from pytest_workspace import Workspace, load_workspace

JOB_COUNT = 500

LAZY_MODULE = '''
"""{count} lazily declared jobs; every builder call is recorded in BUILT."""

from pytest_workspace.definitions import job, op, repository

BUILT = []


@op
def work():
    return "worked"


def make_builder(name):
    def build():
        BUILT.append(name)

        @job(name=name)
        def built_job():
            work()

        return built_job

    return build


@repository
def lazy_repository():
    return {{"jobs": {{f"job_{{i:04d}}": make_builder(f"job_{{i:04d}}") for i in range({count})}}}}


@op
def built_so_far():
    return list(BUILT)


@job
def report_built():
    built_so_far()


@repository
def report_repository():
    return [report_built]
'''


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("lazy")
    module = folder / "lazy_jobs.py"
    module.write_text(LAZY_MODULE.format(count=JOB_COUNT))
    with load_workspace(python_file=module, timeout=30) as workspace:
        yield workspace


@pytest.fixture
def fresh(ws: Workspace) -> Workspace:
    """The workspace with a new worker: nothing built yet, whatever ran before."""
    (location,) = ws.locations
    location.worker.kill()
    return ws


def built_in_worker(ws: Workspace) -> List[str]:
    """The builder calls recorded inside the worker process."""
    output = ws.job("report_built").execute().output_for("built_so_far")
    assert isinstance(output, list)
    return output


def test_describing_the_location_builds_no_job(fresh: Workspace) -> None:
    (location,) = fresh.locations
    assert location.load_error is None
    repo = fresh.repository("lazy_repository")
    assert len(repo.job_names) == JOB_COUNT
    assert repo.job_names[:2] == ["job_0000", "job_0001"]
    assert repo.constructed_job_names == []
    assert location.client.describe()["repositories"][0]["constructed_jobs"] == []
    assert built_in_worker(fresh) == []


def test_loading_the_location_builds_no_job(ws: Workspace) -> None:
    (location,) = ws.locations
    description = location.worker.start()  # what load_workspace does: a new worker
    assert [repo["constructed_jobs"] for repo in description["repositories"]] == [
        [],
        ["report_built"],
    ]
    assert built_in_worker(ws) == []


def test_building_one_job_builds_exactly_that_one(fresh: Workspace) -> None:
    build = fresh.job("job_0042").build()
    assert build.name == "job_0042" and build.op_names == ("work",)
    assert fresh.repository("lazy_repository").constructed_job_names == ["job_0042"]
    assert built_in_worker(fresh) == ["job_0042"]


def test_executing_one_job_builds_exactly_that_one(fresh: Workspace) -> None:
    result = fresh.job("job_0137").execute()
    assert result.success and result.output_for("work") == "worked"
    assert fresh.repository("lazy_repository").constructed_job_names == ["job_0137"]
    assert built_in_worker(fresh) == ["job_0137"]


def test_a_built_job_is_built_once(fresh: Workspace) -> None:
    fresh.job("job_0042").build()
    fresh.job("job_0042").execute()
    fresh.job("job_0300").execute()
    fresh.job("job_0042").build()
    assert built_in_worker(fresh) == ["job_0042", "job_0300"]
    assert fresh.repository("lazy_repository").constructed_job_names == [
        "job_0042",
        "job_0300",
    ]


def test_a_restarted_worker_starts_with_nothing_built(fresh: Workspace) -> None:
    fresh.job("job_0001").build()
    (location,) = fresh.locations
    location.worker.kill()
    assert fresh.repository("lazy_repository").constructed_job_names == []
    assert built_in_worker(fresh) == []
    fresh.job("job_0499").build()
    assert built_in_worker(fresh) == ["job_0499"]


def test_looking_up_a_job_by_name_sends_nothing_to_build(fresh: Workspace) -> None:
    handle = fresh.job("lazy_repository/job_0300")
    assert handle.name == "job_0300" and handle.repository.name == "lazy_repository"
    assert fresh.repository("lazy_repository").constructed_job_names == []

"""What a pytest user meets: configuration, selection and reruns, reports, xdist.

Each test lays out a project as users do (a workspace file next to the test folder,
pyproject.toml or pytest.ini at the root) and runs real pytest sessions against it.
"""

from __future__ import annotations

import textwrap

import pytest
from processes import assert_no_worker_left, with_pid_recorder

ETL = """
from pytest_workspace.definitions import job, op, repository, schedule

@op
def extract():
    return [1, 2, 3]

@op
def load(rows):
    print("loaded", rows)

@job
def daily_job():
    load(extract())

@op
def boom():
    raise ValueError("bad row 3")

@job
def broken_job():
    boom()

@schedule(cron_schedule="0 6 * * *", job=daily_job)
def morning(context):
    return {}

@repository
def etl_repo():
    return [daily_job, broken_job, morning]
"""

BILLING = """
import time

from pytest_workspace.definitions import job, op, repository

@op
def charge():
    return 1

@job
def invoice_job():
    charge()

@op
def wait_forever():
    while True:
        time.sleep(0.1)

@job
def stuck_job():
    wait_forever()

@repository
def billing_repo():
    return [invoice_job, stuck_job]
"""

UNITS = """
def test_one():
    assert True

def test_daily(workspace_job):
    assert workspace_job("etl_repo/daily_job").execute().success
"""


def make_project(pytester: pytest.Pytester, billing: bool = False) -> None:
    """etl.py (and billing.py) next to workspace.yaml, and a tests/ folder beside them."""
    pytester.makepyfile(etl=ETL)
    entries = "  - python_file: etl.py\n"
    if billing:
        pytester.makepyfile(billing=BILLING)
        entries += "  - python_file: billing.py\n"
    (pytester.path / "workspace.yaml").write_text("load_from:\n" + entries)
    tests = pytester.mkdir("tests")
    (tests / "test_units.py").write_text(textwrap.dedent(UNITS))
    pytester.makeconftest(with_pid_recorder())


# -- pytest 9's native TOML configuration --------------------------------------------------


def test_tool_pytest_takes_toml_numbers_and_bools(pytester: pytest.Pytester) -> None:
    """``[tool.pytest]`` is strict TOML: numbers are numbers there, and every key with a
    number (the time limits, ``workspace_parallel``) takes one."""
    make_project(pytester, billing=True)
    pytester.makepyprojecttoml(
        """
        [tool.pytest]
        workspace = ["workspace.yaml"]
        testpaths = ["tests"]
        workspace_timeout = 1
        workspace_load_timeout = 120
        workspace_parallel = 2
        workspace_prefetch = true
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=5, failed=2)
    # The integer limit is the one applied: the hanging job is stopped by it.
    result.stdout.fnmatch_lines(
        ["execute_job in code location 'billing.py' did not finish within 1s;*"]
    )
    assert_no_worker_left(pytester.path)


def test_tool_pytest_takes_auto_and_quoted_numbers(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makepyprojecttoml(
        """
        [tool.pytest]
        workspace = ["workspace.yaml"]
        workspace_parallel = "auto"
        workspace_timeout = "30"
        workspace_execute = false
        """
    )
    result = pytester.runpytest_subprocess()
    # Built only: the broken job passes (with tests/, collected from the rootdir).
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "workspace_parallel = true",
            "*pyproject.toml: config option 'workspace_parallel' expects one of int | string,"
            " got bool: True",
        ),
        (
            "workspace_timeout = false",
            "*pyproject.toml: config option 'workspace_timeout' expects one of float | string,"
            " got bool: False",
        ),
        (
            'workspace_timeout = "soon"',
            "*pyproject.toml: ini option workspace_timeout must be a number of seconds, got 'soon'",
        ),
        (
            "workspace_parallel = 0",
            "*pyproject.toml: ini option workspace_parallel must be a number of code locations"
            " (1 or more) or 'auto', got '0'",
        ),
        (
            'workspace_split = "etl.py"',
            "*pyproject.toml: config option 'workspace_split' expects a list for type 'args',"
            " got str: 'etl.py'",
        ),
        (
            'workspace_fork = "no"',
            "*pyproject.toml: config option 'workspace_fork' expects a bool, got str: 'no'",
        ),
    ],
)
def test_tool_pytest_wrong_types_name_the_file_and_key(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    make_project(pytester)
    pytester.makepyprojecttoml(f'[tool.pytest]\nworkspace = ["workspace.yaml"]\n{line}\n')
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_ini_file_values_are_text_and_errors_name_the_file(pytester: pytest.Pytester) -> None:
    make_project(pytester, billing=True)
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\nworkspace_timeout = 1\n")
    result = pytester.runpytest_subprocess("-o", "workspace_parallel=1")
    result.assert_outcomes(passed=5, failed=2)
    result.stdout.fnmatch_lines(["*'billing.py' did not finish within 1s;*"])
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\nworkspace_parallel = many\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*tox.ini: ini option workspace_parallel must be a number of code locations"
            " (1 or more) or 'auto', got 'many'"
        ]
    )


# -- reruns under xdist --------------------------------------------------------------------


def test_xdist_last_failed_reruns_what_a_serial_run_reruns(pytester: pytest.Pytester) -> None:
    """``-n 2 --lf``: each worker sees the items of the locations it owns only, and yet
    every worker makes the choice of a serial ``--lf`` (xdist refused the run when they
    differed: "Different tests were collected between gw0 and gw1")."""
    make_project(pytester, billing=True)
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\ntestpaths = tests\n")
    args = ["-rA", "--workspace-timeout", "1"]
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=5, failed=2)

    serial = pytester.runpytest_subprocess(*args, "--lf")
    serial.assert_outcomes(failed=2, deselected=5)
    for workers in ("2", "3"):
        rerun = pytester.runpytest_subprocess(*args, "--lf", "-n", workers)
        assert "Different tests were collected" not in rerun.stdout.str()
        rerun.assert_outcomes(failed=2)
        rerun.stdout.fnmatch_lines_random(
            [
                "FAILED workspace.yaml::etl.py::etl_repo::broken_job - *",
                "FAILED workspace.yaml::billing.py::billing_repo::stuck_job - *",
            ]
        )

    # A last failure deselected by node id is not rerun: everything else is, as serially.
    deselect = ["--deselect", "workspace.yaml::etl.py::etl_repo::broken_job"]
    pytester.runpytest_subprocess(*args, "--lf", *deselect[:2]).assert_outcomes(failed=1)
    pytester.runpytest_subprocess(
        *args, "--lf", "--deselect", "workspace.yaml::billing.py::billing_repo::stuck_job"
    ).assert_outcomes(failed=1, deselected=6)
    rerun = pytester.runpytest_subprocess(
        *args,
        "--lf",
        "-n",
        "2",
        *deselect,
        "--deselect",
        "workspace.yaml::billing.py::billing_repo::stuck_job",
    )
    rerun.assert_outcomes(passed=5)
    assert_no_worker_left(pytester.path, at_least=2)


def test_xdist_last_failed_after_a_location_is_fixed(pytester: pytest.Pytester) -> None:
    """The last failure was a location that did not load; it loads now, and its items are
    jobs: a serial ``--lf`` finds none of its last failures and runs everything, and so
    does ``-n 2 --lf`` (whose workers cannot see another worker's location)."""
    make_project(pytester, billing=True)
    (pytester.path / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_file: etl.py\n"
        "  - python_file: billing.py\n"
        "  - python_file: later.py\n"
    )
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\ntestpaths = tests\n")
    args = ["-k", "not stuck_job and not broken_job"]
    first = pytester.runpytest_subprocess(*args, "-rf")
    first.assert_outcomes(passed=5, failed=1, deselected=2)
    first.stdout.fnmatch_lines(["FAILED workspace.yaml::later.py::load_location - *"])
    # Still broken: the items that ran are those of a serial run, or more, never fewer.
    rerun = pytester.runpytest_subprocess(*args, "--lf", "-n", "2", "-rf")
    rerun.assert_outcomes(passed=5, failed=1)
    pytester.makepyfile(later=BILLING.replace("billing_repo", "later_repo"))
    for extra in (["-n", "2"], ["-n", "3"], ["-p", "no:xdist"]):
        result = pytester.runpytest_subprocess(*args, "--lf", *extra)
        # Every item -k selects, the ordinary tests too (-k deselects 3 stuck/broken
        # jobs; xdist does not count deselected items).
        result.assert_outcomes(passed=6, deselected=3 if "no:xdist" in extra else 0)
    assert_no_worker_left(pytester.path)


def test_xdist_without_the_cache_plugin(pytester: pytest.Pytester) -> None:
    """``-p no:cacheprovider`` leaves pytest's config without a cache (and no --lf)."""
    make_project(pytester, billing=True)
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\ntestpaths = tests\n")
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "-k", "not stuck_job"
    )
    result.assert_outcomes(passed=5, failed=1)
    assert "INTERNALERROR" not in result.stdout.str()
    assert_no_worker_left(pytester.path)


def test_xdist_last_failed_ordinary_test_only(pytester: pytest.Pytester) -> None:
    """An ordinary test that failed last: every worker reruns it alone."""
    make_project(pytester, billing=True)
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\ntestpaths = tests\n")
    failing = pytester.path / "tests" / "test_failing.py"
    failing.write_text("def test_fails():\n    assert False\n")
    args = ["-k", "not stuck_job and not broken_job"]
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=5, failed=1, deselected=2)
    rerun = pytester.runpytest_subprocess(*args, "--lf", "-n", "2", "-rf")
    rerun.assert_outcomes(failed=1)
    rerun.stdout.fnmatch_lines(["FAILED tests/test_failing.py::test_fails - *"])
    assert_no_worker_left(pytester.path)


# -- the fixtures in ordinary tests ------------------------------------------------------


def test_fixture_lookup_failure_is_said_once(pytester: pytest.Pytester) -> None:
    """An unknown name fails the test with the lookup's message, once: not twice with
    "During handling of the above exception, another exception occurred"."""
    make_project(pytester)
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\ntestpaths = tests\n")
    (pytester.path / "tests" / "test_names.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.parametrize("name", ["daily_job", "etl_repo/broken_job", "dialy_job"])
            def test_job(workspace_job, name):
                assert workspace_job(name).name == name.split("/")[-1]

            def test_repository(workspace_repository):
                workspace_repository("etl_rep")
            """
        )
    )
    for tb in ("auto", "native", "short"):
        result = pytester.runpytest_subprocess("tests/test_names.py", f"--tb={tb}")
        result.assert_outcomes(passed=2, failed=2)
        # The failures, without the short summary's line per failure (which CI, where
        # pytest does not cut lines to the terminal's width, shows whole).
        output = result.stdout.str().split("short test summary info")[0]
        assert "During handling" not in output, tb
        assert output.count("unknown job 'dialy_job'; did you mean 'daily_job'?") == 1, tb
        assert output.count("unknown repository 'etl_rep'; did you mean 'etl_repo'?") == 1, tb
    # The same items and the fixtures share a run: collected items next to the tests.
    result = pytester.runpytest_subprocess("-rf")
    result.assert_outcomes(passed=6, failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED tests/test_names.py::test_job[[]dialy_job[]] - Failed: unknown job*",
            "FAILED tests/test_names.py::test_repository - Failed: unknown repository*",
            "FAILED workspace.yaml::etl.py::etl_repo::broken_job - *",
        ]
    )
    assert_no_worker_left(pytester.path)


# -- node ids given on the command line --------------------------------------------------


def test_workspace_file_node_ids_can_be_pasted_back(pytester: pytest.Pytester) -> None:
    """``-v`` shows a ``--workspace-file`` target's items as ``etl.py::etl_repo::job``:
    given back as an argument, that node id selects the item, as any node id does
    (it was a test module to pytest, imported on the host, and "not found")."""
    make_project(pytester, billing=True)
    # A location's interpreter has no pytest: billing.py fails if the host imports it.
    billing = pytester.path / "billing.py"
    billing.write_text(
        "import sys\n"
        "if '_pytest' in sys.modules:\n"
        "    raise ImportError('billing.py imported by pytest, as a test module')\n"
        + billing.read_text()
    )
    target = ["--workspace-file", "billing.py"]
    listed = pytester.runpytest_subprocess(*target, "--co", "-q")
    listed.stdout.fnmatch_lines(
        ["billing.py::billing_repo::invoice_job", "billing.py::billing_repo::stuck_job"]
    )
    picked = pytester.runpytest_subprocess(*target, "billing.py::billing_repo::invoice_job", "-v")
    picked.assert_outcomes(passed=1)
    picked.stdout.fnmatch_lines(["billing.py::billing_repo::invoice_job PASSED*"])
    # The file itself as an argument: every item of the location, once.
    whole = pytester.runpytest_subprocess(
        *target, "billing.py", "--workspace-timeout", "1", "--co", "-q"
    )
    whole.stdout.fnmatch_lines(["2 tests collected*"])
    missing = pytester.runpytest_subprocess(*target, "billing.py::billing_repo::nope")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["ERROR: not found: *billing.py::billing_repo::nope"])
    assert_no_worker_left(pytester.path)


@pytest.mark.parametrize("dist", ["load", "loadscope", "worksteal"])
def test_xdist_node_ids_of_one_location(pytester: pytest.Pytester, dist: str) -> None:
    """A node id below a location names items that only its owner collects: every
    other worker stopped at "not found" (a usage error), was replaced, and so on, and the
    run never ended. Now each argument runs its items, as serially."""
    make_project(pytester, billing=True)
    pytester.makefile(".yaml", other="load_from:\n  - python_file: billing.py\n")
    cases = [
        (
            ["--workspace", "workspace.yaml", "workspace.yaml::etl.py::etl_repo::daily_job"],
            {"passed": 1},
        ),
        (
            [
                "--workspace-file",
                "etl.py",
                "--workspace-file",
                "billing.py",
                "etl.py::etl_repo::daily_job",
                "billing.py::billing_repo::invoice_job",
            ],
            {"passed": 2},
        ),
        (
            [
                "workspace.yaml::etl.py::etl_repo",
                "other.yaml::billing.py::billing_repo::invoice_job",
            ],
            {"passed": 3, "failed": 1},
        ),
    ]
    for args, expected in cases:
        pytester.runpytest_subprocess(*args, "-p", "no:xdist").assert_outcomes(**expected)
        for workers in ("2", "3"):
            # A guard against the hang, not a measure: far above what the run takes.
            result = pytester.runpytest_subprocess(
                *args, "-n", workers, "--dist", dist, timeout=300
            )
            result.assert_outcomes(**expected)
    assert_no_worker_left(pytester.path)


def test_ini_workspace_that_does_not_exist_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """``workspace = ["ci/workspace.yaml"]`` naming no file was silently dropped: the
    run went on with the folder's tests (and whatever workspace.yaml it found)."""
    make_project(pytester)
    pytester.mkdir("ci")
    pytester.makepyprojecttoml('[tool.pytest]\nworkspace = ["ci/workspace.yml"]\n')
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *pyproject.toml: ini option workspace names ci/workspace.yml, which does"
            f" not exist (its paths are relative to {pytester.path})"
        ]
    )
    # --help still helps, and the command line replaces the ini option.
    assert pytester.runpytest_subprocess("--help").ret == pytest.ExitCode.OK
    result = pytester.runpytest_subprocess("--workspace", "workspace.yaml")
    result.assert_outcomes(passed=2, failed=1)


def test_xdist_stepwise_resumes_alike_on_every_worker(pytester: pytest.Pytester) -> None:
    """``-n 2 --sw``, run again after a failure: the workers' collections differ (each
    has its own locations' items), and pytest's --sw chose per worker, so xdist refused
    the run ("Different tests were collected"). A workspace item that failed last now
    makes every item run again; an ordinary test that failed last is resumed from."""
    make_project(pytester, billing=True)
    pytester.makeini("[pytest]\nworkspace = workspace.yaml\ntestpaths = tests\n")
    args = ["--sw", "-n", "2", "-k", "not stuck_job", "-rf"]
    first = pytester.runpytest_subprocess(*args)
    first.stdout.fnmatch_lines(["FAILED workspace.yaml::etl.py::etl_repo::broken_job - *"])
    again = pytester.runpytest_subprocess(*args)
    assert "Different tests were collected" not in again.stdout.str()
    again.stdout.fnmatch_lines(["FAILED workspace.yaml::etl.py::etl_repo::broken_job - *"])
    # A serial --sw, then -n 2 --sw: the count of items the serial run saved is not
    # each worker's.
    pytester.runpytest_subprocess("--sw", "-p", "no:xdist", "-k", "not stuck_job")
    again = pytester.runpytest_subprocess(*args)
    assert "Different tests were collected" not in again.stdout.str()
    again.stdout.fnmatch_lines(["FAILED workspace.yaml::etl.py::etl_repo::broken_job - *"])

    # An ordinary test that fails: the next run resumes from it, on every worker.
    (pytester.path / "tests" / "test_zz.py").write_text("def test_zz():\n    assert False\n")
    args = ["--sw", "-n", "2", "-k", "not stuck_job and not broken_job", "-rA"]
    # (How many items run before xdist stops after a failure depends on timing: only
    # what was deselected at collection is asserted.)
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(
        ["FAILED tests/test_zz.py::test_zz - *"]
    )
    resumed = pytester.runpytest_subprocess(*args)
    assert "Different tests were collected" not in resumed.stdout.str()
    resumed.stdout.fnmatch_lines(["FAILED tests/test_zz.py::test_zz - *"])
    # tests/test_units.py comes before it: deselected, as in a serial --sw.
    assert "tests/test_units.py::test_one" not in resumed.stdout.str()
    assert "tests/test_units.py::test_daily" not in resumed.stdout.str()
    assert_no_worker_left(pytester.path)

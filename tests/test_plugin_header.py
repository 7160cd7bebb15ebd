"""Where a run says which workspace files and locations it loaded, in which Pythons."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PYTHON = "Python {}.{}.{}".format(*sys.version_info[:3])


@pytest.fixture
def cereal(pytester: pytest.Pytester) -> Path:
    pytester.makeini("[pytest]\n")
    return Path(shutil.copytree(FIXTURES / "cereal", pytester.path / "cereal"))


def test_a_discovered_workspace_is_listed_after_collection(
    pytester: pytest.Pytester, cereal: Path
) -> None:
    # Found while collecting a folder: loaded after the header, so listed under
    # "collected N items", with the location's Python version.
    result = pytester.runpytest_subprocess("cereal", "-p", "no:xdist")
    result.stdout.fnmatch_lines(
        ["collected 2 items", f"workspace: cereal/workspace.yaml: repos.py ({PYTHON})"]
    )
    result.assert_outcomes(passed=2)
    assert result.stdout.str().count("workspace: cereal/workspace.yaml") == 1


def test_a_named_workspace_is_listed_once_in_the_header(
    pytester: pytest.Pytester, cereal: Path
) -> None:
    result = pytester.runpytest_subprocess("--workspace", "cereal/workspace.yaml", "-p", "no:xdist")
    lines = result.stdout.lines
    header = lines.index(next(line for line in lines if line.startswith("workspace: ")))
    collected = lines.index(next(line for line in lines if line.startswith("collected ")))
    assert header < collected, "a named workspace belongs in the header, before collection"
    assert result.stdout.str().count(f"workspace: cereal/workspace.yaml: repos.py ({PYTHON})") == 1
    result.assert_outcomes(passed=2)


def test_under_xdist_the_workers_report_their_locations(
    pytester: pytest.Pytester, cereal: Path
) -> None:
    # The controller loads nothing; its workers send their lines back for the summary.
    result = pytester.runpytest_subprocess("cereal", "-n", "2")
    result.stdout.fnmatch_lines(
        [
            "*workspace locations (loaded by xdist workers)*",
            f"workspace: cereal/workspace.yaml: repos.py ({PYTHON})",
        ]
    )
    result.assert_outcomes(passed=2)


def test_the_header_says_when_a_named_file_is_missing_or_malformed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makefile(".yaml", broken="load_from:\n  - python_flie: repos.py\n")
    result = pytester.runpytest_subprocess(
        "--workspace", "broken.yaml", "--workspace", "absent.yaml", "-p", "no:xdist"
    )
    result.stdout.fnmatch_lines(
        ["workspace: broken.yaml: malformed, not loaded", "workspace: absent.yaml: not found"],
        consecutive=False,
    )
    # pytest itself refuses a missing path; a malformed file never runs anything.
    assert result.ret == pytest.ExitCode.USAGE_ERROR

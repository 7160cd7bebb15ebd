"""The README's examples run as written, against the cereal workspace they describe."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks(containing: str) -> List[str]:
    blocks = re.findall(r"```python\n(.*?)\n```", README, flags=re.S)
    found = [block for block in blocks if containing in block]
    assert found, f"the README has no python example containing {containing!r}"
    return found


@pytest.fixture
def cereal_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "fixtures" / "cereal", tmp_path / "cereal"))


def test_the_unit_test_examples_pass(pytester: pytest.Pytester, cereal_dir: Path) -> None:
    (example,) = python_blocks("def test_")
    pytester.makeini("[pytest]\nworkspace = cereal/workspace.yaml\n")
    shutil.copytree(cereal_dir, pytester.path / "cereal")
    pytester.makepyfile(test_readme_example=example)
    result = pytester.runpytest_subprocess("test_readme_example.py", "-p", "no:xdist")
    result.assert_outcomes(passed=2)


def test_the_python_api_example_runs(cereal_dir: Path) -> None:
    (example,) = python_blocks("load_workspace(")
    completed = subprocess.run(
        [sys.executable, "-c", example],
        cwd=cereal_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    # `loc.name, loc.python_version, loc.load_error`, then the run's success and output.
    assert f"repos.py {tuple(sys.version_info[:3])} None" in completed.stdout
    assert "True {'most_calories': 'Mueslix Crispy Blend'" in completed.stdout


def test_the_hook_examples_are_valid_hooks(pytester: pytest.Pytester, cereal_dir: Path) -> None:
    (example,) = python_blocks("def pytest_workspace_run_config")
    pytester.makeini("[pytest]\n")
    shutil.copytree(cereal_dir, pytester.path / "cereal")
    pytester.makeconftest(example)
    result = pytester.runpytest_subprocess("--workspace", "cereal/workspace.yaml", "-p", "no:xdist")
    result.assert_outcomes(passed=2)

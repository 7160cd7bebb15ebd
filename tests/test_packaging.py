"""What installing the package pulls in, and an sdist whose tests run from the sdist."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from importlib.metadata import metadata, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    assert match is not None, requirement
    return match.group(0).lower().replace("_", "-")


def test_runtime_dependencies_are_only_pytest_pyyaml_execnet_and_python_dotenv() -> None:
    runtime = [r for r in requires("pytest-workspace") or [] if "extra ==" not in r]
    everywhere = [r for r in runtime if ";" not in r]
    # python-dotenv: the parser Dagster reads .env files with (docs/dagster.md).
    assert sorted(map(requirement_name, everywhere)) == [
        "execnet",
        "pytest",
        "python-dotenv",
        "pyyaml",
    ]
    # The TOML reader of dg.toml / pyproject.toml sources, where the standard library
    # has none (tomllib is Python 3.11+).
    assert [r for r in runtime if ";" in r] == ['tomli>=1.1; python_version < "3.11"']
    xdist = [r for r in requires("pytest-workspace") or [] if 'extra == "xdist"' in r]
    assert list(map(requirement_name, xdist)) == ["pytest-xdist"]


def test_license_and_classifiers() -> None:
    meta = metadata("pytest-workspace")
    assert meta["License-Expression"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    classifiers = meta.get_all("Classifier") or []
    assert "Framework :: Pytest" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX field says it
    minimum = tuple(map(int, meta["Requires-Python"].lstrip(">=").split(".")))
    versions = sorted(
        tuple(map(int, c.rpartition(" :: ")[2].split(".")))
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert versions[0] == minimum
    assert versions == [(3, minor) for minor in range(minimum[1], versions[-1][1] + 1)]


#: Fast ones that need the fixtures and the test helpers the sdist ships.
TESTS = ["tests/test_checks.py", "tests/test_plugin_imports.py"]


def build_sdist(out: Path) -> Path:
    """The sdist built from this checkout, unpacked in ``out``."""
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (archive,) = out.glob("pytest_workspace-*.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(out, filter="data")
        else:  # a Python without extraction filters: our own archive, just built
            tar.extractall(out)
    (unpacked,) = [p for p in out.iterdir() if p.is_dir()]
    return unpacked


# One test, so that no two xdist workers build in the checkout at once.
def test_the_sdist_ships_its_tests_and_they_run_from_it(tmp_path: Path) -> None:
    sdist = build_sdist(tmp_path)
    for name in ["LICENSE", "tests/conftest.py", "fixtures/cereal/workspace.yaml", "tox.ini"]:
        assert (sdist / name).is_file(), name
    shipped = {p.relative_to(sdist) for p in sdist.rglob("*") if p.is_file()}
    assert not [p for p in shipped if "__pycache__" in p.parts]
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "fixtures"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    if tracked:  # built from a git checkout: every tracked test and fixture file is shipped
        assert {Path(p) for p in tracked} <= shipped
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", *TESTS],
        cwd=sdist,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"^\d+ passed", run.stdout.splitlines()[-1]), run.stdout

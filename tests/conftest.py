"""Shared fixtures of the test suite.

pytester is enabled for every test through ``addopts = "-p pytester"`` in pyproject.toml.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Dict, Sequence, Tuple

import pytest
from interpreters import require_interpreter
from pyenvs import ensure_env

#: ``python_env(version, name="default", packages=()) -> Path``: the python of a virtualenv.
PythonEnvFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def python_env() -> PythonEnvFactory:
    """A factory of bare virtualenvs: ``python_env("3.12")`` returns the env's ``bin/python``.

    The virtualenv runs that Python version and has nothing installed, not even pip, so a
    code location pointed at it proves that nothing of ours is needed there. Environments
    are cached across sessions (see ``tests/pyenvs.py``) and shared safely by xdist
    workers. ``name`` gives a separate environment of the same version, for a test that
    changes its env. ``packages`` (pinned pip requirements) are installed into it once
    per machine (``python_env("3.11", name="dagster", packages=["dagster==1.13.29"])``);
    an install that fails fails the test with pip's output. A Python version that is
    not installed fails the test, loudly.
    """
    made: Dict[Tuple[str, str, Tuple[str, ...]], Path] = {}
    lock = threading.Lock()

    def make(version: str, name: str = "default", packages: Sequence[str] = ()) -> Path:
        interpreter = require_interpreter(version)
        key = (version, name, tuple(packages))
        with lock:
            if key not in made:
                made[key] = ensure_env(interpreter, name=name, packages=tuple(packages))
            return made[key]

    return make


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, with inner sessions that start quicker.

    Hypothesis' plugin (when installed) adds about a second to every inner session and
    none of them uses it.
    """
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    return pytester

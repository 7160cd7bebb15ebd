"""Bare virtualenvs on other Python versions, for code locations to run in.

(An environment may also be asked for with pinned ``packages``, e.g. Dagster for the
tests of real Dagster code locations: they are installed once, with the host's pip,
and the environment is cached like the others.)

A test environment has nothing of ours installed, not even pip: the point of the tests
that use one is that the worker and ``pytest_workspace.definitions`` reach it over the
gateway. Environments are created with the ``virtualenv`` package and cached across test
sessions under ``.venvs/test-envs/`` in the repository (git-ignored; override with
``PYTEST_WORKSPACE_TEST_ENVS``), one folder per interpreter, named by its version and a
hash of its path and full version, so that upgrading an interpreter gives a new env.

Several processes may ask for the same environment at once (pytest-xdist workers, two
people's sessions in one checkout): creation and checking happen under an exclusive
``fcntl.flock`` on a lock file next to the environment. A cached environment that fails
its check (deleted interpreter, half-written folder, a package of ours installed into it)
is deleted and created again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence

#: Written last when an environment is complete; its content is what the env was made of.
MARKER = "pytest-workspace-test-env.json"
CACHE_ENV_VAR = "PYTEST_WORKSPACE_TEST_ENVS"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Runs in the environment's Python (3.8+): says what it is, and whether it can see a
# ``pytest_workspace`` of its own. Run from the environment's folder so that the current
# directory (first on sys.path with -c) cannot be a checkout of this project.
_PROBE = """\
import importlib.util, json, sys
print(json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "pytest_workspace": getattr(importlib.util.find_spec("pytest_workspace"), "origin", None),
}))
"""


def default_cache_dir() -> Path:
    """Where environments are kept: ``$PYTEST_WORKSPACE_TEST_ENVS`` or ``.venvs/test-envs``.

    Not derived from ``~``: pytester points ``HOME`` at a temporary folder during a test.
    """
    configured = os.environ.get(CACHE_ENV_VAR)
    return Path(configured).resolve() if configured else REPO_ROOT / ".venvs" / "test-envs"


def env_python(env_dir: Path) -> Path:
    """The Python executable of the virtualenv in ``env_dir``."""
    return env_dir / "bin" / "python"


def probe(python: Path, cwd: Path) -> Optional[Dict[str, Any]]:
    """What ``python`` says about itself (see ``_PROBE``), or None if it cannot run."""
    try:
        completed = subprocess.run(
            [str(python), "-c", _PROBE],
            cwd=str(cwd),
            capture_output=True,
            text=True,
            timeout=60,
            env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    try:
        data: Dict[str, Any] = json.loads(completed.stdout)
    except ValueError:
        return None
    return data


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block.

    flock locks belong to the open file, so this excludes other processes and other
    threads of this process alike; the lock goes away with the process if it dies.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def env_key(interpreter: str, name: str = "default", packages: Sequence[str] = ()) -> str:
    """The cache folder name of an environment: ``3.12.1-<hash>`` (or ``name-3.12.1-...``).

    The hash covers the interpreter, its version, ``name`` and ``packages``, so that
    changing a pinned package gives a new environment. Raises RuntimeError if the
    interpreter cannot run.
    """
    base = probe(Path(interpreter), Path(interpreter).parent)
    if base is None:
        raise RuntimeError(f"the interpreter {interpreter} does not run")
    identity = f"{os.path.realpath(interpreter)}\n{base['version']}\n{name}"
    if packages:
        identity += "\n" + "\n".join(packages)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    prefix = "" if name == "default" else f"{name}-"
    return f"{prefix}{base['version']}-{digest}"


def ensure_env(
    interpreter: str,
    cache_dir: Optional[Path] = None,
    name: str = "default",
    packages: Sequence[str] = (),
) -> Path:
    """Return the python of a virtualenv on ``interpreter``, creating it if needed.

    ``name`` tells apart several environments on one interpreter (a test that installs
    something into its env must not share it). ``packages`` (pip requirement strings,
    pinned) are installed into it by the host's pip (``pip --python``), so the env
    itself gets no pip; without them the env is bare. Safe to call from concurrent
    processes: the first one creates the env, the others wait for it.
    """
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    packages = tuple(packages)
    key = env_key(interpreter, name, packages)
    env_dir = cache_dir / key
    with exclusive_lock(cache_dir / f"{key}.lock"):
        if not _is_valid(env_dir, interpreter, packages):
            _create(env_dir, interpreter)
            if packages:
                _install(env_dir, packages)
            problem = _check(env_dir)
            if problem is not None:
                raise RuntimeError(
                    f"the virtualenv just created in {env_dir} for {interpreter} is "
                    f"unusable: {problem}"
                )
            (env_dir / MARKER).write_text(
                json.dumps(
                    {
                        "interpreter": os.path.realpath(interpreter),
                        "key": key,
                        "packages": list(packages),
                    }
                )
            )
    return env_python(env_dir)


def _install(env_dir: Path, packages: Sequence[str]) -> None:
    """pip-install ``packages`` into the env with the host's pip (pip >= 22.3)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(env_python(env_dir)),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        *packages,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if completed.returncode != 0:
        raise RuntimeError(
            f"could not install {' '.join(packages)} into the test environment {env_dir} "
            f"(`{' '.join(command)}` exited with status {completed.returncode}; pip >= 22.3 "
            f"is needed on the host):\n{completed.stdout}\n{completed.stderr}"
        )


def _is_valid(env_dir: Path, interpreter: str, packages: Sequence[str] = ()) -> bool:
    marker = env_dir / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except ValueError:
        return False
    if recorded.get("interpreter") != os.path.realpath(interpreter):
        return False
    if list(recorded.get("packages", [])) != list(packages):
        return False
    return _check(env_dir) is None


def _check(env_dir: Path) -> Optional[str]:
    """Why the environment is unusable, or None if it is a bare virtualenv of its own."""
    python = env_python(env_dir)
    if not python.exists():
        return f"{python} does not exist"
    info = probe(python, env_dir)
    if info is None:
        return f"{python} does not run"
    if Path(info["prefix"]).resolve() != env_dir.resolve():
        return f"its sys.prefix is {info['prefix']}, not the environment's folder"
    if info["pytest_workspace"] is not None:
        return f"it can import pytest_workspace from {info['pytest_workspace']}"
    return None


def _create(env_dir: Path, interpreter: str) -> None:
    # Imported here: only a session that needs a new environment pays for it.
    import virtualenv

    if env_dir.exists():
        shutil.rmtree(env_dir)
    # --no-seed: no pip, setuptools or wheel; nothing at all is installed into the env.
    virtualenv.cli_run(
        [
            str(env_dir),
            "--python",
            interpreter,
            "--no-seed",
            "--no-periodic-update",
            "--activators",
            "",
            "--quiet",
        ],
        setup_logging=False,
    )


if __name__ == "__main__":  # pragma: no cover - a convenience for humans
    for interpreter in sys.argv[1:]:
        print(ensure_env(interpreter))

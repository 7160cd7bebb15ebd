"""Find the Python interpreters the tests run code locations in.

Machines of our kind ship pyenv interpreters under ``~/.pyenv/versions``; elsewhere we
look on PATH for ``pythonX.Y``. A required interpreter that cannot be found fails the
test that needs it, loudly: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Optional

import pytest

SUPPORTED_TARGETS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")

_found: Dict[str, Optional[str]] = {}


def find_interpreter(version: str) -> Optional[str]:
    """Return the path of a CPython ``version`` (``"3.8"``) interpreter, or None."""
    if version in _found:
        return _found[version]
    candidates = []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv_root.is_dir():
        for entry in sorted(pyenv_root.iterdir(), reverse=True):
            if entry.name == version or entry.name.startswith(version + "."):
                candidates.append(str(entry / "bin" / "python"))
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    result = None
    for candidate in candidates:
        if not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            result = candidate
            break
    _found[version] = result
    return result


def require_interpreter(version: str) -> str:
    """The path of a Python ``version`` interpreter; fails the calling test if missing."""
    path = find_interpreter(version)
    if path is None:
        pytest.fail(
            f"Python {version} is required by this test but was found neither under "
            f"~/.pyenv/versions/{version}.* nor as python{version} on PATH; install it "
            f"(e.g. `pyenv install {version}`)",
            pytrace=False,
        )
    return path

"""Coverage of the code that runs in code locations: the host's half (SPEC section 8).

When coverage.py measures the host process (``pytest --cov``, ``coverage run -m pytest``),
every worker started afterwards is asked, in its ``init`` message, to measure itself the
same way: the same data file (each worker writes its own parallel file next to it, as
coverage.py's subprocess support does), the same configuration file, ``source``,
``include``, ``omit`` and branch setting. The worker starts ``coverage.Coverage`` before
it imports the location's code and saves its data when it stops; the host stops its
workers when the test loop ends and combines their files into its own data, so that
pytest-cov's report (made at the end of the loop) and ``coverage report`` after
``coverage run`` show the locations' files. A worker whose interpreter cannot import
``coverage`` says why, and the header shows it.

Nothing here imports coverage: a host that measures has imported it already.
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional, Union

from .protocol import CoverageSettings, CoverageState

#: Configuration files coverage.py reads with a ``coverage:`` prefix or a ``tool.coverage``
#: table when it finds them itself: a worker must find them the same way, not be handed
#: their path (coverage.py would then read them as a plain .coveragerc).
_SHARED_CONFIG_FILES = ("setup.cfg", "tox.ini", "pyproject.toml")

#: Parallel data files reported by this process's workers, combined by :func:`combine`.
_data_files: List[str] = []


def _current() -> Any:
    module = sys.modules.get("coverage")
    if module is None:
        return None
    try:
        return module.Coverage.current()
    except Exception:
        return None


def settings() -> Optional[CoverageSettings]:
    """What a worker needs to measure as this process does; None when nothing measures it."""
    current = _current()
    if current is None:
        return None
    config = current.config
    cwd = os.getcwd()
    config_file: Union[str, bool] = False
    if config.config_file:
        shared = os.path.basename(config.config_file) in _SHARED_CONFIG_FILES
        config_file = True if shared else config.config_file
    source = None
    if config.source is not None:
        # A folder is measured by its path, a package by its name, as coverage.py decides.
        source = [
            os.path.abspath(entry) if os.path.isdir(entry) else entry for entry in config.source
        ]
    return {
        "data_file": current.get_data().base_filename(),
        "config_file": config_file,
        "cwd": cwd,
        "source": source,
        "source_pkgs": list(config.source_pkgs or []) or None,
        "include": list(config.run_include or []) or None,
        "omit": list(config.run_omit or []) or None,
        "branch": bool(config.branch),
    }


def record(state: Optional[CoverageState]) -> None:
    """Remember the data file of a worker that measures (its ``init`` reply's ``coverage``)."""
    if state and state.get("measured") and state.get("data_file"):
        _data_files.append(str(state["data_file"]))


def pending() -> bool:
    """True if workers of this process measured coverage that is not combined yet."""
    return bool(_data_files)


def combine() -> None:
    """Combine the stopped workers' data files into this process's coverage data.

    Called once the workers have stopped (their data is saved when they exit). The files
    are deleted once combined; a worker killed before it could save leaves no file.
    """
    files = [path for path in _data_files if os.path.exists(path)]
    del _data_files[:]
    current = _current()
    if current is None or not files:
        return
    current.combine(data_paths=files, keep=False)


def describe(state: Optional[CoverageState]) -> Optional[str]:
    """The header's words for a location's coverage, or None when coverage is off."""
    if state is None:
        return None
    if state.get("measured"):
        return "measured by coverage"
    return f"not measured by coverage: {state.get('reason', 'no reason given')}"

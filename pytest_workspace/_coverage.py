"""Coverage of the code that runs in code locations: the host's half (SPEC section 8).

When coverage.py measures the host process (``pytest --cov``, ``coverage run -m pytest``),
every worker started afterwards is asked, in its ``init`` message, to measure itself the
same way: the same configuration file, ``source``, ``include``, ``omit`` and branch
setting, and a parallel data file named as the host's (``.coverage.<host>.<pid>...``, as
coverage.py's subprocess support names them) but in a folder of this host process's own.
The worker starts ``coverage.Coverage`` before it imports the location's code and saves
its data when it stops; the host stops its workers when the test loop ends and combines
every file of that folder into its own data, then removes the folder, so that
pytest-cov's report (made at the end of the loop) and ``coverage report`` after
``coverage run`` show the locations' files. A worker whose interpreter cannot import
``coverage`` says why, and the header shows it.

Why a folder of its own: under pytest-xdist, pytest-cov starts measuring each xdist
worker by erasing every ``.coverage.*`` file next to the data file, and a location
started early by another xdist worker has made its file there already; its data would be
lost. coverage.py 7.16 and newer also rename a parallel file as they save it
(``.H<hash>h``), so the host cannot know the names; it takes the whole folder.

Nothing here imports coverage: a host that measures has imported it already.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from typing import Any, Optional, Union

from .protocol import CoverageSettings, CoverageState

#: Configuration files coverage.py reads with a ``coverage:`` prefix or a ``tool.coverage``
#: table when it finds them itself: a worker must find them the same way, not be handed
#: their path (coverage.py would then read them as a plain .coveragerc).
_SHARED_CONFIG_FILES = ("setup.cfg", "tox.ini", "pyproject.toml")

#: The folder this process's workers write their data files in (made on first use), and
#: whether a worker said it measures (then :func:`combine` has something to do).
_folder: Optional[str] = None
_measured = False
#: Locations start in threads of their own, all at once: one folder for all of them.
_lock = threading.Lock()


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
    # Named as the host's, for combine() to find (coverage.py combines "<name>.*").
    # The configuration's name, not get_data()'s: that would create the host's file.
    name = os.path.basename(str(config.data_file))
    return {
        "data_file": os.path.join(_data_folder(), name),
        "config_file": config_file,
        "cwd": cwd,
        "source": source,
        "source_pkgs": list(config.source_pkgs or []) or None,
        "include": list(config.run_include or []) or None,
        "omit": list(config.run_omit or []) or None,
        "branch": bool(config.branch),
    }


def _data_folder() -> str:
    """The folder of this process's workers' data files, made by the first to ask."""
    global _folder
    with _lock:
        if _folder is None:
            _folder = tempfile.mkdtemp(prefix="pytest-workspace-coverage-")
        return _folder


def record(state: Optional[CoverageState]) -> None:
    """Note a worker's ``init`` reply's ``coverage``: one that measures will save data."""
    global _measured
    if state and state.get("measured"):
        _measured = True


def pending() -> bool:
    """True if workers of this process measured coverage that is not combined yet."""
    return _measured


def combine() -> None:
    """Combine the stopped workers' data files into this process's coverage data.

    Called once the workers have stopped (their data is saved when they exit). The files
    are combined, then their folder is removed; a worker killed before it could save
    leaves no file. Workers started after this write in a new folder.
    """
    global _folder, _measured
    with _lock:
        folder, measured = _folder, _measured
        _folder, _measured = None, False
    if folder is None:
        return
    try:
        current = _current()
        if current is not None and measured and os.path.isdir(folder):
            if any(not name.endswith("-journal") for name in os.listdir(folder)):
                current.combine(data_paths=[folder], keep=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def describe(state: Optional[CoverageState]) -> Optional[str]:
    """The header's words for a location's coverage, or None when coverage is off."""
    if state is None:
        return None
    if state.get("measured"):
        return "measured by coverage"
    return f"not measured by coverage: {state.get('reason', 'no reason given')}"

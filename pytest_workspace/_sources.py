"""Which file a named workspace path stands for: cheap, standard library only.

Its own module so that the plugin's entry point can map ``--workspace some/folder`` to
the file inside without importing the parsers (yaml, tomllib) in a run with no workspace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]

#: The file names of TOML workspace sources (dg workspaces and Dagster projects).
TOML_SOURCE_NAMES = ("dg.toml", "pyproject.toml")


def resolve_source_path(path: PathLike) -> str:
    """The absolute file a workspace source path stands for.

    A folder stands for its ``dg.toml`` when it has one, else for its
    ``pyproject.toml`` (a Dagster project folder); a folder with neither, and any other
    path, stands for itself. Symbolic links are not resolved (a loop cannot hang this).
    """
    absolute = os.path.abspath(os.fspath(path))
    if os.path.isdir(absolute):
        for name in TOML_SOURCE_NAMES:
            candidate = os.path.join(absolute, name)
            if os.path.isfile(candidate):
                return candidate
    return absolute


def resolve_path(path: Path) -> Path:
    """``path.resolve()``, except that a symbolic link loop is kept as an absolute path
    (its error is then the workspace file's, not an INTERNALERROR)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))

""".env files, read on the host as Dagster reads them, for one location's process only.

Which files a location gets is decided by :mod:`pytest_workspace.config` and
:mod:`pytest_workspace.dg_project` (:attr:`LocationSpec.env_files`, docs/dagster.md,
"Environment variables and .env files"); this module reads them when the location's
worker starts and makes the environment that worker runs with. The host's own
``os.environ`` is never changed.

What Dagster 1.13 does, and so what this does:

* the parser is python-dotenv's (``dotenv_values``, which Dagster calls): ``KEY=value``,
  ``export KEY=value``, single and double quotes (escapes in double quotes), values over
  several lines inside quotes, ``#`` comments, and ``${VAR}`` / ``${VAR:-default}``
  expanded from the file's earlier values, then from the environment;
* a key without ``=`` (``KEY`` alone) sets nothing; ``KEY=`` sets the empty string;
* a value of the file replaces the one the environment already has (Dagster's
  ``environ()`` context and ``inject_env_vars`` assign, they never ``setdefault``); of
  several files, the later one wins;
* a statement python-dotenv cannot parse is skipped with a warning (Dagster logs
  *python-dotenv could not parse statement starting at line N*): here, a warning naming
  the file and the line, raised on the location's first item;
* the file is UTF-8; a file that cannot be read stops Dagster, and fails the location
  here, naming the file.
"""

from __future__ import annotations

import io
import os
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from . import protocol
from .errors import WorkspaceFileError

#: The category of the warning for a statement python-dotenv cannot parse.
WARNING_CATEGORY = "UserWarning"


def location_environment(
    location: str, env_files: Iterable[str], environ: Mapping[str, str]
) -> Tuple[Optional[Dict[str, str]], List[protocol.WarningData]]:
    """The environment of a location's process: ``environ`` with the variables of the
    ``env_files`` that exist, in order; None when none of them sets anything (the process
    then inherits the host's as it is). Also the warnings of statements that were
    skipped. Raises :class:`WorkspaceFileError` for a file that cannot be read."""
    result = dict(environ)
    changed = False
    problems: List[protocol.WarningData] = []
    seen = set()
    for path in env_files:
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        values, skipped = read_env_file(path, result)
        for line in skipped:
            problems.append(
                {
                    "category": WARNING_CATEGORY,
                    "message": (
                        f"python-dotenv cannot parse the statement that starts at line {line} "
                        f"of {path}: it is skipped, as Dagster skips it, and sets nothing in "
                        f"code location {location!r}. Write it as KEY=value (quote a value "
                        "that holds a quote or spans lines)"
                    ),
                    "filename": path,
                    "lineno": line,
                }
            )
        if values:
            changed = True
            result.update(values)
    return (result if changed else None), problems


def read_env_file(path: str, environ: Mapping[str, str]) -> Tuple[Dict[str, str], List[int]]:
    """The variables a ``.env`` file sets, its ``${VAR}`` expanded against its own earlier
    values and then ``environ`` (as ``dotenv_values`` does against ``os.environ``); and
    the lines of the statements that could not be parsed."""
    from dotenv.parser import parse_stream
    from dotenv.variables import parse_variables

    text = _read_text(path)
    resolved: Dict[str, Optional[str]] = {}
    skipped: List[int] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            skipped.append(binding.original.line)
            continue
        if binding.key is None:  # a comment or a blank line
            continue
        value: Optional[str] = None
        if binding.value is not None:
            # python-dotenv's resolve_variables with override=True: the file's values
            # first (a key without value hides the environment's), then the environment.
            scope: Dict[str, Optional[str]] = {**environ, **resolved}
            value = "".join(atom.resolve(scope) for atom in parse_variables(binding.value))
        resolved[binding.key] = value
    return {key: value for key, value in resolved.items() if value is not None}, skipped


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise WorkspaceFileError(
            f"cannot be read: {error.strerror or error}; Dagster would stop at it too. Make "
            "it readable, or remove it",
            path=path,
        ) from None
    try:
        # Universal newlines, as open() reads it for python-dotenv.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        raise WorkspaceFileError(
            f"is not UTF-8 text (byte {data[error.start]:#04x}), as python-dotenv reads it "
            "for Dagster; save it as UTF-8",
            path=path,
            line=data[: error.start].count(b"\n") + 1,
        ) from None

"""The messages between the host and a code location's worker: plain data, versioned.

This module is shared by both sides: the host imports it, and its source travels to the
worker with the worker code, so it uses only the standard library and runs on
Python 3.8+. See ``docs/protocol.md`` for the full description.

Every request is a dict ``{"cmd": <name>, **arguments}`` and every reply is either
``{"ok": True, "result": <plain data>}`` or ``{"ok": False, "error": <ErrorData>}``.
Requests on one channel are answered in order, one at a time.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, Dict, Iterable, List, Optional

#: Bumped whenever a message changes shape. The worker refuses a host of another version.
PROTOCOL_VERSION = 2

#: The commands a worker understands, in the order a session usually sends them.
COMMANDS = (
    "init",  # {"protocol", "host_pid", "location": {...}, "modules": {...}} -> interpreter
    "load",  # {} -> location description (repositories and their member names)
    "describe",  # {} -> the same, as it is now (constructed_jobs may have grown)
    "build_job",  # {"repository", "job"} -> job description
    "execute_job",  # {"repository", "job", "run_config"} -> run result
    "evaluate_schedule",  # {"repository", "schedule"} -> evaluation
    "evaluate_sensor",  # {"repository", "sensor"} -> evaluation
)

#: Key of the marker dict that stands for a value that could not travel as plain data.
REPR_MARKER = "__pytest_workspace_repr__"

_SCALARS = (str, int, float, bool, type(None))


def is_plain(value: Any, _depth: int = 0) -> bool:
    """True if ``value`` is made only of None, bools, numbers, strings, lists and
    str-keyed dicts (tuples count as lists)."""
    if _depth > 100:
        return False
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain(item, _depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and is_plain(item, _depth + 1) for key, item in value.items()
        )
    return False


def to_plain(value: Any) -> Any:
    """``value`` as plain data, or a repr marker ``{REPR_MARKER: repr, "type": name}``.

    Tuples become lists. A value that is not plain as a whole is sent as its repr: we
    never send half of a structure.
    """
    if is_plain(value):
        return _lists(value)
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the run
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    return {REPR_MARKER: text, "type": qualified_name(type(value))}


def _lists(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    return value


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, without ``builtins.``."""
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", cls.__name__)
    if module in (None, "builtins", "__main__", "__channelexec__"):
        return str(name)
    return f"{module}.{name}"


def error_data(
    exc: BaseException,
    *,
    kind: str = "user",
    hidden_files: Iterable[str] = (),
    **extra: Any,
) -> Dict[str, Any]:
    """Describe an exception as plain data, with a traceback trimmed to user frames.

    Frames whose file is in ``hidden_files`` (the worker's and our shipped modules'),
    or that belong to importlib's machinery, are left out.
    """
    hidden = set(hidden_files)
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _trim(te, hidden, set())
    data: Dict[str, Any] = {
        "type": qualified_name(type(exc)),
        "message": _safe_str(exc),
        "traceback": "".join(te.format()),
        "kind": kind,
    }
    data.update(extra)
    return data


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}: str() failed>"


def _trim(te: traceback.TracebackException, hidden: set[str], seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames: List[traceback.FrameSummary] = [
        frame
        for frame in te.stack
        if frame.filename not in hidden and not frame.filename.startswith("<frozen importlib")
    ]
    te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _trim(linked, hidden, seen)
    for member in getattr(te, "exceptions", None) or ():  # exception groups, 3.11+
        _trim(member, hidden, seen)


def interpreter_info() -> Dict[str, Any]:
    """What the worker says about its interpreter in reply to ``init``."""
    import os

    return {
        "protocol": PROTOCOL_VERSION,
        "executable": sys.executable,
        "python_version": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "prefix": sys.prefix,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
    }


def python_version_text(version: Optional[Iterable[int]]) -> str:
    """``3.11.7`` for ``[3, 11, 7]``; ``?`` when unknown."""
    return ".".join(str(part) for part in version) if version else "?"

"""pytest-xdist scheduling by code location: a location's items go to one worker.

A location's items share its process; spread over several xdist workers, each worker
would start its own. xdist's ``--dist loadgroup`` groups through node ids, which pytest
9.2 no longer lets it change (pytest-dev/pytest-xdist#1386), so the plugin brings its
own scheduler: xdist's own ``load``/``loadgroup``/``loadscope``/``loadfile`` scheduler,
whose scope of a workspace item is its location. Imported only under xdist.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Callable, Collection, Optional, Sequence

import pytest
from xdist.scheduler import LoadFileScheduling, LoadGroupScheduling, LoadScopeScheduling

#: xdist's ``--dist`` modes whose scheduler groups by scope, and that scheduler. For
#: ``load`` every other test is its own scope, as under ``loadgroup``.
_SCOPED = {
    "load": LoadGroupScheduling,
    "loadgroup": LoadGroupScheduling,
    "loadscope": LoadScopeScheduling,
    "loadfile": LoadFileScheduling,
}


def location_scope(
    nodeid: str, targets: Collection[str], patterns: Sequence[str], suffixes: Sequence[str]
) -> Optional[str]:
    """The location a workspace item's node id belongs to (None: not a workspace item).

    ``file.yaml::<location>::...`` for a workspace file's items, ``<target>::...`` for
    a ``-f``/``-m`` location's.
    """
    path, sep, rest = nodeid.partition("::")
    if not sep:
        return None
    if path in targets:
        return path
    pure = PurePosixPath(path)
    if pure.suffix in suffixes or any(pure.match(pattern) for pattern in patterns):
        return f"{path}::{rest.split('::')[0]}"
    return None


def make_scheduler(
    config: pytest.Config, log: Any, scope_of: Callable[[str], Optional[str]]
) -> Any:
    """xdist's scheduler for this run's ``--dist``, scoping workspace items by location;
    None for the modes that do not group (``each``, ``worksteal``, ``no``)."""
    base = _SCOPED.get(config.getvalue("dist"))
    if base is None:
        return None

    class LocationScheduling(base):  # type: ignore[valid-type,misc]
        def _split_scope(self, nodeid: str) -> str:
            scope: Optional[str] = scope_of(nodeid)
            return scope if scope is not None else str(super()._split_scope(nodeid))

    return LocationScheduling(config, log)

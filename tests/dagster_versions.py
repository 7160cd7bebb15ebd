"""The Dagster releases the suite runs real code locations on (docs/dagster.md).

The newest 1.x release and one older minor line, each in a cached virtualenv of its
own (``python_env(..., packages=[...])``, see ``pyenvs.py``), on different Pythons so
that the range of interpreters is covered too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class DagsterLine:
    """A Dagster release and the Python version its test virtualenv runs."""

    version: str
    python: str

    @property
    def requirement(self) -> str:
        return f"dagster=={self.version}"

    @property
    def minor(self) -> Tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)


NEWEST = DagsterLine("1.13.29", python="3.11")
OLDER = DagsterLine("1.11.16", python="3.9")
SUPPORTED = (OLDER, NEWEST)

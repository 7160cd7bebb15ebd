"""The definitions API's errors that the host raises too: their one home.

``DefinitionError``, ``RunConfigError`` and ``OutputNotAvailableError`` are defined here,
in a module that imports only ``typing``, so that ``pytest_workspace.errors`` (imported by
the plugin on every pytest run) can re-export the very same classes without importing all
of ``definitions.py``. Users import them from ``pytest_workspace.definitions``,
``pytest_workspace.errors`` or ``pytest_workspace``: one class each, whichever the path.
Shipped to workers before ``definitions.py``; standard library only, Python 3.8+.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

# The public name of these classes (their repr, pickles, error data's "type").
_PUBLIC_MODULE = "pytest_workspace.definitions"


def _restore_error(
    cls: Type[BaseException], args: Tuple[Any, ...], state: Dict[str, Any]
) -> BaseException:
    error: BaseException = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class DefinitionError(Exception):
    """Base class of every error raised by the definitions API.

    Subclasses carry the names involved as attributes; their messages say how to fix the
    problem. They pickle and copy faithfully, attributes included.
    """

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keyword-only constructors break the default Exception pickling; rebuild from state.
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


class RunConfigError(DefinitionError):
    """Run config is missing required keys or has wrong ones; raised before any op runs.

    ``missing`` lists ``(op_name, key)`` pairs without a value; ``problems`` lists every
    problem found, one readable sentence each.

    The one class of this error: ``pytest_workspace.RunConfigError`` and
    ``pytest_workspace.errors.RunConfigError`` are this class, and the host raises its
    subclass ``errors.RemoteRunConfigError`` for a job run in a code location.
    """

    def __init__(
        self,
        message: str,
        *,
        job_name: Optional[str] = None,
        missing: Sequence[Tuple[str, str]] = (),
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.job_name = job_name
        self.missing: List[Any] = list(missing)
        self.problems: List[str] = list(problems)


class OutputNotAvailableError(DefinitionError, LookupError):
    """``ExecutionResult.output_for`` was asked for an op that did not succeed."""

    def __init__(
        self, message: str, *, op_name: Optional[str] = None, status: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.op_name = op_name
        self.status = status


for _cls in (DefinitionError, RunConfigError, OutputNotAvailableError):
    _cls.__module__ = _PUBLIC_MODULE

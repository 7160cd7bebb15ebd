"""Host-side error types: one per kind of failure, each saying what to do about it.

Errors raised *inside* a code location travel back as plain data and are re-raised on
the host as :class:`RemoteError` (or one of its subclasses), carrying the remote type
name, message and a traceback trimmed to the user's own frames.

``RunConfigError`` and ``OutputNotAvailableError`` have one home (defined in
``_definition_errors``, public as :mod:`pytest_workspace.definitions`'s): this module
re-exports those very classes, so
``except RunConfigError`` catches the error whichever path it was imported from. What the
host raises for a run in a code location is a subclass of each
(:class:`RemoteRunConfigError`, :class:`RemoteOutputNotAvailableError`) that is also a
:class:`WorkspaceError`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

# The one home of these two (re-exported here, the very same classes):
from ._definition_errors import OutputNotAvailableError as OutputNotAvailableError
from ._definition_errors import RunConfigError as RunConfigError


class WorkspaceError(Exception):
    """Base class of every error pytest-workspace raises on the host."""


class WorkspaceFileError(WorkspaceError):
    """A workspace file (or a ``-f``/``-m`` style target) is malformed.

    ``path`` is the file, ``line`` the 1-based line when known, ``key_path`` the
    dotted/indexed key path (``load_from[1].python_file.relative_path``) when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Optional[str] = None,
        line: Optional[int] = None,
        key_path: Optional[str] = None,
    ) -> None:
        self.path = path
        self.line = line
        self.key_path = key_path
        self.problem = message
        where = path or "<workspace>"
        if line is not None:
            where += f":{line}"
        if key_path:
            where += f": {key_path}"
        super().__init__(f"{where}: {message}")


class LocationLoadError(WorkspaceError):
    """A code location could not be started or its code could not be loaded."""

    def __init__(
        self, location: str, message: str, remote_traceback: str = "", summary: str = ""
    ) -> None:
        self.location = location
        self.message = message
        self.remote_traceback = remote_traceback
        #: The exception the code raised, on one line (``Type: first line``), if it did.
        self.summary = summary
        text = f"code location {location!r} failed to load: {message}"
        if remote_traceback:
            text += "\n" + remote_traceback.rstrip()
        super().__init__(text)


class WorkerError(WorkspaceError):
    """The process of a code location stopped answering (timeout) or died."""

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        super().__init__(message)


class WorkerTimeoutError(WorkerError):
    """A call into a code location took longer than its timeout; the worker was killed."""


class WorkerCrashedError(WorkerError):
    """The process of a code location died while a call was in flight."""


class WorkerRestartedWarning(UserWarning):
    """A worker was found dead between two calls and a new one was started.

    The call that found it runs on the new worker; the warning names the call the dead
    worker made last, which probably left behind what ended it (a thread, a process).
    """


class RemoteError(WorkspaceError):
    """An exception raised by user code (or a definition error) inside a code location."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        self.type_name: str = str(data.get("type", "Exception"))
        self.message: str = str(data.get("message", ""))
        self.remote_traceback: str = str(data.get("traceback", ""))
        self.kind: str = str(data.get("kind", "user"))
        #: Where it was raised: ``load``, ``build``, ``config``, ``execute``, or the
        #: request's name.
        self.stage: str = str(data.get("stage", ""))
        #: The one-line reason the location gave, when the error's first line is not it
        #: (a Dagster job that does not build: the exception Dagster raised it from).
        summary = data.get("summary")
        self.summary: Optional[str] = str(summary) if summary else None
        super().__init__(f"{self.type_name}: {self.message}")

    def __str__(self) -> str:
        # The trimmed remote traceback already ends with "Type: message".
        return self.remote_traceback.rstrip() or f"{self.type_name}: {self.message}"


class RemoteDefinitionError(RemoteError):
    """A definition error raised in the code location (name mismatch, bad repository...)."""


class RemoteRunConfigError(RemoteError, RunConfigError):
    """A job of a code location was asked to run with missing or invalid run config.

    A :class:`RunConfigError` (catch it by that name) built from the location's error
    data: ``job_name``, ``problems`` as there; ``missing`` lists the dotted paths that had
    no value (``op.key`` for our definitions, Dagster's full config path such as
    ``ops.greet.config.name`` for Dagster), as strings since they travelled as text.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        RemoteError.__init__(self, data)
        job_name = data.get("job_name")
        self.job_name = None if job_name is None else str(job_name)
        self.missing = [str(path) for path in data.get("missing", [])]
        self.problems = [str(problem) for problem in data.get("problems", [])]

    @property
    def only_missing(self) -> bool:
        """True when keys are only missing and nothing given is wrong: the job needs run
        config it was not given (the plugin skips it), rather than bad config (it fails).

        Decided once, in the location (``only_missing`` of the error data): Dagster says
        which of its errors are missing fields; for our definitions, every problem is a
        missing key.
        """
        return bool(self.data.get("only_missing", False))


class PartitionsUnavailableError(WorkspaceError):
    """A partitioned job has no partition to run: its partitions definition has no key
    (Dagster's dynamic partitions before any is added). Nothing ran; name the keys to
    run (``partition_key=``, or the ``pytest_workspace_partition_keys`` hook)."""


class RemoteOutputNotAvailableError(WorkspaceError, OutputNotAvailableError):
    """:meth:`RunResult.output_for` was asked for an op that failed or was skipped.

    An :class:`OutputNotAvailableError` (catch it by that name, or as a ``LookupError``),
    with the same ``op_name`` and ``status``.
    """

    def __init__(self, message: str, *, op_name: str, status: str) -> None:
        OutputNotAvailableError.__init__(self, message, op_name=op_name, status=status)


class NameLookupError(WorkspaceError, LookupError):
    """A repository or job name is unknown or ambiguous; the message lists the candidates."""

    def __init__(self, message: str, candidates: Sequence[str] = ()) -> None:
        self.candidates = list(candidates)
        super().__init__(message)


class WorkspaceClosedError(WorkspaceError):
    """A closed workspace was asked to add locations; load a new one instead."""

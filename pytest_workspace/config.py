"""Workspace files turned into immutable location specs: pure data, no processes.

A workspace file has Dagster's ``workspace.yaml`` format::

    load_from:
      - python_file: repos.py
      - python_file: {relative_path: team/pipelines.py, attribute: team_repository,
                      working_directory: team, location_name: team,
                      executable_path: ../venvs/team/bin/python}
      - python_module: my_pkg.repos       # or {module_name: ..., + the optional keys above}
      - python_package: other_package     # or {package_name: ..., + the optional keys above}
      - autoload_defs_module: my_project.defs   # or {module_name: ..., no attribute}
      - grpc_server: {host: localhost, port: 4000}   # reported as skipped

That is every key of Dagster's schema. ``dg.toml`` workspaces and Dagster projects are
parsed by :mod:`pytest_workspace.dg_project` into the same specs;
:func:`load_workspace_source` reads any of the three, chosen by the file's name.

The file is composed with PyYAML's safe loader into nodes (never constructed into Python
objects by PyYAML), so every error can name the line of the offending node, duplicate
keys are caught instead of silently dropped, and tags such as ``!!python/object`` are
refused without being executed.

Path rules (where Dagster is silent or inconsistent, the choice is stated here):

* ``relative_path``, ``working_directory`` and ``executable_path`` expand a leading ``~``
  and ``$VAR`` / ``${VAR}`` (an unset variable is an error), then resolve against the
  workspace file's folder when relative. Like Dagster's ``StringSource``, the long-form
  string keys also accept ``{env: VAR}``.
* The working directory defaults to the workspace file's folder, for every kind. For a
  long-form ``python_file`` this is exactly what Dagster does; Dagster leaves it unset for
  the short form and for modules and packages (the process then inherits whatever the
  current directory is), which would make a workspace behave differently depending on
  where pytest is started.
* An ``executable_path`` without a path separator (``python3.12``) is a command name: it
  is kept as written and looked up on ``PATH`` by the loader, not here.
* Nothing touches the file system beyond reading the workspace file itself: a missing
  ``python_file`` is reported by the loader as that location's load error.

Key paths in errors use 0-based indices: ``load_from[0]`` is the first entry.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import protocol
from ._sources import TOML_SOURCE_NAMES, resolve_source_path
from .errors import WorkspaceFileError

__all__ = [
    "LOCATION_KINDS",
    "TOML_SOURCE_NAMES",
    "LocationSpec",
    "SkippedEntry",
    "SourceError",
    "WorkspaceSpec",
    "apply_location_overrides",
    "load_workspace_file",
    "load_workspace_files",
    "load_workspace_source",
    "location_from_module",
    "location_from_python_file",
    "resolve_source_path",
]

LOCATION_KINDS = ("python_file", "python_module", "python_package", "autoload_defs_module")

COMMAND_LINE_SOURCE = "<command line>"

#: The name of the file of environment variables Dagster's tools read.
DOTENV = ".env"

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class LocationSpec:
    """One code location, as a workspace file (or ``-f``/``-m``) declares it.

    All paths are absolute, with ``~`` and ``$VARS`` expanded.
    """

    name: str
    """The location name: ``location_name`` or Dagster's default (``repos.py``,
    ``my_pkg.repos``, ... followed by ``:attribute`` when an attribute is given)."""
    kind: str
    """One of :data:`LOCATION_KINDS`."""
    target: str
    """Absolute file path for ``python_file``; the dotted module/package name otherwise."""
    attribute: Optional[str] = None
    working_directory: Optional[str] = None
    """Absolute; the process's cwd, and put first on ``sys.path`` of the location."""
    executable_path: Optional[str] = None
    """Absolute path of the interpreter; ``None`` means the host's ``sys.executable``.
    A value without a path separator (``python3.12``) is a command name, kept as written,
    for the loader to look up on ``PATH``."""
    source: str = COMMAND_LINE_SOURCE
    """The workspace file this came from (absolute path) or ``<command line>``."""
    key_path: str = ""
    """Where in the source file: ``load_from[2]``; empty for command-line specs."""
    line: Optional[int] = None
    """1-based line of the entry in the source file, when known."""
    python_path: Tuple[str, ...] = ()
    """Absolute folders put on ``sys.path`` right after the working directory: the
    ``src/`` folder of a Dagster project with a src layout, so that an uninstalled
    project imports as ``dg`` makes it import."""
    env_files: Tuple[str, ...] = ()
    """Absolute paths of the ``.env`` files whose variables the location's process gets,
    in the order Dagster applies them: a later file's value wins, and each wins over the
    host's environment (docs/dagster.md). The one next to a workspace file (or, for the
    command line, in the current folder), as ``dagster dev`` reads it; a project's, after
    its dg workspace's, as ``dg dev`` reads them. One that does not exist is skipped."""


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that is valid but not loaded by us (``grpc_server``), with the reason."""

    source: str
    key_path: str
    reason: str
    line: Optional[int] = None


@dataclass(frozen=True)
class SourceError:
    """A part of a workspace source that could not be read while the rest could: a
    project of a ``dg.toml`` whose folder is missing or whose ``pyproject.toml`` is
    malformed."""

    key_path: str
    """Where the part is listed in the source: ``workspace.projects[1]``."""
    name: str
    """What the part is, as written in the source: the project's path."""
    error: WorkspaceFileError
    """The problem; its ``path`` is the file that has it (the project's pyproject.toml)."""
    line: Optional[int] = None
    """1-based line of the part in the source."""


@dataclass(frozen=True)
class WorkspaceSpec:
    """A parsed workspace source: its locations in order, and the entries skipped.

    ``errors`` are the parts of the source that could not be read while the rest could
    (see :class:`SourceError`). Each is reported on its own; the other parts still load.
    """

    path: str
    locations: Tuple[LocationSpec, ...] = ()
    skipped: Tuple[SkippedEntry, ...] = field(default_factory=tuple)
    errors: Tuple[SourceError, ...] = ()


# --- the schema ---------------------------------------------------------------------------

_TARGET_KEY = {
    "python_file": "relative_path",
    "python_module": "module_name",
    "python_package": "package_name",
    "autoload_defs_module": "module_name",
}
_OPTIONAL_KEYS = ("attribute", "working_directory", "location_name", "executable_path")
# Dagster's schema: autoload_defs_module loads a whole module tree, so it has no attribute.
_KIND_OPTIONAL_KEYS = {
    kind: tuple(
        key for key in _OPTIONAL_KEYS if kind != "autoload_defs_module" or key != "attribute"
    )
    for kind in LOCATION_KINDS
}
_ENTRY_KEYS = (*LOCATION_KINDS, "grpc_server")
_GRPC_KEYS = ("host", "port", "socket", "location_name", "ssl", "additional_metadata")
#: Suffixes a ``python_file`` may have: what Python imports as a source module.
PYTHON_FILE_SUFFIXES = (".py", ".pyw")
#: Deeper nesting than this is refused before PyYAML composes it (recursively): a
#: workspace file needs five levels.
MAX_NESTING = 50
#: Merge keys (``<<: *anchor``) may give one mapping at most this many keys.
MAX_MERGED_KEYS = 1000
_TOP_LEVEL_KEYS = ("load_from",)

_WHAT = {
    "relative_path": "the path of a Python file, relative to the workspace file's folder",
    "module_name": "a dotted module name such as my_pkg.repos",
    "package_name": "a dotted package name such as my_pkg",
    "attribute": "the name of one attribute of the module, such as my_repository",
    "working_directory": "a folder, relative to the workspace file's folder",
    "location_name": "a name for this code location",
    "executable_path": "the path of a Python interpreter, or a command name on PATH",
    "host": "a host name",
    "socket": "a socket path",
    "additional_metadata": "a mapping of metadata for the gRPC server",
}

_SKIP_REASON = (
    "grpc_server entry not loaded: pytest-workspace starts its own process for each code "
    "location and does not connect to running gRPC servers; use python_file, "
    "python_module or python_package to test this code"
)

_YAML_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (
    _YAML_TAG + name for name in ("str", "null", "bool", "int", "float")
)
# The tags plain YAML values resolve to; anything else was written explicitly (``!!set``,
# ``!!python/object``, ``!custom``) and is refused.
_PLAIN_TAGS = frozenset(
    _YAML_TAG + name
    for name in ("str", "null", "bool", "int", "float", "seq", "map", "merge", "timestamp")
)

_ENV_VAR = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# --- public functions ---------------------------------------------------------------------


def load_workspace_file(path: PathLike) -> WorkspaceSpec:
    """Parse one Dagster-format workspace file into a :class:`WorkspaceSpec`.

    Locations keep the order of ``load_from``; ``grpc_server`` entries are returned in
    ``skipped`` with the reason. Relative paths resolve against the file's folder, never
    against the current directory.

    Raises :class:`~pytest_workspace.errors.WorkspaceFileError` naming the file, the
    1-based line and the key path (``load_from[1].python_file.relative_path``) of the first
    problem found; nothing of a malformed file is returned.
    """
    absolute = os.path.abspath(os.fspath(path))
    document = _Document(absolute, os.path.dirname(absolute))
    text = read_source_text(absolute)
    root = document.compose(text)
    return document.parse(root)


def load_workspace_source(path: PathLike) -> WorkspaceSpec:
    """Parse any workspace source, chosen by its name (see :func:`resolve_source_path`).

    * ``dg.toml`` (or a ``pyproject.toml`` whose ``[tool.dg]`` says
      ``directory_type = "workspace"``): a dg workspace, each project a location;
    * ``pyproject.toml``: one Dagster project (``[tool.dg.project]`` or ``[tool.dagster]``);
    * a folder: its ``dg.toml``, else its ``pyproject.toml``;
    * anything else: a ``workspace.yaml`` (:func:`load_workspace_file`).

    Raises :class:`~pytest_workspace.errors.WorkspaceFileError` for a malformed source,
    whatever went wrong while reading it.
    """
    source = resolve_source_path(path)
    try:
        if os.path.basename(source) in TOML_SOURCE_NAMES:
            from .dg_project import load_toml_source

            return load_toml_source(source)
        return load_workspace_file(source)
    except WorkspaceFileError:
        raise
    except RecursionError as error:
        raise WorkspaceFileError(
            "is nested too deeply to be read; a workspace file needs a few levels only",
            path=source,
        ) from error
    except Exception as error:  # any failure of reading a file is that file's error
        raise WorkspaceFileError(
            f"cannot be read: {type(error).__name__}: {error} (if the file looks right, "
            "this is a bug in pytest-workspace: please report it)",
            path=source,
        ) from error


def is_collected_source(path: PathLike) -> bool:
    """Whether a file matching ``workspace_files`` is a workspace of its own.

    A project's own ``dg.toml`` (``directory_type = "project"``) is not: it belongs to
    the dg workspace that lists it, and is loaded only when named. Anything that cannot
    be read is, so that its error is reported.
    """
    if os.path.basename(os.fspath(path)) != "dg.toml":
        return True
    from .dg_project import directory_type

    return directory_type(os.fspath(path)) != "project"


def apply_location_overrides(specs: Sequence[WorkspaceSpec]) -> Tuple[WorkspaceSpec, ...]:
    """Dagster's rule for workspace files given together: a location named again in a
    later file replaces the earlier one.

    The replaced location is dropped from its file and listed in that file's ``skipped``
    entries, saying which file and entry replaced it. Order is otherwise kept.
    """
    last: Dict[str, LocationSpec] = {}
    owner: Dict[str, int] = {}
    for index, spec in enumerate(specs):
        for location in spec.locations:
            last[location.name] = location
            owner[location.name] = index
    result = []
    for index, spec in enumerate(specs):
        kept: List[LocationSpec] = []
        skipped = list(spec.skipped)
        for location in spec.locations:
            if owner[location.name] == index:
                kept.append(location)
                continue
            winner = last[location.name]
            where = winner.key_path + (f" (line {winner.line})" if winner.line else "")
            skipped.append(
                SkippedEntry(
                    source=location.source,
                    key_path=location.key_path,
                    reason=f"location {location.name!r} is overridden by {where} of "
                    f"{winner.source}: a location named again in a later workspace file "
                    "replaces the earlier one, as in Dagster",
                    line=location.line,
                )
            )
        if len(kept) == len(spec.locations):
            result.append(spec)
        else:
            result.append(
                WorkspaceSpec(
                    path=spec.path,
                    locations=tuple(kept),
                    skipped=tuple(skipped),
                    errors=spec.errors,
                )
            )
    return tuple(result)


def check_unique_location_names(locations: Sequence[LocationSpec]) -> None:
    """Refuse two locations of one source with one name, as Dagster does."""
    first: Dict[str, LocationSpec] = {}
    for location in locations:
        earlier = first.get(location.name)
        if earlier is not None:
            raise WorkspaceFileError(
                f"location name {location.name!r} is used by both {earlier.key_path} "
                f"(line {earlier.line}) and {location.key_path} (line {location.line}); "
                "give one of them a different "
                + ("code_location_name" if location.source.endswith(".toml") else "location_name"),
                path=location.source,
                line=location.line,
                key_path=location.key_path,
            )
        first[location.name] = location


def load_workspace_files(paths: Iterable[PathLike]) -> Tuple[WorkspaceSpec, ...]:
    """Parse several workspace files, in the order given (see :func:`load_workspace_file`).

    The first malformed file raises; a file named twice is parsed (and returned) twice, so
    that callers decide how to report it.
    """
    return tuple(load_workspace_file(path) for path in paths)


def location_from_python_file(
    path: PathLike,
    *,
    attribute: Optional[str] = None,
    working_directory: Optional[PathLike] = None,
    location_name: Optional[str] = None,
    executable_path: Optional[PathLike] = None,
    base_dir: Optional[PathLike] = None,
) -> LocationSpec:
    """A location for one Python file, as Dagster's ``-f`` / pytest's ``--workspace-file``.

    Relative paths resolve against ``base_dir`` (default: the current directory), which is
    also the default working directory, as with Dagster's ``-f`` without ``-d``. Whether
    the file exists is not checked here: a missing file is the location's load error.
    """
    builder = _command_line_builder(base_dir)
    return builder.location(
        "python_file",
        _cli_value(path, "relative_path", "python_file"),
        attribute=_cli_optional(attribute, "attribute"),
        working_directory=_cli_optional(working_directory, "working_directory"),
        location_name=_cli_optional(location_name, "location_name"),
        executable_path=_cli_optional(executable_path, "executable_path"),
    )


def location_from_module(
    module_name: str,
    *,
    kind: str = "python_module",
    attribute: Optional[str] = None,
    working_directory: Optional[PathLike] = None,
    location_name: Optional[str] = None,
    executable_path: Optional[PathLike] = None,
    base_dir: Optional[PathLike] = None,
) -> LocationSpec:
    """A location for a module (``kind="python_module"``, Dagster's ``-m``) or an installed
    package (``kind="python_package"``), as pytest's ``--workspace-module``.

    Relative paths resolve against ``base_dir`` (default: the current directory), which is
    also the default working directory.
    """
    if kind not in ("python_module", "python_package"):
        raise ValueError(f"kind must be 'python_module' or 'python_package', not {kind!r}")
    builder = _command_line_builder(base_dir)
    return builder.location(
        kind,
        _cli_value(module_name, _TARGET_KEY[kind], kind),
        attribute=_cli_optional(attribute, "attribute"),
        working_directory=_cli_optional(working_directory, "working_directory"),
        location_name=_cli_optional(location_name, "location_name"),
        executable_path=_cli_optional(executable_path, "executable_path"),
    )


# --- building specs from checked values ---------------------------------------------------


@dataclass
class _Value:
    """A string as written, with where it was written (for errors)."""

    text: str
    key: str
    """The schema key it is the value of (``relative_path``...), for "expected ..."."""
    key_path: str
    line: Optional[int] = None


class _Builder:
    """Turns checked values into a :class:`LocationSpec`; knows where paths are relative
    to and how to name its errors."""

    def __init__(self, source: str, base_dir: str) -> None:
        self.source = source
        self.base_dir = base_dir

    def error(
        self, message: str, *, line: Optional[int] = None, key_path: Optional[str] = None
    ) -> WorkspaceFileError:
        return WorkspaceFileError(message, path=self.source, line=line, key_path=key_path)

    def location(
        self,
        kind: str,
        target: _Value,
        *,
        attribute: Optional[_Value] = None,
        working_directory: Optional[_Value] = None,
        location_name: Optional[_Value] = None,
        executable_path: Optional[_Value] = None,
        key_path: str = "",
        line: Optional[int] = None,
    ) -> LocationSpec:
        for value in (target, attribute, working_directory, location_name, executable_path):
            if value is not None and not value.text.strip():
                raise self.error(
                    f"must not be empty; expected {_WHAT[value.key]}",
                    line=value.line,
                    key_path=value.key_path,
                )
        if kind == "python_file":
            target_text = self.path(target)
            default_name = os.path.basename(target_text)
            self.check_python_file(target, target_text)
        else:
            target_text = target.text.strip()
            self.check_dotted_name(kind, target)
            default_name = target_text
        attribute_text = None
        if attribute is not None:
            attribute_text = attribute.text.strip()
            if not _NAME.match(attribute_text):
                raise self.error(
                    f"{attribute_text!r} is not a Python identifier; expected {_WHAT['attribute']}",
                    line=attribute.line,
                    key_path=attribute.key_path,
                )
            default_name += ":" + attribute_text
        return LocationSpec(
            name=location_name.text.strip() if location_name is not None else default_name,
            kind=kind,
            target=target_text,
            attribute=attribute_text,
            working_directory=(
                self.path(working_directory) if working_directory is not None else self.base_dir
            ),
            executable_path=self.executable(executable_path),
            source=self.source,
            key_path=key_path,
            line=line,
            # `dagster dev` reads the .env of the folder it is run in: the workspace
            # file's (where it finds the file by default), or, for -f / -m, the current one.
            env_files=(os.path.join(self.base_dir, DOTENV),),
        )

    def check_python_file(self, value: _Value, path: str) -> None:
        """Only a Python source file can be imported as a module (Dagster refuses others too)."""
        suffix = os.path.splitext(path)[1]
        if suffix in PYTHON_FILE_SUFFIXES:
            return
        found = f"its suffix is {suffix!r}" if suffix else "it has no suffix"
        raise self.error(
            f"{os.path.basename(path)!r} is not a Python module ({found}): python_file must "
            f"name a Python source file ending in {' or '.join(PYTHON_FILE_SUFFIXES)}",
            line=value.line,
            key_path=value.key_path,
        )

    def check_dotted_name(self, kind: str, value: _Value) -> None:
        name = value.text.strip()
        if all(_NAME.match(part) for part in name.split(".")):
            return
        hint = ""
        if "/" in name or "\\" in name or name.endswith(".py"):
            hint = "; for a file, use python_file instead"
        raise self.error(
            f"{name!r} is not a dotted Python name; expected {_WHAT[_TARGET_KEY[kind]]}{hint}",
            line=value.line,
            key_path=value.key_path,
        )

    def expand(self, value: _Value) -> str:
        """``~`` then ``$VAR``/``${VAR}``, as a shell would; unset variables are errors."""
        text = os.path.expanduser(value.text.strip())

        def substitute(match: re.Match[str]) -> str:
            name = match.group("plain") or match.group("braced")
            if not _NAME.match(name):
                raise self.error(
                    f"{match.group(0)!r} in {value.text!r} is not a valid environment "
                    "variable reference; write $NAME or ${NAME}",
                    line=value.line,
                    key_path=value.key_path,
                )
            if name not in os.environ:
                raise self.error(
                    f"environment variable {name!r} is not set (used in {value.text!r}); "
                    "set it or write the path out",
                    line=value.line,
                    key_path=value.key_path,
                )
            return os.environ[name]

        expanded = _ENV_VAR.sub(substitute, text)
        if not expanded.strip():
            raise self.error(
                f"{value.text!r} is empty once environment variables are expanded",
                line=value.line,
                key_path=value.key_path,
            )
        return expanded

    def path(self, value: _Value) -> str:
        return os.path.normpath(os.path.join(self.base_dir, self.expand(value)))

    def executable(self, value: Optional[_Value]) -> Optional[str]:
        if value is None:
            return None
        expanded = self.expand(value)
        separators = [os.sep] + ([os.altsep] if os.altsep else [])
        if not any(sep in expanded for sep in separators):
            return expanded  # a command name: the loader looks it up on PATH
        return os.path.normpath(os.path.join(self.base_dir, expanded))


def _command_line_builder(base_dir: Optional[PathLike]) -> _Builder:
    base = os.path.abspath(os.fspath(base_dir)) if base_dir is not None else os.getcwd()
    return _Builder(COMMAND_LINE_SOURCE, base)


def _cli_value(value: object, key: str, key_path: str) -> _Value:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise WorkspaceFileError(
            f"expected a string ({_WHAT[key]}), found {type(value).__name__}",
            path=COMMAND_LINE_SOURCE,
            key_path=key_path,
        )
    return _Value(value, key, key_path)


def _cli_optional(value: object, key: str) -> Optional[_Value]:
    return None if value is None else _cli_value(value, key, key)


# --- reading the YAML ---------------------------------------------------------------------


def read_source_text(path: str) -> str:
    """The text of a workspace source; any reason it cannot be had is its error."""
    if not os.path.exists(path):
        if os.path.islink(path):
            raise WorkspaceFileError(
                "is a symbolic link that leads nowhere (a link loop, or a link to a missing "
                "file); point it at a workspace file",
                path=path,
            )
        raise WorkspaceFileError(
            "workspace file does not exist; check the path given with --workspace or the "
            "workspace ini option",
            path=path,
        )
    if os.path.isdir(path):
        raise WorkspaceFileError(
            "is a directory, not a workspace file, and it has no dg.toml or pyproject.toml "
            "(a Dagster project); name the workspace file inside it (workspace.yaml, dg.toml)",
            path=path,
        )
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise WorkspaceFileError(
            f"cannot read the workspace file: {error.strerror or error}", path=path
        ) from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise WorkspaceFileError(
            "is not UTF-8 text; save the workspace file as UTF-8", path=path, line=line
        ) from error


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


def _describe(node: Node) -> str:
    """What a node is, in words, for "expected X, found Y"."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    if node.tag == _NULL:
        return "null (no value)"
    if node.tag == _BOOL:
        return f"a boolean ({value})"
    if node.tag == _INT:
        return f"an integer ({value})"
    if node.tag == _FLOAT:
        return f"a number ({value})"
    if node.tag == _STR:
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"a string ({shown!r})" if value else "an empty string"
    return f"a {_show_tag(node.tag).lstrip('!')} value ({value})"


def _unknown_key_message(key: str, where: str, allowed: Sequence[str]) -> str:
    message = f"unknown key {key!r} in {where}"
    hint = protocol.did_you_mean(key, allowed)
    if hint:
        return f"{message}{hint} (allowed: {', '.join(allowed)})"
    return f"{message}; allowed keys: {', '.join(allowed)}"


class _Document(_Builder):
    """One workspace file: composes its nodes and checks them against the schema."""

    def compose(self, text: str) -> Node:
        try:
            self.refuse_deep_nesting(text)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.reader.ReaderError as error:
            # PyYAML gives a character offset here: say the line and column instead.
            before = text[: error.position]
            line = before.count("\n") + 1
            column = error.position - (before.rfind("\n") + 1) + 1
            character = error.character
            shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
            raise self.error(
                f"invalid YAML: the control character {shown} is not allowed in YAML text, "
                f"at line {line}, column {column}; remove it",
                line=line,
            ) from error
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            problem = error.problem or error.context or "not valid YAML"
            if error.context and error.problem:
                problem += f" ({error.context}"
                if error.context_mark is not None and error.context_mark is not mark:
                    problem += f" started on line {error.context_mark.line + 1}"
                problem += ")"
            if mark is None:
                raise self.error(f"invalid YAML: {problem}") from error
            raise self.error(
                f"invalid YAML: {problem}, at line {mark.line + 1}, column {mark.column + 1}",
                line=int(mark.line) + 1,
            ) from error
        except yaml.YAMLError as error:
            raise self.error(f"invalid YAML: {error}") from error
        if root is None:
            raise self.error(
                "the workspace file is empty; expected a mapping with a 'load_from' list, "
                "such as:\nload_from:\n  - python_file: repos.py"
            )
        self.refuse_tags(root)
        return root

    def refuse_deep_nesting(self, text: str) -> None:
        """PyYAML composes nested collections recursively: refuse absurd nesting first
        (its event parser is not recursive), so that it is an error with a line."""
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    mark = event.start_mark
                    line = int(mark.line) + 1 if mark is not None else 1
                    raise self.error(
                        f"lists and mappings are nested more than {MAX_NESTING} levels deep "
                        f"(at line {line}); a workspace file needs a few levels only",
                        line=line,
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1

    def flatten_merge_keys(self, node: MappingNode, active: Tuple[int, ...] = ()) -> None:
        """Resolve ``<<: *anchor`` merge keys in place, as ``yaml.safe_load`` (and so
        Dagster) does: own keys win, then the merged mappings in order.

        Unlike PyYAML's own flattening, which copies every merged list and so grows
        exponentially on a merge-key bomb, each key is kept once, so a mapping has at
        most as many keys as the file has; more than MAX_MERGED_KEYS is refused.
        """
        merges = [(k, v) for k, v in node.value if k.tag == _YAML_TAG + "merge"]
        if not merges:
            return
        if id(node) in active:
            raise self.error("a merge key includes the mapping itself", line=_line(node))
        own = [(k, v) for k, v in node.value if k.tag != _YAML_TAG + "merge"]
        sources: List[Node] = []
        for _, value in merges:
            members = value.value if isinstance(value, SequenceNode) else [value]
            for member in members:
                if not isinstance(member, MappingNode):
                    raise self.error(
                        "invalid merge key: expected a mapping or a list of mappings to merge, "
                        f"found {_describe(member)}",
                        line=_line(member),
                    )
                self.flatten_merge_keys(member, (*active, id(node)))
                sources.append(member)
        merged: Dict[object, Tuple[Node, Node]] = {}
        for key_node, value_node in [*own, *(pair for src in sources for pair in src.value)]:
            label = key_node.value if isinstance(key_node, ScalarNode) else id(key_node)
            merged.setdefault(label, (key_node, value_node))
            if len(merged) > MAX_MERGED_KEYS:
                raise self.error(
                    f"merge keys give this mapping more than {MAX_MERGED_KEYS} keys",
                    line=_line(node),
                )
        # Merged keys first, own keys last: the order yaml.safe_load builds them in.
        own_ids = {id(k) for k, _ in own}
        node.value = [pair for pair in merged.values() if id(pair[0]) not in own_ids] + own

    def refuse_tags(self, root: Node) -> None:
        """Refuse explicit tags anywhere (they are never constructed, so never executed)."""
        seen = set()
        stack: List[Tuple[Node, str]] = [(root, "")]
        while stack:
            node, key_path = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.tag not in _PLAIN_TAGS:
                raise self.error(
                    f"YAML tag {_show_tag(node.tag)!r} is not allowed: tags are not allowed in "
                    "workspace files (nothing was executed); write plain strings, lists and "
                    "mappings",
                    line=_line(node),
                    key_path=key_path or None,
                )
            if isinstance(node, SequenceNode):
                stack.extend(
                    (child, f"{key_path}[{index}]") for index, child in enumerate(node.value)
                )
            elif isinstance(node, MappingNode):
                for key, child in node.value:
                    label = str(key.value) if isinstance(key, ScalarNode) else "?"
                    child_path = f"{key_path}.{label}" if key_path else label
                    stack.append((key, child_path))
                    stack.append((child, child_path))

    def mapping(self, node: Node, key_path: str, expected: str) -> Dict[str, Tuple[Node, Node]]:
        """The keys of a mapping node, in order; refuses duplicates and non-string keys."""
        if not isinstance(node, MappingNode):
            raise self.error(
                f"expected {expected}, found {_describe(node)}",
                line=_line(node),
                key_path=key_path or None,
            )
        first_seen: Dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _YAML_TAG + "merge":
                continue
            if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR):
                raise self.error(
                    f"keys must be strings, found {_describe(key_node)}",
                    line=_line(key_node),
                    key_path=key_path or None,
                )
            key = str(key_node.value)
            if key in first_seen:
                raise self.error(
                    f"duplicate key {key!r} (first written on line {first_seen[key]}); YAML "
                    "would silently keep only the last one, so remove or rename one of them",
                    line=_line(key_node),
                    key_path=f"{key_path}.{key}" if key_path else key,
                )
            first_seen[key] = _line(key_node)
        try:
            self.flatten_merge_keys(node)
        except WorkspaceFileError as error:
            if error.key_path is not None or not key_path:
                raise
            raise self.error(error.problem, line=error.line, key_path=key_path) from None
        items: Dict[str, Tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR):
                raise self.error(
                    f"keys must be strings, found {_describe(key_node)}",
                    line=_line(key_node),
                    key_path=key_path or None,
                )
            items[str(key_node.value)] = (key_node, value_node)
        return items

    def refuse_unknown(
        self,
        items: Dict[str, Tuple[Node, Node]],
        allowed: Sequence[str],
        key_path: str,
        where: str,
        hints: Optional[Dict[str, str]] = None,
    ) -> None:
        for key, (key_node, _) in items.items():
            if key in allowed:
                continue
            message = _unknown_key_message(key, where, allowed)
            if hints and key in hints:
                message += f"; {hints[key]}"
            raise self.error(
                message,
                line=_line(key_node),
                key_path=f"{key_path}.{key}" if key_path else key,
            )

    def string(
        self, node: Node, key: str, key_path: str, expected: str, *, allow_env: bool
    ) -> _Value:
        """A string value (``{env: VAR}`` too where Dagster's ``StringSource`` allows it)."""
        if isinstance(node, ScalarNode) and node.tag == _STR:
            return _Value(str(node.value), key, key_path, _line(node))
        if allow_env and isinstance(node, MappingNode):
            items = self.mapping(node, key_path, expected)
            if list(items) == ["env"]:
                var_node = items["env"][1]
                variable = self.string(
                    var_node, "env", f"{key_path}.env", "a variable name", allow_env=False
                )
                if variable.text not in os.environ:
                    raise self.error(
                        f"environment variable {variable.text!r} is not set; set it or "
                        "write the value out",
                        line=variable.line,
                        key_path=f"{key_path}.env",
                    )
                return _Value(os.environ[variable.text], key, key_path, _line(node))
        raise self.error(
            f"expected {expected}, found {_describe(node)}",
            line=_line(node),
            key_path=key_path,
        )

    def parse(self, root: Node) -> WorkspaceSpec:
        top = self.mapping(root, "", "a mapping with a 'load_from' list at the top level")
        if "load_from" not in top:
            message = "missing 'load_from': expected a top-level 'load_from' list of code locations"
            line = _line(root)
            unknown = [key for key in top if key not in _TOP_LEVEL_KEYS]
            if unknown:
                message += "; " + _unknown_key_message(unknown[0], "the top level", _TOP_LEVEL_KEYS)
                line = _line(top[unknown[0]][0])
            raise self.error(
                message + ". For example:\nload_from:\n  - python_file: repos.py", line=line
            )
        self.refuse_unknown(top, _TOP_LEVEL_KEYS, "", "the top level")
        load_from = top["load_from"][1]
        if not isinstance(load_from, SequenceNode) or not load_from.value:
            found = "an empty list" if isinstance(load_from, SequenceNode) else None
            raise self.error(
                "expected a non-empty list of entries such as '- python_file: repos.py', "
                f"found {found or _describe(load_from)}",
                line=_line(load_from),
                key_path="load_from",
            )
        locations: List[LocationSpec] = []
        skipped: List[SkippedEntry] = []
        for index, entry in enumerate(load_from.value):
            parsed = self.entry(entry, f"load_from[{index}]")
            if isinstance(parsed, SkippedEntry):
                skipped.append(parsed)
            else:
                locations.append(parsed)
        self.refuse_duplicate_names(locations)
        return WorkspaceSpec(path=self.source, locations=tuple(locations), skipped=tuple(skipped))

    def entry(self, node: Node, key_path: str) -> Union[LocationSpec, SkippedEntry]:
        kinds = ", ".join(_ENTRY_KEYS)
        if isinstance(node, ScalarNode) and node.tag == _STR and node.value.endswith(".py"):
            expected = f"a mapping with one of the keys {kinds} (did you mean "
            expected += f"'- python_file: {node.value}'?)"
        else:
            expected = f"a mapping with one of the keys {kinds}"
        items = self.mapping(node, key_path, expected)
        hints = {
            key: f"{key!r} belongs inside the python_file/python_module/python_package "
            "mapping: indent it under that key"
            for key in (*_TARGET_KEY.values(), *_OPTIONAL_KEYS)
        }
        self.refuse_unknown(items, _ENTRY_KEYS, key_path, key_path, hints)
        if len(items) != 1:
            found = " and ".join(repr(key) for key in items) or "none"
            raise self.error(
                f"an entry must have exactly one of {kinds}; found {found}. Write each code "
                "location as its own list item",
                line=_line(node),
                key_path=key_path,
            )
        kind, (kind_node, value) = next(iter(items.items()))
        if kind == "grpc_server":
            self.grpc_server(value, f"{key_path}.grpc_server", _line(kind_node))
            return SkippedEntry(
                source=self.source, key_path=key_path, reason=_SKIP_REASON, line=_line(node)
            )
        return self.target(kind, value, key_path, _line(node), _line(kind_node))

    def target(
        self, kind: str, node: Node, key_path: str, line: int, kind_line: int
    ) -> LocationSpec:
        required = _TARGET_KEY[kind]
        optional = _KIND_OPTIONAL_KEYS[kind]
        kind_path = f"{key_path}.{kind}"
        long_form = f"{{{required}: ..., {', '.join(f'{key}: ...' for key in optional)}}}"
        if isinstance(node, ScalarNode) and node.tag == _STR:
            return self.location(
                kind,
                _Value(str(node.value), required, kind_path, _line(node)),
                key_path=key_path,
                line=line,
            )
        if not isinstance(node, MappingNode):
            raise self.error(
                f"expected a string ({_WHAT[required]}) or a mapping {long_form}, "
                f"found {_describe(node)}",
                line=_line(node),
                key_path=kind_path,
            )
        allowed = (required, *optional)
        items = self.mapping(node, kind_path, "a mapping")
        self.refuse_unknown(items, allowed, kind_path, kind)
        if required not in items:
            raise self.error(
                f"missing required key {required!r} ({_WHAT[required]}); "
                f"the long form of {kind} is {long_form}",
                line=kind_line,
                key_path=kind_path,
            )
        values: Dict[str, _Value] = {}
        for key, (_, value_node) in items.items():
            values[key] = self.string(
                value_node, key, f"{kind_path}.{key}", f"a string ({_WHAT[key]})", allow_env=True
            )
        return self.location(
            kind,
            values[required],
            attribute=values.get("attribute"),
            working_directory=values.get("working_directory"),
            location_name=values.get("location_name"),
            executable_path=values.get("executable_path"),
            key_path=key_path,
            line=line,
        )

    def grpc_server(self, node: Node, key_path: str, kind_line: int) -> None:
        """Checks the shape Dagster requires, so that a typo is not silently skipped."""
        items = self.mapping(node, key_path, f"a mapping with keys {', '.join(_GRPC_KEYS)}")
        self.refuse_unknown(items, _GRPC_KEYS, key_path, "grpc_server")
        for key, (_, value_node) in items.items():
            value_path = f"{key_path}.{key}"
            if key == "port":
                self.grpc_port(value_node, value_path)
            elif key == "additional_metadata":
                # Dagster's Permissive(): any mapping; it is never used here.
                if not isinstance(value_node, MappingNode):
                    raise self.error(
                        f"expected a mapping ({_WHAT[key]}), found {_describe(value_node)}",
                        line=_line(value_node),
                        key_path=value_path,
                    )
            elif key == "ssl":
                if not (isinstance(value_node, ScalarNode) and value_node.tag == _BOOL):
                    raise self.error(
                        f"expected true or false, found {_describe(value_node)}",
                        line=_line(value_node),
                        key_path=value_path,
                    )
            else:
                self.grpc_string(value_node, key, value_path)
        if ("port" in items) == ("socket" in items):
            raise self.error(
                "a grpc_server entry needs exactly one of 'port' or 'socket'",
                line=kind_line,
                key_path=key_path,
            )

    def env_reference(self, node: Node, key_path: str) -> Optional[_Value]:
        """The variable of a ``{env: VAR}`` value (Dagster's StringSource/IntSource), else None."""
        if not isinstance(node, MappingNode):
            return None
        items = self.mapping(node, key_path, "a mapping")
        if list(items) != ["env"]:
            return None
        return self.string(
            items["env"][1], "env", f"{key_path}.env", "a variable name", allow_env=False
        )

    def grpc_string(self, node: Node, key: str, key_path: str) -> None:
        # A grpc_server entry is never connected to: its variables need not be set here.
        if self.env_reference(node, key_path) is None:
            self.string(node, key, key_path, f"a string ({_WHAT[key]})", allow_env=False)

    def grpc_port(self, node: Node, key_path: str) -> None:
        """Dagster's IntSource: an integer, or ``{env: VAR}`` whose value is an integer."""
        if isinstance(node, ScalarNode) and node.tag == _INT:
            return
        variable = self.env_reference(node, key_path)
        if variable is None:
            raise self.error(
                "expected an integer port number (or {env: VARIABLE}), found " + _describe(node),
                line=_line(node),
                key_path=key_path,
            )
        value = os.environ.get(variable.text)
        if value is not None and not value.strip().isdigit():
            raise self.error(
                f"environment variable {variable.text!r} is {value!r}, not an integer port number",
                line=variable.line,
                key_path=variable.key_path,
            )

    def refuse_duplicate_names(self, locations: Sequence[LocationSpec]) -> None:
        check_unique_location_names(locations)

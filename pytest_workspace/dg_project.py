"""Dagster projects and ``dg`` workspaces as workspace sources: TOML → location specs.

Pure data, like :mod:`pytest_workspace.config`: nothing here starts a process. Two
formats, both read with the standard library's ``tomllib`` (the ``tomli`` backport
before Python 3.11):

* a **dg workspace**: ``dg.toml`` with ``directory_type = "workspace"`` and one
  ``[[workspace.projects]]`` table (``path = "projects/sales"``) per project;
* a **Dagster project**: ``pyproject.toml`` with ``[tool.dg]`` (``directory_type =
  "project"``, ``[tool.dg.project]``), a project's own ``dg.toml`` (the same tables at
  its top level), or the older ``[tool.dagster]`` (``module_name`` / ``modules``,
  ``code_location_name``).

Each project becomes one code location, as ``dg`` and ``dagster dev`` make it:

* target: ``autoload_defs = true`` loads ``defs_module`` (default
  ``<root_module>.defs``) as an ``autoload_defs_module``; otherwise the module
  ``code_location_target_module`` (default ``<root_module>.definitions``);
* name: ``code_location_name``, default the project folder's name;
* interpreter: the project's ``.venv/bin/python`` when the project has a ``.venv``
  (``DG_PROJECT_PYTHON_EXECUTABLE`` in its ``.env`` first, as ``dg`` reads it), else the
  host's;
* working directory: the project folder; a ``src/`` folder (``create-dagster``'s
  layout) also goes on ``sys.path``, so that a project not installed in its interpreter
  imports as ``dg`` makes it import.

Where ``dg`` would stop at an error, so do we, with the file, the TOML key and what was
expected. A ``dg.toml`` project that cannot be read (missing folder, no ``[tool.dg]``,
a TOML syntax error) is an error of its own in :attr:`WorkspaceSpec.errors`: the other
projects of the workspace still load.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import protocol
from .config import (
    DOTENV,
    LocationSpec,
    SourceError,
    WorkspaceSpec,
    check_unique_location_names,
    read_source_text,
)
from .errors import WorkspaceFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9 and 3.10
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]

__all__ = ["directory_type", "load_project", "load_toml_source", "project_location"]

DG_TOML = "dg.toml"
PYPROJECT_TOML = "pyproject.toml"

#: Keys dg reads in ``[tool.dg.project]`` (or a project dg.toml's ``[project]``).
_PROJECT_KEYS = (
    "root_module",
    "defs_module",
    "code_location_target_module",
    "code_location_name",
    "autoload_defs",
    "registry_modules",
    "python_environment",
)
_WORKSPACE_KEYS = ("projects", "scaffold_project_options")
_PROJECT_SPEC_KEYS = ("path",)
_DG_KEYS = ("directory_type", "project", "workspace", "cli")
_DIRECTORY_TYPES = ("workspace", "project")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_TABLE_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

_PROJECT_EXAMPLE = (
    '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "my_project"'
)
_WORKSPACE_EXAMPLE = (
    'directory_type = "workspace"\n\n[workspace]\n\n[[workspace.projects]]\n'
    'path = "projects/my-project"'
)


# --- public functions ---------------------------------------------------------------------


def load_toml_source(path: str) -> WorkspaceSpec:
    """A ``dg.toml`` or ``pyproject.toml``: a dg workspace or a single Dagster project,
    as its ``directory_type`` says. A ``pyproject.toml`` next to a project's own
    ``dg.toml`` is that project, configured by the ``dg.toml`` (dg reads it first and
    ignores the pyproject's ``[tool.dg]``)."""
    read = path
    if os.path.basename(path) == PYPROJECT_TOML:
        sibling = os.path.join(os.path.dirname(path), DG_TOML)
        if os.path.isfile(sibling) and directory_type(sibling) == "project":
            read = sibling
    document = _TomlDocument.read(read)
    table, prefix = document.dg_table()
    kind = document.directory_type(table, prefix)
    if kind == "workspace":
        return _load_workspace(document, table, prefix)
    location = project_location(document, table, prefix)
    return WorkspaceSpec(path=path, locations=(location,))


def load_project(folder: str) -> WorkspaceSpec:
    """The project in ``folder`` (its ``dg.toml``, else its ``pyproject.toml``)."""
    return load_toml_source(_project_file(folder, folder, "", None, None))


def directory_type(path: str) -> Optional[str]:
    """The ``directory_type`` a dg.toml declares, or None if it cannot be told."""
    try:
        document = _TomlDocument.read(path)
        value = document.data.get("directory_type")
    except Exception:  # whatever it is, loading the file reports it
        return None
    return value if isinstance(value, str) else None


def project_location(
    document: _TomlDocument,
    table: Mapping[str, Any],
    prefix: str,
    *,
    source: Optional[str] = None,
    key_path: Optional[str] = None,
    line: Optional[int] = None,
) -> LocationSpec:
    """The code location of the project ``document`` describes (``table`` is its dg
    table, at ``prefix``). ``source``/``key_path``/``line`` say where it was listed
    (a dg.toml's ``workspace.projects[i]``); by default, the project file itself."""
    folder = os.path.dirname(document.path)
    module, kind, name_value = _project_target(document, table, prefix)
    root = module.split(".")[0]
    src = os.path.join(folder, "src")
    python_path = (
        (src,)
        if os.path.isdir(os.path.join(src, root))
        or (os.path.isfile(os.path.join(src, root + ".py")))
        else ()
    )
    name = name_value if name_value is not None else os.path.basename(folder)
    own_key = prefix if prefix == "tool.dagster" else _join(prefix, "project")
    return LocationSpec(
        name=name,
        kind=kind,
        target=module,
        working_directory=folder,
        executable_path=project_python(folder),
        source=source or document.path,
        key_path=key_path if key_path is not None else own_key,
        line=line if line is not None else document.line_of(own_key),
        python_path=python_path,
        env_files=(os.path.join(folder, DOTENV),),
    )


def project_python(folder: str) -> Optional[str]:
    """The interpreter of the project in ``folder``, as ``dg`` chooses it: the
    ``DG_PROJECT_PYTHON_EXECUTABLE`` of its ``.env``, else its ``.venv``'s python when it
    has a ``.venv``, else None (the host's)."""
    env_file = os.path.join(folder, DOTENV)
    if os.path.isfile(env_file):
        from ._dotenv import read_env_file

        try:
            value = read_env_file(env_file, os.environ)[0].get("DG_PROJECT_PYTHON_EXECUTABLE")
        except WorkspaceFileError:
            value = None  # the location's start says what is wrong with the file
        if value:
            return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))
    venv = os.path.join(folder, ".venv")
    if not os.path.isdir(venv):
        return None
    if os.name == "nt":  # pragma: no cover - POSIX CI
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


# --- the formats --------------------------------------------------------------------------


def _load_workspace(
    document: _TomlDocument, table: Mapping[str, Any], prefix: str
) -> WorkspaceSpec:
    at = _join(prefix, "workspace")
    workspace = document.required_table(
        table,
        at,
        _WORKSPACE_KEYS,
        f"a dg workspace lists its projects in it, as in this dg.toml:\n{_WORKSPACE_EXAMPLE}",
    )
    projects_at = _join(at, "projects")
    projects = workspace.get("projects")
    if projects is None or (isinstance(projects, list) and not projects):
        raise document.error(
            f"the workspace lists no projects: expected one [[{projects_at}]] table per "
            f'project, such as\n[[{projects_at}]]\npath = "projects/my-project"',
            key_path=projects_at,
        )
    if not isinstance(projects, list):
        raise document.error(
            f"expected a list of [[{projects_at}]] tables, found {_describe(projects)}",
            key_path=projects_at,
        )
    base = os.path.dirname(document.path)
    locations: List[LocationSpec] = []
    errors: List[SourceError] = []
    for index, entry in enumerate(projects):
        entry_at = f"{projects_at}[{index}]"
        line = document.line_of(projects_at, index=index)
        spec = document.table(entry, entry_at, line=line)
        document.refuse_unknown(spec, _PROJECT_SPEC_KEYS, entry_at, line=line)
        path_at = f"{entry_at}.path"
        if "path" not in spec:
            raise document.error(
                "missing required key 'path': the project's folder, relative to this file",
                key_path=entry_at,
                line=line,
            )
        relative = document.string(spec["path"], path_at, "the project's folder", line=line)
        folder = os.path.normpath(os.path.join(base, os.path.expanduser(relative)))
        try:
            project_file = _project_file(folder, relative, path_at, document, line)
            project = _TomlDocument.read(project_file)
            project_table, project_prefix = project.dg_table()
            if project.directory_type(project_table, project_prefix) != "project":
                raise project.error(
                    f"{relative} is listed as a project of {document.path}, but its "
                    f'directory_type is not "project"',
                    key_path=_join(project_prefix, "directory_type"),
                )
            location = project_location(
                project,
                project_table,
                project_prefix,
                source=document.path,
                key_path=entry_at,
                line=line,
            )
            # `dg dev` runs `dagster dev` in the workspace's folder (its .env for every
            # project), then each project's code server adds the project's own .env.
            location = dataclasses.replace(
                location, env_files=(os.path.join(base, DOTENV), *location.env_files)
            )
        except WorkspaceFileError as error:
            errors.append(SourceError(key_path=entry_at, name=relative, error=error, line=line))
            continue
        locations.append(location)
    check_unique_location_names(locations)
    return WorkspaceSpec(path=document.path, locations=tuple(locations), errors=tuple(errors))


def _project_file(
    folder: str, shown: str, key_path: str, document: Optional[_TomlDocument], line: Optional[int]
) -> str:
    def error(message: str) -> WorkspaceFileError:
        if document is None:
            return WorkspaceFileError(message, path=folder)
        return document.error(message, key_path=key_path, line=line)

    if not os.path.isdir(folder):
        raise error(
            f"project folder {shown!r} does not exist ({folder}); fix the path (it is "
            "relative to the dg.toml's folder)"
        )
    for name in (DG_TOML, PYPROJECT_TOML):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise error(
        f"project folder {shown!r} has no pyproject.toml (nor dg.toml): a Dagster project "
        f"declares itself in its pyproject.toml with\n{_PROJECT_EXAMPLE}"
    )


def _project_target(
    document: _TomlDocument, table: Mapping[str, Any], prefix: str
) -> Tuple[str, str, Optional[str]]:
    """(module, kind, code_location_name) of a project's dg or dagster table."""
    if prefix == "tool.dagster":
        return _legacy_target(document, table)
    at = _join(prefix, "project")
    project = document.required_table(
        table,
        at,
        _PROJECT_KEYS,
        f'it holds the project\'s root_module, such as\n[{at}]\nroot_module = "my_project"',
        strict=False,
    )
    if "root_module" not in project:
        raise document.error(
            "missing required key 'root_module': the project's top-level Python package, "
            'such as root_module = "my_project"',
            key_path=at,
        )
    root = document.module_name(project["root_module"], f"{at}.root_module")
    name = None
    if "code_location_name" in project:
        name = document.string(
            project["code_location_name"], f"{at}.code_location_name", "a code location name"
        )
    autoload = project.get("autoload_defs", False)
    if not isinstance(autoload, bool):
        raise document.error(
            f"expected true or false, found {_describe(autoload)}", key_path=f"{at}.autoload_defs"
        )
    if autoload:
        if "code_location_target_module" in project:
            raise document.error(
                f"cannot set {at}.code_location_target_module when {at}.autoload_defs is "
                "true (dg refuses it too): remove one of them",
                key_path=f"{at}.code_location_target_module",
            )
        module = f"{root}.defs"
        if "defs_module" in project:
            module = document.module_name(project["defs_module"], f"{at}.defs_module")
        return module, "autoload_defs_module", name
    module = f"{root}.definitions"
    if "code_location_target_module" in project:
        module = document.module_name(
            project["code_location_target_module"], f"{at}.code_location_target_module"
        )
    return module, "python_module", name


def _legacy_target(
    document: _TomlDocument, table: Mapping[str, Any]
) -> Tuple[str, str, Optional[str]]:
    at = "tool.dagster"
    name = None
    if "code_location_name" in table:
        name = document.string(
            table["code_location_name"], f"{at}.code_location_name", "a code location name"
        )
    if "module_name" in table:
        module = document.module_name(table["module_name"], f"{at}.module_name")
        return module, "python_module", name
    modules = table.get("modules")
    if isinstance(modules, list):
        names = [
            entry.get("name")
            for entry in modules
            if isinstance(entry, dict) and entry.get("type") == "module"
        ]
        if len(names) == 1:
            return document.module_name(names[0], f"{at}.modules[0].name"), "python_module", name
        if len(names) > 1:
            raise document.error(
                f"lists {len(names)} modules; pytest-workspace loads one module per project: "
                "set module_name, or a [tool.dg.project]",
                key_path=f"{at}.modules",
            )
    raise document.error(
        "missing 'module_name': expected module_name = \"my_project.definitions\" (or a "
        "[tool.dg.project] table with root_module)",
        key_path=at,
    )


# --- reading TOML -------------------------------------------------------------------------


class _TomlDocument:
    """A parsed TOML file, with what errors need: its path and where keys are written."""

    def __init__(self, path: str, text: str, data: Dict[str, Any]) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.data = data

    @classmethod
    def read(cls, path: str) -> _TomlDocument:
        text = read_source_text(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            message = str(error)
            position = _TOML_POSITION.search(message)
            line = int(position.group(1)) if position else None
            raise WorkspaceFileError(f"invalid TOML: {message}", path=path, line=line) from None
        except RecursionError:  # tomllib reads nested arrays recursively
            raise WorkspaceFileError(
                "invalid TOML: arrays or tables are nested too deeply to be read", path=path
            ) from None
        return cls(path, text, data)

    def error(
        self, message: str, *, key_path: Optional[str] = None, line: Optional[int] = None
    ) -> WorkspaceFileError:
        if line is None and key_path:
            line = self.line_of(key_path)
        return WorkspaceFileError(message, path=self.path, line=line, key_path=key_path)

    def dg_table(self) -> Tuple[Mapping[str, Any], str]:
        """The dg configuration and its key prefix: the top level of a dg.toml,
        ``[tool.dg]`` (or the older ``[tool.dagster]``) of a pyproject.toml."""
        if os.path.basename(self.path) != PYPROJECT_TOML:
            return self.data, ""
        tool = self.data.get("tool")
        if isinstance(tool, dict):
            if "dg" in tool:
                return self.table(tool["dg"], "tool.dg"), "tool.dg"
            if "dagster" in tool:
                return self.table(tool["dagster"], "tool.dagster"), "tool.dagster"
        raise self.error(
            "has no [tool.dg] table, so it is not a Dagster project: a project made by "
            f"create-dagster declares\n{_PROJECT_EXAMPLE}\n(or the older [tool.dagster] with "
            "module_name)"
        )

    def directory_type(self, table: Mapping[str, Any], prefix: str) -> str:
        if prefix == "tool.dagster":
            return "project"
        at = _join(prefix, "directory_type")
        self.refuse_unknown(table, _DG_KEYS, prefix, strict=False)
        if "directory_type" not in table:
            if "project" in table:
                return "project"  # dagster dev reads [tool.dg.project] without it, too
            raise self.error(
                "missing 'directory_type': expected directory_type = \"workspace\" (a dg "
                'workspace, listing [[workspace.projects]]) or "project"',
                key_path=at,
            )
        value = table["directory_type"]
        if value not in _DIRECTORY_TYPES:
            raise self.error(
                f'expected "workspace" or "project", found {_describe(value)}', key_path=at
            )
        return str(value)

    def required_table(
        self,
        parent: Mapping[str, Any],
        key_path: str,
        allowed: Sequence[str],
        what: str,
        *,
        strict: bool = True,
    ) -> Mapping[str, Any]:
        """The table at ``key_path`` (a key of ``parent``), its keys checked."""
        key = key_path.rsplit(".", 1)[-1]
        if key not in parent:
            raise self.error(f"missing the [{key_path}] table: {what}", key_path=key_path)
        found = self.table(parent[key], key_path)
        self.refuse_unknown(found, allowed, key_path, strict=strict)
        return found

    def table(
        self, value: object, key_path: str, *, line: Optional[int] = None
    ) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(
                f"expected a table, found {_describe(value)}", key_path=key_path, line=line
            )
        return value

    def string(
        self, value: object, key_path: str, expected: str, *, line: Optional[int] = None
    ) -> str:
        if not isinstance(value, str):
            raise self.error(
                f"expected a string ({expected}), found {_describe(value)}",
                key_path=key_path,
                line=line,
            )
        if not value.strip():
            raise self.error(
                f"must not be empty; expected {expected}", key_path=key_path, line=line
            )
        return value.strip()

    def module_name(self, value: object, key_path: str) -> str:
        name = self.string(value, key_path, "a dotted module name such as my_project.definitions")
        if not all(_NAME.match(part) for part in name.split(".")):
            hint = " (a folder or package name with '-' is spelt with '_' in Python)"
            raise self.error(
                f"{name!r} is not a dotted Python name{hint if '-' in name else ''}",
                key_path=key_path,
            )
        return name

    def refuse_unknown(
        self,
        table: Mapping[str, Any],
        allowed: Sequence[str],
        key_path: str,
        *,
        strict: bool = True,
        line: Optional[int] = None,
    ) -> None:
        """Unknown keys are errors; with ``strict=False`` only likely typos of known keys
        are (dg grows new settings that do not concern a test run)."""
        for key in table:
            if key in allowed:
                continue
            hint = protocol.did_you_mean(key, allowed, cutoff=0.75)
            if not strict and not hint:
                continue
            message = f"unknown key {key!r} in {f'[{key_path}]' if key_path else 'the top level'}"
            message += hint
            raise self.error(
                f"{message} (allowed: {', '.join(allowed)})",
                key_path=_join(key_path, key),
                line=line,
            )

    def line_of(self, key_path: str, *, index: Optional[int] = None) -> Optional[int]:
        """Best effort: the 1-based line where ``key_path`` is written (a table header,
        the ``index``-th ``[[array]]`` header, or ``key = ...`` in its table)."""
        plain = re.sub(r"\[\d+\]", "", key_path)
        parts = plain.split(".")
        seen = -1
        current: Tuple[str, ...] = ()
        table_line: Optional[int] = None
        for number, text in enumerate(self.lines, start=1):
            header = _TABLE_HEADER.match(text)
            if header:
                current = tuple(part.strip().strip("\"'") for part in header.group(2).split("."))
                if current == tuple(parts):
                    seen += 1
                    if index is None or seen == index:
                        return number
                if current == tuple(parts[:-1]):
                    table_line = number
                continue
            if current == tuple(parts[:-1]) and index is None:
                key = text.split("=", 1)[0].strip().strip("\"'")
                if "=" in text and key == parts[-1]:
                    return number
        if table_line is not None:
            return table_line
        return None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})" if value else "an empty string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} value"

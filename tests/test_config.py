"""Workspace files → location specs: every accepted form and every error users can meet."""

from __future__ import annotations

import dataclasses
import os
import re
import textwrap
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from pytest_workspace.config import (
    LocationSpec,
    WorkspaceSpec,
    apply_location_overrides,
    load_workspace_file,
    load_workspace_files,
    location_from_module,
    location_from_python_file,
)
from pytest_workspace.errors import WorkspaceFileError

GALLERY = Path(__file__).resolve().parent.parent / "fixtures" / "broken_workspaces"


def write(folder: Path, text: str, name: str = "workspace.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> WorkspaceSpec:
    return load_workspace_file(write(tmp_path, text))


def parse_error(tmp_path: Path, text: str) -> WorkspaceFileError:
    path = write(tmp_path, text)
    with pytest.raises(WorkspaceFileError) as info:
        load_workspace_file(path)
    return info.value


def only_location(spec: WorkspaceSpec) -> LocationSpec:
    assert len(spec.locations) == 1, spec
    return spec.locations[0]


# --- accepted forms -------------------------------------------------------------------------


class TestShortForms:
    def test_python_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "load_from:\n  - python_file: repos.py\n")
        spec = load_workspace_file(path)
        assert spec == WorkspaceSpec(
            path=str(path),
            locations=(
                LocationSpec(
                    name="repos.py",
                    kind="python_file",
                    target=str(tmp_path / "repos.py"),
                    working_directory=str(tmp_path),
                    source=str(path),
                    key_path="load_from[0]",
                    line=2,
                    # The .env `dagster dev` reads when run where it finds the file.
                    env_files=(str(tmp_path / ".env"),),
                ),
            ),
        )

    def test_python_module(self, tmp_path: Path) -> None:
        location = only_location(load_text(tmp_path, "load_from:\n- python_module: my_pkg.repos"))
        assert (location.kind, location.target, location.name) == (
            "python_module",
            "my_pkg.repos",
            "my_pkg.repos",
        )
        assert location.working_directory == str(tmp_path)
        assert location.attribute is None
        assert location.executable_path is None

    def test_python_package(self, tmp_path: Path) -> None:
        location = only_location(load_text(tmp_path, "load_from:\n- python_package: other_pkg"))
        assert (location.kind, location.target, location.name) == (
            "python_package",
            "other_pkg",
            "other_pkg",
        )
        assert location.working_directory == str(tmp_path)

    def test_flow_style_and_quoted_values(self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, "{load_from: [{python_file: 'repos.py'}, {python_module: m}]}")
        assert [loc.name for loc in spec.locations] == ["repos.py", "m"]


class TestLongForms:
    def test_python_file_with_every_key(self, tmp_path: Path) -> None:
        spec = load_text(
            tmp_path,
            """
            load_from:
              - python_file:
                  relative_path: team/pipelines.py
                  attribute: team_repository
                  working_directory: team
                  location_name: team
                  executable_path: ../venvs/team/bin/python
            """,
        )
        location = only_location(spec)
        assert location == LocationSpec(
            name="team",
            kind="python_file",
            target=str(tmp_path / "team" / "pipelines.py"),
            attribute="team_repository",
            working_directory=str(tmp_path / "team"),
            executable_path=str(tmp_path.parent / "venvs" / "team" / "bin" / "python"),
            source=str(tmp_path / "workspace.yaml"),
            key_path="load_from[0]",
            line=2,
            # The workspace file's folder, not the working directory's.
            env_files=(str(tmp_path / ".env"),),
        )

    def test_python_module_and_package(self, tmp_path: Path) -> None:
        spec = load_text(
            tmp_path,
            """
            load_from:
              - python_module:
                  module_name: my_pkg.repos
                  attribute: my_repository
                  working_directory: src
              - python_package:
                  package_name: other_pkg
                  location_name: other
            """,
        )
        module, package = spec.locations
        assert (module.kind, module.target, module.attribute) == (
            "python_module",
            "my_pkg.repos",
            "my_repository",
        )
        assert module.working_directory == str(tmp_path / "src")
        assert (module.key_path, module.line) == ("load_from[0]", 2)
        assert (package.kind, package.target, package.name) == (
            "python_package",
            "other_pkg",
            "other",
        )
        assert package.working_directory == str(tmp_path)
        assert (package.key_path, package.line) == ("load_from[1]", 6)

    @pytest.mark.parametrize(
        ("entry", "name"),
        [
            ("python_file: {relative_path: sub/repos.py}", "repos.py"),
            ("python_file: {relative_path: repos.py, attribute: repo}", "repos.py:repo"),
            ("python_module: {module_name: a.b}", "a.b"),
            ("python_module: {module_name: a.b, attribute: repo}", "a.b:repo"),
            ("python_package: {package_name: pkg}", "pkg"),
            ("python_package: {package_name: pkg, attribute: repo}", "pkg:repo"),
            ("python_package: {package_name: pkg, attribute: repo, location_name: x}", "x"),
        ],
    )
    def test_default_location_names_as_dagster(self, tmp_path: Path, entry: str, name: str) -> None:
        assert only_location(load_text(tmp_path, f"load_from:\n  - {entry}\n")).name == name

    def test_yaml_anchors_and_merge_keys(self, tmp_path: Path) -> None:
        spec = load_text(
            tmp_path,
            """
            load_from:
              - python_file: &team
                  relative_path: a.py
                  executable_path: venv/bin/python
              - python_file:
                  <<: *team
                  relative_path: b.py
            """,
        )
        first, second = spec.locations
        assert (first.name, second.name) == ("a.py", "b.py")
        assert second.executable_path == first.executable_path == str(tmp_path / "venv/bin/python")


class TestPaths:
    def test_relative_paths_resolve_against_the_workspace_folder_not_the_cwd(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        folder = tmp_path / "project" / "deploy"
        path = write(
            folder,
            """
            load_from:
              - python_file:
                  relative_path: ../code/repos.py
                  working_directory: ../code
                  executable_path: ./env/bin/python
            """,
        )
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        location = only_location(load_workspace_file(os.path.relpath(path, elsewhere)))
        assert location.target == str(tmp_path / "project" / "code" / "repos.py")
        assert location.working_directory == str(tmp_path / "project" / "code")
        assert location.executable_path == str(folder / "env" / "bin" / "python")
        assert location.source == str(path)

    def test_absolute_paths_are_kept(self, tmp_path: Path) -> None:
        target = tmp_path / "abs" / "repos.py"
        location = only_location(
            load_text(
                tmp_path / "ws",
                f"load_from:\n  - python_file: {{relative_path: {target}, "
                f"working_directory: {tmp_path}}}\n",
            )
        )
        assert location.target == str(target)
        assert location.working_directory == str(tmp_path)

    def test_tilde_expands_in_all_three_path_keys(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home = tmp_path / "home"
        monkeypatch.setenv("HOME", str(home))
        location = only_location(
            load_text(
                tmp_path / "ws",
                """
                load_from:
                  - python_file:
                      relative_path: ~/code/repos.py
                      working_directory: ~/code
                      executable_path: ~/venv/bin/python
                """,
            )
        )
        assert location.target == str(home / "code" / "repos.py")
        assert location.working_directory == str(home / "code")
        assert location.executable_path == str(home / "venv" / "bin" / "python")

    def test_environment_variables_expand_in_all_three_path_keys(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CODE_ROOT", str(tmp_path / "code"))
        monkeypatch.setenv("TEAM", "team")
        monkeypatch.setenv("VENV", "venvs/team")
        location = only_location(
            load_text(
                tmp_path / "ws",
                """
                load_from:
                  - python_file:
                      relative_path: $CODE_ROOT/${TEAM}/repos.py
                      working_directory: ${CODE_ROOT}
                      executable_path: $VENV/bin/python
                """,
            )
        )
        assert location.target == str(tmp_path / "code" / "team" / "repos.py")
        assert location.working_directory == str(tmp_path / "code")
        assert location.executable_path == str(tmp_path / "ws" / "venvs/team/bin/python")

    def test_short_form_expands_too(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("REPOS", "team_repos.py")
        location = only_location(load_text(tmp_path, "load_from:\n  - python_file: sub/$REPOS\n"))
        assert location.target == str(tmp_path / "sub" / "team_repos.py")
        assert location.name == "team_repos.py"

    def test_dagster_env_source_form(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MY_MODULE", "my_pkg.repos")
        location = only_location(
            load_text(
                tmp_path,
                """
                load_from:
                  - python_module:
                      module_name: {env: MY_MODULE}
                """,
            )
        )
        assert location.target == "my_pkg.repos"

    def test_bare_executable_name_is_kept_for_the_loader_to_find_on_path(
        self, tmp_path: Path
    ) -> None:
        location = only_location(
            load_text(
                tmp_path,
                "load_from:\n  - python_module: {module_name: m, executable_path: python3.12}\n",
            )
        )
        assert location.executable_path == "python3.12"

    def test_missing_python_file_is_not_a_parse_error(self, tmp_path: Path) -> None:
        location = only_location(load_text(tmp_path, "load_from:\n  - python_file: nowhere.py\n"))
        assert not os.path.exists(location.target)


class TestGrpcServerAndSeveralFiles:
    def test_grpc_server_entries_are_skipped_with_the_reason(self, tmp_path: Path) -> None:
        spec = load_text(
            tmp_path,
            """
            load_from:
              - python_file: repos.py
              - grpc_server:
                  host: localhost
                  port: 4266
                  location_name: remote
              - grpc_server: {socket: /tmp/dagster.sock}
              - python_module: my_pkg.repos
            """,
        )
        assert [loc.name for loc in spec.locations] == ["repos.py", "my_pkg.repos"]
        assert [loc.key_path for loc in spec.locations] == ["load_from[0]", "load_from[3]"]
        assert [(s.key_path, s.line) for s in spec.skipped] == [
            ("load_from[1]", 3),
            ("load_from[2]", 7),
        ]
        reason = spec.skipped[0].reason
        assert "pytest-workspace starts its own" in reason
        assert "not loaded" in reason
        assert spec.skipped[0].source == spec.path

    def test_a_workspace_of_only_grpc_servers_has_no_locations(self, tmp_path: Path) -> None:
        spec = load_text(tmp_path, "load_from:\n  - grpc_server: {host: h, port: 1}\n")
        assert spec.locations == ()
        assert len(spec.skipped) == 1

    def test_several_files_keep_their_order(self, tmp_path: Path) -> None:
        first = write(tmp_path / "b", "load_from: [python_file: one.py, python_file: two.py]")
        second = write(tmp_path / "a", "load_from:\n  - python_module: three\n")
        specs = load_workspace_files([first, str(second)])
        assert [spec.path for spec in specs] == [str(first), str(second)]
        names = [loc.name for spec in specs for loc in spec.locations]
        assert names == ["one.py", "two.py", "three"]
        assert specs[1].locations[0].working_directory == str(tmp_path / "a")

    def test_the_same_name_in_two_files_is_not_this_parsers_error(self, tmp_path: Path) -> None:
        first = write(tmp_path / "a", "load_from:\n  - python_file: repos.py\n")
        second = write(tmp_path / "b", "load_from:\n  - python_file: repos.py\n")
        assert len(load_workspace_files([first, second])) == 2

    def test_a_broken_file_among_several_raises_naming_it(self, tmp_path: Path) -> None:
        good = write(tmp_path, "load_from:\n  - python_file: repos.py\n", "good.yaml")
        bad = write(tmp_path, "load_from:\n  - python_flie: repos.py\n", "bad.yaml")
        with pytest.raises(WorkspaceFileError, match=r"bad\.yaml:2: load_from\[0\]\.python_flie"):
            load_workspace_files([good, bad])

    def test_specs_are_immutable(self, tmp_path: Path) -> None:
        location = only_location(load_text(tmp_path, "load_from:\n  - python_file: repos.py\n"))
        with pytest.raises(dataclasses.FrozenInstanceError):
            location.name = "other"  # type: ignore[misc]


# --- the gallery of broken files ------------------------------------------------------------

# file: (line, key path or None, words the message must contain)
GALLERY_ERRORS: dict[str, Tuple[Optional[int], Optional[str], List[str]]] = {
    "syntax_error.yaml": (5, None, ["invalid YAML", "line 5, column 2"]),
    "empty.yaml": (None, None, ["empty", "load_from"]),
    "not_a_mapping.yaml": (2, None, ["expected a mapping", "load_from", "found a list"]),
    "missing_load_from.yaml": (2, None, ["missing 'load_from'", "'locations'"]),
    "missing_load_from_typo.yaml": (2, None, ["missing 'load_from'", "did you mean 'load_from'?"]),
    "load_from_not_a_list.yaml": (3, "load_from", ["non-empty list", "found a mapping"]),
    "load_from_empty.yaml": (2, "load_from", ["non-empty list", "found an empty list"]),
    "entry_not_a_mapping.yaml": (
        4,
        "load_from[1]",
        ["expected a mapping", "python_file", "'- python_file: other_repos.py'", "a string"],
    ),
    "empty_entry.yaml": (4, "load_from[1]", ["exactly one of", "found none"]),
    "unknown_key_typo.yaml": (
        4,
        "load_from[1].python_flie",
        ["unknown key 'python_flie'", "did you mean 'python_file'?"],
    ),
    "unknown_nested_key_typo.yaml": (
        5,
        "load_from[0].python_file.relativ_path",
        ["unknown key 'relativ_path'", "did you mean 'relative_path'?"],
    ),
    "unknown_key.yaml": (
        6,
        "load_from[0].python_module.timeout",
        ["unknown key 'timeout'", "allowed keys: module_name, attribute, working_directory"],
    ),
    "misindented_key.yaml": (
        5,
        "load_from[0].relative_path",
        ["unknown key 'relative_path'", "indent it under"],
    ),
    "two_kinds.yaml": (
        4,
        "load_from[1]",
        ["exactly one of python_file, python_module", "'python_file' and 'python_module'"],
    ),
    "missing_relative_path.yaml": (
        3,
        "load_from[0].python_file",
        ["missing required key 'relative_path'"],
    ),
    "missing_module_name.yaml": (
        3,
        "load_from[0].python_module",
        ["missing required key 'module_name'"],
    ),
    "missing_package_name.yaml": (
        3,
        "load_from[0].python_package",
        ["missing required key 'package_name'"],
    ),
    "wrong_type.yaml": (
        5,
        "load_from[0].python_file.attribute",
        ["expected a string", "found an integer (3)"],
    ),
    "wrong_type_list.yaml": (
        4,
        "load_from[0].python_file.relative_path",
        ["expected a string", "found a list"],
    ),
    "null_value.yaml": (
        4,
        "load_from[1].python_file",
        ["expected a string", "or a mapping", "found null"],
    ),
    "empty_string.yaml": (5, "load_from[0].python_file.location_name", ["must not be empty"]),
    "invalid_module_name.yaml": (
        3,
        "load_from[0].python_module",
        ["'my_pkg/repos.py' is not a dotted Python name", "use python_file"],
    ),
    "duplicate_location_names.yaml": (
        6,
        "load_from[2]",
        ["'repos.py'", "load_from[0] (line 4)", "load_from[2] (line 6)", "location_name"],
    ),
    "duplicate_key.yaml": (
        6,
        "load_from[0].python_file.attribute",
        ["duplicate key 'attribute'", "first written on line 5"],
    ),
    "unsafe_tag.yaml": (
        4,
        "load_from[0].python_file.relative_path",
        ["!!python/object/apply:os.system", "tags are not allowed"],
    ),
    "python_name_tag.yaml": (
        4,
        "load_from[0].python_module.module_name",
        ["!!python/name:os.system", "tags are not allowed"],
    ),
    "unset_env_var.yaml": (
        5,
        "load_from[0].python_file.working_directory",
        ["environment variable 'PYTEST_WORKSPACE_UNSET_VARIABLE' is not set"],
    ),
    "grpc_server_without_port.yaml": (
        4,
        "load_from[1].grpc_server",
        ["exactly one of 'port' or 'socket'"],
    ),
    "python_file_not_python.yaml": (
        3,
        "load_from[0].python_file",
        ["'jobs.txt' is not a Python module", "ending in .py"],
    ),
    "deeply_nested.yaml": (2, None, ["nested more than 50 levels deep (at line 2)"]),
    "control_character.yaml": (
        3,
        None,
        ["control character #x0000 is not allowed", "at line 3, column 23"],
    ),
    "merge_key_bomb.yaml": (3, "k0", ["unknown key 'k0' in the top level"]),
    "autoload_defs_module_attribute.yaml": (
        5,
        "load_from[0].autoload_defs_module.attribute",
        ["unknown key 'attribute'", "allowed keys: module_name, working_directory"],
    ),
}


def test_every_gallery_file_is_checked_and_listed_in_the_readme() -> None:
    files = sorted(path.name for path in GALLERY.glob("*.yaml"))
    assert files == sorted(GALLERY_ERRORS)
    readme = (GALLERY / "README.md").read_text(encoding="utf-8")
    assert [name for name in files if f"`{name}`" not in readme] == []
    for name in files:
        first_line = (GALLERY / name).read_text(encoding="utf-8").splitlines()[0]
        assert first_line.startswith("# Broken: "), name


@pytest.mark.parametrize("name", sorted(GALLERY_ERRORS))
def test_gallery_file_raises_a_precise_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_WORKSPACE_UNSET_VARIABLE", raising=False)
    line, key_path, words = GALLERY_ERRORS[name]
    path = GALLERY / name
    with pytest.raises(WorkspaceFileError) as info:
        load_workspace_file(path)
    error = info.value
    assert error.path == str(path)
    assert error.line == line
    assert error.key_path == key_path
    text = str(error)
    where = f"{path}:{line}" if line is not None else str(path)
    assert text.startswith(where + ": " + (f"{key_path}: " if key_path else "")), text
    for word in words:
        assert word in text, (word, text)


# --- errors, in detail ----------------------------------------------------------------------


class TestFileErrors:
    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(WorkspaceFileError, match="does not exist") as info:
            load_workspace_file(tmp_path / "nope.yaml")
        assert info.value.path == str(tmp_path / "nope.yaml")
        assert "nope.yaml" in str(info.value)

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(WorkspaceFileError, match="is a directory"):
            load_workspace_file(tmp_path)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "workspace.yaml"
        path.write_bytes(b"load_from:\n  - python_file: caf\xe9.py\n")
        with pytest.raises(WorkspaceFileError, match="UTF-8") as info:
            load_workspace_file(path)
        assert info.value.line == 2

    def test_whitespace_only_file_is_empty(self, tmp_path: Path) -> None:
        assert "empty" in str(parse_error(tmp_path, "\n   \n"))

    def test_syntax_error_gives_line_and_column(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, 'load_from:\n  - python_file: "repos.py\n')
        assert error.line is not None
        assert "invalid YAML" in str(error)
        assert re.search(r"line \d+, column \d+", str(error))

    def test_tab_indentation(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n\t- python_file: repos.py\n")
        assert error.line == 2
        assert "tab" in str(error)

    def test_several_documents(self, tmp_path: Path) -> None:
        error = parse_error(
            tmp_path, "load_from:\n  - python_file: a.py\n---\nload_from:\n  - python_file: b.py\n"
        )
        assert error.line == 3
        assert "single document" in str(error)


class TestUnsafeYaml:
    @pytest.mark.parametrize(
        "tag",
        [
            "!!python/object/apply:os.system",
            "!!python/object/new:os.system",
        ],
    )
    def test_a_tag_is_refused_and_never_executed(self, tmp_path: Path, tag: str) -> None:
        marker = tmp_path / "pwned"
        error = parse_error(
            tmp_path,
            f"""
            load_from:
              - python_file:
                  relative_path: {tag} ["touch {marker}"]
            """,
        )
        assert "tags are not allowed" in str(error)
        assert (error.line, error.key_path) == (3, "load_from[0].python_file.relative_path")
        assert not marker.exists()

    def test_a_tag_anywhere_is_refused_even_under_an_unknown_key(self, tmp_path: Path) -> None:
        marker = tmp_path / "pwned"
        error = parse_error(
            tmp_path,
            f"""
            extra: !!python/object/apply:os.system ["touch {marker}"]
            load_from:
              - python_file: repos.py
            """,
        )
        assert "tags are not allowed" in str(error)
        assert error.line == 1
        assert not marker.exists()

    @pytest.mark.parametrize(
        "value",
        ["!!python/name:os.system", "!include other.yaml", "!!set {a: null}", "!!binary aGk="],
    )
    def test_other_tags_are_refused(self, tmp_path: Path, value: str) -> None:
        error = parse_error(tmp_path, f"load_from:\n  - python_module: {value}\n")
        assert "tags are not allowed" in str(error)
        assert error.line == 2

    def test_a_tag_on_a_key_is_refused(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - !!python/name:os.system x: repos.py\n")
        assert "tags are not allowed" in str(error)

    def test_explicit_standard_tag_on_a_string_is_fine(self, tmp_path: Path) -> None:
        location = only_location(load_text(tmp_path, "load_from:\n  - python_module: !!str m\n"))
        assert location.target == "m"

    def test_recursive_aliases_do_not_hang(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from: &a\n  - *a\n")
        assert error.key_path == "load_from[0]"
        assert "found a list" in str(error)


class TestShapeErrors:
    def test_duplicate_top_level_key(self, tmp_path: Path) -> None:
        error = parse_error(
            tmp_path,
            """
            load_from:
              - python_file: a.py
            load_from:
              - python_file: b.py
            """,
        )
        assert (error.line, error.key_path) == (3, "load_from")
        assert "duplicate key 'load_from'" in str(error)
        assert "line 1" in str(error)

    def test_duplicate_kind_key_in_one_entry(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - python_file: a.py\n    python_file: b.py\n")
        assert (error.line, error.key_path) == (3, "load_from[0].python_file")
        assert "duplicate key" in str(error)

    def test_non_string_key(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - 3: repos.py\n")
        assert "keys must be strings" in str(error)
        assert "an integer (3)" in str(error)

    def test_load_from_null(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n")
        assert error.key_path == "load_from"
        assert "found null" in str(error)

    def test_unknown_top_level_key_beside_load_from(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - python_file: a.py\nlocations: []\n")
        assert (error.line, error.key_path) == (3, "locations")
        assert "allowed keys: load_from" in str(error)

    @pytest.mark.parametrize(
        "key", ["attribute", "working_directory", "location_name", "executable_path"]
    )
    @pytest.mark.parametrize(
        ("value", "found"),
        [
            ("", "found null"),
            ("3", "found an integer (3)"),
            ("true", "found a boolean"),
            ("[a]", "found a list"),
            ("{a: b}", "found a mapping"),
            ("1.5", "found a number"),
        ],
    )
    def test_optional_keys_must_be_strings(
        self, tmp_path: Path, key: str, value: str, found: str
    ) -> None:
        error = parse_error(
            tmp_path,
            f"load_from:\n  - python_module:\n      module_name: m\n      {key}: {value}\n",
        )
        assert (error.line, error.key_path) == (4, f"load_from[0].python_module.{key}")
        assert "expected a string" in str(error)
        assert found in str(error)

    @pytest.mark.parametrize("kind", ["python_file", "python_module", "python_package"])
    def test_short_form_of_the_wrong_type(self, tmp_path: Path, kind: str) -> None:
        error = parse_error(tmp_path, f"load_from:\n  - {kind}: 12\n")
        assert error.key_path == f"load_from[0].{kind}"
        assert "found an integer (12)" in str(error)

    @pytest.mark.parametrize(
        "entry",
        [
            "python_file: ''",
            "python_module: '  '",
            "python_package: {package_name: ''}",
            "python_file: {relative_path: repos.py, working_directory: ''}",
            "python_file: {relative_path: repos.py, executable_path: ''}",
            "python_file: {relative_path: repos.py, attribute: ''}",
        ],
    )
    def test_empty_strings(self, tmp_path: Path, entry: str) -> None:
        error = parse_error(tmp_path, f"load_from:\n  - {entry}\n")
        assert error.line == 2
        assert "must not be empty" in str(error)

    def test_attribute_must_be_an_identifier(self, tmp_path: Path) -> None:
        error = parse_error(
            tmp_path, "load_from:\n  - python_file: {relative_path: a.py, attribute: my-repo}\n"
        )
        assert error.key_path == "load_from[0].python_file.attribute"
        assert "not a Python identifier" in str(error)

    def test_package_name_must_be_dotted(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - python_package: {package_name: my pkg}\n")
        assert error.key_path == "load_from[0].python_package.package_name"
        assert "not a dotted Python name" in str(error)

    def test_unknown_key_in_long_form_that_belongs_to_another_kind(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - python_file: {module_name: m}\n")
        assert error.key_path == "load_from[0].python_file.module_name"
        assert "allowed keys: relative_path" in str(error)

    def test_duplicate_explicit_location_names(self, tmp_path: Path) -> None:
        error = parse_error(
            tmp_path,
            """
            load_from:
              - python_file: {relative_path: a.py, location_name: team}
              - python_module: {module_name: m, location_name: team}
            """,
        )
        assert (error.line, error.key_path) == (3, "load_from[1]")
        assert "load_from[0] (line 2) and load_from[1] (line 3)" in str(error)

    def test_same_file_with_different_attributes_is_not_a_duplicate(self, tmp_path: Path) -> None:
        spec = load_text(
            tmp_path,
            """
            load_from:
              - python_file: {relative_path: repos.py, attribute: one}
              - python_file: {relative_path: repos.py, attribute: two}
            """,
        )
        assert [loc.name for loc in spec.locations] == ["repos.py:one", "repos.py:two"]

    def test_grpc_server_keys_are_checked(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - grpc_server: {host: h, prot: 4000}\n")
        assert error.key_path == "load_from[0].grpc_server.prot"
        assert "did you mean 'port'?" in str(error)
        error = parse_error(tmp_path, "load_from:\n  - grpc_server: {host: h, port: '4000x'}\n")
        assert error.key_path == "load_from[0].grpc_server.port"
        assert "expected an integer port number" in str(error)


class TestEnvironmentErrors:
    def test_unset_variable_names_the_variable_and_key(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("NO_SUCH_TEAM_DIR", raising=False)
        error = parse_error(
            tmp_path,
            "load_from:\n  - python_file:\n      relative_path: $NO_SUCH_TEAM_DIR/repos.py\n",
        )
        assert (error.line, error.key_path) == (3, "load_from[0].python_file.relative_path")
        assert "'NO_SUCH_TEAM_DIR' is not set" in str(error)

    def test_unset_variable_in_executable_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("NO_SUCH_VENV", raising=False)
        error = parse_error(
            tmp_path,
            "load_from:\n  - python_module: {module_name: m, executable_path: '${NO_SUCH_VENV}'}\n",
        )
        assert error.key_path == "load_from[0].python_module.executable_path"
        assert "NO_SUCH_VENV" in str(error)

    def test_unset_variable_in_env_source_form(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("NO_SUCH_MODULE", raising=False)
        error = parse_error(
            tmp_path, "load_from:\n  - python_module: {module_name: {env: NO_SUCH_MODULE}}\n"
        )
        assert error.key_path == "load_from[0].python_module.module_name.env"
        assert "'NO_SUCH_MODULE' is not set" in str(error)

    def test_bad_variable_reference(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - python_file: ${1bad}/repos.py\n")
        assert "not a valid environment variable reference" in str(error)

    def test_empty_after_expansion(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EMPTY_DIR", "")
        error = parse_error(
            tmp_path,
            "load_from:\n  - python_file: {relative_path: a.py, working_directory: $EMPTY_DIR}\n",
        )
        assert "empty once environment variables are expanded" in str(error)


# --- command-line forms (-f / -m) -----------------------------------------------------------


class TestCommandLineForms:
    def test_python_file_relative_to_base_dir(self, tmp_path: Path) -> None:
        location = location_from_python_file(
            "team/repos.py", attribute="repo", executable_path="venv/bin/python", base_dir=tmp_path
        )
        assert location == LocationSpec(
            name="repos.py:repo",
            kind="python_file",
            target=str(tmp_path / "team" / "repos.py"),
            attribute="repo",
            working_directory=str(tmp_path),
            executable_path=str(tmp_path / "venv" / "bin" / "python"),
            source="<command line>",
            key_path="",
            line=None,
            env_files=(str(tmp_path / ".env"),),  # base_dir's, as `dagster dev -f` run there
        )

    def test_python_file_defaults_to_the_cwd(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        location = location_from_python_file(Path("repos.py"), working_directory="src")
        assert location.target == str(tmp_path / "repos.py")
        assert location.working_directory == str(tmp_path / "src")
        assert location.name == "repos.py"
        assert location.executable_path is None

    def test_python_file_expands_home_and_variables(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("TEAM", "team")
        location = location_from_python_file("~/$TEAM/repos.py", location_name="mine")
        assert location.target == str(tmp_path / "home" / "team" / "repos.py")
        assert location.name == "mine"

    def test_missing_file_is_left_to_the_loader(self, tmp_path: Path) -> None:
        location = location_from_python_file("absent.py", base_dir=tmp_path)
        assert location.target == str(tmp_path / "absent.py")

    def test_module(self, tmp_path: Path) -> None:
        location = location_from_module(
            "my_pkg.repos", attribute="repo", executable_path="python3", base_dir=tmp_path
        )
        assert (location.kind, location.target, location.name) == (
            "python_module",
            "my_pkg.repos",
            "my_pkg.repos:repo",
        )
        assert location.working_directory == str(tmp_path)
        assert location.executable_path == "python3"

    def test_package(self, tmp_path: Path) -> None:
        location = location_from_module(
            "pkg", kind="python_package", working_directory="src", base_dir=tmp_path
        )
        assert (location.kind, location.name) == ("python_package", "pkg")
        assert location.working_directory == str(tmp_path / "src")

    def test_errors(self) -> None:
        with pytest.raises(WorkspaceFileError, match="not a dotted Python name") as info:
            location_from_module("my_pkg/repos.py")
        assert str(info.value).startswith("<command line>: python_module: ")
        with pytest.raises(WorkspaceFileError, match="must not be empty"):
            location_from_python_file("")
        with pytest.raises(WorkspaceFileError, match="not a Python identifier"):
            location_from_python_file("repos.py", attribute="a.b")
        with pytest.raises(ValueError, match="python_module"):
            location_from_module("m", kind="python_file")


# --- every key of Dagster's workspace schema (issue 7) -------------------------------------


class TestDagsterSchemaKeys:
    """Dagster 1.13's schema (dagster/_core/workspace/config_schema.py), key for key."""

    def test_autoload_defs_module_short_and_long_forms(self, tmp_path: Path) -> None:
        spec = load_text(
            tmp_path,
            """
            load_from:
              - autoload_defs_module: my_project.defs
              - autoload_defs_module:
                  module_name: other.defs
                  working_directory: src
                  location_name: other
                  executable_path: .venv/bin/python
            """,
        )
        short, long = spec.locations
        assert (short.kind, short.target, short.name) == (
            "autoload_defs_module",
            "my_project.defs",
            "my_project.defs",
        )
        assert (long.name, long.working_directory, long.executable_path) == (
            "other",
            str(tmp_path / "src"),
            str(tmp_path / ".venv" / "bin" / "python"),
        )

    def test_autoload_defs_module_name_must_be_dotted(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - autoload_defs_module: src/defs.py\n")
        assert error.key_path == "load_from[0].autoload_defs_module"
        assert "not a dotted Python name" in str(error)

    def test_grpc_server_port_from_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("GRPC_PORT", "4266")
        spec = load_text(
            tmp_path,
            """
            load_from:
              - grpc_server:
                  host: {env: GRPC_HOST}
                  port: {env: GRPC_PORT}
                  location_name: remote
                  ssl: true
                  additional_metadata: {team: data, owners: [a, b], nested: {x: 1}}
              - python_file: repos.py
            """,
        )
        assert [loc.name for loc in spec.locations] == ["repos.py"]
        (skipped,) = spec.skipped
        assert (skipped.key_path, skipped.line) == ("load_from[0]", 2)
        assert "does not connect to running gRPC servers" in skipped.reason

    def test_grpc_server_port_variable_that_is_not_a_number(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("GRPC_PORT", "http")
        error = parse_error(tmp_path, "load_from:\n  - grpc_server: {port: {env: GRPC_PORT}}\n")
        assert error.key_path == "load_from[0].grpc_server.port.env"
        assert "'GRPC_PORT' is 'http', not an integer port number" in str(error)

    @pytest.mark.parametrize(
        ("value", "found"),
        [("[a]", "found a list"), ("'4000x'", "found a string"), ("{enf: X}", "found a mapping")],
    )
    def test_grpc_server_port_of_the_wrong_type(
        self, tmp_path: Path, value: str, found: str
    ) -> None:
        error = parse_error(tmp_path, f"load_from:\n  - grpc_server: {{port: {value}}}\n")
        assert error.key_path == "load_from[0].grpc_server.port"
        assert "expected an integer port number (or {env: VARIABLE})" in str(error)
        assert found in str(error)

    def test_additional_metadata_must_be_a_mapping(self, tmp_path: Path) -> None:
        error = parse_error(
            tmp_path, "load_from:\n  - grpc_server: {port: 1, additional_metadata: [a]}\n"
        )
        assert error.key_path == "load_from[0].grpc_server.additional_metadata"
        assert "expected a mapping" in str(error)

    def test_python_file_short_form_must_be_a_python_module(self, tmp_path: Path) -> None:
        error = parse_error(tmp_path, "load_from:\n  - python_file: scripts/run\n")
        assert "'run' is not a Python module (it has no suffix)" in str(error)
        location = only_location(load_text(tmp_path, "load_from:\n  - python_file: gui.pyw\n"))
        assert location.target == str(tmp_path / "gui.pyw")


class TestLocationOverrides:
    """A location named again in a later file named together replaces the earlier one."""

    def test_later_file_wins_and_the_earlier_entry_says_why(self, tmp_path: Path) -> None:
        first = write(
            tmp_path,
            """
            load_from:
              - python_file: {relative_path: old/team.py, location_name: team}
              - python_file: shared.py
            """,
            name="base.yaml",
        )
        second = write(
            tmp_path,
            "load_from:\n  - python_file: {relative_path: new/team.py, location_name: team}\n",
            name="override.yaml",
        )
        base, override = apply_location_overrides(load_workspace_files([first, second]))
        assert [loc.name for loc in base.locations] == ["shared.py"]
        assert [loc.target for loc in override.locations] == [str(tmp_path / "new" / "team.py")]
        (skipped,) = base.skipped
        assert (skipped.key_path, skipped.line, skipped.source) == ("load_from[0]", 2, str(first))
        assert f"overridden by load_from[0] (line 2) of {second}" in skipped.reason

    def test_files_without_shared_names_are_returned_as_they_are(self, tmp_path: Path) -> None:
        specs = load_workspace_files(
            [
                write(tmp_path, "load_from:\n  - python_file: a.py\n", name="a.yaml"),
                write(tmp_path, "load_from:\n  - python_file: b.py\n", name="b.yaml"),
            ]
        )
        assert apply_location_overrides(specs) == specs


def test_override_across_named_workspace_files(pytester: pytest.Pytester) -> None:
    write(pytester.path / "old", "load_from:\n  - python_file: jobs.py\n")
    write(pytester.path / "new", "load_from:\n  - python_file: jobs.py\n")
    write(pytester.path / "old", CONTROL_JOBS.replace("control_job", "old_job"), name="jobs.py")
    write(pytester.path / "new", CONTROL_JOBS.replace("control_job", "new_job"), name="jobs.py")
    result = pytester.runpytest_subprocess(
        "--workspace", "old/workspace.yaml", "--workspace", "new/workspace.yaml", "-v", "-rs"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "old/workspace.yaml::load_from[[]0[]] SKIPPED*",
            "new/workspace.yaml::jobs.py::__repository__new_job::new_job PASSED*",
            "SKIPPED [[]1[]] old/workspace.yaml:2: load_from[[]0[]]: location 'jobs.py' is "
            "overridden by load_from[[]0[]] (line 2) of */new/workspace.yaml*",
        ]
    )
    # Found by walking folders, they are separate workspaces: both run.
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)


# --- faults (issue 11): whatever is wrong with a file is that file's error ------------------

CONTROL_JOBS = """\
from pytest_workspace.definitions import job, op

@op
def ok():
    return 1

@job
def control_job():
    ok()
"""


def control_workspace(folder: Path) -> None:
    """A healthy workspace beside the faulty one: its job must pass in the same run."""
    write(folder / "control", "load_from:\n  - python_file: jobs.py\n")
    write(folder / "control", CONTROL_JOBS, name="jobs.py")


def test_load_workspace_applies_overrides_across_its_files(tmp_path: Path) -> None:
    from pytest_workspace import load_workspace

    for team in ("old", "new"):
        write(tmp_path / team, "load_from:\n  - python_file: jobs.py\n")
        write(tmp_path / team, CONTROL_JOBS.replace("control_job", f"{team}_job"), name="jobs.py")
    paths = [tmp_path / "old" / "workspace.yaml", tmp_path / "new" / "workspace.yaml"]
    with load_workspace(paths, timeout=60) as ws:
        assert [loc.name for loc in ws.locations] == ["jobs.py"]
        assert ws.location("jobs.py").repositories[0].job_names == ["new_job"]
        assert [entry.key_path for entry in ws.skipped] == ["load_from[0]"]

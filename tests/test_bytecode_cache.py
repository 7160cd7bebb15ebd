"""Workers cache the bytecode of the modules we ship, safely, and never depend on it."""

from __future__ import annotations

import marshal
import stat
import types
from pathlib import Path

import pytest

from pytest_workspace import load_workspace
from pytest_workspace.locations import shipped_modules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: Compiled by every worker: protocol, definitions, the backend seam, the backends but
#: those compiled once their library is imported (the Dagster backend, which the cereal
#: location, free of Dagster, never compiles).
#: And execnet's bootstrap (gateway_base) and the worker itself.
SHIPPED = len([entry for entry in shipped_modules() if len(entry) == 2]) + 2


def run_cereal() -> str:
    with load_workspace(FIXTURES / "cereal" / "workspace.yaml") as ws:
        assert ws.locations[0].load_error is None
        result = ws.job("complex_job").execute()
        assert result.success
        return str(result.output_for("find_highest_protein_cereal"))


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    return tmp_path / "pytest-workspace" / "bytecode"


def test_the_shipped_modules_are_cached_in_a_private_folder(cache_home: Path) -> None:
    assert run_cereal() == "Cheerios"
    entries = sorted(cache_home.glob("*.bin"))
    assert len(entries) == SHIPPED
    assert stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    for entry in entries:
        code = marshal.loads(entry.read_bytes())
        assert isinstance(code, types.CodeType)
        assert code.co_filename.startswith(("<pytest_workspace.", "<execnet.gateway_base>"))
    # The next worker reads them and works the same; nothing new is written.
    assert run_cereal() == "Cheerios"
    assert sorted(cache_home.glob("*")) == entries


def test_a_corrupt_entry_is_compiled_again_and_replaced(cache_home: Path) -> None:
    run_cereal()
    for entry in cache_home.glob("*.bin"):
        entry.write_bytes(b"not bytecode")
    assert run_cereal() == "Cheerios"
    for entry in cache_home.glob("*.bin"):
        assert isinstance(marshal.loads(entry.read_bytes()), types.CodeType)


def test_a_folder_others_can_write_is_never_used(cache_home: Path) -> None:
    cache_home.mkdir(parents=True)
    cache_home.chmod(0o777)  # anyone could plant bytecode here: it must not be read
    planted = cache_home / "planted.bin"
    planted.write_bytes(b"x")
    assert run_cereal() == "Cheerios"
    assert sorted(p.name for p in cache_home.iterdir()) == ["planted.bin"]


def test_dont_write_bytecode_writes_no_cache(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert run_cereal() == "Cheerios"
    assert not cache_home.exists()


def test_dont_write_bytecode_still_reads_the_cache(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As Python reads .pyc files under -B: an entry written by an earlier run is used.
    # One entry is replaced by the same module's code plus a line that leaves a mark.
    run_cereal()
    entries = sorted(cache_home.glob("*.bin"))
    name = "<pytest_workspace._definition_errors>"
    (entry,) = [e for e in entries if marshal.loads(e.read_bytes()).co_filename == name]
    source = {entry[0]: entry[1] for entry in shipped_modules()}[
        "pytest_workspace._definition_errors"
    ]
    mark = tmp_path / "read.txt"
    planted = source + "\nimport os as _os\nopen(_os.environ['CACHE_MARK'], 'w').close()\n"
    entry.write_bytes(marshal.dumps(compile(planted, name, "exec")))
    monkeypatch.setenv("CACHE_MARK", str(mark))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert run_cereal() == "Cheerios"
    assert mark.exists()
    assert sorted(cache_home.glob("*")) == entries

"""The dependency rule of DESIGN.md, checked on the source: ``respq.worker`` and
``respq.producer`` import ``respq.contract`` and never each other; ``contract`` imports
neither; ``mockapi`` imports none of respq's packages; only the CLI commands that start
them reach into ``server`` and ``mockapi``. The CLI is a client of the library: the server
and the benches use the library (reading a file, the spool, a batch's pace), never
``respq.producer.cli``. And one import name: nothing anywhere in the tree imports
``contract``, ``producer``, ``worker``, ``server`` or ``mockapi`` as a top-level name (they
install as ``respq.*``; a bare import would find a user's own ``worker/`` folder instead)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contract", "producer", "worker", "server", "mockapi")
FORBIDDEN = {
    "contract": {"producer", "worker", "server", "mockapi"},
    "producer": {"worker", "mockapi"},
    "worker": {"producer", "server", "mockapi"},
    "mockapi": {"contract", "producer", "worker", "server"},
    "server": {"worker"},
}
# CLI commands that start another deployable, imported lazily inside the command:
# `respq serve` (the Batch API server) and `respq mock-upstream` (the stand-in API).
ALLOWED = {("producer/cli/serve.py", "server"), ("producer/cli/manage.py", "mockapi")}
# Modules a folder must not import although it may import their package (by prefix).
FORBIDDEN_MODULES = {"server": "respq.producer.cli", "bench": "respq.producer.cli"}
# Every folder of Python source in the repository.
SOURCE_DIRS = (*PACKAGES, "respq", "tests", "bench", "examples", "scripts")


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    """(module, relative level) of every import in a file."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def imported_names(path: Path, package: str) -> set[str]:
    """The absolute name of every module a file imports, and of every name it imports from
    one (``from respq.producer import cli`` names ``respq.producer.cli``); relative imports
    are resolved against ``package``, the file's own."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.level else [node.module or ""])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _package_of(path: Path) -> str:
    """A source file's package: ``respq.server`` for server/views.py, ``bench`` for
    bench/server.py."""
    parts = path.parent.relative_to(ROOT).parts
    return ".".join(("respq", *parts) if parts[0] in PACKAGES else parts)


def imported_packages(path: Path) -> set[str]:
    """Which of respq's packages a file imports, by their ``respq.<package>`` name."""
    found: set[str] = set()
    for module, level in _imported_modules(path):
        parts = module.split(".")
        if level == 0 and parts[0] == "respq" and len(parts) > 1:
            found.add(parts[1])
    return found & set(PACKAGES)


def top_level_imports(path: Path) -> set[str]:
    """The old-style imports: one of respq's packages as a top-level name."""
    return {
        module.split(".")[0]
        for module, level in _imported_modules(path)
        if level == 0 and module.split(".")[0] in PACKAGES
    }


def _python_files() -> list[Path]:
    files: list[Path] = []
    for folder in SOURCE_DIRS:
        base = ROOT / folder
        if base.is_symlink() or not base.exists():
            continue
        files.extend(p for p in base.rglob("*.py") if ".venv" not in p.parts)
    files.extend(p for p in (ROOT / "scripts").glob("*") if p.is_file() and p.suffix == "")
    return sorted(set(files))


def _is_python(path: Path) -> bool:
    return path.suffix == ".py" or path.read_text(encoding="utf-8").startswith(
        "#!/usr/bin/env python"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_the_design_allows(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports respq.{name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported_packages(path) & FORBIDDEN[package]
        if (str(path.relative_to(ROOT)), name) not in ALLOWED
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("folder", sorted(FORBIDDEN_MODULES))
def test_the_server_and_the_benches_use_the_library_not_the_cli(folder: str) -> None:
    forbidden = FORBIDDEN_MODULES[folder]
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in sorted(imported_names(path, _package_of(path)))
        if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert not wrong, wrong


def test_nothing_imports_a_package_by_its_old_top_level_name() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _python_files()
        if _is_python(path)
        for name in sorted(top_level_imports(path))
    ]
    assert not wrong, wrong


def test_the_folders_install_under_respq() -> None:
    for package in PACKAGES:
        link = ROOT / "respq" / package
        assert link.is_symlink() and link.resolve() == (ROOT / package).resolve(), package
    installed = {
        p.name for p in (ROOT / "respq").iterdir() if p.is_dir() and not p.name.startswith("_")
    }
    assert installed == set(PACKAGES)


def test_the_checks_see_forbidden_and_old_style_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from respq.producer.client import BatchClient\nimport respq.worker.app\n"
        "from contract.lines import InputLine\nimport mockapi\n"
    )
    assert imported_packages(bad) == {"producer", "worker"}
    assert top_level_imports(bad) == {"contract", "mockapi"}


def test_the_check_sees_the_cli_imported_every_way(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from respq.producer.cli.jsonl import check_file\nimport respq.producer.cli.app\n"
        "from respq.producer import cli\nfrom ..producer.cli import render\n"
    )
    names = imported_names(planted, "respq.server")
    assert {
        "respq.producer.cli.jsonl",
        "respq.producer.cli.app",
        "respq.producer.cli",
        "respq.producer.cli.render",
    } <= names
    assert _package_of(ROOT / "server" / "views.py") == "respq.server"
    assert _package_of(ROOT / "bench" / "server.py") == "bench"

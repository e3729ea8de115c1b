"""The dependency rule of DESIGN.md, checked on the source: ``respq.worker`` and
``respq.producer`` import ``respq.contract`` and never each other; ``contract`` imports
neither; ``mockapi`` imports none of respq's packages; only the CLI commands that start
them reach into ``server`` and ``mockapi``. And one import name: nothing anywhere in the
tree imports ``contract``, ``producer``, ``worker``, ``server`` or ``mockapi`` as a
top-level name (they install as ``respq.*``; a bare import would find a user's own
``worker/`` folder instead)."""

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

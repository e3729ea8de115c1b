"""The dependency rule of DESIGN.md, checked on the source: ``worker`` and ``producer``
import ``contract`` and never each other; ``contract`` imports neither; ``mockapi``
imports none of respq's packages; only the CLI commands that start them reach into
``server`` and ``mockapi``."""

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


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_the_design_allows(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported_packages(path) & FORBIDDEN[package]
        if (str(path.relative_to(ROOT)), name) not in ALLOWED
    ]
    assert not wrong, wrong


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from producer.client import BatchClient\nimport worker.app\n")
    assert imported_packages(bad) == {"producer", "worker"}

"""What a mutant is: the patches that switch a feature off and the tests that must go red."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Patch:
    """Replace ``pattern`` (a regex) in ``path`` (a glob such as ``**/*.lua`` patches every
    file it names); at least ``min_count`` matches must exist in all."""

    path: str
    pattern: str
    replacement: str
    min_count: int = 1


def test_path(test: str) -> str:
    """``test_x.py::name`` as ``tests/<folder>/test_x.py::name``: a test file is named for
    its subject, so its name alone finds it; one that finds no file, or two, is an error."""
    file, _, name = test.partition("::")
    if "/" in file:
        return test
    found = sorted(ROOT.glob(f"tests/*/{file}"))
    if len(found) != 1:
        raise ValueError(f"{file}: {len(found)} test files have this name, expected one")
    path = found[0].relative_to(ROOT).as_posix()
    return f"{path}::{name}" if name else path


@dataclass(frozen=True)
class Mutant:
    name: str
    feature: str
    patches: tuple[Patch, ...]
    # test ids; a test file may be named without its folder (test_path)
    tests: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tests", tuple(map(test_path, self.tests)))

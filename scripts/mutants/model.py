"""What a mutant is: the patches that switch a feature off and the tests that must go red."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Patch:
    """Replace ``pattern`` (a regex) in ``path`` (a glob such as ``**/*.lua`` patches every
    file it names); at least ``min_count`` matches must exist in all."""

    path: str
    pattern: str
    replacement: str
    min_count: int = 1


@dataclass(frozen=True)
class Mutant:
    name: str
    feature: str
    patches: tuple[Patch, ...]
    tests: tuple[str, ...]

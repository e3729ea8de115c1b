"""The mutants ``scripts/mutation-check`` runs: each guarded feature, the search-and-replace
patch that switches it off, and the tests that must go red when it is off. Data only; the
script holds the logic."""

from __future__ import annotations

from mutants.batch_edges import BATCH_EDGES
from mutants.model import Mutant, Patch
from mutants.request_path import REQUEST_PATH

MUTANTS: tuple[Mutant, ...] = (*REQUEST_PATH, *BATCH_EDGES)

__all__ = ["MUTANTS", "Mutant", "Patch"]

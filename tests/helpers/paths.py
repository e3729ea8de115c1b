"""Where things are: the repository, its examples, the test fixtures, and the ``respq``
console script of the virtualenv running the tests."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PRICES = EXAMPLES / "prices.toml"
FIXTURES = ROOT / "tests" / "fixtures"
RESPQ = Path(sys.executable).parent / "respq"

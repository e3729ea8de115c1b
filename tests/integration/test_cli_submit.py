"""``respq submit`` streams: peak memory does not grow with the file."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.cli import (
    clean_db,
    env_for,
    flush,
    invoke,
    sync_redis,
    unique_queue,
    write_jsonl,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DB = 11


@pytest.fixture
def db() -> Iterator[int]:
    yield from clean_db(DB)


def peak_submit(path: Path, db: int) -> int:
    """Peak Python allocations (bytes) of one ``respq submit`` run."""
    env = env_for(db, unique_queue())
    tracemalloc.start()
    try:
        result = invoke(["submit", str(path)], env=env)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    return peak


def test_submit_memory_is_bounded(tmp_path: Path, db: int) -> None:
    small = write_jsonl(tmp_path / "20k.jsonl", 20_000)
    large = write_jsonl(tmp_path / "100k.jsonl", 100_000)
    peak_small = peak_submit(small, db)
    flush(db)
    peak_large = peak_large_run = peak_submit(large, db)
    assert sync_redis(db).zcard("respq:batches") == 1
    per_line = (peak_large - peak_small) / 80_000
    print(
        f"peak 20k={peak_small / 1e6:.1f} MB, 100k={peak_large_run / 1e6:.1f} MB, "
        f"{per_line:.0f} B/line"
    )
    assert peak_large < 150 * 1024 * 1024
    # Holding the requests would cost well over 500 bytes a line (body bytes, objects);
    # what grows is the set of custom_ids kept for duplicate detection.
    assert per_line < 250
    assert peak_large < 3 * peak_small

"""Faults injected into the producer: its enqueue script failing midway, as a Redis
failover, an out-of-memory Redis or a lost connection would stop a submit."""

from __future__ import annotations

from typing import Any

import pytest

from respq import BatchClient


def fail_enqueue_after(
    client: BatchClient, calls: int, error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``client``'s enqueue script raises ``error`` from its ``calls + 1``-th call on; its
    other scripts run as they are."""
    real = client.scripts
    made = 0

    async def flaky(**kwargs: Any) -> Any:
        nonlocal made
        made += 1
        if made > calls:
            raise error
        return await real["enqueue"](**kwargs)

    class Scripts:
        def __getitem__(self, name: str) -> Any:
            return flaky if name == "enqueue" else real[name]

    monkeypatch.setattr(client, "scripts", Scripts())

"""The webhook part of ``respq status``: the batch's receiver and each event's delivery."""

from __future__ import annotations

import time

from rich.table import Table

from respq.producer.batch_info import BatchInfo


def _when(stamp: int | None, now: float) -> str:
    if stamp is None:
        return "-"
    seconds = round(stamp - now)
    return f"in {seconds}s" if seconds > 0 else f"{-seconds}s ago"


def delivery_state(info: BatchInfo, now: float | None = None) -> list[str]:
    """One line per event: type, state, attempts, last error, next attempt."""
    now = now or time.time()
    lines = []
    for d in info.webhook_deliveries:
        text = f"{d.type} {d.event_id}: {d.state}, {d.attempts} attempt(s)"
        if d.state == "delivered":
            text += f", delivered {_when(d.delivered_at, now)}"
        if d.last_error:
            text += f", last error: {d.last_error}"
        if d.state == "retrying":
            text += f", next {_when(d.next_attempt_at, now)}"
        lines.append(text)
    return lines


def webhook_table(info: BatchInfo, now: float | None = None) -> Table | None:
    """None when the batch names no receiver and has sent no event."""
    if info.webhook is None and not info.webhook_deliveries:
        return None
    table = Table(title="webhooks", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("receiver", info.webhook or "server-wide (RESPQ_WEBHOOK_URL)")
    for line in delivery_state(info, now):
        table.add_row("event", line)
    return table

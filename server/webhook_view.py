"""The dashboard's webhook section of a batch page: its receiver and each event's
delivery state and last error (no secret, no credentials or query of the URL)."""

from __future__ import annotations

from html import escape

from respq.producer.batch_info import BatchInfo


def webhook_section(info: BatchInfo) -> str:
    """Empty when the batch names no receiver and has sent no event."""
    if info.webhook is None and not info.webhook_deliveries:
        return ""
    receiver = escape(info.webhook or "server-wide (RESPQ_WEBHOOK_URL)")
    rows = "".join(
        f"<tr><td><code>{escape(d.event_id)}</code></td><td>{escape(d.type)}</td>"
        f"<td>{escape(d.state)}</td><td class='num'>{d.attempts}</td>"
        f"<td>{escape(d.last_error or '-')}</td></tr>"
        for d in info.webhook_deliveries
    )
    table = (
        '<table id="webhooks"><thead><tr><th>event</th><th>type</th><th>delivery</th>'
        '<th class="num">attempts</th><th>last error</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        if rows
        else '<p class="empty">No event yet: one is sent when the batch ends.</p>'
    )
    return f"<h2>Webhooks</h2><p>Receiver: <code>{receiver}</code></p>{table}"

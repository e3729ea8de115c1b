"""Rich tables and plain-text numbers for batch status, shared by several commands."""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table

from respq.producer.batch_info import BatchInfo, UsageTotals
from respq.producer.cli.webhook_view import webhook_table
from respq.producer.costs import BatchCost
from respq.producer.pacing import Pace, duration


def percent(info: BatchInfo) -> float:
    total = info.request_counts.total
    return 100.0 * info.done / total if total else 0.0


def tokens(n: int) -> str:
    return f"{n:,}"


def summary_line(info: BatchInfo) -> str:
    """One line for logs and non-terminal output."""
    counts = info.request_counts
    pace = Pace.of(info)
    rate = f", {pace.rate:.1f}/s" if pace.rate else ""
    return (
        f"{info.id} {info.status}: {info.done}/{counts.total} done ({percent(info):.1f}%), "
        f"{counts.completed} succeeded, {counts.failed} failed{rate}, "
        f"{tokens(info.usage.total_tokens)} tokens, {info.endpoint}"
    )


def _usage_row(name: str, usage: UsageTotals) -> list[str]:
    return [
        name,
        tokens(usage.requests),
        tokens(usage.input_tokens),
        tokens(usage.cached_tokens),
        tokens(usage.output_tokens),
        tokens(usage.reasoning_tokens),
        tokens(usage.total_tokens),
    ]


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def cost_table(cost: BatchCost) -> Table | None:
    """Cost per model (with a price table) and the budget (with max_cost)."""
    if cost.total is None and cost.max_cost is None:
        return None
    table = Table(title=f"cost ({cost.currency})", title_justify="left")
    table.add_column("model")
    table.add_column("cost", justify="right")
    for model, value in cost.by_model.items():
        table.add_row(model, usd(value))
    for model in cost.unpriced_models:
        table.add_row(model, "no price")
    if cost.total is not None:
        table.add_row("all", usd(cost.total), style="bold")
    if cost.max_cost is not None:
        table.add_row("budget", usd(cost.max_cost))
        table.add_row("spent (workers)", usd(cost.spent))
        table.add_row("in flight", usd(cost.reserved))
    return table


def status_view(
    info: BatchInfo,
    now: float | None = None,
    *,
    cost: BatchCost | None = None,
    share: str | None = None,
) -> Group:
    """The status table, usage per model, cost and errors by code. ``share`` is the
    batch's share of dispatch while it has jobs waiting (``BatchClient.shares``)."""
    now = now or time.time()
    counts = info.request_counts
    pace = Pace.of(info, now)
    table = Table(title=f"batch {info.id}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("status", str(info.status))
    table.add_row("endpoint", info.endpoint)
    table.add_row("progress", f"{info.done}/{counts.total} ({percent(info):.1f}%)")
    table.add_row("succeeded", str(counts.completed))
    if info.incomplete:
        table.add_row("incomplete", f"{info.incomplete} (of the succeeded)")
    table.add_row("failed", str(counts.failed))
    table.add_row("in flight", str(info.in_flight))
    table.add_row("rate", f"{pace.rate:.2f} requests/s" if pace.rate else "-")
    if not info.is_terminal:
        table.add_row("eta", duration(pace.eta))
    if info.created_at:
        table.add_row("age", duration(now - info.created_at))
    if info.pause_reason:
        table.add_row("paused", info.pause_reason)
    table.add_row("priority", _priority_text(info, share))
    if info.metadata:
        table.add_row("metadata", ", ".join(f"{k}={v}" for k, v in info.metadata.items()))
    parts: list[Table] = [table]
    usage = Table(title="usage (tokens)", title_justify="left")
    for column in ("model", "requests", "input", "cached", "output", "reasoning", "total"):
        usage.add_column(column, justify="left" if column == "model" else "right")
    for model, model_usage in sorted(info.usage_by_model.items()):
        usage.add_row(*_usage_row(model, model_usage))
    usage.add_row(*_usage_row("all", info.usage), style="bold")
    parts.append(usage)
    costs = cost_table(cost) if cost is not None else None
    if costs is not None:
        parts.append(costs)
    if info.errors_by_code:
        errors = Table(title="errors by code", title_justify="left")
        errors.add_column("code")
        errors.add_column("count", justify="right")
        for code, count in info.errors_by_code.items():
            errors.add_row(code, str(count))
        parts.append(errors)
    webhooks = webhook_table(info, now)
    if webhooks is not None:
        parts.append(webhooks)
    return Group(*parts)


def _priority_text(info: BatchInfo, share: str | None) -> str:
    """e.g. "1 (weight 2), share 67%, max 50 in flight"."""
    if info.priority == "urgent":
        text = "urgent (goes before every other batch)"
    else:
        weight = 2.0 ** int(info.priority)
        text = f"{info.priority} (weight {weight:g})"
        if share and not info.is_terminal:
            text += f", share {share}"
    if info.max_in_flight:
        text += f", at most {info.max_in_flight} in flight"
    return text

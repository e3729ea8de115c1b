"""HTML of the workers and limits pages; every value is escaped here."""

from __future__ import annotations

import time
from html import escape

from respq.producer.monitor import ScopeView, WorkerView
from respq.producer.pacing import duration

LIMITS_HELP = (
    "Used now is the last minute over all live workers. When it sits at the effective "
    "limit, or 429s and cool-downs show up, the provider's limit sets the pace, not respq."
)


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def _ago(ts: float, now: float) -> str:
    return f'<span title="{escape(_clock(ts))}">{duration(max(now - ts, 0))} ago</span>'


def _num(n: float) -> str:
    return f"{n:,.0f}" if n >= 100 or float(n).is_integer() else f"{n:,.1f}"


def _table(table_id: str, head: list[str], rows: list[str]) -> str:
    cells = "".join(
        f'<th class="num">{escape(h[1:])}</th>' if h.startswith("#") else f"<th>{escape(h)}</th>"
        for h in head
    )
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{cells}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _worker_row(worker: WorkerView, now: float) -> str:
    if worker.gone_since is not None:
        state = (
            f'<span class="status gone">gone</span> <small>since {_clock(worker.gone_since)}'
            f" ({duration(now - worker.gone_since)} ago)</small>"
        )
        numbers = ['<td class="num quiet">-</td>'] * 3
    else:
        state = '<span class="status live">live</span>'
        numbers = [
            f'<td class="num">{worker.in_flight:,}</td>',
            f'<td class="num">{worker.rate:,.1f}/s</td>',
            f'<td class="num">{worker.recorded:,}</td>',
        ]
    outages = f"{worker.redis_outages:,}"
    if worker.redis_outages:
        outages += f" <small>(last {worker.redis_last_outage_s:.1f}s)</small>"
    redis = escape(worker.redis)
    if worker.redis == "down":
        redis = f'<span class="error" title="{escape(worker.redis_last_error)}">down</span>'
    # a gone worker was up until its last heartbeat
    until = worker.gone_since if worker.gone_since is not None else now
    up = duration(until - worker.started_at) if worker.started_at else "-"
    return (
        f'<tr data-worker="{escape(worker.id)}"><td><code>{escape(worker.id)}</code></td>'
        f"<td>{state}</td><td>{escape(worker.host)}</td>"
        f'<td class="num">{worker.pid or "-"}</td>'
        + "".join(numbers)
        + f"<td>{redis}</td><td class='num'>{outages}</td>"
        f"<td>{_ago(worker.seen_at, now)}</td><td class='num'>{up}</td></tr>"
    )


def workers_table(workers: list[WorkerView], now: float) -> str:
    if not workers:
        return '<p class="empty">No worker has reported in the last hour.</p>'
    live = sum(1 for w in workers if not w.gone)
    summary = (
        f'<p class="quiet">{live} live, {len(workers) - live} gone. A worker that misses two '
        "heartbeats (two thirds of its lease) is shown as gone.</p>"
    )
    head = ["worker", "state", "host", "#pid", "#in flight", "#rate", "#recorded", "redis"]
    head += ["#outages ridden out", "last heartbeat", "#up"]
    return summary + _table("workers", head, [_worker_row(w, now) for w in workers])


def _meter(used: float, limit: float) -> str:
    if limit <= 0:
        return f"{_num(used)} <small>(no limit)</small>"
    share = min(used / limit, 1.0) if limit else 0.0
    level = "full" if share >= 0.9 else "busy" if share >= 0.6 else "ok"
    return (
        f'{_num(used)} / {_num(limit)}<span class="meter {level}" title="{share:.0%}">'
        f'<span style="width:{share * 100:.1f}%"></span></span>'
    )


def _configured(configured: int, provider: int, multiplier: float) -> str:
    if configured <= 0:
        return '<span class="quiet">unlimited</span>'
    text = f"{configured:,}"
    if 0 < provider < configured:
        text += f" <small>provider {provider:,}</small>"
    if multiplier < 1:
        text += f" <small>×{multiplier:.2f} after 429s</small>"
    return text


def _scope_row(scope: ScopeView) -> str:
    cool = (
        f'<span class="error">{scope.cool_down_s:.1f}s left</span>'
        if scope.cool_down_s > 0
        else '<span class="quiet">none</span>'
    )
    return (
        f'<tr data-scope="{escape(scope.tag)}"><td><code>{escape(scope.label)}</code>'
        f" <small>{escape(scope.algorithm)}</small></td>"
        f"<td class='num'>{_configured(scope.rpm, scope.provider_rpm, scope.multiplier)}</td>"
        f"<td class='num'>{_configured(scope.tpm, scope.provider_tpm, scope.multiplier)}</td>"
        f"<td class='num'>{_meter(scope.used_rpm, scope.effective_rpm)}</td>"
        f"<td class='num'>{_meter(scope.used_tpm, scope.effective_tpm)}</td>"
        f"<td class='num'>{scope.rate_limited:,} <small>({scope.rate_limited_1m:,} in the "
        f"last minute)</small></td><td>{cool}</td><td class='num'>{scope.workers}</td></tr>"
    )


def limits_table(scopes: list[ScopeView]) -> str:
    if not scopes:
        return '<p class="empty">No live worker has sent a request yet.</p>'
    head = ["scope (base URL, model)", "#RPM", "#TPM", "#requests / min now"]
    head += ["#tokens / min now", "#429s received", "shared cool-down", "#workers"]
    return f'<p class="quiet">{escape(LIMITS_HELP)}</p>' + _table(
        "limits", head, [_scope_row(s) for s in scopes]
    )


__all__ = ["limits_table", "workers_table"]

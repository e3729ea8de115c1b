"""HTML of the dashboard, rendered on the server; every value is escaped here."""

from __future__ import annotations

import time
from functools import cache
from html import escape
from importlib import resources
from string import Template
from typing import Any

from respq.contract.status import ACTIVE_STATUSES, BatchStatus
from respq.producer.batch_info import BatchInfo
from respq.producer.costs import BatchCost
from respq.producer.pacing import Pace, duration
from respq.server.webhook_view import webhook_section

Samples = dict[str, list[tuple[str, str]]]
CANCELLABLE = ACTIVE_STATUSES - {BatchStatus.CANCELLING}


@cache
def template(name: str) -> Template:
    text = resources.files("respq.server").joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text)


def page(title: str, body: str, *, signed_in: bool = True, monitoring: bool = True) -> str:
    """A dashboard page; the Workers and Limits links only with ``monitoring`` (for who may
    see them: ``KeyRing.sees_deployment``)."""
    logout = (
        '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
        if signed_in
        else ""
    )
    nav = '<a href="/">Batches</a>' + (
        '<a href="/workers">Workers</a><a href="/limits">Limits</a>' if monitoring else ""
    )
    return template("layout.html").substitute(
        title=escape(title), body=body, logout=logout, nav=nav
    )


def login_page(error: str | None = None) -> str:
    shown = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return page("Sign in", template("login.html").substitute(error=shown), signed_in=False)


def number(n: float | int) -> str:
    return f"{n:,.0f}" if isinstance(n, int) or n >= 100 else f"{n:,.2f}"


def money(cost: BatchCost) -> str:
    return "-" if cost.total is None else f"${cost.total:,.4f}"


def status_badge(status: BatchStatus) -> str:
    return f'<span class="status {escape(status)}">{escape(status.replace("_", " "))}</span>'


def progress(info: BatchInfo) -> str:
    counts = info.request_counts
    total = max(counts.total, 1)
    ok = 100 * counts.completed / total
    bad = 100 * counts.failed / total
    label = f"{info.done:,} / {counts.total:,}"
    return (
        f'<div class="bar" role="progressbar" aria-valuenow="{info.done}" '
        f'aria-valuemax="{counts.total}" title="{label}">'
        f'<span class="ok" style="width:{ok:.2f}%"></span>'
        f'<span class="bad" style="width:{bad:.2f}%"></span></div>'
        f'<span class="bar-label">{label}</span>'
    )


def rate_and_eta(info: BatchInfo) -> tuple[str, str]:
    pace = Pace.of(info, time.time())
    rate = f"{pace.rate:,.1f}/s" if pace.rate else "-"
    eta = duration(pace.eta) if pace.eta and info.status in ACTIVE_STATUSES else "-"
    return rate, eta


def error_codes(info: BatchInfo) -> str:
    if not info.errors_by_code:
        return '<span class="quiet">none</span>'
    return (
        '<span class="codes">'
        + "".join(f"<span>{escape(c)} {n:,}</span>" for c, n in info.errors_by_code.items())
        + "</span>"
    )


def batches_table(rows: list[tuple[BatchInfo, BatchCost]]) -> str:
    if not rows:
        return '<p class="empty">No batches yet.</p>'
    body = []
    for info, cost in rows:
        rate, eta = rate_and_eta(info)
        bid = escape(info.id)
        body.append(
            f'<tr data-batch="{bid}"><td><a href="/batches/{bid}">{bid}</a>'
            f'<br><small class="quiet endpoint">{escape(info.endpoint)}</small></td>'
            f"<td>{status_badge(info.status)}</td><td>{progress(info)}</td>"
            f'<td class="num">{rate}</td><td class="num">{eta}</td>'
            f'<td class="num">{number(info.usage.total_tokens)}</td>'
            f'<td class="num">{money(cost)}</td><td>{error_codes(info)}</td></tr>'
        )
    return (
        '<table id="batches"><thead><tr><th>batch</th><th>status</th><th>progress</th>'
        '<th class="num">rate</th><th class="num">eta</th><th class="num">tokens</th>'
        '<th class="num">cost</th><th>errors</th></tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table>"
    )


def fact(label: str, value: str) -> str:
    return f'<div class="fact"><small>{escape(label)}</small><b>{value}</b></div>'


def batch_detail(info: BatchInfo, cost: BatchCost, samples: Samples) -> str:
    bid = escape(info.id)
    rate, eta = rate_and_eta(info)
    counts = info.request_counts
    actions = []
    if info.status in CANCELLABLE:
        actions.append(
            f'<button class="danger" data-post="/batches/{bid}/cancel">Cancel batch</button>'
        )
    if info.output_file_id:
        actions.append(f'<a class="button" href="/batches/{bid}/output.jsonl">Download results</a>')
    if info.error_file_id:
        actions.append(f'<a class="button" href="/batches/{bid}/errors.jsonl">Download errors</a>')
    parts = [
        f"<h1>{bid} {status_badge(info.status)}</h1>",
        '<div class="actions">' + "".join(actions) + '<span id="note" class="error"></span></div>',
        progress(info),
        '<div class="facts">',
        fact("endpoint", escape(info.endpoint)),
        fact("succeeded", f"{counts.completed:,}"),
        fact("failed", f"{counts.failed:,}"),
        fact("in flight", f"{info.in_flight:,}"),
        fact("rate", rate),
        fact("eta", eta),
        fact("tokens", number(info.usage.total_tokens)),
        fact("cost", money(cost)),
        "</div>",
        _models(info, cost),
        _errors(info, samples),
    ]
    if input_errors(info):
        parts.append(_validation_errors(info))
    parts.append(webhook_section(info))
    return "".join(parts)


def _models(info: BatchInfo, cost: BatchCost) -> str:
    if not info.usage_by_model:
        return '<h2>Usage by model</h2><p class="empty">No usage yet.</p>'
    rows = "".join(
        f"<tr><td>{escape(model)}</td><td class='num'>{u.requests:,}</td>"
        f"<td class='num'>{u.input_tokens:,}</td><td class='num'>{u.output_tokens:,}</td>"
        f"<td class='num'>{u.total_tokens:,}</td><td class='num'>"
        + (f"${cost.by_model[model]:,.4f}" if model in cost.by_model else "-")
        + "</td></tr>"
        for model, u in sorted(info.usage_by_model.items())
    )
    return (
        '<h2>Usage by model</h2><table id="models"><thead><tr><th>model</th>'
        '<th class="num">requests</th><th class="num">input tokens</th>'
        '<th class="num">output tokens</th><th class="num">total tokens</th>'
        f'<th class="num">cost</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _errors(info: BatchInfo, samples: Samples) -> str:
    if not info.errors_by_code:
        return '<h2>Errors</h2><p class="empty">No failed requests.</p>'
    rows = []
    for code, count in info.errors_by_code.items():
        shown = "".join(
            f'<div class="sample"><code>{escape(cid)}</code>: {escape(message[:200])}</div>'
            for cid, message in samples.get(code, [])
        )
        rows.append(f"<tr><td><code>{escape(code)}</code></td><td class='num'>{count:,}</td>")
        rows.append(f"<td>{shown}</td></tr>")
    return (
        '<h2>Errors</h2><table id="errors"><thead><tr><th>code</th><th class="num">requests'
        "</th><th>sample lines</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def input_errors(info: BatchInfo) -> list[dict[str, Any]]:
    data = (info.errors or {}).get("data")
    return data if isinstance(data, list) else []


def _validation_errors(info: BatchInfo) -> str:
    rows = "".join(
        f"<tr><td class='num'>{escape(str(e.get('line') or '-'))}</td>"
        f"<td><code>{escape(str(e.get('code')))}</code></td>"
        f"<td>{escape(str(e.get('message')))}</td></tr>"
        for e in input_errors(info)[:100]
    )
    return (
        '<h2>Input file errors</h2><table id="input-errors"><thead><tr><th class="num">line'
        f"</th><th>code</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>"
    )

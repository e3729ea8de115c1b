"""The batch page's timeline section: four charts drawn by ``static/timeline.js`` with
uPlot (served from the package: ``scripts/vendor-assets`` copies it in), or, in a checkout
where that step was not run, a one-line note and the same numbers as a table."""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources

UPLOT_JS = "uPlot.iife.min.js"
UPLOT_CSS = "uPlot.min.css"
REFRESH_MS = 2000  # how often the charts ask for new buckets
CHARTS = (
    ("requests", "Requests finished per second"),
    ("tokens", "Tokens per minute"),
    ("errors", "Failed requests per second, by error code"),
    ("latency", "Upstream latency (seconds)"),
)
MISSING_NOTE = (
    "Charts need uPlot: run scripts/vendor-assets (it needs npm) and restart respq serve."
    " Meanwhile the numbers are in the table below."
)


@cache
def charts_vendored() -> bool:
    """Whether scripts/vendor-assets put uPlot into the package (a checkout where it was not
    run still serves the page, with tables instead of charts)."""
    vendor = resources.files("respq.server").joinpath("static", "vendor")
    return vendor.joinpath(UPLOT_JS).is_file() and vendor.joinpath(UPLOT_CSS).is_file()


def timeline_section(batch_id: str) -> str:
    """The batch page's charts (filled by static/timeline.js), or, without uPlot, a note
    and the same numbers as a table."""
    src = f"/batches/{escape(batch_id)}/timeline.json"
    vendored = charts_vendored()
    figures = "".join(
        f'<figure class="chart" id="chart-{name}"><figcaption>{escape(title)}</figcaption>'
        '<div class="plot"></div></figure>'
        for name, title in CHARTS
    )
    head = (
        f'<link rel="stylesheet" href="/static/vendor/{UPLOT_CSS}">'
        f'<script src="/static/vendor/{UPLOT_JS}" defer></script>'
        if vendored
        else ""
    )
    return (
        head
        + '<script src="/static/timeline.js" defer></script>'
        + f'<section id="timeline" data-timeline="{src}" data-refresh="{REFRESH_MS}">'
        + "<h2>Timeline</h2>"
        + f'<p class="note" id="charts-missing"{"" if not vendored else " hidden"}>'
        + f"{escape(MISSING_NOTE)}</p>"
        + '<p id="timeline-totals" class="quiet">No results yet.</p>'
        + f'<div class="charts"{"" if vendored else " hidden"}>{figures}</div>'
        + f'<details id="timeline-numbers"{"" if vendored else " open"}>'
        + '<summary>Numbers</summary><div id="timeline-table" class="scroll"></div>'
        + "</details></section>"
    )


__all__ = ["charts_vendored", "timeline_section"]

"""The dashboard's estimate of a batch's uploaded input file: what ``respq estimate``
prints (requests, input tokens, output cap, cost range per model with ``RESPQ_PRICES``).

Each file is estimated once, in a thread (it is read and validated whole, which takes
seconds for a large file), and kept in memory by file id: the page shows "estimating…"
until it is ready, and an uploaded file never changes.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape
from pathlib import Path
from typing import Any

from respq.contract.prices import PriceTable
from respq.producer.estimate import BatchEstimate, Estimator, shown_model
from respq.producer.jsonl_file import check_file
from respq.producer.settings import ClientSettings

log = logging.getLogger("respq.server")

# Estimates kept per server process (an entry is a few hundred bytes).
MAX_KEPT = 1000


def estimate_file(path: Path, settings: ClientSettings, prices: PriceTable | None) -> BatchEstimate:
    """The estimate of one batch file (in the calling thread)."""
    # Estimated in the validation pass, from the bodies it parsed.
    estimator = Estimator(default_max_output_tokens=settings.default_max_output_tokens)
    with check_file(path, max_request_bytes=settings.max_request_bytes, estimator=estimator):
        return estimator.result(prices)


class FileEstimates:
    """Estimates by file id; ``None`` while one is being made, a string when it failed."""

    def __init__(self) -> None:
        self.done: dict[str, BatchEstimate | str] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def get(
        self, file_id: str, path: Path, settings: ClientSettings, prices: PriceTable | None
    ) -> BatchEstimate | str | None:
        if file_id in self.done:
            return self.done[file_id]
        if file_id not in self._running:
            task = asyncio.create_task(self._make(file_id, path, settings, prices))
            self._running[file_id] = task
        return None

    async def _make(
        self, file_id: str, path: Path, settings: ClientSettings, prices: PriceTable | None
    ) -> None:
        try:
            result: BatchEstimate | str = await asyncio.to_thread(
                estimate_file, path, settings, prices
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a file that does not validate has no estimate
            result = f"no estimate: {exc.__class__.__name__}"
        finally:
            self._running.pop(file_id, None)
        if len(self.done) >= MAX_KEPT:
            self.done.pop(next(iter(self.done)))
        self.done[file_id] = result


def estimates_of(state: Any) -> FileEstimates:
    """The app's FileEstimates, made on first use."""
    found = getattr(state, "file_estimates", None)
    if found is None:
        found = state.file_estimates = FileEstimates()
    return found


def estimate_section(estimate: BatchEstimate | str | None) -> str:
    if estimate is None:
        body = '<p class="empty">Estimating the input file…</p>'
    elif isinstance(estimate, str):
        body = f'<p class="empty">{escape(estimate)}</p>'
    else:
        rows = "".join(
            f"<tr><td>{escape(shown_model(model))}</td><td class='num'>{m.requests:,}</td>"
            f"<td class='num'>{m.input_tokens:,}</td><td class='num'>{m.max_output_tokens:,}</td>"
            f"<td class='num'>{_range(m.cost_low, m.cost_high)}</td></tr>"
            for model, m in estimate.by_model.items()
        )
        total = (
            f"<tr><td><b>all</b></td><td class='num'>{estimate.requests:,}</td>"
            f"<td class='num'>{estimate.input_tokens:,}</td>"
            f"<td class='num'>{estimate.max_output_tokens:,}</td>"
            f"<td class='num'>{_range(estimate.cost_low, estimate.cost_high)}</td></tr>"
        )
        body = (
            '<table id="estimate"><thead><tr><th>model</th><th class="num">requests</th>'
            '<th class="num">input tokens</th><th class="num">output cap</th>'
            f'<th class="num">cost</th></tr></thead><tbody>{rows}{total}</tbody></table>'
        )
    return f"<h2>Estimate of the input file</h2>{body}"


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"${low:,.4f} – ${high:,.4f}"

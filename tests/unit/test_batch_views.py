"""Every view of a batch names its endpoint: ``respq status`` (and submit --wait, run),
``respq top``, and the dashboard's list and batch page."""

from __future__ import annotations

import io

from rich.console import Console

from respq import BatchInfo, BatchStatus
from respq.producer.cli.render import status_view, summary_line
from respq.producer.cli.top import Row, frame
from respq.producer.costs import BatchCost
from respq.server.views import batch_detail, batches_table


def info(endpoint: str) -> BatchInfo:
    return BatchInfo(id="batch_e", status=BatchStatus.IN_PROGRESS, endpoint=endpoint)


def shown(renderable: object) -> str:
    screen = io.StringIO()
    Console(file=screen, width=200).print(renderable)
    return screen.getvalue()


def test_the_cli_views_name_the_endpoint() -> None:
    batch = info("/v1/embeddings")
    assert "endpoint" in shown(status_view(batch)) and "/v1/embeddings" in shown(status_view(batch))
    assert summary_line(batch).endswith("0 tokens, /v1/embeddings")
    top = shown(frame([Row(batch, None, None)], workers=1, tpm_limit=0))
    assert "endpoint" in top and "embeddings" in top


def test_the_dashboard_names_the_endpoint() -> None:
    batch = info("/v1/chat/completions")
    cost = BatchCost()
    assert "/v1/chat/completions" in batches_table([(batch, cost)])
    assert "/v1/chat/completions" in batch_detail(batch, cost, {})

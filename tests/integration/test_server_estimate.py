"""The dashboard's batch page estimates the batch's uploaded file as ``respq estimate``
does: requests, input tokens, output cap and cost range per model."""

from __future__ import annotations

from pathlib import Path

import pytest

from respq import BatchClient
from respq.contract.prices import PriceTable

from helpers.factories import write_jsonl
from helpers.paths import PRICES
from helpers.polling import wait_until
from helpers.server import API_KEY, Stack, sdk, signed_in, start_batch
from helpers.shapes import jsonl_lines

pytestmark = pytest.mark.integration


def test_the_batch_page_shows_the_estimate_of_its_input_file(stack: Stack, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 7, model="gpt-5.4")
    batch_id = start_batch(sdk(stack), path)
    items = jsonl_lines(path.read_bytes())
    expected = BatchClient.from_url("redis://127.0.0.1:1/0").estimate(
        items, prices=PriceTable.load(str(PRICES))
    )
    with signed_in(stack, API_KEY) as browser:

        def page() -> str:
            return browser.get(f"/fragments/batches/{batch_id}").text

        wait_until(lambda: 'id="estimate"' in page(), 30, "the estimate on the batch page")
        html = page()
    gpt = expected.by_model["gpt-5.4"]
    assert "Estimate of the input file" in html
    assert f"<td class='num'>{gpt.input_tokens:,}</td>" in html
    assert f"<td class='num'>{gpt.max_output_tokens:,}</td>" in html
    assert gpt.cost_low is not None and gpt.cost_high is not None
    assert f"${gpt.cost_low:,.4f} – ${gpt.cost_high:,.4f}" in html

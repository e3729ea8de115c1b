"""``respq estimate FILE``: what a batch file would ask for, before it is sent and without
Redis — requests, input tokens, the output-token cap and, with ``RESPQ_PRICES``, the cost
range per model (``respq.producer.estimate``). The file is validated as ``respq submit``
validates it: one bad line and the command exits 2 naming it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from respq.contract.prices import PriceTable
from respq.producer.cli.app import app, console, get_state, run_async
from respq.producer.cli.file_argument import display_name, input_file
from respq.producer.cli.render import tokens, usd
from respq.producer.cli.submit import print_json, validate
from respq.producer.estimate import BatchEstimate, Estimator, shown_model
from respq.producer.settings import ClientSettings


def estimate_table(estimate: BatchEstimate) -> Table:
    priced = estimate.cost_low is not None
    table = Table(title=f"estimate ({estimate.requests:,} requests)", title_justify="left")
    for column in ("model", "requests", "input tokens", "output cap"):
        table.add_column(column, justify="left" if column == "model" else "right")
    if priced:
        table.add_column(f"cost ({estimate.currency})", justify="right")
    for model, share in estimate.by_model.items():
        row = [shown_model(model), f"{share.requests:,}", tokens(share.input_tokens)]
        row.append(tokens(share.max_output_tokens))
        if priced:
            low, high = share.cost_low, share.cost_high
            row.append("no price" if low is None else f"{usd(low)} – {usd(high)}")
        table.add_row(*row)
    total = ["all", f"{estimate.requests:,}", tokens(estimate.input_tokens)]
    total.append(tokens(estimate.max_output_tokens))
    if priced:
        total.append(f"{usd(estimate.cost_low)} – {usd(estimate.cost_high)}")
    table.add_row(*total, style="bold")
    return table


@app.command()
def estimate(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSONL batch file, or - for standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
) -> None:
    """Requests, input tokens, output-token cap and (with RESPQ_PRICES) cost per model of a
    batch file, without sending it or touching Redis.

    Input tokens are a heuristic (about 4 characters a token); the cost range runs from
    the input alone to the input plus every request's whole output cap.
    """
    state = get_state(ctx)

    async def go() -> BatchEstimate:
        prices = PriceTable.from_env()
        settings = ClientSettings()
        # Estimated in the validation pass, from the bodies it parsed: as fast as validating.
        estimator = Estimator(default_max_output_tokens=settings.default_max_output_tokens)
        with input_file(file) as path, validate(path, display_name(file), estimator):
            return estimator.result(prices)

    result = run_async(state, go())
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        console.print(estimate_table(result))

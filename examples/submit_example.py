"""Submit a small batch through respq's Python API, wait for it, print status and results.

This script only enqueues and waits: workers must already be running against the same
Redis and queue, for example ``docker compose --profile demo up -d mockapi worker-demo redis``
or, locally::

    python -m respq.mockapi --port 8400 &
    RESPQ_BASE_URL=http://127.0.0.1:8400/v1 RESPQ_API_KEY=demo arq respq.worker.WorkerSettings &
    python examples/submit_example.py --timeout 120

Redis and the queue come from RESPQ_REDIS_URL and RESPQ_QUEUE_NAME (defaults
``redis://localhost:6379/0`` and ``arq:queue``); ``--redis-url`` overrides the first.
Exits 0 when the batch completed, 1 when it did not finish within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from respq import BatchClient, Response, ResponsesRequest


def build_items() -> list[ResponsesRequest | dict[str, Any]]:
    """A mix of request objects, bare request bodies and OpenAI batch lines."""
    return [
        # ResponsesRequest objects get custom_ids line-1, line-2, ... by position.
        ResponsesRequest(model="gpt-5.4-mini", input="Say hello in Portuguese."),
        ResponsesRequest(
            model="gpt-5.4",
            instructions="Answer in one short sentence.",
            input="Why do batch APIs save money?",
            max_output_tokens=60,
        ),
        # A bare request body (a dict), validated exactly like an object.
        {"model": "gpt-4.1", "input": [{"role": "user", "content": "Name a blue fruit."}]},
        # An OpenAI batch line carries its own custom_id.
        {
            "custom_id": "city-json",
            "method": "POST",
            "url": "/v1/responses",
            "body": {
                "model": "gpt-5.4-mini",
                "input": "Extract the city from: 'Meet me in Oslo.'",
                "text": {
                    "format": {
                        "type": "json_schema",
                        "name": "city",
                        "schema": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                    }
                },
            },
        },
    ]


async def run(redis_url: str | None, timeout: float) -> int:
    async with BatchClient.from_url(redis_url) as client:
        await client.ping()
        batch = await client.submit(build_items(), metadata={"source": "submit_example.py"})
        print(f"submitted {batch.id}; waiting up to {timeout:g}s for the workers")
        try:
            info = await batch.wait(timeout=timeout)
        except TimeoutError as exc:
            print(f"not finished: {exc} (are workers running on this Redis and queue?)")
            return 1
        counts = info.request_counts
        print(
            f"status={info.status} total={counts.total} completed={counts.completed} "
            f"failed={counts.failed} tokens={info.usage.total_tokens}"
        )
        if info.errors_by_code:
            print(f"errors by code: {info.errors_by_code}")
        async for line in batch.results():
            if not line.succeeded:  # an HTTP error keeps its answer: error is None then
                print(f"{line.custom_id}: ERROR {line.code}")
                continue
            body = line.response.body if line.response is not None else None
            text = Response.model_validate(body).output_text if isinstance(body, dict) else ""
            print(f"{line.custom_id}: {(text or '').strip()[:100]}")
        return 0 if info.status == "completed" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis-url", default=None, help="default: RESPQ_REDIS_URL")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the batch (300)"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.redis_url, args.timeout))


if __name__ == "__main__":
    sys.exit(main())

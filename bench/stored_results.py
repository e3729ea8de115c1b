"""A finished batch written straight into Redis, the way the workers store its results (1 %
failures, in both of OpenAI's shapes), so the server's output files can be measured without
running a single request."""

from __future__ import annotations

import time

import orjson

from bench import stack
from respq.contract.constants import BatchKeys


def result_line(i: int) -> bytes:
    cid = f"req-{i}"
    if i % 100 == 99:  # 1 % failures, alternating OpenAI's two shapes
        if i % 200 == 99:
            return orjson.dumps(
                {
                    "id": f"batch_req_{i}",
                    "custom_id": cid,
                    "response": None,
                    "error": {"code": "batch_expired", "message": "expired"},
                }
            )
        body = {"error": {"code": "model_not_found", "message": "no such model"}}
        response = {"status_code": 404, "request_id": f"req_{i}", "body": body}
        return orjson.dumps({"id": f"b{i}", "custom_id": cid, "response": response, "error": None})
    body = {
        "id": f"resp_{i:024x}",
        "object": "response",
        "status": "completed",
        "model": "gpt-5.4-mini",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": f"A caption for item {i}."}],
            }
        ],
        "usage": {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21},
    }
    response = {"status_code": 200, "request_id": f"req_{i}", "body": body}
    return orjson.dumps({"id": f"b{i}", "custom_id": cid, "response": response, "error": None})


def store_results(batch_id: str, n: int) -> None:
    """A finished batch of ``n`` results, written the way the workers store them."""
    keys = BatchKeys(batch_id)
    redis = stack.sync_redis()
    failed = sum(1 for i in range(n) if i % 100 == 99)
    now = int(time.time())
    redis.hset(
        keys.meta,
        mapping={
            "id": batch_id,
            "status": "completed",
            "created_at": now,
            "in_progress_at": now,
            "completed_at": now,
            "total": n,
            "completed": n - failed,
            "failed": failed,
            "sealed": 1,
            "completion_window": "24h",
        },
    )
    redis.zadd("respq:batches", {batch_id: now})
    for start in range(0, n, 10_000):
        ids = [f"req-{i}" for i in range(start, min(n, start + 10_000))]
        pipe = redis.pipeline(transaction=False)
        pipe.rpush(keys.order, *ids)
        pipe.hset(keys.res, mapping={cid: result_line(int(cid[4:])) for cid in ids})
        pipe.execute()

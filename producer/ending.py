"""Ending a batch that nothing was enqueued for: ``failed`` (its input file did not
validate) or ``cancelled`` (cancelled while it was being validated). One script
(``contract/lua/end_unsealed.lua``) sets the status and writes the batch's webhook event, so the
event exists exactly when the batch has ended; ``respq serve``'s pipeline calls this."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from respq.contract.constants import BatchKeys
from respq.contract.status import BatchStatus
from respq.contract.webhooks import new_event_id

if TYPE_CHECKING:
    from respq.producer.client import BatchClient


async def end_unsealed(
    client: BatchClient,
    batch_id: str,
    status: BatchStatus,
    errors: dict[str, Any] | None = None,
) -> bool:
    """End the batch as ``status`` (FAILED with OpenAI's ``errors`` object, or
    CANCELLED) unless it is sealed or already ended; True when this call ended it."""
    keys = BatchKeys(batch_id)
    async with client.errors():
        ended = await client.scripts["end_unsealed"](
            batch=keys,
            status=status.value,
            now=int(time.time()),
            finished_ttl=client.settings.result_ttl,
            event_id=new_event_id(),
            errors=orjson.dumps(errors or {}),
        )
    return bool(int(ended))

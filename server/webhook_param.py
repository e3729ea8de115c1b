"""``respq_webhook``: respq's extension field on ``POST /v1/batches``.

The batch's own webhook receiver, as ``respq submit --webhook`` gives it; with the SDK,
``client.batches.create(..., extra_body={"respq_webhook": "https://…"})``. It is refused
with a 400 naming ``respq_webhook`` when it is not an http(s) URL or when its host
resolves to a non-public address (unless ``RESPQ_WEBHOOK_ALLOW_PRIVATE=true``), so a client
of a shared server cannot make its workers call internal services. The batch object
echoes it, without credentials or query, as ``respq_webhook``, and each event's delivery
as ``respq_webhook_deliveries``.
"""

from __future__ import annotations

from typing import Any, Final

from respq.contract.errors import BadRequest, WebhookTargetError
from respq.producer.client import BatchClient

WEBHOOK_PARAM: Final = "respq_webhook"


async def webhook_param(client: BatchClient, value: Any) -> str | None:
    """The checked receiver URL, None when the field is absent or null."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(
            f"'{WEBHOOK_PARAM}' must be an http(s) URL", param=WEBHOOK_PARAM, code="invalid_type"
        )
    try:
        return await client.check_webhook(value)
    except WebhookTargetError as exc:
        raise BadRequest(str(exc), param=WEBHOOK_PARAM, code="invalid_value") from None

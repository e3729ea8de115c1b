"""Webhooks: OpenAI's batch events, signed as Standard Webhooks.

When a batch ends, the script that ends it writes its event (``emit_batch_event`` in
``contract/lua/_common.lua``): ``batch.completed``, ``batch.failed``, ``batch.expired`` or
``batch.cancelled``. A worker delivers it (``worker/webhooks.py``) with OpenAI's thin
payload, ``{"id": "evt_…", "object": "event", "created_at", "type", "data": {"id": B}}``,
and the Standard Webhooks headers: ``webhook-id`` (the event id, the same on every
attempt, so receivers can dedupe), ``webhook-timestamp`` (the attempt's Unix time) and
``webhook-signature`` (``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``
keyed with the base64 part of a ``whsec_…`` secret). The official SDK's
``client.webhooks.unwrap(body, headers, secret=…)`` accepts it.

The receiver is the batch's own (``submit(..., webhook=URL)``, ``respq submit --webhook``,
``respq_webhook`` on ``POST /v1/batches``), else the server-wide ``RESPQ_WEBHOOK_URL``.
A batch with neither ends without an event: the scripts see the server-wide one as
``respq:webhook-receiver``, which workers that have it keep alive (``WebhookDeliverer.announce``).
Workers, the server and the CLI read the same ``RESPQ_WEBHOOK_*`` settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any, Final

import orjson
from pydantic import BaseModel, Field, SecretStr, field_validator

from respq.contract.constants import WEBHOOK_FIELD_PREFIX, WEBHOOK_URL_FIELD
from respq.contract.settings import EnvSettings
from respq.contract.webhook_targets import display_url, parse_target

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (the prefix of every secret, not one)
EVENT_TYPES: Final = ("batch.completed", "batch.failed", "batch.expired", "batch.cancelled")


class WebhookSettings(EnvSettings):
    """``RESPQ_WEBHOOK_*``: where events go, how they are signed and how long delivery is
    retried. The secret is a SecretStr: it signs, and is never stored, logged or shown."""

    webhook_url: str = ""
    webhook_secret: SecretStr | None = None
    # Receivers on loopback, private, link-local or other non-public addresses are refused
    # unless this is true: a client of a shared server must not make it call internal
    # services.
    webhook_allow_private: bool = False
    # The first retry comes this many seconds after a failed attempt, then twice as long
    # each time (plus up to a fifth more of jitter), for up to webhook_max_age seconds
    # after the event.
    webhook_retry_base: float = Field(default=5.0, gt=0)
    webhook_max_age: float = Field(default=72 * 3600.0, gt=0)
    # One attempt, from resolving the host to the answer's status line.
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None:
            secret_key(value.get_secret_value())
        return value

    @field_validator("webhook_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip()
        if value:
            parse_target(value)
        return value

    def key(self) -> bytes | None:
        """The signing key (the secret's decoded bytes), None without a secret."""
        if self.webhook_secret is None:
            return None
        return secret_key(self.webhook_secret.get_secret_value())


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (a bare base64 secret is taken too, as
    the Standard Webhooks libraries do); ValueError that never shows the secret."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64 (the secret is not shown)") from None
    if len(key) < 16:
        raise ValueError("must hold at least 16 bytes of key after whsec_")
    return key


def new_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    """A fresh event id; scripts that may end a batch take one, used only if they do."""
    return "evt_" + secrets.token_hex(16)


def event_body(event_id: str, event_type: str, created_at: int, batch_id: str) -> bytes:
    """OpenAI's thin event payload; the same bytes on every attempt."""
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "created_at": created_at,
            "type": event_type,
            "data": {"id": batch_id},
        }
    )


def signature(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, event_id, timestamp, body),
    }


class WebhookDelivery(BaseModel):
    """One event of a batch and where its delivery stands: ``pending`` (not tried yet),
    ``retrying`` (an attempt failed; ``next_attempt_at`` says when the next one goes),
    ``delivered`` (a 2xx answer) or ``failed`` (given up after ``RESPQ_WEBHOOK_MAX_AGE``)."""

    event_id: str
    type: str
    created_at: int
    state: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    last_status_code: int | None = None
    last_attempt_at: int | None = None
    next_attempt_at: int | None = None
    delivered_at: int | None = None


def deliveries(meta: dict[str, str]) -> list[WebhookDelivery]:
    """The batch's events from its meta fields (``webhook:<event id>``), oldest first."""
    found: list[WebhookDelivery] = []
    for name, value in meta.items():
        if not name.startswith(WEBHOOK_FIELD_PREFIX):
            continue
        try:
            state: dict[str, Any] = orjson.loads(value)
            found.append(
                WebhookDelivery.model_validate(
                    {**state, "event_id": name[len(WEBHOOK_FIELD_PREFIX) :]}
                )
            )
        except (orjson.JSONDecodeError, ValueError):
            continue  # a field this version cannot read is shown as nothing, not a crash
    return sorted(found, key=lambda d: (d.created_at, d.event_id))


def batch_webhook(meta: dict[str, str]) -> str | None:
    """The batch's own receiver as shown to people: no credentials, no query."""
    url = meta.get(WEBHOOK_URL_FIELD)
    return display_url(url) if url else None

"""Producer settings, read from the environment with prefix ``RESPQ_``."""

from __future__ import annotations

from pydantic import Field

from respq.contract.constants import DEFAULT_QUEUE_NAME
from respq.contract.settings import EnvSettings
from respq.producer.errors import InvalidOption
from respq.producer.validation import DEFAULT_MAX_REQUEST_BYTES


class ClientSettings(EnvSettings):
    """What a producer needs to know: where Redis is and how to lay out jobs."""

    redis_url: str = "redis://localhost:6379/0"
    queue_name: str = DEFAULT_QUEUE_NAME
    chunk_size: int = Field(default=16, ge=1, le=1000)
    result_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    completion_window: str = "24h"
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    # RESPQ_WEBHOOK_ALLOW_PRIVATE, as the workers read it: a batch's own webhook receiver
    # on a non-public address is refused at submit unless it is true.
    webhook_allow_private: bool = False
    # Output tokens assumed for a request that sets no max_output_tokens (the workers' own
    # setting): the output cap of respq estimate.
    default_max_output_tokens: int = Field(default=4096, ge=1)


def parse_window(text: str) -> int:
    """``24h``, ``90m``, ``3600s``, ``2d`` or plain seconds → seconds (0 = no window)."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            value = float(text[:-1]) * units[text[-1]]
        else:
            value = float(text)
    except ValueError:
        raise InvalidOption(
            f"completion window {text!r} is not a duration like 24h, 90m or 3600s"
        ) from None
    if value < 0:
        raise InvalidOption("completion window must not be negative")
    return int(value)

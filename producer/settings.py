"""Producer settings, read from the environment with prefix ``RESPQ_``."""

from __future__ import annotations

import re
from typing import Final

from pydantic import Field, field_validator

from respq.contract.constants import DEFAULT_QUEUE_NAME, DEFAULT_RESULT_TTL_S
from respq.contract.errors import InvalidOption
from respq.contract.redis_conn import DEFAULT_REDIS_TIMEOUT
from respq.contract.settings import EnvSettings
from respq.producer.validation import DEFAULT_MAX_REQUEST_BYTES

# OpenAI accepts only "24h". respq also keeps longer windows of whole hours or days, up to
# 30 days (OpenAI's longest file expiry): a batch's keys and job records live for its
# window plus RESPQ_RESULT_TTL, so an unbounded window would keep them for ever.
OPENAI_WINDOW: Final = "24h"
MIN_WINDOW_S: Final = 24 * 3600
MAX_WINDOW_S: Final = 30 * 86400
_WINDOW_RE: Final = re.compile(r"([0-9]{1,4})([hd])")
_UNIT_S: Final = {"h": 3600, "d": 86400}


class ClientSettings(EnvSettings):
    """What a producer needs to know: where Redis is and how to lay out jobs."""

    redis_url: str = "redis://localhost:6379/0"
    # Seconds any one wait on Redis may take (a connect, a reply, a send) before the call
    # fails as RedisNotResponding: a frozen or cut-off Redis is reported, not waited on.
    redis_timeout: float = Field(default=DEFAULT_REDIS_TIMEOUT, gt=0, le=3600)
    queue_name: str = DEFAULT_QUEUE_NAME
    chunk_size: int = Field(default=16, ge=1, le=1000)
    result_ttl: int = Field(default=DEFAULT_RESULT_TTL_S, ge=60)
    completion_window: str = OPENAI_WINDOW
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    # RESPQ_WEBHOOK_ALLOW_PRIVATE, as the workers read it: a batch's own webhook receiver
    # on a non-public address is refused at submit unless it is true.
    webhook_allow_private: bool = False
    # Output tokens assumed for a request that sets no max_output_tokens (the workers' own
    # setting): the output cap of respq estimate.
    default_max_output_tokens: int = Field(default=4096, ge=1)

    @field_validator("completion_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value


def parse_window(text: str) -> int:
    """A batch's completion window in seconds: OpenAI's ``24h``, or respq's longer windows
    of whole hours or days (``48h``, ``7d``) up to ``30d``. Anything else (``inf``, ``0``,
    ``1``, ``90m``) is an InvalidOption, wherever it comes from: the API, the CLI flag,
    ``submit(completion_window=...)`` or RESPQ_COMPLETION_WINDOW."""
    match = _WINDOW_RE.fullmatch(text) if isinstance(text, str) else None
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
        shown = text[:40] if isinstance(text, str) else type(text).__name__
        raise InvalidOption(
            f"completion_window {shown!r} is not supported: use {OPENAI_WINDOW!r} (OpenAI's "
            "only window) or a longer one in whole hours or days up to 30d, such as 48h or 7d"
        )
    return seconds

"""The token estimate the workers charge before a request is sent; it lives in
``contract/token_estimate.py``, shared with the producer's ``respq estimate``."""

from __future__ import annotations

from respq.contract.token_estimate import (
    FILE_TOKENS,
    IMAGE_TOKENS,
    MESSAGE_TOKENS,
    estimate_input_tokens,
    estimate_tokens,
    output_cap,
)

__all__ = [
    "FILE_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_TOKENS",
    "estimate_input_tokens",
    "estimate_tokens",
    "output_cap",
]

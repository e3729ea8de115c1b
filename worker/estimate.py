"""The worker's token estimates, one per endpoint: they live in ``contract.estimate``,
beside the endpoint table (``contract.endpoints``) that names each endpoint's own."""

from contract.estimate import (
    FILE_TOKENS,
    IMAGE_TOKENS,
    MESSAGE_TOKENS,
    estimate_chat,
    estimate_completion,
    estimate_embedding,
    estimate_moderation,
    estimate_tokens,
)

__all__ = [
    "FILE_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_TOKENS",
    "estimate_chat",
    "estimate_completion",
    "estimate_embedding",
    "estimate_moderation",
    "estimate_tokens",
]

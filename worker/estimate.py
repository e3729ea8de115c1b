"""The worker's token estimates: they live in ``respq.contract.estimate``, beside the endpoint
table (``respq.contract.endpoints``: ``Endpoint.estimate``) that names each endpoint's own."""

from respq.contract.estimate import FILE_TOKENS, IMAGE_TOKENS, MESSAGE_TOKENS, estimate_tokens

__all__ = ["FILE_TOKENS", "IMAGE_TOKENS", "MESSAGE_TOKENS", "estimate_tokens"]

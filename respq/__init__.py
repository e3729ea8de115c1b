"""respq: run large batches of OpenAI-compatible requests through Redis and arq workers.

The public API is the producer's: validate and submit batches, follow them, collect their
results. The worker (``respq[worker]``), the Batch API server (``respq[server]``) and the
stand-in upstream (``respq[mock]``) are optional parts, each in its own subpackage::

    from respq import BatchClient, ResponsesRequest

    async with BatchClient.from_url("redis://localhost:6379/0") as client:
        batch = await client.submit([ResponsesRequest(model="gpt-5.4", input="Hi")])
"""

from respq.contract.chat_request import ChatCompletionRequest
from respq.contract.completion_request import CompletionRequest
from respq.contract.embedding_request import EmbeddingRequest
from respq.contract.endpoints import ENDPOINTS, Endpoint
from respq.contract.errors import (
    BatchNotFound,
    BatchStateError,
    BatchTimeout,
    InvalidInput,
    InvalidOption,
    MissingExtra,
    PriceTableError,
    RedisFailure,
    RedisNotResponding,
    RedisOutOfMemory,
    RedisReadOnly,
    RedisRefused,
    RedisUnavailable,
    RespqError,
    SettingsError,
    UnknownEndpoint,
)
from respq.contract.image_request import ImageEditRequest, ImageGenerationRequest
from respq.contract.lines import InputLine, ItemProblem, OutputLine
from respq.contract.moderation_request import ModerationRequest
from respq.contract.prices import PriceTable
from respq.contract.request import ResponsesRequest
from respq.contract.response import Response, Usage
from respq.contract.status import TERMINAL_STATUSES, BatchStatus
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo, RequestCounts, UsageTotals
from respq.producer.client import BatchClient
from respq.producer.costs import BatchCost
from respq.producer.settings import ClientSettings

__all__ = [
    "ENDPOINTS",
    "TERMINAL_STATUSES",
    "Batch",
    "BatchClient",
    "BatchCost",
    "BatchInfo",
    "BatchNotFound",
    "BatchStateError",
    "BatchStatus",
    "BatchTimeout",
    "ChatCompletionRequest",
    "ClientSettings",
    "CompletionRequest",
    "EmbeddingRequest",
    "Endpoint",
    "ImageEditRequest",
    "ImageGenerationRequest",
    "InputLine",
    "InvalidInput",
    "InvalidOption",
    "ItemProblem",
    "MissingExtra",
    "ModerationRequest",
    "OutputLine",
    "PriceTable",
    "PriceTableError",
    "RedisFailure",
    "RedisNotResponding",
    "RedisOutOfMemory",
    "RedisReadOnly",
    "RedisRefused",
    "RedisUnavailable",
    "RequestCounts",
    "Response",
    "ResponsesRequest",
    "RespqError",
    "SettingsError",
    "UnknownEndpoint",
    "Usage",
    "UsageTotals",
]

"""respq's producer side: the job contract, the Redis layout and the client API."""

from contract.chat_request import ChatCompletionRequest
from contract.completion_request import CompletionRequest
from contract.embedding_request import EmbeddingRequest
from contract.endpoints import ENDPOINTS, Endpoint, UnknownEndpoint
from contract.errors import RespqError
from contract.lines import InputLine, OutputLine
from contract.moderation_request import ModerationRequest
from contract.prices import PriceTable, PriceTableError
from contract.request import ResponsesRequest
from contract.response import Response, Usage
from contract.status import TERMINAL_STATUSES, BatchStatus
from producer.batch import Batch
from producer.batch_info import BatchInfo, RequestCounts, UsageTotals
from producer.client import BatchClient
from producer.costs import BatchCost
from producer.errors import (
    BatchNotFound,
    BatchStateError,
    InvalidInput,
    ItemProblem,
    RedisUnavailable,
)
from producer.settings import ClientSettings

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
    "ChatCompletionRequest",
    "ClientSettings",
    "CompletionRequest",
    "EmbeddingRequest",
    "Endpoint",
    "InputLine",
    "InvalidInput",
    "ItemProblem",
    "ModerationRequest",
    "OutputLine",
    "PriceTable",
    "PriceTableError",
    "RedisUnavailable",
    "RequestCounts",
    "Response",
    "ResponsesRequest",
    "RespqError",
    "UnknownEndpoint",
    "Usage",
    "UsageTotals",
]

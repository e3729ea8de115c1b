"""respq's producer side: the job contract, the Redis layout and the client API."""

from contract.errors import RespqError
from contract.lines import InputLine, OutputLine
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
    RedisFailure,
    RedisNotResponding,
    RedisOutOfMemory,
    RedisReadOnly,
    RedisRefused,
    RedisUnavailable,
)
from producer.settings import ClientSettings

__all__ = [
    "TERMINAL_STATUSES",
    "Batch",
    "BatchClient",
    "BatchCost",
    "BatchInfo",
    "BatchNotFound",
    "BatchStateError",
    "BatchStatus",
    "ClientSettings",
    "InputLine",
    "InvalidInput",
    "ItemProblem",
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
    "Usage",
    "UsageTotals",
]

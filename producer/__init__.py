"""respq's producer side: the job contract, the Redis layout and the client API."""

from producer.batch_info import BatchInfo, RequestCounts, UsageTotals
from producer.client import Batch, BatchClient
from producer.errors import (
    BatchNotFound,
    BatchStateError,
    InvalidInput,
    ItemProblem,
    RedisUnavailable,
    RespqError,
)
from producer.lines import InputLine, OutputLine
from producer.models import ResponsesRequest
from producer.prices import BatchCost, PriceTable, PriceTableError
from producer.response import Response, Usage
from producer.settings import ClientSettings
from producer.status import TERMINAL_STATUSES, BatchStatus

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
    "RedisUnavailable",
    "RequestCounts",
    "Response",
    "ResponsesRequest",
    "RespqError",
    "Usage",
    "UsageTotals",
]

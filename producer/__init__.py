"""respq's producer side: the job contract, the Redis layout and the client API."""

from respq.contract.errors import RespqError
from respq.contract.lines import InputLine, OutputLine
from respq.contract.prices import PriceTable, PriceTableError
from respq.contract.request import ResponsesRequest
from respq.contract.response import Response, Usage
from respq.contract.status import TERMINAL_STATUSES, BatchStatus
from respq.producer.batch import Batch
from respq.producer.batch_info import BatchInfo, RequestCounts, UsageTotals
from respq.producer.client import BatchClient
from respq.producer.costs import BatchCost
from respq.producer.errors import (
    BatchNotFound,
    BatchStateError,
    InvalidInput,
    ItemProblem,
    RedisUnavailable,
)
from respq.producer.settings import ClientSettings

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

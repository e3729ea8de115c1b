"""Batch statuses, named as OpenAI's Batch API names them."""

from enum import StrEnum
from typing import Final


class BatchStatus(StrEnum):
    """Where a batch is in its life."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"
    PAUSED = "paused"


TERMINAL_STATUSES: Final = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED, BatchStatus.EXPIRED}
)
# Every status a batch can still leave: it has requests to run, or is paused or cancelling.
ACTIVE_STATUSES: Final = frozenset(set(BatchStatus) - TERMINAL_STATUSES)

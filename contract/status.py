"""Batch statuses, named as OpenAI's Batch API names them."""

from enum import StrEnum
from typing import Final


class BatchStatus(StrEnum):
    """Where a batch is in its life."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"
    PAUSED = "paused"


TERMINAL_STATUSES: Final = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.CANCELLED, BatchStatus.FAILED, BatchStatus.EXPIRED}
)
ACTIVE_STATUSES: Final = frozenset(
    {
        BatchStatus.VALIDATING,
        BatchStatus.IN_PROGRESS,
        BatchStatus.FINALIZING,
        BatchStatus.CANCELLING,
    }
)

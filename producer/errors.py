"""Errors raised by the producer side; every one is a ``contract.errors.RespqError``
(the whole tree is drawn there).

RespqError
 ├── InvalidInput          one or more batch items failed validation (lists every one)
 ├── InvalidOption         a submit option (priority, max_in_flight, max_cost) is out of
 │                         range; also a ValueError
 ├── BatchNotFound         no batch with that id in Redis
 ├── BatchStateError       the batch is not in a state that allows the operation
 ├── BatchTimeout          Batch.wait ran out of time; also a TimeoutError
 └── RedisUnavailable      Redis did not answer (URL shown without its password)
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import RespqError


@dataclass(frozen=True)
class ItemProblem:
    """One thing wrong with one batch item."""

    where: str  # "line 12" or "item 3"
    custom_id: str | None
    field: str  # dotted path, "" for the item as a whole
    message: str
    code: str | None = None  # OpenAI's batch error code, where the field alone won't say

    def __str__(self) -> str:
        cid = f" (custom_id {self.custom_id!r})" if self.custom_id else ""
        field = f" field {self.field!r}:" if self.field else ""
        return f"{self.where}{cid}:{field} {self.message}"


class InvalidInput(RespqError):
    """One or more batch items failed validation; nothing was enqueued."""

    def __init__(self, problems: list[ItemProblem], *, total_bad: int | None = None) -> None:
        self.problems = problems
        self.total_bad = total_bad if total_bad is not None else len(problems)
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = self.total_bad - min(len(problems), 20)
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(
            f"{self.total_bad} invalid item(s), nothing was enqueued:\n  {shown}{tail}"
        )


class InvalidOption(RespqError, ValueError):
    """A submit option is out of range; nothing was enqueued."""


class BatchNotFound(RespqError):
    """No batch with that id exists (or it expired)."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id!r} not found")


class RedisUnavailable(RespqError):
    """Redis did not answer."""

    def __init__(self, url: str, cause: BaseException | None = None) -> None:
        self.url = url
        detail = f": {cause}" if cause else ""
        super().__init__(f"cannot reach Redis at {url}{detail}")


class BatchStateError(RespqError):
    """The batch's status does not allow the operation."""


class BatchTimeout(RespqError, TimeoutError):
    """``Batch.wait`` gave up before the batch reached a terminal status."""

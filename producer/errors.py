"""Errors raised by the producer side; every one is a ``respq.contract.errors.RespqError``
(the whole tree is drawn there).

RespqError
 ├── InvalidInput              one or more batch items failed validation (lists every one)
 ├── InvalidOption             a submit option (priority, max_in_flight, max_cost) is out
 │                             of range; also a ValueError
 ├── BatchNotFound             no batch with that id in Redis
 ├── BatchStateError           the batch is not in a state that allows the operation
 ├── BatchTimeout              Batch.wait ran out of time; also a TimeoutError
 └── RedisFailure              a call to Redis failed; one line naming the URL (never its
      │                        password), the cause and the setting to change
      ├── RedisUnavailable     cannot reach Redis: refused, unknown host, reset, bad password
      │    └── RedisNotResponding  no answer within RESPQ_REDIS_TIMEOUT (frozen, cut off)
      └── RedisRefused         Redis answered with an error (MISCONF, NOPERM, ...)
           ├── RedisOutOfMemory    over its maxmemory, Redis refuses writes (OOM)
           └── RedisReadOnly       a read-only replica refuses writes (READONLY)

A Redis error never reaches a message whole: redis-py writes a failed pipeline's commands,
request bodies included, into its error; only the server's own reply is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from respq.contract.errors import RespqError

# What is kept of a server's error reply in a message.
MAX_REPLY_CHARS: Final = 200
# redis-py's note on an error inside a pipeline: "Command # 3 (EVALSHA <every argument>)
# of pipeline caused error: <reply>"; the arguments are the requests themselves.
_PIPELINE_NOTE: Final = " of pipeline caused error: "
_TUPLE_REPR = re.compile(r"^\((['\"])(.*)\1,\)$", re.DOTALL)


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


class RedisFailure(RespqError):
    """A call to Redis failed: the message names the URL (without its password), the
    cause and the setting to change."""

    summary = "Redis failed"  # the cause in a few words, for a message about something else

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url

    def add_outcome(self, outcome: str) -> None:
        """Say what became of the caller's work (a submit's batch) after the message."""
        self.args = (f"{self.args[0]}; {outcome}", *self.args[1:])


class RedisUnavailable(RedisFailure):
    """Redis could not be reached."""

    summary = "Redis cannot be reached"

    def __init__(self, url: str, cause: BaseException | str | None = None) -> None:
        detail = f" ({cause})" if cause else ""
        super().__init__(f"cannot reach Redis at {url}{detail}; check RESPQ_REDIS_URL", url)


class RedisNotResponding(RedisUnavailable):
    """Redis did not answer within RESPQ_REDIS_TIMEOUT (frozen, overloaded or cut off)."""

    summary = "Redis does not answer"

    def __init__(self, url: str, timeout: float | None) -> None:
        within = f"within {timeout:g}s " if timeout else "in time "
        RedisFailure.__init__(
            self,
            f"Redis at {url} did not answer {within}(RESPQ_REDIS_TIMEOUT): it is frozen, "
            "overloaded or cut off by the network; check that server, or raise "
            "RESPQ_REDIS_TIMEOUT if it is only slow",
            url,
        )
        self.timeout = timeout


class RedisRefused(RedisFailure):
    """Redis answered a command with an error."""

    summary = "Redis refused it"

    def __init__(self, url: str, reply: str) -> None:
        super().__init__(f"Redis at {url} refused a command: {reply}", url)
        self.reply = reply


class RedisOutOfMemory(RedisRefused):
    """Redis is over its maxmemory and refuses writes."""

    summary = "Redis is out of memory"

    def __init__(self, url: str, reply: str = "OOM") -> None:
        RedisFailure.__init__(
            self,
            f"Redis at {url} is out of memory (used memory over its maxmemory) and refuses "
            "writes: raise maxmemory or free memory on that server (keep "
            "maxmemory-policy noeviction)",
            url,
        )
        self.reply = reply


class RedisReadOnly(RedisRefused):
    """Redis is a read-only replica and refuses writes."""

    summary = "Redis is read-only"

    def __init__(self, url: str, reply: str = "READONLY") -> None:
        RedisFailure.__init__(
            self,
            f"Redis at {url} is a read-only replica and refuses writes: point "
            "RESPQ_REDIS_URL at the primary (or at its Sentinels, redis+sentinel://)",
            url,
        )
        self.reply = reply


def server_reply(exc: BaseException) -> str:
    """The server's own words in a Redis error, without what redis-py adds around them
    (a pipeline's commands), cut to MAX_REPLY_CHARS."""
    text = str(exc.args[0]) if exc.args else str(exc)
    if _PIPELINE_NOTE in text:
        text = text.rpartition(_PIPELINE_NOTE)[2]
        quoted = _TUPLE_REPR.match(text)
        if quoted:
            text = quoted.group(2)
    text = " ".join(text.split())
    return text if len(text) <= MAX_REPLY_CHARS else text[:MAX_REPLY_CHARS] + "…"


def redis_failure(exc: BaseException, url: str, timeout: float | None) -> RedisFailure | None:
    """The RedisFailure for a library error met talking to Redis at ``url`` (redacted),
    or None when ``exc`` is not one (a bug to raise as it is). Its text is cut down to the
    server's reply in place, so that chaining it leaks no request."""
    reply = server_reply(exc)
    if isinstance(exc, RedisError | OSError) and exc.args and str(exc.args[0]) != reply:
        exc.args = (reply,)
    if isinstance(exc, ResponseError):
        if isinstance(exc, OutOfMemoryError):
            return RedisOutOfMemory(url, reply)
        if isinstance(exc, ReadOnlyError):
            return RedisReadOnly(url, reply)
        return RedisRefused(url, reply)
    # The builtin TimeoutError too: a bounded connect raises it before redis-py wraps it.
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return RedisNotResponding(url, timeout)
    if isinstance(exc, RedisConnectionError | OSError):
        return RedisUnavailable(url, exc)
    return None


class BatchStateError(RespqError):
    """The batch's status does not allow the operation."""


class BatchTimeout(RespqError, TimeoutError):
    """``Batch.wait`` gave up before the batch reached a terminal status."""

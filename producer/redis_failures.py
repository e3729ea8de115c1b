"""What a Redis library error becomes: a ``RedisFailure`` (contract/errors.py) of one line
naming the URL (never its password), the cause and the setting to change.

A Redis error never reaches a message whole: redis-py writes a failed pipeline's commands,
request bodies included, into its error; only the server's own reply is kept.
"""

from __future__ import annotations

import re
from typing import Final

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from respq.contract import errors

# What is kept of a server's error reply in a message.
MAX_REPLY_CHARS: Final = 200
# redis-py's note on an error inside a pipeline: "Command # 3 (EVALSHA <every argument>)
# of pipeline caused error: <reply>"; the arguments are the requests themselves.
_PIPELINE_NOTE: Final = " of pipeline caused error: "
_TUPLE_REPR = re.compile(r"^\((['\"])(.*)\1,\)$", re.DOTALL)


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


def redis_failure(
    exc: BaseException, url: str, timeout: float | None
) -> errors.RedisFailure | None:
    """The RedisFailure for a library error met talking to Redis at ``url`` (redacted),
    or None when ``exc`` is not one (a bug to raise as it is). Its text is cut down to the
    server's reply in place, so that chaining it leaks no request."""
    reply = server_reply(exc)
    if isinstance(exc, RedisError | OSError) and exc.args and str(exc.args[0]) != reply:
        exc.args = (reply,)
    if isinstance(exc, ResponseError):
        if isinstance(exc, OutOfMemoryError):
            return errors.RedisOutOfMemory(
                f"Redis at {url} is out of memory (used memory over its maxmemory) and "
                "refuses writes: raise maxmemory or free memory on that server (keep "
                "maxmemory-policy noeviction)",
                url,
            )
        if isinstance(exc, ReadOnlyError):
            return errors.RedisReadOnly(
                f"Redis at {url} is a read-only replica and refuses writes: point "
                "RESPQ_REDIS_URL at the primary (or at its Sentinels, redis+sentinel://)",
                url,
            )
        return errors.RedisRefused(f"Redis at {url} refused a command: {reply}", url)
    # The builtin TimeoutError too: a bounded connect raises it before redis-py wraps it.
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        within = f"within {timeout:g}s " if timeout else "in time "
        return errors.RedisNotResponding(
            f"Redis at {url} did not answer {within}(RESPQ_REDIS_TIMEOUT): it is frozen, "
            "overloaded or cut off by the network; check that server, or raise "
            "RESPQ_REDIS_TIMEOUT if it is only slow",
            url,
        )
    if isinstance(exc, RedisConnectionError | OSError):
        return errors.RedisUnavailable(
            f"cannot reach Redis at {url} ({exc}); check RESPQ_REDIS_URL", url
        )
    return None

"""Every error respq raises to a user, defined here, in one tree (tests/unit/test_exception_tree.py
checks the drawing against the classes; ``+ X`` names a second base class):

RespqError                           base of every error respq raises on purpose
 ├── SettingsError + SystemExit      a bad RESPQ_* value: one line naming it, no traceback
 ├── MissingExtra + ImportError      a part used without its extra (pip install 'respq[…]')
 ├── PriceTableError                 a price table is missing, unreadable or malformed
 ├── UnknownEndpoint + ValueError    a url or endpoint that names no endpoint respq runs
 ├── WebhookTargetError + ValueError a webhook URL respq will not call
 ├── StoredLineError                 a stored result line this version cannot read
 ├── VectorError                     stored vectors that cannot be read back
 ├── InvalidInput                    batch items failed validation; nothing was enqueued
 │    └── InvalidFile                … the lines of one file: the message names the file
 ├── InvalidOption + ValueError      a submit option (priority, max_in_flight, …) out of range
 ├── BatchNotFound                   no batch with that id (or it expired)
 ├── BatchStateError                 the batch's status does not allow the operation
 ├── BatchTimeout + TimeoutError     Batch.wait gave up before the batch ended
 ├── RedisFailure                    a call to Redis failed (exit 3): URL, cause, what to set
 │    ├── RedisUnavailable           Redis cannot be reached (exit 3)
 │    │    └── RedisNotResponding    no answer within RESPQ_REDIS_TIMEOUT (exit 4)
 │    └── RedisRefused               Redis answered with an error, e.g. MISCONF (exit 7)
 │         ├── RedisOutOfMemory      over its maxmemory, writes refused (exit 5)
 │         └── RedisReadOnly         a read-only replica, writes refused (exit 6)
 ├── UnsupportedRedis                Redis older than 7.0 (a worker exits 2)
 ├── EmptyFile                       a batch file holds no request
 ├── FileChanged                     a file changed size while it was being validated
 ├── SpoolFull                       no space under TMPDIR for a submit's spool (exit 8)
 ├── ModelCheckError                 --check-models: the model list could not be fetched
 ├── CliError                        a command's expected failure: one message, its exit code
 ├── ApiError                        respq serve: an HTTP error in OpenAI's error shape
 │    ├── NotFound                   no such file or batch (404)
 │    ├── BadRequest                 a request OpenAI's API would refuse (400)
 │    │    └── PayloadTooLarge       a body, upload or form over its limit (413)
 │    ├── Unauthorized               a missing or wrong API key (401)
 │    ├── TooManyRequests            too many wrong keys from one client address (429)
 │    └── StorageFailed              RESPQ_FILES_DIR refused to store an upload (500)
 │         └── StorageFull           … because it is out of space or quota (507)
 ├── BadKeySetting                   respq serve: a client key entry cannot be read
 ├── NoKeysConfigured                respq serve: no client keys and no --no-auth
 ├── BadLogLevel                     respq serve: a --log-level it refuses
 ├── FilesDirUnusable                respq serve: RESPQ_FILES_DIR cannot store uploads
 ├── LeaseLost                       another worker took the job over: not sent from here
 └── UpstreamError                   a failed upstream call: code, message, HTTP status, body
      ├── RetryableError             worth another attempt (tenacity retries these)
      │    ├── RateLimited           429 that is a rate limit (not a quota)
      │    ├── ServerError           408, 409, 5xx, or x-should-retry: true
      │    ├── UpstreamTimeout       no answer within the request timeout
      │    ├── ConnectionFailed      the connection could not be made or broke
      │    └── StreamInterrupted     an SSE stream that ended before its final event
      └── FinalError                 retrying cannot help
           ├── ClientError           a 4xx answered the same again (model_not_found, …)
           ├── QuotaExceeded         429 insufficient_quota: out of credit
           ├── InvalidResponse       a 2xx whose body is not a valid answer
           ├── StreamFailed          the stream carried an error or response.failed event
           └── RequestTooLarge       the request can never fit the token limit

Not drawn: exceptions that never leave respq, raised and caught by their own module
(worker/retry.py's DeferRequest, the CLI's StartError and StopFollowing, the validator's
_LineProblem). A Redis error never reaches a message whole (producer/redis_failures.py
keeps only the server's reply: redis-py writes a pipeline's commands into its errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from respq.contract.exit_codes import ExitCode

if TYPE_CHECKING:
    from respq.contract.lines import ItemProblem


class RespqError(Exception):
    """Base class of every error respq raises on purpose."""


class SettingsError(RespqError, SystemExit):
    """A bad ``RESPQ_*`` value: one line naming each variable and what it allows. Also a
    SystemExit: a process with no handler for it stops with that line, status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = message  # what the interpreter prints when nothing catches it


class MissingExtra(RespqError, ImportError):
    """An optional part of respq was used without its extra installed."""

    def __init__(self, extra: str, what: str, missing: list[str]) -> None:
        super().__init__(
            f"{what} needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f"pip install 'respq[{extra}]'"
        )
        self.extra = extra


class PriceTableError(RespqError):
    """A price table file is missing, unreadable or malformed."""


class UnknownEndpoint(RespqError, ValueError):
    """A url or endpoint that names no endpoint respq runs."""


class WebhookTargetError(RespqError, ValueError):
    """A webhook URL respq will not call: malformed, unresolvable, or on a non-public
    address while RESPQ_WEBHOOK_ALLOW_PRIVATE is off. The message never holds the URL's
    credentials or query."""


class StoredLineError(RespqError):
    """A stored result is neither a JSON line nor a packed one this version can read."""


class VectorError(RespqError):
    """Stored vectors that cannot be read back (a corrupt stored line)."""


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


class InvalidFile(InvalidInput):
    """InvalidInput for the lines of one file: the message names the file."""

    def __init__(self, name: str, exc: InvalidInput) -> None:
        super().__init__(exc.problems, total_bad=exc.total_bad)
        self.name = name


class InvalidOption(RespqError, ValueError):
    """A submit option is out of range; nothing was enqueued."""


class BatchNotFound(RespqError):
    """No batch with that id exists (or it expired)."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id!r} not found")


class BatchStateError(RespqError):
    """The batch's status does not allow the operation."""


class BatchTimeout(RespqError, TimeoutError):
    """``Batch.wait`` gave up before the batch reached a terminal status."""


class RedisFailure(RespqError):
    """A call to Redis failed: one line naming the URL (never its password), the cause and
    the setting to change (producer/redis_failures.py words each kind's)."""

    summary = "Redis failed"  # the cause in a few words, for a message about something else

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url

    def add_outcome(self, outcome: str) -> None:
        """Say what became of the caller's work (a submit's batch) after the message."""
        self.args = (f"{self.args[0]}; {outcome}", *self.args[1:])


class RedisUnavailable(RedisFailure):
    """Redis could not be reached: refused, unknown host, reset, bad password."""

    summary = "Redis cannot be reached"


class RedisNotResponding(RedisUnavailable):
    """Redis did not answer within RESPQ_REDIS_TIMEOUT (frozen, overloaded or cut off)."""

    summary = "Redis does not answer"


class RedisRefused(RedisFailure):
    """Redis answered a command with an error (MISCONF, NOPERM, …)."""

    summary = "Redis refused it"


class RedisOutOfMemory(RedisRefused):
    """Redis is over its maxmemory and refuses writes (OOM)."""

    summary = "Redis is out of memory"


class RedisReadOnly(RedisRefused):
    """Redis is a read-only replica and refuses writes (READONLY)."""

    summary = "Redis is read-only"


class UnsupportedRedis(RespqError):
    """The Redis server is too old for respq's scripts."""


class EmptyFile(RespqError):
    """A batch file holds no request (only blank lines, or nothing); nothing was enqueued."""


class FileChanged(RespqError):
    """The file changed size while it was being validated; nothing was enqueued."""


class SpoolFull(RespqError):
    """No space left under TMPDIR for the spool of validated requests (or for the copy of
    standard input); nothing was enqueued (the CLI exits 8)."""

    def __init__(self, what: str, needed: str) -> None:
        super().__init__(
            f"no space left under TMPDIR for {what}: this submit needs about {needed} free "
            "there; free some space or point TMPDIR at a larger disk; nothing was enqueued"
        )


class ModelCheckError(RespqError):
    """The model list could not be fetched (network, status or body)."""


class CliError(RespqError):
    """An expected failure of a command: printed as one message, then exit ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


class ApiError(RespqError):
    """An error answered with ``status`` and OpenAI's error body; a kind of error names its
    status and error type (``class X(ApiError, status=…, error_type=…)``)."""

    status, type = 500, "server_error"

    def __init_subclass__(cls, status: int = 0, error_type: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status, cls.type = status or cls.status, error_type or cls.type

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides its body."""
        return {}

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param}
        return {"error": {**error, "code": self.code}}


class NotFound(ApiError, status=404, error_type="invalid_request_error"):
    """No such file or batch (404)."""


class BadRequest(ApiError, status=400, error_type="invalid_request_error"):
    """A request OpenAI's API would refuse (400)."""


class PayloadTooLarge(BadRequest, status=413):
    """A request body, upload or form over its limit (413)."""


class Unauthorized(ApiError, status=401, error_type="invalid_request_error"):
    """A missing or wrong API key (401)."""


class TooManyRequests(ApiError, status=429, error_type="requests"):
    """Too many wrong keys from one client address (429, OpenAI's rate-limit shape)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, code="rate_limit_exceeded")
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


class StorageFailed(ApiError):
    """``RESPQ_FILES_DIR`` refused an upload (500): the setting and reason, never a path."""


class StorageFull(StorageFailed, status=507):
    """``RESPQ_FILES_DIR`` is out of space or quota (507 Insufficient Storage)."""


class BadKeySetting(RespqError):
    """A client key entry cannot be read (named by position, never by text: it may be a key)."""


class NoKeysConfigured(RespqError):
    """No client keys are set and ``--no-auth`` was not given."""


class FilesDirUnusable(RespqError):
    """``RESPQ_FILES_DIR`` cannot be created or written: said at start, in one line."""


class BadLogLevel(RespqError):
    """A ``--log-level`` that ``respq serve`` refuses."""


class LeaseLost(RespqError):
    """Another worker now owns this request (or has recorded it): it is not sent."""


class UpstreamError(RespqError):
    """A failed upstream call, with what the provider said; a kind of failure names the
    code it is recorded with unless the provider named one (``class X(…, code=…)``)."""

    default_code = "upstream_error"

    def __init_subclass__(cls, code: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.default_code = code or cls.default_code

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.code = message, code or self.default_code
        self.status_code, self.body, self.request_id = status_code, body, request_id
        self.retry_after = retry_after
        self.latency: float | None = None  # seconds the attempt took, set by the sender


class RetryableError(UpstreamError):
    """Worth another attempt."""


class RateLimited(RetryableError, code="rate_limit_exceeded"):
    """The provider said 429 (a rate limit, not a quota)."""


class ServerError(RetryableError, code="server_error"):
    """408, 409, 5xx, or a response marked x-should-retry: true."""


class UpstreamTimeout(RetryableError, code="request_timeout"):
    """No answer within the request timeout."""


class ConnectionFailed(RetryableError, code="connection_error"):
    """The connection could not be made or broke."""


class StreamInterrupted(RetryableError, code="stream_interrupted"):
    """An SSE stream ended before response.completed."""


class FinalError(UpstreamError):
    """Retrying cannot help."""


class ClientError(FinalError, code="invalid_request"):
    """A 4xx the provider will answer the same way again."""


class QuotaExceeded(FinalError, code="insufficient_quota"):
    """429 insufficient_quota: out of credit, not a rate limit."""


class InvalidResponse(FinalError, code="invalid_response"):
    """A 2xx whose body is not a valid Response."""


class StreamFailed(FinalError, code="response_failed"):
    """The stream carried an error or response.failed event."""


class RequestTooLarge(FinalError, code="request_too_large"):
    """The request's token estimate exceeds what the token limit can ever admit."""

    def __init__(self, tokens: int, capacity: int, tpm: int) -> None:
        self.tokens, self.capacity, self.tpm = tokens, capacity, tpm
        super().__init__(
            f"request needs ~{tokens} tokens but the token limit admits at most {capacity} "
            f"per request (TPM={tpm})"
        )

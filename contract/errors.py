"""The one exception tree of respq. Every error respq raises on purpose is a RespqError;
each class is where the drawing says (those marked contract.errors are defined below):

RespqError                                  contract.errors
 ├── SettingsError                          contract.settings: a bad RESPQ_* value (also a
 │                                          SystemExit: one line, no traceback)
 ├── PriceTableError                        contract.prices: a price table is unreadable
 ├── UnknownEndpoint                        contract.endpoints: an endpoint respq does not
 │                                          run (also a ValueError)
 ├── InvalidInput                           producer.errors: batch items failed validation
 │    └── InvalidFile                       producer.jsonl_file: ... naming the file
 ├── EmptyFile                              contract.errors: a batch file holds no request
 ├── FileChanged                            contract.errors: a file changed while it was
 │                                          being validated
 ├── SpoolFull                              contract.errors: no space under TMPDIR for the
 │                                          spool of a file's requests (exit 8)
 ├── InvalidOption                          producer.errors: a submit option out of range
 │                                          (also a ValueError)
 ├── BatchNotFound                          producer.errors: no batch with that id
 ├── BatchStateError                        producer.errors: not allowed in the batch's state
 ├── BatchTimeout                           producer.errors: Batch.wait ran out of time (also
 │                                          a TimeoutError)
 ├── RedisFailure                           producer.errors: a call to Redis failed (one line:
 │    │                                     the URL without its password, the cause, the
 │    │                                     setting to change)
 │    ├── RedisUnavailable                  cannot reach Redis (exit 3)
 │    │    └── RedisNotResponding           no answer within RESPQ_REDIS_TIMEOUT (exit 4)
 │    └── RedisRefused                      an error reply, e.g. MISCONF (exit 7)
 │         ├── RedisOutOfMemory             over maxmemory: writes refused (exit 5)
 │         └── RedisReadOnly                a read-only replica (exit 6)
 ├── ModelCheckError                        producer.models_check: GET /models failed
 ├── CliError                               producer.cli.app: a command's expected failure
 ├── UnsupportedRedis                       worker.resilient: Redis older than 7
 ├── BadKeySetting                          server.auth: a client key entry cannot be read
 ├── BadLogLevel                            server.run: a --log-level respq serve refuses
 ├── ApiError                               server.errors: an HTTP error in OpenAI's shape
 │    ├── NotFound                          (404)
 │    ├── BadRequest                        (400)
 │    │    └── PayloadTooLarge              a body, upload or form over its cap (413)
 │    ├── Unauthorized                      (401)
 │    ├── TooManyRequests                   (429: too many wrong keys from one address)
 │    └── StorageFailed                     RESPQ_FILES_DIR refused an upload (500)
 │         └── StorageFull                  ... out of space or quota (507)
 ├── LeaseLost                              worker.job_lease: another worker took the job
 │                                          over; its request is not sent from here
 ├── WebhookTargetError                     contract.webhook_targets: a webhook URL respq
 │                                          will not call (also a ValueError)
 └── UpstreamError                          worker.errors: a failed upstream call
      ├── RetryableError                    (RateLimited, ServerError, UpstreamTimeout,
      │                                      ConnectionFailed, StreamInterrupted)
      └── FinalError                        (ClientError, QuotaExceeded, InvalidResponse,
                                             StreamFailed, RequestTooLarge)
"""

from __future__ import annotations


class RespqError(Exception):
    """Base class of every error respq raises on purpose."""


class EmptyFile(RespqError):
    """A batch file holds no request (only blank lines, or nothing); nothing was enqueued."""


class FileChanged(RespqError):
    """A batch file changed size while it was being validated; nothing was enqueued."""


class SpoolFull(RespqError):
    """No space left under TMPDIR for the spool of validated requests (or for the copy of
    standard input); nothing was enqueued."""

    def __init__(self, what: str, needed: str) -> None:
        super().__init__(
            f"no space left under TMPDIR for {what}: this submit needs about {needed} free "
            "there; free some space or point TMPDIR at a larger disk; nothing was enqueued"
        )

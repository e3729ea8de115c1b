"""The one exception tree of respq. Every error respq raises on purpose is a RespqError;
the classes live beside the code that raises them:

RespqError                                  contract.errors
 ├── SettingsError                          contract.settings: a bad RESPQ_* value (also a
 │                                          SystemExit: one line, no traceback)
 ├── PriceTableError                        contract.prices: a price table is unreadable
 ├── UnknownEndpoint                        contract.endpoints: an endpoint respq does not
 │                                          run (also a ValueError)
 ├── InvalidInput                           producer.errors: batch items failed validation
 │    └── InvalidFile                       producer.cli.app: ... naming the file
 ├── FileChanged                            producer.cli.jsonl: a file changed between passes
 ├── InvalidOption                          producer.errors: a submit option out of range
 │                                          (also a ValueError)
 ├── BatchNotFound                          producer.errors: no batch with that id
 ├── BatchStateError                        producer.errors: not allowed in the batch's state
 ├── BatchTimeout                           producer.errors: Batch.wait ran out of time (also
 │                                          a TimeoutError)
 ├── RedisUnavailable                       producer.errors: Redis did not answer
 ├── ModelCheckError                        producer.models_check: GET /models failed
 ├── CliError                               producer.cli.app: a command's expected failure
 ├── UnsupportedRedis                       worker.resilient: Redis older than 7
 └── UpstreamError                          worker.errors: a failed upstream call
      ├── RetryableError                    (RateLimited, ServerError, UpstreamTimeout,
      │                                      ConnectionFailed, StreamInterrupted)
      └── FinalError                        (ClientError, QuotaExceeded, InvalidResponse,
                                             StreamFailed, RequestTooLarge)
"""

from __future__ import annotations


class RespqError(Exception):
    """Base class of every error respq raises on purpose."""

"""Worker settings, read from the environment with prefix ``RESPQ_``."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from respq.contract.constants import DEFAULT_QUEUE_NAME, DEFAULT_RESULT_TTL_S
from respq.contract.endpoints import Endpoint
from respq.contract.redis_conn import DEFAULT_REDIS_TIMEOUT
from respq.contract.settings import AuthHeader, EnvSettings, LogLevel
from respq.worker.limiter import Limits

DEFAULT_BASE_URL = "https://api.crun.ai/api/v1"


class WorkerConfig(EnvSettings):
    """Everything a worker process needs. The API key is a SecretStr: it is sent in one
    header and never logged, stored in Redis or written to a result. A bad RESPQ_* value
    is a SettingsError: the process stops with one line naming the variable."""

    model_config = SettingsConfigDict(env_prefix="RESPQ_", extra="ignore")

    redis_url: str = "redis://localhost:6379/0"
    # Seconds to connect to Redis, and the bound of the health check (--check).
    redis_timeout: float = Field(default=DEFAULT_REDIS_TIMEOUT, gt=0, le=3600)
    queue_name: str = DEFAULT_QUEUE_NAME
    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    auth_header: AuthHeader = "authorization"  # any case: X-API-KEY works

    # Concurrency: upstream requests in flight per worker process. LLM calls take seconds,
    # so this is sized in hundreds, not arq's default of 10. Not arq's max_jobs, which
    # counts jobs of up to chunk_size requests (arq_max_jobs, below), nor a batch's
    # max_in_flight, which caps one batch across every worker.
    worker_in_flight: int = Field(default=256, ge=1, le=20000)
    # Its old name, RESPQ_MAX_JOBS: read while RESPQ_WORKER_IN_FLIGHT is not set, with a
    # warning when a worker starts (old_names).
    max_jobs: int | None = Field(default=None, ge=1, le=20000)
    chunk_size: int = Field(default=16, ge=1, le=1000)
    poll_delay: float = Field(default=0.05, gt=0, le=5)
    job_timeout: int = Field(default=3600, ge=10)
    lease_seconds: float = Field(default=30.0, ge=3)
    shutdown_grace: int = Field(default=30, ge=0)

    # Upstream calls and retries. request_timeout is one deadline per attempt, from connect
    # to last byte, however slowly the upstream sends; a streamed answer also fails when
    # no event (comments and blank keep-alive lines are not events) comes for
    # stream_idle_timeout.
    request_timeout: float = Field(default=600.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    stream_idle_timeout: float = Field(default=300.0, gt=0, le=86400)
    max_attempts: int = Field(default=6, ge=1, le=100)
    retry_max_time: float = Field(default=1800.0, gt=0)
    retry_base: float = Field(default=0.5, gt=0)
    retry_cap: float = Field(default=60.0, gt=0)
    defer_threshold: float = Field(default=5.0, ge=0)
    # After this many account-level failures in a row (bad key, no quota), a batch is
    # paused instead of failed request by request; 0 = never pause.
    account_error_pause: int = Field(default=3, ge=0)

    # Shared rate limit (0 = unlimited).
    rpm: int = Field(default=0, ge=0)
    tpm: int = Field(default=0, ge=0)
    burst: float = Field(default=0.0, ge=0, le=1)
    limit_margin: float = Field(default=0.01, ge=0, lt=0.5)
    # gcra: requests evenly spaced (the default); window: whatever fits the sliding 60 s
    # window, so an idle scope starts with a whole minute's budget at once.
    limit_algorithm: Literal["gcra", "window"] = "gcra"
    model_limits: str = ""
    tpm_refund: bool = False
    default_max_output_tokens: int = Field(default=4096, ge=1)

    result_ttl: int = Field(default=DEFAULT_RESULT_TTL_S, ge=60)
    # Price table (TOML/JSON, USD per 1M tokens) for batch budgets; "" = budgets off.
    prices: str = ""
    metrics_port: int = Field(default=0, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    log_level: LogLevel = "INFO"  # any case

    # Settings still read under an old name: old field → the field it now sets.
    RENAMED: ClassVar[dict[str, str]] = {"max_jobs": "worker_in_flight"}

    @model_validator(mode="after")
    def _read_old_names(self) -> Self:
        for old, new in self.RENAMED.items():
            value = getattr(self, old)
            if value is not None and new not in self.model_fields_set:
                setattr(self, new, value)
        return self

    def old_names(self) -> list[str]:
        """A line for each setting given under its old name; a worker logs them at start."""
        return [
            f"RESPQ_{old.upper()} is deprecated: rename it RESPQ_{new.upper()} (while that is "
            f"set, RESPQ_{old.upper()} is ignored)"
            for old, new in self.RENAMED.items()
            if getattr(self, old) is not None
        ]

    @property
    def responses_url(self) -> str:
        return self.base_url.rstrip("/") + "/responses"

    def endpoint_url(self, endpoint: Endpoint) -> str:
        """Where the endpoint's requests go: ``{base_url}/<path>``."""
        return self.base_url.rstrip("/") + "/" + endpoint.path

    def limits(self) -> Limits:
        """Every scope's limits, but where RESPQ_MODEL_LIMITS sets a model's own."""
        return Limits(self.rpm, self.tpm, self.burst, self.limit_margin, self.limit_algorithm)

    @property
    def arq_max_jobs(self) -> int:
        """arq job slots. A job carries up to chunk_size requests; twice the slots needed
        to fill worker_in_flight keeps the pipe full without one worker hoarding the queue."""
        return max(8, -(-2 * self.worker_in_flight // self.chunk_size))

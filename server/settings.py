"""Settings of ``respq serve``, read from the environment with prefix ``RESPQ_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """What the API server needs beyond the producer's settings (Redis, queue, TTLs)."""

    model_config = SettingsConfigDict(env_prefix="RESPQ_", extra="ignore")

    # Comma-separated client keys; a SecretStr so it is never printed or logged.
    server_api_keys: SecretStr = SecretStr("")
    # Where uploaded files are kept (a volume in compose); created when missing.
    files_dir: Path = Path("respq-files")
    # Largest upload accepted, in bytes (OpenAI's batch input limit is 200 MB).
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    # Price table for the dashboard's costs (the same file the workers read).
    prices: str = ""

    def api_keys(self) -> list[str]:
        return [k.strip() for k in self.server_api_keys.get_secret_value().split(",") if k.strip()]

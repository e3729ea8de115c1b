"""Settings of ``respq serve``, read from the environment with prefix ``RESPQ_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from respq.contract.settings import EnvSettings


class ServerSettings(EnvSettings):
    """What the API server needs beyond the producer's settings (Redis, queue, TTLs); a
    bad value is one line naming the variable (SettingsError)."""

    # Comma-separated client keys, each "tenant:key" or a bare key (its own tenant); a
    # SecretStr so it is never printed or logged. See server/auth.py.
    server_api_keys: SecretStr = SecretStr("")
    # Comma-separated keys that see every tenant's files and batches, and those made by
    # respq submit or Python; same entry forms as server_api_keys.
    server_admin_keys: SecretStr = SecretStr("")
    # Seconds a dashboard sign-in lasts (sign-out ends it at once).
    server_session_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    # Failed sign-ins (API or dashboard) allowed per client address per minute; 0 = no cap.
    server_auth_failures_per_minute: int = Field(default=10, ge=0)
    # Where uploaded files are kept (a volume in compose); created when missing.
    files_dir: Path = Path("respq-files")
    # Largest upload accepted, in bytes (OpenAI's batch input limit is 200 MB).
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    # Price table for the dashboard's costs (the same file the workers read).
    prices: str = ""

    def api_keys(self) -> list[str]:
        return _entries(self.server_api_keys)

    def admin_keys(self) -> list[str]:
        return _entries(self.server_admin_keys)


def _entries(value: SecretStr) -> list[str]:
    return [k.strip() for k in value.get_secret_value().split(",") if k.strip()]

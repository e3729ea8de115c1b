"""Pre-flight model check: refuse a batch that names a model the upstream does not serve.

``GET {RESPQ_BASE_URL}/models`` is fetched once and kept for a minute in-process; every
unknown model is reported with the first few lines (or items) that use it, as
``InvalidInput`` problems on field ``body.model``, before anything is enqueued. The API
key (``RESPQ_API_KEY``) is sent in one header and never appears in an error or a log line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from respq.contract.errors import InvalidInput, ModelCheckError
from respq.contract.lines import ItemProblem
from respq.contract.redis_conn import redact_url
from respq.contract.settings import AuthHeader, EnvSettings, auth_headers

if TYPE_CHECKING:  # httpx is imported when a check runs: every CLI command starts faster
    import httpx

DEFAULT_BASE_URL = "https://api.crun.ai/api/v1"
CACHE_SECONDS = 60.0
# Lines named per unknown model; the count says how many more use it.
SHOWN_PER_MODEL = 5


class ModelCheckSettings(EnvSettings):
    """Where the upstream is: the same RESPQ_* variables the workers read."""

    model_config = SettingsConfigDict(env_prefix="RESPQ_", extra="ignore")

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    auth_header: AuthHeader = "authorization"
    connect_timeout: float = Field(default=10.0, gt=0)

    @property
    def models_url(self) -> str:
        return self.base_url.rstrip("/") + "/models"


@dataclass
class ModelUses:
    """Which models a batch uses: model -> the first few (where, custom_id), and counts."""

    first: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, model: str, where: str, custom_id: str) -> None:
        if not model:  # a moderation may leave its model to the provider: nothing to check
            return
        n = self.counts.get(model, 0)
        self.counts[model] = n + 1
        if n < SHOWN_PER_MODEL:
            self.first.setdefault(model, []).append((where, custom_id))


def _scrub(text: str, secret: SecretStr | None) -> str:
    if secret is not None and secret.get_secret_value():
        text = text.replace(secret.get_secret_value(), "***")
    return text


class ModelLister:
    """Fetches and caches the upstream's model ids (per models URL and key)."""

    def __init__(self, ttl: float = CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._cache: dict[tuple[str, int], tuple[float, frozenset[str]]] = {}

    def clear(self) -> None:
        self._cache.clear()

    async def models(
        self,
        settings: ModelCheckSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> frozenset[str]:
        settings = settings or ModelCheckSettings()
        url = settings.models_url
        key = settings.api_key
        cache_key = (url, hash(key.get_secret_value()) if key else 0)
        hit = self._cache.get(cache_key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        found = await self._fetch(settings, transport)
        self._cache[cache_key] = (now, found)
        return found

    async def _fetch(
        self, settings: ModelCheckSettings, transport: httpx.AsyncBaseTransport | None
    ) -> frozenset[str]:
        url = settings.models_url
        shown = redact_url(url)
        headers = {
            "accept": "application/json",
            **auth_headers(settings.api_key, settings.auth_header),
        }
        import httpx

        timeout = httpx.Timeout(30.0, connect=settings.connect_timeout)
        try:
            async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
                answer = await http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            message = _scrub(f"{type(exc).__name__}: {exc}", settings.api_key)
            raise ModelCheckError(f"cannot list models at {shown}: {message}") from None
        if answer.status_code != 200:
            raise ModelCheckError(
                f"cannot list models at {shown}: HTTP {answer.status_code}"
                + (" (check RESPQ_API_KEY)" if answer.status_code in (401, 403) else "")
            )
        try:
            data: Any = orjson.loads(answer.content)
            ids = frozenset(str(item["id"]) for item in data["data"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelCheckError(
                f"cannot list models at {shown}: unexpected answer ({type(exc).__name__})"
            ) from None
        return ids


DEFAULT_LISTER = ModelLister()


def unknown_model_problems(
    uses: ModelUses, available: Iterable[str], *, models_url: str = ""
) -> list[ItemProblem]:
    """One problem per line shown for every model not in ``available``."""
    known = set(available)
    source = f" (not served by {redact_url(models_url)})" if models_url else ""
    problems: list[ItemProblem] = []
    for model in sorted(m for m in uses.counts if m not in known):
        count = uses.counts[model]
        for where, cid in uses.first.get(model, []):
            more = f"; {count} request(s) use it" if count > 1 else ""
            problems.append(
                ItemProblem(where, cid, "body.model", f"unknown model {model!r}{source}{more}")
            )
    return problems


async def check_models(
    uses: ModelUses | Mapping[str, Iterable[tuple[str, str]]],
    *,
    settings: ModelCheckSettings | None = None,
    lister: ModelLister | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Raise ``InvalidInput`` naming every unknown model and where it is used."""
    if not isinstance(uses, ModelUses):
        collected = ModelUses()
        for model, places in uses.items():
            for where, cid in places:
                collected.add(model, where, cid)
        uses = collected
    if not uses.counts:
        return
    settings = settings or ModelCheckSettings()
    available = await (lister or DEFAULT_LISTER).models(settings, transport=transport)
    problems = unknown_model_problems(uses, available, models_url=settings.models_url)
    if problems:
        bad = {m for m in uses.counts if m not in available}
        raise InvalidInput(problems, total_bad=sum(uses.counts[m] for m in bad))


__all__ = [
    "DEFAULT_LISTER",
    "ModelCheckError",
    "ModelCheckSettings",
    "ModelLister",
    "ModelUses",
    "check_models",
    "unknown_model_problems",
]

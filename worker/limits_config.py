"""Rate-limit configuration: global limits, per-model overrides, and limit scopes.

The settings class holds the raw values (``RESPQ_RPM``, ``RESPQ_TPM`` — 0 = unlimited,
``RESPQ_BURST``, ``RESPQ_LIMIT_MARGIN``, ``RESPQ_MODEL_LIMITS``) and calls these helpers.
``RESPQ_MODEL_LIMITS`` is a JSON object keyed by model name, for example
``{"gpt-5.4": {"rpm": 500, "tpm": 200000}}``; a field a model leaves out falls back to the
global value. Model names match exactly (a dated snapshot needs its own entry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from respq.worker.limiter import Limits

__all__ = ["ModelLimit", "limits_for", "parse_model_limits", "scope_for"]

_SOURCE = "RESPQ_MODEL_LIMITS"


class ModelLimit(BaseModel):
    """One model's overrides; None falls back to the global setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, ge=0, strict=True)
    tpm: int | None = Field(default=None, ge=0, strict=True)
    burst: float | None = Field(default=None, ge=0, allow_inf_nan=False)


def parse_model_limits(raw: str | Mapping[str, Any]) -> dict[str, ModelLimit]:
    """Validate ``RESPQ_MODEL_LIMITS``; errors name the model and the field."""
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{_SOURCE} is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ValueError(f"{_SOURCE} must be a JSON object of model -> limits, got {raw!r}")
    parsed: dict[str, ModelLimit] = {}
    for model, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f'{_SOURCE}[{model!r}] must be an object like {{"rpm": 500}}')
        try:
            parsed[str(model)] = ModelLimit.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"{_SOURCE}[{model!r}]: {problems}") from None
    return parsed


def limits_for(model: str, default: Limits, model_limits: Mapping[str, ModelLimit]) -> Limits:
    """The limits for ``model``: ``default`` (the global settings) with the values its
    override sets."""
    override = model_limits.get(model)
    if override is None:
        return default
    return replace(default, **override.model_dump(exclude_none=True))


def scope_for(base_url: str, model: str) -> str:
    """The limit scope of a (base URL, model) pair: the budget every worker shares.

    Trailing slashes and the scheme/host letter case do not split a scope.
    """
    url = base_url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        url = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return f"{url}|{model}"

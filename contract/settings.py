"""The base of respq's settings: values from ``RESPQ_*`` environment variables, and a bad
value stopped with one line naming the variable (``SettingsError``)."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BeforeValidator, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from respq.contract.errors import SettingsError

ENV_PREFIX: Final = "RESPQ_"
SHOWN_VALUE_CHARS: Final = 60


def _lower_stripped(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper_stripped(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# RESPQ_AUTH_HEADER=X-API-KEY works: HTTP header names are case-insensitive.
AuthHeader = Annotated[Literal["authorization", "x-api-key"], BeforeValidator(_lower_stripped)]
# RESPQ_LOG_LEVEL=debug works too; anything else is refused at start-up, not at the first
# log line.
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper_stripped)
]


class EnvSettings(BaseSettings):
    """Base of respq's settings classes: values from ``RESPQ_*`` variables. A bad value
    from the environment raises SettingsError naming the variable; a bad keyword argument
    stays pydantic's ValidationError (a programming error, not an operator's)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            from_env = [e for e in exc.errors(include_url=False) if _field(e) not in values]
            if not from_env:
                raise
            raise SettingsError(self._describe(from_env)) from None

    @classmethod
    def _describe(cls, errors: list[Any]) -> str:
        prefix = str(cls.model_config.get("env_prefix") or "")
        parts = []
        for error in errors:
            name = _field(error)
            shown = ""
            field = cls.model_fields.get(name)
            kinds = (field.annotation, *get_args(field.annotation)) if field else ()
            secret = SecretStr in kinds
            if not secret and "key" not in name and isinstance(error.get("input"), str):
                text = error["input"]
                if len(text) > SHOWN_VALUE_CHARS:
                    text = text[:SHOWN_VALUE_CHARS] + "…"
                shown = f"={text!r}"
            parts.append(f"{prefix}{name.upper()}{shown}: {error['msg']}")
        return "bad setting " + "; ".join(parts)


def _field(error: Any) -> str:
    loc = error.get("loc") or ("",)
    return str(loc[0])


def auth_headers(api_key: SecretStr | None, auth_header: str) -> dict[str, str]:
    """The header that carries the upstream key: ``Authorization: Bearer <key>``, or
    ``x-api-key: <key>`` when RESPQ_AUTH_HEADER says so; none without a key."""
    if api_key is None:
        return {}
    secret = api_key.get_secret_value()
    if auth_header == "x-api-key":
        return {"x-api-key": secret}
    return {"authorization": f"Bearer {secret}"}

"""Configuration of the mock API: the frozen start-up config and the live settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from .styles import check_style

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-4.1",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "omni-moderation-latest",
    "gpt-image-1.5",
)
DEFAULT_FAIL_MIX = "500,503,429,hang,truncated,nonjson"
FAILURE_KINDS: frozenset[str] = frozenset(
    {
        "500",
        "503",
        "429",
        "hang",
        "truncated",
        "nonjson",
        "reset",
        "garbage",
        "sse_truncated",
        "401",  # invalid_api_key: the key went bad
        "quota",  # 429 insufficient_quota: the account ran out of credit
    }
)


def parse_fail_mix(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"500,hang"`` (or a list) into a tuple of known failure kinds."""
    items = value.split(",") if isinstance(value, str) else list(value)
    kinds = tuple(k.strip() for k in items if k.strip())
    unknown = [k for k in kinds if k not in FAILURE_KINDS]
    if unknown:
        raise ValueError(f"unknown failure kind(s) {unknown}; known: {sorted(FAILURE_KINDS)}")
    return kinds


def parse_models(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"a,b"`` (or a list) into a tuple of model ids."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(m.strip() for m in items if m.strip())


@dataclass(frozen=True, slots=True)
class MockConfig:
    """Every option of the mock server. ``0`` for rpm/tpm/tokens_per_second means unlimited."""

    host: str = "127.0.0.1"
    port: int = 8400
    latency: float = 0.0
    jitter: float = 0.0
    tokens_per_second: float = 0.0
    rpm: int = 0
    tpm: int = 0
    fail_rate: float = 0.0
    fail_mix: str = DEFAULT_FAIL_MIX
    hang_seconds: float = 600.0
    api_key: str | None = field(default=None, repr=False)
    models: Sequence[str] = DEFAULT_MODELS
    seed: int | None = None
    store: bool = True
    # The provider whose response shape to answer in (mockapi/styles.py), or "mixed".
    style: str = "seed"

    def __post_init__(self) -> None:
        models = self.models
        object.__setattr__(
            self, "models", parse_models(models if isinstance(models, str) else tuple(models))
        )
        if not self.models:
            raise ValueError("models must not be empty")
        parse_fail_mix(self.fail_mix)  # validate early
        check_style(self.style)
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be within 0..1")
        for name in ("latency", "jitter", "tokens_per_second", "hang_seconds", "rpm", "tpm"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(slots=True)
class LiveSettings:
    """The part of the config that ``POST /_control`` may change on a running server."""

    fail_rate: float
    fail_mix: tuple[str, ...]
    latency: float
    jitter: float
    rpm: int
    tpm: int
    tokens_per_second: float
    hang_seconds: float
    style: str

    @classmethod
    def from_config(cls, config: MockConfig) -> LiveSettings:
        values = {f.name: getattr(config, f.name) for f in fields(cls)}
        return cls(**values | {"fail_mix": parse_fail_mix(config.fail_mix)})

    def update(self, changes: dict[str, object]) -> None:
        """Apply a ``/_control`` body; raises ``ValueError`` on an unknown key or bad value."""
        staged: dict[str, object] = {}
        for key, value in changes.items():
            if key == "fail_mix":
                if not isinstance(value, str | list):
                    raise ValueError("fail_mix must be a string or a list")
                staged[key] = parse_fail_mix(value)
            elif key == "style":
                if not isinstance(value, str):
                    raise ValueError("style must be a string")
                staged[key] = check_style(value)
            elif key in ("rpm", "tpm"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{key} must be an integer >= 0")
                staged[key] = value
            elif key in ("fail_rate", "latency", "jitter", "tokens_per_second", "hang_seconds"):
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                if key == "fail_rate" and value > 1:
                    raise ValueError("fail_rate must be within 0..1")
                staged[key] = float(value)
            else:
                raise ValueError(f"unknown setting {key!r}")
        for key, value in staged.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, object]:
        return {
            "fail_rate": self.fail_rate,
            "fail_mix": ",".join(self.fail_mix),
            "latency": self.latency,
            "jitter": self.jitter,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "tokens_per_second": self.tokens_per_second,
            "hang_seconds": self.hang_seconds,
            "style": self.style,
        }

"""The official ``openai`` SDK's types as the judge of what respq and mockapi emit.

The SDK's models accept unknown fields (``extra="allow"``), so ``Model.model_validate``
alone passes any dict that has the required fields. ``sdk_validate`` also walks the
validated object and fails on every field the SDK's type does not define, at any depth:
a value respq writes must be one the SDK knows, under the name the SDK gives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def unknown_fields(value: Any, path: str = "$") -> Iterator[str]:
    """The path of every field of ``value`` (a validated model, or lists/dicts of them)
    that its model does not define."""
    if isinstance(value, BaseModel):
        for name in value.model_extra or {}:
            yield f"{path}.{name}"
        for name in type(value).model_fields:
            yield from unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from unknown_fields(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from unknown_fields(item, f"{path}.{key}")


def sdk_validate(model: type[M], data: Any, *, allow: frozenset[str] = frozenset()) -> M:
    """``model.model_validate(data)``, failing also on fields the SDK type lacks (their paths,
    ``$.a.b``, except those in ``allow``: respq's documented extensions)."""
    parsed = model.model_validate(data)
    extra = [p for p in unknown_fields(parsed) if p not in allow]
    assert not extra, f"{model.__name__}: fields the SDK's type does not define: {extra}"
    return parsed

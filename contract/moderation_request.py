"""A Moderations request (``POST /moderations``): ``input`` as a string, a list of strings,
or a list of text and image_url parts; ``model`` optional (the provider's default). Unknown
fields pass through unchanged."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, Tag, field_validator

from respq.contract.chat_request import ImagePart, TextPart, part_types
from respq.contract.request import RequestBody

ModerationPart = Annotated[
    Annotated[TextPart, Tag("type(text)")] | Annotated[ImagePart, Tag("type(image_url)")],
    part_types("text", "image_url"),
]


class ModerationRequest(RequestBody):
    """One ``POST /moderations`` request body."""

    input: str | list[str] | list[ModerationPart]
    model: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("input")
    @classmethod
    def _input(cls, value: Any) -> Any:
        if isinstance(value, str | list) and not value:
            raise ValueError("must not be empty")
        return value

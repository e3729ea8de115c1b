"""Image requests (``POST /images/generations`` and ``POST /images/edits``), in the JSON form a
batch line carries, with the bounds of OpenAI's API reference: ``prompt`` (1 to 32,000
characters), ``n`` 1 to 10, ``output_compression`` 0 to 100, ``partial_images`` 0 to 3;
an edit names 1 to 16 ``images`` (and an optional ``mask``), each by ``image_url`` (an
http(s) or base64 data URL) or ``file_id``, exactly one of the two. A batch answer is one
whole object, so ``stream: true`` is refused. ``size``, ``quality`` and ``output_format``
grow with every image model OpenAI ships: they pass as written for the provider to judge,
as do unknown fields."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from respq.contract.request import NeedsOneOf, RequestBody, check_image_url

MAX_PROMPT_CHARS = 32_000
MAX_EDIT_IMAGES = 16


class ImageRef(NeedsOneOf):
    """An input image of an edit, or its mask: a URL or an uploaded file's id."""

    NEEDS_ONE_OF = ("image_url", "file_id")
    MISSING = "an image needs image_url or file_id"

    image_url: str | None = None
    file_id: str | None = Field(default=None, min_length=1)

    @field_validator("image_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_image_url(value)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.image_url is not None and self.file_id is not None:
            raise ValueError("an image takes image_url or file_id, not both")
        return self


class ImageGenerationRequest(RequestBody):
    """One ``POST /images/generations`` request body."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, min_length=1, max_length=128)
    n: int | None = Field(default=None, ge=1, le=10)
    size: str | None = Field(default=None, min_length=1)
    quality: str | None = Field(default=None, min_length=1)
    output_format: str | None = Field(default=None, min_length=1)
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    partial_images: int | None = Field(default=None, ge=0, le=3)
    stream: Literal[False] | None = None
    user: str | None = None


class ImageEditRequest(ImageGenerationRequest):
    """One ``POST /images/edits`` request body (JSON: images by reference)."""

    images: list[ImageRef] = Field(min_length=1, max_length=MAX_EDIT_IMAGES)
    mask: ImageRef | None = None
    input_fidelity: Literal["high", "low"] | None = None


__all__ = ["ImageEditRequest", "ImageGenerationRequest", "ImageRef"]

"""The job contract: a Responses API request, as pydantic v2 models (what comes back is
read by ``respq.contract.response``).

Every request field and bound comes from the provider's API page (``POST /responses``).
Unknown fields are accepted and passed through unchanged, because the provider forwards
them upstream; a request is stored exactly as the user wrote it, not as re-serialised.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

_URL_SCHEMES = ("http://", "https://")


def check_image_url(value: str) -> str:
    if value.startswith(_URL_SCHEMES):
        return value
    if value.startswith("data:") and ";base64," in value[:100]:
        return value
    raise ValueError("must be an http(s) URL or a base64 data URL (data:<mime>;base64,...)")


class OpenModel(BaseModel):
    """Fields beyond the known ones are kept: the provider passes them through. Strict:
    a request body is sent as written, so nothing may pass by being coerced."""

    model_config = ConfigDict(extra="allow", strict=True)


class RequestBody(OpenModel):
    """The body of one request, of any endpoint (``ResponsesRequest``, ``EmbeddingRequest``…)."""

    def body(self) -> dict[str, Any]:
        """The JSON body to send: the fields the user set, unknown ones included."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class NeedsOneOf(OpenModel):
    """A part that is nothing without one of the fields ``NEEDS_ONE_OF`` (an image's URL
    or file id, say); with ``WHEN_TYPE`` set, only when its ``type`` is that one.
    ``MISSING`` says what is missing."""

    NEEDS_ONE_OF: ClassVar[tuple[str, ...]]
    WHEN_TYPE: ClassVar[str | None] = None
    MISSING: ClassVar[str]

    @model_validator(mode="after")
    def _needs_one_of(self) -> Self:
        if self.WHEN_TYPE is not None and getattr(self, "type", None) != self.WHEN_TYPE:
            return self
        if all(getattr(self, name) is None for name in self.NEEDS_ONE_OF):
            raise ValueError(self.MISSING)
        return self


class InputText(OpenModel):
    type: Literal["input_text"]
    text: str


class InputImage(NeedsOneOf):
    NEEDS_ONE_OF = ("image_url", "file_id")
    MISSING = "input_image needs image_url or file_id"

    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto"] | None = None

    @field_validator("image_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_image_url(value)


class InputFile(NeedsOneOf):
    NEEDS_ONE_OF = ("file_url", "file_id", "file_data")
    MISSING = "input_file needs file_url, file_id or file_data"

    type: Literal["input_file"]
    file_url: str | None = None
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class OutputTextPart(OpenModel):
    """Earlier assistant turns may be replayed as input."""

    type: Literal["output_text", "refusal"]


ContentPart = Annotated[
    InputText | InputImage | InputFile | OutputTextPart, Field(discriminator="type")
]


class MessageItem(OpenModel):
    """A message-like input item (``{"role", "content"}``), as in Chat Completions."""

    type: Literal["message"] | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]


class OtherItem(OpenModel):
    """Any other response input item (function_call_output, item_reference, …)."""

    type: str = Field(min_length=1)


def _pick_item(value: Any) -> str:
    # Items with a role are messages; anything else is some other typed item.
    if isinstance(value, dict):
        return "message" if "role" in value else "other"
    return "message" if hasattr(value, "role") else "other"


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")] | Annotated[OtherItem, Tag("other")],
    Discriminator(_pick_item),
]


class TextFormat(NeedsOneOf):
    NEEDS_ONE_OF, WHEN_TYPE = ("schema_",), "json_schema"
    MISSING = "text.format of type json_schema needs a schema"

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(OpenModel):
    format: TextFormat | None = None


class ResponsesRequest(RequestBody):
    """One ``POST /responses`` request body."""

    model: str = Field(min_length=1, max_length=128)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    stream: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    metadata: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    user: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in-memory", "24h"] | None = None
    reasoning: dict[str, Any] | None = None
    text: TextConfig | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    truncation: str | None = None

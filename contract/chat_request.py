"""A Chat Completions request (``POST /chat/completions``), with the bounds of OpenAI's API
reference.

Messages are checked by role (system, developer, user, assistant, tool, function) and
their content parts by type (text, image_url, input_audio, file, refusal); unknown fields
anywhere pass through unchanged, as in ``ResponsesRequest``. Discriminator tags are
written ``role(user)`` / ``part(text)`` so validation errors name the fields the user
wrote, not the branch pydantic tried.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from respq.contract.request import NeedsOneOf, OpenModel, RequestBody, check_image_url

# OpenAI's limits on a function or tool name and on the tools of one request.
_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
MAX_TOOLS = 128
MAX_STOP_SEQUENCES = 4
MAX_N = 128


def _tag(kind: str, value: Any) -> str:
    """The discriminator tag of a dict (or a model) by its ``kind`` field."""
    found = value.get(kind) if isinstance(value, dict) else getattr(value, kind, None)
    return f"{kind}({found})" if isinstance(found, str) else f"{kind}(?)"


class TextPart(OpenModel):
    type: Literal["text"]
    text: str


class ImageUrl(OpenModel):
    url: str
    detail: Literal["auto", "low", "high", "original"] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_image_url(value)


class ImagePart(OpenModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class InputAudio(OpenModel):
    data: str
    format: Literal["wav", "mp3"]


class AudioPart(OpenModel):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(NeedsOneOf):
    NEEDS_ONE_OF = ("file_data", "file_id")
    MISSING = "a file part needs file_data or file_id"

    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(OpenModel):
    type: Literal["file"]
    file: FileRef


class RefusalPart(OpenModel):
    type: Literal["refusal"]
    refusal: str


def part_type_tag(value: Any) -> str:
    return _tag("type", value)


def part_types(*names: str) -> Discriminator:
    """Pick a content part's model by its type; an unknown type names the known ones."""
    return Discriminator(
        part_type_tag,
        custom_error_type="invalid_part_type",
        custom_error_message="a content part's type must be one of " + ", ".join(names),
    )


UserPart = Annotated[
    Annotated[TextPart, Tag("type(text)")]
    | Annotated[ImagePart, Tag("type(image_url)")]
    | Annotated[AudioPart, Tag("type(input_audio)")]
    | Annotated[FilePart, Tag("type(file)")],
    part_types("text", "image_url", "input_audio", "file"),
]
AssistantPart = Annotated[
    Annotated[TextPart, Tag("type(text)")] | Annotated[RefusalPart, Tag("type(refusal)")],
    part_types("text", "refusal"),
]


class SystemMessage(OpenModel):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(OpenModel):
    role: Literal["user"]
    content: str | list[UserPart]
    name: str | None = None


class FunctionCall(OpenModel):
    name: str
    arguments: str


class ToolCall(OpenModel):
    id: str
    type: str = Field(min_length=1)  # "function", or "custom" with a custom payload
    function: FunctionCall | None = None


class AssistantMessage(OpenModel):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class ToolMessage(OpenModel):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(OpenModel):
    """The deprecated role that answered a ``function_call``."""

    role: Literal["function"]
    name: str
    content: str | None


def _role(value: Any) -> str:
    tag = _tag("role", value)
    return "role(system)" if tag == "role(developer)" else tag


ChatMessage = Annotated[
    Annotated[SystemMessage, Tag("role(system)")]
    | Annotated[UserMessage, Tag("role(user)")]
    | Annotated[AssistantMessage, Tag("role(assistant)")]
    | Annotated[ToolMessage, Tag("role(tool)")]
    | Annotated[FunctionMessage, Tag("role(function)")],
    Discriminator(
        _role,
        custom_error_type="invalid_role",
        custom_error_message="role must be one of system, developer, user, assistant, tool, "
        "function",
    ),
]


class FunctionDefinition(OpenModel):
    name: str = Field(pattern=_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatTool(NeedsOneOf):
    """A ``function`` tool (checked), or another kind (``custom``) passed on as written."""

    NEEDS_ONE_OF, WHEN_TYPE = ("function",), "function"
    MISSING = "a function tool needs a function object"

    type: str = Field(min_length=1)
    function: FunctionDefinition | None = None


class JsonSchemaFormat(OpenModel):
    name: str = Field(pattern=_NAME_PATTERN)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(NeedsOneOf):
    NEEDS_ONE_OF, WHEN_TYPE = ("json_schema",), "json_schema"
    MISSING = "response_format of type json_schema needs a json_schema object"

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(OpenModel):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class SamplingChecks(RequestBody):
    """The bounds a chat and a legacy completion request share, checked on their own
    fields (declared by each, in OpenAI's order): at most four stop sequences, each logit
    bias from -100 to 100, and ``stream_options`` only with ``stream``."""

    @field_validator("stop", check_fields=False)
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return value

    @field_validator("logit_bias", check_fields=False)
    @classmethod
    def _bias(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for bias in (value or {}).values():
            if not -100 <= bias <= 100:
                raise ValueError("each logit bias must be from -100 to 100")
        return value

    @model_validator(mode="after")
    def _streaming(self) -> Self:
        if (
            getattr(self, "stream_options", None) is not None
            and getattr(self, "stream", None) is not True
        ):
            raise ValueError("stream_options is only allowed when stream is true")
        return self


class ChatCompletionRequest(SamplingChecks):
    """One ``POST /chat/completions`` request body."""

    model: str = Field(min_length=1, max_length=128)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[ChatTool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    user: str | None = None

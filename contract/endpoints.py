"""The endpoints a batch may target, in one table: what a line's ``url`` names, where the
worker POSTs it, the request model that validates its body, what a success looks like,
how its usage is read and how its tokens are estimated before it is sent.

A batch has one endpoint, as OpenAI's do, kept in its meta hash (``endpoint``; a batch
without one is a Responses batch, as every batch was before there were others).
``/chat/completions`` and ``/api/v1/chat/completions`` name the same endpoint as
``/v1/chat/completions``, as the short spellings of ``/v1/responses`` always did.

Successes are read liberally (``respq.contract.response``): any 2xx JSON object of the right
kind is stored unchanged, whatever its optional fields hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from respq.contract.chat_request import ChatCompletionRequest
from respq.contract.completion_request import CompletionRequest
from respq.contract.embedding_request import EmbeddingRequest
from respq.contract.errors import UnknownEndpoint
from respq.contract.estimate import (
    chat_input,
    completion_input,
    embedding_input,
    image_input,
    image_output,
    moderation_input,
    output_cap,
    responses_input,
)
from respq.contract.image_request import ImageEditRequest, ImageGenerationRequest
from respq.contract.moderation_request import ModerationRequest
from respq.contract.request import ResponsesRequest
from respq.contract.response import ResponseFacts, Usage, is_response


def _has_list(field: str) -> Callable[[Any], bool]:
    def check(body: Any) -> bool:
        return isinstance(body, dict) and isinstance(body.get(field), list)

    return check


def _response_facts(body: dict[str, Any]) -> ResponseFacts:
    return ResponseFacts.read(body)


def _choices_facts(body: dict[str, Any]) -> ResponseFacts:
    """Chat and legacy completions: usage by the Chat names; a choice cut by its token
    cap (``finish_reason: "length"``) makes the answer incomplete, as ``status:
    "incomplete"`` does a Response."""
    choices = body.get("choices")
    cut = isinstance(choices, list) and any(
        isinstance(c, dict) and c.get("finish_reason") == "length" for c in choices
    )
    return ResponseFacts(Usage.read(body.get("usage")), _id(body), cut)


def _embedding_facts(body: dict[str, Any]) -> ResponseFacts:
    """Embeddings count input tokens only (``prompt_tokens``; a total without it counts)."""
    usage = body.get("usage")
    read = Usage.read(usage)
    tokens = read.input_tokens or read.total_tokens
    return ResponseFacts(Usage(input_tokens=tokens, total_tokens=tokens), _id(body), False)


def _image_facts(body: dict[str, Any]) -> ResponseFacts:
    """Images: usage under the Responses names (input, output and total tokens); no id."""
    return ResponseFacts(Usage.read(body.get("usage")), _id(body), False)


def _no_usage_facts(body: dict[str, Any]) -> ResponseFacts:
    """Moderations cost no tokens: whatever a provider adds is not counted."""
    return ResponseFacts(Usage(), _id(body), False)


def _id(body: dict[str, Any]) -> str:
    value = body.get("id")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of OpenAI's Batch API that respq runs."""

    url: str  # what a batch names: "/v1/chat/completions"
    path: str  # POSTed at {RESPQ_BASE_URL}/<path>
    request: type[Any]  # the pydantic model of its request body
    success: str  # what a success is, for messages
    is_success: Callable[[Any], bool]
    facts: Callable[[dict[str, Any]], ResponseFacts]
    input_tokens: Callable[[Mapping[str, Any]], int]  # estimated, before the call
    output_fields: tuple[str, ...]  # its output caps, first set wins; () = no output
    # the output a request may produce when no cap field says it (images: by size)
    output_of: Callable[[Mapping[str, Any]], int] | None = None
    streams: bool = False  # may a request ask for stream: true
    chains: bool = False  # may a line depend_on another (previous_response_id)

    @property
    def urls(self) -> frozenset[str]:
        """Every spelling a line's url may use for this endpoint."""
        return frozenset({self.url, "/" + self.path, "/api/v1/" + self.path})

    def output_tokens(self, body: Mapping[str, Any], *, default_max_output_tokens: int) -> int:
        """The output a request may produce: its cap (else the default) times its choices."""
        if self.output_of is not None:
            return self.output_of(body)
        return output_cap(body, self.output_fields, default_max_output_tokens)

    def estimate(self, body: Mapping[str, Any], *, default_max_output_tokens: int) -> int:
        """Tokens to charge the token budget before the call: input plus output allowance."""
        out = self.output_tokens(body, default_max_output_tokens=default_max_output_tokens)
        return self.input_tokens(body) + out

    def model_of(self, request: Any) -> str:
        """The model a validated request names ("" when it leaves it to the provider)."""
        model = getattr(request, "model", None)
        return model if isinstance(model, str) else ""


RESPONSES: Final = Endpoint(
    "/v1/responses",
    "responses",
    ResponsesRequest,
    'a Response (object: "response", or an output list)',
    is_response,
    _response_facts,
    responses_input,
    ("max_output_tokens",),
    streams=True,
    chains=True,
)
CHAT_COMPLETIONS: Final = Endpoint(
    "/v1/chat/completions",
    "chat/completions",
    ChatCompletionRequest,
    "a chat completion (a choices list)",
    _has_list("choices"),
    _choices_facts,
    chat_input,
    ("max_completion_tokens", "max_tokens"),
    streams=True,
)
EMBEDDINGS: Final = Endpoint(
    "/v1/embeddings",
    "embeddings",
    EmbeddingRequest,
    "an embedding list (a data list)",
    _has_list("data"),
    _embedding_facts,
    embedding_input,
    (),
)
COMPLETIONS: Final = Endpoint(
    "/v1/completions",
    "completions",
    CompletionRequest,
    "a completion (a choices list)",
    _has_list("choices"),
    _choices_facts,
    completion_input,
    ("max_tokens",),
    streams=True,
)
MODERATIONS: Final = Endpoint(
    "/v1/moderations",
    "moderations",
    ModerationRequest,
    "a moderation (a results list)",
    _has_list("results"),
    _no_usage_facts,
    moderation_input,
    (),
)
IMAGE_GENERATIONS: Final = Endpoint(
    "/v1/images/generations",
    "images/generations",
    ImageGenerationRequest,
    "an image list (a data list)",
    _has_list("data"),
    _image_facts,
    image_input,
    (),
    output_of=image_output,
)
IMAGE_EDITS: Final = replace(
    IMAGE_GENERATIONS, url="/v1/images/edits", path="images/edits", request=ImageEditRequest
)

ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    e.url: e
    for e in (
        RESPONSES,
        CHAT_COMPLETIONS,
        EMBEDDINGS,
        COMPLETIONS,
        MODERATIONS,
        IMAGE_GENERATIONS,
        IMAGE_EDITS,
    )
}
# OpenAI's Batch API took it until its Videos API shut down (2026-09-24); named apart so
# that a batch of it is refused saying so, not as an unknown endpoint.
RETIRED: Final = {
    "/v1/videos": "OpenAI's Videos API shut down on 2026-09-24 and its Batch API no longer "
    "takes /v1/videos"
}
DEFAULT_ENDPOINT: Final = RESPONSES
_BY_URL: Final = {url: e for e in ENDPOINTS.values() for url in e.urls}
_BY_REQUEST: Final = {e.request: e for e in ENDPOINTS.values()}


def supported() -> str:
    return ", ".join(ENDPOINTS)


def unsupported(url: str) -> str:
    """Why ``url`` is not an endpoint respq runs, with the ones it does."""
    why = RETIRED.get(url, f"endpoint {url!r} is not supported")
    return f"{why}; use one of {supported()}"


def endpoint_for_url(url: str) -> Endpoint | None:
    """The endpoint a line's url names, in any accepted spelling; None for any other."""
    return _BY_URL.get(url)


def endpoint_of_request(request: Any) -> Endpoint | None:
    """The endpoint of a typed request object (``ChatCompletionRequest`` …), else None."""
    return _BY_REQUEST.get(type(request))


def endpoint_named(url: str | None) -> Endpoint:
    """The endpoint a batch names (``None`` or "" for a batch from before endpoints:
    Responses); UnknownEndpoint, listing what is supported, for anything else."""
    if not url:
        return DEFAULT_ENDPOINT
    found = ENDPOINTS.get(url)
    if found is None:
        raise UnknownEndpoint(unsupported(url))
    return found


__all__ = [
    "CHAT_COMPLETIONS",
    "COMPLETIONS",
    "DEFAULT_ENDPOINT",
    "EMBEDDINGS",
    "ENDPOINTS",
    "IMAGE_EDITS",
    "IMAGE_GENERATIONS",
    "MODERATIONS",
    "RESPONSES",
    "Endpoint",
    "UnknownEndpoint",
    "endpoint_for_url",
    "endpoint_named",
    "endpoint_of_request",
    "unsupported",
]

"""The endpoints the mock serves, one entry each: the paths that reach it, how its input is
read and its answer built, what the limiter charges, how it streams, and what else a
request must hold. Latency, rate limits, failure injection and provider styles are the
same for all of them (``respq.mockapi.app``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .asgi import error_body
from .chat import (
    build_chat,
    build_completion,
    chat_events,
    chat_output,
    chat_token_cost,
    completion_events,
    completion_output,
    completion_token_cost,
    read_messages,
    read_prompt,
)
from .generate import build_response, output_for, read_input, token_cost
from .images import IMAGE_MODEL, build_images, image_token_cost, read_image_input
from .stream import sse_events
from .vectors import (
    MODERATION_MODEL,
    build_embeddings,
    build_moderation,
    no_output_cost,
    no_text,
    read_embedding_input,
    read_moderation_input,
)

JSON = dict[str, Any]
Invalid = tuple[int, JSON] | None


def _whole_at_least(body: JSON, names: tuple[str, ...], low: int) -> Invalid:
    for name in names:
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < low
        ):
            msg = f"Invalid '{name}': expected an integer >= {low}."
            return 400, error_body(msg, "invalid_request_error", name, "invalid_value")
    return None


def _required_list_or_text(body: JSON, name: str) -> Invalid:
    value = body.get(name)
    if isinstance(value, str | list) and value:
        return None
    msg = f"Missing required parameter: '{name}'."
    return 400, error_body(msg, "invalid_request_error", name, "missing_required_parameter")


def _check_responses(body: JSON) -> Invalid:
    return _whole_at_least(body, ("max_output_tokens",), 1)


def _check_chat(body: JSON) -> Invalid:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        msg = "Missing required parameter: 'messages'."
        return 400, error_body(
            msg, "invalid_request_error", "messages", "missing_required_parameter"
        )
    return _whole_at_least(body, ("max_tokens", "max_completion_tokens", "n"), 1)


def _check_embeddings(body: JSON) -> Invalid:
    return _required_list_or_text(body, "input") or _whole_at_least(body, ("dimensions",), 1)


def _check_completions(body: JSON) -> Invalid:
    return _required_list_or_text(body, "prompt") or _whole_at_least(body, ("max_tokens",), 0)


def _check_moderations(body: JSON) -> Invalid:
    return _required_list_or_text(body, "input")


def _check_images(body: JSON) -> Invalid:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        msg = "Missing required parameter: 'prompt'."
        return 400, error_body(msg, "invalid_request_error", "prompt", "missing_required_parameter")
    return _whole_at_least(body, ("n",), 1)


def _check_image_edits(body: JSON) -> Invalid:
    return _check_images(body) or _required_list_or_text(body, "images")


def _responses_events(response: JSON, body: JSON, cut_after: int | None) -> Iterator[bytes]:
    return sse_events(response, cut_after)


@dataclass(frozen=True, slots=True)
class Kind:
    """One endpoint of the mock."""

    name: str  # also the style table it answers from (mockapi.styles.KIND_STYLES)
    path: str  # after /v1, /api/v1 or nothing
    check: Callable[[JSON], Invalid]
    read_input: Callable[[JSON], tuple[str, int]]
    output_for: Callable[[JSON, str], str]
    token_cost: Callable[[JSON, int, str], int]
    build: Callable[[JSON, str, int, str], JSON]
    events: Callable[[JSON, JSON, int | None], Iterator[bytes]] | None = None
    default_model: str | None = None  # a request may leave its model to the provider
    stores: bool = False  # answers are kept for previous_response_id / GET
    delta_prefix: bytes = b"data: "  # what a paced delta starts with

    @property
    def paths(self) -> frozenset[str]:
        return frozenset({"/v1" + self.path, "/api/v1" + self.path, self.path})


def _images(path: str, check: Callable[[JSON], Invalid]) -> Kind:
    """Generations and edits differ only in what a request must hold."""
    return Kind(
        "images",
        path,
        check,
        read_image_input,
        no_text,
        image_token_cost,
        build_images,
        default_model=IMAGE_MODEL,
    )


RESPONSES = Kind(
    "responses",
    "/responses",
    _check_responses,
    read_input,
    output_for,
    token_cost,
    build_response,
    _responses_events,
    stores=True,
    delta_prefix=b"event: response.output_text.delta\n",
)
KINDS: tuple[Kind, ...] = (
    RESPONSES,
    Kind(
        "chat",
        "/chat/completions",
        _check_chat,
        read_messages,
        chat_output,
        chat_token_cost,
        build_chat,
        chat_events,
    ),
    Kind(
        "embeddings",
        "/embeddings",
        _check_embeddings,
        read_embedding_input,
        no_text,
        no_output_cost,
        build_embeddings,
    ),
    Kind(
        "completions",
        "/completions",
        _check_completions,
        read_prompt,
        completion_output,
        completion_token_cost,
        build_completion,
        completion_events,
    ),
    Kind(
        "moderations",
        "/moderations",
        _check_moderations,
        read_moderation_input,
        no_text,
        no_output_cost,
        build_moderation,
        default_model=MODERATION_MODEL,
    ),
    _images("/images/generations", _check_images),
    _images("/images/edits", _check_image_edits),
)
BY_PATH: dict[str, Kind] = {path: kind for kind in KINDS for path in kind.paths}

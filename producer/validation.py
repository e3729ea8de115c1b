"""Turn user items (objects, dicts, JSONL lines) into validated, ready-to-store requests.

Validation collects every problem instead of stopping at the first, so one error can name
every bad item; nothing is enqueued until all items pass.

A batch has one endpoint (``respq.contract.endpoints``). It is the one the batch must have
(``endpoint=``: the Batch API's ``batches.create``), else the first item's: a line's
``url`` or a typed request (``ChatCompletionRequest`` …); bare request bodies are of the
batch's endpoint (Responses when nothing names one). Each body is validated by its
endpoint's request model. An item of another endpoint makes the batch mixed: the first
one is named, and nothing is enqueued.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import orjson
from pydantic import ValidationError

from respq.contract.endpoints import (
    DEFAULT_ENDPOINT,
    Endpoint,
    endpoint_for_url,
    endpoint_of_request,
    unsupported,
)
from respq.contract.errors import InvalidInput
from respq.contract.lines import InputLine, ItemProblem, is_batch_line
from respq.producer.field_errors import describe_validation_error

DEFAULT_MAX_REQUEST_BYTES: Final = 20 * 1024 * 1024
MAX_PROBLEMS_KEPT: Final = 1000
# orjson writes at most this many levels of nested arrays and objects (it reads 1024).
MAX_JSON_DEPTH: Final = 254

# Problem codes OpenAI's batch errors use, where a plain reading of the field would not.
URL_MISMATCH: Final = "url_mismatch"
INVALID_URL: Final = "invalid_url"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A validated request, with its body as the compact JSON that will be stored."""

    custom_id: str
    body: bytes
    model: str
    depends_on: str | None = None


class ItemPreparer:
    """Validates items one by one, remembering custom_ids to catch duplicates and the
    batch's endpoint to catch a mixed batch. ``endpoint`` is the one the batch must have
    (every line that names another is an error of its own); without it, the first item
    sets it (``endpoint_from`` says where)."""

    def __init__(
        self,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.max_request_bytes = max_request_bytes
        # Told of every valid request's parsed body (an estimate rides the validation pass
        # instead of parsing every body again).
        self.on_valid: Callable[[Endpoint, str, dict[str, Any]], None] | None = None
        self.required = endpoint
        self.endpoint = endpoint
        self.endpoint_from = ""
        self.mixed = 0  # items of another endpoint than the batch's
        self.seen: set[str] = set()
        self.problems: list[ItemProblem] = []
        self.bad_count = 0
        # child custom_id -> (parent custom_id, where the child is, parent seen before it)
        self.depends: dict[str, tuple[str, str, bool]] = {}

    @property
    def batch_endpoint(self) -> Endpoint:
        """The batch's endpoint once the items are read (Responses when none named one)."""
        return self.endpoint or DEFAULT_ENDPOINT

    def _fail(
        self,
        where: str,
        cid: str | None,
        problems: list[tuple[str, str]],
        code: str | None = None,
    ) -> None:
        self.bad_count += 1
        for field, message in problems:
            if len(self.problems) < MAX_PROBLEMS_KEPT:
                self.problems.append(ItemProblem(where, cid, field, message, code))

    def add_oversized(self, lineno: int, size: int) -> None:
        """Record a line of ``size`` bytes, over the limit (a reader that stops reading a
        line at the limit calls this instead of ``add_line``)."""
        message = (
            f"line is {size} bytes, over the limit of {self.max_request_bytes} bytes per "
            "request (RESPQ_MAX_REQUEST_BYTES)"
        )
        self._fail(f"line {lineno}", None, [("", message)])

    def add_line(self, raw: bytes, lineno: int) -> PreparedRequest | None:
        """Validate one JSONL line; ``None`` (and a recorded problem) when it is bad."""
        where = f"line {lineno}"
        if len(raw) > self.max_request_bytes:
            self.add_oversized(lineno, len(raw))
            return None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._fail(where, None, [("", f"not valid JSON: {exc}")])
            return None
        return self.add_object(obj, where, default_custom_id=f"line-{lineno}")

    def add_object(self, obj: Any, where: str, *, default_custom_id: str) -> PreparedRequest | None:
        """Validate one item: a typed request (``ResponsesRequest``,
        ``ChatCompletionRequest`` …), an InputLine, or a dict of either shape."""
        cid: str | None = None
        depends_on: str | None = None
        typed = endpoint_of_request(obj)
        try:
            if typed is not None:
                self._check_endpoint(typed, where)
                cid, request, body = default_custom_id, obj, _request_body(obj)
            elif isinstance(obj, InputLine):
                cid, depends_on, body = obj.custom_id, obj.depends_on, obj.body
                request = self._validate_line_body(obj, where)
            elif isinstance(obj, dict):
                if is_batch_line(obj):
                    raw_cid = obj.get("custom_id")
                    cid = raw_cid if isinstance(raw_cid, str) else None
                    line = InputLine.model_validate(obj)
                    cid, depends_on, body = line.custom_id, line.depends_on, line.body
                    request = self._validate_line_body(line, where)
                else:
                    cid, body = default_custom_id, obj
                    endpoint = self.batch_endpoint
                    self._check_endpoint(endpoint, where)
                    request = endpoint.request.model_validate(obj)
            else:
                self._fail(where, None, [("", f"expected a JSON object, got {type(obj).__name__}")])
                return None
        except ValidationError as exc:
            prefix = "body" if isinstance(obj, dict) and is_batch_line(obj) and cid else ""
            self._fail(
                where, cid, self._with_duplicate(cid, describe_validation_error(exc, prefix=prefix))
            )
            return None
        except _LineProblem as problem:
            shown = [] if problem.silent else [(problem.field, problem.message)]
            self._fail(where, cid, self._with_duplicate(cid, shown), problem.code)
            return None
        try:
            encoded = orjson.dumps(body)
        except TypeError as exc:  # orjson.JSONEncodeError: too deep, or not JSON at all
            prefix = "body" if isinstance(obj, InputLine) or _is_line_dict(obj) else ""
            self._fail(where, cid, self._with_duplicate(cid, [_unencodable(body, exc, prefix)]))
            return None
        if len(encoded) > self.max_request_bytes:
            self._fail(
                where,
                cid,
                [
                    (
                        "body",
                        f"request is {len(encoded)} bytes, over the limit "
                        f"of {self.max_request_bytes} bytes",
                    )
                ],
            )
            return None
        if cid in self.seen:
            self._fail(where, cid, [("custom_id", "duplicate custom_id in this batch")])
            return None
        if depends_on is not None:
            self.depends[cid] = (depends_on, where, depends_on in self.seen)
        self.seen.add(cid)
        model = self.batch_endpoint.model_of(request)
        if self.on_valid is not None:
            self.on_valid(self.batch_endpoint, model, body)
        return PreparedRequest(cid, encoded, model, depends_on)

    def _check_endpoint(self, endpoint: Endpoint, where: str) -> None:
        """The batch's endpoint is the first item's; _LineProblem for an item of another."""
        current = self.endpoint
        if current is None:
            self.endpoint, self.endpoint_from = endpoint, where
            return
        if endpoint is current:
            return
        if self.required is not None:  # the Batch API: every such line, as OpenAI does
            raise _LineProblem(
                "url",
                f"the url names {endpoint.url}, not the batch's endpoint {current.url}",
                code=URL_MISMATCH,
            )
        self.mixed += 1
        raise _LineProblem(
            "url",
            f"{endpoint.url} here, but {self.endpoint_from} is {current.url}: a batch has "
            "one endpoint; submit each endpoint's requests as a batch of its own",
            code=URL_MISMATCH,
            silent=self.mixed > 1,  # the first differing item names the problem
        )

    def _with_duplicate(
        self, cid: str | None, problems: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        # A bad item still claims its custom_id, so a later duplicate is reported too.
        if cid is None:
            return problems
        if cid in self.seen:
            return [*problems, ("custom_id", "duplicate custom_id in this batch")]
        self.seen.add(cid)
        return problems

    def _validate_line_body(self, line: InputLine, where: str) -> Any:
        endpoint = endpoint_for_url(line.url)
        if endpoint is None:
            raise _LineProblem(
                "url",
                unsupported(line.url),
                code=INVALID_URL,
            )
        self._check_endpoint(endpoint, where)
        try:
            request = endpoint.request.model_validate(line.body)
        except ValidationError as exc:
            problems = describe_validation_error(exc, prefix="body")
            field, message = problems[0]
            if len(problems) > 1:
                message += (
                    f" (and {len(problems) - 1} more: "
                    + ", ".join(f"{f}: {m}" for f, m in problems[1:4])
                    + ")"
                )
            raise _LineProblem(field, message) from None
        if line.depends_on is not None and not endpoint.chains:
            raise _LineProblem(
                "depends_on",
                f"depends_on continues a stored response: only {DEFAULT_ENDPOINT.url} "
                "batches can chain requests",
            )
        return request

    def check_dependencies(self) -> None:
        """``depends_on`` must name an earlier line of the batch: chains then can never
        form a cycle, and every parent is known when its children are enqueued."""
        for child, (parent, where, earlier) in self.depends.items():
            if earlier:
                continue
            if parent == child:
                message = "a request cannot depend on itself"
            elif parent in self.seen:
                message = f"depends_on must name an earlier line; {parent!r} comes later"
            else:
                message = f"depends_on names {parent!r}, which is not a custom_id in this batch"
            self._fail(where, child, [("depends_on", message)])

    def raise_if_bad(self) -> None:
        self.check_dependencies()
        if self.bad_count:
            raise InvalidInput(self.problems, total_bad=self.bad_count)


class _LineProblem(Exception):
    """A problem found outside pydantic; ``silent`` counts the item as bad without
    listing it (the mixed batch's later items)."""

    def __init__(
        self, field: str, message: str, *, code: str | None = None, silent: bool = False
    ) -> None:
        self.field, self.message, self.code, self.silent = field, message, code, silent


class _TooDeep(_LineProblem):
    pass


def _is_line_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and is_batch_line(obj)


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/dicts more than ``limit`` levels (iterative: the
    values checked here are too deep for recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
    return False


def _too_deep_message(fields: dict[str, Any], prefix: str) -> tuple[str, str]:
    """(field, message) for a body nested deeper than JSON can be written."""
    field = next(
        (name for name, value in fields.items() if _depth_over(value, MAX_JSON_DEPTH - 1)), ""
    )
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return field, f"nested more than {MAX_JSON_DEPTH} levels deep; such JSON cannot be sent"


def _unencodable(body: dict[str, Any], exc: TypeError, prefix: str) -> tuple[str, str]:
    if "Recursion limit" in str(exc):
        return _too_deep_message(body, prefix)
    return prefix, f"cannot be encoded as JSON: {exc}"


def _request_body(request: Any) -> dict[str, Any]:
    """The body of a typed request object; _TooDeep when pydantic cannot dump it."""
    try:
        body: dict[str, Any] = request.body()
        return body
    except (ValueError, RecursionError) as exc:  # pydantic's serialization depth limit
        fields = {**dict(request), **(request.model_extra or {})}
        if isinstance(exc, RecursionError) or "depth" in str(exc):
            raise _TooDeep(*_too_deep_message(fields, "")) from None
        raise _TooDeep("", f"cannot be encoded as JSON: {exc}") from None


def prepare_batch(
    items: Iterable[Any],
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    endpoint: Endpoint | None = None,
) -> tuple[Endpoint, list[PreparedRequest]]:
    """Validate every item; the batch's endpoint and its requests, or one InvalidInput
    naming all bad items."""
    preparer = ItemPreparer(max_request_bytes=max_request_bytes, endpoint=endpoint)
    prepared: list[PreparedRequest] = []
    with gc_paused():
        for index, item in enumerate(items):
            where, default = f"item {index}", f"line-{index + 1}"
            ready = preparer.add_object(item, where, default_custom_id=default)
            if ready is not None:
                prepared.append(ready)
    preparer.raise_if_bad()
    return preparer.batch_endpoint, prepared


def prepare_items(
    items: Iterable[Any], *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
) -> list[PreparedRequest]:
    """Validate every item; raise one InvalidInput naming all bad ones."""
    return prepare_batch(items, max_request_bytes=max_request_bytes)[1]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. Validating and enqueueing a big batch allocates
    millions of small objects that all stay alive, and the collector would rescan them
    again and again (2-3x slower at a million items); nothing here creates cycles."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()

"""Pre-flight model check: GET {base_url}/models once (cached), refuse unknown models
naming the lines that use them, never show the API key."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from respq import InvalidInput
from respq.contract.errors import ModelCheckError
from respq.producer.models_check import ModelCheckSettings, ModelLister, ModelUses, check_models

KEY = "sk-very-secret-0123456789"
MODELS = {"object": "list", "data": [{"id": "gpt-5.4"}, {"id": "gpt-4.1"}]}

pytestmark = pytest.mark.usefixtures("fresh_model_list")


class Upstream:
    def __init__(self, status: int = 200, body: Any = MODELS) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return httpx.Response(self.status, json=self.body)

        return httpx.MockTransport(handle)


def settings() -> ModelCheckSettings:
    return ModelCheckSettings(base_url="http://up.test/v1/", api_key=SecretStr(KEY))


def uses(*rows: tuple[str, int]) -> ModelUses:
    found = ModelUses()
    for model, line in rows:
        found.add(model, f"line {line}", f"req-{line}")
    return found


async def test_known_models_pass_and_the_list_is_cached() -> None:
    upstream = Upstream()
    lister = ModelLister()
    for _ in range(3):
        await check_models(
            uses(("gpt-5.4", 1), ("gpt-4.1", 2)),
            settings=settings(),
            lister=lister,
            transport=upstream.transport(),
        )
    assert len(upstream.requests) == 1
    request = upstream.requests[0]
    assert str(request.url) == "http://up.test/v1/models"
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_unknown_models_are_named_with_their_lines() -> None:
    found = uses(*[("gpt-typo", n) for n in range(1, 9)], ("gpt-5.4", 9), ("o9", 10))
    with pytest.raises(InvalidInput) as info:
        await check_models(found, settings=settings(), transport=Upstream().transport())
    problems = info.value.problems
    assert {p.field for p in problems} == {"body.model"}
    typo = [p for p in problems if "gpt-typo" in p.message]
    assert [p.where for p in typo] == [f"line {n}" for n in range(1, 6)]  # first five
    assert typo[0].custom_id == "req-1" and "8 request(s)" in typo[0].message
    assert [p.where for p in problems if "'o9'" in p.message] == ["line 10"]
    assert info.value.total_bad == 9
    assert KEY not in str(info.value)


async def test_a_request_that_leaves_its_model_to_the_provider_is_not_checked() -> None:
    # A moderation without a model: the provider's default, not an unknown model "".
    await check_models(
        uses(("", 1), ("gpt-5.4", 2)), settings=settings(), transport=Upstream().transport()
    )


@pytest.mark.parametrize("status", [401, 500])
async def test_fetch_failures_never_show_the_key(status: int) -> None:
    upstream = Upstream(status, {"error": {"message": f"bad key {KEY}"}})
    with pytest.raises(ModelCheckError) as info:
        await check_models(
            uses(("gpt-5.4", 1)), settings=settings(), transport=upstream.transport()
        )
    assert f"HTTP {status}" in str(info.value)
    assert KEY not in str(info.value)


async def test_network_error_is_a_model_check_error() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {KEY}")

    with pytest.raises(ModelCheckError) as info:
        await check_models(
            uses(("gpt-5.4", 1)), settings=settings(), transport=httpx.MockTransport(boom)
        )
    assert KEY not in str(info.value)

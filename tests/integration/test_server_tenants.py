"""Keys are tenants on ``respq serve``: the official ``openai`` SDK as several clients with
their own keys, and the dashboard over HTTP, against a real server, worker and mockapi.
Also the dashboard's session, the headers every answer carries, the throttle of wrong
keys, and a served process's output holding no key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import pytest

from respq import BatchClient, ResponsesRequest
from respq.server.sessions import COOKIE_NAME, CSRF_HEADER

from helpers.factories import request_line, write_jsonl
from helpers.polling import wait_until
from helpers.server import (
    ADMIN_KEY,
    API_KEY,
    OTHER_KEY,
    TEAM_KEYS,
    Stack,
    sdk,
    server_env,
    signed_in,
    start_batch,
    start_server,
    wait_done,
)

pytestmark = pytest.mark.integration

GHOST_BATCH = "batch_" + "0" * 24
ALL_KEYS = (API_KEY, OTHER_KEY, ADMIN_KEY, *TEAM_KEYS)


def run_batch(client: openai.OpenAI, path: Path) -> Any:
    """Upload ``path``, run it as a batch, and return the ended batch."""
    return wait_done(client, start_batch(client, path))


def not_found(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(openai.NotFoundError) as caught:
        call()
    assert caught.value.status_code == 404
    body: dict[str, Any] = caught.value.response.json()
    return body


@pytest.fixture(scope="module")
def a_batch(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An ended batch of API_KEY's tenant with an output and an error file."""
    path = write_jsonl(tmp_path_factory.mktemp("a") / "in.jsonl", 3)
    with path.open("ab") as handle:
        handle.write(request_line(9, model="gpt-typo", cid="typo") + b"\n")
    done = run_batch(sdk(stack, API_KEY), path)
    assert done.status == "completed" and done.output_file_id and done.error_file_id
    return done


@pytest.fixture(scope="module")
def cli_batch_id(stack: Stack) -> str:
    """A batch made with Python (no tenant)."""

    async def submit() -> str:
        async with BatchClient.from_url(stack.db.url, queue_name=stack.queue) as producer:
            made = await producer.submit([ResponsesRequest(model="gpt-5.4-mini", input="hi")])
            await made.wait(timeout=60)
            return made.id

    return asyncio.run(submit())


def test_another_tenant_gets_exactly_the_404_of_an_unknown_id(
    stack: Stack, a_batch: Any, tmp_path: Path
) -> None:
    b = sdk(stack, OTHER_KEY)
    own = run_batch(b, write_jsonl(tmp_path / "b.jsonl", 1))
    a_file = a_batch.input_file_id
    on_batches: list[Callable[[str], object]] = [
        b.batches.retrieve,
        b.batches.cancel,
        lambda i: b.batches.list(after=i),
    ]
    on_files: list[Callable[[str], object]] = [
        b.files.retrieve,
        b.files.content,
        b.files.delete,
        lambda i: b.batches.create(
            input_file_id=i, endpoint="/v1/responses", completion_window="24h"
        ),
    ]
    cases = [
        (a_batch.id, GHOST_BATCH, on_batches),
        (a_file, "file-" + "0" * 24, on_files),
        (a_batch.output_file_id, "file-out-" + GHOST_BATCH, on_files),
        (a_batch.error_file_id, "file-err-" + GHOST_BATCH, on_files),
    ]
    for real, ghost, calls in cases:
        for call in calls:
            unknown = not_found(lambda: call(ghost))  # noqa: B023
            hidden = not_found(lambda: call(real))  # noqa: B023
            assert hidden == with_id(unknown, ghost, real), (real, unknown, hidden)
    # Nothing of A's is in B's lists, and B's own batch and files are.
    assert [batch.id for batch in b.batches.list(limit=100)] == [own.id]
    assert {f.id for f in b.files.list()} == {own.input_file_id, own.output_file_id}
    # B's tries changed nothing: A still has its batch and its file, and lists them.
    a = sdk(stack, API_KEY)
    assert a.batches.retrieve(a_batch.id).status == "completed"
    assert a.files.retrieve(a_file).id == a_file
    listed = {f.id for f in a.files.list()}
    assert {a_file, a_batch.output_file_id, a_batch.error_file_id} <= listed
    assert own.input_file_id not in listed


def test_the_timeline_and_the_monitoring_pages_keep_to_their_viewers(
    stack: Stack, a_batch: Any
) -> None:
    def api(key: str, batch_id: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.get(f"{stack.base_url}/batches/{batch_id}/timeline", headers=headers)

    assert api(API_KEY, a_batch.id).status_code == 200
    hidden, ghost = api(OTHER_KEY, a_batch.id), api(OTHER_KEY, GHOST_BATCH)
    assert hidden.status_code == 404
    assert hidden.json() == with_id(ghost.json(), GHOST_BATCH, a_batch.id)
    # Without a session: no timeline, no workers or limits (a coroutine once let all in).
    with httpx.Client(base_url=stack.root, timeout=10) as anonymous:
        assert anonymous.get(f"/batches/{a_batch.id}/timeline.json").status_code == 401
        for page in ("workers", "limits"):
            assert anonymous.get(f"/{page}").status_code == 303
            assert anonymous.get(f"/fragments/{page}").status_code == 401
    # Workers and limits show every tenant's models and rates: on this shared server, an
    # admin's alone; another key gets the 404 of a page that is not there, and no link.
    pages = ("/workers", "/limits", "/fragments/workers", "/fragments/limits")
    with signed_in(stack, OTHER_KEY) as b:
        assert [b.get(path).status_code for path in pages] == [404] * 4
        assert 'href="/workers"' not in b.get("/").text
    with signed_in(stack, ADMIN_KEY) as admin:
        assert [admin.get(path).status_code for path in pages] == [200] * 4
        assert 'href="/workers"' in admin.get("/").text


def with_id(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``body`` with the id ``old`` in its message replaced by ``new``."""
    return {"error": {**body["error"], "message": body["error"]["message"].replace(old, new)}}


def test_keys_of_one_tenant_share_it_and_admins_see_every_batch(
    stack: Stack, a_batch: Any, cli_batch_id: str, tmp_path: Path
) -> None:
    one, two = (sdk(stack, key) for key in TEAM_KEYS)
    team = run_batch(one, write_jsonl(tmp_path / "team.jsonl", 1))
    assert two.batches.retrieve(team.id).id == team.id
    assert team.id in {batch.id for batch in two.batches.list()}
    assert two.files.content(team.output_file_id).text
    not_found(lambda: two.batches.retrieve(a_batch.id))

    admin = sdk(stack, ADMIN_KEY)
    every = {batch.id for batch in admin.batches.list(limit=100)}
    assert {a_batch.id, team.id, cli_batch_id} <= every
    assert admin.files.content(a_batch.output_file_id).text
    assert admin.batches.retrieve(cli_batch_id).status == "completed"
    # A batch of respq submit or Python has no tenant: no tenant's key sees it.
    a = sdk(stack, API_KEY)
    not_found(lambda: a.batches.retrieve(cli_batch_id))
    assert cli_batch_id not in {batch.id for batch in a.batches.list(limit=100)}


def test_the_dashboard_shows_a_tenant_only_its_own(
    stack: Stack, a_batch: Any, cli_batch_id: str
) -> None:
    with signed_in(stack, OTHER_KEY) as b:
        assert a_batch.id not in b.get("/").text
        assert a_batch.id not in b.get("/fragments/batches").text
        pages = ("/batches/{}", "/fragments/batches/{}", "/batches/{}/output.jsonl")
        for path in (*pages, "/batches/{}/timeline.json"):
            ghost = b.get(path.format(GHOST_BATCH))
            seen = b.get(path.format(a_batch.id))
            assert (seen.status_code, seen.text.replace(a_batch.id, GHOST_BATCH)) == (
                404,
                ghost.text,
            ), path
        cancel = b.post(f"/batches/{a_batch.id}/cancel", headers={CSRF_HEADER: "1"})
        assert cancel.status_code == 404
    with signed_in(stack, API_KEY) as a:
        assert a_batch.id in a.get("/fragments/batches").text
        assert a.get(f"/batches/{a_batch.id}/errors.jsonl").status_code == 200
        assert cli_batch_id not in a.get("/fragments/batches").text
    with signed_in(stack, ADMIN_KEY) as admin:
        listed = admin.get("/fragments/batches").text
        assert a_batch.id in listed and cli_batch_id in listed
        assert admin.get(f"/batches/{a_batch.id}").status_code == 200


def test_sign_out_ends_the_session_and_the_cookie_is_strict(stack: Stack) -> None:
    with signed_in(stack, API_KEY) as browser:
        session = browser.cookies[COOKIE_NAME]
        assert all(key not in session for key in ALL_KEYS)
        assert browser.get("/fragments/batches").status_code == 200
        assert browser.post("/logout").status_code == 303
    with httpx.Client(base_url=stack.root, cookies={COOKIE_NAME: session}) as replay:
        assert replay.get("/fragments/batches").status_code == 401
        assert "Sign in" in replay.get("/").text
    cookie = httpx.post(stack.root + "/login", data={"key": API_KEY}).headers["set-cookie"]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "secure" not in flags
    # Behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from loopback): Secure.
    proxied = httpx.post(
        stack.root + "/login", data={"key": API_KEY}, headers={"x-forwarded-proto": "https"}
    )
    assert "secure" in [part.strip().lower() for part in proxied.headers["set-cookie"].split(";")]


def test_every_answer_forbids_framing_sniffing_and_referrers(stack: Stack) -> None:
    key = {"authorization": f"Bearer {API_KEY}"}
    answers = [
        httpx.get(stack.root + "/"),
        httpx.get(stack.root + "/static/style.css"),
        httpx.get(stack.root + "/healthz"),
        httpx.get(stack.base_url + "/batches"),
        httpx.get(stack.base_url + "/batches", headers=key),
        httpx.get(stack.base_url + "/batches/" + GHOST_BATCH, headers=key),
        httpx.post(stack.root + "/login", data={"key": "sk-wrong"}),
    ]
    assert sorted({a.status_code for a in answers}) == [200, 401, 404]
    for answer in answers:
        headers = answer.headers
        assert headers["x-frame-options"] == "DENY", answer.url
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_wrong_keys_are_throttled_per_client_with_openai_429s(stack: Stack, tmp_path: Path) -> None:
    env = server_env(
        stack.db, stack.queue, tmp_path / "files", RESPQ_SERVER_AUTH_FAILURES_PER_MINUTE="4"
    )
    server, root = start_server(tmp_path / "throttled.log", env)
    with server:
        guess = openai.OpenAI(base_url=root + "/v1", api_key="sk-guess", max_retries=0)
        # Four wrong keys, by every way of presenting one: the fifth try is refused.
        for _ in range(2):
            with pytest.raises(openai.AuthenticationError):
                guess.batches.list()
        assert httpx.post(root + "/login", data={"key": "sk-guess"}).status_code == 401
        assert httpx.get(root + "/?token=sk-guess").status_code == 401
        with pytest.raises(openai.RateLimitError) as caught:
            guess.batches.list()
        error = caught.value.response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "requests",
            "rate_limit_exceeded",
            None,
        )
        assert 1 <= int(caught.value.response.headers["retry-after"]) <= 15
        # While the address is throttled even the right key is refused unchecked: its
        # answer would tell a guess that it was right.
        right = openai.OpenAI(base_url=root + "/v1", api_key=API_KEY, max_retries=0)
        with pytest.raises(openai.RateLimitError):
            right.batches.list()
        form = httpx.post(root + "/login", data={"key": API_KEY})
        link = httpx.get(f"{root}/?token={API_KEY}")
        assert form.status_code == link.status_code == 429
        assert int(form.headers["retry-after"]) >= 1
        # A request with no key is no guess: a plain 401.
        assert httpx.get(root + "/v1/batches").status_code == 401


def test_a_served_process_prints_and_logs_no_key(stack: Stack, tmp_path: Path) -> None:
    env = server_env(stack.db, stack.queue, tmp_path / "files")
    server, root = start_server(tmp_path / "access.log", env, "--log-level", "info")
    with server:
        for name in ("token", "%74oken", "tok%65n"):
            answer = httpx.get(f"{root}/?{name}={quote(ADMIN_KEY)}")
            assert answer.status_code == 303, name  # the app read it: signed in
        wait_until(lambda: server.output().count("GET /?") >= 3, 10, "the access log lines")
        output = server.output()
    assert "%74oken=***" in output and "tok%65n=***" in output
    assert f"{root}/v1" in output  # the banner, without a token link: not a terminal
    assert all(key not in output for key in ALL_KEYS), output

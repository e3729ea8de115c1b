"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright):
sign in, watch a running batch, cancel it, download its errors; and its cookie auth."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from respq.server.sessions import COOKIE_NAME, CSRF_HEADER

from helpers.browser import chromium
from helpers.factories import request_line, write_jsonl
from helpers.polling import wait_until
from helpers.server import API_KEY, Stack, sdk, start_batch

pytestmark = pytest.mark.integration

# Set to a path (docs/dashboard.png) to refresh the README's screenshot.
SCREENSHOT_ENV = "RESPQ_DASHBOARD_SCREENSHOT"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def test_sign_in_watch_and_cancel_a_running_batch(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    client = sdk(stack)
    path = write_jsonl(tmp_path / "small.jsonl", 6)
    with path.open("ab") as handle:
        handle.write(request_line(7, model="gpt-typo", cid="typo-line") + b"\n")
    finished = start_batch(client, path)
    wait_until(lambda: client.batches.retrieve(finished).status == "completed", 60, "small batch")
    stack.mock.control(latency=0.5)
    try:
        running = start_batch(client, write_jsonl(tmp_path / "big.jsonl", 60))
        wait_until(lambda: client.batches.retrieve(running).status == "in_progress", 30, "running")

        page = browser.new_page(viewport={"width": 1100, "height": 300})
        page.goto(stack.root + "/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("API key").fill("sk-not-a-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That key is not accepted.")
        page.get_by_label("API key").fill(API_KEY)
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("heading", name="Batches")).to_be_visible()
        done_row = page.locator(f'tr[data-batch="{finished}"]')
        expect(done_row.locator(".status")).to_have_text("completed")
        expect(done_row).to_contain_text("model_not_found 1")
        expect(done_row).to_contain_text("7 / 7")
        expect(done_row.locator("td").nth(6)).to_have_text(re.compile(r"^\$0\.0\d+$"))
        live_row = page.locator(f'tr[data-batch="{running}"]')
        expect(live_row.locator(".status")).to_have_text("in progress")
        # The list refreshes by itself: the running batch's count moves without a reload.
        first = live_row.locator(".bar-label").inner_text()
        expect(live_row.locator(".bar-label")).not_to_have_text(first, timeout=15_000)
        shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "dashboard.png")
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000

        live_row.get_by_role("link", name=running).click()
        expect(page).to_have_url(re.compile(f"/batches/{running}$"))
        expect(page.locator("h1")).to_contain_text(running)
        models = page.locator("#models")
        expect(models).to_contain_text("gpt-5.4-mini")
        expect(models.locator("td").last).to_have_text(re.compile(r"^\$\d+\.\d{4}$"))
        page.get_by_role("button", name="Cancel batch").click()
        expect(page.locator("h1 .status")).to_have_text("cancelled", timeout=30_000)
        errors = page.locator("#errors")
        expect(errors).to_contain_text("batch_cancelled")
        expect(errors.locator(".sample").first).to_contain_text("req-")
        expect(page.get_by_role("button", name="Cancel batch")).to_have_count(0)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download errors").click()
        saved = tmp_path / "errors.jsonl"
        download.value.save_as(saved)
        assert b"batch_cancelled" in saved.read_bytes()
    finally:
        stack.mock.control(latency=0.0)
    assert client.batches.retrieve(running).status == "cancelled"


def test_token_link_sets_the_cookie_and_redirects(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{stack.root}/?token={API_KEY}")
    expect(page).to_have_url(stack.root + "/")
    expect(page.get_by_role("heading", name="Batches")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == COOKIE_NAME)
    assert API_KEY not in cookie["value"] and cookie["httpOnly"]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    context.close()


def test_dashboard_routes_need_the_cookie_and_actions_the_header(stack: Stack) -> None:
    with httpx.Client(base_url=stack.root, timeout=10) as anonymous:
        assert "Sign in" in anonymous.get("/").text
        assert anonymous.get("/fragments/batches").status_code == 401
        assert anonymous.get("/?token=wrong").status_code == 401
        assert anonymous.post("/batches/x/cancel", headers={CSRF_HEADER: "1"}).status_code == 401
    with httpx.Client(base_url=stack.root, timeout=10) as signed_in:
        assert signed_in.post("/login", data={"key": API_KEY}).status_code == 303
        assert signed_in.get("/fragments/batches").status_code == 200
        # A cross-site form post cannot add the header: refused even with the cookie.
        assert signed_in.post("/batches/x/cancel").status_code == 400
        assert signed_in.post("/batches/x/cancel", headers={CSRF_HEADER: "1"}).status_code == 404
        # The cookie is for the dashboard; the API still wants the bearer key.
        assert signed_in.get("/v1/batches").status_code == 401

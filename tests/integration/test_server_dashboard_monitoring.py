"""The dashboard's timeline charts, workers page and limits page in a real browser, while
batches run against the mock upstream with injected failures: the charts draw and follow
the batch without a reload, asking only for new buckets, and end at what ``respq status``
says; a SIGKILLed worker is shown as gone within a lease; the 429s the mock sent are the
429s the limits page counts; without the charting library the numbers are a table."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from respq.contract.timeline import Timeline

from helpers.browser import CANVAS_COLOUR_JS, OVERFLOW_JS, chromium
from helpers.cli import respq
from helpers.factories import request_line
from helpers.polling import wait_until
from helpers.processes import clean_env, start_worker
from helpers.server import ADMIN_KEY, API_KEY, MOCK_KEY, Stack, sdk, start_batch

pytestmark = pytest.mark.integration

# Set to a folder (docs) to refresh the README's screenshots of these pages.
SCREENSHOTS_ENV = "RESPQ_DASHBOARD_SCREENSHOTS"
LEASE_S = 12
CHARTS = ("requests", "tokens", "errors", "latency")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def batch_file(path: Path, n: int, *, typo_every: int = 0) -> Path:
    """``n`` lines; every ``typo_every``-th asks for a model the mock does not have."""
    with path.open("wb") as handle:
        for i in range(n):
            model = "gpt-typo" if typo_every and i % typo_every == 0 else "gpt-5.4-mini"
            handle.write(request_line(i, model=model) + b"\n")
    return path


def wait_done(stack: Stack, batch_id: str, timeout: float = 90) -> None:
    client = sdk(stack)
    wait_until(
        lambda: client.batches.retrieve(batch_id).status == "completed", timeout, "batch end"
    )


def wait_in_page(page: Any, expression: str, timeout: float) -> None:
    """Poll a JavaScript expression until it is true. Playwright's wait_for_function
    compiles its predicate inside the page, which the dashboard's Content-Security-Policy
    (no 'unsafe-eval') forbids; evaluate comes from outside the page, so the charts are
    tested under the policy users get."""
    wait_until(lambda: bool(page.evaluate(expression)), timeout, expression)


def signed_in_page(
    stack: Stack, browser: Any, width: int = 1100, height: int = 900, key: str = API_KEY
) -> Any:
    """A page signed in with ``key``; the workers and limits pages need an admin's (the
    stack's server has several tenants)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{stack.root}/?token={key}")
    return page


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    folder = os.environ.get(SCREENSHOTS_ENV)
    shot = Path(folder) / name if folder else tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def status_json(stack: Stack, batch_id: str) -> dict[str, Any]:
    env = clean_env(RESPQ_REDIS_URL=stack.db.url, RESPQ_QUEUE_NAME=stack.queue)
    done = respq("status", batch_id, "--json", "--timeline", env=env)
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def test_batch_charts_follow_a_running_batch_and_end_at_what_status_says(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    stack.mock.control(latency=0.3, fail_rate=0.15, fail_mix="nonjson")
    try:
        batch_id = start_batch(sdk(stack), batch_file(tmp_path / "in.jsonl", 160, typo_every=10))
        page = signed_in_page(stack, browser)
        page.goto(f"{stack.root}/batches/{batch_id}")
        page.evaluate("window.sameDocument = true")
        # Both codes have happened and every chart holds two points or more.
        wait_in_page(
            page,
            """() => { const t = window.respqTimeline;
                 return t.codes.length >= 2 && ['requests', 'tokens', 'errors', 'latency']
                   .every((n) => t.charts[n] && t.charts[n].data[0].length >= 2); }""",
            30,
        )
        series = page.evaluate(
            "() => Object.fromEntries(Object.entries(window.respqTimeline.charts)"
            ".map(([n, u]) => [n, u.series.length]))"
        )
        codes = page.evaluate("window.respqTimeline.codes")
        assert {"invalid_response", "model_not_found"} <= set(codes)
        assert series == {"requests": 3, "tokens": 3, "latency": 3, "errors": 1 + len(codes)}
        for name in CHARTS:
            assert page.evaluate(CANVAS_COLOUR_JS, f"#chart-{name}") > 200, name

        # A later point appears in the same document, and only new buckets were fetched.
        last = page.evaluate("window.respqTimeline.charts.requests.data[0].at(-1)")
        wait_in_page(page, f"window.respqTimeline.charts.requests.data[0].at(-1) > {last}", 15)
        assert page.evaluate("window.sameDocument") is True
        fetches = page.evaluate("window.respqTimeline.fetches")
        held = page.evaluate("window.respqTimeline.buckets.length")
        later = [f for f in fetches[1:] if not f["complete"]]
        assert later and all("after=" in f["url"] for f in later)
        assert all(f["buckets"] < held for f in later), (fetches, held)
        wait_in_page(
            page,
            "window.respqTimeline.buckets.length >= 8 || window.respqTimeline.status !== "
            "'in_progress'",
            30,
        )
        screenshot(page, "dashboard-batch.png", tmp_path)

        wait_done(stack, batch_id)
        wait_in_page(page, "window.respqTimeline.status === 'completed'", 20)
        wait_in_page(
            page,
            f"window.respqTimeline.totals.succeeded + window.respqTimeline.totals.failed === {160}",
            20,
        )
        totals = page.evaluate("window.respqTimeline.totals")
    finally:
        stack.mock.control(latency=0.0, fail_rate=0.0)
    status = status_json(stack, batch_id)
    counts, usage = status["request_counts"], status["usage"]
    assert (totals["succeeded"], totals["failed"]) == (counts["completed"], counts["failed"])
    assert totals["errors"] == status["errors_by_code"]
    assert (totals["input_tokens"], totals["output_tokens"]) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )
    assert status["timeline"]["totals"]["succeeded"] == counts["completed"]
    shown = page.locator("#timeline-totals").inner_text()
    assert f"succeeded {counts['completed']} · failed {counts['failed']}" in shown


def test_the_timeline_api_sends_what_is_new_and_the_whole_series_when_the_width_changed(
    stack: Stack, tmp_path: Path
) -> None:
    batch_id = start_batch(sdk(stack), batch_file(tmp_path / "api.jsonl", 8))
    wait_done(stack, batch_id)
    bearer = {"authorization": f"Bearer {API_KEY}"}
    url = f"{stack.base_url}/batches/{batch_id}/timeline"
    with httpx.Client(timeout=10) as http:
        whole = http.get(url, headers=bearer).json()
        assert whole["object"] == "batch.timeline" and whole["complete"]
        assert whole["totals"]["succeeded"] == 8
        last, width = whole["buckets"][-1]["start"], whole["bucket_seconds"]
        newer = http.get(url, params={"after": last, "bucket_seconds": width}, headers=bearer)
        assert newer.json()["complete"] is False
        assert newer.json()["buckets"] == whole["buckets"][-1:]
        widened = http.get(url, params={"after": last, "bucket_seconds": width * 2}, headers=bearer)
        assert widened.json()["complete"] and widened.json()["buckets"] == whole["buckets"]
        assert http.get(url).status_code == 401
        assert http.get(url, params={"after": "x"}, headers=bearer).status_code == 400
        missing = http.get(f"{stack.base_url}/batches/batch_nope/timeline", headers=bearer)
        assert missing.status_code == 404
        assert http.get(f"{stack.root}/batches/{batch_id}/timeline.json").status_code == 401
    raw = stack.db.redis.hgetall(f"respq:{{{batch_id}}}:timeline")
    assert Timeline.parse(raw).totals().succeeded == 8


def test_a_killed_worker_is_shown_as_gone_within_a_lease(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    extra = start_worker(
        tmp_path / "extra-worker.log",
        redis_url=stack.db.url,
        queue_name=stack.queue,
        base_url=stack.mock.base_url,
        api_key=MOCK_KEY,
        lease_seconds=LEASE_S,
        log_level="WARNING",
    )
    with extra:
        worker_id = f"{socket.gethostname()}:{extra.pid}"
        page = signed_in_page(stack, browser, height=360, key=ADMIN_KEY)
        page.goto(f"{stack.root}/workers")
        row = page.locator(f'tr[data-worker="{worker_id}"]')
        row.locator(".status", has_text="live").wait_for(timeout=15_000)
        assert row.locator("td").nth(3).inner_text() == str(extra.pid)
        extra.proc.kill()
        killed = time.monotonic()
        # The page refreshes itself: no reload here.
        row.locator(".status", has_text="gone").wait_for(timeout=LEASE_S * 1000)
        took = time.monotonic() - killed
        assert took < LEASE_S, took
        assert "since" in row.inner_text()
        assert page.locator(".status", has_text="live").count() >= 1  # the stack's worker
        screenshot(page, "dashboard-workers.png", tmp_path)
        print(f"killed worker shown as gone after {took:.1f}s (lease {LEASE_S}s)")


def test_the_limits_page_counts_the_429s_the_workers_received(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    stack.mock.reset()
    stack.mock.control(latency=0.05, fail_rate=0.3, fail_mix="429")
    try:
        batch_id = start_batch(sdk(stack), batch_file(tmp_path / "limited.jsonl", 30))
        wait_done(stack, batch_id)
    finally:
        stack.mock.control(latency=0.0, fail_rate=0.0)
    sent_429 = stack.mock.stats()["by_status"].get("429", 0)
    assert sent_429 > 0
    page = signed_in_page(stack, browser, key=ADMIN_KEY)
    page.goto(f"{stack.root}/limits")
    row = page.locator("#limits tbody tr", has_text="gpt-5.4-mini")
    # Workers publish with their heartbeat (every third of a lease): the page catches up.
    row.locator("td").nth(5).filter(has_text=re.compile(rf"^{sent_429} \(")).wait_for(
        timeout=20_000
    )
    assert "unlimited" in row.locator("td").nth(1).inner_text()
    assert stack.mock.base_url.split("//")[1] in row.inner_text()


def test_without_the_charting_library_the_numbers_are_a_table_and_pages_fit_a_phone(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    batch_id = start_batch(sdk(stack), batch_file(tmp_path / "small.jsonl", 12, typo_every=4))
    wait_done(stack, batch_id)
    context = browser.new_context(viewport={"width": 390, "height": 800})
    context.route("**/static/vendor/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{stack.root}/?token={ADMIN_KEY}")  # an admin: the workers page too
    page.goto(f"{stack.root}/batches/{batch_id}")
    note = page.locator("#charts-missing")
    note.wait_for(state="visible")
    assert "scripts/vendor-assets" in note.inner_text()
    page.locator("#timeline-rows tbody tr").first.wait_for()
    assert "model_not_found" in page.locator("#timeline-rows").inner_text()
    assert "failed 3 (model_not_found 3)" in page.locator("#timeline-totals").inner_text()
    assert page.locator(".charts").is_hidden()
    for path in (f"/batches/{batch_id}", "/workers", "/limits"):
        page.goto(stack.root + path)
        assert page.evaluate(OVERFLOW_JS) <= 0, path
    context.close()

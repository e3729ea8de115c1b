"""Which webhook receivers respq calls (contract/webhook_targets.py), and the settings
and signing of contract/webhooks.py: non-public addresses refused unless allowed, every
resolved address checked, URLs shown without credentials, a bad secret one clear line."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
import standardwebhooks

from respq import BatchClient
from respq.contract.errors import SettingsError, WebhookTargetError
from respq.contract.webhook_targets import display_url, parse_target, refused_reason, resolve_target
from respq.contract.webhooks import (
    WebhookSettings,
    event_body,
    new_secret,
    signed_headers,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.5", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "private"),
        ("93.184.215.14", None),
        ("2606:4700::6810:85e5", None),
    ],
)
def test_non_public_addresses_are_named(address: str, reason: str | None) -> None:
    assert refused_reason(address) == reason


async def test_a_host_is_refused_when_any_of_its_addresses_is_not_public(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def two_addresses(*_: Any, **__: Any) -> list[Any]:
        stream = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
        return [
            (socket.AF_INET, *stream, ("93.184.215.14", 443)),
            (socket.AF_INET, *stream, ("10.0.0.7", 443)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", two_addresses)
    with pytest.raises(WebhookTargetError, match=r"private address 10\.0\.0\.7"):
        await resolve_target("https://hooks.example.com/x", allow_private=False)
    _, addresses = await resolve_target("https://hooks.example.com/x", allow_private=True)
    assert addresses == ["93.184.215.14", "10.0.0.7"]


async def test_localhost_needs_allow_private() -> None:
    with pytest.raises(WebhookTargetError, match="RESPQ_WEBHOOK_ALLOW_PRIVATE=true"):
        await resolve_target("http://localhost:8080/hook", allow_private=False)
    target, addresses = await resolve_target("http://localhost:8080/hook", allow_private=True)
    assert target.port == 8080 and addresses


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https:///no-host", "no host"),
        ("https://example.com:99999/x", "malformed"),
        ("https://exa mple.com/", "whitespace"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(WebhookTargetError, match=message):
        parse_target(url)


def test_urls_are_shown_without_credentials_or_query() -> None:
    assert (
        display_url("https://u:secret@h.example:8443/p?token=abc") == "https://h.example:8443/p?…"
    )
    assert display_url("http://[::1]:9/x") == "http://[::1]:9/x"


async def test_submit_refuses_a_private_receiver_before_writing_anything(
    fake_client: BatchClient,
) -> None:
    with pytest.raises(WebhookTargetError, match="loopback"):
        await fake_client.submit([{"model": "m", "input": "x"}], webhook="http://127.0.0.1/h")
    assert await fake_client.redis.dbsize() == 0


def test_a_bad_secret_is_one_line_that_does_not_show_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPQ_WEBHOOK_SECRET", "whsec_not*base64")
    with pytest.raises(SettingsError) as caught:
        WebhookSettings()
    message = str(caught.value)
    assert "RESPQ_WEBHOOK_SECRET" in message and "not*base64" not in message
    assert "\n" not in message
    monkeypatch.setenv("RESPQ_WEBHOOK_SECRET", new_secret())
    monkeypatch.setenv("RESPQ_WEBHOOK_URL", "ftp://x")
    with pytest.raises(SettingsError, match="RESPQ_WEBHOOK_URL"):
        WebhookSettings()


def test_signed_headers_are_standard_webhooks() -> None:
    secret = new_secret()
    key = WebhookSettings(webhook_secret=secret).key()
    assert key is not None
    body = event_body("evt_1", "batch.completed", 1_700_000_000, "batch_1")
    headers = signed_headers(key, "evt_1", int(time.time()), body)
    assert standardwebhooks.Webhook(secret).verify(body, headers)["data"] == {"id": "batch_1"}

"""Webhooks in tests: ``signing_worker`` starts a worker that signs and delivers batch
events; ``WebhookReceiver`` runs ``webhook_receiver.py`` as a separate process over real
HTTP and reads back what it got; ``judged`` checks a delivery with the official SDK's
``webhooks.unwrap`` and the ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import orjson
import standardwebhooks

from helpers.ports import free_port
from helpers.processes import Managed, clean_env, http_ok, start_worker

SCRIPT = Path(__file__).with_name("webhook_receiver.py")


def signing_worker(
    log_path: Path, redis_url: str, queue_name: str, base_url: str, secret: str, **settings: Any
) -> Managed:
    """A worker process (``helpers.processes.start_worker``) that signs batch events with
    ``secret`` and delivers them to receivers on loopback, where the tests' receivers
    listen, retrying after 0.2 s at first; ``settings`` add to those or change them."""
    defaults: dict[str, Any] = {
        "log_level": "WARNING",
        "webhook_allow_private": "true",
        "webhook_retry_base": 0.2,
    }
    return start_worker(
        log_path,
        redis_url=redis_url,
        queue_name=queue_name,
        base_url=base_url,
        webhook_secret=secret,
        **{**defaults, **settings},
    )


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class WebhookReceiver:
    """The receiver process; ``url`` is where it listens (on loopback: workers need
    RESPQ_WEBHOOK_ALLOW_PRIVATE=true)."""

    def __init__(self, directory: Path, *, refuse: int = 0, delay: float = 0.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "deliveries.jsonl"
        self.refuse_flag = directory / "refusing"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/hooks/respq"
        args = [sys.executable, str(SCRIPT), "--port", str(port), "--log", str(self.log)]
        args += ["--refuse", str(refuse), "--refuse-while", str(self.refuse_flag)]
        args += ["--delay", str(delay)]
        self.process = Managed(args, clean_env(), directory / "receiver.out")
        self.process.wait_ready(
            lambda: http_ok(f"http://127.0.0.1:{port}/health"), 20, "webhook receiver start-up"
        )

    def refuse_all(self, refusing: bool) -> None:
        """Answer 500 to every delivery while ``refusing``."""
        if refusing:
            self.refuse_flag.touch()
        else:
            self.refuse_flag.unlink(missing_ok=True)

    def deliveries(self) -> list[Delivery]:
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_bytes().splitlines():
            record: dict[str, Any] = orjson.loads(line)
            found.append(
                Delivery(record["headers"], base64.b64decode(record["body"]), record["status"])
            )
        return found

    def kill(self) -> None:
        self.process.kill()


@contextmanager
def webhook_receiver(directory: Path, **options: Any) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(directory, **options)
    try:
        yield receiver
    finally:
        receiver.kill()


def judged(delivery: Delivery, secret: str) -> Any:
    """The event, once both judges accept the delivery's signature and shape."""
    event = openai.OpenAI(api_key="unused").webhooks.unwrap(
        delivery.body, delivery.headers, secret=secret
    )
    verified = standardwebhooks.Webhook(secret).verify(delivery.body, delivery.headers)
    assert verified["id"] == event.id == delivery.webhook_id
    assert orjson.loads(delivery.body) == {
        "id": event.id,
        "object": "event",
        "created_at": event.created_at,
        "type": event.type,
        "data": {"id": event.data.id},
    }
    return event

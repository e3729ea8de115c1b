"""``respq submit --webhook URL``: the batch's own receiver (a separate process over real
HTTP, refusing its first deliveries) gets the signed batch.completed event under one
webhook-id, and ``respq status`` shows the delivery; a receiver on a private address is
refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from respq.contract.webhooks import new_secret
from respq.mockapi import MockServer

from helpers.cli import env_for, invoke
from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.polling import wait_until
from helpers.webhooks import judged, signing_worker, webhook_receiver

pytestmark = pytest.mark.integration

SECRET = new_secret()


def test_a_batch_webhook_from_the_cli_is_delivered_through_refusals(
    tmp_path: Path, db: Database, queue_name: str, mock: MockServer
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 5)
    env = env_for(db, queue_name, RESPQ_WEBHOOK_ALLOW_PRIVATE="true")
    with (
        webhook_receiver(tmp_path, refuse=2) as receiver,
        # No server-wide RESPQ_WEBHOOK_URL: only the batch's own receiver.
        signing_worker(tmp_path / "worker.log", db.url, queue_name, mock.base_url, SECRET),
    ):
        receiver_url = receiver.url + "?token=abc"
        result = invoke(["submit", str(path), "--webhook", receiver_url], env=env)
        assert result.exit_code == 0, result.output
        batch_id = result.stdout.strip()
        wait_until(lambda: any(d.accepted for d in receiver.deliveries()), 60, "the event accepted")
        sent = receiver.deliveries()
        status = invoke(["status", batch_id, "--json"], env=env)
        text = invoke(["status", batch_id], env=env).stdout
    assert [d.status for d in sent] == [500, 500, 204]
    assert len({d.webhook_id for d in sent}) == 1
    event = judged(sent[-1], SECRET)
    assert (event.type, event.data.id) == ("batch.completed", batch_id)
    shape = orjson.loads(status.stdout)
    assert shape["respq_webhook"] == receiver.url + "?…"  # the token is not shown
    (delivery,) = shape["respq_webhook_deliveries"]
    assert delivery["event_id"] == event.id
    assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == (
        "delivered",
        3,
        "HTTP 500",
    )
    assert "batch.completed" in text and "delivered" in text
    assert "token=abc" not in status.stdout + text


def test_a_private_webhook_is_refused_before_anything_is_written(
    tmp_path: Path, db: Database, queue_name: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", 2)
    result = invoke(
        ["submit", str(path), "--webhook", "http://169.254.169.254/latest"],
        env=env_for(db, queue_name),
    )
    assert result.exit_code == 2
    assert "link-local address 169.254.169.254" in result.stderr
    assert "RESPQ_WEBHOOK_ALLOW_PRIVATE=true" in result.stderr
    assert "Traceback" not in result.stderr
    assert db.redis.dbsize() == 0

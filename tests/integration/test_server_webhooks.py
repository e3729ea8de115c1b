"""``respq_webhook`` on ``POST /v1/batches`` (the official SDK's ``extra_body``): a batch
whose file fails validation in the server's pipeline sends batch.failed, one that runs
sends batch.completed, each to its own receiver (a separate process), and the batch object
shows the receiver and the delivery; a bad receiver is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from respq.contract.webhooks import new_secret

from helpers.databases import Database
from helpers.factories import write_jsonl
from helpers.polling import wait_until
from helpers.server import sdk, server_stack, upload
from helpers.webhooks import WebhookReceiver, judged, webhook_receiver

pytestmark = pytest.mark.integration

SECRET = new_secret()


@pytest.fixture
def api(tmp_path: Path, db: Database) -> Iterator[openai.OpenAI]:
    """A worker that signs with SECRET and ``respq serve``, both allowing receivers on
    loopback (where the test's receivers listen)."""
    signing = {"webhook_secret": SECRET, "webhook_allow_private": "true", "webhook_retry_base": 0.2}
    with server_stack(tmp_path, db, worker=signing, RESPQ_WEBHOOK_ALLOW_PRIVATE="true") as stack:
        yield sdk(stack)


def accepted(receiver: WebhookReceiver) -> list[object]:
    return [judged(d, SECRET) for d in receiver.deliveries() if d.accepted]


def test_batch_webhooks_through_the_batch_api(api: openai.OpenAI, tmp_path: Path) -> None:
    good = upload(api, write_jsonl(tmp_path / "good.jsonl", 3))
    bad_path = tmp_path / "bad.jsonl"
    bad_path.write_bytes(b"{not json\n")
    bad = upload(api, bad_path)
    with (
        webhook_receiver(tmp_path / "r1") as completed_receiver,
        webhook_receiver(tmp_path / "r2", refuse=1) as failed_receiver,
    ):
        ran = api.batches.create(
            input_file_id=good,
            endpoint="/v1/responses",
            completion_window="24h",
            extra_body={"respq_webhook": completed_receiver.url},
        )
        failed = api.batches.create(
            input_file_id=bad,
            endpoint="/v1/responses",
            completion_window="24h",
            extra_body={"respq_webhook": failed_receiver.url},
        )
        wait_until(lambda: accepted(completed_receiver), 60, "batch.completed accepted")
        wait_until(lambda: accepted(failed_receiver), 60, "batch.failed accepted")
        (done,) = accepted(completed_receiver)
        (refused_then_done,) = accepted(failed_receiver)
        failed_deliveries = failed_receiver.deliveries()
    assert (done.type, done.data.id) == ("batch.completed", ran.id)  # type: ignore[attr-defined]
    assert (refused_then_done.type, refused_then_done.data.id) == (  # type: ignore[attr-defined]
        "batch.failed",
        failed.id,
    )
    assert [d.status for d in failed_deliveries] == [500, 204]
    assert len({d.webhook_id for d in failed_deliveries}) == 1
    shown = api.batches.retrieve(failed.id).model_dump()
    assert shown["status"] == "failed"
    assert shown["respq_webhook"] == failed_receiver.url
    (delivery,) = shown["respq_webhook_deliveries"]
    assert (delivery["type"], delivery["state"], delivery["attempts"]) == (
        "batch.failed",
        "delivered",
        2,
    )


def test_a_bad_receiver_is_a_400_naming_the_field(api: openai.OpenAI, tmp_path: Path) -> None:
    file_id = upload(api, write_jsonl(tmp_path / "in.jsonl", 1))
    for bad in ("ftp://example.com/hook", "not a url", 7, "http://no-such-host.invalid/"):
        with pytest.raises(openai.BadRequestError) as caught:
            api.batches.create(
                input_file_id=file_id,
                endpoint="/v1/responses",
                completion_window="24h",
                extra_body={"respq_webhook": bad},
            )
        assert caught.value.param == "respq_webhook", bad

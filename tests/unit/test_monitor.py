"""What workers report in their heartbeat (worker/activity.py) and how the dashboard reads it
back (producer/monitor.py): per-scope traffic in a sliding minute, a worker that stopped
reporting shown as gone, and the limiter's shared state per scope, on fakeredis."""

from __future__ import annotations

import orjson
import pytest
from fakeredis.aioredis import FakeRedis

from respq.contract.constants import WORKER_INFO_PREFIX, WORKERS_KEY, limit_keys, limit_tag
from respq.producer.monitor import read_limits, read_workers
from respq.worker.activity import MinuteCounter, ScopeActivity, WorkerActivity, scope_label
from respq.worker.limiter import Limits, RateLimiter

NOW = 1_700_000_000.0
SCOPE = "https://user:sk-secret@api.example.com/v1?key=sk-secret|gpt-5.4"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_minute_counter_forgets_what_is_older_than_a_minute() -> None:
    counter = MinuteCounter()
    counter.add(3, NOW)
    counter.add(2, NOW + 30)
    assert counter.total(NOW + 30) == 5
    assert counter.total(NOW + 61) == 2
    assert counter.total(NOW + 200) == 0


def test_scope_activity_counts_sends_tokens_and_429s_and_stores_no_credential() -> None:
    clock = Clock()
    activity = ScopeActivity(clock)
    limits = Limits(rpm=600, tpm=90_000)
    clock.now += 120  # running for two minutes: the window is the whole minute
    for _ in range(4):
        activity.sent(SCOPE, limits)
    activity.used(SCOPE, limits, 1500)
    activity.rate_limited(SCOPE, limits)
    (tag, data), *_ = activity.snapshot().items()
    assert tag == limit_tag(SCOPE)
    assert data["label"] == "https://api.example.com/v1 gpt-5.4"
    assert "sk-secret" not in orjson.dumps(data).decode()
    assert (data["rpm"], data["tpm"], data["sent_1m"], data["tokens_1m"]) == (600, 90_000, 4, 1500)
    assert (data["r429"], data["r429_1m"]) == (1, 1)
    assert 55 <= float(str(data["window_s"])) <= 60
    assert scope_label("http://127.0.0.1:8400/v1|m") == "http://127.0.0.1:8400/v1 m"


def test_the_worker_rate_is_what_it_recorded_since_its_last_heartbeat() -> None:
    clock = Clock(100.0)
    recorded = [0]
    activity = WorkerActivity(ScopeActivity(), lambda: recorded[0], lease_seconds=9, clock=clock)
    first = activity.fields()
    assert (first["rate"], first["lease_ms"], first["pid"]) == ("0.000", 9000, activity.pid)
    recorded[0], clock.now = 30, 103.0
    assert activity.fields()["rate"] == "10.000"


async def heartbeat(redis: FakeRedis, worker_id: str, seen: float, **fields: object) -> None:
    await redis.zadd(WORKERS_KEY, {worker_id: seen})
    if fields:
        mapping = {k: v if isinstance(v, str | int) else orjson.dumps(v) for k, v in fields.items()}
        await redis.hset(WORKER_INFO_PREFIX + worker_id, mapping=mapping)  # type: ignore[misc]


async def test_a_worker_silent_for_two_heartbeats_is_gone_since_its_last_one(
    fake_redis: FakeRedis,
) -> None:
    await heartbeat(fake_redis, "a:1", NOW - 2, id="a:1", lease_ms=9000, in_flight=3, rate="1.5")
    await heartbeat(fake_redis, "b:2", NOW - 7, id="b:2", lease_ms=9000, in_flight=5)
    await heartbeat(fake_redis, "c:3", NOW - 40)  # its hash expired: two leases of silence
    await heartbeat(fake_redis, "old:4", NOW - 7200, id="old:4")  # past what the page shows
    workers = await read_workers(fake_redis, NOW)
    assert [(w.id, w.gone) for w in workers] == [("a:1", False), ("b:2", True), ("c:3", True)]
    live, silent, expired = workers
    assert (live.in_flight, live.rate, live.lease_s) == (3, 1.5, 9.0)
    assert silent.gone_since == NOW - 7  # 7 s > two heartbeats of 3 s
    assert (expired.host, expired.pid, expired.gone_since) == ("c", 3, NOW - 40)
    assert live.as_json()["state"] == "live" and silent.as_json()["state"] == "gone"


async def test_limits_sum_the_live_workers_and_read_the_shared_cool_down(
    fake_redis: FakeRedis,
) -> None:
    tag = limit_tag(SCOPE)

    def scope(sent: int, tokens: int, r429: int) -> dict[str, object]:
        return {
            tag: {
                "label": "https://api.example.com/v1 gpt-5.4",
                "rpm": 600,
                "tpm": 90_000,
                "algorithm": "gcra",
                "sent_1m": sent,
                "tokens_1m": tokens,
                "window_s": 30,
                "r429": r429,
                "r429_1m": r429,
            }
        }

    await heartbeat(fake_redis, "a:1", NOW, id="a:1", lease_ms=9000, scopes=scope(10, 900, 2))
    await heartbeat(fake_redis, "b:2", NOW, id="b:2", lease_ms=9000, scopes=scope(5, 600, 1))
    await heartbeat(fake_redis, "gone:3", NOW - 60, id="gone:3", scopes=scope(99, 9, 9))
    limiter = RateLimiter(fake_redis)
    await limiter.on_rate_limited(SCOPE, 30.0)
    await fake_redis.hset(limit_keys(tag)["hdr"], mapping={"rpm": 500})
    (view,) = await read_limits(fake_redis, await read_workers(fake_redis, NOW))
    assert (view.workers, view.rate_limited) == (2, 3)
    assert (view.used_rpm, view.used_tpm) == (30.0, 3000.0)  # 15 sends in 30 s
    assert view.provider_rpm == 500 and view.multiplier == pytest.approx(0.8)
    assert view.effective_rpm == 400.0  # the provider's 500, cut to 0.8 after a 429
    assert 29 < view.cool_down_s <= 30
    assert await read_limits(fake_redis, []) == []

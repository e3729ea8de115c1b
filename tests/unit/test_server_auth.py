"""Who a key is on ``respq serve`` (tenants, admins), dashboard sessions, the throttle of
wrong keys, the token link and the access log's masking of it."""

from __future__ import annotations

import hashlib
import io

import pytest
from fakeredis.aioredis import FakeRedis
from starlette.datastructures import QueryParams

from respq.contract.constants import SESSION_PREFIX
from respq.contract.errors import BadKeySetting, BadLogLevel
from respq.server.access_log import redact
from respq.server.auth import UNRESTRICTED, KeyRing, Principal, visible
from respq.server.run import prepare, serve_forever
from respq.server.sessions import SessionStore
from respq.server.settings import ServerSettings
from respq.server.throttle import SignInThrottle, client_address


def test_entries_name_tenants_bare_keys_are_their_own_and_admins_see_all() -> None:
    ring = KeyRing(["team:k1", "team:k2", "solo", "other:x:y"], ["boss", "team:k1"])
    k1, k2, solo, xy, boss = (ring.principal(k) for k in ("k1", "k2", "solo", "x:y", "boss"))
    assert k1 and k2 and solo and xy and boss
    assert (k1.tenant, k1.admin) == ("team", True)
    assert (k2.tenant, k2.admin) == ("team", False)
    assert xy.tenant == "other" and not xy.admin
    assert solo.tenant and solo.tenant.startswith("key:") and "solo" not in solo.tenant
    assert KeyRing(["solo"]).principal("solo") == solo  # stable across restarts
    assert boss.admin and boss.tenant != solo.tenant
    assert ring.principal("team:k1") is None and ring.principal("") is None
    assert KeyRing(["solo"], ["boss"]).first_key == "boss"  # the terminal's link: an admin
    assert ring.by_key_id(k2.key_id) == k2 and ring.by_key_id("nope") is None


def test_workers_and_limits_are_an_admins_where_tenants_share_the_server() -> None:
    shared = KeyRing(["alice:k1", "bob:k2"], ["boss"])
    alice, boss = shared.principal("k1"), shared.principal("boss")
    assert alice and boss
    assert not shared.sees_deployment(alice) and shared.sees_deployment(boss)
    one_team = KeyRing(["team:k1", "team:k2"])
    member = one_team.principal("k2")
    assert member and one_team.sees_deployment(member)  # nobody else's runs to show
    solo = KeyRing(["solo"])
    only = solo.principal("solo")
    assert only and solo.sees_deployment(only)
    assert KeyRing([]).sees_deployment(UNRESTRICTED)  # --no-auth


@pytest.mark.parametrize(
    ("api", "admin", "entry"),
    [
        (["team:"], [], "RESPQ_SERVER_API_KEYS: entry 1"),
        (["ok", "bad name!:secret-value"], [], "RESPQ_SERVER_API_KEYS: entry 2"),
        (["secret-value", "secret-value"], [], "RESPQ_SERVER_API_KEYS: entry 2"),
        (["a:secret-value"], ["b:secret-value"], "RESPQ_SERVER_ADMIN_KEYS: entry 1"),
    ],
)
def test_a_bad_entry_is_named_by_position_never_by_its_text(
    api: list[str], admin: list[str], entry: str
) -> None:
    with pytest.raises(BadKeySetting) as caught:
        KeyRing(api, admin)
    message = str(caught.value)
    assert entry in message and "\n" not in message
    assert "secret" not in message and "bad name" not in message


def test_a_tenant_sees_its_own_an_admin_everything() -> None:
    team = Principal("team")
    assert visible(team, "team")
    assert not visible(team, "other") and not visible(team, None)
    assert visible(Principal("boss", admin=True), "team")
    assert visible(UNRESTRICTED, None)


async def test_sessions_are_random_ids_kept_hashed_with_an_expiry_and_end_on_sign_out(
    fake_redis: FakeRedis,
) -> None:
    ring = KeyRing(["team:sk-team-secret"])
    principal = ring.principal("sk-team-secret")
    assert principal
    store = SessionStore(fake_redis, ring, ttl=600)
    first, second = await store.open(principal), await store.open(principal)
    assert first != second and len(first) >= 43
    assert await store.find(first) == principal
    stored = hashlib.sha256(first.encode()).hexdigest()
    assert await fake_redis.exists(SESSION_PREFIX + stored)
    assert 0 < await fake_redis.ttl(SESSION_PREFIX + stored) <= 600
    for key in await fake_redis.keys("*"):
        assert first.encode() not in key and b"sk-team-secret" not in key
        values = await fake_redis.hgetall(key)
        assert not any(b"sk-team-secret" in v or first.encode() in v for v in values.values())
    await store.end(first)
    assert await store.find(first) is None
    assert await store.find(second) == principal
    assert await store.find("not-a-session") is None


async def test_a_session_ends_when_its_key_leaves_the_settings_or_changes_tenant(
    fake_redis: FakeRedis,
) -> None:
    principal = KeyRing(["team:sk-k"]).principal("sk-k")
    assert principal
    session = await SessionStore(fake_redis, KeyRing(["team:sk-k"]), 600).open(principal)
    assert await SessionStore(fake_redis, KeyRing(["sk-other"]), 600).find(session) is None
    moved = await SessionStore(fake_redis, KeyRing(["team:sk-k"]), 600).open(principal)
    assert await SessionStore(fake_redis, KeyRing(["elsewhere:sk-k"]), 600).find(moved) is None


def test_wrong_keys_are_throttled_per_address_and_a_success_buys_nothing() -> None:
    now = [1000.0]
    throttle = SignInThrottle(3, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 20  # 3 a minute: one every 20 s
    assert throttle.retry_after("10.0.0.2") == 0
    now[0] += 20
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 20
    unlimited = SignInThrottle(0)
    for _ in range(100):
        unlimited.failed("10.0.0.1")
    assert unlimited.retry_after("10.0.0.1") == 0


def test_an_ipv6_client_is_throttled_by_its_64() -> None:
    def of(host: str) -> str:
        return client_address({"type": "http", "client": (host, 5000)})

    assert of("2001:db8::1") == of("2001:db8::ffff:2") != of("2001:db8:0:1::1")
    assert of("::ffff:10.0.0.1") == of("10.0.0.1") == "10.0.0.1"
    assert client_address({"type": "http", "client": None}) == "unknown"


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("token=K", "token=***"),
        ("%74oken=K", "%74oken=***"),
        ("%74%6F%6B%65%6E=K", "%74%6F%6B%65%6E=***"),
        ("x=1&tok%65n=K&y=2", "x=1&tok%65n=***&y=2"),
        ("TOKEN=K&token=K", "TOKEN=***&token=***"),
        ("tokens=1", "tokens=1"),
    ],
)
def test_access_log_masks_the_token_however_its_name_is_encoded(query: str, logged: str) -> None:
    assert redact(f"/?{query}") == f"/?{logged}"


def test_an_encoded_name_is_the_token_the_app_reads() -> None:
    # Why the masking decodes: this is what the dashboard reads as the sign-in token.
    assert QueryParams("%74oken=K")["token"] == "K"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_token_link_is_printed_to_a_terminal_only() -> None:
    settings = ServerSettings(server_api_keys="sk-a,t:sk-b", server_admin_keys="sk-boss")
    log = io.StringIO()
    prepare(settings, no_auth=False, host="0.0.0.0", port=8000, out=log)
    assert "http://127.0.0.1:8000/v1" in log.getvalue()
    assert "token" not in log.getvalue() and "sk-" not in log.getvalue()
    terminal = Terminal()
    prepare(settings, no_auth=False, host="0.0.0.0", port=8000, out=terminal)
    assert "http://127.0.0.1:8000/?token=sk-boss" in terminal.getvalue()
    assert "sk-a" not in terminal.getvalue()


def test_a_bad_key_entry_or_trace_logging_stops_the_start() -> None:
    with pytest.raises(BadKeySetting):
        prepare(
            ServerSettings(server_api_keys=":k"), no_auth=False, host="h", port=1, out=io.StringIO()
        )
    with pytest.raises(BadLogLevel, match="trace"):
        serve_forever(host="127.0.0.1", port=1, no_auth=True, log_level="trace")

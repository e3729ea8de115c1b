"""Load respq's Lua scripts and register them on a Redis client (EVALSHA, EVAL fallback)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_COMMON = "_common.lua"


@cache
def lua_source(package: str, name: str, *, with_common: bool = True) -> str:
    """A script's text; ``_common.lua`` (shared helpers) is prepended when asked."""
    body = resources.files(package).joinpath("lua", name).read_text(encoding="utf-8")
    if not with_common:
        return body
    common = resources.files("contract").joinpath("lua", _COMMON).read_text(encoding="utf-8")
    return common + "\n" + body


class ScriptSet:
    """The scripts one side needs, registered once per Redis client."""

    def __init__(self, redis: Redis, package: str, names: list[str]) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(lua_source(package, f"{name}.lua")) for name in names
        }

    def __getitem__(self, name: str) -> AsyncScript:
        return self._scripts[name]

"""SHA1 -> name of every respq Lua script as it is loaded, to read Redis's SLOWLOG and
MONITOR by script (bench/measure.py, bench/timeline.py). It imports no other bench module,
so bench.timeline can also run it inside the tree it compares with:

    .venv/bin/python -m bench.script_names      # one "<sha1> <name>" per line
"""

from __future__ import annotations

import hashlib
from importlib import resources


def script_names() -> dict[str, str]:
    """SHA1 -> name of every batch-state script and, as ``limiter <name>``, the limiter's."""
    # Imported when called: only the profiling runs need the Lua sources and the worker package.
    from respq.contract.scripts import lua_source
    from respq.worker.limiter import LIMITER_LUA, LIMITER_SCRIPTS

    def sha1(text: str) -> str:
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    folder = resources.files("respq.contract").joinpath("lua")
    # _common.lua and the *_lib.lua files are libraries, loaded only as part of a script.
    stems = sorted(
        entry.name.removesuffix(".lua")
        for entry in folder.iterdir()
        if entry.name.endswith(".lua") and not entry.name.startswith("_")
    )
    names = {sha1(lua_source(stem)): stem for stem in stems if not stem.endswith("_lib")}
    for name in LIMITER_SCRIPTS:
        names[sha1(lua_source(name, LIMITER_LUA))] = f"limiter {name}"
    return names


if __name__ == "__main__":
    for sha, name in script_names().items():
        print(sha, name)

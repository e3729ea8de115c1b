"""The Lua folders (contract/lua/, worker/lua/) against their rules: every script that writes a
batch's keys is in contract/lua/ and in its index (contract/lua/README.md) with a Python
caller that really loads it; the limiter's four scripts alone stay in worker/lua/; every
file declares its KEYS and ARGV in a ``--!`` header and reads them by name, never by
position; and every script loads and runs under the names its header declares."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from fakeredis import FakeAsyncRedis
from lupa.lua51 import LuaRuntime

from respq.contract.constants import WEBHOOKS_KEY, BatchKeys
from respq.contract.scripts import BATCH_STATE, LuaFolder, ScriptSet, Signature, lua_source
from respq.worker.limiter import LIMITER_LUA, LIMITER_SCRIPTS

ROOT = Path(__file__).resolve().parents[2]
BATCH_LUA = ROOT / "contract" / "lua"
LIMITER_FOLDER = ROOT / "worker" / "lua"
INDEX = BATCH_LUA / "README.md"
LIMITER_FILES = {"gcra.lua", "window.lua", "limiter.lua", "limiter_lib.lua"}
POSITIONAL = re.compile(r"\b(KEYS|ARGV)\s*\[\s*\d+\s*\]")
HEADER = re.compile(r"^--! (KEYS|ARGV):", re.MULTILINE)
# `producer/batch.py:Batch.cancel`: a file and a function (or Class.method) in it.
CALLER = re.compile(r"`([\w/]+\.py):([\w.]+)`")


def lua_files() -> list[Path]:
    return sorted([*BATCH_LUA.glob("*.lua"), *LIMITER_FOLDER.glob("*.lua")])


def is_library(path: Path) -> bool:
    """Loaded only as part of a script: _common.lua and the included *_lib.lua files."""
    return path.name.startswith("_") or path.stem.endswith("_lib")


def batch_scripts() -> list[str]:
    return [p.stem for p in sorted(BATCH_LUA.glob("*.lua")) if not is_library(p)]


def index_rows() -> list[tuple[str, list[str], list[tuple[str, str]]]]:
    """(transition, scripts, callers as (file, qualified name)) per row of the index table."""
    rows = []
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        scripts = re.findall(r"`(\w+)\.lua`", cells[1])
        rows.append((cells[0], scripts, CALLER.findall(cells[2])))
    return rows


def defines(path: Path, qualname: str) -> bool:
    """True when ``path`` defines ``qualname`` (``f`` or ``Class.method``)."""
    body: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    for part in qualname.split("."):
        found = next(
            (
                node
                for node in body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            return False
        body = found.body
    return True


@pytest.mark.parametrize("path", lua_files(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_lua_file_declares_its_keys_and_args_and_reads_them_by_name(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert {m.group(1) for m in HEADER.finditer(text)} == {"KEYS", "ARGV"}, (
        f"{path.name} needs a --! KEYS: and a --! ARGV: header line"
    )
    positional = [m.group(0) for m in POSITIONAL.finditer(text)]
    assert not positional, f"{path.name} reads by position: {positional}"


def test_the_rule_sees_positional_reads_and_missing_headers() -> None:
    assert POSITIONAL.findall("local meta = KEYS[1]\nlocal n = ARGV[ 2 ]") == ["KEYS", "ARGV"]
    assert not POSITIONAL.search("for i = MORE_ARGS, #ARGV do local cid = ARGV[i] end")
    assert not HEADER.search("-- KEYS: meta, res")


def test_only_the_limiter_keeps_its_scripts_outside_the_batch_state_folder() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.lua"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    elsewhere = [f for f in tracked if Path(f).parent != Path("contract/lua")]
    assert sorted(elsewhere) == sorted(f"worker/lua/{name}" for name in LIMITER_FILES)
    assert {f"{name}.lua" for name in LIMITER_SCRIPTS} | {"limiter_lib.lua"} == LIMITER_FILES


def test_every_batch_state_script_is_in_the_index() -> None:
    indexed = {script for _, scripts, _ in index_rows() for script in scripts}
    assert set(batch_scripts()) - indexed == set(), "scripts missing from contract/lua/README.md"
    assert indexed - set(batch_scripts()) == set(), "the index names scripts that do not exist"


def test_every_caller_the_index_names_exists_and_loads_its_script() -> None:
    rows = index_rows()
    assert len(rows) >= len(batch_scripts())
    wrong = []
    for transition, scripts, callers in rows:
        assert callers, f"no caller for {transition!r}"
        for file, qualname in callers:
            path = ROOT / file
            if not path.is_file() or not defines(path, qualname):
                wrong.append(f"{file}:{qualname} does not exist")
                continue
            source = path.read_text(encoding="utf-8")
            wrong += [f"{file} never loads {s}.lua" for s in scripts if f'"{s}"' not in source]
    assert not wrong, wrong


def test_the_index_check_sees_a_caller_that_does_not_exist() -> None:
    assert defines(ROOT / "worker" / "store.py", "WorkerStore.claim")
    assert not defines(ROOT / "worker" / "store.py", "WorkerStore.no_such_method")


@pytest.mark.parametrize(
    ("folder", "names"), [(BATCH_STATE, batch_scripts()), (LIMITER_LUA, list(LIMITER_SCRIPTS))]
)
async def test_every_script_compiles_with_its_named_tables(
    folder: LuaFolder, names: list[str]
) -> None:
    redis = FakeAsyncRedis()
    scripts = ScriptSet(redis, names, folder)  # checks each library's names come first
    lua = LuaRuntime()
    for name in names:
        source = lua_source(name, folder)
        signature = scripts[name].signature
        assert signature.keys or signature.more_keys, f"{name}.lua takes no keys"
        assert "local K = {" in source and "local A = {" in source
        # Redis runs Lua 5.1: a syntax error (or too many locals) shows here, not at a
        # worker's first call. Compiling runs nothing.
        lua.compile(source)
    await redis.aclose()


def test_a_library_reads_only_names_its_script_declares_first() -> None:
    library = Signature.parse("--! KEYS: req tok\n--! ARGV: op now\n")
    assert Signature(("req", "tok", "cool"), ("op", "now", "rpm")).starts(library)
    assert not Signature(("tok", "req"), ("op", "now")).starts(library)


def test_a_batch_fills_the_keys_its_script_names_and_nothing_else() -> None:
    signature = Signature.parse(
        "--! KEYS: meta res queue webhooks *batch_keys\n--! ARGV: batch_id now\n"
    )
    keys = BatchKeys("b1")
    implied = signature.implied(keys)
    assert implied == {
        "meta": keys.meta,
        "res": keys.res,
        "webhooks": WEBHOOKS_KEY,
        "batch_keys": keys.all(),
        "batch_id": "b1",
    }
    # queue and now are the caller's: leaving them out is an error that names them.
    with pytest.raises(TypeError, match=r"missing \['now', 'queue'\]"):
        signature.lists("example", implied)
    # Without a batch only the global keys are filled.
    assert signature.implied(None) == {"webhooks": WEBHOOKS_KEY}
    # A name passed by the caller wins over the implied one.
    values = implied | {"queue": "q", "now": 1, "meta": "other"}
    assert signature.lists("example", values)[0][:3] == ["other", keys.res, "q"]

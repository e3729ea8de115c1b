"""What the benchmarks measure beyond the clock: the private Redis server's counters (INFO,
commandstats, SLOWLOG split by Lua script), a process's CPU time and RSS, and the machine's
one-line description that heads every result."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from bench.script_names import script_names
from bench.stack import REDIS_PID, sync_redis


def redis_info(section: str) -> dict[str, Any]:
    info: dict[str, Any] = sync_redis().info(section)
    return info


def used_memory() -> int:
    return int(redis_info("memory")["used_memory"])


def commands_processed() -> int:
    return int(redis_info("stats")["total_commands_processed"])


def command_calls() -> dict[str, int]:
    """Calls per command (INFO commandstats), e.g. {"evalsha": 1234, "zadd": 10}."""
    stats = redis_info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def command_usec() -> dict[str, tuple[int, int]]:
    """(calls, microseconds) per command from INFO commandstats; a script's time counts
    under EVALSHA and again under each command it runs."""
    stats = redis_info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


def calls_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


def redis_version() -> str:
    return str(redis_info("server")["redis_version"])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine_line() -> str:
    return (
        f"machine: {os.cpu_count()} cores, {cpu_model()}, Redis {redis_version()}, "
        f"Python {sys.version.split()[0]}"
    )


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def redis_cpu_seconds() -> float:
    """CPU time the private Redis server has used so far (all its threads)."""
    return cpu_seconds(REDIS_PID)


def slowlog_start(max_len: int = 200_000) -> None:
    """Log every command with its duration (SLOWLOG), from now on."""
    r = sync_redis()
    r.config_set("slowlog-max-len", max_len)
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()


def slowlog_by_command(requests: int) -> list[tuple[str, float, float]]:
    """(command or script name, calls/request, µs/request) since slowlog_start, most
    time first; EVALSHA is split by script. Stops logging."""
    r = sync_redis()
    entries = r.slowlog_get(r.slowlog_len())
    r.config_set("slowlog-log-slower-than", 10_000)
    names = script_names()
    calls: dict[str, int] = {}
    usec: dict[str, int] = {}
    for entry in entries:
        parts = entry["command"].split()
        name = parts[0].decode().lower() if parts else "?"
        if name in ("evalsha", "eval") and len(parts) > 1:
            name = "script " + names.get(parts[1].decode(), parts[1].decode()[:8])
        calls[name] = calls.get(name, 0) + 1
        usec[name] = usec.get(name, 0) + int(entry["duration"])
    return sorted(
        ((name, calls[name] / requests, usec[name] / requests) for name in calls),
        key=lambda row: -row[2],
    )

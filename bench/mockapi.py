"""``python -m bench.mockapi``: requests/s of one ``python -m respq.mockapi`` process.

Starts the server in a subprocess on a free port, drives it with ``--concurrency`` workers
sharing httpx clients on the aiohttp transport for ``--seconds``, and prints requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
from httpx_aiohttp import AiohttpTransport

BODY = {"model": "gpt-5.4", "input": "Write a one-sentence launch caption for a headset."}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_ready(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url + "/health")).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)


async def drive(url: str, seconds: float, concurrency: int, clients: int, stream: bool) -> int:
    body = {**BODY, "stream": stream}
    pool = [
        httpx.AsyncClient(
            base_url=url,
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=64)),
            timeout=30,
        )
        for _ in range(clients)
    ]
    done = 0
    errors = 0
    stop_at = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, errors
        while time.monotonic() < stop_at:
            response = await client.post("/v1/responses", json=body)
            if response.status_code == 200:
                done += 1
            else:
                errors += 1

    try:
        await asyncio.gather(*(worker(pool[i % clients]) for i in range(concurrency)))
    finally:
        for client in pool:
            await client.aclose()
    if errors:
        print(f"non-200 answers: {errors}", file=sys.stderr)
    return done


async def run(args: argparse.Namespace) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MOCKAPI_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "respq.mockapi", "--port", str(port)], env=env)
    try:
        await wait_ready(url)
        await drive(url, 0.5, args.concurrency, args.clients, args.stream)  # warm-up
        started = time.monotonic()
        done = await drive(url, args.seconds, args.concurrency, args.clients, args.stream)
        elapsed = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(10)
    return done / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mockapi", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args(argv)
    rate = asyncio.run(run(args))
    kind = "stream" if args.stream else "plain"
    print("| mode | concurrency | seconds | requests/s |\n|---|---|---|---|")
    print(f"| {kind} | {args.concurrency} | {args.seconds:g} | {rate:,.0f} |")


if __name__ == "__main__":
    main()

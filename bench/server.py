"""``respq serve``: upload, validation and output-file throughput, and the choice between
lazy output files and files written once when a batch ends.

One ``respq serve`` process on Redis DB 7 (flushed before and after), no workers: results
of the output-file phase are written straight into Redis in the stored line format (1 %
failures, in both of OpenAI's shapes). The server's peak RSS is sampled every 20 ms.

    .venv/bin/python -m bench.server [--lines 1000000] [--output-lines 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import inputs, measure, report, stack
from respq.contract.constants import FILE_PREFIX, FILES_KEY, BatchKeys
from respq.producer.cli.jsonl import check_file

KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MB = 1024 * 1024


class PeakRss:
    """Samples a process's VmRSS in a thread; ``peak()`` since the last ``reset()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self._peak = max(self._peak, measure.rss_kb(self.pid))
            except FileNotFoundError:  # the server has exited
                return

    def reset(self) -> int:
        self._peak = measure.rss_kb(self.pid)
        return self._peak

    def peak(self) -> int:
        return max(self._peak, measure.rss_kb(self.pid))

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def server(tmp: Path) -> Iterator[tuple[str, Any]]:
    import subprocess

    port = stack.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPQ_")}
    env.update(
        RESPQ_REDIS_URL=stack.REDIS_URL,
        RESPQ_QUEUE_NAME=stack.unique_queue(),
        RESPQ_FILES_DIR=str(tmp / "files"),
        RESPQ_SERVER_API_KEYS=KEY,
    )
    cmd = [
        stack.PYTHON,
        "-m",
        "respq.producer.cli",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=stack.ROOT, stdout=subprocess.DEVNULL)
    try:
        root = f"http://127.0.0.1:{port}"
        stack.wait_http(root + "/healthz")
        yield root, proc
    finally:
        stack.stop_process(proc)


def wait_status(http: httpx.Client, batch_id: str, wanted: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(f"/v1/batches/{batch_id}").json()
        if "status" not in answer:
            raise RuntimeError(f"{batch_id}: {answer}")
        status = str(answer["status"])
        if status in wanted:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{batch_id} still {status}")
        time.sleep(0.02)


def upload(http: httpx.Client, path: Path) -> tuple[str, float]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        answer = http.post(
            "/v1/files",
            files={"file": (path.name, handle, "application/jsonl")},
            data={"purpose": "batch"},
        )
    answer.raise_for_status()
    return str(answer.json()["id"]), time.perf_counter() - started


def create(http: httpx.Client, file_id: str) -> str:
    body = {"input_file_id": file_id, "endpoint": "/v1/responses", "completion_window": "24h"}
    answer = http.post("/v1/batches", json=body)
    answer.raise_for_status()
    return str(answer.json()["id"])


def download(http: httpx.Client, url: str) -> tuple[float, float, int]:
    """(time to first byte, total time, bytes)."""
    started = time.perf_counter()
    first = 0.0
    size = 0
    with http.stream("GET", url) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_raw():
            if not size:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, time.perf_counter() - started, size


def result_line(i: int) -> bytes:
    cid = f"req-{i}"
    if i % 100 == 99:  # 1 % failures, alternating OpenAI's two shapes
        if i % 200 == 99:
            return orjson.dumps(
                {
                    "id": f"batch_req_{i}",
                    "custom_id": cid,
                    "response": None,
                    "error": {"code": "batch_expired", "message": "expired"},
                }
            )
        body = {"error": {"code": "model_not_found", "message": "no such model"}}
        response = {"status_code": 404, "request_id": f"req_{i}", "body": body}
        return orjson.dumps({"id": f"b{i}", "custom_id": cid, "response": response, "error": None})
    body = {
        "id": f"resp_{i:024x}",
        "object": "response",
        "status": "completed",
        "model": "gpt-5.4-mini",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": f"A caption for item {i}."}],
            }
        ],
        "usage": {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21},
    }
    response = {"status_code": 200, "request_id": f"req_{i}", "body": body}
    return orjson.dumps({"id": f"b{i}", "custom_id": cid, "response": response, "error": None})


def store_results(batch_id: str, n: int) -> None:
    """A finished batch of ``n`` results, written the way the workers store them."""
    keys = BatchKeys(batch_id)
    redis = stack.sync_redis()
    failed = sum(1 for i in range(n) if i % 100 == 99)
    now = int(time.time())
    redis.hset(
        keys.meta,
        mapping={
            "id": batch_id,
            "status": "completed",
            "created_at": now,
            "in_progress_at": now,
            "completed_at": now,
            "total": n,
            "completed": n - failed,
            "failed": failed,
            "sealed": 1,
            "completion_window": "24h",
        },
    )
    redis.zadd("respq:batches", {batch_id: now})
    for start in range(0, n, 10_000):
        ids = [f"req-{i}" for i in range(start, min(n, start + 10_000))]
        pipe = redis.pipeline(transaction=False)
        pipe.rpush(keys.order, *ids)
        pipe.hset(keys.res, mapping={cid: result_line(int(cid[4:])) for cid in ids})
        pipe.execute()


def run(lines: int, output_lines: int) -> None:
    stack.flush_db()
    tmp = Path(tempfile.mkdtemp(prefix="respq-bench-server-"))
    try:
        with (
            server(tmp) as (root, proc),
            httpx.Client(base_url=root, headers=AUTH, timeout=600) as http,
        ):
            rss = PeakRss(proc.pid)
            big = tmp / "input.jsonl"
            inputs.write_jsonl(big, lines)
            size = big.stat().st_size
            started = time.perf_counter()
            shutil.copyfile(big, tmp / "copy.jsonl")
            copy_s = time.perf_counter() - started
            (tmp / "copy.jsonl").unlink()

            base = rss.reset()
            file_id, upload_s = upload(http, big)
            upload_rss = rss.peak() - base

            bad = tmp / "bad.jsonl"
            shutil.copyfile(big, bad)
            with bad.open("ab") as handle:
                handle.write(b"{not json\n")
            bad_id, _ = upload(http, bad)
            started = time.perf_counter()
            check_file(big)
            check_s = time.perf_counter() - started
            base = rss.reset()
            started = time.perf_counter()
            wait_status(http, create(http, bad_id), {"failed"}, 600)
            validate_s = time.perf_counter() - started
            validate_rss = rss.peak() - base

            base = rss.reset()
            started = time.perf_counter()
            batch_id = create(http, file_id)
            wait_status(http, batch_id, {"in_progress"}, 900)
            enqueue_s = time.perf_counter() - started
            enqueue_rss = rss.peak() - base
            stack.flush_db()

            print(f"\n{measure.machine_line()}")
            report.print_table(
                [
                    "step",
                    "lines",
                    "MB",
                    "seconds",
                    "lines/s",
                    "MB/s",
                    "× same-run baseline",
                    "server RSS growth MiB",
                ],
                [
                    [
                        "disk copy of the file (baseline)",
                        lines,
                        size / MB,
                        copy_s,
                        lines / copy_s,
                        size / MB / copy_s,
                        1.0,
                        "-",
                    ],
                    [
                        "POST /v1/files (multipart, streamed to disk)",
                        lines,
                        size / MB,
                        upload_s,
                        lines / upload_s,
                        size / MB / upload_s,
                        copy_s / upload_s,
                        upload_rss / 1024,
                    ],
                    [
                        "check_file in-process (the CLI's validation; baseline)",
                        lines,
                        size / MB,
                        check_s,
                        lines / check_s,
                        size / MB / check_s,
                        1.0,
                        "-",
                    ],
                    [
                        "batches.create → failed (validation only)",
                        lines,
                        size / MB,
                        validate_s,
                        lines / validate_s,
                        size / MB / validate_s,
                        check_s / validate_s,
                        validate_rss / 1024,
                    ],
                    [
                        "batches.create → in_progress (validate + enqueue)",
                        lines,
                        size / MB,
                        enqueue_s,
                        lines / enqueue_s,
                        size / MB / enqueue_s,
                        "-",
                        enqueue_rss / 1024,
                    ],
                ],
                title=f"Upload and validation ({lines:,} lines)",
            )

            out_batch = "batch_bench_output"
            started = time.perf_counter()
            store_results(out_batch, output_lines)
            store_s = time.perf_counter() - started
            out_id = f"file-out-{out_batch}"
            base = rss.reset()
            lazy_ttfb, lazy_s, lazy_bytes = download(http, f"/v1/files/{out_id}/content")
            lazy_rss = rss.peak() - base
            started = time.perf_counter()
            size_answer = http.get(f"/v1/files/{out_id}").json()
            size_s = time.perf_counter() - started
            assert size_answer["bytes"] == lazy_bytes, (size_answer, lazy_bytes)

            # Written once: the same lines materialised to a file at batch end, then served
            # from disk like an upload.
            disk_id = "file-" + "0" * 24
            target = tmp / "files" / f"{disk_id}.jsonl"
            base = rss.reset()
            started = time.perf_counter()
            with (
                target.open("wb") as handle,
                http.stream("GET", f"/v1/files/{out_id}/content") as answer,
            ):
                for chunk in answer.iter_raw():
                    handle.write(chunk)
            write_s = time.perf_counter() - started
            write_rss = rss.peak() - base
            stack.sync_redis().hset(
                FILE_PREFIX + disk_id,
                mapping={
                    "id": disk_id,
                    "bytes": lazy_bytes,
                    "created_at": 0,
                    "filename": "o.jsonl",
                    "purpose": "batch_output",
                    "status": "processed",
                },
            )
            stack.sync_redis().zadd(FILES_KEY, {disk_id: 0})
            base = rss.reset()
            disk_ttfb, disk_s, disk_bytes = download(http, f"/v1/files/{disk_id}/content")
            disk_rss = rss.peak() - base
            assert disk_bytes == lazy_bytes
            redis_mb = stack.sync_redis().memory_usage(BatchKeys(out_batch).res) or 0
            rss.stop()

            mbytes = lazy_bytes / MB
            report.print_table(
                [
                    "strategy",
                    "output lines",
                    "MB",
                    "available after batch end s",
                    "first byte s",
                    "download s",
                    "MB/s",
                    "server RSS growth MiB",
                ],
                [
                    [
                        "lazy: streamed from Redis on each download (chosen)",
                        output_lines - output_lines // 100,
                        mbytes,
                        0.0,
                        lazy_ttfb,
                        lazy_s,
                        mbytes / lazy_s,
                        lazy_rss / 1024,
                    ],
                    [
                        "written once at batch end, then served from disk",
                        output_lines - output_lines // 100,
                        mbytes,
                        write_s,
                        write_s + disk_ttfb,
                        disk_s,
                        mbytes / disk_s,
                        max(write_rss, disk_rss) / 1024,
                    ],
                ],
                title=f"Output file of a {output_lines:,}-line batch "
                f"(results in Redis: {redis_mb / MB:,.0f} MB, written in {store_s:.1f} s)",
            )
            print(
                "\nfiles.retrieve of the output file (counts its bytes once, then cached): "
                f"{size_s:.2f} s"
            )
    finally:
        stack.flush_db()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="upload / validation lines")
    parser.add_argument("--output-lines", type=int, default=1_000_000, help="output file lines")
    args = parser.parse_args()
    run(args.lines, args.output_lines)


if __name__ == "__main__":
    main()

"""``respq serve``: upload, validation and output-file throughput, and the choice between
lazy output files and files written once when a batch ends.

One ``respq serve`` process on Redis DB 7 (flushed before and after), no workers: results
of the output-file phase are written straight into Redis in the stored line format (1 %
failures, in both of OpenAI's shapes). The server's peak RSS is sampled every 20 ms.

    .venv/bin/python -m bench.server [--lines 1000000] [--output-lines 1000000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench import inputs, measure, report, stack
from bench.serve_api import AUTH, PeakRss, create, download, server, upload, wait_status
from bench.stored_results import store_results
from respq.contract.constants import FILE_PREFIX, FILES_KEY, BatchKeys
from respq.producer.jsonl_file import check_file

MB = 1024 * 1024


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

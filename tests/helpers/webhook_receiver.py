"""A webhook receiver for tests, run as its own process over real HTTP:

    python tests/helpers/webhook_receiver.py --port P --log FILE [--refuse N]
        [--refuse-while PATH] [--delay S]

Every POST is appended to FILE as one JSON line (its headers, its body in base64, the
status answered). It answers 500 to the first N POSTs and to every POST while PATH exists,
``--delay`` seconds after the request arrived (an attempt that is under way that long), and
204 otherwise. ``GET /health`` answers 200 once it listens. Standard library only, so it
shares nothing with the code under test.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--refuse", type=int, default=0)
    parser.add_argument("--refuse-while", default="")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    lock = threading.Lock()
    seen = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                seen[0] += 1
                n = seen[0]
            if args.delay:
                time.sleep(args.delay)
            refused = n <= args.refuse or bool(
                args.refuse_while and os.path.exists(args.refuse_while)
            )
            status = 500 if refused else 204
            record = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": base64.b64encode(body).decode(),
                "status": status,
                "at": time.time(),
            }
            with lock, open(args.log, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

"""``MockServer``: the app under uvicorn in a background thread, for in-process tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from .app import MockApp, create_app
from .config import MockConfig

T = TypeVar("T")


def http_impl() -> str:
    """``httptools`` when installed (faster), else ``h11``."""
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def loop_impl() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def uvicorn_config(app: MockApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http_impl(),
        loop=loop_impl(),
        lifespan="off",
        access_log=False,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=1,
        backlog=4096,
    )


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT: processes that bind the same port share it."""
    # IPPROTO_TCP: see MockServer.start (TCP_NODELAY on accepted sockets).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class MockServer:
    """Run the mock on a free port in a daemon thread.

    >>> with MockServer(MockConfig(rpm=5)) as srv:  # doctest: +SKIP
    ...     httpx.post(srv.base_url + "/responses", json={...})
    """

    def __init__(self, config: MockConfig | None = None, log_level: str = "warning") -> None:
        self.config = config or MockConfig()
        self.app = create_app(self.config)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, ``{url}/v1``."""
        return self.url + "/v1"

    def start(self, timeout: float = 10.0) -> MockServer:
        # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then,
        # and without it Nagle + delayed ACK add ~40 ms to every keep-alive response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, 0))  # always a free port; config.port is for the CLI
        self.port = sock.getsockname()[1]
        config = uvicorn_config(self.app, self.config.host, self.port, self._log_level)
        server = uvicorn.Server(config)
        self._server = server

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.name = f"mockapi-{self.port}"
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("mockapi server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = self._loop = None

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (the app's state is not thread-safe)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return future.result(timeout=10)

    def stats(self) -> dict[str, Any]:
        """What ``GET /_stats`` returns."""
        return self._on_loop(self.app.stats_dict)

    def reset(self) -> None:
        """Same as ``POST /_reset``."""
        self._on_loop(self.app.reset)

    def control(self, **changes: Any) -> dict[str, object]:
        """Same as ``POST /_control``: change fail_rate, fail_mix, latency, rpm, tpm... live."""

        def apply() -> dict[str, object]:
            self.app.settings.update(changes)
            return self.app.settings.as_dict()

        return self._on_loop(apply)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

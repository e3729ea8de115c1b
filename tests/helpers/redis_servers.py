"""A private ``redis-server`` for reliability tests: its own free port and tmp dir, AOF on
(``appendfsync always`` unless told otherwise: ``everysec`` is what docker-compose runs),
optional password and TLS; stop, kill and restart it on the same port and directory, and
cut the tail off its AOF as an OS crash under ``everysec`` would."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import redis

from helpers.polling import wait_until
from helpers.ports import free_port
from helpers.processes import KilledOnExit, stop_process


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A self-signed certificate: ``ca`` signs ``cert`` (for 127.0.0.1/localhost)."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    quiet = {"check": True, "capture_output": True, "timeout": 60}
    commands = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"],
        ["-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=respq-test-ca"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)],
        ["-out", str(csr), "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key)],
        ["-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext)],
    ]
    for head, tail in zip(commands[::2], commands[1::2], strict=True):
        subprocess.run([*head, *tail], **quiet)  # type: ignore[call-overload]
    return TlsFiles(ca=ca, cert=cert, key=key)


class RedisServer(KilledOnExit):
    """``redis-server`` on a free port in ``directory`` with ``appendonly yes``.

    >>> with RedisServer(tmp_path) as srv:  # doctest: +SKIP
    ...     srv.restart()
    """

    def __init__(
        self,
        directory: Path,
        *,
        password: str | None = None,
        tls: TlsFiles | None = None,
        port: int | None = None,
        appendfsync: str = "always",
    ) -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.password = password
        self.tls = tls
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "redis.log"
        directory.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0, *, with_password: bool = True) -> str:
        auth = f":{self.password}@" if self.password and with_password else ""
        if self.tls is not None:
            return f"rediss://{auth}127.0.0.1:{self.port}/{db}?ssl_ca_certs={self.tls.ca}"
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def _args(self) -> list[str]:
        args = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
        ]
        if self.tls is not None:
            args += ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            args += ["--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    def client(self, db: int = 0) -> redis.Redis:
        if self.tls is not None:
            return redis.Redis(
                host="127.0.0.1",
                port=self.port,
                db=db,
                password=self.password,
                ssl=True,
                ssl_ca_certs=str(self.tls.ca),
                socket_timeout=2,
            )
        return redis.Redis(
            host="127.0.0.1", port=self.port, db=db, password=self.password, socket_timeout=2
        )

    def ping(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 15.0) -> RedisServer:
        self.proc = subprocess.Popen(
            self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            return self.ping()

        try:
            wait_until(answers, timeout, "redis-server start-up")
        except AssertionError:
            self.kill()
            raise RuntimeError(f"redis-server did not answer: {self.log_tail()}") from None
        return self

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text()[-2000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (redis fsyncs the AOF and exits), then wait."""
        if self.proc is not None:
            stop_process(self.proc, timeout)
        self.proc = None

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self.proc = None

    def aof_tail(self) -> Path:
        """The AOF file Redis appends to now (Redis 7: the last incr file of the
        manifest in appendonlydir/)."""
        folder = self.directory / "appendonlydir"
        manifest = next(folder.glob("*.manifest"))
        incr = [
            line.split()[1]
            for line in manifest.read_text().splitlines()
            if line.split()[-1:] == ["i"]
        ]
        return folder / incr[-1]

    def cut_aof(self, size: int) -> int:
        """Truncate the (stopped) server's AOF tail to ``size`` bytes, as an OS crash
        loses the writes not yet fsynced; returns how many bytes were cut."""
        assert self.proc is None, "stop or kill the server first"
        tail = self.aof_tail()
        cut = tail.stat().st_size - size
        with tail.open("r+b") as f:
            f.truncate(size)
        return cut

    def restart(self, timeout: float = 15.0) -> None:
        self.stop()
        self.start(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

"""The demo profile of docker-compose.yml run locally, without a Docker engine: its services'
commands start as subprocesses (mockapi, the demo workers, the one-shot ``respq submit
--wait``, the API server) against the shared Redis, as Compose would wire them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from helpers.compose import (
    COMPOSE_FILES_DIR,
    COMPOSE_MOCKAPI,
    COMPOSE_REDIS,
    command_of,
    dockerfile_instruction,
    environment_of,
    load_compose,
    resolved_services,
)
from helpers.databases import Database
from helpers.factories import unique_queue
from helpers.paths import EXAMPLES, ROOT
from helpers.polling import wait_until
from helpers.ports import free_port
from helpers.processes import clean_env, stop_process

BIN = Path(sys.executable).parent


class LocalRun:
    """Maps a compose service onto this machine (the test's database for ``redis``, free ports,
    temp dirs for the volumes) and starts its command as a subprocess."""

    def __init__(self, tmp_path: Path, db: Database) -> None:
        self.db = db
        self.out_dir = tmp_path / "out"
        self.out_dir.mkdir()
        self.files_dir = tmp_path / "files"
        self.api_port = free_port()
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.mock_port = free_port()
        self.queue = unique_queue("compose-test")  # a queue of its own per test
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def value(self, text: str) -> str:
        text = text.replace(COMPOSE_REDIS, self.db.url)
        text = text.replace(COMPOSE_MOCKAPI, f"http://127.0.0.1:{self.mock_port}")
        text = text.replace("127.0.0.1:8400", f"127.0.0.1:{self.mock_port}")
        text = text.replace("127.0.0.1:8000", f"127.0.0.1:{self.api_port}")
        mounts = (
            ("/app/examples", EXAMPLES),
            ("/out", self.out_dir),
            (COMPOSE_FILES_DIR, self.files_dir),
        )
        for container, local in mounts:
            if text == container or text.startswith(container + "/"):
                text = str(local) + text[len(container) :]
        return text

    def argv(self, command: list[str]) -> list[str]:
        args = [self.value(arg) for arg in command]
        if "--port" in args:  # a free port instead of 8400 / 8000, loopback only
            port = self.api_port if args[args.index("--port") + 1] == "8000" else self.mock_port
            args[args.index("--port") + 1] = str(port)
        if "--host" in args:
            args[args.index("--host") + 1] = "127.0.0.1"
        program = args[0]
        if program == "python":
            args[0] = sys.executable
        elif (BIN / program).exists():
            args[0] = str(BIN / program)
        else:
            pytest.fail(f"{program} is not installed in {BIN}")
        return args

    def env(self, service: Mapping[str, Any]) -> dict[str, str]:
        env = {k: self.value(v) for k, v in environment_of(service).items()}
        if "RESPQ_REDIS_URL" in env:
            env["RESPQ_QUEUE_NAME"] = self.queue
        return clean_env(**env)

    def start(self, name: str, service: Mapping[str, Any]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            self.argv(command_of(service)),
            cwd=ROOT,
            env=self.env(service),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def probe(self, test: list[str], service: Mapping[str, Any]) -> bool:
        """Run a healthcheck ``["CMD", ...]`` the way Docker would; True on exit 0."""
        assert test[0] == "CMD", test
        result = subprocess.run(
            self.argv(test[1:]), cwd=ROOT, env=self.env(service), capture_output=True, timeout=30
        )
        return result.returncode == 0

    def healthy(
        self,
        service: Mapping[str, Any],
        what: str,
        timeout: float,
        *,
        test: list[str] | None = None,
    ) -> None:
        """Wait until the service's healthcheck (or ``test``) passes, as Docker would."""
        check = test or service["healthcheck"]["test"]
        wait_until(lambda: self.probe(check, service), timeout, what, interval=0.2)

    def start_mockapi(self, services: Mapping[str, Any]) -> None:
        self.start("mockapi", services["mockapi"])
        self.healthy(services["mockapi"], "mockapi healthy", 30)

    def stop_all(self) -> None:
        for _, proc in self.procs:
            proc.terminate()  # all at once; then each gets its 15 s
        for _, proc in self.procs:
            stop_process(proc, 15)

    def dump_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.iterdir())
        )


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return resolved_services(load_compose())


@pytest.fixture
def run(tmp_path: Path, db: Database) -> Iterator[LocalRun]:
    local = LocalRun(tmp_path, db)
    try:
        yield local
    finally:
        local.stop_all()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_demo_profile_runs_end_to_end(services: dict[str, dict[str, Any]], run: LocalRun) -> None:
    from respq.contract.exit_codes import ExitCode

    worker_health = json.loads(dockerfile_instruction("HEALTHCHECK")[0].split("CMD", 1)[1])
    batch_lines = read_jsonl(EXAMPLES / "batch.jsonl")
    bad = {line["custom_id"] for line in batch_lines if line["body"]["model"] == "gpt-typo"}
    good = {line["custom_id"] for line in batch_lines} - bad
    assert len(bad) == 1
    run.start_mockapi(services)

    demo = services["worker-demo"]
    assert not run.probe(["CMD", *worker_health], demo), "healthy before any worker ran"
    for _ in range(int(demo["deploy"]["replicas"])):
        run.start("worker-demo", demo)
    run.healthy(demo, "worker healthy", 60, test=["CMD", *worker_health])

    submit = run.start("submit", services["submit"])
    try:
        returncode = submit.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("respq submit --wait did not finish\n" + run.dump_logs())
    # One request (the gpt-typo line) fails, so the CLI reports failed requests.
    assert returncode == ExitCode.FAILED_REQUESTS, run.dump_logs()

    results = read_jsonl(run.out_dir / "results.jsonl")
    errors = read_jsonl(run.out_dir / "errors.jsonl")
    assert {line["custom_id"] for line in results} == good
    assert all(line["error"] is None for line in results)
    assert all(line["response"]["status_code"] == 200 for line in results)
    assert {line["custom_id"] for line in errors} == bad
    # An HTTP failure carries its code in `error`, or (OpenAI's shape) in the body.
    codes = [(line["error"] or line["response"]["body"]["error"])["code"] for line in errors]
    assert codes == ["model_not_found"]
    for _, proc in run.procs[:-1]:
        assert proc.poll() is None, "a long-running service exited\n" + run.dump_logs()


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_demo_api_server_runs_the_openai_sdk_batch_workflow(
    services: dict[str, dict[str, Any]], run: LocalRun
) -> None:
    import openai

    run.start_mockapi(services)
    run.start("worker-demo", services["worker-demo"])
    api = services["api-demo"]
    run.start("api-demo", api)
    run.healthy(api, "api healthy", 30)

    key = environment_of(api)["RESPQ_SERVER_API_KEYS"]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{run.api_port}/v1", api_key=key)
    with (EXAMPLES / "batch.jsonl").open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
    )
    ended = ("completed", "failed", "cancelled", "expired")
    try:
        wait_until(lambda: client.batches.retrieve(batch.id).status in ended, 90, "the batch", 0.2)
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{run.dump_logs()}")
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed", run.dump_logs()
    assert batch.output_file_id and batch.error_file_id
    results = client.files.content(batch.output_file_id).text.splitlines()
    errors = client.files.content(batch.error_file_id).text.splitlines()
    assert len(results) + len(errors) == len(read_jsonl(EXAMPLES / "batch.jsonl"))
    assert len(errors) == 1 and "model_not_found" in errors[0]
    assert list(run.files_dir.iterdir()) == [run.files_dir / f"{uploaded.id}.jsonl"]

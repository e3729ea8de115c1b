"""The deployment surface: docker-compose.yml, Dockerfile, .dockerignore and .env.example.

No Docker engine is needed: the compose file is loaded with PyYAML and checked, and the
integration smoke test runs the demo services' commands locally as subprocesses (mockapi,
the demo workers, then the one-shot ``respq submit --wait``) against the real Redis.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from pydantic_settings import BaseSettings

from mockapi.cli import OPTIONS as MOCKAPI_OPTIONS
from mockapi.config import DEFAULT_MODELS
from producer.settings import ClientSettings
from server.settings import ServerSettings
from worker.config import WorkerConfig

from helpers.paths import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent

TEST_DB = 13
LOCAL_REDIS = f"redis://127.0.0.1:6379/{TEST_DB}"
COMPOSE_REDIS = "redis://redis:6379/0"
COMPOSE_MOCKAPI = "http://mockapi:8400"
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (WorkerConfig, ClientSettings, ServerSettings)
RESPQ_IMAGE_SERVICES = ("worker", "mockapi", "worker-demo", "submit", "api", "api-demo")
DEMO_SERVICES = ("mockapi", "worker-demo", "submit", "api-demo")
API_SERVICES = ("api", "api-demo")
COMPOSE_FILES_DIR = "/data/files"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt}; $$ escapes.
VAR_RE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


# -- helpers ------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation (the subset of the spec the file may use)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return "" if value is None else arg
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return VAR_RE.sub(sub, text)


def interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    return node


def used_variables(text: str) -> set[str]:
    names: set[str] = set()
    for match in VAR_RE.finditer(text):
        name = match.group("name") or match.group("bare")
        if name:
            names.add(name)
    return names


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines; commented-out ``# KEY=value`` lines count as listed too."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: not KEY=value: {raw!r}"
        values[key.strip()] = value.strip()
    return values


def env_fields(settings: type[BaseSettings]) -> list[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return [(prefix + name).upper() for name in settings.model_fields]


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def seconds(duration: str) -> float:
    """Compose durations such as ``40s``, ``1m30s``, ``500ms``."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts, duration
    return sum(float(n) * units[u] for n, u in parts)


def dockerfile_instruction(keyword: str) -> list[str]:
    """Every instruction with this keyword, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [
        line.strip()[len(keyword) :].strip()
        for line in text.splitlines()
        if line.strip().upper().startswith(keyword + " ")
    ]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services as Compose sees them with no variables set (every default applies)."""
    resolved = interpolated(compose["services"], {})
    assert isinstance(resolved, dict)
    return resolved


# -- the compose file -----------------------------------------------------------------------


def test_compose_spec_has_no_version_and_declares_the_redis_volume(
    compose: dict[str, Any],
) -> None:
    assert "version" not in compose
    assert "redis-data" in (compose.get("volumes") or {})
    assert "respq-files" in (compose.get("volumes") or {})
    assert "x-respq-common" in compose


def test_redis_persists_with_aof_and_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    redis_svc = services["redis"]
    assert redis_svc["image"] == "redis:7-alpine"
    command = command_of(redis_svc)
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert "redis-data:/data" in redis_svc["volumes"]
    assert "redis-cli" in redis_svc["healthcheck"]["test"]
    assert "ping" in redis_svc["healthcheck"]["test"]
    assert redis_svc["restart"] == "unless-stopped"
    # Published for `respq submit` on this machine (the README's commands), loopback only.
    assert redis_svc["ports"] == ["127.0.0.1:6379:6379"]


def test_worker_scales_and_waits_for_a_healthy_redis(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    assert command_of(worker) == ["arq", "worker.WorkerSettings"]
    assert worker["build"] == "."
    # Scaling with --scale worker=N needs no fixed names or host ports.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert depends_on(worker) == {"redis": "service_healthy"}
    assert worker["restart"] == "unless-stopped"
    assert int(worker["deploy"]["replicas"]) == 2
    assert worker["env_file"] == [{"path": ".env", "required": False}]
    env = environment_of(worker)
    assert env["RESPQ_REDIS_URL"] == COMPOSE_REDIS
    assert env["RESPQ_BASE_URL"] == "https://api.crun.ai/api/v1"
    assert env["RESPQ_API_KEY"] == ""
    assert "RESPQ_QUEUE_NAME" not in env  # the default queue, shared with producers


def test_worker_stop_grace_outlasts_the_shutdown_grace(
    services: dict[str, dict[str, Any]],
) -> None:
    grace = WorkerConfig.model_fields["shutdown_grace"].default
    for name in ("worker", "worker-demo"):
        assert seconds(services[name]["stop_grace_period"]) > grace, name


def test_variables_follow_the_environment(compose: dict[str, Any]) -> None:
    env = {"RESPQ_BASE_URL": "https://example.test/v1", "RESPQ_API_KEY": "k", "RESPQ_WORKERS": "5"}
    worker = interpolated(compose["services"], env)["worker"]
    assert environment_of(worker)["RESPQ_BASE_URL"] == "https://example.test/v1"
    assert environment_of(worker)["RESPQ_API_KEY"] == "k"
    assert int(worker["deploy"]["replicas"]) == 5


def test_respq_services_share_one_image_and_only_api_servers_publish_ports(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {services[name]["image"] for name in RESPQ_IMAGE_SERVICES}
    assert len(images) == 1
    for name in RESPQ_IMAGE_SERVICES:
        service = services[name]
        assert service["build"] == ".", name
        assert "container_name" not in service, name
        assert {"path": ".env", "required": False} in service["env_file"], name
        if name in API_SERVICES:
            assert all(port.startswith("127.0.0.1:") for port in service["ports"]), name
        else:
            assert "ports" not in service, name


def test_api_serves_the_workers_queue_with_keys_and_a_files_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    api = services["api"]
    command = command_of(api)
    assert command[:2] == ["respq", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8000"
    assert "--no-auth" not in command
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert f"respq-files:{COMPOSE_FILES_DIR}" in api["volumes"]
    assert depends_on(api) == {"redis": "service_healthy"}
    assert "profiles" not in api
    env = environment_of(api)
    assert env["RESPQ_REDIS_URL"] == COMPOSE_REDIS
    assert env["RESPQ_FILES_DIR"] == COMPOSE_FILES_DIR
    assert env["RESPQ_SERVER_API_KEYS"] == ""  # no default key: set it in .env
    assert "RESPQ_QUEUE_NAME" not in env  # the regular workers' queue
    assert "http://127.0.0.1:8000/healthz" in " ".join(api["healthcheck"]["test"])
    custom = interpolated(
        compose["services"], {"RESPQ_API_PORT": "9000", "RESPQ_SERVER_API_KEYS": "k1,k2"}
    )
    assert custom["api"]["ports"] == ["127.0.0.1:9000:8000"]
    assert environment_of(custom["api"])["RESPQ_SERVER_API_KEYS"] == "k1,k2"
    demo = services["api-demo"]
    assert (
        environment_of(demo)["RESPQ_QUEUE_NAME"]
        == environment_of(services["worker-demo"])["RESPQ_QUEUE_NAME"]
    )
    assert environment_of(demo)["RESPQ_SERVER_API_KEYS"] == "demo"
    assert demo["ports"] == ["127.0.0.1:8001:8000"]
    assert "server/" in " ".join(dockerfile_instruction("COPY"))


def test_demo_profile_points_its_workers_at_mockapi(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in DEMO_SERVICES:
        assert services[name]["profiles"] == ["demo"], name
    for name in ("redis", "worker"):
        assert "profiles" not in services[name], name

    mockapi = services["mockapi"]
    command = command_of(mockapi)
    assert command[:3] == ["python", "-m", "mockapi"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert port == "8400"
    probe = " ".join(mockapi["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/v1/models" in probe
    mock_key = environment_of(mockapi).get("MOCKAPI_API_KEY")

    demo = services["worker-demo"]
    assert command_of(demo) == ["arq", "worker.WorkerSettings"]
    env = environment_of(demo)
    assert env["RESPQ_BASE_URL"] == f"{COMPOSE_MOCKAPI}/v1"
    assert env["RESPQ_REDIS_URL"] == COMPOSE_REDIS
    assert env["RESPQ_API_KEY"] == mock_key
    assert depends_on(demo) == {"redis": "service_healthy", "mockapi": "service_healthy"}
    # Its own queue: the regular workers (real upstream) never take a demo job.
    assert env["RESPQ_QUEUE_NAME"] not in ("", ClientSettings().queue_name)


def test_submit_is_a_one_shot_on_the_demo_queue(services: dict[str, dict[str, Any]]) -> None:
    submit = services["submit"]
    command = command_of(submit)
    assert command[:3] == ["respq", "submit", "/app/examples/batch.jsonl"]
    assert "--wait" in command
    assert command[command.index("-o") + 1].startswith("/out/")
    assert command[command.index("--errors") + 1].startswith("/out/")
    assert "./out:/out" in submit["volumes"]
    assert submit["restart"] == "no"
    deps = depends_on(submit)
    assert deps["redis"] == "service_healthy"
    assert "worker-demo" in deps
    env = environment_of(submit)
    assert env["RESPQ_REDIS_URL"] == COMPOSE_REDIS
    assert env["RESPQ_QUEUE_NAME"] == environment_of(services["worker-demo"])["RESPQ_QUEUE_NAME"]
    assert (EXAMPLES / "batch.jsonl").is_file()


# -- .env.example -------------------------------------------------------------------------


def test_every_compose_variable_is_in_env_example() -> None:
    listed = parse_env_file(ENV_EXAMPLE)
    used = used_variables(COMPOSE_FILE.read_text())
    assert used, "the compose file is expected to read RESPQ_BASE_URL and friends"
    assert sorted(used - set(listed)) == []


def test_every_setting_is_in_env_example() -> None:
    listed = parse_env_file(ENV_EXAMPLE)
    for settings in SETTINGS_CLASSES:
        missing = [name for name in env_fields(settings) if name not in listed]
        assert missing == [], f"{settings.__name__}: {missing}"
    mock_names = [f"MOCKAPI_{field.upper()}" for _, field, _ in MOCKAPI_OPTIONS]
    mock_names += ["MOCKAPI_STORE", "MOCKAPI_LOG_LEVEL"]
    assert [name for name in mock_names if name not in listed] == []


def test_env_example_lists_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = parse_env_file(ENV_EXAMPLE)
    assert listed["RESPQ_API_KEY"] == ""  # never a key in an example file
    for name in list(os.environ):
        if name.startswith("RESPQ_"):
            monkeypatch.delenv(name)
    defaults = {cls: cls() for cls in SETTINGS_CLASSES}
    for name, value in listed.items():
        if name.startswith("RESPQ_") and name != "RESPQ_API_KEY":
            monkeypatch.setenv(name, value)
    for cls, default in defaults.items():
        from_file = cls()
        for field in cls.model_fields:
            assert getattr(from_file, field) == getattr(default, field), f"{cls.__name__}.{field}"
    assert listed["MOCKAPI_MODELS"].split(",") == list(DEFAULT_MODELS)


# -- Dockerfile and .dockerignore ----------------------------------------------------------


def test_dockerfile_builds_a_non_root_worker_image() -> None:
    text = DOCKERFILE.read_text()
    assert dockerfile_instruction("FROM") == ["python:3.11-slim"]
    assert "--uid 10001" in text
    assert "useradd" in text
    assert dockerfile_instruction("USER") == ["respq"]
    assert any("PYTHONUNBUFFERED=1" in env for env in dockerfile_instruction("ENV"))
    assert any("pip install --no-cache-dir ." in run for run in dockerfile_instruction("RUN"))
    copied = " ".join(dockerfile_instruction("COPY"))
    for part in (
        "pyproject.toml",
        "README.md",
        "contract/",
        "producer/",
        "worker/",
        "mockapi/",
        "server/",
        "examples/",
    ):
        assert part in copied, part
    assert json.loads(dockerfile_instruction("CMD")[-1]) == ["arq", "worker.WorkerSettings"]
    health = dockerfile_instruction("HEALTHCHECK")
    assert len(health) == 1
    assert health[0].split("CMD", 1)[1].strip() == '["arq", "worker.WorkerSettings", "--check"]'


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".venv", ".git", "out", ".env", ".mypy_cache", ".pytest_cache", ".ruff_cache"):
        assert pattern in patterns, pattern
    for needed in (
        "producer",
        "worker",
        "mockapi",
        "server",
        "examples",
        "pyproject.toml",
        "README.md",
        "contract/",
    ):
        assert needed not in patterns, needed


# -- smoke test: the demo profile's commands, run locally ----------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


class LocalRun:
    """Maps a compose service onto this machine and starts its command as a subprocess."""

    def __init__(self, tmp_path: Path, mock_port: int, queue: str) -> None:
        self.out_dir = tmp_path / "out"
        self.out_dir.mkdir()
        self.files_dir = tmp_path / "files"
        self.api_port = free_port()
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.mock_port = mock_port
        self.queue = queue
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def value(self, text: str) -> str:
        text = text.replace(COMPOSE_REDIS, LOCAL_REDIS)
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
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RESPQ_", "MOCKAPI_"))}
        env = {k: self.value(v) for k, v in environment_of(service).items()}
        if "RESPQ_REDIS_URL" in env:
            env["RESPQ_QUEUE_NAME"] = self.queue  # a queue of its own per test
        return {**base, **env}

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

    def stop_all(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def dump_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.iterdir())
        )


@pytest.fixture
def local_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(LOCAL_REDIS)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"the smoke test needs Redis at {LOCAL_REDIS}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_demo_profile_runs_end_to_end(
    services: dict[str, dict[str, Any]], local_redis: redis.Redis, tmp_path: Path
) -> None:
    from producer.cli.app import ExitCode

    run = LocalRun(tmp_path, free_port(), f"respq-compose-test:{uuid.uuid4().hex[:10]}")
    worker_health = json.loads(dockerfile_instruction("HEALTHCHECK")[0].split("CMD", 1)[1])
    batch_lines = read_jsonl(EXAMPLES / "batch.jsonl")
    bad = {line["custom_id"] for line in batch_lines if line["body"]["model"] == "gpt-typo"}
    good = {line["custom_id"] for line in batch_lines} - bad
    assert len(bad) == 1
    try:
        mockapi = services["mockapi"]
        run.start("mockapi", mockapi)
        wait_until(
            lambda: run.probe(mockapi["healthcheck"]["test"], mockapi), 30, "mockapi healthy"
        )

        demo = services["worker-demo"]
        assert not run.probe(["CMD", *worker_health], demo), "healthy before any worker ran"
        for _ in range(int(demo["deploy"]["replicas"])):
            run.start("worker-demo", demo)
        wait_until(lambda: run.probe(["CMD", *worker_health], demo), 60, "worker healthy", 0.5)

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
    finally:
        run.stop_all()


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_demo_api_server_runs_the_openai_sdk_batch_workflow(
    services: dict[str, dict[str, Any]], local_redis: redis.Redis, tmp_path: Path
) -> None:
    import openai

    run = LocalRun(tmp_path, free_port(), f"respq-compose-test:{uuid.uuid4().hex[:10]}")
    try:
        mockapi = services["mockapi"]
        run.start("mockapi", mockapi)
        wait_until(
            lambda: run.probe(mockapi["healthcheck"]["test"], mockapi), 30, "mockapi healthy"
        )
        run.start("worker-demo", services["worker-demo"])
        api = services["api-demo"]
        run.start("api-demo", api)
        wait_until(lambda: run.probe(api["healthcheck"]["test"], api), 30, "api healthy", 0.2)

        key = environment_of(api)["RESPQ_SERVER_API_KEYS"]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{run.api_port}/v1", api_key=key)
        with (EXAMPLES / "batch.jsonl").open("rb") as handle:
            uploaded = client.files.create(file=handle, purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
        )
        deadline = time.monotonic() + 90
        while batch.status not in ("completed", "failed", "cancelled", "expired"):
            assert time.monotonic() < deadline, "batch did not finish\n" + run.dump_logs()
            time.sleep(0.2)
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed", run.dump_logs()
        assert batch.output_file_id and batch.error_file_id
        results = client.files.content(batch.output_file_id).text.splitlines()
        errors = client.files.content(batch.error_file_id).text.splitlines()
        assert len(results) + len(errors) == len(read_jsonl(EXAMPLES / "batch.jsonl"))
        assert len(errors) == 1 and "model_not_found" in errors[0]
        assert list(run.files_dir.iterdir()) == [run.files_dir / f"{uploaded.id}.jsonl"]
    finally:
        run.stop_all()

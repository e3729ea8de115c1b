"""The deployment surface, read as files: docker-compose.yml, Dockerfile, .dockerignore and
.env.example (no Docker engine: the compose file is loaded with PyYAML and checked).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from respq.contract.webhooks import WebhookSettings
from respq.mockapi.cli import OPTIONS as MOCKAPI_OPTIONS
from respq.mockapi.config import DEFAULT_MODELS
from respq.producer.settings import ClientSettings
from respq.server.expiry import ExpirySettings
from respq.server.settings import ServerSettings
from respq.worker.config import WorkerConfig

from helpers.compose import (
    COMPOSE_FILE,
    COMPOSE_FILES_DIR,
    COMPOSE_MOCKAPI,
    COMPOSE_REDIS,
    DOCKERFILE,
    VAR_RE,
    command_of,
    dockerfile_instruction,
    environment_of,
    interpolated,
    load_compose,
    resolved_services,
)
from helpers.paths import EXAMPLES, ROOT

ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    WorkerConfig,
    ClientSettings,
    ServerSettings,
    WebhookSettings,
    ExpirySettings,
)
RESPQ_IMAGE_SERVICES = ("worker", "mockapi", "worker-demo", "submit", "api", "api-demo")
DEMO_SERVICES = ("mockapi", "worker-demo", "submit", "api-demo")
API_SERVICES = ("api", "api-demo")


# -- helpers ------------------------------------------------------------------------------


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
    """Every setting's variable, but the old names still read (WorkerConfig.RENAMED)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    old: dict[str, str] = getattr(settings, "RENAMED", {})
    return [(prefix + name).upper() for name in settings.model_fields if name not in old]


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


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resolved_services(compose)


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
    assert command_of(worker) == ["arq", "respq.worker.WorkerSettings"]
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
    assert command[:3] == ["python", "-m", "respq.mockapi"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert port == "8400"
    probe = " ".join(mockapi["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/v1/models" in probe
    mock_key = environment_of(mockapi).get("MOCKAPI_API_KEY")

    demo = services["worker-demo"]
    assert command_of(demo) == ["arq", "respq.worker.WorkerSettings"]
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
    # uPlot is fetched in a node stage of its own; the image itself is python:3.11-slim
    assert dockerfile_instruction("FROM") == ["node:20-slim AS assets", "python:3.11-slim"]
    assert "scripts/vendor-assets" in dockerfile_instruction("RUN")
    assert "--uid 10001" in text
    assert "useradd" in text
    assert dockerfile_instruction("USER") == ["respq"]
    assert any("PYTHONUNBUFFERED=1" in env for env in dockerfile_instruction("ENV"))
    # Every part: the image runs workers, the server and the stand-in upstream.
    assert any(
        "pip install --no-cache-dir '.[all]'" in run for run in dockerfile_instruction("RUN")
    )
    copied = " ".join(dockerfile_instruction("COPY"))
    for part in (
        "pyproject.toml",
        "README.md",
        "respq/",
        "contract/",
        "producer/",
        "worker/",
        "mockapi/",
        "server/",
        "examples/",
        "--from=assets /src/server/static/vendor/",
    ):
        assert part in copied, part
    assert json.loads(dockerfile_instruction("CMD")[-1]) == ["arq", "respq.worker.WorkerSettings"]
    health = dockerfile_instruction("HEALTHCHECK")
    assert len(health) == 1
    assert (
        health[0].split("CMD", 1)[1].strip() == '["arq", "respq.worker.WorkerSettings", "--check"]'
    )


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
        "respq/",
        "contract/",
    ):
        assert needed not in patterns, needed

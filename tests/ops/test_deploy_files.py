"""The Dockerfile, compose file and systemd units name real files, commands, ports and settings.

No container engine runs here, so the files are checked against the code they start;
test_production_layout.py then runs the same processes the compose file describes.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
from typing import Any

import typer.main
import yaml

from clarion.api.app import create_app
from clarion.cli import app as cli_app
from clarion.config import Settings
from tests.ops.markdown import ROOT

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def _command(args: list[str]) -> Any:
    """The clarion command `args` run, every option it passes known to it."""
    command: Any = typer.main.get_command(cli_app)
    rest = list(args)
    while hasattr(command, "get_command"):
        assert rest, f"{args}: names no command"
        name = rest.pop(0)
        found = command.get_command(command.context_class(command), name)
        assert found is not None, f"{args}: no command {name!r}"
        command = found
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    for arg in rest:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"{args}: {command.name} has no {arg}"
    return command


def _setting(variable: str) -> None:
    assert variable.startswith("CLARION_"), variable
    assert variable.removeprefix("CLARION_").lower() in Settings.model_fields, variable


def _http_routes() -> set[str]:
    return set(create_app(Settings()).openapi()["paths"])


def test_dockerfile_copies_real_files_and_runs_the_clarion_command() -> None:
    instructions = _dockerfile()
    assert instructions[0][0] == "FROM" and "python:3.11" in instructions[0][1]
    env: dict[str, str] = {}
    for name, rest in instructions:
        if name == "COPY":
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
        if name == "ENV":
            env |= dict(part.split("=", 1) for part in shlex.split(rest))
    for variable in env:
        if variable.startswith("CLARION_"):
            _setting(variable)
    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])
    cmd = json.loads(dict(instructions)["CMD"])
    assert entrypoint == ["clarion"]
    assert 'clarion = "clarion.cli:main"' in (ROOT / "pyproject.toml").read_text()
    _command(cmd)
    exposed = dict(instructions)["EXPOSE"].split()
    assert env["CLARION_PORT"] in exposed and env["CLARION_HOST"] == "0.0.0.0"
    assert "/healthz" in dict(instructions)["HEALTHCHECK"] and "/healthz" in _http_routes()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "var" in ignored


def test_compose_runs_postgres_redis_migrations_apis_and_workers() -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    clarion = {name: s for name, s in services.items() if "build" in s}
    assert {"migrate", "api-1", "api-2", "worker-1", "worker-2"} <= set(clarion)
    exposed = {p for rest in [r for n, r in _dockerfile() if n == "EXPOSE"] for p in rest.split()}
    for name, service in clarion.items():
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        _command(service["command"])
        for variable in service["environment"]:
            _setting(variable)
        for port in service.get("ports", []):
            assert port.rsplit(":", 1)[1] in exposed, f"{name}: {port}"
        database = service["environment"]["CLARION_DATABASE_URL"]
        assert database.startswith("postgresql+asyncpg://") and "@postgres:5432/" in database
        assert service["environment"]["CLARION_REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["CLARION_INPROCESS_WORKERS"] == "false"
    assert clarion["migrate"]["command"] == ["migrate"]
    for name in ("api-1", "worker-1"):
        assert clarion[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    for name in ("worker-1", "worker-2"):
        port = clarion[name]["command"][clarion[name]["command"].index("--metrics-port") + 1]
        assert port in exposed


def test_systemd_units_start_real_commands_with_real_settings() -> None:
    assert {u.name for u in UNITS} >= {
        "clarion-serve@.service",
        "clarion-worker@.service",
        "clarion-migrate.service",
    }
    for unit in UNITS:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(unit)
        service = parser["Service"]
        executable, *args = shlex.split(service["ExecStart"])
        assert executable.endswith("/bin/clarion"), unit.name
        _command(args)
        for line in service.get("Environment", "").splitlines():
            if line:
                _setting(line.split("=", 1)[0])
        assert service["EnvironmentFile"] == "/etc/clarion/clarion.env"
    example = (ROOT / "deploy" / "clarion.env.example").read_text()
    for line in example.splitlines():
        if line and not line.startswith("#"):
            _setting(line.split("=", 1)[0])

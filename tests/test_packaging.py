"""Dockerfile, .dockerignore and compose.yaml, checked without a Docker engine: against
the Compose schema, the console script, the CLI's real subcommands and the real server."""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import fnmatch
import importlib
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from bot.cli import parser
from bot.config import load_settings
from bot.server import SHUTDOWN_GRACE_SECONDS
from tests.conftest import StartBot, free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    rest: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD; fail on shell form, under which
        /bin/sh would be PID 1 and the bot would not receive SIGTERM."""
        value = json.loads(self.rest) if self.rest.startswith("[") else None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            pytest.fail(f"{self.keyword} is not in exec form: {self.rest}")
        return value


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, in order (comments and blank lines dropped)."""
    found: list[Instruction] = []
    current = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        found.append(Instruction(keyword.upper(), rest.strip()))
        current = ""
    return found


def only(keyword: str) -> Instruction:
    """The instruction that takes effect (the last one, as Docker uses)."""
    matching = [i for i in dockerfile() if i.keyword == keyword]
    assert matching, f"the Dockerfile has no {keyword}"
    return matching[-1]


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's command, as the image would run it."""
    _, marker, command = only("HEALTHCHECK").rest.partition("CMD ")
    assert marker, "HEALTHCHECK has no CMD"
    return Instruction("HEALTHCHECK CMD", command.strip()).exec_form()


def copied_paths() -> list[str]:
    """Every path the build reads from the context: COPY sources and RUN bind mounts."""
    paths: list[str] = []
    for instruction in dockerfile():
        words = shlex.split(instruction.rest)
        if instruction.keyword in ("COPY", "ADD"):
            if any(w.startswith("--from=") for w in words):
                continue  # from another image, not from the repo
            paths += [w for w in words if not w.startswith("--")][:-1]
        elif instruction.keyword == "RUN":
            for word in words:
                if word.startswith("--mount=") and "type=bind" in word:
                    fields = dict(f.split("=", 1) for f in word[len("--mount=") :].split(","))
                    paths.append(fields["source"])
    return paths


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context. Docker matches each
    pattern against the path and, for a directory, excludes what is under it; `**/x`
    matches x at any depth. Negations (!) are not used here, so not handled."""
    patterns = [
        line.strip().lstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "negations need a real matcher"
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            name = prefix.rsplit("/", 1)[-1]
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(name, pattern[3:]):
                return True
    return False


def subcommand(argv: list[str]) -> str:
    """The subcommand bot.cli's real parser picks for `argv`; ValueError when it
    rejects `argv` or picks none."""
    top = parser()
    [sub] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    try:
        args = top.parse_args(argv)
    except SystemExit:
        raise ValueError(f"stop-livestream-bot rejects {argv}") from None
    if args.command not in sub.choices:
        raise ValueError(f"{argv} names no subcommand of {sorted(sub.choices)}")
    return str(args.command)


def compose() -> dict[str, Any]:
    """compose.yaml, parsed."""
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def bot_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from this repo's Dockerfile."""
    return {
        name: service
        for name, service in document["services"].items()
        if service.get("build") in (".", "./", {"context": "."})
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either of Compose's two spellings."""
    value = service.get("environment", {})
    if isinstance(value, list):
        return dict(str(item).split("=", 1) for item in value)
    return {k: str(v) for k, v in value.items()}


def seconds(duration: str) -> float:
    """A Compose duration such as `30s` or `1m30s`, in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration}"
    return sum(float(n) * units[u] for n, u in parts)


async def run_healthcheck(command: list[str], port: int) -> int:
    """Run the image's healthcheck command here, with this Python for the image's."""
    assert command[0] == "python", "the healthcheck should use the image's own Python"
    env = {
        "PORT": str(port),
        # A proxy that would refuse: the probe must go straight to 127.0.0.1.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(proc.wait(), 10)


# --- Dockerfile -------------------------------------------------------------------


def test_entrypoint_is_the_projects_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [name] = only("ENTRYPOINT").exec_form()
    assert name in scripts, f"{name} is not a [project.scripts] entry: {sorted(scripts)}"
    module, _, function = scripts[name].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_default_command_is_http_mode_which_the_healthcheck_probes() -> None:
    assert subcommand(only("CMD").exec_form()) == "http"


def test_a_misspelt_or_missing_subcommand_is_caught() -> None:
    for argv in (["sokcet"], ["--port", "3000"], []):
        with pytest.raises(ValueError):
            subcommand(argv)
    assert subcommand(["socket"]) == "socket"


async def test_healthcheck_passes_against_the_real_http_server(start_bot: StartBot) -> None:
    bot = await start_bot()
    port = urlsplit(bot.url).port
    assert port is not None
    assert await run_healthcheck(healthcheck_command(), port) == 0


async def test_healthcheck_fails_on_a_route_the_server_lacks_or_a_dead_port(
    start_bot: StartBot,
) -> None:
    bot = await start_bot()
    port = urlsplit(bot.url).port
    assert port is not None
    command = healthcheck_command()
    misspelt = [arg.replace("/healthz", "/healthz-typo") for arg in command]
    assert misspelt != command
    assert await run_healthcheck(misspelt, port) != 0
    assert await run_healthcheck(command, free_port()) != 0


def test_every_path_the_build_copies_is_in_the_repo_and_the_build_context() -> None:
    paths = copied_paths()
    assert {"pyproject.toml", "uv.lock", "README.md", "bot"} <= set(paths)
    for path in paths:
        assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which is not in the repo"
        assert not dockerignored(path), f".dockerignore leaves {path} out of the build context"
    for source in (ROOT / "bot").rglob("*.py"):
        relative = source.relative_to(ROOT).as_posix()
        assert not dockerignored(relative), f".dockerignore leaves {relative} out"


def test_build_context_leaves_out_secrets_and_local_environments() -> None:
    for path in (".env", ".env.production", ".venv/bin/python", ".git/config", "tests/x.py"):
        assert dockerignored(path), f"{path} would be sent to the builder"
    assert dockerignored("bot/__pycache__/cli.cpython-311.pyc")
    assert not dockerignored("README.md")


def test_image_runs_as_a_non_root_user_and_stops_on_sigterm() -> None:
    user = only("USER").rest.split(":")[0]
    assert user not in ("root", "0"), "the image should not run as root"
    last_user = max(n for n, i in enumerate(dockerfile()) if i.keyword == "USER")
    last_run = max(n for n, i in enumerate(dockerfile()) if i.keyword == "RUN")
    assert last_user > last_run
    assert only("STOPSIGNAL").rest == "SIGTERM"


def test_image_exposes_the_default_http_port(env: dict[str, str]) -> None:
    default = load_settings(env, "http").port
    assert only("EXPOSE").rest.split("/")[0] == str(default)


# --- compose.yaml -----------------------------------------------------------------


def compose_validator() -> jsonschema.Draft7Validator:
    """The Compose schema's validator (it declares draft-07, spelt without the `#`
    jsonschema looks for, so the draft is named here)."""
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_validates_against_the_compose_schema() -> None:
    compose_validator().validate(compose())


def test_the_compose_schema_check_can_fail() -> None:
    document = copy.deepcopy(compose())
    [name] = bot_services(document)
    document["services"][name]["restrat"] = "always"
    with pytest.raises(jsonschema.ValidationError):
        compose_validator().validate(document)


def test_compose_runs_two_copies_of_the_bot_in_socket_mode() -> None:
    services = bot_services(compose())
    copies = sum(int(s.get("deploy", {}).get("replicas", 1)) for s in services.values())
    assert copies == 2
    for name, service in services.items():
        command = service["command"]
        argv = shlex.split(command) if isinstance(command, str) else command
        assert subcommand(argv) == "socket", name
        assert "ports" not in service, "Socket Mode needs no published port"


def test_compose_bots_share_the_valkey_service_they_wait_for() -> None:
    document = compose()
    for name, service in bot_services(document).items():
        url = urlsplit(environment(service)["STATE_URL"])
        assert url.scheme == "redis"
        assert url.hostname in document["services"], f"{name}: STATE_URL names no service"
        store = document["services"][url.hostname]
        assert store["image"].startswith("valkey/valkey")
        assert url.port == 6379
        assert url.hostname in service["depends_on"]
        env_files = service["env_file"]
        env_files = [env_files] if isinstance(env_files, str) else env_files
        assert ".env" in [f if isinstance(f, str) else f["path"] for f in env_files]


def test_compose_bots_restart_and_get_time_to_drain() -> None:
    for name, service in bot_services(compose()).items():
        assert service["restart"] in ("always", "unless-stopped", "on-failure"), name
        assert seconds(service["stop_grace_period"]) > SHUTDOWN_GRACE_SECONDS, name
        # The image's healthcheck probes HTTP mode, which Socket Mode does not serve.
        assert service["healthcheck"] == {"disable": True}, name

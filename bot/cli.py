"""Entry point: `stop-livestream-bot [http|socket]`.

Exit codes: 0 after a clean shutdown, 2 for a configuration or usage problem.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from bot import logs
from bot.check import report, run_checks
from bot.config import (
    ConfigError,
    Mode,
    Settings,
    default_mode,
    load_settings,
    read_environment,
)
from bot.demo import run_demo
from bot.env import is_placeholder
from bot.server import serve_http, serve_socket, stop_on_signals

EXIT_CONFIG = 2
SECRET_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "CLOUDFLARE_API_TOKEN",
    "STATE_URL",
)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(
        prog="stop-livestream-bot",
        description="Stop Cloudflare RealtimeKit livestreams from Slack.",
    )
    top.add_argument(
        "--env-file",
        default=None,
        help="dotenv file to read; it must exist when given (default: .env, if present)",
    )
    commands = top.add_subparsers(dest="command", metavar="{http,socket,demo,check}")
    http = commands.add_parser("http", help="serve POST /slack/events and GET /healthz")
    http.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    http.add_argument("--port", type=int, default=None, help="port (default: $PORT or 3000)")
    commands.add_parser("socket", help="connect to Slack in Socket Mode")
    commands.add_parser("demo", help="a scripted session against local stand-ins; needs nothing")
    commands.add_parser("check", help="verify the configuration against Slack and Cloudflare")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bot; return the process exit code."""
    args = parser().parse_args(argv)
    if args.command == "demo":
        return asyncio.run(run_demo())
    try:
        env = read_environment(args.env_file)
    except ConfigError as error:
        return config_problems(error)
    if args.command == "check":
        return report(asyncio.run(run_checks(env, default_mode(env))), secrets_of(env))
    mode: Mode = args.command or default_mode(env)
    try:
        settings = load_settings(env, mode)
    except ConfigError as error:
        return config_problems(error)
    if mode == "http" and args.port is not None and not 0 <= args.port <= 65535:
        print("stop-livestream-bot: --port must be between 0 and 65535", file=sys.stderr)
        return EXIT_CONFIG

    try:
        logs.configure(
            settings.log_level, secrets_of(env), settings.audit_log_file, settings.log_format
        )
    except OSError as error:
        print(
            f"stop-livestream-bot: AUDIT_LOG_FILE cannot be opened: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_CONFIG

    def reload() -> Settings:
        return load_settings(read_environment(args.env_file), mode)

    async def run() -> None:
        stop, hurry = stop_on_signals()
        if mode == "http":
            port = settings.port if args.port is None else args.port
            await serve_http(settings, args.host, port, stop, reload=reload, hurry=hurry)
        else:
            await serve_socket(settings, stop, reload=reload, hurry=hurry)

    try:
        asyncio.run(run())
    except ConfigError as error:  # e.g. Slack rejected the bot token at start
        return config_problems(error)
    except OSError as error:  # e.g. the port is taken
        print(f"stop-livestream-bot: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


def config_problems(error: ConfigError) -> int:
    """Print every configuration problem to stderr; return the exit code for them."""
    print("stop-livestream-bot: the configuration has problems:", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)
    return EXIT_CONFIG


def secrets_of(env: Mapping[str, str]) -> list[str]:
    """Every secret value in the configuration, for output to be scrubbed of; for
    STATE_URL its password too, as written and decoded, since a client may log it
    apart from the URL."""
    # .env.example's placeholders (xapp-...) are hints about a secret's shape, not secrets.
    values = [env.get(name, "").strip() for name in SECRET_VARIABLES]
    values = [value for value in values if value and not is_placeholder(value)]
    try:
        password = urlsplit(env.get("STATE_URL", "").strip()).password
    except ValueError:  # load_settings reports the malformed URL
        password = None
    return values + ([password, unquote(password)] if password else [])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script wrapper: exit with main()'s code."""
    sys.exit(main())

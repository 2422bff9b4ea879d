"""Entry point: `stop-livestream-bot [http|socket]`.

Exit codes: 0 after a clean shutdown, 2 for a configuration or usage problem.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import logs
from bot.config import (
    ConfigError,
    Mode,
    Settings,
    default_mode,
    load_settings,
    read_environment,
)
from bot.server import serve_http, serve_socket, stop_on_signals

EXIT_CONFIG = 2


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(
        prog="stop-livestream-bot",
        description="Stop Cloudflare RealtimeKit livestreams from Slack.",
    )
    top.add_argument("--env-file", default=".env", help="dotenv file to read (default: .env)")
    commands = top.add_subparsers(dest="command", metavar="{http,socket}")
    http = commands.add_parser("http", help="serve POST /slack/events and GET /healthz")
    http.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    http.add_argument("--port", type=int, default=None, help="port (default: $PORT or 3000)")
    commands.add_parser("socket", help="connect to Slack in Socket Mode")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bot; return the process exit code."""
    args = parser().parse_args(argv)
    env = read_environment(args.env_file)
    mode: Mode = args.command or default_mode(env)
    try:
        settings = load_settings(env, mode)
    except ConfigError as error:
        print("stop-livestream-bot: the configuration has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if mode == "http" and args.port is not None and not 0 <= args.port <= 65535:
        print("stop-livestream-bot: --port must be between 0 and 65535", file=sys.stderr)
        return EXIT_CONFIG

    try:
        logs.configure(settings.log_level, secrets_of(settings), settings.audit_log_file)
    except OSError as error:
        print(
            f"stop-livestream-bot: AUDIT_LOG_FILE cannot be opened: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_CONFIG

    def reload() -> Settings:
        return load_settings(read_environment(args.env_file), mode)

    async def run() -> None:
        stop = stop_on_signals()
        if mode == "http":
            port = settings.port if args.port is None else args.port
            await serve_http(settings, args.host, port, stop, reload=reload)
        else:
            await serve_socket(settings, stop, reload=reload)

    try:
        asyncio.run(run())
    except OSError as error:  # e.g. the port is taken
        print(f"stop-livestream-bot: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, for the log filter to scrub."""
    found = [settings.slack_bot_token, settings.cloudflare_api_token]
    found += [s for s in (settings.slack_signing_secret, settings.slack_app_token) if s]
    return [s.get() for s in found]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script wrapper: exit with main()'s code."""
    sys.exit(main())

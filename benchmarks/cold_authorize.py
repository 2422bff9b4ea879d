"""How many auth.test calls a cold burst of 100 commands makes with Bolt's own
single-team authorization, against the bot's CachedAuthorize (auth.test once, at start).

Run: uv run python benchmarks/cold_authorize.py   (a fake Slack on 127.0.0.1, in-process)
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import CachedAuthorize
from bot.demo.standins import StandInSlack as FakeSlack
from tests.fakes import payloads

SECRET = "s" * 32
TOKEN = "xoxb-1-bench"
N = 100


async def burst(app: AsyncApp, slack: FakeSlack) -> float:
    """Dispatch N signed slash commands at once; seconds until all were answered."""

    async def one(i: int) -> None:
        body = payloads.form_body(payloads.slash_command("x", "U0A", slack.response_url(str(i))))
        headers = payloads.signed_headers(SECRET, body, "application/x-www-form-urlencoded")
        request = AsyncBoltRequest(body=body, headers={k.lower(): [v] for k, v in headers.items()})
        response = await app.async_dispatch(request)
        assert response.status == 200, response.body

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(N)))
    return time.perf_counter() - started


async def bolt_single_team(slack: FakeSlack) -> AsyncApp:
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    return AsyncApp(name="bench", client=client, token=TOKEN, signing_secret=SECRET)


async def cached_authorize(slack: FakeSlack) -> AsyncApp:
    authorize = CachedAuthorize(AsyncWebClient(token=TOKEN, base_url=slack.api_url), TOKEN)
    await authorize.warm(5)

    async def any_request() -> AuthorizeResult:
        return await authorize()

    client = AsyncWebClient(base_url=slack.api_url)
    return AsyncApp(name="bench", client=client, authorize=any_request, signing_secret=SECRET)


async def main() -> None:
    for variant in (bolt_single_team, cached_authorize):
        slack = FakeSlack()
        await slack.start()
        app = await variant(slack)

        @app.command("/stop-livestream")
        async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()

        took = await burst(app, slack)
        calls = len(slack.calls("auth.test"))
        print(f"{variant.__name__}: {calls} auth.test calls; {N} commands in {took * 1000:.0f} ms")
        await slack.close()


if __name__ == "__main__":
    asyncio.run(main())

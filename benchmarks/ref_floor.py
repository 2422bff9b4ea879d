"""The floor: a few-line aiohttp handler with no framework and no checks. It acks,
then forwards the stop to the API and the reply to the response_url."""

import asyncio
import os
import sys
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

API = os.environ["CLOUDFLARE_API_BASE_URL"]
PATH = "/accounts/{}/realtime/kit/{}/meetings/{}/active-livestream/stop"
tasks: set[asyncio.Task[None]] = set()


async def forward(session: aiohttp.ClientSession, form: dict[str, str]) -> None:
    url = API + PATH.format(
        os.environ["CLOUDFLARE_ACCOUNT_ID"], os.environ["REALTIMEKIT_APP_ID"], form["text"]
    )
    async with session.post(
        url, headers={"Authorization": "Bearer " + os.environ["CLOUDFLARE_API_TOKEN"]}
    ) as r:
        message = (await r.json())["data"]["message"]
    reply = {
        "response_type": "in_channel",
        "text": f"<@{form['user_id']}> stopped {form['text']}: {message}",
    }
    async with session.post(form["response_url"], json=reply) as r:
        await r.read()


async def main() -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def events(request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode()))
        task = asyncio.create_task(forward(session, form))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]), backlog=2048).start()
    print("listening", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())

"""The reference a newcomer would write from Bolt's getting-started guide: a
synchronous App that acks, then makes a blocking HTTP call, then responds."""

import os
import sys

import httpx
from slack_bolt import App
from slack_sdk import WebClient

API = os.environ["CLOUDFLARE_API_BASE_URL"]
PATH = "/accounts/{}/realtime/kit/{}/meetings/{}/active-livestream/stop"

app = App(
    client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
)


@app.command("/stop-livestream")
def stop(ack, command, respond):  # type: ignore[no-untyped-def]
    ack()
    meeting = command["text"].strip()
    url = API + PATH.format(
        os.environ["CLOUDFLARE_ACCOUNT_ID"], os.environ["REALTIMEKIT_APP_ID"], meeting
    )
    r = httpx.post(
        url, headers={"Authorization": "Bearer " + os.environ["CLOUDFLARE_API_TOKEN"]}, timeout=10
    )
    message = r.json()["data"]["message"]
    respond(
        response_type="in_channel", text=f"<@{command['user_id']}> stopped {meeting}: {message}"
    )


print("listening", flush=True)
app.start(port=int(sys.argv[1]), http_server_logger_enabled=False)

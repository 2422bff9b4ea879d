"""`stop-livestream-bot demo`: the scripted session (script.py) and the local stand-ins
for Slack and RealtimeKit it runs against (standins.py), which the tests build on too."""

from bot.demo.script import run_demo

__all__ = ["run_demo"]

"""`stop-livestream-bot demo`: the scripted session (script.py) and the local stand-ins
it runs against, for Slack (standins.py) and RealtimeKit (realtimekit.py), which the
tests and benchmarks use too."""

from bot.demo.script import run_demo

__all__ = ["run_demo"]

"""`python -m bot` runs the same entry point as `stop-livestream-bot`."""

import sys

from bot.cli import main

sys.exit(main())

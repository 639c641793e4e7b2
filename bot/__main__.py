"""`python -m bot` and the `glutebot` console script.

Kept apart from bot/cli.py, which imports the whole of glutebot: that takes a moment
(seconds on a slow machine or a cold disk), and Ctrl-C or SIGTERM meanwhile must stop
glutebot as quietly as at any other moment, with exit status 0."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    # Until the chat or the service takes the signals over (once its event loop runs),
    # SIGTERM stops glutebot as Ctrl-C does, rather than killing it with the database open.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        from bot.cli import main as cli

        return cli(argv)
    except KeyboardInterrupt:
        print(file=sys.stderr)  # past the "^C" the terminal showed
        return 0


if __name__ == "__main__":
    sys.exit(main())

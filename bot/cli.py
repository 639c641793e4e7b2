"""The `glutebot` command: argument parsing and wiring, nothing else. (Its entry point,
which catches Ctrl-C, is bot/__main__.py.)"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from importlib import metadata
from zoneinfo import ZoneInfoNotFoundError

import tzlocal

from bot.adapters.console import ConsoleChat
from bot.app import open_core
from bot.config import ConfigError, Settings
from bot.store import StoreError

log = logging.getLogger(__name__)

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.load()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every Bot API request at INFO; that is debugging detail, not news.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        if args.command == "run":
            from bot.runner import run

            return asyncio.run(run(settings))
        if sys.stdout is None:  # started with `>&-`
            return _fail("standard output is closed: nowhere to show the chat", 1)
        asyncio.run(_chat(settings, args.user))
    except StoreError as exc:
        return _fail(str(exc), 1)
    except BrokenPipeError:
        # Whoever read the output has gone (`glutebot | head`): stop quietly, as other
        # tools do.
        _discard_output()
    except OSError as exc:
        if args.command == "run":
            raise
        # Writing the chat out failed: a full disk, say.
        _discard_output()
        return _fail(f"cannot write the chat out: {exc.strerror or exc}", 1)
    return 0


def _discard_output() -> None:
    # Pointing stdout at /dev/null keeps Python's flush at exit quiet too.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glutebot",
        description="A coaching bot for sleepy glutes. With no command, chat in the terminal.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command")
    chat = commands.add_parser(
        "chat",
        help="chat with glutebot in this terminal (default)",
        description="Chat with glutebot in this terminal, or through a pipe. Your place is"
        " saved in GLUTEBOT_DB; Ctrl-D or Ctrl-C quits.",
    )
    commands.add_parser(
        "run",
        help="serve Telegram and/or Discord, whichever tokens are set",
        description="Serve Telegram (TELEGRAM_BOT_TOKEN) and/or Discord (DISCORD_BOT_TOKEN),"
        " with the reminder scheduler, until SIGTERM or Ctrl-C. Settings come from the"
        " environment or a .env file in this folder (see .env.example).",
        epilog="Exit status: 0 after a clean stop; 1 if it could not start (database,"
        " network, token) or a platform shut it out while running, with a line saying"
        " why; 2 if no token is set.",
    )
    # Either side of "chat": the subcommand's copy has no default of its own, so that it
    # doesn't undo a "--user" given before it.
    for target, default in ((parser, _os_user()), (chat, argparse.SUPPRESS)):
        target.add_argument(
            "--user",
            type=_user_name,
            default=default,
            help="your local identity, so several people can share one database",
        )
    parser.set_defaults(command="chat")
    return parser


def _version() -> str:
    try:
        return metadata.version("glutebot")
    except metadata.PackageNotFoundError:  # run from a source tree that isn't installed
        return "(not installed)"


def _user_name(text: str) -> str:
    name = _as_text(text).strip()
    if not name:
        raise argparse.ArgumentTypeError("a name is needed, e.g. --user sam")
    return name


def _computer_zone() -> tzinfo:
    """The computer's zone, by name ("Europe/Berlin"), so a chat started in winter dates
    a summer evening right. Where it has no name tzlocal can read (TZ set to "CET-1", a
    bare container), today's offset from UTC: right until the clocks change."""
    try:
        return tzlocal.reload_localzone()  # not a zone remembered from before
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return datetime.now(UTC).astimezone().tzinfo or UTC


async def _chat(settings: Settings, user: str) -> None:
    local_tz = settings.timezone or _computer_zone()
    # Input that isn't text in the terminal's encoding is read as "�" (not kept as raw
    # bytes, which would be echoed back), and characters the terminal can't show (emoji,
    # in Latin-1) are written as "?": neither ends the chat.
    for stream in (sys.stdin, sys.stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    # A line piped in may end as any system ends it: "\n", "\r\n", or a "\r" alone.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(newline=None)
    stdin = sys.stdin or io.StringIO()  # started with `<&-`: nothing to read
    with _StopSignals() as stop:
        try:
            async with open_core(settings.db_path, default_tz=local_tz) as core:
                chat = ConsoleChat(core, user, stdin, sys.stdout)
                stop.chat_started(chat.stop)
                await chat.run()
        except asyncio.CancelledError:
            if not stop.cancelled_start():
                raise


class _StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM (a `kill`, a closing session) end the chat as the end
    of input does: after answering the message in hand (whose reps, once stored, must
    not go untold), the database closed, exit status 0. Before the chat has started
    (waiting for a busy database, say), they call the start off."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._stop_chat: Callable[[], None] | None = None
        self._cancelled = False
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> _StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(signum, self._signalled)
            except NotImplementedError:  # no signal handlers on this platform's event loop
                continue
            self._installed.append(signum)
        return self

    def __exit__(self, *_: object) -> None:
        for signum in self._installed:
            self._loop.remove_signal_handler(signum)

    def chat_started(self, stop_chat: Callable[[], None]) -> None:
        self._stop_chat = stop_chat

    def cancelled_start(self) -> bool:
        """Whether a signal called the start off (and the cancellation is dealt with)."""
        if self._cancelled and self._task is not None:
            self._task.uncancel()
        return self._cancelled

    def _signalled(self) -> None:
        if self._stop_chat is not None:
            log.debug("stop signal: the chat ends after the message in hand")
            self._stop_chat()
        elif self._task is not None and not self._cancelled:
            log.debug("stop signal: the start is called off")
            self._cancelled = True
            self._task.cancel()


def _os_user() -> str:
    try:
        return _as_text(getpass.getuser())
    except (KeyError, OSError):
        return "me"


def _as_text(name: str) -> str:
    """A name from the command line or the OS, as text: bytes in it that weren't UTF-8
    (which Python keeps as lone surrogates, and SQLite refuses) become "�"."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _fail(message: str, status: int) -> int:
    print(f"glutebot: {message}", file=sys.stderr)
    return status

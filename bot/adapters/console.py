"""The terminal front end: lines in from stdin, messages out to stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import TextIO

from bot.app import Core
from bot.model import ChatRef, Incoming, Platform, Reply

LOCAL_CHAT = "local"
BOM = "\ufeff"
# Typed alone, they end the chat as the end of input does, as in most terminal programs.
LEAVE_WORDS = frozenset({"quit", "exit"})
# Longer than any chat app's message: a piped line is cut here, and the rest of it
# skipped, so that input with no newline in it (a binary file, /dev/zero) can't fill memory.
LINE_LIMIT = 65_536


class ConsoleChat:
    def __init__(self, core: Core, user: str, stdin: TextIO, stdout: TextIO) -> None:
        self._core = core
        self._chat = ChatRef(Platform.CONSOLE, user_id=user, chat_id=LOCAL_CHAT)
        self._user = user
        self._stdin = stdin
        self._stdout = stdout
        # Keys must be unique across runs, or the engine would take a new line for a
        # redelivery of an old one.
        self._session = uuid.uuid4().hex[:12]
        self._count = 0
        self._stopping = False
        self._waiting: asyncio.Future[str | None] | None = None

    def stop(self) -> None:
        """Ends the chat as the end of input does, after the message in hand if any."""
        self._stopping = True
        if self._waiting is not None and not self._waiting.done():
            if self._at_terminal():  # Ctrl-C at the prompt: the shell's prompt on a new line
                self._stdout.write("\n")
                self._stdout.flush()
            self._waiting.set_result(None)

    async def run(self) -> None:
        """Chats until end of input."""
        with _terminal_kept(self._stdin):
            # Not plain /start, which asks "continue or start over?" of anyone mid-flow.
            await self._say("/start continue")
            while True:
                line = await self._next_line()
                if line is None:
                    return
                # A file of answers saved with a byte-order mark starts with one.
                line = line.lstrip(BOM)
                if line.strip().casefold() in LEAVE_WORDS:
                    return
                if line.strip():
                    await self._say(line)

    async def _next_line(self) -> str | None:
        """The next line, read on a thread of its own: a daemon, so that Ctrl-C ends the
        chat at once instead of waiting for a read nobody wants any more (the default
        executor's threads are waited for at exit)."""
        if self._stopping:
            return None
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str | None] = loop.create_future()
        self._waiting = line

        def read() -> None:
            text: str | None = None
            error: BaseException | None = None
            try:
                text = self._read_line()
            except BaseException as exc:  # handed over, to be raised where it is awaited
                error = exc

            def settle() -> None:
                if line.done():  # no longer awaited: Ctrl-C or SIGTERM ended the chat
                    return
                if error is not None:
                    line.set_exception(error)
                else:
                    line.set_result(text)

            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: exiting
                loop.call_soon_threadsafe(settle)

        threading.Thread(target=read, name="console-input", daemon=True).start()
        return await line

    def _read_line(self) -> str | None:
        if self._at_terminal():
            return self._typed_line()
        line = self._stdin.readline(LINE_LIMIT)
        if not line.endswith("\n"):  # cut at the limit, or the end of input
            while (rest := self._stdin.readline(LINE_LIMIT)) and not rest.endswith("\n"):
                pass
        return line.rstrip("\r\n") if line else None

    def _at_terminal(self) -> bool:
        return self._stdin is sys.stdin and self._stdout is sys.stdout and sys.stdin.isatty()

    def _typed_line(self) -> str | None:
        """A line from a person at the terminal: a prompt, and (where Python has readline)
        arrow keys to edit the line and recall earlier ones."""
        with contextlib.suppress(ImportError):  # not on every platform; input() works without
            import readline  # noqa: F401  (imported, it makes input() editable)
        try:
            return input("> ")
        except EOFError:  # Ctrl-D: leave the shell's prompt a line of its own
            self._stdout.write("\n")
            return None

    async def _say(self, text: str) -> None:
        self._count += 1
        incoming = Incoming(
            chat=self._chat,
            event_key=f"console:{self._session}:{self._count}",
            text=text,
            display_name=self._user,
        )
        self._show(await self._core.engine.handle(incoming))

    def _show(self, replies: Iterable[Reply]) -> None:
        rendered = [self._core.renderer.render(reply, Platform.CONSOLE) for reply in replies]
        # A number picks from the last options shown only: earlier ones in the same answer
        # get no numbers, so two can't both be "1." (the question's "1. Yes" and another's).
        last = max((i for i, r in enumerate(rendered) if r.buttons), default=-1)
        for index, message in enumerate(rendered):
            lines = [message.text]
            if index == last:
                lines += [f"  {n}. {b.label}" for n, b in enumerate(message.buttons, 1)]
            else:
                lines += [f"  - {button.label}" for button in message.buttons]
            self._stdout.write("\n".join(lines) + "\n\n")
        self._stdout.flush()


@contextlib.contextmanager
def _terminal_kept(stdin: TextIO) -> Iterator[None]:
    """Gives the terminal back as it was. Ctrl-C ends the chat while readline, on the
    input thread, has the terminal's echo and line editing switched off; nothing else
    would switch them back, and the shell would be left typing blind."""
    try:
        import termios
    except ImportError:  # not on every platform
        yield
        return
    try:
        fd = stdin.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    except (OSError, ValueError, termios.error):  # not a terminal, or not a file at all
        saved = None
    try:
        yield
    finally:
        if saved is not None:
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)

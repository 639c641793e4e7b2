"""`glutebot run` stops cleanly on SIGTERM and SIGINT (exit 0), and when a platform
shuts it out for good while running (exit 1); the database is closed either way."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import Process
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_api import JSON, TOKEN, HttpBotApi, Server
from tests.test_telegram_crash import ALICE, START_LIMIT, answered, start_bot

SHUTDOWN_LIMIT = 10.0


async def run_then_end(tmp_path: Path, end: Callable[[Process, Server], None]) -> int:
    """Starts `glutebot run` on a fake Bot API, waits for its first answer, calls `end`,
    and returns the exit status once it has shut down cleanly (checked here)."""
    server = Server()
    http = HttpBotApi(server)
    url = await http.start()
    db, log = tmp_path / "glutebot.db", tmp_path / "bot.log"
    try:
        server.push(server.user_says(ALICE, "/start"))
        bot = await start_bot(url, db, log)
        await server.until(answered(server, 1), START_LIMIT)
        end(bot, server)
        status = await asyncio.wait_for(bot.wait(), SHUTDOWN_LIMIT)
    finally:
        await http.close()
    output = log.read_text()
    assert "Traceback" not in output
    assert TOKEN not in output
    # The last connection closed cleanly: SQLite checkpointed and removed the WAL file.
    assert not db.with_name(db.name + "-wal").exists()
    return status


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_bot_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    status = await run_then_end(tmp_path, lambda bot, server: bot.send_signal(signum))
    assert status == 0, (tmp_path / "bot.log").read_text()


async def test_a_token_revoked_while_running_stops_the_bot_with_an_error(tmp_path: Path) -> None:
    def revoke(bot: Process, server: Server) -> None:
        server.token = "revoked-in-botfather"  # every call now gets 401 Unauthorized

    status = await run_then_end(tmp_path, revoke)
    output = (tmp_path / "bot.log").read_text()
    assert status == 1, output
    assert "Telegram stopped for good" in output


class UnansweredGetMe(Server):
    """A Bot API that takes the bot's first call and never answers it: a network that
    swallows packets, where the start would wait out its whole timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def call(self, method: str, params: Mapping[str, Any]) -> tuple[int, JSON]:
        if method == "getMe":
            self.asked.set()
            await asyncio.Event().wait()
        return await super().call(method, params)


async def test_a_signal_while_starting_stops_the_bot_at_once_and_cleanly(tmp_path: Path) -> None:
    server = UnansweredGetMe()
    http = HttpBotApi(server)
    url = await http.start()
    db, log = tmp_path / "glutebot.db", tmp_path / "bot.log"
    try:
        bot = await start_bot(url, db, log)
        await asyncio.wait_for(server.asked.wait(), START_LIMIT)
        bot.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(bot.wait(), SHUTDOWN_LIMIT)
    finally:
        await http.close()
    output = log.read_text()
    # It used to wait for Telegram's answer, time out, and report a failed start (exit 1).
    assert status == 0, output
    assert "stopped while starting" in output
    assert "Traceback" not in output
    assert not db.with_name(db.name + "-wal").exists()

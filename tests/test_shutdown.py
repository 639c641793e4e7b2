"""`glutebot run` stops cleanly on SIGTERM and SIGINT (exit 0), and when a platform
shuts it out for good while running (exit 1); the database is closed either way."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import Process
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import open_core
from bot.model import ChatRef, Incoming, Platform
from bot.schedule_time import EVERY_DAY
from bot.store.schedules import ScheduleKind, ScheduleSpec, reminder_owner
from tests.fakes.telegram_api import JSON, TOKEN, HttpBotApi, Person, Server
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


async def remind_now(db: Path, people: list[Person]) -> None:
    """Gives each person a daily reminder that fell due a minute ago, in a zone where it is
    around noon now (whatever the hour of the test, it is nowhere near their midnight)."""
    now = datetime.now(UTC)
    zone = ZoneInfo(f"Etc/GMT{now.hour - 12:+d}")  # "Etc/GMT+5" is five hours behind UTC
    due = (now - timedelta(minutes=1)).astimezone(zone).time().replace(second=0, microsecond=0)
    async with open_core(db) as core:
        for person in people:
            chat = ChatRef(Platform.TELEGRAM, str(person.id), str(person.id))
            await core.engine.handle(Incoming(chat, f"seed:{person.id}", text="/start"))
            user = await core.store.users.get(Platform.TELEGRAM, str(person.id))
            assert user is not None
            spec = ScheduleSpec(
                ScheduleKind.REMINDER,
                reminder_owner(user.id),
                Platform.TELEGRAM,
                str(person.id),
                due,
                zone,
                EVERY_DAY,
                user_id=user.id,
            )
            await core.store.schedules.upsert(spec, now - timedelta(minutes=5))


async def test_sigterm_while_telegram_says_slow_down_stops_in_time_losing_no_reminder(
    tmp_path: Path,
) -> None:
    """30 reminders due at start; Telegram answers the first with "retry after an hour",
    and SIGTERM comes while the others queue behind it. glutebot exits cleanly within the
    drain limit, and each reminder has gone out once or is still due (not marked sent)."""
    people = [Person(3000 + n, f"P{n}") for n in range(30)]
    server = Server()
    for person in people:  # each has opened their chat with the bot
        server.people[person.id] = person
        server.started.add(person.id)
    http = HttpBotApi(server)
    url = await http.start()
    db, log = tmp_path / "glutebot.db", tmp_path / "bot.log"
    await remind_now(db, people)
    server.fail("sendMessage", "429", retry_after=3600)
    try:
        bot = await start_bot(url, db, log)
        await server.until(answered(server, 1), START_LIMIT)  # the 429
        bot.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(bot.wait(), SHUTDOWN_LIMIT)
    finally:
        await http.close()
    output = log.read_text()
    assert status == 0, output
    assert "Traceback" not in output
    async with open_core(db) as core:
        for person in people:
            user = await core.store.users.get(Platform.TELEGRAM, str(person.id))
            assert user is not None
            reminder = await core.store.schedules.get(reminder_owner(user.id))
            assert reminder is not None
            today = datetime.now(reminder.tz).date()
            arrived = [m for m in server.bot_messages(person.id) if "Time for your" in m["text"]]
            if arrived:
                assert len(arrived) == 1
                assert reminder.last_sent_day == today
            else:
                assert (reminder.last_sent_day, reminder.next_day) == (None, today), output

"""An answer committed but cut off before it was sent goes out when its event comes again.

Telegram redelivers every update the bot didn't confirm, so a bot stopped between a turn's
commit and its answer (killed, or cut off by the shutdown's drain time) sees the update
again after the restart. The answer was kept with the event's mark (bot/store/owed.py):
the redelivery gets it, exactly as it would have been shown, and nothing is done twice.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Core, open_core
from bot.model import ChatRef, Choice, Incoming, Platform, Reply
from bot.render import Rendered
from bot.store import owed
from bot.store.db import sql_write
from bot.store.reps import Standing
from tests.transcript import FakeClock

FIXTURES = Path(__file__).parent / "fixtures"
ANN = ChatRef(Platform.TELEGRAM, user_id="71", chat_id="71")
GROUP = ChatRef(Platform.TELEGRAM, user_id="71", chat_id="-5", community="-5")
BOSS = ChatRef(Platform.DISCORD, user_id="72", chat_id="555", community="900")
_keys = itertools.count()


def said(chat: ChatRef, text: str, *, admin: bool = False) -> Incoming:
    return Incoming(
        chat, f"tg:m:{chat.chat_id}:{next(_keys)}", text=text, display_name="Ann Ö",
        is_admin=admin, comes_again=True,
    )  # fmt: skip


def shown(core: Core, chat: ChatRef, replies: Sequence[Reply]) -> list[Rendered]:
    return [core.renderer.render(reply, (reply.to or chat).platform) for reply in replies]


async def kept(core: Core) -> list[str]:
    rows = await core.store.db.fetchall("SELECT owed FROM events WHERE owed IS NOT NULL")
    return [str(row[0]) for row in rows]


# What people say, in order, each answer cut off by a restart: between them they show every
# kind of value an answer holds (times, dates, moments in a zone, leaderboard lines).
JOURNEY = (
    (ANN, "/start", False),
    (ANN, "done 12", False),
    (ANN, "/remind 07:30 Europe/Berlin", False),
    (ANN, "/stats", False),
    (GROUP, "done 8", False),
    (GROUP, "/leaderboard", False),
    (BOSS, "/setup 555 07:30 Europe/Berlin daily", True),
    (BOSS, "done 5", False),
    (BOSS, "/leaderboard", False),
    (BOSS, "/prompt", True),
    (ANN, "/undo", False),
)


async def test_each_answer_cut_off_by_a_restart_goes_out_with_the_redelivery(
    db_path: Path,
) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    for chat, text, admin in JOURNEY:
        incoming = said(chat, text, admin=admin)
        async with open_core(db_path, clock=clock) as core:
            replies = await core.engine.handle(incoming)
            assert replies, text
            before = shown(core, chat, replies)
            rows_before = await core.store.db.fetchall("SELECT * FROM rep_logs")
        clock.advance(minutes=1)
        async with open_core(db_path, clock=clock) as restarted:
            assert shown(restarted, chat, await restarted.engine.handle(incoming)) == before
            restarted.engine.answered(incoming.event_key)
            assert await restarted.engine.handle(incoming) == []
            await restarted.engine.close()
            assert await kept(restarted) == []
            rows_after = await restarted.store.db.fetchall("SELECT * FROM rep_logs")
        assert [tuple(row) for row in rows_after] == [tuple(row) for row in rows_before]


async def test_a_copy_while_the_answer_is_being_sent_gets_nothing(core: Core) -> None:
    """The same process committed it: its answer is on its way (or was given up on)."""
    incoming = said(ANN, "done 12")
    assert [reply.template for reply in await core.engine.handle(incoming)] == ["logged"]
    assert await core.engine.handle(incoming) == []


async def test_an_answer_sent_before_a_restart_is_not_sent_again(db_path: Path) -> None:
    incoming = said(ANN, "done 12")
    async with open_core(db_path) as core:
        assert await core.engine.handle(incoming)
        core.engine.answered(incoming.event_key)
    async with open_core(db_path) as restarted:
        assert await restarted.engine.handle(incoming) == []


async def test_answers_sent_are_let_go_with_the_next_commit(core: Core) -> None:
    """No write of its own: the next message's transaction takes it along."""
    first, second = said(ANN, "done 12"), said(ANN, "/stats")
    await core.engine.handle(first)
    core.engine.answered(first.event_key)
    assert len(await kept(core)) == 1
    await core.engine.handle(second)
    [left] = await kept(core)
    assert [reply.template for reply in owed.decode(left)[1]] == ["stats"]


async def test_a_platform_that_never_redelivers_keeps_no_answer(core: Core) -> None:
    await core.engine.handle(replace(said(ANN, "done 12"), comes_again=False))
    assert await kept(core) == []


async def test_forgetting_someone_drops_the_answers_kept_for_them(db_path: Path) -> None:
    """A kept answer may quote them (their name, their stats): /forget takes it too."""
    async with open_core(db_path) as core:
        for text in ("done 12", "/stats", "/forget", "yes"):
            assert await core.engine.handle(said(ANN, text))
        left = [owed.decode(answer)[1] for answer in await kept(core)]
    assert [[reply.template for reply in replies] for replies in left] == [["forget/done"]]


async def test_an_answer_kept_by_an_earlier_version_still_goes_out(db_path: Path) -> None:
    """The schema_v5 fixture holds Dee's "done 12", committed and never answered."""
    with sqlite3.connect(db_path) as conn:
        conn.executescript((FIXTURES / "schema_v5.sql").read_text())
    dee = ChatRef(Platform.TELEGRAM, user_id="fixture-dee", chat_id="fixture-dee")
    incoming = Incoming(dee, "tg:m:fixture-dee:7", text="done 12", comes_again=True)
    async with open_core(db_path) as core:
        [answer] = shown(core, dee, await core.engine.handle(incoming))
        reps = await core.store.db.fetchone("SELECT SUM(reps) FROM rep_logs WHERE user_id = 3")
    assert "Logged 12" in answer.text
    assert reps is not None
    assert reps[0] == 24  # the fixture's 12 and these 12, once


async def test_a_kept_answer_this_version_cant_read_is_dropped_with_a_warning(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    incoming = said(ANN, "done 12")
    async with open_core(db_path) as core:
        await core.engine.handle(incoming)
        await core.store.db.apply([sql_write("UPDATE events SET owed = '{\"run\": 1}'")])
    async with open_core(db_path) as restarted:
        assert await restarted.engine.handle(incoming) == []
    assert "can't be read" in caplog.text


def test_every_kind_of_value_an_answer_holds_reads_back_the_same() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    replies = [
        Reply(
            "some/template",
            {
                "day": date(2026, 3, 2),
                "time": time(7, 30),
                "next": datetime(2026, 3, 29, 7, 30, tzinfo=berlin),  # the clocks go forward
                "at": datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
                "rows": [Standing("Ann Ö", 40, 3), Standing("", 1, 1)],
                "nested": {"$date": "not a tag: two keys", "x": None, "ok": True},
                "text": "🍑 <b>{{ 7*7 }}</b> \u202e",
            },
            choices=(Choice("do:done:abc", "done"),),
            private=True,
            logged=True,
            quiet=True,
            to=ChatRef(Platform.DISCORD, "72", "555", "900"),
        )
    ]
    run, back = owed.decode(owed.encode("run-1", replies))
    assert run == "run-1"
    assert back == replies
    assert back[0].context["next"].tzinfo == berlin


def test_a_value_that_cant_be_kept_is_an_error_not_a_guess() -> None:
    with pytest.raises(TypeError, match="can't be kept"):
        owed.encode("run-1", [Reply("x", {"odd": object()})])


async def test_an_answer_that_cant_be_kept_is_still_given_and_stored(
    core: Core, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(run: str, replies: Sequence[Reply]) -> str:
        raise TypeError("a reply holds a object, which can't be kept")

    monkeypatch.setattr(owed, "encode", refuse)
    with caplog.at_level(logging.ERROR):
        replies = await core.engine.handle(said(ANN, "done 12"))
    assert [reply.template for reply in replies] == ["logged"]
    assert "can't be kept" in caplog.text
    row = await core.store.db.fetchone("SELECT SUM(reps) FROM rep_logs")
    assert row is not None
    assert row[0] == 12


async def test_an_answer_sent_again_after_a_restart_is_sent_once(db_path: Path) -> None:
    """A second copy, while the first's answer is going out (or after), gets nothing."""
    incoming = said(ANN, "done 12")
    async with open_core(db_path) as core:
        await core.engine.handle(incoming)
    async with open_core(db_path) as restarted:
        assert [reply.template for reply in await restarted.engine.handle(incoming)] == ["logged"]
        assert await restarted.engine.handle(incoming) == []

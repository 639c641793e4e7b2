"""Nothing lost, nothing doubled: redelivery, old databases, and clean errors."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from pathlib import Path

import pytest

from bot.app import Core, open_core
from bot.model import ChatRef, Incoming, Platform, PrivateReach
from bot.store.db import sql_write
from bot.store.schedules import DisabledReason
from bot.store.schema import SCHEMA_VERSION
from tests.transcript import Chat, FakeClock, every_row

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("schema_v*.sql"))


async def test_every_event_delivered_two_or_three_times_shuffled_logs_exactly_once(
    core: Core,
) -> None:
    rng = random.Random(7)
    users = [ChatRef(Platform.TELEGRAM, user_id=str(n), chat_id=str(n)) for n in range(12)]
    events = [
        Incoming(user, f"tg:{user.user_id}:{n}", text=f"done {rng.randint(1, 40)}")
        for user in users
        for n in range(15)
    ]
    expected: dict[str, int] = {}
    for event in events:
        expected[event.chat.user_id] = expected.get(event.chat.user_id, 0) + int(
            event.text.split()[1]
        )
    deliveries = [event for event in events for _ in range(rng.choice((2, 3)))]
    rng.shuffle(deliveries)
    # Concurrently, as a platform replaying a backlog after a restart would.
    for start in range(0, len(deliveries), 40):
        await asyncio.gather(*(core.engine.handle(e) for e in deliveries[start : start + 40]))
    rows = await core.store.db.fetchall(
        "SELECT u.platform_user_id, SUM(r.reps) FROM rep_logs r JOIN users u ON u.id = r.user_id"
        " GROUP BY u.id"
    )
    assert {user: total for user, total in rows} == expected


async def test_a_replayed_answer_does_not_move_the_conversation_twice(chat: Chat) -> None:
    await chat.say("/check")
    await chat.say("no", key="answer-1")
    await chat.say("no", key="answer-1")
    said = await chat.say("back")
    assert "Question 1 of 9" in said.text


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.stem)
async def test_each_earlier_schema_opens_and_migrates_without_loss(
    fixture: Path, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    script = await asyncio.to_thread(fixture.read_text)
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
        before = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("users", "rep_logs", "checks", "conversations", "schedules")
        }
    assert all(before.values()), before
    clock = FakeClock()
    async with open_core(path, clock=clock) as core:
        assert await core.store.db.version() == SCHEMA_VERSION
        for table, count in before.items():
            row = await core.store.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            assert row is not None
            assert row[0] == count, table
        ann = Chat(core, user="fixture-ann", platform=Platform.TELEGRAM, name="Ann")
        said = await ann.say("/stats")
        assert "Glute bridges: 50 in total" in said.text
        assert "3 of 4 symptoms" in said.text
        said = await ann.say("next")
        assert "step 3 of 5" in said.text


def test_the_fixtures_cover_every_earlier_version() -> None:
    versions = {int(path.stem.removeprefix("schema_v")) for path in FIXTURES}
    assert versions == set(range(1, SCHEMA_VERSION + 1))


async def test_a_write_the_database_refuses_gets_an_apology_and_can_be_sent_again(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply = chat.core.store.db.apply
    refusals = [sqlite3.OperationalError("database is locked")]

    async def refusing_once(writes: object) -> None:
        if refusals:
            raise refusals.pop()
        await apply(writes)  # type: ignore[arg-type]

    monkeypatch.setattr(chat.core.store.db, "apply", refusing_once)
    said = await chat.say("done 5")
    assert "went wrong on my side" in said.text
    assert "Logged" not in said.text
    said = await chat.say("done 5")
    assert "Logged 5 glute bridges" in said.text
    rows = await chat.core.store.db.fetchall("SELECT SUM(reps) FROM rep_logs")
    assert [tuple(row) for row in rows] == [(5,)]


@pytest.mark.parametrize(
    ("flow", "step", "data"),
    [
        ("walk_squat", 1, {}),  # an exercise taken out (or renamed) since
        ("walk_lunge", 9, {}),  # the lunge's walk-through shortened since
        ("check", 12, {"answers": {}}),  # a question of the check dropped since
        ("resume", 0, {"flow": "walk_squat", "step": 1, "data": {}, "away": True}),
        ("forget", 0, {"flow": "check", "step": 40, "data": {"answers": {}}}),
    ],
    ids=["removed-exercise", "shortened-walk", "shortened-check", "resume", "forget"],
)
async def test_a_place_an_upgrade_took_away_is_the_menu_not_an_apology(
    db_path: Path, flow: str, step: int, data: dict[str, object]
) -> None:
    """Someone stopped in the middle of something an upgrade then changed (an exercise
    taken out, a walk-through or the check shortened). Everything they sent got the
    apology, until they happened to type /cancel. They are at the menu instead, and
    "done 10" logs."""
    async with open_core(db_path, clock=FakeClock()) as core:
        ann = Chat(core, user="ann", name="Ann")
        await ann.say("hi")
        moved = "UPDATE conversations SET flow = ?, step = ?, data = ?"
        await core.store.db.apply([sql_write(moved, (flow, step, json.dumps(data)))])
        for text in ("hi", "yes", "next", "2"):
            assert "error" not in (await ann.say(text)).templates, text
        assert (await ann.say("done 10")).templates[0] == "logged"


async def test_a_group_request_held_back_while_the_database_is_locked_gets_the_apology(
    db_path: Path,
) -> None:
    """Asked in a Telegram group by someone the bot can't reach in private, a request with
    a private answer is only marked handled (its answer would be lost). That mark, failing
    on a database another process held locked, raised out of the engine: no answer at all,
    where every other refused write gets the apology and can be sent again."""
    group = ChatRef(Platform.TELEGRAM, user_id="7", chat_id="-100", community="-100")

    def said(key: str, text: str) -> Incoming:
        return Incoming(group, key, text=text, private_reach=PrivateReach.IF_STARTED)

    async with open_core(db_path, clock=FakeClock()) as core:
        await core.engine.handle(said("tg:known", "done 5"))  # recorded as a member
        await core.store.db._conn.execute("PRAGMA busy_timeout = 100")
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            answer = await core.engine.handle(said("tg:stats", "/stats"))
        finally:
            other.execute("COMMIT")
            other.close()
        assert [reply.template for reply in answer] == ["error"]
        again = await core.engine.handle(said("tg:stats", "/stats"))
        assert [reply.template for reply in again] == ["private_chat_first"]


async def test_keeping_paused_reminders_is_stored_with_its_event_or_not_at_all(
    db_path: Path,
) -> None:
    """ "Keep reminding me" turned the reminders back on in a transaction of its own, ahead
    of the event's: when the database then refused the event's writes, the person was told
    nothing was stored, yet the reminders were on. Now they stay paused, as they were, and
    sending the answer again turns them on."""
    async with open_core(db_path, clock=FakeClock()) as core:
        ann = Chat(core, user="ann", platform=Platform.TELEGRAM, name="Ann")
        await ann.say("/remind 07:30 UTC daily")
        [reminder] = await core.store.db.fetchall("SELECT id FROM schedules")
        await core.store.schedules.disable(reminder[0], DisabledReason.PAUSED, FakeClock().now)
        # The database refuses to mark the event handled, as a full disk would.
        refuse = "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(FAIL, 'x'); END"
        await core.store.db.apply([sql_write(refuse)])
        keep = Incoming(ann.ref, "tg:keep", choice="do:remind_keep:yes")
        assert [reply.template for reply in await core.engine.handle(keep)] == ["error"]
        enabled = "SELECT enabled FROM schedules"
        assert [tuple(row) for row in await core.store.db.fetchall(enabled)] == [(0,)]
        await core.store.db.apply([sql_write("DROP TRIGGER refuse")])
        assert [reply.template for reply in await core.engine.handle(keep)] == ["remind/kept"]
        assert [tuple(row) for row in await core.store.db.fetchall(enabled)] == [(1,)]


# Every point of every flow, typed and pressed: each message is sent once to a bot that
# kept running and once to one restarted (a new core on the same file) right before it.
# "IDLE" lets a day and more go by (the "carry on, or start over?" question).
RESTART_SCRIPTS = {
    "check": ["/start", "/check", "no", "2", "no", "1", "sometimes", "no", "no", "3", "ok"],
    "check-red-flag": ["/check", "Yes", "1", "2", "/workout"],
    "walk-throughs": ["/bridge", "next", "2", "1", "next", "next", "next", "next", "back",
                      "next", "next", "Next ➡", "done", "/lunge", "Next ➡", "⬅ Back", "Stop"],
    "remind": ["/remind", "07:30", "Berlin / Paris", "2", "/remind", "1", "/remind",
               "Change time or days", "18:00", "Weekdays", "/remind off", "/remind"],
    "forget": ["done 5", "/check", "no", "/forget", "no", "no", "/forget", "1", "hi"],
    "resume": ["/check", "no", "/start", "1", "/start", "2", "no", "/check", "1", "/check",
               "Start over", "IDLE", "next", "Continue", "IDLE", "hi", "2"],
    "menus": ["/start", "2", "3", "1", "/learn", "1", "2", "menu", "3", "2", "done", "/undo",
              "/stats", "4", "5", "1", "/workout", "I did it ✅", "/undo", "/undo"],
}  # fmt: skip


async def _transcript(path: Path, script: list[str], *, restarting: bool) -> list[list[str]]:
    """What the bot said to each message of `script`: text, then buttons."""
    clock = FakeClock()
    seen: list[list[str]] = []
    last = None
    # Kept running: one core for the whole script; restarted: a new one for each message.
    runs = [[n] for n in range(len(script))] if restarting else [list(range(len(script)))]
    for run in runs:
        async with open_core(path, clock=clock) as core:
            ann = Chat(core, user="ann", platform=Platform.TELEGRAM, name="Ann")
            ann.last = last
            for n in run:
                clock.advance(minutes=1)
                if script[n] == "IDLE":
                    clock.advance(hours=30)
                    continue
                key = f"restart:{n}"
                pressed = ann.last is not None and script[n] in ann.last.labels
                said = await (ann.tap if pressed else ann.say)(script[n], key=key)
                seen.append([*said.plain, *said.labels])
            last = ann.last
    return seen


@pytest.mark.parametrize("script", RESTART_SCRIPTS.values(), ids=RESTART_SCRIPTS.keys())
async def test_a_restart_before_any_message_changes_no_answer(
    tmp_path: Path, script: list[str]
) -> None:
    """A typed number picks the same option, a press answers the same question, and every
    flow's every step and finish goes on as if the bot had kept running."""
    kept = await _transcript(tmp_path / "kept.db", script, restarting=False)
    restarted = await _transcript(tmp_path / "restarted.db", script, restarting=True)
    for text, before, after in zip(script, kept, restarted, strict=False):
        assert after == before, text


async def test_after_restarts_a_typed_number_picks_what_was_on_screen(tmp_path: Path) -> None:
    script = ["/start", "2", "3", "1", "/forget", "2"]
    said = await _transcript(tmp_path / "restarted.db", script, restarting=True)
    assert "Today's workout" in said[1][0]  # option 2 of the main menu
    assert "Lunge · step 1 of 5" in said[2][0]  # option 3 of the workout
    assert "Lunge · step 2 of 5" in said[3][0]  # option 1: Next
    assert "kept everything" in said[5][0]  # option 2: No, keep my data


async def test_a_turn_cut_short_anywhere_then_sent_again_moves_the_conversation_once(
    tmp_path: Path,
) -> None:
    """A message still being handled when shutdown's drain runs out is cancelled, at any
    point, and the platform sends it again after the restart. Whatever the point, the
    result is the same as handling it once: one transaction holds all a turn writes with
    the mark that it was handled, so the step is taken once, never twice or by half."""

    async def answer_question_two(path: Path, cut: int | None) -> bool:
        """Handles the answer, cut short after `cut` turns of the loop; True if it was."""
        async with open_core(path, clock=FakeClock()) as core:
            chat = Chat(core, platform=Platform.TELEGRAM)
            await chat.say("/check", key="check")
            await chat.say("no", key="question-1")
            handling = asyncio.create_task(chat.say("no", key="question-2"))
            for _ in range(cut or 0):
                if handling.done():
                    break
                await asyncio.sleep(0)
            cut_short = cut is not None and handling.cancel()
            await asyncio.gather(handling, return_exceptions=True)
        async with open_core(path, clock=FakeClock()) as restarted:
            again = Chat(restarted, platform=Platform.TELEGRAM)
            await again.say("no", key="question-2")  # sent again after the restart
        return cut_short

    await answer_question_two(tmp_path / "whole.db", None)
    async with open_core(tmp_path / "whole.db") as core:
        whole = await every_row(core)
    cut = 0
    while await answer_question_two(tmp_path / f"cut{cut}.db", cut):
        async with open_core(tmp_path / f"cut{cut}.db") as core:
            assert await every_row(core) == whole, f"cut after {cut} turns"
        cut += 1
    assert cut > 1  # it was cut at several points before it could finish

"""Reminders end to end: /remind through real PTB, the scheduler on a virtual clock, the
reminder delivered through the Telegram adapter at the local time, once, across a
daylight-saving change and a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from bot.adapters.telegram_adapter import TelegramAdapter
from bot.adapters.telegram_calls import Result
from bot.app import Core, open_core
from bot.model import ChatRef, Delivery, Platform, Reply
from bot.pacing import Pacer
from bot.runner import deliverer
from bot.scheduler import Prompt, Scheduler
from bot.store.schedules import reminder_owner
from tests.fakes.telegram_api import WAIT_LIMIT, Person, Server, Talk
from tests.test_telegram import ALICE, make_adapter, no_sleep, texts
from tests.transcript import FakeClock

# How long a stop may take, at most (the adapters' drain); only a guard against a hang.
SHUTDOWN_LIMIT = 10.0
# London leaves GMT for BST at 01:00 UTC on Sunday 29 March 2026.
FRIDAY = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
SATURDAY_0730_GMT = datetime(2026, 3, 28, 7, 30, tzinfo=UTC)
SUNDAY_0730_BST = datetime(2026, 3, 29, 6, 30, tzinfo=UTC)


def scheduler_for(
    core: Core, adapter: TelegramAdapter, clock: FakeClock, **options: Any
) -> Scheduler:
    pacer = Pacer(25.0, 1.0, clock=lambda: 0.0, sleep=no_sleep)
    return Scheduler(
        core.store.schedules,
        deliverer(core, {Platform.TELEGRAM: adapter}),
        clock=clock,
        sleep=no_sleep,
        pacers={Platform.TELEGRAM: pacer},
        **options,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FRIDAY)


class CountingLimiter(AIORateLimiter):
    """PTB's rate limiter as the adapter tests set it up, counting the messages handed to
    it (from then on, a 429 it is waiting out holds them back) and the 429s it was
    answered with (it is then waiting that one out)."""

    def __init__(self) -> None:
        super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=2)
        self.messages = 0
        self.refused = 0
        self._handed = asyncio.Event()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        if endpoint == "sendMessage":
            self.messages += 1
            self._handed.set()

        async def counting_refusals(*args: Any, **kwargs: Any) -> Result:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter:
                # Raised on to the limiter, which starts its wait before this is noticed.
                self.refused += 1
                self._handed.set()
                raise

        return await super().process_request(
            counting_refusals, args, kwargs, endpoint, data, rate_limit_args
        )

    async def until_handed(self, count: int) -> None:
        await self._until(lambda: self.messages >= count)

    async def until_refused(self, count: int) -> None:
        await self._until(lambda: self.refused >= count)

    async def _until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_LIMIT):
            while not condition():
                self._handed.clear()
                await self._handed.wait()


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
async def running(
    tmp_path: Path, clock: FakeClock, limiter: CountingLimiter
) -> AsyncIterator[tuple[Core, TelegramAdapter, Server]]:
    server = Server()
    async with open_core(tmp_path / "glutebot.db", clock=clock) as core:
        adapter = make_adapter(core, server, rate_limiter=limiter)
        await adapter.start()
        try:
            yield core, adapter, server
        finally:
            await adapter.stop()


def reminders(server: Server) -> list[str]:
    return [text for text in texts(server.calls) if "Time for your glutes" in text]


async def test_a_reminder_arrives_at_local_time_once_across_dst_and_restart(
    running: tuple[Core, TelegramAdapter, Server], clock: FakeClock, tmp_path: Path
) -> None:
    core, adapter, server = running
    talk = Talk(server, ALICE)
    answer = await talk.say("/remind 07:30 Europe/London daily")
    assert "I'll remind you at <b>07:30</b> (Europe/London) every day" in texts(answer)[0]
    scheduler = scheduler_for(core, adapter, clock)

    clock.now = SATURDAY_0730_GMT.replace(minute=29)
    await scheduler.run_once()
    assert reminders(server) == []
    clock.now = SATURDAY_0730_GMT
    await scheduler.run_once()
    await scheduler.run_once()
    assert len(reminders(server)) == 1
    sent = [c for c in server.calls if c.method == "sendMessage"][-1]
    assert str(sent.params["chat_id"]) == str(ALICE.id)

    # After the clocks go forward, 07:30 local is 06:30 UTC.
    clock.now = SUNDAY_0730_BST.replace(minute=29)
    await scheduler.run_once()
    assert len(reminders(server)) == 1
    clock.now = SUNDAY_0730_BST
    await scheduler.run_once()
    assert len(reminders(server)) == 2

    # A new process on the same file, at the same moment, sends nothing again.
    async with open_core(tmp_path / "glutebot.db", clock=clock) as again:
        await scheduler_for(again, adapter, clock).run_once()
    assert len(reminders(server)) == 2

    answer = await talk.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side" in texts(answer)[0]


async def test_a_timed_out_reminder_is_not_sent_again(
    running: tuple[Core, TelegramAdapter, Server], clock: FakeClock
) -> None:
    # The send timed out waiting for the answer, so it may well have arrived: a reminder
    # goes at most once a day, so it counts as sent rather than being sent again.
    core, adapter, server = running
    await Talk(server, ALICE).say("/remind 07:30 Europe/London daily")
    scheduler = scheduler_for(core, adapter, clock)
    clock.now = SATURDAY_0730_GMT
    server.fail("sendMessage", "timeout")
    await scheduler.run_once()
    for minutes in (1, 2, 4, 8):
        clock.now = SATURDAY_0730_GMT + timedelta(minutes=minutes)
        await scheduler.run_once()
    arrived = [m for m in server.bot_messages(ALICE.id) if "Time for your glutes" in m["text"]]
    assert len(arrived) == 1


async def test_no_reminder_on_a_day_already_trained_and_it_does_not_count_as_ignored(
    running: tuple[Core, TelegramAdapter, Server], clock: FakeClock
) -> None:
    """Someone who trained before their reminder isn't told to train: that day's reminder
    isn't sent, nor counted among those ignored (which pause reminders); the next day's
    comes as usual."""
    core, adapter, server = running
    talk = Talk(server, ALICE)
    await talk.say("/remind 07:30 Europe/London daily")
    scheduler = scheduler_for(core, adapter, clock)
    clock.now = SATURDAY_0730_GMT - timedelta(hours=1)
    assert "Logged" in texts(await talk.say("done 10"))[0]
    sent_before = len(server.bot_messages(ALICE.id))
    clock.now = SATURDAY_0730_GMT
    await scheduler.run_once()
    assert len(server.bot_messages(ALICE.id)) == sent_before
    user = await core.store.users.get(Platform.TELEGRAM, str(ALICE.id))
    assert user is not None
    schedule = await core.store.schedules.get(reminder_owner(user.id))
    assert schedule is not None
    assert (schedule.ignored, schedule.last_sent_day) == (0, SATURDAY_0730_GMT.date())
    clock.now = SUNDAY_0730_BST
    await scheduler.run_once()
    assert len(reminders(server)) == 1


async def test_a_reminder_that_could_not_be_written_is_retried_later_not_lost(
    running: tuple[Core, TelegramAdapter, Server],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Writing the day's reminder fails once (a store read raising, say) before anything is
    sent: the day isn't counted as sent. It is tried again a minute later, once, and goes
    out then, once."""
    core, adapter, server = running
    await Talk(server, ALICE).say("/remind 07:30 Europe/London daily")
    scheduler = scheduler_for(core, adapter, clock)
    writes = core.engine.scheduled
    failures = iter([RuntimeError("database is locked")])

    async def fails_once(prompt: Prompt) -> list[Reply]:
        for failure in failures:
            raise failure
        return await writes(prompt)

    monkeypatch.setattr(core.engine, "scheduled", fails_once)
    clock.now = SATURDAY_0730_GMT
    await scheduler.run_once()
    await scheduler.run_once()  # not due again at once: no busy retrying
    assert reminders(server) == []
    user = await core.store.users.get(Platform.TELEGRAM, str(ALICE.id))
    assert user is not None
    schedule = await core.store.schedules.get(reminder_owner(user.id))
    assert schedule is not None
    assert schedule.last_sent_day is None
    assert schedule.next_day == SATURDAY_0730_GMT.date()
    assert f"schedule {schedule.id}" in caplog.text

    for minutes in (1, 2, 4, 8):
        clock.now = SATURDAY_0730_GMT + timedelta(minutes=minutes)
        await scheduler.run_once()
    assert len(reminders(server)) == 1


async def test_a_stop_while_telegram_says_slow_down_loses_no_reminder_and_repeats_none(
    running: tuple[Core, TelegramAdapter, Server],
    clock: FakeClock,
    tmp_path: Path,
    limiter: CountingLimiter,
) -> None:
    """40 reminders fall due; Telegram answers the first with 429 (retry after an hour),
    and the rest claimed with it (16 at a time) queue behind it in PTB's rate limiter.
    The bot is stopped (SIGTERM) then: it stops at once, and each reminder has either gone
    out, or is still due, and goes out after the restart. None is lost, none arrives
    twice."""
    core, adapter, server = running
    people = [Person(2000 + n, f"P{n}") for n in range(40)]
    for person in people:
        await Talk(server, person).say("/remind 07:30 Europe/London daily")
    handed = limiter.messages
    server.fail("sendMessage", "429", retry_after=3600)
    clock.now = SATURDAY_0730_GMT
    scheduler = scheduler_for(core, adapter, clock, stop_timeout=0.0, concurrency=16)
    scheduling = asyncio.create_task(scheduler.run())
    # Each claimed reminder written and in the rate limiter's hands: the first out and
    # refused, the other 15 waiting out its hour.
    await limiter.until_handed(handed + 16)
    await asyncio.wait_for(scheduler.stop(), SHUTDOWN_LIMIT)
    await scheduling

    def arrived(person: Person) -> int:
        return sum("Time for your glutes" in m["text"] for m in server.bot_messages(person.id))

    saturday = SATURDAY_0730_GMT.date()
    for person in people:
        user = await core.store.users.get(Platform.TELEGRAM, str(person.id))
        assert user is not None
        reminder = await core.store.schedules.get(reminder_owner(user.id))
        assert reminder is not None
        if arrived(person):
            assert (arrived(person), reminder.last_sent_day) == (1, saturday)
        else:  # still due today, so sent after the restart
            assert (reminder.last_sent_day, reminder.next_day) == (None, saturday), person

    async with open_core(tmp_path / "glutebot.db", clock=clock) as again:
        restarted = scheduler_for(again, adapter, clock)
        for minutes in (1, 2, 4):
            clock.now = SATURDAY_0730_GMT + timedelta(minutes=minutes)
            await restarted.run_once()
    assert {person.id: arrived(person) for person in people} == {p.id: 1 for p in people}


async def test_a_stop_while_a_reminder_is_being_written_keeps_it_due(
    running: tuple[Core, TelegramAdapter, Server],
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bot is stopped (at once) while a claimed reminder is still being written, its
    store reads out on the database thread: nothing of it went out. It used to count as
    "may have gone out", and that day's reminder was lost; it stays due, and goes out
    after the restart, once."""
    core, adapter, server = running
    await Talk(server, ALICE).say("/remind 07:30 Europe/London daily")
    writing = asyncio.Event()

    async def still_writing(prompt: Prompt) -> list[Reply]:
        writing.set()
        await asyncio.Event().wait()  # the database thread never answers in time
        return []

    monkeypatch.setattr(core.engine, "scheduled", still_writing)
    clock.now = SATURDAY_0730_GMT
    scheduler = scheduler_for(core, adapter, clock, stop_timeout=0.0)
    scheduling = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(writing.wait(), SHUTDOWN_LIMIT)
    await asyncio.wait_for(scheduler.stop(), SHUTDOWN_LIMIT)
    await scheduling
    assert reminders(server) == []
    user = await core.store.users.get(Platform.TELEGRAM, str(ALICE.id))
    assert user is not None
    reminder = await core.store.schedules.get(reminder_owner(user.id))
    assert reminder is not None
    saturday = SATURDAY_0730_GMT.date()
    assert (reminder.last_sent_day, reminder.next_day) == (None, saturday)

    async with open_core(tmp_path / "glutebot.db", clock=clock) as again:
        restarted = scheduler_for(again, adapter, clock)
        for minutes in (1, 2, 4):
            clock.now = SATURDAY_0730_GMT + timedelta(minutes=minutes)
            await restarted.run_once()
    assert len(reminders(server)) == 1


@pytest.mark.parametrize("on_the_wire", [False, True], ids=["held-back-by-429", "on-the-wire"])
async def test_a_delivery_cancelled_says_retry_only_if_nothing_may_have_arrived(
    running: tuple[Core, TelegramAdapter, Server], on_the_wire: bool, limiter: CountingLimiter
) -> None:
    """Cancelled while PTB waits out a 429, nothing went out: RETRY. Cancelled while the
    request is with Telegram (no answer yet), it may have arrived: the cancellation
    stands, and the scheduler doesn't send it again."""
    _, adapter, server = running
    if on_the_wire:
        server.latency = 3600.0  # Telegram never answers
    else:
        server.fail("sendMessage", "429", retry_after=3600)
    chat = ChatRef(Platform.TELEGRAM, str(ALICE.id), str(ALICE.id))
    sending = asyncio.create_task(adapter.deliver(chat, [Reply("help", {"platform": "telegram"})]))
    await server.until(lambda: bool(server.calls_to("sendMessage")))
    if not on_the_wire:
        await limiter.until_refused(1)  # PTB's rate limiter waits the 429 out
    sending.cancel()
    await asyncio.wait({sending})
    if on_the_wire:
        assert sending.cancelled()
    else:
        assert sending.result() is Delivery.RETRY

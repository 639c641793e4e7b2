from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.model import Delivery, Platform
from bot.pacing import Pacer
from bot.schedule_time import Run, parse_days, parse_local_time, parse_timezone
from bot.scheduler import Deliver, Prompt, Scheduler
from bot.store.db import Database
from bot.store.schedules import (
    DisabledReason,
    ScheduleKind,
    ScheduleSpec,
    ScheduleStore,
    channel_owner,
    reminder_owner,
)
from tests.test_pacing import SLACK
from tests.test_pacing import VirtualClock as PacingClock

SENT, GONE, RETRY = Delivery.SENT, Delivery.GONE, Delivery.RETRY


class VirtualClock(PacingClock):
    """The pacing tests' virtual time, read as UTC datetimes too."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start.timestamp())

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def monotonic(self) -> float:
        return self.now


class Recorder:
    """The injected `deliver`: records what went out and when, answers with `outcomes`."""

    def __init__(
        self, clock: VirtualClock, outcomes: Callable[[Prompt], Delivery] | None = None
    ) -> None:
        self.clock = clock
        self.sent: list[tuple[float, Prompt]] = []
        self._outcomes = outcomes or (lambda prompt: SENT)

    async def __call__(self, prompt: Prompt) -> Delivery:
        self.sent.append((self.clock.monotonic(), prompt))
        return self._outcomes(prompt)

    @property
    def prompts(self) -> list[Prompt]:
        return [prompt for _, prompt in self.sent]

    def days(self) -> list[date]:
        return [prompt.local_day for prompt in self.prompts]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def channel(
    guild: str,
    at: str = "07:00",
    tz: str = "Europe/London",
    days: str = "daily",
    target: str | None = None,
    platform: Platform = Platform.DISCORD,
) -> ScheduleSpec:
    return ScheduleSpec(
        kind=ScheduleKind.CHANNEL,
        owner=channel_owner(platform, guild),
        platform=platform,
        target=target or f"channel-{guild}",
        local_time=parse_local_time(at),
        tz=parse_timezone(tz),
        days=parse_days(days),
        community=guild,
    )


def reminder(
    user_id: int, at: str = "07:00", tz: str = "Europe/London", days: str = "daily"
) -> ScheduleSpec:
    return ScheduleSpec(
        kind=ScheduleKind.REMINDER,
        owner=reminder_owner(user_id),
        platform=Platform.TELEGRAM,
        target=f"tg-{user_id}",
        local_time=parse_local_time(at),
        tz=parse_timezone(tz),
        days=parse_days(days),
        user_id=user_id,
    )


async def add_user(db: Database, name: str) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO users (platform, platform_user_id, created_at)"
            " VALUES ('telegram', ?, '2026-01-01')",
            (name,),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "glutebot.db"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Database]:
    database = await Database.open(path)
    yield database
    await database.close()


@pytest.fixture
def store(db: Database) -> ScheduleStore:
    return ScheduleStore(db)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(utc(2026, 6, 1, 5, 0))  # Monday 06:00 in London


def make_scheduler(
    store: ScheduleStore,
    deliver: Deliver,
    clock: VirtualClock,
    *,
    grace: timedelta = timedelta(hours=2),
    pacers: Mapping[Platform, Pacer] | None = None,
    pause_after: int = 5,
) -> Scheduler:
    return Scheduler(
        store,
        deliver,
        clock.utc,
        clock.sleep,
        grace,
        {} if pacers is None else pacers,
        pause_after=pause_after,
    )


async def run_due(scheduler: Scheduler, clock: VirtualClock) -> None:
    """What the loop does once it wakes: handle passes until nothing is due now."""
    while await clock.drive(scheduler.run_once()):
        pass


async def run_until(
    scheduler: Scheduler, store: ScheduleStore, clock: VirtualClock, end: datetime
) -> None:
    """Jump from due time to due time, as the loop would, up to `end`."""
    while (due := await store.next_due()) is not None and due <= end:
        clock.set(max(due, clock.utc()))
        await run_due(scheduler, clock)
    clock.set(end)


async def test_a_prompt_goes_out_when_due_and_the_next_day_is_planned(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    created = await store.upsert(channel("g1"), clock.utc())
    assert created.next_due == utc(2026, 6, 1, 6, 0)
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    clock.set(utc(2026, 6, 1, 5, 59, 59))
    await run_due(scheduler, clock)
    assert deliver.sent == []
    clock.set(utc(2026, 6, 1, 6, 0))
    await run_due(scheduler, clock)
    assert deliver.days() == [date(2026, 6, 1)]
    assert deliver.prompts[0].schedule.owner == "channel:discord:g1"
    assert not deliver.prompts[0].asks_to_continue
    after = await store.get("channel:discord:g1")
    assert after is not None
    assert (after.next_due, after.next_day, after.last_sent_day) == (
        utc(2026, 6, 2, 6, 0),
        date(2026, 6, 2),
        date(2026, 6, 1),
    )


@pytest.mark.parametrize(
    ("tz", "at", "start", "expected"),
    [
        # London springs forward on 29 March 2026: 01:30 doesn't exist, 02:00 BST does.
        (
            "Europe/London",
            "01:30",
            utc(2026, 3, 27, 12),
            [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)],
        ),
        # ...and falls back on 25 October 2026: 01:30 happens twice, sent once.
        (
            "Europe/London",
            "01:30",
            utc(2026, 10, 23, 12),
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
        (
            "Europe/London",
            "01:30",
            utc(2027, 3, 27, 12),
            [utc(2027, 3, 28, 1, 0), utc(2027, 3, 29, 0, 30), utc(2027, 3, 30, 0, 30)],
        ),
        (
            "Europe/London",
            "01:30",
            utc(2027, 10, 30, 12),
            [utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30), utc(2027, 11, 2, 1, 30)],
        ),
        # New York springs forward on 8 March 2026: 02:30 becomes 03:00 EDT.
        (
            "America/New_York",
            "02:30",
            utc(2026, 3, 6, 12),
            [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)],
        ),
        (
            "America/New_York",
            "01:30",
            utc(2026, 10, 31, 0),
            [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        ),
        (
            "America/New_York",
            "02:30",
            utc(2027, 3, 13, 0),
            [utc(2027, 3, 13, 7, 30), utc(2027, 3, 14, 7, 0), utc(2027, 3, 15, 6, 30)],
        ),
        (
            "America/New_York",
            "01:30",
            utc(2027, 11, 6, 0),
            [utc(2027, 11, 6, 5, 30), utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)],
        ),
        # Sydney: summer time ends 5 April 2026 (02:30 twice) and starts 4 October 2026.
        (
            "Australia/Sydney",
            "02:30",
            utc(2026, 4, 3, 0),
            [utc(2026, 4, 3, 15, 30), utc(2026, 4, 4, 15, 30), utc(2026, 4, 5, 16, 30)],
        ),
        (
            "Australia/Sydney",
            "02:30",
            utc(2026, 10, 2, 0),
            [utc(2026, 10, 2, 16, 30), utc(2026, 10, 3, 16, 0), utc(2026, 10, 4, 15, 30)],
        ),
        (
            "Australia/Sydney",
            "01:30",
            utc(2027, 4, 2, 0),
            [utc(2027, 4, 2, 14, 30), utc(2027, 4, 3, 14, 30), utc(2027, 4, 4, 15, 30)],
        ),
        (
            "Australia/Sydney",
            "01:30",
            utc(2027, 10, 1, 0),
            [utc(2027, 10, 1, 15, 30), utc(2027, 10, 2, 15, 30), utc(2027, 10, 3, 14, 30)],
        ),
    ],
)
async def test_daylight_saving_changes(
    store: ScheduleStore,
    clock: VirtualClock,
    tz: str,
    at: str,
    start: datetime,
    expected: list[datetime],
) -> None:
    clock.set(start)
    await store.upsert(channel("g1", at=at, tz=tz), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    # Wake every ten minutes too, so a repeated wall time would be seen if it were sent.
    moment = start
    while moment < expected[-1] + timedelta(hours=1):
        moment += timedelta(minutes=10)
        await run_until(scheduler, store, clock, moment)
    assert [datetime.fromtimestamp(when, UTC) for when, _ in deliver.sent] == expected
    assert len(set(deliver.days())) == 3


async def test_only_the_chosen_days(store: ScheduleStore, clock: VirtualClock) -> None:
    await store.upsert(channel("g1", days="mon,wed,fri"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    await run_until(scheduler, store, clock, utc(2026, 6, 15, 0))
    assert [day.strftime("%a %d") for day in deliver.days()] == [
        "Mon 01",
        "Wed 03",
        "Fri 05",
        "Mon 08",
        "Wed 10",
        "Fri 12",
    ]


async def test_a_restart_just_after_a_send_does_not_repeat_it(
    path: Path, store: ScheduleStore, clock: VirtualClock
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    first = Recorder(clock)
    clock.set(utc(2026, 6, 1, 6, 0))
    await run_due(make_scheduler(store, first, clock), clock)
    assert first.days() == [date(2026, 6, 1)]

    reopened = await Database.open(path)
    try:
        again = Recorder(clock)
        scheduler = make_scheduler(ScheduleStore(reopened), again, clock)
        for minutes in (0, 1, 30, 119):
            clock.set(utc(2026, 6, 1, 6, 0, 1) + timedelta(minutes=minutes))
            await run_due(scheduler, clock)
        assert again.sent == []
        clock.set(utc(2026, 6, 2, 6, 0))
        await run_due(scheduler, clock)
        assert again.days() == [date(2026, 6, 2)]
    finally:
        await reopened.close()


def hanging_delivery() -> tuple[asyncio.Event, Deliver]:
    """A send that never ends, and the event set once it has begun."""
    sending = asyncio.Event()

    async def hang(prompt: Prompt) -> Delivery:
        sending.set()
        await asyncio.Event().wait()
        return SENT

    return sending, hang


async def test_a_crash_between_claim_and_send_loses_that_prompt_only(
    path: Path, store: ScheduleStore, clock: VirtualClock
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    clock.set(utc(2026, 6, 1, 6, 0))
    sending, hang = hanging_delivery()  # the process dies there, mid-send
    crashed = asyncio.ensure_future(make_scheduler(store, hang, clock).run_once())
    await sending.wait()
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed

    reopened = await Database.open(path)
    try:
        deliver = Recorder(clock)
        scheduler = make_scheduler(ScheduleStore(reopened), deliver, clock)
        await run_until(scheduler, ScheduleStore(reopened), clock, utc(2026, 6, 2, 12, 0))
        assert deliver.days() == [date(2026, 6, 2)]
    finally:
        await reopened.close()


@pytest.mark.parametrize(
    ("back_at", "sent"),
    [
        (utc(2026, 6, 1, 6, 0, 30), [date(2026, 6, 1)]),
        (utc(2026, 6, 1, 7, 59), [date(2026, 6, 1)]),  # 1 h 59 late: within the grace window
        (utc(2026, 6, 1, 8, 0), []),  # 2 h late: skipped
        (utc(2026, 6, 1, 13, 0), []),
        (utc(2026, 6, 4, 7, 30), [date(2026, 6, 4)]),  # days down: only today's goes out
        (utc(2026, 6, 4, 9, 0), []),
    ],
)
async def test_downtime(
    store: ScheduleStore, clock: VirtualClock, back_at: datetime, sent: list[date]
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    clock.set(back_at)
    await run_due(scheduler, clock)
    await run_due(scheduler, clock)  # the loop's next pass, a moment later
    clock.set(back_at + timedelta(minutes=30))
    await run_due(scheduler, clock)
    assert deliver.days() == sent
    schedule = await store.get(channel_owner(Platform.DISCORD, "g1"))
    assert schedule is not None
    assert schedule.next_day == back_at.date() + timedelta(days=1)


async def test_the_grace_window_is_configurable(store: ScheduleStore, clock: VirtualClock) -> None:
    await store.upsert(channel("g1"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock, grace=timedelta(minutes=10))
    clock.set(utc(2026, 6, 1, 6, 11))
    await run_due(scheduler, clock)
    assert deliver.sent == []


async def test_ten_thousand_at_once_are_paced_and_sent_exactly_once(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    # 10,000 schedules due at the same minute; 1,000 chats get two (e.g. two servers'
    # posts bridged into one channel), which exercises the per-chat gap.
    specs = [
        channel(f"g{n}", target=f"chat{n % 9_000}", platform=Platform.TELEGRAM)
        for n in range(10_000)
    ]
    await db.apply([store.upsert_write(spec, clock.utc()) for spec in specs])
    rate, per_chat = 30.0, 1.0
    pacers = {Platform.TELEGRAM: Pacer(rate, per_chat, clock=clock.monotonic, sleep=clock.sleep)}
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock, pacers=pacers)
    clock.set(utc(2026, 6, 1, 6, 0))
    await run_due(scheduler, clock)

    assert Counter(prompt.schedule.owner for prompt in deliver.prompts) == Counter(
        spec.owner for spec in specs
    )
    times = [when for when, _ in deliver.sent]
    assert min(later - earlier for earlier, later in itertools.pairwise(times)) >= (
        1 / rate - SLACK
    )
    last_by_chat: dict[str, float] = {}
    for when, prompt in deliver.sent:
        chat = prompt.schedule.target
        assert when - last_by_chat.get(chat, float("-inf")) >= per_chat - SLACK
        last_by_chat[chat] = when
    # Paced, not dawdling: about 10,000 / 30 seconds in all.
    assert times[-1] - times[0] == pytest.approx(9_999 / rate, rel=0.01)

    restarted = Recorder(clock)
    await run_due(make_scheduler(store, restarted, clock), clock)
    assert restarted.sent == []
    assert await store.next_due() == utc(2026, 6, 2, 6, 0)


async def test_gone_disables_without_retrying(
    store: ScheduleStore, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    await store.upsert(channel("g2"), clock.utc())
    deliver = Recorder(clock, lambda p: GONE if p.schedule.community == "g1" else SENT)
    scheduler = make_scheduler(store, deliver, clock)
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        await run_until(scheduler, store, clock, utc(2026, 6, 4, 12, 0))
    assert [p.schedule.community for p in deliver.prompts] == ["g1", "g2", "g2", "g2", "g2"]
    gone = await store.get(channel_owner(Platform.DISCORD, "g1"))
    assert gone is not None
    assert (gone.enabled, gone.disabled_reason, gone.next_due) == (
        False,
        DisabledReason.GONE,
        None,
    )
    assert [record.getMessage() for record in caplog.records] == [
        f"schedule {gone.id} (channel:discord:g1) disabled: discord chat channel-g1 is gone"
        " (blocked or no access)"
    ]


async def test_retry_backs_off_and_then_succeeds(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    outcomes = iter([RETRY, RETRY, SENT])
    deliver = Recorder(clock, lambda prompt: next(outcomes))
    scheduler = make_scheduler(store, deliver, clock)
    clock.set(utc(2026, 6, 1, 6, 0))
    await run_due(scheduler, clock)
    await run_due(scheduler, clock)  # no hot loop: nothing more until the retry is due
    assert len(deliver.sent) == 1
    assert await store.next_due() == utc(2026, 6, 1, 6, 1)
    await run_until(scheduler, store, clock, utc(2026, 6, 1, 12, 0))
    sent_at = [datetime.fromtimestamp(when, UTC) for when, _ in deliver.sent]
    assert sent_at == [utc(2026, 6, 1, 6, 0), utc(2026, 6, 1, 6, 1), utc(2026, 6, 1, 6, 3)]
    assert deliver.days() == [date(2026, 6, 1)] * 3
    schedule = await store.get(channel_owner(Platform.DISCORD, "g1"))
    assert schedule is not None
    assert (schedule.last_sent_day, schedule.next_due, schedule.attempts) == (
        date(2026, 6, 1),
        utc(2026, 6, 2, 6, 0),
        0,
    )


async def test_retry_gives_up_at_the_end_of_the_grace_window(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    deliver = Recorder(clock, lambda prompt: RETRY if prompt.local_day.day == 1 else SENT)
    scheduler = make_scheduler(store, deliver, clock)
    await run_until(scheduler, store, clock, utc(2026, 6, 2, 12, 0))
    minutes = [(when - utc(2026, 6, 1, 6, 0).timestamp()) / 60 for when, _ in deliver.sent]
    assert minutes[:-1] == [0, 1, 3, 7, 15, 31, 63]  # the next would be 2 h 7 min late
    assert deliver.days()[-1] == date(2026, 6, 2)


async def test_a_failing_delivery_is_logged_and_not_retried(
    store: ScheduleStore, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await store.upsert(channel("g1"), clock.utc())

    def explode(prompt: Prompt) -> Delivery:
        raise RuntimeError("boom")

    deliver = Recorder(clock, explode)
    scheduler = make_scheduler(store, deliver, clock)
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        await run_until(scheduler, store, clock, utc(2026, 6, 1, 12, 0))
    assert len(deliver.sent) == 1
    assert "delivery failed" in caplog.text


async def test_ignored_reminders_pause_once(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    user = await add_user(db, "ann")
    await store.upsert(reminder(user), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock, pause_after=3)
    await run_until(scheduler, store, clock, utc(2026, 6, 10, 0, 0))
    assert [prompt.asks_to_continue for prompt in deliver.prompts] == [False] * 3 + [True]
    paused = await store.get(reminder_owner(user))
    assert paused is not None
    assert (paused.enabled, paused.disabled_reason) == (False, DisabledReason.PAUSED)
    assert await store.next_due() is None

    # "Yes, keep going": back on from the next run, with a clean slate.
    resumed = await store.enable(paused.id, clock.utc())
    assert resumed is not None
    assert (resumed.enabled, resumed.ignored, resumed.next_day) == (True, 0, date(2026, 6, 10))
    await run_until(scheduler, store, clock, utc(2026, 6, 11, 0, 0))
    assert deliver.days()[-1] == date(2026, 6, 10)
    assert not deliver.prompts[-1].asks_to_continue


async def test_answering_resets_the_ignored_count(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    user = await add_user(db, "bob")
    await store.upsert(reminder(user), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock, pause_after=3)
    for day in range(1, 8):
        await run_until(scheduler, store, clock, utc(2026, 6, day, 12, 0))
        if day % 2 == 0:
            await db.apply([store.reset_ignored_write(reminder_owner(user))])
    assert not any(prompt.asks_to_continue for prompt in deliver.prompts)
    assert len(deliver.sent) == 7
    counted = await store.get(reminder_owner(user))
    assert counted is not None
    assert counted.ignored == 1
    await store.reset_ignored(reminder_owner(user))
    counted = await store.get(reminder_owner(user))
    assert counted is not None
    assert counted.ignored == 0


async def test_channel_posts_never_pause(store: ScheduleStore, clock: VirtualClock) -> None:
    await store.upsert(channel("g1"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock, pause_after=2)
    await run_until(scheduler, store, clock, utc(2026, 6, 8, 0, 0))
    assert len(deliver.sent) == 7
    assert not any(prompt.asks_to_continue for prompt in deliver.prompts)


class Naps:
    """The loop's sleep: records each nap and lasts until the test ends it (or a wake)."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._seen = 0
        self._new = asyncio.Event()
        self._current: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        self._current = asyncio.get_running_loop().create_future()
        self._new.set()
        await self._current

    async def next(self) -> float:
        async with asyncio.timeout(10):  # a guard against a hung test, not a wait
            while len(self.requested) <= self._seen:
                self._new.clear()
                await self._new.wait()
        self._seen += 1
        return self.requested[self._seen - 1]

    def end(self) -> None:
        assert self._current is not None
        self._current.set_result(None)


async def test_the_loop_sleeps_until_due_and_replans_when_woken(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    await store.upsert(channel("g1"), clock.utc())  # due 06:00 UTC, an hour away
    deliver = Recorder(clock)
    naps = Naps()
    scheduler = Scheduler(store, deliver, clock.utc, naps.sleep, pacers={})
    loop = asyncio.ensure_future(scheduler.run())
    try:
        assert await naps.next() == 3600

        user = await add_user(db, "cat")
        await store.upsert(reminder(user, at="06:30"), clock.utc())  # 05:30 UTC
        scheduler.wake()
        assert await naps.next() == 1800

        clock.set(utc(2026, 6, 1, 5, 30))
        naps.end()
        assert await naps.next() == 1800
        assert [prompt.schedule.kind for prompt in deliver.prompts] == [ScheduleKind.REMINDER]

        await store.delete(reminder_owner(user))
        await store.delete(channel_owner(Platform.DISCORD, "g1"))
        scheduler.wake()
        assert await naps.next() == 3600  # nothing planned: the longest nap
    finally:
        await scheduler.stop()
    assert loop.done()
    assert naps.requested == [3600, 1800, 1800, 3600]


async def test_stop_before_run_returns_at_once(store: ScheduleStore, clock: VirtualClock) -> None:
    scheduler = make_scheduler(store, Recorder(clock), clock)
    await scheduler.stop()


async def test_a_day_is_claimed_once(store: ScheduleStore, clock: VirtualClock) -> None:
    schedule = await store.upsert(channel("g1"), clock.utc())
    assert schedule.next_due is not None
    following = Run(schedule.next_due + timedelta(days=1), date(2026, 6, 2))
    assert await store.claim_send(schedule, following, clock.utc())
    assert not await store.claim_send(schedule, following, clock.utc())


async def test_a_new_time_on_a_day_already_sent_waits_for_tomorrow(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    await store.upsert(channel("g1"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    await run_until(scheduler, store, clock, utc(2026, 6, 1, 9, 0))
    changed = await store.upsert(channel("g1", at="18:00"), clock.utc())
    assert changed.next_day == date(2026, 6, 2)
    await run_until(scheduler, store, clock, utc(2026, 6, 2, 23, 0))
    assert deliver.days() == [date(2026, 6, 1), date(2026, 6, 2)]


async def test_disable_enable_delete(store: ScheduleStore, clock: VirtualClock) -> None:
    schedule = await store.upsert(channel("g1"), clock.utc())
    await store.disable(schedule.id, DisabledReason.OWNER, clock.utc())
    assert await store.next_due() is None
    assert await store.due(utc(2026, 7, 1), 10) == []
    enabled = await store.enable(schedule.id, clock.utc())
    assert enabled is not None
    assert enabled.next_due == utc(2026, 6, 1, 6, 0)
    assert await store.delete(schedule.owner)
    assert not await store.delete(schedule.owner)
    assert await store.get(schedule.owner) is None
    assert await store.enable(schedule.id, clock.utc()) is None


async def test_stop_cancels_a_send_that_hangs_and_does_not_repeat_it(
    path: Path, store: ScheduleStore, clock: VirtualClock
) -> None:
    # A stalled connection, or a long 429 wait: stop gives up on it (after stop_timeout, 0
    # here) rather than hold up shutdown. It may have reached the platform, so, as after a
    # crash mid-send, that day is not sent again.
    await store.upsert(channel("g1"), clock.utc())
    clock.set(utc(2026, 6, 1, 6, 0))
    sending, hang = hanging_delivery()
    scheduler = Scheduler(store, hang, clock.utc, clock.sleep, pacers={}, stop_timeout=0)
    loop = asyncio.ensure_future(scheduler.run())
    await sending.wait()
    await scheduler.stop()
    assert loop.done()

    deliver = Recorder(clock)
    await run_until(make_scheduler(store, deliver, clock), store, clock, utc(2026, 6, 2, 12, 0))
    assert deliver.days() == [date(2026, 6, 2)]


async def test_stop_releases_prompts_still_waiting_for_their_turn(
    path: Path, store: ScheduleStore, clock: VirtualClock
) -> None:
    # Two posts to one channel, a second apart: stop comes while the second waits for its
    # pacing slot. Nothing of it went out, so it isn't marked sent: a restart within the
    # grace window sends it, and the first one not again.
    await store.upsert(channel("g1", target="shared"), clock.utc())
    await store.upsert(channel("g2", target="shared"), clock.utc())
    clock.set(utc(2026, 6, 1, 6, 0))
    first = Recorder(clock)
    sent_one = asyncio.Event()

    async def deliver(prompt: Prompt) -> Delivery:
        sent_one.set()
        return await first(prompt)

    pacer = Pacer(40.0, 1.0, clock=clock.monotonic, sleep=clock.sleep)  # time stands still
    scheduler = Scheduler(
        store, deliver, clock.utc, clock.sleep, pacers={Platform.DISCORD: pacer}, stop_timeout=0
    )
    loop = asyncio.ensure_future(scheduler.run())
    await sent_one.wait()
    await scheduler.stop()
    assert loop.done()
    [waited] = [s for s in ("g1", "g2") if s not in [p.schedule.community for p in first.prompts]]
    waiting = await store.get(channel_owner(Platform.DISCORD, waited))
    assert waiting is not None
    assert waiting.last_sent_day is None

    clock.set(utc(2026, 6, 1, 6, 30))
    again = Recorder(clock)
    await run_due(make_scheduler(store, again, clock), clock)
    assert [(p.schedule.community, p.local_day) for p in again.prompts] == [
        (waited, date(2026, 6, 1))
    ]


@pytest.mark.parametrize("turns", range(12))
async def test_a_stop_landing_at_any_turn_after_a_claim_loses_no_prompt(
    store: ScheduleStore, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch, turns: int
) -> None:
    """`stop` (no time to wait) comes while a prompt is being claimed, and cancels the
    sends under way `turns` turns of the loop after the claim commits: maybe right after
    the send's task was created, before it ran at all. Such a task never runs a line of
    its own, so it used to count as "may have gone out" and the day was lost. Whatever
    the turn, the prompt went out (its day claimed) or stays due and goes out after the
    restart: once."""
    schedule = await store.upsert(channel("g1"), clock.utc())
    clock.set(utc(2026, 6, 1, 6, 0))
    claiming, claimed = asyncio.Event(), asyncio.Event()
    claim = store.claim_send

    async def claim_held(*args: Any) -> bool:
        won = await claim(*args)
        claiming.set()
        await claimed.wait()  # committed; the scheduler hears of it when the test says
        return won

    monkeypatch.setattr(store, "claim_send", claim_held)
    first = Recorder(clock)
    scheduler = Scheduler(store, first, clock.utc, clock.sleep, pacers={}, stop_timeout=0)
    loop = asyncio.ensure_future(scheduler.run())
    await claiming.wait()
    stopping = asyncio.ensure_future(scheduler.stop())
    for _ in range(turns):
        await asyncio.sleep(0)
    claimed.set()
    await stopping
    assert loop.done()
    monkeypatch.undo()
    after = await store.get(schedule.owner)
    assert after is not None
    assert after.last_sent_day == (date(2026, 6, 1) if first.prompts else None)

    again = Recorder(clock)
    await run_until(make_scheduler(store, again, clock), store, clock, utc(2026, 6, 1, 8, 0))
    assert first.days() + again.days() == [date(2026, 6, 1)]


async def test_a_prompt_missed_until_after_midnight_waits_for_its_next_day(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    # 23:30 in London, the bot down until 00:15: 45 minutes late, within the grace window,
    # but it would be yesterday's workout. Today's comes at 23:30.
    await store.upsert(channel("g1", at="23:30"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    clock.set(utc(2026, 6, 1, 23, 15))  # 00:15 on Tuesday in London
    await run_until(scheduler, store, clock, utc(2026, 6, 2, 23, 0))
    assert deliver.days() == [date(2026, 6, 2)]


async def test_a_grace_window_of_a_day_catches_up_once_with_todays_prompt(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    # Down from before Monday's 07:00 until Tuesday 06:30: Monday's is within a 24-hour
    # window, but Tuesday's is due in half an hour. It used to send both.
    await store.upsert(channel("g1", at="07:00", tz="UTC"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock, grace=timedelta(hours=24))
    clock.set(utc(2026, 6, 2, 6, 30))
    await run_until(scheduler, store, clock, utc(2026, 6, 2, 12, 0))
    assert deliver.days() == [date(2026, 6, 2)]


async def test_a_chat_gone_while_setup_moves_the_post_keeps_the_new_schedule(
    store: ScheduleStore, clock: VirtualClock
) -> None:
    # The old channel deleted, and while the morning's post to it is refused, the admin runs
    # /setup for a new one: that is kept (it used to be switched off with the old one).
    owner = channel_owner(Platform.DISCORD, "g1")
    await store.upsert(channel("g1", target="old-channel"), clock.utc())

    async def deleted_channel(prompt: Prompt) -> Delivery:
        await store.upsert(channel("g1", target="new-channel"), clock.utc())
        return Delivery.GONE

    scheduler = make_scheduler(store, deleted_channel, clock)
    clock.set(utc(2026, 6, 1, 6, 0))
    await run_due(scheduler, clock)
    after = await store.get(owner)
    assert after is not None
    assert (after.target, after.enabled, after.next_day) == ("new-channel", True, date(2026, 6, 2))


async def test_a_reminder_switched_off_by_its_owner_during_a_refused_send_stays_theirs(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    user = await add_user(db, "ann")
    await store.upsert(reminder(user), clock.utc())

    async def blocked_while_switching_off(prompt: Prompt) -> Delivery:
        await store.disable(prompt.schedule.id, DisabledReason.OWNER, clock.utc())
        return Delivery.GONE

    scheduler = make_scheduler(store, blocked_while_switching_off, clock)
    clock.set(utc(2026, 6, 1, 6, 0))
    await run_due(scheduler, clock)
    after = await store.get(reminder_owner(user))
    assert after is not None
    # Not GONE: that would offer it back to them when they next write.
    assert after.disabled_reason is DisabledReason.OWNER


async def test_a_pause_question_that_never_gets_through_is_asked_at_the_next_run(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    # The reminder is paused when the question is claimed; if sending it fails until the
    # grace window ends, the reminders used to stay paused for good, unasked.
    user = await add_user(db, "ann")
    await store.upsert(reminder(user, tz="UTC"), clock.utc())
    question_fails = Recorder(
        clock, lambda prompt: Delivery.RETRY if prompt.asks_to_continue else Delivery.SENT
    )
    scheduler = make_scheduler(store, question_fails, clock, pause_after=2)
    await run_until(scheduler, store, clock, utc(2026, 6, 6, 12, 0))
    asked = sorted({p.local_day for p in question_fails.prompts if p.asks_to_continue})
    assert asked == [date(2026, 6, 3), date(2026, 6, 4), date(2026, 6, 5), date(2026, 6, 6)]
    schedule = await store.get(reminder_owner(user))
    assert schedule is not None
    assert (schedule.enabled, schedule.next_day) == (True, date(2026, 6, 7))


async def test_moving_far_west_keeps_the_next_days_reminder(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    # Tuesday 07:00 in Tokyo is Monday 22:00 UTC. On Monday afternoon in Los Angeles the
    # person moves the reminder there: Tuesday 07:00 there is a day not yet reminded. The
    # Tokyo day sent (Tuesday) used to be taken for an LA day, and Tuesday was skipped.
    # And planned is sent: the day sent is kept as a day in the new zone (Monday there),
    # or the scheduler took Tuesday for sent already and skipped it after all.
    user = await add_user(db, "traveller")
    clock.set(utc(2026, 6, 1, 21, 0))
    await store.upsert(reminder(user, at="07:00", tz="Asia/Tokyo"), clock.utc())
    deliver = Recorder(clock)
    scheduler = make_scheduler(store, deliver, clock)
    await run_until(scheduler, store, clock, utc(2026, 6, 1, 22, 30))
    assert deliver.days() == [date(2026, 6, 2)]

    clock.set(utc(2026, 6, 1, 23, 0))
    moved = reminder(user, at="07:00", tz="America/Los_Angeles")
    assert (await store.first_run(moved, clock.utc())).due_utc == utc(2026, 6, 2, 14, 0)
    changed = await store.upsert(moved, clock.utc())
    assert (changed.next_due, changed.next_day) == (utc(2026, 6, 2, 14, 0), date(2026, 6, 2))
    assert changed.last_sent_day == date(2026, 6, 1)
    await run_until(scheduler, store, clock, utc(2026, 6, 3, 0, 0))
    sent = [datetime.fromtimestamp(when, UTC) for when, _ in deliver.sent]
    assert sent[1:] == [utc(2026, 6, 2, 14, 0)]


async def test_a_database_refusing_the_claims_is_tried_again_in_a_minute_not_every_second(
    db: Database, store: ScheduleStore, clock: VirtualClock
) -> None:
    """The database refuses to mark prompts sent (a full disk, say; a trigger stands in):
    nothing is sent, the rows stay due, and the loop tries again a minute later rather
    than every second (each time logging every due row's failure)."""
    await store.upsert(channel("g1"), clock.utc())
    clock.set(utc(2026, 6, 1, 6, 0))
    async with db.transaction() as conn:
        await conn.execute(
            "CREATE TRIGGER full BEFORE UPDATE ON schedules"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    deliver = Recorder(clock)
    naps = Naps()
    scheduler = Scheduler(store, deliver, clock.utc, naps.sleep, pacers={})
    loop = asyncio.ensure_future(scheduler.run())
    try:
        assert await naps.next() == 60.0
        assert deliver.sent == []
        async with db.transaction() as conn:
            await conn.execute("DROP TRIGGER full")
        naps.end()
        assert await naps.next() == 3600  # sent, and tomorrow's planned
    finally:
        await scheduler.stop()
    assert loop.done()
    assert len(deliver.sent) == 1

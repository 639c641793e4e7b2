"""One loop that sends each schedule's daily prompt when it falls due, at most once a day.

The loop sleeps until the earliest due time (or until `wake()`), handles every due row,
and plans again. Sending itself is injected (`deliver`): the wiring renders the day's
prompt through the engine and sends it through the platform's adapter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.model import Delivery, Platform
from bot.pacing import Pacer, Sleep
from bot.schedule_time import Run, instant_on, next_run
from bot.store.db import log_failure
from bot.store.schedules import Schedule, ScheduleKind, ScheduleStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prompt:
    """One prompt to send: the schedule as it was due, the local day it is for, and whether
    it is the one question, after too many ignored reminders, whether to keep going."""

    schedule: Schedule
    local_day: date
    asks_to_continue: bool = False

    @property
    def nonce(self) -> str:
        """What ties the prompt's Done button to it: one log per person per day."""
        return prompt_nonce(self.schedule.id, self.local_day)


def prompt_nonce(schedule_id: int, local_day: date) -> str:
    return f"s{schedule_id}d{local_day.toordinal()}"


@dataclass
class _Send:
    """A claimed prompt on its way out, and whether `deliver` has it yet: until then
    nothing of it can have reached the platform."""

    prompt: Prompt
    handed_over: bool = False


Deliver = Callable[[Prompt], Awaitable[Delivery]]
Clock = Callable[[], datetime]

# How long `stop` lets prompts already claimed go out. They are at most `concurrency` (16),
# paced at 25 a second or more, so normally all are out within a second; a send stuck on
# a stalled connection, or on a long "slow down" (429) wait, must not hold up shutdown.
STOP_TIMEOUT = 5.0
# How long the loop waits after a pass that failed, or failed on some prompt.
FAILED_PASS_NAP = 60.0


@dataclass(frozen=True)
class Limits:
    rate: float  # messages per second, all chats together
    per_chat: float  # seconds between two messages to one chat


# Below the platforms' published limits (Telegram: 30/s overall, about 1/s per chat;
# Discord: 50/s global, 5 per 5 s per channel) so normal operation never meets a 429.
DEFAULT_LIMITS: Mapping[Platform, Limits] = {
    Platform.TELEGRAM: Limits(rate=25.0, per_chat=1.0),
    Platform.DISCORD: Limits(rate=40.0, per_chat=1.0),
}


def pacers_for(
    limits: Mapping[Platform, Limits],
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> dict[Platform, Pacer]:
    return {
        platform: Pacer(limit.rate, limit.per_chat, clock=clock, sleep=sleep)
        for platform, limit in limits.items()
    }


class Scheduler:
    def __init__(
        self,
        store: ScheduleStore,
        deliver: Deliver,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        grace: timedelta = timedelta(hours=2),
        pacers: Mapping[Platform, Pacer] | None = None,
        *,
        pause_after: int = 5,
        concurrency: int = 16,
        batch: int = 500,
        max_nap: timedelta = timedelta(hours=1),
        retry_after: timedelta = timedelta(minutes=1),
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self._store = store
        self._deliver = deliver
        self._clock = clock
        self._sleep = sleep
        self._grace = grace
        self._pacers = pacers_for(DEFAULT_LIMITS, sleep=sleep) if pacers is None else pacers
        self._pause_after = pause_after
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._max_nap = max_nap.total_seconds()
        self._retry_after = retry_after
        self._stop_timeout = stop_timeout
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._stopped.set()
        # Pacing and sending of claimed prompts: what `stop` cancels once its time is up.
        # Never the store's writes, which a cancellation could leave half done.
        self._sending: set[asyncio.Task[Delivery]] = set()
        self._cut_short = False
        self._failed = False  # whether a prompt of the last pass failed

    def wake(self) -> None:
        """Plan again now: call after creating, changing, enabling or deleting a schedule."""
        self._wake.set()

    async def run(self) -> None:
        self._stopping = self._cut_short = False
        self._stopped.clear()
        try:
            while not self._stopping:
                # Cleared before reading the store, so a change made while a pass runs
                # still cuts the following nap short.
                self._wake.clear()
                delay = await self._pass()
                if not self._stopping:
                    await self._nap(delay)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Send nothing new, give prompts already claimed `stop_timeout` seconds to go out,
        cancel what is left, and return when `run` has."""
        self._stopping = True
        self._wake.set()
        try:
            # Real time, like the adapters' drain: the injected sleep plans sends.
            await asyncio.wait_for(self._stopped.wait(), self._stop_timeout)
        except TimeoutError:
            log.warning(
                "scheduler: prompts still sending after %s s; cancelling them", self._stop_timeout
            )
            self._cut_short = True
            for sending in self._sending:
                sending.cancel()
            await self._stopped.wait()

    async def run_once(self) -> bool:
        """Handle the prompts due now; True if a full batch was handled and more may be due."""
        schedules = await self._store.due(self._clock(), self._batch)
        handled = await asyncio.gather(*(self._handle(schedule) for schedule in schedules))
        self._failed = not all(handled)
        return len(schedules) == self._batch and not self._failed

    async def _pass(self) -> float:
        try:
            if await self.run_once():
                return 0.0
            due = await self._store.next_due()
        except Exception as exc:
            log_failure(log, exc, "scheduler pass failed; trying again in a minute")
            return FAILED_PASS_NAP
        if due is None:
            return self._max_nap
        if self._failed and due <= self._clock():
            # A row that failed (a database refusing writes, a full disk) is still due:
            # tried again every second, it would fill the log. Others due meanwhile wait
            # for the retry too, or for a `wake`.
            return FAILED_PASS_NAP
        # Still due right after a pass means it fell due during the pass or lost a race;
        # a second's pause keeps a row that can't move on from spinning the loop.
        return min(max((due - self._clock()).total_seconds(), 1.0), self._max_nap)

    async def _nap(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # let other tasks run between full batches
            return
        tasks = [
            asyncio.ensure_future(self._sleep(seconds)),
            asyncio.ensure_future(self._wake.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, schedule: Schedule) -> bool:
        """Sends or skips the prompt due; False if that failed."""
        async with self._slots:
            if self._stopping:
                return True
            try:
                await self._send_or_skip(schedule)
            except Exception as exc:
                log_failure(log, exc, "schedule %s (%s) failed", schedule.id, schedule.owner)
                return False
            return True

    async def _send_or_skip(self, schedule: Schedule) -> None:
        assert schedule.next_day is not None
        now = self._clock()
        day = schedule.next_day
        scheduled = instant_on(day, schedule.local_time, schedule.tz)
        late = now - scheduled
        already_sent = schedule.last_sent_day is not None and day <= schedule.last_sent_day
        today = now.astimezone(schedule.tz).date()
        if already_sent or late >= self._grace or day < today:
            # A prompt is the day's workout: it goes out late only within the grace window
            # and on its own day (the window may be set to a day or more). So the next to
            # go is today's run, if due and not too late, or else the next one to come.
            following = self._run_after(schedule, max(now - self._grace, scheduled))
            while following.due_utc <= now and following.local_day < today:
                following = self._run_after(schedule, following.due_utc)
            log.info(
                "schedule %s (%s): skipping %s, %s late", schedule.id, schedule.owner, day, late
            )
            await self._store.skip(schedule, following, now)
            return
        await self._claim_and_send(schedule, day, now)

    async def _claim_and_send(self, schedule: Schedule, day: date, now: datetime) -> None:
        # Claim first, then send. The claim commits the day's "sent" mark together with the
        # next due time, so a restart (or a second process) never sends that day again.
        # The price: a crash between the claim and the send loses that prompt, and with it
        # any other claimed prompts still waiting for their pacing slot (at most
        # `concurrency`, about a second's worth). Pacing after the claim keeps the slot right
        # before the send. Sending first would repeat prompts instead, and at most once per
        # day is the promise.
        asks = schedule.kind is ScheduleKind.REMINDER and schedule.ignored >= self._pause_after
        following = None if asks else self._run_after(schedule, now)
        if following is None:
            claimed = await self._store.claim_pause(schedule, now)
        else:
            claimed = await self._store.claim_send(schedule, following, now)
        if not claimed:
            return  # changed or claimed elsewhere since it was read; the next pass sees it
        send = _Send(Prompt(schedule, day, asks))
        sending = asyncio.ensure_future(self._pace_and_deliver(send))
        self._sending.add(sending)
        try:
            await asyncio.wait({sending})  # returns once it ends, even cancelled by `stop`
        except asyncio.CancelledError:
            sending.cancel()  # no send outlives the loop that started it
            raise
        finally:
            self._sending.discard(sending)
        if not sending.cancelled():
            outcome = sending.result()
        elif send.handed_over:
            # Cut short by `stop` while sending, maybe after it reached the platform: as
            # after a crash between the claim and the send, it is not retried. (A `deliver`
            # that knows nothing went out returns RETRY instead, as the adapters'
            # do when stopped waiting out a 429: see adapters/send_watch.py.)
            log.warning("schedule %s: shutdown cut its send short; not retried", schedule.id)
            return
        else:
            # Cut short before its turn: waiting for its pacing slot, or before the task
            # even started (a task cancelled then never runs a line of its own). Nothing
            # went out, so it is retried (after a restart, within the grace window).
            log.info("schedule %s: stopped before its turn to be sent; it stays due", schedule.id)
            outcome = Delivery.RETRY
        await self._settle(schedule, following, outcome)

    async def _pace_and_deliver(self, send: _Send) -> Delivery:
        if self._cut_short:
            # Started after `stop` ran out of time: nothing went out, as above.
            return Delivery.RETRY
        pacer = self._pacers.get(send.prompt.schedule.platform)
        if pacer is not None:
            await pacer.wait(send.prompt.schedule.target)
        send.handed_over = True
        return await self._deliver_once(send.prompt)

    async def _deliver_once(self, prompt: Prompt) -> Delivery:
        try:
            return await self._deliver(prompt)
        except Exception:
            # It may have gone out before failing: never retried, as at most once requires.
            log.exception("schedule %s: delivery failed", prompt.schedule.id)
            return Delivery.SENT

    async def _settle(self, schedule: Schedule, following: Run | None, outcome: Delivery) -> None:
        now = self._clock()
        if outcome is Delivery.GONE:
            log.warning(
                "schedule %s (%s) disabled: %s chat %s is gone (blocked or no access)",
                schedule.id,
                schedule.owner,
                schedule.platform,
                schedule.target,
            )
            await self._store.retire(schedule, following, now)
        elif outcome is Delivery.RETRY:
            assert schedule.next_day is not None
            retry_at = self._retry_at(schedule, now)
            if retry_at is not None:
                await self._store.release(
                    schedule, following, Run(retry_at, schedule.next_day), now
                )
                return
            log.warning("schedule %s: giving up on %s", schedule.id, schedule.next_day)
            if following is None:
                # The question whether to keep reminding never got through: rather than
                # leave the reminders paused unasked, it is asked at the next run.
                await self._store.release(schedule, None, self._run_after(schedule, now), now)

    def _retry_at(self, schedule: Schedule, now: datetime) -> datetime | None:
        """Later each time (1, 2, 4... minutes), and never past the grace window."""
        assert schedule.next_day is not None
        retry_at = now + self._retry_after * 2 ** min(schedule.attempts, 16)
        due = instant_on(schedule.next_day, schedule.local_time, schedule.tz)
        return retry_at if retry_at - due < self._grace else None

    def _run_after(self, schedule: Schedule, moment: datetime) -> Run:
        return next_run(schedule.local_time, schedule.tz, schedule.days, moment)

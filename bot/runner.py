"""`glutebot run`: every platform whose token is set, and the scheduler, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Coroutine, Mapping, Sequence
from datetime import UTC, timedelta
from typing import Any, TypeVar

from bot.adapters.base import Adapter, StartError
from bot.app import Core, open_core
from bot.config import Settings
from bot.engine import utc_now
from bot.model import ChatRef, Delivery, Platform
from bot.scheduler import Deliver, Prompt, Scheduler
from bot.store.db import log_failure

log = logging.getLogger(__name__)
T = TypeVar("T")

PRUNE_EVERY = timedelta(days=1)
NO_TOKEN = (
    "no platform token is set. Set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN "
    "(see .env.example), or run `glutebot chat` to try glutebot in this terminal."
)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> int:
    if settings.telegram_token is None and settings.discord_token is None:
        print(f"glutebot: {NO_TOKEN}", file=sys.stderr)
        return 2
    stop = stop or _stop_on_signals()
    scheduler: Scheduler | None = None

    def wake_scheduler() -> None:
        if scheduler is not None:
            scheduler.wake()

    async with contextlib.AsyncExitStack() as stack:
        # Opening may wait for another process's lock on the database (a backup's, say)
        # up to the busy timeout; a signal meanwhile stops glutebot at once, as one does
        # while it connects.
        opening = await _unless_stopped(
            stack.enter_async_context(
                open_core(
                    settings.db_path,
                    default_tz=settings.timezone or UTC,
                    on_schedule_change=wake_scheduler,
                )
            ),
            stop,
        )
        if opening is None:
            log.info("stopped while starting")
            return 0
        core = opening.result()
        adapters = _adapters(core, settings)
        try:
            started = await _start_unless_stopped(adapters, stop)
        except StartError as exc:
            print(f"glutebot: {exc}", file=sys.stderr)
            return 1
        if not started:
            log.info("stopped while starting")
            return 0
        scheduler = Scheduler(
            core.store.schedules,
            deliverer(core, {adapter.platform: adapter for adapter in adapters}),
            clock=utc_now,
            grace=settings.reminder_grace,
            pause_after=settings.ignored_reminder_limit,
        )
        scheduling = asyncio.create_task(scheduler.run(), name="scheduler")
        pruning = asyncio.create_task(_prune_events_daily(core), name="prune-events")
        log.info("glutebot is running on %s", ", ".join(a.platform for a in adapters))
        # What exists now lives as long as the service: spare it the collector's full
        # passes, whose pauses showed in the latency tail (docs/BENCHMARKS.md).
        gc.freeze()
        try:
            status = await _until_stopped(stop, adapters)
        finally:
            gc.unfreeze()
            log.info("shutting down")
            await scheduler.stop()
            scheduling.cancel()
            pruning.cancel()
            await asyncio.gather(scheduling, pruning, return_exceptions=True)
            for adapter in reversed(adapters):
                await adapter.stop()
    return status


async def _until_stopped(stop: asyncio.Event, adapters: Sequence[Adapter]) -> int:
    """Waits for `stop` (a signal): exit status 0. If a platform's connection ends by
    itself first, for good (a token revoked while running), glutebot shuts down with
    exit status 1 rather than run on half deaf: a service manager restarts it, and a
    bad token then stops it at start-up with a clear message."""
    signalled = asyncio.create_task(stop.wait())
    endings = {asyncio.create_task(adapter.wait_ended()): adapter for adapter in adapters}
    try:
        done, _ = await asyncio.wait({signalled, *endings}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (signalled, *endings):
            task.cancel()
    if signalled in done:
        return 0
    for ending, adapter in endings.items():
        if ending in done:
            reason = ending.result()
            log.error("%s stopped for good (%s); shutting down", adapter.platform.title(), reason)
    return 1


def _adapters(core: Core, settings: Settings) -> list[Adapter]:
    # Imported here so the console chat never pays for loading the platform libraries.
    adapters: list[Adapter] = []
    if settings.telegram_token is not None:
        from bot.adapters.telegram_adapter import TelegramAdapter

        adapters.append(TelegramAdapter.from_settings(core, settings))
    if settings.discord_token is not None:
        from bot.adapters.discord_adapter import DiscordAdapter

        adapters.append(DiscordAdapter.from_settings(core, settings))
    return adapters


async def _unless_stopped(
    work: Coroutine[Any, Any, T], stop: asyncio.Event
) -> asyncio.Task[T] | None:
    """Runs `work` until it ends (then its task, whose `result()` is work's result or
    error) or until `stop` is set first (then `work` is cancelled, and this is None)."""
    task = asyncio.create_task(work)
    signalled = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
        stopped = not task.done()
        if stopped:  # or this itself was cancelled: `work` is never left running alone
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return None if stopped else task


async def _start_unless_stopped(adapters: Sequence[Adapter], stop: asyncio.Event) -> bool:
    """Starts every adapter, unless `stop` is set meanwhile: a platform that can't be
    reached may take its whole timeout to say so, and a signal shouldn't wait for that.
    Then the start is abandoned, whatever had started is stopped, and this is False."""
    starting = await _unless_stopped(_start_all(adapters), stop)
    if starting is not None:
        starting.result()  # raises the StartError, if any
        return True
    # Stopping an adapter that never started, or only half did, is harmless.
    for adapter in reversed(adapters):
        await adapter.stop()
    return False


async def _start_all(adapters: Sequence[Adapter]) -> None:
    started: list[Adapter] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
    except StartError:
        for adapter in reversed(started):
            await adapter.stop()
        raise


def deliverer(core: Core, adapters: Mapping[Platform, Adapter]) -> Deliver:
    """The scheduler's way out: the engine writes the prompt, the platform's adapter sends it."""

    async def deliver(prompt: Prompt) -> Delivery:
        schedule = prompt.schedule
        adapter = adapters.get(schedule.platform)
        if adapter is None:
            log.warning("%s is not running: schedule %s waits", schedule.platform, schedule.id)
            return Delivery.RETRY
        try:
            replies = await core.engine.scheduled(prompt)
        except asyncio.CancelledError:
            # The scheduler's `stop` ran out of time while the prompt was being written:
            # nothing went out either, so it stays due (sent after the restart), not lost.
            log.info("schedule %s: stopped while writing its prompt; it stays due", schedule.id)
            return Delivery.RETRY
        except Exception as exc:
            # Nothing has gone out yet, so the day isn't lost: the scheduler tries again
            # later (1, 2, 4... minutes, within the grace window), as after a refused send.
            log_failure(log, exc, "schedule %s: writing its prompt failed", schedule.id)
            return Delivery.RETRY
        if not replies:
            return Delivery.SENT  # nothing to send today: the day counts as done
        chat = ChatRef(schedule.platform, schedule.target, schedule.target, schedule.community)
        delivery = await adapter.deliver(chat, replies)
        if delivery is Delivery.SENT:
            await core.engine.delivered(prompt, replies)
        return delivery

    return deliver


async def _prune_events_daily(core: Core) -> None:
    # Handled-event keys only need to outlive the platforms' redelivery window (a week
    # is kept); without pruning the table would grow with every message ever received.
    while True:
        try:
            await core.store.events.prune(utc_now())
        except Exception:
            log.exception("pruning handled events failed; trying again tomorrow")
        await asyncio.sleep(PRUNE_EVERY.total_seconds())


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop

"""Fan-out: 100,000 reminders due in the same minute.

Selecting them is timed on the real store (the median of three selects, like the engine's
figures). Delivery runs the real `Scheduler`, with its default Telegram pacing, on the
real clock against a fake platform that enforces Telegram's published limits (30
messages in any second, one a second per chat) and answers 429 past them. Real time
makes this a scaled-down count: at 25 messages a second only the first `seconds` worth of
the 100,000 go out.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks import seed
from benchmarks.engine import fresh_core
from bot.app import Core
from bot.model import Delivery, Platform
from bot.scheduler import DEFAULT_LIMITS, Prompt, Scheduler

SELECTS = 3


@dataclass
class FakePlatform:
    """Telegram's limits, as a server would enforce them: past them a send is refused."""

    per_second: int = 30
    per_chat_gap: float = 1.0
    sent: list[float] = field(default_factory=list)
    refused: int = 0
    _window: deque[float] = field(default_factory=deque)
    _last_by_chat: dict[str, float] = field(default_factory=dict)

    def send(self, chat: str) -> bool:
        now = time.monotonic()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        last = self._last_by_chat.get(chat)
        if len(self._window) >= self.per_second or (
            last is not None and now - last < self.per_chat_gap
        ):
            self.refused += 1
            return False
        self._window.append(now)
        self._last_by_chat[chat] = now
        self.sent.append(now)
        return True

    @property
    def rate(self) -> float:
        if len(self.sent) < 2:
            return 0.0
        return (len(self.sent) - 1) / (self.sent[-1] - self.sent[0])


@dataclass(frozen=True)
class Fanout:
    due: int
    select_seconds: float
    first_batch_seconds: float
    configured_rate: float
    achieved_rate: float
    sent: int
    refused: int


async def measure(reminders: int, seconds: float) -> Fanout:
    now = datetime.now(UTC)
    due = now.replace(second=0, microsecond=0)
    async with fresh_core() as core:
        await seed.users(core.store, reminders)
        await seed.reminders(core.store, reminders, due)
        await seed.settle(core.store)
        timings = []
        for _ in range(SELECTS):
            started = time.perf_counter()
            selected = await core.store.schedules.due(now, reminders)
            timings.append(time.perf_counter() - started)
            if len(selected) != reminders:
                raise RuntimeError(f"selected {len(selected)} of {reminders} due reminders")
        started = time.perf_counter()
        await core.store.schedules.due(now, 500)  # what one scheduler pass reads
        first_batch = time.perf_counter() - started
        platform = FakePlatform()
        await _deliver_for(core, platform, seconds)
    configured = DEFAULT_LIMITS[Platform.TELEGRAM].rate
    return Fanout(
        reminders,
        statistics.median(timings),
        first_batch,
        configured,
        platform.rate,
        len(platform.sent),
        platform.refused,
    )


async def _deliver_for(core: Core, platform: FakePlatform, seconds: float) -> None:
    async def deliver(prompt: Prompt) -> Delivery:
        replies = await core.engine.scheduled(prompt)
        for reply in replies:
            core.renderer.render(reply, Platform.TELEGRAM)
        return Delivery.SENT if platform.send(prompt.schedule.target) else Delivery.RETRY

    scheduler = Scheduler(core.store.schedules, deliver, clock=lambda: datetime.now(UTC))
    running = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    await scheduler.stop()
    await running

"""Long polling that confirms an update only after it has been handled.

getUpdates confirms every update below the `offset` it is called with, and Telegram then
forgets them. PTB's Updater advances the offset as soon as updates arrive, so a crash
loses whatever was fetched but not yet handled. Here the offset stops at the oldest
update still being handled: a crash at any point leaves every unhandled update on the
server, to be fetched again after a restart (the engine ignores the ones it already saw).

Updates of one chat are handled in order; different chats run concurrently. While any
update is in flight, getUpdates would return it again at once, so the loop re-polls
only when something finished (or every `busy_poll` seconds) and skips what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

# How long stop() waits for a cancelled long poll before cancelling it again.
STOP_RETRY = 0.5
# How long stop() lets updates in hand finish (as Discord's adapter does).
DRAIN_TIMEOUT = 10.0
MAX_BACKOFF = 30.0


class HasUpdateId(Protocol):
    @property
    def update_id(self) -> int: ...


U = TypeVar("U", bound=HasUpdateId)
T = TypeVar("T")
Fetch = Callable[[int | None, int], Awaitable[Sequence[U]]]
Sleep = Callable[[float], Awaitable[None]]


class Ledger:
    """Which fetched updates are still open, and the offset that is safe to confirm."""

    def __init__(self) -> None:
        self._open: set[int] = set()
        # Taken but not yet confirmed: getUpdates may return these again.
        self._unconfirmed: set[int] = set()
        self._next: int | None = None

    def take(self, update_id: int) -> bool:
        """Starts an update; False when it is one already taken (fetched again)."""
        if update_id in self._unconfirmed:
            return False
        self._open.add(update_id)
        self._unconfirmed.add(update_id)
        self._next = update_id + 1
        return True

    def finish(self, update_id: int) -> None:
        self._open.discard(update_id)

    def confirmed(self, offset: int | None) -> None:
        if offset is not None:
            self._unconfirmed = {u for u in self._unconfirmed if u >= offset}

    @property
    def busy(self) -> bool:
        return bool(self._open)

    @property
    def offset(self) -> int | None:
        return min(self._open) if self._open else self._next

    @property
    def unconfirmed(self) -> bool:
        offset = self.offset
        return offset is not None and any(u < offset for u in self._unconfirmed)


class Lanes(Generic[T]):
    """One queue per key, worked in order; separate keys run concurrently."""

    def __init__(self, handle: Callable[[T], Awaitable[None]], done: Callable[[T], None]) -> None:
        self._handle = handle
        self._done = done
        self._queues: dict[Hashable, deque[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: Hashable, item: T) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(item)
            return
        self._queues[key] = deque([item])
        task = asyncio.create_task(self._work(key), name=f"telegram-lane-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, key: Hashable) -> None:
        queue = self._queues[key]
        while queue:
            item = queue[0]
            try:
                await self._handle(item)
            except Exception:
                log.exception("failed to handle a Telegram update")
            # Not reached on cancellation: an interrupted update stays unconfirmed.
            self._done(item)
            queue.popleft()
        del self._queues[key]

    async def drain(self, seconds: float) -> None:
        """Lets the items in hand finish for up to `seconds`, then cancels the rest
        (one stuck behind a long 429 wait, say): those stay unconfirmed."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=seconds)
        if late:
            log.warning(
                "Telegram: %d chats' updates still being handled after %s s; cut short, "
                "they stay unconfirmed",
                len(late),
                seconds,
            )
        while self._tasks:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


class Poller(Generic[U]):
    def __init__(
        self,
        fetch: Fetch[U],
        handle: Callable[[U], Awaitable[None]],
        lane_of: Callable[[U], Hashable],
        *,
        timeout: int,
        busy_poll: float = 1.0,
        is_fatal: Callable[[Exception], bool] = lambda exc: False,
        describe: Callable[[Exception], str] = str,
        sleep: Sleep = asyncio.sleep,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        self._fetch = fetch
        self._drain_timeout = drain_timeout
        self._lane_of = lane_of
        self._timeout = timeout
        self._busy_poll = busy_poll
        self._is_fatal = is_fatal
        self._describe = describe
        self._sleep = sleep
        self._ledger = Ledger()
        self._progress = asyncio.Event()
        self._lanes: Lanes[U] = Lanes(handle, self._finish)
        self._task: asyncio.Task[None] | None = None
        self.failure: str | None = None  # why polling stopped by itself, if it did

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="telegram-polling")

    async def stop(self) -> None:
        """Stops fetching, lets updates in flight finish (for `drain_timeout` seconds), then
        confirms those handled."""
        if self._task is not None:
            # Python 3.11's asyncio.wait_for can swallow a cancellation that arrives just
            # as its inner wait completes (an update finishing at shutdown); the loop then
            # starts another long poll and stop() would wait out its whole timeout.
            # Cancel again until the task has really ended.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=STOP_RETRY)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._lanes.drain(self._drain_timeout)
        if self._ledger.unconfirmed:
            await self._confirm()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait_ended(self) -> str:
        """Waits until polling ends (by `stop`, or for good on a fatal error); the reason."""
        if self._task is not None:
            # asyncio.wait, unlike awaiting the task, leaves it running if this is cancelled.
            await asyncio.wait({self._task})
            error = None if self._task.cancelled() else self._task.exception()
            if isinstance(error, Exception):  # a bug in the loop: say what it was
                return self._describe(error)
        return self.failure or "polling stopped"

    async def _loop(self) -> None:
        failures = 0
        while True:
            self._progress.clear()
            offset = self._ledger.offset
            try:
                updates = await self._fetch(offset, 0 if self._ledger.busy else self._timeout)
            except Exception as exc:
                if self._is_fatal(exc):
                    self.failure = self._describe(exc)
                    log.error("Telegram polling stopped: %s", self.failure)
                    return
                failures += 1
                # The exponent is capped too: 2.0 ** 1024 overflows (after some 8 hours).
                delay = min(2.0 ** min(failures - 1, 16), MAX_BACKOFF)
                log.warning(
                    "getUpdates failed (%s); retrying in %.0fs", self._describe(exc), delay
                )
                await self._sleep(delay)
                continue
            failures = 0
            self._ledger.confirmed(offset)
            for update in updates:
                if self._ledger.take(update.update_id):
                    self._lanes.submit(self._lane_of(update), update)
            if self._ledger.busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), self._busy_poll)

    def _finish(self, update: U) -> None:
        self._ledger.finish(update.update_id)
        self._progress.set()

    async def _confirm(self) -> None:
        offset = self._ledger.offset
        try:
            await self._fetch(offset, 0)
        except Exception as exc:
            # Harmless: the engine recognises those updates when they come again.
            log.info("could not confirm handled updates on shutdown: %s", self._describe(exc))
        else:
            self._ledger.confirmed(offset)

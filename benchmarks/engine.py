"""Engine throughput and latency with the real SQLite store, one person and many at once."""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from benchmarks import seed
from benchmarks.journeys import JOURNEY, Person, event_key
from benchmarks.report import percentile
from bot.app import Core, open_core
from bot.store.schema import fingerprint


@dataclass(frozen=True)
class Run:
    people: int
    messages: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0  # the whole process's CPU time over `seconds`, where measured

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def cpu_note(self) -> str:
        """How busy the process kept the CPU, and what that comes to a message."""
        share = self.cpu_seconds / self.seconds
        per_message = self.cpu_seconds / self.messages * 1e6
        return f"CPU {share:.0%} of one, {per_message:.0f} µs a message"

    def pct_ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000


@asynccontextmanager
async def fresh_core() -> AsyncIterator[Core]:
    with tempfile.TemporaryDirectory(prefix="glutebot-bench-") as folder:
        async with open_core(Path(folder) / "bench.db") as core:
            gc.freeze()  # as `glutebot run` does once started
            try:
                yield core
            finally:
                gc.unfreeze()


async def drive(core: Core, people: int, per_person: int, run: str = "bench") -> Run:
    """`people` people at once, each sending `per_person` messages as fast as answered.

    Whole journeys only: each run's people start with /start at the main menu, so the
    previous run must have left everyone there.
    """
    if per_person % len(JOURNEY):
        raise ValueError(f"{per_person} messages is not a whole number of journeys")
    crowd = [Person(core.engine, n, run) for n in range(people)]
    started = time.perf_counter()
    await asyncio.gather(*(person.walk(per_person) for person in crowd))
    seconds = time.perf_counter() - started
    latencies = [latency for person in crowd for latency in person.latencies]
    return Run(people, people * per_person, seconds, latencies)


async def drive_paced(
    core: Core, people: int, rate: float, seconds: float, *, in_step: bool = False
) -> Run:
    """`people` people sending `rate` messages a second between them, evenly spread.

    Real people are at different points of their journey, so first each is walked to its
    own point: then any moment sees the journey's mix of messages. `in_step` leaves them
    all at the same point instead, so that every person sends the same kind of message
    within the same `people / rate` seconds: a stress case, heaviest when that is "done".
    """
    interval = people / rate
    per_person = max(1, round(seconds / interval))
    crowd = [Person(core.engine, n, "paced") for n in range(people)]
    if not in_step:
        await asyncio.gather(
            *(person.walk(n * len(JOURNEY) // people) for n, person in enumerate(crowd))
        )
        for person in crowd:
            person.latencies.clear()  # getting there is not part of the measurement
    await seed.checkpoint(core.store)
    first = time.perf_counter() + 0.05
    walks = [
        person.paced(per_person, first + n * interval / people, interval)
        for n, person in enumerate(crowd)
    ]
    cpu_before = time.process_time()
    await asyncio.gather(*walks)
    seconds = time.perf_counter() - first
    cpu_seconds = time.process_time() - cpu_before
    latencies = [latency for person in crowd for latency in person.latencies]
    return Run(people, people * per_person, seconds, latencies, cpu_seconds)


async def measure_paced(people: int, rate: float, seconds: float, *, in_step: bool = False) -> Run:
    async with fresh_core() as core:
        await drive(core, people, len(JOURNEY), run="warm")
        return await drive_paced(core, people, rate, seconds, in_step=in_step)


async def measure(people: int, per_person: int) -> Run:
    """A fresh database, one warm-up journey each for other people, then the measured run."""
    async with fresh_core() as core:
        await drive(core, people, len(JOURNEY), run="warm")
        result = await drive(core, people, per_person)
        await core.engine.close()  # lets go of the last answers sent, as on shutdown
        await _check_durable(core, people, {"warm": len(JOURNEY), "bench": per_person})
        return result


async def _check_durable(core: Core, people: int, sent: dict[str, int]) -> None:
    """Every message was marked handled in the database: none was lost or skipped, and no
    answer is still kept once sent. (The events table holds more: a typed "done" that logs
    under another key marks that too.)
    `sent` is how many messages each person sent in each run, by `event_key`."""
    stored = {row[0] for row in await core.store.db.scan("SELECT event_key FROM events", ())}
    keys = [
        event_key(run, number, count)
        for run, messages in sent.items()
        for number in range(people)
        for count in range(1, messages + 1)
    ]
    missing = sum(fingerprint(key) not in stored for key in keys)
    if missing:
        raise RuntimeError(f"{missing} of {len(keys)} messages not stored as handled")
    kept = await core.store.db.fetchone("SELECT COUNT(*) FROM events WHERE owed IS NOT NULL")
    if kept is None or kept[0]:
        raise RuntimeError(f"{kept and kept[0]} answers kept after they were sent")


async def measure_floor(people: int, per_person: int) -> Run:
    """The floor: raw aiosqlite, one row inserted and committed per message, with the
    store's pragmas, the same people sending the same number of messages."""
    with tempfile.TemporaryDirectory(prefix="glutebot-floor-") as folder:
        conn = await aiosqlite.connect(Path(folder) / "floor.db")
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, key TEXT, text TEXT)"
            )

            async def person(number: int, latencies: list[float]) -> None:
                for index in range(per_person):
                    started = time.perf_counter()
                    await conn.execute(
                        "INSERT INTO messages (key, text) VALUES (?, ?)",
                        (f"{number}:{index}", "done"),
                    )
                    await conn.commit()
                    latencies.append(time.perf_counter() - started)

            crowd: list[list[float]] = [[] for _ in range(people)]
            started = time.perf_counter()
            await asyncio.gather(*(person(n, crowd[n]) for n in range(people)))
            seconds = time.perf_counter() - started
        finally:
            await conn.close()
    return Run(people, people * per_person, seconds, [x for lat in crowd for x in lat])

"""Growth: the same crowd on a database that already holds 100,000 users and a large
rep log. The crowd are 200 of those users, so their own history grows with the log.

Each database is measured twice: flat out, for the rate, and at a fixed load below
capacity, for the latency. (Flat out, 200 people who each wait for their answer make the
latency 200 / rate by Little's law: it would count any change in rate twice, and the
batching noise with it.)
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks import seed
from benchmarks.engine import Run, drive, drive_paced, fresh_core
from benchmarks.journeys import JOURNEY

USERS = 100_000


@dataclass(frozen=True)
class Growth:
    flat_out: Run
    paced: Run


async def measure(
    rep_logs: int, people: int, per_person: int, rate: float, seconds: float
) -> Growth:
    async with fresh_core() as core:
        await seed.users(core.store, USERS)
        await seed.rep_logs(core.store, rep_logs, USERS)
        await seed.settle(core.store)
        await drive(core, people, len(JOURNEY), run="warm")
        flat_out = await drive(core, people, per_person)
        return Growth(flat_out, await drive_paced(core, people, rate, seconds))

"""Growth: the same crowd on a database that already holds 100,000 users and a large
rep log. The crowd are 200 of those users, so their own history grows with the log."""

from __future__ import annotations

from benchmarks import seed
from benchmarks.engine import Run, drive, fresh_core
from benchmarks.journeys import JOURNEY

USERS = 100_000


async def measure(rep_logs: int, people: int, per_person: int) -> Run:
    async with fresh_core() as core:
        await seed.users(core.store, USERS)
        await seed.rep_logs(core.store, rep_logs, USERS)
        await seed.settle(core.store)
        await drive(core, people, len(JOURNEY), run="warm")
        return await drive(core, people, per_person)

"""All SQL lives in this package, behind one `Store` with a part per concern."""

from __future__ import annotations

from pathlib import Path

from bot.store.arrivals import ArrivalStore
from bot.store.checks import CheckStore
from bot.store.conversations import ConversationStore
from bot.store.db import Database, StoreError, Write, log_failure
from bot.store.events import EventStore
from bot.store.meta import MetaStore
from bot.store.reps import RepStore
from bot.store.schedules import ScheduleStore
from bot.store.users import UserStore

__all__ = ["Store", "StoreError", "Write", "log_failure"]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.arrivals = ArrivalStore(db)
        self.users = UserStore(db)
        self.conversations = ConversationStore(db)
        self.events = EventStore(db)
        self.reps = RepStore(db)
        self.checks = CheckStore(db)
        self.schedules = ScheduleStore(db)
        self.meta = MetaStore(db)

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()

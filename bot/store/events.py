"""Platform events already handled: the guard that makes redelivery harmless."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.store.db import Database, Write, sql_write
from bot.store.schema import fingerprint

# Platforms redeliver within hours (Telegram keeps updates for 24 h); a week is ample.
KEEP_EVENTS_FOR = timedelta(days=7)


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, event_key: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM events WHERE event_key = ?", (fingerprint(event_key),)
        )
        return row is not None

    def mark(
        self, event_key: str, user_id: int | None, now: datetime, owed: str | None = None
    ) -> Write:
        """`owed`: the answer to keep until it was sent (see owed.py)."""
        return sql_write(
            "INSERT INTO events (event_key, user_id, handled_at, owed) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (event_key) DO NOTHING",
            (fingerprint(event_key), user_id, now.isoformat(), owed),
        )

    def answered(self, event_keys: Sequence[str]) -> Write:
        """These events' answers were sent: they are no longer kept."""
        keys = [(fingerprint(key),) for key in event_keys]

        def write(conn: sqlite3.Connection) -> None:
            sql = "UPDATE events SET owed = NULL WHERE event_key = ? AND owed IS NOT NULL"
            conn.executemany(sql, keys)

        return write

    async def prune(self, now: datetime) -> None:
        await self._db.apply(
            [
                sql_write(
                    "DELETE FROM events WHERE handled_at < ?",
                    ((now - KEEP_EVENTS_FOR).isoformat(),),
                )
            ]
        )

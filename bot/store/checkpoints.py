"""Copying committed pages from the WAL into the database file, away from the commits.

Left to itself, SQLite does this inside whichever COMMIT takes the WAL past 1,000 pages,
and that commit then waits for the copy and an fsync: 10-25 ms here, and every message
queued behind it waited too (docs/BENCHMARKS.md). So the writer never checkpoints, and
this does instead: on a worker thread, through a connection of its own, about a second
after writes happen. PASSIVE mode neither waits for readers and writers nor blocks them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_AFTER = 1.0  # seconds after a write; the WAL holds about this much writing


class Checkpointer:
    def __init__(self, path: str | Path, after: float = CHECKPOINT_AFTER) -> None:
        # Used by one worker thread at a time, never by two at once.
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._after = after
        self._written = asyncio.Event()
        self._copying: asyncio.Future[None] | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wal-checkpoint")

    def wrote(self) -> None:
        """Something was committed: checkpoint soon."""
        self._written.set()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self._copying is not None:  # a cancelled task leaves its thread running
            await asyncio.gather(self._copying, return_exceptions=True)
        self._conn.close()

    async def _run(self) -> None:
        while True:
            await self._written.wait()
            await asyncio.sleep(self._after)
            self._written.clear()
            self._copying = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
            try:
                await asyncio.shield(self._copying)
            except sqlite3.Error as exc:
                # The WAL only grows meanwhile; the next write tries again.
                log.warning("database checkpoint failed: %s", exc)
            self._copying = None

    def _checkpoint(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

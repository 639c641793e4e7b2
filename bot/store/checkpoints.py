"""Copying committed pages from the WAL into the database file, away from the commits.

Left to itself, SQLite does this inside whichever COMMIT takes the WAL past 1,000 pages,
and that commit then waits for the copy and an fsync: 10-25 ms here, and every message
queued behind it waited too (docs/BENCHMARKS.md). So the writer never checkpoints, and
this does instead: on a worker thread, through a connection of its own, about a second
after writes happen. PASSIVE mode neither waits for readers and writers nor blocks them.
The thread runs at the lowest CPU priority: its page copying otherwise took the CPU
from the event loop for the length of each checkpoint (20-50 ms here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_AFTER = 1.0  # seconds after a write; the WAL holds about this much writing
LOWEST_PRIORITY = 19  # a nice value


class Checkpointer:
    def __init__(self, path: str | Path) -> None:
        # Opened here, then used only by the checkpointer's own thread.
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="glutebot-checkpoint", initializer=_lowest_priority
        )
        self._written = asyncio.Event()
        self._written.set()  # for what a crash or a migration left in the WAL
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
        self._thread.shutdown()
        self._conn.close()

    async def _run(self) -> None:
        while True:
            await self._written.wait()
            await asyncio.sleep(CHECKPOINT_AFTER)
            self._written.clear()
            loop = asyncio.get_running_loop()
            self._copying = loop.run_in_executor(self._thread, self._checkpoint)
            try:
                await asyncio.shield(self._copying)
            except sqlite3.Error as exc:
                # The WAL only grows meanwhile; the next write tries again.
                log.warning("database checkpoint failed: %s", exc)
            self._copying = None

    def _checkpoint(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _lowest_priority() -> None:
    # Not Linux, or not allowed: the thread runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        # On Linux a thread's nice value is its own: this leaves the event loop's alone.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)

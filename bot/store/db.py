"""One long-lived aiosqlite connection: opening, migrating and atomic writes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

# A write is a closure over SQL that a store module built; the engine collects the writes
# of one message and `Database.apply` runs them in a single transaction.
Write = Callable[[aiosqlite.Connection], Awaitable[None]]
Row = sqlite3.Row


class StoreError(Exception):
    """The database can't be used; the message is meant for the operator as is."""


class Database:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        connecting = aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn = await connecting
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread after a failed connect, but the thread's
            # last callback must land before the event loop closes, or it prints a
            # traceback on exit: wait for the thread to end.
            worker = getattr(connecting, "_thread", None)
            if isinstance(worker, threading.Thread):
                await asyncio.to_thread(worker.join, 5)
            raise StoreError(f"cannot open database {path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        db = cls(conn)
        try:
            await db._configure()
            await db._migrate()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise StoreError(f"cannot use database {path}: {exc}") from None
        except StoreError as exc:
            await conn.close()
            raise StoreError(f"cannot use database {path}: {exc}") from None
        return db

    async def close(self) -> None:
        await self._conn.close()

    async def _configure(self) -> None:
        # WAL lets readers run beside the writer; NORMAL sync is durable across a process
        # crash (not an OS crash or power loss), which the README states.
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
        ):
            await self._conn.execute(pragma)

    async def version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def _migrate(self) -> None:
        current = await self.version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"it has schema version {current}, newer than this glutebot knows "
                f"({SCHEMA_VERSION}); upgrade glutebot"
            )
        for version in range(current, SCHEMA_VERSION):
            # executescript() commits any open transaction first, so the script carries
            # its own BEGIN/COMMIT: a migration and its version bump land together.
            bump = f"PRAGMA user_version = {version + 1};"
            script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\n{bump}\nCOMMIT;"
            async with self._write_lock:
                try:
                    await self._conn.executescript(script)
                except BaseException:
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def apply(self, writes: Iterable[Write]) -> None:
        async with self.transaction() as conn:
            for write in writes:
                await write(conn)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # One trip to aiosqlite's thread; execute + fetch + close would be three.
        return list(await self._conn.execute_fetchall(sql, params))


def sql_write(sql: str, params: Sequence[Any] = ()) -> Write:
    async def write(conn: aiosqlite.Connection) -> None:
        await conn.execute(sql, params)

    return write

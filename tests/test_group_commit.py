"""`Database.apply` under concurrency: callers share commits, and one failing caller
costs only itself (see the group commit in bot/store/db.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from bot.store.db import Database, Write, sql_write


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()


def put(key: str) -> Write:
    return sql_write("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))


async def keys(db: Database) -> set[str]:
    return {row[0] for row in await db.fetchall("SELECT key FROM meta")}


async def fresh_reader(path: Path) -> set[str]:
    """What another connection sees: only what is committed."""
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM meta")}


async def test_every_caller_is_committed_when_apply_returns(db: Database, db_path: Path) -> None:
    seen_on_return: list[bool] = []

    async def caller(n: int) -> None:
        await db.apply([put(f"{n}a"), put(f"{n}b")])
        seen_on_return.append(f"{n}b" in await fresh_reader(db_path))

    await asyncio.gather(*(caller(n) for n in range(50)))
    assert seen_on_return == [True] * 50
    assert len(await keys(db)) == 100


async def test_concurrent_callers_share_transactions(db: Database) -> None:
    commits = 0

    def count(statement: str) -> None:
        nonlocal commits
        commits += statement == "COMMIT"

    conn: aiosqlite.Connection = db._conn
    await conn.set_trace_callback(count)
    await asyncio.gather(*(db.apply([put(str(n))]) for n in range(50)))
    assert len(await keys(db)) == 50
    assert commits < 50


async def test_a_failing_caller_gets_its_error_and_the_others_still_commit(
    db: Database,
) -> None:
    await db.apply([put("taken")])
    results = await asyncio.gather(
        db.apply([put("a1"), put("a2")]),
        db.apply([put("b1"), put("taken")]),  # the second write breaks UNIQUE
        db.apply([put("c1")]),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert results[2] is None
    assert await keys(db) == {"taken", "a1", "a2", "c1"}


async def test_a_caller_whose_write_raises_writes_nothing(db: Database) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        raise RuntimeError("a bug in a write")

    results = await asyncio.gather(
        db.apply([put("x"), broken]), db.apply([put("y")]), return_exceptions=True
    )
    assert isinstance(results[0], RuntimeError)
    assert results[1] is None
    assert await keys(db) == {"y"}
    await db.apply([put("z")])  # the database is still usable
    assert await keys(db) == {"y", "z"}

"""Opening, migrating and refusing databases."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.store import Store, StoreError
from bot.store.db import Write, sql_write
from bot.store.schema import SCHEMA_VERSION


async def test_a_new_file_gets_the_current_schema_in_wal_mode(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        assert await store.db.version() == SCHEMA_VERSION
        row = await store.db.fetchone("PRAGMA journal_mode")
        assert row is not None
        assert row[0] == "wal"
    finally:
        await store.close()


async def test_reopening_keeps_the_data(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.db.apply([])
    async with store.db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    await store.close()
    store = await Store.open(db_path)
    try:
        row = await store.db.fetchone("SELECT value FROM meta WHERE key = 'k'")
        assert row is not None
        assert row[0] == "v"
    finally:
        await store.close()


async def test_a_newer_schema_is_refused_with_a_clear_message(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this glutebot knows"):
        await Store.open(db_path)


async def test_a_corrupt_file_is_refused_with_a_clear_message(db_path: Path) -> None:
    await asyncio.to_thread(db_path.write_bytes, b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot use database"):
        await Store.open(db_path)


async def test_a_missing_folder_is_named_in_the_refusal(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"the folder .*missing-dir does not exist"):
        await Store.open(tmp_path / "missing-dir" / "x.db")


async def test_a_failed_transaction_writes_nothing(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:

        async def fail_midway() -> None:
            async with store.db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await fail_midway()
        assert await store.db.fetchone("SELECT * FROM meta") is None
    finally:
        await store.close()


async def test_a_blocked_user_who_writes_again_is_unblocked(db_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.model import ChatRef, Platform

    store = await Store.open(db_path)
    try:
        chat = ChatRef(Platform.TELEGRAM, user_id="5", chat_id="5")
        now = datetime(2026, 3, 2, tzinfo=UTC)
        await store.users.ensure(chat, "Ann", now)
        await store.users.mark_blocked("telegram", "5")
        blocked = await store.users.get("telegram", "5")
        assert blocked is not None
        assert blocked.blocked
        user = await store.users.ensure(chat, "Ann", now)
        assert not user.blocked
    finally:
        await store.close()


async def test_pruning_forgets_only_events_older_than_a_week(db_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    store = await Store.open(db_path)
    try:
        now = datetime(2026, 3, 20, tzinfo=UTC)
        await store.db.apply(
            [
                store.events.mark("old", None, now - timedelta(days=8)),
                store.events.mark("recent", None, now - timedelta(days=6)),
            ]
        )
        await store.events.prune(now)
        assert not await store.events.seen("old")
        assert await store.events.seen("recent")
    finally:
        await store.close()


async def test_quick_reads_see_each_commit_as_soon_as_it_returns(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        # A half-read result must not pin an old snapshot for the reads after it.
        for key in ("a", "b"):
            await store.db.apply([sql_write("INSERT INTO meta VALUES (?, 'v')", (key,))])
        assert await store.db.fetchone("SELECT key FROM meta ORDER BY key") is not None
        for key in ("c", "d"):
            await store.db.apply([sql_write("INSERT INTO meta VALUES (?, 'v')", (key,))])
            rows = await store.db.fetchall("SELECT key FROM meta ORDER BY key")
            assert [row[0] for row in rows][-1] == key
        # Also what another process committed.
        with sqlite3.connect(db_path) as other:
            other.execute("INSERT INTO meta VALUES ('e', 'v')")
        assert await store.db.fetchone("SELECT 1 FROM meta WHERE key = 'e'") is not None
    finally:
        await store.close()


async def test_quick_reads_neither_wait_for_nor_see_an_open_write(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        async with store.db.transaction() as conn:
            await conn.execute("INSERT INTO meta VALUES ('k', 'v')")
            assert await store.db.fetchone("SELECT 1 FROM meta") is None
        assert await store.db.fetchone("SELECT 1 FROM meta") is not None
    finally:
        await store.close()


async def test_quick_reads_cannot_write(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.db.fetchall("INSERT INTO meta VALUES ('k', 'v')")
        assert await store.db.scan("SELECT * FROM meta") == []
    finally:
        await store.close()


@pytest.mark.parametrize("private", [":memory:", ""])
async def test_an_in_memory_database_works_without_a_second_connection(private: str) -> None:
    store = await Store.open(private)
    try:
        await store.db.apply([sql_write("INSERT INTO meta VALUES ('k', 'v')")])
        row = await store.db.fetchone("SELECT value FROM meta WHERE key = 'k'")
        assert row is not None
        assert row[0] == "v"
    finally:
        await store.close()


def _big_rows(count: int) -> list[Write]:
    return [
        sql_write("INSERT INTO meta VALUES (?, ?)", (f"k{n}", "x" * 4000)) for n in range(count)
    ]


def _size(path: Path) -> int:
    return os.stat(path).st_size


async def _until_checkpointed(path: Path, size: int) -> None:
    """Waits until the checkpointer has copied the WAL into `path`, making it larger than
    `size`. It does so on its own time, about a second after a write, on a thread at the
    lowest CPU priority, which a busy machine serves last: there is no event to wait on, so
    the file is looked at now and then, with a generous limit."""
    async with asyncio.timeout(60):
        while _size(path) <= size:  # noqa: ASYNC110 (a file another thread writes)
            await asyncio.sleep(0.05)


async def test_commits_leave_checkpoints_to_the_checkpointer(db_path: Path) -> None:
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    store = await Store.open(db_path)
    try:
        before = _size(db_path)
        # Far past SQLite's own threshold (1,000 pages), which would checkpoint in COMMIT.
        await store.db.apply(_big_rows(1500))
        assert _size(db_path) == before  # all of it still in the WAL
        await _until_checkpointed(db_path, 1500 * 4000)  # the checkpointer copies it later
        # On a thread of its own, at the lowest priority, so the event loop keeps the CPU.
        (thread,) = [t for t in threading.enumerate() if t.name.startswith("glutebot-checkpoint")]
        assert thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == 19
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_priority
    finally:
        await store.close()


async def test_closing_checkpoints_everything_and_removes_the_wal(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.db.apply(_big_rows(10))
    await store.close()
    assert not db_path.with_name(db_path.name + "-wal").exists()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM meta").fetchone() == (10,)


async def test_what_is_left_in_the_wal_is_checkpointed_soon_after_opening(db_path: Path) -> None:
    await (await Store.open(db_path)).close()
    # Another process wrote and hasn't checkpointed (as after a crash): still open.
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("PRAGMA wal_autocheckpoint = 0")
    other.execute("BEGIN")
    other.executemany(
        "INSERT INTO meta VALUES (?, ?)", [(f"k{n}", "x" * 4000) for n in range(300)]
    )
    other.execute("COMMIT")
    before = _size(db_path)
    store = await Store.open(db_path)
    try:
        await _until_checkpointed(db_path, before + 300 * 4000)
    finally:
        await store.close()
        other.close()

"""Bulk set-up straight into SQLite (executemany), for databases of a realistic size.

Rows are written the way the store writes them (same columns and text formats), so the
engine reads them as its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.model import Platform
from bot.store import Store
from bot.store.schedules import ScheduleKind, reminder_owner

SEEDED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_CHUNK = 50_000


async def _insert(store: Store, sql: str, rows: Iterator[tuple[Any, ...]]) -> None:
    conn = store.db._conn  # set-up only: straight to the connection, in large batches
    await conn.execute("BEGIN")
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            await conn.executemany(sql, chunk)
            chunk = []
    if chunk:
        await conn.executemany(sql, chunk)
    await conn.execute("COMMIT")


async def settle(store: Store) -> None:
    """Leave the database as a long-running one would be: analysed, and the set-up's
    writes already out of the WAL."""
    await store.db._conn.execute_fetchall("ANALYZE")
    await checkpoint(store)


async def checkpoint(store: Store) -> None:
    """Copy what the set-up wrote out of the WAL now, rather than have the checkpointer
    do it in the middle of the measurement that follows."""
    await store.db._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")


async def users(store: Store, count: int) -> None:
    """Users 1..count, on Telegram with platform ids "0".."count-1" (as `Person` uses)."""
    await _insert(
        store,
        "INSERT INTO users (id, platform, platform_user_id, display_name, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            (n + 1, Platform.TELEGRAM, str(n), f"Person {n}", SEEDED_AT.isoformat())
            for n in range(count)
        ),
    )


async def rep_logs(store: Store, count: int, users: int) -> None:
    """`count` logs spread evenly over users 1..users, one a day going back in time."""

    def rows() -> Iterator[tuple[Any, ...]]:
        for n in range(count):
            day = SEEDED_AT.date() - timedelta(days=n // users % 365)
            at = datetime.combine(day, SEEDED_AT.timetz())
            exercise = "bridge" if n % 2 else "lunge"
            yield (n % users + 1, exercise, 10, at.isoformat(), day.isoformat(), f"seed:{n}")

    await _insert(
        store,
        "INSERT INTO rep_logs (user_id, exercise, reps, logged_at, local_day, event_key)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows(),
    )


async def reminders(store: Store, count: int, due: datetime) -> None:
    """A daily 09:00 UTC reminder for users 1..count, all due at `due`."""
    local_time = due.astimezone(UTC).time().isoformat(timespec="minutes")
    due_text = due.astimezone(UTC).isoformat(timespec="microseconds")
    day: date = due.astimezone(UTC).date()
    await _insert(
        store,
        "INSERT INTO schedules (kind, owner, user_id, platform, target, local_time, tz, days,"
        " next_due_utc, next_day, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'UTC', 'daily', ?, ?, ?)",
        (
            (
                ScheduleKind.REMINDER,
                reminder_owner(n + 1),
                n + 1,
                Platform.TELEGRAM,
                str(n),
                local_time,
                due_text,
                day.isoformat(),
                SEEDED_AT.isoformat(),
            )
            for n in range(count)
        ),
    )

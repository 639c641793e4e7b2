"""Daily prompts: users' reminders and channels' workout posts, and their at-most-once marks.

Every change that moves a schedule on is one conditional UPDATE on the row as the caller
read it, so two processes (or a change racing the scheduler) never both claim a day.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.model import Platform
from bot.schedule_time import Days, Run, format_days, next_run, parse_days
from bot.store.db import Database, Row, Write, sql_write


class ScheduleKind(StrEnum):
    REMINDER = "reminder"
    CHANNEL = "channel"


class DisabledReason(StrEnum):
    OWNER = "owner"  # the user or admin turned it off
    PAUSED = "paused"  # reminders went unanswered; the user was asked whether to continue
    GONE = "gone"  # the user blocked the bot or the channel is no longer reachable


@dataclass(frozen=True)
class ScheduleSpec:
    """What a user or admin chose; `owner` is unique (see `reminder_owner`, `channel_owner`)."""

    kind: ScheduleKind
    owner: str
    platform: Platform
    target: str
    local_time: time
    tz: ZoneInfo
    days: Days
    user_id: int | None = None
    community: str | None = None


@dataclass(frozen=True, kw_only=True)
class Schedule(ScheduleSpec):
    """A stored schedule: what was chosen, and where its deliveries stand."""

    id: int
    enabled: bool
    disabled_reason: DisabledReason | None
    next_due: datetime | None
    next_day: date | None
    last_sent_day: date | None
    ignored: int
    attempts: int


def reminder_owner(user_id: int) -> str:
    return f"reminder:{user_id}"


def channel_owner(platform: Platform, guild_id: str) -> str:
    return f"channel:{platform}:{guild_id}"


def _utc_text(moment: datetime) -> str:
    # One fixed width for every value, so text order in SQL is time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_or_none(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _day_or_none(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _day_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


# Columns in the order `_schedule` unpacks them: by position, which is much quicker than
# by name when 100,000 reminders fall due at once.
_COLUMNS = (
    "id, kind, owner, platform, target, local_time, tz, days, user_id, community, enabled,"
    " disabled_reason, next_due_utc, next_day, last_sent_day, ignored, attempts"
)
# Stored times, day sets and enum values come in a few spellings shared by many rows.
_stored_days = functools.lru_cache(maxsize=1024)(parse_days)
_stored_time = functools.lru_cache(maxsize=4096)(time.fromisoformat)
_KINDS = {kind.value: kind for kind in ScheduleKind}
_PLATFORMS = {platform.value: platform for platform in Platform}
_REASONS = {reason.value: reason for reason in DisabledReason}


def _schedule(row: Row) -> Schedule:
    (schedule_id, kind, owner, platform, target, local_time, tz, days, user_id, community, enabled,
     reason, next_due, next_day, last_sent_day, ignored, attempts) = row  # fmt: skip
    return Schedule(
        id=schedule_id,
        kind=_KINDS[kind],
        owner=owner,
        platform=_PLATFORMS[platform],
        target=target,
        local_time=_stored_time(local_time),
        tz=ZoneInfo(tz),
        days=_stored_days(days),
        user_id=user_id,
        community=community,
        enabled=bool(enabled),
        disabled_reason=_REASONS[reason] if reason else None,
        next_due=_utc_or_none(next_due),
        next_day=_day_or_none(next_day),
        last_sent_day=_day_or_none(last_sent_day),
        ignored=ignored,
        attempts=attempts,
    )


def _first_run(
    at: time, tz: ZoneInfo, days: Days, now: datetime, last_sent_day: date | None
) -> Run:
    """The next run after `now` for a day not yet sent (a changed time never sends twice)."""
    run = next_run(at, tz, days, now)
    while last_sent_day is not None and run.local_day <= last_sent_day:
        run = next_run(at, tz, days, run.due_utc)
    return run


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, owner: str) -> Schedule | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM schedules WHERE owner = ?", (owner,)
        )
        return _schedule(row) if row else None

    async def by_id(self, schedule_id: int) -> Schedule | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", (schedule_id,)
        )
        return _schedule(row) if row else None

    async def upsert(self, spec: ScheduleSpec, now: datetime) -> Schedule:
        await self._db.apply([self.upsert_write(spec, now)])
        schedule = await self.get(spec.owner)
        assert schedule is not None
        return schedule

    async def first_run(self, spec: ScheduleSpec, now: datetime) -> Run:
        """The run `upsert_write(spec, now)` plans, for its confirmation: the same rule."""
        row = await self._db.fetchone(
            "SELECT last_sent_day FROM schedules WHERE owner = ?", (spec.owner,)
        )
        last_sent = _day_or_none(row[0]) if row else None
        return _first_run(spec.local_time, spec.tz, spec.days, now, last_sent)

    def upsert_write(self, spec: ScheduleSpec, now: datetime) -> Write:
        """Create or replace a schedule, enabled and due at its next run; kept: the day sent."""

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT last_sent_day FROM schedules WHERE owner = ?", (spec.owner,)
            ).fetchone()
            last_sent = _day_or_none(row[0]) if row else None
            run = _first_run(spec.local_time, spec.tz, spec.days, now, last_sent)
            conn.execute(
                "INSERT INTO schedules (kind, owner, user_id, platform, target, community,"
                " local_time, tz, days, next_due_utc, next_day, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (owner) DO UPDATE SET kind = excluded.kind,"
                " user_id = excluded.user_id, platform = excluded.platform,"
                " target = excluded.target, community = excluded.community,"
                " local_time = excluded.local_time, tz = excluded.tz, days = excluded.days,"
                " enabled = 1, disabled_reason = NULL, next_due_utc = excluded.next_due_utc,"
                " next_day = excluded.next_day, ignored = 0, attempts = 0,"
                " updated_at = excluded.updated_at",
                (
                    spec.kind,
                    spec.owner,
                    spec.user_id,
                    spec.platform,
                    spec.target,
                    spec.community,
                    spec.local_time.isoformat(timespec="minutes"),
                    spec.tz.key,
                    format_days(spec.days),
                    _utc_text(run.due_utc),
                    run.local_day.isoformat(),
                    _utc_text(now),
                ),
            )

        return write

    async def delete(self, owner: str) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM schedules WHERE owner = ?", (owner,))
            return cursor.rowcount == 1

    async def disable(self, schedule_id: int, reason: DisabledReason, now: datetime) -> None:
        await self._db.apply([self.disable_write(schedule_id, reason, now)])

    def disable_write(self, schedule_id: int, reason: DisabledReason, now: datetime) -> Write:
        return sql_write(
            "UPDATE schedules SET enabled = 0, disabled_reason = ?, next_due_utc = NULL,"
            " next_day = NULL, attempts = 0, updated_at = ? WHERE id = ?",
            (reason, _utc_text(now), schedule_id),
        )

    async def enable(self, schedule_id: int, now: datetime) -> Schedule | None:
        """Turn a schedule back on from its next run, with a clean slate of ignored prompts."""
        schedule = await self.by_id(schedule_id)
        if schedule is None:
            return None
        spec = ScheduleSpec(
            schedule.kind,
            schedule.owner,
            schedule.platform,
            schedule.target,
            schedule.local_time,
            schedule.tz,
            schedule.days,
            schedule.user_id,
            schedule.community,
        )
        return await self.upsert(spec, now)

    async def next_due(self) -> datetime | None:
        row = await self._db.fetchone(
            "SELECT next_due_utc FROM schedules WHERE enabled = 1 ORDER BY next_due_utc LIMIT 1"
        )
        return _utc_or_none(row[0]) if row else None

    async def due(self, now: datetime, limit: int) -> list[Schedule]:
        rows = await self._db.scan(
            f"SELECT {_COLUMNS} FROM schedules WHERE enabled = 1 AND next_due_utc <= ?"
            " ORDER BY next_due_utc, id LIMIT ?",
            (_utc_text(now), limit),
        )
        return [_schedule(row) for row in rows]

    async def claim_send(self, schedule: Schedule, following: Run, now: datetime) -> bool:
        """Mark the due day sent and move on to `following`, unless someone got there first.

        Committed before the prompt goes out: the mark is what makes a day at-most-once.
        """
        ignored = 1 if schedule.kind is ScheduleKind.REMINDER else 0
        return await self._claim(
            schedule,
            "next_due_utc = ?, next_day = ?, ignored = ignored + ?, attempts = 0",
            (_utc_text(following.due_utc), following.local_day.isoformat(), ignored),
            now,
        )

    async def claim_pause(self, schedule: Schedule, now: datetime) -> bool:
        """Mark the due day sent as the one question whether to continue, and pause."""
        return await self._claim(
            schedule,
            "enabled = 0, disabled_reason = ?, next_due_utc = NULL, next_day = NULL, attempts = 0",
            (DisabledReason.PAUSED,),
            now,
        )

    async def _claim(
        self, schedule: Schedule, changes: str, params: tuple[Any, ...], now: datetime
    ) -> bool:
        return await self._update(
            f"last_sent_day = ?, {changes}, updated_at = ?"
            " WHERE id = ? AND enabled = 1 AND next_due_utc = ? AND next_day = ?"
            " AND (last_sent_day IS NULL OR last_sent_day < ?)",
            (
                _day_text(schedule.next_day),
                *params,
                _utc_text(now),
                schedule.id,
                _utc_text(_required(schedule.next_due)),
                _day_text(schedule.next_day),
                _day_text(schedule.next_day),
            ),
        )

    async def release(
        self,
        schedule: Schedule,
        claimed: Run | None,
        retry_at: datetime,
        now: datetime,
    ) -> bool:
        """Undo a claim whose prompt could not be sent, so the day is tried again at `retry_at`.

        `schedule` is the row as read before the claim, `claimed` the run the claim moved to
        (None for a pause). Does nothing if the row changed since the claim.
        """
        paused = claimed is None
        ignored = 1 if schedule.kind is ScheduleKind.REMINDER and not paused else 0
        return await self._update(
            "enabled = 1, disabled_reason = NULL, next_due_utc = ?, next_day = ?,"
            " last_sent_day = ?, ignored = MAX(ignored - ?, 0), attempts = ?, updated_at = ?"
            " WHERE id = ? AND last_sent_day = ? AND next_due_utc IS ? AND enabled = ?"
            " AND disabled_reason IS ?",
            (
                _utc_text(retry_at),
                _day_text(schedule.next_day),
                _day_text(schedule.last_sent_day),
                ignored,
                schedule.attempts + 1,
                _utc_text(now),
                schedule.id,
                _day_text(schedule.next_day),
                _utc_text(claimed.due_utc) if claimed else None,
                int(not paused),
                DisabledReason.PAUSED if paused else None,
            ),
        )

    async def skip(self, schedule: Schedule, following: Run, now: datetime) -> bool:
        """Move past a run that is too late to send, without marking its day sent."""
        return await self._update(
            "next_due_utc = ?, next_day = ?, attempts = 0, updated_at = ?"
            " WHERE id = ? AND enabled = 1 AND next_due_utc = ?",
            (
                _utc_text(following.due_utc),
                following.local_day.isoformat(),
                _utc_text(now),
                schedule.id,
                _utc_text(_required(schedule.next_due)),
            ),
        )

    async def reset_ignored(self, owner: str) -> None:
        await self._db.apply([self.reset_ignored_write(owner)])

    def reset_ignored_write(self, owner: str) -> Write:
        """The user did something (logged reps, answered): their reminders were not ignored."""
        return sql_write("UPDATE schedules SET ignored = 0 WHERE owner = ?", (owner,))

    async def _update(self, assignments_and_where: str, params: tuple[Any, ...]) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(f"UPDATE schedules SET {assignments_and_where}", params)
            return cursor.rowcount == 1


def _required(moment: datetime | None) -> datetime:
    if moment is None:
        raise ValueError("the schedule is not due: it is disabled")
    return moment

"""Daily prompts: users' reminders and channels' workout posts, and their at-most-once marks.

Every change that moves a schedule on is one conditional UPDATE on the row as the caller
read it, so two processes (or a change racing the scheduler) never both claim a day.
"""

from __future__ import annotations

import functools
import io
import logging
import sqlite3
import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.model import Platform
from bot.schedule_time import (
    Days,
    Run,
    format_days,
    instant_on,
    next_run,
    parse_days,
    stored_zone,
)
from bot.store.db import Database, Row, Write, sql_write

log = logging.getLogger(__name__)


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


@functools.cache
def _stored_zone(name: str) -> ZoneInfo:
    """A schedule's zone; UTC, said once in the log, for one this machine's zone data no
    longer has: its prompts go on (at that hour in UTC) until it is set again, and one
    such row can't stop every other schedule's. That UTC keeps the stored name as its
    key: the row is matched by it when a claim is undone or retired, and saved with it
    again when turned back on (zone data that has the name again brings it back)."""
    zone = stored_zone(name)
    if zone is None:
        log.warning("time zone %r is unknown here: its schedules run in UTC until reset", name)
        return ZoneInfo.from_file(io.BytesIO(_UTC_TZIF), key=name)
    return zone


# RFC 8536's smallest zone file: no transitions, one local time type, UTC.
_UTC_TZIF = (
    b"TZif" + bytes(16) + struct.pack(">6l", 0, 0, 0, 0, 1, 4) + struct.pack(">lBB", 0, 0, 0)
) + b"UTC\0"


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
        tz=_stored_zone(tz),
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


def _first_run(spec: ScheduleSpec, now: datetime, stored: Row | None) -> tuple[Run, date | None]:
    """The next run after `now` for a day not yet sent (a changed time never sends twice),
    and the last day sent, as a day in the new zone.

    `stored` is the schedule's row before the change, if any. Its last day sent is a day
    in the zone it was sent in: in the new zone (someone who moved far west), the day of
    that moment can be the day before, which is then not yet sent.
    """
    run = next_run(spec.local_time, spec.tz, spec.days, now)
    if stored is None or stored["last_sent_day"] is None:
        return run, None
    sent_at = instant_on(
        date.fromisoformat(stored["last_sent_day"]),
        _stored_time(stored["local_time"]),
        _stored_zone(stored["tz"]),
    )
    last_sent_day = sent_at.astimezone(spec.tz).date()
    while run.local_day <= last_sent_day:
        run = next_run(spec.local_time, spec.tz, spec.days, run.due_utc)
    return run, last_sent_day


# What `_first_run` needs of the row before a change.
_SENT = "SELECT last_sent_day, local_time, tz FROM schedules WHERE owner = ?"


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
        run, _ = _first_run(spec, now, await self._db.fetchone(_SENT, (spec.owner,)))
        return run

    def upsert_write(self, spec: ScheduleSpec, now: datetime) -> Write:
        """Create or replace a schedule, enabled and due at its next run; kept: the day sent
        (as a day in the new zone, so that the scheduler's "sent already" agrees with the
        run planned)."""

        def write(conn: sqlite3.Connection) -> None:
            stored = conn.execute(_SENT, (spec.owner,)).fetchone()
            run, last_sent_day = _first_run(spec, now, stored)
            conn.execute(
                "INSERT INTO schedules (kind, owner, user_id, platform, target, community,"
                " local_time, tz, days, next_due_utc, next_day, last_sent_day, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (owner) DO UPDATE SET kind = excluded.kind,"
                " user_id = excluded.user_id, platform = excluded.platform,"
                " target = excluded.target, community = excluded.community,"
                " local_time = excluded.local_time, tz = excluded.tz, days = excluded.days,"
                " enabled = 1, disabled_reason = NULL, next_due_utc = excluded.next_due_utc,"
                " next_day = excluded.next_day, last_sent_day = excluded.last_sent_day,"
                " ignored = 0, attempts = 0, updated_at = excluded.updated_at",
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
                    last_sent_day.isoformat() if last_sent_day else None,
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
        return await self.upsert(_spec_of(schedule), now)

    def enable_write(self, schedule: Schedule, now: datetime) -> Write:
        """`enable` as a write, to commit together with the event that asked for it."""
        return self.upsert_write(_spec_of(schedule), now)

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
        self, schedule: Schedule, claimed: Run | None, retry: Run, now: datetime
    ) -> bool:
        """Undo a claim whose prompt could not be sent, so that it is tried again: the same
        day at a later moment, or (for a question whether to keep reminding that never got
        through) another day's run.

        `schedule` is the row as read before the claim, `claimed` the run the claim moved to
        (None for a pause). Does nothing if the row changed since the claim.
        """
        paused = claimed is None
        ignored = 1 if schedule.kind is ScheduleKind.REMINDER and not paused else 0
        same_day = retry.local_day == schedule.next_day
        return await self._update(
            "enabled = 1, disabled_reason = NULL, next_due_utc = ?, next_day = ?,"
            " last_sent_day = ?, ignored = MAX(ignored - ?, 0), attempts = ?, updated_at = ?"
            f" WHERE {_AS_CLAIMED}",
            (
                _utc_text(retry.due_utc),
                retry.local_day.isoformat(),
                _day_text(schedule.last_sent_day),
                ignored,
                schedule.attempts + 1 if same_day else 0,
                _utc_text(now),
                *_as_claimed(schedule, claimed),
            ),
        )

    async def retire(self, schedule: Schedule, claimed: Run | None, now: datetime) -> bool:
        """Switch off a schedule whose chat is gone (the bot blocked, the channel deleted),
        as `release` undoes a claim: only if nothing changed it since the claim. An admin
        who moved the daily post to a new channel meanwhile keeps it, and a reminder its
        owner switched off stays theirs."""
        return await self._update(
            "enabled = 0, disabled_reason = ?, next_due_utc = NULL, next_day = NULL,"
            f" attempts = 0, updated_at = ? WHERE {_AS_CLAIMED}",
            (DisabledReason.GONE, _utc_text(now), *_as_claimed(schedule, claimed)),
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


def _spec_of(schedule: Schedule) -> ScheduleSpec:
    return ScheduleSpec(
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


# The row as a claim left it (`claimed` is the run it moved to, None for a pause), and
# where it sends: a change since (a new time, channel or zone, switched off) doesn't match.
_AS_CLAIMED = (
    "id = ? AND target = ? AND local_time = ? AND tz = ? AND last_sent_day = ?"
    " AND next_due_utc IS ? AND enabled = ? AND disabled_reason IS ?"
)


def _as_claimed(schedule: Schedule, claimed: Run | None) -> tuple[Any, ...]:
    paused = claimed is None
    return (
        schedule.id,
        schedule.target,
        schedule.local_time.isoformat(timespec="minutes"),
        schedule.tz.key,
        _day_text(schedule.next_day),
        _utc_text(claimed.due_utc) if claimed else None,
        int(not paused),
        DisabledReason.PAUSED if paused else None,
    )


def _required(moment: datetime | None) -> datetime:
    if moment is None:
        raise ValueError("the schedule is not due: it is disabled")
    return moment

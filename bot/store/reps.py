"""The rep log: every entry carries the event that caused it, so none is logged twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.flows.programme import DayTotal
from bot.store.db import Database, Write, sql_write


@dataclass(frozen=True)
class RepEntry:
    id: int
    exercise: str
    reps: int
    local_day: date


@dataclass(frozen=True)
class Standing:
    """One line of a leaderboard."""

    display_name: str
    reps: int
    sessions: int


class RepStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def log(
        self,
        user_id: int,
        exercise: str,
        reps: int,
        *,
        at: datetime,
        local_day: date,
        event_key: str,
        community: str | None = None,
        shown_as: str | None = None,
    ) -> Write:
        """`shown_as`: the name the person goes by in `community`, for its leaderboard."""
        return sql_write(
            "INSERT INTO rep_logs"
            " (user_id, exercise, reps, logged_at, local_day, community, event_key, shown_as)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_key, exercise) DO NOTHING",
            (
                user_id,
                exercise,
                reps,
                _stamp(at),
                local_day.isoformat(),
                community,
                event_key,
                shown_as,
            ),
        )

    async def move_community(self, old: str, new: str) -> None:
        """A community got a new id (a Telegram group upgraded to a supergroup): its logs,
        and so its leaderboard, go with it."""
        move = "UPDATE rep_logs SET community = ? WHERE community = ?"
        await self._db.apply([sql_write(move, (new, old))])

    def delete_event(self, user_id: int, event_key: str) -> Write:
        return sql_write(
            "DELETE FROM rep_logs WHERE user_id = ? AND event_key = ?", (user_id, event_key)
        )

    def count_in(
        self, user_id: int, event_key: str, community: str, shown_as: str | None
    ) -> Write:
        """A log made privately counted on `community`'s board from now on (its post's Done
        found the session logged already, by a reminder's Done, say)."""
        return sql_write(
            "UPDATE rep_logs SET community = ?, shown_as = ?"
            " WHERE user_id = ? AND event_key = ? AND community IS NULL",
            (community, shown_as, user_id, event_key),
        )

    async def has_event(self, user_id: int, event_key: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM rep_logs WHERE user_id = ? AND event_key = ?", (user_id, event_key)
        )
        return row is not None

    async def last_entry(self, user_id: int) -> tuple[str, list[RepEntry]] | None:
        """The newest log action (one "done" may log several exercises) and its event key."""
        rows = await self._db.fetchall(
            "SELECT id, exercise, reps, local_day, event_key FROM rep_logs"
            " WHERE user_id = ? AND event_key ="
            " (SELECT event_key FROM rep_logs WHERE user_id = ? ORDER BY id DESC LIMIT 1)"
            " ORDER BY id",
            (user_id, user_id),
        )
        if not rows:
            return None
        entries = [RepEntry(r[0], r[1], r[2], date.fromisoformat(r[3])) for r in rows]
        return rows[0]["event_key"], entries

    async def last_community(self, user_id: int) -> str | None:
        """Where the person last logged among others (a server), if anywhere."""
        row = await self._db.fetchone(
            "SELECT community FROM rep_logs WHERE user_id = ? AND community IS NOT NULL"
            " ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        return row[0] if row else None

    async def logged_since(self, user_id: int, day: date) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM rep_logs WHERE user_id = ? AND local_day >= ? LIMIT 1",
            (user_id, day.isoformat()),
        )
        return row is not None

    async def day_totals(self, user_id: int) -> list[DayTotal]:
        rows = await self._db.fetchall(
            "SELECT local_day, exercise, SUM(reps) FROM rep_logs WHERE user_id = ?"
            " GROUP BY local_day, exercise ORDER BY local_day",
            (user_id,),
        )
        return [DayTotal(date.fromisoformat(day), exercise, reps) for day, exercise, reps in rows]

    async def leaderboard(
        self, community: str, during: tuple[datetime, datetime] | None, limit: int
    ) -> list[Standing]:
        """The top `limit` of `community`, by reps logged `during` [start, end) or ever.
        The period is a span of time, not of days: each member's log is dated in their own
        zone, while a board's week is the same for all of them."""
        start, end = during or (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
        # Each person under the name of their latest log here: with exactly one max() in
        # a query, SQLite takes a bare column (r.shown_as) from the row that has the max.
        # Logs from before names were kept have none, and fall back to the user's name.
        rows = await self._db.scan(
            "SELECT COALESCE(r.shown_as, u.display_name) AS name, SUM(r.reps),"
            " COUNT(DISTINCT r.local_day), MAX(r.id)"
            " FROM rep_logs r JOIN users u ON u.id = r.user_id"
            " WHERE r.community = ? AND r.logged_at >= ? AND r.logged_at < ?"
            " AND u.leaderboard_hidden = 0"
            " GROUP BY u.id ORDER BY 2 DESC, 3 DESC, name LIMIT ?",
            (community, _stamp(start), _stamp(end), limit),
        )
        return [Standing(name, reps, sessions) for name, reps, sessions, _ in rows]


def _stamp(at: datetime) -> str:
    """How `logged_at` is kept: in UTC, in ISO 8601 (Python's default precision), so that
    comparing the text compares the times."""
    return at.astimezone(UTC).isoformat()

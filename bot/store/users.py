"""People, and everything that forgetting them removes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.model import ChatRef
from bot.schedule_time import stored_zone
from bot.store.db import Database, Row, Write, sql_write
from bot.store.schedules import DisabledReason


@dataclass(frozen=True)
class User:
    id: int
    platform: str
    platform_user_id: str
    display_name: str
    tz: str | None
    leaderboard_hidden: bool
    blocked: bool
    # Has written to the bot in a private chat (and not blocked it since).
    private_chat: bool


def user_of(row: Row) -> User:
    return User(
        id=row["id"],
        platform=row["platform"],
        platform_user_id=row["platform_user_id"],
        display_name=row["display_name"],
        tz=_still_known(row["tz"]),
        leaderboard_hidden=bool(row["leaderboard_hidden"]),
        blocked=bool(row["blocked"]),
        private_chat=bool(row["private_chat"]),
    )


def _still_known(zone: str | None) -> str | None:
    """A person's zone, unless this machine's zone data has dropped it since: then they
    have none, and are asked again where one is needed."""
    return zone if zone is not None and stored_zone(zone) is not None else None


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, platform: str, platform_user_id: str) -> User | None:
        row = await self._db.fetchone(
            "SELECT * FROM users WHERE platform = ? AND platform_user_id = ?",
            (platform, platform_user_id),
        )
        return user_of(row) if row else None

    async def by_id(self, user_id: int) -> User | None:
        row = await self._db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return user_of(row) if row else None

    async def ensure(
        self, chat: ChatRef, display_name: str, now: datetime, *, reached: bool = True
    ) -> User:
        """The user behind a chat, created on first contact; a changed name is kept, and
        someone marked blocked is no longer once `reached`: their event came where the bot
        can answer them alone (not a group message, which says nothing about whether
        their private chat or DMs are open)."""
        user = await self.get(chat.platform, chat.user_id)
        return await self.ensure_read(user, chat, display_name, now, reached=reached)

    async def ensure_read(
        self,
        user: User | None,
        chat: ChatRef,
        display_name: str,
        now: datetime,
        *,
        reached: bool = True,
    ) -> User:
        """`ensure`, given the user as just read (None: not found)."""
        unchanged = user is not None and display_name in ("", user.display_name)
        if user is not None and unchanged and not (user.blocked and reached):
            return user
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (platform, platform_user_id, display_name, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (platform, platform_user_id)"
                " DO UPDATE SET display_name = excluded.display_name,"
                " blocked = CASE WHEN ? THEN 0 ELSE blocked END",
                (chat.platform, chat.user_id, display_name, now.isoformat(), reached),
            )
        user = await self.get(chat.platform, chat.user_id)
        assert user is not None
        return user

    def set_timezone(self, user_id: int, tz: str) -> Write:
        return sql_write("UPDATE users SET tz = ? WHERE id = ?", (tz, user_id))

    def set_leaderboard_hidden(self, user_id: int, hidden: bool) -> Write:
        return sql_write(
            "UPDATE users SET leaderboard_hidden = ? WHERE id = ?", (int(hidden), user_id)
        )

    def mark_private_chat(self, user_id: int) -> Write:
        return sql_write("UPDATE users SET private_chat = 1 WHERE id = ?", (user_id,))

    async def mark_blocked(self, platform: str, platform_user_id: str) -> None:
        """The person blocked the bot: stop sending them anything scheduled, and treat
        their private chat as closed until they write there again."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE users SET blocked = 1, private_chat = 0"
                " WHERE platform = ? AND platform_user_id = ?",
                (platform, platform_user_id),
            )
            # Switched off as unreachable (GONE), not by them: when they write again, the
            # reminder is offered back. One they switched off themselves stays so.
            await conn.execute(
                "UPDATE schedules SET enabled = 0, disabled_reason = ?,"
                " next_due_utc = NULL, next_day = NULL, attempts = 0"
                " WHERE enabled = 1 AND user_id ="
                " (SELECT id FROM users WHERE platform = ? AND platform_user_id = ?)",
                (DisabledReason.GONE, platform, platform_user_id),
            )

    def forget(self, user_id: int) -> Write:
        # Every table about a person references users ON DELETE CASCADE, except the marks
        # of events handled (SET NULL): they name no one, and must outlive the person, so
        # that a redelivered message can't bring them back. An answer still kept with a
        # mark (events.owed) may quote them, so it goes first.
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE events SET owed = NULL WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

        return write

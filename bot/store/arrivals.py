"""What handling a message reads first, in one query: is it a redelivery, who sent it, and
where their conversation stands. One trip to the database instead of three."""

from __future__ import annotations

from dataclasses import dataclass

from bot.model import ChatRef
from bot.store.conversations import Conversation, conversation_of
from bot.store.db import Database
from bot.store.schema import fingerprint
from bot.store.users import User, user_of


@dataclass(frozen=True)
class Arrival:
    seen: bool
    owed: str | None  # a seen event's answer, if it may never have been sent (owed.py)
    user: User | None  # None on first contact
    conversation: Conversation


class ArrivalStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(self, event_key: str, chat: ChatRef) -> Arrival:
        row = await self._db.fetchone(
            "SELECT e.event_key IS NOT NULL AS seen, e.owed, u.*,"
            " c.flow, c.step, c.data, c.misses, c.updated_at"
            " FROM (SELECT 1) LEFT JOIN events e ON e.event_key = ?"
            " LEFT JOIN users u ON u.platform = ? AND u.platform_user_id = ?"
            " LEFT JOIN conversations c ON c.user_id = u.id",
            (fingerprint(event_key), chat.platform, chat.user_id),
        )
        assert row is not None  # the FROM always yields one row
        user = user_of(row) if row["id"] is not None else None
        return Arrival(bool(row["seen"]), row["owed"], user, conversation_of(row))

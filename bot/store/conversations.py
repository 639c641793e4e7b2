"""Where each person is in a conversation, saved after every message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.model import Choice
from bot.store.db import Database, Row, Write, sql_write

# The choices last shown travel inside the data column, so a typed "2" after a restart
# still means what the person saw as option 2. So does the exercise last walked through.
_OFFERED = "_offered"
_WALKED = "_walked"


@dataclass(frozen=True)
class Conversation:
    flow: str = "menu"
    step: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)
    misses: int = 0
    updated_at: datetime | None = None
    offered: tuple[Choice, ...] = ()
    # The exercise last walked through and the day (ISO) it was: what a bare "done" that
    # day refers to, whatever the person did in between (training.py).
    walked: tuple[str, str] | None = None


def conversation_of(row: Row | None) -> Conversation:
    """The conversation in a row of `conversations` columns; the start if there is none."""
    if row is None or row["flow"] is None:
        return Conversation()
    data = json.loads(row["data"])
    offered = tuple(Choice(value, label) for value, label in data.pop(_OFFERED, []))
    walked = data.pop(_WALKED, None)
    if walked is None and "exercise" in data and "day" in data:  # saved before _walked
        walked = (data["exercise"], data["day"])
    return Conversation(
        flow=row["flow"],
        step=row["step"],
        data=data,
        misses=row["misses"],
        updated_at=datetime.fromisoformat(row["updated_at"]),
        offered=offered,
        walked=(str(walked[0]), str(walked[1])) if walked else None,
    )


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, user_id: int) -> Conversation:
        row = await self._db.fetchone("SELECT * FROM conversations WHERE user_id = ?", (user_id,))
        return conversation_of(row)

    def show_if_unchanged(self, user_id: int, was: Conversation, now: Conversation) -> Write:
        """Saves `now` over `was` (its options, what a bare "done" means) only if nothing
        moved the conversation since `was` was read: a message handled meanwhile wins.
        The time of the last message stays as it was."""
        return sql_write(
            "UPDATE conversations SET data = ? WHERE user_id = ? AND flow = ? AND step = ?"
            " AND updated_at = ?",
            (
                _data_json(now),
                user_id,
                was.flow,
                was.step,
                was.updated_at.isoformat() if was.updated_at else None,
            ),
        )

    def save(self, user_id: int, conversation: Conversation, now: datetime) -> Write:
        return sql_write(
            "INSERT INTO conversations (user_id, flow, step, data, misses, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " flow = excluded.flow, step = excluded.step, data = excluded.data,"
            " misses = excluded.misses, updated_at = excluded.updated_at",
            (
                user_id,
                conversation.flow,
                conversation.step,
                _data_json(conversation),
                conversation.misses,
                now.isoformat(),
            ),
        )


def _data_json(conversation: Conversation) -> str:
    return json.dumps(
        {
            **conversation.data,
            _OFFERED: [[c.value, c.label] for c in conversation.offered],
            **({_WALKED: list(conversation.walked)} if conversation.walked else {}),
        },
        ensure_ascii=False,
    )

"""Symptom-check results, kept so a later check can show the change."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.store.db import Database, Row, Write, sql_write


@dataclass(frozen=True)
class CheckRecord:
    taken_at: datetime
    band: str
    score: int
    symptom_count: int


def _record(row: Row) -> CheckRecord:
    return CheckRecord(
        datetime.fromisoformat(row["taken_at"]), row["band"], row["score"], row["symptom_count"]
    )


class CheckStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(
        self,
        user_id: int,
        *,
        at: datetime,
        band: str,
        score: int,
        symptom_count: int,
        answers: Mapping[str, str],
    ) -> Write:
        return sql_write(
            "INSERT INTO checks (user_id, taken_at, band, score, symptom_count, answers)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, at.isoformat(), band, score, symptom_count, json.dumps(dict(answers))),
        )

    async def first(self, user_id: int, bands: Collection[str] = ()) -> CheckRecord | None:
        """The earliest check; with `bands`, the earliest whose band is one of them."""
        return await self._one(user_id, "ASC", bands)

    async def latest(self, user_id: int, bands: Collection[str] = ()) -> CheckRecord | None:
        return await self._one(user_id, "DESC", bands)

    async def _one(self, user_id: int, order: str, bands: Collection[str]) -> CheckRecord | None:
        among = f" AND band IN ({', '.join('?' * len(bands))})" if bands else ""
        row = await self._db.fetchone(
            f"SELECT * FROM checks WHERE user_id = ?{among}"
            f" ORDER BY taken_at {order}, id {order} LIMIT 1",
            (user_id, *bands),
        )
        return _record(row) if row else None

"""A fake front end that drives the engine like a person, for transcript tests."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import Core
from bot.model import ChatRef, Incoming, Platform, Reply
from bot.render import Rendered

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
# Event keys must not repeat across runs either: old databases (fixtures) hold some.
_RUN = uuid.uuid4().hex[:8]
_keys = itertools.count(1)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Said:
    replies: list[Reply]
    rendered: list[Rendered]
    plain: list[str]

    @property
    def text(self) -> str:
        """What was said, as plain text whatever the platform, for assertions on wording."""
        return "\n\n".join(self.plain)

    @property
    def labels(self) -> list[str]:
        return [b.label for r in self.rendered for b in r.buttons]

    @property
    def templates(self) -> list[str]:
        return [r.template for r in self.replies]


class Chat:
    def __init__(
        self,
        core: Core,
        user: str = "alice",
        platform: Platform = Platform.CONSOLE,
        community: str | None = None,
        name: str = "Alice",
    ) -> None:
        self.core = core
        self.ref = ChatRef(platform, user_id=user, chat_id=f"chat-{user}", community=community)
        self.name = name
        self.last: Said | None = None

    async def say(self, text: str, *, key: str | None = None) -> Said:
        return await self.send(Incoming(self.ref, key or self._key(), text=text,
                                        display_name=self.name))  # fmt: skip

    async def tap(self, label: str, *, key: str | None = None) -> Said:
        assert self.last is not None, "nothing to tap yet"
        value = self.button(label)
        return await self.send(Incoming(self.ref, key or self._key(), choice=value,
                                        display_name=self.name))  # fmt: skip

    def button(self, label: str) -> str:
        assert self.last is not None
        for rendered in self.last.rendered:
            for button in rendered.buttons:
                if button.label == label:
                    return button.value
        raise AssertionError(f"no button {label!r} in {self.last.labels}")

    async def send(self, incoming: Incoming) -> Said:
        return await self.send_replies(await self.core.engine.handle(incoming))

    async def send_replies(self, replies: list[Reply]) -> Said:
        """Show replies as if the bot had sent them to this chat."""
        render = self.core.renderer.render
        rendered = [render(r, self.ref.platform) for r in replies]
        self.last = Said(replies, rendered, [render(r, Platform.CONSOLE).text for r in replies])
        return self.last

    def _key(self) -> str:
        return f"test:{_RUN}:{next(_keys)}"


async def reps_by_person(core: Core) -> dict[tuple[str, str], int]:
    """Each person's logged reps in all, by (platform, platform user id); every log holds
    at least one rep."""
    rows = await core.store.db.fetchall(
        "SELECT u.platform, u.platform_user_id, SUM(r.reps), MIN(r.reps) FROM rep_logs r"
        " JOIN users u ON u.id = r.user_id GROUP BY u.id"
    )
    assert all(row[3] > 0 for row in rows), [tuple(row) for row in rows]
    return {(str(row[0]), str(row[1])): int(row[2]) for row in rows if row[2]}


async def every_row(core: Core) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a fixed order: compare two to see what changed."""
    tables = await core.store.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    dump: dict[str, list[tuple[Any, ...]]] = {}
    for (name,) in tables:
        rows = await core.store.db.fetchall(f'SELECT * FROM "{name}"')
        dump[str(name)] = sorted((tuple(row) for row in rows), key=repr)
    return dump

"""What every platform adapter offers the runner and the scheduler.

Adapters translate: platform events in → `Incoming` → `Engine.handle` → `Reply` →
platform calls out. They hold no conversation logic, no SQL and no wording.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Protocol

from bot.model import ChatRef, Delivery, Platform, Reply

__all__ = ["Adapter", "Delivery", "RecentKeys", "StartError", "edit_key"]


class StartError(Exception):
    """A platform refused to start (bad token, unreachable): one clear, token-free line."""


class Adapter(Protocol):
    platform: Platform

    async def start(self) -> None:
        """Connect and begin handling events; returns once running."""

    async def stop(self) -> None:
        """Stop taking new events, finish those in flight, disconnect."""

    async def wait_ended(self) -> str:
        """Wait while the platform connection lasts, once started. Returns when it has
        ended: after `stop`, or by itself for good (a token revoked while running, say),
        with the reason in one token-free line."""

    async def deliver(self, chat: ChatRef, replies: Sequence[Reply]) -> Delivery:
        """Send replies nobody asked for just now (scheduled prompts, reminders)."""


def edit_key(message_key: str, edited_at: datetime | None) -> str:
    """An edit's own key: its message's, and when it was edited (a second edit of the same
    message is another event; the same edit delivered again is not). In milliseconds, as
    Discord stamps edits (Telegram, in seconds)."""
    stamp = round(edited_at.timestamp() * 1000) if edited_at else 0
    return f"{message_key}:e{stamp}"


class RecentKeys:
    """The latest `limit` keys noted, in memory (a restart forgets them)."""

    def __init__(self, limit: int = 1000) -> None:
        self._keys: dict[Hashable, None] = {}
        self._limit = limit

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def note(self, key: Hashable) -> None:
        self._keys[key] = None
        if len(self._keys) > self._limit:
            del self._keys[next(iter(self._keys))]  # the oldest

    def forget(self, key: Hashable) -> None:
        self._keys.pop(key, None)

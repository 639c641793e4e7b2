"""Spacing out a burst of sends: an overall rate plus a minimum gap per chat.

A next-slot scheduler: each `wait` takes the earliest slot at least `1 / rate` after the
previous one and at least `per_chat` after that chat's previous one, then sleeps until it.
Slots are handed out in call order (first come, first served) and never burst, so a
platform's limits are respected rather than probed. One process's view only: several
processes sharing a token would each need a share of the rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Forget chats whose gap has passed once this many are remembered.
_FORGET_AFTER = 10_000


class Pacer:
    def __init__(
        self,
        rate: float,
        per_chat: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or per_chat < 0:
            raise ValueError("rate must be positive and per_chat not negative")
        self._gap = 1.0 / rate
        self._per_chat = per_chat
        self._clock = clock
        self._sleep = sleep
        self._next_any = float("-inf")
        self._next_by_chat: dict[str, float] = {}

    async def wait(self, chat_key: str) -> None:
        delay = self.reserve(chat_key)
        if delay > 0:
            await self._sleep(delay)

    def reserve(self, chat_key: str) -> float:
        """Take the next slot for `chat_key`; returns the seconds until it."""
        now = self._clock()
        slot = max(now, self._next_any, self._next_by_chat.get(chat_key, now))
        self._next_any = slot + self._gap
        self._remember(chat_key, slot + self._per_chat, now)
        return slot - now

    def _remember(self, chat_key: str, next_slot: float, now: float) -> None:
        if len(self._next_by_chat) >= _FORGET_AFTER:
            self._next_by_chat = {
                key: slot for key, slot in self._next_by_chat.items() if slot > now
            }
        self._next_by_chat[chat_key] = next_slot

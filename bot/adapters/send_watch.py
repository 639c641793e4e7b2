"""Whether a scheduled send cut short may have reached the platform.

The scheduler's `stop` cancels sends still running after its time is up. One still held
back by the platform's "slow down" (a 429's retry-after, which the platform libraries
wait out) or queued behind one sent nothing, and is better left due for the restart than
lost; one cancelled while its request was out may have arrived, and must not be sent
again. The adapters note each request that could deliver a message as it leaves, through
their library's hook, and take the note back when the platform answers it with a 429.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from bot.model import Delivery

log = logging.getLogger(__name__)


@dataclass
class _Watch:
    may_have_arrived: bool = False


_WATCH: ContextVar[_Watch | None] = ContextVar("send_watch", default=None)


async def retry_if_cut_short_unsent(sending: Awaitable[Delivery], chat_id: str) -> Delivery:
    """`sending`'s outcome; cancelled before any of its requests may have reached the
    platform, RETRY rather than the cancellation: nothing went out."""
    watch = _Watch()
    reset = _WATCH.set(watch)
    try:
        return await sending
    except asyncio.CancelledError:
        if watch.may_have_arrived:
            raise
        log.info("stopped before anything was sent to %s; it stays due", chat_id)
        return Delivery.RETRY
    finally:
        _WATCH.reset(reset)


def note_leaving() -> Callable[[], None]:
    """Notes that a request that could deliver a message is leaving; returns what takes the
    note back when the platform refuses it with a 429 (that try sent nothing)."""
    watch = _WATCH.get()
    if watch is None:
        return lambda: None
    before, watch.may_have_arrived = watch.may_have_arrived, True

    def refused() -> None:
        watch.may_have_arrived = before

    return refused

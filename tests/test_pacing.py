from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from bot.pacing import Pacer

T = TypeVar("T")

# Float slack for sums of 1/rate; far below anything a platform could notice.
SLACK = 1e-6


class VirtualClock:
    """Time that passes only when every sleeper would otherwise wait: nothing sleeps for real.

    `drive(aw)` runs `aw`, waking sleepers one at a time in time order, and lets each woken
    task run before time moves on.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._slept = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        self._slept.set()
        await future

    async def drive(self, aw: Awaitable[T]) -> T:
        task = asyncio.ensure_future(aw)
        while not task.done():
            if self._sleepers:
                when, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    self.now = max(self.now, when)
                    future.set_result(None)
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
            else:
                self._slept.clear()
                slept = asyncio.ensure_future(self._slept.wait())
                await asyncio.wait([task, slept], return_when=asyncio.FIRST_COMPLETED)
                slept.cancel()
        return task.result()


async def send_all(pacer: Pacer, clock: VirtualClock, chats: list[str]) -> list[tuple[float, str]]:
    sent: list[tuple[float, str]] = []

    async def send(chat: str) -> None:
        await pacer.wait(chat)
        sent.append((clock(), chat))

    await clock.drive(asyncio.gather(*(send(chat) for chat in chats)))
    return sent


def assert_paced(sent: list[tuple[float, str]], rate: float, per_chat: float) -> None:
    times = sorted(moment for moment, _ in sent)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps, default=1 / rate) >= 1 / rate - SLACK
    last: dict[str, float] = {}
    for moment, chat in sorted(sent):
        if chat in last:
            assert moment - last[chat] >= per_chat - SLACK
        last[chat] = moment


async def test_a_burst_is_spread_at_the_overall_rate() -> None:
    clock = VirtualClock()
    pacer = Pacer(30, 1.0, clock=clock, sleep=clock.sleep)
    sent = await send_all(pacer, clock, [f"chat{n}" for n in range(300)])
    assert len(sent) == 300
    assert_paced(sent, 30, 1.0)
    assert sent[0][0] == 1_000.0  # the first goes at once
    assert clock() == pytest.approx(1_000.0 + 299 / 30)  # and none waits longer than needed


async def test_one_chat_gets_its_own_gap() -> None:
    clock = VirtualClock()
    pacer = Pacer(30, 1.0, clock=clock, sleep=clock.sleep)
    sent = await send_all(pacer, clock, ["a", "a", "b", "a"])
    assert_paced(sent, 30, 1.0)
    assert [moment - 1_000.0 for moment, chat in sent if chat == "a"] == pytest.approx(
        [0.0, 1.0, 2.0]
    )


async def test_mixed_chats_keep_both_limits() -> None:
    clock = VirtualClock()
    pacer = Pacer(20, 1.5, clock=clock, sleep=clock.sleep)
    chats = [f"chat{n % 7}" for n in range(200)]
    sent = await send_all(pacer, clock, chats)
    assert sorted(chat for _, chat in sent) == sorted(chats)
    assert_paced(sent, 20, 1.5)


async def test_an_idle_pacer_does_not_wait() -> None:
    clock = VirtualClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    assert pacer.reserve("a") == 0
    assert pacer.reserve("b") == pytest.approx(0.1)
    clock.now += 5
    assert pacer.reserve("a") == 0  # no credit saved up either: the next one waits its turn
    assert pacer.reserve("c") == pytest.approx(0.1)


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="rate"):
        Pacer(0, 1.0)
    with pytest.raises(ValueError, match="rate"):
        Pacer(10, -1.0)

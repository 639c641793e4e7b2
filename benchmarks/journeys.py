"""Simulated people doing the real journeys through `Engine.handle`, like tests/transcript.py.

A person follows `JOURNEY` over and over: the symptom check (buttons and typed answers
mixed), the glute bridge walked through and logged with "done", the lunge likewise with
"done 6 per side", /stats, /workout and its Done button, "undo" and "help". Each step
picks its button from the choices of the previous answer, so a journey that goes off the
expected path fails loudly instead of measuring the wrong thing. People are on Telegram:
each answer is kept until sent, and let go as the adapter does once it is out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.engine import Engine
from bot.model import ChatRef, Incoming, Platform, Reply


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Tap:
    """Press the button whose value is `value`, ends with `:value`, or starts with it."""

    value: str


Step = Say | Tap

_CHECK: tuple[Step, ...] = (
    Tap("do:check"),
    Tap("no"),  # bladder / saddle numbness
    Say("no"),  # other red flags
    Tap("yes"),  # numb after sitting
    Say("sometimes"),
    Tap("yes"),
    Say("nope"),
    Tap("over8"),  # hours sitting
    Say("3"),  # running: option 3
    Tap("yes"),  # posture → the result
)
_BRIDGE: tuple[Step, ...] = (
    Tap("do:bridge"),  # "start now" under the result
    *(Say("next"),) * 4,
    Tap("next"),  # the last step → "finished"
    Say("done"),
)
_LUNGE: tuple[Step, ...] = (Say("/lunge"), *(Tap("next"),) * 5, Say("done 6 per side"))
JOURNEY: tuple[Step, ...] = (
    Say("/start"),
    *_CHECK,
    *_BRIDGE,
    *_LUNGE,
    Say("/stats"),
    Say("/workout"),
    Tap("do:done"),  # the workout's Done button
    Say("undo"),
    Say("help"),
)
# What the journey must have logged each time round: bridge, lunge, and the workout's two.
LOGS_PER_JOURNEY = 4


def event_key(run: str, number: int, count: int) -> str:
    """The key of person `number`'s `count`th message (from 1) in `run`."""
    return f"{run}:{number}:{count}"


class OffPath(AssertionError):
    pass


class Person:
    def __init__(self, engine: Engine, number: int, run: str = "bench") -> None:
        self.engine = engine
        self.chat = ChatRef(Platform.TELEGRAM, user_id=str(number), chat_id=str(number))
        self.name = f"Person {number}"
        self._run, self._number = run, number
        self._count = 0
        self._last: list[Reply] = []
        self.latencies: list[float] = []

    async def walk(self, messages: int) -> None:
        """Send `messages` messages, following the journey round and round from where
        this person left it."""
        for _ in range(messages):
            await self.step(self._next_step())

    async def paced(self, messages: int, first: float, interval: float) -> None:
        """Send a message every `interval` seconds from `first` (a perf_counter time), or
        as soon as the previous answer came if that was late. Latency counts from the
        planned moment, so a backlog shows in the figures instead of hiding them."""
        for index in range(messages):
            planned = first + index * interval
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.step(self._next_step(), since=planned)

    def _next_step(self) -> Step:
        return JOURNEY[self._count % len(JOURNEY)]

    async def step(self, step: Step, since: float | None = None) -> list[Reply]:
        self._count += 1
        key = event_key(self._run, self._number, self._count)
        if isinstance(step, Say):
            incoming = Incoming(self.chat, key, text=step.text, display_name=self.name)
        else:
            value = self._button(step.value)
            incoming = Incoming(self.chat, key, choice=value, display_name=self.name)
        incoming = replace(incoming, comes_again=True)
        started = time.perf_counter() if since is None else since
        replies = await self.engine.handle(incoming)
        self.latencies.append(time.perf_counter() - started)
        if not replies or replies[0].template == "error":
            raise OffPath(f"{step} got {[r.template for r in replies]}")
        self._last = replies
        self.engine.answered(key)  # sent: the Telegram adapter lets the answer go
        return replies

    def _button(self, wanted: str) -> str:
        values = [c.value for reply in self._last for c in reply.choices]
        for value in values:
            if value == wanted or value.endswith(f":{wanted}") or value.startswith(wanted):
                return value
        raise OffPath(f"no button {wanted!r} among {values}")


def templates(replies: Sequence[Reply]) -> list[str]:
    return [reply.template for reply in replies]

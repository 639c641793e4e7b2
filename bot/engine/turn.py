"""One message being handled: who, where in the conversation, and what it will write."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from bot.model import Choice, Incoming, PrivateReach, Reply
from bot.parse import Word
from bot.store import Store, Write
from bot.store.conversations import Conversation
from bot.store.schedules import Schedule
from bot.store.users import User

# Longest piece of user text the bot ever echoes back.
ECHO_LIMIT = 80
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Characters that show nothing, yet are neither whitespace nor format characters (Cf, such
# as the zero-width space): the Hangul and Braille fillers people use to send a "blank".
_FILLERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")

# A nonce's length in bytes (hex digits: twice as many). See `Turn.nonce`.
NONCE_BYTES = 6
# The step a walk-through's start button asks for (see `walk_start`).
WALK_START = "start"
_NONCE = re.compile(f"[0-9a-f]{{{2 * NONCE_BYTES}}}")

# Button values: "do:<action>[:<arg>]" works whenever it is pressed (the arg is a one-shot
# button's nonce, a walk-through's id and "back" or the step it leads to, or the id of the
# message that opens a walk-through and "start"); a flow's own buttons are
# "<flow>:<step>:<value>" and go stale once the conversation moves on.
ACTION_PREFIX = "do"


@dataclass(frozen=True)
class Answer:
    """A reply to the current question: the choice it picked (if any) and the raw text."""

    value: str | None
    word: Word | None
    number: int | None
    text: str


@dataclass
class Turn:
    incoming: Incoming
    user: User
    conversation: Conversation
    now: datetime
    # The person's zone: their own, else where they said it (place_tz); in a DM, the
    # server's where they last logged.
    tz: tzinfo
    # Where it was said: a server's daily-post zone, else the default. A shared board's
    # week is this one, the same for every member.
    place_tz: tzinfo
    # The daily posts of the server it was said in, if it has them (as before this turn).
    server_schedule: Schedule | None
    store: Store
    writes: list[Write] = field(default_factory=list)
    forgotten: bool = False
    schedules_changed: bool = False
    # The conversation as it was when the message came.
    arrived_in: Conversation = field(init=False)

    def __post_init__(self) -> None:
        self.arrived_in = self.conversation

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    @property
    def place_today(self) -> date:
        return self.now.astimezone(self.place_tz).date()

    @property
    def in_community(self) -> bool:
        """Said in a group or a server, where a person's own conversation doesn't go on."""
        return self.incoming.chat.community is not None

    @property
    def seen_only_here(self) -> bool:
        """Said in a server where an answer for them alone is shown there, not in their
        private chat (a Discord slash command's): a question asked now isn't on screen in
        their DMs."""
        return self.in_community and self.incoming.private_reach is PrivateReach.IN_PLACE

    def go(self, flow: str, step: int = 0, data: Mapping[str, Any] | None = None) -> None:
        self.conversation = replace(
            self.conversation, flow=flow, step=step, data=dict(data or {}), misses=0
        )

    def parked(self) -> dict[str, Any]:
        """Where the conversation is, to keep in another flow's data while it asks something
        else (see `go_back`)."""
        c = self.conversation
        return {"flow": c.flow, "step": c.step, "data": dict(c.data)}

    def go_back(self, parked: Mapping[str, Any], *, from_start: bool = False) -> None:
        """Back where `parked` was, or to the start of its flow."""
        if from_start:
            self.go(parked["flow"])
        else:
            self.go(parked["flow"], parked["step"], parked["data"])

    def walked(self, exercise: str | None) -> None:
        """Remembers the exercise just walked through (None: forgets it), for a bare "done"
        later today; moving between flows keeps it."""
        walked = (exercise, self.today.isoformat()) if exercise else None
        self.conversation = replace(self.conversation, walked=walked)

    def missed(self) -> int:
        self.conversation = replace(self.conversation, misses=self.conversation.misses + 1)
        return self.conversation.misses

    def nonce(self) -> str:
        """Short and unique to this event: ties a one-shot button to the message it came with."""
        return nonce_of(self.incoming.event_key)

    def todays(self, nonce: str) -> str:
        """An id standing for `nonce` (a message's) today: the same for every event today,
        another tomorrow."""
        return nonce_of(f"{nonce}:{self.today.isoformat()}")


def nonce_of(text: str) -> str:
    """A short id for `text` (an event's key): see `Turn.nonce`."""
    return hashlib.blake2s(text.encode(), digest_size=NONCE_BYTES).hexdigest()


class Flow(Protocol):
    name: str
    # How many steps it has. A stored step past them (or a flow no longer there) is a
    # place an upgrade took away: an exercise taken out, a walk-through shortened.
    steps: int

    def prompt(self, turn: Turn) -> list[Reply]:
        """The current step's message: sent on arrival, re-prompts and resumes."""

    def choices(self, turn: Turn) -> Sequence[Choice]:
        """What the current step offers, before stamping."""

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        """Handle an answer; None when it doesn't fit the current step."""


def walk_start(exercise: str, label: str, nonce: str) -> Choice:
    """A button on the message `nonce` names (a workout, a group's learn menu) that opens a
    walk-through of `exercise`: every one it opens today is the same walk-through, with
    one Done, however often it is pressed (a double tap; in a group, by anyone)."""
    return action(exercise, label, f"{nonce}:{WALK_START}")


def is_nonce(text: str) -> bool:
    """Whether `text` could be a `Turn.nonce` (button data can be forged: one too long would
    make the buttons that carry it on too long to send)."""
    return _NONCE.fullmatch(text) is not None


def stamp(flow: str, step: int, choices: Sequence[Choice]) -> tuple[Choice, ...]:
    return tuple(Choice(f"{flow}:{step}:{c.value}", c.label) for c in choices)


def action(name: str, label: str | None = None, arg: str | None = None) -> Choice:
    value = f"{ACTION_PREFIX}:{name}" + (f":{arg}" if arg else "")
    return Choice(value, label or name)


def lasting_done(value: str) -> bool:
    """A Done button for a whole session (a workout's, a reminder's, a daily post's): it
    logs that session once whenever it is pressed, so it stays after its message's other
    buttons ("How to do a bridge") were answered. A walk-through's Done (its arg ends with
    the exercise) doesn't: the walk-through's next finish brings one of its own, and both
    would log the exercise."""
    prefix = f"{ACTION_PREFIX}:done:"
    return value.startswith(prefix) and "." not in value[len(prefix) :]


def echo(text: str) -> str:
    """User text to quote back: on one line, at most ECHO_LIMIT long, and without the
    marks that would turn the rest of the message right to left. Empty if nothing in it
    shows: quoted, it would look like an empty quote."""
    words = _BIDI_CONTROLS.sub("", text).split()
    if all(_invisible(char) for word in words for char in word):
        return ""
    text = " ".join(words)
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 1] + "…"


def _invisible(char: str) -> bool:
    # Only judged, never dropped: a zero-width joiner inside "👩\u200d💻" makes one emoji.
    return char in _FILLERS or unicodedata.category(char) == "Cf"

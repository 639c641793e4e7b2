"""Menus, the forget-me confirmation and the "continue where you left off?" question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.engine.turn import Answer, Flow, Turn, action, stamp, walk_start
from bot.flows.exercises import EXERCISES
from bot.model import Choice, Reply
from bot.parse import Word

MAIN_MENU = (
    action("check", "menu_check"),
    action("workout", "menu_workout"),
    action("learn", "menu_learn"),
    action("stats", "menu_progress"),
    action("help", "menu_help"),
)
# One entry per exercise in bot/flows/exercises.py; each needs a "learn_<id>" label.
# Marks a "delete everything?" shown only in a server (see ForgetFlow).
ASKED_IN_SERVER = "asked_in_server"
BACK_TO_MENU = action("menu", "back_to_menu")
LEARN_MENU = (
    *(action(exercise_id, f"learn_{exercise_id}") for exercise_id in EXERCISES),
    BACK_TO_MENU,
)


class ActionMenu:
    """A list of actions; the engine runs whichever is picked."""

    def __init__(self, name: str, template: str, actions: tuple[Choice, ...]) -> None:
        self.name = name
        self.steps = 1
        self._template = template
        self._actions = actions

    def prompt(self, turn: Turn) -> list[Reply]:
        return [Reply(self._template, choices=self._actions)]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        return self._actions

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        return None


def main_menu() -> Reply:
    return Reply("menu", choices=MAIN_MENU)


def learn_menu(nonce: str) -> Reply:
    """The learn menu as a group sees it, `nonce` naming this one: each walk-through it
    opens is posted for everyone, and its buttons open the same one all day (see
    `walk_start`). In private the conversation holds the walk-through under way."""
    walks = (walk_start(ex_id, f"learn_{ex_id}", nonce) for ex_id in EXERCISES)
    return Reply("learn", choices=(*walks, BACK_TO_MENU))


class ForgetFlow:
    """ "Delete everything?" It may come in the middle of something: "no" goes back to it.

    Its data is where the conversation was (see `Turn.parked`), and ASKED_IN_SERVER while
    the question shows only in a server: there a typed answer in their DMs, where they see
    another question, must not confirm it."""

    name = "forget"
    steps = 1
    _choices = (Choice("yes", "forget_yes"), Choice("no", "forget_no"))

    def __init__(self, flows: Mapping[str, Flow], menus: Sequence[str]) -> None:
        self._flows = flows
        self._menus = menus

    def start(self, turn: Turn) -> list[Reply]:
        flow = turn.conversation.flow
        if flow != self.name:
            turn.go(self.name, 0, turn.parked() if flow not in self._menus else {})
        _mark_asked_in_server(turn, turn.seen_only_here)
        return self.prompt(turn)

    def prompt(self, turn: Turn, *, asked_elsewhere: bool = False) -> list[Reply]:
        choices = stamp(self.name, 0, self._choices)
        context = {"elsewhere": asked_elsewhere}
        return [Reply("forget/confirm", context, choices=choices, private=True)]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        return self._choices

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        if turn.conversation.data.get(ASKED_IN_SERVER) and turn.incoming.choice is None:
            # Asked again where they typed, where an answer can then be typed.
            _mark_asked_in_server(turn, False)
            return self.prompt(turn, asked_elsewhere=True)
        if answer.value == "yes":
            turn.writes.append(turn.store.users.forget(turn.user.id))
            turn.forgotten = True
            return [Reply("forget/done", private=True)]
        if answer.value == "no" or answer.word is Word.BACK:
            kept = Reply("forget/kept", private=True)
            parked = turn.conversation.data
            if "flow" not in parked:
                turn.go("menu")
                return [kept, main_menu()]
            turn.go_back(parked)
            return [kept, *self._flows[parked["flow"]].prompt(turn)]
        return None


def _mark_asked_in_server(turn: Turn, asked: bool) -> None:
    data = {key: value for key, value in turn.conversation.data.items() if key != ASKED_IN_SERVER}
    turn.conversation = replace(
        turn.conversation, data={**data, ASKED_IN_SERVER: True} if asked else data
    )


class ResumeFlow:
    """Asked when someone comes back to a conversation left idle for a long time."""

    name = "resume"
    steps = 1
    _choices = (Choice("continue", "resume_continue"), Choice("restart", "resume_restart"))

    def __init__(self, flows: Mapping[str, Flow]) -> None:
        self._flows = flows

    def park(self, turn: Turn, *, away: bool = True) -> list[Reply]:
        """`away`: they left it long ago (not just said hello in the middle of it)."""
        turn.go(self.name, 0, {**turn.parked(), "away": away})
        return self.prompt(turn)

    def prompt(self, turn: Turn) -> list[Reply]:
        data = turn.conversation.data
        context = {"flow": data.get("flow", ""), "away": data.get("away", True)}
        return [Reply("resume", context, choices=stamp(self.name, 0, self._choices))]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        return self._choices

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        value = "continue" if answer.word in (Word.YES, Word.NEXT) else answer.value
        if value not in ("continue", "restart"):
            return None
        parked = turn.conversation.data
        turn.go_back(parked, from_start=value == "restart")
        return self._flows[parked["flow"]].prompt(turn)

"""Walks an exercise (bot/flows/exercises.py) one step per message."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.progress import progress
from bot.engine.turn import Answer, Turn, action, stamp
from bot.flows.exercises import EXERCISES, Exercise
from bot.model import Choice, Reply
from bot.parse import Word

WALK_PREFIX = "walk_"
NEXT = Choice("next", "next")
# The conversation data naming the walk-through under way (see `WalkFlow._finish`).
WALK_ID = "walk"
BACK = Choice("back", "back")


def walking(flow: str) -> str | None:
    """The exercise a conversation is in the middle of walking through, if any."""
    exercise = flow.removeprefix(WALK_PREFIX)
    return exercise if flow.startswith(WALK_PREFIX) and exercise in EXERCISES else None


class WalkFlow:
    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self.name = f"{WALK_PREFIX}{exercise.id}"
        self.steps = len(exercise.steps)

    def start(self, turn: Turn, step: int = 0, walk: str | None = None) -> list[Reply]:
        """Step `step` of a walk-through: a new one, or the one whose id is `walk` again."""
        turn.go(self.name, step, {WALK_ID: walk or turn.nonce()})
        return self.prompt(turn)

    async def shown_to_all(self, turn: Turn, step: int, walk: str | None = None) -> list[Reply]:
        """A step in a group or a server, where anyone may press its buttons: they carry
        the step they lead to, and nobody's conversation moves (theirs goes on in private).
        They carry the walk-through's id too (`walk`; a new one at its start), so that every
        finish it comes to brings the same Done."""
        walk = walk or turn.nonce()
        steps = len(self.exercise.steps)
        if step >= steps:
            return [await self._finish(turn, walk)]
        step = max(step, 0)
        context = {"step": step + 1, "steps": steps}
        back = (self._shown_step(walk, step - 1, BACK),) if step > 0 else ()
        choices = (self._shown_step(walk, step + 1, NEXT), *back)
        return [Reply(self.exercise.step_template(step), context, choices=choices)]

    def _shown_step(self, walk: str, step: int, button: Choice) -> Choice:
        return action(self.exercise.id, button.label, f"{walk}:{step}")

    def back_from_finish(self, walk: str) -> Choice:
        # An action like the finish's other buttons: the walk-through is over by then. It
        # carries the walk-through's id, so that the finish it leads back to brings the
        # same Done as this one, still on screen (see `_finish`).
        return action(self.exercise.id, BACK.label, f"{walk}:{BACK.value}")

    def finish_on_show(self, offered: Sequence[Choice]) -> bool:
        """Whether `offered` is this walk-through's finish (its Back is among them)."""
        prefix, suffix = f"{action(self.exercise.id).value}:", f":{BACK.value}"
        return any(c.value.startswith(prefix) and c.value.endswith(suffix) for c in offered)

    def shown_button(self, shown: Sequence[str], back: bool) -> str | None:
        """Among `shown` (the buttons of a message of this walk-through posted in a group,
        see `shown_to_all`), the one a typed "next" (or with `back`, "back") stands for, if
        it has one. A step's buttons carry the step they lead to: its Next the one after
        it, its Back (none on the first step) the one before; a finish has only a Back."""
        prefix = f"{action(self.exercise.id).value}:"
        steps: list[tuple[int, str]] = []
        for value in shown:
            if not value.startswith(prefix):
                continue
            # "<walk-through id>:<step>", or a plain step on one posted before it had ids.
            target = value.removeprefix(prefix).rpartition(":")[2]
            if target == BACK.value:  # the finish's
                return value if back else None
            if target.isascii() and target.isdigit():
                steps.append((int(target), value))
        if not steps or (back and len(steps) < 2):
            return None
        return min(steps)[1] if back else max(steps)[1]

    def past_the_end(self, turn: Turn) -> list[Reply]:
        """Answers a "next" typed at the finish screen, offering its buttons again (the
        same "Done ✅", so pressing either logs once)."""
        context = {"exercise": self.exercise.id}
        return [Reply("exercise/last_step", context, choices=turn.conversation.offered)]

    def prompt(self, turn: Turn) -> list[Reply]:
        step = turn.conversation.step
        context = {"step": step + 1, "steps": len(self.exercise.steps)}
        choices = (*stamp(self.name, step, self.choices(turn)), action("menu", "stop_walk"))
        return [Reply(self.exercise.step_template(step), context, choices=choices)]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        return (NEXT, BACK) if turn.conversation.step > 0 else (NEXT,)

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        step = turn.conversation.step
        data = turn.conversation.data
        if answer.value == BACK.value or answer.word is Word.BACK:
            turn.go(self.name, max(step - 1, 0), data)
            return self.prompt(turn)
        if answer.value != NEXT.value and answer.word not in (Word.NEXT, Word.YES):
            return None
        if step + 1 < len(self.exercise.steps):
            turn.go(self.name, step + 1, data)
            return self.prompt(turn)
        return [await self._finish(turn)]

    async def _finish(self, turn: Turn, shown_walk: str | None = None) -> Reply:
        # Its Done logs under the walk-through's id: going back from the finish and on to it
        # again leaves two finishes on screen, and pressing both must log once. (Posted
        # in a group, where nobody's conversation moves, the id is on its buttons:
        # `shown_walk`.)
        walk = shown_walk or _walk_id(turn)
        target = None
        if not turn.in_community:
            turn.go("menu")
            # Walked to the end: a bare "done" later today means this exercise. (Only
            # opened and stopped, it means the day's session as before.)
            turn.walked(self.exercise.id)
            mine = progress(await turn.store.reps.day_totals(turn.user.id), turn.today)
            target = mine.targets[self.exercise.id]
        context = {
            "exercise": self.exercise.id,
            # In a group everyone reads the finish, and each person's Done logs their own
            # target: no one's target is shown there, only the exercise's range.
            "target": target,
            "start": self.exercise.start_target,
            "most": self.exercise.max_target,
            "per_side": self.exercise.per_side,
            # In a group a bare "done" is the day's session: the button logs this exercise.
            "in_group": turn.in_community,
        }
        # The button logs this exercise (not the whole session) whenever it is pressed.
        done = action("done", "done_now", f"{walk}.{self.exercise.id}")
        back = self.back_from_finish(walk)
        if turn.in_community:  # "later" would only post the menu for everyone
            return Reply("exercise/finish", context, choices=(done, back))
        choices = (done, back, action("menu", "later"))
        return Reply("exercise/finish", context, choices=choices)


def _walk_id(turn: Turn) -> str:
    # A walk-through stored before walk-throughs had ids gets one at its finish.
    walk = turn.conversation.data.get(WALK_ID)
    return walk if isinstance(walk, str) and walk else turn.nonce()

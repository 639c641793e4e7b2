"""Walks the symptom check (bot/flows/check.py) one question per message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.engine.progress import progress
from bot.engine.turn import Answer, Turn, action, stamp
from bot.flows import check
from bot.model import NUMBERED_CHOICES, Choice, Reply
from bot.parse import Word, acknowledges, starts_with_yes
from bot.store import Store
from bot.store.checks import CheckRecord

BACK = Choice("back", "back")
# Typed, "yes" and "no" answer the offer too (a choice's value ending in the word).
AFTER_RESULT = (
    action("bridge", "start_now", Word.YES.value),
    action("menu", "later", Word.NO.value),
)
RECHECK = (action("check", "recheck"),)


def flagged(record: CheckRecord) -> bool:
    """A check that ended on a red flag rather than with a score."""
    return record.band not in check.SCORED_BANDS


async def warning_on_record(store: Store, user_id: int) -> CheckRecord | None:
    """The person's latest check, if it ended on a red flag: until a later check comes
    out clear, glutebot gives them advice instead of a workout."""
    latest = await store.checks.latest(user_id)
    return latest if latest is not None and flagged(latest) else None


def held_back(warning: CheckRecord) -> Reply:
    """In place of a workout, for someone whose latest check raised a red flag."""
    return Reply("check/hold", {"flag": warning.band}, choices=RECHECK, private=True)


def raise_flag(turn: Turn, flag: str, answers: Mapping[str, str]) -> list[Reply]:
    """The advice for a red flag (`check.Kind`'s flag values), answered in the check or
    typed in the person's own words. The flag is kept, so that no workout is offered until
    a later check comes out clear, and whatever they were doing ends."""
    turn.writes.append(
        turn.store.checks.save(
            turn.user.id, at=turn.now, band=flag, score=0, symptom_count=0, answers=answers
        )
    )
    turn.go("menu")
    # Nor do the buttons they last had in private answer any more (the finish of a
    # walk-through, when the flag was told in a group): the advice is the last word there.
    turn.conversation = replace(turn.conversation, offered=())
    return [Reply(f"check/{flag}", private=True)]


class CheckFlow:
    name = "check"
    steps = len(check.QUESTIONS)

    def start(self, turn: Turn) -> list[Reply]:
        turn.go(self.name, 0, {"answers": {}})
        return [Reply("check/intro", private=True), *self.prompt(turn)]

    def prompt(self, turn: Turn) -> list[Reply]:
        step = turn.conversation.step
        question = check.QUESTIONS[step]
        context = {"number": step + 1, "total": len(check.QUESTIONS)}
        return [
            Reply(
                question.template,
                context,
                choices=stamp(self.name, step, self.choices(turn)),
                private=True,
            )
        ]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        step = turn.conversation.step
        back = (BACK,) if step > 0 else ()
        return (*check.QUESTIONS[step].choices, *back)

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        step = turn.conversation.step
        answers = dict(turn.conversation.data.get("answers", {}))
        question = check.QUESTIONS[step]
        value = answer.value
        safety = question.kind in check.FLAGS
        if answer.number is not None and turn.incoming.chat.platform not in NUMBERED_CHOICES:
            # Under buttons without numbers, "3" to "how many hours?" means 3 hours; to
            # the list of warning signs, "2" is a count of them as likely as a button.
            if safety:
                return [Reply("check/yes_or_no", private=True), *self.prompt(turn)]
            value = question.read(None, answer.text) or value
        if value == BACK.value or answer.word is Word.BACK:
            turn.go(self.name, max(step - 1, 0), {"answers": answers})
            return self.prompt(turn)
        if value is None and question.hesitant(answer.word):
            return [self._unsure(question), *self.prompt(turn)]
        if safety and answer.number is None and acknowledges(answer.text):
            # "ok" here is as likely a nod to the intro as a yes that ends the check.
            return [Reply("check/yes_or_no", private=True), *self.prompt(turn)]
        value = value or question.read(answer.word, answer.text)
        if value is None and safety and starts_with_yes(answer.text):
            value = check.YES.value  # "yes, a little", "yes I have": any yes here counts
        if value not in question.points:
            return None
        answers[question.id] = value
        flag = check.red_flag(answers)
        if flag is not None:
            return raise_flag(turn, flag, answers)
        if step + 1 < len(check.QUESTIONS):
            turn.go(self.name, step + 1, {"answers": answers})
            return self.prompt(turn)
        return await self._result(turn, answers)

    @staticmethod
    def _unsure(question: check.Question) -> Reply:
        return Reply("check/unsure", {"kind": str(question.kind)}, private=True)

    async def _result(self, turn: Turn, answers: dict[str, str]) -> list[Reply]:
        """The result, why it happens, and the plan: one idea a message, the offer to
        start on the last."""
        result = check.score(answers)
        first = await turn.store.checks.first(turn.user.id, check.SCORED_BANDS)
        turn.writes.append(
            turn.store.checks.save(
                turn.user.id,
                at=turn.now,
                band=result.band,
                score=result.score,
                symptom_count=result.symptom_count,
                answers=answers,
            )
        )
        turn.go("menu")
        context = {
            "band": str(result.band),
            "symptoms": result.symptoms,
            "risks": result.risks,
            "symptom_count": result.symptom_count,
            "symptom_total": len(check.SYMPTOM_IDS),
            "first_count": first.symptom_count if first else None,
            "first_date": first.taken_at.astimezone(turn.tz).date() if first else None,
        }
        # The plan picks up from where they are, for someone who has been training.
        so_far = progress(await turn.store.reps.day_totals(turn.user.id), turn.today)
        return [
            Reply("check/result", context, private=True),
            Reply("check/why", private=True),
            Reply(
                "check/plan", {"progress": so_far.context()}, choices=AFTER_RESULT, private=True
            ),
        ]

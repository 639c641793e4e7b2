"""The symptom check as data: questions in order, their choices and their points.

Scoring rule (also in the README): each symptom scores yes = 2, sometimes = 1, no = 0
(at most 8); the risk factors add up to 4 more. The band is
  likely   when symptoms >= 5, or symptoms >= 3 and risk >= 2;
  possible when symptoms >= 2, or symptoms >= 1 and risk >= 2;
  unlikely otherwise.
A "yes" to either red-flag question ends the check with advice to see a professional;
"not sure" or "maybe" there gets advice to be checked first, and the question again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.model import Choice
from bot.parse import Word, normalise


class Kind(StrEnum):
    URGENT_FLAG = "urgent_flag"
    RED_FLAG = "red_flag"
    SYMPTOM = "symptom"
    RISK = "risk"


class Band(StrEnum):
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    LIKELY = "likely"


YES = Choice("yes", "yes")
NO = Choice("no", "no")
SOMETIMES = Choice("sometimes", "sometimes")
# Neither yes nor no. Where there is a "sometimes" choice, "maybe" picks it; "not sure"
# picks nothing anywhere.
HESITANT = frozenset({Word.UNSURE, Word.SOMETIMES})


@dataclass(frozen=True)
class Question:
    id: str
    kind: Kind
    choices: tuple[Choice, ...]
    points: Mapping[str, int]
    # Typed answers that pick a choice besides its label or number: a word ("no" for
    # "I don't run"), or a free reading of the text (a number of hours).
    words: Mapping[Word, str] = field(default_factory=dict)
    reading: Callable[[str], str | None] | None = None

    @property
    def template(self) -> str:
        return f"check/q_{self.id}"

    def read(self, word: Word | None, text: str) -> str | None:
        """The choice a typed answer picks, when it isn't a choice's label or number."""
        if word is not None and word in self.words:
            return self.words[word]
        return self.reading(text) if self.reading is not None else None

    def hesitant(self, word: Word | None) -> bool:
        """ "Not sure" (or "maybe" where no choice is "sometimes"): not an answer. At a
        red-flag question it is a reason to be checked by a professional all the same;
        elsewhere a best guess will do, and the person is told so."""
        if word is Word.SOMETIMES:
            return SOMETIMES not in self.choices
        return word is Word.UNSURE


# "Often", "always": how often it happens, and a yes.
_OFTEN_IS_YES = {Word.OFTEN: "yes"}


def _yes_no(id: str, kind: Kind) -> Question:
    return Question(id, kind, (YES, NO), {"yes": 1, "no": 0}, words=_OFTEN_IS_YES)


def _symptom(id: str, reading: Callable[[str], str | None] | None = None) -> Question:
    return Question(
        id,
        Kind.SYMPTOM,
        (YES, SOMETIMES, NO),
        {"yes": 2, "sometimes": 1, "no": 0},
        words=_OFTEN_IS_YES,
        reading=reading,
    )


_NOT_LIFTING = re.compile(r"(?:i )?(?:don't|dont|do not|never) lift(?: weights)?|n/?a")


def _not_lifting(text: str) -> str | None:
    """ "I don't lift": the "no" the question about lifting asks for then."""
    return NO.value if _NOT_LIFTING.fullmatch(normalise(text)) else None


_HOURS = re.compile(
    r"(?:about |around |roughly |~)?(\d{1,2}(?:[.,]\d{1,2})?)\s*(h|hrs?|hours?)?(?: a day)?"
)


def _sitting_hours(text: str) -> str | None:
    """ "10", "3 hours", "about 6h", "7.5": the hours themselves. In the terminal, where the
    options are numbered, a bare number up to 4 picks that option instead ("3" is "More
    than 8 hours", as listed)."""
    match = _HOURS.fullmatch(normalise(text))
    if match is None:
        return None
    hours = float(match[1].replace(",", "."))
    if hours > 24:
        return None
    return "under4" if hours < 4 else "4to8" if hours <= 8 else "over8"


QUESTIONS: tuple[Question, ...] = (
    _yes_no("bladder_saddle", Kind.URGENT_FLAG),
    _yes_no("red_flags", Kind.RED_FLAG),
    _symptom("numb_after_sitting"),
    _symptom("weaker_lifts", reading=_not_lifting),
    _symptom("stiff_joints"),
    _symptom("lower_leg_pain"),
    Question(
        "sitting_hours",
        Kind.RISK,
        (Choice("under4", "under4"), Choice("4to8", "4to8"), Choice("over8", "over8")),
        {"under4": 0, "4to8": 1, "over8": 2},
        reading=_sitting_hours,
    ),
    Question(
        "running",
        Kind.RISK,
        tuple(Choice(value, value) for value in ("run_only", "run_strength", "no_run")),
        {"run_only": 1, "run_strength": 0, "no_run": 0},
        words={Word.NO: "no_run"},
    ),
    _yes_no("posture", Kind.RISK),
)
SYMPTOM_IDS = tuple(q.id for q in QUESTIONS if q.kind is Kind.SYMPTOM)
# A check is stored with its band, or with the red flag that ended it early.
SCORED_BANDS = tuple(Band)
FLAGS = (Kind.URGENT_FLAG, Kind.RED_FLAG)


@dataclass(frozen=True)
class Result:
    band: Band
    score: int
    risk: int
    symptoms: tuple[str, ...]
    risks: tuple[str, ...]

    @property
    def symptom_count(self) -> int:
        return len(self.symptoms)


def red_flag(answers: Mapping[str, str]) -> Kind | None:
    """The first red flag answered yes, if any."""
    for question in QUESTIONS:
        flagged = answers.get(question.id) == "yes"
        if flagged and question.kind in (Kind.URGENT_FLAG, Kind.RED_FLAG):
            return question.kind
    return None


def score(answers: Mapping[str, str]) -> Result:
    def points(kind: Kind) -> dict[str, int]:
        return {
            q.id: q.points[answers[q.id]]
            for q in QUESTIONS
            if q.kind is kind and answers.get(q.id) in q.points
        }

    symptoms, risks = points(Kind.SYMPTOM), points(Kind.RISK)
    score, risk = sum(symptoms.values()), sum(risks.values())
    if score >= 5 or (score >= 3 and risk >= 2):
        band = Band.LIKELY
    elif score >= 2 or (score >= 1 and risk >= 2):
        band = Band.POSSIBLE
    else:
        band = Band.UNLIKELY
    return Result(
        band=band,
        score=score,
        risk=risk,
        symptoms=tuple(id for id, value in symptoms.items() if value),
        risks=tuple(id for id, value in risks.items() if value),
    )

"""Free text → what the person meant. Pure functions; no wording, no state."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from bot.flows.exercises import EXERCISES

MAX_REPS_PER_ENTRY = 500


class Word(StrEnum):
    YES = "yes"
    NO = "no"
    SOMETIMES = "sometimes"
    NEXT = "next"
    BACK = "back"
    CANCEL = "cancel"
    HELP = "help"
    UNDO = "undo"
    MENU = "menu"
    HELLO = "hello"
    STATS = "stats"


class RepProblem(StrEnum):
    ZERO = "zero"
    NEGATIVE = "negative"
    TOO_MANY = "too_many"
    NOT_A_NUMBER = "not_a_number"
    UNKNOWN_EXERCISE = "unknown_exercise"


@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


@dataclass(frozen=True)
class Done:
    """ "done" with whatever it said: reps and exercise are None when not given."""

    reps: int | None = None
    exercise: str | None = None
    problem: RepProblem | None = None


@dataclass(frozen=True)
class Said:
    word: Word | None
    number: int | None
    text: str


Intent = Command | Done | Said

_WORDS: dict[Word, tuple[str, ...]] = {
    Word.YES: (
        "yes",
        "y",
        "yeah",
        "yep",
        "yup",
        "yea",
        "sure",
        "ok",
        "okay",
        "of course",
        "definitely",
        "i do",
        "correct",
        "true",
        "👍",
        "si",
        "ja",
    ),
    Word.NO: (
        "no",
        "n",
        "nope",
        "nah",
        "not really",
        "never",
        "no thanks",
        "i don't",
        "i do not",
        "false",
        "👎",
        "non",
        "nein",
    ),
    Word.SOMETIMES: (
        "sometimes",
        "a bit",
        "a little",
        "occasionally",
        "kind of",
        "kinda",
        "maybe",
        "somewhat",
        "now and then",
        "s",
    ),
    Word.NEXT: ("next", "go on", "continue", "carry on", "got it", "→", "➡️"),
    Word.BACK: ("back", "previous", "prev", "go back", "←", "⬅️"),
    Word.CANCEL: ("cancel", "stop", "quit", "exit", "abort", "never mind", "nevermind"),
    Word.HELP: ("help", "?", "how", "what", "commands", "huh"),
    Word.UNDO: ("undo", "oops", "remove last", "delete last"),
    Word.MENU: ("menu", "main menu", "home"),
    Word.HELLO: ("hi", "hello", "hey", "hiya", "start"),
    Word.STATS: ("stats", "progress", "my progress", "statistics"),
}
_WORD_OF = {synonym: word for word, synonyms in _WORDS.items() for synonym in synonyms}

EXERCISE_ALIASES = {
    name: exercise.id
    for exercise in EXERCISES.values()
    for name in (exercise.id, *exercise.aliases)
}
_PER_SIDE = re.compile(r"\b(per|each|a|every)\s+(side|leg)\b|\bper-side\b|\beach\b")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
_DONE = re.compile(r"^(?:done|finished|completed)\b(.*)$", re.DOTALL)
_FILLER = re.compile(
    r"\b(x|reps?|times|of|the|my|with|for|today|it|all|workout|session|them|that|and"
    r"|thanks|thank you|thx|ty|cheers|yay|woo+|phew|just|now|again|already)\b"
)
MINUS_SIGN = "\u2212"
_NUMBER = re.compile(rf"[-+{MINUS_SIGN}]?\d+(?:[.,]\d+)?")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .!,;:\"'")


def parse(text: str) -> Intent:
    stripped = text.strip()
    command = _COMMAND.match(stripped)
    if command:
        return Command(command.group(1).lower(), (command.group(2) or "").strip())
    words = normalise(stripped)
    done = _DONE.match(words)
    if done:
        return parse_done(done.group(1))
    word = _WORD_OF.get(words)
    return Said(word=word, number=_whole_number(words), text=stripped)


def parse_done(rest: str) -> Done:
    """Reads what follows "done": "15", "12 lunges", "bridge 20", "8 per side"."""
    rest = normalise(rest)
    per_side = bool(_PER_SIDE.search(rest))
    numbers = _NUMBER.findall(rest)
    words = _FILLER.sub(" ", _NUMBER.sub(" ", _PER_SIDE.sub(" ", rest)))
    # Emoji and punctuation carry no count or exercise: "Done ✅", "done, thanks!".
    words = "".join(" " if _is_decoration(ch) else ch for ch in words)
    words = re.sub(r"\s+", " ", words).strip()
    exercise = EXERCISE_ALIASES.get(words) if words else ("lunge" if per_side else None)
    if exercise is None and words:
        unknown = RepProblem.UNKNOWN_EXERCISE if numbers else RepProblem.NOT_A_NUMBER
        return Done(problem=unknown)
    if not numbers:
        return Done(exercise=exercise)
    if len(numbers) > 1:
        return Done(exercise=exercise, problem=RepProblem.NOT_A_NUMBER)
    return _checked_reps(numbers[0], exercise)


def _checked_reps(raw: str, exercise: str | None) -> Done:
    raw = raw.replace(MINUS_SIGN, "-").replace(",", ".")
    if "." in raw:
        return Done(exercise=exercise, problem=RepProblem.NOT_A_NUMBER)
    if len(raw.lstrip("+-").lstrip("0")) > len(str(MAX_REPS_PER_ENTRY)):
        # Huge counts are refused before int(), which rejects over 4,300 digits.
        reps = -1 if raw.startswith("-") else MAX_REPS_PER_ENTRY + 1
    else:
        reps = int(raw)
    if reps < 0:
        return Done(exercise=exercise, problem=RepProblem.NEGATIVE)
    if reps == 0:
        return Done(exercise=exercise, problem=RepProblem.ZERO)
    if reps > MAX_REPS_PER_ENTRY:
        return Done(exercise=exercise, problem=RepProblem.TOO_MANY)
    return Done(reps=reps, exercise=exercise)


def _is_decoration(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _whole_number(words: str) -> int | None:
    # Only a bare number counts ("2", "#2", "2)"), so "2 hours" is not option 2.
    match = re.fullmatch(r"#?\s*(\d{1,6})\s*[).]?", words)
    return int(match.group(1)) if match else None

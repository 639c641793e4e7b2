"""Free text → what the person meant. Pure functions; no wording, no state."""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.flows.exercises import EXERCISES

MAX_REPS_PER_ENTRY = 500


class Word(StrEnum):
    YES = "yes"
    NO = "no"
    SOMETIMES = "sometimes"
    OFTEN = "often"
    NEXT = "next"
    BACK = "back"
    CANCEL = "cancel"
    HELP = "help"
    UNDO = "undo"
    MENU = "menu"
    HELLO = "hello"
    STATS = "stats"
    UNSURE = "unsure"
    THANKS = "thanks"


class RepProblem(StrEnum):
    ZERO = "zero"
    NEGATIVE = "negative"
    TOO_MANY = "too_many"
    NOT_A_NUMBER = "not_a_number"
    UNKNOWN_EXERCISE = "unknown_exercise"
    SEVERAL_EXERCISES = "several_exercises"
    # "done 2 sets": how many in each?
    SETS_WITHOUT_REPS = "sets_without_reps"


# A count that was read but is out of range: a log meant as one, unlike "done deal".
COUNT_PROBLEMS = frozenset({RepProblem.ZERO, RepProblem.NEGATIVE, RepProblem.TOO_MANY})


@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


@dataclass(frozen=True)
class Done:
    """ "done" with whatever it said: reps and exercise are None when not given. With
    several exercises named, `parts` are the logs to send one at a time, if each is one
    exercise with one sane count ("15 bridges 10 lunges"). `casual`: said in everyday
    words ("finished", "I did it") rather than "done", the word the bot asks for."""

    reps: int | None = None
    exercise: str | None = None
    problem: RepProblem | None = None
    parts: tuple[Done, ...] = ()
    casual: bool = False


@dataclass(frozen=True)
class Said:
    word: Word | None
    number: int | None
    text: str


class Concern(StrEnum):
    """Something worrying said in the person's own words, most serious first. The first
    two are the symptom check's red flags (their values are its kinds)."""

    URGENT = "urgent_flag"  # bladder or bowel trouble, numbness in the saddle area
    RED_FLAG = "red_flag"  # spreading, worsening, after a fall or injury
    PAIN = "pain"  # pain during an exercise: stop


@dataclass(frozen=True)
class Reported:
    concern: Concern
    text: str


Intent = Command | Done | Said | Reported

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
        "✅",
        "✔️",
        "si",
        "sí",
        "ja",
        "oui",
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
        "not at all",
        "none",
        "none of them",
        "none of these",
        "none of those",
        "👎",
        "❌",
        "✖️",
        "non",
        "nein",
    ),
    # How often, at the symptom check: its "Yes".
    Word.OFTEN: (
        "often",
        "always",
        "all the time",
        "a lot",
        "usually",
        "mostly",
        "most of the time",
        "every time",
        "frequently",
        "constantly",
    ),
    Word.SOMETIMES: (
        "sometimes",
        "a bit",
        "a little",
        "occasionally",
        "kind of",
        "kinda",
        "sort of",
        "sorta",
        "maybe",
        "somewhat",
        "now and then",
        "every now and then",
        "rarely",
        "not often",
        "once in a while",
        "from time to time",
        "on and off",
        "s",
    ),
    Word.NEXT: ("next", "go on", "continue", "carry on", "got it", "→", "➡️"),
    Word.BACK: ("back", "previous", "prev", "go back", "oops", "←", "⬅️"),
    Word.CANCEL: ("cancel", "stop", "quit", "exit", "abort", "never mind", "nevermind"),
    Word.HELP: ("help", "?", "how", "what", "commands", "huh"),
    # Not "oops": in a conversation it means "I answered wrong" (back), not "delete my log".
    Word.UNDO: ("undo", "remove last", "delete last"),
    Word.MENU: ("menu", "main menu", "home"),
    Word.HELLO: ("hi", "hello", "hey", "hiya", "start"),
    Word.STATS: ("stats", "progress", "my progress", "statistics"),
    Word.THANKS: (
        "thanks",
        "thank you",
        "thanks a lot",
        "thanks so much",
        "thank you so much",
        "many thanks",
        "thx",
        "ty",
        "cheers",
        "ta",
    ),
    # Not "maybe": at a symptom question it has always meant "sometimes".
    Word.UNSURE: (
        "i think so",
        "probably",
        "possibly",
        "perhaps",
        "i guess",
        "i guess so",
        "might be",
        "not sure",
        "i'm not sure",
        "im not sure",
        "i am not sure",
        "unsure",
        "don't know",
        "dont know",
        "i don't know",
        "i dont know",
        "dunno",
        "idk",
        "no idea",
        "not certain",
        "can't say",
        "can't tell",
        "hard to say",
    ),
}

EXERCISE_ALIASES = {
    name: exercise.id
    for exercise in EXERCISES.values()
    for name in (exercise.id, *exercise.aliases)
}
_EXERCISE_NAME = re.compile(
    r"\b(?:{})\b".format("|".join(sorted(map(re.escape, EXERCISE_ALIASES), key=len)[::-1]))
)
_PER_SIDE = re.compile(
    r"\b(?:on\s+)?(per|each|a|every)\s+(side|leg)\b|\bper-side\b|\b(?:on\s+)?each\b"
)
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
_DONE = re.compile(r"^done\b(.*)$", re.DOTALL)
# Everyday ways of saying it. Not "I'm done", which as often means "I give up".
_DONE_CASUALLY = re.compile(
    r"^(?:(?:i|i've|i have|just|all) )*(?:did (?:it|them|that)|did(?= ?\d)|finished|completed"
    r"|done)\b(.*)$",
    re.DOTALL,
)
_FILLER = re.compile(
    r"\b(x|reps?|times|of|the|my|with|for|today|it|all|workout|session|them|that|and"
    r"|thanks|thank you|thx|ty|cheers|yay|woo+|phew|just|now|again|already)\b"
)
MINUS_SIGN = "\u2212"
_NUMBER = re.compile(rf"[-+{MINUS_SIGN}]?\d+(?:[.,]\d+)?")
# Sets, as the workout gives them: "2x10", "2 x 10", "2 sets of 10" are 20 reps. An "each"
# after them is each set's ("2 sets of 10 each"), not each side's.
_SETS = re.compile(
    r"(?<![\d.,])([1-9]\d?) ?(?:x|\u00d7|\*|sets? of) ?(\d{1,3})(?![\d.,])"
    r"(?: each\b(?! (?:side|leg)))?"
)
_SETS_WORD = re.compile(r"\bsets?\b")


# Curly quotes and apostrophes as phones type them, the modifier-letter apostrophe and
# the acute accent some keyboards give for one: all as typed on a PC.
_QUOTES = str.maketrans("\u2018\u2019\u201b\u02bc\u00b4\u201c\u201d\u201e", "'''''\"\"\"")
# What only shapes an emoji: variation selectors, skin tones, the keycap of "1️⃣".
_EMOJI_PARTS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef\U0001f3fb-\U0001f3ff\u20e3]")


def visible(text: str) -> str:
    """The text without the invisible format characters that keyboards and copying add
    (a right-to-left keyboard's direction marks, zero-width spaces, a byte-order mark):
    they aren't what was typed, and would keep "/stats" from being a command, or "07:30"
    a time."""
    return "".join(char for char in text if unicodedata.category(char) != "Cf")


def normalise(text: str) -> str:
    """Text as typed answers are compared: case, quotes, spacing and emoji don't count
    ("I did it" is "I did it ✅"), unless an emoji is all there is ("👍")."""
    text = unicodedata.normalize("NFKC", text.translate(_QUOTES)).casefold()
    text = _EMOJI_PARTS.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    # Pictures (So) and modifier marks (Sk) only: math and currency signs keep their
    # meaning ("<4 hours" is not "4 hours").
    words = "".join(" " if unicodedata.category(ch) in ("So", "Sk") else ch for ch in text)
    return _tidy(words) or _tidy(text)


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(" .!,;:\"'")


# Keyed as normalise spells typed text ("➡️" comes out as "➡").
_WORD_OF = {normalise(s): word for word, synonyms in _WORDS.items() for s in synonyms}
# Yes-words that as often only mean "I've read that": not an answer where yes is serious.
_ACKNOWLEDGEMENTS = frozenset(normalise(s) for s in ("ok", "okay", "sure", "👍"))


# The yes-words that may start a longer answer ("yes, a little", "yeah I have"): the
# one-word ones that aren't just a nod ("ok"), and never "yes and no".
_YES_FIRST = re.compile(
    r"^(?:{})\b(?! (?:and )?no\b)".format(
        "|".join(
            re.escape(yes)
            for yes in map(normalise, _WORDS[Word.YES])
            if yes.isalpha() and yes not in _ACKNOWLEDGEMENTS
        )
    )
)


def starts_with_yes(text: str) -> bool:
    return _YES_FIRST.match(normalise(text)) is not None


def acknowledges(text: str) -> bool:
    """ "ok", "sure", 👍: a yes to a question, or a nod to what was just said."""
    return normalise(text) in _ACKNOWLEDGEMENTS


def parse(text: str) -> Intent:
    stripped = text.strip()
    command = _COMMAND.match(visible(stripped).strip())
    if command:
        return Command(command.group(1).lower(), (command.group(2) or "").strip())
    words = normalise(stripped)
    # Before "done": "done, but my leg went numb" is a warning, not a log.
    if (said := concern(words)) is not None:
        return Reported(said, stripped)
    done = _DONE.match(words)
    if done:
        return parse_done(done.group(1))
    # "Finished?" asks rather than tells.
    casual = None if words.endswith("?") else _DONE_CASUALLY.match(words)
    if casual and (said_done := _done_casually(casual.group(1))) is not None:
        return said_done
    word = _WORD_OF.get(words)
    return Said(word=word, number=_whole_number(words), text=stripped)


_LEG = r"(?:legs?|calf|calves|foot|feet|thighs?|knees?|ankles?|toes?|shins?)"
_GROIN = r"(?:groin|genitals?|inner thighs?|saddle|crotch|between my legs|perineum)"
_NUMB = r"(?:numb\w*|tingl\w*|pins and needles|no feeling|can't feel|cannot feel)"
_HURTS = r"(?:pain\w*|hurts?|hurting|aches?|aching|sore)"
_BODY = rf"(?:back|neck|hips?|glutes?|bum|butt|hamstrings?|{_LEG})"
# Each pattern reads one of CONTENT.md's warning signs, as people put them. The bum
# going numb after sitting is the condition itself (the check asks about it), not a
# warning: only numbness of a leg, spreading, or in the saddle area is.
_CONCERNS: tuple[tuple[Concern, re.Pattern[str]], ...] = (
    (
        Concern.URGENT,
        re.compile(
            r"\b(?:bladder|bowels?|incontinen\w*|wet (?:myself|my pants)"
            r"|(?:pee|peed|wee|weed|poo|pooed|soil|soiled) myself"
            r"|can't (?:pee|wee|urinate|hold (?:it|my (?:pee|wee|urine)))"
            rf"|{_NUMB}[^.!?]{{0,30}}\b{_GROIN}|{_GROIN}[^.!?]{{0,30}}\b{_NUMB})"
        ),
    ),
    (
        Concern.RED_FLAG,
        re.compile(
            rf"\b(?:(?:{_NUMB}|{_HURTS}|shooting|burning)[^.!?]{{0,30}}"
            rf"\b(?:down|into|along|through|to) (?:my |the |both |one |either )?"
            rf"(?:left |right |other )?{_LEG}"
            rf"|{_NUMB}[^.!?]{{0,20}}\b(?:in|of) (?:my |the |both |one )?(?:left |right )?{_LEG}"
            rf"|{_LEG} (?:\w+ ){{0,3}}(?:numb\w*|tingl\w*|dead|weaker|giving (?:way|out))"
            r"|(?:leg|legs) (?:\w+ ){0,3}(?:getting|going|gone|more and more) weak"
            r"|(?:spreading|radiating|shooting) (?:down|into|to)"
            r"|(?:severe|unbearable|excruciating|extreme|terrible|intense|agonising|agonizing)"
            rf" (?:\w+ )?{_HURTS}"
            rf"|{_HURTS}[^.!?]{{0,30}}\b(?:getting worse|worse and worse|worsening|unbearable"
            r"|excruciating|won't go away|won't stop)"
            r"|in agony|can't (?:walk|stand up|put weight)"
            r"|injur\w*|hurt myself"
            rf"|\bi(?: have|'ve)? hurt my {_BODY}\b"
            rf"|\b(?:can't|cannot) feel (?:my |either |both )?(?:left |right )?{_LEG}"
            rf"|(?:fell|fall|fallen|tripped|slipped|accident|crash)\b[^.!?]{{0,40}}\b{_HURTS}"
            rf"|{_HURTS}[^.!?]{{0,40}}\b(?:fell|fall|fallen|tripped|slipped|accident|crash)\b)"
        ),
    ),
    (
        Concern.PAIN,
        re.compile(
            r"\b(?:sharp|stabbing|shooting|sudden) (?:\w+ )?(?:pain|ache)"
            r"|\b(?:it|that|this|my \w+|\w+s) (?:\w+ )?(?:hurts|is hurting|are hurting)\b"
            r"|\b(?:ouch|ow+|owie)\b|\bpain in my\b|\bpulled a muscle\b"
            r"|\bcramp(?:s|ing)?\b|\bpainful\b"
            # Said on its own, mid-exercise: "pain", "that hurt", "knee pain", "I'm in pain".
            r"|^(?:(?:ow+|ouch) )?(?:(?:it|that|this) (?:really )?)?(?:pain|hurts?|hurting)$"
            r"|\bi(?:'m| am)? (?:feel(?:ing)?|in|having) (?:a |some )?pain\b"
            rf"|^(?:my )?(?:lower |upper )?{_BODY} pain$"
        ),
    ),
)
# "no pain", "doesn't hurt", "not numb": said to reassure, not to warn.
_NEGATED = re.compile(
    r"\b(?:no|not|never|without|nor|none|don't|doesn't|isn't|aren't|wasn't|didn't|hasn't"
    r"|haven't|free of)\b(?: \w+){0,2} ?$"
)


def concern(words: str) -> Concern | None:
    """The most serious warning sign or pain in `words` (text as `normalise` gives it),
    if any. "No pain", "it doesn't hurt" and the like are not a concern."""
    for kind, pattern in _CONCERNS:
        for match in pattern.finditer(words):
            if not _NEGATED.search(words[: match.start()]):
                return kind
    return None


def says_done(text: str) -> bool:
    """Whether `text` logs reps: "done 15", "finished", "/done 15"."""
    said = parse(text)
    return isinstance(said, Done) or (isinstance(said, Command) and said.name == "done")


def parse_done(rest: str) -> Done:
    """Reads what follows "done": "15", "12 lunges", "bridge 20", "8 per side"."""
    rest = _SETS.sub(lambda sets: str(int(sets[1]) * int(sets[2])), normalise(rest))
    per_side = bool(_PER_SIDE.search(rest))
    numbers = _NUMBER.findall(rest)
    words = _FILLER.sub(" ", _NUMBER.sub(" ", _PER_SIDE.sub(" ", rest)))
    # Emoji and punctuation carry no count or exercise: "Done ✅", "done, thanks!".
    words = "".join(" " if _is_decoration(ch) else ch for ch in words)
    words = re.sub(r"\s+", " ", words).strip()
    exercise = EXERCISE_ALIASES.get(words) if words else ("lunge" if per_side else None)
    if exercise is None and words and len(numbers) == 1 and not _odd_count(rest):
        exercise = _only_exercise_named(words)  # "20 bridges this morning"
    if exercise is None and words:
        return _unreadable(rest, words, numbers)
    if not numbers:
        return Done(exercise=exercise)
    if len(numbers) > 1:
        return Done(exercise=exercise, problem=RepProblem.NOT_A_NUMBER)
    return _checked_reps(numbers[0], exercise)


def _done_casually(rest: str) -> Done | None:
    """ "finished", "I did it", "did them": a log when what follows is nothing, or has a
    count or an exercise in it. "Did it hurt?" or "finished the report" is just talk."""
    done = replace(parse_done(rest), casual=True)
    if done.problem is not None and not (_NUMBER.search(rest) or _EXERCISE_NAME.search(rest)):
        return None
    return done


def _only_exercise_named(words: str) -> str | None:
    """The one exercise `words` name among others, if they name exactly one: a count and
    an exercise are all a log needs, and the rest is talk ("this morning")."""
    if _SETS_WORD.search(words):  # "3 sets of bridges": how many in each?
        return None
    named = {EXERCISE_ALIASES[name] for name in _EXERCISE_NAME.findall(words)}
    return named.pop() if len(named) == 1 else None


def _unreadable(rest: str, words: str, numbers: list[str]) -> Done:
    """Why a "done" whose words aren't one exercise can't be logged."""
    if not _EXERCISE_NAME.sub(" ", words).strip():  # nothing but exercise names
        named = {EXERCISE_ALIASES[name] for name in _EXERCISE_NAME.findall(words)}
        if len(named) > 1:
            return Done(problem=RepProblem.SEVERAL_EXERCISES, parts=_parts(rest))
        return Done(problem=RepProblem.NOT_A_NUMBER)  # "10 bridges 10 bridges"
    if numbers and _SETS_WORD.search(words):
        return Done(problem=RepProblem.SETS_WITHOUT_REPS)
    if numbers and not _odd_count(rest):
        return Done(problem=RepProblem.UNKNOWN_EXERCISE)
    return Done(problem=RepProblem.NOT_A_NUMBER)


def _parts(rest: str) -> tuple[Done, ...]:
    """ "15 bridges and 10 lunges" (or "bridges 15, lunges 10") as one log per exercise:
    () unless counts and exercises take turns, in pairs, and every count checks out."""
    spaced = _NUMBER.sub(lambda number: f" {number[0]} ", rest)  # "15bridges"
    pieces = re.findall(rf"({_NUMBER.pattern})|({_EXERCISE_NAME.pattern})", spaced)
    is_count = [bool(count) for count, _ in pieces]
    if len(pieces) % 2 or any(a == b for a, b in itertools.pairwise(is_count)):
        return ()
    pairs = zip(pieces[::2], pieces[1::2], strict=True)
    parts = tuple(_checked_reps(a[0] or b[0], EXERCISE_ALIASES[a[1] or b[1]]) for a, b in pairs)
    return () if any(part.problem for part in parts) else parts


def _odd_count(rest: str) -> bool:
    """A number run together with letters that aren't a word of a log: "1e3", "10k"
    (while "20x", "12lunges" and "15reps" read)."""
    for token in re.findall(r"[^\W_]+", rest):
        letters = re.findall(r"[^\W\d_]+", token)
        if letters != [token] and not all(map(_log_word, letters)):
            return True
    return False


def _log_word(word: str) -> bool:
    return word in EXERCISE_ALIASES or _FILLER.fullmatch(word) is not None


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


# Command names understood typed as plain words too, once the conversation didn't take
# them as an answer (exercise names too: "lunge"). Others are Words already ("stats").
PLAIN_COMMANDS = frozenset({"check", "workout", "learn", "remind", "leaderboard", "forget"})
# Those of them whose words after the name matter, typed plain too: "remind off",
# "remind 07:30 London", "leaderboard hide".
PLAIN_WITH_WORDS = frozenset({"remind", "leaderboard"})


def plain_command(text: str) -> Command | None:
    """A command's name typed without its slash ("workout", "lunge", "remind off"): what
    the person meant, once nothing in the conversation took it as an answer."""
    typed = normalise(text)
    if typed in EXERCISE_ALIASES:
        return Command(EXERCISE_ALIASES[typed])
    if typed in PLAIN_COMMANDS:
        return Command(typed)
    name, _, words = text.strip().partition(" ")
    name = normalise(name)
    return Command(name, words.strip()) if name in PLAIN_WITH_WORDS and words.strip() else None

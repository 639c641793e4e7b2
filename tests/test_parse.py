"""The free-text parser: examples, and properties over any text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.parse import (
    MAX_REPS_PER_ENTRY,
    Command,
    Concern,
    Done,
    Reported,
    RepProblem,
    Said,
    Word,
    normalise,
    parse,
    parse_done,
)


@pytest.mark.parametrize(
    ("text", "word"),
    [("yes", Word.YES), ("Y", Word.YES), ("yeah!", Word.YES), ("nope", Word.NO),
     ("n", Word.NO), ("Not really", Word.NO), ("sometimes", Word.SOMETIMES),
     ("next", Word.NEXT), ("back", Word.BACK), ("Cancel", Word.CANCEL), ("help", Word.HELP),
     ("undo", Word.UNDO), ("Rarely", Word.SOMETIMES), ("once in a while", Word.SOMETIMES)],
)  # fmt: skip
def test_words_and_synonyms(text: str, word: Word) -> None:
    said = parse(text)
    assert isinstance(said, Said)
    assert said.word is word


@pytest.mark.parametrize(
    ("text", "done"),
    [
        ("done", Done()),
        ("DONE!", Done()),
        ("done 15", Done(reps=15)),
        ("done 12 lunges", Done(reps=12, exercise="lunge")),
        ("done bridge 20", Done(reps=20, exercise="bridge")),
        ("done glute bridges x 20", Done(reps=20, exercise="bridge")),
        ("done 8 per side", Done(reps=8, exercise="lunge")),
        ("done 8 each side", Done(reps=8, exercise="lunge")),
        ("done lunges", Done(exercise="lunge")),
        ("done 0", Done(problem=RepProblem.ZERO)),
        ("done -3", Done(problem=RepProblem.NEGATIVE)),
        ("done \u22123", Done(problem=RepProblem.NEGATIVE)),
        ("done 501", Done(problem=RepProblem.TOO_MANY)),
        ("done 2.5", Done(problem=RepProblem.NOT_A_NUMBER)),
        ("done lots", Done(problem=RepProblem.NOT_A_NUMBER)),
        ("done 10 20", Done(problem=RepProblem.NOT_A_NUMBER)),
        ("done 10 burpees", Done(problem=RepProblem.UNKNOWN_EXERCISE)),
        # The label of the Done button, typed; pleasantries and emoji around a count.
        ("Done ✅", Done()),
        ("done, thanks!", Done()),
        ("done 👍", Done()),
        ("done 15 lunges, thank you 🙂", Done(reps=15, exercise="lunge")),
        # Past int()'s 4,300-digit limit: still a friendly "too many", not a crash.
        ("done " + "9" * 5000, Done(problem=RepProblem.TOO_MANY)),
        ("done -" + "9" * 5000, Done(problem=RepProblem.NEGATIVE)),
        ("done 000000000015", Done(reps=15)),
        # Sets, as the workout gives them.
        ("done 2x10", Done(reps=20)),
        ("done 2 x 10 bridges", Done(reps=20, exercise="bridge")),
        ("done 2 sets of 10", Done(reps=20)),
        ("done 3\u00d78 lunges", Done(reps=24, exercise="lunge")),
        ("done 2 sets of 300", Done(problem=RepProblem.TOO_MANY)),
        ("done 2.5x10", Done(problem=RepProblem.NOT_A_NUMBER)),
        # "each" after sets is each set's: bridges, not lunges per side.
        ("done 2 sets of 10 each", Done(reps=20)),
        ("done 2x10 each", Done(reps=20)),
        ("done 2x5 each side", Done(reps=10, exercise="lunge")),
        # Sets without the count in each can't be logged, and the reply asks for it.
        ("done 2 sets", Done(problem=RepProblem.SETS_WITHOUT_REPS)),
        ("done 3 sets of bridges", Done(problem=RepProblem.SETS_WITHOUT_REPS)),
        # A count and one exercise named are a log, whatever else is said around them.
        ("done 20 bridges this morning", Done(reps=20, exercise="bridge")),
        ("did 12 lunges at the gym", Done(reps=12, exercise="lunge", casual=True)),
    ],
)
def test_done_forms(text: str, done: Done) -> None:
    assert parse(text) == done


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/start", Command("start")),
        ("/start check", Command("start", "check")),
        ("/done 15", Command("done", "15")),
        ("/Done@GluteBot 15", Command("done", "15")),
    ],
)
def test_commands(text: str, command: Command) -> None:
    assert parse(text) == command


def test_a_bare_number_is_an_option_number() -> None:
    assert parse("2") == Said(word=None, number=2, text="2")
    assert parse("2 hours") == Said(word=None, number=None, text="2 hours")


@given(st.text())
def test_parse_never_raises_and_reps_are_always_sane(text: str) -> None:
    intent = parse(text)
    if isinstance(intent, Done) and intent.reps is not None:
        assert 1 <= intent.reps <= MAX_REPS_PER_ENTRY
        assert intent.problem is None


@given(st.integers(min_value=1, max_value=MAX_REPS_PER_ENTRY), st.sampled_from(["", " bridges",
       " lunges", " per side"]))  # fmt: skip
def test_any_sane_count_round_trips(reps: int, suffix: str) -> None:
    intent = parse(f"done {reps}{suffix}")
    assert isinstance(intent, Done)
    assert intent.reps == reps


# Two exercises in one message: nothing is logged, and the parts (when each has one sane
# count) let the answer show the two messages to send instead.
@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("done 15 bridges 10 lunges", (Done(reps=15, exercise="bridge"),
                                       Done(reps=10, exercise="lunge"))),
        ("done 20 bridges and 8 lunges", (Done(reps=20, exercise="bridge"),
                                          Done(reps=8, exercise="lunge"))),
        ("done bridge 20, lunges 8!", (Done(reps=20, exercise="bridge"),
                                       Done(reps=8, exercise="lunge"))),
        ("done 8 lunges + 20 glute bridges", (Done(reps=8, exercise="lunge"),
                                              Done(reps=20, exercise="bridge"))),
        ("done 15bridges 10lunges", (Done(reps=15, exercise="bridge"),
                                     Done(reps=10, exercise="lunge"))),
        ("done bridges and lunges", ()),
        ("done 600 bridges and 8 lunges", ()),
        ("done 15 bridges 10 lunges 20", ()),
        ("done 15 20 bridges lunges", ()),
    ],
)  # fmt: skip
def test_two_exercises_in_one_message_are_a_problem(text: str, parts: tuple[Done, ...]) -> None:
    assert parse(text) == Done(problem=RepProblem.SEVERAL_EXERCISES, parts=parts)


@pytest.mark.parametrize(
    "count", ["1e3", "0x10", "1,000", "10k", "½", "1.5k", "3rd", "10k lunges", "1e3 bridges"]
)
def test_odd_counts_are_unreadable_not_unknown_exercises(count: str) -> None:
    assert parse_done(count) == Done(problem=RepProblem.NOT_A_NUMBER)
    assert parse(f"done {count}") == Done(problem=RepProblem.NOT_A_NUMBER)


@pytest.mark.parametrize(
    ("text", "done"),
    [
        ("done 20x", Done(reps=20)),
        ("done x20 bridges", Done(reps=20, exercise="bridge")),
        ("done 12lunges", Done(reps=12, exercise="lunge")),
        ("done 15reps", Done(reps=15)),
        ("done x20 burpees", Done(problem=RepProblem.UNKNOWN_EXERCISE)),
        ("done 10 bridges 10 bridges", Done(problem=RepProblem.NOT_A_NUMBER)),
    ],
)
def test_counts_typed_against_a_known_word_still_read(text: str, done: Done) -> None:
    assert parse(text) == done


@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ("Today\u2019s workout", "Today's workout"),
        ("today\u2018s workout", "Today's workout"),
        ("Today\u02bcs workout", "Today's workout"),
        ("I don\u2019t run", "I don't run"),
        ("I did it", "I did it ✅"),
        ("i did it ✅️", "I did it ✅"),
        ("back", "⬅ Back"),
        ("Ça va 👍🏽", "ça va"),
        ("Привет 👋", "привет"),
        ("नमस्ते 🙏", "नमस्ते"),
        ("✅", "✅️"),
        ("1️⃣", "1"),
    ],
)
def test_typed_text_compares_as_a_phone_types_it(typed: str, label: str) -> None:
    assert normalise(typed) == normalise(label)
    assert normalise(typed)


@pytest.mark.parametrize(
    ("typed", "label"),
    [("Todays workout", "Today's workout"), ("🎉", "✅"), ("<4 hours", "4 hours")],
)
def test_typed_text_that_differs_stays_different(typed: str, label: str) -> None:
    assert normalise(typed) != normalise(label)


@pytest.mark.parametrize(
    ("text", "word"),
    [("👍", Word.YES), ("👍🏽", Word.YES), ("I don\u2019t", Word.NO), ("➡️", Word.NEXT),
     ("➡", Word.NEXT), ("⬅️", Word.BACK), ("→", Word.NEXT)],
)  # fmt: skip
def test_emoji_and_curly_apostrophe_words(text: str, word: Word) -> None:
    said = parse(text)
    assert isinstance(said, Said)
    assert said.word is word


@settings(max_examples=500)
@given(st.text())
@example("\u02bc")  # found by a CI run
def test_normalise_is_empty_only_for_text_with_nothing_to_compare(text: str) -> None:
    if normalise(text) == "":
        # U+02BC is a letter to Unicode (a modifier letter) but typed as an apostrophe.
        letters = unicodedata.normalize("NFKC", text.replace("\u02bc", "'"))
        assert not any(ch.isalnum() for ch in letters)


@pytest.mark.parametrize(
    ("text", "done"),
    [
        ("did it", Done(casual=True)),
        ("I did it ✅", Done(casual=True)),
        ("did them", Done(casual=True)),
        ("I did them all!", Done(casual=True)),
        ("finished", Done(casual=True)),
        ("Completed.", Done(casual=True)),
        ("just finished 12 lunges", Done(reps=12, exercise="lunge", casual=True)),
        ("I've done it", Done(casual=True)),
        ("finished 5000", Done(problem=RepProblem.TOO_MANY, casual=True)),
        ("done it", Done()),
        ("did 15", Done(reps=15, casual=True)),  # as "finished 15" and "done 15"
    ],
)
def test_done_said_in_everyday_words(text: str, done: Done) -> None:
    assert parse(text) == done


@pytest.mark.parametrize(
    "text",
    [
        "did it hurt?",
        "finished the report",
        "I'm done",
        "did you",
        "I did",
        "finished?",
        "Did it? 🤔",
    ],
)
def test_everyday_words_that_are_not_a_log_are_just_said(text: str) -> None:
    assert isinstance(parse(text), Said)


@pytest.mark.parametrize(
    "text", ["not sure", "Not sure.", "I don't know", "i dont know", "dunno", "idk", "unsure"]
)
def test_unsure_words(text: str) -> None:
    said = parse(text)
    assert isinstance(said, Said)
    assert said.word is Word.UNSURE


@pytest.mark.parametrize(
    ("text", "concern"),
    [
        ("my leg is going numb", Concern.RED_FLAG),
        ("pins and needles in my foot", Concern.RED_FLAG),
        ("pain shooting down my leg", Concern.RED_FLAG),
        ("the pain is getting worse", Concern.RED_FLAG),
        ("severe pain in my back", Concern.RED_FLAG),
        ("I injured my knee last week", Concern.RED_FLAG),
        ("numb in my groin", Concern.URGENT),
        ("I can't hold my pee", Concern.URGENT),
        ("done 20 but I lost control of my bowels", Concern.URGENT),
        ("sharp pain!", Concern.PAIN),
        ("my knee hurts", Concern.PAIN),
        ("cramp", Concern.PAIN),
        ("pain", Concern.PAIN),
        ("that hurt", Concern.PAIN),
        ("lower back pain", Concern.PAIN),
        ("i feel pain", Concern.PAIN),
        ("I hurt my back", Concern.RED_FLAG),
        ("I can't feel my leg", Concern.RED_FLAG),
    ],
)
def test_warning_signs_and_pain_in_a_persons_own_words(text: str, concern: Concern) -> None:
    assert parse(text) == Reported(concern, text)


@pytest.mark.parametrize(
    "text",
    [
        "no pain",
        "it doesn't hurt",
        "done 20, no pain this time",
        "not numb at all",
        "my bum is numb when I get up",  # the condition itself
        "numb bum",
        "I fell asleep",
        "I fall behind at work",
        "my glutes are sore",
        "I feel the burn",
        "lower leg pain sometimes",  # an answer to the check's question about it
        "i feel no pain",
        "no back pain",
        "it didn't hurt",
        "did it hurt my back?",
    ],
)
def test_everyday_words_about_the_body_are_no_concern(text: str) -> None:
    assert not isinstance(parse(text), Reported)

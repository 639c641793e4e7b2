"""The free-text parser: examples, and properties over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.parse import MAX_REPS_PER_ENTRY, Command, Done, RepProblem, Said, Word, parse


@pytest.mark.parametrize(
    ("text", "word"),
    [("yes", Word.YES), ("Y", Word.YES), ("yeah!", Word.YES), ("nope", Word.NO),
     ("n", Word.NO), ("Not really", Word.NO), ("sometimes", Word.SOMETIMES),
     ("next", Word.NEXT), ("back", Word.BACK), ("Cancel", Word.CANCEL), ("help", Word.HELP),
     ("undo", Word.UNDO)],
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

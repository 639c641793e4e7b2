"""Menus, help, cancel, unknown input and forget-me."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.app import Core
from bot.model import Incoming, Platform
from tests.test_check import LIKELY
from tests.transcript import Chat, FakeClock, reps_by_person


@pytest.mark.parametrize("aside", ["done", "/done 10", "undo", "/undo", "stats", "/stats"])
async def test_an_aside_in_the_check_asks_its_question_again(chat: Chat, aside: str) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say(aside)
    assert "Question 2 of 9" in said.text
    said = await chat.tap("No")
    assert "Question 3 of 9" in said.text


async def test_done_in_the_middle_of_a_walk_through_ends_it(chat: Chat) -> None:
    await chat.say("/lunge")
    await chat.say("next")
    said = await chat.say("done")
    assert "Logged 5 lunges per side." in said.text
    assert "step 2 of 5" not in said.text
    said = await chat.say("/start")
    assert "middle of" not in said.text


@pytest.mark.parametrize("typed", ["done -5", "done 5000", "done 1.5"])
async def test_a_done_that_logs_nothing_keeps_the_walk_through_going(
    chat: Chat, typed: str
) -> None:
    await chat.say("/bridge")
    await chat.say("next")
    said = await chat.say(typed)
    assert "Nothing was logged" in said.text or "whole number" in said.text
    assert "step 2 of 5" in said.text  # the step comes again
    said = await chat.say("next")
    assert "step 3 of 5" in said.text
    assert await chat.core.store.db.fetchall("SELECT * FROM rep_logs") == []


async def test_a_number_picks_only_from_what_the_last_answer_showed(chat: Chat) -> None:
    await chat.say("/workout")
    await chat.say("/stats")
    said = await chat.say("1")
    assert "Logged" not in said.text
    assert "Question 1 of 9" not in said.text  # nor the main menu's first option
    assert "didn't understand" in said.text


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("workout", "Today's workout"), ("lunge", "step 1 of 5"), ("check", "Question 1 of 9")],
)
async def test_a_command_typed_without_its_slash_works_at_the_menu(
    chat: Chat, typed: str, shown: str
) -> None:
    await chat.say("/start")
    said = await chat.say(typed)
    assert shown in said.text


async def test_start_welcomes_with_disclaimer_and_menu(chat: Chat) -> None:
    said = await chat.say("/start")
    assert "glute amnesia" in said.text
    assert "not a diagnosis" in said.text
    assert said.labels == ["Check my symptoms", "Today's workout", "Learn an exercise",
                           "My progress", "Help"]  # fmt: skip


async def test_menu_numbers_and_labels_pick_options(chat: Chat) -> None:
    await chat.say("/start")
    said = await chat.say("3")
    assert said.labels == ["Glute bridge", "Lunge", "Main menu"]
    said = await chat.say("lunge")
    assert "The lunge" in said.text
    await chat.say("/menu")
    said = await chat.say("today's workout")
    assert "Today's workout" in said.text


async def test_result_choices_are_numbered_as_shown(chat: Chat) -> None:
    await chat.say("/check")
    for answer in LIKELY:
        await chat.tap(answer)
    said = await chat.say("1")
    assert "The glute bridge" in said.text


async def test_start_deep_link_payload_opens_that_flow(chat: Chat) -> None:
    said = await chat.say("/start check")
    assert "Question 1 of 9" in said.text


async def test_a_deep_link_opens_pages_but_never_acts(chat: Chat) -> None:
    await chat.say("done 15")
    for payload in ("undo", "done", "forget", "stop", "remind_off"):
        said = await chat.say(f"/start {payload}")
        assert "Hi again" in said.text, payload
    said = await chat.say("/stats")
    assert "Glute bridges: 15 in total" in said.text
    said = await chat.say("/start lunge")
    assert "step 1 of 5" in said.text


async def test_coming_back_goes_straight_on_unless_it_was_long_ago(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say("/start continue")  # what the terminal sends when it opens
    assert said.text.startswith("Question 2 of 9")
    clock.advance(hours=25)
    said = await chat.say("/start continue")
    assert "continue where you left off, or start over" in said.text


async def test_an_exercise_can_be_picked_by_its_short_name(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Learn an exercise")
    said = await chat.say("bridge")
    assert "step 1 of 5" in said.text
    assert "exercise mat" in said.text


async def test_yes_continues_after_a_long_break_and_back_keeps_my_data(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/check")
    await chat.tap("No")
    clock.advance(hours=25)
    await chat.say("no")
    said = await chat.say("yes")
    assert "Question 2 of 9" in said.text
    await chat.say("/forget")
    said = await chat.say("back")
    assert "forget/kept" in said.templates


async def test_help_mid_flow_keeps_the_place(chat: Chat) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say("help")
    assert "Logging reps" in said.text
    assert "not a diagnosis" in said.text
    assert "Question 2 of 9" in said.text


@pytest.mark.parametrize(
    "blank", ["\u200b", "\u200d\ufeff", "\u3164", "\u2800", "\u115f \u1160", "\uffa0\u2060"]
)
async def test_a_message_of_only_invisible_characters_is_answered_as_blank(
    chat: Chat, blank: str
) -> None:
    """Zero-width characters and the Hangul and Braille fillers people use as a blank show
    nothing, so the answer is "Sorry, I didn't catch that.": quoted back, 'didn't
    understand ""' would look like a bot bug."""
    said = await chat.say(blank)
    assert "didn't catch that" in said.text
    assert "didn't understand" not in said.text


async def test_text_with_something_visible_is_quoted_with_its_joiners(chat: Chat) -> None:
    """Invisible characters are only judged, never dropped from a quote: a zero-width joiner
    makes one emoji of several ("👩\u200d💻" is a person at a laptop)."""
    said = await chat.say("👩\u200d💻 \u3164")
    assert 'didn\'t understand "👩\u200d💻 \u3164"' in said.text


async def test_cancel_mid_flow_returns_to_the_menu(chat: Chat) -> None:
    await chat.say("/bridge")
    said = await chat.say("cancel")
    assert "stopped there" in said.text
    assert "What would you like to do?" in said.text
    said = await chat.say("next")
    assert "didn't understand" in said.text


async def test_a_greeting_mid_flow_offers_to_continue_rather_than_dropping_it(
    chat: Chat,
) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say("Hi!")
    assert "still in the middle of your symptom check" in said.text
    assert "Welcome back" not in said.text  # they never left
    said = await chat.tap("Continue")
    assert "Question 2 of 9" in said.text


async def test_a_greeting_at_the_menu_welcomes_and_menu_shows_the_menu(
    chat: Chat, clock: FakeClock
) -> None:
    said = await chat.say("hello")
    assert "not a diagnosis" in said.text  # a first "hello" gets the whole welcome
    assert said.labels[0] == "Check my symptoms"
    said = await chat.say("hey")
    assert "Hi again" in said.text  # a moment later
    clock.advance(hours=2)
    said = await chat.say("hey")
    assert "Welcome back" in said.text
    await chat.say("/bridge")
    said = await chat.say("menu")
    assert said.text.startswith("What would you like to do?")


async def test_unknown_command_is_named_and_the_flow_goes_on(chat: Chat) -> None:
    await chat.say("/check")
    said = await chat.say("/frobnicate now")
    assert "don't know the command /frobnicate" in said.text
    assert "Question 1 of 9" in said.text


async def test_gibberish_at_the_menu_gets_guidance(chat: Chat) -> None:
    await chat.say("asdf")
    said = await chat.say("qwerty")
    assert 'Try "done" to log your workout' in said.text
    assert said.labels[0] == "Check my symptoms"


async def test_forget_asks_first_and_no_keeps_everything(chat: Chat, db_path: Path) -> None:
    await chat.say("done 10")
    said = await chat.say("/forget")
    assert "can't be undone" in said.text
    said = await chat.tap("No, keep my data")
    assert "kept everything" in said.text
    assert count(db_path, "rep_logs") == 1


async def test_forget_deletes_every_row_about_the_user(chat: Chat, db_path: Path) -> None:
    other = Chat(chat.core, user="bob", name="Bob")
    await other.say("done 5")
    await chat.say("/check")
    for answer in LIKELY:
        await chat.tap(answer)
    await chat.say("done")
    await chat.say("/forget")
    said = await chat.tap("Yes, delete everything")
    assert "deleted everything" in said.text
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert "alice" not in dump
    assert "Alice" not in dump
    with sqlite3.connect(db_path) as conn:
        (bob_id,) = conn.execute("SELECT id FROM users").fetchone()
        for table in ("conversations", "rep_logs", "checks", "schedules"):
            ids = {row[0] for row in conn.execute(f"SELECT user_id FROM {table}")}
            assert ids <= {bob_id}, table
        assert conn.execute(
            "SELECT COUNT(*) FROM events WHERE user_id != ?", (bob_id,)
        ).fetchone() == (0,)
    said = await chat.say("hi")
    assert "What would you like to do?" in said.text


def count(db_path: Path, table: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def test_two_exercises_in_one_done_log_nothing_and_say_one_per_message(
    chat: Chat, db_path: Path
) -> None:
    for text in ("done 15 bridges 10 lunges", "done 20 bridges and 8 lunges"):
        said = await chat.say(text)
        assert "one exercise per message" in said.text, text
        assert "only know" not in said.text
        assert "Nothing was logged." in said.text
    assert count(db_path, "rep_logs") == 0


async def test_a_long_list_of_exercises_gets_a_short_answer(chat: Chat) -> None:
    said = await chat.say("done " + "1 bridge 2 lunges " * 200)
    assert '"done 1 bridge", then "done 2 lunges", then "done 1 bridge", and so on.' in said.text
    assert len(said.text) < 400


async def test_odd_counts_are_unreadable_counts(chat: Chat, db_path: Path) -> None:
    for count_typed in ("1e3", "0x10", "1,000", "10k", "½"):
        for text in (f"/done {count_typed}", f"done {count_typed}"):
            said = await chat.say(text)
            assert "couldn't read a rep count" in said.text, text
    assert count(db_path, "rep_logs") == 0


async def test_too_many_reps_names_the_limit_without_suggesting_parts(chat: Chat) -> None:
    said = await chat.say("done 501")
    assert "up to 500" in said.text
    assert "smaller parts" not in said.text
    assert "Nothing was logged." in said.text


async def test_options_typed_as_phones_type_them(chat: Chat, db_path: Path) -> None:
    await chat.say("/menu")
    said = await chat.say("Today\u2019s workout")
    assert "Today's workout" in said.text
    said = await chat.say("I did it")
    assert "Logged" in said.text
    assert count(db_path, "rep_logs") == 2  # the whole session: bridges and lunges
    await chat.say("/check")
    for answer in ("No", "No", "No", "No", "No", "No", "Under 4 hours"):
        await chat.tap(answer)
    said = await chat.say("I don\u2018t run")
    assert "Question 9 of 9" in said.text


async def test_thanks_gets_a_welcome_and_the_question_again(chat: Chat) -> None:
    said = await chat.say("thanks!")
    assert said.templates == ["thanks"]  # nothing under way: nothing to ask again
    await chat.say("/check")
    said = await chat.say("thank you 🙏")
    assert said.templates[0] == "thanks"
    assert "Question 1 of 9" in said.text
    assert "didn't understand" not in said.text


async def test_a_stale_press_after_forget_brings_no_one_back(chat: Chat, db_path: Path) -> None:
    # On Discord every press is an event of its own: "Yes, delete" and then a quick "No"
    # on the same question both arrive.
    await chat.say("done 10")
    await chat.say("/forget")
    keep = chat.button("No, keep my data")
    await chat.tap("Yes, delete everything")
    said = await chat.send(Incoming(chat.ref, "late-no", choice=keep, display_name="Alice"))
    assert said.templates == ["stale_button"]
    assert count(db_path, "users") == 0
    assert count(db_path, "conversations") == 0


async def test_a_stale_press_leaves_the_options_on_screen(chat: Chat) -> None:
    await chat.say("/check")
    old_no = chat.button("No")
    await chat.tap("No")  # question 2 now, with Yes / No / Back
    said = await chat.send(Incoming(chat.ref, "old", choice=old_no, display_name="Alice"))
    assert said.templates == ["stale_button"]
    said = await chat.say("2")  # still picks question 2's "No"
    assert "Question 3 of 9" in said.text


@pytest.mark.parametrize(
    ("begun", "named"),
    [("/forget", "deciding whether to delete your data"), ("/remind", "setting up your reminder")],
)
async def test_coming_back_names_what_was_left_halfway(
    core: Core, clock: FakeClock, begun: str, named: str
) -> None:
    chat = Chat(core, platform=Platform.TELEGRAM)
    await chat.say(begun)
    clock.advance(hours=25)
    said = await chat.say("hi")
    assert f"Last time we were in the middle of {named}." in said.text


@pytest.mark.parametrize("where", [["/start", "3"], ["/start"]])  # learn menu, main menu
async def test_back_at_a_menu_goes_to_the_main_menu(chat: Chat, where: list[str]) -> None:
    for text in where:
        await chat.say(text)
    said = await chat.say("back")
    assert "didn't understand" not in said.text
    assert said.labels[0] == "Check my symptoms"


async def test_declining_forget_mid_check_keeps_the_check_where_it_was(core: Core) -> None:
    """/forget in the middle of the check, then "No, keep my data": back at the same
    question, with the answers so far."""
    chat = Chat(core)
    await chat.say("/check")
    said = await chat.tap("No")
    assert "Question 2 of 9" in said.text
    await chat.say("/forget")
    said = await chat.tap("No, keep my data")
    assert "kept everything as it was" in said.text
    said = await chat.say("/check")
    assert "Question 1 of 9" not in said.text


@pytest.mark.parametrize("button", ["I did it ✅", "My progress"])
async def test_an_earlier_messages_button_pressed_in_the_check_asks_its_question_again(
    chat: Chat, button: str
) -> None:
    """A Done or "My progress" pressed on a message above the check (a reminder, the
    menu) is answered in passing, like "done" or "stats" typed: the question comes again,
    so a "yes" typed next isn't taken as an answer to one scrolled out of sight."""
    await chat.say("/workout")
    workout = chat.button("I did it ✅")
    await chat.say("/start")
    shown = {"I did it ✅": workout, "My progress": chat.button("My progress")}
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.send(Incoming(chat.ref, f"press-{button}", choice=shown[button]))
    assert "Question 2 of 9" in said.text
    said = await chat.tap("No")
    assert "Question 3 of 9" in said.text


async def test_check_sent_at_carry_on_or_start_over_asks_it_again(chat: Chat) -> None:
    """/check while "carry on, or start over?" is asked about a check half-done doesn't
    throw the answers away unasked: it is that very question."""
    await chat.say("/check")
    await chat.tap("No")
    await chat.tap("No")
    await chat.say("/start")
    said = await chat.say("/check")
    assert "middle of your symptom check" in said.text
    said = await chat.tap("Continue")
    assert "Question 3 of 9" in said.text


@pytest.mark.parametrize("nod", ["ok", "Okay!", "👍"])
async def test_a_nod_with_no_question_open_is_met_with_the_menu_not_an_apology(
    chat: Chat, nod: str
) -> None:
    """ "ok" to advice (see a doctor) or to the workout isn't a failed answer: the menu
    comes again without "Sorry, I didn't understand", and twice isn't two misses."""
    await chat.say("/check")
    await chat.tap("Yes")  # "please get medical help now"
    for _ in range(2):
        said = await chat.say(nod)
        assert "didn't understand" not in said.text
        assert said.text.startswith("What would you like to do?")
    await chat.say("/workout")
    said = await chat.say(nod)
    assert "didn't understand" not in said.text


async def test_stats_in_the_middle_of_a_first_check_does_not_suggest_starting_one(
    chat: Chat,
) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say("stats")
    assert "haven't done the symptom check" not in said.text
    assert "Question 2 of 9" in said.text
    await chat.say("cancel")
    said = await chat.say("stats")
    assert "haven't done the symptom check" in said.text


@pytest.mark.parametrize(
    ("first", "edit", "note"),
    [
        # Logged under the day's session, not its own key: its edit had no answer.
        ("done", "done 12", "/undo"),
        ("finished", "done 12", "/undo"),
        ("done 15", "done 20", "/undo"),
        # Logged nothing: an edit into a "done" logs nothing either, and says so.
        ("dnoe 12", "done 12", 'send it again as a new message: "done 12"'),
        ("hi", "/done 12", "as a new message"),
        ("hi", "hello", None),  # no log, before or after: nothing to say
    ],
)
async def test_an_edit_of_a_message_says_what_its_log_is(
    core: Core, first: str, edit: str, note: str | None
) -> None:
    alice = Chat(core, platform=Platform.TELEGRAM)
    await alice.say("/start")
    await alice.say(first, key="tg:m:1:50")
    before = await reps_by_person(core)
    replies = await core.engine.edited(Incoming(alice.ref, "tg:m:1:50", text=edit), "tg:m:1:50:e1")
    said = await alice.send_replies(replies)
    if note is None:
        assert replies == []
    else:
        assert note in said.text
        assert all(reply.private for reply in replies)
    assert await reps_by_person(core) == before

"""Walk-throughs, logging reps, undo, progress and the progression rule."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Core
from bot.engine.turn import ACTION_PREFIX
from bot.flows import programme
from bot.flows.exercises import EXERCISES
from bot.model import Incoming, Platform
from bot.render import Renderer
from tests.test_check import CLEAR, take_check
from tests.transcript import START, Chat, FakeClock


async def walk_bridge(chat: Chat) -> str:
    said = await chat.say("/bridge")
    assert "step 1 of 5" in said.text
    assert "exercise mat" in said.text
    for step in range(2, 6):
        said = await chat.tap("Next ➡")
        assert f"step {step} of 5" in said.text
    said = await chat.tap("Next ➡")
    return said.text


async def test_bridge_walkthrough_ends_with_target_and_heel_tip(chat: Chat) -> None:
    finish = await walk_bridge(chat)
    assert "target right now: 20" in finish
    assert "push through your heels" in finish


async def test_lunge_walkthrough_has_five_steps_and_per_side_target(chat: Chat) -> None:
    said = await chat.say("/lunge")
    assert "step 1 of 5" in said.text
    assert "60 to 90 cm" in said.text
    for _ in range(5):
        said = await chat.say("next")
    assert "target right now: 5 per side" in said.text


async def test_back_and_stop_during_a_walkthrough(chat: Chat) -> None:
    await chat.say("/bridge")
    await chat.say("next")
    said = await chat.say("back")
    assert "step 1 of 5" in said.text
    said = await chat.tap("Stop")
    assert "What would you like to do?" in said.text


async def test_the_finish_offers_back_next_to_done_and_later(chat: Chat) -> None:
    await walk_bridge(chat)
    assert chat.last is not None
    assert chat.last.labels == ["Done ✅", "⬅ Back", "Later"]


@pytest.mark.parametrize("back", ["back", "previous", "⬅ Back", "2"])
async def test_back_typed_at_the_finish_reopens_the_last_step(chat: Chat, back: str) -> None:
    await walk_bridge(chat)
    said = await chat.say(back)
    assert "step 5 of 5" in said.text
    assert "didn't understand" not in said.text
    assert said.labels == ["Next ➡", "⬅ Back", "Stop"]
    said = await chat.say("back")
    assert "step 4 of 5" in said.text
    await chat.say("next")
    said = await chat.say("next")
    assert "target right now: 20" in said.text


async def test_the_back_button_at_the_finish_reopens_the_last_step(chat: Chat) -> None:
    await chat.say("/lunge")
    for _ in range(5):
        await chat.say("next")
    said = await chat.tap("⬅ Back")
    assert "step 5 of 5" in said.text
    said = await chat.tap("Stop")
    assert "What would you like to do?" in said.text


async def test_done_still_logs_the_exercise_after_going_back_from_the_finish(
    chat: Chat,
) -> None:
    await chat.say("/lunge")
    for _ in range(5):
        await chat.say("next")
    await chat.say("back")
    said = await chat.say("done")
    assert "Logged 5 lunges per side." in said.text


async def test_a_stray_next_at_the_finish_says_that_was_the_last_step(chat: Chat) -> None:
    await walk_bridge(chat)
    said = await chat.say("next")
    assert "last step" in said.text
    assert "didn't understand" not in said.text
    assert said.labels == ["Done ✅", "⬅ Back", "Later"]
    said = await chat.tap("Done ✅")
    assert "Logged 20 glute bridges." in said.text


async def test_done_after_walkthrough_logs_that_exercise_at_target(chat: Chat) -> None:
    await walk_bridge(chat)
    said = await chat.say("done")
    assert "Logged 20 glute bridges." in said.text
    assert said.replies[0].logged


async def test_done_at_the_menu_logs_the_whole_session(chat: Chat) -> None:
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text
    assert "1 of 2 sessions" in said.text


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("done 15", "Logged 15 glute bridges."),
        ("/done 15", "Logged 15 glute bridges."),
        ("done 12 lunges", "Logged 12 lunges per side."),
        ("done bridge 20", "Logged 20 glute bridges."),
        ("done 8 per side", "Logged 8 lunges per side."),
        ("done 6 on each side", "Logged 6 lunges per side."),
        ("Done 1 bridge", "Logged 1 glute bridge."),
        ("did 10 bridges", "Logged 10 glute bridges."),
    ],
)
async def test_done_with_counts_logs_exactly_that(chat: Chat, text: str, logged: str) -> None:
    said = await chat.say(text)
    assert logged in said.text


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("done 0", "Nothing to log"),
        ("done -5", "negative"),
        ("done 501", "more than 500"),
        ("done 99999999999999999999", "more than 500"),
        ("done twenty", "whole number"),
        ("done 12.5", "whole number"),
        ("done 20 squats", "only know the glute bridge and the lunge"),
    ],
)
async def test_absurd_counts_are_corrected_and_log_nothing(
    chat: Chat, db_path: Path, text: str, hint: str
) -> None:
    said = await chat.say(text)
    assert hint in said.text
    assert "Nothing was logged." in said.text
    assert rows(db_path, "SELECT COUNT(*) FROM rep_logs") == [(0,)]


async def test_undo_removes_the_last_entry_and_says_which(chat: Chat, db_path: Path) -> None:
    await chat.say("done 15")
    await chat.say("done 6 lunges")
    said = await chat.say("undo")
    assert "Removed your last log: 6 lunges per side." in said.text
    assert rows(db_path, "SELECT exercise, reps FROM rep_logs") == [("bridge", 15)]
    await chat.say("/undo")
    said = await chat.say("/undo")
    assert "nothing to undo" in said.text


async def test_undo_of_a_whole_session_removes_both_exercises(chat: Chat) -> None:
    await chat.say("done")
    said = await chat.say("undo")
    assert "20 glute bridges and 5 lunges per side" in said.text


async def test_a_redelivered_event_logs_once(chat: Chat, db_path: Path) -> None:
    first = await chat.say("done 15", key="tg:update:7")
    again = await chat.say("done 15", key="tg:update:7")
    assert "Logged 15" in first.text
    assert again.replies == []
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(15,)]


async def test_a_double_tapped_done_button_logs_once(chat: Chat, db_path: Path) -> None:
    await chat.say("/workout")
    button = chat.button("I did it ✅")
    first = await chat.send(Incoming(chat.ref, "tap-1", choice=button))
    second = await chat.send(Incoming(chat.ref, "tap-2", choice=button))
    assert "Logged 20 glute bridges and 5 lunges" in first.text
    assert "Already logged" in second.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(25,)]


async def test_done_typed_then_the_workouts_button_logs_one_session(
    chat: Chat, db_path: Path
) -> None:
    await chat.say("/workout")
    button = chat.button("I did it ✅")
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges" in said.text
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=button))
    assert "Already logged" in said.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(25,)]


async def test_done_typed_at_the_finish_then_its_button_logs_once(
    chat: Chat, db_path: Path
) -> None:
    await walk_bridge(chat)
    button = chat.button("Done ✅")
    said = await chat.say("done 12")
    assert "Logged 12 glute bridges." in said.text
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=button))
    assert "Already logged" in said.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(12,)]


@pytest.mark.parametrize("there_and_back", [["back", "next"], ["⬅ Back", "next"], ["next"]])
async def test_one_walk_through_logs_once_whichever_of_its_finishes_done_is_pressed(
    chat: Chat, db_path: Path, there_and_back: list[str]
) -> None:
    """Back from the finish and on to it again shows a second finish, and the first one's
    Done is still on screen above it: both stand for the one walk-through."""
    await walk_bridge(chat)
    first = chat.button("Done ✅")
    for typed in there_and_back:
        await chat.say(typed)
    second = chat.button("Done ✅")
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=second))
    assert "Logged 20 glute bridges." in said.text
    said = await chat.send(Incoming(chat.ref, "tap-2", choice=first))
    assert "Already logged" in said.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(20,)]


async def test_a_new_walk_through_of_the_same_exercise_logs_again(
    chat: Chat, db_path: Path
) -> None:
    await walk_bridge(chat)
    await chat.tap("Done ✅")
    await walk_bridge(chat)
    said = await chat.tap("Done ✅")
    assert "Logged 20 glute bridges." in said.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(40,)]


async def test_a_finish_back_from_before_walk_throughs_had_ids_reopens_the_last_step(
    chat: Chat,
) -> None:
    await walk_bridge(chat)
    old_back = f"{ACTION_PREFIX}:bridge:back"  # as stored buttons and messages still carry
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=old_back))
    assert "step 5 of 5" in said.text
    said = await chat.say("next")
    assert "target right now: 20" in said.text


async def test_a_second_typed_done_is_a_session_of_its_own(chat: Chat, db_path: Path) -> None:
    await chat.say("/workout")
    await chat.say("done")
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges" in said.text
    # Said so, in case the second was sent by mistake.
    assert "That makes 40 glute bridges and 10 lunges per side today" in said.text
    assert "/undo" in said.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(50,)]


async def test_a_first_log_of_the_day_names_no_day_total(chat: Chat, clock: FakeClock) -> None:
    said = await chat.say("done 15")
    assert "today" not in said.text
    said = await chat.say("done 5 lunges")  # another exercise: nothing to add it to
    assert "today" not in said.text
    clock.advance(days=1)
    said = await chat.say("done 15")  # yesterday's bridges aren't today's
    assert "today" not in said.text


async def test_done_for_something_else_leaves_the_button_its_own_log(
    chat: Chat, db_path: Path
) -> None:
    await chat.say("/workout")
    button = chat.button("I did it ✅")
    await chat.say("done 6 lunges")
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=button))
    assert "Logged 20 glute bridges and 5 lunges" in said.text
    assert rows(db_path, "SELECT SUM(reps) FROM rep_logs") == [(31,)]


@pytest.mark.parametrize("between", [["later"], ["menu"], ["/check", "cancel"], ["hi"]])
async def test_a_bare_done_after_leaving_the_walk_through_logs_that_exercise(
    chat: Chat, between: list[str]
) -> None:
    await chat.say("/lunge")
    for _ in range(5):
        await chat.say("next")
    for text in between:
        await chat.say(text)
    said = await chat.say("done")
    assert "Logged 5 lunges per side." in said.text
    assert "glute bridges" not in said.text


async def test_a_bare_done_after_the_workout_logs_the_session_again(chat: Chat) -> None:
    await walk_bridge(chat)
    await chat.say("/workout")
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text


async def test_a_walk_through_is_remembered_for_a_bare_done_that_day_only(
    chat: Chat, clock: FakeClock
) -> None:
    await walk_bridge(chat)
    clock.advance(days=1)
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text


async def test_the_workout_button_logs_the_whole_session_after_a_walk_through(
    chat: Chat,
) -> None:
    await walk_bridge(chat)
    # The button of a reminder or a daily post: it came with a workout, not the bridge.
    reminder_button = "do:done:s1d740000"
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=reminder_button))
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text


async def test_every_session_done_logs_the_days_session_once(chat: Chat, clock: FakeClock) -> None:
    """A typed "done", a reminder's Done and /workout's Done are all the day's session:
    pressing one after the other doesn't count it twice. The next day the same old
    button logs that day's session, not "already logged"."""
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text
    reminder_button = "do:done:s1d740000"
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=reminder_button))
    assert "Already logged" in said.text
    await chat.say("/workout")
    assert "Already logged" in (await chat.tap("I did it ✅")).text
    clock.advance(days=1)
    said = await chat.send(Incoming(chat.ref, "tap-2", choice=reminder_button))
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text


async def test_the_walk_through_done_button_logs_that_exercise_even_later(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/lunge")
    for _ in range(5):
        said = await chat.say("next")
    button = chat.button("Done ✅")
    clock.advance(hours=3)
    await chat.say("/stats")
    said = await chat.send(Incoming(chat.ref, "tap-1", choice=button))
    assert "Logged 5 lunges per side." in said.text


async def test_workout_shows_this_weeks_session(chat: Chat) -> None:
    said = await chat.say("/workout")
    assert "week 1 of 4" in said.text
    assert "Glute bridge: 2 sets of 10" in said.text
    assert "Lunge: 5 per side" in said.text
    assert "push through your heels" in said.text


async def test_bridge_target_rises_after_two_full_sessions_in_a_row(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("done")
    clock.advance(days=2)
    said = await chat.say("done")
    assert "bridge target goes up to 24" in said.text
    assert "lunge target goes up to 6 per side" in said.text
    said = await chat.say("/workout")
    assert "2 sets of 12" in said.text
    assert "6 per side" in said.text


async def test_daily_sessions_raise_the_target_once_a_week_at_most(
    chat: Chat, clock: FakeClock
) -> None:
    """CONTENT: two or three workouts a week, building up over the weeks, without
    rushing. Logged every day, the target still rises once a programme week: after the
    second day (24), then not again until week 2's first day (28)."""
    raised = []
    for day in range(9):
        said = await chat.say("done")
        if "bridge target goes up" in said.text:
            raised.append(day)
        clock.advance(days=1)
    assert raised == [1, 7]
    assert "Targets now: 28 bridges, 7 lunges per side" in (await chat.say("/stats")).text


async def test_two_logs_on_one_day_are_one_session(chat: Chat, clock: FakeClock) -> None:
    await chat.say("done")
    said = await chat.say("done 500")
    assert "goes up" not in said.text
    said = await chat.say("/stats")
    assert "Targets now: 20 bridges, 5 lunges per side" in said.text
    clock.advance(days=1)
    said = await chat.say("done")
    assert "bridge target goes up to 24" in said.text


async def test_a_session_logged_in_parts_is_full(chat: Chat, clock: FakeClock) -> None:
    await chat.say("done")
    clock.advance(days=1)
    await chat.say("done 10")
    said = await chat.say("done 10")
    assert "bridge target goes up to 24" in said.text


async def test_a_short_session_resets_the_run(chat: Chat, clock: FakeClock) -> None:
    await chat.say("done")
    clock.advance(days=1)
    await chat.say("done 10")
    clock.advance(days=1)
    said = await chat.say("done")
    assert "goes up" not in said.text.replace("lunge target goes up", "")


async def test_stats_shows_totals_week_streak_and_targets(chat: Chat, clock: FakeClock) -> None:
    said = await chat.say("/stats")
    assert "No reps logged yet" in said.text
    for _ in range(2):  # two sessions in the week of 2 March
        await chat.say("done")
        clock.advance(days=1)
    clock.advance(days=5)  # the next week
    await chat.say("done 30")
    said = await chat.say("/stats")
    assert "Glute bridges: 70 in total" in said.text
    assert "Lunges: 10 per side in total" in said.text
    assert "This week: 1 of 2 sessions" in said.text
    assert "Streak: 1 week with two or more sessions" in said.text
    assert "Programme: week 2 of 4" in said.text
    assert "Targets now: 24 bridges, 6 lunges per side" in said.text
    assert said.replies[0].private


async def test_stats_names_an_exercise_not_logged_yet_rather_than_zero(chat: Chat) -> None:
    await chat.say("done bridge 20")
    said = await chat.say("/stats")
    assert "Glute bridges: 20 in total" in said.text
    assert "Lunges: none logged yet" in said.text
    assert "0 per side" not in said.text
    assert "Targets now: 20 bridges, 5 lunges per side" in said.text
    await chat.say("undo")
    await chat.say("done 6 lunges")
    said = await chat.say("/stats")
    assert "Glute bridges: none logged yet" in said.text
    assert "Lunges: 6 per side in total" in said.text


async def test_this_week_is_the_programme_week_that_started_on_the_first_log(
    chat: Chat, clock: FakeClock
) -> None:
    clock.advance(days=3)  # first log on Thursday 5 March
    for _ in range(3):
        await chat.say("done")
        clock.advance(days=1)
    clock.advance(days=1)  # Monday 9 March: a new calendar week, still programme week 1
    said = await chat.say("/stats")
    assert "Programme: week 1 of 4" in said.text
    assert "This week: 3 sessions (goal: 2 ✅)" in said.text
    assert "Streak: 1 week" in said.text
    clock.advance(days=3)  # Thursday 12 March: week 2
    said = await chat.say("/stats")
    assert "Programme: week 2 of 4" in said.text
    assert "This week: 0 of 2 sessions" in said.text


async def test_programme_completes_after_four_weeks_and_suggests_a_recheck(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/check")
    for answer in ["No", "No", "Yes", "No", "No", "No", "Under 4 hours", "I don't run", "No"]:
        await chat.tap(answer)
    await chat.say("done")
    clock.advance(days=29)
    said = await chat.say("/stats")
    assert "Programme: the four weeks are up (session goal met in 0 of 4 weeks)" in said.text
    assert "Time for a re-check" in said.text


def rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql))


async def red_flag(chat: Chat, urgent: bool = False) -> None:
    await chat.say("/check")
    if not urgent:
        await chat.tap("No")
    await chat.tap("Yes")


async def test_stats_with_a_warning_offers_no_workout_and_no_targets(
    chat: Chat, clock: FakeClock
) -> None:
    await red_flag(chat)
    said = await chat.say("/stats")
    assert "No reps logged yet." in said.text
    assert "first workout" not in said.text
    assert 'Say "done"' not in said.text
    assert "see a doctor or physiotherapist" in said.text
    clock.advance(days=1)
    await chat.say("/check")  # cleared, a few sessions, then a warning again
    for answer in ["No", "No", "Yes", "No", "No", "No", "Under 4 hours", "I don't run", "No"]:
        await chat.tap(answer)
    await chat.say("done")
    clock.advance(days=1)
    await red_flag(chat)
    said = await chat.say("/stats")
    assert "Glute bridges: 20 in total" in said.text
    assert "Targets now" not in said.text
    assert "This week" not in said.text
    assert "you told me about a warning sign" in said.text


async def test_stats_keeps_the_urgent_advice_for_an_urgent_warning(chat: Chat) -> None:
    await red_flag(chat, urgent=True)
    said = await chat.say("/stats")
    assert "get medical help now: contact a doctor or emergency services" in said.text
    assert "first workout" not in said.text


async def test_the_recheck_nudge_stops_once_a_check_follows_the_four_weeks(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/check")
    for answer in CLEAR:
        await chat.tap(answer)
    await chat.say("done")
    clock.advance(days=20)
    await chat.say("/check")  # a check inside the four weeks is not the re-check
    for answer in CLEAR:
        await chat.tap(answer)
    clock.advance(days=8)  # day 28: the four weeks are up
    said = await chat.say("/stats")
    assert "Time for a re-check" in said.text
    await chat.say("/check")
    for answer in CLEAR:
        await chat.tap(answer)
    said = await chat.say("/stats")
    assert "Time for a re-check" not in said.text
    clock.advance(days=10)
    said = await chat.say("/stats")
    assert "Time for a re-check" not in said.text


async def test_four_weeks_with_few_sessions_are_up_but_not_complete(
    chat: Chat, clock: FakeClock
) -> None:
    for _ in range(3):
        await chat.say("done")
        clock.advance(days=14)
    said = await chat.say("/stats")  # day 42: three sessions in six weeks
    assert "complete" not in said.text
    assert "🎉" not in said.text
    assert "the four weeks are up" in said.text
    said = await chat.say("/workout")
    assert "finished the four-week programme" not in said.text
    assert "🎉" not in said.text
    assert "four weeks are up" in said.text


async def test_four_weeks_that_met_the_goal_are_celebrated(chat: Chat, clock: FakeClock) -> None:
    # Goals 2, 2, 3, 3: met in weeks 1, 3 and 4 (3 of 4), missed in week 2.
    for day in (0, 2, 7, 14, 16, 18, 21, 23, 25):
        clock.now = START + timedelta(days=day)
        await chat.say("done")
    clock.now = START + timedelta(days=28)
    said = await chat.say("/stats")
    assert "Programme: complete" in said.text
    assert "3 of 4 weeks" in said.text
    said = await chat.say("/workout")
    assert "finished the four-week programme" in said.text


def test_weeks_on_goal_counts_programme_weeks_that_met_their_goal() -> None:
    first = START.date()
    days = [first + timedelta(days=d) for d in (0, 2, 7, 14, 16, 18, 21, 23, 25, 30)]
    assert programme.weeks_on_goal(days) == 3
    assert programme.weeks_on_goal([]) == 0
    assert programme.kept_up(3)
    assert not programme.kept_up(2)


async def test_the_lunge_finish_suggests_a_count_that_fits_the_lunge(chat: Chat) -> None:
    await chat.say("/lunge")
    for _ in range(5):
        said = await chat.say("next")
    assert "done 15" not in said.text
    assert '"done 8"' in said.text
    assert '"done 15"' in await walk_bridge(chat)


async def test_a_first_streak_week_is_not_called_1_week_in_a_row(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("done")
    clock.advance(days=1)
    said = await chat.say("done")
    assert "🔥" in said.text
    assert "1 week in a row" not in said.text
    assert "1 weeks" not in said.text
    for _ in range(6):
        clock.advance(days=1)
    await chat.say("done")
    clock.advance(days=1)
    said = await chat.say("done")
    assert "2 weeks in a row" in said.text


@pytest.mark.parametrize("typed", ["did it", "Did it!", "I did it", "did them", "finished",
                                   "completed", "just did it ✅", "all done"])  # fmt: skip
async def test_done_in_everyday_words_logs_after_the_workout(chat: Chat, typed: str) -> None:
    await chat.say("/workout")
    said = await chat.say(typed)
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text
    said = await chat.say(typed)  # the workout's button no longer on show
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text


@pytest.mark.parametrize("talk", ["did it hurt?", "finished the report", "I'm done"])
async def test_everyday_words_that_are_not_a_log_log_nothing(
    chat: Chat, db_path: Path, talk: str
) -> None:
    said = await chat.say(talk)
    assert "Logged" not in said.text
    assert "rep count" not in said.text
    assert rows(db_path, "SELECT COUNT(*) FROM rep_logs") == [(0,)]


async def test_the_workout_stops_suggesting_a_recheck_once_it_was_done(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/check")
    for answer in CLEAR:
        await chat.tap(answer)
    await chat.say("done")
    clock.advance(days=29)
    said = await chat.say("/workout")
    assert "four weeks are up" in said.text
    assert "symptom check again (/check)" in said.text
    await chat.say("/check")
    for answer in CLEAR:
        await chat.tap(answer)
    said = await chat.say("/workout")
    assert "four weeks are up" in said.text
    assert "/check" not in said.text
    clock.advance(days=10)
    said = await chat.say("/workout")
    assert "/check" not in said.text


async def test_the_workout_after_four_weeks_without_any_check_suggests_a_first_one(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("done")
    clock.advance(days=29)
    said = await chat.say("/workout")
    assert "take the symptom check (/check)" in said.text
    assert "again" not in said.text


@pytest.mark.parametrize(("opened", "left_with"), [("/lunge", "stop"), ("/bridge", "menu")])
async def test_a_walk_through_only_opened_leaves_done_meaning_the_session(
    chat: Chat, opened: str, left_with: str
) -> None:
    await chat.say("/workout")
    await chat.say(opened)  # a look at the first step, then away
    await chat.say(left_with)
    said = await chat.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side." in said.text


async def test_done_in_the_middle_of_a_walk_through_logs_that_exercise(chat: Chat) -> None:
    await chat.say("/lunge")
    await chat.say("next")
    said = await chat.say("done 6")
    assert "Logged 6 lunges per side." in said.text


async def test_the_check_result_plans_from_where_the_person_is(
    chat: Chat, clock: FakeClock
) -> None:
    result = await take_check(chat, CLEAR)
    assert "glute bridges (start with 20)" in result  # new: the plan from the start
    await chat.say("done")
    clock.advance(days=8)
    result = await take_check(chat, CLEAR)
    assert "you're in week 2 of 4" in result
    assert "with 20 glute bridges and 5 lunges per side for now" in result
    assert "start with 20" not in result
    clock.advance(days=30)
    result = await take_check(chat, CLEAR)
    assert "your four weeks are behind you" in result
    assert "for about four weeks" not in result


async def in_tokyo(core: Core, clock: FakeClock) -> Chat:
    """Someone whose zone is Tokyo, on Tuesday at 05:00 there (Monday 12:00 in Los
    Angeles, where they move next)."""
    clock.now = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    tg = Chat(core, user="42", platform=Platform.TELEGRAM)
    await tg.say("/remind 07:30 Asia/Tokyo daily")
    return tg


async def test_moving_west_never_shows_programme_week_zero(core: Core, clock: FakeClock) -> None:
    """Logged on Tuesday morning in Tokyo, then moved to Los Angeles where it is still
    Monday: the programme's day doesn't go back, so it is week 1, not week 0 (whose goal
    would be week 4's)."""
    tg = await in_tokyo(core, clock)
    assert "Logged" in (await tg.say("done")).text
    await tg.say("/remind 07:30 America/Los_Angeles daily")  # Monday 12:00 there
    said = await tg.say("/stats")
    assert "week 0" not in said.text
    assert "Programme: week 1 of 4" in said.text
    assert "0 of 3 sessions" not in said.text  # week 1's goal is 2
    said = await tg.say("/workout")
    assert "week 0" not in said.text


async def test_the_workouts_done_pressed_again_after_moving_west_logs_once(
    core: Core, clock: FakeClock
) -> None:
    """The workout's Done pressed on Tuesday in Tokyo, then again after moving to Los
    Angeles (still Monday there): the day's session is logged once. It used to be logged
    again, dated the Monday before, raising both targets and starting a streak."""
    tg = await in_tokyo(core, clock)
    await tg.say("/workout")
    done = tg.button("I did it ✅")
    assert "Logged 20 glute bridges and 5 lunges per side" in (await tg.tap("I did it ✅")).text
    await tg.say("/remind 07:30 America/Los_Angeles daily")
    clock.advance(minutes=5)
    again = await tg.send(Incoming(tg.ref, "press-again", choice=done))
    assert "Already logged" in again.text
    said = await tg.say("/stats")
    assert "Glute bridges: 20 in total" in said.text
    assert "This week: 1 of 2 sessions" in said.text
    assert "Targets now: 20 bridges, 5 lunges per side" in said.text


async def test_a_second_done_after_moving_west_is_the_same_days(
    core: Core, clock: FakeClock
) -> None:
    """A "done" an hour after one in Tokyo, now in Los Angeles where it is the day before:
    a second go on the same day, not a session the day before that raises the targets;
    and undo doesn't call it a day from elsewhere."""
    tg = await in_tokyo(core, clock)
    assert "Logged" in (await tg.say("done")).text
    await tg.say("/remind 07:30 America/Los_Angeles daily")
    clock.advance(hours=1)
    said = await tg.say("done")
    assert "That makes 40 glute bridges and 10 lunges per side today" in said.text
    assert "goes up" not in said.text
    assert "This week: 1 of 2 sessions" in said.text
    said = await tg.say("/undo")
    assert "Removed your last log: 20 glute bridges and 5 lunges per side." in said.text


async def test_sets_without_the_count_in_each_are_asked_about(chat: Chat) -> None:
    said = await chat.say("done 2 sets")
    assert "How many in each set?" in said.text
    assert "Nothing was logged." in said.text
    said = await chat.say("done 2 sets of 10 each")
    assert "Logged 20 glute bridges." in said.text


async def test_the_workout_offers_a_how_to_for_every_exercise(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding an exercise is data (bot/flows/exercises.py), no engine change: its "How to
    do" button comes with the workout, as its walk-through does."""
    monkeypatch.setitem(EXERCISES, "squat", EXERCISES["bridge"])
    monkeypatch.setitem(chat.core.renderer.labels, "how_squat", "How to do a squat")
    said = await chat.say("/workout")
    labels = [choice.label for reply in said.replies for choice in reply.choices]
    assert labels == ["done_workout", "how_bridge", "how_lunge", "how_squat"]


def test_every_exercise_has_its_labels() -> None:
    labels = Renderer().labels
    for ex_id in EXERCISES:
        assert {f"how_{ex_id}", f"learn_{ex_id}"} <= labels.keys(), ex_id

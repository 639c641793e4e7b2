"""The symptom check, one question per message, end to end through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import Core, open_core
from bot.flows.check import QUESTIONS
from bot.model import Incoming, Platform
from tests.transcript import Chat, FakeClock

LIKELY = ["No", "No", "Yes", "Sometimes", "Yes", "No", "More than 8 hours",
          "I run, no strength work", "No"]  # fmt: skip
CLEAR = ["No", "No", "No", "No", "No", "No", "Under 4 hours", "I don't run", "No"]


async def take_check(chat: Chat, answers: list[str]) -> str:
    said = await chat.say("/check")
    assert "not a diagnosis" in said.text
    for number, answer in enumerate(answers, 1):
        assert f"Question {number} of 9" in chat.last.text if chat.last else False
        said = await chat.tap(answer)
    return said.text


async def test_check_walks_every_question_and_scores_likely(chat: Chat) -> None:
    result = await take_check(chat, LIKELY)
    assert "glute amnesia is likely" in result
    assert "3 of 4 symptoms" in result
    assert "numb or sore bum after sitting" in result
    assert "long hours sitting" in result
    assert "fully reversible" in result
    assert "2 to 3 short glute sessions a week for about four weeks" in result
    assert chat.last is not None
    assert chat.last.labels == ["Start with the glute bridge", "Later"]


async def test_no_symptoms_scores_unlikely(chat: Chat) -> None:
    assert "glute amnesia is unlikely" in await take_check(chat, CLEAR)


async def test_typed_answers_numbers_and_synonyms_work(chat: Chat) -> None:
    await chat.say("/check")
    typed = ["n", "nope", "yeah", "a bit", "y", "2", "3", "i run, no strength work", "no"]
    for answer in typed:
        said = await chat.say(answer)
    assert "glute amnesia is likely" in said.text


async def test_typed_hours_and_no_to_running_are_understood(chat: Chat) -> None:
    await chat.say("/check")
    for answer in ["no", "no", "yes", "no", "no", "no"]:
        await chat.say(answer)
    said = await chat.say("about 10 hours")
    assert "Question 8 of 9" in said.text
    said = await chat.say("back")
    said = await chat.say("3 hours")  # hours, where "3" alone is the third option
    assert "Question 8 of 9" in said.text
    said = await chat.say("no")  # "I don't run"
    assert "Question 9 of 9" in said.text
    said = await chat.say("no")
    assert "glute amnesia is possible" in said.text  # 2 for numbness, no risk points


async def test_the_explanation_mentions_yes_and_no_only_where_they_work(chat: Chat) -> None:
    await chat.say("/check")
    for answer in ["no", "no", "no", "no", "no", "no", "10"]:
        await chat.say(answer)
    await chat.say("yes")
    said = await chat.say("yes")
    assert "Type the number of one of the options" in said.text
    assert "Yes and no work" not in said.text
    await chat.say("no")
    await chat.say("purple")
    said = await chat.say("purple")
    assert "Yes and no work as words too" in said.text


async def test_urgent_red_flag_ends_the_check_without_a_plan(chat: Chat) -> None:
    await chat.say("/check")
    said = await chat.tap("Yes")
    assert "medical help now" in said.text
    assert "sessions a week" not in said.text
    assert "check/urgent_flag" in said.templates
    assert "Question" not in said.text


async def test_other_red_flag_sends_to_a_professional(chat: Chat) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.tap("Yes")
    assert "doctor or physiotherapist" in said.text
    assert "exercise plan" in said.text
    assert "Question" not in said.text


@pytest.mark.parametrize(
    "asked", ["/lunge", "/start bridge", "done", "done 12", "/done", "done 0", "done 1e9"]
)
async def test_after_a_red_flag_no_walk_through_or_log_either(chat: Chat, asked: str) -> None:
    await chat.say("/check")
    await chat.tap("No")
    await chat.tap("Yes")
    said = await chat.say(asked)
    assert "No workout for now" in said.text
    assert "Logged" not in said.text
    assert "step 1 of" not in said.text
    assert await chat.core.store.db.fetchall("SELECT * FROM rep_logs") == []


async def test_after_a_red_flag_no_workout_is_offered_until_a_clear_check(
    chat: Chat, clock: FakeClock
) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.tap("Yes")
    assert said.labels == []  # no menu, so no "Today's workout", with the advice
    said = await chat.say("/workout")
    assert "No workout for now" in said.text
    assert "Glute bridge: 2 sets" not in said.text
    assert said.labels == ["Take the check again"]
    said = await chat.say("/stats")
    assert "you told me about a warning sign" in said.text
    assert "haven't done the symptom check" not in said.text
    clock.advance(days=14)
    result = await take_check(chat, LIKELY)
    assert "symptoms (" not in result  # the flagged check has no count to compare with
    said = await chat.say("/workout")
    assert "Glute bridge: 2 sets of 10" in said.text
    said = await chat.say("/stats")
    assert "warning sign" not in said.text
    assert "Symptom check: 3 of 4 symptoms on 16 Mar 2026" in said.text


async def test_back_returns_to_the_previous_question(chat: Chat) -> None:
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say("back")
    assert "Question 1 of 9" in said.text
    said = await chat.tap("No")
    assert "Question 2 of 9" in said.text


async def test_a_later_check_shows_the_change_since_the_first(
    chat: Chat, clock: FakeClock
) -> None:
    await take_check(chat, LIKELY)
    clock.advance(days=30)
    result = await take_check(chat, ["No", "No", "Yes", "No", "No", "No", "4 to 8 hours",
                                     "I don't run", "No"])  # fmt: skip
    assert "1 of 4 symptoms (down from 3 on 02 Mar)" in result


async def test_a_later_check_with_more_symptoms_says_up(chat: Chat, clock: FakeClock) -> None:
    await take_check(chat, CLEAR)
    clock.advance(days=30)
    result = await take_check(chat, LIKELY)
    assert "3 of 4 symptoms (up from 0 on 02 Mar)" in result
    clock.advance(days=30)
    result = await take_check(chat, LIKELY)
    assert "3 of 4 symptoms (the same as 0" not in result
    assert "(up from 0 on 02 Mar)" in result  # compared with the first check


async def test_check_dates_are_the_persons_own_day(core: Core, clock: FakeClock) -> None:
    clock.advance(hours=14, minutes=30)  # 23:30 UTC on 2 March: 3 March in Berlin
    chat = Chat(core, platform=Platform.TELEGRAM)
    await chat.say("/remind 07:30 Europe/Berlin daily")
    await take_check(chat, LIKELY)
    clock.advance(days=30)
    result = await take_check(chat, CLEAR)
    assert "(down from 3 on 03 Mar)" in result
    said = await chat.say("/stats")
    assert "3 of 4 symptoms on 03 Mar 2026" in said.text


async def test_nonsense_answer_reprompts_then_explains(chat: Chat) -> None:
    await chat.say("/check")
    first = await chat.say("purple")
    assert 'didn\'t understand "purple"' in first.text
    assert "Question 1 of 9" in first.text
    assert "Type the number" not in first.text
    second = await chat.say("banana")
    assert "Type the number of one of the options" in second.text
    assert "Question 1 of 9" in second.text
    assert chat.last is not None
    assert chat.last.labels == ["Yes", "No"]


async def test_restart_mid_check_resumes_at_the_same_question(
    core: Core, db_path: Path, clock: FakeClock
) -> None:
    chat = Chat(core)
    await chat.say("/check")
    await chat.tap("No")
    await chat.tap("No")
    async with open_core(db_path, clock=clock) as second:
        again = Chat(second)
        said = await again.say("yes")
        assert "Question 4 of 9" in said.text
        said = await again.say("/start")
        assert "still in the middle of your symptom check" in said.text
        said = await again.tap("Continue")
        assert "Question 4 of 9" in said.text


async def test_idle_for_a_day_asks_to_continue_or_start_over(chat: Chat, clock: FakeClock) -> None:
    await chat.say("/check")
    await chat.tap("No")
    clock.advance(hours=25)
    said = await chat.say("no")
    assert "continue where you left off, or start over" in said.text
    said = await chat.tap("Start over")
    assert "Question 1 of 9" in said.text


async def test_stale_button_gets_a_polite_answer(chat: Chat) -> None:
    await chat.say("/check")
    old_yes = chat.button("No")
    await chat.tap("No")
    said = await chat.send(Incoming(chat.ref, "stale-1", choice=old_yes))
    assert said.templates == ["stale_button"]
    assert "earlier message" in said.text


async def test_the_explanation_at_question_1_does_not_offer_back(chat: Chat) -> None:
    await chat.say("/check")
    await chat.say("purple")
    said = await chat.say("banana")
    assert "Question 1 of 9" in said.text
    assert '"back"' not in said.text
    await chat.tap("No")
    await chat.say("purple")
    said = await chat.say("banana")
    assert "Question 2 of 9" in said.text
    assert "⬅ Back" in said.labels  # where Back works, it is one of the options


async def test_an_unlikely_result_without_symptoms_reads_right(chat: Chat) -> None:
    result = await take_check(chat, CLEAR)
    assert "0 of 4 symptoms" in result
    assert "Even so" not in result
    assert "doing their job" in result


async def test_oops_in_the_check_goes_back_and_keeps_the_log(chat: Chat) -> None:
    await chat.say("done")
    await chat.say("/check")
    await chat.tap("No")
    said = await chat.say("oops")
    assert "Question 1 of 9" in said.text
    assert "Removed" not in said.text
    assert len(await chat.core.store.db.fetchall("SELECT * FROM rep_logs")) == 2


@pytest.mark.parametrize("unsure", ["not sure", "I don't know", "maybe", "dunno", "sometimes"])
async def test_unsure_at_a_red_flag_question_advises_a_check_and_asks_again(
    chat: Chat, unsure: str
) -> None:
    await chat.say("/check")
    said = await chat.say(unsure)
    assert "check/unsure" in said.templates
    assert "didn't understand" not in said.text
    assert "doctor" in said.text
    assert "Question 1 of 9" in said.text
    said = await chat.say("no")
    said = await chat.say(unsure)
    assert "doctor or physiotherapist" in said.text
    assert "Question 2 of 9" in said.text
    assert said.labels == ["Yes", "No", "⬅ Back"]
    said = await chat.say("no")
    assert "Question 3 of 9" in said.text
    assert await chat.core.store.db.fetchall("SELECT * FROM checks") == []


async def test_not_sure_at_a_symptom_question_asks_for_a_best_guess(chat: Chat) -> None:
    await chat.say("/check")
    await chat.say("no")
    await chat.say("no")
    said = await chat.say("not sure")
    assert "Question 3 of 9" in said.text  # asked again: no symptom is counted for it
    assert "best guess" in said.text
    assert '"Sometimes"' in said.text
    assert "didn't understand" not in said.text
    assert "doctor" not in said.text
    said = await chat.say("maybe")  # as it always did, "maybe" is "sometimes" here
    assert "Question 4 of 9" in said.text


@pytest.mark.parametrize("unsure", ["don't know", "maybe"])
async def test_unsure_about_a_habit_asks_for_the_closest_answer(chat: Chat, unsure: str) -> None:
    await chat.say("/check")
    for answer in CLEAR[:8]:
        await chat.say(answer)
    said = await chat.say(unsure)  # the posture question: yes or no, no "sometimes"
    assert "Question 9 of 9" in said.text
    assert "closest" in said.text
    assert "didn't understand" not in said.text
    assert await chat.core.store.db.fetchall("SELECT * FROM checks") == []


@pytest.mark.parametrize(
    ("platform", "typed", "points"),
    [
        (Platform.TELEGRAM, "3", "possible"),  # 3 hours: under 4, no risk points
        (Platform.DISCORD, "4", "likely"),  # 4 hours: 4 to 8, not the fourth button (Back)
        (Platform.CONSOLE, "3", "likely"),  # the third numbered option: more than 8 hours
    ],
)
async def test_a_bare_number_of_hours_is_hours_where_options_have_no_numbers(
    core: Core, platform: Platform, typed: str, points: str
) -> None:
    chat = Chat(core, platform=platform)
    await chat.say("/check")
    for answer in ["no", "no", "yes", "sometimes", "no", "no"]:
        await chat.say(answer)
    said = await chat.say(typed)
    assert "Question 8 of 9" in said.text
    await chat.say("I run, no strength work")  # 1 risk point
    said = await chat.say("no")
    assert f"glute amnesia is {points}" in said.text


@pytest.mark.parametrize("nod", ["ok", "Okay!", "sure", "👍"])
async def test_a_nod_is_no_answer_to_a_safety_question(chat: Chat, nod: str) -> None:
    await chat.say("/check")
    said = await chat.say(nod)  # more likely "I've read the intro" than a yes
    assert 'clear "yes" or "no"' in said.text
    assert "Question 1 of 9" in said.text
    await chat.say("no")
    said = await chat.say(nod)
    assert "Question 2 of 9" in said.text
    said = await chat.say("yes")
    assert "doctor or physiotherapist" in said.text
    rows = await chat.core.store.db.fetchall("SELECT band FROM checks")
    assert [tuple(row) for row in rows] == [("red_flag",)]


async def test_ok_still_answers_yes_where_nothing_is_at_stake(chat: Chat) -> None:
    await chat.say("/check")
    await chat.say("no")
    await chat.say("no")
    said = await chat.say("ok")  # a symptom: yes
    assert "Question 4 of 9" in said.text


async def test_check_in_the_middle_of_the_check_asks_before_starting_over(chat: Chat) -> None:
    await chat.say("/check")
    for answer in ["no", "no", "yes"]:
        await chat.say(answer)
    said = await chat.say("/check")
    assert "still in the middle of your symptom check" in said.text
    said = await chat.tap("Continue")
    assert "Question 4 of 9" in said.text
    await chat.say("check")
    said = await chat.tap("Start over")
    assert "Question 1 of 9" in said.text


async def test_after_a_warning_the_menu_hint_does_not_suggest_logging(chat: Chat) -> None:
    await chat.say("/check")
    await chat.say("yes")  # the urgent question: the check ends there
    await chat.say("blah")
    said = await chat.say("blah")  # a second miss: the hint comes
    assert "pick something from the menu" in said.text.lower()
    assert '"done"' not in said.text


@pytest.mark.parametrize("answer", ["yes, a little", "Yeah I have", "yes but only once"])
async def test_any_yes_to_the_warning_signs_counts(chat: Chat, answer: str) -> None:
    await chat.say("/check")
    await chat.say("no")
    said = await chat.say(answer)
    assert said.templates == ["check/red_flag"]


@pytest.mark.parametrize("answer", ["I think so", "probably", "perhaps"])
async def test_a_hedged_answer_to_the_warning_signs_gets_the_be_checked_advice(
    chat: Chat, answer: str
) -> None:
    await chat.say("/check")
    await chat.say("no")
    said = await chat.say(answer)
    assert said.templates[0] == "check/unsure"
    assert "Question 2 of 9" in said.text


@pytest.mark.parametrize("platform", [Platform.TELEGRAM, Platform.DISCORD])
async def test_a_bare_number_is_no_answer_to_the_warning_signs_under_plain_buttons(
    core: Core, platform: Platform
) -> None:
    """The buttons show no numbers there, so "2" ("two of these apply") used to be taken
    as the second button, "No", and the check went on towards an exercise plan."""
    chat = Chat(core, platform=platform)
    await chat.say("/check")
    await chat.say("no")
    said = await chat.say("2")
    assert 'clear "yes" or "no"' in said.text
    assert "Question 2 of 9" in said.text


@pytest.mark.parametrize(
    ("typed", "means"),
    [("always", "Yes"), ("often", "Yes"), ("all the time", "Yes"), ("✅", "Yes"),
     ("oui", "Yes"), ("sí", "Yes"), ("not at all", "No"), ("❌", "No")],
)  # fmt: skip
async def test_everyday_answers_to_a_symptom_question(chat: Chat, typed: str, means: str) -> None:
    await chat.say("/check")
    await chat.say("no")
    await chat.say("no")
    said = await chat.say(typed)
    assert "Question 4 of 9" in said.text
    for answer in ("no", "no", "no", "1", "3", "no"):  # the rest: nothing else counts
        said = await chat.say(answer)
    counted = "You have 1 of 4 symptoms" if means == "Yes" else "You have 0 of 4 symptoms"
    assert counted in said.text


async def test_yes_to_the_offer_after_the_result_starts_the_bridge(chat: Chat) -> None:
    assert "The plan" in await take_check(chat, CLEAR)
    said = await chat.say("yes")
    assert "step 1 of 5" in said.text


async def test_the_result_comes_one_idea_a_message(chat: Chat) -> None:
    await take_check(chat, LIKELY)
    assert chat.last is not None
    assert chat.last.templates == ["check/result", "check/why", "check/plan"]
    assert max(len(text) for text in chat.last.plain) < 600
    assert chat.last.labels == ["Start with the glute bridge", "Later"]


@pytest.mark.parametrize(
    ("typed", "band"),
    [("7.5 hours", "4to8"), ("8,5", "over8"), ("about 3.5h", "under4"), ("8.0", "4to8")],
)
def test_hours_with_a_fraction_are_read(typed: str, band: str) -> None:
    """ "7.5 hours" to how long one sits a day was "didn't understand"."""
    [question] = [q for q in QUESTIONS if q.id == "sitting_hours"]
    assert question.read(None, typed) == band


async def test_none_answers_the_list_of_warning_signs_and_sort_of_is_sometimes(
    chat: Chat,
) -> None:
    """ "Do any of these apply to you?" is most naturally answered "none of these"."""
    await chat.say("/check")
    await chat.say("no")
    said = await chat.say("none of these")
    assert "Question 3 of 9" in said.text
    for answer in ("sort of", "no", "no", "no", "under 4 hours", "I don't run", "none"):
        said = await chat.say(answer)
    assert "glute amnesia is unlikely" in said.text
    assert "numb or sore bum after sitting" in said.text  # "sort of": sometimes, 1 point


@pytest.mark.parametrize("typed", ["I don't lift", "I dont lift weights", "n/a"])
async def test_not_lifting_answers_the_question_about_lifting_as_no(
    chat: Chat, typed: str
) -> None:
    """The question says to answer no if you don't lift; saying so is that no."""
    await chat.say("/check")
    for answer in ("no", "no", "no"):
        await chat.say(answer)
    said = await chat.say(typed)
    assert "Question 5 of 9" in said.text

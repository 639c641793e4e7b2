"""/remind, /stop and the messages schedules send, through the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Core, open_core
from bot.model import Delivery, Incoming, Platform
from bot.scheduler import Prompt, Scheduler
from bot.store.schedules import DisabledReason, reminder_owner
from tests.test_check import CLEAR
from tests.transcript import Chat, FakeClock, Said


@pytest.fixture
async def woken(db_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Core, list[int]]]:
    calls: list[int] = []
    async with open_core(db_path, clock=clock, on_schedule_change=lambda: calls.append(1)) as c:
        yield c, calls


@pytest.fixture
def tg(woken: tuple[Core, list[int]]) -> Chat:
    return Chat(woken[0], user="42", platform=Platform.TELEGRAM)


async def reminder(core: Core, user_id: int = 1):  # type: ignore[no-untyped-def]
    return await core.store.schedules.get(reminder_owner(user_id))


async def next_reminder(core: Core, platform: Platform) -> str:
    """The text of the first person's reminder when it next falls due."""
    schedule = await reminder(core)
    assert schedule is not None
    assert schedule.next_day is not None
    replies = await core.engine.scheduled(Prompt(schedule, schedule.next_day))
    return core.renderer.render(replies[0], platform).text


async def test_remind_asks_time_zone_and_days_then_saves(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    core, calls = woken
    said = await tg.say("/remind")
    assert "What time suits you" in said.text
    said = await tg.say("7:30am")
    assert "Which time zone" in said.text
    said = await tg.tap("London")
    assert "Which days?" in said.text
    said = await tg.tap("Mon, Wed, Fri")
    assert "at 07:30 (Europe/London) on Mon, Wed and Fri" in said.text
    assert "Wednesday 04 March at 07:30" in said.text  # 2 March 09:00 UTC has passed 07:30
    schedule = await reminder(core)
    assert schedule is not None
    assert schedule.enabled
    assert schedule.target == "42"
    assert calls == [1]
    user = await core.store.users.get("telegram", "42")
    assert user is not None
    assert user.tz == "Europe/London"


async def test_the_timezone_is_asked_once(tg: Chat) -> None:
    await tg.say("/remind 07:00 Europe/Berlin daily")
    said = await tg.say("/remind")
    assert "Your reminder comes at 07:00 (Europe/Berlin) every day" in said.text
    await tg.tap("Change it")
    said = await tg.say("18:00")
    assert "Which days?" in said.text


async def test_someone_who_moved_is_told_how_to_change_the_zone(tg: Chat) -> None:
    """ "Change it" asks the time and the days, never the zone (asked once): someone who
    moved needs to know that /remind with the new zone changes it."""
    await tg.say("/remind 07:00 Europe/London daily")
    said = await tg.say("/remind")
    assert "new time zone" in said.text
    said = await tg.say("/remind 07:00 Asia/Tokyo")
    assert "at 07:00 (Asia/Tokyo) every day" in said.text


async def test_typed_nonsense_reprompts_without_saving(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    await tg.say("/remind")
    said = await tg.say("25:99")
    assert "didn't understand" in said.text
    assert "What time suits you" in said.text
    await tg.say("08:15")
    said = await tg.say("Mars/Olympus_Mons")
    assert "Which time zone" in said.text
    assert await reminder(woken[0]) is None


async def test_inline_remind_reports_the_bad_part(tg: Chat) -> None:
    said = await tg.say("/remind 07:30 Atlantis/Lost mon")
    assert 'don\'t know the time zone "Atlantis/Lost"' in said.text
    said = await tg.say("/remind 7 UTC")
    assert "as a time" in said.text


async def test_inline_remind_reads_fields_by_name_in_any_order(tg: Chat) -> None:
    # Discord's /remind sends its options this way; anyone may type it too.
    await tg.say("/remind 07:00 Europe/Berlin daily")
    said = await tg.say("/remind days:tue thu time:6 pm")
    assert "at 18:00 (Europe/Berlin) on Tue and Thu" in said.text  # the saved zone
    said = await tg.say("/remind timezone:America/New York days:weekdays")
    assert "What time suits you" in said.text
    said = await tg.say("07:30")
    assert "at 07:30 (America/New_York) on weekdays" in said.text
    said = await tg.say("/remind time:off")
    assert "Reminders are off" in said.text


async def test_a_one_line_reminder_without_a_zone_asks_it_when_none_is_known(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    """Someone in New York who sends "/remind 7:30am" is asked their zone, not reminded at
    07:30 UTC (02:30 for them) with UTC remembered as theirs; the time and days given are
    kept for when they answer."""
    core = woken[0]
    said = await tg.say("/remind 7:30am weekdays")
    assert "Which time zone" in said.text
    assert await reminder(core) is None
    user = await core.store.users.get(Platform.TELEGRAM, "42")
    assert user is not None
    assert user.tz is None
    said = await tg.say("New York")
    assert "at 07:30 (America/New_York) on weekdays" in said.text


async def test_stop_and_remind_off_turn_it_off(tg: Chat, woken: tuple[Core, list[int]]) -> None:
    await tg.say("/remind 06:45 UTC weekdays")
    said = await tg.say("/stop")
    assert "Reminders are off" in said.text
    schedule = await reminder(woken[0])
    assert schedule is not None
    assert not schedule.enabled
    said = await tg.say("/remind off")
    assert "don't have a reminder" in said.text


async def test_the_console_explains_reminders_need_a_chat_app(chat: Chat) -> None:
    said = await chat.say("/remind")
    assert "can't reach this terminal" in said.text


async def test_a_due_reminder_carries_the_workout_and_a_done_button(
    tg: Chat, woken: tuple[Core, list[int]], clock: FakeClock
) -> None:
    core = woken[0]
    await tg.say("/remind 07:30 Europe/London mon,wed,fri")
    text = await next_reminder(core, Platform.TELEGRAM)
    assert "Time for your glutes" in text
    assert "2 sets of 10" in text
    tg.last = None
    said = await tg.say("done")
    assert "Logged 20 glute bridges and 5 lunges" in said.text


async def test_after_a_red_flag_the_reminder_holds_the_workout_back(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    core = woken[0]
    await tg.say("/remind 07:30 Europe/London mon,wed,fri")
    await tg.say("/check")
    await tg.tap("Yes")
    text = await next_reminder(core, Platform.TELEGRAM)
    assert "No workout for now" in text
    assert "2 sets of 10" not in text


async def test_unanswered_reminders_ask_once_whether_to_continue(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    core = woken[0]
    await tg.say("/remind 07:30 UTC daily")
    schedule = await reminder(core)
    assert schedule is not None
    assert schedule.next_day is not None
    replies = await core.engine.scheduled(Prompt(schedule, schedule.next_day, True))
    text = core.renderer.render(replies[0], Platform.TELEGRAM).text
    assert "paused them" in text
    await tg.send_replies(replies)
    said = await tg.tap("Yes, keep reminding me")
    assert "back on" in said.text


async def test_after_four_weeks_the_reminder_suggests_a_recheck(
    tg: Chat, woken: tuple[Core, list[int]], clock: FakeClock
) -> None:
    core = woken[0]
    await tg.say("done")
    clock.advance(days=29)
    await tg.say("/remind 07:30 UTC daily")
    text = await next_reminder(core, Platform.CONSOLE)
    assert "four weeks are up" in text  # one session in four weeks: over, not kept up
    assert "/check" in text


async def test_stop_in_the_terminal_does_not_send_people_to_remind(core: Core) -> None:
    said = await Chat(core).say("/stop")
    assert "/remind" not in said.text
    assert "terminal" in said.text
    tg = Chat(core, user="7", platform=Platform.TELEGRAM)
    said = await tg.say("/stop")
    assert "Send /remind to set one up" in said.text


async def test_the_reminder_stops_suggesting_a_recheck_once_it_was_done(
    tg: Chat, woken: tuple[Core, list[int]], clock: FakeClock
) -> None:
    core = woken[0]
    await tg.say("done")
    clock.advance(days=29)
    await tg.say("/remind 07:30 UTC daily")
    await tg.say("/check")
    for answer in CLEAR:
        await tg.tap(answer)
    text = await next_reminder(core, Platform.CONSOLE)
    assert "four weeks are up" in text
    assert "/check" not in text


async def test_remind_again_after_todays_reminder_confirms_tomorrows(
    tg: Chat, woken: tuple[Core, list[int]], clock: FakeClock
) -> None:
    # Monday's 07:30 (Berlin) reminder has gone out; moved to 19:30 that morning, the next
    # one is Tuesday's (at most one a day), asked step by step or typed in one go.
    async def delivered(prompt: Prompt) -> Delivery:
        return Delivery.SENT

    core = woken[0]
    clock.now = clock.now.replace(hour=5)  # Monday 2 March, 06:00 in Berlin
    await tg.say("/remind 07:30 Europe/Berlin daily")
    clock.now = clock.now.replace(hour=6, minute=30)
    await Scheduler(core.store.schedules, delivered, clock=clock, pacers={}).run_once()
    clock.now = clock.now.replace(hour=8, minute=0)
    said = await tg.say("/remind 19:30 Europe/Berlin daily")
    assert "Your next reminder: Tuesday 03 March at 19:30" in said.text
    await tg.say("/remind")
    await tg.tap("Change it")
    await tg.say("20:00")
    said = await tg.tap("Every day")
    assert "Your next reminder: Tuesday 03 March at 20:00" in said.text


async def test_gmt_plus_2_reminds_at_utc_plus_2_and_says_so(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    said = await tg.say("/remind 07:30 GMT+2 daily")
    assert "at 07:30 (UTC+2, no daylight saving) every day" in said.text
    schedule = await reminder(woken[0])
    assert schedule is not None
    assert schedule.next_due is not None
    assert schedule.next_due.hour == 5  # 07:30 at UTC+2 is 05:30 UTC
    said = await tg.say("/remind")
    assert "comes at 07:30 (UTC+2, no daylight saving)" in said.text


@pytest.mark.parametrize(
    ("typed", "confirmed"),
    [
        ("/remind 6pm new york", "at 18:00 (America/New_York) on Mon, Wed and Fri"),
        ("/remind 7:30 London weekdays", "at 07:30 (Europe/London) on weekdays"),
        ("/remind 07:00 buenos aires tue,thu", "(America/Argentina/Buenos_Aires) on Tue and Thu"),
        # am or pm as a word of its own belongs to the time, not to the zone.
        ("/remind 7 pm Europe/London daily", "at 19:00 (Europe/London) every day"),
        ("/remind 7:30 a.m. London weekdays", "at 07:30 (Europe/London) on weekdays"),
        ("/remind noon London", "at 12:00 (Europe/London) on Mon, Wed and Fri"),
        ("/remind 12 noon London daily", "at 12:00 (Europe/London) every day"),
        # Typed on a full-width keyboard, its space between the time and the zone too.
        ("/remind \uff17\uff1a\uff13\uff10\u3000Tokyo", "at 07:30 (Asia/Tokyo)"),
    ],
)
async def test_the_time_and_the_zone_can_be_typed_in_words_with_spaces(
    tg: Chat, typed: str, confirmed: str
) -> None:
    said = await tg.say(typed)
    assert confirmed in said.text


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("remind me", "What time suits you"),
        ("/remind me", "What time suits you"),
        ("remind me at 7pm London", "at 19:00 (Europe/London) on Mon, Wed and Fri"),
        ("/remind at 6:30 pm new york weekdays", "at 18:30 (America/New_York) on weekdays"),
    ],
)
async def test_remind_me_at_reads_as_remind(tg: Chat, typed: str, answer: str) -> None:
    """ "remind me" is how people ask for a reminder: "me" and "at" are not the time."""
    said = await tg.say(typed)
    assert answer in said.text


async def test_an_unknown_zone_is_reported_by_its_first_word(tg: Chat) -> None:
    said = await tg.say("/remind 7:30 Atlantis mon")
    assert 'time zone "Atlantis"' in said.text


async def test_days_without_a_zone_keep_the_zone_known(tg: Chat) -> None:
    await tg.say("/remind 07:30 Europe/Berlin daily")
    said = await tg.say("/remind 7pm weekdays")
    assert "at 19:00 (Europe/Berlin) on weekdays" in said.text


async def test_a_new_time_alone_keeps_the_reminders_days(tg: Chat) -> None:
    """Someone reminded every day who moves it to the evening is still reminded every day,
    as /setup keeps a server's days: not quietly cut to Mon, Wed and Fri."""
    await tg.say("/remind 07:00 Europe/London daily")
    said = await tg.say("/remind 8pm")
    assert "at 20:00 (Europe/London) every day" in said.text
    await tg.say("/remind off")
    said = await tg.say("/remind 9pm")
    assert "at 21:00 (Europe/London) every day" in said.text


async def reminded(core: Core, tg: Chat, *, asks_to_continue: bool = False) -> Said:
    """The first person's reminder, delivered to their chat as the runner does."""
    schedule = await reminder(core)
    assert schedule is not None
    assert schedule.next_day is not None
    assert schedule.next_due is not None
    if asks_to_continue:
        # As the scheduler does: the reminder is paused when the question goes out.
        assert await core.store.schedules.claim_pause(schedule, schedule.next_due)
    prompt = Prompt(schedule, schedule.next_day, asks_to_continue)
    replies = await core.engine.scheduled(prompt)
    await core.engine.delivered(prompt, replies)
    return await tg.send_replies(replies)


@pytest.mark.parametrize(
    ("typed", "answer"), [("yes", "back on"), ("no", "Reminders are off"), ("/stop", "are off")]
)
async def test_yes_or_no_typed_answers_the_question_whether_to_keep_reminding(
    tg: Chat, woken: tuple[Core, list[int]], typed: str, answer: str
) -> None:
    await tg.say("/remind 07:30 UTC daily")
    await reminded(woken[0], tg, asks_to_continue=True)
    said = await tg.say(typed)
    assert answer in said.text


async def test_a_number_typed_after_a_reminder_picks_from_the_reminder(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    await tg.say("/start")  # the main menu: "1" was the symptom check
    await tg.say("/remind 07:30 UTC daily")
    await reminded(woken[0], tg)
    said = await tg.say("1")  # "I did it ✅"
    assert "Logged 20 glute bridges and 5 lunges per side" in said.text


async def test_after_a_reminder_done_means_its_session_once(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    await tg.say("/lunge")
    for _ in range(5):
        await tg.say("next")  # walked to the end: "done" would mean lunges
    await tg.say("/remind 07:30 UTC daily")
    shown = await reminded(woken[0], tg)
    button = tg.button("I did it ✅")
    said = await tg.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side" in said.text
    said = await tg.send(Incoming(tg.ref, "press-after-done", choice=button))
    assert "Already logged" in said.text
    assert shown.labels[0] == "I did it ✅"


async def test_a_reminder_does_not_interrupt_what_the_person_is_in_the_middle_of(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    await tg.say("/remind 07:30 UTC daily")
    for answer in ("/check", "no", "no"):
        await tg.say(answer)
    await reminded(woken[0], tg)
    said = await tg.say("2")  # the check's "Sometimes", not the reminder's second button
    assert "Question 4 of 9" in said.text


async def test_writing_again_after_being_unreachable_offers_the_reminder_back(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    core = woken[0]
    await tg.say("/remind 07:30 Europe/Berlin daily")
    await core.engine.reminder_unreachable(Platform.TELEGRAM, "42")  # they blocked the bot
    await core.store.users.mark_blocked(Platform.TELEGRAM, "42")
    said = await tg.say("hi")  # unblocked, and writing again
    assert "switched off your reminder (07:30, Europe/Berlin, every day)" in said.text
    said = await tg.say("yes")
    assert "back on" in said.text
    schedule = await reminder(core)
    assert schedule is not None
    assert schedule.enabled
    said = await tg.say("hi")
    assert "switched off" not in said.text  # said once


@pytest.mark.parametrize(
    ("reason", "why"),
    [(DisabledReason.PAUSED, "paused"), (DisabledReason.GONE, "couldn't reach you")],
)
async def test_remind_with_a_reminder_the_bot_switched_off_offers_it_back(
    tg: Chat, woken: tuple[Core, list[int]], clock: FakeClock, reason: DisabledReason, why: str
) -> None:
    """It was theirs, set up and switched off by the bot, not by them: /remind says so and
    offers it back, rather than asking for a time as if there were none."""
    core = woken[0]
    await tg.say("/remind 07:30 Europe/Berlin daily")
    schedule = await reminder(core)
    await core.store.schedules.disable(schedule.id, reason, clock.now)
    said = await tg.say("/remind")
    assert why in said.text
    assert "07:30" in said.text
    assert said.labels == ["Yes, keep reminding me", "Change it", "No, leave them off"]
    said = await tg.say("yes")
    assert "back on" in said.text
    schedule = await reminder(core)
    assert schedule.enabled


async def test_a_reminder_they_switched_off_is_not_offered_back(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    core = woken[0]
    await tg.say("/remind 07:30 Europe/Berlin daily")
    await tg.say("/stop")
    await core.store.users.mark_blocked(Platform.TELEGRAM, "42")
    said = await tg.say("hi")
    assert "switched off your reminder" not in said.text


async def test_stop_during_the_reminder_setup_ends_the_setup(core: Core) -> None:
    """/stop in the middle of changing the reminder ends the change too: "hi" next gets the
    menu, not "we're still setting up your reminder"."""
    tg = Chat(core, user="42", platform=Platform.TELEGRAM)
    await tg.say("/remind 07:30 UTC daily")
    await tg.say("/remind")
    said = await tg.tap("Change it")
    assert "What time suits you" in said.text
    said = await tg.say("/stop")
    assert "Reminders are off" in said.text
    said = await tg.say("hi")
    assert "middle of setting up your reminder" not in said.text
    assert "What would you like to do?" in said.text


async def test_setting_a_new_reminder_after_unblocking_does_not_offer_the_old_one(
    core: Core,
) -> None:
    """Back after blocking the bot, the first message sets a new reminder: the answer
    doesn't go on to offer the old one back."""
    tg = await switched_off_while_blocked(core)
    said = await tg.say("/remind 08:00 Europe/Berlin daily")
    assert "I'll remind you at 08:00 (Europe/Berlin) every day" in said.text
    assert "switched off your reminder" not in said.text
    assert "07:30" not in said.text


async def test_no_answers_the_offer_to_turn_the_reminder_back_on(core: Core) -> None:
    """ "Shall I turn it back on?" has a no as well as a yes, typed or pressed: it leaves
    the reminder off."""
    tg = await switched_off_while_blocked(core)
    said = await tg.say("hi")
    assert "shall I turn it back on?" in said.text
    said = await tg.say("no")
    assert "didn't understand" not in said.text
    schedule = await core.store.schedules.get(reminder_owner(1))
    assert schedule is not None
    assert not schedule.enabled


async def test_remind_off_typed_without_the_slash_turns_the_reminder_off(core: Core) -> None:
    """Commands work typed without their slash, words after them too: "remind off"."""
    tg = Chat(core, user="42", platform=Platform.TELEGRAM)
    await tg.say("/remind 07:30 Europe/Berlin daily")
    said = await tg.say("remind off")
    assert "didn't understand" not in said.text
    assert "Reminders are off" in said.text
    schedule = await core.store.schedules.get(reminder_owner(1))
    assert schedule is not None
    assert not schedule.enabled


async def test_a_bare_number_for_the_reminder_time_on_telegram_is_not_a_hidden_option(
    core: Core,
) -> None:
    """Telegram's buttons show no numbers: "3" at the time question is 3 o'clock, as
    ambiguous as "7", not the third button (18:00)."""
    tg = Chat(core, user="42", platform=Platform.TELEGRAM)
    await tg.say("/remind")
    said = await tg.say("7")
    assert "Which time zone" not in said.text  # a bare hour is refused...
    said = await tg.say("3")
    assert "Which time zone" not in said.text  # ...but "3" became 18:00


async def switched_off_while_blocked(core: Core) -> Chat:
    """A Telegram user whose 07:30 reminder was switched off when they blocked the bot."""
    tg = Chat(core, user="42", platform=Platform.TELEGRAM)
    await tg.say("/remind 07:30 Europe/Berlin daily")
    await core.engine.reminder_unreachable(Platform.TELEGRAM, "42")
    await core.store.users.mark_blocked(Platform.TELEGRAM, "42")
    return tg


@pytest.mark.parametrize("meanwhile", [("/forget", "yes"), ("/remind off",)])
async def test_a_reminder_waiting_to_be_sent_is_not_sent_after_forget_or_off(
    tg: Chat, woken: tuple[Core, list[int]], meanwhile: tuple[str, ...]
) -> None:
    """Picked up when due, a reminder waits its turn to be sent. A /forget in that moment
    was answered "deleted everything", and then the reminder came, with a Done button that
    brought the person back when pressed."""
    core = woken[0]
    await tg.say("/remind 07:30 UTC daily")
    due = await reminder(core)
    assert due is not None
    assert due.next_day is not None
    for text in meanwhile:
        await tg.say(text)
    assert await core.engine.scheduled(Prompt(due, due.next_day)) == []


async def test_an_abbreviation_is_read_as_its_places_clock_and_said_so(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    said = await tg.say("/remind 07:30 PST weekdays")
    assert "at 07:30 (America/Los_Angeles) on weekdays" in said.text
    assert 'I took "PST" to mean the time in America/Los_Angeles' in said.text
    assert "/remind 07:30 Toronto" in said.text  # how to correct it
    user = await woken[0].store.users.get("telegram", "42")
    assert user is not None
    assert user.tz == "America/Los_Angeles"  # daylight saving and all


async def test_a_zone_several_places_could_be_is_asked_about_by_name(
    tg: Chat, woken: tuple[Core, list[int]]
) -> None:
    said = await tg.say("/remind 07:30 IST daily")
    assert '"IST" could be Asia/Kolkata, Asia/Jerusalem or Europe/Dublin' in said.text
    assert "/remind 07:30 Asia/Kolkata" in said.text
    assert "Nothing was changed" in said.text
    assert await reminder(woken[0]) is None
    # Answered step by step: the places, and the zone question's buttons, to pick one.
    await tg.say("/remind")
    await tg.say("07:30")
    said = await tg.say("UTC+5:30")
    assert '"UTC+5:30" could be Asia/Kolkata or Asia/Colombo' in said.text
    assert "India" in said.labels
    said = await tg.say("Asia/Colombo")
    assert "Which days?" in said.text
    said = await tg.say("daily")
    assert "at 07:30 (Asia/Colombo) every day" in said.text
    assert "I took" not in said.text  # named, not guessed


async def test_a_guess_typed_step_by_step_is_said_in_the_confirmation(tg: Chat) -> None:
    await tg.say("/remind")
    await tg.say("18:00")
    said = await tg.say("cest")
    assert "Which days?" in said.text
    said = await tg.say("weekends")
    assert "at 18:00 (Europe/Berlin) at weekends" in said.text
    assert 'I took "cest" to mean the time in Europe/Berlin' in said.text

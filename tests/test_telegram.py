"""The Telegram adapter: real PTB and the real engine over a fake Bot API transport.

Every test drives the bot the way Telegram does: updates served by getUpdates, answers
read back from the Bot API calls the bot made (see tests/fakes/telegram_api.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram.error import TimedOut
from telegram.ext import AIORateLimiter

from bot.adapters.base import StartError
from bot.adapters.telegram_adapter import (
    CHOSEN,
    CONTINUE_IN_PRIVATE,
    SEND_ATTEMPTS,
    SENT_PRIVATELY,
    TelegramAdapter,
)
from bot.adapters.telegram_polling import Ledger
from bot.adapters.telegram_wire import delivery_for, worth_retrying
from bot.app import Core, open_core
from bot.model import ChatRef, Choice, Delivery, Incoming, Platform, Reply
from bot.render import Rendered, Renderer, escape
from bot.scheduler import Prompt
from bot.store.db import sql_write
from bot.store.schedules import reminder_owner
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    JSON,
    TOKEN,
    Call,
    Channel,
    FakeBotApi,
    Group,
    Person,
    Server,
    Talk,
)
from tests.isolates import BIDI_CONTROLS, isolated, shown

ALICE = Person(1001, "Alice", "alice")
BOB = Person(1002, "Bob")
DESK = Group(-100777, "Desk Workers")


class Bot:
    """A running adapter over a fake server, with a talk per person."""

    def __init__(self, server: Server, adapter: TelegramAdapter) -> None:
        self.server = server
        self.adapter = adapter

    def talk(self, person: Person = ALICE, group: Group | None = None) -> Talk:
        return Talk(self.server, person, group)


async def no_sleep(seconds: float) -> None:
    pass


def make_adapter(core: Core, server: Server, **options: Any) -> TelegramAdapter:
    limiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=2)
    options = {"rate_limiter": limiter, "poll_timeout": 1, "sleep": no_sleep, **options}
    return TelegramAdapter(core, TOKEN, request=FakeBotApi(server), **options)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    async with open_core(tmp_path / "glutebot.db") as core:
        yield core


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
async def bot(core: Core, server: Server) -> AsyncIterator[Bot]:
    adapter = make_adapter(core, server)
    await adapter.start()
    try:
        yield Bot(server, adapter)
    finally:
        await adapter.stop()
    assert server.unknown == []


def sent(calls: list[Call]) -> list[Call]:
    return [call for call in calls if call.method == "sendMessage"]


def texts(calls: list[Call]) -> list[str]:
    """What each message sent says, its markup kept; every one keeps the isolate rule."""
    return [shown(str(call.params["text"])) for call in sent(calls)]


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [key["text"] for row in markup["inline_keyboard"] for key in row]


def edits(calls: list[Call]) -> list[Call]:
    return [call for call in calls if call.method == "editMessageText"]


def plain(talk: Talk) -> str:
    """Everything the bot wrote in the chat, as people see it (markup parsed away)."""
    return "\n".join(shown(text) for text in talk.texts())


async def is_blocked(core: Core, person: Person) -> bool:
    user = await core.store.users.get(Platform.TELEGRAM, str(person.id))
    assert user is not None
    return user.blocked


# Journeys, end to end.


async def test_start_greets_with_the_menu_as_html_with_buttons(bot: Bot) -> None:
    calls = await bot.talk().say("/start")
    messages = sent(calls)
    assert [m.params["chat_id"] for m in messages] == [str(ALICE.id)] * len(messages)
    assert {m.params["parse_mode"] for m in messages} == {"HTML"}
    assert "<b>glutebot</b>" in texts(calls)[0]
    menu = messages[-1].params["reply_markup"]["inline_keyboard"]
    assert menu[0] == [{"text": "Check my symptoms", "callback_data": "do:check"}]
    assert "reply_markup" not in messages[0].params


async def test_symptom_check_by_buttons_answers_edits_and_ends_with_a_result(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("/start")
    calls = await alice.tap("Check my symptoms")
    assert "Symptom check" in texts(calls)[0]
    question, data = alice.button("No")

    calls = await alice.tap("No")
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer.params == {"callback_query_id": answer.params["callback_query_id"]}
    [edit] = edits(calls)
    assert edit.params["chat_id"] == ALICE.id
    assert edit.params["message_id"] == question["message_id"]
    assert edit.params["text"].endswith("\n\n➜ <b>No</b>")
    assert "reply_markup" not in edit.params
    assert "reply_markup" not in bot.server.messages[(ALICE.id, question["message_id"])]
    assert data.startswith("check:0:")

    for label in ("No", "Yes", "Sometimes", "Yes", "No"):
        await alice.tap(label)
    await alice.say("more than 8 hours")  # typing works as well as tapping
    await alice.tap("I don't run")
    calls = await alice.tap("Yes")
    assert "likely" in plain(alice).lower()
    assert "Start with the glute bridge" in buttons(sent(calls)[-1])


async def test_bridge_walkthrough_then_done_and_stats(bot: Bot) -> None:
    alice = bot.talk()
    calls = await alice.say("/bridge")
    assert "Next ➡" in buttons(sent(calls)[-1])
    while "Next ➡" in buttons(sent(calls)[-1]):
        calls = await alice.tap("Next ➡")
    assert "done" in texts(calls)[-1]
    calls = await alice.say("done 20")
    assert texts(calls) == [texts(calls)[0]]
    assert "Logged 20 glute bridges" in texts(calls)[0]
    calls = await alice.say("/stats")
    assert "Glute bridges: 20 in total" in texts(calls)[0]


async def test_done_as_command_and_as_text_both_log(bot: Bot, core: Core) -> None:
    alice = bot.talk()
    assert "Logged 15" in texts(await alice.say("/done 15"))[0]
    assert "Logged 5" in texts(await alice.say("done 5"))[0]
    assert "Logged 3" in texts(await alice.say(f"/done@{BOT_USERNAME} 3"))[0]
    assert "Glute bridges: 23 in total" in texts(await alice.say("/stats"))[0]


async def test_undo_removes_the_last_log(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("done 12")
    await alice.say("done 8")
    calls = await alice.say("/undo")
    assert "8" in texts(calls)[0]
    assert "Glute bridges: 12 in total" in texts(await alice.say("/stats"))[0]


async def test_forget_deletes_everything_after_confirming(bot: Bot, core: Core) -> None:
    alice = bot.talk()
    await alice.say("done 12")
    calls = await alice.say("/forget")
    assert "Yes, delete everything" in buttons(sent(calls)[-1])
    await alice.tap("Yes, delete everything")
    assert await core.store.users.get(Platform.TELEGRAM, str(ALICE.id)) is None


async def test_a_redelivered_update_logs_once(bot: Bot) -> None:
    alice = bot.talk()
    update = bot.server.user_says(ALICE, "done 20")
    first = await alice.deliver(update)
    # As after a crash before the offset moved on. (The same update again would never
    # reach the bot: the fake server dropped it once the bot confirmed it.)
    again = await alice.deliver(bot.server.again(update))
    assert len(sent(first)) == 1
    assert sent(again) == []
    assert "Glute bridges: 20 in total" in texts(await alice.say("/stats"))[0]


async def test_a_whole_journey_survives_a_restart_between_every_two_messages(
    tmp_path: Path, server: Server
) -> None:
    """From a deep link to /forget, with a new Application on the same database before
    each message, which comes after the one before it delivered again (as Telegram does
    when the bot stopped before confirming it): every step goes on where it was, and the
    repeat changes nothing. The person has no username and a right-to-left name."""
    maryam = Person(2001, "مريم 🍑")
    talk = Talk(server, maryam)
    check = [("No", "2 of 9"), ("No", "3 of 9"), ("yes", "4 of 9"), ("Sometimes", "5 of 9")]
    check += [("Yes", "6 of 9"), ("No", "7 of 9"), ("more than 8 hours", "8 of 9")]
    check += [("I don't run", "9 of 9"), ("Yes", "likely")]
    steps = [("/start check", "1 of 9"), *check, ("Start with the glute bridge", "1 of 5")]
    steps += [("Next ➡", f"{n} of 5") for n in range(2, 6)]
    steps += [("Next ➡", "target"), ("Done ✅", "Logged 20 glute bridges")]
    steps += [("/stats", "20 in total"), ("/undo", "Removed"), ("/stats", "No reps")]
    steps += [("/forget", "Delete it all?"), ("Yes, delete everything", "deleted")]
    previous: JSON | None = None
    for said, expected in steps:
        async with open_core(tmp_path / "glutebot.db") as core:
            adapter = make_adapter(core, server)
            await adapter.start()
            try:
                if previous is not None:
                    repeat = await talk.deliver(server.again(previous))
                    assert [c.method for c in repeat] in ([], ["answerCallbackQuery"]), said
                shown = {label for m in server.bot_messages(maryam.id) for label in labels(m)}
                if said in shown:
                    message, data = talk.button(said)
                    previous = server.press(maryam, message, data)
                else:
                    previous = server.user_says(maryam, said)
                answer = await talk.deliver(previous)
            finally:
                await adapter.stop()
        assert any(expected in text for text in texts(answer)), (said, texts(answer))
    async with open_core(tmp_path / "glutebot.db") as core:
        assert await people_recorded(core) == 0


def labels(message: JSON) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [key["text"] for row in rows for key in row]


# Buttons.


async def test_a_stale_button_gets_a_polite_toast_and_loses_its_keyboard(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("/check")
    old_question, data = alice.button("No")
    await alice.say("no")  # typed: the old question keeps its buttons
    calls = await alice.deliver(bot.server.press(ALICE, old_question, data))
    assert sent(calls) == []
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "earlier message" in answer.params["text"]
    assert len(answer.params["text"]) <= 200
    [markup_edit] = [c for c in calls if c.method == "editMessageReplyMarkup"]
    assert markup_edit.params["message_id"] == old_question["message_id"]


async def test_a_press_whose_edit_fails_still_answers(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("/check")
    bot.server.fail("editMessageText", "400", description="Bad Request: message can't be edited")
    bot.server.fail("answerCallbackQuery", "400", description="Bad Request: query is too old")
    calls = await alice.tap("No")
    assert "2" in texts(calls)[0]  # the next question still came


async def test_a_press_answers_edits_and_asks_the_next_question_at_once(bot: Bot) -> None:
    # Three calls in a row would keep the person waiting three round trips for the next
    # question; nothing in them depends on another's answer.
    alice = bot.talk()
    await alice.say("/check")
    bot.server.latency = 0.02
    bot.server.most_in_flight = 0
    calls = await alice.tap("No")
    assert sorted(c.method for c in calls) == [
        "answerCallbackQuery",
        "editMessageText",
        "sendMessage",
    ]
    assert bot.server.most_in_flight == 3


async def test_a_double_tap_in_a_private_chat_is_answered_once(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("/start")
    menu, data = alice.button("Today's workout")
    first = await alice.deliver(bot.server.press(ALICE, menu, data))
    assert len(sent(first)) == 1
    # The second tap left the phone before the first one's answer took the buttons away.
    second = await alice.deliver(bot.server.press(ALICE, menu, data))
    assert [c.method for c in second] == ["answerCallbackQuery"]


async def test_buttons_a_failed_edit_left_behind_still_work(bot: Bot) -> None:
    # The first press's edit should have taken the menu's buttons away; it failed, so
    # they are still there, and a press on one of them must not count as that first press.
    alice = bot.talk()
    await alice.say("/start")
    bot.server.fail("editMessageText", "500")
    await alice.tap("Today's workout")
    menu, _ = alice.button("Check my symptoms")
    assert menu.get("reply_markup")
    calls = await alice.tap("Check my symptoms")
    assert any("Symptom check" in text for text in texts(calls))
    assert [c.method for c in calls if c.method.startswith("edit")] == ["editMessageText"]
    assert "reply_markup" not in bot.server.messages[(ALICE.id, menu["message_id"])]


async def test_an_edit_telegram_finds_already_done_is_no_failure(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    alice = bot.talk()
    await alice.say("/check")
    bot.server.fail("editMessageText", "400", description="Bad Request: message is not modified")
    with caplog.at_level(logging.WARNING):
        calls = await alice.tap("No")
    assert "2" in texts(calls)[0]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_second_press_racing_the_first_ones_edit_asks_for_no_edit(bot: Bot) -> None:
    # "I did it ✅" takes all the workout's buttons away; a press on "How to do a bridge"
    # sent before that edit reached the phone still opens the walk-through, and the
    # buttons already gone aren't removed again (Telegram would refuse: not modified).
    alice = bot.talk()
    await alice.say("/workout")
    workout, how = alice.button("How to do a bridge")
    await alice.tap("I did it ✅")
    now = bot.server.messages[(ALICE.id, workout["message_id"])]
    assert "reply_markup" not in now
    calls = await alice.deliver(bot.server.press(ALICE, now, how))
    assert "Glute bridge" in texts(calls)[-1]
    assert [c.method for c in calls if c.method.startswith("edit")] == []


async def test_group_members_may_all_press_one_shared_button(bot: Bot) -> None:
    alice = bot.talk(ALICE, DESK)
    calls = await alice.say("/bridge")
    while "Next ➡" in buttons(sent(calls)[-1]):
        calls = await alice.tap("Next ➡")
    post, data = alice.button("Done ✅")
    for person in (ALICE, BOB):
        calls = await bot.talk(person, DESK).deliver(bot.server.press(person, post, data))
        [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
        assert "Logged" in answer.params["text"]


async def test_a_press_the_engine_could_not_store_keeps_its_question_and_buttons(
    bot: Bot, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A press the database refused changed nothing, and the apology says to try again:
    so the question must not show the choice as made, and keeps its buttons to try with."""
    alice = bot.talk()
    await alice.say("/check")
    question, _ = alice.button("No")
    apply = core.store.db.apply
    failed: list[bool] = []

    async def refusing_once(writes: Any) -> None:
        if not failed:
            failed.append(True)
            raise OSError("disk I/O error")
        await apply(writes)

    monkeypatch.setattr(core.store.db, "apply", refusing_once)
    calls = await alice.tap("No")
    assert failed
    assert any("try that again" in text for text in texts(calls)), texts(calls)
    assert [c.method for c in calls if c.method.startswith("edit")] == []
    assert bot.server.messages[(ALICE.id, question["message_id"])] == question
    calls = await alice.tap("No")
    assert "Question 2 of 9" in texts(calls)[-1]


# Escaping.


async def test_hostile_names_and_text_never_break_a_message(bot: Bot) -> None:
    mallory = Person(1666, "<b>&* 🍑 {{ 7*7 }}")
    talk = bot.talk(mallory)
    calls = await talk.say("{{ 7*7 }} <i>&amp; *x* 🍑")
    text = texts(calls)[0]
    assert "{{ 7*7 }} &lt;i&gt;&amp;amp; *x* 🍑" in text
    assert "{{ 7*7 }} <i>&amp; *x* 🍑" in plain(talk)
    assert "49" not in plain(talk)
    eve = Person(1667, "Eve <script>&amp; 🍑 {{ 7*7 }}")
    group_talk = bot.talk(eve, DESK)
    await group_talk.say("/check")  # never started a private chat: offered a link
    assert "Eve <script>&amp; 🍑 {{ 7*7 }}, " in plain(group_talk)


@pytest.mark.parametrize(
    "name", ["Ev\u202eil", "\u2067Mallory", "\u200fBob\u200e", "Eve\u2069\u202e"]
)
async def test_bidi_controls_in_a_name_never_reach_a_telegram_message(bot: Bot, name: str) -> None:
    """A name holding a bidirectional control (the right-to-left override, say) would turn
    the rest of the bot's line backwards for the whole group, or end the isolate around
    the name early: the controls are dropped, and the name shows in an isolate."""
    person = Person(1777, name)
    await bot.talk(person, DESK).say("done 5")
    calls = await bot.talk(person, DESK).say("/check")  # no private chat yet: offered a link
    calls += await bot.talk(person, DESK).say("/leaderboard")
    said = [str(call.params["text"]) for call in sent(calls)]
    assert len(said) == 2, said
    visible = BIDI_CONTROLS.sub("", name)
    offer, board = said
    assert isolated(offer) == [visible], repr(offer)
    assert isolated(board) == [visible, visible], repr(board)  # this week's and all time's


async def test_a_right_to_left_name_first_on_a_board_line_is_isolated(bot: Bot) -> None:
    """An Arabic name first on a leaderboard line made Telegram lay the whole line out
    right to left: the name goes in an isolate, and the line stays as written."""
    maryam = Person(1888, "مريم")
    await bot.talk(maryam, DESK).say("done 20")
    await bot.talk(ALICE, DESK).say("done 5")
    [board] = sent(await bot.talk(ALICE, DESK).say("/leaderboard"))
    lines = str(board.params["text"]).splitlines()
    assert "1. \u2068مريم\u2069: 20 reps, 1 session" in lines
    assert "2. \u2068Alice\u2069: 5 reps, 1 session" in lines
    # As Telegram parsed it: the marks are text, around the name only.
    parsed = bot.server.bot_messages(DESK.id)[-1]["text"]
    assert "1. \u2068مريم\u2069: 20 reps, 1 session" in parsed.splitlines()


# Groups.


async def test_a_group_is_ignored_unless_the_bot_is_addressed(bot: Bot) -> None:
    alice = bot.talk(ALICE, DESK)
    assert await alice.say("I love lunges") == []
    assert await alice.say("/done@some_other_bot 10") == []
    calls = await alice.say(f"@{BOT_USERNAME} done 10")
    # A routine log in a group is acknowledged with a reaction only.
    assert [c.method for c in calls] == ["setMessageReaction"]
    assert calls[0].params["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    calls = await alice.say("/help")
    assert [m.params["chat_id"] for m in sent(calls)] == [str(DESK.id)]
    help_message = bot.server.bot_messages(DESK.id)[-1]
    calls = await alice.say("done 3", reply_to=help_message)
    assert [c.method for c in calls] == ["setMessageReaction"]
    calls = await alice.say("thanks!", reply_to=help_message)
    assert {m.params["chat_id"] for m in sent(calls)} == {str(DESK.id)}


async def test_done_in_a_group_logs_with_a_reaction_even_unaddressed(bot: Bot) -> None:
    # The engine's rule for shared chats: "done" messages count wherever they are said.
    calls = await bot.talk(ALICE, DESK).say("done 10")
    assert [c.method for c in calls] == ["setMessageReaction"]
    assert "Glute bridges: 10 in total" in texts(await bot.talk(ALICE).say("/stats"))[0]


async def test_a_group_check_moves_to_a_private_chat_via_deep_link(bot: Bot) -> None:
    bob = bot.talk(BOB, DESK)
    calls = await bob.say("/check")
    [offer] = [m for m in sent(calls) if m.params["chat_id"] == str(DESK.id)]
    link = f"https://t.me/{BOT_USERNAME}?start=check"
    assert link in offer.params["text"]
    assert offer.params["reply_markup"]["inline_keyboard"][0][0]["url"] == link
    assert offer.params["reply_parameters"]["message_id"] > 0
    assert "Symptom check" not in offer.params["text"]

    private = bot.talk(BOB)
    calls = await private.say("/start check")
    assert "Symptom check" in texts(calls)[0]


async def test_a_group_check_goes_straight_to_a_started_private_chat(bot: Bot) -> None:
    await bot.talk(ALICE).say("/start")
    calls = await bot.talk(ALICE, DESK).say("/check")
    to_alice = [m for m in sent(calls) if m.params["chat_id"] == str(ALICE.id)]
    to_group = [m for m in sent(calls) if m.params["chat_id"] == str(DESK.id)]
    assert "Symptom check" in to_alice[0].params["text"]
    assert len(to_group) == 1
    assert "private chat" in to_group[0].params["text"]
    assert "Symptom check" not in to_group[0].params["text"]


async def test_only_the_mention_telegram_marked_is_cut(bot: Bot) -> None:
    # "@glutebot_testing" starts like the bot's handle; the emoji shifts UTF-16 offsets.
    text = f"@{BOT_USERNAME}ing 🍑 @{BOT_USERNAME} help"
    calls = await bot.talk(ALICE, DESK).say(text)
    assert f'"@{BOT_USERNAME}ing 🍑 help"' in texts(calls)[0]


async def test_a_mention_of_the_bot_in_a_private_chat_is_cut(bot: Bot, core: Core) -> None:
    """Some people start every message with the bot's handle, in private too: "@bot done 5"
    means "done 5" wherever it is said."""
    calls = await bot.talk().say(f"@{BOT_USERNAME} done 5")
    assert "Logged 5 glute bridges" in texts(calls)[0]
    assert await reps_of(core, ALICE) == 5


async def test_a_mention_of_the_bot_after_a_command_is_cut(bot: Bot, core: Core) -> None:
    """In a group, a command followed by a mention ("/done 15 @bot") is that command said
    to the bot: the mention is not read as part of the count."""
    calls = await bot.talk(ALICE, DESK).say(f"/done 15 @{BOT_USERNAME}")
    assert [c.method for c in calls] == ["setMessageReaction"]
    assert await reps_of(core, ALICE) == 15


@pytest.mark.parametrize("group", [DESK, None], ids=["group", "private"])
async def test_a_bare_mention_of_the_bot_is_a_hello(bot: Bot, group: Group | None) -> None:
    """A message that only mentions the bot ("@bot") calls it, as "hi @bot" does: it gets
    the menu, not "Sorry, I didn't catch that" (or didn't understand "@bot")."""
    calls = await bot.talk(ALICE, group).say(f"@{BOT_USERNAME}")
    said = texts(calls)
    assert not any("didn't" in text for text in said), said
    assert any("Check my symptoms" in buttons(call) for call in sent(calls)), said


async def test_a_press_on_a_shared_group_message_leaves_it_for_everyone(bot: Bot) -> None:
    await bot.talk(ALICE, DESK).say("/start")
    menu, _ = bot.talk(ALICE, DESK).button("Learn an exercise")
    calls = await bot.talk(BOB, DESK).tap("Learn an exercise")
    assert [c.method for c in calls if c.method.startswith("edit")] == []
    assert bot.server.messages[(DESK.id, menu["message_id"])] == menu
    assert "Glute bridge" in buttons(sent(calls)[-1])


async def test_a_group_upgraded_to_a_supergroup_keeps_its_leaderboard(bot: Bot) -> None:
    basic = Group(-4242, "Desk Workers", type="group")
    await bot.talk(ALICE, basic).say("done 10")
    upgraded = Group(-1004242, "Desk Workers")
    for update in bot.server.upgrades(basic, upgraded, by=BOB):
        assert await bot.talk(BOB, upgraded).deliver(update) == []
    await bot.talk(BOB, upgraded).say("done 5")
    calls = await bot.talk(BOB, upgraded).say("/leaderboard")
    [board] = texts(calls)
    assert "Alice" in board
    assert board.index("Alice") < board.index("Bob")


async def test_a_group_log_says_so_in_words_when_reactions_are_off(bot: Bot) -> None:
    bot.server.fail("setMessageReaction", "400", description="Bad Request: REACTION_INVALID")
    alice = bot.talk(ALICE, DESK)
    update = bot.server.user_says(ALICE, "done 15", DESK)
    calls = await alice.deliver(update)
    [answer] = sent(calls)
    assert answer.params["chat_id"] == str(DESK.id)
    assert "Logged 15 glute bridges" in answer.params["text"]
    assert answer.params["reply_parameters"]["message_id"] == update["message"]["message_id"]


async def test_a_done_press_in_a_group_shows_the_log_in_its_toast(bot: Bot) -> None:
    alice = bot.talk(ALICE, DESK)
    calls = await alice.say("/bridge")
    while "Next ➡" in buttons(sent(calls)[-1]):
        calls = await alice.tap("Next ➡")
    calls = await alice.tap("Done ✅")
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "Logged 20 glute bridges" in answer.params["text"]
    assert len(answer.params["text"]) <= 200
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def reps_of(core: Core, person: Person) -> int:
    user = await core.store.users.get(Platform.TELEGRAM, str(person.id))
    assert user is not None
    return sum(day.reps for day in await core.store.reps.day_totals(user.id))


async def test_a_group_undo_waits_until_the_private_chat_is_open(bot: Bot, core: Core) -> None:
    # Bob never wrote to the bot privately, so it can't tell him what an undo removed:
    # it does nothing, and says where to send it.
    bob = bot.talk(BOB, DESK)
    await bob.say("done 10")
    calls = await bob.say("/undo")
    [offer] = sent(calls)
    assert offer.params["chat_id"] == str(DESK.id)
    assert "private chat" in offer.params["text"]
    # The command to copy is isolated whole, its code entity free of the marks.
    assert "then send \u2068<code>/undo</code>\u2069 there" in offer.params["text"]
    assert buttons(offer) == ["Continue in a private chat 🔒"]
    assert await reps_of(core, BOB) == 10
    await bot.talk(BOB).say("/start")
    calls = await bob.say("/undo")
    to_bob = [m for m in sent(calls) if m.params["chat_id"] == str(BOB.id)]
    assert "Removed" in to_bob[0].params["text"]
    assert await reps_of(core, BOB) == 0


async def test_a_group_request_a_link_can_open_needs_no_resending(bot: Bot) -> None:
    calls = await bot.talk(BOB, DESK).say("/stats")
    [offer] = texts(calls)
    assert f"t.me/{BOT_USERNAME}?start=stats" in offer
    assert "then send" not in offer


async def test_after_blocking_the_bot_a_group_undo_waits_too(bot: Bot, core: Core) -> None:
    await bot.talk(ALICE).say("/start")
    await bot.talk(ALICE, DESK).say("done 10")
    await bot.talk(ALICE).deliver(bot.server.blocks(ALICE))
    calls = await bot.talk(ALICE, DESK).say("/undo")
    assert [m.params["chat_id"] for m in sent(calls)] == [str(DESK.id)]
    assert await reps_of(core, ALICE) == 10


@pytest.mark.parametrize("failure", ["blocked", "network", "timeout"])
async def test_only_a_never_started_private_chat_is_offered_in_the_group(
    bot: Bot, core: Core, failure: str
) -> None:
    await bot.talk(ALICE).say("/start")
    if failure == "blocked":
        bot.server.blocked.add(ALICE.id)
    else:
        bot.server.fail("sendMessage", failure, times=SEND_ATTEMPTS)
    calls = await bot.talk(ALICE, DESK).say("/stats")
    to_group = [m.params["text"] for m in sent(calls) if m.params["chat_id"] == str(DESK.id)]
    if failure == "timeout":  # it may have arrived: counted as sent, and the group told so
        assert to_group == ["📬 I've replied to you in a private chat."]
    else:
        assert to_group == []
    assert await is_blocked(core, ALICE) == (failure == "blocked")


# Limits and failures.


async def test_a_429_is_retried_after_retry_after(bot: Bot) -> None:
    bot.server.fail("sendMessage", "429", retry_after=0.01)
    calls = await bot.talk().say("done 7")
    [first, second] = sent(calls)
    assert first.params == second.params
    assert bot.server.bot_messages(ALICE.id)


async def test_a_message_that_may_have_arrived_is_not_resent_and_the_rest_follows(
    bot: Bot,
) -> None:
    # Telegram took the welcome, but its answer timed out: the menu after it still goes.
    bot.server.fail("sendMessage", "timeout")
    calls = await bot.talk().say("/start")
    assert len(sent(calls)) == 2
    shown = bot.server.bot_messages(ALICE.id)
    assert len(shown) == 2
    assert shown[-1].get("reply_markup")  # the main menu, with its buttons


@pytest.mark.parametrize("kind", ["network", "500"])
async def test_a_send_that_failed_on_the_way_is_tried_again(
    core: Core, server: Server, kind: str
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    adapter = make_adapter(core, server, sleep=sleep)
    await adapter.start()
    try:
        server.fail("sendMessage", kind, times=SEND_ATTEMPTS - 1)
        calls = await Talk(server, ALICE).say("done 20")
    finally:
        await adapter.stop()
    assert len(sent(calls)) == SEND_ATTEMPTS
    assert [t.split(".")[0] for t in Talk(server, ALICE).texts()] == ["✅ Logged 20 glute bridges"]
    assert waits == [0.5, 1.0]


async def test_a_timed_out_send_is_not_repeated(bot: Bot) -> None:
    bot.server.fail("sendMessage", "timeout")  # it may have arrived: a repeat could double it
    calls = await bot.talk().say("done 20")
    assert len(sent(calls)) == 1
    assert len(bot.server.bot_messages(ALICE.id)) == 1


async def test_a_user_who_blocked_the_bot_is_marked_and_not_retried(bot: Bot, core: Core) -> None:
    alice = bot.talk()
    await alice.say("/start")
    bot.server.blocked.add(ALICE.id)
    calls = await alice.say("done 7")
    assert len(sent(calls)) == 1
    assert await is_blocked(core, ALICE)


async def test_blocking_the_bot_marks_the_user(bot: Bot, core: Core) -> None:
    alice = bot.talk()
    await alice.say("/start")
    await alice.deliver(bot.server.blocks(ALICE))
    assert await is_blocked(core, ALICE)


async def test_after_blocking_the_bot_a_reminder_is_offered_back(bot: Bot, core: Core) -> None:
    # Blocking the bot switches the reminder off at once (Telegram says so before any
    # reminder fails); it used to stay off unannounced when they came back.
    alice = bot.talk()
    await alice.say("/start")
    await alice.say("/remind 07:30 Europe/London daily")
    await alice.deliver(bot.server.blocks(ALICE))
    bot.server.blocked.discard(ALICE.id)
    answer = await alice.say("hi")
    assert any("switched off your reminder" in text for text in texts(answer)), texts(answer)


async def test_unblocking_the_bot_offers_the_reminder_back_at_once(bot: Bot, core: Core) -> None:
    # Unblocked in Telegram's settings, no message comes with it: the reminder that
    # blocking switched off stayed off, unmentioned, until they happened to write.
    alice = bot.talk()
    await alice.say("/remind 07:30 Europe/London daily")
    await alice.deliver(bot.server.blocks(ALICE))
    unblocked = bot.server.unblocks(ALICE)
    [offer] = sent(await alice.deliver(unblocked))
    assert offer.params["chat_id"] == str(ALICE.id)
    assert "switched off your reminder" in offer.params["text"]
    assert not await is_blocked(core, ALICE)
    assert sent(await alice.deliver(bot.server.again(unblocked))) == []  # offered once
    calls = await alice.tap("Yes, keep reminding me")
    assert "back on" in texts(calls)[0]
    # Someone with no reminder switched off that way gets nothing on unblocking.
    bob = bot.talk(BOB)
    await bob.say("hi")
    await bob.deliver(bot.server.blocks(BOB))
    assert await bob.deliver(bot.server.unblocks(BOB)) == []


async def test_deliver_reports_each_outcome(bot: Bot, core: Core) -> None:
    await bot.talk().say("/start")
    chat = ChatRef(Platform.TELEGRAM, str(ALICE.id), str(ALICE.id))
    reply = [Reply("stale_button")]
    assert await bot.adapter.deliver(chat, reply) is Delivery.SENT
    for kind in ("network", "500"):
        bot.server.fail("sendMessage", kind, times=SEND_ATTEMPTS)
        assert await bot.adapter.deliver(chat, reply) is Delivery.RETRY
    bot.server.fail("sendMessage", "429", times=3)
    assert await bot.adapter.deliver(chat, reply) is Delivery.RETRY
    stranger = ChatRef(Platform.TELEGRAM, "424242", "424242")
    assert await bot.adapter.deliver(stranger, reply) is Delivery.GONE
    bot.server.blocked.add(ALICE.id)
    assert await bot.adapter.deliver(chat, reply) is Delivery.GONE
    assert await is_blocked(core, ALICE)


async def test_a_failed_send_names_the_chat_it_was_for_in_the_log(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    # "sending failed (gone): Forbidden: bot was blocked by the user" said what, not whom:
    # a failed answer in a conversation left nothing in the log to find the chat by.
    await bot.talk().say("/start")
    bot.server.fail("sendMessage", "403")
    chat = ChatRef(Platform.TELEGRAM, str(ALICE.id), str(ALICE.id))
    assert await bot.adapter.deliver(chat, [Reply("stale_button")]) is Delivery.GONE
    bot.server.fail("sendMessage", "400", description="Bad Request: TOPIC_CLOSED")
    await bot.talk(BOB, DESK).say("/help")
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(ALICE.id) in line and "blocked" in line for line in failures), failures
    assert any(str(DESK.id) in line and "topic_closed" in line.lower() for line in failures)
    assert TOKEN not in caplog.text


class ExtraTemplates(Renderer):
    """The real renderer, plus fixed texts for template names the tests invent."""

    def __init__(self, extra: dict[str, str]) -> None:
        super().__init__()
        self._extra = extra

    def render(self, reply: Reply, platform: Platform) -> Rendered:
        if reply.template not in self._extra:
            return super().render(reply, platform)
        buttons = tuple(self.button(choice) for choice in reply.choices)
        return Rendered(escape(self._extra[reply.template], platform), buttons)


async def test_a_long_message_is_split_at_paragraphs_with_buttons_last(
    bot: Bot, core: Core
) -> None:
    await bot.talk().say("/start")
    paragraph = "🍑 " + "glutes & " * 150
    renderer = ExtraTemplates({"long": "\n\n".join([paragraph] * 5)})
    adapter = make_adapter(replace(core, renderer=renderer), bot.server)
    await adapter.start()
    try:
        chat = ChatRef(Platform.TELEGRAM, str(ALICE.id), str(ALICE.id))
        mark, before = len(bot.server.calls), len(bot.server.bot_messages(ALICE.id))
        reply = Reply("long", choices=(Choice("do:menu", "back_to_menu"),))
        assert await adapter.deliver(chat, [reply]) is Delivery.SENT
    finally:
        await adapter.stop()
    parts = sent(bot.server.calls[mark:])
    # Three paragraphs fit in one message: Telegram counts "&amp;" as one character.
    assert len(parts) == 2
    assert len(bot.server.bot_messages(ALICE.id)) == before + 2  # none refused as too long
    escaped = escape(paragraph, Platform.TELEGRAM)
    for part in parts:
        assert set(part.params["text"].split("\n\n")) == {escaped}
    assert [("reply_markup" in p.params) for p in parts] == [False, True]
    assert buttons(parts[-1]) == ["Main menu"]


# Reliability: confirm only what was handled, stop cleanly, keep the token secret.


class Gate:
    """Holds the engine on one text until released, like a slow database write."""

    def __init__(self, core: Core, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        handle = core.engine.handle

        async def gated(incoming: Incoming) -> list[Reply]:
            if incoming.text == text:
                self.entered.set()
                await self.release.wait()
            return await handle(incoming)

        monkeypatch.setattr(core.engine, "handle", gated)


async def test_the_offset_moves_only_past_handled_updates(
    bot: Bot, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(core, monkeypatch, "done 11")
    server = bot.server
    slow = server.push(server.user_says(ALICE, "done 11"))
    after_slow = server.push(server.user_says(ALICE, "done 5"))
    other_chat = server.push(server.user_says(BOB, "done 22"))
    await gate.entered.wait()
    await server.until_sent_to(BOB.id)  # another chat goes ahead meanwhile

    assert all(offset is None or offset <= slow for offset in server.offsets)
    assert server.bot_messages(ALICE.id) == []  # one chat's updates stay in order
    assert server.confirmed_below <= slow < after_slow < other_chat

    gate.release.set()
    await server.confirmed(other_chat)
    assert [t.split(".")[0] for t in bot.talk().texts()] == [
        "✅ Logged 11 glute bridges",
        "✅ Logged 5 glute bridges",
    ]


async def test_stop_finishes_updates_in_flight_and_confirms_them(
    bot: Bot, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(core, monkeypatch, "done 9")
    update_id = bot.server.push(bot.server.user_says(ALICE, "done 9"))
    await gate.entered.wait()
    stopping = asyncio.create_task(bot.adapter.stop())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()
    gate.release.set()
    await stopping
    assert "Logged 9" in bot.talk().texts()[0]
    assert bot.server.confirmed_below > update_id


async def test_stop_gives_up_on_an_answer_stuck_behind_a_429_and_leaves_it_unconfirmed(
    tmp_path: Path, server: Server
) -> None:
    """Telegram says "retry after an hour" to an answer as glutebot stops: the stop waits
    its drain time, not the hour. The update stays unconfirmed, so it comes again after a
    restart, where it is recognised: its log, committed before the answer, counts once,
    and the answer kept with it goes out then, once."""
    async with open_core(tmp_path / "glutebot.db") as core:
        adapter = make_adapter(core, server, drain_timeout=0.0)
        await adapter.start()
        server.fail("sendMessage", "429", retry_after=3600)
        update = server.user_says(ALICE, "done 9")
        update_id = server.push(update)
        await server.until(lambda: bool(server.calls_to("sendMessage")))
        await asyncio.wait_for(adapter.stop(), 10.0)  # only a guard against a hang
    assert server.confirmed_below <= update_id
    assert server.bot_messages(ALICE.id) == []

    async with open_core(tmp_path / "glutebot.db") as core:
        restarted = make_adapter(core, server)
        await restarted.start()
        try:
            await server.confirmed(update_id)
            # Once more, after the answer went out: nothing more is said.
            await server.confirmed(server.push(server.again(update)))
        finally:
            await restarted.stop()
        logs = await core.store.db.fetchall("SELECT exercise, reps FROM rep_logs")
    assert [tuple(log) for log in logs] == [("bridge", 9)]
    answers = [message["text"] for message in server.bot_messages(ALICE.id)]
    assert len(answers) == 1, answers
    assert "Logged 9" in answers[0]


async def test_the_token_never_reaches_the_logs(
    core: Core, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.fail("getUpdates", "network", times=2)
    server.fail("setMyCommands", "network")
    server.fail("sendMessage", "network")
    adapter = make_adapter(core, server)
    await adapter.start()
    try:
        await Talk(server, ALICE).say("done 5")
        logging.getLogger("elsewhere").error("the bot: %r", adapter.bot)
    finally:
        await adapter.stop()
    assert "connection reset by peer" in caplog.text  # the failures were logged...
    assert TOKEN not in caplog.text  # ...without the token
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in (record.exc_text or "")
    assert logging.getLogRecordFactory() is logging.LogRecord


@pytest.mark.parametrize(("kind", "expected"), [("network", "connection"), ("404", "refused")])
async def test_a_start_failure_is_one_clear_token_free_error(
    core: Core, server: Server, kind: str, expected: str
) -> None:
    server.fail("getMe", kind)
    adapter = make_adapter(core, server)
    with pytest.raises(StartError) as failure:
        await adapter.start()
    assert expected in str(failure.value).lower()
    assert TOKEN not in str(failure.value)
    if kind == "network":  # where it went, and what to check
        assert str(failure.value).startswith("Telegram at http")
        assert "TELEGRAM_API_URL" in str(failure.value)


@pytest.mark.parametrize("kind", ["400", "404", "network", "500"])
async def test_registering_commands_may_fail_without_stopping_the_bot(
    core: Core, server: Server, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.fail("setMyCommands", kind)
    server.fail("deleteWebhook", kind)
    adapter = make_adapter(core, server)
    await adapter.start()
    try:
        assert "Logged 4" in texts(await Talk(server, ALICE).say("done 4"))[0]
    finally:
        await adapter.stop()
    assert "setMyCommands failed" in caplog.text


async def test_the_command_menus_list_every_command(bot: Bot) -> None:
    private, groups = bot.server.calls_to("setMyCommands")
    expected = "start check workout bridge lunge done undo stats remind stop forget cancel help"
    assert "scope" not in private.params  # the default menu: private chats
    assert [command["command"] for command in private.params["commands"]] == expected.split()
    assert groups.params["scope"] == {"type": "all_group_chats"}
    names = [command["command"] for command in groups.params["commands"]]
    assert names == [*expected.split(), "leaderboard"]
    for call in (private, groups):
        assert all(0 < len(command["description"]) <= 256 for command in call.params["commands"])


async def test_polling_survives_failing_get_updates(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.server.fail("getUpdates", "500", times=2)
    bot.server.fail("getUpdates", "409", times=1)
    assert "Logged 6" in texts(await bot.talk().say("done 6"))[0]
    assert "getUpdates failed" in caplog.text


class ErrorPages(FakeBotApi):
    """The fake behind a proxy that answers `pages[method]` of its calls with its own
    HTML error page (nginx's "502 Bad Gateway", as when Telegram's servers are down)."""

    PAGE = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )

    def __init__(self, server: Server, pages: dict[str, int]) -> None:
        super().__init__(server)
        self.pages = pages

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        if self.pages.get(endpoint):
            self.pages[endpoint] -= 1
            return 502, self.PAGE
        return await super().do_request(url, method, *args, **kwargs)


async def test_an_error_page_is_logged_as_its_status_not_whole(
    core: Core, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # Every failed poll and send logged the proxy's whole page (a few kB from some), over
    # and over while Telegram was down. The status says what happened.
    caplog.set_level(logging.INFO)
    pages = {"getUpdates": 2, "sendMessage": 1}
    limiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0)
    request = ErrorPages(server, pages)
    options: dict[str, Any] = {"poll_timeout": 1, "sleep": no_sleep}
    adapter = TelegramAdapter(core, TOKEN, request=request, rate_limiter=limiter, **options)
    await adapter.start()
    try:
        assert "Logged 6" in texts(await Talk(server, ALICE).say("done 6"))[0]
    finally:
        await adapter.stop()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("bot.")]
    failures = [line for line in ours if "Bad Gateway (502)" in line]
    assert len(failures) == 3, ours
    assert not any("<" in line for line in failures), failures


async def test_polling_outlives_a_night_of_failing_get_updates(bot: Bot) -> None:
    # The back-off was 2.0 ** (failures - 1), capped after: the 1,025th failure in a row
    # (some 8 hours at the cap) overflowed, and polling ended for good.
    bot.server.fail("getUpdates", "500", times=1100)
    assert "Logged 6" in texts(await bot.talk().say("done 6"))[0]


async def test_an_update_ptb_cannot_read_is_skipped_and_the_rest_answered(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """PTB reads a getUpdates batch whole: one update it can't read (a poll from a Bot
    API server older than it, without `persistent_id`) failed every fetch for ever, and
    nobody was answered again. It is logged and skipped, and confirmed like any other."""
    update = bot.server.user_sends(ALICE, "photo")
    message = update["message"]
    del message["photo"]
    message["poll"] = {
        "id": "poll1",
        "question": "Leg day today?",
        "options": [{"text": "yes", "voter_count": 0}, {"text": "no", "voter_count": 0}],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    with caplog.at_level(logging.ERROR):
        assert await bot.talk().deliver(update) == []
        assert "Logged 6" in texts(await bot.talk(BOB).say("done 6"))[0]
    assert f"update {update['update_id']} can't be read; skipped" in caplog.text


async def test_only_a_refused_token_ends_polling_by_itself(core: Core, server: Server) -> None:
    server.fail("getUpdates", "500", times=2)
    adapter = make_adapter(core, server)
    await adapter.start()
    ended = asyncio.create_task(adapter.wait_ended())
    try:
        assert "Logged 6" in texts(await Talk(server, ALICE).say("done 6"))[0]
        assert not ended.done()  # passing failures are retried
        server.fail("getUpdates", "401")
        async with asyncio.timeout(5):
            reason = await ended
    finally:
        await adapter.stop()
    assert "Unauthorized" in reason
    assert TOKEN not in reason


async def test_stopping_ends_the_wait_for_the_connection(core: Core, server: Server) -> None:
    adapter = make_adapter(core, server)
    await adapter.start()
    ended = asyncio.create_task(adapter.wait_ended())
    await asyncio.sleep(0)
    assert not ended.done()
    await adapter.stop()
    async with asyncio.timeout(5):
        assert await ended == "polling stopped"


def test_telegram_only_templates_render_escaped() -> None:
    renderer = Renderer()
    hostile = "<b>&* 🍑 {{ 7*7 }}"
    samples = {
        CHOSEN: {"label": hostile},
        CONTINUE_IN_PRIVATE: {"name": hostile, "link": "https://t.me/x", "again": hostile},
        SENT_PRIVATELY: {},
    }
    for template, context in samples.items():
        text = renderer.render(Reply(template, context), Platform.TELEGRAM).text
        assert text.strip()
        assert "<b>&*" not in text
        assert "49" not in text


def test_the_ledger_offers_only_the_handled_prefix() -> None:
    ledger = Ledger()
    assert ledger.offset is None
    assert [ledger.take(u) for u in (5, 6, 7)] == [True, True, True]
    ledger.finish(6)
    ledger.finish(7)
    assert ledger.offset == 5
    assert not ledger.take(6)  # fetched again while 5 holds the offset back
    ledger.confirmed(5)
    ledger.finish(5)
    assert ledger.offset == 8
    assert ledger.unconfirmed
    ledger.confirmed(8)
    assert not ledger.unconfirmed
    assert ledger.take(8)


async def test_a_press_on_a_message_too_old_to_read_still_counts(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("done 10")
    old = {
        "chat": {"id": ALICE.id, "type": "private", "first_name": "Alice"},
        "message_id": 1,
        "date": 0,
    }
    calls = await alice.deliver(bot.server.press(ALICE, old, "do:stats"))
    assert "Glute bridges: 10 in total" in texts(calls)[0]
    # Its text can't be read to show the answer, but its buttons still go: another of
    # them pressed later would count as this press again, and do nothing.
    [edit] = [c for c in calls if c.method.startswith("edit")]
    assert edit.method == "editMessageReplyMarkup"
    assert edit.params["message_id"] == 1
    assert "inline_keyboard" not in str(edit.params.get("reply_markup", ""))


# Telegram's length rules: it counts UTF-16 code units of the text as shown.


FORUM = Group(-100888, "Desk Forum", forum=True)


def thread_of(call: Call) -> int | None:
    thread = call.params.get("message_thread_id")
    return None if thread is None else int(thread)


@pytest.mark.parametrize("in_topic", [False, True])
async def test_a_leaderboard_of_emoji_names_is_split_as_telegram_counts(
    bot: Bot, in_topic: bool
) -> None:
    # 127 emoji are 127 characters but 254 UTF-16 code units: ten such names make a
    # board of about 3,200 characters that Telegram counts as over 5,000.
    group = FORUM if in_topic else DESK
    topic = bot.server.open_topic(FORUM, by=ALICE) if in_topic else None
    people = [Person(2000 + n, chr(0x1F600 + n) * 127) for n in range(10)]
    for person in people:
        await Talk(bot.server, person, group, topic).say("done 10")
    calls = await Talk(bot.server, people[0], group, topic).say("/leaderboard")
    parts = sent(calls)
    assert len(parts) >= 2
    assert [thread_of(part) for part in parts] == [topic] * len(parts)  # every part
    if not in_topic:  # a plain group: only its first part replies to the message
        assert ["reply_parameters" in part.params for part in parts][1:] == [False] * (
            len(parts) - 1
        )
    shown = plain(bot.talk(people[0], group))
    assert "Leaderboard" in shown
    assert all(shown.count(person.first_name) == 2 for person in people)  # week, all time


async def test_an_html_entity_counts_as_the_one_character_it_shows(bot: Bot, core: Core) -> None:
    # "&amp;" is one character on screen: 4,000 of them (20,000 characters of HTML) fit
    # in one message.
    await bot.talk().say("/start")
    renderer = ExtraTemplates({"ampersands": "&" * 4000})
    adapter = make_adapter(replace(core, renderer=renderer), bot.server)
    await adapter.start()
    try:
        chat = ChatRef(Platform.TELEGRAM, str(ALICE.id), str(ALICE.id))
        mark = len(bot.server.calls)
        assert await adapter.deliver(chat, [Reply("ampersands")]) is Delivery.SENT
    finally:
        await adapter.stop()
    [message] = sent(bot.server.calls[mark:])
    assert message.params["text"] == "&amp;" * 4000


# Forum supergroups: an answer stays in the topic it was asked in.


async def test_every_answer_in_a_topic_stays_in_that_topic(bot: Bot) -> None:
    topic = bot.server.open_topic(FORUM, by=BOB)
    await bot.talk(ALICE).say("/start")
    alice = Talk(bot.server, ALICE, FORUM, topic)
    calls = await alice.say("/start")  # the welcome, then the menu
    calls += await alice.tap("Learn an exercise")  # a press on a message in the topic
    calls += await alice.tap("Glute bridge")
    calls += await alice.tap("Today's workout")  # answered privately
    to_forum = [c for c in sent(calls) if c.params["chat_id"] == str(FORUM.id)]
    to_alice = [c for c in sent(calls) if c.params["chat_id"] == str(ALICE.id)]
    assert len(to_forum) >= 3
    assert to_alice
    assert [thread_of(c) for c in to_forum] == [topic] * len(to_forum)
    assert [thread_of(c) for c in to_alice] == [None] * len(to_alice)
    shown = bot.server.bot_messages(FORUM.id)
    assert [m.get("message_thread_id") for m in shown] == [topic] * len(shown)


async def test_a_private_chat_link_offered_in_a_topic_stays_there(bot: Bot) -> None:
    topic = bot.server.open_topic(FORUM, by=ALICE)
    calls = await Talk(bot.server, BOB, FORUM, topic).say("/check")
    [offer] = sent(calls)
    assert offer.params["chat_id"] == str(FORUM.id)
    assert thread_of(offer) == topic


async def test_the_general_topic_and_plain_groups_get_no_thread(bot: Bot) -> None:
    # A message in a forum's General topic is no topic message: nothing to carry over.
    calls = await bot.talk(ALICE, FORUM).say("/help")
    calls += await bot.talk(ALICE, DESK).say("/help")
    assert [thread_of(c) for c in sent(calls)] == [None, None]


# A channel's discussion group: the comments under a post are a thread, but no topic.
NEWS = Channel(-100555, "Desk Workers News")
COMMENTS = Group(-100999, "Desk Workers Chat")


async def test_every_answer_to_a_comment_under_a_channel_post_stays_under_that_post(
    bot: Bot,
) -> None:
    """A comment under a channel's post comes from its discussion group with the post's
    thread but not as a topic message: the first answer replied to it, and the answers to
    presses on it landed in the group's main chat, away from the comments. Every answer now
    replies to the message it answers, so Telegram keeps each one in the post's thread."""
    post = bot.server.channel_posts(NEWS, COMMENTS, "Today: glute bridges at your desk")
    comment = bot.server.user_says(ALICE, "/start", COMMENTS, reply_to=post)
    said = comment["message"]
    assert said == {  # as Telegram sends it
        "message_id": said["message_id"],
        "from": ALICE.json(),
        "chat": {"id": COMMENTS.id, "title": COMMENTS.title, "type": "supergroup"},
        "date": said["date"],
        "message_thread_id": post["message_id"],  # the post's thread: no topic
        "reply_to_message": post,
        "text": "/start",
        "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
    }
    assert post["is_automatic_forward"]
    assert post["sender_chat"] == {"id": NEWS.id, "type": "channel", "title": NEWS.title}
    alice = bot.talk(ALICE, COMMENTS)
    [menu] = sent(await alice.deliver(comment))
    assert menu.params["reply_parameters"]["message_id"] == said["message_id"]
    calls = await alice.tap("Learn an exercise")  # a press on the bot's answer
    calls += await alice.tap("Glute bridge")
    assert "step 1 of 5" in texts(calls)[-1]
    assert [thread_of(c) for c in sent(calls)] == [None] * len(sent(calls))  # topics only
    shown = bot.server.bot_messages(COMMENTS.id)
    assert len(shown) == 3
    assert [m["message_thread_id"] for m in shown] == [post["message_id"]] * len(shown)


async def test_a_long_answer_to_a_comment_stays_under_the_post_in_every_part(bot: Bot) -> None:
    post = bot.server.channel_posts(NEWS, COMMENTS, "How many today?")
    people = [Person(2000 + n, chr(0x1F600 + n) * 127) for n in range(10)]  # see above
    for person in people:
        await bot.talk(person, COMMENTS).deliver(
            bot.server.user_says(person, "/done 10", COMMENTS, reply_to=post)
        )
    asked = bot.server.user_says(people[0], "/leaderboard", COMMENTS, reply_to=post)
    parts = sent(await bot.talk(people[0], COMMENTS).deliver(asked))
    assert len(parts) >= 2
    replied = [part.params["reply_parameters"]["message_id"] for part in parts]
    assert replied == [asked["message"]["message_id"]] * len(parts)
    board = [m for m in bot.server.bot_messages(COMMENTS.id) if "reply_to_message" in m]
    assert [m["message_thread_id"] for m in board] == [post["message_id"]] * len(board)


async def test_a_press_under_a_channel_post_answers_under_that_post(bot: Bot) -> None:
    post = bot.server.channel_posts(NEWS, COMMENTS, "Today: glute bridges at your desk")
    said = bot.server.user_says(ALICE, "/bridge", COMMENTS, reply_to=post)
    assert said["message"]["message_thread_id"] == post["message_id"]
    await bot.talk(ALICE, COMMENTS).deliver(said)
    step_one, _ = bot.talk(BOB, COMMENTS).button("Next ➡")
    calls = await bot.talk(BOB, COMMENTS).tap("Next ➡")
    [step_two] = sent(calls)
    assert "step 2 of 5" in step_two.params["text"]
    assert step_two.params["reply_parameters"]["message_id"] == step_one["message_id"]
    shown = bot.server.bot_messages(COMMENTS.id)
    assert [m["message_thread_id"] for m in shown] == [post["message_id"]] * len(shown)


async def test_a_press_on_an_old_walk_through_step_in_a_topic_answers_in_that_topic(
    bot: Bot,
) -> None:
    """A walk-through's "Next ➡" pressed in a topic two days after it was posted: Telegram
    sends a press on a message older than 48 hours without the message's content, its
    topic included, and the next step was posted in the forum's General topic. It is now
    sent as a reply to the pressed message, which Telegram puts in that message's topic."""
    topic = bot.server.open_topic(FORUM, by=BOB)
    await Talk(bot.server, ALICE, FORUM, topic).say("/bridge")
    step_one, data = Talk(bot.server, ALICE, FORUM, topic).button("Next ➡")
    # The same message as Telegram describes it after 48 hours: chat, id and date 0.
    too_old = {"chat": FORUM.json(), "message_id": step_one["message_id"], "date": 0}
    calls = await bot.talk(BOB, FORUM).deliver(bot.server.press(BOB, too_old, data))
    [step_two] = sent(calls)
    assert "step 2 of 5" in step_two.params["text"]
    assert step_two.params["reply_parameters"] == {
        "message_id": step_one["message_id"],
        "allow_sending_without_reply": True,
    }
    shown = bot.server.bot_messages(FORUM.id)
    assert [m.get("message_thread_id") for m in shown] == [topic] * len(shown)


# A press in a group: short acknowledgements go to its pop-up, not to the group.


async def test_a_group_press_answered_privately_says_so_in_its_pop_up(bot: Bot) -> None:
    await bot.talk(ALICE).say("/start")
    await bot.talk(ALICE, DESK).say("/start")
    calls = await bot.talk(ALICE, DESK).tap("Today's workout")
    assert [m.params["chat_id"] for m in sent(calls)] == [str(ALICE.id)]
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "private chat" in answer.params["text"]


async def test_a_second_done_press_in_a_group_says_so_in_its_pop_up(bot: Bot, core: Core) -> None:
    alice = bot.talk(ALICE, DESK)
    calls = await alice.say("/bridge")
    while "Next ➡" in buttons(sent(calls)[-1]):
        calls = await alice.tap("Next ➡")
    bob = bot.talk(BOB, DESK)
    await bob.tap("Done ✅")
    calls = await bob.tap("Done ✅")
    assert sent(calls) == []
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "Already logged" in answer.params["text"]
    assert await reps_of(core, BOB) == 20


# Forwarded messages and media.


async def test_a_message_forwarded_into_a_group_is_never_for_the_bot(bot: Bot, core: Core) -> None:
    for text in ("done 20", f"@{BOT_USERNAME} done 20", "/done 20", f"/done@{BOT_USERNAME} 20"):
        update = bot.server.user_says(ALICE, text, DESK, forwarded_from=BOB)
        assert await bot.talk(ALICE, DESK).deliver(update) == []
    assert await core.store.users.get(Platform.TELEGRAM, str(ALICE.id)) is None


async def test_a_message_forwarded_to_the_private_chat_is_answered(bot: Bot) -> None:
    # Forwarding "done 20" to one's own chat with the bot is on purpose.
    update = bot.server.user_says(ALICE, "done 20", forwarded_from=BOB)
    calls = await bot.talk().deliver(update)
    assert "Logged 20 glute bridges" in texts(calls)[0]


async def test_a_command_naming_another_bot_in_a_private_chat_is_still_answered(
    bot: Bot,
) -> None:
    # No other bot can read a private chat with glutebot, so "/done@other_bot 5" there (a
    # typo, or copied from a group) was meant for it: it used to get no answer at all.
    alice = bot.talk()
    assert "Logged 5 glute bridges" in texts(await alice.say("/done@some_other_bot 5"))[0]
    assert "Glute bridges: 5 in total" in texts(await alice.say("/STATS@Other_Bot"))[0]
    # In a group, where other bots read along, it stays theirs.
    assert await bot.talk(ALICE, DESK).say("/done@some_other_bot 10") == []


async def test_editing_a_logged_done_says_the_log_stands_and_how_to_fix_it(
    bot: Bot, core: Core
) -> None:
    """A "done 15" edited into "done 20" came back as an edited message, which the bot
    never asked Telegram for: 15 stayed logged and the person, seeing "done 20" in the
    chat, was never told. A log stands as first sent; the answer to the edit says so."""
    alice = bot.talk()
    said = bot.server.user_says(ALICE, "done 15")
    await alice.deliver(said)
    calls = await alice.deliver(bot.server.edits(said["message"], "done 20"))
    [note] = sent(calls)
    assert "/undo" in note.params["text"]
    assert note.params["reply_parameters"]["message_id"] == said["message"]["message_id"]
    assert await reps_of(core, ALICE) == 15
    # An edited message that logged nothing is no log to correct: no answer.
    hello = bot.server.user_says(ALICE, "hi")
    await alice.deliver(hello)
    assert await alice.deliver(bot.server.edits(hello["message"], "hello")) == []


async def test_editing_a_logged_done_in_a_group_says_the_log_stands(bot: Bot, core: Core) -> None:
    # "/done 15" edited into "/done 20" in a group went unanswered: the message showed 20,
    # the 👍 stayed, and the board counted 15 with no word of it. The group gets the note,
    # as a reply to the edited message; an edit of chatter there stays unanswered.
    alice = bot.talk(ALICE, DESK)
    said = bot.server.user_says(ALICE, "/done 15", DESK)
    await alice.deliver(said)
    calls = await alice.deliver(bot.server.edits(said["message"], "/done 20"))
    [note] = sent(calls)
    assert note.params["chat_id"] == str(DESK.id)
    assert note.params["reply_parameters"]["message_id"] == said["message"]["message_id"]
    assert "/undo" in note.params["text"]
    assert await reps_of(core, ALICE) == 15
    chatter = bot.server.user_says(ALICE, "morning all", DESK)
    await alice.deliver(chatter)
    assert await alice.deliver(bot.server.edits(chatter["message"], "done 5")) == []


async def test_an_edit_delivered_again_after_a_restart_is_answered_once(
    core: Core, server: Server
) -> None:
    # Telegram delivers an update again if the bot stopped before confirming it (a crash);
    # the note answering an edit went out a second time, unlike any other answer.
    alice = Talk(server, ALICE)
    said = server.user_says(ALICE, "done 15")
    edit = server.edits(said["message"], "done 20")
    for update, notes in ((said, 1), (edit, 1), (server.again(edit), 0)):
        adapter = make_adapter(core, server)
        await adapter.start()
        try:
            assert len(sent(await alice.deliver(update))) == notes
        finally:
            await adapter.stop()
    # A second edit of the same message is an edit of its own, and answered.
    adapter = make_adapter(core, server)
    await adapter.start()
    try:
        again = await alice.deliver(server.edits(said["message"], "done 25"))
        assert "/undo" in texts(again)[0]
    finally:
        await adapter.stop()
    assert await reps_of(core, ALICE) == 15


async def test_a_slash_before_what_no_command_has_is_answered(bot: Bot) -> None:
    # Found by the fuzz test: the fake marked "/𐀀" as a command, counting its length in
    # code points rather than UTF-16 units, and the bot failed to read the half character
    # it cut off. Telegram's commands have only Latin letters, digits and underscores.
    calls = await bot.talk().send("photo", "/𐀀")
    assert "didn't understand" in texts(calls)[0]


async def test_a_caption_is_read_like_text(bot: Bot, core: Core) -> None:
    calls = await bot.talk().send("photo", "done 15")
    assert "Logged 15 glute bridges" in texts(calls)[0]
    calls = await bot.talk(ALICE, DESK).send("photo", "done 5")
    assert [c.method for c in calls] == ["setMessageReaction"]
    calls = await bot.talk(ALICE, DESK).send("photo", f"🍑 @{BOT_USERNAME} help")
    assert "How to use glutebot" in texts(calls)[0]
    assert await bot.talk(ALICE, DESK).send("photo", "look at my form") == []
    assert await reps_of(core, ALICE) == 20


@pytest.mark.parametrize("media", ["photo", "sticker", "voice", "poll"])
async def test_media_without_text_gets_a_friendly_word_in_private_only(
    bot: Bot, media: str
) -> None:
    calls = await bot.talk().send(media)
    [answer] = sent(calls)
    assert answer.params["chat_id"] == str(ALICE.id)
    assert "only read text" in answer.params["text"]
    assert await bot.talk(BOB, DESK).send(media) == []


async def test_an_album_is_answered_once_by_its_caption(bot: Bot, core: Core) -> None:
    """Photos sent together as an album arrive as one message each, and the album's caption
    comes with the first: its answer is the album's only one (no "I can only read text"
    for the photos after it), and a redelivered album changes nothing."""
    alice = bot.talk()
    album = []
    for number in range(3):
        update = bot.server.user_sends(ALICE, "photo", "done 5" if number == 0 else None)
        update["message"]["media_group_id"] = "13579"
        album.append(update)
    calls = [call for update in album for call in await alice.deliver(update)]
    assert len(texts(calls)) == 1, texts(calls)
    assert "Logged 5 glute bridges" in texts(calls)[0]
    for update in album:
        assert sent(await alice.deliver(bot.server.again(update))) == []
    assert await reps_of(core, ALICE) == 5


async def test_a_reply_to_an_earlier_question_is_not_the_current_ones_answer(bot: Bot) -> None:
    """At question 3, a "yes" sent as a Telegram reply to question 1 (the urgent safety
    question) was stored as question 3's answer, and the check moved on. It is said to be
    a reply to an earlier question, and question 3 asked again; a reply to question 3
    itself answers it."""
    alice = bot.talk()
    await alice.say("/check")
    question_1, _ = alice.button("No")
    await alice.tap("No")
    await alice.tap("No")
    question_3, _ = alice.button("Sometimes")
    earlier = bot.server.messages[(ALICE.id, question_1["message_id"])]
    said = texts(await alice.say("yes", reply_to=earlier))
    assert "reply to an earlier question" in said[0]
    assert "Question 3 of 9" in said[-1]
    current = bot.server.messages[(ALICE.id, question_3["message_id"])]
    assert "Question 4 of 9" in texts(await alice.say("yes", reply_to=current))[-1]


async def test_an_albums_caption_on_a_later_item_is_read(bot: Bot, core: Core) -> None:
    """Files sent as a group carry their caption on the last file, and any photo of an
    album may have its own. The caption-less first item answered for the whole album,
    and the "done 15" after it was taken for seen: nothing logged."""
    alice = bot.talk()
    calls = []
    for number in range(3):
        update = bot.server.user_sends(ALICE, "photo", "done 15" if number == 2 else None)
        update["message"]["media_group_id"] = "97531"
        calls += await alice.deliver(update)
    assert any("Logged 15 glute bridges" in text for text in texts(calls))
    assert await reps_of(core, ALICE) == 15


async def test_an_album_without_a_caption_gets_one_word_about_text(bot: Bot) -> None:
    """An album of photos without a caption gets "I can only read text" once, not once per
    photo in it."""
    alice = bot.talk()
    calls = []
    for _ in range(3):
        update = bot.server.user_sends(ALICE, "photo")
        update["message"]["media_group_id"] = "24680"
        calls += await alice.deliver(update)
    [answer] = texts(calls)
    assert "only read text" in answer


# A group upgraded to a supergroup while a message to it was on its way.

BASIC = Group(-4343, "Desk Workers", type="group")
UPGRADED = Group(-1004343, "Desk Workers")


async def test_an_answer_to_a_group_upgraded_meanwhile_goes_to_its_new_id(bot: Bot) -> None:
    await bot.talk(ALICE, BASIC).say("done 10")
    asked = bot.server.user_says(ALICE, "/leaderboard", BASIC)
    bot.server.upgrades(BASIC, UPGRADED, by=BOB)  # the bot never sees the notices
    calls = await bot.talk(ALICE, BASIC).deliver(asked)
    first, again = sent(calls)
    assert (first.params["chat_id"], again.params["chat_id"]) == (str(BASIC.id), str(UPGRADED.id))
    assert again.params["text"] == first.params["text"]
    # The message it replied to stayed behind: its id means nothing in the new chat.
    assert "reply_parameters" not in again.params
    assert "Alice" in plain(bot.talk(ALICE, UPGRADED))
    await bot.talk(BOB, UPGRADED).say("done 5")
    calls = await bot.talk(BOB, UPGRADED).say("/leaderboard")
    assert "Alice" in texts(calls)[0]  # the old group's logs moved with it


async def test_a_delivery_to_a_group_upgraded_since_goes_to_its_new_id(
    bot: Bot, core: Core
) -> None:
    await bot.talk(ALICE, BASIC).say("done 10")
    bot.server.upgrades(BASIC, UPGRADED, by=BOB)
    chat = ChatRef(Platform.TELEGRAM, str(BASIC.id), str(BASIC.id), str(BASIC.id))
    assert await bot.adapter.deliver(chat, [Reply("stale_button")]) is Delivery.SENT
    assert len(bot.server.bot_messages(UPGRADED.id)) == 1
    [alice] = await core.store.reps.leaderboard(str(UPGRADED.id), None, 10)
    assert (alice.display_name, alice.reps) == ("Alice", 10)


# A reminder's how-to buttons.


async def send_reminder(bot: Bot, core: Core, person: Person) -> None:
    """Sends `person` their next reminder as the scheduler does, whatever the time."""
    user = await core.store.users.get(Platform.TELEGRAM, str(person.id))
    assert user is not None
    schedule = await core.store.schedules.get(reminder_owner(user.id))
    assert schedule is not None
    assert schedule.next_day is not None
    replies = await core.engine.scheduled(Prompt(schedule, schedule.next_day))
    chat = ChatRef(Platform.TELEGRAM, str(person.id), str(person.id))
    assert await bot.adapter.deliver(chat, replies) is Delivery.SENT


async def test_reading_how_to_do_an_exercise_leaves_the_reminders_done_button(
    bot: Bot, core: Core
) -> None:
    alice = bot.talk()
    await alice.say("/remind 07:30 Europe/London daily")
    await send_reminder(bot, core, ALICE)
    reminder, _ = alice.button("I did it ✅")
    calls = await alice.tap("How to do a bridge")
    [edit] = edits(calls)
    assert edit.params["message_id"] == reminder["message_id"]
    assert edit.params["text"].endswith("\n\n➜ <b>How to do a bridge</b>")
    assert buttons(edit) == ["I did it ✅"]
    assert "Next ➡" in buttons(sent(calls)[-1])  # the walk-through began

    calls = await alice.tap("I did it ✅")
    assert "Logged" in texts(calls)[0]
    [edit] = edits(calls)
    assert edit.params["text"].endswith("➜ <b>I did it ✅</b>")
    assert "reply_markup" not in bot.server.messages[(ALICE.id, reminder["message_id"])]


async def test_going_back_from_a_walk_throughs_finish_takes_its_done_button(
    bot: Bot, core: Core
) -> None:
    # Only a whole session's Done outlives a press on its message: the finish's would
    # stay beside the next finish's, and pressing both would log the bridges twice.
    alice = bot.talk()
    calls = await alice.say("/bridge")
    while "Next ➡" in buttons(sent(calls)[-1]):
        calls = await alice.tap("Next ➡")
    finish, _ = alice.button("Done ✅")
    calls = await alice.tap("⬅ Back")
    [edit] = edits(calls)
    assert edit.params["message_id"] == finish["message_id"]
    assert "reply_markup" not in edit.params
    calls = await alice.tap("Next ➡")
    calls = await alice.tap("Done ✅")
    assert "Logged 20 glute bridges" in texts(calls)[0]
    assert await reps_of(core, ALICE) == 20


async def test_two_quick_presses_on_one_private_question_answer_only_the_first(
    bot: Bot, core: Core
) -> None:
    # Both left the phone before the first press's answer took the buttons away.
    alice = bot.talk()
    await alice.say("/start")
    menu, workout = alice.button("Today's workout")
    _, check = alice.button("Check my symptoms")
    await alice.deliver(bot.server.press(ALICE, menu, workout))
    second = await alice.deliver(bot.server.press(ALICE, menu, check))
    assert [c.method for c in second] == ["answerCallbackQuery"]

    await alice.say("done 10")
    await alice.say("/forget")
    confirm, yes = alice.button("Yes, delete everything")
    _, no = alice.button("No, keep my data")
    await alice.deliver(bot.server.press(ALICE, confirm, yes))
    second = await alice.deliver(bot.server.press(ALICE, confirm, no))
    assert [c.method for c in second] == ["answerCallbackQuery"]
    assert await core.store.users.get(Platform.TELEGRAM, str(ALICE.id)) is None


@pytest.mark.parametrize(
    ("cause", "delivery", "retried"),
    [
        (httpx.ReadTimeout("no answer yet"), Delivery.SENT, False),  # it may have arrived
        (httpx.WriteTimeout("half sent"), Delivery.SENT, False),
        (httpx.ConnectTimeout("no connection"), Delivery.RETRY, True),  # it never left
        (httpx.PoolTimeout("all connections busy"), Delivery.RETRY, True),
    ],
)
def test_a_timeout_counts_as_sent_only_once_the_request_was_on_its_way(
    cause: Exception, delivery: Delivery, retried: bool
) -> None:
    error = TimedOut()
    error.__cause__ = cause
    assert delivery_for(error) is delivery
    assert worth_retrying(error) is retried


def pop_up(calls: list[Call]) -> str:
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    return str(answer.params.get("text", ""))


@pytest.mark.parametrize("in_the_group", [["/start", "Learn an exercise"], ["/bridge"]])
async def test_menus_and_steps_in_a_group_leave_a_private_check_where_it_was(
    bot: Bot, in_the_group: list[str]
) -> None:
    alice, in_desk = bot.talk(), bot.talk(ALICE, DESK)
    await alice.say("/check")
    await alice.tap("No")  # on to question 2, in private
    for step in in_the_group:
        await (in_desk.say(step) if step.startswith("/") else in_desk.tap(step))
    calls = await alice.tap("No")  # question 2 still answers
    assert "earlier message" not in pop_up(calls)
    assert "Question 3 of 9" in texts(calls)[-1]


async def test_anyone_in_a_group_steps_through_a_posted_walk_through(bot: Bot, core: Core) -> None:
    await bot.talk(ALICE, DESK).say("/bridge")
    bob = bot.talk(BOB, DESK)
    calls = await bob.tap("Next ➡")
    assert "earlier message" not in pop_up(calls)
    assert "step 2 of 5" in texts(calls)[-1]
    calls = await bot.talk(ALICE, DESK).tap("⬅ Back")
    assert "step 1 of 5" in texts(calls)[-1]
    for _ in range(5):
        calls = await bob.tap("Next ➡")
    [finish] = sent(calls)
    assert "Start with 20" in finish.params["text"]  # no one's own target: the group reads it
    assert "target right now" not in finish.params["text"]
    assert buttons(finish) == ["Done ✅", "⬅ Back"]  # no "Later": it would post a menu
    await bob.tap("Done ✅")
    assert await reps_of(core, BOB) == 20
    assert await reps_of(core, ALICE) == 0


async def test_every_finish_of_one_walk_through_in_a_group_logs_once(bot: Bot, core: Core) -> None:
    """Back from a group's finish and Next again brought a second finish whose Done had an
    id of its own: Bob pressing both logged his bridges twice. A walk-through posted in a
    group now carries one id on all its buttons, and each finish's Done logs under it."""
    bob = bot.talk(BOB, DESK)
    calls = await bot.talk(ALICE, DESK).say("/bridge")
    while "Next ➡" in buttons(sent(calls)[-1]):
        calls = await bob.tap("Next ➡")
    first, first_done = bob.button("Done ✅")
    await bot.talk(ALICE, DESK).tap("⬅ Back")
    calls = await bob.tap("Next ➡")
    second, second_done = bob.button("Done ✅")
    assert second["message_id"] != first["message_id"]
    assert second_done == first_done
    await bob.tap("Done ✅")
    calls = await bob.deliver(bot.server.press(BOB, first, first_done))
    assert "Already logged" in pop_up(calls)
    assert await reps_of(core, BOB) == 20
    shown = [key for m in bot.server.bot_messages(DESK.id) for key in keys_of(m)]
    assert all(len(key["callback_data"].encode()) <= 64 for key in shown)


async def test_a_group_walk_through_posted_before_its_buttons_had_an_id_goes_on(
    bot: Bot, core: Core
) -> None:
    # Its steps' buttons said only the step they lead to: "do:bridge:<step>".
    await bot.talk(ALICE, DESK).say("/bridge")
    step_one, _ = bot.talk(ALICE, DESK).button("Next ➡")
    bob = bot.talk(BOB, DESK)
    calls = await bob.deliver(bot.server.press(BOB, step_one, "do:bridge:1"))
    assert "step 2 of 5" in texts(calls)[-1]
    calls = await bob.deliver(bot.server.press(BOB, step_one, "do:bridge:5"))
    assert buttons(sent(calls)[-1]) == ["Done ✅", "⬅ Back"]
    await bob.tap("Done ✅")
    assert await reps_of(core, BOB) == 20
    # Button data can be forged: an id too long for a Done to carry is no walk-through's.
    forged = f"do:bridge:{'f' * 50}:5"
    shown = len(bot.server.bot_messages(DESK.id))
    await bob.deliver(bot.server.press(BOB, step_one, forged))
    [finish] = bot.server.bot_messages(DESK.id)[shown:]
    assert [key["text"] for key in keys_of(finish)] == ["Done ✅", "⬅ Back"]


async def test_next_and_back_typed_as_replies_step_through_a_group_walk_through(
    bot: Bot, core: Core
) -> None:
    """ "next" typed as a reply to a walk-through's step in a group was "I didn't
    understand": only its buttons moved it. A "next" or "back" replying to a step now does
    what that step's button does, in the same walk-through."""
    await bot.talk(ALICE, DESK).say("/bridge")
    bob = bot.talk(BOB, DESK)
    step_one = bot.server.bot_messages(DESK.id)[-1]
    calls = await bob.say("next", reply_to=step_one)
    [step_two] = sent(calls)
    assert "step 2 of 5" in step_two.params["text"]
    assert buttons(step_two) == ["Next ➡", "⬅ Back"]
    step_two_shown = bot.server.bot_messages(DESK.id)[-1]
    assert "step 1 of 5" in texts(await bob.say("back", reply_to=step_two_shown))[-1]
    # An older step moves on from that step, as its own Next would.
    assert "step 2 of 5" in texts(await bob.say("Next ➡", reply_to=step_one))[-1]
    # Nothing before the first step: its "back" is not understood, as before.
    assert "understand" in texts(await bob.say("back", reply_to=step_one))[-1]
    for step in (3, 4, 5):  # "yes" goes on, as in private ("ok" is one)
        assert (
            f"step {step} of 5" in texts(await bob.say("ok", reply_to=bob.button("Next ➡")[0]))[-1]
        )
    [finish_call] = sent(await bob.say("next", reply_to=bob.button("Next ➡")[0]))
    assert buttons(finish_call) == ["Done ✅", "⬅ Back"]
    finish, done = bob.button("Done ✅")
    assert "step 5 of 5" in texts(await bob.say("back", reply_to=finish))[-1]
    # The same walk-through: the finish its button leads to again brings the same Done.
    await bob.tap("Next ➡")
    assert bob.button("Done ✅")[1] == done
    await bob.tap("Done ✅")
    assert "Already logged" in pop_up(await bob.deliver(bot.server.press(BOB, finish, done)))
    assert await reps_of(core, BOB) == 20


async def test_next_in_a_group_not_replying_to_a_walk_through_step_is_left_alone(
    bot: Bot,
) -> None:
    in_desk = bot.talk(ALICE, DESK)
    await in_desk.say("/bridge")
    assert await in_desk.say("next") == []  # chatter: not said to the bot
    await in_desk.say("/help")
    help_message = bot.server.bot_messages(DESK.id)[-1]
    calls = await in_desk.say("next", reply_to=help_message)
    assert "step" not in texts(calls)[-1]  # said to the bot, about no walk-through


def keys_of(message: dict[str, Any]) -> list[dict[str, str]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [key for row in rows for key in row if "callback_data" in key]


async def test_editing_a_plain_done_says_the_log_stands_and_how_to_fix_it(
    bot: Bot, core: Core
) -> None:
    """A bare "done" logs the day's session under a key of its own, not the message's:
    edited into "done 12", it got no answer at all, and the person saw "done 12" in the
    chat with 20 logged. Its edit now gets the note a "done 15" edit gets."""
    alice = bot.talk()
    said = bot.server.user_says(ALICE, "done")
    await alice.deliver(said)
    logged = await reps_of(core, ALICE)  # the day's session: bridges and lunges
    calls = await alice.deliver(bot.server.edits(said["message"], "done 12"))
    [note] = sent(calls)
    assert "/undo" in note.params["text"]
    assert note.params["reply_parameters"]["message_id"] == said["message"]["message_id"]
    # A message that logged nothing, edited into a "done": that logs nothing either.
    typo = bot.server.user_says(ALICE, "dnoe 12")
    await alice.deliver(typo)
    calls = await alice.deliver(bot.server.edits(typo["message"], "done 12"))
    [note] = sent(calls)
    assert "send it again as a new message" in note.params["text"]
    assert await reps_of(core, ALICE) == logged


async def test_a_voice_message_back_counts_as_hearing_from_them(bot: Bot, core: Core) -> None:
    # Reminders pause after several in a row with no message back: any message resets that.
    alice = bot.talk()
    await alice.say("/remind 07:30 Europe/London daily")
    await core.store.db.apply([sql_write("UPDATE schedules SET ignored = 4")])
    calls = await alice.send("voice")
    assert "only read text" in texts(calls)[0]
    user = await core.store.users.get(Platform.TELEGRAM, str(ALICE.id))
    assert user is not None
    reminder = await core.store.schedules.get(reminder_owner(user.id))
    assert reminder is not None
    assert reminder.ignored == 0


async def test_a_sticker_mid_check_gets_the_question_again(bot: Bot) -> None:
    alice = bot.talk()
    await alice.say("/check")
    calls = await alice.send("sticker")
    assert "only read text" in texts(calls)[0]
    assert "Question 1 of 9" in texts(calls)[-1]


@pytest.mark.parametrize(
    ("asks", "page"),
    [
        (["/start", "Today's workout"], "workout"),  # a menu button
        ([f"@{BOT_USERNAME} stats"], "stats"),  # a command said without its slash
        ([f"@{BOT_USERNAME} check"], "check"),
    ],
)
async def test_the_private_chat_link_opens_the_page_asked_for_in_the_group(
    bot: Bot, asks: list[str], page: str
) -> None:
    bob = bot.talk(BOB, DESK)  # no private chat with the bot yet
    for ask in asks:
        calls = await (bob.say(ask) if "/" in ask or "@" in ask else bob.tap(ask))
    [offer] = sent(calls)
    link = offer.params["reply_markup"]["inline_keyboard"][0][0]["url"]
    assert link.endswith(f"?start={page}")


# Posted as a chat: an admin posting anonymously (as the group), or someone posting as a
# channel. No person is behind such a message, and no one is recorded for it.

# What Telegram puts in `from` then: a service account, marked as a bot.
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
DESK_NEWS = {"id": -100999, "type": "channel", "title": "Desk News"}


def posted_as(server: Server, sender: dict[str, Any], text: str) -> dict[str, Any]:
    """`text` posted in DESK as the chat `sender`: DESK itself (an admin posting
    anonymously) or a channel, as Telegram sends it."""
    update = server.user_says(ALICE, text, DESK)
    as_the_group = sender["id"] == DESK.id
    update["message"]["from"] = GROUP_ANONYMOUS_BOT if as_the_group else CHANNEL_BOT
    update["message"]["sender_chat"] = sender
    return update


async def people_recorded(core: Core) -> int:
    row = await core.store.db.fetchone("SELECT COUNT(*) AS people FROM users")
    assert row is not None
    return int(row["people"])


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("/leaderboard", "Leaderboard"),
        ("/help", "How to use glutebot"),
        ("/start", "What would you like to do?"),  # the group's menu
    ],
)
async def test_an_anonymous_admins_command_naming_the_bot_is_answered(
    bot: Bot, core: Core, command: str, shown: str
) -> None:
    """An admin posting anonymously ("Remain anonymous", common for group owners) sent
    "/leaderboard@bot" to show the group its board, and nothing came back: the adapter
    dropped every message from a bot, and Telegram sends these from its GroupAnonymousBot,
    marked as one. The group's own pages (the board, help, the menu) hold nothing of
    anyone's, so they are shown now, and no one is recorded for asking."""
    await bot.talk(BOB, DESK).say("done 10")
    update = posted_as(bot.server, DESK.json(), f"{command}@{BOT_USERNAME}")
    calls = await bot.talk(ALICE, DESK).deliver(update)
    [answer] = sent(calls)
    assert answer.params["chat_id"] == str(DESK.id)
    assert shown in answer.params["text"]
    if command == "/leaderboard":
        assert "Bob" in answer.params["text"]
    assert await people_recorded(core) == 1  # Bob
    redelivered = bot.server.again(update)
    assert await bot.talk(ALICE, DESK).deliver(redelivered) == []  # handled already


@pytest.mark.parametrize("sender", [DESK.json(), DESK_NEWS], ids=["anonymous_admin", "channel"])
async def test_a_personal_request_posted_as_a_chat_says_how_to_post_as_oneself(
    bot: Bot, core: Core, sender: dict[str, Any]
) -> None:
    """A "done 10" or "/stats@bot" posted anonymously, or as a channel, got no answer at
    all (dropped as a bot's), so the poster never learned why nothing was logged. Nothing
    personal can be tied to a chat: the group is now told that glutebot can't tell who
    they are and how to post as themselves. Nothing is logged and no one recorded, and
    chatter not for the bot is still left alone."""
    me = f"@{BOT_USERNAME}"
    for text in ("done 10", f"/stats{me}", f"{me} undo", "/remind 7:30", f"/leaderboard{me} hide"):
        update = posted_as(bot.server, sender, text)
        calls = await bot.talk(ALICE, DESK).deliver(update)
        assert [c.method for c in calls] == ["sendMessage"], text
        [answer] = sent(calls)
        assert answer.params["chat_id"] == str(DESK.id)
        assert "can't tell who you are" in answer.params["text"]
        assert answer.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert await bot.talk(ALICE, DESK).deliver(posted_as(bot.server, sender, "morning!")) == []
    assert await people_recorded(core) == 0

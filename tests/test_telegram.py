"""The Telegram adapter: real PTB and the real engine over a fake Bot API transport.

Every test drives the bot the way Telegram does: updates served by getUpdates, answers
read back from the Bot API calls the bot made (see tests/fakes/telegram_api.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter

from bot.adapters.telegram_adapter import TelegramAdapter
from bot.app import Core, open_core
from bot.model import ChatRef, Choice, Delivery, Platform, Reply
from bot.render import Rendered, Renderer, escape
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    TOKEN,
    Call,
    FakeBotApi,
    Group,
    Person,
    Server,
    Talk,
)

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
    return [str(call.params["text"]) for call in sent(calls)]


def buttons(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [key["text"] for row in markup["inline_keyboard"] for key in row]


def edits(calls: list[Call]) -> list[Call]:
    return [call for call in calls if call.method == "editMessageText"]


def plain(talk: Talk) -> str:
    """Everything the bot wrote in the chat, as people see it (markup parsed away)."""
    return "\n".join(talk.texts())


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
    again = await alice.deliver(update)  # as after a crash before the offset moved on
    assert len(sent(first)) == 1
    assert sent(again) == []
    assert "Glute bridges: 20 in total" in texts(await alice.say("/stats"))[0]


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


# Groups.


async def test_a_group_is_ignored_unless_the_bot_is_addressed(bot: Bot) -> None:
    alice = bot.talk(ALICE, DESK)
    assert await alice.say("done 10") == []
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


# Limits and failures.


async def test_a_429_is_retried_after_retry_after(bot: Bot) -> None:
    bot.server.fail("sendMessage", "429", retry_after=0.01)
    calls = await bot.talk().say("done 7")
    [first, second] = sent(calls)
    assert first.params == second.params
    assert bot.server.bot_messages(ALICE.id)


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


async def test_deliver_reports_each_outcome(bot: Bot, core: Core) -> None:
    await bot.talk().say("/start")
    chat = ChatRef(Platform.TELEGRAM, str(ALICE.id), str(ALICE.id))
    reply = [Reply("stale_button")]
    assert await bot.adapter.deliver(chat, reply) is Delivery.SENT
    for kind in ("network", "500"):
        bot.server.fail("sendMessage", kind)
        assert await bot.adapter.deliver(chat, reply) is Delivery.RETRY
    bot.server.fail("sendMessage", "429", times=3)
    assert await bot.adapter.deliver(chat, reply) is Delivery.RETRY
    stranger = ChatRef(Platform.TELEGRAM, "424242", "424242")
    assert await bot.adapter.deliver(stranger, reply) is Delivery.GONE
    bot.server.blocked.add(ALICE.id)
    assert await bot.adapter.deliver(chat, reply) is Delivery.GONE
    assert await is_blocked(core, ALICE)


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
        mark = len(bot.server.calls)
        reply = Reply("long", choices=(Choice("do:menu", "back_to_menu"),))
        assert await adapter.deliver(chat, [reply]) is Delivery.SENT
    finally:
        await adapter.stop()
    parts = sent(bot.server.calls[mark:])
    assert len(parts) == 3
    escaped = escape(paragraph, Platform.TELEGRAM)
    for part in parts:
        assert len(part.params["text"]) <= 4096
        assert set(part.params["text"].split("\n\n")) == {escaped}
    assert [("reply_markup" in p.params) for p in parts] == [False, False, True]
    assert buttons(parts[-1]) == ["Main menu"]

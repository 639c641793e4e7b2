"""Warning signs and pain told in the person's own words, outside the check's questions:
CONTENT.md's safety rules hold however they come up."""

from __future__ import annotations

import pytest

from bot.app import Core
from bot.model import ChatRef, Incoming, Platform, PrivateReach
from tests.transcript import Chat


def sends_to_a_professional(text: str) -> bool:
    return "doctor or physiotherapist" in text or "medical help now" in text


async def rep_logs(chat: Chat) -> list[object]:
    return list(await chat.core.store.db.fetchall("SELECT * FROM rep_logs"))


@pytest.mark.parametrize(
    "report",
    [
        "my leg is going numb",
        "the numbness is spreading down my leg",
        "tingling down my left leg",
        "my leg keeps getting weaker",
        "I fell yesterday and my hip hurts",
        "I hurt my back",  # an injury
        "I can't feel my left leg",
    ],
)
async def test_a_warning_sign_typed_mid_exercise_gets_advice_not_the_next_step(
    chat: Chat, report: str
) -> None:
    await chat.say("/bridge")
    await chat.say("next")
    said = await chat.say(report)
    assert "didn't understand" not in said.text
    assert sends_to_a_professional(said.text), said.text
    assert "check/red_flag" in said.templates
    assert "step" not in said.text  # the walk-through is over


async def test_bladder_trouble_typed_anywhere_is_urgent(chat: Chat) -> None:
    await chat.say("/start")
    said = await chat.say("I keep losing control of my bladder")
    assert said.templates == ["check/urgent_flag"]
    assert "medical help now" in said.text


async def test_after_a_typed_warning_sign_nothing_is_logged_until_a_clear_check(
    chat: Chat,
) -> None:
    """Told like a yes in the check, and kept like one: "done" and /workout give the
    advice again, and a later check that comes out clear lifts it."""
    await chat.say("/lunge")
    await chat.say("my leg is going numb")
    for asked in ("done", "done 0", "/workout"):
        said = await chat.say(asked)
        assert "No workout for now" in said.text, asked
    assert await rep_logs(chat) == []

    await chat.say("/check")
    for _ in range(6):
        await chat.say("no")
    for answer in ("2", "I don't run", "no"):  # terminal: "2" is the second option
        await chat.say(answer)
    said = await chat.say("done 20")
    assert "Logged 20 glute bridges" in said.text


@pytest.mark.parametrize(
    "pain",
    ["I feel a sharp pain", "ouch, my knee hurts", "pain", "Hurts!", "ow that hurt",
     "knee pain", "I'm in pain"],
)  # fmt: skip
async def test_pain_during_an_exercise_stops_it(chat: Chat, pain: str) -> None:
    await chat.say("/bridge")
    for _ in range(3):
        await chat.say("next")
    said = await chat.say(pain)
    assert said.templates == ["pain"]
    assert "Stop there" in said.text
    assert "stopped the exercise" in said.text
    said = await chat.say("next")  # the walk-through really is over
    assert "step 5 of 5" not in said.text


async def test_pain_is_advice_only_and_holds_nothing_back(chat: Chat) -> None:
    """Pain isn't one of the warning signs: the person is told to stop and when to see
    someone, and can log again once it has passed."""
    await chat.say("/start")
    await chat.say("my back hurts")
    said = await chat.say("done 20")
    assert "Logged 20 glute bridges" in said.text


@pytest.mark.parametrize(
    "said",
    [
        "done 20, no pain",
        "my bum goes numb after sitting",  # the condition itself: the check asks about it
        "I fell asleep at my desk",
        "my glutes are sore",
    ],
)
async def test_everyday_words_about_the_body_are_not_warnings(chat: Chat, said: str) -> None:
    await chat.say("/start")
    answer = await chat.say(said)
    assert not {"check/red_flag", "check/urgent_flag", "pain"} & set(answer.templates)


async def test_pain_in_the_check_is_an_answer_not_a_reason_to_stop(chat: Chat) -> None:
    await chat.say("/check")
    said = await chat.say("my calves hurt")
    assert "pain" not in said.templates
    assert "Question 1 of 9" in said.text


async def test_a_warning_sign_said_to_others_in_a_server_is_left_alone(core: Core) -> None:
    """Server talk not addressed to the bot is not the bot's business: no answer, and
    nothing recorded that would hold the member's workouts back."""
    member = Chat(core, user="1", platform=Platform.DISCORD, community="900")
    talk = Incoming(member.ref, "talk", text="my leg is going numb lol", addressed=False)
    said = await member.send(talk)
    assert said.replies == []
    assert await core.store.db.fetchall("SELECT * FROM checks") == []


async def test_a_warning_sign_told_to_the_bot_in_a_server_is_answered_in_private(
    core: Core,
) -> None:
    member = Chat(core, user="1", platform=Platform.DISCORD, community="900")
    member.ref = ChatRef(Platform.DISCORD, user_id="1", chat_id="555", community="900")
    told = Incoming(member.ref, "told", text="my leg is going numb", addressed=True)
    said = await member.send(told)
    assert said.templates == ["check/red_flag"]
    assert all(reply.private for reply in said.replies)


async def test_a_warning_sign_told_in_a_group_ends_the_walk_through_finished_in_private(
    core: Core,
) -> None:
    """The finish of a walk-through is on screen in private; the person then tells the bot
    in a group that their leg is going numb. Back in private, "next" must not bring the
    finish's "say done" and Done button back: no exercise coaching until a clear check."""
    me = Chat(core, user="7", platform=Platform.TELEGRAM)
    await me.say("/bridge")
    for _ in range(5):
        said = await me.say("next")
    assert "Done ✅" in said.labels
    group = ChatRef(Platform.TELEGRAM, user_id="7", chat_id="-100", community="-100")
    told = Incoming(group, "told-in-group", text="my leg is going numb", addressed=True,
                    private_reach=PrivateReach.IF_STARTED)  # fmt: skip
    assert (await me.send(told)).templates == ["check/red_flag"]
    said = await me.say("next")
    assert "Done ✅" not in said.labels
    assert "done" not in said.text.lower()


async def test_stats_after_a_typed_warning_sign_does_not_credit_a_check(chat: Chat) -> None:
    """Told in their own words, not in a check: /stats says what they told, not that a
    symptom check they never took found it."""
    await chat.say("my leg is going numb")
    said = await chat.say("/stats")
    assert "symptom check" not in said.text
    assert "you told me about a warning sign" in said.text
    assert sends_to_a_professional(said.text)

"""The Discord adapter: real discord.py and the real engine against the fake Discord server.

Members act through the fake (messages, slash commands, buttons); the tests read back what
the bot did there (messages, ephemeral answers, reactions, DMs) and what the store holds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.adapters.base import StartError
from bot.adapters.discord_adapter import (
    CHANNEL_GONE,
    DMS_CLOSED,
    NO_MESSAGE_CONTENT,
    POST_FAILED,
    REMINDERS_HERE,
    REMINDERS_PAUSED,
    SLASH_INSTEAD,
    DiscordAdapter,
    DiscordStartError,
    GluteBot,
)
from bot.adapters.discord_wire import delivery_for, setup_channel
from bot.app import Core, open_core
from bot.config import Secret, Settings
from bot.model import ChatRef, Delivery, Incoming, Platform, Reply
from bot.pacing import Pacer
from bot.runner import deliverer, run
from bot.scheduler import Prompt, Scheduler
from bot.store.schedules import Schedule, channel_owner, reminder_owner
from tests.fakes.discord_checked import CheckedDiscord
from tests.fakes.discord_gateway import MESSAGE_CONTENT
from tests.fakes.discord_server import (
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SUPPRESS_EMBEDS,
    VIEW_CHANNEL,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    fake_discord,
    poll_of,
    running_fake_discord,
    watching,
)
from tests.fakes.discord_world import Overwrite
from tests.isolates import isolated, shown
from tests.transcript import FakeClock

# isort: split
import discord

__all__ = ["fake_discord"]  # the fixture, re-exported so pytest finds it here

EPHEMERAL = 1 << 6
LOADING = 1 << 7
MANAGE_SERVER = discord.Permissions(manage_guild=True)
DONE_BUTTON = re.compile(r"glutebot:do:done:\w+")


@dataclass
class World:
    guild: FakeGuild
    channel: FakeChannel
    boss: FakeMember
    alice: FakeMember
    bob: FakeMember


@pytest.fixture
def world(fake_discord: FakeDiscord) -> World:
    guild = fake_discord.add_guild("Glute Club")
    channel = fake_discord.add_channel(guild, "workouts")
    boss = fake_discord.add_member(guild, None, "boss", permissions=MANAGE_SERVER)
    alice = fake_discord.add_member(guild, None, "alice")
    bob = fake_discord.add_member(guild, None, "bob")
    return World(guild, channel, boss, alice, bob)


@asynccontextmanager
async def running(
    server: FakeDiscord, core: Core, **options: Any
) -> AsyncIterator[DiscordAdapter]:
    """A started adapter; the test fails if its bot dies or anything logs an error."""
    adapter = DiscordAdapter(core, server.token, guild_ready_timeout=0.01, **options)
    report_when_done(server, adapter)
    await adapter.start()
    try:
        assert adapter.task is not None
        async with watching(server, adapter.task, loggers=("discord", "bot")):
            yield adapter
    finally:
        await adapter.stop()


def report_when_done(server: FakeDiscord, adapter: DiscordAdapter) -> None:
    """Tells `server` each message and button press the adapter is done with, answered or
    not, for `FakeDiscord.until_finished`."""
    on_message, on_button = adapter.on_message, adapter.on_button

    async def message_seen_to(bot: GluteBot, message: discord.Message) -> None:
        try:
            await on_message(bot, message)
        finally:
            server.bot_finished(message.id)

    async def press_seen_to(interaction: discord.Interaction[Any], value: str) -> None:
        try:
            await on_button(interaction, value)
        finally:
            server.bot_finished(interaction.id)

    adapter.on_message = message_seen_to  # type: ignore[method-assign]
    adapter.on_button = press_seen_to  # type: ignore[method-assign]


@contextmanager
def logged_by(server: FakeDiscord, name: str) -> Iterator[list[str]]:
    """The messages logger `name` logs while inside, each waking `server.wait_for`."""
    messages: list[str] = []

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())
            server.notify()

    watch = Watch()
    logging.getLogger(name).addHandler(watch)
    try:
        yield messages
    finally:
        logging.getLogger(name).removeHandler(watch)


@pytest.fixture
async def bot(
    fake_discord: FakeDiscord, world: World, core: Core
) -> AsyncIterator[DiscordAdapter]:
    async with running(fake_discord, core) as adapter:
        yield adapter


# Reading what happened.


def answers(interaction: FakeInteraction) -> list[dict[str, Any]]:
    """The messages the bot answered an interaction with, in order."""
    first = interaction.response
    original = [interaction.original] if first and first.type in (4, 5) else []
    return [m for m in [*original, *interaction.followups] if m is not None]


async def answered(
    server: FakeDiscord, interaction: FakeInteraction, count: int = 1
) -> list[dict[str, Any]]:
    await server.wait_for(lambda: len(answers(interaction)) >= count)
    return answers(interaction)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        button["custom_id"]
        for row in message.get("components", [])
        for button in row.get("components", [])
    ]


def public_bot_messages(server: FakeDiscord, channel: FakeChannel) -> list[dict[str, Any]]:
    return [m for m in server.bot_messages(channel) if not m["flags"] & EPHEMERAL]


async def next_post(server: FakeDiscord, channel: FakeChannel) -> dict[str, Any]:
    """The next message the bot posted in the channel for everyone (not an ephemeral one)."""
    while True:
        message = await server.next_bot_message(channel)
        if not message["flags"] & EPHEMERAL:
            return message


async def reps_of(core: Core, member: FakeMember) -> dict[str, int]:
    user = await core.store.users.get(Platform.DISCORD, str(member.id))
    if user is None:
        return {}
    totals: dict[str, int] = {}
    for day in await core.store.reps.day_totals(user.id):
        totals[day.exercise] = totals.get(day.exercise, 0) + day.reps
    return totals


async def reacted(server: FakeDiscord, message: dict[str, Any], emoji: str = "✅") -> None:
    await server.wait_for(lambda: emoji in server.reactions_on(message))


async def slash(
    server: FakeDiscord,
    world: World,
    member: FakeMember,
    command: str,
    options: dict[str, Any] | None = None,
    count: int = 1,
) -> list[dict[str, Any]]:
    interaction = await server.slash(world.guild, world.channel, member, command, options)
    return await answered(server, interaction, count)


async def setup(server: FakeDiscord, world: World, channel: FakeChannel | None = None) -> str:
    options = {
        "channel": channel or world.channel,
        "time": "07:30",
        "timezone": "Europe/Berlin",
        "days": "mon,wed,fri",
    }
    return str((await slash(server, world, world.boss, "setup", options))[0]["content"])


async def prompt(server: FakeDiscord, world: World) -> dict[str, Any]:
    """/prompt by the admin; returns the workout post."""
    before = len(public_bot_messages(server, world.channel))
    await slash(server, world, world.boss, "prompt")
    posts = await server.wait_for(
        lambda: public_bot_messages(server, world.channel)[before:] or None
    )
    post: dict[str, Any] = posts[0]
    return post


# Admin set-up and the daily post.


async def test_admin_sets_up_the_daily_post(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    answer = await slash(
        fake_discord,
        world,
        world.boss,
        "setup",
        {"channel": world.channel, "time": "07:30", "timezone": "Europe/Berlin", "days": "mon"},
    )

    assert answer[0]["flags"] & EPHEMERAL
    assert f"<#{world.channel.id}> at **07:30** (Europe/Berlin)" in answer[0]["content"]
    assert "First post: Monday" in answer[0]["content"]
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
    assert schedule is not None
    assert schedule.target == str(world.channel.id)


@pytest.mark.parametrize("zone", ["UTC +2", "GMT + 2", "America/New York"])
async def test_setup_reads_a_zone_typed_with_spaces(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter, zone: str
) -> None:
    options = {"channel": world.channel, "time": "07:30", "timezone": zone}
    answer = await slash(fake_discord, world, world.boss, "setup", options)
    shown = "America/New\\_York)" if "/" in zone else "UTC+2, no daylight saving)"
    assert f"at **07:30** ({shown}" in answer[0]["content"]


@pytest.mark.parametrize(
    ("city", "zone"),
    [
        ("São Paulo", "America/Sao_Paulo"),
        ("Zürich", "Europe/Zurich"),
        ("Bogotá", "America/Bogota"),
    ],
)
async def test_setup_reads_a_city_spelled_with_its_accents(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter, city: str, zone: str
) -> None:
    """IANA spells places without accents (America/Sao_Paulo); an admin who writes the
    city as its people do gets it, and the option suggests it as they type."""
    options = {"channel": world.channel, "time": "07:30", "timezone": city, "days": "daily"}
    answer = await slash(fake_discord, world, world.boss, "setup", options)
    typing = await fake_discord.autocomplete(
        world.guild, world.channel, world.boss, "setup", {"timezone": city[:4]}, focused="timezone"
    )
    await fake_discord.wait_for(lambda: typing.response)

    shown = zone.replace("_", "\\_")  # as Discord markdown escapes it
    assert f"at **07:30** ({shown})" in answer[0]["content"]
    assert typing.response is not None
    assert zone in [choice["value"] for choice in typing.response.data["choices"]]


async def test_setup_and_prompt_are_refused_to_members_without_manage_server(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    options = {"channel": world.channel, "time": "07:30", "timezone": "UTC"}
    refused = await slash(fake_discord, world, world.alice, "setup", options)
    refused += await slash(fake_discord, world, world.alice, "prompt")

    assert all("Manage Server permission" in m["content"] for m in refused)
    assert all(m["flags"] & EPHEMERAL for m in refused)
    assert (
        await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
        is None
    )
    assert public_bot_messages(fake_discord, world.channel) == []
    setup_command = next(c for c in fake_discord.commands_for() if c["name"] == "setup")
    assert int(setup_command["default_member_permissions"]) == MANAGE_SERVER.value


@pytest.mark.parametrize(
    ("time", "zone", "expected"),
    [
        ("25:00", "Europe/Berlin", "25:00\" isn't a time I can read"),
        ("07:30", "Moon/Base", "Moon/Base\" isn't a time zone I know"),
    ],
)
async def test_bad_setup_input_is_explained_and_saves_nothing(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    bot: DiscordAdapter,
    time: str,
    zone: str,
    expected: str,
) -> None:
    options = {"channel": world.channel, "time": time, "timezone": zone}
    answer = await slash(fake_discord, world, world.boss, "setup", options)

    assert expected in shown(answer[0]["content"])
    assert "Nothing was saved" in answer[0]["content"]
    assert (
        await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
        is None
    )


async def test_a_first_setup_without_a_zone_asks_for_the_zone_in_the_commands_terms(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    options = {"channel": world.channel, "time": "07:30"}
    answer = await slash(fake_discord, world, world.boss, "setup", options)
    text = answer[0]["content"]
    assert "time zone" in text.split(".")[0]  # what's missing comes first
    assert "timezone:Europe/Berlin" in text  # as the slash command's option is given
    assert "/setup #" not in text  # not a form typed in a channel
    assert "time:off" in text
    owner = channel_owner(Platform.DISCORD, str(world.guild.id))
    assert await core.store.schedules.get(owner) is None


async def test_the_help_page_says_how_to_stop_the_daily_posts_with_the_slash_command(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    answer = await slash(fake_discord, world, world.alice, "help")
    assert "time:off" in answer[0]["content"]
    assert "/setup off" not in answer[0]["content"]


async def test_setup_refuses_a_channel_it_cannot_post_in(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    async with running(fake_discord, core):
        by_command = await setup(fake_discord, world, locked)
        typed = await fake_discord.user_says(
            world.guild, world.channel, world.boss, f"/setup <#{locked.id}> 07:30 UTC daily"
        )
        by_text = await next_post(fake_discord, world.channel)

    assert "I can't post in that channel" in by_command
    assert "I can't post in that channel" in by_text["content"]
    assert by_text["message_reference"]["message_id"] == typed["id"]
    assert (
        await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
        is None
    )


async def test_setup_off_stops_the_posts_whichever_channel_it_names(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    """Channel is a required option, so an admin switching off may pick any channel, even
    one the bot can't post in: that is no reason to refuse."""
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    async with running(fake_discord, core):
        await setup(fake_discord, world)
        options = {"channel": locked, "time": "off"}
        answer = await slash(fake_discord, world, world.boss, "setup", options)
    assert f"won't post the workout in <#{world.channel.id}> any more" in answer[0]["content"]
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
    assert schedule is not None
    assert not schedule.enabled


async def test_setup_with_a_time_alone_keeps_the_zone_and_days(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    async with running(fake_discord, core):
        await setup(fake_discord, world)  # Mon, Wed, Fri at 07:30 in Berlin
        options = {"channel": world.channel, "time": "6 pm", "days": "weekdays"}
        answer = await slash(fake_discord, world, world.boss, "setup", options)
    assert "at **18:00** (Europe/Berlin) on weekdays" in answer[0]["content"]


async def test_a_refused_setup_that_discord_sends_again_is_not_answered_again(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    async with running(fake_discord, core):
        typed = await fake_discord.user_says(
            world.guild, world.channel, world.boss, f"/setup <#{locked.id}> 07:30 UTC daily"
        )
        await next_post(fake_discord, world.channel)
        # A reconnect before the bot's sequence number got through: Discord replays the
        # typed /setup (and the bot's own answer, which it ignores).
        await fake_discord.drop_connection(replay=2)
        await fake_discord.wait_for(lambda: fake_discord.resumes and fake_discord.connected)
        await slash(fake_discord, world, world.alice, "help")  # events go in order

    answers_to_it = [
        m
        for m in public_bot_messages(fake_discord, world.channel)
        if (m.get("message_reference") or {}).get("message_id") == typed["id"]
    ]
    assert len(answers_to_it) == 1, [m["content"] for m in answers_to_it]


@pytest.mark.parametrize("typed", ["berl", "\u200fberl"])  # as a right-to-left keyboard types
async def test_timezone_option_autocompletes_iana_names(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter, typed: str
) -> None:
    interaction = await fake_discord.autocomplete(
        world.guild, world.channel, world.boss, "setup", {"timezone": typed}, focused="timezone"
    )
    await fake_discord.wait_for(lambda: interaction.response)

    assert interaction.response is not None
    assert interaction.response.type == 8
    assert {"name": "Europe/Berlin", "value": "Europe/Berlin"} in interaction.response.data[
        "choices"
    ]


async def test_a_zone_typed_as_people_do_is_suggested_and_answered_in_places(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    interaction = await fake_discord.autocomplete(
        world.guild, world.channel, world.boss, "setup", {"timezone": "utc+5:30"},
        focused="timezone",
    )  # fmt: skip
    await fake_discord.wait_for(lambda: interaction.response)
    assert interaction.response is not None
    names = [choice["value"] for choice in interaction.response.data["choices"]]
    assert names[:2] == ["Asia/Kolkata", "Asia/Colombo"]

    options = {"channel": world.channel, "time": "07:30", "timezone": "IST"}
    [answer] = await slash(fake_discord, world, world.boss, "setup", options)
    assert answer["flags"] & EPHEMERAL
    said = shown(answer["content"])
    assert '"IST" could be Asia/Kolkata, Asia/Jerusalem or Europe/Dublin' in said
    options["timezone"] = "PST"
    [answer] = await slash(fake_discord, world, world.boss, "setup", options)
    said = shown(answer["content"]).replace("\\_", "_")  # Discord's markdown escapes it
    assert "(America/Los_Angeles)" in said
    assert 'I took "PST" to mean the time in America/Los_Angeles' in said


async def test_prompt_posts_the_workout_with_its_done_button(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    await setup(fake_discord, world)
    confirmation = await slash(fake_discord, world, world.boss, "prompt")
    post = await next_post(fake_discord, world.channel)

    assert "Today's glute workout" in post["content"]
    assert not post["flags"] & EPHEMERAL
    assert [DONE_BUTTON.fullmatch(c) is not None for c in custom_ids(post)] == [True]
    assert confirmation[0]["flags"] & EPHEMERAL
    assert f"Posted today's workout in <#{world.channel.id}>" in confirmation[0]["content"]


# Logging reps.


async def test_every_way_of_saying_done_logs_exactly_once(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    carol = fake_discord.add_member(world.guild, None, "carol")
    dave = fake_discord.add_member(world.guild, None, "dave")
    post = await prompt(fake_discord, world)
    me = fake_discord.bot_user

    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    await reacted(fake_discord, said)
    said = await fake_discord.user_says(
        world.guild, world.channel, world.bob, "done 12 lunges", reply_to=post
    )
    await reacted(fake_discord, said)
    said = await fake_discord.user_says(
        world.guild, world.channel, carol, "done bridge 10", mentions=[me]
    )
    await reacted(fake_discord, said)
    role = world.guild.bot_role(me.id)
    said = await fake_discord.user_says(world.guild, world.channel, carol, f"<@&{role.id}> done 3")
    await reacted(fake_discord, said)
    button = custom_ids(post)[0]
    first = await fake_discord.press_button(post, dave, button)
    again = await fake_discord.press_button(post, dave, button)
    pressed = (await answered(fake_discord, first))[0]
    pressed_again = (await answered(fake_discord, again))[0]
    command = await slash(
        fake_discord, world, world.boss, "done", {"reps": 8, "exercise": "lunge"}
    )

    assert await reps_of(core, world.alice) == {"bridge": 15}
    assert await reps_of(core, world.bob) == {"lunge": 12}
    assert await reps_of(core, carol) == {"bridge": 13}
    assert await reps_of(core, dave) == {"bridge": 20, "lunge": 5}
    assert await reps_of(core, world.boss) == {"lunge": 8}
    assert pressed["flags"] & EPHEMERAL
    assert "Logged" in pressed["content"]
    assert "already logged" in pressed_again["content"].lower()
    assert command[0]["flags"] & EPHEMERAL
    assert "Logged 8 lunges" in command[0]["content"]
    # Quiet acknowledgements: only the reactions, no text in the channel.
    assert public_bot_messages(fake_discord, world.channel) == [post]


async def test_a_done_with_news_gets_a_short_public_reply_too(
    fake_discord: FakeDiscord, world: World, core: Core, clock: FakeClock, bot: DiscordAdapter
) -> None:
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done")
    await reacted(fake_discord, said)
    clock.advance(days=1)
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done")
    await reacted(fake_discord, said)
    reply = await next_post(fake_discord, world.channel)

    assert "target goes up" in reply["content"]
    assert reply["message_reference"]["message_id"] == said["id"]


async def test_ordinary_chatter_is_ignored(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    chatter = await fake_discord.user_says(
        world.guild, world.channel, world.bob, "lovely day, done with work soon"
    )
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 5")
    await reacted(fake_discord, said)

    assert fake_discord.reactions_on(chatter) == []
    assert await core.store.users.get(Platform.DISCORD, str(world.bob.id)) is None
    assert public_bot_messages(fake_discord, world.channel) == []


async def test_a_mention_of_the_bot_or_its_role_is_meant_for_it(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    role = world.guild.bot_role(fake_discord.bot_user.id)
    for mention in (f"<@{fake_discord.bot_user.id}>", f"<@&{role.id}>"):
        said = await fake_discord.user_says(
            world.guild, world.channel, world.alice, f"{mention} help"
        )
        reply = await next_post(fake_discord, world.channel)

        assert reply["message_reference"]["message_id"] == said["id"]
        assert "How to use glutebot" in reply["content"]


async def test_own_messages_and_other_bots_are_ignored(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    other = fake_discord.add_member(world.guild, None, "otherbot", bot=True)
    itself = world.guild.members[fake_discord.bot_user.id]
    async with running(fake_discord, core):
        own = await fake_discord.user_says(world.guild, world.channel, itself, "done 15")
        theirs = await fake_discord.user_says(
            world.guild, world.channel, other, "done 20", mentions=[fake_discord.bot_user]
        )
        said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 1")
        await reacted(fake_discord, said)

    assert fake_discord.reactions_on(own) == fake_discord.reactions_on(theirs) == []
    assert await reps_of(core, itself) == await reps_of(core, other) == {}
    assert await reps_of(core, world.alice) == {"bridge": 1}


async def test_without_the_message_content_intent_the_bot_keeps_running(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_discord.refuse_message_content = True
    with caplog.at_level(logging.WARNING, logger="bot.adapters.discord_adapter"):
        async with running(fake_discord, core):
            post = await prompt(fake_discord, world)
            unseen = await fake_discord.user_says(world.guild, world.channel, world.bob, "done 9")
            mention = await fake_discord.user_says(
                world.guild,
                world.channel,
                world.alice,
                "done 15",
                mentions=[fake_discord.bot_user],
            )
            await reacted(fake_discord, mention)
            reply = await fake_discord.user_says(
                world.guild, world.channel, world.alice, "done 2 lunges", reply_to=post
            )
            await reacted(fake_discord, reply)
            await slash(fake_discord, world, world.bob, "done", {"reps": 7})
            button = await fake_discord.press_button(post, world.boss, custom_ids(post)[0])
            await answered(fake_discord, button)

    assert [i["intents"] & MESSAGE_CONTENT for i in fake_discord.identifies] == [
        MESSAGE_CONTENT,
        0,
    ]
    assert NO_MESSAGE_CONTENT in caplog.messages
    assert "Developer Portal" in NO_MESSAGE_CONTENT
    assert fake_discord.reactions_on(unseen) == []
    assert await reps_of(core, world.alice) == {"bridge": 15, "lunge": 2}
    assert await reps_of(core, world.bob) == {"bridge": 7}
    assert await reps_of(core, world.boss) == {"bridge": 20, "lunge": 5}


async def test_resume_replaying_a_done_message_logs_it_once(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    bot: DiscordAdapter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handled: list[str] = []
    handle = core.engine.handle

    async def recording(incoming: Incoming) -> list[Reply]:
        replies = await handle(incoming)
        handled.append(incoming.event_key)
        fake_discord.notify()
        return replies

    monkeypatch.setattr(core.engine, "handle", recording)
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    await reacted(fake_discord, said)
    await fake_discord.drop_connection(replay=1)
    key = f"dc:m:{said['id']}"
    await fake_discord.wait_for(lambda: handled.count(key) == 2)

    assert fake_discord.resumes == 1
    assert await reps_of(core, world.alice) == {"bridge": 15}
    reactions = [r for r in fake_discord.requests if r.method == "PUT" and "/reactions/" in r.path]
    assert len(reactions) == 1


# Private answers.


async def test_check_runs_privately_one_question_at_a_time_to_the_end(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    shown = await slash(fake_discord, world, world.alice, "check", count=2)
    questions = 0
    while any(c.startswith("glutebot:check:") for c in custom_ids(shown[-1])):
        question = shown[-1]
        questions += 1
        choice = next(c for c in custom_ids(question) if c.endswith((":no", ":under4", ":no_run")))
        press = await fake_discord.press_button(question, world.alice, choice)
        shown = await answered(fake_discord, press)
        edited = fake_discord.messages[int(question["id"])]
        assert all(
            button["disabled"] for row in edited["components"] for button in row["components"]
        )

    assert questions == 9
    assert "unlikely" in shown[-1]["content"].lower() or "Result" in shown[-1]["content"]
    assert public_bot_messages(fake_discord, world.channel) == []
    assert all(m["flags"] & EPHEMERAL for m in fake_discord.bot_messages(world.channel))
    user = await core.store.users.get(Platform.DISCORD, str(world.alice.id))
    assert user is not None
    assert await core.store.checks.latest(user.id) is not None


async def test_stats_is_shown_only_to_its_owner(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    await reacted(fake_discord, said)
    stats = await slash(fake_discord, world, world.alice, "stats")

    assert stats[0]["flags"] & EPHEMERAL
    assert "15" in stats[0]["content"]


async def test_a_typed_personal_question_in_a_channel_is_pointed_to_its_slash_command(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    said = await fake_discord.user_says(
        world.guild, world.channel, world.alice, "done 15 ", mentions=[fake_discord.bot_user]
    )
    await reacted(fake_discord, said)
    asked = await fake_discord.user_says(
        world.guild, world.channel, world.alice, "stats", mentions=[fake_discord.bot_user]
    )
    pointer = await next_post(fake_discord, world.channel)

    assert pointer["message_reference"]["message_id"] == asked["id"]
    assert "**/stats**" in pointer["content"]
    assert "only you will see" in pointer["content"]
    assert "15" not in pointer["content"]
    assert fake_discord.dms_to(world.alice) == []


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("check", "check"),
        ("workout", "workout"),
        ("forget", "forget"),
        ("remind 7:30 UTC", "remind"),
    ],
)
async def test_a_command_typed_without_its_slash_in_a_channel_is_pointed_to_it(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter, typed: str, command: str
) -> None:
    """Commands work typed without their slash: one with a private answer, typed in a
    channel, is pointed to its own slash command, not to "my slash commands" at large."""
    asked = await fake_discord.user_says(
        world.guild, world.channel, world.alice, typed, mentions=[fake_discord.bot_user]
    )
    pointer = await next_post(fake_discord, world.channel)
    assert pointer["message_reference"]["message_id"] == asked["id"]
    assert f"**/{command}**" in pointer["content"]


async def test_closed_dms_get_a_hint_in_the_channel_without_the_personal_data(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    fake_discord.close_dms(world.alice)
    said = await fake_discord.user_says(
        world.guild, world.channel, world.alice, "done 15", mentions=[fake_discord.bot_user]
    )
    await reacted(fake_discord, said)
    asked = await fake_discord.user_says(
        world.guild, world.channel, world.alice, "stats", mentions=[fake_discord.bot_user]
    )
    hint = await next_post(fake_discord, world.channel)

    assert hint["message_reference"]["message_id"] == asked["id"]
    assert "slash command" in hint["content"]
    assert "15" not in hint["content"]
    assert fake_discord.dms_to(world.alice) == []


async def test_an_answer_it_may_not_send_is_logged_with_its_channel_and_server(
    fake_discord: FakeDiscord, world: World, core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    posts_there = f"/channels/{locked.id}/messages"
    with caplog.at_level(logging.WARNING):
        async with running(fake_discord, core):
            await fake_discord.user_says(
                world.guild, locked, world.alice, "help", mentions=[fake_discord.bot_user]
            )
            await fake_discord.wait_for(
                lambda: any(r.path.endswith(posts_there) for r in fake_discord.requests)
            )
        # Stopping let the handling finish, and log.

    # The operator can tell which server has to give the bot Send Messages, and where.
    where = f"in channel {locked.id} of server {world.guild.id}"
    assert f"sending the answer {where} failed: 403 50013 Missing Permissions" in caplog.text


async def test_direct_messages_are_a_private_conversation(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    said = await fake_discord.dm(world.alice, "done 10")
    await reacted(fake_discord, said)
    await fake_discord.dm(world.alice, "stats")
    stats = await fake_discord.next_bot_message(fake_discord.dm_channel(world.alice))
    interaction = await fake_discord.slash(None, None, world.alice, "workout")
    workout = await answered(fake_discord, interaction)

    assert "10" in stats["content"]
    assert "workout" in workout[0]["content"].lower()
    assert await reps_of(core, world.alice) == {"bridge": 10}


async def test_leaderboard_leaves_out_a_member_who_opted_out(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    for member, text in ((world.alice, "done 30"), (world.bob, "done 10")):
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)
    hidden = await slash(fake_discord, world, world.bob, "leaderboard", {"visibility": "hide"})
    board = (await slash(fake_discord, world, world.alice, "leaderboard"))[0]["content"]

    assert "hidden from leaderboards" in hidden[0]["content"]
    assert "1\\. \u2068alice\u2069: 30 reps" in board
    assert "bob" not in board


async def test_a_right_to_left_name_first_on_a_board_line_is_isolated(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """A Hebrew nickname first on a leaderboard line made Discord lay the whole line out
    right to left, the place and the reps after the name: it goes in an isolate, so the
    line reads as written, its place still escaped from Discord's list numbering, and a
    mention in the name still escaped inside the isolate."""
    dana = fake_discord.add_member(world.guild, None, "dana")
    dana.nick = "דנה \u202e<@1>"
    for member, text in ((dana, "done 30"), (world.bob, "done 10")):
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)
    [board] = await slash(fake_discord, world, world.alice, "leaderboard")
    lines = board["content"].splitlines()

    assert "1\\. \u2068דנה \\<@1>\u2069: 30 reps, 1 session" in lines
    assert "2\\. \u2068bob\u2069: 10 reps, 1 session" in lines
    assert isolated(board["content"]) == ["דנה \\<@1>", "bob"] * 2  # this week, all time


# Discord reads lines that start "N. " as an ordered list, and numbers its items on from
# the first whatever the others say; "N\. " is text, and shows as "N. ".
LISTED = re.compile(r"^(\d+)\. ")
AS_TEXT = re.compile(r"^(\d+)\\\. ")


def numbers_as_discord_shows(text: str) -> list[int]:
    shown: list[int] = []
    listed = False
    for line in text.split("\n"):
        if item := LISTED.match(line):
            shown.append(shown[-1] + 1 if listed else int(item[1]))
        elif written := AS_TEXT.match(line):
            shown.append(int(written[1]))
        listed = item is not None
    return shown


async def test_members_level_on_the_board_show_the_same_place_in_discord(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """The board gave members level on reps and sessions the same place ("1, 1, 3"), but
    Discord showed the lines as a numbered list of its own: 1, 2, 3."""
    for member, text in ((world.alice, "done 30"), (world.bob, "done 30"), (world.boss, "done 5")):
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)
    board = (await slash(fake_discord, world, world.alice, "leaderboard"))[0]["content"]

    assert numbers_as_discord_shows(board) == [1, 1, 3, 1, 1, 3], board


# Personal reminders.


async def test_remind_options_reach_the_engine_as_the_fields_they_were_given(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    no_zone = await slash(fake_discord, world, alice, "remind", {"time": "07:30", "days": "daily"})
    spaced = await slash(
        fake_discord,
        world,
        alice,
        "remind",
        {"time": "7 pm", "timezone": "America/New York", "days": "tue thu"},
    )
    time_only = await slash(fake_discord, world, alice, "remind", {"time": "08:15"})

    # Without a zone of her own or the server's daily posts', the zone is asked, never
    # taken to be UTC (which would remind someone in New York at 02:30).
    assert "Which time zone are you in?" in no_zone[0]["content"]
    assert r"**19:00** (America/New\_York) on Tue and Thu" in spaced[0]["content"]
    # The zone and the days left out are those saved last time.
    assert r"**08:15** (America/New\_York) on Tue and Thu" in time_only[0]["content"]
    user = await core.store.users.get(Platform.DISCORD, str(alice.id))
    assert user is not None
    schedule = await core.store.schedules.get(reminder_owner(user.id))
    assert schedule is not None
    assert (schedule.tz.key, schedule.days) == ("America/New_York", (1, 3))


async def test_remind_without_a_time_asks_for_it_and_keeps_the_options_given(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    [ask_time] = await slash(fake_discord, world, alice, "remind", {"timezone": "Europe/Paris"})
    seven = next(c for c in custom_ids(ask_time) if c.endswith("07.00"))
    [ask_days] = await answered(
        fake_discord, await fake_discord.press_button(ask_time, alice, seven)
    )
    daily = next(c for c in custom_ids(ask_days) if c.endswith("daily"))
    [done] = await answered(fake_discord, await fake_discord.press_button(ask_days, alice, daily))

    assert "What time suits you" in ask_time["content"]
    assert "Which days?" in ask_days["content"]  # the zone was given: not asked for
    assert r"**07:00** (Europe/Paris) every day" in done["content"]


# Restarts and operations.


async def test_a_button_still_works_after_the_bot_restarts(
    fake_discord: FakeDiscord, world: World, db_path: Path, clock: FakeClock
) -> None:
    async with open_core(db_path, clock=clock) as core, running(fake_discord, core):
        post = await prompt(fake_discord, world)
    async with open_core(db_path, clock=clock) as core, running(fake_discord, core):
        press = await fake_discord.press_button(post, world.alice, custom_ids(post)[0])
        answer = await answered(fake_discord, press)
        assert await reps_of(core, world.alice) == {"bridge": 20, "lunge": 5}

    assert "Logged" in answer[0]["content"]
    assert len(fake_discord.identifies) == 2


def syncs(server: FakeDiscord) -> int:
    put = re.compile(r"/api/v10/applications/\d+/commands")
    return sum(1 for r in server.requests if r.method == "PUT" and put.fullmatch(r.path))


async def test_commands_are_synced_only_when_their_definitions_change(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    async with running(fake_discord, core):
        pass
    async with running(fake_discord, core):
        pass
    assert syncs(fake_discord) == 1
    names = {c["name"] for c in fake_discord.commands_for()}
    assert names == {
        "check", "done", "forget", "help", "leaderboard", "prompt", "remind", "setup",
        "stats", "undo", "workout",
    }  # fmt: skip

    adapter = DiscordAdapter(core, fake_discord.token, guild_ready_timeout=0.01)
    descriptions = dict(adapter.wording.descriptions) | {"help": "How glutebot works"}
    adapter.wording = replace(adapter.wording, descriptions=descriptions)
    await adapter.start()
    await adapter.stop()

    assert syncs(fake_discord) == 2


async def test_a_failed_sync_is_tried_again_at_the_next_start(
    fake_discord: FakeDiscord, world: World, core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    fake_discord.fail("PUT", r"/applications/\d+/commands", status=503)
    adapter = DiscordAdapter(core, fake_discord.token, guild_ready_timeout=0.01)
    with caplog.at_level(logging.WARNING):
        await adapter.start()
        await adapter.stop()
    async with running(fake_discord, core):
        pass

    assert syncs(fake_discord) == 2
    assert any("syncing slash commands failed" in m for m in caplog.messages)
    assert fake_discord.commands_for()


async def test_a_command_discord_still_shows_from_before_gets_an_answer(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    bot: DiscordAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Discord clients cache the command list: members can still send a command removed
    # since (unknown here), or one whose options have changed (a required one missing).
    with caplog.at_level(logging.WARNING):
        removed = await slash(fake_discord, world, world.alice, "stretch")
        changed = await slash(fake_discord, world, world.boss, "setup", {"channel": world.channel})

    assert "I don't know the command /stretch" in shown(removed[0]["content"])
    assert "To set up the daily post, give /setup a channel" in changed[0]["content"]
    assert all(answer["flags"] & EPHEMERAL for answer in removed + changed)
    stale = [r for r in caplog.records if "stale slash command" in r.getMessage()]
    assert [r.levelno for r in stale] == [logging.WARNING, logging.WARNING]
    # (The fixture fails the test on any error logged.)


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        ("leaderboard", {"visibility": "invisible"}, "Leaderboard"),
        ("done", {"reps": 10, "exercise": "squat"}, "I only know the glute bridge and the lunge"),
    ],
    ids=["visibility", "exercise"],
)
async def test_a_choice_discord_still_offers_from_before_is_read_as_typed(
    fake_discord: FakeDiscord,
    world: World,
    bot: DiscordAdapter,
    core: Core,
    caplog: pytest.LogCaptureFixture,
    command: str,
    options: dict[str, Any],
    expected: str,
) -> None:
    # Until a sync goes through, Discord sends the options of the definitions it holds: a
    # value the code no longer has ("squat") may come. discord.py refuses to convert it.
    with caplog.at_level(logging.WARNING):
        [answer] = await slash(fake_discord, world, world.alice, command, options)

    assert answer["flags"] & EPHEMERAL
    assert expected in answer["content"]
    # The name alone would have meant the whole session: "/done 10 squat" logs nothing.
    assert await reps_of(core, world.alice) == {}
    assert any("stale slash command" in message for message in caplog.messages)
    # (The fixture fails the test on any error logged.)


async def test_suggestions_discord_refuses_cost_a_warning_not_an_error(
    fake_discord: FakeDiscord,
    world: World,
    bot: DiscordAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    typing = await fake_discord.autocomplete(
        world.guild, world.channel, world.alice, "remind", {"timezone": "berl"}, focused="timezone"
    )
    await fake_discord.wait_for(lambda: typing.responses)
    with caplog.at_level(logging.WARNING):
        # Replayed after a reconnect, the autocomplete is answered already: Discord refuses.
        await fake_discord.drop_connection(replay=1)
        await fake_discord.wait_for(lambda: fake_discord.resumes and fake_discord.connected)
        await slash(fake_discord, world, world.alice, "help")  # events go in order

    assert any("suggestions for /remind not delivered" in m for m in caplog.messages)
    # (The fixture fails the test on any error logged: discord.py logged one, traceback too.)


async def test_suggestions_cut_off_by_a_stop_cost_a_warning_not_an_error(
    fake_discord: FakeDiscord,
    world: World,
    bot: DiscordAdapter,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def session_closed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Session is closed")  # aiohttp's, as the bot stops mid-send

    monkeypatch.setattr(discord.InteractionResponse, "autocomplete", session_closed)
    with caplog.at_level(logging.WARNING):
        await fake_discord.autocomplete(
            world.guild, world.channel, world.alice, "setup", {"timezone": "berl"},
            focused="timezone",
        )  # fmt: skip
        await slash(fake_discord, world, world.alice, "help")  # events go in order

    assert any("suggestions for /setup not delivered" in m for m in caplog.messages)
    # (The fixture fails the test on any error logged.)


async def test_a_bad_token_is_a_clear_start_error(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    adapter = DiscordAdapter(core, "not-the-token", guild_ready_timeout=0.01)
    with pytest.raises(DiscordStartError) as refused:
        await adapter.start()

    assert isinstance(refused.value, StartError)
    assert "DISCORD_BOT_TOKEN" in str(refused.value)
    assert "not-the-token" not in str(refused.value)
    assert adapter.task is None


def hold_handling(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> tuple[asyncio.Event, asyncio.Event, asyncio.Event]:
    """The engine waits, once an event reaches it, until released: (started, release,
    ended), ended set once the handling is over, however it ended."""
    started, release, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()
    handle = core.engine.handle

    async def held(incoming: Incoming) -> list[Reply]:
        started.set()
        try:
            await release.wait()
            return await handle(incoming)
        finally:
            ended.set()

    monkeypatch.setattr(core.engine, "handle", held)
    return started, release, ended


async def test_stop_lets_the_events_being_handled_finish(
    fake_discord: FakeDiscord, world: World, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release, _ = hold_handling(core, monkeypatch)
    adapter = DiscordAdapter(core, fake_discord.token, guild_ready_timeout=0.01)
    await adapter.start()
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    async with asyncio.timeout(5):
        await started.wait()
    stopping = asyncio.create_task(adapter.stop())
    await asyncio.sleep(0)  # one turn of the loop: stop() runs up to its wait
    assert adapter.task is None
    assert adapter.bot is not None
    assert not adapter.bot.is_closed()
    release.set()
    await stopping

    assert fake_discord.reactions_on(said) == ["✅"]
    assert await reps_of(core, world.alice) == {"bridge": 15}


async def test_stop_cuts_short_an_event_still_handled_after_the_drain_time(
    fake_discord: FakeDiscord, world: World, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event still being handled when the drain time is up is cancelled with the rest
    of the shutdown: it can't write (or try to) once the database is closing, and its
    turn is stored whole or not at all (here: not at all)."""
    started, release, ended = hold_handling(core, monkeypatch)
    adapter = DiscordAdapter(core, fake_discord.token, guild_ready_timeout=0.01, drain_timeout=0.0)
    await adapter.start()
    await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    async with asyncio.timeout(5):
        await started.wait()
    await adapter.stop()
    assert ended.is_set()  # cut short with the stop: nothing of it runs any more
    release.set()  # what it waited for comes, too late
    assert await reps_of(core, world.alice) == {}


async def test_stopping_ends_the_wait_for_the_connection(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    adapter = DiscordAdapter(core, fake_discord.token, guild_ready_timeout=0.01)
    await adapter.start()
    ended = asyncio.create_task(adapter.wait_ended())
    await asyncio.sleep(0)
    assert not ended.done()
    await adapter.stop()
    async with asyncio.timeout(5):
        assert await ended == "the connection closed"


# Answers slower than Discord waits for them (3 s).


class Held:
    """From now on, each Engine.handle waits until `release` is set, as behind a database
    busy for a while; `replies` overrides what it returns."""

    def __init__(
        self, core: Core, monkeypatch: pytest.MonkeyPatch, replies: list[Reply] | None = None
    ) -> None:
        self.release = asyncio.Event()
        handle = core.engine.handle

        async def held(incoming: Incoming) -> list[Reply]:
            await self.release.wait()
            answer = await handle(incoming)
            return answer if replies is None else replies

        monkeypatch.setattr(core.engine, "handle", held)


async def test_a_slow_answer_to_a_command_is_deferred_then_takes_the_thinking_place(
    fake_discord: FakeDiscord, world: World, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake_discord, core, defer_after=0.05):
        said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
        await reacted(fake_discord, said)
        held = Held(core, monkeypatch)
        stats = await fake_discord.slash(world.guild, world.channel, world.alice, "stats")
        await fake_discord.wait_for(lambda: stats.responses)
        thinking = stats.original
        held.release.set()
        [answer] = await answered(fake_discord, stats)
        await fake_discord.wait_for(lambda: not answer["flags"] & LOADING)

    assert stats.response is not None
    assert stats.response.type == 5  # deferred: "glutebot is thinking…"
    assert thinking is answer  # the answer took the thinking message's place
    assert "15" in answer["content"]
    assert answer["flags"] == EPHEMERAL | SUPPRESS_EMBEDS  # and no longer loading
    assert stats.followups == []


async def test_a_slow_answer_to_a_button_is_deferred_then_follows(
    fake_discord: FakeDiscord, world: World, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake_discord, core, defer_after=0.05):
        check = await fake_discord.slash(world.guild, world.channel, world.alice, "check")
        question = (await answered(fake_discord, check, count=2))[-1]
        choice = next(c for c in custom_ids(question) if c.endswith(":no"))
        held = Held(core, monkeypatch)
        press = await fake_discord.press_button(question, world.alice, choice)
        await fake_discord.wait_for(lambda: press.responses)
        held.release.set()
        [next_question] = await answered(fake_discord, press)

    assert press.response is not None
    assert press.response.type == 6  # deferred: the button shows it is loading
    assert next_question["flags"] & EPHEMERAL
    assert any(c.startswith("glutebot:check:") for c in custom_ids(next_question))
    pressed = fake_discord.messages[int(question["id"])]
    assert all(button["disabled"] for row in pressed["components"] for button in row["components"])


async def test_a_slow_command_with_nothing_to_say_leaves_no_thinking_message(
    fake_discord: FakeDiscord, world: World, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(core, monkeypatch, replies=[])  # as for an event already handled
    async with running(fake_discord, core, defer_after=0.05):
        stats = await fake_discord.slash(world.guild, world.channel, world.alice, "stats")
        await fake_discord.wait_for(lambda: stats.responses)
        held.release.set()
        await fake_discord.wait_for(lambda: stats.original in fake_discord.deleted_messages)

    assert stats.response is not None
    assert stats.response.type == 5


async def test_without_the_deferral_a_slow_answer_would_be_lost(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = Held(core, monkeypatch)
    async with running(fake_discord, core, defer_after=10):
        stats = await fake_discord.slash(world.guild, world.channel, world.alice, "stats")
        stats.expire()  # Discord's 3 s pass
        held.release.set()
        await fake_discord.wait_for(
            lambda: any(r.path.endswith("/callback") for r in fake_discord.requests)
        )
    # Stopping let the handling finish: its late answer was refused.
    assert "10062 Unknown interaction" in caplog.text
    assert stats.responses == []


def callbacks_to(server: FakeDiscord, interaction: FakeInteraction) -> int:
    path = f"/api/v10/interactions/{interaction.id}/{interaction.token}/callback"
    return sum(1 for r in server.requests if r.path == path)


async def test_a_command_or_press_discord_already_failed_is_not_carried_out(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """Events missed while the connection was down come after the reconnect, by then
    maybe past Discord's 3 s: the member was shown "The application did not respond", so
    will send it again. Carried out anyway, a /done counted twice, and a press moved a
    walk-through on unseen."""
    walk = await fake_discord.slash(None, None, world.alice, "bridge")
    [step] = await answered(fake_discord, walk)
    await fake_discord.drop_connection()
    late_done = await fake_discord.slash(
        world.guild, world.channel, world.alice, "done", {"reps": 15}, age=5
    )
    late_next = await fake_discord.press_button(step, world.alice, custom_ids(step)[0], age=5)
    await fake_discord.wait_for(
        lambda: callbacks_to(fake_discord, late_done) and callbacks_to(fake_discord, late_next)
    )
    again = await slash(fake_discord, world, world.alice, "done", {"reps": 15})
    said = await fake_discord.dm(world.alice, "next")
    shown = await fake_discord.wait_for(
        lambda: [m for m in fake_discord.dms_to(world.alice) if int(m["id"]) > int(said["id"])]
    )

    assert fake_discord.resumes == 1
    assert (late_done.responses, late_next.responses) == ([], [])
    assert "Logged 15" in again[0]["content"]
    assert await reps_of(core, world.alice) == {"bridge": 15}
    assert "step 2 of 5" in shown[0]["content"]  # the step after the one the member saw


async def test_a_command_or_press_sent_again_at_once_is_recognised_without_a_warning(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    bot: DiscordAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Replayed after a reconnect within 2 s of being made, a command or a press handled
    already went through to Discord once more: nothing to say, so it acknowledged it,
    and Discord's "already acknowledged" was logged as a failed answer. It is recognised
    first now: not answered again, and nothing to warn about."""
    done = await fake_discord.slash(world.guild, world.channel, world.alice, "done", {"reps": 15})
    [logged] = await answered(fake_discord, done)
    [workout] = await slash(fake_discord, world, world.bob, "workout")
    pressed = await fake_discord.press_button(workout, world.bob, opening(workout, "bridge"))
    await answered(fake_discord, pressed)
    with caplog.at_level(logging.DEBUG, logger="bot"):
        await fake_discord.drop_connection(replay=3)
        await fake_discord.wait_for(lambda: fake_discord.resumes == 1)
        await slash(fake_discord, world, world.alice, "help")  # events go in order

    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    assert (callbacks_to(fake_discord, done), callbacks_to(fake_discord, pressed)) == (1, 1)
    assert "Logged 15" in logged["content"]
    assert await reps_of(core, world.alice) == {"bridge": 15}


async def test_a_late_command_discord_still_waits_for_is_answered_once(
    fake_discord: FakeDiscord, world: World, core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    """Whether Discord still waits is its to say, not the bot's clock's: one that took long
    to arrive (or a bot's clock running fast) is deferred at once, then carried out. Sent
    again to a bot that can't know it (restarted since), Discord says it was answered:
    nothing more to do, or to warn about."""
    fake_discord.response_deadline = 60
    async with running(fake_discord, core):
        late = await fake_discord.slash(
            world.guild, world.channel, world.alice, "done", {"reps": 15}, age=5
        )
        [answer] = await answered(fake_discord, late)
        await fake_discord.wait_for(lambda: not answer["flags"] & LOADING)
    with caplog.at_level(logging.INFO, logger="bot"):
        async with running(fake_discord, core):
            await fake_discord.redeliver("INTERACTION_CREATE", late.payload)
            await fake_discord.wait_for(lambda: callbacks_to(fake_discord, late) == 2)
            await slash(fake_discord, world, world.alice, "help")  # events go in order

    about = [r.levelname for r in caplog.records if str(late.id) in r.getMessage()]
    assert about == ["INFO"]
    assert late.response is not None
    assert late.response.type == 5
    assert "Logged 15" in answer["content"]
    assert await reps_of(core, world.alice) == {"bridge": 15}


async def test_prompt_is_deferred_while_its_channel_post_is_slow(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    release = fake_discord.hold_posts(world.channel)
    async with running(fake_discord, core, defer_after=0.05):
        command = await fake_discord.slash(world.guild, world.channel, world.boss, "prompt")
        await fake_discord.wait_for(lambda: command.responses)
        release.set()
        [answer] = await answered(fake_discord, command)
        await fake_discord.wait_for(lambda: not answer["flags"] & LOADING)

    assert command.response is not None
    assert command.response.type == 5  # deferred while the workout was being posted
    assert f"Posted today's workout in <#{world.channel.id}>" in answer["content"]
    assert (
        "Today's glute workout" in public_bot_messages(fake_discord, world.channel)[0]["content"]
    )


def quick_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner builds adapters from settings; skip discord.py's 2 s wait for servers."""
    build = DiscordAdapter.from_settings.__func__  # type: ignore[attr-defined]

    def from_settings(cls: type[DiscordAdapter], core: Core, settings: Settings) -> Any:
        return build(cls, core, settings, guild_ready_timeout=0.01)

    monkeypatch.setattr(DiscordAdapter, "from_settings", classmethod(from_settings))


async def test_glutebot_run_serves_discord_until_stopped(
    fake_discord: FakeDiscord, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick_start(monkeypatch)
    collector: list[str] = []
    started = asyncio.Event()  # the runner is past its start (a stop before abandons it)

    def freeze() -> None:
        collector.append("freeze")
        started.set()

    monkeypatch.setattr(gc, "freeze", freeze)
    monkeypatch.setattr(gc, "unfreeze", lambda: collector.append("unfreeze"))
    settings = Settings(discord_token=Secret(fake_discord.token), db_path=tmp_path / "run.db")
    stop = asyncio.Event()
    running_bot = asyncio.create_task(run(settings, stop))
    await asyncio.wait_for(started.wait(), 5)
    post = await prompt(fake_discord, world)
    assert "Today's glute workout" in post["content"]
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    await reacted(fake_discord, said)
    stop.set()

    assert await running_bot == 0
    assert not fake_discord.connected
    # Once started, the long-lived objects were kept out of the collector's full passes.
    assert collector == ["freeze", "unfreeze"]


async def test_a_stop_while_discord_is_still_connecting_ends_the_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A Discord that takes the connection and never answers (a network swallowing packets).
    asked = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.set()
        try:
            await reader.read()  # until the bot hangs up
        finally:
            writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    quick_start(monkeypatch)
    settings = Settings(discord_token=Secret("a-token"), db_path=tmp_path / "run.db")
    stop = asyncio.Event()
    async with silent:
        running_bot = asyncio.create_task(run(settings, stop))
        await asyncio.wait_for(asked.wait(), 5)
        stop.set()
        # It used to wait out the whole connection timeout, then report a failed start.
        async with asyncio.timeout(5):
            assert await running_bot == 0
    # The attempt fails as it is closed: that is the stop asked for, not a problem.
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_glutebot_run_stops_with_an_error_when_discord_shuts_it_out_for_good(
    fake_discord: FakeDiscord,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quick_start(monkeypatch)
    started = asyncio.Event()
    monkeypatch.setattr(gc, "freeze", started.set)  # what the runner does once all started
    monkeypatch.setattr(gc, "unfreeze", lambda: None)
    settings = Settings(discord_token=Secret(fake_discord.token), db_path=tmp_path / "run.db")
    running_bot = asyncio.create_task(run(settings, asyncio.Event()))
    async with asyncio.timeout(10):
        await started.wait()
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    await reacted(fake_discord, said)

    # The token was reset in the Developer Portal: the gateway closes with "Authentication
    # failed", which discord.py does not retry. Running on without Discord would go unseen.
    await fake_discord.drop_connection(code=4004)

    async with asyncio.timeout(10):
        assert await running_bot == 1
    assert "Discord stopped for good" in caplog.text
    assert "4004" in caplog.text
    assert not fake_discord.connected
    assert not (tmp_path / "run.db-wal").exists()  # the database was closed


async def test_glutebot_run_with_a_bad_token_exits_with_one_clear_line(
    fake_discord: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    quick_start(monkeypatch)
    settings = Settings(discord_token=Secret("wrong-token"), db_path=tmp_path / "run.db")

    assert await run(settings, asyncio.Event()) == 1
    error = capsys.readouterr().err
    assert error.startswith("glutebot: Discord refused DISCORD_BOT_TOKEN")
    assert "wrong-token" not in error


# Scheduled sends.


async def test_a_scheduled_daily_post_reaches_the_channel_and_its_button_logs(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    await setup(fake_discord, world)
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
    assert schedule is not None
    replies = await core.engine.scheduled(Prompt(schedule, date(2026, 3, 4)))
    chat = ChatRef(Platform.DISCORD, schedule.target, schedule.target, schedule.community)

    assert await bot.deliver(chat, replies) is Delivery.SENT
    post = await next_post(fake_discord, world.channel)
    press = await fake_discord.press_button(post, world.alice, custom_ids(post)[0])
    await answered(fake_discord, press)
    assert await reps_of(core, world.alice) == {"bridge": 20, "lunge": 5}


async def test_a_reminder_arrives_by_dm_and_a_closed_dm_is_gone_for_good(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    for member in (world.alice, world.bob):
        answer = await slash(
            fake_discord,
            world,
            member,
            "remind",
            {"time": "07:30", "timezone": "Europe/Berlin", "days": "mon,wed,fri"},
        )
        assert answer[0]["flags"] & EPHEMERAL
    fake_discord.close_dms(world.bob)

    outcomes = {}
    for member in (world.alice, world.bob):
        user = await core.store.users.get(Platform.DISCORD, str(member.id))
        assert user is not None
        schedule = await core.store.schedules.get(reminder_owner(user.id))
        assert schedule is not None
        replies = await core.engine.scheduled(Prompt(schedule, date(2026, 3, 4)))
        chat = ChatRef(Platform.DISCORD, schedule.target, schedule.target, None)
        outcomes[member.user.name] = await bot.deliver(chat, replies)

    assert outcomes == {"alice": Delivery.SENT, "bob": Delivery.GONE}
    _, reminder = fake_discord.dms_to(world.alice)  # after the first DM, from /remind
    assert "Time for your glutes" in reminder["content"]
    assert any(DONE_BUTTON.fullmatch(c) for c in custom_ids(reminder))
    bob = await core.store.users.get(Platform.DISCORD, str(world.bob.id))
    assert bob is not None
    assert bob.blocked
    schedule = await core.store.schedules.get(reminder_owner(bob.id))
    assert schedule is not None
    assert not schedule.enabled


async def test_delivery_outcomes_for_channels(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    hidden = fake_discord.add_channel(
        world.guild,
        "staff",
        overwrites=[Overwrite(fake_discord.bot_user.id, deny=VIEW_CHANNEL, is_member=True)],
    )
    post = Reply("help", {"platform": "discord"})

    def to(channel: FakeChannel | int) -> ChatRef:
        channel_id = str(channel if isinstance(channel, int) else channel.id)
        return ChatRef(Platform.DISCORD, "", channel_id, str(world.guild.id))

    async with running(fake_discord, core) as adapter:
        assert await adapter.deliver(to(world.channel), [post]) is Delivery.SENT
        # A permission taken away (403 50013, 50001) is an admin's to fix: only this post
        # is given up (SENT), and the schedule stays on.
        assert await adapter.deliver(to(locked), [post]) is Delivery.SENT
        assert await adapter.deliver(to(hidden), [post]) is Delivery.SENT
        assert await adapter.deliver(to(1234), [post]) is Delivery.GONE  # a deleted channel
        fake_discord.fail("POST", r"/channels/\d+/messages", status=503)
        assert await adapter.deliver(to(world.channel), [post]) is Delivery.RETRY
        # Posted, but the connection dropped before Discord's answer: it may be there, so
        # it isn't sent again (a daily post goes at most once). It used to be RETRY.
        posted = len(fake_discord.bot_messages(world.channel))
        fake_discord.lose_answers("POST", r"/channels/\d+/messages")
        assert await adapter.deliver(to(world.channel), [post]) is Delivery.SENT
        assert len(fake_discord.bot_messages(world.channel)) == posted + 1
    assert await adapter.deliver(to(world.channel), [post]) is Delivery.RETRY  # stopped

    await fake_discord.remove_bot(world.guild)  # kicked while it was down
    async with running(fake_discord, core) as adapter:
        assert await adapter.deliver(to(world.channel), [post]) is Delivery.GONE


@pytest.mark.parametrize(
    ("error", "delivery"),
    [
        (aiohttp.ConnectionTimeoutError(), Delivery.RETRY),  # never reached Discord
        (ConnectionRefusedError(111, "refused"), Delivery.SENT),  # a bare OSError: unknown
        (aiohttp.ServerDisconnectedError(), Delivery.SENT),  # the answer was lost
        (aiohttp.SocketTimeoutError(), Delivery.SENT),  # no answer in time
        (TimeoutError(), Delivery.SENT),
    ],
)
def test_a_send_that_may_have_reached_discord_is_not_sent_again(
    error: BaseException, delivery: Delivery
) -> None:
    assert delivery_for(error) is delivery


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


async def test_a_daily_post_refused_for_a_permission_is_skipped_and_resumes_once_allowed(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cannot_send = Overwrite(fake_discord.bot_user.id, deny=SEND_MESSAGES, is_member=True)
    with caplog.at_level(logging.WARNING):
        async with running(fake_discord, core) as adapter:
            await setup(fake_discord, world)  # Mon, Wed, Fri at 07:30 in Berlin
            scheduler = Scheduler(
                core.store.schedules,
                deliverer(core, {Platform.DISCORD: adapter}),
                clock=clock,
                sleep=no_sleep,
                pacers={Platform.DISCORD: Pacer(40.0, 1.0, clock=lambda: 0.0, sleep=no_sleep)},
            )
            world.channel.overwrites.append(cannot_send)
            clock.now = datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # Wednesday, 07:30 in Berlin
            await scheduler.run_once()
            world.channel.overwrites.remove(cannot_send)  # an admin gives it back
            clock.now = datetime(2026, 3, 6, 6, 30, tzinfo=UTC)  # Friday
            await scheduler.run_once()

    [post] = public_bot_messages(fake_discord, world.channel)
    assert "Friday 06 March" in post["content"]
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, str(world.guild.id)))
    assert schedule is not None
    assert schedule.enabled
    # The operator can tell which server and channel to fix.
    where = f"channel {world.channel.id} of server {world.guild.id}"
    assert f"sending to {where} failed (skipped this time): 403 50013" in caplog.text


# Hostile input and secrets.


async def test_hostile_names_and_text_never_ping_or_format(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    name = "@everyone **Bold** {{ 7*7 }} <@&1>"
    mallory = fake_discord.add_member(world.guild, None, "mallory")
    mallory.nick = name
    said = await fake_discord.user_says(world.guild, world.channel, mallory, "done 20")
    await reacted(fake_discord, said)
    board = (await slash(fake_discord, world, world.alice, "leaderboard"))[0]["content"]
    await fake_discord.user_says(
        world.guild,
        world.channel,
        mallory,
        "@everyone __hi {{ 7*7 }} # title",
        mentions=[fake_discord.bot_user],
    )
    echoed = await next_post(fake_discord, world.channel)

    assert r"\*\*Bold\*\*" in board
    assert "{{ 7\\*7 }}" in board
    assert "49" not in board + echoed["content"]
    assert r"\_\_hi" in echoed["content"]
    sent = [r.body for r in fake_discord.requests if r.method == "POST" and r.body]
    bodies = [b.get("data", b) for b in sent if "content" in b.get("data", b)]
    assert bodies
    assert all(b["allowed_mentions"] == {"parse": []} for b in bodies)


async def test_a_nickname_cannot_add_fake_lines_to_the_leaderboard(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """Line and paragraph separators (U+2028, U+2029) in a nickname show as spaces: a
    member can't forge leaderboard entries under their own."""
    forged = "1. Zed (admin): 9999 reps, 99 sessions"
    mallory = fake_discord.add_member(world.guild, None, "mallory")
    mallory.nick = f"Zed\u2028\u2029{forged}\u2028\u2028x"
    said = await fake_discord.user_says(world.guild, world.channel, mallory, "done 10")
    await reacted(fake_discord, said)
    board = (await slash(fake_discord, world, world.alice, "leaderboard"))[0]["content"]

    lines = shown(board).splitlines()
    assert not any(line.startswith("1\\. Zed (admin)") for line in lines), board
    entries = [line for line in lines if line.startswith("1\\. Zed")]
    assert entries, board
    assert all(entry.endswith(": 10 reps, 1 session") for entry in entries), board


async def test_a_nickname_that_shows_nothing_is_a_member_on_the_leaderboard(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """An "invisible" nickname (a Hangul filler, or only zero-width and direction marks)
    left a line of the board with no name: "1. : 20 reps"."""
    for nick, text in (("\u3164", "done 20"), ("\u200b\u202e", "done 10")):
        member = fake_discord.add_member(world.guild, None, "ghost")
        member.nick = nick
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)
    board = (await slash(fake_discord, world, world.alice, "leaderboard"))[0]["content"]

    assert "1\\. A member: 20 reps" in board
    assert "2\\. A member: 10 reps" in board


async def test_a_link_a_member_typed_is_never_unfurled_under_the_bots_name(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """Typed text and names reach what the bot posts: a link in them must not become a
    preview (a phishing page, say) that the bot appears to share. Every message goes out
    with embeds suppressed."""
    link = "https://free-nitro.example/claim"
    mallory = fake_discord.add_member(world.guild, None, "mallory")
    mallory.nick = link
    said = await fake_discord.user_says(world.guild, world.channel, mallory, "done 10")
    await reacted(fake_discord, said)
    await fake_discord.user_says(
        world.guild, world.channel, mallory, link, mentions=[fake_discord.bot_user]
    )
    echoed = await next_post(fake_discord, world.channel)
    [board] = await slash(fake_discord, world, world.alice, "leaderboard")

    for message in (echoed, board):
        assert "free-nitro" in message["content"]
        assert message["flags"] & SUPPRESS_EMBEDS, message


# What discord.py logs as it starts waiting out a 429.
RATE_LIMITED = "responded with 429. Retrying in"


@pytest.mark.parametrize("where", ["channel", "dm", "on-the-wire"])
async def test_a_delivery_cancelled_while_discord_says_slow_down_says_retry(
    core: Core, where: str
) -> None:
    """Cancelled (the scheduler stopping) while discord.py waits out a 429 on the message,
    nothing went out: RETRY, so the prompt stays due rather than being lost (a DM's
    channel, opened first, is no message). Cancelled while the post waits for Discord's
    answer, it may have arrived: the cancellation stands, and it isn't sent again."""
    async with running_fake_discord(CheckedDiscord) as fake:
        assert isinstance(fake, CheckedDiscord)
        guild = fake.add_guild("Glute Club")
        channel = fake.add_channel(guild, "workouts")
        alice = fake.add_member(guild, None, "alice")
        async with running(fake, core) as adapter:
            if where == "on-the-wire":
                fake.hold_posts(channel)
            else:
                fake.rate_limit("POST", r"/channels/\d+/messages", retry_after=3600)
            if where == "dm":
                chat = ChatRef(Platform.DISCORD, str(alice.id), str(alice.id))
            else:
                chat = ChatRef(Platform.DISCORD, "", str(channel.id), str(guild.id))
            asked = len(fake.requests)
            post = [Reply("help", {"platform": "discord"})]
            with logged_by(fake, "discord.http") as logged:
                sending = asyncio.create_task(adapter.deliver(chat, post))
                await fake.wait_for(
                    lambda: any(r.path.endswith("/messages") for r in fake.requests[asked:])
                )
                if where != "on-the-wire":  # discord.py read the 429 and waits it out
                    await fake.wait_for(lambda: any(RATE_LIMITED in m for m in logged))
            sending.cancel()
            await asyncio.wait({sending})
            if where == "on-the-wire":
                assert sending.cancelled()
            else:
                assert sending.result() is Delivery.RETRY


async def test_the_token_never_reaches_the_logs(
    fake_discord: FakeDiscord, world: World, core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    fake_discord.fail("POST", r"/users/@me/channels", status=503)
    with caplog.at_level(logging.DEBUG):
        async with running(fake_discord, core) as adapter:
            chat = ChatRef(Platform.DISCORD, "", str(locked.id), str(world.guild.id))
            assert await adapter.deliver(chat, [Reply("help", {"platform": "discord"})]) is (
                Delivery.SENT
            )
            person = ChatRef(Platform.DISCORD, str(world.alice.id), str(world.alice.id))
            assert await adapter.deliver(person, [Reply("help", {"platform": "x"})]) is (
                Delivery.RETRY
            )
        with pytest.raises(DiscordStartError):
            await DiscordAdapter(core, fake_discord.token + "x").start()

    assert len(caplog.records) > 20
    logged = "\n".join(_everything(caplog.records))
    assert fake_discord.token not in logged
    assert "503" in logged


def _everything(records: Iterable[logging.LogRecord]) -> Iterable[str]:
    formatter = logging.Formatter()
    for record in records:
        yield formatter.format(record)


async def test_discord_only_messages_render(core: Core) -> None:
    for reply in (
        Reply(SLASH_INSTEAD, {"command": ""}),
        Reply(CHANNEL_GONE),
        Reply(POST_FAILED, {"channel": "555"}),
    ):
        text = core.renderer.render(reply, Platform.DISCORD).text
        assert text
    failed = Reply(POST_FAILED, {"channel": "555"})
    text = core.renderer.render(failed, Platform.DISCORD).text
    # The template's own mention stays a mention; typed "<#…>" is escaped (test below).
    assert text.startswith("I couldn't post in <#555>:")


# Found by QA.


SETUP_SPELLINGS = [
    "/setup@glutebot {channel} 07:30 UTC daily",
    "/SETUP@GluteBot {channel} 07:30 UTC",
    "  /Setup@some_bot\n{channel}\t07:30 UTC daily",
]


@pytest.mark.parametrize("spelling", SETUP_SPELLINGS)
async def test_a_typed_setup_in_any_spelling_refuses_a_channel_it_cannot_post_in(
    fake_discord: FakeDiscord, world: World, core: Core, spelling: str
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    async with running(fake_discord, core):
        typed = await fake_discord.user_says(
            world.guild, world.channel, world.boss, spelling.format(channel=locked.mention)
        )
        refused = await next_post(fake_discord, world.channel)

    assert "I can't post in that channel" in refused["content"]
    assert refused["message_reference"]["message_id"] == typed["id"]
    owner = channel_owner(Platform.DISCORD, str(world.guild.id))
    assert await core.store.schedules.get(owner) is None


async def test_setup_refuses_a_channel_of_another_server_however_it_is_spelled(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    # The bot is in both servers and may post in both: an admin of one server must still
    # not pick the other's channel for the daily post (or /prompt would post there).
    other = fake_discord.add_guild("Other Club")
    elsewhere = fake_discord.add_channel(other, "general")
    async with running(fake_discord, core):
        for command in ("/setup", "/setup@glutebot", "/SETUP@glutebot"):
            await fake_discord.user_says(
                world.guild,
                world.channel,
                world.boss,
                f"{command} {elsewhere.mention} 07:30 UTC daily",
            )
            refused = await next_post(fake_discord, world.channel)
            assert "I can't post in that channel" in refused["content"]
        await slash(fake_discord, world, world.boss, "prompt")

    owner = channel_owner(Platform.DISCORD, str(world.guild.id))
    assert await core.store.schedules.get(owner) is None
    assert fake_discord.bot_messages(elsewhere) == []


@pytest.mark.parametrize(
    "text",
    [
        *(s.format(channel="<#5>") for s in SETUP_SPELLINGS),
        "/setup 5 07:30 UTC",
        "/setup \u0665 07:30 UTC",  # an Arabic-Indic 5: a digit to the engine's parser too
        "/setup@glutebot    <#5>   7pm Europe/Berlin weekdays",
    ],
)
async def test_the_adapter_reads_the_channel_of_every_setup_the_engine_would_save(
    core: Core, text: str
) -> None:
    chat = ChatRef(Platform.DISCORD, "1", "2", "3")
    await core.engine.handle(Incoming(chat, "dc:m:1", text, is_admin=True))
    saved = await core.store.schedules.get(channel_owner(Platform.DISCORD, "3"))

    assert saved is not None
    assert setup_channel(text) == int(saved.target)


async def test_typed_personal_requests_in_a_channel_are_not_carried_out_but_pointed_to_slash(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice, me = world.alice, fake_discord.bot_user
    fake_discord.close_dms(alice)
    for text in ("done 15", "done 10"):
        said = await fake_discord.user_says(world.guild, world.channel, alice, text)
        await reacted(fake_discord, said)
    answers: dict[str, str] = {}
    for text, mentions in (
        ("undo", [me]),
        ("/remind 07:30 UTC", []),
        ("/leaderboard hide", []),
        ("stats", [me]),
        ("/stop", []),
    ):
        said = await fake_discord.user_says(
            world.guild, world.channel, alice, text, mentions=mentions
        )
        answer = await next_post(fake_discord, world.channel)
        assert answer["message_reference"]["message_id"] == said["id"]
        answers[text] = answer["content"]

    assert "/undo" in answers["undo"]
    assert "/remind" in answers["/remind 07:30 UTC"]
    assert "/leaderboard" in answers["/leaderboard hide"]
    assert "/stats" in answers["stats"]
    assert "slash commands" in answers["/stop"]  # no slash command of that name
    assert all("only you" in answer for answer in answers.values())
    assert all("25" not in answer for answer in answers.values())
    # Nothing was done: no log undone, no reminder, still on the board; no DM tried.
    assert await reps_of(core, alice) == {"bridge": 25}
    user = await core.store.users.get(Platform.DISCORD, str(alice.id))
    assert user is not None
    assert not user.leaderboard_hidden
    assert await core.store.schedules.get(reminder_owner(user.id)) is None
    assert not any(r.path.endswith("/users/@me/channels") for r in fake_discord.requests)
    assert fake_discord.dms_to(alice) == []


async def test_discord_markup_in_names_and_echoed_text_shows_as_typed(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    role = fake_discord.ids.next()  # a role of the server (not the bot's own)
    tokens = [
        world.alice.mention,
        f"<@!{world.alice.id}>",
        f"<@&{role}>",
        world.channel.mention,
        "<t:1767225600:R>",
        "<:peach:123456789012345678>",
        "</done:123456789012345678>",
    ]
    bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
    mallory = fake_discord.add_member(world.guild, None, "mallory")
    mallory.nick = f"{tokens[0]} \u202eevil"
    trudy = fake_discord.add_member(world.guild, None, "trudy")
    trudy.nick = " ".join(tokens[2:5]) + "\u2067x"
    for member in (mallory, trudy):
        said = await fake_discord.user_says(world.guild, world.channel, member, "done 20")
        await reacted(fake_discord, said)
    board = (await slash(fake_discord, world, world.alice, "leaderboard"))[0]["content"]
    echoed = ""
    for token in tokens:
        await fake_discord.user_says(
            world.guild, world.channel, mallory, token + bidi, mentions=[fake_discord.bot_user]
        )
        echoed += (await next_post(fake_discord, world.channel))["content"]
    set_up = await setup(fake_discord, world)

    unescaped = re.compile(r"(?<!\\)<[@#:/t]")
    for content in (board, echoed):
        assert unescaped.search(content) is None, content
    # The direction controls typed are gone: what is left is the bot's isolates, one
    # around each name and each echo.
    assert len(isolated(echoed)) == len(tokens) - 5  # the rest never reach the engine
    assert f"\u2068\\<@{world.alice.id}> evil\u2069" in board
    assert f"\u2068\\<@&{role}> \\<#{world.channel.id}> \\<t:1767225600:R>x\u2069" in board
    # Mentions and custom emoji never reach the engine (see the tests at the end); the
    # rest of the markup it reads is echoed as typed.
    assert all(f"\\{token}" in echoed for token in (tokens[4], tokens[6]))
    assert not any(token[1:] in echoed for token in (*tokens[:4], tokens[5]))
    # The bot's own mention of a channel (not typed by anyone) still shows as the channel.
    assert re.search(rf"(?<!\\)<#{world.channel.id}>", set_up)


async def test_without_message_content_a_reply_that_does_not_ping_the_bot_goes_unseen(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    fake_discord.refuse_message_content = True
    async with running(fake_discord, core):
        post = await prompt(fake_discord, world)
        unpinged = await fake_discord.user_says(
            world.guild, world.channel, world.alice, "done 5", reply_to=post, reply_ping=False
        )
        pinged = await fake_discord.user_says(
            world.guild, world.channel, world.bob, "done 6", reply_to=post
        )
        await reacted(fake_discord, pinged)

    assert fake_discord.reactions_on(unpinged) == []
    assert await reps_of(core, world.alice) == {}
    assert await reps_of(core, world.bob) == {"bridge": 6}


async def test_prompt_after_the_channel_was_deleted_says_so_and_asks_for_setup_again(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    doomed = fake_discord.add_channel(world.guild, "old-workouts")
    async with running(fake_discord, core):
        await setup(fake_discord, world, doomed)
        await fake_discord.delete_channel(doomed)
        [answer] = await slash(fake_discord, world, world.boss, "prompt")

    assert answer["flags"] & EPHEMERAL
    assert "no longer exists" in answer["content"]
    assert "/setup" in answer["content"]
    assert "permission" not in answer["content"]


# Reminders need open DMs: checked when set in a server, explained when they fail later.

REMIND_AT_SEVEN_THIRTY = {"time": "07:30", "timezone": "Europe/Berlin", "days": "daily"}
TRY_AGAIN = "glutebot:do:remind_keep"


async def reminder_of(core: Core, member: FakeMember) -> Schedule:
    user = await core.store.users.get(Platform.DISCORD, str(member.id))
    assert user is not None
    schedule = await core.store.schedules.get(reminder_owner(user.id))
    assert schedule is not None
    return schedule


def says_how_to_open_dms(message: dict[str, Any]) -> bool:
    steps = ("**Glute Club**", "**Privacy Settings**", "**Direct Messages**", "phone")
    return all(step in shown(message["content"]) for step in steps)


async def try_again(
    server: FakeDiscord, note: dict[str, Any], member: FakeMember
) -> dict[str, Any]:
    """Presses the note's Try again button; returns the answer."""
    [answer] = await answered(server, await server.press_button(note, member, TRY_AGAIN))
    return answer


async def test_a_reminder_set_in_a_server_sends_its_first_dm_at_once(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    [answer] = await slash(fake_discord, world, world.alice, "remind", REMIND_AT_SEVEN_THIRTY)

    [hello] = fake_discord.dms_to(world.alice)
    assert "I'll remind you at **07:30**" in answer["content"]
    assert "reminders will come here" in hello["content"]
    assert "**07:30** (Europe/Berlin) every day" in hello["content"]
    assert hello["components"] == []
    assert (await reminder_of(core, world.alice)).enabled


async def test_remind_in_a_server_with_closed_dms_keeps_it_off_and_says_how_to_open_them(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    fake_discord.close_dms(alice)
    [closed] = await slash(fake_discord, world, alice, "remind", REMIND_AT_SEVEN_THIRTY)
    kept_off = await reminder_of(core, alice)
    still_closed = await try_again(fake_discord, closed, alice)
    fake_discord.open_dms(alice)  # as the answer says: Privacy Settings → Direct Messages
    pressed = await try_again(fake_discord, still_closed, alice)

    assert closed["flags"] & EPHEMERAL
    assert "I'll remind you" not in closed["content"]
    assert "for **07:30** (Europe/Berlin) every day" in closed["content"]
    assert says_how_to_open_dms(closed)
    assert custom_ids(closed) == [TRY_AGAIN]
    # Saved but switched off: nothing would reach them, and they already know why.
    assert not kept_off.enabled
    assert (kept_off.local_time.isoformat(), kept_off.days) == ("07:30:00", tuple(range(7)))
    assert says_how_to_open_dms(still_closed)
    user = await core.store.users.get(Platform.DISCORD, str(alice.id))
    assert user is not None
    assert not user.blocked
    # One press once DMs are open: the same reminder is back on, and its DM has arrived.
    assert "back on" in pressed["content"]
    [hello] = fake_discord.dms_to(alice)
    assert "reminders will come here" in hello["content"]
    again = await reminder_of(core, alice)
    assert again.enabled
    assert (again.local_time, again.days) == (kept_off.local_time, kept_off.days)


async def test_remind_in_a_dm_with_the_bot_needs_no_check(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    interaction = await fake_discord.slash(None, None, alice, "remind", REMIND_AT_SEVEN_THIRTY)
    [answer] = await answered(fake_discord, interaction)

    assert "I'll remind you at **07:30**" in answer["content"]
    dm = fake_discord.dm_channel(alice)
    posts = [r for r in fake_discord.requests if r.path.endswith(f"/channels/{dm.id}/messages")]
    assert posts == []
    assert (await reminder_of(core, alice)).enabled


def reminders_for(core: Core, bot: DiscordAdapter, clock: FakeClock, **options: Any) -> Scheduler:
    """The scheduler as `glutebot run` wires it, sending through this bot."""
    return Scheduler(
        core.store.schedules,
        deliverer(core, {Platform.DISCORD: bot}),
        clock=clock,
        sleep=no_sleep,
        pacers={Platform.DISCORD: Pacer(40.0, 1.0, clock=lambda: 0.0, sleep=no_sleep)},
        **options,
    )


async def test_a_reminder_dm_refused_later_is_explained_once_at_the_next_slash_command(
    fake_discord: FakeDiscord, world: World, core: Core, clock: FakeClock, bot: DiscordAdapter
) -> None:
    alice = world.alice
    await slash(fake_discord, world, alice, "remind", REMIND_AT_SEVEN_THIRTY)
    fake_discord.close_dms(alice)  # later, in the server's Privacy Settings
    scheduler = reminders_for(core, bot, clock)
    clock.now = datetime(2026, 3, 3, 6, 30, tzinfo=UTC)  # Tuesday, 07:30 in Berlin
    await scheduler.run_once()
    stats, paused = await slash(fake_discord, world, alice, "stats", count=2)
    again = await fake_discord.slash(world.guild, world.channel, alice, "stats")
    [stats_again] = await answered(fake_discord, again)
    fake_discord.open_dms(alice)
    pressed = await try_again(fake_discord, paused, alice)

    assert "paused" in paused["content"]
    assert says_how_to_open_dms(paused)
    assert paused["flags"] & EPHEMERAL
    assert custom_ids(paused) == [TRY_AGAIN]
    assert "paused" not in stats["content"] + stats_again["content"]
    assert len(answers(again)) == 1  # told once
    assert "back on" in pressed["content"]
    assert "reminders will come here" in fake_discord.dms_to(alice)[-1]["content"]
    assert (await reminder_of(core, alice)).enabled


async def test_a_paused_reminder_is_not_mentioned_under_an_answer_about_reminders(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    await slash(fake_discord, world, alice, "remind", REMIND_AT_SEVEN_THIRTY)
    fake_discord.close_dms(alice)
    chat = ChatRef(Platform.DISCORD, str(alice.id), str(alice.id))
    due = Prompt(await reminder_of(core, alice), date(2026, 3, 3))
    assert await bot.deliver(chat, await core.engine.scheduled(due)) is Delivery.GONE
    # /remind offers it back (turning it on checks the DM anew).
    remind = await fake_discord.slash(world.guild, world.channel, alice, "remind")
    [asked] = await answered(fake_discord, remind)
    await slash(fake_discord, world, alice, "stats")

    assert "switched it off when my messages couldn't reach you" in asked["content"]
    assert len(answers(remind)) == 1


async def test_the_dm_notes_show_the_server_name_as_typed(core: Core) -> None:
    name = "**Glute** <@&1> @everyone"
    for template in (DMS_CLOSED, REMINDERS_PAUSED):
        for server in (name, ""):
            text = core.renderer.render(Reply(template, {"server": server}), Platform.DISCORD).text
            assert "Privacy Settings" in text
            assert (r"\*\*Glute\*\* \<@&1>" in text) is bool(server)
            assert re.search(r"(?<!\\)<@&1>", text) is None
    hello = core.renderer.render(Reply(REMINDERS_HERE), Platform.DISCORD).text
    assert "reminders will come here" in hello


async def test_reading_how_to_do_an_exercise_leaves_the_workouts_done_button(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    [workout] = await slash(fake_discord, world, world.alice, "workout")
    done = next(c for c in custom_ids(workout) if DONE_BUTTON.fullmatch(c))
    bridge, lunge = (opening(workout, exercise) for exercise in ("bridge", "lunge"))
    press = await fake_discord.press_button(workout, world.alice, bridge)
    await answered(fake_discord, press)
    edited = fake_discord.messages[int(workout["id"])]
    buttons = [button for row in edited["components"] for button in row["components"]]
    assert {b["custom_id"]: b.get("disabled", False) for b in buttons} == {
        done: False,
        bridge: True,
        lunge: True,
    }
    press = await fake_discord.press_button(workout, world.alice, done)
    [logged] = await answered(fake_discord, press)
    assert "Logged" in logged["content"]
    assert await reps_of(core, world.alice) == {"bridge": 20, "lunge": 5}


async def test_a_paused_reminder_is_still_explained_after_a_done_typed_in_the_channel(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    # A typed message can't carry a note only its author sees: the note waits for the
    # next slash command or button.
    alice = world.alice
    await slash(fake_discord, world, alice, "remind", REMIND_AT_SEVEN_THIRTY)
    fake_discord.close_dms(alice)
    chat = ChatRef(Platform.DISCORD, str(alice.id), str(alice.id))
    due = Prompt(await reminder_of(core, alice), date(2026, 3, 3))
    assert await bot.deliver(chat, await core.engine.scheduled(due)) is Delivery.GONE
    said = await fake_discord.user_says(world.guild, world.channel, alice, "done 15")
    await reacted(fake_discord, said)
    _, paused = await slash(fake_discord, world, alice, "stats", count=2)
    again = await fake_discord.slash(world.guild, world.channel, alice, "stats")
    await answered(fake_discord, again)

    assert "paused" in paused["content"]
    assert custom_ids(paused) == [TRY_AGAIN]
    assert len(answers(again)) == 1
    assert not (await reminder_of(core, alice)).enabled


# Mentions, custom emoji, passing failures and a missing Read Message History.


async def test_mentions_of_others_in_a_done_are_not_counts(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    # "done @bob" (your turn, Bob): the mention's digits once read as "more than 500 reps".
    carol = fake_discord.add_member(world.guild, None, "carol")
    role = fake_discord.add_role(world.guild, "gluteus", discord.Permissions.none())
    for member, text in (
        (world.alice, f"done {world.bob.mention}"),
        (world.bob, f"done 15 {world.alice.mention}"),
        (carol, f"<@!{world.bob.id}> done 12 lunges <@&{role.id}> {world.channel.mention}"),
    ):
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)

    assert await reps_of(core, world.alice) == {"bridge": 20, "lunge": 5}
    assert await reps_of(core, world.bob) == {"bridge": 15}
    assert await reps_of(core, carol) == {"lunge": 12}
    assert public_bot_messages(fake_discord, world.channel) == []


async def test_a_done_that_pings_everyone_or_here_logs(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    # @everyone and @here are mentions too: "done 20 @everyone" once logged nothing.
    for member, text in ((world.alice, "done 20 @everyone"), (world.bob, "@here done 12 lunges")):
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)

    assert await reps_of(core, world.alice) == {"bridge": 20}
    assert await reps_of(core, world.bob) == {"lunge": 12}


async def test_a_custom_server_emoji_is_decoration_like_any_emoji(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    for member, text in (
        (world.alice, "done 15 <:glutes:123456789012345678>"),
        (world.bob, "<a:dance:123456789012345678>done<:glutes:123456789012345678>10"),
    ):
        said = await fake_discord.user_says(world.guild, world.channel, member, text)
        await reacted(fake_discord, said)

    assert await reps_of(core, world.alice) == {"bridge": 15}
    assert await reps_of(core, world.bob) == {"bridge": 10}


@pytest.mark.parametrize(
    ("typed", "logged"),
    [
        ("**done**", {"bridge": 20, "lunge": 5}),
        ("*Done!*", {"bridge": 20, "lunge": 5}),
        ("__done 20__", {"bridge": 20}),
        ("***done*** ||12 lunges||", {"lunge": 12}),
        # A heading and small print too (which were "didn't understand" in a DM) and a
        # quote, someone's earlier words, is no log of the person quoting it.
        ("# done 15", {"bridge": 15}),
        ("-# done 15", {"bridge": 15}),
        ("> done 30 lunges\ndone 15", {"bridge": 15}),
        (">>> done 30 lunges\nwell done\ndone 15", {}),
    ],
)
async def test_discord_formatting_changes_how_a_done_looks_not_what_it_says(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    bot: DiscordAdapter,
    typed: str,
    logged: dict[str, int],
) -> None:
    """Discord's emphasis markers change how words look, not what they say."""
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, typed)
    await fake_discord.until_finished(said)

    assert await reps_of(core, world.alice) == logged
    assert fake_discord.reactions_on(said) == (["✅"] if logged else [])


async def test_a_struck_through_done_logs_nothing_and_markers_inside_words_stay(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """A done struck through ("~~done~~") is a done taken back. A "*" or "_" that doesn't
    open or close emphasis as Discord reads it (inside "2*10*3" or snake_case) is text."""
    struck = await fake_discord.user_says(world.guild, world.channel, world.alice, "~~done~~")
    await fake_discord.user_says(
        world.guild,
        world.channel,
        world.bob,
        "2*10*3 snake_case",
        mentions=[fake_discord.bot_user],
    )
    echoed = await next_post(fake_discord, world.channel)  # events go in order

    assert fake_discord.reactions_on(struck) == []
    assert await reps_of(core, world.alice) == {}
    assert r"2\*10\*3 snake\_case" in echoed["content"]


async def test_prompt_blames_permissions_only_when_discord_refuses_the_post(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    await setup(fake_discord, world)
    posts = rf"/channels/{world.channel.id}/messages"
    fake_discord.fail("POST", posts, status=503)  # a bad moment at Discord
    [passing] = await slash(fake_discord, world, world.boss, "prompt")
    fake_discord.fail("POST", posts, status=403, code=50013, message="Missing Permissions")
    [refused] = await slash(fake_discord, world, world.boss, "prompt")

    assert passing["flags"] & refused["flags"] & EPHEMERAL
    assert "permission" not in passing["content"].lower()
    assert "try again in a moment" in passing["content"]
    assert "View Channel and Send Messages" in refused["content"]


async def test_without_read_message_history_answers_are_posted_without_replying(
    fake_discord: FakeDiscord,
    world: World,
    core: Core,
    bot: DiscordAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Discord then refuses the ✅ and any reply (403 160002), but takes a plain post.
    no_history = Overwrite(fake_discord.bot_user.id, deny=READ_MESSAGE_HISTORY, is_member=True)
    channel = fake_discord.add_channel(world.guild, "no-history", overwrites=[no_history])
    me = fake_discord.bot_user
    with caplog.at_level(logging.WARNING):
        said = await fake_discord.user_says(world.guild, channel, world.alice, "done 15")
        acknowledged = await next_post(fake_discord, channel)
        await fake_discord.user_says(world.guild, channel, world.bob, "help", mentions=[me])
        helped = await next_post(fake_discord, channel)

    assert fake_discord.reactions_on(said) == []
    assert await reps_of(core, world.alice) == {"bridge": 15}
    assert "15" in acknowledged["content"]
    assert "How to use glutebot" in helped["content"]
    assert "message_reference" not in acknowledged
    assert "message_reference" not in helped
    assert f"in channel {channel.id} of server {world.guild.id} was refused" in caplog.text
    assert "Read Message History" in caplog.text


# A member's own journeys, from a QA pass: in DMs and in a server's private answers.


async def press(
    server: FakeDiscord, message: dict[str, Any], member: FakeMember, ending: str
) -> list[dict[str, Any]]:
    """Presses the button of `message` whose custom_id ends with `ending`; its answers."""
    custom_id = next(c for c in custom_ids(message) if c.endswith(ending))
    return await answered(server, await server.press_button(message, member, custom_id))


async def dm_says(
    server: FakeDiscord, member: FakeMember, text: str, reply_to: dict[str, Any] | None = None
) -> str:
    """The member writes `text` to the bot in DMs (as a reply to `reply_to`); the text of
    what the bot answered."""
    dm = server.dm_channel(member)
    before = len(server.bot_messages(dm))
    await server.until_finished(await server.dm(member, text, reply_to=reply_to))
    assert len(server.bot_messages(dm)) > before, f"no answer to {text!r}"
    return "\n".join(m["content"] for m in server.bot_messages(dm)[before:])


DAILY_AT_SIX_PM = {"time": "18:00", "timezone": "UTC", "days": "daily"}


async def test_yes_typed_to_the_question_whether_to_keep_reminding_keeps_them(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter, clock: FakeClock
) -> None:
    alice = world.alice
    await answered(
        fake_discord, await fake_discord.slash(None, None, alice, "remind", DAILY_AT_SIX_PM)
    )
    scheduler = reminders_for(core, bot, clock, pause_after=1)
    clock.now = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    await scheduler.run_once()  # a reminder, left unanswered
    clock.now = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)
    await scheduler.run_once()  # so the next time, the one question
    assert "keep reminding you?" in fake_discord.dms_to(alice)[-1]["content"]
    answer = await dm_says(fake_discord, alice, "yes")
    assert "back on" in answer
    assert (await reminder_of(core, alice)).enabled


async def test_a_number_typed_after_a_reminder_dm_picks_from_the_reminder(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter, clock: FakeClock
) -> None:
    alice = world.alice
    await slash(fake_discord, world, alice, "remind", DAILY_AT_SIX_PM)
    await dm_says(fake_discord, alice, "hi")  # the main menu: "Check my symptoms" first
    clock.now = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    await reminders_for(core, bot, clock).run_once()
    answer = await dm_says(fake_discord, alice, "1")  # the reminder's "I did it ✅"
    assert "Logged 20 glute bridges and 5 lunges per side" in answer


def opening(message: dict[str, Any], exercise: str) -> str:
    """The custom_id of `message`'s button that opens the walk-through of `exercise`."""
    return next(c for c in custom_ids(message) if c.startswith(f"glutebot:do:{exercise}:"))


async def lunge_to_its_finish(
    server: FakeDiscord, workout: dict[str, Any], member: FakeMember
) -> dict[str, Any]:
    """The lunge walked through from `workout`'s button in a server, pressing Next to its
    finish: the finish's message."""
    opened = await server.press_button(workout, member, opening(workout, "lunge"))
    step = (await answered(server, opened))[-1]
    while not any(DONE_BUTTON.match(c) for c in custom_ids(step)):
        forward = [c for c in custom_ids(step) if not c.endswith((":back", ":menu"))]
        step = (await press(server, step, member, forward[0]))[-1]
    return step


async def test_a_walk_through_finished_in_a_server_asks_for_the_button(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    [workout] = await slash(fake_discord, world, alice, "workout")
    step = await lunge_to_its_finish(fake_discord, workout, alice)
    # A count typed in the server without its exercise would be glute bridges.
    assert 'press Done ✅ (or say "done 8 lunges"' in step["content"]
    [logged] = await press(fake_discord, step, alice, ".lunge")
    assert await reps_of(core, alice) == {"lunge": 5}
    assert "Logged 5 lunges per side" in logged["content"]


async def test_every_finish_of_one_walk_through_in_a_server_logs_once(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    # Back from the finish and Next again: a second finish, with the same Done as the first.
    alice = world.alice
    [workout] = await slash(fake_discord, world, alice, "workout")
    first = await lunge_to_its_finish(fake_discord, workout, alice)
    before = (await press(fake_discord, first, alice, ":back"))[-1]
    second = (await press(fake_discord, before, alice, custom_ids(before)[0]))[-1]
    dones = [[c for c in custom_ids(m) if DONE_BUTTON.match(c)] for m in (first, second)]
    assert dones[0] == dones[1]
    await both_dones_log_the_lunges_once(fake_discord, core, alice, second, first)


async def test_two_walk_throughs_opened_from_one_workout_in_a_server_log_once(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """ "How to do a lunge" tapped twice on one workout (the second tap before the first's
    answer disabled it) opened two walk-throughs: each finish's Done logged the lunges,
    twice for one session. Opened from one message, they are one walk-through now."""
    alice = world.alice
    [workout] = await slash(fake_discord, world, alice, "workout")
    first = await lunge_to_its_finish(fake_discord, workout, alice)
    second = await lunge_to_its_finish(fake_discord, workout, alice)
    await both_dones_log_the_lunges_once(fake_discord, core, alice, first, second)


async def both_dones_log_the_lunges_once(
    fake_discord: FakeDiscord,
    core: Core,
    alice: FakeMember,
    pressed: dict[str, Any],
    then: dict[str, Any],
) -> None:
    """The Done on `pressed` logs the lunges; the one on `then` says they are logged."""
    await press(fake_discord, pressed, alice, ".lunge")
    [again] = await press(fake_discord, then, alice, ".lunge")
    assert "Already logged" in again["content"]
    assert await reps_of(core, alice) == {"lunge": 5}


async def test_check_sent_again_partway_through_in_a_server_offers_to_start_over(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    question = (await slash(fake_discord, world, alice, "check", count=2))[-1]
    for answer in (":no", ":no", ":yes"):
        question = (await press(fake_discord, question, alice, answer))[-1]
    again = await slash(fake_discord, world, alice, "check")
    assert any(c.endswith(":restart") for m in again for c in custom_ids(m))


async def test_remind_asked_in_a_server_names_only_answers_that_can_be_given_there(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    [ask] = await slash(fake_discord, world, world.alice, "remind")
    assert "What time suits you" in ask["content"]
    assert "type a time" not in ask["content"]  # a channel message can't answer it
    assert "send /remind again with its options" in ask["content"]


async def test_a_stale_press_in_a_dm_is_not_shown_as_the_answer_given(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    await dm_says(fake_discord, alice, "check")
    safety = fake_discord.bot_messages(fake_discord.dm_channel(alice))[-1]
    assert custom_ids(safety) == ["glutebot:check:0:yes", "glutebot:check:0:no"]
    await dm_says(fake_discord, alice, "no")  # answered by typing: its buttons stay
    stale = await press(fake_discord, safety, alice, "check:0:yes")
    assert "left it alone" in stale[0]["content"]
    shown = fake_discord.messages[int(safety["id"])]
    styles = {b["custom_id"]: b["style"] for row in shown["components"] for b in row["components"]}
    assert styles["glutebot:check:0:yes"] != 1  # not highlighted as the answer ("Yes" = urgent)


async def test_a_double_tapped_answer_stays_shown_as_the_answer_given(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """Two taps on "No" before the first's edit arrived: the first answers and shows "No"
    as the answer; the second, stale, is acknowledged without a word, and no longer redraws
    the buttons from the message as it was before, which wiped out the answer shown."""
    alice = world.alice
    question = (await slash(fake_discord, world, alice, "check", count=2))[-1]
    no = next(c for c in custom_ids(question) if c.endswith(":no"))
    first = await fake_discord.press_button(question, alice, no)
    second = await fake_discord.press_button(question, alice, no)
    await answered(fake_discord, first)
    await fake_discord.until_finished(first)
    await fake_discord.until_finished(second)

    assert answers(second) == []
    shown = fake_discord.messages[int(question["id"])]
    buttons = [b for row in shown["components"] for b in row["components"]]
    assert all(b["disabled"] for b in buttons)
    assert {b["custom_id"]: b["style"] for b in buttons}[no] == 1  # primary: the answer


async def test_answers_to_buttons_and_slash_commands_in_a_dm_stay_in_the_dm(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """An ephemeral message goes when the Discord app reloads. A DM is private already, so
    the steps and /stats asked for there are kept, as answers to typed DMs are."""
    alice = world.alice
    await dm_says(fake_discord, alice, "bridge")
    step = fake_discord.bot_messages(fake_discord.dm_channel(alice))[-1]
    after_press = await press(fake_discord, step, alice, ":next")
    stats = await answered(fake_discord, await fake_discord.slash(None, None, alice, "stats"))

    assert not after_press[0]["flags"] & EPHEMERAL
    assert not stats[0]["flags"] & EPHEMERAL
    in_server = await slash(fake_discord, world, alice, "stats")
    assert in_server[0]["flags"] & EPHEMERAL


async def test_a_done_in_dms_is_dated_by_the_server_where_the_member_logs(
    fake_discord: FakeDiscord, world: World, core: Core, clock: FakeClock, bot: DiscordAdapter
) -> None:
    """A member who gave no zone of their own logs on the day of the server where they
    log. In DMs their day was UTC's: on Tuesday morning in Auckland (Monday evening in UTC),
    a "done" in DMs and the Done of that day's post counted as two sessions a day apart,
    raising the targets and starting a streak."""
    clock.now = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)  # Mon 08:00 in Auckland
    options = {"channel": world.channel, "time": "07:30", "timezone": "Pacific/Auckland"}
    await slash(fake_discord, world, world.boss, "setup", options)
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done")
    await reacted(fake_discord, said)
    clock.now = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # Tue 08:00 in Auckland
    post = await prompt(fake_discord, world)

    assert "Logged" in await dm_says(fake_discord, world.alice, "done")
    done_button = custom_ids(post)[0]
    pressed = await answered(
        fake_discord, await fake_discord.press_button(post, world.alice, done_button)
    )

    assert "Already logged" in pressed[0]["content"]
    assert await reps_of(core, world.alice) == {"bridge": 40, "lunge": 10}


async def test_starting_logs_no_warnings_about_voice_it_never_uses(
    fake_discord: FakeDiscord, world: World, core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = True  # as in a new process
    with caplog.at_level(logging.WARNING):
        async with running(fake_discord, core):
            pass
    assert "voice" not in caplog.text


async def test_a_reminder_set_in_one_go_ends_the_step_by_step_setup(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """/remind without options asks step by step and says the options may be filled in
    instead. Done that way, the set-up is over: the next "done" in a DM is just logged,
    without the set-up's question again."""
    alice = world.alice
    [asked] = await slash(fake_discord, world, alice, "remind")
    assert "send /remind again with its options filled in" in asked["content"]
    options = {"time": "06:15", "timezone": "Europe/Berlin", "days": "daily"}
    [saved] = await slash(fake_discord, world, alice, "remind", options)
    assert "I'll remind you at **06:15** (Europe/Berlin) every day" in saved["content"]
    answer = await dm_says(fake_discord, alice, "done")
    assert "Logged 20 glute bridges" in answer
    assert "What time suits you" not in answer


async def test_a_dm_reply_to_an_earlier_question_is_not_the_current_ones_answer(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """At question 3 in DMs, a "yes" sent as a Discord reply to question 1 (the urgent
    safety question) answered question 3. It is said to be a reply to an earlier question,
    and question 3 asked again; a reply to question 3 itself answers it."""
    alice = world.alice
    dm = fake_discord.dm_channel(alice)
    await dm_says(fake_discord, alice, "check")
    safety = fake_discord.bot_messages(dm)[-1]
    await dm_says(fake_discord, alice, "no")
    await dm_says(fake_discord, alice, "no")
    question_3 = fake_discord.bot_messages(dm)[-1]

    said = await dm_says(fake_discord, alice, "yes", reply_to=safety)
    assert "reply to an earlier question" in said
    assert "Question 3 of 9" in said
    assert "Question 4 of 9" in await dm_says(fake_discord, alice, "yes", reply_to=question_3)


async def test_a_yes_typed_in_dms_does_not_confirm_a_forget_asked_in_the_server(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """Halfway through the check in DMs, a member tried /forget in the server and left its
    answer (seen by them alone, there) unanswered. Their "yes" in DMs, to the check's
    question on screen there, confirmed it: everything deleted. The question is asked in
    the DMs instead, where a typed answer then counts."""
    alice = world.alice
    await dm_says(fake_discord, alice, "done 20")
    await dm_says(fake_discord, alice, "check")
    await dm_says(fake_discord, alice, "no")
    [asked] = await slash(fake_discord, world, alice, "forget")
    assert "Delete it all?" in asked["content"]

    said = await dm_says(fake_discord, alice, "yes")
    assert "You asked in a server" in said
    assert "Delete it all?" in said
    assert await reps_of(core, alice) == {"bridge": 20}
    assert "Question 2 of 9" in await dm_says(fake_discord, alice, "no")


async def test_a_forget_asked_in_the_server_is_confirmed_by_its_own_button(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    alice = world.alice
    await dm_says(fake_discord, alice, "done 20")
    [asked] = await slash(fake_discord, world, alice, "forget")
    [done] = await press(fake_discord, asked, alice, ":yes")
    assert "deleted" in done["content"].lower()
    assert await reps_of(core, alice) == {}


IMAGE = {
    "id": "1",
    "filename": "bridge.png",
    "size": 3,
    "url": "https://cdn.invalid/attachments/1/bridge.png",
    "proxy_url": "https://cdn.invalid/attachments/1/bridge.png",
    "content_type": "image/png",
}
STICKER = {"id": "749054660769218631", "name": "Wave", "format_type": 1}
POLL = poll_of("Leg day today?", "Yes", "No")
# Messages with no words for the bot: each as sent, and what the answer says.
WORDLESS: dict[str, tuple[dict[str, Any], str]] = {
    "photo": ({"attachments": [IMAGE]}, "only read text"),
    "sticker": ({"sticker_items": [STICKER]}, "only read text"),
    # A poll's question is no message to the bot (on Telegram it gets "only read text").
    "poll": ({"poll": POLL}, "only read text"),
    "emoji": ({"content": "<:glutes:1234567890>"}, "server emoji"),
    "animated emoji": ({"content": "<a:dance:1234567890> <:glutes:42>"}, "server emoji"),
    "quote": ({"content": "> done 15"}, "That's all a quote"),
    "long quote": ({"content": ">>> how many reps?\nand what next?"}, "That's all a quote"),
    # A quote of a server emoji is a quote all the same.
    "quoted emoji": ({"content": "> <:glutes:1234567890>"}, "That's all a quote"),
    # Words struck out, a mention of someone else: nothing said, as an empty message.
    "struck": ({"content": "~~done~~"}, "didn't catch that"),
    "mention": ({"content": "<@4242>"}, "didn't catch that"),
}


async def dm_answer(
    server: FakeDiscord, member: FakeMember, sent: dict[str, Any], *, messages: int = 1
) -> str:
    """The member sends a DM as `sent` says (content and what it holds); the text of the
    bot's answer, once it came in this many messages."""
    dm = server.dm_channel(member)
    before = len(server.bot_messages(dm))
    await server.dm(member, **{"content": "", **sent})
    await server.wait_for(lambda: len(server.bot_messages(dm)) >= before + messages)
    return "\n".join(m["content"] for m in server.bot_messages(dm)[before:])


@pytest.mark.parametrize(("sent", "told"), WORDLESS.values(), ids=WORDLESS.keys())
async def test_anything_without_words_in_a_dm_gets_an_answer_and_the_question_again(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter, sent: dict[str, Any], told: str
) -> None:
    """A photo or a sticker with no words in a DM got no answer at all (on Telegram it is
    told the bot reads text), nor did a poll, a server emoji, a quote or a mention alone.
    Each is told what the bot reads, and asked the question it is at again."""
    alice = world.alice
    await dm_says(fake_discord, alice, "check")
    answer = await dm_answer(fake_discord, alice, sent, messages=2)
    assert told in answer
    assert "Question 1 of 9" in answer


async def test_a_message_forwarded_into_a_dm_counts_as_typed_there_as_on_telegram(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """A forward has no text of its own: forwarded into a DM, it went unanswered. As on
    Telegram, what it forwards is read as if typed there (a photo or sticker alone is told
    the bot reads text); forwarded into a server's channel, it stays someone's earlier
    words passed on, and is left alone."""
    bob, alice = world.bob, world.alice
    said = await fake_discord.user_says(world.guild, world.channel, bob, "done 15")
    await reacted(fake_discord, said)
    forward = await fake_discord.forward(alice, said)
    await reacted(fake_discord, forward)
    sticker = await fake_discord.dm(bob, "", sticker_items=[STICKER])
    await fake_discord.wait_for(lambda: fake_discord.dms_to(bob))
    before = len(fake_discord.dms_to(alice))
    await fake_discord.forward(alice, sticker)
    await fake_discord.wait_for(lambda: len(fake_discord.dms_to(alice)) > before)
    assert "only read text" in fake_discord.dms_to(alice)[-1]["content"]
    await fake_discord.forward(bob, forward, world.channel)
    await bot.stop()  # what was still being handled is finished
    assert await reps_of(core, alice) == {"bridge": 15}
    assert await reps_of(core, bob) == {"bridge": 15}
    assert public_bot_messages(fake_discord, world.channel) == []


async def test_a_mention_of_the_bot_alone_says_hello_in_a_dm_and_in_a_server(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """Only "@glutebot", as on Telegram: a hello, not silence."""
    me = fake_discord.bot_user
    assert "What would you like to do?" in await dm_says(fake_discord, world.alice, me.mention)
    said = await fake_discord.user_says(world.guild, world.channel, world.bob, "", mentions=[me])
    answer = await fake_discord.next_bot_message(world.channel)
    assert answer["message_reference"]["message_id"] == said["id"]
    assert custom_ids(answer)  # the server's menu, to pick from


async def test_without_the_message_content_intent_wordless_server_messages_stay_unanswered(
    fake_discord: FakeDiscord, world: World, core: Core
) -> None:
    """Without the intent every server message comes without its words, files or poll, so
    a message with no words there may have said anything: it is left alone, as it is with
    the intent. A DM always comes whole, and is answered."""
    fake_discord.refuse_message_content = True
    async with running(fake_discord, core):
        for sent, _ in WORDLESS.values():
            await fake_discord.user_says(
                world.guild, world.channel, world.bob, **{"content": "done 15", **sent}
            )
        answer = await dm_answer(fake_discord, world.alice, {"sticker_items": [STICKER]})
    assert "only read text" in answer
    assert fake_discord.bot_messages(world.channel) == []
    assert await reps_of(core, world.bob) == {}


async def test_wordless_server_messages_are_chatter_left_alone(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    for sent, _ in WORDLESS.values():
        await fake_discord.user_says(
            world.guild, world.channel, world.bob, **{"content": "", **sent}
        )
    await dm_answer(fake_discord, world.alice, {"poll": POLL})
    await bot.stop()  # what was still being handled is finished
    assert fake_discord.bot_messages(world.channel) == []


async def test_a_done_edited_in_a_dm_is_answered_that_the_log_stands(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """Someone who edits "done 51" into "done 15" in a DM got no answer at all, and the
    log silently stayed 51 (on Telegram the edit is answered). The edit is answered as
    there, once; an edit of anything else, or an update that is no edit (a link's preview
    added), gets nothing."""
    alice = world.alice
    dm = fake_discord.dm_channel(alice)
    hello = await fake_discord.dm(alice, "hi")
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(dm)) == 2)  # and menu
    logged = await fake_discord.dm(alice, "done 51")
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(dm)) == 3)
    await fake_discord.user_edits(hello, "hello")
    await fake_discord.update_without_edit(logged)
    before = len(fake_discord.bot_messages(dm))
    await fake_discord.user_edits(logged, "done 15")
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(dm)[before:])
    # A reconnect before the bot's sequence number got through: the edit comes again.
    await fake_discord.drop_connection(replay=2)
    await fake_discord.wait_for(lambda: fake_discord.resumes and fake_discord.connected)
    after = await dm_says(fake_discord, alice, "stats")  # events go in order

    edited = [m for m in fake_discord.bot_messages(dm) if "editing it" in m["content"]]
    assert edited == [answer]
    assert "editing it doesn't change what I logged" in answer["content"]
    assert answer["message_reference"]["message_id"] == logged["id"]
    assert "51" in after
    assert await reps_of(core, alice) == {"bridge": 51}


async def test_invisible_marks_a_keyboard_adds_dont_hide_a_command_or_time(
    fake_discord: FakeDiscord, world: World, bot: DiscordAdapter
) -> None:
    """A right-to-left keyboard puts a direction mark before what is typed, and copied
    text can carry a zero-width space: "/stats" was "not understood", and "07:30" "not
    read as a time", though the member sees just that."""
    alice = world.alice
    stats = await dm_says(fake_discord, alice, "\u200f/stats")
    options = {"time": "07:30\u200b", "timezone": "\u200fEurope/Berlin"}
    command = await fake_discord.slash(None, None, alice, "remind", options)
    [remind] = await answered(fake_discord, command)
    # Step by step, for someone whose zone isn't known yet.
    await dm_says(fake_discord, world.bob, "/remind")
    at_quarter_to = await dm_says(fake_discord, world.bob, "\u200e07:45\u200e")
    in_berlin = await dm_says(fake_discord, world.bob, "\u200fEurope/Berlin\u200f")

    assert "Your progress" in stats
    assert r"**07:30** (Europe/Berlin)" in remind["content"]
    assert "Which time zone are you in?" in at_quarter_to
    assert "Which days?" in in_berlin


async def test_edits_of_a_servers_done_and_of_a_dms_typo_are_answered(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """In a server, "done 15" edited into "done 20" showed 20 while the board counted 15,
    with no word (a Telegram group's edit is answered). The edit is answered there, as a
    reply, and each edit once; chatter edited gets nothing. In a DM, a typo ("dnoe 12")
    edited into a "done" is told the edit logged nothing, as on Telegram."""
    alice, channel = world.alice, world.channel
    chatter = await fake_discord.user_says(world.guild, channel, alice, "morning all")
    logged = await fake_discord.user_says(world.guild, channel, alice, "done 15")
    await fake_discord.wait_for(lambda: fake_discord.reactions_on(logged) == ["✅"])
    before = len(fake_discord.bot_messages(channel))
    await fake_discord.user_edits(chatter, "morning everyone")
    await fake_discord.user_edits(logged, "done 20")
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(channel)[before:])
    await fake_discord.user_edits(logged, "done 25")  # another edit: answered again
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(channel)) == before + 2)

    assert "editing it doesn't change what I logged" in answer["content"]
    assert answer["message_reference"]["message_id"] == logged["id"]
    assert await reps_of(core, alice) == {"bridge": 15}

    dm = fake_discord.dm_channel(alice)
    typo = await fake_discord.dm(alice, "dnoe 12")
    menu = "What would you like to do?"  # the last of the answer's messages
    await fake_discord.wait_for(
        lambda: any(menu in m["content"] for m in fake_discord.bot_messages(dm))
    )
    before = len(fake_discord.bot_messages(dm))
    await fake_discord.user_edits(typo, "done 12")
    [told] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(dm)[before:])
    assert "your edit didn't log anything" in told["content"]
    assert '"\u2068done 12\u2069"' in told["content"]
    assert await reps_of(core, alice) == {"bridge": 15}


async def test_next_and_back_replying_to_a_walk_through_step_in_a_channel_step_through_it(
    fake_discord: FakeDiscord, world: World, core: Core, bot: DiscordAdapter
) -> None:
    """A walk-through asked for in a channel is posted there; "next" typed as a reply to
    its step was "I didn't understand". It now does what the step's Next button does."""
    me, channel = fake_discord.bot_user, world.channel
    await fake_discord.user_says(world.guild, channel, world.alice, "bridge", mentions=[me])
    step_one = await next_post(fake_discord, channel)
    assert "step 1 of 5" in step_one["content"]
    await fake_discord.user_says(world.guild, channel, world.bob, "next", reply_to=step_one)
    step_two = await next_post(fake_discord, channel)
    assert "step 2 of 5" in step_two["content"]
    # Its Next pressed leads where "next" did: the same walk-through.
    [pressed] = await press(fake_discord, step_one, world.bob, ":1")
    assert custom_ids(pressed) == custom_ids(step_two)
    await fake_discord.user_says(world.guild, channel, world.bob, "back", reply_to=step_two)
    assert "step 1 of 5" in (await next_post(fake_discord, channel))["content"]
    # Not a reply, nor a mention: chatter, left alone.
    chatter = await fake_discord.user_says(world.guild, channel, world.bob, "next")
    await fake_discord.user_says(world.guild, channel, world.bob, "next", reply_to=step_one)
    step = await next_post(fake_discord, channel)
    assert "step 2 of 5" in step["content"]
    assert step["message_reference"]["message_id"] != chatter["id"]

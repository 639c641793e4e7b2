"""The fake Discord server, proven with a minimal real discord.py bot defined here."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from tests.fakes.discord_server import (
    BotDiedError,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    UnknownRouteError,
    fake_discord,
    running_bot,
    running_fake_discord,
)

# isort: split
import discord
from discord import app_commands
from discord.ext import commands

__all__ = ["fake_discord"]  # the fixture, re-exported so pytest finds it here

EPHEMERAL = 64


class DoneButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"done:(?P<reps>\d+)"
):
    def __init__(self, reps: int) -> None:
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label="Done", custom_id=f"done:{reps}", style=discord.ButtonStyle.success
        )
        super().__init__(button)
        self.reps = reps

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[discord.ui.View],
        match: re.Match[str],
    ) -> DoneButton:
        return cls(int(match["reps"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.send_message(f"logged {self.reps}", ephemeral=True)


class CountButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"count:(?P<n>\d+)"
):
    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=str(n), custom_id=f"count:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[discord.ui.View],
        match: re.Match[str],
    ) -> CountButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.edit_message(
            content=f"count {self.n + 1}", view=counter(self.n + 1)
        )


def counter(n: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CountButton(n))
    return view


@app_commands.command(name="stats", description="Show progress")
async def stats_command(interaction: discord.Interaction[discord.Client]) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.edit_original_response(content="3 sessions this week")


@app_commands.command(name="plan", description="This week's plan")
async def plan_command(interaction: discord.Interaction[discord.Client]) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.followup.send("Monday: bridges", ephemeral=True)
    await interaction.followup.send("Wednesday: lunges", ephemeral=True)


@app_commands.command(name="done", description="Log reps")
async def done_command(
    interaction: discord.Interaction[discord.Client],
    reps: int,
    exercise: str = "bridge",
    where: discord.TextChannel | None = None,
) -> None:
    place = where.name if where is not None else "here"
    await interaction.response.send_message(f"{reps} {exercise} {place}", ephemeral=True)
    await interaction.followup.send("keep going", ephemeral=True)


@done_command.autocomplete("exercise")
async def exercise_choices(
    interaction: discord.Interaction[discord.Client], current: str
) -> list[app_commands.Choice[str]]:
    names = [n for n in ("bridge", "lunge") if n.startswith(current)]
    return [app_commands.Choice(name=n, value=n) for n in names]


class Coach(commands.Bot):
    """Replies to "done ..." with a persistent Done button; records what it sees."""

    def __init__(self, on_change: Callable[[], None], intents: discord.Intents) -> None:
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.01)
        self.on_change = on_change
        self.seen: list[discord.Message] = []

    async def setup_hook(self) -> None:
        self.add_dynamic_items(DoneButton, CountButton)
        self.tree.add_command(done_command)
        self.tree.add_command(stats_command)
        self.tree.add_command(plan_command)

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        self.on_change()
        if message.content == "crash":
            raise RuntimeError("crash in on_message")
        if message.author != self.user and message.content.startswith("done"):
            view = discord.ui.View(timeout=None)
            view.add_item(DoneButton(15))
            await message.reply(f"logged: {message.content}", view=view)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.on_change()

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        self.on_change()


def coach_intents(*, message_content: bool = True) -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


@dataclass
class World:
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeMember


@pytest.fixture
def world(fake_discord: FakeDiscord) -> World:
    guild = fake_discord.add_guild("Glute Club")
    channel = fake_discord.add_channel(guild, "workouts")
    alice = fake_discord.add_member(guild, 1001, "alice")
    return World(guild, channel, alice)


@pytest.fixture
async def bot(fake_discord: FakeDiscord, world: World) -> AsyncIterator[Coach]:
    async with running_bot(fake_discord, Coach(fake_discord.notify, coach_intents())) as bot:
        yield bot


async def test_login_ready_and_guild_create(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    guild = bot.get_guild(world.guild.id)
    assert bot.is_ready()
    assert bot.user is not None
    assert bot.user.id == fake_discord.bot_user.id
    assert guild is not None
    assert guild.name == "Glute Club"
    assert guild.default_role.id == guild.id
    assert guild.get_channel(world.channel.id) is not None
    assert guild.member_count == 3  # the owner, the bot and alice
    assert fake_discord.intents == coach_intents().value


async def test_bad_token_is_a_login_failure(fake_discord: FakeDiscord) -> None:
    with pytest.raises(discord.LoginFailure):
        async with running_bot(
            fake_discord, Coach(fake_discord.notify, coach_intents()), token="x"
        ):
            pass


async def test_tree_sync_is_recorded(fake_discord: FakeDiscord, world: World, bot: Coach) -> None:
    synced = await bot.tree.sync()
    bot.tree.copy_global_to(guild=discord.Object(world.guild.id))
    await bot.tree.sync(guild=discord.Object(world.guild.id))

    assert [c.name for c in synced] == ["done", "stats", "plan"]
    assert synced[0].id == int(fake_discord.commands_for()[0]["id"])
    options = {o["name"]: o["type"] for o in fake_discord.commands_for()[0]["options"]}
    assert options == {"reps": 4, "exercise": 3, "where": 7}
    assert [c["name"] for c in fake_discord.commands_for(world.guild)] == ["done", "stats", "plan"]


async def test_bot_replies_to_a_message_and_sees_its_own(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    reply = await fake_discord.next_bot_message(world.channel)

    assert reply["content"] == "logged: done 15"
    assert reply["message_reference"]["message_id"] == said["id"]
    assert reply["components"][0]["components"][0]["custom_id"] == "done:15"
    own = await fake_discord.wait_for(lambda: [m for m in bot.seen if m.author == bot.user])
    assert own[0].id == int(reply["id"])


async def test_without_message_content_intent_only_mentions_carry_text(
    fake_discord: FakeDiscord, world: World
) -> None:
    coach = Coach(fake_discord.notify, coach_intents(message_content=False))
    async with running_bot(fake_discord, coach):
        await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
        await fake_discord.user_says(
            world.guild, world.channel, world.alice, "done 20", mentions=[fake_discord.bot_user]
        )
        await fake_discord.wait_for(lambda: len(coach.seen) >= 2)

    assert coach.seen[0].content == ""
    assert coach.seen[1].content == f"<@{fake_discord.bot_user.id}> done 20"


async def test_slash_command_answers_ephemerally_with_a_followup(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await bot.tree.sync()
    options = {"reps": 15, "exercise": "lunge", "where": world.channel}
    interaction = await fake_discord.slash(
        world.guild, world.channel, world.alice, "done", options
    )
    await fake_discord.wait_for(lambda: interaction.followups)

    assert interaction.response is not None
    assert interaction.response.type == 4
    assert interaction.response.data["content"] == "15 lunge workouts"
    assert interaction.response.data["flags"] == EPHEMERAL
    assert interaction.followups[0]["content"] == "keep going"
    assert interaction.followups[0]["flags"] & EPHEMERAL


async def test_deferred_response_is_edited_later(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    interaction = await fake_discord.slash(world.guild, world.channel, world.alice, "stats")
    await fake_discord.wait_for(lambda: interaction.original and interaction.original["content"])

    assert interaction.response is not None
    assert interaction.response.type == 5
    assert interaction.original is not None
    assert interaction.original["content"] == "3 sessions this week"
    assert interaction.original["flags"] == 0  # no longer loading


async def test_the_first_followup_after_a_deferral_takes_the_thinking_messages_place(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    interaction = await fake_discord.slash(world.guild, world.channel, world.alice, "plan")
    await fake_discord.wait_for(lambda: interaction.followups)

    assert interaction.response is not None
    assert interaction.response.type == 5
    assert interaction.original is not None
    assert interaction.original["content"] == "Monday: bridges"
    assert interaction.original["flags"] == EPHEMERAL  # no longer loading
    assert [m["content"] for m in interaction.followups] == ["Wednesday: lunges"]


async def test_button_can_update_its_message(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    posted = await channel.send("count 0", view=counter(0))
    interaction = await fake_discord.press_button(posted.id, world.alice, "count:0")
    await fake_discord.wait_for(lambda: interaction.response)

    assert interaction.response is not None
    assert interaction.response.type == 7
    updated = fake_discord.messages[posted.id]
    assert updated["content"] == "count 1"
    assert updated["components"][0]["components"][0]["custom_id"] == "count:1"


async def test_bot_edits_and_deletes_its_message(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    posted = await channel.send("draft")
    await posted.edit(content="final")
    assert fake_discord.messages[posted.id]["content"] == "final"
    await posted.delete()

    assert posted.id not in fake_discord.messages
    assert fake_discord.deleted_messages[-1]["content"] == "final"


async def test_autocomplete_returns_choices(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await bot.tree.sync()
    interaction = await fake_discord.autocomplete(
        world.guild, world.channel, world.alice, "done", {"exercise": "lu"}, focused="exercise"
    )
    await fake_discord.wait_for(lambda: interaction.response)

    assert interaction.response is not None
    assert interaction.response.type == 8
    assert interaction.response.data["choices"] == [{"name": "lunge", "value": "lunge"}]


async def test_persistent_button_is_answered(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await fake_discord.user_says(world.guild, world.channel, world.alice, "done 15")
    reply = await fake_discord.next_bot_message(world.channel)
    interaction = await fake_discord.press_button(reply, world.alice, "done:15")
    await fake_discord.wait_for(lambda: interaction.response)

    assert interaction.response is not None
    assert interaction.response.type == 4
    assert interaction.response.data["content"] == "logged 15"
    assert interaction.response.data["flags"] == EPHEMERAL
    assert interaction.original is not None
    assert interaction.original["flags"] & EPHEMERAL


async def test_dm_is_sent_and_closed_dms_are_forbidden(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    bob = fake_discord.add_user(1002, "bob")
    fake_discord.close_dms(bob)
    alice = await bot.fetch_user(world.alice.id)
    await alice.send("time for your bridge")
    with pytest.raises(discord.Forbidden) as refused:
        await (await bot.fetch_user(bob.id)).send("hello")

    assert [m["content"] for m in fake_discord.dms_to(world.alice)] == ["time for your bridge"]
    assert refused.value.code == 50007


async def test_user_dm_reaches_on_message(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await fake_discord.dm(world.alice, "help")
    seen = await fake_discord.wait_for(lambda: bot.seen)

    assert isinstance(seen[0].channel, discord.DMChannel)
    assert seen[0].content == "help"


async def test_reaction_is_recorded(fake_discord: FakeDiscord, world: World, bot: Coach) -> None:
    said = await fake_discord.user_says(world.guild, world.channel, world.alice, "hi")
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.get_partial_message(int(said["id"])).add_reaction("💪")

    assert fake_discord.reactions_on(said) == ["💪"]


async def test_missing_permissions_is_forbidden(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    locked = fake_discord.add_channel(world.guild, "announcements", bot_can_send=False)
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    channel = await guild.fetch_channel(locked.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as refused:
        await channel.send("workout of the day")

    assert refused.value.code == 50013


async def test_held_posts_are_answered_once_released(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    release = fake_discord.hold_posts(world.channel)
    sending = asyncio.create_task(bot.get_partial_messageable(world.channel.id).send("hi"))
    await fake_discord.wait_for(lambda: fake_discord.requests[-1].path.endswith("/messages"))
    assert fake_discord.bot_messages(world.channel) == []
    release.set()
    sent = await sending

    assert [m["id"] for m in fake_discord.bot_messages(world.channel)] == [str(sent.id)]


async def test_a_bot_removed_from_a_guild_loses_it_and_may_not_post_there(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await fake_discord.remove_bot(world.guild)
    await fake_discord.wait_for(lambda: bot.get_guild(world.guild.id) is None)
    with pytest.raises(discord.Forbidden) as refused:
        await bot.get_partial_messageable(world.channel.id).send("still here?")

    assert refused.value.code == 50001


async def test_refused_message_content_intent_raises_privileged_intents_required(
    fake_discord: FakeDiscord, world: World
) -> None:
    fake_discord.refuse_message_content = True
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_bot(fake_discord, Coach(fake_discord.notify, coach_intents())):
            pass


async def test_resume_replays_events_missed_while_disconnected(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await fake_discord.drop_connection()
    await fake_discord.user_says(world.guild, world.channel, world.alice, "done 5")
    reply = await fake_discord.next_bot_message(world.channel)

    assert fake_discord.resumes == 1
    assert reply["content"] == "logged: done 5"


async def test_reconnect_request_is_followed_by_a_resume(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    await fake_discord.request_reconnect()
    await fake_discord.wait_for(lambda: fake_discord.resumes == 1 and fake_discord.connected)
    await fake_discord.user_says(world.guild, world.channel, world.alice, "done 7")

    assert (await fake_discord.next_bot_message(world.channel))["content"] == "logged: done 7"


async def test_unknown_route_fails_the_test() -> None:
    async def bot_calls_an_unknown_route() -> None:
        async with running_fake_discord() as server:
            guild = server.add_guild("Glute Club")
            async with running_bot(server, Coach(server.notify, coach_intents())) as coach:
                with pytest.raises(discord.NotFound):
                    await coach.fetch_guild_preview(guild.id)

    with pytest.raises(UnknownRouteError, match=r"GET /api/v10/guilds/\d+/preview"):
        await bot_calls_an_unknown_route()


async def test_bot_dying_fails_fast(fake_discord: FakeDiscord, world: World) -> None:
    async def gateway_rejects_the_bot() -> None:
        async with running_bot(fake_discord, Coach(fake_discord.notify, coach_intents())):
            await fake_discord.drop_connection(code=4004)
            await fake_discord.wait_for(lambda: False)

    with pytest.raises(BotDiedError):
        await gateway_rejects_the_bot()


async def test_errors_logged_by_discord_py_fail_the_test(
    fake_discord: FakeDiscord, world: World
) -> None:
    async def bot_crashes_in_on_message() -> None:
        async with running_bot(fake_discord, Coach(fake_discord.notify, coach_intents())):
            await fake_discord.user_says(world.guild, world.channel, world.alice, "crash")
            await fake_discord.wait_for(lambda: False)

    with pytest.raises(BotDiedError, match="crash in on_message"):
        await bot_crashes_in_on_message()


async def test_a_reply_without_its_ping_mentions_no_one_and_without_the_intent_is_empty(
    fake_discord: FakeDiscord, world: World
) -> None:
    coach = Coach(fake_discord.notify, coach_intents(message_content=False))
    async with running_bot(fake_discord, coach):
        post = await fake_discord.user_says(
            world.guild, world.channel, world.guild.members[fake_discord.bot_user.id], "workout"
        )
        quiet = await fake_discord.user_says(
            world.guild, world.channel, world.alice, "did 5", reply_to=post, reply_ping=False
        )
        pinged = await fake_discord.user_says(
            world.guild, world.channel, world.alice, "did 6", reply_to=post
        )
        await fake_discord.wait_for(lambda: len(coach.seen) >= 3)

    assert quiet["mentions"] == []
    assert [m["id"] for m in pinged["mentions"]] == [str(fake_discord.bot_user.id)]
    seen = {message.id: message.content for message in coach.seen}
    assert seen[int(quiet["id"])] == ""
    assert seen[int(pinged["id"])] == "did 6"


async def test_a_deleted_channel_is_gone_for_the_bot_and_unknown_to_the_api(
    fake_discord: FakeDiscord, world: World
) -> None:
    doomed = fake_discord.add_channel(world.guild, "old-workouts")
    async with running_bot(fake_discord, Coach(fake_discord.notify, coach_intents())) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None
        assert guild.get_channel(doomed.id) is not None
        await fake_discord.delete_channel(doomed)
        await fake_discord.wait_for(lambda: guild.get_channel(doomed.id) is None)
        with pytest.raises(discord.NotFound) as unknown:
            await bot.get_partial_messageable(doomed.id).send("workout of the day")

    assert unknown.value.code == 10003


async def test_dms_opened_again_are_delivered(
    fake_discord: FakeDiscord, world: World, bot: Coach
) -> None:
    fake_discord.close_dms(world.alice)
    alice = await bot.fetch_user(world.alice.id)
    with pytest.raises(discord.Forbidden):
        await alice.send("refused")
    fake_discord.open_dms(world.alice)
    await alice.send("delivered")

    assert [m["content"] for m in fake_discord.dms_to(world.alice)] == ["delivered"]

"""Discord through discord.py: messages, slash commands and buttons in → `Incoming`,
`Reply` → messages, ephemeral answers, DMs and reactions out.

The bot asks for the message content intent. If Discord refuses it (the operator hasn't
enabled it), the adapter logs how to enable it and reconnects without it: slash commands,
buttons, mentions of the bot and replies that ping it keep working.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.adapters.base import Delivery, RecentKeys, StartError, edit_key
from bot.adapters.discord_commands import (
    CommandWording,
    as_typed,
    build_commands,
    definitions_hash,
    slash_command_for,
)
from bot.adapters.discord_wire import (
    CUSTOM_ID_PREFIX,
    SPOKEN,
    ChoiceButton,
    Said,
    SendError,
    answered_view,
    buttons_view,
    can_post,
    chat_for_interaction,
    chat_for_message,
    delivery_for,
    describe,
    interaction_is_admin,
    interaction_key,
    is_personal,
    member_is_admin,
    message_key,
    message_posts_watched,
    place,
    replied_buttons,
    setup_channel,
    unreadable_in,
    what_was_said,
)
from bot.adapters.send_watch import retry_if_cut_short_unsent
from bot.app import Core
from bot.config import Secret, Settings
from bot.engine.core import STALE_PRESS
from bot.engine.turn import action
from bot.model import PRIVATE_CHAT_FIRST, ChatRef, Incoming, Platform, PrivateReach, Reply
from bot.render import LIMITS, Button, split_message
from bot.store.schedules import reminder_owner
from bot.store.users import User

log = logging.getLogger(__name__)

LIMIT = LIMITS[Platform.DISCORD]
NO_MENTIONS = discord.AllowedMentions.none()
LOGGED = "✅"
SYNC_KEY = "discord.commands:{application}"
SETUP_NO_ACCESS = "community/setup_no_access"
# Discord-only messages.
POST_FAILED = "discord/post_failed"
POST_TRY_AGAIN = "discord/post_try_again"
CHANNEL_GONE = "discord/channel_gone"
SLASH_INSTEAD = "discord/slash_instead"
REMINDERS_HERE = "discord/reminders_here"
DMS_CLOSED = "discord/dms_closed"
REMINDERS_PAUSED = "discord/reminders_paused"
# The engine's answers about reminders, and those that switch a member's reminder on.
ABOUT_REMINDERS = "remind/"
REMINDER_ON = frozenset({"remind/set", "remind/kept"})
# "Try again" under a note that DMs are closed: the engine turns the saved reminder back
# on as it was (its "keep reminding me"), and that tries the DM again.
RETRY_REMINDERS = action("remind_keep").value
NO_MESSAGE_CONTENT = (
    "Discord refused the Message Content intent, so glutebot runs without it: slash "
    "commands, buttons, mentions of the bot and replies that ping it still log reps, but "
    'a plain "done" in a channel goes unseen. To fix it, open the Discord Developer '
    "Portal (https://discord.com/developers/applications), pick this bot, and under Bot → "
    "Privileged Gateway Intents turn on Message Content Intent; then restart glutebot."
)
# How long stop() waits for the events being handled to finish.
DRAIN_TIMEOUT = 10.0
# Discord fails an interaction that has no first answer after 3 s. One whose answer
# isn't ready this soon (a database busy for a moment, say) is deferred meanwhile.
DEFER_AFTER = 2.0
# 403 "Cannot reply without permission to read message history".
CANNOT_REPLY = 160002
# 400 "Interaction has already been acknowledged".
ALREADY_ANSWERED = 40060
# What a scheduled send that failed comes to, for the log.
AFTER_FAILURE = {
    Delivery.GONE: "not sending there again",
    Delivery.RETRY: "will retry",
    Delivery.SENT: "skipped this time",
}
PERMISSIONS_HINT = (
    "; the schedule stays on: give the bot View Channel and Send Messages in that channel"
)
# A command the bot no longer has, or not with these options: Discord clients cache the
# command list, so members can still send one renamed or removed since.
# The same goes for an option's value it no longer takes (a choice removed since).
STALE_COMMAND = (
    app_commands.CommandNotFound,
    app_commands.CommandSignatureMismatch,
    app_commands.TransformerError,
)
Piece = tuple[str, discord.ui.View | None]


class DiscordStartError(StartError):
    """Discord could not be reached or refused the token; the message is token-free."""


def wanted_intents() -> discord.Intents:
    return discord.Intents(
        guilds=True, guild_messages=True, dm_messages=True, message_content=True
    )


class GluteBot(commands.Bot):
    """discord.py's side: the events and commands it sees go straight to the adapter."""

    def __init__(
        self, adapter: DiscordAdapter, intents: discord.Intents, guild_ready_timeout: float
    ) -> None:
        # glutebot never joins voice: discord.py's warnings that voice's libraries aren't
        # installed would only alarm whoever reads the log.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
            http_trace=message_posts_watched(),
        )
        self.adapter = adapter

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ChoiceButton)
        for command in build_commands(self.adapter.wording, self.adapter.on_command):
            self.tree.add_command(command)
        self.tree.error(self.on_tree_error)
        await self.adapter.sync_commands(self)

    async def on_tree_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, STALE_COMMAND):
            await self.adapter.on_stale_command(interaction, error)
        else:  # a bug: discord.py's own handler logs it as an error
            await app_commands.CommandTree.on_error(self.tree, interaction, error)

    async def on_ready(self) -> None:
        self.adapter.on_ready(self)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(self, message)

    async def on_raw_message_edit(self, edit: discord.RawMessageUpdateEvent) -> None:
        await self.adapter.on_edit(self, edit)

    async def on_choice(self, interaction: discord.Interaction[Any], value: str) -> None:
        await self.adapter.on_button(interaction, value)


class DiscordAdapter:
    platform = Platform.DISCORD

    def __init__(
        self,
        core: Core,
        token: Secret | str,
        *,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 60.0,
        defer_after: float = DEFER_AFTER,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        self._core = core
        self._defer_after = defer_after
        self._drain_timeout = drain_timeout
        self._token = token.reveal() if isinstance(token, Secret) else token
        self._guild_ready_timeout = guild_ready_timeout
        self._ready_timeout = ready_timeout
        self.wording = CommandWording.load()
        self._bot: GluteBot | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        # Questions just answered by a press, by message id: a second tap on one (sent
        # before the first's edit arrived) is stale, and must not redraw its buttons from
        # the message as it was before the answer was shown.
        self._answered = RecentKeys()
        # Interactions this process had, by id: a RESUME replays the latest events, and one
        # handled already must not be answered again (Discord refuses a second answer).
        self._interactions = RecentKeys()

    @classmethod
    def from_settings(cls, core: Core, settings: Settings, **options: Any) -> DiscordAdapter:
        if settings.discord_token is None:
            raise ValueError("DISCORD_BOT_TOKEN is not set")
        return cls(core, settings.discord_token, **options)

    @property
    def bot(self) -> GluteBot | None:
        return self._bot

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task running discord.py, while started."""
        return self._task

    # Lifecycle.

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the Discord adapter is already running")
        self._stopping = False
        self._ready.clear()
        self._task = asyncio.create_task(self._run(), name="discord")
        ready = asyncio.create_task(self._ready.wait())
        try:
            await asyncio.wait(
                {self._task, ready},
                timeout=self._ready_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            connected = ready.done()
        finally:  # also when the start itself is cancelled (a signal while connecting)
            ready.cancel()
        if connected:
            return
        error = await self._end()
        if isinstance(error, discord.LoginFailure):
            raise DiscordStartError(
                "Discord refused DISCORD_BOT_TOKEN: copy the bot's token again (or reset "
                "it) in the Developer Portal, under Bot"
            ) from None
        if error is not None:
            raise DiscordStartError(f"Discord: could not connect ({describe(error)})") from None
        raise DiscordStartError(f"Discord: not connected after {self._ready_timeout:g} s")

    async def stop(self) -> None:
        if self._task is None:
            return
        connected = self._ready.is_set()
        error = await self._end()
        # Stopped while still connecting, the attempt fails of its own closing: expected.
        if error is not None and connected:
            log.warning("Discord: stopped after an error: %s", describe(error))

    async def wait_ended(self) -> str:
        task = self._task
        if task is not None:
            # asyncio.wait, unlike awaiting the task, leaves it running if this is cancelled.
            await asyncio.wait({task})
            error = None if task.cancelled() else task.exception()
            if error is not None:
                return describe(error)
        return "the connection closed"

    async def _run(self) -> None:
        intents = wanted_intents()
        while not self._stopping:
            bot = GluteBot(self, intents, self._guild_ready_timeout)
            self._bot = bot
            try:
                async with bot:
                    await bot.start(self._token)
                return
            except discord.PrivilegedIntentsRequired:
                if not intents.message_content:
                    raise
                log.warning(NO_MESSAGE_CONTENT)
                intents.message_content = False

    async def _end(self) -> BaseException | None:
        task, self._task = self._task, None
        self._stopping = True
        if self._in_flight:
            # Answers still need the connection, and the engine its database.
            _, late = await asyncio.wait(set(self._in_flight), timeout=self._drain_timeout)
            if late:
                # Left running, they would write to a database being closed and answer
                # through a closed connection. A turn is stored whole or not at all.
                log.warning("Discord: %d events still being handled; cut short", len(late))
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        if self._bot is not None:
            await self._bot.close()
        if task is None:
            return None
        try:
            await task
        except Exception as error:
            return error
        return None

    def on_ready(self, bot: GluteBot) -> None:
        if not self._ready.is_set():
            log.info("Discord: connected as %s, in %d servers", bot.user, len(bot.guilds))
        self._ready.set()

    async def sync_commands(self, bot: GluteBot) -> None:
        """Sends the slash commands to Discord only when they changed since the last sync:
        Discord rate-limits syncing, and an unchanged sync is a wasted start-up call."""
        key = SYNC_KEY.format(application=bot.application_id)
        digest = definitions_hash(bot.tree, bot.application_id)
        if await self._core.store.meta.get(key) == digest:
            log.debug("Discord: slash commands unchanged since the last sync")
            return
        try:
            synced = await bot.tree.sync()
        except discord.HTTPException as error:
            log.warning("Discord: syncing slash commands failed: %s", describe(error))
            return
        await self._core.store.meta.set(key, digest)
        log.info("Discord: synced %d slash commands", len(synced))

    # Scheduled sends.

    async def deliver(self, chat: ChatRef, replies: Sequence[Reply]) -> Delivery:
        """A channel's daily post (chat.community set) or a person's reminder by DM
        (chat.chat_id is their user id). Tried once; the outcome says what next.
        Cancelled while discord.py waits out a 429 on it, RETRY: see send_watch.py."""
        return await retry_if_cut_short_unsent(self._deliver(chat, replies), chat.chat_id)

    async def _deliver(self, chat: ChatRef, replies: Sequence[Reply]) -> Delivery:
        bot = self._bot
        if bot is None or bot.is_closed() or not bot.is_ready():
            return Delivery.RETRY
        personal = chat.community is None
        try:
            if personal:
                home: discord.abc.Messageable = await bot.create_dm(
                    discord.Object(int(chat.user_id))
                )
            else:
                home = bot.get_partial_messageable(int(chat.chat_id))
            for reply in replies:
                target = home
                if reply.to is not None and reply.to.chat_id != chat.chat_id:
                    target = bot.get_partial_messageable(int(reply.to.chat_id))
                await self._post(target, reply)
        except SendError as error:
            # A channel of a server the bot is still in: a refusal there is an admin's to fix.
            server = None if chat.community is None else bot.get_guild(int(chat.community))
            outcome = delivery_for(error, in_server=server is not None)
            fixable = server is not None and isinstance(error, discord.Forbidden)
            log.warning(
                "Discord: sending to %s failed (%s): %s%s",
                f"user {chat.user_id}" if personal else place(chat),
                AFTER_FAILURE[outcome],
                describe(error),
                PERMISSIONS_HINT if fixable else "",
            )
            if outcome is Delivery.GONE and personal:
                # Until they're next answered where only they see it: a slash command in
                # a server then tells them why reminders stopped (see _with_paused_note).
                await self._core.store.users.mark_blocked(Platform.DISCORD, chat.user_id)
            return outcome
        return Delivery.SENT

    # Events in.

    @asynccontextmanager
    async def _handling(self) -> AsyncIterator[bool]:
        """Yields whether to handle an event (not while stopping), and tracks it until done
        so that stop() lets it finish."""
        task = asyncio.current_task()
        if self._stopping or task is None:
            yield False
            return
        self._in_flight.add(task)
        try:
            yield True
        finally:
            self._in_flight.discard(task)

    async def on_message(self, bot: GluteBot, message: discord.Message) -> None:
        me = bot.user
        author = message.author
        if me is None or author.bot or message.webhook_id is not None:
            return
        if message.type not in SPOKEN:
            return
        said = what_was_said(message, me)
        # In a server a message with no words is left alone: most are chatter (a photo, a
        # sticker), and without the message content intent every message there comes
        # without its words. A DM always comes whole, and anything sent there gets an
        # answer: what it held instead of words says which.
        if said is None and message.guild is not None:
            return
        async with self._handling() as handling:
            if handling and said is not None:
                await self._on_text(message, said, me)
            elif handling:
                await self._on_unreadable(message)

    async def on_edit(self, bot: GluteBot, edit: discord.RawMessageUpdateEvent) -> None:
        """A message edited after it was read: the engine says whether that needs an answer
        (see `Engine.edited`). Discord also sends updates that are no edit (a link's
        preview added, a pin): only a change of the text counts."""
        message, before, me = edit.message, edit.cached_message, bot.user
        if me is None or message.author.bot or message.edited_at is None:
            return
        if before is not None and before.content == message.content:
            return
        said = what_was_said(message, me)
        async with self._handling() as handling:
            if handling:
                key = message_key(message)
                incoming = Incoming(
                    chat=chat_for_message(message),
                    event_key=key,
                    text=said.text if said is not None else "",
                )
                replies = await self._core.engine.edited(
                    incoming, edit_key(key, message.edited_at)
                )
                await self._answer_message(message, replies)

    async def _on_unreadable(self, message: discord.Message) -> None:
        """A DM with no words for the engine: a file, sticker, poll or custom emoji, or a
        quote alone, is told what the bot reads; anything else reads as an empty message
        (a mention of someone else alone, say), which the engine says it didn't catch."""
        incoming = Incoming(
            chat=chat_for_message(message),
            event_key=message_key(message),
            display_name=message.author.display_name,
            unreadable=unreadable_in(message),
        )
        await self._answer_message(message, await self._core.engine.handle(incoming))

    async def _on_text(self, message: discord.Message, said: Said, me: discord.ClientUser) -> None:
        author = message.author
        incoming = Incoming(
            chat=chat_for_message(message),
            event_key=message_key(message),
            text=said.text,
            display_name=author.display_name,
            is_admin=member_is_admin(author),
            addressed=said.addressed,
            # An answer only its asker may see can't be given in a channel, and their DMs
            # may be closed: the engine does nothing, and they are sent to the slash command.
            private_reach=PrivateReach.IN_PLACE if message.guild is None else PrivateReach.UNSURE,
            replied_buttons=replied_buttons(message, me),
        )
        if _unpostable_setup(said.typed, incoming.is_admin, message.guild):
            replies = await self._core.engine.refuse(incoming, Reply(SETUP_NO_ACCESS))
        else:
            replies = await self._core.engine.handle(incoming)
        await self._answer_message(message, replies)

    async def on_command(self, interaction: discord.Interaction[Any], text: str) -> None:
        async with self._handling() as handling:
            if not handling or not await self._still_awaited(interaction):
                return
            incoming = self._from_interaction(interaction, text=text)
            if _unpostable_setup(incoming.text, incoming.is_admin, interaction.guild):
                replies = await self._core.engine.refuse(incoming, Reply(SETUP_NO_ACCESS))
            else:
                replies = await self._handle_in_time(interaction, incoming)
            await self._answer_interaction(interaction, replies)

    async def on_stale_command(
        self,
        interaction: discord.Interaction[Any],
        error: app_commands.AppCommandError,
    ) -> None:
        """Answers a command the bot no longer has (or not with these options, or these
        values) as if typed: the engine says it doesn't know the command, or reads its
        values as words, taking what it can and asking for the rest."""
        if isinstance(error, app_commands.CommandNotFound):
            name = " ".join([*error.parents, error.name])
        elif isinstance(error, app_commands.CommandSignatureMismatch):
            name = error.command.qualified_name
        else:  # a value the options no longer take: the command itself was found
            command = interaction.command
            name = command.qualified_name if command is not None else "help"
        where = place(chat_for_interaction(interaction))
        log.warning("Discord: stale slash command /%s in %s: %s", name, where, error)
        if interaction.type is discord.InteractionType.application_command:
            data: Any = interaction.data
            await self.on_command(interaction, as_typed(name, data))

    async def on_button(self, interaction: discord.Interaction[Any], value: str) -> None:
        async with self._handling() as handling:
            if not handling or not await self._still_awaited(interaction):
                return
            incoming = self._from_interaction(interaction, choice=value)
            replies = await self._handle_in_time(interaction, incoming)
            await self._answer_interaction(interaction, replies, pressed=value)

    async def _handle_in_time(
        self, interaction: discord.Interaction[Any], incoming: Incoming
    ) -> list[Reply]:
        """The engine's replies, posts for other channels already made; if that takes
        longer than `defer_after`, the interaction is deferred meanwhile, so that Discord
        keeps waiting for the answer."""
        handling = asyncio.ensure_future(self._handle_and_post(interaction, incoming))
        try:
            await asyncio.wait({handling}, timeout=self._defer_after)
            if not handling.done() and not interaction.response.is_done():
                await self._try(self._defer(interaction), "deferral", incoming.chat)
            return await handling
        finally:
            handling.cancel()  # does something only if this was cancelled first

    async def _still_awaited(self, interaction: discord.Interaction[Any]) -> bool:
        """Whether Discord still waits for this interaction's answer. One that reached the
        bot late (missed while the connection was down, and sent after the reconnect) is
        deferred at once: if Discord refuses that (10062), it has already shown the member
        that the command or button failed, and they will try again, so carrying it out now
        would log their reps twice. Discord decides, not the bot's clock, which may be off.
        One this process had already (replayed after a reconnect, however young) was
        answered then, or is being answered: nothing is sent for it, where an answer with
        nothing in it would be refused as a second one (40060)."""
        if interaction.id in self._interactions:
            log.debug("Discord: interaction %s came again (a redelivery): left", interaction.id)
            return False
        self._interactions.note(interaction.id)
        age = discord.utils.utcnow() - interaction.created_at
        if age < datetime.timedelta(seconds=self._defer_after):
            return True
        try:
            await self._defer(interaction)
        except SendError as error:
            if not _failed_or_answered(error):
                # Something else went wrong: it is handled, as after a failed deferral.
                log.warning(
                    "Discord: deferring the late interaction %s failed: %s",
                    interaction.id,
                    describe(error),
                )
                return True
            log.info(
                "Discord: interaction %s in %s came after Discord had failed or answered it "
                "(a redelivery): not carried out (%s)",
                interaction.id,
                place(chat_for_interaction(interaction)),
                describe(error),
            )
            return False
        return True

    async def _handle_and_post(
        self, interaction: discord.Interaction[Any], incoming: Incoming
    ) -> list[Reply]:
        """The engine's replies, posts for other channels made. In a server, what the
        member's reminders need them to know about their DMs comes with them."""
        if interaction.guild_id is None:
            # A DM with the bot: reminders set here come to this channel, open already.
            return await self._post_shared(await self._core.engine.handle(incoming))
        # Read first: handling a slash command or a button unmarks someone marked blocked.
        person = await self._core.store.users.get(Platform.DISCORD, incoming.chat.user_id)
        replies = await self._post_shared(await self._core.engine.handle(incoming))
        if any(reply.template in REMINDER_ON for reply in replies):
            return [await self._first_dm(interaction, reply) for reply in replies]
        if person is not None and person.blocked:
            return await self._with_paused_note(interaction, replies, person)
        return replies

    async def _first_dm(self, interaction: discord.Interaction[Any], reply: Reply) -> Reply:
        """For a reminder switched on in a server (`reply` says so), its first DM goes out
        at once, while the member is here to learn that it can't reach them: if Discord
        refuses it (403 50007: their DMs are closed to the server's members, or they
        blocked the bot), every reminder would be refused too. Then the reminder is kept
        but switched off (so "Try again" turns it back on as it was), and the answer says
        how to open their DMs."""
        if reply.template not in REMINDER_ON:
            return reply
        member = interaction.user
        try:
            await self._post(member, Reply(REMINDERS_HERE, reply.context))
        except discord.Forbidden as error:
            log.info(
                "Discord: DMs to user %s are refused (%s): their reminder is kept off",
                member.id,
                describe(error),
            )
            await self._core.engine.reminder_unreachable(Platform.DISCORD, str(member.id))
            context = {**reply.context, "server": _server_name(interaction)}
            return Reply(DMS_CLOSED, context, private=True)
        except SendError as error:
            # A passing failure says nothing about their settings: the reminder stays on.
            log.warning("Discord: the first DM to user %s failed: %s", member.id, describe(error))
        return reply

    async def _with_paused_note(
        self, interaction: discord.Interaction[Any], replies: list[Reply], person: User
    ) -> list[Reply]:
        """A reminder DM refused since the member's last event (deliver() marked them
        blocked and the reminder was switched off): a bot can't DM them to say so, so their
        first answer in a server after it does, once (the engine unmarks them as it handles
        this event). Not under an answer about reminders: they are seeing to them already,
        and switching one on tries the DM again."""
        if not replies or any(reply.template.startswith(ABOUT_REMINDERS) for reply in replies):
            return replies
        reminder = await self._core.store.schedules.get(reminder_owner(person.id))
        if reminder is None or reminder.enabled:
            return replies
        note = Reply(REMINDERS_PAUSED, {"server": _server_name(interaction)}, private=True)
        return [*replies, note]

    def _from_interaction(
        self, interaction: discord.Interaction[Any], *, text: str = "", choice: str | None = None
    ) -> Incoming:
        return Incoming(
            chat=chat_for_interaction(interaction),
            event_key=interaction_key(interaction),
            text=text,
            choice=choice,
            display_name=interaction.user.display_name,
            is_admin=interaction_is_admin(interaction),
        )

    # Replies out.

    async def _answer_message(self, message: discord.Message, replies: list[Reply]) -> None:
        """Answers a typed message: ✅ on a logged "done" (enough on its own when the reply
        is quiet), posts for other channels, then the rest as a reply to it."""
        if any(reply.logged for reply in replies) and await self._react(message, LOGGED):
            replies = [reply for reply in replies if not reply.quiet]
        replies = await self._post_shared(replies)
        if message.guild is not None:
            # The engine holds back private answers to typed messages in a server
            # (PrivateReach.UNSURE); should one come anyway, the channel must not see it.
            replies = [reply for reply in replies if not reply.private]
        if replies:
            posting = self._post_all(message.channel, replies, reference=message)
            await self._try(posting, "answer", chat_for_message(message))

    async def _answer_interaction(
        self,
        interaction: discord.Interaction[Any],
        replies: list[Reply],
        *,
        pressed: str | None = None,
    ) -> None:
        """Answers a slash command or a button: in a server every answer is ephemeral, so
        what a person asks for is theirs alone; in a DM, private already, answers are kept
        in the conversation (an ephemeral one goes when the app reloads)."""
        message = interaction.message
        if pressed is not None and message is not None and is_personal(message):
            stale = [reply.template for reply in replies] == [STALE_PRESS]
            if stale and message.id in self._answered:
                replies = []  # a double tap: the first answered it, and shows the answer
            else:
                # A stale press answered nothing: its buttons go, none shown as the answer.
                chosen = None if stale else CUSTOM_ID_PREFIX + pressed
                # Remembered before the edit is made, as a second tap can come meanwhile;
                # forgotten if it failed, so that a later press redraws the buttons.
                self._answered.note(message.id)
                edit = self._edit_pressed(interaction, answered_view(message, chosen))
                if not await self._try(
                    edit, "answered question", chat_for_interaction(interaction)
                ):
                    self._answered.forget(message.id)
        try:
            pieces = [piece for reply in replies for piece in self._pieces(reply)]
            for content, view in pieces:
                await self._respond(interaction, content, view)
            if not pieces:
                await self._acknowledge(interaction)
        except SendError as error:
            log.warning(
                "Discord: answering interaction %s in %s failed: %s",
                interaction.id,
                place(chat_for_interaction(interaction)),
                describe(error),
            )

    async def _respond(
        self, interaction: discord.Interaction[Any], content: str, view: discord.ui.View | None
    ) -> None:
        options = _send_options(view) | {"ephemeral": _in_server(interaction)}
        if interaction.response.is_done():
            await interaction.followup.send(content, **options)
        else:
            await interaction.response.send_message(content, **options)

    async def _defer(self, interaction: discord.Interaction[Any]) -> None:
        """Tells Discord the answer will follow: a command shows "glutebot is thinking…"
        (to its user only) until the first follow-up takes its place; a button shows it
        is loading."""
        if interaction.type is discord.InteractionType.component:
            await interaction.response.defer()
        else:
            # The "thinking…" message is the answer's first part: its flags are the answer's.
            await interaction.response.defer(ephemeral=_in_server(interaction), thinking=True)

    async def _edit_pressed(
        self, interaction: discord.Interaction[Any], view: discord.ui.View
    ) -> None:
        if interaction.response.is_done():  # deferred: the original is the pressed message
            await interaction.edit_original_response(view=view)
        else:
            await interaction.response.edit_message(view=view)

    async def _acknowledge(self, interaction: discord.Interaction[Any]) -> None:
        """Nothing to say (a redelivered event): Discord still wants an answer, and a
        command's "thinking…" must not stay."""
        if not interaction.response.is_done():
            await self._defer(interaction)
        if interaction.type is not discord.InteractionType.component:
            await interaction.delete_original_response()

    async def _post_shared(self, replies: list[Reply]) -> list[Reply]:
        """Posts replies meant for a channel of their own (an admin's /prompt); returns the
        rest, or instead a note that the bot can't post there."""
        rest: list[Reply] = []
        for reply in replies:
            if reply.to is None or self._bot is None:
                rest.append(reply)
                continue
            channel = self._bot.get_partial_messageable(int(reply.to.chat_id))
            try:
                await self._post(channel, reply)
            except SendError as error:
                log.warning("Discord: posting in %s failed: %s", place(reply.to), describe(error))
                if isinstance(error, discord.NotFound):  # 10003 Unknown Channel: deleted
                    return [Reply(CHANNEL_GONE)]
                # Only a refusal (403) is about permissions: a 5xx, a timeout or a 429
                # that outlasted discord.py's own waiting will pass by itself.
                failed = POST_FAILED if isinstance(error, discord.Forbidden) else POST_TRY_AGAIN
                return [Reply(failed, {"channel": reply.to.chat_id})]
        return rest

    async def _post_all(
        self,
        target: discord.abc.Messageable,
        replies: Sequence[Reply],
        *,
        reference: discord.Message | None = None,
    ) -> None:
        for reply in replies:
            await self._post(target, reply, reference)
            reference = None

    async def _post(
        self,
        target: discord.abc.Messageable,
        reply: Reply,
        reference: discord.Message | None = None,
    ) -> None:
        for content, view in self._pieces(reply):
            if reference is None:
                await target.send(content, **_send_options(view))
            else:
                await self._send_reply(target, content, view, reference)
            reference = None

    async def _send_reply(
        self,
        target: discord.abc.Messageable,
        content: str,
        view: discord.ui.View | None,
        reference: discord.Message,
    ) -> None:
        options = _send_options(view)
        try:
            answer = reference.to_reference(fail_if_not_exists=False)
            await target.send(content, reference=answer, **options)
        except discord.Forbidden as error:
            if error.code != CANNOT_REPLY:
                raise
            # Without Read Message History a bot may not reply (nor react: its ✅ failed
            # too), but may still post: the answer goes out unthreaded rather than not at all.
            log.warning(
                "Discord: replying in %s was refused (%s): posting the answer unthreaded; "
                "give the bot Read Message History there",
                place(chat_for_message(reference)),
                describe(error),
            )
            await target.send(content, **options)

    def _pieces(self, reply: Reply) -> list[Piece]:
        """The reply as messages that fit Discord's limit; its buttons go on the last."""
        reply = self._in_discord_terms(reply)
        rendered = self._core.renderer.render(reply, Platform.DISCORD)
        parts = [part for part in split_message(rendered.text, LIMIT) if part.strip()]
        view = buttons_view([*rendered.buttons, *self._own_buttons(reply)])
        if not parts:
            return [("", view)] if view is not None else []
        return [(part, view if n == len(parts) else None) for n, part in enumerate(parts, 1)]

    def _own_buttons(self, reply: Reply) -> list[Button]:
        """Buttons only Discord shows (their labels in discord/commands.toml)."""
        if reply.template in (DMS_CLOSED, REMINDERS_PAUSED):
            return [Button(RETRY_REMINDERS, self.wording.labels["retry_reminders"])]
        return []

    def _in_discord_terms(self, reply: Reply) -> Reply:
        """The engine's "ask privately first" (PRIVATE_CHAT_FIRST) as Discord's private way
        to ask: the slash command for what they typed, whose answer only they see."""
        if reply.template != PRIVATE_CHAT_FIRST:
            return reply
        names = [] if self._bot is None else [c.name for c in self._bot.tree.get_commands()]
        command = slash_command_for(str(reply.context.get("asked", "")), names)
        return Reply(SLASH_INSTEAD, {"command": command or ""})

    async def _react(self, message: discord.Message, emoji: str) -> bool:
        try:
            await message.add_reaction(emoji)
        except SendError as error:
            log.info("Discord: couldn't react to message %s: %s", message.id, describe(error))
            return False
        return True

    async def _try(self, sending: Awaitable[Any], what: str, where: ChatRef) -> bool:
        try:
            await sending
        except SendError as error:
            log.warning(
                "Discord: sending the %s in %s failed: %s", what, place(where), describe(error)
            )
            return False
        return True


def _unpostable_setup(text: str, is_admin: bool, guild: discord.Guild | None) -> bool:
    """An admin's /setup, typed or slash and however spelled, naming a channel the bot may
    not post in or one of another server: refused before the engine can save it."""
    named = setup_channel(text)
    return named is not None and is_admin and not can_post(guild, named)


def _failed_or_answered(error: BaseException) -> bool:
    """Discord's refusal to take an interaction's answer: it is past its time (10062
    Unknown interaction), or answered already (40060)."""
    return isinstance(error, discord.NotFound) or (
        isinstance(error, discord.HTTPException) and error.code == ALREADY_ANSWERED
    )


def _server_name(interaction: discord.Interaction[Any]) -> str:
    return "" if interaction.guild is None else interaction.guild.name


def _send_options(view: discord.ui.View | None) -> dict[str, Any]:
    # User names and typed text reach messages: nothing the bot sends may ping anyone, nor
    # unfurl a link someone typed into a preview under the bot's name. (The bot's own
    # messages hold no links to preview.)
    options: dict[str, Any] = {"allowed_mentions": NO_MENTIONS, "suppress_embeds": True}
    if view is not None:
        options["view"] = view
    return options


def _in_server(interaction: discord.Interaction[Any]) -> bool:
    return interaction.guild_id is not None

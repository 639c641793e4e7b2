"""Pure translation between discord.py objects and glutebot's vocabulary. No I/O here."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord

from bot.adapters.send_watch import note_leaving
from bot.engine.turn import lasting_done
from bot.model import ChatRef, Delivery, Platform, Unreadable
from bot.parse import Command, Word, parse
from bot.render import Button
from bot.schedule_words import is_off, setup_words

# A button's custom_id is this prefix and the engine's Choice.value (at most 64 characters),
# so any glutebot button can be answered by any process, long after it was sent.
CUSTOM_ID_PREFIX = "glutebot:"
CUSTOM_ID_TEMPLATE = r"glutebot:(?P<value>[^\n]{1,64})"
BUTTONS_PER_MESSAGE = 25
LABEL_LIMIT = 80
# Message types a person writes; joins, pins, boosts and the like are left alone.
SPOKEN = frozenset({discord.MessageType.default, discord.MessageType.reply})
# Mentions of anyone (member, role, channel, @everyone and @here) and a server's own emoji,
# as Discord writes them in a message's text. None of it is words for the engine: the
# digits of "done <@123>" would read as a count, and "done 15 <:glutes:123>" as an
# exercise it doesn't know.
CUSTOM_EMOJI = r"<a?:\w+:\d+>"
MARKUP = re.compile(rf"<(?:@[!&]?|#)\d+>|{CUSTOM_EMOJI}|(?<![\w@])@(?:everyone|here)\b")
# Discord's emphasis (bold, italics, underline, spoiler) is how a word looks, not what it
# says: "**done**" is a done. As Discord reads them, a marker opens only where a word
# starts and closes only where one ends, so "2*10*3" and snake_case are left as typed.
EMPHASIS = re.compile(r"(?<![\w\\])(\*\*|\*|__|_|\|\|)(?=\S)(.+?)(?<=\S)\1(?!\w)", re.DOTALL)
# Struck-through words are words taken back: "~~done~~" says it wasn't done.
STRUCK = re.compile(r"(?<![\w\\])~~(?=\S)(.+?)(?<=\S)~~(?!\w)", re.DOTALL)
# A heading ("# ", "## ", "### ") or small print ("-# ") is how a line looks: "# done 15"
# is a "done 15". A quote ("> " for a line, ">>> " for the rest) is someone's earlier
# words, which say nothing of the person quoting them.
LINE_STYLE = re.compile(r"^[ \t]*(?:#{1,3}|-#)[ \t]+", re.MULTILINE)
QUOTED = re.compile(r"^[ \t]*(?:>>>[ \t][\s\S]*|>[ \t][^\n]*)", re.MULTILINE)
# A message that only mentions the bot says hello (as on Telegram).
HELLO = Word.HELLO.value
# The channel as the engine reads it from /setup's first word (bot/engine/community.py).


def message_key(message: discord.Message) -> str:
    return f"dc:m:{message.id}"


def interaction_key(interaction: discord.Interaction[Any]) -> str:
    return f"dc:i:{interaction.id}"


def chat_for_message(message: discord.Message) -> ChatRef:
    guild = message.guild
    return ChatRef(
        Platform.DISCORD,
        str(message.author.id),
        str(message.channel.id),
        None if guild is None else str(guild.id),
    )


def chat_for_interaction(interaction: discord.Interaction[Any]) -> ChatRef:
    channel_id = interaction.channel_id or interaction.user.id
    return ChatRef(
        Platform.DISCORD,
        str(interaction.user.id),
        str(channel_id),
        None if interaction.guild_id is None else str(interaction.guild_id),
    )


def member_is_admin(author: discord.User | discord.Member) -> bool:
    return isinstance(author, discord.Member) and author.guild_permissions.manage_guild


def interaction_is_admin(interaction: discord.Interaction[Any]) -> bool:
    return interaction.guild_id is not None and interaction.permissions.manage_guild


@dataclass(frozen=True)
class Said:
    # For the engine: no mentions, no custom emoji (see `MARKUP`), no emphasis markers and
    # no struck-through words (see `EMPHASIS`, `STRUCK`).
    text: str
    # In a server: meant for the bot (a mention of it or its role, a reply to it).
    addressed: bool
    # As typed, less the mention of the bot: a typed /setup names its channel as <#…>.
    typed: str


def what_was_said(message: discord.Message, me: discord.ClientUser) -> Said | None:
    """What a message says, or None when no text is left (an image, a quote alone, a
    mention of someone else alone, or a server message whose content Discord withheld).
    A message that only mentions the bot is a hello."""
    typed = _text_of(message)
    for token in _mentions_of(me, message.guild):
        typed = typed.replace(token, " ")
    typed = typed.strip()
    if not typed and message.content.strip():
        return Said(HELLO, addressed=True, typed=typed)
    text = LINE_STYLE.sub("", QUOTED.sub("", MARKUP.sub(" ", typed)))
    text = _without_emphasis(text).strip()
    if not text:
        return None
    return Said(text, addressed=_meant_for_me(message, me), typed=typed)


def unreadable_in(message: discord.Message) -> Unreadable | None:
    """What a message with no words for the engine held instead: a file, sticker, poll or
    custom emoji (MEDIA), or a quote and nothing else (QUOTE); None when it held nothing
    the bot can name (a mention of someone else, struck-through words): an empty message."""
    text = _text_of(message)
    unquoted = QUOTED.sub("", text)
    sent: list[discord.Message | discord.MessageSnapshot] = [message, *_forwarded(message)]
    files = any(each.attachments or each.stickers for each in sent)
    if files or message.poll is not None or re.search(CUSTOM_EMOJI, unquoted):
        return Unreadable.MEDIA
    return Unreadable.QUOTE if unquoted != text else None


def _text_of(message: discord.Message) -> str:
    """The message's text, or, for a message forwarded into a DM, the forwarded one's: as
    on Telegram, forwarded to the bot in private it counts as if typed there. (In a server
    a forward is someone's earlier words passed on, asking the bot nothing: unread.)"""
    return message.content or "".join(sent.content for sent in _forwarded(message))


def _forwarded(message: discord.Message) -> list[discord.MessageSnapshot]:
    """The messages a DM forwards (see `_text_of`); none for one in a server."""
    return message.message_snapshots if message.guild is None else []


def _without_emphasis(text: str) -> str:
    # Again until nothing changes: markers nest ("***done***", "**__done__**").
    while (plain := STRUCK.sub(" ", EMPHASIS.sub(r"\2", text))) != text:
        text = plain
    return text


def _mentions_of(me: discord.ClientUser, guild: discord.Guild | None) -> list[str]:
    own_role = None if guild is None else guild.self_role
    return [f"<@{me.id}>", f"<@!{me.id}>", *([own_role.mention] if own_role else [])]


def _meant_for_me(message: discord.Message, me: discord.ClientUser) -> bool:
    """A DM, or in a server a mention of the bot or its role, or a reply to it."""
    guild = message.guild
    if guild is None:
        return True
    own_role = guild.self_role
    if any(user.id == me.id for user in message.mentions) or (
        own_role is not None and own_role in message.role_mentions
    ):
        return True
    replied = message.reference.resolved if message.reference is not None else None
    return isinstance(replied, discord.Message) and replied.author.id == me.id


def setup_channel(text: str) -> int | None:
    """The channel a /setup names ("/setup <#123> ...", "/setup@glutebot 123 ..."), so the
    bot can check it may post there first. Read with the engine's own parser: any spelling
    the engine takes for /setup is checked. Switching the posts off names none to post in."""
    intent = parse(text)
    if not isinstance(intent, Command) or intent.name != "setup":
        return None
    channel, fields = setup_words(intent.arg)
    return None if channel is None or is_off(fields) else int(channel)


def can_post(guild: discord.Guild | None, channel_id: int) -> bool:
    """The bot may post in this channel of this server (a channel elsewhere: no)."""
    if guild is None:
        return False
    channel = guild.get_channel_or_thread(channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        return False
    perms = channel.permissions_for(guild.me)
    return perms.view_channel and perms.send_messages


class ChoiceButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID_TEMPLATE
):
    """Any glutebot button. Parsed from its custom_id when pressed, so it needs no state
    in memory and keeps working after a restart; the engine decides if it is stale."""

    def __init__(self, value: str, label: str = "\u200b") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:LABEL_LIMIT],
                custom_id=CUSTOM_ID_PREFIX + value,
                style=discord.ButtonStyle.secondary,
            )
        )
        self.value = value

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> ChoiceButton:
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(match["value"], label or "\u200b")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        pressed = getattr(interaction.client, "on_choice", None)
        if pressed is not None:
            await pressed(interaction, self.value)


def buttons_view(buttons: Sequence[Button]) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons[:BUTTONS_PER_MESSAGE]:
        view.add_item(ChoiceButton(button.value, button.label))
    return _detached(view)


def answered_view(message: discord.Message, custom_id: str | None) -> discord.ui.View:
    """The message's buttons disabled, the pressed one (if it answered) highlighted: a
    personal question shows what was answered and can't be answered twice. A Done button
    for a whole session stays pressable (see `lasting_done`)."""
    view = discord.ui.View.from_message(message, timeout=None)
    for item in view.children:
        if isinstance(item, discord.ui.Button):
            value = (item.custom_id or "").removeprefix(CUSTOM_ID_PREFIX)
            item.disabled = item.custom_id == custom_id or not lasting_done(value)
            if item.custom_id == custom_id:
                item.style = discord.ButtonStyle.primary
    return _detached(view)


def _detached(view: discord.ui.View) -> discord.ui.View:
    # A stopped view still renders its components, but discord.py won't keep it in
    # memory for each message sent. Presses reach ChoiceButton through its template,
    # registered once per bot; a stored ephemeral view would even unregister that
    # template when it times out after 15 minutes.
    view.stop()
    return view


def replied_buttons(message: discord.Message, me: discord.abc.User) -> tuple[str, ...] | None:
    """The values of the buttons still pressable on the bot's message that `message`
    replies to (none: ()); None when it replies to no message of the bot's that Discord
    sent along (see Incoming)."""
    reference = message.reference
    earlier = reference.resolved if reference is not None else None
    if not isinstance(earlier, discord.Message):
        return None
    if earlier.author.id != me.id:
        return None
    return tuple(
        button.custom_id.removeprefix(CUSTOM_ID_PREFIX)
        for row in earlier.components
        if isinstance(row, discord.ActionRow)
        for button in row.children
        if isinstance(button, discord.Button) and button.custom_id and not button.disabled
    )


def is_personal(message: discord.Message | None) -> bool:
    """Only its owner sees this message: ephemeral, or in a DM."""
    return message is not None and (message.flags.ephemeral or message.guild is None)


def delivery_for(error: BaseException, *, in_server: bool = False) -> Delivery:
    """How a failed send ends: GONE (never retry), RETRY (later), or SENT (give up).

    `in_server`: the send was to a channel of a server the bot is still in. A refusal there
    (a permission taken away) is an admin's to fix, so only that send is given up; a DM
    refused means the person blocked the bot."""
    if isinstance(error, discord.Forbidden):
        return Delivery.SENT if in_server else Delivery.GONE
    if isinstance(error, discord.NotFound):  # the channel was deleted
        return Delivery.GONE
    if isinstance(error, discord.DiscordServerError):
        return Delivery.RETRY
    if isinstance(error, discord.HTTPException):
        # 429 survived discord.py's own waiting; any other refusal would repeat.
        return Delivery.RETRY if error.status == 429 else Delivery.SENT
    if isinstance(error, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        # Scheduled messages go at most once: one that may have arrived counts as sent.
        return Delivery.SENT if may_have_arrived(error) else Delivery.RETRY
    return Delivery.SENT


def may_have_arrived(error: BaseException) -> bool:
    """A connection that broke or timed out once the request was on its way. One never
    made (refused, a name that doesn't resolve, timed out connecting) sent nothing."""
    return not isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


# What a call to Discord may fail with: a refusal, or the connection.
SendError = (discord.HTTPException, aiohttp.ClientError, OSError, asyncio.TimeoutError)


def place(chat: ChatRef) -> str:
    """Where a send went, for the operator's log: the ids to look up, and fix."""
    if chat.community is None:
        return f"DM channel {chat.chat_id}"
    return f"channel {chat.chat_id} of server {chat.community}"


def describe(error: BaseException) -> str:
    if isinstance(error, discord.HTTPException):
        return f"{error.status} {error.code} {error.text}".strip()
    return f"{type(error).__name__}: {error}"


def message_posts_watched() -> aiohttp.TraceConfig:
    """discord.py's HTTP hook, noting for `send_watch` each message posted as it leaves,
    and taking the note back when Discord answers 429 (discord.py then waits and tries
    again). Other requests (opening a DM's channel, say) deliver nothing."""
    trace = aiohttp.TraceConfig()

    async def leaving(
        _: aiohttp.ClientSession, call: SimpleNamespace, request: aiohttp.TraceRequestStartParams
    ) -> None:
        if request.method == "POST" and request.url.path.endswith("/messages"):
            call.refused = note_leaving()

    async def answered(
        _: aiohttp.ClientSession, call: SimpleNamespace, request: aiohttp.TraceRequestEndParams
    ) -> None:
        if request.response.status == 429 and hasattr(call, "refused"):
            call.refused()

    trace.on_request_start.append(leaving)
    trace.on_request_end.append(answered)
    return trace

"""Pure translation between Bot API objects and glutebot's vocabulary. No I/O here."""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from telegram import (
    CallbackQuery,
    Chat,
    MaybeInaccessibleMessage,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    TelegramError,
    TimedOut,
)

from bot.adapters.base import Delivery, RecentKeys
from bot.engine.core import LINKABLE_PAGES
from bot.engine.turn import lasting_done
from bot.model import ChatRef, Platform
from bot.render import MESSAGES_DIR, Button

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
# Labels up to this long share a row of buttons (three at most).
SHORT_LABEL = 12
# A Bot API object as sent: what the adapter builds instead of PTB's classes.
JSON = dict[str, Any]
_GONE_REASONS = ("chat not found", "user not found", "group chat was deactivated")
# A tag in rendered HTML: escaping leaves user text no "<" of its own.
_TAG = re.compile(r"<[^>]*>")
# What a message that only mentions the bot ("@glutebot") means: hello. On Telegram that
# is "/start" (the app sends it when someone opens the bot), and a command, unlike "hi",
# means the same in every language.
HELLO = "/start"


@dataclass(frozen=True)
class Wording:
    """Telegram-only wording: the command menus and the deep-link button."""

    commands: Mapping[str, str]
    group_commands: Mapping[str, str]  # a group's menu adds these
    labels: Mapping[str, str]

    @classmethod
    def load(cls, locale: str = "en", messages_dir: Path = MESSAGES_DIR) -> Wording:
        path = messages_dir / locale / "telegram" / "telegram.toml"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(
            commands=data["commands"],
            group_commands=data["group_commands"],
            labels=data["labels"],
        )


def is_private(chat: Chat) -> bool:
    return chat.type == Chat.PRIVATE


@dataclass(frozen=True)
class Place:
    """Where a message goes: a chat and, in a forum supergroup, the topic in it. A thread
    known only as a message's (`topic_of`) is reached by replying to that message: Telegram
    puts a reply in the topic or thread of the message it answers."""

    chat_id: str
    thread_id: int | None = None
    topic_of: int | None = None


def place_of(message: MaybeInaccessibleMessage) -> Place:
    """Where answers to `message` go: its chat, in its topic or thread if it is in one.
    Only a forum's topic can be sent to by its id: a thread that is none (the comments
    under a channel's post, in the channel's discussion group; any chain of replies in a
    supergroup) is reached by replying to the message. So is a message's topic when the
    message is too old to read (48 hours), as it then says nothing about its topic: else the
    answers would land in a forum's General topic."""
    chat_id = str(message.chat.id)
    content = readable(message)
    if content is not None and content.is_topic_message:
        return Place(chat_id, content.message_thread_id)
    if is_private(message.chat):
        return Place(chat_id)
    if content is None or content.message_thread_id is not None:
        return Place(chat_id, topic_of=message.message_id)
    return Place(chat_id)


def telegram_length(text: str) -> int:
    """The length Telegram counts for a `parse_mode=HTML` text: UTF-16 code units of
    what it shows. A tag counts nothing, "&amp;" one, an emoji beyond the BMP two."""
    return utf16_length(html.unescape(_TAG.sub("", text)))


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clipped(text: str, limit: int) -> str:
    """The start of a plain `text` that Telegram counts as at most `limit` long."""
    return text.encode("utf-16-le")[: 2 * limit].decode("utf-16-le", errors="ignore")


def chat_ref(chat: Chat, sender: User | Chat) -> ChatRef:
    """`sender`: the person, or the chat a group message was posted as (an admin posting
    anonymously, as the group, or someone posting as a channel)."""
    community = None if is_private(chat) else str(chat.id)
    return ChatRef(Platform.TELEGRAM, str(sender.id), str(chat.id), community)


def message_key(message: Message) -> str:
    # Stable across redelivery and unique forever, unlike update ids, which Telegram
    # may restart at random after a quiet week.
    if message.media_group_id is not None and not message.caption:
        # An album comes as a message per item, but was sent as one: its items without a
        # caption share a key, so they don't each get "I can only read text". An item
        # with a caption (the first photo's, or a file group's last file's) is read.
        return album_key(message)
    return f"tg:m:{message.chat.id}:{message.message_id}"


def replied_buttons(message: Message, me: User) -> tuple[str, ...] | None:
    """The button values of the bot's message that `message` replies to (none left: ());
    None when it replies to no message of the bot's (see Incoming)."""
    earlier = message.reply_to_message
    if earlier is None or earlier.from_user is None:
        return None
    if earlier.from_user.id != me.id:
        return None
    markup = earlier.reply_markup
    rows = markup.inline_keyboard if markup is not None else ()
    return tuple(
        key.callback_data for row in rows for key in row if isinstance(key.callback_data, str)
    )


def album_key(message: Message) -> str:
    return f"tg:a:{message.chat.id}:{message.media_group_id}"


def press_key(query: CallbackQuery, *, each_press: bool = False) -> str:
    """A button press's event key. In a private chat a message's buttons answer once (the
    press takes them away), so the key is the message: a second press, of any of them, sent
    before the buttons went, is then a press already handled. Only a Done button a press
    leaves (see `left_to_press`) is a press of its own, so its key names it too. In a group
    every member may press the same buttons, so each press is its own; and so is every
    press with `each_press` (buttons still there after their first press, see
    `OutlivedButtons`)."""
    message = query.message
    if message is not None and is_private(message.chat) and not each_press:
        key = f"tg:p:{message.chat.id}:{message.message_id}"
        return f"{key}:{query.data}" if query.data and lasting_done(query.data) else key
    return f"tg:c:{query.id}"


class OutlivedButtons:
    """Private messages whose buttons outlived their first press: the edit taking them
    away failed (Telegram busy, say). Until one succeeds, each press on them counts on its
    own; by `press_key` it would be that first press again, and the button would do
    nothing. Kept in memory, the latest `limit` of them: a restart forgets them."""

    def __init__(self, limit: int = 1000) -> None:
        self._messages = RecentKeys(limit)

    def __contains__(self, message: MaybeInaccessibleMessage) -> bool:
        return (message.chat.id, message.message_id) in self._messages

    def note(self, message: MaybeInaccessibleMessage, *, taken_away: bool) -> None:
        key = (message.chat.id, message.message_id)
        if taken_away:
            self._messages.forget(key)
        else:
            self._messages.note(key)


def lane_of(update: Update) -> Hashable:
    chat = update.effective_chat
    return chat.id if chat is not None else f"update:{update.update_id}"


@dataclass(frozen=True)
class Said:
    text: str
    # In a group: meant for the bot (a command, a mention, a reply to it). The engine
    # ignores other group chatter, apart from "done" messages.
    addressed: bool


def what_was_said(message: Message, me: User) -> Said | None:
    """The text for the engine (a photo's caption is read as text); None for what isn't
    for the bot: a command in a group meant for another bot, or a message forwarded into
    a group (someone's earlier words passed on, which ask the bot nothing and log nothing).

    A command loses its "@bot" suffix and mentions of the bot are cut out, in any chat, so
    "/done@bot 5", "/done 5 @bot" and "@bot done 5" all reach the engine as what the person
    meant. A message that only mentions the bot is a hello.
    """
    if message.forward_origin is not None and not is_private(message.chat):
        return None
    if message.text is not None:
        text, entities = message.text, message.entities
    else:
        text, entities = message.caption or "", message.caption_entities
    private = is_private(message.chat)
    command = _leading_command(text, entities)
    said, mentioned = _without_mentions(text, entities, me)
    if command is not None:
        name, _, target = command.partition("@")
        # In a private chat no other bot reads along: "/done@other_bot" there (a typo, or
        # copied from a group) was meant for this one.
        if target and target.lower() != (me.username or "").lower() and not private:
            return None
        # Only "/cmd@thisbot" or a mention names the bot: in a group, a bare "/cmd" may be
        # another's. (Mentions come after the command, so `said` still starts with it.)
        named = bool(target) or mentioned
        return Said(name + said[len(command) :], addressed=named or private)
    if mentioned and not said:
        return Said(HELLO, addressed=True)
    replied = message.reply_to_message
    to_me = replied is not None and replied.from_user is not None and replied.from_user.id == me.id
    return Said(said, addressed=private or mentioned or to_me)


def _without_mentions(text: str, entities: Sequence[MessageEntity], me: User) -> tuple[str, bool]:
    """`text` with every mention of the bot cut out, and whether it had one. Only an
    entity marks which "@glutebot" is the mention ("@glutebot_fan" starts alike)."""
    handle = f"@{me.username}".lower()
    mine = [
        entity
        for entity in entities
        if entity.type == MessageEntity.MENTION and _marked(text, entity).lower() == handle
    ]
    if not mine:
        return text, False
    # The last first: cutting one moves what follows it, not the offsets before it.
    for entity in sorted(mine, key=lambda entity: entity.offset, reverse=True):
        text = _cut(text, entity)
    return text.strip(), True


def _marked(text: str, entity: MessageEntity) -> str:
    """The part of `text` the entity marks (its offsets count UTF-16 code units)."""
    units = text.encode("utf-16-le")
    return units[2 * entity.offset : 2 * (entity.offset + entity.length)].decode("utf-16-le")


def _cut(text: str, entity: MessageEntity) -> str:
    """`text` with the entity replaced by a space (offsets count UTF-16 code units)."""
    units = text.encode("utf-16-le")
    start, end = 2 * entity.offset, 2 * (entity.offset + entity.length)
    return f"{units[:start].decode('utf-16-le')} {units[end:].decode('utf-16-le')}"


def _leading_command(text: str, entities: Sequence[MessageEntity]) -> str | None:
    for entity in entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            command = _marked(text, entity)
            return command if text.startswith(command) else None
    return None


def deep_link(bot_username: str, page: str | None) -> str:
    link = f"https://t.me/{bot_username}"
    return f"{link}?start={page}" if page else link


def deep_link_page(text: str, choice: str | None) -> str | None:
    """The page a person was opening when their reply had to move to a private chat: the
    button's, or the command's ("/stats", or "stats" said to the bot). Only pages: showing
    them again through a link changes nothing."""
    if choice is not None:
        head, _, rest = choice.partition(":")
        name = rest.partition(":")[0] if head == "do" else head
    else:
        match = re.match(r"/?([A-Za-z0-9_]+)", text.strip())
        name = match.group(1).lower() if match else ""
    return name if name in LINKABLE_PAGES else None


def keyboard(buttons: Sequence[Button]) -> JSON | None:
    """An inline keyboard as the Bot API's JSON."""
    if not buttons:
        return None
    width = 3 if all(len(b.label) <= SHORT_LABEL for b in buttons) else 1
    keys = [{"text": b.label, "callback_data": b.value} for b in buttons]
    return {"inline_keyboard": [keys[i : i + width] for i in range(0, len(keys), width)]}


def chosen_label(message: Message, data: str) -> str | None:
    """The label of the pressed button, read from the message it belongs to."""
    markup = message.reply_markup
    rows = markup.inline_keyboard if markup is not None else ()
    for row in rows:
        for key in row:
            if key.callback_data == data:
                return key.text
    return None


def readable(message: MaybeInaccessibleMessage) -> Message | None:
    """The message's content, unless it is too old for Telegram to send (48 hours: then
    PTB gives a message dated 0, of either type, with nothing in it)."""
    return message if isinstance(message, Message) and message.is_accessible else None


def has_buttons(message: MaybeInaccessibleMessage) -> bool:
    """Whether a message may still show buttons: one too old to read may."""
    content = readable(message)
    return content is None or content.reply_markup is not None


def left_to_press(message: Message, pressed: str) -> JSON | None:
    """The keyboard a private message keeps once its button `pressed` was answered: only
    a Done button for a whole session (see `lasting_done`)."""
    markup = message.reply_markup
    rows = markup.inline_keyboard if markup is not None else ()
    done = [
        Button(key.callback_data, key.text)
        for row in rows
        for key in row
        if isinstance(key.callback_data, str)
        and lasting_done(key.callback_data)
        and key.callback_data != pressed
    ]
    return keyboard(done)


def unchanged(error: TelegramError) -> bool:
    """Telegram refusing an edit that would change nothing: what it asked for holds."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


def never_started(error: TelegramError) -> bool:
    """The person never opened a private chat with the bot (as opposed to blocking it)."""
    return isinstance(error, Forbidden) and "initiate conversation" in error.message.lower()


def delivery_for(error: TelegramError) -> Delivery:
    """How a failed send ends: GONE (never retry), RETRY (later), or SENT (give up)."""
    if isinstance(error, Forbidden | ChatMigrated):
        return Delivery.GONE
    if isinstance(error, BadRequest):
        gone = any(reason in error.message.lower() for reason in _GONE_REASONS)
        # Any other refusal is about the message itself, and a retry would repeat it.
        return Delivery.GONE if gone else Delivery.SENT
    # Scheduled messages go at most once: one that may have arrived counts as sent.
    return Delivery.SENT if may_have_arrived(error) else Delivery.RETRY


def worth_retrying(error: TelegramError) -> bool:
    """A send that failed on the way, or on Telegram's side (5xx): worth trying again.
    Not one that may have arrived: sending it again would double it."""
    return (
        isinstance(error, NetworkError)
        and not isinstance(error, BadRequest)
        and not may_have_arrived(error)
    )


def may_have_arrived(error: TelegramError) -> bool:
    """A timeout once the request was on its way (waiting for the answer, or while
    sending it). One that never got a connection (from the pool, or to the server) did
    not arrive."""
    never_sent = isinstance(error.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)
    return isinstance(error, TimedOut) and not never_sent

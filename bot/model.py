"""The platform-neutral vocabulary shared by the engine, the store and the adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    DISCORD = "discord"


# Where choices are listed with numbers; elsewhere they are buttons without numbers, so a
# bare number typed there is more likely an answer in itself ("3" hours) than an option.
NUMBERED_CHOICES = frozenset({Platform.CONSOLE})


class Delivery(StrEnum):
    """How sending something nobody asked for just now (a scheduled prompt) went."""

    SENT = "sent"
    # The person blocked the bot, or the bot lost access to the channel: don't retry.
    GONE = "gone"
    # Nothing was sent, and trying again later may work (network, rate limit, 5xx).
    RETRY = "retry"


class PrivateReach(StrEnum):
    """How a private reply to something said in a group reaches the person."""

    # Shown to them alone where they asked (Discord's ephemeral answers to slash commands
    # and buttons), or there is no group (a private chat, the terminal).
    IN_PLACE = "in_place"
    # In their private chat with the bot, which the platform allows only once they have
    # written there (Telegram).
    IF_STARTED = "if_started"
    # No sure way: a Discord member may have closed their direct messages.
    UNSURE = "unsure"


class Unreadable(StrEnum):
    """What a message held instead of words for the bot (see Incoming.unreadable)."""

    # A photo, file, sticker, voice message, poll or custom emoji: nothing to read.
    MEDIA = "media"
    # Only a quote (Discord's "> "): someone's earlier words, none of the person's own.
    QUOTE = "quote"


@dataclass(frozen=True)
class ChatRef:
    """Who is talking, and where replies go.

    `user_id` identifies the person on that platform; `chat_id` is where a reply is
    posted (a Telegram chat, a Discord channel or DM). `community` is the group the
    message came from when it matters for shared views (a Discord guild id).
    """

    platform: Platform
    user_id: str
    chat_id: str
    community: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One thing a person did: typed text, a command, or a pressed button.

    `event_key` is unique per platform event (e.g. "tg:u:1234", "dc:m:987"): the engine
    handles each key at most once, so redelivered events change nothing.
    `choice` is set when a button was pressed; its value is a `Choice.value`.
    `addressed` says a message in a group (`chat.community` set) was meant for the bot (a
    mention, a reply to it, a slash command); other group chatter is ignored unless it logs
    reps ("done 15") or is a command.
    `private_reach` says how private replies to something said in a group reach the person
    (see PrivateReach); a group request whose answer can't reach them is not carried out.
    `unreadable` marks a private message with no words for the bot, and says what it held
    instead (see Unreadable): the person is told what the bot reads, and it still counts
    as hearing from them.
    `replied_buttons`: for a message sent as a reply to one of the bot's (where the
    platform has replies), the values of the buttons that message still shows; else None.
    In private, a reply to an earlier question is not taken as the answer to the current
    one; in a group, a "next" or "back" replying to a walk-through's step presses its
    button.
    `anonymous` marks a group message with no person behind it (on Telegram, an admin
    posting anonymously, as the group, or someone posting as a channel). It may show the
    group its own pages (help, the menus, the leaderboard); anything personal can't be
    tied to anyone, so it is declined. No one is recorded for it.
    `comes_again` says the platform delivers the event again if the bot stops before it
    says it is done with it (Telegram's updates): its answer is kept until the adapter
    calls `Engine.answered`, and a redelivery after a restart gets it.
    """

    chat: ChatRef
    event_key: str
    text: str = ""
    choice: str | None = None
    display_name: str = ""
    is_admin: bool = False
    addressed: bool = True
    private_reach: PrivateReach = PrivateReach.IN_PLACE
    unreadable: Unreadable | None = None
    replied_buttons: tuple[str, ...] | None = None
    anonymous: bool = False
    comes_again: bool = False


@dataclass(frozen=True)
class Choice:
    """A button or numbered option. `label` names an entry in messages/<locale>/labels.toml."""

    value: str
    label: str


# Not a message but a signal: the engine's whole answer to a group request whose answer is
# private and can't reach the person (see PrivateReach). Nothing was done; the adapter
# says how to ask privately in its own way (a Telegram link, a Discord slash command).
PRIVATE_CHAT_FIRST = "private_chat_first"
# The engine's apology when it could store nothing of an event: it may be tried again.
NOT_STORED = "error"


@dataclass(frozen=True)
class Reply:
    """One message to send: a template under messages/<locale>/ and its data.

    `private` replies hold personal data: adapters show them only to the person who asked
    (Telegram private chat, Discord ephemeral or DM). `logged` marks the acknowledgement of
    a rep log, which some platforms show as a reaction as well; `quiet` says that reaction
    alone is enough in a group chat (nothing new to tell). `to` sends the reply to another
    chat than the one the message came from (an admin's /prompt posts in the workout channel).
    """

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    private: bool = False
    logged: bool = False
    quiet: bool = False
    to: ChatRef | None = None

"""The Telegram adapter under random conversations: real python-telegram-bot and the real
engine over the fake Bot API (tests/fakes/telegram_api.py), driven the way Telegram does.

Three people talk in their private chats, in a basic group (which may be upgraded to a
supergroup, or remove the bot and add it back) and in a forum supergroup, in its General
topic and in a topic of its own. They type commands (with and without "@bot"), "done 15",
nonsense and huge or odd unicode; send photos, stickers and voice messages, captioned or
not; press the buttons of the newest message, of older ones (stale), buttons that no message
had (forged data), or buttons on messages too old for Telegram to send along; edit what
they typed or captioned earlier (into "done 20", from a "done" into anything, into
nonsense or huge unicode), in private and in the groups; block the bot and come back. The
bot restarts and Telegram delivers the last updates again (the same update ids), and any
Bot API call may meet a 429, a 5xx, a 400, a network error or a timeout.

Whatever happens:
- no exception reaches PTB's error handler, the poller or the engine's apology;
- every call the bot makes is valid by Telegram's rules (the fake's, plus: button texts
  not empty, callback data at most 64 bytes, a button either a callback or a link), and
  the only refusals are those of a chat the bot may no longer write to;
- every button press gets exactly one answerCallbackQuery, and a press on a button the
  message still shows does something or says why not;
- a private message always gets an answer, the whole of it (the person can't write while
  they block the bot: Telegram unblocks it first);
- a reminder reaches everyone but those who blocked the bot, who are marked so;
- a redelivered update changes nothing: no message, no edit, no reaction, no row;
- an edit never logs reps (nor changes them), is answered at most once, only with the note
  that a log stands as sent (in private also that an edited "done" logged nothing), and
  delivered again gets nothing;
- a text rendered for a private reply is never posted in a group, and an answer to a
  message in a forum topic stays in that topic;
- the reps in the database are exactly what the "Logged" answers said, less what "undo"
  said it removed, and a log that nothing went wrong for is acknowledged where it was made.

An injected failure excuses only what it can break for good (see `lost`): a 429 within
the rate limiter's retries or a 5xx within the adapter's must change nothing visible.

Set GLUTEBOT_TG_FUZZ_EXAMPLES to explore (random seeds, `--hypothesis-seed` honoured); by
default a fixed, modest run keeps the suite quick and stable. GLUTEBOT_TG_FUZZ_SHRINK=0
reports a failure at once, unshrunk. `--hypothesis-show-statistics` shows what a run
reached. Bugs it found (each now with its own test in tests/test_telegram.py): buttons a
failed edit left behind did nothing; a message that timed out cut its answer short; a
second press racing the first one's edit asked to remove buttons already gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from telegram.error import TimedOut
from telegram.ext import AIORateLimiter

from bot.adapters.telegram_adapter import SEND_ATTEMPTS, TelegramAdapter
from bot.app import Core
from bot.engine import Engine
from bot.engine.core import EDITED_LOG, EDITED_UNLOGGED, STALE_PRESS
from bot.model import Delivery, Incoming, Platform, Reply
from bot.render import Rendered, Renderer
from bot.runner import deliverer
from bot.scheduler import Prompt
from bot.store import Store
from bot.store.schedules import DisabledReason
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    JSON,
    TOKEN,
    ApiError,
    Call,
    FakeBotApi,
    Group,
    Person,
    Server,
)
from tests.isolates import keeps_the_isolate_rule
from tests.test_engine_fuzz import DONES, FORGED, LABELS, WORDS, remind_text
from tests.transcript import START, FakeClock, every_row, reps_by_person

EXPLORING = "GLUTEBOT_TG_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("GLUTEBOT_TG_FUZZ_EXAMPLES", "120"))
# Exploring, GLUTEBOT_TG_FUZZ_SHRINK=0 reports the first failure as found, unshrunk.
PHASES = (
    tuple(Phase)
    if os.environ.get("GLUTEBOT_TG_FUZZ_SHRINK", "1") != "0"
    else (Phase.explicit, Phase.reuse, Phase.generate)
)

ALICE = Person(1001, "Alice", "alice")
BOB = Person(1002, "Bob")
# Names are user text too: markup, template syntax, a right-to-left override, emoji.
CAROL = Person(1003, "<b>Carol</b> & {{ 7*7 }} \u202e🍑", "carol")
PEOPLE = (ALICE, BOB, CAROL)
BASIC = Group(-4242, "Desk Workers", type="group")
UPGRADED = Group(-1004242, "Desk Workers")
FORUM = Group(-100888, "Desk Forum", forum=True)

PRIVATE, GROUP, GENERAL, TOPIC = "private", "group", "general", "topic"
PLACES = (PRIVATE, GROUP, GENERAL, TOPIC)
MEDIA = ("photo", "sticker", "voice")

# Telegram's rules the fake leaves to us.
CALLBACK_DATA_LIMIT = 64  # bytes
TEXT_LIMIT = 4096  # what a person can type, in UTF-16 code units
CAPTION_LIMIT = 1024
APOLOGY = "something went wrong on my side"
# Refusals that are nobody's mistake: the person blocked the bot or never opened a chat
# with it, the bot was removed from a group, a group was upgraded meanwhile.
EXPECTED_REFUSALS = (
    "bot was blocked by the user",
    "bot can't initiate conversation",
    "bot was kicked",
    "group chat was upgraded to a supergroup chat",
)
RATE_LIMIT_RETRIES = 2
# PTB's rate limiter logs an error when it gives up after a 429 the test asked for.
RATE_LIMITER_LOG = "telegram.ext.AIORateLimiter"
ANSWERING_METHODS = frozenset({"sendMessage", "editMessageText", "setMessageReaction"})


# What people type.

COMMANDS = (
    "start", "check", "workout", "bridge", "lunge", "done", "undo", "stats", "remind",
    "stop", "forget", "cancel", "help", "leaderboard", "menu", "learn", "play",
)  # fmt: skip
COMMAND_ARGS = (
    "", "15", "12 lunges", "bridge 20", "check", "workout", "stats", "menu", "continue",
    "bogus", "hide", "show", "off", "x" * 300, "<b>hi</b>", "{{ 7*7 }}",
)  # fmt: skip
ODD = (
    "🍑" * 2048,  # 4,096 UTF-16 code units: the most Telegram lets anyone type
    "x" * 4096,
    "done " + "9" * 4000,
    "\u202e\x00\x1b[2J done 5",
    "a\u0301" * 500,  # combining accents
    "👩\u200d👩\u200d👧" * 100,  # joined emoji
    "<b>unclosed & <i>",
    "&amp;&lt;&#128;&#xD800;",
    "{{ 7*7 }}{% raw %}",
    "\ufeffdone 5",
    "\uff44\uff4f\uff4e\uff45\u3000\uff11\uff15",  # "done 15", full-width
    "done \u0661\u0665",  # Arabic-Indic digits
    "DONE 15",
    "/DONE 15",
    "/start check",
    "/start bogus",
    "/start do:done:abc",
    "/ done",
    "@",
    "\u200b",
    " ",
    f"@{BOT_USERNAME}",
    f"@{BOT_USERNAME.upper()} help",
    f"@{BOT_USERNAME}_fan done 5",
)


@st.composite
def command_text(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(COMMANDS))
    target = draw(st.sampled_from(("", "", f"@{BOT_USERNAME}", "@GluteBot_Test", "@other_bot")))
    arg = draw(st.sampled_from(COMMAND_ARGS))
    return f"/{name}{target} {arg}".strip()


TEXTS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(DONES),
    command_text(),
    remind_text(),
    st.sampled_from(LABELS),
    st.integers(-1, 12).map(str),
    st.text(max_size=40),
    st.sampled_from(ODD),
)
# What a message is edited to: a log or another count (a message that logged edited, or one
# that didn't edited into a "done"), or anything at all.
EDIT_TEXTS = st.one_of(
    st.sampled_from(("done", "done 15", "done 20", "/done 20", "done 12 lunges")),
    st.sampled_from(DONES),
    TEXTS,
)
FORGED_DATA = st.one_of(FORGED, st.text(min_size=1, max_size=64)).filter(
    lambda data: 0 < len(data.encode()) <= CALLBACK_DATA_LIMIT
)


# The steps.


@dataclass(frozen=True)
class Fault:
    """Telegram answers `method` badly, `times` times in a row, during one step."""

    method: str
    kind: str  # "429", "500", "400", "network" or "timeout" (after the work was done)
    times: int = 1


@dataclass(frozen=True)
class Say:
    person: Person
    place: str
    text: str
    how: Literal["plain", "reply", "mention", "forwarded"] = "plain"
    # Written before the bot was removed from the group, or before the group's upgrade,
    # and delivered after.
    late: bool = False


@dataclass(frozen=True)
class Send:
    person: Person
    place: str
    media: str
    caption: str | None = None


@dataclass(frozen=True)
class Press:
    person: Person
    place: str
    kind: Literal["latest", "stale", "forged", "inaccessible"]
    pick: int = 0
    data: str = ""  # a forged press's


@dataclass(frozen=True)
class Edit:
    """Someone edits one of the text messages typed so far (`pick`: which, from the newest
    back), in their private chat or a group the bot is in, to say `text`."""

    pick: int
    text: str


@dataclass(frozen=True)
class Block:
    person: Person
    told: bool  # Telegram tells the bot (my_chat_member); else it learns on its next send


@dataclass(frozen=True)
class Unblock:
    person: Person


@dataclass(frozen=True)
class Kick:
    """The bot is removed from the group (or, if it was, added back)."""

    by: Person
    told: bool


@dataclass(frozen=True)
class Upgrade:
    """The basic group becomes a supergroup, with a new id."""

    by: Person
    notices: bool  # the bot gets the two service messages


@dataclass(frozen=True)
class Redeliver:
    """The bot restarts before confirming the last `count` updates (0: a clean restart):
    Telegram delivers them again, with the same update ids."""

    count: int


@dataclass(frozen=True)
class Remind:
    """The scheduler sends someone's reminder (`asks`: the one asking whether to go on)."""

    pick: int
    asks: bool = False


@dataclass(frozen=True)
class Together:
    """Updates from different people, fetched in one getUpdates and handled concurrently."""

    actions: tuple[Say | Send | Press, ...]


Action = (
    Say | Send | Press | Edit | Block | Unblock | Kick | Upgrade | Redeliver | Remind | Together
)


@dataclass(frozen=True)
class Step:
    action: Action
    fault: Fault | None = None


FAULT_KINDS = ("429", "500", "400", "network", "timeout")
FAULTS = st.one_of(
    st.builds(
        Fault,
        st.sampled_from(
            (
                "sendMessage",
                "sendMessage",
                "answerCallbackQuery",
                "editMessageText",
                "editMessageReplyMarkup",
                "setMessageReaction",
            )
        ),
        st.sampled_from(FAULT_KINDS),
        st.integers(1, 3),
    ),
    # A 400 to getUpdates would be the bot's own mistake.
    st.builds(Fault, st.just("getUpdates"), st.sampled_from(("500", "network", "timeout"))),
)


# Words that move conversations along, so that they get somewhere.
STARTERS = (
    "/start", "/check", "/workout", "/bridge", "/lunge", "/stats", "/undo", "/forget",
    "/cancel", "/help", "/leaderboard", "done", "done 15", "yes", "no", "next", "back",
)  # fmt: skip


def actions(people: Sequence[Person], places: Sequence[str]) -> st.SearchStrategy[Action]:
    person, place = st.sampled_from(people), st.sampled_from(places)
    hows = st.sampled_from(("plain", "plain", "reply", "mention", "forwarded"))
    caption = st.one_of(st.none(), st.just(""), TEXTS)
    latest = st.builds(Press, person, place, st.just("latest"), st.integers(0, 1000))
    older = st.sampled_from(("stale", "inaccessible"))
    rare = st.one_of(
        st.builds(Block, person, st.booleans()),
        st.builds(Unblock, person),
        st.builds(Kick, person, st.booleans()),
        st.builds(Upgrade, person, st.booleans()),
        st.builds(Redeliver, st.integers(0, 3)),
    )
    reminders = st.builds(Remind, st.integers(0, 9), st.booleans())
    # Mostly of the latest messages: those still being corrected.
    edit = st.builds(Edit, st.one_of(st.integers(0, 2), st.integers(0, 1000)), EDIT_TEXTS)
    return st.one_of(
        st.builds(Say, person, place, TEXTS),
        st.builds(Say, person, place, st.sampled_from(STARTERS)),
        st.builds(Say, person, place, st.sampled_from(STARTERS)),
        st.builds(Say, person, place, TEXTS | st.sampled_from(STARTERS), hows, st.booleans()),
        st.builds(Send, person, place, st.sampled_from(MEDIA), caption),
        latest,
        latest,
        latest,
        latest,
        st.builds(Press, person, place, older, st.integers(0, 1000)),
        st.builds(Press, person, place, st.just("forged"), st.integers(0, 1000), FORGED_DATA),
        edit,
        edit,
        rare,
        rare,
        reminders,
        together(people, places),
    )


def together(people: Sequence[Person], places: Sequence[str]) -> st.SearchStrategy[Together]:
    place = st.sampled_from(places)

    def one(person: Person) -> st.SearchStrategy[Say | Send | Press]:
        return st.one_of(
            st.builds(Say, st.just(person), place, TEXTS | st.sampled_from(STARTERS)),
            st.builds(Press, st.just(person), place, st.just("latest"), st.integers(0, 9)),
        )

    return st.tuples(*map(one, people)).map(Together)


@st.composite
def conversations(draw: st.DrawFn, min_size: int = 5, max_size: int = 50) -> list[Step]:
    """Steps among a few of the places and people. A step may come several times in a
    row (the same button, pressed through a whole check), so conversations get somewhere."""
    # Private chats are where conversations go deepest: always among the places.
    others = draw(st.lists(st.sampled_from(PLACES[1:]), max_size=2, unique=True))
    places = [PRIVATE, *others]
    people = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True))
    action = actions(people, places)
    fault = st.one_of(st.none(), st.none(), st.none(), st.none(), FAULTS)
    times = st.sampled_from((1, 1, 1, 1, 2, 5, 10))
    runs = draw(st.lists(st.tuples(st.builds(Step, action, fault), times), min_size=min_size,
                         max_size=max_size))  # fmt: skip
    return [step for step, count in runs for step in [step] * count]


# The fake Bot API, recording how each call went.


@dataclass(frozen=True)
class Outcome:
    call: Call
    status: int | None  # None: the bot got no answer (a network error or a timeout)
    description: str
    injected: bool  # a failure the test asked for

    @property
    def done(self) -> bool:
        """The server did what was asked (a timeout comes after the work)."""
        return self.status == 200 or (self.status is None and self.description == "timeout")


class RecordingServer(Server):
    """The fake server, plus: how every call went, every keyboard a message ever had, and
    groups that removed the bot."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[Outcome] = []
        self.kicked: set[int] = set()
        # Every button ever shown on a message, by (chat, message id): a press may come
        # from a phone that hasn't seen the edit that took a button away.
        self.keyboards: dict[tuple[int, int], list[JSON]] = {}

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def clear_failures(self) -> None:
        self._failures.clear()

    async def call(self, method: str, params: Mapping[str, Any]) -> tuple[int, JSON]:
        # No await comes between this and the fake taking its failure off the queue.
        injected = bool(self._failures.get(method))
        index = len(self.calls)
        try:
            status, body = await super().call(method, params)
        except TimedOut:
            self.outcomes.append(Outcome(self.calls[index], None, "timeout", injected))
            raise
        except ConnectionResetError:
            self.outcomes.append(Outcome(self.calls[index], None, "network", injected))
            raise
        description = str(body.get("description", ""))
        self.outcomes.append(Outcome(self.calls[index], status, description, injected))
        return status, body

    def _chat(self, chat_id: int) -> JSON:
        if chat_id in self.kicked:
            kind = self.groups[chat_id].type
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        return super()._chat(chat_id)

    async def api_sendMessage(self, params: Mapping[str, Any]) -> JSON:
        return self._keep_keys(await super().api_sendMessage(params))

    async def api_editMessageText(self, params: Mapping[str, Any]) -> JSON:
        self._chat(int(params["chat_id"]))
        return self._keep_keys(await super().api_editMessageText(params))

    async def api_editMessageReplyMarkup(self, params: Mapping[str, Any]) -> JSON:
        self._chat(int(params["chat_id"]))
        return self._keep_keys(await super().api_editMessageReplyMarkup(params))

    async def api_setMessageReaction(self, params: Mapping[str, Any]) -> bool:
        # As for any call about a chat: none where the bot was removed or that was upgraded.
        self._chat(int(params["chat_id"]))
        return await super().api_setMessageReaction(params)

    def _keep_keys(self, message: JSON) -> JSON:
        keys = self.keyboards.setdefault((message["chat"]["id"], message["message_id"]), [])
        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
            keys.extend(key for key in row if "callback_data" in key and key not in keys)
        return message

    def membership(self, chat: JSON, by: Person, old: str, new: str) -> JSON:
        """The bot's membership of `chat` changed (a private chat: blocked or unblocked)."""
        change = {
            "chat": chat,
            "from": by.json(),
            "date": int(time.time()),
            "old_chat_member": self._member(old),
            "new_chat_member": self._member(new),
        }
        return {"update_id": self.next_update_id(), "my_chat_member": change}

    def _member(self, status: str) -> JSON:
        member: JSON = {"status": status, "user": self.me}
        if status == "kicked":
            member["until_date"] = 0
        return member


def private_chat(person: Person) -> JSON:
    chat = {**person.json(), "type": "private"}
    chat.pop("is_bot")
    return chat


# The engine and renderer, recording what they answered.


class RecordingEngine(Engine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handled: list[tuple[Incoming, list[Reply]]] = []
        self.edits: list[EditAnswered] = []

    async def handle(self, incoming: Incoming) -> list[Reply]:
        replies = await super().handle(incoming)
        self.handled.append((incoming, replies))
        return replies

    async def edited(self, incoming: Incoming, edit_key: str) -> list[Reply]:
        replies = await super().edited(incoming, edit_key)
        self.edits.append(EditAnswered(incoming, edit_key, replies))
        return replies


@dataclass(frozen=True)
class EditAnswered:
    incoming: Incoming
    key: str
    replies: list[Reply]


class RecordingRenderer(Renderer):
    def __init__(self) -> None:
        super().__init__()
        self.private_texts: set[str] = set()
        # Texts rendered for everyone as well: the same note may be private in a private
        # chat and go to a group as it is (an edited log's), with nothing of anyone's in it.
        self.public_texts: set[str] = set()

    def render(self, reply: Reply, platform: Platform) -> Rendered:
        rendered = super().render(reply, platform)
        if platform is Platform.TELEGRAM:
            texts = self.private_texts if reply.private else self.public_texts
            texts.add(rendered.text)
        return rendered

    def only_private(self, text: str) -> bool:
        """Whether `text` (or part of it, sent on its own) was rendered only privately."""
        return any(text in p and p not in self.public_texts for p in self.private_texts)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def recorded_logs() -> Iterator[Records]:
    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        yield records
    finally:
        root.removeHandler(records)


async def no_sleep(seconds: float) -> None:
    pass


def new_adapter(core: Core, server: Server) -> TelegramAdapter:
    limiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=RATE_LIMIT_RETRIES)
    return TelegramAdapter(
        core,
        TOKEN,
        request=FakeBotApi(server),
        rate_limiter=limiter,
        poll_timeout=1,
        sleep=no_sleep,
    )


# Playing the steps.


@dataclass(frozen=True)
class Delivered:
    update: JSON
    redelivery: bool = False
    # Whose private chat must get an answer (None: no answer owed).
    owed_to: int | None = None
    query_id: str | None = None
    forged: bool = False  # data no button had, maybe on a message with no buttons at all
    shown: bool = False  # a press on a button the message shows (not one taken away)
    # A message or press in a forum: the topic its answers belong in (0: General).
    thread: int | None = None
    edited: int | None = None  # an edit's: the id of the message edited


@dataclass
class World:
    server: RecordingServer
    core: Core
    engine: RecordingEngine
    renderer: RecordingRenderer
    logs: Records
    adapter: TelegramAdapter
    topic: int
    clock: FakeClock
    group: Group = BASIC
    upgraded: bool = False
    # Updates handled and confirmed, oldest first, that a restart may bring again.
    history: list[JSON] = field(default_factory=list)
    # Reps each person was told were logged, less what undo said it removed.
    told: dict[str, int] = field(default_factory=dict)
    # The edits answered so far (by whose, and the edit's key), each once at most.
    edits_answered: set[tuple[str, str]] = field(default_factory=set)

    @property
    def kicked(self) -> bool:
        return self.group.id in self.server.kicked

    def chat_of(self, person: Person, place: str) -> JSON:
        return private_chat(person) if place == PRIVATE else self.group_of(place).json()

    def group_of(self, place: str, late: bool = False) -> Group:
        if place == GROUP:
            return BASIC if late and self.upgraded else self.group
        return FORUM

    def thread_of(self, place: str) -> int | None:
        return self.topic if place == TOPIC else None

    def bot_messages(self, chat: JSON, place: str) -> list[JSON]:
        """The bot's messages a person sees in `place`, oldest first."""
        messages = self.server.bot_messages(int(chat["id"]))
        if place in (GENERAL, TOPIC):
            messages = [m for m in messages if m.get("message_thread_id") == self.thread_of(place)]
        return messages


def editable(world: World) -> list[JSON]:
    """What people typed or sent so far (as it reads now, after any edit), oldest first,
    where the bot is still there to see an edit: in private chats and the groups it is in
    (not the group an upgrade replaced): text, or a photo's or voice message's caption. Not
    a sticker, which has none, nor what they forwarded: no one may edit that."""
    server = world.server
    groups = {world.group.id, FORUM.id} - server.kicked
    typed = [
        message
        for message in server.messages.values()
        if message["from"]["id"] in server.people
        and any(said in message for said in ("text", "photo", "voice"))
        and "forward_origin" not in message
        and (message["chat"]["type"] == "private" or message["chat"]["id"] in groups)
    ]
    return sorted(typed, key=lambda message: int(message["message_id"]))


def readable(text: str, limit: int = TEXT_LIMIT) -> str:
    """What Telegram delivers of `text`: trimmed, and cut at 4,096 UTF-16 code units (a
    caption at 1,024). Nothing is left of one that is all spaces: it can't be sent."""
    cut = text.encode("utf-16-le")[: 2 * limit].decode("utf-16-le", errors="ignore")
    return cut.strip()


def unblocked_to_write(world: World, person: Person) -> list[Delivered]:
    """Someone who blocked the bot must unblock it before writing to it privately."""
    if person.id not in world.server.blocked:
        return []
    world.server.blocked.discard(person.id)
    update = world.server.membership(private_chat(person), person, "kicked", "member")
    return [Delivered(update)]


def said(world: World, say: Say) -> Delivered | None:
    server = world.server
    group = None if say.place == PRIVATE else world.group_of(say.place, say.late)
    if group is not None and group.id in server.kicked and not say.late:
        return None  # the bot isn't there to hear it
    text, reply_to, forwarded = readable(say.text), None, None
    if not text:
        return None
    if say.how == "mention":
        text = readable(f"@{BOT_USERNAME} {text}")
    elif say.how == "reply" and group is not None:
        mine = world.bot_messages(group.json(), say.place)
        reply_to = mine[-1] if mine else None
    elif say.how == "forwarded":
        forwarded = BOB if say.person != BOB else ALICE
    thread = world.thread_of(say.place) if group is not None and not say.late else None
    update = server.user_says(
        say.person, text, group, reply_to, topic=thread, forwarded_from=forwarded
    )
    owed = say.person.id if group is None else None
    return Delivered(update, owed_to=owed, thread=forum_thread(say.place, thread))


def forum_thread(place: str, thread: int | None) -> int | None:
    return (thread or 0) if place in (GENERAL, TOPIC) else None


def sent(world: World, send: Send) -> Delivered | None:
    if send.place != PRIVATE and world.kicked:
        return None
    group = None if send.place == PRIVATE else world.group_of(send.place)
    caption = readable(send.caption or "", CAPTION_LIMIT) or None
    if send.media == "sticker":
        caption = None  # stickers have none
    thread = world.thread_of(send.place) if group is not None else None
    update = world.server.user_sends(send.person, send.media, caption, group, topic=thread)
    owed = send.person.id if group is None else None
    return Delivered(update, owed_to=owed, thread=forum_thread(send.place, thread))


def pressed(world: World, press: Press) -> Delivered | None:
    if press.place != PRIVATE and world.kicked:
        return None
    chat = world.chat_of(press.person, press.place)
    messages = world.bot_messages(chat, press.place)
    keyed = [m for m in messages if world.server.keyboards.get((m["chat"]["id"], m["message_id"]))]
    if press.kind == "forged":
        if not messages:
            return None
        message, data = messages[-1 - press.pick % len(messages)], press.data
        shown = False
    else:
        candidates = keyed
        if press.kind == "latest":
            candidates = [m for m in keyed if m.get("reply_markup")][-1:]
        if not candidates:
            return None
        message = candidates[-1 - press.pick % len(candidates)]
        keys = world.server.keyboards[(message["chat"]["id"], message["message_id"])]
        if press.kind == "latest":
            rows = message["reply_markup"]["inline_keyboard"]
            keys = [key for row in rows for key in row if "callback_data" in key]
            if not keys:
                return None
        data = keys[press.pick % len(keys)]["callback_data"]
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        shown = any(key.get("callback_data") == data for row in rows for key in row)
        if press.kind == "inaccessible":  # older than 48 hours: Telegram sends no content
            message = {"chat": message["chat"], "message_id": message["message_id"], "date": 0}
    update = world.server.press(press.person, message, data)
    query_id = str(update["callback_query"]["id"])
    thread = message.get("message_thread_id") if press.place in (GENERAL, TOPIC) else None
    if press.kind == "inaccessible":
        thread = None
    place = forum_thread(press.place, thread)
    return Delivered(
        update,
        query_id=query_id,
        thread=place,
        forged=press.kind == "forged",
        shown=press.kind != "forged" and shown,
    )


def edited(world: World, edit: Edit) -> list[Delivered]:
    typed, text = editable(world), readable(edit.text)
    if not typed or not text:
        statistic("edit: nothing to edit")
        return []
    message = typed[-1 - edit.pick % len(typed)]
    chat = message["chat"]
    first = []
    if chat["type"] == "private":
        first = unblocked_to_write(world, world.server.people[int(chat["id"])])
    thread = None
    if chat["id"] == FORUM.id:  # in a topic, or else (0) in General
        thread = message["message_thread_id"] if message.get("is_topic_message") else 0
    update = world.server.edits(message, text)
    return [*first, Delivered(update, thread=thread, edited=int(message["message_id"]))]


def updates_for(world: World, action: Say | Send | Press) -> list[Delivered]:
    first: list[Delivered] = []
    if action.place == PRIVATE:
        first = unblocked_to_write(world, action.person)
    if isinstance(action, Say):
        made = said(world, action)
    elif isinstance(action, Send):
        made = sent(world, action)
    else:
        made = pressed(world, action)
    return [*first, made] if made is not None else first


async def deliver(world: World, deliveries: Sequence[Delivered]) -> None:
    """Pushes the updates and waits until the bot confirmed them all."""
    if not deliveries:
        return
    server = world.server
    for delivered in deliveries:
        server.push(delivered.update)
    # A sentinel the bot ignores, with a fresh id: confirming it confirms all before it
    # (a redelivered update's id is below what was confirmed already).
    sentinel = server.membership(FORUM.json(), ALICE, "member", "member")
    await server.confirmed(server.push(sentinel))
    world.history.extend(d.update for d in deliveries if not d.redelivery)


async def act(world: World, action: Action, fault: Fault | None) -> list[Delivered]:
    server = world.server
    if isinstance(action, Say | Send | Press):
        deliveries = updates_for(world, action)
    elif isinstance(action, Edit):
        deliveries = edited(world, action)
    elif isinstance(action, Together):
        deliveries = [d for each in action.actions for d in updates_for(world, each)]
    elif isinstance(action, Block):
        if action.person.id in server.blocked:
            return []
        server.blocked.add(action.person.id)
        if not action.told:
            return []
        chat = private_chat(action.person)
        deliveries = [Delivered(server.membership(chat, action.person, "member", "kicked"))]
    elif isinstance(action, Unblock):
        deliveries = unblocked_to_write(world, action.person)
    elif isinstance(action, Kick):
        deliveries = kick(world, action)
    elif isinstance(action, Remind):
        await remind(world, action, fault)
        return []
    elif isinstance(action, Upgrade):
        if world.upgraded or world.kicked:
            return []
        world.upgraded, world.group = True, UPGRADED
        notices = server.upgrades(BASIC, UPGRADED, by=action.by)
        deliveries = [Delivered(update) for update in notices] if action.notices else []
    else:
        await restart(world)
        again = world.history[len(world.history) - action.count :] if action.count else []
        deliveries = [Delivered(update, redelivery=True) for update in again]
    await deliver(world, deliveries)
    return deliveries


async def remind(world: World, remind: Remind, fault: Fault | None) -> None:
    """Sends a reminder as `glutebot run` does; someone who blocked the bot is gone (and
    marked so), anyone else gets it."""
    store = world.core.store
    owners = await store.db.fetchall("SELECT owner FROM schedules WHERE enabled = 1")
    if not owners:
        return
    schedule = await store.schedules.get(str(owners[remind.pick % len(owners)][0]))
    assert schedule is not None
    assert schedule.next_day is not None
    prompt = Prompt(schedule, schedule.next_day, asks_to_continue=remind.asks)
    deliver = deliverer(world.core, {Platform.TELEGRAM: world.adapter})
    delivery = await deliver(prompt)
    person = int(schedule.target)
    user = await store.users.get(Platform.TELEGRAM, schedule.target)
    assert user is not None
    if person in world.server.blocked:
        assert delivery is Delivery.GONE, delivery
        assert user.blocked
        await store.schedules.disable(schedule.id, DisabledReason.GONE, world.clock())
    elif not lost(fault, "sendMessage"):
        assert delivery is Delivery.SENT, delivery


def kick(world: World, kick: Kick) -> list[Delivered]:
    server, group = world.server, world.group
    if world.kicked:
        server.kicked.discard(group.id)
        return [Delivered(server.membership(group.json(), kick.by, "left", "member"))]
    server.kicked.add(group.id)
    if not kick.told:
        return []
    return [Delivered(server.membership(group.json(), kick.by, "member", "kicked"))]


async def restart(world: World) -> None:
    await world.adapter.stop()
    world.adapter = new_adapter(world.core, world.server)
    await world.adapter.start()


# The invariants.


def lost(fault: Fault | None, *methods: str) -> bool:
    """The step's fault may have made a call to one of `methods` fail for good. PTB's rate
    limiter waits out a 429 twice (as set up here); the adapter sends a message three
    times in all after a 5xx or a network error; a timeout comes after the work is done."""
    if fault is None or fault.method not in methods or fault.kind == "timeout":
        return False
    if fault.kind == "429":
        return fault.times > RATE_LIMIT_RETRIES
    if fault.kind in ("500", "network") and fault.method == "sendMessage":
        return fault.times >= SEND_ATTEMPTS
    return True


def check_call(outcome: Outcome, raced: bool) -> None:
    """Valid by Telegram's rules (and by glutebot's own for direction controls), and refused
    only where the bot may no longer write. Forged
    data may be met by removing buttons the message never had ("message is not modified"),
    and so, for now, may a press `raced` ahead of the edit that took its button away."""
    call = outcome.call
    assert keeps_the_isolate_rule(str(call.params.get("text", ""))), call
    markup = call.params.get("reply_markup")
    if markup is not None:
        for row in markup["inline_keyboard"]:
            assert row, call
            for key in row:
                assert str(key["text"]).strip(), call
                assert ("callback_data" in key) != ("url" in key), call
                if "callback_data" in key:
                    data = str(key["callback_data"])
                    assert 0 < len(data.encode()) <= CALLBACK_DATA_LIMIT, call
    if outcome.status is None or outcome.status == 200 or outcome.injected:
        return
    if raced and outcome.description == "Bad Request: message is not modified":
        # Forged data: a button no message had.
        return
    assert any(reason in outcome.description for reason in EXPECTED_REFUSALS), (
        f"{call.method} refused: {outcome.description}",
        call,
    )


def answers_in(outcomes: Sequence[Outcome], chat_id: int) -> list[Outcome]:
    return [
        o
        for o in outcomes
        if o.call.method in ANSWERING_METHODS and str(o.call.params["chat_id"]) == str(chat_id)
    ]


def check_step(world: World, step: Step, deliveries: Sequence[Delivered], since: int) -> None:
    outcomes = world.server.outcomes[since:]
    raced = any(d.forged for d in deliveries)
    for outcome in outcomes:
        check_call(outcome, raced)
        text = str(outcome.call.params.get("text", ""))
        assert APOLOGY not in text, (step, outcome.call)
        if outcome.call.method == "sendMessage" and int(outcome.call.params["chat_id"]) < 0:
            assert not world.renderer.only_private(text), (
                "a private answer was posted in a group",
                step,
                outcome.call,
            )
    for delivered in deliveries:
        if delivered.query_id is not None:
            answers = [
                o
                for o in outcomes
                if o.call.method == "answerCallbackQuery"
                and o.call.params["callback_query_id"] == delivered.query_id
            ]
            done = [o for o in answers if o.done]
            assert answers, ("a press was never answered", step, delivered.update)
            assert len(done) <= 1, ("a press was answered twice", step, answers)
            if not lost(step.fault, "answerCallbackQuery"):
                assert len(done) == 1, ("a press was not answered", step, answers)
            # Someone who blocked the bot gets nothing for what goes to their private chat.
            blocked = any(o.status == 403 for o in outcomes)
            excused = blocked or lost(step.fault, "answerCallbackQuery", "sendMessage")
            if delivered.shown and not excused:
                # A button on show does something, or says why not.
                visible = [o for o in outcomes if o.done and o.call.method != "getUpdates"]
                assert any(
                    o.call.method != "answerCallbackQuery" or o.call.params.get("text")
                    for o in visible
                ), ("a press on a button on show did nothing", step, delivered.update)
        if delivered.owed_to is not None and not lost(step.fault, "sendMessage"):
            answered = [o for o in answers_in(outcomes, delivered.owed_to) if o.done]
            assert answered, ("a private message got no answer", step, delivered.update)
    if deliveries and all(d.redelivery for d in deliveries):
        changed = [o.call for o in outcomes if o.call.method != "answerCallbackQuery"]
        changed = [c for c in changed if c.method != "getUpdates" and c.method != "getMe"]
        changed = [c for c in changed if c.method not in ("deleteWebhook", "setMyCommands")]
        assert changed == [], ("a redelivered update was answered again", step, changed)
    if len(deliveries) == 1 and not isinstance(step.action, Together):
        check_topic(outcomes, deliveries[0], step)


def check_whole_answers(
    step: Step,
    deliveries: Sequence[Delivered],
    answered: Sequence[tuple[Incoming, list[Reply]]],
    outcomes: Sequence[Outcome],
) -> None:
    """A private chat gets the whole answer (at least a message per reply), unless a
    message failed for good."""
    if isinstance(step.action, Together) or lost(step.fault, "sendMessage"):
        return
    if not any(d.owed_to or d.query_id for d in deliveries):
        return
    for incoming, replies in answered:
        chat = incoming.chat
        if chat.community is not None or refused(outcomes, chat.chat_id):
            continue
        messages = [
            o
            for o in outcomes
            if o.done
            and o.call.method == "sendMessage"
            and o.call.params["chat_id"] == chat.chat_id
        ]
        shown = [reply for reply in replies if reply.template != STALE_PRESS]  # a pop-up
        assert len(messages) >= len(shown), (
            "part of an answer was never sent",
            step,
            [reply.template for reply in replies],
            [o.call for o in outcomes],
        )


def refused(outcomes: Sequence[Outcome], chat_id: str) -> bool:
    """A message to the chat was refused (the person blocked the bot)."""
    return any(o.status == 403 and str(o.call.params.get("chat_id")) == chat_id for o in outcomes)


def check_topic(outcomes: Sequence[Outcome], delivered: Delivered, step: Step) -> None:
    if delivered.thread is None or delivered.redelivery:
        return
    for outcome in outcomes:
        call = outcome.call
        if call.method == "sendMessage" and int(call.params["chat_id"]) == FORUM.id:
            thread = call.params.get("message_thread_id", 0)
            assert thread == delivered.thread, ("an answer left its topic", step, call)


def tally(world: World, answered: Sequence[tuple[Incoming, list[Reply]]]) -> None:
    for incoming, replies in answered:
        who = incoming.chat.user_id
        for reply in replies:
            entries = reply.context.get("entries", [])
            if reply.template == "logged":
                world.told[who] = world.told.get(who, 0) + sum(e["reps"] for e in entries)
            elif reply.template == "undone":
                world.told[who] = world.told.get(who, 0) - sum(e["reps"] for e in entries)
            elif reply.template == "forget/done":
                world.told.pop(who, None)
                # Every row about them is gone, the record of their events too: those
                # events would be new if they came again.
                world.history = [u for u in world.history if sender(u) != who]
                world.edits_answered = {(w, k) for w, k in world.edits_answered if w != who}


def statistic(text: str) -> None:
    """Counts `text` in hypothesis's statistics (`--hypothesis-show-statistics`); nothing
    outside a hypothesis test."""
    with contextlib.suppress(InvalidArgument):
        event(text)


def describe(delivered: Delivered) -> str:
    """What kind of update it was, and where, for hypothesis's statistics."""
    update = delivered.update
    kinds: tuple[str, ...] = ("message", "edited_message", "callback_query", "my_chat_member")
    kind = next(k for k in kinds if k in update)
    body = update[kind]
    chat = (body.get("message") or {}).get("chat") or body.get("chat") or {}
    where = str(chat.get("type", "?"))
    if kind == "edited_message":
        kind = "edit" if "text" in body else "caption edit"
    elif kind == "callback_query" and not body["message"].get("date"):
        kind = "press on an inaccessible message"
    elif kind == "callback_query":
        kind = "press, forged" if delivered.forged else "press"
    elif kind == "message" and "migrate_to_chat_id" in body:
        kind = "upgrade notice"
    elif kind == "message" and "text" not in body:
        kind = "media" + (", captioned" if "caption" in body else "")
    if delivered.thread:
        where += " topic"
    return f"{'redelivered ' if delivered.redelivery else ''}{kind} in {where}"


def sender(update: JSON) -> str | None:
    for kind in ("message", "edited_message", "callback_query", "my_chat_member"):
        if kind in update:
            return str(update[kind]["from"]["id"])
    return None


def check_logs_acknowledged(
    step: Step,
    answered: Sequence[tuple[Incoming, list[Reply]]],
    outcomes: Sequence[Outcome],
) -> None:
    """A log that nothing went wrong for is acknowledged where it was made: in words, in a
    pop-up, or (in a group) with a reaction."""
    if isinstance(step.action, Together) or lost(step.fault, "sendMessage", "answerCallbackQuery"):
        return
    logged = any(reply.logged for _, replies in answered for reply in replies)
    if not logged or any(o.status == 403 for o in outcomes):
        return  # (said in a group that has removed the bot since)
    for outcome in outcomes:
        if not outcome.done:
            continue
        if outcome.call.method == "setMessageReaction":
            return
        if "Logged" in str(outcome.call.params.get("text", "")):
            return
    raise AssertionError(("a log was never acknowledged", step, [o.call for o in outcomes]))


def check_edits(
    world: World,
    step: Step,
    deliveries: Sequence[Delivered],
    edits: Sequence[EditAnswered],
    outcomes: Sequence[Outcome],
) -> None:
    """An edit logs nothing and is answered once at most, with a note about the log it
    can't change (in a group, only that), and a redelivered one not at all."""
    for edit in edits:
        templates = [reply.template for reply in edit.replies]
        allowed = [[], [EDITED_LOG]]
        if edit.incoming.chat.community is None:
            allowed.append([EDITED_UNLOGGED])
        assert templates in allowed, ("an edit was answered", step, templates)
        assert not any(reply.logged for reply in edit.replies), ("an edit logged", step)
        if edit.replies:
            answered = (edit.incoming.chat.user_id, edit.key)
            assert answered not in world.edits_answered, ("an edit answered twice", step)
            world.edits_answered.add(answered)
    for delivered in deliveries:
        if delivered.edited is None:
            continue
        chat_id = str(delivered.update["edited_message"]["chat"]["id"])
        notes = [
            o
            for o in outcomes
            if o.done
            and o.call.method == "sendMessage"
            and str(o.call.params["chat_id"]) == chat_id
            and (o.call.params.get("reply_parameters") or {}).get("message_id") == delivered.edited
        ]
        most = 0 if delivered.redelivery else 1
        assert len(notes) <= most, ("an edit was answered more than once", step, notes)


async def reps_in_db(core: Core) -> dict[str, int]:
    return {person: reps for (_, person), reps in (await reps_by_person(core)).items()}


async def play(world: World, step: Step) -> None:
    server, engine = world.server, world.engine
    calls, answered, logs = len(server.outcomes), len(engine.handled), len(world.logs.records)
    edits = len(engine.edits)
    reps_before = await reps_in_db(world.core) if isinstance(step.action, Edit) else None
    before = None
    if isinstance(step.action, Redeliver) and step.action.count > 0:
        again = world.history[-step.action.count :]
        # A membership change says how things are now, not something that happened once:
        # applied again it may find more to apply to (a block, told before the bot knew
        # the person, marks them once they have written).
        if not any("my_chat_member" in update for update in again):
            before = await every_row(world.core)
    if step.fault is not None:
        server.fail(step.fault.method, step.fault.kind, times=step.fault.times)
    try:
        deliveries = await act(world, step.action, step.fault)
    finally:
        server.clear_failures()
    faulted = any(o.injected for o in server.outcomes[calls:])
    errors = [
        r
        for r in world.logs.records[logs:]
        if r.levelno >= logging.ERROR and not (faulted and r.name == RATE_LIMITER_LOG)
    ]
    assert errors == [], (step, [r.getMessage() for r in errors])
    assert server.unknown == [], server.unknown
    check_step(world, step, deliveries, calls)
    check_whole_answers(step, deliveries, engine.handled[answered:], server.outcomes[calls:])
    new = engine.handled[answered:]
    check_logs_acknowledged(step, new, server.outcomes[calls:])
    new_edits = engine.edits[edits:]
    check_edits(world, step, deliveries, new_edits, server.outcomes[calls:])
    if isinstance(step.action, Edit):
        assert await reps_in_db(world.core) == reps_before, ("an edit changed the reps", step)
    if before is not None:
        assert all(replies == [] for _, replies in new), (step, new)
        assert all(edit.replies == [] for edit in new_edits), (step, new_edits)
        after = await every_row(world.core)
        changed = {
            table: (sorted(set(before[table]) - set(rows)), sorted(set(rows) - set(before[table])))
            for table, rows in after.items()
            if rows != before[table]
        }
        assert changed == {}, f"a redelivered update changed rows (before, after): {changed}"
    tally(world, new)
    for delivered in deliveries:
        statistic(f"update: {describe(delivered)}")
    if step.fault is not None and any(o.injected for o in server.outcomes[calls:]):
        statistic(f"fault: {step.fault.method} {step.fault.kind}")
    for replies in [*(replies for _, replies in new), *(edit.replies for edit in new_edits)]:
        for reply in replies:
            statistic(f"reply: {reply.template}")  # --hypothesis-show-statistics lists them
    assert await reps_in_db(world.core) == {k: v for k, v in world.told.items() if v}, step


async def run(steps: Sequence[Step]) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="glutebot-tg-fuzz-") as folder,
        recorded_logs() as logs,
    ):
        renderer = RecordingRenderer()
        store = await Store.open(Path(folder) / "fuzz.db")
        try:
            clock = FakeClock(START)
            engine = RecordingEngine(store, renderer.labels, clock=clock)
            core = Core(store, renderer, engine)
            server = RecordingServer()
            topic = server.open_topic(FORUM, by=ALICE)
            adapter = new_adapter(core, server)
            await adapter.start()
            world = World(server, core, engine, renderer, logs, adapter, topic, clock)
            try:
                for number, step in enumerate(steps):
                    try:
                        await play(world, step)
                    except AssertionError as failure:
                        before = "\n".join(
                            f"  {n}: {s}" for n, s in enumerate(steps) if n <= number
                        )
                        raise AssertionError(
                            f"step {number}: {failure}\nsteps so far:\n{before}"
                        ) from failure
            finally:
                await world.adapter.stop()
        finally:
            await store.close()


# Edits of logs, in private, in a group and in a topic, of a caption too, and one delivered
# again: the modest default run may draw few of them.
EDITS_OF_LOGS = [
    Step(Say(ALICE, PRIVATE, "done 15")),
    Step(Edit(0, "done 20")),
    Step(Redeliver(1)),
    Step(Say(BOB, GROUP, "/done 15")),
    Step(Edit(0, "🍑" * 2048)),
    Step(Say(ALICE, PRIVATE, "hello")),
    Step(Edit(0, "done 12 lunges")),
    Step(Send(ALICE, PRIVATE, "photo", "done 5")),
    Step(Edit(0, "done 50"), Fault("sendMessage", "500")),
    Step(Say(CAROL, TOPIC, "done")),
    Step(Edit(0, "\u202e\x00 done 30")),
]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not EXPLORING,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=conversations())
@example(steps=EDITS_OF_LOGS)
def test_random_telegram_conversations_never_break_the_adapter(steps: list[Step]) -> None:
    asyncio.run(run(steps))

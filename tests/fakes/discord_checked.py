"""A stage for driving glutebot's Discord adapter (real discord.py against the fake Discord
server) through any sequence of members' actions, and checking what Discord would see.

Used by the exploration test (tests/test_discord_fuzz.py). It extends the fake
(discord_server.py) by subclassing it:

- `CheckedDiscord` refuses, as Discord does (400 50035, 50006), what the bot may not send,
  and records it in `violations`: a message over 2000 characters (Discord counts code
  points), an empty one, one that may ping (allowed_mentions other than "none"), one
  whose direction controls break glutebot's own rule (tests/isolates.py), over 5 rows or
  5 buttons a row, a custom_id over 100 characters or twice in a message, a
  label over 80, over 25 autocomplete choices; and buttons the bot could not answer
  itself (a custom_id outside glutebot's template). It holds a thread, answers a call
  with a real rate limit on request (429 with retry_after, which discord.py waits out),
  redelivers events, and can leave members out of GUILD_CREATE as Discord does for a bot
  without the Server Members intent.
- `TrackedAdapter` counts the events the adapter finished handling, so a test knows when
  the bot is done with one; `RecordingEngine` keeps the engine's replies to each event.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
from aiohttp import web

from bot.adapters.discord_adapter import DiscordAdapter
from bot.adapters.discord_wire import CUSTOM_ID_TEMPLATE
from bot.app import Core
from bot.config import Secret
from bot.engine import Engine
from bot.model import Incoming, Reply
from bot.render import Renderer
from bot.store import Store
from tests.fakes.discord_server import (
    BODY,
    EPHEMERAL,
    LOADING,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    Overwrite,
    running_fake_discord,
    watching,
)
from tests.fakes.discord_world import JSON, now_iso, walk_components
from tests.isolates import keeps_the_isolate_rule
from tests.transcript import START, FakeClock, every_row, reps_by_person

API = "/api/v10"
CONTENT_LIMIT = 2000
CUSTOM_ID_LIMIT = 100
LABEL_LIMIT = 80
ROWS_LIMIT = ROW_LIMIT = 5
AUTOCOMPLETE_LIMIT = 25
CHOICE_LIMIT = 100
PUBLIC_THREAD = 11
# Interaction callback types: 4 a message, 5 deferred ("thinking…"), 6 deferred update,
# 7 update of the pressed message, 8 autocomplete choices.
MESSAGE, DEFERRED, DEFERRED_UPDATE, UPDATE, CHOICES = 4, 5, 6, 7, 8
CALLBACK_PATH = r"/interactions/\d+/[^/]+/callback"
# The calls the bot makes, by name (method, path after /api/v10 as a regex).
ROUTES = {
    "post": ("POST", r"/channels/\d+/messages"),
    "react": ("PUT", r"/channels/\d+/messages/\d+/reactions/.+/@me"),
    "callback": ("POST", CALLBACK_PATH),
    "followup": ("POST", r"/webhooks/\d+/[^/]+"),
    "edit": ("PATCH", r"/webhooks/\d+/[^/]+/messages/[^/]+"),
    "delete": ("DELETE", r"/webhooks/\d+/[^/]+/messages/[^/]+"),
    "dm": ("POST", r"/users/@me/channels"),
}
_CREATES = (ROUTES["post"], ROUTES["followup"])
_EDITS = (("PATCH", r"/channels/\d+/messages/\d+"), ROUTES["edit"])
_TEMPLATE = re.compile(CUSTOM_ID_TEMPLATE)

# ---- the fake, extended -----------------------------------------------------------------


@dataclass
class FakeThread(FakeChannel):
    """A public thread: Discord's channel type 11, with its parent's permissions."""

    parent_channel: FakeChannel | None = None
    owner_id: int = 0

    def to_json(self) -> JSON:
        assert self.parent_channel is not None
        last = self.last_message_id
        return {
            "id": str(self.id),
            "type": PUBLIC_THREAD,
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_channel.id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": None if last is None else str(last),
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now_iso(),
                "locked": False,
            },
        }


@dataclass
class LeanGuild(FakeGuild):
    """A guild whose GUILD_CREATE lists only the bot among its members, as Discord sends
    it to a bot without the Server Members intent (glutebot asks for none)."""

    def to_gateway_json(self) -> JSON:
        data = super().to_gateway_json()
        data["members"] = [m for m in data["members"] if m["user"]["bot"]]
        return data


@dataclass(frozen=True)
class Violation:
    """A call Discord would refuse, or a button the bot could not answer."""

    method: str
    path: str
    problem: str


@dataclass
class RateLimit:
    method: str
    path: re.Pattern[str]
    times: int
    retry_after: float


class CheckedDiscord(FakeDiscord):
    """The fake Discord, refusing what Discord refuses (see the module's docstring)."""

    def __init__(self, *, lean_guilds: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.lean_guilds = lean_guilds
        self.violations: list[Violation] = []
        self.rate_limits: list[RateLimit] = []
        self.rate_limited = 0

    def add_guild(self, name: str, **options: Any) -> FakeGuild:
        guild = super().add_guild(name, **options)
        if self.lean_guilds:
            guild = self.guilds[guild.id] = LeanGuild(**vars(guild))
        return guild

    def _app(self) -> web.Application:
        app = super()._app()
        app.middlewares.append(self._discord_rules)  # inside the fake's own: BODY is read
        return app

    @web.middleware
    async def _discord_rules(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if BODY not in request:  # the gateway's websocket
            return await handler(request)
        path = request.path.removeprefix(API)
        for limit in self.rate_limits:
            if limit.times > 0 and limit.method == request.method and limit.path.fullmatch(path):
                limit.times -= 1
                self.rate_limited += 1
                return _rate_limited(limit.retry_after)
        problems = list(self._problems(request.method, path, request[BODY]))
        if problems:
            self.violations += [Violation(request.method, path, p) for p in problems]
            message = "Invalid Form Body: " + "; ".join(problems)
            return _json({"code": 50035, "message": message}, 400)
        return await handler(request)

    def rate_limit(
        self, method: str, path: str, *, times: int = 1, retry_after: float = 0.01
    ) -> None:
        """The next `times` matching calls are answered 429, to be retried after
        `retry_after` seconds (discord.py waits that long, for real)."""
        limit = RateLimit(method.upper(), re.compile(path), times, retry_after)
        self.rate_limits.append(limit)

    def _problems(self, method: str, path: str, body: Any) -> Iterable[str]:
        if not isinstance(body, dict):
            return
        if any(method == m and re.fullmatch(p, path) for m, p in _CREATES):
            yield from message_problems(body, creating=True)
        elif any(method == m and re.fullmatch(p, path) for m, p in _EDITS):
            yield from message_problems(body, creating=False)
        elif method == "POST" and re.fullmatch(CALLBACK_PATH, path):
            kind, data = body.get("type"), body.get("data") or {}
            if kind == MESSAGE:
                yield from message_problems(data, creating=True)
            elif kind == UPDATE:
                yield from message_problems(data, creating=False)
            elif kind == CHOICES:
                yield from choice_problems(data.get("choices") or [])

    # The world, changed while the bot is connected.

    async def add_thread(self, parent: FakeChannel, name: str, owner: FakeMember) -> FakeThread:
        """A thread under `parent`, announced to a connected bot with THREAD_CREATE."""
        thread = FakeThread(self.ids.next(), name, parent.guild_id, PUBLIC_THREAD)
        thread.parent_channel, thread.owner_id = parent, owner.id
        thread.overwrites = parent.overwrites  # the same list: the parent's permissions
        self.channels[thread.id] = thread
        await self._dispatch("THREAD_CREATE", thread.to_json() | {"newly_created": True})
        return thread

    async def set_bot_may_send(self, channel: FakeChannel, allowed: bool) -> None:
        """An admin gives the bot Send Messages in `channel`, or takes it away."""
        own = [o for o in channel.overwrites if o.target_id == self.bot_user.id and o.is_member]
        if not own:
            own = [Overwrite(self.bot_user.id, is_member=True)]
            channel.overwrites.append(own[0])
        for overwrite in own:
            overwrite.deny = overwrite.deny & ~SEND_MESSAGES | (0 if allowed else SEND_MESSAGES)
        await self._dispatch("CHANNEL_UPDATE", channel.to_json())

    def session_log(self) -> list[JSON]:
        """The events of the current gateway session, in order."""
        return [] if self._session is None else list(self._session.log)

    def inject_button(self, message: JSON, custom_id: str) -> bool:
        """Puts a button on a message the bot sent, as one from an older glutebot would be;
        False if the message has no room for another row."""
        stored = self.messages[int(message["id"])]
        rows: list[JSON] = stored["components"]
        if any(c.get("custom_id") == custom_id for c in walk_components(rows)):
            return True
        if len(rows) >= ROWS_LIMIT:
            return False
        button = {"type": 2, "style": 2, "label": "older", "custom_id": custom_id}
        rows.append({"type": 1, "components": [button]})
        return True

    async def _dispatch(self, event: str, data: JSON) -> None:
        if self._session is not None:
            await self._session.dispatch(event, data)


def message_problems(body: Mapping[str, Any], *, creating: bool) -> Iterable[str]:
    """What Discord refuses in a message the bot sends (or edits)."""
    content = str(body.get("content") or "")
    rows = body.get("components")
    if len(content) > CONTENT_LIMIT:
        yield f"content of {len(content)} characters"
    if creating and not content and not rows and not body.get("embeds"):
        yield "an empty message (50006)"
    if content:
        mentions = body.get("allowed_mentions")
        if (
            not isinstance(mentions, dict)
            or mentions.get("parse") != []
            or any(mentions.get(key) for key in ("users", "roles", "replied_user"))
        ):
            yield f"allowed_mentions {mentions!r} may ping"
        if (len(content) - len(content.rstrip("\\"))) % 2:
            yield "content ends in half a markdown escape (a lone backslash)"
        if not keeps_the_isolate_rule(content):
            yield "a direction control outside an isolate of its own (see tests/isolates.py)"
    if rows is None:
        return
    if len(rows) > ROWS_LIMIT:
        yield f"{len(rows)} action rows"
    seen: set[str] = set()
    for row in rows:
        items = row.get("components", [])
        if row.get("type") != 1 or not 1 <= len(items) <= ROW_LIMIT:
            yield f"an action row {row!r}"
        for item in items:
            yield from _button_problems(item, seen)


def _button_problems(item: Mapping[str, Any], seen: set[str]) -> Iterable[str]:
    label = str(item.get("label") or "")
    if len(label) > LABEL_LIMIT:
        yield f"a label of {len(label)} characters"
    if not label and not item.get("emoji"):
        yield "a button with neither label nor emoji"
    custom_id = item.get("custom_id")
    if custom_id is None:
        return
    custom_id = str(custom_id)
    if not 1 <= len(custom_id) <= CUSTOM_ID_LIMIT:
        yield f"a custom_id of {len(custom_id)} characters"
    if custom_id in seen:
        yield f"custom_id {custom_id!r} twice in one message"
    seen.add(custom_id)
    if _TEMPLATE.fullmatch(custom_id) is None:
        yield f"custom_id {custom_id!r}, which the bot would not answer"


def choice_problems(choices: list[JSON]) -> Iterable[str]:
    if len(choices) > AUTOCOMPLETE_LIMIT:
        yield f"{len(choices)} autocomplete choices"
    for choice in choices:
        name, value = str(choice.get("name", "")), str(choice.get("value", ""))
        if not 1 <= len(name) <= CHOICE_LIMIT or len(value) > CHOICE_LIMIT:
            yield f"autocomplete choice {choice!r}"


def _json(data: Any, status: int) -> web.Response:
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def _rate_limited(retry_after: float) -> web.Response:
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    response = _json(body | {"code": 0}, 429)
    response.headers["Via"] = "1.1 google"  # without it discord.py takes a 429 for a ban
    return response


# ---- the bot, observed ------------------------------------------------------------------


class RecordingEngine(Engine):
    """The engine, keeping its replies to every event by key."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.replies: defaultdict[str, list[Reply]] = defaultdict(list)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        replies = await super().handle(incoming)
        self.replies[incoming.event_key] += replies
        return replies


class TrackedAdapter(DiscordAdapter):
    """The adapter, counting each message and interaction it finished handling, by id."""

    def __init__(
        self, core: Core, token: Secret | str, on_finish: Callable[[], None], **options: Any
    ) -> None:
        super().__init__(core, token, **options)
        self.finished: Counter[int] = Counter()
        self._on_finish = on_finish

    def _done(self, event_id: int) -> None:
        self.finished[event_id] += 1
        self._on_finish()

    async def on_message(self, bot: Any, message: discord.Message) -> None:
        try:
            await super().on_message(bot, message)
        finally:
            self._done(message.id)

    async def on_command(self, interaction: discord.Interaction[Any], text: str) -> None:
        try:
            await super().on_command(interaction, text)
        finally:
            self._done(interaction.id)

    async def on_button(self, interaction: discord.Interaction[Any], value: str) -> None:
        try:
            await super().on_button(interaction, value)
        finally:
            self._done(interaction.id)


@asynccontextmanager
async def recording_core(folder: Path, clock: FakeClock) -> AsyncIterator[Core]:
    """What bot.app.open_core builds, with a RecordingEngine."""
    renderer = Renderer()
    store = await Store.open(folder / "glutebot.db")
    try:
        yield Core(store, renderer, RecordingEngine(store, renderer.labels, clock=clock))
    finally:
        await store.close()


# ---- a stage to play on -----------------------------------------------------------------

MANAGE_SERVER = discord.Permissions(manage_guild=True)
MEMBERS = ("boss", "alice", "bob", "carol")
# Where members type: channels whose messages the bot can see (not "hidden"), and DMs.
TYPED_PLACES = ("workouts", "thread", "locked", "nohistory", "elsewhere", "dm")
# Where slash commands come from: interactions need no permission.
COMMAND_PLACES = (*TYPED_PLACES, "hidden")


class Stage:
    """The fake Discord with two servers, glutebot running against it, and what the
    test saw happen.

    "Glute Club": channels workouts (the bot may do everything), a thread in it, locked
    (the bot may not post: 403 50013), nohistory (no Read Message History: no replies nor
    reactions), hidden (the bot can't see it); members boss (Manage Server), alice, bob
    and carol (her DMs are closed to server members: 403 50007). "Other Gym": channel
    elsewhere; members alice and boss (no admin there)."""

    def __init__(
        self, fake: CheckedDiscord, core: Core, clock: FakeClock, defer_after: float
    ) -> None:
        self.fake, self.core, self.clock = fake, core, clock
        self.defer_after = defer_after
        self.guild = fake.add_guild("Glute Club")
        self.other = fake.add_guild("Other Gym")
        self.members = {
            "boss": fake.add_member(self.guild, None, "boss", permissions=MANAGE_SERVER),
            **{name: fake.add_member(self.guild, None, name) for name in MEMBERS[1:]},
        }
        for name in ("alice", "boss"):
            fake.add_member(self.other, self.members[name].id, name)
        fake.close_dms(self.members["carol"])
        me = fake.bot_user.id
        self.places: dict[str, FakeChannel] = {
            "workouts": fake.add_channel(self.guild, "workouts"),
            "locked": fake.add_channel(self.guild, "locked", bot_can_send=False),
            "nohistory": fake.add_channel(
                self.guild,
                "nohistory",
                overwrites=[Overwrite(me, deny=READ_MESSAGE_HISTORY, is_member=True)],
            ),
            "hidden": fake.add_channel(
                self.guild, "hidden", overwrites=[Overwrite(me, deny=VIEW_CHANNEL, is_member=True)]
            ),
            "elsewhere": fake.add_channel(self.other, "elsewhere"),
        }
        self.adapter: TrackedAdapter | None = None
        self._running = AsyncExitStack()
        # Events members caused, for redelivery: (gateway event, its data), and their steps.
        self.events: list[tuple[str, JSON]] = []
        self.origin: dict[int, object] = {}
        # Reps each member (by user id) was told were logged, less those undone.
        self.told: Counter[str] = Counter()
        # When each member last had everything forgotten (that event's id).
        self.forgotten: dict[str, int] = {}

    # The bot.

    async def start_bot(self) -> TrackedAdapter:
        adapter = TrackedAdapter(
            self.core,
            self.fake.token,
            self.fake.notify,
            guild_ready_timeout=0.01,
            defer_after=self.defer_after,
        )
        await adapter.start()
        self._running.push_async_callback(adapter.stop)
        assert adapter.task is not None
        loggers = ("discord", "bot")
        await self._running.enter_async_context(watching(self.fake, adapter.task, loggers))
        self.adapter = adapter
        return adapter

    async def stop_bot(self) -> None:
        await self._running.aclose()
        self._running = AsyncExitStack()

    async def restart(self) -> None:
        """The process restarts: a new adapter on the same database."""
        await self.stop_bot()
        await self.start_bot()

    @property
    def bot(self) -> TrackedAdapter:
        assert self.adapter is not None, "the bot isn't running"
        return self.adapter

    def handled(self, event_id: int) -> int:
        return self.bot.finished[event_id]

    async def wait_handled(self, event_id: int, before: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until the bot handled the event once more than `before` times."""
        await self.fake.wait_for(lambda: self.handled(event_id) > before, timeout)

    # Who and where.

    def member(self, name: str) -> FakeMember:
        return self.members[name]

    def guild_of(self, place: str) -> FakeGuild | None:
        if place == "dm":
            return None
        return self.other if place == "elsewhere" else self.guild

    def where(self, place: str, who: str) -> str:
        """`place`, or "workouts" for a member not in the server of `place`."""
        guild = self.guild_of(place)
        if guild is not None and self.member(who).id not in guild.members:
            return "workouts"
        return place

    def channel(self, place: str, who: str) -> FakeChannel:
        if place == "dm":
            return self.fake.dm_channel(self.member(who))
        return self.places[place]

    def fill(self, text: str) -> str:
        """Generated text with its placeholders ("{bot}", "{alice}", "{thread}") as ids."""
        me = self.fake.bot_user.id
        ids = {"bot": me, "role": self.guild.bot_role(me).id}
        ids |= {name: m.id for name, m in self.members.items()}
        ids |= {name: c.id for name, c in self.places.items()}
        for name, value in ids.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    def buttons_for(self, who: str) -> list[JSON]:
        """The bot's messages with buttons `who` can press, oldest first: public ones in
        their servers, ephemeral answers to them, their DMs."""
        member = self.member(who)
        found = []
        for message in self.fake.bot_messages():
            if not enabled_buttons(message):
                continue
            channel = self.fake.channels[int(message["channel_id"])]
            if int(message["flags"]) & EPHEMERAL:
                asker = (message.get("interaction_metadata") or {}).get("user") or {}
                mine = asker.get("id") == str(member.id)
            elif channel.recipient is not None:
                mine = channel.recipient.id == member.id
            else:
                mine = member.id in self.fake.guilds[channel.guild_id or 0].members
            if mine:
                found.append(message)
        return found

    # What was said, and what is kept.

    def record(self, event: str, data: JSON, step: object) -> None:
        """An event as dispatched (a copy: the fake edits the messages it holds)."""
        self.events.append((event, copy.deepcopy(data)))
        self.origin[int(data["id"])] = step

    def tally(self, who: str, replies: Iterable[Reply], event_id: int) -> None:
        """Counts the reps the replies to `who` said were logged or undone."""
        user_id = str(self.member(who).id)
        for reply in replies:
            entries = reply.context.get("entries", [])
            if reply.template == "logged":
                self.told[user_id] += sum(e["reps"] for e in entries)
            elif reply.template == "undone":
                self.told[user_id] -= sum(e["reps"] for e in entries)
            elif reply.template == "forget/done":
                # Every row about them goes, the record of their events too: a redelivery
                # of one from before would be new (and is not tried).
                self.told.pop(user_id, None)
                self.forgotten[user_id] = event_id

    def redeliverable(self, data: JSON) -> bool:
        """Not an event from before its member's /forget (see `tally`)."""
        user = (data.get("member") or data).get("user") or data.get("author") or {}
        return int(data["id"]) > self.forgotten.get(str(user.get("id")), 0)

    async def reps_in_db(self) -> Counter[str]:
        return Counter({person: n for (_, person), n in (await reps_by_person(self.core)).items()})

    async def database(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table."""
        return await every_row(self.core)

    def replies_to(self, key: str) -> list[Reply]:
        engine = self.core.engine
        assert isinstance(engine, RecordingEngine)
        return engine.replies.get(key, [])


def enabled_buttons(message: JSON) -> list[str]:
    return [
        str(c["custom_id"])
        for c in walk_components(message.get("components") or [])
        if c.get("type") == 2 and c.get("custom_id") and not c.get("disabled")
    ]


def answers(interaction: FakeInteraction) -> list[JSON]:
    """The messages the bot answered an interaction with, in order."""
    first = interaction.response
    original = [interaction.original] if first and first.type in (MESSAGE, DEFERRED) else []
    return [m for m in [*original, *interaction.followups] if m is not None]


def still_thinking(fake: FakeDiscord) -> list[JSON]:
    """Deferred answers ("glutebot is thinking…") that nothing replaced or deleted."""
    return [m for m in fake.bot_messages() if int(m["flags"]) & LOADING]


@asynccontextmanager
async def stage(
    *, defer_after: float = 2.0, message_content: bool = True, lean_guilds: bool = False
) -> AsyncIterator[Stage]:
    """A fresh fake Discord and database, and glutebot connected (see `Stage`).
    `message_content=False`: Discord refuses that intent; `lean_guilds`: GUILD_CREATE
    lists no members but the bot."""
    async with AsyncExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-discord-")))
        fake = await stack.enter_async_context(
            running_fake_discord(
                CheckedDiscord,
                refuse_message_content=not message_content,
                lean_guilds=lean_guilds,
            )
        )
        assert isinstance(fake, CheckedDiscord)
        clock = FakeClock(START)
        core = await stack.enter_async_context(recording_core(folder, clock))
        world = Stage(fake, core, clock, defer_after)
        adapter = await world.start_bot()
        stack.push_async_callback(world.stop_bot)
        thread = await fake.add_thread(world.places["workouts"], "thread", world.member("alice"))
        world.places["thread"] = thread
        async with asyncio.timeout(5):
            while True:  # THREAD_CREATE is read without a request to wait for
                if _knows_thread(adapter, thread):
                    break
                await asyncio.sleep(0)
        yield world


def _knows_thread(adapter: DiscordAdapter, thread: FakeChannel) -> bool:
    bot = adapter.bot
    return bot is not None and any(t.id == thread.id for g in bot.guilds for t in g.threads)


__all__ = [
    "CALLBACK_PATH",
    "COMMAND_PLACES",
    "MEMBERS",
    "ROUTES",
    "TYPED_PLACES",
    "CheckedDiscord",
    "Stage",
    "TrackedAdapter",
    "answers",
    "enabled_buttons",
    "stage",
    "still_thinking",
]

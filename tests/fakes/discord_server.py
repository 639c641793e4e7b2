"""A fake Discord (REST v10 + gateway websocket) on 127.0.0.1 that real discord.py runs against.

Usage, with the `fake_discord` fixture (or `async with running_fake_discord() as server`):

    guild = fake_discord.add_guild("Gym")
    channel = fake_discord.add_channel(guild, "workouts")
    alice = fake_discord.add_member(guild, 1001, "alice")
    async with running_bot(fake_discord, make_bot()):  # guild_ready_timeout=0.01
        await fake_discord.user_says(guild, channel, alice, "done 15")
        reply = await fake_discord.next_bot_message(channel)

Set up guilds, channels and members before the bot connects: they reach it in
GUILD_CREATE. Unknown routes are answered 404, recorded and fail the test at teardown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import discord.gateway
import discord.http
import pytest
import yarl
from aiohttp import WSMsgType, web

from .discord_gateway import (
    DIRECT_MESSAGES,
    GUILD_MESSAGES,
    HEARTBEAT,
    HEARTBEAT_ACK,
    HELLO,
    IDENTIFY,
    INVALID_SESSION,
    MESSAGE_CONTENT,
    PRESENCE,
    RECONNECT,
    REQUEST_MEMBERS,
    RESUME,
    GatewayConnection,
    GatewaySession,
)
from .discord_options import OptionBuilder, find_option
from .discord_world import (
    DEFAULT_PERMISSIONS,
    DM_APP_PERMISSIONS,
    JSON,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Overwrite,
    PermissionsLike,
    Snowflakes,
    as_user,
    mentioned_ids,
    mentioned_role_ids,
    now_iso,
    permission_value,
    poll_of,
    walk_components,
)

__all__ = [
    "BotDiedError",
    "Failure",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "InteractionResponse",
    "Overwrite",
    "Reaction",
    "RecordedRequest",
    "UnknownRouteError",
    "fake_discord",
    "point_discord_py_at",
    "poll_of",
    "running_bot",
    "running_fake_discord",
    "watching",
]

API = "/api/v10"
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
SEND_MESSAGES = discord.Permissions(send_messages=True).value
VIEW_CHANNEL = discord.Permissions(view_channel=True).value
READ_MESSAGE_HISTORY = discord.Permissions(read_message_history=True).value
# What a forward's snapshot keeps of the message it forwards.
SNAPSHOT_KEYS = (
    "type",
    "content",
    "embeds",
    "attachments",
    "timestamp",
    "edited_timestamp",
    "flags",
    "mentions",
    "mention_roles",
    "sticker_items",
    "components",
)

BODY = web.RequestKey[Any]("body")
ClientT = TypeVar("ClientT", bound=discord.Client)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UserLike = FakeUser | FakeMember


class UnknownRouteError(AssertionError):
    """discord.py called a route the fake does not implement."""


class BotDiedError(AssertionError):
    """The bot's task ended, or discord.py logged an error, while the test was running."""


class DiscordError(Exception):
    """Answered as Discord's JSON error body: {"code": ..., "message": ...}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    body: Any


@dataclass
class Failure:
    """An error the fake answers instead of serving matching requests (see `fail`)."""

    method: str
    path: re.Pattern[str]
    error: DiscordError
    times: int


# What a lost answer's rule carries in place of an error (see `FakeDiscord.lose_answers`).
LOST = DiscordError(0, 0, "the connection dropped before the answer")


def _matching(failures: list[Failure], request: web.Request) -> Failure | None:
    """The first of `failures` left for `request`, now counted as used."""
    path = request.path.removeprefix(API)
    for failure in failures:
        if failure.times > 0 and failure.method == request.method and failure.path.fullmatch(path):
            failure.times -= 1
            return failure
    return None


@dataclass(frozen=True)
class InteractionResponse:
    type: int
    data: JSON


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    payload: JSON
    responses: list[InteractionResponse] = field(default_factory=list)
    original: JSON | None = None
    followups: list[JSON] = field(default_factory=list)
    created: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    expired: bool = False

    def expire(self) -> None:
        """Discord's wait for the first answer is over, without the test waiting it out."""
        self.expired = True

    @property
    def response(self) -> InteractionResponse | None:
        return self.responses[0] if self.responses else None

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])

    @property
    def message(self) -> JSON | None:
        """The message whose component was used (component interactions only)."""
        message: JSON | None = self.payload.get("message")
        return message


@dataclass(frozen=True)
class Reaction:
    channel_id: int
    message_id: int
    emoji: str
    user_id: int


class FakeDiscord:
    """The fake server: world set-up, protocol handlers, test drivers and accessors."""

    def __init__(self, *, token: str = "fake-bot-token", refuse_message_content: bool = False):
        self.token = token
        self.refuse_message_content = refuse_message_content
        self.ids = Snowflakes()
        self.bot_user = FakeUser(self.ids.next(), "glutebot", bot=True)
        self.owner = FakeUser(self.ids.next(), "owner")
        self.application_id = self.bot_user.id
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.owner)}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.dm_channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, JSON] = {}
        self.deleted_messages: list[JSON] = []
        self.reactions: list[Reaction] = []
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        # Discord forgets an interaction that gets no first answer within 3 seconds.
        self.response_deadline = 3.0
        self.requests: list[RecordedRequest] = []
        self.failures: list[Failure] = []
        self._lost_answers: list[Failure] = []
        self.unknown_routes: list[str] = []
        self.server_errors: list[str] = []
        self.bot_errors: list[str] = []
        self.identifies: list[JSON] = []
        self.resumes = 0
        self.presence_updates: list[JSON] = []
        self.port = 0
        self._session: GatewaySession | None = None
        self._connections: set[GatewayConnection] = set()
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._watched: list[asyncio.Task[Any]] = []
        # Ids of the messages and interactions the bot is done with, answered or not, as
        # the test harness reports them (`bot_finished`): the fake can't tell when an event
        # that needs no answer, or the last of an answer in several messages, has been seen to.
        self.finished: set[int] = set()
        self._consumed: set[int] = set()
        self._held: dict[int, asyncio.Event] = {}

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for connection in list(self._connections):
            await connection.close(1001, "server stopping")
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    # ---- world set-up ----------------------------------------------------------------

    def add_user(self, user_id: int | None, name: str, *, bot: bool = False) -> FakeUser:
        user = FakeUser(user_id or self.ids.next(), name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        everyone_permissions: PermissionsLike = DEFAULT_PERMISSIONS,
        bot_permissions: PermissionsLike = DEFAULT_PERMISSIONS,
        owner: FakeUser | None = None,
    ) -> FakeGuild:
        """A guild with @everyone (id = guild id), its owner, and the bot in a managed role."""
        owner = owner or self.owner
        guild = FakeGuild(self.ids.next(), name, owner.id)
        guild.roles[guild.id] = FakeRole(
            guild.id, "@everyone", permission_value(everyone_permissions)
        )
        self.guilds[guild.id] = guild
        guild.members[owner.id] = FakeMember(owner, guild.id)
        bot_role = self.add_role(guild, self.bot_user.name, bot_permissions, managed=True)
        bot_role.bot_id = self.bot_user.id
        guild.members[self.bot_user.id] = FakeMember(self.bot_user, guild.id, [bot_role.id])
        return guild

    def add_role(
        self, guild: FakeGuild, name: str, permissions: PermissionsLike, *, managed: bool = False
    ) -> FakeRole:
        role = FakeRole(
            self.ids.next(), name, permission_value(permissions), len(guild.roles), managed
        )
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        guild: FakeGuild,
        user_id: int | None,
        name: str,
        *,
        permissions: PermissionsLike | None = None,
        roles: Iterable[FakeRole] = (),
        bot: bool = False,
    ) -> FakeMember:
        """`permissions` gives the member a role of their own with exactly those permissions."""
        user = self.users.get(user_id or 0) or self.add_user(user_id, name, bot=bot)
        role_ids = [r.id for r in roles]
        if permissions is not None:
            role_ids.append(self.add_role(guild, f"{name}'s role", permissions).id)
        member = FakeMember(user, guild.id, role_ids)
        guild.members[user.id] = member
        return member

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        type: int = 0,
        overwrites: Iterable[Overwrite] = (),
        bot_can_send: bool = True,
    ) -> FakeChannel:
        """`bot_can_send=False` denies the bot Send Messages here: posting answers 403 50013."""
        channel = FakeChannel(self.ids.next(), name, guild.id, type, list(overwrites))
        channel.position = len(guild.channels)
        if not bot_can_send:
            channel.overwrites.append(
                Overwrite(self.bot_user.id, deny=SEND_MESSAGES, is_member=True)
            )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int,
        code: int = 0,
        message: str = "injected failure",
        times: int = 1,
    ) -> Failure:
        """Answer the next `times` requests whose path (after /api/v10) matches the regex
        `path` with this error. discord.py sleeps and retries 500, 502, 504 and 524 itself:
        use 503 for a server error it gives up on at once."""
        failure = Failure(
            method.upper(), re.compile(path), DiscordError(status, code, message), times
        )
        self.failures.append(failure)
        return failure

    def lose_answers(self, method: str, path: str, *, times: int = 1) -> None:
        """Carry out the next `times` requests matching `path` (as `fail` matches), then
        drop the connection instead of answering: the request arrived, its answer is lost."""
        self._lost_answers.append(Failure(method.upper(), re.compile(path), LOST, times))

    def hold_posts(self, channel: FakeChannel) -> asyncio.Event:
        """The bot's posts in `channel` get no answer until the returned event is set, as
        behind a slow or rate-limited channel."""
        release = self._held[channel.id] = asyncio.Event()
        return release

    async def remove_bot(self, guild: FakeGuild) -> None:
        """The bot is kicked from the guild: GUILD_DELETE if it is connected, no GUILD_CREATE
        for it from then on, and posting in its channels answers 403 50001 Missing Access."""
        del guild.members[self.bot_user.id]
        if self._session is not None:
            await self._session.dispatch("GUILD_DELETE", {"id": str(guild.id)})

    async def delete_channel(self, channel: FakeChannel) -> None:
        """A guild channel is deleted: CHANNEL_DELETE if the bot is connected, and requests
        for it answer 404 10003 Unknown Channel from then on."""
        guild = self.guilds[channel.guild_id or 0]
        del guild.channels[channel.id]
        del self.channels[channel.id]
        if self._session is not None:
            await self._session.dispatch("CHANNEL_DELETE", channel.to_json())

    def close_dms(self, user: UserLike) -> None:
        """DMs to this user answer 403 50007, like a user who blocks DMs from server members."""
        as_user(user).dms_closed = True

    def open_dms(self, user: UserLike) -> None:
        """The user allows DMs from server members again: DMs to them are delivered."""
        as_user(user).dms_closed = False

    def dm_channel(self, user: UserLike) -> FakeChannel:
        user = as_user(user)
        if user.id not in self.dm_channels:
            channel = FakeChannel(self.ids.next(), "", None, type=1, recipient=user)
            self.dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return self.dm_channels[user.id]

    # ---- driving the bot like a user -------------------------------------------------

    async def user_says(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        user: UserLike,
        content: str,
        *,
        reply_to: JSON | int | None = None,
        mentions: Iterable[UserLike] = (),
        reply_ping: bool = True,
        attachments: Sequence[JSON] = (),
        sticker_items: Sequence[JSON] = (),
        poll: JSON | None = None,
    ) -> JSON:
        """A member posts in a guild channel. Mentions missing from `content` are prepended,
        as typing @name would do; a reply pings the replied-to author unless `reply_ping`
        is False (the client's "@ ON/OFF" toggle): then that author is not in `mentions`.
        With files, stickers or a poll (see `poll_of`) if given."""
        if channel.guild_id != guild.id or as_user(user).id not in guild.members:
            raise ValueError(f"{user} is not in guild {guild.name} or channel is elsewhere")
        tokens = [u.mention for u in map(as_user, mentions) if u.mention not in content]
        body: JSON = {"content": " ".join([*tokens, content]), "attachments": list(attachments)}
        if reply_to is not None:
            body["message_reference"] = {"message_id": _message_id(reply_to)}
        self._require_session()
        message = self._new_message(channel, as_user(user), body, reply_pings=reply_ping)
        await self._post(_holding(message, sticker_items, poll))
        return message

    async def dm(
        self,
        user: UserLike,
        content: str,
        *,
        reply_to: JSON | None = None,
        attachments: Sequence[JSON] = (),
        sticker_items: Sequence[JSON] = (),
        poll: JSON | None = None,
    ) -> JSON:
        """The user writes to the bot in their DM channel (as a reply to `reply_to`), with
        files, stickers or a poll (see `poll_of`) if given."""
        self._require_session()
        body: JSON = {"content": content, "attachments": list(attachments)}
        if reply_to is not None:
            body["message_reference"] = {"message_id": _message_id(reply_to)}
        message = self._new_message(self.dm_channel(user), as_user(user), body)
        await self._post(_holding(message, sticker_items, poll))
        return message

    async def forward(
        self, user: UserLike, message: JSON, channel: FakeChannel | None = None
    ) -> JSON:
        """The user forwards `message` into `channel` (their DM with the bot unless given):
        a message with no content of its own, carrying a snapshot of the forwarded one."""
        self._require_session()
        forward = self._new_message(channel or self.dm_channel(user), as_user(user), {})
        forward["message_reference"] = {
            "type": 1,
            "message_id": message["id"],
            "channel_id": message["channel_id"],
        } | ({"guild_id": message["guild_id"]} if "guild_id" in message else {})
        snapshot = {key: message[key] for key in SNAPSHOT_KEYS if key in message}
        forward["message_snapshots"] = [{"message": snapshot}]
        await self._post(forward)
        return forward

    async def user_edits(self, message: JSON, content: str) -> JSON:
        """The author edits their message: MESSAGE_UPDATE with the new text, marked edited."""
        await self._edit(message, {"content": content})
        return message

    async def update_without_edit(self, message: JSON) -> JSON:
        """Discord updates a message its author didn't edit (adding a link's preview):
        MESSAGE_UPDATE with the same text, not marked edited."""
        message["embeds"] = [{"type": "link", "url": "https://example.com/"}]
        self.notify()
        await self._dispatch_message("MESSAGE_UPDATE", message)
        return message

    async def slash(
        self,
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        user: UserLike,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        locale: str = "en-US",
        age: float = 0.0,
    ) -> FakeInteraction:
        """A chat-input command. `command` may name subcommands ("remind set"). Option
        types come from the synced command (else from the Python values); user, member,
        channel and role values become ids with `resolved` data. guild=None: in DMs.
        `age`: Discord created it that many seconds ago (it reaches the bot late)."""
        data = self._command_data(guild, channel, user, command, options or {}, focused=None)
        return await self._interact(2, guild, channel, user, data, locale=locale, age=age)

    async def autocomplete(
        self,
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        user: UserLike,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """The user is typing into option `focused`; its value is sent as the typed text."""
        data = self._command_data(guild, channel, user, command, options, focused=focused)
        return await self._interact(4, guild, channel, user, data, locale=locale)

    async def press_button(
        self,
        message: JSON | int,
        user: UserLike,
        custom_id: str,
        *,
        locale: str = "en-US",
        age: float = 0.0,
    ) -> FakeInteraction:
        """`age`: as for `slash`."""
        return await self._component(message, user, custom_id, [], locale, age)

    async def choose(
        self, message: JSON | int, user: UserLike, custom_id: str, values: list[str]
    ) -> FakeInteraction:
        """Pick `values` in the select menu `custom_id` of `message`."""
        return await self._component(message, user, custom_id, values, "en-US", 0.0)

    async def drop_connection(self, code: int = 4000, *, replay: int = 0) -> None:
        """Close the bot's websocket the way an outage would; discord.py then RESUMEs, and
        events dispatched meanwhile are replayed. `replay` also replays that many events
        the bot had already received (as when the outage hit before its sequence number
        got through), so the bot sees them twice."""
        session = self._require_session()
        session.replay_extra = replay
        connection, session.connection = session.connection, None
        if connection is not None:
            await connection.close(code, "dropped by test")

    async def redeliver(self, event: str, data: JSON) -> None:
        """An event dispatched again (same id), as Discord does on a RESUME."""
        session = self._require_session()
        if event == "MESSAGE_CREATE":
            data = self._as_seen_by_bot(data, session.intents)
        await session.dispatch(event, data)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before moving a session."""
        session = self._require_session()
        if session.connection is not None:
            await session.connection.send({"op": RECONNECT, "d": None, "s": None, "t": None})

    # ---- waiting and accessors -------------------------------------------------------

    def notify(self) -> None:
        """Wake `wait_for` waiters; called on every request and frame, callable by tests."""
        self._changed.set()
        self._changed = asyncio.Event()

    def watch(self, task: asyncio.Task[Any]) -> None:
        """`wait_for` fails fast with BotDiedError once this task ends."""
        self._watched.append(task)
        task.add_done_callback(lambda _: self.notify())

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        self._watched.remove(task)

    def bot_finished(self, event_id: int) -> None:
        """The bot is done with the message or interaction `event_id`."""
        self.finished.add(event_id)
        self.notify()

    async def until_finished(self, event: JSON | FakeInteraction) -> None:
        """Waits until the bot is done with `event`, a message or an interaction."""
        event_id = event.id if isinstance(event, FakeInteraction) else int(event["id"])
        await self.wait_for(lambda: event_id in self.finished)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Return predicate()'s first truthy value, re-checked whenever the fake sees traffic."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    self._raise_if_bot_died()
                    if result := predicate():
                        return result
                    await changed.wait()
        except TimeoutError:
            recent = [f"{r.method} {r.path}" for r in self.requests[-5:]]
            raise AssertionError(
                f"condition not met within {timeout}s; last requests {recent}; "
                f"unknown routes {self.unknown_routes}"
            ) from None

    async def next_bot_message(
        self,
        channel: FakeChannel | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> JSON:
        """The oldest bot message (in `channel`) not yet returned by this method."""

        def unseen() -> JSON | None:
            for message in self.bot_messages(channel):
                if int(message["id"]) not in self._consumed:
                    return message
            return None

        message: JSON = await self.wait_for(unseen, timeout)
        self._consumed.add(int(message["id"]))
        return message

    def messages_in(self, channel: FakeChannel) -> list[JSON]:
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel.id]

    def bot_messages(self, channel: FakeChannel | None = None) -> list[JSON]:
        """Messages the bot posted (channel messages, interaction responses, followups)."""
        return [
            m
            for m in self.messages.values()
            if int(m["author"]["id"]) == self.bot_user.id
            and (channel is None or int(m["channel_id"]) == channel.id)
        ]

    def dms_to(self, user: UserLike) -> list[JSON]:
        channel = self.dm_channels.get(as_user(user).id)
        return [] if channel is None else self.bot_messages(channel)

    def reactions_on(self, message: JSON | int) -> list[str]:
        message_id = _message_id(message)
        return [r.emoji for r in self.reactions if r.message_id == message_id]

    def commands_for(self, guild: FakeGuild | None = None) -> list[JSON]:
        return self.global_commands if guild is None else self.guild_commands.get(guild.id, [])

    @property
    def intents(self) -> int | None:
        """The intents of the latest IDENTIFY."""
        return self.identifies[-1].get("intents") if self.identifies else None

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.connection is not None

    def check_no_unknown_routes(self) -> None:
        """Raise UnknownRouteError if the bot called a route the fake doesn't know, or a
        request crashed one of the fake's handlers."""
        problems = [*self.unknown_routes, *self.server_errors]
        if problems:
            listed = ", ".join(problems)
            raise UnknownRouteError(f"requests the fake Discord could not serve: {listed}")

    # ---- gateway ---------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = GatewayConnection(
            ws, zlib_stream=request.query.get("compress") == "zlib-stream"
        )
        self._connections.add(connection)
        try:
            await connection.send(
                {"op": HELLO, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}
            )
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(connection, json.loads(frame.data))
                    self.notify()
        finally:
            self._connections.discard(connection)
            if self._session is not None and self._session.connection is connection:
                self._session.connection = None
            self.notify()
        return ws

    async def _on_gateway_frame(self, connection: GatewayConnection, frame: JSON) -> None:
        op, data = frame.get("op"), frame.get("d") or {}
        if op == HEARTBEAT:
            await connection.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(connection, data)
        elif op == RESUME:
            await self._resume(connection, data)
        elif op == REQUEST_MEMBERS:
            await self._send_member_chunk(data)
        elif op == PRESENCE:
            self.presence_updates.append(data)

    async def _identify(self, connection: GatewayConnection, data: JSON) -> None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            await connection.close(4004, "Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if self.refuse_message_content and intents & MESSAGE_CONTENT:
            await connection.close(4014, "Disallowed intent(s).")
            return
        session = GatewaySession(uuid.uuid4().hex, intents, connection)
        self._session = session
        await session.dispatch("READY", self._ready_payload(session, data))
        for guild in self._joined():
            await session.dispatch("GUILD_CREATE", guild.to_gateway_json())

    def _ready_payload(self, session: GatewaySession, identify: JSON) -> JSON:
        ready: JSON = {
            "v": 10,
            "user": self.bot_user.to_json() | {"verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self._joined()],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        return ready

    async def _resume(self, connection: GatewayConnection, data: JSON) -> None:
        session = self._session
        if (
            session is None
            or data.get("session_id") != session.id
            or data.get("token") != self.token
        ):
            await connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        session.connection = connection
        await session.replay_after(int(data.get("seq") or 0) - session.replay_extra)
        session.replay_extra = 0
        await session.dispatch("RESUMED", {})

    async def _send_member_chunk(self, data: JSON) -> None:
        guild = self.guilds[int(data["guild_id"])]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [m.to_json() for m in guild.members.values()],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._require_session().dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _joined(self) -> list[FakeGuild]:
        return [g for g in self.guilds.values() if self.bot_user.id in g.members]

    def _require_session(self) -> GatewaySession:
        if self._session is None:
            raise RuntimeError("no bot has identified with the fake gateway yet")
        return self._session

    async def _dispatch_message(self, event: str, message: JSON) -> None:
        session = self._session
        if session is None:
            return
        needed = GUILD_MESSAGES if "guild_id" in message else DIRECT_MESSAGES
        if session.intents & needed:
            await session.dispatch(event, self._as_seen_by_bot(message, session.intents))

    def _as_seen_by_bot(self, message: JSON, intents: int) -> JSON:
        """Without message_content, guild messages arrive empty (no text, embeds, files,
        components or poll, nor any in what they forward) unless they mention the bot."""
        bot_id = str(self.bot_user.id)
        if (
            intents & MESSAGE_CONTENT
            or "guild_id" not in message
            or message["author"]["id"] == bot_id
            or any(u["id"] == bot_id for u in message["mentions"])
        ):
            return message
        withheld = {"content": "", "embeds": [], "attachments": [], "components": []}
        seen = {key: value for key, value in message.items() if key != "poll"} | withheld
        if "message_snapshots" in message:  # a forward's: withheld alike
            snapshots = message["message_snapshots"]
            seen["message_snapshots"] = [{"message": s["message"] | withheld} for s in snapshots]
        return seen

    # ---- messages --------------------------------------------------------------------

    def _new_message(
        self, channel: FakeChannel, author: FakeUser, body: JSON, *, reply_pings: bool = False
    ) -> JSON:
        message_id = self.ids.next()
        content = str(body.get("content") or "")
        mentions = [self.users[i] for i in mentioned_ids(content) if i in self.users]
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel.id),
            "type": 0,
            "content": content,
            "author": author.to_json(),
            "mentions": [],
            "mention_roles": mentioned_role_ids(content) if channel.guild_id else [],
            "mention_everyone": False,
            "attachments": body.get("attachments", []),
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "pinned": False,
            "flags": int(body.get("flags") or 0),
        }
        if "nonce" in body:
            message["nonce"] = body["nonce"]
        if (reference := body.get("message_reference")) is not None:
            replied = self._reference(message, reference)
            if replied is not None and reply_pings:
                mentions.append(self.users[int(replied["author"]["id"])])
        guild = self.guilds.get(channel.guild_id or 0)
        if guild is not None:
            message["guild_id"] = str(guild.id)
            if (member := guild.members.get(author.id)) is not None:
                message["member"] = member.to_json(with_user=False)
        message["mentions"] = [
            self._mention_json(u, guild) for u in {u.id: u for u in mentions}.values()
        ]
        return message

    def _reference(self, message: JSON, reference: JSON) -> JSON | None:
        replied = self.messages.get(int(reference["message_id"]))
        if replied is None:
            if reference.get("fail_if_not_exists", True):
                raise DiscordError(400, 50035, "Invalid Form Body: Unknown message")
            return None
        message["type"] = 19
        message["message_reference"] = {
            "type": 0,
            "message_id": replied["id"],
            "channel_id": replied["channel_id"],
        } | ({"guild_id": replied["guild_id"]} if "guild_id" in replied else {})
        message["referenced_message"] = {
            k: v for k, v in replied.items() if k != "referenced_message"
        }
        return replied

    def _mention_json(self, user: FakeUser, guild: FakeGuild | None) -> JSON:
        data = user.to_json()
        if guild is not None and (member := guild.members.get(user.id)) is not None:
            data["member"] = member.to_json(with_user=False)
        return data

    async def _post(self, message: JSON) -> None:
        self.messages[int(message["id"])] = message
        self.channels[int(message["channel_id"])].last_message_id = int(message["id"])
        self.notify()
        if not message["flags"] & EPHEMERAL:
            await self._dispatch_message("MESSAGE_CREATE", message)

    async def _edit(self, message: JSON, body: JSON) -> JSON:
        old_flags = int(message["flags"])
        for key in ("content", "embeds", "components", "attachments", "flags"):
            if body.get(key) is not None:
                message[key] = body[key]
        message["flags"] = (int(message["flags"]) | old_flags & EPHEMERAL) & ~LOADING
        message["edited_timestamp"] = now_iso()
        self.notify()
        if not message["flags"] & EPHEMERAL:
            await self._dispatch_message("MESSAGE_UPDATE", message)
        return message

    async def _delete(self, message: JSON) -> None:
        self.deleted_messages.append(self.messages.pop(int(message["id"])))
        self.notify()
        if self._session is not None and not message["flags"] & EPHEMERAL:
            event = {"id": message["id"], "channel_id": message["channel_id"]}
            if "guild_id" in message:
                event["guild_id"] = message["guild_id"]
            await self._session.dispatch("MESSAGE_DELETE", event)

    def _check_bot_can_send(self, channel: FakeChannel) -> None:
        if channel.recipient is not None:
            if channel.recipient.dms_closed or channel.recipient.bot:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
            return
        perms = self._bot_permissions(channel)
        if not perms & VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        if not perms & SEND_MESSAGES:
            raise DiscordError(403, 50013, "Missing Permissions")

    def _bot_can_read_history(self, channel: FakeChannel) -> bool:
        """Discord needs Read Message History for a reply (a message_reference) and for a
        reaction; a plain post needs only Send Messages."""
        return channel.recipient is not None or bool(
            self._bot_permissions(channel) & READ_MESSAGE_HISTORY
        )

    def _bot_permissions(self, channel: FakeChannel) -> int:
        guild = self.guilds[channel.guild_id or 0]
        member = guild.members.get(self.bot_user.id)
        return 0 if member is None else guild.permissions_of(member, channel)

    # ---- interactions ----------------------------------------------------------------

    async def _interact(
        self,
        type: int,
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        user: UserLike,
        data: JSON,
        *,
        locale: str,
        message: JSON | None = None,
        age: float = 0.0,
    ) -> FakeInteraction:
        session = self._require_session()
        user = as_user(user)
        channel = channel or self.dm_channel(user)
        interaction_id = self.ids.made_ago(age) if age else self.ids.next()
        token = f"interaction-token-{interaction_id}"
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "channel_id": str(channel.id),
        }
        if guild is None:
            payload |= self._dm_context(user, channel)
        else:
            payload |= self._guild_context(guild, user, channel, locale)
        if message is not None:
            payload["message"] = self._as_seen_by_bot(message, session.intents)
        interaction = FakeInteraction(interaction_id, token, type, payload)
        interaction.created -= age
        self.interactions[interaction_id] = interaction
        await session.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def _dm_context(self, user: FakeUser, channel: FakeChannel) -> JSON:
        return {
            "user": user.to_json(),
            "channel": channel.to_json() | {"permissions": str(DM_APP_PERMISSIONS)},
            "app_permissions": str(DM_APP_PERMISSIONS),
            "authorizing_integration_owners": {"1": str(user.id)},
            "context": 1,
        }

    def _guild_context(
        self, guild: FakeGuild, user: FakeUser, channel: FakeChannel, locale: str
    ) -> JSON:
        member = self._member(guild, user)
        perms = guild.permissions_of(member, channel)
        bot_perms = guild.permissions_of(guild.members[self.bot_user.id], channel)
        return {
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
            "guild_locale": guild.locale,
            "member": member.to_json() | {"permissions": str(perms)},
            "channel": channel.to_json() | {"permissions": str(perms)},
            "app_permissions": str(bot_perms),
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
        }

    async def _component(
        self,
        message: JSON | int,
        user: UserLike,
        custom_id: str,
        values: list[str],
        locale: str,
        age: float,
    ) -> FakeInteraction:
        current = self.messages[_message_id(message)]
        found = [
            c for c in walk_components(current["components"]) if c.get("custom_id") == custom_id
        ]
        if not found:
            raise ValueError(f"no component {custom_id!r} on message {current['id']}")
        data: JSON = {"custom_id": custom_id, "component_type": found[0]["type"]}
        if found[0]["type"] != 2:
            data["values"] = values
        channel = self.channels[int(current["channel_id"])]
        guild = self.guilds.get(channel.guild_id or 0)
        return await self._interact(
            3, guild, channel, user, data, locale=locale, message=current, age=age
        )

    def _command_data(
        self,
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        user: UserLike,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str | None,
    ) -> JSON:
        name, *subcommands = command.split()
        synced = self._find_command(guild, name)
        data: JSON = {
            "id": synced["id"] if synced else str(self.ids.next()),
            "name": name,
            "type": 1,
        }
        if synced and "guild_id" in synced:
            data["guild_id"] = synced["guild_id"]
        container, definitions = data, synced.get("options") if synced else None
        for depth, sub in enumerate(subcommands, start=1):
            definition = find_option(definitions, sub)
            node: JSON = {"name": sub, "type": 1 if depth == len(subcommands) else 2}
            container["options"] = [node]
            container, definitions = node, definition.get("options") if definition else None
        resolved: JSON = {}
        builder = OptionBuilder(self.users, self.channels, guild, channel, as_user(user), resolved)
        container["options"] = [
            builder.option(key, value, find_option(definitions, key), focused == key)
            for key, value in options.items()
        ]
        if resolved:
            data["resolved"] = resolved
        return data

    def _find_command(self, guild: FakeGuild | None, name: str) -> JSON | None:
        candidates = self.guild_commands.get(guild.id, []) if guild else []
        for command in [*candidates, *self.global_commands]:
            if command["name"] == name and command.get("type", 1) == 1:
                return command
        return None

    def _member(self, guild: FakeGuild, user: FakeUser) -> FakeMember:
        try:
            return guild.members[user.id]
        except KeyError:
            raise ValueError(f"{user.name} is not a member of {guild.name}") from None

    # ---- REST ------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/", self._gateway)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway),
            ("GET", "/users/@me", self._get_me),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", r"/users/{user_id:\d+}", self._get_user),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", r"/applications/{app:\d+}/commands", self._get_commands),
            ("PUT", r"/applications/{app:\d+}/commands", self._put_commands),
            ("POST", r"/applications/{app:\d+}/commands", self._post_command),
            ("GET", r"/applications/{app:\d+}/guilds/{guild:\d+}/commands", self._get_commands),
            ("PUT", r"/applications/{app:\d+}/guilds/{guild:\d+}/commands", self._put_commands),
            ("POST", r"/applications/{app:\d+}/guilds/{guild:\d+}/commands", self._post_command),
            ("GET", r"/guilds/{guild:\d+}", self._get_guild),
            ("GET", r"/guilds/{guild:\d+}/channels", self._get_guild_channels),
            ("GET", r"/guilds/{guild:\d+}/roles", self._get_roles),
            ("GET", r"/guilds/{guild:\d+}/members", self._get_members),
            ("GET", r"/guilds/{guild:\d+}/members/{user_id:\d+}", self._get_member),
            ("GET", r"/channels/{channel:\d+}", self._get_channel),
            ("POST", r"/channels/{channel:\d+}/typing", self._no_content),
            ("GET", r"/channels/{channel:\d+}/messages", self._get_history),
            ("POST", r"/channels/{channel:\d+}/messages", self._post_message),
            ("GET", r"/channels/{channel:\d+}/messages/{message:\d+}", self._get_message),
            ("PATCH", r"/channels/{channel:\d+}/messages/{message:\d+}", self._patch_message),
            ("DELETE", r"/channels/{channel:\d+}/messages/{message:\d+}", self._delete_message),
            ("PUT", self._REACTION, self._put_reaction),
            ("DELETE", self._REACTION, self._delete_reaction),
            ("POST", r"/interactions/{id:\d+}/{token}/callback", self._callback),
            ("POST", r"/webhooks/{app:\d+}/{token}", self._followup),
            ("GET", r"/webhooks/{app:\d+}/{token}/messages/{message}", self._get_webhook_message),
            (
                "PATCH",
                r"/webhooks/{app:\d+}/{token}/messages/{message}",
                self._patch_webhook_message,
            ),
            (
                "DELETE",
                r"/webhooks/{app:\d+}/{token}/messages/{message}",
                self._delete_webhook_message,
            ),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API + path, handler)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    _REACTION = r"/channels/{channel:\d+}/messages/{message:\d+}/reactions/{emoji}/@me"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/" and request.method == "GET":
            return await handler(request)
        body = await _read_body(request)
        request[BODY] = body
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), body)
        )
        try:
            self._raise_injected_failure(request)
            if (
                _needs_bot_auth(request)
                and request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                raise DiscordError(401, 0, "401: Unauthorized")
            response = await handler(request)
            if _matching(self._lost_answers, request):
                assert request.transport is not None
                request.transport.abort()  # carried out; the answer never leaves
            return response
        except DiscordError as error:
            return _json({"code": error.code, "message": error.message}, error.status)
        except Exception as error:
            # A 5xx would make discord.py sleep and retry; this fails the test at teardown.
            self.server_errors.append(f"{request.method} {request.path}: {error!r}")
            return _json({"code": 0, "message": f"fake Discord bug: {error!r}"}, 400)
        finally:
            self.notify()

    def _raise_injected_failure(self, request: web.Request) -> None:
        failure = _matching(self.failures, request)
        if failure is not None:
            raise failure.error

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        self.unknown_routes.append(f"{request.method} {request.path}")
        return _json({"code": 0, "message": "404: Not Found"}, 404)

    async def _no_content(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _get_gateway(self, request: web.Request) -> web.StreamResponse:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_me(self, request: web.Request) -> web.StreamResponse:
        return _json(self.bot_user.to_json() | {"verified": True, "mfa_enabled": False})

    async def _get_user(self, request: web.Request) -> web.StreamResponse:
        return _json(self._user_or_404(int(request.match_info["user_id"])).to_json())

    async def _get_application(self, request: web.Request) -> web.StreamResponse:
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.to_json(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": self.bot_user.to_json(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
            }
        )

    async def _create_dm(self, request: web.Request) -> web.StreamResponse:
        user = self._user_or_404(int(request[BODY]["recipient_id"]))
        return _json(self.dm_channel(user).to_json())

    def _command_list(self, request: web.Request) -> list[JSON]:
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild" not in request.match_info:
            return self.global_commands
        guild_id = int(request.match_info["guild"])
        if guild_id not in self.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return self.guild_commands.setdefault(guild_id, [])

    async def _get_commands(self, request: web.Request) -> web.StreamResponse:
        return _json(self._command_list(request))

    async def _put_commands(self, request: web.Request) -> web.StreamResponse:
        commands = self._command_list(request)
        old = {(c["name"], c.get("type", 1)): c["id"] for c in commands}
        commands[:] = [self._stored_command(request, c, old) for c in request[BODY]]
        return _json(commands)

    async def _post_command(self, request: web.Request) -> web.StreamResponse:
        commands = self._command_list(request)
        old = {(c["name"], c.get("type", 1)): c["id"] for c in commands}
        command = self._stored_command(request, request[BODY], old)
        commands[:] = [c for c in commands if c["id"] != command["id"]] + [command]
        return _json(command, 201)

    def _stored_command(self, request: web.Request, body: JSON, old: dict[Any, str]) -> JSON:
        key = (body["name"], body.get("type", 1))
        command = {
            "type": 1,
            "description": "",
            "default_member_permissions": None,
            "nsfw": False,
            **body,
            "id": old.get(key) or str(self.ids.next()),
            "application_id": str(self.application_id),
            "version": str(self.ids.next()),
        }
        if "guild" in request.match_info:
            command["guild_id"] = request.match_info["guild"]
        return command

    def _guild_or_404(self, request: web.Request) -> FakeGuild:
        try:
            return self.guilds[int(request.match_info["guild"])]
        except KeyError:
            raise DiscordError(404, 10004, "Unknown Guild") from None

    async def _get_guild(self, request: web.Request) -> web.StreamResponse:
        guild = self._guild_or_404(request)
        counts = {"approximate_member_count": len(guild.members), "approximate_presence_count": 0}
        return _json(guild.to_json() | (counts if request.query.get("with_counts") else {}))

    async def _get_guild_channels(self, request: web.Request) -> web.StreamResponse:
        return _json([c.to_json() for c in self._guild_or_404(request).channels.values()])

    async def _get_roles(self, request: web.Request) -> web.StreamResponse:
        return _json([r.to_json() for r in self._guild_or_404(request).roles.values()])

    async def _get_members(self, request: web.Request) -> web.StreamResponse:
        members = sorted(self._guild_or_404(request).members.values(), key=lambda m: m.id)
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 1))
        return _json([m.to_json() for m in members if m.id > after][:limit])

    async def _get_member(self, request: web.Request) -> web.StreamResponse:
        member = self._guild_or_404(request).members.get(int(request.match_info["user_id"]))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return _json(member.to_json())

    def _channel_or_404(self, request: web.Request) -> FakeChannel:
        try:
            return self.channels[int(request.match_info["channel"])]
        except KeyError:
            raise DiscordError(404, 10003, "Unknown Channel") from None

    def _message_or_404(self, request: web.Request) -> JSON:
        channel = self._channel_or_404(request)
        message = self.messages.get(int(request.match_info["message"]))
        if message is None or int(message["channel_id"]) != channel.id:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    def _user_or_404(self, user_id: int) -> FakeUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise DiscordError(404, 10013, "Unknown User") from None

    async def _get_channel(self, request: web.Request) -> web.StreamResponse:
        return _json(self._channel_or_404(request).to_json())

    async def _get_history(self, request: web.Request) -> web.StreamResponse:
        messages = self.messages_in(self._channel_or_404(request))
        before = int(request.query.get("before", 1 << 63))
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 50))
        newest_first = [m for m in reversed(messages) if after < int(m["id"]) < before]
        return _json(newest_first[:limit])

    async def _post_message(self, request: web.Request) -> web.StreamResponse:
        channel = self._channel_or_404(request)
        self._check_bot_can_send(channel)
        if "message_reference" in request[BODY] and not self._bot_can_read_history(channel):
            raise DiscordError(
                403, 160002, "Cannot reply without permission to read message history"
            )
        if channel.id in self._held:
            self.notify()  # the request is in: waiters may look at it
            await self._held[channel.id].wait()
        message = self._new_message(channel, self.bot_user, request[BODY])
        await self._post(message)
        return _json(message)

    async def _get_message(self, request: web.Request) -> web.StreamResponse:
        return _json(self._message_or_404(request))

    async def _patch_message(self, request: web.Request) -> web.StreamResponse:
        message = self._message_or_404(request)
        if int(message["author"]["id"]) != self.bot_user.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        return _json(await self._edit(message, request[BODY]))

    async def _delete_message(self, request: web.Request) -> web.StreamResponse:
        await self._delete(self._message_or_404(request))
        return web.Response(status=204)

    async def _put_reaction(self, request: web.Request) -> web.StreamResponse:
        reaction = self._reaction(request)
        if not self._bot_can_read_history(self.channels[reaction.channel_id]):
            raise DiscordError(403, 50013, "Missing Permissions")
        if reaction not in self.reactions:
            self.reactions.append(reaction)
        return web.Response(status=204)

    async def _delete_reaction(self, request: web.Request) -> web.StreamResponse:
        with suppress(ValueError):
            self.reactions.remove(self._reaction(request))
        return web.Response(status=204)

    def _reaction(self, request: web.Request) -> Reaction:
        message = self._message_or_404(request)
        emoji = request.match_info["emoji"]
        return Reaction(int(message["channel_id"]), int(message["id"]), emoji, self.bot_user.id)

    def _interaction_or_404(self, request: web.Request) -> FakeInteraction:
        token = request.match_info["token"]
        for interaction in self.interactions.values():
            if interaction.token == token:
                return interaction
        raise DiscordError(404, 10015, "Unknown Webhook")

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        interaction = self.interactions.get(int(request.match_info["id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        waited = asyncio.get_running_loop().time() - interaction.created
        late = interaction.expired or waited > self.response_deadline
        if late and not interaction.responses:
            raise DiscordError(404, 10062, "Unknown interaction")
        if interaction.responses:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        body: JSON = request[BODY]
        response = InteractionResponse(int(body["type"]), body.get("data") or {})
        interaction.responses.append(response)
        message = await self._respond(interaction, response)
        flags = int((message or {}).get("flags", 0))
        answer: JSON = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": response.type == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": response.type, "message": message}
        if not _flag(request, "with_response"):
            return web.Response(status=204)
        return _json(answer)

    async def _respond(
        self, interaction: FakeInteraction, response: InteractionResponse
    ) -> JSON | None:
        """Apply a callback: 4 message, 5 deferred (loading), 6 deferred update, 7 update."""
        if response.type in (4, 5):
            loading = LOADING if response.type == 5 else 0
            data = response.data | {"flags": int(response.data.get("flags") or 0) | loading}
            interaction.original = self._interaction_message(interaction, data)
            await self._post(interaction.original)
            return interaction.original
        if response.type in (6, 7) and interaction.message is not None:
            interaction.original = self.messages[int(interaction.message["id"])]
            if response.type == 7:
                return await self._edit(interaction.original, response.data)
        return None

    def _interaction_message(self, interaction: FakeInteraction, body: JSON) -> JSON:
        channel = self.channels[interaction.channel_id]
        message = self._new_message(channel, self.bot_user, body)
        message.pop("member", None)
        message["webhook_id"] = str(self.application_id)
        message["application_id"] = str(self.application_id)
        if interaction.type == 2:
            message["type"] = 20
        user = interaction.payload.get("member", interaction.payload).get("user")
        message["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user,
            "authorizing_integration_owners": interaction.payload[
                "authorizing_integration_owners"
            ],
        }
        return message

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        interaction = self._interaction_or_404(request)
        if not interaction.responses:
            raise DiscordError(404, 10015, "Unknown Webhook")
        original = interaction.original
        if original is not None and int(original["flags"]) & LOADING:
            # The first follow-up after a deferred answer takes the place of its "thinking…"
            # message, and is ephemeral exactly when the deferral was; its own flags still
            # say whether links unfurl.
            asked = int(request[BODY].get("flags") or 0) & SUPPRESS_EMBEDS
            body = request[BODY] | {"flags": int(original["flags"]) & EPHEMERAL | asked}
            message = await self._edit(original, body)
        else:
            message = self._interaction_message(interaction, request[BODY])
            interaction.followups.append(message)
            await self._post(message)
        return _json(message) if _flag(request, "wait") else web.Response(status=204)

    def _webhook_message(self, request: web.Request) -> tuple[FakeInteraction, JSON]:
        interaction = self._interaction_or_404(request)
        ref = request.match_info["message"]
        if ref == "@original":
            message = interaction.original
        else:
            message = next((m for m in interaction.followups if m["id"] == ref), None)
        if message is None or int(message["id"]) not in self.messages:
            raise DiscordError(404, 10008, "Unknown Message")
        return interaction, message

    async def _get_webhook_message(self, request: web.Request) -> web.StreamResponse:
        return _json(self._webhook_message(request)[1])

    async def _patch_webhook_message(self, request: web.Request) -> web.StreamResponse:
        _, message = self._webhook_message(request)
        return _json(await self._edit(message, request[BODY]))

    async def _delete_webhook_message(self, request: web.Request) -> web.StreamResponse:
        await self._delete(self._webhook_message(request)[1])
        return web.Response(status=204)

    def _raise_if_bot_died(self) -> None:
        for task in self._watched:
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise BotDiedError(f"the bot task ended: {error!r}") from error
        if self.bot_errors:
            raise BotDiedError(f"discord.py logged errors: {self.bot_errors}")


def _holding(message: JSON, sticker_items: Sequence[JSON], poll: JSON | None) -> JSON:
    """The message with its stickers and poll, keys Discord leaves out when there are none."""
    if sticker_items:
        message["sticker_items"] = list(sticker_items)
    if poll is not None:
        message["poll"] = poll
    return message


def _message_id(message: JSON | int) -> int:
    return int(message["id"]) if isinstance(message, dict) else int(message)


def _json(data: Any, status: int = 200) -> web.Response:
    # json_response would add "; charset=utf-8", and discord.py then sees a plain string.
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def _needs_bot_auth(request: web.Request) -> bool:
    return request.path.startswith(API) and not request.path.startswith(
        (f"{API}/webhooks/", f"{API}/interactions/")
    )


async def _read_body(request: web.Request) -> Any:
    if request.content_type == "application/json":
        return await request.json()
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        body: JSON = json.loads(str(form.get("payload_json", "{}")))
        files = [v for v in form.values() if isinstance(v, web.FileField)]
        body["attachments"] = [_attachment(i, f) for i, f in enumerate(files)]
        return body
    return None


def _attachment(index: int, file: web.FileField) -> JSON:
    size = len(file.file.read())
    url = f"https://cdn.invalid/attachments/{index}/{file.filename}"
    return {
        "id": str(index + 1),
        "filename": file.filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": file.content_type,
    }


# ---- running it -----------------------------------------------------------------------


@contextmanager
def point_discord_py_at(server: FakeDiscord) -> Iterator[None]:
    """Send discord.py's REST and gateway traffic to the fake; restored on exit."""
    old_base, old_gateway = (
        discord.http.Route.BASE,
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    discord.http.Route.BASE = server.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@asynccontextmanager
async def running_fake_discord(
    kind: type[FakeDiscord] = FakeDiscord, **options: Any
) -> AsyncIterator[FakeDiscord]:
    """A started fake (a `kind` of FakeDiscord) with discord.py pointed at it. Raises
    UnknownRouteError on exit if the bot called a route the fake does not know."""
    server = kind(**options)
    await server.start()
    try:
        with point_discord_py_at(server):
            yield server
    finally:
        await server.stop()
    server.check_no_unknown_routes()


@asynccontextmanager
async def running_bot(
    server: FakeDiscord, bot: ClientT, *, token: str | None = None, ready_timeout: float = 5.0
) -> AsyncIterator[ClientT]:
    """Log `bot` in, connect it and wait for on_ready; close it on exit. Login errors and
    errors before ready (e.g. PrivilegedIntentsRequired) are raised as themselves; the bot
    task ending, or discord.py logging an error (an exception in an event handler, command
    or view), raises BotDiedError; clear `server.bot_errors` in a test that expects one.
    Build bots with guild_ready_timeout=0.01."""
    try:
        await bot.login(server.token if token is None else token)
    except BaseException:
        await bot.close()
        raise
    task = asyncio.create_task(bot.connect(), name="fake-discord-bot")
    try:
        await _until_ready(bot, task, ready_timeout)
    except BaseException:
        await _stop(bot, task)
        raise
    died: Exception | None = None
    async with watching(server, task):
        try:
            yield bot
        finally:
            died = await _stop(bot, task)
    if died is not None:
        raise BotDiedError(f"the bot task failed: {died!r}") from died


@asynccontextmanager
async def watching(
    server: FakeDiscord, task: asyncio.Task[Any], loggers: Iterable[str] = ("discord",)
) -> AsyncIterator[None]:
    """While inside: `wait_for` fails fast once `task` (a running bot) ends, and errors
    logged by discord.py (or the other `loggers`) are collected in `server.bot_errors`.
    On exit, raises BotDiedError if any were. For bots started some other way than
    `running_bot` (e.g. by an adapter)."""
    server.watch(task)
    errors = _ErrorLog(server)
    for name in loggers:
        logging.getLogger(name).addHandler(errors)
    try:
        yield
    finally:
        for name in loggers:
            logging.getLogger(name).removeHandler(errors)
        server.unwatch(task)
    if server.bot_errors:
        raise BotDiedError(f"discord.py logged errors: {server.bot_errors}")


class _ErrorLog(logging.Handler):
    """discord.py logs, rather than raises, exceptions in event handlers, commands and views."""

    def __init__(self, server: FakeDiscord) -> None:
        super().__init__(logging.ERROR)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        self.server.bot_errors.append(f"{record.getMessage()}: {error!r}")
        self.server.notify()


async def _until_ready(bot: discord.Client, task: asyncio.Task[None], limit: float) -> None:
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        return
    ready.cancel()
    with suppress(asyncio.CancelledError):
        await ready
    if task in done:
        task.result()
        raise BotDiedError("the bot stopped before it was ready")
    raise TimeoutError(f"the bot was not ready within {limit}s")


async def _stop(bot: discord.Client, task: asyncio.Task[None]) -> Exception | None:
    await bot.close()
    try:
        await task
    except Exception as error:
        return error
    return None


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A fresh fake per test; the test fails at teardown if an unknown route was called."""
    async with running_fake_discord() as server:
        yield server

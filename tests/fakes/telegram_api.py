"""A fake Telegram Bot API server behind PTB's HTTP seam (`telegram.request.BaseRequest`).

PTB builds and parses real Bot API payloads against it. The fake keeps what a server
keeps (pending updates, the bot's sent messages, who blocked the bot), parses
`parse_mode=HTML` as strictly as Telegram does, enforces its length limits (counted as
Telegram counts them: UTF-16 code units of the parsed text) and forum topics, records every
call, and fails a method on request (429, 403, 400, a network error, or a timeout after the
method did its work). A group upgraded to a supergroup refuses messages as Telegram does,
with the new id in the error's `parameters`.
`Server` state is shared with the HTTP flavour of the fake used by the subprocess test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

JSON = dict[str, Any]

TOKEN = "123456789:AAH-fake-token_DoNotLeak-0123456789"
BOT_ID = 123456789
BOT_USERNAME = "glutebot_test"
WAIT_LIMIT = 5.0
# Telegram's limits, in UTF-16 code units of the text as shown (markup parsed away).
MESSAGE_LIMIT = 4096
TOAST_LIMIT = 200
# What each kind of media looks like in a message (one size of a photo is enough).
MEDIA: dict[str, Any] = {
    "photo": [{"file_id": "ph1", "file_unique_id": "uph1", "width": 90, "height": 90}],
    "sticker": {
        "file_id": "st1",
        "file_unique_id": "ust1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    },
    "voice": {"file_id": "vo1", "file_unique_id": "uvo1", "duration": 3},
    "poll": {
        "id": "po1",
        "question": "Leg day today?",
        "options": [
            {"text": answer, "voter_count": 0, "persistent_id": answer} for answer in ("yes", "no")
        ],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": True,
        "members_only": False,
    },
}


@dataclass(frozen=True)
class Call:
    method: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    username: str | None = None

    def json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        return data


@dataclass(frozen=True)
class Group:
    id: int
    title: str = "Desk Workers"
    type: str = "supergroup"  # or "group": a basic group, before any upgrade
    forum: bool = False  # a supergroup with topics

    def json(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type, "title": self.title}
        if self.forum:
            data["is_forum"] = True
        return data


@dataclass(frozen=True)
class Channel:
    id: int
    title: str = "Desk Workers News"

    def json(self) -> JSON:
        return {"id": self.id, "type": "channel", "title": self.title}


# The sender Telegram names for a message posted on behalf of a channel.
CHANNEL_BOT: JSON = {
    "id": 136817688,
    "is_bot": True,
    "first_name": "Channel",
    "username": "Channel_Bot",
}


def _as_replied(message: JSON) -> JSON:
    """`message` as a reply carries it: Telegram leaves out what it replied to in turn (a
    thread of replies would otherwise nest every message before it)."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _reply_thread(chat: JSON, replied: JSON) -> JSON:
    """In a supergroup, a reply belongs to the thread of the message it answers, or starts
    one there: it carries the thread's id (the first message's), though no topic but a
    forum's is a thread a message can be sent to by id. A comment under a channel's post,
    in the channel's discussion group, is in the thread of that post's copy."""
    if chat.get("type") != "supergroup" or replied.get("is_topic_message"):
        return {}
    return {"message_thread_id": replied.get("message_thread_id", replied["message_id"])}


@dataclass
class Failure:
    kind: str
    times: int
    retry_after: float = 0.01
    description: str = ""


class ApiError(Exception):
    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        data: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            data["parameters"] = self.parameters
        return data


ERRORS = {
    "429": lambda f: ApiError(
        429, f"Too Many Requests: retry after {f.retry_after}", retry_after=f.retry_after
    ),
    "401": lambda f: ApiError(401, "Unauthorized"),  # the token was revoked
    "403": lambda f: ApiError(403, f.description or "Forbidden: bot was blocked by the user"),
    "400": lambda f: ApiError(400, f.description or "Bad Request: chat not found"),
    "500": lambda f: ApiError(500, f.description or "Internal Server Error"),
    "404": lambda f: ApiError(404, "Not Found"),
    "409": lambda f: ApiError(409, "Conflict: terminated by other getUpdates request"),
}


class Server:
    """What the Bot API server holds, and its methods."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.me: JSON = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "glutebot",
            "username": BOT_USERNAME,
        }
        self.calls: list[Call] = []
        self.unknown: list[str] = []
        self.pending: list[JSON] = []
        self.blocked: set[int] = set()
        self.started: set[int] = set()
        self.people: dict[int, Person] = {}
        self.groups: dict[int, Group] = {}
        # Groups upgraded to supergroups: their old id, and the new one Telegram names.
        self.migrated: dict[int, int] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        # Each forum's topics: their thread id is the id of the message that opened them.
        self.topics: dict[int, dict[int, JSON]] = {}
        self.confirmed_below = 0
        self.dropped: set[int] = set()  # updates of a kind the bot didn't ask for
        # Seconds each call spends "on the network", and the most calls in flight at once
        # (getUpdates, which waits for updates, not counted).
        self.latency = 0.0
        self.most_in_flight = 0
        self._in_flight = 0
        # Longest getUpdates wait, whatever the bot asks (a real server caps it at 50 s).
        self.max_poll_wait = 50.0
        self._failures: dict[str, deque[Failure]] = {}
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._channel_post_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._polled = asyncio.Event()
        self._called = asyncio.Event()

    # Test controls.

    def fail(self, method: str, kind: str, times: int = 1, **options: Any) -> None:
        self._failures.setdefault(method, deque()).append(Failure(kind, times, **options))

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def offsets(self) -> list[int | None]:
        return [call.params.get("offset") for call in self.calls_to("getUpdates")]

    def push(self, update: JSON) -> int:
        self.pending.append(update)
        self._arrived.set()
        return int(update["update_id"])

    def user_says(
        self,
        person: Person,
        text: str,
        group: Group | None = None,
        reply_to: JSON | None = None,
        *,
        topic: int | None = None,
        forwarded_from: Person | None = None,
    ) -> JSON:
        """A message from `person`, in their private chat or in `group` (in one of its
        `topic`s), typed or forwarded from someone; not yet pushed."""
        content: JSON = {"text": text}
        entities = _entities_of(text)
        if entities:
            content["entities"] = entities
        if forwarded_from is not None:
            origin = {
                "type": "user",
                "date": int(time.time()),
                "sender_user": forwarded_from.json(),
            }
            content["forward_origin"] = origin
        return self._posted(person, content, group, reply_to, topic)

    def user_sends(
        self,
        person: Person,
        media: str,
        caption: str | None = None,
        group: Group | None = None,
        *,
        topic: int | None = None,
    ) -> JSON:
        """A "photo", "sticker", "voice" or "poll" message from `person`, with an optional
        caption (a poll has none)."""
        content: JSON = {media: MEDIA[media]}
        if caption is not None:
            content["caption"] = caption
            entities = _entities_of(caption)
            if entities:
                content["caption_entities"] = entities
        return self._posted(person, content, group, None, topic)

    def channel_posts(self, channel: Channel, discussion: Group, text: str) -> JSON:
        """`channel` posts `text`: Telegram copies the post into the channel's `discussion`
        group (an automatic forward), where the comments under the post reply to it."""
        self.groups[discussion.id] = discussion
        post: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": discussion.json(),
            # Sent on behalf of the channel: Telegram names its placeholder bot as sender.
            "from": CHANNEL_BOT,
            "sender_chat": channel.json(),
            "is_automatic_forward": True,
            "forward_origin": {
                "type": "channel",
                "chat": channel.json(),
                "message_id": next(self._channel_post_ids),
                "date": int(time.time()),
            },
            "text": text,
        }
        self.messages[(discussion.id, post["message_id"])] = post
        return post

    def open_topic(self, group: Group, by: Person, name: str = "Workouts") -> int:
        """`by` opens a topic in the forum `group`; its thread id."""
        assert group.forum, "only a forum has topics"
        self.groups[group.id] = group
        opened: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": group.json(),
            "from": by.json(),
            "forum_topic_created": {"name": name, "icon_color": 7322096},
            "is_topic_message": True,
        }
        thread = int(opened["message_id"])
        opened["message_thread_id"] = thread
        self.topics.setdefault(group.id, {})[thread] = opened
        self.messages[(group.id, thread)] = opened
        return thread

    def _posted(
        self,
        person: Person,
        content: JSON,
        group: Group | None,
        reply_to: JSON | None,
        topic: int | None,
    ) -> JSON:
        self.people[person.id] = person
        chat = group.json() if group else {**person.json(), "type": "private"}
        chat.pop("is_bot", None)
        if group is None:
            self.started.add(person.id)
        else:
            self.groups[group.id] = group
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": person.json(),
            **content,
        }
        if topic is not None:
            assert group is not None, "topics exist in groups only"
            assert topic in self.topics.get(group.id, {}), "no such topic"
            message["message_thread_id"] = topic
            message["is_topic_message"] = True
            # In a topic, a message that replies to nothing replies to the topic's opening.
            reply_to = reply_to or self.topics[group.id][topic]
        if reply_to is not None:
            message["reply_to_message"] = _as_replied(reply_to)
            message.update(_reply_thread(chat, reply_to))
        self.messages[(chat["id"], message["message_id"])] = message
        return {"update_id": next(self._update_ids), "message": message}

    def press(self, person: Person, message: JSON, data: str) -> JSON:
        query = {
            "id": str(next(self._callback_ids)),
            "from": person.json(),
            "message": message,
            "chat_instance": f"ci-{message['chat']['id']}",
            "data": data,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def upgrades(self, group: Group, supergroup: Group, by: Person) -> list[JSON]:
        """`group` becomes `supergroup`, with a new id: the two service messages Telegram
        sends, one in each chat. From then on the old id refuses messages, naming the new."""
        self.groups[supergroup.id] = supergroup
        self.migrated[group.id] = supergroup.id
        said = {"date": int(time.time()), "from": by.json()}
        old = {**said, "chat": group.json(), "migrate_to_chat_id": supergroup.id}
        new = {**said, "chat": supergroup.json(), "migrate_from_chat_id": group.id}
        return [
            {
                "update_id": next(self._update_ids),
                "message": {**message, "message_id": next(self._message_ids)},
            }
            for message in (old, new)
        ]

    def edits(self, message: JSON, text: str) -> JSON:
        """The sender edits their `message` to say `text` (a photo's or a voice message's
        caption, for one of those): Telegram sends it again, whole, as an edited message."""
        said, marks = (
            ("text", "entities") if "text" in message else ("caption", "caption_entities")
        )
        content: JSON = {said: text}
        entities = _entities_of(text)
        if entities:
            content[marks] = entities
        kept = {k: v for k, v in message.items() if k not in (said, marks)}
        # Seconds, as Telegram counts: a second edit within the same second still differs.
        latest = self.messages.get((message["chat"]["id"], message["message_id"]), message)
        edit_date = max(int(time.time()), int(latest.get("edit_date", 0)) + 1)
        edited = {**kept, **content, "edit_date": edit_date}
        self.messages[(edited["chat"]["id"], edited["message_id"])] = edited
        return {"update_id": next(self._update_ids), "edited_message": edited}

    def blocks(self, person: Person) -> JSON:
        """`person` blocks the bot: the server stops delivery and tells the bot."""
        self.blocked.add(person.id)
        return self._membership(person, "member", "kicked")

    def unblocks(self, person: Person) -> JSON:
        """`person` unblocks the bot (in their settings: no message comes with it)."""
        self.blocked.discard(person.id)
        return self._membership(person, "kicked", "member")

    def _membership(self, person: Person, old: str, new: str) -> JSON:
        chat = {**person.json(), "type": "private"}
        chat.pop("is_bot", None)
        kicked = {"until_date": 0}
        change = {
            "chat": chat,
            "from": person.json(),
            "date": int(time.time()),
            "old_chat_member": {
                "status": old,
                "user": self.me,
                **(kicked if old == "kicked" else {}),
            },
            "new_chat_member": {
                "status": new,
                "user": self.me,
                **(kicked if new == "kicked" else {}),
            },
        }
        return {"update_id": next(self._update_ids), "my_chat_member": change}

    def again(self, update: JSON) -> JSON:
        """`update` as Telegram delivers it again to a bot that stopped before confirming
        it (a crash). One the bot did confirm is gone from the server, so the copy gets a
        fresh update id; the bot keys nothing on update ids, only on what they carry."""
        return {**update, "update_id": next(self._update_ids)}

    async def confirmed(self, update_id: int) -> None:
        """Waits until the bot confirmed `update_id` (it called getUpdates with a higher
        offset), or Telegram dropped it as of a kind the bot didn't ask for."""
        async with asyncio.timeout(WAIT_LIMIT):
            while self.confirmed_below <= update_id and update_id not in self.dropped:
                self._polled.clear()
                await self._polled.wait()

    async def until_sent_to(self, chat_id: int, count: int = 1) -> None:
        """Waits until the bot has `count` messages in `chat_id`."""
        await self.until(lambda: len(self.bot_messages(chat_id)) >= count)

    async def until(self, condition: Callable[[], bool], limit: float = WAIT_LIMIT) -> None:
        async with asyncio.timeout(limit):
            while not condition():
                self._called.clear()
                await self._called.wait()

    def bot_messages(self, chat_id: int) -> list[JSON]:
        return [
            m
            for (chat, _), m in sorted(self.messages.items())
            if chat == chat_id and m["from"]["id"] == BOT_ID
        ]

    # The protocol.

    async def call(self, method: str, params: Mapping[str, Any]) -> tuple[int, JSON]:
        self.calls.append(Call(method, dict(params)))
        counted = method != "getUpdates"
        self._in_flight += counted
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return await self._answer(method, params)
        finally:
            self._in_flight -= counted
            self._called.set()

    async def _answer(self, method: str, params: Mapping[str, Any]) -> tuple[int, JSON]:
        try:
            lost = self._maybe_fail(method)
            handler = getattr(self, f"api_{method}", None)
            if handler is None:
                self.unknown.append(method)
                raise ApiError(404, "Not Found")
            result = await handler(params)
        except ApiError as exc:
            return exc.status, exc.body()
        if lost:
            # The server did the work, but its answer never reached the bot (in process only).
            raise TimedOut("Timed out")
        return 200, {"ok": True, "result": result}

    def _maybe_fail(self, method: str) -> bool:
        """Raises the failure due now; True if it's a timeout, which comes after the work."""
        queue = self._failures.get(method)
        if not queue:
            return False
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        if failure.kind == "timeout":
            return True
        if failure.kind == "network":
            raise ConnectionResetError("connection reset by peer")
        raise ERRORS[failure.kind](failure)

    async def api_getMe(self, params: Mapping[str, Any]) -> JSON:
        return self.me

    async def api_deleteWebhook(self, params: Mapping[str, Any]) -> bool:
        return True

    async def api_setMyCommands(self, params: Mapping[str, Any]) -> bool:
        return True

    async def api_answerCallbackQuery(self, params: Mapping[str, Any]) -> bool:
        if _utf16_len(str(params.get("text", ""))) > TOAST_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def api_setMessageReaction(self, params: Mapping[str, Any]) -> bool:
        return True

    async def api_getUpdates(self, params: Mapping[str, Any]) -> list[JSON]:
        offset = params.get("offset")
        self._drop_unwanted(params.get("allowed_updates"))
        if offset is not None:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
            self.confirmed_below = max(self.confirmed_below, int(offset))
        self._polled.set()
        if not self.pending and params.get("timeout"):
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                wait = min(float(params["timeout"]), self.max_poll_wait)
                await asyncio.wait_for(self._arrived.wait(), wait)
        return self.pending[: int(params.get("limit") or 100)]

    def _drop_unwanted(self, allowed: Any) -> None:
        """Telegram never delivers an update of a kind the bot didn't ask for (see
        `allowed_updates`): it is dropped."""
        if not allowed:
            return
        unwanted = [u for u in self.pending if not set(u) - {"update_id"} <= set(allowed)]
        self.dropped.update(int(update["update_id"]) for update in unwanted)
        self.pending = [u for u in self.pending if u not in unwanted]

    async def api_sendMessage(self, params: Mapping[str, Any]) -> JSON:
        chat_id = int(params["chat_id"])
        chat = self._chat(chat_id)
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.me,
            **_formatted(params),
        }
        replied = None
        reply_to = params.get("reply_parameters")
        if reply_to:
            replied = self.messages.get((chat_id, int(reply_to["message_id"])))
            if replied is not None:
                message["reply_to_message"] = _as_replied(replied)
        thread = self._thread(chat_id, params.get("message_thread_id"), replied)
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        elif replied is not None:
            message.update(_reply_thread(chat, replied))
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def api_editMessageText(self, params: Mapping[str, Any]) -> JSON:
        message = self._own_message(params)
        edited = {**message, **_formatted(params), "edit_date": int(time.time())}
        if "reply_markup" not in params:
            edited.pop("reply_markup", None)
        return self._replace(message, edited)

    async def api_editMessageReplyMarkup(self, params: Mapping[str, Any]) -> JSON:
        message = self._own_message(params)
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        markup = params.get("reply_markup")
        if markup and markup.get("inline_keyboard"):
            edited["reply_markup"] = markup
        return self._replace(message, edited)

    def _chat(self, chat_id: int) -> JSON:
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        if chat_id in self.groups:
            return self.groups[chat_id].json()
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.started:
            if chat_id in self.people:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")
        chat = {**self.people[chat_id].json(), "type": "private"}
        chat.pop("is_bot", None)
        return chat

    def _thread(self, chat_id: int, asked: Any, replied: JSON | None) -> int | None:
        """The topic a new message lands in: the one asked for, else the replied message's
        (none: the forum's General topic)."""
        if asked is not None:
            if int(asked) not in self.topics.get(chat_id, {}):
                raise ApiError(400, "Bad Request: message thread not found")
            return int(asked)
        if replied is not None and replied.get("is_topic_message"):
            return int(replied["message_thread_id"])
        return None

    def _own_message(self, params: Mapping[str, Any]) -> JSON:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None or message["from"]["id"] != BOT_ID:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _replace(self, old: JSON, new: JSON) -> JSON:
        if {k: v for k, v in new.items() if k != "edit_date"} == old:
            raise ApiError(400, "Bad Request: message is not modified")
        self.messages[(new["chat"]["id"], new["message_id"])] = new
        return new


class FakeBotApi(BaseRequest):
    """PTB's transport, answered in process by a `Server`."""

    def __init__(self, server: Server | None = None) -> None:
        self.server = server or Server()
        self.urls: list[str] = []
        self.network_errors_quote_url = False

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        self.urls.append(url)
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        try:
            status, body = await self.server.call(endpoint, params)
        except ConnectionResetError as exc:
            # Real transports often quote the URL, and with it the token.
            raise ConnectionResetError(f"{exc} while requesting {url}") from None
        return status, json.dumps(body).encode()


class HttpBotApi:
    """The same `Server` over real HTTP, for a bot in another process
    (TELEGRAM_API_URL=`url`)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        # A killed bot leaves its long poll open: keep such waits short.
        server.max_poll_wait = 0.5
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        self.url = ""

    async def start(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.server.token:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        else:
            params = _form_params(await request.post())
            status, body = await self.server.call(request.match_info["method"], params)
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _form_params(form: Mapping[str, Any]) -> JSON:
    # PTB sends each parameter JSON-encoded, except plain strings.
    params: JSON = {}
    for key, value in form.items():
        try:
            params[key] = value if key == "text" else json.loads(value)
        except ValueError:
            params[key] = value
    return params


# Telegram's HTML, as strictly as Telegram reads it.

_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "s": "strikethrough",
    "code": "code",
    "pre": "pre",
}
_ENTITY_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TOKEN = re.compile(
    r"<(?P<close>/?)(?P<tag>[a-z-]+)>|&(?P<ref>lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);|(?P<bad>[<&])"
)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Text and entities, as Telegram derives them from `parse_mode=HTML` (or a 400)."""
    plain: list[str] = []
    length = 0
    open_tags: list[tuple[str, int]] = []
    entities: list[JSON] = []
    position = 0
    for match in _TOKEN.finditer(source):
        chunk = source[position : match.start()]
        plain.append(chunk)
        length += _utf16_len(chunk)
        position = match.end()
        if match["bad"]:
            raise ApiError(
                400,
                "Bad Request: can't parse entities: unescaped "
                f"{match['bad']!r} at byte offset {len(source[: match.start()].encode())}",
            )
        if match["ref"]:
            ref = match["ref"]
            char = _ENTITY_REFS.get(ref) or _char_of(ref)
            plain.append(char)
            length += _utf16_len(char)
            continue
        tag = match["tag"]
        if tag not in _TAGS:
            raise ApiError(400, f"Bad Request: can't parse entities: Unsupported tag {tag!r}")
        if not match["close"]:
            open_tags.append((tag, length))
            continue
        if not open_tags or open_tags[-1][0] != tag:
            raise ApiError(400, f"Bad Request: can't parse entities: unmatched </{tag}>")
        _, start = open_tags.pop()
        if length > start:
            entities.append({"type": _TAGS[tag], "offset": start, "length": length - start})
    if open_tags:
        raise ApiError(400, "Bad Request: can't parse entities: unclosed tag")
    tail = source[position:]
    plain.append(tail)
    return "".join(plain), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _char_of(numeric_ref: str) -> str:
    digits = numeric_ref[1:]
    return chr(int(digits[1:], 16) if digits.startswith("x") else int(digits))


def _formatted(params: Mapping[str, Any]) -> JSON:
    text = str(params.get("text", ""))
    if params.get("parse_mode") == "HTML":
        text, entities = parse_html(text)
    else:
        entities = []
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(text) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    data: JSON = {"text": text}
    if entities:
        data["entities"] = entities
    markup = params.get("reply_markup")
    if markup and markup.get("inline_keyboard"):
        keys = [key for row in markup["inline_keyboard"] for key in row]
        if any(len(str(key.get("callback_data", "")).encode()) > 64 for key in keys):
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")  # 64 bytes at most
        data["reply_markup"] = markup
    return data


def _entities_of(text: str) -> list[JSON]:
    """What Telegram marks in a typed message: a leading /command (of Latin letters, digits
    and underscores: "/𐀀" is none) and @mentions."""
    entities: list[JSON] = []
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": command.end()})
    for mention in re.finditer(r"(?<!\w)@\w{3,}", text):
        offset = _utf16_len(text[: mention.start()])
        entities.append(
            {"type": "mention", "offset": offset, "length": _utf16_len(mention.group())}
        )
    return entities


class Talk:
    """One person talking to the bot through a `Server`, as a test tells it."""

    def __init__(
        self, server: Server, person: Person, group: Group | None = None, topic: int | None = None
    ) -> None:
        self.server = server
        self.person = person
        self.group = group
        self.topic = topic

    @property
    def chat_id(self) -> int:
        return self.group.id if self.group else self.person.id

    async def say(self, text: str, reply_to: JSON | None = None) -> list[Call]:
        """Sends `text`; returns the calls the bot made until it confirmed the update."""
        said = self.server.user_says(self.person, text, self.group, reply_to, topic=self.topic)
        return await self.deliver(said)

    async def send(self, media: str, caption: str | None = None) -> list[Call]:
        """Sends a photo, sticker, voice message or poll, as `say` sends text."""
        sent = self.server.user_sends(self.person, media, caption, self.group, topic=self.topic)
        return await self.deliver(sent)

    async def tap(self, label: str, chat_id: int | None = None) -> list[Call]:
        """Presses the newest button labelled `label` in the chat (default: this one)."""
        message, data = self.button(label, chat_id)
        return await self.deliver(self.server.press(self.person, message, data))

    async def deliver(self, update: JSON) -> list[Call]:
        mark = len(self.server.calls)
        await self.server.confirmed(self.server.push(update))
        return [call for call in self.server.calls[mark:] if call.method != "getUpdates"]

    def button(self, label: str, chat_id: int | None = None) -> tuple[JSON, str]:
        for message in reversed(self.server.bot_messages(chat_id or self.chat_id)):
            for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                for key in row:
                    if key["text"] == label and "callback_data" in key:
                        return message, key["callback_data"]
        raise AssertionError(f"no button {label!r} in chat {chat_id or self.chat_id}")

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [m["text"] for m in self.server.bot_messages(chat_id or self.chat_id)]

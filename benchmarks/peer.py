"""Against the peer: the symptom check as a python-telegram-bot user would build it
(`ConversationHandler` + `PicklePersistence`) and glutebot's Telegram adapter, both fed the
same Bot-API updates through PTB's `Application.process_update`, over the same offline
transport (a `BaseRequest` that answers in process).

Both bots answer a button press the same way: answerCallbackQuery, the question edited to
show the answer (editMessageText), and the next question (sendMessage). glutebot commits
every message to SQLite before answering; the peer keeps state in memory and pickles it
on an interval (PTB's default: every 60 s and at shutdown), so its file is never written
while it is measured. Its shutdown flush is timed separately.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    PicklePersistence,
)
from telegram.request import BaseRequest, RequestData

from bot.adapters.telegram_adapter import TelegramAdapter
from bot.app import open_core
from bot.flows import check

JSON = dict[str, Any]
TOKEN = "123456789:AAH-bench-token-0123456789abcdefghij"
ME: JSON = {"id": 123456789, "is_bot": True, "first_name": "bench", "username": "bench_bot"}
# The answers each person gives, as the value the bot's button carries (or ends with).
ANSWERS = ("no", "no", "yes", "sometimes", "yes", "no", "over8", "no_run", "yes")
UPDATES_PER_CHECK = 1 + len(ANSWERS)
AnyApp = Application[Any, Any, Any, Any, Any, Any]
Context = CallbackContext[Any, Any, Any, Any]


class OfflineBotApi(BaseRequest):
    """Answers the Bot API methods both bots use, in process; remembers each chat's last
    message from the bot so the people can press its buttons. `latency` puts each call
    that many seconds away, as Telegram's servers are."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls = 0
        self.last: dict[int, JSON] = {}
        self._ids = itertools.count(1)

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
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        self.calls += 1
        if endpoint == "getUpdates":  # glutebot's poller: nothing ever arrives this way
            await asyncio.sleep(float(str(params.get("timeout") or 0)))
            return 200, b'{"ok": true, "result": []}'
        if self.latency:
            await asyncio.sleep(self.latency)
        result: Any
        if endpoint == "getMe":
            result = ME
        elif endpoint in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            result = self._message(endpoint, params)
        else:  # answerCallbackQuery, setMyCommands, deleteWebhook, setMessageReaction
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _message(self, endpoint: str, params: Any) -> JSON:
        chat_id = int(params["chat_id"])
        message: JSON = {
            "message_id": next(self._ids) if endpoint == "sendMessage" else params["message_id"],
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": f"P{chat_id}"},
            "from": ME,
            "text": params.get("text", "question"),
        }
        markup = params.get("reply_markup")
        if markup and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        if endpoint == "sendMessage":
            self.last[chat_id] = message
        return message


class Person:
    """Someone taking the check: /check, then a press on a button of the last message."""

    def __init__(self, number: int, api: OfflineBotApi, app: AnyApp) -> None:
        self.id = 5_000_000 + number
        self.api = api
        self.app = app
        self._update_ids = itertools.count(self.id * 1000)

    async def take_check(self) -> None:
        me = {"id": self.id, "is_bot": False, "first_name": f"P{self.id}"}
        await self._process(
            {
                "message": {
                    "message_id": next(self._update_ids),
                    "date": int(time.time()),
                    "chat": {"id": self.id, "type": "private", "first_name": me["first_name"]},
                    "from": me,
                    "text": "/check",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                }
            }
        )
        for answer in ANSWERS:
            message = self.api.last[self.id]
            await self._process(
                {
                    "callback_query": {
                        "id": str(next(self._update_ids)),
                        "from": me,
                        "message": message,
                        "chat_instance": f"ci{self.id}",
                        "data": _button(message, answer),
                    }
                }
            )

    async def _process(self, data: JSON) -> None:
        data["update_id"] = next(self._update_ids)
        await self.app.process_update(Update.de_json(data, self.app.bot))


def _button(message: JSON, answer: str) -> str:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    for row in rows:
        for button in row:
            data = str(button["callback_data"])
            if data == answer or data.endswith(f":{answer}"):
                return data
    raise RuntimeError(f"no button {answer!r} under {message['text'][:60]!r}")


@dataclass(frozen=True)
class Side:
    people: int
    updates: int
    seconds: float
    flush_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def _crowd(api: OfflineBotApi, app: AnyApp, people: int, rounds: int) -> Side:
    crowd = [Person(n, api, app) for n in range(people)]
    await asyncio.gather(*(person.take_check() for person in crowd[:1]))  # warm up
    started = time.perf_counter()
    for _ in range(rounds):
        await asyncio.gather(*(person.take_check() for person in crowd))
    seconds = time.perf_counter() - started
    return Side(people, people * rounds * UPDATES_PER_CHECK, seconds)


async def glutebot(people: int, rounds: int, latency: float = 0.0) -> Side:
    api = OfflineBotApi(latency)
    with tempfile.TemporaryDirectory(prefix="glutebot-peer-") as folder:
        async with open_core(Path(folder) / "glutebot.db") as core:
            # Rates of 0 switch the limiter's pacing off (as the peer has none); its code
            # path stays in, as in production.
            limiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=0)
            adapter = TelegramAdapter(core, TOKEN, request=api, rate_limiter=limiter)
            await adapter.start()
            try:
                return await _crowd(api, adapter._app, people, rounds)
            finally:
                await adapter.stop()


async def peer(people: int, rounds: int, latency: float = 0.0) -> Side:
    api = OfflineBotApi(latency)
    with tempfile.TemporaryDirectory(prefix="glutebot-peer-") as folder:
        app = _peer_app(api, Path(folder) / "peer.pickle")
        await app.initialize()
        await app.start()
        try:
            side = await _crowd(api, app, people, rounds)
        finally:
            started = time.perf_counter()
            await app.stop()
            await app.shutdown()  # writes the pickle
            flush = time.perf_counter() - started
        return Side(side.people, side.updates, side.seconds, flush)


def _peer_app(api: OfflineBotApi, path: Path) -> AnyApp:
    """The symptom check the way PTB's examples build a conversation."""
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(api)
        .get_updates_request(api)
        .updater(None)
        .persistence(PicklePersistence(path))
        .build()
    )
    questions = check.QUESTIONS

    def keyboard(step: int) -> InlineKeyboardMarkup:
        choices = questions[step].choices
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(c.label, callback_data=c.value) for c in choices]]
        )

    async def start(update: Update, context: Context) -> int:
        assert update.message is not None
        assert context.user_data is not None
        context.user_data["answers"] = {}
        await update.message.reply_text("A few questions, one at a time.")
        await update.message.reply_text(
            f"1/{len(questions)}: {questions[0].id}?", reply_markup=keyboard(0)
        )
        return 0

    def answer(step: int) -> Callable[[Update, Context], Coroutine[Any, Any, int]]:
        async def handle(update: Update, context: Context) -> int:
            query = update.callback_query
            assert query is not None
            assert query.data is not None
            assert context.user_data is not None
            assert isinstance(query.message, Message)
            await query.answer()
            await query.edit_message_text(f"{questions[step].id}? {query.data}")
            answers = context.user_data["answers"]
            answers[questions[step].id] = query.data
            if check.red_flag(answers) is not None:
                await query.message.reply_text("Please see a doctor or physiotherapist.")
                return ConversationHandler.END
            if step + 1 < len(questions):
                await query.message.reply_text(
                    f"{step + 2}/{len(questions)}: {questions[step + 1].id}?",
                    reply_markup=keyboard(step + 1),
                )
                return step + 1
            result = check.score(answers)
            await query.message.reply_text(f"Glute amnesia is {result.band}: {result.symptoms}")
            return ConversationHandler.END

        return handle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's per_message advice: per chat is what we want
        conversation = ConversationHandler(
            entry_points=[CommandHandler("check", start)],
            states={step: [CallbackQueryHandler(answer(step))] for step in range(len(questions))},
            fallbacks=[],
            name="check",
            persistent=True,
        )
    app.add_handler(conversation)
    return app

"""The Bot API calls the adapter makes, sent as plain JSON through PTB's bot.

PTB's typed methods (`bot.send_message`, `Message.edit_text`, ...) turn Telegram's answer,
the whole message echoed back, into PTB objects. glutebot never reads that answer, and
parsing it was the largest single cost of answering a button press (docs/BENCHMARKS.md).
These calls go through the same bot, so PTB's AIORateLimiter, its timeouts and its
mapping of refusals onto `TelegramError` subclasses all still apply.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.constants import ParseMode, ReactionEmoji
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, ExtBot

from bot.adapters.send_watch import note_leaving
from bot.adapters.telegram_wire import JSON

HTML = ParseMode.HTML.value


class BotCalls:
    def __init__(self, bot: ExtBot[Any]) -> None:
        self._bot = bot

    async def send_text(
        self,
        chat_id: str,
        html: str,
        *,
        thread_id: int | None = None,
        keyboard: JSON | None = None,
        reply_to: int | None = None,
    ) -> None:
        params: JSON = {"chat_id": chat_id, "text": html, "parse_mode": HTML}
        if thread_id is not None:
            params["message_thread_id"] = thread_id
        if keyboard is not None:
            params["reply_markup"] = keyboard
        if reply_to is not None:
            # Still sent if the message it answers was deleted meanwhile.
            params["reply_parameters"] = {
                "message_id": reply_to,
                "allow_sending_without_reply": True,
            }
        await self._call("sendMessage", params)

    async def edit_text(
        self, chat_id: int, message_id: int, html: str, keyboard: JSON | None = None
    ) -> None:
        """Replaces a message's text and its keyboard (None: it has none from now on)."""
        params: JSON = {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": html,
            "parse_mode": HTML,
        }
        if keyboard is not None:
            params["reply_markup"] = keyboard
        await self._call("editMessageText", params)

    async def set_keyboard(
        self, chat_id: int, message_id: int, keyboard: JSON | None = None
    ) -> None:
        """Replaces a message's keyboard (None: removes it)."""
        params: JSON = {"chat_id": chat_id, "message_id": message_id}
        if keyboard is not None:
            params["reply_markup"] = keyboard
        await self._call("editMessageReplyMarkup", params)

    async def answer_button(self, query_id: str, toast: str | None = None) -> None:
        params: JSON = {"callback_query_id": query_id}
        if toast:
            params["text"] = toast
        await self._call("answerCallbackQuery", params)

    async def thumbs_up(self, chat_id: int, message_id: int) -> None:
        reaction = [{"type": "emoji", "emoji": ReactionEmoji.THUMBS_UP.value}]
        await self._call(
            "setMessageReaction",
            {"chat_id": chat_id, "message_id": message_id, "reaction": reaction},
        )

    async def _call(self, method: str, params: JSON) -> None:
        # `_post` is what PTB's public `do_api_request` calls; that one warns for every
        # method PTB has a typed version of. PTB is pinned below 23, and every adapter test
        # sends through here, so a change in `_post` fails loudly.
        await self._bot._post(method, params)


Result = bool | dict[str, Any] | list[dict[str, Any]]


class WatchedRateLimiter(BaseRateLimiter[Any]):
    """`limiter`, noting for `send_watch` each call as it leaves for Telegram. The limiter
    holds a call back (its pace, a 429's wait) before it goes; a try answered with a 429
    was refused, so it sent nothing."""

    def __init__(self, limiter: BaseRateLimiter[Any]) -> None:
        self._limiter = limiter

    async def initialize(self) -> None:
        await self._limiter.initialize()

    async def shutdown(self) -> None:
        await self._limiter.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> Result:
        async def leaving(*call_args: Any, **call_kwargs: Any) -> Result:
            refused = note_leaving()
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter:
                refused()
                raise

        return await self._limiter.process_request(
            leaving, args, kwargs, endpoint, data, rate_limit_args
        )

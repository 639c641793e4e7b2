"""Telegram through python-telegram-bot: updates in → `Incoming`, `Reply` → Bot API calls out.

PTB's Application runs with its manual lifecycle on the shared event loop, but without its
Updater: `TelegramPoller` fetches updates itself so that it can confirm each one only
after it has been handled (see telegram_polling.py). Outgoing calls pass through PTB's
AIORateLimiter, which spaces them within Telegram's limits and retries a 429 after the
`retry_after` the server names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import Awaitable, Sequence
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    MaybeInaccessibleMessage,
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus
from telegram.error import ChatMigrated, InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    ExtBot,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

from bot.adapters.base import Delivery, RecentKeys, StartError, edit_key
from bot.adapters.send_watch import retry_if_cut_short_unsent
from bot.adapters.telegram_calls import BotCalls, WatchedRateLimiter
from bot.adapters.telegram_polling import DRAIN_TIMEOUT, Poller, Sleep
from bot.adapters.telegram_redact import TokenRedaction
from bot.adapters.telegram_wire import (
    ALLOWED_UPDATES,
    JSON,
    OutlivedButtons,
    Place,
    Wording,
    album_key,
    chat_ref,
    chosen_label,
    clipped,
    deep_link,
    deep_link_page,
    delivery_for,
    has_buttons,
    is_private,
    keyboard,
    lane_of,
    left_to_press,
    may_have_arrived,
    message_key,
    never_started,
    place_of,
    press_key,
    readable,
    replied_buttons,
    telegram_length,
    unchanged,
    utf16_length,
    what_was_said,
    worth_retrying,
)
from bot.app import Core
from bot.config import Secret, Settings
from bot.engine.core import STALE_PRESS
from bot.model import (
    NOT_STORED,
    PRIVATE_CHAT_FIRST,
    ChatRef,
    Incoming,
    Platform,
    PrivateReach,
    Reply,
    Unreadable,
)
from bot.render import LIMITS, split_message

# Opt in now to PTB's coming timedelta durations (v22.2 deprecation): glutebot reads none
# of them, and without this every 429 would also emit a deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "true")

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
LIMIT = LIMITS[Platform.TELEGRAM]
# Longest text answerCallbackQuery shows (in UTF-16 code units, as Telegram counts).
TOAST_LIMIT = 200
# A sendMessage that failed on the way is tried this often in all, waiting 0.5 s, then 1 s.
SEND_ATTEMPTS = 3
FIRST_RETRY_DELAY = 0.5
# How PTB's message for an error answer that isn't JSON goes on after the status.
NOT_JSON = ". Parsing the server response "
# Telegram-only messages. The "_" keeps them out of the shared test that wants a sample
# context for every engine template; tests/test_telegram.py renders these.
CHOSEN = "telegram/chosen"
CONTINUE_IN_PRIVATE = "telegram/continue_in_private"
SENT_PRIVATELY = "telegram/sent_privately"

AnyApp = Application[Any, Any, Any, Any, Any, Any]
Context = CallbackContext[Any, Any, Any, Any]


class TelegramStartError(StartError):
    """Telegram could not be reached or refused the token; the message is token-free."""


class TelegramAdapter:
    platform = Platform.TELEGRAM

    def __init__(
        self,
        core: Core,
        token: Secret | str,
        api_url: str = DEFAULT_API_URL,
        *,
        request: BaseRequest | None = None,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        poll_timeout: int = 25,
        busy_poll: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        secret = token.reveal() if isinstance(token, Secret) else token
        self._core = core
        self._sleep = sleep
        self._wording = Wording.load()
        self._redaction = TokenRedaction(secret, api_url)
        # Before building: PTB logs its URLs, token included, as soon as the bot exists.
        self._redaction.install()
        _quiet_pages_that_are_not_json()
        self._api_url = api_url.rstrip("/")
        self._app = _build_app(secret, self._api_url, request, rate_limiter)
        self._calls = BotCalls(self.bot)
        self._poller: Poller[Update] = Poller(
            self._fetch,
            self._app.process_update,
            lane_of,
            timeout=poll_timeout,
            busy_poll=busy_poll,
            is_fatal=lambda exc: isinstance(exc, InvalidToken),
            describe=self._describe,
            sleep=sleep,
            drain_timeout=drain_timeout,
        )
        self._me: User | None = None
        self._outlived = OutlivedButtons()
        # Albums whose caption was read (by their key): their other items need no answer.
        self._read_albums = RecentKeys()
        self._add_handlers()

    @classmethod
    def from_settings(cls, core: Core, settings: Settings, **options: Any) -> TelegramAdapter:
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        return cls(core, settings.telegram_token, settings.telegram_api_url, **options)

    @property
    def bot(self) -> ExtBot[Any]:
        bot: ExtBot[Any] = self._app.bot
        return bot

    async def start(self) -> None:
        self._redaction.install()  # a no-op unless this adapter was stopped before
        try:
            await self._app.initialize()
        except TelegramError as exc:
            await self._app.shutdown()
            self._redaction.uninstall()
            # The URL may hold the token too (pasted from a request: ".../bot123:AA...").
            url = self._redaction.redact(self._api_url)
            if isinstance(exc, InvalidToken):
                # A self-hosted server answers a wrong path as Telegram answers a wrong
                # token, and PTB can't tell them apart.
                elsewhere = "" if url == DEFAULT_API_URL else f", or {url} is not its address"
                raise TelegramStartError(
                    f"Telegram refused TELEGRAM_BOT_TOKEN ({self._describe(exc)}{elsewhere})"
                ) from None
            raise TelegramStartError(
                f"Telegram at {url}: {self._describe(exc)} "
                "(check the network, or TELEGRAM_API_URL)"
            ) from None
        self._me = self.bot.bot
        await self._app.start()
        await self._optional("deleteWebhook", self.bot.delete_webhook())
        await self._set_command_menus()
        self._poller.start()
        log.info("Telegram: polling as @%s", self._me.username)

    async def _set_command_menus(self) -> None:
        """The "/" menus: every command in private chats, and in groups the group's
        leaderboard too (in private it would only say it's for groups)."""
        wording = self._wording
        mine = [BotCommand(name, text) for name, text in wording.commands.items()]
        group = [BotCommand(name, text) for name, text in wording.group_commands.items()]
        await self._optional("setMyCommands", self.bot.set_my_commands(mine))
        in_groups = BotCommandScopeAllGroupChats()
        await self._optional("setMyCommands", self.bot.set_my_commands([*mine, *group], in_groups))

    async def stop(self) -> None:
        await self._poller.stop()
        if self._app.running:
            await self._app.stop()
        await self._app.shutdown()
        self._redaction.uninstall()

    async def wait_ended(self) -> str:
        return await self._poller.wait_ended()

    async def deliver(self, chat: ChatRef, replies: Sequence[Reply]) -> Delivery:
        """Cancelled before any of it may have reached Telegram (waiting out a 429, or its
        turn behind one, when the scheduler stops), RETRY: see send_watch.py."""
        sending = self._send_all(Place(chat.chat_id), replies, person=chat.user_id)
        return await retry_if_cut_short_unsent(sending, chat.chat_id)

    # Updates in.

    def _add_handlers(self) -> None:
        message = filters.UpdateType.MESSAGE
        readable = message & (filters.TEXT | filters.CAPTION)
        unreadable = message & filters.ChatType.PRIVATE & filters.ATTACHMENT & ~filters.CAPTION
        self._app.add_handler(MessageHandler(readable, self._on_text))
        self._app.add_handler(MessageHandler(unreadable, self._on_unreadable))
        self._app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, self._on_edit))
        self._app.add_handler(CallbackQueryHandler(self._on_button))
        self._app.add_handler(ChatMemberHandler(self._on_membership))
        self._app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migration))
        self._app.add_error_handler(self._on_error)

    async def _fetch(self, offset: int | None, wait: int) -> Sequence[Update]:
        try:
            return await self.bot.get_updates(
                offset=offset, timeout=wait, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramError:
            raise
        except Exception:
            # PTB reads a batch whole, so one update it can't read (from a Bot API newer
            # or older than it) would fail every fetch for ever, and nobody be answered.
            return await self._fetch_each(offset)

    async def _fetch_each(self, offset: int | None) -> list[Update]:
        """The batch read update by update; one that can't be read is an empty update,
        which no handler takes, so it is confirmed like any other and never fetched again."""
        options = {"offset": offset, "timeout": 0, "allowed_updates": ALLOWED_UPDATES}
        with warnings.catch_warnings():
            # PTB would rather it were called as get_updates, which is what failed.
            warnings.simplefilter("ignore", PTBUserWarning)
            batch = await self.bot.do_api_request("getUpdates", api_kwargs=options)
        updates = []
        for data in batch if isinstance(batch, list) else []:
            try:
                updates.append(Update.de_json(data, self.bot))
            except Exception:
                log.exception("Telegram update %s can't be read; skipped", data["update_id"])
                updates.append(Update(data["update_id"]))
        return updates

    async def _on_text(self, update: Update, context: Context) -> None:
        message, me = update.message, self._me
        if message is None or message.from_user is None or me is None:
            return
        person = message.from_user
        # Posted as a chat (an admin posting anonymously, as the group, or someone posting
        # as a channel): Telegram names a service bot in `from`, though no bot wrote it.
        posted_as = message.sender_chat
        said = what_was_said(message, me)
        if (person.is_bot and posted_as is None) or said is None:
            return
        incoming = Incoming(
            chat=chat_ref(message.chat, posted_as or person),
            event_key=message_key(message),
            text=said.text,
            display_name=person.full_name,
            addressed=said.addressed,
            private_reach=PrivateReach.IF_STARTED,
            replied_buttons=replied_buttons(message, me),
            anonymous=posted_as is not None,
            comes_again=True,
        )
        if message.media_group_id is not None:
            self._read_albums.note(album_key(message))
        replies = await self._core.engine.handle(incoming)
        await self._kept_until_sent(incoming, replies, self._answer(incoming, replies, message))

    async def _on_unreadable(self, update: Update, context: Context) -> None:
        """A photo, sticker, voice message... with no caption, in a private chat: the
        engine says what the bot can read. (In a group it is chatter like any other.) Not
        for an album whose caption was read: the caption answered for it."""
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        if message.media_group_id is not None and album_key(message) in self._read_albums:
            return
        incoming = Incoming(
            chat=chat_ref(message.chat, message.from_user),
            event_key=message_key(message),
            display_name=message.from_user.full_name,
            unreadable=Unreadable.MEDIA,
            comes_again=True,
        )
        replies = await self._core.engine.handle(incoming)
        await self._kept_until_sent(incoming, replies, self._answer(incoming, replies, message))

    async def _on_edit(self, update: Update, context: Context) -> None:
        """A message edited after it was read: the engine says whether that needs an
        answer (see `Engine.edited`), which goes where the message is, replying to it."""
        message = update.edited_message
        if message is None or message.from_user is None or message.sender_chat is not None:
            return  # posted as a chat (anonymously, as a channel): no one's log to speak of
        person = message.from_user
        said = what_was_said(message, self._me) if self._me is not None else None
        key = message_key(message)
        incoming = Incoming(
            chat=chat_ref(message.chat, person),
            event_key=key,
            text=said.text if said is not None else "",
        )
        replies = await self._core.engine.edited(incoming, edit_key(key, message.edit_date))
        await self._send_all(
            place_of(message), replies, person=str(person.id), reply_to=message.message_id
        )

    async def _on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None or query.message is None or query.data is None:
            if query is not None:
                await self._optional("answerCallbackQuery", self._calls.answer_button(query.id))
            return
        # A message older than 48 hours comes without its content, but the press counts.
        pressed = query.message
        incoming = Incoming(
            chat=chat_ref(pressed.chat, query.from_user),
            event_key=press_key(query, each_press=pressed in self._outlived),
            choice=query.data,
            display_name=query.from_user.full_name,
            private_reach=PrivateReach.IF_STARTED,
            comes_again=True,
        )
        replies = await self._core.engine.handle(incoming)
        answering = self._answer_press(query.id, pressed, query.data, incoming, replies)
        await self._kept_until_sent(incoming, replies, answering)

    async def _answer_press(
        self,
        query_id: str,
        pressed: MaybeInaccessibleMessage,
        data: str,
        incoming: Incoming,
        replies: list[Reply],
    ) -> None:
        place = place_of(pressed)
        templates = [reply.template for reply in replies]
        if templates == [STALE_PRESS]:
            await self._stale_press(query_id, pressed, replies[0])
        elif is_private(pressed.chat):
            # Only a press the engine stored shows on its question. Nothing was stored for
            # one handled before (no answer) or one it apologised for: that one may be
            # tried again, so its buttons stay.
            stored = templates not in ([], [NOT_STORED])
            await self._answer_private_press(
                query_id, pressed, data, replies, place, stored=stored
            )
        else:
            await self._answer_group_press(query_id, incoming, replies, place)

    async def _stale_press(
        self, query_id: str, pressed: MaybeInaccessibleMessage, stale: Reply
    ) -> None:
        """A press on buttons that no longer apply: the pop-up says why nothing happened,
        and in a private chat the old buttons go."""
        async with asyncio.TaskGroup() as calls:
            calls.create_task(self._close_press(query_id, self._toast(stale)))
            if is_private(pressed.chat) and has_buttons(pressed):
                remove = self._calls.set_keyboard(pressed.chat.id, pressed.message_id)
                calls.create_task(self._optional("editMessageReplyMarkup", remove))

    async def _answer_private_press(
        self,
        query_id: str,
        pressed: MaybeInaccessibleMessage,
        data: str,
        replies: list[Reply],
        place: Place,
        *,
        stored: bool,
    ) -> None:
        # The calls below are independent of one another, so they go out together: the
        # button's spinner stops, the question shows its answer and the next one arrives
        # after one round trip to Telegram instead of three in a row.
        async with asyncio.TaskGroup() as calls:
            calls.create_task(self._close_press(query_id))
            if stored:
                calls.create_task(self._show_choice(pressed, data))
            await self._send_all(place, replies, person=place.chat_id)

    async def _answer_group_press(
        self, query_id: str, incoming: Incoming, replies: list[Reply], place: Place
    ) -> None:
        """A press on a message in a group, which is shared: it stays as it is for everyone.
        The presser has no message there to reply to, so the short acknowledgements go to
        the pop-up only they see (see `_pop_up`) once any private part has gone out."""
        shared = await self._keep_private(incoming, replies, place, reply_to=None)
        toast, rest = self._pop_up(shared)
        async with asyncio.TaskGroup() as calls:
            calls.create_task(self._close_press(query_id, toast))
            await self._send_all(place, rest)

    def _pop_up(self, replies: list[Reply]) -> tuple[str | None, list[Reply]]:
        """A group press's answer split into its pop-up's text and what the group still
        gets. Short replies without buttons ("already logged", "replied privately", what
        was logged) go to the pop-up: posted, they would reach the group nameless. A log
        too long for it shows there cut short, and is posted too unless it is quiet."""
        notes: list[str] = []
        rest: list[Reply] = []
        for reply in replies:
            text = self._plain(reply)
            brief = not reply.choices and reply.to is None
            if brief and utf16_length("\n".join([*notes, text])) <= TOAST_LIMIT:
                notes.append(text)
                continue
            if reply.logged and not notes:
                notes.append(text)
            if not reply.quiet:
                rest.append(reply)
        return clipped("\n".join(notes), TOAST_LIMIT) or None, rest

    async def _on_membership(self, update: Update, context: Context) -> None:
        change = update.my_chat_member
        if change is None or not is_private(change.chat):
            return
        person = str(change.from_user.id)
        # A private chat "bans" the bot when the person blocks it, and lets it back in as a
        # member when they unblock it.
        if change.new_chat_member.status == ChatMemberStatus.BANNED:
            await self._core.store.users.mark_blocked(Platform.TELEGRAM, person)
        elif change.old_chat_member.status == ChatMemberStatus.BANNED:
            chat = chat_ref(change.chat, change.from_user)
            replies = await self._core.engine.unblocked(chat, change.from_user.full_name)
            await self._send_all(Place(person), replies, person=person)

    async def _on_migration(self, update: Update, context: Context) -> None:
        # A group upgraded to a supergroup changes its id. Telegram says so in both: the
        # old group (migrate_to) and the new supergroup (migrate_from); the second finds
        # nothing left to move.
        message = update.message
        if message is None:
            return
        if message.migrate_to_chat_id is not None:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id is not None:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        await self._move_group(str(old), str(new))

    async def _move_group(self, old: str, new: str) -> None:
        """What is kept under a group's id goes to the supergroup it became: its members'
        logs, and so its leaderboard."""
        log.info("Telegram: group %s is now supergroup %s", old, new)
        await self._core.store.reps.move_community(old, new)

    async def _on_error(self, update: object, context: Context) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        if error is None:
            return
        log.error(
            "Telegram update %s failed: %s", update_id, self._describe(error), exc_info=error
        )

    # Replies out.

    async def _kept_until_sent(
        self, incoming: Incoming, replies: list[Reply], answering: Awaitable[None]
    ) -> None:
        """Sends an answer the engine keeps until it went out (Incoming.comes_again), then
        lets it go. Cut off (the drain time ran out), it stays kept: the update stays
        unconfirmed, and its redelivery after the restart brings the answer."""
        try:
            await answering
        except Exception:
            # Given up on (logged): the update is confirmed all the same, and nothing will
            # ask for the answer again.
            if replies:
                self._core.engine.answered(incoming.event_key)
            raise
        if replies:
            self._core.engine.answered(incoming.event_key)

    async def _answer(self, incoming: Incoming, replies: list[Reply], said: Message) -> None:
        place = place_of(said)
        if incoming.chat.community is None:
            await self._send_all(place, replies, person=incoming.chat.user_id)
            return
        if any(reply.logged for reply in replies):
            react = self._calls.thumbs_up(said.chat.id, said.message_id)
            # Reactions may be off in this group: then the quiet reply is the acknowledgement.
            if await self._optional("setMessageReaction", react):
                replies = [reply for reply in replies if not reply.quiet]
        shared = await self._keep_private(incoming, replies, place, said.message_id)
        await self._send_all(place, shared, reply_to=said.message_id)

    async def _keep_private(
        self, incoming: Incoming, replies: list[Reply], place: Place, reply_to: int | None
    ) -> list[Reply]:
        """Sends the private part of an answer in a group; returns what the group gets.
        Personal data never goes to the group: an answer holding any moves, whole, to the
        person's private chat, and the group gets a note saying so, or the link to that
        chat (sent here) if the bot may not write there."""
        if [reply.template for reply in replies] == [PRIVATE_CHAT_FIRST]:
            asked = str(replies[0].context.get("asked", ""))
            await self._offer_private_chat(incoming, place, reply_to, asked=asked)
            return []
        if not any(reply.private for reply in replies):
            return replies
        person = incoming.chat.user_id
        try:
            await self._send_each(Place(person), replies)
        except TelegramError as exc:
            await self._failed(person, person, exc)
            # Only someone who never opened the private chat gets the link to it: someone
            # who blocked the bot chose so, and a failure already retried is only logged.
            if never_started(exc):
                await self._offer_private_chat(incoming, place, reply_to)
            return []
        return [Reply(SENT_PRIVATELY)]

    async def _offer_private_chat(
        self, incoming: Incoming, place: Place, reply_to: int | None, *, asked: str = ""
    ) -> None:
        """The link to the private chat, opening the page asked for if a link may open it.
        `asked`: what they typed, not done yet: to send again there if the link can't."""
        page = deep_link_page(incoming.text, incoming.choice)
        link = deep_link((self._me and self._me.username) or "", page)
        again = asked if page is None else ""
        context = {"name": incoming.display_name, "link": link, "again": again}
        offer = Reply(CONTINUE_IN_PRIVATE, context)
        await self._send_all(place, [offer], reply_to=reply_to, markup=self._link_button(link))

    async def _send_all(
        self,
        place: Place,
        replies: Sequence[Reply],
        *,
        person: str | None = None,
        reply_to: int | None = None,
        markup: JSON | None = None,
    ) -> Delivery:
        """Sends in order and stops at the first failure, which decides the outcome."""
        try:
            await self._send_each(place, replies, reply_to, markup)
        except TelegramError as exc:
            return await self._failed(place.chat_id, person, exc)
        return Delivery.SENT

    async def _send_each(
        self,
        place: Place,
        replies: Sequence[Reply],
        reply_to: int | None = None,
        markup: JSON | None = None,
    ) -> None:
        for reply in replies:
            target = Place(reply.to.chat_id) if reply.to is not None else place
            await self._send(target, reply, reply_to, markup)
            reply_to = None

    async def _send(
        self,
        place: Place,
        reply: Reply,
        reply_to: int | None,
        markup: JSON | None = None,
    ) -> None:
        rendered = self._core.renderer.render(reply, Platform.TELEGRAM)
        pieces = split_message(rendered.text, LIMIT, telegram_length)
        parts = [part for part in pieces if part.strip()]
        markup = markup or keyboard(rendered.buttons)
        for number, part in enumerate(parts, 1):
            await self._send_text(
                place,
                part,
                markup if number == len(parts) else None,
                reply_to if number == 1 else None,
            )

    async def _send_text(
        self, place: Place, html: str, markup: JSON | None, reply_to: int | None
    ) -> None:
        """sendMessage; to a group upgraded to a supergroup since (the notice may not have
        arrived yet, or a schedule still names the old id), sent again at its new id."""
        try:
            await self._send_with_retries(place, html, markup, reply_to)
        except ChatMigrated as upgraded:
            new_id = str(upgraded.new_chat_id)
            await self._move_group(place.chat_id, new_id)
            # A basic group has no topics, and the message answered stayed in the old chat:
            # its id may name another message in the new one.
            await self._send_with_retries(Place(new_id), html, markup, None)

    async def _send_with_retries(
        self, place: Place, html: str, markup: JSON | None, reply_to: int | None
    ) -> None:
        """sendMessage, tried again a few times after a failure that sent nothing.
        (A 429 never gets here: PTB's AIORateLimiter waits and retries those.) One that
        may have arrived counts as sent: sent again it could show twice, and the rest of
        its answer still goes out."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await self._calls.send_text(
                    place.chat_id,
                    html,
                    thread_id=place.thread_id,
                    keyboard=markup,
                    reply_to=reply_to if reply_to is not None else place.topic_of,
                )
                return
            except TelegramError as exc:
                if may_have_arrived(exc):
                    log.warning(
                        "Telegram: no answer to a message sent to %s (%s); it may have "
                        "arrived, so it is not sent again",
                        place.chat_id,
                        self._describe(exc),
                    )
                    return
                if attempt == SEND_ATTEMPTS or not worth_retrying(exc):
                    raise
                delay = FIRST_RETRY_DELAY * 2 ** (attempt - 1)
                log.info("Telegram: sending again in %s s: %s", delay, self._describe(exc))
                await self._sleep(delay)

    async def _failed(self, chat_id: str, person: str | None, error: TelegramError) -> Delivery:
        outcome = delivery_for(error)
        if never_started(error):
            # Expected in groups: a private reply to someone who never opened the chat.
            log.info("Telegram: %s has no private chat with the bot yet", chat_id)
            return outcome
        if outcome is Delivery.GONE:
            log.warning(
                "Telegram: chat %s can't be written to: %s", chat_id, self._describe(error)
            )
        else:
            log.warning("Telegram: sending to %s failed: %s", chat_id, self._describe(error))
        # A private chat's id is the person's id: a refusal there means they blocked us.
        if outcome is Delivery.GONE and person == chat_id:
            await self._core.store.users.mark_blocked(Platform.TELEGRAM, person)
        return outcome

    async def _show_choice(self, pressed: MaybeInaccessibleMessage, data: str) -> None:
        """Shows the answer under the question, and takes its buttons away so they can't
        be pressed twice: all but a Done button still to press."""
        took_away = await self._take_buttons_away(pressed, data)
        self._outlived.note(pressed, taken_away=took_away)

    async def _take_buttons_away(self, pressed: MaybeInaccessibleMessage, data: str) -> bool:
        message = readable(pressed)
        if message is None:
            # Too old for Telegram to send its content, so nothing on it can be kept: all
            # its buttons go (left, another would count as a second press of this one).
            remove = self._calls.set_keyboard(pressed.chat.id, pressed.message_id)
            return await self._optional("editMessageReplyMarkup", remove)
        if message.reply_markup is None:  # taken away already, by a press just before
            return True
        label = chosen_label(message, data)
        left = left_to_press(message, data)
        chat_id, message_id = message.chat.id, message.message_id
        if label is not None and message.text:
            chosen = self._core.renderer.render(Reply(CHOSEN, {"label": label}), self.platform)
            text = f"{message.text_html}\n\n{chosen.text}"
            if telegram_length(text) <= LIMIT:
                edit = self._calls.edit_text(chat_id, message_id, text, left)
                return await self._optional("editMessageText", edit)
        trim = self._calls.set_keyboard(chat_id, message_id, left)
        return await self._optional("editMessageReplyMarkup", trim)

    def _link_button(self, link: str) -> JSON:
        label = self._wording.labels["continue_private"]
        return {"inline_keyboard": [[{"text": label, "url": link}]]}

    # Plumbing.

    async def _optional(self, what: str, call: Awaitable[Any]) -> bool:
        """A call the bot can live without: a failure is a warning, never a crash.
        True when it went through."""
        try:
            await call
        except TelegramError as exc:
            if unchanged(exc):  # the message already is as asked
                return True
            log.warning("Telegram: %s failed: %s", what, self._describe(exc))
            return False
        return True

    async def _close_press(self, query_id: str, toast: str | None = None) -> None:
        """Answers a press: its button's spinner stops, and `toast` pops up if given."""
        await self._optional("answerCallbackQuery", self._calls.answer_button(query_id, toast))

    def _toast(self, reply: Reply) -> str:
        return clipped(self._plain(reply), TOAST_LIMIT)

    def _plain(self, reply: Reply) -> str:
        return self._core.renderer.render(reply, Platform.CONSOLE).text

    def _describe(self, error: BaseException) -> str:
        # PTB's messages name the failure already ("Forbidden: bot was blocked ...").
        text = (
            str(error) if isinstance(error, TelegramError) else f"{type(error).__name__}: {error}"
        )
        # An answer that isn't JSON (a proxy's error page) PTB quotes whole after its
        # status ("Bad Gateway (502). Parsing the server response b'<html>...' failed"),
        # a few kB on every retry: the status says it. The page is logged at DEBUG.
        status, quoted, _ = text.partition(NOT_JSON)
        if quoted:
            text = f"{status} (not a Bot API answer)"
        return self._redaction.redact(text)


class _PageNotJson(logging.Filter):
    """PTB logs an answer that isn't JSON (a proxy's HTML error page, a wrong
    TELEGRAM_API_URL) at ERROR, the whole page and a traceback, before raising "Invalid
    server response": which glutebot reports itself, in one line. The page stays
    available at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Can not load invalid JSON data"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _quiet_pages_that_are_not_json() -> None:
    ptb_requests = logging.getLogger("telegram.request.BaseRequest")
    if not any(isinstance(f, _PageNotJson) for f in ptb_requests.filters):
        ptb_requests.addFilter(_PageNotJson())


def _build_app(
    token: str,
    api_url: str,
    request: BaseRequest | None,
    rate_limiter: BaseRateLimiter[Any] | None,
) -> AnyApp:
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .updater(None)
        .rate_limiter(WatchedRateLimiter(rate_limiter or AIORateLimiter(max_retries=3)))
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    return builder.build()

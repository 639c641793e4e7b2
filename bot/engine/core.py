"""The engine: one platform-neutral entry point, `Engine.handle(Incoming) -> [Reply]`."""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine import community, training
from bot.engine.checkup import CheckFlow, held_back, raise_flag, warning_on_record
from bot.engine.menus import (
    LEARN_MENU,
    MAIN_MENU,
    ActionMenu,
    ForgetFlow,
    ResumeFlow,
    learn_menu,
    main_menu,
)
from bot.engine.reminders import KEEP_REMINDING, LEAVE_OFF, RemindFlow
from bot.engine.turn import (
    ACTION_PREFIX,
    WALK_START,
    Answer,
    Flow,
    Turn,
    action,
    echo,
    is_nonce,
    nonce_of,
)
from bot.engine.walkthrough import BACK, WalkFlow
from bot.flows.exercises import EXERCISES
from bot.model import (
    NOT_STORED,
    PRIVATE_CHAT_FIRST,
    ChatRef,
    Choice,
    Incoming,
    Platform,
    PrivateReach,
    Reply,
    Unreadable,
)
from bot.parse import (
    COUNT_PROBLEMS,
    EXERCISE_ALIASES,
    Command,
    Concern,
    Done,
    Reported,
    Said,
    Word,
    acknowledges,
    normalise,
    parse,
    parse_done,
    plain_command,
    says_done,
)
from bot.schedule_time import format_days, zone_name
from bot.scheduler import Prompt
from bot.store import Store, Write, log_failure, owed
from bot.store.arrivals import Arrival
from bot.store.conversations import Conversation
from bot.store.schedules import (
    DisabledReason,
    Schedule,
    ScheduleKind,
    channel_owner,
    reminder_owner,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# A conversation left this long is offered "continue, or start over?" before going on.
IDLE_AFTER = timedelta(hours=24)
# Someone gone this long is welcomed back; before, a hello is just a hello.
AWAY_AFTER = timedelta(hours=1)
MENUS = ("menu", "learn")
# Commands answered in passing: mid-conversation, the question comes again after them.
ASIDES = frozenset({"undo", "stats"})
# The answer to a press on buttons that no longer apply.
STALE_PRESS = "stale_button"
# The answers to an edit of a message that logged reps, and to one of a message that logged
# nothing edited into a "done" (see `Engine.edited`).
EDITED_LOG = "edited_log"
EDITED_UNLOGGED = "edited_unlogged"
# The answers to a private message with no words for the bot, by what it held instead.
UNREADABLE_ANSWERS = {Unreadable.MEDIA: "text_only", Unreadable.QUOTE: "quote_only"}
EARLIER_QUESTION = "earlier_question"
# The answer to a "thanks" (in a group, only one said to the bot gets it).
THANKED = Reply("thanks")
# Commands that move someone around their conversation; in a group they only show menus.
NAVIGATION = frozenset({"start", "menu", "cancel", "learn"})
# The answer to a group message with no person behind it asking anything but the group's
# own pages (see Incoming.anonymous): how to post as oneself.
NO_PERSON = "community/anonymous"
# Words said to the bot in a group that ask for one of its pages, as their command does.
PAGE_WORDS = {Word.HELP: "help", Word.MENU: "menu", Word.HELLO: "menu", Word.CANCEL: "menu"}
KEEP_OR_STOP = (KEEP_REMINDING, action("remind_off", "remind_off", Word.NO.value))
ON_OR_LEAVE_OFF = (KEEP_REMINDING, LEAVE_OFF)
# What "/start <page>" (a Telegram deep link) may open: pages only. A link anyone can
# share must not log, undo, forget or change a reminder for whoever follows it.
LINKABLE_PAGES = frozenset({"menu", "check", "workout", "learn", "stats", "help", "continue"})


def utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        store: Store,
        labels: Mapping[str, str],
        clock: Clock = utc_now,
        default_tz: tzinfo = UTC,
        on_schedule_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._on_schedule_change = on_schedule_change
        self._labels = {key: normalise(text) for key, text in labels.items()}
        self._clock = clock
        self._default_tz = default_tz
        # Names this process in the answers it keeps until they were sent (owed.py).
        self._run = secrets.token_hex(8)
        # Events whose kept answers were sent since the last commit: they are let go with
        # the next one, which saves each message a write (and a transaction of its own).
        self._sent: list[str] = []
        # Events whose answer, kept by the process before, this one has sent again: a copy
        # of one gets nothing, as it would had this process committed it. Only the events a
        # stop cut off come again, so few.
        self._resent: set[str] = set()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._check = CheckFlow()
        self._remind = RemindFlow()
        self._walks = {ex_id: WalkFlow(ex) for ex_id, ex in EXERCISES.items()}
        self._walk_names = frozenset(walk.name for walk in self._walks.values())
        self._flows: dict[str, Flow] = {}
        self._resume = ResumeFlow(self._flows)
        self._forget_flow = ForgetFlow(self._flows, MENUS)
        flows: list[Flow] = [
            ActionMenu("menu", "menu", MAIN_MENU),
            ActionMenu("learn", "learn", LEARN_MENU),
            self._check,
            *self._walks.values(),
            self._forget_flow,
            self._remind,
            self._resume,
        ]
        self._flows.update({flow.name: flow for flow in flows})
        self._actions: dict[str, Callable[[Turn], Awaitable[list[Reply]]]] = {
            "start": self._start,
            "continue": self._continue,
            "menu": self._menu,
            "check": self._start_check,
            "workout": training.workout,
            "learn": self._learn,
            "stats": training.stats,
            "undo": training.undo,
            "help": self._help,
            "cancel": self._cancel,
            "forget": self._forget,
            "done": self._done,
            "stop": self._remind.off,
            "remind_off": self._remind.off,
            "remind_keep": self._remind.keep,
            "remind_change": self._remind_change,
            "prompt": community.prompt_now,
            **{ex_id: self._walk(ex_id) for ex_id in EXERCISES},
        }
        # Commands whose words after the name matter ("/remind 07:30 Europe/Berlin").
        self._commands_with_args: dict[str, Callable[[Turn, str], Awaitable[list[Reply]]]] = {
            "remind": self._remind.start,
            "setup": community.setup,
            "leaderboard": community.leaderboard,
        }
        self._commands = frozenset({"done", *self._actions, *self._commands_with_args})

    async def handle(self, incoming: Incoming) -> list[Reply]:
        if self._chatter(incoming):
            return []
        if incoming.anonymous:
            return await self._from_no_one(incoming)
        chat = incoming.chat
        lock = self._locks.setdefault((chat.platform, chat.user_id), asyncio.Lock())
        async with lock:
            try:
                arrival = await self._store.arrivals.read(incoming.event_key, chat)
                if arrival.seen:
                    return self._owed_again(incoming, arrival.owed)
                if _stale_press(incoming, arrival.conversation):
                    # Buttons that no longer apply change nothing and record no one: a second
                    # quick press after "Yes, delete everything" must not bring them back.
                    await self._record_for_no_one(incoming)
                    return [Reply(STALE_PRESS)]
                turn = await self._begin(incoming, arrival)
                replies = await self._dispatch(turn)
                if arrival.user is not None and arrival.user.blocked and not turn.in_community:
                    replies = [*replies, *await self._reachable_again(turn)]
            except Exception as exc:
                # A bug, or a database that can't be read (damaged on disk) or refuses to
                # record a newcomer, must not cost the person their place: nothing is
                # written, they get an apology, and the log gets the details.
                log_failure(log, exc, "failed to handle %s", incoming.event_key)
                return [Reply(NOT_STORED)]
            # Carried out, its answer would be lost: an undo or a reminder they never see.
            # So nothing is done until they can be answered; the event is only marked.
            out_of_reach = self._out_of_private_reach(turn, replies)
            if out_of_reach:
                typed = echo(incoming.text) if incoming.choice is None else ""
                replies = [Reply(PRIVATE_CHAT_FIRST, {"asked": typed})]
            try:
                if out_of_reach:
                    await self._store.db.apply(
                        [self._event_mark(turn, replies), *self._letting_go()]
                    )
                else:
                    await self._commit(turn, replies)
            except Exception as exc:
                # The database refused the writes (locked, full, failing) and none was
                # stored, so the answer would be untrue: the apology lets them try again.
                log_failure(log, exc, "could not store %s", incoming.event_key)
                return [Reply(NOT_STORED)]
        if turn.schedules_changed:
            self._on_schedule_change()
        return replies

    def _owed_again(self, incoming: Incoming, kept: str | None) -> list[Reply]:
        """A redelivered event: nothing is done again, and mostly nothing is said. But
        the answer kept with it (owed.py) was committed before a restart and may never
        have been sent, so it is sent now, once. One this process committed (or sent
        again already) is being sent, or was: a platform's duplicate gets nothing."""
        if kept is None:
            return []
        try:
            run, replies = owed.decode(kept)
        except ValueError as exc:  # kept by another version, one this can't read
            log.warning("the answer kept for %s can't be read: %s", incoming.event_key, exc)
            return []
        if run == self._run or incoming.event_key in self._resent:
            return []
        self._resent.add(incoming.event_key)
        log.info("%s came again after a restart: its answer goes out now", incoming.event_key)
        return replies

    def answered(self, event_key: str) -> None:
        """The adapter sent an event's answer (or gave up on it): it needn't be kept for a
        redelivery after a restart any more (see Incoming.comes_again). It is let go with
        the next commit, or on `close`. Until then a kill would leave it kept, which costs
        nothing unless the platform delivers the event again: the adapter confirms an event
        to the platform once answered, so only one a kill caught in between comes again,
        and then its answer goes out twice."""
        self._sent.append(event_key)

    async def close(self) -> None:
        """Lets go of the answers sent since the last commit."""
        try:
            await self._store.db.apply(self._letting_go())
        except Exception as exc:
            log_failure(log, exc, "could not let go of answers sent")

    def _letting_go(self) -> list[Write]:
        """The write that lets go of the answers sent since the last commit. Should its
        transaction fail, they stay kept: see `answered`."""
        sent, self._sent = self._sent, []
        return [self._store.events.answered(sent)] if sent else []

    async def refuse(self, incoming: Incoming, refusal: Reply) -> list[Reply]:
        """An event an adapter answers itself, with `refusal`: a request the platform won't
        let the bot carry out (a channel it may not post in). Recorded like any other, so
        a redelivery gets no second answer and can't carry it out later either."""

        async def refused() -> list[Reply]:
            return [refusal]

        return await self._answer_for_no_one(incoming, refused)

    async def _from_no_one(self, incoming: Incoming) -> list[Reply]:
        """A group message with no person behind it (see Incoming.anonymous). The group's
        own pages hold nothing of anyone's, so they are shown; anything else would be
        someone's own (a log, their stats), with no one to tie it to, so the poster is told
        how to post as themselves."""

        async def page_or_how_to_post() -> list[Reply]:
            return await self._group_page(incoming) or [Reply(NO_PERSON)]

        return await self._answer_for_no_one(incoming, page_or_how_to_post)

    async def _answer_for_no_one(
        self, incoming: Incoming, answer: Callable[[], Awaitable[list[Reply]]]
    ) -> list[Reply]:
        """Answers an event once, recording no one for it (a redelivery gets nothing)."""
        chat = incoming.chat
        async with self._locks.setdefault((chat.platform, chat.user_id), asyncio.Lock()):
            try:
                if await self._store.events.seen(incoming.event_key):
                    return []
                replies = await answer()
                await self._record_for_no_one(incoming)
            except Exception as exc:
                log_failure(log, exc, "failed to handle %s", incoming.event_key)
                return [Reply(NOT_STORED)]
        return replies

    async def _record_for_no_one(self, incoming: Incoming) -> None:
        """Marks an event handled without recording anyone for it."""
        mark = self._store.events.mark(incoming.event_key, None, self._clock())
        await self._store.db.apply([mark])

    async def _group_page(self, incoming: Incoming) -> list[Reply]:
        """The page of the group's own that a group message asks for (help, a menu, the
        leaderboard), as a member asking gets it; none if it asks for anything else."""
        chat, command = incoming.chat, _command_in(incoming.text)
        if command is None:
            return []
        if command.name == "help":
            return [help_page(chat.platform)]
        if command.name in NAVIGATION:
            return [group_menu(command.name, nonce_of(incoming.event_key))]
        board = command.name == "leaderboard" and not community.sets_visibility(command.arg)
        if not board or chat.community is None:
            return []
        place_tz = self._place_tz(await self._server_schedule(chat.platform, chat.community))
        return [await community.board(self._store, chat.community, self._clock(), place_tz)]

    def _chatter(self, incoming: Incoming) -> bool:
        """Group talk not meant for the bot: left alone, and no one is recorded for it.
        "Done deal" or "done with the report" is chatter too: a "done" the bot can't read
        as a log was most likely not meant for it. So is a command it doesn't have, unless
        it was named ("/play@glutebot", a slash command): "/play" is another bot's."""
        if incoming.chat.community is None or incoming.addressed or incoming.choice is not None:
            return False
        intent = parse(incoming.text)
        if isinstance(intent, Command):
            return intent.name not in self._commands
        if isinstance(intent, Done):
            return _done_chatter(intent)
        return True

    async def _begin(self, incoming: Incoming, arrival: Arrival) -> Turn:
        now = self._clock()
        # Only where an answer reaches them alone does an event show that the bot can
        # reach them again (a group message doesn't open a closed private chat or DMs).
        chat = incoming.chat
        reached = chat.community is None or incoming.private_reach is PrivateReach.IN_PLACE
        user = await self._store.users.ensure_read(
            arrival.user, chat, incoming.display_name, now, reached=reached
        )
        schedule = await self._server_schedule(chat.platform, chat.community)
        # A server's daily posts' zone dates the logs of members who gave no zone of their
        # own, so Monday's post is Monday's session there, and it is the leaderboard's week.
        place_tz = self._place_tz(schedule)
        tz = ZoneInfo(user.tz) if user.tz else await self._home_tz(chat, user.id, place_tz)
        conversation = self._still_there(arrival.conversation)
        return Turn(incoming, user, conversation, now, tz, place_tz, schedule, self._store)

    def _still_there(self, conversation: Conversation) -> Conversation:
        """Their place in the conversation, if this version still has it; else the menu.
        An upgrade may take out an exercise, or steps of a walk-through or the check, that
        someone had stopped in the middle of."""
        if self._exists(conversation.flow, conversation.step, conversation.data):
            return conversation
        log.info(
            "a stored place (%s, step %s) no longer exists", conversation.flow, conversation.step
        )
        return replace(conversation, flow="menu", step=0, data={}, offered=())

    def _exists(self, flow_name: str, step: int, data: Mapping[str, Any]) -> bool:
        flow = self._flows.get(flow_name)
        if flow is None or not 0 <= step < flow.steps:
            return False
        # "Delete everything?" and "continue?" hold where the conversation was.
        parked = (
            data.get("flow") if flow_name in (self._forget_flow.name, self._resume.name) else None
        )
        if parked is None:
            return True
        return self._exists(str(parked), int(data.get("step", 0)), data.get("data", {}))

    def _place_tz(self, server_schedule: Schedule | None) -> tzinfo:
        """Where it was said: a server's daily-post zone, else the default (Turn.place_tz)."""
        return server_schedule.tz if server_schedule is not None else self._default_tz

    async def _server_schedule(self, platform: Platform, server: str | None) -> Schedule | None:
        """The daily posts of `server`, if any."""
        if server is None or platform not in community.POSTING_PLATFORMS:
            return None
        return await self._store.schedules.get(channel_owner(platform, server))

    async def _home_tz(self, chat: ChatRef, user_id: int, place_tz: tzinfo) -> tzinfo:
        """The zone of someone who gave none: where they said it; in a DM, the zone of the
        server they last logged in, so that a "done" in DMs and one in that server on the
        same day there are the same day's session."""
        if chat.community is not None or chat.platform not in community.POSTING_PLATFORMS:
            return place_tz
        server = await self._store.reps.last_community(user_id)
        schedule = await self._server_schedule(chat.platform, server)
        return schedule.tz if schedule is not None else place_tz

    async def _commit(self, turn: Turn, replies: list[Reply]) -> None:
        writes = list(turn.writes)
        user_id = None if turn.forgotten else turn.user.id
        if user_id is not None:
            if turn.incoming.chat.community is None and not turn.user.private_chat:
                # They wrote in private: from now on private answers reach them.
                writes.append(self._store.users.mark_private_chat(user_id))
            # Any message from someone counts as an answer to their reminders.
            writes.append(self._store.schedules.reset_ignored_write(reminder_owner(user_id)))
            # A number typed next picks from what this answer showed: nothing, if it
            # showed no options. In a group only what went to the person alone counts:
            # the group's menus and steps must not answer what they type in private.
            in_private = not turn.in_community
            shown = self._shown([reply for reply in replies if in_private or reply.private])
            conversation = (
                replace(turn.conversation, offered=shown)
                if shown or in_private
                else turn.conversation
            )
            # Said in a group and changing nothing, it leaves their conversation as old as
            # it was: chatter there must not make a question left days ago look fresh.
            if in_private or conversation != turn.arrived_in:
                writes.append(self._store.conversations.save(user_id, conversation, turn.now))
        writes.append(self._event_mark(turn, replies))
        await self._store.db.apply([*writes, *self._letting_go()])

    def _event_mark(self, turn: Turn, replies: list[Reply]) -> Write:
        """The mark that makes a redelivery harmless; with the answer, for a platform that
        redelivers what the bot didn't finish (see Incoming.comes_again)."""
        user_id = None if turn.forgotten else turn.user.id
        kept = None
        if turn.incoming.comes_again and replies:
            try:
                kept = owed.encode(self._run, replies)
            except TypeError:  # a bug: the turn is still stored, and answered as usual
                log.exception("the answer to %s can't be kept", turn.incoming.event_key)
        return self._store.events.mark(turn.incoming.event_key, user_id, turn.now, kept)

    @staticmethod
    def _out_of_private_reach(turn: Turn, replies: list[Reply]) -> bool:
        """A group request answered privately, where that answer can't reach the person:
        on Telegram, someone who never wrote to the bot privately (or blocked it since);
        on Discord, a typed message (their direct messages may be closed)."""
        reach = turn.incoming.private_reach
        if turn.incoming.chat.community is None or reach is PrivateReach.IN_PLACE:
            return False
        if reach is PrivateReach.IF_STARTED and turn.user.private_chat:
            return False
        return any(reply.private for reply in replies)

    async def _dispatch(self, turn: Turn) -> list[Reply]:
        if turn.incoming.unreadable is not None:
            platform = str(turn.incoming.chat.platform)
            answer = Reply(UNREADABLE_ANSWERS[turn.incoming.unreadable], {"platform": platform})
            return [answer, *self._prompt_if_busy(turn)]
        if turn.incoming.choice is not None:
            return await self._pressed(turn, turn.incoming.choice)
        intent = parse(turn.incoming.text)
        if isinstance(intent, Command):
            return await self._command(turn, intent)
        if isinstance(intent, Done):
            return await self._log(turn, intent)
        if isinstance(intent, Reported):
            return await self._reported(turn, intent)
        return await self._said(turn, intent)

    async def _reported(self, turn: Turn, reported: Reported) -> list[Reply]:
        """A warning sign or pain in the person's own words ("my leg is going numb"). A
        warning sign gets the check's advice and holds exercise back, whatever they were
        doing, as a yes in the check would; pain during an exercise stops it. In the
        check, pain is an answer to read ("my calves hurt" to "pain in your lower legs?")."""
        if reported.concern is not Concern.PAIN:
            return raise_flag(turn, str(reported.concern), {})
        if turn.conversation.flow == self._check.name and not turn.in_community:
            return await self._said(turn, Said(None, None, reported.text))
        stopped = turn.conversation.flow in self._walk_names and not turn.in_community
        if stopped:
            turn.go("menu")
        return [Reply("pain", {"stopped": stopped}), *self._prompt_if_busy(turn)]

    async def _log(self, turn: Turn, done: Done) -> list[Reply]:
        replies = await training.log(turn, done)
        walking = turn.conversation.flow in self._walk_names and not turn.in_community
        if walking and any(reply.logged for reply in replies):
            # Logged in the middle of a walk-through: the exercise was done, so it's over.
            turn.go("menu")
            return replies
        return [*replies, *self._prompt_if_busy(turn)]

    async def _aside(self, turn: Turn, answer: Awaitable[list[Reply]]) -> list[Reply]:
        """Something answered in passing (a log, an undo, the stats) in the middle of a
        conversation: its question comes again, so the person isn't left without one."""
        return [*await answer, *self._prompt_if_busy(turn)]

    async def _command(self, turn: Turn, command: Command) -> list[Reply]:
        if command.name == "done":
            return await self._log(turn, parse_done(command.arg))
        if command.name in ASIDES:
            return await self._aside(turn, self._actions[command.name](turn))
        if turn.incoming.chat.community is not None and command.name in NAVIGATION:
            # A person's conversation goes on in private: a group sees the menus, and what
            # they are in the middle of stays where it is (and unmentioned).
            return [group_menu(command.name, turn.nonce())]
        if command.name == "start" and command.arg:
            payload = normalise(command.arg)
            if payload in LINKABLE_PAGES or payload in EXERCISES:
                return await self._actions[payload](turn)
        if command.name in self._commands_with_args:
            return await self._commands_with_args[command.name](turn, command.arg)
        handler = self._actions.get(command.name)
        if handler is None:
            unknown = Reply("unknown_command", {"command": echo(command.name)})
            return [unknown, *self._prompt_if_busy(turn)]
        return await handler(turn)

    async def _said(self, turn: Turn, said: Said) -> list[Reply]:
        if turn.incoming.chat.community is not None:
            return await self._said_in_community(turn, said)
        global_words = {Word.HELP: self._help, Word.CANCEL: self._cancel}
        if said.word in global_words:
            return await global_words[said.word](turn)
        if said.word is Word.UNDO:
            return await self._aside(turn, training.undo(turn))
        flow = self._flows[turn.conversation.flow]
        if self._idle(turn):
            return self._resume.park(turn)
        if _replies_to_an_earlier_question(turn):
            return [Reply(EARLIER_QUESTION), *flow.prompt(turn)]
        choice = self._match(turn, flow, said)
        if choice is not None and choice.startswith(f"{ACTION_PREFIX}:"):
            return await self._run_action(turn, choice)
        if choice is not None and not _current(turn.conversation, choice):
            choice = None
        value = choice.rsplit(":", 1)[-1] if choice else None
        replies = await flow.answer(turn, Answer(value, said.word, said.number, said.text))
        if replies is not None:
            return replies
        if said.word is Word.MENU or (said.word is Word.BACK and turn.conversation.flow in MENUS):
            return await self._menu(turn)  # "back" from a menu: the main one
        if said.word is Word.HELLO:  # as /start: mid-conversation, "continue or over?"
            return await self._start(turn)
        if said.word is Word.STATS:
            return await self._aside(turn, training.stats(turn))
        if said.word is Word.THANKS:
            return [THANKED, *self._prompt_if_busy(turn)]
        if turn.conversation.flow in MENUS and acknowledges(said.text):
            return flow.prompt(turn)  # "ok" to advice or a workout: nothing to apologise for
        if said.word is Word.NEXT and (walk := self._finished_walk(turn)) is not None:
            return walk.past_the_end(turn)
        if (command := plain_command(said.text)) is not None:
            return await self._command(turn, command)
        return await self._not_understood(turn, said.text)

    async def _said_in_community(self, turn: Turn, said: Said) -> list[Reply]:
        """Words typed in a group or server channel. A person's conversation goes on in
        private, so these never answer its question (a "yes" in a group must not confirm
        "delete everything?") and never move it along."""
        if said.word is not None and said.word in PAGE_WORDS:
            page = PAGE_WORDS[said.word]
            return [
                help_page(turn.incoming.chat.platform)
                if page == "help"
                else group_menu(page, turn.nonce())
            ]
        if said.word is Word.UNDO:
            return await training.undo(turn)
        if said.word is Word.STATS:
            return await training.stats(turn)
        if said.word is Word.THANKS:  # a reply to the daily post, say
            return [THANKED]
        if (button := self._typed_button(turn, said)) is not None:
            return await self._run_action(turn, button)
        if (command := plain_command(said.text)) is not None:
            return await self._command(turn, command)
        return [_not_understood(turn, said.text, explain=True)]

    def _typed_button(self, turn: Turn, said: Said) -> str | None:
        """The button a "next" or "back" typed in a group means: the one it stands for on
        the walk-through step it replies to (as in private, "yes" goes on too). Pressing
        that button is what it does, so an older step's moves on from that step."""
        replied = turn.incoming.replied_buttons
        if not replied or said.word not in (Word.NEXT, Word.YES, Word.BACK):
            return None
        back = said.word is Word.BACK
        shown = (walk.shown_button(replied, back) for walk in self._walks.values())
        return next((button for button in shown if button is not None), None)

    async def _pressed(self, turn: Turn, value: str) -> list[Reply]:
        if value.startswith(f"{ACTION_PREFIX}:"):
            return await self._run_action(turn, value)
        choice = value.rsplit(":", 1)[-1]
        flow = self._flows[turn.conversation.flow]
        replies = await flow.answer(turn, Answer(choice, None, None, choice))
        return replies if replies is not None else await self._not_understood(turn, choice)

    async def _run_action(self, turn: Turn, value: str) -> list[Reply]:
        _, name, arg = [*value.split(":", 2), ""][:3]
        # Pressed on an earlier message (a reminder, a menu) in the middle of something:
        # answered in passing, as typed.
        if name == "done" and arg:
            return await self._aside(turn, training.press_done(turn, arg))
        if name in ASIDES:
            return await self._aside(turn, self._actions[name](turn))
        if name in self._walks and arg:
            # "Yes" to an offer to begin one ("Start with the glute bridge") is its start.
            step = "0" if arg == Word.YES.value else arg
            return await self._walk_step(turn, self._walks[name], step)
        if turn.in_community and name in NAVIGATION:
            return [group_menu(name, turn.nonce())]
        handler = self._actions.get(name)
        return await handler(turn) if handler else [Reply(STALE_PRESS)]

    def _match(self, turn: Turn, flow: Flow, said: Said) -> str | None:
        """The choice a typed answer picks, among those last shown: by its number, its
        label, or a word meaning its value ("y" for Yes)."""
        if said.number is not None:  # of the options on screen: none, if none are
            offered = turn.conversation.offered
            return offered[said.number - 1].value if 1 <= said.number <= len(offered) else None
        # What the last answer showed, then the question they are at: a message that came
        # privately from a group's menu (today's workout) is shown after the question.
        shown = (*turn.conversation.offered, *self._shown(flow.prompt(turn)))
        typed = normalise(said.text)
        exercise = EXERCISE_ALIASES.get(typed)  # "bridge" for "Glute bridge"
        for choice in shown:
            if typed and typed == self._labels.get(choice.label):
                return choice.value
            if said.word is not None and choice.value.endswith(f":{said.word.value}"):
                return choice.value
            if exercise is not None and _opens(choice, exercise):
                return choice.value
        return None

    def _finished_walk(self, turn: Turn) -> WalkFlow | None:
        """The walk-through whose finish screen was the last thing shown, if any."""
        offered = turn.conversation.offered
        return next((w for w in self._walks.values() if w.finish_on_show(offered)), None)

    @staticmethod
    def _shown(replies: list[Reply]) -> tuple[Choice, ...]:
        shown = [reply.choices for reply in replies if reply.choices]
        return shown[-1] if shown else ()

    def _idle(self, turn: Turn) -> bool:
        c = turn.conversation
        if c.flow in MENUS or c.flow == self._resume.name or c.updated_at is None:
            return False
        return turn.now - c.updated_at > IDLE_AFTER

    async def _not_understood(self, turn: Turn, text: str) -> list[Reply]:
        misses = turn.missed()
        prompt = self._flows[turn.conversation.flow].prompt(turn)
        shown = self._shown(prompt)
        in_flow = turn.conversation.flow not in MENUS
        explain = misses >= 2
        # The explanation at the menu suggests logging a workout: not to someone told to
        # see a professional first.
        warned = explain and not in_flow and await self._warned(turn)
        reply = _not_understood(
            turn, text, explain=explain, in_flow=in_flow, shown=shown, warned=warned
        )
        return [reply, *prompt]

    async def _warned(self, turn: Turn) -> bool:
        return await warning_on_record(self._store, turn.user.id) is not None

    def _prompt_if_busy(self, turn: Turn) -> list[Reply]:
        """The question someone is in the middle of; never in a group, where their
        conversation isn't."""
        if turn.conversation.flow in MENUS or turn.incoming.chat.community is not None:
            return []
        return self._flows[turn.conversation.flow].prompt(turn)

    async def _start(self, turn: Turn) -> list[Reply]:
        conversation = turn.conversation
        if conversation.flow not in MENUS and conversation.flow != self._resume.name:
            return self._resume.park(turn, away=self._idle(turn))
        if conversation.flow == self._resume.name:
            return self._resume.prompt(turn)
        last = conversation.updated_at
        context = {
            "returning": last is not None,
            "away": last is not None and turn.now - last > AWAY_AFTER,
        }
        turn.go("menu")
        return [Reply("welcome", context), main_menu()]

    async def _continue(self, turn: Turn) -> list[Reply]:
        """Coming back to the chat (the terminal's opening): straight on from the question
        the person was at, unless it was left long ago (then /start's "continue?")."""
        conversation = turn.conversation
        if conversation.flow in MENUS or conversation.flow == self._resume.name:
            return await self._start(turn)
        if self._idle(turn):
            return self._resume.park(turn)
        return self._flows[conversation.flow].prompt(turn)

    async def _menu(self, turn: Turn) -> list[Reply]:
        turn.go("menu")
        return [main_menu()]

    async def _learn(self, turn: Turn) -> list[Reply]:
        turn.go("learn")
        return self._flows["learn"].prompt(turn)

    async def _start_check(self, turn: Turn) -> list[Reply]:
        conversation = turn.conversation
        if conversation.flow == self._check.name and conversation.step > 0:
            if turn.in_community and turn.incoming.private_reach is not PrivateReach.IN_PLACE:
                # Asked in a group, where the answer is posted for all: the check goes on
                # in private, so its question comes again there.
                return self._check.prompt(turn)
            # Answers given would be lost to a slip of the thumb: carry on, or start over?
            return self._resume.park(turn, away=False)
        if self._asks_to_resume_check(turn) and not turn.in_community:
            return self._resume.prompt(turn)  # already asking just that
        return self._check.start(turn)

    def _asks_to_resume_check(self, turn: Turn) -> bool:
        """ "Carry on, or start over?" is on screen about a check with answers given."""
        conversation = turn.conversation
        parked = conversation.data
        return (
            conversation.flow == self._resume.name
            and parked.get("flow") == self._check.name
            and parked.get("step", 0) > 0
        )

    def _walk(self, exercise: str) -> Callable[[Turn], Awaitable[list[Reply]]]:
        async def start(turn: Turn) -> list[Reply]:
            return await self._walk_step(turn, self._walks[exercise], "0")

        return start

    async def _walk_step(self, turn: Turn, walk: WalkFlow, arg: str) -> list[Reply]:
        """A walk-through's step pressed or asked for: "0" is its start, "back" its last
        step (from the finish screen), other numbers a step of one posted in a group,
        "<message's id>:start" its start from a message's button (see `walk_start`)."""
        # A walk-through ends with a target to do: no exercise advice after a red flag.
        warning = await warning_on_record(self._store, turn.user.id)
        if warning is not None:
            return [held_back(warning)]
        last = len(walk.exercise.steps) - 1
        # The finish's Back is "<walk-through id>:back", a step's button in a group
        # "<walk-through id>:<step>" (a plain step number, on one posted before they had ids).
        walk_id, _, arg = arg.rpartition(":")
        # Button data can be forged: only a plain step number counts ("²" is a digit too),
        # and only an id as the bot makes them.
        number = arg.isascii() and arg.isdigit() and len(arg) <= 3
        step = last if arg == BACK.value else int(arg) if number else 0
        carried = walk_id if is_nonce(walk_id) else None
        if carried is not None and arg == WALK_START:
            carried = turn.todays(carried)
        if turn.in_community:
            return await walk.shown_to_all(turn, step, carried)
        # Back from the finish is the same walk-through; a step number, a group's button
        # somehow pressed here, begins one (the group's, if it carries its id: one Done).
        return walk.start(turn, min(step, last), carried)

    async def _help(self, turn: Turn) -> list[Reply]:
        return [help_page(turn.incoming.chat.platform), *self._prompt_if_busy(turn)]

    async def _cancel(self, turn: Turn) -> list[Reply]:
        was_busy = turn.conversation.flow not in MENUS
        turn.go("menu")
        return [Reply("cancelled", {"was_busy": was_busy}), main_menu()]

    async def _forget(self, turn: Turn) -> list[Reply]:
        return self._forget_flow.start(turn)

    async def _done(self, turn: Turn) -> list[Reply]:
        return await training.log(turn, Done())

    async def _remind_change(self, turn: Turn) -> list[Reply]:
        return self._remind.ask(turn)

    async def edited(self, incoming: Incoming, edit_key: str) -> list[Reply]:
        """A message edited after it was handled (`incoming` names it by its event key,
        with its new text; `edit_key` names this edit of it). A log stands as the message
        was first sent: handled again, it would only be a redelivery. So someone who edits
        "done" or "done 15" into "done 20" is told how to fix the log instead of trusting
        the edit, and someone who edits a message that logged nothing into a "done" that it
        logged nothing. An edit of anything else goes unanswered: answered again, it would
        repeat or undo what happened since. Each edit is answered once: delivered again
        (after a crash), it gets no second note. In a group only an edited log is answered,
        there (the note holds nothing of theirs): any chatter there may be edited."""
        chat = incoming.chat
        user = await self._store.users.get(chat.platform, chat.user_id)
        if user is None or await self._store.events.seen(edit_key):
            return []
        key = incoming.event_key
        in_private = chat.community is None
        if await self._store.reps.has_event(user.id, key) or await self._store.events.seen(
            training.logged_by(key)
        ):
            replies = [Reply(EDITED_LOG, private=in_private)]
        elif in_private and says_done(incoming.text):
            replies = [Reply(EDITED_UNLOGGED, {"text": echo(incoming.text)}, private=True)]
        else:
            return []
        await self._store.db.apply([self._store.events.mark(edit_key, user.id, self._clock())])
        return replies

    async def reminder_unreachable(self, platform: Platform, user_id: str) -> None:
        """A person's reminder that can't reach them (the platform just refused a message
        to them): switched off but kept as it was, so that "keep reminding me" turns it
        back on once they let messages through."""
        user = await self._store.users.get(platform, user_id)
        schedules = self._store.schedules
        reminder = None if user is None else await schedules.get(reminder_owner(user.id))
        if reminder is not None and reminder.enabled:
            await schedules.disable(reminder.id, DisabledReason.GONE, self._clock())
            self._on_schedule_change()

    async def scheduled(self, prompt: Prompt) -> list[Reply]:
        """What a schedule sends when it falls due: a channel's workout post, a person's
        reminder (none on a day they have logged already), or the one question whether to
        keep unanswered reminders."""
        schedule = prompt.schedule
        current = await self._store.schedules.get(schedule.owner)
        if current is None or not (current.enabled or prompt.asks_to_continue):
            # Deleted (/forget) or switched off while it waited for its turn to be sent.
            return []
        chat = ChatRef(schedule.platform, "", schedule.target, schedule.community)
        nonce = prompt.nonce
        if schedule.kind is ScheduleKind.CHANNEL:
            return [community.daily_post(chat, prompt.local_day, nonce)]
        if prompt.asks_to_continue:
            return [Reply("remind/pause", choices=KEEP_OR_STOP)]
        assert schedule.user_id is not None
        user, day, tz = schedule.user_id, prompt.local_day, schedule.tz
        if await self._store.reps.logged_since(user, day):
            # They trained today already: a reminder would only nag. Nor was it ignored.
            await self._store.schedules.reset_ignored(schedule.owner)
            return []
        return [await training.todays_session(self._store, user, day, tz, nonce, "remind/workout")]

    async def unblocked(self, chat: ChatRef, display_name: str) -> list[Reply]:
        """Someone who blocked the bot let it write to them again, saying nothing (on
        Telegram, unblocking it in their settings). Their private chat is open again, and
        a reminder blocking switched off is offered back now: they may never write first.
        Once only: they are no longer marked unreachable."""
        lock = self._locks.setdefault((chat.platform, chat.user_id), asyncio.Lock())
        async with lock:
            user = await self._store.users.get(chat.platform, chat.user_id)
            if user is None or not user.blocked:
                return []
            await self._store.users.ensure_read(user, chat, display_name, self._clock())
            await self._store.db.apply([self._store.users.mark_private_chat(user.id)])
            return await self._offer_reminder_back(user.id)

    async def _reachable_again(self, turn: Turn) -> list[Reply]:
        """Someone marked unreachable writes in private again. A reminder switched off
        because it couldn't reach them is offered back (not turned on unasked: they may
        have blocked the bot to stop it)."""
        if turn.schedules_changed:
            return []  # this very message set their reminder, or switched it off
        return await self._offer_reminder_back(turn.user.id)

    async def _offer_reminder_back(self, user_id: int) -> list[Reply]:
        reminder = await self._store.schedules.get(reminder_owner(user_id))
        if reminder is None or reminder.disabled_reason is not DisabledReason.GONE:
            return []  # none, on, or switched off by them (or paused) rather than by us
        context = {
            "time": reminder.local_time,
            "tz": zone_name(reminder.tz),
            "days": format_days(reminder.days),
        }
        return [Reply("remind/reachable_again", context, choices=ON_OR_LEAVE_OFF, private=True)]

    async def delivered(self, prompt: Prompt, replies: list[Reply]) -> None:
        """A person's reminder has reached them, so it is the bot's last message: a number
        or "yes" typed next answers it, and a bare "done" means the session it carries.
        Unless they are in the middle of something, which it doesn't interrupt."""
        user_id = prompt.schedule.user_id
        if user_id is None:
            return
        conversations = self._store.conversations
        was = await conversations.load(user_id)
        if was.flow not in MENUS or was.updated_at is None:
            return
        now = replace(was, offered=self._shown(replies), walked=None)
        await self._store.db.apply([conversations.show_if_unchanged(user_id, was, now)])


def _not_understood(
    turn: Turn,
    text: str,
    *,
    explain: bool,
    in_flow: bool = False,
    shown: tuple[Choice, ...] = (),
    warned: bool = False,
) -> Reply:
    """ "I didn't understand", with how to answer the choices `shown` (yes/no only where
    a choice means one)."""
    context = {
        "text": echo(text),
        "explain": explain,
        "in_flow": in_flow,
        "yes_no": any(c.value.rsplit(":", 1)[-1] in ("yes", "no") for c in shown),
        "platform": str(turn.incoming.chat.platform),
        "warned": warned,
    }
    return Reply("not_understood", context)


def help_page(platform: Platform) -> Reply:
    return Reply("help", {"platform": str(platform)})


def group_menu(name: str, nonce: str) -> Reply:
    """What a command that moves someone around their conversation shows in a group:
    the learn menu (`nonce` naming it) or the main one, moving no one's conversation."""
    return learn_menu(nonce) if name == "learn" else main_menu()


def _opens(choice: Choice, exercise: str) -> bool:
    """Whether `choice` is a button that opens the walk-through of `exercise`."""
    return choice.value.split(":", 2)[:2] == [ACTION_PREFIX, exercise]


def _command_in(text: str) -> Command | None:
    """The command a message is, typed with its slash or without, or said in words that
    mean one ("help", "hi")."""
    intent = parse(text)
    if isinstance(intent, Said):
        page = PAGE_WORDS.get(intent.word) if intent.word else None
        return Command(page) if page else plain_command(intent.text)
    return intent if isinstance(intent, Command) else None


def _current(conversation: Conversation, choice: str) -> bool:
    """Whether a flow's choice ("check:3:yes") answers the question on screen now."""
    flow, _, rest = choice.partition(":")
    step = rest.partition(":")[0]
    return flow == conversation.flow and step == str(conversation.step)


def _stale_press(incoming: Incoming, conversation: Conversation) -> bool:
    """A press on a question's buttons once the conversation has moved on. (An action's
    button, "do:...", means the same whenever it is pressed.)"""
    choice = incoming.choice
    if choice is None or choice.startswith(f"{ACTION_PREFIX}:"):
        return False
    return not _current(conversation, choice)


def _done_chatter(done: Done) -> bool:
    """Whether a "done" said in a group, to no one in particular, is not for the bot.
    "Finished!" or "did it" there is as likely about anything else: only "done", the word
    the daily post asks for, logs unasked. A count out of range ("done 5000") was meant as
    a log, so it gets its correction; a "done" with words the bot can't read was not."""
    if done.casual:
        return True
    return done.problem is not None and done.problem not in COUNT_PROBLEMS


def _replies_to_an_earlier_question(turn: Turn) -> bool:
    """Typed as a reply to one of the bot's messages that isn't the question it is at (an
    earlier one, its buttons gone or other than the current question's): "yes" to the
    safety question scrolled back to must not answer the question on screen."""
    replied = turn.incoming.replied_buttons
    if replied is None or turn.conversation.flow in MENUS:
        return False
    offered = turn.conversation.offered
    asking = {c.value for c in offered if not c.value.startswith(f"{ACTION_PREFIX}:")}
    return bool(asking) and asking.isdisjoint(replied)

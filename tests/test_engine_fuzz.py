"""The engine under random conversations: several people, every platform and place, typed
words, button presses (stale ones too), photos, scheduled prompts and the clock moving.

Whatever happens: no exception and no "error" reply, every reply renders on the platform
it goes to, "/cancel" in a private chat always lands at the main menu, a private chat
always gets an answer, a redelivered event changes nothing, the answer kept for a restart
reads back as the one given, and the reps in the database are exactly what the "Logged"
answers said minus what "undo" said it removed.

Set GLUTEBOT_FUZZ_EXAMPLES to explore (random seeds, `--hypothesis-seed` honoured); by
default a fixed, modest run keeps the suite quick and stable.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import Core, open_core
from bot.engine.core import STALE_PRESS
from bot.model import (
    PRIVATE_CHAT_FIRST,
    ChatRef,
    Choice,
    Incoming,
    Platform,
    PrivateReach,
    Reply,
    Unreadable,
)
from bot.render import MESSAGES_DIR
from bot.scheduler import Prompt
from bot.store import owed
from bot.store.schema import fingerprint
from tests.transcript import START, FakeClock, reps_by_person

EXPLORING = "GLUTEBOT_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("GLUTEBOT_FUZZ_EXAMPLES", "150"))

PEOPLE = ("1", "2", "3")
# Where people talk. Private places belong to one person; the group and the server are
# shared, and what is shown there (but for Discord's answers only the asker sees) can be
# pressed by anyone.
CONSOLE, TG, TG_GROUP, DC_SERVER, DC_DM = "console", "tg", "tg_group", "dc_server", "dc_dm"
PLACES = (CONSOLE, TG, TG_GROUP, DC_SERVER, DC_DM)
PRIVATE_PLACES = frozenset({CONSOLE, TG, DC_DM})
TG_GROUP_ID, GUILD, CHANNEL = "-100", "900", "555"


def chat_of(place: str, person: str) -> ChatRef:
    if place == CONSOLE:
        return ChatRef(Platform.CONSOLE, person, f"console-{person}")
    if place == TG:  # a Telegram private chat's id is the person's
        return ChatRef(Platform.TELEGRAM, person, person)
    if place == TG_GROUP:
        return ChatRef(Platform.TELEGRAM, person, TG_GROUP_ID, TG_GROUP_ID)
    if place == DC_SERVER:
        return ChatRef(Platform.DISCORD, person, CHANNEL, GUILD)
    return ChatRef(Platform.DISCORD, person, f"dm-{person}")


# What people type.
LABELS: list[str] = sorted(
    tomllib.loads((MESSAGES_DIR / "en" / "labels.toml").read_text(encoding="utf-8"))[
        "labels"
    ].values()
)
COMMANDS = (
    "start", "check", "workout", "bridge", "lunge", "done", "undo", "stats", "remind",
    "stop", "forget", "cancel", "help", "leaderboard", "setup", "prompt", "menu", "learn",
)  # fmt: skip
COMMAND_ARGS = (
    "", "15", "12 lunges", "bridge 20", "check", "workout", "stats", "menu", "continue",
    "bogus", "hide", "show", "off", "lunge", "x" * 300, "<b>hi</b>", "{{ 7*7 }}",
)  # fmt: skip
DONES = (
    "done", "Done ✅", "done 15", "done 12 lunges", "done bridge 20", "done 8 per side",
    "done 2x10", "done 2 sets of 10", "done 3 x 500", "done 15 bridges 10 lunges",
    "done 5000", "done -3", "done 0", "done 1.5", "done 1e3", "done twenty", "did it",
    "I did it", "finished", "completed", "done @bob", "done <@123> 10", "done 15 :glutes:",
    "done deal", "finished 5000", "done 10 burpees", "finished?", "done 500", "done 501",
    "done lunge", "done bridge", "done 10 each leg", "done, thanks!", "/done 15",
    "/done@glute_bot 12 lunges", "@glutebot done 15",
)  # fmt: skip
WORDS = (
    "yes", "no", "maybe", "not sure", "ok", "okay", "sure", "👍", "thanks", "thank you",
    "cheers", "y", "n", "nah", "sometimes", "a bit", "back", "next", "cancel", "help",
    "undo", "stats", "progress", "menu", "hi", "hello", "stop", "oops", "?", "workout",
    "check", "lunge", "bridge", "remind", "leaderboard", "forget", "about 10 hours",
    "3 hours", "I don't run", "lunges", "Today\u2019s workout", "",
)  # fmt: skip
TIMES = ("07:30", "7:30am", "6pm", "18.00", "07.00", "25:00", "noon", "off", "stop", "0:00")
ZONES = (
    "Europe/London", "Europe/Berlin", "America/New_York", "new york", "Denver", "UTC",
    "UTC+2", "GMT-11", "EST", "Moon/Base", "Pacific/Auckland", "America/Argentina/Buenos Aires",
    "Asia/Kolkata", "",
)  # fmt: skip
DAYS = ("mon,wed,fri", "weekdays", "daily", "tue thu", "someday", "sat", "")


@st.composite
def remind_text(draw: st.DrawFn) -> str:
    at, zone, days = (
        draw(st.sampled_from(TIMES)),
        draw(st.sampled_from(ZONES)),
        draw(st.sampled_from(DAYS)),
    )
    if draw(st.booleans()):
        return f"/remind {at} {zone} {days}".strip()
    return f"/remind time:{at} timezone:{zone} days:{days}"


@st.composite
def setup_text(draw: st.DrawFn) -> str:
    channel = draw(st.sampled_from((CHANNEL, f"<#{CHANNEL}>", "777", "general", "")))
    at, zone, days = (
        draw(st.sampled_from(TIMES)),
        draw(st.sampled_from(ZONES)),
        draw(st.sampled_from(DAYS)),
    )
    if draw(st.booleans()):  # one that works
        channel, at, zone = (
            CHANNEL,
            draw(st.sampled_from(TIMES[:5])),
            draw(st.sampled_from(ZONES[:8])),
        )
    return f"/setup {channel} {at} {zone} {days}".strip()


@st.composite
def command_text(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(COMMANDS))
    bot = draw(st.sampled_from(("", "", "@glute_bot")))
    arg = draw(st.sampled_from(COMMAND_ARGS))
    return f"/{name}{bot} {arg}".strip()


TEXTS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(DONES),
    command_text(),
    remind_text(),
    setup_text(),
    st.sampled_from(LABELS),
    st.sampled_from(TIMES + ZONES + DAYS),
    st.integers(-1, 12).map(str),
    st.text(max_size=40),
    st.sampled_from(("x" * 5000, "🍑" * 3000, "done " + "9" * 5000, "\u202e\x00\x1b[2J")),
)


# Callback data as a modified client could send it: the shapes the bot's own have, with
# anything after them.
FORGED = st.builds(
    str.__add__,
    st.sampled_from(
        (
            "do:bridge:",
            "do:lunge:",
            "do:done:",
            "do:remind_keep:",
            "do:start:",
            "check:0:",
            "check:1:",
            "walk_bridge:0:",
            "remind:0:",
            "forget:0:",
            "resume:0:",
            "do:",
            "",
        )
    ),
    st.one_of(
        st.sampled_from(("0", "1", "9", "back", "yes", "-1", "²", "٣", "1.lunge")),
        st.text(max_size=20),
    ),
)


# The steps.
@dataclass(frozen=True)
class Say:
    place: str
    person: str
    text: str
    addressed: bool = True  # in a group: a mention or a reply to the bot
    slash: bool = False  # in the Discord server: an interaction (a slash command)
    admin: bool = False


@dataclass(frozen=True)
class Press:
    place: str
    person: str
    pick: int  # which of the buttons seen there: 0 is the newest
    anywhere: bool = False  # a button seen in another place (no platform allows it)
    # Data no message had: a Telegram client may send any callback data it likes.
    forged: str | None = None


@dataclass(frozen=True)
class Answer:
    """The newest question's options there, pressed, or typed as their label."""

    place: str
    person: str
    pick: int
    typed: bool = False
    times: int = 1  # the same pick, again and again: through the check, say


@dataclass(frozen=True)
class Media:
    place: str
    person: str
    held: Unreadable = Unreadable.MEDIA


@dataclass(frozen=True)
class Scheduled:
    pick: int
    asks_to_continue: bool = False
    days_back: int = 0
    delivered: bool = True  # the platform took it (not refused, not failed)


@dataclass(frozen=True)
class Blocked:
    """A platform refused a message to the person: they blocked the bot, or closed DMs."""

    platform: Platform
    person: str


@dataclass(frozen=True)
class Together:
    """Different people's messages handled at the same time."""

    steps: tuple[Say | Press | Answer, ...]


@dataclass(frozen=True)
class Advance:
    minutes: int


@dataclass(frozen=True)
class Redeliver:
    pick: int


Step = Say | Press | Answer | Media | Scheduled | Blocked | Together | Advance | Redeliver


def steps_among(places: Sequence[str], people: Sequence[str]) -> st.SearchStrategy[Step]:
    place, person = st.sampled_from(places), st.sampled_from(people)
    return st.one_of(
        st.builds(Say, place, person, TEXTS, st.booleans(), st.booleans(), st.booleans()),
        st.builds(Say, place, person, TEXTS),
        st.builds(Press, place, person, st.integers(0, 4)),  # the latest message's buttons
        st.builds(Press, place, person, st.integers(0, 1000)),  # any, however stale
        st.builds(Press, place, person, st.integers(0, 1000), st.just(True)),
        st.builds(Answer, place, person, st.integers(0, 2)),  # moves flows along
        st.builds(Answer, place, person, st.integers(0, 2), st.booleans(), st.integers(2, 12)),
        st.builds(Answer, place, person, st.integers(0, 9), st.booleans()),
        st.builds(Media, place, person, st.sampled_from(Unreadable)),
        st.builds(Scheduled, st.integers(0, 10), st.booleans(), st.sampled_from((0, 0, 1))),
        st.builds(Scheduled, st.integers(0, 10), st.booleans(), st.just(0), st.booleans()),
        st.builds(Blocked, st.sampled_from((Platform.TELEGRAM, Platform.DISCORD)), person),
        st.builds(Advance, st.sampled_from((1, 30, 90, 780, 1500, 60 * 24 * 3, 60 * 24 * 9))),
        st.builds(Redeliver, st.integers(0, 1000)),
        st.builds(
            Press, st.sampled_from((TG, TG_GROUP)), person, st.just(0), st.just(False), FORGED
        ),
    )


def together(people: Sequence[str], places: Sequence[str]) -> st.SearchStrategy[Together]:
    """A message each from different people, handled at the same time."""
    place = st.sampled_from(places)

    def one(person: str) -> st.SearchStrategy[Say | Press | Answer]:
        return st.one_of(
            st.builds(Say, place, st.just(person), TEXTS),
            st.builds(Press, place, st.just(person), st.integers(0, 4)),
            st.builds(Answer, place, st.just(person), st.integers(0, 2)),
        )

    return st.tuples(*map(one, people)).map(Together)


@st.composite
def conversations(draw: st.DrawFn, min_size: int = 5, max_size: int = 60) -> list[Step]:
    """Steps among a few of the places and people, so that conversations get somewhere."""
    places = draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True))
    people = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=2, unique=True))
    step = st.one_of(steps_among(places, people), together(people, places))
    steps = st.lists(step, min_size=min_size, max_size=max_size)
    return draw(steps)


@dataclass
class World:
    core: Core
    clock: FakeClock
    keys: itertools.count[int] = field(default_factory=itertools.count)
    # Button values shown, by (place, person); person None: shown to everyone there.
    shown: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)
    latest: dict[tuple[str, str | None], tuple[Choice, ...]] = field(default_factory=dict)
    handled: list[Incoming] = field(default_factory=list)
    # Reps each person (platform, user id) was told were logged, less those undone.
    told: dict[tuple[str, str], int] = field(default_factory=dict)

    def key(self) -> str:
        return f"fuzz:{next(self.keys)}"

    def show(self, place: str, person: str | None, replies: Iterable[Reply]) -> None:
        for reply in replies:
            self.shown.setdefault((place, person), []).extend(c.value for c in reply.choices)
            if reply.choices:
                self.latest[(place, person)] = reply.choices

    def buttons(self, place: str, person: str, anywhere: bool) -> list[str]:
        if anywhere:
            return [value for values in self.shown.values() for value in values]
        return [*self.shown.get((place, None), []), *self.shown.get((place, person), [])]


def incoming_for(
    world: World, step: Say | Press | Answer | Media, choice: str | None = None, text: str = ""
) -> Incoming:
    chat = chat_of(step.place, step.person)
    reach = PrivateReach.IN_PLACE
    addressed, admin = True, False
    if isinstance(step, Say):
        addressed, admin = step.addressed, step.admin
    if step.place == TG_GROUP:
        reach = PrivateReach.IF_STARTED
    elif step.place == DC_SERVER and isinstance(step, Say) and not step.slash:
        reach = PrivateReach.UNSURE  # typed in a channel: their DMs may be closed
    elif step.place == DC_SERVER and isinstance(step, Say):
        addressed = True  # a slash command is always for the bot
    return Incoming(
        chat,
        world.key(),
        text=step.text if isinstance(step, Say) else text,
        choice=choice,
        display_name=f"Person {step.person}",
        is_admin=admin,
        addressed=addressed,
        private_reach=reach,
        unreadable=step.held if isinstance(step, Media) else None,
        comes_again=True,
    )


async def flow_of(core: Core, chat: ChatRef) -> str | None:
    row = await core.store.db.fetchone(
        "SELECT c.flow FROM conversations c JOIN users u ON u.id = c.user_id"
        " WHERE u.platform = ? AND u.platform_user_id = ?",
        (str(chat.platform), chat.user_id),
    )
    return None if row is None else str(row[0])


def check_replies(world: World, chat: ChatRef, replies: Sequence[Reply], what: object) -> None:
    templates = [reply.template for reply in replies]
    assert "error" not in templates, (what, templates)
    for reply in replies:
        if reply.template == PRIVATE_CHAT_FIRST:
            assert replies == [reply], templates  # a signal for the adapter, alone
            continue
        platform = reply.to.platform if reply.to is not None else chat.platform
        rendered = world.core.renderer.render(reply, platform)
        assert rendered.text.strip(), (what, reply.template)


def tally(world: World, chat: ChatRef, replies: Iterable[Reply]) -> None:
    who = (str(chat.platform), chat.user_id)
    for reply in replies:
        entries = reply.context.get("entries", [])
        if reply.template == "logged":
            world.told[who] = world.told.get(who, 0) + sum(e["reps"] for e in entries)
        elif reply.template == "undone":
            world.told[who] = world.told.get(who, 0) - sum(e["reps"] for e in entries)
        elif reply.template == "forget/done":
            world.told.pop(who, None)
            # Forgetting deletes the record of their earlier events too (every row about
            # them): a redelivery of one of those would be new, so none is tried.
            world.handled = [
                seen
                for seen in world.handled
                if (str(seen.chat.platform), seen.chat.user_id) != who
            ]


async def handle(world: World, incoming: Incoming, step: Step) -> list[Reply]:
    chat = incoming.chat
    try:
        replies = await world.core.engine.handle(incoming)
    except Exception as error:
        raise AssertionError(f"{step!r} raised {error!r}") from error
    world.handled.append(incoming)
    check_replies(world, chat, replies, step)
    await check_kept(world, incoming, replies)
    tally(world, chat, replies)
    return replies


async def check_kept(world: World, incoming: Incoming, replies: Sequence[Reply]) -> None:
    """The answer kept until sent (owed.py) shows as the one given; then it is sent (and
    let go with the next commit: see the end of `run`)."""
    key = fingerprint(incoming.event_key)
    row = await world.core.store.db.fetchone("SELECT owed FROM events WHERE event_key = ?", (key,))
    if row is None or row[0] is None:
        # Nothing kept: the event was not stored, or needs no answer; or else it was a
        # press on buttons no longer there, which changed nothing (a redelivery can't).
        templates = [reply.template for reply in replies]
        assert row is None or templates in ([], [STALE_PRESS]), templates
        return
    _, kept = owed.decode(row[0])
    assert [shown(world, incoming.chat, reply) for reply in kept] == [
        shown(world, incoming.chat, reply) for reply in replies
    ], incoming
    world.core.engine.answered(incoming.event_key)


def shown(world: World, chat: ChatRef, reply: Reply) -> object:
    """What a reply shows where it goes, and what the adapter reads off it."""
    if reply.template == PRIVATE_CHAT_FIRST:  # a signal, not a message
        return reply
    platform = reply.to.platform if reply.to is not None else chat.platform
    rendered = world.core.renderer.render(reply, platform)
    return rendered, reply.choices, reply.private, reply.logged, reply.quiet, reply.to


async def play(world: World, step: Step) -> None:
    if isinstance(step, Advance):
        world.clock.advance(minutes=step.minutes)
        return
    if isinstance(step, Redeliver):
        if world.handled:
            again = world.handled[step.pick % len(world.handled)]
            assert await world.core.engine.handle(again) == [], step
        return
    if isinstance(step, Scheduled):
        await scheduled(world, step)
        return
    if isinstance(step, Together):
        await asyncio.gather(*(play(world, each) for each in step.steps))
        return
    if isinstance(step, Blocked):
        # As the adapters and the scheduler do when a send to the person is refused.
        await world.core.store.users.mark_blocked(step.platform, step.person)
        await world.core.engine.reminder_unreachable(step.platform, step.person)
        return
    if isinstance(step, Answer) and step.times > 1:
        for _ in range(step.times):
            await play(world, replace(step, times=1))
        return
    choice, text = None, ""
    if isinstance(step, Answer):
        options = world.latest.get((step.place, step.person)) or world.latest.get(
            (step.place, None), ()
        )
        if not options:
            return
        picked = options[step.pick % len(options)]
        if step.typed:
            text = world.core.renderer.labels[picked.label]
        else:
            choice = picked.value
    if isinstance(step, Press):
        buttons = world.buttons(step.place, step.person, step.anywhere)
        if not buttons and step.forged is None:
            return
        choice = buttons[-1 - step.pick % len(buttons)] if buttons else None
        if step.forged is not None:
            choice = step.forged
    incoming = incoming_for(world, step, choice, text)
    replies = await handle(world, incoming, step)
    private = step.place in PRIVATE_PLACES
    if private:
        assert replies, step  # a private chat always gets an answer
        world.show(step.place, step.person, replies)
    else:
        reached = PRIVATE_CHAT_FIRST not in [r.template for r in replies]
        for reply in replies:
            if reply.private and step.place == TG_GROUP and reached:
                world.show(TG, step.person, [reply])  # sent to their private chat
            elif reply.private:
                world.show(step.place, step.person, [reply])  # seen by the asker alone
            else:
                world.show(step.place, None, [reply])
    if private and isinstance(step, Say) and step.text.strip() in ("/cancel", "cancel"):
        assert await flow_of(world.core, incoming.chat) == "menu", step


async def scheduled(world: World, step: Scheduled) -> None:
    schedules = world.core.store.schedules
    owners = [row[0] for row in await world.core.store.db.fetchall("SELECT owner FROM schedules")]
    if not owners:
        return
    schedule = await schedules.get(owners[step.pick % len(owners)])
    assert schedule is not None
    day = world.clock.now.astimezone(schedule.tz).date() - timedelta(days=step.days_back)
    prompt = Prompt(schedule, day, asks_to_continue=step.asks_to_continue)
    try:
        replies = await world.core.engine.scheduled(prompt)
    except Exception as error:
        raise AssertionError(f"{step!r} ({schedule.owner}) raised {error!r}") from error
    chat = ChatRef(schedule.platform, schedule.target, schedule.target, schedule.community)
    check_replies(world, chat, replies, step)
    if not step.delivered:  # refused or failed: nobody saw it
        return
    await world.core.engine.delivered(prompt, replies)
    if schedule.community is not None:
        world.show(DC_SERVER, None, replies)
    else:  # a reminder: in the person's private chat (Telegram) or DMs (Discord)
        place = TG if schedule.platform is Platform.TELEGRAM else DC_DM
        world.show(place, schedule.target, replies)


async def run(steps: Sequence[Step]) -> None:
    clock = FakeClock(START)
    with tempfile.TemporaryDirectory(prefix="glutebot-fuzz-") as folder:
        async with open_core(Path(folder) / "fuzz.db", clock=clock) as core:
            world = World(core, clock)
            for number, step in enumerate(steps):
                await play(world, step)
                in_db = await reps_by_person(core)
                assert in_db == {k: v for k, v in world.told.items() if v}, (number, step)
            # Nobody is left stuck: wherever they ended up, "/cancel" brings the menu back.
            for place, person in itertools.product(sorted(PRIVATE_PLACES), PEOPLE):
                await play(world, Say(place, person, "/cancel"))
            # Every answer was sent: none is still kept once the engine closes.
            await core.engine.close()
            left = await core.store.db.fetchone("SELECT COUNT(*) FROM events WHERE owed NOT NULL")
            assert left is not None
            assert left[0] == 0


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not EXPLORING,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=conversations())
def test_random_conversations_never_break_the_engine(steps: list[Step]) -> None:
    asyncio.run(run(steps))


def test_forged_callback_data_for_a_walk_through_step_is_not_an_error() -> None:
    """Found by the test above: a Telegram client may send any callback data, and "²"
    passes str.isdigit() but not int(), so Engine._walk_step raised ValueError and the
    person got the "error" apology."""
    asyncio.run(run([Press(TG, "1", 0, forged="do:bridge:\u00b2")]))

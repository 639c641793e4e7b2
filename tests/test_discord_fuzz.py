"""The Discord adapter under random sessions: real discord.py against the fake Discord
server (tests/fakes/discord_checked.py), members of two servers typing in channels, a thread
and DMs, using every slash command with sensible and absurd options (and as an older
definition Discord still holds would send them), pressing buttons new
and stale (and ones an older glutebot might have left), double clicks, events delivered
again, DMs closed, permissions missing or taken away, restarts, and Discord answering
429, 503, 403 or 404 now and then.

Whatever happens:
- nothing reaches discord.py's error handling, and nothing is logged at ERROR;
- every payload is one Discord accepts, and none may ping (see CheckedDiscord);
- every interaction gets exactly one first answer, and nothing stays "thinking…",
  unless Discord failed a call for it;
- what only its asker may see (stats, the check) is never posted in a channel;
- a redelivered event (the same message or interaction id again) changes nothing: no
  message, no reaction, no row in the database;
- the reps in the database are what the "Logged" answers said, less what "undo" said it
  removed; a "done" typed in a channel gets a ✅ exactly when it logged reps (or, where
  the bot may not react, an answer), and a logging command or press says "Logged".

Bugs it found, each with its own test in tests/test_discord.py since: an option value
Discord still offered from an older definition raised (and a stale "/done 10 squat" then
logged the whole session); refused or cut-off timezone suggestions logged errors; a typed
/setup refused for a channel the bot can't post in was answered again when replayed.

Set GLUTEBOT_DISCORD_FUZZ_EXAMPLES to explore (random seeds, `--hypothesis-seed`
honoured), GLUTEBOT_DISCORD_FUZZ_STEPS for longer sessions, GLUTEBOT_DISCORD_FUZZ_SHRINK
to shrink a failure (minutes). By default a fixed, modest run keeps the suite quick and
stable.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from bot.model import Delivery, Platform
from bot.render import LIMITS, split_message
from bot.runner import deliverer
from bot.scheduler import Prompt
from tests.fakes.discord_checked import (
    COMMAND_PLACES,
    MEMBERS,
    ROUTES,
    TYPED_PLACES,
    CheckedDiscord,
    Stage,
    answers,
    enabled_buttons,
    stage,
    still_thinking,
)
from tests.fakes.discord_server import EPHEMERAL, FakeGuild, FakeInteraction
from tests.fakes.discord_world import JSON

EXPLORING = "GLUTEBOT_DISCORD_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("GLUTEBOT_DISCORD_FUZZ_EXAMPLES", "100"))
MAX_STEPS = int(os.environ.get("GLUTEBOT_DISCORD_FUZZ_STEPS", "40"))
# Each example starts a bot, so shrinking a failure takes minutes: only when asked.
PHASES = (
    tuple(Phase)
    if os.environ.get("GLUTEBOT_DISCORD_FUZZ_SHRINK")
    else (Phase.explicit, Phase.reuse, Phase.generate)
)

# ---- what members type ----------------------------------------------------------------
# "{bot}", "{role}" (the bot's), "{alice}", "{thread}"... stand for ids (see Stage.fill).

DONES = (
    "done", "done 15", "done 12 lunges", "done bridge 20", "done 8 per side", "done 2x10",
    "done 0", "done -5", "done 1000000000", "done 1e3", "done 500", "done 501", "did it",
    "finished", "done <@{alice}> 10", "done 15 <:glutes:123456789012345678>",
    "done <a:dance:123456789012345678>", "done 15 @everyone", "done @here", "Done ✅",
    "done <@&{role}> 3", "<@{bot}> done 15", "<@!{bot}> done 4 lunges", "done <#{thread}>",
    "done <t:1700000000:R>", "done </done:123456789012345678>", "done ||15||", "done `15`",
    "done **15**", "done 1️⃣5️⃣", "done \uff11\uff15", "done \u0661\u0665",
)  # fmt: skip
WORDS = (
    "yes", "no", "help", "undo", "stats", "cancel", "back", "next", "menu", "thanks",
    "<@{bot}> help", "<@{bot}> stats", "<@&{role}> thanks", "<@{bot}>", "@everyone",
    "@here hello", "<:glutes:123456789012345678>", "# heading", "> quote", "-# small",
    "```\ndone 15\n```", "{{ 7*7 }}", "<b>hi</b>", "\u202edone 15", "done\u0000 15",
    "\u200b", "", " ", "🍑" * 2000, "x" * 2000, "Z̷̢̛a̵l̶g̷o̸ done", "<@{bot}> " + "ǅ" * 1990,
    "/setup <#{workouts}> 07:30 Europe/Berlin", "/setup <#{locked}> 07:30 UTC daily",
    "/setup <#{thread}> 6pm UTC weekdays", "/setup <#{elsewhere}> 07:30 UTC",
    "/setup <#{hidden}> 07:30 UTC", "/setup {workouts} 25:99 Mars/Base", "/prompt",
    "/remind 07:30 Europe/Berlin", "/remind off", "/leaderboard", "/forget", "/check",
)  # fmt: skip
TEXTS = st.one_of(st.sampled_from(DONES), st.sampled_from(WORDS), st.text(max_size=30))

# ---- slash command options ------------------------------------------------------------

# Commands as an older definition Discord still holds may send them (until a sync): one
# since removed, a required option left out, an option or a choice the code doesn't have.
STALE = (
    ("squat", ()), ("setup", (("channel", "workouts"),)), ("done", (("exercise", "squat"),)),
    ("done", (("reps", 10), ("exercise", "plank"))), ("leaderboard", (("visibility", "ghost"),)),
    ("remind", (("when", "07:30"),)), ("stats", (("verbose", True),)),
)  # fmt: skip
COMMANDS = ("check", "workout", "done", "undo", "stats", "leaderboard", "remind", "forget",
            "help", "setup", "prompt")  # fmt: skip
SERVER_ONLY = ("setup", "prompt")  # guild_only: Discord doesn't offer them in DMs
TIMES = ("07:30", "6pm", "0:00", "23:59", "25:99", "24:00", "-1:00", "noon", "off",
         "\uff17:\uff13\uff10", "07:30:00", " ", "x" * 300, "🍑")  # fmt: skip
ZONES = ("Europe/Berlin", "UTC", "America/New York", "UTC+2", "UTC+99", "GMT-14", "EST",
         "Mars/Base", "../../etc/passwd", "Etc/GMT+12", "utc", "🍑", " ", "z" * 300)  # fmt: skip
DAYS = ("mon,wed,fri", "weekdays", "daily", "sun", "mon,mon", "someday", " ", "d" * 300)
REPS = (0, -5, 1, 15, 20, 500, 501, 10**9, 2**53 - 1, -(2**53) + 1)  # Discord's range


def options_for(command: str) -> st.SearchStrategy[dict[str, Any]]:
    """Options as Discord sends them: only those given, a channel of the same server."""
    if command == "done":
        optional: dict[str, st.SearchStrategy[Any]] = {
            "reps": st.one_of(st.sampled_from(REPS), st.integers(-100, 100)),
            "exercise": st.sampled_from(("bridge", "lunge")),
        }
        return st.fixed_dictionaries({}, optional=optional)
    if command == "leaderboard":
        return st.fixed_dictionaries(
            {}, optional={"visibility": st.sampled_from(("hide", "show"))}
        )
    times, zones, days = map(st.sampled_from, (TIMES, ZONES, DAYS))
    if command == "remind":
        return st.fixed_dictionaries({}, optional={"time": times, "timezone": zones, "days": days})
    if command == "setup":
        channel = st.sampled_from(("workouts", "locked", "nohistory", "hidden"))
        required = {"channel": channel, "time": times, "timezone": zones}
        return st.fixed_dictionaries(required, optional={"days": days})
    return st.just({})


# custom_ids an older glutebot might have left on its messages: its prefix, any value.
FORGED = st.builds(
    "glutebot:{}{}".format,
    st.sampled_from(
        (
            "do:done:",
            "do:bridge:",
            "do:remind_keep",
            "do:",
            "check:0:",
            "check:9:",
            "remind:",
            "forget:0:",
            "walk_bridge:0:",
            "resume:0:",
            "",
        )
    ),
    st.one_of(
        st.sampled_from(("0", "1", "yes", "-1", "²", "٣", "1.lunge", "x" * 40, "🍑")),
        st.text(st.characters(exclude_characters="\n"), max_size=20),
    ),
).filter(lambda custom_id: len("glutebot:") < len(custom_id) <= len("glutebot:") + 64)

FAILURES = ("503", "429", "rate_limit", "403", "404")

# ---- steps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Type:
    who: str
    where: str
    text: str
    reply_to: int | None = None  # which of the bot's posts there, newest first


@dataclass(frozen=True)
class Slash:
    who: str
    where: str
    command: str
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Complete:
    """Typing into /remind's or /setup's timezone option: suggestions (autocomplete)."""

    who: str
    where: str
    command: str
    typed: str


@dataclass(frozen=True)
class Press:
    who: str
    pick: int  # which message with buttons they can see, newest first (large: stale)
    button: int


@dataclass(frozen=True)
class Forge:
    """A press of a button an older glutebot might have left on one of its messages."""

    who: str
    pick: int
    custom_id: str


@dataclass(frozen=True)
class Twice:
    """A double click: the same press or command twice at once, by the same member."""

    step: Press | Slash


@dataclass(frozen=True)
class Together:
    """Different members' actions at the same time."""

    steps: tuple[Type | Slash | Press, ...]


@dataclass(frozen=True)
class Redeliver:
    pick: int  # which earlier event, newest first


@dataclass(frozen=True)
class Resume:
    """An outage: discord.py RESUMEs, and the last `replay` events it saw come again."""

    replay: int


@dataclass(frozen=True)
class Restart:
    """The process restarts: a new adapter on the same database."""


@dataclass(frozen=True)
class Fail:
    """Discord fails the next matching call in the next step: 503 (discord.py retries it
    on webhooks, after a second), 429 without Via (taken as final), a real rate limit it
    waits out, 403 50013, or 404 10008 (a message or channel gone)."""

    route: str
    kind: str


@dataclass(frozen=True)
class Dms:
    who: str
    closed: bool


@dataclass(frozen=True)
class Perms:
    """An admin takes Send Messages in a channel away from the bot, or gives it back."""

    where: str
    allowed: bool


@dataclass(frozen=True)
class Scheduled:
    """A daily post or a reminder falls due now (one of those set up, by index)."""

    pick: int


@dataclass(frozen=True)
class Advance:
    minutes: int


Event = Type | Slash | Complete | Press | Forge
Step = (
    Event | Twice | Together | Redeliver | Resume | Restart | Fail | Dms | Perms | Scheduled
    | Advance
)  # fmt: skip

WHO = st.sampled_from(MEMBERS)
SERVER_PLACES = st.sampled_from(("workouts", "thread", "hidden", "elsewhere"))
ANYONE = st.just("")  # filled in by `Together`


@st.composite
def slash_steps(draw: st.DrawFn, who: st.SearchStrategy[str] = WHO) -> Slash:
    command = draw(st.sampled_from(COMMANDS))
    member = draw(st.sampled_from(("boss", "alice")) if command in SERVER_ONLY else who)
    places = [p for p in COMMAND_PLACES if not (command in SERVER_ONLY and p == "dm")]
    options = draw(options_for(command))
    return Slash(member, draw(st.sampled_from(places)), command, tuple(options.items()))


def type_steps(who: st.SearchStrategy[str] = WHO) -> st.SearchStrategy[Type]:
    reply_to = st.one_of(st.none(), st.integers(0, 3))
    return st.builds(Type, who, st.sampled_from(TYPED_PLACES), TEXTS, reply_to)


def press_steps(who: st.SearchStrategy[str] = WHO) -> st.SearchStrategy[Press]:
    return st.one_of(
        st.builds(Press, who, st.integers(0, 1), st.integers(0, 4)),  # the newest
        st.builds(Press, who, st.integers(0, 1000), st.integers(0, 24)),  # however old
    )


def together() -> st.SearchStrategy[Together]:
    one = st.one_of(type_steps(ANYONE), slash_steps(ANYONE), press_steps(ANYONE))
    return st.lists(one, min_size=2, max_size=len(MEMBERS)).map(
        lambda steps: Together(
            tuple(replace(s, who=w) for s, w in zip(steps, MEMBERS, strict=False))
        ),
    )


STEPS: st.SearchStrategy[Step] = st.one_of(
    type_steps(),
    slash_steps(),
    press_steps(),
    press_steps(),
    st.builds(
        Complete,
        WHO,
        st.sampled_from(("workouts", "dm")),
        st.sampled_from(("remind", "setup")),
        st.one_of(st.sampled_from(("berl", "new y", "", "utc+2", "Mars")), st.text(max_size=30)),
    ),
    st.builds(Forge, WHO, st.integers(0, 1000), FORGED),
    st.sampled_from(STALE).flatmap(
        lambda stale: st.builds(Slash, WHO, SERVER_PLACES, *map(st.just, stale))
    ),
    st.builds(Twice, st.one_of(press_steps(), slash_steps())),
    together(),
    st.builds(Redeliver, st.integers(0, 1000)),
    st.builds(Resume, st.integers(1, 6)),
    st.builds(Fail, st.sampled_from(sorted(ROUTES)), st.sampled_from(FAILURES)),
    st.builds(Dms, WHO, st.booleans()),
    st.builds(Perms, st.sampled_from(("workouts", "elsewhere")), st.booleans()),
    st.builds(Scheduled, st.integers(0, 10)),
    st.builds(Advance, st.sampled_from((1, 60, 60 * 24, 60 * 24 * 3))),
    st.just(Restart()),
)

# ---- playing ---------------------------------------------------------------------------


@dataclass
class Sent:
    """An event sent to the bot, for checking once it is handled."""

    step: Event
    event_id: int
    message: JSON | None = None
    interaction: FakeInteraction | None = None

    @property
    def key(self) -> str:
        """The event key the adapter gives the engine."""
        return ("dc:m:" if self.message is not None else "dc:i:") + str(self.event_id)


async def send(world: Stage, step: Event) -> Sent | None:
    """Does what the step says on Discord's side; None if there was nothing to press."""
    fake = world.fake
    if isinstance(step, Type):
        where = world.where(step.where, step.who)
        member, channel, text = world.member(step.who), world.channel(where, step.who), step.text
        guild = world.guild_of(where)
        if guild is None:
            message = await fake.dm(member, world.fill(text))
        else:
            posts = [m for m in fake.bot_messages(channel) if not int(m["flags"]) & EPHEMERAL]
            reply_to = None
            if step.reply_to is not None and posts:
                reply_to = posts[-1 - step.reply_to % len(posts)]
            message = await fake.user_says(
                guild, channel, member, world.fill(text), reply_to=reply_to
            )
        world.record("MESSAGE_CREATE", message, step)
        return Sent(step, int(message["id"]), message=message)
    if isinstance(step, Slash | Complete):
        where = world.where(step.where, step.who)
        guild = world.guild_of(where)
        place = None if guild is None else world.channel(where, step.who)
        if isinstance(step, Complete):
            options = {"timezone": step.typed}
            interaction = await fake.autocomplete(
                guild, place, world.member(step.who), step.command, options, focused="timezone"
            )
            return Sent(step, interaction.id, interaction=interaction)
        options = {name: _option(world, guild, name, value) for name, value in step.options}
        interaction = await fake.slash(guild, place, world.member(step.who), step.command, options)
    else:
        messages = world.buttons_for(step.who)
        if not messages:
            return None
        message = messages[-1 - step.pick % len(messages)]
        if isinstance(step, Forge):
            if not fake.inject_button(message, step.custom_id):
                return None
            custom_id = step.custom_id
        else:
            buttons = enabled_buttons(message)
            custom_id = buttons[step.button % len(buttons)]
        interaction = await fake.press_button(message, world.member(step.who), custom_id)
    world.record("INTERACTION_CREATE", interaction.payload, step)
    return Sent(step, interaction.id, interaction=interaction)


def _option(world: Stage, guild: FakeGuild | None, name: str, value: Any) -> Any:
    if name != "channel":
        return value
    return world.places[value if guild is world.guild else "elsewhere"]


async def settle(world: Stage, sent: Sent) -> None:
    """Until the bot is done with the event."""
    interaction = sent.interaction
    if isinstance(sent.step, Complete):  # discord.py answers it, not the adapter
        assert interaction is not None
        callback = f"/interactions/{interaction.id}/{interaction.token}/callback"
        await world.fake.wait_for(
            lambda: any(r.path.endswith(callback) for r in world.fake.requests), timeout=10
        )
        await suggestions_sent()  # retried after a 429 or a 5xx, say
        return
    try:
        await world.wait_handled(sent.event_id, 0)
    except AssertionError as error:
        raise AssertionError(f"{sent.step!r} was never handled: {error}") from None


@dataclass
class Outcome:
    """How Discord treated the calls of one step."""

    failed: bool  # an injected failure was served
    waited: bool  # a rate limit was waited out (the call was made twice)
    new_public: list[JSON] = field(default_factory=list)  # bot posts anyone can see


def check(world: Stage, sent: Sent, outcome: Outcome, alone: bool) -> None:
    """What handling an event for the first time must have led to."""
    fake, step = world.fake, sent.step
    replies = world.replies_to(sent.key)
    world.tally(step.who, replies, sent.event_id)
    logged = any(reply.logged for reply in replies)
    if alone:  # (with others at once, their posts could hold the same words)
        for reply in replies:
            if reply.private:
                text = world.core.renderer.render(reply, Platform.DISCORD).text
                pieces = {p.strip() for p in split_message(text, LIMITS[Platform.DISCORD])}
                shown = [m["content"] for m in outcome.new_public if m["content"] in pieces]
                assert not shown, (step, "posted where all can see", shown)
    if sent.message is not None:
        reacted = "✅" in fake.reactions_on(sent.message)
        assert logged or not reacted, (step, [r.template for r in replies])
        if outcome.failed:
            return
        if isinstance(step, Type) and world.where(step.where, step.who) == "nohistory":
            # No reactions there: the answer says it, posted without replying.
            assert not logged or outcome.new_public, (step, [r.template for r in replies])
        else:
            assert reacted == logged, (step, [r.template for r in replies], reacted)
        return
    interaction = sent.interaction
    assert interaction is not None
    responses = interaction.responses
    if outcome.failed:
        assert len(responses) <= 1, (step, responses)
        return
    assert len(responses) == 1, (step, "first answers", responses)
    callback = f"/interactions/{interaction.id}/{interaction.token}/callback"
    calls = [r for r in fake.requests if r.path.endswith(callback)]
    assert outcome.waited or len(calls) == 1, (step, [c.body for c in calls])
    if isinstance(step, Complete):
        assert responses[0].type == 8, (step, responses)
        return
    if logged:
        shown = [m["content"] for m in answers(interaction)]
        assert any("Logged" in content for content in shown), (step, shown)


@dataclass(frozen=True)
class Snapshot:
    """What an event could change: Discord's messages and reactions, and the database."""

    messages: dict[int, str]
    reactions: tuple[str, ...]
    deleted: frozenset[int]
    database: dict[str, list[tuple[Any, ...]]]

    def changes(self, later: Snapshot, *, failed: bool = False) -> list[str]:
        """What differs; with `failed` (Discord failed a call meanwhile: an empty
        acknowledgement may stay "thinking…"), only the database counts."""
        found = [
            f"message {key}: {self.messages.get(key, '-')[:400]} -> "
            f"{later.messages.get(key, '-')[:400]}"
            for key in sorted(set(self.messages) | set(later.messages))
            if self.messages.get(key) != later.messages.get(key)
        ]
        if self.reactions != later.reactions:
            found.append(f"reactions {self.reactions} -> {later.reactions}")
        # (An empty acknowledgement, "thinking…" then deleted, leaves nothing behind.)
        if gone := (later.deleted - self.deleted) & set(self.messages):
            found.append(f"messages {sorted(gone)} deleted")
        if failed:
            found = []
        for table in sorted(set(self.database) | set(later.database)):
            old, new = self.database.get(table, []), later.database.get(table, [])
            if old != new:
                gone_rows = [row for row in old if row not in new]
                added = [row for row in new if row not in old]
                found.append(f"table {table}: {gone_rows} -> {added}")
        return found


Armed = tuple[int, int]


def armed_now(fake: CheckedDiscord) -> Armed:
    """The failures still to be served, and the rate limits served so far."""
    return sum(f.times for f in fake.failures), fake.rate_limited


def failed(fake: CheckedDiscord, armed: Armed) -> bool:
    """Since `armed`: a failure was served (a rate limit waited out is no failure)."""
    return armed_now(fake)[0] < armed[0]


async def snapshot(world: Stage) -> Snapshot:
    fake = world.fake
    return Snapshot(
        {key: json.dumps(m, sort_keys=True, default=str) for key, m in fake.messages.items()},
        tuple(f"{r.emoji} on {r.message_id}" for r in fake.reactions),
        frozenset(int(m["id"]) for m in fake.deleted_messages),
        await world.database(),
    )


async def redeliver(world: Stage, pick: int) -> None:
    """An earlier event again: once handled, nothing may have changed."""
    candidates = [(e, data) for e, data in world.events if world.redeliverable(data)]
    if not candidates:
        return
    kind, data = candidates[-1 - pick % len(candidates)]
    before, armed = await snapshot(world), armed_now(world.fake)
    count = world.handled(int(data["id"]))
    await world.fake.redeliver(kind, data)
    await world.wait_handled(int(data["id"]), count)
    changes = before.changes(await snapshot(world), failed=failed(world.fake, armed))
    assert not changes, (f"redelivering {world.origin[int(data['id'])]!r} changed", changes)


async def resume(world: Stage, replay: int) -> None:
    """An outage: the bot RESUMEs, and the last `replay` events it had seen come again."""
    fake = world.fake
    log = fake.session_log()
    # Discord replays dispatches, never the session's start (READY, the servers).
    start = max(n for n, frame in enumerate(log) if frame["t"] in SESSION_START) + 1
    replay = min(replay, len(log) - start)
    frames = log[len(log) - replay :]
    again = [frame["d"] for frame in frames if _members_event(world, frame)]
    if not all(world.redeliverable(data) for data in again):
        again, replay = [], 0
    before, armed = await snapshot(world), armed_now(fake)
    counts = [(int(data["id"]), world.handled(int(data["id"]))) for data in again]
    resumes = fake.resumes
    await fake.drop_connection(replay=replay)
    await fake.wait_for(lambda: fake.resumes > resumes and fake.connected, timeout=10)
    for event_id, count in counts:
        await world.wait_handled(event_id, count)
    changes = before.changes(await snapshot(world), failed=failed(world.fake, armed))
    assert not changes, (f"replaying {[world.origin.get(int(d['id'])) for d in again]}", changes)


SESSION_START = ("READY", "GUILD_CREATE", "THREAD_CREATE")


def _members_event(world: Stage, frame: JSON) -> bool:
    """A message from a member, or a command or press (what the adapter handles)."""
    if frame["t"] == "MESSAGE_CREATE":
        return bool(frame["d"]["author"]["id"] != str(world.fake.bot_user.id))
    return bool(frame["t"] == "INTERACTION_CREATE" and frame["d"]["type"] in (2, 3))


def arm(world: Stage, failure: Fail) -> None:
    method, path = ROUTES[failure.route]
    if failure.kind == "rate_limit":
        world.fake.rate_limit(method, path)
    elif failure.kind == "403":
        world.fake.fail(method, path, status=403, code=50013, message="Missing Permissions")
    elif failure.kind == "404":
        world.fake.fail(method, path, status=404, code=10008, message="Unknown Message")
    else:
        world.fake.fail(method, path, status=int(failure.kind))


async def scheduled(world: Stage, pick: int) -> None:
    """A daily post or reminder, delivered as `glutebot run` does."""
    rows = await world.core.store.db.fetchall("SELECT owner FROM schedules ORDER BY owner")
    if not rows:
        return
    schedule = await world.core.store.schedules.get(str(rows[pick % len(rows)][0]))
    assert schedule is not None
    day = world.clock.now.astimezone(schedule.tz).date()
    deliver = deliverer(world.core, {Platform.DISCORD: world.bot})
    assert await deliver(Prompt(schedule, day)) in tuple(Delivery)


async def events(world: Stage, steps: Sequence[Event], outcome: Outcome) -> list[Sent]:
    """Sends the events at once; returns them once the bot handled them all."""
    before = set(world.fake.messages)
    sent = [s for s in [await send(world, step) for step in steps] if s is not None]
    for each in sent:
        if currently_in_test_context():  # (statistics for --hypothesis-show-statistics)
            event(type(each.step).__name__)
        await settle(world, each)
    outcome.new_public = [
        m
        for key, m in world.fake.messages.items()
        if key not in before
        and int(m["author"]["id"]) == world.fake.bot_user.id
        and not int(m["flags"]) & EPHEMERAL
        and "guild_id" in m
    ]
    return sent


async def suggestions_sent() -> None:
    """Until discord.py has sent the timezone suggestions it is sending (retrying after a
    429 or 5xx), so that a restart step doesn't cut them off: that costs only a warning
    (test_suggestions_cut_off_by_a_stop_cost_a_warning_not_an_error), but the step's checks
    would then count calls that belong to no step."""
    sending = [t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker"]
    if sending:
        await asyncio.wait(sending)


async def play(world: Stage, steps: Sequence[Step]) -> None:
    fake = world.fake
    excused: set[str] = set()  # interactions Discord failed a call of
    for number, step in enumerate(steps):
        if isinstance(step, Fail):
            arm(world, step)
            continue
        armed = armed_now(fake)
        if isinstance(step, Advance):
            world.clock.advance(minutes=step.minutes)
        elif isinstance(step, Dms):
            (fake.close_dms if step.closed else fake.open_dms)(world.member(step.who))
        elif isinstance(step, Perms):
            await fake.set_bot_may_send(world.places[step.where], step.allowed)
        elif isinstance(step, Scheduled):
            await scheduled(world, step.pick)
        elif isinstance(step, Redeliver):
            await redeliver(world, step.pick)
        elif isinstance(step, Resume):
            await resume(world, step.replay)
        elif isinstance(step, Restart):
            await suggestions_sent()
            await world.restart()
        else:
            if isinstance(step, Together):
                each: tuple[Event, ...] = step.steps
            elif isinstance(step, Twice):
                each = (step.step, step.step)
            else:
                each = (step,)
            outcome = Outcome(failed=False, waited=False)
            sent = await events(world, each, outcome)
            outcome.failed = failed(fake, armed)
            outcome.waited = fake.rate_limited > armed[1]
            for one in sent:
                check(world, one, outcome, alone=len(each) == 1)
                if outcome.failed and one.interaction is not None:
                    excused.add(str(one.interaction.id))
        fake.failures.clear()  # a failure is for the step after it only
        fake.rate_limits.clear()
        where = f"step {number}: {step!r}"
        assert not fake.bot_errors, (where, fake.bot_errors)
        assert not fake.violations, (where, fake.violations)
        assert not fake.unknown_routes, (where, fake.unknown_routes)
        assert not fake.server_errors, (where, fake.server_errors)
        assert await world.reps_in_db() == +world.told, where
    await suggestions_sent()
    thinking = [m for m in still_thinking(fake) if m["interaction_metadata"]["id"] not in excused]
    assert thinking == [], thinking


@dataclass(frozen=True)
class Setting:
    """How the example's Discord is: the adapter's deferral delay, the Message Content
    intent, members left out of GUILD_CREATE, and members' nicknames."""

    defer_after: float = 2.0
    message_content: bool = True
    lean_guilds: bool = False
    nicks: tuple[tuple[str, str], ...] = ()


async def run(steps: Sequence[Step], setting: Setting) -> None:
    async with stage(
        defer_after=setting.defer_after,
        message_content=setting.message_content,
        lean_guilds=setting.lean_guilds,
    ) as world:
        for name, nick in setting.nicks:
            world.member(name).nick = nick
        await play(world, steps)


NICKS = ("@everyone", "**bold** <@&1>", "🍑" * 32, "\u202eevil", "a" * 32, "{{ 7*7 }}", "`x`")
SETTINGS = st.builds(
    Setting,
    st.sampled_from((2.0, 2.0, 0.0, 0.001)),  # 0: every interaction is deferred first
    st.sampled_from((True, True, False)),
    st.booleans(),
    st.lists(st.tuples(WHO, st.sampled_from(NICKS)), max_size=2).map(tuple),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not EXPLORING,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(STEPS, min_size=MAX_STEPS // 3, max_size=MAX_STEPS), setting=SETTINGS)
def test_random_discord_sessions_keep_the_adapter_sound(
    steps: list[Step], setting: Setting
) -> None:
    asyncio.run(run(steps, setting))


SETUP = (("channel", "workouts"), ("time", "07:30"), ("timezone", "Europe/Berlin"))


def test_a_session_with_every_kind_of_step() -> None:
    """Every kind of step at least once, whatever the random examples draw."""
    steps: list[Step] = [
        Slash("boss", "workouts", "setup", SETUP),
        Slash("boss", "thread", "prompt"),
        Press("alice", 0, 0),
        Type("bob", "thread", "done 15"),
        Type("carol", "nohistory", "done 12 lunges"),
        Slash("alice", "workouts", "remind", (("time", "07:30"), ("timezone", "UTC"))),
        Slash("carol", "workouts", "remind", (("time", "07:30"), ("timezone", "UTC"))),
        Complete("alice", "workouts", "remind", "berl"),
        Forge("alice", 0, "glutebot:do:done:x"),
        Twice(Press("bob", 5, 0)),
        Together(
            (Type("alice", "dm", "done"), Slash("bob", "hidden", "stats"), Press("carol", 0, 1))
        ),
        Redeliver(0),
        Resume(3),
        Fail("post", "503"),
        Scheduled(0),
        Dms("carol", False),
        Perms("workouts", False),
        Scheduled(1),
        Advance(60 * 24),
        Restart(),
        Redeliver(4),
        Slash("alice", "elsewhere", "done", (("reps", 10**9),)),
        *(Slash("boss", "workouts", name, options) for name, options in STALE),
        Slash("bob", "dm", "undo"),
    ]
    asyncio.run(run(steps, Setting(defer_after=0.0)))

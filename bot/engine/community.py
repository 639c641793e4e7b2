"""A server's shared side: the daily workout post, its set-up, and the leaderboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo

from bot.engine.reminders import guessed_from, input_problem
from bot.engine.turn import Turn, action, echo
from bot.flows import programme
from bot.flows.exercises import EXERCISES
from bot.model import ChatRef, Platform, Reply
from bot.schedule_time import (
    ScheduleInputError,
    format_days,
    is_fixed_offset,
    parse_days,
    parse_local_time,
    parse_timezone,
    zone_name,
)
from bot.schedule_words import DEFAULT_DAYS, is_off, setup_words
from bot.scheduler import prompt_nonce
from bot.store import Store
from bot.store.reps import Standing
from bot.store.schedules import (
    DisabledReason,
    Schedule,
    ScheduleKind,
    ScheduleSpec,
    channel_owner,
)

LEADERBOARD_SIZE = 10
# Where a daily workout post can go: the Discord channel /setup names. A Telegram group has
# no channel to name, and nothing tells the engine who its admins are.
POSTING_PLATFORMS = frozenset({Platform.DISCORD})


def daily_post(chat: ChatRef, day: date, nonce: str) -> Reply:
    """The day's workout for everyone: the programme's starting session, plus a Done
    button that logs each member's own session once."""
    starting = {ex_id: ex.start_target for ex_id, ex in EXERCISES.items()}
    context = {"plan": programme.session_plan(starting), "day": day}
    done = action("done", "done_post", nonce)
    return Reply("daily_post", context, choices=(done,), to=chat)


async def setup(turn: Turn, arg: str) -> list[Reply]:
    """ "/setup <#channel> 07:30 Europe/Berlin mon,wed,fri", or "/setup off". Once the server
    has daily posts, a zone or days left out stay as they were."""
    server = _posting_server(turn, "setup")
    if isinstance(server, Reply):
        return [server]
    chat = turn.incoming.chat
    current = turn.server_schedule
    channel_id, fields = setup_words(arg)
    if is_off(fields):
        return [_setup_off(turn, current)]
    kept = {"tz": current.tz.key, "days": format_days(current.days)} if current else {}
    # A zone left out stays the zone saved, as it is: even one no longer read from what
    # is typed ("MST", saved when it meant UTC-7 all year).
    kept_zone = current.tz if current and "tz" not in fields else None
    fields = {"days": DEFAULT_DAYS, **kept, **fields}
    if channel_id is None or "time" not in fields or "tz" not in fields:
        usage = {
            # Asked with the slash command, the example is in its options' terms.
            "slash": turn.seen_only_here,
            "missing_zone": channel_id is not None and "time" in fields,
        }
        return [Reply("community/setup_usage", usage, private=True)]
    try:
        at = parse_local_time(fields["time"])
        zone = kept_zone or parse_timezone(fields["tz"])
        days = parse_days(fields["days"])
    except ScheduleInputError as error:
        return [Reply("community/setup_invalid", input_problem(error), private=True)]
    spec = ScheduleSpec(
        kind=ScheduleKind.CHANNEL,
        owner=channel_owner(chat.platform, server),
        platform=chat.platform,
        target=channel_id,
        local_time=at,
        tz=zone,
        days=days,
        community=server,
    )
    # The store's rule: a day already posted isn't posted again at the new time.
    schedules = turn.store.schedules
    first = await schedules.first_run(spec, turn.now)
    turn.writes.append(schedules.upsert_write(spec, turn.now))
    turn.schedules_changed = True
    context: dict[str, object] = {
        "channel": channel_id,
        "time": at,
        "tz": zone_name(zone),
        "fixed": is_fixed_offset(zone),
        "days": format_days(days),
        "next": first.due_utc.astimezone(zone),
        # "PST" read as America/Los_Angeles: said, to be corrected if wrong.
        "guessed": None if kept_zone else guessed_from(fields["tz"]),
    }
    return [Reply("community/setup_done", context, private=True)]


def _setup_off(turn: Turn, current: Schedule | None) -> Reply:
    """Stops the daily posts; /setup with a time starts them again."""
    if current is None or not current.enabled:
        return Reply("community/setup_off", {"was_on": False}, private=True)
    turn.writes.append(
        turn.store.schedules.disable_write(current.id, DisabledReason.OWNER, turn.now)
    )
    turn.schedules_changed = True
    return Reply("community/setup_off", {"was_on": True, "channel": current.target}, private=True)


def _posting_server(turn: Turn, command: str) -> str | Reply:
    """The server whose daily post /setup or /prompt is about, or why it can't be here."""
    chat = turn.incoming.chat
    if chat.platform not in POSTING_PLATFORMS:
        # Nothing personal: said in a group, the group may read it.
        return Reply("community/no_daily_posts", {"platform": str(chat.platform)})
    if chat.community is None:
        return _server_only(chat, command)
    if not turn.incoming.is_admin:
        # Not private: a member who typed "/setup" in a channel is told it needs Manage
        # Server there, not sent to a slash command Discord hides from them.
        return Reply("community/admin_only")
    return chat.community


def _server_only(chat: ChatRef, command: str) -> Reply:
    context = {"platform": str(chat.platform), "command": command}
    return Reply("community/server_only", context, private=True)


async def prompt_now(turn: Turn) -> list[Reply]:
    server = _posting_server(turn, "prompt")
    if isinstance(server, Reply):
        return [server]
    chat = turn.incoming.chat
    schedule = turn.server_schedule
    channel = ChatRef(chat.platform, user_id="", chat_id=chat.chat_id, community=server)
    if schedule is not None:
        channel = ChatRef(chat.platform, "", schedule.target, server)
    day = turn.place_today
    post = daily_post(channel, day, post_nonce(schedule, server, day))
    context = {"channel": channel.chat_id, "switched_off": _switched_off(schedule)}
    return [post, Reply("community/prompt_posted", context, private=True)]


def _switched_off(schedule: Schedule | None) -> dict[str, object] | None:
    """A daily post that no longer runs (a post failed for good, say): the admin who posts
    by hand must not believe it will carry on, and needs its settings to set it up again."""
    if schedule is None or schedule.enabled:
        return None
    return {
        "reason": str(schedule.disabled_reason or ""),
        "time": schedule.local_time,
        "tz": zone_name(schedule.tz),
        "days": format_days(schedule.days),
    }


def post_nonce(schedule: Schedule | None, server: str, day: date) -> str:
    """The nonce of the server's workout post on its `day` (Turn.place_today), posted by its
    schedule or by /prompt: either post's Done button, or a typed "done", logs one session
    per member that day."""
    if schedule is not None:
        return prompt_nonce(schedule.id, day)
    return f"c{server}d{day.toordinal()}"


async def leaderboard(turn: Turn, arg: str) -> list[Reply]:
    chat = turn.incoming.chat
    word = arg.strip().lower()
    if sets_visibility(word):
        hidden = word == "hide"
        turn.writes.append(turn.store.users.set_leaderboard_hidden(turn.user.id, hidden))
        return [Reply("community/leaderboard_visibility", {"hidden": hidden}, private=True)]
    if chat.community is None:
        return [_server_only(chat, "leaderboard")]
    hidden = turn.user.leaderboard_hidden
    return [await board(turn.store, chat.community, turn.now, turn.place_tz, hidden=hidden)]


def sets_visibility(arg: str) -> bool:
    """ "/leaderboard hide" or "show": whether the person asking appears on the board."""
    return arg.strip().lower() in ("hide", "show")


async def board(
    store: Store, server: str, now: datetime, place_tz: tzinfo, *, hidden: bool = False
) -> Reply:
    """The server's board, this week's (by `place_tz`, the same for every member) and all
    time's. `hidden`: whoever asked is off it."""
    week_start = programme.week_start(now.astimezone(place_tz).date())
    next_week = week_start + timedelta(days=7)
    week = (_midnight(week_start, place_tz), _midnight(next_week, place_tz))
    context = {
        "week": ranked(_named(await store.reps.leaderboard(server, week, LEADERBOARD_SIZE))),
        "all_time": ranked(_named(await store.reps.leaderboard(server, None, LEADERBOARD_SIZE))),
        "week_start": week_start,
        "week_end": week_start + timedelta(days=6),
        "hidden": hidden,
    }
    return Reply("community/leaderboard", context)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tz)


def _named(standings: Sequence[Standing]) -> list[Standing]:
    """A name that shows nothing (an "invisible" nickname: a Hangul filler, or only
    zero-width and direction marks) as none, which the board words as a member's."""
    return [s if echo(s.display_name) else replace(s, display_name="") for s in standings]


def ranked(standings: Sequence[Standing]) -> list[tuple[int, Standing]]:
    """Each line with its place, in standard competition ranking ("1, 1, 3"): members level
    on what the board is sorted by, reps and then sessions, share a place. The name only
    orders them within it."""
    places: list[tuple[int, Standing]] = []
    for index, standing in enumerate(standings):
        level = index > 0 and _score(standing) == _score(standings[index - 1])
        places.append((places[-1][0] if level else index + 1, standing))
    return places


def _score(standing: Standing) -> tuple[int, int]:
    return standing.reps, standing.sessions

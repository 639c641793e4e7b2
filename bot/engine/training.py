"""Logging reps, undoing them, and showing the workout and progress."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, tzinfo

from bot.engine.checkup import CheckFlow, flagged, held_back, warning_on_record
from bot.engine.progress import Progress, log_day, progress
from bot.engine.turn import ACTION_PREFIX, Turn, action, walk_start
from bot.engine.walkthrough import walking
from bot.flows import check
from bot.flows.exercises import EXERCISES
from bot.flows.programme import DayTotal
from bot.model import Reply
from bot.parse import MAX_REPS_PER_ENTRY, Done
from bot.store import Store
from bot.store.checks import CheckRecord

# A Done for the day's whole session, as `_typed_key` presses it.
SESSION = "session"


async def my_progress(turn: Turn) -> Progress:
    return progress(await turn.store.reps.day_totals(turn.user.id), turn.today)


def remembered_exercise(turn: Turn) -> str | None:
    """The exercise being walked through, or walked through to its end today, which a
    bare "done" refers to. A day later "done" means the day's workout again. Not in a
    group or a server, where a "done" answers the day's post, not a private walk-through."""
    if turn.in_community:
        return None
    if (exercise := walking(turn.conversation.flow)) is not None:
        return exercise
    walked = turn.conversation.walked
    if walked is None or walked[0] not in EXERCISES or walked[1] != turn.today.isoformat():
        return None
    return walked[0]


async def log(turn: Turn, done: Done, *, remembered: bool = True) -> list[Reply]:
    """Logs what `done` says; a bare "done" means the exercise walked through today (if
    `remembered`), else the day's whole workout."""
    return await _log(turn, done, None, remembered=remembered)


async def press_done(turn: Turn, arg: str) -> list[Reply]:
    """A Done button pressed: logs what it stands for, once (see `done_button`)."""
    return await _log(turn, Done(), arg, remembered=False)


async def _log(turn: Turn, done: Done, pressed: str | None, *, remembered: bool) -> list[Reply]:
    # After a red flag the bot doesn't coach exercise, and a log's answer is coaching (the
    # targets, what comes next; "tell me how many" for a count it can't read): the advice
    # again instead, until a check comes out clear.
    warning = await warning_on_record(turn.store, turn.user.id)
    if warning is not None:
        return [held_back(warning)]
    if done.problem is not None:
        return [_log_problem(turn, done)]
    totals = await turn.store.reps.day_totals(turn.user.id)
    day = log_day(totals, turn.today)
    before = progress(totals, day)
    key = None
    if pressed is not None:
        key, done = done_button(turn, pressed, day)
    entries = _entries(turn, done, before, remembered)
    key = key or await _typed_key(turn, entries, before, day)
    community = turn.incoming.chat.community
    shown_as = (turn.incoming.display_name or None) if community else None
    if await turn.store.reps.has_event(turn.user.id, key):
        if community is not None:  # logged in private: it counts on this board
            turn.writes.append(turn.store.reps.count_in(turn.user.id, key, community, shown_as))
        return [Reply("already_logged")]
    if pressed is None and key != turn.incoming.event_key:
        # Typed, and logged under another key (the day's session, a walk-through's Done):
        # an edit of this message is still an edit of a log (see `Engine.edited`).
        logged = logged_by(turn.incoming.event_key)
        turn.writes.append(turn.store.events.mark(logged, turn.user.id, turn.now))
    for exercise, reps in entries.items():
        turn.writes.append(
            turn.store.reps.log(
                turn.user.id,
                exercise,
                reps,
                at=turn.now,
                local_day=day,
                event_key=key,
                community=community,
                shown_as=shown_as,
            )
        )
    after = progress([*totals, *(DayTotal(day, ex, reps) for ex, reps in entries.items())], day)
    raised = {ex: after.targets[ex] for ex in entries if after.targets[ex] > before.targets[ex]}
    new_streak = after.streak > before.streak
    # Reps of the same exercise already logged today: a "done" sent twice by mistake
    # shows as such, and undo is one word away.
    earlier = {t.exercise: t.reps for t in totals if t.day == day and t.exercise in entries}
    context = {
        "entries": [
            {
                "exercise": ex,
                "reps": reps,
                "per_side": EXERCISES[ex].per_side,
                "today": reps + earlier[ex] if ex in earlier else None,
            }
            for ex, reps in entries.items()
        ],
        "raised": raised,
        "new_streak": new_streak,
        "progress": after.context(),
    }
    quiet = turn.incoming.chat.community is not None and not raised and not new_streak
    return [Reply("logged", context, logged=True, quiet=quiet)]


def _log_problem(turn: Turn, done: Done) -> Reply:
    parts = [{"reps": part.reps, "exercise": part.exercise} for part in done.parts]
    context = {
        "problem": str(done.problem),
        "max": MAX_REPS_PER_ENTRY,
        "parts": parts,
        # Said in a group, the answer is for everyone to read: kept short.
        "in_group": turn.incoming.chat.community is not None,
    }
    return Reply("log_problem", context)


def done_button(turn: Turn, arg: str, day: date) -> tuple[str, Done]:
    """The key a Done button logs under, and what it logs. Under a walk-through its arg
    ends with the exercise, and its key is the message it came with and who pressed it, so
    a second press (or a double tap) logs once. Any other Done is the day's whole session
    (see `session_key`), whichever message it came with."""
    exercise = arg.rpartition(".")[2] if "." in arg else None
    if exercise in EXERCISES:
        return f"button:{arg}:{turn.user.id}", Done(exercise=exercise)
    return session_key(turn, day), Done()


def logged_by(event_key: str) -> str:
    """What the events table keeps, beside a message's own key, once the message logged
    under a key of another (for as long as it keeps handled events)."""
    return f"logged:{event_key}"


def session_key(turn: Turn, day: date) -> str:
    """The key of the person's session today: a Done pressed on today's post, a reminder,
    /workout or yesterday's post, and a typed "done" for the whole session, all log it
    once. Someone who trains twice in a day types "done" again, which logs under its own
    event."""
    return f"session:{turn.user.id}:{day.isoformat()}"


async def _typed_key(turn: Turn, entries: Mapping[str, int], now: Progress, day: date) -> str:
    """A typed "done" for what a Done button would log is that button's log, so pressing
    the button afterwards doesn't count it twice: a walk-through's Done on show, or the
    day's session. Once the button's log exists, another typed "done" logs on its own."""
    for arg in [*_done_buttons_on_show(turn), SESSION]:
        key, pressed = done_button(turn, arg, day)
        same = _entries(turn, pressed, now, remembered=False).keys() == entries.keys()
        if same and not await turn.store.reps.has_event(turn.user.id, key):
            return key
    return turn.incoming.event_key


def _done_buttons_on_show(turn: Turn) -> list[str]:
    """The args of the Done buttons the conversation last showed."""
    prefix = f"{ACTION_PREFIX}:done:"
    offered = turn.conversation.offered
    return [c.value.removeprefix(prefix) for c in offered if c.value.startswith(prefix)]


def _entries(turn: Turn, done: Done, now: Progress, remembered: bool) -> dict[str, int]:
    exercise = done.exercise or (remembered_exercise(turn) if remembered else None)
    if done.reps is not None:
        return {exercise or "bridge": done.reps}
    if exercise is not None:
        return {exercise: now.targets[exercise]}
    return dict(now.targets)


async def undo(turn: Turn) -> list[Reply]:
    last = await turn.store.reps.last_entry(turn.user.id)
    if last is None:
        return [Reply("undo_nothing")]
    event_key, entries = last
    turn.writes.append(turn.store.reps.delete_event(turn.user.id, event_key))
    context = {
        "entries": [
            {"exercise": e.exercise, "reps": e.reps, "per_side": EXERCISES[e.exercise].per_side}
            for e in entries
            if e.exercise in EXERCISES
        ],
        "day": entries[0].local_day,
        # A log can be dated after today, by someone who moved west (see `log_day`).
        "today": max(turn.today, entries[0].local_day),
    }
    return [Reply("undone", context, private=True)]


async def workout(turn: Turn) -> list[Reply]:
    if not turn.in_community:  # from a group's menu it comes privately, and moves nothing
        turn.go("menu")
    turn.walked(None)  # shown the whole session, "done" means the whole session
    user, nonce = turn.user.id, turn.nonce()
    return [await todays_session(turn.store, user, turn.today, turn.tz, nonce, "workout")]


async def todays_session(
    store: Store, user_id: int, day: date, tz: tzinfo, nonce: str, template: str
) -> Reply:
    """The day's session in `template` with its Done button, for /workout and a reminder;
    after a red flag, the advice instead."""
    last_taken = await store.checks.latest(user_id)
    if last_taken is not None and flagged(last_taken):
        return held_back(last_taken)
    mine = progress(await store.reps.day_totals(user_id), day)
    context = {
        "progress": mine.context(),
        "recheck_due": _recheck_due(mine, last_taken, tz),
        "checked_before": last_taken is not None,
    }
    # Each exercise needs a "how_<id>" label for its button.
    how_tos = (walk_start(ex_id, f"how_{ex_id}", nonce) for ex_id in EXERCISES)
    choices = (action("done", "done_workout", nonce), *how_tos)
    return Reply(template, context, choices=choices, private=True)


async def stats(turn: Turn) -> list[Reply]:
    mine = await my_progress(turn)
    first = await turn.store.checks.first(turn.user.id, check.SCORED_BANDS)
    last_taken = latest = await turn.store.checks.latest(turn.user.id)
    warning = latest if latest is not None and flagged(latest) else None
    if warning is not None:  # the latest with a score came before it
        latest = await turn.store.checks.latest(turn.user.id, check.SCORED_BANDS)
    context = {
        "progress": mine.context(),
        "first_check": _check_context(turn, first),
        "latest_check": _check_context(turn, latest) if latest != first else None,
        "warning": _check_context(turn, warning),
        "recheck_due": warning is None and _recheck_due(mine, last_taken, turn.tz),
        # Asked in the middle of the check (its question comes again after this).
        "in_check": turn.conversation.flow == CheckFlow.name,
    }
    return [Reply("stats", context, private=True)]


def _recheck_due(mine: Progress, last_taken: CheckRecord | None, tz: tzinfo) -> bool:
    """The four weeks are up, and no check has been taken since."""
    ended = mine.ended_on
    if ended is None:
        return False
    return last_taken is None or last_taken.taken_at.astimezone(tz).date() < ended


def _check_context(turn: Turn, record: CheckRecord | None) -> dict[str, object] | None:
    if record is None:
        return None
    return {"band": record.band, "symptom_count": record.symptom_count, "day": _day(turn, record)}


def _day(turn: Turn, record: CheckRecord) -> date:
    return record.taken_at.astimezone(turn.tz).date()  # the person's day, as elsewhere

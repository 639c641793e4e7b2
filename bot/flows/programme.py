"""The four-week programme and the progression rule, computed from the rep log.

Targets are derived from history rather than stored, so /undo or a forgotten day can
never leave a stale target behind. Rule (also in the README): an exercise's target rises
by its step after the full target was logged in two sessions in a row (a session is one
local day), at most once a programme week, up to its maximum: the bridge from 20 by 4 up
to 50, the lunge from 5 by 1 up to 10 per side. Once the four weeks are up, the programme
counts as complete only if it was kept up: at least KEPT_UP_WEEKS of its weeks met their
session goal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from bot.flows.exercises import EXERCISES, Exercise

WEEKS = 4
BRIDGE_SETS = 2
# Sessions to aim for in each programme week: ease in with two, then three.
SESSIONS_GOAL = (2, 2, 3, 3)
STREAK_SESSIONS = 2
# Sessions in a row at the full target that raise it (at most once a programme week).
FULL_IN_A_ROW = 2
# Weeks out of WEEKS that must meet their session goal for the programme to count as
# kept up, rather than just over.
KEPT_UP_WEEKS = 3


@dataclass(frozen=True)
class DayTotal:
    day: date
    exercise: str
    reps: int


def target_after(exercise: Exercise, totals: Iterable[DayTotal]) -> int:
    # Summed per day first: a session is a day, however many logs it took, and a log
    # about to be written comes in as a second total for today.
    totals = list(totals)
    per_day: dict[date, int] = {}
    for total in totals:
        if total.exercise == exercise.id:
            per_day[total.day] = per_day.get(total.day, 0) + total.reps
    first_day = min((total.day for total in totals), default=None)
    target, full_in_a_row, raised_in_week = exercise.start_target, 0, 0
    for day in sorted(per_day):
        full_in_a_row = full_in_a_row + 1 if per_day[day] >= target else 0
        # Once a programme week at most: "build up over the weeks", not the days. More
        # full sessions that week count towards the next week's rise.
        week = programme_week(first_day, day)
        if full_in_a_row >= FULL_IN_A_ROW and week != raised_in_week:
            target = min(target + exercise.target_step, exercise.max_target)
            full_in_a_row, raised_in_week = 0, week
    return target


def targets(totals: Iterable[DayTotal]) -> dict[str, int]:
    totals = list(totals)
    return {exercise_id: target_after(ex, totals) for exercise_id, ex in EXERCISES.items()}


def week_start(day: date) -> date:
    """The calendar week's Monday: the leaderboard's week, the same for everyone."""
    return day - timedelta(days=day.weekday())


def programme_week(first_day: date | None, today: date) -> int:
    """1-based week of the programme; WEEKS + 1 or more once it is complete."""
    if first_day is None:
        return 1
    return (today - first_day).days // 7 + 1


def programme_week_start(first_day: date, day: date) -> date:
    """A person's weeks run from the day they first logged, so that "this week" and its
    session goal are the same week as "week 2 of 4"."""
    return first_day + timedelta(days=(day - first_day).days // 7 * 7)


def sessions_goal(week: int) -> int:
    return SESSIONS_GOAL[min(week, WEEKS) - 1]


def end_day(first_day: date) -> date:
    """The day the four weeks are up: the first day after them."""
    return first_day + timedelta(weeks=WEEKS)


def weeks_on_goal(session_days: Iterable[date]) -> int:
    """How many of the programme's weeks (from the first session) had at least that
    week's SESSIONS_GOAL sessions. Weeks after the programme don't count."""
    days = set(session_days)
    if not days:
        return 0
    first = min(days)
    per_week = [0] * WEEKS
    for day in days:
        week = (day - first).days // 7
        if week < WEEKS:
            per_week[week] += 1
    return sum(1 for done, goal in zip(per_week, SESSIONS_GOAL, strict=True) if done >= goal)


def kept_up(weeks: int) -> bool:
    """The rule for calling the programme complete, not just over: at least KEPT_UP_WEEKS
    of its WEEKS weeks met their session goal (so one missed week is fine)."""
    return weeks >= KEPT_UP_WEEKS


def streak(session_days: Iterable[date], today: date) -> int:
    """Programme weeks in a row, up to this one, with at least STREAK_SESSIONS sessions.
    The current week only adds to the streak; it can't break it before it is over."""
    days = set(session_days)
    if not days:
        return 0
    first = min(days)
    per_week: dict[date, int] = {}
    for day in days:
        start = programme_week_start(first, day)
        per_week[start] = per_week.get(start, 0) + 1
    week = programme_week_start(first, today)
    count = 0
    if per_week.get(week, 0) >= STREAK_SESSIONS:
        count += 1
    week -= timedelta(days=7)
    while per_week.get(week, 0) >= STREAK_SESSIONS:
        count += 1
        week -= timedelta(days=7)
    return count


def session_plan(current_targets: Mapping[str, int]) -> dict[str, int]:
    bridge = current_targets["bridge"]
    return {
        "bridge_sets": BRIDGE_SETS,
        "bridge_reps_per_set": -(-bridge // BRIDGE_SETS),
        "bridge_total": bridge,
        "lunge_per_side": current_targets["lunge"],
    }

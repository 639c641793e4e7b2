"""A person's progress, worked out from their rep log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from bot.flows import programme
from bot.flows.programme import DayTotal


@dataclass(frozen=True)
class Progress:
    totals: dict[str, int]
    today: dict[str, int]
    targets: dict[str, int]
    sessions_this_week: int
    sessions_goal: int
    streak: int
    week: int
    first_day: date | None
    complete: bool  # the four weeks are up, whether or not they were kept up
    weeks_on_goal: int

    @property
    def kept_up(self) -> bool:
        return programme.kept_up(self.weeks_on_goal)

    @property
    def ended_on(self) -> date | None:
        """The day the four weeks were up, once they are."""
        if not self.complete or self.first_day is None:
            return None
        return programme.end_day(self.first_day)

    @property
    def plan(self) -> dict[str, int]:
        return programme.session_plan(self.targets)

    def context(self) -> dict[str, object]:
        return {
            "totals": self.totals,
            "today": self.today,
            "targets": self.targets,
            "plan": self.plan,
            "sessions_this_week": self.sessions_this_week,
            "sessions_goal": self.sessions_goal,
            "streak": self.streak,
            "week": min(self.week, programme.WEEKS),
            "weeks": programme.WEEKS,
            "complete": self.complete,
            "weeks_on_goal": self.weeks_on_goal,
            "kept_up": self.kept_up,
        }


def log_day(day_totals: Sequence[DayTotal], today: date) -> date:
    """The person's day for their log and progress. Moved west, someone's day can be
    behind one they logged already (Tuesday morning in Tokyo is Monday in Los Angeles):
    their log's day never goes back, so a second "done" is the same day's, not a day
    before."""
    return max(today, max(t.day for t in day_totals)) if day_totals else today


def progress(day_totals: Iterable[DayTotal], today: date) -> Progress:
    day_totals = list(day_totals)
    days = sorted({t.day for t in day_totals})
    first = days[0] if days else None
    today = log_day(day_totals, today)
    week = programme.programme_week(first, today)
    totals: dict[str, int] = {}
    today_totals: dict[str, int] = {}
    for t in day_totals:
        totals[t.exercise] = totals.get(t.exercise, 0) + t.reps
        if t.day == today:
            today_totals[t.exercise] = today_totals.get(t.exercise, 0) + t.reps
    return Progress(
        totals=totals,
        today=today_totals,
        targets=programme.targets(day_totals),
        sessions_this_week=_sessions_this_week(days, today),
        sessions_goal=programme.sessions_goal(week),
        streak=programme.streak(days, today),
        week=week,
        first_day=first,
        complete=week > programme.WEEKS,
        weeks_on_goal=programme.weeks_on_goal(days),
    )


def _sessions_this_week(days: list[date], today: date) -> int:
    if not days:
        return 0
    this_week = programme.programme_week_start(days[0], today)
    return sum(1 for day in days if programme.programme_week_start(days[0], day) == this_week)

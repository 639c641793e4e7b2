"""Personal daily reminders: /remind asks time, timezone (once) and days; /stop ends them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from zoneinfo import ZoneInfo

from bot.engine.turn import Answer, Turn, action, echo, stamp
from bot.model import Choice, Platform, Reply
from bot.schedule_time import (
    Days,
    ScheduleInputError,
    format_days,
    next_run,
    parse_days,
    parse_local_time,
    parse_timezone,
)
from bot.store.schedules import DisabledReason, ScheduleKind, ScheduleSpec, reminder_owner

TIME, ZONE, DAYS = 0, 1, 2
DEFAULT_DAYS = "mon,wed,fri"  # three a week, to match two or three workouts a week
# Values avoid ":" (it separates a button's parts), so times are written 07.30.
TIME_PICKS = (Choice("07.00", "time_0700"), Choice("12.30", "time_1230"),
              Choice("18.00", "time_1800"))  # fmt: skip
ZONE_PICKS = tuple(
    Choice(zone, f"tz_{zone.split('/')[-1].lower()}")
    for zone in ("Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago",
                 "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata", "UTC")
)  # fmt: skip
DAY_PICKS = (Choice("mon,wed,fri", "days_mwf"), Choice("tue,thu,sat", "days_tts"),
             Choice("weekdays", "days_weekdays"), Choice("daily", "days_daily"))  # fmt: skip
CURRENT_CHOICES = (action("remind_change", "remind_change"), action("remind_off", "remind_off"),
                   action("menu", "remind_keep_as_is"))  # fmt: skip


class RemindFlow:
    name = "remind"

    async def start(self, turn: Turn, arg: str) -> list[Reply]:
        if turn.incoming.chat.platform is Platform.CONSOLE:
            return [Reply("remind/console", private=True)]
        words = arg.split()
        if words and words[0].lower() in ("off", "stop", "none"):
            return await self.off(turn)
        if words:
            return self._inline(turn, words)
        current = await turn.store.schedules.get(reminder_owner(turn.user.id))
        if current is not None and current.enabled:
            context = {
                "time": current.local_time,
                "tz": current.tz.key,
                "days": format_days(current.days),
            }
            return [Reply("remind/current", context, choices=CURRENT_CHOICES, private=True)]
        return self.ask(turn)

    def ask(self, turn: Turn) -> list[Reply]:
        turn.go(self.name, TIME, {})
        return self.prompt(turn)

    async def off(self, turn: Turn) -> list[Reply]:
        current = await turn.store.schedules.get(reminder_owner(turn.user.id))
        if current is None or not current.enabled:
            return [Reply("remind/none", private=True)]
        turn.writes.append(
            turn.store.schedules.disable_write(current.id, DisabledReason.OWNER, turn.now)
        )
        turn.schedules_changed = True
        return [Reply("remind/off", private=True)]

    async def keep(self, turn: Turn) -> list[Reply]:
        current = await turn.store.schedules.get(reminder_owner(turn.user.id))
        if current is None:
            return [Reply("remind/none", private=True)]
        await turn.store.schedules.enable(current.id, turn.now)
        turn.schedules_changed = True
        return [Reply("remind/kept", private=True)]

    def prompt(self, turn: Turn) -> list[Reply]:
        step = turn.conversation.step
        template = ("remind/ask_time", "remind/ask_zone", "remind/ask_days")[step]
        choices = stamp(self.name, step, self.choices(turn))
        return [Reply(template, {"default_days": DEFAULT_DAYS}, choices=choices, private=True)]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        return (TIME_PICKS, ZONE_PICKS, DAY_PICKS)[turn.conversation.step]

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        step = turn.conversation.step
        typed = answer.value or answer.text
        data = dict(turn.conversation.data)
        try:
            if step == TIME:
                data["time"] = parse_local_time(typed).isoformat(timespec="minutes")
                if turn.user.tz:
                    data["tz"] = turn.user.tz
                turn.go(self.name, DAYS if turn.user.tz else ZONE, data)
                return self.prompt(turn)
            if step == ZONE:
                data["tz"] = parse_timezone(typed).key
                turn.go(self.name, DAYS, data)
                return self.prompt(turn)
            days = parse_days(typed)
        except ScheduleInputError:
            return None
        turn.go("menu")
        return [self._save(turn, time.fromisoformat(data["time"]), ZoneInfo(data["tz"]), days)]

    def _inline(self, turn: Turn, words: list[str]) -> list[Reply]:
        """ "/remind 07:30 Europe/London mon,wed,fri": everything at once (Discord options)."""
        try:
            at = parse_local_time(words[0])
            zone_word = words[1] if len(words) > 1 else turn.user.tz or "UTC"
            zone = parse_timezone(zone_word)
            days = parse_days(" ".join(words[2:]) or DEFAULT_DAYS)
        except ScheduleInputError as error:
            problem = {"field": type(error).__name__, "value": echo(error.value)}
            return [Reply("remind/invalid", problem, private=True)]
        return [self._save(turn, at, zone, days)]

    def _save(self, turn: Turn, at: time, zone: ZoneInfo, days: Days) -> Reply:
        chat = turn.incoming.chat
        spec = ScheduleSpec(
            kind=ScheduleKind.REMINDER,
            owner=reminder_owner(turn.user.id),
            platform=chat.platform,
            # Reminders go to the person's private chat: on Telegram its id is the user id,
            # on Discord the adapter opens a DM with the user.
            target=chat.user_id,
            local_time=at,
            tz=zone,
            days=days,
            user_id=turn.user.id,
        )
        turn.writes.append(turn.store.schedules.upsert_write(spec, turn.now))
        turn.writes.append(turn.store.users.set_timezone(turn.user.id, zone.key))
        turn.schedules_changed = True
        run = next_run(at, zone, days, turn.now)
        context: dict[str, object] = {
            "time": at,
            "tz": zone.key,
            "days": format_days(days),
            "next": run.due_utc.astimezone(zone),
        }
        return Reply("remind/set", context, private=True)

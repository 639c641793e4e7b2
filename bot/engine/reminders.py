"""Personal daily reminders: /remind asks time, timezone (once) and days; /stop ends them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import time, tzinfo
from zoneinfo import ZoneInfo

from bot.engine.turn import Answer, Turn, action, echo, stamp
from bot.model import NUMBERED_CHOICES, Choice, Platform, PrivateReach, Reply
from bot.parse import Word
from bot.schedule_time import (
    ScheduleInputError,
    UnknownTimezone,
    format_days,
    guessed_zone,
    is_fixed_offset,
    parse_days,
    parse_local_time,
    parse_timezone,
    zone_name,
)
from bot.schedule_words import DEFAULT_DAYS, FIELDS, is_off, typed_fields
from bot.store.schedules import DisabledReason, ScheduleKind, ScheduleSpec, reminder_owner

# The steps are FIELDS in order, each kept under its name in the conversation's data: how
# a typed answer becomes that value (in canonical spelling).
READ: Mapping[str, Callable[[str], str]] = {
    "time": lambda text: parse_local_time(text).isoformat(timespec="minutes"),
    "tz": lambda text: parse_timezone(text).key,
    "days": lambda text: format_days(parse_days(text)),
}
# Where the conversation keeps a zone typed as an abbreviation or offset ("PST"), whose
# place was a guess: the confirmation says how it was read, to be corrected if wrong.
GUESSED_FROM = "tz_typed"
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
CHANGE = action("remind_change", "remind_change")
CURRENT_CHOICES = (CHANGE, action("remind_off", "remind_off"), action("menu", "remind_keep_as_is"))
# Whether to keep reminders the bot paused, or to turn back on those it switched off when
# they couldn't reach someone: typed, "yes" and "no" answer too (a choice's value ending
# in the word).
KEEP_REMINDING = action("remind_keep", "remind_keep", Word.YES.value)
LEAVE_OFF = action("remind_off", "remind_leave_off", Word.NO.value)


class RemindFlow:
    name = "remind"
    steps = len(FIELDS)

    async def start(self, turn: Turn, arg: str) -> list[Reply]:
        if turn.incoming.chat.platform is Platform.CONSOLE:
            return [Reply("remind/console", private=True)]
        given = typed_fields(arg)
        if is_off(given):
            return await self.off(turn)
        if given:
            return await self._inline(turn, given)
        current = await turn.store.schedules.get(reminder_owner(turn.user.id))
        if current is None or not (current.enabled or current.disabled_reason in _BOTS_OFF):
            return self.ask(turn)
        context = {
            "time": current.local_time,
            "tz": zone_name(current.tz),
            "fixed": is_fixed_offset(current.tz),
            "days": format_days(current.days),
            "typed": _can_type_back(turn),
            # Switched off by the bot, not by them: still theirs, to turn back on.
            "off_because": None if current.enabled else str(current.disabled_reason),
        }
        choices = CURRENT_CHOICES if current.enabled else (KEEP_REMINDING, CHANGE, LEAVE_OFF)
        return [Reply("remind/current", context, choices=choices, private=True)]

    def ask(self, turn: Turn, data: Mapping[str, str] | None = None) -> list[Reply]:
        """Asks for the first thing `data` lacks (the time, the zone unless the person's is
        known, the days); with nothing missing, for the time again (a change starts there)."""
        data = _with_known_zone(turn, data or {})
        missing = [step for step, key in enumerate(FIELDS) if key not in data]
        turn.go(self.name, (missing or [0])[0], data)
        return self.prompt(turn)

    async def _ask_or_save(self, turn: Turn, data: Mapping[str, str]) -> list[Reply]:
        """Saves once nothing is missing; asks for what is, otherwise."""
        data = _with_known_zone(turn, data)
        if any(key not in data for key in FIELDS):
            return self.ask(turn, data)
        turn.go("menu")
        return [await self._save(turn, data)]

    async def off(self, turn: Turn) -> list[Reply]:
        self._end_setup(turn)
        current = await turn.store.schedules.get(reminder_owner(turn.user.id))
        # Reminders the bot switched off are still theirs to switch off: "No" to the
        # question whether to keep them (paused) or to turn them back on (they couldn't
        # reach them) means off, as /stop does.
        if current is None or not (current.enabled or current.disabled_reason in _BOTS_OFF):
            platform = str(turn.incoming.chat.platform)
            return [Reply("remind/none", {"platform": platform}, private=True)]
        turn.writes.append(
            turn.store.schedules.disable_write(current.id, DisabledReason.OWNER, turn.now)
        )
        turn.schedules_changed = True
        return [Reply("remind/off", private=True)]

    def _end_setup(self, turn: Turn) -> None:
        """A reminder set in one line, or switched off, ends a step-by-step set-up under
        way: its questions no longer apply."""
        if turn.conversation.flow == self.name:
            turn.go("menu")

    async def keep(self, turn: Turn) -> list[Reply]:
        current = await turn.store.schedules.get(reminder_owner(turn.user.id))
        if current is None:
            return [Reply("remind/none", private=True)]
        # With the event's other writes: if they are refused, the reminders stay as they were.
        turn.writes.append(turn.store.schedules.enable_write(current, turn.now))
        turn.schedules_changed = True
        return [Reply("remind/kept", private=True)]

    def prompt(self, turn: Turn) -> list[Reply]:
        step = turn.conversation.step
        template = ("remind/ask_time", "remind/ask_zone", "remind/ask_days")[step]
        choices = stamp(self.name, step, self.choices(turn))
        context = {"default_days": DEFAULT_DAYS, "typed": _can_type_back(turn)}
        return [Reply(template, context, choices=choices, private=True)]

    def choices(self, turn: Turn) -> Sequence[Choice]:
        return (TIME_PICKS, ZONE_PICKS, DAY_PICKS)[turn.conversation.step]

    async def answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        key = FIELDS[turn.conversation.step]
        picked = answer.value
        if answer.number is not None and turn.incoming.chat.platform not in NUMBERED_CHOICES:
            picked = None  # buttons show no numbers here: "3" is 3 o'clock, not the third
        typed = picked or answer.text
        try:
            value = READ[key](typed)
        except UnknownTimezone as error:
            if not error.places:
                return None
            picks = stamp(self.name, turn.conversation.step, self.choices(turn))
            return [_which_zone(turn, error, picks)]
        except ScheduleInputError:
            return None
        return await self._ask_or_save(
            turn, {**turn.conversation.data, key: value, **_guessed(key, typed)}
        )

    async def _inline(self, turn: Turn, given: Mapping[str, str]) -> list[Reply]:
        """ "/remind 07:30 Europe/London mon,wed,fri": all at once. Without a time the
        questions ask for it (and anything else missing); with one, the zone defaults to
        the person's, else the server's, else is asked, and the days to their reminder's."""
        try:
            data = {key: READ[key](text) for key, text in given.items()}
        except ScheduleInputError as error:
            problem = {**input_problem(error), "typed": _can_type_back(turn)}
            return [Reply("remind/invalid", problem, private=True)]
        if "tz" in given:
            data.update(_guessed("tz", given["tz"]))
        if "time" not in data or ("tz" not in data and not _zone_known(turn)):
            return self.ask(turn, data)
        self._end_setup(turn)
        defaults = {"tz": _zone_name_or_utc(turn.tz), "days": await _days_kept(turn)}
        return [await self._save(turn, defaults | data)]

    async def _save(self, turn: Turn, data: Mapping[str, str]) -> Reply:
        at, zone = time.fromisoformat(data["time"]), ZoneInfo(data["tz"])
        days = parse_days(data["days"])
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
        schedules = turn.store.schedules
        # The store's rule: a day already reminded isn't reminded again at the new time.
        first = await schedules.first_run(spec, turn.now)
        turn.writes.append(schedules.upsert_write(spec, turn.now))
        turn.writes.append(turn.store.users.set_timezone(turn.user.id, zone.key))
        turn.schedules_changed = True
        context: dict[str, object] = {
            "time": at,
            "tz": zone_name(zone),
            "fixed": is_fixed_offset(zone),
            "days": format_days(days),
            "next": first.due_utc.astimezone(zone),
            "guessed": data.get(GUESSED_FROM),
            "typed": _can_type_back(turn),
        }
        return Reply("remind/set", context, private=True)


_BOTS_OFF = frozenset({DisabledReason.PAUSED, DisabledReason.GONE})


def input_problem(error: ScheduleInputError) -> dict[str, object]:
    """What the "couldn't read that" templates say of a time, zone or days typed."""
    return {"field": type(error).__name__, "value": echo(error.value), "places": error.places}


def guessed_from(typed: str) -> str | None:
    """A zone as typed, to be shown, when its place was a guess ("PST": America/Los_Angeles),
    so that the confirmation can say how it was read."""
    return echo(typed) if guessed_zone(typed) else None


def _guessed(key: str, typed: str) -> dict[str, str]:
    guess = guessed_from(typed) if key == "tz" else None
    return {GUESSED_FROM: guess} if guess else {}


def _which_zone(turn: Turn, error: UnknownTimezone, choices: tuple[Choice, ...]) -> Reply:
    """ "IST" or "UTC+5:30" typed for the zone: the places it could be, to pick one."""
    context = {"value": echo(error.value), "places": error.places, "typed": _can_type_back(turn)}
    return Reply("remind/which_zone", context, choices=choices, private=True)


def _can_type_back(turn: Turn) -> bool:
    """Asked in a server, the answer shows only to them, where they can't type back: the
    buttons, or /remind again with its options filled in."""
    return not (turn.in_community and turn.incoming.private_reach is PrivateReach.IN_PLACE)


def _zone_known(turn: Turn) -> bool:
    """Whether a reminder can take a zone not given: the person's own, or where they are
    (a server's daily posts'). A default for the day's boundary (UTC) would remind someone
    in New York at the wrong hour."""
    return turn.user.tz is not None or turn.server_schedule is not None


def _zone_name_or_utc(zone: tzinfo) -> str:
    """The zone a reminder takes when none is given: the person's, else the server's daily
    posts' (Turn.tz), by its name. A zone without one (a fixed offset) gives UTC."""
    return getattr(zone, "key", None) or "UTC"


async def _days_kept(turn: Turn) -> str:
    """The days a one-line /remind leaves out: those of the reminder they have (a new time
    alone moves it, as /setup does a server's posts), else DEFAULT_DAYS."""
    current = await turn.store.schedules.get(reminder_owner(turn.user.id))
    return format_days(current.days) if current is not None else DEFAULT_DAYS


def _with_known_zone(turn: Turn, data: Mapping[str, str]) -> dict[str, str]:
    """The person's zone is asked once and remembered."""
    return {"tz": turn.user.tz, **data} if turn.user.tz else dict(data)

"""Local times, weekdays and timezones as people type them, and the next time a schedule runs.

Pure functions. Errors carry the bad value and no wording: templates say it to the user.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.parse import visible

Days = tuple[int, ...]
"""Weekdays as `date.weekday()` numbers (Monday 0), sorted, no repeats, never empty."""

EVERY_DAY: Days = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS: Days = (0, 1, 2, 3, 4)
WEEKENDS: Days = (5, 6)


class ScheduleInputError(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class InvalidTime(ScheduleInputError):
    pass


class InvalidDays(ScheduleInputError):
    pass


class UnknownTimezone(ScheduleInputError):
    pass


class Run(NamedTuple):
    due_utc: datetime
    local_day: date


_TIME = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(?:([ap])\.?\s*m\.?)?")
# A time said in words: "noon", "12 noon", "midnight".
_WORDS_TIME = re.compile(r"(?:12\s*)?(noon|midday|midnight)")


def _typed(text: str) -> str:
    """Text as compared: lower case, and with the full-width forms a Japanese or Chinese
    keyboard types (of digits, the colon, letters) read as the usual characters, and no
    invisible marks (see `visible`)."""
    return unicodedata.normalize("NFKC", visible(text)).strip().lower()


def parse_local_time(text: str) -> time:
    typed = _typed(text)
    said = _WORDS_TIME.fullmatch(typed)
    if said:
        return time(0) if said[1] == "midnight" else time(12)
    match = _TIME.fullmatch(typed)
    if not match:
        raise InvalidTime(text)
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    if half is None and match[2] is None:
        raise InvalidTime(text)  # a bare "7" could mean 07:00 or 19:00
    if half is not None:
        if not 1 <= hour <= 12:
            raise InvalidTime(text)
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59:
        raise InvalidTime(text)
    return time(hour, minute)


_DAY_WORDS = {
    **dict.fromkeys(("mon", "monday"), 0),
    **dict.fromkeys(("tue", "tues", "tuesday"), 1),
    **dict.fromkeys(("wed", "weds", "wednesday"), 2),
    **dict.fromkeys(("thu", "thur", "thurs", "thursday"), 3),
    **dict.fromkeys(("fri", "friday"), 4),
    **dict.fromkeys(("sat", "saturday"), 5),
    **dict.fromkeys(("sun", "sunday"), 6),
}
_GROUP_WORDS = {
    **dict.fromkeys(("daily", "everyday", "all"), EVERY_DAY),
    **dict.fromkeys(("weekdays", "weekday"), WEEKDAYS),
    **dict.fromkeys(("weekends", "weekend"), WEEKENDS),
}
_FILLER = {"and", "every", "on", "only"}
# "mon to fri", "Monday through Friday": a range, as "mon-fri" is.
_RANGE_WORDS = re.compile(r"\s+(?:to|thru|through|till|until)\s+")
_SHORT_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(text: str) -> Days:
    normalized = re.sub(r"\s*[-\u2013]\s*", "-", _RANGE_WORDS.sub("-", _typed(text)))
    normalized = re.sub(r"\bevery\s+day\b", "daily", normalized)
    days: set[int] = set()
    for token in re.split(r"[\s,;&+/.]+", normalized):
        if token and token not in _FILLER:
            days.update(_token_days(token, text))
    if not days:
        raise InvalidDays(text)
    return tuple(sorted(days))


def _token_days(token: str, text: str) -> Iterable[int]:
    if token in _GROUP_WORDS:
        return _GROUP_WORDS[token]
    first, dash, last = token.partition("-")
    if dash:
        start, end = _day_word(first, text), _day_word(last, text)
        return [(start + step) % 7 for step in range((end - start) % 7 + 1)]
    return [_day_word(token, text)]


def _day_word(word: str, text: str) -> int:
    if word in _DAY_WORDS:
        return _DAY_WORDS[word]
    if word.endswith("s") and word[:-1] in _DAY_WORDS:  # "mondays"
        return _DAY_WORDS[word[:-1]]
    raise InvalidDays(text)


def format_days(days: Iterable[int]) -> str:
    """The canonical spelling, which `parse_days` reads back: "daily", "mon,wed,fri"..."""
    ordered = tuple(sorted(set(days)))
    for word in ("daily", "weekdays", "weekends"):
        if ordered == _GROUP_WORDS[word]:
            return word
    return ",".join(_SHORT_NAMES[day] for day in ordered)


# Names zoneinfo lists that are not places a person lives in.
_NOT_PLACES = {"localtime", "Factory", "posixrules"}
# Zones that are a fixed offset from UTC rather than a place's clock: those named Etc/...,
# whose sign is POSIX's, the reverse of what people mean (Etc/GMT+2 is UTC-2), other names
# for UTC, and EST, MST and HST: UTC-5, -7 and -10 all year, whatever New York or Denver do.
_FIXED_ABBREVIATIONS = {"EST", "MST", "HST"}
_UTC_ALIASES = {"GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "UCT", "Universal", "Zulu"}
# The places people most likely mean when they type a fixed zone's abbreviation: suggested
# instead of it (in July, someone who types "EST" means New York's clock, then UTC-4).
_MEANT = {
    "est": ("America/New_York",),
    "mst": ("America/Denver", "America/Phoenix"),
    "hst": ("Pacific/Honolulu",),
    "gmt": ("Europe/London", "UTC"),
}
# "UTC+2", "GMT+2", "utc -5", "UTC+02:00": an offset as people write it.
_OFFSET = re.compile(r"(?:utc|gmt)\s*([+\-\u2212])\s*(\d{1,2})(?::?00)?")
_OFFSET_HOURS = range(-12, 15)  # the Etc zones there are


@cache
def _zone_names() -> dict[str, str]:
    names = {_folded(name): name for name in available_timezones() - _NOT_PLACES}
    names["utc"] = "UTC"
    return names


def _zone_key(text: str) -> str:
    return _folded(text.strip().replace(" ", "_"))


def _folded(text: str) -> str:
    """Lower case and without accents, as IANA spells places: people type "São Paulo" and
    "Zürich" for America/Sao_Paulo and Europe/Zurich."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _offset_zone(text: str) -> str | None:
    """The zone of "UTC+2" or "GMT+2" meant as people mean it, two hours ahead of UTC:
    Etc/GMT-2, given the Etc names' reversed sign. None if it isn't such an offset, or one
    no Etc zone has (half hours are a city's: Asia/Kolkata)."""
    match = _OFFSET.fullmatch(text.strip().lower())
    if match is None:
        return None
    hours = int(match[2]) * (1 if match[1] == "+" else -1)
    if hours not in _OFFSET_HOURS:
        return None
    return f"Etc/GMT{-hours:+d}" if hours else "UTC"


# The areas of IANA's place names; not the old country ones ("US/Pacific" is a region).
_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
     "Indian", "Pacific"}
)  # fmt: skip


@cache
def _city_names() -> dict[str, str]:
    """A place's own name ("london", "new_york") for its zone, where only one zone has it:
    the pickers' labels, and what people type. ("West" names two, so neither.)"""
    zones: dict[str, list[str]] = {}
    for name in _zone_names().values():
        if name.split("/", 1)[0] in _AREAS and "/" in name:
            zones.setdefault(_folded(name.rsplit("/", 1)[1]), []).append(name)
    # Old and new spellings of one place ("America/Buenos_Aires" and
    # "America/Argentina/Buenos_Aires") keep the current, longer one.
    return {
        city: max(names, key=len)
        for city, names in zones.items()
        if len({_offsets(name) for name in names}) == 1
    }


def _offsets(name: str) -> tuple[object, ...]:
    zone = ZoneInfo(name)
    return tuple(datetime(2026, month, 1, tzinfo=zone).utcoffset() for month in (1, 7))


def parse_timezone(name: str) -> ZoneInfo:
    name = visible(name)
    key = _zone_key(name)
    canonical = _offset_zone(name) or _zone_names().get(key) or _city_names().get(key)
    if canonical is None:
        raise UnknownTimezone(name)
    return ZoneInfo(canonical)


def is_fixed_offset(zone: ZoneInfo) -> bool:
    """A zone that is an offset from UTC, not a place's clock: it never changes for daylight
    saving. UTC itself counts as a place: nobody picks it by mistake for their own clock."""
    return _fixed_key(zone.key)


def _fixed_key(name: str) -> bool:
    return name.startswith("Etc/") or name in _FIXED_ABBREVIATIONS or name in _UTC_ALIASES


@cache
def stored_zone(name: str) -> ZoneInfo | None:
    """A zone saved earlier, by name; None if this machine's zone data no longer has it
    (zones are dropped and renamed over the years: US/Pacific-New went in 2020)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_name(zone: ZoneInfo) -> str:
    """A zone as people are shown it: its IANA name, but a fixed offset as the offset it
    really is ("UTC+2" for Etc/GMT-2, "UTC-5" for EST), which `parse_timezone` reads back."""
    if not is_fixed_offset(zone):
        return zone.key
    offset = datetime(2000, 1, 1, tzinfo=zone).utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset else 0
    return f"UTC{hours:+d}" if hours else "UTC"


@cache
def _suggested_names() -> tuple[tuple[str, str], ...]:
    """What autocomplete offers: places, UTC, and offsets spelled as people mean them, never
    the Etc names (whose sign reads backwards) or abbreviations that ignore daylight saving.
    Each with its folded spelling, which what is typed is matched against."""
    places = [name for name in _zone_names().values() if not _fixed_key(name)]
    offsets = [f"UTC{hours:+d}" for hours in _OFFSET_HOURS if hours]
    return tuple((name, _folded(name)) for name in (*places, *offsets))


def timezone_suggestions(prefix: str, limit: int = 25) -> list[str]:
    """Zone names for autocomplete: "lon" finds Europe/London, "america/new" America/New_York,
    "gmt+2" UTC+2, and "est" America/New_York."""
    prefix = visible(prefix)
    offset = _offset_zone(prefix)
    key = zone_name(ZoneInfo(offset)).lower() if offset else _zone_key(prefix)
    meant = [
        zone
        for abbreviation, zones in _MEANT.items()
        if len(key) >= 2 and abbreviation.startswith(key)
        for zone in zones
    ]

    def rank(entry: tuple[str, str]) -> tuple[bool, bool, str]:
        name, folded = entry
        return (not folded.startswith(key), "/" not in name, name)

    matches = [
        (name, folded)
        for name, folded in _suggested_names()
        if name not in meant
        and any(part.startswith(key) for part in (folded, *folded.split("/")[1:]))
    ]
    return [*meant, *(name for name, _ in sorted(matches, key=rank))][:limit]


def instant_on(day: date, at: time, tz: ZoneInfo) -> datetime:
    """When `at` happens on `day` in `tz`, in UTC.

    A wall time that occurs twice (clocks going back) means its first occurrence; one that
    does not occur (clocks going forward) means the first instant after the gap.
    """
    wall = datetime.combine(day, at, tzinfo=tz)  # fold=0: the first occurrence
    utc = wall.astimezone(UTC)
    if _same_wall(utc.astimezone(tz), wall):
        return utc
    return _gap_end(wall)


def _same_wall(a: datetime, b: datetime) -> bool:
    return (a.date(), a.time()) == (b.date(), b.time())


def _gap_end(wall: datetime) -> datetime:
    # In a gap, fold=0 reads the wall time with the offset from before the transition and
    # fold=1 with the offset from after it; the transition lies between the two readings.
    # Transitions fall on whole seconds, so a binary search over seconds finds it exactly.
    before = wall.utcoffset()
    early = wall.replace(fold=1).astimezone(UTC)
    late = wall.astimezone(UTC)
    low, high = 0, int((late - early).total_seconds())
    while low < high:
        middle = (low + high) // 2
        if (early + timedelta(seconds=middle)).astimezone(wall.tzinfo).utcoffset() == before:
            low = middle + 1
        else:
            high = middle
    return early + timedelta(seconds=low)


def next_run(at: time, tz: ZoneInfo, days: Iterable[int], after: datetime) -> Run:
    """The first scheduled local day whose time comes strictly after `after`."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    allowed = frozenset(days)
    if not allowed or not allowed <= set(EVERY_DAY):
        raise InvalidDays(str(sorted(allowed)))
    # Start a day early: around a transition at midnight the previous local day's time can
    # still lie ahead of `after`.
    first = after.astimezone(tz).date() - timedelta(days=1)
    for offset in range(9):
        day = first + timedelta(days=offset)
        if day.weekday() in allowed:
            due = instant_on(day, at, tz)
            if due > after:
                return Run(due, day)
    raise AssertionError("an allowed weekday always comes within nine days")

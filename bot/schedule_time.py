"""Local times, weekdays and timezones as people type them, and the next time a schedule runs.

Pure functions. Errors carry the bad value and no wording: templates say it to the user.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.parse import visible

Days = tuple[int, ...]
"""Weekdays as `date.weekday()` numbers (Monday 0), sorted, no repeats, never empty."""

EVERY_DAY: Days = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS: Days = (0, 1, 2, 3, 4)
WEEKENDS: Days = (5, 6)


class ScheduleInputError(ValueError):
    """`value` as typed; `places`, the zones it could mean, when it says that much (see
    UnknownTimezone)."""

    def __init__(self, value: str, places: tuple[str, ...] = ()) -> None:
        super().__init__(value)
        self.value = value
        self.places = places


class InvalidTime(ScheduleInputError):
    pass


class InvalidDays(ScheduleInputError):
    pass


class UnknownTimezone(ScheduleInputError):
    """With `places` when the text could be several: an abbreviation several places use
    ("IST"), or an offset several places are on ("UTC+5:30")."""


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
# for UTC, and EST, MST and HST (UTC-5, -7 and -10 all year): never read from what is typed
# now, but still the zone of a schedule saved when they were.
_FIXED_ABBREVIATIONS = {"EST", "MST", "HST"}
_UTC_ALIASES = {"GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "UCT", "Universal", "Zulu"}
# Abbreviations as people type them, for the places whose clock they mean, daylight saving
# included: in July, someone who types "EST" means New York's clock, then UTC-4 (tzdb's own
# EST, UTC-5 all year, is a compatibility name; UTC-5 says that). One place: read as it,
# and the confirmation names it. More than one: asked which ("MST" is Denver's winter and
# Phoenix's whole year; "IST" India's, Israel's and Ireland's summer).
_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("est", "edt", "et"), ("America/New_York",)),
    **dict.fromkeys(("cdt", "ct"), ("America/Chicago",)),
    "cst": ("America/Chicago", "Asia/Shanghai"),
    "mdt": ("America/Denver",),
    "mst": ("America/Denver", "America/Phoenix"),
    **dict.fromkeys(("pst", "pdt", "pt"), ("America/Los_Angeles",)),
    **dict.fromkeys(("akst", "akdt"), ("America/Anchorage",)),
    "hst": ("Pacific/Honolulu",),
    "ast": ("America/Halifax", "America/Puerto_Rico", "Asia/Riyadh"),
    "adt": ("America/Halifax",),
    **dict.fromkeys(("nst", "ndt"), ("America/St_Johns",)),
    "bst": ("Europe/London", "Asia/Dhaka"),
    "ist": ("Asia/Kolkata", "Asia/Jerusalem", "Europe/Dublin"),
    "wet": ("Europe/Lisbon",),  # not "west": typed, that is Australia/West (Perth)
    **dict.fromkeys(("cet", "cest"), ("Europe/Berlin",)),
    **dict.fromkeys(("eet", "eest"), ("Europe/Athens",)),
    "msk": ("Europe/Moscow",),
    "wat": ("Africa/Lagos",),
    "cat": ("Africa/Maputo",),
    "eat": ("Africa/Nairobi",),
    "sast": ("Africa/Johannesburg",),
    "pkt": ("Asia/Karachi",),
    "npt": ("Asia/Kathmandu",),
    "ict": ("Asia/Bangkok",),
    "wib": ("Asia/Jakarta",),
    "hkt": ("Asia/Hong_Kong",),
    "sgt": ("Asia/Singapore",),
    "pht": ("Asia/Manila",),
    "jst": ("Asia/Tokyo",),
    "kst": ("Asia/Seoul",),
    "awst": ("Australia/Perth",),
    "acst": ("Australia/Adelaide", "Australia/Darwin"),
    "acdt": ("Australia/Adelaide",),
    "aest": ("Australia/Sydney", "Australia/Brisbane"),
    "aedt": ("Australia/Sydney",),
    **dict.fromkeys(("nzst", "nzdt"), ("Pacific/Auckland",)),
}
# What autocomplete puts first for an abbreviation: its places, and for GMT (read as UTC,
# which it is) London's clock too, which is GMT only in winter.
_MEANT = {**_ABBREVIATIONS, "gmt": ("Europe/London", "UTC")}
# An offset as people write it: "UTC+2", "GMT+2", "utc -5", "UTC+02:00", "UTC+5:30",
# "GMT+0545", and ISO's "+05:30" or "-0330" (there, with hours and minutes both).
_OFFSET = re.compile(
    r"(?:utc|gmt)\s*(?P<sign>[+\-\u2212])\s*(?P<hours>\d{1,2})(?:[:.]?(?P<minutes>\d{2}))?"
    r"|(?P<iso_sign>[+\-\u2212])(?P<iso_hours>\d{2}):?(?P<iso_minutes>\d{2})"
)
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


def _offset_minutes(text: str) -> int | None:
    """Minutes ahead of UTC that "UTC+5:30" or "+0530" says (330); None if it says none."""
    match = _OFFSET.fullmatch(text.strip().lower())
    if match is None:
        return None
    sign, hours, minutes = (
        (match["sign"], match["hours"], match["minutes"])
        if match["sign"]
        else (match["iso_sign"], match["iso_hours"], match["iso_minutes"])
    )
    if int(minutes or 0) > 59:
        return None
    return (int(hours) * 60 + int(minutes or 0)) * (1 if sign == "+" else -1)


def _offset_zone(text: str) -> str | None:
    """The zone of "UTC+2" or "GMT+2" meant as people mean it, two hours ahead of UTC:
    Etc/GMT-2, given the Etc names' reversed sign. None if it isn't such an offset, or one
    no Etc zone has (half hours are a place's: see `_offset_places`)."""
    minutes = _offset_minutes(text)
    if minutes is None or minutes % 60:
        return None
    hours = minutes // 60
    if hours not in _OFFSET_HOURS:
        return None
    return f"Etc/GMT{-hours:+d}" if hours else "UTC"


def _offset_places(text: str) -> tuple[str, ...]:
    """The places whose clock is on an offset of hours and minutes ("UTC+5:30": Asia/Kolkata
    and Asia/Colombo) at some time this year, those on it all year first. No Etc zone has
    such an offset, and zones are stored by name: a place's is the one to store."""
    minutes = _offset_minutes(text)
    if minutes is None or not minutes % 60:
        return ()
    return _places_on(minutes, datetime.now(UTC).year)


@cache
def _places_on(minutes: int, year: int) -> tuple[str, ...]:
    offset = timedelta(minutes=minutes)
    seasons = {name: _offsets_in(name, year) for name in _places()}
    on_it = [name for name, offsets in seasons.items() if offset in offsets]
    return tuple(sorted(on_it, key=lambda name: len(seasons[name])))  # all year first


def _offsets_in(name: str, year: int) -> set[timedelta | None]:
    zone = ZoneInfo(name)
    return {datetime(year, month, 15, tzinfo=zone).utcoffset() for month in (1, 7)}


@cache
def _places() -> tuple[str, ...]:
    """The tz database's list of places (zone1970.tab, from the tzdata package this bot
    requires): one zone for each clock kept since 1970, without old names (Asia/Calcutta)."""
    table = resources.files("tzdata.zoneinfo").joinpath("zone1970.tab")
    known = set(_zone_names().values())
    lines = table.read_text(encoding="utf-8").splitlines()
    rows = (line.split("\t") for line in lines if not line.startswith("#"))
    return tuple(row[2] for row in rows if len(row) > 2 and row[2] in known)


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
    return ZoneInfo(_read_zone(name)[0])


def guessed_zone(name: str) -> bool:
    """Whether `name` is read as a place's clock by a guess at the place meant, which its
    confirmation says so they can correct it: an abbreviation ("PST") or an offset only one
    place keeps ("UTC+5:45"), rather than the place's own name."""
    return _read_zone(name)[1]


def _read_zone(name: str) -> tuple[str, bool]:
    """The zone's name, and whether it is a guess. Raises UnknownTimezone, with the places
    it could be when it could be several."""
    name = visible(name)
    key = _zone_key(name)
    places = _ABBREVIATIONS.get(key) or _offset_places(name)
    if len(places) == 1:
        return places[0], True
    if places:
        raise UnknownTimezone(name, places)
    canonical = _offset_zone(name) or _zone_names().get(key) or _city_names().get(key)
    if canonical is None:
        raise UnknownTimezone(name)
    return canonical, False


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
    "gmt+2" UTC+2, "est" America/New_York and "utc+5:30" Asia/Kolkata and Asia/Colombo."""
    prefix = visible(prefix)
    offset = _offset_zone(prefix)
    key = zone_name(ZoneInfo(offset)).lower() if offset else _zone_key(prefix)
    # An abbreviation's places once it is typed whole, or three letters of it: "es" or "as"
    # is more likely the start of a place's name (Asia/...).
    meant = [
        zone
        for abbreviation, zones in _MEANT.items()
        if abbreviation == key or (len(key) >= 3 and abbreviation.startswith(key))
        for zone in zones
    ]
    meant.extend(_offset_places(prefix))

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

"""A schedule typed in one line, as /remind and /setup take it: which words are the
channel, the time, the zone and the days."""

from __future__ import annotations

import re
import unicodedata

from bot.schedule_time import ScheduleInputError, parse_days, parse_timezone

# The fields in the order they are typed ("07:30 Europe/London mon,wed,fri").
FIELDS = ("time", "tz", "days")
# Three a week, to match two or three workouts a week.
DEFAULT_DAYS = "mon,wed,fri"
# A time that means "stop": "/remind off", "/setup #workouts off".
OFF_WORDS = frozenset({"off", "stop", "none"})
# "time:07:30 days:daily": named as Discord shows its options, so any may be missing.
_NAMES = {"time": "time", "timezone": "tz", "days": "days"}
_NAMED = re.compile(r"\b(time|timezone|days):")
# The most words a zone's name has ("America/Argentina/Buenos Aires" has three).
ZONE_WORDS = 4
_SETUP_CHANNEL = re.compile(r"<#(\d+)>|(\d+)")
# "7 pm", "7:30 a.m.", "12 noon": a word of the time's own, typed after it.
_TIME_WORD = re.compile(r"[ap]\.?\s*m\.?|noon|midday|midnight", re.IGNORECASE)
# "remind me at 7pm": how people ask, before the time.
_LEAD_IN = re.compile(r"\A\s*(?:me\b)?\s*(?:at\b)?", re.IGNORECASE)


def typed_fields(text: str) -> dict[str, str]:
    """The fields typed, by FIELDS: "07:30 Europe/London mon,wed,fri" in that order, then
    any named ones ("time:07:30 timezone:America/New York days:tue thu"). Not read yet:
    a field that doesn't parse is the caller's to report."""
    # A full-width keyboard's space ("07:30　Tokyo") is a space.
    head, *named = _NAMED.split(unicodedata.normalize("NFKC", text))
    at, _, rest = _LEAD_IN.sub("", head, count=1).strip().partition(" ")
    half, _, after = rest.partition(" ")
    if _TIME_WORD.fullmatch(half):
        at, rest = f"{at} {half}", after
    given = dict(zip(FIELDS, [at, *_zone_then_days(rest)], strict=False))
    for name, value in zip(named[::2], named[1::2], strict=True):
        given[_NAMES[name]] = value
    return {key: value.strip() for key, value in given.items() if value.strip()}


def setup_words(arg: str) -> tuple[str | None, dict[str, str]]:
    """The channel id a /setup's words name first ("<#123> 07:30 ..." or "123 ...") and the
    fields after it: read the same way by the engine that saves them and the adapter that
    checks the channel first."""
    words = arg.split(maxsplit=1)
    match = _SETUP_CHANNEL.fullmatch(words[0]) if words else None
    if match is None:
        return None, typed_fields(arg)
    return match.group(1) or match.group(2), typed_fields(" ".join(words[1:]))


def is_off(fields: dict[str, str]) -> bool:
    return fields.get("time", "").lower() in OFF_WORDS


def _zone_then_days(text: str) -> list[str]:
    """The zone, then the days: "New York mon,wed" is a zone of two words, so the longest
    run of words (up to ZONE_WORDS) that names a zone is it. With none, "weekdays" alone
    is the days (the zone is left out); else the first word is the zone, and is
    reported."""
    words = text.split()
    for end in range(min(len(words), ZONE_WORDS), 0, -1):
        try:
            parse_timezone(" ".join(words[:end]))
        except ScheduleInputError:
            continue
        return [" ".join(words[:end]), " ".join(words[end:])]
    try:
        parse_days(text)
    except ScheduleInputError:
        return text.split(maxsplit=1)
    return ["", text]

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.schedule_time import (
    EVERY_DAY,
    InvalidDays,
    InvalidTime,
    UnknownTimezone,
    format_days,
    guessed_zone,
    instant_on,
    is_fixed_offset,
    next_run,
    parse_days,
    parse_local_time,
    parse_timezone,
    timezone_suggestions,
    zone_name,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07:30", time(7, 30)),
        ("7:30", time(7, 30)),
        ("07.30", time(7, 30)),
        ("7am", time(7, 0)),
        ("7 AM", time(7, 0)),
        ("7:30pm", time(19, 30)),
        ("7 p.m.", time(19, 0)),
        ("12am", time(0, 0)),
        ("12:15pm", time(12, 15)),
        (" 23:59 ", time(23, 59)),
        ("0:00", time(0, 0)),
        # Said in words.
        ("noon", time(12, 0)),
        ("12 noon", time(12, 0)),
        ("Midday", time(12, 0)),
        ("midnight", time(0, 0)),
        # Typed with a phone's full-width keyboard (Japanese, Chinese), or in Arabic digits.
        ("\uff10\uff17\uff1a\uff13\uff10", time(7, 30)),
        ("7\uff1a30\uff50\uff4d", time(19, 30)),
        ("\u0667:\u0663\u0660", time(7, 30)),
    ],
)
def test_parse_local_time_accepts(text: str, expected: time) -> None:
    assert parse_local_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["24:00", "7:60", "7", "13pm", "0am", "7:5", "7:305", "seven", "", "-1:00", "7 noon"],
)
def test_parse_local_time_rejects(text: str) -> None:
    with pytest.raises(InvalidTime) as caught:
        parse_local_time(text)
    assert caught.value.value == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon,wed,fri", (0, 2, 4)),
        ("mon wed fri", (0, 2, 4)),
        ("Monday, Wednesday and FRIDAY", (0, 2, 4)),
        ("weekdays", (0, 1, 2, 3, 4)),
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("Mon - Fri", (0, 1, 2, 3, 4)),
        ("fri-mon", (0, 4, 5, 6)),
        ("daily", EVERY_DAY),
        ("every day", EVERY_DAY),
        ("Every Day", EVERY_DAY),
        ("weekends", (5, 6)),
        ("tues thurs", (1, 3)),
        ("sundays", (6,)),
        ("sat,sat,sun", (5, 6)),
        ("\uff4d\uff4f\uff4e\uff0c\uff57\uff45\uff44", (0, 2)),
        ("Monday to Friday", (0, 1, 2, 3, 4)),
        ("mon thru wed", (0, 1, 2)),
        ("Friday through Sunday", (4, 5, 6)),
        ("weekdays only", (0, 1, 2, 3, 4)),
        ("Mon. Wed. Fri.", (0, 2, 4)),
    ],
)
def test_parse_days_accepts(text: str, expected: tuple[int, ...]) -> None:
    assert parse_days(text) == expected


@pytest.mark.parametrize("text", ["", "funday", "mon,funday", "mon-xyz", "every", "1,2"])
def test_parse_days_rejects(text: str) -> None:
    with pytest.raises(InvalidDays) as caught:
        parse_days(text)
    assert caught.value.value == text


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (EVERY_DAY, "daily"),
        ((0, 1, 2, 3, 4), "weekdays"),
        ((5, 6), "weekends"),
        ((4, 0, 2), "mon,wed,fri"),
    ],
)
def test_format_days(days: tuple[int, ...], text: str) -> None:
    assert format_days(days) == text


@given(st.sets(st.integers(0, 6), min_size=1))
def test_format_days_round_trips(days: set[int]) -> None:
    assert parse_days(format_days(days)) == tuple(sorted(days))


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Europe/London", "Europe/London"),
        ("europe/london", "Europe/London"),
        ("AMERICA/NEW_YORK", "America/New_York"),
        ("America/New York", "America/New_York"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        # A place's own name, where only one zone has it.
        ("London", "Europe/London"),
        ("new york", "America/New_York"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        # Spelled with its accents, where IANA has none.
        ("São Paulo", "America/Sao_Paulo"),
        ("ZÜRICH", "Europe/Zurich"),
        ("america/bogotá", "America/Bogota"),
        ("Reykjavík", "Atlantic/Reykjavik"),
    ],
)
def test_parse_timezone(name: str, key: str) -> None:
    assert parse_timezone(name).key == key


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "Atlantis", "localtime", "../etc/passwd", "pacific"]
)
def test_parse_timezone_rejects(name: str) -> None:
    with pytest.raises(UnknownTimezone) as caught:
        parse_timezone(name)
    assert caught.value.value == name


def test_timezone_suggestions() -> None:
    assert "Europe/London" in timezone_suggestions("lon")
    assert timezone_suggestions("america/new") == ["America/New_York"]
    assert timezone_suggestions("Europe/")[0].startswith("Europe/")
    assert len(timezone_suggestions("")) == 25
    assert len(timezone_suggestions("a", limit=5)) == 5
    assert timezone_suggestions("zzz") == []


def test_timezone_suggestions_read_a_city_typed_with_its_accents() -> None:
    """Suggestions match what was typed with its accents folded, as /setup and /remind
    read the zone it names."""
    assert "America/Sao_Paulo" in timezone_suggestions("São P")
    assert timezone_suggestions("Zür") == ["Europe/Zurich"]
    assert timezone_suggestions("america/bogotá") == ["America/Bogota"]


# Transitions: London 2026-03-29 / 2026-10-25 and 2027-03-28 / 2027-10-31 (at 01:00 UTC);
# New York 2026-03-08 / 2026-11-01 and 2027-03-14 / 2027-11-07 (02:00 local);
# Sydney ends 2026-04-05 / 2027-04-04 (03:00 AEDT) and starts 2026-10-04 / 2027-10-03.
@pytest.mark.parametrize(
    ("tz", "day", "at", "expected"),
    [
        # 01:30 doesn't exist on London's spring-forward day: the first valid time is 02:00 BST.
        (LONDON, date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 0)),
        (LONDON, date(2027, 3, 28), time(1, 30), utc(2027, 3, 28, 1, 0)),
        # 01:30 happens twice on the fall-back day: the first one (BST) counts.
        (LONDON, date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30)),
        (LONDON, date(2027, 10, 31), time(1, 30), utc(2027, 10, 31, 0, 30)),
        (LONDON, date(2026, 3, 30), time(1, 30), utc(2026, 3, 30, 0, 30)),
        (LONDON, date(2026, 10, 26), time(1, 30), utc(2026, 10, 26, 1, 30)),
        # New York springs forward from 02:00 to 03:00.
        (NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 0)),
        (NEW_YORK, date(2027, 3, 14), time(2, 30), utc(2027, 3, 14, 7, 0)),
        (NEW_YORK, date(2026, 3, 8), time(1, 30), utc(2026, 3, 8, 6, 30)),
        (NEW_YORK, date(2026, 3, 8), time(3, 0), utc(2026, 3, 8, 7, 0)),
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),
        (NEW_YORK, date(2027, 11, 7), time(1, 30), utc(2027, 11, 7, 5, 30)),
        (NEW_YORK, date(2026, 11, 2), time(1, 30), utc(2026, 11, 2, 6, 30)),
        # Sydney: 01:30 is untouched on both change days; 02:30 is doubled, then skipped.
        (SYDNEY, date(2026, 4, 5), time(1, 30), utc(2026, 4, 4, 14, 30)),
        (SYDNEY, date(2026, 10, 4), time(1, 30), utc(2026, 10, 3, 15, 30)),
        (SYDNEY, date(2026, 4, 5), time(2, 30), utc(2026, 4, 4, 15, 30)),
        (SYDNEY, date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 16, 0)),
        (SYDNEY, date(2027, 4, 4), time(2, 30), utc(2027, 4, 3, 15, 30)),
        (SYDNEY, date(2027, 10, 3), time(2, 30), utc(2027, 10, 2, 16, 0)),
    ],
)
def test_next_run_across_dst_changes(
    tz: ZoneInfo, day: date, at: time, expected: datetime
) -> None:
    # From the previous evening, the run on the change day is the next one.
    evening = instant_on(day - timedelta(days=1), time(20, 0), tz)
    assert next_run(at, tz, EVERY_DAY, evening) == (expected, day)
    assert instant_on(day, at, tz) == expected


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        (LONDON, date(2026, 10, 25)),
        (LONDON, date(2027, 10, 31)),
        (NEW_YORK, date(2026, 11, 1)),
        (NEW_YORK, date(2027, 11, 7)),
    ],
)
def test_a_doubled_time_runs_once(tz: ZoneInfo, day: date) -> None:
    first = instant_on(day, time(1, 30), tz)
    # Just after the first 01:30 (and after the second, an hour later) the next run is the
    # following day, not the repeat.
    for after in (first, first + timedelta(hours=1)):
        assert next_run(time(1, 30), tz, EVERY_DAY, after).local_day == day + timedelta(days=1)


def test_a_skipped_time_runs_once() -> None:
    gap_end = utc(2026, 3, 29, 1, 0)
    assert next_run(time(1, 30), LONDON, EVERY_DAY, gap_end) == (
        utc(2026, 3, 30, 0, 30),
        date(2026, 3, 30),
    )


def test_next_run_is_strictly_after() -> None:
    at_seven = utc(2026, 6, 1, 6, 0)  # 07:00 BST, a Monday
    assert next_run(time(7, 0), LONDON, EVERY_DAY, at_seven - timedelta(microseconds=1)) == (
        at_seven,
        date(2026, 6, 1),
    )
    assert next_run(time(7, 0), LONDON, EVERY_DAY, at_seven).local_day == date(2026, 6, 2)


def test_next_run_keeps_to_the_days() -> None:
    days = parse_days("mon,wed,fri")
    after = utc(2026, 6, 1, 6, 0)  # Monday 07:00 BST, just sent
    runs = []
    for _ in range(6):
        run = next_run(time(7, 0), LONDON, days, after)
        runs.append(run.local_day)
        after = run.due_utc
    assert [day.strftime("%a") for day in runs] == ["Wed", "Fri", "Mon", "Wed", "Fri", "Mon"]
    assert runs[0] == date(2026, 6, 3)


def test_next_run_uses_the_local_day() -> None:
    # 23:30 UTC on Sunday is already Monday morning in Sydney.
    after = utc(2026, 6, 7, 23, 30)
    run = next_run(time(7, 0), SYDNEY, parse_days("mon"), after)
    assert run == (utc(2026, 6, 7, 21, 0) + timedelta(days=7), date(2026, 6, 15))
    run = next_run(time(10, 0), SYDNEY, parse_days("mon"), after)
    assert run == (utc(2026, 6, 8, 0, 0), date(2026, 6, 8))


def test_next_run_needs_an_aware_time_and_some_days() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run(time(7, 0), LONDON, EVERY_DAY, datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(InvalidDays):
        next_run(time(7, 0), LONDON, (), utc(2026, 1, 1))


ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a 30-minute change
    "Pacific/Chatham",
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Asia/Beirut",
    "Pacific/Apia",  # skipped a whole day in 2011
    "Europe/Dublin",  # negative DST in the tz database
    "Asia/Kolkata",
    "UTC",
]


@given(
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 1, 15, 29, 30, 31, 45, 59]),
    days=st.sets(st.integers(0, 6), min_size=1),
    after=st.datetimes(
        min_value=datetime(2005, 1, 1),  # noqa: DTZ001
        max_value=datetime(2040, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_next_run_properties(
    zone: str, hour: int, minute: int, days: set[int], after: datetime
) -> None:
    tz = ZoneInfo(zone)
    at = time(hour, minute)
    due, day = next_run(at, tz, days, after)
    assert due > after
    assert day.weekday() in days
    local = due.astimezone(tz)
    if (local.date(), local.time()) != (day, at):
        # Only in a gap: the wall time never happened that day, and the run is the first
        # instant after it.
        wall = datetime.combine(day, at, tzinfo=tz)
        round_trip = wall.astimezone(UTC).astimezone(tz)
        assert (round_trip.date(), round_trip.time()) != (day, at)
        before = (due - timedelta(seconds=1)).astimezone(tz)
        assert (before.date(), before.time()) < (day, at) < (local.date(), local.time())
    # Nothing scheduled was skipped between `after` and the run.
    previous = day - timedelta(days=1)
    while previous.weekday() not in days:
        previous -= timedelta(days=1)
    assert instant_on(previous, at, tz) <= after


def _offset(zone: ZoneInfo) -> timedelta | None:
    return datetime(2026, 7, 6, tzinfo=zone).utcoffset()


@pytest.mark.parametrize(
    ("typed", "hours"),
    [("GMT+2", 2), ("UTC+2", 2), ("utc +2", 2), ("UTC+02:00", 2), ("GMT-5", -5),
     ("UTC\u22125", -5), ("UTC+14", 14), ("UTC-12", -12)],
)  # fmt: skip
def test_utc_and_gmt_offsets_mean_what_people_mean(typed: str, hours: int) -> None:
    # Not IANA's Etc/GMT+2, which is UTC-2 (its sign is POSIX's): the offset people mean,
    # suggested and confirmed in a spelling that reads the same way.
    zone = parse_timezone(typed)
    assert _offset(zone) == timedelta(hours=hours)
    assert is_fixed_offset(zone)
    assert zone_name(zone) == f"UTC{hours:+d}"
    assert parse_timezone(zone_name(zone)) == zone
    assert timezone_suggestions(typed) == [zone_name(zone)]


def test_fixed_zones_are_shown_as_the_offset_they_are_and_never_suggested_first() -> None:
    assert zone_name(parse_timezone("Etc/GMT+2")) == "UTC-2"  # typed as IANA names it
    # A schedule saved in tzdb's EST (UTC-5 all year) before "EST" was read as New York.
    assert zone_name(ZoneInfo("EST")) == "UTC-5"  # not New York's clock in summer
    assert zone_name(parse_timezone("Europe/Berlin")) == "Europe/Berlin"
    assert timezone_suggestions("est")[0] == "America/New_York"
    assert timezone_suggestions("gmt")[0] == "Europe/London"
    for prefix in ("e", "est", "mst", "hst", "gmt", "utc", "etc"):
        suggested = timezone_suggestions(prefix, limit=1000)
        assert not {"EST", "MST", "HST", "GMT"} & set(suggested), prefix
        assert not any(name.startswith("Etc/") for name in suggested), prefix
        for name in suggested:
            parse_timezone(name)
    with pytest.raises(UnknownTimezone):
        parse_timezone("UTC+5:75")


@pytest.mark.parametrize(
    ("typed", "zone"),
    [("EST", "America/New_York"), ("edt", "America/New_York"), ("PST", "America/Los_Angeles"),
     ("pdt", "America/Los_Angeles"), ("CET", "Europe/Berlin"), ("CEST", "Europe/Berlin"),
     ("AEDT", "Australia/Sydney"), ("HST", "Pacific/Honolulu"), ("JST", "Asia/Tokyo")],
)  # fmt: skip
def test_an_abbreviation_one_place_uses_is_that_places_clock(typed: str, zone: str) -> None:
    # Daylight saving included: in July "EST" typed in New York means UTC-4, New York's
    # clock then. The confirmation names the place, a guess they can correct.
    assert parse_timezone(typed) == ZoneInfo(zone)
    assert not is_fixed_offset(parse_timezone(typed))
    assert guessed_zone(typed)
    assert timezone_suggestions(typed)[0] == zone


@pytest.mark.parametrize(
    ("typed", "places"),
    [("IST", ("Asia/Kolkata", "Asia/Jerusalem", "Europe/Dublin")),
     ("cst", ("America/Chicago", "Asia/Shanghai")),
     ("MST", ("America/Denver", "America/Phoenix")),  # Phoenix keeps no daylight saving
     ("AEST", ("Australia/Sydney", "Australia/Brisbane"))],
)  # fmt: skip
def test_an_abbreviation_several_places_use_names_them(
    typed: str, places: tuple[str, ...]
) -> None:
    with pytest.raises(UnknownTimezone) as raised:
        parse_timezone(typed)
    assert raised.value.places == places
    assert raised.value.value == typed
    assert timezone_suggestions(typed)[: len(places)] == list(places)


@pytest.mark.parametrize("typed", ["UTC+5:30", "utc+0530", "GMT+05:30", "+05:30", "+0530"])
def test_a_half_hour_offset_names_the_places_on_it(typed: str) -> None:
    # No Etc zone is UTC+5:30, and zones are stored by name: India's or Sri Lanka's.
    with pytest.raises(UnknownTimezone) as raised:
        parse_timezone(typed)
    assert raised.value.places == ("Asia/Kolkata", "Asia/Colombo")
    assert timezone_suggestions(typed)[:2] == ["Asia/Kolkata", "Asia/Colombo"]


@pytest.mark.parametrize(
    ("typed", "zone"),
    [("GMT+05:45", "Asia/Kathmandu"), ("UTC+4:30", "Asia/Kabul"), ("UTC+3:30", "Asia/Tehran"),
     ("-03:30", "America/St_Johns"), ("UTC-9:30", "Pacific/Marquesas")],
)  # fmt: skip
def test_an_offset_only_one_place_keeps_is_that_place(typed: str, zone: str) -> None:
    assert parse_timezone(typed) == ZoneInfo(zone)
    assert guessed_zone(typed)


def test_names_and_whole_hour_offsets_are_no_guess() -> None:
    for typed in ("Europe/London", "london", "UTC+2", "+0200", "UTC", "GMT"):
        assert not guessed_zone(typed), typed
    assert parse_timezone("west") == ZoneInfo("Australia/West")  # a place, not WEST
    assert zone_name(parse_timezone("+0200")) == "UTC+2"
    assert zone_name(parse_timezone("-0000")) == "UTC"

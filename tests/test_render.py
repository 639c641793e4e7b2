"""Templates render under StrictUndefined; user text is escaped on every platform."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from bot.engine.core import help_page
from bot.model import Choice, Platform, Reply
from bot.render import LIMITS, Renderer, split_message, to_platform
from bot.store.reps import Standing
from tests.isolates import FSI, PDI, isolated, shown

PROGRESS = {
    "totals": {"bridge": 40, "lunge": 10},
    "today": {"bridge": 20},
    "targets": {"bridge": 24, "lunge": 6},
    "plan": {"bridge_sets": 2, "bridge_reps_per_set": 12, "bridge_total": 24,
             "lunge_per_side": 6},
    "sessions_this_week": 1, "sessions_goal": 2, "streak": 1, "week": 2, "weeks": 4,
    "complete": False, "weeks_on_goal": 1, "kept_up": False,
}  # fmt: skip
CHECK = {"band": "likely", "symptom_count": 3, "day": date(2026, 3, 2)}
ENTRY = {"exercise": "lunge", "reps": 6, "per_side": True, "today": 12}
STEP = {"step": 1, "steps": 5}
QUESTION = {"number": 1, "total": 9}

# User text in the samples is right to left (see test_user_text_shows_isolated):
MARYAM = "مريم"  # a name
TYPED = "שלום 15"  # something typed
# One sample context per template: a new template without a sample fails the suite.
SAMPLES: dict[str, dict[str, Any]] = {
    "welcome": {"returning": False, "away": False},
    "menu": {},
    "learn": {},
    "help": {"platform": "console"},
    "cancelled": {"was_busy": True},
    "not_understood": {
        "text": TYPED,
        "explain": True,
        "in_flow": True,
        "yes_no": True,
        "platform": "telegram",
        "warned": False,
    },
    "unknown_command": {"command": "مرحبا"},
    "stale_button": {},
    "error": {},
    "resume": {"flow": "walk_bridge", "away": True},
    "already_logged": {},
    "log_problem": {
        "problem": "several_exercises",
        "max": 500,
        "parts": [{"reps": 15, "exercise": "bridge"}, {"reps": 1, "exercise": "lunge"}],
        "in_group": False,
    },
    "logged": {
        "entries": [ENTRY],
        "raised": {"lunge": 6},
        "new_streak": True,
        "progress": PROGRESS,
    },
    "undone": {"entries": [ENTRY], "day": date(2026, 3, 1), "today": date(2026, 3, 2)},
    "undo_nothing": {},
    "workout": {"progress": PROGRESS, "recheck_due": True, "checked_before": True},
    "stats": {
        "progress": PROGRESS,
        "first_check": CHECK,
        "latest_check": CHECK,
        "warning": CHECK,
        "recheck_due": False,
        "in_check": False,
    },
    "forget/confirm": {"elsewhere": True},
    "forget/done": {},
    "forget/kept": {},
    "check/intro": {},
    "check/urgent_flag": {},
    "check/red_flag": {},
    "check/hold": {"flag": "red_flag"},
    "check/unsure": {"kind": "urgent_flag"},
    "check/yes_or_no": {},
    "check/result": {
        "band": "possible",
        "symptoms": ["weaker_lifts"],
        "risks": ["posture"],
        "symptom_count": 1,
        "symptom_total": 4,
        "first_count": 3,
        "first_date": date(2026, 2, 1),
    },
    "check/why": {},
    "check/plan": {"progress": PROGRESS},
    "pain": {"stopped": True},
    "exercise/finish": {
        "exercise": "lunge",
        "target": None,
        "start": 5,
        "most": 10,
        "per_side": True,
        "in_group": True,
    },
    "exercise/last_step": {"exercise": "bridge"},
    "remind/console": {},
    "remind/none": {"platform": "console"},
    "remind/off": {},
    "remind/kept": {},
    "remind/reachable_again": {"time": time(7, 30), "tz": "UTC+2", "days": "daily"},
    "remind/current": {
        "time": time(7, 30),
        "tz": "Europe/London",
        "fixed": False,
        "days": "mon,wed,fri",
        "typed": True,
        "off_because": "paused",
    },
    "remind/ask_time": {"default_days": "mon,wed,fri", "typed": False},
    "remind/ask_zone": {"default_days": "mon,wed,fri", "typed": False},
    "remind/ask_days": {"default_days": "mon,wed,fri", "typed": False},
    "remind/invalid": {
        "field": "UnknownTimezone",
        "value": "القاهرة",
        "places": ("Asia/Kolkata", "Asia/Colombo"),
        "typed": True,
    },
    "remind/which_zone": {
        "value": "ירושלים",
        "places": ("Asia/Kolkata", "Asia/Jerusalem", "Europe/Dublin"),
        "typed": True,
    },
    "remind/set": {
        "time": time(7, 30),
        "tz": "UTC+2",
        "fixed": True,
        "days": "weekdays",
        "next": datetime(2026, 3, 3, 7, 30, tzinfo=UTC),
        "guessed": "القاهرة",
        "typed": True,
    },
    "remind/pause": {},
    "remind/workout": {"progress": PROGRESS, "recheck_due": True, "checked_before": False},
    "daily_post": {"plan": PROGRESS["plan"], "day": date(2026, 3, 2)},
    "community/server_only": {"platform": "telegram", "command": "leaderboard"},
    "community/no_daily_posts": {"platform": "telegram"},
    "community/admin_only": {},
    "community/setup_usage": {"slash": True, "missing_zone": True},
    "community/setup_off": {"was_on": True, "channel": "555"},
    "community/setup_invalid": {"field": "InvalidTime", "value": TYPED},
    "community/setup_no_access": {},
    "community/setup_done": {
        "channel": "123",
        "time": time(7, 30),
        "tz": "Europe/Berlin",
        "fixed": False,
        "days": "mon,wed,fri",
        "next": datetime(2026, 3, 4, 7, 30, tzinfo=UTC),
        "guessed": "ברלין",
    },
    "community/prompt_posted": {
        "channel": "123",
        "switched_off": {"reason": "gone", "time": time(7, 30), "tz": "UTC", "days": "daily"},
    },
    "community/leaderboard_visibility": {"hidden": True},
    "community/anonymous": {},
    "telegram/chosen": {"label": "Yes"},
    "telegram/continue_in_private": {
        "name": MARYAM,
        "link": "https://t.me/glutebot?start=check",
        "again": TYPED,
    },
    "telegram/sent_privately": {},
    "edited_log": {},
    "edited_unlogged": {"text": TYPED},
    "text_only": {"platform": "discord"},
    "quote_only": {},
    "earlier_question": {},
    "discord/slash_instead": {"command": "undo"},
    "discord/channel_gone": {},
    "discord/post_failed": {"channel": "555"},
    "discord/post_try_again": {"channel": "555"},
    "discord/reminders_here": {"time": time(7, 30), "tz": "Europe/London", "days": "weekdays"},
    "discord/dms_closed": {
        "time": time(7, 30),
        "tz": "Europe/London",
        "days": "weekdays",
        "server": "نادي",
    },
    "discord/reminders_paused": {"server": "نادي"},
    "thanks": {},
    "community/leaderboard": {
        "week": [(1, Standing(MARYAM, 40, 2)), (1, Standing("דנה <3", 40, 2))],
        "all_time": [(1, Standing("", 40, 2))],
        "week_start": date(2026, 3, 2),
        "week_end": date(2026, 3, 8),
        "hidden": False,
    },
}


def sample(name: str) -> dict[str, Any]:
    if name.startswith("check/q_"):
        return QUESTION
    if name.startswith(("exercise/bridge_", "exercise/lunge_")):
        return STEP
    return SAMPLES[name]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_every_template_has_a_sample(renderer: Renderer) -> None:
    for name in renderer.template_names():
        assert sample(name) is not None, name


@pytest.mark.parametrize("platform", list(Platform))
def test_every_template_renders_on_every_platform(renderer: Renderer, platform: Platform) -> None:
    for name in renderer.template_names():
        text = renderer.render(Reply(name, sample(name)), platform).text
        assert text.strip(), name
        assert "{{" not in text, name
        assert "{%" not in text, name
        assert len(text) <= LIMITS[platform], name


def test_no_template_numbers_its_lines_as_the_terminal_numbers_options(
    renderer: Renderer,
) -> None:
    """In the terminal a typed number picks an option, listed as "1. …" under the text.
    The workout listed its exercises as "1. Glute bridge", "2. Lunge" right above "1. I
    did it ✅": a "1" typed to ask about the bridge logged a whole session."""
    numbered = re.compile(r"^\s*\d+[.)] ", re.MULTILINE)
    ranked = {"community/leaderboard"}  # places on a board, which comes with no options
    for name in set(renderer.template_names()) - ranked:
        text = renderer.render(Reply(name, sample(name)), Platform.CONSOLE).text
        assert not numbered.search(text), name


def test_every_label_key_used_by_choices_exists(renderer: Renderer) -> None:
    from bot.engine import menus, walkthrough
    from bot.engine.checkup import AFTER_RESULT
    from bot.flows.check import QUESTIONS

    choices: list[Choice] = [*menus.MAIN_MENU, *menus.LEARN_MENU, *AFTER_RESULT,
                             walkthrough.NEXT, walkthrough.BACK]  # fmt: skip
    choices += [c for q in QUESTIONS for c in q.choices]
    for choice in choices:
        assert renderer.button(choice).label


def test_example_lunge_logs_stay_in_the_range_taught_and_count_per_side(
    renderer: Renderer,
) -> None:
    """The lunge is taught as 5 to 10 per side, and "done 8 lunges" logs 8 per side: an
    example of more than 10 teaches otherwise, and the help page says how they count."""
    from bot.flows.exercises import LUNGE

    example = re.compile(r"done (\d+) lunges?")
    for name in renderer.template_names():
        context = sample(name)
        if name == "log_problem":
            context = {**context, "parts": []}  # its own examples, not what was typed
        for platform in Platform:
            text = renderer.render(Reply(name, context), platform).text
            for count in map(int, example.findall(text)):
                assert LUNGE.start_target <= count <= LUNGE.max_target, (name, count)
    for platform in Platform:
        assert "per side" in renderer.render(help_page(platform), platform).text


HOSTILE = "<b>&amp; *bold* _x_ {{ 7*7 }} {% if 1 %}x{% endif %} `code` @everyone 🍑"


def test_user_text_is_never_markup_or_template(renderer: Renderer) -> None:
    reply = Reply("not_understood", {"text": HOSTILE, "explain": False, "in_flow": False,
                                     "platform": "telegram"})  # fmt: skip
    telegram = renderer.render(reply, Platform.TELEGRAM).text
    assert "&lt;b&gt;&amp;amp; *bold*" in telegram
    assert "{{ 7*7 }}" in telegram
    assert "49" not in telegram
    discord = renderer.render(reply, Platform.DISCORD).text
    assert "<b>&amp; \\*bold\\* \\_x\\_" in discord
    assert "\\`code\\`" in discord
    console = renderer.render(reply, Platform.CONSOLE).text
    assert HOSTILE in console


def test_the_terminal_sees_control_characters_as_symbols(renderer: Renderer) -> None:
    typed = "a\x1b[31mred\x07\x00b\x9b"
    reply = Reply("not_understood", {"text": typed, "explain": False, "in_flow": False,
                                     "platform": "console"})  # fmt: skip
    console = renderer.render(reply, Platform.CONSOLE).text
    assert "a␛[31mred␇␀b�" in console
    assert not any(ord(ch) < 0x20 and ch != "\n" for ch in console)


# Every line break str.splitlines() knows but "\n", which a name or typed text may hold.
LINE_BREAKS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.mark.parametrize("platform", list(Platform))
def test_user_text_never_starts_a_line_of_its_own(renderer: Renderer, platform: Platform) -> None:
    """Only the template's own lines are lines: a name holding U+2028 could otherwise add
    leaderboard entries of its own. Such separators show as spaces."""
    name = "".join(f"{i}{sep}# forged" for i, sep in enumerate(LINE_BREAKS))
    standing = Standing(name, 10, 1)
    reply = Reply("community/leaderboard", {**sample("community/leaderboard"),
                                            "week": [(1, standing)]})  # fmt: skip
    text = renderer.render(reply, platform).text

    assert not set(LINE_BREAKS) & set(text)
    [entry] = [shown(line) for line in text.splitlines() if "forged" in line]
    assert entry.startswith("1\\. 0 " if platform is Platform.DISCORD else "1. 0 ")
    assert entry.endswith(": 10 reps, 1 session")


def _right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


@pytest.mark.parametrize("platform", [Platform.TELEGRAM, Platform.DISCORD])
def test_user_text_shows_isolated(renderer: Renderer, platform: Platform) -> None:
    """A right-to-left name or typed text turns the whole line right to left when it
    comes first, and scrambles the numbers after it: each piece of user text a template
    shows is isolated (the samples' user text is all right to left), and the isolates
    hold nothing else."""
    for name in renderer.template_names():
        context = sample(name)
        text = renderer.render(Reply(name, context), platform).text
        pieces = isolated(text)
        outside = re.sub(f"{FSI}[^{PDI}]*{PDI}", "", text)
        assert not _right_to_left(outside), (name, text)
        for piece in pieces:
            assert _right_to_left(piece), (name, piece)


def test_a_right_to_left_name_first_keeps_its_line_left_to_right(renderer: Renderer) -> None:
    """A line such as "1. مريم: 40 reps" took its direction from the name, right to left,
    and showed with its place and reps moved around: the name is isolated, so the line
    keeps the template's direction."""
    reply = Reply("community/leaderboard", sample("community/leaderboard"))
    lines = {platform: renderer.render(reply, platform).text.splitlines() for platform in Platform}
    assert f"1. {FSI}{MARYAM}{PDI}: 40 reps, 2 sessions" in lines[Platform.TELEGRAM]
    assert f"1\\. {FSI}{MARYAM}{PDI}: 40 reps, 2 sessions" in lines[Platform.DISCORD]
    assert f"1. {FSI}דנה &lt;3{PDI}: 40 reps, 2 sessions" in lines[Platform.TELEGRAM]
    # No one's name: the board's own words, not isolated.
    assert "1. A member: 40 reps, 2 sessions" in lines[Platform.TELEGRAM]
    # The terminal: no direction controls at all (see _MARKS in bot/render.py).
    assert f"1. {MARYAM}: 40 reps, 2 sessions" in lines[Platform.CONSOLE]
    assert not isolated("\n".join(lines[Platform.CONSOLE]))


def test_direction_controls_a_user_sent_never_unbalance_the_isolates(renderer: Renderer) -> None:
    """An early pop directional isolate, or an override, in a name would end the bot's
    isolate early or reverse the rest of the line: all are dropped, the pair stays."""
    name = "\u2069\u202eevil\u2066\u2067\u2068\u200f\u061c"
    context = {**sample("community/leaderboard"), "week": [(1, Standing(name, 5, 1))]}
    for platform in (Platform.TELEGRAM, Platform.DISCORD):
        text = renderer.render(Reply("community/leaderboard", context), platform).text
        assert isolated(text) == ["evil"], repr(text)


def test_an_isolate_ends_with_its_line() -> None:
    """A value holding "\\n" (none of the platforms' names can) still leaves each line
    with balanced isolates: isolates end at a paragraph's end anyway."""
    text = to_platform("1. <bdi>a\nb</bdi>: 5 reps", Platform.TELEGRAM)
    assert text == f"1. {FSI}a{PDI}\n{FSI}b{PDI}: 5 reps"
    assert isolated(text) == ["a", "b"]


def test_a_name_at_a_line_start_is_escaped_inside_its_isolate() -> None:
    """Discord reads "#", ">" and "-#" at a line's start as markup: an isolate's mark,
    which shows nothing, doesn't make a name after it safe to leave unescaped."""
    markup = "<bdi># big</bdi> and\n<bdi>&gt; quote</bdi>\n<bdi>1. one</bdi>"
    text = to_platform(markup, Platform.DISCORD)
    assert text == f"{FSI}\\# big{PDI} and\n{FSI}\\> quote{PDI}\n{FSI}1\\. one{PDI}"


def test_template_markup_becomes_platform_markup() -> None:
    markup = "<b>Bold</b> and <i>it</i> &amp; more"
    assert to_platform(markup, Platform.TELEGRAM) == "<b>Bold</b> and <i>it</i> &amp; more"
    assert to_platform(markup, Platform.DISCORD) == "**Bold** and *it* & more"
    assert to_platform(markup, Platform.CONSOLE) == "Bold and it & more"


def test_split_prefers_paragraphs_and_respects_the_limit() -> None:
    text = "\n\n".join(["a" * 30, "b" * 30, "c" * 30])
    assert split_message(text, 70) == ["a" * 30 + "\n\n" + "b" * 30, "c" * 30]
    long = "x" * 25 + " &amp; " + "y" * 25
    parts = split_message(long, 28)
    assert all(len(p) <= 28 for p in parts)
    assert "".join(parts) == long
    assert not any(p.endswith(("&", "&amp")) for p in parts)


def test_a_hard_cut_never_splits_an_isolate() -> None:
    """A line too long for one message is cut hard; half an isolate in each part would
    leave one part's isolate open (reordering the rest) and the next one's stray."""
    line = "x" * 25 + f" {FSI}مريم 15{PDI} " + "y" * 25
    parts = split_message(line, 30)
    assert all(len(p) <= 30 for p in parts)
    assert "".join(parts) == line
    assert [piece for part in parts for piece in isolated(part)] == ["مريم 15"]


def _renderer_with(tmp_path: Path, template: str) -> Renderer:
    root = tmp_path / "en"
    root.mkdir()
    (root / "labels.toml").write_text("[labels]\n", encoding="utf-8")
    (root / "probe.j2").write_text(template, encoding="utf-8")
    return Renderer(messages_dir=tmp_path)


def test_remembered_texts_depend_on_each_value_and_its_type(tmp_path: Path) -> None:
    renderer = _renderer_with(tmp_path, "value: {{ value }}\n")
    rendered = [
        renderer.render(Reply("probe", {"value": value}), Platform.CONSOLE).text
        for value in (True, 1, 1.0, "1", None, True)
    ]
    assert rendered == [
        "value: True", "value: 1", "value: 1.0", "value: 1", "value: None", "value: True"
    ]  # fmt: skip
    telegram = renderer.render(Reply("probe", {"value": "<b>"}), Platform.TELEGRAM).text
    assert telegram == "value: &lt;b&gt;"  # the platform is part of what is remembered
    assert renderer.render(Reply("probe", {"value": "<b>"}), Platform.CONSOLE).text == (
        "value: <b>"
    )


def test_a_missing_value_fails_every_time_not_only_the_first(tmp_path: Path) -> None:
    renderer = _renderer_with(tmp_path, "{{ value }}\n")
    for _ in range(2):
        with pytest.raises(jinja2.UndefinedError):
            renderer.render(Reply("probe", {}), Platform.CONSOLE)

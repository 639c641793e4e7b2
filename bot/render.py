"""Turns a `Reply` into the text a platform shows.

Templates are written in a tiny HTML subset (<b>, <i>, <code>; a tag never spans lines)
and rendered with autoescape, so anything a user typed arrives as escaped text. The
result is then walked once and re-emitted in the platform's own markup: Telegram HTML,
Discord markdown, or plain text for the console. User text can therefore never become
markup on any platform, and it is never template source.

Templates put each piece of user text they show (a name, what someone typed) in <bdi>,
HTML's element for text whose direction is unknown. On Telegram and Discord it becomes a
first strong isolate (U+2068) before the text and a pop directional isolate (U+2069) after
it (Unicode TR9, as browsers show <bdi>): a name in Arabic or Hebrew at the start of a line
then no longer turns the whole line right to left, and it keeps its own order inside a
line of another direction. These pairs are the only direction controls the bot sends: the
ones in user text are dropped, so none can unbalance or imitate the bot's own.
"""

from __future__ import annotations

import bisect
import functools
import html
import re
import sys
import tomllib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from bot.model import Choice, Platform, Reply


def _messages_dir() -> Path:
    # In a checkout (and an editable install) the templates sit beside the package; a
    # regular install puts them under <prefix>/share/glutebot (pyproject's data-files).
    beside = Path(__file__).resolve().parent.parent / "messages"
    return beside if beside.is_dir() else Path(sys.prefix) / "share" / "glutebot" / "messages"


MESSAGES_DIR = _messages_dir()
TEMPLATE_SUFFIX = ".j2"

# Longest message each platform accepts, in characters.
LIMITS = {Platform.TELEGRAM: 4096, Platform.DISCORD: 2000, Platform.CONSOLE: 100_000}
# Most messages go out again and again with the same few plain values ("question 3 of
# 9", the label just pressed): their text is kept rather than rendered every time.
_PLAIN = frozenset({str, int, float, bool, type(None)})
REMEMBERED_TEXTS = 512

# First strong isolate and pop directional isolate: what <bdi> becomes (see above).
ISOLATE = ("\u2068", "\u2069")
_MARKS = {
    Platform.TELEGRAM: {
        "b": ("<b>", "</b>"),
        "i": ("<i>", "</i>"),
        "code": ("<code>", "</code>"),
        "bdi": ISOLATE,
    },
    Platform.DISCORD: {"b": ("**", "**"), "i": ("*", "*"), "code": ("`", "`"), "bdi": ISOLATE},
    # Most terminals don't order text by direction at all, and some draw these controls as
    # boxes or shift the columns after them; and a console chat holds no one else's name.
    Platform.CONSOLE: {"b": ("", ""), "i": ("", ""), "code": ("", ""), "bdi": ("", "")},
}


@dataclass(frozen=True)
class Button:
    value: str
    label: str


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[Button, ...] = ()


class Renderer:
    def __init__(self, locale: str = "en", messages_dir: Path = MESSAGES_DIR) -> None:
        root = messages_dir / locale
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates ship with the code: don't stat their files on every render.
            auto_reload=False,
        )
        self.labels: Mapping[str, str] = tomllib.loads(
            (root / "labels.toml").read_text(encoding="utf-8")
        )["labels"]
        self._remembered = functools.lru_cache(maxsize=REMEMBERED_TEXTS)(self._plain_text)

    def template_names(self) -> list[str]:
        return [
            name.removesuffix(TEMPLATE_SUFFIX)
            for name in self._env.list_templates(extensions=[TEMPLATE_SUFFIX.lstrip(".")])
            if not name.rsplit("/", 1)[-1].startswith("_")
        ]

    def render(self, reply: Reply, platform: Platform) -> Rendered:
        context = reply.context
        if all(type(value) in _PLAIN for value in context.values()):
            # With each value's type: True == 1 == 1.0, but they don't render alike.
            key = tuple((name, type(value), value) for name, value in context.items())
            text = self._remembered(reply.template, platform, key)
        else:
            text = self._text(reply.template, context, platform)
        return Rendered(text, tuple(self.button(choice) for choice in reply.choices))

    def _plain_text(
        self, template: str, platform: Platform, key: tuple[tuple[str, type, Hashable], ...]
    ) -> str:
        return self._text(template, {name: value for name, _, value in key}, platform)

    def _text(self, template: str, context: Mapping[str, Any], platform: Platform) -> str:
        source = self._env.get_template(template + TEMPLATE_SUFFIX).render(context)
        return to_platform(source, platform)

    def button(self, choice: Choice) -> Button:
        return Button(choice.value, self.labels[choice.label])


def to_platform(markup: str, platform: Platform) -> str:
    # The template's own lines only: splitlines() would also break at what a name or typed
    # text may hold (U+2028, \v, ...), letting it add lines of its own (see `escape`).
    lines = (_convert_line(line, platform) for line in markup.strip().split("\n"))
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Autoescape guarantees that user text holds no raw "<", so in rendered markup these are
# always the template's own: its tags, and its mentions of a Discord channel ("<#123>");
# anything else is text (with HTML entities).
_TAG = re.compile(r"<(/?)(b|i|code|bdi)>|<#\d+>")


def _convert_line(line: str, platform: Platform) -> str:
    marks = _MARKS[platform]
    out: list[str] = []
    position = 0
    isolates = 0  # opened on this line and not closed yet
    for tag in _TAG.finditer(line):
        _text(line[position : tag.start()], platform, out)
        closing = bool(tag.group(1))
        if tag.group(2) == "bdi":
            # An isolate ends with its line. One a value's own "\n" carried over from the
            # line before is opened again at this line's start; one left open is closed.
            if closing and not isolates:
                out.insert(0, marks["bdi"][0])
            else:
                isolates += -1 if closing else 1
            out.append(marks["bdi"][closing])
        elif tag.group(2) is not None:
            out.append(marks[tag.group(2)][closing])
        elif platform is Platform.DISCORD:
            out.append(tag.group(0))  # a channel mention Discord shows as a link
        else:
            _text(tag.group(0), platform, out)
        position = tag.end()
    _text(line[position:], platform, out)
    out.extend(marks["bdi"][1] for _ in range(isolates))
    if platform is Platform.DISCORD:
        # Discord numbers "1. " lines as a list of its own (1, 2, 3), whatever the number
        # written: a leaderboard's shared places ("1, 1, 3") must show as written.
        return _DISCORD_NUMBERED.sub(r"\1\\.", "".join(out))
    return "".join(out)


def _text(chunk: str, platform: Platform, out: list[str]) -> None:
    if chunk:
        # An isolate's mark shows nothing: a name right after one still starts its line.
        at_line_start = _BLANK.fullmatch("".join(out)) is not None
        out.append(escape(html.unescape(chunk), platform, at_line_start=at_line_start))


# Discord markdown: characters that format anywhere, and what formats only at a line's
# start (headings, quotes, subtext). Masked links need "[", so escaping it is enough; every
# "<…>" token (a mention of a member, role or channel, a timestamp, an emoji, a command)
# needs its "<", so that one is escaped too.
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|\[<])")
_DISCORD_LINE_START = re.compile(r"^(\s*)(#|>|-#)")
_DISCORD_NUMBERED = re.compile(r"^([\s\u2068]*\d+)\.(?=\s)")
_BLANK = re.compile(r"[\s\u2068\u2069]*")
# Bidirectional controls (embeddings, overrides, isolates, marks) reorder the rest of a
# line: a name could make the text after it read backwards, or end the bot's isolate
# around it early. Dropped from user text on Telegram and Discord, where one person's
# name reaches a whole group (the bot's own isolates come from <bdi>, never from text).
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# Line breaks other than "\n", as str.splitlines() and the apps that show messages read them.
# Inside a value (a name, typed text) they would start a line the template never wrote: a
# nickname could forge leaderboard lines. Shown as spaces.
_LINE_BREAKS = re.compile("[\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def escape(text: str, platform: Platform, *, at_line_start: bool = True) -> str:
    """Make literal text safe for the platform's markup."""
    text = _LINE_BREAKS.sub(" ", text)
    if platform is Platform.TELEGRAM:
        return html.escape(_BIDI_CONTROLS.sub("", text), quote=False)
    if platform is Platform.DISCORD:
        return _discord_escape(text, at_line_start=at_line_start)
    # A terminal acts on control characters (escape sequences move the cursor, change
    # colours, retitle the window): show them as symbols instead.
    return _TERMINAL_CONTROL.sub(_control_picture, text)


def _discord_escape(text: str, *, at_line_start: bool) -> str:
    text = _DISCORD_SPECIAL.sub(r"\\\1", _BIDI_CONTROLS.sub("", text))
    return _DISCORD_LINE_START.sub(r"\1\\\2", text) if at_line_start else text


_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode's control pictures: ␛ for ESC
    return "␡" if code == 0x7F else "�"


# How long a platform counts a text.
Measure = Callable[[str], int]


def split_message(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Cut text into messages no longer than `limit`, at paragraph breaks if possible, then
    at line breaks; a single overlong line is cut hard.

    `measure` counts a text's length as the platform does (default: in characters). It
    must add up across line breaks, as counting what markup shows does: a tag or an
    entity never spans lines.
    """
    parts: list[str] = []
    current: list[str] = []
    size = 0
    gap = measure("\n\n")
    for paragraph in text.split("\n\n"):
        for piece, length in _fit(paragraph, limit, measure):
            if current and size + gap + length <= limit:
                current.append(piece)
                size += gap + length
                continue
            if current:
                parts.append("\n\n".join(current))
            current, size = [piece], length
    if current or not parts:
        parts.append("\n\n".join(current))
    return parts


def _fit(paragraph: str, limit: int, measure: Measure) -> list[tuple[str, int]]:
    """The paragraph in pieces that fit, each with its length."""
    length = measure(paragraph)
    if length <= limit:
        return [(paragraph, length)]
    pieces: list[tuple[str, int]] = []
    newline = measure("\n")
    for line in paragraph.split("\n"):
        while (length := measure(line)) > limit:
            cut = _hard_cut(line, limit, measure)
            pieces.append((line[:cut], measure(line[:cut])))
            line = line[cut:]
        if pieces and pieces[-1][1] + newline + length <= limit:
            pieces[-1] = (f"{pieces[-1][0]}\n{line}", pieces[-1][1] + newline + length)
        else:
            pieces.append((line, length))
    return pieces


def _hard_cut(line: str, limit: int, measure: Measure) -> int:
    """Where to cut an overlong line: after as long a start as fits, but never inside an
    HTML entity or tag (Telegram rejects a message that ends with half of "&amp;" or "<b"),
    nor inside an isolate (half of one would reorder all that follows it)."""
    # One past a length that bisect_right found to fit (the empty start always does).
    after = bisect.bisect_right(range(len(line) + 1), limit, key=lambda end: measure(line[:end]))
    chunk = line[: after - 1]
    cut = len(chunk)
    for opener, closer in (("&", ";"), ("<", ">"), ISOLATE):
        start = chunk.rfind(opener)
        if start > 0 and closer not in chunk[start:]:
            cut = min(cut, start)
    return max(cut, 1)

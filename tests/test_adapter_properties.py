"""Property tests over the adapters' translation: whatever people type or call
themselves, reading it never fails and what the bot sends is well-formed markup."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Message, User

from bot.adapters.discord_wire import setup_channel
from bot.adapters.telegram_wire import telegram_length, what_was_said
from bot.engine.turn import echo
from bot.model import Platform, Reply
from bot.render import LIMITS, Renderer, escape, split_message
from tests.fakes.telegram_api import parse_html
from tests.isolates import isolated

RENDERER = Renderer()
ME = User(id=99, first_name="glutebot", is_bot=True, username="glutebot_test")
ANY_TEXT = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["<b>", "</i>", "&amp;", "&", "*x*", "__", "`", "{{ 7*7 }}", "@everyone",
                     "<@123>", "/done@glutebot_test 5", "@glutebot_test done 5", "\u202e"]),
)  # fmt: skip


def telegram_message(text: str, chat_type: str, command_length: int) -> Message:
    data: dict[str, Any] = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 5 if chat_type == "private" else -5, "type": chat_type},
        "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
        "text": text,
    }
    if command_length and text.startswith("/"):
        data["entities"] = [{"type": "bot_command", "offset": 0, "length": command_length}]
    return Message.de_json(data, None)


@given(ANY_TEXT, st.sampled_from(["private", "group", "supergroup"]), st.integers(0, 40))
def test_reading_any_telegram_message_never_fails(
    text: str, chat_type: str, command_length: int
) -> None:
    said = what_was_said(telegram_message(text, chat_type, command_length), ME)
    if said is not None:
        assert isinstance(said.text, str)
        assert len(said.text) <= len(text)


class _TelegramHtml(HTMLParser):
    """Accepts exactly what Telegram's HTML parse mode accepts from us."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ("b", "i", "code"), tag
        assert not attrs
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag

    def handle_entityref(self, name: str) -> None:
        assert name in ("lt", "gt", "amp", "quot"), name


def rendered_echo(text: str, platform: Platform) -> str:
    reply = Reply("not_understood", {"text": echo(text), "explain": True, "in_flow": True,
                                     "yes_no": True, "platform": platform.value})  # fmt: skip
    return RENDERER.render(reply, platform).text


@settings(max_examples=300)
@given(ANY_TEXT)
def test_telegram_html_is_well_formed_for_any_user_text(text: str) -> None:
    rendered = rendered_echo(text, Platform.TELEGRAM)
    for part in split_message(rendered, LIMITS[Platform.TELEGRAM]):
        checker = _TelegramHtml()
        checker.feed(part)
        checker.close()
        assert checker.open == []
        assert not re.search(r"&(?!(lt|gt|amp|quot);)", part)
    shown_text = html.unescape(re.sub(r"</?(b|i|code)>", "", rendered))
    assert isolated(shown_text) == ([echo(text)] if echo(text) else [])


@settings(max_examples=300)
@given(ANY_TEXT)
def test_discord_markdown_shows_any_user_text_literally(text: str) -> None:
    # Literally, but for the controls that would reorder the rest of the line: dropped, and
    # the text isolated instead.
    rendered = rendered_echo(text, Platform.DISCORD)
    literal = re.sub(r"\\([\\*_~`|\[#<>-])", r"\1", rendered)
    assert isolated(literal) == ([echo(text)] if echo(text) else [])
    assert len(rendered) <= LIMITS[Platform.DISCORD]


@given(st.text(max_size=60))
def test_reading_a_setup_channel_never_fails(text: str) -> None:
    channel = setup_channel(text)
    assert channel is None or channel >= 0


@given(
    ANY_TEXT,
    st.sampled_from(["private", "group", "supergroup"]),
    st.integers(0, 40),
    st.booleans(),
)
def test_a_caption_reads_like_text_and_a_forward_into_a_group_is_never_for_the_bot(
    text: str, chat_type: str, command_length: int, forwarded: bool
) -> None:
    typed = telegram_message(text, chat_type, command_length).to_dict()
    captioned = {key: value for key, value in typed.items() if key not in ("text", "entities")}
    captioned["caption"] = text
    if "entities" in typed:
        captioned["caption_entities"] = typed["entities"]
    captioned["photo"] = [{"file_id": "p", "file_unique_id": "up", "width": 1, "height": 1}]
    if forwarded:
        origin = {"type": "hidden_user", "date": 0, "sender_user_name": "Someone"}
        typed["forward_origin"] = captioned["forward_origin"] = origin
    as_text = what_was_said(Message.de_json(typed, None), ME)
    as_caption = what_was_said(Message.de_json(captioned, None), ME)
    assert as_caption == as_text
    if forwarded and chat_type != "private":
        assert as_text is None


TELEGRAM_TEXT = st.text(
    alphabet=st.sampled_from(["a", " ", "\n", "&", "<", ">", "🍑", "é", "\u200d"]), max_size=400
)


@settings(max_examples=300)
@given(TELEGRAM_TEXT, st.integers(8, 120))
def test_telegram_parts_fit_as_telegram_counts(text: str, limit: int) -> None:
    # Bold where a line fits whole: a cut inside a tag's span would leave it unclosed.
    lines = [escape(line, Platform.TELEGRAM) for line in text.split("\n")]
    html_text = "\n".join(
        f"<b>{line}</b>" if line and telegram_length(line) <= limit else line for line in lines
    )
    for part in split_message(html_text, limit, telegram_length):
        shown, _ = parse_html(part)  # as the fake Bot API server reads it: a 400 raises
        assert len(shown.encode("utf-16-le")) // 2 <= limit

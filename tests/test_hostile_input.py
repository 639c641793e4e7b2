"""The engine under arbitrary input: never raises, always answers, always fits."""

from __future__ import annotations

import io
import itertools
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.console import ConsoleChat
from bot.app import Core, open_core
from bot.model import ChatRef, Incoming, Platform
from bot.render import LIMITS
from tests.transcript import FakeClock

_keys = itertools.count()
NASTY = st.sampled_from([
    "", " ", "\x00", "\u202e", "{{ 7*7 }}", "{% for x in range(10**9) %}x{% endfor %}",
    "<script>alert(1)</script>", "done " + "9" * 400, "/" + "a" * 40, "/done " + "x" * 10_000,
    "x" * 10_000, "🍑" * 3000, "done -0", "/start " + "\n" * 50, "\r\n", "done\x00 5",
])  # fmt: skip
TEXTS = st.one_of(NASTY, st.text(max_size=300), st.text(min_size=5000, max_size=10_000))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_core(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Core]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    async with open_core(path, clock=FakeClock()) as core:
        yield core


@pytest.mark.asyncio(loop_scope="module")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXTS, min_size=1, max_size=6), platform=st.sampled_from(list(Platform)))
async def test_any_text_gets_a_reply_that_fits(
    shared_core: Core, texts: list[str], platform: Platform
) -> None:
    chat = ChatRef(platform, user_id="fuzzer", chat_id="c")
    for text in texts:
        incoming = Incoming(chat, f"fuzz:{next(_keys)}", text=text, display_name=text[:64])
        replies = await shared_core.engine.handle(incoming)
        assert replies, repr(text)
        assert all(r.template != "error" for r in replies), repr(text)
        for reply in replies:
            rendered = shared_core.renderer.render(reply, platform).text
            assert rendered
            assert len(rendered) <= LIMITS[platform]
            if "{{ 7*7 }}" in text and "7*7" in rendered:
                assert "{{ 7*7 }}" in rendered  # echoed as typed, never evaluated


class EndlessLine(io.StringIO):
    """Piped input of `size` characters with no newline (a binary file, /dev/zero, `yes`
    without its newlines), then `after`: made up as it is read, never held whole."""

    def __init__(self, size: int, after: str) -> None:
        super().__init__(after)
        self._left = size

    # (typeshed gives StringIO _IOBase's bytes readline too, hence the ignore)
    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        if self._left == 0:
            return super().readline(size)
        take = self._left if size < 0 else min(size, self._left)
        self._left -= take
        return "x" * take


async def test_a_piped_line_without_end_neither_fills_memory_nor_loses_the_next(
    tmp_path: Path,
) -> None:
    stdout = io.StringIO()
    async with open_core(tmp_path / "glutebot.db", clock=FakeClock()) as core:
        chat = ConsoleChat(core, "me", EndlessLine(30_000_000, "\ndone 5\n"), stdout)
        tracemalloc.start()
        try:
            await chat.run()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 5_000_000  # the 30 MB line was never held whole
    answers = stdout.getvalue()
    assert "didn't understand" in answers  # the start of the long line, answered
    assert "Logged 5 glute bridges." in answers

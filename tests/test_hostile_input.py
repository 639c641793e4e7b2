"""The engine under arbitrary input: never raises, always answers, always fits."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Core, open_core
from tests.transcript import Chat, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "glutebot.db"


@pytest.fixture
async def core(db_path: Path, clock: FakeClock) -> AsyncIterator[Core]:
    async with open_core(db_path, clock=clock) as core:
        yield core


@pytest.fixture
def chat(core: Core) -> Chat:
    return Chat(core)

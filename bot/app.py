"""Builds the parts every front end shares: the store, the renderer and the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path

from bot.engine import Engine, utc_now
from bot.engine.core import Clock
from bot.render import Renderer
from bot.store import Store


@dataclass(frozen=True)
class Core:
    store: Store
    renderer: Renderer
    engine: Engine


@asynccontextmanager
async def open_core(
    db_path: Path,
    *,
    default_tz: tzinfo = UTC,
    clock: Clock = utc_now,
    on_schedule_change: Callable[[], None] = lambda: None,
) -> AsyncIterator[Core]:
    renderer = Renderer()
    store = await Store.open(db_path)
    try:
        engine = Engine(
            store,
            renderer.labels,
            clock=clock,
            default_tz=default_tz,
            on_schedule_change=on_schedule_change,
        )
        yield Core(store, renderer, engine)
        await engine.close()
    finally:
        await store.close()

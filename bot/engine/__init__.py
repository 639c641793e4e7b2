"""The conversation engine: the only place conversation logic lives."""

from bot.engine.core import Engine, utc_now

__all__ = ["Engine", "utc_now"]

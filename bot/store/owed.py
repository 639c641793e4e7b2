"""Answers committed but maybe never sent, kept with their event's mark (events.owed).

A turn's writes and its event's mark are committed before its answer goes out. If the bot
is stopped in between (killed, or cut off by the shutdown's drain time), the platform
delivers the event again after the restart, and the mark alone would make that a silent
redelivery: in a flow, the person's next answer would go to a question they never saw.
So the mark keeps the answer, until the adapter says it was sent, and a redelivery after
a restart gets it then. Stored as JSON: a reply's data holds only the few types below.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.model import ChatRef, Choice, Platform, Reply
from bot.store.reps import Standing

# A tagged value is a one-key object whose key starts with this; no data key does.
_TAG = "$"


def encode(run: str, replies: Sequence[Reply]) -> str:
    """The answer to keep: `replies`, and `run`, which process committed them."""
    return json.dumps(
        {"run": run, "replies": [_reply(reply) for reply in replies]},
        default=_tagged,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(owed: str) -> tuple[str, list[Reply]]:
    """The process that committed an answer, and the answer. Raises ValueError for one
    this version can't read back."""
    try:
        data = json.loads(owed, object_hook=_untagged)
        return str(data["run"]), [_unreply(reply) for reply in data["replies"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"an owed answer that can't be read: {exc!r}") from exc


def _reply(reply: Reply) -> dict[str, Any]:
    return {
        "template": reply.template,
        "context": dict(reply.context),
        "choices": [[choice.value, choice.label] for choice in reply.choices],
        "private": reply.private,
        "logged": reply.logged,
        "quiet": reply.quiet,
        "to": asdict(reply.to) if reply.to is not None else None,
    }


def _unreply(data: dict[str, Any]) -> Reply:
    to = data["to"]
    return Reply(
        template=data["template"],
        context=data["context"],
        choices=tuple(Choice(value, label) for value, label in data["choices"]),
        private=data["private"],
        logged=data["logged"],
        quiet=data["quiet"],
        to=ChatRef(**{**to, "platform": Platform(to["platform"])}) if to else None,
    )


def _tagged(value: object) -> dict[str, Any]:
    # datetime first: it is a date too.
    if isinstance(value, datetime):
        return {f"{_TAG}datetime": [value.isoformat(), _zone_name(value.tzinfo)]}
    if isinstance(value, date):
        return {f"{_TAG}date": value.isoformat()}
    if isinstance(value, time):
        return {f"{_TAG}time": value.isoformat()}
    if isinstance(value, Standing):
        return {f"{_TAG}standing": asdict(value)}
    raise TypeError(f"a reply holds a {type(value).__name__}, which can't be kept")


def _untagged(data: dict[str, Any]) -> Any:
    if len(data) != 1:
        return data
    [(key, value)] = data.items()
    if key == f"{_TAG}datetime":
        stamp, zone = value
        moment = datetime.fromisoformat(stamp)
        return moment.astimezone(ZoneInfo(zone)) if zone else moment
    if key == f"{_TAG}date":
        return date.fromisoformat(value)
    if key == f"{_TAG}time":
        return time.fromisoformat(value)
    if key == f"{_TAG}standing":
        return Standing(**value)
    return data


def _zone_name(zone: tzinfo | None) -> str | None:
    """A zone to name again when read back; any other keeps its offset in the timestamp."""
    return zone.key if isinstance(zone, ZoneInfo) else None

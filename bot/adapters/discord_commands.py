"""The slash commands: their definitions, and each one turned into the text the engine reads.

Every command becomes the same text a person could type ("/done 12 lunge",
"/setup 555 07:30 Europe/Berlin mon,wed,fri", "/remind time:07:30 days:daily"), so the
engine handles Discord's commands exactly like typed ones. Names are fixed here; what
people read comes from messages/<locale>/discord/commands.toml, as do the labels of the
buttons only Discord shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tomllib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.adapters.discord_wire import SendError, describe
from bot.parse import Command, Done, Said, parse, plain_command
from bot.render import MESSAGES_DIR
from bot.schedule_time import timezone_suggestions

log = logging.getLogger(__name__)

# Runs one command: the interaction and the text for the engine.
Run = Callable[[discord.Interaction[Any], str], Awaitable[None]]
AnyCommand = app_commands.Command[Any, Any, Any]

# Commands that take no options: name → the text the engine reads.
SIMPLE = ("check", "workout", "undo", "stats", "forget", "help", "prompt")
ADMIN_ONLY = ("setup", "prompt")
AUTOCOMPLETE_LIMIT = 25


@dataclass(frozen=True)
class CommandWording:
    descriptions: Mapping[str, str]
    options: Mapping[str, Mapping[str, str]]
    choices: Mapping[str, Mapping[str, str]]
    # Buttons only Discord shows (the engine's come from labels.toml).
    labels: Mapping[str, str]

    @classmethod
    def load(cls, locale: str = "en", messages_dir: Path = MESSAGES_DIR) -> CommandWording:
        path = messages_dir / locale / "discord" / "commands.toml"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        commands: dict[str, Any] = data["commands"]
        return cls(
            descriptions={name: c["description"] for name, c in commands.items()},
            options={name: c.get("options", {}) for name, c in commands.items()},
            choices=data["choices"],
            labels=data["labels"],
        )

    def picks(self, option: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=label, value=value)
            for value, label in self.choices[option].items()
        ]


def command_text(name: str, *words: object) -> str:
    """ "/name word word": options left out (None) are skipped."""
    return " ".join([f"/{name}", *(str(w).strip() for w in words if w is not None)]).strip()


def as_typed(name: str, data: Mapping[str, Any] | None) -> str:
    """A command sent with options the bot no longer reads, as if typed: its name and the
    values given ("/done 10 squat"). The engine then reads what it can and refuses the
    rest; the name alone could mean something else (a bare /done logs the whole session)."""
    options = (data or {}).get("options") or []
    return command_text(name, *(o.get("value") for o in options if isinstance(o, Mapping)))


def slash_command_for(typed: str, names: Collection[str]) -> str | None:
    """The slash command among `names` that asks what a typed request did: "undo" → undo,
    "/remind 07:30 UTC" or "remind 07:30 UTC" → remind, "done 15" → done; None when none
    does."""
    intent = parse(typed)
    if isinstance(intent, Command):
        name = intent.name
    elif isinstance(intent, Done):
        name = "done"
    elif isinstance(intent, Said) and intent.word is not None:
        name = intent.word.value
    else:  # a command typed without its slash: "check", "remind 07:30 UTC"
        plain = plain_command(typed)
        name = plain.name if plain is not None else ""
    return name if name in names else None


def one_word(value: str | None, joiner: str = "") -> str | None:
    """An option that must reach the engine as one word ("7 pm" → "7pm"; with joiner "_",
    "America/New York" → "America/New_York")."""
    return None if value is None else joiner.join(value.split()) or None


_AROUND_SIGN = re.compile(r"\s*([+\-\u2212])\s*")


def named(**options: str | None) -> list[str]:
    """Options by name ("time:07:30"), for a command where any of them may be left out."""
    return [f"{name}:{value}" for name, value in options.items() if value is not None]


def build_commands(wording: CommandWording, run: Run) -> list[AnyCommand]:
    built = [_simple(name, wording, run) for name in SIMPLE]
    built += [_done(wording, run), _leaderboard(wording, run)]
    built += [_remind(wording, run), _setup(wording, run)]
    for command in built:
        if command.name in ADMIN_ONLY:
            app_commands.guild_only()(command)
            # Discord hides these from members without Manage Server; the engine refuses
            # them anyway, in case a server's admin changes who sees them.
            app_commands.default_permissions(manage_guild=True)(command)
    return sorted(built, key=lambda command: command.name)


def definitions_hash(tree: app_commands.CommandTree[Any], application_id: int | None) -> str:
    """Stable digest of what `tree.sync()` would send: unchanged → no sync needed."""
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    text = json.dumps({"application": application_id, "commands": payload}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


async def zone_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    names = timezone_suggestions(current, limit=AUTOCOMPLETE_LIMIT)
    return [app_commands.Choice(name=name, value=name) for name in names]


def _command(name: str, wording: CommandWording, callback: Any) -> AnyCommand:
    described = app_commands.describe(**wording.options.get(name, {}))(callback)
    return _SlashCommand(name=name, description=wording.descriptions[name], callback=described)


class _SlashCommand(app_commands.Command[Any, Any, Any]):
    """A slash command whose suggestions, when Discord refuses them, cost one warning
    line. discord.py logs that as an error with a traceback, though nothing can be done and
    the member misses nothing: an autocomplete replayed after a reconnect (answered
    already, 40060), one answered too late (10062), or one still being sent as the bot
    stops (its session closed: a RuntimeError)."""

    async def _invoke_autocomplete(
        self, interaction: discord.Interaction[Any], name: str, namespace: app_commands.Namespace
    ) -> None:
        try:
            await super()._invoke_autocomplete(interaction, name, namespace)
        except (*SendError, RuntimeError) as exc:
            log.warning("Discord: suggestions for /%s not delivered: %s", self.name, describe(exc))


def _simple(name: str, wording: CommandWording, run: Run) -> AnyCommand:
    async def simple(interaction: discord.Interaction[Any]) -> None:
        await run(interaction, command_text(name))

    return _command(name, wording, simple)


def _done(wording: CommandWording, run: Run) -> AnyCommand:
    @app_commands.choices(exercise=wording.picks("exercise"))
    async def done(
        interaction: discord.Interaction[Any],
        reps: int | None = None,
        exercise: app_commands.Choice[str] | None = None,
    ) -> None:
        await run(interaction, command_text("done", reps, exercise.value if exercise else None))

    return _command("done", wording, done)


def _leaderboard(wording: CommandWording, run: Run) -> AnyCommand:
    @app_commands.choices(visibility=wording.picks("visibility"))
    async def leaderboard(
        interaction: discord.Interaction[Any],
        visibility: app_commands.Choice[str] | None = None,
    ) -> None:
        await run(
            interaction, command_text("leaderboard", visibility.value if visibility else None)
        )

    return _command("leaderboard", wording, leaderboard)


def _remind(wording: CommandWording, run: Run) -> AnyCommand:
    @app_commands.autocomplete(timezone=zone_choices)
    async def remind(
        interaction: discord.Interaction[Any],
        time: str | None = None,
        timezone: str | None = None,
        days: str | None = None,
    ) -> None:
        text = command_text("remind", *named(time=time, timezone=timezone, days=days))
        await run(interaction, text)

    return _command("remind", wording, remind)


def _setup(wording: CommandWording, run: Run) -> AnyCommand:
    @app_commands.autocomplete(timezone=zone_choices)
    async def setup(
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel,
        time: str,
        timezone: str | None = None,
        days: str | None = None,
    ) -> None:
        # "UTC + 2" is the offset UTC+2; "America/New York" is America/New_York. Left out,
        # the server keeps the zone it has.
        zone = None if timezone is None else _AROUND_SIGN.sub(r"\1", timezone)
        options = named(timezone=one_word(zone, "_"), days=days)
        await run(interaction, command_text("setup", channel.id, one_word(time) or "?", *options))

    return _command("setup", wording, setup)

"""Settings from the environment, then `.env`, then defaults. Tokens never show in a repr."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from bot.schedule_time import UnknownTimezone, parse_timezone

# A late prompt goes out only on its own day, so a longer grace window would mean nothing.
A_DAY = 24 * 60  # minutes


class ConfigError(Exception):
    """A setting has a value glutebot can't use; the message names it."""


class Secret:
    """A token: usable through `reveal()`, masked everywhere else (repr, str, logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    telegram_token: Secret | None = None
    telegram_api_url: str = "https://api.telegram.org"
    discord_token: Secret | None = None
    db_path: Path = Path("glutebot.db")
    log_level: str = "INFO"
    reminder_grace: timedelta = timedelta(hours=2)
    ignored_reminder_limit: int = 5
    # The day's boundary for people who haven't told us their zone (/remind asks it).
    # None: UTC on chat platforms, the computer's own zone in the terminal chat.
    timezone: ZoneInfo | None = None

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        values = _read(os.environ if environ is None else environ, env_file)
        return cls(
            telegram_token=_secret(values.get("TELEGRAM_BOT_TOKEN")),
            telegram_api_url=values.get("TELEGRAM_API_URL") or cls.telegram_api_url,
            discord_token=_secret(values.get("DISCORD_BOT_TOKEN")),
            db_path=_db_path(values.get("GLUTEBOT_DB")) or cls.db_path,
            log_level=_log_level(values.get("GLUTEBOT_LOG_LEVEL") or cls.log_level),
            reminder_grace=timedelta(
                minutes=_positive_int(values, "GLUTEBOT_REMINDER_GRACE_MINUTES", 120, A_DAY)
            ),
            ignored_reminder_limit=_positive_int(
                values, "GLUTEBOT_IGNORED_REMINDER_LIMIT", 5, 1000
            ),
            timezone=_timezone(values.get("GLUTEBOT_TIMEZONE")),
        )


def _read(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The settings, each stripped of the spaces around it (a stray one from a copy-paste,
    `docker run --env-file` or a unit file would name another database file, say)."""
    # The real environment wins over .env, so an operator can override a file value; a
    # variable set blank (`GLUTEBOT_DB= glutebot`, `GLUTEBOT_TIMEZONE=" "` in .env)
    # counts as unset, wherever it is set, not as "no value".
    from_file = _env_file(env_file) if env_file and env_file.is_file() else {}
    merged: dict[str, str] = {}
    for values in (from_file, environ):
        merged.update(
            (key, value.strip()) for key, value in values.items() if value and value.strip()
        )
    return merged


def _env_file(path: Path) -> dict[str, str | None]:
    """The settings in a .env file. A line that isn't NAME=value stops glutebot, naming
    the file and line (not the line's text: it may hold a token): ignored, it would leave
    a setting unset without a word, the database in the wrong place, say."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # saved as UTF-16 by PowerShell's ">", say
        raise ConfigError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.line
            raise ConfigError(f"{path}, line {line}: not a setting; write it as NAME=value")
    values = dotenv_values(stream=io.StringIO(text))
    for name, value in values.items():
        if value is not None and "\0" in value:  # no path, token or zone can hold one
            raise ConfigError(f"{path}: {name} holds a NUL character; write its value again")
    return values


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def _db_path(value: str | None) -> Path | None:
    if not value:
        return None
    try:
        # A .env file or a systemd unit passes "~/glutebot.db" as it is: no shell expands it.
        return Path(value).expanduser()
    except RuntimeError:  # "~someone/..." where no such user (or no home) is known
        raise ConfigError(
            f'GLUTEBOT_DB={value!r}: no home folder is known for its "~"; give the full path'
        ) from None


def _log_level(name: str) -> str:
    level = name.upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"GLUTEBOT_LOG_LEVEL={name!r} is not a log level (try INFO or DEBUG)")
    return level


def _timezone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return parse_timezone(name)
    except UnknownTimezone as error:
        if error.places:  # "IST", "UTC+5:30": the server's zone is no place to guess
            raise ConfigError(
                f"GLUTEBOT_TIMEZONE={name!r} could be {' or '.join(error.places)}: set the one"
                " you mean"
            ) from None
        raise ConfigError(
            f"GLUTEBOT_TIMEZONE={name!r} is not a time zone (use a name like Europe/London)"
        ) from None


def _positive_int(values: Mapping[str, str], name: str, default: int, most: int) -> int:
    raw = values.get(name)
    if not raw:
        return default
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 0 < number <= most:
        raise ConfigError(f"{name}={raw!r} must be a whole number from 1 to {most}")
    return number

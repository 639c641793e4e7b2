from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, Settings


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, env_file=tmp_path / ".env")
    assert settings.telegram_token is None
    assert settings.discord_token is None
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.db_path == Path("glutebot.db")
    assert settings.log_level == "INFO"


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GLUTEBOT_DB=from-file.db\nDISCORD_BOT_TOKEN=file-token\n")
    settings = Settings.load(environ={"GLUTEBOT_DB": "from-env.db"}, env_file=env_file)
    assert settings.db_path == Path("from-env.db")
    assert settings.discord_token == Secret("file-token")


def test_a_home_relative_database_path_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    env_file = tmp_path / ".env"
    env_file.write_text("GLUTEBOT_DB=~/bot/glutebot.db\n")
    settings = Settings.load(environ={}, env_file=env_file)
    assert settings.db_path == tmp_path / "bot" / "glutebot.db"


def test_an_empty_variable_does_not_hide_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GLUTEBOT_DB=from-file.db\nDISCORD_BOT_TOKEN=file-token\n")
    empty = {"GLUTEBOT_DB": "", "DISCORD_BOT_TOKEN": " "}
    settings = Settings.load(environ=empty, env_file=env_file)
    assert settings.db_path == Path("from-file.db")
    assert settings.discord_token == Secret("file-token")


def test_tokens_never_show_in_reprs() -> None:
    settings = Settings.load(environ={"TELEGRAM_BOT_TOKEN": "123:SECRET"}, env_file=None)
    assert "SECRET" not in repr(settings)
    assert "SECRET" not in str(settings)
    assert settings.telegram_token is not None
    assert settings.telegram_token.reveal() == "123:SECRET"


@pytest.mark.parametrize(
    ("name", "value"),
    [("GLUTEBOT_LOG_LEVEL", "LOUD"), ("GLUTEBOT_REMINDER_GRACE_MINUTES", "-5")],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.load(environ={name: value}, env_file=None)


def test_timezone_setting_is_validated() -> None:
    settings = Settings.load(environ={"GLUTEBOT_TIMEZONE": "europe/london"}, env_file=None)
    assert settings.timezone is not None
    assert settings.timezone.key == "Europe/London"
    with pytest.raises(ConfigError, match="GLUTEBOT_TIMEZONE"):
        Settings.load(environ={"GLUTEBOT_TIMEZONE": "Mars/Base"}, env_file=None)


def test_the_timezone_setting_reads_abbreviations_and_names_the_places_of_unclear_ones() -> None:
    settings = Settings.load(environ={"GLUTEBOT_TIMEZONE": "PST"}, env_file=None)
    assert settings.timezone is not None
    assert settings.timezone.key == "America/Los_Angeles"
    with pytest.raises(ConfigError, match="could be Asia/Kolkata or Asia/Colombo"):
        Settings.load(environ={"GLUTEBOT_TIMEZONE": "UTC+5:30"}, env_file=None)


def test_spaces_around_the_database_path_are_ignored_like_around_every_setting() -> None:
    """A stray space after GLUTEBOT_DB (`docker run --env-file`, a unit file, a
    copy-paste) names the same file as without it. It used to be the one setting kept as
    given: a new, empty "glutebot.db " beside the real one, every log seemingly lost."""
    settings = Settings.load(environ={"GLUTEBOT_DB": " /srv/glutebot.db "}, env_file=None)
    assert settings.db_path == Path("/srv/glutebot.db")


def test_a_blank_value_in_the_env_file_counts_as_unset(tmp_path: Path) -> None:
    """`GLUTEBOT_TIMEZONE=" "` in .env is unset, as the same blank value in the
    environment is. It used to stop every command: "' ' is not a time zone"."""
    env_file = tmp_path / ".env"
    env_file.write_text('GLUTEBOT_TIMEZONE=" "\nGLUTEBOT_DB=" "\n')
    settings = Settings.load(environ={}, env_file=env_file)
    assert settings.timezone is None
    assert settings.db_path == Path("glutebot.db")


def test_a_home_folder_that_no_one_has_is_a_bad_database_path() -> None:
    """`GLUTEBOT_DB=~glutebot/glutebot.db` where there is no user "glutebot" (yet) is a
    bad setting, named, so one clear line. It used to be a RuntimeError traceback from
    Path.expanduser, for every command."""
    with pytest.raises(ConfigError, match=r"GLUTEBOT_DB='~no-such-user-here/"):
        Settings.load(environ={"GLUTEBOT_DB": "~no-such-user-here/glutebot.db"}, env_file=None)


@pytest.mark.parametrize("line", ["GLUTEBOT_DB=mine\0.db", "TELEGRAM_BOT_TOKEN=12:AB\0CD"])
def test_a_nul_character_in_the_env_file_names_the_setting_not_its_value(
    tmp_path: Path, line: str
) -> None:
    """Which no path or token can hold (sqlite3 raised "embedded null byte" from its
    thread, a traceback): one clear error, without the value, which may be a token."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"GLUTEBOT_LOG_LEVEL=INFO\n{line}\n")
    name, _, value = line.partition("=")
    with pytest.raises(ConfigError, match=rf"{name} .*NUL") as error:
        Settings.load(environ={}, env_file=env_file)
    assert value.split("\0")[0] not in str(error.value)

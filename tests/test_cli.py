"""The `glutebot` command in a subprocess, as a person would run it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import sqlite3
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

JOURNEY = [
    "1",  # menu: check my symptoms
    "no", "no", "yes", "sometimes", "yes", "no", "3", "1", "no",  # the nine questions
    "1",  # result: start with the glute bridge
    "next", "next", "next", "next", "next",  # five steps, then the target
    "done 20",
    "/stats",
]  # fmt: skip


def glutebot(
    tmp_path: Path, stdin: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_BOT_TOKEN")}
    environ |= {"GLUTEBOT_DB": str(tmp_path / "cli.db"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_a_full_journey_through_a_pipe(tmp_path: Path) -> None:
    result = glutebot(tmp_path, "\n".join(JOURNEY) + "\n", "--user", "sam")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("not a diagnosis") < out.index("Question 1 of 9")
    assert "glute amnesia is likely" in out
    assert "Glute bridge · step 5 of 5" in out
    assert "target right now: 20" in out
    assert "Logged 20 glute bridges." in out
    assert "Glute bridges: 20 in total" in out
    assert "  1. Check my symptoms" in out
    assert result.stderr == ""


def test_end_of_input_exits_cleanly_and_the_next_run_resumes(tmp_path: Path) -> None:
    first = glutebot(tmp_path, "/check\nno\n", "chat", "--user", "kim")
    assert first.returncode == 0
    assert "Question 2 of 9" in first.stdout
    second = glutebot(tmp_path, "no\n", "--user", "kim")
    assert second.stdout.startswith("Question 2 of 9")  # straight on, no "continue?"
    assert "Question 3 of 9" in second.stdout


def running_chat(tmp_path: Path) -> subprocess.Popen[bytes]:
    """`glutebot` running, with its standard streams as pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--user", "kim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ | {"GLUTEBOT_DB": str(tmp_path / "cli.db")},
        cwd=tmp_path,
    )


def test_a_reader_that_stops_early_ends_the_chat_quietly(tmp_path: Path) -> None:
    chat = running_chat(tmp_path)
    assert chat.stdout is not None
    chat.stdout.close()  # as `glutebot | head -0` would
    _, err = chat.communicate(b"help\n" * 200, timeout=60)
    assert chat.returncode == 0
    assert b"Traceback" not in err, err.decode()


def test_sigterm_ends_the_chat_cleanly(tmp_path: Path) -> None:
    # As the end of input does: exit 0, no traceback, the database closed (which removes
    # its WAL file). It used to be killed by the signal, leaving the database open.
    chat = running_chat(tmp_path)
    assert chat.stdout is not None
    try:
        chat.stdout.readline()  # the welcome: the chat is waiting for a line
        chat.send_signal(signal.SIGTERM)
        _, err = chat.communicate(timeout=60)
    finally:
        chat.kill()
    assert (chat.returncode, err) == (0, b"")
    assert not (tmp_path / "cli.db-wal").exists()


def test_users_are_kept_apart(tmp_path: Path) -> None:
    glutebot(tmp_path, "done 15\n", "--user", "ann")
    other = glutebot(tmp_path, "/stats\n", "--user", "ben")
    assert "No reps logged yet" in other.stdout


@pytest.mark.parametrize("order", [("--user", "ann", "chat"), ("chat", "--user", "ann")])
def test_the_user_is_the_one_named_before_or_after_chat(
    tmp_path: Path, order: tuple[str, ...]
) -> None:
    glutebot(tmp_path, "done 15\n", "--user", "ann")
    again = glutebot(tmp_path, "/stats\n", *order)
    assert "Glute bridges: 15 in total" in again.stdout


def test_an_empty_user_name_is_refused(tmp_path: Path) -> None:
    result = glutebot(tmp_path, "done 15\n", "--user", " ")
    assert result.returncode == 2
    assert "a name is needed" in result.stderr
    assert not (tmp_path / "cli.db").exists()


@pytest.mark.parametrize("problem", ["corrupt", "newer", "unwritable"])
def test_an_unusable_database_is_one_clear_line(tmp_path: Path, problem: str) -> None:
    bad = tmp_path / "bad.db"
    if problem == "corrupt":
        bad.write_text("not a database" * 50)
    elif problem == "newer":
        with sqlite3.connect(bad) as conn:
            conn.execute("PRAGMA user_version = 999")
    else:
        bad = tmp_path / "no-such-folder" / "bad.db"
    result = glutebot(tmp_path, "", env={"GLUTEBOT_DB": str(bad)})
    assert result.returncode == 1
    assert result.stderr.startswith("glutebot: cannot")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = glutebot(tmp_path, "", env={"GLUTEBOT_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2
    assert "GLUTEBOT_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_without_any_token_says_so_and_exits_2(tmp_path: Path) -> None:
    result = glutebot(tmp_path, "", "run")
    assert result.returncode == 2
    assert "no platform token is set" in result.stderr
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


class Terminal:
    """`glutebot` at a terminal (a pseudo-terminal), typed at as a person would."""

    def __init__(self, tmp_path: Path) -> None:
        self.controller, terminal = os.openpty()
        environ = {k: v for k, v in os.environ.items() if not k.endswith("_BOT_TOKEN")}
        self.chat = subprocess.Popen(
            [sys.executable, "-m", "bot", "--user", "tty"],
            stdin=terminal,
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=environ | {"GLUTEBOT_DB": str(tmp_path / "cli.db"), "TERM": "xterm"},
            cwd=tmp_path,
            start_new_session=True,
            # Its own terminal, as a shell gives it: Ctrl-C there is a SIGINT to it.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(terminal)
        self.seen = b""

    def answer(self, typed: bytes, expected: bytes) -> None:
        """Types at the prompt, once it shows, and reads until `expected`."""
        for text in (b"> ", expected):
            while text not in self.seen:
                ready, _, _ = select.select([self.controller], [], [], 30)
                assert ready, self.seen.decode(errors="replace")
                self.seen += os.read(self.controller, 4096)
            if text == b"> ":
                self.seen = b""
                os.write(self.controller, typed)

    def close(self) -> bytes:
        """Ends the process if it's still there; what it wrote to stderr."""
        self.chat.kill()
        os.close(self.controller)
        assert self.chat.stderr is not None
        with self.chat.stderr:
            return self.chat.stderr.read()


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    pytest.importorskip("readline")
    at = Terminal(tmp_path)
    try:
        yield at
    finally:
        assert b"Traceback" not in at.close()


def test_at_a_terminal_the_up_arrow_recalls_the_last_line(terminal: Terminal) -> None:
    terminal.answer(b"done 5\r", b"Logged 5 glute bridges")
    terminal.answer(b"\x1b[A\r", b"That makes 10 glute bridges today")  # up arrow: "done 5"
    terminal.answer(b"\x04", b"\n")  # Ctrl-D
    assert terminal.chat.wait(timeout=30) == 0


def test_at_a_terminal_ctrl_c_quits_at_once(terminal: Terminal) -> None:
    terminal.answer(b"done 5\r", b"Logged 5 glute bridges")
    terminal.answer(b"\x03", b"")  # Ctrl-C, waiting at the prompt
    assert terminal.chat.wait(timeout=10) == 0  # not only once Enter is pressed


def test_a_database_glutebot_may_only_read_is_one_clear_line_at_start(tmp_path: Path) -> None:
    assert glutebot(tmp_path, "done 5\n").returncode == 0
    db = tmp_path / "cli.db"
    with read_only(db):
        result = glutebot(tmp_path, "done 5\n")
    assert result.returncode == 1
    assert result.stderr.startswith("glutebot: cannot use database")
    assert "readonly" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Logged" not in result.stdout


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` made read-only, even for root (whom file modes don't stop): immutable."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("cannot make a file read-only for root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_a_database_in_a_folder_glutebot_may_not_write_in_says_so(
    tmp_path: Path, existing: bool
) -> None:
    """SQLite keeps its journal files beside the database, so a folder glutebot may not
    write in stops a new database and an existing one alike. The line used to give
    SQLite's "unable to open database file", though the file may be right there."""
    folder = tmp_path / "data"
    folder.mkdir()
    env = {"GLUTEBOT_DB": str(folder / "cli.db")}
    if existing:
        assert glutebot(tmp_path, "done 5\n", env=env).returncode == 0
    with read_only(folder):
        result = glutebot(tmp_path, "done 5\n", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("glutebot: cannot ")
    assert result.stderr.endswith(f": glutebot may not write in its folder, {folder}\n")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Logged" not in result.stdout


def test_help_and_version_say_what_an_operator_needs(tmp_path: Path) -> None:
    version = glutebot(tmp_path, "", "--version")
    assert version.returncode == 0
    assert version.stdout.startswith("glutebot 0.")
    run_help = glutebot(tmp_path, "", "run", "--help").stdout
    for needed in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", ".env", "Exit status"):
        assert needed in run_help

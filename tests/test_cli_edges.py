"""The `glutebot` command at the edges: odd input and output streams, terminals,
encodings and settings, each run as a user would, in a subprocess."""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import unquote

import pytest
import tzlocal

from bot.cli import _computer_zone

TOKEN = "123456789:AAHqaSECRETtokenQA"
TIMEOUT = 60
# The last line of the menu: the chat is waiting for input.
MENU_END = b"  5. Help\n"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a first-time user: no platform token, no proxy, a fresh DB."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_BOT_TOKEN")
        and not k.startswith("GLUTEBOT_")
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env |= {"GLUTEBOT_DB": str(tmp_path / "qa.db"), "NO_PROXY": "127.0.0.1,localhost"}
    return env | extra


def glutebot(
    tmp_path: Path,
    stdin: bytes,
    *args: str | bytes,
    env: dict[str, str] | None = None,
    **popen: object,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        env=env if env is not None else environment(tmp_path),
        cwd=tmp_path,
        timeout=TIMEOUT,
        check=False,
        **popen,
    )


def refused_port() -> int:
    """A localhost port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def http_answering(status: int, body: bytes, content_type: str) -> Iterator[str]:
    """A localhost HTTP server answering every request with the same response (what a
    reverse proxy, or a web server that is not a Bot API server, would say)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- The console conversation -------------------------------------------------------


def test_invalid_utf8_on_stdin_under_a_utf8_locale_does_not_crash(tmp_path: Path) -> None:
    """Under a UTF-8 locale (stdin strict; simulated with PYTHONIOENCODING), a line
    that isn't UTF-8 (a Latin-1 file piped in) is read with "�" and the chat carries on. It
    used to end the chat with a UnicodeDecodeError traceback, losing the lines after it."""
    env = environment(tmp_path, PYTHONIOENCODING="utf-8:strict")
    result = glutebot(tmp_path, b"hi\ncaf\xe9\nhelp\n", "--user", "ann", env=env)
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode == 0
    assert b"How to use glutebot" in result.stdout  # the line after the bad one


@pytest.mark.parametrize("how", ["--user", "LOGNAME"])
def test_a_user_name_that_is_not_utf8_does_not_crash(tmp_path: Path, how: str) -> None:
    """A name whose bytes aren't UTF-8 (`--user` in Latin-1, or such a login name taken
    from $LOGNAME) is used with "�" for those bytes: it used to crash the first message
    (SQLite refuses the lone surrogates Python keeps such bytes as)."""
    env = environment(tmp_path)
    args: list[str | bytes] = []
    if how == "--user":
        args = ["--user", b"Jos\xe9"]
    else:
        name = os.fsdecode(b"jos\xe9")
        env |= {"LOGNAME": name, "USER": name, "LNAME": name, "USERNAME": name}
    result = glutebot(tmp_path, b"done 5\n", *args, env=env)
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode in (0, 2)
    if result.returncode == 2:
        assert len(result.stderr.strip().splitlines()) <= 2  # argparse: usage + one line


def test_piped_input_starting_with_a_byte_order_mark_is_understood(tmp_path: Path) -> None:
    """A file of answers saved with a byte-order mark (and CRLF line ends): its first
    line, a command, is understood. The mark used to make it "/check" not understood."""
    result = glutebot(tmp_path, "\ufeff/check\r\nno\r\n".encode(), "--user", "ann")
    out = result.stdout.decode()
    assert "didn't understand" not in out, out
    assert "Question 2 of 9" in out


def test_piped_input_with_old_mac_line_ends_is_read_line_by_line(tmp_path: Path) -> None:
    """A file whose lines end in a carriage return alone (classic Mac OS, some serial
    tools): each line is a message. It used to be one message, "done 15\r/stats", not
    understood, and nothing logged."""
    result = glutebot(tmp_path, b"done 15\r/stats\r", "--user", "ann")
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "Logged 15 glute bridges." in out, out
    assert "Glute bridges: 15 in total" in out, out


def test_invalid_bytes_typed_are_not_echoed_raw_to_the_terminal(tmp_path: Path) -> None:
    """Under the C.UTF-8 locale (stdin surrogateescape), bytes that aren't UTF-8 are not
    echoed back raw in "didn't understand": byte 0x9b starts an escape sequence on an
    8-bit terminal. The README promises typed control characters are shown as symbols."""
    env = environment(tmp_path, PYTHONIOENCODING="utf-8:surrogateescape")
    result = glutebot(tmp_path, b"/check\n\x9b2Jboom\n", "--user", "ann", env=env)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    echoed = [line for line in result.stdout.split(b"\n") if b"understand" in line]
    assert echoed, result.stdout.decode(errors="replace")
    # Raw, the byte is invalid UTF-8 (and the C1 control CSI to an 8-bit terminal).
    assert b"\x9b2J" not in echoed[0], echoed[0]
    result.stdout.decode("utf-8")  # raises if the output isn't valid UTF-8


def test_ctrl_c_at_the_prompt_gives_the_terminal_back_as_it_was(tmp_path: Path) -> None:
    """Ctrl-C at the `> ` prompt (readline waiting on the input thread) leaves the
    terminal as it was: it used to be left with echo and line editing off, so the shell
    after it typed blind until `reset`."""
    pytest.importorskip("readline")
    controller, terminal = os.openpty()
    before = termios.tcgetattr(terminal)
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot", "--user", "tty"],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=environment(tmp_path, TERM="xterm"),
        cwd=tmp_path,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    try:
        seen = b""
        while b"> " not in seen:
            ready, _, _ = select.select([controller], [], [], 30)
            assert ready, seen.decode(errors="replace")
            seen += os.read(controller, 4096)
        os.write(controller, b"\x03")  # Ctrl-C at the prompt
        assert chat.wait(timeout=10) == 0
        after = termios.tcgetattr(terminal)
        lflag = 3
        for flag in ("ECHO", "ICANON"):
            bit = getattr(termios, flag)
            assert after[lflag] & bit == before[lflag] & bit, f"{flag} left switched off"
    finally:
        chat.kill()
        chat.wait()
        assert chat.stderr is not None
        chat.stderr.close()
        os.close(controller)
        os.close(terminal)


def test_stdin_closed_counts_as_end_of_input(tmp_path: Path) -> None:
    """`glutebot <&-`: no standard input is the end of input (exit 0), not an
    AttributeError traceback after the welcome."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--user", "ann"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=environment(tmp_path),
        cwd=tmp_path,
        timeout=TIMEOUT,
        check=False,
        preexec_fn=lambda: os.close(0),
    )
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode == 0


@pytest.mark.parametrize("where", ["/dev/full", "closed"])
def test_unusable_stdout_is_one_clear_line_not_a_traceback(tmp_path: Path, where: str) -> None:
    """Output to a full disk, or with stdout closed (`>&-`): one line saying so, exit 1,
    not a traceback."""
    if where == "/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    command = [sys.executable, "-m", "bot", "--user", "ann"]
    env = environment(tmp_path)
    if where == "/dev/full":
        with open("/dev/full", "wb") as full:
            result = subprocess.run(
                command, input=b"hi\n", stdout=full, stderr=subprocess.PIPE,
                env=env, cwd=tmp_path, timeout=TIMEOUT, check=False,
            )  # fmt: skip
    else:
        result = subprocess.run(
            command, input=b"hi\n", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, cwd=tmp_path, timeout=TIMEOUT, check=False,
            preexec_fn=lambda: os.close(1),
        )  # fmt: skip
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode != 0


def test_a_terminal_that_cannot_show_emoji_does_not_crash_the_chat(tmp_path: Path) -> None:
    """An output encoding without emoji (Latin-1; redirected output on Windows is
    cp1252): they are written as "?", and the chat goes on. The first "👋" used to end it
    with UnicodeEncodeError."""
    env = environment(tmp_path, PYTHONIOENCODING="latin-1")
    result = glutebot(tmp_path, b"hi\n", "--user", "ann", env=env)
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode == 0
    assert b"What would you like to do?" in result.stdout


# --- Settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "GLUTEBOT_LOG_LEVEL=INFO\n".encode("utf-16"),  # PowerShell 5: `echo ... > .env`
        b"# r\xe9glages de glutebot\nGLUTEBOT_LOG_LEVEL=INFO\n",  # a Latin-1 comment
    ],
    ids=["utf-16", "latin-1-comment"],
)
def test_an_env_file_that_is_not_utf8_is_one_clear_line(tmp_path: Path, content: bytes) -> None:
    """A .env that isn't UTF-8 (PowerShell's `>` writes UTF-16; one Latin-1 letter in a
    comment) is one clear line naming the file, exit 2, not a UnicodeDecodeError
    traceback for every command."""
    (tmp_path / ".env").write_bytes(content)
    result = glutebot(tmp_path, b"hi\n", "--user", "ann")
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    if result.returncode != 0:
        assert b".env" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_huge_grace_setting_is_one_clear_line(tmp_path: Path) -> None:
    """A grace window too long to mean anything is a one-line settings error, exit 2:
    a huge number used to be an OverflowError traceback for every command."""
    env = environment(tmp_path, GLUTEBOT_REMINDER_GRACE_MINUTES="99999999999999999")
    result = glutebot(tmp_path, b"hi\n", "--user", "ann", env=env)
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode == 2
    assert b"GLUTEBOT_REMINDER_GRACE_MINUTES" in result.stderr


# --- `glutebot run` and TELEGRAM_API_URL ---------------------------------------------


def run_bot(tmp_path: Path, api_url: str) -> subprocess.CompletedProcess[bytes]:
    env = environment(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api_url)
    return glutebot(tmp_path, b"", "run", env=env)


@pytest.mark.parametrize("slash", ["", "/"])
def test_the_token_is_not_printed_when_it_is_part_of_the_api_url(
    tmp_path: Path, slash: str
) -> None:
    """TELEGRAM_API_URL pasted with the token in it (".../bot<token>", the shape of a
    request URL): the start-up error names the URL with the token masked."""
    url = f"http://127.0.0.1:{refused_port()}/bot{TOKEN}{slash}"
    result = run_bot(tmp_path, url)
    assert result.returncode == 1
    assert TOKEN.encode() not in result.stderr, result.stderr.decode()
    assert TOKEN.split(":")[1].encode() not in result.stderr


@pytest.mark.parametrize("password", ["s3cret-pass", "p%40ss%3Aword"])
def test_a_password_in_the_api_url_is_not_printed(tmp_path: Path, password: str) -> None:
    """A self-hosted Bot API server behind basic auth ("https://bot:<password>@host"):
    the start-up error names the server without its password, as typed or decoded."""
    url = f"http://glutebot:{password}@127.0.0.1:{refused_port()}"
    result = run_bot(tmp_path, url)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert password not in err, err
    assert unquote(password) not in err, err
    assert "glutebot:<password>@127.0.0.1" in err, err


def test_an_api_url_that_answers_a_web_page_is_one_clear_line(tmp_path: Path) -> None:
    """An API URL answering an HTML page (a proxy's 502, a web server that isn't a Bot
    API server): exactly glutebot's one line, exit 1. PTB used to log the whole page and
    a JSONDecodeError traceback at ERROR before it."""
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    with http_answering(502, page, "text/html") as url:
        result = run_bot(tmp_path, url)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("glutebot: Telegram at")


def test_a_wrong_api_url_path_is_not_blamed_on_the_token(tmp_path: Path) -> None:
    """A self-hosted Bot API server at the wrong path answers 404, which PTB reports as a
    rejected token: with a TELEGRAM_API_URL of one's own, the message names the URL as a
    suspect too, rather than sending the operator to BotFather for a token that is fine."""
    with http_answering(404, b"<html>404 Not Found</html>", "text/html") as url:
        result = run_bot(tmp_path, url + "/bot")
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "TELEGRAM_API_URL" in err or url in err, err


def test_whitespace_around_the_api_url_is_ignored_like_around_the_tokens() -> None:
    """Spaces around TELEGRAM_API_URL (a docker-compose or systemd value) are ignored,
    as around every other setting."""
    from bot.config import Settings

    url = " http://localhost:8081 "
    settings = Settings.load(environ={"TELEGRAM_API_URL": url}, env_file=None)
    assert settings.telegram_api_url == "http://localhost:8081"


@pytest.mark.parametrize(("zone", "summer_hours"), [("Europe/Berlin", 2), ("Nowhere/Atlantis", 0)])
def test_the_terminal_chat_keeps_the_computers_zone_by_name(
    monkeypatch: pytest.MonkeyPatch, zone: str, summer_hours: int
) -> None:
    """A fixed offset taken at start-up put a summer 00:30 in Berlin on the day before
    when the chat was started in winter. A zone with no name to go by (here: TZ names one
    that doesn't exist) falls back to the offset, without failing."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()  # for the fallback, which asks the C library
    try:
        local = _computer_zone()
    finally:
        monkeypatch.undo()
        time.tzset()
        tzlocal.reload_localzone()
    summer = datetime(2026, 7, 15, 12, tzinfo=UTC).astimezone(local).utcoffset()
    assert summer == timedelta(hours=summer_hours)


def test_ctrl_c_while_a_message_is_being_stored_does_not_log_it_silently(
    tmp_path: Path,
) -> None:
    """Ctrl-C while "done 5" waits for a database another process holds: the message in
    hand is finished and answered before the chat quits, so reps stored are never left
    untold (to be logged again next time). The lock is let go only once the chat has taken
    the Ctrl-C, and the chat waits for it as long as it takes."""
    db = tmp_path / "qa.db"
    chat = chat_process(tmp_path, patient=True, GLUTEBOT_LOG_LEVEL="DEBUG")
    assert chat.stdin is not None
    assert chat.stdout is not None
    assert chat.stderr is not None
    lock = sqlite3.connect(db, isolation_level=None, timeout=TIMEOUT)
    err = b""
    try:
        seen = b""
        while not seen.endswith(MENU_END):  # the welcome and its menu: it is waiting
            line = chat.stdout.readline()
            assert line, seen.decode(errors="replace")
            seen += line
        # The welcome's log lines were written before its menu: they are all here now.
        err += read_available(chat.stderr)
        lock.execute("BEGIN IMMEDIATE")  # somebody else holds the write lock
        chat.stdin.write(b"done 5\n")
        chat.stdin.flush()
        err += read_until(chat.stderr, COMMITTING)  # "done 5" now waits for the lock
        chat.send_signal(signal.SIGINT)  # Ctrl-C
        err += read_until(chat.stderr, b"stop signal: the chat ends")
        lock.execute("ROLLBACK")  # the lock is free again
        out, rest = chat.communicate(timeout=TIMEOUT)
        err += rest
    finally:
        chat.kill()
        chat.wait()
        lock.close()
    assert b"Traceback" not in err, err.decode(errors="replace")
    assert chat.returncode == 0
    with sqlite3.connect(db) as conn:
        logged = conn.execute("SELECT COALESCE(SUM(reps), 0) FROM rep_logs").fetchone()[0]
    conn.close()
    assert logged == 5
    assert b"Logged 5 glute bridges" in out, f"5 reps logged, the user never told: {out!r}"


def test_a_folder_given_as_the_database_is_named_as_the_problem(tmp_path: Path) -> None:
    """GLUTEBOT_DB naming a folder says so in one line, not SQLite's "unable to open
    database file"."""
    folder = tmp_path / "data"
    folder.mkdir()
    result = glutebot(tmp_path, b"hi\n", "--user", "ann", env=environment(
        tmp_path, GLUTEBOT_DB=str(folder)))  # fmt: skip
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    reason = err.replace(str(folder), "<path>")  # the path itself may hold any word
    assert "folder" in reason or "director" in reason, err


def test_a_file_where_the_databases_folder_should_be_is_named_as_the_problem(
    tmp_path: Path,
) -> None:
    """GLUTEBOT_DB=notes.txt/glutebot.db, notes.txt a file: the line says notes.txt is
    not a folder. It used to say the folder did not exist, though `ls` shows it."""
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    env = environment(tmp_path, GLUTEBOT_DB=str(notes / "glutebot.db"))
    result = glutebot(tmp_path, b"hi\n", "--user", "ann", env=env)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.endswith(f": {notes} is not a folder\n"), err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("command", ["chat", "run"])
def test_a_database_path_the_system_refuses_to_look_at_is_one_clear_line(
    tmp_path: Path, command: str
) -> None:
    """A database path the system won't even look at (a name too long; a folder the
    operator may not enter does the same) is one line about the database, exit 1. Looking
    for a better reason than SQLite's used to raise: the chat then blamed its output
    ("cannot write the chat out"), and `glutebot run` died with a traceback."""
    env = environment(
        tmp_path,
        GLUTEBOT_DB=str(tmp_path / ("a" * 300 + ".db")),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=f"http://127.0.0.1:{refused_port()}",
    )
    result = glutebot(tmp_path, b"hi\n", command, env=env)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.startswith("glutebot: cannot open database"), err
    assert err.endswith(": File name too long\n"), err
    assert len(err.strip().splitlines()) == 1, err


def test_another_programs_sqlite_file_is_not_taken_over(tmp_path: Path) -> None:
    """GLUTEBOT_DB pointing at another program's SQLite file is refused before anything is
    written to it: no tables added, journal mode unchanged."""
    other = tmp_path / "notes.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('precious')")
    conn.close()
    result = glutebot(tmp_path, b"done 5\n", "--user", "ann", env=environment(
        tmp_path, GLUTEBOT_DB=str(other)))  # fmt: skip
    with sqlite3.connect(other) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert tables == {"notes"}, f"glutebot added {sorted(tables - {'notes'})}"
    assert journal == "delete", f"journal mode changed to {journal}"
    assert result.returncode != 0
    assert b"Logged" not in result.stdout


def test_a_line_of_env_that_cannot_be_read_is_reported_as_glutebots_own(
    tmp_path: Path,
) -> None:
    """A .env line without "=" stops glutebot with a line naming the file and the line,
    rather than python-dotenv's warning and a setting silently ignored."""
    wanted = tmp_path / "wanted.db"
    (tmp_path / ".env").write_text(f"GLUTEBOT_DB {wanted}\n")
    env = environment(tmp_path)
    del env["GLUTEBOT_DB"]
    result = glutebot(tmp_path, b"done 5\n", "--user", "ann", env=env)
    err = result.stderr.decode()
    assert ".env" in err, err  # which file the line is in, for the operator to fix it


@pytest.mark.parametrize("word", ["quit", "exit"])
def test_quit_or_exit_typed_in_the_terminal_ends_the_chat(tmp_path: Path, word: str) -> None:
    """ "quit" or "exit" typed alone in the terminal ends the chat, as in most terminal
    programs."""
    result = glutebot(tmp_path, f"{word}\nhelp\n/stats\n".encode(), "--user", "ann")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Your progress" not in out, out[-800:]  # nothing after "quit" was read


@pytest.mark.parametrize(
    ("question", "what_1_did"),
    [("/check", "Please get medical help now"), ("/forget", "I've deleted everything")],
)
def test_one_answer_never_shows_two_different_options_under_the_same_number(
    tmp_path: Path, question: str, what_1_did: str
) -> None:
    """One terminal answer never numbers two lists from 1: after "done" at a question of
    the check (or /forget) held back by a warning sign, "1" is the question's first option
    and the earlier message's option isn't numbered, so no one answers "yes" to an urgent
    question, or deletes everything, meaning "Take the check again"."""
    typed = f"done 20\nmy leg is going numb\n{question}\ndone\n1\n"
    result = glutebot(tmp_path, typed.encode(), "--user", "ann")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    answer = out.split("\n\n🩺 No workout for now.", 1)[1]  # the answer to "done", and on
    assert what_1_did in answer  # what "1" did, typed next
    answer = answer.split(what_1_did, 1)[0]  # the answer to "done" only
    numbered_one = [line for line in answer.splitlines() if line.startswith("  1. ")]
    assert len(numbered_one) <= 1, f"options numbered 1 in one answer: {numbered_one}"


def _signal_while_starting_on_a_busy_database(
    tmp_path: Path, signum: int, *args: str, **env: str
) -> tuple[int, str]:
    """Starts `glutebot *args` while another process holds the database's write lock,
    sends it `signum` once it says it is waiting for that lock; its exit status and its
    stderr. The lock is held until glutebot has ended, and glutebot would wait for it as
    long as it takes: one that ends acted on the signal, rather than on the lock."""
    db = tmp_path / "qa.db"
    assert glutebot(tmp_path, b"done 1\n", "--user", "kim").returncode == 0
    lock = sqlite3.connect(db, isolation_level=None, timeout=TIMEOUT)
    lock.execute("BEGIN IMMEDIATE")  # a backup, say, holds the write lock
    bot = chat_process(tmp_path, *args, patient=True, GLUTEBOT_LOG_LEVEL="DEBUG", **env)
    assert bot.stderr is not None
    try:
        err = read_until(bot.stderr, WAITING_FOR_THE_LOCK)
        bot.send_signal(signum)
        _, rest = bot.communicate(timeout=TIMEOUT)  # a guard against hanging, no more
    finally:
        bot.kill()
        bot.wait()
        lock.execute("ROLLBACK")
        lock.close()
    return bot.returncode, (err + rest).decode(errors="replace")


def _said_why_it_failed(err: str) -> list[str]:
    """glutebot's own one-line failures ("glutebot: cannot use database ...")."""
    return [line for line in err.splitlines() if line.startswith("glutebot:")]


def test_ctrl_c_while_the_chat_waits_for_a_busy_database_at_start_is_quiet(
    tmp_path: Path,
) -> None:
    """Ctrl-C while the chat waits at start for a busy database: exit 0 at once, no
    traceback from aiosqlite's worker thread. (It used to wait for the lock's timeout.)"""
    status, err = _signal_while_starting_on_a_busy_database(tmp_path, signal.SIGINT)
    assert "Traceback" not in err, err
    assert not _said_why_it_failed(err), err
    assert status == 0, err


def test_sigterm_while_the_chat_is_starting_exits_0(tmp_path: Path) -> None:
    """SIGTERM while the chat is still starting exits 0, as once it has started."""
    status, err = _signal_while_starting_on_a_busy_database(tmp_path, signal.SIGTERM)
    assert "Traceback" not in err, err
    assert not _said_why_it_failed(err), err
    assert status == 0, f"exit status {status}: {err}"


def test_sigterm_to_run_while_it_waits_for_a_busy_database_stops_it_at_once(
    tmp_path: Path,
) -> None:
    """SIGTERM to `glutebot run` while it waits at start for a database another process
    holds locked stops it at once, exit 0, as the chat does. It used to be ignored until
    the lock's 5 s timeout ran out, then exit 1 ("database is locked"): a failure, for a
    service manager."""
    status, err = _signal_while_starting_on_a_busy_database(
        tmp_path,
        signal.SIGTERM,
        "run",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=f"http://127.0.0.1:{refused_port()}",
    )
    assert "Traceback" not in err, err
    assert not _said_why_it_failed(err), err
    assert status == 0, f"exit status {status}: {err}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_stop_while_glutebot_is_still_loading_is_quiet(tmp_path: Path, signum: int) -> None:
    """Ctrl-C (or SIGTERM) while glutebot is still importing itself, the first moment
    after it is started (seconds on a slow machine), ends it quietly with exit status 0,
    as a stop at any other moment does. Ctrl-C used to print a KeyboardInterrupt
    traceback (exit -2), and SIGTERM killed it (-15). (`-X importtime` only shows when
    the imports are under way.)"""
    bot = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "bot", "--user", "kim"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(tmp_path),
        cwd=tmp_path,
    )
    assert bot.stderr is not None
    try:
        seen = b""
        while b"bot.adapters\n" not in seen:  # glutebot's own modules are being imported
            line = bot.stderr.readline()
            assert line, seen.decode(errors="replace")[-500:]
            seen += line
        bot.send_signal(signum)
        _, rest = bot.communicate(timeout=TIMEOUT)
    finally:
        bot.kill()
        bot.wait()
    err = (seen + rest).decode(errors="replace")
    shown = "\n".join(line for line in err.splitlines() if not line.startswith("import time:"))
    assert "Traceback" not in shown, shown[-1500:]
    assert bot.returncode == 0, f"exit status {bot.returncode}"


# `python -m bot`, with a wait for another process's lock on the database far longer
# than any test (5 s otherwise): one that waited for the lock could not end while the
# test holds it, whatever the machine's load.
PATIENT = (
    "import runpy, bot.store.db as db; db.BUSY_TIMEOUT_MS = 3_600_000;"
    " runpy.run_module('bot', run_name='__main__', alter_sys=True)"
)
# Lines glutebot logs at DEBUG: it is waiting for another process's lock at start, and
# it is committing a message's writes (and so may be waiting for that lock).
WAITING_FOR_THE_LOCK = b"another process holds the database's lock; waiting for it"
COMMITTING = b"committing the writes of"


def chat_process(
    tmp_path: Path, *args: str, patient: bool = False, **env: str
) -> subprocess.Popen[bytes]:
    """`glutebot *args` (by default the chat, as kim) running, its standard streams pipes;
    `patient`, waiting for a locked database as long as it takes (PATIENT)."""
    entry = ("-c", PATIENT) if patient else ("-m", "bot")
    return subprocess.Popen(
        [sys.executable, *entry, *(args or ("--user", "kim"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(tmp_path, **env),
        cwd=tmp_path,
    )


def read_until(stream: IO[bytes], wanted: bytes) -> bytes:
    """What `stream` (a pipe from a process) gives until `wanted` has come in it; the
    process ending first, or saying nothing for TIMEOUT seconds (hung), fails the test."""
    got = b""
    while wanted not in got:
        ready, _, _ = select.select([stream], [], [], TIMEOUT)
        assert ready, f"nothing more in {TIMEOUT} s: {got.decode(errors='replace')[-1500:]}"
        chunk = os.read(stream.fileno(), 65536)
        assert chunk, f"it ended first: {got.decode(errors='replace')[-1500:]}"
        got += chunk
    return got


def read_available(stream: IO[bytes]) -> bytes:
    """Everything a pipe from a process holds right now, without waiting for more."""
    got = b""
    while select.select([stream], [], [], 0)[0] and (chunk := os.read(stream.fileno(), 65536)):
        got += chunk
    return got

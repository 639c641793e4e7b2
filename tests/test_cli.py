"""The `glutebot` command in a subprocess, as a person would run it."""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
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


def test_a_reader_that_stops_early_ends_the_chat_quietly(tmp_path: Path) -> None:
    environ = os.environ | {"GLUTEBOT_DB": str(tmp_path / "cli.db")}
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=tmp_path,
    )
    assert chat.stdout is not None
    chat.stdout.close()  # as `glutebot | head -0` would
    _, err = chat.communicate(b"help\n" * 200, timeout=60)
    assert chat.returncode == 0
    assert b"Traceback" not in err, err.decode()


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


def test_at_a_terminal_the_up_arrow_recalls_the_last_line(tmp_path: Path) -> None:
    pytest.importorskip("readline")
    controller, terminal = os.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_BOT_TOKEN")}
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot", "--user", "tty"],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=environ | {"GLUTEBOT_DB": str(tmp_path / "cli.db"), "TERM": "xterm"},
        cwd=tmp_path,
    )
    os.close(terminal)
    seen = b""

    def answer(typed: bytes, expected: bytes) -> None:
        """Types at the prompt, once it shows, and reads until `expected`."""
        nonlocal seen
        for text in (b"> ", expected):
            while text not in seen:
                ready, _, _ = select.select([controller], [], [], 30)
                assert ready, seen.decode(errors="replace")
                seen += os.read(controller, 4096)
            if text == b"> ":
                seen = b""
                os.write(controller, typed)

    try:
        answer(b"done 5\r", b"Logged 5 glute bridges")
        answer(b"\x1b[A\r", b"That makes 10 glute bridges today")  # up arrow: "done 5"
        answer(b"\x04", b"\n")  # Ctrl-D
        assert chat.wait(timeout=30) == 0
    finally:
        chat.kill()
        os.close(controller)
        assert chat.stderr is not None
        with chat.stderr:
            assert chat.stderr.read() == b""

"""A regular install carries every message file: pyproject's data-files must cover
messages/ completely, or an installed glutebot would fail to find a template. And its
`glutebot` command runs glutebot."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_data_files_cover_every_message_file() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files: dict[str, list[str]] = pyproject["tool"]["setuptools"]["data-files"]
    installed = {
        f"{target}/{path.name}"
        for target, patterns in data_files.items()
        for pattern in patterns
        for path in ROOT.glob(pattern)
    }
    shipped = {
        f"share/glutebot/{path.relative_to(ROOT).as_posix()}"
        for path in (ROOT / "messages").rglob("*")
        if path.is_file()
    }
    assert shipped == installed


def test_the_console_script_runs_glutebot() -> None:
    """The `glutebot` script pip writes (`from <module> import <function>;
    sys.exit(<function>())`) runs the command line."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, _, function = pyproject["project"]["scripts"]["glutebot"].partition(":")
    script = f"import sys; from {module} import {function}; sys.exit({function}())"
    result = subprocess.run(
        [sys.executable, "-c", script, "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("glutebot ")

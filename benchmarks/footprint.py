"""Footprint: peak memory of a bot process with 100,000 users and 1,000 conversations in
flight, and how long `glutebot chat` takes to show its first prompt.

Both run in fresh subprocesses, so nothing the benchmark itself holds is counted. Run as
`python -m benchmarks.footprint DB_PATH PEOPLE` it is the measured bot process.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import seed
from benchmarks.journeys import JOURNEY, Person
from bot.app import open_core

USERS = 100_000
# Into the symptom check: each person holds a conversation mid-flow.
STEPS = 6


async def prepare(path: Path) -> None:
    async with open_core(path) as core:
        await seed.users(core.store, USERS)


def peak_rss_mb(people: int) -> tuple[float, float]:
    """(peak RSS, RSS before any conversation) of a bot process, in MB."""
    with tempfile.TemporaryDirectory(prefix="glutebot-rss-") as folder:
        path = Path(folder) / "rss.db"
        asyncio.run(prepare(path))
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.footprint", str(path), str(people)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout.split()
    return float(out[0]), float(out[1])


async def _hold_conversations(path: Path, people: int) -> float:
    async with open_core(path) as core:
        before = _rss_now_mb()
        crowd = [Person(core.engine, n, "rss") for n in range(people)]
        for index in range(STEPS):
            await asyncio.gather(*(person.step(JOURNEY[index]) for person in crowd))
        return before


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def start_to_prompt(runs: int) -> float:
    """Median seconds from starting `glutebot chat` to its first prompt on stdout."""
    glutebot = Path(sys.executable).with_name("glutebot")
    times = []
    with tempfile.TemporaryDirectory(prefix="glutebot-start-") as folder:
        env = {**os.environ, "GLUTEBOT_DB": str(Path(folder) / "start.db")}
        for _ in range(runs):
            started = time.perf_counter()
            chat = subprocess.Popen(
                [str(glutebot), "chat", "--user", "bench"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=folder,
            )
            assert chat.stdout is not None
            first = chat.stdout.read(1)
            times.append(time.perf_counter() - started)
            chat.kill()
            chat.communicate()
            if not first:
                raise RuntimeError("glutebot chat printed nothing")
    return statistics.median(times)


def _peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: after fork and exec, Linux reports in ru_maxrss
    # the parent's size at the fork if that was larger.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    before = asyncio.run(_hold_conversations(Path(sys.argv[1]), int(sys.argv[2])))
    print(f"{_peak_rss_mb():.1f} {before:.1f}")

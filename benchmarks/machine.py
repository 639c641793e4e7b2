"""How steady the machine's CPU is while the benchmarks run.

The same small piece of pure-Python work is done over and over on one CPU, and the work
done in each 50 ms window is compared with the median window. On a dedicated machine
every window does about the same; on a shared virtual machine the neighbours' load shows
as windows, and whole spells of them, where the same code runs slower. A tail latency
measured during such a spell says more about the machine than about glutebot, so the
table shows this next to the other figures.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

WINDOW = 0.05  # seconds
SLOW = 0.75  # a window doing less than this share of the median's work is slow


@dataclass(frozen=True)
class Steadiness:
    work: list[int]  # pieces of work done in each window, in order

    @property
    def slowest(self) -> float:
        """The slowest window's speed, as a share of the median window's."""
        return min(self.work) / statistics.median(self.work)

    @property
    def slow_share(self) -> float:
        return len(self._slow()) / len(self.work)

    @property
    def longest_slow_spell(self) -> float:
        """Seconds, the longest run of slow windows back to back."""
        longest = current = 0
        slow = set(self._slow())
        for index in range(len(self.work)):
            current = current + 1 if index in slow else 0
            longest = max(longest, current)
        return longest * WINDOW

    def _slow(self) -> list[int]:
        median = statistics.median(self.work)
        return [index for index, done in enumerate(self.work) if done < SLOW * median]


def _piece() -> int:
    total = 0
    for number in range(2_000):  # about 70 µs on the machine in docs/BENCHMARKS.md
        total += number * number
    return total


def measure(seconds: float) -> Steadiness:
    """Run on the calling thread; hold it to one CPU first (`benchmarks.cpu.one_cpu`)."""
    work: list[int] = []
    now = time.perf_counter()
    window_ends, end = now + WINDOW, now + seconds
    done = 0
    while now < end:
        _piece()
        done += 1
        now = time.perf_counter()
        if now >= window_ends:
            work.append(done)
            done = 0
            window_ends += WINDOW
    return Steadiness(work)

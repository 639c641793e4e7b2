"""`python -m benchmarks [--quick]`: every benchmark, then a table of figures and targets.

Nothing here is a test: the figures depend on the machine and are recorded, with the
machine, in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from benchmarks import engine, fanout, footprint, growth, machine, peer
from benchmarks.cpu import one_cpu
from benchmarks.report import Figure, at_least, at_most, info, table

T = TypeVar("T")
SECTIONS = ("machine", "engine", "durability", "fanout", "growth", "footprint", "peer")
TARGET_RATE = 5_000.0
LIGHTER_LOADS = (1_000.0, 2_500.0)
# The load at which growth's latency is compared: half the target, below capacity.
GROWTH_LOAD = 2_500.0
# A round trip to Telegram's Bot API from a server near it: the peer rows "with latency".
LATENCY = 0.05


@dataclass(frozen=True)
class Size:
    repeats: int  # engine runs are repeated and the median run reported
    single: int  # messages from the one person
    per_person: int  # messages from each of the 200: whole journeys (30 each)
    paced_seconds: float
    reminders: int
    pacing_seconds: float
    rep_logs: tuple[int, ...]
    active: int
    peer_rounds_single: int
    peer_rounds_crowd: int
    peer_rounds_latency: int  # checks taken with each Bot API call LATENCY away
    steadiness_seconds: float


FULL = Size(3, 3_000, 60, 4.0, 100_000, 30.0, (1_000, 100_000, 1_000_000), 1_000, 100, 3, 5, 10.0)
QUICK = Size(1, 600, 30, 2.0, 100_000, 8.0, (1_000, 100_000), 1_000, 20, 1, 2, 3.0)
CROWD = 200


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    size = QUICK if args.quick else FULL
    print(_machine(), file=sys.stderr)
    started = time.perf_counter()
    figures: list[Figure] = []
    for section in args.only or SECTIONS:
        print(f"running {section}...", file=sys.stderr, flush=True)
        figures += asyncio.run(RUNS[section](size))
    print(table(figures, markdown=args.markdown))
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return 0


def _machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load}, {time.strftime('%Y-%m-%d %H:%M')}"
    )


async def _median_run(
    measure: Callable[[], Awaitable[engine.Run]], repeats: int, pin: bool
) -> engine.Run:
    runs = []
    for _ in range(repeats):
        with one_cpu(pin):
            runs.append(await measure())
    return _median(runs, lambda run: run.rate)


async def machine_figures(size: Size) -> list[Figure]:
    with one_cpu():
        steady = machine.measure(size.steadiness_seconds)
    window = f"{machine.WINDOW * 1000:.0f} ms window"
    return [
        info(f"machine: CPU speed, slowest {window} vs the median", 100 * steady.slowest, "%",
             f"{size.steadiness_seconds:g} s of pure Python on one CPU"),
        info(f"machine: {window}s under {machine.SLOW * 100:.0f} % speed",
             100 * steady.slow_share, "%"),
        info("machine: longest slow spell", steady.longest_slow_spell, "s",
             "slow windows back to back"),
    ]  # fmt: skip


async def engine_figures(size: Size) -> list[Figure]:
    figures = []
    for pin, where in ((False, "2 CPUs"), (True, "1 CPU")):
        one = await _median_run(lambda: engine.measure(1, size.single), size.repeats, pin)
        crowd = await _median_run(
            lambda: engine.measure(CROWD, size.per_person), size.repeats, pin
        )
        paced = await _median_run(
            lambda: engine.measure_paced(CROWD, TARGET_RATE, size.paced_seconds),
            size.repeats,
            pin,
        )
        figures += [
            info(f"engine, 1 user, {where}: rate", one.rate, "msg/s"),
            at_most(f"engine, 1 user, {where}: p50", one.pct_ms(50), "ms", 1),
            info(f"engine, 1 user, {where}: p99", one.pct_ms(99), "ms"),
            at_least(
                f"engine, {CROWD} users flat out, {where}: rate", crowd.rate, "msg/s", TARGET_RATE
            ),
            info(
                f"engine, {CROWD} users flat out, {where}: p99",
                crowd.pct_ms(99),
                "ms",
                "Little's law: 200 waiting users / rate",
            ),
            at_least(
                f"engine, {CROWD} users at 5,000 msg/s offered, {where}: rate",
                paced.rate,
                "msg/s",
                TARGET_RATE * 0.99,
            ),
            at_most(
                f"engine, {CROWD} users at 5,000 msg/s offered, {where}: p99",
                paced.pct_ms(99),
                "ms",
                5,
                paced.cpu_note(),
            ),
        ]
        for rate in LIGHTER_LOADS:  # where the tail starts to grow
            lighter = await _median_run(
                partial(engine.measure_paced, CROWD, rate, size.paced_seconds), size.repeats, pin
            )
            figures.append(
                info(f"engine, {CROWD} users at {rate:,.0f} msg/s offered, {where}: p99",
                     lighter.pct_ms(99), "ms",
                     f"p50 {lighter.pct_ms(50):.2f} ms; {lighter.cpu_note()}")
            )  # fmt: skip
    return figures


async def durability_figures(size: Size) -> list[Figure]:
    figures = []
    for people, per_person in ((1, size.single), (CROWD, size.per_person)):
        with one_cpu():
            ours = await _median_run(
                partial(engine.measure, people, per_person), size.repeats, True
            )
            floor = await _median_run(
                partial(engine.measure_floor, people, per_person), size.repeats, True
            )
        users = f"{people} user{'s' if people > 1 else ''}"
        figures += [
            info(f"floor (insert+commit a row), {users}, 1 CPU: rate", floor.rate, "msg/s"),
            info(f"engine time / floor time, {users}, 1 CPU", floor.rate / ours.rate, "x"),
        ]
    return figures


async def fanout_figures(size: Size) -> list[Figure]:
    result = await fanout.measure(size.reminders, size.pacing_seconds)
    return [
        at_most(f"fan-out: select {result.due:,} due reminders", result.select_seconds, "s", 1),
        info("fan-out: one scheduler batch (500)", result.first_batch_seconds * 1000, "ms"),
        at_least(
            f"fan-out: delivery rate vs {result.configured_rate:g}/s configured",
            100 * result.achieved_rate / result.configured_rate,
            "%",
            95,
            f"{result.sent} sent in {size.pacing_seconds:g} s, real clock",
        ),
        at_most("fan-out: 429s from the fake platform", result.refused, "", 0),
    ]


async def growth_figures(size: Size) -> list[Figure]:
    rate = GROWTH_LOAD
    runs: dict[int, list[growth.Growth]] = {rows: [] for rows in size.rep_logs}
    # Round by round, each database in turn: this machine's speed drifts over minutes
    # (the machine section), so a slow spell lands on one run of a database, not on all.
    for _ in range(size.repeats):
        for rows in size.rep_logs:
            with one_cpu():
                measured = await growth.measure(
                    rows, CROWD, size.per_person, rate, size.paced_seconds
                )
            runs[rows].append(measured)
    flat_out = {
        rows: _median(each, lambda run: run.flat_out.rate).flat_out for rows, each in runs.items()
    }
    paced = {
        rows: _median(each, lambda run: run.paced.pct_ms(99)).paced for rows, each in runs.items()
    }
    figures = []
    for rows in size.rep_logs:
        where = f"{rows:,} rep logs, 100k users, 1 CPU"
        figures += [
            info(f"growth, {where}: rate flat out", flat_out[rows].rate, "msg/s"),
            info(f"growth, {where}: p99 flat out", flat_out[rows].pct_ms(99), "ms",
                 "Little's law: 200 waiting users / rate"),
            info(f"growth, {where}: p99 at {rate:,.0f} msg/s", paced[rows].pct_ms(99), "ms",
                 f"p50 {paced[rows].pct_ms(50):.2f} ms; {paced[rows].cpu_note()}"),
        ]  # fmt: skip
    smallest = size.rep_logs[0]
    worst_rate = min(run.rate for run in flat_out.values()) / flat_out[smallest].rate
    worst_p99 = max(run.pct_ms(99) for run in paced.values()) / paced[smallest].pct_ms(99)
    figures += [
        at_least("growth: lowest rate vs smallest log", 100 * worst_rate, "%", 80),
        at_most(f"growth: highest p99 at {rate:,.0f} msg/s vs smallest log", 100 * worst_p99,
                "%", 120),
    ]  # fmt: skip
    return figures


def _median(runs: list[T], by: Callable[[T], float]) -> T:
    return sorted(runs, key=by)[len(runs) // 2]


async def footprint_figures(size: Size) -> list[Figure]:
    peak, before = await asyncio.to_thread(footprint.peak_rss_mb, size.active)
    start = await asyncio.to_thread(footprint.start_to_prompt, 5)
    return [
        info("footprint: RSS, 100k users, before any conversation", before, "MB"),
        at_most(
            f"footprint: peak RSS, 100k users, {size.active:,} conversations", peak, "MB", 150
        ),
        at_most("glutebot chat: start to first prompt (median of 5)", start, "s", 1),
    ]


async def peer_figures(size: Size) -> list[Figure]:
    figures = []
    for people, rounds in ((1, size.peer_rounds_single), (CROWD, size.peer_rounds_crowd)):
        ours: list[float] = []
        theirs: list[float] = []
        flush = 0.0
        for _ in range(size.repeats):
            with one_cpu():
                ours.append((await peer.glutebot(people, rounds)).rate)
                side = await peer.peer(people, rounds)
            theirs.append(side.rate)
            flush = side.flush_seconds
        mine, other = statistics.median(ours), statistics.median(theirs)
        users = f"{people} user{'s' if people > 1 else ''}"
        figures += [
            info(f"Telegram check, {users}: glutebot", mine, "upd/s", "durable per message"),
            info(
                f"Telegram check, {users}: PTB ConversationHandler",
                other,
                "upd/s",
                f"pickled on shutdown: {flush * 1000:.0f} ms",
            ),
            at_least(f"Telegram check, {users}: glutebot / PTB", mine / other, "x", 1.0),
        ]
    # What a person waits for: with Telegram's servers a round trip away, the bot's own
    # CPU hardly counts, and how its calls follow one another decides.
    rounds = size.peer_rounds_latency
    ours_ms = 1000 / (await peer.glutebot(1, rounds, LATENCY)).rate
    theirs_ms = 1000 / (await peer.peer(1, rounds, LATENCY)).rate
    where = f"Telegram check, 1 user, {LATENCY * 1000:.0f} ms a Bot API call"
    return [
        *figures,
        info(f"{where}: glutebot", ours_ms, "ms", "an update in, to the next question out"),
        info(f"{where}: PTB ConversationHandler", theirs_ms, "ms"),
    ]


RUNS: dict[str, Callable[[Size], Coroutine[Any, Any, list[Figure]]]] = {
    "machine": machine_figures,
    "engine": engine_figures,
    "durability": durability_figures,
    "fanout": fanout_figures,
    "growth": growth_figures,
    "footprint": footprint_figures,
    "peer": peer_figures,
}

if __name__ == "__main__":
    sys.exit(main())

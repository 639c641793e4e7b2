"""Running a measurement with the process held to one CPU.

The event loop and aiosqlite's worker thread hand every statement back and forth. On
this kind of virtual machine a hand-over between two CPUs costs several times one on the
same CPU, and varies from run to run, so each engine figure is taken both ways.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_cpu(enabled: bool = True) -> Iterator[None]:
    """Threads started inside (aiosqlite starts one per connection) inherit the CPU."""
    if not enabled:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)

"""The database: one long-lived aiosqlite connection for every write, opening and
migrating; beside it, a read-only connection for the quick reads of each message and a
checkpointer (checkpoints.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.checkpoints import Checkpointer
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION, fingerprint

log = logging.getLogger(__name__)

# A write is a closure over SQL that a store module built; the engine collects the writes
# of one message and `Database.apply` runs them in a single transaction. It runs on the
# database's thread, so it is plain synchronous sqlite3.
Write = Callable[[sqlite3.Connection], None]
Row = sqlite3.Row

# How long a write waits for another process's lock on the file before it fails.
BUSY_TIMEOUT_MS = 5000
# Opening waits for that lock in tries this long, so that a signal can call it off.
OPENING_TRY_MS = 100


class StoreError(Exception):
    """The database can't be used; the message is meant for the operator as is."""


@dataclass(frozen=True)
class _Job:
    """One caller's writes waiting for a group commit, and the caller's answer."""

    writes: list[Write]
    done: asyncio.Future[None]

    def succeed(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if self.done.done():
            return
        if isinstance(exc, asyncio.CancelledError):
            self.done.cancel()
        else:
            self.done.set_exception(exc)


class Database:
    def __init__(self, conn: aiosqlite.Connection, reader: sqlite3.Connection | None) -> None:
        self._conn = conn
        self._reader = reader
        self._checkpointer: Checkpointer | None = None
        self._write_lock = asyncio.Lock()
        self._queued: list[_Job] = []
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        connecting = aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn = await connecting
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread after a failed connect, but the thread's
            # last callback must land before the event loop closes, or it prints a
            # traceback on exit: wait for the thread to end.
            worker = getattr(connecting, "_thread", None)
            if isinstance(worker, threading.Thread):
                await asyncio.to_thread(worker.join, 5)
            raise StoreError(f"cannot open database {path}: {_why_not(Path(path), exc)}") from None
        conn.row_factory = sqlite3.Row
        db = cls(conn, None)
        try:
            await db._configure()
            await db._prepare_file()
            db._reader = _open_reader(path)
            if db._reader is not None:  # a file, so a WAL to checkpoint
                db._checkpointer = Checkpointer(path)
        except (sqlite3.DatabaseError, StoreError) as exc:
            await db.close()
            why = _why_not(Path(path), exc) if isinstance(exc, sqlite3.Error) else str(exc)
            raise StoreError(f"cannot use database {path}: {why}") from None
        except asyncio.CancelledError:
            # Called off (Ctrl-C while waiting for a busy file): the statement under way
            # is interrupted and the connection closed, so its worker thread ends before
            # the event loop does (or it prints a traceback on exit).
            await conn.interrupt()
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer  # writes already queued are committed first
        if self._checkpointer is not None:
            await self._checkpointer.close()
        if self._reader is not None:
            self._reader.close()
        # Closed last, the writer checkpoints everything and removes the WAL file.
        await self._conn.close()

    async def _configure(self) -> None:
        """Settings of this connection only: nothing here changes the file. (WAL mode,
        which lets readers run beside the writer, is written into the file, so `open` sets
        it only once the file's version is known.)"""
        # Migrations store handled events' keys as fingerprints (schema.V4).
        await self._conn.create_function("fingerprint", 1, fingerprint, deterministic=True)
        for pragma in (
            # Durable across a process crash (not an OS crash or power loss), which the
            # README states.
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            # Checkpoints run beside the writer, not inside its commits (checkpoints.py).
            "PRAGMA wal_autocheckpoint = 0",
        ):
            await self._conn.execute(pragma)

    async def _prepare_file(self) -> None:
        """Refuses a file glutebot can't use, else puts it in WAL mode, migrates it and
        checks that it can be written. Another process holding its lock (a backup, say)
        is waited for up to the busy timeout, as by any write; but in short tries, each a
        chance to be called off: SQLite's own wait can't be interrupted, and Ctrl-C or
        SIGTERM while glutebot starts shouldn't wait for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
        await self._conn.execute(f"PRAGMA busy_timeout = {OPENING_TRY_MS}")
        waiting = False
        while True:
            try:
                await self._refuse_unusable()
                await self._conn.execute("PRAGMA journal_mode = WAL")
                await self._migrate()
                await self._check_writable()
                break
            except sqlite3.OperationalError as exc:
                if not _nobody_at_fault(exc) or loop.time() >= deadline:
                    raise
                if not waiting:  # why glutebot is slow to start, for whoever debugs it
                    log.debug("another process holds the database's lock; waiting for it")
                    waiting = True
            # SQLite says "busy" without waiting where waiting could deadlock: no spinning.
            await asyncio.sleep(0.01)
        await self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    async def _check_writable(self) -> None:
        """Fails now on a file SQLite can only read (read-only file or mount), rather than
        at the first message. Setting the version to itself is a write that changes
        nothing."""
        await self._conn.execute(f"PRAGMA user_version = {await self.version()}")

    async def version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        assert row is not None
        return int(row[0])

    async def _refuse_unusable(self) -> None:
        """Refuses a file glutebot can't use as it is, before anything is written to it:
        one from a newer glutebot, or another program's (tables, but no glutebot
        version: glutebot would add its own beside them and change its journal mode)."""
        # Read together: another glutebot creating the file may commit its first
        # migration, tables and version at once, between two separate reads.
        cursor = await self._conn.execute(
            "SELECT user_version, (SELECT count(*) FROM sqlite_master) FROM pragma_user_version"
        )
        current, tables = await cursor.fetchone() or (0, 0)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"it has schema version {current}, newer than this glutebot knows "
                f"({SCHEMA_VERSION}); upgrade glutebot"
            )
        if current == 0 and tables:
            raise StoreError(
                "it is another program's database (it has tables, none of them "
                "glutebot's); give glutebot a file of its own"
            )

    async def _migrate(self) -> None:
        for version in range(await self.version(), SCHEMA_VERSION):
            # One transaction: the migration and its version bump land together. Another
            # process opening the same file may have migrated it meanwhile, so the
            # version is read again inside the transaction, and a step already taken is
            # not taken twice.
            steps = [_expect_version(version)]
            steps += [sql_write(statement) for statement in _statements(MIGRATIONS[version])]
            steps.append(sql_write(f"PRAGMA user_version = {version + 1}"))
            try:
                async with self._write_lock:
                    await _on_db_thread(self._conn, _commit_writes, steps)
            except _AlreadyMigrated:
                continue

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                await self._conn.execute("COMMIT")
            except BaseException:
                # Cancelled while waiting, a statement still runs on aiosqlite's thread
                # (a BEGIN waiting for another process's lock, say), and some errors (a
                # full disk) end the transaction by themselves. So whether a transaction
                # is open is asked on that thread, after everything queued there; and a
                # second cancellation must not leave it open.
                await asyncio.shield(_on_db_thread(self._conn, _roll_back_if_open, []))
                raise
            self._wrote()

    async def apply(self, writes: Iterable[Write]) -> None:
        """Run `writes` in one transaction: when this returns they are committed, and if it
        raises, none of them is.

        Group commit: callers queue their writes, and one committer task commits everything
        queued so far in a single transaction, while new callers queue for the next one. So
        a busy bot pays for one BEGIN/COMMIT per batch rather than per message. Cancelling a
        caller withdraws its writes only while they are still queued.
        """
        job = _Job(list(writes), asyncio.get_running_loop().create_future())
        self._queued.append(job)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_queued())
        await job.done

    async def _commit_queued(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                waiting = [job for job in batch if not job.done.done()]  # not cancelled
                if waiting:
                    await self._commit_batch(waiting)
        finally:
            self._committer = None
            for job in self._queued:  # left only if this task itself was cancelled
                job.fail(StoreError("the database is closing"))
            self._queued = []

    async def _commit_batch(self, batch: list[_Job]) -> None:
        try:
            await self._run_in_one_transaction(batch)
        except Exception as exc:
            if len(batch) == 1 or _nobody_at_fault(exc):
                for job in batch:
                    job.fail(exc)
                return
            # Someone's writes failed and took the batch down with them: commit each
            # caller on its own, so only the one at fault gets the error.
            for job in batch:
                await self._commit_batch([job])
            return
        except BaseException as exc:
            for job in batch:
                job.fail(exc)
            raise
        self._wrote()
        for job in batch:
            job.succeed()

    async def _run_in_one_transaction(self, batch: list[_Job]) -> None:
        # Writes only run again after a rollback, so running one twice is safe: a write
        # is SQL, and it sees the database as it was before its first run.
        writes = [write for job in batch for write in job.writes]
        async with self._write_lock:
            # Then it may wait for another process's lock, which nothing else would show.
            log.debug("committing the writes of %d callers", len(batch))
            await _on_db_thread(self._conn, _commit_writes, writes)

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A quick read: an index lookup of one person's rows, or a few.

        It runs right here on the event loop's thread, through the read-only connection:
        such a read takes microseconds, less than handing it to aiosqlite's thread and back
        (docs/BENCHMARKS.md), and in WAL mode a reader never waits for the writer. It sees
        everything committed before it started, so everything `apply` has returned from.
        """
        if self._reader is None:  # an in-memory database can't be shared with a reader
            return await self.scan(sql, params)
        # fetchall() runs the statement to its end, which ends its read transaction; a
        # statement left half-read would pin an old snapshot.
        return self._reader.execute(sql, params).fetchall()

    async def scan(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A read that may go through many rows (a whole community, every due schedule):
        on aiosqlite's thread, so the event loop keeps answering meanwhile."""
        # One trip to aiosqlite's thread; execute + fetch + close would be three.
        return list(await self._conn.execute_fetchall(sql, params))


def _open_reader(path: str | Path) -> sqlite3.Connection | None:
    if str(path) in (":memory:", ""):  # private to the connection that made it
        return None
    # Autocommit: each read is its own transaction, so it sees the latest commit.
    reader = sqlite3.connect(str(path), isolation_level=None)
    reader.row_factory = sqlite3.Row
    reader.execute("PRAGMA query_only = ON")
    # A WAL reader waits only while another connection recovers the WAL after a crash.
    reader.execute("PRAGMA busy_timeout = 1000")
    return reader


def sql_write(sql: str, params: Sequence[Any] = ()) -> Write:
    def write(conn: sqlite3.Connection) -> None:
        conn.execute(sql, params)

    return write


def _commit_writes(conn: sqlite3.Connection, writes: list[Write]) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
        for write in writes:
            write(conn)
        conn.execute("COMMIT")
    except BaseException:
        _roll_back_if_open(conn, [])
        raise


def _roll_back_if_open(conn: sqlite3.Connection, _: list[Write]) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _nobody_at_fault(exc: Exception) -> bool:
    """The database was busy (another process holding its write lock past the busy
    timeout): no caller's writes caused it, and committing each alone would only wait the
    whole timeout again, once per caller."""
    return _primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


# The database or its disk said no: busy, full, read-only, unreadable, failing.
_REFUSALS = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    }
)


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def log_failure(logger: logging.Logger, exc: BaseException, message: str, *args: object) -> None:
    """Logs something that failed with `exc`. When the database or its disk refused, it
    takes an operator, not a developer, and a traceback would only bury the reason: one
    line ("database is locked"). Anything else may be a bug: the whole traceback."""
    if _primary_code(exc) in _REFUSALS:
        logger.error(message + ": %s", *args, exc)
    else:
        logger.error(message, *args, exc_info=exc)


class _AlreadyMigrated(Exception):
    """Another process took this migration step first."""


def _expect_version(version: int) -> Write:
    def check(conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] != version:
            raise _AlreadyMigrated

    return check


def _statements(script: str) -> list[str]:
    """A migration script as its statements, each whole (a trigger's body included)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if _without_comments(pending):
        raise ValueError(f"unfinished statement in a migration: {pending.strip()!r}")
    return statements


def _without_comments(sql: str) -> str:
    return "".join(line.split("--", 1)[0] for line in sql.splitlines()).strip()


async def _on_db_thread(
    conn: aiosqlite.Connection,
    fn: Callable[[sqlite3.Connection, list[Write]], None],
    writes: list[Write],
) -> None:
    """Run `fn` on aiosqlite's thread in one hand-over instead of one per statement: a
    hand-over costs about 30 us, a statement 2 us (see docs/BENCHMARKS.md).

    aiosqlite has no public call for this. `_execute` (queue a function for its thread)
    and `_conn` (the sqlite3 connection, only ever used on that thread) are its internals;
    aiosqlite is pinned below 1.0, and every write in the test suite comes through here,
    so a change in them fails loudly.
    """
    await conn._execute(fn, conn._conn, writes)  # type: ignore[no-untyped-call]


def _why_not(path: Path, error: sqlite3.Error) -> str:
    """Why SQLite couldn't open `path`, in words that name the problem where its own
    ("unable to open database file") don't. It never raises: it explains an error."""
    try:
        if path.is_dir():
            return "it is a folder; give the path of a database file (in it, say)"
        if not path.parent.exists():
            return f"the folder {path.parent} does not exist"
        if not path.parent.is_dir():  # a file where the folder should be
            return f"{path.parent} is not a folder"
        # SQLite creates the database, and its journal files beside it, in its folder.
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return f"glutebot may not write in its folder, {path.parent}"
    except OSError as exc:  # the system won't even look: a name too long, a folder shut
        return exc.strerror or str(error)
    return str(error)

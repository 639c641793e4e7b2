"""The database schema as a list of forward migrations.

`MIGRATIONS[n]` takes a database from `PRAGMA user_version = n` to `n + 1`. Never edit a
migration that has shipped: append a new one. Old-schema fixtures in the tests prove
that every earlier version still opens.
"""

from __future__ import annotations

import hashlib

V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    tz TEXT,
    created_at TEXT NOT NULL,
    programme_started_at TEXT,
    blocked INTEGER NOT NULL DEFAULT 0,
    leaderboard_hidden INTEGER NOT NULL DEFAULT 0,
    UNIQUE (platform, platform_user_id)
);

-- Where each user is in a conversation: saved after every message.
CREATE TABLE conversations (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    step INTEGER NOT NULL,
    data TEXT NOT NULL,
    misses INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- Every platform event handled, so a redelivered event changes nothing.
CREATE TABLE events (
    event_key TEXT PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    handled_at TEXT NOT NULL
);
CREATE INDEX events_handled_at ON events (handled_at);

CREATE TABLE rep_logs (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exercise TEXT NOT NULL,
    reps INTEGER NOT NULL CHECK (reps > 0),
    logged_at TEXT NOT NULL,
    local_day TEXT NOT NULL,
    community TEXT,
    event_key TEXT NOT NULL,
    UNIQUE (event_key, exercise)
);
CREATE INDEX rep_logs_user_day ON rep_logs (user_id, local_day);
CREATE INDEX rep_logs_community_day ON rep_logs (community, local_day);

CREATE TABLE checks (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    taken_at TEXT NOT NULL,
    band TEXT NOT NULL,
    score INTEGER NOT NULL,
    symptom_count INTEGER NOT NULL,
    answers TEXT NOT NULL
);
CREATE INDEX checks_user ON checks (user_id, taken_at);

-- Daily prompts: a user's reminder (kind 'reminder') or a Discord channel's workout post
-- (kind 'channel'). `next_day` is the local day the prompt due at `next_due_utc` belongs
-- to; both are NULL while disabled. `last_sent_day` is the at-most-once mark: a day is
-- claimed by moving it forward before the prompt is sent. `ignored` counts reminders sent
-- since the user last did anything; `attempts` counts retries of the day being sent.
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('reminder', 'channel')),
    owner TEXT NOT NULL UNIQUE,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    target TEXT NOT NULL,
    community TEXT,
    local_time TEXT NOT NULL,
    tz TEXT NOT NULL,
    days TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    next_due_utc TEXT,
    next_day TEXT,
    last_sent_day TEXT,
    ignored INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    CHECK (enabled = 0 OR (next_due_utc IS NOT NULL AND next_day IS NOT NULL))
);
CREATE INDEX schedules_due ON schedules (next_due_utc) WHERE enabled = 1;

-- Small operator facts, e.g. the hash of the last Discord command sync.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# The name someone went by where they logged (a Discord server nickname), so that each
# community's leaderboard shows its own names and none from elsewhere.
V2 = """
ALTER TABLE rep_logs ADD COLUMN shown_as TEXT;
"""

# Whether someone has written to the bot in a private chat: on Telegram a bot can't message
# anyone who hasn't, so a personal command typed in a group waits until they have. People
# from before keep being answered in private, as they were (the adapter still offers the
# private chat if that fails).
V3 = """
ALTER TABLE users ADD COLUMN private_chat INTEGER NOT NULL DEFAULT 0;
UPDATE users SET private_chat = 1;
"""

# Handled events are remembered by a fingerprint of their platform key instead of the key:
# a key holds chat and message ids (a Telegram private chat's id is the person's own), and
# the marks must outlive /forget, or a platform redelivering the person's messages would
# bring them back. So a mark no longer names anyone, and forgetting someone unlinks their
# marks (SET NULL) instead of deleting them.
V4 = """
CREATE TABLE events_v4 (
    event_key TEXT PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    handled_at TEXT NOT NULL
);
INSERT INTO events_v4 (event_key, user_id, handled_at)
    SELECT fingerprint(event_key), user_id, handled_at FROM events;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE INDEX events_handled_at ON events (handled_at);
"""

# The answer of an event committed but not yet sent (see owed.py): NULL once it was sent,
# and for every event before.
V5 = """
ALTER TABLE events ADD COLUMN owed TEXT;
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5)
SCHEMA_VERSION = len(MIGRATIONS)


def fingerprint(event_key: str) -> str:
    """What the events table keeps of a platform event's key: enough to know the event
    again, nothing to tell whose it was. Also an SQL function, for V4."""
    return hashlib.blake2s(event_key.encode(), digest_size=16, person=b"glutebot").hexdigest()

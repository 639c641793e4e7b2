"""The state a fake Discord server holds (users, guilds, roles, channels) as JSON builders.

Everything here is plain data: the server in `discord_server.py` owns it and speaks the
protocol. Payload shapes follow Discord API v10 as discord.py 2.x parses them.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import discord

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
ADMINISTRATOR = discord.Permissions(administrator=True).value
ALL_PERMISSIONS = discord.Permissions.all().value
VIEW_AND_SEND = discord.Permissions(view_channel=True, send_messages=True).value
DEFAULT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_external_emojis=True,
    use_application_commands=True,
    create_instant_invite=True,
    change_nickname=True,
).value
DM_APP_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_external_emojis=True,
).value

PermissionsLike = int | discord.Permissions


def permission_value(value: PermissionsLike) -> int:
    return value.value if isinstance(value, discord.Permissions) else int(value)


class Snowflakes:
    """Increasing snowflake ids, time-based like Discord's, unique even within a millisecond."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        now = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (1 << 17)
        self._last = max(now, self._last + 1)
        return self._last

    def made_ago(self, seconds: float) -> int:
        """A new id whose time is `seconds` ago (an event Discord created earlier)."""
        made = int((time.time() - seconds) * 1000) - DISCORD_EPOCH_MS
        return (made << 22) | (self.next() & ((1 << 22) - 1))


def snowflake_time(snowflake: int) -> str:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).isoformat()


def now_iso() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def poll_of(question: str, *answers: str) -> JSON:
    """A message's poll as Discord sends it: open for a day, no votes yet."""
    expiry = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=1)
    return {
        "question": {"text": question},
        "answers": [
            {"answer_id": n, "poll_media": {"text": answer}} for n, answer in enumerate(answers, 1)
        ],
        "expiry": expiry.isoformat(),
        "allow_multiselect": False,
        "layout_type": 1,
        "results": {"is_finalized": False, "answer_counts": []},
    }


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    dms_closed: bool = False

    def to_json(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": None if self.bot else self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    # The bot this role belongs to (the role Discord creates when a bot joins a server).
    bot_id: int | None = None

    def to_json(self) -> JSON:
        tags = {} if self.bot_id is None else {"tags": {"bot_id": str(self.bot_id)}}
        return tags | {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class FakeMember:
    user: FakeUser
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=now_iso)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    def to_json(self, *, with_user: bool = True) -> JSON:
        data: JSON = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_json()
        return data


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (`is_member=False`) or a member."""

    target_id: int
    allow: int = 0
    deny: int = 0
    is_member: bool = False

    def to_json(self) -> JSON:
        return {
            "id": str(self.target_id),
            "type": 1 if self.is_member else 0,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class FakeChannel:
    id: int
    name: str
    guild_id: int | None
    type: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    position: int = 0
    parent_id: int | None = None
    recipient: FakeUser | None = None
    last_message_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def to_json(self) -> JSON:
        if self.recipient is not None:
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": _str_or_none(self.last_message_id),
                "recipients": [self.recipient.to_json()],
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.to_json() for o in self.overwrites],
            "parent_id": _str_or_none(self.parent_id),
            "topic": None,
            "nsfw": False,
            "last_message_id": _str_or_none(self.last_message_id),
            "rate_limit_per_user": 0,
            "flags": 0,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    locale: str = "en-US"

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    def bot_role(self, bot_id: int) -> FakeRole:
        """The role Discord made for this bot when it joined (what "@glutebot" may pick)."""
        return next(r for r in self.roles.values() if r.bot_id == bot_id)

    def permissions_of(self, member: FakeMember, channel: FakeChannel | None = None) -> int:
        """Discord's permission algorithm: base from roles, then channel overwrites."""
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        base = self.everyone.permissions
        for role_id in member.roles:
            base |= self.roles[role_id].permissions
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return base if channel is None else _apply_overwrites(base, member, channel, self.id)

    def to_json(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "europe",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "features": [],
            "roles": [r.to_json() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
        }

    def to_gateway_json(self) -> JSON:
        """GUILD_CREATE: member_count must equal the members sent or discord.py chunks."""
        data = self.to_json()
        data.update(
            unavailable=False,
            large=False,
            joined_at=now_iso(),
            member_count=len(self.members),
            members=[m.to_json() for m in self.members.values()],
            channels=[c.to_json() for c in self.channels.values()],
            threads=[],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data


def _apply_overwrites(base: int, member: FakeMember, channel: FakeChannel, everyone: int) -> int:
    perms = base
    by_target = {(o.target_id, o.is_member): o for o in channel.overwrites}
    if (ow := by_target.get((everyone, False))) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    role_allow = role_deny = 0
    for role_id in member.roles:
        if (ow := by_target.get((role_id, False))) is not None:
            role_allow |= ow.allow
            role_deny |= ow.deny
    perms = (perms & ~role_deny) | role_allow
    if (ow := by_target.get((member.id, True))) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    return perms


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)


def mentioned_ids(content: str) -> list[int]:
    """User ids mentioned in message text as <@id> or <@!id>, in order, without repeats."""
    found: list[int] = []
    for part in itertools.islice(content.split("<@"), 1, None):
        digits = part.removeprefix("!").split(">", 1)[0]
        if digits.isdigit() and int(digits) not in found:
            found.append(int(digits))
    return found


def mentioned_role_ids(content: str) -> list[str]:
    """Role ids mentioned in message text as <@&id>, in order, without repeats."""
    found: list[str] = []
    for part in itertools.islice(content.split("<@&"), 1, None):
        digits = part.split(">", 1)[0]
        if digits.isdigit() and digits not in found:
            found.append(digits)
    return found


def walk_components(components: Iterable[JSON]) -> Iterable[JSON]:
    for component in components:
        yield component
        yield from walk_components(component.get("components", []))
        if isinstance(component.get("accessory"), dict):
            yield component["accessory"]


def as_user(user: FakeUser | FakeMember) -> FakeUser:
    return user.user if isinstance(user, FakeMember) else user

"""Interaction options as Discord types them, with the `resolved` data sent alongside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .discord_world import JSON, FakeChannel, FakeGuild, FakeMember, FakeRole, FakeUser, as_user


class OptionBuilder:
    """Typed interaction options plus the `resolved` data Discord sends alongside."""

    def __init__(
        self,
        users: Mapping[int, FakeUser],
        channels: Mapping[int, FakeChannel],
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        invoker: FakeUser,
        resolved: JSON,
    ) -> None:
        self.users, self.channels = users, channels
        self.guild, self.invoker, self.resolved = guild, invoker, resolved
        self.channel = channel

    def option(self, name: str, value: Any, definition: JSON | None, focused: bool) -> JSON:
        type_ = definition["type"] if definition else infer_type(value)
        if focused:
            return {"name": name, "type": type_, "value": str(value), "focused": True}
        return {"name": name, "type": type_, "value": self._value(type_, value)}

    def _value(self, type_: int, value: Any) -> Any:
        if type_ == 3:
            return str(value)
        if type_ == 4:
            return int(value)
        if type_ == 5:
            return bool(value)
        if type_ == 10:
            return float(value)
        if type_ == 6 or (type_ == 9 and not isinstance(value, FakeRole)):
            return self._resolve_user(value)
        if type_ == 7:
            return self._resolve_channel(value)
        if type_ in (8, 9):
            return self._resolve_role(value)
        raise ValueError(f"the fake cannot send option type {type_}")

    def _resolve_user(self, value: Any) -> str:
        user = (
            as_user(value) if isinstance(value, FakeUser | FakeMember) else self.users[int(value)]
        )
        self.resolved.setdefault("users", {})[str(user.id)] = user.to_json()
        if self.guild is not None and (member := self.guild.members.get(user.id)) is not None:
            perms = self.guild.permissions_of(member, self.channel)
            data = member.to_json(with_user=False) | {"permissions": str(perms)}
            self.resolved.setdefault("members", {})[str(user.id)] = data
        return str(user.id)

    def _resolve_channel(self, value: Any) -> str:
        channel = value if isinstance(value, FakeChannel) else self.channels[int(value)]
        perms = 0
        if self.guild is not None:
            perms = self.guild.permissions_of(self.guild.members[self.invoker.id], channel)
        data = channel.to_json() | {"permissions": str(perms)}
        self.resolved.setdefault("channels", {})[str(channel.id)] = data
        return str(channel.id)

    def _resolve_role(self, value: Any) -> str:
        if self.guild is None:
            raise ValueError("role options need a guild")
        role = value if isinstance(value, FakeRole) else self.guild.roles[int(value)]
        self.resolved.setdefault("roles", {})[str(role.id)] = role.to_json()
        return str(role.id)


def infer_type(value: Any) -> int:
    kinds: list[tuple[type | tuple[type, ...], int]] = [
        (bool, 5),
        (int, 4),
        (float, 10),
        ((FakeUser, FakeMember), 6),
        (FakeChannel, 7),
        (FakeRole, 8),
    ]
    return next((code for kind, code in kinds if isinstance(value, kind)), 3)


def find_option(definitions: list[JSON] | None, name: str) -> JSON | None:
    return next((d for d in definitions or [] if d["name"] == name), None)

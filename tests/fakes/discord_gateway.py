"""Gateway plumbing for the fake Discord server: framing, sequence numbers, replay."""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME, RECONNECT = 0, 1, 2, 3, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15


class GatewayConnection:
    """One websocket; zlib-stream uses one compressor per connection, sync-flushed per frame."""

    def __init__(self, ws: web.WebSocketResponse, *, zlib_stream: bool) -> None:
        self.ws = ws
        self._compressor = zlib.compressobj() if zlib_stream else None
        self._lock = asyncio.Lock()

    async def send(self, payload: JSON) -> bool:
        text = json.dumps(payload, separators=(",", ":"))
        async with self._lock:
            if self.ws.closed:
                return False
            try:
                if self._compressor is None:
                    await self.ws.send_str(text)
                else:
                    frame = self._compressor.compress(text.encode())
                    await self.ws.send_bytes(frame + self._compressor.flush(zlib.Z_SYNC_FLUSH))
            except (ConnectionError, RuntimeError):
                return False
        return True

    async def close(self, code: int, message: str = "") -> None:
        await self.ws.close(code=code, message=message.encode())


@dataclass
class GatewaySession:
    """What Discord keeps per session so a RESUME can replay the events a client missed."""

    id: str
    intents: int
    connection: GatewayConnection | None = None
    seq: int = 0
    log: list[JSON] = field(default_factory=list)
    # Events before the client's last sequence number the next RESUME replays as well.
    replay_extra: int = 0

    async def dispatch(self, event: str, data: JSON) -> None:
        self.seq += 1
        frame = {"op": DISPATCH, "s": self.seq, "t": event, "d": data}
        self.log.append(frame)
        if self.connection is not None and not await self.connection.send(frame):
            self.connection = None

    async def replay_after(self, seq: int) -> None:
        for frame in [f for f in self.log if f["s"] > seq]:
            if self.connection is not None:
                await self.connection.send(frame)

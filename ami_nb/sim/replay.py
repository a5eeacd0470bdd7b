"""Serve a recorded transcript, so a notebook written against a live PBX can be rerun on a recording.

The transcript (and its timeline, when there is one) is read through :mod:`ami_nb.transcript`, so a recording
that spans a reconnect (a second banner in the stream) replays whole. On connect the banner goes out; any
``Login`` is accepted; then every recorded *event* is sent in order (recorded responses are dropped), at once or,
with ``speed``, at the recorded pace (``speed=1``) or faster (``speed=10``): each event goes out when the read
that brought it arrived, counted from the first event's read. ``Ping`` and ``Logoff`` are answered as Asterisk
does; any other action gets ``Response: Success`` / ``Message: Replay: <Action> is not simulated``.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

from ..loop import LoopThread
from ..protocol import Message, Parser, encode_message
from ..transcript import iter_connections, iter_reads
from .wire import BANNER, response_pairs


def load_timed_events(path: str | Path, *, timeline: str | Path | bool = True) -> list[tuple[float, Message]]:
    """``(t, event)`` for every event of a recorded transcript, in order: ``t`` is when its read arrived
    (seconds since the recording started; 0.0 for all without a timeline)."""
    parser = Parser(expect_banner=False)
    out: list[tuple[float, Message]] = []
    for t, chunk, new_connection in iter_connections(iter_reads(path, timeline=timeline)):
        if new_connection:
            parser = Parser()
        out.extend((t, m) for m in parser.feed(chunk) if m.is_event)
    out.extend((out[-1][0] if out else 0.0, m) for m in parser.feed(b"\r\n\r\n") if m.is_event)  # unterminated tail
    return out


def load_events(path: str | Path) -> list[Message]:
    """The events of a recorded transcript, in order (responses left out)."""
    return [m for _, m in load_timed_events(path)]


class ReplayServer:
    """An AMI server that plays one recording to every client that logs in.

    ``speed``: None sends everything at once; 1.0 keeps the recorded pace (from the timeline), 10.0 is ten times
    faster. ``rate`` (events per second, evenly spaced) is the older pacing, used when ``speed`` is None.
    """

    def __init__(self, path: str | Path, *, speed: float | None = None, rate: float | None = None,
                 timeline: str | Path | bool = True) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 (1.0 keeps the recorded pace), not {speed!r}")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be > 0 events per second, not {rate!r}")
        self.path = Path(path)
        self.timed = load_timed_events(path, timeline=timeline)
        self.events = [m for _, m in self.timed]
        self.speed = speed
        self.rate = rate
        self._frames = [encode_message(m.pairs()) for m in self.events]
        self._server: asyncio.Server | None = None
        self.host, self.port = "", 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._client, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = Parser(expect_banner=False, lenient=True)
        writer.write(BANNER)
        player: asyncio.Task[None] | None = None
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in parser.feed(data):
                    action = (msg.get("Action") or "").lower()
                    if action == "login":
                        writer.write(encode_message(response_pairs(msg, "Success",
                                                                   [("Message", "Authentication accepted")])))
                        if player is None:  # play while still answering Ping and Logoff
                            player = asyncio.get_running_loop().create_task(self._play(writer))
                    elif action == "logoff":
                        writer.write(encode_message(response_pairs(msg, "Goodbye",
                                                                   [("Message", "Thanks for all the fish.")])))
                        await writer.drain()
                        return
                    elif action == "ping":
                        writer.write(encode_message(response_pairs(
                            msg, "Success", [("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")])))
                    else:
                        name = msg.get("Action", "")
                        writer.write(encode_message(response_pairs(
                            msg, "Success", [("Message", f"Replay: {name} is not simulated")])))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if player is not None:
                player.cancel()
            writer.close()

    async def _play(self, writer: asyncio.StreamWriter) -> None:
        try:
            if self.speed is not None:
                await self._play_paced(writer, self.speed)
            elif self.rate is not None:
                for frame in self._frames:
                    writer.write(frame)
                    await writer.drain()
                    await asyncio.sleep(1.0 / self.rate)
            else:
                writer.write(b"".join(self._frames))
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    async def _play_paced(self, writer: asyncio.StreamWriter, speed: float) -> None:
        """Each read's events together, when that read arrived (relative to the first event's read)."""
        if not self.timed:
            return
        loop = asyncio.get_running_loop()
        start, t0 = loop.time(), self.timed[0][0]
        i = 0
        while i < len(self.timed):
            t = self.timed[i][0]
            j = i
            while j < len(self.timed) and self.timed[j][0] == t:
                j += 1
            delay = start + (t - t0) / speed - loop.time() if not math.isinf(speed) else 0.0
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(b"".join(self._frames[i:j]))
            await writer.drain()
            i = j


class ReplayHandle:
    """A running replay server (on a :class:`~ami_nb.loop.LoopThread`), with ``host``, ``port``, ``url``,
    ``stop()``."""

    def __init__(self, server: ReplayServer, loop_thread: LoopThread) -> None:
        self._server, self._lt = server, loop_thread
        self.host, self.port = server.host, server.port
        self.events = len(server.events)

    @property
    def url(self) -> str:
        return f"ami://admin@{self.host}:{self.port}"

    def stop(self) -> None:
        """Close the listening socket and every connection; the loop thread ends (idempotent)."""
        if self._lt.is_running:
            self._lt.run(self._server.close(), 5.0, "closing the replay server")
        self._lt.stop()

    def __enter__(self) -> ReplayHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_replay(path: str | Path, host: str = "127.0.0.1", port: int = 0, *, speed: float | None = None,
                 rate: float | None = None) -> ReplayHandle:
    """Serve ``path`` in a daemon thread; every client that logs in receives the recorded events (at once, or
    at ``speed`` times the recorded pace)."""
    server = ReplayServer(path, speed=speed, rate=rate)
    lt = LoopThread("ami-sim-replay").start()
    try:
        lt.run(server.start(host, port), 10.0, "starting the replay server")
    except BaseException:
        lt.stop()
        raise
    return ReplayHandle(server, lt)

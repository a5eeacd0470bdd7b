"""Serve a recorded transcript, so a notebook written against a live PBX can be rerun on a recording.

The transcript format is the bytes a server sent (banner, then messages), as in ``tests/fixtures/transcripts``
or what a session records. On connect the banner goes out; any ``Login`` is accepted; then every recorded
*event* is sent in order (recorded responses are dropped). ``Ping`` and ``Logoff`` are answered as Asterisk
does; any other action gets ``Response: Success`` / ``Message: Replay: <Action> is not simulated``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

from ..protocol import Message, Parser, encode_message
from .wire import BANNER, response_pairs


def load_events(path: str | Path) -> list[Message]:
    """The events of a recorded transcript, in order (responses left out)."""
    data = Path(path).read_bytes()
    parser = Parser(expect_banner=data.startswith(b"Asterisk Call Manager/"))
    return [m for m in parser.feed(data + b"\r\n\r\n") if m.is_event]


class ReplayServer:
    """An AMI server that plays one recording to every client that logs in."""

    def __init__(self, path: str | Path, *, rate: float | None = None) -> None:
        self.path = Path(path)
        self.events = load_events(path)
        self.rate = rate  # events per second, None = all at once
        self._payload = b"".join(encode_message(m.pairs()) for m in self.events)
        self._server: asyncio.base_events.Server | None = None
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
                        await self._play(writer)
                    elif action == "logoff":
                        writer.write(encode_message(response_pairs(msg, "Goodbye",
                                                                   [("Message", "Thanks for all the fish.")])))
                        await writer.drain()
                        return
                    elif action == "ping":
                        import time

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
            writer.close()

    async def _play(self, writer: asyncio.StreamWriter) -> None:
        if self.rate is None:
            writer.write(self._payload)
            await writer.drain()
            return
        for m in self.events:
            writer.write(encode_message(m.pairs()))
            await writer.drain()
            await asyncio.sleep(1.0 / self.rate)


class ReplayHandle:
    """A running replay server (daemon thread), with ``host``, ``port``, ``url``, ``stop()``."""

    def __init__(self, server: ReplayServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._server, self._loop, self._thread = server, loop, thread
        self.host, self.port = server.host, server.port
        self.events = len(server.events)

    @property
    def url(self) -> str:
        return f"ami://admin@{self.host}:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.close(), self._loop).result(5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    def __enter__(self) -> ReplayHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_replay(path: str | Path, host: str = "127.0.0.1", port: int = 0, *,
                 rate: float | None = None) -> ReplayHandle:
    """Serve ``path`` in a daemon thread; every client that logs in receives the recorded events."""
    server = ReplayServer(path, rate=rate)
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start(host, port))
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="ami-sim-replay", daemon=True)
    thread.start()
    ready.result(10.0)
    return ReplayHandle(server, loop, thread)

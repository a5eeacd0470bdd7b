"""A scripted AMI server for tests: real TCP on 127.0.0.1, its own asyncio loop in a daemon thread (a LoopThread).

It speaks enough AMI for a client to log in (plain or MD5), ping, set ``Events``/``Filter`` and log off, and plays
whatever else a test scripts: canned replies per action (or replays of the recorded transcripts with the client's
ActionIDs substituted), pushed events, and faults (no banner, stalls, drops, garbage, endless lines, outages).

    with ScriptedServer() as srv:
        srv.replay("15_coreshowchannels")           # answer CoreShowChannels as the real Asterisk did
        srv.reply("UserEvent", lambda conn, msg: [{"Response": "Success"}])
        ... connect to srv.host, srv.port as admin / amp111 ...
        srv.push_event({"Event": "Hangup", "Channel": "Local/1@x"})
        srv.drop()                                  # every client connection is closed (the server stays up)

A handler is ``fn(conn, msg) -> list | None | STALL``; list items are messages (a dict or a list of pairs),
raw ``bytes``, or a ``float`` (seconds to sleep before the next item). The ActionID of the action is added to
message replies that lack one. Returning ``None`` falls back to the built-in behaviour; ``STALL`` never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ami_nb.loop import LoopThread
from ami_nb.protocol import Message, Parser, encode_message

__all__ = ["STALL", "TRANSCRIPTS", "Conn", "ScriptedServer", "load_transcript"]

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"
BANNER = "Asterisk Call Manager/11.0.0"
STALL = object()

Reply = Any  # Mapping | list of pairs | bytes | float
Handler = Callable[["Conn", Message], Any]


@dataclass
class Conn:
    """One client connection as the server sees it."""

    id: int
    writer: asyncio.StreamWriter
    logged_in: bool = False
    user: str | None = None
    events: str = "on"
    filters: list[str] = field(default_factory=list)
    challenge: str | None = None
    actions: list[Message] = field(default_factory=list)

    @property
    def wants_events(self) -> bool:
        return self.logged_in and self.events.lower() != "off"


def load_transcript(name: str) -> tuple[list[Message], list[Message]]:
    """``(server messages, client actions)`` of a recorded transcript, e.g. ``"15_coreshowchannels"``."""
    server = (TRANSCRIPTS / f"{name}.txt").read_bytes()
    sent = (TRANSCRIPTS / "sent" / f"{name}.sent.txt").read_bytes()
    return Parser(expect_banner=True).feed(server), Parser(expect_banner=False, lenient=True).feed(sent)


def _pairs(reply: Any) -> list[tuple[str, str]]:
    if isinstance(reply, Message):
        return reply.pairs()
    if isinstance(reply, Mapping):
        return [(str(k), str(v)) for k, v in reply.items()]
    return [(str(k), str(v)) for k, v in reply]


def _with_action_id(pairs: list[tuple[str, str]], action_id: str | None, old: str | None = None) -> list[tuple]:
    """Replace ``old`` ActionIDs by ``action_id`` (or add one after the first line when there is none)."""
    if action_id is None:
        return pairs
    if any(k.lower() == "actionid" for k, _ in pairs):
        if old is None:
            return pairs
        return [(k, action_id if (k.lower() == "actionid" and v == old) else v) for k, v in pairs]
    return pairs if old is not None else [pairs[0], ("ActionID", action_id), *pairs[1:]]


class ScriptedServer:
    """A scripted AMI server on ``127.0.0.1:<free port>``; start it with ``start()`` or ``with``."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        banner: str | None = BANNER,
        md5: bool = True,
        auth_fail_delay: float = 1.0,
        host: str = "127.0.0.1",
        ssl_context: Any = None,
    ) -> None:
        self.users = dict(users or {"admin": "amp111"})
        self.banner = banner
        self.md5 = md5
        self.auth_fail_delay = auth_fail_delay
        self.host = host
        self.ssl_context = ssl_context  # an ssl.SSLContext (server side) makes it speak TLS
        self.port = 0
        self.handlers: dict[str, Handler] = {}
        self._replays: dict[str, list[tuple[dict[str, str], list[Message], str]]] = {}
        self.stall_all = False
        self.refuse = False  # accept, then close at once without a banner
        self.drop_after_login = False  # accept the login, answer it, then close the connection (a reconnect storm)
        self.login_times: list[float] = []  # time.monotonic() of every accepted login
        self.conns: dict[int, Conn] = {}
        self.received: list[tuple[int, Message]] = []
        self.logins = 0
        self.challenges: list[str] = []  # every MD5 challenge handed out, in order
        self.login_failures = 0
        self.connections_made = 0
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._lt: LoopThread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- lifetime -------------------------------------------------------------------------------------------
    def start(self) -> ScriptedServer:
        self._lt = LoopThread("scripted-ami-server").start()
        self._lt.run(self._listen(), 5, "starting the scripted server")
        return self

    def stop(self) -> None:
        if self._lt is None or not self._lt.is_running:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), timeout=5)
        self._lt.stop(5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{'amis' if self.ssl_context else 'ami'}://admin@{self.host}:{self.port}"

    def _call(self, coro: Any, timeout: float = 5.0) -> Any:
        assert self._lt is not None
        return self._lt.run(coro, timeout)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_all()
        for t in list(self._tasks):
            t.cancel()

    async def _drop_all(self) -> None:
        for conn in list(self.conns.values()):
            conn.writer.transport.abort()
        self.conns.clear()

    # -- scripting ------------------------------------------------------------------------------------------
    def reply(self, action: str, handler: Handler | list | Any) -> None:
        """Answer ``action`` with ``handler(conn, msg)``, or with a fixed list of replies, or ``STALL``."""
        if handler is STALL:
            self.handlers[action.lower()] = lambda conn, msg: STALL
        elif callable(handler):
            self.handlers[action.lower()] = handler
        else:
            fixed = list(handler)
            self.handlers[action.lower()] = lambda conn, msg: fixed

    def replay(self, transcript: str, *, interleave: bool = True) -> list[str]:
        """Answer every action of a recorded transcript (but Login/Logoff) with what Asterisk sent.

        The reply to an action is the stream from its response to the last message carrying its ActionID, so
        unrelated events recorded in between (with ``interleave``) come too; the ActionID is the client's.
        An action is matched by name and fields, else by name alone. Returns the action names installed.
        """
        server, sent = load_transcript(transcript)
        table = self._replays
        for act in sent:
            name = (act.get("Action") or "").lower()
            aid = act.get("ActionID")
            if name in ("login", "logoff", "challenge") or aid is None:
                continue
            idx = [i for i, m in enumerate(server) if m.get("ActionID") == aid]
            if not idx:
                continue
            seg = server[idx[0] : idx[-1] + 1]
            if not interleave:
                seg = [m for m in seg if m.get("ActionID") == aid]
            keyf = {k.lower(): v for k, v in act.pairs() if k.lower() not in ("action", "actionid")}
            table.setdefault(name, []).append((keyf, seg, aid))

        def make(entries: list[tuple[dict[str, str], list[Message], str]]) -> Handler:
            def handler(conn: Conn, msg: Message) -> list:
                want = {k.lower(): v for k, v in msg.pairs() if k.lower() not in ("action", "actionid")}
                chosen = next((e for e in entries if e[0] == want), entries[0])
                aid = msg.get("ActionID")
                return [Message.from_pairs(_with_action_id(m.pairs(), aid, chosen[2])) for m in chosen[1]]

            return handler

        installed = sorted({(a.get("Action") or "").lower() for a in sent} & set(table))
        for name in installed:
            self.handlers[name] = make(table[name])
        return installed

    def push_event(self, event: Any, *, conn: Conn | None = None, force: bool = False) -> None:
        """Send an event (dict, pairs or a Message) to every logged-in connection with events on."""
        self.push(encode_message(_pairs(event)), conn=conn, only_events=not force)

    def push(self, data: bytes, *, conn: Conn | None = None, only_events: bool = False) -> None:
        """Send raw bytes (garbage, an endless line, a huge message...) to one or every connection."""

        async def go() -> None:
            for c in [conn] if conn is not None else list(self.conns.values()):
                if only_events and not c.wants_events:
                    continue
                c.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await c.writer.drain()

        self._call(go())

    def drop(self) -> None:
        """Close every client connection now (the listener stays up)."""
        self._call(self._drop_all())

    def down(self) -> None:
        """An outage: stop listening and close every connection (connects are refused until :meth:`up`)."""

        async def go() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            await self._drop_all()

        self._call(go())

    def up(self) -> None:
        """Listen again on the same port after :meth:`down`."""
        self._call(self._listen())

    # -- waiting (from the test thread) -----------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"scripted server: {what} not met within {timeout} s")
                self._cond.wait(min(left, 0.05))

    def actions(self, name: str) -> list[Message]:
        """Every action named ``name`` received so far, from all connections, in order."""
        return [m for _, m in self.received if (m.get("Action") or "").lower() == name.lower()]

    def wait_action(self, name: str, count: int = 1, timeout: float = 5.0) -> Message:
        self.wait_for(lambda: len(self.actions(name)) >= count, timeout, f"{count} x {name}")
        return self.actions(name)[count - 1]

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- serving ----------------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_made += 1
        if self.refuse:
            writer.transport.abort()
            return
        conn = Conn(next(self._ids), writer)
        self.conns[conn.id] = conn
        self._notify()
        parser = Parser(expect_banner=False, lenient=True)
        try:
            if self.banner is not None:
                writer.write(f"{self.banner}\r\n".encode())
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in parser.feed(data):
                    conn.actions.append(msg)
                    self.received.append((conn.id, msg))
                    self._notify()
                    if not await self._answer(conn, msg):
                        return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.conns.pop(conn.id, None)
            writer.transport.abort()
            self._notify()

    async def _send(self, conn: Conn, replies: Iterable[Any], action_id: str | None) -> None:
        for item in replies:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                await asyncio.sleep(item)
            elif isinstance(item, bytes):
                conn.writer.write(item)
            else:
                conn.writer.write(encode_message(_with_action_id(_pairs(item), action_id)))
        await conn.writer.drain()

    async def _answer(self, conn: Conn, msg: Message) -> bool:
        """Answer one action; False closes the connection."""
        name = (msg.get("Action") or "").lower()
        aid = msg.get("ActionID")
        if self.stall_all:
            return True
        handler = self.handlers.get(name)
        if handler is not None:
            replies = handler(conn, msg)
            if replies is STALL:
                return True
            if replies is not None:
                # run as a task so a slow script (sleeps) does not block reading the next action
                task = asyncio.ensure_future(self._send(conn, replies, aid))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return True
        return await self._builtin(conn, msg, name, aid)

    async def _builtin(self, conn: Conn, msg: Message, name: str, aid: str | None) -> bool:
        ok: dict[str, str] = {"Response": "Success"}

        def error(text: str) -> list:
            return [{"Response": "Error", "Message": text}]

        if name == "challenge":
            if not self.md5 or (msg.get("AuthType") or "").lower() != "md5":
                await self._send(conn, error("Must specify AuthType"), aid)
                return True
            conn.challenge = str(random.randrange(10**8, 10**9))
            self.challenges.append(conn.challenge)
            await self._send(conn, [{**ok, "Challenge": conn.challenge}], aid)
            return True
        if name == "login":
            user = msg.get("Username") or ""
            secret = self.users.get(user)
            if (msg.get("AuthType") or "").lower() == "md5":
                good = (
                    secret is not None
                    and conn.challenge is not None
                    and msg.get("Key") == hashlib.md5((conn.challenge + secret).encode()).hexdigest()
                )
            else:
                good = secret is not None and msg.get("Secret") == secret
            if not good:
                self.login_failures += 1
                await asyncio.sleep(self.auth_fail_delay)
                await self._send(conn, error("Authentication failed"), aid)
                self._notify()
                return False
            conn.logged_in, conn.user = True, user
            conn.events = msg.get("Events") or "on"
            self.logins += 1
            self.login_times.append(time.monotonic())
            self._notify()
            await self._send(conn, [{**ok, "Message": "Authentication accepted"}], aid)
            return not self.drop_after_login
        if name == "logoff":
            await self._send(conn, [{"Response": "Goodbye", "Message": "Thanks for all the fish."}], aid)
            return False
        if not name:
            await self._send(conn, error("Missing action in request"), aid)
            return True
        if not conn.logged_in:
            await self._send(conn, error("Permission denied"), aid)
            return True
        if name == "ping":
            await self._send(conn, [{**ok, "Ping": "Pong", "Timestamp": f"{time.time():.6f}"}], aid)
        elif name == "events":
            conn.events = msg.get("EventMask") or "off"
            state = "Off" if conn.events.lower() == "off" else "On"
            await self._send(conn, [{**ok, "Events": state}], aid)
        elif name == "filter":
            conn.filters.append(msg.get("Filter") or "")
            await self._send(conn, [{**ok, "Message": "Success"}], aid)
        else:
            text = f"Invalid/unknown command: {msg.get('Action')}. Use Action: ListCommands to show available commands."
            await self._send(conn, error(text), aid)
        return True

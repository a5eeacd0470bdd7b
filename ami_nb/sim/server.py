"""The asyncio AMI server of the simulated PBX: connections, request dispatch, event routing, the clock driver.

One :class:`AMIServer` owns a :class:`~ami_nb.sim.model.PBX` and runs on one asyncio loop. Each event the model
emits is rendered to bytes once and written to every logged-in connection whose read classes, ``Events`` mask
and ``Filter`` list allow it. A connection whose unsent output passes ``max_client_buffer`` bytes is
disconnected, as Asterisk drops a client that cannot keep up, so a slow reader never stalls the others.

Requests are answered by the handlers of :mod:`~ami_nb.sim.registry` (registered by the modules imported below);
the server checks login and write classes before it calls one.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from typing import Any

from ..errors import ProtocolError
from ..protocol import Message, Parser, encode_message
from . import actions, queue_actions, registry  # noqa: F401  (importing a handler module registers its actions)
from .access import DEFAULT_USERS, User, UserSpec, as_user
from .connection import ManagerConnection
from .model import PBX, Pairs, Traffic
from .wire import BANNER, event_classes, event_head, message_text

__all__ = ["BANNER", "DEFAULT_USERS", "AMIServer", "User", "server_tls"]

log = logging.getLogger("ami_nb.sim")


class AMIServer:
    """The simulated Asterisk's manager interface (runs on one asyncio loop)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        users: dict[str, UserSpec] | None = None,
        timestampevents: bool = False,
        traffic: Traffic | dict[str, Any] | None = None,
        time_scale: float = 1.0,
        start_time: float | None = None,
        authtimeout: float = 30.0,
        auth_fail_delay: float = 1.0,
        max_client_buffer: int = 8 * 1024 * 1024,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0 (simulated seconds per real second; math.inf = no waiting)")
        self.users: dict[str, User] = {
            name: as_user(u) for name, u in (users or DEFAULT_USERS).items()
        }
        self.timestampevents = timestampevents
        self.time_scale = time_scale
        self.authtimeout = authtimeout
        self.auth_fail_delay = auth_fail_delay
        self.max_client_buffer = max_client_buffer
        self.pbx = PBX(self._on_event, seed=seed, start_time=start_time, traffic=traffic)
        self.connections: set[ManagerConnection] = set()
        self.booted = time.time()
        self.events_emitted = 0
        self._server: asyncio.Server | None = None
        self._driver: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._real0 = 0.0
        self._sim0 = self.pbx.started
        self.host = ""
        self.port = 0
        self.tls = False

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        """Listen (TLS when ``tls`` is a server context, as Asterisk's ``tlsenable``) and start the clock."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._real0 = loop.time()
        self._sim0 = self.pbx.now
        self.tls = tls is not None
        self._server = await asyncio.start_server(self._client, host, port, limit=1 << 20, ssl=tls)
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        self._driver = loop.create_task(self._drive())

    async def close(self) -> None:
        """Stop: ``Event: Shutdown`` to every connection (as Asterisk sends), then close everything."""
        if self._driver is not None:
            self._driver.cancel()
        if self._server is not None:
            self._server.close()
        self.broadcast("Shutdown", frozenset({"system"}), [("Event", "Shutdown"), ("Privilege", "system,all"),
                                                           ("Shutdown", "Cleanly"), ("Restart", "False")])
        for c in list(self.connections):
            try:
                await asyncio.wait_for(c.writer.drain(), 0.5)
            except Exception:  # a slow or gone reader is simply dropped
                pass
            c.abort()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except Exception:
                pass

    # -- the clock ------------------------------------------------------------------------------------------
    def sim_time_at(self, real: float) -> float:
        if math.isinf(self.time_scale):
            return self.pbx.now
        return self._sim0 + (real - self._real0) * self.time_scale

    def sync_clock(self) -> None:
        """Bring the virtual clock up to real time (before scheduling something new)."""
        sched = self.pbx.sched
        nxt = sched.next_time()
        target = self.sim_time_at(asyncio.get_running_loop().time())
        if nxt is not None:
            target = min(target, nxt)
        sched.now = max(sched.now, target)

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def set_time_scale(self, scale: float) -> None:
        """Change the speed without a jump of the simulated clock."""
        if scale <= 0:
            raise ValueError("time_scale must be > 0")
        loop = asyncio.get_running_loop()
        self._sim0 = self.pbx.now if math.isinf(self.time_scale) else self.sim_time_at(loop.time())
        self._sim0 = max(self._sim0, self.pbx.now)
        self._real0 = loop.time()
        self.time_scale = scale
        self.wake()

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        sched = self.pbx.sched
        assert self._wake is not None
        steps = 0
        while True:
            t = sched.next_time()
            if t is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if not math.isinf(self.time_scale):
                delay = self._real0 + (t - self._sim0) / self.time_scale - loop.time()
                if delay > 0.0005:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), delay)
                    except TimeoutError:
                        pass
                    continue
            try:
                sched.step()
            except Exception:  # a broken scenario must not stop the PBX
                log.exception("sim: a call scenario failed")
            steps += 1
            if steps % 64 == 0:
                await asyncio.sleep(0)

    # -- events ---------------------------------------------------------------------------------------------
    def _on_event(self, name: str, priv: str, pairs: Pairs, when: float) -> None:
        self.events_emitted += 1
        if not self.connections:
            return
        head = event_head(name, priv, when if self.timestampevents else None)
        self.broadcast(name, event_classes(priv), head + pairs)

    def broadcast(self, name: str, classes: frozenset[str], pairs: Pairs) -> int:
        """Send one event (all its pairs, ``Event`` first) to every connection that may see it."""
        data: bytes | None = None
        text: str | None = None
        n = 0
        for c in list(self.connections):
            if c.filters and text is None:
                text = message_text(pairs)
            if c.wants(name, classes, pairs, text):
                if data is None:
                    data = encode_message(pairs)
                c.send(data)
                c.sent_events += 1
                n += 1
        return n

    def send_event(self, conn: ManagerConnection, name: str, priv: str, pairs: Pairs, *, stamp: bool = True) -> None:
        """An event for one connection only (login events), subject to its permissions and mask. ``stamp=False``:
        no ``Timestamp`` even with timestampevents (FullyBooted, recording 48: manager.c writes it straight to
        the session, not through the event queue that stamps)."""
        when = max(self.pbx.now, self.sim_time_at(asyncio.get_running_loop().time()))
        full = event_head(name, priv, when if self.timestampevents and stamp else None) + pairs
        text = message_text(full) if conn.filters else None
        if conn.wants(name, event_classes(priv), full, text):
            conn.send(encode_message(full))

    # -- connections ----------------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c = ManagerConnection(reader, writer, max_buffer=self.max_client_buffer, on_close=self.connections.discard)
        self.connections.add(c)
        parser = Parser(expect_banner=False, lenient=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.authtimeout
        try:
            writer.write(BANNER)
            while not c.closed:
                if c.user is None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        data = await asyncio.wait_for(reader.read(65536), remaining)
                    except TimeoutError:
                        log.info("sim: connection %d did not log in within authtimeout: closing", c.id)
                        break
                else:
                    data = await reader.read(65536)
                if not data:
                    break
                try:
                    messages = parser.feed(data)
                except ProtocolError as exc:
                    log.warning("sim: connection %d sent bad framing: %s", c.id, exc)
                    break
                if not await self._handle_all(c, messages):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            c.mark_closed()
            try:
                if writer.transport.get_write_buffer_size() and not writer.transport.is_closing():
                    await asyncio.wait_for(writer.drain(), 2.0)
            except Exception:
                pass
            writer.close()

    async def _handle_all(self, c: ManagerConnection, messages: list[Message]) -> bool:
        """Answer requests in order (as Asterisk does per connection); False once the connection must close."""
        for msg in messages:
            if not await self.handle(c, msg) or c.closed:
                return False
        return True

    async def handle(self, c: ManagerConnection, msg: Message) -> bool:
        """Answer one request; False closes the connection."""
        action = msg.get("Action")
        if action is None:
            c.respond(msg, "Error", ("Message", "Missing action in request"))
            return True
        spec = registry.lookup(action)
        if spec is not None and spec.before_login:
            return await spec.handler(self, c, msg)
        if c.user is None:
            c.respond(msg, "Error", ("Message", "Permission denied"))
            return True
        if spec is None:
            c.respond(msg, "Error", ("Message", f"Invalid/unknown command: {action}. "
                                                "Use Action: ListCommands to show available commands."))
            return True
        if spec.privilege and not (spec.privilege & c.write):
            c.respond(msg, "Error", ("Message", "Permission denied"))
            return True
        self.sync_clock()
        try:
            return await spec.handler(self, c, msg)
        except Exception as exc:  # an action must never kill the connection
            log.exception("sim: action %s failed", action)
            c.respond(msg, "Error", ("Message", f"Internal error: {type(exc).__name__}"))
            return True


def server_tls(tls: ssl.SSLContext | tuple[str, str] | str | None) -> ssl.SSLContext | None:
    """A server TLS context from a context, a ``(certfile, keyfile)`` pair or one PEM file holding both."""
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if isinstance(tls, str):
        ctx.load_cert_chain(tls)
    else:
        ctx.load_cert_chain(tls[0], tls[1])
    return ctx

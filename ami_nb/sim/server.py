"""The asyncio AMI server of the simulated PBX: sessions, permissions, event routing, the clock driver.

One :class:`AMIServer` owns a :class:`~ami_nb.sim.model.PBX` and runs on one asyncio loop. Each event the model
emits is rendered to bytes once and written to every logged-in session whose read classes, ``Events`` mask and
``Filter`` list allow it. A session whose unsent output passes ``max_client_buffer`` bytes is disconnected, as
Asterisk drops a client that cannot keep up, so a slow reader never stalls the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..protocol import Message, Parser, encode_message
from . import actions, configs
from .model import PBX, Pairs, Traffic

log = logging.getLogger("ami_nb.sim")

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
ALL_CLASSES = frozenset(
    {"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf", "reporting", "cdr",
     "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message"}
)


@dataclass(frozen=True)
class User:
    """A manager.conf user. ``read``/``write`` are comma-separated class lists (``all`` for everything)."""

    secret: str
    read: str = "all"
    write: str = "all"

    def __repr__(self) -> str:
        return f"User(secret='***', read={self.read!r}, write={self.write!r})"


DEFAULT_USERS = {
    "admin": User("amp111", "all", "all"),
    "limited": User("lim123", "call", "originate"),
}


def classes(spec: str) -> frozenset[str]:
    """``"call,agent"`` -> ``{"call", "agent"}``; ``all`` expands to every class; ``none``/empty -> none."""
    names = {c.strip().lower() for c in spec.split(",") if c.strip()}
    if "all" in names:
        return ALL_CLASSES
    return frozenset(names & ALL_CLASSES)


class _Filter:
    __slots__ = ("header", "include", "method", "name", "pattern", "regex")

    def __init__(self, include: bool, name: str | None, header: str | None, method: str, pattern: str) -> None:
        self.include, self.name, self.header, self.method, self.pattern = include, name, header, method, pattern
        # POSIX regexec without REG_NEWLINE, as Asterisk uses it: '.' also matches line ends
        flags = re.DOTALL if method == "legacy" else 0
        self.regex = re.compile(pattern, flags) if method in ("regex", "legacy") and pattern else None

    def matches(self, name: str, pairs: Pairs, text: str) -> bool:
        if self.method == "legacy":
            return bool(self.regex.search(text)) if self.regex is not None else True
        if self.name is not None and self.name.lower() != name.lower():
            return False
        if self.method == "none":
            return True
        if self.header is not None:
            hl = self.header.lower()
            values = [v for k, v in pairs if k.lower() == hl]
        else:
            values = [text]
        for v in values:
            if (
                (self.method == "exact" and v == self.pattern)
                or (self.method == "regex" and self.regex is not None and self.regex.search(v))
                or (self.method == "starts_with" and v.startswith(self.pattern))
                or (self.method == "ends_with" and v.endswith(self.pattern))
                or (self.method == "contains" and self.pattern in v)
            ):
                return True
        return False


FILTER_FORMAT = "Filter was formatted incorrectly.  Check the syntax of the filter given."
FILTER_COMPILE = "Filter did not compile.  Check the syntax of the filter given."
_CRITERION = re.compile(r"\s*(action|name|header|method)\((.*?)\)\s*\Z", re.I)


def parse_filter(criteria: str | None, pattern: str | None) -> _Filter | str:
    """A Filter action's ``MatchCriteria`` and ``Filter`` -> a filter, or the error message Asterisk 22 gives."""
    if not criteria:
        if not pattern:
            return FILTER_FORMAT
        include = not pattern.startswith("!")
        body = pattern if include else pattern[1:]
        try:
            return _Filter(include, None, None, "legacy", body)
        except re.error:
            return FILTER_COMPILE
    opts: dict[str, str] = {}
    for item in criteria.split(","):
        m = _CRITERION.match(item)
        if not m:
            return FILTER_FORMAT
        opts[m.group(1).lower()] = m.group(2)
    method = opts.get("method", "none").lower()
    if method not in ("none", "exact", "regex", "starts_with", "ends_with", "contains"):
        return FILTER_FORMAT
    if method == "none" and pattern:
        return FILTER_FORMAT
    if method != "none" and not pattern:
        return FILTER_FORMAT
    action = opts.get("action", "include").lower()
    if action not in ("include", "exclude"):
        return FILTER_FORMAT
    try:
        return _Filter(action == "include", opts.get("name"), opts.get("header"), method, pattern or "")
    except re.error:
        return FILTER_COMPILE


class Session:
    """One AMI connection."""

    _ids = 0

    def __init__(self, server: AMIServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        Session._ids += 1
        self.id = Session._ids
        self.server = server
        self.reader = reader
        self.writer = writer
        self.user: str | None = None
        self.read: frozenset[str] = frozenset()
        self.write: frozenset[str] = frozenset()
        self.mask: frozenset[str] | None = frozenset()  # None = all events ("on")
        self.filters: list[_Filter] = []
        self.challenge: str | None = None
        self.closed = False
        self.sent_events = 0
        peer = writer.get_extra_info("peername") or ("?", 0)
        sock = writer.get_extra_info("sockname") or ("?", 0)
        proto = "TLS" if writer.get_extra_info("sslcontext") is not None else "TCP"
        self.remote = f"IPV4/{proto}/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/{proto}/{sock[0]}/{sock[1]}"
        self.login_time = time.time()

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def wants(self, name: str, event_classes: frozenset[str], pairs: Pairs, text: str | None) -> bool:
        """Permission, ``Events`` mask and filters for one event."""
        if self.user is None or self.closed or (self.mask is not None and not self.mask):
            return False
        if not (event_classes & self.read):
            return False
        if self.mask is not None and not (event_classes & self.mask):
            return False
        if self.filters:
            t = text if text is not None else ""
            inc = [f for f in self.filters if f.include]
            if inc and not any(f.matches(name, pairs, t) for f in inc):
                return False
            if any(f.matches(name, pairs, t) for f in self.filters if not f.include):
                return False
        return True

    def send(self, data: bytes) -> None:
        """Queue bytes; disconnect a reader whose unsent output passes the server's bound."""
        if self.closed:
            return
        if self.writer.transport.is_closing():
            self.closed = True
            self.server.sessions.discard(self)
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > self.server.max_client_buffer:
            log.warning("sim: session %d (%s) is too slow (output buffer full): disconnecting", self.id, self.user)
            self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.transport.abort()
            self.server.sessions.discard(self)

    def respond(self, msg: Message, response: str, *pairs: tuple[str, str]) -> None:
        self.send(encode_message(response_pairs(msg, response, pairs)))


def response_pairs(msg: Message, response: str, pairs: Iterable[tuple[str, str]]) -> Pairs:
    """``Response`` first, then the action's ``ActionID`` when it had one, then the rest."""
    out: Pairs = [("Response", response)]
    aid = msg.get("ActionID")
    if aid is not None:
        out.append(("ActionID", aid))
    out.extend(pairs)
    return out


class AMIServer:
    """The simulated Asterisk's manager interface (runs on one asyncio loop)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        users: dict[str, User | tuple[str, str, str] | dict[str, str]] | None = None,
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
        self.users = {name: _user(u) for name, u in (users or DEFAULT_USERS).items()}
        self.timestampevents = timestampevents
        self.time_scale = time_scale
        self.authtimeout = authtimeout
        self.auth_fail_delay = auth_fail_delay
        self.max_client_buffer = max_client_buffer
        self.pbx = PBX(self._on_event, seed=seed, start_time=start_time, traffic=traffic)
        self.sessions: set[Session] = set()
        self.booted = time.time()
        self.events_emitted = 0
        self._server: asyncio.base_events.Server | None = None
        self._driver: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._real0 = 0.0
        self._sim0 = self.pbx.started
        self.host = ""
        self.port = 0
        self.tls = False
        self._handlers = actions.HANDLERS

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
        """Stop: ``Event: Shutdown`` to every session (as Asterisk sends), then close everything."""
        if self._driver is not None:
            self._driver.cancel()
        if self._server is not None:
            self._server.close()
        self.broadcast("Shutdown", frozenset({"system"}), [("Event", "Shutdown"), ("Privilege", "system,all"),
                                                           ("Shutdown", "Cleanly"), ("Restart", "False")])
        for s in list(self.sessions):
            try:
                await asyncio.wait_for(s.writer.drain(), 0.5)
            except Exception:  # a slow or gone reader is simply dropped
                pass
            s.abort()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except (TimeoutError, Exception):
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
        if not self.sessions:
            return
        head: Pairs = [("Event", name), ("Privilege", priv)]
        if self.timestampevents:
            head.append(("Timestamp", f"{when:.6f}"))
        self.broadcast(name, frozenset(priv.split(",")) - {"all"}, head + pairs)

    def broadcast(self, name: str, event_classes: frozenset[str], pairs: Pairs) -> int:
        """Send one event (all its pairs, ``Event`` first) to every session that may see it."""
        data: bytes | None = None
        text: str | None = None
        n = 0
        for s in list(self.sessions):
            if s.filters and text is None:
                text = "".join(f"{k}: {v}\r\n" for k, v in pairs)
            if s.wants(name, event_classes, pairs, text):
                if data is None:
                    data = encode_message(pairs)
                s.send(data)
                s.sent_events += 1
                n += 1
        return n

    def send_event(self, session: Session, name: str, priv: str, pairs: Pairs) -> None:
        """An event for one session only (login events), subject to its permissions and mask."""
        head: Pairs = [("Event", name), ("Privilege", priv)]
        if self.timestampevents:
            now = max(self.pbx.now, self.sim_time_at(asyncio.get_running_loop().time()))
            head.append(("Timestamp", f"{now:.6f}"))
        full = head + pairs
        text = "".join(f"{k}: {v}\r\n" for k, v in full) if session.filters else None
        if session.wants(name, frozenset(priv.split(",")) - {"all"}, full, text):
            session.send(encode_message(full))

    # -- connections ----------------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = Session(self, reader, writer)
        self.sessions.add(s)
        parser = Parser(expect_banner=False, lenient=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.authtimeout
        try:
            writer.write(BANNER)
            while not s.closed:
                if s.user is None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        data = await asyncio.wait_for(reader.read(65536), remaining)
                    except TimeoutError:
                        log.info("sim: session %d did not log in within authtimeout: closing", s.id)
                        break
                else:
                    data = await reader.read(65536)
                if not data:
                    break
                try:
                    messages = parser.feed(data)
                except ProtocolError as exc:
                    log.warning("sim: session %d sent bad framing: %s", s.id, exc)
                    break
                if not await self._handle_all(s, messages):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            s.closed = True
            self.sessions.discard(s)
            try:
                if writer.transport.get_write_buffer_size() and not writer.transport.is_closing():
                    await asyncio.wait_for(writer.drain(), 2.0)
            except Exception:
                pass
            writer.close()

    async def _handle_all(self, s: Session, messages: list[Message]) -> bool:
        """Answer requests in order (as Asterisk does per session); False once the session must close."""
        for msg in messages:
            if not await self.handle(s, msg) or s.closed:
                return False
        return True

    async def handle(self, s: Session, msg: Message) -> bool:
        """Answer one request; False closes the connection."""
        action = msg.get("Action")
        if action is None:
            s.respond(msg, "Error", ("Message", "Missing action in request"))
            return True
        name = action.strip().lower()
        if name in ("login", "challenge", "logoff"):
            return await self._handlers[name](self, s, msg)
        if s.user is None:
            s.respond(msg, "Error", ("Message", "Permission denied"))
            return True
        handler = self._handlers.get(name)
        if handler is None:
            s.respond(msg, "Error", ("Message", f"Invalid/unknown command: {action}. "
                                                "Use Action: ListCommands to show available commands."))
            return True
        need = PRIVILEGES.get(name, frozenset())
        if need and not (need & s.write):
            s.respond(msg, "Error", ("Message", "Permission denied"))
            return True
        self.sync_clock()
        try:
            return await handler(self, s, msg)
        except Exception as exc:  # an action must never kill the session
            log.exception("sim: action %s failed", action)
            s.respond(msg, "Error", ("Message", f"Internal error: {type(exc).__name__}"))
            return True

    async def login(self, s: Session, msg: Message) -> bool:
        user = msg.get("Username", "")
        spec = self.users.get(user)
        ok = False
        if spec is not None:
            if msg.get("AuthType", "").lower() == "md5":
                key = msg.get("Key", "")
                ok = s.challenge is not None and key.lower() == hashlib.md5(
                    (s.challenge + spec.secret).encode()).hexdigest()
            else:
                ok = msg.get("Secret") == spec.secret
        if not ok:
            await asyncio.sleep(self.auth_fail_delay)
            s.respond(msg, "Error", ("Message", "Authentication failed"))
            log.info("sim: authentication failed for %r", user)
            return False
        s.user = user
        assert spec is not None
        s.read, s.write = classes(spec.read), classes(spec.write)
        s.mask = events_mask(msg.get("Events", "on"))
        s.respond(msg, "Success", ("Message", "Authentication accepted"))
        uptime = str(int(time.time() - self.booted))
        self.send_event(s, "FullyBooted", "system,all",
                        [("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")])
        tv = _event_tv(time.time())
        self.send_event(s, "SuccessfulAuth", "security,all", [
            ("EventTV", tv), ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
            ("AccountID", user), ("SessionID", f"0x{id(s):x}"), ("LocalAddress", s.local),
            ("RemoteAddress", s.remote), ("UsingPassword", "0"), ("SessionTV", tv),
        ])
        return True


PRIVILEGES = {**configs.privileges(), **actions.HANDLERS_PRIV_EXTRA}


def events_mask(value: str) -> frozenset[str] | None:
    """``on`` -> None (all), ``off`` -> empty, ``call,user`` -> those classes."""
    v = value.strip().lower()
    if v in ("on", "yes", "true", "1", "all"):
        return None
    if v in ("off", "no", "false", "0", ""):
        return frozenset()
    return classes(v)


def _event_tv(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}+0000"


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


def _user(u: User | tuple[str, str, str] | dict[str, str] | str) -> User:
    if isinstance(u, User):
        return u
    if isinstance(u, str):
        return User(u)
    if isinstance(u, dict):
        return User(u["secret"], u.get("read", "all"), u.get("write", "all"))
    return User(*u)

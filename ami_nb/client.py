"""The asyncio AMI client: connect, login, keepalive, reconnect, listeners, and the futures actions wait on.

Parsing lives in :mod:`ami_nb.protocol`, matching answers to actions (ActionIDs, event lists, Originate
outcomes) in the sans-IO :mod:`ami_nb.correlator`; this module only moves bytes and resolves futures. Everything
runs on one event loop; :meth:`AMIClient.on`, :meth:`AMIClient.off` and the sink registrations are safe to call
from other threads (copy-on-write lists).
"""

from __future__ import annotations

import asyncio
import enum
import fnmatch
import hashlib
import inspect
import itertools
import logging
import os
import random
import secrets
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .correlator import (
    Correlator,
    EventListCompleted,
    Failed,
    OriginateOutcome,
    ResponseReceived,
    Result,
    Unmatched,
)
from .errors import (
    ActionError,
    AMIConnectionError,
    AMIError,
    AMITimeoutError,
    AuthenticationError,
    InvalidActionError,
    ProtocolError,
)
from .protocol import LATIN1_FALLBACK, Banner, Message, Parser, encode_action
from .response import Response, shape_result

__all__ = ["STATES", "AMIClient", "ConnectionState", "EventCallback", "Secret", "new_action_id_prefix"]

log = logging.getLogger("ami_nb")

class ConnectionState(enum.StrEnum):
    """The client's connection state; a ``str`` enum, so ``client.state == "connected"`` holds."""

    CONNECTING = "connecting"  # connect() is opening the socket and logging in
    CONNECTED = "connected"  # logged in: actions go out, events come in
    RECONNECTING = "reconnecting"  # the connection was lost; retrying with backoff
    CLOSED = "closed"  # never connected, closed, or lost with reconnect=False


STATES = tuple(s.value for s in ConnectionState)
EventCallback = Callable[[Message], Any]
BatchSink = Callable[[list[Message], float], Any]
_Answer = ResponseReceived | EventListCompleted | Failed  # what an action's caller is handed
RawTap = Callable[[bytes], Any]

_READ_SIZE = 64 * 1024  # larger reads parse slower: a bigger batch of live messages churns the allocator
_DRAIN_ABOVE = 256 * 1024  # wait for the socket when this many bytes are queued for sending
_MAX_ROUTES = 4096  # event names whose listener route is cached
_MAX_ROUTE_NAME = 128  # longer (invented) names are routed each time, never cached
_WILDCARD = frozenset("*?[")


def new_action_id_prefix() -> str:
    """``<host>-<pid>-<random hex>``: unique across hosts, processes and clients in one process."""
    host = "".join(c for c in socket.gethostname().split(".")[0] if c.isalnum() or c in "_")[:12] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class Secret:
    """A login secret that stays hidden from ``repr``/``str`` (and so from verbose tracebacks' frame locals,
    logs and reprs of the fields holding it) until :func:`_encode` writes it into the bytes sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        self._value: str = value._value if isinstance(value, Secret) else str(value)

    @classmethod
    def wrap(cls, value: str | Secret) -> Secret:
        return value if isinstance(value, Secret) else cls(value)

    def reveal(self) -> str:
        """The secret itself: call it only where the bytes are made."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not picklable")


class _Wire(bytes):
    """The bytes of one encoded action, with a repr that shows their size only (they may hold a secret)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} bytes of an AMI action>"


def _encode(name: str, fields: Mapping[str, Any], action_id: str) -> _Wire:
    """Encode an action, revealing :class:`Secret` values only inside the expression that makes the bytes."""
    try:
        return _Wire(encode_action(
            name, {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in fields.items()}, action_id
        ))
    except InvalidActionError as exc:  # re-raised here so the encoder's frame (its locals) leaves the traceback
        raise InvalidActionError(str(exc), exc.field) from None


@dataclass(frozen=True)
class _Listener:
    pattern: str  # lower-case
    wild: bool
    callback: EventCallback


def _field(fields: Mapping[str, Any], key: str) -> Any:
    kl = key.lower()
    for k, v in fields.items():
        if k.lower() == kl:
            return v
    return None


def _refused_outcome(name: str, text: str) -> Callable[..., Any]:
    """The outcome of an Originate the server refused: raises at once (called, or awaited), never waits."""

    def outcome(timeout: float | None = None) -> Any:
        raise ActionError(name, f"refused ({text}): no OriginateResponse follows")

    return outcome


class AMIClient:
    """An asyncio AMI connection with login, correlated actions, listeners, keepalive and reconnect.

    ``await client.connect()`` opens and logs in (raising :class:`AuthenticationError`, :class:`AMITimeoutError`
    or :class:`AMIConnectionError`); ``await client.action("Ping")`` returns a shaped result; ``client.on("Hangup",
    cb)`` subscribes. After a loss the client reconnects by itself with capped exponential backoff and jitter,
    logs in again and re-applies the ``Events`` mask and the ``Filter`` actions sent before.

    Backoff: attempt *n* waits ``min(cap, base * 2**n)`` seconds times a random factor in [0.5, 1]
    (``backoff=(base, cap)``, default 0.5 s and 30 s). The count *n* goes back to 0 only once a connection has
    stayed up ``stable_after`` seconds (default 30): a server that accepts the login and drops at once (a proxy,
    Asterisk's writetimeout under load) is retried ever more slowly, not 2.6 times a second for ever.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        *,
        username: str,
        secret: str | Secret,
        tls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        auth: str = "auto",
        events: str = "on",
        timeout: float = 10.0,
        keepalive: float | None = 20.0,
        pong_timeout: float = 5.0,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.5, 30.0),
        stable_after: float = 30.0,
        errors: str = LATIN1_FALLBACK,
        max_message_bytes: int | None = None,
    ) -> None:
        if auth not in ("auto", "md5", "plain"):
            raise ValueError(f"auth must be 'auto', 'md5' or 'plain', not {auth!r}")
        self.host = host
        self.port = int(port)
        self.username = username
        self._secret = Secret.wrap(secret)
        self.tls = bool(tls or ssl_context is not None)
        self.ssl_context = ssl_context
        self.auth = auth
        self.event_mask = events  #: the ``Events`` mask sent at login (``on``, ``off`` or classes)
        self.timeout = float(timeout)
        self.keepalive = keepalive
        self.pong_timeout = float(pong_timeout)
        self.reconnect = reconnect
        self.backoff = backoff
        self.stable_after = float(stable_after)
        self._backoff_step = 0  # reconnect attempts since the last connection that stayed up `stable_after` s
        self._up_since: float | None = None  # monotonic time of the last successful login
        self.errors = errors
        self.max_message_bytes = max_message_bytes

        self.banner: Banner | None = None
        self.state: ConnectionState = ConnectionState.CLOSED
        self.auth_used: str | None = None
        self._prefix = new_action_id_prefix()
        self._counter = itertools.count(1)
        self._registry_lock = threading.Lock()  # on/off may be called from any thread
        self._listeners: list[_Listener] = []
        self._routes: dict[str, tuple[_Listener, ...]] = {}
        self._batch_sinks: list[BatchSink] = []
        self._raw_taps: list[RawTap] = []
        self._state_callbacks: list[Callable[[str], Any]] = []
        self._corr = Correlator()  # which answer belongs to which action: pure, see ami_nb.correlator
        self._waiters: dict[str, asyncio.Future[_Answer]] = {}  # ActionID -> the future its caller awaits
        self._outcome_waiters: dict[str, asyncio.Future[Message]] = {}  # ActionID -> a waited-for Originate outcome
        self._events_action_mask: str | None = None
        self._filters: list[dict[str, Any]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._parser: Parser | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._connected: asyncio.Event | None = None
        self._banner_seen: asyncio.Event | None = None
        self._closing = False
        self._rx_tail = b""
        self._drop_reason: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        #: counters: events received, actions sent, reconnects, bytes received, callback errors
        self.stats: dict[str, int] = {
            "events_received": 0,
            "actions_sent": 0,
            "reconnects": 0,
            "bytes_received": 0,
            "callback_errors": 0,
            "connections": 0,
        }

    def __repr__(self) -> str:
        scheme = "amis" if self.tls else "ami"
        return f"<AMIClient {scheme}://{self.username}@{self.host}:{self.port} state={self.state}>"

    @property
    def events(self) -> str:
        """Deprecated: the login ``Events`` mask, now :attr:`event_mask` (``session.events`` is the store)."""
        warnings.warn("AMIClient.events is now AMIClient.event_mask", DeprecationWarning, stacklevel=2)
        return self.event_mask

    @property
    def version(self) -> str | None:
        """The AMI protocol version from the banner (not Asterisk's version)."""
        return self.banner.version if self.banner else None

    # -- registration (thread-safe: copy-on-write) -------------------------------------------------------------
    def on(self, pattern: str, callback: EventCallback) -> EventCallback:
        """Call ``callback(event)`` for events named ``pattern`` (case-insensitive; fnmatch wildcards allowed).

        The callback may be sync or ``async``; an exception it raises is logged and isolated. Returns it.
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        pat = pattern.lower()
        with self._registry_lock:
            self._listeners = [*self._listeners, _Listener(pat, bool(_WILDCARD & set(pat)), callback)]
            self._rebuild()
        return callback

    def off(self, pattern: str | None = None, callback: EventCallback | None = None) -> int:
        """Remove listeners matching ``pattern`` and/or ``callback`` (both ``None``: all). Returns how many."""
        pat = pattern.lower() if pattern is not None else None
        with self._registry_lock:
            keep = [
                lst
                for lst in self._listeners
                if not ((pat is None or lst.pattern == pat) and (callback is None or lst.callback == callback))
            ]
            removed = len(self._listeners) - len(keep)
            self._listeners = keep
            self._rebuild()
        return removed

    def _rebuild(self) -> None:
        # Routes are resolved once per event name (as received) and cached until the listeners change, so the
        # hot path is one dict lookup per event instead of an fnmatch per wildcard listener.
        self._routes = {}

    def add_batch_sink(self, fn: BatchSink) -> None:
        """Call ``fn(events, received)`` once per socket read that held events, before per-event listeners."""
        with self._registry_lock:
            self._batch_sinks = [*self._batch_sinks, fn]

    def remove_batch_sink(self, fn: BatchSink) -> None:
        with self._registry_lock:
            self._batch_sinks = [s for s in self._batch_sinks if s != fn]

    def add_raw_tap(self, fn: RawTap) -> None:
        """Call ``fn(data)`` with every received chunk of bytes, exactly as read (for recordings)."""
        with self._registry_lock:
            self._raw_taps = [*self._raw_taps, fn]

    def remove_raw_tap(self, fn: RawTap) -> None:
        with self._registry_lock:
            self._raw_taps = [t for t in self._raw_taps if t != fn]

    def on_state_change(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call ``callback(new_state)`` on every state change (on the loop thread). Returns a function that
        removes this registration again (so a view or an archive that ends does not stay for the client's life)."""
        with self._registry_lock:
            self._state_callbacks = [*self._state_callbacks, callback]
        done = [False]

        def unsubscribe() -> None:
            if not done[0]:
                done[0] = True
                self.remove_state_change(callback)

        return unsubscribe

    def remove_state_change(self, callback: Callable[[str], Any]) -> None:
        """Stop calling ``callback`` (one registration of it; nothing happens if it has none)."""
        with self._registry_lock:
            cbs = self._state_callbacks
            for i, cb in enumerate(cbs):
                if cb == callback:
                    self._state_callbacks = [*cbs[:i], *cbs[i + 1:]]
                    return

    @property
    def unfinished_bytes(self) -> bytes:
        """The received bytes of the message not yet complete (lets a recording start mid-stream cleanly)."""
        return self._rx_tail

    # -- connect / login -----------------------------------------------------------------------------------------
    async def connect(self) -> AMIClient:
        """Open the connection and log in; then keep it alive (and reconnect) in the background."""
        if self.state is not ConnectionState.CLOSED:
            raise AMIConnectionError(f"client is already {self.state}")
        self.loop = asyncio.get_running_loop()
        self._closing = False
        self._connected = asyncio.Event()
        self._set_state(ConnectionState.CONNECTING)
        try:
            await self._establish()
        except BaseException:
            await self._drop_connection()
            self._set_state(ConnectionState.CLOSED)
            raise
        self._supervisor = asyncio.ensure_future(self._supervise())
        if self.keepalive:
            self._keepalive_task = asyncio.ensure_future(self._keepalive_loop())
        return self

    async def __aenter__(self) -> AMIClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ssl(self) -> ssl.SSLContext | None:
        if self.ssl_context is not None:
            return self.ssl_context
        return ssl.create_default_context() if self.tls else None

    async def _establish(self) -> None:
        """Open the socket, read the banner, log in, re-apply Events/Filter, then mark connected."""
        where = f"{self.host}:{self.port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self._ssl()), self.timeout
            )
        except TimeoutError as exc:
            raise AMITimeoutError(f"connecting to {where} took longer than {self.timeout:g} s") from exc
        except OSError as exc:
            raise AMIConnectionError(f"cannot connect to AMI at {where}: {exc.strerror or exc}") from exc
        self.stats["connections"] += 1
        kwargs: dict[str, Any] = {"expect_banner": True, "errors": self.errors}
        if self.max_message_bytes:
            kwargs["max_message_bytes"] = self.max_message_bytes
        self._parser = Parser(**kwargs)
        self._rx_tail = b""
        self._writer = writer
        self._banner_seen = asyncio.Event()
        self._reader_task = asyncio.ensure_future(self._read_loop(reader, writer, self._parser))
        banner_wait = asyncio.ensure_future(self._banner_seen.wait())
        try:
            done, _ = await asyncio.wait(
                {banner_wait, self._reader_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not banner_wait.done():
                banner_wait.cancel()
        if banner_wait not in done:
            if self._reader_task in done:
                ended = self._reader_task.exception()
                if isinstance(ended, ProtocolError):
                    raise ProtocolError(f"{where} is not an AMI server: {ended}") from None
                raise AMIConnectionError(f"AMI server at {where} closed the connection before its banner") from ended
            raise AMITimeoutError(f"no AMI banner from {where} within {self.timeout:g} s")
        await self._login()
        if self._events_action_mask is not None:
            await self._request("Events", {"EventMask": self._events_action_mask}, internal=True)
        for flt in list(self._filters):
            try:
                await self._request("Filter", flt, internal=True)
            except ActionError as exc:  # refused now (the server changed): say so, do not block the reconnect
                log.warning("AMI filter %r no longer accepted by %s (%s); dropped", flt.get("Filter"), where, exc)
                self._filters.remove(flt)
        self._up_since = time.monotonic()
        self._set_state(ConnectionState.CONNECTED)
        assert self._connected is not None
        self._connected.set()

    async def _login(self) -> None:
        who = f"user {self.username!r} at {self.host}:{self.port}"
        fields: dict[str, Any] = {"Username": self.username}
        if self.auth in ("auto", "md5"):
            try:
                resp = await self._request("Challenge", {"AuthType": "MD5"}, internal=True)
            except ActionError as exc:
                if self.auth == "md5":
                    raise AuthenticationError(f"MD5 authentication failed for {who}: {exc.message}") from None
                resp = None
            challenge = resp.message.get("Challenge") if resp is not None else None
            if challenge:
                key = hashlib.md5((challenge + self._secret.reveal()).encode(), usedforsecurity=False).hexdigest()
                fields.update({"AuthType": "MD5", "Key": key})
                self.auth_used = "md5"
            elif self.auth == "md5":
                raise AuthenticationError(f"MD5 authentication failed for {who}: the server sent no challenge")
        if "Key" not in fields:
            fields["Secret"] = self._secret
            self.auth_used = "plain"
        fields["Events"] = self.event_mask
        try:
            await self._request("Login", fields, internal=True)
        except ActionError as exc:
            kind = "MD5" if self.auth_used == "md5" else "plain"
            raise AuthenticationError(f"{kind} authentication failed for {who}: {exc.message}") from None
        except AMIConnectionError as exc:
            raise AMIConnectionError(f"connection lost during login of {who}") from exc

    # -- reading ------------------------------------------------------------------------------------------------
    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: Parser) -> None:
        """Read, parse and dispatch until EOF; a ProtocolError ends the connection (logged).

        When the connection ends, every pending action fails at once with :class:`AMIConnectionError`.
        """
        reason = "the server closed the connection"
        self._drop_reason = None
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    reason = self._drop_reason or reason
                    return
                received = time.time()
                self.stats["bytes_received"] += len(data)
                for tap in self._raw_taps:
                    self._safe(tap, data)
                msgs = parser.feed(data)
                buffered = parser.buffered
                self._rx_tail = (self._rx_tail + data)[-buffered:] if buffered else b""
                if parser.banner is not None and self.banner is not parser.banner:
                    self.banner = parser.banner
                    if self._banner_seen is not None:
                        self._banner_seen.set()
                if msgs:
                    self._dispatch(msgs, received)
        except ProtocolError as exc:
            reason = f"protocol error: {exc}"
            log.error("AMI protocol error from %s:%s, dropping the connection: %s", self.host, self.port, exc)
            raise
        except OSError as exc:
            reason = f"socket error: {exc}"
            raise
        except asyncio.CancelledError:
            reason = "the connection was closed"
            raise
        finally:
            if not writer.is_closing():
                writer.close()
            if self._writer is writer:
                self._writer = None
            if self._connected is not None and self._reader_task is asyncio.current_task():
                self._connected.clear()
            self._fail_pending(lambda action: f"connection lost while waiting for {action} response ({reason})")

    def _dispatch(self, msgs: list[Message], received: float) -> None:
        # The hot path. ``dict.get`` reads the canonical "Event" key at C speed; only a message without it takes
        # the case-insensitive route (an OriginateResponse carries both Event and Response: it is an event).
        dget = dict.get
        events = [m for m in msgs if dget(m, "Event") is not None or m.is_event]
        if events:
            self.stats["events_received"] += len(events)
            for sink in self._batch_sinks:
                self._safe(sink, events, received)
        corr = self._corr
        busy = corr.busy  # nothing is expected anew while a batch is dispatched (expect() runs in _request)
        for msg in msgs:
            name = dget(msg, "Event") or msg.event
            if name is not None:
                if busy:
                    aid = msg.get("ActionID")
                    if aid is not None:
                        done = corr.receive_event(aid, msg)
                        if done is not None:
                            self._apply(done)
                self._notify(name, msg)
            elif msg.is_response:
                self._apply(corr.receive(msg) or Unmatched(msg))
            else:
                log.debug("AMI message that is neither response nor event: %r", msg)

    def _apply(self, done: Result) -> None:
        """Hand a correlator result to whoever awaits it (the IO half of correlation)."""
        if isinstance(done, OriginateOutcome):
            fut: asyncio.Future[Any] | None = self._outcome_waiters.pop(done.action_id, None)
            if fut is not None and not fut.done():
                fut.set_result(done.event)
            return
        if isinstance(done, Unmatched):
            msg = done.message
            aid = msg.get("ActionID")
            if (msg.response or "").lower() == "goodbye":
                log.info("AMI server at %s:%s said goodbye: %s", self.host, self.port, msg.get("Message", ""))
            elif aid is not None:
                log.debug("response for an unknown ActionID %r", aid)
            return
        fut = self._waiters.pop(done.action_id, None)
        if fut is not None and not fut.done():
            fut.set_result(done)

    def _route(self, name: str) -> tuple[_Listener, ...]:
        # Read the cache before the listeners: on()/off() from another thread set the listeners first and reset
        # the cache second, so a route computed from stale listeners can only land in a discarded cache.
        routes = self._routes
        low = name.lower()
        targets = tuple(
            lst
            for lst in self._listeners
            if (fnmatch.fnmatchcase(low, lst.pattern) if lst.wild else lst.pattern == low)
        )
        # Asterisk has a few hundred event names; a peer inventing (or bloating) names must not grow this for
        # ever: at most _MAX_ROUTES names of at most _MAX_ROUTE_NAME characters are cached (< 1 MiB in all).
        if len(routes) < _MAX_ROUTES and len(name) <= _MAX_ROUTE_NAME:
            routes[name] = targets
        return targets

    def _notify(self, name: str, ev: Message) -> None:
        targets = self._routes.get(name)
        if targets is None:
            targets = self._route(name)
        for lst in targets:
            self._safe(lst.callback, ev)
        if len(name) == 8 and name.lower() == "shutdown":
            log.warning("AMI server at %s:%s is shutting down (%s); the client will reconnect",
                        self.host, self.port, ev.get("Shutdown", "?"))

    def _safe(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            result = fn(*args)
        except Exception:
            self.stats["callback_errors"] += 1
            log.exception("AMI callback %r raised; the client carries on", getattr(fn, "__qualname__", fn))
            return
        if result is not None and inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats["callback_errors"] += 1
            log.error("AMI async callback raised; the client carries on", exc_info=task.exception())

    # -- actions ------------------------------------------------------------------------------------------------
    def next_action_id(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"

    async def action(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                     **kwfields: Any) -> Any:
        """Send an action and return its shaped result (lines for Command, a Config for GetConfig, else a
        :class:`Response`). ``Response: Error`` raises :class:`ActionError` with the server's message.

        Fields come as keyword arguments or a mapping (for keys that are not identifiers); a list value is sent as
        repeated lines, a dict value as ``key=value`` lines. ``timeout`` covers the whole answer, lists included.
        """
        resp = await self.request(name, fields, timeout=timeout, **kwfields)
        return shape_result(name, resp)

    async def request(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                      **kwfields: Any) -> Response:
        """Like :meth:`action` but always returns the :class:`Response` (no shaping)."""
        allf = {**(fields or {}), **kwfields}
        return await self._request(name, allf, timeout=timeout)

    async def _request(self, name: str, fields: Mapping[str, Any], *, timeout: float | None = None,
                       internal: bool = False) -> Response:
        t = self.timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + t
        if not internal:
            await self._wait_connected(name, t)
        aid = _field(fields, "ActionID")
        fields = {k: v for k, v in fields.items() if k.lower() != "actionid"}
        aid = str(aid) if aid is not None else self.next_action_id()
        if aid in self._waiters:
            raise InvalidActionError(f"ActionID {aid!r} is already waiting for a response", "ActionID")
        data = _encode(name, fields, aid)  # raises InvalidActionError before anything is sent
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AMIConnectionError(f"not connected: cannot send {name} to {self.host}:{self.port}")
        is_originate = name.lower() == "originate"
        if is_originate:  # a reused ActionID (a re-run cell): the previous call's waiter is stale
            stale = self._outcome_waiters.pop(aid, None)
            if stale is not None and not stale.done():
                stale.cancel()
        self._drop_outcome_waiters(self._corr.expect(aid, name))
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._waiters[aid] = future
        if is_originate:
            self._expect_outcome(aid)
        try:
            writer.write(data)
            self.stats["actions_sent"] += 1
            if writer.transport.get_write_buffer_size() > _DRAIN_ABOVE:
                await self._drain(writer, name, aid, deadline, t)
            remaining = max(0.0, deadline - time.monotonic())
            try:
                done = await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                listing = self._corr.listing(aid)
                what = f"the end of the {name} event list" if listing else f"response to {name}"
                raise AMITimeoutError(f"no {what} (ActionID {aid}) within {t:g} s") from None
        finally:
            if self._waiters.get(aid) is future:
                del self._waiters[aid]
                self._corr.forget(aid)
        if isinstance(done, Failed):
            raise done.error
        msg = done.response
        items, complete = (list(done.items), done.complete) if isinstance(done, EventListCompleted) else ([], None)
        resp = Response(name, msg, items, complete, action_id=aid,
                        outcome=(lambda tmo=None: self.originate_result(aid, tmo)) if is_originate else None)
        if not resp.ok:
            text = msg.get("Message") or "error (no message)"
            output = msg.getall("Output")
            if output:  # a failed CLI command: its output says why
                text = f"{text}: " + " / ".join(line.strip() for line in output if line.strip())
            if is_originate:  # refused: no OriginateResponse will come, so outcome() says so at once
                self._outcome_waiters.pop(aid, None)
                resp = resp.with_outcome(_refused_outcome(name, text))
            raise ActionError(name, text, resp)
        if not internal:
            self._remember(name, fields)
        return resp

    @staticmethod
    async def _drain(writer: asyncio.StreamWriter, name: str, aid: str, deadline: float, t: float) -> None:
        try:
            await asyncio.wait_for(writer.drain(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            text = f"could not send {name} (ActionID {aid}) within {t:g} s: the peer reads nothing"
            raise AMITimeoutError(text) from None
        except OSError as exc:
            raise AMIConnectionError(f"connection lost while sending {name} (ActionID {aid}): {exc}") from None

    def _remember(self, name: str, fields: Mapping[str, Any]) -> None:
        low = name.lower()
        if low == "events":
            mask = _field(fields, "EventMask")
            if mask is not None:
                self._events_action_mask = str(mask)
        elif low == "filter" and str(_field(fields, "Operation") or "").lower() == "add":
            flt = dict(fields)
            if flt not in self._filters:  # a re-run cell adds the same filter once
                self._filters.append(flt)

    async def _wait_connected(self, name: str, t: float) -> None:
        if self.state is ConnectionState.CONNECTED:
            return
        if self.state is ConnectionState.CLOSED or self._connected is None:
            raise AMIConnectionError(f"cannot send {name}: the AMI client is closed")
        try:
            await asyncio.wait_for(self._connected.wait(), t)
        except TimeoutError:
            raise AMITimeoutError(f"cannot send {name}: still {self.state} after {t:g} s") from None
        state: ConnectionState = self.state  # changed while we waited
        if state is not ConnectionState.CONNECTED:
            raise AMIConnectionError(f"cannot send {name}: the AMI client is {state}")

    def send_nowait(self, name: str, **fields: Any) -> asyncio.Task[Any]:
        """Fire and forget: schedule the action and return its task (a failure is logged, not raised)."""
        task = asyncio.ensure_future(self.action(name, **fields))
        task.add_done_callback(self._log_send_failure)
        return task

    @staticmethod
    def _log_send_failure(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("AMI action sent with send_nowait failed: %s", task.exception())

    # -- async Originate ---------------------------------------------------------------------------------------
    def _expect_outcome(self, aid: str) -> asyncio.Future[Message]:
        fut = self._outcome_waiters.get(aid)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            arrived = self._corr.outcome(aid)
            if arrived is not None:
                fut.set_result(arrived)
                return fut
            self._outcome_waiters[aid] = fut
            self._drop_outcome_waiters(self._corr.await_outcome(aid))
        return fut

    def _drop_outcome_waiters(self, action_ids: tuple[str, ...]) -> None:
        for old in action_ids:
            fut = self._outcome_waiters.pop(old, None)
            if fut is not None and not fut.done():
                fut.cancel()

    async def originate_result(self, action_id: str, timeout: float | None = 30.0) -> Message:
        """The ``OriginateResponse`` event carrying ``action_id`` (the Originate's ActionID).

        Works whether the event has already arrived or not (the last 1000 are kept); check
        ``event["Response"]`` (``Success`` / ``Failure``) and ``event["Reason"]``.
        """
        t = 30.0 if timeout is None else float(timeout)
        fut = self._expect_outcome(action_id)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), t)
        except TimeoutError:
            raise AMITimeoutError(f"no OriginateResponse for Originate {action_id} within {t:g} s") from None
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if fut.cancelled() and (me is None or not me.cancelling()):
                raise AMIConnectionError(f"stopped waiting for the outcome of Originate {action_id}") from None
            raise

    # -- lifetime: supervise, keepalive, reconnect, close --------------------------------------------------------
    def _set_state(self, state: ConnectionState) -> None:
        if state == self.state:
            return
        self.state = state
        log.debug("AMI client %s:%s is %s", self.host, self.port, state)
        for cb in self._state_callbacks:
            self._safe(cb, state)

    async def _supervise(self) -> None:
        while True:
            task = self._reader_task
            reason = "the server closed the connection"
            if task is not None:
                try:
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    if self._closing or task.cancelled():
                        return
                    raise
                except ProtocolError as exc:
                    reason = f"protocol error: {exc}"
                except OSError as exc:
                    reason = f"socket error: {exc}"
                except Exception as exc:  # a bug or an odd codec must not leave a dead socket "connected"
                    log.exception("AMI reader for %s:%s failed", self.host, self.port)
                    reason = f"internal error: {type(exc).__name__}: {exc}"
            if self._closing:
                return
            reason = self._drop_reason or reason
            log.warning("AMI connection to %s:%s lost (%s)", self.host, self.port, reason)
            up, self._up_since = self._up_since, None
            if up is not None and time.monotonic() - up >= self.stable_after:
                self._backoff_step = 0  # it was a good connection: start the backoff afresh
            if not self.reconnect:
                if self._keepalive_task is not None:
                    self._keepalive_task.cancel()
                    self._keepalive_task = None
                self._set_state(ConnectionState.CLOSED)
                return
            await self._reconnect_loop()
            if self._closing:
                return

    def _fail_pending(self, text: Callable[[str], str]) -> None:
        """Fail every action still waiting: ``text(action)`` says why (the ActionID is added)."""
        for failed in self._corr.fail_all(lambda action, aid: AMIConnectionError(f"{text(action)}; ActionID {aid}")):
            fut = self._waiters.pop(failed.action_id, None)
            if fut is not None and not fut.done():
                fut.set_result(failed)

    async def _reconnect_loop(self) -> None:
        self._set_state(ConnectionState.RECONNECTING)
        base, cap = self.backoff
        attempt = 0
        while not self._closing:
            delay = min(cap, base * 2 ** min(self._backoff_step, 32)) * random.uniform(0.5, 1.0)
            self._backoff_step += 1
            attempt += 1
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self._establish()
            except asyncio.CancelledError:
                raise
            except AuthenticationError as exc:
                log.error("AMI re-login failed (attempt %d): %s", attempt, exc)
            except (AMIError, OSError) as exc:
                log.info("AMI reconnect attempt %d to %s:%s failed: %s", attempt, self.host, self.port, exc)
            else:
                self.stats["reconnects"] += 1
                log.info("AMI reconnected to %s:%s after %d attempt(s)", self.host, self.port, attempt)
                return
            await self._drop_connection()
            self._set_state(ConnectionState.RECONNECTING)

    async def _keepalive_loop(self) -> None:
        assert self.keepalive
        while not self._closing:
            await asyncio.sleep(self.keepalive)
            if self.state is not ConnectionState.CONNECTED:
                continue
            try:
                await self._request("Ping", {}, timeout=self.pong_timeout, internal=True)
            except AMITimeoutError:
                log.warning("AMI peer %s:%s sent no pong within %g s: dropping the connection",
                            self.host, self.port, self.pong_timeout)
                self._drop_reason = f"no pong within {self.pong_timeout:g} s"
                self._abort()
            except AMIError as exc:
                log.debug("keepalive ping failed: %s", exc)

    def _abort(self) -> None:
        writer = self._writer
        if writer is not None:
            writer.transport.abort()

    async def _drop_connection(self) -> None:
        task, self._reader_task = self._reader_task, None
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.transport.abort()
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:
                pass

    async def close(self, timeout: float = 2.0) -> None:
        """Log off (waiting at most ``timeout`` seconds) and close; pending actions fail at once."""
        if self.state is ConnectionState.CLOSED and self._supervisor is None:
            return
        self._closing = True
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if self.state is ConnectionState.CONNECTED and self._writer is not None:
            try:
                await self._request("Logoff", {}, timeout=timeout, internal=True)
            except AMIError:
                pass
        self._fail_pending(lambda action: f"client closed while waiting for {action} response")
        self._corr.clear()
        for fut in self._outcome_waiters.values():
            fut.cancel()
        self._outcome_waiters.clear()
        for task in (self._supervisor, *self._tasks):
            if task is not None and not task.done():
                task.cancel()
        await self._drop_connection()
        if self._supervisor is not None:
            try:
                await self._supervisor
            except BaseException:
                pass
        self._keepalive_task = self._supervisor = None
        if self._connected is not None:
            self._connected.clear()
        self._set_state(ConnectionState.CLOSED)

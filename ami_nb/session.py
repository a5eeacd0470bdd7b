"""The blocking facade: :func:`connect` -> :class:`Session`, one daemon thread running the client's event loop.

Events keep arriving (into ``session.events``, an :class:`~ami_nb.store.EventStore`) while a notebook cell runs or
while the main thread sleeps. Sync calls hand coroutines to the loop (an :class:`~ami_nb.loop.LoopThread`) and wait
with a timeout, so a cell never hangs. :class:`AsyncSession` is the same API on the caller's own event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from .client import AMIClient, EventCallback, Secret
from .errors import AMIConnectionError, AMIError
from .listeners import DEFAULT_QUEUE, AsyncListenerQueue, ListenerQueue, callback_name
from .loop import LoopThread
from .response import Response
from .targets import Target, resolve_target
from .transcript import TranscriptWriter

__all__ = ["AsyncSession", "Recording", "Session", "connect", "parse_target"]

log = logging.getLogger("ami_nb")

_MARGIN = 1.0  # seconds the sync facade waits beyond the client's own timeout
_CONNECT_STEPS = 4  # TCP connect, banner, challenge, login: each bounded by `timeout`


def parse_target(
    url_or_host: str | None,
    *,
    port: int = 5038,
    username: str | None = None,
    secret: str | None = None,
    tls: bool = False,
) -> tuple[str, int, str, str, bool]:
    """``(host, port, username, secret, tls)``: :func:`ami_nb.targets.resolve_target`, kept for older callers."""
    t = resolve_target(url_or_host, port=port, username=username, secret=secret, tls=tls)
    return t.host, t.port, t.username, t.secret, t.tls


def _make_store(capacity: int) -> Any:
    from .store import EventStore

    return EventStore(capacity=capacity)


class Recording:
    """Writes the raw received byte stream to a file (the transcript format); ``.stop()`` or ``with``.

    It starts with the banner line and the bytes of any message already half received, so the file parses whole.
    After a reconnect the new connection's banner appears in the stream again. With ``timeline`` (the default) a
    ``<stem>.timeline.jsonl`` beside it records when each read arrived, in the transcripts' timeline format, so
    ``read_transcript`` gives replayed events their real ``received`` times.
    """

    def __init__(self, client: AMIClient, path: str | os.PathLike[str], run: Callable[..., Any], *,
                 timeline: bool = True) -> None:
        self.path = Path(path)
        self._client = client
        self._run = run
        self._writer = TranscriptWriter(self.path, timeline=timeline)
        self.timeline_path = self._writer.timeline_path
        self._stopped = False

        async def start() -> None:
            head = b""
            if client.banner is not None:
                head = f"{client.banner.text}\r\n".encode() + client.unfinished_bytes
            self._write(head)
            client.add_raw_tap(self._write)

        run(start())

    @property
    def bytes_written(self) -> int:
        return self._writer.bytes_written

    def _write(self, data: bytes) -> None:
        self._writer.write(data)

    def stop(self) -> None:
        """Stop recording and close the file (idempotent)."""
        if self._stopped:
            return
        self._stopped = True

        async def stop() -> None:
            self._client.remove_raw_tap(self._write)

        try:
            self._run(stop())
        except (AMIError, RuntimeError):
            self._client.remove_raw_tap(self._write)
        self._writer.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "recording"
        return f"<Recording {str(self.path)!r} {state} {self.bytes_written} bytes>"


def _run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends to its end, here and now (AsyncSession's recording hooks)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("internal: a recording hook tried to suspend")


class _Registered:
    """One listener as the session registered it: what the user gave, what the client calls, how it is fed."""

    __slots__ = ("callback", "calls", "kind", "pattern", "queue", "wrapper")

    def __init__(self, pattern: str, callback: EventCallback, kind: str,
                 queue: ListenerQueue | AsyncListenerQueue | None) -> None:
        self.pattern = pattern
        self.callback = callback
        self.kind = kind
        self.queue = queue
        self.calls = 0  # deliveries of a listener without a queue (a sync one of an AsyncSession, run inline)
        self.wrapper: EventCallback = queue.put if queue is not None else self._call

    def _call(self, event: Any) -> Any:
        self.calls += 1
        return self.callback(event)

    def stats(self) -> dict[str, Any]:
        if self.queue is not None:
            return self.queue.stats()
        return {"pattern": self.pattern, "callback": callback_name(self.callback), "kind": self.kind,
                "delivered": self.calls, "skipped": 0, "queued": 0, "errors": None, "max_queue": None}


class _Base:
    """What Session and AsyncSession share: the client, the store, listeners, views and the description.

    The two differ only where one blocks and the other awaits (as httpx's Client and AsyncClient do).
    """

    _threaded_listeners = False  # Session: sync callbacks run on their own worker threads

    def __init__(
        self,
        url_or_host: str | Target | None = None,
        *,
        port: int = 5038,
        username: str | None = None,
        secret: str | Secret | None = None,
        tls: bool = False,
        auth: str = "auto",
        events: str = "on",
        timeout: float = 10.0,
        store_capacity: int = 1_000_000,
        listener_queue: int = DEFAULT_QUEUE,
        **client_options: Any,
    ) -> None:
        plain = secret.reveal() if isinstance(secret, Secret) else secret  # this frame ends before any login
        target = resolve_target(url_or_host, port=port, username=username, secret=plain, tls=tls, auth=auth)
        del plain
        self.client = AMIClient(
            target.host, target.port, username=target.username, secret=Secret.wrap(target.secret), tls=target.tls,
            auth=target.auth, events=events, timeout=timeout, **client_options
        )
        del target
        if listener_queue < 1:
            raise ValueError(f"listener_queue must be at least 1 event, not {listener_queue}")
        self.listener_queue = int(listener_queue)
        self._callbacks: list[_Registered] = []
        self._recordings: list[Recording] = []
        self.events = _make_store(store_capacity)
        self.client.add_batch_sink(self.events.extend)

    def _timeout(self, timeout: float | None) -> float:
        return self.client.timeout if timeout is None else float(timeout)

    # -- listeners ------------------------------------------------------------------------------------------
    def on(self, pattern: str, callback: EventCallback, *, queue: int | None = None) -> EventCallback:
        """Call ``callback(event)`` for events matching ``pattern`` (exact name or fnmatch, case-insensitive).

        In a :class:`Session` each sync callback runs on its own worker thread, in event order (it may block and
        may call :meth:`action`), fed by a bounded queue of ``queue`` events (default the session's
        ``listener_queue``, 10,000). Overflow policy: when a callback falls that far behind, the queue keeps the
        newest events and skips the oldest, counting them per listener (:meth:`listener_stats`) and logging a
        warning the first time; the event store is filled before any listener and never loses an event to a
        slow one. Coroutine functions run on the session's loop, one event at a time per listener, behind the same
        kind of bounded queue. In an :class:`AsyncSession` sync callbacks run inline on the loop. Exceptions are
        logged and isolated. Returns ``callback``.
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        pat = pattern.lower()
        size = self.listener_queue if queue is None else int(queue)
        if inspect.iscoroutinefunction(callback):
            aq = AsyncListenerQueue(pat, callback, size, on_error=self._count_error)
            reg = _Registered(pat, callback, "async", aq)
        elif self._threaded_listeners:
            reg = _Registered(pat, callback, "sync", ListenerQueue(pat, callback, size, on_error=self._count_error))
        else:
            reg = _Registered(pat, callback, "inline", None)
        self._callbacks = [*self._callbacks, reg]
        self.client.on(pattern, reg.wrapper)
        return callback

    def _count_error(self, exc: BaseException) -> None:
        self.client.stats["callback_errors"] += 1

    def off(self, pattern: str | None = None, callback: EventCallback | None = None) -> int:
        """Remove listeners by pattern and/or callback (both ``None``: all). Returns how many were removed."""
        pat = pattern.lower() if pattern is not None else None
        removed = 0
        keep = []
        for reg in self._callbacks:
            if (pat is None or reg.pattern == pat) and (callback is None or reg.callback == callback):
                removed += self.client.off(reg.pattern, reg.wrapper)
                if reg.queue is not None:
                    reg.queue.close()
            else:
                keep.append(reg)
        self._callbacks = keep
        return removed

    def listener_stats(self) -> list[dict[str, Any]]:
        """One dict per listener registered with :meth:`on`, in registration order::

            {"pattern": "hangup", "callback": "show", "kind": "sync",   # "sync", "async" or "inline" (AsyncSession)
             "delivered": 1200, "skipped": 48800, "queued": 10000,      # events called / dropped / waiting
             "errors": 0, "max_queue": 10000}                           # None where the kind has no queue

        ``skipped`` counts events dropped for that listener only (its queue was full: see :meth:`on`).
        """
        return [reg.stats() for reg in self._callbacks]

    def _stop_recordings(self) -> Exception | None:
        """Stop every recording and archive. One that fails (a full disk, a dead writer) is logged and the others
        still stop; the first error is returned, for close() to raise once the connection is closed."""
        first: Exception | None = None
        for rec in self._recordings:
            try:
                rec.stop()
            except Exception as exc:
                log.error("AMI session close: %s", exc)
                first = first or exc
        return first

    def _close_listeners(self) -> None:
        for reg in self._callbacks:
            if reg.queue is not None:
                reg.queue.close()

    # -- notebook views -----------------------------------------------------------------------------------------
    def live(self, rate: float = 2.0, **options: Any) -> Any:
        """An ipywidgets live view of this session, redrawn at most ``rate`` times a second; display it in a cell.

        Options go to :class:`ami_nb.widgets.LiveView` (``max_rows``, ``tail``, ``history``); ``.stop()`` ends it.
        """
        from .widgets import live

        return live(self, rate, **options)

    @property
    def url(self) -> str:
        c = self.client
        return f"{'amis' if c.tls else 'ami'}://{c.username}@{c.host}:{c.port}"

    @property
    def state(self) -> str:
        """``connecting``, ``connected``, ``reconnecting`` or ``closed`` (a :class:`~ami_nb.client.ConnectionState`,
        which compares equal to those strings)."""
        return self.client.state

    @property
    def pbx(self) -> Any:
        """The PBX's live state (:class:`ami_nb.live_state.LiveState`): channels, bridges, calls, queues, members
        and waiting callers as DataFrames; filled by CoreShowChannels / QueueStatus on first use and after every
        reconnect, then kept from events."""
        from .live_state import attach

        return attach(self)

    @property
    def version(self) -> str | None:
        """The AMI protocol version from the banner (e.g. ``11.0.0``; not Asterisk's version)."""
        return self.client.version

    @property
    def stats(self) -> dict[str, int]:
        """Client counters plus the store's size and the listeners' skips: events received, actions sent, ..."""
        out = dict(self.client.stats)
        out.update(events_held=len(self.events), events_dropped=self.events.dropped,
                   events_skipped=sum(reg.queue.skipped for reg in self._callbacks if reg.queue is not None),
                   archives_failed=sum(getattr(r, "error", None) is not None for r in self._recordings))
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} state={self.state}>"


class Session(_Base):
    """A blocking AMI session whose client runs on a background daemon thread. Build it with :func:`connect`.

    Each sync callback given to :meth:`on` runs in order on its own worker thread behind a bounded queue, so it
    may block and may call :meth:`action`; ``async`` callbacks run on the session's loop.
    """

    _threaded_listeners = True

    def __init__(self, url_or_host: str | Target | None = None, **options: Any) -> None:
        """Connect and log in (the options are :func:`connect`'s); events start flowing at once."""
        if options.get("secret") is not None:
            options["secret"] = Secret.wrap(options["secret"])
        super().__init__(url_or_host, **options)
        self._lt = LoopThread(f"ami-session-{self.client.host}:{self.client.port}").start()
        try:
            self._wait(self.client.connect(), _CONNECT_STEPS * self.client.timeout + _MARGIN, "connecting")
        except BaseException:
            self._stop_thread()
            raise

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The session's event loop (running on its own thread)."""
        return self._lt.loop

    @property
    def thread(self) -> threading.Thread:
        assert self._lt.thread is not None
        return self._lt.thread

    def _on_loop_thread(self) -> bool:
        return self._lt.in_loop_thread()

    def _check_open(self, what: str) -> None:
        if not self._lt.is_running:
            raise AMIConnectionError(f"cannot run {what}: the session is closed")

    def _wait(self, coro: Coroutine[Any, Any, Any], timeout: float, what: str) -> Any:
        if self._on_loop_thread():
            coro.close()
            raise RuntimeError(
                f"{what} would block the AMI session's own event loop (you are in an async callback or a batch "
                "sink): use session.send(...) or `await session.aaction(...)` there"
            )
        if not self._lt.is_running:
            coro.close()
            raise AMIConnectionError(f"cannot run {what}: the session is closed")
        return self._lt.run(coro, timeout, what)

    # -- actions ------------------------------------------------------------------------------------------------
    def _sync_outcome(self, result: Any) -> Any:
        if isinstance(result, Response) and result._outcome is not None:
            aid = result.action_id

            def outcome(timeout: float | None = None) -> Any:
                t = 30.0 if timeout is None else float(timeout)
                assert aid is not None
                return self._wait(self.client.originate_result(aid, t), t + _MARGIN, f"waiting for Originate {aid}")

            return result.with_outcome(outcome)
        return result

    def action(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
               **kwfields: Any) -> Any:
        """Send an action and wait for its shaped result (lines for ``Command``, a ``Config`` for ``GetConfig``,
        else a :class:`Response`; an async Originate's ``.outcome(timeout=30)`` waits for its OriginateResponse).

        Raises :class:`ActionError` for ``Response: Error``, :class:`AMITimeoutError` after ``timeout`` seconds.
        """
        t = self._timeout(timeout)
        result = self._wait(self.client.action(name, fields, timeout=t, **kwfields), t + _MARGIN, f"action {name}")
        return self._sync_outcome(result)

    def send(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
             **kwfields: Any) -> concurrent.futures.Future[Any]:
        """Fire and forget: send the action and return a ``concurrent.futures.Future`` of its result."""
        t = self._timeout(timeout)
        self._check_open(f"send {name}")

        async def go() -> Any:
            return await self.client.action(name, fields, timeout=t, **kwfields)

        outer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        inner = self._lt.submit(go())

        def done(f: concurrent.futures.Future[Any]) -> None:
            if f.cancelled():
                outer.cancel()
            elif f.exception() is not None:
                outer.set_exception(f.exception())
            else:
                outer.set_result(self._sync_outcome(f.result()))

        inner.add_done_callback(done)
        return outer

    async def aaction(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                      **kwfields: Any) -> Any:
        """``await session.aaction("Ping")`` from any event loop (a Jupyter cell's, or the session's own)."""
        t = self._timeout(timeout)
        self._check_open(f"action {name}")
        coro = self.client.action(name, fields, timeout=t, **kwfields)
        if asyncio.get_running_loop() is self._lt.loop:
            return await coro
        result = await asyncio.wrap_future(self._lt.submit(coro))
        if isinstance(result, Response) and result._outcome is not None:
            aid = result.action_id

            async def outcome(timeout: float | None = None) -> Any:
                assert aid is not None
                return await asyncio.wrap_future(self._lt.submit(self.client.originate_result(aid, timeout)))

            return result.with_outcome(outcome)
        return result

    # -- recording and lifetime ---------------------------------------------------------------------------------
    def record(self, path: str | os.PathLike[str], *, timeline: bool = True) -> Recording:
        """Start writing the raw received bytes to ``path`` (banner first); returns a handle with ``.stop()``.

        ``timeline`` also writes ``<stem>.timeline.jsonl`` (when each read arrived) beside it.
        """

        def run(coro: Coroutine[Any, Any, Any]) -> Any:
            return self._wait(coro, 5.0, "recording")

        rec = Recording(self.client, path, run, timeline=timeline)
        self._recordings.append(rec)
        return rec

    def archive(self, path: str | os.PathLike[str], *, pbx: str | None = None, flush_seconds: float = 5.0,
                **options: Any) -> Any:
        """Also write every event received from now on to the Parquet archive at ``path`` (under
        ``pbx=<pbx>``, the host by default), flushed every ``flush_seconds``; returns the
        :class:`ami_nb.history.Archive`. ``session.events.frame(since=...)`` then reads what memory evicted from
        it. Closed with the session. Needs ``pip install ami_nb[history]``."""
        from .history.live import attach

        return attach(self, path, pbx=pbx, flush_seconds=flush_seconds, **options)

    def close(self, timeout: float = 5.0) -> None:
        """Log off, close the connection and stop the background thread (idempotent). A recording or archive
        that failed to stop is raised afterwards: the session is closed either way."""
        if not self._lt.is_running:
            return
        failed = self._stop_recordings()
        try:
            self._wait(self.client.close(), timeout, "closing")
        except (AMIError, RuntimeError) as exc:
            log.warning("AMI session close: %s", exc)
        finally:
            self._stop_thread(timeout)
            views = sys.modules.get("ami_nb.widgets._base")  # only if a view was ever made: no import here
            if views is not None:
                views.WATCH.settle(self.client)
        if failed is not None:
            raise failed

    def _stop_thread(self, timeout: float = 5.0) -> None:
        if self._on_loop_thread():
            raise RuntimeError("session.close() cannot run on the session's own loop thread")
        self._lt.stop(timeout)
        self._close_listeners()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    url_or_host: str | Target | None = None,
    *,
    port: int = 5038,
    username: str | None = None,
    secret: str | Secret | None = None,
    tls: bool = False,
    auth: str = "auto",
    events: str = "on",
    timeout: float = 10.0,
    store_capacity: int = 1_000_000,
    listener_queue: int = DEFAULT_QUEUE,
    **client_options: Any,
) -> Session:
    """Connect and log in; return a :class:`Session` whose events flow into ``session.events``.

    ``url_or_host`` is ``ami://user@host:port``, ``amis://…`` (TLS), ``host[:port]``, a section of the
    connections file, or a resolved :class:`~ami_nb.targets.Target` (see :mod:`ami_nb.targets` for every rule).
    The secret comes from ``secret``, else the URL, else the connections file, else ``AMI_SECRET``, else a
    hidden prompt; it is held in a :class:`~ami_nb.client.Secret` at once (its repr hides it, so a verbose
    traceback of a failed login does not print it). ``listener_queue`` bounds each sync listener's queue (see
    :meth:`Session.on`). ``client_options`` go to :class:`AMIClient` (``keepalive``, ``pong_timeout``,
    ``reconnect``, ``backoff``, ``stable_after``, ``ssl_context``, ``errors``).
    """
    secret = Secret.wrap(secret) if secret is not None else None
    return Session(
        url_or_host, port=port, username=username, secret=secret, tls=tls, auth=auth, events=events,
        timeout=timeout, store_capacity=store_capacity, listener_queue=listener_queue, **client_options,
    )


class AsyncSession(_Base):
    """The :class:`Session` API on the caller's event loop (no thread): ``async with AsyncSession(url) as s:``.

    The same constructor options and methods, awaited where Session blocks: ``await s.action(...)``,
    ``s.send(...)`` (an ``asyncio.Task``), ``s.on/off/listener_stats``, ``s.events``, ``s.record(path)``,
    ``s.live()``, ``await s.close()``. Sync callbacks run inline on the loop (keep them short).
    """

    async def connect(self) -> AsyncSession:
        """Open the connection and log in (``async with`` does it for you)."""
        await self.client.connect()
        return self

    async def __aenter__(self) -> AsyncSession:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the session runs on (the one that connected it)."""
        return self.client.loop

    async def action(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
                     **kwfields: Any) -> Any:
        """Send an action and return its shaped result (as :meth:`Session.action`; ``timeout`` in seconds)."""
        return await self.client.action(name, fields, timeout=self._timeout(timeout), **kwfields)

    aaction = action

    def send(self, name: str, fields: Mapping[str, Any] | None = None, /, *, timeout: float | None = None,
             **kwfields: Any) -> asyncio.Task[Any]:
        """Fire and forget: schedule the action and return an ``asyncio.Task`` of its result."""
        return asyncio.ensure_future(self.client.action(name, fields, timeout=self._timeout(timeout), **kwfields))

    def record(self, path: str | os.PathLike[str], *, timeline: bool = True) -> Recording:
        """Start writing the raw received bytes to ``path`` (as :meth:`Session.record`); call it on the loop."""
        rec = Recording(self.client, path, _run_now, timeline=timeline)
        self._recordings.append(rec)
        return rec

    async def close(self, timeout: float = 5.0) -> None:
        """Log off and close the connection (idempotent); a recording that failed to stop is raised afterwards."""
        failed = self._stop_recordings()
        try:
            await self.client.close(timeout)
        finally:
            self._close_listeners()
        if failed is not None:
            raise failed

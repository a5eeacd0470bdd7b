"""Bounded delivery to slow listeners: each ``session.on(...)`` callback gets its own bounded queue (a sync one a
worker thread, an ``async`` one a draining task on the session's loop).

Why: a callback slower than the event rate (printing in Jupyter, calling ``action()``) used to get every event
queued without limit, so memory grew until the notebook died and delivery lagged by minutes, silently.

Overflow policy (documented in :meth:`ami_nb.session.Session.on`): a listener's queue keeps the **newest**
``maxsize`` events; when it is full the oldest queued event is skipped (dropped for that listener only) and
counted in :attr:`ListenerQueue.skipped`; the first skip logs one warning naming the listener. Other listeners and
the event store are unaffected: the store is a batch sink on the loop thread, filled before any listener runs,
and putting an event on a queue never blocks the loop. Standard library only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_QUEUE", "AsyncListenerQueue", "ListenerQueue"]

log = logging.getLogger("ami_nb")

DEFAULT_QUEUE = 10_000  # events held per slow listener (a few MiB of messages) before the oldest are skipped


def callback_name(cb: Callable[..., Any]) -> str:
    return str(getattr(cb, "__qualname__", None) or getattr(cb, "__name__", None) or repr(cb))


class _Bounded:
    """What both kinds of listener share: the callback, the bounded queue with its overflow policy, the counts."""

    kind = ""
    _warning = ""

    def __init__(self, pattern: str, callback: Callable[[Any], Any], maxsize: int = DEFAULT_QUEUE, *,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"a listener queue holds at least 1 event, not {maxsize}")
        self.pattern = pattern
        self.callback = callback
        self.maxsize = int(maxsize)
        self.delivered = 0  #: events the callback was called with (raising or not)
        self.skipped = 0  #: events dropped for this listener because its queue was full
        self.errors = 0  #: calls that raised
        self._queue: deque[Any] = deque()
        self._closed = False
        self._on_error = on_error

    def _push(self, event: Any) -> bool:
        """The overflow policy: append ``event``, skipping the oldest when full; True on the first skip ever."""
        q = self._queue
        first_skip = False
        if len(q) >= self.maxsize:
            q.popleft()
            self.skipped += 1
            first_skip = self.skipped == 1
        q.append(event)
        return first_skip

    def _warn_full(self) -> None:
        log.warning(
            "AMI %s listener %r for %r is slower than the events: its queue is full (%d); the oldest queued events "
            "are skipped for it from now on (see session.listener_stats()); the event store keeps all",
            self.kind, callback_name(self.callback), self.pattern, self.maxsize,
        )

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        log.error("AMI %s callback %r raised; the session carries on", self.kind, callback_name(self.callback),
                  exc_info=exc)
        if self._on_error is not None:
            self._on_error(exc)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, Any]:
        """``pattern``, ``callback``, ``kind`` (``"sync"`` / ``"async"``), ``delivered``, ``skipped``, ``queued``,
        ``errors``, ``max_queue``."""
        return {
            "pattern": self.pattern,
            "callback": callback_name(self.callback),
            "kind": self.kind,
            "delivered": self.delivered,
            "skipped": self.skipped,
            "queued": len(self._queue),
            "errors": self.errors,
            "max_queue": self.maxsize,
        }


class ListenerQueue(_Bounded):
    """One sync listener: a bounded queue of events and the daemon thread that calls ``callback`` in order.

    :meth:`put` runs on the session's loop thread and never blocks; the worker thread runs the callback, logs and
    counts what it raises (``on_error``; ``SystemExit`` and ``KeyboardInterrupt`` too, which would otherwise end
    the worker without a word) and carries on.
    """

    kind = "sync"

    def __init__(self, pattern: str, callback: Callable[[Any], Any], maxsize: int = DEFAULT_QUEUE, *,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        super().__init__(pattern, callback, maxsize, on_error=on_error)
        self._cond = threading.Condition(threading.Lock())
        self._idle = False  # the worker waits for an event: put() must wake it
        self._thread = threading.Thread(target=self._run, name=f"ami-callbacks-{pattern}", daemon=True)
        self._thread.start()

    def put(self, event: Any) -> None:
        """Queue ``event`` (loop thread; never blocks). A full queue skips its oldest event."""
        with self._cond:
            if self._closed:
                return
            first_skip = self._push(event)
            if self._idle:
                self._cond.notify()
        if first_skip:
            self._warn_full()

    def _run(self) -> None:
        q = self._queue
        cond = self._cond
        cb = self.callback
        while True:
            with cond:
                while not q and not self._closed:
                    self._idle = True
                    cond.wait()
                self._idle = False
                if self._closed:
                    return
                event = q.popleft()
            try:
                cb(event)
            except BaseException as exc:  # a worker thread has nobody to raise to
                self._failed(exc)
            self.delivered += 1

    def close(self, timeout: float | None = None) -> None:
        """Stop after the running callback (queued events are dropped); wait ``timeout`` s for the thread."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        if timeout is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        return self._thread


class AsyncListenerQueue(_Bounded):
    """One ``async`` listener of a :class:`~ami_nb.session.Session`: a bounded queue drained by one task on the
    session's loop, so a slow coroutine callback is awaited once per event, in order, instead of piling up one
    task per event. The same overflow policy as :class:`ListenerQueue`. Everything runs on the loop thread but
    :meth:`close`, which hands the cancellation to the loop.
    """

    kind = "async"

    def __init__(self, pattern: str, callback: Callable[[Any], Any], maxsize: int = DEFAULT_QUEUE, *,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        super().__init__(pattern, callback, maxsize, on_error=on_error)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def put(self, event: Any) -> None:
        """Queue ``event`` (on the loop thread; never blocks); start the draining task if it is idle."""
        if self._closed:
            return
        if self._push(event):
            self._warn_full()
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        q = self._queue
        try:
            while q and not self._closed:
                event = q.popleft()
                try:
                    await self.callback(event)
                except Exception as exc:  # not BaseException: close() cancels this task
                    self._failed(exc)
                self.delivered += 1
        finally:
            self._task = None

    def close(self) -> None:
        """Stop delivering (queued events are dropped); the running callback is cancelled. From any thread."""
        self._closed = True
        self._queue.clear()
        task, loop = self._task, self._loop
        if task is not None and loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed meanwhile: the task went with it
                pass

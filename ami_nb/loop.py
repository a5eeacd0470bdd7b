"""An asyncio event loop on a daemon thread: the one home of "run the client in the background".

The blocking :class:`~ami_nb.session.Session`, the simulated PBX and the tests' servers all need a loop that keeps
serving sockets while the caller's thread runs notebook cells or sleeps. :class:`LoopThread` owns that loop's whole
life: start it, hand it coroutines (waiting with a timeout, so a caller never hangs), and stop it so that pending
tasks are cancelled and awaited and the loop is closed *on its own thread* (no "Event loop is closed" tracebacks
from tasks that outlive their loop, no sockets left to the garbage collector).

Standard library only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from .errors import AMITimeoutError

__all__ = ["LoopThread"]

log = logging.getLogger("ami_nb")

T = TypeVar("T")

_CLEANUP_TIMEOUT = 2.0  # seconds the cancelled tasks get to finish their `finally` blocks when the loop stops


class LoopThread:
    """An asyncio loop running on its own daemon thread.

    ::

        with LoopThread("ami-session") as lt:
            result = lt.run(client.connect(), timeout=10)   # blocks, at most 10 s
            fut = lt.submit(client.action("Ping"))         # a concurrent.futures.Future
            lt.call_soon(print, "on the loop thread")

    :meth:`stop` (also ``with``'s exit) cancels what is still pending, lets it unwind, closes the loop and joins
    the thread; it is idempotent. A LoopThread cannot be restarted once stopped.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifetime ---------------------------------------------------------------------------------------------
    def start(self) -> LoopThread:
        """Start the thread and return once its loop is running (returns ``self``)."""
        if self._thread is not None:
            raise RuntimeError(f"LoopThread {self.name!r} was already started")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        self._loop = loop
        self._thread = threading.Thread(target=self._main, args=(loop, started), name=self.name, daemon=True)
        self._thread.start()
        if not started.wait(10.0):  # pragma: no cover - a machine too loaded to start a thread in 10 s
            raise RuntimeError(f"LoopThread {self.name!r} did not start")
        return self

    def _main(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        try:
            loop.run_forever()
        finally:
            try:
                self._cleanup(loop)
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    @staticmethod
    def _cleanup(loop: asyncio.AbstractEventLoop) -> None:
        """Cancel every task still pending and give them a bounded time to unwind (their ``finally`` runs here,
        while the loop still exists, instead of in the garbage collector after it closed)."""
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            _done, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=_CLEANUP_TIMEOUT))
            for t in pending:
                log.warning("LoopThread: task %r ignored its cancellation; the loop closes anyway", t)
            for t in _done:
                if not t.cancelled() and t.exception() is not None:
                    log.debug("LoopThread: task %r ended with %r while stopping", t, t.exception())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel pending tasks, close the loop and join the thread (idempotent; not from the loop thread)."""
        if self._stopped or self._thread is None or self._loop is None:
            self._stopped = True
            return
        if self.in_loop_thread():
            raise RuntimeError(f"LoopThread {self.name!r} cannot be stopped from its own thread")
        self._stopped = True
        if not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._loop.stop)
            except RuntimeError:  # closed between the check and the call
                pass
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("LoopThread %r did not stop within %g s (a callback is blocking its loop)", self.name, timeout)

    def __enter__(self) -> LoopThread:
        return self if self._thread is not None else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (only after :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError(f"LoopThread {self.name!r} is not started")
        return self._loop

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def is_running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` while the thread and its loop are alive."""
        return (
            not self._stopped
            and self._thread is not None
            and self._thread.is_alive()
            and self._loop is not None
            and not self._loop.is_closed()
        )

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread (where blocking on it would deadlock)."""
        return self._thread is not None and threading.current_thread() is self._thread

    # -- handing work to the loop -------------------------------------------------------------------------------
    def _check(self, coro: Coroutine[Any, Any, Any] | None, what: str) -> asyncio.AbstractEventLoop:
        if not self.is_running:
            if coro is not None:
                coro.close()
            raise RuntimeError(f"cannot run {what}: LoopThread {self.name!r} is not running")
        assert self._loop is not None
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a ``concurrent.futures.Future`` (cancel it to cancel ``coro``)."""
        loop = self._check(coro, "a coroutine")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None, what: str | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result, at most ``timeout`` seconds (``None``: no limit).

        Its exceptions propagate. On timeout the coroutine is cancelled and :class:`AMITimeoutError` raised
        (naming ``what``); an interrupt (``KeyboardInterrupt``) while waiting cancels it too before propagating.
        Raises ``RuntimeError`` from the loop's own thread, where waiting would deadlock.
        """
        label = what or getattr(coro, "__qualname__", "coroutine")
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(f"{label} would block the loop thread {self.name!r} it needs to run on")
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            if fut.done() and not fut.cancelled():
                return fut.result()  # it finished meanwhile, or itself raised a TimeoutError: pass that on
            fut.cancel()
            raise AMITimeoutError(f"{label} took longer than {timeout:g} s") from None
        except BaseException:
            fut.cancel()  # KeyboardInterrupt / SystemExit while waiting: do not leave the coroutine running
            raise

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop thread, soon (thread-safe; ``RuntimeError`` once the loop is stopped)."""
        self._check(None, getattr(fn, "__qualname__", "a callback")).call_soon_threadsafe(fn, *args)

    def __repr__(self) -> str:
        state = "running" if self.is_running else ("stopped" if self._stopped else "new")
        return f"<LoopThread {self.name!r} {state}>"

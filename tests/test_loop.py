"""LoopThread: an asyncio loop on a daemon thread, with bounded waits and a clean stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import warnings

import pytest

from ami_nb.errors import AMITimeoutError
from ami_nb.loop import LoopThread


def test_run_returns_the_result_on_the_loop_thread():
    with LoopThread("t-run") as lt:
        assert lt.is_running

        async def where() -> str:
            return threading.current_thread().name

        assert lt.run(where(), timeout=5) == "t-run"
        assert lt.thread is not None and lt.thread.daemon
    assert not lt.is_running


def test_run_propagates_the_coroutines_exception():
    async def boom() -> None:
        raise ValueError("from the loop")

    with LoopThread("t-exc") as lt, pytest.raises(ValueError, match="from the loop"):
        lt.run(boom(), timeout=5)


def test_timeout_raises_ami_timeout_and_cancels_the_coroutine():
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with LoopThread("t-timeout") as lt:
        with pytest.raises(AMITimeoutError, match=r"sleeping took longer than 0\.05 s"):
            lt.run(forever(), timeout=0.05, what="sleeping")
        assert cancelled.wait(5)


def test_a_timeout_error_raised_by_the_coroutine_is_its_own():
    async def own() -> None:
        raise AMITimeoutError("the client's precise text")

    with LoopThread("t-own") as lt, pytest.raises(AMITimeoutError, match="precise text"):
        lt.run(own(), timeout=5)


def test_interrupt_while_waiting_cancels_the_coroutine(monkeypatch):
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupted(self, timeout=None):
        raise KeyboardInterrupt

    with LoopThread("t-int") as lt:
        monkeypatch.setattr(concurrent.futures.Future, "result", interrupted)
        with pytest.raises(KeyboardInterrupt):
            lt.run(forever(), timeout=5)
        monkeypatch.undo()
        assert cancelled.wait(5)


def test_submit_and_call_soon():
    with LoopThread("t-submit") as lt:

        async def double(x: int) -> int:
            await asyncio.sleep(0)
            return 2 * x

        fut = lt.submit(double(21))
        assert isinstance(fut, concurrent.futures.Future)
        assert fut.result(5) == 42
        seen: list[str] = []
        done = threading.Event()
        lt.call_soon(lambda a, b: (seen.append(threading.current_thread().name + a + b), done.set()), ":", "x")
        assert done.wait(5)
        assert seen == ["t-submit:x"]


def test_run_from_the_loop_thread_refuses_instead_of_deadlocking():
    with LoopThread("t-self") as lt:

        async def inner() -> int:
            return 1

        async def outer() -> str:
            coro = inner()
            try:
                lt.run(coro, timeout=1)
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        assert "would block the loop thread" in lt.run(outer(), timeout=5)


def test_stop_cancels_pending_tasks_runs_their_finally_and_closes_the_loop():
    unwound = threading.Event()

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            unwound.set()

    lt = LoopThread("t-stop").start()
    loop = lt.loop
    lt.submit(worker())
    lt.run(asyncio.sleep(0.01), timeout=5)
    lt.stop()
    assert unwound.is_set()  # the finally ran on the loop, before it closed
    assert loop.is_closed()
    assert lt.thread is not None and not lt.thread.is_alive()
    lt.stop()  # idempotent
    assert not lt.is_running


def test_stop_closes_open_sockets_without_warnings():
    """A client task holding a connection is cancelled at stop; its ``finally`` closes the transport while the
    loop still runs, so nothing is left to the garbage collector (no ResourceWarning)."""
    servers: list[asyncio.Server] = []

    async def serve() -> int:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read()
            except asyncio.CancelledError:
                pass  # CPython 3.11's stream callback logs a cancelled handler task as an error
            finally:
                writer.close()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close_server() -> None:
        servers[0].close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lt = LoopThread("t-sock").start()
        port = lt.run(serve(), timeout=5)
        connected = threading.Event()

        async def client() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            connected.set()
            try:
                await reader.read()
            finally:
                writer.close()

        lt.submit(client())
        assert connected.wait(5)
        lt.run(close_server(), timeout=5)
        lt.stop()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_after_stop_work_is_refused_clearly():
    lt = LoopThread("t-after").start()
    lt.stop()

    async def nothing() -> None:
        return None

    coro = nothing()
    with pytest.raises(RuntimeError, match="not running"):
        lt.submit(coro)
    assert coro.cr_frame is None  # closed, so no "never awaited" warning
    with pytest.raises(RuntimeError, match="not running"):
        lt.call_soon(print)
    with pytest.raises(RuntimeError, match="already started"):
        lt.start()


def test_loop_before_start_is_an_error():
    lt = LoopThread("t-new")
    assert not lt.is_running
    with pytest.raises(RuntimeError, match="not started"):
        _ = lt.loop
    lt.stop()  # stopping a never-started LoopThread is harmless

"""The background-thread Session against a scripted AMI server over real loopback sockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from scripted_server import STALL, ScriptedServer

import ami_nb
from ami_nb.client import AMIClient
from ami_nb.errors import ActionError, AMIConnectionError, AMITimeoutError, AuthenticationError
from ami_nb.protocol import Parser
from ami_nb.response import CommandOutput, Response
from ami_nb.session import AsyncSession, Session, connect, parse_target

SECRET = "amp111"
FAST = {"keepalive": None, "backoff": (0.05, 0.2), "timeout": 3.0}


def wait_until(pred: Any, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def session(ami_server: ScriptedServer) -> Any:
    s = connect(ami_server.url, secret=SECRET, **FAST)
    try:
        yield s
    finally:
        s.close()


def test_connect_url_env_secret_repr_and_package_exports(ami_server: ScriptedServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("AMI_SECRET", SECRET)
    with ami_nb.connect(f"ami://admin@127.0.0.1:{ami_server.port}", **FAST) as s:
        assert isinstance(s, ami_nb.Session) and s.state == "connected"
        assert repr(s) == f"<Session ami://admin@127.0.0.1:{ami_server.port} state=connected>"
        assert SECRET not in repr(s) and SECRET not in repr(s.client) and SECRET not in str(s.stats)
        assert s.version == "11.0.0"
        assert s.thread.daemon and s.thread.is_alive()
    assert s.state == "closed" and not s.thread.is_alive()
    assert ami_nb.AMIClient is not None and ami_nb.Response is Response and ami_nb.CommandOutput is CommandOutput
    assert ami_nb.AsyncSession is AsyncSession


def test_secret_prompt_and_target_parsing(ami_server: ScriptedServer, monkeypatch: Any) -> None:
    monkeypatch.delenv("AMI_SECRET", raising=False)
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or SECRET)
    s = connect("127.0.0.1", port=ami_server.port, username="admin", **FAST)
    s.close()
    assert prompts == [f"AMI secret for admin@127.0.0.1:{ami_server.port}: "]
    assert parse_target("amis://bob:pw@pbx.example:5039") == ("pbx.example", 5039, "bob", "pw", True)
    assert parse_target("ami://bob@h", secret="x")[1:] == (5038, "bob", "x", False)
    with pytest.raises(ValueError, match="scheme"):
        parse_target("http://bob@h", secret="x")
    for secret in ("Qz/pw", "Qz#pw", "Qz?pw"):  # urllib's own error would quote "Qz", a part of the secret
        with pytest.raises(ValueError, match="malformed AMI URL") as err:
            parse_target(f"ami://admin:{secret}@h:5038")
        assert "Qz" not in str(err.value) and err.value.__cause__ is None and err.value.__suppress_context__
    monkeypatch.delenv("AMI_USERNAME", raising=False)
    with pytest.raises(ValueError, match="user name"):
        parse_target("h", secret="x")


def test_wrong_secret_raises_without_leaking_and_stops_the_thread(ami_server: ScriptedServer, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    ami_server.auth_fail_delay = 0.1
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(AuthenticationError) as ei:
        connect(ami_server.url, secret="Not-The-Secret-9", auth="plain", **FAST)
    assert "Not-The-Secret-9" not in str(ei.value) and "Not-The-Secret-9" not in caplog.text
    wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("ami-session") and
                            t.name not in before], what="the session thread to end")


def test_actions_send_and_shapes(session: Session, ami_server: ScriptedServer) -> None:
    ami_server.replay("09_command_core_show_version")
    ami_server.replay("15_coreshowchannels")
    assert session.action("Ping")["Ping"] == "Pong"
    out = session.action("Command", Command="core show version")
    assert isinstance(out, CommandOutput) and "Asterisk 22.10.1" in out[0]
    channels = session.action("CoreShowChannels")
    assert len(channels.list_items) == 16 and len(channels.to_frame()) == 16
    fut = session.send("Ping")
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=5)["Ping"] == "Pong"
    bad = session.send("NoSuchAction")
    with pytest.raises(ActionError, match="Invalid/unknown command"):
        bad.result(timeout=5)
    with pytest.raises(ActionError, match="NoSuchAction"):
        session.action("NoSuchAction")
    assert session.stats["actions_sent"] >= 6


def test_action_timeout_never_hangs(session: Session, ami_server: ScriptedServer) -> None:
    ami_server.reply("Slow", STALL)
    with pytest.raises(AMITimeoutError, match=r"Slow .*within 0.2 s"):
        session.action("Slow", timeout=0.2)
    assert session.action("Ping").ok


def test_aaction_from_another_event_loop(session: Session, ami_server: ScriptedServer) -> None:
    ami_server.replay("19_originate_async_100")

    async def cell() -> tuple[Any, Any]:  # a Jupyter cell's loop is not the session's loop
        assert asyncio.get_running_loop() is not session.loop
        pong = await session.aaction("Ping")
        r = await session.aaction("Originate", Channel="Local/100@demo", Exten="sink", Context="demo",
                                  Priority=1, Async="true")
        return pong, await r.outcome(timeout=5)

    pong, outcome = asyncio.run(asyncio.wait_for(cell(), 10))
    assert pong["Ping"] == "Pong" and outcome["Reason"] == "4"


def test_sync_originate_outcome(session: Session, ami_server: ScriptedServer) -> None:
    ami_server.replay("19_originate_async_100")
    r = session.action("Originate", Channel="Local/100@demo", Exten="sink", Context="demo", Priority=1, Async=True)
    out = r.outcome(timeout=5)
    assert out.event == "OriginateResponse" and out["Response"] == "Success"
    assert out["Channel"].startswith("Local/100@demo")
    later = session.send("Originate", Channel="Local/100@demo", Exten="sink", Context="demo", Priority=1,
                         Async=True).result(5)
    assert later.outcome(timeout=5)["Reason"] == "4"


def test_events_arrive_while_the_main_thread_sleeps(session: Session, ami_server: ScriptedServer) -> None:
    seen: list[tuple[str, str]] = []
    session.on("Tick", lambda e: seen.append((e["N"], threading.current_thread().name)))

    def pusher() -> None:
        for n in range(5):
            ami_server.push_event({"Event": "Tick", "N": n})
            time.sleep(0.02)

    threading.Thread(target=pusher, daemon=True).start()
    time.sleep(0.6)  # no call into the session: events must still be read and dispatched
    assert [n for n, _ in seen] == ["0", "1", "2", "3", "4"]
    assert all(name.startswith("ami-callbacks") for _, name in seen)
    assert len(session.events) == 5 and session.events.total == 5
    frame = session.events.frame("Tick")
    assert list(frame["N"].astype(str)) == ["0", "1", "2", "3", "4"]
    assert str(frame["received"].dtype).startswith("datetime64")


def test_callback_may_call_action_without_deadlock(session: Session, ami_server: ScriptedServer) -> None:
    answers: list[Any] = []
    session.on("Hangup", lambda e: answers.append(session.action("Ping", timeout=2)["Ping"]))
    ami_server.push_event({"Event": "Hangup", "Channel": "Local/1@demo"})
    wait_until(lambda: answers == ["Pong"], what="the callback's action")


def test_blocking_call_on_the_loop_thread_is_refused_clearly(session: Session, ami_server: ScriptedServer) -> None:
    errors: list[str] = []

    async def on_loop(event: Any) -> None:
        try:
            session.action("Ping")
        except RuntimeError as exc:
            errors.append(str(exc))
        r = await session.aaction("Ping")  # the async form works on the loop itself
        errors.append(r["Ping"])

    session.on("Hangup", on_loop)
    ami_server.push_event({"Event": "Hangup"})
    wait_until(lambda: len(errors) == 2, what="the async callback")
    assert "session.send" in errors[0] and "aaction" in errors[0]
    assert errors[1] == "Pong"


def test_raising_callback_is_isolated(session: Session, ami_server: ScriptedServer, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, logger="ami_nb")
    ok: list[str] = []

    def bad(e: Any) -> None:
        raise KeyError("boom in callback")

    session.on("*", bad)
    session.on("Tick", lambda e: ok.append(e["N"]))
    for n in range(3):
        ami_server.push_event({"Event": "Tick", "N": n})
    wait_until(lambda: ok == ["0", "1", "2"], what="good callback")
    wait_until(lambda: session.stats["callback_errors"] == 3, what="3 logged errors")
    assert "boom in callback" in caplog.text
    assert session.off("*", bad) == 1 and session.off("Tick") == 1 and session.off() == 0


def test_a_callback_raising_systemexit_does_not_end_its_worker(session: Session, ami_server: ScriptedServer) -> None:
    """SystemExit / KeyboardInterrupt in a sync callback (``sys.exit()`` in a handler) would end the worker
    thread silently, and its queue would fill for ever: it is logged, counted, and the next event is delivered."""
    seen: list[str] = []

    def quits_once(e: Any) -> None:
        seen.append(e["N"])
        if e["N"] == "0":
            raise SystemExit(3)
        if e["N"] == "1":
            raise KeyboardInterrupt

    session.on("Tick", quits_once)
    for n in range(3):
        ami_server.push_event({"Event": "Tick", "N": n})
    wait_until(lambda: seen == ["0", "1", "2"], what="the events after the SystemExit and the KeyboardInterrupt")
    stats = next(st for st in session.listener_stats() if st["pattern"].lower() == "tick")
    assert (stats["delivered"], stats["errors"]) == (3, 2)


def test_drop_and_come_back(session: Session, ami_server: ScriptedServer) -> None:
    """The server drops: the session reconnects, logs in again, re-applies Events and Filter; a listener from
    before the drop gets events after it; a pending action fails at once with a clear error."""
    ami_server.reply("Stall", STALL)
    after: list[str] = []
    states: list[str] = []
    session.client.on_state_change(states.append)
    session.on("Tick", lambda e: after.append(e["N"]))
    session.action("Events", EventMask="call,user")
    session.action("Filter", Operation="Add", Filter="Event: Tick")
    pending = session.send("Stall", timeout=10)
    ami_server.wait_action("Stall")
    ami_server.down()
    with pytest.raises(AMIConnectionError, match="connection lost while waiting for Stall"):
        pending.result(timeout=5)  # well before the action's own 10 s timeout
    wait_until(lambda: session.state == "reconnecting", what="reconnecting")
    time.sleep(0.2)
    ami_server.up()
    wait_until(lambda: session.state == "connected", what="connected again")
    assert ami_server.logins == 2 and session.stats["reconnects"] == 1
    assert [m["EventMask"] for m in ami_server.actions("Events")] == ["call,user"] * 2
    assert [m["Filter"] for m in ami_server.actions("Filter")] == ["Event: Tick"] * 2
    ami_server.push_event({"Event": "Tick", "N": "after-the-drop"})
    wait_until(lambda: after == ["after-the-drop"], what="event after the drop")
    assert session.action("Ping").ok
    assert states[0] == "reconnecting" and states[-1] == "connected"


def test_record_writes_the_raw_stream(session: Session, ami_server: ScriptedServer, tmp_path: Path) -> None:
    path = tmp_path / "rec.txt"
    ami_server.push(b"Event: Half\r\nPart: one\r\n")  # a message half received when recording starts
    wait_until(lambda: session.client.unfinished_bytes, what="half a message buffered")
    with session.record(path) as rec:
        ami_server.push(b"Part2: two\r\n\r\n")
        for n in range(3):
            ami_server.push_event({"Event": "Tick", "N": n, "Name": "Zoë ✓"})
        wait_until(lambda: session.events.total == 4, what="4 events")
        assert "recording" in repr(rec)
    data = path.read_bytes()
    assert data.startswith(b"Asterisk Call Manager/11.0.0\r\nEvent: Half\r\nPart: one\r\nPart2: two\r\n\r\n")
    parser = Parser()
    msgs = parser.feed(data)
    assert parser.banner is not None and [m.event for m in msgs] == ["Half", "Tick", "Tick", "Tick"]
    assert msgs[1]["Name"] == "Zoë ✓"
    size = len(data)
    ami_server.push_event({"Event": "Tick", "N": 9})
    wait_until(lambda: session.events.total == 5, what="one more")
    assert len(path.read_bytes()) == size, "nothing written after stop()"


def test_record_timeline_gives_replayed_events_their_times(session: Session, ami_server: ScriptedServer,
                                                            tmp_path: Path) -> None:
    from ami_nb.recording import read_transcript

    path = tmp_path / "calls.txt"
    before = time.time()
    with session.record(path) as rec:
        ami_server.push_event({"Event": "Tick", "N": 1})
        wait_until(lambda: session.events.total == 1, what="the first event")
        time.sleep(0.3)
        ami_server.push_event({"Event": "Tick", "N": 2})
        wait_until(lambda: session.events.total == 2, what="the second event")
    after = time.time()
    assert rec.timeline_path == tmp_path / "calls.timeline.jsonl" and rec.timeline_path.is_file()
    frame = read_transcript(path)
    got = frame["received"].astype("int64") / 1e9
    assert list(frame["N"].astype(str)) == ["1", "2"]
    assert before <= got.iloc[0] <= got.iloc[1] <= after  # the real times, not one stamp for the whole file
    assert got.iloc[1] - got.iloc[0] >= 0.25
    live = session.events.frame()["received"].astype("int64") / 1e9
    assert abs(got - live.to_numpy()).max() < 0.05
    assert not (tmp_path / "plain.timeline.jsonl").exists()
    with session.record(tmp_path / "plain.txt", timeline=False):
        pass
    assert not (tmp_path / "plain.timeline.jsonl").exists()


def test_close_is_clean(ami_server: ScriptedServer) -> None:
    ami_server.reply("Stall", STALL)
    s = connect(ami_server.url, secret=SECRET, **FAST)
    pending = s.send("Stall", timeout=10)
    ami_server.wait_action("Stall")
    s.close()
    assert s.state == "closed" and not s.thread.is_alive()
    with pytest.raises(AMIConnectionError):
        pending.result(timeout=2)
    with pytest.raises(AMIConnectionError, match="closed"):
        s.action("Ping")
    s.close()  # idempotent
    assert ami_server.actions("Logoff")


def test_async_session_on_the_callers_loop(ami_server: ScriptedServer) -> None:
    async def main() -> None:
        async with AsyncSession(ami_server.url, secret=SECRET, **FAST) as s:
            got: list[str] = []
            s.on("Tick", lambda e: got.append(e["N"]))
            assert (await s.action("Ping"))["Ping"] == "Pong"
            assert (await s.send("Ping"))["Ping"] == "Pong"
            ami_server.push_event({"Event": "Tick", "N": 1})
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.01)
            assert got == ["1"] and len(s.events) == 1
        assert s.state == "closed"

    asyncio.run(asyncio.wait_for(main(), 10))


def test_calls_on_a_closed_session_raise_the_documented_error(ami_server: ScriptedServer) -> None:
    s = connect(ami_server.url, secret=SECRET, **FAST)
    s.close()
    for call in (lambda: s.action("Ping"), lambda: s.send("Ping"), lambda: asyncio.run(s.aaction("Ping"))):
        with pytest.raises(AMIConnectionError, match="session is closed"):
            call()


def test_a_reused_originate_action_id_waits_for_its_own_outcome() -> None:
    """A re-run cell with a fixed ActionID: the second Originate's outcome is its own, not the first one's."""
    from ami_nb import sim

    with sim.start(time_scale=50) as pbx, connect(pbx.url, secret=SECRET, keepalive=None) as s:
        busy = s.action("Originate", Channel="Local/400@demo", Context="demo", Exten="sink", Priority=1,
                        Async=True, ActionID="call-1")
        assert busy.outcome(timeout=10)["Reason"] == "5"
        answered = s.action("Originate", Channel="Local/sink@demo", Context="demo", Exten="sink", Priority=1,
                            Async=True, ActionID="call-1")
        assert answered.outcome(timeout=10)["Reason"] == "4"


# -- issue 9.1: a slow listener is bounded, counted, and never costs the store an event -----------------------
def test_slow_listener_queue_is_bounded_and_the_store_keeps_every_event(ami_server: ScriptedServer,
                                                                        caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="ami_nb")
    total, size = 50_000, 500
    with connect(ami_server.url, secret=SECRET, listener_queue=size, **FAST) as s:

        def slow(event: Any) -> None:  # printing in Jupyter, or an action() per event
            time.sleep(0.002)

        s.on("Tick", slow)
        payload = b"".join(f"Event: Tick\r\nN: {i}\r\n\r\n".encode() for i in range(total))
        ami_server.push(payload)  # as fast as loopback takes it: far faster than 500 events/s
        peak = 0
        deadline = time.monotonic() + 30
        while s.events.total < total:
            peak = max(peak, s.listener_stats()[0]["queued"])
            assert time.monotonic() < deadline, f"the store got {s.events.total} of {total} events"
            time.sleep(0.005)
        assert len(s.events) == total and s.events.dropped == 0
        assert list(s.events.frame("Tick")["N"].astype(int)) == list(range(total))  # all, in order
        def drained() -> bool:
            st = s.listener_stats()[0]
            return st["queued"] == 0 and st["delivered"] + st["skipped"] == total

        wait_until(drained, timeout=10, what="the slow listener to drain")
        st = s.listener_stats()[0]
        assert peak <= size and st["max_queue"] == size
        assert st["pattern"] == "tick" and st["callback"].endswith("slow") and st["kind"] == "sync"
        assert st["skipped"] > 0 and st["delivered"] + st["skipped"] == total
        assert s.stats["events_skipped"] == st["skipped"]
        warnings_logged = [r for r in caplog.records if "slower than the events" in r.getMessage()]
        assert len(warnings_logged) == 1  # the first time only


def test_each_sync_listener_has_its_own_queue_and_thread(session: Session, ami_server: ScriptedServer) -> None:
    gate, running = threading.Event(), threading.Event()

    def stuck(event: Any) -> None:
        running.set()
        gate.wait(5)  # stuck until released

    fast: list[str] = []
    session.on("Tick", stuck, queue=2)
    session.on("Tick", lambda e: fast.append(e["N"]))
    ami_server.push_event({"Event": "Tick", "N": 0})
    assert running.wait(5)  # the first event is being handled: the queue is empty again
    for n in range(1, 5):
        ami_server.push_event({"Event": "Tick", "N": n})
    wait_until(lambda: fast == ["0", "1", "2", "3", "4"], what="the other listener, not held up")
    stuck, other = session.listener_stats()
    assert stuck["queued"] == 2 and stuck["skipped"] == 2 and stuck["delivered"] == 0  # one is running
    assert other["skipped"] == 0 and other["delivered"] == 5
    gate.set()
    wait_until(lambda: session.listener_stats()[0]["delivered"] == 3, what="the stuck listener to finish")
    assert session.off("Tick") == 2 and session.listener_stats() == []


def test_a_slow_async_listener_is_bounded_too(session: Session, ami_server: ScriptedServer) -> None:
    total = 5_000
    seen: list[int] = []

    async def slow(event: Any) -> None:
        seen.append(int(event["N"]))
        await asyncio.sleep(0.002)

    session.on("Tick", slow, queue=100)
    ami_server.push(b"".join(f"Event: Tick\r\nN: {i}\r\n\r\n".encode() for i in range(total)))
    wait_until(lambda: session.events.total == total, timeout=30, what="every event in the store")

    def drained() -> bool:
        st = session.listener_stats()[0]
        return st["queued"] == 0 and st["delivered"] + st["skipped"] == total

    wait_until(drained, timeout=10, what="the async listener to drain")
    st = session.listener_stats()[0]
    assert st["kind"] == "async" and st["max_queue"] == 100 and st["skipped"] > 0
    assert seen == sorted(seen) and seen[-1] == total - 1  # in order, and the newest kept
    assert len(asyncio.all_tasks(session.loop)) < 10  # one draining task, not one task per event


# -- issue 9.5: the secret is absent from verbose tracebacks ----------------------------------------------------
@pytest.mark.parametrize("auth", ["plain", "md5"])
@pytest.mark.parametrize("failure", ["refused", "timed out"])
def test_secret_absent_from_verbose_traceback_of_a_failed_login(auth: str, failure: str) -> None:
    from IPython.core.ultratb import VerboseTB

    secret = "Tb-s3cret-" + auth
    with ScriptedServer(users={"admin": "another"}, auth_fail_delay=0.0) as srv:
        if failure == "timed out":
            srv.reply("Login", STALL)
        opts = {**FAST, "timeout": 0.5, "auth": auth}
        with pytest.raises((AuthenticationError, AMITimeoutError)) as ei:
            connect(srv.url, secret=secret, **opts)
        assert isinstance(ei.value, AMITimeoutError if failure == "timed out" else AuthenticationError)
        # as `%xmode Verbose` shows it; the first frame is this test's own line (where the caller typed it)
        assert ei.tb is not None
        text = VerboseTB(color_scheme="NoColor", include_vars=True).text(ei.type, ei.value, ei.tb.tb_next)
        with pytest.raises((AuthenticationError, AMITimeoutError)) as ei2:  # the asyncio client directly
            asyncio.run(AMIClient(srv.host, srv.port, username="admin", secret=secret, keepalive=None,
                                  timeout=0.5, auth=auth).connect())
        assert ei2.tb is not None
        text2 = VerboseTB(color_scheme="NoColor", include_vars=True).text(ei2.type, ei2.value, ei2.tb.tb_next)
    for t in (text, text2):
        assert "_login" in t  # the frame that used to hold it is shown
        assert secret not in t
    assert "Secret('********')" in text + text2
    # every local of every frame (what a debugger or another verbose formatter would print), at any depth
    for tb in (ei.tb.tb_next, ei2.tb.tb_next):
        reprs = []
        while tb is not None:
            reprs += [f"{tb.tb_frame.f_code.co_name}.{k}={v!r}" for k, v in tb.tb_frame.f_locals.items()]
            tb = tb.tb_next
        assert any(r.startswith("_login.fields=") for r in reprs)
        assert [r for r in reprs if secret in r] == []


# -- minor: Ctrl-C during connect() closes the socket and the loop cleanly ----------------------------------------
def test_keyboard_interrupt_during_connect_is_clean(monkeypatch: Any, caplog: Any) -> None:
    import gc
    import signal
    import sys
    import warnings

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    caplog.set_level(logging.DEBUG)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = {t.ident for t in threading.enumerate()}
    with ScriptedServer(banner=None) as srv:  # accepts, then never says a word
        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                signal.setitimer(signal.ITIMER_REAL, 0.3)
                with pytest.raises(KeyboardInterrupt):
                    connect(srv.url, secret=SECRET, keepalive=None, timeout=30)
                srv.wait_for(lambda: srv.connections_made == 1 and not srv.conns, what="the client's socket closed")
                gc.collect()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    left = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("ami-session")]
    assert left == []
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert unraisable == []
    assert "Event loop is closed" not in caplog.text


# -- issue 8.6: Session and AsyncSession mirrored -----------------------------------------------------------------
def test_session_and_async_session_have_the_same_api() -> None:
    import inspect

    shared = ["action", "aaction", "send", "on", "off", "listener_stats", "record", "live", "close"]
    for name in shared:
        sync, asyn = getattr(Session, name), getattr(AsyncSession, name)
        assert list(inspect.signature(sync).parameters) == list(inspect.signature(asyn).parameters), name
    for prop in ("url", "state", "version", "stats", "events", "loop", "client"):
        assert hasattr(AsyncSession, prop) or prop in ("events", "client"), prop


def test_async_session_send_timeout_record_and_listener_stats(ami_server: ScriptedServer, tmp_path: Path) -> None:
    ami_server.reply("Stall", STALL)

    async def main() -> None:
        async with AsyncSession(ami_server.url, secret=SECRET, **FAST) as s:
            with pytest.raises(AMITimeoutError, match=r"Stall .*within 0\.2 s"):
                await s.send("Stall", timeout=0.2)
            got: list[str] = []
            s.on("Tick", lambda e: got.append(e["N"]))
            rec = s.record(tmp_path / "a.txt")
            ami_server.push_event({"Event": "Tick", "N": 7})
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.01)
            rec.stop()
            assert s.listener_stats() == [{"pattern": "tick", "callback": "test_async_session_send_timeout_record_"
                                           "and_listener_stats.<locals>.main.<locals>.<lambda>", "kind": "inline",
                                           "delivered": 1, "skipped": 0, "queued": 0, "errors": None,
                                           "max_queue": None}]
        msgs = Parser(expect_banner=True).feed((tmp_path / "a.txt").read_bytes())
        assert [m["N"] for m in msgs if m.event == "Tick"] == ["7"]

    asyncio.run(asyncio.wait_for(main(), 10))


def test_close_closes_the_session_even_when_its_archive_failed(tmp_path: Path) -> None:
    """An archive whose writer died (here: its partition directory is taken by a file, so no flush can write)
    must not keep the session open: close() closes the connection and the thread, then raises the writer's
    error naming the archive."""
    pytest.importorskip("duckdb")
    pbx = ami_nb.sim.start()
    try:
        s = connect(pbx.url, secret=pbx.users["admin"].secret, timeout=10)
        (tmp_path / "pbx=lab").write_text("a file where the writer needs a directory")
        archive = s.archive(tmp_path, pbx="lab", flush_seconds=0.05)
        pbx.call("answered")
        wait_until(lambda: s.action("Ping") is not None and archive.error is not None, timeout=10,
                   what="the writer's first failed flush")
        assert s.stats["archives_failed"] == 1  # what %ami_status shows
        with pytest.raises(RuntimeError, match=r"archive writer for .* stopped"):
            s.close()
        marks = [json.loads(line) for f in tmp_path.glob("_gaps/pbx=lab/*.jsonl") for line in f.read_text().split("\n")
                 if line]
        assert [m["mark"] for m in marks] == ["open", "close"]  # History.gaps: no data from the failure on
        assert marks[1]["reason"].startswith("writer failed")
        assert s.state == "closed"
        assert not s._lt.is_running
        s.close()  # idempotent: nothing left to raise
    finally:
        pbx.stop()


def test_recorder_refuses_a_secret_on_its_command_line(capsys: Any) -> None:
    """``ps`` shows a command line to every user: the recorder names the problem and stops (status 2), before
    connecting anywhere (the port is closed)."""
    from ami_nb.archive import main

    assert main(["ami://admin:Pa55word@127.0.0.1:9", "unused-dir"]) == 2
    err = capsys.readouterr().err
    assert "secret" in err and "Pa55word" not in err


def test_a_refused_originate_has_an_outcome_that_fails_at_once() -> None:
    """Asterisk answers ``Response: Error`` to an Originate it refuses (``Invalid channel`` here, manager.c's
    check): no OriginateResponse will follow, so the outcome on the error's response fails at once rather than
    waiting out its 30 s."""
    with ami_nb.sim.start() as pbx, connect(pbx.url, secret=pbx.users["admin"].secret, timeout=10) as s:
        with pytest.raises(ActionError, match="Invalid channel") as info:
            s.action("Originate", Channel="nochannel", Exten="100", Context="demo", Priority=1, Async=True)
        # before: an AMITimeoutError after the 30 s wait for an event that never comes
        with pytest.raises(ActionError, match=r"refused \(Invalid channel\): no OriginateResponse follows"):
            info.value.response.outcome(timeout=30)

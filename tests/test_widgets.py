"""Live views: they follow the live state, redraws are bounded by the rate, stop() stops, one thread serves all,
nobody watching means no redraws, short calls stay visible, the header says when the session is gone."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import ami_nb
from ami_nb import sim
from ami_nb.live_state import LiveState
from ami_nb.protocol import Message, Parser
from ami_nb.store import EventStore
from ami_nb.widgets import LiveView, Wallboard, live, sparkline_svg, wallboard
from ami_nb.widgets._base import TICKER
from ami_nb.widgets.wallboard import level

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def rounds(witness: LiveView, n: int) -> None:
    """Wait until the ticker thread has ticked ``witness`` (a running view) ``n`` more times."""
    seen = witness.ticks
    wait_for(lambda: witness.ticks >= seen + n)


def ev(name: str, **fields: str) -> Message:
    return Message.from_pairs([("Event", name), *fields.items()])


def newchannel(uid: str, chan: str, linked: str) -> Message:
    return ev("Newchannel", Channel=chan, ChannelStateDesc="Down", CallerIDNum="0123", Exten="100",
              Context="demo", Uniqueid=uid, Linkedid=linked)


def cells(block: dict) -> list[list[str]]:
    return [r["cells"] if isinstance(r, dict) else r for r in block["rows"]]


@pytest.fixture
def view_factory():  # type: ignore[no-untyped-def]
    views: list = []

    def make(*args, cls=LiveView, **kwargs):  # type: ignore[no-untyped-def]
        v = cls(*args, **kwargs)
        views.append(v)
        return v

    yield make
    for v in views:
        v.stop()


def test_view_follows_events_and_keeps_an_ended_call(view_factory) -> None:  # type: ignore[no-untyped-def]
    t0 = time.time()
    store = EventStore(chunk_size=8)
    view = view_factory(store, rate=20)
    assert view.running and view.counters["received"] == 0
    store.extend([newchannel("1.1", "Local/100@demo-01;1", "1.1"), newchannel("1.2", "Local/100@demo-01;2", "1.1"),
                  newchannel("2.1", "Local/200@demo-02;1", "2.1")], time.time())
    wait_for(lambda: view.counters.get("channels") == 3)
    assert view.counters["calls"] == 2 and view.counters["received"] == 3
    channels = view.widget.channels
    assert {r[0] for r in channels["rows"]} == {"Local/100@demo-01;1", "Local/100@demo-01;2", "Local/200@demo-02;1"}
    assert "0123" in {r[2] for r in channels["rows"]}  # caller numbers stay text
    assert "Newchannel" in {r[1] for r in view.widget.tail["rows"]}
    store.extend([ev("Newstate", Uniqueid="1.1", ChannelStateDesc="Up", Channel="Local/100@demo-01;1"),
                  ev("Hangup", Uniqueid="2.1", Channel="Local/200@demo-02;1", Cause="17",
                     **{"Cause-txt": "User busy"})], time.time())
    wait_for(lambda: view.counters.get("channels") == 2)
    assert "Local/200@demo-02;1" not in {r[0] for r in view.widget.channels["rows"]}
    assert "Up" in {r[1] for r in view.widget.channels["rows"]}
    # the ended call is still there, with how it ended
    ended = [r["cells"] for r in view.widget.ended["rows"] if r["cls"] == "ended"]
    assert len(ended) == 1 and ended[0][1] == "0123" and ended[0][3] == "busy"
    assert view.counters["calls"] == 1 and view.state.calls_ended == 1
    # a new view's sparkline spans what it has seen (at least 10 s), not a fixed 5 minutes
    assert 10 <= len(view.widget.series["values"]) <= max(10, math.ceil(time.time() - t0) + 1)


def test_channels_of_a_real_transcript_all_hang_up() -> None:
    events = [m for m in Parser().feed((TRANSCRIPTS / "32_originate_sync_and_failures.txt").read_bytes())
              if m.is_event]
    store = EventStore()
    view = LiveView(store, rate=5, autostart=False)
    store.extend(events[:30], time.time())
    view.refresh()
    assert view.counters["channels"] > 0
    store.extend(events[30:], time.time())
    view.refresh()
    linked = {e["Linkedid"] for e in events if e.event == "Newchannel"}
    assert view.counters["channels"] == 0 and view.state.calls_ended == len(linked)
    assert not view.running


def test_flood_does_not_flood_the_frontend(view_factory) -> None:  # type: ignore[no-untyped-def]
    """However many events arrive between two ticks, a tick redraws once, and only ticks redraw: a flood fed on
    another thread while the ticker goes round adds none. (That the ticker paces ticks by the rate is a matter of
    time: bench/, not here.)"""
    state = LiveState()
    view = view_factory(state, rate=0.01, autopause=False)  # its own ticks 100 s apart: this test ticks it
    witness = view_factory(LiveState(), rate=50)  # the ticker thread's rounds, seen by its ticks
    wait_for(lambda: view.ticks == 1)  # the first tick, at start
    sent = 0
    for n in range(5):
        redraws, ticks = view.redraws, view.ticks

        def flood(n: int = n) -> None:
            for i in range(80):
                state.feed([newchannel(f"{n}.{i}.{k}", f"Local/x-{k};1", f"{n}.{i}") for k in range(50)],
                           time.time())

        t = threading.Thread(target=flood)
        t.start()
        rounds(witness, 3)  # the ticker goes round while the flood runs (if it is still running)
        t.join(30)
        sent += 80 * 50
        rounds(witness, 3)  # and after it
        assert view.redraws == redraws and view.ticks == ticks  # the flood drew nothing by itself
        view._tick()  # one tick: one redraw, with everything the flood fed
        assert view.ticks == ticks + 1 and view.redraws == redraws + 1 and view.counters["received"] == sent
    assert sent > 10 * view.redraws  # many more events than redraws


def test_stop_stops_and_says_so(view_factory) -> None:  # type: ignore[no-untyped-def]
    store = EventStore()
    view = view_factory(store, rate=50)
    witness = view_factory(LiveState(), rate=50)  # another view: its ticks prove the shared thread went on
    wait_for(lambda: view.ticks >= 2)
    assert view.widget.status["badge"] == "live"
    view.stop()
    assert not view.running and view.widget.status["badge"] == "stopped"
    ticks, status = view.ticks, view.widget.status
    store.extend([ev("Hangup")] * 5, time.time())
    seen = witness.ticks
    wait_for(lambda: witness.ticks >= seen + 3)
    assert view.ticks == ticks and view.widget.status == status
    view.start()  # and it can resume
    wait_for(lambda: view.counters["received"] == 5)
    assert view.widget.status["badge"] == "live"


def test_one_thread_for_every_view_and_a_second_live_replaces_the_first(view_factory) -> None:  # type: ignore[no-untyped-def]
    state = LiveState()
    first = view_factory(state, rate=20)
    second = view_factory(state, rate=20)  # the same source and kind: the first gives way
    board = view_factory(state, rate=20, cls=Wallboard)  # another kind runs beside it
    assert not first.running and second.running and board.running
    assert first.widget.status["note"] == "replaced by a newer view"
    names = [t.name for t in threading.enumerate() if t.name == "ami-live-views"]
    assert names == ["ami-live-views"]
    second.stop()
    board.stop()
    wait_for(lambda: TICKER.thread is None or not TICKER.thread.is_alive())


def test_nobody_watching_means_no_redraws(view_factory) -> None:  # type: ignore[no-untyped-def]
    state = LiveState()
    view = view_factory(state, rate=50, idle_after=0.2)
    wait_for(lambda: view.idle)  # no browser ever said hello
    state.feed([newchannel("1.1", "PJSIP/a-1", "1.1")], time.time())
    redraws, skipped = view.redraws, view.skipped
    wait_for(lambda: view.skipped >= skipped + 3)  # the ticker came by, and skipped
    assert view.idle and view.redraws == redraws
    view._on_frontend(view.widget, {"kind": "hello", "visible": True}, [])  # a browser shows it
    assert not view.idle
    wait_for(lambda: view.counters["channels"] == 1)
    view._on_frontend(view.widget, {"kind": "visibility", "visible": False}, [])  # tab hidden / scrolled away
    redraws, skipped = view.redraws, view.skipped
    state.feed([newchannel("2.1", "PJSIP/b-1", "2.1")], time.time())
    wait_for(lambda: view.skipped >= skipped + 3)
    assert view.idle and view.redraws == redraws
    view._on_frontend(view.widget, {"kind": "visibility", "visible": True}, [])
    wait_for(lambda: view.counters["channels"] == 2)


def test_controls_pause_rate_and_filter(view_factory) -> None:  # type: ignore[no-untyped-def]
    state = LiveState()
    view = view_factory(state, rate=50)
    state.feed([newchannel("1.1", "PJSIP/alice-1", "1.1"), newchannel("2.1", "PJSIP/bob-1", "2.1"),
                ev("Hangup", Uniqueid="2.1", Channel="PJSIP/bob-1", Cause="16")], time.time())
    view.widget.filter = "alice"  # as the browser's filter box sets it
    wait_for(lambda: {r[2] for r in view.widget.tail["rows"]} == {"PJSIP/alice-1"})
    assert [r[0] for r in view.widget.channels["rows"]] == ["PJSIP/alice-1"]
    # the calls panel too: alice's call is up, bob's ended call is left out (both callers are 0123)
    assert [(r["cls"], r["cells"][3]) for r in view.widget.ended["rows"]] == [("", "Down")]
    view.widget.filter = "bob"
    wait_for(lambda: [(r["cls"], r["cells"][3]) for r in view.widget.ended["rows"]]
             == [("ended", "not answered")])  # hung up before it was ever Up
    view.widget.filter = "hangup"  # an event name
    wait_for(lambda: [r[1] for r in view.widget.tail["rows"]] == ["Hangup"])
    view.widget.paused = True
    assert view.widget.status["badge"] == "paused"
    redraws, skipped = view.redraws, view.skipped
    state.feed([newchannel("3.1", "PJSIP/carol-1", "3.1")], time.time())
    wait_for(lambda: view.skipped >= skipped + 3)  # the ticker came by, and skipped
    assert view.redraws == redraws
    view.resume()
    wait_for(lambda: view.counters["channels"] == 2)
    view.widget.rate = 4.0
    assert view.rate == 4.0


def test_static_fallback_is_a_picture_not_a_repr(view_factory) -> None:  # type: ignore[no-untyped-def]
    state = LiveState()
    state.feed([newchannel("1.1", "PJSIP/alice-1", "1.1")], time.time())
    view = view_factory(state, rate=4)
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert "Active channels (1)" in page and "PJSIP/alice-1" in page and "<svg" in page
    assert "VBox" not in bundle["text/plain"] and "LiveView running" in bundle["text/plain"]
    assert "var(--jp-" in page  # theme colours, with fallbacks for nbviewer


def test_live_helper_rejects_a_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        live(LiveState(), rate=0)
    with pytest.raises(TypeError, match="Session, an EventStore or a LiveState"):
        live(object())
    with pytest.raises(ValueError, match="unknown threshold"):
        wallboard(LiveState(), thresholds={"queue_depth": (1, 2)})


def test_sparkline_is_log_scaled_so_a_flood_does_not_flatten_it() -> None:
    svg = sparkline_svg([0, 9, 99], width=100, height=54)
    assert svg.startswith("<svg") and "peak 99/s" in svg and "log scale" in svg
    pts = re.search(r'points="([^"]+)"', svg).group(1).split()  # type: ignore[union-attr]
    ys = [float(p.split(",")[1]) for p in pts]
    # 0, 9, 99 on two decades: bottom, middle, top of the plot area (4 .. 40)
    assert ys == [40.0, 22.0, 4.0]


def test_thresholds_colour_by_definition() -> None:
    th = {"waiting": (1, 4), "service_level": (80, 60)}
    assert [level("waiting", n, th) for n in (0, 1, 3, 4)] == ["ok", "warn", "warn", "bad"]
    assert [level("service_level", p, th) for p in (95, 79, 60, 10)] == ["ok", "warn", "bad", "bad"]
    assert level("service_level", float("nan"), th) == "none" and level("other", 3, th) == "none"


def test_session_views_show_a_short_call_and_the_disconnect() -> None:
    """Against the simulated PBX: a 0.3 s Originate shows in the calls panel after it ended; session.close() makes
    the header read "disconnected" and the view stop by itself."""
    with sim.start(timestampevents=True) as pbx:  # durations on the server's clock, not the loaded test's
        session = ami_nb.connect(pbx.url, secret="amp111", keepalive=None)
        try:
            view = session.live(rate=20)
            assert isinstance(view, LiveView)
            wait_for(lambda: view.widget.status.get("connection") == "connected")
            session.action("Originate", Channel="Local/100@demo", Application="Wait", Data="0.3", Async=True)
            wait_for(lambda: any(r["cls"] == "ended" for r in view.widget.ended["rows"]), timeout=10)
            (row,) = [r["cells"] for r in view.widget.ended["rows"] if r["cls"] == "ended"]
            truth = pbx.ground_truth().iloc[0]
            assert row[2] == truth["callee"] == "100" and row[3] == truth["disposition"] == "answered"
            assert float(row[4].split()[0]) == pytest.approx((truth["end"] - truth["start"]).total_seconds(),
                                                              abs=0.15)
        finally:
            session.close()
        wait_for(lambda: view.widget.status["badge"] == "disconnected")
        wait_for(lambda: not view.running)


def test_wallboard_of_a_busy_queue() -> None:
    with sim.start() as pbx, ami_nb.connect(pbx.url, secret="amp111", keepalive=None) as session:
        members = [e for e in session.action("QueueStatus", Queue="support").list_items if e.event == "QueueMember"]
        for m in members:
            session.action("QueuePause", Queue="support", Interface=m["Location"], Paused="true", Reason="training")
        board = wallboard(session, rate=20, thresholds={"waiting": (1, 2)}, queues=["support"])
        try:
            pbx.call("queue")
            pbx.call("queue")
            wait_for(lambda: board.counters.get("support", {}).get("waiting") == 2, timeout=10)
            wait_for(lambda: board.widget.queues and board.widget.queues[0]["waiting"] == 2)
            (card,) = board.widget.queues
            assert card["lvl_waiting"] == "bad" and card["available"] == 0 and card["lvl_available"] == "bad"
            assert card["paused"] == len(members)
            assert len(board.widget.callers["rows"]) == 2
            assert {r[5] for r in board.widget.members["rows"]} == {"training"}
            assert "waiting" in board.snapshot_html()
        finally:
            board.stop()


def test_magic_ami_live_queues_gives_the_wallboard() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ami_nb")
    try:
        ip.run_line_magic("ami_connect", "")
        board = ip.run_line_magic("ami_live", "--queues --rate 5")
        view = ip.run_line_magic("ami_live", "")
        assert isinstance(board, Wallboard) and isinstance(view, LiveView) and board.running and view.running
        ip.run_line_magic("ami_disconnect", "")
        assert not board.running and not view.running
        wait_for(lambda: view.widget.status["badge"] == "disconnected")
    finally:
        ip.run_line_magic("unload_ext", "ami_nb")


def test_magic_wallboard_takes_thresholds_service_level_and_queues() -> None:
    """``%ami_live --queues --threshold ...`` sets what ``wallboard(thresholds=...)`` sets: with waiting red from
    2 callers (the default: from 4), two callers on a queue whose agents are all paused colour it red."""
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ami_nb")
    magics = ip.magics_manager.registry["AmiMagics"]
    saved = dict(magics.sim_options)
    magics.sim_options = {"time_scale": 1.0, "background_traffic": False}
    try:
        for bad, why in (("--queues --threshold queue_depth=1,2", "unknown figure"),
                         ("--queues --threshold waiting=2", "FIGURE=WARN,BAD"),
                         ("--threshold waiting=1,2", "add --queues")):
            with pytest.raises(UsageError, match=why):
                ip.run_line_magic("ami_live", bad)
        ip.run_line_magic("ami_connect", "")
        conn = magics.connection()
        session, pbx = conn.session, conn.sim
        members = [e for e in session.action("QueueStatus", Queue="support").list_items if e.event == "QueueMember"]
        for m in members:
            session.action("QueuePause", Queue="support", Interface=m["Location"], Paused="true")
        board = ip.run_line_magic(
            "ami_live", "--queues --rate 20 --threshold waiting=1,2 --threshold longest-wait=20:60 "
                        "--service-level 30 --queue support")
        assert isinstance(board, Wallboard) and board.running and board.only == ["support"]
        assert board.thresholds == {**ami_nb.widgets.DEFAULT_THRESHOLDS, "waiting": (1.0, 2.0),
                                    "longest_wait": (20.0, 60.0)}
        assert board.state.service_level == 30.0
        pbx.call("queue")
        pbx.call("queue")
        wait_for(lambda: board.counters.get("support", {}).get("waiting") == 2, timeout=10)
        (card,) = board.widget.queues
        assert card["Queue"] == "support" and card["waiting"] == 2 and card["lvl_waiting"] == "bad"
        assert level("waiting", 2, ami_nb.widgets.DEFAULT_THRESHOLDS) == "warn"  # what the default would say
        ip.run_line_magic("ami_disconnect", "")
        assert not board.running
    finally:
        magics.sim_options = saved
        ip.run_line_magic("unload_ext", "ami_nb")


def test_wallboard_counts_a_timeout_apart_from_an_abandon() -> None:
    """Against the simulator, every agent paused: one caller gives up after 1 s, one stays until Queue()'s 3 s
    timeout (QueueCallerAbandon for it too, then QUEUESTATUS=TIMEOUT); the board counts what the ground truth says."""
    with sim.start(traffic={"queue_timeout": 3.0}) as pbx, \
            ami_nb.connect(pbx.url, secret="amp111", keepalive=None) as session:
        members = [e for e in session.action("QueueStatus", Queue="support").list_items if e.event == "QueueMember"]
        for m in members:
            session.action("QueuePause", Queue="support", Interface=m["Location"], Paused="true", Reason="meeting")
        board = wallboard(session, rate=20, queues=["support"])
        try:
            pbx.call("queue", patience=1.0)
            pbx.call("queue", patience=100.0)
            wait_for(lambda: board.counters.get("support", {}).get("offered_today") == 2, timeout=15)
            stints = [s for row in pbx.ground_truth()["queue_stints"] for s in row]
            outcomes = sorted(s["outcome"] for s in stints)
            assert outcomes == ["abandon", "timeout"]
            q = board.counters["support"]
            assert (q["answered_today"], q["abandoned_today"], q["timed_out_today"], q["other_today"]) == (0, 1, 1, 0)
            assert q["short_abandoned_today"] == 1  # gave up within KPIConfig's 5 s
            assert q["service_level"] == 0.0
            wait_for(lambda: board.widget.queues and board.widget.queues[0]["abandoned"] == 1)
        finally:
            board.stop()


class _Witness(LiveView):
    """A view that notes the thread of every redraw and display update."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.threads: list[int] = []
        super().__init__(*args, **kwargs)

    def _build(self, header_only: bool = False) -> dict:
        self.threads.append(threading.get_ident())
        return super()._build(header_only=header_only)

    def _update_display(self) -> None:
        self.threads.append(threading.get_ident())
        super()._update_display()


def test_connection_changes_are_drawn_by_the_ticker_never_on_the_loop() -> None:
    """Over a real socket: the server goes (reconnecting), then the session closes (closed). A view that never
    ticks (autostart=False) still shows both, drawn by the ticker thread; the loop thread ran no view code."""
    pbx = sim.start()
    session = ami_nb.connect(pbx.url, secret="amp111", keepalive=None)
    try:
        view = _Witness(session, rate=5, autostart=False)
        loop = session.thread.ident
        creator = threading.get_ident()
        assert view.widget.status["connection"] == "connected" and view.ticks == 0
        pbx.stop()
        wait_for(lambda: view.widget.status.get("connection") == "reconnecting", timeout=10)
        session.close()
        wait_for(lambda: view.widget.status.get("badge") == "disconnected", timeout=10)
        assert view.ticks == 0  # the ticker redrew it for the state changes alone
        drawn_by = set(view.threads) - {creator}
        assert loop not in view.threads and drawn_by and all(t != loop for t in drawn_by)
    finally:
        session.close()
        pbx.stop()


def test_closed_views_leave_no_state_callback() -> None:
    """Every view of a session watches its connection through one callback; closing them all removes it, and a
    stopped view still reads "disconnected" when its session closes, then lets go too."""
    with sim.start() as pbx:
        session = ami_nb.connect(pbx.url, secret="amp111", keepalive=None)
        try:
            client = session.client
            assert session.pbx is not None  # the live state's own callback, one for the session's life
            before = len(client._state_callbacks)
            views = [LiveView(session, rate=5, autostart=False) for _ in range(5)]
            views += [Wallboard(session, rate=5, autostart=False) for _ in range(3)]
            assert len(client._state_callbacks) == before + 1
            for v in views:
                v.close()
            assert len(client._state_callbacks) == before
            kept = LiveView(session, rate=5)
            kept.stop()
            assert len(client._state_callbacks) == before + 1 and kept.widget.status["badge"] == "stopped"
            session.close()
            wait_for(lambda: kept.widget.status["badge"] == "disconnected")
            wait_for(lambda: len(client._state_callbacks) == before)
        finally:
            session.close()


def test_a_client_callback_can_be_removed() -> None:
    with sim.start() as pbx:
        session = ami_nb.connect(pbx.url, secret="amp111", keepalive=None)
        client = session.client
        seen: list[str] = []
        gone: list[str] = []
        unsubscribe = client.on_state_change(gone.append)
        client.on_state_change(seen.append)
        unsubscribe()
        unsubscribe()  # idempotent: it does not take another registration with it
        client.on_state_change(gone.append)
        client.remove_state_change(gone.append)
        session.close()
        assert seen[-1] == "closed" and gone == []

"""LiveView: widgets follow the store, redraws are bounded by the rate, stop() stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ami_nb.protocol import Message, Parser
from ami_nb.store import EventStore
from ami_nb.widgets import ChannelTracker, LiveView, live, sparkline_svg

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def ev(name: str, **fields: str) -> Message:
    return Message.from_pairs([("Event", name), *fields.items()])


def newchannel(uid: str, chan: str, linked: str) -> Message:
    return ev("Newchannel", Channel=chan, ChannelStateDesc="Down", CallerIDNum="0123", Exten="100",
              Context="demo", Uniqueid=uid, Linkedid=linked)


@pytest.fixture
def view_factory():  # type: ignore[no-untyped-def]
    views: list[LiveView] = []

    def make(*args, **kwargs) -> LiveView:  # type: ignore[no-untyped-def]
        v = LiveView(*args, **kwargs)
        views.append(v)
        return v

    yield make
    for v in views:
        v.stop()


def test_widgets_follow_events(view_factory) -> None:  # type: ignore[no-untyped-def]
    store = EventStore(chunk_size=8)
    view = view_factory(store, rate=20)
    assert view.running and view.counters["received"] == 0
    store.extend([newchannel("1.1", "Local/100@demo-01;1", "1.1"), newchannel("1.2", "Local/100@demo-01;2", "1.1"),
                  newchannel("2.1", "Local/200@demo-02;1", "2.1")], time.time())
    wait_for(lambda: view.counters.get("channels") == 3)
    assert view.counters["calls"] == 2 and view.counters["received"] == 3
    assert "Local/200@demo-02;1" in view.channels_html.value
    assert "0123" in view.channels_html.value  # caller numbers stay text
    assert "received <b>3</b>" in view.header.value and "calls <b>2</b>" in view.header.value
    assert "Newchannel" in view.log_html.value
    before = view.redraws
    store.extend([ev("Newstate", Uniqueid="1.1", ChannelStateDesc="Up", Channel="Local/100@demo-01;1"),
                  ev("Hangup", Uniqueid="2.1", Channel="Local/200@demo-02;1", Cause="16")], time.time())
    wait_for(lambda: view.counters.get("channels") == 2)
    assert view.redraws > before
    assert "Local/200@demo-02;1" not in view.channels_html.value
    assert ">Up<" in view.channels_html.value and "Hangup" in view.log_html.value
    assert view.counters["calls"] == 1 and view.tracker.hungup == 1
    assert "<svg" in view.spark.value


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
    assert view.counters["channels"] == 0 and view.tracker.hungup == 9
    assert not view.running


def test_tracker_ignores_channels_it_never_saw_open() -> None:
    tracker = ChannelTracker()
    store = EventStore()
    store.extend([ev("Newstate", Uniqueid="9.9", ChannelStateDesc="Up"), ev("Hangup", Uniqueid="9.8")], 1.0)
    tracker.feed(store.frame())
    assert tracker.channels == {} and tracker.hungup == 0


def test_tracker_follows_a_rename() -> None:
    """Asterisk's Rename event: ``Channel`` is the old name, ``Newname`` the new one (same Uniqueid)."""
    tracker = ChannelTracker()
    store = EventStore()
    store.extend([newchannel("1.1", "Local/100@demo-01;1", "1.1"),
                  ev("Rename", Channel="Local/100@demo-01;1", Newname="PJSIP/bob-00000001", Uniqueid="1.1")], 1.0)
    tracker.feed(store.frame())
    assert tracker.channels["1.1"]["Channel"] == "PJSIP/bob-00000001"


def test_flood_does_not_flood_the_frontend(view_factory) -> None:  # type: ignore[no-untyped-def]
    store = EventStore(capacity=50_000)
    rate = 10.0
    view = view_factory(store, rate=rate)
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        i = 0
        batch = [newchannel(f"{i}.{k}", f"Local/x-{k};1", f"{i}") for k in range(50)]
        while not stop.is_set():
            store.extend(batch, time.time())
            i += 1
            sent[0] += len(batch)
            time.sleep(0.0005)  # a socket reader waits for bytes now and then: so does this one

    t = threading.Thread(target=flood, daemon=True)
    start_redraws = view.redraws
    t0 = time.monotonic()
    t.start()
    time.sleep(1.5)
    stop.set()
    t.join(5)
    elapsed = time.monotonic() - t0
    wait_for(lambda: view.counters["received"] == sent[0])
    elapsed_total = time.monotonic() - t0
    redraws = view.redraws - start_redraws
    assert sent[0] > 10 * redraws  # many more events than redraws
    assert redraws <= rate * elapsed_total + 2, (redraws, elapsed, elapsed_total)
    assert redraws >= 2  # and it did keep moving


def test_stop_stops(view_factory) -> None:  # type: ignore[no-untyped-def]
    store = EventStore()
    view = view_factory(store, rate=50)
    wait_for(lambda: view.ticks >= 2)
    view.stop()
    assert not view.running
    ticks, value = view.ticks, view.header.value
    store.extend([ev("Hangup")] * 5, time.time())
    time.sleep(0.2)
    assert view.ticks == ticks and view.header.value == value
    view.start()  # and it can resume
    wait_for(lambda: view.counters["received"] == 5)


def test_live_helper_and_display() -> None:
    store = EventStore()
    view = live(store, rate=4)
    try:
        bundle = view._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "running" in repr(view)
    finally:
        view.stop()
    with pytest.raises(ValueError, match="rate"):
        LiveView(store, rate=0)


def test_sparkline_scales_to_max() -> None:
    svg = sparkline_svg([0, 5, 10], width=100, height=40)
    assert svg.startswith("<svg") and "max 10/s" in svg
    assert "0.0,38.0" in svg and "100.0,12.0" in svg
    assert "max 1/s" in sparkline_svg([])


def test_session_live_follows_a_simulated_call() -> None:
    """``session.live()`` against the simulated PBX: the view shows the connection and a call's channels."""
    import ami_nb
    from ami_nb import sim

    with sim.start() as pbx, ami_nb.connect(pbx.url, secret="amp111", keepalive=None) as session:
        view = session.live(rate=20)
        try:
            assert isinstance(view, LiveView)
            wait_for(lambda: "connected" in view.header.value)
            session.action("Originate", Channel="Local/100@demo", Context="demo", Exten="long", Priority=1,
                           Async=True)
            # the redraw thread sets the counters, then the table: wait for the table itself
            wait_for(lambda: "Local/100@demo" in view.channels_html.value, timeout=10)
            assert (view.counters.get("channels") or 0) >= 2
        finally:
            view.stop()

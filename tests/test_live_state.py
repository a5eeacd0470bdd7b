"""LiveState: the PBX's live state from events, synced on connect (recordings 46/47, the simulator over a socket)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

import ami_nb
from ami_nb import sim
from ami_nb.live_state import LiveState, RateMeter
from ami_nb.protocol import Message, Parser

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "ami-transcripts"


def recording(name: str) -> list[Message]:
    for folder in (TRANSCRIPTS, SHARED, Path(__file__).resolve().parents[3] / "shared" / "ami-transcripts"):
        path = folder / f"{name}.txt"
        if path.exists():
            return [m for m in Parser().feed(path.read_bytes()) if m.is_event]
    pytest.skip(f"recording {name} not available here")


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def ev(name: str, **fields: str) -> Message:
    return Message.from_pairs([("Event", name), *fields.items()])


def test_queue_status_of_recording_46_gives_what_queue_summary_said() -> None:
    """46 asked QueueSummary and QueueStatus of the same moment: the state built from QueueStatus alone must agree
    with the server's own summary (LoggedIn, Available, Callers, LongestHoldTime)."""
    events = recording("46_queuesummary_waiting")
    summary = {e["Queue"]: e for e in events if e.event == "QueueSummary"}
    state = LiveState()
    state.feed([e for e in events if e.event != "QueueSummary"], 1_796_187_482.0)
    queues = state.queues.set_index("Queue")
    for name, s in summary.items():
        q = queues.loc[name]
        assert q["waiting"] == int(s["Callers"])
        assert q["available"] == int(s["Available"])
        assert q["available"] + q["busy"] + q["paused"] == int(s["LoggedIn"])
    members = state.members.set_index(["Queue", "Interface"])
    paused = members.loc[("support", "Local/agent1@agents/n")]
    assert paused["Paused"] and paused["PausedReason"] == "46 snapshot" and paused["CallsTaken"] == 5
    callers = state.callers
    assert list(callers["CallerIDNum"]) == ["5553001", "5553002"] and list(callers["Position"]) == [1, 2]


def test_core_show_channels_of_recording_47_gives_its_channels_calls_and_bridges() -> None:
    events = recording("47_coreshowchannels_status_5calls")
    items = [e for e in events if e.event == "CoreShowChannel"]
    complete = next(e for e in events if e.event == "CoreShowChannelsComplete")
    state = LiveState()
    state.feed([*items, complete], 1_796_187_485.0)
    assert len(state.channels) == int(complete["ListItems"]) == 14
    assert len(state.calls) == 5  # the README: 5 calls up
    assert set(state.calls["Linkedid"]) == {e["Linkedid"] for e in items}
    assert sorted(state.bridges["channels"]) == [2, 2]  # the two bridged Local/2000 -> Local/2001 calls
    assert set(state.bridges["BridgeUniqueid"]) == {e["BridgeId"] for e in items if e["BridgeId"]}
    # a channel listed with Duration 00:00:02 started 2 s before it was listed
    since = dict(zip(state.channels["Uniqueid"], state.channels["since"].map(lambda t: t.timestamp()), strict=True))
    for e in items:
        h, m, s = (int(x) for x in e["Duration"].split(":"))
        assert since[e["Uniqueid"]] == pytest.approx(1_796_187_485.0 - (3600 * h + 60 * m + s))


def test_a_call_of_recording_19_ends_with_its_duration_and_outcome() -> None:
    events = recording("19_originate_async_100")
    state = LiveState()
    for e in events:
        state.feed([e], 1_000.0)
    assert state.channel_count == 0 and state.call_count == 0
    linked = {e["Linkedid"] for e in events if e.event == "Newchannel"}
    ended = state.ended_calls(now=1_000.0)
    assert {c.linkedid for c in ended} == linked
    assert all(c.answered and c.outcome == "answered" for c in ended)  # 100@demo answers (Newstate Up)


def test_short_call_stays_visible_after_it_ended_then_lingers_out() -> None:
    state = LiveState(linger=60, clock=lambda: 101.0)
    state.feed([ev("Newchannel", Uniqueid="1.1", Linkedid="1.1", Channel="PJSIP/a-1", CallerIDNum="0123",
                   Exten="200", ChannelStateDesc="Ring")], 100.0)
    state.feed([ev("Hangup", Uniqueid="1.1", Linkedid="1.1", Channel="PJSIP/a-1", Cause="17",
                   **{"Cause-txt": "User busy"})], 100.3)
    (call,) = state.ended_calls(now=101.0)
    assert call.caller == "0123" and call.duration == pytest.approx(0.3) and call.outcome == "busy"
    assert state.ended.iloc[0]["outcome"] == "busy"
    assert state.ended_calls(now=170.0) == []


def test_sync_prunes_what_a_complete_list_no_longer_shows() -> None:
    """After a reconnect, a channel that hung up while we were away is not in CoreShowChannels: drop it quietly."""
    state = LiveState()
    state.feed([ev("Newchannel", Uniqueid="1.1", Linkedid="1.1", Channel="PJSIP/gone-1"),
                ev("Newchannel", Uniqueid="2.1", Linkedid="2.1", Channel="PJSIP/kept-1")], 10.0)
    (_, fields), _queues = state.sync_requests()
    aid = fields["ActionID"]
    state.feed([ev("CoreShowChannel", ActionID=aid, Uniqueid="2.1", Linkedid="2.1", Channel="PJSIP/kept-1",
                   ChannelStateDesc="Up", Duration="00:00:05"),
                ev("CoreShowChannelsComplete", ActionID=aid, EventList="Complete", ListItems="1")], 20.0)
    assert list(state.channels["Channel"]) == ["PJSIP/kept-1"]
    assert state.ended_calls(now=20.0) == [] and state.synced["channels"] == "done"
    # somebody else's list (no sync ActionID) prunes nothing
    state.feed([ev("CoreShowChannelsComplete", ActionID="theirs", EventList="Complete", ListItems="0")], 21.0)
    assert state.channel_count == 1


def test_queue_events_keep_members_callers_and_today() -> None:
    state = LiveState(service_level=10)
    member = {"Queue": "support", "MemberName": "Agent One", "Interface": "Local/agent1@agents/n", "Status": "1",
              "Paused": "0", "InCall": "0", "CallsTaken": "0"}
    state.feed([ev("QueueMemberAdded", **member),
                ev("QueueCallerJoin", Queue="support", Uniqueid="5.1", Channel="PJSIP/c-5", CallerIDNum="555",
                   Position="1", Count="1"),
                ev("QueueCallerJoin", Queue="support", Uniqueid="6.1", Channel="PJSIP/c-6", CallerIDNum="556",
                   Position="2", Count="2")], 50.0)
    assert state.queues.iloc[0]["waiting"] == 2 and state.queues.iloc[0]["available"] == 1
    state.feed([ev("QueueCallerLeave", Queue="support", Uniqueid="5.1", Position="1", Count="1"),
                ev("AgentConnect", Queue="support", Uniqueid="5.1", HoldTime="4"),
                ev("QueueMemberStatus", **{**member, "Status": "2", "CallsTaken": "1"}),
                ev("QueueCallerAbandon", Queue="support", Uniqueid="6.1", Position="1", HoldTime="30"),
                ev("QueueCallerLeave", Queue="support", Uniqueid="6.1", Position="1", Count="0"),
                ev("QueueMemberPause", **{**member, "Paused": "1", "PausedReason": "lunch"})], 60.0)
    # QueueCallerAbandon comes for a timeout too: undecided until a QUEUESTATUS, or a hangup without one
    assert state.queues.iloc[0]["offered_today"] == 1
    state.feed([ev("Hangup", Uniqueid="6.1", Channel="PJSIP/c-6")], 60.5)
    q = state.queues.iloc[0]
    assert (q["waiting"], q["paused"], q["answered_today"], q["abandoned_today"]) == (0, 1, 1, 1)
    assert q["service_level"] == 50.0  # one answered within 10 s of two offered
    assert state.members.iloc[0]["PausedReason"] == "lunch"
    state.feed([ev("QueueMemberRemoved", **member)], 61.0)
    assert state.members.empty


def test_rate_meter_drops_as_soon_as_a_flood_ends() -> None:
    meter = RateMeter()
    for s in range(100, 110):
        meter.add(60_000, s + 0.5)
    assert meter.per_second(110.2) == 60_000
    assert meter.per_second(111.2) == 0  # one quiet second later: not a 5 s mean still showing the flood
    assert list(meter.series(4, 111.2)) == [60_000, 60_000, 0, 0]


def test_session_pbx_synced_on_connect_to_a_busy_simulated_pbx() -> None:
    """Connect while calls are up and callers wait in a queue: the state shows them at once, with events off
    (so nothing but the sync can have told it), and agrees with the simulator's ground truth."""
    with sim.start() as pbx, ami_nb.connect(pbx.url, secret="amp111", keepalive=None) as driver:
        support = [e for e in driver.action("QueueStatus", Queue="support").list_items if e.event == "QueueMember"]
        for m in support:
            driver.action("QueuePause", Queue="support", Interface=m["Location"], Paused="true", Reason="briefing")
        pbx.call("queue")
        pbx.call("queue")
        driver.action("Originate", Channel="Local/long@demo", Context="demo", Exten="long", Priority=1, Async=True)
        wait_for(lambda: pbx.active_calls == 3)
        wait_for(lambda: sum(e.event == "QueueEntry" for e in driver.action("QueueStatus", Queue="support").list_items)
                 == 2)
        with ami_nb.connect(pbx.url, secret="amp111", keepalive=None, events="off") as session:
            state = session.pbx
            assert session.pbx is state  # one state per session
            wait_for(lambda: state.synced == {"channels": "done", "queues": "done"})
            truth = pbx.ground_truth()
            up = truth[truth["end"].isna()]
            assert set(state.calls["Linkedid"]) == set(up["linkedid"])
            waiting = up[(up["queue"] == "support") & up["answer"].isna()]
            callers = state.callers
            assert len(callers) == len(waiting) == 2
            assert set(callers["CallerIDNum"]) == set(waiting["caller"])
            q = state.queues.set_index("Queue").loc["support"]
            assert q["waiting"] == 2 and q["paused"] == len(support) and q["available"] == 0
            assert (state.members.query("Queue == 'support'")["PausedReason"] == "briefing").all()


def test_session_pbx_follows_a_short_call_to_its_end() -> None:
    with sim.start() as pbx, ami_nb.connect(pbx.url, secret="amp111", keepalive=None) as session:
        state = session.pbx
        wait_for(lambda: state.synced.get("channels") == "done")
        session.action("Originate", Channel="Local/100@demo", Context="demo", Exten="sink", Priority=1,
                       Async=True)
        wait_for(lambda: state.call_count > 0)
        wait_for(lambda: bool(state.ended_calls()) and state.call_count == 0, timeout=30)
        truth = pbx.ground_truth().set_index("linkedid")
        for call in state.ended_calls():
            real = truth.loc[call.linkedid]
            assert call.duration == pytest.approx((real["end"] - real["start"]).total_seconds(), abs=0.5)
            assert call.outcome == ("answered" if real["disposition"] == "answered" else call.outcome)


def test_reconnect_resyncs_and_the_view_says_reconnecting() -> None:
    """The server drops the connection: the view's badge reads "reconnecting", the client logs in again, and the
    state is synced anew (CoreShowChannels / QueueStatus once more), still agreeing with the simulator."""
    from ami_nb.widgets import live

    with sim.start() as pbx:
        session = ami_nb.connect(pbx.url, secret="amp111", keepalive=None, backoff=(0.3, 0.5), timeout=3.0)
        try:
            state = session.pbx
            view = live(session, rate=50, autopause=False)
            badges: list[str] = []
            view.widget.observe(lambda change: badges.append(change["new"].get("badge")), names=["status"])
            wait_for(lambda: state.synced == {"channels": "done", "queues": "done"})
            session.action("Originate", Channel="Local/long@demo", Context="demo", Exten="long", Priority=1,
                           Async=True)
            wait_for(lambda: state.call_count == 1)
            fed = state.fed

            async def drop() -> None:
                for c in list(pbx._server.connections):
                    c.abort()

            pbx._run(drop())
            wait_for(lambda: "reconnecting" in badges)
            wait_for(lambda: session.state == "connected" and session.stats["reconnects"] == 1)
            wait_for(lambda: state.synced == {"channels": "done", "queues": "done"} and state.fed > fed)
            up = pbx.ground_truth()
            assert set(state.calls["Linkedid"]) == set(up[up["end"].isna()]["linkedid"])
            wait_for(lambda: badges[-1] == "live")
            view.stop()
        finally:
            session.close()


async def _async_session_state(url: str) -> tuple[int, dict[str, str]]:
    import asyncio

    from ami_nb.session import AsyncSession

    async with AsyncSession(url, secret="amp111", keepalive=None) as s:
        state = s.pbx
        for _ in range(200):
            if state.synced == {"channels": "done", "queues": "done"}:
                break
            await asyncio.sleep(0.02)
        return len(state.queues), dict(state.synced)


def test_async_session_has_the_live_state_too() -> None:
    import asyncio

    with sim.start() as pbx:
        queues, synced = asyncio.run(_async_session_state(pbx.url))
    assert synced == {"channels": "done", "queues": "done"} and queues == 2  # support and sales

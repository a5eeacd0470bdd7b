"""The simulator's call events against recorded real calls (transcripts 19, 20, 22, 23, 32), and the traffic model.

Well-defined comparisons only: the multiset of events, each channel's own sequence of AMI events and of CEL
event names (CEL is queued separately in Asterisk, so its place among the other events is not), and the key
sets of every event. Channel names are compared without their ``-XXXXXXXX`` sequence suffix.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from rawclient import RawAMI

from ami_nb.protocol import Message, Parser, encode_message
from ami_nb.sim import start, traffic
from ami_nb.sim.model import PBX

FIX = Path(__file__).parent / "fixtures" / "transcripts"


def _events(name: str) -> list[Message]:
    return [m for m in Parser().feed((FIX / f"{name}.txt").read_bytes()) if m.is_event]


def _sent(name: str) -> list[Message]:
    return Parser(expect_banner=False, lenient=True).feed((FIX / "sent" / f"{name}.sent.txt").read_bytes())


def _role(m: Message) -> str:
    ch = m.get("Channel") or m.get("DestChannel") or m.get("LocalOneChannel") or m.get("Device") or ""
    return re.sub(r"-[0-9a-f]{8}(;[12])", r"\1", ch)


def _name(m: Message) -> str:
    return f"CEL:{m['EventName']}" if m.event == "CEL" else str(m.event)


def _keys(m: Message) -> tuple[str, ...]:
    return tuple(re.sub(r"\(.*\)$", "(channel)", k) for k, _ in m.pairs())


def _per_channel(events: list[Message], cel: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in events:
        r = _role(m)
        if r.endswith((";1", ";2")) and (m.event == "CEL") == cel:
            out.setdefault(r, []).append(_name(m))
    return out


def _keysets(events: list[Message]) -> dict[str, set[tuple[str, ...]]]:
    out: dict[str, set[tuple[str, ...]]] = {}
    for m in events:
        out.setdefault(str(m.event), set()).add(_keys(m))
    return out


def test_originate_100_to_sink_matches_transcript_19() -> None:
    recorded = _events("19_originate_async_100")[2:]  # after FullyBooted, SuccessfulAuth
    originate = next(m for m in _sent("19_originate_async_100") if m.get("Action") == "Originate")
    with start(seed=1, time_scale=50) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        c.read_until(lambda: len(c.events()) >= 2)
        c.messages.clear()
        c.send_raw(encode_message(originate.pairs()))
        c.wait_event(lambda m: m.get("EventName") == "LINKEDID_END", 10)
        c.drain(0.3)
        mine = c.events()
    assert Counter(map(_name, mine)) == Counter(map(_name, recorded))
    assert _per_channel(mine, cel=False) == _per_channel(recorded, cel=False)
    assert _per_channel(mine, cel=True) == _per_channel(recorded, cel=True)
    want = _keysets(recorded)
    for event, shapes in _keysets(mine).items():
        assert shapes <= want[event], event
    resp = next(m for m in mine if m.event == "OriginateResponse")
    assert (resp["ActionID"], resp["Response"], resp["Reason"]) == ("19_originate_async_100-2", "Success", "4")


def test_failed_and_sync_originates_match_transcript_32() -> None:
    """Busy (400), no answer (500 -> 999), congestion (800), no such extension, and a sync Originate."""
    recorded = _events("32_originate_sync_and_failures")  # EventMask: call, set after the calls began
    actions = [m for m in _sent("32_originate_sync_and_failures") if m.get("Action") == "Originate"]
    with start(seed=1, time_scale=20) as pbx, RawAMI(pbx.host, pbx.port) as w, RawAMI(pbx.host, pbx.port) as c:
        w.login(events="call")
        c.login(events="off")
        for a in actions:
            c.send_raw(encode_message(a.pairs()))
        answers = [c.response(10) for _ in actions]
        w.read_until(lambda: len(w.events("OriginateResponse")) >= 4, 10)
        w.drain(0.3)
        mine = w.events()
    assert [(m["Response"], m["Message"]) for m in answers] == [("Success", "Originate successfully queued")] * 5
    reasons = {m["Channel"]: m["Reason"] for m in mine if m.event == "OriginateResponse"}
    assert reasons == {"Local/400@demo": "5", "Local/500@demo": "0", "Local/800@demo": "8",
                       "Local/nosuchexten@demo": "0"}
    assert {m.event for m in mine} <= {m.event for m in recorded} | {"ExtensionStatus"}
    for cel in (False, True):
        want, have = _per_channel(recorded, cel), _per_channel(mine, cel)
        for role, seq in want.items():
            if cel:  # which channel of a call ends last (LINKEDID_END) is a race
                seq = [x for x in seq if x != "CEL:LINKEDID_END"]
                have[role] = [x for x in have.get(role, []) if x != "CEL:LINKEDID_END"]
            got = have.get(role, [])
            assert got[len(got) - len(seq):] == seq, (role, got, seq)  # the recording starts mid-call
    want_keys = _keysets(recorded)
    for event, shapes in _keysets(mine).items():
        if event in want_keys:
            assert shapes <= want_keys[event], event


def test_limited_user_gets_call_class_only_transcript_20() -> None:
    with start(seed=2, time_scale=20) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login("limited", "lim123", events="on")
        r = c.action("Originate", "o", Channel="Local/200@demo", Application="Wait", Data="1", Async="true")
        assert r["Message"] == "Originate successfully queued"
        c.wait_event(lambda m: m.event == "Hangup" and m["Channel"].endswith(";2"), 10)
        c.drain(0.2)
        names = {m.event for m in c.events()}
    assert {"Newchannel", "CEL", "OriginateResponse", "Hangup", "DialBegin", "DialEnd"} <= names
    assert not names & {"Cdr", "Newexten", "VarSet", "FullyBooted", "SuccessfulAuth"}
    recorded = {m.event for m in _events("20_limited_permission_denied") if m.get("Privilege")}
    assert names <= recorded


def test_events_mask_transcript_22() -> None:
    with start(seed=3, time_scale=50) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="off")

        def call_and_collect() -> list[Message]:
            c.messages.clear()
            pbx.originate("Local/200@demo", exten=None, application="Wait", data="1")
            c.drain(0.4, 5)
            return c.events()

        assert call_and_collect() == []
        assert c.action("Events", "e1", EventMask="on")["Events"] == "On"
        on = call_and_collect()
        assert {"Newexten", "Cdr", "Newchannel"} <= {m.event for m in on}
        assert c.action("Events", "e2", EventMask="call,user")["Events"] == "On"
        some = call_and_collect()
        assert some and all(set(m["Privilege"].split(",")) & {"call", "user"} for m in some)
        assert c.action("Events", "e3", EventMask="off")["Events"] == "Off"
        assert call_and_collect() == []


def test_filters_transcript_23() -> None:
    filters = [m for m in _sent("23_filter") if m.get("Action") == "Filter"]
    originates = [m for m in _sent("23_filter") if m.get("Action") == "Originate"]
    recorded = [m for m in Parser().feed((FIX / "23_filter.txt").read_bytes()) if m.is_response]
    with start(seed=4, time_scale=20) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        c.read_until(lambda: len(c.events()) >= 2)
        c.messages.clear()
        for f in filters:
            c.send_raw(encode_message(f.pairs()))
        got = [c.response() for _ in filters]
        want = [m for m in recorded if m.get("ActionID") in {f["ActionID"] for f in filters}]
        assert [(m["Response"], m["Message"]) for m in got] == [(m["Response"], m["Message"]) for m in want]
        for o in originates:
            c.send_raw(encode_message(o.pairs()))
        c.read_until(lambda: len(c.events("OriginateResponse")) >= 2, 10)
        c.drain(0.3)
        mine = c.events()
    assert {m.event for m in mine} == {"Newchannel", "OriginateResponse", "DialEnd", "Hangup"}
    assert all(m["ChannelState"] != "0" for m in mine if m.event == "Newchannel")
    assert {m["DialStatus"] for m in mine if m.event == "DialEnd"} == {"BUSY"}
    assert {m["Cause"] for m in mine if m.event == "Hangup"} <= {"0", "16"}


@pytest.mark.parametrize("kind,expect", [
    ("answered", {"DialBegin", "DialEnd", "BridgeEnter", "BridgeLeave", "Cdr"}),
    ("busy", {"DialEnd"}),
    ("noanswer", {"DialState", "DialEnd"}),
    ("congestion", {"DialEnd"}),
    ("queue", {"QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete", "QueueCallerLeave"}),
    ("abandon", {"QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave"}),
    ("transfer", {"BlindTransfer", "BridgeEnter"}),
])
def test_each_scenario_emits_its_events(kind: str, expect: set[str]) -> None:
    with start(seed=5, time_scale=1e6, timestampevents=True) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        # agents are free, so an impatient caller abandons only if it gives up before the agent it rings answers
        options = {"patience": 3.0, "ring": 10.0} if kind == "abandon" else {}
        linkedid = pbx.call(kind, **options)
        c.wait_event(lambda m: m.get("EventName") == "LINKEDID_END" and m.get("LinkedID") == linkedid, 10)
        uids = {m["Uniqueid"] for m in c.events("Newchannel") if m["Linkedid"] == linkedid}
        mine = [m for m in c.events() if linkedid in (m.get("Linkedid"), m.get("LinkedID"), m.get("DestLinkedid"),
                                                      m.get("TransfereeLinkedid"))
                or m.get("UniqueID") in uids]
        truth = pbx.ground_truth().set_index("linkedid").loc[linkedid]
    names = {m.event for m in mine}
    assert expect <= names, expect - names
    stamps = [float(m["Timestamp"]) for m in mine]
    assert stamps == sorted(stamps)
    assert truth["disposition"] == {"answered": "answered", "busy": "busy", "noanswer": "no answer",
                                    "congestion": "failed", "queue": "answered", "abandon": "abandoned",
                                    "transfer": "answered"}[kind]
    hangups = {int(m["Cause"]) for m in mine if m.event == "Hangup"}
    assert truth["hangup_cause"] in hangups
    chans = [m for m in mine if m.event in ("Newchannel", "Hangup")]
    assert Counter(m.event for m in chans)["Newchannel"] == Counter(m.event for m in chans)["Hangup"]
    if kind in ("queue", "abandon"):
        assert truth["queue"] == "support"
    if kind == "transfer":
        assert bool(truth["transferred"])
    prefixes = {m["Channel"].split("/")[0] for m in mine if m.event == "Newchannel"}
    assert "PJSIP" in prefixes


def test_queue_serves_any_waiting_caller_first_come_first_served() -> None:
    """app_queue with autofill=yes: a free agent goes to the longest-waiting caller, whoever is at the head; every
    caller's patience races the answer and the queue's timeout (abandoned, answered or timed out)."""
    events: list[tuple[float, str, dict[str, str]]] = []
    t0 = 1_800_000_000.0
    pbx = PBX(lambda name, priv, pairs, now: events.append((now - t0, name, dict(pairs))), seed=1, start_time=t0,
              traffic={"agents": 2})
    calls = [  # (arrival, kind, options); every caller joins the queue 0.05 s after it arrives
        (0.0, "abandon", {"patience": 3.0, "ring": 10.0}),  # rings an agent, gives up at 3.05 before it answers
        (0.5, "queue", {"patience": 1000.0, "ring": 2.0, "talk": 400.0}),  # the other agent, at once
        (1.0, "queue", {"patience": 1000.0, "ring": 2.0, "talk": 400.0}),  # the first agent, once it is free
        (1.5, "queue", {"patience": 50.0}),  # both agents busy: gives up after 50 s
        (2.0, "queue", {"patience": 1000.0}),  # both agents busy: the queue's 300 s timeout
    ]
    for at, kind, options in calls:
        pbx.sched.add(traffic.scenario(pbx, kind, **options), at)
    pbx.sched.run_until(t0 + 2000)
    assert not pbx.linked
    recs = list(pbx.calls.values())
    assert [r.disposition for r in recs] == ["abandoned", "answered", "answered", "abandoned", "no answer"]
    assert [r.queue for r in recs] == ["support"] * 5
    agents = [r.agent for r in recs]
    assert agents[0] is None and agents[3] is None and agents[4] is None
    assert {agents[1], agents[2]} == {"Agent One", "Agent Two"}

    def at(name: str, rec: int, key: str = "Linkedid") -> list[float]:
        return [round(t, 3) for t, n, f in events if n == name and f.get(key) == recs[rec].linkedid]

    assert at("AgentCalled", 0) == [0.05] and at("QueueCallerAbandon", 0) == [3.05]
    assert [f["DialStatus"] for _, n, f in events if n == "DialEnd" and f["Linkedid"] == recs[0].linkedid] == [
        "CANCEL"]
    assert at("AgentCalled", 1) == [0.55] and at("AgentConnect", 1) == [2.55]
    assert at("AgentCalled", 2) == [3.05] and at("AgentConnect", 2) == [5.05]  # freed by caller 0, not later ones
    assert at("AgentCalled", 3) == [] and at("QueueCallerAbandon", 3) == [51.55]
    # a timeout is recorded as an abandon too (recording 42), then QUEUESTATUS=TIMEOUT
    assert at("AgentCalled", 4) == [] and at("QueueCallerAbandon", 4) == [302.05]
    assert at("QueueCallerLeave", 4) == [302.05]
    assert [f["Value"] for _, n, f in events if n == "VarSet" and f.get("Variable") == "QUEUESTATUS"] == ["TIMEOUT"]
    for i, rec in enumerate(recs):
        assert rec.answer is None if i in (0, 3, 4) else rec.answer == pytest.approx(t0 + [0, 2.55, 5.05][i])
    q = pbx.queues["support"]
    assert (q.completed, q.abandoned, q.callers, q.offers, q.assigned) == (2, 3, [], {}, {})
    assert not any(m.in_call for m in q.members)


def test_queuestatus_lists_each_member_once_per_queue() -> None:
    """app_queue keys a queue's members by interface (manager_queues_status lists each once; QueueAdd of one
    already there fails). Traffic into ``sales`` (one static member, agent2) with three agents adds the agents
    it lacks, never a second agent2."""
    with start(seed=1, time_scale=50, traffic={"queue": "sales", "agents": 3}) as pbx:
        with RawAMI(pbx.host, pbx.port) as c:
            c.login(events="on")
            for _ in range(3):
                pbx.call("queue", talk=30.0)
            c.read_until(lambda: len(c.events("AgentCalled")) >= 3, 10)  # each caller rings an agent
            c.send("QueueStatus", "qs")
            c.read_until(lambda: any(m.event == "QueueStatusComplete" for m in c.messages))
            listed = [(m["Queue"], m["Location"]) for m in c.messages if m.event == "QueueMember"]
            c.messages.clear()
            r = c.action("QueueAdd", "add", Queue="sales", Interface="Local/agent2@agents/n")
        state = {name: [m.interface for m in q.members] for name, q in pbx._server.pbx.queues.items()}
    assert len(listed) == len(set(listed))
    assert sorted(i for q, i in listed if q == "sales") == sorted(state["sales"]) == [
        "Local/agent1@agents/n", "Local/agent2@agents/n", "Local/agent3@agents/n"]
    assert (r["Response"], r["Message"]) == ("Error", "Unable to add interface: Already there")


def test_fullybooted_has_no_timestamp_and_analysis_takes_no_time_from_it() -> None:
    """Recording 48: with timestampevents every event is stamped but FullyBooted. Its receive time is the wall
    clock, not the simulated one (here years after the simulated hour): the call, queue and member reports take
    their periods and bins from call/queue/member events only, so they are the same without it."""
    import math

    import pandas as pd

    import ami_nb
    from ami_nb import analysis as A

    with (
        start(seed=5, time_scale=math.inf, timestampevents=True, start_time=1_600_000_000) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as session,
    ):
        pbx.simulate(900, rate=240, mix={"queue": 1, "answered": 1})
        session.action("Ping")  # a barrier: every event sent before its answer is in the store
        events = session.events.frame()
    booted = events[events["Event"] == "FullyBooted"]
    assert len(booted) == 1 and booted["Timestamp"].isna().all()
    assert booted["received"].iloc[0] > events["Timestamp"].max()  # the wall clock is after the simulated hour
    without = events[events["Event"] != "FullyBooted"].reset_index(drop=True)
    for report in (A.calls, A.queue_stints, A.concurrency, A.queue_kpis, A.interval_report, A.agent_states):
        pd.testing.assert_frame_equal(report(events).reset_index(drop=True), report(without).reset_index(drop=True))
    states = A.agent_states(events)
    assert len(states) and states["end"].max() <= events["Timestamp"].max()

"""Agent reports on real Asterisk 22 recordings: expected values come from the recorded events themselves.

43: agent1 paused in support ("lunch break"), agent2 paused without a queue (support and sales, "team
meeting"), both unpaused, agent1 added to sales then removed. 40: four queue calls, Agent One answers three
(AgentComplete TalkTime 4, 3, 4), Agent Two one (TalkTime 5); Agent Three rings once without answering.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import ami_nb
from ami_nb.analysis import members as A
from ami_nb.analysis.kpi import KPIConfig

HERE = Path(__file__).parent / "fixtures" / "transcripts"
A1, A2, A3 = "Local/agent1@agents/n", "Local/agent2@agents/n", "Local/agent3@agents/n"


@pytest.fixture(scope="module")
def rec43() -> pd.DataFrame:
    return ami_nb.read_transcript(HERE / "43_queue_members.txt")


@pytest.fixture(scope="module")
def rec40() -> pd.DataFrame:
    return ami_nb.read_transcript(HERE / "40_queue_answered.txt")


def _at(frame: pd.DataFrame, event: str, **fields: str) -> pd.Timestamp:
    """When the one event matching ``fields`` arrived."""
    rows = frame[frame["Event"] == event]
    for k, v in fields.items():
        rows = rows[rows[k].astype("str") == v]
    assert len(rows) == 1, (event, fields, len(rows))
    return rows["received"].iloc[0]


def test_pauses_by_reason_from_the_pause_events(rec43):
    pauses = A.agent_pauses(rec43).set_index(["queue", "interface", "reason"])
    lunch = _at(rec43, "QueueMemberPause", Queue="support", Interface=A1, Paused="0") - _at(
        rec43, "QueueMemberPause", Queue="support", Interface=A1, Paused="1"
    )
    assert pauses.loc[("support", A1, "lunch break"), "seconds"] == pytest.approx(lunch.total_seconds())
    # QueuePause without Queue pauses agent2 in both of its queues
    for q in ("support", "sales"):
        span = _at(rec43, "QueueMemberPause", Queue=q, Interface=A2, Paused="0") - _at(
            rec43, "QueueMemberPause", Queue=q, Interface=A2, Paused="1"
        )
        assert pauses.loc[(q, A2, "team meeting"), "seconds"] == pytest.approx(span.total_seconds())
        assert pauses.loc[(q, A2, "team meeting"), "pauses"] == 1
    assert len(pauses) == 3  # agent3 never paused; agent1 never paused in sales


def test_login_sessions_and_partial_members(rec43):
    table = A.agents(rec43).set_index(["queue", "interface"])
    # agent1 logged in to sales with QueueAdd and out with QueueRemove
    sales = _at(rec43, "QueueMemberRemoved", Queue="sales", Interface=A1) - _at(
        rec43, "QueueMemberAdded", Queue="sales", Interface=A1
    )
    assert table.loc[("sales", A1), "logged_in"] == pytest.approx(sales.total_seconds())
    assert not table.loc[("sales", A1), "partial"]
    # static members were logged in before the stream: they count from the first QueueMember item seen
    first = rec43[rec43["Event"] == "QueueMember"]["received"].min()
    last = rec43["received"].max()
    for iface in (A1, A2, A3):
        assert table.loc[("support", iface), "partial"]
        assert table.loc[("support", iface), "logged_in"] == pytest.approx((last - first).total_seconds())
    assert table.loc[("sales", A1), "member_name"] == "Agent One (sales)"


def test_states_partition_the_logged_in_time(rec43, rec40):
    for frame in (rec43, rec40):
        table = A.agents(frame)
        parts = table[A.STATES].sum(axis=1)
        assert (parts - table["logged_in"]).abs().max() < 1e-6
        states = A.agent_states(frame)
        # no member is in two states at once
        for _, seg in states.groupby(["queue", "interface"]):
            seg = seg.sort_values("start")
            assert (seg["start"].iloc[1:].to_numpy() >= seg["end"].iloc[:-1].to_numpy()).all()


def test_calls_talk_and_occupancy_from_agent_complete(rec40):
    table = A.agents(rec40).set_index(["queue", "interface"])
    done = rec40[rec40["Event"] == "AgentComplete"]
    for iface in (A1, A2):
        mine = done[done["Interface"].astype("str") == iface]
        assert table.loc[("support", iface), "calls"] == len(mine)
        # TalkTime is whole seconds (time(NULL) differences): within a second per call
        talk = pd.to_numeric(mine["TalkTime"]).sum()
        got = table.loc[("support", iface), "talk"] + table.loc[("support", iface), "hold"]
        assert abs(got - talk) <= len(mine)
    assert table.loc[("support", A1), "calls"] == 3 and table.loc[("support", A2), "calls"] == 1
    assert table.loc[("support", A3), "calls"] == 0
    row = table.loc[("support", A1)]
    assert row["occupancy"] == pytest.approx(row["handling"] / (row["logged_in"] - row["paused"] - row["other_queue"]))
    assert row["aht"] == pytest.approx(row["handling"] / 3)
    # agent2's call came from support: in sales that time is another queue's
    assert table.loc[("sales", A2), "other_queue"] == pytest.approx(table.loc[("support", A2), "talk"])


def test_agent3_ringing_without_answer_is_busy_not_idle(rec40):
    # fact 38: a Local member's state interface shows INUSE (Status 2) while it only rings
    states = A.agent_states(rec40)
    a3 = states[(states["interface"] == A3) & (states["queue"] == "support")]
    busy = a3[a3["state"] == "busy"]["seconds"].sum()
    status = rec40[(rec40["Event"] == "QueueMemberStatus") & (rec40["Interface"].astype("str") == A3)]
    ring = status[status["Status"].astype("str") == "2"]["received"].min()
    back = status[(status["Status"].astype("str") == "1") & (status["received"] > ring)]["received"].min()
    assert busy == pytest.approx((back - ring).total_seconds())


def test_wrapup_from_config_is_handling_time():
    t0 = pd.Timestamp("2026-12-01 09:00:00", tz="UTC")

    def ev(sec, **kw):
        return {"received": t0 + pd.Timedelta(seconds=sec), **kw}

    base = {"Queue": "q", "Interface": "PJSIP/7001", "MemberName": "Ann"}
    frame = pd.DataFrame(
        [
            ev(0, Event="QueueMemberAdded", Paused="0", **base),
            ev(10, Event="AgentConnect", Channel="PJSIP/trunk-1", DestChannel="PJSIP/7001-1", **base),
            ev(20, Event="Hold", Channel="PJSIP/7001-1"),
            ev(25, Event="Unhold", Channel="PJSIP/7001-1"),
            ev(70, Event="AgentComplete", TalkTime="60", **base),
            ev(100, Event="QueueMemberPause", Paused="1", PausedReason="break", **base),
            ev(160, Event="QueueMemberPause", Paused="0", PausedReason="", **base),
            ev(200, Event="QueueMemberRemoved", **base),
        ]
    )
    row = A.agents(frame, config=KPIConfig(wrapup={"q": 15})).iloc[0]
    # by definition: talk 60 - 5 on hold, hold 5, wrap-up 15, paused 60, logged in 200
    assert (row["talk"], row["hold"], row["wrapup"], row["paused"]) == (55, 5, 15, 60)
    assert row["logged_in"] == 200 and row["idle"] == 200 - 55 - 5 - 15 - 60
    assert row["aht"] == 75
    assert row["occupancy"] == pytest.approx(75 / (200 - 60))
    assert not row["partial"]
    # per-minute staff: the logged-in minutes add up to the session
    intervals = A.agent_intervals(frame, freq="1min", config=KPIConfig(wrapup=15))
    assert intervals["logged_in"].sum() == pytest.approx(200 / 60)


def test_empty_and_unrelated_frames():
    assert A.agents(pd.DataFrame()).empty
    assert A.agent_states(pd.DataFrame({"Event": ["Newchannel"], "received": [pd.Timestamp.now(tz="UTC")]})).empty
    with pytest.raises(ValueError, match="by must be"):
        A.agents(pd.DataFrame(), by="team")


def test_agent_intervals_on_recording_43(rec43):
    """Per-minute staff of 43 adds up to the recording's facts: three static support members seen from the
    first QueueMember item to the end, agent2 static in sales too, agent1 in sales from QueueAdd to QueueRemove;
    paused: agent1's lunch break in support and agent2's team meeting in both its queues; no queue call."""
    first = rec43[rec43["Event"] == "QueueMember"]["received"].min()
    last = rec43["received"].max()

    def pause(queue: str, iface: str) -> float:
        on = _at(rec43, "QueueMemberPause", Queue=queue, Interface=iface, Paused="1")
        return (_at(rec43, "QueueMemberPause", Queue=queue, Interface=iface, Paused="0") - on).total_seconds()

    paused = pause("support", A1) + pause("support", A2) + pause("sales", A2)
    sales = (_at(rec43, "QueueMemberRemoved", Queue="sales", Interface=A1)
             - _at(rec43, "QueueMemberAdded", Queue="sales", Interface=A1)).total_seconds()
    # agent2's sales membership is static (QueueMember of sales); it shows from its first item
    a2_sales = (last - rec43[(rec43["Event"] == "QueueMember") & (rec43["Queue"].astype("str") == "sales")]
                ["received"].min()).total_seconds()
    logged = 3 * (last - first).total_seconds() + sales + a2_sales
    rep = A.agent_intervals(rec43, freq="1min")
    assert set(rep["queue"]) == {"support", "sales"}
    assert rep["logged_in"].sum() * 60 == pytest.approx(logged)
    assert (rep["logged_in"] - rep["staffed"]).sum() * 60 == pytest.approx(paused)
    assert rep["handling"].sum() == 0
    # by agent, each counted once however many queues: the three agents, each from the first item to the end
    per_agent = A.agent_intervals(rec43, freq="1min", by="agent")
    assert per_agent["logged_in"].sum() * 60 == pytest.approx(3 * (last - first).total_seconds())


def test_agent_intervals_on_recording_40_count_the_handled_calls(rec40):
    """40: the handling per interval adds up to the talk of the four AgentCompletes (TalkTime 4+3+4 and 5, whole
    seconds: within a second each); nobody paused."""
    rep = A.agent_intervals(rec40, freq="15min")
    talk = pd.to_numeric(rec40[rec40["Event"] == "AgentComplete"]["TalkTime"]).sum()
    interval = pd.Timedelta("15min").total_seconds()
    assert abs(rep["handling"].sum() * interval - talk) <= 4
    assert (rep["logged_in"] == rep["staffed"]).all()


def test_recording_42_pauses_and_rings_no_answer(rec42):
    """42: the driver paused agent1 and agent2 in support (PausedReason '42 timeout') and unpaused them after the
    caller's timeout; agent3 rang 5 times (AgentCalled to AgentRingNoAnswer, Status 2 meanwhile): busy, not idle."""
    pauses = A.agent_pauses(rec42).set_index(["queue", "interface", "reason"])
    for iface in (A1, A2):
        span = _at(rec42, "QueueMemberPause", Interface=iface, Paused="0") - _at(
            rec42, "QueueMemberPause", Interface=iface, Paused="1")
        assert pauses.loc[("support", iface, "42 timeout"), "seconds"] == pytest.approx(span.total_seconds())
    states = A.agent_states(rec42)
    a3 = states[(states["interface"] == A3) & (states["queue"] == "support")]
    status = rec42[(rec42["Event"] == "QueueMemberStatus") & (rec42["Interface"].astype("str") == A3)]
    status = status[["received", "Status"]].astype({"Status": "str"}).sort_values("received")
    busy = 0.0
    since = None
    for t, st in status.itertuples(index=False):
        if st == "2" and since is None:
            since = t
        elif st != "2" and since is not None:
            busy += (t - since).total_seconds()
            since = None
    assert busy > 0 and a3[a3["state"] == "busy"]["seconds"].sum() == pytest.approx(busy)


def test_recording_46_state_from_queue_status_alone(rec46):
    """46 has events off: QueueStatus alone says agent1 and agent2 are paused in support ('46 snapshot') and
    agent3's device is in use (Status 2, ringing for a caller); each from the first item that shows it, flagged
    partial, with its member name."""
    states = A.agent_states(rec46)
    assert states["partial"].all()
    support = states[states["queue"] == "support"].groupby("interface")
    first = rec46[(rec46["Event"] == "QueueMember") & (rec46["Queue"].astype("str") == "support")]["received"].min()
    span = (rec46["received"].max() - first).total_seconds()
    for iface, want in ((A1, ("paused", "46 snapshot")), (A2, ("paused", "46 snapshot")), (A3, ("busy", ""))):
        seg = support.get_group(iface)
        assert set(zip(seg["state"], seg["reason"], strict=True)) == {want}
        assert seg["seconds"].sum() == pytest.approx(span)
    names = A.agents(rec46).set_index(["queue", "interface"])["member_name"]
    assert names[("support", A3)] == "Agent Three"
    # the same answer given as a live session's Response rows, stamped when it was asked
    snap = A.member_snapshot(rec46[rec46["Event"] == "QueueMember"], first)
    assert set(A.agent_states(snap)["state"]) <= {"paused", "busy", "idle"}


@pytest.fixture(scope="module")
def rec42() -> pd.DataFrame:
    return ami_nb.read_transcript(HERE / "42_queue_timeout.txt")


@pytest.fixture(scope="module")
def rec46() -> pd.DataFrame:
    return ami_nb.read_transcript(HERE / "46_queuesummary_waiting.txt")

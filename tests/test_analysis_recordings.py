"""ami_nb.analysis on the Asterisk 22.10.1 recordings 40-48 (tests/fixtures/transcripts, README there).

Every expected value comes from the recording itself: the event lines quoted in the comments (times are seconds
from the start of the recording, as ``received`` from its timeline gives them).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ami_nb import analysis as A
from ami_nb.recording import read_transcript

T = Path(__file__).parent / "fixtures" / "transcripts"


def _load(name: str) -> pd.DataFrame:
    return read_transcript(T / f"{name}.txt")


@pytest.fixture(scope="module")
def rec() -> dict[str, pd.DataFrame]:
    names = ["40_queue_answered", "41_queue_abandon", "42_queue_timeout", "43_queue_members", "44_blind_transfer",
             "45_attended_transfer", "48_events_timestamps"]  # fmt: skip
    return {n[:2]: _load(n) for n in names}


def _at(frame: pd.DataFrame, seconds: float) -> pd.Timestamp:
    return frame["received"].iloc[0] + pd.Timedelta(seconds=seconds)


def _row(c: pd.DataFrame, linkedid: str) -> pd.Series:
    return c.set_index("linkedid").loc[linkedid]


# -- answered_by: the endpoint at the end of the Local chain; the hop in its own column ------------------------
def test_queue_call_answered_by_the_members_endpoint(rec: dict[str, pd.DataFrame]) -> None:
    c = A.calls(rec["40"])
    # "AgentConnect Channel=Local/300@demo-0000001a;2 ... DestChannel=Local/agent1@agents-0000001b;1 Queue=support
    #  MemberName=Agent One Interface=Local/agent1@agents/n"; then "BridgeEnter Channel=Local/agent1@agents-0000001b;1"
    # and "BridgeEnter Channel=Local/300@demo-0000001a;2" (bridge 6b1e23e3..., NumChannels 2). The member's ;2 runs
    # the agents context itself (Answer, talk 3 s): the chain ends at that Local device.
    first = _row(c, "1796187355.52")
    assert (first["answered_by"], first["hop"], first["agent"]) == (
        "Local/agent1@agents",
        "Local/agent1@agents/n",
        "Agent One",
    )
    # The four callers: 5553001 Agent One, 5553002 Agent Two, 5553003 Agent One, 5553004 rang Agent Three
    # ("AgentCalled ... MemberName=Agent Three", no answer within the 5 s member timeout) and was then taken by
    # Agent One.
    assert c[["caller_num", "agent", "answered_by"]].values.tolist() == [
        ["5553001", "Agent One", "Local/agent1@agents"],
        ["5553002", "Agent Two", "Local/agent2@agents"],
        ["5553003", "Agent One", "Local/agent1@agents"],
        ["5553004", "Agent One", "Local/agent1@agents"],
    ]
    assert (c["disposition"] == "answered").all() and not c["in_progress"].any()


def test_nested_local_dial_is_answered_by_the_inner_endpoint(rec: dict[str, pd.DataFrame]) -> None:
    # 48: Originate Local/100@demo; 100's ;2 dials Local/200@demo ("DialBegin Channel=Local/100@demo-...;2
    # DestChannel=Local/200@demo-...;1"), and 200's ;2 answers in its own dialplan (Answer, Wait(2)).
    row = A.calls(rec["48"]).iloc[0]
    assert row["answered_by"] == "Local/200@demo" and pd.isna(row["hop"])
    assert row["caller_channel"] == "Local/100@demo" and row["caller_num"] == "5551000"


# -- answered means the caller was bridged ------------------------------------------------------------------------
def test_originate_leg_answering_is_not_an_answer(rec: dict[str, pd.DataFrame]) -> None:
    e = rec["42"]
    row = A.calls(e).iloc[0]
    # "DialEnd DestChannel=Local/300@demo-00000029;1 ... DialStatus=ANSWER" at +0.503: the Originate's leg answered,
    # but the caller sat in the queue until the timeout and was never bridged: not answered.
    assert row["disposition"] == "no answer" and pd.isna(row["answer"]) and pd.isna(row["answered_by"])
    assert row["queue_outcome"] == "timeout"


def test_answer_time_is_the_bridge(rec: dict[str, pd.DataFrame]) -> None:
    e = rec["44"]
    row = A.calls(e).iloc[0]
    # "DialEnd DestChannel=Local/2000@xfer-00000030;1 ... DialStatus=ANSWER" at +0.001 is the Originate's leg;
    # "BridgeEnter Channel=Local/2000@xfer-00000030;2 ... BridgeNumChannels=2" at +0.505 is the caller bridged.
    assert abs((row["answer"] - _at(e, 0.505)).total_seconds()) < 0.01


# -- queue outcomes as Asterisk reports them ------------------------------------------------------------------------
def test_timeout_is_not_an_abandon(rec: dict[str, pd.DataFrame]) -> None:
    # 42: "QueueCallerAbandon ... HoldTime=30" at +31.043, "QueueCallerLeave" at +31.045, then
    # "VarSet ... Variable=QUEUESTATUS Value=TIMEOUT": Queue()'s timeout, not the caller hanging up.
    q = A.queue_stats(rec["42"]).loc["support"]
    assert (q["offered"], q["answered"], q["abandoned"], q["timed_out"]) == (1, 0, 0, 1)
    s = A.queue_stints(rec["42"])
    assert s[["queue", "outcome", "partial"]].values.tolist() == [["support", "timeout", False]]
    assert s["wait"].iloc[0] == pytest.approx(31.045 - 1.005, abs=0.05)  # QueueCallerJoin at +1.005


def test_abandon_has_no_queuestatus(rec: dict[str, pd.DataFrame]) -> None:
    # 41: the driver hangs up the third caller; "QueueCallerAbandon Channel=Local/300@demo-00000027;2 ...
    # HoldTime=3", "QueueCallerLeave", then its Hangup, and no QUEUESTATUS VarSet.
    q = A.queue_stats(rec["41"]).loc["support"]
    assert (q["offered"], q["answered"], q["abandoned"], q["timed_out"]) == (3, 2, 1, 0)
    row = _row(A.calls(rec["41"]), "1796187381.78")
    assert (row["disposition"], row["queue_outcome"]) == ("abandoned", "abandon")


def test_queue_exit_without_a_seen_join(rec: dict[str, pd.DataFrame]) -> None:
    # 41 from just after the third caller's "QueueCallerJoin ... Uniqueid=1796187381.79" (+1.410): only its
    # "QueueCallerAbandon ... HoldTime=3" and "QueueCallerLeave" are seen.
    e = rec["41"]
    join = e.index[(e["Event"] == "QueueCallerJoin") & (e["Uniqueid"] == "1796187381.79")][0]
    late = e.loc[join + 1 :].reset_index(drop=True)
    s = A.queue_stints(late)
    mine = s[s["uniqueid"] == "1796187381.79"]
    assert mine[["queue", "outcome", "partial"]].values.tolist() == [["support", "abandon", True]]
    assert mine["wait"].iloc[0] == 3.0  # Asterisk's HoldTime, the join time being unknown
    assert pd.isna(mine["joined"].iloc[0])
    row = _row(A.calls(late), "1796187381.78")
    assert (row["disposition"], row["partial"], row["queue"]) == ("abandoned", True, "support")
    assert A.queue_stats(late).loc["support", "abandoned"] == 1


# -- transfers ------------------------------------------------------------------------------------------------------
def test_blind_transfer(rec: dict[str, pd.DataFrame]) -> None:
    e = rec["44"]
    row = A.calls(e).iloc[0]
    # "BlindTransfer ... Result=Success TransfererChannel=Local/2001@xfer-00000031;1
    #  TransfereeChannel=Local/2000@xfer-00000030;2 Extension=2100" at +2.007; 2100 dials Local/2101@xfer and
    # "BridgeEnter Channel=Local/2101@xfer-00000032;1" joins the transferee at +2.010 (2101 answers, talks 5 s).
    assert (row["transfer_type"], row["transferer"], row["transfer_target"]) == (
        "blind",
        "Local/2001@xfer",
        "Local/2101@xfer",
    )
    assert row["answered_by"] == "Local/2001@xfer"  # who answered first, before the transfer
    assert abs((row["transfer_time"] - _at(e, 2.007)).total_seconds()) < 0.01
    assert row["before_transfer"] == pytest.approx(2.007 - 0.505, abs=0.02)  # bridged at +0.505
    # the last "Hangup Channel=Local/2101@xfer-00000032;1" at +7.517
    assert row["after_transfer"] == pytest.approx(7.517 - 2.007, abs=0.02)
    assert pd.isna(row["transfer_linkedid"])  # one Linkedid throughout (1796187439.96)
    assert not row["in_progress"] and row["disposition"] == "answered"
    x = A.transfers(e)
    assert x[["transfer_type", "linkedid", "transferer", "transferee", "extension"]].values.tolist() == [
        ["blind", "1796187439.96", "Local/2001@xfer", "Local/2000@xfer", "2100"]
    ]


def test_attended_transfer(rec: dict[str, pd.DataFrame]) -> None:
    e = rec["45"]
    row = A.calls(e).iloc[0]
    # "AttendedTransfer Result=Success DestType=Bridge OrigTransfererChannel=Local/2001@xfer-00000034;1
    #  TransferTargetChannel=Local/2200@xfer-00000035;1" at +4.522, the target Up ("TransferTargetChannelStateDesc:
    # Up"): an attended transfer, not a blonde one.
    assert (row["transfer_type"], row["transferer"], row["transfer_target"]) == (
        "attended",
        "Local/2001@xfer",
        "Local/2200@xfer",
    )
    assert abs((row["transfer_time"] - _at(e, 4.522)).total_seconds()) < 0.01
    # the caller bridged at +0.516 ("BridgeEnter Channel=Local/2000@xfer-00000033;2 ... NumChannels=2"); the last
    # "Hangup Channel=Local/2000@xfer-00000033;1" at +23.042
    assert row["before_transfer"] == pytest.approx(4.522 - 0.516, abs=0.02)
    assert row["after_transfer"] == pytest.approx(23.042 - 4.522, abs=0.02)
    assert abs((row["end"] - _at(e, 23.042)).total_seconds()) < 0.01 and not row["in_progress"]
    assert row["channels"] == 6 and row["answered_by"] == "Local/2001@xfer"


# -- click-to-dial (Originate): the A party is the caller ---------------------------------------------------------
def test_originate_caller_is_the_a_party(rec: dict[str, pd.DataFrame]) -> None:
    # 44's Originate: "Channel: Local/2000@xfer", "CallerID: Xfer Caller 1 <5552001>"; B (2001) is shown
    # "CallerIDNum=2000" on its ;1 ("Newstate Channel=Local/2001@xfer-00000031;1 ... CallerIDNum=2000"), which is
    # not the caller.
    row = A.calls(rec["44"]).iloc[0]
    assert (row["caller_channel"], row["caller_num"], row["caller_name"], row["dialled"]) == (
        "Local/2000@xfer",
        "5552001",
        "Xfer Caller 1",
        "2000",
    )
    # 43: the driver's Originate of Local/agent1@agents to the application Wait(5): answered by its own dialplan.
    row = A.calls(rec["43"]).iloc[0]
    assert (row["caller_channel"], row["disposition"], row["in_progress"]) == ("Local/agent1@agents", "answered", False)


# -- a call through several queues (a hand-written stream, app_queue's event order as in 40-42) -------------------
def _stream(events: list[dict[str, str]]) -> pd.DataFrame:
    t0 = pd.Timestamp("2027-01-01 09:00", tz="UTC")
    return pd.DataFrame([{"received": t0 + pd.Timedelta(seconds=i), **e} for i, e in enumerate(events)])


def _ch(uid: str, name: str, **kw: str) -> dict[str, str]:
    return {"Uniqueid": uid, "Linkedid": "1.1", "Channel": name, **kw}


ALICE = ("1.1", "PJSIP/alice-00000001")
BOB = ("1.2", "PJSIP/bob-00000002")


def _through(first: list[dict[str, str]], second: list[dict[str, str]]) -> pd.DataFrame:
    return _stream(
        [
            {"Event": "Newchannel", **_ch(*ALICE, CallerIDNum="2001", Exten="300", ChannelStateDesc="Ring")},
            *first,
            *second,
            {"Event": "Hangup", **_ch(*ALICE, Cause="16")},
        ]
    )


TIMEOUT_IN_SUPPORT = [
    {"Event": "Newexten", **_ch(*ALICE, Application="Queue", AppData="support,t,,,30")},
    {"Event": "QueueCallerJoin", **_ch(*ALICE, Queue="support", Position="1", Count="1")},
    {"Event": "QueueCallerAbandon", **_ch(*ALICE, Queue="support", HoldTime="30")},
    {"Event": "QueueCallerLeave", **_ch(*ALICE, Queue="support")},
    {"Event": "VarSet", **_ch(*ALICE, Variable="QUEUESTATUS", Value="TIMEOUT")},
]
ANSWERED_IN_SALES = [
    {"Event": "Newexten", **_ch(*ALICE, Application="Queue", AppData="sales,t")},
    {"Event": "QueueCallerJoin", **_ch(*ALICE, Queue="sales", Position="1", Count="1")},
    {"Event": "Newchannel", **_ch(*BOB, ChannelStateDesc="Down")},
    {"Event": "QueueCallerLeave", **_ch(*ALICE, Queue="sales")},
    {"Event": "AgentConnect", **_ch(*ALICE, Queue="sales", MemberName="Bob", Interface="PJSIP/bob", HoldTime="1")},
    {"Event": "BridgeEnter", **_ch(*BOB, BridgeUniqueid="b1")},
    {"Event": "BridgeEnter", **_ch(*ALICE, BridgeUniqueid="b1")},
    {"Event": "BridgeLeave", **_ch(*BOB, BridgeUniqueid="b1")},
    {"Event": "Hangup", **_ch(*BOB, Cause="16")},
    {"Event": "BridgeLeave", **_ch(*ALICE, BridgeUniqueid="b1")},
]


def test_every_stint_is_kept_and_the_last_decides() -> None:
    e = _through(TIMEOUT_IN_SUPPORT, ANSWERED_IN_SALES)
    s = A.queue_stints(e)
    assert s[["stint", "queue", "outcome"]].values.tolist() == [[1, "support", "timeout"], [2, "sales", "answered"]]
    row = A.calls(e).iloc[0]
    assert (row["disposition"], row["queue"], row["queues"], row["agent"], row["answered_by"], row["hop"]) == (
        "answered",
        "sales",
        "support>sales",
        "Bob",
        "PJSIP/bob",
        "PJSIP/bob",
    )
    q = A.queue_stats(e)
    assert q[["offered", "answered", "timed_out", "abandoned"]].to_dict("index") == {
        "sales": {"offered": 1, "answered": 1, "timed_out": 0, "abandoned": 0},
        "support": {"offered": 1, "answered": 0, "timed_out": 1, "abandoned": 0},
    }


def test_answered_only_if_the_last_stint_was() -> None:
    abandon_in_support = [
        {"Event": "QueueCallerJoin", **_ch(*ALICE, Queue="support", Position="1", Count="1")},
        {"Event": "QueueCallerAbandon", **_ch(*ALICE, Queue="support", HoldTime="4")},
        {"Event": "QueueCallerLeave", **_ch(*ALICE, Queue="support")},
    ]
    e = _through(ANSWERED_IN_SALES, abandon_in_support)
    row = A.calls(e).iloc[0]
    assert (row["disposition"], row["queue"], row["queue_outcome"], row["queues"]) == (
        "abandoned",
        "support",
        "abandon",
        "sales>support",
    )


def test_refused_at_the_door() -> None:
    # Queue() with joinempty: no QueueCallerJoin at all, only QUEUESTATUS=JOINEMPTY (app_queue's join_queue()).
    refused = [
        {"Event": "Newexten", **_ch(*ALICE, Application="Queue", AppData="sales")},
        {"Event": "VarSet", **_ch(*ALICE, Variable="QUEUESTATUS", Value="JOINEMPTY")},
    ]
    e = _through(TIMEOUT_IN_SUPPORT, refused)
    s = A.queue_stints(e)
    assert s[["queue", "outcome", "wait"]].values.tolist()[1] == ["sales", "joinempty", 0.0]
    assert A.queue_stats(e).loc["sales", ["offered", "join_empty"]].tolist() == [1, 1]
    assert A.calls(e).iloc[0]["disposition"] == "no answer"

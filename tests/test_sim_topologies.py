"""Topologies of real PBXs in the simulator (ring group, follow-me, queue members as Local -> SIP phones,
attended and blonde transfers, pickup, click-to-dial): their events have the shapes Asterisk gives them, and
the ground truth says what happened (the expectations are the scenarios' definitions, checked on the events).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from rawclient import RawAMI

from ami_nb.protocol import Message
from ami_nb.sim import start, traffic
from ami_nb.sim.model import PBX
from ami_nb.sim.state import GROUND_TRUTH_COLUMNS

T0 = 1_800_000_000.0


def _run(kind: str, **options: Any) -> tuple[list[tuple[float, str, dict[str, str]]], PBX]:
    events: list[tuple[float, str, dict[str, str]]] = []
    pbx = PBX(lambda name, priv, pairs, now: events.append((now, name, dict(pairs))), seed=3, start_time=T0)
    pbx.sched.add(traffic.scenario(pbx, kind, **options))
    pbx.sched.run_until(T0 + 600)
    assert not pbx.linked and not pbx.channels  # every channel ended
    return events, pbx


def _named(events: list[tuple[float, str, dict[str, str]]], name: str) -> list[dict[str, str]]:
    return [f for _, n, f in events if n == name]


def _balanced(events: list[tuple[float, str, dict[str, str]]], *, dials: bool = True) -> None:
    def count(name: str, *keys: str) -> Counter[tuple[str, ...]]:
        return Counter(tuple(f[k] for k in keys) for f in _named(events, name))

    assert count("Newchannel", "Uniqueid") == count("Hangup", "Uniqueid")
    if dials:
        assert count("DialBegin", "DestUniqueid") == count("DialEnd", "DestUniqueid")
    assert count("BridgeEnter", "BridgeUniqueid", "Uniqueid") == count("BridgeLeave", "BridgeUniqueid", "Uniqueid")
    assert count("BridgeCreate", "BridgeUniqueid") == count("BridgeDestroy", "BridgeUniqueid")


def test_ring_group_rings_all_through_local_channels_one_answers() -> None:
    events, pbx = _run("ringgroup", members=3, answer=1)
    _balanced(events)
    (rec,) = pbx.calls.values()
    caller = rec.caller_channel
    ends = [(f["Channel"], f["DestChannel"], f["DialStatus"]) for f in _named(events, "DialEnd")]
    outer = [e for e in ends if e[0] == caller]
    inner = [e for e in ends if e[0].startswith("Local/") and e[1].startswith("PJSIP/")]
    assert sorted(s for *_, s in outer) == ["ANSWER", "CANCEL", "CANCEL"]
    assert sorted(s for *_, s in inner) == ["ANSWER", "CANCEL", "CANCEL"]
    answered_inner = next(e for e in inner if e[2] == "ANSWER")
    answered_outer = next(e for e in outer if e[2] == "ANSWER")
    assert answered_outer[1].startswith("Local/") and answered_outer[1].endswith(";1")
    assert ends.index(answered_inner) < ends.index(answered_outer)  # the inner answer comes first
    assert answered_inner[0].split(";")[0] == answered_outer[1].split(";")[0]  # the same Local pair
    phone = answered_inner[1].rsplit("-", 1)[0]
    assert (rec.disposition, rec.answered_by) == ("answered", phone)
    assert rec.hop == answered_outer[1].rsplit("-", 1)[0]
    causes = {f["Channel"]: f["Cause"] for f in _named(events, "Hangup")}
    cancelled = [d for c, d, s in inner if s == "CANCEL"]
    assert {causes[d] for d in cancelled} == {"26"}  # answered elsewhere
    # every channel of the call is one Linkedid
    assert {f["Linkedid"] for f in _named(events, "Newchannel")} == {rec.linkedid}


@pytest.mark.parametrize("accept", [True, False])
def test_follow_me_answered_only_when_the_caller_is_bridged(accept: bool) -> None:
    events, pbx = _run("followme", accept=accept)
    _balanced(events)
    (rec,) = pbx.calls.values()
    ends = [(f["Channel"], f["DestChannel"], f["DialStatus"]) for f in _named(events, "DialEnd")]
    trunk = [e for e in ends if e[1].startswith("PJSIP/trunk-")]
    assert [e[2] for e in trunk] == ["ANSWER"]  # the mobile answered in both cases
    caller_bridged = any(f["Channel"] == rec.caller_channel for f in _named(events, "BridgeEnter"))
    assert caller_bridged == accept
    assert rec.disposition == ("answered" if accept else "no answer")
    assert rec.answered_by == ("PJSIP/trunk" if accept else None)
    assert (rec.answer is not None) == accept


def test_queue_members_are_local_channels_to_sip_phones() -> None:
    events, pbx = _run("queue_phones", no_answer=1)
    _balanced(events)
    (rec,) = pbx.calls.values()
    names = [n for _, n, _ in events]
    called = _named(events, "AgentCalled")
    assert [f["MemberName"] for f in called] == ["Agent One", "Agent Two"]
    (rna,) = _named(events, "AgentRingNoAnswer")
    assert (rna["MemberName"], rna["RingTime"]) == ("Agent One", "5000")  # the member timeout
    assert names.index("QueueCallerLeave") < names.index("AgentConnect")
    (connect,) = _named(events, "AgentConnect")
    assert connect["DestChannel"].startswith("Local/agent2@agents-") and connect["DestChannel"].endswith(";1")
    # the chain: caller -> Local ;1 ... Local ;2 -> PJSIP/agent2, which answered
    inner = [f for f in _named(events, "DialEnd") if f["DialStatus"] == "ANSWER" and f["Channel"].startswith("Local")]
    assert [f["DestChannel"].rsplit("-", 1)[0] for f in inner] == ["PJSIP/agent2"]
    assert inner[0]["Channel"] == connect["DestChannel"].replace(";1", ";2")
    assert (rec.answered_by, rec.hop, rec.agent) == ("PJSIP/agent2", "Local/agent2@agents/n", "Agent Two")
    assert [(s["queue"], s["outcome"], s["member"]) for s in rec.queue_stints] == [
        ("support", "answered", "Agent Two")]
    status: dict[tuple[str, str], list[str]] = {}
    for f in _named(events, "QueueMemberStatus"):  # in every queue the member is in (agent2: support, sales)
        status.setdefault((f["MemberName"], f["Queue"]), []).append(f["Status"])
    assert status == {("Agent One", "support"): ["2", "1"], ("Agent Two", "support"): ["2", "1"],
                      ("Agent Two (sales)", "sales"): ["2", "1"]}


@pytest.mark.parametrize("kind", ["attended", "blonde"])
def test_transfer_moves_the_target_to_the_other_linkedid(kind: str) -> None:
    events, pbx = _run(kind)
    _balanced(events)
    orig, consult = pbx.calls.values()
    (xfer,) = _named(events, "AttendedTransfer")
    assert xfer["DestType"] == ("Bridge" if kind == "attended" else "App")
    assert xfer["OrigTransfererLinkedid"] == orig.linkedid and xfer["SecondTransfererLinkedid"] == consult.linkedid
    target = next(f for f in _named(events, "Newchannel") if f["Linkedid"] == consult.linkedid
                  and f["Channel"] != xfer["SecondTransfererChannel"])
    (gone,) = [f for f in _named(events, "Hangup") if f["Uniqueid"] == target["Uniqueid"]]
    assert gone["Linkedid"] == orig.linkedid  # created under the consultation call, ended under the original
    # the caller ends up bridged with the target
    caller_bridges = {f["BridgeUniqueid"] for f in _named(events, "BridgeEnter") if f["Channel"] == orig.caller_channel}
    target_bridges = {f["BridgeUniqueid"] for f in _named(events, "BridgeEnter") if f["Uniqueid"] == target["Uniqueid"]}
    assert caller_bridges & target_bridges
    ends = {f["Uniqueid"]: t for t, n, f in events if n == "Hangup"}
    for rec in (orig, consult):
        assert rec.transfer_type == kind and rec.transferred
        assert rec.transferer == xfer["OrigTransfererChannel"].rsplit("-", 1)[0]
        assert rec.transfer_target == target["Channel"].rsplit("-", 1)[0]
        assert rec.end == ends[target["Uniqueid"]]  # both calls end when the target hangs up
    assert orig.other_linkedid == consult.linkedid and consult.other_linkedid == orig.linkedid
    assert consult.linkedids == [consult.linkedid, orig.linkedid]
    assert orig.transfer_time == next(t for t, n, _ in events if n == "AttendedTransfer")
    # the consultation call is answered only if B was bridged to C before it transferred
    assert (consult.disposition, consult.answered_by) == (
        ("answered", orig.transfer_target) if kind == "attended" else ("no answer", None))
    if kind == "blonde":  # C was still ringing at the transfer
        answered = next(t for t, n, f in events if n == "Newstate" and f["Uniqueid"] == target["Uniqueid"]
                        and f["ChannelState"] == "6")
        assert answered > orig.transfer_time


def test_pickup_answers_for_another_phone() -> None:
    events, pbx = _run("pickup")
    _balanced(events, dials=False)  # the masquerade swaps identities: DialEnd names the picker's channel
    begin, end = _named(events, "DialBegin"), _named(events, "DialEnd")
    assert len(begin) == len(end) == 1 and end[0]["DestUniqueid"] != begin[0]["DestUniqueid"]
    (rec,) = pbx.calls.values()
    (pick,) = _named(events, "Pickup")
    assert pick["Linkedid"] != rec.linkedid and pick["TargetLinkedid"] == rec.linkedid
    assert (rec.disposition, rec.answered_by) == ("answered", pick["Channel"].rsplit("-", 1)[0])
    assert rec.answered_by != pick["TargetChannel"].rsplit("-", 1)[0]  # not the phone that rang
    assert rec.linkedids == [rec.linkedid, pick["Linkedid"]]
    (picker_end,) = [f for f in _named(events, "Hangup") if f["Uniqueid"] == pick["Uniqueid"]]
    assert picker_end["Linkedid"] == rec.linkedid


@pytest.mark.parametrize("b_busy", [False, True])
def test_click_to_dial_a_leg_first_then_b_with_a_as_caller(b_busy: bool) -> None:
    events, pbx = _run("click2dial", b_busy=b_busy)
    _balanced(events)
    (rec,) = pbx.calls.values()
    first = _named(events, "Newchannel")[0]
    assert first["Channel"] == rec.caller_channel
    names = [n for _, n, _ in events]
    assert names.index("OriginateResponse") < names.index("DialBegin")  # A answered before B is dialled
    (begin,) = _named(events, "DialBegin")
    assert begin["Channel"] == rec.caller_channel and begin["CallerIDNum"] == rec.caller
    assert first["CallerIDNum"] != rec.caller  # the A leg first showed B's number
    assert rec.disposition == ("busy" if b_busy else "answered")
    assert rec.answered_by == (None if b_busy else begin["DestChannel"].rsplit("-", 1)[0])


def test_topologies_over_the_wire_and_in_ground_truth() -> None:
    with start(seed=9, time_scale=math.inf, timestampevents=True, start_time=T0) as pbx, \
            RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        ids = [pbx.call(kind) for kind in ("ringgroup", "attended", "pickup", "click2dial", "queue_phones")]
        c.wait_event(lambda m: m.event == "Hangup" and pbx.active_calls == 0, 20)
        c.drain(0.3)
        truth = pbx.ground_truth()
        mine: list[Message] = c.events()
    assert list(truth.columns) == GROUND_TRUTH_COLUMNS
    assert set(ids) <= set(truth["linkedid"])
    assert truth["finished"].all() and (truth["disposition"] == "answered").all()
    assert set(truth["scenario"]) == {"ringgroup", "attended", "attended-consult", "pickup", "click2dial",
                                      "queue_phones"}
    assert {m.event for m in mine} >= {"AttendedTransfer", "Pickup", "AgentConnect", "OriginateResponse"}
    row = truth.set_index("scenario").loc["attended"]
    assert row["transfer_type"] == "attended" and row["transfer_time"] is not None

"""Traffic scenarios of the simulated PBX: calls between PJSIP phones, through the queue, transfers.

No recording of queue or transfer calls exists, so their events follow Asterisk 22's documented AMI events
(``AgentCalled``, ``AgentConnect``, ``AgentComplete``, ``QueueCallerJoin``/``Leave``/``Abandon``,
``BlindTransfer``), built from the same channel primitives as the recorded calls. Durations are drawn from the
:class:`~ami_nb.sim.state.Traffic` options with the PBX's seeded random generator.

Functions of a :class:`~ami_nb.sim.model.PBX` (its channel primitives do the events): :func:`scenario` makes one
call, :func:`start_traffic` / :func:`stop_traffic` run Poisson arrivals, :func:`queue_changed` re-offers agents.
"""

from __future__ import annotations

from typing import Any

from . import topologies
from .model import PBX
from .scheduler import Scenario, Signal
from .state import (
    AGENT,
    CALL,
    DISPOSITION,
    FIRST_NAMES,
    USERS,
    Bridge,
    Channel,
    Member,
    Queue,
)


# -- traffic scenarios (PJSIP phones; durations from the traffic options) -------------------------------------------
def _exp(pbx: PBX, mean: float, lo: float = 0.0) -> float:
    return max(lo, pbx.rng.expovariate(1.0 / mean)) if mean > 0 else lo


def _party(pbx: PBX) -> tuple[str, str, str]:
    i = pbx.rng.randrange(len(USERS))
    return USERS[i], FIRST_NAMES[i], f"{2000 + i}"


def scenario(pbx: PBX, kind: str, *, caller: str | None = None, callee: str | None = None,
             talk: float | None = None, ring: float | None = None,
             patience: float | None = None, **options: Any) -> Scenario:
    """One call of the given kind (see :data:`DEFAULT_MIX`); ``patience`` (queue calls) is how long the
    caller waits for an agent before hanging up (drawn when not given). The topologies of
    :mod:`~ami_nb.sim.topologies` (``ringgroup``, ``followme``, ``queue_phones``, ``attended``, ``blonde``,
    ``pickup``, ``click2dial``) take their own options."""
    if kind in topologies.SCENARIOS:
        extra = {k: v for k, v in (("talk", talk), ("ring", ring)) if v is not None}
        return topologies.scenario(pbx, kind, **extra, **options)
    if options:
        raise TypeError(f"scenario {kind!r} does not take {sorted(options)}")
    t = pbx.traffic
    cu, cname, cnum = _party(pbx)
    if caller:
        cu, cname, cnum = caller, caller.capitalize(), f"{2000 + (sum(map(ord, caller)) % 100)}"
    du, _, dnum = _party(pbx)
    while du == cu:
        du, _, dnum = _party(pbx)
    if callee:
        du, dnum = callee, f"{2000 + (sum(map(ord, callee)) % 100)}"
    talk = _exp(pbx, t.talk_mean, t.talk_min) if talk is None else talk
    ring = _exp(pbx, t.ring_mean, 1.0) if ring is None else ring
    if kind in ("queue", "abandon"):
        return _queue_call(pbx, kind, cu, cname, cnum, talk, ring, patience)
    if kind not in DISPOSITION:
        raise ValueError(f"unknown scenario {kind!r}; known: {sorted(DISPOSITION)}")
    return _direct_call(pbx, kind, cu, cname, cnum, du, dnum, talk, ring)


def _caller_leg(pbx: PBX, user: str, name: str, num: str, exten: str, scenario: str, callee: str) -> Channel:
    ch = pbx.phone(user, "from-internal", exten, state=4)
    ch.cid_num, ch.cid_name = num, name
    pbx.record(ch, num, callee, scenario)
    pbx.newexten(ch, "NoOp", f"Call from {num} to {exten}", priority=1)
    return ch


def _dial_phone(pbx: PBX, caller: Channel, user: str, num: str) -> Channel:
    pbx.newexten(caller, "Dial", f"PJSIP/{user},30", priority=2)
    for var in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME"):
        pbx.varset(caller, var, "")
    dest = pbx.phone(user, "from-internal", caller.exten, linkedid=caller.linkedid)
    dest.dialed = True
    dest.cid_num, dest.cid_name = num, user.capitalize()
    pbx.set_connected(dest, caller.cid_num, caller.cid_name)
    pbx.dial_begin(caller, dest, user)
    return dest


def _direct_call(pbx: PBX, kind: str, cu: str, cname: str, cnum: str, du: str, dnum: str, talk: float,
                 ring: float) -> Scenario:
    caller = _caller_leg(pbx, cu, cname, cnum, dnum, kind, dnum)
    rec = caller.call
    assert rec is not None
    yield 0.05
    dest = _dial_phone(pbx, caller, du, dnum)
    if kind == "congestion":
        yield 0.1
        pbx.dial_end(caller, dest, "CONGESTION")
        pbx.hangup(dest, 34, request=False, h_exten=False)
        pbx.varset(caller, "DIALSTATUS", "CONGESTION")
        rec.disposition, rec.hangup_cause = "failed", 34
        yield 0.5
        pbx.hangup(caller, 34, request=False, dialstatus="CONGESTION", disposition="FAILED")
        return
    if kind == "busy":
        yield 0.3
        pbx.newstate(dest, 7)
        pbx.dial_end(caller, dest, "BUSY")
        pbx.hangup(dest, 17, request=False, h_exten=False)
        pbx.varset(caller, "DIALSTATUS", "BUSY")
        rec.disposition, rec.hangup_cause = "busy", 17
        yield 0.5
        pbx.hangup(caller, 17, request=False, dialstatus="BUSY", disposition="BUSY")
        return
    pbx.newstate(dest, 5)
    pbx.dial_state(caller, dest, "RINGING")
    pbx.newstate(caller, 5)
    if kind == "noanswer":
        yield 30.0
        pbx.dial_end(caller, dest, "NOANSWER")
        pbx.hangup(dest, 19, request=False, h_exten=False)
        pbx.varset(caller, "DIALSTATUS", "NOANSWER")
        rec.disposition, rec.hangup_cause = "no answer", 19
        pbx.hangup(caller, 19, request=False, dialstatus="NOANSWER")
        return
    yield ring
    pbx.cel(dest, "ANSWER")
    pbx.newstate(dest, 6)
    pbx.cel(caller, "ANSWER")
    pbx.newstate(caller, 6)
    rec.answer = pbx.now
    rec.disposition = "answered"
    rec.answered_by = dest.device
    pbx.dial_end(caller, dest, "ANSWER")
    b = pbx.bridge_create()
    pbx.bridge_enter(b, dest)
    pbx.bridge_enter(b, caller, peer=dest)
    if kind == "transfer":
        yield max(1.0, talk * 0.3)
        yield from _blind_transfer(pbx, caller, dest, b, talk * 0.7)
        return
    yield talk
    first, second = (caller, dest) if pbx.rng.random() < 0.5 else (dest, caller)
    rec.hangup_cause = 16
    pbx.hangup(first, 16, dest_channel=dest.name if first is caller else "")
    pbx.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
    pbx.hangup(second, 16, request=False, dest_channel=dest.name if second is caller else "")


def _blind_transfer(pbx: PBX, caller: Channel, dest: Channel, b: Bridge, talk: float) -> Scenario:
    """``dest`` blind-transfers ``caller`` to a third phone: BlindTransfer, then the caller moves."""
    rec = caller.call
    assert rec is not None
    tu, _, tnum = _party(pbx)
    while tu in (dest.name.split("/")[1].split("-")[0], caller.name.split("/")[1].split("-")[0]):
        tu, _, tnum = _party(pbx)
    pbx.emit("BlindTransfer", CALL, [
        ("Result", "Success"),
        *dest.snapshot("Transferer"),
        *caller.snapshot("Transferee"),
        *[(k, v) for k, v in b.fields()],
        ("IsExternal", "No"),
        ("Context", "from-internal"),
        ("Extension", tnum),
    ])
    rec.transfer("blind", dest.device, f"PJSIP/{tu}", pbx.now)
    pbx.bridge_leave(caller)
    pbx.hangup(dest, 16, dest_channel="")
    pbx.newexten(caller, "Dial", f"PJSIP/{tu},30", priority=1, exten=tnum, context="from-internal")
    target = pbx.phone(tu, "from-internal", tnum, linkedid=caller.linkedid)
    target.dialed = True
    pbx.dial_begin(caller, target, tu)
    pbx.newstate(target, 5)
    yield _exp(pbx, pbx.traffic.ring_mean, 1.0)
    pbx.cel(target, "ANSWER")
    pbx.newstate(target, 6)
    pbx.dial_end(caller, target, "ANSWER")
    rec.callee = tnum
    b2 = pbx.bridge_create()
    pbx.bridge_enter(b2, target)
    pbx.bridge_enter(b2, caller, peer=target)
    yield max(1.0, talk)
    rec.hangup_cause = 16
    pbx.hangup(caller, 16, dest_channel=target.name)
    pbx.emit("HangupRequest", CALL, [*target.snapshot(), ("Cause", "16")])
    pbx.hangup(target, 16, request=False)


def _queue_call(pbx: PBX, kind: str, cu: str, cname: str, cnum: str, talk: float, ring: float,
                patience: float | None = None) -> Scenario:
    """A caller in the queue, served as app_queue serves it with ``autofill=yes``.

    Waiting callers are offered free agents in order of arrival (:func:`_queue_dispatch`), the agent chosen by
    the queue's strategy. Every caller draws a patience (exponential; ``abandon`` callers are the impatient
    ones, mean ``patience_mean``, ``queue`` callers mean ``queue_patience_mean``) that races being answered
    and the queue's timeout: answered (AgentConnect), abandoned (QueueCallerAbandon, also while an agent
    rings) or timed out (QueueCallerLeave after ``queue_timeout``, disposition ``no answer``)."""
    t = pbx.traffic
    q = pbx.queues.get(t.queue) or next(iter(pbx.queues.values()))
    caller = _caller_leg(pbx, cu, cname, cnum, "300", kind, q.name)
    rec = caller.call
    assert rec is not None
    rec.queue = q.name
    if patience is None:
        mean = t.patience_mean if kind == "abandon" else t.queue_patience_mean
        patience = _exp(pbx, mean, 2.0)
    yield 0.05
    pbx.newexten(caller, "Answer", "", priority=2)
    pbx.cel(caller, "ANSWER")
    pbx.newstate(caller, 6)
    pbx.newexten(caller, "Queue", f"{q.name},rt,,,300", priority=3)
    q.callers.append(caller)
    offered = Signal()
    q.offers[caller] = offered
    joined = pbx.now
    rec.stint(q.name, joined)
    pbx.emit("QueueCallerJoin", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                         ("Position", str(len(q.callers))), ("Count", str(len(q.callers)))])
    gives_up = joined + patience
    times_out = joined + t.queue_timeout
    deadline = min(gives_up, times_out)
    _queue_dispatch(pbx, q)
    member: Member | None = q.assigned.get(caller)
    while member is None and pbx.now < deadline - 1e-9:
        yield (offered, deadline - pbx.now)
        member = q.assigned.get(caller)
    agent_ch: Channel | None = None
    if member is not None:  # an agent is free for this caller: ring it; the caller may still give up
        agent_ch = _queue_ring(pbx, q, caller, member)
        if deadline < pbx.now + ring - 1e-9:
            yield max(0.0, deadline - pbx.now)
            pbx.dial_end(caller, agent_ch, "CANCEL")
            pbx.hangup(agent_ch, 16, request=False, h_exten=False)
            q.assigned.pop(caller, None)
            member.in_call = False
            agent_ch = None
        else:
            yield ring
            if agent_ch.peer is not None:  # the agent's Local ;2 answers, then ;1 is up
                pbx.cel(agent_ch.peer, "ANSWER")
                pbx.newstate(agent_ch.peer, 6)
            pbx.cel(agent_ch, "ANSWER")
            pbx.newstate(agent_ch, 6)
            pbx.dial_end(caller, agent_ch, "ANSWER")
            hold = pbx.now - joined
            pbx.emit("AgentConnect", AGENT, [*caller.snapshot(), *agent_ch.snapshot("Dest"),
                                              ("Queue", q.name), ("MemberName", member.name),
                                              ("Interface", member.interface), ("RingTime", str(int(ring))),
                                              ("HoldTime", str(int(hold)))])
    pos = q.callers.index(caller) + 1
    q.callers.remove(caller)
    q.offers.pop(caller, None)
    q.assigned.pop(caller, None)
    if agent_ch is None or member is None:
        hold = pbx.now - joined
        abandoned = gives_up <= times_out
        # app_queue's record_abandoned() runs for a timeout too (recording 42): QueueCallerAbandon with
        # HoldTime = the wait, QueueCallerLeave, then QUEUESTATUS=TIMEOUT tells the two apart
        q.abandoned += 1
        pbx.emit("QueueCallerAbandon", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                                ("Position", str(pos)), ("OriginalPosition", str(pos)),
                                                ("HoldTime", str(int(hold)))])
        pbx.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                              ("Position", str(pos)), ("Count", str(len(q.callers)))])
        if not abandoned:
            pbx.varset(caller, "QUEUESTATUS", "TIMEOUT")
        queue_changed(pbx, q)
        rec.disposition, rec.hangup_cause = ("abandoned" if abandoned else "no answer"), 16
        rec.end_stint(pbx.now, "abandon" if abandoned else "timeout")
        pbx.hangup(caller, 16)
        return
    pbx.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                          ("Position", str(pos)), ("Count", str(len(q.callers)))])
    queue_changed(pbx, q)
    rec.answer = pbx.now
    rec.agent = member.name
    rec.callee = member.interface
    rec.disposition = "answered"
    rec.answered_by = member.state_interface
    rec.hop = member.interface
    rec.end_stint(pbx.now, "answered", member.name)
    hold = pbx.now - joined
    b = pbx.bridge_create()
    pbx.bridge_enter(b, agent_ch)
    pbx.bridge_enter(b, caller, peer=agent_ch)
    yield talk
    by_caller = pbx.rng.random() < 0.5
    q.completed += 1
    q.holdtime += hold
    q.talktime += talk
    member.calls_taken += 1
    member.last_call = int(pbx.now)
    pbx.emit("AgentComplete", AGENT, [*caller.snapshot(), *agent_ch.snapshot("Dest"), ("Queue", q.name),
                                       ("MemberName", member.name), ("Interface", member.interface),
                                       ("HoldTime", str(int(hold))), ("TalkTime", str(int(talk))),
                                       ("Reason", "caller" if by_caller else "agent")])
    rec.hangup_cause = 16
    first, second = (caller, agent_ch) if by_caller else (agent_ch, caller)
    pbx.hangup(first, 16)
    pbx.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
    pbx.hangup(second, 16, request=False)
    member.in_call = False
    queue_changed(pbx, q)


def _queue_dispatch(pbx: PBX, q: Queue) -> None:
    """Offer free agents to the waiting callers, first come first served (app_queue with autofill=yes):
    each free, unpaused member goes to the longest-waiting caller without one, picked by the strategy."""
    members = _agents(pbx, q)
    for caller in q.callers:
        if caller in q.assigned or caller not in q.offers:
            continue
        free = [m for m in members if not m.in_call and not m.paused]
        if not free:
            return
        member = free[q.rr % len(free)]
        q.rr += 1
        member.in_call = True
        q.assigned[caller] = member
        pbx.sched.fire(q.offers[caller])


def queue_changed(pbx: PBX, q: Queue) -> None:
    """Something changed in ``q`` (an agent is free, a caller left, a pause changed): offer the free agents
    to the waiting callers and wake whoever waits on the queue."""
    _queue_dispatch(pbx, q)
    sig, q.changed = q.changed, Signal()
    pbx.sched.fire(sig)


def _agents(pbx: PBX, q: Queue) -> list[Member]:
    """The members taking traffic: the configured ones, plus dynamic agents up to ``traffic.agents``.

    A queue holds an interface once (app_queue keys its members by interface; QueueAdd of one already there
    fails), so a new agent takes the lowest ``agentN`` the queue does not have yet (``sales`` has agent2)."""
    want = max(1, pbx.traffic.agents)
    i = 0
    while len(q.members) < want and q.name == pbx.traffic.queue:
        i += 1
        if any(m.interface == f"Local/agent{i}@agents/n" for m in q.members):
            continue
        q.members.append(Member(q.name, f"Agent {i}", f"Local/agent{i}@agents/n", f"Local/agent{i}@agents",
                                membership="dynamic", login_time=int(pbx.now)))
    return q.members[:want]


def _queue_ring(pbx: PBX, q: Queue, caller: Channel, member: Member) -> Channel:
    iface = member.interface.removesuffix("/n")
    _, _, rest = iface.partition("/")
    exten, _, ctx = rest.partition("@")
    one, two = pbx.local_pair(exten, ctx or "agents", linkedid=caller.linkedid)
    for ch in (one, two):
        ch.dialed = True
        ch.cid_num, ch.cid_name = caller.cid_num, caller.cid_name
    pbx.newexten(one, "AppQueue", "(Outgoing Line)")
    pbx.local_bridge(one, two)
    pbx.emit("AgentCalled", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", q.name),
                                     ("MemberName", member.name), ("Interface", member.interface)])
    pbx.dial_begin(caller, one, iface.partition("/")[2])
    pbx.newstate(one, 5)
    return one


# -- continuous traffic ---------------------------------------------------------------------------------------------
def pick_kind(pbx: PBX) -> str:
    mix = {k: w for k, w in pbx.traffic.mix.items() if w > 0}
    r = pbx.rng.random() * sum(mix.values())
    for k, w in mix.items():
        r -= w
        if r <= 0:
            return k
    return next(iter(mix))


def traffic_source(pbx: PBX, until: float | None = None) -> Scenario:
    """Poisson arrivals at ``traffic.rate`` calls per simulated hour, until ``until`` or stopped."""
    gen = pbx._traffic_gen
    while pbx.traffic_running and gen == pbx._traffic_gen:
        gap = pbx.rng.expovariate(pbx.traffic.rate / 3600.0) if pbx.traffic.rate > 0 else 3600.0
        if until is not None and pbx.now + gap > until:
            return
        yield gap
        if not pbx.traffic_running or gen != pbx._traffic_gen:
            return
        pbx.sched.add(scenario(pbx, pick_kind(pbx)))


def start_traffic(pbx: PBX, until: float | None = None) -> None:
    pbx._traffic_gen += 1
    pbx.traffic_running = True
    pbx.sched.add(traffic_source(pbx, until))


def stop_traffic(pbx: PBX) -> None:
    pbx.traffic_running = False
    pbx._traffic_gen += 1

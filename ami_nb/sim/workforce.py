"""A contact centre's working day on the simulated PBX, with the ground truth of every agent, queue and trunk.

What it generates (the traffic the contact-centre reports of :mod:`ami_nb.analysis` need):

* **Agents** (dynamic members ``Local/<name>@agents/n``, state interface ``Local/<name>@agents``) log in to
  their queues (one ``QueueMemberAdded`` per queue, ``Membership: dynamic``), pause with a reason and unpause
  (``QueueMemberPause`` in every queue they are in, as ``QueuePause`` without ``Queue:`` does, recording 43), may
  join or leave one more queue during the day, and log out (``QueueMemberRemoved``). A break or a logout that
  falls during a call or its wrap-up waits until the agent is free, as an agent presses the button then.
* **Queues** with overlapping members and a per-member ``wrapuptime`` (the member-level wrapuptime of
  queues.conf / realtime members: it is what ``QueueMemberStatus``' ``Wrapuptime`` shows). After a call the
  member is offered no call from *any* of its queues for that long: app_queue's ``can_ring_entry()`` refuses a
  member whose ``lastcall`` is younger than its wrap-up, and with ``shared_lastcall=yes`` (set here) the
  ``lastcall`` of every membership is updated. A free agent is offered to the longest-waiting caller of its
  queues; among free members a queue picks the one idle longest (``leastrecent``).
* **Calls**: inbound calls on named trunks to one DID per queue (:mod:`~ami_nb.sim.trunks`), answered by the
  PBX and queued; the agent's device rings (``QueueMemberStatus`` ``Status: 2`` in all its queues, as a Local
  state interface shows INUSE while ringing, recording 40), then ``QueueCallerLeave``, ``AgentConnect``; some
  calls are put on hold (``Hold``/``Unhold`` on the agent's channel); ``AgentComplete`` (``TalkTime``
  includes the hold, as Asterisk's), the hangups, ``QueueMemberStatus`` ``Status: 1``. Callers abandon
  (``QueueCallerAbandon``, also while an agent rings: DialEnd ``CANCEL``) or time out (``QueueCallerAbandon``
  with the timeout as HoldTime, ``QueueCallerLeave``, ``QUEUESTATUS=TIMEOUT``, recording 42). Outbound dialer
  calls go over the trunks with every DialEnd status; a few inbound calls hit a DID without a route.

Ground truth (:meth:`ContactCentre.truth`, ``SimPBX.contact_centre_truth()``), seconds unless said, times epoch:

* ``agents``: one row per (queue, interface) in the report's terms: ``logged_in`` (QueueMemberAdded to
  QueueMemberRemoved), ``paused`` (pause to unpause while a member of that queue), ``talk`` (AgentConnect to
  AgentComplete of its calls from this queue, less hold), ``hold``, ``wrapup`` (the member's wrapuptime after
  each of those calls), ``other_queue`` (on a call or wrap-up of another of its queues), ``busy`` (its device
  rang for a queue call not yet connected), ``idle`` (the rest of the logged-in time), ``calls``.
* ``agent_totals``: the same per agent across its queues, each instant once (``logged_in`` to any queue).
* ``sessions``: each membership's ``login``/``logout``; ``pauses``: ``reason``, ``start``, ``end``, the
  ``queues`` paused; ``agent_calls``: each call an agent handled (``queue``, ``linkedid``, ``ring_start``,
  ``connect``, ``complete``, ``talk``, ``hold``, ``wrapup``, ``wait``); ``stints``: each caller's stay in a queue
  (``outcome`` ``answered``/``abandon``/``timeout``, ``wait`` to the answer or the exit, ``agent``);
  ``queues``: per queue ``offered``, ``answered``, ``abandoned``, ``timed_out``; ``trunks``: one row per
  :class:`~ami_nb.sim.trunks.Seizure`; ``trunk_kpis``: per (direction, trunk, did) ``seizures``, the outcome
  counts, ``asr``, ``ner``, ``acd`` (definitions of :mod:`ami_nb.analysis.trunk_kpis`).
"""

from __future__ import annotations

import asyncio
import math
import random
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import trunks as _trunks
from .scheduler import Scenario, Signal
from .state import AGENT, CALL, STEP, Channel
from .trunks import Seizure, TrunkSpec

if TYPE_CHECKING:
    from .model import PBX

__all__ = ["AgentSpec", "ContactCentre", "QueueSpec", "default_day", "run_day", "truth_of"]


@dataclass(frozen=True)
class QueueSpec:
    """A queue: its inbound ``did`` on ``trunk``, member ``wrapup`` seconds, arrivals per simulated hour at the
    busiest time of day, mean talk, mean caller patience, Queue()'s timeout."""

    name: str
    did: str
    trunk: str
    wrapup: int
    rate: float
    talk_mean: float
    patience_mean: float = 150.0
    timeout: float = 300.0


@dataclass(frozen=True)
class AgentSpec:
    """An agent's shift, as fractions of the day: ``login``/``logout``, ``breaks`` (start, length, reason) and
    ``extra`` (queue, join, leave): a queue joined and left during the shift."""

    name: str
    queues: tuple[str, ...]
    login: float = 0.0
    logout: float = 1.0
    breaks: tuple[tuple[float, float, str], ...] = ()
    extra: tuple[str, float, float] | None = None

    @property
    def interface(self) -> str:
        return f"Local/{self.name.lower()}@agents/n"

    @property
    def state_interface(self) -> str:
        return f"Local/{self.name.lower()}@agents"


def default_day() -> tuple[list[QueueSpec], list[AgentSpec], list[TrunkSpec], dict[str, str]]:
    """The demo contact centre: 3 queues, 7 agents with overlapping skills, 2 carriers, 4 DIDs (one unrouted)."""
    queues = [
        QueueSpec("sales", "442071230100", "carrier-a", wrapup=15, rate=34, talk_mean=170),
        QueueSpec("support", "442071230200", "carrier-a", wrapup=30, rate=38, talk_mean=210),
        QueueSpec("billing", "442071230300", "carrier-b", wrapup=10, rate=16, talk_mean=140, timeout=120),
    ]
    lunch = "lunch"
    agents = [
        AgentSpec("Alice", ("sales", "support"), 0.0, 1.0, ((0.24, 0.03, "coffee"), (0.45, 0.06, lunch))),
        AgentSpec("Bob", ("sales",), 0.01, 0.99, ((0.3, 0.03, "coffee"), (0.52, 0.06, lunch))),
        AgentSpec("Carol", ("support", "billing"), 0.0, 0.98, ((0.48, 0.06, lunch), (0.7, 0.06, "training"))),
        AgentSpec("Dave", ("support",), 0.02, 1.0, ((0.2, 0.03, "coffee"), (0.55, 0.06, lunch),
                                                    (0.72, 0.06, "training"))),
        AgentSpec("Erin", ("billing", "sales"), 0.0, 0.97, ((0.42, 0.06, lunch), (0.8, 0.02, "coffee"))),
        AgentSpec("Frank", ("support",), 0.05, 1.0, ((0.58, 0.06, lunch),), extra=("billing", 0.5, 0.85)),
        AgentSpec("Grace", ("sales", "support", "billing"), 0.3, 0.9, ((0.6, 0.02, "coffee"),)),
    ]
    trunk_specs = [
        TrunkSpec("carrier-a", outbound_rate=10.0),
        TrunkSpec("carrier-b", outbound_rate=6.0, outcomes={
            "ANSWER": 0.45, "BUSY": 0.1, "NOANSWER": 0.1, "CANCEL": 0.03, "CONGESTION": 0.2, "CHANUNAVAIL": 0.12}),
    ]
    unrouted = {"442071230999": "carrier-b"}
    return queues, agents, trunk_specs, unrouted


def _profile(frac: float) -> float:
    """Arrival intensity over the day (1.0 at the peaks): a morning peak and a smaller one after lunch."""
    return max(0.15, 0.25 + 0.75 * math.exp(-((frac - 0.25) / 0.12) ** 2)
               + 0.55 * math.exp(-((frac - 0.68) / 0.12) ** 2))


# -- runtime state ----------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Membership:
    queue: str
    login: float
    wrapup: int
    logout: float | None = None
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    paused: bool = False
    reason: str = ""


@dataclass(eq=False)
class _Agent:
    spec: AgentSpec
    members: dict[str, _Membership] = field(default_factory=dict)  # the queues it is logged in to now
    sessions: list[_Membership] = field(default_factory=list)
    busy: bool = False  # ringing or on a call
    wrapup_until: float = 0.0
    last_free: float = 0.0
    paused: bool = False
    pending: list[tuple[str, Any]] = field(default_factory=list)  # actions waiting for the agent to be free
    ringing: Channel | None = None

    @property
    def free(self) -> bool:
        return not self.busy and not self.paused

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(eq=False)
class _Waiting:
    caller: Channel
    queue: str
    joined: float
    offered: Signal = field(default_factory=Signal)
    agent: _Agent | None = None


class ContactCentre:
    """One simulated day: the specs, the live state, and the ground truth (module docstring)."""

    def __init__(self, pbx: PBX, *, hours: float = 8.0, seed: int = 0, queues: list[QueueSpec] | None = None,
                 agents: list[AgentSpec] | None = None, trunks: list[TrunkSpec] | None = None,
                 unrouted: dict[str, str] | None = None, hold_share: float = 0.3) -> None:
        if not hours > 0:
            raise ValueError(f"hours must be > 0, got {hours!r}")
        dq, da, dt, du = default_day()
        self.pbx = pbx
        self.rng = random.Random(seed)
        self.length = hours * 3600.0
        self.queues = {q.name: q for q in (queues if queues is not None else dq)}
        self.agent_specs = agents if agents is not None else da
        self.trunk_specs = trunks if trunks is not None else dt
        self.unrouted = unrouted if unrouted is not None else du
        self.hold_share = hold_share
        for a in self.agent_specs:
            for q in (*a.queues, *([a.extra[0]] if a.extra else [])):
                if q not in self.queues:
                    raise ValueError(f"agent {a.name!r} is in unknown queue {q!r}; queues: {sorted(self.queues)}")
        self.start = pbx.now
        self.agents = [_Agent(a) for a in self.agent_specs]
        self.waiting: list[_Waiting] = []
        self.active = 0  # scenarios still running
        self.done = False
        # ground truth
        self.pauses: list[dict[str, Any]] = []
        self.agent_calls: list[dict[str, Any]] = []
        self.rings: list[dict[str, Any]] = []
        self.stints: list[dict[str, Any]] = []
        self.seizures: list[Seizure] = []

    # -- scheduling ----------------------------------------------------------------------------------------------
    def begin(self) -> None:
        """Schedule the whole day on the PBX's clock."""
        for agent in self.agents:
            self._spawn(self._shift(agent))
        for q in self.queues.values():
            self._spawn(self._arrivals(q))
        for t in self.trunk_specs:
            if t.outbound_rate > 0:
                self._spawn(self._dialer(t))
        for did, trunk in self.unrouted.items():
            self._spawn(self._unrouted(did, trunk))

    def _spawn(self, gen: Scenario, delay: float = 0.0) -> None:
        self.active += 1
        self.pbx.sched.add(self._tracked(gen), delay)

    def _tracked(self, gen: Scenario) -> Scenario:
        try:
            yield from gen
        finally:
            self.active -= 1
            if self.active == 0:
                self.done = True

    def _at(self, frac: float) -> float:
        return self.start + frac * self.length

    def _wait_until(self, t: float) -> Scenario:
        if t > self.pbx.now:
            yield t - self.pbx.now

    # -- members ---------------------------------------------------------------------------------------------------
    def _fields(self, agent: _Agent, m: _Membership, status: str) -> list[tuple[str, str]]:
        return [
            ("Queue", m.queue), ("MemberName", agent.name), ("Interface", agent.spec.interface),
            ("StateInterface", agent.spec.state_interface), ("Membership", "dynamic"), ("Penalty", "0"),
            ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)), ("LastPause", str(m.last_pause)),
            ("LoginTime", str(int(m.login))), ("InCall", "1" if agent.busy and status == "2" else "0"),
            ("Status", status), ("Paused", "1" if m.paused else "0"), ("PausedReason", m.reason),
            ("Ringinuse", "0"), ("Wrapuptime", str(m.wrapup)),
        ]

    def _status(self, agent: _Agent, status: str) -> None:
        for m in agent.members.values():
            self.pbx.emit("QueueMemberStatus", AGENT, self._fields(agent, m, status))

    def _login(self, agent: _Agent, queue: str) -> None:
        pbx = self.pbx
        m = _Membership(queue, pbx.now, self.queues[queue].wrapup, paused=agent.paused)
        agent.members[queue] = m
        agent.sessions.append(m)
        pbx.devstate(f"Queue:{queue}_pause_{agent.spec.interface}", "NOT_INUSE")
        pbx.emit("QueueMemberAdded", AGENT, self._fields(agent, m, "1"))

    def _logout(self, agent: _Agent, queue: str) -> None:
        m = agent.members.pop(queue, None)
        if m is None:
            return
        m.logout = self.pbx.now
        self.pbx.emit("QueueMemberRemoved", AGENT, self._fields(agent, m, "1"))
        self.pbx.devstate(f"Queue:{queue}_pause_{agent.spec.interface}", "NOT_INUSE")

    def _pause(self, agent: _Agent, reason: str | None) -> None:
        """Pause (``reason``) or unpause (None) in every queue the agent is in."""
        pbx = self.pbx
        agent.paused = reason is not None
        for m in agent.members.values():
            m.paused, m.reason, m.last_pause = agent.paused, reason or "", int(pbx.now)
            pbx.devstate(f"Queue:{m.queue}_pause_{agent.spec.interface}", "INUSE" if agent.paused else "NOT_INUSE")
            pbx.emit("QueueMemberPause", AGENT, self._fields(agent, m, "1"))
        if reason is not None:
            self.pauses.append({"agent": agent.name, "interface": agent.spec.interface, "reason": reason,
                                "start": pbx.now, "end": None, "queues": sorted(agent.members)})
        else:
            for p in reversed(self.pauses):
                if p["agent"] == agent.name and p["end"] is None:
                    p["end"] = pbx.now
                    break

    def _shift(self, agent: _Agent) -> Scenario:
        """An agent's day: login, the scheduled breaks and queue changes (each when the agent is free), logout."""
        spec = agent.spec
        plan: list[tuple[float, str, Any]] = [(spec.login, "login", None), (spec.logout, "logout", None)]
        plan += [(s, "break", (length, reason)) for s, length, reason in spec.breaks]
        if spec.extra:
            plan += [(spec.extra[1], "join", spec.extra[0]), (spec.extra[2], "leave", spec.extra[0])]
        plan.sort(key=lambda p: p[0])
        for frac, what, arg in plan:
            yield from self._wait_until(self._at(frac))
            while agent.busy or self.pbx.now < agent.wrapup_until - 1e-9:
                wake = Signal()
                agent.pending.append(("wake", wake))
                yield wake
            if what == "login":
                agent.last_free = self.pbx.now
                for q in spec.queues:
                    self._login(agent, q)
            elif what == "logout":
                for q in list(agent.members):
                    self._logout(agent, q)
            elif what == "join":
                self._login(agent, arg)
            elif what == "leave":
                self._logout(agent, arg)
            elif what == "break":
                length, reason = arg
                self._pause(agent, reason)
                yield length * self.length
                self._pause(agent, None)
            self._dispatch()

    def _freed(self, agent: _Agent) -> None:
        """The agent can take calls again (wrap-up over): run what waited for that, then offer it."""
        pending, agent.pending = agent.pending, []
        for _, sig in pending:
            self.pbx.sched.fire(sig)
        self._dispatch()

    def _wrapup(self, agent: _Agent, seconds: float) -> Scenario:
        yield seconds
        self._freed(agent)

    # -- queue -------------------------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Offer free agents to waiting callers, longest-waiting first; each queue picks its member idle longest."""
        now = self.pbx.now
        for w in sorted(self.waiting, key=lambda w: w.joined):
            if w.agent is not None:
                continue
            free = [a for a in self.agents if w.queue in a.members and a.free and now >= a.wrapup_until - 1e-9
                    and not a.pending]
            if not free:
                continue
            agent = min(free, key=lambda a: (a.last_free, a.name))
            agent.busy = True
            w.agent = agent
            self.pbx.sched.fire(w.offered)

    def _arrivals(self, q: QueueSpec) -> Scenario:
        """Inbound calls to the queue's DID: Poisson arrivals at ``rate`` x the day's profile (thinning)."""
        until = self.start + 0.95 * self.length
        n = 0
        while True:
            yield self.rng.expovariate(q.rate / 3600.0)
            if self.pbx.now >= until:
                return
            if self.rng.random() <= _profile((self.pbx.now - self.start) / self.length):
                n += 1
                self._spawn(self._inbound(q, f"+4477009{len(q.name)}{n:04d}"))

    def _dialer(self, t: TrunkSpec) -> Scenario:
        until = self.start + 0.95 * self.length
        n = 0
        while True:
            yield self.rng.expovariate(t.outbound_rate / 3600.0)
            if self.pbx.now >= until:
                return
            n += 1
            number = f"44161496{self.rng.randrange(10000):04d}"
            self._spawn(_trunks.outbound_call(self.pbx, t, number, random.Random(self.rng.random()), self.seizures))

    def _unrouted(self, did: str, trunk: str) -> Scenario:
        until = self.start + 0.95 * self.length
        n = 0
        while True:
            yield self.rng.expovariate(2.0 / 3600.0)
            if self.pbx.now >= until:
                return
            n += 1
            self._spawn(_trunks.unrouted_call(self.pbx, trunk, did, f"+4477008{n:05d}", self.seizures))

    def _inbound(self, q: QueueSpec, number: str) -> Scenario:
        """One caller on the queue's DID: answered, queued, then served, abandoned or timed out."""
        pbx, rng = self.pbx, self.rng
        patience = max(2.0, rng.expovariate(1.0 / q.patience_mean))
        talk = max(20.0, rng.expovariate(1.0 / q.talk_mean))
        ring = rng.uniform(2.0, 6.0)
        hold = max(5.0, rng.expovariate(1.0 / 30.0)) if rng.random() < self.hold_share else 0.0
        hold_at = rng.uniform(0.2, 0.6)
        by_caller = rng.random() < 0.5
        ch = _trunks.inbound_channel(pbx, q.trunk, q.did, number)
        rec = pbx.record(ch, number, q.did, "cc_inbound")
        seizure = Seizure("inbound", f"PJSIP/{q.trunk}", q.did, number, "", "answered", 16, pbx.now,
                          linkedid=ch.linkedid, queue=q.name)
        self.seizures.append(seizure)
        pbx.newexten(ch, "NoOp", f"DID {q.did} to queue {q.name}", priority=1)
        yield STEP
        pbx.newexten(ch, "Answer", "", priority=2)
        pbx.cel(ch, "ANSWER")
        pbx.newstate(ch, 6)
        seizure.answer = pbx.now
        yield STEP
        pbx.newexten(ch, "Queue", f"{q.name},t,,,{int(q.timeout)}", priority=3)
        rec.queue = q.name
        w = _Waiting(ch, q.name, pbx.now)
        self.waiting.append(w)
        rec.stint(q.name, w.joined)
        count = sum(1 for x in self.waiting if x.queue == q.name)
        pbx.emit("QueueCallerJoin", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Position", str(count)),
                                             ("Count", str(count))])
        stint: dict[str, Any] = {"linkedid": ch.linkedid, "queue": q.name, "joined": w.joined, "left": None,
                                 "outcome": None, "wait": None, "agent": None}
        self.stints.append(stint)
        gives_up, times_out = w.joined + patience, w.joined + q.timeout
        deadline = min(gives_up, times_out)
        self._dispatch()
        while w.agent is None and pbx.now < deadline - 1e-9:
            yield (w.offered, deadline - pbx.now)
        agent, one = w.agent, None
        if agent is not None:
            one = self._ring(q, ch, agent)
            ring_start = pbx.now
            if deadline < pbx.now + ring - 1e-9:  # the caller hangs up while the agent's phone rings
                yield max(0.0, deadline - pbx.now)
                pbx.dial_end(ch, one, "CANCEL")
                pbx.hangup(one, 16, request=False, h_exten=False)
                self.rings.append({"agent": agent.name, "queue": q.name, "start": ring_start, "end": pbx.now})
                agent.busy, agent.ringing = False, None
                self._status(agent, "1")
                agent = None
                self._freed_later()
            else:
                yield ring
                self.rings.append({"agent": agent.name, "queue": q.name, "start": ring_start, "end": pbx.now})
        pos = self.waiting.index(w) + 1
        self.waiting.remove(w)
        left_count = sum(1 for x in self.waiting if x.queue == q.name)
        wait = pbx.now - w.joined
        if agent is None or one is None:
            abandoned = gives_up <= times_out
            pbx.emit("QueueCallerAbandon", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Position", str(pos)),
                                                    ("OriginalPosition", str(pos)), ("HoldTime", str(int(wait)))])
            pbx.emit("QueueCallerLeave", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Count", str(left_count)),
                                                  ("Position", str(pos))])
            outcome = "abandon" if abandoned else "timeout"
            stint.update(left=pbx.now, outcome=outcome, wait=wait)
            rec.end_stint(pbx.now, outcome)
            rec.disposition, rec.hangup_cause = ("abandoned" if abandoned else "no answer"), 16
            if abandoned:
                pbx.hangup(ch, 16)
            else:
                pbx.varset(ch, "QUEUESTATUS", "TIMEOUT")
                pbx.newexten(ch, "Hangup", "", priority=4)
                pbx.hangup(ch, 16, source="dialplan/builtin")
            self._end_seizure(seizure, ch)
            return
        # answered: the agent's Local ;2 answers, then ;1 is up (recording 40)
        if one.peer is not None:
            pbx.cel(one.peer, "ANSWER")
            pbx.newstate(one.peer, 6)
        pbx.cel(one, "ANSWER")
        pbx.newstate(one, 6)
        pbx.dial_end(ch, one, "ANSWER")
        pbx.emit("QueueCallerLeave", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Count", str(left_count)),
                                              ("Position", str(pos))])
        pbx.emit("AgentConnect", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), ("Queue", q.name),
                                          ("MemberName", agent.name), ("Interface", agent.spec.interface),
                                          ("RingTime", str(int(ring))), ("HoldTime", str(int(wait)))])
        connect = pbx.now
        stint.update(left=pbx.now, outcome="answered", wait=wait, agent=agent.name)
        rec.end_stint(pbx.now, "answered", agent.name)
        rec.answer, rec.agent, rec.callee = pbx.now, agent.name, agent.spec.interface
        rec.disposition, rec.answered_by, rec.hop = "answered", agent.spec.state_interface, agent.spec.interface
        b = pbx.bridge_create()
        pbx.bridge_enter(b, one)
        pbx.bridge_enter(b, ch, peer=one)
        if hold > 0:
            yield talk * hold_at
            pbx.emit("Hold", CALL, one.snapshot())
            yield hold
            pbx.emit("Unhold", CALL, one.snapshot())
            yield talk * (1 - hold_at)
        else:
            yield talk
        complete = pbx.now
        pbx.emit("AgentComplete", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), ("Queue", q.name),
                                           ("MemberName", agent.name), ("Interface", agent.spec.interface),
                                           ("HoldTime", str(int(wait))), ("TalkTime", str(int(complete - connect))),
                                           ("Reason", "caller" if by_caller else "agent")])
        wrap = agent.members[q.name].wrapup if q.name in agent.members else q.wrapup
        self.agent_calls.append({"agent": agent.name, "interface": agent.spec.interface, "queue": q.name,
                                 "linkedid": ch.linkedid, "ring_start": connect - ring, "connect": connect,
                                 "complete": complete, "talk": complete - connect - hold, "hold": hold,
                                 "wrapup": float(wrap), "wait": wait})
        rec.hangup_cause = 16
        first, second = (ch, one) if by_caller else (one, ch)
        pbx.hangup(first, 16)
        pbx.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
        pbx.hangup(second, 16, request=False)
        self._end_seizure(seizure, ch)
        for m in agent.members.values():  # shared_lastcall: every membership's lastcall and calls
            m.calls_taken += 1
            m.last_call = int(pbx.now)
        agent.busy, agent.ringing = False, None
        agent.wrapup_until = complete + wrap
        agent.last_free = agent.wrapup_until
        self._status(agent, "1")
        self._spawn(self._wrapup(agent, wrap))

    def _freed_later(self) -> None:
        self._spawn(self._later_dispatch())

    def _later_dispatch(self) -> Scenario:
        yield STEP
        for a in self.agents:
            if a.free and a.pending and self.pbx.now >= a.wrapup_until - 1e-9:
                self._freed(a)
        self._dispatch()

    def _end_seizure(self, s: Seizure, ch: Channel) -> None:
        s.end = self.pbx.now
        if s.answer is not None:
            s.talk = s.end - s.answer

    def _ring(self, q: QueueSpec, caller: Channel, agent: _Agent) -> Channel:
        pbx = self.pbx
        exten = agent.name.lower()
        one, two = pbx.local_pair(exten, "agents", linkedid=caller.linkedid)
        for c in (one, two):
            c.dialed = True
            c.cid_num, c.cid_name = caller.cid_num, caller.cid_name
        pbx.newexten(one, "AppQueue", "(Outgoing Line)")
        pbx.local_bridge(one, two)
        pbx.emit("AgentCalled", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", q.name),
                                         ("MemberName", agent.name), ("Interface", agent.spec.interface)])
        pbx.dial_begin(caller, one, f"{exten}@agents")
        pbx.newstate(one, 5)
        agent.ringing = one
        self._status(agent, "2")
        return one

    # -- ground truth --------------------------------------------------------------------------------------------
    def truth(self) -> dict[str, Any]:
        """The day's ground truth as DataFrames (module docstring)."""
        import pandas as pd

        def ts(df: Any, cols: tuple[str, ...]) -> Any:
            for c in cols:
                if c in df:
                    df[c] = pd.to_datetime(df[c].astype("float64"), unit="s", utc=True)
            return df

        sessions = [{"agent": a.name, "interface": a.spec.interface, "queue": m.queue, "login": m.login,
                     "logout": m.logout, "wrapuptime": m.wrapup} for a in self.agents for m in a.sessions]
        trunk_rows = [s.row() for s in self.seizures]
        out = {
            "agents": self._agent_table(),
            "agent_totals": self._agent_totals(),
            "sessions": ts(pd.DataFrame(sessions, columns=["agent", "interface", "queue", "login", "logout",
                                                             "wrapuptime"]), ("login", "logout")),
            "pauses": ts(pd.DataFrame(self.pauses, columns=["agent", "interface", "reason", "start", "end",
                                                             "queues"]), ("start", "end")),
            "agent_calls": ts(pd.DataFrame(self.agent_calls, columns=[
                "agent", "interface", "queue", "linkedid", "ring_start", "connect", "complete", "talk", "hold",
                "wrapup", "wait"]), ("ring_start", "connect", "complete")),
            "stints": ts(pd.DataFrame(self.stints, columns=["linkedid", "queue", "joined", "left", "outcome", "wait",
                                                             "agent"]), ("joined", "left")),
            "queues": self._queue_table(),
            "trunks": ts(pd.DataFrame(trunk_rows, columns=list(Seizure.__dataclass_fields__)),
                         ("start", "answer", "end")),
            "trunk_kpis": self._trunk_table(),
        }
        return out

    def _agent_table(self) -> Any:
        import pandas as pd

        def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
            return max(0.0, min(a1, b1) - max(a0, b0))

        end_of_day = self.pbx.now
        rows = []
        for a in self.agents:
            calls = [c for c in self.agent_calls if c["agent"] == a.name]
            rings = [r for r in self.rings if r["agent"] == a.name]
            pauses = [p for p in self.pauses if p["agent"] == a.name]
            by_queue: dict[str, list[_Membership]] = {}
            for m in a.sessions:
                by_queue.setdefault(m.queue, []).append(m)
            for queue, sessions in by_queue.items():
                r: dict[str, Any] = {"queue": queue, "interface": a.spec.interface, "member_name": a.name,
                                     "logged_in": 0.0, "paused": 0.0, "talk": 0.0, "hold": 0.0, "wrapup": 0.0,
                                     "other_queue": 0.0, "busy": 0.0, "calls": 0}
                for m in sessions:
                    t0, t1 = m.login, m.logout if m.logout is not None else end_of_day
                    r["logged_in"] += t1 - t0
                    for p in pauses:
                        r["paused"] += overlap(t0, t1, p["start"], p["end"] if p["end"] is not None else end_of_day)
                    for ring in rings:
                        r["busy"] += overlap(t0, t1, ring["start"], ring["end"])
                    for c in calls:
                        wrap_end = c["complete"] + c["wrapup"]
                        if c["queue"] == queue and t0 <= c["connect"] < t1:
                            r["talk"] += c["talk"]
                            r["hold"] += c["hold"]
                            r["wrapup"] += overlap(t0, t1, c["complete"], wrap_end)
                            r["calls"] += 1
                        elif c["queue"] != queue:
                            r["other_queue"] += overlap(t0, t1, c["connect"], wrap_end)
                r["idle"] = r["logged_in"] - sum(r[k] for k in ("paused", "talk", "hold", "wrapup", "other_queue",
                                                                  "busy"))
                rows.append(r)
        cols = ["queue", "interface", "member_name", "logged_in", "paused", "idle", "talk", "hold", "wrapup",
                "other_queue", "busy", "calls"]
        return pd.DataFrame(rows, columns=cols).sort_values(["queue", "interface"]).reset_index(drop=True)

    def _agent_totals(self) -> Any:
        """Per agent across its queues (each instant once): logged in to any queue, paused, talk, hold, wrap-up,
        ringing (``busy``), calls."""
        import pandas as pd

        end_of_day = self.pbx.now
        rows = []
        for a in self.agents:
            spans = sorted((m.login, m.logout if m.logout is not None else end_of_day) for m in a.sessions)
            logged, cur = 0.0, None
            for t0, t1 in spans:
                if cur is None or t0 > cur[1]:
                    if cur is not None:
                        logged += cur[1] - cur[0]
                    cur = [t0, t1]
                else:
                    cur[1] = max(cur[1], t1)
            if cur is not None:
                logged += cur[1] - cur[0]
            calls = [c for c in self.agent_calls if c["agent"] == a.name]
            rows.append({
                "interface": a.spec.interface, "member_name": a.name, "logged_in": logged,
                "paused": sum((p["end"] or end_of_day) - p["start"] for p in self.pauses if p["agent"] == a.name),
                "talk": sum(c["talk"] for c in calls), "hold": sum(c["hold"] for c in calls),
                "wrapup": sum(c["wrapup"] for c in calls),
                "busy": sum(r["end"] - r["start"] for r in self.rings if r["agent"] == a.name), "calls": len(calls),
            })
        cols = ["interface", "member_name", "logged_in", "paused", "talk", "hold", "wrapup", "busy", "calls"]
        return pd.DataFrame(rows, columns=cols).sort_values("interface").reset_index(drop=True)

    def _queue_table(self) -> Any:
        import pandas as pd

        rows = []
        for name in sorted(self.queues):
            st = [s for s in self.stints if s["queue"] == name]
            answered = [s for s in st if s["outcome"] == "answered"]
            rows.append({"queue": name, "offered": len(st), "answered": len(answered),
                         "abandoned": sum(s["outcome"] == "abandon" for s in st),
                         "timed_out": sum(s["outcome"] == "timeout" for s in st),
                         "asa": (sum(s["wait"] for s in answered) / len(answered)) if answered else math.nan})
        return pd.DataFrame(rows, columns=["queue", "offered", "answered", "abandoned", "timed_out", "asa"])

    def _trunk_table(self) -> Any:
        import pandas as pd

        outcomes = list(_trunks.DIAL_OUTCOME.values())
        order = ["answered", "busy", "no answer", "cancelled", "failed"]
        assert set(outcomes) <= set(order)
        groups: dict[tuple[str, str, str], list[Seizure]] = {}
        for s in self.seizures:
            groups.setdefault((s.direction, s.trunk, s.did or ""), []).append(s)
        rows = []
        for (direction, trunk, did), ss in sorted(groups.items()):
            r: dict[str, Any] = {"direction": direction, "trunk": trunk, "did": did or None, "seizures": len(ss)}
            for o in order:
                r[o] = sum(s.outcome == o for s in ss)
            talks = [s.talk for s in ss if s.outcome == "answered" and s.talk is not None]
            r["asr"] = r["answered"] / len(ss)
            r["ner"] = (len(ss) - r["failed"]) / len(ss)
            r["acd"] = sum(talks) / len(talks) if talks else math.nan
            rows.append(r)
        return pd.DataFrame(rows, columns=["direction", "trunk", "did", "seizures", *order, "asr", "ner", "acd"])


_DAYS: weakref.WeakKeyDictionary[PBX, ContactCentre] = weakref.WeakKeyDictionary()


def truth_of(pbx: PBX) -> dict[str, Any]:
    """The ground truth of the last contact-centre day run on ``pbx``."""
    day = _DAYS.get(pbx)
    if day is None:
        raise LookupError("no contact-centre day has run on this simulated PBX; call simulate_contact_centre()")
    return day.truth()


async def run_day(server: Any, **options: Any) -> ContactCentre:
    """Run one day on ``server`` (an :class:`~ami_nb.sim.server.AMIServer`) at its time scale; return when every
    agent has logged out and every call has ended."""
    pbx = server.pbx
    server.sync_clock()
    day = ContactCentre(pbx, **options)
    _DAYS[pbx] = day
    day.begin()
    server.wake()
    while not day.done:
        await asyncio.sleep(0.005)
    return day


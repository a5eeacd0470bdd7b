"""A contact centre's working day on the simulated PBX, with the ground truth of every agent, queue and trunk.

What it generates (the traffic the contact-centre reports of :mod:`ami_nb.analysis` need):

* **Queues** of the model: the day's queues are real queues of the PBX (``pbx.queues``, strategy
  ``leastrecent``), so ``QueueStatus`` / ``QueueSummary`` show its members, their pauses, device states and
  wrap-up, and its waiting callers, as the events say.
* **Agents** (dynamic members ``Local/<name>@agents/n``, state interface ``Local/<name>@agents`` or, for an agent
  with a desk phone, ``PJSIP/<name>``) log in to their queues (one ``QueueMemberAdded`` per queue,
  ``Membership: dynamic``), pause with a reason and unpause (``QueueMemberPause`` in every queue they are in, as
  ``QueuePause`` without ``Queue:`` does, recording 43), may join or leave one more queue during the day, and log
  out (``QueueMemberRemoved``). A logout or a queue change that falls during a call or its wrap-up waits until the
  agent is free; a **break pressed during a call** takes effect at once, as ``set_queue_member_pause()`` in
  app_queue.c does (the QueueMemberPause comes then; the call, already bridged, goes on and the member is offered
  nothing more).
* **Ring no answer**: an agent with ``no_answer`` > 0 sometimes lets its phone ring for the queue's member
  ``timeout``: ``AgentRingNoAnswer`` (``RingTime`` in ms), DialEnd ``NOANSWER``, and with ``autopause=yes``
  app_queue's ``rna()`` pauses it in that queue only, ``PausedReason: Auto-Pause``; the agent unpauses that queue
  a while later. The caller is offered to the next free member after ``retry`` seconds.
* **Unavailable devices**: an agent's desk phone (a ``PJSIP/<name>`` state interface) drops off the network for
  its ``outages``: ``DeviceStateChange`` ``UNAVAILABLE`` and ``QueueMemberStatus`` ``Status: 5`` in each of its
  queues, no call offered, then ``NOT_INUSE`` / ``Status: 1`` again. Its ringing is ``RINGING`` (``Status: 6``),
  its calls ``INUSE`` (2).
* Per-member ``wrapuptime`` (the member-level wrapuptime of queues.conf / realtime members: it is what
  ``QueueMemberStatus``' ``Wrapuptime`` shows). After a call the member is offered no call from *any* of its
  queues for that long: app_queue's ``can_ring_entry()`` refuses a member whose ``lastcall`` is younger than its
  wrap-up, and with ``shared_lastcall=yes`` (set here) the ``lastcall`` of every membership is updated. A free
  agent is offered to the longest-waiting caller of its queues; among free members a queue picks the one idle
  longest (``leastrecent``).
* **Calls**: inbound calls on named trunks to one DID per queue (:mod:`~ami_nb.sim.trunks`), answered by the
  PBX and queued; the agent's device rings (``QueueMemberStatus`` ``Status: 2`` in all its queues, as a Local
  state interface shows INUSE while ringing, recording 40), then ``QueueCallerLeave``, ``AgentConnect``; some
  calls are put on hold (``Hold``/``Unhold`` on the agent's channel); ``AgentComplete`` (``TalkTime``
  includes the hold, as Asterisk's), the hangups, ``QueueMemberStatus`` ``Status: 1``. ``InCall: 1`` shows only
  in the membership of the call's queue, from the answer to the end (app_queue's ``starttime``). Callers abandon
  (``QueueCallerAbandon``, also while an agent rings: DialEnd ``CANCEL``) or time out (``QueueCallerAbandon``
  with the timeout as HoldTime, ``QueueCallerLeave``, ``QUEUESTATUS=TIMEOUT``, recording 42). Outbound dialer
  calls go over the trunks with every DialEnd status; a few inbound calls hit a DID without a route.
* **A session that connects mid-day**: ``run_day(pause_at=...)`` (``SimPBX.simulate_contact_centre(pause_at=)``)
  stops the PBX's clock at that point of the day, so a client can connect and ask ``QueueStatus`` while agents
  are logged in, paused, ringing and on calls; ``resume_day`` (``SimPBX.resume_contact_centre()``) runs the rest.

Ground truth (:meth:`ContactCentre.truth`, ``SimPBX.contact_centre_truth()``), seconds unless said, times epoch;
``since`` clips every agent table to the time from then on (what a session that connected then can know):

* ``agent_states``: each membership's logged-in time as consecutive states, computed from what the simulator
  did (sessions, calls, holds, wrap-ups, rings, per-queue pauses, device outages), each instant in the first
  that applies of: a call from this queue (``talk`` / ``hold``), a call or wrap-up from another of its queues
  (``other_queue``, reason: that queue), this queue's ``wrapup``, ``paused`` (reason), ringing (``busy``),
  device ``unavailable``, ``idle``.
* ``agents``: one row per (queue, interface), the seconds of each state of ``agent_states``, ``calls``
  (answered from this queue, connected while logged in to it).
* ``agent_totals``: the same per agent across its queues, each instant in the most telling state any of its
  queues shows (a call beats wrap-up beats ringing beats idle beats unavailable beats paused).
* ``member_pauses``: each pause of each membership as it took effect in the queue (``reason``, ``start``,
  ``end``); ``pauses``: each button press (a break, or app_queue's auto-pause): ``reason``, ``start``, ``end``,
  the ``queues`` paused, ``in_call`` (pressed during a call or its wrap-up); ``ring_no_answer``: each ring not
  answered in time (``agent``, ``queue``, ``linkedid``, ``start``, ``end``); ``outages``: each device outage.
* ``sessions``: each membership's ``login``/``logout``; ``agent_calls``: each call an agent handled (``queue``,
  ``linkedid``, ``ring_start``, ``connect``, ``complete``, ``talk``, ``hold``, ``hold_start``, ``wrapup``,
  ``wait``); ``stints``: each caller's stay in a queue (``outcome`` ``answered``/``abandon``/``timeout``, ``wait``
  to the answer or the exit, ``agent``); ``queues``: per queue ``offered``, ``answered``, ``abandoned``,
  ``timed_out``, ``asa``; ``trunks``: one row per :class:`~ami_nb.sim.trunks.Seizure`; ``trunk_kpis``: per
  (direction, trunk, did) ``seizures``, the outcome counts, ``asr``, ``ner``, ``acd`` (definitions of
  :mod:`ami_nb.analysis.trunk_kpis`); ``checkpoint``: the pause_at time (a Timestamp) when the day had one.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import random
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import trunks as _trunks
from .scheduler import Scenario, Signal
from .state import AGENT, CALL, STEP, Channel, Member, Queue
from .trunks import Seizure, TrunkSpec

if TYPE_CHECKING:
    from .model import PBX

__all__ = ["AUTO_PAUSE", "AgentSpec", "ContactCentre", "QueueSpec", "default_day", "resume_day", "run_day",
           "truth_of"]

#: The PausedReason app_queue's ``rna()`` gives a member it pauses for not answering (``autopause=yes``).
AUTO_PAUSE = "Auto-Pause"
#: The states of the ``agent_states`` truth (those of :func:`ami_nb.analysis.agent_states`).
_STATES = ["talk", "hold", "wrapup", "other_queue", "busy", "unavailable", "paused", "idle"]
_STATE_COLUMNS = ["queue", "interface", "member_name", "state", "reason", "start", "end", "seconds"]


@dataclass(frozen=True)
class QueueSpec:
    """A queue: its inbound ``did`` on ``trunk``, member ``wrapup`` seconds, arrivals per simulated hour at the
    busiest time of day, mean talk, mean caller patience, Queue()'s timeout, the member ``ring_timeout`` and
    ``retry`` of queues.conf, and ``autopause`` (pause a member that did not answer, in this queue)."""

    name: str
    did: str
    trunk: str
    wrapup: int
    rate: float
    talk_mean: float
    patience_mean: float = 150.0
    timeout: float = 300.0
    ring_timeout: float = 15.0
    retry: float = 5.0
    autopause: bool = True


@dataclass(frozen=True)
class AgentSpec:
    """An agent's shift, as fractions of the day: ``login``/``logout``, ``breaks`` (start, length, reason),
    ``extra`` (queue, join, leave): a queue joined and left during the shift; ``no_answer``: the chance it lets a
    queue call ring out; ``device``: its desk phone as state interface (``PJSIP/<name>``; default its Local
    channel) and ``outages`` (start, length) when that phone is unreachable."""

    name: str
    queues: tuple[str, ...]
    login: float = 0.0
    logout: float = 1.0
    breaks: tuple[tuple[float, float, str], ...] = ()
    extra: tuple[str, float, float] | None = None
    no_answer: float = 0.0
    device: str = ""
    outages: tuple[tuple[float, float], ...] = ()

    @property
    def interface(self) -> str:
        return f"Local/{self.name.lower()}@agents/n"

    @property
    def state_interface(self) -> str:
        return self.device or f"Local/{self.name.lower()}@agents"


def default_day() -> tuple[list[QueueSpec], list[AgentSpec], list[TrunkSpec], dict[str, str]]:
    """The demo contact centre: 3 queues, 8 agents with overlapping skills (two who sometimes let a call ring
    out, one on a desk phone that drops off twice), 2 carriers, 4 DIDs (one unrouted)."""
    queues = [
        QueueSpec("sales", "442071230100", "carrier-a", wrapup=15, rate=34, talk_mean=170),
        QueueSpec("support", "442071230200", "carrier-a", wrapup=30, rate=38, talk_mean=210),
        QueueSpec("billing", "442071230300", "carrier-b", wrapup=10, rate=16, talk_mean=140, timeout=120),
    ]
    lunch = "lunch"
    agents = [
        AgentSpec("Alice", ("sales", "support"), 0.0, 1.0, ((0.24, 0.03, "coffee"), (0.45, 0.06, lunch))),
        AgentSpec("Bob", ("sales",), 0.01, 0.99, ((0.3, 0.03, "coffee"), (0.52, 0.06, lunch)), no_answer=0.06),
        AgentSpec("Carol", ("support", "billing"), 0.0, 0.98, ((0.48, 0.06, lunch), (0.7, 0.06, "training"))),
        AgentSpec("Dave", ("support",), 0.02, 1.0, ((0.2, 0.03, "coffee"), (0.55, 0.06, lunch),
                                                    (0.72, 0.06, "training")), no_answer=0.05),
        AgentSpec("Erin", ("billing", "sales"), 0.0, 0.97, ((0.42, 0.06, lunch), (0.8, 0.02, "coffee"))),
        AgentSpec("Frank", ("support",), 0.05, 1.0, ((0.58, 0.06, lunch),), extra=("billing", 0.5, 0.85)),
        AgentSpec("Grace", ("sales", "support", "billing"), 0.3, 0.9, ((0.6, 0.02, "coffee"),)),
        AgentSpec("Heidi", ("sales", "support"), 0.08, 1.0, ((0.5, 0.05, lunch),), device="PJSIP/heidi",
                  outages=((0.33, 0.02), (0.78, 0.015))),
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
    member: Member  # the same membership in pbx.queues, for QueueStatus / QueueSummary
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
    paused: bool = False  # on a break (paused in every queue)
    unavailable: bool = False  # its device is unreachable
    call_queue: str | None = None  # the queue of the call it is connected to
    pending: list[tuple[str, Any]] = field(default_factory=list)  # actions waiting for the agent to be free
    ringing: Channel | None = None

    @property
    def free(self) -> bool:
        return not self.busy and not self.unavailable

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
    retry_until: float = 0.0
    tried: int = 0


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
        self.checkpoint: float | None = None  # the pause_at time, once reached
        self.on_checkpoint: Callable[[], None] | None = None
        self.resume_scale: float | None = None  # the time scale to go on at, while held at the checkpoint
        # ground truth
        self.pauses: list[dict[str, Any]] = []
        self.member_pauses: list[dict[str, Any]] = []
        self.agent_calls: list[dict[str, Any]] = []
        self.rings: list[dict[str, Any]] = []
        self.outages: list[dict[str, Any]] = []
        self.stints: list[dict[str, Any]] = []
        self.seizures: list[Seizure] = []

    # -- scheduling ----------------------------------------------------------------------------------------------
    def begin(self, pause_at: float | None = None) -> None:
        """Make the day's queues the PBX's and schedule the whole day on its clock (``pause_at``: a fraction of
        the day at which :attr:`on_checkpoint` is called)."""
        for q in self.queues.values():
            self.pbx.queues[q.name] = Queue(q.name, "leastrecent")
        for agent in self.agents:
            self._spawn(self._shift(agent))
            if agent.spec.outages:
                self._spawn(self._outages(agent))
        for q in self.queues.values():
            self._spawn(self._arrivals(q))
        for t in self.trunk_specs:
            if t.outbound_rate > 0:
                self._spawn(self._dialer(t))
        for did, trunk in self.unrouted.items():
            self._spawn(self._unrouted(did, trunk))
        if pause_at is not None:
            self._spawn(self._pause_point(pause_at))

    def _pause_point(self, frac: float) -> Scenario:
        yield from self._wait_until(self._at(frac))
        self.checkpoint = self.pbx.now
        if self.on_checkpoint is not None:
            self.on_checkpoint()

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

    def _wait_free(self, agent: _Agent) -> Scenario:
        """Until the agent is off the phone and out of its wrap-up."""
        while agent.busy or self.pbx.now < agent.wrapup_until - 1e-9:
            wake = Signal()
            agent.pending.append(("wake", wake))
            yield wake

    # -- members ---------------------------------------------------------------------------------------------------
    def _device_status(self, agent: _Agent) -> str:
        """``ast_device_state`` of the member's state interface, as QueueMemberStatus' ``Status``: a Local state
        interface is INUSE (2) while it rings (recording 40), a phone RINGING (6)."""
        if agent.unavailable:
            return "5"
        if agent.ringing is not None and agent.call_queue is None:
            return "6" if agent.spec.device else "2"
        return "2" if agent.busy else "1"

    def _fields(self, agent: _Agent, m: _Membership) -> list[tuple[str, str]]:
        status = self._device_status(agent)
        in_call = agent.call_queue == m.queue
        mem = m.member
        mem.paused, mem.paused_reason, mem.calls_taken = m.paused, m.reason, m.calls_taken
        mem.last_call, mem.last_pause, mem.in_call, mem.status = m.last_call, m.last_pause, in_call, int(status)
        mem.busy = agent.busy
        return [
            ("Queue", m.queue), ("MemberName", agent.name), ("Interface", agent.spec.interface),
            ("StateInterface", agent.spec.state_interface), ("Membership", "dynamic"), ("Penalty", "0"),
            ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)), ("LastPause", str(m.last_pause)),
            ("LoginTime", str(int(m.login))), ("InCall", "1" if in_call else "0"),
            ("Status", status), ("Paused", "1" if m.paused else "0"), ("PausedReason", m.reason),
            ("Ringinuse", "0"), ("Wrapuptime", str(m.wrapup)),
        ]

    def _status(self, agent: _Agent) -> None:
        for m in agent.members.values():
            self.pbx.emit("QueueMemberStatus", AGENT, self._fields(agent, m))

    def _sync(self, agent: _Agent) -> None:
        """Bring the pbx.queues members up to date where no event shows the change (InCall at the answer)."""
        for m in agent.members.values():
            self._fields(agent, m)

    def _login(self, agent: _Agent, queue: str) -> None:
        pbx = self.pbx
        spec = agent.spec
        wrap = self.queues[queue].wrapup
        mem = Member(queue, agent.name, spec.interface, spec.state_interface, membership="dynamic",
                     login_time=int(pbx.now), wrapuptime=wrap, external=True)
        m = _Membership(queue, pbx.now, wrap, mem, paused=agent.paused, reason=self._break_reason(agent))
        agent.members[queue] = m
        agent.sessions.append(m)
        pbx.queues[queue].members.append(mem)
        if m.paused:
            self._member_pause_start(agent, m)
        pbx.devstate(f"Queue:{queue}_pause_{spec.interface}", "INUSE" if m.paused else "NOT_INUSE")
        pbx.emit("QueueMemberAdded", AGENT, self._fields(agent, m))

    def _break_reason(self, agent: _Agent) -> str:
        for p in reversed(self.pauses):
            if p["agent"] == agent.name and p["end"] is None and p["reason"] != AUTO_PAUSE:
                return str(p["reason"])
        return ""

    def _logout(self, agent: _Agent, queue: str) -> None:
        m = agent.members.pop(queue, None)
        if m is None:
            return
        m.logout = self.pbx.now
        if m.paused:
            self._member_pause_end(agent, m)
        q = self.pbx.queues[queue]
        if m.member in q.members:
            q.members.remove(m.member)
        self.pbx.emit("QueueMemberRemoved", AGENT, self._fields(agent, m))
        self.pbx.devstate(f"Queue:{queue}_pause_{agent.spec.interface}", "NOT_INUSE")

    def _member_pause_start(self, agent: _Agent, m: _Membership) -> None:
        self.member_pauses.append({"agent": agent.name, "interface": agent.spec.interface, "queue": m.queue,
                                   "reason": m.reason, "start": self.pbx.now, "end": None})

    def _member_pause_end(self, agent: _Agent, m: _Membership) -> None:
        for p in reversed(self.member_pauses):
            if p["agent"] == agent.name and p["queue"] == m.queue and p["end"] is None:
                p["end"] = self.pbx.now
                return

    def _set_paused(self, agent: _Agent, m: _Membership, reason: str | None) -> None:
        """``set_queue_member_pause()``: pause (``reason``) or unpause (None) one membership, with its event."""
        pbx = self.pbx
        if m.paused:
            self._member_pause_end(agent, m)
        m.paused, m.reason = reason is not None, reason or ""
        if m.paused:
            m.last_pause = int(pbx.now)
            self._member_pause_start(agent, m)
        pbx.devstate(f"Queue:{m.queue}_pause_{agent.spec.interface}", "INUSE" if m.paused else "NOT_INUSE")
        pbx.emit("QueueMemberPause", AGENT, self._fields(agent, m))

    def _pause(self, agent: _Agent, reason: str | None) -> None:
        """A break: pause (``reason``) or unpause (None) in every queue the agent is in (QueuePause without
        Queue), whether or not it is on a call (app_queue applies it at once; the call goes on)."""
        pbx = self.pbx
        agent.paused = reason is not None
        in_call = agent.busy or pbx.now < agent.wrapup_until - 1e-9
        for m in agent.members.values():
            self._set_paused(agent, m, reason)
        for p in self.pauses:  # an auto-pause the break replaced ends with it
            if p["agent"] == agent.name and p["end"] is None and p["reason"] == AUTO_PAUSE:
                p["end"] = pbx.now
        if reason is not None:
            self.pauses.append({"agent": agent.name, "interface": agent.spec.interface, "reason": reason,
                                "start": pbx.now, "end": None, "queues": sorted(agent.members),
                                "in_call": in_call})
        else:
            for p in reversed(self.pauses):
                if p["agent"] == agent.name and p["end"] is None:
                    p["end"] = pbx.now
                    break

    def _auto_pause(self, agent: _Agent, m: _Membership) -> Scenario:
        """app_queue's ``rna()`` with ``autopause=yes``: paused in this queue, until the agent notices and
        unpauses it (QueuePause with Queue)."""
        pbx = self.pbx
        self._set_paused(agent, m, AUTO_PAUSE)
        row = {"agent": agent.name, "interface": agent.spec.interface, "reason": AUTO_PAUSE, "start": pbx.now,
               "end": None, "queues": [m.queue], "in_call": False}
        self.pauses.append(row)
        yield self.rng.uniform(40.0, 150.0)
        if row["end"] is None:
            row["end"] = pbx.now
            if m.queue in agent.members and m.paused and m.reason == AUTO_PAUSE:
                self._set_paused(agent, m, None)
                self._dispatch()

    def _shift(self, agent: _Agent) -> Scenario:
        """An agent's day: login, the scheduled breaks (pressed when due) and queue changes and the logout (each
        when the agent is free)."""
        spec = agent.spec
        plan: list[tuple[float, str, Any]] = [(spec.login, "login", None), (spec.logout, "logout", None)]
        plan += [(s, "break", (length, reason)) for s, length, reason in spec.breaks]
        if spec.extra:
            plan += [(spec.extra[1], "join", spec.extra[0]), (spec.extra[2], "leave", spec.extra[0])]
        plan.sort(key=lambda p: p[0])
        for frac, what, arg in plan:
            yield from self._wait_until(self._at(frac))
            if what != "break":
                yield from self._wait_free(agent)
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

    def _outages(self, agent: _Agent) -> Scenario:
        """The agent's phone drops off the network (when it is free) and comes back."""
        pbx, device = self.pbx, agent.spec.state_interface
        for start, length in agent.spec.outages:
            yield from self._wait_until(self._at(start))
            yield from self._wait_free(agent)
            agent.unavailable = True
            row = {"agent": agent.name, "interface": agent.spec.interface, "start": pbx.now, "end": None}
            self.outages.append(row)
            pbx.emit("DeviceStateChange", CALL, [("Device", device), ("State", "UNAVAILABLE")])
            self._status(agent)
            yield length * self.length
            agent.unavailable = False
            row["end"] = pbx.now
            pbx.emit("DeviceStateChange", CALL, [("Device", device), ("State", "NOT_INUSE")])
            self._status(agent)
            agent.last_free = min(agent.last_free, pbx.now)
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
            if w.agent is not None or now < w.retry_until - 1e-9:
                continue
            free = [a for a in self.agents if w.queue in a.members and not a.members[w.queue].paused and a.free
                    and now >= a.wrapup_until - 1e-9 and not a.pending]
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
        """One caller on the queue's DID: answered, queued, then served, abandoned or timed out; a member who
        does not answer in time is rung out (AgentRingNoAnswer) and the next one tried after ``retry``."""
        pbx, rng = self.pbx, self.rng
        patience = max(2.0, rng.expovariate(1.0 / q.patience_mean))
        talk = max(20.0, rng.expovariate(1.0 / q.talk_mean))
        ring = rng.uniform(2.0, 6.0)
        hold = max(5.0, rng.expovariate(1.0 / 30.0)) if rng.random() < self.hold_share else 0.0
        hold_at = rng.uniform(0.2, 0.6)
        by_caller = rng.random() < 0.5
        no_answer_draw = rng.random()
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
        model_q = pbx.queues[q.name]
        model_q.callers.append(ch)
        rec.stint(q.name, w.joined)
        count = sum(1 for x in self.waiting if x.queue == q.name)
        pbx.emit("QueueCallerJoin", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Position", str(count)),
                                             ("Count", str(count))])
        stint: dict[str, Any] = {"linkedid": ch.linkedid, "queue": q.name, "joined": w.joined, "left": None,
                                 "outcome": None, "wait": None, "agent": None}
        self.stints.append(stint)
        gives_up, times_out = w.joined + patience, w.joined + q.timeout
        deadline = min(gives_up, times_out)
        agent: _Agent | None = None
        one: Channel | None = None
        while True:
            self._dispatch()
            while w.agent is None and pbx.now < deadline - 1e-9:
                yield (w.offered, deadline - pbx.now)
            agent, one = w.agent, None
            if agent is None:
                break
            one = self._ring(q, ch, agent)
            ring_start = pbx.now
            # the first ring of an agent given to ringing out (never while on a break: it would not be rung)
            rings_out = w.tried == 0 and no_answer_draw < agent.spec.no_answer and not agent.paused
            w.tried += 1
            rang = q.ring_timeout if rings_out else ring
            if deadline < pbx.now + rang - 1e-9:  # the caller hangs up (or times out) while the phone rings
                yield max(0.0, deadline - pbx.now)
                pbx.dial_end(ch, one, "CANCEL")
                pbx.hangup(one, 16, request=False, h_exten=False)
                self._ring_over(agent, q, ring_start, ch, answered=False)
                agent, one = None, None
                break
            yield rang
            if not rings_out:
                self.rings.append({"agent": agent.name, "queue": q.name, "linkedid": ch.linkedid,
                                   "start": ring_start, "end": pbx.now, "answered": True})
                break
            # AgentRingNoAnswer (recording 40): the ring is given up, the member auto-paused, the caller waits
            pbx.emit("AgentRingNoAnswer", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), ("Queue", q.name),
                                                   ("Interface", agent.spec.interface), ("MemberName", agent.name),
                                                   ("RingTime", str(int(rang * 1000)))])
            pbx.dial_end(ch, one, "NOANSWER")
            pbx.hangup(one, 0, request=False, h_exten=False)
            self._ring_over(agent, q, ring_start, ch, answered=False, no_answer=True)
            if q.autopause and q.name in agent.members and not agent.members[q.name].paused:
                self._spawn(self._auto_pause(agent, agent.members[q.name]))
            w.agent = None
            w.offered = Signal()
            w.retry_until = pbx.now + q.retry
            self._spawn(self._redispatch(q.retry))
        pos = self.waiting.index(w) + 1
        self.waiting.remove(w)
        if ch in model_q.callers:
            model_q.callers.remove(ch)
        left_count = sum(1 for x in self.waiting if x.queue == q.name)
        wait = pbx.now - w.joined
        if agent is None or one is None:
            abandoned = gives_up <= times_out
            model_q.abandoned += 1
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
        agent.call_queue = q.name
        model_q.holdtime += wait
        if agent.spec.device:  # the phone goes from RINGING to INUSE
            pbx.emit("DeviceStateChange", CALL, [("Device", agent.spec.device), ("State", "INUSE")])
            self._status(agent)
        else:
            self._sync(agent)
        stint.update(left=pbx.now, outcome="answered", wait=wait, agent=agent.name)
        rec.end_stint(pbx.now, "answered", agent.name)
        rec.answer, rec.agent, rec.callee = pbx.now, agent.name, agent.spec.interface
        rec.disposition, rec.answered_by, rec.hop = "answered", agent.spec.state_interface, agent.spec.interface
        b = pbx.bridge_create()
        pbx.bridge_enter(b, one)
        pbx.bridge_enter(b, ch, peer=one)
        hold_start = math.nan
        if hold > 0:
            yield talk * hold_at
            hold_start = pbx.now
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
                                 "hold_start": hold_start, "wrapup": float(wrap), "wait": wait})
        model_q.completed += 1
        model_q.talktime += complete - connect
        rec.hangup_cause = 16
        first, second = (ch, one) if by_caller else (one, ch)
        pbx.hangup(first, 16)
        pbx.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
        pbx.hangup(second, 16, request=False)
        self._end_seizure(seizure, ch)
        for m in agent.members.values():  # shared_lastcall: every membership's lastcall and calls
            m.calls_taken += 1
            m.last_call = int(pbx.now)
        agent.busy, agent.ringing, agent.call_queue = False, None, None
        agent.wrapup_until = complete + wrap
        agent.last_free = agent.wrapup_until
        if agent.spec.device:
            pbx.emit("DeviceStateChange", CALL, [("Device", agent.spec.device), ("State", "NOT_INUSE")])
        self._status(agent)
        self._spawn(self._wrapup(agent, wrap))

    def _ring_over(self, agent: _Agent, q: QueueSpec, start: float, caller: Channel, *, answered: bool,
                   no_answer: bool = False) -> None:
        """A ring that did not connect: the agent is free again (the caller left, or it rang out)."""
        self.rings.append({"agent": agent.name, "queue": q.name, "linkedid": caller.linkedid, "start": start,
                           "end": self.pbx.now, "answered": answered, "no_answer": no_answer})
        agent.busy, agent.ringing = False, None
        if agent.spec.device:
            self.pbx.emit("DeviceStateChange", CALL, [("Device", agent.spec.device), ("State", "NOT_INUSE")])
        self._status(agent)
        self._freed_later()

    def _redispatch(self, delay: float) -> Scenario:
        yield delay
        self._dispatch()

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
        if agent.spec.device:
            pbx.emit("DeviceStateChange", CALL, [("Device", agent.spec.device), ("State", "RINGING")])
        self._status(agent)
        return one

    # -- ground truth --------------------------------------------------------------------------------------------
    def truth(self, since: float | None = None) -> dict[str, Any]:
        """The day's ground truth as DataFrames (module docstring); ``since`` (epoch seconds) clips the agent
        tables to the time from then on."""
        import pandas as pd

        def ts(df: Any, cols: tuple[str, ...]) -> Any:
            for c in cols:
                if c in df:
                    df[c] = pd.to_datetime(df[c].astype("float64"), unit="s", utc=True)
            return df

        states = self._states(since)
        sessions = [{"agent": a.name, "interface": a.spec.interface, "queue": m.queue, "login": m.login,
                     "logout": m.logout, "wrapuptime": m.wrapup} for a in self.agents for m in a.sessions]
        trunk_rows = [s.row() for s in self.seizures]
        rna = [r for r in self.rings if r.get("no_answer")]
        out = {
            "agent_states": ts(pd.DataFrame(states, columns=_STATE_COLUMNS), ("start", "end")),
            "agents": self._agent_table(states),
            "agent_totals": self._agent_totals(states),
            "sessions": ts(pd.DataFrame(sessions, columns=["agent", "interface", "queue", "login", "logout",
                                                             "wrapuptime"]), ("login", "logout")),
            "pauses": ts(pd.DataFrame(self.pauses, columns=["agent", "interface", "reason", "start", "end",
                                                             "queues", "in_call"]), ("start", "end")),
            "member_pauses": ts(pd.DataFrame(self.member_pauses, columns=["agent", "interface", "queue", "reason",
                                                                           "start", "end"]), ("start", "end")),
            "ring_no_answer": ts(pd.DataFrame(rna, columns=["agent", "queue", "linkedid", "start", "end"]),
                                 ("start", "end")),
            "outages": ts(pd.DataFrame(self.outages, columns=["agent", "interface", "start", "end"]),
                          ("start", "end")),
            "agent_calls": ts(pd.DataFrame(self.agent_calls, columns=[
                "agent", "interface", "queue", "linkedid", "ring_start", "connect", "complete", "talk", "hold",
                "hold_start", "wrapup", "wait"]), ("ring_start", "connect", "complete", "hold_start")),
            "stints": ts(pd.DataFrame(self.stints, columns=["linkedid", "queue", "joined", "left", "outcome", "wait",
                                                             "agent"]), ("joined", "left")),
            "queues": self._queue_table(),
            "trunks": ts(pd.DataFrame(trunk_rows, columns=list(Seizure.__dataclass_fields__)),
                         ("start", "answer", "end")),
            "trunk_kpis": self._trunk_table(),
        }
        if self.checkpoint is not None:
            out["checkpoint"] = pd.Timestamp(self.checkpoint, unit="s", tz="UTC")
        return out

    def _states(self, since: float | None) -> list[tuple[Any, ...]]:
        """Each membership's states (module docstring) from the simulator's own records, merged where the same
        state goes on, clipped to ``since``."""
        end_of_day = self.pbx.now
        rows: list[tuple[Any, ...]] = []
        for a in self.agents:
            calls = sorted((c for c in self.agent_calls if c["agent"] == a.name), key=lambda c: c["connect"])
            rings = sorted((r["start"], r["end"]) for r in self.rings if r["agent"] == a.name)
            outages = sorted((o["start"], o["end"] if o["end"] is not None else end_of_day)
                              for o in self.outages if o["agent"] == a.name)
            call_spans = [(c["connect"], c["complete"]) for c in calls]
            wrap_spans = [(c["complete"], c["complete"] + c["wrapup"]) for c in calls]
            for m in a.sessions:
                t0, t1 = m.login, m.logout if m.logout is not None else end_of_day
                if since is not None:
                    t0 = max(t0, since)
                if t1 <= t0:
                    continue
                pauses = sorted((p["start"], p["end"] if p["end"] is not None else end_of_day, p["reason"])
                                for p in self.member_pauses if p["agent"] == a.name and p["queue"] == m.queue)
                cuts = {t0, t1}
                for spans in (call_spans, wrap_spans, rings, outages, [(p[0], p[1]) for p in pauses]):
                    for s, e in spans:
                        cuts.update(x for x in (s, e) if t0 < x < t1)
                for c in calls:
                    if not math.isnan(c["hold_start"]):
                        cuts.update(x for x in (c["hold_start"], c["hold_start"] + c["hold"]) if t0 < x < t1)
                seq = sorted(cuts)
                cur: list[Any] | None = None
                for x0, x1 in itertools.pairwise(seq):
                    mid = (x0 + x1) / 2
                    state, reason = self._state_at(mid, m.queue, calls, call_spans, wrap_spans, rings, outages,
                                                   pauses)
                    if cur is not None and cur[3] == state and cur[4] == reason and cur[6] == x0:
                        cur[6] = x1
                        continue
                    if cur is not None:
                        rows.append(tuple(cur))
                    cur = [m.queue, a.spec.interface, a.name, state, reason, x0, x1]
                if cur is not None:
                    rows.append(tuple(cur))
        return [(*r, r[6] - r[5]) for r in rows]

    @staticmethod
    def _state_at(t: float, queue: str, calls: list[dict[str, Any]], call_spans: list[tuple[float, float]],
                  wrap_spans: list[tuple[float, float]], rings: list[tuple[float, float]],
                  outages: list[tuple[float, float]], pauses: list[tuple[float, float, str]]) -> tuple[str, str]:
        def find(spans: list[Any]) -> int | None:
            i = bisect.bisect_right([s[0] for s in spans], t) - 1
            return i if i >= 0 and t < spans[i][1] else None

        i = find(call_spans)
        if i is not None:
            c = calls[i]
            if c["queue"] != queue:
                return "other_queue", c["queue"]
            held = not math.isnan(c["hold_start"]) and c["hold_start"] <= t < c["hold_start"] + c["hold"]
            return ("hold" if held else "talk"), ""
        i = find(wrap_spans)
        if i is not None:
            c = calls[i]
            return ("wrapup", "") if c["queue"] == queue else ("other_queue", c["queue"])
        i = find(pauses)
        if i is not None:
            return "paused", pauses[i][2]
        if find(rings) is not None:
            return "busy", ""
        if find(outages) is not None:
            return "unavailable", ""
        return "idle", ""

    def _agent_table(self, states: list[tuple[Any, ...]]) -> Any:
        import pandas as pd

        keys = sorted({(r[0], r[1]) for r in states})
        name = {r[1]: r[2] for r in states}
        rows = []
        for queue, iface in keys:
            mine = [r for r in states if r[0] == queue and r[1] == iface]
            r: dict[str, Any] = {"queue": queue, "interface": iface, "member_name": name[iface]}
            for s in _STATES:
                r[s] = sum(x[7] for x in mine if x[3] == s)
            r["logged_in"] = sum(x[7] for x in mine)
            t0, t1 = min(x[5] for x in mine), max(x[6] for x in mine)
            r["calls"] = sum(1 for c in self.agent_calls if c["interface"] == iface and c["queue"] == queue
                             and t0 <= c["complete"] <= t1
                             and any(x[5] <= c["complete"] <= x[6] for x in mine))
            rows.append(r)
        cols = ["queue", "interface", "member_name", "logged_in", "paused", "idle", "talk", "hold", "wrapup",
                "other_queue", "busy", "unavailable", "calls"]
        return pd.DataFrame(rows, columns=cols).sort_values(["queue", "interface"]).reset_index(drop=True)

    def _agent_totals(self, states: list[tuple[Any, ...]]) -> Any:
        """Per agent across its queues: each instant in the most telling state any of its queues shows (a call
        beats wrap-up beats ringing beats idle in some queue beats unavailable beats paused everywhere)."""
        import pandas as pd

        # another queue's call or wrap-up shows as such in the call's own queue (talk, hold, wrapup)
        rank = {"talk": 0, "hold": 0, "wrapup": 1, "busy": 2, "idle": 3, "unavailable": 4, "paused": 5,
                "other_queue": 6}
        rows = []
        for iface in sorted({r[1] for r in states}):
            mine = [r for r in states if r[1] == iface]
            seq = sorted({x for r in mine for x in (r[5], r[6])})
            acc = dict.fromkeys(_STATES, 0.0)
            for x0, x1 in itertools.pairwise(seq):
                on = [r for r in mine if r[5] <= x0 and r[6] >= x1]
                if not on:
                    continue
                best = min(on, key=lambda r: rank[r[3]])
                state = "talk" if best[3] == "other_queue" else best[3]
                acc[state] += x1 - x0
            calls = [c for c in self.agent_calls if c["interface"] == iface
                     and any(r[5] <= c["complete"] <= r[6] for r in mine)]
            rows.append({"interface": iface, "member_name": mine[0][2], "logged_in": sum(acc.values()), **acc,
                         "calls": len(calls)})
        cols = ["interface", "member_name", "logged_in", *_STATES, "calls"]
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


def truth_of(pbx: PBX, since: float | None = None) -> dict[str, Any]:
    """The ground truth of the last contact-centre day run on ``pbx`` (``since``: see :meth:`ContactCentre.truth`)."""
    day = _DAYS.get(pbx)
    if day is None:
        raise LookupError("no contact-centre day has run on this simulated PBX; call simulate_contact_centre()")
    return day.truth(since)


#: Simulated seconds per real second while a day is held at its ``pause_at`` (the clock all but stops).
_HELD = 1e-9


async def run_day(server: Any, *, pause_at: float | None = None, **options: Any) -> ContactCentre:
    """Run one day on ``server`` (an :class:`~ami_nb.sim.server.AMIServer`) at its time scale; return when every
    agent has logged out and every call has ended, or, with ``pause_at`` (a fraction of the day), when the day
    has reached that point: the PBX's clock then stands still until :func:`resume_day`."""
    pbx = server.pbx
    server.sync_clock()
    day = ContactCentre(pbx, **options)
    _DAYS[pbx] = day
    reached = asyncio.Event()
    if pause_at is not None:
        if not 0 < pause_at < 1:
            raise ValueError(f"pause_at is a fraction of the day between 0 and 1, got {pause_at!r}")
        scale = server.time_scale

        def hold() -> None:
            day.resume_scale = scale
            server.set_time_scale(_HELD)
            reached.set()

        day.on_checkpoint = hold
    day.begin(pause_at)
    server.wake()
    while not day.done and not reached.is_set():
        await asyncio.sleep(0.005)
    return day


async def resume_day(server: Any) -> ContactCentre:
    """Run the rest of a day held at its ``pause_at``, to its end."""
    day = _DAYS.get(server.pbx)
    if day is None or day.resume_scale is None:
        raise LookupError("no contact-centre day is held on this simulated PBX; simulate_contact_centre(pause_at=)")
    server.set_time_scale(day.resume_scale)
    day.resume_scale = None
    while not day.done:
        await asyncio.sleep(0.005)
    return day

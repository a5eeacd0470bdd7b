"""Traffic scenarios of the simulated PBX: calls between PJSIP phones, through the queue, transfers.

No recording of queue or transfer calls exists, so their events follow Asterisk 22's documented AMI events
(``AgentCalled``, ``AgentConnect``, ``AgentComplete``, ``QueueCallerJoin``/``Leave``/``Abandon``,
``BlindTransfer``), built from the same channel primitives as the recorded calls. Durations are drawn from the
:class:`~ami_nb.sim.state.Traffic` options with the PBX's seeded random generator.
"""

from __future__ import annotations

from typing import Any

from . import topologies
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


class TrafficMixin:
    """Traffic methods of :class:`~ami_nb.sim.model.PBX` (kept apart for size; they use its primitives)."""

    # -- traffic scenarios (PJSIP phones; durations from the traffic options) ---------------------------------
    def _exp(self, mean: float, lo: float = 0.0) -> float:
        return max(lo, self.rng.expovariate(1.0 / mean)) if mean > 0 else lo

    def _party(self) -> tuple[str, str, str]:
        i = self.rng.randrange(len(USERS))
        return USERS[i], FIRST_NAMES[i], f"{2000 + i}"

    def scenario(self, kind: str, *, caller: str | None = None, callee: str | None = None,
                 talk: float | None = None, ring: float | None = None,
                 patience: float | None = None, **options: Any) -> Scenario:
        """One call of the given kind (see :data:`DEFAULT_MIX`); ``patience`` (queue calls) is how long the
        caller waits for an agent before hanging up (drawn when not given). The topologies of
        :mod:`~ami_nb.sim.topologies` (``ringgroup``, ``followme``, ``queue_phones``, ``attended``, ``blonde``,
        ``pickup``, ``click2dial``) take their own options."""
        if kind in topologies.SCENARIOS:
            extra = {k: v for k, v in (("talk", talk), ("ring", ring)) if v is not None}
            return topologies.scenario(self, kind, **extra, **options)  # type: ignore[arg-type]
        if options:
            raise TypeError(f"scenario {kind!r} does not take {sorted(options)}")
        t = self.traffic
        cu, cname, cnum = self._party()
        if caller:
            cu, cname, cnum = caller, caller.capitalize(), f"{2000 + (sum(map(ord, caller)) % 100)}"
        du, _, dnum = self._party()
        while du == cu:
            du, _, dnum = self._party()
        if callee:
            du, dnum = callee, f"{2000 + (sum(map(ord, callee)) % 100)}"
        talk = self._exp(t.talk_mean, t.talk_min) if talk is None else talk
        ring = self._exp(t.ring_mean, 1.0) if ring is None else ring
        if kind in ("queue", "abandon"):
            return self._queue_call(kind, cu, cname, cnum, talk, ring, patience)
        if kind not in DISPOSITION:
            raise ValueError(f"unknown scenario {kind!r}; known: {sorted(DISPOSITION)}")
        return self._direct_call(kind, cu, cname, cnum, du, dnum, talk, ring)

    def _caller_leg(self, user: str, name: str, num: str, exten: str, scenario: str, callee: str) -> Channel:
        ch = self.phone(user, "from-internal", exten, state=4)
        ch.cid_num, ch.cid_name = num, name
        self.record(ch, num, callee, scenario)
        self.newexten(ch, "NoOp", f"Call from {num} to {exten}", priority=1)
        return ch

    def _dial_phone(self, caller: Channel, user: str, num: str) -> Channel:
        self.newexten(caller, "Dial", f"PJSIP/{user},30", priority=2)
        for var in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME"):
            self.varset(caller, var, "")
        dest = self.phone(user, "from-internal", caller.exten, linkedid=caller.linkedid)
        dest.dialed = True
        dest.cid_num, dest.cid_name = num, user.capitalize()
        self.set_connected(dest, caller.cid_num, caller.cid_name)
        self.dial_begin(caller, dest, user)
        return dest

    def _direct_call(self, kind: str, cu: str, cname: str, cnum: str, du: str, dnum: str, talk: float,
                     ring: float) -> Scenario:
        caller = self._caller_leg(cu, cname, cnum, dnum, kind, dnum)
        rec = caller.call
        assert rec is not None
        yield 0.05
        dest = self._dial_phone(caller, du, dnum)
        if kind == "congestion":
            yield 0.1
            self.dial_end(caller, dest, "CONGESTION")
            self.hangup(dest, 34, request=False, h_exten=False)
            self.varset(caller, "DIALSTATUS", "CONGESTION")
            rec.disposition, rec.hangup_cause = "failed", 34
            yield 0.5
            self.hangup(caller, 34, request=False, dialstatus="CONGESTION", disposition="FAILED")
            return
        if kind == "busy":
            yield 0.3
            self.newstate(dest, 7)
            self.dial_end(caller, dest, "BUSY")
            self.hangup(dest, 17, request=False, h_exten=False)
            self.varset(caller, "DIALSTATUS", "BUSY")
            rec.disposition, rec.hangup_cause = "busy", 17
            yield 0.5
            self.hangup(caller, 17, request=False, dialstatus="BUSY", disposition="BUSY")
            return
        self.newstate(dest, 5)
        self.dial_state(caller, dest, "RINGING")
        self.newstate(caller, 5)
        if kind == "noanswer":
            yield 30.0
            self.dial_end(caller, dest, "NOANSWER")
            self.hangup(dest, 19, request=False, h_exten=False)
            self.varset(caller, "DIALSTATUS", "NOANSWER")
            rec.disposition, rec.hangup_cause = "no answer", 19
            self.hangup(caller, 19, request=False, dialstatus="NOANSWER")
            return
        yield ring
        self.cel(dest, "ANSWER")
        self.newstate(dest, 6)
        self.cel(caller, "ANSWER")
        self.newstate(caller, 6)
        rec.answer = self.now
        rec.disposition = "answered"
        rec.answered_by = dest.device
        self.dial_end(caller, dest, "ANSWER")
        b = self.bridge_create()
        self.bridge_enter(b, dest)
        self.bridge_enter(b, caller, peer=dest)
        if kind == "transfer":
            yield max(1.0, talk * 0.3)
            yield from self._blind_transfer(caller, dest, b, talk * 0.7)
            return
        yield talk
        first, second = (caller, dest) if self.rng.random() < 0.5 else (dest, caller)
        rec.hangup_cause = 16
        self.hangup(first, 16, dest_channel=dest.name if first is caller else "")
        self.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
        self.hangup(second, 16, request=False, dest_channel=dest.name if second is caller else "")

    def _blind_transfer(self, caller: Channel, dest: Channel, b: Bridge, talk: float) -> Scenario:
        """``dest`` blind-transfers ``caller`` to a third phone: BlindTransfer, then the caller moves."""
        rec = caller.call
        assert rec is not None
        tu, _, tnum = self._party()
        while tu in (dest.name.split("/")[1].split("-")[0], caller.name.split("/")[1].split("-")[0]):
            tu, _, tnum = self._party()
        self.emit("BlindTransfer", CALL, [
            ("Result", "Success"),
            *dest.snapshot("Transferer"),
            *caller.snapshot("Transferee"),
            *[(k, v) for k, v in b.fields()],
            ("IsExternal", "No"),
            ("Context", "from-internal"),
            ("Extension", tnum),
        ])
        rec.transfer("blind", dest.device, f"PJSIP/{tu}", self.now)
        self.bridge_leave(caller)
        self.hangup(dest, 16, dest_channel="")
        self.newexten(caller, "Dial", f"PJSIP/{tu},30", priority=1, exten=tnum, context="from-internal")
        target = self.phone(tu, "from-internal", tnum, linkedid=caller.linkedid)
        target.dialed = True
        self.dial_begin(caller, target, tu)
        self.newstate(target, 5)
        yield self._exp(self.traffic.ring_mean, 1.0)
        self.cel(target, "ANSWER")
        self.newstate(target, 6)
        self.dial_end(caller, target, "ANSWER")
        rec.callee = tnum
        b2 = self.bridge_create()
        self.bridge_enter(b2, target)
        self.bridge_enter(b2, caller, peer=target)
        yield max(1.0, talk)
        rec.hangup_cause = 16
        self.hangup(caller, 16, dest_channel=target.name)
        self.emit("HangupRequest", CALL, [*target.snapshot(), ("Cause", "16")])
        self.hangup(target, 16, request=False)

    def _queue_call(self, kind: str, cu: str, cname: str, cnum: str, talk: float, ring: float,
                    patience: float | None = None) -> Scenario:
        """A caller in the queue, served as app_queue serves it with ``autofill=yes``.

        Waiting callers are offered free agents in order of arrival (:meth:`_queue_dispatch`), the agent chosen by
        the queue's strategy. Every caller draws a patience (exponential; ``abandon`` callers are the impatient
        ones, mean ``patience_mean``, ``queue`` callers mean ``queue_patience_mean``) that races being answered
        and the queue's timeout: answered (AgentConnect), abandoned (QueueCallerAbandon, also while an agent
        rings) or timed out (QueueCallerLeave after ``queue_timeout``, disposition ``no answer``)."""
        t = self.traffic
        q = self.queues.get(t.queue) or next(iter(self.queues.values()))
        caller = self._caller_leg(cu, cname, cnum, "300", kind, q.name)
        rec = caller.call
        assert rec is not None
        rec.queue = q.name
        if patience is None:
            mean = t.patience_mean if kind == "abandon" else t.queue_patience_mean
            patience = self._exp(mean, 2.0)
        yield 0.05
        self.newexten(caller, "Answer", "", priority=2)
        self.cel(caller, "ANSWER")
        self.newstate(caller, 6)
        self.newexten(caller, "Queue", f"{q.name},rt,,,300", priority=3)
        q.callers.append(caller)
        offered = Signal()
        q.offers[caller] = offered
        joined = self.now
        rec.stint(q.name, joined)
        self.emit("QueueCallerJoin", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                             ("Position", str(len(q.callers))), ("Count", str(len(q.callers)))])
        gives_up = joined + patience
        times_out = joined + t.queue_timeout
        deadline = min(gives_up, times_out)
        self._queue_dispatch(q)
        member: Member | None = q.assigned.get(caller)
        while member is None and self.now < deadline - 1e-9:
            yield (offered, deadline - self.now)
            member = q.assigned.get(caller)
        agent_ch: Channel | None = None
        if member is not None:  # an agent is free for this caller: ring it; the caller may still give up
            agent_ch = self._queue_ring(q, caller, member)
            if deadline < self.now + ring - 1e-9:
                yield max(0.0, deadline - self.now)
                self.dial_end(caller, agent_ch, "CANCEL")
                self.hangup(agent_ch, 16, request=False, h_exten=False)
                q.assigned.pop(caller, None)
                member.in_call = False
                agent_ch = None
            else:
                yield ring
                if agent_ch.peer is not None:  # the agent's Local ;2 answers, then ;1 is up
                    self.cel(agent_ch.peer, "ANSWER")
                    self.newstate(agent_ch.peer, 6)
                self.cel(agent_ch, "ANSWER")
                self.newstate(agent_ch, 6)
                self.dial_end(caller, agent_ch, "ANSWER")
                hold = self.now - joined
                self.emit("AgentConnect", AGENT, [*caller.snapshot(), *agent_ch.snapshot("Dest"),
                                                  ("Queue", q.name), ("MemberName", member.name),
                                                  ("Interface", member.interface), ("RingTime", str(int(ring))),
                                                  ("HoldTime", str(int(hold)))])
        pos = q.callers.index(caller) + 1
        q.callers.remove(caller)
        q.offers.pop(caller, None)
        q.assigned.pop(caller, None)
        if agent_ch is None or member is None:
            hold = self.now - joined
            abandoned = gives_up <= times_out
            if abandoned:
                q.abandoned += 1
                self.emit("QueueCallerAbandon", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                                        ("Position", str(pos)), ("OriginalPosition", str(pos)),
                                                        ("HoldTime", str(int(hold)))])
            self.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                                  ("Count", str(len(q.callers))), ("Position", str(pos))])
            self.queue_changed(q)
            rec.disposition, rec.hangup_cause = ("abandoned" if abandoned else "no answer"), 16
            rec.end_stint(self.now, "abandon" if abandoned else "timeout")
            self.hangup(caller, 16)
            return
        self.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                              ("Count", str(len(q.callers))), ("Position", str(pos))])
        self.queue_changed(q)
        rec.answer = self.now
        rec.agent = member.name
        rec.callee = member.interface
        rec.disposition = "answered"
        rec.answered_by = member.state_interface
        rec.hop = member.interface
        rec.end_stint(self.now, "answered", member.name)
        hold = self.now - joined
        b = self.bridge_create()
        self.bridge_enter(b, agent_ch)
        self.bridge_enter(b, caller, peer=agent_ch)
        yield talk
        by_caller = self.rng.random() < 0.5
        q.completed += 1
        q.holdtime += hold
        q.talktime += talk
        member.calls_taken += 1
        member.last_call = int(self.now)
        self.emit("AgentComplete", AGENT, [*caller.snapshot(), *agent_ch.snapshot("Dest"), ("Queue", q.name),
                                           ("MemberName", member.name), ("Interface", member.interface),
                                           ("HoldTime", str(int(hold))), ("TalkTime", str(int(talk))),
                                           ("Reason", "caller" if by_caller else "agent")])
        rec.hangup_cause = 16
        first, second = (caller, agent_ch) if by_caller else (agent_ch, caller)
        self.hangup(first, 16)
        self.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
        self.hangup(second, 16, request=False)
        member.in_call = False
        self.queue_changed(q)

    def _queue_dispatch(self, q: Queue) -> None:
        """Offer free agents to the waiting callers, first come first served (app_queue with autofill=yes):
        each free, unpaused member goes to the longest-waiting caller without one, picked by the strategy."""
        members = self._agents(q)
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
            self.sched.fire(q.offers[caller])

    def queue_changed(self, q: Queue) -> None:
        """Something changed in ``q`` (an agent is free, a caller left, a pause changed): offer the free agents
        to the waiting callers and wake whoever waits on the queue."""
        self._queue_dispatch(q)
        sig, q.changed = q.changed, Signal()
        self.sched.fire(sig)

    def _agents(self, q: Queue) -> list[Member]:
        """The members taking traffic: the configured ones, plus dynamic agents up to ``traffic.agents``."""
        want = max(1, self.traffic.agents)
        while len(q.members) < want:
            i = len(q.members) + 1
            q.members.append(Member(q.name, f"Agent {i}", f"Local/agent{i}@agents/n", f"Local/agent{i}@agents",
                                    membership="dynamic", login_time=int(self.now)))
        return q.members[:want]

    def _queue_ring(self, q: Queue, caller: Channel, member: Member) -> Channel:
        iface = member.interface.removesuffix("/n")
        _, _, rest = iface.partition("/")
        exten, _, ctx = rest.partition("@")
        one, two = self.local_pair(exten, ctx or "agents", linkedid=caller.linkedid)
        for ch in (one, two):
            ch.dialed = True
            ch.cid_num, ch.cid_name = caller.cid_num, caller.cid_name
        self.newexten(one, "AppQueue", "(Outgoing Line)")
        self.local_bridge(one, two)
        self.emit("AgentCalled", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", q.name),
                                         ("MemberName", member.name), ("Interface", member.interface)])
        self.dial_begin(caller, one, iface.partition("/")[2])
        self.newstate(one, 5)
        return one

    # -- continuous traffic ---------------------------------------------------------------------------------------
    def pick_kind(self) -> str:
        mix = {k: w for k, w in self.traffic.mix.items() if w > 0}
        r = self.rng.random() * sum(mix.values())
        for k, w in mix.items():
            r -= w
            if r <= 0:
                return k
        return next(iter(mix))

    def traffic_source(self, until: float | None = None) -> Scenario:
        """Poisson arrivals at ``traffic.rate`` calls per simulated hour, until ``until`` or stopped."""
        gen = self._traffic_gen
        while self.traffic_running and gen == self._traffic_gen:
            gap = self.rng.expovariate(self.traffic.rate / 3600.0) if self.traffic.rate > 0 else 3600.0
            if until is not None and self.now + gap > until:
                return
            yield gap
            if not self.traffic_running or gen != self._traffic_gen:
                return
            self.sched.add(self.scenario(self.pick_kind()))

    def start_traffic(self, until: float | None = None) -> None:
        self._traffic_gen += 1
        self.traffic_running = True
        self.sched.add(self.traffic_source(until))

    def stop_traffic(self) -> None:
        self.traffic_running = False
        self._traffic_gen += 1

    def active_calls(self) -> int:
        return len(self.linked)

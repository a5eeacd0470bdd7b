"""The dialplan ``Queue()`` application of the simulated PBX, as app_queue.c runs it (recordings 40, 41, 42, 46).

``queue_exec`` is what ``Queue(support,rt,,,30)`` does on a channel: the caller joins (QueueCallerJoin), the
best available member by the queue's strategy is rung through its Local channel (AgentCalled, DialBegin; its
``;2`` half runs the ``agents`` dialplan), and then one of

* the member answers: QueueCallerLeave *before* AgentConnect, a bridge, AgentComplete (``Reason: agent`` when
  the member side hangs up first, ``caller`` otherwise), and the caller is hung up with the bridge;
* the member does not answer within the member ``timeout`` (5 s): AgentRingNoAnswer (``RingTime`` in ms), the
  ring is cancelled and the next member is tried after ``retry`` (1 s);
* the caller hangs up: QueueCallerAbandon, QueueCallerLeave, and the channel goes (no QUEUESTATUS);
* the Queue() timeout expires: ``record_abandoned()`` sends QueueCallerAbandon too (``HoldTime`` = the timeout),
  then QueueCallerLeave, ``QUEUESTATUS=TIMEOUT``, and the dialplan goes on.

Members: rrmemory (``rrpos`` = the member after the last one rung) with penalties as ``calc_metric`` weighs them
(penalty x 1,000,000), so a penalty-1 member is rung only while every penalty-0 member is busy or paused; a
member is busy while its state interface has a channel (a Local state interface is INUSE even while it only
rings), and QueueMemberStatus reports that (``Status: 2`` / ``1``) in every queue the member is in. The
``Queue:<name>_avail`` device is INUSE while the queue has no available member. The queue variables
(``setqueuevar``, ``setqueueentryvar``, ``setinterfacevar``) are set in the recorded order.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .scheduler import Scenario, Signal
from .state import AGENT, CALL, Channel, Member, Pairs, Queue

#: the :class:`~ami_nb.sim.model.PBX` (typed loosely: the model imports this module, so this one cannot import
#: the model without a cycle)
PBX = Any

QUEUE_OPTIONS = {"timeout": 5.0, "retry": 1.0}


def _opt(q: Queue, key: str) -> float:
    from . import configs

    for name, lines in configs.QUEUES:
        if name == q.name:
            for k, v in lines:
                if k == key:
                    return float(v)
    return QUEUE_OPTIONS[key]


# -- member and queue state -------------------------------------------------------------------------------------
def member_busy(pbx: PBX, m: Member) -> bool:
    """The member's state interface has a live channel (Local: INUSE even while ringing)."""
    dev = m.state_interface.removesuffix("/n")
    return any(c.device == dev and not c.hungup for c in pbx.channels.values())


def _ringinuse_table() -> dict[str, bool]:
    from . import configs

    return {name: dict(lines).get("ringinuse", "yes") == "yes" for name, lines in configs.QUEUES}


ringinuse_of = _ringinuse_table()


def member_pairs(m: Member, status: int | None = None) -> Pairs:
    """The keys of QueueMemberStatus / Pause / Added / Removed, as recorded."""
    st = status if status is not None else (2 if m.busy else 1)
    return [
        ("Queue", m.queue), ("MemberName", m.name), ("Interface", m.interface),
        ("StateInterface", m.state_interface), ("Membership", m.membership), ("Penalty", str(m.penalty)),
        ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)), ("LastPause", str(m.last_pause)),
        ("LoginTime", str(m.login_time)), ("InCall", "1" if m.in_call else "0"), ("Status", str(st)),
        ("Paused", "1" if m.paused else "0"), ("PausedReason", m.paused_reason),
        ("Ringinuse", "1" if ringinuse_of.get(m.queue, True) else "0"), ("Wrapuptime", "0"),
    ]


def ringinuse(q: Queue) -> bool:
    """queues.conf ``ringinuse`` (default yes): may a member already in use be rung?"""
    from . import configs

    for name, lines in configs.QUEUES:
        if name == q.name:
            return dict(lines).get("ringinuse", "yes") == "yes"
    return True


def available(pbx: PBX, q: Queue) -> bool:
    use = ringinuse(q)
    return any(not m.paused and (use or not (m.busy or m.in_call)) for m in q.members)


def update_avail(pbx: PBX, q: Queue) -> None:
    """``Queue:<name>_avail`` follows whether any member can take a call."""
    state = "NOT_INUSE" if available(pbx, q) else "INUSE"
    if q.avail_state != state:
        first = q.avail_state == ""
        q.avail_state = state
        if not first or state == "INUSE":
            pbx.emit("DeviceStateChange", CALL, [("Device", f"Queue:{q.name}_avail"), ("State", state)])


def device_changed(pbx: PBX, device: str) -> None:
    """A device's state was published: members on it report QueueMemberStatus when busy/free changed."""
    for q in pbx.queues.values():
        changed = False
        for m in q.members:
            if m.external or m.state_interface.removesuffix("/n") != device:
                continue
            busy = member_busy(pbx, m)
            if busy != m.busy:
                m.busy = busy
                changed = True
                pbx.emit("QueueMemberStatus", AGENT, member_pairs(m))
        if changed:
            update_avail(pbx, q)
            sig, q.changed = q.changed, Signal()
            pbx.sched.fire(sig)


def pick(pbx: PBX, q: Queue, exclude: set[int] | None = None) -> tuple[int, Member] | None:
    """The member to ring (``calc_metric`` of rrmemory/ringall with penalties), or None."""
    best: tuple[int, int, Member] | None = None
    for i, m in enumerate(q.members):
        if m.paused or (exclude and i in exclude):
            continue
        if not ringinuse_of.get(q.name, True) and (m.busy or m.in_call or member_busy(pbx, m)):
            continue
        metric = (1000 + i if i < q.rr else i) + m.penalty * 1_000_000
        if best is None or metric < best[0]:
            best = (metric, i, m)
    return None if best is None else (best[1], best[2])


# -- the Queue() application -------------------------------------------------------------------------------------
def _queue_vars(pbx: PBX, ch: Channel, q: Queue) -> None:
    done = q.completed
    perf = 100.0 * q.completed_in_sl / done if done else 0.0
    for k, v in (("QUEUENAME", q.name), ("QUEUEMAX", "0"), ("QUEUESTRATEGY", q.strategy),
                 ("QUEUECALLS", str(len(q.callers))), ("QUEUEHOLDTIME", str(int(q.holdtime / max(1, done)))),
                 ("QUEUETALKTIME", str(int(q.talktime / max(1, done)))), ("QUEUECOMPLETED", str(done)),
                 ("QUEUEABANDONED", str(q.abandoned)), ("QUEUESRVLEVEL", "0"), ("QUEUESRVLEVELPERF", f"{perf:.1f}")):
        pbx.varset(ch, k, v)


def _member_vars(pbx: PBX, ch: Channel, m: Member) -> None:
    for k, v in (("MEMBERINTERFACE", m.interface), ("MEMBERNAME", m.name), ("MEMBERCALLS", str(m.calls_taken)),
                 ("MEMBERLASTCALL", str(m.last_call)), ("MEMBERPENALTY", str(m.penalty)),
                 ("MEMBERDYNAMIC", "1" if m.membership == "dynamic" else "0"), ("MEMBERREALTIME", "0")):
        pbx.varset(ch, k, v)


def _leave(pbx: PBX, ch: Channel, q: Queue) -> int:
    pos = q.callers.index(ch) + 1 if ch in q.callers else 1
    if ch in q.callers:
        q.callers.remove(ch)
    if not q.callers:
        pbx.emit("DeviceStateChange", CALL, [("Device", f"Queue:{q.name}"), ("State", "NOT_INUSE")])
    pbx.emit("QueueCallerLeave", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Position", str(pos)),
                                         ("Count", str(len(q.callers)))])
    pbx.varset(ch, "QUEUEPOSITION", str(pos))
    sig, q.changed = q.changed, Signal()
    pbx.sched.fire(sig)
    return pos


def _attempt_cdrs(pbx: PBX, ch: Channel, *, last_is_final: bool = False) -> None:
    """One Cdr per unanswered member ring (the CDR engine forks a record per dial attempt)."""
    for start, end, dest in ch.attempts:
        pbx.cdr(ch, dest_channel=dest, disposition="NO ANSWER", span=(start, end))
    if last_is_final and ch.attempts:
        ch.no_cdr = True
    ch.attempts.clear()


def _abandon(pbx: PBX, ch: Channel, q: Queue, joined: float, pos: int, *, timeout: bool = False) -> None:
    """``record_abandoned()``: the caller hung up (at ``stop:``, after the duration variables), or the Queue()
    timeout expired (in the wait loop, before them: recording 42)."""
    _attempt_cdrs(pbx, ch, last_is_final=ch.pending_cause is not None)

    def durations() -> None:  # queue_exec's stop: QUEUEWAIT, the channel's age, never answered
        wait = pbx.now - joined
        pbx.varset(ch, "QUEUEWAIT", str(int(wait)))
        pbx.varset(ch, "QUEUEWAIT_MS", str(int(wait * 1000)))
        age = pbx.now - ch.created
        pbx.varset(ch, "DIALEDTIME", str(int(age)))
        pbx.varset(ch, "DIALEDTIME_MS", str(int(age * 1000)))
        pbx.varset(ch, "ANSWEREDTIME", "0")
        pbx.varset(ch, "ANSWEREDTIME_MS", "0")

    if not timeout:
        durations()
    pbx.varset(ch, "ABANDONED", "TRUE")
    _queue_vars(pbx, ch, q)
    q.abandoned += 1
    pbx.emit("QueueCallerAbandon", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Position", str(pos)),
                                           ("OriginalPosition", str(pos)),
                                           ("HoldTime", str(int(pbx.now) - int(joined)))])
    if timeout:
        durations()
    _queue_vars(pbx, ch, q)


def queue_exec(pbx: PBX, ch: Channel, data: str) -> Generator[Any, None, str | None]:
    """Run ``Queue(<data>)`` on ``ch``: returns the QUEUESTATUS to set (the dialplan goes on), or None when
    the caller is gone (hung up, or bridged to a member and hung up with the bridge)."""
    args = (data or "").split(",")
    q = pbx.queues.get(args[0].strip())
    if q is None:
        return "UNKNOWN"
    try:
        limit = float(args[4]) if len(args) > 4 and args[4].strip() else 0.0
    except ValueError:
        limit = 0.0
    member_timeout, retry = _opt(q, "timeout"), _opt(q, "retry")
    for var in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT", "QUEUEWAIT_MS"):
        pbx.varset(ch, var, "")
    if not q.callers:
        pbx.emit("DeviceStateChange", CALL, [("Device", f"Queue:{q.name}"), ("State", "RINGING")])
    q.callers.append(ch)
    pos = len(q.callers)
    pbx.emit("QueueCallerJoin", AGENT, [*ch.snapshot(), ("Queue", q.name), ("Position", str(pos)),
                                        ("Count", str(len(q.callers)))])
    joined = pbx.now
    rec = ch.call
    if rec is not None:  # the caller is answered when bridged to a member, not when Answer() ran
        rec.stint(q.name, joined)
        rec.answer = rec.answered_by = None
        rec.disposition = ""
    deadline = joined + limit if limit > 0 else None
    wake = Signal()
    ch.in_queue = wake
    try:
        while True:
            if ch.hungup or ch.pending_cause is not None:
                _abandon(pbx, ch, q, joined, pos)
                _leave(pbx, ch, q)
                if rec is not None:
                    rec.end_stint(pbx.now, "abandon")
                    rec.disposition = "abandoned"
                return None
            if deadline is not None and pbx.now >= deadline - 1e-9:
                _abandon(pbx, ch, q, joined, pos, timeout=True)
                _leave(pbx, ch, q)
                if rec is not None:
                    rec.end_stint(pbx.now, "timeout")
                    rec.disposition = "no answer"
                return "TIMEOUT"
            choice = pick(pbx, q)
            if choice is None:
                remaining = retry if deadline is None else min(retry, deadline - pbx.now)
                wake = Signal()
                ch.in_queue = wake
                yield (q.changed, max(0.0, remaining))
                continue
            idx, m = choice
            q.rr = idx + 1
            outcome = yield from _ring(pbx, ch, q, m, joined, deadline, member_timeout)
            if outcome == "answered":
                return None
            if outcome == "noanswer":
                end = pbx.now + retry
                if deadline is not None:
                    end = min(end, deadline)
                while pbx.now < end - 1e-9 and not ch.hungup and ch.pending_cause is None:
                    wake = Signal()
                    ch.in_queue = wake
                    yield (wake, end - pbx.now)
    finally:
        ch.in_queue = None


def _ring(pbx: PBX, ch: Channel, q: Queue, m: Member, joined: float, deadline: float | None,
          member_timeout: float) -> Generator[Any, None, str]:
    """Ring member ``m`` for the caller ``ch``: ``answered`` (and the call is over), ``noanswer``, ``gone``."""
    iface = m.interface.removesuffix("/n")
    _, _, rest = iface.partition("/")
    exten, _, ctx = rest.partition("@")
    one, two = pbx.local_pair(exten, ctx or "agents", linkedid=ch.linkedid)
    one.dialed = True
    one.cdr_dest = exten
    pbx.newexten(one, "AppQueue", "(Outgoing Line)")
    pbx.set_callerid(one, ch.cid_num, ch.cid_name)
    pbx.newexten(one, "AppQueue", "(Outgoing Line)", exten=ch.exten)
    pbx.set_connected(one, ch.cid_num, ch.cid_name)
    pbx.varset(one, "DIALEDPEERNUMBER", rest)
    pbx.varset(two, "DIALEDPEERNUMBER", rest)
    pbx.set_callerid(two, ch.cid_num, ch.cid_name)
    pbx.set_connected(two, ch.cid_num, ch.cid_name)
    pbx.local_bridge(one, two)
    agent_head = [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)]
    pbx.emit("AgentCalled", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), *agent_head])
    pbx.dial_begin(ch, one, rest)
    started = pbx.now
    state: dict[str, Any] = {}
    wake = Signal()
    two.on_answer = lambda: pbx._note(state, "answered", wake)
    two.on_ringing = lambda: pbx._note(state, "ringing", wake)
    pbx.sched.add(_drive(pbx.run_dialplan(two, ctx or "agents", exten), state, pbx, wake))
    ring_end = started + member_timeout
    if deadline is not None:
        ring_end = min(ring_end, deadline)
    while "answered" not in state and "done" not in state and pbx.now < ring_end - 1e-9:
        if ch.hungup or ch.pending_cause is not None:
            break
        if "ringing" in state and "rang" not in state:
            state["rang"] = True
            pbx.dial_state(ch, one, "RINGING")
        wake = Signal()
        state["_wake"] = wake
        ch.in_queue = wake
        yield (wake, ring_end - pbx.now)
    if "answered" not in state:
        ch.attempts.append((started, pbx.now, one.name))
    if ch.hungup or ch.pending_cause is not None:  # the caller hung up while the member rang
        pbx.dial_end(ch, one, "CANCEL")
        pbx.dial_end(ch, one, "CANCEL")
        _drop(pbx, one, two)
        return "gone"
    if "answered" not in state:
        pbx.emit("AgentRingNoAnswer", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), *agent_head,
                                              ("RingTime", str(round((pbx.now - started) * 1000)))])
        pbx.dial_end(ch, one, "NOANSWER")
        pbx.dial_end(ch, one, "CANCEL")
        _drop(pbx, one, two)
        return "noanswer"
    # answered: the member is connected
    pbx.dial_end(ch, one, "ANSWER")
    ch.cdr_peer = one.name
    for target in (ch, one):
        _member_vars(pbx, target, m)
    hold = int(pbx.now) - int(joined)
    for target in (ch, one):
        pbx.varset(target, "QEHOLDTIME", str(hold))
        pbx.varset(target, "QEORIGINALPOS", "1")
    for target in (ch, one):
        _queue_vars(pbx, target, q)
    pos = _leave(pbx, ch, q)
    wait = pbx.now - joined
    pbx.varset(ch, "QUEUEWAIT", str(int(wait)))
    pbx.varset(ch, "QUEUEWAIT_MS", str(int(wait * 1000)))
    pbx.emit("AgentConnect", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), *agent_head, ("HoldTime", str(hold)),
                                     ("RingTime", str(int(pbx.now) - int(started)))])
    del pos
    rec = ch.call
    if rec is not None:
        rec.answer = rec.answer if rec.answer is not None else pbx.now
        rec.disposition, rec.agent = "answered", m.name
        rec.answered_by, rec.hop = m.state_interface, m.interface
        rec.end_stint(pbx.now, "answered", m.name)
    m.in_call = True
    b = pbx.bridge_create()
    pbx.bridge_enter(b, one)
    pbx.bridge_enter(b, ch, peer=one)
    pbx.varset(one, "BRIDGEPEER", ch.name)
    pbx.varset(ch, "BRIDGEPEER", one.name)
    connected = pbx.now
    while not one.hungup and one.pending_cause is None and not ch.hungup and ch.pending_cause is None:
        wake = Signal()
        ch.in_queue = one.in_dial = one.on_hangup = wake
        yield wake
    ch.in_queue = one.in_dial = one.on_hangup = None
    talk = int(pbx.now) - int(connected)
    by_agent = not (ch.hungup or ch.pending_cause is not None)
    q.completed += 1
    q.completed_in_sl += 1
    q.holdtime += hold
    q.talktime += talk
    m.calls_taken += 1
    m.last_call = int(pbx.now)
    m.in_call = False
    pbx.emit("AgentComplete", AGENT, [*ch.snapshot(), *one.snapshot("Dest"), *agent_head, ("HoldTime", str(hold)),
                                      ("TalkTime", str(talk)), ("Reason", "agent" if by_agent else "caller")])
    if by_agent:  # the member's ;2 hung up and asked ;1 to: the bridge lets both sides go
        finishing = one.name in pbx.channels  # asked to hang up, not gone yet
        if finishing:
            pbx.varset(one, "BRIDGEPEER", "")
        pbx.varset(ch, "BRIDGEPEER", "")
        if finishing:
            one.hungup = True
            pbx.bridge_leave(one, cel=False)
            pbx._final(one, one.pending_cause if one.pending_cause is not None else 16, h_exten=False)
        if ch.bridge is not None:
            pbx.bridge_leave(ch)
        _queue_vars(pbx, ch, q)
        _attempt_cdrs(pbx, ch)
        ans = pbx.now - connected
        dialed = pbx.now - started
        pbx.varset(ch, "ANSWEREDTIME", str(int(ans)))
        pbx.varset(ch, "ANSWEREDTIME_MS", str(int(ans * 1000)))
        pbx.varset(ch, "DIALEDTIME", str(int(dialed)))
        pbx.varset(ch, "DIALEDTIME_MS", str(int(dialed * 1000)))
        _queue_vars(pbx, ch, q)
        if not ch.hungup:
            pbx.hangup(ch, 16)
    else:
        cause = ch.pending_cause if ch.pending_cause is not None else 16
        ch.pending_cause = None
        _attempt_cdrs(pbx, ch)
        pbx.varset(ch, "BRIDGEPEER", "")
        pbx.hangup(ch, cause)
        if not one.hungup:
            pbx.kick(one, cause)
    return "answered"


def _drive(sub: Generator[Any, None, str], state: dict[str, Any], pbx: PBX, wake: Signal) -> Scenario:
    result = yield from sub
    pbx._note(state, "done", wake, result)


def _drop(pbx: PBX, one: Channel, two: Channel) -> None:
    """Cancel a member's ringing Local pair: ``;1`` goes at once (cause 0), ``;2`` is asked to."""
    if not two.hungup:
        pbx.emit("HangupRequest", CALL, [*two.snapshot(), ("Cause", "0")])
    one.hungup = True
    pbx.cel(one, "HANGUP", extra={"hangupcause": 0, "hangupsource": "", "dialstatus": ""})
    pbx.cel(one, "CHAN_END")
    pbx._final(one, 0, h_exten=False)
    if not two.hungup:
        two.peer = None
        two.plan_token = object()  # its dialplan stops
        pbx.hangup(two, 0, h_exten=False)

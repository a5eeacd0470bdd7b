"""Call topologies of real PBXs, with their ground truth: what a production Asterisk 22 sends for them.

The recorded server has no SIP stack, so these are built from the channel primitives of
:class:`~ami_nb.sim.model.PBX` after Asterisk's source (``app_dial.c``, ``app_queue.c``, ``main/bridge.c``,
``main/bridge_basic.c``, ``main/pickup.c``, ``main/channel.c``) and the shapes of the recorded events:

* ``ringgroup``: the caller dials ``Local/<n>@ringgroup`` for every member at once; each Local ``;2`` dials
  the member's phone. One phone answers: its inner DialEnd ANSWER comes *before* the outer one (caller ->
  Local ``;1``); the others get DialEnd CANCEL (outer and inner) and hang up with cause 26 (answered elsewhere).
* ``followme``: the caller's own phone rings first (no answer), then the mobile through
  ``Local/<mobile>@followme`` -> ``PJSIP/trunk``. With ``accept=False`` the mobile answers (the inner leg is
  up) but nobody accepts the call, so the caller is never bridged: not answered.
* ``queue_phones``: a queue whose members are Local channels to SIP phones: caller -> ``Local/agentN@agents``
  ``;1`` ... ``;2`` -> ``PJSIP/agentN`` (the endpoint that answers); AgentRingNoAnswer when a phone does not
  answer within the member timeout.
* ``attended`` / ``blonde``: B puts A on hold, calls C on a second channel (a new Linkedid) and transfers once C
  answered (attended: AttendedTransfer ``DestType: Bridge``, the bridges merge) or while C still rings (blonde:
  ``DestType: App``, A takes the consultation channel's place in the Dial). C's channel joins A's bridge and so
  A's Linkedid: it ends under the other call's Linkedid.
* ``pickup``: A calls B; C picks the ringing call up (``Pickup()``): a Pickup event, C's channel is moved into
  B's place (B's is the zombie that hangs up), and C's channel joins A's call.
* ``click2dial``: an Originate to the agent's phone A (rung first, with B's number as caller ID, so A sees
  whom it calls); once A answers, the dialplan dials B with A as the caller. ``b_busy=True``: B is busy, the A
  party was up but never bridged: not answered.

Every scenario records :class:`~ami_nb.sim.state.CallRecord` rows (see there for the schema). Use them through
``SimPBX.call(<scenario>, ...)`` or ``traffic.scenario(pbx, <scenario>, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .scheduler import Scenario
from .state import AGENT, CALL, DIALPLAN, FIRST_NAMES, USERS, Bridge, CallRecord, Channel

if TYPE_CHECKING:
    from .model import PBX

#: the topology scenarios and their ground-truth disposition (with default options)
TOPOLOGIES = {
    "ringgroup": "answered",
    "followme": "answered",
    "queue_phones": "answered",
    "attended": "answered",
    "blonde": "answered",
    "pickup": "answered",
    "click2dial": "answered",
}
CTX = "from-internal"


def _who(i: int) -> tuple[str, str, str]:
    """(user, name, number) of phone ``i``."""
    return USERS[i % len(USERS)], FIRST_NAMES[i % len(FIRST_NAMES)], f"{2000 + i % len(USERS)}"


def _parties(pbx: PBX, n: int) -> list[tuple[str, str, str]]:
    idx = pbx.rng.sample(range(len(USERS)), n)
    return [_who(i) for i in idx]


def _caller(pbx: PBX, who: tuple[str, str, str], exten: str, scenario: str, callee: str) -> tuple[Channel,
                                                                                                  CallRecord]:
    user, name, num = who
    ch = pbx.phone(user, CTX, exten, state=4)
    ch.cid_num, ch.cid_name = num, name
    rec = pbx.record(ch, num, callee, scenario)
    pbx.newexten(ch, "NoOp", f"Call from {num} to {exten}", priority=1)
    return ch, rec


def _dial_vars(pbx: PBX, ch: Channel) -> None:
    for var in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME"):
        pbx.varset(ch, var, "")


def _ring_phone(pbx: PBX, caller: Channel, user: str, num: str, name: str, *, exten: str) -> Channel:
    """``caller`` dials ``PJSIP/<user>``: the phone's channel, ringing."""
    dest = pbx.phone(user, CTX, exten, linkedid=caller.linkedid)
    dest.dialed = True
    dest.cid_num, dest.cid_name = num, name
    pbx.set_connected(dest, caller.cid_num, caller.cid_name)
    pbx.dial_begin(caller, dest, user)
    pbx.newstate(dest, 5)
    pbx.dial_state(caller, dest, "RINGING")
    return dest


def _local_hop(pbx: PBX, caller: Channel, exten: str, context: str) -> tuple[Channel, Channel]:
    """``caller`` dials ``Local/<exten>@<context>``: the pair, ``;2`` running the dialplan."""
    one, two = pbx.local_pair(exten, context, linkedid=caller.linkedid)
    one.dialed = True
    one.cdr_dest = exten
    pbx.newexten(one, "AppDial", "(Outgoing Line)", exten=caller.exten)
    pbx.set_callerid(one, caller.cid_num, caller.cid_name)
    pbx.set_connected(one, caller.cid_num, caller.cid_name)
    pbx.set_callerid(two, caller.cid_num, caller.cid_name)
    pbx.set_connected(two, caller.exten, caller.cid_name)
    pbx.local_bridge(one, two)
    pbx.dial_begin(caller, one, f"{exten}@{context}")
    return one, two


def _answer(pbx: PBX, ch: Channel) -> None:
    if ch.state != 6:
        pbx.cel(ch, "ANSWER")
        pbx.newstate(ch, 6)


def _bridge(pbx: PBX, a: Channel, b: Channel) -> Bridge:
    """A two-party bridge: ``a`` enters first (the dialled side, as recorded)."""
    br = pbx.bridge_create()
    pbx.bridge_enter(br, a)
    pbx.bridge_enter(br, b, peer=a)
    return br


def _cancel(pbx: PBX, caller: Channel, dest: Channel, cause: int = 26) -> None:
    pbx.dial_end(caller, dest, "CANCEL")
    pbx.hangup(dest, cause, request=False, h_exten=False)


def _end_bridged(pbx: PBX, first: Channel, second: Channel) -> None:
    """``first`` hangs up; ``second`` (bridged with it) is asked to and hangs up too."""
    pbx.hangup(first, 16)
    if not second.hungup:
        pbx.emit("HangupRequest", CALL, [*second.snapshot(), ("Cause", "16")])
        pbx.hangup(second, 16, request=False)


def _end_local(pbx: PBX, one: Channel, two: Channel) -> None:
    for ch in (one, two):
        if not ch.hungup:
            pbx.hangup(ch, 16, request=False, h_exten=False)


# -- ring group and follow-me --------------------------------------------------------------------------------------
def ringgroup(pbx: PBX, *, members: int = 3, ring: float = 4.0, talk: float = 20.0,
              answer: int | None = None, number: str = "600") -> Scenario:
    """Ring ``members`` phones at once through Local channels; member ``answer`` (index; drawn when None)
    answers after ``ring`` s, the others are cancelled."""
    who = _parties(pbx, members + 1)
    caller, rec = _caller(pbx, who[0], number, "ringgroup", number)
    yield 0.05
    pbx.newexten(caller, "Dial", "&".join(f"Local/{w[2]}@ringgroup" for w in who[1:]) + ",20", priority=2)
    _dial_vars(pbx, caller)
    legs = []
    for w in who[1:]:
        one, two = _local_hop(pbx, caller, w[2], "ringgroup")
        legs.append((w, one, two))
    yield 0.01
    phones = []
    for w, one, two in legs:
        pbx.newexten(two, "Dial", f"PJSIP/{w[0]},20", priority=1, exten=w[2], context="ringgroup")
        _dial_vars(pbx, two)
        phone = _ring_phone(pbx, two, w[0], w[2], w[1], exten=w[2])
        pbx.newstate(one, 5)
        pbx.dial_state(caller, one, "RINGING")
        phones.append(phone)
    if caller.state != 5:
        pbx.newstate(caller, 5)
    yield ring
    pick = pbx.rng.randrange(members) if answer is None else answer
    (w, one, two), phone = legs[pick], phones[pick]
    _answer(pbx, phone)
    pbx.dial_end(two, phone, "ANSWER")  # the inner DialEnd first: the device that answered
    _answer(pbx, two)
    _bridge(pbx, phone, two)
    _answer(pbx, one)
    pbx.dial_end(caller, one, "ANSWER")
    for i, (_w, o, t) in enumerate(legs):
        if i != pick:
            pbx.dial_end(caller, o, "CANCEL")
            pbx.dial_end(t, phones[i], "CANCEL")
            pbx.hangup(phones[i], 26, request=False, h_exten=False)
            _end_local(pbx, o, t)
    _answer(pbx, caller)
    _bridge(pbx, one, caller)
    rec.answer, rec.disposition = pbx.now, "answered"
    rec.answered_by, rec.hop = phone.device, f"Local/{w[2]}@ringgroup"
    yield talk
    _end_bridged(pbx, phone, two)
    _end_local(pbx, one, two)
    if not caller.hungup:
        pbx.emit("HangupRequest", CALL, [*caller.snapshot(), ("Cause", "16")])
        pbx.hangup(caller, 16, request=False)


def followme(pbx: PBX, *, accept: bool = True, ring: float = 10.0, mobile_ring: float = 5.0,
             talk: float = 20.0, mobile: str = "0612345678") -> Scenario:
    """The callee's phone rings ``ring`` s unanswered, then its follow-me number through a Local channel and
    the trunk; the mobile answers; ``accept=False``: the call is not accepted there (the caller hears the
    follow-me fail and hangs up, never bridged)."""
    who = _parties(pbx, 2)
    caller, rec = _caller(pbx, who[0], who[1][2], "followme", who[1][2])
    yield 0.05
    pbx.newexten(caller, "Dial", f"PJSIP/{who[1][0]},{int(ring)}", priority=2)
    _dial_vars(pbx, caller)
    desk = _ring_phone(pbx, caller, who[1][0], who[1][2], who[1][1], exten=who[1][2])
    pbx.newstate(caller, 5)
    yield ring
    pbx.dial_end(caller, desk, "NOANSWER")
    pbx.hangup(desk, 19, request=False, h_exten=False)
    pbx.varset(caller, "DIALSTATUS", "NOANSWER")
    pbx.newexten(caller, "FollowMe", who[1][2], priority=3)
    one, two = _local_hop(pbx, caller, mobile, "followme")
    pbx.newexten(two, "Dial", f"PJSIP/{mobile}@trunk,30", priority=1, exten=mobile, context="followme")
    trunk = _ring_phone(pbx, two, "trunk", mobile, "", exten=mobile)
    pbx.newstate(one, 5)
    pbx.dial_state(caller, one, "RINGING")
    yield mobile_ring
    _answer(pbx, trunk)
    pbx.dial_end(two, trunk, "ANSWER")
    _answer(pbx, two)
    _bridge(pbx, trunk, two)
    yield 3.0  # the follow-me prompt: press 1 to accept
    if not accept:
        _end_bridged(pbx, trunk, two)
        pbx.dial_end(caller, one, "NOANSWER")
        _end_local(pbx, one, two)
        rec.disposition = "no answer"
        yield 2.0
        pbx.hangup(caller, 16, dialstatus="NOANSWER")
        return
    _answer(pbx, one)
    pbx.dial_end(caller, one, "ANSWER")
    _answer(pbx, caller)
    _bridge(pbx, one, caller)
    rec.answer, rec.disposition = pbx.now, "answered"
    rec.answered_by, rec.hop = trunk.device, f"Local/{mobile}@followme"
    yield talk
    _end_bridged(pbx, caller, one)
    _end_local(pbx, one, two)
    if not trunk.hungup:
        pbx.emit("HangupRequest", CALL, [*trunk.snapshot(), ("Cause", "16")])
        pbx.hangup(trunk, 16, request=False)


# -- a queue whose members are Local channels to SIP phones --------------------------------------------------------
def queue_phones(pbx: PBX, *, no_answer: int = 1, ring: float = 3.0, talk: float = 20.0,
                 member_timeout: float = 5.0, retry: float = 1.0, queue: str = "support") -> Scenario:
    """A caller in ``queue``: the first ``no_answer`` members' phones ring unanswered for the member timeout
    (AgentRingNoAnswer, then the next one after ``retry``); the next one answers after ``ring`` s."""
    q = pbx.queues[queue]
    members = [m for m in q.members if not m.paused] or q.members
    who = _parties(pbx, 1)[0]
    caller, rec = _caller(pbx, who, "300", "queue_phones", queue)
    yield 0.05
    _answer(pbx, caller)
    pbx.newexten(caller, "Queue", f"{queue},rt,,,300", priority=2)
    joined = pbx.now
    q.callers.append(caller)
    rec.stint(queue, joined)
    pbx.emit("QueueCallerJoin", AGENT, [*caller.snapshot(), ("Queue", queue), ("Position", str(len(q.callers))),
                                        ("Count", str(len(q.callers)))])
    for attempt in range(no_answer + 1):
        m = members[(q.rr + attempt) % len(members)]
        agent = m.state_interface.partition("/")[2].partition("@")[0] or f"agent{attempt + 1}"
        iface = m.interface.removesuffix("/n")
        one, two = pbx.local_pair(agent, "agents", linkedid=caller.linkedid)
        one.dialed = True
        for ch in (one, two):
            ch.cid_num, ch.cid_name = caller.cid_num, caller.cid_name
        pbx.newexten(one, "AppQueue", "(Outgoing Line)")
        pbx.local_bridge(one, two)
        pbx.emit("AgentCalled", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", queue),
                                        ("MemberName", m.name), ("Interface", m.interface)])
        pbx.dial_begin(caller, one, iface.partition("/")[2])
        pbx.newexten(two, "Dial", f"PJSIP/{agent},,", priority=1, exten=agent, context="agents")
        phone = _ring_phone(pbx, two, agent, agent, m.name, exten=agent)
        pbx.newstate(one, 5)  # the Local state interface is INUSE: QueueMemberStatus 2 (queue_app)
        started = pbx.now
        if attempt < no_answer:
            yield member_timeout
            pbx.emit("AgentRingNoAnswer", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", queue),
                                                  ("MemberName", m.name), ("Interface", m.interface),
                                                  ("RingTime", str(int((pbx.now - started) * 1000)))])
            pbx.dial_end(caller, one, "NOANSWER")
            pbx.dial_end(two, phone, "CANCEL")
            pbx.hangup(phone, 16, request=False, h_exten=False)
            _end_local(pbx, one, two)
            yield retry
            continue
        yield ring
        _answer(pbx, phone)
        pbx.dial_end(two, phone, "ANSWER")
        _answer(pbx, two)
        _bridge(pbx, phone, two)
        _answer(pbx, one)
        pbx.dial_end(caller, one, "ANSWER")
        pos = q.callers.index(caller) + 1
        q.callers.remove(caller)
        pbx.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", queue), ("Count", str(len(q.callers))),
                                             ("Position", str(pos))])
        hold = pbx.now - joined
        pbx.emit("AgentConnect", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", queue),
                                         ("MemberName", m.name), ("Interface", m.interface),
                                         ("HoldTime", str(int(hold))), ("RingTime", str(int(pbx.now - started)))])
        _bridge(pbx, one, caller)
        rec.answer, rec.disposition, rec.agent = pbx.now, "answered", m.name
        rec.answered_by, rec.hop = phone.device, m.interface
        rec.end_stint(pbx.now, "answered", m.name)
        q.rr += attempt + 1
        yield talk
        q.completed += 1
        m.calls_taken += 1
        m.last_call = int(pbx.now)
        pbx.emit("AgentComplete", AGENT, [*caller.snapshot(), *one.snapshot("Dest"), ("Queue", queue),
                                          ("MemberName", m.name), ("Interface", m.interface),
                                          ("HoldTime", str(int(hold))), ("TalkTime", str(int(talk))),
                                          ("Reason", "agent")])
        _end_bridged(pbx, phone, two)
        _end_local(pbx, one, two)
        pbx.emit("HangupRequest", CALL, [*caller.snapshot(), ("Cause", "16")])
        pbx.hangup(caller, 16, request=False)
        return


# -- transfers --------------------------------------------------------------------------------------------------
def _hold(pbx: PBX, ch: Channel) -> None:
    pbx.emit("Hold", CALL, [*ch.snapshot(), ("MusicClass", "default")])


def _attended(pbx: PBX, *, blonde: bool, talk: float = 10.0, consult: float = 5.0, ring: float = 3.0,
              after: float = 15.0) -> Scenario:
    a, b, c = _parties(pbx, 3)
    kind = "blonde" if blonde else "attended"
    caller, rec = _caller(pbx, a, b[2], kind, b[2])
    yield 0.05
    pbx.newexten(caller, "Dial", f"PJSIP/{b[0]},30", priority=2)
    _dial_vars(pbx, caller)
    b1 = _ring_phone(pbx, caller, b[0], b[2], b[1], exten=b[2])
    pbx.newstate(caller, 5)
    yield 2.0
    _answer(pbx, b1)
    _answer(pbx, caller)
    pbx.dial_end(caller, b1, "ANSWER")
    br1 = _bridge(pbx, b1, caller)
    rec.answer, rec.disposition, rec.answered_by = pbx.now, "answered", b1.device
    yield talk
    _hold(pbx, b1)  # B puts A on hold and calls C on its second line
    b2 = pbx.phone(b[0], CTX, c[2], state=4)
    b2.cid_num, b2.cid_name = b[2], b[1]
    consult_rec = pbx.record(b2, b[2], c[2], f"{kind}-consult")
    pbx.newexten(b2, "Dial", f"PJSIP/{c[0]},30", priority=1)
    _dial_vars(pbx, b2)
    c1 = _ring_phone(pbx, b2, c[0], c[2], c[1], exten=c[2])
    pbx.newstate(b2, 5)
    yield ring
    br2: Bridge | None = None
    if not blonde:
        _answer(pbx, c1)
        _answer(pbx, b2)
        pbx.dial_end(b2, c1, "ANSWER")
        br2 = _bridge(pbx, c1, b2)
        consult_rec.answer, consult_rec.disposition, consult_rec.answered_by = pbx.now, "answered", c1.device
        yield consult
    when = pbx.now
    target = c1.device
    rec.transfer(kind, b1.device, target, when, consult_rec.linkedid)
    consult_rec.transfer(kind, b1.device, target, when, rec.linkedid)
    head: list[tuple[str, str]] = [("Result", "Success"), *b1.snapshot("OrigTransferer"),
                                   *_prefixed(br1, "OrigBridge"), *b2.snapshot("SecondTransferer")]
    if br2 is not None:
        pbx.emit("BridgeMerge", CALL, [*_prefixed(br1, "To"), *_prefixed(br2, "From")])
        pbx.bridge_leave(c1)
        pbx.relink(c1, caller.linkedid)
        pbx.bridge_enter(br1, c1)
        pbx.emit("AttendedTransfer", CALL, [
            *head, *_prefixed(br2, "SecondBridge"), *caller.snapshot("Transferee"), *c1.snapshot("TransferTarget"),
            ("IsExternal", "Yes"), ("DestType", "Bridge"), ("DestBridgeUniqueid", br1.id)])
        pbx.bridge_leave(b1)
        pbx.hangup(b1, 16, request=False)
        pbx.emit("HangupRequest", CALL, [*b2.snapshot(), ("Cause", "16")])
        pbx.hangup(b2, 16, request=False)
        other = c1
    else:
        # blonde: A takes the place of B's consultation channel in its Dial (a masquerade; B's is the zombie)
        pbx.emit("AttendedTransfer", CALL, [*head, *caller.snapshot("Transferee"), ("IsExternal", "Yes"),
                                            ("DestType", "App"), ("DestApp", "Dial")])
        pbx.bridge_leave(b1)
        pbx.hangup(b1, 16, request=False)
        pbx.bridge_leave(caller)
        zombie_name = b2.name + "<ZOMBIE>"
        pbx.emit("Rename", CALL, [("Channel", b2.name), ("Newname", zombie_name), ("Uniqueid", b2.uniqueid)])
        pbx.channels.pop(b2.name, None)
        b2.name = zombie_name
        pbx.channels[zombie_name] = b2
        c1.dialed = True
        pbx.set_connected(c1, caller.cid_num, caller.cid_name)
        pbx.hangup(b2, 16, request=False, h_exten=False, cdr=True)
        yield ring
        _answer(pbx, c1)
        pbx.dial_end(caller, c1, "ANSWER")
        pbx.relink(c1, caller.linkedid)
        br3 = pbx.bridge_create()
        pbx.bridge_enter(br3, c1)
        pbx.bridge_enter(br3, caller, peer=c1)
        # the consultation call's caller (B's second channel) left before C answered: never bridged, so that
        # call is not answered; C answered the transferred call, which is A's
        consult_rec.disposition = "no answer"
        other = c1
    yield after
    _end_bridged(pbx, other, caller)


def attended(pbx: PBX, **options: Any) -> Scenario:
    """A calls B; B consults C on a second line and transfers A to C once C answered."""
    return _attended(pbx, blonde=False, **options)


def blonde(pbx: PBX, **options: Any) -> Scenario:
    """A calls B; B calls C and transfers A while C still rings."""
    return _attended(pbx, blonde=True, **options)


def _prefixed(b: Bridge, prefix: str) -> list[tuple[str, str]]:
    return [(prefix + k, v) for k, v in b.fields()]


# -- pickup ------------------------------------------------------------------------------------------------------
def pickup(pbx: PBX, *, ring: float = 4.0, talk: float = 15.0) -> Scenario:
    """A calls B; while B's phone rings, C dials ``*8`` and picks the call up."""
    a, b, c = _parties(pbx, 3)
    caller, rec = _caller(pbx, a, b[2], "pickup", b[2])
    yield 0.05
    pbx.newexten(caller, "Dial", f"PJSIP/{b[0]},30", priority=2)
    _dial_vars(pbx, caller)
    bphone = _ring_phone(pbx, caller, b[0], b[2], b[1], exten=b[2])
    pbx.newstate(caller, 5)
    yield ring
    picker = pbx.phone(c[0], CTX, "*8", state=4)
    picker.cid_num, picker.cid_name = c[2], c[1]
    rec.add_linkedid(picker.linkedid)
    pbx._join_call(picker, rec)
    pbx.newexten(picker, "Pickup", "", priority=1)
    yield 0.05
    pbx.emit("Pickup", CALL, [*picker.snapshot(), *bphone.snapshot("Target")])
    _answer(pbx, picker)
    # ast_channel_move(target, picker): the picker's identity takes the ringing channel's place
    zombie = bphone.name + "<ZOMBIE>"
    pbx.emit("Rename", CALL, [("Channel", bphone.name), ("Newname", zombie), ("Uniqueid", bphone.uniqueid)])
    pbx.channels.pop(bphone.name, None)
    bphone.name = zombie
    pbx.channels[zombie] = bphone
    picker.dialed = True
    pbx.dial_end(caller, picker, "ANSWER")
    pbx.hangup(bphone, 16, request=False, h_exten=False)
    _answer(pbx, caller)
    pbx.relink(picker, caller.linkedid)
    _bridge(pbx, picker, caller)
    rec.answer, rec.disposition, rec.answered_by = pbx.now, "answered", picker.device
    yield talk
    _end_bridged(pbx, caller, picker)


# -- click to dial --------------------------------------------------------------------------------------------------
def click2dial(pbx: PBX, *, b_busy: bool = False, ring_a: float = 3.0, ring_b: float = 4.0,
               talk: float = 20.0, on_result: Callable[[Channel], None] | None = None) -> Scenario:
    """Originate ``PJSIP/<A>`` (caller ID: B's number, so A sees whom it calls); when A answers the dialplan
    dials B with A as the caller. ``b_busy``: B is busy."""
    a, b = _parties(pbx, 2)
    aleg = pbx.phone(a[0], CTX, b[2])
    aleg.cid_num, aleg.cid_name = b[2], b[1]  # what the Originate's CallerID shows on A's phone
    rec = pbx.record(aleg, a[2], b[2], "click2dial")
    pbx.set_connected(aleg, b[2], b[1])
    pbx.newstate(aleg, 5)
    yield ring_a
    _answer(pbx, aleg)
    pbx.emit("OriginateResponse", CALL, [
        ("Response", "Success"), ("Channel", aleg.name), ("Context", CTX), ("Exten", b[2]), ("Reason", "4"),
        ("Uniqueid", aleg.uniqueid), ("CallerIDNum", aleg.cid_num), ("CallerIDName", aleg.cid_name)])
    if on_result is not None:
        on_result(aleg)
    pbx.newexten(aleg, "Set", f"CALLERID(all)={a[1]} <{a[2]}>", priority=1, exten=b[2], context=CTX)
    pbx.emit("VarSet", DIALPLAN, [*aleg.snapshot(), ("Variable", "CALLERID(all)"), ("Value", f"{a[1]} <{a[2]}>")])
    pbx.set_callerid(aleg, a[2], a[1])
    yield 0.01
    pbx.newexten(aleg, "Dial", f"PJSIP/{b[0]},30", priority=2)
    _dial_vars(pbx, aleg)
    bleg = _ring_phone(pbx, aleg, b[0], b[2], b[1], exten=b[2])
    if b_busy:
        yield 0.3
        pbx.newstate(bleg, 7)
        pbx.dial_end(aleg, bleg, "BUSY")
        pbx.hangup(bleg, 17, request=False, h_exten=False)
        pbx.varset(aleg, "DIALSTATUS", "BUSY")
        rec.disposition = "busy"
        yield 0.5
        pbx.hangup(aleg, 17, request=False, dialstatus="BUSY", disposition="BUSY")
        return
    yield ring_b
    _answer(pbx, bleg)
    pbx.dial_end(aleg, bleg, "ANSWER")
    _bridge(pbx, bleg, aleg)
    rec.answer, rec.disposition, rec.answered_by = pbx.now, "answered", bleg.device
    yield talk
    _end_bridged(pbx, bleg, aleg)


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "ringgroup": ringgroup,
    "followme": followme,
    "queue_phones": queue_phones,
    "attended": attended,
    "blonde": blonde,
    "pickup": pickup,
    "click2dial": click2dial,
}


def scenario(pbx: PBX, kind: str, **options: Any) -> Scenario:
    """The topology ``kind`` (a key of :data:`SCENARIOS`) with its options."""
    fn = SCENARIOS.get(kind)
    if fn is None:
        raise ValueError(f"unknown topology {kind!r}; known: {sorted(SCENARIOS)}")
    return fn(pbx, **options)

"""The call-traffic model: channels, bridges, queues and the events a real Asterisk 22 emits for them.

Everything here runs on one virtual clock driven by :class:`Scheduler`: a scenario is a generator that yields
how many *simulated* seconds to wait, so the same seed gives the same calls and the same event sequence, and an
hour of traffic can run in a few real seconds (``time_scale``). Event fields, names and order follow the
recorded transcripts (19, 20, 22, 23, 32); queue and transfer events follow Asterisk 22's ``app_queue`` and
``stasis_bridges`` documentation, as no recording of them exists.

The model knows nothing about sockets: every event goes to ``sink(name, privilege, pairs, when)``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from . import configs

Pairs = list[tuple[str, str]]
Sink = Callable[[str, str, Pairs, float], None]
Scenario = Generator[Any, None, None]

STATE_DESC = {0: "Down", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}
#: OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values).
REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION, REASON_FAILED = 4, 5, 8, 0
#: simulated seconds one dialplan priority takes
STEP = 0.001
CALL, DIALPLAN, CDR, USER, AGENT = "call,all", "dialplan,all", "cdr,all", "user,all", "agent,all"

#: The scenario kinds the traffic model draws from, with their default weights.
DEFAULT_MIX = {
    "answered": 0.40,
    "busy": 0.07,
    "noanswer": 0.08,
    "congestion": 0.03,
    "queue": 0.27,
    "abandon": 0.08,
    "transfer": 0.07,
}
DISPOSITION = {
    "answered": "answered",
    "busy": "busy",
    "noanswer": "no answer",
    "congestion": "failed",
    "queue": "answered",
    "abandon": "abandoned",
    "transfer": "answered",
    "failed": "failed",
}
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
FIRST_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar"]


def _cdr_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


@dataclass
class Traffic:
    """Traffic options. Times are simulated seconds; rates are calls per simulated hour.

    Arrivals are Poisson (``rate``); ``mix`` weights the scenarios; talk and ring times are exponential with
    means ``talk_mean`` (at least ``talk_min``) and ``ring_mean``; an ``abandon`` caller waits an exponential
    ``patience_mean`` before hanging up; a ``queue`` caller leaves after ``queue_timeout``; ``agents`` members of
    ``queue`` take calls (dynamic members are added when the config has fewer).
    """

    rate: float = 120.0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    agents: int = 3
    talk_mean: float = 180.0
    talk_min: float = 5.0
    ring_mean: float = 8.0
    patience_mean: float = 45.0
    queue_timeout: float = 300.0
    queue: str = "support"

    @classmethod
    def coerce(cls, value: Traffic | dict[str, Any] | None) -> Traffic:
        if value is None:
            return cls()
        if isinstance(value, Traffic):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown traffic option(s): {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**value)


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 0
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    con_num: str = "<unknown>"
    con_name: str = "<unknown>"
    account: str = ""
    created: float = 0.0
    answered: float | None = None
    app: str = ""
    appdata: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    device: str = ""
    peer: Channel | None = None  # the other half of a Local pair
    bridge: Bridge | None = None
    dialed: bool = False  # created by Dial/Queue (no Cdr of its own)
    cdr_dest: str = ""
    cdr_peer: str = ""
    cdr_userfield: str = ""
    hungup: bool = False
    call: CallRecord | None = None
    pending_cause: int | None = None
    runs_dialplan: bool = False
    in_dial: Signal | None = None  # set while the channel waits in a bridged Dial
    on_hangup: Signal | None = None
    plan_token: object | None = None
    on_answer: Callable[[], None] | None = None
    on_ringing: Callable[[], None] | None = None
    on_decided: Callable[[str], None] | None = None

    def snapshot(self, prefix: str = "") -> Pairs:
        p = prefix
        return [
            (p + "Channel", self.name),
            (p + "ChannelState", str(self.state)),
            (p + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (p + "CallerIDNum", self.cid_num),
            (p + "CallerIDName", self.cid_name),
            (p + "ConnectedLineNum", self.con_num),
            (p + "ConnectedLineName", self.con_name),
            (p + "Language", "en"),
            (p + "AccountCode", self.account),
            (p + "Context", self.context),
            (p + "Exten", self.exten),
            (p + "Priority", str(self.priority)),
            (p + "Uniqueid", self.uniqueid),
            (p + "Linkedid", self.linkedid),
            (p + "ChanVariable", f"DEMOVAR={self.vars.get('DEMOVAR', '')}"),
            (p + "ChanVariable", "CHANNEL(language)=en"),
        ]


@dataclass(eq=False)
class Bridge:
    id: str
    channels: list[Channel] = field(default_factory=list)

    def fields(self) -> Pairs:
        return [
            ("BridgeUniqueid", self.id),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", "none"),
        ]


@dataclass(eq=False)
class CallRecord:
    """Ground truth for one call (one Linkedid)."""

    linkedid: str
    caller: str
    callee: str
    scenario: str
    start: float
    answer: float | None = None
    end: float | None = None
    queue: str | None = None
    agent: str | None = None
    transferred: bool = False
    disposition: str = ""
    hangup_cause: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "linkedid": self.linkedid,
            "caller": self.caller,
            "callee": self.callee,
            "scenario": self.scenario,
            "start": self.start,
            "answer": self.answer,
            "end": self.end,
            "queue": self.queue,
            "agent": self.agent,
            "transferred": self.transferred,
            "disposition": self.disposition,
            "hangup_cause": self.hangup_cause,
        }


@dataclass(eq=False)
class Member:
    queue: str
    name: str
    interface: str
    state_interface: str
    penalty: int = 0
    membership: str = "static"
    paused: bool = False
    paused_reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False

    def fields(self, *, event: bool = False) -> Pairs:
        """QueueStatus's QueueMember keys, or (``event``) those of QueueMemberAdded/Pause/Removed."""
        return [
            ("Queue", self.queue),
            ("MemberName" if event else "Name", self.name),
            ("Interface" if event else "Location", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", self.membership),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", "2" if self.in_call else "1"),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
        ]


@dataclass(eq=False)
class Queue:
    name: str
    strategy: str
    members: list[Member] = field(default_factory=list)
    callers: list[Channel] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime: float = 0.0
    talktime: float = 0.0
    rr: int = 0
    changed: Signal = field(default_factory=lambda: Signal())


class Signal:
    """Something a scenario can wait for: ``yield signal`` or ``yield (signal, timeout)``."""

    __slots__ = ("fired", "waiters")

    def __init__(self) -> None:
        self.fired = False
        self.waiters: list[list[Any]] = []


class Scheduler:
    """Virtual-time scheduler: generators yield simulated seconds to sleep (or a :class:`Signal`);
    order is (time, sequence), so a run is deterministic."""

    def __init__(self, start_time: float) -> None:
        self.now = start_time
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()

    def add(self, gen: Scenario, delay: float = 0.0) -> None:
        self._push([gen], delay)

    def _push(self, slot: list[Any], delay: float) -> None:
        heapq.heappush(self._heap, (self.now + max(0.0, delay), next(self._seq), slot))

    def fire(self, signal: Signal) -> None:
        """Wake every scenario waiting on ``signal`` (now, in the order they started waiting)."""
        if signal.fired:
            return
        signal.fired = True
        for slot in signal.waiters:
            if slot[0] is not None:
                gen, slot[0] = slot[0], None
                self._push([gen], 0.0)
        signal.waiters.clear()

    def __len__(self) -> int:
        return sum(1 for _, _, slot in self._heap if slot[0] is not None)

    def next_time(self) -> float | None:
        while self._heap and self._heap[0][2][0] is None:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def step(self) -> None:
        """Run the earliest generator until its next sleep (or its end)."""
        t, _, slot = heapq.heappop(self._heap)
        gen = slot[0]
        if gen is None:
            return
        slot[0] = None
        self.now = max(self.now, t)
        try:
            what = next(gen)
        except StopIteration:
            return
        if isinstance(what, tuple):
            signal, timeout = what
        elif isinstance(what, Signal):
            signal, timeout = what, None
        else:
            self._push([gen], float(what))
            return
        if signal.fired:
            self._push([gen], 0.0)
            return
        slot = [gen]
        signal.waiters.append(slot)
        if timeout is not None:
            self._push(slot, float(timeout))

    def run_until(self, t_end: float) -> None:
        while True:
            t = self.next_time()
            if t is None or t > t_end:
                break
            self.step()
        self.now = max(self.now, t_end)


class PBX:
    """The simulated Asterisk: state plus event generation. Not thread-safe: one loop drives it."""

    def __init__(
        self,
        sink: Sink,
        *,
        seed: int = 0,
        start_time: float | None = None,
        traffic: Traffic | dict[str, Any] | None = None,
    ) -> None:
        self.sink = sink
        self.seed = seed
        self.rng = random.Random(seed)
        self.started = time.time() if start_time is None else float(start_time)
        self.sched = Scheduler(self.started)
        self.traffic = Traffic.coerce(traffic)
        self.channels: dict[str, Channel] = {}
        self.linked: dict[str, list[Channel]] = {}
        self.calls: dict[str, CallRecord] = {}
        self.db: dict[str, str] = {}
        self.globals: dict[str, str] = configs.globals_()
        self.processed_calls = 0
        self._uid = itertools.count()
        self._local = itertools.count()
        self._chan_seq = itertools.count(1)
        self.queues = self._load_queues()
        self.hints = {p[3]: (p[1], p[0]) for p in configs.dialplan() if p[2] == "hint"}
        self.hint_state: dict[str, int] = {}
        self.traffic_running = False
        self._traffic_gen = 0

    # -- plumbing ---------------------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.sched.now

    def _load_queues(self) -> dict[str, Queue]:
        out: dict[str, Queue] = {}
        login = int(self.started)
        for name, lines in configs.QUEUES:
            if name == "general":
                continue
            q = Queue(name, dict(lines).get("strategy", "ringall"))
            for k, v in lines:
                if k == "member":
                    parts = v.split(",")
                    iface = parts[0]
                    q.members.append(
                        Member(
                            name,
                            parts[2] if len(parts) > 2 else iface,
                            iface,
                            parts[3] if len(parts) > 3 else iface,
                            int(parts[1] or 0) if len(parts) > 1 else 0,
                            login_time=login,
                        )
                    )
            out[name] = q
        return out

    def emit(self, name: str, priv: str, pairs: Pairs) -> None:
        self.sink(name, priv, pairs, self.now)

    def _uniqueid(self) -> str:
        return f"{int(self.now)}.{next(self._uid)}"

    def new_channel(self, name: str, context: str, exten: str, *, state: int = 0, linkedid: str | None = None,
                    device: str = "", cel: bool = True, announce: bool = True) -> Channel:
        uid = self._uniqueid()
        ch = Channel(name, uid, linkedid or uid, context, exten, state=state, created=self.now, device=device)
        self.channels[name] = ch
        self.linked.setdefault(ch.linkedid, []).append(ch)
        if announce:
            if cel:
                self.cel(ch, "CHAN_START")
            self.emit("Newchannel", CALL, ch.snapshot())
        return ch

    def local_pair(self, exten: str, context: str, *, linkedid: str | None = None,
                   announce: bool = True) -> tuple[Channel, Channel]:
        """``Local/exten@context-XXXXXXXX;1`` (Down) and ``;2`` (Ring), as chan_local creates them."""
        base = f"Local/{exten}@{context}-{next(self._local):08x}"
        device = f"Local/{exten}@{context}"
        one = self.new_channel(base + ";1", context, exten, linkedid=linkedid, device=device, announce=False)
        two = self.new_channel(base + ";2", context, exten, state=4, linkedid=one.linkedid, device=device,
                               announce=False)
        one.peer, two.peer = two, one
        if announce:
            for ch in (one, two):
                self.cel(ch, "CHAN_START")
                self.emit("Newchannel", CALL, ch.snapshot())
        return one, two

    def phone(self, user: str, context: str, exten: str, *, state: int = 0, linkedid: str | None = None) -> Channel:
        name = f"PJSIP/{user}-{next(self._chan_seq):08x}"
        return self.new_channel(name, context, exten, state=state, linkedid=linkedid, device=f"PJSIP/{user}")

    # -- event helpers ------------------------------------------------------------------------------------------
    def cel(self, ch: Channel, event: str, *, peer: str = "", extra: dict[str, Any] | None = None,
            app: str | None = None, data: str | None = None) -> None:
        started = event == "CHAN_START"
        self.emit("CEL", CALL, [
            ("EventName", event),
            ("AccountCode", ch.account),
            ("CallerIDnum", "" if ch.cid_num == "<unknown>" else ch.cid_num),
            ("CallerIDname", "" if ch.cid_name == "<unknown>" else ch.cid_name),
            ("CallerIDani", "" if ch.cid_num == "<unknown>" else ch.cid_num),
            ("CallerIDrdnis", ""),
            ("CallerIDdnid", ""),
            ("Exten", ch.exten),
            ("Context", ch.context),
            ("Channel", ch.name),
            ("Application", "" if started else (ch.app if app is None else app)),
            ("AppData", "" if started else (ch.appdata if data is None else data)),
            ("EventTime", _cdr_time(self.now)),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", ch.uniqueid),
            ("LinkedID", ch.linkedid),
            ("Userfield", ""),
            ("Peer", peer),
            ("PeerAccount", ""),
            ("Extra", json.dumps(extra, separators=(",", ":")) if extra else ""),
        ])

    def newexten(self, ch: Channel, app: str, data: str, *, priority: int | None = None,
                 exten: str | None = None, context: str | None = None) -> None:
        if context is not None:
            ch.context = context
        if exten is not None:
            ch.exten = exten
        if priority is not None:
            ch.priority = priority
        ch.app, ch.appdata = app, data
        self.emit("Newexten", DIALPLAN, [*ch.snapshot(), ("Extension", ch.exten), ("Application", app),
                                         ("AppData", data)])

    def varset(self, ch: Channel, var: str, value: str) -> None:
        if not var.startswith(("CDR(", "CHANNEL(")):
            ch.vars[var] = value
        elif var == "CDR(userfield)":
            ch.cdr_userfield = value
            return
        self.emit("VarSet", DIALPLAN, [*ch.snapshot(), ("Variable", var), ("Value", value)])

    def newstate(self, ch: Channel, state: int) -> None:
        ch.state = state
        if state == 6 and ch.answered is None:
            ch.answered = self.now
        self.emit("Newstate", CALL, ch.snapshot())
        if ch.device:
            self.devstate(ch.device, "INUSE" if state in (6, 7) else "RINGING" if state == 5 else "INUSE")

    def devstate(self, device: str, state: str) -> None:
        self.emit("DeviceStateChange", CALL, [("Device", device), ("State", state)])
        hint = self.hints.get(device)
        if hint is not None:
            status = {"INUSE": 1, "RINGING": 8}.get(state, 0)
            if self.hint_state.get(device) != status:
                self.hint_state[device] = status
                self.hint_status(hint[0], hint[1], status)

    def set_callerid(self, ch: Channel, num: str, name: str) -> None:
        if (ch.cid_num, ch.cid_name) == (num, name):
            return
        ch.cid_num, ch.cid_name = num, name
        self.emit("NewCallerid", CALL, [*ch.snapshot(), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])

    def set_account(self, ch: Channel, account: str) -> None:
        old, ch.account = ch.account, account
        self.emit("NewAccountCode", CALL, [*ch.snapshot(), ("OldAccountCode", old)])

    def set_connected(self, ch: Channel, num: str, name: str) -> None:
        if (ch.con_num, ch.con_name) == (num, name):
            return
        ch.con_num, ch.con_name = num, name
        self.emit("NewConnectedLine", CALL, ch.snapshot())

    def local_bridge(self, one: Channel, two: Channel) -> None:
        self.emit("LocalBridge", CALL, [*one.snapshot("LocalOne"), *two.snapshot("LocalTwo"),
                                        ("Context", two.context), ("Exten", two.exten), ("LocalOptimization", "Yes")])

    def dial_begin(self, caller: Channel | None, dest: Channel, dialstring: str) -> None:
        head = caller.snapshot() if caller is not None else []
        self.emit("DialBegin", CALL, [*head, *dest.snapshot("Dest"), ("DialString", dialstring)])

    def dial_state(self, caller: Channel | None, dest: Channel, status: str) -> None:
        head = caller.snapshot() if caller is not None else []
        self.emit("DialState", CALL, [*head, *dest.snapshot("Dest"), ("DialStatus", status)])

    def dial_end(self, caller: Channel | None, dest: Channel, status: str) -> None:
        head = caller.snapshot() if caller is not None else []
        self.emit("DialEnd", CALL, [*head, *dest.snapshot("Dest"), ("DialStatus", status)])

    def hint_status(self, exten: str, context: str, status: int) -> None:
        hint = f"Local/{exten}@{context}"
        text = {0: "Idle", 1: "InUse", 8: "Ringing"}.get(status, "Unknown")
        self.emit("ExtensionStatus", CALL, [("Exten", exten), ("Context", context), ("Hint", hint),
                                            ("Status", str(status)), ("StatusText", text)])

    def bridge_create(self) -> Bridge:
        b = Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))
        self.emit("BridgeCreate", CALL, b.fields())
        return b

    def bridge_enter(self, b: Bridge, ch: Channel, peer: Channel | None = None) -> None:
        b.channels.append(ch)
        ch.bridge = b
        extra = {"bridge_id": b.id, "bridge_technology": "simple_bridge"}
        if peer is not None:  # the second channel's CEL comes first, as recorded
            self.cel(ch, "BRIDGE_ENTER", peer=peer.name, extra=extra)
        self.emit("BridgeEnter", CALL, [*b.fields(), *ch.snapshot()])
        if peer is None:
            self.cel(ch, "BRIDGE_ENTER", extra=extra)

    def bridge_leave(self, ch: Channel) -> None:
        b = ch.bridge
        if b is None:
            return
        b.channels.remove(ch)
        ch.bridge = None
        self.emit("BridgeLeave", CALL, [*b.fields(), *ch.snapshot()])
        self.cel(ch, "BRIDGE_EXIT", extra={"bridge_id": b.id, "bridge_technology": "simple_bridge"})
        if not b.channels:
            self.emit("BridgeDestroy", CALL, b.fields())

    def user_event(self, ch: Channel, name: str, headers: Pairs) -> None:
        self.emit("UserEvent", USER, [*ch.snapshot(), ("UserEvent", name), *headers])

    def cdr(self, ch: Channel, *, dest_channel: str = "", disposition: str | None = None) -> None:
        ans = ch.answered
        end = self.now
        disp = disposition or ("ANSWERED" if ans is not None else "NO ANSWER")
        cid = f'"{ch.cid_name}" <{ch.cid_num}>' if ch.cid_num != "<unknown>" else ""
        self.emit("Cdr", CDR, [
            ("AccountCode", ch.account),
            ("Source", "" if ch.cid_num == "<unknown>" else ch.cid_num),
            ("Destination", ch.cdr_dest or ch.exten),
            ("DestinationContext", ch.context),
            ("CallerID", cid),
            ("Channel", ch.name),
            ("DestinationChannel", dest_channel),
            ("LastApplication", ch.app),
            ("LastData", ch.appdata),
            ("StartTime", _cdr_time(ch.created)),
            ("AnswerTime", _cdr_time(ans) if ans is not None else ""),
            ("EndTime", _cdr_time(end)),
            ("Duration", str(int(end - ch.created))),
            ("BillableSeconds", str(int(end - ans)) if ans is not None else "0"),
            ("Disposition", disp),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", ch.uniqueid),
            ("UserField", ch.cdr_userfield),
        ])

    def hangup(self, ch: Channel, cause: int, *, request: bool = True, dialstatus: str = "",
               source: str = "", h_exten: bool = True, dest_channel: str = "", cdr: bool | None = None,
               disposition: str | None = None) -> None:
        """A channel hangs up by itself (``Hangup()``, ``Busy``, a phone hanging up, the Hangup action).

        Order as Asterisk 22 reports it: CEL HANGUP, Cdr, SoftHangupRequest, CEL CHAN_END, the ``h`` extension,
        Hangup; then the other half of a Local pair is asked to hang up (:meth:`hangup_request`)."""
        if ch.hungup:
            return
        ch.hungup = True
        if ch.bridge is not None:
            self.bridge_leave(ch)
        self.cel(ch, "HANGUP", extra={"hangupcause": cause, "hangupsource": source, "dialstatus": dialstatus})
        if cdr if cdr is not None else not ch.dialed:
            self.cdr(ch, dest_channel=dest_channel or ch.cdr_peer, disposition=disposition)
        if request:
            self.emit("SoftHangupRequest", CALL, [*ch.snapshot(), ("Cause", "16")])
        self.cel(ch, "CHAN_END")
        self._linkedid_end(ch, cause)
        self._final(ch, cause, h_exten=h_exten)
        peer = ch.peer
        if peer is not None and not peer.hungup:
            self.hangup_request(peer, cause)

    def hangup_request(self, ch: Channel, cause: int) -> None:
        """Another channel asked ``ch`` to hang up (its Local half, a bridge partner that left).

        A channel waiting in ``Dial`` finishes the Dial first (BRIDGEPEER, ANSWEREDTIME...); see :meth:`app_dial`."""
        if ch.hungup:
            return
        ch.hungup = True
        bridged = ch.bridge is not None
        if not bridged:
            self.emit("HangupRequest", CALL, [*ch.snapshot(), ("Cause", str(cause))])
        else:
            self.cel(ch, "BRIDGE_EXIT", extra={"bridge_id": ch.bridge.id, "bridge_technology": "simple_bridge"})
        self.cel(ch, "HANGUP", extra={"hangupcause": cause, "hangupsource": "", "dialstatus": ""})
        self.cel(ch, "CHAN_END")
        self._linkedid_end(ch, cause)
        if not ch.dialed:
            self.cdr(ch, dest_channel=ch.cdr_peer)
        if bridged:
            self.emit("HangupRequest", CALL, [*ch.snapshot(), ("Cause", str(cause))])
        ch.pending_cause = cause
        waiting = ch.in_dial
        if waiting is not None:
            self.sched.fire(waiting)  # app_dial completes the hangup
            return
        self.finish_hangup(ch)

    def finish_hangup(self, ch: Channel) -> None:
        """The last part of a requested hangup: leave the bridge, SoftHangupRequest, ``h``, Hangup."""
        cause = ch.pending_cause if ch.pending_cause is not None else 16
        if ch.bridge is not None:
            self.varset(ch, "BRIDGEPEER", "")
            self._leave_quiet(ch)
        self.emit("SoftHangupRequest", CALL, [*ch.snapshot(), ("Cause", "16")])
        self._final(ch, cause, h_exten=True)
        peer = ch.peer
        if peer is not None and not peer.hungup:
            self.hangup_request(peer, cause)

    def kick(self, ch: Channel, cause: int = 16, *, h_exten: bool = True) -> None:
        """A dialed channel left alone in a bridge is hung up by the bridge."""
        if ch.hungup:
            return
        ch.hungup = True
        b = ch.bridge
        self._leave_quiet(ch)
        peer = ch.peer
        if peer is not None and not peer.hungup:
            self.emit("HangupRequest", CALL, [*peer.snapshot(), ("Cause", str(cause))])
        self._final(ch, cause, h_exten=False)
        if b is not None:
            self.cel(ch, "BRIDGE_EXIT", extra={"bridge_id": b.id, "bridge_technology": "simple_bridge"})
        self.cel(ch, "HANGUP", extra={"hangupcause": cause, "hangupsource": "", "dialstatus": ""})
        self.cel(ch, "CHAN_END")
        self._linkedid_end(ch, cause)
        if peer is not None and not peer.hungup:
            peer.hungup = True
            self.cel(peer, "HANGUP", extra={"hangupcause": cause, "hangupsource": "", "dialstatus": ""})
            self.cel(peer, "CHAN_END")
            self._linkedid_end(peer, cause)
            if not peer.dialed:
                self.cdr(peer, dest_channel=peer.cdr_peer)
            peer.pending_cause = cause
            self.emit("SoftHangupRequest", CALL, [*peer.snapshot(), ("Cause", "16")])
            self._final(peer, cause, h_exten=h_exten)

    def _leave_quiet(self, ch: Channel) -> None:
        """BridgeLeave (and BridgeDestroy when empty) without the CEL, which came earlier."""
        b = ch.bridge
        if b is None:
            return
        b.channels.remove(ch)
        ch.bridge = None
        self.emit("BridgeLeave", CALL, [*b.fields(), *ch.snapshot()])
        if not b.channels:
            self.emit("BridgeDestroy", CALL, b.fields())

    def _linkedid_end(self, ch: Channel, cause: int) -> None:
        if any(not c.hungup for c in self.linked.get(ch.linkedid, [])):
            return
        if self.linked.pop(ch.linkedid, None) is None:
            return
        self.cel(ch, "LINKEDID_END")
        self.processed_calls += 1
        rec = self.calls.get(ch.linkedid)
        if rec is not None and rec.end is None:
            rec.end = self.now
            if rec.hangup_cause is None:
                rec.hangup_cause = cause

    def _final(self, ch: Channel, cause: int, *, h_exten: bool) -> None:
        if h_exten and ch.runs_dialplan and ch.context == "demo":
            self.newexten(ch, "NoOp", f"hangup handler {ch.name} cause {cause}", priority=1, exten="h")
        self.emit("Hangup", CALL, [*ch.snapshot(), ("Cause", str(cause)),
                                   ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))])
        self.channels.pop(ch.name, None)
        if ch.device:
            self.devstate(ch.device, "NOT_INUSE")
        gone = ch.on_hangup
        if gone is not None:
            self.sched.fire(gone)

    def soft_hangup(self, ch: Channel, cause: int = 16) -> None:
        """Hang a channel up from outside (Hangup action, a caller who gives up)."""
        self.hangup(ch, cause)

    # -- calls ---------------------------------------------------------------------------------------------------
    def record(self, ch: Channel, caller: str, callee: str, scenario: str) -> CallRecord:
        rec = CallRecord(ch.linkedid, caller, callee, scenario, self.now)
        self.calls[ch.linkedid] = rec
        ch.call = rec
        return rec

    def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str = "",
        callerid: str = "",
        variables: Pairs | None = None,
        account: str = "",
        timeout: float = 30.0,
        on_result: Callable[[int, Channel | None], None] | None = None,
    ) -> Scenario:
        """The Originate action as a scenario: ``Local/<exten>@<context>`` runs the dialplan."""
        tech, _, rest = channel.partition("/")
        dest_exten, _, dest_ctx = rest.partition("@")
        dest_ctx = dest_ctx or "default"
        one, two = self.local_pair(dest_exten, dest_ctx)
        rec = self.record(one, _split_callerid(callerid)[0], dest_exten, "originate")
        plan = [p for p in configs.dialplan(dest_ctx) if p[1] == dest_exten and p[2] != "hint"]
        if tech.lower() != "local" or not plan:
            # no such extension: ;2 is gone at once, the originate fails with Reason 0
            two.hungup = True
            self.cel(two, "HANGUP", extra={"hangupcause": 0, "hangupsource": "", "dialstatus": ""})
            self.cel(two, "CHAN_END")
            self._final(two, 0, h_exten=False)
            rec.disposition, rec.scenario, rec.hangup_cause = "failed", "failed", 0
            yield STEP
            if on_result:
                on_result(REASON_FAILED, None)
            one.hungup = True
            self.cel(one, "HANGUP", app="AppDial2", data="(Outgoing Line)",
                     extra={"hangupcause": 0, "hangupsource": "", "dialstatus": ""})
            one.device = ""
            self._final(one, 0, h_exten=False)
            self.devstate(f"Local/{dest_exten}@{dest_ctx}", "INVALID")
            self.devstate(f"Local/{dest_exten}@{dest_ctx}", "INVALID")
            self.cel(one, "CHAN_END", app="AppDial2", data="(Outgoing Line)")
            self._linkedid_end(one, 0)
            return
        self.newexten(one, "AppDial2", "(Outgoing Line)", exten=dest_exten)
        one.app, one.appdata = "AppDial2", "(Outgoing Line)"
        num, name = _split_callerid(callerid)
        variables = variables or []
        for k, v in variables:
            self.varset(one, k, v)
        if account:
            self.set_account(one, account)
        if callerid:
            self.set_callerid(one, num, name)
            self.set_connected(one, num, name)
        for k, v in variables:
            self.varset(two, k, v)
        if callerid:
            self.set_callerid(two, num, name)
        if account:
            self.set_account(two, account)
        if callerid:
            self.set_connected(two, num, name)
        self.local_bridge(one, two)
        self.dial_begin(None, one, f"{dest_exten}@{dest_ctx}")
        yield 0.0
        state: dict[str, Any] = {}
        wake = Signal()
        two.on_answer = lambda: self._note(state, "answered", wake)
        two.on_decided = lambda r: self._note(state, "done", wake, r)
        one.in_dial = wake  # a hangup request while dialing ends the originate
        self.sched.add(_drive(self.run_dialplan(two, dest_ctx, dest_exten, timeout=timeout, origin=one), state,
                              self, wake))
        yield (wake, timeout)
        one.in_dial = None
        if "answered" in state and not one.hungup:
            rec.answer = self.now
            rec.disposition = "answered"
            self.dial_end(None, one, "ANSWER")
            if on_result:
                on_result(REASON_ANSWERED, one)
            if application is not None:
                self.newexten(one, application, data)
                one.app, one.appdata = application, data
                if application.lower() == "wait":
                    yield from self._app_wait(one, data)
                if not one.hungup:
                    self.hangup(one, 16, source="", h_exten=False)
            else:
                yield from self.run_dialplan(one, context or "default", exten or "s", start=priority)
            return
        result = state.get("done", "noanswer")
        reason = {"busy": REASON_BUSY, "congestion": REASON_CONGESTION}.get(result, REASON_FAILED)
        rec.disposition = {"busy": "busy", "congestion": "failed"}.get(result, "no answer")
        rec.hangup_cause = {"busy": 17, "congestion": 34}.get(result, 16 if one.hungup else 0)
        self.dial_end(None, one, {"busy": "BUSY", "congestion": "CONGESTION"}.get(result, "NOANSWER"))
        requested = one.hungup
        if not requested and not two.hungup:
            self.emit("HangupRequest", CALL, [*two.snapshot(), ("Cause", "0")])
            two.pending_cause = 0
        if on_result:
            on_result(reason, None)
        if not two.hungup:
            yield STEP  # ;2 finishes its own hangup (Busy/Congestion) first
        if not two.hungup:
            two.peer = None
            self.hangup(two, 0, request=False, h_exten=False)
        if not requested:
            one.hungup = True
            self.cel(one, "HANGUP", extra={"hangupcause": 0, "hangupsource": "", "dialstatus": ""})
            self.cel(one, "CHAN_END")
            self._linkedid_end(one, 0)
        self._final(one, one.pending_cause if requested and one.pending_cause is not None else 0, h_exten=False)

    def _note(self, state: dict[str, Any], key: str, wake: Signal, value: Any = None) -> None:
        state.setdefault(key, self.now if value is None else value)
        self.sched.fire(state.get("_wake", wake))

    def _answer(self, ch: Channel) -> None:
        self.cel(ch, "ANSWER", app="Answer", data="")
        self.newstate(ch, 6)
        if ch.peer is not None and ch.peer.state != 6:
            self.cel(ch.peer, "ANSWER")
            self.newstate(ch.peer, 6)
        cb = ch.on_answer
        if cb is not None:
            ch.on_answer = None
            cb()

    def _app_wait(self, ch: Channel, data: str) -> Scenario:
        try:
            secs = float(data or 0)
        except ValueError:
            secs = 0.0
        if secs > 0:
            yield secs

    def run_dialplan(self, ch: Channel, context: str, exten: str, *, start: int = 1, timeout: float = 30.0,
                     origin: Channel | None = None) -> Generator[Any, None, str]:
        """Interpret ``extensions.conf`` on a channel. Returns ``answered``/``busy``/``congestion``/``noanswer``
        for the first answer decision, or ``done``."""
        plan = [p for p in configs.dialplan(context) if p[1] == exten and p[2] != "hint"]
        result = "done"
        decided = False
        ch.runs_dialplan = True
        token = ch.plan_token = object()  # a Redirect starts a new one; this one then stops
        for _ctx, _ext, prio, app, data in plan:
            if ch.plan_token is not token:
                return "redirected"
            if int(prio) < start or ch.hungup:
                continue
            data = data or ""
            data = (data.replace("${EXTEN}", exten)
                    .replace("${CALLERID(all)}", f'"{ch.cid_name}" <{ch.cid_num}>')
                    .replace("${CHANNEL}", ch.name))
            if int(prio) > start:
                yield STEP  # each priority takes a moment, as on a real PBX
                if ch.hungup:
                    break
                if ch.plan_token is not token:
                    return "redirected"
            self.newexten(ch, app, data, priority=int(prio), exten=exten, context=context)
            if app == "Set":
                var, _, val = data.partition("=")
                self.varset(ch, var, val)
            elif app == "Answer":
                if ch.state != 6:
                    self._answer(ch)
                    if not decided:
                        decided, result = True, "answered"
                        yield 0.0
            elif app == "Wait":
                yield from self._app_wait(ch, data)
            elif app == "UserEvent":
                name, *hdrs = data.split(",")
                pairs = []
                for h in hdrs:
                    k, _, v = h.partition(":")
                    pairs.append((k.strip(), v.strip()))
                self.user_event(ch, name, pairs)
            elif app in ("Busy", "Congestion"):
                busy = app == "Busy"
                self.newstate(ch, 7)
                decided, result = True, "busy" if busy else "congestion"
                cb = ch.on_decided
                if cb is not None:
                    cb(result)
                    yield STEP
                cause = 17 if busy else 34
                if not ch.hungup or ch.pending_cause is not None:
                    ch.hungup = True
                    self.cel(ch, "HANGUP", extra={"hangupcause": cause, "hangupsource": "", "dialstatus": ""})
                    self.cel(ch, "CHAN_END")
                    self._linkedid_end(ch, cause)
                    self.emit("SoftHangupRequest", CALL, [*ch.snapshot(), ("Cause", "16")])
                    self._final(ch, cause, h_exten=False)
                return result
            elif app == "Ringing":
                target = ch.peer if ch.peer is not None and ch.peer.state != 6 else ch
                self.newstate(target, 5)
                cb = ch.on_ringing
                if cb is not None:
                    cb()
            elif app == "Dial":
                target, _, tmo = data.partition(",")
                status = yield from self.app_dial(ch, target, float(tmo or 30), origin=origin)
                if status != "ANSWER" and not decided and ch.state != 6:
                    decided, result = True, "noanswer"
            elif app == "Hangup":
                self.hangup(ch, 16, source="dialplan/builtin")
                return result
            elif app in ("Queue", "ConfBridge"):
                yield 5.0
        if not ch.hungup and ch.plan_token is token:
            self.hangup(ch, 16, source="dialplan/builtin")
        return result

    def app_dial(self, caller: Channel, target: str, timeout: float, *,
                 origin: Channel | None = None) -> Generator[Any, None, str]:
        """``Dial(Local/x@ctx,timeout)`` from ``caller``: returns the DIALSTATUS."""
        for var in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
                    "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"):
            self.varset(caller, var, "")
        dial_start = self.now
        _, _, rest = target.partition("/")
        exten, _, ctx = rest.partition("@")
        one, two = self.local_pair(exten, ctx, linkedid=caller.linkedid, announce=False)
        for ch in (one, two):
            self.cel(ch, "CHAN_START")
        for ch in (one, two):
            self.emit("Newchannel", CALL, ch.snapshot())
        one.dialed = True
        one.cdr_dest = exten
        self.varset(one, "DIALEDPEERNUMBER", f"{exten}@{ctx}")
        self.newexten(one, "AppDial", "(Outgoing Line)", exten=caller.exten)
        self.set_callerid(one, caller.exten, caller.cid_name)
        if caller.account:
            self.set_account(one, caller.account)
        self.set_connected(one, caller.cid_num, caller.cid_name)
        self.varset(two, "DIALEDPEERNUMBER", f"{exten}@{ctx}")
        self.set_callerid(two, caller.cid_num, caller.cid_name)
        if caller.account:
            self.set_account(two, caller.account)
        self.set_connected(two, caller.exten, caller.cid_name)
        self.local_bridge(one, two)
        self.dial_begin(caller, one, f"{exten}@{ctx}")
        state: dict[str, Any] = {}
        wake = Signal()
        two.on_answer = lambda: self._note(state, "answered", wake)
        two.on_ringing = lambda: self._note(state, "ringing", wake)
        self.sched.add(_drive(self.run_dialplan(two, ctx, exten, timeout=timeout), state, self, wake))
        deadline = self.now + timeout
        while "answered" not in state and "done" not in state and self.now < deadline and not caller.hungup:
            if "ringing" in state and "rang" not in state:
                state["rang"] = True
                origin_leg = caller.peer
                if origin_leg is not None and origin_leg.state not in (5, 6) and origin_leg.in_dial is not None:
                    self.newstate(origin_leg, 5)
                    self.dial_state(None, origin_leg, "RINGING")
                self.dial_state(caller, one, "RINGING")
            wake = Signal()
            state["_wake"] = wake
            yield (wake, deadline - self.now)
        if "answered" in state:
            self.varset(caller, "DIALSTATUS", "ANSWER")
            self.varset(caller, "DIALEDPEERNAME", one.name)
            self.varset(caller, "DIALEDPEERNUMBER", f"{exten}@{ctx}")
            self.dial_end(caller, one, "ANSWER")
            b = self.bridge_create()
            self.newexten(one, "AppDial", "(Outgoing Line)", exten="")
            self.bridge_enter(b, one)
            self.bridge_enter(b, caller, peer=one)
            self.varset(one, "BRIDGEPEER", caller.name)
            self.varset(caller, "BRIDGEPEER", one.name)
            answered_at = state["answered"]
            caller.cdr_peer = one.name
            while not one.hungup and not caller.hungup:
                wake = Signal()
                caller.in_dial = one.on_hangup = wake
                yield wake
            caller.in_dial = one.on_hangup = None
            talk = self.now - answered_at
            total = self.now - dial_start
            dial_vars = [("ANSWEREDTIME", str(int(talk))), ("ANSWEREDTIME_MS", str(int(talk * 1000))),
                         ("DIALEDTIME", str(int(total))), ("DIALEDTIME_MS", str(int(total * 1000))),
                         ("DIALSTATUS", "ANSWER")]
            if caller.hungup:  # the caller was asked to hang up while bridged: finish Dial, then hang up
                self.varset(caller, "BRIDGEPEER", "")
                self.varset(one, "BRIDGEPEER", "")
                self._leave_quiet(caller)
                for k, v in dial_vars:
                    self.varset(caller, k, v)
                self.finish_hangup(caller)
                self.kick(one, caller.pending_cause or 16)
                return "ANSWER"
            self.varset(caller, "BRIDGEPEER", "")
            if caller.bridge is not None:
                self.bridge_leave(caller)
            for k, v in dial_vars:
                self.varset(caller, k, v)
            return "ANSWER"
        status = "BUSY" if state.get("done") == "busy" else "CONGESTION" if state.get("done") == "congestion" \
            else "NOANSWER"
        self.dial_end(caller, one, status)
        if not one.hungup:
            self.kick(one, 0, h_exten=False)
        self.varset(caller, "DIALSTATUS", status)
        return status

    # -- traffic scenarios (PJSIP phones; durations from the traffic options) ---------------------------------
    def _exp(self, mean: float, lo: float = 0.0) -> float:
        return max(lo, self.rng.expovariate(1.0 / mean)) if mean > 0 else lo

    def _party(self) -> tuple[str, str, str]:
        i = self.rng.randrange(len(USERS))
        return USERS[i], FIRST_NAMES[i], f"{2000 + i}"

    def scenario(self, kind: str, *, caller: str | None = None, callee: str | None = None,
                 talk: float | None = None, ring: float | None = None) -> Scenario:
        """One call of the given kind (see :data:`DEFAULT_MIX`)."""
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
            return self._queue_call(kind, cu, cname, cnum, talk)
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
        rec.transferred = True
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

    def _queue_call(self, kind: str, cu: str, cname: str, cnum: str, talk: float) -> Scenario:
        t = self.traffic
        q = self.queues.get(t.queue) or next(iter(self.queues.values()))
        caller = self._caller_leg(cu, cname, cnum, "300", kind, q.name)
        rec = caller.call
        assert rec is not None
        rec.queue = q.name
        yield 0.05
        self.newexten(caller, "Answer", "", priority=2)
        self.cel(caller, "ANSWER")
        self.newstate(caller, 6)
        self.newexten(caller, "Queue", f"{q.name},rt,,,300", priority=3)
        q.callers.append(caller)
        joined = self.now
        self.emit("QueueCallerJoin", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                             ("Position", str(len(q.callers))), ("Count", str(len(q.callers)))])
        patience = self._exp(t.patience_mean, 2.0) if kind == "abandon" else t.queue_timeout
        deadline = joined + patience
        members = self._agents(q)
        agent_ch: Channel | None = None
        member: Member | None = None
        rang = False
        while agent_ch is None and self.now < deadline - 1e-9:
            free = [m for m in members if not m.in_call and not m.paused]
            head = bool(q.callers) and q.callers[0] is caller
            if free and head and kind != "abandon":
                member = free[q.rr % len(free)]
                q.rr += 1
                member.in_call = True
                agent_ch = self._queue_ring(q, caller, member)
                ring = self._exp(t.ring_mean, 1.0)
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
                break
            if kind == "abandon" and free and head and not rang:
                rang = True
                ringing = free[q.rr % len(free)]
                ring_ch = self._queue_ring(q, caller, ringing)
                ring = min(max(0.0, deadline - self.now), 5.0)
                yield ring
                self.dial_end(caller, ring_ch, "NOANSWER")
                self.emit("AgentRingNoAnswer", AGENT, [*caller.snapshot(), *ring_ch.snapshot("Dest"),
                                                       ("Queue", q.name), ("MemberName", ringing.name),
                                                       ("Interface", ringing.interface),
                                                       ("RingTime", str(int(ring)))])
                self.hangup(ring_ch, 16, request=False, h_exten=False)
                continue
            yield (q.changed, deadline - self.now)
        pos = q.callers.index(caller) + 1
        q.callers.remove(caller)
        self.queue_changed(q)
        if agent_ch is None or member is None:
            hold = self.now - joined
            if kind == "abandon":
                q.abandoned += 1
                self.emit("QueueCallerAbandon", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                                        ("Position", str(pos)), ("OriginalPosition", str(pos)),
                                                        ("HoldTime", str(int(hold)))])
            self.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                                  ("Count", str(len(q.callers))), ("Position", str(pos))])
            rec.disposition, rec.hangup_cause = ("abandoned" if kind == "abandon" else "no answer"), 16
            self.hangup(caller, 16)
            return
        self.emit("QueueCallerLeave", AGENT, [*caller.snapshot(), ("Queue", q.name),
                                              ("Count", str(len(q.callers))), ("Position", str(pos))])
        rec.answer = self.now
        rec.agent = member.name
        rec.callee = member.interface
        rec.disposition = "answered"
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

    def queue_changed(self, q: Queue) -> None:
        """Wake the callers waiting in ``q`` (an agent is free, a caller left, a pause changed)."""
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


def _drive(sub: Generator[Any, None, str], state: dict[str, Any], pbx: PBX, wake: Signal) -> Scenario:
    result = yield from sub
    pbx._note(state, "done", wake, result)


def _split_callerid(cid: str) -> tuple[str, str]:
    """``"Name" <num>`` / ``Name <num>`` / ``num`` -> (num, name)."""
    if "<" in cid and cid.endswith(">"):
        name, _, num = cid[:-1].rpartition("<")
        return num.strip(), name.strip().strip('"')
    return (cid, "<unknown>") if cid else ("<unknown>", "<unknown>")

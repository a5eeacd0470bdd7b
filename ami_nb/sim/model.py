"""The simulated PBX: channel primitives, the events a real Asterisk 22 emits for them, the demo dialplan.

Everything runs on one virtual clock (:mod:`~ami_nb.sim.scheduler`): a scenario is a generator that yields how
many *simulated* seconds to wait, so the same seed gives the same calls and the same event sequence, and an
hour of traffic can run in a few real seconds. Event fields, names and order follow the recorded transcripts
(19, 20, 22, 23, 32): ``Originate`` of ``Local/<exten>@demo`` interprets ``extensions.conf`` priority by priority,
with the recorded teardown order (hangup requests, bridge kicks, failed originates). Traffic scenarios are
functions of a PBX in :mod:`~ami_nb.sim.traffic` (it imports this module, not the reverse), state classes live in
:mod:`~ami_nb.sim.state`.

The model knows nothing about sockets: every event goes to ``sink(name, privilege, pairs, when)``.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any

from . import configs, queue_app
from .scheduler import Scenario, Scheduler, Signal
from .state import (
    AGENT,
    CALL,
    CAUSE_TEXT,
    CDR,
    DEFAULT_MIX,
    DIALPLAN,
    DISPOSITION,
    REASON_ANSWERED,
    REASON_BUSY,
    REASON_CONGESTION,
    REASON_FAILED,
    STATE_DESC,
    STEP,
    USER,
    Bridge,
    CallRecord,
    Channel,
    Member,
    Pairs,
    Queue,
    Traffic,
    cdr_time,
)

__all__ = [
    "AGENT", "CALL", "CAUSE_TEXT", "CDR", "DEFAULT_MIX", "DIALPLAN", "DISPOSITION", "PBX", "REASON_ANSWERED",
    "REASON_BUSY", "REASON_CONGESTION", "REASON_FAILED", "STATE_DESC", "USER", "Bridge", "CallRecord", "Channel",
    "Member", "Pairs", "Queue", "Scenario", "Scheduler", "Signal", "Sink", "Traffic",
]

Sink = Callable[[str, str, Pairs, float], None]
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
        self._chan_calls: dict[str, list[CallRecord]] = {}  # uniqueid -> the calls that channel belongs to
        self.db: dict[str, str] = {}
        self.globals: dict[str, str] = configs.globals_()
        self.processed_calls = 0
        self._uid = itertools.count()
        self._local = itertools.count()
        self._chan_seq = itertools.count(1)
        self.queues = self._load_queues()
        self.hints = {p[3]: (p[1], p[0]) for p in configs.dialplan() if p[2] == "hint"}
        self.hint_state: dict[str, int] = {}
        self.devstate_cache: dict[str, str] = {}  # the cachable device states last published
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
        rec = self.calls.get(ch.linkedid)
        if rec is not None:
            self._join_call(ch, rec)
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
            ("EventTime", cdr_time(self.now)),
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
        if not app.startswith("AppDial"):
            ch.cdr_app = (app, data)
        pending = self._apply_cid(ch)
        self.emit("Newexten", DIALPLAN, [*ch.snapshot(), ("Extension", ch.exten), ("Application", app),
                                         ("AppData", data)])
        if pending:
            self._newcallerid(ch)

    def _apply_cid(self, ch: Channel) -> bool:
        pending, ch.pending_cid = ch.pending_cid, None
        if pending is None or pending == (ch.cid_num, ch.cid_name):
            return False
        ch.cid_num, ch.cid_name = pending
        return True

    def publish_cid(self, ch: Channel) -> None:
        """The channel's next snapshot goes out (a hangup): a caller id set in the meantime shows now."""
        if self._apply_cid(ch):
            self._newcallerid(ch)

    def _newcallerid(self, ch: Channel) -> None:
        pres = "67 (Number Unavailable)" if ch.cid_num == "<unknown>" else "0 (Presentation Allowed, Not Screened)"
        self.emit("NewCallerid", CALL, [*ch.snapshot(), ("CID-CallingPres", pres)])

    def connected_update(self, ch: Channel, num: str, name: str) -> None:
        """A bridge gives ``ch`` its peer's caller as connected line (bridge.c, after a transfer). On a Local
        half, core_unreal copies it to the other half's caller at once, but that one's snapshot (NewCallerid)
        goes out only with its next event: it waits in an application (45)."""
        if (ch.con_num, ch.con_name) == (num, name):
            return
        self.set_connected(ch, num, name)
        other = ch.peer
        if other is not None and not other.hungup:
            other.pending_cid = (num, name)

    def varset(self, ch: Channel, var: str, value: str) -> None:
        if var.startswith(("FEATUREMAP(", "FEATURE(")):  # features.conf settings of the channel: no VarSet
            ch.vars[var] = value
            return
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
            # a Local channel's device is INUSE while it only rings (recordings 42, 46)
            ringing = state == 5 and not ch.device.startswith("Local/")
            self.devstate(ch.device, "RINGING" if ringing else "INUSE")

    def devstate(self, device: str, state: str, *, cachable: bool = False) -> None:
        """Publish a device state. A ``cachable`` one (app_queue's ``Queue:...`` states) is published only when it
        changed (``ast_publish_device_state_full`` compares with the cache); a channel's (a Local pair's halves,
        whose devstate cache is disabled) every time."""
        if cachable:
            if self.devstate_cache.get(device) == state:
                return
            self.devstate_cache[device] = state
        self.emit("DeviceStateChange", CALL, [("Device", device), ("State", state)])
        hint = self.hints.get(device)
        if hint is not None:
            status = {"INUSE": 1, "RINGING": 8}.get(state, 0)
            if self.hint_state.get(device) != status:
                self.hint_state[device] = status
                self.hint_status(hint[0], hint[1], status)
        queue_app.device_changed(self, device)

    def set_callerid(self, ch: Channel, num: str, name: str) -> None:
        if (ch.cid_num, ch.cid_name) == (num, name):
            return
        ch.cid_num, ch.cid_name = num, name
        self._newcallerid(ch)

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
        # bridge_channel.c: a transfer is complete once its channel is in a bridge (a VarSet only if it was set)
        for var in ("BLINDTRANSFER", "ATTENDEDTRANSFER", "FORWARDERNAME"):
            if ch.vars.get(var):
                self.varset(ch, var, "")

    def bridge_leave(self, ch: Channel, *, cel: bool = True) -> None:
        """BridgeLeave, its CEL BRIDGE_EXIT (unless it came earlier: ``cel=False``), BridgeDestroy when empty."""
        b = ch.bridge
        if b is None:
            return
        b.channels.remove(ch)
        ch.bridge = None
        self.emit("BridgeLeave", CALL, [*b.fields(), *ch.snapshot()])
        if cel:
            self.cel(ch, "BRIDGE_EXIT", extra={"bridge_id": b.id, "bridge_technology": "simple_bridge"})
        if not b.channels:
            self.emit("BridgeDestroy", CALL, b.fields())

    def user_event(self, ch: Channel, name: str, headers: Pairs) -> None:
        self.emit("UserEvent", USER, [*ch.snapshot(), ("UserEvent", name), *headers])

    def cdr(self, ch: Channel, *, dest_channel: str = "", disposition: str | None = None,
            span: tuple[float, float] | None = None) -> None:
        """The channel's Cdr; ``span`` (start, end) is one dial attempt's record (answered at its start, as
        the queue's attempts are recorded), not the channel's."""
        if span is None:
            for pairs in ch.cdr_forks:
                self.emit("Cdr", CDR, pairs)
            ch.cdr_forks = []
        self.emit("Cdr", CDR, self._cdr_pairs(ch, dest_channel=dest_channel, disposition=disposition, span=span))

    def cdr_fork(self, ch: Channel) -> None:
        """``ch`` (party A of its Cdr) leaves its bridge for another: cdr.c finalizes the record now (posted with
        the channel's last) and starts a new one, answered at once since the channel is up (44, 45)."""
        ch.cdr_forks.append(self._cdr_pairs(ch, dest_channel=ch.cdr_peer))
        ch.cdr_start, ch.cdr_peer, ch.cdr_dest = self.now, "", ""

    def _cdr_pairs(self, ch: Channel, *, dest_channel: str = "", disposition: str | None = None,
                   span: tuple[float, float] | None = None) -> Pairs:
        ans = ch.answered if span is None else span[0]
        end = self.now if span is None else span[1]
        created = (ch.created if ch.cdr_start is None else ch.cdr_start) if span is None else span[0]
        if ans is not None and ans < created:
            ans = created
        disp = disposition or ("ANSWERED" if ans is not None else "NO ANSWER")
        cid = '"{}" <{}>'.format(*("" if v == "<unknown>" else v for v in (ch.cid_name, ch.cid_num)))
        return [
            ("AccountCode", ch.account),
            ("Source", "" if ch.cid_num == "<unknown>" else ch.cid_num),
            ("Destination", ch.cdr_dest or ch.exten),
            ("DestinationContext", ch.context),
            ("CallerID", cid),
            ("Channel", ch.name),
            ("DestinationChannel", dest_channel),
            ("LastApplication", ch.cdr_app[0]),
            ("LastData", ch.cdr_app[1]),
            ("StartTime", cdr_time(created)),
            ("AnswerTime", cdr_time(ans) if ans is not None else ""),
            ("EndTime", cdr_time(end)),
            ("Duration", str(int(end - created))),
            ("BillableSeconds", str(int(end - ans)) if ans is not None else "0"),
            ("Disposition", disp),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", ch.uniqueid),
            ("UserField", ch.cdr_userfield),
        ]

    def hangup(self, ch: Channel, cause: int, *, request: bool = True, dialstatus: str = "",
               source: str = "", h_exten: bool = True, dest_channel: str = "", cdr: bool | None = None,
               disposition: str | None = None) -> None:
        """A channel hangs up by itself (``Hangup()``, ``Busy``, a phone hanging up, the Hangup action).

        Order as Asterisk 22 reports it: CEL HANGUP, Cdr, SoftHangupRequest, CEL CHAN_END, the ``h`` extension,
        Hangup; then the other half of a Local pair is asked to hang up (:meth:`hangup_request`)."""
        if ch.hungup:
            return
        self.publish_cid(ch)
        ch.hungup = True
        if ch.bridge is not None:
            self.bridge_leave(ch)
        self.cel(ch, "HANGUP", extra={"hangupcause": cause, "hangupsource": source, "dialstatus": dialstatus})
        if (cdr if cdr is not None else not ch.dialed) and not ch.no_cdr:
            self.cdr(ch, dest_channel=dest_channel or ch.cdr_peer, disposition=disposition)
        if request:
            self.emit("SoftHangupRequest", CALL, [*ch.snapshot(), ("Cause", "16")])
        self.cel(ch, "CHAN_END")
        self._linkedid_end(ch, cause)
        self._final(ch, cause, h_exten=h_exten)
        peer = ch.peer
        if peer is not None and not peer.hungup:
            self.publish_cid(peer)
            self._local_status(ch, peer)
            self.hangup_request(peer, cause)

    def _local_status(self, two: Channel, one: Channel) -> None:
        """A Local ``;2`` that ran Dial hangs up before its ``;1``: ast_unreal_hangup gives the ``;1`` its
        DIALSTATUS as CHANLOCALSTATUS (44, 45: the originated ``;1`` still waits in ``phone``)."""
        if two.name.endswith(";2") and "DIALSTATUS" in two.vars:
            self.varset(one, "CHANLOCALSTATUS", two.vars["DIALSTATUS"])

    def hangup_request(self, ch: Channel, cause: int) -> None:
        """Another channel asked ``ch`` to hang up (its Local half, a bridge partner that left).

        A channel waiting in ``Dial`` finishes the Dial first (BRIDGEPEER, ANSWEREDTIME...); see :meth:`app_dial`."""
        if ch.hungup:
            return
        self.publish_cid(ch)
        ch.hungup = True
        bridge = ch.bridge
        bridged = bridge is not None
        if bridge is None:
            self.emit("HangupRequest", CALL, [*ch.snapshot(), ("Cause", str(cause))])
        else:
            self.cel(ch, "BRIDGE_EXIT", extra={"bridge_id": bridge.id, "bridge_technology": "simple_bridge"})
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
            self.bridge_leave(ch, cel=False)
        if ch.runs_dialplan:  # an Originate's application channel just goes (recording 43)
            self.emit("SoftHangupRequest", CALL, [*ch.snapshot(), ("Cause", "16")])
        self._final(ch, cause, h_exten=True)
        peer = ch.peer
        if peer is not None and not peer.hungup:
            self.publish_cid(peer)
            self._local_status(ch, peer)
            self.hangup_request(peer, cause)

    def kick(self, ch: Channel, cause: int = 16, *, h_exten: bool = True) -> None:
        """A dialed channel left alone in a bridge is hung up by the bridge."""
        if ch.hungup:
            return
        ch.hungup = True
        b = ch.bridge
        self.bridge_leave(ch, cel=False)
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
            changed = self._apply_cid(peer)  # its Cdr and Hangup show the caller id set meanwhile (45)
            if not peer.dialed:
                self.cdr(peer, dest_channel=peer.cdr_peer)
            peer.pending_cause = cause
            self.emit("SoftHangupRequest", CALL, [*peer.snapshot(), ("Cause", "16")])
            self._final(peer, cause, h_exten=h_exten, cid_changed=changed)

    def _linkedid_end(self, ch: Channel, cause: int) -> None:
        if any(not c.hungup for c in self.linked.get(ch.linkedid, [])):
            return
        if self.linked.pop(ch.linkedid, None) is None:
            return
        self.cel(ch, "LINKEDID_END")
        self.processed_calls += 1

    def _join_call(self, ch: Channel, rec: CallRecord) -> None:
        """``ch`` belongs to the call ``rec`` from now on (until it hangs up)."""
        calls = self._chan_calls.setdefault(ch.uniqueid, [])
        if rec not in calls:
            calls.append(rec)
            rec.open_channels.add(ch.uniqueid)
        if ch.call is None:
            ch.call = rec

    def _left_calls(self, ch: Channel, cause: int) -> None:
        """``ch`` hung up: a call whose last channel this was has ended."""
        for rec in self._chan_calls.pop(ch.uniqueid, []):
            rec.open_channels.discard(ch.uniqueid)
            if not rec.open_channels and rec.end is None:
                rec.end = self.now
                if rec.hangup_cause is None:
                    rec.hangup_cause = cause

    def relink(self, ch: Channel, linkedid: str) -> None:
        """Asterisk gives the channels of a bridge the oldest Linkedid: ``ch`` moves to ``linkedid``'s call.

        Its later events carry the new Linkedid; the old Linkedid ends (CEL LINKEDID_END) once no live channel
        carries it. The call ``ch`` came from keeps it as a member (its row ends when ``ch`` hangs up)."""
        old = ch.linkedid
        if old == linkedid:
            return
        chans = self.linked.get(old, [])
        if ch in chans:
            chans.remove(ch)
        ch.linkedid = linkedid
        self.linked.setdefault(linkedid, []).append(ch)
        for rec in self._chan_calls.get(ch.uniqueid, []):
            rec.add_linkedid(linkedid)
        joined = self.calls.get(linkedid)
        if joined is not None:
            self._join_call(ch, joined)
        if not any(not c.hungup for c in chans):
            self.linked.pop(old, None)
            ch.linkedid = old
            self.cel(ch, "LINKEDID_END")
            ch.linkedid = linkedid
            self.processed_calls += 1

    def _final(self, ch: Channel, cause: int, *, h_exten: bool, cid_changed: bool = False) -> None:
        if h_exten and ch.runs_dialplan and ch.context == "demo":
            self.newexten(ch, "NoOp", f"hangup handler {ch.name} cause {cause}", priority=1, exten="h")
        pending = self._apply_cid(ch) or cid_changed  # one snapshot: Hangup, then the caller id it shows (45)
        self.emit("Hangup", CALL, [*ch.snapshot(), ("Cause", str(cause)),
                                   ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))])
        if pending:
            self._newcallerid(ch)
        self.channels.pop(ch.name, None)
        self._left_calls(ch, cause)
        if ch.device:  # the device stays in use while another of its channels is up (recording 40)
            pair = ch.name.rpartition(";")[0] if ch.name.startswith("Local/") else ch.name
            busy = any(c.device == ch.device and not c.hungup and not c.name.startswith(pair)
                       for c in self.channels.values())
            self.devstate(ch.device, "INUSE" if busy else "NOT_INUSE")
        gone = ch.on_hangup
        if gone is not None:
            self.sched.fire(gone)

    def soft_hangup(self, ch: Channel, cause: int = 16) -> None:
        """Hang a channel up from outside (Hangup action, a caller who gives up). A channel in Queue() is
        woken instead: app_queue records the abandon first, then the channel hangs up."""
        waiting = ch.in_queue
        if waiting is not None and not ch.hungup:
            ch.pending_cause = cause
            self.sched.fire(waiting)
            return
        hook = ch.on_soft_hangup
        if hook is not None and not ch.hungup:
            ch.on_soft_hangup = None
            if hook(cause):  # e.g. the transferer of an attended transfer hangs up: the transfer completes
                return
        self.hangup(ch, cause)

    # -- calls ---------------------------------------------------------------------------------------------------
    def record(self, ch: Channel, caller: str, callee: str, scenario: str) -> CallRecord:
        rec = CallRecord(ch.linkedid, caller, callee, scenario, self.now, caller_channel=ch.name)
        self.calls[ch.linkedid] = rec
        for c in self.linked.get(ch.linkedid, [ch]):
            if not c.hungup:
                self._join_call(c, rec)
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
            if application is not None:  # the application runs without a Newexten (recordings 22, 43)
                one.app, one.appdata = application, data
                one.cdr_app = (application, data)
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
        if ch.peer is not None and ch.peer.state != 6 and not ch.peer.answer_later:
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
                     origin: Channel | None = None, sub: bool = False,
                     quiet_first: bool = False) -> Generator[Any, None, str]:
        """Interpret ``extensions.conf`` on a channel. Returns ``answered``/``busy``/``congestion``/``noanswer``
        for the first answer decision, or ``done``. ``sub``: a Gosub's subroutine (ends at Return, no hangup
        at its end); ``quiet_first``: the first priority's Newexten went out already (an async goto's)."""
        plan = [p for p in configs.dialplan(context) if p[1] == exten and p[2] != "hint"]
        result = "done"
        decided = False
        ch.runs_dialplan = True
        if sub and ch.plan_token is not None:
            token = ch.plan_token
        else:
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
            if "${" in data:
                data = _VAR_RE.sub(lambda mt: ch.vars.get(mt.group(1), ""), data)
            if int(prio) > start:
                yield STEP  # each priority takes a moment, as on a real PBX
                if ch.hungup:
                    break
                if ch.plan_token is not token:
                    return "redirected"
            if quiet_first and int(prio) == start:
                ch.priority, ch.exten, ch.context = int(prio), exten, context
            else:
                self.newexten(ch, app, data, priority=int(prio), exten=exten, context=context)
            if app == "Return" and sub:
                return "return"
            if app == "Gosub":
                yield from self.gosub(ch, data, exten, int(prio), context)
                continue
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
                ringing = ch.peer if ch.peer is not None and ch.peer.state != 6 else ch
                self.newstate(ringing, 5)
                on_ringing = ch.on_ringing
                if on_ringing is not None:
                    on_ringing()
            elif app == "Dial":
                parts = data.split(",")
                target, tmo = parts[0], parts[1] if len(parts) > 1 else ""
                opts = parts[2] if len(parts) > 2 else ""
                predial = opts[opts.index("b(") + 2:opts.index(")", opts.index("b("))] if "b(" in opts else ""
                status: str | None = yield from self.app_dial(ch, target, float(tmo or 3600), origin=origin,
                                                              predial=predial.replace("^", ","))
                if status != "ANSWER" and not decided and ch.state != 6:
                    decided, result = True, "noanswer"
                if status == "ANSWER" and "g" not in opts and not ch.hungup and ch.plan_token is token:
                    # an answered Dial returns -1 when its bridge ends (ast_bridge_call): the dialplan stops
                    self.hangup(ch, 16)
                    return result
            elif app == "Hangup":
                self.hangup(ch, 16, source="dialplan/builtin")
                return result
            elif app == "Queue":
                qstatus = yield from queue_app.queue_exec(self, ch, data)
                if qstatus is None:  # the caller left the queue by hanging up, or was bridged and is gone
                    if not ch.hungup:
                        cause = ch.pending_cause if ch.pending_cause is not None else 16
                        ch.pending_cause = None
                        self.hangup(ch, cause)
                    return result
                self.varset(ch, "QUEUESTATUS", qstatus)
            elif app == "ConfBridge":
                yield 5.0
        if not ch.hungup and ch.plan_token is token:
            self.hangup(ch, 16, source="dialplan/builtin")
        return result

    def gosub(self, ch: Channel, target: str, back_exten: str, back_prio: int,
              back_context: str) -> Generator[Any, None, None]:
        """``Gosub(ctx,exten,prio)``: the subroutine's Newexten events as recorded (44): the goto shows the old
        application at priority ``prio - 1``, LOCAL(ARGC), the subroutine up to Return, then the return point
        with the application Return, ARGC and GOSUB_RETVAL."""
        ctx, _, rest = target.partition(",")
        sub_exten, _, sub_prio = rest.partition(",")
        prio = int(sub_prio or 1)
        self.newexten(ch, ch.app, ch.appdata, priority=prio - 1, exten=sub_exten, context=ctx)
        self.varset(ch, "LOCAL(ARGC)", "0")
        yield from self.run_dialplan(ch, ctx, sub_exten, start=prio, sub=True)
        self.newexten(ch, "Return", "", priority=back_prio, exten=back_exten, context=back_context)
        self.varset(ch, "ARGC", "")
        self.varset(ch, "GOSUB_RETVAL", "")

    def app_dial(self, caller: Channel, target: str, timeout: float, *,
                 origin: Channel | None = None, predial: str = "") -> Generator[Any, None, str]:
        """``Dial(Local/x@ctx,timeout[,options])`` from ``caller``: returns the DIALSTATUS. ``predial``: the
        ``b(ctx^exten^prio)`` subroutine run on the callee channel before it is dialled."""
        for var in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
                    "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"):
            self.varset(caller, var, "")
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
        if predial:  # after the caller ids (44): the b() Gosub runs just before the callee is called
            yield from self.gosub(one, predial, caller.exten, 1, one.context)
        # local_call copies ;1's variables to ;2, newest first (ast_unreal_call_setup): a predial Gosub's
        # GOSUB_RETVAL, then DIALEDPEERNUMBER
        if predial:
            self.varset(two, "GOSUB_RETVAL", one.vars.get("GOSUB_RETVAL", ""))
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
            while True:
                if caller.dial_partner is not None:  # an attended transfer bridged the caller to another
                    one, caller.dial_partner = caller.dial_partner, None
                if one.hungup or caller.hungup:
                    break
                wake = Signal()
                caller.in_dial = one.on_hangup = wake
                yield wake
            caller.in_dial = one.on_hangup = None
            # end_bridge_callback: the caller's own up time and age (ast_channel_get_up_time_ms/_duration_ms);
            # not called when the bridge ended by an async goto (a blind transfer moved the caller on)
            up = self.now - (caller.answered if caller.answered is not None else answered_at)
            total = self.now - caller.created
            dial_vars = [] if caller.async_goto else [
                ("ANSWEREDTIME", str(int(up))), ("ANSWEREDTIME_MS", str(int(up * 1000))),
                ("DIALEDTIME", str(int(total))), ("DIALEDTIME_MS", str(int(total * 1000)))]
            dial_vars.append(("DIALSTATUS", "ANSWER"))
            caller.async_goto = False
            if caller.hungup:  # the caller was asked to hang up while bridged: finish Dial, then hang up
                self.varset(caller, "BRIDGEPEER", "")
                self.varset(one, "BRIDGEPEER", "")
                self.bridge_leave(caller, cel=False)
                for k, v in dial_vars:
                    self.varset(caller, k, v)
                self.finish_hangup(caller)
                self.kick(one, caller.pending_cause or 16)
                return "ANSWER"
            self.varset(caller, "BRIDGEPEER", "")
            goto = caller.async_goto_to
            if goto is not None:  # the blind transfer's async goto shows now, with the old application
                caller.async_goto_to = None
                self.newexten(caller, caller.app, caller.appdata, priority=1, exten=goto[1], context=goto[0])
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


def _drive(sub: Generator[Any, None, str], state: dict[str, Any], pbx: PBX, wake: Signal) -> Scenario:
    result = yield from sub
    pbx._note(state, "done", wake, result)


def _split_callerid(cid: str) -> tuple[str, str]:
    """``"Name" <num>`` / ``Name <num>`` / ``num`` -> (num, name)."""
    if "<" in cid and cid.endswith(">"):
        name, _, num = cid[:-1].rpartition("<")
        return num.strip(), name.strip().strip('"')
    return (cid, "<unknown>") if cid else ("<unknown>", "<unknown>")

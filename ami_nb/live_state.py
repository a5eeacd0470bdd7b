"""The PBX's live state: channels, bridges, calls, queues, their members and waiting callers, kept from events.

As Asterisk-Java's live objects (``org.asteriskjava.live``): the state is filled by list actions
(``CoreShowChannels``, ``QueueStatus``) so a busy PBX shows what is already up, then kept up to date from the
event stream. :class:`LiveState` is pure: events in (``feed(events, received)``), state out (DataFrames,
counters); no sockets, no threads of its own. :func:`attach` is the small piece of glue that feeds it from a
session's client and sends the sync actions after every (re)connect; ``session.pbx`` calls it.

Why it exists beside the event store: a view that re-derives "what is up now" from every event held costs time
proportional to the store (seconds over 500,000 events); this state costs a dict update per relevant event and
reads in time proportional to what is up now.

Threads: ``feed`` runs on the session's loop thread; readers (a view's thread, the notebook) take the same lock
for a snapshot, so a frame is always consistent.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from .analysis.kpi import KPIConfig

__all__ = ["DEVICE_STATES", "EndedCall", "LiveState", "RateMeter", "attach"]

log = logging.getLogger("ami_nb")

#: Asterisk's device states (``ast_device_state``), the ``Status`` of queue members.
DEVICE_STATES = {0: "unknown", 1: "not in use", 2: "in use", 3: "busy", 4: "invalid", 5: "unavailable",
                 6: "ringing", 7: "ringing, in use", 8: "on hold"}
_AVAILABLE = frozenset({0, 1})  # app_queue rings UNKNOWN and NOT_INUSE members
_UNAVAILABLE = frozenset({4, 5})

_SYNC_PREFIX = "ami-nb-live-sync"
_sync_ids = itertools.count(1)


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _hms(text: str | None) -> float:
    """``00:01:02`` (CoreShowChannel's Duration) -> 62.0; anything else -> 0."""
    if not text:
        return 0.0
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return 0.0
    total = 0
    for p in parts:
        total = total * 60 + p
    return float(total)


class RateMeter:
    """Events per whole second, for the last ``seconds`` seconds: O(1) per batch, read in O(window)."""

    def __init__(self, seconds: int = 3600) -> None:
        self.seconds = seconds
        self._bins: deque[list[int]] = deque()  # [second, count], oldest first

    def add(self, n: int, received: float) -> None:
        sec = int(received)
        bins = self._bins
        if bins and bins[-1][0] == sec:
            bins[-1][1] += n
        elif not bins or sec > bins[-1][0]:
            bins.append([sec, n])
            while bins and bins[0][0] <= sec - self.seconds:
                bins.popleft()
        else:  # a late batch (clock stepped back): count it in the newest bin rather than reorder
            bins[-1][1] += n

    def series(self, seconds: int, now: float) -> np.ndarray:
        """Counts for each of the ``seconds`` whole seconds up to ``now`` (the current, partial one last)."""
        end = int(now)
        out = np.zeros(max(0, seconds), dtype=np.int64)
        for sec, n in reversed(self._bins):
            i = seconds - 1 - (end - sec)
            if i < 0:
                break
            if i < seconds:
                out[i] = n
        return out

    def per_second(self, now: float) -> float:
        """The rate now: the last complete second, or the current one's count if it already passed it.

        Not a 5 s mean: a flood that ended shows as ended within a second.
        """
        last = self.series(2, now)
        frac = now - int(now)
        return float(max(last[0], last[1] / max(frac, 1e-3)) if frac > 0.5 else last[0])

    def first_second(self) -> int | None:
        return self._bins[0][0] if self._bins else None


@dataclass
class _Call:
    linkedid: str
    start: float
    caller: str = ""
    caller_name: str = ""
    exten: str = ""
    answered: bool = False
    cause: str = ""
    cause_code: int | None = None
    channel: str = ""  # the first channel's name: who called when the caller ID says <unknown>
    first_uid: str = ""
    start_at: float = 0.0  # wall clock, for display (start is on the server's clock, for durations)
    uids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class EndedCall:
    """A call whose last channel hung up: kept a while so a 0.3 s call is still seen in a view."""

    linkedid: str
    caller: str
    exten: str
    start: float
    end: float
    ended_at: float  # when its last Hangup was received (wall clock), for "ended N s ago"
    answered: bool
    cause: str
    cause_code: int | None
    channel: str = ""

    @property
    def who(self) -> str:
        """The caller ID, or the first channel's name when there is none (``<unknown>``, an Originate)."""
        return self.caller if self.caller and self.caller != "<unknown>" else self.channel

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def outcome(self) -> str:
        """How it ended: ``answered``, or the hangup cause of an unanswered call (``busy``, ``no answer``...)."""
        if self.answered:
            return "answered"
        return {17: "busy", 19: "no answer", 18: "no answer", 21: "rejected", 34: "congestion",
                1: "unallocated", 16: "not answered"}.get(self.cause_code or -1, self.cause.lower() or "failed")


#: the day's counts per queue; a stay counts once decided, as analysis.intervals flags a stint
_COUNTS = ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "other", "within_sl")


def _stint(queue: str, joined: float | None) -> dict[str, Any]:
    """A caller's stay in a queue, until it is decided (``closed`` once it left the queue)."""
    return {"queue": queue, "joined": joined, "left": None, "hold": float("nan"), "abandon": False,
            "closed": False}


_CHANNEL_FIELDS = ("Channel", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
                   "ConnectedLineName", "Context", "Exten", "Linkedid", "AccountCode")
_MEMBER_FIELDS = ("StateInterface", "Membership", "Penalty", "CallsTaken", "LastCall", "LastPause", "LoginTime",
                  "InCall", "Status", "Paused", "PausedReason", "Wrapuptime", "Ringinuse")


class LiveState:
    """What is up on the PBX now, from events: ``feed(events, received)``; read with the frame properties.

    ``channels``, ``bridges``, ``calls`` (channels grouped by Linkedid), ``ended`` (recently ended calls, with
    duration and outcome), ``queues`` (per queue: callers waiting, longest wait, agents available / busy /
    paused, answered and abandoned today, service level today), ``members`` and ``callers`` (waiting in a
    queue). ``keep_ended`` calls are remembered for ``linger`` seconds after they end.

    The day's queue figures count as :mod:`ami_nb.analysis.intervals` does, by the rules of ``config`` (a
    :class:`~ami_nb.analysis.kpi.KPIConfig`): a caller's stay in a queue counts once it is decided (answered,
    or left), a timeout is not an abandon (``QUEUESTATUS`` tells them apart), short abandons and the service
    level follow the config. The service-level threshold is the config's per-queue one, else the queue's own
    ``ServiceLevel`` when set, else the config's default; ``service_level=`` sets that default.
    """

    def __init__(self, *, keep_ended: int = 200, linger: float = 600.0, service_level: float | None = None,
                 config: KPIConfig | None = None, tail: int = 500, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.linger = linger
        self.config = config or KPIConfig()
        if service_level is not None:
            self.service_level = service_level
        self._channels: dict[str, dict[str, Any]] = {}
        self._bridges: dict[str, set[str]] = {}
        self._calls: dict[str, _Call] = {}
        self._ended: deque[EndedCall] = deque(maxlen=keep_ended)
        self._queues: dict[str, dict[str, Any]] = {}
        self._members: dict[tuple[str, str], dict[str, Any]] = {}
        self._callers: dict[tuple[str, str], dict[str, Any]] = {}
        self._today: dict[str, dict[str, int]] = {}  # queue -> the day's counts (_COUNTS)
        self._stints: dict[str, dict[str, Any]] = {}  # caller Uniqueid -> its undecided stay in a queue
        self._queue_app: dict[str, str] = {}  # Uniqueid -> the queue its Queue() was started for, before a join
        self._statuses_seen = False  # a QUEUESTATUS seen: a bare QueueCallerLeave is then a key exit
        self._day: int | None = None
        self._seq = 0
        self._touched: dict[str, int] = {}  # key -> seq of the last event that confirmed it (for sync pruning)
        self._syncs: dict[str, tuple[str, int | None]] = {}  # our sync ActionID -> (kind, seq of its first item)
        self.synced: dict[str, str] = {}  # kind -> "pending" | "done" | "failed: why"
        #: events per second of the stream fed in (views draw their sparkline from it)
        self.meter = RateMeter()
        #: the latest events, newest last: (received, Event, Channel, Uniqueid, Queue)
        self.tail: deque[tuple[float, str, str, str, str]] = deque(maxlen=tail)
        self.fed = 0
        self.calls_ended = 0
        self._offset = 0.0  # server clock (Timestamp) minus arrival time, from the latest stamped event
        self._handlers: dict[str, Callable[[Mapping[str, Any], float, float], None]] = {
            "Newchannel": self._newchannel, "Newstate": self._update, "NewCallerid": self._update,
            "NewConnectedLine": self._update, "Newexten": self._newexten, "Rename": self._rename,
            "Hangup": self._hangup, "CoreShowChannel": self._coreshowchannel,
            "BridgeCreate": self._bridge_create, "BridgeEnter": self._bridge_enter,
            "BridgeLeave": self._bridge_leave, "BridgeDestroy": self._bridge_destroy,
            "QueueParams": self._queue_params, "QueueMember": self._member, "QueueMemberStatus": self._member,
            "QueueMemberAdded": self._member, "QueueMemberPause": self._member,
            "QueueMemberPenalty": self._member, "QueueMemberRinginuse": self._member,
            "QueueMemberRemoved": self._member_removed, "QueueEntry": self._entry,
            "QueueCallerJoin": self._caller_join, "QueueCallerLeave": self._caller_leave,
            "QueueCallerAbandon": self._caller_abandon, "AgentConnect": self._agent_connect, "VarSet": self._varset,
            "CoreShowChannelsComplete": self._list_complete, "QueueStatusComplete": self._list_complete,
        }

    @property
    def service_level(self) -> float:
        """The default service-level threshold in seconds (``config.service_level``)."""
        return self.config.service_level

    @service_level.setter
    def service_level(self, seconds: float) -> None:
        self.config = dataclasses.replace(self.config, service_level=float(seconds))

    # -- feeding -----------------------------------------------------------------------------------------------
    def feed(self, events: Iterable[Mapping[str, Any]], received: float | None = None) -> None:
        """Apply events (in stream order) received at ``received`` (epoch seconds; default now).

        Durations use an event's ``Timestamp`` when the server sends one (``timestampevents``), else ``received``.
        Events this state does not follow cost one dict lookup.
        """
        now = self._clock() if received is None else float(received)
        handlers = self._handlers
        tail = self.tail.append
        n = 0
        with self._lock:
            for ev in events:
                n += 1
                name = dict.get(ev, "Event") if isinstance(ev, dict) else ev.get("Event")
                if name is None:
                    name = ev.get("Event")
                    if name is None:
                        continue
                get = ev.get
                tail((now, name, get("Channel") or "", get("Uniqueid") or "", get("Queue") or ""))
                h = handlers.get(name)
                if h is not None:
                    self._seq += 1
                    ts = get("Timestamp")
                    if ts is not None:
                        t = _num(ts, now)
                        self._offset = t - now
                    else:  # list items carry no Timestamp: place them on the server's clock all the same
                        t = now + self._offset
                    h(ev, now, t)
            self.fed += n
            if n:
                self.meter.add(n, now)

    # -- sync (pure: which actions to send; the glue sends them) -------------------------------------------------
    def sync_requests(self) -> list[tuple[str, dict[str, str]]]:
        """The list actions that fill the state, with the ActionIDs whose completion prunes what they no longer
        list (a channel that hung up while the connection was down, a member removed)."""
        out = []
        with self._lock:
            for kind, action in (("channels", "CoreShowChannels"), ("queues", "QueueStatus")):
                aid = f"{_SYNC_PREFIX}-{kind}-{next(_sync_ids)}"
                self._syncs[aid] = (kind, None)
                self.synced[kind] = "pending"
                out.append((action, {"ActionID": aid}))
        return out

    def sync_failed(self, action_id: str, reason: str) -> None:
        with self._lock:
            kind, _ = self._syncs.pop(action_id, ("?", None))
            self.synced[kind] = f"failed: {reason}"

    def _sync_item(self, ev: Mapping[str, Any], key: str) -> None:
        self._touched[key] = self._seq
        aid = ev.get("ActionID")
        if aid is not None:
            entry = self._syncs.get(aid)
            if entry is not None and entry[1] is None:
                self._syncs[aid] = (entry[0], self._seq)

    def _list_complete(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        entry = self._syncs.pop(ev.get("ActionID") or "", None)
        if entry is None:
            return  # somebody else's list (maybe filtered): nothing to prune
        kind, start = entry
        start = self._seq if start is None else start
        stale = [k for k, s in self._touched.items() if s < start and k.startswith(kind[0] + ":")]
        for key in stale:
            del self._touched[key]
            _, _, rest = key.partition(":")
            if kind == "channels":
                ch = self._channels.get(rest)
                if ch is not None:
                    self._drop_channel(rest, ch, now, t, quiet=True)
            else:
                kind2, _, ident = rest.partition(":")
                if kind2 == "queue":
                    self._queues.pop(ident, None)
                elif kind2 == "member":
                    q, _, iface = ident.partition("|")
                    self._members.pop((q, iface), None)
                elif kind2 == "caller":
                    q, _, uid = ident.partition("|")
                    self._callers.pop((q, uid), None)
        self.synced[kind] = "done"

    # -- channels and calls ------------------------------------------------------------------------------------
    def server_now(self, now: float | None = None) -> float:
        """The server's clock now (its ``Timestamp`` clock when it sends one), for waits and durations."""
        return (self._clock() if now is None else now) + self._offset

    def _call_of(self, uid: str, linkedid: str, t: float, ev: Mapping[str, Any], now: float | None = None) -> None:
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid, t, ev.get("CallerIDNum") or "",
                                                 ev.get("CallerIDName") or "", ev.get("Exten") or "",
                                                 channel=ev.get("Channel") or "", first_uid=uid,
                                                 start_at=t - self._offset if now is None else now)
        call.uids.add(uid)

    def _newchannel(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        if not uid or uid in self._channels:
            return
        ch = {k: ev.get(k) or "" for k in _CHANNEL_FIELDS}
        ch["Linkedid"] = ch["Linkedid"] or uid
        ch["Application"] = ""
        ch["BridgeId"] = ""
        ch["since"] = t
        ch["created"] = now
        self._channels[uid] = ch
        self._touched["c:" + uid] = self._seq
        self._call_of(uid, ch["Linkedid"], t, ev)

    def _coreshowchannel(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        if not uid:
            return
        ch = self._channels.get(uid)
        since = t - _hms(ev.get("Duration"))
        if ch is None:
            ch = self._channels[uid] = {"since": since, "created": now - _hms(ev.get("Duration"))}
        for k in _CHANNEL_FIELDS:
            v = ev.get(k)
            if v is not None:
                ch[k] = v
        ch["Linkedid"] = ch.get("Linkedid") or uid
        ch["Application"] = ev.get("Application") or ""
        self._relink(uid, ch, t, ev)
        call = self._calls[ch["Linkedid"]]
        call.start = min(call.start, since)
        call.start_at = min(call.start_at, since - self._offset)
        if ch.get("ChannelStateDesc") == "Up":
            call.answered = True
        bridge = ev.get("BridgeId") or ""
        self._set_bridge(uid, ch, bridge)
        self._sync_item(ev, "c:" + uid)

    def _relink(self, uid: str, ch: dict[str, Any], t: float, ev: Mapping[str, Any]) -> None:
        """Follow a channel whose Linkedid changed (bridging gives it the oldest Linkedid of the bridge)."""
        new = ch["Linkedid"]
        for lid, call in list(self._calls.items()):
            if uid in call.uids and lid != new:
                call.uids.discard(uid)
                if not call.uids:
                    del self._calls[lid]
        self._call_of(uid, new, t, ev)

    def _update(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        ch = self._channels.get(uid) if uid else None
        if ch is None:
            return
        for k in _CHANNEL_FIELDS:
            v = ev.get(k)
            if v:
                ch[k] = v
        self._touched["c:" + uid] = self._seq  # type: ignore[operator]
        lid = ch["Linkedid"]
        call = self._calls.get(lid)
        if call is None or uid not in call.uids:
            self._relink(uid, ch, t, ev)  # type: ignore[arg-type]
            call = self._calls[lid]
        if ch.get("ChannelStateDesc") == "Up":
            call.answered = True
        if uid == call.first_uid and call.caller in ("", "<unknown>") and ch.get("CallerIDNum"):
            call.caller = ch["CallerIDNum"]  # the caller ID arrived after Newchannel (NewCallerid)

    def _newexten(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        if uid and (uid in self._stints or uid in self._queue_app):
            self._dialplan_moved(uid, ev, t)
        ch = self._channels.get(uid) if uid else None
        if ch is not None:
            app = ev.get("Application")
            if app:
                ch["Application"] = app
            for k in ("Context", "Exten"):
                v = ev.get(k)
                if v:
                    ch[k] = v

    def _rename(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        ch = self._channels.get(uid) if uid else None
        new = ev.get("Newname")
        if ch is not None and new:
            ch["Channel"] = new

    def _hangup(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        if uid and (uid in self._stints or uid in self._queue_app):
            self._caller_gone(uid, t)
        ch = self._channels.get(uid) if uid else None
        if ch is None:
            return
        call = self._calls.get(ch["Linkedid"])
        if call is not None and not call.cause:
            call.cause = ev.get("Cause-txt") or ""
            code = _num(ev.get("Cause"), -1)
            call.cause_code = int(code) if code >= 0 else None
        self._drop_channel(uid, ch, now, t)  # type: ignore[arg-type]

    def _drop_channel(self, uid: str, ch: dict[str, Any], now: float, t: float, *, quiet: bool = False) -> None:
        del self._channels[uid]
        self._touched.pop("c:" + uid, None)
        self._set_bridge(uid, ch, "")
        lid = ch["Linkedid"]
        call = self._calls.get(lid)
        if call is None:
            return
        call.uids.discard(uid)
        if call.uids:
            return
        del self._calls[lid]
        if quiet:  # gone while we were not listening: its end time is unknown
            return
        self.calls_ended += 1
        self._ended.append(EndedCall(lid, call.caller, call.exten, call.start, t, now, call.answered, call.cause,
                                     call.cause_code, call.channel))

    # -- bridges -----------------------------------------------------------------------------------------------
    def _set_bridge(self, uid: str, ch: dict[str, Any], bridge: str) -> None:
        old = ch.get("BridgeId") or ""
        if old and old != bridge:
            members = self._bridges.get(old)
            if members is not None:
                members.discard(uid)
        ch["BridgeId"] = bridge
        if bridge:
            self._bridges.setdefault(bridge, set()).add(uid)

    def _bridge_create(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        bid = ev.get("BridgeUniqueid")
        if bid:
            self._bridges.setdefault(bid, set())

    def _bridge_enter(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid, bid = ev.get("Uniqueid"), ev.get("BridgeUniqueid")
        ch = self._channels.get(uid) if uid else None
        if ch is not None and bid:
            self._set_bridge(uid, ch, bid)  # type: ignore[arg-type]
            if len(self._bridges[bid]) > 1:  # bridged with someone: answered, for an analyst
                call = self._calls.get(ch["Linkedid"])
                if call is not None:
                    call.answered = True

    def _bridge_leave(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        uid = ev.get("Uniqueid")
        ch = self._channels.get(uid) if uid else None
        if ch is not None:
            self._set_bridge(uid, ch, "")  # type: ignore[arg-type]

    def _bridge_destroy(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        bid = ev.get("BridgeUniqueid")
        if bid:
            for uid in self._bridges.pop(bid, set()):
                ch = self._channels.get(uid)
                if ch is not None and ch.get("BridgeId") == bid:
                    ch["BridgeId"] = ""

    # -- queues ------------------------------------------------------------------------------------------------
    def _queue(self, name: str) -> dict[str, Any]:
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = {"Strategy": "", "ServiceLevel": 0.0, "Completed": 0, "Abandoned": 0,
                                      "ServicelevelPerf": float("nan")}
        return q

    def _queue_params(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        name = ev.get("Queue")
        if not name:
            return
        q = self._queue(name)
        q["Strategy"] = ev.get("Strategy") or ""
        q["ServiceLevel"] = _num(ev.get("ServiceLevel"))
        q["Completed"] = int(_num(ev.get("Completed")))
        q["Abandoned"] = int(_num(ev.get("Abandoned")))
        q["ServicelevelPerf"] = _num(ev.get("ServicelevelPerf"), float("nan"))
        self._sync_item(ev, "q:queue:" + name)

    def _member(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        queue = ev.get("Queue")
        iface = ev.get("Interface") or ev.get("Location")
        if not queue or not iface:
            return
        self._queue(queue)
        m = self._members.get((queue, iface))
        if m is None:
            m = self._members[(queue, iface)] = {"Queue": queue, "Interface": iface}
        name = ev.get("MemberName") or ev.get("Name")
        if name:
            m["MemberName"] = name
        for k in _MEMBER_FIELDS:
            v = ev.get(k)
            if v is not None:
                m[k] = v
        if ev.get("Event") == "QueueMember":
            self._sync_item(ev, f"q:member:{queue}|{iface}")
        else:
            self._touched[f"q:member:{queue}|{iface}"] = self._seq

    def _member_removed(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        queue, iface = ev.get("Queue"), ev.get("Interface") or ev.get("Location")
        if queue and iface:
            self._members.pop((queue, iface), None)
            self._touched.pop(f"q:member:{queue}|{iface}", None)

    def _entry(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        queue, uid = ev.get("Queue"), ev.get("Uniqueid")
        if not queue or not uid:
            return
        self._queue(queue)
        self._callers[(queue, uid)] = {
            "Queue": queue, "Uniqueid": uid, "Channel": ev.get("Channel") or "",
            "CallerIDNum": ev.get("CallerIDNum") or "", "CallerIDName": ev.get("CallerIDName") or "",
            "Position": int(_num(ev.get("Position"))), "joined": t - _num(ev.get("Wait")),
            "joined_at": now - _num(ev.get("Wait")),
        }
        stint = self._stints.get(uid)
        if stint is None or stint["queue"] != queue:
            self._stints[uid] = _stint(queue, t - _num(ev.get("Wait")))
        self._sync_item(ev, f"q:caller:{queue}|{uid}")

    def _caller_join(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        queue, uid = ev.get("Queue"), ev.get("Uniqueid")
        if not queue or not uid:
            return
        self._queue(queue)
        self._callers[(queue, uid)] = {
            "Queue": queue, "Uniqueid": uid, "Channel": ev.get("Channel") or "",
            "CallerIDNum": ev.get("CallerIDNum") or "", "CallerIDName": ev.get("CallerIDName") or "",
            "Position": int(_num(ev.get("Position"))), "joined": t, "joined_at": now,
        }
        if uid in self._stints:  # its last stay was left without a word since: decided as it stands
            self._decide(uid, None, t)
        self._queue_app.pop(uid, None)
        self._stints[uid] = _stint(queue, t)
        self._touched[f"q:caller:{queue}|{uid}"] = self._seq

    def _caller_leave(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        queue, uid = ev.get("Queue"), ev.get("Uniqueid")
        if queue and uid:
            self._callers.pop((queue, uid), None)
            self._touched.pop(f"q:caller:{queue}|{uid}", None)
            for c in self._callers.values():  # the callers behind move up, as app_queue renumbers them
                if c["Queue"] == queue and c["Position"] > int(_num(ev.get("Position"))):
                    c["Position"] -= 1
            stint = self._stint_of(queue, uid)
            stint["closed"] = True
            if stint["left"] is None:
                stint["left"] = t

    def _today_of(self, queue: str, t: float) -> dict[str, int]:
        day = datetime.fromtimestamp(t).toordinal()  # the local day: "today" for the people at the wallboard
        if day != self._day:
            self._day = day
            self._today = {}
        return self._today.setdefault(queue, dict.fromkeys(_COUNTS, 0))

    def _sl_target(self, queue: str) -> float:
        if queue in self.config.service_level_by_queue:
            return self.config.threshold(queue)
        own = self._queues.get(queue, {}).get("ServiceLevel") or 0.0
        return float(own) if own > 0 else self.config.threshold(queue)

    def _stint_of(self, queue: str, uid: str) -> dict[str, Any]:
        """The caller's current stay in ``queue``; a new one, its join unseen, if it has none there."""
        stint = self._stints.get(uid)
        if stint is None or stint["queue"] != queue:
            if stint is not None:
                self._decide(uid, None, None)
            stint = self._stints[uid] = _stint(queue, None)
        return stint

    def _caller_abandon(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        """Not yet an abandon: Asterisk sends this for a timeout too; QUEUESTATUS, or its absence, decides."""
        queue, uid = ev.get("Queue"), ev.get("Uniqueid")
        if queue and uid:
            stint = self._stint_of(queue, uid)
            stint["abandon"] = True
            stint["hold"] = _num(ev.get("HoldTime"), float("nan"))
            if stint["left"] is None:
                stint["left"] = t

    def _agent_connect(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        queue, uid = ev.get("Queue"), ev.get("Uniqueid")
        if not queue:
            return
        if not uid:  # nothing to follow it by: count it as it stands
            self._count(queue, "answered", _num(ev.get("HoldTime")), t)
            return
        stint = self._stint_of(queue, uid)
        stint["left"] = t
        stint["hold"] = _num(ev.get("HoldTime"), float("nan"))
        self._decide(uid, "answered", t)

    def _varset(self, ev: Mapping[str, Any], now: float, t: float) -> None:
        if ev.get("Variable") != "QUEUESTATUS":
            return
        uid = ev.get("Uniqueid")
        if not uid:
            return
        self._statuses_seen = True
        status = str(ev.get("Value") or "").lower()
        stint = self._stints.get(uid)
        if stint is not None and stint["closed"]:
            self._decide(uid, None if status == "continue" else status, t)
        elif stint is None and status in ("joinempty", "joinunavail", "full"):
            queue = self._queue_app.pop(uid, None)
            if queue:  # refused at the door: offered, never joined, no wait
                self._queue(queue)
                self._count(queue, status, 0.0, t)

    def _dialplan_moved(self, uid: str, ev: Mapping[str, Any], t: float) -> None:
        """The caller's dialplan went on: Queue() has returned, its QUEUESTATUS (if any) was set before."""
        stint = self._stints.get(uid)
        if stint is not None and stint["closed"]:
            self._decide(uid, None, t)
        self._queue_app.pop(uid, None)
        if ev.get("Application") == "Queue":
            self._queue_app[uid] = str(ev.get("AppData") or "").split(",")[0]

    def _caller_gone(self, uid: str, t: float) -> None:
        self._queue_app.pop(uid, None)
        stint = self._stints.get(uid)
        if stint is None:
            return
        if not stint["closed"]:  # hung up in the queue without a QueueCallerLeave seen: gave up too
            stint["abandon"] = True
            stint["left"] = t
            key = (stint["queue"], uid)
            if self._callers.pop(key, None) is not None:
                self._touched.pop(f"q:caller:{key[0]}|{uid}", None)
        self._decide(uid, None, t)

    def _decide(self, uid: str, outcome: str | None, t: float | None) -> None:
        """End the caller's stay with ``outcome`` (None: what the stay showed, as analysis.queues reads it)."""
        stint = self._stints.pop(uid)
        if outcome is None:
            outcome = "abandon" if stint["abandon"] else ("exitwithkey" if self._statuses_seen else "timeout")
        left = stint["left"] if stint["left"] is not None else t
        if left is None:
            left = self.server_now()
        joined = stint["joined"]
        wait = max(0.0, left - joined) if joined is not None else stint["hold"]  # join unseen: Asterisk's HoldTime
        self._count(stint["queue"], outcome, wait, left)

    def _count(self, queue: str, outcome: str, wait: float, t: float) -> None:
        """Count one decided stay by the KPI rules of ``config`` (as ``analysis.intervals`` flags a stint)."""
        cfg = self.config
        today = self._today_of(queue, t)
        answered = outcome == "answered"
        timed_out = outcome == "timeout"
        abandon = outcome == "abandon" or (timed_out and cfg.timeouts_as_abandoned)
        short = abandon and wait < cfg.short_abandon  # (a NaN wait is not short, as in pandas)
        today["short_abandoned"] += short
        if short and cfg.exclude_short_abandons:
            return
        today["offered"] += 1
        today["answered"] += answered
        today["abandoned"] += abandon
        today["timed_out"] += timed_out
        today["other"] += not (answered or abandon or timed_out)
        today["within_sl"] += answered and wait <= self._sl_target(queue)

    # -- reading -----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._channels)

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    @property
    def call_count(self) -> int:
        return len(self._calls)

    def rate_series(self, seconds: int, now: float | None = None) -> np.ndarray:
        """Events per second fed in, for each of the last ``seconds`` seconds (the current one last)."""
        with self._lock:
            return self.meter.series(seconds, self._clock() if now is None else now)

    def events_per_second(self, now: float | None = None) -> float:
        """The stream's rate now (the last complete second): drops within a second when a flood ends."""
        with self._lock:
            return self.meter.per_second(self._clock() if now is None else now)

    def seconds_seen(self, now: float | None = None) -> float:
        """Seconds since the first event fed in (0 before any): a new view's sparkline spans this, not 5 min."""
        with self._lock:
            first = self.meter.first_second()
        return 0.0 if first is None else max(0.0, (self._clock() if now is None else now) - first)

    def tail_rows(self, limit: int, match: Callable[[tuple[float, str, str, str, str]], bool] | None = None
                  ) -> list[tuple[float, str, str, str, str]]:
        """The newest ``limit`` events of :attr:`tail` (``match``: only those it accepts), oldest first."""
        with self._lock:
            rows = list(self.tail)
        if match is not None:
            rows = [r for r in rows if match(r)]
        return rows[-limit:] if limit > 0 else []

    def channel_rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The active channels, oldest first (at most ``limit``, the newest ones), as plain dicts."""
        with self._lock:
            items = sorted(self._channels.items(), key=lambda kv: kv[1].get("since", 0.0))
            if limit is not None:
                items = items[-limit:] if limit > 0 else []
            return [{"Uniqueid": uid, **ch} for uid, ch in items]

    @property
    def channels(self) -> pd.DataFrame:
        """One row per channel up now: name, state, caller, where it is in the dialplan, bridge, since."""
        cols = ["Uniqueid", *_CHANNEL_FIELDS, "Application", "BridgeId", "since"]
        df = pd.DataFrame(self.channel_rows(), columns=cols)
        df["since"] = pd.to_datetime(df["since"].astype("float64"), unit="s", utc=True)
        return df

    @property
    def bridges(self) -> pd.DataFrame:
        """One row per bridge: its id, how many channels, and which."""
        with self._lock:
            rows = [{"BridgeUniqueid": bid, "channels": len(uids),
                     "Channel": tuple(sorted(self._channels[u].get("Channel", u) for u in uids
                                             if u in self._channels))}
                    for bid, uids in self._bridges.items()]
        return pd.DataFrame(rows, columns=["BridgeUniqueid", "channels", "Channel"])

    def call_rows(self, now: float | None = None) -> list[dict[str, Any]]:
        snow = self.server_now(now)
        with self._lock:
            rows: list[dict[str, Any]] = []
            for lid, call in self._calls.items():
                states = {self._channels[u].get("ChannelStateDesc", "") for u in call.uids if u in self._channels}
                who = call.caller if call.caller and call.caller != "<unknown>" else call.channel
                rows.append({"Linkedid": lid, "caller": call.caller, "who": who, "Channel": call.channel,
                         "exten": call.exten,
                             "channels": len(call.uids), "answered": call.answered,
                             "state": "Up" if "Up" in states else ("Ringing" if states & {"Ringing", "Ring"}
                                                                   else ", ".join(sorted(states))),
                             "start": call.start, "start_at": call.start_at,
                             "elapsed": max(0.0, snow - call.start)})
        rows.sort(key=lambda r: float(r["start"]))
        return rows

    @property
    def calls(self) -> pd.DataFrame:
        """Calls in progress (channels sharing a Linkedid): caller, extension dialled, channels, answered, start."""
        df = pd.DataFrame(self.call_rows(),
                          columns=["Linkedid", "caller", "who", "exten", "channels", "answered", "state", "start"])
        df["start"] = pd.to_datetime(df["start"].astype("float64"), unit="s", utc=True)
        return df

    def ended_calls(self, within: float | None = None, now: float | None = None) -> list[EndedCall]:
        """Calls that ended in the last ``within`` seconds (default: ``linger``), newest first."""
        now = self._clock() if now is None else now
        horizon = now - (self.linger if within is None else within)
        with self._lock:
            return [c for c in reversed(self._ended) if c.ended_at >= horizon]

    @property
    def ended(self) -> pd.DataFrame:
        """Recently ended calls, newest first: caller, extension, start, end, duration (s), outcome, cause."""
        rows = [{"Linkedid": c.linkedid, "caller": c.caller, "who": c.who, "exten": c.exten, "start": c.start,
                 "end": c.end, "duration": round(c.duration, 3), "outcome": c.outcome, "cause": c.cause}
                for c in self.ended_calls()]
        df = pd.DataFrame(rows, columns=["Linkedid", "caller", "who", "exten", "start", "end", "duration",
                                         "outcome", "cause"])
        for col in ("start", "end"):
            df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
        return df

    @staticmethod
    def member_category(m: Mapping[str, Any]) -> str:
        """``paused``, ``available``, ``busy`` (on a call or ringing) or ``unavailable`` (logged out, invalid)."""
        if str(m.get("Paused", "0")) in ("1", "true", "True"):
            return "paused"
        status = int(_num(m.get("Status"), 0))
        if str(m.get("InCall", "0")) == "1":
            return "busy"
        if status in _AVAILABLE:
            return "available"
        if status in _UNAVAILABLE:
            return "unavailable"
        return "busy"

    @property
    def members(self) -> pd.DataFrame:
        """One row per queue member: queue, interface, name, status (words), paused and reason, calls taken."""
        with self._lock:
            rows = [{"Queue": q, "Interface": iface, "MemberName": m.get("MemberName", ""),
                     "state": self.member_category(m),
                     "Status": DEVICE_STATES.get(int(_num(m.get("Status"), 0)), m.get("Status", "")),
                     "Paused": str(m.get("Paused", "0")) in ("1", "true", "True"),
                     "PausedReason": m.get("PausedReason", ""), "CallsTaken": int(_num(m.get("CallsTaken"))),
                     "Penalty": int(_num(m.get("Penalty")))}
                    for (q, iface), m in sorted(self._members.items())]
        return pd.DataFrame(rows, columns=["Queue", "Interface", "MemberName", "state", "Status", "Paused",
                                           "PausedReason", "CallsTaken", "Penalty"])

    @property
    def callers(self) -> pd.DataFrame:
        """Callers waiting in a queue: queue, position, channel, caller, waiting since, wait (s)."""
        snow = self.server_now()
        with self._lock:
            rows = [{"Queue": c["Queue"], "Position": c["Position"], "Channel": c["Channel"],
                     "CallerIDNum": c["CallerIDNum"], "CallerIDName": c["CallerIDName"], "Uniqueid": c["Uniqueid"],
                     "wait": round(max(0.0, snow - c["joined"]), 1)}
                    for c in self._callers.values()]
        df = pd.DataFrame(rows, columns=["Queue", "Position", "Channel", "CallerIDNum", "CallerIDName", "Uniqueid",
                                         "wait"])
        return df.sort_values(["Queue", "Position"], kind="stable").reset_index(drop=True)

    def queue_rows(self, now: float | None = None) -> list[dict[str, Any]]:
        snow = self.server_now(now)
        with self._lock:
            rows = []
            for name in sorted(self._queues):
                q = self._queues[name]
                cats = [self.member_category(m) for (qn, _), m in self._members.items() if qn == name]
                waits = [snow - c["joined"] for (qn, _), c in self._callers.items() if qn == name]
                today = self._today.get(name) or dict.fromkeys(_COUNTS, 0)
                offered = today["offered"]
                rows.append({
                    "Queue": name, "waiting": len(waits), "longest_wait": round(max(waits), 1) if waits else 0.0,
                    "available": cats.count("available"), "busy": cats.count("busy"),
                    "paused": cats.count("paused"), "unavailable": cats.count("unavailable"),
                    "offered_today": offered, "answered_today": today["answered"],
                    "abandoned_today": today["abandoned"], "short_abandoned_today": today["short_abandoned"],
                    "timed_out_today": today["timed_out"], "other_today": today["other"],
                    "service_level": round(100.0 * today["within_sl"] / offered, 1) if offered else float("nan"),
                    "sl_target": self._sl_target(name), "asterisk_sl": q["ServicelevelPerf"],
                    "strategy": q["Strategy"],
                })
        return rows

    @property
    def queues(self) -> pd.DataFrame:
        """Per queue: callers waiting, longest wait (s), agents available / busy / paused / unavailable; today's
        callers (seen by this session, once decided) offered, answered, abandoned (and short abandons), timed
        out and other exits, and the service level (% of offered answered within ``sl_target`` s), all as
        :class:`~ami_nb.analysis.kpi.KPIConfig` ``config`` defines them; Asterisk's own ``ServicelevelPerf``
        (since its last reset)."""
        return pd.DataFrame(self.queue_rows(), columns=[
            "Queue", "waiting", "longest_wait", "available", "busy", "paused", "unavailable", "offered_today",
            "answered_today", "abandoned_today", "short_abandoned_today", "timed_out_today", "other_today",
            "service_level", "sl_target", "asterisk_sl", "strategy"])

    def __repr__(self) -> str:
        return (f"<LiveState {len(self._channels)} channels, {len(self._calls)} calls, {len(self._queues)} queues, "
                f"{len(self._callers)} callers waiting>")

    def _repr_html_(self) -> str:
        parts = [f"<b>{html.escape(repr(self))}</b>"]
        for title, df in (("Calls", self.calls), ("Queues", self.queues)):
            if len(df):
                parts.append(f"<div><b>{title}</b></div>" + df.to_html(index=False, max_rows=20))
        return "".join(parts)


def attach(session: Any) -> LiveState:
    """The :class:`LiveState` of ``session`` (a Session or AsyncSession), created and synced on first use.

    Feeds it every event batch (on the client's loop) and sends ``CoreShowChannels`` and ``QueueStatus`` now
    and after every reconnect. Lazily, so a session that never looks at its live state pays nothing for it.
    """
    state = getattr(session, "_live_state", None)
    if state is not None:
        return state
    with _attach_lock:
        state = getattr(session, "_live_state", None)
        if state is not None:
            return state
        state = LiveState()
        client = session.client
        client.add_batch_sink(state.feed)

        def sync() -> None:
            import asyncio

            for action, fields in state.sync_requests():
                aid = fields["ActionID"]
                task = asyncio.ensure_future(client.action(action, fields))

                def done(t: asyncio.Task, aid: str = aid, action: str = action) -> None:
                    if t.cancelled():
                        state.sync_failed(aid, "cancelled")
                    elif t.exception() is not None:
                        log.info("live state: %s failed (%s); that part stays event-driven", action, t.exception())
                        state.sync_failed(aid, str(t.exception()))

                task.add_done_callback(done)

        def on_state(new: str) -> None:
            if new == "connected":
                sync()

        client.on_state_change(on_state)
        loop = getattr(client, "loop", None)
        if client.state == "connected" and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(sync)
        session._live_state = state
        return state


_attach_lock = threading.Lock()

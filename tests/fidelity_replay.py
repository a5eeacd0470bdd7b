"""Replay a recording's client bytes (and its driver connection's) to the simulator at the recorded timing.

``replay(pbx, name)`` opens the recorded connection and, when the recording has one, the driver connection at the
same moment, and sends every ``out`` chunk of their timelines at its recorded ``t`` divided by the simulator's
time scale (so the simulated clock sees the recorded timing). Channel names in the requests are the real
server's (``Hangup`` of ``Local/300@demo-00000027;2``): each is mapped to the simulator's channel of the same
role, found by the caller it belongs to (the channel name without its sequence number, the ``;1``/``;2`` half,
and the CallerIDNum it had in the recorded events up to then), or else by creation order.

``compare(recorded, simulated)`` lists what differs in what an analyst relies on (see its docstring).
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ami_nb.protocol import Message, Parser

FIX = Path(__file__).parent / "fixtures" / "transcripts"
CHAN_RE = re.compile(rb"(?:Local|PJSIP|SIP)/[^\s,;]+-[0-9a-f]{8}(?:;[12])?")
#: values that carry meaning, compared exactly
MEANING = ("Queue", "Position", "Count", "OriginalPosition", "Status", "Paused", "PausedReason", "MemberName",
           "Interface", "Reason", "Cause", "DialStatus", "Result", "DestType", "IsExternal", "Context", "Extension",
           "Membership", "Penalty", "Response", "Message")
#: durations in whole seconds measured with time(NULL) on the real server: +-1 s
SECONDS = ("HoldTime", "TalkTime")
CALL_EVENTS = ("QueueCallerJoin", "AgentCalled", "AgentRingNoAnswer", "QueueCallerLeave", "AgentConnect",
               "AgentComplete", "QueueCallerAbandon", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded",
               "QueueMemberRemoved", "BlindTransfer", "AttendedTransfer", "Hold", "Unhold", "OriginateResponse",
               "BridgeMerge", "DialEnd")
#: events whose order against the others of the call is a race on the real server: compared as a multiset per caller
UNORDERED = ("Hangup",)


def timeline(name: str, driver: bool = False) -> list[tuple[float, str, bytes]]:
    path = (FIX / "driver" / "timeline" / f"{name}.driver.timeline.jsonl" if driver
            else FIX / "timeline" / f"{name}.timeline.jsonl")
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("dir") in ("in", "out"):
            out.append((float(rec["t"]), rec["dir"], rec["data"].encode("latin-1")))
    return out


def has_driver(name: str) -> bool:
    return (FIX / "driver" / "timeline" / f"{name}.driver.timeline.jsonl").is_file()


def main_offset(name: str) -> float:
    """Where the recorded connection's clock starts on the driver's. In 41-43 both connected together (one
    clock). In 46 and 47 the recorded connection came while the driver's calls were up: it starts so that its
    last request goes 0.3 s before the driver's first Hangup (the driver's teardown)."""
    if not has_driver(name) or name[:2] in ("41", "42", "43"):
        return 0.0
    drv = [(t, data) for t, d, data in timeline(name, True) if d == "out"]
    teardown = next(t for t, data in drv if data.startswith(b"Action: Hangup"))
    last = max(t for t, d, _ in timeline(name) if d == "out")
    return teardown - last - 0.3


def recorded(name: str, driver: bool = False) -> list[tuple[float, Message]]:
    """The recorded messages the server sent on that connection, with the ``t`` each arrived."""
    parser = Parser()
    out: list[tuple[float, Message]] = []
    for t, d, data in timeline(name, driver):
        if d == "in":
            out.extend((t, m) for m in parser.feed(data))
    return out


def _base(chan: str) -> tuple[str, str]:
    m = re.match(r"(.*)-[0-9a-f]{8}(;[12])?$", chan)
    return (m.group(1), m.group(2) or "") if m else (chan, "")


class _Roles:
    """Channel -> (base, half, caller) from the events seen so far, in creation order."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.caller: dict[str, str] = {}

    def see(self, m: Message) -> None:
        ch = m.get("Channel")
        if not ch or not m.is_event or m.get("ActionID"):
            return
        if ch not in self.caller:
            self.order.append(ch)
        num = m.get("CallerIDNum", "")
        if (num and num != "<unknown>") or ch not in self.caller:
            self.caller[ch] = num

    def role(self, ch: str) -> tuple[str, str, str]:
        base, half = _base(ch)
        return base, half, self.caller.get(ch, "")

    def ordinal(self, ch: str) -> int:
        key = _base(ch)
        same = [c for c in self.order if _base(c) == key]
        return same.index(ch) if ch in same else -1


@dataclass
class Replay:
    main: list[Message] = field(default_factory=list)
    driver: list[Message] = field(default_factory=list)
    mapped: dict[str, str] = field(default_factory=dict)


def _connect(host: str, port: int) -> socket.socket:
    s = socket.create_connection((host, port), timeout=5)
    s.setblocking(False)
    return s


def replay(host: str, port: int, name: str, time_scale: float, *, tail: float = 2.0,
           max_wait: float = 30.0) -> Replay:
    """Send the recording's client bytes (and the driver's) at the recorded times / ``time_scale``; read
    until both connections are closed by the server (Logoff) or ``max_wait`` real seconds pass."""
    shift = main_offset(name)
    plan = [(t + shift, "main", data) for t, d, data in timeline(name) if d == "out"]
    rec_msgs = [(t + shift, m) for t, m in recorded(name)]
    if has_driver(name):
        plan += [(t, "driver", data) for t, d, data in timeline(name, True) if d == "out"]
        rec_msgs += recorded(name, True)
    # a Logoff waits 50 ms (real) more: what the other connection sent just before it is answered first
    plan = [(t + 0.05 * time_scale if data.startswith(b"Action: Logoff") else t, who, data) for t, who, data in plan]
    if has_driver(name) and not shift:
        # one clock (41-43), the two Logins within a millisecond: the recorded connection's was accepted first
        # (it got the driver's SuccessfulAuth, the driver not its own), so the driver logs in once it is in
        login = next(t for t, who, data in plan if who == "main" and data.startswith(b"Action: Login"))
        plan = [(max(t, login), who, data) if who == "driver" and data.startswith(b"Action: Login") else
                (t, who, data) for t, who, data in plan]
    plan.sort(key=lambda x: (x[0], x[1] == "driver"))
    rec_msgs.sort(key=lambda x: x[0])
    socks = {"main": _connect(host, port)}
    if has_driver(name):
        socks["driver"] = _connect(host, port)
    parsers = {k: Parser() for k in socks}
    got: dict[str, list[Message]] = {k: [] for k in socks}
    open_ = set(socks)
    sim_roles, rec_roles = _Roles(), _Roles()
    out = Replay()
    t0 = time.monotonic()
    seen_rec = 0

    def pump(until: float) -> None:
        while open_:
            wait = until - time.monotonic()
            if wait <= 0:
                return
            ready, _, _ = select.select([socks[k] for k in open_], [], [], min(wait, 0.05))
            for k in list(open_):
                if socks[k] in ready:
                    try:
                        data = socks[k].recv(1 << 20)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        open_.discard(k)
                        continue
                    for m in parsers[k].feed(data):
                        got[k].append(m)
                        sim_roles.see(m)

    def rewrite(data: bytes) -> bytes:
        def sub(mt: re.Match[bytes]) -> bytes:
            real = mt.group(0).decode("latin-1")
            if real in out.mapped:
                return out.mapped[real].encode("latin-1")
            want = rec_roles.role(real)
            cands = [c for c in sim_roles.order if sim_roles.role(c) == want]
            if not cands:  # fall back on creation order among channels of the same name
                k = rec_roles.ordinal(real)
                same = [c for c in sim_roles.order if _base(c) == _base(real)]
                cands = [same[k]] if 0 <= k < len(same) else []
            if not cands:
                return mt.group(0)
            out.mapped[real] = cands[-1]
            return cands[-1].encode("latin-1")

        return CHAN_RE.sub(sub, data)

    for t, who, data in plan:
        pump(t0 + t / time_scale)
        if who == "driver" and not shift:
            # one clock (41-43): the recorded connection saw what the driver did from its Login on
            limit = time.monotonic() + 5
            while "main" in open_ and not any(m.is_response for m in got["main"]) and time.monotonic() < limit:
                pump(time.monotonic() + 0.01)
        while seen_rec < len(rec_msgs) and rec_msgs[seen_rec][0] <= t:
            rec_roles.see(rec_msgs[seen_rec][1])
            seen_rec += 1
        if who in open_:
            try:
                socks[who].sendall(rewrite(data))
            except OSError:
                open_.discard(who)
    deadline = time.monotonic() + max_wait
    pump(min(deadline, time.monotonic() + tail))
    while open_ and time.monotonic() < deadline:
        pump(min(deadline, time.monotonic() + 0.2))
    for s in socks.values():
        s.close()
    out.main, out.driver = got["main"], got.get("driver", [])
    return out


# -- comparison ----------------------------------------------------------------------------------------------------
def _name(m: Message) -> str:
    if m.is_response:
        return "Response"
    if m.event == "CEL":
        return f"CEL:{m.get('EventName')}"
    if m.event == "VarSet":
        return f"VarSet:{m.get('Variable')}"
    return str(m.event)


def _keys(m: Message) -> tuple[str, ...]:
    out: list[str] = []
    for k, _ in m.pairs():
        k = re.sub(r"\(.*\)$", "(channel)", k)
        if not out or out[-1] != k:
            out.append(k)
    return tuple(out)


def _caller_of(m: Message) -> str:
    return m.get("CallerIDNum") or m.get("TransfereeCallerIDNum") or m.get("ConnectedLineNum") or ""


def meaning(m: Message) -> tuple[str, ...]:
    """An event reduced to what an analyst reads: its name, role, meaningful values."""
    vals = [f"{k}={m[k]}" for k in MEANING if m.get(k) is not None]
    if m.event == "VarSet" and m.get("Variable") == "QUEUESTATUS":
        vals.append(f"Value={m['Value']}")
    chan = m.get("Channel") or m.get("Interface") or ""
    base, half = _base(chan)
    dest = _base(m.get("DestChannel", ""))
    return (_name(m), base + half, dest[0] + dest[1], _caller_of(m), *vals)


def seconds(m: Message) -> dict[str, int]:
    return {k: int(m[k]) for k in SECONDS if m.get(k, "").isdigit()}


@dataclass
class Diff:
    """What differs between a recording and a simulation of it."""

    counts: dict[str, tuple[int, int]]  # name -> (recorded, simulated), only where they differ
    keys: dict[str, list[tuple[str, ...]]]  # event -> simulated key sequences the recording never has
    per_caller: dict[str, tuple[list[tuple[str, ...]], list[tuple[str, ...]]]]  # caller -> (recorded, simulated)
    seconds: list[tuple[str, dict[str, object], dict[str, object]]]
    responses: tuple[list[tuple[str, str]], list[tuple[str, str]]] | None

    @property
    def ok(self) -> bool:
        return not (self.counts or self.keys or self.per_caller or self.seconds or self.responses)


def compare(rec: list[Message], sim: list[Message], *, events: tuple[str, ...] = CALL_EVENTS,
            count_names: set[str] | None = None, unordered: tuple[str, ...] = UNORDERED) -> Diff:
    """Compare ``sim`` with ``rec``:

    * ``counts``: the number of each event name (CEL by EventName, VarSet by Variable) — all of them, or those
      in ``count_names``;
    * ``keys``: every simulated event's key sequence (repeated keys collapsed, ``ChanVariable(...)`` as one
      name) must occur for that event in the recording;
    * ``per_caller``: for each caller (CallerIDNum), the sequence of its ``events`` with their meaningful
      values (:data:`MEANING`, and QUEUESTATUS) must be the recorded one, in order, and its Hangups (with their
      causes) the recorded ones in any order (their order is a race on the real server); for each queue
      member, its QueueMember* events in order;
    * ``seconds``: HoldTime / TalkTime within 1 s of the recorded ones (the real server counts whole seconds);
    * ``responses``: Response / Message of each response, in order.
    """
    rc, sc = Counter(map(_name, rec)), Counter(map(_name, sim))
    names = set(rc) | set(sc) if count_names is None else count_names
    counts = {n: (rc[n], sc[n]) for n in sorted(names) if rc[n] != sc[n]}
    want: dict[str, set[tuple[str, ...]]] = {}
    for m in rec:
        want.setdefault(_name(m), set()).add(_keys(m))
    keys: dict[str, list[tuple[str, ...]]] = {}
    for m in sim:
        n = _name(m)
        if n in want and _keys(m) not in want[n] and m.is_event:
            keys.setdefault(n, []).append(_keys(m))

    def seq(msgs: list[Message]) -> dict[str, list[tuple[str, ...]]]:
        out: dict[str, list[tuple[str, ...]]] = {}
        loose: dict[str, list[tuple[str, ...]]] = {}
        for m in msgs:
            if not m.is_event:
                continue
            if m.event in ("QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved"):
                out.setdefault(f"member {m.get('Interface')} in {m.get('Queue')}", []).append(meaning(m))
            elif m.event in events or (m.event == "VarSet" and m.get("Variable") == "QUEUESTATUS"):
                out.setdefault(_caller_of(m), []).append(meaning(m))
            elif m.event in unordered:
                loose.setdefault(_caller_of(m), []).append(meaning(m))
        for c, items in loose.items():
            out.setdefault(c, []).extend(sorted(items))
        return out

    rs, ss = seq(rec), seq(sim)
    per_caller = {c: (rs.get(c, []), ss.get(c, [])) for c in sorted(set(rs) | set(ss)) if rs.get(c) != ss.get(c)}
    def secs_of(msgs: list[Message]) -> dict[tuple[str, str], list[dict[str, int]]]:
        out: dict[tuple[str, str], list[dict[str, int]]] = {}
        for m in msgs:
            if m.is_event and m.event in events and seconds(m):
                out.setdefault((_caller_of(m), str(m.event)), []).append(seconds(m))
        return out

    rsec, ssec = secs_of(rec), secs_of(sim)
    secs = []
    for key in sorted(set(rsec) | set(ssec)):
        a_list, b_list = rsec.get(key, []), ssec.get(key, [])
        if len(a_list) != len(b_list) or any(
                set(a) != set(b) or any(abs(a[k] - b[k]) > 1 for k in a) for a, b in zip(a_list, b_list, strict=False)):
            secs.append((f"{key[0]} {key[1]}", {"recorded": a_list}, {"simulated": b_list}))  # type: ignore[dict-item]
    rr = [(m.get("Response", ""), m.get("Message", "")) for m in rec if m.is_response]
    sr = [(m.get("Response", ""), m.get("Message", "")) for m in sim if m.is_response]
    return Diff(counts, keys, per_caller, secs, None if rr == sr else (rr, sr))


def per_channel(msgs: list[Message]) -> dict[str, list[str]]:
    """Each channel's own events in order (CEL by EventName, VarSet by variable), the channel named by its role:
    its name without the sequence number, and the how-many-th channel of that name it is. List items are left
    out, and CEL and Cdr: Asterisk posts those from queues of their own, so their place among a channel's other
    events is a race (the last channel of a call to be destroyed, which gets CEL LINKEDID_END, too)."""
    order: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for m in msgs:
        ch = m.get("Channel")
        if not m.is_event or not ch or m.get("ActionID") or m.event in ("CEL", "Cdr"):
            continue
        if ch not in order:
            base = "".join(_base(ch))
            order[ch] = f"{base}#{sum(1 for c in order if ''.join(_base(c)) == base)}"
        out.setdefault(order[ch], []).append(_name(m))
    return out

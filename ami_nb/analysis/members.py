"""Agents: logged-in sessions, pauses by reason, talk, hold, wrap-up, occupancy.

One sweep over the member and agent events builds each queue member's timeline as states that partition the
time it was logged in (:func:`agent_states`); every other report here sums that table, so the figures always add
up: ``logged_in = idle + paused + talk + hold + wrapup + other_queue + busy + unavailable``.

Definitions (the ones QueueMetrics and Asternic use, stated so a report can be checked by hand):

* **logged in**: from ``QueueMemberAdded`` (a dynamic member logging in) to ``QueueMemberRemoved``; a member
  logged in before the stream began (every static member, and any member first seen in a ``QueueMember`` list
  item, a ``QueueMemberStatus`` or ``QueueMemberPause``) counts from the first event that shows it, and is flagged
  ``partial``. A member still logged in counts to ``end`` (default: the last event of the frame). A session
  that connected mid-day takes its members' state from a ``QueueStatus`` answer (:func:`member_snapshot` puts
  its items in the frame at the time it was asked): logged in, paused with its reason, the device state, and a
  call in progress (``InCall: 1``, which app_queue shows only in the membership of the call's queue, from the
  answer on: talk there until its ``AgentComplete``, ``other_queue`` in the others; hold during that call is
  not seen, as no AgentConnect named its channels, and counts as talk). A wrap-up in progress at the snapshot
  is not seen (``LastCall`` is whole seconds and does not say which queue's call it was): it counts as idle.
* **talk**: ``AgentConnect`` to ``AgentComplete`` of a call from this queue, less the time on hold.
* **hold**: ``Hold`` to ``Unhold`` on the agent's or the caller's channel during that call (a Local-channel
  member's phone is followed through its ``;1``/``;2`` pair and its dial).
* **wrap-up**: after ``AgentComplete``, the member's ``Wrapuptime`` (from ``QueueMemberStatus`` / ``QueueMember``,
  or the ``wrapup`` argument) or until its next call, whichever comes first: Asterisk offers it no call then.
* **paused**: ``QueueMemberPause`` with ``Paused: 1`` to ``Paused: 0``, by ``PausedReason`` (app_queue's
  ``Auto-Pause`` after a ring no answer is a reason like any other); a pause taken during a call counts from
  the end of the call's wrap-up (Asterisk pauses the member at once, but the call and its wrap-up are handling
  time); a pause in one queue only (``QueuePause`` with ``Queue``, an auto-pause) pauses that membership only.
* **other_queue**: the member was on a call from another queue it belongs to.
* **busy** / **unavailable**: not on a queue call, but its device (``QueueMemberStatus``'s ``Status``) was in use,
  ringing or on hold (a direct or outbound call, or ringing for a queue call not yet connected) / unreachable.
* **idle** (available): logged in, not paused, not handling a call.
* **handling** = talk + hold + wrap-up; **AHT** = handling ÷ calls;
  **occupancy** = handling ÷ (logged in - paused - other_queue) (the share of the time the member was there
  for this queue that it spent on this queue's calls; per agent, ``other_queue`` is 0);
  **utilisation** = handling ÷ logged in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._events import col, event_times, ids
from .kpi import KPIConfig

__all__ = ["STATES", "agent_intervals", "agent_pauses", "agent_states", "agents", "member_snapshot"]

#: The states of :func:`agent_states`, in display order.
STATES = ["talk", "hold", "wrapup", "other_queue", "busy", "unavailable", "paused", "idle"]
#: ``QueueMemberStatus`` device states (``ast_device_state``) that keep a member from taking a queue call.
_BUSY_STATUS = {"2", "3", "6", "7", "8"}  # in use, busy, ringing, ringing in use, on hold
_UNAVAILABLE_STATUS = {"4", "5"}  # invalid, unavailable

_MEMBER_EVENTS = (
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberPause",
    "QueueMemberStatus",
    "QueueMember",
    "AgentConnect",
    "AgentComplete",
)
_CHANNEL_EVENTS = ("Hold", "Unhold", "DialBegin", "LocalBridge")
_STATE_COLUMNS = ["queue", "interface", "member_name", "state", "reason", "start", "end", "seconds", "partial"]


@dataclass
class _Member:
    """One queue membership during the sweep."""

    name: str | None = None
    logged_in: bool = False
    partial: bool = False
    paused: bool = False
    reason: str = ""
    wrapuptime: float = 0.0
    state: str | None = None  # the open segment's state
    state_reason: str = ""
    since: pd.Timestamp | None = None


@dataclass
class _Agent:
    """One interface (an agent) across its queues."""

    queues: dict[str, _Member] = field(default_factory=dict)
    call_queue: str | None = None  # the queue of the call in progress
    channels: set[str] = field(default_factory=set)  # the call's channels, for Hold/Unhold
    holding: set[str] = field(default_factory=set)
    wrapup_until: pd.Timestamp | None = None
    wrapup_queue: str | None = None
    device: str = ""  # "busy" / "unavailable" from the member's device status, else ""


def _text(v: object) -> str:
    if isinstance(v, tuple):
        v = v[0] if v else ""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return str(v)


class _Sweep:
    """Walks member and channel events in order and writes state segments."""

    def __init__(self, wrapup: Mapping[str, float] | float | None) -> None:
        self.agents: dict[str, _Agent] = {}
        self.rows: list[tuple[object, ...]] = []
        self.wrapup = wrapup
        self.peers: dict[str, set[str]] = {}  # channel -> channels of the same leg (Local pairs, dials)

    # -- state bookkeeping --------------------------------------------------------------------------------
    def _desired(self, agent: _Agent, queue: str, m: _Member, t: pd.Timestamp) -> tuple[str | None, str]:
        if not m.logged_in:
            return None, ""
        if agent.call_queue is not None:
            if agent.call_queue != queue:
                return "other_queue", agent.call_queue
            return ("hold", "") if agent.holding else ("talk", "")
        if agent.wrapup_until is not None and t < agent.wrapup_until and agent.wrapup_queue is not None:
            return ("wrapup", "") if agent.wrapup_queue == queue else ("other_queue", agent.wrapup_queue)
        if m.paused:
            return "paused", m.reason
        if agent.device:
            return agent.device, ""
        return "idle", ""

    def _expire(self, iface: str, t: pd.Timestamp) -> None:
        """End a wrap-up that ran out before ``t`` at its own end, before the event at ``t`` changes anything."""
        agent = self.agents.get(iface)
        if agent is None or agent.wrapup_until is None or agent.wrapup_until > t:
            return
        end = agent.wrapup_until
        agent.wrapup_until = agent.wrapup_queue = None
        self._settle(iface, end)

    def _settle(self, iface: str, t: pd.Timestamp) -> None:
        """Close and open segments so every membership of ``iface`` shows its state as of ``t``."""
        agent = self.agents[iface]
        for q, m in agent.queues.items():
            self._switch(iface, q, m, t, *self._desired(agent, q, m, t))

    def _switch(self, iface: str, queue: str, m: _Member, t: pd.Timestamp, state: str | None, reason: str) -> None:
        if state == m.state and reason == m.state_reason:
            return
        if m.state is not None and m.since is not None:
            self.rows.append((queue, iface, m.name, m.state, m.state_reason, m.since, t, m.partial))
        m.state, m.state_reason, m.since = state, reason, (t if state is not None else None)

    def _member(self, iface: str, queue: str, t: pd.Timestamp, *, join: bool) -> _Member:
        agent = self.agents.setdefault(iface, _Agent())
        m = agent.queues.get(queue)
        if m is None:
            m = agent.queues[queue] = _Member()
            if isinstance(self.wrapup, Mapping):
                m.wrapuptime = float(self.wrapup.get(queue, 0.0))
            elif self.wrapup is not None:
                m.wrapuptime = float(self.wrapup)
        if not m.logged_in and join:
            m.logged_in = True
            m.partial = True  # seen logged in without seeing it log in
        return m

    def _leg(self, channel: str) -> set[str]:
        """``channel`` and the channels of the same leg: its Local twin and what it dialled (transitively)."""
        seen: set[str] = set()
        todo = [channel]
        while todo:
            c = todo.pop()
            if not c or c in seen:
                continue
            seen.add(c)
            todo.extend(self.peers.get(c, ()))
            if c.startswith("Local/") and c[-2:] in (";1", ";2"):
                todo.append(c[:-1] + ("2" if c[-1] == "1" else "1"))
        return seen

    def _link(self, a: str, b: str) -> None:
        if a and b:
            self.peers.setdefault(a, set()).add(b)
            self.peers.setdefault(b, set()).add(a)

    # -- events -------------------------------------------------------------------------------------------
    def feed(self, ev: str, t: pd.Timestamp, row: dict[str, object]) -> None:
        if ev in _CHANNEL_EVENTS:
            self._channel_event(ev, t, row)
            return
        queue = _text(row.get("Queue"))
        iface = _text(row.get("Interface")) or _text(row.get("Location"))
        if not queue or not iface:
            return
        name = _text(row.get("MemberName")) or _text(row.get("Name")) or None
        self._expire(iface, t)
        if ev == "QueueMemberRemoved":
            agent = self.agents.get(iface)
            m = agent.queues.get(queue) if agent else None
            if agent is None or m is None:
                return
            m.logged_in = False
            self._settle(iface, t)
            return
        m = self._member(iface, queue, t, join=ev != "QueueMemberAdded")
        if ev == "QueueMemberAdded" and not m.logged_in:
            m.logged_in, m.partial = True, False
        agent = self.agents[iface]
        if name:
            m.name = name
        if ev in ("QueueMemberAdded", "QueueMemberStatus", "QueueMember", "QueueMemberPause"):
            paused = _text(row.get("Paused"))
            if paused in ("0", "1"):
                m.paused = paused == "1"
                m.reason = _text(row.get("PausedReason")) if m.paused else ""
            status = _text(row.get("Status"))
            if status:
                agent.device = (
                    "busy" if status in _BUSY_STATUS else "unavailable" if status in _UNAVAILABLE_STATUS else ""
                )
            if ev == "QueueMember" and agent.call_queue is None and _text(row.get("InCall")) == "1":
                agent.call_queue = queue  # a call answered before the snapshot (module docstring)
                agent.channels = set()
                agent.holding.clear()
            wrap = _text(row.get("Wrapuptime"))
            if wrap and self.wrapup is None:
                try:
                    m.wrapuptime = float(wrap)
                except ValueError:
                    pass
        elif ev == "AgentConnect":
            agent.call_queue = queue
            agent.wrapup_until = agent.wrapup_queue = None
            agent.holding.clear()
            agent.channels = self._leg(_text(row.get("DestChannel"))) | self._leg(_text(row.get("Channel")))
        elif ev == "AgentComplete" and agent.call_queue is not None:
            agent.call_queue = None
            agent.holding.clear()
            agent.channels = set()
            if m.wrapuptime > 0:
                agent.wrapup_until = t + pd.Timedelta(seconds=m.wrapuptime)
                agent.wrapup_queue = queue
        self._settle(iface, t)

    def _channel_event(self, ev: str, t: pd.Timestamp, row: dict[str, object]) -> None:
        if ev == "DialBegin":
            self._link(_text(row.get("Channel")), _text(row.get("DestChannel")))
            return
        if ev == "LocalBridge":
            self._link(_text(row.get("LocalOneChannel")), _text(row.get("LocalTwoChannel")))
            return
        channel = _text(row.get("Channel"))
        for iface, agent in self.agents.items():
            if agent.call_queue is None or channel not in agent.channels:
                continue
            self._expire(iface, t)
            if ev == "Hold":
                agent.holding.add(channel)
            else:
                agent.holding.discard(channel)
            self._settle(iface, t)

    def close(self, end: pd.Timestamp) -> pd.DataFrame:
        for iface, agent in self.agents.items():
            self._expire(iface, end)
            self._settle(iface, end)
            for q, m in agent.queues.items():
                self._switch(iface, q, m, end, None, "")
        df = pd.DataFrame(self.rows, columns=[c for c in _STATE_COLUMNS if c != "seconds"])
        return df


def agent_states(events: pd.DataFrame, *, end: object = None, config: KPIConfig | None = None) -> pd.DataFrame:
    """Each queue member's logged-in time as consecutive states, one row per segment.

    Columns: ``queue``, ``interface``, ``member_name``, ``state`` (one of :data:`STATES`), ``reason`` (the pause
    reason, or the other queue), ``start``, ``end`` (UTC), ``seconds``, ``partial`` (logged in before the
    stream began). ``end`` closes what is still open (default: the frame's last event); ``config.wrapup`` sets
    the wrap-up seconds (one number, or per queue) where the events do not say.
    """
    config = config or KPIConfig()
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in _STATE_COLUMNS})
    if events is None or len(events) == 0 or "Event" not in events.columns:
        return _typed_states(empty)
    ev = events["Event"].astype("str")
    keep = ev.isin(_MEMBER_EVENTS + _CHANNEL_EVENTS).to_numpy()
    # the default end is the last call, queue or member event's time: an event about neither (a login's
    # FullyBooted, a system event) may carry no Timestamp, and its receive time is another clock (a simulation)
    t_all = event_times(events)
    last = t_all[keep | ids(col(events, "Linkedid")).notna().to_numpy()].max()
    close_at = (
        pd.Timestamp(end, tz="UTC")
        if end is not None and pd.Timestamp(end).tzinfo is None
        else (pd.Timestamp(end) if end is not None else last)
    )
    sub = events[keep]
    if sub.empty or pd.isna(close_at):
        return _typed_states(empty)
    sweep = _Sweep(config.wrapup)
    cols = [
        c
        for c in (
            "Queue",
            "Interface",
            "Location",
            "MemberName",
            "Name",
            "Paused",
            "PausedReason",
            "Wrapuptime",
            "Status",
            "InCall",
            "Channel",
            "DestChannel",
            "LocalOneChannel",
            "LocalTwoChannel",
        )
        if c in sub.columns
    ]
    times = t_all[keep]
    for name, t, values in zip(ev[keep], times, sub[cols].itertuples(index=False, name=None), strict=True):
        if pd.isna(t) or t > close_at:
            continue
        sweep.feed(name, t, dict(zip(cols, values, strict=True)))
    out = sweep.close(close_at)
    if out.empty:
        return _typed_states(empty)
    out["seconds"] = (out["end"] - out["start"]).dt.total_seconds()
    out = out[out["seconds"] > 0]
    return _typed_states(out[_STATE_COLUMNS].reset_index(drop=True))


def member_snapshot(status: object, at: object) -> pd.DataFrame:
    """The ``QueueMember`` items of a ``QueueStatus`` answer (a :class:`~ami_nb.response.Response` or its
    ``to_frame()``) as rows of an events frame at ``at`` (when it was asked; list items carry no time), to
    ``pd.concat`` before the events of a session that connected while agents were already logged in."""
    frame = status.to_frame(convert=False) if hasattr(status, "to_frame") else pd.DataFrame(status)
    if "Event" not in frame.columns:
        return pd.DataFrame({"Event": pd.Series(dtype="str"), "received": pd.Series(dtype="datetime64[ns, UTC]")})
    rows = frame[frame["Event"].astype("str") == "QueueMember"].copy()
    t = pd.Timestamp(at)
    rows["received"] = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return rows.drop(columns=[c for c in ("Timestamp", "ActionID") if c in rows.columns]).reset_index(drop=True)


def _typed_states(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("start", "end"):
        df[c] = pd.to_datetime(df[c], utc=True).astype("datetime64[ns, UTC]")
    for c in ("queue", "interface", "member_name", "state", "reason"):
        df[c] = df[c].astype("str")
    df["seconds"] = df["seconds"].astype(float)
    df["partial"] = df["partial"].astype(bool)
    return df


def agents(
    events: pd.DataFrame,
    *,
    by: str = "queue",
    end: object = None,
    config: KPIConfig | None = None,
) -> pd.DataFrame:
    """Per queue member (``by="queue"``) or per agent across its queues (``by="agent"``): time in each state,
    calls handled, AHT, occupancy and utilisation (definitions in the module docstring).

    Columns: ``queue`` (``by="queue"`` only), ``interface``, ``member_name``, ``logged_in``, ``paused``,
    ``idle``, ``talk``, ``hold``, ``wrapup``, ``other_queue`` (seconds), ``calls``, ``handling``, ``aht``,
    ``occupancy``, ``utilisation``, ``partial``.
    """
    if by not in ("queue", "agent"):
        raise ValueError(f"by must be 'queue' or 'agent', got {by!r}")
    states = agent_states(events, end=end, config=config)
    calls = _calls_handled(events)
    if by == "agent":
        states = _agent_level(states)
        keys = ["interface"]
        calls = calls.groupby("interface").size().rename("calls")
    else:
        keys = ["queue", "interface"]
        calls = calls.groupby(keys).size().rename("calls")
    if states.empty:
        cols = [*keys, "member_name", "logged_in", *STATES, "calls", "handling", "aht", "occupancy", "utilisation"]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*cols, "partial"]})
    secs = states.pivot_table(index=keys, columns="state", values="seconds", aggfunc="sum", fill_value=0.0)
    secs = secs.reindex(columns=STATES, fill_value=0.0)
    secs.columns.name = None
    g = states.groupby(keys)
    out = pd.DataFrame({"member_name": g["member_name"].agg(_last_name)})
    out["logged_in"] = secs.sum(axis=1)
    out = out.join(secs)
    out["calls"] = calls.reindex(out.index).fillna(0).astype("int64")
    out["handling"] = out["talk"] + out["hold"] + out["wrapup"]
    staffed = out["logged_in"] - out["paused"] - out["other_queue"]  # the time this queue could have used
    out["aht"] = (out["handling"] / out["calls"]).where(out["calls"] > 0)
    out["occupancy"] = (out["handling"] / staffed).where(staffed > 0)
    out["utilisation"] = (out["handling"] / out["logged_in"]).where(out["logged_in"] > 0)
    out["partial"] = g["partial"].any()
    return out.reset_index()


def _last_name(s: pd.Series) -> object:
    s = s[s.notna() & (s != "") & (s != "nan")]
    return s.iloc[-1] if len(s) else pd.NA


def _calls_handled(events: pd.DataFrame) -> pd.DataFrame:
    if events is None or len(events) == 0 or "Event" not in events.columns:
        return pd.DataFrame({"queue": [], "interface": []})
    rows = events[events["Event"].astype("str") == "AgentComplete"]
    return pd.DataFrame(
        {
            "queue": rows["Queue"].astype("str") if "Queue" in rows else pd.Series(dtype="str"),
            "interface": rows["Interface"].astype("str") if "Interface" in rows else pd.Series(dtype="str"),
        }
    )


def _agent_level(states: pd.DataFrame) -> pd.DataFrame:
    """Per agent: the union of its memberships' time, each instant in the most telling state any queue shows
    (a call beats wrap-up beats idle in some queue beats paused everywhere)."""
    if states.empty:
        return states.drop(columns=["queue"])
    rank = {"talk": 0, "hold": 0, "wrapup": 1, "busy": 2, "idle": 3, "unavailable": 4, "paused": 5, "other_queue": 6}
    rows = []
    for iface, seg in states.groupby("interface", sort=False):
        cuts = np.unique(np.concatenate([seg["start"].to_numpy(), seg["end"].to_numpy()]))
        starts = seg["start"].to_numpy()
        ends = seg["end"].to_numpy()
        st = seg["state"].to_numpy()
        rs = seg["reason"].to_numpy()
        for a, b in itertools.pairwise(cuts):
            on = np.flatnonzero((starts <= a) & (ends >= b))
            if len(on) == 0:
                continue
            best = min(on, key=lambda i: rank[st[i]])
            state = st[best]
            if state == "other_queue":  # seen from the agent's side that is a call of its own
                state = "talk"
            rows.append(
                (
                    iface,
                    seg["member_name"].iloc[-1],
                    state,
                    rs[best] if state == "paused" else "",
                    a,
                    b,
                    bool(seg["partial"].any()),
                )
            )
    out = pd.DataFrame(rows, columns=["interface", "member_name", "state", "reason", "start", "end", "partial"])
    out["start"] = pd.to_datetime(out["start"], utc=True)
    out["end"] = pd.to_datetime(out["end"], utc=True)
    out["seconds"] = (out["end"] - out["start"]).dt.total_seconds()
    return out


def agent_pauses(events: pd.DataFrame, *, end: object = None, config: KPIConfig | None = None) -> pd.DataFrame:
    """Paused time per queue member and ``PausedReason``: ``pauses`` (count) and ``seconds``."""
    states = agent_states(events, end=end, config=config)
    p = states[states["state"] == "paused"]
    out = p.groupby(["queue", "interface", "reason"], dropna=False).agg(
        member_name=("member_name", _last_name), pauses=("seconds", "size"), seconds=("seconds", "sum")
    )
    return out.reset_index()


def agent_intervals(
    events: pd.DataFrame,
    *,
    freq: str = "30min",
    by: str = "queue",
    end: object = None,
    config: KPIConfig | None = None,
) -> pd.DataFrame:
    """Agents per interval (and per queue with ``by="queue"``; ``by="agent"`` counts each agent once however
    many queues it is in), as averages over the interval (seconds in state ÷ interval seconds): ``logged_in``,
    ``staffed`` (logged in, not paused), ``handling``: the staff an interval really had, beside the staff
    :func:`ami_nb.analysis.staffing` says it needed."""
    if by not in ("queue", "agent"):
        raise ValueError(f"by must be 'queue' or 'agent', got {by!r}")
    states = agent_states(events, end=end, config=config)
    if by == "agent":
        states = _agent_level(states).assign(queue="")
    keys = ["queue", "interval"] if by == "queue" else ["interval"]
    cols = [*keys, "logged_in", "staffed", "handling"]
    if states.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    length = pd.Timedelta(freq)
    pieces = []
    for row in states.itertuples(index=False):
        a = row.start
        while a < row.end:
            slot = a.floor(freq)
            b = min(row.end, slot + length)
            pieces.append((row.queue, slot, row.state, (b - a).total_seconds()))
            a = b
    df = pd.DataFrame(pieces, columns=["queue", "interval", "state", "seconds"])
    df["handling"] = df["seconds"].where(df["state"].isin(("talk", "hold", "wrapup")), 0.0)
    df["staffed"] = df["seconds"].where(df["state"] != "paused", 0.0)
    g = df.groupby(keys)
    sec = length.total_seconds()
    out = pd.DataFrame(
        {
            "logged_in": g["seconds"].sum() / sec,
            "staffed": g["staffed"].sum() / sec,
            "handling": g["handling"].sum() / sec,
        }
    )
    return out.reset_index()

"""Queue tables: per queue or per agent, from the QueueCaller* / Agent* events."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import schemas
from ._events import call_rows, col, seconds
from ._legs import legs

#: How a caller's stay in a queue ended, as Asterisk reports it: ``answered`` (AgentConnect); ``abandon`` (the
#: caller hung up: QueueCallerAbandon with no QUEUESTATUS after it); Queue()'s QUEUESTATUS otherwise, lower-cased
#: (``timeout``, ``joinempty``, ``leaveempty``, ``joinunavail``, ``leaveunavail``, ``full``, ``withdraw``);
#: ``exitwithkey`` (left with neither: app_queue sets no QUEUESTATUS for a digit exit). None while waiting.
QUEUE_OUTCOMES = [
    "answered",
    "abandon",
    "timeout",
    "exitwithkey",
    "joinempty",
    "leaveempty",
    "joinunavail",
    "leaveunavail",
    "full",
    "withdraw",
]
_QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect", "VarSet", "Newexten")


def stints(rows: pd.DataFrame, owner: pd.Series | None = None) -> pd.DataFrame:
    """One row per caller's stay in a queue (a stint), in order (see :func:`queue_stints`)."""
    ev = rows["ev"]
    has_uid = rows["uid"].notna().to_numpy()
    is_q = (
        ev.isin(_QUEUE_EVENTS[:4])
        | ((ev == "VarSet") & (rows["Variable"] == "QUEUESTATUS"))
        | ((ev == "Newexten") & (rows["Application"] == "Queue"))
    ).to_numpy(dtype=bool, na_value=False)
    # takes of the few rows (a boolean filter walks every row of each column)
    q = rows[list(_Row._fields)].take(np.flatnonzero(is_q & has_uid))
    hup = rows[["uid", "t"]].take(np.flatnonzero(ev.eq("Hangup").to_numpy() & has_uid))
    hup = hup.drop_duplicates("uid").set_index("uid")["t"]
    out: list[dict[str, object]] = []
    # one pass in plain Python over the few queue rows (pandas row access would cost more than the logic); times
    # as integer nanoseconds, None for NaT (converted back once at the end)
    columns = [_pylist(q[c]) for c in _Row._fields]
    by_uid: dict[object, list[tuple[Any, ...]]] = {}
    for r in zip(*columns, strict=True):  # plain tuples, in _Row's order (a namedtuple per row costs 4x the loop)
        by_uid.setdefault(r[0], []).append(r)
    for uid, g in by_uid.items():
        mine: list[dict[str, object]] = []
        pending: str | None = None  # the queue a Queue() application was started for, before any join
        for _, kind, t, lid, seq, queue, member_name, interface, app_data, value, hold in g:
            if kind == "Newexten":
                pending = str(app_data).split(",")[0] if isinstance(app_data, str) else None
                continue
            if kind == "VarSet":
                status = str(value).lower()
                last = mine[-1] if mine else None
                if last is not None and last["closed"] and last["status"] is None:
                    last["status"] = status
                elif pending and status in ("joinempty", "joinunavail", "full"):
                    mine.append(_stint(uid, lid, seq, pending, joined=t, left=t, status=status))
                pending = None
                continue
            cur = None
            for s in reversed(mine):  # the latest stint in this queue (a loop: no generator per row)
                if s["queue"] == queue:
                    cur = s
                    break
            fresh = kind == "QueueCallerJoin" or cur is None
            if cur is not None and cur["closed"]:  # after a Leave only that stint's late AgentConnect belongs to it
                fresh = fresh or kind != "AgentConnect" or cur["connect"] is not None
            if fresh:
                cur = _stint(uid, lid, seq, queue, joined=t if kind == "QueueCallerJoin" else None)
                mine.append(cur)
                pending = None
                if kind == "QueueCallerJoin":
                    continue
            assert cur is not None
            if kind == "AgentConnect":
                agent = member_name if isinstance(member_name, str) else interface
                cur.update(connect=t, agent=agent, interface=interface, hold=hold)
            elif kind == "QueueCallerAbandon":
                cur.update(abandon=True, hold=hold)
            else:  # QueueCallerLeave
                cur["closed"] = True
            if cur["left"] is None:
                cur["left"] = t
        out.extend(mine)
    cols = [
        "uid",
        "lid",
        "seq",
        "queue",
        "joined",
        "left",
        "connect",
        "agent",
        "interface",
        "hold",
        "abandon",
        "status",
    ]
    if not out:
        return pd.DataFrame(
            {c: pd.Series([], dtype=object) for c in [*cols, "hungup", "outcome", "partial", "wait", "call"]}
        )
    times = ("joined", "left", "connect")
    df = pd.DataFrame({c: _utc([d[c] for d in out]) if c in times else [d[c] for d in out] for c in cols})
    df["hungup"] = hup.reindex(df["uid"]).reset_index(drop=True).astype("datetime64[ns, UTC]")
    df["outcome"] = _outcome(df, statuses_seen=bool(df["status"].notna().any()))
    # a caller that hung up in the queue without a Leave seen gave up too
    gone = df["outcome"].isna() & df["left"].isna() & df["hungup"].notna()
    df.loc[gone, "outcome"] = "abandon"
    df["left"] = df["left"].fillna(df["hungup"].where(gone))
    df["partial"] = df["joined"].isna()
    wait = seconds(df["connect"].fillna(df["left"]) - df["joined"])
    df["wait"] = wait.fillna(df["hold"].astype("float64"))  # joined before the stream began: Asterisk's HoldTime
    df["call"] = df["uid"].map(owner) if owner is not None else df["lid"]
    df["call"] = df["call"].fillna(df["lid"])
    return df.sort_values("seq", kind="stable").reset_index(drop=True)


def _pylist(s: pd.Series) -> list[Any]:
    """A column as Python values, None where missing; datetimes as integer nanoseconds."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    if s.dtype.kind == "M":
        ns = s.to_numpy(dtype="datetime64[ns]").view("int64")
        return [None if v == _NAT else v for v in ns.tolist()]
    if s.dtype.kind in "iub":
        return s.tolist()
    return s.astype(object).where(s.notna(), None).tolist()


_NAT = np.datetime64("NaT").view("int64")


def _utc(ns: list[Any]) -> pd.Series:
    """Integer nanoseconds (None: NaT) as UTC datetimes."""
    arr = np.array([_NAT if v is None else v for v in ns], dtype="int64").view("datetime64[ns]")
    return pd.Series(arr).dt.tz_localize("UTC").array


class _Row(NamedTuple):
    uid: Any
    ev: Any
    t: Any
    lid: Any
    seq: Any
    Queue: Any
    MemberName: Any
    Interface: Any
    AppData: Any
    Value: Any
    hold: Any


def _stint(
    uid: object,
    lid: object,
    seq: object,
    queue: object,
    *,
    joined: object = None,
    left: object = None,
    status: str | None = None,
) -> dict[str, object]:
    return {
        "uid": uid,
        "lid": lid,
        "seq": seq,
        "queue": queue,
        "joined": joined,
        "left": left,
        "connect": None,
        "agent": None,
        "interface": None,
        "hold": np.nan,
        "abandon": False,
        "status": status,
        "closed": status is not None,
    }


def _outcome(df: pd.DataFrame, *, statuses_seen: bool) -> pd.Series:
    """Each stint's outcome. Where the stream carries no QUEUESTATUS at all (dialplan-class events off, or a
    source that does not send them) a timeout cannot be told from an abandon by it: then QueueCallerAbandon
    counts as an abandon and a bare QueueCallerLeave as a timeout, the best reading left."""
    status = df["status"].where(df["status"] != "continue")  # CONTINUE: answered, then the dialplan went on
    answered = df["connect"].notna()
    bare_leave = "exitwithkey" if statuses_seen else "timeout"  # app_queue sets no QUEUESTATUS for a digit exit
    out = pd.Series(
        np.select(
            [answered, status.notna(), df["abandon"].astype(bool), df["left"].notna()],
            ["answered", status.fillna(""), "abandon", bare_leave],
            default="",
        ),
        index=df.index,
        dtype=object,
    )
    return out.where(out != "")


def queue_stats(events: pd.DataFrame, service_level: float = 20, *, by: str = "queue") -> pd.DataFrame:
    """Per queue (``by="queue"``) or per queue and agent (``by="agent"``).

    Per queue, over the callers' stints (:func:`queue_stints`): ``offered`` (callers that came to the queue,
    refused ones included), ``answered``, and the unanswered outcomes as Asterisk reports them: ``abandoned``
    (the caller hung up), ``timed_out`` (Queue()'s timeout: QUEUESTATUS=TIMEOUT, although Asterisk sends
    QueueCallerAbandon for it too), ``exited_with_key``, ``join_empty`` (JOINEMPTY / JOINUNAVAIL), ``leave_empty``
    (LEAVEEMPTY / LEAVEUNAVAIL), ``full``; ``wait_mean`` and ``wait_p90`` (seconds from join to the agent's answer
    or the exit, over the callers that left the queue), and ``service_level``: the share of offered callers
    answered within ``service_level`` seconds. Callers still waiting count as offered only.

    Per agent, what the agent did with the calls the queue offered it: ``offered`` (times it was rung,
    ``AgentCalled``), ``answered`` (``AgentConnect``), ``ring_no_answer`` (``AgentRingNoAnswer``),
    ``answer_rate``, ``wait_mean`` / ``wait_p90`` of the callers it answered (their time in the queue), and
    ``talk_mean`` (``AgentComplete``'s TalkTime).
    """
    if by not in ("queue", "agent"):
        raise ValueError(f"by must be 'queue' or 'agent', not {by!r}")
    if by == "agent":
        return _agent_stats(events)
    e = stints(call_rows(events))
    if e.empty:
        return schemas.QUEUES.empty()
    e = e.assign(fast=(e["outcome"] == "answered") & (e["wait"] <= service_level))
    g = e.groupby("queue", sort=True)
    n = pd.crosstab(e["queue"], e["outcome"]).reindex(index=g.size().index, columns=QUEUE_OUTCOMES, fill_value=0)
    out = pd.DataFrame(
        {
            "offered": g.size(),
            "answered": n["answered"],
            "abandoned": n["abandon"],
            "timed_out": n["timeout"],
            "exited_with_key": n["exitwithkey"],
            "join_empty": n["joinempty"] + n["joinunavail"],
            "leave_empty": n["leaveempty"] + n["leaveunavail"],
            "full": n["full"],
            "wait_mean": g["wait"].mean(),
            "wait_p90": g["wait"].quantile(0.9),
            "service_level": g["fast"].sum() / g.size(),
        }
    )
    out.index.names = ["queue"]
    return schemas.QUEUES.apply(out)


def queue_stints(events: pd.DataFrame) -> pd.DataFrame:
    """One row per caller's stay in a queue (a *stint*), in order: a call through several queues has several.

    ``linkedid`` (the call, as in :func:`calls`), ``uniqueid`` (the caller's channel in the queue), ``stint``
    (1, 2, ... within the call), ``queue``, ``joined`` / ``left`` (UTC; ``joined`` NaT when the caller joined
    before the stream began, then ``partial``), ``wait`` (seconds to the agent's answer or the exit; Asterisk's
    HoldTime when the join was not seen), ``outcome`` (one of :data:`QUEUE_OUTCOMES`; None while waiting),
    ``agent`` (the member that answered) and its ``interface``.

    Asterisk 22 sends QueueCallerAbandon for a timeout too (app_queue's ``record_abandoned()``, with HoldTime
    equal to the timeout), then QueueCallerLeave; what tells them apart is the QUEUESTATUS variable Queue() sets
    (a VarSet) and does not set when the caller hung up. A caller refused at the door (JOINEMPTY, FULL) never
    joins: its stint comes from the Queue() application and its QUEUESTATUS, with a zero wait.
    """
    rows = call_rows(events)
    e = stints(rows, legs(rows).owner)
    if e.empty:
        return schemas.QUEUE_STINTS.empty()
    out = e.rename(columns={"call": "linkedid", "uid": "uniqueid"})
    out["stint"] = out.groupby("linkedid").cumcount() + 1
    return schemas.QUEUE_STINTS.apply(out)


def _per_agent(events: pd.DataFrame, ev: pd.Series, name: str) -> pd.DataFrame:
    """The ``name`` events as (queue, agent) rows, agent being the member name, else its interface."""
    sub = events[ev.eq(name).to_numpy()]
    agent = col(sub, "MemberName").fillna(col(sub, "Interface"))
    frame = pd.DataFrame({"queue": col(sub, "Queue").to_numpy(), "agent": agent.to_numpy()}, index=sub.index)
    return frame.dropna(subset=["queue", "agent"])


def _agent_stats(events: pd.DataFrame) -> pd.DataFrame:
    ev = col(events, "Event")
    rung = _per_agent(events, ev, "AgentCalled").groupby(["queue", "agent"]).size()
    missed = _per_agent(events, ev, "AgentRingNoAnswer").groupby(["queue", "agent"]).size()
    done = _per_agent(events, ev, "AgentComplete")
    talk = pd.to_numeric(col(events.loc[done.index], "TalkTime"), errors="coerce")
    talk_mean = done.assign(talk=talk.to_numpy()).groupby(["queue", "agent"])["talk"].mean()
    e = stints(call_rows(events))
    if e.empty and rung.empty:
        return schemas.AGENTS.empty()
    e = e[e["outcome"] == "answered"].astype({"wait": "float64"})
    g = e.groupby(["queue", "agent"], sort=True)["wait"]
    out = pd.DataFrame({"answered": g.size(), "wait_mean": g.mean(), "wait_p90": g.quantile(0.9)})
    out = out.join(rung.rename("offered"), how="outer").join(missed.rename("ring_no_answer"), how="left")
    out = out.join(talk_mean.rename("talk_mean"), how="left")
    for c in ("offered", "answered", "ring_no_answer"):
        out[c] = out[c].fillna(0).astype(int)
    out["offered"] = out[["offered", "answered"]].max(axis=1)  # a stream joined mid-ring saw no AgentCalled
    out["answer_rate"] = out["answered"] / out["offered"].where(out["offered"] > 0)
    out = out.sort_index()
    out.index = out.index.set_names(["queue", "agent"])
    return schemas.AGENTS.apply(out)

"""Queue tables: per queue or per agent, from the QueueCaller* / Agent* events."""

from __future__ import annotations

import pandas as pd

from . import schemas
from ._events import call_rows, col, seconds

_ENTRY_COLUMNS = [
    "uid",
    "Queue",
    "join",
    "lid",
    "connect",
    "agent",
    "end",
    "answered",
    "abandoned",
    "timed_out",
    "wait",
]


def _queue_entries(events: pd.DataFrame) -> pd.DataFrame:
    """One row per caller's stay in a queue: join, connect/abandon/leave times, agent, wait (seconds)."""
    rows = call_rows(events)
    ev = rows["ev"]
    key = ["uid", "Queue"]
    joins = rows[ev == "QueueCallerJoin"].drop_duplicates(key)[[*key, "t", "lid"]].rename(columns={"t": "join"})
    if joins.empty:
        return pd.DataFrame(columns=_ENTRY_COLUMNS)
    con = rows[ev == "AgentConnect"].drop_duplicates(key)
    con = con.assign(agent=con["MemberName"].fillna(con["Interface"]))[[*key, "t", "agent"]]
    con = con.rename(columns={"t": "connect"})
    ab = rows[ev == "QueueCallerAbandon"].drop_duplicates(key)[key].assign(abandon_event=True)
    lv = rows[ev.isin(("QueueCallerLeave", "QueueCallerAbandon"))].groupby(key)["t"].min().rename("left")
    hup = rows[ev == "Hangup"].groupby("uid")["t"].min().rename("hungup")
    e = joins.merge(con, on=key, how="left").merge(ab, on=key, how="left").join(lv, on=key).join(hup, on="uid")
    e["answered"] = e["connect"].notna()
    gave_up = e["abandon_event"].fillna(False).astype(bool)
    gone = ~e["answered"] & e["left"].isna() & e["hungup"].notna()  # hung up, no Leave seen: gave up too
    e["abandoned"] = ~e["answered"] & (gave_up | gone)
    e["timed_out"] = ~e["answered"] & ~gave_up & e["left"].notna()
    e["end"] = e["connect"].fillna(e["left"]).fillna(e["hungup"].where(gone))
    e["wait"] = seconds(e["end"] - e["join"])
    return e


def queue_stats(events: pd.DataFrame, service_level: float = 20, *, by: str = "queue") -> pd.DataFrame:
    """Per queue (``by="queue"``) or per queue and agent (``by="agent"``).

    Per queue: ``offered`` callers that joined, ``answered``, ``abandoned`` (the caller gave up:
    ``QueueCallerAbandon``, or hung up with no ``QueueCallerLeave``), ``timed_out`` (left the queue unanswered
    otherwise), ``wait_mean`` and ``wait_p90`` (seconds from join to connect or leave, over the callers that left
    the queue), and ``service_level``: the share of offered callers answered within ``service_level`` seconds.
    Callers still waiting count as offered only.

    Per agent, what the agent did with the calls the queue offered it: ``offered`` (times it was rung,
    ``AgentCalled``), ``answered`` (``AgentConnect``), ``ring_no_answer`` (``AgentRingNoAnswer``),
    ``answer_rate``, ``wait_mean`` / ``wait_p90`` of the callers it answered (their time in the queue), and
    ``talk_mean`` (``AgentComplete``'s TalkTime).
    """
    if by not in ("queue", "agent"):
        raise ValueError(f"by must be 'queue' or 'agent', not {by!r}")
    if by == "agent":
        return _agent_stats(events)
    e = _queue_entries(events)
    if e.empty:
        return schemas.QUEUES.empty()
    e = e.assign(fast=e["answered"] & (e["wait"] <= service_level))
    g = e.groupby("Queue", sort=True)
    out = pd.DataFrame(
        {
            "offered": g.size(),
            "answered": g["answered"].sum(),
            "abandoned": g["abandoned"].sum(),
            "timed_out": g["timed_out"].sum(),
            "wait_mean": g["wait"].mean(),
            "wait_p90": g["wait"].quantile(0.9),
            "service_level": g["fast"].sum() / g.size(),
        }
    )
    out.index.names = ["queue"]
    return schemas.QUEUES.apply(out)


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
    e = _queue_entries(events)
    if e.empty and rung.empty:
        return schemas.AGENTS.empty()
    e = e[e["answered"]].rename(columns={"Queue": "queue"}).astype({"wait": "float64"})
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

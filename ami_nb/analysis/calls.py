"""The channels and calls tables: one row per channel (Uniqueid), one row per call (Linkedid)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schemas
from ._events import (
    TRANSFER_EVENTS,
    TRANSFER_LINKED,
    call_rows,
    col,
    device,
    event_times,
    first_by,
    is_up,
    known,
    seconds,
)

#: The dispositions :func:`calls` reports, in display order.
DISPOSITIONS = ["answered", "busy", "no answer", "failed", "abandoned"]

#: Hangup causes (Q.850) that tell why an unanswered call failed.
BUSY_CAUSES = (17,)
NOANSWER_CAUSES = (16, 18, 19, 21, 31)
#: A DialEnd's DialStatus as a disposition.
DIAL_DISPOSITIONS = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no answer",
    "CANCEL": "no answer",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
    "DONTCALL": "failed",
    "TORTURE": "failed",
    "INVALIDARGS": "failed",
}


# -- channels -----------------------------------------------------------------------------------------------
def channels(events: pd.DataFrame) -> pd.DataFrame:
    """One row per channel (``Uniqueid``) with its lifecycle.

    ``created`` (``Newchannel``), ``answered`` (first ``Newstate`` to Up), ``hungup`` (``Hangup``), ``duration``
    and ``talk`` in seconds, hangup ``cause``/``cause_txt``, ``context``/``exten`` where it started, the last
    known caller (``caller_num``/``caller_name``), last ``state``; ``partial`` when its ``Newchannel`` was not seen
    (the stream was joined mid-call; ``duration`` then counts from the first event seen).
    """
    rows = call_rows(events)
    rows = rows[rows["uid"].notna()]
    if rows.empty:
        return schemas.CHANNELS.empty()
    t = rows["t"]
    is_new = rows["ev"] == "Newchannel"
    is_hup = rows["ev"] == "Hangup"
    agg = pd.DataFrame(
        {
            "uid": rows["uid"],
            "lid": rows["lid"],
            "channel": rows["Channel"],
            "first": t,
            "created": t.where(is_new),
            "answered": t.where((rows["ev"] == "Newstate") & is_up(rows)),
            "hungup": t.where(is_hup),
            "caller_num": known(rows["CallerIDNum"]),
            "caller_name": known(rows["CallerIDName"]),
            "state": rows["ChannelStateDesc"],
        }
    )
    out = agg.groupby("uid", sort=False).agg(
        linkedid=("lid", "first"),
        channel=("channel", "first"),
        first=("first", "min"),
        created=("created", "min"),
        answered=("answered", "min"),
        hungup=("hungup", "max"),
        caller_num=("caller_num", "last"),
        caller_name=("caller_name", "last"),
        state=("state", "last"),
    )
    start = first_by(rows[is_new], "uid", ["Context", "Exten"])
    fallback = first_by(rows, "uid", ["Context", "Exten"])
    place = start.reindex(out.index).fillna(fallback.reindex(out.index))
    hup = first_by(rows[is_hup], "uid", ["cause", "Cause-txt"]).reindex(out.index)
    begin = out["created"].fillna(out["first"])
    result = out.assign(
        uniqueid=out.index.to_series(),
        duration=seconds(out["hungup"] - begin),
        talk=seconds(out["hungup"] - out["answered"]),
        cause=hup["cause"],
        cause_txt=hup["Cause-txt"],
        context=place["Context"],
        exten=place["Exten"],
        partial=out["created"].isna(),
    )
    result = schemas.CHANNELS.apply(result)
    return result.sort_values(["created", "uniqueid"], na_position="first", kind="stable").reset_index(drop=True)


# -- calls --------------------------------------------------------------------------------------------------
def calls(events: pd.DataFrame) -> pd.DataFrame:
    """One row per call (the channels sharing a ``Linkedid``), ordered by start.

    Columns: ``linkedid``; ``start``/``answer``/``end`` (UTC datetimes; ``end`` is NaT while a channel is up);
    ``wait`` (start to answer, or to the end when unanswered), ``talk`` (answer to end), ``duration`` (seconds);
    ``caller_num``/``caller_name`` and ``dialled`` (the first channel's caller and extension); ``answered_by``
    (the queue member, else the device the answering dial reached, e.g. ``PJSIP/201``); ``disposition``, one of
    :data:`DISPOSITIONS`; hangup ``cause``/``cause_txt`` (the first channel's, unless another one gives a
    reason where it says 0); ``queue``, ``agent`` and ``queue_wait`` (join to connect or leave) for queue calls;
    ``transferred``; ``channels`` (count); ``partial`` (joined mid-call); ``in_progress``.

    The disposition follows the call's outcome: a queue call is answered when an agent connects, abandoned when
    the caller gave up (``QueueCallerAbandon``, or gone without leaving), ``no answer`` when it left the queue
    unanswered (a timeout); a call that dialled is answered when a dial answered, else takes the last dial's
    status (BUSY, NOANSWER, CONGESTION/CHANUNAVAIL = failed); a call that never dialled is answered when a
    channel went Up, else it follows the hangup cause (17 busy; 16, 18, 19, 21 no answer; the rest failed).
    """
    rows = call_rows(events)
    if rows.empty:
        return schemas.CALLS.empty()
    out = _spans(rows)
    caller = _caller(rows, out.index)
    cause = _cause(rows, out.index)
    agent, queue = _queue_parts(rows, out.index)
    answer_dial = _answering_dial(rows, events)

    queued = out["join"].notna()
    # a queue call is answered by an agent, or by a dial after it left the queue (a timeout sent elsewhere)
    after_queue = out["dial_answer"].where(out["dial_answer"] > out["left"])
    answer = (
        out["connect"].fillna(after_queue).where(queued, out["dial_answer"].where(out["dialled_any"], out["up_first"]))
    )
    answered = pd.Series(np.where(queued | out["dialled_any"], answer.notna(), out["up_any"]), index=out.index)
    disposition = _disposition(rows, out, answered, cause["cause"])

    end = out["end"]
    # An unanswered call rang until it ended; an answered one until its answer. An answered call whose answer was
    # not seen (joined mid-call) has no known wait: NaN, never its whole duration.
    ringing_until = answer.where(answered, end)
    queue_end = out["connect"].fillna(out["leave"])
    result = pd.DataFrame(
        {
            "linkedid": out.index,
            "start": out["start"],
            "answer": answer,
            "end": end,
            "wait": seconds(ringing_until - out["start"]),
            "talk": seconds(end - answer),
            "duration": seconds(end - out["start"]),
            "caller_num": caller["caller_num"],
            "caller_name": caller["caller_name"],
            "dialled": caller["dialled"],
            "answered_by": agent.fillna(device(answer_dial.reindex(out.index))).where(answered),
            "disposition": disposition,
            "cause": cause["cause"],
            "cause_txt": cause["Cause-txt"],
            "queue": queue,
            "agent": agent,
            "queue_wait": seconds(queue_end - out["join"]),
            "transferred": out.index.isin(_transfer_times(events).index),
            "channels": out["channels"],
            "partial": out["partial"],
            "in_progress": out["in_progress"],
        }
    )
    result = schemas.CALLS.apply(result)
    return result.sort_values(["start", "linkedid"], kind="stable").reset_index(drop=True)


def _spans(rows: pd.DataFrame) -> pd.DataFrame:
    """Per Linkedid: when it started and ended, when dials, queue joins and connects happened, how many channels."""
    ev = rows["ev"]
    t = rows["t"]
    is_hup = ev == "Hangup"
    frame = pd.DataFrame(
        {
            "lid": rows["lid"],
            "t": t,
            "new_t": t.where(ev == "Newchannel"),
            "origin_new": (ev == "Newchannel") & (rows["uid"] == rows["lid"]),
            "hup_t": t.where(is_hup),
            "dial_answer_t": t.where((ev == "DialEnd") & (rows["DialStatus"] == "ANSWER")),
            "dial": ev.isin(("DialBegin", "DialEnd")),
            "up": is_up(rows) & ev.ne("DialEnd") & ev.ne("DialBegin"),
            "up_t": t.where((ev == "Newstate") & is_up(rows)),
            "join_t": t.where(ev == "QueueCallerJoin"),
            "connect_t": t.where(ev == "AgentConnect"),
            "leave_t": t.where(ev.isin(("QueueCallerLeave", "QueueCallerAbandon"))),
            "abandon": ev == "QueueCallerAbandon",
            "left_t": t.where(ev == "QueueCallerLeave"),
            "uid": rows["uid"],
        }
    )
    out = frame.groupby("lid", sort=False).agg(
        first=("t", "min"),
        start=("new_t", "min"),
        origin_new=("origin_new", "any"),
        end=("hup_t", "max"),
        dial_answer=("dial_answer_t", "min"),
        dialled_any=("dial", "any"),
        up_any=("up", "any"),
        up_first=("up_t", "min"),
        join=("join_t", "min"),
        connect=("connect_t", "min"),
        leave=("leave_t", "min"),
        abandoned=("abandon", "any"),
        left=("left_t", "max"),
        channels=("uid", "nunique"),
    )
    hung = frame[is_hup].groupby("lid")["uid"].nunique()
    out["in_progress"] = hung.reindex(out.index).fillna(0).to_numpy() < out["channels"].to_numpy()
    out["end"] = out["end"].where(~out["in_progress"])
    out["start"] = out["start"].fillna(out["first"])
    out["partial"] = ~out["origin_new"]
    return out


def _caller(rows: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Caller and dialled number: the originating channel's (Uniqueid == Linkedid), else the call's first channel's."""
    rank = np.where(rows["uid"] == rows["lid"], 0, 1)
    primary = rows.assign(rank=rank).sort_values(["rank", "seq"], kind="stable")
    primary = primary.drop_duplicates("lid").set_index("lid")["uid"]
    mine = rows[rows["uid"].to_numpy() == primary.reindex(rows["lid"]).to_numpy()]
    who = mine.assign(caller_num=known(mine["CallerIDNum"]), caller_name=known(mine["CallerIDName"]))
    who = who.groupby("lid", sort=False).agg(caller_num=("caller_num", "last"), caller_name=("caller_name", "last"))
    first_new = mine[mine["ev"] == "Newchannel"].drop_duplicates("lid").set_index("lid")["Exten"]
    first_any = mine.drop_duplicates("lid").set_index("lid")["Exten"]
    who = who.reindex(index)
    who["dialled"] = first_new.reindex(index).fillna(first_any.reindex(index))
    return who


def _cause(rows: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Hangup cause: the originating channel's, unless it says 0 and another channel gives a reason."""
    hups = rows[rows["ev"] == "Hangup"]
    rank = np.where(hups["cause"].fillna(0) != 0, 0, 2) + np.where(hups["uid"] == hups["lid"], 0, 1)
    cause = hups.assign(rank=rank).sort_values(["rank", "seq"], kind="stable").drop_duplicates("lid")
    return cause.set_index("lid")[["cause", "Cause-txt"]].reindex(index)


def _queue_parts(rows: pd.DataFrame, index: pd.Index) -> tuple[pd.Series, pd.Series]:
    """The agent who connected (member name, else interface) and the queue joined first, per call."""
    agent_rows = rows[rows["ev"] == "AgentConnect"].drop_duplicates("lid", keep="first").set_index("lid")
    agent = agent_rows["MemberName"].fillna(agent_rows["Interface"]).reindex(index)
    queue = rows[rows["ev"] == "QueueCallerJoin"].drop_duplicates("lid").set_index("lid")["Queue"].reindex(index)
    return agent, queue


def _answering_dial(rows: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Per call, the DestChannel of the last answered dial, but none made after the call was transferred (that
    one is the transfer target, while ``answer`` and ``wait`` belong to whoever answered first)."""
    dials = rows[(rows["ev"] == "DialEnd") & (rows["DialStatus"] == "ANSWER")]
    cut = _transfer_times(events).reindex(dials["lid"].to_numpy())
    later = dials["t"].reset_index(drop=True) > cut.reset_index(drop=True)  # NaT (no transfer) compares False
    dials = dials[~later.to_numpy()]
    return dials.drop_duplicates("lid", keep="last").set_index("lid")["DestChannel"]


def _disposition(rows: pd.DataFrame, out: pd.DataFrame, answered: pd.Series, code: pd.Series) -> np.ndarray:
    """One of :data:`DISPOSITIONS` per call (None while an unanswered call is in progress)."""
    queued = out["join"].notna()
    last_dial = rows[rows["ev"] == "DialEnd"].drop_duplicates("lid", keep="last").set_index("lid")["DialStatus"]
    by_cause = np.select([code.isin(BUSY_CAUSES), code.isin(NOANSWER_CAUSES)], ["busy", "no answer"], default="failed")
    by_dial = last_dial.reindex(out.index).map(DIAL_DISPOSITIONS).fillna(pd.Series(by_cause, index=out.index))
    timed_out = queued & ~out["abandoned"] & out["left"].notna()  # left the queue unanswered: a timeout
    disposition = np.select(
        [answered.to_numpy(), timed_out.to_numpy(), queued.to_numpy(), out["dialled_any"].to_numpy()],
        ["answered", "no answer", "abandoned", by_dial.to_numpy(dtype=object)],
        default=by_cause,
    )
    pending = (out["in_progress"] & ~answered).to_numpy()
    return np.where(pending, np.array(None, dtype=object), disposition)


def _transfer_times(events: pd.DataFrame) -> pd.Series:
    """Linkedid -> time of the call's first successful ``BlindTransfer`` / ``AttendedTransfer`` (any Linkedid key)."""
    ev = col(events, "Event")
    xfer = events[ev.isin(TRANSFER_EVENTS).to_numpy()]
    names = [c for c in TRANSFER_LINKED if c in xfer.columns]
    if xfer.empty or not names:
        return pd.Series(dtype="datetime64[ns, UTC]")
    if "Result" in xfer.columns:
        xfer = xfer[col(xfer, "Result").fillna("Success").eq("Success").to_numpy()]
    t = event_times(xfer)
    pairs = pd.concat([pd.DataFrame({"lid": col(xfer, c).to_numpy(), "t": t.array}) for c in names])
    return pairs.dropna(subset=["lid"]).groupby("lid")["t"].min()


def as_calls(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`calls` table as is, or the calls of an events frame."""
    if {"linkedid", "disposition", "start"}.issubset(table.columns):
        return table
    return calls(table)

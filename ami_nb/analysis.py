"""Call analytics: events frames -> calls, channels, queue and concurrency tables, and plots.

Pure pandas, no IO. Every function takes an events frame as a live ``session.events.frame()`` or a replayed
recording (:func:`ami_nb.recording.read_transcript`) gives it: a ``received`` column, then AMI keys. They also
accept frames with columns missing entirely, ignore events that are not about calls, and tolerate a stream joined
mid-call (such a call is flagged ``partial=True``). Event times come from ``Timestamp`` when the server sends it
(``timestampevents=yes``), else from ``received``.

Durations (``wait``, ``talk``, ``duration``...) are float seconds.

==========================  =====================================================================================
``calls(events)``           one row per call (Linkedid): times, waits, caller, answering party, disposition...
``channels(events)``        one row per channel (Uniqueid): created, answered, hung up, cause, caller
``queue_stats(events)``     per queue (or ``by="agent"``): offered, answered, abandoned, timed out, waits, SL
``concurrency(events)``     calls up at each bin's start, the peak within it, calls started
``kpis(calls)``             the headline numbers; ``disposition_summary(calls)``: calls by outcome
``cdrs(events)``            Asterisk's own ``Cdr`` events as a table, to check against
``plot_*``                  volume, concurrency and wait plots (matplotlib: ``pip install ami_nb[plot]``)
==========================  =====================================================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DISPOSITIONS",
    "calls",
    "cdrs",
    "channels",
    "concurrency",
    "disposition_summary",
    "kpis",
    "plot_concurrency",
    "plot_volume",
    "plot_wait_distribution",
    "queue_stats",
]

#: The dispositions :func:`calls` reports, in display order.
DISPOSITIONS = ["answered", "busy", "no answer", "failed", "abandoned"]

#: Snapshot events that describe channels but are not call progress (list items, summaries).
_NOT_CALL_EVENTS = frozenset(
    {
        "CEL",
        "Cdr",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "Status",
        "StatusComplete",
        "QueueEntry",
        "QueueMember",
        "QueueParams",
        "DeviceStateChange",
        "ExtensionStatus",
        "OriginateResponse",
        "ChannelHungup",
    }
)
_TRANSFER_EVENTS = ("BlindTransfer", "AttendedTransfer")
_TRANSFER_LINKED = (
    "TransfererLinkedid",
    "TransfereeLinkedid",
    "OrigTransfererLinkedid",
    "SecondTransfererLinkedid",
    "TransferTargetLinkedid",
)
_NO_ID = ("", "none", "<unknown>")
_UNKNOWN = ("", "<unknown>")
#: Hangup causes (Q.850) that tell why an unanswered call failed.
_BUSY_CAUSES = (17,)
_NOANSWER_CAUSES = (16, 18, 19, 21, 31)
_CDR_DISPOSITIONS = {
    "ANSWERED": "answered",
    "BUSY": "busy",
    "NO ANSWER": "no answer",
    "FAILED": "failed",
    "CONGESTION": "failed",
}
_DIAL_DISPOSITIONS = {
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
_CHANNEL_SUFFIX = r"-[0-9a-fA-F]{6,}(?:;\d)?$"


# -- helpers ------------------------------------------------------------------------------------------------
def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as pandas strings (missing values NaN), or an all-missing column when absent.

    Categories and strings convert without a Python step per row; a repeated key's tuple gives its first value
    (as ``Message[key]`` does).
    """
    if name not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="str")
    s = df[name]
    if s.dtype == object:
        s = s.map(lambda v: v[0] if isinstance(v, tuple) and v else v)
    return s.astype("str")


def _typed(df: pd.DataFrame, times: tuple[str, ...], texts: tuple[str, ...]) -> pd.DataFrame:
    """Output dtypes: UTC datetimes, and pandas strings for text (missing values are NaN)."""
    for c in times:
        df[c] = df[c].astype("datetime64[ns, UTC]")
    for c in texts:
        df[c] = df[c].astype("str")
    return df


def _num(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as float (NaN when missing or not a number)."""
    if name not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    s = df[name]
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    return pd.to_numeric(_col(df, name), errors="coerce").astype("float64")


def _utc(s: pd.Series) -> pd.Series:
    """Datetimes in UTC from datetimes, epoch seconds (numbers or strings) or ISO strings."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        return s.astype("datetime64[ns, UTC]")  # one unit throughout (frames may come in s, ms or us)
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().any() or s.isna().all():
        return pd.to_datetime(num * 1e9, utc=True).astype("datetime64[ns, UTC]")
    return pd.to_datetime(s, utc=True, errors="coerce").astype("datetime64[ns, UTC]")


def _times(df: pd.DataFrame) -> pd.Series:
    """Per-row event time: ``Timestamp`` when present, else ``received``."""
    t = (
        _utc(df["received"])
        if "received" in df.columns
        else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    )
    if "Timestamp" in df.columns:
        t = _utc(df["Timestamp"]).fillna(t)
    return t


def _ids(s: pd.Series) -> pd.Series:
    return s.where(~s.isin(_NO_ID))


def _known(s: pd.Series) -> pd.Series:
    return s.where(~s.isin(_UNKNOWN))


def _seconds(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds()


_ROW_TEXT = (
    "Channel",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "Exten",
    "Context",
    "Cause-txt",
    "DestChannel",
    "DialStatus",
    "Queue",
    "MemberName",
    "Interface",
)


def _call_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The call-progress rows, normalised: ``seq``, ``t``, ``ev``, ``uid``, ``lid`` and the fields the tables
    need (text as pandas strings, ``state`` and ``cause`` as floats)."""
    if events is None or len(events) == 0:
        events = pd.DataFrame({"received": pd.Series([], dtype="datetime64[ns, UTC]")})
    events = events.reset_index(drop=True)
    ev = _col(events, "Event")
    lid = _ids(_col(events, "Linkedid"))
    # An Originate's own dial (DialBegin/DialEnd with no calling channel) belongs to the destination's call.
    dial = ev.isin(("DialBegin", "DialEnd"))
    if dial.any():
        lid = lid.where(lid.notna(), _ids(_col(events, "DestLinkedid")).where(dial))
    keep = (lid.notna() & ev.notna() & ~ev.isin(_NOT_CALL_EVENTS)).to_numpy()
    sub = events[keep]
    df = pd.DataFrame(
        {
            "seq": np.flatnonzero(keep),
            "t": _times(sub),
            "ev": ev[keep],
            "uid": _ids(_col(sub, "Uniqueid")),
            "lid": lid[keep],
        },
        index=sub.index,
    )
    for key in _ROW_TEXT:
        df[key] = _col(sub, key)
    df["state"] = _num(sub, "ChannelState")
    df["cause"] = _num(sub, "Cause")
    return df


def _first_by(df: pd.DataFrame, key: str, cols: list[str]) -> pd.DataFrame:
    """The first row per ``key`` (in arrival order), restricted to ``cols``."""
    return df.drop_duplicates(key, keep="first").set_index(key)[cols]


def _up(df: pd.DataFrame) -> pd.Series:
    return (df["ChannelStateDesc"] == "Up") | (df["state"] == 6)


def _device(channel: pd.Series) -> pd.Series:
    """``PJSIP/201-0000000a`` -> ``PJSIP/201``; ``Local/200@demo-0000000c;1`` -> ``Local/200@demo``."""
    return channel.astype("str").str.replace(_CHANNEL_SUFFIX, "", regex=True)


# -- channels -----------------------------------------------------------------------------------------------
_CHANNEL_COLUMNS = [
    "uniqueid",
    "linkedid",
    "channel",
    "created",
    "answered",
    "hungup",
    "duration",
    "talk",
    "cause",
    "cause_txt",
    "context",
    "exten",
    "caller_num",
    "caller_name",
    "state",
    "partial",
]


def channels(events: pd.DataFrame) -> pd.DataFrame:
    """One row per channel (``Uniqueid``) with its lifecycle.

    ``created`` (``Newchannel``), ``answered`` (first ``Newstate`` to Up), ``hungup`` (``Hangup``), ``duration``
    and ``talk`` in seconds, hangup ``cause``/``cause_txt``, ``context``/``exten`` where it started, the last
    known caller (``caller_num``/``caller_name``), last ``state``; ``partial`` when its ``Newchannel`` was not seen
    (the stream was joined mid-call; ``duration`` then counts from the first event seen).
    """
    rows = _call_rows(events)
    rows = rows[rows["uid"].notna()]
    if rows.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in _CHANNEL_COLUMNS})
        empty["cause"] = empty["cause"].astype("Int64")
        empty["partial"] = empty["partial"].astype(bool)
        empty[["duration", "talk"]] = empty[["duration", "talk"]].astype(float)
        return _typed(empty, _CHANNEL_TIMES, _CHANNEL_TEXTS)
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
            "answered": t.where((rows["ev"] == "Newstate") & _up(rows)),
            "hungup": t.where(is_hup),
            "caller_num": _known(rows["CallerIDNum"]),
            "caller_name": _known(rows["CallerIDName"]),
            "state": rows["ChannelStateDesc"],
        }
    )
    g = agg.groupby("uid", sort=False)
    out = g.agg(
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
    start = _first_by(rows[is_new], "uid", ["Context", "Exten"])
    fallback = _first_by(rows, "uid", ["Context", "Exten"])
    place = start.reindex(out.index).fillna(fallback.reindex(out.index))
    hup = _first_by(rows[is_hup], "uid", ["cause", "Cause-txt"]).reindex(out.index)
    begin = out["created"].fillna(out["first"])
    result = pd.DataFrame(
        {
            "uniqueid": out.index.to_series().astype(object),
            "linkedid": out["linkedid"],
            "channel": out["channel"],
            "created": out["created"],
            "answered": out["answered"],
            "hungup": out["hungup"],
            "duration": _seconds(out["hungup"] - begin),
            "talk": _seconds(out["hungup"] - out["answered"]),
            "cause": hup["cause"].astype("Int64"),
            "cause_txt": hup["Cause-txt"],
            "context": place["Context"],
            "exten": place["Exten"],
            "caller_num": out["caller_num"],
            "caller_name": out["caller_name"],
            "state": out["state"],
            "partial": out["created"].isna(),
        }
    )
    result = _typed(result, _CHANNEL_TIMES, _CHANNEL_TEXTS)
    return result.sort_values(["created", "uniqueid"], na_position="first", kind="stable").reset_index(drop=True)


_CHANNEL_TIMES = ("created", "answered", "hungup")
_CHANNEL_TEXTS = (
    "uniqueid",
    "linkedid",
    "channel",
    "cause_txt",
    "context",
    "exten",
    "caller_num",
    "caller_name",
    "state",
)


# -- calls --------------------------------------------------------------------------------------------------
_CALL_COLUMNS = [
    "linkedid",
    "start",
    "answer",
    "end",
    "wait",
    "talk",
    "duration",
    "caller_num",
    "caller_name",
    "dialled",
    "answered_by",
    "disposition",
    "cause",
    "cause_txt",
    "queue",
    "agent",
    "queue_wait",
    "transferred",
    "channels",
    "partial",
    "in_progress",
]

_CALL_TIMES = ("start", "answer", "end")
_CALL_TEXTS = (
    "linkedid",
    "caller_num",
    "caller_name",
    "dialled",
    "answered_by",
    "disposition",
    "cause_txt",
    "queue",
    "agent",
)


def _empty_calls() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in _CALL_COLUMNS})
    for c in ("wait", "talk", "duration", "queue_wait"):
        df[c] = df[c].astype(float)
    for c in ("transferred", "partial", "in_progress"):
        df[c] = df[c].astype(bool)
    df["channels"] = df["channels"].astype(int)
    df["cause"] = df["cause"].astype("Int64")
    return _typed(df, _CALL_TIMES, _CALL_TEXTS)


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
    rows = _call_rows(events)
    if rows.empty:
        return _empty_calls()
    ev = rows["ev"]
    t = rows["t"]
    lid = rows["lid"]
    is_origin = rows["uid"] == lid
    is_hup = ev == "Hangup"
    dial_end = ev == "DialEnd"
    answered_dial = dial_end & (rows["DialStatus"] == "ANSWER")
    connect = ev == "AgentConnect"
    join = ev == "QueueCallerJoin"
    leave = ev.isin(("QueueCallerLeave", "QueueCallerAbandon"))
    left = ev == "QueueCallerLeave"

    frame = pd.DataFrame(
        {
            "lid": lid,
            "t": t,
            "new_t": t.where(ev == "Newchannel"),
            "origin_new": (ev == "Newchannel") & is_origin,
            "hup_t": t.where(is_hup),
            "dial_answer_t": t.where(answered_dial),
            "dial": ev.isin(("DialBegin", "DialEnd")),
            "up": _up(rows) & ev.ne("DialEnd") & ev.ne("DialBegin"),
            "up_t": t.where((ev == "Newstate") & _up(rows)),
            "join_t": t.where(join),
            "connect_t": t.where(connect),
            "leave_t": t.where(leave),
            "abandon": ev == "QueueCallerAbandon",
            "left_t": t.where(left),
            "uid": rows["uid"],
            "is_hup": is_hup,
        }
    )
    g = frame.groupby("lid", sort=False)
    out = g.agg(
        first=("t", "min"),
        last=("t", "max"),
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
    hung = frame[frame["is_hup"]].groupby("lid")["uid"].nunique()
    out["in_progress"] = hung.reindex(out.index).fillna(0).to_numpy() < out["channels"].to_numpy()
    out["end"] = out["end"].where(~out["in_progress"])
    out["start"] = out["start"].fillna(out["first"])
    out["partial"] = ~out["origin_new"]

    # Caller and dialled number: the originating channel (Uniqueid == Linkedid), else the call's first channel.
    primary = rows.assign(rank=np.where(is_origin, 0, 1)).sort_values(["rank", "seq"], kind="stable")
    primary = primary.drop_duplicates("lid").set_index("lid")["uid"]
    mine = rows[rows["uid"].to_numpy() == primary.reindex(rows["lid"]).to_numpy()]
    who = mine.assign(caller_num=_known(mine["CallerIDNum"]), caller_name=_known(mine["CallerIDName"]))
    who = who.groupby("lid", sort=False).agg(caller_num=("caller_num", "last"), caller_name=("caller_name", "last"))
    first_new = mine[mine["ev"] == "Newchannel"].drop_duplicates("lid").set_index("lid")["Exten"]
    first_any = mine.drop_duplicates("lid").set_index("lid")["Exten"]
    dialled = first_new.reindex(out.index).fillna(first_any.reindex(out.index))

    # Hangup cause: the originating channel's, unless it says 0 and another channel gives a reason.
    hups = rows[is_hup].assign(
        rank=np.where(rows.loc[is_hup, "cause"].fillna(0) != 0, 0, 2) + np.where(is_origin[is_hup], 0, 1)
    )
    cause = hups.sort_values(["rank", "seq"], kind="stable").drop_duplicates("lid").set_index("lid")
    cause = cause.reindex(out.index)

    last_dial = rows[dial_end].drop_duplicates("lid", keep="last").set_index("lid")["DialStatus"].reindex(out.index)
    # The answering party: the last answered dial, but none made after the call was transferred (that one is the
    # transfer target, while `answer` and `wait` belong to whoever answered first).
    dials = rows[answered_dial]
    cut = _transfer_times(events).reindex(dials["lid"].to_numpy())
    later = dials["t"].reset_index(drop=True) > cut.reset_index(drop=True)  # NaT (no transfer) compares False
    dials = dials[~later.to_numpy()]
    answer_dial = dials.drop_duplicates("lid", keep="last").set_index("lid")["DestChannel"]
    agent_rows = rows[connect].drop_duplicates("lid", keep="first").set_index("lid")
    agent = agent_rows["MemberName"].fillna(agent_rows["Interface"]).reindex(out.index)
    queue = rows[join].drop_duplicates("lid").set_index("lid")["Queue"].reindex(out.index)

    queued = out["join"].notna()
    # a queue call is answered by an agent, or by a dial after it left the queue (a timeout sent elsewhere)
    after_queue = out["dial_answer"].where(out["dial_answer"] > out["left"])
    answer = (
        out["connect"].fillna(after_queue).where(queued, out["dial_answer"].where(out["dialled_any"], out["up_first"]))
    )
    answered = np.where(queued | out["dialled_any"], answer.notna(), out["up_any"])
    code = cause["cause"]
    by_cause = np.select(
        [code.isin(_BUSY_CAUSES), code.isin(_NOANSWER_CAUSES)], ["busy", "no answer"], default="failed"
    )
    by_dial = last_dial.map(_DIAL_DISPOSITIONS).fillna(pd.Series(by_cause, index=out.index))
    timed_out = queued & ~out["abandoned"] & out["left"].notna()  # left the queue unanswered: a timeout
    disposition = np.select(
        [answered, timed_out.to_numpy(), queued.to_numpy(), out["dialled_any"].to_numpy()],
        ["answered", "no answer", "abandoned", by_dial.to_numpy(dtype=object)],
        default=by_cause,
    )
    disposition = np.where(out["in_progress"] & ~answered, None, disposition)

    end = out["end"]
    # An unanswered call rang until it ended; an answered one until its answer. An answered call whose answer was
    # not seen (joined mid-call) has no known wait: NaN, never its whole duration.
    ringing_until = answer.where(answered, end)
    queue_end = out["connect"].fillna(out["leave"])
    result = pd.DataFrame(
        {
            "linkedid": out.index.astype(object),
            "start": out["start"],
            "answer": answer,
            "end": end,
            "wait": _seconds(ringing_until - out["start"]),
            "talk": _seconds(end - answer),
            "duration": _seconds(end - out["start"]),
            "caller_num": who["caller_num"].reindex(out.index),
            "caller_name": who["caller_name"].reindex(out.index),
            "dialled": dialled,
            "answered_by": agent.fillna(_device(answer_dial.reindex(out.index))).where(answered),
            "disposition": disposition,
            "cause": cause["cause"].astype("Int64"),
            "cause_txt": cause["Cause-txt"],
            "queue": queue,
            "agent": agent,
            "queue_wait": _seconds(queue_end - out["join"]),
            "transferred": _transferred(events, out.index),
            "channels": out["channels"].astype(int),
            "partial": out["partial"].astype(bool),
            "in_progress": out["in_progress"].astype(bool),
        }
    )
    result = _typed(result, _CALL_TIMES, _CALL_TEXTS)
    return result.sort_values(["start", "linkedid"], kind="stable").reset_index(drop=True)


def _transfer_times(events: pd.DataFrame) -> pd.Series:
    """Linkedid -> time of the call's first successful ``BlindTransfer`` / ``AttendedTransfer`` (any Linkedid key)."""
    ev = _col(events, "Event")
    xfer = events[ev.isin(_TRANSFER_EVENTS).to_numpy()]
    names = [c for c in _TRANSFER_LINKED if c in xfer.columns]
    if xfer.empty or not names:
        return pd.Series(dtype="datetime64[ns, UTC]")
    if "Result" in xfer.columns:
        xfer = xfer[_col(xfer, "Result").fillna("Success").eq("Success").to_numpy()]
    t = _times(xfer)
    pairs = pd.concat([pd.DataFrame({"lid": _col(xfer, c).to_numpy(), "t": t.array}) for c in names])
    return pairs.dropna(subset=["lid"]).groupby("lid")["t"].min()


def _transferred(events: pd.DataFrame, linkedids: pd.Index) -> np.ndarray:
    """True for calls named in a ``BlindTransfer`` / ``AttendedTransfer`` event (by any of its Linkedid keys)."""
    return np.asarray(linkedids.isin(_transfer_times(events).index), dtype=bool)


def disposition_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Calls by disposition: count, share, mean and 90th percentile wait, mean talk (from :func:`calls` or events)."""
    c = _as_calls(table)
    done = c[~c["in_progress"] & c["disposition"].notna()]  # ended calls only, as kpis() counts them
    g = done.groupby("disposition", sort=False)
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "share": g.size() / max(len(done), 1),
            "wait_mean": g["wait"].mean(),
            "wait_p90": g["wait"].quantile(0.9),
            "talk_mean": g["talk"].mean(),
        }
    )
    order = [d for d in DISPOSITIONS if d in out.index]
    out = out.reindex(order)
    out.index.name = "disposition"
    return out


def kpis(table: pd.DataFrame, service_level: float = 20) -> pd.Series:
    """The headline numbers of a calls table (or of events): a Series.

    ``calls`` (ended), ``in_progress``, ``answered``, ``answer_rate`` (share of ended calls answered),
    ``abandon_rate`` (share of queue calls abandoned), ``wait_mean`` and ``wait_p90`` of answered calls (ring or
    queue time until answer), ``talk_mean`` (average talk time of answered calls), ``service_level`` (share of
    queue calls answered within ``service_level`` seconds of joining), ``transferred`` and ``peak_concurrent``.
    Times in seconds; rates in 0..1 (NaN when there is nothing to divide).
    """
    c = _as_calls(table)
    done = c[~c["in_progress"]]
    answered = done[done["disposition"] == "answered"]
    queued = done[done["queue"].notna()]
    fast = (queued["disposition"] == "answered") & (queued["queue_wait"] <= service_level)
    conc = concurrency(c, "1min") if len(c) else None
    return pd.Series(
        {
            "calls": len(done),
            "in_progress": int(c["in_progress"].sum()),
            "answered": len(answered),
            "answer_rate": len(answered) / len(done) if len(done) else np.nan,
            "abandon_rate": (queued["disposition"] == "abandoned").mean() if len(queued) else np.nan,
            "wait_mean": answered["wait"].mean(),
            "wait_p90": answered["wait"].quantile(0.9),
            "talk_mean": answered["talk"].mean(),
            "service_level": fast.mean() if len(queued) else np.nan,
            "transferred": int(done["transferred"].sum()),
            "peak_concurrent": int(conc["peak"].max()) if conc is not None and len(conc) else 0,
        },
        dtype=object,
    )


# -- CDRs ---------------------------------------------------------------------------------------------------
def cdrs(events: pd.DataFrame) -> pd.DataFrame:
    """The ``Cdr`` events (cdr_manager) as a table: ``uniqueid``, ``channel``, ``source``, ``destination``,
    ``disposition`` (mapped to :data:`DISPOSITIONS`), ``start``/``answer``/``end`` (as the server's local time,
    naive), ``duration`` and ``billsec`` (whole seconds)."""
    ev = _col(events, "Event") if len(events) else pd.Series([], dtype=object)
    c = events[ev.eq("Cdr").to_numpy()] if len(events) else events
    uid = _col(c, "UniqueID")
    if "Uniqueid" in c.columns:
        uid = uid.fillna(_col(c, "Uniqueid"))

    def when(name: str) -> pd.Series:
        text = _col(c, name)
        return pd.to_datetime(text.where(text != ""), errors="coerce", format="%Y-%m-%d %H:%M:%S")

    return pd.DataFrame(
        {
            "uniqueid": uid,
            "channel": _col(c, "Channel"),
            "destination_channel": _col(c, "DestinationChannel"),
            "source": _col(c, "Source"),
            "destination": _col(c, "Destination"),
            "disposition": _col(c, "Disposition").map(_CDR_DISPOSITIONS),
            "start": when("StartTime"),
            "answer": when("AnswerTime"),
            "end": when("EndTime"),
            "duration": _num(c, "Duration").astype("Int64"),
            "billsec": _num(c, "BillableSeconds").astype("Int64"),
        }
    ).reset_index(drop=True)


# -- queues -------------------------------------------------------------------------------------------------
_QUEUE_COLUMNS = ["offered", "answered", "abandoned", "timed_out", "wait_mean", "wait_p90", "service_level"]


def _queue_entries(events: pd.DataFrame) -> pd.DataFrame:
    """One row per caller's stay in a queue: join, connect/abandon/leave times, agent, wait (seconds)."""
    rows = _call_rows(events)
    ev = rows["ev"]
    key = ["uid", "Queue"]
    joins = rows[ev == "QueueCallerJoin"].drop_duplicates(key)[[*key, "t", "lid"]].rename(columns={"t": "join"})
    if joins.empty:
        cols = ["uid", "Queue", "join", "lid", "connect", "agent", "end", "answered", "abandoned", "timed_out"]
        return pd.DataFrame(columns=cols)
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
    e["wait"] = _seconds(e["end"] - e["join"])
    return e


_AGENT_COLUMNS = ["offered", "answered", "ring_no_answer", "answer_rate", "wait_mean", "wait_p90", "talk_mean"]


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
        out = pd.DataFrame(columns=_QUEUE_COLUMNS)
        out.index = pd.Index([], name="queue")
        return out
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
    return out


def _agent_stats(events: pd.DataFrame) -> pd.DataFrame:
    ev = _col(events, "Event")

    def per_agent(name: str) -> pd.DataFrame:
        sub = events[ev.eq(name).to_numpy()]
        agent = _col(sub, "MemberName").fillna(_col(sub, "Interface"))
        return pd.DataFrame({"queue": _col(sub, "Queue").to_numpy(), "agent": agent.to_numpy(), "sub": range(len(sub))},
                            index=sub.index).dropna(subset=["queue", "agent"])

    rung = per_agent("AgentCalled").groupby(["queue", "agent"]).size()
    missed = per_agent("AgentRingNoAnswer").groupby(["queue", "agent"]).size()
    done = per_agent("AgentComplete")
    talk = pd.to_numeric(_col(events.loc[done.index], "TalkTime"), errors="coerce")
    talk_mean = done.assign(talk=talk.to_numpy()).groupby(["queue", "agent"])["talk"].mean()
    e = _queue_entries(events)
    e = e[e["answered"]].rename(columns={"Queue": "queue"}) if not e.empty else pd.DataFrame(
        columns=["queue", "agent", "wait"])
    g = e.groupby(["queue", "agent"], sort=True)["wait"]
    out = pd.DataFrame({"answered": g.size(), "wait_mean": g.mean(), "wait_p90": g.quantile(0.9)})
    out = out.join(rung.rename("offered"), how="outer").join(missed.rename("ring_no_answer"), how="left")
    out = out.join(talk_mean.rename("talk_mean"), how="left")
    for col in ("offered", "answered", "ring_no_answer"):
        out[col] = out[col].fillna(0).astype(int)
    out["offered"] = out[["offered", "answered"]].max(axis=1)  # a stream joined mid-ring saw no AgentCalled
    out["answer_rate"] = out["answered"] / out["offered"].where(out["offered"] > 0)
    out = out.reindex(columns=_AGENT_COLUMNS).sort_index()
    out.index = out.index.set_names(["queue", "agent"])
    return out


# -- concurrency --------------------------------------------------------------------------------------------
def concurrency(events: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Concurrent calls over time, in bins of ``freq``.

    Columns: ``active`` (calls up at the bin's start), ``peak`` (most calls up at once within the bin) and
    ``started`` (calls that began in the bin). A call still in progress counts until the latest call start or
    end in the data (the stream's horizon), since it was still up then.
    """
    c = _as_calls(events)
    cols = ["active", "peak", "started"]
    if c.empty or c["start"].isna().all():
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], tz="UTC", name="time"), dtype=int)
    horizon = pd.concat([c["start"], c["end"]]).max()
    end = c["end"].fillna(horizon)
    steps = pd.DataFrame(
        {
            "time": pd.concat([c["start"], end], ignore_index=True),
            "delta": np.r_[np.ones(len(c), dtype=int), -np.ones(len(c), dtype=int)],
        }
    ).dropna()
    steps = steps.sort_values(["time", "delta"], kind="stable")  # an end before a start at the same instant
    level = pd.Series(steps["delta"].cumsum().to_numpy(), index=pd.DatetimeIndex(steps["time"]))
    start_bin = level.index.min().floor(freq)
    grid = pd.date_range(start_bin, level.index.max().floor(freq), freq=freq, name="time")
    within = level.resample(freq, origin=start_bin).max().reindex(grid)
    at = np.searchsorted(level.index.asi8, grid.asi8, side="right") - 1  # last change at or before each bin start
    active = pd.Series(np.where(at >= 0, level.to_numpy()[np.maximum(at, 0)], 0), index=grid)
    peak = np.maximum(within.fillna(-1).to_numpy(), active.to_numpy()).astype(int)
    started = pd.Series(1, index=pd.DatetimeIndex(c["start"].dropna())).resample(freq, origin=start_bin).sum()
    return pd.DataFrame(
        {"active": active.to_numpy(), "peak": peak, "started": started.reindex(grid).fillna(0).astype(int).to_numpy()},
        index=grid,
    )


# -- plots --------------------------------------------------------------------------------------------------
def _as_calls(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`calls` table as is, or the calls of an events frame."""
    if {"linkedid", "disposition", "start"}.issubset(table.columns):
        return table
    return calls(table)


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install ami_nb[plot]") from exc
    return plt


def plot_volume(table: pd.DataFrame, freq: str = "5min", ax: Any = None) -> Any:
    """Stacked bars of calls started per ``freq``, by disposition (from events or a :func:`calls` table)."""
    plt = _pyplot()
    c = _as_calls(table)
    c = c[c["start"].notna()]
    counts = (
        c.assign(disposition=c["disposition"].fillna("in progress"))
        .groupby([pd.Grouper(key="start", freq=freq), "disposition"])
        .size()
        .unstack(fill_value=0)
    )
    counts = counts.reindex(columns=[d for d in [*DISPOSITIONS, "in progress"] if d in counts.columns])
    counts.index = counts.index.strftime("%H:%M")
    ax = ax or plt.subplots(figsize=(9, 3.5))[1]
    counts.plot.bar(stacked=True, ax=ax, width=0.85)
    ax.legend(title="disposition", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xlabel(f"start ({freq} bins, UTC)")
    ax.set_ylabel("calls")
    ax.set_title("Call volume by disposition")
    return ax


def plot_concurrency(table: pd.DataFrame, freq: str = "1min", ax: Any = None) -> Any:
    """Peak and start-of-bin concurrent calls over time."""
    plt = _pyplot()
    conc = concurrency(table, freq)
    ax = ax or plt.subplots(figsize=(9, 3))[1]
    conc[["peak", "active"]].plot(ax=ax, drawstyle="steps-post")
    ax.set_ylabel("concurrent calls")
    ax.set_title(f"Concurrent calls ({freq} bins)")
    return ax


def plot_wait_distribution(table: pd.DataFrame, bins: int = 30, ax: Any = None) -> Any:
    """Histogram of waits (seconds): queue waits when there were queue calls, else ring time, by disposition."""
    plt = _pyplot()
    c = _as_calls(table)
    col = "queue_wait" if c["queue_wait"].notna().any() else "wait"
    data = c[c[col].notna() & c["disposition"].notna()]
    wide = data.pivot(columns="disposition", values=col)
    wide = wide.reindex(columns=[d for d in DISPOSITIONS if d in wide.columns])
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    if not wide.empty:
        wide.plot.hist(bins=bins, alpha=0.6, ax=ax)
    ax.set_ylabel("calls")
    ax.set_xlabel(f"{col.replace('_', ' ')} (s)")
    ax.set_title("Wait distribution")
    return ax

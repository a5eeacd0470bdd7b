"""The channels and calls tables: one row per channel (Uniqueid), one row per call (Linkedid)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schemas
from ._events import call_rows, device, first_by, is_up, known, seconds
from ._legs import Legs, legs
from .queues import stints
from .transfers import transfer_rows

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
    """One row per call, ordered by start. A call is the channels created under one ``Linkedid`` (its id), and
    keeps them when Asterisk moves one to another Linkedid (a pickup, an attended or blonde transfer: a bridge
    gives its channels the oldest Linkedid); a Linkedid whose channels all moved to one other call (a pickup's
    picking phone) is folded into it (``linkedids`` lists them).

    Columns: ``linkedid``; ``start``/``answer``/``end`` (UTC datetimes; ``end`` is NaT until the call's last
    channel hung up, whichever Linkedid it carried then: ``in_progress``); ``wait`` (start to answer, or to the
    end when unanswered), ``talk`` (answer to end), ``duration`` (seconds); ``caller_num``/``caller_name`` and
    ``dialled`` (the first channel's caller and extension: for a click-to-dial Originate the A party, the phone
    rung first) and ``caller_channel`` (its device); ``answered_by``: the endpoint that answered, at the far end of
    any Local-channel chain (``PJSIP/201``; a Local device when its own dialplan answered), and ``hop``: the
    routing hop it answered through where it says something (the queue member interface, the ring group's or
    follow-me's Local channel); ``disposition``, one of :data:`DISPOSITIONS`; hangup ``cause``/``cause_txt`` (the
    first channel's, unless another one gives a reason where it says 0); queue calls: ``queue`` and ``agent``
    (of the last stint), ``queues`` (every queue, in order, ``>``-joined), ``queue_outcome`` (the last stint's,
    see :func:`queue_stints`), ``queue_wait`` (seconds in queues, all stints); transfers: ``transferred``,
    ``transfer_type`` (blind / attended / blonde), ``transferer``, ``transfer_target``, ``transfer_time``,
    ``transfer_linkedid`` (the other call an attended transfer joined), ``before_transfer`` (talk before it) and
    ``after_transfer`` (seconds from it to the end); ``channels`` (count); ``partial`` (joined mid-call).

    Answered means the caller was bridged with another party (its channel, or the other half of its Local pair,
    entered a bridge with a channel outside it): an outbound leg that answered is not enough (a follow-me
    mobile that answered but was not accepted; a click-to-dial whose A party answered and whose B was busy).
    A queue call is answered when its last stint was (as contact-centre reports count it), abandoned when the
    caller hung up in the queue, ``no answer`` for the other queue exits (timeout, exit with key, join/leave
    empty, full) unless the dialplan then bridged the caller elsewhere; a call that dialled and was not bridged
    takes its last dial's status (BUSY, NOANSWER, CONGESTION/CHANUNAVAIL = failed); a call that never dialled is
    answered when a channel went Up, else it follows the hangup cause (17 busy; 16, 18, 19, 21 no answer; the
    rest failed). Streams without bridge events fall back to "a dial answered".
    """
    rows = call_rows(events)
    if rows.empty:
        return schemas.CALLS.empty()
    # a few dozen event names over every row: compared as categories (an int compare, not a string one)
    rows["ev"] = rows["ev"].astype("category")
    g = legs(rows)
    # the helpers below group and join on integer codes (g.names[code] is the id): a row's call is its channel's
    # owner, else the call that owns the channel its Linkedid names, else that Linkedid
    lid_call = np.where(g.owner_code[g.lid] >= 0, g.owner_code[g.lid], g.lid)
    rows = rows.assign(uid=g.uid, lid=g.lid, call=np.where(g.uid >= 0, g.owner_code[g.uid], lid_call))
    out = _spans(rows)
    who = _caller(rows, out.index)
    cause = _cause(rows, out.index)
    q = _queue_summary(_stints(rows), out.index)
    side = _caller_side(who["uid"], g)
    dial = _dials(rows, side, who["uid"], out.index, g)
    peer = _bridged(rows, g, side, q["connect"], out.index)
    moves = transfer_rows(events, rows, g)
    xfer = _transfers(moves, out.index, g)

    queued = q["stints"] > 0
    if g.has_bridges:
        bridged_answer = peer["t"]
        after_queue = bridged_answer.where(bridged_answer > q["left"])
        by_queue = q["connect"].where(q["outcome"] == "answered").fillna(after_queue)
        answer = by_queue.where(queued, bridged_answer.where(dial["dialled"], bridged_answer.fillna(out["up_first"])))
    else:  # no bridge events: the answered dial (or agent) is all there is to go by
        after_queue = out["dial_answer"].where(out["dial_answer"] > out["left"])
        legacy = out["dial_answer"].where(out["dialled_any"], out["up_first"])
        answer = q["connect"].where(q["outcome"] == "answered").fillna(after_queue).where(queued, legacy)
    answered = answer.notna() | (~queued & ~dial["dialled"] & out["up_any"] & ~out["dialled_any"])
    # A blonde transfer's consultation call is not answered: its caller (the transferer's second channel) left
    # before the target answered, and the target then talked to the transferee, on the transferee's call.
    peer_b = peer["b"]
    disposition = _disposition(out, q, dial, answered, cause["cause"])

    ends = _endpoints(g, peer_b, q)
    end = out["end"]
    # An unanswered call rang until it ended; an answered one until its answer. An answered call whose answer was
    # not seen (joined mid-call) has no known wait: NaN, never its whole duration.
    ringing_until = answer.where(answered, end)
    xt = xfer["transfer_time"]
    result = pd.DataFrame(
        {
            "linkedid": g.names[out.index.to_numpy()],
            "start": out["start"],
            "answer": answer,
            "end": end,
            "wait": seconds(ringing_until - out["start"]),
            "talk": seconds(end - answer),
            "duration": seconds(end - out["start"]),
            "caller_num": who["caller_num"],
            "caller_name": who["caller_name"],
            "dialled": who["dialled"],
            "answered_by": ends["answered_by"].fillna(q["agent"]).fillna(dial["answer_device"]).where(answered),
            "disposition": disposition,
            "cause": cause["cause"],
            "cause_txt": cause["Cause-txt"],
            "queue": q["queue"],
            "agent": q["agent"],
            "queue_wait": q["wait"],
            "transferred": xfer["transfer_type"].notna(),
            "channels": out["channels"],
            "partial": out["partial"],
            "in_progress": out["in_progress"],
            "caller_channel": _at(g.device_of, who["uid"]),
            "hop": ends["hop"].where(answered),
            "queues": q["queues"],
            "queue_outcome": q["outcome"],
            "transfer_type": xfer["transfer_type"],
            "transferer": xfer["transferer"],
            "transfer_target": xfer["target"],
            "transfer_time": xt,
            "transfer_linkedid": xfer["other_linkedid"],
            "before_transfer": seconds(xt - answer),
            "after_transfer": seconds(end - xt),
            "linkedids": _linkedids(rows, out.index, g),
        }
    )
    result = schemas.CALLS.apply(result)
    return result.sort_values(["start", "linkedid"], kind="stable").reset_index(drop=True)


def _spans(rows: pd.DataFrame) -> pd.DataFrame:
    """Per call: when it started and ended, when dials and Up states happened, how many channels.

    Reduced by numpy's ufunc.at over the code space (a few ms each, where a pandas groupby of the same columns
    costs tens), times as integer nanoseconds."""
    ev = rows["ev"]
    call = rows["call"].to_numpy()
    uid = rows["uid"].to_numpy()
    t = rows["t"].array.asi8
    size = int(max(call.max(), uid.max())) + 1  # codes run below it
    up = is_up(rows).to_numpy(dtype=bool, na_value=False)
    is_new = ev.eq("Newchannel").to_numpy()
    is_hup = ev.eq("Hangup").to_numpy()
    dial = ev.isin(("DialBegin", "DialEnd")).to_numpy()
    dial_answer = ev.eq("DialEnd").to_numpy() & rows["DialStatus"].eq("ANSWER").to_numpy(dtype=bool, na_value=False)
    index = pd.Index(np.flatnonzero(np.bincount(call, minlength=size)), name="call")

    def earliest(mask: np.ndarray) -> pd.Series:
        return _times(_reduce_at(np.minimum, call, t, mask, size)[index])

    def latest(mask: np.ndarray) -> pd.Series:
        return _times(_reduce_at(np.maximum, call, t, mask, size)[index])

    def any_of(mask: np.ndarray) -> np.ndarray:
        return np.bincount(call[mask], minlength=size)[index] > 0

    channels = _distinct(call, uid, uid >= 0, size)[index]
    hung = _distinct(call, uid, (uid >= 0) & is_hup, size)[index]
    in_progress = hung < channels
    out = pd.DataFrame(
        {
            "first": earliest(np.ones(len(call), dtype=bool)),
            "start": earliest(is_new),
            "end": latest(is_hup),
            "dial_answer": earliest(dial_answer),
            "dialled_any": any_of(dial),
            "up_any": any_of(up & ~dial),
            "up_first": earliest(ev.eq("Newstate").to_numpy() & up),
            "left": latest(ev.isin(("QueueCallerLeave", "QueueCallerAbandon")).to_numpy()),
            "channels": channels,
            "in_progress": in_progress,
            "partial": ~any_of(is_new & (uid == call)),
        },
        index=index,
    )
    out["end"] = out["end"].where(~in_progress)
    out["start"] = out["start"].fillna(out["first"])
    return out


_NAT = np.iinfo(np.int64).min


def _reduce_at(op: np.ufunc, call: np.ndarray, ns: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Per call code, ``op`` (np.minimum / np.maximum) of the times where ``mask`` (NaT skipped; NaT for none)."""
    ok = mask & (ns != _NAT)
    init = np.iinfo(np.int64).max if op is np.minimum else _NAT
    out = np.full(size, init, dtype=np.int64)
    op.at(out, call[ok], ns[ok])
    out[out == init] = _NAT
    return out


def _times(ns: np.ndarray) -> np.ndarray:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").array


def _distinct(call: np.ndarray, uid: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Per call code, how many distinct channels its rows where ``mask`` carried (a channel's rows all have its
    owner's call, so marking each channel once with it counts them; no sort or hash of the pairs)."""
    call_of = np.full(size, -1, dtype=np.int64)
    call_of[uid[mask]] = call[mask]
    return np.bincount(call_of[call_of >= 0], minlength=size)


def _caller(rows: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """The caller's channel (``uid``, a code, -1 for none: the originating one, Uniqueid == the call's id, else
    the call's first channel), its last known caller id and the extension it dialled first.

    By row positions per call code (numpy's ufunc.at), the text columns taken once at the rows chosen."""
    call = rows["call"].to_numpy()
    uid = rows["uid"].to_numpy()
    size = int(max(call.max(), uid.max())) + 1
    has_uid = uid >= 0
    # rows are in arrival order: a call's originating channel is the call id itself where one has it, else
    # the channel of its first row
    own = np.zeros(size, dtype=bool)
    own[call[has_uid & (uid == call)]] = True
    first = _first_at(call, has_uid, size)
    primary = np.where(own, np.arange(size), np.where(first >= 0, uid[np.maximum(first, 0)], -1))
    mine = has_uid & (uid == primary[call])
    num, name = known(rows["CallerIDNum"]), known(rows["CallerIDName"])
    at = index.to_numpy()
    first_new = _first_at(call, mine & rows["ev"].eq("Newchannel").to_numpy(), size)[at]
    first_any = _first_at(call, mine, size)[at]
    exten = rows["Exten"]
    return pd.DataFrame(
        {
            "caller_num": _pick(num, _last_at(call, mine & num.notna().to_numpy(), size)[at]).array,
            "caller_name": _pick(name, _last_at(call, mine & name.notna().to_numpy(), size)[at]).array,
            "dialled": _pick(exten, first_new).fillna(_pick(exten, first_any)).array,
            "uid": primary[at],
        },
        index=index,
    )


def _first_at(call: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Per call code, the position of its first row where ``mask`` (-1: none)."""
    none = np.iinfo(np.int64).max
    pos = np.full(size, none, dtype=np.int64)
    np.minimum.at(pos, call[mask], np.flatnonzero(mask))
    return np.where(pos == none, -1, pos)


def _last_at(call: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Per call code, the position of its last row where ``mask`` (-1: none)."""
    pos = np.full(size, -1, dtype=np.int64)
    np.maximum.at(pos, call[mask], np.flatnonzero(mask))
    return pos


def _pick(values: pd.Series, pos: np.ndarray) -> pd.Series:
    """``values`` at these row positions (NaN where -1), as an array of the column's dtype."""
    return pd.Series(values.array.take(pos, allow_fill=True))


def _cause(rows: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Hangup cause: the originating channel's, unless it says 0 and another channel gives a reason."""
    hups = rows[["call", "uid", "seq", "cause", "Cause-txt"]][rows["ev"] == "Hangup"]
    rank = np.where(hups["cause"].fillna(0) != 0, 0, 2) + np.where(hups["uid"] == hups["call"], 0, 1)
    cause = hups.assign(rank=rank).sort_values(["rank", "seq"], kind="stable").drop_duplicates("call")
    return cause.set_index("call")[["cause", "Cause-txt"]].reindex(index)


def _caller_side(primary: pd.Series, g: Legs) -> pd.DataFrame:
    """(call, uid): the caller's channel and, when it is a Local half, the other half (which runs the dialplan)."""
    p = primary[primary >= 0]
    mate = pd.Series(g.partner_code[p.to_numpy()], index=p.index)
    mate = mate[mate >= 0]
    return pd.concat(
        [
            pd.DataFrame({"call": p.index, "uid": p.to_numpy()}),
            pd.DataFrame({"call": mate.index, "uid": mate.to_numpy()}),
        ],
        ignore_index=True,
    )


def _dials(rows: pd.DataFrame, side: pd.DataFrame, primary: pd.Series, index: pd.Index, g: Legs) -> pd.DataFrame:
    """Per call: whether the caller's side dialled, the last status of its dials (else of the Originate's own
    dial of the caller), and the device an answered dial reached (for streams without bridges)."""
    is_dial = rows["ev"].isin(("DialBegin", "DialEnd"))
    d = rows[["call", "uid", "ev", "DialStatus", "DestUniqueid", "DestChannel"]][is_dial]
    mine = d.merge(side, on=["call", "uid"], how="inner")
    status = mine[mine["ev"] == "DialEnd"].drop_duplicates("call", keep="last").set_index("call")["DialStatus"]
    orig = d[(d["uid"] < 0) & (d["ev"] == "DialEnd")]
    caller = _at(g.names, primary.reindex(orig["call"], fill_value=-1))  # the caller channel's Uniqueid
    orig = orig[orig["DestUniqueid"].to_numpy() == caller.to_numpy()]
    orig_status = orig.drop_duplicates("call", keep="last").set_index("call")["DialStatus"]
    answered = d[(d["ev"] == "DialEnd") & (d["DialStatus"] == "ANSWER")]
    answer_dev = device(answered.drop_duplicates("call", keep="last").set_index("call")["DestChannel"])
    return pd.DataFrame(
        {
            "dialled": pd.Series(np.isin(index.to_numpy(), mine["call"].to_numpy()), index=index),
            "status": status.reindex(index).fillna(orig_status.reindex(index)),
            "answer_device": answer_dev.reindex(index),
        },
        index=index,
    )


def _bridged(rows: pd.DataFrame, g: Legs, side: pd.DataFrame, connect: pd.Series, index: pd.Index) -> pd.DataFrame:
    """Per call: the first channel outside the caller's side bridged with it (``b``) and when (``t``); for a
    queue call answered by an agent, the first one from the agent's connect on."""
    pairs = g.pairs.merge(side.rename(columns={"uid": "a"}), on="a")
    inside = pairs.merge(side.rename(columns={"uid": "b"}), on=["call", "b"], how="left", indicator=True)
    pairs = inside[inside["_merge"] == "left_only"].drop(columns="_merge")
    at = np.searchsorted(rows["seq"].to_numpy(), pairs["seq"].to_numpy())  # rows are in seq order, one a seq
    pairs = pairs.assign(t=rows["t"].array[at]).sort_values("seq", kind="stable")
    since = connect.reindex(pairs["call"]).to_numpy()
    late = pairs[~(pairs["t"].to_numpy() < since)]  # NaT connect compares False: every pair counts
    first = late.drop_duplicates("call").set_index("call")
    out = first[["b", "t"]].reindex(index).astype({"t": "datetime64[ns, UTC]"})
    out["b"] = out["b"].fillna(-1).astype(np.int64)  # a code; -1: bridged with nobody
    return out


def _endpoints(g: Legs, peer: pd.Series, q: pd.DataFrame) -> pd.DataFrame:
    """The endpoint device at the end of each call's answering chain, and the hop (a queue call's member
    interface, else the first Local hop of the chain)."""
    b = peer[peer >= 0]
    # a peer that is no Local half is its own endpoint (no hop): only the Local chains are walked
    walk = g.partner_code[b.to_numpy()] >= 0
    answered_by = np.full(len(peer), np.nan, dtype=object)
    hop = np.full(len(peer), np.nan, dtype=object)
    at = peer.index.get_indexer(b.index)
    answered_by[at[~walk]] = g.device_of[b.to_numpy()[~walk]]
    hop[at[~walk]] = None
    for i, uid in zip(at[walk], b[walk].tolist(), strict=True):
        answered_by[i], hop[i] = g.endpoint(uid)
    ends = pd.DataFrame({"answered_by": answered_by, "hop": hop}, index=peer.index, dtype=object)
    ends["hop"] = q["interface"].where(q["outcome"] == "answered").fillna(ends["hop"])
    return ends


def _queue_summary(st: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Per call, from its queue stints: how many, the queues in order, the last stint's queue, outcome, agent,
    interface, connect and leave times, and the total time in queues."""
    g = st.groupby("call", sort=False)
    last = st.drop_duplicates("call", keep="last").set_index("call")
    out = pd.DataFrame(
        {
            "stints": g.size(),
            "queues": _joined(st, "queue", ">"),
            "wait": g["wait"].sum(min_count=1),
        }
    ).reindex(index)
    for c in ("queue", "outcome", "agent", "interface", "connect", "left"):
        out[c] = last[c].reindex(index) if c in last.columns else None
    out["stints"] = out["stints"].fillna(0).astype(int)
    out["connect"] = pd.to_datetime(out["connect"], utc=True).astype("datetime64[ns, UTC]")
    out["left"] = pd.to_datetime(out["left"], utc=True).astype("datetime64[ns, UTC]")
    out["agent"] = out["agent"].where(out["outcome"] == "answered")
    return out


def _disposition(
    out: pd.DataFrame, q: pd.DataFrame, dial: pd.DataFrame, answered: pd.Series, code: pd.Series
) -> np.ndarray:
    """One of :data:`DISPOSITIONS` per call (None while an unanswered call is in progress)."""
    queued = q["stints"] > 0
    by_cause = np.select([code.isin(BUSY_CAUSES), code.isin(NOANSWER_CAUSES)], ["busy", "no answer"], default="failed")
    by_dial = dial["status"].map(DIAL_DISPOSITIONS).fillna(pd.Series(by_cause, index=out.index))
    disposition = np.select(
        [
            answered.to_numpy(),
            (queued & (q["outcome"] == "abandon")).to_numpy(),
            (queued & q["outcome"].notna()).to_numpy(),
            queued.to_numpy(),
            (dial["dialled"] | dial["status"].notna()).to_numpy(),
        ],
        ["answered", "abandoned", "no answer", "abandoned", by_dial.to_numpy(dtype=object)],
        default=by_cause,
    )
    pending = (out["in_progress"] & ~answered).to_numpy()
    return np.where(pending, np.array(None, dtype=object), disposition)


def _transfers(x: pd.DataFrame, index: pd.Index, g: Legs) -> pd.DataFrame:
    """Per call, its first transfer (on the transferred party's call and on the consultation call alike)."""
    mine = x.assign(call=g.codes(x["linkedid"]))
    theirs = x[x["other_linkedid"].notna()]
    theirs = theirs.assign(call=g.codes(theirs["other_linkedid"]), other_linkedid=theirs["linkedid"])
    both = pd.concat([mine, theirs], ignore_index=True).sort_values("seq", kind="stable")
    first = both.drop_duplicates("call").set_index("call")
    cols = ["transfer_type", "transferer", "target", "other_linkedid"]
    out = first[cols].reindex(index)
    out["transfer_time"] = first["time"].reindex(index).astype("datetime64[ns, UTC]")
    return out


def _joined(df: pd.DataFrame, column: str, sep: str) -> pd.Series:
    """Per call, ``column``'s values in order, ``sep``-joined (a call with one row: its value as text)."""
    several = df["call"].duplicated(keep=False).to_numpy()
    one = df[~several].set_index("call")[column].map(str)
    many = df[several].groupby("call", sort=False)[column].agg(lambda s: sep.join(map(str, s)))
    return pd.concat([one, many]).astype(object)


def _linkedids(rows: pd.DataFrame, index: pd.Index, g: Legs) -> pd.Series:
    """Every Linkedid a call's rows carried, first seen first, comma-joined."""
    seen = rows[["call", "lid"]].drop_duplicates()
    seen = seen.assign(lid=g.names[seen["lid"].to_numpy()])
    several = seen["call"].duplicated(keep=False).to_numpy()
    one = seen[~several].set_index("call")["lid"]  # most calls carried one Linkedid: no join needed
    many = seen[several].groupby("call", sort=False)["lid"].agg(lambda s: ",".join(map(str, s)))
    return pd.concat([one, many]).astype("str").reindex(index)


def _at(values: np.ndarray, codes: pd.Series) -> pd.Series:
    """``values[code]`` per code (NaN for -1: none)."""
    c = codes.to_numpy()
    out = values[np.maximum(c, 0)].astype(object)
    out[c < 0] = np.nan
    return pd.Series(out, index=codes.index, dtype=object)


def _stints(rows: pd.DataFrame) -> pd.DataFrame:
    """The queue stints of ``rows`` (codes), each with its call: its channel's (the row it began on has it)."""
    st = stints(rows.assign(uid=rows["uid"].where(rows["uid"] >= 0)))
    if len(st):
        at = np.searchsorted(rows["seq"].to_numpy(), st["seq"].to_numpy(dtype=np.int64))
        st["call"] = rows["call"].to_numpy()[at]
    return st


def as_calls(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`calls` table as is, or the calls of an events frame."""
    if {"linkedid", "disposition", "start"}.issubset(table.columns):
        return table
    return calls(table)

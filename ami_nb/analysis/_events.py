"""Events frames normalised for the analysis tables: text and number columns, event times, call-progress rows.

Why a module of its own: every table (calls, channels, queues, CDRs) reads the same loosely typed events frame
(a live ``session.events.frame()`` or a replayed recording), and must read it the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import values

#: Snapshot events that describe channels but are not call progress (list items, summaries).
NOT_CALL_EVENTS = frozenset(
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
TRANSFER_EVENTS = ("BlindTransfer", "AttendedTransfer")
TRANSFER_LINKED = (
    "TransfererLinkedid",
    "TransfereeLinkedid",
    "OrigTransfererLinkedid",
    "SecondTransfererLinkedid",
    "TransferTargetLinkedid",
)
#: Every AMI key :func:`~ami_nb.analysis.calls` reads (besides ``received``), for stores that load only what the
#: analysis needs (``*Linkedid`` / ``*Uniqueid`` keys of transfers are among them).
CALL_KEYS = (
    "Event", "Linkedid", "DestLinkedid", "Uniqueid", "DestUniqueid", "Timestamp", "Channel", "ChannelStateDesc",
    "ChannelState", "CallerIDNum", "CallerIDName", "Exten", "Context", "Cause", "Cause-txt", "DestChannel",
    "DialStatus", "Queue", "MemberName", "Interface", "Result", "HoldTime", "BridgeUniqueid", "Variable", "Value",
    "Application", "AppData", "DestType", "Extension", "TransfererChannel", "OrigTransfererChannel",
    "SecondTransfererChannel", "TransfereeChannel", "TransferTargetChannel", "TransferTargetChannelStateDesc",
    "TransfererUniqueid", "OrigTransfererUniqueid", "SecondTransfererUniqueid", "TransfereeUniqueid",
    "TransferTargetUniqueid", "TransfererLinkedid", "OrigTransfererLinkedid", "SecondTransfererLinkedid",
    "TransfereeLinkedid", "TransferTargetLinkedid",
)  # fmt: skip
NO_ID = ("", "none", "<unknown>")
UNKNOWN = ("", "<unknown>")
_STR = pd.StringDtype("pyarrow", na_value=np.nan)
CHANNEL_SUFFIX = r"-[0-9a-fA-F]{6,}(?:;\d)?$"


# -- columns ------------------------------------------------------------------------------------------------
def col(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as pandas strings (missing values NaN), or an all-missing column when absent.

    Categories and strings convert without a Python step per row; a repeated key's tuple gives its first value
    (as ``Message[key]`` does).
    """
    if name not in df.columns:  # built from Arrow's nulls (a Series of a scalar goes through Python objects)
        return pd.Series(pd.arrays.ArrowStringArray(pa.nulls(len(df), pa.large_string()), dtype=_STR),
                         index=df.index, copy=False)
    s = df[name]
    if s.dtype == _STR:
        return s  # already (astype would copy every string)
    if s.dtype == object:  # only the present values: a repeated key's column is missing on most rows
        present = s.notna().to_numpy()
        first = [v[0] if isinstance(v, tuple) and v else v for v in s.to_numpy()[present]]
        out = np.full(len(s), np.nan, dtype=object)
        out[present] = first
        return pd.Series(out, index=s.index, name=s.name).astype("str")
    elif isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.dtype == _STR:
        # the categories' strings taken by code in Arrow (pandas' own astype goes through Python objects)
        codes = s.cat.codes.to_numpy()
        cats = pa.array(s.cat.categories.array)
        taken = cats.take(pa.array(codes, mask=codes < 0)) if len(cats) else pa.nulls(len(s), pa.large_string())
        return pd.Series(pd.arrays.ArrowStringArray(taken.cast(pa.large_string()), dtype=_STR), index=s.index,
                         name=s.name, copy=False)
    return s.astype("str")


def num(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as float (NaN when missing or not a number).

    Only for keys the one value policy (:func:`ami_nb.values.column_kind`) reads as numbers: integers, or numeric
    states kept as categories (``ChannelState``); asking for a text key (an identifier, a dialled number) is a
    programming error, so the analysis can never disagree with the frames about what is a number.
    """
    if values.column_kind(name) not in ("integer", "category"):
        raise ValueError(f"{name!r} is text under ami_nb.values' policy, not a number")
    if name not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    s = df[name]
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    # each distinct value parsed once (pd.to_numeric of every row costs a Python step per row)
    enc = pa.chunked_array(pa.array(col(df, name).array)).combine_chunks().dictionary_encode()
    words = pd.Series(pd.arrays.ArrowStringArray(enc.dictionary.cast(pa.large_string()), dtype=_STR), dtype=_STR)
    parsed = pd.to_numeric(words, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    codes = pc.fill_null(enc.indices, len(parsed)).to_numpy(zero_copy_only=False)
    out = np.append(parsed, np.nan)[codes]
    return pd.Series(out, index=s.index, name=s.name, dtype="float64")


def utc(s: pd.Series) -> pd.Series:
    """Datetimes in UTC from datetimes, epoch seconds (numbers or strings) or ISO strings."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        return s.astype("datetime64[ns, UTC]")  # one unit throughout (frames may come in s, ms or us)
    secs = pd.to_numeric(s, errors="coerce")
    if secs.notna().any() or s.isna().all():  # epoch seconds: the policy's rule (to the microsecond AMI writes)
        utc_times = values.epoch_to_utc(secs.to_numpy(dtype="float64", na_value=np.nan))
        return pd.Series(utc_times, index=s.index).astype("datetime64[ns, UTC]")
    return pd.to_datetime(s, utc=True, errors="coerce").astype("datetime64[ns, UTC]")


def event_times(df: pd.DataFrame) -> pd.Series:
    """Per-row event time: ``Timestamp`` when present, else ``received``."""
    t = (
        utc(df["received"])
        if "received" in df.columns
        else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    )
    if "Timestamp" in df.columns:
        t = utc(df["Timestamp"]).fillna(t)
    return t


def member(s: pd.Series | pd.Index, values: pd.Series | pd.Index) -> np.ndarray:
    """``s.isin(values)`` as a boolean array, by Arrow's hash kernel (pandas' ``isin`` of strings against many
    values runs a Python step per value); missing values are members of nothing."""
    if not len(s) or not len(values):
        return np.zeros(len(s), dtype=bool)
    arr = pa.array(pd.Series(s).astype("str").array)
    vals = pa.array(pd.Series(values).astype("str").array)
    got = pc.is_in(arr, value_set=pc.unique(vals), skip_nulls=True)
    return got.to_numpy(zero_copy_only=False) & pd.Series(s).notna().to_numpy(dtype=bool)


def lookup(s: pd.Series, mapping: pd.Series) -> pd.Series:
    """``s.map(mapping)`` for string keys, by Arrow's hash kernel; ``mapping``'s index must be unique."""
    if not len(s) or not len(mapping):
        return s.map(mapping)
    keys = pa.array(pd.Series(mapping.index).astype("str").array)
    pos = pc.index_in(pa.array(s.astype("str").array), value_set=keys, skip_nulls=True)
    at = pos.to_numpy(zero_copy_only=False)
    found = ~np.isnan(at) if at.dtype.kind == "f" else np.ones(len(at), dtype=bool)
    vals = mapping.to_numpy(dtype=object)
    out = np.full(len(s), np.nan, dtype=object)
    out[found] = vals[at[found].astype(np.int64)]
    res = pd.Series(out, index=s.index, name=s.name)
    if found.all():
        return res.astype(mapping.dtype)
    return res.infer_objects()  # a missing key: an int or bool mapping cannot hold NaN (s.map gives floats too)


def ids(s: pd.Series) -> pd.Series:
    """Identifiers, with Asterisk's placeholders for "none" as missing."""
    return s.where(~s.isin(NO_ID))


def known(s: pd.Series) -> pd.Series:
    """Caller ids, with ``<unknown>`` and empty as missing."""
    return s.where(~s.isin(UNKNOWN))


def seconds(delta: pd.Series) -> pd.Series:
    """Timedeltas as float seconds."""
    return delta.dt.total_seconds()


ROW_TEXT = (
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
    "DestUniqueid",
    "BridgeUniqueid",
    "Variable",
    "Value",
    "Application",
    "AppData",
)
_ROW_KEYS = ("received", "Timestamp", "Uniqueid", *ROW_TEXT, "ChannelState", "Cause", "HoldTime")


def _filter_array(s: pd.Series, keep: np.ndarray, mask: pa.Array, index: pd.Index) -> pd.Series:
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":  # Arrow's filter copies runs of rows
        taken = pc.filter(pa.array(s.array), mask)
        return pd.Series(pd.arrays.ArrowStringArray(taken, dtype=s.dtype), index=index, name=s.name, copy=False)
    return pd.Series(s.array[keep], index=index, name=s.name, copy=False)


def _filter(obj: pd.Series | pd.DataFrame, keep: np.ndarray) -> Any:
    """``obj[keep]`` (a boolean array); Arrow strings by Arrow's filter, several times faster than the take
    pandas runs (an archive's bucket keeps almost every row, a live frame far fewer: both gain)."""
    if keep.all():
        return obj.copy(deep=False) if isinstance(obj, pd.DataFrame) else obj
    mask = pa.array(keep)
    index = obj.index[keep]
    if isinstance(obj, pd.Series):
        return _filter_array(obj, keep, mask, index)
    cols = {c: _filter_array(obj[c], keep, mask, index) for c in obj.columns}
    return pd.DataFrame(cols, index=index, columns=obj.columns)


def call_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The call-progress rows, normalised: ``seq``, ``t``, ``ev``, ``uid``, ``lid`` and the fields the tables
    need (text as pandas strings, ``state`` and ``cause`` as floats)."""
    if events is None or len(events) == 0:
        events = pd.DataFrame({"received": pd.Series([], dtype="datetime64[ns, UTC]")})
    events = events.reset_index(drop=True)
    ev = col(events, "Event")
    lid = ids(col(events, "Linkedid"))
    # An Originate's own dial (DialBegin/DialEnd with no calling channel) belongs to the destination's call.
    dial = ev.isin(("DialBegin", "DialEnd"))
    if dial.any():
        lid = lid.where(lid.notna(), ids(col(events, "DestLinkedid")).where(dial))
    keep = lid.notna() & ev.notna() & ~ev.isin(NOT_CALL_EVENTS)
    varset = ev == "VarSet"
    keep = keep.to_numpy(dtype=bool, copy=True)
    varset = varset.to_numpy(dtype=bool)
    if varset.any():  # of the many VarSets only QUEUESTATUS says something about the call (Queue()'s outcome)
        name = col(events[["Variable"]][varset], "Variable") if "Variable" in events.columns else None
        keep[varset] &= False if name is None else name.eq("QUEUESTATUS").to_numpy(dtype=bool, na_value=False)
    # only the columns read below are taken (a wide frame's other columns would cost more than all the rest)
    sub = _filter(events[[c for c in _ROW_KEYS if c in events.columns]], keep)
    df = pd.DataFrame(
        {
            "seq": np.flatnonzero(keep),
            "t": event_times(sub),
            "ev": _filter(ev, keep),
            "uid": ids(col(sub, "Uniqueid")),
            "lid": _filter(lid, keep),
        },
        index=sub.index,
    )
    for key in ROW_TEXT:
        df[key] = col(sub, key)
    df["state"] = num(sub, "ChannelState")
    df["cause"] = num(sub, "Cause")
    df["hold"] = num(sub, "HoldTime")
    return df


def first_by(df: pd.DataFrame, key: str, cols: list[str]) -> pd.DataFrame:
    """The first row per ``key`` (in arrival order), restricted to ``cols``."""
    return df.drop_duplicates(key, keep="first").set_index(key)[cols]


def is_up(df: pd.DataFrame) -> pd.Series:
    """Rows whose channel state is Up (by name or by number, 6)."""
    return (df["ChannelStateDesc"] == "Up") | (df["state"] == 6)


def device(channel: pd.Series) -> pd.Series:
    """``PJSIP/201-0000000a`` -> ``PJSIP/201``; ``Local/200@demo-0000000c;1`` -> ``Local/200@demo``."""
    return channel.astype("str").str.replace(CHANNEL_SUFFIX, "", regex=True)

"""Recordings: AMI transcripts replayed into event frames, and event frames saved as Parquet or JSON Lines.

A transcript is the raw byte stream a server sent on one connection, banner first (the files in
``tests/fixtures/transcripts`` and what ``session.record(path)`` writes). :func:`read_transcript` parses it and
feeds the events through an :class:`~ami_nb.store.EventStore`, so the frame has exactly the columns and dtypes a
live ``session.events.frame()`` has. A timeline (``<name>.timeline.jsonl`` next to the file, or in a
``timeline/`` folder beside it: one ``{"t": seconds, "dir": "in"|"out"|"eof", "data": latin-1 text}`` per line)
gives each read its time.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from .errors import ProtocolError
from .protocol import LATIN1_FALLBACK, Message, Parser
from .store import EventStore, to_epoch
from .transcript import find_timeline, iter_connections, iter_reads, json_lines, timeline_epoch

__all__ = [
    "find_timeline",
    "load_transcript",
    "read_jsonl",
    "read_parquet",
    "read_transcript",
    "to_jsonl",
    "to_parquet",
]

PathLike = str | os.PathLike[str]
_NS = 1_000_000_000


# -- transcripts ---------------------------------------------------------------------------------------------
_EVENTTV = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _anchor(msg: Message) -> float | None:
    """Epoch seconds a message itself states (``Timestamp``, ``EventTV``, a Uniqueid's time), if any."""
    ts = msg.get("Timestamp")
    if ts:
        try:
            return float(ts)
        except ValueError:
            pass
    tv = msg.get("EventTV")
    if tv and _EVENTTV.match(tv):
        try:
            return pd.Timestamp(tv).timestamp()
        except ValueError:
            pass
    uid = msg.get("Uniqueid")
    if uid and msg.event == "Newchannel":
        head = uid.rpartition("-")[2].partition(".")[0]  # "[system-]1700000000.12"
        if head.isdigit():
            return float(head)
    return None


def load_transcript(
    path: PathLike,
    *,
    start: Any = None,
    timeline: PathLike | bool = True,
    errors: str = LATIN1_FALLBACK,
    store: EventStore | None = None,
) -> EventStore:
    """Replay a transcript's events into an :class:`EventStore` (a new one unless ``store`` is given).

    ``start`` is the connection's time (datetime, ISO string or epoch seconds); by default the timeline's
    ``"epoch"`` (a record may state the absolute time of its ``t``), else it is read from the stream itself: the
    first ``Timestamp`` or ``EventTV`` header, else a ``Newchannel``'s Uniqueid (whole seconds), else the epoch.
    ``timeline``: ``True`` finds the sibling timeline, a path names one, ``False`` ignores it (then every event
    is stamped at ``start``). ``errors`` is the parser's decoding policy. A banner in the middle of the stream (a
    recording that spans a reconnect) starts a new connection.
    """
    p = Path(path)
    tl: PathLike | bool = (find_timeline(p) or False) if timeline is True else timeline  # looked up once
    anchor = timeline_epoch(p, timeline=tl)
    parser = Parser(expect_banner=False, errors=errors)
    reads: list[tuple[float, list[Message]]] = []
    for t, chunk, new_connection in iter_connections(iter_reads(p, timeline=tl)):
        if new_connection:  # the file's banner, or a reconnect's
            parser = Parser(errors=errors)
        try:
            msgs = parser.feed(chunk)
        except ProtocolError as exc:
            raise ProtocolError(f"{p.name}: {exc}") from exc
        events = [m for m in msgs if m.is_event]
        if start is None and anchor is None:
            for m in msgs:
                a = _anchor(m)
                if a is not None:
                    anchor = a - t
                    break
        if events:
            reads.append((t, events))
    base = to_epoch(start) if start is not None else (anchor if anchor is not None else 0.0)
    store = store if store is not None else EventStore()
    for t, events in reads:
        store.extend(events, base + t)
    return store


def read_transcript(path: PathLike, **kwargs: Any) -> pd.DataFrame:
    """A transcript file -> the events DataFrame a live session builds (see :func:`load_transcript`).

    ``frame.attrs["source"]`` holds the file name.
    """
    df = load_transcript(path, **kwargs).frame()
    df.attrs["source"] = Path(path).name
    return df


# -- JSON Lines ---------------------------------------------------------------------------------------------
def _iso(s: pd.Series) -> pd.Series:
    """UTC datetimes as ISO 8601 text with nanoseconds (``2026-11-26T08:10:39.042000128+00:00``), vectorised."""
    s = s.dt.tz_convert("UTC") if s.dt.tz is not None else s
    ns = s.astype("datetime64[ns, UTC]" if s.dt.tz is not None else "datetime64[ns]").astype("int64") % _NS
    return s.dt.strftime("%Y-%m-%dT%H:%M:%S.") + pd.Series(ns, index=s.index).astype("str").str.zfill(9) + "+00:00"


def _ami_time(s: pd.Series) -> pd.Series:
    """Datetimes as AMI's ``Timestamp`` text: epoch seconds with six decimals, vectorised and exact."""
    ns = s.astype("datetime64[ns, UTC]" if s.dt.tz is not None else "datetime64[ns]").astype("int64")
    us = (ns + 500) // 1000
    secs = pd.Series(us // 1_000_000, index=s.index).astype("str")
    return secs + "." + pd.Series(us % 1_000_000, index=s.index).astype("str").str.zfill(6)


def _wire_column(s: pd.Series, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a column's present cells and their values as AMI text (lists for repeated keys)."""
    present = s.notna().to_numpy()
    pos = np.flatnonzero(present)
    s = s[present]
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        text = _ami_time(s) if key == "Timestamp" else _iso(s)
    elif s.dtype == object:
        text = s.map(lambda v: [str(x) for x in v] if isinstance(v, tuple | list) else str(v))
    else:
        text = s.astype("str")
    return pos, text.to_numpy(dtype=object)


def to_jsonl(frame: pd.DataFrame, path: PathLike) -> Path:
    """Write an events frame as JSON Lines: one object per event, its AMI keys as text, missing keys left out.

    ``received`` is an ISO 8601 UTC time (nanoseconds kept); ``Timestamp`` is written back as AMI sends it
    (``1700000000.123456``); a repeated key is a list. :func:`read_jsonl` rebuilds the same dtypes. The cells are
    converted column by column; only the final JSON encoding runs per event.
    """
    p = Path(path)
    keys = np.array(list(map(str, frame.columns)), dtype=object)
    rows, cols, vals = [], [], []
    for i, key in enumerate(keys):
        pos, text = _wire_column(frame.iloc[:, i], key)
        rows.append(pos)
        cols.append(np.full(len(pos), i, dtype=np.int64))
        vals.append(text)
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    val = np.concatenate(vals) if vals else np.zeros(0, dtype=object)
    order = np.lexsort((col, row))  # by event, then in column order
    row, col, val = row[order], col[order], val[order]
    starts = np.searchsorted(row, np.arange(len(frame)), side="left")
    ends = np.append(starts[1:], len(row))
    names = keys[col]
    dumps = json.dumps
    with p.open("w", encoding="utf-8") as fh:
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            fh.write(dumps(dict(zip(names[a:b], val[a:b], strict=True)), ensure_ascii=False))
            fh.write("\n")
    return p


def read_jsonl(path: PathLike, *, store: EventStore | None = None) -> pd.DataFrame:
    """Read :func:`to_jsonl` output (or any JSON Lines of AMI key/value objects) as an events frame.

    Events go through an :class:`EventStore`, so dtypes match a live frame; ``received`` defaults to the epoch
    when a line has none.
    """
    p = Path(path)
    store = store if store is not None else EventStore()
    batch: list[Message] = []
    batch_t: float | None = None
    last_recv: Any = object()
    t = 0.0
    for _, rec in json_lines(p):
        recv = rec.pop("received", None)
        if recv != last_recv:  # the events of one read share their time: parse it once
            last_recv, t = recv, (to_epoch(recv) if recv is not None else 0.0)
        if all(type(v) is str for v in rec.values()):
            msg = Message(cast("dict[str, str]", rec))  # the common case: one text value per key
        else:
            pairs: list[tuple[str, str]] = []
            for k, v in rec.items():
                if isinstance(v, list):
                    pairs.extend((k, str(x)) for x in v)
                elif v is not None:
                    pairs.append((k, str(v)))
            msg = Message.from_pairs(pairs)
        if batch and t != batch_t:
            store.extend(batch, batch_t)
            batch = []
        batch_t = t
        batch.append(msg)
    if batch:
        store.extend(batch, batch_t)
    return store.frame()


# -- Parquet ------------------------------------------------------------------------------------------------
def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Parquet needs pyarrow: pip install ami_nb[parquet]") from exc
    return pa, pq


def _tuple_columns(frame: pd.DataFrame) -> list[str]:
    out = []
    for c in frame.columns:
        s = frame[c]
        if s.dtype == object and s.map(lambda v: isinstance(v, tuple)).any():
            out.append(c)
    return out


def to_parquet(frame: pd.DataFrame, path: PathLike) -> Path:
    """Write an events frame as Parquet (needs pyarrow, ``pip install ami_nb[parquet]``).

    Dtypes round-trip: datetimes with their zone, categories, nullable integers, strings; tuple cells (repeated
    keys) become lists and come back as tuples.
    """
    pa, pq = _pyarrow()
    p = Path(path)
    out = frame.copy()
    tuples = _tuple_columns(out)
    # a column whose every value is a tuple (ChanVariable) reads back as tuples even when they hold one value
    always = [c for c in tuples if out[c].dropna().map(lambda v: isinstance(v, tuple)).all()]
    for c in tuples:
        out[c] = out[c].map(lambda v: list(v) if isinstance(v, tuple) else ([v] if isinstance(v, str) else None))
    table = pa.Table.from_pandas(out, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"ami_nb"] = json.dumps(
        {"tuple_columns": tuples, "always_tuples": always, "attrs": _jsonable(frame.attrs)}
    ).encode()
    pq.write_table(table.replace_schema_metadata(meta), p)
    return p


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in attrs.items():
        try:
            json.dumps(v)
        except TypeError:
            continue
        out[str(k)] = v
    return out


def _cell(value: Any, always_tuple: bool) -> Any:
    if value is None or isinstance(value, float):
        return float("nan")
    if len(value) == 1 and not always_tuple:
        return str(value[0])
    return tuple(str(v) for v in value)


def read_parquet(path: PathLike) -> pd.DataFrame:
    """Read :func:`to_parquet` output back into an events frame with the same dtypes."""
    _pa, pq = _pyarrow()
    table = pq.read_table(Path(path))
    info = json.loads((table.schema.metadata or {}).get(b"ami_nb", b"{}"))
    df = table.to_pandas()
    always = set(info.get("always_tuples", []))
    for c in info.get("tuple_columns", []):
        if c in df.columns:
            df[c] = pd.array([_cell(v, c in always) for v in df[c]], dtype=object)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].astype("datetime64[ns, UTC]")
    df.attrs.update(info.get("attrs", {}))
    return df

"""The archive's row format: AMI events -> an Arrow table, and an Arrow table -> the frame a live store gives.

One row per event. Columns (the ``pbx`` and ``date`` partition keys live in the directory names):

===============  ===================================================================================================
``received``     timestamp[us, UTC]: when the read that carried the event arrived
``seq``          int64: the event's position; increasing per PBX (a writer's start time in ns + the store's count)
``call_id``      string: the call the event belongs to (``Linkedid``, else ``DestLinkedid``, else a transfer's
                 first ``*Linkedid``); null for events about no call
``call_hash``    int64 in [0, 2**32): crc32 of ``call_id`` (-1 without one); buckets are ranges of it
``links``        list<string>: other call ids this row joins to its own (a transfer naming two calls, a channel
                 seen under a new ``Linkedid``, a bridge two calls' channels entered); null on almost every row
``_repeats``     string: JSON ``{key: [values]}`` for a plain key repeated in one event (rare), else null
AMI keys         string, as sent; ``Timestamp`` as timestamp[us, UTC]; multi-valued keys (``ChanVariable``...)
                 as list<string>
===============  ===================================================================================================

Reading back applies the one type policy (:func:`ami_nb.values.column_kind`, as the store applies it), so
an archived range equals the live frame of the same events, dtypes included.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..store import MULTI_KEYS, _plan, _split
from ..values import column_kind, integers, parse_epochs

__all__ = ["CANONICAL", "RESERVED", "RowBuilder", "column_name", "key_of", "typed_frame"]

#: Columns the archive adds (lower case: Asterisk's keys are CamelCase, so they never collide).
RESERVED = ("received", "seq", "call_id", "call_hash", "links", "_repeats", "pbx", "date")
_NO_ID = ("", "none", "<unknown>")  # what analysis treats as "no id"
#: The spelling kept as the column name where Asterisk spells one key several ways (CEL's ``CallerIDnum``
#: beside ``CallerIDNum``...): SQL engines match column names case-insensitively, so the others are written
#: as ``<key>~<n>`` (``n``: the positions of its capitals), which :func:`key_of` reads back.
CANONICAL = {k.lower(): k for k in ("CallerIDNum", "CallerIDName", "Uniqueid", "Linkedid", "UserField")}
_UID_MEMORY = 200_000  # channels remembered to notice one that moves to another Linkedid
_TS = pa.timestamp("us", tz="UTC")


def _us(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds (NaN: missing) -> timestamp[us, UTC], rounded as the store rounds."""
    missing = np.isnan(seconds)
    us = np.where(missing, 0, seconds * 1e6).round().astype(np.int64)
    return pa.array(us, type=pa.int64(), mask=missing).cast(_TS)


def call_hash(call_id: str) -> int:
    """The bucket hash of a call id (stable across processes and versions: crc32 of its UTF-8)."""
    return zlib.crc32(call_id.encode("utf-8", "surrogatepass")) & 0xFFFFFFFF


class RowBuilder:
    """Turns batches of events into archive tables; remembers channels across batches to notice moves."""

    def __init__(self) -> None:
        self._uid_lid: dict[str, str] = {}  # channel -> the Linkedid it was last seen with
        self._bridge_lid: dict[str, str] = {}  # bridge -> the call id last seen entering it

    def table(self, batches: Iterable[tuple[Sequence[Any], float, int]]) -> pa.Table:
        """``batches``: ``(events, received, first_seq)`` per read -> one table (rows grouped by key shape;
        ``seq`` gives the arrival order)."""
        keys: list[tuple[str, ...]] = []
        vals: list[tuple[str, ...]] = []
        recv_parts: list[np.ndarray] = []
        seq_parts: list[np.ndarray] = []
        for events, received, seq0 in batches:
            if not len(events):
                continue
            k, v = _split(events)
            keys += k
            vals += v
            recv_parts.append(np.full(len(k), received, dtype=np.float64))
            seq_parts.append(np.arange(seq0, seq0 + len(k), dtype=np.int64))
        n = len(keys)
        if not n:
            return pa.table({"received": pa.array([], _TS), "seq": pa.array([], pa.int64())})
        groups: dict[tuple[str, ...], tuple[list[int], list[tuple[str, ...]]]] = {}
        get = groups.get
        for i, (ks, vs) in enumerate(zip(keys, vals, strict=True)):
            g = get(ks)
            if g is None:
                groups[ks] = ([i], [vs])
            else:
                g[0].append(i)
                g[1].append(vs)
        parts = [self._group(shape, rows, gv) for shape, (rows, gv) in groups.items()]
        # rows stay grouped by key shape (readers order by ``seq``): no reordering copy of every column
        t = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
        order = t["_row"].to_numpy()
        t = t.drop_columns(["_row"])
        received = _us(np.concatenate(recv_parts)[order])
        extra = self._ids(t, order)
        cols = {"received": received, "seq": pa.array(np.concatenate(seq_parts)[order]), **extra}
        taken = {c.lower() for c in RESERVED}
        out = dict(cols)
        for c in t.column_names:
            if c in cols:
                continue
            name = c if c == "_repeats" else column_name(c, taken)
            taken.add(name.lower())
            out[name] = t[c]
        return pa.table(out)

    @staticmethod
    def _group(shape: tuple[str, ...], rows: list[int], vals: list[tuple[str, ...]]) -> pa.Table:
        """The rows of one key shape as a table (``_row``: their positions)."""
        cols = list(zip(*vals, strict=True))
        plan = _plan(shape) or [(k, (j,), False) for j, k in enumerate(shape)]
        data: dict[str, pa.Array] = {"_row": pa.array(rows, pa.int64())}
        repeats: list[dict[str, list[str]]] | None = None
        for key, ix, multi in plan:
            if key in RESERVED:
                continue
            if key in MULTI_KEYS:
                flat = cols[ix[0]] if len(ix) == 1 else list(chain.from_iterable(zip(*(cols[j] for j in ix),
                                                                                       strict=True)))
                offsets = pa.array(np.arange(0, len(flat) + 1, len(ix), dtype=np.int32))
                data[key] = pa.ListArray.from_arrays(offsets, pa.array(flat, pa.string()))
                continue
            first = cols[ix[0]]
            if multi:  # a plain key repeated in these events: the first value in its column, all of them aside
                repeats = repeats if repeats is not None else [{} for _ in rows]
                for r, t in zip(repeats, zip(*(cols[j] for j in ix), strict=True), strict=True):
                    r[key] = list(t)
            if column_kind(key) == "time":
                data[key] = _us(parse_epochs(first))
            else:
                data[key] = pa.array(first, pa.string())
        if repeats is not None:
            data["_repeats"] = pa.array([json.dumps(r, ensure_ascii=False) for r in repeats], pa.string())
        return pa.table(data)

    def _ids(self, t: pa.Table, order: np.ndarray) -> dict[str, pa.Array]:
        """``call_id``, ``call_hash`` and ``links`` of each row."""
        n = t.num_rows
        names = [c for c in t.column_names if c.endswith("Linkedid") and t.schema.field(c).type == pa.string()]
        cands = [c for c in ("Linkedid", "DestLinkedid") if c in names] + \
            [c for c in names if c not in ("Linkedid", "DestLinkedid")]
        none = pa.array(_NO_ID, pa.string())
        ids = [pc.if_else(pc.is_in(t[c], none), pa.scalar(None, pa.string()), t[c]) for c in cands]
        inverse = np.empty(n, dtype=np.int64)
        inverse[order - order.min()] = np.arange(n)
        call = pc.coalesce(*ids) if ids else pa.nulls(n, pa.string())
        call = call.combine_chunks() if isinstance(call, pa.ChunkedArray) else call
        enc = call.dictionary_encode()
        hashes = np.array([call_hash(u) for u in enc.dictionary.to_pylist()] + [-1], dtype=np.int64)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        codes = np.where(pc.is_null(enc.indices).to_numpy(zero_copy_only=False), len(hashes) - 1,
                         np.nan_to_num(idx, nan=len(hashes) - 1)).astype(np.int64)
        chash = hashes[codes]
        links: dict[int, set[str]] = {}
        # 1. a row that names another call beside its own (a transfer, a dial into another call)
        for arr in ids[1:]:
            other = pc.and_(pc.is_valid(arr), pc.not_equal(arr, call))
            other = pc.fill_null(other, False)
            for i in np.flatnonzero(other.to_numpy(zero_copy_only=False)):
                links.setdefault(int(i), set()).add(arr[int(i)].as_py())
        # 2. a channel seen under a new Linkedid (a transfer moved it into another call), and a bridge that
        #    channels of two calls entered (both are needed to say who was bridged with whom)
        keyed = [(c[: -len("Linkedid")] + "Uniqueid", ids[cands.index(c)]) for c in names]
        keyed.append(("BridgeUniqueid", call))
        for u, lid_col in keyed:
            if u not in t.column_names or t.schema.field(u).type != pa.string():
                continue
            memo = self._bridge_lid if u == "BridgeUniqueid" else self._uid_lid
            pairs = pa.table({"u": t[u], "l": lid_col, "o": pa.array(order)})
            pairs = pairs.filter(pc.and_(pc.is_valid(pairs["u"]), pc.is_valid(pairs["l"])))
            first = pairs.group_by(["u", "l"], use_threads=False).aggregate([("o", "min")]).sort_by("o_min")
            rows = inverse[first["o_min"].to_numpy() - order.min()]
            for uid, lid, i in zip(first["u"].to_pylist(), first["l"].to_pylist(), rows.tolist(), strict=True):
                old = memo.pop(uid, None)
                memo[uid] = lid
                if old is not None and old != lid:
                    links.setdefault(int(i), set()).add(old)
            while len(memo) > _UID_MEMORY:
                del memo[next(iter(memo))]
        cells: list[list[str] | None] = [None] * n
        calls = call.to_pylist() if links else []
        for row, others in links.items():
            others.discard(calls[row])
            if others:
                cells[row] = sorted(others)
        return {"call_id": call, "call_hash": pa.array(chash), "links": pa.array(cells, pa.list_(pa.string()))}


def column_name(key: str, taken: set[str]) -> str:
    """The Parquet column name of an AMI key (``taken``: lower-cased names already used in this file)."""
    low = key.lower()
    if CANONICAL.get(low, key) == key and low not in taken:
        return key
    mask = sum(1 << i for i, ch in enumerate(key) if ch.isupper())
    return f"{key}~{mask}"


def key_of(name: str) -> str:
    """The AMI key a column name stands for (see :func:`column_name`)."""
    key, sep, mask = name.rpartition("~")
    return key if sep and mask.isdigit() else name


# -- reading back ------------------------------------------------------------------------------------------------
_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def _typed_column(key: str, arr: pa.ChunkedArray | pa.Array) -> Any:
    """One AMI column as the store types it (see :mod:`ami_nb.store`)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_timestamp(arr.type):
        return pd.DatetimeIndex(arr.cast(pa.timestamp("ns", tz="UTC")).to_pandas()).astype("datetime64[ns, UTC]")
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        out = np.empty(len(arr), dtype=object)
        for i, v in enumerate(arr.to_pylist()):
            out[i] = tuple(v) if v is not None else np.nan
        return pd.Series(out, dtype=object, copy=False)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    kind = column_kind(key)
    if kind == "integer":
        enc = arr.dictionary_encode()
        conv = integers(enc.dictionary.to_pylist())
        if conv is not None:
            nums = np.array([*conv, 0], dtype=np.int64)
            codes = pc.fill_null(enc.indices, len(conv)).to_numpy(zero_copy_only=False).astype(np.int64)
            return pd.arrays.IntegerArray(nums[codes], codes == len(conv))
    if kind == "category":
        enc = arr.dictionary_encode()
        codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        cats = pd.Index(enc.dictionary.to_pylist(), dtype="str")
        return pd.Categorical.from_codes(codes, categories=cats)
    return pd.arrays.ArrowStringArray(arr, dtype=_STR)


def typed_frame(table: pa.Table, *, keep: Sequence[str] = ()) -> pd.DataFrame:
    """An archive table -> the events frame a live store gives (``received`` first, then AMI keys).

    AMI columns with no value in these rows are left out, as the store leaves them out; ``keep`` names
    archive columns to keep as well (``pbx``, ``seq``...), placed after ``received``.
    """
    n = table.num_rows
    empty = [c for c in table.column_names if c not in RESERVED and c not in keep and table[c].null_count == n]
    if empty:  # keys no selected row has (most of a wide archive's): dropped before any copy
        table = table.drop_columns(empty)
    table = table.combine_chunks()  # one chunk per column: take, encode and convert run once, not per batch
    if "seq" in table.column_names and n > 1:  # arrival order (per PBX): what the store's order is
        one_pbx = "pbx" not in table.column_names or pc.count_distinct(table["pbx"]).as_py() <= 1
        if one_pbx:  # one sort key: numpy's argsort, several times faster than a two-key sort_indices
            order = np.argsort(table["seq"].to_numpy(), kind="stable")
        else:
            order = pc.sort_indices(table, sort_keys=[("pbx", "ascending"), ("seq", "ascending")]).to_numpy()
        if (np.diff(order) != 1).any():
            table = table.take(order)
    data: dict[str, Any] = {}
    if "received" in table.column_names:
        data["received"] = _typed_column("received", table["received"])
    for c in keep:
        if c in table.column_names and c != "received":
            data[c] = table[c].to_pandas()
    repeats = None
    if "_repeats" in table.column_names and table["_repeats"].null_count < n:
        repeats = [(i, json.loads(s)) for i, s in enumerate(table["_repeats"].to_pylist()) if s is not None]
    names: dict[str, list[str]] = {}
    first: dict[str, tuple[int, int]] = {}  # the store's order: first-seen (by row, then by file order)
    for pos, c in enumerate(table.column_names):
        if c not in RESERVED and c not in data and table[c].null_count < n:
            k = key_of(c)
            names.setdefault(k, []).append(c)
            valid = table[c].is_valid()
            row = int(np.argmax(valid.to_numpy(zero_copy_only=False))) if table[c].null_count else 0
            first[k] = min(first.get(k, (row, pos)), (row, pos))
    names = {k: names[k] for k in sorted(names, key=first.__getitem__)}
    for key, cols in names.items():
        col = table[cols[0]]
        for other in cols[1:]:  # one key written under two names (a collision in one file only)
            col = pc.coalesce(col, table[other])
        data[key] = _typed_column(key, col)
    if repeats:
        for c in {k for _, r in repeats for k in r}:
            if c not in data:
                continue
            raw = np.array([np.nan if v is None else v for v in table[names[c][0]].to_pylist()], dtype=object)
            for i, r in repeats:
                if c in r:
                    raw[i] = tuple(r[c])
            data[c] = pd.Series(raw, dtype=object, copy=False)
    return pd.DataFrame(data, index=pd.RangeIndex(n))

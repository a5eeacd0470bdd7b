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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..store import _MAX_SHAPES, MULTI_KEYS, _Batch, _freeze, _full_codes, _split
from ..values import column_kind, integers

__all__ = ["CANONICAL", "RESERVED", "RowBuilder", "chunk_columns", "chunks_table", "column_name", "key_of",
           "typed_frame"]

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
    """Turns the store's columnar chunks (or batches of events, frozen the store's way first) into archive tables;
    remembers channels across tables to notice moves.

    A chunk's columns are dictionary codes into one UTF-8 blob per column: each becomes an Arrow array with
    numpy and Arrow kernels (which release the GIL), never a Python object per event, so the session's thread
    is barely slowed by the conversion beside it.
    """

    def __init__(self) -> None:
        self._uid_lid: dict[str, str] = {}  # channel -> the Linkedid it was last seen with
        self._bridge_lid: dict[str, str] = {}  # bridge -> the call id last seen entering it
        self._plans: dict[tuple[str, ...], Any] = {}  # key shapes -> column plans (as the store caches them)

    def freeze(self, batch: Any) -> Any:
        """A raw batch of the store (or of messages, see :meth:`table`) as a columnar chunk."""
        if len(self._plans) > _MAX_SHAPES:
            self._plans.clear()
        return _freeze(batch, self._plans)

    def table(self, batches: Iterable[tuple[Sequence[Any], float, int]], *, encoded: bool = False) -> pa.Table:
        """``batches``: ``(events, received, first_seq)`` per read -> one table, rows in the order given
        (``encoded``: string columns as dictionary arrays, see :func:`chunks_table`)."""
        keys: list[tuple[str, ...]] = []
        vals: list[tuple[str, ...]] = []
        recv: list[tuple[int, float]] = []
        seq_parts: list[np.ndarray] = []
        for events, received, seq0 in batches:
            if not len(events):
                continue
            k, v = _split(events)
            keys += k
            vals += v
            recv.append((len(keys), received))
            seq_parts.append(np.arange(seq0, seq0 + len(k), dtype=np.int64))
        if not keys:
            return pa.table({"received": pa.array([], _TS), "seq": pa.array([], pa.int64())})
        chunk = self.freeze(_Batch(keys, vals, recv, 0))
        return self.finish([chunks_table([(chunk, 0)], encoded=encoded)], seq=np.concatenate(seq_parts))

    def finish(self, parts: list[pa.Table], *, seq_base: int = 0, seq: np.ndarray | None = None) -> pa.Table:
        """Tables of :func:`chunk_columns` (in sequence order) -> one archive table: ``seq`` shifted by
        ``seq_base`` (or given), the call columns added, AMI keys under their column names."""
        t = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
        seq_arr = pa.array(seq) if seq is not None else pc.add(t["seq"].combine_chunks(), pa.scalar(seq_base))
        cols: dict[str, Any] = {"received": t["received"], "seq": seq_arr, **self._ids(t)}
        taken = {c.lower() for c in RESERVED}
        for c in t.column_names:
            if c in cols:
                continue
            name = c if c == "_repeats" else column_name(c, taken)
            taken.add(name.lower())
            cols[name] = t[c]
        return pa.table(cols)

    def _ids(self, t: pa.Table) -> dict[str, pa.Array]:
        """``call_id``, ``call_hash`` and ``links`` of each row (rows in arrival order)."""
        n = t.num_rows
        strings = {c for c in t.column_names if _is_text(t.schema.field(c).type)}
        names = [c for c in t.column_names if c.endswith("Linkedid") and c in strings]
        cands = [c for c in ("Linkedid", "DestLinkedid") if c in names] + \
            [c for c in names if c not in ("Linkedid", "DestLinkedid")]
        if "LinkedID" in strings:
            cands.insert(min(1, len(cands)), "LinkedID")  # CEL and CDR records spell it so (AMI's CEL, Cdr)
        none = pa.array(_NO_ID, pa.string())
        ids = [_no_id(_decoded(t[c]), none) for c in cands]
        call = pc.coalesce(*ids) if ids else pa.nulls(n, pa.string())
        call = call.combine_chunks() if isinstance(call, pa.ChunkedArray) else call
        enc = call.dictionary_encode()
        hashes = np.array([call_hash(u) for u in enc.dictionary.to_pylist()] + [-1], dtype=np.int64)
        codes = pc.fill_null(enc.indices, len(hashes) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        chash = hashes[codes]
        links: dict[int, set[str]] = {}
        # 1. a row that names another call beside its own (a transfer, a dial into another call)
        for arr in ids[1:]:
            other = pc.fill_null(pc.and_(pc.is_valid(arr), pc.not_equal(arr, call)), False)
            for i in np.flatnonzero(other.to_numpy(zero_copy_only=False)):
                links.setdefault(int(i), set()).add(arr[int(i)].as_py())
        # 2. a channel seen under a new Linkedid (a transfer moved it into another call), and a bridge that
        #    channels of two calls entered (both are needed to say who was bridged with whom)
        keyed = [(c[: -len("Linkedid")] + "Uniqueid", ids[cands.index(c)]) for c in names]
        keyed.append(("BridgeUniqueid", call))
        order = pa.array(np.arange(n, dtype=np.int64))
        for u, lid_col in keyed:
            if u not in strings:
                continue
            memo = self._bridge_lid if u == "BridgeUniqueid" else self._uid_lid
            pairs = pa.table({"u": _decoded(t[u]), "l": lid_col, "o": order})
            pairs = pairs.filter(pc.and_(pc.is_valid(pairs["u"]), pc.is_valid(pairs["l"])))
            first = pairs.group_by(["u", "l"], use_threads=False).aggregate([("o", "min")]).sort_by("o_min")
            for uid, lid, i in zip(first["u"].to_pylist(), first["l"].to_pylist(), first["o_min"].to_pylist(),
                                   strict=True):
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
        # call_id as its dictionary array when the table's strings are (the Parquet writer takes it as it is)
        encoded = any(pa.types.is_dictionary(f.type) for f in t.schema)
        return {"call_id": enc if encoded else call, "call_hash": pa.array(chash),
                "links": pa.array(cells, pa.list_(pa.string()))}


def _blob_strings(blob: bytes, n_items: int) -> pa.Array | None:
    """NUL-joined UTF-8 values as an Arrow string array, cut with numpy (None: not valid UTF-8, or too big)."""
    if not n_items or len(blob) >= 1 << 31:
        return None
    buf = np.frombuffer(blob, dtype=np.uint8)
    nul = np.flatnonzero(buf == 0)  # the separators (a value holding NUL is kept in objs instead)
    offsets = np.empty(len(nul) + 2, dtype=np.int32)
    offsets[0] = 0
    offsets[1:-1] = nul - np.arange(len(nul))
    offsets[-1] = len(buf) - len(nul)
    data = buf[buf != 0] if len(nul) else buf
    arr = pa.StringArray.from_buffers(n_items, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        arr.validate(full=True)
        return arr
    except pa.ArrowInvalid:  # lone surrogates (a parser run with surrogateescape): replaced by the caller
        return None


def _is_text(typ: pa.DataType) -> bool:
    """A string column, or a dictionary array of strings (what :func:`chunks_table` gives with ``encoded``)."""
    return typ == pa.string() or (pa.types.is_dictionary(typ) and typ.value_type == pa.string())


def _decoded(arr: Any) -> Any:
    """A string column as plain strings (a dictionary array decoded)."""
    if pa.types.is_dictionary(arr.type):
        return arr.cast(pa.string())
    return arr


def _no_id(arr: Any, none: pa.Array) -> Any:
    """``arr`` with the values that mean "no id" as nulls."""
    return pc.if_else(pc.is_in(arr, none), pa.scalar(None, pa.string()), arr)


def _items(col: Any) -> pa.Array:
    """A chunk column's dictionary items as an Arrow string array, cut from its blob without Python strings."""
    if col.objs is None:
        arr = _blob_strings(col.blob, col.n_items)
        if arr is not None:
            return arr
    items = col.items()
    try:
        return pa.array(items, pa.string())
    except (UnicodeError, pa.ArrowException):
        return pa.array([v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for v in items],
                        pa.string())


def _items_of(cols: list[Any]) -> pa.Array:
    """The dictionary items of several chunks' columns, one after the other, as one string array (one blob)."""
    if len(cols) > 1 and all(c.objs is None for c in cols):
        arr = _blob_strings(b"\x00".join([c.blob for c in cols if c.n_items]), sum(c.n_items for c in cols))
        if arr is not None:
            return arr
    parts = [_items(c) for c in cols]
    return parts[0] if len(parts) == 1 else pa.concat_arrays(parts)


def _gather(items: pa.Array, col: Any, n: int, start: int) -> pa.Array | None:
    """The string column of rows ``start..n`` of a chunk: the values of the rows that have the key taken from the
    dictionary (an Arrow kernel), then spread over every row with offsets and a validity bitmap built in numpy,
    so a key present in few rows costs its rows, not the chunk's (None: no row has it)."""
    if col.rows is None:
        codes = col.codes[start:] if start else col.codes
        return pc.take(items, pa.array(codes.astype(np.int32, copy=False)))
    rows, codes = col.rows, col.codes
    if start:
        keep = rows >= start
        rows, codes = rows[keep], codes[keep]
    if not len(rows):
        return None
    rows = rows.astype(np.int64) - start
    if len(rows) > 1 and (np.diff(rows) < 0).any():  # groups of rows of each key shape: put in row order
        order = np.argsort(rows, kind="stable")
        rows, codes = rows[order], codes[order]
    values = pc.take(items, pa.array(codes.astype(np.int32, copy=False)))
    if values.type != pa.string():
        return None if values is None else values
    m = n - start
    voff = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=4 * values.offset)
    # row j's end offset is the end of the last present row <= j: each value's end repeated up to the next row
    runs = np.diff(np.concatenate(([0], rows, [m])))
    offsets = np.empty(m + 1, dtype=np.int32)
    offsets[0] = voff[0]
    offsets[1:] = np.repeat(voff, runs)
    valid = np.zeros(m, dtype=bool)
    valid[rows] = True
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(m, pa.py_buffer(offsets), values.buffers()[2], pa.py_buffer(bitmap),
                                       m - len(rows))


def _column(key: str, col: Any, chunk: Any, start: int, repeats: dict[int, dict[str, list[str]]],
            row_base: int = 0) -> pa.Array | None:
    """Rows ``start..`` of one chunk column as an Arrow array (None: no row has a value); a plain key's repeated
    values go to ``repeats`` (row + ``row_base`` -> key -> values)."""
    if col.numeric:
        if col.rows is None:
            secs = col.codes[start:]
        else:
            secs = np.full(chunk.n, np.nan)
            secs[col.rows] = col.codes
            secs = secs[start:]
        return None if np.isnan(secs).all() else _us(secs)
    items = _items(col)
    if col.arity is None:
        return _gather(items, col, chunk.n, start)
    codes = _full_codes(col, chunk.n)[start:]
    missing = codes < 0
    if missing.all():
        return None
    idx = pa.array(codes, mask=missing, type=pa.int32())
    arity = col.arity.astype(np.int32)
    width = np.maximum(arity, 1)  # 0: a plain value, one item
    offsets = np.concatenate(([0], np.cumsum(width))).astype(np.int32)
    if key in MULTI_KEYS:
        return pc.take(pa.ListArray.from_arrays(pa.array(offsets), items), idx)
    flat = None
    for row in np.flatnonzero(~missing & (arity[np.where(missing, 0, codes)] > 0)).tolist():
        flat = flat if flat is not None else col.items()
        c = int(codes[row])
        repeats.setdefault(row + row_base, {})[key] = flat[offsets[c]:offsets[c + 1]]
    return pc.take(pc.take(items, pa.array(offsets[:-1])), idx)  # the first value; all of them aside


def chunk_columns(chunk: Any, start: int = 0) -> pa.Table:
    """Rows ``start..`` of a store chunk as a table: ``received``, ``seq`` (the store's numbers), one column per
    AMI key (not yet under its column name), ``_repeats`` when a plain key repeated in an event."""
    n = chunk.n - start
    data: dict[str, Any] = {
        "received": _us(chunk.received()[start:]),
        "seq": pa.array(np.arange(chunk.base + start, chunk.base + chunk.n, dtype=np.int64)),
    }
    repeats: dict[int, dict[str, list[str]]] = {}
    for key, col in chunk.cols.items():
        if key not in RESERVED:
            arr = _column(key, col, chunk, start, repeats)
            if arr is not None:
                data[key] = arr
    if repeats:
        cells: list[str | None] = [None] * n
        for row, r in repeats.items():
            cells[row] = json.dumps(r, ensure_ascii=False)
        data["_repeats"] = pa.array(cells, pa.string())
    return pa.table(data)


def _spread(values: pa.Array, rows: np.ndarray, m: int) -> pa.Array:
    """String ``values`` placed at the (increasing) ``rows`` of an ``m``-row column, nulls elsewhere: offsets by
    a cumulative sum and a validity bitmap, built in numpy (a few ns a row, whatever the column's fill)."""
    voff = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=4 * values.offset)
    lens = np.zeros(m, dtype=np.int32)
    lens[rows] = np.diff(voff)
    offsets = np.empty(m + 1, dtype=np.int32)
    offsets[0] = 0
    np.cumsum(lens, out=offsets[1:])
    if voff[0]:
        offsets += voff[0]
    valid = np.zeros(m, dtype=bool)
    valid[rows] = True
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(m, pa.py_buffer(offsets), values.buffers()[2], pa.py_buffer(bitmap),
                                       m - len(rows))


def _strings_of(entries: list[tuple[int, Any]], pieces: Sequence[tuple[Any, int]], bases: np.ndarray,
                m: int, encoded: bool = False) -> pa.Array | None:
    """One plain string key over every piece (``entries``: piece index and its chunk's column): one dictionary
    (the chunks' items one after the other), one take, one spread, so a flush costs a few calls a key, not a few
    per key and chunk; ``encoded``: as a dictionary array (string values, int32 indices). None: no row has the
    key, or the values would overflow 32-bit offsets."""
    items = _items_of([col for _, col in entries])
    rows_l, codes_l = [], []
    item_base = 0
    for i, col in entries:
        chunk, start = pieces[i]
        if col.rows is None:
            rows = np.arange(chunk.n - start, dtype=np.int64)
            codes = col.codes[start:]
        else:
            rows, codes = col.rows.astype(np.int64), col.codes
            if start:
                keep = rows >= start
                rows, codes = rows[keep] - start, codes[keep]
            if len(rows) > 1 and (np.diff(rows) < 0).any():  # groups of rows of each key shape: row order
                order = np.argsort(rows, kind="stable")
                rows, codes = rows[order], codes[order]
        rows_l.append(rows + bases[i])
        codes_l.append(codes.astype(np.int32) + item_base)
        item_base += col.n_items
    rows = np.concatenate(rows_l)
    if not len(rows):
        return None
    codes = np.concatenate(codes_l)
    if encoded:  # one dictionary of the distinct values, the rows' indices into it (no string copied)
        enc = items.dictionary_encode()
        remap = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        codes = remap[codes]
        if len(rows) == m:
            return pa.DictionaryArray.from_arrays(pa.array(codes), enc.dictionary, safe=False)
        idx = np.zeros(m, dtype=np.int32)
        idx[rows] = codes
        valid = np.zeros(m, dtype=bool)
        valid[rows] = True
        indices = pa.Array.from_buffers(pa.int32(), m, [pa.py_buffer(np.packbits(valid, bitorder="little")),
                                                        pa.py_buffer(idx)], m - len(rows))
        return pa.DictionaryArray.from_arrays(indices, enc.dictionary, safe=False)
    ioff = np.frombuffer(items.buffers()[1], dtype=np.int32, count=len(items) + 1, offset=4 * items.offset)
    if int(np.diff(ioff)[codes].sum(dtype=np.int64)) >= 1 << 31:
        return None
    values = pc.take(items, pa.array(codes))
    return values if len(rows) == m else _spread(values, rows, m)


def chunks_table(pieces: Sequence[tuple[Any, int]], *, encoded: bool = False) -> pa.Table:
    """Rows ``start..`` of each of several store chunks (``(chunk, start)`` in sequence order) as one table, the
    rows of :func:`chunk_columns` of each one after the other. Each plain string key and each time key is built
    once over all the pieces (a flush's chunks: one Arrow array a key, not one a key and chunk); keys holding
    several values (``ChanVariable``, repeats) chunk by chunk. ``encoded``: plain string keys as dictionary
    arrays, which the Parquet writer takes as they are (what :func:`~ami_nb.history.writer.write_table` wants;
    the values are those of the string column)."""
    pieces = [(c, s) for c, s in pieces if c.n > s]
    if len(pieces) == 1 and not encoded:
        return chunk_columns(*pieces[0])
    if not pieces:
        return pa.table({"received": pa.array([], _TS), "seq": pa.array([], pa.int64())})
    lens = np.array([c.n - s for c, s in pieces], dtype=np.int64)
    bases = np.concatenate(([0], np.cumsum(lens)[:-1]))
    m = int(lens.sum())
    data: dict[str, Any] = {
        "received": _us(np.concatenate([c.received()[s:] for c, s in pieces])),
        "seq": pa.array(np.concatenate([np.arange(c.base + s, c.base + c.n, dtype=np.int64) for c, s in pieces])),
    }
    by_key: dict[str, list[tuple[int, Any]]] = {}
    for i, (chunk, _s) in enumerate(pieces):
        for key, col in chunk.cols.items():
            if key not in RESERVED:
                by_key.setdefault(key, []).append((i, col))
    repeats: dict[int, dict[str, list[str]]] = {}
    for key, entries in by_key.items():
        if all(col.numeric for _, col in entries):
            secs = np.full(m, np.nan)
            for i, col in entries:
                chunk, start = pieces[i]
                b = bases[i]
                if col.rows is None:
                    secs[b:b + chunk.n - start] = col.codes[start:]
                else:
                    rows = col.rows.astype(np.int64)
                    keep = rows >= start
                    secs[rows[keep] - start + b] = col.codes[keep]
            if not np.isnan(secs).all():
                data[key] = _us(secs)
            continue
        arr = None
        if all(not col.numeric and col.arity is None for _, col in entries):
            arr = _strings_of(entries, pieces, bases, m, encoded)
            if arr is not None:
                data[key] = arr
                continue
        # chunk by chunk (multi-valued keys, a key of several kinds, huge values): the single-chunk path
        got = {}
        for i, col in entries:
            chunk, start = pieces[i]
            one = _column(key, col, chunk, start, repeats, int(bases[i]))
            if one is not None:
                got[i] = one
        if not got:
            continue
        types = {a.type for a in got.values()}
        if len(types) > 1:  # a key typed differently by chunks: as concatenating the chunks' tables would
            return pa.concat_tables([chunk_columns(c, s) for c, s in pieces], promote_options="permissive")
        typ = types.pop()
        data[key] = pa.concat_arrays([got[i] if i in got else pa.nulls(int(lens[i]), typ)
                                      for i in range(len(pieces))])
    if repeats:
        cells: list[str | None] = [None] * m
        for row, r in repeats.items():
            cells[row] = json.dumps(r, ensure_ascii=False)
        data["_repeats"] = pa.array(cells, pa.string())
    return pa.table(data)


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


def _list_column(arr: pa.Array) -> pd.Series:
    """A list column as the store keeps a multi-valued key: a tuple per present row, NaN elsewhere (only the
    present rows go through Python: such keys are missing on most rows)."""
    out = np.full(len(arr), np.nan, dtype=object)
    if arr.null_count < len(arr):
        present = np.flatnonzero(arr.is_valid().to_numpy(zero_copy_only=False))
        vals = arr.filter(arr.is_valid()).to_pylist()
        cells = np.empty(len(vals), dtype=object)
        cells[:] = [tuple(v) for v in vals]
        out[present] = cells
    return pd.Series(out, dtype=object, copy=False)


def _typed_column(key: str, arr: pa.ChunkedArray | pa.Array, categorical: bool = True) -> Any:
    """One AMI column as the store types it (see :mod:`ami_nb.store`); ``categorical=False``: a category key as
    strings (the values are the same; what the analysis reads, without the categories' round trip)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_timestamp(arr.type):
        return pd.DatetimeIndex(arr.cast(pa.timestamp("ns", tz="UTC")).to_pandas()).astype("datetime64[ns, UTC]")
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        return _list_column(arr)
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
    if kind == "category" and categorical:
        enc = arr.dictionary_encode()
        codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        cats = pd.Index(enc.dictionary.to_pylist(), dtype="str")
        return pd.Categorical.from_codes(codes, categories=cats)
    return pd.arrays.ArrowStringArray(arr, dtype=_STR)


def typed_frame(table: pa.Table, *, keep: Sequence[str] = (), categorical: bool = True) -> pd.DataFrame:
    """An archive table -> the events frame a live store gives (``received`` first, then AMI keys).

    AMI columns with no value in these rows are left out, as the store leaves them out; ``keep`` names
    archive columns to keep as well (``pbx``, ``seq``...), placed after ``received``. ``categorical=False``:
    category keys as strings instead (same values; for readers that want strings, as the analysis does).
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
        data[key] = _typed_column(key, col, categorical)
    if repeats:
        for c in {k for _, r in repeats for k in r}:
            if c not in data:
                continue
            col = table[names[c][0]]
            for other in names[c][1:]:  # every spelling, as the column itself
                col = pc.coalesce(col, table[other])
            raw = np.array([np.nan if v is None else v for v in col.to_pylist()], dtype=object)
            for i, r in repeats:
                if c in r:
                    raw[i] = tuple(r[c])
            data[c] = pd.Series(raw, dtype=object, copy=False)
    return pd.DataFrame(data, index=pd.RangeIndex(n))

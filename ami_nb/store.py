"""EventStore: AMI events -> dictionary-encoded column chunks -> pandas DataFrames.

The hot path (:meth:`EventStore.extend`, called on the client's loop thread once per socket read) only appends
message references to an open buffer. Every ``chunk_size`` events the buffer is *frozen* into a columnar chunk:

* each column keeps small integer codes (uint8/uint16/int32) into a per-chunk dictionary; the dictionary is one
  UTF-8 blob (values joined by NUL), so no Python object per event or per distinct value is kept;
* a column present in every row of the chunk is dense (codes in row order); a sparse column keeps
  ``(row, code)`` pairs;
* ``Timestamp`` (``timestampevents=yes``) is parsed once into float64 epoch seconds;
* ``received`` (the read time given by the client, one per socket read) is run-length encoded.

Snapshots (:meth:`frame`) copy the chunk list and the open buffer under a lock held for microseconds, then build
the DataFrame outside the lock, so events may keep arriving from another thread.

Column rules of a frame (documented choices):

* ``received`` (datetime64[ns, UTC]) first, then AMI keys in first-seen order; a key absent from an event is a
  missing value; keys never present in the selected rows are left out.
* ``Timestamp`` -> datetime64[ns, UTC] (microsecond text parsed as float64: sub-microsecond rounding).
* Every other column follows the one type policy, :func:`ami_nb.values.column_kind`: names and states ->
  ``category``; quantities -> nullable ``Int64`` when every selected value converts losslessly (``"016"`` would
  not), else strings; everything else (``Uniqueid``, ``Linkedid``, ``CallerIDNum``, ``Exten``...) strings.
* Repeated keys are kept: a cell holds a ``tuple`` of all the values in order when the key repeats in that event.
  :data:`MULTI_KEYS` (``ChanVariable``, ``Variable``...) are always tuples, even with one value. OriginateResponse's
  ``ChanVariable(<channel>)`` headers are folded into ``ChanVariable`` (the channel is in ``Channel``).

Capacity policy: the newest ``capacity`` events are kept; older ones are evicted and counted in :attr:`dropped`.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, cast

import numpy as np
import pandas as pd

from .protocol import Message
from .values import CATEGORICAL_KEYS, INTEGER_KEYS, column_kind, epoch_to_utc, integers, parse_epochs

__all__ = ["CATEGORICAL_KEYS", "MULTI_KEYS", "NUMERIC_KEYS", "EventStore", "Feed"]

#: Kept under its old name: the integer keys of the one type policy (:data:`ami_nb.values.INTEGER_KEYS`).
NUMERIC_KEYS = INTEGER_KEYS
#: Keys whose cells are always a tuple of values (Asterisk repeats them once per variable).
MULTI_KEYS = frozenset(
    {
        "ChanVariable", "DestChanVariable", "LocalOneChanVariable", "LocalTwoChanVariable",
        "TransfererChanVariable", "TransfereeChanVariable", "TransferTargetChanVariable", "Variable", "Output",
    }
)

_SEP = "\x00"  # joins a chunk's dictionary into one blob
_FOLD = re.compile(r"^(\w*ChanVariable)\(.*\)\Z")  # ChanVariable(Local/100@demo-0000000b;1) -> ChanVariable
_NS = 1_000_000_000
_STAT_SECONDS = 900  # per-second counters kept for rate views


def _blob(values: list[str]) -> tuple[bytes, list[str] | None]:
    joined = _SEP.join(values)
    if joined.count(_SEP) != len(values) - 1:  # a value holds NUL itself: keep the list (rare)
        return b"", list(values)
    return joined.encode("utf-8", "surrogatepass"), None


def _codes_dtype(n: int) -> type:
    return np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.int32


_Value = str | tuple[str, ...]  # a cell: one value, or every value of a repeated / multi-valued key


@dataclass
class _Col:
    """One column of a chunk: ``codes`` into a dictionary, or float64 ``values``; ``rows`` None when dense.

    The dictionary is stored out of band, never with markers inside the text (so no value can collide with one):
    ``items`` values joined by NUL in ``blob`` (or kept as the list ``objs`` when a value holds NUL), and when a
    dictionary entry is a tuple, ``arity`` gives each entry's length (0: a plain string, one item).
    """

    rows: np.ndarray | None
    codes: np.ndarray
    blob: bytes = b""
    n_items: int = 0
    objs: list[str] | None = None  # dictionary items kept as a list only if a value holds NUL
    numeric: bool = False  # codes are float64 values (Timestamp)
    arity: np.ndarray | None = None  # int32 per dictionary entry when some entry is a tuple

    @property
    def has_tuples(self) -> bool:
        """True when some cell holds several values (a repeated or multi-valued key)."""
        return self.arity is not None

    @property
    def n_uniques(self) -> int:
        return self.n_items if self.arity is None else len(self.arity)

    def items(self) -> list[str]:
        if self.objs is not None:
            return self.objs
        if self.n_items == 0:
            return []
        return self.blob.decode("utf-8", "surrogatepass").split(_SEP)

    def uniques(self) -> list[_Value]:
        flat = self.items()
        if self.arity is None:
            return list(flat)
        out: list[_Value] = []
        pos = 0
        for a in self.arity.tolist():
            if a:
                out.append(tuple(flat[pos : pos + a]))
                pos += a
            else:
                out.append(flat[pos])
                pos += 1
        return out

    @property
    def nbytes(self) -> int:
        n = self.codes.nbytes + len(self.blob)
        if self.rows is not None:
            n += self.rows.nbytes
        if self.objs is not None:
            n += sum(len(s) + 49 for s in self.objs) + 8 * len(self.objs)
        if self.arity is not None:
            n += self.arity.nbytes
        return n


def _dictionary_col(rows: np.ndarray | None, codes: np.ndarray, uniq: list[Any]) -> _Col:
    if any(type(u) is tuple for u in uniq):
        arity = np.fromiter((len(u) if type(u) is tuple else 0 for u in uniq), np.int32, len(uniq))
        flat = [x for u in uniq for x in (u if type(u) is tuple else (u,))]
    else:
        arity, flat = None, uniq
    blob, objs = _blob(flat)
    return _Col(rows, codes, blob, len(flat), objs, arity=arity)


@dataclass
class _Chunk:
    """Frozen events ``base .. base + n - 1`` (global sequence numbers)."""

    base: int
    n: int
    recv_starts: np.ndarray  # row where each run of equal ``received`` begins
    recv_values: np.ndarray  # float64 epoch seconds
    cols: dict[str, _Col]  # in first-seen order
    cacheable: bool = False  # a chunk of the store (not the open tail frozen for one snapshot)

    def received(self) -> np.ndarray:
        lengths = np.diff(np.append(self.recv_starts, self.n))
        return np.repeat(self.recv_values, lengths)

    @property
    def nbytes(self) -> int:
        return self.recv_starts.nbytes + self.recv_values.nbytes + sum(c.nbytes for c in self.cols.values())


_Plan = list[tuple[str, tuple[int, ...], bool]]


def _plan(keys: tuple[str, ...]) -> _Plan | None:
    """How the keys of one message shape map to columns; None when each key is its own plain column."""
    cols: dict[str, list[int]] = {}
    for j, k in enumerate(keys):
        m = _FOLD.match(k)
        cols.setdefault(m.group(1) if m else k, []).append(j)
    plan = [(k, tuple(ix), len(ix) > 1 or k in MULTI_KEYS) for k, ix in cols.items()]
    if len(plan) == len(keys) and not any(multi for _, _, multi in plan) and list(cols) == list(keys):
        return None
    return plan


def _factorize(values: Sequence[_Value]) -> tuple[np.ndarray, list[_Value]]:
    uniques = list(dict.fromkeys(values))
    dtype = _codes_dtype(len(uniques))
    if len(uniques) == 1:
        return np.zeros(len(values), dtype=dtype), uniques
    index = dict(zip(uniques, range(len(uniques)), strict=True))
    return np.fromiter(map(index.__getitem__, values), dtype, len(values)), uniques


@dataclass
class _Batch:
    """Events not frozen yet, as key and value tuples (tuples of str: the garbage collector stops tracking them,
    so a big open buffer costs collections nothing, unlike the messages themselves)."""

    keys: list[tuple[str, ...]]
    vals: list[tuple[str, ...]]
    recv: list[tuple[int, float]]  # (end row, received) per socket read
    base: int  # sequence number of the first row

    def __len__(self) -> int:
        return len(self.keys)

    def copy(self) -> _Batch:
        return _Batch(list(self.keys), list(self.vals), list(self.recv), self.base)


_VALUES = dict.values
#: Bound on every cache keyed by a message's key shape: header names are the server's choice (Asterisk names
#: OriginateResponse's headers ``ChanVariable(<channel>)``), so shapes are unbounded; a full cache starts again.
_MAX_SHAPES = 4096
_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _split(events: Sequence[Any]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Key and value tuples of each event; a message whose keys repeat gives all its pairs in order."""
    keys = list(map(tuple, events))
    try:
        vals = list(map(tuple, map(_VALUES, events)))
    except TypeError:  # a Mapping that is not a dict
        vals = [tuple(m.values()) for m in events]
    repeated = list(map(getattr, events, repeat("_pairs"), repeat(None)))  # set only when keys repeat
    if repeated.count(None) != len(repeated):
        for i, pairs in enumerate(repeated):
            if pairs is not None:
                keys[i], vals[i] = zip(*pairs, strict=False)
    if len(_SHAPES) > _MAX_SHAPES:  # server-chosen names (ChanVariable(<channel>), UserEvent headers): bounded
        _SHAPES.clear()
    # one tuple object per key shape: the per-event copies die at once instead of aging in the collector
    shapes = list(map(_SHAPES.get, keys))
    if shapes.count(None):
        for i, shape in enumerate(shapes):
            if shape is None:
                shapes[i] = _shape(keys[i])
    return cast("list[tuple[str, ...]]", shapes), vals


def _shape(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The shared shape of a new key tuple, ``ChanVariable(<channel>)`` folded to ``ChanVariable``, so that the
    OriginateResponses of a thousand channels share one shape (one group, one plan) instead of one each."""
    shape = _SHAPES.get(keys)
    if shape is None:
        if any("(" in k for k in keys):
            folded = tuple([m.group(1) if "(" in k and (m := _FOLD.match(k)) else k for k in keys])
        else:
            folded = keys
        shape = _SHAPES[keys] = _SHAPES.setdefault(folded, folded)
    return shape


def _freeze(batch: _Batch, plans: dict[tuple[str, ...], _Plan | None]) -> _Chunk:
    """Columnar chunk of a batch; ``plans`` is a cache of key shapes."""
    n = len(batch)
    recv, base, allvals = batch.recv, batch.base, batch.vals
    # 1. group rows by their key sequence (events of one type share it)
    groups: dict[tuple[str, ...], tuple[list[int], list[tuple[str, ...]]]] = {}
    get = groups.get
    for i, (ks, vs) in enumerate(zip(batch.keys, allvals, strict=False)):
        g = get(ks)
        if g is None:
            groups[ks] = ([i], [vs])
        else:
            g[0].append(i)
            g[1].append(vs)

    # 2. transpose each group; fold repeated and multi-valued keys into tuple-encoded values
    parts: dict[str, list[tuple[list[int], Sequence[_Value]]]] = {}
    for keys, (grows, gvals) in groups.items():
        tcols = list(zip(*gvals, strict=False))  # rows of one key shape: equal lengths
        if keys in plans:
            plan = plans[keys]
        else:
            plan = plans[keys] = _plan(keys)
        if plan is None:
            named: Iterable[tuple[str, Sequence[_Value]]] = zip(keys, tcols, strict=True)
        else:
            named = []
            for key, ix, multi in plan:
                if not multi:
                    named.append((key, tcols[ix[0]]))
                elif len(ix) == 1:
                    named.append((key, [(v,) for v in tcols[ix[0]]]))
                else:
                    named.append((key, list(zip(*(tcols[j] for j in ix), strict=True))))
        for key, col in named:
            p = parts.get(key)
            if p is None:
                parts[key] = [(grows, col)]
            else:
                p.append((grows, col))

    rows_dtype = np.uint16 if n <= 65536 else np.int32
    cols: dict[str, _Col] = {}
    for key, plist in parts.items():
        if len(plist) == 1:
            rows_l, values = plist[0]
        else:
            rows_l = list(chain.from_iterable([rows for rows, _ in plist]))
            values = list(chain.from_iterable([col for _, col in plist]))
        dense = len(values) == n
        uniq: list[_Value] = []
        if column_kind(key) == "time":
            codes = parse_epochs(cast("Sequence[str]", values))  # a repeated Timestamp (a tuple) reads as NaN
        else:
            codes, uniq = _factorize(values)
        if dense:
            if len(plist) > 1:
                reordered = np.empty_like(codes)
                reordered[np.array(rows_l, dtype=np.int64)] = codes
                codes = reordered
            rows: np.ndarray | None = None
        else:
            rows = np.array(rows_l, dtype=rows_dtype)
        if column_kind(key) == "time":
            cols[key] = _Col(rows, codes, numeric=True)
        else:
            cols[key] = _dictionary_col(rows, codes, uniq)

    ends = np.array([e for e, _ in recv], dtype=np.int64)
    vals_r = np.array([r for _, r in recv], dtype=np.float64)
    starts = np.concatenate(([0], ends[:-1])) if len(ends) else np.zeros(0, dtype=np.int64)
    keep = ends > starts
    starts, vals_r = starts[keep], vals_r[keep]
    if len(vals_r) > 1:  # merge runs with the same read time
        change = np.concatenate(([True], vals_r[1:] != vals_r[:-1]))
        starts, vals_r = starts[change], vals_r[change]
    return _Chunk(base, n, starts.astype(np.int32), vals_r, cols)


try:  # pandas' own string storage when present: decode a dictionary without a Python str per row
    import pyarrow as _pa
except ImportError:  # pragma: no cover - pyarrow is optional
    _pa = None


def _strings(codes: np.ndarray, uniques: list[str]) -> Any:
    """A ``str`` array from codes into ``uniques`` (-1: missing)."""
    if _pa is not None:
        try:
            dtype = pd.StringDtype("pyarrow", na_value=np.nan)
            idx = _pa.array(codes.astype(np.int32), mask=codes < 0, type=_pa.int32())
            arr = _pa.DictionaryArray.from_arrays(idx, _pa.array(uniques, type=_pa.large_string()))
            return pd.arrays.ArrowStringArray(arr.dictionary_decode(), dtype=dtype)
        except (TypeError, ValueError, _pa.ArrowException):  # surrogates, or another pandas string storage
            pass
    values = np.array([*uniques, np.nan], dtype=object)[codes]
    try:
        return pd.array(values, dtype="str")
    except (UnicodeError, TypeError, ValueError):  # lone surrogates (a parser run with surrogateescape)
        return pd.Series(values, dtype=object, copy=False)



def to_epoch(since: Any) -> float:
    """Epoch seconds from a number, a datetime, a pandas Timestamp or an ISO string (naive means UTC)."""
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    ts = pd.Timestamp(since)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value) / _NS  # int / int: exactly rounded (float(ns) / 1e9 rounds twice, moving a boundary)


class _FrameCache:
    """Text columns of frozen chunks, converted once (Arrow strings, every row of the chunk), for later frames.

    Converting a chunk's dictionary codes to strings is most of a frame's cost; a frozen chunk never changes, so
    its conversion is kept, keyed by (chunk, column), least recently used evicted beyond ``max_bytes``. Entries
    leave with their chunk. Thread-safe: frames may be built from several threads.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._lock = threading.Lock()
        self._lru: OrderedDict[tuple[int, str], tuple[Any, int]] = OrderedDict()
        self._by_chunk: dict[int, set[str]] = {}

    def get(self, base: int, key: str) -> Any:
        with self._lock:
            hit = self._lru.get((base, key))
            if hit is None:
                return None
            self._lru.move_to_end((base, key))
            return hit[0]

    def put(self, base: int, key: str, value: Any, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        with self._lock:
            if (base, key) in self._lru:
                return
            self._lru[(base, key)] = (value, nbytes)
            self._by_chunk.setdefault(base, set()).add(key)
            self.nbytes += nbytes
            while self.nbytes > self.max_bytes:
                (b, k), (_v, n) = self._lru.popitem(last=False)
                self.nbytes -= n
                keys = self._by_chunk[b]
                keys.discard(k)
                if not keys:
                    del self._by_chunk[b]

    def drop(self, base: int) -> None:
        with self._lock:
            for key in self._by_chunk.pop(base, ()):
                _v, n = self._lru.pop((base, key))
                self.nbytes -= n


def _full_codes(col: _Col, n: int) -> np.ndarray:
    """The column's dictionary codes for every row of its chunk (-1: the row lacks the key)."""
    if col.rows is None:
        return col.codes.astype(np.int32)
    out = np.full(n, -1, dtype=np.int32)
    out[col.rows] = col.codes
    return out


def _arrow_strings(codes: np.ndarray, uniques: list[Any]) -> Any:
    """An Arrow large_string array from codes into ``uniques`` (-1: null); None where Arrow cannot hold them."""
    if _pa is None:
        return None
    try:
        idx = _pa.array(codes, mask=codes < 0, type=_pa.int32())
        return _pa.DictionaryArray.from_arrays(idx, _pa.array(uniques, type=_pa.large_string())).dictionary_decode()
    except (TypeError, ValueError, _pa.ArrowException):  # lone surrogates
        return None


class Feed:
    """Every event a store receives from ``start`` on, in order, for a consumer on another thread (an archive).

    The store hands over its frozen chunks as it freezes them, and the rows it evicted before freezing them
    (a read bigger than the room left) as raw batches, by reference, under its lock (``notify(rows)`` is called
    there: keep it trivial). :meth:`take` returns what arrived, and with ``tail`` also copies of the rows not
    frozen yet: pieces in sequence order that may overlap (a tail copied now is in a later chunk again), so the
    consumer keeps a cursor (see :mod:`ami_nb.history.writer`). The store's own chunks are shared, not copied:
    the consumer converts them without a second parse of the messages.
    """

    def __init__(self, store: EventStore, start: int, notify: Any = None) -> None:
        self.store = store
        self.start = start
        self.items: list[_Chunk | _Batch] = []
        self.notify = notify

    def _put(self, item: _Chunk | _Batch, rows: int) -> None:
        self.items.append(item)
        if self.notify is not None:
            self.notify(rows)

    def take(self, tail: bool = False) -> list[_Chunk | _Batch]:
        """What arrived since the last take; with ``tail``, copies of the rows not frozen yet after it."""
        store = self.store
        with store._lock:
            items, self.items = self.items, []
            if tail:
                items.extend(store._pending)  # never mutated again once pending
                if len(store._open):
                    items.append(store._open.copy())
        return items

    def close(self) -> None:
        """Stop receiving (what is still queued stays for a last :meth:`take`)."""
        self.store._unfeed(self)


class EventStore:
    """A bounded, thread-safe store of AMI events that answers pandas DataFrames.

    ``extend(events, received)`` is the client's batch sink; ``frame()`` / ``store["Hangup"]`` snapshot it.
    ``capacity`` bounds the events held (newest kept, see :attr:`dropped`); ``chunk_size`` is the freeze batch.
    ``frame_cache_bytes`` bounds the text columns of frozen chunks kept converted for the next :meth:`frame`
    (0: convert every time). A frame shares those buffers, so the cache costs memory only beyond frames still held.
    """

    def __init__(self, capacity: int = 1_000_000, *, chunk_size: int = 16384,
                 frame_cache_bytes: int = 512 << 20) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if not 1 <= chunk_size <= 1 << 20:
            raise ValueError(f"chunk_size must be between 1 and {1 << 20}, got {chunk_size}")
        self.capacity = int(capacity)
        self.chunk_size = int(min(chunk_size, max(capacity, 1)))
        self._lock = threading.Lock()  # guards the fields below; held only to append or copy references
        self._freeze_lock = threading.Lock()  # serialises freezing so chunks stay in order
        self._chunks: list[_Chunk] = []
        self._offset = 0  # rows of the oldest chunk already evicted
        self._pending: list[_Batch] = []  # being frozen (outside the lock)
        self._open = _Batch([], [], [], 0)
        self._total = 0
        self._dropped = 0
        self._order: dict[str, int] = {}  # column name -> frozen chunks held that have it, first-seen order
        self._plans: dict[tuple[str, ...], _Plan | None] = {}  # per key shape; bounded (_MAX_SHAPES)
        self._cache = _FrameCache(frame_cache_bytes)
        self._rate: deque[tuple[int, int]] = deque(maxlen=_STAT_SECONDS)  # (epoch second, events)
        #: an archive's reader (:class:`ami_nb.history.live.StoreHook`), set by ``session.archive()``: frame()
        #: with ``since`` older than memory asks it for the evicted part
        self.archive: Any = None
        self._feeds: list[Feed] = []

    def feed(self, notify: Any = None) -> Feed:
        """A :class:`Feed` of every event appended from now on (``notify(rows)``: called, under the store's lock,
        as rows arrive in it). Close it with :meth:`Feed.close`."""
        with self._lock:
            f = Feed(self, self._total, notify)
            self._feeds = [*self._feeds, f]
            return f

    def _unfeed(self, feed: Feed) -> None:
        with self._lock:
            self._feeds = [f for f in self._feeds if f is not feed]

    def _spill(self, k: int) -> None:
        """The oldest ``k`` rows of the open buffer leave unfrozen (lock held): feeds get them as a raw batch."""
        open_ = self._open
        recv = []
        for e, r in open_.recv:
            recv.append((min(e, k), r))
            if e >= k:
                break
        batch = _Batch(open_.keys[:k], open_.vals[:k], recv, open_.base)
        for f in self._feeds:
            f._put(batch, k)

    # -- writing (hot path) ------------------------------------------------------------------------------
    def extend(self, events: Sequence[Message], received: float | None = None) -> None:
        """Append the events of one socket read, all received at ``received`` (epoch seconds)."""
        n = len(events)
        if not n:
            return
        if received is None:
            received = time.time()
        sec = int(received)
        keys, vals = _split(events)  # outside the lock
        with self._lock:
            open_ = self._open
            open_.keys += keys
            open_.vals += vals
            open_.recv.append((len(open_.keys), received))
            self._total += n
            rate = self._rate
            if rate and rate[-1][0] == sec:
                rate[-1] = (sec, rate[-1][1] + n)
            else:
                rate.append((sec, n))
            if self._total - self._dropped > self.capacity:
                self._evict()
            full = len(open_.keys) >= self.chunk_size
        if full:
            self._freeze_open()

    def append(self, event: Message, received: float | None = None) -> None:
        """Append one event (convenience; the client uses :meth:`extend`)."""
        self.extend([event], received)

    def freeze(self) -> None:
        """Freeze the open buffer now (it holds message objects until ``chunk_size`` events have arrived)."""
        self._freeze_open(force=True)

    def _freeze_open(self, force: bool = False) -> None:
        with self._freeze_lock:
            with self._lock:
                batch = self._open
                if not len(batch) or (len(batch) < self.chunk_size and not force):
                    return
                self._pending.append(batch)
                self._open = _Batch([], [], [], batch.base + len(batch))
            if len(self._plans) > _MAX_SHAPES:  # shapes are server-chosen (ChanVariable(<channel>)): bounded
                self._plans.clear()
            chunk = _freeze(batch, self._plans)
            chunk.cacheable = True
            with self._lock:
                self._pending.remove(batch)
                self._chunks.append(chunk)
                for f in self._feeds:  # under the lock: feeds see chunks and spills in sequence order
                    f._put(chunk, chunk.n)
                order = self._order
                for key in chunk.cols:
                    order[key] = order.get(key, 0) + 1
                self._evict()

    def _evict(self) -> None:
        """Drop the oldest events beyond capacity (lock held)."""
        excess = self._total - self._dropped - self.capacity
        while excess > 0 and self._chunks:
            head = self._chunks[0]
            left = head.n - self._offset
            if excess >= left:
                self._forget(self._chunks.pop(0))
                self._offset = 0
                self._dropped += left
                excess -= left
            else:
                self._offset += excess
                self._dropped += excess
                return
        if excess > 0 and self._pending:
            return  # a batch being frozen is older than the open buffer: evicted once it lands as a chunk
        open_ = self._open
        if excess > 0 and len(open_):
            k = min(excess, len(open_))
            if self._feeds:
                self._spill(k)
            del open_.keys[:k]
            del open_.vals[:k]
            open_.recv = [(e - k, r) for e, r in open_.recv if e - k > 0]
            open_.base += k
            self._dropped += k

    def _forget(self, chunk: _Chunk) -> None:
        """A chunk leaves the store (lock held): its columns leave the column order, its cache entries go."""
        order = self._order
        for key in chunk.cols:
            c = order.get(key, 0) - 1
            if c > 0:
                order[key] = c
            else:
                order.pop(key, None)
        self._cache.drop(chunk.base)

    def clear(self) -> None:
        """Forget every event held (``total`` and ``dropped`` keep counting)."""
        with self._freeze_lock, self._lock:
            held = self._total - self._dropped
            self._dropped += held
            for chunk in self._chunks:
                self._forget(chunk)
            self._chunks = []
            self._offset = 0
            if self._feeds and len(self._open):
                self._spill(len(self._open))
            self._open = _Batch([], [], [], self._open.base + len(self._open))
            self._rate.clear()

    # -- counters ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return self._total - self._dropped

    @property
    def total(self) -> int:
        """Events ever appended."""
        return self._total

    @property
    def dropped(self) -> int:
        """Events evicted by the capacity policy (or :meth:`clear`)."""
        return self._dropped

    @property
    def columns(self) -> list[str]:
        """Every AMI key seen in frozen chunks, first-seen order."""
        return list(self._order)

    def rate(self, seconds: int = 60, now: float | None = None) -> pd.Series:
        """Events per second for each of the last ``seconds`` whole seconds (index: UTC second)."""
        now = time.time() if now is None else now
        end = int(now)
        with self._lock:
            buckets = dict(self._rate)
        secs = np.arange(end - seconds + 1, end + 1)
        counts = np.array([buckets.get(int(s), 0) for s in secs], dtype=np.int64)
        return pd.Series(counts, index=pd.to_datetime(secs, unit="s", utc=True), name="events")

    def events_per_second(self, window: float = 5.0, now: float | None = None) -> float:
        """Mean events per second over the last ``window`` seconds (the current second excluded)."""
        now = time.time() if now is None else now
        end = int(now)
        w = max(1, int(window))
        with self._lock:
            n = sum(c for s, c in self._rate if end - w <= s < end)
        return n / w

    def counts(self) -> pd.Series:
        """Events held by event name, most frequent first."""
        chunks, starts, _order, _end = self._all_chunks()
        offset = starts[0] if starts else 0
        total: dict[str, int] = {}
        for i, ch in enumerate(chunks):
            ev = ch.cols.get("Event")
            if ev is None:
                continue
            codes = ev.codes
            if ev.rows is None:
                codes = codes[offset:] if i == 0 else codes
            elif i == 0 and offset:
                codes = codes[ev.rows >= offset]
            counted = np.bincount(codes.astype(np.int64), minlength=ev.n_uniques)
            for name, c in zip(cast("list[str]", ev.uniques()), counted, strict=False):
                if c:
                    total[name] = total.get(name, 0) + int(c)
        return pd.Series(total, dtype=np.int64, name="events").sort_values(ascending=False, kind="stable")

    @property
    def nbytes(self) -> int:
        """Bytes held by frozen chunks (arrays and dictionary blobs; the open buffer is not counted)."""
        with self._lock:
            return sum(c.nbytes for c in self._chunks)

    @property
    def frozen(self) -> int:
        """Events held in frozen chunks (the rest wait in the open buffer)."""
        with self._lock:
            return sum(c.n for c in self._chunks) - self._offset

    # -- reading -------------------------------------------------------------------------------------------
    def _snapshot(self) -> tuple[list[_Chunk], int, list[_Batch], dict[str, int], int]:
        """Frozen chunks, evicted rows of the first, raw batches not yet frozen, column order, next sequence."""
        with self._lock:
            chunks = list(self._chunks)
            offset = self._offset
            raw = list(self._pending)  # a pending batch is never mutated again
            open_ = self._open
            if len(open_):
                raw.append(open_.copy())
            return chunks, offset, raw, dict(self._order), open_.base + len(open_)

    def _all_chunks(self, after: int | None = None) -> tuple[list[_Chunk], list[int], dict[str, int], int]:
        """A consistent snapshot as chunks (raw batches frozen outside the lock), first rows, column order, end."""
        chunks, offset, raw, order, end = self._snapshot()
        starts = [offset] + [0] * (len(chunks) - 1) if chunks else []
        plans: dict[tuple[str, ...], _Plan | None] = {}
        for batch in raw:
            if len(batch):
                ch = _freeze(batch, plans)
                chunks.append(ch)
                starts.append(0)
                for key in ch.cols:
                    order.setdefault(key, 0)
        if after is not None:
            for i, ch in enumerate(chunks):
                starts[i] = max(starts[i], min(ch.n, after - ch.base))
        return chunks, starts, order, end

    def frame(
        self,
        pattern: str | Sequence[str] | None = None,
        *,
        last: int | None = None,
        since: Any = None,
        columns: Iterable[str] | None = None,
        after: int | None = None,
    ) -> pd.DataFrame:
        """A DataFrame of the events held.

        ``pattern``: an event name or an fnmatch wildcard (``"Queue*"``), case-insensitive, or a list of them;
        ``last``: only the newest N (after filtering); ``since``: received at or after this time (datetime,
        Timestamp, ISO string, or epoch seconds); ``columns``: only these AMI keys (plus ``received``);
        ``after``: only events with a sequence number >= ``after`` (see :meth:`delta`).
        """
        df = self._build(pattern, last, since, columns, after)[0]
        if since is not None and after is None and self.archive is not None:
            df = self.archive.extend_back(self, df, pattern=pattern, last=last, since=since, columns=columns)
        return df

    def __getitem__(self, pattern: str) -> pd.DataFrame:
        return self.frame(pattern)

    def oldest_received(self) -> float | None:
        """When the oldest event held arrived (epoch seconds), from the frozen chunks; None when none is frozen."""
        with self._lock:
            if not self._chunks:
                return None
            head, offset = self._chunks[0], self._offset
            run = int(np.searchsorted(head.recv_starts, offset, side="right")) - 1
            return float(head.recv_values[max(run, 0)])

    def delta(self, cursor: int = 0, **kw: Any) -> tuple[pd.DataFrame, int]:
        """Events appended since ``cursor`` (a previous call's returned cursor; 0 for all held), new cursor.

        Events evicted before being read are skipped; compare ``store.dropped`` to notice.
        """
        df, end = self._build(kw.pop("pattern", None), kw.pop("last", None), kw.pop("since", None),
                              kw.pop("columns", None), cursor)
        return df, end

    def _build(self, pattern: str | Sequence[str] | None, last: int | None, since: Any, columns: Iterable[str] | None,
               after: int | None) -> tuple[pd.DataFrame, int]:
        chunks, starts, order, end = self._all_chunks(after)
        since_epoch = to_epoch(since) if since is not None else None
        since_us = round(since_epoch * 1e6) if since_epoch is not None else 0
        if pattern is not None:
            pats = [p.lower() for p in ([pattern] if isinstance(pattern, str) else pattern)]

            def match(name: str) -> bool:
                name = name.lower()
                return any(fnmatch.fnmatchcase(name, p) for p in pats)
        # selected rows per chunk (sorted chunk-row indices)
        sels: list[np.ndarray] = []
        for ch, st in zip(chunks, starts, strict=True):
            sel = np.arange(st, ch.n, dtype=np.int64)
            if pattern is not None and len(sel):
                ev = ch.cols.get("Event")
                if ev is None:
                    sel = sel[:0]
                else:
                    names = cast("list[str]", ev.uniques())
                    hit = [i for i, name in enumerate(names) if match(name)]
                    if ev.rows is None:
                        mask = np.isin(ev.codes, hit)
                    else:
                        mask = np.zeros(ch.n, dtype=bool)
                        mask[ev.rows[np.isin(ev.codes, hit)]] = True
                    sel = sel[mask[sel]]
            if since_epoch is not None and len(sel):
                # compared in whole microseconds, as frames show ``received``: a since copied from a frame's row
                # includes that row (its float may lie a fraction of a microsecond below the rounded value)
                sel = sel[np.round(ch.received()[sel] * 1e6) >= since_us]
            sels.append(sel)
        if last is not None:
            remaining = max(0, int(last))
            for i in range(len(sels) - 1, -1, -1):
                s = sels[i]
                if len(s) > remaining:
                    sels[i] = s[len(s) - remaining:]
                remaining -= len(sels[i])
        counts = [len(s) for s in sels]
        n_out = sum(counts)
        offsets = np.cumsum([0, *counts])
        data: dict[str, Any] = {}
        recv = np.concatenate([ch.received()[s] for ch, s in zip(chunks, sels, strict=True)]) if n_out else \
            np.zeros(0, dtype=np.float64)
        data["received"] = epoch_to_utc(recv)
        wanted = list(order) if columns is None else [c for c in columns if c != "received"]
        wheres: dict[int, np.ndarray] = {}  # per chunk: chunk row -> output position (-1: not selected)
        for key in wanted:
            col = self._column(key, chunks, sels, offsets, n_out, wheres)
            if col is not None:
                data[key] = col
        df = pd.DataFrame(data, index=pd.RangeIndex(n_out), copy=False)  # every array is new or immutable
        return df, end

    def _column(self, key: str, chunks: list[_Chunk], sels: list[np.ndarray], offsets: np.ndarray,
                n_out: int, wheres: dict[int, np.ndarray]) -> Any:
        """One output column (None when no selected row has the key)."""
        kind = column_kind(key)
        cols = [ch.cols.get(key) for ch in chunks]
        if kind == "text" and not any(c is not None and (c.has_tuples or c.numeric) for c in cols):
            text = self._text_column(key, chunks, sels, cols)
            if text is not False:
                return text
        pieces = []  # (out positions, chunk codes, col)
        for i, (ch, sel, off, col) in enumerate(zip(chunks, sels, offsets, cols, strict=False)):
            if col is None or not len(sel):
                continue
            if col.rows is None:
                pos = np.arange(off, off + len(sel))
                codes = col.codes[sel]
            else:
                where = wheres.get(i)
                if where is None:
                    where = wheres[i] = np.full(ch.n, -1, dtype=np.int64)
                    where[sel] = np.arange(off, off + len(sel))
                p = where[col.rows]
                keep = p >= 0
                if not keep.any():
                    continue
                pos, codes = p[keep], col.codes[keep]
            pieces.append((pos, codes, col))
        if not pieces:
            return None
        if pieces[0][2].numeric:
            vals = np.full(n_out, np.nan)
            for pos, codes, _c in pieces:
                vals[pos] = codes
            return epoch_to_utc(vals)
        tuples = any(col.has_tuples for _p, _c, col in pieces)
        gcodes = np.full(n_out, -1, dtype=np.int64)
        if len(pieces) == 1:
            pos, codes, col = pieces[0]
            uniques = col.uniques()
            gcodes[pos] = codes
        else:
            table: dict[Any, int] = {}
            for pos, codes, col in pieces:
                u = col.uniques()
                fresh = [k for k in u if k not in table]
                table.update(zip(fresh, range(len(table), len(table) + len(fresh)), strict=True))
                mapping = np.fromiter(map(table.__getitem__, u), np.int64, len(u))
                gcodes[pos] = mapping[codes]
            uniques = list(table)
        if tuples:
            vals_o = np.empty(len(uniques) + 1, dtype=object)
            for i, item in enumerate(uniques):
                vals_o[i] = item
            vals_o[-1] = np.nan
            return pd.Series(vals_o[gcodes], dtype=object, copy=False)
        if kind in ("integer", "category"):
            # the dictionaries hold every value of their chunks: type from the values this selection uses, so a
            # key's dtype depends on the rows asked for (as in the archive and coerce_frame), never on what else a
            # chunk held or where chunks end
            used = np.flatnonzero(np.bincount(gcodes + 1, minlength=len(uniques) + 1)[1:])
            if len(used) < len(uniques):
                remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
                remap[used] = np.arange(len(used))
                gcodes = remap[gcodes]  # -1 (missing) maps to remap[-1] == -1
                uniques = [uniques[i] for i in used]
        if kind == "integer":
            conv = integers(cast("list[str]", uniques))  # no tuples here (returned above)
            if conv is not None:
                nums = np.array([*conv, 0], dtype=np.int64)
                return pd.arrays.IntegerArray(nums[gcodes], gcodes < 0)
            text = self._text_column(key, chunks, sels, cols)
            if text is not False:
                return text
        if kind == "category":
            return pd.Categorical.from_codes(gcodes, categories=pd.Index(uniques, dtype="str"))
        return _strings(gcodes, cast("list[str]", uniques))

    def _text_column(self, key: str, chunks: list[_Chunk], sels: list[np.ndarray], cols: list[_Col | None]) -> Any:
        """A ``str`` column assembled chunk by chunk from Arrow strings, each frozen chunk converted once (see
        :class:`_FrameCache`): only the open tail and small selections are decoded anew. None when no selected
        row has the key; False when not possible here (no pyarrow, lone surrogates): use the general path."""
        if _pa is None:
            return False
        parts = []
        present = False
        cache = self._cache
        for ch, sel, col in zip(chunks, sels, cols, strict=True):
            k = len(sel)
            if not k:
                continue
            if col is None:
                parts.append(_pa.nulls(k, _pa.large_string()))
                continue
            full = cache.get(ch.base, key) if ch.cacheable else None
            if full is None and (not ch.cacheable or 4 * k < ch.n or cache.max_bytes <= 0):
                arr = _arrow_strings(_full_codes(col, ch.n)[sel], col.uniques())  # a small selection: decode it
                if arr is None:
                    return False
            else:
                if full is None:
                    full = _arrow_strings(_full_codes(col, ch.n), col.uniques())
                    if full is None:
                        return False
                    cache.put(ch.base, key, full, full.nbytes)
                run = int(sel[-1]) - int(sel[0]) + 1 == k  # all rows, or all after an offset: sliced, no copy
                arr = full.slice(int(sel[0]), k) if run else full.take(_pa.array(sel))
            present = present or arr.null_count < k
            parts.append(arr)
        if not present:
            return None
        dtype = pd.StringDtype("pyarrow", na_value=np.nan)
        try:
            return pd.arrays.ArrowStringArray(_pa.chunked_array(parts, type=_pa.large_string()), dtype=dtype)
        except (TypeError, ValueError):  # another pandas string storage
            return False

    @property
    def frame_cache_nbytes(self) -> int:
        """Bytes of converted text columns kept for the next :meth:`frame` (bounded by ``frame_cache_bytes``)."""
        return self._cache.nbytes

    def __repr__(self) -> str:
        return f"<EventStore held={len(self)} total={self._total} dropped={self._dropped} capacity={self.capacity}>"

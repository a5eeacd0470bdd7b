"""The archive writer: batches of events -> a Hive-partitioned Parquet dataset, on its own thread.

``path/pbx=<name>/date=<YYYY-MM-DD>/part-<first seq>-<random>.parquet``, one file per flush and date (UTC, from
``received``), written every ``flush_seconds`` or ``flush_rows`` events, whichever comes first.

A session's archive is fed by its store (``Archive(..., store=store)``, what :meth:`ami_nb.Session.archive`
does): the store already turns the messages into columnar chunks on the loop thread, and hands each chunk over
by reference as it freezes it (:class:`ami_nb.store.Feed`); the writer thread keeps the chunks and at a flush
converts them to Arrow with numpy and Arrow kernels, which release the GIL, so the session's loop barely notices
it: each key once over the flush's chunks, plain strings as one dictionary and its indices, which the Parquet
writer takes as they are (no value copied or hashed again; see :func:`write_table`). At a flush the rows the
store has not frozen yet are copied and frozen on the writer thread (the store freezes them again later; the
writer's cursor skips what it wrote). Without a store, :meth:`Archive.write` takes batches of messages (the
batch-sink signature: imports, other programs), frozen the store's way on the writer thread.

Crash safety: a file is written under a hidden name (``.part-...tmp``, which Parquet readers skip), flushed to
disk, then renamed into place, so a process killed at any instant leaves only complete files; what is lost is
what had not been flushed yet (at most ``flush_seconds``). Gaps (the connection was down, the recorder was not
running) go to ``path/_gaps/pbx=<name>/<run>.jsonl``, one JSON object per line, for :attr:`History.gaps`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..store import _Batch, _Chunk
from .schema import _TS, RowBuilder, _is_text, chunks_table

__all__ = ["Archive", "check_pbx"]

log = logging.getLogger("ami_nb.archive")

_STATS = ("received", "seq", "call_hash", "call_id", "Event")  # the columns readers filter on (see write_table)
_ROW_GROUP_MAX = 1 << 20  # rows of a row group of a file of dictionary arrays (a flush: flush_rows, 500,000)
_PBX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_pbx(name: str) -> str:
    """A PBX name usable as a partition value (letters, digits, ``.``, ``_``, ``-``); else ValueError."""
    if not isinstance(name, str) or not _PBX.match(name):
        raise ValueError(f"PBX name {name!r} cannot name a partition: use letters, digits, '.', '_' or '-'")
    return name


def pbx_from_host(host: str) -> str:
    """A default PBX name from a host name (characters a partition cannot hold become ``_``)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", host).strip("._-") or "pbx"
    return check_pbx(name[:100])


def _plain(typ: pa.DataType) -> pa.DataType:
    return typ.value_type if pa.types.is_dictionary(typ) else typ


def write_table(table: pa.Table, directory: Path, first_seq: int) -> Path:
    """Write ``table`` into ``directory`` crash-safely (hidden temporary name, fsync, rename); the final path.

    String columns may come as dictionary arrays (:func:`~ami_nb.history.schema.chunks_table` with ``encoded``):
    the Parquet writer then writes their dictionary and indices as they are, instead of copying every value and
    hashing it again, and the file says they are strings (the Arrow schema it stores is that of plain strings),
    so it reads back exactly as one written from string columns.
    """
    directory.mkdir(parents=True, exist_ok=True)
    name = f"part-{first_seq:020d}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = directory / f".{name}.tmp"
    final = directory / name
    # a dictionary for text only (seq, times and hashes are near unique: hashing them is work for nothing), and
    # statistics only where readers filter (the period, seq, the buckets, event names; links' nulls): about 15 %
    # less work and 13 % fewer bytes than every column both ways
    text = [f.name for f in table.schema if _is_text(f.type) or pa.types.is_list(f.type)]
    stats = [c for c in _STATS if c in table.column_names] + (["links.list.element"] if "links" in text else [])
    encoded = any(pa.types.is_dictionary(f.type) for f in table.schema)
    if encoded:
        # a dictionary array's whole dictionary goes into each row group: one row group a file (a flush; its
        # statistics are the file's), and the stored schema that of plain strings
        plain = pa.schema([f.with_type(_plain(f.type)) for f in table.schema], metadata=table.schema.metadata)
        meta = dict(table.schema.metadata or {})
        meta[b"ARROW:schema"] = base64.b64encode(plain.serialize().to_pybytes())
        table = table.replace_schema_metadata(meta)
        options: dict[str, Any] = {"row_group_size": max(1, min(table.num_rows, _ROW_GROUP_MAX)),
                                   "store_schema": False}
    else:
        options = {"row_group_size": 128 * 1024}
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd", use_dictionary=text, write_statistics=stats, **options)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def _received_us(table: pa.Table) -> pa.Table:
    """``table`` with ``received`` as the archive stores it, timestamp[us, UTC]: another unit (s, ms, ns: ns
    truncated to the microsecond) or zone is converted (the same instants; no zone: taken as UTC), so the day of
    each row, computed from microseconds, and the stored column are right whatever the table's producer used."""
    i = table.schema.get_field_index("received")
    if i < 0:
        raise ValueError("an archive table needs a 'received' column")
    typ = table.schema.field(i).type
    if typ == _TS:
        return table
    if not pa.types.is_timestamp(typ):
        raise TypeError(f"'received' must be a timestamp column, not {typ}")
    return table.set_column(i, "received", pc.cast(table["received"], _TS, safe=False))


def write_partitions(table: pa.Table, root: Path, pbx: str) -> list[Path]:
    """Split ``table`` by UTC date of ``received`` and write one file per date; the paths written."""
    if table.num_rows == 0:
        return []
    table = _received_us(table)
    # the UTC day of each row from its microseconds (formatting every row's date costs more than the conversion)
    us = table["received"].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    days = us // (86_400_000_000)
    lo, hi = int(days.min()), int(days.max())
    out = []
    for d in ([lo] if lo == hi else np.unique(days).tolist()):
        part = table if lo == hi else table.filter(pa.array(days == d))
        first = int(pc.min(part["seq"]).as_py())
        day = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
        out.append(write_table(part, root / f"pbx={pbx}" / f"date={day}", first))
    return out


class Archive:
    """Appends every event handed to :meth:`write` to the dataset at ``path`` under ``pbx=<pbx>``.

    ``seq_base`` (default: now in nanoseconds) is added to the sequence numbers; with the default, a later run's
    events sort after an earlier run's. With ``store`` (an :class:`~ami_nb.store.EventStore`), every event the
    store receives from now on is archived, numbered by the store (what :meth:`ami_nb.Session.archive` wires);
    without, use it as a batch sink (``client.add_batch_sink(archive.write)``). :meth:`flush` waits until
    everything handed over is on disk; :meth:`close` flushes and stops the thread.
    """

    def __init__(self, path: str | os.PathLike[str], *, pbx: str = "default", flush_seconds: float = 5.0,
                 flush_rows: int = 500_000, seq_base: int | None = None, store: Any = None) -> None:
        if not flush_seconds > 0:
            raise ValueError(f"flush_seconds must be positive, got {flush_seconds}")
        if flush_rows < 1:
            raise ValueError(f"flush_rows must be at least 1, got {flush_rows}")
        self.path = Path(path)
        self.pbx = check_pbx(pbx)
        self.flush_seconds = float(flush_seconds)
        self.flush_rows = int(flush_rows)
        self.seq_base = time.time_ns() if seq_base is None else int(seq_base)
        self.run = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        self.path.mkdir(parents=True, exist_ok=True)
        self._builder = RowBuilder()
        self._cond = threading.Condition()
        self._queue: list[tuple[Sequence[Any], float, int]] = []
        self._queued_rows = 0
        self._next = 0  # sequence numbers handed out when the caller gives none
        self._handed = 0  # events handed over
        self._written = 0  # events on disk
        self._closing = False
        self._closed = False  # close() finished (a timed-out one may be retried)
        self._flush_wanted = False
        self.on_detach: Callable[[], None] | None = None
        self._error: BaseException | None = None
        self.files_written = 0
        self.bytes_written = 0
        self._gap_file = self.path / "_gaps" / f"pbx={self.pbx}" / f"{self.run}.jsonl"
        self._store = store
        self._feed = store.feed(self._on_feed) if store is not None else None
        self._start = self._cursor = self._feed.start if self._feed is not None else 0
        self._fed: int | None = None  # events the store handed over, once its feed is closed (no more come)
        self._parts: list[tuple[_Chunk, int]] = []  # chunks (and the row each starts at) not written yet
        self._parts_rows = 0
        self._converted_rows = 0
        self.mark("open")
        self._marks = ThreadPoolExecutor(1, thread_name_prefix=f"ami-archive-marks-{self.pbx}")
        self._thread = threading.Thread(target=self._run, name=f"ami-archive-{self.pbx}", daemon=True)
        self._thread.start()

    # -- the hot path (loop thread) -------------------------------------------------------------------------------
    def write(self, events: Sequence[Any], received: float, seq: int | None = None) -> None:
        """Hand over one read's events (the batch-sink signature); ``seq``: the first one's sequence number."""
        n = len(events)
        if not n:
            return
        if self._feed is not None:
            raise RuntimeError("this archive is fed by its store: append to the store instead")
        if self._error is not None:
            raise RuntimeError(f"archive writer for {self.path} stopped: {self._error}") from self._error
        with self._cond:
            if seq is None:
                seq = self._next
            self._next = max(self._next, seq + n)
            self._queue.append((events, received, self.seq_base + seq))
            self._queued_rows += n
            self._handed += n
            if self._queued_rows >= self.flush_rows:
                self._cond.notify()

    __call__ = write

    def _on_feed(self, rows: int) -> None:
        """The store froze ``rows`` more (called under the store's lock: only count and wake, once a chunk)."""
        with self._cond:
            self._queued_rows += rows
            self._cond.notify()

    # -- gaps -------------------------------------------------------------------------------------------------------
    def mark(self, what: str, t: float | None = None, **info: Any) -> None:
        """Record a lifecycle mark (``open``, ``close``, ``down``, ``up``) for :attr:`History.gaps`."""
        rec = {"mark": what, "t": time.time() if t is None else t, "run": self.run, **info}
        self._gap_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self._gap_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def on_state(self, state: str) -> None:
        """A client state callback: a lost connection is a ``down`` mark, connected again an ``up`` mark. It runs
        on the client's loop thread, so the mark (a write and an fsync) is written by a thread of its own, in
        order, with the time of the change."""
        what = {"reconnecting": "down", "connected": "up"}.get(state)
        if what is not None and not self._closing:
            try:
                self._marks.submit(self._safe_mark, what, time.time())
            except RuntimeError:  # closed meanwhile: its close mark ends the record anyway
                pass

    def _safe_mark(self, what: str, t: float | None = None, **info: Any) -> None:
        try:
            self.mark(what, t, **info)
        except OSError as exc:  # the disk that failed the writer may fail this too: log, never raise on a thread
            log.error("archive %s: could not record the %r mark: %s", self.path, what, exc)

    @property
    def error(self) -> BaseException | None:
        """What stopped the writer (a full disk, a vanished path), or None while it writes."""
        return self._error

    # -- the writer thread -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_seconds
        fed = self._feed is not None
        while True:
            with self._cond:
                while not self._closing and self._queued_rows < self.flush_rows and time.monotonic() < deadline \
                        and not self._flush_wanted and not (fed and self._queued_rows > self._converted_rows):
                    self._cond.wait(max(0.0, deadline - time.monotonic()))
                timed = self._closing or self._flush_wanted or time.monotonic() >= deadline
                batch, self._queue = self._queue, []
                due = timed or self._queued_rows >= self.flush_rows
                if not fed or due:
                    self._queued_rows = 0
                self._converted_rows = self._queued_rows
                self._flush_wanted = False
                closing = self._closing
            try:
                if fed:  # never with self._cond held: the feed takes the store's lock
                    self._convert(tail=timed)  # take the chunks as they arrive; they are converted at a flush
                    if due:
                        self._write_parts()
                elif batch:
                    self._write_batch(batch)
            except BaseException as exc:  # the disk is full, the path vanished...: say so, keep the error
                log.exception("archive writer for %s failed; events from now on are not archived", self.path)
                self._error = exc
                # History.gaps: no data from here on (a close mark with the reason, if the disk takes it)
                try:
                    self._marks.submit(self._safe_mark, "close", time.time(), reason=f"writer failed: {exc}")
                except RuntimeError:  # a close that timed out shut the marks' thread down: write it here
                    self._safe_mark("close", time.time(), reason=f"writer failed: {exc}")
                self._close_feed()
                with self._cond:
                    self._cond.notify_all()
                return
            if due or not fed:
                deadline = time.monotonic() + self.flush_seconds
                with self._cond:
                    self._cond.notify_all()
            if closing:
                self._close_feed()
                return

    def _close_feed(self) -> None:
        """Stop taking the store's events; from now on they are not this archive's (:attr:`pending`)."""
        if self._feed is not None:
            self._feed.close()
            with self._cond:  # what was taken: events the store got after the last take are not this archive's
                self._fed = self._cursor - self._start

    def _handed_over(self) -> int:
        """Events handed over to be written (a store's: until its feed closed)."""
        if self._feed is None:
            return self._handed
        return self._store.total - self._start if self._fed is None else self._fed

    def _convert(self, tail: bool) -> None:
        """Take what the store handed over (with ``tail``, also what it has not frozen yet): the chunks are kept
        (the store's frozen columns, compact) and turned into Arrow at the flush, all at once."""
        assert self._feed is not None
        for item in self._feed.take(tail):
            chunk: _Chunk = self._builder.freeze(item) if isinstance(item, _Batch) else item
            skip = self._cursor - chunk.base  # rows already converted (a tail copied at an earlier flush)
            if skip >= chunk.n:
                continue
            self._parts.append((chunk, max(0, skip)))  # converted at the flush, every chunk's key at once
            self._parts_rows += chunk.n - max(0, skip)
            self._cursor = chunk.base + chunk.n
            if self._parts_rows >= self.flush_rows:  # a backlog is written in files of ~flush_rows events
                self._write_parts()

    def _write_parts(self) -> None:
        if self._parts:
            table = self._builder.finish([chunks_table(self._parts, encoded=True)], seq_base=self.seq_base)
            self._parts, self._parts_rows = [], 0
            self._write_table(table)
        with self._cond:
            self._written = self._cursor - self._start

    def _write_table(self, table: Any) -> None:
        for p in write_partitions(table, self.path, self.pbx):
            self.files_written += 1
            self.bytes_written += p.stat().st_size

    def _write_batch(self, batch: list[tuple[Sequence[Any], float, int]]) -> None:
        start, rows = 0, 0
        for i, (events, _r, _s) in enumerate(batch):  # a backlog is written in files of ~flush_rows events
            rows += len(events)
            if rows >= self.flush_rows or i == len(batch) - 1:
                table = self._builder.table(batch[start:i + 1], encoded=True)
                self._write_table(table)
                with self._cond:
                    self._written += table.num_rows
                start, rows = i + 1, 0

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every event handed over so far is on disk (TimeoutError after ``timeout`` seconds)."""
        end = time.monotonic() + timeout
        with self._cond:
            target = self._handed_over()
            self._flush_wanted = True
            self._cond.notify_all()
            while self._written < target:
                if self._error is not None:
                    raise RuntimeError(f"archive writer for {self.path} stopped: {self._error}") from self._error
                if not self._thread.is_alive():
                    raise RuntimeError(f"archive writer for {self.path} is not running")
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"archive {self.path}: {target - self._written} events not written after "
                                       f"{timeout} s")
                self._flush_wanted = True
                self._cond.notify_all()
                self._cond.wait(min(left, 0.5))

    def detach(self) -> None:
        """Stop receiving batches (whoever wired the archive as a batch sink sets :attr:`on_detach`)."""
        if self.on_detach is not None:
            self.on_detach()
            self.on_detach = None

    @property
    def closed(self) -> bool:
        return self._closing

    def close(self, timeout: float = 60.0) -> None:
        """Write what is pending, stop the thread, record a ``close`` mark (idempotent). TimeoutError when the
        writer is still busy after ``timeout`` seconds: it finishes that write and ends on its own (the marks'
        thread ends at once), no ``close`` mark is recorded. A store's events from the close on are not this
        archive's: :attr:`pending` stops counting them. After a timeout, ``close()`` again waits once more and
        records the mark when the writer is done."""
        if self._closed:
            return
        if not self._closing:
            self.detach()
            with self._cond:
                self._closing = True
                self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            # the writer thread ends once its write is done; the marks' thread now (no more marks to come)
            self._marks.shutdown(wait=False)
            raise TimeoutError(f"archive {self.path}: writer still busy after {timeout} s")
        self._marks.shutdown(wait=True)
        self._closed = True
        if self._error is None:
            self.mark("close")
        if self._error is not None:
            raise RuntimeError(f"archive writer for {self.path} stopped: {self._error}") from self._error

    stop = close  # what Session.close() calls on the recordings it stops

    @property
    def written(self) -> int:
        """Events on disk."""
        return self._written

    @property
    def pending(self) -> int:
        """Events handed over and not on disk yet."""
        return self._handed_over() - self._written

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Archive {str(self.path)!r} pbx={self.pbx} written={self._written} pending={self.pending}>"

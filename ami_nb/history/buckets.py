"""Per-call work over more events than memory holds: buckets of whole calls.

The analysis of a call needs only that call's events, and the events of calls joined by a transfer. Every
archived row carries ``call_id`` and ``call_hash`` (crc32 of it), and ``links`` on the rare row that joins calls
(a transfer naming two calls, a channel moving to another ``Linkedid``). So:

1. the rows with ``links`` (few) give the joined components, found with a union-find in Python;
2. a call in no component goes to the bucket its ``call_hash`` falls in: ``N`` equal ranges of the hash, ``N``
   chosen so a bucket holds about ``bucket_rows`` events. A bucket is one scan with a range filter (row groups
   sorted by ``call_hash`` are skipped by their statistics) minus the joined calls (an anti-join);
3. the joined calls go to extra buckets grouped by component (a semi-join), so a component is never split.

Each bucket runs the pandas :func:`ami_nb.analysis.calls`, per PBX (call ids are unique per PBX only). A
:class:`Task` is plain data, so the same buckets run here or on Dask workers.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import analysis
from ..analysis._events import NOT_CALL_EVENTS
from . import results
from .schema import key_of, typed_frame

__all__ = ["Task", "call_filter", "pair_keys", "plan_tasks", "run_pool", "run_task"]

_SPAN = 1 << 32
#: The AMI keys :func:`ami_nb.analysis.calls` reads (every ``*Linkedid`` / ``*Uniqueid`` key is read too).
CALL_COLUMNS = analysis.CALL_KEYS


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Task:
    """One bucket: a hash range of unjoined calls, or a group of joined components (``members``)."""

    root: str
    where: str
    columns: list[str]
    lo: int = 0
    hi: int = _SPAN
    members: pa.Table | None = None  # (pbx, call_id) of the joined calls this task takes
    exclude: pa.Table | None = None  # (pbx, call_id) of every joined call (a hash-range task skips them)
    label: str = field(default="")
    files: list[str] | None = None  # read these files instead of every file under root (see scan_sql)

    def sql(self) -> str:
        from .reader import scan_sql

        source = scan_sql(self.root if self.files is None else self.files)
        cols = ", ".join('e."' + c.replace('"', '""') + '"' for c in self.columns)
        if self.members is not None:
            inner = f"SELECT * FROM {source} WHERE {self.where}"
            return (f"SELECT {cols} FROM ({inner}) e SEMI JOIN members m ON e.pbx = m.pbx AND e.call_id = m.call_id "
                    "ORDER BY e.pbx, e.seq")
        inner = f"SELECT * FROM {source} WHERE {self.where} AND call_hash >= {self.lo} " \
                f"AND call_hash < {self.hi}"
        if self.exclude is not None and self.exclude.num_rows:
            return f"SELECT {cols} FROM ({inner}) e ANTI JOIN exclude x ON e.pbx = x.pbx AND e.call_id = x.call_id"
        return f"SELECT {cols} FROM ({inner}) e"  # unordered: typed_frame sorts by (pbx, seq), far cheaper

    def arrow(self, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
        """This bucket's rows (in no order: :func:`typed_frame` puts them in arrival order per PBX)."""
        if con is None:
            from .reader import connect

            con = connect()
        cur = con.cursor()  # own registrations, safe beside other cursors
        try:
            if self.members is not None:
                cur.register("members", self.members)
            if self.exclude is not None:
                cur.register("exclude", self.exclude)
            return cur.sql(self.sql()).to_arrow_table()
        finally:
            cur.close()

    def frame(self, con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
        """This bucket's events as typed frames (``received``, ``pbx``, AMI keys)."""
        return typed_frame(self.arrow(con), keep=("pbx",))


def run_task(task: Task, con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """:func:`ami_nb.analysis.calls` of one bucket, per PBX, with a ``pbx`` column first."""
    table = task.arrow(con)
    # the events as typed_frame gives them, category keys as the strings analysis reads (no categories' round
    # trip); rows in (pbx, seq) order, so each PBX is a run of rows
    ev = typed_frame(table, categorical=False)
    out = []
    if len(ev):
        counts = pc.value_counts(table["pbx"]).flatten()  # (values, counts); a PBX's rows are contiguous
        by_name = pc.sort_indices(counts[0])
        names, sizes = counts[0].take(by_name).to_pylist(), counts[1].take(by_name).to_pylist()
        ends = list(itertools.accumulate(sizes))
        for name, lo, hi in zip(names, [0, *ends[:-1]], ends, strict=True):
            c = analysis.calls(ev.iloc[lo:hi].reset_index(drop=True))
            c.insert(0, "pbx", pd.array([name] * len(c), dtype="str"))
            out.append(c)
    if not out:
        return pd.DataFrame()
    return pd.concat(out, ignore_index=True) if len(out) > 1 else out[0]


_WORKER_CON: dict[tuple[int, int, str], duckdb.DuckDBPyConnection] = {}
#: A task reading at most this many files (or day directories) gets a connection of its own (see :func:`_run_alone`).
_FEW_FILES = 4


def _run_alone(task: Task, memory_limit: str) -> pa.Table:
    """:func:`run_task` in a pool worker, its table compacted for the trip back (:func:`results.compact`): its
    own single-threaded DuckDB (the workers run side by side), kept for the worker's next buckets so the files'
    footers are parsed once per worker, not once per bucket (an archive's wide schema makes them the largest cost
    of a bucket's scan). The bucket's events and the pandas table are freed, and the freed heap handed back to
    the system, before the next bucket: an idle worker holds little while the others work."""
    import os
    import threading

    from .reader import connect

    if task.files is not None and len(task.files) <= _FEW_FILES:
        # a day's own files (the stored day tables' path): their footers cost ~0.05 CPU-s each to parse, and a
        # kept connection would hold the parsed footers of every day the worker saw (~20 MB each: ~1 GB a worker
        # over 50 days); a connection of its own, closed with the bucket
        con = connect(threads=1, memory_limit=memory_limit, metadata_cache=False)
        try:
            table = results.compact(run_task(task, con=con))
        finally:
            con.close()
        _trim()
        return table
    # per process and thread: a Dask worker runs several buckets at once on its threads, each with its own share
    key = (os.getpid(), threading.get_ident(), memory_limit)
    kept = _WORKER_CON.get(key)
    if kept is None:
        # the footers cached: a hash bucket reads every file of the period, again at each bucket (the cost: the
        # parsed footers of those files, ~20 MB a day file, held by the worker while the pool lives)
        kept = _WORKER_CON[key] = connect(threads=1, memory_limit=memory_limit, metadata_cache=True)
    table = results.compact(run_task(task, con=kept))
    _trim()
    return table


def _trim() -> None:
    """Hand the freed C heap back to the system (glibc keeps it otherwise; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def run_pool(tasks: list[Task], workers: int, *,
             memory_limit: str = "1GB") -> Generator[tuple[int, pa.Table], None, None]:
    """:func:`run_task` of every task on ``workers`` processes: ``(index in tasks, compact table)`` as each
    bucket finishes (:func:`results.compact`; the caller keeps them, or writes them out, as they come).

    At most ``workers`` buckets are in flight, so memory is bounded by ``workers`` buckets whatever the period.
    Workers come from a fork server where the platform has one: a fresh process without the kernel's threads
    (the session's loop, the archive writer, DuckDB's pool), forked per worker, that preloads this module and not
    the caller's script (a notebook needs nothing more; a script run as ``python script.py`` needs the usual
    ``__main__`` guard, since multiprocessing imports the main script in each worker); forking the kernel itself
    would copy locks other threads hold, and DuckDB is not fork-safe. Elsewhere they are spawned. Each opens its
    own DuckDB.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    ctx: mp.context.BaseContext
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["ami_nb.history.buckets"])  # not "__main__": the caller's script stays put
    else:
        ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: dict[Future[pa.Table], int] = {}
        queue = iter(enumerate(tasks))
        for i, t in queue:
            pending[pool.submit(_run_alone, t, memory_limit)] = i
            if len(pending) >= workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                i = pending.pop(f)
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(_run_alone, nxt[1], memory_limit)] = nxt[0]
                yield i, f.result()


class _Union:
    def __init__(self) -> None:
        self.parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(self, x: tuple[str, str]) -> tuple[str, str]:
        p = self.parent.setdefault(x, x)
        while p != x:
            gp = self.parent[p]
            self.parent[x] = gp
            x, p = p, self.parent.setdefault(gp, gp)
        return x

    def union(self, a: tuple[str, str], b: tuple[str, str]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def components(con: duckdb.DuckDBPyConnection, root: str | list[str], where: str) -> pa.Table:
    """``(pbx, call_id, component)`` for every call joined to another one (by the rows' ``links``); ``root``: the
    archive, or a list of its files (see :func:`~ami_nb.history.reader.scan_sql`)."""
    from .reader import scan_sql

    cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan_sql(root)}").fetchall()}
    if "links" not in cols:
        return pa.table({"pbx": pa.array([], pa.string()), "call_id": pa.array([], pa.string()),
                         "component": pa.array([], pa.string())})
    rows = con.execute(f"SELECT pbx, call_id, links FROM {scan_sql(root)} WHERE links IS NOT NULL "
                       f"AND {where}").fetchall()
    uf = _Union()
    for pbx, call, links in rows:
        for other in links:
            uf.union((pbx, call), (pbx, other))
    pbxs, calls, comps = [], [], []
    for node in uf.parent:
        pbxs.append(node[0])
        calls.append(node[1])
        comps.append(uf.find(node)[1])
    return pa.table({"pbx": pa.array(pbxs, pa.string()), "call_id": pa.array(calls, pa.string()),
                     "component": pa.array(comps, pa.string())})


def call_filter(have: list[str] | set[str], *, calls_only: bool) -> str:
    """The SQL condition on the rows a call analysis reads: a ``call_id``, not one of :data:`NOT_CALL_EVENTS`
    (and with ``calls_only``, of the VarSets only QUEUESTATUS, as ``call_rows`` says). ``have``: the columns."""
    where = "call_id IS NOT NULL"
    if "Event" in have:  # rows no call analysis reads (CEL, Cdr, list items...): never leave the disk
        where += f' AND "Event" NOT IN ({", ".join(_lit(e) for e in sorted(NOT_CALL_EVENTS))})'
        if calls_only and "Variable" in have:
            where += """ AND ("Event" <> 'VarSet' OR "Variable"[1] = 'QUEUESTATUS')"""
    return where


def pair_keys(table: pa.Table) -> pa.Array:
    """``pbx`` and ``call_id`` of each row as one string (call ids are unique per PBX only), for ``is_in``."""
    out = pc.binary_join_element_wise(pc.cast(table["pbx"], pa.string()), pc.cast(table["call_id"], pa.string()),
                                      "\x00")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def plan_tasks(con: duckdb.DuckDBPyConnection, root: str, where: str, *, bucket_rows: int = 1_000_000,
               columns: list[str] | tuple[str, ...] | None = None, calls_only: bool = False,
               exclude: pa.Table | None = None, files: list[str] | None = None,
               info: dict[str, int] | None = None) -> list[Task]:
    """The buckets covering every call of ``where``, each about ``bucket_rows`` events.

    ``columns``: only these AMI keys (every one when None). ``calls_only``: for :func:`run_task`, only the keys
    and rows :func:`ami_nb.analysis.calls` reads (:data:`CALL_COLUMNS`; of the VarSets only QUEUESTATUS),
    pushed down to the Parquet scan: the table is the same, a third of the events and columns are read.
    ``exclude``: ``(pbx, call_id)`` of calls to leave out (the rows of calls another day's table takes, see
    :mod:`ami_nb.history.daycalls`; a joined component is left out whole or not at all). ``files``: read these
    files (events, or rows kept beside a day's calls table) instead of every file under ``root``. ``info``
    receives ``rows``, the rows planned (excluded calls' rows included).
    """
    if calls_only and columns is None:
        columns = CALL_COLUMNS
    from .reader import scan_sql

    if bucket_rows < 1:
        raise ValueError(f"bucket_rows must be at least 1, got {bucket_rows}")
    if info is not None:
        info["rows"] = 0
    if (files is None and not any(Path(root).glob("pbx=*/date=*/*.parquet"))) or (files is not None and not files):
        return []
    source = root if files is None else files
    have = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan_sql(source)}").fetchall()]
    if columns is None:
        wanted = [c for c in have if c not in ("date", "links", "call_hash")]
    else:  # AMI keys: every column spelling one of them (see schema.column_name)
        keys = set(columns)
        wanted = [c for c in have if key_of(c) in keys]
    cols = ["received", "seq", "pbx", *[c for c in wanted if c not in ("received", "seq", "pbx")]]
    if "_repeats" in have and "_repeats" not in cols:
        cols.append("_repeats")
    where = f"{call_filter(have, calls_only=calls_only)} AND {where}"

    total = con.execute(f"SELECT count(*) FROM {scan_sql(source)} WHERE {where}").fetchone()
    n_rows = int(total[0]) if total else 0
    if info is not None:
        info["rows"] = n_rows
    if not n_rows:
        return []
    comp = components(con, source, where)
    if exclude is not None and exclude.num_rows and comp.num_rows:  # their components go elsewhere whole
        comp = comp.filter(pc.invert(pc.is_in(pair_keys(comp), value_set=pair_keys(exclude))))
    tasks: list[Task] = []
    n = max(1, math.ceil(n_rows / bucket_rows))
    skip = [t for t in (comp.select(["pbx", "call_id"]) if comp.num_rows else None,
                        None if exclude is None or not exclude.num_rows else
                        exclude.select(["pbx", "call_id"]).cast(pa.schema([("pbx", pa.string()),
                                                                           ("call_id", pa.string())])))
            if t is not None]
    hash_exclude = pa.concat_tables(skip) if skip else None
    for b in range(n):
        lo, hi = b * _SPAN // n, (b + 1) * _SPAN // n
        tasks.append(Task(root, where, cols, lo, hi, exclude=hash_exclude, label=f"hash {b + 1}/{n}", files=files))
    if comp.num_rows:
        cur = con.cursor()
        cur.register("members", comp)
        got = cur.execute(f"SELECT count(*) FROM (SELECT pbx, call_id FROM {scan_sql(source)} WHERE {where}) e "
                          "SEMI JOIN members m ON e.pbx = m.pbx AND e.call_id = m.call_id").fetchone()
        cur.close()
        joined_rows = int(got[0]) if got else 0
        k = max(1, math.ceil(joined_rows / bucket_rows))
        groups = [zlib.crc32(c.encode("utf-8", "surrogatepass")) % k for c in comp["component"].to_pylist()]
        g = pa.array(groups, pa.int64())
        for i in range(k):
            mask = pc.equal(g, i)
            members = comp.filter(mask).select(["pbx", "call_id"])
            if members.num_rows:
                tasks.append(Task(root, where, cols, members=members, label=f"joined {i + 1}/{k}", files=files))
    return tasks

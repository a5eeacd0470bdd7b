"""Materialized per-day call tables: the calls of a closed day computed once and stored beside its events.

:meth:`History.calls` runs the pandas :func:`ami_nb.analysis.calls`, about 3-4 CPU seconds a million events:
recomputing months of calls at every question can never be fast. A closed day's events no longer change, so
its calls are computed once (as the buckets of :mod:`ami_nb.history.buckets` compute them) and stored; later
questions read the stored table and compute only what no valid table covers.

Layout (outside the events glob ``pbx=*/date=*/*.parquet``, so no reader sees it as events)::

    _calls/pbx=<P>/date=<D>/rows-<key>.parquet    the call rows of D's nonlocal calls (the remainder reads them)
    _calls/pbx=<P>/date=<D>/ids-<key>.parquet     call_id of every call of D, with local: bool
    _calls/pbx=<P>/date=<D>/calls-<key>.parquet   the calls of D's local calls (results.compact's columns)

A call of D is *local* when its call_id is in no row of D-1 or D+1 (a call's rows are contiguous in time, so a
call touching another day touches a neighbour) and every call joined to it (``links`` of the rows of D-1..D+1,
a union-find) is local too. Its analysis needs only D's rows. The other calls of D (*nonlocal*: across midnight,
joined to such a call) are computed with the rest of the period, from their rows kept in ``rows-<key>``, so a
question never reads a covered day's events.
A question checks the local calls against the rest it reads (a row or ``links`` naming one in a day not a
neighbour, a call in two stored days): such a day's events answer that question instead (rare).

``key``: 16 hex digits of sha1 over the code's version (:func:`code_version`: the source of the analysis, the
buckets, this module and the row format; any change invalidates every table) and D's event files (sorted names
and sizes). The calls file's Parquet metadata holds the fingerprints of D-1's and D+1's files when it was
computed: when one changed, one DuckDB query checks that no row of the neighbour names a local call of D (its
``call_id`` or its ``links``); if one does, D is computed again, else the table is stamped with the new
fingerprints. Files are written rows, ids, calls, each under a hidden temporary name, fsynced and renamed: a
calls file without its ids or rows, or a ``.tmp``, is ignored; older keys are removed once a new one lands.

Run as ``python -m ami_nb.history.daycalls DIR``: compacts the closed days, then materializes them (the nightly
step beside the recorder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import os
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import results
from .buckets import CALL_COLUMNS, Task, _Union, call_filter, pair_keys, plan_tasks
from .schema import key_of

if TYPE_CHECKING:
    from .reader import History

__all__ = ["CallsPlan", "DayRun", "code_version", "fingerprint", "main", "plan"]

_META_PREV = b"ami_nb.prev"
_META_NEXT = b"ami_nb.next"
_META_KEY = b"ami_nb.key"
_ARCHIVE_COLUMNS = ("received", "seq", "call_id", "call_hash", "links", "_repeats")


@functools.cache
def code_version() -> str:
    """sha1 of the source this module's tables depend on (once per process): any change invalidates them."""
    here = Path(__file__).resolve().parent
    files = sorted((here.parent / "analysis").glob("*.py")) + [here / n for n in
                                                              ("buckets.py", "daycalls.py", "schema.py")]
    h = hashlib.sha1()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def fingerprint(files: Iterable[Path]) -> str:
    """sha1 of the files' sorted names and sizes (a file written, compacted or removed changes it)."""
    h = hashlib.sha1()
    for name, size in sorted((f.name, f.stat().st_size) for f in files):
        h.update(f"{name}\t{size}\n".encode())
    return h.hexdigest()


def _events(root: Path, pbx: str, day: str) -> list[Path]:
    return sorted((root / f"pbx={pbx}" / f"date={day}").glob("*.parquet"))


def _shift(day: str, n: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=n)).isoformat()


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _days_sql(days: Iterable[tuple[str, str]]) -> str:
    """A condition on the partition columns alone (so DuckDB prunes files): these (pbx, day) pairs."""
    by: dict[str, list[str]] = {}
    for p, d in days:
        by.setdefault(p, []).append(d)
    if not by:
        return "false"
    return "(" + " OR ".join(f"(pbx = {_lit(p)} AND date IN ({', '.join('DATE ' + _lit(d) for d in sorted(ds))}))"
                             for p, ds in sorted(by.items())) + ")"


def rollup_dir(root: Path, pbx: str, day: str) -> Path:
    return root / "_calls" / f"pbx={pbx}" / f"date={day}"


@dataclass
class Stored:
    """A day's stored table: its files and the neighbours' fingerprints when it was computed."""

    calls: Path
    ids: Path
    rows: Path
    prev: str
    next: str


def find(root: Path, pbx: str, day: str, key: str) -> Stored | None:
    """The complete stored table of ``key`` for the day, if any (a calls file without ids or rows: none)."""
    d = rollup_dir(root, pbx, day)
    calls, ids, rows = (d / f"{kind}-{key}.parquet" for kind in ("calls", "ids", "rows"))
    if not (calls.is_file() and ids.is_file() and rows.is_file()):
        return None
    try:
        meta = pq.read_schema(calls).metadata or {}
    except (OSError, pa.ArrowException):
        return None
    return Stored(calls, ids, rows, meta.get(_META_PREV, b"").decode(), meta.get(_META_NEXT, b"").decode())


def _tmp(target: Path) -> Path:
    """A hidden temporary name beside ``target``, this writer's own (a notebook and the nightly step may store
    the same day at once: each renames a whole file of its own)."""
    return target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def _write_parquet(table: pa.Table, target: Path) -> None:
    tmp = _tmp(target)
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def _plain_table(parts: list[pa.Table]) -> pa.Table:
    """Compact call tables as one table of plain columns (the parts encode a text column or not as it repeats)."""
    parts = [p for p in parts if p.num_rows] or [results.compact(results.empty())]
    cols = {}
    for c in parts[0].column_names:
        chunks = []
        for p in parts:
            col = p[c].combine_chunks()
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            if pa.types.is_string(col.type):
                col = col.cast(pa.large_string())
            chunks.append(col)
        cols[c] = pa.chunked_array(chunks) if len({ch.type for ch in chunks}) == 1 else \
            pa.chunked_array([ch.cast(chunks[0].type) for ch in chunks])
    return pa.table(cols)


@dataclass
class CallsPlan:
    """What :meth:`History.calls` did: days read from stored tables, computed, written, found stale, read from
    events (the remainder), the rows the remainder planned, and days whose table could not be used."""

    from_rollups: list[tuple[str, str]] = field(default_factory=list)
    computed: list[tuple[str, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    from_events: list[tuple[str, str]] = field(default_factory=list)
    remainder_rows: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # local calls found elsewhere: from events


@dataclass
class _Day:
    pbx: str
    day: str
    key: str
    ids: pa.Table  # call_id, local
    prev: str
    next: str
    parts: list[pa.Table] = field(default_factory=list)
    pending: int = 0
    used: bool = True  # its table answers the question (not when a conflict put its events in the remainder)


@dataclass
class DayRun:
    """The tasks of one question: the stored tables read (``ready``), the day tasks and the remainder's tasks
    (``tasks``; ``owner[i]``: the day task ``i`` computes, or None). :meth:`watch` stores each day's table as
    its last task finishes."""

    root: Path
    tasks: list[Task]
    owner: list[_Day | None]
    ready: list[pa.Table]
    plan: CallsPlan
    _warned: bool = False
    _empty: list[_Day] = field(default_factory=list)  # computed days without a task (no local call)

    def watch(self, pieces: Iterator[tuple[int, pa.Table]]) -> Iterator[tuple[int, pa.Table]]:
        for i, table in pieces:
            day = self.owner[i]
            if day is not None:
                day.parts.append(table)
                day.pending -= 1
                if not day.pending:
                    self._store(day)
            if day is None or day.used:
                yield i, table

    def finish_empty(self) -> None:
        """Store the computed days that had no task (no local call)."""
        for day in self._empty:
            self._store(day)
        self._empty = []

    def _store(self, day: _Day) -> None:
        table = _plain_table(day.parts)
        day.parts = []
        meta = {_META_PREV: day.prev.encode(), _META_NEXT: day.next.encode(), _META_KEY: day.key.encode()}
        d = rollup_dir(self.root, day.pbx, day.day)
        target = d / f"calls-{day.key}.parquet"
        try:
            _write_parquet(table.replace_schema_metadata(meta), target)
        except OSError as e:
            self._warn(e)
            return
        self.plan.written.append(target)
        _remove_older(d, day.key)

    def _warn(self, e: Exception) -> None:
        if not self._warned:
            warnings.warn(f"could not store the calls of a day under {self.root / '_calls'}: {e}", stacklevel=3)
            self._warned = True


def _remove_older(d: Path, key: str) -> None:
    for f in d.iterdir():
        if f.name.endswith(".parquet") and not f.name.endswith(f"-{key}.parquet"):
            try:
                f.unlink()
            except OSError:
                pass


def _writable(root: Path) -> bool:
    calls = root / "_calls"
    return os.access(root, os.W_OK) and (not calls.exists() or os.access(calls, os.W_OK))


def _all_days(root: Path, pbx: str | list[str] | tuple[str, ...] | None) -> list[tuple[str, str]]:
    names = None if pbx is None else {pbx} if isinstance(pbx, str) else set(pbx)
    out = []
    for d in root.glob("pbx=*/date=*"):
        p, day = d.parent.name.partition("=")[2], d.name.partition("=")[2]
        if (names is None or p in names) and any(d.glob("*.parquet")):
            out.append((p, day))
    return sorted(out)


def _epoch(day: str) -> float:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()


def _day_ids(h: History, days: list[tuple[str, str]], filt: str) -> dict[tuple[str, str], pa.Table]:
    """``call_id`` and ``local`` of every call of each day (see the module's docstring), two queries for all."""
    from .reader import scan_sql

    need = set(days) | {(p, _shift(d, k)) for p, d in days for k in (-1, 1)}
    pred = _days_sql(need)
    src = scan_sql(h.path)
    got = h.con.sql(f"SELECT pbx, CAST(date AS VARCHAR) AS day, call_id FROM {src} WHERE {filt} AND {pred} "
                    "GROUP BY ALL").to_arrow_table()
    got = got.take(pc.sort_indices(got, sort_keys=[("pbx", "ascending"), ("day", "ascending"),
                                                   ("call_id", "ascending")]))
    by: dict[tuple[str, str], pa.Array] = {}
    if got.num_rows:
        keys = pc.binary_join_element_wise(got["pbx"], got["day"], "\x00").combine_chunks()
        counts = pc.value_counts(keys).flatten()
        order = pc.sort_indices(counts[0])
        names, sizes = counts[0].take(order).to_pylist(), counts[1].take(order).to_pylist()
        ids = got["call_id"].combine_chunks().cast(pa.string())
        pos = 0
        for name, n in zip(names, sizes, strict=True):
            p, _, d = name.partition("\x00")
            by[(p, d)] = ids.slice(pos, n)
            pos += n
    links: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
    if "links" in h.columns:
        for p, d, c, ls in h.con.execute(f"SELECT pbx, CAST(date AS VARCHAR), call_id, links FROM {src} WHERE "
                                         f"links IS NOT NULL AND {filt} AND {pred}").fetchall():
            links.setdefault((p, d), []).append((c, ls))
    empty = pa.array([], pa.string())
    out = {}
    for p, d in days:
        mine = by.get((p, d), empty)
        around = pa.concat_arrays([by.get((p, _shift(d, -1)), empty), by.get((p, _shift(d, 1)), empty)])
        local = pc.invert(pc.is_in(mine, value_set=around)) if len(around) else pa.array([True] * len(mine))
        rows = [r for k in (-1, 0, 1) for r in links.get((p, _shift(d, k)), [])]
        if rows and len(mine):
            uf = _Union()
            for c, ls in rows:
                for other in ls:
                    uf.union((p, c), (p, other))
            nodes = list(uf.parent)
            node_ids = pa.array([n[1] for n in nodes], pa.string())
            ok = pc.is_in(node_ids, value_set=mine.filter(local)).to_pylist()
            bad_roots = {uf.find(n) for n, good in zip(nodes, ok, strict=True) if not good}
            bad = [n[1] for n in nodes if uf.find(n) in bad_roots]
            if bad:
                local = pc.and_(local, pc.invert(pc.is_in(mine, value_set=pa.array(bad, pa.string()))))
        out[(p, d)] = pa.table({"call_id": mine, "local": local})
    return out


def _neighbours_clean(h: History, pbx: str, day: str, local: pa.Array, filt: str) -> bool:
    """No row of D-1 or D+1 names one of ``local`` (by its call_id or in its links)."""
    from .reader import scan_sql

    if not len(local):
        return True
    src = scan_sql(h.path)
    cond = f"{filt} AND {_days_sql([(pbx, _shift(day, -1)), (pbx, _shift(day, 1))])}"
    link_part = (f" UNION ALL SELECT unnest(links) AS c FROM {src} WHERE links IS NOT NULL AND {cond}"
                 if "links" in h.columns else "")
    cur = h.con.cursor()
    try:
        cur.register("loc", pa.table({"call_id": local}))
        got = cur.execute(f"SELECT count(*) FROM (SELECT call_id AS c FROM {src} WHERE {cond}{link_part}) e "
                          "SEMI JOIN loc ON e.c = loc.call_id").fetchone()
    finally:
        cur.close()
    return not (got and got[0])


def _conflicts(h: History, covered: dict[tuple[str, str], pa.Table], files: list[str],
               where: str) -> set[tuple[str, str]]:
    """The covered days whose local calls are not local after all: a call of another covered day (a call with no
    row for a whole day between), or named by a row the remainder reads (its call_id, or links: a bridge
    entered again days later). Rare; such a day's events are read for the question instead."""
    from .reader import scan_sql

    if not covered:
        return set()
    keys, local, owner = [], [], []
    for k, ids in covered.items():
        keys.append(pair_keys(pa.table({"pbx": pa.array([k[0]] * ids.num_rows, pa.string()),
                                        "call_id": ids["call_id"]})))
        local.append(ids["local"].combine_chunks())
        owner += [k] * ids.num_rows
    allk = pa.concat_arrays(keys) if keys else pa.array([], pa.string())
    loc = pa.concat_arrays(local) if local else pa.array([], pa.bool_())
    bad: set[tuple[str, str]] = set()
    counts = pc.value_counts(allk).flatten()
    twice = counts[0].filter(pc.greater(counts[1], 1))
    if len(twice):
        hit = pc.and_(loc, pc.is_in(allk, value_set=twice)).to_numpy(zero_copy_only=False)
        bad |= {owner[i] for i in hit.nonzero()[0]}
    if files:
        local_keys = allk.filter(loc)
        seen = h.con.sql(f"SELECT DISTINCT pbx, call_id FROM {scan_sql(files)} WHERE {where}")
        named = [seen.to_arrow_table()]
        if "links" in {r[0] for r in h.con.execute(f"DESCRIBE SELECT * FROM {scan_sql(files)}").fetchall()}:
            named.append(h.con.sql(f"SELECT DISTINCT pbx, unnest(links) AS call_id FROM {scan_sql(files)} "
                                   f"WHERE links IS NOT NULL AND {where}").to_arrow_table())
        for t in named:
            if t.num_rows:
                hit_keys = pair_keys(t).filter(pc.is_in(pair_keys(t), value_set=local_keys))
                if len(hit_keys):
                    hit = pc.and_(loc, pc.is_in(allk, value_set=hit_keys)).to_numpy(zero_copy_only=False)
                    bad |= {owner[i] for i in hit.nonzero()[0]}
    return bad


def plan(h: History, *, lo: float | None, hi: float | None, pbx: Any, bucket_rows: int, version: str,
         remainder: bool = True, only: Iterable[tuple[str, str]] | None = None) -> DayRun:
    """The tasks of ``History.calls`` over ``[lo, hi)`` (epoch seconds, None: open) with stored tables: days
    wholly inside read from a valid table or computed (and stored, when closed and the archive is writable);
    the rest from events (``remainder``; :meth:`History.materialize` plans the days alone)."""
    from .reader import scan_sql

    root = h.path
    have = h.columns
    filt = call_filter(have, calls_only=True)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    writable = _writable(root)
    days = _all_days(root, pbx) if only is None else sorted(set(only))
    inside = [(p, d) for p, d in days if (lo is None or _epoch(d) >= lo) and (hi is None or _epoch(d) + 86400 <= hi)]
    fps: dict[tuple[str, str], str] = {}

    def fp(p: str, d: str) -> str:
        if (p, d) not in fps:
            fps[(p, d)] = fingerprint(_events(root, p, d))
        return fps[(p, d)]

    run = DayRun(root, [], [], [], CallsPlan())
    covered: dict[tuple[str, str], pa.Table] = {}  # day -> its ids table
    rows_files: dict[tuple[str, str], str] = {}
    ready: dict[tuple[str, str], pa.Table] = {}
    to_compute: list[tuple[tuple[str, str], str]] = []
    computed: dict[tuple[str, str], _Day] = {}
    for p, d in inside:
        key = hashlib.sha1(f"{version}\n{fp(p, d)}".encode()).hexdigest()[:16]
        stored = find(root, p, d, key)
        if stored is not None:
            ids = pq.read_table(stored.ids)
            if stored.prev != fp(p, _shift(d, -1)) or stored.next != fp(p, _shift(d, 1)):
                if not _neighbours_clean(h, p, d, ids["call_id"].combine_chunks().filter(
                        ids["local"].combine_chunks()), filt):
                    run.plan.stale.append((p, d))
                    stored = None
                elif writable:  # stamp it with the neighbours it was checked against
                    try:
                        t = pq.read_table(stored.calls)
                        meta = {**(t.schema.metadata or {}), _META_PREV: fp(p, _shift(d, -1)).encode(),
                                _META_NEXT: fp(p, _shift(d, 1)).encode()}
                        _write_parquet(t.replace_schema_metadata(meta), stored.calls)
                    except OSError as e:
                        run._warn(e)
        if stored is not None:
            covered[(p, d)] = ids
            ready[(p, d)] = pq.read_table(stored.calls).replace_schema_metadata(None)
            if pc.sum(pc.invert(ids["local"])).as_py():
                rows_files[(p, d)] = str(stored.rows)
            run.plan.from_rollups.append((p, d))
        elif writable and d != today:
            to_compute.append(((p, d), key))
    if to_compute:
        idmap = _day_ids(h, [pd_ for pd_, _ in to_compute], filt)
        keep = [c for c in have if (c in _ARCHIVE_COLUMNS or key_of(c) in CALL_COLUMNS) and c not in ("pbx", "date")]
        sel = ", ".join('"' + c.replace('"', '""') + '"' for c in keep)
        for (p, d), key in to_compute:
            ids = idmap[(p, d)]
            nonlocal_ids = ids["call_id"].filter(pc.invert(ids["local"]))
            out = rollup_dir(root, p, d)
            try:
                out.mkdir(parents=True, exist_ok=True)
                rows = out / f"rows-{key}.parquet"
                tmp = _tmp(rows)
                cur = h.con.cursor()
                try:
                    cur.register("nl", pa.table({"call_id": nonlocal_ids}))
                    cur.execute(f"COPY (SELECT {sel} FROM {scan_sql(root)} WHERE {filt} AND "
                                f"{_days_sql([(p, d)])} AND call_id IN (SELECT call_id FROM nl)) TO {_lit(str(tmp))} "
                                "(FORMAT parquet, COMPRESSION zstd)")
                finally:
                    cur.close()
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, rows)
                _write_parquet(ids, out / f"ids-{key}.parquet")
            except (OSError, duckdb.IOException) as e:  # DuckDB's is no OSError
                run._warn(e)
                writable = False
                continue
            day = _Day(p, d, key, ids, fp(p, _shift(d, -1)), fp(p, _shift(d, 1)))
            exclude = pa.table({"pbx": pa.array([p] * len(nonlocal_ids), pa.string()), "call_id": nonlocal_ids})
            tasks = plan_tasks(h.con, str(root), _days_sql([(p, d)]), bucket_rows=bucket_rows, calls_only=True,
                               exclude=exclude)
            day.pending = len(tasks)
            run.tasks += tasks
            run.owner += [day] * len(tasks)
            if not tasks:
                run._empty.append(day)
            covered[(p, d)] = ids
            computed[(p, d)] = day
            if len(nonlocal_ids):
                rows_files[(p, d)] = str(rows)
            run.plan.computed.append((p, d))
    if remainder:
        window = h.where(start=lo, end=hi, pbx=pbx)
        lo_day = None if lo is None else time.strftime("%Y-%m-%d", time.gmtime(lo))
        hi_day = None if hi is None else time.strftime("%Y-%m-%d", time.gmtime(hi))
        in_window = [(p, d) for p, d in days if (lo_day is None or d >= lo_day) and (hi_day is None or d <= hi_day)]
        for _ in range(len(covered) + 1):  # a day dropped puts its events in the remainder: check again
            rest = [k for k in in_window if k not in covered]
            files = [str(f) for p, d in rest for f in _events(root, p, d)] + list(rows_files.values())
            dropped = _conflicts(h, covered, files, f"{filt} AND {window}")
            if not dropped:
                break
            for k in dropped:  # its table stays stored (it is right for its day), its events answer this time
                del covered[k]
                rows_files.pop(k, None)
                ready.pop(k, None)
                if k in computed:
                    computed[k].used = False
                run.plan.conflicts.append(k)
        run.plan.from_events = rest
        info: dict[str, int] = {}
        tasks = plan_tasks(h.con, str(root), window, bucket_rows=bucket_rows, calls_only=True, files=files,
                           info=info)
        run.plan.remainder_rows = info.get("rows", 0)
        run.tasks += tasks
        run.owner += [None] * len(tasks)
    run.ready = list(ready.values())
    return run


def main(argv: list[str] | None = None) -> int:
    """``python -m ami_nb.history.daycalls DIR``: compact the closed days, then store their calls tables."""
    from . import compact as compaction
    from .reader import History

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("path", help="the archive (a directory holding pbx=<name>/date=<day>/)")
    p.add_argument("--pbx", default=None, help="one PBX only")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU, at most 4)")
    p.add_argument("--no-compact", action="store_true", help="store the calls tables only")
    args = p.parse_args(argv)
    if not args.no_compact:
        done = compaction.compact(args.path, pbx=args.pbx)
        print(f"compacted {len(done)} day(s)")
    written = History(args.path).materialize(pbx=args.pbx, workers=args.workers)
    print(f"stored the calls of {len(written)} day(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

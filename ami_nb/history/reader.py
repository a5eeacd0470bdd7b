"""Reading an archive back: :func:`open` -> :class:`History`, DuckDB over the Parquet files.

Filters (time range, PBX, event names, columns) are pushed down to the Parquet scan: the ``pbx`` and ``date``
directories prune whole partitions, row-group statistics prune the rest. :meth:`History.calls` runs the same
:func:`ami_nb.analysis.calls` as the live path, one bucket of calls at a time (see :mod:`ami_nb.history.buckets`),
so its memory stays bounded by the bucket size, not by the period.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import duckdb
import pandas as pd
import pyarrow as pa

from .. import analysis
from ..store import to_epoch
from .buckets import Task, plan_tasks, run_pool, run_task
from .schema import key_of, typed_frame

if TYPE_CHECKING:
    from .daycalls import CallsPlan

__all__ = ["History", "open"]

_DAY = 86400.0


def _ts(value: Any) -> pd.Timestamp:
    """A bound as the archive stores times: whole microseconds (no float nanoseconds, which overshoot)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):  # a datetime, Timestamp or ISO string
        t = pd.Timestamp(value)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        return t.floor("us") if t.nanosecond else t
    return pd.Timestamp(round(to_epoch(value) * 1e6), unit="us", tz="UTC").as_unit("ns")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scan_sql(root: str | os.PathLike[str] | Sequence[str]) -> str:
    """The DuckDB table expression that reads the dataset at ``root`` (every file, schemas unioned by name), or
    the files listed (each under ``.../pbx=<name>/date=<day>/``)."""
    if isinstance(root, (str, os.PathLike)):
        source = _lit(str(Path(root) / "pbx=*" / "date=*" / "*.parquet"))
    else:
        source = "[" + ", ".join(_lit(str(f)) for f in root) + "]"
    return (f"read_parquet({source}, hive_partitioning=true, union_by_name=true, "
            "hive_types={'pbx': VARCHAR, 'date': DATE})")


def connect(threads: int | None = None, memory_limit: str | None = None, *,
            metadata_cache: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with bounded threads and memory (spilling to a temporary directory beyond it).

    ``metadata_cache``: keep the Parquet footers parsed (DuckDB's ``parquet_metadata_cache``), which repeated
    scans of the same files want; outside ``memory_limit``, about 20 MB a compacted day file of this wide schema
    (172 columns x 122 row groups), so a connection that scans a 50-day archive holds ~1 GB until it closes, a
    year's several GB: off for a :class:`History`'s own connection, which lives as long as the notebook."""
    con = duckdb.connect()
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET parquet_metadata_cache = {'true' if metadata_cache else 'false'}")
    con.execute("SET enable_progress_bar = false")
    return con


class History:
    """An archive opened for reading (see :func:`open`). Cheap to create; every call reads the files anew, so
    events written since are included."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None,
                 memory_limit: str | None = "2GB") -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"no archive at {self.path} (a directory holding pbx=<name>/date=<day>/)")
        self.threads = threads
        self.memory_limit = memory_limit
        from .daycalls import code_version

        #: The code version stored calls tables must match (:func:`ami_nb.history.daycalls.code_version`).
        self.rollup_version = code_version()
        #: What the last :meth:`calls` or :meth:`materialize` did (days from stored tables, computed, written...).
        self.last_calls_plan: CallsPlan | None = None
        self.con = connect(threads, memory_limit)
        self._view()

    def _files(self) -> list[Path]:
        return sorted(self.path.glob("pbx=*/date=*/*.parquet"))

    def _view(self) -> None:
        if self._files():
            self.con.execute(f"CREATE OR REPLACE VIEW events AS SELECT * FROM {scan_sql(self.path)}")
        else:  # an archive with nothing written yet: an empty view with the fixed columns
            self.con.execute("CREATE OR REPLACE VIEW events AS SELECT CAST(NULL AS TIMESTAMPTZ) AS received, "
                             "CAST(NULL AS BIGINT) AS seq, CAST(NULL AS VARCHAR) AS call_id, "
                             "CAST(NULL AS BIGINT) AS call_hash, CAST(NULL AS VARCHAR[]) AS links, "
                             "CAST(NULL AS VARCHAR) AS pbx, CAST(NULL AS DATE) AS date WHERE false")

    def refresh(self) -> History:
        """See files written since this History was opened (the view lists files when it is created)."""
        self._view()
        return self

    @property
    def columns(self) -> list[str]:
        """Every column of the dataset (AMI keys and the archive's own)."""
        return [r[0] for r in self.con.execute("DESCRIBE events").fetchall()]

    # -- the simple questions -------------------------------------------------------------------------------------
    @property
    def pbxes(self) -> list[str]:
        """The PBX names in the archive."""
        return sorted({p.name.partition("=")[2] for p in self.path.glob("pbx=*") if p.is_dir()})

    @property
    def span(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """``(first, last)`` received time over the archive, or None when it is empty."""
        lo, hi = self.con.execute("SELECT min(received), max(received) FROM events").fetchone() or (None, None)
        if lo is None:
            return None
        return pd.Timestamp(lo).tz_convert("UTC"), pd.Timestamp(hi).tz_convert("UTC")

    @property
    def gaps(self) -> pd.DataFrame:
        """When no data was recorded: ``pbx``, ``start``, ``end``, ``reason`` (``reconnect``: the connection was
        down; ``stopped``: no recorder ran; ``writer failed: ...``: the archive could not write (a full disk);
        ``crashed``: a recorder died without closing, from its last event)."""
        rows: list[dict[str, Any]] = []
        for pdir in sorted(self.path.glob("_gaps/pbx=*")):
            pbx = pdir.name.partition("=")[2]
            marks: list[dict[str, Any]] = []
            for f in pdir.glob("*.jsonl"):
                with f.open(encoding="utf-8") as fh:
                    marks += [json.loads(line) for line in fh if line.strip()]
            marks.sort(key=lambda m: m["t"])
            down: dict[str, Any] | None = None
            last_run_open: dict[str, Any] | None = None
            for m in marks:
                kind = m["mark"]
                if kind == "down":
                    down = m
                elif kind == "up" and down is not None:
                    rows.append({"pbx": pbx, "start": down["t"], "end": m["t"], "reason": "reconnect"})
                    down = None
                elif kind == "close":
                    down = {**m, "reason": m.get("reason", "stopped")}  # or "writer failed: ..."
                    last_run_open = None
                elif kind == "open":
                    if down is not None:
                        rows.append({"pbx": pbx, "start": down["t"], "end": m["t"],
                                     "reason": down.get("reason", "reconnect")})
                    elif last_run_open is not None:  # the previous run never closed: it died
                        last = self._last_before(pbx, m["t"])
                        if last is not None:
                            rows.append({"pbx": pbx, "start": last, "end": m["t"], "reason": "crashed"})
                    down = None
                    last_run_open = m
        df = pd.DataFrame(rows, columns=["pbx", "start", "end", "reason"])
        for c in ("start", "end"):
            us = (df[c].astype("float64") * 1e6).round().astype("int64")  # the archive's resolution
            df[c] = pd.to_datetime(us, unit="us", utc=True).astype("datetime64[ns, UTC]")
        return df.sort_values(["start", "pbx"], kind="stable").reset_index(drop=True)

    def _last_before(self, pbx: str, t: float) -> float | None:
        row = self.con.execute(
            "SELECT epoch_us(max(received)) FROM events WHERE pbx = ? AND received < to_timestamp(?)",
            [pbx, t]).fetchone()
        return None if row is None or row[0] is None else row[0] / 1e6

    # -- events ---------------------------------------------------------------------------------------------------
    def where(self, *, start: Any = None, end: Any = None, pbx: str | Sequence[str] | None = None,
              pattern: str | Sequence[str] | None = None) -> str:
        """The SQL condition for a period, PBXs and event names (partition pruning by ``date`` included)."""
        conds = ["true"]
        if pbx is not None:
            names = [pbx] if isinstance(pbx, str) else list(pbx)
            conds.append(f"pbx IN ({', '.join(_lit(p) for p in names)})")
        if start is not None:
            s = _ts(start)
            conds.append(f"date >= DATE {_lit(s.strftime('%Y-%m-%d'))}")
            conds.append(f"received >= TIMESTAMPTZ {_lit(s.isoformat())}")
        if end is not None:
            e = _ts(end)
            conds.append(f"date <= DATE {_lit(e.strftime('%Y-%m-%d'))}")
            conds.append(f"received < TIMESTAMPTZ {_lit(e.isoformat())}")
        if pattern is not None:
            pats = [pattern] if isinstance(pattern, str) else list(pattern)
            if "Event" not in self.columns:
                return "false"
            conds.append("(" + " OR ".join(f"lower(\"Event\") GLOB {_lit(p.lower())}" for p in pats) + ")")
        return " AND ".join(conds)

    def events(self, pattern: str | Sequence[str] | None = None, *, start: Any = None, end: Any = None,
               pbx: str | Sequence[str] | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Events as the live store frames them (``received``, ``pbx``, then AMI keys), in arrival order.

        ``pattern``: an event name or fnmatch-style wildcard, case-insensitive (or a list); ``start`` / ``end``:
        received in ``[start, end)`` (datetimes, ISO strings or epoch seconds); ``pbx``: one name or several;
        ``columns``: only these AMI keys.
        """
        return typed_frame(self._arrow(self.where(start=start, end=end, pbx=pbx, pattern=pattern), columns),
                           keep=("pbx",))

    def _arrow(self, where: str, columns: Sequence[str] | None, *, extra: Sequence[str] = ()) -> pa.Table:
        have = self.columns
        if columns is None:
            cols = [c for c in have if c != "date"]
        else:
            wanted = {"received", "seq", "pbx", "_repeats", *extra, *columns}
            cols = [c for c in have if key_of(c) in wanted]
        sel = ", ".join(_quote(c) for c in cols)
        # no ORDER BY: sorting rows this wide costs DuckDB more than typed_frame's sort of two columns
        return self.con.sql(f"SELECT {sel} FROM events WHERE {where}").to_arrow_table()

    def frame_before(self, seq: int, *, since: Any = None, pattern: Any = None, columns: Any = None,
                     pbx: str | None = None) -> pd.DataFrame:
        """Events with a sequence number below ``seq`` received at or after ``since`` (the store's hook)."""
        where = self.where(start=since, pbx=pbx, pattern=pattern) + f" AND seq < {int(seq)}"
        df = typed_frame(self._arrow(where, columns), keep=())
        return df

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run SQL over the view ``events`` (every event; ``pbx`` and ``date`` included) -> a DataFrame.

        ``self.con`` is the DuckDB connection itself for relations, ``EXPLAIN`` or other views.
        """
        return self.con.execute(query, params or []).df()

    # -- analysis over any period ---------------------------------------------------------------------------------
    @overload
    def calls(self, *, start: Any = ..., end: Any = ..., pbx: str | Sequence[str] | None = ..., client: Any = ...,
              bucket_rows: int = ..., margin: float = ..., workers: int | None = ..., out: None = ...,
              cache: bool = ...) -> pd.DataFrame: ...

    @overload
    def calls(self, *, start: Any = ..., end: Any = ..., pbx: str | Sequence[str] | None = ..., client: Any = ...,
              bucket_rows: int = ..., margin: float = ..., workers: int | None = ...,
              out: str | os.PathLike[str], cache: bool = ...) -> Path: ...

    def calls(self, *, start: Any = None, end: Any = None, pbx: str | Sequence[str] | None = None,
              client: Any = None, bucket_rows: int = 500_000, margin: float = _DAY,
              workers: int | None = None, out: str | os.PathLike[str] | None = None,
              cache: bool = True) -> pd.DataFrame | Path:
        """:func:`ami_nb.analysis.calls` over the archive: one row per call, with a ``pbx`` column first.

        Calls that started in ``[start, end)`` (their events up to ``margin`` seconds outside it are read too, so
        a call across the boundary is whole), ordered by start, call id, then PBX. The work runs a bucket of calls
        at a time (about ``bucket_rows`` events each), so memory is bounded by the buckets in flight, not the
        period: ``workers`` processes (default: one per CPU this process may use, at most 4; 1: in this process)
        each take a bucket at a time; ``client`` (a ``dask.distributed`` Client) runs the buckets on its cluster
        instead. A bucket's table comes back compact (Arrow, repeated texts dictionary-encoded) and the parts are
        sorted and converted to the pandas frame once, a column at a time (:mod:`ami_nb.history.results`).

        ``cache``: the days wholly inside the period read their calls from the tables stored beside the events
        (:mod:`ami_nb.history.daycalls`), computing and storing those missing or stale (closed days, when the
        archive is writable); only the rest is computed from events. Same table; ``False``: everything from
        events, nothing read or stored. :attr:`last_calls_plan` says what was done.

        ``out``: for more calls than memory holds, write each bucket's calls to Parquet as it finishes instead
        and return the path: a directory (a ``part-NNNNN.parquet`` per bucket, each in the order above but not
        the parts between them) or a file ending in ``.parquet`` (a row group per bucket). Same columns and
        values; read it back with :func:`ami_nb.history.results.read` (the frame this returns without ``out``),
        DuckDB or ``pd.read_parquet`` (then ``sort_values(["start", "linkedid", "pbx"])``).
        """
        from . import daycalls, results

        lo = None if start is None else to_epoch(start) - margin
        hi = None if end is None else to_epoch(end) + margin
        t0 = None if start is None else _ts(start)
        t1 = None if end is None else _ts(end)
        run: daycalls.DayRun | None = None
        if cache:
            run = daycalls.plan(self, lo=lo, hi=hi, pbx=pbx, bucket_rows=bucket_rows, version=self.rollup_version)
            self.last_calls_plan = run.plan
            tasks = run.tasks
        else:
            where = self.where(start=lo, end=hi, pbx=pbx)
            tasks = plan_tasks(self.con, str(self.path), where, bucket_rows=bucket_rows, calls_only=True)
        pieces = self._run_tasks(tasks, client, workers)
        if run is not None:
            pieces = run.watch(pieces)
        # the stored tables are read as they are consumed: into the parts below, or one at a time into out=
        stored: Iterator[pa.Table] = iter(()) if run is None else run.tables()
        try:
            if out is None:  # kept in the order of the tasks, so the result never depends on timing
                got: list[pa.Table | None] = [None] * len(tasks)
                for i, table in pieces:
                    got[i] = table
                if run is not None:
                    run.finish_empty()
                done = [*stored, *(p for p in got if p is not None)]
                del got  # combine() empties ``done``: no other list may keep the parts alive
                return results.combine(done, start=t0, end=t1)
            return results.write((results.period(t, t0, t1) for t in
                                  itertools.chain(stored, self._then(run, (t for _, t in pieces)))), out)
        finally:  # the pool's processes end with its generator, even when a write fails
            pieces.close()  # type: ignore[attr-defined]
            if run is not None:
                run.release()

    @staticmethod
    def _then(run: Any, parts: Iterator[pa.Table]) -> Iterator[pa.Table]:
        yield from parts
        if run is not None:
            run.finish_empty()

    def _run_tasks(self, tasks: list[Task], client: Any, workers: int | None) -> Iterator[tuple[int, pa.Table]]:
        """``(index, compact table)`` of every task: on ``client``, on worker processes, or in this process."""
        from . import results

        if client is not None:  # as buckets finish, a bounded number in flight (out= streams on Dask too)
            from .dask import iter_tasks

            gen = iter_tasks(client, tasks)
            try:
                yield from gen
            finally:
                gen.close()
            return
        n = _default_workers() if workers is None else max(1, int(workers))
        if n > 1 and len(tasks) > 1:
            pool = run_pool(tasks, min(n, len(tasks)))
            try:
                yield from pool
            finally:
                pool.close()
            return
        for i, t in enumerate(tasks):
            yield i, results.compact(run_task(t, con=self.con))

    def materialize(self, *, start: Any = None, end: Any = None, pbx: str | Sequence[str] | None = None,
                    workers: int | None = None, client: Any = None, bucket_rows: int = 500_000) -> list[Path]:
        """Store the calls table of every closed day (of ``[start, end)``, whole days) lacking a valid one, as
        :meth:`calls` stores them (:mod:`ami_nb.history.daycalls`): the recorder's nightly step. Returns the
        calls files written (none when the archive is not writable)."""
        from . import daycalls

        lo = None if start is None else to_epoch(start)
        hi = None if end is None else to_epoch(end)
        run = daycalls.plan(self, lo=lo, hi=hi, pbx=pbx, bucket_rows=bucket_rows, version=self.rollup_version,
                            remainder=False)
        self.last_calls_plan = run.plan
        pieces = run.watch(self._run_tasks(run.tasks, client, workers))
        try:
            for _ in pieces:
                pass
        finally:
            pieces.close()
            run.release()
        run.finish_empty()
        return list(run.plan.written)

    def iter_buckets(self, *, start: Any = None, end: Any = None, pbx: str | Sequence[str] | None = None,
                     bucket_rows: int = 1_000_000, columns: Sequence[str] | None = None,
                     calls_only: bool = False) -> Iterator[pd.DataFrame]:
        """The call events a bucket at a time (each call, with every call transfers joined to it, whole in one
        bucket): for per-call analyses of your own over more than memory holds. ``columns``: only these AMI
        keys; ``calls_only``: what :meth:`calls` reads (the keys and rows :func:`analysis.calls` uses)."""
        where = self.where(start=start, end=end, pbx=pbx)
        for t in plan_tasks(self.con, str(self.path), where, bucket_rows=bucket_rows,
                            columns=None if columns is None else list(columns), calls_only=calls_only):
            yield t.frame(self.con)

    def report(self, fn: Any, *, start: Any = None, end: Any = None, pbx: str | None = None,
               pattern: Any = None, **kwargs: Any) -> Any:
        """``fn(events, **kwargs)`` (any :mod:`ami_nb.analysis` function) over the events of a period and PBX."""
        if pbx is None and len(self.pbxes) > 1:
            raise ValueError(f"this archive holds several PBXs ({', '.join(self.pbxes)}): name one with pbx=")
        ev = self.events(pattern, start=start, end=end, pbx=pbx)
        return fn(ev.drop(columns=["pbx"], errors="ignore"), **kwargs)

    def queue_stats(self, *, start: Any = None, end: Any = None, pbx: str | None = None,
                    **kwargs: Any) -> pd.DataFrame:
        """:func:`ami_nb.analysis.queue_stats` over a period (the queue and call events of it)."""
        return self.report(analysis.queue_stats, start=start, end=end, pbx=pbx, **kwargs)

    def channels(self, *, start: Any = None, end: Any = None, pbx: str | None = None) -> pd.DataFrame:
        """:func:`ami_nb.analysis.channels` over a period."""
        return self.report(analysis.channels, start=start, end=end, pbx=pbx)

    def concurrency(self, freq: str = "1min", *, start: Any = None, end: Any = None,
                    pbx: str | None = None) -> pd.DataFrame:
        """:func:`ami_nb.analysis.concurrency` over a period."""
        return self.report(analysis.concurrency, start=start, end=end, pbx=pbx, freq=freq)

    def kpis(self, **kwargs: Any) -> pd.Series:
        """:func:`ami_nb.analysis.kpis` of :meth:`calls` (same arguments)."""
        return analysis.kpis(self.calls(**kwargs))

    def __repr__(self) -> str:
        return f"<History {str(self.path)!r} pbxes={self.pbxes}>"


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def open(path: str | os.PathLike[str], **options: Any) -> History:
    """Open the archive at ``path`` for reading (``threads``, ``memory_limit``: DuckDB's limits)."""
    return History(path, **options)

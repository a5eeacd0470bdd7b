"""Materialized per-day call tables: the calls of a closed day computed once and stored beside its events.

:meth:`History.calls` runs the pandas :func:`ami_nb.analysis.calls`, about 3 CPU seconds a million events read:
recomputing months of calls at every question can never be fast. A closed day's events no longer change, so
its calls are computed once (as the buckets of :mod:`ami_nb.history.buckets` compute them) and stored; later
questions read the stored table and compute only what no valid table covers.

Layout (outside the events glob ``pbx=*/date=*/*.parquet``, so no reader sees it as events)::

    _calls/pbx=<P>/date=<D>/rows-<v>-<key>-<gen>.parquet    the call rows of D's nonlocal calls
    _calls/pbx=<P>/date=<D>/ids-<v>-<key>-<gen>.parquet     call_id of every call of D, with local: bool
    _calls/pbx=<P>/date=<D>/calls-<v>-<key>-<gen>.parquet   the calls of D's local calls (results.compact's columns)

A call of D is *local* when its call_id is in no row of D-1 or D+1 (a call's rows are contiguous in time, so a
call touching another day touches a neighbour) and every call joined to it (``links`` of the rows of D-1..D+1,
a union-find) is local too. Its analysis needs only D's rows. The other calls of D (*nonlocal*: across midnight,
joined to such a call) are computed with the rest of the period, from their rows kept in ``rows-``. A question
thus reads a covered day's table, not its analysis input; it still reads the ``call_id`` and ``links`` columns
of D-1..D+1 to compute a day, and of D-1 and D+1 to check a day whose neighbours changed (below).
A question checks the local calls against the rest it reads (a row or ``links`` naming one in a day not a
neighbour, a call in two stored days): such a day's events answer that question instead (rare).

Names. ``key``: 16 hex digits of sha1 over the code's version (:func:`code_version`: the source the tables
depend on and the libraries' versions; any change invalidates every table) and D's event files (sorted names
and sizes). ``v``: 8 hex digits of the version alone, so a writer tells its own version's files from another
installation's without opening them. ``gen``: random, one per computation: a day is computed again under the
same key when a neighbour made it stale, and a computation's rows and ids are written when it is planned, its
calls when its last bucket finishes. Files of one generation are never written over by another, and a table is
a calls file whose rows and ids of its generation exist and whose metadata names its key and generation: a run
stopped midway (an interrupt, OOM, a concurrent process) leaves the previous table whole, which is found stale
again, never new ids beside old calls.

Staleness. The calls file's Parquet metadata holds the fingerprints of D-1's and D+1's files when it was
computed: when one changed, one DuckDB query checks that no row of the neighbour names a local call of D (its
``call_id`` or its ``links``); if one does, D is computed again, else the calls file is stamped with the new
fingerprints (rewritten in place, same rows: the only file ever rewritten). Not when the neighbour is today
(UTC), which changes all day: the check runs at every question instead of a rewrite at every question.

Writes and removal. Each file is written under a hidden temporary name, fsynced and renamed. When a calls file
lands, what it supersedes goes: of the same version, the other generations of its key that have a calls file,
and (when its key is still the day's current one, so a writer whose events were outdated never removes the
newer) every other key's table. Other versions' files (another installation may still use them), generations
without a calls file (perhaps being written) and temporaries go only once older than :data:`GRACE` (a day, by
mtime). A question hard-links the rows files its remainder reads under hidden names of its own while it runs,
so a removal cannot pull them from under its tasks; a calls file removed under it is read as a missing table
(that day's local calls come from its events). ``_calls`` and its files get the owner and umask of whoever
writes first: let the nightly step's user create it; a user who cannot write there computes from the events
(one warning).

Run as ``python -m ami_nb.history.daycalls DIR``: compacts the closed days, then materializes them (the nightly
step beside the recorder).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import functools
import hashlib
import os
import re
import sys
import time
import uuid
import warnings
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import results
from .buckets import CALL_COLUMNS, Task, _Union, call_filter, plan_tasks, run_task
from .schema import key_of

if TYPE_CHECKING:
    from .reader import History

__all__ = ["CallsPlan", "DayRun", "code_version", "fingerprint", "main", "plan"]

_META_PREV = b"ami_nb.prev"
_META_NEXT = b"ami_nb.next"
_META_KEY = b"ami_nb.key"
_META_GEN = b"ami_nb.gen"
_ARCHIVE_COLUMNS = ("received", "seq", "call_id", "call_hash", "links", "_repeats")
_NAME = re.compile(r"(calls|ids|rows)-([0-9a-f]{8})-([0-9a-f]{16})-([0-9a-f]{12})\.parquet")
#: Age (seconds, by mtime) past which files no writer of this version supersedes are removed anyway.
GRACE = 86400.0
#: Where the sources of a table's content start (package-relative globs); :func:`_sources` adds what they import.
_ROOTS = ("analysis/*.py", "history/buckets.py", "history/daycalls.py", "history/results.py", "history/schema.py")


def _sources(pkg: Path) -> list[Path]:
    """The :data:`_ROOTS` under the package directory ``pkg`` and, transitively, every module of the package they
    import at module level (``typed_frame``'s store and values...): a changed helper changes the tables as surely
    as the analysis does. Function-level imports (``reader.scan_sql``: where to read, not how to compute) are not
    followed. Sources absent (an install of ``.pyc`` files only): none."""
    todo = [f for pattern in _ROOTS for f in sorted(pkg.glob(pattern))]
    seen: set[Path] = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        try:
            tree = ast.parse(f.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base, parts = f.parents[node.level - 1], (node.module or "").split(".")
            elif (node.module or "").split(".")[0] == pkg.name:
                base, parts = pkg.parent, (node.module or "").split(".")
            else:
                continue
            target = base.joinpath(*[x for x in parts if x])
            # ``from .m import x``: the module m (x a name, or a submodule); ``from . import x``: the submodule x
            for t in [*([target] if node.module else []), *(target / a.name for a in node.names)]:
                for cand in (t.with_name(t.name + ".py"), t / "__init__.py"):
                    if cand.is_file() and pkg in cand.parents:
                        todo.append(cand)
    return sorted(seen)


def _version_of(pkg: Path) -> str:
    """sha1 of the libraries' versions and the sources (:func:`_sources`) of the package at ``pkg``."""
    from importlib import metadata

    try:  # the installed distribution's (not the facade's __version__: importing it from here would go up a layer)
        ours = metadata.version("ami_nb")
    except metadata.PackageNotFoundError:
        ours = "unknown"
    h = hashlib.sha1()
    for name, v in (("ami_nb", ours), ("python", f"{sys.version_info[0]}.{sys.version_info[1]}"),
                    ("numpy", np.__version__), ("pandas", pd.__version__), ("pyarrow", pa.__version__),
                    ("duckdb", duckdb.__version__)):
        h.update(f"{name} {v}\n".encode())
    for f in _sources(pkg):
        h.update(f.relative_to(pkg).as_posix().encode() + b"\n")
        try:
            h.update(f.read_bytes())
        except OSError:  # vanished since listed: its name alone
            pass
    return h.hexdigest()


@functools.cache
def code_version() -> str:
    """What the stored tables depend on (once per process): the source of the code computing them and the
    versions of ami_nb, Python, numpy, pandas, pyarrow and DuckDB; any change invalidates them. Never raises:
    without sources, the versions alone."""
    return _version_of(Path(__file__).resolve().parent.parent)


def fingerprint(files: Iterable[Path]) -> str:
    """sha1 of the files' sorted names and sizes (a file written, compacted or removed changes it)."""
    h = hashlib.sha1()
    for name, size in sorted((f.name, f.stat().st_size) for f in files):
        h.update(f"{name}\t{size}\n".encode())
    return h.hexdigest()


def _events(root: Path, pbx: str, day: str) -> list[Path]:
    return sorted((root / f"pbx={pbx}" / f"date={day}").glob("*.parquet"))


def _day_fingerprint(root: Path, pbx: str, day: str) -> str | None:
    """:func:`fingerprint` of a day's event files; None when they change under two listings in a row (a compaction
    renaming and deleting them): no table is used or stored for the day this time."""
    for _ in range(2):
        try:
            return fingerprint(_events(root, pbx, day))
        except FileNotFoundError:
            continue
    return None


def _events_glob(root: Path, pbx: str, day: str) -> str:
    """A day's event files as a glob, listed when a task runs (a compaction meanwhile renames them)."""
    return str(root / f"pbx={pbx}" / f"date={day}" / "*.parquet")


def _key(version: str, fp: str) -> str:
    return hashlib.sha1(f"{version}\n{fp}".encode()).hexdigest()[:16]


def _vtag(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()[:8]


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


def _paths(d: Path, vtag: str, key: str, gen: str) -> dict[str, Path]:
    """The files of one generation: ``calls``, ``ids``, ``rows``."""
    return {kind: d / f"{kind}-{vtag}-{key}-{gen}.parquet" for kind in ("calls", "ids", "rows")}


def _mtime(f: Path) -> float | None:
    try:
        return f.stat().st_mtime
    except OSError:
        return None


def _unlink(*files: Path) -> None:
    for f in files:
        try:
            f.unlink(missing_ok=True)
        except OSError:
            pass


@dataclass
class Stored:
    """A day's stored table: its files and the neighbours' fingerprints when it was computed (or last checked)."""

    calls: Path
    ids: Path
    rows: Path
    prev: str
    next: str


def find(root: Path, pbx: str, day: str, version: str, key: str) -> Stored | None:
    """The newest complete stored table of ``key`` for the day (see the module's docstring), if any."""
    d = rollup_dir(root, pbx, day)
    vtag = _vtag(version)
    try:
        names = {f.name for f in d.iterdir()}
    except OSError:  # no table stored for the day (or none readable)
        return None
    found = []
    for name in names:
        m = _NAME.fullmatch(name)
        if m is None or m[1] != "calls" or m[2] != vtag or m[3] != key:
            continue
        files = _paths(d, vtag, key, m[4])
        if files["ids"].name in names and files["rows"].name in names:
            found.append((_mtime(files["calls"]) or 0.0, m[4], files))
    for _, gen, files in sorted(found, key=lambda f: f[0], reverse=True):
        try:
            meta = pq.read_schema(files["calls"]).metadata or {}
        except (OSError, pa.ArrowException):  # removed meanwhile, or not a whole Parquet file
            continue
        if meta.get(_META_KEY) == key.encode() and meta.get(_META_GEN) == gen.encode():
            return Stored(files["calls"], files["ids"], files["rows"], meta.get(_META_PREV, b"").decode(),
                          meta.get(_META_NEXT, b"").decode())
    return None


def _tmp(target: Path) -> Path:
    """A hidden temporary name beside ``target``, this writer's own (a notebook and the nightly step may store
    the same day at once: each renames a whole file of its own)."""
    return target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def _write_parquet(table: pa.Table, target: Path) -> None:
    tmp = _tmp(target)
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise


def _remove_older(d: Path, vtag: str, key: str, gen: str, current: bool) -> None:
    """What the table ``(vtag, key, gen)`` just landed in ``d`` supersedes (see the module's docstring).
    ``current``: its key is that of the day's event files now."""
    try:
        entries = list(d.iterdir())
    except OSError:
        return
    names = {f.name for f in entries}
    now = time.time()
    for f in entries:
        m = _NAME.fullmatch(f.name)
        _, v, k, g = m.groups() if m is not None else (None, None, None, None)
        if v == vtag and g == gen:
            continue
        complete = v == vtag and f"calls-{v}-{k}-{g}.parquet" in names
        if complete and (k == key or current):  # an older generation of this key, or an older key
            _unlink(f)
        elif not complete and f.name.endswith((".parquet", ".tmp")):
            # another version's, a generation without calls (being written?) or a temporary: once aged
            mtime = _mtime(f)
            if mtime is not None and now - mtime > GRACE:
                _unlink(f)


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


def _sorted_table(parts: list[pa.Table]) -> pa.Table:
    """A day's parts as one plain table in the result's order (:data:`results.ORDER`), as ``out=`` writes a part."""
    table = _plain_table(parts)
    return table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in results.ORDER]))


def _ids_where(ids: pa.Table, *, local: bool) -> pa.Array:
    """The call ids of a day's ids table that are local (or not)."""
    mask = ids["local"] if local else pc.invert(ids["local"])
    return ids["call_id"].filter(mask).combine_chunks().cast(pa.string())


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
    """A day being computed: its generation's files (rows and ids written at plan time), the neighbours'
    fingerprints taken before its ids were read, and its tasks' tables as they finish."""

    pbx: str
    day: str
    key: str
    gen: str
    files: dict[str, Path]
    prev: str
    next: str
    parts: list[pa.Table] = field(default_factory=list)
    pending: int = 0
    used: bool = True  # its table answers the question (not when a conflict put its events in the remainder)


@dataclass
class _Ready:
    """A stored table answering for its day, read only as the result is built (never a whole period at once)."""

    pbx: str
    day: str
    calls: Path
    nonlocal_ids: pa.Array  # to compute its local calls from the events should the file be gone by then


@dataclass
class DayRun:
    """The tasks of one question: the stored tables that answer (``ready``, read by :meth:`tables`), the day
    tasks and the remainder's tasks (``tasks``; ``owner[i]``: the day task ``i`` computes, or None).
    :meth:`watch` stores each day's table as its last task finishes."""

    h: History
    version: str
    bucket_rows: int
    tasks: list[Task] = field(default_factory=list)
    owner: list[_Day | None] = field(default_factory=list)
    ready: list[_Ready] = field(default_factory=list)
    plan: CallsPlan = field(default_factory=CallsPlan)
    _warned: set[str] = field(default_factory=set)
    _empty: list[_Day] = field(default_factory=list)  # computed days without a task (no local call)
    _pins: list[Path] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.h.path

    def watch(self, pieces: Iterator[tuple[int, pa.Table]]) -> Generator[tuple[int, pa.Table], None, None]:
        """``pieces`` (the tasks' tables as they finish) passed on, each day's table stored as its last task
        finishes, the tables of days a conflict dropped left out. Ending or closing it closes ``pieces`` (the
        pool's processes end with it) and removes the rows and ids of the days left unfinished (an interrupt,
        an error): only a calls file makes a table, so they would only wait for their age to go."""
        try:
            for i, table in pieces:
                day = self.owner[i]
                if day is not None:
                    day.parts.append(table)
                    day.pending -= 1
                    if not day.pending:
                        self._store(day)
                if day is None or day.used:
                    yield i, table
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
            for day in {id(d): d for d in self.owner if d is not None and d.pending}.values():
                day.parts = []
                _unlink(day.files["rows"], day.files["ids"])

    def _pin(self, f: Path) -> Path | None:
        """A hard link to the rows file ``f`` under a hidden name of this question's, for the remainder's tasks:
        a newer table landing meanwhile removes ``f``, not what they read. ``f`` itself where no link can be
        made (no write access, no hard links); None when ``f`` is gone (its table no longer answers)."""
        pin = _tmp(f)
        try:
            os.link(f, pin)
        except FileNotFoundError:
            return None
        except OSError:
            return f
        try:  # a link shares the file's mtime, maybe days old: aged, another writer's removal would take it
            os.utime(pin)  # (the rows file looks as fresh: it is in use)
        except OSError:
            pass
        self._pins.append(pin)
        return pin

    def release(self) -> None:
        """Remove the links :meth:`_pin` made (the question's tasks are over; one killed leaves them as
        temporaries, removed once aged)."""
        _unlink(*self._pins)
        self._pins = []

    def finish_empty(self) -> None:
        """Store the computed days that had no task (no local call)."""
        for day in self._empty:
            self._store(day)
        self._empty = []

    def tables(self) -> Iterator[pa.Table]:
        """The stored tables of ``ready``, each read as it is consumed. One removed since the plan (another
        writer's newer table superseded it) or unreadable: its local calls are computed from its events here."""
        for r in self.ready:
            yield self._read(r)

    def _read(self, r: _Ready) -> pa.Table:
        try:
            return pq.read_table(r.calls).replace_schema_metadata(None)
        except FileNotFoundError:
            pass
        except (OSError, pa.ArrowException) as e:
            self._warn("read", e)
        exclude = pa.table({"pbx": pa.array([r.pbx] * len(r.nonlocal_ids), pa.string()), "call_id": r.nonlocal_ids})
        tasks = plan_tasks(self.h.con, str(self.root), _days_sql([(r.pbx, r.day)]), bucket_rows=self.bucket_rows,
                           calls_only=True, exclude=exclude, files=[_events_glob(self.root, r.pbx, r.day)])
        return _sorted_table([results.compact(run_task(t, con=self.h.con)) for t in tasks])

    def _store(self, day: _Day) -> None:
        table = _sorted_table(day.parts)
        day.parts = []
        meta = {_META_PREV: day.prev.encode(), _META_NEXT: day.next.encode(), _META_KEY: day.key.encode(),
                _META_GEN: day.gen.encode()}
        try:
            _write_parquet(table.replace_schema_metadata(meta), day.files["calls"])
        except (OSError, pa.ArrowException) as e:
            self._warn("store", e)
            _unlink(day.files["rows"], day.files["ids"])
            return
        self.plan.written.append(day.files["calls"])
        now = _day_fingerprint(self.root, day.pbx, day.day)
        _remove_older(day.files["calls"].parent, _vtag(self.version), day.key, day.gen,
                      current=now is not None and _key(self.version, now) == day.key)

    def _warn(self, kind: str, e: Exception) -> None:
        """A cache failure said once per question and kind (``store``, ``read``): the table stays right (the
        day's events answer), only slower."""
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(f"could not {kind} the calls of a day under {self.root / '_calls'}: {e}", stacklevel=3)


def _writable(root: Path) -> bool:
    """Whether tables may be stored: into ``_calls`` when it exists (the archive root itself may be read-only to
    this user), else into the root, to create it."""
    calls = root / "_calls"
    return os.access(calls, os.W_OK) if calls.exists() else os.access(root, os.W_OK)


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

def _check(run: DayRun, stored: Stored, pbx: str, day: str, prev: str | None, nxt: str | None, filt: str, *,
           stamp: bool) -> pa.Table | None:
    """The ids of a stored table if it answers for its day now, else None: stale (``plan.stale``), unreadable,
    or a neighbour's files changing under the check (a compaction): then it is computed again or its events
    answer. ``stamp``: rewrite its neighbours' fingerprints once checked clean."""
    try:
        ids = pq.read_table(stored.ids)
    except FileNotFoundError:  # superseded by another writer since found
        return None
    except (OSError, pa.ArrowException) as e:
        run._warn("read", e)
        return None
    if stored.prev == prev and stored.next == nxt:
        return ids
    if prev is None or nxt is None:
        return None
    try:
        clean = _neighbours_clean(run.h, pbx, day, _ids_where(ids, local=True), filt)
    except duckdb.IOException:  # a neighbour's file went while read
        return None
    if not clean:
        run.plan.stale.append((pbx, day))
        return None
    if stamp:
        try:
            t = pq.read_table(stored.calls)
            meta = {**(t.schema.metadata or {}), _META_PREV: prev.encode(), _META_NEXT: nxt.encode()}
            _write_parquet(t.replace_schema_metadata(meta), stored.calls)
        except FileNotFoundError:
            pass
        except (OSError, pa.ArrowException) as e:
            run._warn("store", e)
    return ids


def _compute(run: DayRun, pbx: str, day: str, key: str, ids: pa.Table, prev: str, nxt: str) -> _Day | None:
    """Start computing a day: its rows and ids written under a new generation, its tasks planned. None when
    that fails (warned once; its events answer)."""
    from .reader import scan_sql

    h = run.h
    gen = uuid.uuid4().hex[:12]
    files = _paths(rollup_dir(h.path, pbx, day), _vtag(run.version), key, gen)
    nonlocal_ids = _ids_where(ids, local=False)
    own = [_events_glob(h.path, pbx, day)]
    try:
        files["rows"].parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(files["rows"])
        cur = h.con.cursor()
        try:
            # the day's own columns (a key the other days have may be missing from it: naming it fails the scan)
            have = [r[0] for r in cur.execute(f"DESCRIBE SELECT * FROM {scan_sql(own)}").fetchall()]
            filt = call_filter(have, calls_only=True)
            sel = ", ".join('"' + c.replace('"', '""') + '"' for c in have
                            if (c in _ARCHIVE_COLUMNS or key_of(c) in CALL_COLUMNS) and c not in ("pbx", "date"))
            cur.register("nl", pa.table({"call_id": nonlocal_ids}))
            # the day's own files: a scan of the whole archive's glob parses every file's footer (~0.05 CPU-s
            # each, per query) where the partition filter would leave one
            cur.execute(f"COPY (SELECT {sel} FROM {scan_sql(own)} WHERE {filt} AND {_days_sql([(pbx, day)])} "
                        f"AND call_id IN (SELECT call_id FROM nl)) TO {_lit(str(tmp))} (FORMAT parquet, "
                        "COMPRESSION zstd)")
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, files["rows"])
        finally:
            cur.close()
            _unlink(tmp)
        _write_parquet(ids, files["ids"])
        exclude = pa.table({"pbx": pa.array([pbx] * len(nonlocal_ids), pa.string()), "call_id": nonlocal_ids})
        tasks = plan_tasks(h.con, str(h.path), _days_sql([(pbx, day)]), bucket_rows=run.bucket_rows,
                           calls_only=True, exclude=exclude, files=own)
    except (OSError, duckdb.Error, pa.ArrowException) as e:  # DuckDB's errors are no OSError
        run._warn("store", e)
        _unlink(files["rows"], files["ids"])
        return None
    d = _Day(pbx, day, key, gen, files, prev, nxt, pending=len(tasks))
    run.tasks += tasks
    run.owner += [d] * len(tasks)
    if not tasks:
        run._empty.append(d)
    return d


def _named(h: History, src: str, where: str, ids: pa.Array, links: bool) -> pa.Array:
    """Which of ``ids`` a row of ``src`` matching ``where`` names (its call_id, or in its links): DuckDB joins
    against them, so only the hits come back."""
    q = f"SELECT call_id AS c FROM {src} WHERE {where}"
    if links:
        q += f" UNION ALL SELECT unnest(links) AS c FROM {src} WHERE links IS NOT NULL AND {where}"
    cur = h.con.cursor()
    try:
        cur.register("loc", pa.table({"call_id": ids}))
        got = cur.sql(f"SELECT DISTINCT e.c FROM ({q}) e SEMI JOIN loc ON e.c = loc.call_id").to_arrow_table()
    finally:
        cur.close()
    return got["c"].combine_chunks().cast(pa.string())


def _conflicts(h: History, covered: dict[tuple[str, str], pa.Table], files: list[str],
               window: str) -> set[tuple[str, str]]:
    """The covered days whose local calls are not local after all: a call of another covered day (a call with no
    row for a whole day between), or named by a row the remainder reads (its call_id, or links: a bridge
    entered again days later). Rare; such a day's events are read for the question instead.

    Asked at every question over every covered day (a year: millions of ids), so per PBX (call ids are unique
    per PBX only) over the local ids alone, a day's position per id by ``np.repeat``, no per-call Python."""
    from .reader import scan_sql

    if not covered:
        return set()
    # the columns of what the remainder reads (today's first files may lack a key the archive has: naming it fails)
    have = [r[0] for r in h.con.execute(f"DESCRIBE SELECT * FROM {scan_sql(files)}").fetchall()] if files else []
    links = "links" in have
    where = f"{call_filter(have, calls_only=True)} AND {window}"
    bad: set[tuple[str, str]] = set()
    for p in sorted({k[0] for k in covered}):
        keys = [k for k in covered if k[0] == p]
        local = [_ids_where(covered[k], local=True) for k in keys]
        loc = pa.concat_arrays(local)
        if not len(loc):
            continue
        owner = np.repeat(np.arange(len(keys)), [len(a) for a in local])
        counts = pc.value_counts(loc).flatten()
        found = [counts[0].filter(pc.greater(counts[1], 1))]  # local to two stored days
        found += [_ids_where(covered[k], local=False) for k in keys]  # local to one, not to another
        if files:
            found.append(_named(h, scan_sql(files), f"pbx = {_lit(p)} AND {where}", loc, links))
        hit = pc.is_in(loc, value_set=pa.concat_arrays(found)).to_numpy(zero_copy_only=False)
        bad |= {keys[i] for i in np.unique(owner[hit])}
    return bad


def plan(h: History, *, lo: float | None, hi: float | None, pbx: Any, bucket_rows: int, version: str,
         remainder: bool = True) -> DayRun:
    """The tasks of ``History.calls`` over ``[lo, hi)`` (epoch seconds, None: open) with stored tables: days
    wholly inside read from a valid table or computed (and stored, when closed and the archive is writable);
    the rest from events (``remainder``; :meth:`History.materialize` plans the days alone). A plan that fails
    (an interrupt, a DuckDB error) removes what it made: its pins, the rows and ids of the days it started."""
    run = DayRun(h, version, bucket_rows)
    try:
        return _plan(run, lo=lo, hi=hi, pbx=pbx, remainder=remainder)
    except BaseException:
        run.release()
        for day in {id(d): d for d in run.owner if d is not None}.values():
            _unlink(day.files["rows"], day.files["ids"])
        for day in run._empty:
            _unlink(day.files["rows"], day.files["ids"])
        raise


def _plan(run: DayRun, *, lo: float | None, hi: float | None, pbx: Any, remainder: bool) -> DayRun:
    h, version, bucket_rows = run.h, run.version, run.bucket_rows
    root = h.path
    have = h.columns
    filt = call_filter(have, calls_only=True)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    writable = _writable(root)
    days = _all_days(root, pbx)
    inside = [(p, d) for p, d in days if (lo is None or _epoch(d) >= lo) and (hi is None or _epoch(d) + 86400 <= hi)]
    fps: dict[tuple[str, str], str | None] = {}

    def fp(p: str, d: str) -> str | None:
        if (p, d) not in fps:
            fps[(p, d)] = _day_fingerprint(root, p, d)
        return fps[(p, d)]

    covered: dict[tuple[str, str], pa.Table] = {}  # day -> its ids table
    rows_files: dict[tuple[str, str], str] = {}
    ready: dict[tuple[str, str], _Ready] = {}
    to_compute: list[tuple[tuple[str, str], str]] = []
    computed: dict[tuple[str, str], _Day] = {}
    for p, d in inside:
        own = fp(p, d)
        if own is None:  # its files changed under two listings (a compaction): its events answer this time
            continue
        key = _key(version, own)
        stored = find(root, p, d, version, key)
        if stored is not None:
            # today's neighbour changes all day: checked at every question, never stamped
            ids = _check(run, stored, p, d, fp(p, _shift(d, -1)), fp(p, _shift(d, 1)), filt,
                         stamp=writable and today not in (_shift(d, -1), _shift(d, 1)))
            if ids is not None:
                nonlocal_ids = _ids_where(ids, local=False)
                rows = run._pin(stored.rows) if len(nonlocal_ids) and remainder else stored.rows
                if rows is not None:  # (else its rows went since it was found: computed again)
                    covered[(p, d)] = ids
                    ready[(p, d)] = _Ready(p, d, stored.calls, nonlocal_ids)
                    if len(nonlocal_ids):
                        rows_files[(p, d)] = str(rows)
                    run.plan.from_rollups.append((p, d))
                    continue
        if writable and d != today:  # closed: not today (UTC), as compact() counts days (a dated future too)
            to_compute.append(((p, d), key))
    if to_compute:
        for (p, d), _ in to_compute:  # the neighbours' fingerprints before _day_ids reads them
            fp(p, _shift(d, -1))
            fp(p, _shift(d, 1))
        try:
            idmap = _day_ids(h, [k for k, _ in to_compute], filt)
        except duckdb.IOException as e:  # a file went while read (a compaction): the events answer this time
            run._warn("store", e)
            idmap = {}
        for (p, d), key in to_compute:
            if (p, d) not in idmap:
                continue
            ids = idmap[(p, d)]
            day = _compute(run, p, d, key, ids, fp(p, _shift(d, -1)) or "", fp(p, _shift(d, 1)) or "")
            if day is None:
                continue
            covered[(p, d)] = ids
            computed[(p, d)] = day
            if remainder and pc.any(pc.invert(ids["local"])).as_py():  # the remainder reads its rows
                rows_files[(p, d)] = str(run._pin(day.files["rows"]) or day.files["rows"])
            run.plan.computed.append((p, d))
    if remainder:
        window = h.where(start=lo, end=hi, pbx=pbx)
        lo_day = None if lo is None else time.strftime("%Y-%m-%d", time.gmtime(lo))
        hi_day = None if hi is None else time.strftime("%Y-%m-%d", time.gmtime(hi))
        in_window = [(p, d) for p, d in days if (lo_day is None or d >= lo_day) and (hi_day is None or d <= hi_day)]
        for _ in range(len(covered) + 1):  # a day dropped puts its events in the remainder: check again
            rest = [k for k in in_window if k not in covered]
            # a glob per day, listed when a task runs: a compaction meanwhile renames the files
            files = [_events_glob(root, p, d) for p, d in rest] + list(rows_files.values())
            dropped = _conflicts(h, covered, files, window)
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

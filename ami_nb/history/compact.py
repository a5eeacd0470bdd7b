"""Compaction: a day's small flush files -> one file sorted by ``call_hash``, for fast bucket reads.

The live writer leaves one file per flush (every few seconds), in arrival order. :meth:`History.calls` reads a
hash range at a time; in a file sorted by ``call_hash`` with small row groups, a range is a few row groups and
the rest are skipped by their statistics. ``compact()`` rewrites the partitions of closed days (not today's,
which a recorder may still be writing) that way, crash-safely: the new file is written under a hidden name and
renamed into place, then the old files are deleted. A crash between the rename and the deletion leaves rows
twice; the next ``compact()`` keeps one copy of each ``seq``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .reader import _lit

__all__ = ["ROW_GROUP_ROWS", "compact", "sorted_copy_sql"]

#: Rows per row group of a compacted file: small enough that a bucket reads little beyond its own rows.
ROW_GROUP_ROWS = 16_384


def sorted_copy_sql(select: str, target: str | os.PathLike[str], *, row_group_rows: int = ROW_GROUP_ROWS) -> str:
    """``COPY (select ORDER BY call_hash, seq) TO target``: the compacted layout (the benchmark uses it too)."""
    return (f"COPY ({select} ORDER BY call_hash, seq) TO {_lit(str(target))} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_rows)})")


def compact(path: str | os.PathLike[str], *, pbx: str | None = None, include_today: bool = False,
            row_group_rows: int = ROW_GROUP_ROWS) -> list[Path]:
    """Compact every day partition of ``path`` (of one ``pbx``, or all) holding more than one file, or not
    compacted yet; returns the files written. Today's partition (UTC) is left alone unless ``include_today``.

    A day is sorted in memory with Arrow (DuckDB's sort of rows this wide is slower): about 0.5 GB a million
    events.
    """
    root = Path(path)
    today = time.strftime("date=%Y-%m-%d", time.gmtime())
    out = []
    for day in sorted(root.glob(f"pbx={pbx if pbx else '*'}/date=*")):
        files = sorted(day.glob("*.parquet"))
        if not files or (day.name == today and not include_today):
            continue
        if len(files) == 1 and files[0].name.endswith("-c.parquet"):
            continue
        table = ds.dataset([str(f) for f in files], format="parquet",
                           schema=_unified([pq.read_schema(f) for f in files])).to_table()
        seq = table["seq"].to_numpy()
        table = table.take(pc.sort_indices(table, sort_keys=[("call_hash", "ascending"), ("seq", "ascending")]))
        if len(np.unique(seq)) < len(seq):  # a crash between rename and delete left rows twice: keep one
            seq = table["seq"].to_numpy()
            keep = np.ones(len(seq), dtype=bool)
            order = np.argsort(seq, kind="stable")
            dup = np.zeros(len(seq), dtype=bool)
            dup[order[1:]] = seq[order[1:]] == seq[order[:-1]]
            keep &= ~dup
            table = table.filter(pa.array(keep))
        name = f"part-{int(seq.min()):020d}-{uuid.uuid4().hex[:8]}-c.parquet"
        tmp = day / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=row_group_rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, day / name)
        for f in files:
            f.unlink()
        out.append(day / name)
    return out


def _unified(schemas: list[pa.Schema]) -> pa.Schema:
    """Every column of the files, in first-seen order (a column missing from a file reads as nulls)."""
    return pa.unify_schemas(schemas, promote_options="permissive")

"""The result side of :meth:`History.calls`: compact bucket tables, combined and sorted in Arrow.

A bucket's call table travels from its worker as an Arrow table (:func:`compact`): the text columns that repeat
(dispositions, queues, caller numbers, causes...) dictionary-encoded, the rest as they are, which halves what is
pickled to the parent and what the parent holds while the other buckets run. :func:`combine` then filters and
sorts the parts with Arrow (one index array, no copy of the table) and builds the final pandas frame one column
at a time, releasing each column of the parts as it goes: the parent holds the parts plus the final frame, never
several copies of it (``pd.concat``, then ``sort_values``, then the period's filter did). :func:`write` is the
same, a bucket at a time, into Parquet files instead of memory (``History.calls(out=...)``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..analysis import schemas

__all__ = ["DONE", "combine", "compact", "dtypes", "empty", "period", "read", "write"]

#: Sort order of :meth:`History.calls` (as :func:`ami_nb.analysis.calls` orders, then by PBX).
ORDER = ("start", "linkedid", "pbx")


def dtypes() -> dict[str, str]:
    """The result's columns and pandas dtypes: ``pbx`` then :data:`ami_nb.analysis.schemas.CALLS`."""
    return {"pbx": schemas.TEXT, **schemas.CALLS.columns}


def empty() -> pd.DataFrame:
    """The result with no calls."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in dtypes().items()})


def compact(df: pd.DataFrame) -> pa.Table:
    """A bucket's call table (``pbx`` + the calls columns) as Arrow, repeated texts dictionary-encoded."""
    cols = dtypes()
    if not len(df):
        df = empty()
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for c in cols:
        arr = pa.array(df[c].array, from_pandas=True) if c in df.columns else None
        if arr is None:
            raise ValueError(f"the bucket's table lacks column {c!r}")
        if isinstance(arr, pa.ChunkedArray):  # Arrow-backed pandas columns come as chunked arrays
            arr = arr.combine_chunks()
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            enc = pc.dictionary_encode(arr)
            if len(enc.dictionary) * 2 < len(arr):  # a text repeated on most rows: 4-byte codes beat the text
                arr = enc
        arrays[c] = arr
    return pa.table(arrays)


def _plain(parts: list[pa.ChunkedArray] | pa.ChunkedArray) -> pa.ChunkedArray:
    """One column of several parts as one chunked array, dictionary chunks decoded (a part encodes a column or
    not as its values repeat, so the parts' types may differ: never put them in one chunked array as they are)."""
    chunks = []
    for col in [parts] if isinstance(parts, pa.ChunkedArray) else parts:
        for ch in col.chunks:
            if pa.types.is_dictionary(ch.type):
                ch = ch.dictionary_decode()
            if pa.types.is_string(ch.type):
                ch = ch.cast(pa.large_string())
            chunks.append(ch)
    if not chunks:
        return parts if isinstance(parts, pa.ChunkedArray) else pa.chunked_array([], pa.null())
    return pa.chunked_array(chunks)


def _to_pandas(col: pa.ChunkedArray | pa.Array, dtype: str) -> pd.Series:
    """One Arrow column as a pandas column of ``dtype`` (texts and nullable integers stay in Arrow memory)."""
    pd_dtype = pd.api.types.pandas_dtype(dtype)
    if isinstance(pd_dtype, (pd.StringDtype, pd.Int64Dtype)):
        if isinstance(pd_dtype, pd.StringDtype) and len(col) == 0:
            col = pa.chunked_array([], pa.large_string())
        return pd.Series(pd_dtype.__from_arrow__(col), copy=False)
    s = col.to_pandas()
    return s if s.dtype == pd_dtype else s.astype(pd_dtype)


def _period_mask(table: pa.Table, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pa.ChunkedArray | None:
    s = table["start"]
    mask = None
    if start is not None:
        mask = pc.greater_equal(s, pa.scalar(start.as_unit("ns"), s.type))
    if end is not None:
        m = pc.less(s, pa.scalar(end.as_unit("ns"), s.type))
        mask = m if mask is None else pc.and_kleene(mask, m)
    return mask


def period(table: pa.Table, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pa.Table:
    """The calls of ``table`` that started in ``[start, end)`` (either bound None: open)."""
    mask = _period_mask(table, start, end)
    return table if mask is None else table.filter(mask)


#: The file a result directory gets last (:func:`write`), so a directory without it is a run that did not finish.
DONE = "_SUCCESS"


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """What :func:`write` wrote (``History.calls(out=...)``) as the frame ``History.calls()`` returns.

    A directory must hold :data:`DONE` (written last): without it the run stopped midway and the parts are not
    every call, so it is refused rather than read as a smaller result."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no calls written at {path} (History.calls(out=...) writes them)")
    if path.is_dir() and not (path / DONE).is_file():
        raise ValueError(f"incomplete result directory {path}: no {DONE} marker (the run did not finish)")
    files = [path] if path.is_file() else sorted(path.glob("part-*.parquet"))
    parts = []
    for f in files:
        pf = pq.ParquetFile(f)
        parts += [pf.read_row_group(i) for i in range(pf.num_row_groups)]
    return combine(parts)


def combine(parts: list[pa.Table], *, start: pd.Timestamp | None = None,
            end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Bucket tables (:func:`compact`) -> the pandas result: calls that started in ``[start, end)``, ordered by
    start, then call id, then PBX (stable, as ``pd.concat`` of the parts and ``sort_values(kind="stable")``
    ordered them), in the dtypes of :func:`dtypes`.

    ``parts`` is emptied as the columns are built: the caller's list no longer holds the tables after this.
    """
    cols = dtypes()
    tables = [p for p in parts if p.num_rows]
    parts.clear()
    if not tables:
        return empty()
    keys = pa.table({k: _plain([t[k] for t in tables]) for k in ORDER})
    mask = _period_mask(keys, start, end)
    if mask is not None:
        picked = pc.indices_nonzero(pc.fill_null(mask, False))  # positions of the calls in the period
        keys = keys.take(picked)
    order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in ORDER])  # nulls last, as pandas
    take = order if mask is None else picked.take(order)  # positions in the concatenated parts, sorted
    del keys, order
    out: dict[str, pd.Series] = {}
    for c, dtype in cols.items():
        col = _plain([t[c] for t in tables])
        tables = [t.drop_columns([c]) for t in tables]  # this column of the parts can go once taken
        sorted_col = col.take(take)
        del col
        if isinstance(sorted_col, pa.ChunkedArray) and sorted_col.num_chunks > 1:
            sorted_col = sorted_col.combine_chunks()
        out[c] = _to_pandas(sorted_col, dtype)
        del sorted_col
    return pd.DataFrame(out, copy=False)


def write(parts: Any, path: str | os.PathLike[str]) -> Path:
    """Write bucket tables (an iterable of :func:`compact` tables) as they come, into Parquet under ``path``.

    ``path`` ending in ``.parquet``: one file, a row group per bucket; otherwise a directory with a file per
    bucket. The texts are written plain (no dictionary types), so every bucket has the same schema. Returns
    ``path``.

    Crash-safe: the result is written under a hidden temporary name beside ``path`` (``.<name>.<random>.tmp``,
    which Parquet readers skip), synced to disk, and renamed to ``path`` only once every bucket is in; a
    directory also gets :data:`DONE` last, which :func:`read` requires. A run that fails (the error propagates)
    or is killed midway thus leaves nothing at ``path`` that looks like a result (a killed one may leave the
    hidden temporary). An existing file at ``path`` is replaced at that rename, atomically (readers see the old
    result or the new one); an existing directory is refused (FileExistsError) unless empty: a directory may
    hold other files, and it cannot be replaced in one step.
    """
    path = Path(path)
    schema = pa.schema([(c, pa.large_string() if d == schemas.TEXT else _arrow_type(d)) for c, d in dtypes().items()])
    directory = path.suffix != ".parquet"
    if directory and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} already exists and is not an empty directory (a result directory is "
                              "never written over: remove it or name another)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if directory:
            tmp.mkdir()
            n = 0
            for t in parts:
                if t.num_rows:
                    _write_synced(tmp / f"part-{n:05d}.parquet", [_decoded(t, schema)], schema)
                    n += 1
            if not n:  # no call: one empty file, so the directory reads back as the empty table
                _write_synced(tmp / "part-00000.parquet", [], schema)
            _write_synced(tmp / DONE, None, schema)
            _fsync_dir(tmp)
            if path.exists():
                path.rmdir()  # empty (checked above): a rename over it is refused on some systems
        else:
            _write_synced(tmp, (_decoded(t, schema) for t in parts if t.num_rows), schema)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _write_synced(path: Path, tables: Any, schema: pa.Schema) -> None:
    """``tables`` into one Parquet file at ``path`` (``None``: an empty marker file), flushed to disk."""
    with open(path, "wb") as fh:
        if tables is not None:
            with pq.ParquetWriter(fh, schema) as w:
                for t in tables:
                    w.write_table(t)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new file in directory ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _arrow_type(dtype: str) -> pa.DataType:
    return {schemas.TIME: pa.timestamp("ns", tz="UTC"), schemas.FLOAT: pa.float64(), schemas.COUNT: pa.int64(),
            schemas.CODE: pa.int64(), schemas.FLAG: pa.bool_()}[dtype]


def _decoded(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.table({f.name: _plain(table[f.name]).cast(f.type) for f in schema}, schema=schema)

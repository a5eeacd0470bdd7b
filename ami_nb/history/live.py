"""A live session's archive: the batch sink that feeds the writer, and the store's window onto evicted events.

The session's store keeps the newest events in memory; with an archive attached, everything it received is on
disk too, and ``session.events.frame(since=...)`` reads the part older than memory from the archive
(:class:`StoreHook`). The archive's ``seq`` is the store's own sequence number plus the writer's base, so the two
halves meet exactly, without overlap or gap, however the store evicted.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ..store import to_epoch
from .reader import History
from .writer import Archive, pbx_from_host

__all__ = ["StoreHook", "attach", "union_frames"]


def attach(session: Any, path: str | os.PathLike[str], *, pbx: str | None = None, flush_seconds: float = 5.0,
           **options: Any) -> Archive:
    """Archive every event ``session`` receives from now on (see :meth:`ami_nb.Session.archive`)."""
    store = session.events
    # fed by the store's columnar chunks (numbered by the store): the messages are not parsed a second time
    archive = Archive(path, pbx=pbx or pbx_from_host(session.client.host), flush_seconds=flush_seconds,
                      store=store, **options)

    def on_state(state: str) -> None:
        archive.on_state(state)
        if state == "closed" and not archive.closed:
            threading.Thread(target=archive.close, name="ami-archive-close", daemon=True).start()

    session.client.on_state_change(on_state)
    store.archive = StoreHook(archive)
    recordings = getattr(session, "_recordings", None)
    if recordings is not None:  # Session.close() stops these: the archive is flushed and closed with it
        recordings.append(archive)
    return archive


class StoreHook:
    """What :meth:`EventStore.frame` consults for a ``since`` older than the events it holds."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def extend_back(self, store: Any, df: pd.DataFrame, *, pattern: Any = None, last: int | None = None,
                    since: Any = None, columns: Any = None) -> pd.DataFrame:
        """``df`` (what memory holds since ``since``) preceded by the evicted events since then."""
        first_held = store.dropped
        if not first_held or (last is not None and len(df) >= last):
            return df
        oldest = store.oldest_received()
        if oldest is not None and round(to_epoch(since) * 1e6) > round(oldest * 1e6):  # evicted: at or before it
            return df  # memory still reaches back that far: no flush, no file, no query
        a = self.archive
        if not a.closed:
            a.flush()
        h = History(a.path, threads=2)
        older = h.frame_before(a.seq_base + first_held, since=since, pattern=pattern, columns=columns, pbx=a.pbx)
        if not len(older):
            return df
        out = union_frames(older, df)
        if last is not None:
            out = out.iloc[len(out) - last:].reset_index(drop=True) if len(out) > last else out
        return out


def _as_text(s: pd.Series) -> pd.Series:
    """A column as strings, or as objects when it holds tuples (missing values NaN)."""
    if s.dtype == object:
        return s
    vals = s.astype(object)
    out = np.array([np.nan if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                    for v in vals], dtype=object)
    return pd.Series(out, index=s.index, dtype="str")


def union_frames(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """``a`` then ``b`` as one events frame, each column typed as the store would type the union."""
    n = len(a) + len(b)
    cols = list(dict.fromkeys([*a.columns, *b.columns]))
    data: dict[str, Any] = {}
    for c in cols:
        x = a[c] if c in a.columns else None
        y = b[c] if c in b.columns else None
        if x is None or y is None:
            present = x if x is not None else y
            assert present is not None
            pad = pd.Series([np.nan] * (n - len(present)), dtype=object)
            parts = [present, pad] if x is not None else [pad, present]
            if isinstance(present.dtype, pd.CategoricalDtype):
                cat = present.cat.categories
                data[c] = pd.Categorical(pd.concat([p.astype(object) for p in parts], ignore_index=True),
                                         categories=cat)
            elif str(present.dtype) == "Int64":
                data[c] = pd.concat([present, pd.Series(pd.NA, index=range(len(pad)), dtype="Int64")]
                                    if x is not None else
                                    [pd.Series(pd.NA, index=range(len(pad)), dtype="Int64"), present],
                                    ignore_index=True)
            elif present.dtype == object:
                data[c] = pd.concat(parts, ignore_index=True).astype(object)
            else:
                filled = pd.concat([p.astype(present.dtype) if p is pad else p for p in parts], ignore_index=True)
                data[c] = filled
            continue
        if isinstance(x.dtype, pd.CategoricalDtype) and isinstance(y.dtype, pd.CategoricalDtype):
            data[c] = union_categoricals([x.array, y.array], ignore_order=True)
        elif x.dtype == y.dtype:
            data[c] = pd.concat([x, y], ignore_index=True)
        else:
            data[c] = pd.concat([_as_text(x), _as_text(y)], ignore_index=True)
    return pd.DataFrame(data, index=pd.RangeIndex(n))

"""Concurrent calls over time, from a calls table (or the events it comes from)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schemas
from .calls import as_calls


def concurrency(events: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Concurrent calls over time, in bins of ``freq``.

    Columns: ``active`` (calls up at the bin's start), ``peak`` (most calls up at once within the bin) and
    ``started`` (calls that began in the bin). A call still in progress counts until the latest call start or
    end in the data (the stream's horizon), since it was still up then.
    """
    c = as_calls(events)
    if c.empty or c["start"].isna().all():
        return schemas.CONCURRENCY.empty()
    horizon = pd.concat([c["start"], c["end"]]).max()
    end = c["end"].fillna(horizon)
    steps = pd.DataFrame(
        {
            "time": pd.concat([c["start"], end], ignore_index=True),
            "delta": np.r_[np.ones(len(c), dtype=int), -np.ones(len(c), dtype=int)],
        }
    ).dropna()
    steps = steps.sort_values(["time", "delta"], kind="stable")  # an end before a start at the same instant
    level = pd.Series(steps["delta"].cumsum().to_numpy(), index=pd.DatetimeIndex(steps["time"]))
    start_bin = level.index.min().floor(freq)
    grid = pd.date_range(start_bin, level.index.max().floor(freq), freq=freq, name="time")
    within = level.resample(freq, origin=start_bin).max().reindex(grid)
    at = np.searchsorted(level.index.asi8, grid.asi8, side="right") - 1  # last change at or before each bin start
    active = pd.Series(np.where(at >= 0, level.to_numpy()[np.maximum(at, 0)], 0), index=grid)
    peak = np.maximum(within.fillna(-1).to_numpy(), active.to_numpy()).astype(int)
    started = pd.Series(1, index=pd.DatetimeIndex(c["start"].dropna())).resample(freq, origin=start_bin).sum()
    out = pd.DataFrame(
        {"active": active.to_numpy(), "peak": peak, "started": started.reindex(grid).fillna(0).astype(int).to_numpy()},
        index=grid,
    )
    return schemas.CONCURRENCY.apply(out)

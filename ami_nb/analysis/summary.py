"""Headline numbers of a calls table: the KPIs and the calls by disposition."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schemas
from .calls import DISPOSITIONS, as_calls
from .concurrency import concurrency


def disposition_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Calls by disposition: count, share, mean and 90th percentile wait, mean talk (from :func:`calls` or events)."""
    c = as_calls(table)
    done = c[~c["in_progress"] & c["disposition"].notna()]  # ended calls only, as kpis() counts them
    g = done.groupby("disposition", sort=False)
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "share": g.size() / max(len(done), 1),
            "wait_mean": g["wait"].mean(),
            "wait_p90": g["wait"].quantile(0.9),
            "talk_mean": g["talk"].mean(),
        }
    )
    out = out.reindex([d for d in DISPOSITIONS if d in out.index])
    out.index.name = "disposition"
    return schemas.DISPOSITION_SUMMARY.apply(out)


def kpis(table: pd.DataFrame, service_level: float = 20) -> pd.Series:
    """The headline numbers of a calls table (or of events): a Series.

    ``calls`` (ended), ``in_progress``, ``answered``, ``answer_rate`` (share of ended calls answered),
    ``abandon_rate`` (share of queue calls abandoned), ``wait_mean`` and ``wait_p90`` of answered calls (ring or
    queue time until answer), ``talk_mean`` (average talk time of answered calls), ``service_level`` (share of
    queue calls answered within ``service_level`` seconds of joining), ``transferred`` and ``peak_concurrent``.
    Times in seconds; rates in 0..1 (NaN when there is nothing to divide).
    """
    c = as_calls(table)
    done = c[~c["in_progress"]]
    answered = done[done["disposition"] == "answered"]
    queued = done[done["queue"].notna()]
    fast = (queued["disposition"] == "answered") & (queued["queue_wait"] <= service_level)
    conc = concurrency(c, "1min") if len(c) else None
    return pd.Series(
        {
            "calls": len(done),
            "in_progress": int(c["in_progress"].sum()),
            "answered": len(answered),
            "answer_rate": len(answered) / len(done) if len(done) else np.nan,
            "abandon_rate": (queued["disposition"] == "abandoned").mean() if len(queued) else np.nan,
            "wait_mean": answered["wait"].mean(),
            "wait_p90": answered["wait"].quantile(0.9),
            "talk_mean": answered["talk"].mean(),
            "service_level": fast.mean() if len(queued) else np.nan,
            "transferred": int(done["transferred"].sum()),
            "peak_concurrent": int(conc["peak"].max()) if conc is not None and len(conc) else 0,
        },
        dtype=object,
    )

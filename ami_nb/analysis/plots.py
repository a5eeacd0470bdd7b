"""Plots of the analysis tables (matplotlib, an optional dependency: ``pip install ami_nb[plot]``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .calls import DISPOSITIONS, as_calls
from .concurrency import concurrency


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install ami_nb[plot]") from exc
    return plt


def plot_volume(table: pd.DataFrame, freq: str = "5min", ax: Any = None) -> Any:
    """Stacked bars of calls started per ``freq``, by disposition (from events or a :func:`calls` table)."""
    plt = _pyplot()
    c = as_calls(table)
    c = c[c["start"].notna()]
    counts = (
        c.assign(disposition=c["disposition"].fillna("in progress"))
        .groupby([pd.Grouper(key="start", freq=freq), "disposition"])
        .size()
        .unstack(fill_value=0)
    )
    counts = counts.reindex(columns=[d for d in [*DISPOSITIONS, "in progress"] if d in counts.columns])
    counts.index = counts.index.strftime("%H:%M")
    ax = ax or plt.subplots(figsize=(9, 3.5))[1]
    counts.plot.bar(stacked=True, ax=ax, width=0.85)
    ax.legend(title="disposition", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xlabel(f"start ({freq} bins, UTC)")
    ax.set_ylabel("calls")
    ax.set_title("Call volume by disposition")
    return ax


def plot_concurrency(table: pd.DataFrame, freq: str = "1min", ax: Any = None) -> Any:
    """Peak and start-of-bin concurrent calls over time."""
    plt = _pyplot()
    conc = concurrency(table, freq)
    ax = ax or plt.subplots(figsize=(9, 3))[1]
    conc[["peak", "active"]].plot(ax=ax, drawstyle="steps-post")
    ax.set_ylabel("concurrent calls")
    ax.set_title(f"Concurrent calls ({freq} bins)")
    return ax


def plot_wait_distribution(table: pd.DataFrame, bins: int = 30, ax: Any = None) -> Any:
    """Histogram of waits (seconds): queue waits when there were queue calls, else ring time, by disposition."""
    plt = _pyplot()
    c = as_calls(table)
    col = "queue_wait" if c["queue_wait"].notna().any() else "wait"
    data = c[c[col].notna() & c["disposition"].notna()]
    wide = data.pivot(columns="disposition", values=col)
    wide = wide.reindex(columns=[d for d in DISPOSITIONS if d in wide.columns])
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    if not wide.empty:
        wide.plot.hist(bins=bins, alpha=0.6, ax=ax)
    ax.set_ylabel("calls")
    ax.set_xlabel(f"{col.replace('_', ' ')} (s)")
    ax.set_title("Wait distribution")
    return ax

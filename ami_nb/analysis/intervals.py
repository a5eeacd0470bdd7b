"""Queue KPIs over a period and per interval (15/30/60 minutes, hour of day, day of week), with heatmaps.

Every figure counts *stints* (one caller's stay in one queue, :func:`ami_nb.analysis.queue_stints`), so a call
that went through two queues is offered to both, and each queue is judged on what happened in it. The counting
rules are a :class:`~ami_nb.analysis.kpi.KPIConfig`:

* **offered** = stints that began in the period (less the short abandons when
  ``exclude_short_abandons``); **answered** = stints an agent answered;
  **abandoned** = the caller hung up in the queue (plus the timeouts when ``timeouts_as_abandoned``);
  **short_abandoned** = abandoned within ``short_abandon`` seconds (always reported);
  **timed_out** = Queue()'s timeout ended the stint; **other** = the other exits (a key, join/leave empty,
  full, ...).
* **service_level** = answered within the queue's threshold ÷ offered (abandons count against it: the
  convention of the FreePBX and Asternic reports); ``answered_within_<N>`` = the same share for each N.
* **ASA** (average speed of answer) = mean wait of answered stints; **abandon_rate** = abandoned ÷ offered.
* **AHT** = mean talk of the answered calls (Asterisk's talk includes time on hold) plus the wrap-up of the
  member that answered (``KPIConfig.wrapup`` where set, else the member's ``Wrapuptime`` from its events): the
  handling time an agent gives a call, what staffing needs.

Each report takes an events frame, or :func:`prepare`'s result to read the frame once for several.
* **peak_waiting** = the most callers waiting in the queue at once during the interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._events import col
from .kpi import KPIConfig

__all__ = ["Prepared", "interval_report", "plot_heatmap", "prepare", "queue_kpis"]

_GROUPINGS = ("interval", "hour", "weekday")
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class Prepared:
    """The stints of one events frame with every KPI flag, computed once and shared by the reports (see
    :func:`prepare`): ``queue_kpis``, ``interval_report`` and ``plot_heatmap`` accept one instead of events."""

    def __init__(self, stints: pd.DataFrame, config: KPIConfig, calls: pd.DataFrame, raw: pd.DataFrame) -> None:
        self.stints = stints  # flagged, one row per stint
        self.config = config
        self.calls = calls  # analysis.calls() of the same frame
        self.raw = raw  # analysis.queue_stints() of the same frame


def _wrapup_seen(events: pd.DataFrame) -> pd.Series:
    """The last ``Wrapuptime`` each (queue, member interface) showed in its member events."""
    if events is None or len(events) == 0 or "Wrapuptime" not in events.columns:
        return pd.Series([], dtype=float)
    ev = col(events, "Event")
    rows = events[ev.isin(("QueueMemberStatus", "QueueMember", "QueueMemberAdded", "QueueMemberPause")).to_numpy()]
    iface = col(rows, "Interface").fillna(col(rows, "Location"))
    seen = pd.DataFrame(
        {"queue": col(rows, "Queue"), "interface": iface, "wrap": pd.to_numeric(col(rows, "Wrapuptime"), "coerce")}
    ).dropna()
    return seen.drop_duplicates(["queue", "interface"], keep="last").set_index(["queue", "interface"])["wrap"]


def prepare(events: pd.DataFrame | Prepared, config: KPIConfig | None = None) -> Prepared:
    """Read ``events`` once for several reports: the queue stints, each flagged by the KPI rules of ``config``."""
    if isinstance(events, Prepared):
        return events
    from .calls import calls
    from .queues import queue_stints

    config = config or KPIConfig()
    stints = queue_stints(events)
    table = calls(events)
    if stints.empty:
        return Prepared(stints, config, table, stints)
    talk = table.set_index("linkedid")["talk"]
    return Prepared(_counted(stints, talk, _wrapup_seen(events), config), config, table, stints)


def _counted(stints: pd.DataFrame, talk: pd.Series, seen: pd.Series, config: KPIConfig) -> pd.DataFrame:
    """One row per stint with the flags every KPI sums."""
    s = stints.copy()
    s["start"] = s["joined"].fillna(s["left"] - pd.to_timedelta(s["wait"], unit="s"))
    outcome = s["outcome"].astype("object")
    s["answered"] = outcome.eq("answered")
    timed_out = outcome.eq("timeout")
    abandon = outcome.eq("abandon") | (timed_out & config.timeouts_as_abandoned)
    s["short_abandoned"] = abandon & (s["wait"] < config.short_abandon)
    s["abandoned"] = abandon
    s["timed_out"] = timed_out
    s["other"] = outcome.notna() & ~s["answered"] & ~abandon & ~timed_out
    s["counted"] = ~(s["short_abandoned"] & config.exclude_short_abandons)
    threshold = s["queue"].map(config.threshold).astype(float)
    s["within_sl"] = s["answered"] & (s["wait"] <= threshold)
    for n in config.answered_within:
        s[f"answered_within_{n:g}"] = s["answered"] & (s["wait"] <= n)
    s["talk"] = s["linkedid"].map(talk).where(s["answered"])
    wrap = config.wrapup
    if isinstance(wrap, Mapping):
        s["wrapup"] = s["queue"].map(lambda q: float(wrap.get(q, 0.0)))
    elif wrap is not None:
        s["wrapup"] = float(wrap)
    else:  # what the answering member's events said (Wrapuptime), else none
        keys = pd.MultiIndex.from_arrays([s["queue"].astype(object), s["interface"].astype(object)])
        s["wrapup"] = seen.reindex(keys).fillna(0.0).to_numpy() if len(seen) else 0.0
    return s


def _summarise(s: pd.DataFrame, keys: list[Any], config: KPIConfig) -> pd.DataFrame:
    within = [f"answered_within_{n:g}" for n in config.answered_within]
    c = s[s["counted"]]
    g = c.groupby(keys, sort=True, observed=True)
    out = pd.DataFrame(
        {
            "offered": g.size(),
            "answered": g["answered"].sum(),
            "abandoned": g["abandoned"].sum(),
            "short_abandoned": s.groupby(keys, sort=True, observed=True)["short_abandoned"].sum(),
            "timed_out": g["timed_out"].sum(),
            "other": g["other"].sum(),
        }
    )
    out = out.fillna(0).astype("int64")
    offered = out["offered"].where(out["offered"] > 0)
    out["service_level"] = g["within_sl"].sum() / offered
    for w in within:
        out[w] = g[w].sum() / offered
    out["abandon_rate"] = out["abandoned"] / offered
    ans = c[c["answered"]].groupby(keys, sort=True, observed=True)
    out["asa"] = ans["wait"].mean()
    out["max_wait"] = g["wait"].max()
    out["aht"] = ans["talk"].mean() + ans["wrapup"].mean()
    return out


def queue_kpis(events: pd.DataFrame | Prepared, *, config: KPIConfig | None = None) -> pd.DataFrame:
    """Per queue over the whole frame: offered, answered, abandoned (and short), timed out, other exits,
    service level, answered within each N, abandon rate, ASA, longest wait and AHT (definitions in the module
    docstring)."""
    p = prepare(events, config)
    if p.stints.empty:
        return _empty(["queue"], p.config)
    return _summarise(p.stints, ["queue"], p.config)


def interval_report(
    events: pd.DataFrame | Prepared,
    *,
    freq: str = "30min",
    by: str = "interval",
    queue: str | None = None,
    config: KPIConfig | None = None,
) -> pd.DataFrame:
    """The queue KPIs per time bucket: ``by="interval"`` (periods of ``freq``, e.g. ``"15min"``, ``"1h"``),
    ``"hour"`` (hour of day, 0-23) or ``"weekday"`` (Mon..Sun); all queues together, or one ``queue``.

    Columns as :func:`queue_kpis`, plus ``peak_waiting`` (``by="interval"``). A stint belongs to the bucket its
    caller joined in. The table's ``attrs["freq"]`` records the interval length for
    :func:`ami_nb.analysis.staffing`.
    """
    if by not in _GROUPINGS:
        raise ValueError(f"by must be one of {_GROUPINGS}, got {by!r}")
    length = pd.Timedelta(freq)
    if length <= pd.Timedelta(0):
        raise ValueError(f"freq must be a positive period such as '30min', got {freq!r}")
    p = prepare(events, config)
    config = p.config
    s = p.stints if queue is None or p.stints.empty else p.stints[p.stints["queue"] == queue]
    if s.empty:
        out = _empty([by], config)
        out.attrs["freq"] = freq
        return out
    s = s.copy()
    if by == "interval":
        s["interval"] = s["start"].dt.floor(freq)
        out = _summarise(s, ["interval"], config)
        full = pd.date_range(out.index.min(), out.index.max(), freq=freq, name="interval")
        out = out.reindex(full)
        for c in ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "other"):
            out[c] = out[c].fillna(0).astype("int64")
        out["peak_waiting"] = _peak_waiting(s, full, length)
    elif by == "hour":
        s["hour"] = s["start"].dt.hour
        out = _summarise(s, ["hour"], config)
    else:
        s["weekday"] = pd.Categorical(s["start"].dt.day_of_week.map(dict(enumerate(_WEEKDAYS))), _WEEKDAYS)
        out = _summarise(s, ["weekday"], config)
    out.attrs["freq"] = freq
    return out


def _peak_waiting(s: pd.DataFrame, buckets: pd.DatetimeIndex, length: pd.Timedelta) -> pd.Series:
    """The most callers waiting at once within each bucket (a sweep over join/leave instants)."""
    ok = s["start"].notna()
    begin = s["start"][ok]
    end = s["left"][ok].fillna(begin + pd.to_timedelta(s["wait"][ok].fillna(0), unit="s"))
    ns = np.concatenate([_ns(begin), _ns(end)])
    steps = np.concatenate([np.ones(len(begin), dtype=np.int64), -np.ones(len(begin), dtype=np.int64)])
    order = np.lexsort((steps, ns))  # a leave before a join at the same instant
    ns, level = ns[order], np.cumsum(steps[order])
    lo = np.searchsorted(ns, _ns(buckets), side="left")
    hi = np.searchsorted(ns, _ns(buckets + length), side="left")
    peak = [
        int(max(level[a - 1] if a > 0 else 0, level[a:b].max() if b > a else 0)) for a, b in zip(lo, hi, strict=True)
    ]
    return pd.Series(peak, index=buckets, dtype="int64")


def _ns(t: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC datetimes as int64 nanoseconds, for searching."""
    return np.asarray(pd.DatetimeIndex(t).tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)


def _empty(keys: list[str], config: KPIConfig) -> pd.DataFrame:
    counts = ["offered", "answered", "abandoned", "short_abandoned", "timed_out", "other"]
    shares = ["service_level", *[f"answered_within_{n:g}" for n in config.answered_within], "abandon_rate"]
    cols = {**{c: "int64" for c in counts}, **{c: "float64" for c in [*shares, "asa", "max_wait", "aht"]}}
    df = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in cols.items()})
    df.index = pd.Index([], name=keys[0])
    return df


def plot_heatmap(
    events: pd.DataFrame | Prepared, value: str = "offered", *, config: KPIConfig | None = None, ax: Any = None
) -> Any:
    """A day-of-week x hour-of-day heatmap of one KPI (``offered``, ``service_level``, ``asa``, ...)."""
    from .plots import _pyplot

    plt = _pyplot()
    p = prepare(events, config)
    config = p.config
    s = p.stints.copy() if not p.stints.empty else None
    grid = pd.DataFrame(np.nan, index=_WEEKDAYS, columns=range(24))
    if s is not None:
        s["weekday"] = pd.Categorical(s["start"].dt.day_of_week.map(dict(enumerate(_WEEKDAYS))), _WEEKDAYS)
        s["hour"] = s["start"].dt.hour
        summary = _summarise(s, ["weekday", "hour"], config)
        if value not in summary.columns:
            raise ValueError(f"value must be one of {list(summary.columns)}, got {value!r}")
        grid = summary[value].unstack("hour").reindex(index=_WEEKDAYS, columns=range(24))
    ax = ax or plt.subplots(figsize=(9, 3))[1]
    im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis")
    ax.set_yticks(range(7), _WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel("hour of day (UTC)")
    ax.set_title(f"{value} by day and hour")
    ax.figure.colorbar(im, ax=ax, fraction=0.03)
    return ax

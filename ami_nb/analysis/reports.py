"""Every contact-centre report in one call, to CSV, Excel, or a one-page HTML report to mail to a manager.

Excel needs ``openpyxl`` (``pip install ami_nb[excel]``): it is the writer pandas uses, and Excel files are what
analysts hand on; CSV and HTML need nothing beyond pandas (and matplotlib for the report's pictures).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .kpi import KPIConfig

__all__ = ["contact_centre_reports", "export", "html_report"]


def contact_centre_reports(
    events: pd.DataFrame, *, config: KPIConfig | None = None, freq: str = "30min"
) -> dict[str, pd.DataFrame]:
    """The analyst's tables for one events frame: ``calls``, ``queue_stints``, ``queues`` (KPIs), ``intervals``,
    ``agents``, ``pauses``, ``staffing`` (Erlang C against the agents logged in) and ``trunks``."""
    from .erlang import staffing
    from .intervals import interval_report, prepare, queue_kpis
    from .members import agent_intervals, agent_pauses, agents
    from .trunk_kpis import trunks

    config = config or KPIConfig()
    p = prepare(events, config)  # calls and stints read once for every queue report
    intervals = interval_report(p, freq=freq)
    staffed = agent_intervals(events, freq=freq, by="agent", config=config)
    logged = staffed.set_index("interval")["logged_in"] if not staffed.empty else None
    plan = staffing(
        intervals,
        target=config.sl_target,
        threshold=config.service_level,
        logged_in=logged.reindex(intervals.index) if logged is not None else None,
    )
    return {
        "calls": p.calls,
        "queue_stints": p.raw,
        "queues": queue_kpis(p),
        "intervals": intervals,
        "agents": agents(events, config=config),
        "pauses": agent_pauses(events, config=config),
        "staffing": plan,
        "trunks": trunks(events),
    }


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Excel keeps no time zones: datetimes become naive UTC, the index a column."""
    out = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def export(reports: Mapping[str, pd.DataFrame], path: str | Path) -> list[Path]:
    """Write every report: ``*.xlsx`` gives one workbook with a sheet per report; any other path is a folder
    with one CSV per report. Returns the files written."""
    path = Path(path)
    if not reports:
        raise ValueError("export needs at least one report")
    if path.suffix.lower() == ".xlsx":
        try:
            import openpyxl  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("Excel export needs openpyxl: pip install ami_nb[excel]") from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            for name, df in reports.items():
                sheet = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "report"
                while sheet in used:
                    sheet = sheet[:28] + f"_{len(used)}"
                used.add(sheet)
                _plain(df).to_excel(xl, sheet_name=sheet, index=False)
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in reports.items():
        target = path / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.csv"
        df.to_csv(target, index=not isinstance(df.index, pd.RangeIndex))
        written.append(target)
    return written


def _figure(draw: Any) -> str:
    """A matplotlib drawing as an inline PNG ``<img>``, or nothing where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the install
        return ""
    fig, ax = plt.subplots(figsize=(9, 3))
    try:
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
    finally:
        plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(df: pd.DataFrame, title: str) -> str:
    if df.empty:
        return f"<h2>{html.escape(title)}</h2><p>none in this period</p>"
    shown = df.copy()
    for c in shown.columns:
        if shown[c].dtype.kind == "f":
            shown[c] = shown[c].round(3)
    return f"<h2>{html.escape(title)}</h2>" + shown.to_html(border=0, classes="report", na_rep="", max_rows=60)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table.report{border-collapse:collapse;font-size:12px}
table.report td,table.report th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}
.kpis{display:flex;gap:24px}.kpis div{font-size:22px}.kpis span{display:block;font-size:11px;color:#666}
"""


def html_report(
    events: pd.DataFrame,
    path: str | Path | None = None,
    *,
    title: str = "Contact centre report",
    config: KPIConfig | None = None,
    freq: str = "30min",
) -> str:
    """A one-page HTML report of a period: headline figures, queues, intervals with a heatmap, agents, pauses,
    staffing advice and trunks. Written to ``path`` when given; the HTML is returned either way."""
    from .intervals import plot_heatmap
    from .plots import plot_volume

    config = config or KPIConfig()
    r = contact_centre_reports(events, config=config, freq=freq)
    q = r["queues"]
    offered = int(q["offered"].sum()) if not q.empty else 0
    answered = int(q["answered"].sum()) if not q.empty else 0
    abandoned = int(q["abandoned"].sum()) if not q.empty else 0
    sl = (q["service_level"] * q["offered"]).sum() / offered if offered else float("nan")
    calls = r["calls"]
    span = ""
    if not calls.empty and calls["start"].notna().any():
        span = f"{calls['start'].min():%Y-%m-%d %H:%M} - {calls['start'].max():%Y-%m-%d %H:%M} UTC"
    head = "".join(
        f"<div>{html.escape(v)}<span>{html.escape(k)}</span></div>"
        for k, v in (
            ("calls", str(len(calls))),
            ("offered to queues", str(offered)),
            ("answered", str(answered)),
            ("abandoned", str(abandoned)),
            (f"service level ({config.service_level:g} s)", "-" if offered == 0 else f"{sl:.0%}"),
        )
    )
    pictures = ""
    if not calls.empty:
        pictures += _figure(lambda ax: plot_volume(calls, freq=freq, ax=ax))
    if not r["queue_stints"].empty:
        pictures += _figure(lambda ax: plot_heatmap(events, "offered", config=config, ax=ax))
    body = (
        f"<h1>{html.escape(title)}</h1><p>{html.escape(span)}</p><div class='kpis'>{head}</div>{pictures}"
        + _table(q, "Queues")
        + _table(r["intervals"], f"Intervals ({freq})")
        + _table(r["agents"], "Agents")
        + _table(r["pauses"], "Pauses by reason")
        + _table(r["staffing"], f"Staffing (Erlang C, {config.sl_target:.0%} in {config.service_level:g} s)")
        + _table(r["trunks"], "Trunks")
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page

"""A view's last picture as static HTML: what a saved notebook shows on nbviewer or GitHub, before any kernel
runs. The same data the browser module draws, in plain tables; colours are JupyterLab's CSS variables with
fallbacks, so it reads in both themes and outside JupyterLab."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["render", "sparkline_svg"]

_BADGE = {"live": "var(--jp-success-color1, #388e3c)", "reconnecting": "var(--jp-warn-color1, #f57c00)",
          "connecting": "var(--jp-warn-color1, #f57c00)", "disconnected": "var(--jp-error-color1, #d32f2f)"}
_LEVEL = {"ok": "var(--jp-success-color1, #388e3c)", "warn": "var(--jp-warn-color1, #f57c00)",
          "bad": "var(--jp-error-color1, #d32f2f)"}
_BOX = ("font:12px/1.35 var(--jp-ui-font-family, sans-serif);color:var(--jp-ui-font-color1, #222);"
        "border:1px solid var(--jp-border-color2, #ddd);border-radius:4px;padding:6px 8px;max-width:1180px")
_TABLE = "border-collapse:collapse;font:11px/15px var(--jp-code-font-family, monospace)"


def sparkline_svg(values: Sequence[float], width: int = 600, height: int = 54, label: str = "") -> str:
    """An inline SVG of ``values`` (oldest first) on a log scale, so a flood does not flatten a quiet hour;
    decade grid lines, the peak written in the corner, colours from the theme."""
    vals = [max(0.0, float(v)) for v in values]
    peak = max(vals, default=0.0)
    decades = max(1, math.ceil(math.log10(peak + 1)))
    top, bottom = 4, 14

    def y(v: float) -> float:
        return height - bottom - math.log10(v + 1) / decades * (height - bottom - top)

    n = max(len(vals) - 1, 1)
    pts = " ".join(f"{i * width / n:.1f},{y(v):.1f}" for i, v in enumerate(vals))
    grid = "".join(f'<line x1="0" x2="{width}" y1="{y(10 ** d - 1):.1f}" y2="{y(10 ** d - 1):.1f}" '
                   f'style="stroke:var(--jp-border-color2, #ddd)"/>' for d in range(decades + 1))
    text = html.escape(f"{label}peak {peak:,.0f}/s · log scale")
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img">{grid}'
        f'<polyline points="{pts}" style="fill:none;stroke:var(--jp-brand-color1, #1976d2);stroke-width:1.5"/>'
        f'<text x="{width - 4}" y="{height - 3}" text-anchor="end" '
        f'style="fill:var(--jp-ui-font-color2, #666);font:10px sans-serif">{text}</text></svg>'
    )


def _table(header: Sequence[str], rows: Sequence[Any], limit: int = 12) -> str:
    head = "".join(f"<th style='text-align:left;padding:1px 6px'>{html.escape(str(h))}</th>" for h in header)
    body = []
    for r in list(rows)[:limit]:
        cells = r.get("cells", []) if isinstance(r, dict) else r
        body.append("<tr>" + "".join(f"<td style='padding:0 6px;white-space:nowrap'>{html.escape(str(c))}</td>"
                                     for c in cells) + "</tr>")
    more = len(rows) - limit
    extra = f"<div style='font-size:11px'>… and {more} more</div>" if more > 0 else ""
    return f"<table style='{_TABLE}'><tr>{head}</tr>{''.join(body)}</table>{extra}"


def _header(status: dict[str, Any]) -> str:
    badge = status.get("badge", "stopped")
    colour = _BADGE.get(badge, "var(--jp-layout-color4, #757575)")
    figures = " &middot; ".join(f"{html.escape(str(k))} <b>{html.escape(str(v))}</b>"
                                for k, v in status.get("figures", []))
    note = html.escape(str(status.get("note") or ""))
    return (f"<div><span style='background:{colour};color:#fff;border-radius:9px;padding:1px 8px;font-weight:700;"
            f"font-size:11px;text-transform:uppercase'>{html.escape(str(status.get('badge_text', badge)))}</span> "
            f"<b>{html.escape(str(status.get('where', '')))}</b> &middot; {figures} {note}</div>")


def render(kind: str, data: dict[str, Any]) -> str:
    """Static HTML of a view's data (``kind``: ``live`` or ``wallboard``)."""
    parts = [_header(data.get("status") or {})]
    series = data.get("series") or {}
    if kind == "wallboard":
        cards = []
        for q in data.get("queues") or []:
            def fig(label: str, value: Any, lvl: str = "none") -> str:
                colour = _LEVEL.get(lvl, "inherit")
                return (f"<td style='padding:2px 10px'><div style='font-size:20px;font-weight:700;color:{colour}'>"
                        f"{html.escape(str(value))}</div><div style='font-size:11px'>{html.escape(label)}</div></td>")

            cards.append(f"<tr><th style='text-align:left;padding:2px 10px'>{html.escape(q['Queue'])}</th>"
                         + fig("waiting", q["waiting"], q["lvl_waiting"]) + fig("longest wait", q["longest"],
                                                                               q["lvl_longest"])
                         + fig("service level", q["sl"], q["lvl_sl"]) + fig("available", q["available"],
                                                                           q["lvl_available"])
                         + fig("on a call", q["busy"]) + fig("paused", q["paused"])
                         + fig("answered", q["answered"]) + fig("abandoned", q["abandoned"]) + "</tr>")
        parts.append(f"<table style='{_TABLE}'>{''.join(cards)}</table>")
        for key, title in (("callers", "Callers waiting"), ("members", "Agents")):
            block = data.get(key) or {}
            parts.append(f"<div><b>{title}</b></div>" + _table(block.get("header", []), block.get("rows", [])))
    else:
        parts.append(sparkline_svg(series.get("values", []), label=f"events/s, last {series.get('window', '')} · "))
        for key in ("channels", "ended", "tail"):
            block = data.get(key) or {}
            parts.append(f"<div><b>{html.escape(str(block.get('title', key)))}</b></div>"
                         + _table(block.get("header", []), block.get("rows", [])))
    return f"<div class='ami-nb-snapshot' style='{_BOX}'>{''.join(parts)}</div>"

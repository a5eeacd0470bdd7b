"""The queue wallboard: per queue, callers waiting and the longest wait, agents available / on a call / paused,
calls answered and abandoned today and the service level, coloured by thresholds; then who waits and the agents.
Drawn from the session's live state, so a wallboard opened on a busy PBX shows the queue as it is at once."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from ._base import ViewBase
from .view import _Text, ago, state_of

__all__ = ["DEFAULT_THRESHOLDS", "Wallboard", "level", "wallboard"]

#: (warn, bad) per figure. Waiting callers and the longest wait (s) are bad when high; the service level (%) and
#: agents available are bad when low.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "waiting": (1, 4),
    "longest_wait": (30, 90),
    "service_level": (80, 60),
    "available": (1, 0),
}


def level(figure: str, value: float, thresholds: Mapping[str, tuple[float, float]]) -> str:
    """``ok``, ``warn`` or ``bad`` for ``value`` of ``figure`` (``none`` without a threshold or a value)."""
    if figure not in thresholds or value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    warn, bad = thresholds[figure]
    if warn >= bad:  # lower is worse
        return "bad" if value <= bad else ("warn" if value < warn else "ok")
    return "bad" if value >= bad else ("warn" if value >= warn else "ok")


class Wallboard(ViewBase):
    """A queue wallboard of ``source`` (a Session, or a :class:`~ami_nb.live_state.LiveState`).

    ``thresholds`` override :data:`DEFAULT_THRESHOLDS` (``{"longest_wait": (20, 60)}``: amber from 20 s, red
    from 60 s); ``service_level`` is the answer-time target in seconds when the queue sets none; ``queues``
    limits the board to these queue names.
    """

    kind = "wallboard"

    def __init__(self, source: Any, rate: float = 1.0, *, thresholds: Mapping[str, tuple[float, float]] | None = None,
                 service_level: float | None = None, queues: list[str] | None = None, autostart: bool = True,
                 autopause: bool = True, idle_after: float = 30.0) -> None:
        self.state, self.store = state_of(source)
        self.session = source if hasattr(source, "client") else None
        unknown = set(thresholds or {}) - set(DEFAULT_THRESHOLDS)
        if unknown:
            raise ValueError(f"unknown threshold(s) {sorted(unknown)}; known: {sorted(DEFAULT_THRESHOLDS)}")
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        if service_level is not None:
            self.state.service_level = float(service_level)
        self.only = list(queues) if queues else None
        self.counters: dict[str, Any] = {}
        super().__init__(source, rate, autostart=autostart, autopause=autopause, idle_after=idle_after)
        self.refresh()
        if autostart:
            self.start()

    @property
    def header(self) -> _Text:
        s = self._last.get("status") or {}
        return _Text(f"{s.get('badge_text', '')} {s.get('where', '')}")

    def _build(self, header_only: bool = False) -> dict[str, Any]:
        now = time.time()
        st = self.state
        badge, text = self.badge()
        rows = [q for q in st.queue_rows(now) if self.only is None or q["Queue"] in self.only]
        waiting = sum(q["waiting"] for q in rows)
        where = getattr(self.session, "url", "") if self.session is not None else "live state"
        note = getattr(self, "_stop_note", None) if self._stopped_badge else None
        out: dict[str, Any] = {"status": {
            "badge": badge, "badge_text": text, "where": str(where), "connection": self._connection_state(),
            "figures": [["queues", str(len(rows))], ["callers waiting", str(waiting)],
                        ["sync", ", ".join(f"{k} {v}" for k, v in sorted(st.synced.items())) or "—"]],
            "note": note or ""}, "_counters": {q["Queue"]: q for q in rows}}  # refresh() publishes them
        if header_only:
            return out
        th = self.thresholds
        cards = []
        for q in rows:
            sl = q["service_level"]
            cards.append({
                "Queue": q["Queue"], "waiting": q["waiting"], "lvl_waiting": level("waiting", q["waiting"], th),
                "longest": ago(q["longest_wait"]) if q["waiting"] else "—",
                "lvl_longest": level("longest_wait", q["longest_wait"], th) if q["waiting"] else "none",
                "sl": "—" if math.isnan(sl) else f"{sl:.0f}%", "lvl_sl": level("service_level", sl, th),
                "available": q["available"], "lvl_available": level("available", q["available"], th),
                "busy": q["busy"], "paused": q["paused"], "answered": q["answered_today"],
                "abandoned": q["abandoned_today"],
            })
        out["queues"] = cards
        callers = st.callers
        if self.only is not None:
            callers = callers[callers["Queue"].isin(self.only)]
        out["callers"] = {"header": ["Queue", "Pos", "Caller", "Name", "Waiting"],
                          "rows": [[r.Queue, str(r.Position), r.CallerIDNum, r.CallerIDName, ago(r.wait)]
                                   for r in callers.itertuples()]}
        members = st.members
        if self.only is not None:
            members = members[members["Queue"].isin(self.only)]
        out["members"] = {"header": ["Queue", "Agent", "State", "Device", "Calls", "Paused reason"],
                          "rows": [[r.Queue, r.MemberName or r.Interface, r.state, r.Status, str(r.CallsTaken),
                                    r.PausedReason] for r in members.itertuples()]}
        window = int(min(60, max(10, math.ceil(st.seconds_seen(now)) + 1)))
        out["series"] = {"values": [int(v) for v in st.rate_series(window, now)], "window": f"{window} s"}
        return out


def wallboard(session: Any, rate: float = 1.0, **kwargs: Any) -> Wallboard:
    """A :class:`Wallboard` of ``session``'s queues, already refreshing; display it in a cell."""
    return Wallboard(session, rate, **kwargs)

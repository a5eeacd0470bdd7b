"""The live view: connection state and figures, an events/s sparkline, channels up, calls (up and recently
ended), the latest events; drawn from the session's live state (:mod:`ami_nb.live_state`), never from a frame
of the whole store, so a redraw costs what is up now, not what the store holds."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from ..live_state import LiveState
from ..store import EventStore
from ._base import ViewBase

__all__ = ["LiveView", "clock", "live", "state_of"]

_STORE_COLUMNS = ["Event", "Channel", "Uniqueid", "Linkedid", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                  "Exten", "Context", "Newname", "Cause", "Cause-txt", "Queue", "Interface", "MemberName",
                  "Status", "Paused", "PausedReason", "Position", "HoldTime", "Timestamp", "BridgeUniqueid"]


def clock(t: float) -> str:
    """Local wall-clock time of an epoch, to the millisecond (``12:01:02.345``)."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


def ago(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


def span(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _text(value: Any) -> str | None:
    """A store cell back as the AMI text it came from (the store may have typed it); None when missing."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, tuple):
        return value[0] if value else None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def state_of(source: Any) -> tuple[LiveState, EventStore | None]:
    """The live state behind a view of ``source`` (a session, a bare :class:`EventStore`, or a LiveState)."""
    if isinstance(source, LiveState):
        return source, None
    if isinstance(source, EventStore):
        return LiveState(), source
    pbx = getattr(source, "pbx", None)
    if isinstance(pbx, LiveState):
        return pbx, getattr(source, "events", None)
    raise TypeError(f"a live view needs a Session, an EventStore or a LiveState, not {type(source).__name__}")


class _Text:
    """A read-only ``.value`` (the header as text), as the ipywidgets HTML header of earlier versions had."""

    def __init__(self, value: str) -> None:
        self.value = value


class LiveView(ViewBase):
    """Connection state, figures, an events/s sparkline, channels, calls (with recently ended ones), events.

    ``source``: a :class:`~ami_nb.session.Session` (its ``session.pbx`` live state), a bare :class:`EventStore`
    (read incrementally) or a :class:`~ami_nb.live_state.LiveState`. ``rate``: redraws per second at most;
    ``max_rows``: channel rows sent; ``tail``: event rows; ``history``: seconds the sparkline spans at most (it
    starts with what has been seen, not with a 5-minute flat line); ``autopause``: skip redraws while no browser
    shows the view (hidden, scrolled away, closed) for ``idle_after`` seconds. Counters: :attr:`redraws`,
    :attr:`ticks`, :attr:`counters`.
    """

    kind = "live"

    def __init__(self, source: Any, rate: float = 2.0, *, max_rows: int = 100, tail: int = 60,
                 history: int = 300, autostart: bool = True, autopause: bool = True,
                 idle_after: float = 30.0) -> None:
        self.state, self.store = state_of(source)
        self.session = source if hasattr(source, "client") else None
        self.max_rows = max_rows
        self.tail_rows = tail
        self.history = history
        self.counters: dict[str, Any] = {}
        self._cursor = 0
        self._follow_store = isinstance(source, EventStore)
        super().__init__(source, rate, autostart=autostart, autopause=autopause, idle_after=idle_after)
        self.refresh()
        if autostart:
            self.start()

    # -- compatibility ---------------------------------------------------------------------------------------
    @property
    def header(self) -> _Text:
        """The header as text (state, figures), e.g. for a test or a log line."""
        s = self._last.get("status") or {}
        figures = " · ".join(f"{k} {v}" for k, v in s.get("figures", []))
        return _Text(f"{s.get('badge_text', '')} {s.get('where', '')} · state {s.get('connection', '')} · {figures}")

    # -- data --------------------------------------------------------------------------------------------------
    def _pull(self) -> None:
        if not self._follow_store or self.store is None:
            return
        df, cursor = self.store.delta(self._cursor, columns=_STORE_COLUMNS)
        self._cursor = cursor
        if df.empty:
            return
        recv = df["received"].map(lambda t: t.timestamp()).to_numpy()
        cols = [c for c in df.columns if c != "received"]
        values = df[cols].astype(object).to_numpy()
        for i in range(len(df)):  # a bare store (tests, replays) only: a session's state is fed by its client
            ev = {c: _text(v) for c, v in zip(cols, values[i], strict=True) if _text(v) is not None}
            self.state.feed([ev], float(recv[i]))

    def _match(self) -> Any:
        """The filter box as (event test, channel test); a channel test also picks calls (caller or channel,
        extension), so a user's own call stays in sight however busy the PBX is."""
        text = (self.widget.filter or "").strip().lower()
        if not text:
            return None, None

        def event(row: tuple[float, str, str, str, str]) -> bool:
            return row[1].lower().startswith(text) or text in row[2].lower() or text == row[4].lower()

        def channel(ch: dict[str, Any]) -> bool:
            return any(text in str(ch.get(k, "")).lower() for k in ("Channel", "CallerIDNum", "who", "exten"))

        return event, channel

    def _status(self, now: float) -> tuple[dict[str, Any], dict[str, Any]]:
        st = self.state
        store = self.store
        eps = st.events_per_second(now)
        conn = self._connection_state() or ("store" if store is not None else "state")
        counters = {
            "state": conn,
            "received": store.total if store is not None else st.fed,
            "held": len(store) if store is not None else 0,
            "dropped": store.dropped if store is not None else 0,
            "events_per_second": eps,
            "channels": st.channel_count,
            "calls": st.call_count,
            "ended": st.calls_ended,
        }
        badge, text = self.badge()
        where = getattr(self.session, "url", "") if self.session is not None else type(self.source).__name__
        figures = [["received", f"{counters['received']:,}"], ["held", f"{counters['held']:,}"],
                   ["dropped", f"{counters['dropped']:,}"], ["events/s", f"{eps:,.0f}"],
                   ["channels", str(counters["channels"])], ["calls", str(counters["calls"])]]
        note = getattr(self, "_stop_note", None) if self._stopped_badge else None
        if self.last_error:
            note = f"error: {self.last_error}"
        return {"badge": badge, "badge_text": text, "where": str(where), "connection": conn, "figures": figures,
                "note": note or ""}, counters

    def _build(self, header_only: bool = False) -> dict[str, Any]:
        now = time.time()
        status, counters = self._status(now)
        out: dict[str, Any] = {"status": status, "_counters": counters}  # refresh() publishes the counters
        if header_only:
            return out
        st = self.state
        seen = st.seconds_seen(now)
        window = int(min(self.history, max(10, math.ceil(seen) + 1)))
        values = st.rate_series(window, now)
        out["series"] = {"values": [int(v) for v in values], "window": span(window).replace(".0 s", " s"),
                         "peak": int(np.max(values)) if len(values) else 0}
        match_event, match_channel = self._match()
        snow = st.server_now(now)
        chans = st.channel_rows()
        if match_channel is not None:
            chans = [c for c in chans if match_channel(c)]
        shown = chans[-self.max_rows:]
        out["channels"] = {
            "title": f"Active channels ({len(chans)}" + (f", newest {len(shown)} shown)" if len(shown) < len(chans)
                                                          else ")"),
            "header": ["Channel", "State", "Caller", "Exten", "Up for"],
            "rows": [[c.get("Channel", c["Uniqueid"]), c.get("ChannelStateDesc", ""), c.get("CallerIDNum", ""),
                      c.get("Exten", ""), span(max(0.0, snow - c.get("since", snow)))]
                     for c in reversed(shown)],
        }
        calls = st.call_rows(now)
        ended = st.ended_calls(now=now)
        if match_channel is not None:
            calls = [c for c in calls if match_channel(c)]
            ended = [e for e in ended if match_channel({"who": e.who, "exten": e.exten, "Channel": e.channel})]
        # newest news first ("At": when it began, or ended): a call that just ended comes on top
        timed = [(float(c["start_at"]), {"cells": [clock(c["start_at"])[:8], c["who"], c["exten"],
                                                   c["state"] or "up", span(c["elapsed"])], "cls": ""})
                 for c in calls[-40:]]
        timed += [(e.ended_at, {"cells": [clock(e.ended_at)[:8], e.who, e.exten, e.outcome, span(e.duration)],
                                "cls": "ended"}) for e in ended[:60]]
        timed.sort(key=lambda t: t[0], reverse=True)
        rows = [r for _, r in timed]
        matching = f" matching {self.widget.filter.strip()!r}" if match_channel is not None else ""
        out["ended"] = {"title": f"Calls{matching} ({len(calls)} up, {len(ended)} ended in the last "
                                 f"{int(st.linger // 60)} min)",
                        "header": ["At", "Caller", "Exten", "State / outcome", "Duration"], "rows": rows}
        tail = st.tail_rows(self.tail_rows, match_event)
        title = "Latest events" + (f" matching {self.widget.filter!r}" if match_event is not None else "")
        out["tail"] = {"title": title, "header": ["Received", "Event", "Channel", "Queue"],
                       "rows": [[clock(t), ev, chan, q] for t, ev, chan, _uid, q in reversed(tail)]}
        return out


def live(session: Any, rate: float = 2.0, **kwargs: Any) -> LiveView:
    """A :class:`LiveView` of ``session`` (or of a bare store), already refreshing; display it in a cell."""
    return LiveView(session, rate, **kwargs)

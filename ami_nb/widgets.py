"""Live views of an AMI session (ipywidgets 8), pulled from the event store at a bounded rate.

``LiveView(session_or_store, rate=2.0)`` builds its widgets in the calling (main) thread and refreshes them from
store snapshots on a small daemon thread. Why a thread and not the kernel's event loop: while a cell runs
(``time.sleep``, a long action) the kernel's loop is blocked, and terminal IPython has no loop at all; a thread
keeps the view moving in both cases. That thread only reads snapshots and sets widget traits (ipykernel sends comm
messages from any thread through its IOPub thread); every redraw is one ``hold_sync()`` batch per widget, and
there are at most ``rate`` redraws per second however many events arrive. ``view.stop()`` ends it.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections import deque
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from .store import EventStore

__all__ = ["ChannelTracker", "LiveView", "live", "sparkline_svg"]

_CHANNEL_EVENTS = ("Newchannel", "Newstate", "Hangup", "Rename")
_COLUMNS = ["Event", "Channel", "Uniqueid", "Linkedid", "ChannelStateDesc", "CallerIDNum", "Exten", "Context",
            "Newname", "Cause-txt"]


def _s(value: Any) -> str:
    """Cell text: missing values as empty strings, tuples joined."""
    if isinstance(value, tuple):
        return ", ".join(value)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


class ChannelTracker:
    """Active channels from ``Newchannel`` / ``Newstate`` / ``Rename`` / ``Hangup`` rows, keyed by Uniqueid.

    Vectorised per frame (a flood of events costs pandas work, not a Python step per event). At most
    ``max_channels`` channels are followed; beyond that new ones are counted in :attr:`untracked`.
    """

    _FIELDS = ("Channel", "Linkedid", "ChannelStateDesc", "CallerIDNum", "Exten", "Context")

    def __init__(self, max_channels: int = 20_000) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        self.hungup = 0
        self.untracked = 0
        self.max_channels = max_channels

    def feed(self, df: pd.DataFrame) -> None:
        """Apply the channel events of an event frame (other rows are ignored)."""
        if df.empty or "Event" not in df or "Uniqueid" not in df:
            return
        event = df["Event"].astype(object)
        uid = df["Uniqueid"].astype(object)
        gone = set(uid[event == "Hangup"].dropna())
        fields = [c for c in self._FIELDS if c in df.columns]
        is_new = event == "Newchannel"
        self.hungup += len(gone & (set(uid[is_new].dropna()) | self.channels.keys()))
        opened = df[is_new & ~uid.isin(gone)]
        if len(opened):
            opened = opened.drop_duplicates("Uniqueid", keep="first")
            room = max(0, self.max_channels - len(self.channels))
            self.untracked += max(0, len(opened) - room)
            opened = opened.iloc[:room]
            recs = opened[fields].astype(object).where(opened[fields].notna(), None).to_dict("records")
            for u, since, rec in zip(opened["Uniqueid"], opened["received"], recs, strict=True):
                rec = {k: _s(v) for k, v in rec.items() if v is not None}
                rec["since"] = since
                self.channels.setdefault(u, rec)
        changed = df[event.isin(("Newstate", "Rename")) & uid.isin(self.channels.keys())]
        if len(changed):
            changed = changed.copy()
            if "Newname" in changed:
                renamed = changed["Newname"].notna()
                changed["Channel"] = changed["Channel"].astype(object).where(~renamed, changed["Newname"])
            for u, rec in changed.groupby("Uniqueid", sort=False)[fields].last().iterrows():
                ch = self.channels.get(u)
                if ch is not None:
                    ch.update({k: _s(v) for k, v in rec.items() if _s(v)})
        for u in gone:
            self.channels.pop(u, None)

    @property
    def calls(self) -> int:
        """Calls in progress: distinct Linkedid among the active channels."""
        return len({c.get("Linkedid") or uid for uid, c in self.channels.items()})


def sparkline_svg(values: np.ndarray | list[float], width: int = 320, height: int = 44, label: str = "") -> str:
    """A small inline SVG line of ``values`` (left = oldest), with its maximum written in the corner."""
    vals = np.asarray(values, dtype=float)
    top = float(vals.max()) if len(vals) and vals.max() > 0 else 1.0
    n = max(len(vals) - 1, 1)
    pts = " ".join(f"{i * width / n:.1f},{height - 2 - v / top * (height - 14):.1f}" for i, v in enumerate(vals))
    text = html.escape(f"{label}max {top:,.0f}/s")
    return (
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" role="img">'
        f'<rect width="{width}" height="{height}" fill="#f7f7f9"/>'
        f'<polyline points="{pts}" fill="none" stroke="#2a6fdb" stroke-width="1.5"/>'
        f'<text x="4" y="11" font-size="10" fill="#555">{text}</text></svg>'
    )


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:0 8px'>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table style='font-family:monospace;font-size:11px'><tr>{head}</tr>{body}</table>"


class LiveView:
    """Connection state, counters, active channels, the tail of the event log and an events/s sparkline.

    ``source`` is a :class:`~ami_nb.session.Session` (anything with ``.events``) or a bare :class:`EventStore`.
    ``rate``: redraws per second at most; ``max_rows``: rows of the channel table; ``tail``: event log lines;
    ``history``: seconds shown by the sparkline. Counters for tests and curious users: :attr:`redraws`,
    :attr:`ticks`, :attr:`counters`.
    """

    def __init__(self, source: Any, rate: float = 2.0, *, max_rows: int = 12, tail: int = 10, history: int = 300,
                 autostart: bool = True) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive (redraws per second), got {rate}")
        loop_thread = getattr(source, "thread", None)
        if loop_thread is not None and threading.current_thread() is loop_thread:
            raise RuntimeError("create live views in the notebook's thread, not on the AMI session's loop")
        self.session = None if isinstance(source, EventStore) else source
        self.store: EventStore = source if isinstance(source, EventStore) else source.events
        self.rate = float(rate)
        self.max_rows = max_rows
        self.tail_rows = tail
        self.history = history
        self.tracker = ChannelTracker()
        self.redraws = 0
        self.ticks = 0
        self.errors = 0
        self.last_error: str | None = None
        self.counters: dict[str, Any] = {}
        self._cursor = 0
        self._tail: deque[list[str]] = deque(maxlen=tail)
        self._last_key: tuple[Any, ...] | None = None
        self._lock = threading.Lock()  # one refresh at a time (timer thread or a manual refresh())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # widgets: built here, in the caller's thread
        self.header = W.HTML()
        self.spark = W.HTML()
        self.channels_html = W.HTML()
        self.log_html = W.HTML()
        self.widget = W.VBox(
            [self.header, self.spark, W.HTML("<b>Active channels</b>"), self.channels_html,
             W.HTML("<b>Latest events</b>"), self.log_html]
        )
        self.refresh()
        if autostart:
            self.start()

    # -- lifetime ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the refresh thread (no-op if running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ami-live-view", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop refreshing (the widgets keep their last picture)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += period
            try:
                self.refresh()
            except Exception as exc:  # never let a bad frame kill the view; show it instead
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            delay = next_at - time.monotonic()
            if delay < 0:  # a slow refresh: skip ahead rather than catch up with a burst
                next_at = time.monotonic()
                delay = period
            self._stop.wait(delay)

    # -- drawing -------------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Pull new events from the store and redraw if anything changed; True when a redraw happened."""
        with self._lock:
            self.ticks += 1
            df, cursor = self.store.delta(self._cursor, pattern=_CHANNEL_EVENTS, columns=_COLUMNS)
            self.tracker.feed(df)
            if cursor != self._cursor:
                last = self.store.frame(last=self.tail_rows, after=self._cursor, columns=["Event", "Channel"])
                self._cursor = cursor
                cols = [last[c] if c in last else pd.Series([""] * len(last)) for c in ("Event", "Channel")]
                for when, ev, chan in zip(last["received"], *cols, strict=True):
                    self._tail.append([when.strftime("%H:%M:%S.%f")[:-3], _s(ev), _s(chan)])
            now = time.time()
            state = _s(getattr(self.session, "state", "store")) if self.session is not None else "store"
            store = self.store
            eps = store.events_per_second(window=5, now=now)
            counters = {
                "state": state,
                "received": store.total,
                "held": len(store),
                "dropped": store.dropped,
                "events_per_second": eps,
                "channels": len(self.tracker.channels),
                "calls": self.tracker.calls,
            }
            key = (*counters.values(), int(now))
            if key == self._last_key and self.redraws:
                return False
            self._last_key = key
            self.counters = counters
            self._draw(counters, store.rate(self.history, now=now).to_numpy())
            self.redraws += 1
            return True

    def _draw(self, c: dict[str, Any], rates: np.ndarray) -> None:
        where = getattr(self.session, "url", "") if self.session is not None else "event store"
        header = (
            f"<div style='font-family:sans-serif;font-size:12px'><b>{html.escape(str(where))}</b> "
            f"&middot; state <b>{html.escape(c['state'])}</b> &middot; received <b>{c['received']:,}</b> "
            f"&middot; held {c['held']:,} &middot; dropped {c['dropped']:,} &middot; "
            f"<b>{c['events_per_second']:,.0f}</b> events/s &middot; channels <b>{c['channels']}</b> "
            f"&middot; calls <b>{c['calls']}</b></div>"
        )
        chans = sorted(self.tracker.channels.items(), key=lambda kv: kv[1].get("since", 0))
        rows = [[ch.get("Channel", uid), ch.get("ChannelStateDesc", ""), ch.get("CallerIDNum", ""),
                 ch.get("Exten", ""), ch.get("Context", ""), ch.get("Linkedid", "")]
                for uid, ch in chans[-self.max_rows:]]
        more = len(chans) - len(rows)
        table = _table(rows, ["Channel", "State", "CallerIDNum", "Exten", "Context", "Linkedid"])
        if more > 0:
            table += f"<div style='font-size:11px'>… and {more} more</div>"
        log = _table(list(self._tail), ["received", "Event", "Channel"])
        spark = sparkline_svg(rates, label=f"events/s, last {self.history // 60} min · ")
        widgets = (self.header, self.spark, self.channels_html, self.log_html)
        with contextlib.ExitStack() as stack:
            for w in widgets:
                stack.enter_context(w.hold_sync())
            for w, value in zip(widgets, (header, spark, table, log), strict=True):
                if w.value != value:
                    w.value = value

    # -- display -------------------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LiveView {state} rate={self.rate:g}/s redraws={self.redraws}>"


def live(session: Any, rate: float = 2.0, **kwargs: Any) -> LiveView:
    """A :class:`LiveView` of ``session`` (or of a bare store), already refreshing; display it in a cell."""
    return LiveView(session, rate, **kwargs)

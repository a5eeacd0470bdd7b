"""What every live view shares: the anywidget model, one ticker thread for all views, presence, lifetime.

Why anywidget with a small ES module (``frontend.js``): the kernel sends data (rows, a rate series, a status) and
the browser draws it, so a redraw is a few kB of JSON instead of rebuilt HTML, and the drawing follows
JupyterLab's CSS variables (light and dark). It is one pure-Python wheel of ~150 kB plus ``psygnal``, with its
JupyterLab extension prebuilt (no Node, nothing for Binder to build). The others weighed: ipydatagrid (a grid
engine, several MB of JS, slow first render, 2 tables would not justify it), bqplot and plotly's FigureWidget
(5-10 MB each for one sparkline that 40 lines of SVG draw); none of them knows about visibility either.

Why a thread: while a cell runs (``time.sleep``, a long action) the kernel's event loop is blocked, and terminal
IPython has none; a thread keeps the view moving in both cases. One thread serves every view (a second
``session.live()`` replaces the first instead of adding a thread); it only reads the live state and sets traits
(ipykernel sends comm messages from any thread through its IOPub thread).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets as T

__all__ = ["LiveModel", "ViewBase"]

_ESM = (Path(__file__).with_name("frontend.js")).read_text(encoding="utf-8")


class LiveModel(anywidget.AnyWidget):
    """The synced data of a view; ``frontend.js`` draws it. Controls (paused, rate, filter) sync back."""

    _esm = _ESM
    kind = T.Unicode("live").tag(sync=True)
    status = T.Dict().tag(sync=True)
    series = T.Dict().tag(sync=True)
    channels = T.Dict().tag(sync=True)
    ended = T.Dict().tag(sync=True)
    tail = T.Dict().tag(sync=True)
    queues: T.List[Any] = T.List().tag(sync=True)
    callers = T.Dict().tag(sync=True)
    members = T.Dict().tag(sync=True)
    paused = T.Bool(False).tag(sync=True)
    rate = T.Float(2.0).tag(sync=True)
    filter = T.Unicode("").tag(sync=True)


# -- "is a cell running?" (then the frontend's messages wait in the shell queue: silence is not absence) -------
_executing = [False]
_hooked: list[int] = []


def _hook_ipython() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return
    ip = get_ipython()
    if ip is None or id(ip) in _hooked:
        return
    _hooked.append(id(ip))

    def pre(*_: Any) -> None:
        _executing[0] = True

    def post(*_: Any) -> None:
        _executing[0] = False

    ip.events.register("pre_run_cell", pre)
    ip.events.register("post_run_cell", post)


class _Ticker:
    """One daemon thread redrawing every running view at its own rate; it ends when no view runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: set[ViewBase] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ending: threading.Thread | None = None  # a thread that found no view and is returning
        self._poked: set[ViewBase] = set()  # views whose connection changed: their header is to be redrawn

    def add(self, view: ViewBase) -> None:
        with self._lock:
            self._views.add(view)
            self._ensure_thread()
        self._wake.set()

    def poke(self, view: ViewBase) -> None:
        """Have the ticker thread redraw ``view``'s header soon, running or stopped (called on the loop thread:
        it only marks the view and wakes the ticker)."""
        with self._lock:
            self._poked.add(view)
            self._ensure_thread()
        self._wake.set()

    def _ensure_thread(self) -> None:  # under self._lock
        if self._thread is None or not self._thread.is_alive():
            if self._ending is not None:  # let it finish first: never two ticker threads at once
                self._ending.join()
                self._ending = None
            self._thread = threading.Thread(target=self._run, name="ami-live-views", daemon=True)
            self._thread.start()

    def remove(self, view: ViewBase) -> None:
        with self._lock:
            self._views.discard(view)
        self._wake.set()

    def running(self, view: ViewBase) -> bool:
        with self._lock:
            return view in self._views and self._thread is not None and self._thread.is_alive()

    def holds(self, view: ViewBase) -> bool:
        """``view`` is still to be ticked (read by the ticker thread itself, so no liveness check)."""
        with self._lock:
            return view in self._views

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading what to do: a poke from here on sets it again and is not lost
            with self._lock:
                views = list(self._views)
                poked, self._poked = self._poked, set()
                if not views and not poked:
                    self._thread, self._ending = None, threading.current_thread()
                    return  # holds no lock from here on, so add() may join it
            for v in poked:
                v._connection_changed()
            now = time.monotonic()
            for v in views:
                if now >= v._due:
                    period = 1.0 / max(v.rate, 0.01)
                    v._due = v._due + period if v._due + period > now else now + period  # never catch up in a burst
                    v._tick()
            with self._lock:
                due = min((v._due for v in self._views), default=now + 0.5)
            self._wake.wait(max(0.0, min(due - time.monotonic(), 0.5)))


TICKER = _Ticker()


class _Watch:
    """One connection-state callback per client for all its views, removed when its last view closes.

    The callback runs on the client's loop thread, so it only pokes the views (:meth:`_Ticker.poke`): the
    ticker thread redraws them. A stopped view stays watched (weakly) so that it reads "disconnected" when its
    session closes, and leaves once it has, or when it is closed or collected.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[int, tuple[weakref.WeakSet[ViewBase], Callable[[], None]]] = {}

    def add(self, client: Any, view: ViewBase) -> None:
        key = id(client)
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                views: weakref.WeakSet[ViewBase] = weakref.WeakSet()

                def changed(_state: str) -> None:
                    with self._lock:
                        watching = list(views)
                    for v in watching:
                        TICKER.poke(v)

                entry = self._clients[key] = (views, client.on_state_change(changed))  # (it keeps client alive)
            entry[0].add(view)
        weakref.finalize(view, self.discard, key, None)

    def discard(self, key: int, view: ViewBase | None) -> None:
        """``view`` no longer watches the client ``id()`` ``key`` (None: a collected one); the last one out
        removes the callback."""
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                return
            if view is not None:
                entry[0].discard(view)
            if len(entry[0]):
                return
            del self._clients[key]
        entry[1]()

    def settle(self, client: Any) -> None:
        """Redraw the headers of ``client``'s views now, on the calling thread (``Session.close()``'s: once the
        loop is gone, a cell printing a view's badge right after must see "disconnected", not a redraw to come)."""
        with self._lock:
            entry = self._clients.get(id(client))
            views = list(entry[0]) if entry is not None else []
        for v in views:
            v._connection_changed()

    def callbacks(self) -> int:
        """How many clients carry a callback of ours (for tests and leak checks)."""
        with self._lock:
            return len(self._clients)


WATCH = _Watch()
#: the running view of each (source, kind): a second ``session.live()`` replaces the first
_CURRENT: weakref.WeakValueDictionary[tuple[int, str], ViewBase] = weakref.WeakValueDictionary()


class ViewBase:
    """Lifetime, presence and drawing plumbing of a live view; subclasses build the data (``_build``)."""

    kind = "live"
    counters: dict[str, Any]  #: figures of the last redraw (subclasses say which)

    def __init__(self, source: Any, rate: float, *, autostart: bool, autopause: bool, idle_after: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive (redraws per second), got {rate}")
        loop_thread = getattr(source, "thread", None)
        if loop_thread is not None and threading.current_thread() is loop_thread:
            raise RuntimeError("create live views in the notebook's thread, not on the AMI session's loop")
        self.source = source
        self.rate = float(rate)
        self.autopause = autopause
        self.idle_after = float(idle_after)
        self.redraws = 0
        self.ticks = 0
        self.skipped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._due = 0.0
        self._lock = threading.RLock()
        self._stopped_badge: str | None = None  # set by stop(): "stopped" or "disconnected"
        self._created = time.monotonic()
        self._last_seen: float | None = None  # when a browser last said something
        self._visible = True
        self._display_id: str | None = None
        self._last: dict[str, Any] = {}
        self._watched: int | None = None  # id() of the client whose state changes it watches
        self.widget = LiveModel(kind=self.kind, rate=self.rate)
        self.widget.on_msg(self._on_frontend)
        self.widget.observe(self._on_control, names=["paused", "rate", "filter"])
        _hook_ipython()
        self._watch_connection()

    # -- lifetime ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or resume) redrawing; it replaces a running view of the same kind on the same source."""
        key = (id(self.source), self.kind)
        old = _CURRENT.get(key)
        if old is not None and old is not self and old.running:
            old.stop(note="replaced by a newer view")
        _CURRENT[key] = self
        self._stopped_badge = None
        self._due = 0.0
        TICKER.add(self)

    def stop(self, timeout: float = 5.0, *, note: str | None = None) -> None:
        """Stop redrawing; the view keeps its last picture, marked stopped (or disconnected).

        It takes the view's lock, so a redraw under way finishes first and none starts after it returns."""
        with self._lock:
            TICKER.remove(self)
            closed = self._connection_state() == "closed"
            self._stopped_badge = "disconnected" if closed else "stopped"
            self._stop_note = note
            try:
                self.refresh(force=True)
            except Exception as exc:  # the last picture is a courtesy; never let stop() raise for it
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._update_display()

    @property
    def running(self) -> bool:
        return TICKER.running(self)

    def _connection_state(self) -> str:
        return str(getattr(self.source, "state", "") or "") if hasattr(self.source, "client") else ""

    def close(self) -> None:
        """Stop for good: the last picture stays, the view stops watching its connection, the widget closes."""
        self.stop()
        self._unwatch()
        self.widget.close()

    def _watch_connection(self) -> None:
        """Redraw the header on every connection state change, even when stopped: a closed session must read
        "disconnected" at once, whoever closed it (drawn by the ticker thread, never on the loop)."""
        client = getattr(self.source, "client", None)
        if client is None or not hasattr(client, "on_state_change"):
            return
        WATCH.add(client, self)
        self._watched = id(client)

    def _unwatch(self) -> None:
        key = getattr(self, "_watched", None)
        if key is not None:
            self._watched = None
            WATCH.discard(key, self)

    def _connection_changed(self) -> None:
        """The ticker thread's redraw of the header after a connection state change."""
        with self._lock:
            closed = self._connection_state() == "closed"
            if closed and self._stopped_badge is not None:
                self._stopped_badge = "disconnected"
            try:
                self.refresh(force=True, header_only=True)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self._stopped_badge is not None:
                self._update_display()  # the saved notebook's picture says "disconnected" too
                if closed:
                    self._unwatch()  # nothing can change for it any more

    # -- presence --------------------------------------------------------------------------------------------
    def _on_frontend(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        with self._lock:  # a tick decides whether to draw under this lock: it sees the new presence or none
            was_drawing = self._should_draw(time.monotonic())
            self._last_seen = time.monotonic()
            self._visible = bool(content.get("visible", True)) and kind != "bye"
            if kind == "bye":
                self._last_seen = None if self.redraws else self._last_seen
            if not was_drawing and self._should_draw(time.monotonic()) and self.running:
                self.refresh(force=True)

    def _should_draw(self, now: float) -> bool:
        """False while nobody looks: hidden or scrolled away, or no browser heard from for ``idle_after`` s
        (unless a cell is running: then the browser's messages wait in the kernel's queue)."""
        if not self.autopause:
            return True
        if self._last_seen is None:
            return now - self._created < self.idle_after or _executing[0]
        if now - self._last_seen > self.idle_after and not _executing[0]:
            return False
        return self._visible

    @property
    def idle(self) -> bool:
        """True while the view skips redraws because nobody looks at it."""
        return self.running and not self._should_draw(time.monotonic())

    def _on_control(self, change: Any) -> None:
        with self._lock:
            if change["name"] == "rate":
                value = float(change["new"])
                if value > 0:
                    self.rate = value
                    self._due = 0.0
            self.refresh(force=True)

    def pause(self) -> None:
        """Stop redrawing but keep the picture (the button does the same); :meth:`resume` goes on."""
        self.widget.paused = True

    def resume(self) -> None:
        self.widget.paused = False

    # -- drawing ---------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        """One redraw by the ticker thread. Under the view's lock, so stop(), pause and presence changes are
        atomic with it: once they return, no redraw decided before them can still land."""
        with self._lock:
            if not TICKER.holds(self):  # stopped while this tick was on its way
                return
            self.ticks += 1
            if self._connection_state() == "closed" and self._stopped_badge is None:
                TICKER.remove(self)  # the session is gone: draw the last picture once and stop by itself
                self._stopped_badge = "disconnected"
                self._stop_note = None
                self._unwatch()
            elif self.widget.paused or not self._should_draw(time.monotonic()):
                self.skipped += 1
                self._pull()
                return
            try:
                self.refresh()
            except Exception as exc:  # never let a bad frame kill the view; show it instead
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self._stopped_badge is not None:
                self._update_display()

    def _pull(self) -> None:
        """Keep up with the source while not drawing (a bare store must still be read)."""

    def badge(self) -> tuple[str, str]:
        """(css class, text) of the state badge: live, paused, idle, stopped, reconnecting, disconnected."""
        conn = self._connection_state()
        if self._stopped_badge == "disconnected" or conn == "closed":
            return "disconnected", "disconnected"
        if conn in ("reconnecting", "connecting"):
            return conn, conn + "…"
        if self._stopped_badge is not None:
            return "stopped", "stopped"
        if self.widget.paused:
            return "paused", "paused"
        if not self._should_draw(time.monotonic()):
            return "idle", "idle (not visible)"
        return "live", "live"

    def refresh(self, force: bool = False, header_only: bool = False) -> bool:
        """Build the data and send what changed; True when anything was sent.

        :attr:`counters` are published last, once every trait of this redraw is set: whoever sees the new
        counters (another thread, a test) reads the widget as drawn from them, never half of it."""
        with self._lock:
            if not header_only:
                self._pull()
            data = self._build(header_only=header_only)
            counters = data.pop("_counters", None)
            changed = {k: v for k, v in data.items() if (force and k == "status") or self._last.get(k) != v}
            if changed:
                with self.widget.hold_sync():
                    for k, v in changed.items():
                        setattr(self.widget, k, v)
                self._last.update(changed)
                self.redraws += 1
            if counters is not None:
                self.counters = counters
            return bool(changed)

    def _build(self, header_only: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    # -- display ---------------------------------------------------------------------------------------------
    def snapshot_html(self) -> str:
        """The last picture as static HTML (what nbviewer and GitHub show of a saved notebook)."""
        from .snapshot import render

        return render(self.kind, self._last or {k: v for k, v in self._build().items() if k != "_counters"})

    def _bundle(self) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_()
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle or {})
        data["text/plain"] = repr(self)
        data["text/html"] = self.snapshot_html()
        return data

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self._bundle()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        handle = display(self._bundle(), raw=True, display_id=True)
        self._display_id = getattr(handle, "display_id", None)

    def _update_display(self) -> None:
        """Replace the saved output by the final picture, so a saved notebook shows where the view ended."""
        if self._display_id is None:
            return
        try:
            from IPython.display import update_display

            update_display(self._bundle(), raw=True, display_id=self._display_id)
        except Exception as exc:  # outside a kernel, or a closed one
            self.last_error = f"{type(exc).__name__}: {exc}"

    def __repr__(self) -> str:
        state = "running" if self.running else (self._stopped_badge or "stopped")
        return f"<{type(self).__name__} {state} rate={self.rate:g}/s redraws={self.redraws}>"

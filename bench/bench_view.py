"""What a live view costs the kernel: process CPU with a 2 Hz view beside the same run without one.

The simulated PBX runs in its own process (``python -m ami_nb.sim ... --traffic``) so its work is not counted;
this process is "the kernel": a session receiving about 250 events/s into a store that already holds 500,000
events (filled before measuring, from real recorded events), alternating phases without a view and with
``session.live(rate=2)`` (``autopause=False``: as if a browser watched it). Widget messages go to ipywidgets'
dummy comm, patched to JSON-encode each message as ipykernel would, so serialisation is counted too.

CPU is ``time.process_time()`` (every thread of the process) over each phase's wall time: "% of a core".

``--old REV`` adds a phase with the view as it was at git revision REV (the HTML-string view of issue 13,
``45355a5``), loaded from ``git show`` so both run in the same process against the same traffic.

``--frames`` measures instead what a cell re-run (or a view drawn from ``store.frame()``) pays: ``frame()`` over
``--held`` events, then again after a few new events (10, then 1,000), with the frame cache (frozen chunks
converted once) against ``EventStore(frame_cache_bytes=0)`` (every chunk converted on every frame), same events.

Run: ``python bench/bench_view.py [--held 500000] [--phase 10] [--rounds 2] [--rate 300] [--old 45355a5]``,
``python bench/bench_view.py --frames [--held 500000] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import comm

import ami_nb
from ami_nb.protocol import Parser

SECRET = "amp111"  # the simulator's documented demo user
ROOT = Path(__file__).resolve().parents[1]


def start_sim(rate: float, time_scale: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "ami_nb.sim", "--host", "127.0.0.1", "--port", "0",
                             "--print-port", "--traffic", "--rate", str(rate), "--time-scale", str(time_scale),
                             "--timestampevents"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError(f"the simulator did not print its port (got {line!r})")
    return proc, int(line)


def serialising_comm() -> list[int]:
    """Make the dummy comm JSON-encode what it would send (as ipykernel's session does); returns a byte counter."""
    sent = [0]

    def publish_msg(self: object, msg_type: str, data: object = None, metadata: object = None,
                    buffers: object = None, **keys: object) -> None:
        sent[0] += len(json.dumps({"data": data, "metadata": metadata}, default=str))

    comm.DummyComm.publish_msg = publish_msg  # type: ignore[method-assign]
    return sent


def fill(store: object, n: int) -> None:
    events = [m for m in Parser().feed((ROOT / "tests/fixtures/transcripts/19_originate_async_100.txt").read_bytes())
              if m.is_event]
    t = time.time() - 3600
    done = 0
    while done < n:
        batch = events[: min(len(events), n - done)]
        store.extend(batch, t)  # type: ignore[attr-defined]
        done += len(batch)


def old_view_module(rev: str) -> object:
    """The widgets module of git revision ``rev`` (a single file then), importable beside today's."""
    import importlib.util
    import tempfile

    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:ami_nb/widgets.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "widgets_old.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ami_nb._widgets_old", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "ami_nb"
    spec.loader.exec_module(mod)
    return mod


def frames(held: int, rounds: int) -> None:
    """``frame()`` latency: first, after 10 and after 1,000 more events; cache on and off, alternating."""
    import gc

    from ami_nb.store import EventStore

    new = [m for m in Parser().feed((ROOT / "tests/fixtures/transcripts/19_originate_async_100.txt").read_bytes())
           if m.is_event]
    more = (new * (1 + 1000 // len(new)))[:1000]
    rows: dict[str, list[list[float]]] = {"cache on": [], "cache off (frame_cache_bytes=0)": []}
    for _ in range(rounds):
        for name in rows:
            store = EventStore(capacity=held + 10_000, **({} if name == "cache on" else {"frame_cache_bytes": 0}))
            fill(store, held)
            times = []
            for batch in ([], more[:10], more[10:]):  # first; +10 events; +990 (1,000 since the first)
                if batch:
                    store.extend(batch, time.time())
                gc.collect()
                t = time.perf_counter()
                df = store.frame()
                times.append(time.perf_counter() - t)
                del df
            rows[name].append(times)
            del store
            gc.collect()
    print(f"frame() over {held:,} events held (+ new ones), seconds, best of {rounds}")
    print(f"{'store':32} {'first':>7} {'+10 events':>10} {'+1,000':>7}")
    for name, runs in rows.items():
        best = [min(r[i] for r in runs) for i in range(3)]
        print(f"{name:32} {best[0]:7.2f} {best[1]:10.2f} {best[2]:7.2f}")


def phase(seconds: float) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return time.process_time() - c0, time.monotonic() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--held", type=int, default=500_000, help="events in the store before measuring")
    ap.add_argument("--phase", type=float, default=10.0, help="seconds per phase")
    ap.add_argument("--rounds", type=int, default=2, help="pairs of (no view, view) phases")
    ap.add_argument("--rate", type=float, default=300.0, help="simulated calls per hour")
    ap.add_argument("--time-scale", type=float, default=60.0)
    ap.add_argument("--view-rate", type=float, default=2.0, help="redraws per second")
    ap.add_argument("--old", default=None, metavar="REV", help="also measure the view of this git revision")
    ap.add_argument("--frames", action="store_true", help="measure frame() latency after new events instead")
    args = ap.parse_args()
    if args.frames:
        frames(args.held, args.rounds)
        return
    sent = serialising_comm()
    old = old_view_module(args.old) if args.old else None
    proc, port = start_sim(args.rate, args.time_scale)
    try:
        session = ami_nb.connect("127.0.0.1", port=port, username="admin", secret=SECRET, keepalive=None,
                                 store_capacity=max(1_000_000, 2 * args.held))
        fill(session.events, args.held)
        _ = session.pbx  # the live state exists in both phases (its cost is the session's, not the view's)
        time.sleep(3)  # warm up: traffic running, sync done
        rows = []
        for _ in range(args.rounds):
            r0 = session.events.total
            cpu, wall = phase(args.phase)
            rows.append(("no view", cpu / wall, (session.events.total - r0) / wall, 0, 0))
            view = session.live(rate=args.view_rate, autopause=False)
            d0, b0, r0 = view.redraws, sent[0], session.events.total
            cpu, wall = phase(args.phase)
            rows.append(("view", cpu / wall, (session.events.total - r0) / wall, (view.redraws - d0) / wall,
                         (sent[0] - b0) / wall))
            view.stop()
            if old is not None:
                before = old.LiveView(session, args.view_rate)  # type: ignore[attr-defined]
                d0, b0, r0 = before.redraws, sent[0], session.events.total
                cpu, wall = phase(args.phase)
                rows.append(("old view", cpu / wall, (session.events.total - r0) / wall,
                             (before.redraws - d0) / wall, (sent[0] - b0) / wall))
                before.stop()
        held = len(session.events)
        session.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"store held {held:,} events; view at {args.view_rate:g} Hz; {args.phase:g} s phases x {args.rounds}")
    print(f"{'phase':8} {'CPU % core':>10} {'events/s':>9} {'redraws/s':>9} {'comm kB/s':>9}")
    for name, cpu, eps, rd, kb in rows:
        print(f"{name:8} {100 * cpu:10.1f} {eps:9.0f} {rd:9.2f} {kb / 1024:9.1f}")
    none = statistics.mean(r[1] for r in rows if r[0] == "no view")
    view = statistics.mean(r[1] for r in rows if r[0] == "view")
    print(f"view costs {100 * (view - none):+.1f} % of a core (no view {100 * none:.1f} %, view {100 * view:.1f} %)")
    if old is not None:
        was = statistics.mean(r[1] for r in rows if r[0] == "old view")
        print(f"the view of {args.old} costs {100 * (was - none):+.1f} % of a core")


if __name__ == "__main__":
    main()

"""Socket -> EventStore throughput and memory, beside the naive ``pd.DataFrame(list_of_dicts)``, in one run.

The simulated PBX runs in its own process (``python -m ami_nb.sim --port 0 --print-port``) so the client has a
core and the GIL to itself. Each run logs in on a fresh loopback connection, sends ``Action: SimFlood`` /
``Count: N`` and reads until the ``SimFloodComplete`` event; every event is counted against N.

Pipelines measured, all from the same flood:

* ``session``  - the whole stack: ``ami_nb.connect()`` (asyncio client on its thread) -> ``session.events``;
* ``store``    - a plain socket loop: ``recv`` -> ``Parser.feed`` -> ``EventStore.extend`` (then one ``frame()``);
* ``naive``    - the same loop keeping a list of dicts, then ``pd.DataFrame(list_of_dicts)`` at the end.

Memory: the store's frozen arrays and dictionary blobs (``store.nbytes``), and the Python heap growth seen by
tracemalloc (in a separate, slower pass, so tracing does not skew the timings); for the naive frame
``memory_usage(deep=True)`` and tracemalloc of the DataFrame (after the dicts are gone).

Run: ``python bench/bench_store.py [--events 1000000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import gc
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pandas as pd

import ami_nb
from ami_nb.protocol import Parser, encode_action
from ami_nb.store import EventStore

SECRET = "amp111"  # the simulator's documented demo user, not a real secret


def start_sim() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "ami_nb.sim", "--host", "127.0.0.1", "--port", "0",
                             "--print-port"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError(f"the simulator did not print its port (got {line!r})")
    return proc, int(line)


def flood_socket(port: int, n: int, sink: Callable[[list[Any], float], None]) -> tuple[float, int]:
    """Log in, flood ``n`` events into ``sink(events, received)``; (seconds from request to completion, events)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    parser = Parser()
    # log in with events off (no greeting events), then turn them on: only the flood is counted
    sock.sendall(encode_action("Login", {"Username": "admin", "Secret": SECRET, "Events": "off"}, "login")
                 + encode_action("Events", {"EventMask": "on"}, "events"))
    while True:
        msgs = parser.feed(sock.recv(65536))
        if any(m.get("ActionID") == "events" for m in msgs):
            break
    sock.sendall(encode_action("SimFlood", {"Count": n}, "flood"))
    got = 0
    t0 = time.perf_counter()
    done = False
    recv = sock.recv
    feed = parser.feed
    while not done:
        data = recv(65536)  # what the client reads at a time (see client._READ_SIZE)
        if not data:
            raise RuntimeError("the simulator closed the connection")
        now = time.time()
        msgs = feed(data)
        events = [m for m in msgs if "Event" in m]
        if events and events[-1]["Event"] == "SimFloodComplete":
            events.pop()
            done = True
        if events:
            got += len(events)
            sink(events, now)
    elapsed = time.perf_counter() - t0
    sock.close()
    return elapsed, got


def run_store(port: int, n: int) -> dict[str, float]:
    store = EventStore(capacity=max(n, 1))
    elapsed, got = flood_socket(port, n, store.extend)
    t = time.perf_counter()
    df = store.frame()
    frame_s = time.perf_counter() - t
    assert got == n == store.total == len(df), (got, n, store.total, len(df))
    return {"events": got, "seconds": elapsed, "eps": got / elapsed, "frame_s": frame_s,
            "bytes_per_event": store.nbytes / max(store.frozen, 1), "columns": len(df.columns)}


def run_parse(port: int, n: int) -> dict[str, float]:
    """The floor: socket and parser only, events dropped."""
    elapsed, got = flood_socket(port, n, lambda events, received: None)
    assert got == n
    return {"events": got, "seconds": elapsed, "eps": got / elapsed}


def run_extend_only(port: int, n: int) -> dict[str, float]:
    """The store's own cost: extend() on events already parsed (same batches as the socket gave)."""
    batches: list[tuple[list[Any], float]] = []
    flood_socket(port, n, lambda events, received: batches.append((events, received)))
    store = EventStore(capacity=n)
    t = time.perf_counter()
    for events, received in batches:
        store.extend(events, received)
    elapsed = time.perf_counter() - t
    assert store.total == n
    return {"events": n, "seconds": elapsed, "eps": n / elapsed}


def run_naive(port: int, n: int) -> dict[str, float]:
    rows: list[dict[str, str]] = []

    def sink(events: list[Any], received: float) -> None:
        for m in events:
            d = dict(m)
            d["received"] = received
            rows.append(d)

    elapsed, got = flood_socket(port, n, sink)
    t = time.perf_counter()
    df = pd.DataFrame(rows)
    build = time.perf_counter() - t
    assert got == n == len(df)
    total = elapsed + build
    mem = df.memory_usage(deep=True).sum()
    return {"events": got, "seconds": total, "eps": got / total, "frame_s": build, "bytes_per_event": mem / got}


def run_session(port: int, n: int) -> dict[str, float]:
    session = ami_nb.connect("127.0.0.1", port=port, username="admin", secret=SECRET, events="off",
                             store_capacity=max(n, 1) + 100, keepalive=None)
    try:
        session.action("Events", EventMask="on")  # no greeting events: only the flood is counted
        store = session.events
        base = store.total
        finished = threading.Event()
        session.on("SimFloodComplete", lambda event: finished.set())  # the main thread sleeps, holding no GIL
        t0 = time.perf_counter()
        session.send("SimFlood", Count=n, timeout=300)
        if not finished.wait(300):
            raise RuntimeError("no SimFloodComplete within 300 s")
        elapsed = time.perf_counter() - t0
        got = store.total - base - 1  # minus SimFloodComplete
        assert got == n, (got, n)
        return {"events": got, "seconds": elapsed, "eps": got / elapsed,
                "bytes_per_event": store.nbytes / max(store.frozen, 1)}
    finally:
        session.close()


def frame_latency(port: int, n: int) -> dict[str, float]:
    """The cost of a frame: the first over ``n`` events held, then again after 1,000 more events arrived (what a
    live view or a re-run cell pays); frozen chunks converted once are reused by the second."""
    store = EventStore(capacity=n + 10_000)
    flood_socket(port, n, store.extend)
    t = time.perf_counter()
    first = store.frame()
    first_s = time.perf_counter() - t
    del first
    flood_socket(port, 1_000, store.extend)
    t = time.perf_counter()
    again = store.frame()
    again_s = time.perf_counter() - t
    assert len(again) == n + 1_000
    del again
    gc.collect()
    return {"first_s": first_s, "again_s": again_s, "cache_bytes": getattr(store, "frame_cache_nbytes", 0)}


def _arrow_bytes() -> int:
    try:
        import pyarrow as pa
    except ImportError:
        return 0
    return pa.total_allocated_bytes()


def traced(port: int, n: int) -> dict[str, float]:
    """Memory held after collection: tracemalloc (Python heap, numpy) plus Arrow's own allocator (pandas 3
    keeps ``str`` columns in Arrow buffers that tracemalloc cannot see)."""
    gc.collect()
    tracemalloc.start()
    base, abase = tracemalloc.get_traced_memory()[0], _arrow_bytes()
    store = EventStore(capacity=n)
    flood_socket(port, n, store.extend)
    gc.collect()
    held_open = tracemalloc.get_traced_memory()[0] - base + _arrow_bytes() - abase
    frozen_share = store.frozen / n
    store.freeze()
    gc.collect()
    held_store = tracemalloc.get_traced_memory()[0] - base + _arrow_bytes() - abase
    nbytes = store.nbytes
    del store
    gc.collect()
    base, abase = tracemalloc.get_traced_memory()[0], _arrow_bytes()
    kept: list[dict[str, str]] = []
    flood_socket(port, n, lambda evs, r: kept.extend({**m, "received": r} for m in evs))
    df = pd.DataFrame(kept)
    kept.clear()
    gc.collect()
    held_naive = tracemalloc.get_traced_memory()[0] - base + _arrow_bytes() - abase
    tracemalloc.stop()
    deep = df.memory_usage(deep=True).sum()
    del df
    return {"store_with_open_buffer": held_open / n, "store_frozen_share": frozen_share,
            "store_all_frozen": held_store / n, "store_nbytes": nbytes / n,
            "naive_traced": held_naive / n, "naive_deep": deep / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trace-events", type=int, default=200_000, help="events for the tracemalloc pass")
    ap.add_argument("--frame-events", type=int, default=500_000, help="events held for the frame latency pass")
    ap.add_argument("--gc-freeze", action="store_true",
                    help="gc.freeze() after the imports, so full collections skip the long-lived objects of pandas "
                         "and IPython (CPython's cyclic collector is a large share of both parse and store time)")
    args = ap.parse_args()
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    proc, port = start_sim()
    try:
        flood_socket(port, 20_000, lambda e, r: None)  # warm up: the simulator renders its event pool
        results: dict[str, list[dict[str, float]]] = {
            "parse": [], "store": [], "naive": [], "session": [], "extend": []}
        runs: dict[str, Callable[[int, int], dict[str, float]]] = {
            "parse": run_parse, "store": run_store, "naive": run_naive, "session": run_session,
            "extend": run_extend_only}
        for _ in range(args.repeat):
            for name, fn in runs.items():
                gc.collect()
                results[name].append(fn(port, args.events))
        mem = traced(port, args.trace_events)
        lat = [frame_latency(port, args.frame_events) for _ in range(args.repeat)]
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"{args.events:,} events per run, best of {args.repeat}; Python {sys.version.split()[0]}, "
          f"pandas {pd.__version__}; gc.freeze(): {'yes' if args.gc_freeze else 'no'}")
    print(f"{'pipeline':<10} {'events/s':>12} {'median':>12} {'frame() s':>10} {'bytes/event':>12}")
    for name, rs in results.items():
        best = max(r["eps"] for r in rs)
        med = statistics.median(r["eps"] for r in rs)
        frame_s = min(r.get("frame_s", float("nan")) for r in rs)
        bpe = rs[0].get("bytes_per_event", float("nan"))
        print(f"{name:<10} {best:>12,.0f} {med:>12,.0f} {frame_s:>10.2f} {bpe:>12,.0f}")
    print(f"memory held per event, {args.trace_events:,} events (tracemalloc + Arrow allocator):")
    print(f"  store, {mem['store_frozen_share']:.0%} frozen + open buffer: {mem['store_with_open_buffer']:,.0f} B; "
          f"all frozen: {mem['store_all_frozen']:,.0f} B (arrays and blobs: {mem['store_nbytes']:,.0f} B)")
    print(f"  naive DataFrame: {mem['naive_traced']:,.0f} B (memory_usage(deep=True): {mem['naive_deep']:,.0f} B)")
    best = min(lat, key=lambda r: r["first_s"] + r["again_s"])
    print(f"frame() with {args.frame_events:,} held: first {min(r['first_s'] for r in lat):.2f} s, after 1,000 more "
          f"events {min(r['again_s'] for r in lat):.2f} s (cache {best['cache_bytes'] / 2**20:,.0f} MiB)")


if __name__ == "__main__":
    main()

"""Soak: a session kept connected through an hour of traffic plus floods, a slow listener and a server that drops.

    python bench/bench_soak.py                       # defaults: ~1 simulated hour, ~1.2 M events, a few minutes
    python bench/bench_soak.py --hour-in 120 --flood 600000 --drop-every 3

What runs:

* the simulated PBX in its own process (``python -m ami_nb.sim --traffic --time-scale S``): an hour of call traffic
  in ``--hour-in`` real seconds, and on request floods of pre-rendered call events (``Action: SimFlood``);
* a proxy in this process between the session and the PBX that cuts every connection every ``--drop-every``
  seconds (as a load balancer or Asterisk's writetimeout would) and counts, with ami_nb's parser on the bytes it
  forwards, every complete event it handed to the session: that is "what the server sent" on each connection;
* one :func:`ami_nb.connect` session through the proxy, reconnecting by itself, with a slow ``"*"`` listener
  (``--slow-ms`` per event, as a callback that prints in Jupyter), a fast Hangup counter, and a bench thread that
  asks for a flood burst after every (re)connect until ``--flood`` events were flooded.

Reported every few seconds: RSS, events received, stored, held, skipped per listener, reconnects. At the end the
proof: the store appended exactly the events the proxy forwarded; the events it holds are the last ones forwarded,
in order, header for header (Event, Uniqueid, Channel, and the rest compared on a fingerprint); every event the
slow listener did not get is counted as skipped. The exit status is 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

import ami_nb
from ami_nb.protocol import Parser

KEY_FIELDS = ("Event", "Uniqueid", "Channel", "Linkedid")  # identifiers: the store keeps them as sent


def rss_mib() -> float:
    """This process's resident set size (Linux /proc), MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def key_of(get: Any) -> tuple[str, ...]:
    return tuple("" if (v := get(k)) is None else str(v) for k in KEY_FIELDS)


def store_keys(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    """The key of each held event, as :func:`key_of` reads a message: header names case-insensitively (a CEL
    event says ``UniqueID``, a Newchannel ``Uniqueid``: two columns of the frame, one header for a message)."""
    parts = []
    for name in KEY_FIELDS:
        cols = [c for c in frame.columns if c.lower() == name.lower()]
        col = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        for c in cols:  # at most one of them is set in a row
            col = col.where(col.notna(), frame[c].astype(object))
        parts.append(["" if pd.isna(v) else str(v) for v in col])
    return list(zip(*parts, strict=True))


class SimProcess:
    """``python -m ami_nb.sim`` with continuous traffic, in its own process on a free loopback port."""

    def __init__(self, time_scale: float, rate: float) -> None:
        self.args = [sys.executable, "-m", "ami_nb.sim", "--host", "127.0.0.1", "--port", "0", "--print-port",
                     "--traffic", "--rate", str(rate), "--time-scale", str(time_scale)]

    def __enter__(self) -> SimProcess:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class DroppingProxy:
    """A TCP proxy on its own loop thread that cuts every connection every ``drop_every`` seconds.

    It parses the bytes going to the client and counts every complete event it wrote (asyncio's ``close()``
    flushes what was written before closing, so the client receives all of it); it keeps the keys of the last
    ``window`` events in order, to compare with what the store holds at the end.
    """

    def __init__(self, upstream: int, drop_every: float, window: int) -> None:
        self.upstream = upstream
        self.drop_every = drop_every
        self.forwarded = 0
        self.by_name: collections.Counter[str] = collections.Counter()
        self.last: collections.deque[tuple[str, ...]] = collections.deque(maxlen=window)
        self.connections = 0
        self.cuts = 0
        self.paused = False  # set at the end: connections are refused, so the counts stand still
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._cutter = asyncio.ensure_future(self._cut_periodically())

    async def _cut_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.drop_every)
            if self._writers:
                self.cuts += 1
            for w in list(self._writers):
                w.close()

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        if self.paused:
            cwriter.close()
            return
        self.connections += 1
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            cwriter.close()
            return
        self._writers.update((cwriter, swriter))
        parser = Parser(expect_banner=True)

        async def down() -> None:  # server -> client, counted
            while data := await sreader.read(1 << 16):
                if cwriter.is_closing():
                    return
                cwriter.write(data)
                for msg in parser.feed(data):
                    name = msg.get("Event")
                    if name is not None:
                        self.forwarded += 1
                        self.by_name[name] += 1
                        self.last.append(key_of(msg.get))
                await cwriter.drain()

        async def up() -> None:  # client -> server
            while data := await creader.read(1 << 16):
                if swriter.is_closing():
                    return
                swriter.write(data)
                await swriter.drain()

        try:
            tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (cwriter, swriter):
                self._writers.discard(w)
                w.close()

    def pause(self) -> None:
        """Cut every connection and refuse new ones: nothing more reaches the session."""

        async def pause() -> None:
            self.paused = True
            for w in list(self._writers):
                w.close()

        asyncio.run_coroutine_threadsafe(pause(), self._loop).result(10)

    def stop(self) -> None:
        async def stop() -> None:
            self._cutter.cancel()
            self._server.close()
            for w in list(self._writers):
                w.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hour-in", type=float, default=240.0, help="real seconds for one simulated hour of traffic")
    ap.add_argument("--rate", type=float, default=1800.0, help="calls per simulated hour (a busy PBX)")
    ap.add_argument("--flood", type=int, default=1_000_000, help="flooded events in all")
    ap.add_argument("--burst", type=int, default=50_000, help="events per SimFlood request")
    ap.add_argument("--drop-every", type=float, default=4.0, help="seconds between the proxy's cuts")
    ap.add_argument("--slow-ms", type=float, default=2.0, help="the slow listener's time per event")
    ap.add_argument("--capacity", type=int, default=200_000, help="events the store holds (the newest)")
    ap.add_argument("--queue", type=int, default=10_000, help="events each listener's queue holds")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between report lines")
    ap.add_argument("--drain-timeout", type=float, default=60.0,
                    help="seconds to wait at the end for the slow listener's queue to empty")
    ap.add_argument("--max-extra", type=float, default=120.0, help="seconds past the hour allowed for the floods")
    args = ap.parse_args()

    logging.getLogger("ami_nb").setLevel(logging.ERROR)  # a warning per cut otherwise; the table counts them
    time_scale = 3600.0 / args.hour_in
    with SimProcess(time_scale, args.rate) as sim:
        proxy = DroppingProxy(sim.port, args.drop_every, window=args.capacity)
        try:
            return soak(args, proxy, time_scale)
        finally:
            proxy.stop()


def soak(args: argparse.Namespace, proxy: DroppingProxy, time_scale: float) -> int:
    floods_done = threading.Event()
    completes: list[int] = []
    hangups = [0]

    def slow(event: Any) -> None:
        time.sleep(args.slow_ms / 1000)

    def flood_complete(event: Any) -> None:
        completes.append(int(event["Count"]))

    def hangup(event: Any) -> None:
        hangups[0] += 1

    rss0 = rss_mib()
    session = ami_nb.connect(f"ami://admin@127.0.0.1:{proxy.port}", secret="amp111",
                             store_capacity=args.capacity, listener_queue=args.queue, keepalive=None,
                             backoff=(0.2, 2.0), stable_after=min(2.0, args.drop_every / 2), timeout=5.0)
    before_on = session.events.total  # events stored before the slow listener existed (the login's own)
    session.on("*", slow)
    after_on = session.events.total
    session.on("SimFloodComplete", flood_complete)
    session.on("Hangup", hangup)
    requested = [0]

    bursts = max(1, -(-args.flood // args.burst))
    spacing = args.hour_in * 0.9 / bursts  # the floods spread over the hour, not all at its start

    def flooder() -> None:
        """Burst k is asked for at k * spacing (once; again only if the asking itself failed on a cut)."""
        while requested[0] < args.flood and not floods_done.is_set():
            if time.monotonic() - t0 >= (requested[0] // args.burst) * spacing and session.state == "connected":
                n = min(args.burst, args.flood - requested[0])
                try:
                    session.action("SimFlood", Count=str(n), timeout=5.0)
                    requested[0] += n
                except ami_nb.AMIError:
                    pass  # cut while asking: ask on the next connection
            time.sleep(0.05)

    t0 = time.monotonic()
    feeder = threading.Thread(target=flooder, name="soak-flooder", daemon=True)
    feeder.start()
    rows: list[dict[str, Any]] = []
    wall = args.hour_in
    print(f"soak: 1 simulated hour of traffic ({args.rate:g} calls/h) in {wall:g} s, floods of {args.flood:,} "
          f"events in bursts of {args.burst:,}, the proxy cutting every {args.drop_every:g} s, a {args.slow_ms:g} ms "
          f"listener; store capacity {args.capacity:,}, listener queue {args.queue:,}")
    header = f"{'t (s)':>6} {'RSS MiB':>8} {'received':>10} {'stored':>10} {'held':>8} {'skipped *':>10} " \
             f"{'queued *':>8} {'reconnects':>10} {'forwarded':>10}"
    print(header)
    next_sample = 0.0
    while True:
        now = time.monotonic() - t0
        if now >= next_sample:
            st = session.stats
            ls = session.listener_stats()
            row = {"t": now, "rss": rss_mib(), "received": st.get("events_received", 0),
                   "stored": session.events.total, "held": len(session.events), "skipped": ls[0]["skipped"],
                   "queued": ls[0]["queued"], "reconnects": st.get("reconnects", 0), "forwarded": proxy.forwarded}
            rows.append(row)
            print(f"{row['t']:6.0f} {row['rss']:8.1f} {row['received']:10,} {row['stored']:10,} {row['held']:8,} "
                  f"{row['skipped']:10,} {row['queued']:8,} {row['reconnects']:10,} {row['forwarded']:10,}",
                  flush=True)
            next_sample += args.sample
        if now >= wall and not feeder.is_alive():
            break
        if now > wall + args.max_extra:
            print(f"the floods were not all asked for {args.max_extra:g} s after the hour: stopping", file=sys.stderr)
            break
        time.sleep(0.2)

    # the end: the proxy refuses the session from now on; wait until the store and the listeners stand still
    floods_done.set()
    proxy.pause()

    def counts() -> tuple[int, ...]:
        slow_stats = session.listener_stats()[0]
        return session.events.total, proxy.forwarded, slow_stats["delivered"], slow_stats["skipped"]

    last, still_since, drain_end = counts(), time.monotonic(), time.monotonic() + args.drain_timeout
    while time.monotonic() - still_since < 2.0 or session.listener_stats()[0]["queued"]:
        if time.monotonic() > drain_end:  # an unbounded queue (--queue 100000000) may take many minutes
            print(f"the slow listener's queue did not drain in {args.drain_timeout:g} s", file=sys.stderr)
            break
        time.sleep(0.2)
        now_counts = counts()
        if now_counts != last:
            last, still_since = now_counts, time.monotonic()
    st = session.stats
    ls = session.listener_stats()
    forwarded, stored = proxy.forwarded, session.events.total
    held_keys = store_keys(session.events.frame())
    proxy_keys = list(proxy.last)[-len(held_keys):] if held_keys else []
    rss = [r["rss"] for r in rows]
    half = rss[len(rss) // 2:]
    session.close()

    slow_stats = ls[0]
    accounted = slow_stats["delivered"] + slow_stats["skipped"] + slow_stats["queued"]
    in_hand = 1 if slow_stats["queued"] else 0  # not drained: the event in the callback's hands is in no counter
    checks = {
        "store appended every forwarded event": stored == forwarded,
        "client received = stored": st.get("events_received", 0) == stored,
        "held = last forwarded, in order": held_keys == proxy_keys and len(held_keys) == min(args.capacity, stored),
        "dropped only by capacity": session.events.dropped == stored - len(held_keys),
        "slow listener: delivered + skipped (+ still queued) = stored since it was added":
            accounted <= stored - before_on and accounted + in_hand >= stored - after_on,
        "fast Hangup listener: every Hangup, none skipped": hangups[0] == proxy.by_name["Hangup"]
            and all(s["skipped"] == 0 for s in ls[1:]),
    }
    print()
    print(f"wall {time.monotonic() - t0:.0f} s; reconnects {st.get('reconnects', 0)}; proxy connections "
          f"{proxy.connections}, cuts {proxy.cuts}; flood events asked for {requested[0]:,} (bursts completed "
          f"uncut: {len(completes)}); Hangup events to the fast listener {hangups[0]:,} of "
          f"{proxy.by_name['Hangup']:,} forwarded")
    print(f"events forwarded by the proxy {forwarded:,}; received {st.get('events_received', 0):,}; stored "
          f"{stored:,}; held {len(held_keys):,}; dropped by capacity {session.events.dropped:,}")
    for s in ls:
        print(f"listener {s['pattern']!r} ({s['callback']}): delivered {s['delivered']:,}, skipped {s['skipped']:,}, "
              f"queued {s['queued']:,}, errors {s['errors']}")
    print(f"RSS: before connect {rss0:.1f} MiB; max {max(rss):.1f} MiB; second half {min(half):.1f}-{max(half):.1f} "
          f"MiB")
    if held_keys != proxy_keys:
        diff = next((i for i, (a, b) in enumerate(zip(held_keys, proxy_keys, strict=False)) if a != b), None)
        print(f"held {len(held_keys):,} vs forwarded window {len(proxy_keys):,}; first difference at {diff}: "
              f"{held_keys[diff] if diff is not None else None} != {proxy_keys[diff] if diff is not None else None}")
    for name, ok in checks.items():
        print(f"{'ok ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The whole receive path, socket -> parsed event -> a ``"*"`` listener: ami_nb's client beside panoramisk's.

Both clients log in to the simulated PBX, running in its own process so that each side has a core, and ask it for
a flood of N pre-rendered call events (``Action: SimFlood``). The clock runs from sending that action to the
``SimFloodComplete`` event; every event is counted by a catch-all listener, and the count must equal N.

Run: ``python bench/bench_receive.py`` (panoramisk comes with ``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from ami_nb import protocol
from ami_nb.client import AMIClient

#: what a login with events on brings before the flood (not part of it)
LOGIN_EVENTS = {"FullyBooted", "SuccessfulAuth"}


class SimProcess:
    """``python -m ami_nb.sim`` in a subprocess on a free loopback port."""

    def __enter__(self) -> SimProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ami_nb.sim", "--host", "127.0.0.1", "--port", "0", "--print-port"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        self.port = int(line.strip().rsplit(":", 1)[-1])
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


async def ami_nb_run(port: int, n: int) -> tuple[int, float]:
    count = 0
    done = asyncio.Event()

    def on_event(event: protocol.Message) -> None:
        nonlocal count
        name = event.get("Event")
        if name == "SimFloodComplete":
            done.set()
        elif name not in LOGIN_EVENTS:
            count += 1

    client = AMIClient("127.0.0.1", port, username="admin", secret="amp111", keepalive=None, reconnect=False)
    await client.connect()
    client.on("*", on_event)
    t = time.perf_counter()
    await client.action("SimFlood", Count=n, timeout=120)
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - t
    await client.close()
    return count, elapsed


async def panoramisk_run(port: int, n: int) -> tuple[int, float]:
    from panoramisk import Manager

    count = 0
    done = asyncio.Event()

    def on_event(manager: object, event: dict) -> None:
        nonlocal count
        name = event.get("Event")
        if name == "SimFloodComplete":
            done.set()
        elif name not in LOGIN_EVENTS:
            count += 1

    manager = Manager(host="127.0.0.1", port=port, username="admin", secret="amp111", ping_delay=0)
    manager.register_event("*", on_event)
    await manager.connect()
    t = time.perf_counter()
    await manager.send_action({"Action": "SimFlood", "Count": n})
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - t
    manager.close()
    return count, elapsed


def measure(run: Callable[[int, int], Awaitable[tuple[int, float]]], n: int, repeat: int) -> tuple[float, int]:
    rates, counts = [], set()
    for _ in range(repeat):
        with SimProcess() as sim:
            count, elapsed = asyncio.run(run(sim.port, n))
        counts.add(count)
        rates.append(count / elapsed)
    if counts != {n}:
        raise SystemExit(f"{run.__name__}: expected {n} events, counted {sorted(counts)}")
    return statistics.median(rates), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000, help="events per flood")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    peers: dict[str, Callable[[int, int], Awaitable[tuple[int, float]]]] = {"ami_nb AMIClient": ami_nb_run}
    try:
        import panoramisk  # noqa: F401

        peers["panoramisk 1.4 Manager"] = panoramisk_run
    except ImportError:
        print("panoramisk not installed (pip install -e .[bench]): its row is left out")
    accel = "C accelerator" if protocol._speedups else "pure-Python parser"
    print(f"{args.n:,} flood events per run, median of {args.repeat} runs; ami_nb parser: {accel}\n")
    print("| client | events/s, socket -> '*' listener | events counted |")
    print("|---|---:|---:|")
    for name, run in peers.items():
        rate, n = measure(run, args.n, args.repeat)
        print(f"| {name} | {rate:,.0f} | {n:,} of {n:,} |")


if __name__ == "__main__":
    main()

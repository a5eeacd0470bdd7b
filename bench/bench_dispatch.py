"""The client's dispatch step alone, in process: parsed messages -> batch sink + correlation + a ``"*"`` listener.

``bench_receive.py`` measures the whole socket path, which on a shared, loaded machine moves by ±30 % from run to
run; this isolates what the client itself does per event (the part the correlator and the listener changes
touch), with and without an action waiting (the correlator busy). The messages are the real Asterisk 22
transcripts' events, repeated.

It counts CPU time (``time.thread_time``), not wall time, so other processes on the machine matter less.

Run: ``python bench/bench_dispatch.py --events 300000 --repeat 5`` (best and median of the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from ami_nb.client import AMIClient
from ami_nb.protocol import Message, Parser

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "transcripts"


def events(n: int) -> list[Message]:
    pool = [m for p in sorted(TRANSCRIPTS.glob("*.txt")) for m in Parser().feed(p.read_bytes()) if m.is_event]
    return (pool * (n // len(pool) + 1))[:n]


def run(msgs: list[Message], busy: bool, batch: int = 150) -> float:
    client = AMIClient(username="bench", secret="x", keepalive=None)
    count = 0

    def listener(event: Message) -> None:
        nonlocal count
        count += 1

    client.on("*", listener)
    client.add_batch_sink(lambda evs, received: None)
    if busy:  # an action is waiting for its answer: every event with an ActionID is looked at

        async def expect() -> None:
            loop = asyncio.get_running_loop()
            if hasattr(client, "_corr"):
                client._corr.expect("bench-waiting", "QueueStatus")
                client._waiters["bench-waiting"] = loop.create_future()
            else:  # the client before the correlator
                from ami_nb import client as mod

                client._pending["bench-waiting"] = mod._Pending("QueueStatus", loop.create_future())

        asyncio.run(expect())
    batches = [msgs[i : i + batch] for i in range(0, len(msgs), batch)]
    t0 = time.thread_time()  # CPU time of this thread: steadier than the wall clock on a shared machine
    for b in batches:
        client._dispatch(b, 0.0)
    elapsed = time.thread_time() - t0
    assert count == len(msgs), (count, len(msgs))
    return len(msgs) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    msgs = events(args.events)
    print("| dispatch | events per CPU-second, best | median |")
    print("|---|---:|---:|")
    for busy in (False, True):
        rates = [run(msgs, busy) for _ in range(args.repeat)]
        label = "an action waiting (correlator busy)" if busy else "idle (no action waiting)"
        print(f"| {label} | {max(rates):,.0f} | {statistics.median(rates):,.0f} |")


if __name__ == "__main__":
    main()

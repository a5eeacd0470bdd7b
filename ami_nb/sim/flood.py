"""Flood mode for benchmarks: pre-rendered, realistic call events written in large chunks.

The events come from the call model itself (a seeded hour of mixed traffic run in virtual time), rendered to
bytes once per session, then repeated cyclically until ``n`` events have gone out; chunks of about 1 MiB are
written and drained, so the simulator is never the bottleneck. Each flooded session then gets one
``Event: SimFloodComplete`` with ``Count: <n>`` (not counted in ``n``), so a benchmark knows when to stop.
"""

from __future__ import annotations

import asyncio

from ..protocol import encode_message
from . import traffic
from .connection import ManagerConnection
from .model import PBX, Pairs
from .registry import ServerView
from .wire import event_classes, event_head, message_text

CHUNK_BYTES = 1 << 20
_POOLS: dict[tuple[int, bool], list[tuple[str, frozenset[str], Pairs]]] = {}


def event_pool(seed: int = 0, timestamps: bool = False) -> list[tuple[str, frozenset[str], Pairs]]:
    """About 5,000 call events (name, classes, pairs with Event/Privilege first) from an hour of traffic."""
    key = (seed, timestamps)
    pool = _POOLS.get(key)
    if pool is not None:
        return pool
    pool = []

    def sink(name: str, priv: str, pairs: Pairs, when: float) -> None:
        pool.append((name, event_classes(priv), event_head(name, priv, when if timestamps else None) + pairs))

    pbx = PBX(sink, seed=seed, start_time=1_800_000_000.0)
    traffic.start_traffic(pbx, until=pbx.now + 3600.0)
    pbx.sched.run_until(pbx.now + 3600.0 + 900.0)
    _POOLS[key] = pool
    return pool


async def flood_session(server: ServerView, s: ManagerConnection, n: int) -> int:
    """Write ``n`` events this session may see; returns how many were written (0 if it may see none)."""
    pool = event_pool(server.pbx.seed, server.timestampevents)
    allowed: list[bytes] = []
    for name, classes, pairs in pool:
        text = message_text(pairs) if s.filters else None
        if s.wants(name, classes, pairs, text):
            allowed.append(encode_message(pairs))
    if not allowed or n <= 0 or s.closed:
        return 0
    block = b"".join(allowed)
    k = len(allowed)
    reps = max(1, CHUNK_BYTES // max(1, len(block)))
    chunk, per_chunk = block * reps, k * reps
    w = s.writer
    sent = 0
    try:
        while n - sent >= per_chunk and not s.closed:
            w.write(chunk)
            sent += per_chunk
            await w.drain()
        rest = n - sent
        if rest and not s.closed:
            w.write(block * (rest // k) + b"".join(allowed[: rest % k]))
            sent = n
        if not s.closed:
            w.write(encode_message([("Event", "SimFloodComplete"), ("Count", str(sent))]))
            await w.drain()
    except (ConnectionError, OSError):
        return sent
    s.sent_events += sent
    return sent


async def flood(server: ServerView, n: int, sessions: list[ManagerConnection] | None = None) -> int:
    """Flood every logged-in session with events on (or the given ones); returns the total written."""
    targets = [
        s for s in (sessions if sessions is not None else list(server.connections)) if s.events_on
    ]
    counts = await asyncio.gather(*(flood_session(server, s, n) for s in targets))
    return sum(counts)

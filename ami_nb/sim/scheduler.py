"""Virtual time for the simulated PBX: scenarios are generators that yield simulated seconds (or a Signal).

Order is (time, sequence), so a run with the same seed is the same run, however fast it is driven.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Generator
from typing import Any

Scenario = Generator[Any, None, None]


class Signal:
    """Something a scenario can wait for: ``yield signal`` or ``yield (signal, timeout)``."""

    __slots__ = ("fired", "waiters")

    def __init__(self) -> None:
        self.fired = False
        self.waiters: list[list[Any]] = []


class Scheduler:
    """Virtual-time scheduler: generators yield simulated seconds to sleep (or a :class:`Signal`);
    order is (time, sequence), so a run is deterministic."""

    def __init__(self, start_time: float) -> None:
        self.now = start_time
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()

    def add(self, gen: Scenario, delay: float = 0.0) -> None:
        self._push([gen], delay)

    def _push(self, slot: list[Any], delay: float) -> None:
        heapq.heappush(self._heap, (self.now + max(0.0, delay), next(self._seq), slot))

    def fire(self, signal: Signal) -> None:
        """Wake every scenario waiting on ``signal`` (now, in the order they started waiting)."""
        if signal.fired:
            return
        signal.fired = True
        for slot in signal.waiters:
            if slot[0] is not None:
                gen, slot[0] = slot[0], None
                self._push([gen], 0.0)
        signal.waiters.clear()

    def __len__(self) -> int:
        return sum(1 for _, _, slot in self._heap if slot[0] is not None)

    def next_time(self) -> float | None:
        while self._heap and self._heap[0][2][0] is None:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def step(self) -> None:
        """Run the earliest generator until its next sleep (or its end)."""
        t, _, slot = heapq.heappop(self._heap)
        gen = slot[0]
        if gen is None:
            return
        slot[0] = None
        self.now = max(self.now, t)
        try:
            what = next(gen)
        except StopIteration:
            return
        if isinstance(what, tuple):
            signal, timeout = what
        elif isinstance(what, Signal):
            signal, timeout = what, None
        else:
            self._push([gen], float(what))
            return
        if signal.fired:
            self._push([gen], 0.0)
            return
        slot = [gen]
        signal.waiters.append(slot)
        if timeout is not None:
            self._push(slot, float(timeout))

    def run_until(self, t_end: float) -> None:
        while True:
            t = self.next_time()
            if t is None or t > t_end:
                break
            self.step()
        self.now = max(self.now, t_end)

"""Staffing from measured traffic: Erlang C for agents, Erlang B for trunks.

The formulas (a short implementation beats a dependency here: the maintained workforce libraries on PyPI pull in
solvers and plotting stacks for four lines of arithmetic):

* Offered traffic ``A = λ · AHT`` in erlangs (arrivals per second times average handling time in seconds).
* Erlang B, the blocking probability of ``N`` trunks, by the recurrence ``B(0) = 1``,
  ``B(n) = A·B(n-1) / (n + A·B(n-1))``, which never overflows (Jagerman, "Some properties of the Erlang loss
  function", Bell Syst. Tech. J. 53, 1974; ITU-T E.520 tables use it).
* Erlang C, the probability that a caller waits with ``N`` agents, from Erlang B:
  ``C(N, A) = N·B / (N - A·(1 - B))`` for ``N > A``, else 1 (Cooper, *Introduction to Queueing Theory*, §3.4).
* Service level, the share answered within ``t`` seconds: ``SL = 1 - C · exp(-(N - A) · t / AHT)``.
* Average speed of answer: ``ASA = C · AHT / (N - A)``; occupancy ``A / N``.

These assume Poisson arrivals and no abandonment (M/M/N): they give the agents a queue needs, on the safe side
where callers do hang up. ``shrinkage`` (breaks, training, absence) scales the agents on the schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

__all__ = [
    "agents_needed",
    "asa",
    "erlang_b",
    "erlang_c",
    "service_level",
    "staffing",
    "trunks_needed",
]


def _check(agents: int, traffic: float) -> None:
    if agents < 0 or int(agents) != agents:
        raise ValueError(f"agents must be a whole number >= 0, got {agents!r}")
    if not traffic >= 0 or math.isinf(traffic):
        raise ValueError(f"traffic must be a finite number of erlangs >= 0, got {traffic!r}")


def erlang_b(trunks: int, traffic: float) -> float:
    """Probability that a call finds all ``trunks`` busy when ``traffic`` erlangs are offered (lost calls
    cleared)."""
    _check(trunks, traffic)
    b = 1.0
    for n in range(1, int(trunks) + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller has to wait, with ``agents`` agents and ``traffic`` erlangs (1 when the agents
    cannot keep up: ``agents <= traffic``)."""
    _check(agents, traffic)
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht: float, threshold: float) -> float:
    """Share of callers answered within ``threshold`` seconds (0 when the agents cannot keep up)."""
    if aht <= 0:
        raise ValueError(f"aht must be > 0 seconds, got {aht!r}")
    if traffic > 0 and agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * threshold / aht)


def asa(agents: int, traffic: float, aht: float) -> float:
    """Average speed of answer in seconds (infinite when the agents cannot keep up)."""
    if traffic > 0 and agents <= traffic:
        return math.inf
    if traffic == 0:
        return 0.0
    return erlang_c(agents, traffic) * aht / (agents - traffic)


def agents_needed(
    traffic: float,
    aht: float,
    *,
    target: float = 0.8,
    threshold: float = 20.0,
    max_occupancy: float | None = None,
) -> int:
    """The fewest agents that answer ``target`` of callers within ``threshold`` seconds (and keep occupancy
    ``A/N`` at most ``max_occupancy`` when given)."""
    if not 0 < target < 1:
        raise ValueError(f"target must be a share between 0 and 1, got {target!r}")
    _check(0, traffic)
    if traffic == 0:
        return 0
    n = max(1, math.floor(traffic) + 1)
    while True:
        ok = service_level(n, traffic, aht, threshold) >= target
        if ok and (max_occupancy is None or traffic / n <= max_occupancy):
            return n
        n += 1


def trunks_needed(traffic: float, *, blocking: float = 0.01) -> int:
    """The fewest trunks that lose at most ``blocking`` of the calls when ``traffic`` erlangs are offered."""
    if not 0 < blocking < 1:
        raise ValueError(f"blocking must be a share between 0 and 1, got {blocking!r}")
    _check(0, traffic)
    n = 0
    b = 1.0
    while b > blocking:
        n += 1
        b = traffic * b / (n + traffic * b)
    return n


def staffing(
    intervals: pd.DataFrame,
    *,
    target: float = 0.8,
    threshold: float = 20.0,
    shrinkage: float = 0.0,
    max_occupancy: float | None = None,
    logged_in: Iterable[float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Agents needed per interval, from an interval report's measured ``offered`` calls and ``aht``.

    ``intervals`` is :func:`ami_nb.analysis.interval_report`'s table (an ``interval`` index of period
    starts with ``offered`` and ``aht`` columns; its ``freq`` attribute gives the interval length). Adds
    ``traffic`` (erlangs), ``agents_needed`` (Erlang C for ``target`` within ``threshold`` s), ``scheduled``
    (after ``shrinkage``), the ``service_level`` and ``asa`` those agents would give, and ``logged_in`` beside
    them when given (the agents actually logged in per interval, e.g. from :func:`agent_intervals`).
    """
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage must be a share between 0 and 1, got {shrinkage!r}")
    seconds = pd.Timedelta(intervals.attrs.get("freq", "30min")).total_seconds()
    out = pd.DataFrame(index=intervals.index)
    offered = intervals["offered"].astype(float)
    aht = intervals["aht"].astype(float)
    out["offered"] = offered
    out["aht"] = aht
    out["traffic"] = (offered / seconds * aht).fillna(0.0)
    need, sl, speed = [], [], []
    for a, h in zip(out["traffic"], aht, strict=True):
        if a <= 0 or not h > 0:
            need.append(0)
            sl.append(float("nan"))
            speed.append(float("nan"))
            continue
        n = agents_needed(a, h, target=target, threshold=threshold, max_occupancy=max_occupancy)
        need.append(n)
        sl.append(service_level(n, a, h, threshold))
        speed.append(asa(n, a, h))
    out["agents_needed"] = pd.Series(need, index=out.index, dtype="int64")
    out["scheduled"] = (out["agents_needed"] / (1 - shrinkage)).apply(math.ceil).astype("int64")
    out["service_level"] = sl
    out["asa"] = speed
    if logged_in is not None:
        out["logged_in"] = (
            pd.Series(logged_in, index=out.index)
            if not isinstance(logged_in, pd.Series)
            else (logged_in.reindex(out.index))
        )
    return out

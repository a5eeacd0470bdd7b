"""Erlang B and C against their textbook definitions and published table values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ami_nb.analysis import erlang as staffing


def erlang_b_direct(n: int, a: float) -> float:
    """Erlang's loss formula as written: (A^N / N!) / sum_{k=0..N} A^k / k!."""
    return (a**n / math.factorial(n)) / sum(a**k / math.factorial(k) for k in range(n + 1))


def erlang_c_direct(n: int, a: float) -> float:
    """Erlang's delay formula as written: the probability of waiting in M/M/N."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (5, 2.0), (10, 5.0), (10, 10.0), (30, 20.0), (60, 45.5)])
def test_erlang_b_is_the_loss_formula(n, a):
    assert staffing.erlang_b(n, a) == pytest.approx(erlang_b_direct(n, a), rel=1e-12)


@pytest.mark.parametrize(("n", "a"), [(2, 1.0), (11, 10.0), (14, 10.0), (25, 20.0), (50, 45.5)])
def test_erlang_c_is_the_delay_formula(n, a):
    assert staffing.erlang_c(n, a) == pytest.approx(erlang_c_direct(n, a), rel=1e-12)


def test_published_table_values():
    # Erlang B tables (e.g. ITU-T E.520 style): 5 trunks at 2.0 E block 3.67 %; 10 trunks at 5.0 E block 1.84 %
    assert staffing.erlang_b(5, 2.0) == pytest.approx(0.0367, abs=5e-5)
    assert staffing.erlang_b(10, 5.0) == pytest.approx(0.0184, abs=5e-5)
    # the trunks for 1 % blocking at 5 E: 11 (B(10)=1.84 % > 1 %, B(11)=0.83 %)
    assert staffing.trunks_needed(5.0, blocking=0.01) == 11


def test_agents_needed_meets_the_target_with_the_fewest_agents():
    # 200 calls an hour of 180 s: A = 10 erlangs. SL(N) = 1 - C(N, A) e^{-(N-A) t/AHT}
    a, aht, t = 200 / 3600 * 180, 180.0, 20.0
    assert a == pytest.approx(10.0)

    def sl(n):
        return 1 - erlang_c_direct(n, a) * math.exp(-(n - a) * t / aht)

    expected = next(n for n in range(11, 40) if sl(n) >= 0.8)
    assert sl(expected - 1) < 0.8 <= sl(expected)
    assert staffing.agents_needed(a, aht, target=0.8, threshold=t) == expected
    assert staffing.service_level(expected, a, aht, t) == pytest.approx(sl(expected))
    assert staffing.asa(expected, a, aht) == pytest.approx(erlang_c_direct(expected, a) * aht / (expected - a))
    # an occupancy cap can only add agents
    capped = staffing.agents_needed(a, aht, target=0.8, threshold=t, max_occupancy=0.6)
    assert capped == max(expected, math.ceil(a / 0.6))


def test_overload_and_idle_edges():
    assert staffing.erlang_c(5, 5.0) == 1.0
    assert staffing.service_level(5, 5.0, 60, 20) == 0.0
    assert staffing.asa(4, 5.0, 60) == math.inf
    assert staffing.agents_needed(0.0, 60) == 0
    assert staffing.erlang_c(3, 0.0) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: staffing.erlang_b(-1, 1.0), "agents must be a whole number"),
        (lambda: staffing.erlang_b(3, -1.0), "traffic must be a finite number"),
        (lambda: staffing.agents_needed(5.0, 60, target=1.5), "target must be a share"),
        (lambda: staffing.trunks_needed(5.0, blocking=0), "blocking must be a share"),
        (lambda: staffing.service_level(3, 1.0, 0, 20), "aht must be > 0"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_staffing_table_per_interval():
    idx = pd.date_range("2026-12-01 08:00", periods=3, freq="30min", tz="UTC")
    intervals = pd.DataFrame({"offered": [100, 0, 50], "aht": [180.0, float("nan"), 120.0]}, index=idx)
    intervals.attrs["freq"] = "30min"
    out = staffing.staffing(intervals, shrinkage=0.25, logged_in=[12, 3, 4])
    # 100 calls in 1800 s of 180 s each: 10 erlangs
    assert out["traffic"].tolist() == pytest.approx([10.0, 0.0, 50 / 1800 * 120])
    assert out["agents_needed"].iloc[0] == staffing.agents_needed(10.0, 180.0)
    assert out["agents_needed"].iloc[1] == 0
    assert out["scheduled"].iloc[0] == math.ceil(out["agents_needed"].iloc[0] / 0.75)
    assert out["logged_in"].tolist() == [12, 3, 4]

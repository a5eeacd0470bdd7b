"""LiveState's day counts of queue callers, fed the recorded queue calls read by read as they arrived (40-42).

The expected values are the recordings' facts (tests/fixtures/transcripts/README.md, notes 37-39): 41 is a real
abandon (QueueCallerAbandon HoldTime 3, QueueCallerLeave, Hangup, no QUEUESTATUS), 42 a Queue() timeout
(QueueCallerAbandon HoldTime 30, QueueCallerLeave, VarSet QUEUESTATUS=TIMEOUT, the dialplan goes on).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ami_nb.analysis import KPIConfig, queue_kpis
from ami_nb.live_state import LiveState
from ami_nb.protocol import Parser
from ami_nb.recording import read_transcript
from ami_nb.transcript import iter_connections, iter_reads

T = Path(__file__).parent / "fixtures" / "transcripts"
START = 1_796_187_380.0  # the recordings' Uniqueids: any start would do, the reads keep their spacing


def fed(name: str, config: KPIConfig | None = None) -> pd.Series:
    """The support queue's row after feeding every read of recording ``name`` at its time."""
    state = LiveState(config=config, clock=lambda: START + 3600)
    parser = Parser()
    for t, chunk, new in iter_connections(iter_reads(T / f"{name}.txt")):
        if new:
            parser = Parser()
        state.feed([m for m in parser.feed(chunk) if m.is_event], START + t)
    return state.queues.set_index("Queue").loc["support"]


COUNTS = ["offered_today", "answered_today", "abandoned_today", "short_abandoned_today", "timed_out_today",
          "other_today"]


def test_a_hangup_in_the_queue_is_an_abandon() -> None:
    # 41: two callers answered at once (AgentConnect HoldTime 0), the third hung up 2.5 s after joining (HoldTime 3):
    # an abandon, and a short one (under KPIConfig.short_abandon, 5 s)
    q = fed("41_queue_abandon")
    assert q[COUNTS].tolist() == [3, 2, 1, 1, 0, 0]
    assert q["service_level"] == pytest.approx(100 * 2 / 3, abs=0.05)  # 2 of 3 offered answered within 20 s


def test_a_queue_timeout_is_not_an_abandon() -> None:
    # 42: one caller, no agent answers, Queue()'s 30 s timeout: QueueCallerAbandon with HoldTime 30 all the same
    q = fed("42_queue_timeout")
    assert q[COUNTS].tolist() == [1, 0, 0, 0, 1, 0]
    assert q["service_level"] == 0.0


def test_an_answered_queue_call() -> None:
    # 40: four callers into support, all answered; the last rang Agent Three for the 5 s member timeout first
    q = fed("40_queue_answered")
    assert q[COUNTS].tolist() == [4, 4, 0, 0, 0, 0] and q["service_level"] == 100.0


def test_the_kpi_config_decides_as_for_the_reports() -> None:
    # the same switches as the reports: timeouts counted as abandons, short abandons left out of offered
    assert fed("42_queue_timeout", KPIConfig(timeouts_as_abandoned=True))[COUNTS].tolist() == [1, 0, 1, 0, 1, 0]
    q = fed("41_queue_abandon", KPIConfig(exclude_short_abandons=True))
    assert q[COUNTS].tolist() == [2, 2, 0, 1, 0, 0] and q["service_level"] == 100.0
    q = fed("40_queue_answered", KPIConfig(service_level_by_queue={"support": 5}))  # the last waited over 5 s
    assert q["sl_target"] == 5 and q["service_level"] == 75.0


@pytest.mark.parametrize("name", ["40_queue_answered", "41_queue_abandon", "42_queue_timeout"])
def test_the_wallboard_counts_as_the_reports(name: str) -> None:
    """Once every caller is decided, the live counts are the reports' over the same events."""
    q = fed(name)
    k = queue_kpis(read_transcript(T / f"{name}.txt")).loc["support"]
    live = [q[f"{c}_today"] for c in ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "other")]
    assert live == [k[c] for c in ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "other")]
    assert q["service_level"] == pytest.approx(100 * k["service_level"], abs=0.05)

"""The contact-centre day of the simulator (ami_nb.sim.workforce / trunks) against its ground truth, through a real
AMI session on loopback, and the contact-centre reports of ami_nb.analysis checked against that truth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ami_nb
from ami_nb import analysis as A
from ami_nb import sim
from ami_nb.analysis._events import event_times

START = 1_796_198_400  # 2026-12-02 08:00 UTC
TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"
TOL = 0.01  # seconds: the events' Timestamp has microseconds; the ground truth is the simulator's clock


def _day(hours: float, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    with (
        sim.start(seed=1, time_scale=math.inf, timestampevents=True, start_time=START) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as session,
    ):
        truth = pbx.simulate_contact_centre(hours=hours, seed=seed)
        session.action("Ping")  # a barrier: every event sent before its answer is in the store
        events = session.events.frame()
    return events, truth


@pytest.fixture(scope="module")
def day() -> tuple[pd.DataFrame, dict[str, Any]]:
    return _day(4.0, 7)


def test_the_day_has_what_the_reports_need(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """Logins and logouts, pauses with several reasons, wrap-up, hold, calls from another queue, every stint
    outcome and every trunk outcome: a report that ignored any of them would fail the checks below."""
    _, truth = day
    a = truth["agents"]
    assert set(a["queue"]) == {"sales", "support", "billing"}
    assert (a.groupby("interface").size() > 1).any()  # overlapping members
    assert set(truth["pauses"]["reason"]) == {"coffee", "lunch", "training"}
    assert truth["sessions"]["logout"].notna().all()
    assert (a[["wrapup", "hold", "other_queue", "busy", "talk"]].sum() > 0).all()
    assert set(truth["stints"]["outcome"]) == {"answered", "abandon", "timeout"}
    seizures = truth["trunks"]
    assert set(seizures[seizures["direction"] == "outbound"]["dialstatus"]) == {
        "ANSWER",
        "BUSY",
        "NOANSWER",
        "CANCEL",
        "CONGESTION",
        "CHANUNAVAIL",
    }
    assert set(seizures["trunk"]) == {"PJSIP/carrier-a", "PJSIP/carrier-b"}


def test_agents_report_equals_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    events, truth = day
    gt = truth["agents"]
    rep = A.agents(events)
    m = gt.merge(rep, on=["queue", "interface"], how="outer", suffixes=("_gt", ""), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"][["queue", "interface", "_merge"]]
    for col in ("logged_in", "paused", "idle", "talk", "hold", "wrapup", "other_queue", "busy"):
        gap = (m[col] - m[f"{col}_gt"]).abs()
        assert (gap < TOL).all(), (col, m.loc[gap >= TOL, ["queue", "interface", col, f"{col}_gt"]])
    assert (m["calls"] == m["calls_gt"]).all()
    assert (m["member_name"] == m["member_name_gt"]).all()
    assert (m["unavailable"] == 0).all() and not m["partial"].any()  # every login was seen
    handling = m["talk_gt"] + m["hold_gt"] + m["wrapup_gt"]
    occupancy = handling / (m["logged_in_gt"] - m["paused_gt"] - m["other_queue_gt"])  # analysis.members
    assert ((m["occupancy"] - occupancy).abs() < 1e-6).all()


def test_agents_by_agent_equal_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """``by="agent"``: each agent once across its queues (a call of any queue is its talk)."""
    events, truth = day
    gt = truth["agent_totals"].set_index("interface")
    rep = A.agents(events, by="agent").set_index("interface")
    assert sorted(rep.index) == sorted(gt.index)
    rep = rep.loc[gt.index]
    for col in ("logged_in", "paused", "talk", "hold", "wrapup", "busy"):
        assert ((rep[col] - gt[col]).abs() < TOL).all(), (col, rep[col], gt[col])
    assert (rep["calls"] == gt["calls"]).all() and (rep["other_queue"] == 0).all()
    idle = gt["logged_in"] - gt[["paused", "talk", "hold", "wrapup", "busy"]].sum(axis=1)
    assert ((rep["idle"] - idle).abs() < TOL).all()


def test_agent_pauses_per_reason_equal_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    events, truth = day
    p = truth["pauses"].explode("queues").rename(columns={"queues": "queue"})
    p["seconds"] = (p["end"] - p["start"]).dt.total_seconds()
    gt = p.groupby(["queue", "interface", "reason"])["seconds"].agg(pauses="size", seconds="sum").reset_index()
    rep = A.agent_pauses(events)
    m = gt.merge(rep, on=["queue", "interface", "reason"], how="outer", suffixes=("_gt", ""), indicator=True)
    assert (m["_merge"] == "both").all()
    assert (m["pauses"] == m["pauses_gt"]).all()
    assert ((m["seconds"] - m["seconds_gt"]).abs() < TOL).all()


def test_queue_kpis_equal_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    events, truth = day
    gt = truth["queues"].set_index("queue")
    rep = A.queue_kpis(events)
    for col in ("offered", "answered", "abandoned", "timed_out"):
        assert rep[col].to_dict() == gt[col].to_dict(), col
    assert ((rep["asa"] - gt["asa"]).abs() < TOL).all()
    st = truth["stints"]
    waits = st[st["outcome"] == "answered"].groupby("queue")["wait"]
    sl = (waits.apply(lambda w: (w <= 20).sum()) / st.groupby("queue").size()).to_dict()
    assert rep["service_level"].to_dict() == pytest.approx(sl)


def test_trunks_report_equals_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    events, truth = day
    gt = truth["trunk_kpis"].assign(did=lambda d: d["did"].fillna(""))
    rep = A.trunks(events).assign(did=lambda d: d["did"].fillna(""))
    m = gt.merge(rep, on=["direction", "trunk", "did"], how="outer", suffixes=("_gt", ""), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"][["direction", "trunk", "did", "_merge"]]
    for col in ("seizures", "answered", "busy", "no answer", "cancelled", "failed"):
        assert (m[col] == m[f"{col}_gt"]).all(), col
    for col in ("asr", "ner"):
        assert ((m[col] - m[f"{col}_gt"]).abs() < 1e-9).all(), col
    acd = (m["acd"] - m["acd_gt"]).abs()
    assert ((acd < TOL) | (m["acd"].isna() & m["acd_gt"].isna())).all()


def test_wrapup_keeps_an_agent_from_being_offered_a_call(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """app_queue's can_ring_entry(): no AgentCalled for a member within Wrapuptime of its last AgentComplete,
    whichever of its queues either call came from (shared_lastcall). Read from the events themselves."""
    events, _ = day
    ev = events[events["Event"].isin(["AgentCalled", "AgentComplete", "QueueMemberAdded"])]
    t = (event_times(events)[ev.index] - pd.Timestamp(START, unit="s", tz="UTC")).dt.total_seconds()
    wrap = {(r.Queue, r.Interface): float(r.Wrapuptime) for r in ev[ev["Event"] == "QueueMemberAdded"].itertuples()}
    gaps = []
    for iface, rows in ev.assign(t=t).groupby("Interface"):
        free_at = -math.inf
        for r in rows.itertuples():
            if r.Event == "AgentComplete":
                free_at = r.t + wrap[(r.Queue, iface)]
            elif r.Event == "AgentCalled":
                gaps.append(r.t - free_at)
    assert gaps and min(gaps) >= -1e-6
    assert min(g for g in gaps if g > -math.inf) < 1.0  # some agents were offered a call as their wrap-up ended


def test_same_seed_same_day() -> None:
    _, one = _day(1.0, 11)
    _, two = _day(1.0, 11)
    _, other = _day(1.0, 12)
    pd.testing.assert_frame_equal(one["agent_calls"], two["agent_calls"])
    pd.testing.assert_frame_equal(one["trunks"], two["trunks"])
    assert not one["stints"]["joined"].equals(other["stints"]["joined"])


def _recorded(name: str, event: str) -> list[str]:
    """The header names of the first ``event`` block in a recording."""
    block: list[str] = []
    for line in (TRANSCRIPTS / name).read_text().splitlines():
        if line == f"Event: {event}":
            block = [line]
        elif block:
            if not line:
                break
            block.append(line)
    return [h.split(":", 1)[0] for h in block if not h.startswith("Privilege")]


@pytest.mark.parametrize(
    ("recording", "event"),
    [
        ("43_queue_members.txt", "QueueMemberAdded"),
        ("43_queue_members.txt", "QueueMemberPause"),
        ("43_queue_members.txt", "QueueMemberRemoved"),
        ("43_queue_members.txt", "QueueMemberStatus"),
        ("40_queue_answered.txt", "AgentComplete"),
        ("41_queue_abandon.txt", "QueueCallerAbandon"),
    ],
)
def test_member_and_agent_events_have_the_recorded_headers(
    day: tuple[pd.DataFrame, dict[str, Any]], recording: str, event: str
) -> None:
    events, _ = day
    want = [h for h in _recorded(recording, event) if h not in ("Event",)]
    got = events[events["Event"] == event]
    assert len(got)
    row = got.iloc[0]
    missing = [h for h in want if h not in got.columns or pd.isna(row[h])]
    assert not missing, missing


def test_bad_options_are_refused() -> None:
    from ami_nb.sim.model import PBX
    from ami_nb.sim.workforce import AgentSpec, ContactCentre

    pbx = PBX(lambda *a: None, start_time=START)
    with pytest.raises(ValueError, match="hours"):
        ContactCentre(pbx, hours=0)
    with pytest.raises(ValueError, match="unknown queue 'nope'"):
        ContactCentre(pbx, agents=[AgentSpec("Zed", ("nope",))])


def test_command_line_runs_a_day_once_a_client_listens() -> None:
    """``python -m ami_nb.sim --contact-centre HOURS`` waits for a client with events on, then runs the day."""
    import os
    import re
    import subprocess
    import sys
    import threading

    cmd = [
        sys.executable,
        "-m",
        "ami_nb.sim",
        "--port",
        "0",
        "--print-port",
        "--timestampevents",
        "--time-scale",
        "20000",
        "--contact-centre",
        "0.5",
        "--seed",
        "2",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        port = int(re.findall(r"\d+", proc.stdout.readline())[-1])
        with ami_nb.connect(f"ami://admin@127.0.0.1:{port}", secret="amp111", timeout=10) as session:
            line: list[str] = []
            reader = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""))
            reader.start()
            reader.join(60)  # the half-day takes a fraction of a second at this time scale
            assert line and line[0].strip() == "contact-centre day over"
            session.action("Ping")
            events = session.events.frame()
    finally:
        proc.terminate()
        proc.wait(10)
    counts = events["Event"].value_counts()
    assert counts["QueueMemberAdded"] == counts["QueueMemberRemoved"] > 0 and counts["AgentComplete"] > 0

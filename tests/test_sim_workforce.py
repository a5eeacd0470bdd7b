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
    return _day(4.0, 3)


def test_the_day_has_what_the_reports_need(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """Logins and logouts, pauses with several reasons, wrap-up, hold, calls from another queue, every stint
    outcome and every trunk outcome: a report that ignored any of them would fail the checks below."""
    _, truth = day
    a = truth["agents"]
    assert set(a["queue"]) == {"sales", "support", "billing"}
    assert (a.groupby("interface").size() > 1).any()  # overlapping members
    assert set(truth["pauses"]["reason"]) == {"coffee", "lunch", "training", "Auto-Pause"}
    assert truth["pauses"]["in_call"].any() and not truth["pauses"]["in_call"].all()  # breaks pressed on a call
    assert len(truth["ring_no_answer"]) > 0 and len(truth["outages"]) == 2  # ring no answer, a phone gone
    auto = truth["pauses"][truth["pauses"]["reason"] == "Auto-Pause"]
    assert (auto["queues"].map(len) == 1).all()  # autopause=yes pauses in the queue that rang
    assert truth["sessions"]["logout"].notna().all()
    assert (a[["wrapup", "hold", "other_queue", "busy", "talk", "unavailable"]].sum() > 0).all()
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
    for col in ("logged_in", "paused", "idle", "talk", "hold", "wrapup", "other_queue", "busy", "unavailable"):
        gap = (m[col] - m[f"{col}_gt"]).abs()
        assert (gap < TOL).all(), (col, m.loc[gap >= TOL, ["queue", "interface", col, f"{col}_gt"]])
    assert (m["calls"] == m["calls_gt"]).all()
    assert (m["member_name"] == m["member_name_gt"]).all()
    assert not m["partial"].any()  # every login was seen
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
    for col in ("logged_in", "paused", "talk", "hold", "wrapup", "busy", "unavailable", "idle"):
        assert ((rep[col] - gt[col]).abs() < TOL).all(), (col, rep[col], gt[col])
    assert (rep["calls"] == gt["calls"]).all() and (rep["other_queue"] == 0).all()


def test_agent_pauses_per_reason_equal_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    events, truth = day
    # paused as a state: a pause pressed during a call counts from the end of the call's wrap-up
    p = truth["agent_states"][truth["agent_states"]["state"] == "paused"]
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
        ("40_queue_answered.txt", "AgentRingNoAnswer"),
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


@pytest.fixture(scope="module")
def mid_day() -> dict[str, Any]:
    """A day held at 30 %: a second session connects then, asks QueueStatus and QueueSummary, and watches the
    rest of the day; the first session saw all of it."""
    with (
        sim.start(seed=1, time_scale=math.inf, timestampevents=True, start_time=START) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as early,
    ):
        held = pbx.simulate_contact_centre(hours=3.0, seed=3, pause_at=0.3)
        at = held["checkpoint"]
        with ami_nb.connect(pbx.url, secret="amp111", timeout=10) as late:
            status = late.action("QueueStatus")
            summary = late.action("QueueSummary")
            pbx.resume_contact_centre()
            late.action("Ping")
            early.action("Ping")
            events = late.events.frame()
            everything = early.events.frame()
        truth = pbx.contact_centre_truth(since=at)
        full = pbx.contact_centre_truth()
    return {"at": at, "status": status, "summary": summary, "events": events, "everything": everything,
            "truth": truth, "full": full}


def _during(frame: pd.DataFrame, at: pd.Timestamp, start: str, end: str) -> pd.DataFrame:
    return frame[(frame[start] <= at) & (frame[end].isna() | (frame[end] > at))]


def test_queue_status_shows_the_days_queues_as_the_truth_has_them(mid_day: dict[str, Any]) -> None:
    """The day's queues are queues of the model: QueueStatus / QueueSummary at the held moment agree with the
    ground truth (who is logged in, paused and why, on which queue's call, who waits)."""
    at, full = mid_day["at"], mid_day["full"]
    items = mid_day["status"].to_frame(convert=False)
    members = items[items["Event"] == "QueueMember"].set_index(["Queue", "Location"])
    logged = _during(full["sessions"], at, "login", "logout")
    assert sorted(members.index) == sorted(zip(logged["queue"], logged["interface"], strict=True))
    paused = _during(full["member_pauses"], at, "start", "end").set_index(["queue", "interface"])["reason"]
    for key, row in members.iterrows():
        assert row["Paused"] == ("1" if key in paused.index else "0"), key
        assert row["PausedReason"] == paused.get(key, ""), key
        assert row["Wrapuptime"] == str(int(logged.set_index(["queue", "interface"]).loc[key, "wrapuptime"]))
    calls = full["agent_calls"]
    on_call = _during(calls, at, "connect", "complete")
    in_call = {(r.queue, r.interface) for r in on_call.itertuples()}
    assert {k for k, r in members.iterrows() if r["InCall"] == "1"} == in_call
    outage = set(_during(full["outages"], at, "start", "end")["interface"])
    assert {k[1] for k, r in members.iterrows() if r["Status"] == "5"} == outage
    stints = full["stints"]
    waiting = _during(stints, at, "joined", "left").groupby("queue").size()
    params = items[items["Event"] == "QueueParams"].set_index("Queue")
    entries = items[items["Event"] == "QueueEntry"].groupby("Queue").size()
    done = calls[calls["complete"] <= at].groupby("queue").size()
    gone = stints[(stints["outcome"] != "answered") & (stints["left"] <= at)].groupby("queue").size()
    summary = mid_day["summary"].to_frame(convert=False).set_index("Queue")
    for q in ("sales", "support", "billing"):
        assert int(params.loc[q, "Calls"]) == waiting.get(q, 0) == entries.get(q, 0) == int(summary.loc[q, "Callers"])
        assert int(params.loc[q, "Completed"]) == done.get(q, 0)
        assert int(params.loc[q, "Abandoned"]) == gone.get(q, 0)
        assert int(summary.loc[q, "LoggedIn"]) == (logged["queue"] == q).sum()
    assert waiting.sum() > 0 and len(in_call) > 0 and len(paused) > 0  # callers wait, agents talk and pause


def test_a_session_that_connects_mid_day_starts_from_queue_status(mid_day: dict[str, Any]) -> None:
    """agents() of the late session, from the QueueStatus answer at the moment it connected plus the events
    after, equals the truth from that moment, except what no snapshot shows (analysis.members): hold during a
    call already answered counts as talk, a wrap-up already running counts as idle (or paused, when the agent
    had paused during the call)."""
    at, truth, full = mid_day["at"], mid_day["truth"], mid_day["full"]
    frame = pd.concat([A.member_snapshot(mid_day["status"], at), mid_day["events"]], ignore_index=True)
    rep = A.agents(frame).set_index(["queue", "interface"])
    gt = truth["agents"].set_index(["queue", "interface"]).copy()
    assert sorted(rep.index) == sorted(gt.index)
    before = set(zip(*[_during(full["sessions"], at, "login", "logout")[c] for c in ("queue", "interface")],
                     strict=True))
    assert {k for k, r in rep.iterrows() if r["partial"]} == before  # logged in before it connected
    # the expected blind spots, from the truth: each membership's wrap-up states running at `at`
    states = truth["agent_states"]
    first = states[states["start"] == at]
    wrap = first[first["state"].isin(["wrapup", "other_queue"])]
    calls = full["agent_calls"]
    paused_at = _during(full["member_pauses"], at, "start", "end").set_index(["queue", "interface"])
    for r in wrap.itertuples():
        key = (r.queue, r.interface)
        if r.state == "other_queue" and not _during(calls[calls["interface"] == r.interface], at, "connect",
                                                     "complete").empty:
            continue  # another queue's call in progress: InCall in that queue says so
        gt.loc[key, r.state] -= r.seconds
        gt.loc[key, "paused" if key in paused_at.index else "idle"] += r.seconds
    gt["talk"] += gt["hold"]
    rep["talk"] += rep["hold"]
    for col in ("logged_in", "paused", "idle", "talk", "wrapup", "other_queue", "busy", "unavailable"):
        gap = (rep[col] - gt[col]).abs()
        assert (gap < TOL).all(), (col, pd.concat([rep[col], gt[col]], axis=1)[gap >= TOL])
    assert (rep["calls"] == gt["calls"]).all()
    # the early session saw the whole day: its report is the full truth
    early = A.agents(mid_day["everything"]).set_index(["queue", "interface"])
    whole = full["agents"].set_index(["queue", "interface"])
    assert ((early["logged_in"] - whole["logged_in"]).abs() < TOL).all() and not early["partial"].any()


def test_agent_states_equal_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """Segment by segment: the same states, reasons (pause reasons, Auto-Pause, the other queue) and times."""
    events, truth = day
    key = ["queue", "interface", "state", "reason", "start"]
    gt = truth["agent_states"].sort_values(key).reset_index(drop=True)
    rep = A.agent_states(events).sort_values(key).reset_index(drop=True)
    assert len(rep) == len(gt)
    assert (rep[["queue", "interface", "state", "reason"]].to_numpy() == gt[["queue", "interface", "state",
                                                                           "reason"]].to_numpy()).all()
    for c in ("start", "end"):
        assert ((rep[c] - gt[c]).dt.total_seconds().abs() < TOL).all(), c
    assert {"Auto-Pause", "lunch"} <= set(rep["reason"]) and "unavailable" in set(rep["state"])


def test_agent_intervals_equal_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """Per 30 minutes and queue, the staff on average: the truth's state seconds cut at each interval."""
    events, truth = day
    freq = pd.Timedelta("30min")
    rows = []
    for r in truth["agent_states"].itertuples():
        a = r.start
        while a < r.end:
            b = min(r.end, a.floor(freq) + freq)
            rows.append((r.queue, a.floor(freq), r.state, (b - a).total_seconds()))
            a = b
    cut = pd.DataFrame(rows, columns=["queue", "interval", "state", "seconds"])
    g = cut.groupby(["queue", "interval"])
    want = pd.DataFrame({
        "logged_in": g["seconds"].sum(),
        "staffed": cut[cut["state"] != "paused"].groupby(["queue", "interval"])["seconds"].sum(),
        "handling": cut[cut["state"].isin(["talk", "hold", "wrapup"])].groupby(["queue", "interval"])["seconds"].sum(),
    }).fillna(0.0) / freq.total_seconds()
    rep = A.agent_intervals(events, freq="30min").set_index(["queue", "interval"])
    assert sorted(rep.index) == sorted(want.index)
    for c in ("logged_in", "staffed", "handling"):
        assert ((rep[c] - want.loc[rep.index, c]).abs() < 1e-5).all(), c


def test_interval_report_equals_ground_truth(day: tuple[pd.DataFrame, dict[str, Any]]) -> None:
    """Per 30 minutes (by the caller's join): offered, answered, abandoned, timed out, ASA from the stints."""
    events, truth = day
    st = truth["stints"].assign(interval=lambda d: d["joined"].dt.floor("30min"))
    g = st.groupby("interval")
    want = pd.DataFrame({
        "offered": g.size(),
        "answered": g["outcome"].apply(lambda o: (o == "answered").sum()),
        "abandoned": g["outcome"].apply(lambda o: (o == "abandon").sum()),
        "timed_out": g["outcome"].apply(lambda o: (o == "timeout").sum()),
    })
    asa = st[st["outcome"] == "answered"].groupby("interval")["wait"].mean()
    rep = A.interval_report(events, freq="30min")
    rep = rep[rep["offered"] > 0]
    assert list(rep.index) == list(want.index)
    for c in ("offered", "answered", "abandoned", "timed_out"):
        assert (rep[c] == want[c]).all(), c
    assert ((rep["asa"] - asa.reindex(rep.index)).abs() < TOL).all()

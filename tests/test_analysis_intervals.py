"""Queue KPIs, intervals and exports on real Asterisk 22 recordings (40 answered, 41 abandoned, 42 timed out).

Expected values come from the recordings: 40 has four callers, all answered in support (AgentConnect HoldTime
0, 0, 0, 6; AgentComplete TalkTime 4, 5, 3, 4); 41 has three, two answered and one whose channel the driver
hung up 2.5 s after it joined (QueueCallerAbandon, no QUEUESTATUS); 42 has one that Queue()'s 30 s timeout
ended (QueueCallerAbandon HoldTime 30, then VarSet QUEUESTATUS=TIMEOUT).
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import ami_nb
from ami_nb.analysis import intervals as I
from ami_nb.analysis import reports as X
from ami_nb.analysis.kpi import KPIConfig

HERE = Path(__file__).parent / "fixtures" / "transcripts"


@pytest.fixture(scope="module")
def rec() -> dict[int, pd.DataFrame]:
    names = {40: "40_queue_answered", 41: "41_queue_abandon", 42: "42_queue_timeout"}
    return {n: ami_nb.read_transcript(HERE / f"{name}.txt") for n, name in names.items()}


def _header(frame: pd.DataFrame, event: str, key: str) -> pd.Series:
    return pd.to_numeric(frame[frame["Event"] == event][key])


def test_answered_queue_calls(rec):
    k = I.queue_kpis(rec[40]).loc["support"]
    assert (k["offered"], k["answered"], k["abandoned"], k["timed_out"]) == (4, 4, 0, 0)
    assert k["service_level"] == 1.0  # every wait under 20 s
    hold = _header(rec[40], "AgentConnect", "HoldTime")  # whole seconds
    assert abs(k["asa"] - hold.mean()) <= 1 and abs(k["max_wait"] - hold.max()) <= 1
    talk = _header(rec[40], "AgentComplete", "TalkTime")
    assert abs(k["aht"] - talk.mean()) <= 1  # no wrap-up configured
    with_wrap = I.queue_kpis(rec[40], config=KPIConfig(wrapup={"support": 10})).loc["support"]
    assert with_wrap["aht"] == pytest.approx(k["aht"] + 10)


def test_abandon_and_short_abandon(rec):
    k = I.queue_kpis(rec[41]).loc["support"]
    assert (k["offered"], k["answered"], k["abandoned"], k["short_abandoned"]) == (3, 2, 1, 1)
    assert k["abandon_rate"] == pytest.approx(1 / 3)
    assert k["service_level"] == pytest.approx(2 / 3)
    # the caller hung up 2.5 s after joining: a short abandon at 5 s, not at 2 s
    assert I.queue_kpis(rec[41], config=KPIConfig(short_abandon=2)).loc["support", "short_abandoned"] == 0
    excluded = I.queue_kpis(rec[41], config=KPIConfig(exclude_short_abandons=True)).loc["support"]
    assert (excluded["offered"], excluded["abandoned"], excluded["short_abandoned"]) == (2, 0, 1)
    assert excluded["service_level"] == 1.0


def test_timeout_is_not_an_abandon_unless_configured(rec):
    k = I.queue_kpis(rec[42]).loc["support"]
    assert (k["offered"], k["answered"], k["abandoned"], k["timed_out"]) == (1, 0, 0, 1)
    assert abs(k["max_wait"] - 30) <= 1  # the queue's timeout
    counted = I.queue_kpis(rec[42], config=KPIConfig(timeouts_as_abandoned=True)).loc["support"]
    assert (counted["abandoned"], counted["abandon_rate"]) == (1, 1.0)


def test_service_level_threshold_per_queue(rec):
    # the fourth caller of 40 waited about 6 s (HoldTime 6): under a 5 s threshold it misses the service level
    k = I.queue_kpis(rec[40], config=KPIConfig(service_level_by_queue={"support": 5})).loc["support"]
    assert k["service_level"] == pytest.approx(3 / 4)
    assert k["answered_within_10"] == 1.0


def test_intervals_add_up_and_peak_waiting(rec):
    frame = pd.concat([rec[40], rec[41], rec[42]], ignore_index=True)
    total = I.queue_kpis(frame).loc["support"]
    for freq in ("15min", "30min", "1h"):
        rep = I.interval_report(frame, freq=freq)
        assert rep.attrs["freq"] == freq
        for c in ("offered", "answered", "abandoned", "timed_out"):
            assert rep[c].sum() == total[c]
    rep = I.interval_report(frame, freq="15min")
    # Asterisk's Count on QueueCallerJoin is the callers in the queue once this one joined
    joins = _header(frame, "QueueCallerJoin", "Count")
    assert rep["peak_waiting"].max() == joins.max()
    by_hour = I.interval_report(frame, by="hour")
    assert by_hour["offered"].sum() == total["offered"]
    assert set(by_hour.index) <= set(range(24))
    assert I.interval_report(frame, by="weekday")["offered"].sum() == total["offered"]
    with pytest.raises(ValueError, match="by must be one of"):
        I.interval_report(frame, by="month")


def test_exports_csv_excel_and_html(rec, tmp_path):
    reports = X.contact_centre_reports(rec[41])
    assert set(reports) == {"calls", "queue_stints", "queues", "intervals", "agents", "pauses", "staffing", "trunks"}
    files = X.export(reports, tmp_path / "csv")
    assert len(files) == len(reports)
    back = pd.read_csv(tmp_path / "csv" / "queues.csv", index_col=0)
    assert back.loc["support", "offered"] == 3
    (book,) = X.export(reports, tmp_path / "day.xlsx")
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == list(reports)
    header = [c.value for c in wb["queues"][1]]
    assert header[:3] == ["queue", "offered", "answered"]
    page = X.html_report(rec[41], tmp_path / "day.html", title="Support, 2 Dec")
    assert (tmp_path / "day.html").read_text(encoding="utf-8") == page
    assert "<h1>Support, 2 Dec</h1>" in page and "Pauses by reason" in page and "<img" in page
    with pytest.raises(ValueError, match="at least one report"):
        X.export({}, tmp_path / "none")


def test_aht_takes_the_wrapup_the_members_events_show():
    """Without KPIConfig.wrapup, AHT adds the answering member's Wrapuptime (QueueMemberStatus)."""
    t0 = pd.Timestamp("2026-12-01 09:00:00", tz="UTC")
    member = {"Queue": "q", "Interface": "PJSIP/7001", "MemberName": "Ann"}
    caller = {"Uniqueid": "c1", "Linkedid": "c1", "Channel": "PJSIP/trunk-00000001"}
    rows = [
        (0, {"Event": "QueueMemberStatus", "Wrapuptime": "25", "Status": "1", "Paused": "0", **member}),
        (1, {"Event": "Newchannel", "ChannelState": "4", "ChannelStateDesc": "Ring", **caller}),
        (2, {"Event": "QueueCallerJoin", "Queue": "q", "Position": "1", "Count": "1", **caller}),
        (5, {"Event": "QueueCallerLeave", "Queue": "q", "Count": "0", **caller}),
        (5, {"Event": "AgentConnect", "HoldTime": "3", "DestChannel": "PJSIP/7001-00000002", **member, **caller}),
        (65, {"Event": "AgentComplete", "TalkTime": "60", "Reason": "agent", **member, **caller}),
        (65, {"Event": "Hangup", "Cause": "16", **caller}),
    ]
    frame = pd.DataFrame([{"received": t0 + pd.Timedelta(seconds=s), **r} for s, r in rows])
    k = I.queue_kpis(frame).loc["q"]
    talk = I.prepare(frame).calls["talk"].iloc[0]
    assert k["aht"] == pytest.approx(talk + 25)
    assert I.queue_kpis(frame, config=KPIConfig(wrapup=5)).loc["q", "aht"] == pytest.approx(talk + 5)

"""ami_nb.analysis against real Asterisk 22 event streams (transcripts) and the simulator's ground truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ami_nb import analysis as A
from ami_nb.recording import read_transcript

T = Path(__file__).parent / "fixtures" / "transcripts"


@pytest.fixture(scope="module")
def t19() -> pd.DataFrame:
    return read_transcript(T / "19_originate_async_100.txt")


@pytest.fixture(scope="module")
def t32() -> pd.DataFrame:
    return read_transcript(T / "32_originate_sync_and_failures.txt")


# -- calls from real transcripts ----------------------------------------------------------------------------
def test_answered_call_with_nested_dial(t19: pd.DataFrame) -> None:
    c = A.calls(t19)
    assert len(c) == 1
    row = c.iloc[0]
    assert row["linkedid"] == "1795680640.23"
    assert row["disposition"] == "answered"
    assert (row["caller_num"], row["caller_name"], row["dialled"]) == ("5551000", "Demo Caller", "100")
    assert row["answered_by"] == "Local/200@demo"
    assert row["channels"] == 4
    assert (row["cause"], row["cause_txt"]) == (16, "Normal Clearing")
    assert not row["partial"] and not row["in_progress"] and not row["transferred"]
    # Answered means the caller was bridged: not the Originate's own DialEnd ANSWER of Local/100@demo;1 at
    # +1.004 s, but "BridgeEnter Channel=Local/100@demo-0000000b;2 ... BridgeNumChannels=2" at +2.509 s (joining
    # Local/200@demo-0000000c;1); the last "Hangup Channel=Local/200@demo-0000000c;2" is at +4.013 s.
    assert row["talk"] == pytest.approx(4.013 - 2.509, abs=0.05)
    assert row["hop"] is None or pd.isna(row["hop"])  # 200's own dialplan answered: no hop beyond it
    assert row["duration"] == pytest.approx(row["wait"] + row["talk"])
    assert row["start"] <= row["answer"] <= row["end"]


def test_failure_outcomes_of_originates(t32: pd.DataFrame) -> None:
    c = A.calls(t32).set_index("linkedid")
    expected = {
        "1795680660.29": ("400", "busy", 17),  # Busy(3)
        "1795680660.31": ("500", "no answer", 16),  # Dial(Local/999,3) never answered
        "1795680660.32": ("800", "failed", 34),  # Congestion(2)
        "1795680660.33": ("nosuchexten", "failed", 0),
        "1795680660.27": ("200", "answered", 0),  # the synchronous originate, already up when events began
    }
    got = {lid: (r.dialled, r.disposition, r.cause) for lid, r in c.iterrows()}
    assert got == expected
    assert c.loc["1795680660.31", "wait"] == pytest.approx(3.0, abs=0.1)  # the dial timeout
    assert c["talk"].drop("1795680660.27").isna().all()  # nothing else was answered
    # answered before the recording began: its wait is unknown, not its whole duration
    assert np.isnan(c.loc["1795680660.27", "wait"]) and c.loc["1795680660.27", "duration"] > 0
    assert c["answered_by"].isna().all()


def test_stream_joined_mid_call_is_flagged_partial(t32: pd.DataFrame, t19: pd.DataFrame) -> None:
    c = A.calls(t32).set_index("linkedid")
    # events were turned on after the busy originate's first channel and the synchronous call were created
    assert c.loc["1795680660.29", "partial"] and c.loc["1795680660.27", "partial"]
    assert not c.loc["1795680660.31", "partial"]
    # cut a complete call in the middle: the rest still gives one call, partial, with its outcome
    ev = t19["Event"].astype(str)
    cut = int(np.flatnonzero(ev == "BridgeEnter")[0])
    late = t19.iloc[cut:].reset_index(drop=True)
    got = A.calls(late)
    assert len(got) == 1
    row = got.iloc[0]
    assert row["partial"] and row["disposition"] == "answered" and not row["in_progress"]
    assert row["end"] == A.calls(t19).iloc[0]["end"]
    ch = A.channels(late)
    assert ch["partial"].all() and ch["created"].isna().all() and ch["hungup"].notna().all()


def test_call_in_progress_has_no_end(t19: pd.DataFrame) -> None:
    ev = t19["Event"].astype(str)
    early = t19.iloc[: int(np.flatnonzero(ev == "Hangup")[0])]
    row = A.calls(early).iloc[0]
    assert row["in_progress"] and pd.isna(row["end"]) and pd.isna(row["duration"])
    assert row["disposition"] == "answered"  # already answered, still up
    ringing = t19.iloc[: int(np.flatnonzero(ev == "DialBegin")[0]) + 1]
    row = A.calls(ringing).iloc[0]
    assert row["in_progress"] and pd.isna(row["disposition"])


def test_filtered_stream_and_missing_columns(t32: pd.DataFrame) -> None:
    filtered = read_transcript(T / "23_filter.txt")  # only Newchannel, Hangup, DialEnd, OriginateResponse got through
    c = A.calls(filtered).set_index("linkedid")
    assert c.loc["1795680852.73", "disposition"] == "no answer"
    assert c.loc["1795680852.74", "disposition"] == "answered"  # its channels hung up while Up
    assert c.loc["1795680852.79", "in_progress"]  # the ;2 channel's Hangup was filtered out
    slim = t32.drop(columns=["Cause-txt", "CallerIDName", "ChannelStateDesc", "DialStatus", "Exten"])
    s = A.calls(slim).set_index("linkedid")
    assert s.loc["1795680660.29", "disposition"] == "busy"  # from the hangup cause alone
    assert s["cause_txt"].isna().all() and s["dialled"].isna().all()
    assert list(A.calls(t32[["received", "Event"]]).columns) == list(A.calls(t32).columns)
    assert A.calls(t32[["received", "Event"]]).empty


def test_non_call_events_are_ignored() -> None:
    for name in ("28_db_vars_misc.txt", "17_queuestatus.txt", "15_coreshowchannels.txt", "01_login_success.txt"):
        df = read_transcript(T / name)
        assert A.calls(df).empty, name
        assert A.channels(df).empty, name
    assert A.calls(pd.DataFrame()).empty
    assert A.queue_stats(pd.DataFrame()).empty
    assert A.concurrency(pd.DataFrame()).empty


def test_timestamp_header_wins_over_received(t19: pd.DataFrame) -> None:
    shifted = t19.copy()
    shifted["Timestamp"] = shifted["received"] + pd.Timedelta(hours=1)
    a, b = A.calls(t19).iloc[0], A.calls(shifted).iloc[0]
    assert b["start"] - a["start"] == pd.Timedelta(hours=1)
    assert b["duration"] == pytest.approx(a["duration"])
    # epoch-seconds text, as a frame built without the store would hold it
    text = t19.assign(Timestamp=(t19["received"].astype("int64") / 1e9 + 60).map("{:.6f}".format))
    assert (A.calls(text).iloc[0]["start"] - a["start"]).total_seconds() == pytest.approx(60, abs=1e-5)


def test_channels_lifecycle(t19: pd.DataFrame) -> None:
    ch = A.channels(t19).set_index("uniqueid")
    assert len(ch) == 4 and (ch["linkedid"] == "1795680640.23").all()
    first = ch.loc["1795680640.23"]
    assert first["channel"] == "Local/100@demo-0000000b;1"
    assert (first["context"], first["exten"]) == ("demo", "100")
    assert (first["caller_num"], first["caller_name"]) == ("5551000", "Demo Caller")  # set after Newchannel
    assert first["cause"] == 16 and not first["partial"]
    assert first["created"] <= first["answered"] <= first["hungup"]
    assert ch.loc["1795680641.26", "exten"] == "200"
    assert ch.loc["1795680641.26", "talk"] == pytest.approx(1.5, abs=0.2)  # 200: Answer, Wait(2) cut by the hangup


def test_against_cdr_events(t19: pd.DataFrame) -> None:
    """Each call's disposition and duration agree with the CDR of its first channel (cdr_manager)."""
    for frame in (t19, read_transcript(T / "22_events_off_on.txt")):
        cdr = A.cdrs(frame).set_index("uniqueid")
        c = A.calls(frame).set_index("linkedid")
        both = c.index.intersection(cdr.index)
        assert len(both) >= 1
        for lid in both:
            assert c.loc[lid, "disposition"] == cdr.loc[lid, "disposition"]
            # CDR times are whole seconds: the durations agree within a second
            assert abs(c.loc[lid, "duration"] - cdr.loc[lid, "duration"]) <= 1.0
            src = cdr.loc[lid, "source"]
            assert c.loc[lid, "caller_num"] == src if src else pd.isna(c.loc[lid, "caller_num"])


def test_transfer_flag(t19: pd.DataFrame) -> None:
    xfer = pd.DataFrame(
        {
            "received": [t19["received"].iloc[-1]],
            "Event": ["BlindTransfer"],
            "Result": ["Success"],
            "TransfererLinkedid": ["1795680640.23"],
            "TransfereeLinkedid": ["1795680640.23"],
        }
    )
    c = A.calls(pd.concat([t19, xfer], ignore_index=True))
    assert c["transferred"].tolist() == [True]
    failed = xfer.assign(Result="Fail")
    assert A.calls(pd.concat([t19, failed], ignore_index=True))["transferred"].tolist() == [False]


def test_concurrency_matches_interval_count(t32: pd.DataFrame) -> None:
    conc = A.concurrency(t32, "1s")
    c = A.calls(t32)
    for when, row in conc.iterrows():
        up = ((c["start"] <= when) & (c["end"] > when)).sum()  # independent count at each bin's start
        assert row["active"] == up, when
        assert row["peak"] >= row["active"]
        assert row["started"] == ((c["start"] >= when) & (c["start"] < when + pd.Timedelta("1s"))).sum()
    assert conc["started"].sum() == len(c)
    assert conc["peak"].max() == 4  # four originates in flight at once
    # the same frame with times in another unit gives the same answers
    us = t32.assign(received=t32["received"].astype("datetime64[us, UTC]"))
    pd.testing.assert_frame_equal(A.concurrency(us, "1s"), conc)
    pd.testing.assert_frame_equal(A.calls(us), c)


def test_disposition_summary(t32: pd.DataFrame) -> None:
    s = A.disposition_summary(t32)
    assert s["calls"].to_dict() == {"answered": 1, "busy": 1, "no answer": 1, "failed": 2}
    assert s["share"].sum() == pytest.approx(1.0)
    assert list(s.index) == [d for d in A.DISPOSITIONS if d in s.index]


def test_plots_render(t32: pd.DataFrame) -> None:
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    for fn in (A.plot_volume, lambda f: A.plot_concurrency(f, "1s"), A.plot_wait_distribution):
        ax = fn(t32)
        assert ax.has_data()
        plt.close(ax.figure)


# -- against the simulated PBX's ground truth (over a real loopback socket) --------------------------------
@pytest.fixture(scope="module")
def hour() -> tuple[pd.DataFrame, pd.DataFrame]:
    """An hour of simulated traffic (every scenario), as a live session received it, and the ground truth."""
    import ami_nb
    from ami_nb import sim

    with (
        sim.start(seed=3, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as session,
    ):
        truth = pbx.simulate(3600, rate=240, timeout=60)
        session.action("Ping")  # a barrier: every event sent before its answer is in the store
        events = session.events.frame()
    return events, truth


def test_calls_match_ground_truth(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, truth = hour
    c = A.calls(events)
    assert set(truth["scenario"]) == {"answered", "busy", "noanswer", "congestion", "queue", "abandon", "transfer"}
    m = truth.merge(c, on="linkedid", how="outer", suffixes=("_gt", ""), validate="one_to_one", indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"]
    assert (m["disposition"] == m["disposition_gt"]).all()
    for col in ("start", "answer", "end"):
        gap = (m[col] - m[f"{col}_gt"]).abs()
        assert (gap.dropna() < pd.Timedelta(milliseconds=1)).all(), col
        assert (m[col].isna() == m[f"{col}_gt"].isna()).all(), col
    assert (m["cause"] == m["hangup_cause"]).all()
    assert (m["transferred"] == m["transferred_gt"]).all() and m["transferred"].any()
    assert (m["caller_num"] == m["caller"]).all()
    assert m["queue"].fillna("").eq(m["queue_gt"].fillna("")).all()
    assert m["agent"].fillna("").eq(m["agent_gt"].fillna("")).all()
    direct = m[m["scenario"].isin(["answered", "busy", "noanswer", "congestion"])]
    assert (direct["dialled"] == direct["callee"]).all()
    answered = m[m["disposition"] == "answered"]
    assert answered["answered_by"].notna().all() and (answered["talk"] > 0).all()
    assert not m["partial"].any() and not m["in_progress"].any()
    assert np.allclose(m["duration"], m["wait"] + m["talk"].fillna(0))


def test_transferred_calls_are_credited_to_who_answered(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """After a blind transfer, answered_by stays the party that answered (whose answer time `answer` is), not the
    transfer target; the number -> device map comes from the direct answered calls."""
    events, truth = hour
    c = A.calls(events).merge(truth, on="linkedid", suffixes=("", "_gt"))
    device = dict(c.loc[c["scenario"] == "answered", ["dialled", "answered_by"]].drop_duplicates().to_numpy())
    xfer = c[c["scenario"] == "transfer"]
    assert len(xfer) and xfer["dialled"].isin(list(device)).all()
    assert (xfer["answered_by"] == xfer["dialled"].map(device)).all()


def test_live_summary_counts_ended_calls_as_kpis_do(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, _ = hour
    t = A._times(events)
    calls_t = t[events["Linkedid"].notna()]  # FullyBooted has no Timestamp: its receive time is the wall clock
    half = A.calls(events[(t < calls_t.min() + (calls_t.max() - calls_t.min()) / 2).to_numpy()])
    assert half["in_progress"].any()
    summary = A.disposition_summary(half)
    assert summary["calls"].sum() == A.kpis(half)["calls"] == (~half["in_progress"]).sum()
    assert summary.loc["answered", "share"] == pytest.approx(A.kpis(half)["answer_rate"])


def test_queue_stats_match_ground_truth(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, truth = hour
    q = A.queue_stats(events, service_level=20)
    tq = truth[truth["queue"].notna()]
    assert list(q.index) == sorted(tq["queue"].unique())
    row = q.loc["support"]
    assert row["offered"] == len(tq)
    assert row["answered"] == (tq["disposition"] == "answered").sum()
    assert row["abandoned"] == (tq["disposition"] == "abandoned").sum()
    # waits: join to connect/leave, a little less than the ground truth's start to answer/end
    c = A.calls(events).set_index("linkedid")
    t = tq.set_index("linkedid")
    until = t["answer"].fillna(t["end"])
    gt_wait = (until - t["start"]).dt.total_seconds()
    qw = c.loc[t.index, "queue_wait"]
    assert ((gt_wait - qw) >= 0).all() and ((gt_wait - qw) < 1.0).all()
    assert row["wait_mean"] == pytest.approx(qw.mean())
    assert row["wait_p90"] == pytest.approx(qw.quantile(0.9))
    fast = ((t["disposition"] == "answered") & (qw <= 20)).sum()
    assert row["service_level"] == pytest.approx(fast / len(t))
    agents = A.queue_stats(events, by="agent").loc["support"]
    assert agents["answered"].to_dict() == tq[tq["agent"].notna()].groupby("agent").size().to_dict()
    ev = events["Event"].astype(str)
    assert agents["offered"].sum() == (ev == "AgentCalled").sum()  # every time an agent was rung
    assert agents["ring_no_answer"].sum() == (ev == "AgentRingNoAnswer").sum()
    assert (agents["answer_rate"] == agents["answered"] / agents["offered"]).all()
    talk = pd.to_numeric(events.loc[(ev == "AgentComplete").to_numpy(), "TalkTime"]).mean()
    assert (agents["talk_mean"] * agents["answered"]).sum() / agents["answered"].sum() == pytest.approx(talk)
    with pytest.raises(ValueError, match="by must be"):
        A.queue_stats(events, by="caller")


def test_concurrency_matches_ground_truth(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, truth = hour
    conc = A.concurrency(events, "5min")
    for when, row in conc.iterrows():
        up = ((truth["start"] <= when) & (truth["end"] > when)).sum()
        assert row["active"] == up, when
    starts = truth.set_index("start").resample("5min", origin=conc.index[0]).size()
    assert conc["started"].to_numpy().tolist() == starts.reindex(conc.index, fill_value=0).tolist()
    assert (conc["peak"] >= conc["active"]).all() and conc["peak"].max() >= 2


def test_channels_of_simulated_calls(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, _ = hour
    ch = A.channels(events)
    c = A.calls(events).set_index("linkedid")
    assert ch.groupby("linkedid").size().reindex(c.index).tolist() == c["channels"].tolist()
    assert ch["hungup"].notna().all() and not ch["partial"].any()
    assert (ch["created"] <= ch["hungup"]).all()
    ok = ch["answered"].notna()
    assert ((ch.loc[ok, "answered"] >= ch.loc[ok, "created"]) & (ch.loc[ok, "talk"] >= 0)).all()
    assert ch["channel"].str.startswith(("PJSIP/", "Local/")).all()


def test_simulated_calls_agree_with_their_cdrs(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, _ = hour
    m = A.calls(events).merge(A.cdrs(events), left_on="linkedid", right_on="uniqueid", suffixes=("", "_cdr"))
    assert len(m) == len(A.calls(events))
    answered = m["disposition"] == "answered"
    assert (m.loc[answered, "disposition_cdr"] == "answered").all()
    # a queue caller is answered by the dialplan's Answer() before Queue(): its CDR says ANSWERED even when no
    # agent took the call; every other call's CDR has our disposition
    queued = m["queue"].notna()
    assert (m.loc[queued, "disposition_cdr"] == "answered").all()
    direct = m[~queued]
    assert set(direct["disposition"]) == {"answered", "busy", "no answer", "failed"}
    assert (direct["disposition_cdr"] == direct["disposition"]).all()
    assert ((m["duration"] - m["duration_cdr"].astype(float)).abs() < 1.0).all()


def test_joined_mid_hour(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """A session that connected half-way: calls already up are partial, their end and outcome still right."""
    events, truth = hour
    t = A._times(events)
    calls_t = t[events["Linkedid"].notna()]  # FullyBooted has no Timestamp: its receive time is the wall clock
    cut = calls_t.min() + (calls_t.max() - calls_t.min()) / 2
    late = events[(t >= cut).to_numpy()].reset_index(drop=True)
    c = A.calls(late).merge(truth, on="linkedid", suffixes=("", "_gt"))
    before = c["start_gt"] < cut
    assert before.any() and (~before).any()
    assert c.loc[before, "partial"].all() and not c.loc[~before, "partial"].any()
    assert ((c["end"] - c["end_gt"]).abs() < pd.Timedelta(milliseconds=1)).all()
    decided_late = c["answer_gt"].fillna(c["end_gt"]) >= cut
    late_q = c["queue_gt"].notna() & (c["start_gt"] < cut)  # a queue caller's join may be before the cut
    ok = decided_late & ~late_q
    assert (c.loc[ok, "disposition"] == c.loc[ok, "disposition_gt"]).all()
    assert len(c) == truth["end"].ge(cut).sum()  # every call still up after the cut, no other


def test_overloaded_queue_timeouts_and_abandons() -> None:
    """One agent, long calls: callers give up (abandoned) or reach the queue's timeout (no answer)."""
    import ami_nb
    from ami_nb import sim

    with (
        sim.start(seed=4, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as session,
    ):
        truth = pbx.simulate(1800, rate=150, mix={"queue": 1, "abandon": 0.3}, agents=1, talk_mean=300, timeout=60)
        session.action("Ping")
        events = session.events.frame()
    outcome = truth["disposition"].value_counts()
    assert outcome["no answer"] > 0 and outcome["abandoned"] > 0 and outcome["answered"] > 0
    c = A.calls(events).merge(truth, on="linkedid", suffixes=("", "_gt"))
    assert len(c) == len(truth) and (c["disposition"] == c["disposition_gt"]).all()
    q = A.queue_stats(events).loc["support"]
    assert (q["offered"], q["answered"], q["abandoned"], q["timed_out"]) == (
        len(truth),
        outcome["answered"],
        outcome["abandoned"],
        outcome["no answer"],
    )
    timed_out = c[c["disposition"] == "no answer"]
    assert (timed_out["queue_wait"] > 250).all()  # they waited for the queue's timeout
    assert A.queue_stats(events, by="agent").index.tolist() == [("support", "Agent One")]


def test_demo_runs_the_analytics_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m ami_nb.demo``: the notebook runs headless, the HTML lands in --out, the headline is printed."""
    pytest.importorskip("nbclient")
    from ami_nb import demo

    assert demo.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    html = tmp_path / "02_call_analytics.html"
    assert html.is_file() and "Call analytics" in html.read_text(encoding="utf-8")
    assert str(html.resolve()) in out
    table = out[out.index("disposition") : out.index("executed notebook")]
    for word in ("answered", "busy", "no answer", "failed", "abandoned", "wait_p90", "service_level", "support"):
        assert word in table
    assert demo.main(["--notebook", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path)]) != 0


def test_kpis_match_ground_truth(hour: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, truth = hour
    k = A.kpis(events, service_level=20)
    ok = truth[truth["disposition"] == "answered"]
    assert k["calls"] == len(truth) and k["in_progress"] == 0
    assert k["answered"] == len(ok)
    assert k["answer_rate"] == pytest.approx(len(ok) / len(truth))
    q = truth[truth["queue"].notna()]
    assert k["abandon_rate"] == pytest.approx((q["disposition"] == "abandoned").mean())
    assert k["talk_mean"] == pytest.approx((ok["end"] - ok["answer"]).dt.total_seconds().mean(), abs=1e-3)
    assert k["wait_mean"] == pytest.approx((ok["answer"] - ok["start"]).dt.total_seconds().mean(), abs=1e-3)
    assert k["transferred"] == truth["transferred"].sum()
    steps = pd.concat([pd.Series(1, index=truth["start"]), pd.Series(-1, index=truth["end"])]).sort_index()
    assert k["peak_concurrent"] == steps.groupby(level=0).sum().cumsum().max()
    assert k["service_level"] == pytest.approx(A.queue_stats(events, 20).loc["support", "service_level"])
    empty = A.kpis(pd.DataFrame())
    assert empty["calls"] == 0 and np.isnan(empty["answer_rate"])

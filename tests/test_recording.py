"""ami_nb.recording: transcripts replayed into event frames; Parquet and JSON Lines round trips."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ami_nb.protocol import Parser
from ami_nb.recording import (
    find_timeline,
    load_transcript,
    read_jsonl,
    read_parquet,
    read_transcript,
    to_jsonl,
    to_parquet,
)
from ami_nb.store import EventStore
from ami_nb.transcript import iter_reads

T = Path(__file__).parent / "fixtures" / "transcripts"
CALLS = ["19_originate_async_100", "20_limited_permission_denied", "22_events_off_on", "23_filter"]
CALLS += ["28_db_vars_misc", "32_originate_sync_and_failures"]


def _events(name: str) -> list:
    return [m for m in Parser().feed((T / f"{name}.txt").read_bytes()) if m.is_event]


@pytest.mark.parametrize("name", CALLS)
def test_read_transcript_matches_a_live_store(name: str) -> None:
    """The frame equals what a store fed the same events at the same read times builds."""
    df = read_transcript(T / f"{name}.txt")
    events = _events(name)
    assert len(df) == len(events)
    assert df["Event"].astype(str).tolist() == [m.event for m in events]
    # the same events, fed per timeline read, through a store by hand
    store = EventStore()
    parser = Parser()
    base = df["received"].iloc[0].value / 1e9 - _first_event_t(name)
    for t, chunk in iter_reads(T / f"{name}.txt"):
        store.extend([m for m in parser.feed(chunk) if m.is_event], base + t)
    pd.testing.assert_frame_equal(df, store.frame())
    assert df.attrs["source"] == f"{name}.txt"


def _first_event_t(name: str) -> float:
    parser = Parser()
    for t, chunk in iter_reads(T / f"{name}.txt"):
        if any(m.is_event for m in parser.feed(chunk)):
            return t
    raise AssertionError("no event")


def test_times_come_from_the_timeline_and_the_stream() -> None:
    df = read_transcript(T / "19_originate_async_100.txt")
    # SuccessfulAuth's EventTV (2026-11-26T08:10:39.042) anchors the connection's clock
    auth = df[df["Event"] == "SuccessfulAuth"]["received"].iloc[0]
    assert abs(auth - pd.Timestamp("2026-11-26T08:10:39.042Z")) < pd.Timedelta(microseconds=1)  # float seconds
    span = (df["received"].max() - df["received"].min()).total_seconds()
    assert 3 < span < 25  # the timeline spreads the reads over the capture's seconds
    assert df["received"].is_monotonic_increasing
    # a Newchannel's Uniqueid gives the clock when nothing else does (events off at login)
    d32 = read_transcript(T / "32_originate_sync_and_failures.txt")
    assert d32["received"].min().floor("min") == pd.Timestamp("2026-11-26T08:11:00Z")
    # an explicit start wins, and without the timeline every event shares it
    flat = read_transcript(T / "19_originate_async_100.txt", start="2030-01-01", timeline=False)
    assert (flat["received"] == pd.Timestamp("2030-01-01", tz="UTC")).all()
    assert len(flat) == len(df)


def test_sibling_timeline_with_epoch(tmp_path: Path) -> None:
    src = T / "22_events_off_on.txt"
    dst = tmp_path / "rec.txt"
    shutil.copy(src, dst)
    assert find_timeline(dst) is None
    no_tl = read_transcript(dst)
    assert no_tl["received"].nunique() == 1
    lines = (T / "timeline" / "22_events_off_on.timeline.jsonl").read_text().splitlines()
    meta = json.dumps({"t": 0.0, "dir": "meta", "epoch": 1_800_000_000.25})
    (tmp_path / "rec.timeline.jsonl").write_text("\n".join([meta, *lines]) + "\n")
    assert find_timeline(dst) == tmp_path / "rec.timeline.jsonl"
    df = read_transcript(dst)
    first_t = _first_event_t("22_events_off_on")
    assert df["received"].iloc[0].value / 1e9 == pytest.approx(1_800_000_000.25 + first_t, abs=1e-6)
    assert df["received"].nunique() > 1


def test_bad_timeline_is_refused(tmp_path: Path) -> None:
    dst = tmp_path / "x.txt"
    shutil.copy(T / "19_originate_async_100.txt", dst)
    (tmp_path / "x.timeline.jsonl").write_text('{"t": 0, "dir": "in", "data": "Asterisk Call Manager/11.0.0\\r\\n"}\n')
    with pytest.raises(ValueError, match="do not join"):
        read_transcript(dst)
    (tmp_path / "x.timeline.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        read_transcript(dst)


def test_reconnect_inside_a_recording(tmp_path: Path) -> None:
    one = (T / "22_events_off_on.txt").read_bytes()
    two = (T / "19_originate_async_100.txt").read_bytes()
    dst = tmp_path / "both.txt"
    dst.write_bytes(one + two)  # a second banner in the middle, as after a reconnect
    df = read_transcript(dst)
    assert len(df) == len(_events("22_events_off_on")) + len(_events("19_originate_async_100"))


def test_stream_without_banner_and_load_into_store(tmp_path: Path) -> None:
    data = (T / "32_originate_sync_and_failures.txt").read_bytes()
    dst = tmp_path / "cut.txt"
    dst.write_bytes(data[data.index(b"\r\n") + 2 :])
    assert len(read_transcript(dst)) == len(_events("32_originate_sync_and_failures"))
    store = EventStore()
    load_transcript(T / "22_events_off_on.txt", store=store)
    load_transcript(T / "19_originate_async_100.txt", store=store)
    assert store.total == len(_events("22_events_off_on")) + len(_events("19_originate_async_100"))


@pytest.mark.parametrize("name", [*CALLS, "17_queuestatus", "16_status"])
def test_parquet_round_trip(tmp_path: Path, name: str) -> None:
    pytest.importorskip("pyarrow")
    df = read_transcript(T / f"{name}.txt")
    back = read_parquet(to_parquet(df, tmp_path / "ev.parquet"))
    pd.testing.assert_frame_equal(df, back)
    assert back.attrs["source"] == f"{name}.txt"


@pytest.mark.parametrize("name", [*CALLS, "17_queuestatus", "16_status"])
def test_jsonl_round_trip(tmp_path: Path, name: str) -> None:
    df = read_transcript(T / f"{name}.txt")
    path = to_jsonl(df, tmp_path / "ev.jsonl")
    pd.testing.assert_frame_equal(df, read_jsonl(path))


def test_round_trips_keep_dtypes_and_oddities(tmp_path: Path) -> None:
    df = read_transcript(T / "19_originate_async_100.txt")
    assert str(df["received"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(df["Event"].dtype, pd.CategoricalDtype)
    assert str(df["Cause"].dtype) == "Int64"
    assert df["Uniqueid"].dropna().iloc[0] == "1795680640.23"  # an identifier, not a float
    user = df[df["Event"] == "UserEvent"].iloc[0]
    assert user["Exten"] == ("100", "100")  # a dialplan UserEvent repeats Exten
    chanvars = df["ChanVariable"].dropna()
    assert all(isinstance(v, tuple) for v in chanvars)
    # a frame with a Timestamp header, as timestampevents=yes gives
    stamped = df.assign(Timestamp=df["received"] + pd.Timedelta(microseconds=1))
    text = to_jsonl(stamped, tmp_path / "s.jsonl").read_text().splitlines()[0]
    assert json.loads(text)["Timestamp"].count(".") == 1
    back = read_jsonl(tmp_path / "s.jsonl")
    assert (back["Timestamp"] - stamped["Timestamp"]).abs().max() < pd.Timedelta(microseconds=1)
    lines = [json.loads(x) for x in text.splitlines()]
    assert "Cause" not in lines[0]  # missing keys are left out


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"Event": "Hangup"}\n[1, 2]\n')
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(p)
    p.write_text('{"Event": "Hangup", "Uniqueid": "1.2"}\n\n{"Event": "Newchannel"}\n')
    got = read_jsonl(p)
    assert got["Event"].astype(str).tolist() == ["Hangup", "Newchannel"]
    assert (got["received"] == pd.Timestamp(0, tz="UTC")).all()


def test_session_recording_reads_back_as_the_live_frame(tmp_path: Path) -> None:
    """``session.record`` against the simulated PBX, replayed: the same events, columns and dtypes as live."""
    import ami_nb
    from ami_nb import analysis, sim

    path = tmp_path / "live.txt"
    with (
        sim.start(seed=11, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=10) as session,
    ):
        session.action("Ping")
        before = session.events.total  # FullyBooted, SuccessfulAuth: before the recording began
        rec = session.record(path)
        pbx.simulate(900, rate=240, timeout=60)
        session.action("Ping")  # every event sent so far has reached the store
        rec.stop()
        live = session.events.frame(after=before)
    replay = read_transcript(path)
    assert len(live) > 300
    # the raw stream has no read times: everything else must be equal, dtypes included. The live store orders
    # columns, and categories, by first sight since login, so FullyBooted's keys and names come earlier there.
    a, b = live.drop(columns="received"), replay.drop(columns="received")
    pd.testing.assert_frame_equal(a, b, check_like=True, check_categorical=False)
    assert {c: type(t) for c, t in a.dtypes.items()} == {c: type(t) for c, t in b.dtypes.items()}
    # the Timestamp headers carry the simulated clock, so the analysis agrees too
    pd.testing.assert_frame_equal(analysis.calls(live), analysis.calls(replay))
    # and with a timeline beside it, the read times come back as well
    chunks = [{"t": 0.0, "dir": "meta", "epoch": live["received"].iloc[0].value / 1e9}]
    data = path.read_bytes()
    chunks.append({"t": 0.0, "dir": "in", "data": data.decode("latin-1")})
    (tmp_path / "live.timeline.jsonl").write_text("\n".join(json.dumps(c) for c in chunks))
    timed = read_transcript(path)
    assert (timed["received"] == live["received"].iloc[0]).all()


def test_optional_extras_name_the_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from ami_nb import analysis

    df = read_transcript(T / "22_events_off_on.txt")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install ami_nb\[parquet\]"):
        to_parquet(df, tmp_path / "x.parquet")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install ami_nb\[plot\]"):
        analysis.plot_volume(df)

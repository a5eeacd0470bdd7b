"""The transcript format (ami_nb.transcript): the writer, the reads with their times, banners mid-stream; and its
readers (recording, the replay server) over what the writer wrote."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from rawclient import RawAMI

from ami_nb.recording import read_transcript
from ami_nb.sim.replay import load_events, load_timed_events, start_replay
from ami_nb.transcript import (
    TranscriptWriter,
    find_timeline,
    iter_connections,
    iter_reads,
    timeline_epoch,
    timeline_path,
)

T = Path(__file__).parent / "fixtures" / "transcripts"


def _fake_clock(times: list[float]) -> object:
    it = iter(times)
    return lambda: next(it)


@pytest.mark.parametrize("name", ["19_originate_async_100", "22_events_off_on", "32_originate_sync_and_failures"])
def test_reads_are_the_timeline_s_in_records(name: str) -> None:
    raw = [json.loads(line) for line in (T / "timeline" / f"{name}.timeline.jsonl").read_text().splitlines()]
    expected = [(r["t"], r["data"].encode("latin-1")) for r in raw if r["dir"] == "in"]
    assert find_timeline(T / f"{name}.txt") == T / "timeline" / f"{name}.timeline.jsonl"
    reads = list(iter_reads(T / f"{name}.txt"))
    assert reads == expected and len(reads) > 3
    assert b"".join(chunk for _, chunk in reads) == (T / f"{name}.txt").read_bytes()
    assert list(iter_reads(T / f"{name}.txt", timeline=False)) == [(0.0, (T / f"{name}.txt").read_bytes())]


def test_writer_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rec.txt"
    chunks = [b"Asterisk Call Manager/11.0.0\r\n", b"", b"Event: A\r\n\r\n", b"Event: B\r\nX: \xe9\r\n\r\n"]
    # the clock is read once at the start, then once per non-empty write
    with TranscriptWriter(path, clock=_fake_clock([10.0, 10.5, 11.25, 12.0]), epoch=1_800_000_000.0) as w:
        for c in chunks:
            w.write(c)
        assert w.bytes_written == sum(map(len, chunks))
    assert w.closed and w.timeline_path == timeline_path(path) == tmp_path / "rec.timeline.jsonl"
    assert path.read_bytes() == b"".join(chunks)
    first = json.loads(w.timeline_path.read_text().splitlines()[0])
    assert first == {"t": 0.0, "dir": "meta", "epoch": 1_800_000_000.0}
    assert list(iter_reads(path)) == [(0.5, chunks[0]), (1.25, chunks[2]), (2.0, chunks[3])]
    assert timeline_epoch(path) == 1_800_000_000.0
    # without a timeline: only the bytes
    plain = tmp_path / "plain.txt"
    with TranscriptWriter(plain, timeline=False) as w2:
        w2.write(b"Event: A\r\n\r\n")
    assert w2.timeline_path is None and find_timeline(plain) is None and timeline_epoch(plain) is None


def test_broken_or_foreign_timelines_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"Event: A\r\n\r\nEvent: B\r\n\r\n")
    tl = timeline_path(path)
    tl.write_text(json.dumps({"t": 0.1, "dir": "in", "data": "Event: A\r\n\r\n"}) + "\n")
    with pytest.raises(ValueError, match="do not join"):  # the file has more than the timeline
        list(iter_reads(path))
    tl.write_text(json.dumps({"t": 0.1, "dir": "in", "data": "Event: Z\r\n\r\n"}) + "\n")
    with pytest.raises(ValueError, match="do not join"):
        list(iter_reads(path))
    tl.write_text('{"t": 0.1, "dir": "in", "data": "Event: A\\r\\n\\r\\n"}\n\n{"dir": "in"}\n')
    with pytest.raises(ValueError, match="line 3"):
        list(iter_reads(path))
    tl.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="line 1"):
        list(iter_reads(path))


def test_banners_start_connections_wherever_the_reads_cut() -> None:
    banner = b"Asterisk Call Manager/11.0.0\r\n"
    one, two = banner + b"Event: A\r\n\r\n", banner + b"Event: B\r\n\r\n"
    # inside one read, at the start of a read, and a banner text that does not start a line
    assert list(iter_connections([(0.0, one + two)])) == [(0.0, one, True), (0.0, two, True)]
    assert list(iter_connections([(0.0, one), (1.0, two)])) == [(0.0, one, True), (1.0, two, True)]
    cut = [(0.0, b"Event: A\r\nX: y"), (1.0, banner)]
    assert [s for *_, s in iter_connections(cut)] == [False, False]
    assert list(iter_connections([(0.0, b"Event: A\r\n\r\n")])) == [(0.0, b"Event: A\r\n\r\n", False)]


def _two_connections(tmp_path: Path) -> tuple[Path, int, int]:
    """A recording that spans a reconnect, written read by read as session.record writes it."""
    one = (T / "22_events_off_on.txt").read_bytes()
    two = (T / "19_originate_async_100.txt").read_bytes()
    path = tmp_path / "both.txt"
    with TranscriptWriter(path, clock=_fake_clock([0.0, 1.0, 2.0])) as w:
        w.write(one)
        w.write(two)  # the new connection's banner starts a read
    return path, len(load_events(T / "22_events_off_on.txt")), len(load_events(T / "19_originate_async_100.txt"))


def test_a_reconnect_whose_banner_starts_a_read(tmp_path: Path) -> None:
    path, n1, n2 = _two_connections(tmp_path)
    df = read_transcript(path)
    assert len(df) == n1 + n2
    times = df["received"].astype("int64") / 1e9
    epoch = timeline_epoch(path)
    assert epoch is not None
    rel = (times - epoch).round(3)
    assert rel.tolist() == [1.0] * n1 + [2.0] * n2  # each read's own time
    timed = load_timed_events(path)
    assert [t for t, _ in timed] == [1.0] * n1 + [2.0] * n2


def test_replay_serves_both_connections_of_a_recording(tmp_path: Path) -> None:
    path, n1, n2 = _two_connections(tmp_path)
    expected = [m.pairs() for m in load_events(T / "22_events_off_on.txt")] + [
        m.pairs() for m in load_events(T / "19_originate_async_100.txt")]
    with start_replay(path) as srv, RawAMI(srv.host, srv.port) as c:
        c.login()
        assert c.read_until(lambda: len(c.events()) >= n1 + n2)
        assert [m.pairs() for m in c.events()] == expected


def _paced(tmp_path: Path, gaps: list[float]) -> Path:
    path = tmp_path / "paced.txt"
    clock = list(itertools.accumulate([0.0, 0.0, *gaps]))
    with TranscriptWriter(path, clock=_fake_clock(clock)) as w:
        w.write(b"Asterisk Call Manager/11.0.0\r\n")
        for i in range(len(gaps)):
            w.write(f"Event: Tick\r\nN: {i}\r\n\r\n".encode())
    return path


def _arrivals(srv_host: str, srv_port: int, n: int) -> list[float]:
    with RawAMI(srv_host, srv_port) as c:
        c.login()
        out = []
        for i in range(n):
            c.wait_event(lambda m, i=i: m.get("N") == str(i), 10)
            out.append(time.monotonic())
        return out


def test_replay_keeps_the_recorded_pace_or_a_multiple(tmp_path: Path) -> None:
    """Four events recorded 0.3 s apart (0.9 s from the first to the last)."""
    path = _paced(tmp_path, [0.5, 0.3, 0.3, 0.3])
    with start_replay(path, speed=1.0) as srv:
        got = _arrivals(srv.host, srv.port, 4)
    gaps = [b - a for a, b in itertools.pairwise(got)]
    assert all(g >= 0.25 for g in gaps), gaps  # never early; the first event goes at once
    with start_replay(path, speed=3.0) as srv:
        fast = _arrivals(srv.host, srv.port, 4)
    assert 0.25 <= fast[-1] - fast[0] < got[-1] - got[0]
    with pytest.raises(ValueError, match="speed must be > 0"):
        start_replay(path, speed=0)
